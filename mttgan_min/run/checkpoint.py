"""Checkpoints: named groups of arrays plus a JSON header, in one ``.npz`` file.

A checkpoint holds everything a run needs to continue exactly where it
stopped: the student G and D, the teacher G and D (MTT-GAN fine-tuning only,
SPEC "Mean teacher"), both Adam states, the random generator states and the
position in the schedule. Arrays are stored as ``"<group>/<name>"`` (for
example ``"G/3.w"``, ``"opt_D/m.0.w"``); the header is a JSON string under
``"__meta__"``, so loading never needs pickle.

Writes are atomic: the file is written to a temporary name in the same
directory, flushed and fsync'ed, then ``os.replace``d over the old one, so a
crash (or a full disk) while saving leaves the previous checkpoint intact.
"""
import json
import os
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..fileio import atomic_write

FORMAT = 1
META_KEY = "__meta__"


class CheckpointError(Exception):
    """A checkpoint is missing, unreadable or does not match; one-sentence message."""


def flatten(groups):
    """{"G": {"3.w": array, ...}, ...} -> {"G/3.w": NumPy array, ...}."""
    flat = {}
    for group, arrays in groups.items():
        for name, value in arrays.items():
            flat[f"{group}/{name}"] = to_numpy(value)
    return flat


def unflatten(flat):
    """The inverse of ``flatten``: {"G/3.w": a} -> {"G": {"3.w": a}}."""
    groups = {}
    for key, value in flat.items():
        group, _, name = key.partition("/")
        groups.setdefault(group, {})[name] = value
    return groups


def save_checkpoint(path, groups, meta):
    """Write ``groups`` (dict of dicts of arrays, device arrays allowed) and ``meta`` atomically.

    ``meta`` must be JSON-serialisable (NumPy bit-generator states are: their
    128-bit integers become JSON integers).
    """
    arrays = flatten(groups)
    header = dict(meta, format=FORMAT)
    arrays[META_KEY] = np.array(json.dumps(header))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def load_checkpoint(path):
    """Read a checkpoint; returns (groups, meta). Raises CheckpointError with a sentence."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path} does not exist.")
    try:
        with np.load(path, allow_pickle=False) as data:
            flat = {key: data[key] for key in data.files}
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable checkpoint ({type(err).__name__}: {err}).")
    if META_KEY not in flat:
        raise CheckpointError(f"{path} has no {META_KEY} header, so it is not an mttgan-min checkpoint.")
    meta = json.loads(str(flat.pop(META_KEY)))
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')}, this code reads format {FORMAT}.")
    return unflatten(flat), meta


def shape_problems(expected, got, what, limit=5):
    """Compare two {name: array} dicts by keys and shapes.

    Returns a list of short strings (empty when they match), e.g.
    ``"G: 0.w has shape (100, 512) in the checkpoint, (100, 2048) here"``.
    """
    problems = []
    missing = [k for k in expected if k not in got]
    extra = [k for k in got if k not in expected]
    if missing:
        problems.append(f"{what}: missing {', '.join(missing[:limit])}" + (" ..." if len(missing) > limit else ""))
    if extra:
        problems.append(f"{what}: unexpected {', '.join(extra[:limit])}" + (" ..." if len(extra) > limit else ""))
    wrong = [k for k in expected if k in got and tuple(expected[k].shape) != tuple(got[k].shape)]
    for k in wrong[:limit]:
        problems.append(f"{what}: {k} has shape {tuple(got[k].shape)} in the checkpoint, "
                        f"{tuple(expected[k].shape)} here")
    if len(wrong) > limit:
        problems.append(f"{what}: {len(wrong) - limit} more shape mismatches")
    return problems


def check_preset(path, meta, preset_name):
    """Raise CheckpointError when the checkpoint was written for another preset."""
    if meta.get("preset") != preset_name:
        raise CheckpointError(f"{path} was written for preset {meta.get('preset')!r}, "
                              f"not {preset_name!r}.")


def check_groups(path, groups, expected_groups):
    """Raise CheckpointError naming every missing/extra key and shape mismatch.

    ``expected_groups``: {group: {name: array}} from the freshly built networks
    and optimisers; only the groups named there are checked.
    """
    problems = []
    for group, expected in expected_groups.items():
        if group not in groups:
            problems.append(f"{group}: missing from the checkpoint")
            continue
        problems += shape_problems(expected, groups[group], group)
    if problems:
        raise CheckpointError(f"{path} does not match the networks built here: {'; '.join(problems)}.")
