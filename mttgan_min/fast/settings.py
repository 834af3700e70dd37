"""The one door to speed: ``with speed(device) as fast:`` the fast tier and the CPU settings the commands choose.

The commands (train, sample, bench, evaluate; reproduce through train and evaluate) run their work
inside this block and build their networks with ``tier=fast.tier``; everything else in the package
computes with the reference tier. Inside the block: how many threads do the work, and what happens
to freed memory.

Threads. NumPy's BLAS starts one thread per core by default. For this project's matrix multiplies that
is a poor bet on a small CPU (docs/design.md, "BLAS threads"): the products of the tiny and small
presets are too small to split well, and as soon as a second process shares the cores (the tests,
another run) the BLAS threads wait on each other (measurements: docs/benchmarks.md). So the BLAS
runs ``CPU_THREADS`` threads on the CPU device, and the cores are used one level up instead: while
the BLAS runs one thread (by this choice or the user's), the fast convolutions split each batch
between one thread per core (the fast tier's ``workers``), each thread multiplying its own
share with the one-thread BLAS. Threads waiting for work sleep rather than spin, so a loaded machine
costs them little. A user who sets OPENBLAS_NUM_THREADS, OMP_NUM_THREADS or MKL_NUM_THREADS keeps
their choice.

Freed memory (docs/design.md, "Freed memory kept for the next array"). Every layer returns new
arrays, so an iteration allocates and frees hundreds of them, up to 34 MB each at the small preset.
glibc's malloc hands a freed block of 32 MB or more, and the free top of its heap, straight back to
the operating system, so the next array of that size is fresh memory that the kernel maps and
zero-fills on first touch. On Linux with glibc the commands ask malloc (``mallopt``) to serve
blocks up to ``KEEP_BYTES`` from its heap and to keep the heap: the next iteration's arrays reuse
the memory its predecessor freed, at the same peak memory (docs/benchmarks.md). A user who sets
MALLOC_MMAP_THRESHOLD_, MALLOC_TRIM_THRESHOLD_ or GLIBC_TUNABLES keeps their choice; other C
libraries are left alone.

Nothing is changed at import time: the settings hold only inside the block, on the CPU device
(CuPy has its own memory pool and no BLAS threads). Two things outlive it, see ``speed``.
"""
import contextlib
import ctypes
import os
import sys
from dataclasses import dataclass

from .tier import tier as fast_tier

CPU_THREADS = 1
ENV_VARS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
MALLOC_ENV_VARS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt's parameters, from <malloc.h>
KEEP_BYTES = 2**30  # blocks up to this size come from malloc's heap, and the heap keeps this much free
# Set when the block ends: the largest values glibc's own adaptive thresholds reach on a 64-bit machine. Once
# set, glibc's thresholds no longer adapt, and its start values (128 KiB) would then send every array of
# 128 KiB or more to fresh memory: slower than before the block.
AFTER_BYTES = {M_MMAP_THRESHOLD: 32 * 2**20, M_TRIM_THRESHOLD: 64 * 2**20}


def chosen_threads(device="cpu"):
    """The BLAS thread count the commands use: None (leave the BLAS alone) or CPU_THREADS."""
    if device != "cpu" or any(os.environ.get(v) for v in ENV_VARS):
        return None
    return CPU_THREADS


def conv_workers(device="cpu"):
    """Threads of the fast convolutions by default: one per core on the CPU while the BLAS runs one thread, else 1."""
    user = [os.environ[v].strip() for v in ENV_VARS if os.environ.get(v)]
    if device != "cpu" or any(v != "1" for v in user):
        return 1
    return os.cpu_count() or 1


def glibc():
    """The running C library through ctypes if it is glibc (Linux), else None.

    ``CDLL(None)`` is the process's own symbols, the C library's among them: no search for a file.
    """
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(None)
    return libc if hasattr(libc, "gnu_get_libc_version") and hasattr(libc, "mallopt") else None


@contextlib.contextmanager
def keep_freed_memory(device="cpu"):
    """``with keep_freed_memory(device):`` glibc's malloc keeps freed blocks up to KEEP_BYTES for reuse.

    Yields True when the setting was made, False when it was left alone (GPU device, the user's
    MALLOC_* or GLIBC_TUNABLES setting, another C library). When the block ends, the thresholds become
    ``AFTER_BYTES`` (glibc cannot be told to adapt them again), and the next free returns the kept
    memory above them.
    """
    libc = None
    if device == "cpu" and not any(os.environ.get(v) for v in MALLOC_ENV_VARS):
        libc = glibc()
    made = libc is not None and all(libc.mallopt(p, KEEP_BYTES) == 1 for p in (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD))
    try:
        yield made
    finally:
        if libc is not None:
            for p, value in AFTER_BYTES.items():
                libc.mallopt(p, value)


@dataclass(frozen=True)
class Speed:
    """What ``speed`` set up: the fast tier to build networks with, and the CPU settings it runs under."""
    tier: object              # the fast tier (``fast.tier``), ``workers`` threads per convolution
    blas_threads: object      # the BLAS's thread count, or None: left as the environment set it
    conv_workers: int         # threads splitting each convolution's batch
    keeps_freed_memory: bool  # whether malloc keeps freed blocks for reuse (``keep_freed_memory``)

    def report(self):
        """A JSON-ready dict for the commands to print: tier, blas_threads, conv_workers, keeps_freed_memory."""
        return {"tier": self.tier.name,
                "blas_threads": "environment" if self.blas_threads is None else self.blas_threads,
                "conv_workers": self.conv_workers, "keeps_freed_memory": self.keeps_freed_memory}


@contextlib.contextmanager
def speed(device="cpu", threads=None):
    """``with speed(device) as fast:`` the fast tier (``fast.tier``) and the commands' CPU settings, for the block only.

    ``threads``: how many threads split each convolution's batch (None: ``conv_workers(device)``, one
    per core on a CPU whose BLAS runs one thread). Yields a ``Speed``. On the CPU the BLAS runs
    ``chosen_threads(device)`` threads and malloc keeps freed memory (``keep_freed_memory``).

    On exit the BLAS's thread count is restored. Two things outlive the block: malloc's thresholds,
    which glibc cannot be told to adapt again once set, end at the largest values it adapts to
    (``AFTER_BYTES``); and the convolutions' idle pool threads (started on first use, asleep when
    idle) are kept for the process, as the next block would start them again. Networks built with
    ``fast.tier`` keep computing with it after the block, on ``workers`` threads.
    """
    n = chosen_threads(device)
    workers = conv_workers(device) if threads is None else max(1, int(threads))
    with contextlib.ExitStack() as stack:
        if n is not None:
            from threadpoolctl import threadpool_limits
            stack.enter_context(threadpool_limits(limits=n, user_api="blas"))
        kept = stack.enter_context(keep_freed_memory(device))
        yield Speed(fast_tier(workers), n, workers, kept)
