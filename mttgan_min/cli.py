"""What every command line of the package shares: the usage-error type, argument checks, and the
mapping of a command's failures to exit codes and one-sentence messages.

A ``UsageError`` is a user's mistake (a bad option, a missing folder); each command catches it,
prints its one sentence to stderr and exits with status 2, never with a traceback. Exit codes:
0 done, 1 failed (non-finite loss, disk error), 2 usage error, 128 + N stopped by signal N
(130 Ctrl-C, 143 SIGTERM).
"""
import argparse
import math
import signal
import sys
from contextlib import contextmanager


class UsageError(Exception):
    """A user's mistake on the command line, reported as one sentence and exit status 2."""


class Interrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM before a command's main loop; ``code`` is 128 + the signal number."""

    def __init__(self, code=130):
        super().__init__(code)
        self.code = code


def raise_interrupt(signum, frame):
    """Signal handler: SIGTERM acts like Ctrl-C (Interrupted), with its own exit code 128 + signum."""
    raise Interrupted(128 + signum)


@contextmanager
def sigterm_as_interrupt():
    """Until the command's loop installs its own handler (StopFlag), SIGTERM raises Interrupted(143)."""
    old = signal.signal(signal.SIGTERM, raise_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def exit_code(err, failures):
    """Print the message of the first entry of ``failures`` that ``err`` is an instance of, return its code.

    failures: ((exception types, code, message), ...); code is an int or a function err -> int, message
    a function err -> the one sentence printed to stderr. An ``err`` of no listed type is raised again.
    """
    for types, code, message in failures:
        if isinstance(err, types):
            print(message(err), file=sys.stderr)
            return code(err) if callable(code) else code
    raise err


def non_negative_int(text):
    """argparse type: an integer >= 0 (seeds, counts that may be zero)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def positive_int(text):
    """argparse type: an integer >= 1 (sizes, batch sizes, numbers of images)."""
    value = non_negative_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_seconds(text):
    """argparse type: a finite number of seconds > 0 (time limits, measured durations)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return value


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """One help style for every command: the description as written, each default as '(default: X)'.

    An option without a default (None, or an empty list) prints none: its help says what happens
    when it is not given, or gives per-preset defaults through ``per_preset``.
    """

    def _get_help_string(self, action):
        if action.default is None or action.default == []:
            return action.help
        return super()._get_help_string(action)


def per_preset(table, key):
    """'(default: 100 for paper, 10 for small, 6 for tiny)' for ``table`` {preset: {key: value}}."""
    def text(value):
        return value if isinstance(value, str) else f"{value:g}"
    return "(default: " + ", ".join(f"{text(v[key])} for {k}" for k, v in table.items()) + ")"
