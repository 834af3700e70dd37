"""Cache of decoded images, so a second run over 5,856 files starts in seconds.

One ``.npz`` per (data root, target size S) in the cache directory, holding the source-resolution copies
(R = 1.25 S, uint8 (N, R, R)). Each entry is keyed by the file's path relative to the root, its size in
bytes and its modification time (ns); a changed file misses and is decoded again, a deleted one is dropped
when the cache is rewritten. Failures are cached too (with their reason), so a corrupt file is not re-read
on every run. The synthetic pools are cached here as well (``read_npz`` / ``write_npz``).

Robustness (docs/design.md, "Image cache"): files are written atomically (``fileio.atomic_write``, whose
temporary name never ends in .npz), a truncated or corrupt cache file is reported on stderr and rebuilt,
temporary files left by a killed process are removed, and nothing is ever printed to stdout.
"""
import hashlib
import os
import sys
import time
import warnings
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image
from tqdm import tqdm

from ..fileio import atomic_write
from .dataset import source_size
from .images import BadImage, decode_file

STALE_TMP_SECONDS = 3600   # a temporary file of a dead process, or older than this, is removed


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


def warn(message):
    """A one-line warning on stderr (never stdout: it would break --json output)."""
    print(f"warning: {message}", file=sys.stderr)


def read_npz(path):
    """{name: array} of a cache file; None if absent. A broken file is warned about and treated as absent."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        warn(f"the cache file {path} is unreadable ({type(err).__name__}: {err}); rebuilding it.")
        return None


def clean_temporaries(folder, now=None):
    """Remove temporary files that atomic_write left in ``folder`` (and the older ``*.tmp<pid>.npz``)
    when their process is gone or they are older than STALE_TMP_SECONDS. Returns the removed paths."""
    now = time.time() if now is None else now
    removed = []
    for p in list(Path(folder).glob(".*.npz.tmp-*")) + list(Path(folder).glob("*.tmp*.npz")):
        pid = p.name.rsplit("tmp", 1)[-1].strip("-").split(".")[0]
        try:
            stale = not _alive(int(pid)) or now - p.stat().st_mtime > STALE_TMP_SECONDS
        except (ValueError, OSError):
            stale = True
        if stale:
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_npz(path, **arrays):
    """Atomically write ``arrays`` to ``path``; on failure warn (a read-only cache must not stop work)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        clean_temporaries(path.parent)
        atomic_write(path, lambda fh: np.savez(fh, **arrays))
    except OSError as err:
        warn(f"could not write the cache file {path}: {err.strerror or err}.")


def _read(path):
    """{relpath: (bytes, mtime_ns, image or None, reason)} from a cache file; {} if absent or broken."""
    z = read_npz(path)
    try:
        return {} if z is None else {
            f: (int(b), int(t), img if r == "" else None, str(r))
            for f, b, t, img, r in zip(z["files"], z["bytes"], z["mtimes"], z["images"], z["reasons"])}
    except KeyError as err:
        warn(f"the cache file {path} lacks {err}; rebuilding it.")
        return {}


def _write(path, entries, side):
    """Replace the cache file with ``entries`` (same shape as _read's result)."""
    files = sorted(entries)
    images = np.zeros((len(files), side, side), np.uint8)
    for i, f in enumerate(files):
        if entries[f][2] is not None:
            images[i] = entries[f][2]
    write_npz(path, files=np.array(files, dtype=str), images=images,
              bytes=np.array([entries[f][0] for f in files], np.int64),
              mtimes=np.array([entries[f][1] for f in files], np.int64),
              reasons=np.array([entries[f][3] for f in files], dtype=str))


def _decode(path, size):
    try:
        return decode_file(path, source_size(size), min_side=size), ""
    except BadImage as err:
        return None, str(err)


class Decoded(NamedTuple):
    images: np.ndarray    # uint8 (K, R, R), the K good files in order, at R = source_size(S)
    ok: np.ndarray        # bool (len(files),), which files are in ``images``
    skipped: list         # [(file, reason)] for the others
    hits: int             # files taken from the cache
    decoded: int          # files decoded now


def load_images(root, files, size, cache_dir=None, progress=True, desc="decoding"):
    """Decode ``files`` (paths relative to ``root``) for target size S = ``size``, using and refreshing
    the cache. Images come back at R = source_size(S); files smaller than S are skipped.

    ``cache_dir``: a folder, or None for no cache. Returns a ``Decoded`` tuple.
    """
    root, side = Path(root), source_size(size)
    path = cache_path(cache_dir, root, size) if cache_dir else None
    old = _read(path) if path else {}
    entries, todo = {}, []
    for f in files:
        st = (root / f).stat()
        hit = old.get(f)
        same_file = hit and hit[0] == st.st_size and hit[1] == st.st_mtime_ns
        if same_file and (hit[2] is None or hit[2].shape == (side, side)):
            entries[f] = hit
        else:
            entries[f] = (st.st_size, st.st_mtime_ns, None, "")
            todo.append(f)
    if todo:
        # the warning filter is set here too, so that decode_file's own filters in the threads never
        # restore a list without it (catch_warnings is not thread-safe)
        with warnings.catch_warnings(), ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1)) as pool:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            results = pool.map(lambda f: _decode(root / f, size), todo)
            for f, (img, reason) in tqdm(zip(todo, results), total=len(todo), desc=desc, unit="img",
                                         disable=None if progress else True, leave=False):
                entries[f] = entries[f][:2] + (img, reason)
    if path and (todo or set(old) != set(entries)):
        _write(path, entries, side)
    ok = np.array([entries[f][2] is not None for f in files], bool)
    good = [entries[f][2] for f, k in zip(files, ok) if k]
    images = np.stack(good) if good else np.zeros((0, side, side), np.uint8)
    skipped = [(f, entries[f][3]) for f, k in zip(files, ok) if not k]
    return Decoded(images, ok, skipped, len(files) - len(todo), len(todo))
