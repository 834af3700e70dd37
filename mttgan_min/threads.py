"""How many threads do the work on a CPU, chosen on purpose: the BLAS's and the fast convolutions'.

NumPy's BLAS starts one thread per core by default. For this project's matrix multiplies that is a
poor bet on a small CPU (docs/design.md, "BLAS threads"): the products of the tiny and small presets
are too small to split well, and as soon as a second process shares the cores (the tests, another
run) the BLAS threads wait on each other. Measured in-process on a 2-core machine, one tiny
iteration took 2,090 ms with one thread and 44,300 ms with two while other work loaded the machine;
on a quiet machine one thread was also faster (about 400-470 ms against 585-605 ms).

So the commands (train, bench, sample, evaluate) run their work inside ``blas_threads(...)``, which
limits the BLAS to ``CPU_THREADS`` threads on the CPU device and leaves the GPU device alone (CuPy
does not use it). The cores are used one level up instead: while the BLAS runs one thread (by this
choice or the user's), the fast convolutions split each batch between one thread per core
(``layers.conv_fast.cpu_workers``), each thread multiplying its own share with the one-thread BLAS.
Threads waiting for work sleep rather than spin, so a loaded machine costs them little. A user who
sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS keeps their choice. Nothing is changed
at import time: the settings hold only inside the ``with`` block (threadpoolctl changes the running
BLAS library's setting and restores it afterwards).
"""
import contextlib
import os

from .layers.conv_fast import cpu_workers

CPU_THREADS = 1
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def chosen_threads(device="cpu"):
    """The BLAS thread count the commands use: None (leave the BLAS alone) or CPU_THREADS."""
    if device != "cpu" or any(os.environ.get(v) for v in ENV_VARS):
        return None
    return CPU_THREADS


def conv_workers(device="cpu"):
    """Threads of the fast convolutions: one per core on the CPU while the BLAS runs one thread, else 1."""
    user = [os.environ[v].strip() for v in ENV_VARS if os.environ.get(v)]
    if device != "cpu" or any(v != "1" for v in user):
        return 1
    return os.cpu_count() or 1


@contextlib.contextmanager
def blas_threads(device="cpu"):
    """``with blas_threads(device):`` runs the block with ``chosen_threads(device)`` BLAS threads
    and ``conv_workers(device)`` convolution threads; yields the BLAS count (None: left alone)."""
    n = chosen_threads(device)
    with contextlib.ExitStack() as stack:
        if n is not None:
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(limits=n, user_api="blas"))
        stack.enter_context(cpu_workers(conv_workers(device)))
        yield n
