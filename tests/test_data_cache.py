"""Cache of decoded images (docs/design.md, "Image cache"): hits, invalidation by change, deleted files
dropped, atomic writes, corrupt files rebuilt with a warning on stderr, stale temporaries removed."""
import os

import numpy as np
from PIL import Image

from mttgan_min.data import default_cache_dir, load_kaggle
from mttgan_min.data.cache import load_images


def make_files(root, n=4):
    for i in range(n):
        a = np.full((40, 40), 30 * i, np.uint8)
        Image.fromarray(a).save(root / f"f{i}.png")
    return [f"f{i}.png" for i in range(n)]


def test_second_load_hits_the_cache(tmp_path):
    files = make_files(tmp_path)
    first = load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    second = load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    assert (first.hits, first.decoded) == (0, 4) and (second.hits, second.decoded) == (4, 0)
    assert np.array_equal(first.images, second.images)
    other_size = load_images(tmp_path, files, 8, tmp_path / "cache", progress=False)
    assert other_size.decoded == 4 and other_size.images.shape == (4, 10, 10)   # R = 1.25 S


def test_changed_file_is_decoded_again(tmp_path):
    files = make_files(tmp_path)
    load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    Image.fromarray(np.full((40, 40), 255, np.uint8)).save(tmp_path / "f1.png")
    st = os.stat(tmp_path / "f1.png")
    os.utime(tmp_path / "f1.png", ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # a new mtime for sure
    again = load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    assert (again.hits, again.decoded) == (3, 1) and again.images[1].min() == 255
    os.utime(tmp_path / "f2.png", ns=(st.st_atime_ns, st.st_mtime_ns + 2 * 10**9))  # touched only
    assert load_images(tmp_path, files, 16, tmp_path / "cache", progress=False).decoded == 1


def test_deleted_file_disappears(tmp_path):
    files = make_files(tmp_path)
    load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    (tmp_path / "f3.png").unlink()
    third = load_images(tmp_path, files[:3], 16, tmp_path / "cache", progress=False)
    assert third.hits == 3
    (cache_file,) = (tmp_path / "cache").glob("*.npz")
    with np.load(cache_file) as z:
        assert sorted(z["files"]) == files[:3]


def test_bad_files_are_cached_with_their_reason(tmp_path):
    root = tmp_path / "chest_xray" / "train" / "NORMAL"
    root.mkdir(parents=True)
    Image.fromarray(np.zeros((40, 40), np.uint8)).save(root / "IM-0001-0001.jpeg")
    (root / "IM-0002-0001.jpeg").write_bytes(b"junk")
    a = load_kaggle(tmp_path, 16, tmp_path / "cache", progress=False)
    b = load_kaggle(tmp_path, 16, tmp_path / "cache", progress=False)
    assert a.skipped == b.skipped and len(b.skipped) == 1 and len(b) == 1


def test_default_cache_dir_respects_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / "mttgan_min"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir().parts[-2:] == (".cache", "mttgan_min")


def test_truncated_cache_is_warned_about_on_stderr_and_rebuilt(tmp_path, capsys):
    files = make_files(tmp_path)
    load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    (cache_file,) = (tmp_path / "cache").glob("*.npz")
    data = cache_file.read_bytes()
    cache_file.write_bytes(data[: len(data) // 2])                              # a full disk's leftover
    again = load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    out, err = capsys.readouterr()
    assert again.decoded == 4 and out == ""
    assert "warning:" in err and str(cache_file) in err and "rebuilding" in err and "Traceback" not in err
    assert load_images(tmp_path, files, 16, tmp_path / "cache", progress=False).hits == 4   # rebuilt


def test_corrupt_synthetic_cache_is_rebuilt(tmp_path, capsys):
    from mttgan_min.data import load_pool
    first = load_pool("covid", None, 16, tmp_path)
    (cache_file,) = tmp_path.glob("synthetic-covid-*.npz")
    cache_file.write_bytes(b"PK\x03\x04 not really a zip")
    second = load_pool("covid", None, 16, tmp_path)
    out, err = capsys.readouterr()
    assert np.array_equal(first.images, second.images) and out == "" and "rebuilding" in err
    np.load(cache_file).close()                                                  # readable again


def test_failed_write_leaves_the_old_cache_and_no_temporary(tmp_path, monkeypatch, capsys):
    files = make_files(tmp_path)
    load_images(tmp_path, files, 16, tmp_path / "cache", progress=False)
    (cache_file,) = (tmp_path / "cache").glob("*.npz")
    before = cache_file.read_bytes()

    def failing_savez(fh, **arrays):
        fh.write(b"half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", failing_savez)
    Image.fromarray(np.full((40, 40), 7, np.uint8)).save(tmp_path / "f4.png")
    load_images(tmp_path, files + ["f4.png"], 16, tmp_path / "cache", progress=False)
    out, err = capsys.readouterr()
    assert out == "" and "could not write" in err
    assert cache_file.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [cache_file.name]


def test_stale_temporaries_are_removed_live_ones_kept(tmp_path):
    import subprocess
    import sys
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()                             # a pid that has ended
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = [cache / f".images-abc-16px.npz.tmp-{dead}", cache / f"images-abc-16px.tmp{dead}.npz"]
    live = cache / f".images-abc-16px.npz.tmp-{os.getpid()}"
    for p in stale + [live]:
        p.write_bytes(b"partial")
    files = make_files(tmp_path)
    load_images(tmp_path, files, 16, cache, progress=False)
    left = {p.name for p in cache.iterdir()}
    assert not {p.name for p in stale} & left and live.name in left
