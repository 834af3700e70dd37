"""Cache of decoded, resized images, so a second run over 5,856 files starts in seconds (issue 3, item 5).

One ``.npz`` per (data root, target size) in the cache directory. Each entry is keyed by the file's path
relative to the root, its size in bytes and its modification time (ns); a changed file misses and is
decoded again, a deleted one is dropped when the cache is rewritten. Failures are cached too (with their
reason), so a corrupt file is not re-read on every run. Images are stored as uint8 (N, S, S).
"""
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from tqdm import tqdm

from .images import BadImage, decode_file


def default_cache_dir():
    """$XDG_CACHE_HOME/mttgan_min, else ~/.cache/mttgan_min."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "mttgan_min"


def resolve_cache_dir(cache_dir):
    """"auto" -> default_cache_dir(); None or False -> None (no cache); a path -> Path(path)."""
    if cache_dir == "auto":
        return default_cache_dir()
    return Path(cache_dir) if cache_dir else None


def cache_path(cache_dir, root, size):
    key = hashlib.sha256(str(Path(root).resolve()).encode()).hexdigest()[:16]
    return Path(cache_dir) / f"images-{key}-{size}px.npz"


def _read(path):
    """{relpath: (bytes, mtime_ns, image or None, reason)} from a cache file; {} if absent or broken."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {f: (int(b), int(t), img if r == "" else None, str(r))
                    for f, b, t, img, r in zip(z["files"], z["bytes"], z["mtimes"], z["images"], z["reasons"])}
    except (OSError, KeyError, ValueError, EOFError):
        return {}


def _write(path, entries, size):
    """Atomically replace the cache file with ``entries`` (same shape as _read's result)."""
    files = sorted(entries)
    images = np.zeros((len(files), size, size), np.uint8)
    for i, f in enumerate(files):
        if entries[f][2] is not None:
            images[i] = entries[f][2]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.stem}.tmp{os.getpid()}.npz")
    np.savez(tmp, files=np.array(files, dtype=str), images=images,
             bytes=np.array([entries[f][0] for f in files], np.int64),
             mtimes=np.array([entries[f][1] for f in files], np.int64),
             reasons=np.array([entries[f][3] for f in files], dtype=str))
    os.replace(tmp, path)


def _decode(path, size):
    try:
        return decode_file(path, size), ""
    except BadImage as err:
        return None, str(err)


class Decoded(NamedTuple):
    images: np.ndarray    # uint8 (K, S, S), the K good files in order
    ok: np.ndarray        # bool (len(files),), which files are in ``images``
    skipped: list         # [(file, reason)] for the others
    hits: int             # files taken from the cache
    decoded: int          # files decoded now


def load_images(root, files, size, cache_dir=None, progress=True, desc="decoding"):
    """Decode ``files`` (paths relative to ``root``) at ``size``, using and refreshing the cache.

    ``cache_dir``: a folder, or None for no cache. Returns a ``Decoded`` tuple.
    """
    root = Path(root)
    path = cache_path(cache_dir, root, size) if cache_dir else None
    old = _read(path) if path else {}
    entries, todo = {}, []
    for f in files:
        st = (root / f).stat()
        hit = old.get(f)
        if hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns:
            entries[f] = hit
        else:
            entries[f] = (st.st_size, st.st_mtime_ns, None, "")
            todo.append(f)
    if todo:
        with ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            results = pool.map(lambda f: _decode(root / f, size), todo)
            for f, (img, reason) in tqdm(zip(todo, results), total=len(todo), desc=desc, unit="img",
                                         disable=None if progress else True, leave=False):
                entries[f] = entries[f][:2] + (img, reason)
    if path and (todo or set(old) != set(entries)):
        try:
            _write(path, entries, size)
        except OSError as err:   # a read-only cache must not stop training
            print(f"warning: could not write the image cache {path}: {err}")
    ok = np.array([entries[f][2] is not None for f in files], bool)
    good = [entries[f][2] for f, k in zip(files, ok) if k]
    images = np.stack(good) if good else np.zeros((0, size, size), np.uint8)
    skipped = [(f, entries[f][3]) for f, k in zip(files, ok) if not k]
    return Decoded(images, ok, skipped, len(files) - len(todo), len(todo))
