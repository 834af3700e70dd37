"""The commands' BLAS thread count: chosen on the CPU, left alone on the GPU or when the user set it."""
from threadpoolctl import threadpool_info, threadpool_limits

from mttgan_min import threads


def blas_counts():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_cpu_limits_the_blas_inside_the_block_only(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    with threadpool_limits(limits=threads.CPU_THREADS + 1, user_api="blas"):  # whatever the shell set
        before = blas_counts()
        assert before and all(c == threads.CPU_THREADS + 1 for c in before)
        with threads.blas_threads("cpu") as n:
            assert n == threads.CPU_THREADS
            assert all(c == threads.CPU_THREADS for c in blas_counts())
        assert blas_counts() == before


def test_the_users_choice_and_the_gpu_are_left_alone(monkeypatch):
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    with threads.blas_threads("gpu") as n:
        assert n is None
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    before = blas_counts()
    with threads.blas_threads("cpu") as n:
        assert n is None and blas_counts() == before


def test_convolutions_take_one_thread_per_core_only_while_the_blas_runs_one(monkeypatch):
    from mttgan_min.layers import conv_fast
    for var in threads.ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(threads.os, "cpu_count", lambda: 4)
    assert conv_fast.CPU_WORKERS == 1  # the library alone: one thread
    with threads.blas_threads("cpu"):
        assert conv_fast.CPU_WORKERS == 4
    assert conv_fast.CPU_WORKERS == 1
    with threads.blas_threads("gpu"):
        assert conv_fast.CPU_WORKERS == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # the user's one-thread BLAS
    with threads.blas_threads("cpu"):
        assert conv_fast.CPU_WORKERS == 4
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # the user's multithreaded BLAS: no threads on top
    with threads.blas_threads("cpu"):
        assert conv_fast.CPU_WORKERS == 1
