"""The grader: run each lesson as the student left it and report every exercise of it.

Each lesson (``NN_topic.py``, or ``NN_topic.ipynb`` turned into a script by jupytext) runs in a
subprocess of its own: an empty temporary working directory, ``MPLBACKEND=Agg``, a time limit
(the whole process group is killed past it) and ``MTTGAN_COURSEWORK_RESULTS`` naming a file, so
that ``check`` also runs each exercise's hidden cases and writes one line per exercise there. The
exercises a lesson should check come from the registry (``lesson_exercises(NN)``); one that the
lesson never checked is "not reached" (the lesson stopped before it; the end of its stderr says
why) or "timed out".
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import mttgan_min
from mttgan_min.cli import UsageError
from mttgan_min.coursework.exercise import RESULTS_ENV, lesson_exercises

PASSED, FAILED, NOT_ATTEMPTED, NOT_REACHED, TIMED_OUT = "passed", "failed", "not attempted", "not reached", "timed out"
NO_EXERCISES = "no exercises"
STATUSES = (PASSED, FAILED, NOT_ATTEMPTED, NOT_REACHED, TIMED_OUT, NO_EXERCISES)
SUFFIXES = (".py", ".ipynb")
STDERR_LINES = 8
_LESSON_NAME = re.compile(r"(\d\d)_\w*$")


def lesson_number(path):
    """NN of ``NN_topic.py`` / ``NN_topic.ipynb`` (an int), or None for any other file name."""
    path = Path(path)
    match = _LESSON_NAME.match(path.stem)
    return int(match.group(1)) if match and path.suffix in SUFFIXES else None


def collect(paths):
    """The lesson files named by ``paths`` (files, or folders of them), in order, each once.

    In a folder holding both ``NN_topic.py`` and ``NN_topic.ipynb`` the newer of the two is graded.
    """
    found = []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise UsageError(f"{given} does not exist.")
        if path.is_dir():
            lessons = {}
            for cand in sorted(path.iterdir()):
                if cand.is_file() and lesson_number(cand) is not None:
                    other = lessons.get(cand.stem)
                    if other is None or cand.stat().st_mtime > other.stat().st_mtime:
                        lessons[cand.stem] = cand
            if not lessons:
                raise UsageError(f"{given} holds no lessons (files named NN_topic.py or NN_topic.ipynb).")
            found += [lessons[stem] for stem in sorted(lessons)]
        elif lesson_number(path) is None:
            raise UsageError(f"{given} is not a lesson: expected a file named NN_topic.py or NN_topic.ipynb.")
        else:
            found.append(path)
    unique = {}
    for path in found:
        unique.setdefault(path.resolve(), path)
    return list(unique.values())


@dataclass
class LessonRun:
    """How one lesson's run ended."""
    path: str
    lesson: int
    seconds: float
    returncode: int
    timed_out: bool
    stderr_tail: str


def _script(path, folder):
    """The file to run: the lesson itself, or a notebook's cells written as a script into ``folder``."""
    if path.suffix != ".ipynb":
        return path.resolve()
    import jupytext
    script = Path(folder) / (path.stem + ".py")
    jupytext.write(jupytext.read(path), script, fmt="py:percent")
    return script


def _kill_group(proc):
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError, AttributeError):
        if proc.poll() is None:
            proc.kill()


def _tail(text, n=STDERR_LINES):
    lines = [line for line in text.splitlines() if line.strip()]
    return "\n".join(lines[-n:])


def run_lesson(path, timeout):
    """Run one lesson; return its ``LessonRun`` and the rows ``check`` wrote (a list of dicts)."""
    path = Path(path)
    number = lesson_number(path)
    with tempfile.TemporaryDirectory(prefix="mttgan-grade-") as private, \
            tempfile.TemporaryDirectory(prefix="mttgan-lesson-") as workdir:
        results, out, err = (Path(private) / name for name in ("results.jsonl", "stdout.txt", "stderr.txt"))
        start = time.perf_counter()
        try:
            script = _script(path, private)
        except Exception as error:  # a notebook jupytext cannot read: the lesson never ran
            return LessonRun(str(path), number, 0.0, 1, False, f"could not read the notebook: {error}"), []
        env = dict(os.environ)
        root = str(Path(mttgan_min.__file__).resolve().parents[1])
        env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
        env["MPLBACKEND"] = "Agg"
        env[RESULTS_ENV] = str(results)
        timed_out = False
        with open(out, "wb") as stdout, open(err, "wb") as stderr:
            proc = subprocess.Popen([sys.executable, str(script)], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                    stdout=stdout, stderr=stderr, start_new_session=True)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
            finally:
                _kill_group(proc)
                proc.wait()
        seconds = time.perf_counter() - start
        tail = _tail(err.read_text(encoding="utf-8", errors="replace"))
        rows = []
        if results.is_file():
            for line in results.read_text(encoding="utf-8").splitlines():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
        return LessonRun(str(path), number, round(seconds, 2), proc.returncode, timed_out, tail), rows


def _row(run, exercise, title, status, message=""):
    return {"path": run.path, "file": Path(run.path).name, "lesson": run.lesson, "exercise": exercise,
            "title": title, "status": status, "message": message}


def rows_of(run, recorded, timeout):
    """One row per exercise of the lesson: what ``check`` recorded, else not reached or timed out."""
    first = {}
    for rec in recorded:
        first.setdefault(rec.get("exercise"), rec)
    expected = [(e.name, e.title) for e in lesson_exercises(run.lesson)]
    expected += [(name, rec.get("title", "")) for name, rec in first.items() if name not in dict(expected)]
    if run.timed_out:
        missing_status, missing = TIMED_OUT, f"the lesson ran past the {timeout:g} s limit and was stopped"
    elif run.returncode != 0:
        missing_status = NOT_REACHED
        missing = f"the lesson stopped before this check (exit status {run.returncode}):\n{run.stderr_tail}"
    else:
        missing_status, missing = NOT_REACHED, "the lesson ended without checking this exercise"
    if not expected:
        if run.timed_out or run.returncode != 0:
            return [_row(run, "-", "", missing_status, missing.replace("before this check", "with an error"))]
        return [_row(run, "-", "", NO_EXERCISES)]
    rows = []
    for name, title in expected:
        rec = first.get(name)
        if rec is None:
            rows.append(_row(run, name, title, missing_status, missing))
        else:
            rows.append(_row(run, name, title, rec.get("status", FAILED), rec.get("message", "")))
    return rows


def grade(paths, timeout=300.0, progress=None):
    """Grade every lesson of ``paths``; a dict with ``lessons``, ``exercises`` (rows) and a summary."""
    lessons = collect(paths)
    runs, rows = [], []
    for i, path in enumerate(lessons, 1):
        if progress is not None:
            print(f"[{i}/{len(lessons)}] {path} ...", end="", file=progress, flush=True)
        run, recorded = run_lesson(path, timeout)
        mine = rows_of(run, recorded, timeout)
        runs.append(run)
        rows += mine
        if progress is not None:
            counts = _counts(mine)
            print(f" {run.seconds:.1f} s: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n),
                  file=progress, flush=True)
    counts = _counts(rows)
    return {"timeout_s": timeout, "lessons": [asdict(r) for r in runs], "exercises": rows,
            "summary": counts, "all_passed": all(r["status"] in (PASSED, NO_EXERCISES) for r in rows)}


def _counts(rows):
    return {s: sum(r["status"] == s for r in rows) for s in STATUSES}


def format_table(result):
    """The grade as a text table: one row per exercise, each message indented below its row."""
    rows = result["exercises"]
    head = ("lesson", "exercise", "result")
    names = {}
    for r in rows:
        names.setdefault(r["file"], set()).add(r["path"])
    cells = [(r["file"] if len(names[r["file"]]) == 1 else r["path"], r["exercise"], r["status"]) for r in rows]
    widths = [max(len(c[k]) for c in cells + [head]) for k in range(3)]
    line = lambda c: "  ".join(v.ljust(w) for v, w in zip(c, widths)).rstrip()
    out = [line(head), line(tuple("-" * w for w in widths))]
    for row, cell in zip(rows, cells):
        out.append(line(cell))
        if row["message"] and row["status"] != PASSED:
            out += ["    " + m for m in row["message"].splitlines()]
    for run in result["lessons"]:
        ok = [r for r in rows if r["path"] == run["path"] and r["status"] in (PASSED, FAILED, NOT_ATTEMPTED)]
        if ok and run["returncode"] != 0 and not run["timed_out"]:
            last = run["stderr_tail"].splitlines()[-1] if run["stderr_tail"] else f"exit status {run['returncode']}"
            out.append(f"note: {Path(run['path']).name} stopped with an error after its checks: {last}")
    graded = [r for r in rows if r["status"] != NO_EXERCISES]
    counts = result["summary"]
    others = ", ".join(f"{counts[s]} {s}" for s in STATUSES[1:-1] if counts[s])
    out.append(f"\n{counts[PASSED]} of {len(graded)} exercises passed" + (f"; {others}." if others else "."))
    return "\n".join(out)
