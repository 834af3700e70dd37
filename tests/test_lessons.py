"""The lessons (``lessons/NN_topic.py``) run top to bottom, pass their exercises and convert to notebooks.

Each lesson runs as a plain script in a subprocess: matplotlib's non-interactive Agg backend, a
temporary working directory, the repository first on PYTHONPATH, the synthetic phantoms
(``MTTGAN_DATA`` unset) and ``MTTGAN_COURSEWORK_RESULTS`` set as the grader sets it, so every
``check`` in the lesson also runs its exercise's hidden cases and every exercise registered for the
lesson must be recorded as passed (a lesson with no ``check`` call at all, not yet turned into
coursework, is only run). A lesson that runs is a lesson whose reference solutions are
right. The time limit is a generous timeout, not a wall-clock assertion, because a timing on a
loaded machine is flaky.

One more run is the README's: ``python lessons/03_backprop_by_hand.py`` from the repository root
with no PYTHONPATH at all, which works because the set-up (``pip install -r requirements.txt``)
installs the package in editable mode; the same install lets a notebook whose kernel runs in
``lessons/`` import it.

The notebook side: jupytext reads the percent-format source, writes it as ``.ipynb`` and reads that
back, and the cells must come through unchanged.

Lessons are found by their file names, so a new lesson is tested as soon as it exists.
"""
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mttgan_min.coursework import RESULTS_ENV, lesson_exercises

jupytext = pytest.importorskip("jupytext")

REPO = Path(__file__).resolve().parents[1]
LESSONS = sorted((REPO / "lessons").glob("[0-9][0-9]_*.py"))
TIMEOUT_S = 150   # per lesson; each is meant to finish in well under 90 s on a 2-core CPU


def lesson_env(data_dir=None):
    """The environment a lesson runs in: Agg backend, the repository importable, data chosen."""
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env.pop("MTTGAN_DATA", None)
    if data_dir is not None:
        env["MTTGAN_DATA"] = str(data_dir)
    return env


def untracked_files():
    """Files in the checkout that git neither tracks nor ignores, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=REPO,
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    return {line[3:] for line in out.stdout.splitlines() if line.startswith("??")}


def run_lesson(path, tmp_path, data_dir=None):
    before = untracked_files()
    results = tmp_path / "coursework_results.jsonl"
    env = lesson_env(data_dir)
    env[RESULTS_ENV] = str(results)
    workdir = tmp_path / "cwd"
    workdir.mkdir()
    start = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, str(path)], cwd=workdir, env=env,
                              capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} did not finish within {TIMEOUT_S} s")
    seconds = time.perf_counter() - start
    assert proc.returncode == 0, (f"{path.name} failed after {seconds:.1f} s:\n"
                                  f"--- stdout (end) ---\n{proc.stdout[-3000:]}\n"
                                  f"--- stderr (end) ---\n{proc.stderr[-5000:]}")
    print(f"{path.name}: {seconds:.1f} s")
    rows = [json.loads(line) for line in results.read_text().splitlines()] if results.is_file() else []
    status = {}
    for row in rows:
        status.setdefault(row["exercise"], row)
    expected = lesson_exercises(int(path.name[:2]))
    assert expected, f"{path.name} has no registered exercise (mttgan_min/coursework/checks/)"
    for exercise in expected:
        row = status.get(exercise.name)
        assert row is not None, f"{path.name} never checks its exercise {exercise.name!r}"
        assert row["status"] == "passed", (f"{path.name}: exercise {exercise.name} is {row['status']} with the "
                                           f"reference solution:\n{row['message']}")
    after = untracked_files()
    if before is not None and after is not None:
        # Another lesson's source appearing meanwhile is not this lesson's doing.
        new = {f for f in after - before if not re.fullmatch(r"lessons/\d\d_\w+\.py", f)}
        assert not new, f"{path.name} wrote into the repository: {sorted(new)}"


def test_lessons_exist():
    assert LESSONS, "no lessons/NN_topic.py found"
    numbers = [int(p.name[:2]) for p in LESSONS]
    assert len(set(numbers)) == len(numbers), f"two lessons share a number: {[p.name for p in LESSONS]}"


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_runs(path, tmp_path):
    run_lesson(path, tmp_path)


def test_lesson_runs_the_readme_way():
    """``python lessons/03_backprop_by_hand.py`` from the repository root with no PYTHONPATH.

    The set-up's editable install (``-e .`` in requirements.txt) is what makes the package
    importable there, and in a notebook kernel whose working directory is ``lessons/``.
    """
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MTTGAN_DATA", RESULTS_ENV)}
    env.update(MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    probe = subprocess.run([sys.executable, "-c", "import pathlib, mttgan_min; "
                            "print(pathlib.Path(mttgan_min.__file__).resolve())"],
                           cwd=REPO / "lessons", env=env, capture_output=True, text=True, timeout=60)
    assert probe.returncode == 0, ("mttgan_min cannot be imported without PYTHONPATH from lessons/ (where a "
                                   "notebook's kernel runs): run `pip install -r requirements.txt` from the "
                                   f"repository root, which installs it in editable mode.\n{probe.stderr[-2000:]}")
    where = Path(probe.stdout.strip().splitlines()[-1])
    if REPO.resolve() not in where.parents:
        pytest.skip(f"mttgan_min is installed from {where.parent.parent}, not from this checkout {REPO}: "
                    "run `pip install -r requirements.txt` here to test this checkout's set-up")
    lesson = REPO / "lessons" / "03_backprop_by_hand.py"
    before = untracked_files()
    proc = subprocess.run([sys.executable, str(lesson.relative_to(REPO))], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"{lesson.name} failed run the README's way:\n{proc.stderr[-5000:]}"
    after = untracked_files()
    if before is not None and after is not None:
        new = {f for f in after - before if not re.fullmatch(r"lessons/\d\d_\w+\.py", f)}
        assert not new, f"{lesson.name} wrote into the repository: {sorted(new)}"


def cells(notebook):
    return [(c.cell_type, c.source) for c in notebook.cells]


@pytest.mark.parametrize("path", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_is_a_notebook(path):
    """Percent format, a title cell naming the paper, a closing markdown cell, an exact round trip."""
    notebook = jupytext.read(path)
    kinds = [c.cell_type for c in notebook.cells]
    assert "code" in kinds and "markdown" in kinds, f"{path.name}: needs code and markdown cells"
    title = notebook.cells[0]
    assert title.cell_type == "markdown", f"{path.name}: the first cell must be the markdown title"
    assert re.match(rf"#\s+Lesson\s+0*{int(path.name[:2])}\b", title.source), \
        f"{path.name}: the title cell must start with '# Lesson {int(path.name[:2])}'"
    assert re.search(r"\b(Sec|Secs|Fig|Figs|Eq|Eqs|Table)\.", title.source), \
        f"{path.name}: the title cell must name the paper's section, figure or equation"
    closing = [c for c in notebook.cells if c.cell_type == "markdown"][-1]
    assert "what to try next" in closing.source.lower(), \
        f"{path.name}: the last markdown cell must be the 'What to try next' cell"

    as_ipynb = jupytext.writes(notebook, fmt="ipynb")
    back = jupytext.reads(as_ipynb, fmt="ipynb")
    assert cells(back) == cells(notebook), f"{path.name}: cells changed in the .ipynb round trip"
    again = jupytext.reads(jupytext.writes(back, fmt="py:percent"), fmt="py:percent")
    assert cells(again) == cells(notebook), f"{path.name}: cells changed converting back to .py"


def real_data_dir():
    """$MTTGAN_DATA, or the data folder next to the checkout, if it holds both data sets."""
    for cand in [os.environ.get("MTTGAN_DATA"), REPO.parent / "shared" / "data"]:
        if cand and (Path(cand) / "chest_xray").is_dir() and (Path(cand) / "covid-chestxray-dataset").is_dir():
            return Path(cand)
    return None


USES_DATA = [p for p in LESSONS if "MTTGAN_DATA" in p.read_text()]


@pytest.mark.slow
@pytest.mark.parametrize("path", USES_DATA, ids=[p.stem for p in USES_DATA])
def test_lesson_runs_on_real_data(path, tmp_path):
    data = real_data_dir()
    if data is None:
        pytest.skip("no real data: set MTTGAN_DATA to the folder holding chest_xray/ and covid-chestxray-dataset/")
    run_lesson(path, tmp_path, data)
