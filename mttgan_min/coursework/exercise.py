"""Exercises: what a lesson asks a student to write, and how it is checked.

Every exercise of a lesson is one function the student writes between the
markers ``### BEGIN SOLUTION`` and ``### END SOLUTION`` (nbgrader's), followed
by one call in the next cell::

    my_dense_backward = check("dense_backward", my_dense_backward)

``check`` looks the exercise up by name in the registry (one module per
lesson under ``mttgan_min/coursework/checks/``), runs its *visible* cases
(the ones the lesson's text describes) and then:

- passed: prints one line and returns the student's function;
- not attempted (the function raises ``NotImplementedError``, as a released
  lesson's stub does): prints that it is not done and returns the package's
  own function (``Exercise.fallback``), so the rest of the lesson still runs;
- failed: raises ``ExerciseFailed`` with a report that points at the wrong
  entries (analytic against numeric, or the student's value against the
  expected one).

When the grader runs a lesson (``python -m mttgan_min.coursework grade``) it
sets ``MTTGAN_COURSEWORK_RESULTS`` to a file; ``check`` then also runs the
exercise's *hidden* cases (other shapes, seeds, strides, padding), appends
one JSON line per exercise to that file and returns the fallback on failure,
so that one wrong answer does not stop the lesson's later exercises.
"""
import importlib
import json
import os
import pkgutil
import sysconfig
import traceback
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from mttgan_min.gradcheck import report

RESULTS_ENV = "MTTGAN_COURSEWORK_RESULTS"


class ExerciseFailed(AssertionError):
    """A student's function gave a wrong answer; the message says where."""


def _no_cases(fn):
    return None


@dataclass
class Exercise:
    """One exercise: its name, lesson, the package's own version and its two sets of cases.

    ``cases(fn)`` and ``hidden(fn)`` call the student's ``fn`` and raise
    ``ExerciseFailed`` (use ``assert_close``, ``assert_gradients``) when it is
    wrong. ``fallback`` is what the rest of a lesson uses while the exercise
    is not done.
    """
    name: str
    lesson: int
    title: str
    fallback: Callable
    cases: Callable
    hidden: Callable = field(default=_no_cases)


def assert_close(what, mine, expected, rtol=1e-10, atol=1e-12):
    """Raise ExerciseFailed unless ``mine`` equals ``expected`` in shape and values, naming the worst entry."""
    expected = np.asarray(expected)
    try:
        mine = np.asarray(mine, dtype=expected.dtype if expected.dtype.kind == "f" else None)
    except (TypeError, ValueError) as err:
        raise ExerciseFailed(f"{what}: could not read your result as an array ({err})") from None
    if mine.shape != expected.shape:
        raise ExerciseFailed(f"{what}: shape {mine.shape}, expected {expected.shape}")
    if expected.dtype.kind not in "fc":
        wrong = np.argwhere(mine != expected)
        if len(wrong):
            idx = tuple(int(v) for v in wrong[0])
            raise ExerciseFailed(f"{what}: {len(wrong)} of {expected.size} entries differ; first at "
                                 f"{idx}: yours {mine[idx]!r}, expected {expected[idx]!r}")
        return
    bad = ~np.isclose(mine, expected, rtol=rtol, atol=atol)
    if bad.any():
        err = np.abs(mine - expected) / np.maximum(np.abs(expected), atol / max(rtol, 1e-300))
        err = np.where(bad, np.nan_to_num(err, nan=np.inf), -1)
        idx = np.unravel_index(int(np.argmax(err)), expected.shape)
        idx = tuple(int(v) for v in idx)
        raise ExerciseFailed(f"{what}: {int(bad.sum())} of {expected.size} entries wrong; worst at "
                             f"{idx}: yours {float(mine[idx]):+.8e}, expected {float(expected[idx]):+.8e}")


def assert_gradients(results, what):
    """Raise ExerciseFailed with the gradient-check report unless every ``GradCheckResult`` passed."""
    if not results:
        raise ExerciseFailed(f"{what}: no gradient was returned to check")
    if not all(r.passed for r in results):
        raise ExerciseFailed(report(results, what))


def _load_registry():
    from mttgan_min.coursework import checks
    found = {}
    for info in sorted(pkgutil.iter_modules(checks.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{checks.__name__}.{info.name}")
        for exercise in getattr(module, "EXERCISES", []):
            if exercise.name in found:
                raise ValueError(f"two exercises are called {exercise.name!r}")
            found[exercise.name] = exercise
    return found


_REGISTRY = None


def exercises():
    """Every registered exercise, by name (a dict, in lesson order)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = _load_registry()
    return dict(_REGISTRY)


def lesson_exercises(lesson):
    """The exercises of lesson number ``lesson`` (a list, in the order they were registered)."""
    return [e for e in exercises().values() if e.lesson == lesson]


def get(name):
    """The exercise called ``name``; a KeyError that lists the known names otherwise."""
    known = exercises()
    if name not in known:
        raise KeyError(f"no exercise called {name!r}; known: {', '.join(known)}")
    return known[name]


def _record(exercise, status, message=""):
    path = os.environ.get(RESULTS_ENV)
    if not path:
        return
    row = {"exercise": exercise.name, "lesson": exercise.lesson, "title": exercise.title,
           "status": status, "message": message}
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")


_NOT_STUDENT_CODE = tuple(os.path.abspath(p) + os.sep for p in
                          {os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                           *(sysconfig.get_paths()[k] for k in ("stdlib", "platstdlib", "purelib", "platlib"))})


def _is_student_code(filename):
    path = os.path.abspath(filename)
    parts = path.split(os.sep)
    return not path.startswith(_NOT_STUDENT_CODE) and "site-packages" not in parts and "dist-packages" not in parts


def _failure_message(err):
    """An assert's message as it is; any other error as its one line and the student's line that raised it."""
    if isinstance(err, AssertionError) and str(err):
        return str(err)
    message = "".join(traceback.format_exception_only(type(err), err)).strip()
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if _is_student_code(f.filename)]
    if frames:
        frame = frames[-1]
        message += f"\n  raised in {os.path.basename(frame.filename)}, line {frame.lineno}: {frame.line}"
    return message


def check(name, fn):
    """Check the student's ``fn`` for exercise ``name``; return the function the lesson goes on with."""
    exercise = get(name)
    grading = bool(os.environ.get(RESULTS_ENV))
    label = f"Exercise {exercise.name} (lesson {exercise.lesson:02d}, {exercise.title})"
    try:
        exercise.cases(fn)
        if grading:
            exercise.hidden(fn)
    except NotImplementedError:
        print(f"[ ] {label}: not done yet; the rest of the lesson uses the package's own version.")
        _record(exercise, "not attempted")
        return exercise.fallback
    except Exception as err:  # the student's code may raise anything; report it, never hide it
        message = _failure_message(err)
        _record(exercise, "failed", message)
        if grading:
            print(f"[!] {label}: failed\n{message}")
            return exercise.fallback
        if isinstance(err, AssertionError):
            raise ExerciseFailed(f"{label}: failed\n{message}") from None
        raise
    print(f"[x] {label}: passed")
    _record(exercise, "passed")
    return fn
