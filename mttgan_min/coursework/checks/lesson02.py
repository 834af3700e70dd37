"""Lesson 2's exercises: soft augmentation's crop boxes and the length of an epoch (Sec. III)."""
import math

import numpy as np

from mttgan_min.coursework.exercise import Exercise, ExerciseFailed
from mttgan_min.data import iterations_per_epoch, random_crop_boxes

BOUNDS = ("row0", "row1", "col0", "col1")


def crop_box_to_pixels(box, H, W):
    """(top, bottom, left, right) fractions -> (row0, row1, col0, col1): image[row0:row1, col0:col1] is the crop."""
    top, bottom, left, right = (float(v) for v in box)
    return (int(round(top * H)), H - int(round(bottom * H)), int(round(left * W)), W - int(round(right * W)))


def _roundings(v):
    """The nearest integers to v: one, or both neighbours when v is exactly halfway."""
    return {int(math.floor(v + 0.5)), int(round(v))}


def _box_case(fn, box, H, W):
    got = fn(box, H, W)
    where = f"crop_box_to_pixels(box={tuple(round(float(v), 6) for v in box)}, H={H}, W={W})"
    try:
        got = tuple(int(v) for v in got)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{where}: returned {got!r}, expected four integers (row0, row1, col0, col1)") from None
    if len(got) != 4:
        raise ExerciseFailed(f"{where}: returned {len(got)} values, expected four (row0, row1, col0, col1)")
    top, bottom, left, right = (float(v) for v in box)
    allowed = (_roundings(top * H), {H - k for k in _roundings(bottom * H)},
               _roundings(left * W), {W - k for k in _roundings(right * W)})
    for name, value, ok in zip(BOUNDS, got, allowed):
        if value not in ok:
            raise ExerciseFailed(f"{where}: {name} is {value}, expected {min(ok)}"
                                 + (f" or {max(ok)}" if len(ok) > 1 else ""))


def crop_cases(fn):
    H, W = 160, 200                                   # not square: rows and columns cannot be mixed up
    for box in [(0, 0, 0, 0), (4 / 160, 8 / 160, 5 / 200, 10 / 200), (0.05, 0.0, 0.0, 0.05)]:
        _box_case(fn, box, H, W)
    for box in random_crop_boxes(200, np.random.default_rng(1)):
        _box_case(fn, box, H, W)


def crop_hidden(fn):
    rng = np.random.default_rng(202)
    for H, W in [(97, 131), (131, 97), (1024, 768), (20, 20)]:
        for box in random_crop_boxes(100, rng, max_frac=0.2):
            _box_case(fn, box, H, W)


def epoch_plan(n_images, factor, batch_size=32):
    """(iterations per epoch, real crops used per epoch) with the package's iterations_per_epoch."""
    iterations = iterations_per_epoch(n_images, factor, batch_size)
    return iterations, iterations * (batch_size // 2)


def _plan_case(fn, n_images, factor, batch_size):
    got = fn(n_images, factor, batch_size)
    expected = epoch_plan(n_images, factor, batch_size)
    where = f"epoch_plan({n_images}, {factor}, {batch_size})"
    try:
        got = tuple(int(v) for v in got)
    except (TypeError, ValueError):
        raise ExerciseFailed(f"{where}: returned {got!r}, expected two integers (iterations, real crops)") from None
    if len(got) != 2:
        raise ExerciseFailed(f"{where}: returned {len(got)} values, expected two (iterations, real crops)")
    for name, mine, right in zip(("iterations", "real crops"), got, expected):
        if mine != right:
            raise ExerciseFailed(f"{where}: {name} is {mine}, expected {right}")


def plan_cases(fn):
    for n, factor in [(5652, 5), (159, 50), (159, 1)]:
        _plan_case(fn, n, factor, 32)


def plan_hidden(fn):
    for n, factor, batch in [(31, 1, 32), (32, 1, 32), (33, 3, 32), (1000, 7, 64), (17, 50, 8), (5649, 5, 32)]:
        _plan_case(fn, n, factor, batch)


EXERCISES = [
    Exercise("crop_box_to_pixels", 2, "from a crop box to pixel bounds", fallback=crop_box_to_pixels,
             cases=crop_cases, hidden=crop_hidden),
    Exercise("epoch_plan", 2, "iterations and real crops per epoch", fallback=epoch_plan,
             cases=plan_cases, hidden=plan_hidden),
]
