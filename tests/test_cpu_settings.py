"""The one door to speed, ``mttgan_min.fast.speed``: the fast tier, BLAS threads and convolution threads chosen on
the CPU, malloc keeping freed memory; all left alone on the GPU or when the user set them, and handed back after
the block. And the commands go through it: bench reports the tier it measured."""
import ctypes
import json

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from mttgan_min import bench
from mttgan_min.fast import settings as cs, speed
from mttgan_min.layers import REFERENCE


def blas_counts():
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


@pytest.fixture
def no_user_settings(monkeypatch):
    for var in cs.ENV_VARS + cs.MALLOC_ENV_VARS:
        monkeypatch.delenv(var, raising=False)


def test_cpu_limits_the_blas_inside_the_block_only(no_user_settings):
    with threadpool_limits(limits=cs.CPU_THREADS + 1, user_api="blas"):  # whatever the shell set
        before = blas_counts()
        assert before and all(c == cs.CPU_THREADS + 1 for c in before)
        with speed("cpu") as fast:
            assert fast.blas_threads == cs.CPU_THREADS
            assert all(c == cs.CPU_THREADS for c in blas_counts())
        assert blas_counts() == before  # restored after the block


def test_the_users_choice_and_the_gpu_are_left_alone(no_user_settings, monkeypatch):
    with speed("gpu") as fast:
        assert (fast.blas_threads, fast.conv_workers, fast.keeps_freed_memory) == (None, 1, False)
        assert fast.report() == {"tier": "fast", "blas_threads": "environment", "conv_workers": 1,
                                 "keeps_freed_memory": False}
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    before = blas_counts()
    with speed("cpu") as fast:
        assert fast.blas_threads is None and blas_counts() == before
        assert fast.keeps_freed_memory is False


def test_convolutions_take_one_thread_per_core_only_while_the_blas_runs_one(no_user_settings, monkeypatch):
    monkeypatch.setattr(cs.os, "cpu_count", lambda: 4)
    with speed("cpu") as fast:
        assert fast.tier.name == "fast" and fast.tier.workers == fast.conv_workers == 4
    with speed("gpu") as fast:
        assert fast.tier.workers == 1
    with speed("cpu", threads=3) as fast:  # the caller's choice
        assert fast.tier.workers == fast.conv_workers == 3
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "1")  # the user's one-thread BLAS
    with speed("cpu") as fast:
        assert fast.tier.workers == 4
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")  # the user's multithreaded BLAS: no threads on top
    with speed("cpu") as fast:
        assert fast.tier.workers == 1


def test_the_thread_count_is_an_argument_not_a_setting(no_user_settings, monkeypatch):
    """Two tiers with different thread counts live side by side; a block leaves nothing set behind it."""
    from mttgan_min.fast import conv as conv_fast, tier
    monkeypatch.setattr(conv_fast, "WORKER_MIN_BYTES", 1)
    assert not [name for name in vars(conv_fast) if "WORKERS" in name]  # no module-wide thread count
    x = np.ones((6, 5, 5, 2))
    with speed("cpu", threads=3):
        assert len(conv_fast._chunk_groups(x, 3, 5, ((1, 1), (1, 1)))) == 1       # the default: one thread
    assert len(conv_fast._chunk_groups(x, 3, 5, ((1, 1), (1, 1)), tier(3).workers)) == 3


class MallInfo2(ctypes.Structure):
    """glibc's ``struct mallinfo2`` (glibc 2.33 and later): byte counts of malloc's heap and of its mmapped blocks."""
    _fields_ = [(name, ctypes.c_size_t) for name in
                ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]


def mmapped_bytes_while_a_large_array_lives(size):
    """Bytes malloc newly holds in blocks of its own (mmap) for one array of ``size`` bytes."""
    libc = cs.glibc()
    libc.mallinfo2.restype = MallInfo2
    before = libc.mallinfo2().hblkhd  # other large arrays alive in the process
    x = np.ones(size // 4, np.float32)
    held = libc.mallinfo2().hblkhd - before
    del x
    return held


@pytest.mark.skipif(cs.glibc() is None or not hasattr(cs.glibc(), "mallinfo2"), reason="malloc's settings are glibc's")
def test_freed_memory_is_kept_for_the_next_array_inside_the_block(no_user_settings):
    size = 100 * 2**20  # above what glibc keeps on its own, and above what it keeps after the block
    assert mmapped_bytes_while_a_large_array_lives(size) >= size  # a block of its own, unmapped when freed
    with speed("cpu") as fast:
        assert fast.keeps_freed_memory is True
        assert mmapped_bytes_while_a_large_array_lives(size) < size  # from the heap, which keeps it when freed
    np.ones(2**18, np.float32)  # a 1 MB array, made and freed at once: its free returns the kept memory
    assert mmapped_bytes_while_a_large_array_lives(size) >= size


class FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append((param, value))
        return 1


def test_malloc_settings_made_and_ended_or_left_alone(no_user_settings, monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(cs, "glibc", lambda: libc)
    with cs.keep_freed_memory("cpu") as made:
        assert made is True
        assert libc.calls == [(cs.M_MMAP_THRESHOLD, cs.KEEP_BYTES), (cs.M_TRIM_THRESHOLD, cs.KEEP_BYTES)]
    # glibc's thresholds cannot adapt again once set: the block ends at the largest values they adapt to
    assert libc.calls[2:] == [(cs.M_MMAP_THRESHOLD, 32 * 2**20), (cs.M_TRIM_THRESHOLD, 64 * 2**20)]
    libc.calls.clear()
    with cs.keep_freed_memory("gpu") as made:
        assert made is False
    monkeypatch.setenv("GLIBC_TUNABLES", "glibc.malloc.trim_threshold=0")
    with cs.keep_freed_memory("cpu") as made:
        assert made is False
    assert libc.calls == []


def test_bench_reports_the_settings_it_ran_under(no_user_settings, capsys):
    assert bench.main(["--iters", "1", "--warmup", "0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["tier"] == "fast"  # the commands' path
    assert result["blas_threads"] == cs.CPU_THREADS
    assert result["conv_workers"] == cs.conv_workers("cpu")
    assert result["keeps_freed_memory"] is (cs.glibc() is not None)
    assert result["ms_per_iter"] > 0


def test_run_benchmark_alone_measures_the_reference_tier():
    """Outside the door the networks compute with the reference tier, and bench says which it measured."""
    assert bench.run_benchmark("tiny", iters=1, warmup=0, teachers=False)["tier"] == REFERENCE.name == "reference"


def test_speed_hands_malloc_back_at_the_end_of_the_block(no_user_settings, monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(cs, "glibc", lambda: libc)
    with speed("cpu") as fast:
        assert fast.keeps_freed_memory is True and len(libc.calls) == 2
    assert libc.calls[2:] == list(cs.AFTER_BYTES.items())  # what outlives the block, as its docstring says
