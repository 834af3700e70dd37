"""The coursework: the exercise registry, the student release and the grader.

The release and the grader are tested on tiny fixture lessons (``tests/coursework_fixtures/`` and
lessons written here), each a subprocess of well under a second, so the file stays fast. Planted
wrong answers are a table, ``PLANTED``: add a row for each new exercise.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mttgan_min.coursework import Exercise, ExerciseFailed, exercises, get
from mttgan_min.coursework import checks
from mttgan_min.coursework import release as releasing
from mttgan_min.coursework.__main__ import main

jupytext = pytest.importorskip("jupytext")

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "coursework_fixtures"
REFERENCE = FIXTURES / "03_reference.py"
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"


# ---------------------------------------------------------------- the registry

def test_registry_names_are_unique_and_match_their_modules():
    import importlib
    import pkgutil
    registry = exercises()        # raises ValueError on two exercises of one name
    assert registry, "no exercise registered"
    seen = []
    for info in pkgutil.iter_modules(checks.__path__):
        match = re.fullmatch(r"lesson(\d\d)", info.name)
        assert match, f"checks/{info.name}.py: a checks module is called lessonNN.py"
        module = importlib.import_module(f"{checks.__name__}.{info.name}")
        for exercise in module.EXERCISES:
            assert isinstance(exercise, Exercise)
            assert exercise.lesson == int(match.group(1)), f"{exercise.name} is in {info.name} but says lesson {exercise.lesson}"
            assert re.fullmatch(r"[a-z][a-z0-9_]*", exercise.name), f"{exercise.name!r} is not snake_case"
            seen.append(exercise.name)
    assert len(seen) == len(set(seen)) == len(registry)


@pytest.mark.parametrize("name", list(exercises()))
def test_fallback_passes_its_own_cases(name):
    exercise = get(name)
    exercise.cases(exercise.fallback)
    exercise.hidden(exercise.fallback)


@pytest.mark.parametrize("name", list(exercises()))
def test_a_stub_is_not_attempted(name, capsys, monkeypatch):
    from mttgan_min.coursework import check
    monkeypatch.delenv("MTTGAN_COURSEWORK_RESULTS", raising=False)

    def stub(*args, **kwargs):
        raise NotImplementedError("exercise: write your solution here")

    assert check(name, stub) is get(name).fallback
    assert "not done" in capsys.readouterr().out


def test_unknown_exercise_names_the_known_ones():
    with pytest.raises(KeyError, match="dense_backward"):
        get("no_such_exercise")


# ---------------------------------------------------------------- helpers

def write_lesson(folder, name, body):
    """A tiny lesson: the coursework import, then ``body``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text("# %%\nimport numpy as np\n\nfrom mttgan_min.coursework import check\n\n# %%\n" + body)
    return path


def grade(capsys, *argv):
    """Run the grade command in-process with --json; (exit status, the JSON document)."""
    code = main(["grade", "--json", *map(str, argv)])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip() else None


def rows(document, exercise=None):
    return [r for r in document["exercises"] if exercise is None or r["exercise"] == exercise]


def solution_lines(folder):
    """Every stripped solution line (with a letter or digit) between the markers of the lessons in ``folder``."""
    found = set()
    for path in sorted(Path(folder).glob("[0-9][0-9]_*.py")):
        inside = False
        for line in path.read_text().splitlines():
            if line.strip() == BEGIN:
                inside = True
            elif line.strip() == END:
                inside = False
            elif inside and any(c.isalnum() for c in line):
                found.add(line.strip())
    return found


def assert_no_solution_line(lessons, released):
    answers = solution_lines(lessons)
    for path in sorted(Path(released).iterdir()):
        if path.suffix == ".py":
            shown = {line.strip() for line in path.read_text().splitlines()}
            assert not shown & answers, f"{path.name} shows solution lines: {sorted(shown & answers)}"
        elif path.suffix == ".ipynb":
            for cell in json.loads(path.read_text())["cells"]:
                source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
                shown = {line.strip() for line in source.splitlines()}
                assert not shown & answers, f"{path.name} shows solution lines: {sorted(shown & answers)}"
    return answers


@pytest.fixture
def lessons(tmp_path):
    """A lessons folder holding the reference fixture, a README and a small image it names."""
    folder = tmp_path / "lessons"
    folder.mkdir()
    shutil.copy(REFERENCE, folder)
    (folder / "README.md").write_text("# Lessons\n\n![a figure](figure.png)\n")
    (folder / "figure.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    (folder / "unused.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    return folder


def released_env():
    env = {k: v for k, v in os.environ.items() if k != "MTTGAN_COURSEWORK_RESULTS"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in [env.get("PYTHONPATH")] if p])
    env["MPLBACKEND"] = "Agg"
    return env


# ---------------------------------------------------------------- release

def test_release_cuts_every_solution_out(lessons, tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["release", str(out), "--lessons", str(lessons)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["03_reference.ipynb", "03_reference.py", "README.md",
                                                     "figure.png"]
    answers = assert_no_solution_line(lessons, out)
    assert len(answers) == 5
    text = (out / "03_reference.py").read_text()
    assert '    raise NotImplementedError("exercise dense_backward: write your solution here")\n' in text
    assert BEGIN not in text and END not in text
    assert '"""dout (N, M), cache (x (N, D), w (D, M)) -> dx (N, D), dw (D, M), db (M,)."""' in text
    notebook = jupytext.read(out / "03_reference.ipynb")
    assert any("exercise dense_backward" in c.source for c in notebook.cells if c.cell_type == "code")

    proc = subprocess.run([sys.executable, str(out / "03_reference.py")], cwd=tmp_path, env=released_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "not done" in proc.stdout and "end of the lesson" in proc.stdout


def test_release_of_the_real_lessons_shows_no_solution(tmp_path, capsys):
    out = tmp_path / "student"
    assert main(["release", str(out)]) == 0
    sources = sorted((REPO / "lessons").glob("[0-9][0-9]_*.py"))
    for source in sources:
        assert (out / source.name).is_file() and (out / source.with_suffix(".ipynb").name).is_file()
        text = source.read_text()
        registered = {e.name for e in exercises().values() if e.lesson == int(source.name[:2])}
        for block in releasing.solutions(text, source.name):
            assert block.name in registered, f"{source.name}: {block.name!r} is not an exercise of its lesson"
    assert (out / "README.md").is_file()
    assert_no_solution_line(REPO / "lessons", out)


@pytest.mark.parametrize("body, fragment", [
    (f"def f(x):\n    {BEGIN}\n    return x\n", "never closed"),
    (f"def f(x):\n    return x\n    {END}\n", "without a"),
    (f"def f(x):\n    {BEGIN}\n    {BEGIN}\n    return x\n    {END}\n    {END}\n", "cannot nest"),
    (f"{BEGIN}\nx = 1\n{END}\n", "outside a function"),
    (f"def f(x):\n    y = x\n{BEGIN}\n    return y\n    {END}\n", "indented like the body of f()"),
    (f"def f(x):\n    {BEGIN}\n    return x +\n    {END}\n", "not valid Python"),
    (f"def f(x):\n    ### BEGIN SOLUTION please\n    return x\n    {END}\n", "line of its own"),
    (f"def f(x):\n    {BEGIN}\n    return x + 41\n    {END}\n\n\nprint(1)\n# return x + 41\n", "also appears"),
    (f"def f(x):\n    {BEGIN}\n    return x + 41\n    {END}\n\n\n# %% [markdown]\n# return x + 41\n", "also appears"),
])
def test_release_refuses_bad_markers(tmp_path, capsys, body, fragment):
    folder = tmp_path / "lessons"
    write_lesson(folder, "03_bad.py", body)
    out = tmp_path / "student"
    assert main(["release", str(out), "--lessons", str(folder)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.startswith("error: ") and "Traceback" not in err
    assert not out.exists(), "a refused release must write nothing"


def test_release_refuses_its_output_inside_the_lessons_and_a_full_folder(lessons, tmp_path, capsys):
    assert main(["release", str(lessons / "student"), "--lessons", str(lessons)]) == 2
    assert "inside the lessons folder" in capsys.readouterr().err
    assert main(["release", str(tmp_path), "--lessons", str(lessons)]) == 2
    assert "holds the lessons folder" in capsys.readouterr().err
    full = tmp_path / "full"
    full.mkdir()
    (full / "keep.txt").write_text("mine")
    assert main(["release", str(full), "--lessons", str(lessons)]) == 2
    assert "--force" in capsys.readouterr().err
    assert main(["release", str(full), "--lessons", str(lessons), "--force"]) == 0
    assert (full / "keep.txt").read_text() == "mine" and (full / "03_reference.py").is_file()


def test_exercise_name_comes_from_the_check_call_or_the_function():
    text = (f"def helper(x):\n    def inner(y):\n        {BEGIN}\n        return y\n        {END}\n    return inner\n\n\n"
            f"def mine(x):\n    \"\"\"doc\"\"\"\n    {BEGIN}\n    return 2 * x\n    {END}\n\n\n"
            f"mine = check('double_it', mine)\n")
    blocks = releasing.solutions(text)
    assert [(b.name, b.indent) for b in blocks] == [("inner", " " * 8), ("double_it", " " * 4)]
    released = releasing.student_version(text)
    assert "        raise NotImplementedError(\"exercise inner: write your solution here\")" in released
    assert "    raise NotImplementedError(\"exercise double_it: write your solution here\")" in released
    compile(released, "released", "exec")


# ---------------------------------------------------------------- grade

def test_grade_reference_passes_and_release_is_not_attempted(lessons, tmp_path, capsys):
    code, doc = grade(capsys, lessons / "03_reference.py")
    assert code == 0 and doc["all_passed"]
    assert [(r["exercise"], r["status"]) for r in rows(doc)] == [("dense_backward", "passed")]

    out = tmp_path / "student"
    assert main(["release", str(out), "--lessons", str(lessons)]) == 0
    capsys.readouterr()
    code, doc = grade(capsys, out / "03_reference.py", out / "03_reference.ipynb")
    assert code == 1 and not doc["all_passed"]
    assert [(r["file"], r["status"]) for r in rows(doc, "dense_backward")] == [
        ("03_reference.py", "not attempted"), ("03_reference.ipynb", "not attempted")]

    assert main(["grade", str(lessons / "03_reference.py"), str(out / "03_reference.py")]) == 1
    table = capsys.readouterr().out
    assert re.search(r"03_reference\.py\s+dense_backward\s+passed", table)
    assert re.search(r"03_reference\.py\s+dense_backward\s+not attempted", table)
    assert "1 of 2 exercises passed; 1 not attempted." in table


# A wrong answer per row: (exercise, source defining `planted`, regex the failure message must match).
# Add rows as exercises are added; the lesson is written with the exercise's own lesson number.
PLANTED = [
    ("dense_backward", """
def planted(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.mean(axis=0)     # db averaged over the batch
""", r"FAIL\s+b\s"),
    ("dense_backward", """
def planted(dout, cache):
    x, w = cache
    return dout @ w.T, dout.T @ x, dout.sum(axis=0)      # dw transposed
""", r"(dw|gradient of w) has shape \(3, 4\), expected \(4, 3\)"),
    ("dense_backward", """
def planted(dout, cache):
    x, w = cache
    return dout @ w.T * 0.5, x.T @ dout, dout.sum(axis=0)  # dx halved
""", r"FAIL\s+x\s.*worst at \(\d+, \d+\)"),
    ("dense_backward", """
def planted(dout, cache):
    x, w = cache
    dx = dout @ w                                          # w not transposed: the shapes do not fit
    return dx, x.T @ dout, dout.sum(axis=0)
""", r"ValueError: matmul.*\n  raised in 03_planted_03\.py, line \d+: dx = dout @ w"),
    ("batchnorm_backward", """
def planted(dout, cache):
    xc, g, istd, _ = cache
    axes = tuple(range(dout.ndim - 1))
    xh = xc * istd
    db, dg = dout.sum(axis=axes), (dout * xh).sum(axis=axes)
    return g * istd * (dout - (db + xh * dg)), dg, db      # the 1/N of the mean terms missing
""", r"FAIL\s+x\s.*worst at \("),
    ("col2im", """
import numpy as np

def planted(col, x_pad_shape, stride):
    N, OH, OW, KH, KW, C = col.shape
    image = np.zeros(x_pad_shape, dtype=col.dtype)
    for i in range(KH):
        for j in range(KW):                                # off by one: each patch one pixel too low
            image[:, i + 1:i + 1 + stride * OH:stride, j:j + stride * OW:stride, :] += col[:, :, :, i, j, :][:, :image.shape[1] - i - 1]
    return image
""", r"col2im.*(not the adjoint|entries wrong|worst at)"),
    ("adam_step", """
import numpy as np

def planted(p, g, m, v, t, lr=1e-5, beta1=0.5, beta2=0.999, eps=1e-7):
    m = beta1 * m + (1 - beta1) * g                        # no bias correction
    v = beta2 * v + (1 - beta2) * g * g
    return p - lr * m / (np.sqrt(v) + eps), m, v
""", r"(worst at|entries wrong)"),
]


def test_planted_wrong_answers_fail_naming_the_wrong_array(tmp_path, capsys):
    folder = tmp_path / "handed_in"
    for i, (name, source, _) in enumerate(PLANTED):
        write_lesson(folder, f"{get(name).lesson:02d}_planted_{i:02d}.py",
                     source + f"\n\nplanted = check({name!r}, planted)\nprint('end of the lesson')\n")
    code, doc = grade(capsys, folder)
    assert code == 1
    for i, (name, _, fragment) in enumerate(PLANTED):
        mine = [r for r in rows(doc, name) if r["file"] == f"{get(name).lesson:02d}_planted_{i:02d}.py"]
        assert len(mine) == 1 and mine[0]["status"] == "failed", mine
        assert re.search(fragment, mine[0]["message"]), f"row {i}: {mine[0]['message']}"
    assert all(run["returncode"] == 0 for run in doc["lessons"]), "a failed check must not stop the lesson"


def test_a_lesson_that_loops_forever_is_stopped(tmp_path, capsys, monkeypatch):
    pid_file = tmp_path / "child.pid"
    monkeypatch.setenv("FIXTURE_PID_FILE", str(pid_file))
    folder = tmp_path / "handed_in"
    folder.mkdir()
    path = folder / "03_loops.py"       # no imports before the loop, so the limit is all loop
    path.write_text((
        "import os, subprocess, sys\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'])\n"
        "open(os.environ['FIXTURE_PID_FILE'], 'w').write(str(child.pid))\n"
        "while True:\n    pass\n"))
    start = time.perf_counter()
    code, doc = grade(capsys, "--timeout", "4", path)
    assert time.perf_counter() - start < 60
    assert code == 1
    [row] = rows(doc, "dense_backward")
    assert row["status"] == "timed out" and "4 s limit" in row["message"]
    pid = int(pid_file.read_text())
    for _ in range(50):      # the lesson's child went with its process group (a zombie counts as gone)
        status = Path(f"/proc/{pid}/status")
        if not status.exists() or "zombie" in status.read_text():
            break
        time.sleep(0.1)
    else:
        pytest.fail("the lesson's child process outlived the time limit")


DENSE = """
def my_dense_backward(dout, cache):
    x, w = cache
    return dout @ w.T, x.T @ dout, dout.sum(axis=0)


my_dense_backward = check("dense_backward", my_dense_backward)
"""


def test_a_lesson_writes_in_its_own_folder_only(tmp_path, capsys, monkeypatch):
    grader = tmp_path / "grader"
    grader.mkdir()
    monkeypatch.chdir(grader)
    folder = tmp_path / "handed_in"
    write_lesson(folder, "03_writes.py", "import pathlib\npathlib.Path('written.txt').write_text('x')\n"
                 "print(sorted(p.name for p in pathlib.Path('.').iterdir()))\n"
                 "assert sorted(p.name for p in pathlib.Path('.').iterdir()) == ['written.txt']\n" + DENSE)
    code, doc = grade(capsys, folder)
    assert [r["status"] for r in rows(doc, "dense_backward")] == ["passed"], doc
    assert code == 0
    assert list(grader.iterdir()) == [] and sorted(p.name for p in folder.iterdir()) == ["03_writes.py"]


def test_a_lesson_that_crashes_before_its_check_is_not_reached(tmp_path, capsys):
    path = write_lesson(tmp_path / "handed_in", "03_crashes.py",
                        "raise RuntimeError('the lesson broke here')\n")
    code, doc = grade(capsys, path)
    assert code == 1
    [row] = rows(doc, "dense_backward")
    assert row["status"] == "not reached"
    assert "RuntimeError: the lesson broke here" in row["message"]


def test_grade_usage_errors(tmp_path, capsys):
    assert main(["grade", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    other = tmp_path / "notes.py"
    other.write_text("print(1)\n")
    assert main(["grade", str(other)]) == 2
    assert "not a lesson" in capsys.readouterr().err
    assert main(["grade", str(tmp_path)]) == 2
    assert "holds no lessons" in capsys.readouterr().err
    with pytest.raises(SystemExit) as stop:
        main(["grade", "--timeout", "0", str(other)])
    assert stop.value.code == 2


def test_help_lists_both_commands(capsys):
    with pytest.raises(SystemExit) as stop:
        main(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    assert "release" in text and "grade" in text


def test_exercise_failed_is_an_assertion():
    assert issubclass(ExerciseFailed, AssertionError)


def test_release_warns_of_an_answer_quoted_in_text(tmp_path, capsys):
    folder = tmp_path / "lessons"
    write_lesson(folder, "03_quoted.py", f"# %% [markdown]\n# The answer is `total = x.sum()`.\n\n# %%\n"
                 f"def f(x):\n    {BEGIN}\n    total = x.sum()\n    return total\n    {END}\n")
    assert main(["release", str(tmp_path / "student"), "--lessons", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "warning: 03_quoted.py, line 8 of the release" in err and "'total = x.sum()'" in err
