"""The run directory: what a training run leaves on disk, its lock, and its metrics log.

The files and what they hold are listed in ``FILES`` below; the same list is written into every
run directory as ``README.txt`` when the run starts. Pictures are drawn by ``run.pictures``,
checkpoints written by ``run.checkpoint``. While a job works in a run directory it holds an
exclusive lock on ``RUN/.lock`` (``RunLock``); a second job there is refused
(docs/design.md, "Run directory").
"""
import csv
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np

from ..fileio import atomic_write, remove_temporary_files, temporary_name

try:
    import fcntl
except ImportError:  # Windows: no advisory locks, run directories are not locked
    fcntl = None

METRIC_FIELDS = ("stage", "epoch", "iteration", "d_loss", "g_loss", "d_real", "d_fake", "seconds")
SPLIT = "split.json"
LOCK = ".lock"
FILES = (
    ("README.txt", "this list"),
    ("config.json", "every setting needed to repeat the run (+ version, git commit, command line, "
                    "the stages with their images and iterations per epoch)"),
    (SPLIT, "the data split: which image files trained, which are held out for evaluation, per class"),
    ("data_report.json", "the data as loaded: counts per pool and class, skipped files and why"),
    ("metrics.csv", "one row per iteration: stage (pretrain/finetune, or train for the baseline), epoch "
                    "(1-based), iteration (1-based count within the stage), d_loss, g_loss, d_real "
                    "(mean D(real)), d_fake (mean D(fake)), seconds (wall time of that iteration); "
                    "only ever appended to"),
    ("loss_curves.png", "the losses and D outputs against iterations"),
    ("diversity.csv", "after every epoch, how varied the samples are: spread ratio and near-duplicate "
                      "rate of 256 samples against the stage's real images (student, and teacher)"),
    ("diversity.png", "the same against epochs"),
    ("realism.csv", "after every epoch, how realistic the samples are against the stage's held-out real "
                    "images: two-sample accuracy (0.5: a linear model cannot tell them apart), high-frequency "
                    "power ratio and nearest-neighbour distance ratio (1: like new real images)"),
    ("realism.png", "the same against epochs"),
    ("samples/<stage>_e<epoch>.png", "the fixed latent batch through G after every epoch (student | "
                                     "teacher side by side during MTT-GAN fine-tuning); the title says "
                                     "which stage and epoch"),
    ("fixed_latent.npy", "the fixed latent batch of the sample grids (also in every checkpoint)"),
    ("checkpoint.npz", "the latest checkpoint: networks, teachers, Adam states, random generator "
                       "states, position; written at every epoch end, every --checkpoint-minutes of "
                       "training and when the run is stopped; continue with --resume RUN"),
    ("checkpoint.prev.npz", "the checkpoint before the latest one, used if the latest is unreadable"),
    ("pretrained.npz", "G and D after the pretraining stage (for --pretrained RUN)"),
    ("generator.npz", "the final generator (the teacher G for mtt, else the student G)"),
    (LOCK, "held (flock) while a job works here; an unlocked, stale file is harmless"),
)


class RunDirError(Exception):
    """The run directory cannot be used; the message is one sentence."""


def git_commit():
    """The commit of the source tree this package runs from, or None when unknown."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                             text=True, timeout=5)
        commit = out.stdout.strip()
        if out.returncode != 0 or not commit:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def prepare_run_dir(path, needed_bytes):
    """Create ``path`` and prove it is writable and has room; raise RunDirError otherwise.

    ``needed_bytes``: a generous estimate of what the run will write (mostly
    checkpoints, which exist twice while one is being replaced).
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = temporary_name(path / "write-test")
        try:
            with open(probe, "wb") as f:
                f.write(b"0" * 4096)
                f.flush()
                os.fsync(f.fileno())
        finally:
            probe.unlink(missing_ok=True)
    except OSError as err:
        raise RunDirError(f"cannot write to {path}: {err.strerror or err}.")
    free = shutil.disk_usage(path).free
    if free < needed_bytes:
        raise RunDirError(f"{path} has {free / 2**20:.0f} MiB free but this run needs about "
                          f"{needed_bytes / 2**20:.0f} MiB for its checkpoints and samples.")
    return path


class RunLock:
    """An exclusive lock on a run directory: ``fcntl.flock`` on ``RUN/.lock``.

    The kernel releases it when the process ends (even by ``kill -9``), so a lock file left by a
    dead process is harmless. Taking it also removes the temporary files of earlier, killed jobs.
    Raises RunDirError when another process holds it.
    """

    def __init__(self, run):
        self.run, self.fd = Path(run), None
        if fcntl is None:
            return
        path = self.run / LOCK
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = os.read(fd, 32).decode(errors="replace").strip()
            os.close(fd)
            who = f" (pid {holder})" if holder.isdigit() else ""
            raise RunDirError(f"{self.run} is in use by another process{who}; wait for it to end "
                              "or choose another run directory.") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd
        remove_temporary_files(self.run)

    def release(self):
        if self.fd is not None:
            os.close(self.fd)  # closing the descriptor releases the flock
            self.fd = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.release()


def write_index(run, results=()):
    """RUN/README.txt: every file a run directory can hold, with what it is; then ``results`` (lines,
    such as the final epoch's diversity and realism) when the run has ended."""
    width = max(len(name) for name, _ in FILES) + 2
    lines = ["This is a training run of mttgan-min (python -m mttgan_min.train). Its files:", ""]
    lines += [f"{name:<{width}}{text}" for name, text in FILES]
    if results:
        lines += ["", "At the end of the run:"] + list(results)
    text = "\n".join(lines) + "\n"
    atomic_write(Path(run) / "README.txt", lambda f: f.write(text.encode()))


def read_options(path):
    """The "options" record of a run's (or an evaluation's) config.json at ``path``, as a dict.

    Raises RunDirError with one sentence when the file cannot be read, is not JSON or has no record.
    """
    path = Path(path)
    try:
        saved = read_json(path)
    except ValueError as err:
        raise RunDirError(f"{path} is not valid JSON ({err}), so the run's settings are unknown.") from None
    except OSError as err:
        raise RunDirError(f"cannot read {path}: {err.strerror or err}.") from None
    if not isinstance(saved, dict) or not isinstance(saved.get("options"), dict):
        raise RunDirError(f"{path} has no \"options\" record, so the run's settings are unknown.")
    return saved["options"]


def write_json(path, obj):
    """Write ``obj`` as indented JSON, atomically."""
    text = json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n"
    atomic_write(path, lambda f: f.write(text.encode()))


def read_json(path):
    with open(path) as f:
        return json.load(f)


class MetricsLog:
    """``metrics.csv``, only ever appended to, one flushed row per iteration.

    ``keep_rows``: on resume, the number of data rows the checkpoint knows about; rows after them
    (written by iterations that are going to be repeated, or cut short by a kill) are cut off the
    end of the file before appending, so the file matches an uninterrupted run. The rows before
    them are never rewritten, so a resume killed at any moment loses none of them.
    """

    def __init__(self, path, keep_rows=0, warn=print):
        self.path = Path(path)
        keep, complete = 0, []
        if self.path.exists():
            with open(self.path, "rb") as f:
                complete = [line for line in f.readlines() if line.endswith(b"\n")]
        if complete:  # a header at least: keep what the checkpoint knows, append after it
            if len(complete) - 1 < keep_rows:
                warn(f"warning: {self.path} holds {max(len(complete) - 1, 0)} rows but the checkpoint "
                     f"counted {keep_rows}; the missing rows are lost.")
            keep = min(keep_rows, len(complete) - 1)
            os.truncate(self.path, sum(len(line) for line in complete[:keep + 1]))
            self.file = open(self.path, "a", newline="")
            self.writer = csv.DictWriter(self.file, fieldnames=METRIC_FIELDS)
        else:
            self.file = open(self.path, "w", newline="")
            self.writer = csv.DictWriter(self.file, fieldnames=METRIC_FIELDS)
            self.writer.writeheader()
            self.file.flush()
        self.rows = keep

    def append(self, stage, epoch, iteration, metrics, seconds):
        row = {"stage": stage, "epoch": epoch, "iteration": iteration, "seconds": f"{seconds:.4f}"}
        row.update({k: f"{metrics[k]:.6g}" for k in ("d_loss", "g_loss", "d_real", "d_fake")})
        self.writer.writerow(row)
        self.file.flush()
        self.rows += 1

    def close(self):
        self.file.close()


def read_metrics(path):
    """metrics.csv -> dict of columns (NumPy arrays; 'stage' as str)."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    cols = {k: np.array([r[k] for r in rows]) for k in METRIC_FIELDS}
    for k in METRIC_FIELDS[1:]:
        cols[k] = cols[k].astype(float)
    return cols
