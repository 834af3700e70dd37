"""One source for CPU and GPU: NumPy always, CuPy when it is installed and works.

Every function in the package takes its array module ``xp`` from its inputs
(``get_array_module(x)``), the idiom of the CuPy user guide; nothing imports
CuPy as ``np``. Randomness comes from explicit, seeded generators made here.
"""
import functools
import os

import numpy as np

DEVICES = ("cpu", "gpu")
CUPY_HINT = ("install CuPy matching your CUDA driver, "
             "e.g. `pip install cupy-cuda12x` or `pip install cupy-cuda13x`")
TF32_ENV = "CUPY_TF32"  # CuPy reads it at the first float32 matrix multiply, and keeps that mode for the process
TF32_HELP = ("gpu only: cuBLAS multiplies float32 matrices in TF32 on the tensor cores (NVIDIA Ampere or newer): "
             "float32's range but a 10-bit mantissa in the products, so about 1e-3 relative error per product "
             "instead of float32's 1e-7; in exchange an iteration is typically up to about twice as fast on an "
             "H100 (PyTorch's experience; this code's measurements: docs/benchmarks.md); recorded in config.json")


class DeviceUnavailable(RuntimeError):
    """The requested device cannot be used; the message is one sentence."""


@functools.lru_cache(maxsize=None)
def _import_cupy():
    """CuPy, or None; cached, since a failing import is retried on every call otherwise."""
    try:
        import cupy
    except Exception:  # ImportError, or a broken CUDA installation
        return None
    return cupy


def gpu_problem():
    """Return why the GPU cannot be used, as one sentence, or None if it can."""
    cupy = _import_cupy()
    if cupy is None:
        return f"--device gpu needs CuPy, which is not installed: {CUPY_HINT}."
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "--device gpu found CuPy but no CUDA GPU: run on a machine with an NVIDIA GPU or use --device cpu."
        cupy.zeros(1).sum().item()  # compiles and runs a kernel
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        return (f"--device gpu found CuPy but CUDA does not work ({first}): "
                f"check the NVIDIA driver, or {CUPY_HINT}.")
    return None


def gpu_available():
    """True when CuPy is installed and can run a kernel on a GPU."""
    return gpu_problem() is None


def tf32_from_environment():
    """True when the user's environment already asks CuPy for TF32 (CUPY_TF32 set to a positive number)."""
    try:
        return int(os.environ.get(TF32_ENV, "0")) > 0
    except ValueError:
        return False


def resumed_tf32(cfg):
    """A resumed run's TF32: as its config.json records it, unless it now runs on the CPU, which has none."""
    return bool(cfg.get("tf32", False)) and cfg["device"] == "gpu"


def check_tf32(device, tf32):
    """Raise DeviceUnavailable (one sentence) when TF32 is asked for on a device that has none."""
    if tf32 and device != "gpu":
        raise DeviceUnavailable("--tf32 needs --device gpu: TF32 is a mode of NVIDIA tensor cores, and the CPU "
                                "always multiplies in full float32.")


def resolve_device(device, tf32=False):
    """Return the array module for ``device`` ('cpu' -> numpy, 'gpu' -> cupy).

    tf32: on the GPU, set CUPY_TF32=1 before CuPy is imported (CuPy reads it at its first float32 matrix
    multiply, so it holds for the whole process); refused on the CPU. Raises DeviceUnavailable with a
    one-sentence reason.
    """
    check_tf32(device, tf32)
    if device == "cpu":
        return np
    if device != "gpu":
        raise DeviceUnavailable(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}.")
    if tf32:
        os.environ[TF32_ENV] = "1"
    problem = gpu_problem()
    if problem:
        raise DeviceUnavailable(problem)
    return _import_cupy()


def get_array_module(*arrays):
    """numpy or cupy, whichever the arrays live in (numpy for plain Python values)."""
    cupy = _import_cupy()
    if cupy is not None:
        return cupy.get_array_module(*arrays)
    return np


def to_device(x, xp):
    """Copy a host array (or pass a device array) into array module ``xp``."""
    if xp is np:
        return to_numpy(x)
    return xp.asarray(x)


def to_numpy(x):
    """A NumPy array from a NumPy or CuPy array (a host copy for CuPy)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "get"):
        return x.get()
    return np.asarray(x)


def make_rng(xp, seed):
    """A seeded random Generator on the device of ``xp``.

    NumPy's is PCG64; CuPy's is XORWOW. Both offer ``random(shape, dtype)``,
    ``standard_normal(shape, dtype)`` and ``uniform``; the same seed gives
    different numbers on the two devices.
    """
    return xp.random.default_rng(seed)


def synchronize(xp):
    """Wait for queued GPU work (a no-op on NumPy); needed before timing."""
    if xp is not np:
        xp.cuda.get_current_stream().synchronize()
