"""What every command line of the package shares: the usage-error type and argument checks.

A ``UsageError`` is a user's mistake (a bad option, a missing folder); each command catches it,
prints its one sentence to stderr and exits with status 2, never with a traceback.
"""
import argparse


class UsageError(Exception):
    """A user's mistake on the command line, reported as one sentence and exit status 2."""


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
    return "(default: " + ", ".join(f"{v[key]:g} for {k}" for k, v in table.items()) + ")"
