"""Coursework: the lessons' exercises, their checks, a student release and a grader.

``check(name, fn)`` is what a lesson calls after each exercise
(``mttgan_min.coursework.exercise``); ``python -m mttgan_min.coursework``
releases student copies of the lessons and grades them.
"""
from mttgan_min.coursework.exercise import (RESULTS_ENV, Exercise, ExerciseFailed, assert_close,
                                            assert_gradients, check, exercises, get, lesson_exercises)

__all__ = ["Exercise", "ExerciseFailed", "RESULTS_ENV", "assert_close", "assert_gradients", "check", "exercises",
           "get", "lesson_exercises"]
