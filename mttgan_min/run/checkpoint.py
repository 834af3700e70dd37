"""Checkpoints: named groups of arrays plus a JSON header, in one ``.npz`` file.

A checkpoint holds everything a run needs to continue exactly where it stopped: the student G and
D, the teacher G and D (MTT-GAN fine-tuning only, Sec. IV-B), both Adam states, the random
generator states and the position in the schedule. Arrays are stored as ``"<group>/<name>"`` (for
example ``"G/3.w"``, ``"opt_D/m.0.w"``); the header is a JSON string under ``"__meta__"``, so
loading never needs pickle.

Writing (``save_checkpoint``): the new file is written under a temporary name, fsync'ed, read back
completely and checked (``verify_checkpoint``); only then does the current ``checkpoint.npz``
become ``checkpoint.prev.npz`` and the new file take its place. A crash or a full disk at any
moment leaves at least one complete, verified checkpoint; ``load_latest`` falls back to the
previous one, with a message, when the latest is missing or unreadable
(docs/design.md, "Checkpoints").
"""
import json
from pathlib import Path

import numpy as np

from ..backend import to_numpy
from ..fileio import atomic_write
from ..layers.base import state_dict_problems

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


def previous_path(path):
    """Where the checkpoint before ``path`` is kept: ``checkpoint.npz`` -> ``checkpoint.prev.npz``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.prev{path.suffix}")


def save_checkpoint(path, groups, meta, keep_previous=False):
    """Write ``groups`` (dict of dicts of arrays, device arrays allowed) and ``meta`` atomically.

    ``meta`` must be JSON-serialisable (NumPy bit-generator states are: their 128-bit integers
    become JSON integers). The new file is read back and compared with what was written before it
    replaces ``path``; keep_previous: the replaced file is kept as ``previous_path(path)``.
    """
    arrays = flatten(groups)
    header = dict(meta, format=FORMAT)
    arrays[META_KEY] = np.array(json.dumps(header))
    expected = {k: (v.shape, v.dtype) for k, v in arrays.items()}
    atomic_write(path, lambda f: np.savez(f, **arrays), verify=lambda tmp: verify_checkpoint(tmp, expected),
                 backup=previous_path(path) if keep_previous else None)


def verify_checkpoint(path, expected):
    """Read every array of ``path`` (the zip checksums are checked on reading) and compare names,
    shapes and dtypes with ``expected`` {key: (shape, dtype)}; raise CheckpointError if they differ."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {key: data[key] for key in data.files}  # each member read (and checked) once
            got = {key: (a.shape, a.dtype) for key, a in arrays.items()}
    except Exception as err:
        raise CheckpointError(f"the checkpoint just written to {path} cannot be read back "
                              f"({type(err).__name__}: {err}).") from err
    if got != expected:
        raise CheckpointError(f"the checkpoint just written to {path} differs from what was saved.")


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
    try:
        meta = json.loads(str(flat.pop(META_KEY)))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{path} has an unreadable header ({err}).")
    if meta.get("format") != FORMAT:
        raise CheckpointError(f"{path} has format {meta.get('format')}, this code reads format {FORMAT}.")
    return unflatten(flat), meta


def load_latest(path, warn=print):
    """(groups, meta, the path read): ``path``, or its previous version when ``path`` is missing or
    unreadable (``warn`` says so). Raises CheckpointError when neither can be read."""
    path = Path(path)
    try:
        return (*load_checkpoint(path), path)
    except CheckpointError as err:
        prev = previous_path(path)
        if not prev.is_file():
            raise
        groups, meta = load_checkpoint(prev)
        warn(f"warning: {err} Continuing from the previous checkpoint {prev.name} (stage {meta.get('stage')}, "
             f"epoch {meta.get('epoch')}, iteration {meta.get('iteration')}); the work after it is repeated.")
        return groups, meta, prev


def check_preset(path, meta, preset):
    """Raise CheckpointError when the checkpoint was written for another preset or size of z.

    ``preset``: the Preset the networks are built from (``models.preset_of``); a checkpoint that
    records no latent_dim is left to the shape checks.
    """
    if meta.get("preset") != preset.name:
        raise CheckpointError(f"{path} was written for preset {meta.get('preset')!r}, "
                              f"not {preset.name!r}.")
    if meta.get("latent_dim", preset.latent_dim) != preset.latent_dim:
        raise CheckpointError(f"{path} was written with --latent-dim {meta['latent_dim']}, "
                              f"not {preset.latent_dim}: give the same --latent-dim.")


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
        problems += [f"{group}: {p}" for p in state_dict_problems(expected, groups[group], "the checkpoint")]
    if problems:
        raise CheckpointError(f"{path} does not match the networks built here: {'; '.join(problems)}.")
