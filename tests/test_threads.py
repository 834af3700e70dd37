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
