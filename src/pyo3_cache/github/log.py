"""CI-aware messages to the user: plain lines locally, workflow commands on GitHub.

Everything pyo3-cache says on stderr goes through here, so the format is one
decision: ``pyo3-cache: warning: ...`` in a terminal, ``::warning::...`` in
GitHub Actions (escaped, so log content cannot forge a command).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

from pyo3_cache.github.commands import add_mask, escape_data, in_github_actions

__all__ = ["PROG", "error", "group", "in_github_actions", "info", "mask", "notice", "warn"]

PROG = "pyo3-cache"


def _one_line(message: str) -> str:
    return " ".join(message.split())


def _annotate(command: str, local_prefix: str, message: str) -> None:
    """``::command title=pyo3-cache::...`` on GitHub; ``pyo3-cache: <prefix>...`` elsewhere."""
    text = _one_line(message)
    if in_github_actions():
        print(f"::{command} title={PROG}::{escape_data(text)}", file=sys.stderr, flush=True)
    else:
        print(f"{PROG}: {local_prefix}{text}", file=sys.stderr, flush=True)


def warn(message: str) -> None:
    _annotate("warning", "warning: ", message)


def notice(message: str) -> None:
    _annotate("notice", "", message)


def error(message: str) -> None:
    # The plain line is printed on GitHub too: it is the one line a user's
    # script (or a test) reads on stderr, next to the annotation.
    text = _one_line(message)
    if in_github_actions():
        print(f"::error title={PROG}::{escape_data(text)}", file=sys.stderr, flush=True)
    print(f"{PROG}: error: {text}", file=sys.stderr, flush=True)


def mask(value: str) -> None:
    """Ask the runner to hide ``value`` in the rest of the job's log (nothing elsewhere)."""
    if in_github_actions() and value.strip():
        print(add_mask(value), file=sys.stdout, flush=True)


def info(message: str) -> None:
    print(f"{PROG}: {_one_line(message)}", file=sys.stderr, flush=True)


@contextlib.contextmanager
def group(title: str) -> Iterator[None]:
    """A foldable log group on GitHub; a plain heading elsewhere."""
    if in_github_actions():
        print(f"::group::{escape_data(_one_line(title))}", file=sys.stderr, flush=True)
        try:
            yield
        finally:
            print("::endgroup::", file=sys.stderr, flush=True)
    else:
        print(f"{PROG}: {_one_line(title)}", file=sys.stderr, flush=True)
        yield
