"""The events the cargo log parser yields, and what it saw of each input.

Plain dataclasses with slots (Python >= 3.10), read-only by convention: a
frozen dataclass costs about six times as much to create (object.__setattr__
per field), and a dense log makes one event per line.
"""

from __future__ import annotations

import datetime
import sys
from dataclasses import dataclass, field
from typing import Any, Union

_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclass(**_SLOTS)
class Where:
    """Where a line was: source name, 1-based line number, GitHub timestamp.

    ``stamp`` is the timestamp as written (``2026-11-26T10:00:00.1234567Z``);
    ``time`` turns it into epoch seconds only when asked, since the model
    needs the time of two lines per cargo invocation, not of every line.
    """

    source: str
    line: int
    stamp: str | None = None

    @property
    def time(self) -> float | None:
        return _github_time(self.stamp) if self.stamp is not None else None


@dataclass(**_SLOTS)
class UnitStatus:
    """A human status line: Fresh / Dirty / Compiling / Checking / Documenting / Scraping."""

    word: str
    package: str
    version: str
    source_path: str | None
    reason: str | None
    at: Where


@dataclass(**_SLOTS)
class Finished:
    """``Finished `dev` profile [...] target(s) in 3.37s``: the end of an invocation."""

    profile: str | None
    seconds: float | None
    at: Where


@dataclass(**_SLOTS)
class BuildFailed:
    """``error: could not compile `x```: cargo stops, no ``Finished`` follows."""

    package: str
    at: Where


@dataclass(**_SLOTS)
class CompileError:
    """A JSON ``compiler-message`` at level error: the crate that failed (cargo's
    ``build-finished`` says only that the build did)."""

    package: str
    at: Where


@dataclass(**_SLOTS)
class JsonArtifact:
    """A ``compiler-artifact`` JSON message."""

    package: str
    version: str
    fresh: bool
    target_kind: tuple[str, ...]
    features: tuple[str, ...]
    profile: tuple[tuple[str, str], ...]
    at: Where


@dataclass(**_SLOTS)
class JsonBuildFinished:
    success: bool
    at: Where


@dataclass(**_SLOTS)
class FingerprintLine:
    """One line of ``CARGO_LOG=cargo::core::compiler::fingerprint=info`` output.

    ``message`` is the log message without the span; ``package``/``version``
    come from the span (tracing) or the ``fingerprint dirty for`` line.
    """

    package: str | None
    version: str | None
    source_path: str | None
    target: str | None
    message: str
    at: Where


@dataclass(**_SLOTS)
class Running:
    """``Running `rustc ...``` (verbose output): proves the log is verbose, so a
    ``Compiling`` without ``Dirty`` means a unit with no previous build.

    ``command`` is the line from the backtick on, read only when a new unit
    needs comparing with an earlier build of the same crate (commands.py)."""

    at: Where
    command: bytes = b""


Event = Union[
    CompileError,
    UnitStatus,
    Finished,
    BuildFailed,
    JsonArtifact,
    JsonBuildFinished,
    FingerprintLine,
    Running,
]


@dataclass
class LogStats:
    """What the parser saw in one input, for "this is not a cargo log" reports."""

    source: str
    bytes: int = 0
    lines: int = 0
    cargo_lines: int = 0
    cut_lines: int = 0
    nul_bytes: int = 0
    undecodable_lines: int = 0
    timestamped: bool = False
    ansi: bool = False
    kinds: set[str] = field(default_factory=set)

    @property
    def looks_binary(self) -> bool:
        return self.nul_bytes > 0 and self.cargo_lines == 0


_SECONDS_CACHE: dict[str, float | None] = {}


def _github_time(stamp: str) -> float | None:
    # 2026-11-26T10:00:00.1234567Z: Python < 3.11 fromisoformat wants at most 6
    # digits, and strptime is slow; whole seconds repeat, so cache them.
    head, _, frac = stamp[:-1].partition(".")
    base = _SECONDS_CACHE.get(head, -1.0)
    if base == -1.0:
        try:
            parsed = datetime.datetime.strptime(head, "%Y-%m-%dT%H:%M:%S")
            base = parsed.replace(tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            base = None
        if len(_SECONDS_CACHE) > 4096:
            _SECONDS_CACHE.clear()
        _SECONDS_CACHE[head] = base
    if base is None:
        return None
    if frac.isdigit():
        return base + int(frac) / float(10 ** len(frac))
    return base
