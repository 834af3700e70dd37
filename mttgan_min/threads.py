"""How many threads the BLAS (OpenBLAS, MKL) runs the matrix multiplies with, chosen on purpose.

NumPy's BLAS starts one thread per core by default. For this project's matrix multiplies that is a
poor bet on a small CPU (docs/design.md, "BLAS threads"): the products of the tiny and small presets
are too small to split well, and as soon as a second process shares the cores (the tests, another
run) the BLAS threads wait on each other. Measured in-process on a 2-core machine, one tiny
iteration took 2,090 ms with one thread and 44,300 ms with two while other work loaded the machine;
on a quiet machine one thread was also faster (about 400-470 ms against 585-605 ms).

So the commands (train, bench, sample, evaluate) run their work inside ``blas_threads(...)``, which limits
the BLAS to ``CPU_THREADS`` threads on the CPU device and leaves the GPU device alone (CuPy does
not use it). A user who sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS keeps their
choice. Nothing is changed at import time: the limit holds only inside the ``with`` block
(threadpoolctl, which changes the running BLAS library's setting and restores it afterwards).
"""
import contextlib
import os

CPU_THREADS = 1
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def chosen_threads(device="cpu"):
    """The BLAS thread count the commands use: None (leave the BLAS alone) or CPU_THREADS."""
    if device != "cpu" or any(os.environ.get(v) for v in ENV_VARS):
        return None
    return CPU_THREADS


@contextlib.contextmanager
def blas_threads(device="cpu"):
    """``with blas_threads(device):`` runs the block with ``chosen_threads(device)`` BLAS threads."""
    n = chosen_threads(device)
    if n is None:
        yield None
        return
    from threadpoolctl import threadpool_limits
    with threadpool_limits(limits=n, user_api="blas"):
        yield n
