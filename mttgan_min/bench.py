"""Benchmark one MTT-GAN iteration: ``python -m mttgan_min.bench``.

Runs the training iteration of ``gan_step`` (D step on 16 real + 16 fake,
G step on 32, EMA update of both teachers) on random stand-in images, after
a warm-up, and prints one JSON line: preset, device, batch, ms_per_iter
(median over --iters), the tier it measures (``tier``: "fast", the
commands' path, ``mttgan_min.fast``), and on the GPU peak_mem_mb (CuPy
memory pool high water mark), on the CPU the settings it ran under
(blas_threads, conv_workers, keeps_freed_memory). Tests check correctness;
this only measures.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

from .adam import Adam
from .backend import DEVICES, DeviceUnavailable, make_rng, resolve_device, synchronize
from .cli import HelpFormatter, non_negative_int, positive_int
from .ema import EMATeacher
from .gan_step import mtt_gan_step
from .fast import speed
from .layers import REFERENCE
from .models import PRESETS, build_discriminator, build_generator, get_preset


def training_iteration(preset="tiny", xp=np, seed=0, teachers=True, tier=REFERENCE):
    """A function that runs one MTT-GAN iteration at ``preset`` on stand-in images (networks, Adam and,
    with ``teachers``, EMA teachers built once), the networks computing with ``tier``."""
    p = get_preset(preset)
    host = np.random.default_rng(seed)
    G = build_generator(p, host, tier=tier).to(xp)
    D = build_discriminator(p, host, tier=tier).to(xp)
    opt_G, opt_D = Adam(G), Adam(D)
    pair = (EMATeacher(G), EMATeacher(D)) if teachers else None
    rng = make_rng(xp, seed)
    real = xp.asarray(host.random((16, p.image_size, p.image_size, 1), dtype=np.float32))
    return lambda: mtt_gan_step(G, D, opt_G, opt_D, real, rng, teachers=pair)


def run_benchmark(preset="tiny", xp=np, iters=10, warmup=2, seed=0, teachers=True, tier=REFERENCE):
    """Time ``iters`` iterations after ``warmup``, the networks computing with ``tier``; returns a dict of results."""
    p = get_preset(preset)
    iteration = training_iteration(preset, xp, seed, teachers, tier)
    pool = xp.get_default_memory_pool() if xp is not np else None
    times = []
    for i in range(warmup + iters):
        synchronize(xp)
        start = time.perf_counter()
        iteration()
        synchronize(xp)
        if i >= warmup:
            times.append((time.perf_counter() - start) * 1000.0)
    result = {"preset": p.name, "device": "cpu" if xp is np else "gpu", "tier": tier.name, "batch": 32,
              "ms_per_iter": round(statistics.median(times), 2), "min_ms": round(min(times), 2),
              "iters": iters, "teachers": bool(teachers)}
    if pool is not None:
        # peak device memory: the pool's total, since CuPy keeps freed blocks cached in it
        result["peak_mem_mb"] = round(pool.total_bytes() / 2**20, 1)
        result["tf32"] = os.environ.get("CUPY_TF32", "0") == "1"
        result["gpu"] = xp.cuda.runtime.getDeviceProperties(0)["name"].decode()
    else:
        result["cpu_count"] = os.cpu_count()
        result["machine"] = platform.processor() or platform.machine()
    return result


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m mttgan_min.bench", formatter_class=HelpFormatter,
        description="Time one MTT-GAN training iteration (batch 32) and print one JSON line.")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                        help="network and image size (tiny: 32x32)")
    parser.add_argument("--device", choices=DEVICES, default="cpu",
                        help="cpu (NumPy) or gpu (CuPy); set CUPY_TF32=1 to allow TF32 on the GPU")
    parser.add_argument("--iters", type=positive_int, default=10, help="timed iterations; the median is reported")
    parser.add_argument("--warmup", type=non_negative_int, default=2, help="untimed iterations first")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="seed for weights and stand-in images")
    parser.add_argument("--no-teachers", action="store_true", help="skip the EMA teacher update")
    args = parser.parse_args(argv)
    try:
        xp = resolve_device(args.device)
    except DeviceUnavailable as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    with speed(args.device) as fast:
        result = run_benchmark(args.preset, xp, args.iters, args.warmup, args.seed, not args.no_teachers, fast.tier)
    if xp is np:
        result.update(fast.report())
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
