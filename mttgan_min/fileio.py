"""Small file helpers shared by the job and the data cache: writes that never leave half a file."""
import os
from pathlib import Path

TMP_TAG = ".tmp-"  # temporary files are named ".<name>.tmp-<pid>" next to their target


def temporary_name(path):
    """Where ``atomic_write`` writes ``path`` before moving it into place: ``.<name>.tmp-<pid>``."""
    path = Path(path)
    return path.with_name(f".{path.name}{TMP_TAG}{os.getpid()}")


def atomic_write(path, write, verify=None, backup=None):
    """Call ``write(fileobj)`` on a temporary file, fsync it, then move it to ``path``.

    verify: optional ``verify(tmp_path)``, called on the complete temporary file before it replaces
    ``path``; an exception there aborts the write. backup: optional path where the current ``path``
    (if any) is kept, as it was, just before it is replaced (a hard link where the file system allows,
    else a rename), so a verified previous version always exists.

    If anything fails (an exception in ``write`` or ``verify``, a full disk, a failing
    ``os.replace``), the temporary file is removed and ``path`` is untouched. An ``OSError`` without a
    file name gets ``path`` as its file name, so the caller can say which file could not be written.
    """
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if verify is not None:
            verify(tmp)
        if backup is not None and path.exists():
            _keep_copy(path, Path(backup))
        os.replace(tmp, path)
    except BaseException as err:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(err, OSError) and not err.filename:
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    _sync_dir(path.parent)


def _keep_copy(path, backup):
    """``backup`` becomes the current ``path`` (a hard link, or a rename where links fail)."""
    link = temporary_name(backup)
    try:
        os.link(path, link)
        os.replace(link, backup)
    except OSError:
        try:
            link.unlink()
        except OSError:
            pass
        os.replace(path, backup)


def _sync_dir(folder):
    """Make renames in ``folder`` durable (not possible on every platform)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass


def remove_temporary_files(folder):
    """Delete ``atomic_write``'s leftovers (``.*.tmp-*``) in ``folder`` and its sub-folders.

    Only safe while no other process writes there (the training job holds the run directory's
    lock when it calls this). Returns the removed paths.
    """
    removed = []
    for tmp in Path(folder).rglob(f".*{TMP_TAG}*"):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed
