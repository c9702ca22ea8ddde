"""The one base for the project's errors: a one-line message fit for the user, and an exit code.

It lives in the lowest layer so `corpus`, `embeddings` and `bot` can all subclass it; each
subclass keeps its other bases (ValueError, OSError...) so existing `except` clauses still work.
`roundup-bot` catches `RoundupError` once and exits with the error's `exit_code`.
"""
from __future__ import annotations

EXIT_FAILED, EXIT_USAGE = 1, 2


class RoundupError(Exception):
    """Something went wrong that the user can act on. `exit_code`: 2 bad input, 1 anything else."""

    exit_code: int = EXIT_FAILED

    @property
    def message(self) -> str:
        """The user-facing line: the error's text on one line."""
        return " ".join(str(self).split()) or type(self).__name__


class InputError(RoundupError):
    """Bad input from the user (a question, a topic, a period, a file of questions): exit code 2."""

    exit_code = EXIT_USAGE
