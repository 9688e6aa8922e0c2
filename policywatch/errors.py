"""Exceptions shared by every stage; each carries a one-line message meant for the user."""

from __future__ import annotations

import sys


class PolicywatchError(Exception):
    """Base class: anything policywatch reports to a user as a one-line error."""

    exit_code = 3


class ConfigError(PolicywatchError):
    """The watchlist (or another configuration file) is invalid.

    ``problems`` holds one ``file:line: message`` string per problem so that
    ``policywatch validate`` can show them all at once.
    """

    exit_code = 2

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__(self.problems[0] if len(self.problems) == 1 else "\n".join(self.problems))


class UsageError(PolicywatchError):
    """A command was given arguments that cannot work (unknown policy id, bad date…)."""

    exit_code = 2


class LockedError(PolicywatchError):
    """Another policywatch process holds the database's write lock."""

    exit_code = 3


def exit_code_of_interruption(default: int) -> int:
    """The exit code a run records when an exception is on its way out: 130 for Ctrl-C, the code of
    a SystemExit (143 for SIGTERM, see cli.main), else ``default``."""
    exc = sys.exc_info()[1]
    if isinstance(exc, KeyboardInterrupt):
        return 130
    if isinstance(exc, SystemExit) and isinstance(exc.code, int):
        return exc.code
    return default if exc is None else max(default, 3)
