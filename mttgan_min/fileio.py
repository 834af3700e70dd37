"""Small file helpers shared by the job and the data cache: writes that never leave half a file."""
import os
from pathlib import Path


def atomic_write(path, write):
    """Call ``write(fileobj)`` on a temporary file, fsync it, then move it to ``path``.

    If anything fails (an exception in ``write``, a full disk, a failing
    ``os.replace``), the temporary file is removed and ``path`` is untouched.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    try:  # make the rename itself durable (not possible on every platform)
        fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
