"""The helper of the planted-bug tests (tests/test_coursework_lessons*.py): a wrong answer must fail."""
import pytest

from mttgan_min.coursework import ExerciseFailed, get


def fails(name, fn, *fragments, hidden=False):
    """Run exercise ``name``'s visible cases on ``fn`` (then its hidden ones, with ``hidden``); they must
    raise ExerciseFailed whose message holds every fragment. Returns the message."""
    exercise = get(name)
    with pytest.raises(ExerciseFailed) as err:
        exercise.cases(fn)
        if hidden:
            exercise.hidden(fn)
    message = str(err.value)
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in: {message}"
    return message
