"""The ``GITHUB_*`` files: ``GITHUB_ENV``, ``GITHUB_OUTPUT``, ``GITHUB_PATH`` and the job summary.

The summary is kept under GitHub's 1 MiB per step; ``truncate_markdown`` is
the cut that keeps code fences balanced (the sticky comment uses it too).
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache.errors import GitHubError


def _file_from_env(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise GitHubError(f"{variable} is not set; --github only works inside GitHub Actions")
    return Path(value)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def _heredoc_entry(name: str, value: str) -> str:
    # A name is ours, never user data; one with "=", "<<" or a newline would
    # let the value start entries of its own.
    if not _NAME.match(name):
        raise GitHubError(f"{name!r} is not a valid GITHUB_ENV / GITHUB_OUTPUT name")
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    # A random delimiter that the value cannot contain, as GitHub documents
    # for multi-line values (a fixed one would let the value end the block).
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(variable: str, values: Mapping[str, str]) -> None:
    path = _file_from_env(variable)
    text = "".join(_heredoc_entry(k, v) for k, v in values.items())
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise GitHubError(f"cannot append to {variable} ({path}): {exc.strerror}") from None


def append_env(values: Mapping[str, str]) -> None:
    """Export variables to later steps through ``$GITHUB_ENV``."""
    _append("GITHUB_ENV", values)


def append_output(values: Mapping[str, str]) -> None:
    """Set step outputs through ``$GITHUB_OUTPUT``."""
    _append("GITHUB_OUTPUT", values)


def append_path(directory: str) -> None:
    """Prepend a directory to PATH for later steps through ``$GITHUB_PATH``."""
    if "\n" in directory or "\r" in directory:
        # One line is one PATH entry: a newline would add a second folder.
        raise GitHubError(f"{directory!r} holds a line break; GITHUB_PATH takes one folder a line")
    path = _file_from_env("GITHUB_PATH")
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(directory + "\n")
    except OSError as exc:
        raise GitHubError(f"cannot append to GITHUB_PATH ({path}): {exc.strerror}") from None


# --- job summary ---------------------------------------------------------------

# GitHub refuses a step's summary above 1 MiB ("$GITHUB_STEP_SUMMARY upload
# aborted, supports content up to a size of 1024k"), and then shows none of it.
STEP_SUMMARY_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class SummaryResult:
    """What ``append_summary`` wrote: bytes added, and whether the report was cut."""

    path: Path
    written_bytes: int
    truncated: bool


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_summary(markdown: str, room: int) -> tuple[str, bool]:
    """The Markdown to append when ``room`` bytes are left in the step summary.

    Returns ``(text, truncated)``; the text always ends with a newline and
    never measures more than ``room`` UTF-8 bytes.  A cut report ends with a
    note saying so; a cut inside a mermaid block drops the whole block (half a
    diagram does not render), any other open code fence is closed.
    """
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    if _utf8_len(text) <= room:
        return text, False
    note = (
        f"\n> **Note:** pyo3-cache cut this {_utf8_len(text):,}-byte report here: GitHub keeps "
        "at most 1 MiB of job summary per step. `pyo3-cache explain` on the job's cargo log "
        "prints all of it.\n"
    )
    if _utf8_len(note) > room:
        return "", True
    return truncate_markdown(text, room, _utf8_len, note), True


def append_summary(markdown: str, *, path: str | os.PathLike[str] | None = None) -> SummaryResult:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``, keeping the step under 1 MiB.

    What the step already wrote counts: the file's current size is measured
    first, and the report is cut (with a note) to what is left.
    """
    target = Path(path) if path is not None else _file_from_env("GITHUB_STEP_SUMMARY")
    try:
        existing = target.stat().st_size if target.exists() else 0
        needs_break = existing > 0 and not _ends_with_newline(target)
    except OSError as exc:
        raise GitHubError(f"cannot read GITHUB_STEP_SUMMARY ({target}): {exc.strerror}") from None
    prefix = "\n" if needs_break else ""
    text, truncated = fit_summary(markdown, STEP_SUMMARY_LIMIT - existing - len(prefix))
    if not text:
        return SummaryResult(target, 0, truncated)
    try:
        with target.open("a", encoding="utf-8", newline="") as handle:
            handle.write(prefix + text)
    except OSError as exc:
        raise GitHubError(
            f"cannot append to GITHUB_STEP_SUMMARY ({target}): {exc.strerror}"
        ) from None
    return SummaryResult(target, _utf8_len(prefix + text), truncated)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def scan_fences(lines: list[str]) -> list[tuple[str, int, str] | None]:
    """For each prefix of ``lines``: the fence left open after it, or None.

    An open fence is ``(marker, index of its opening line, info string)``.
    """
    states: list[tuple[str, int, str] | None] = [None]
    open_fence: tuple[str, int, str] | None = None
    for index, line in enumerate(lines):
        match = _FENCE.match(line.rstrip("\r\n"))
        if match:
            marker, info = match.group(1), match.group(2).strip()
            if open_fence is None:
                open_fence = (marker, index, info)
            elif marker[0] == open_fence[0][0] and len(marker) >= len(open_fence[0]) and not info:
                open_fence = None
        states.append(open_fence)
    return states


def truncate_markdown(text: str, budget: int, measure: Callable[[str], int], note: str) -> str:
    """Cut Markdown at a line boundary so ``measure(result) <= budget``, ending with ``note``.

    Pure.  Code fences stay balanced: an open fence is closed, except a
    mermaid block, which is dropped whole.  A first line too long to keep is
    cut inside, with an ellipsis.
    """
    if measure(text) <= budget:
        return text
    lines = text.splitlines(keepends=True)
    states = scan_fences(lines)
    room = budget - measure(note)
    # Measures add up over concatenation (bytes, UTF-16 units), so prefix
    # sums keep this linear in the report's size.
    sums = [0]
    for line in lines:
        sums.append(sums[-1] + measure(line))
    best: tuple[int, str] | None = None  # (lines kept, closing fence)
    for count in range(len(lines) + 1):
        if sums[count] > room:
            break
        state = states[count]
        if state is None:
            best = (count, "")
        elif state[2].lower().startswith("mermaid"):
            best = (state[1], "")
        elif sums[count] + measure(state[0] + "\n") <= room:
            best = (count, state[0] + "\n")
    kept = "".join(lines[: best[0]]) + best[1] if best else ""
    if not kept and lines and states[1] is None:
        # One huge first line: keep what fits of it rather than nothing.
        kept = _cut_line(lines[0].rstrip("\r\n"), room, measure)
    return kept + note


def _cut_line(line: str, room: int, measure: Callable[[str], int]) -> str:
    low, high = 0, len(line)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(line[:mid] + "…\n") <= room:
            low = mid
        else:
            high = mid - 1
    return line[:low] + "…\n" if low else ""
