"""Streaming parser for cargo output as people have it in logs.

Three kinds of cargo output are recognised, auto-detected line by line, and
may be mixed in one file:

* human status lines, ``cargo -v`` / ``CARGO_TERM_VERBOSE=true``
  (``Fresh``, ``Dirty <pkg> v<ver> [(<src>)]: <reason>``, ``Compiling``,
  ``Finished``...);
* ``--message-format=json`` lines (``compiler-artifact`` with ``fresh``,
  ``build-finished``);
* ``CARGO_LOG=cargo::core::compiler::fingerprint=info`` lines
  (``fingerprint dirty for ...``, ``dirty: EnvVarChanged { ... }``,
  ``stale: changed ...``).

Logs come with GitHub's timestamp prefix on every line, ANSI colours, CRLF,
``\\r`` progress redraws, and other tools' output in between; all of that is
tolerated.  The parser reads bytes in fixed-size chunks and looks only at
lines holding a cargo keyword, so memory stays flat whatever the log size and
a line is never held beyond ``MAX_LINE_BYTES`` (longer lines are cut).

The parser yields events; it never decides what they mean (diagnostics.py
does) and never renders.
"""

from __future__ import annotations

import datetime
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO, Union

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 256 * 1024
"""Longest line kept; the rest of a longer line is skipped (a JSON compiler
message can be tens of KiB, a status line is short)."""

# A line is looked at only if one of these occurs in it.  One regex search per
# chunk position is far cheaper than a Python-level test per line.
_KEYWORDS = re.compile(
    # No trailing spaces: coloured output puts an escape code after the word.
    rb"Fresh|Dirty|Compiling|Checking|Documenting|Scraping|Finished|"
    rb'"reason":|fingerprint|could not compile|Running `'
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_GITHUB_STAMP = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) ")
_STATUS = re.compile(
    r"^\s*(Fresh|Dirty|Compiling|Checking|Documenting|Scraping)\s+"
    r"([A-Za-z0-9_][A-Za-z0-9_.-]*) v(\d[^\s:]*)(.*)$"
)
_FINISHED = re.compile(r"^\s*Finished\s+(?:`([^`]*)`|(\S+))?.*?\bin\s+(?:(\d+)m\s*)?([\d.]+)s\s*$")
_COULD_NOT_COMPILE = re.compile(r"^\s*error: could not compile `([^`]+)`")
# tracing (cargo >= 1.69):
#   `  0.02s  INFO prepare_target{... package_id=<pkg> target="t"}: cargo::...: msg`
# env_logger (older):      `[2023-01-01T00:00:00Z INFO  cargo::core::compiler::fingerprint] msg`
_TRACING = re.compile(
    r"^\s*(?:[\d.]+s\s+|\S+\s+)?(?:INFO|DEBUG|TRACE|WARN)\s+(?:(\w+)\{(.*?)\}:\s+)?"
    r"(cargo::core::compiler::fingerprint|cargo::compiler::fingerprint)[^:]*:\s?(.*)$"
)
_ENV_LOGGER = re.compile(
    r"^\[[^\]]*\b(?:INFO|DEBUG|TRACE|WARN)\s+(cargo::(?:core::)?compiler::fingerprint)\S*\]\s?(.*)$"
)
_SPAN_PACKAGE = re.compile(r"package_id=(\S+) v(\d[^\s}]*)(?: \(([^)]*)\))?")
_SPAN_TARGET = re.compile(r'target="([^"]*)"')
_FP_UNIT = re.compile(
    r"^fingerprint (dirty|error) for (\S+) v(\d[^\s/]*)(?: \((.*?)\))?/(\w+)/(.*)$"
)


# --- events -------------------------------------------------------------------


@dataclass(frozen=True)
class Where:
    """Where a line was: source name, 1-based line number, GitHub timestamp (epoch s)."""

    source: str
    line: int
    time: float | None = None


@dataclass(frozen=True)
class UnitStatus:
    """A human status line: Fresh / Dirty / Compiling / Checking / Documenting / Scraping."""

    word: str
    package: str
    version: str
    source_path: str | None
    reason: str | None
    at: Where


@dataclass(frozen=True)
class Finished:
    """``Finished `dev` profile [...] target(s) in 3.37s``: the end of an invocation."""

    profile: str | None
    seconds: float | None
    at: Where


@dataclass(frozen=True)
class BuildFailed:
    """``error: could not compile `x```: cargo stops, no ``Finished`` follows."""

    package: str
    at: Where


@dataclass(frozen=True)
class JsonArtifact:
    """A ``compiler-artifact`` JSON message."""

    package: str
    version: str
    fresh: bool
    target_kind: tuple[str, ...]
    features: tuple[str, ...]
    profile: tuple[tuple[str, str], ...]
    at: Where


@dataclass(frozen=True)
class JsonBuildFinished:
    success: bool
    at: Where


@dataclass(frozen=True)
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


@dataclass(frozen=True)
class Running:
    """``Running `rustc ...``` (verbose output): proves the log is verbose, so a
    ``Compiling`` without ``Dirty`` means a unit with no previous build."""

    at: Where


Event = Union[
    UnitStatus, Finished, BuildFailed, JsonArtifact, JsonBuildFinished, FingerprintLine, Running
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


# --- line helpers -------------------------------------------------------------


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


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


def _split_status_rest(rest: str) -> tuple[str | None, str | None]:
    """`` (<path>): reason`` / ``: reason`` / `` (<path>)`` -> (path, reason)."""
    path = None
    if rest.startswith(" ("):
        close = rest.find("): ")
        if close == -1:
            close = len(rest) - 1 if rest.endswith(")") else -1
        if close != -1:
            path = rest[2:close]
            rest = rest[close + 1 :]
    reason = rest[2:].strip() if rest.startswith(": ") else None
    return path, reason or None


def _package_from_id(package_id: str) -> tuple[str, str]:
    """Name and version from any cargo package id spelling.

    cargo >= 1.77: ``registry+https://...#pyo3@0.30.1``, ``path+file:///x/hello-pyo3#0.1.0``
    (name left out when it equals the directory name); older:
    ``pyo3 0.17.3 (registry+https://...)``.
    """
    if "#" in package_id:
        url, _, frag = package_id.rpartition("#")
        if "@" in frag:
            name, _, version = frag.rpartition("@")
            return name, version
        tail = url.rstrip("/").rsplit("/", 1)[-1]
        return tail.split("?", 1)[0], frag
    parts = package_id.split(" ")
    if len(parts) >= 2:
        return parts[0], parts[1]
    return package_id, ""


def _json_event(text: str, at: Where) -> Event | None:
    start = text.find("{")
    if start == -1:
        return None
    body = text[start:]
    if '"compiler-artifact"' in body:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # nesting too deep for json
            return None
        if not isinstance(data, dict) or data.get("reason") != "compiler-artifact":
            return None
        package_id = data.get("package_id")
        if not isinstance(package_id, str):
            return None
        name, version = _package_from_id(package_id)
        target = data.get("target") if isinstance(data.get("target"), dict) else {}
        kinds = target.get("kind") if isinstance(target, dict) else None
        features = data.get("features")
        profile = data.get("profile")
        return JsonArtifact(
            package=name,
            version=version,
            fresh=data.get("fresh") is True,
            target_kind=tuple(str(k) for k in kinds) if isinstance(kinds, list) else (),
            features=tuple(sorted(str(f) for f in features)) if isinstance(features, list) else (),
            profile=tuple(sorted((str(k), str(v)) for k, v in profile.items()))
            if isinstance(profile, dict)
            else (),
            at=at,
        )
    if '"build-finished"' in body:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):  # nesting too deep for json
            return None
        if isinstance(data, dict) and data.get("reason") == "build-finished":
            return JsonBuildFinished(success=data.get("success") is True, at=at)
    return None


def _fingerprint_event(text: str, at: Where, last: list[str | None]) -> Event | None:
    span = None
    match = _ENV_LOGGER.match(text)
    if match:
        message = match.group(2)
    else:
        match = _TRACING.match(text)
        if not match:
            return None
        span, message = match.group(2), match.group(4)
    package = version = source_path = target = None
    if span:
        pkg = _SPAN_PACKAGE.search(span)
        if pkg:
            package, version, source_path = pkg.group(1), pkg.group(2), pkg.group(3)
        tgt = _SPAN_TARGET.search(span)
        target = tgt.group(1) if tgt else None
    unit = _FP_UNIT.match(message.strip())
    if unit:
        package, version, source_path = unit.group(2), unit.group(3), unit.group(4)
        last[:] = [package, version, source_path]
    elif package is None and last[0] is not None:
        # env_logger lines carry no span: they belong to the last unit named.
        package, version, source_path = last
    return FingerprintLine(package, version, source_path, target, message.rstrip(), at)


def parse_line(text: str, at: Where, last_unit: list[str | None] | None = None) -> Event | None:
    """One clean line (no timestamp, no ANSI, no CR) -> an event, or None."""
    stripped = text.lstrip()
    if not stripped:
        return None
    first = stripped[0]
    if first == "{" or '{"reason":' in stripped:
        return _json_event(stripped, at)
    status = _STATUS.match(text)
    if status:
        word, name, version, rest = status.groups()
        path, reason = _split_status_rest(rest)
        if word != "Dirty":
            reason = None
        elif reason is None:
            return None
        return UnitStatus(word, name, version, path, reason, at)
    if stripped.startswith("Finished"):
        fin = _FINISHED.match(text)
        if fin:
            profile = fin.group(1) or fin.group(2)
            seconds = float(fin.group(4)) + 60 * int(fin.group(3) or 0)
            return Finished(profile, seconds, at)
        return None
    if stripped.startswith("Running `"):
        # cargo runs rustc or a build script; other tools (uv) say "Running" too.
        head = stripped[:400]
        if "rustc " in head or "build-script-" in head or "build_script_" in head:
            return Running(at)
        return None
    if "could not compile" in stripped:
        failed = _COULD_NOT_COMPILE.match(text)
        return BuildFailed(failed.group(1), at) if failed else None
    if "fingerprint" in stripped:
        return _fingerprint_event(stripped, at, last_unit if last_unit is not None else [None] * 3)
    return None


# --- the stream ---------------------------------------------------------------


def _decode(raw: bytes, stats: LogStats) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        stats.undecodable_lines += 1
        return raw.decode("utf-8", "replace")


def _line_events(
    raw: bytes, line_no: int, stats: LogStats, last_unit: list[str | None]
) -> Iterator[Event]:
    text = _decode(raw, stats)
    stamp = _GITHUB_STAMP.match(text)
    when: float | None = None
    if stamp:
        stats.timestamped = True
        when = _github_time(stamp.group(1))
        text = text[stamp.end() :]
    if "\x1b" in text:
        stats.ansi = True
        text = strip_ansi(text)
    at = Where(stats.source, line_no, when)
    # `\r` redraws (cargo's progress bar, CRLF): each segment is a line of its own.
    for segment in text.split("\r") if "\r" in text else (text,):
        event = parse_line(segment, at, last_unit)
        if event is not None:
            stats.cargo_lines += 1
            stats.kinds.add(_kind_of(event))
            yield event


def _kind_of(event: Event) -> str:
    if isinstance(event, (JsonArtifact, JsonBuildFinished)):
        return "json"
    if isinstance(event, FingerprintLine):
        return "fingerprint-log"
    return "human"


def iter_events(stream: BinaryIO, stats: LogStats) -> Iterator[Event]:
    """Yield cargo events from a binary stream, reading it in fixed-size chunks.

    ``stats`` is filled in as the stream is read (size, lines, cut lines...).
    """
    carry = b""
    skipping = False  # inside an over-long line: drop bytes up to its newline
    line_no = 0  # lines before the current chunk
    last_unit: list[str | None] = [None, None, None]
    nul_budget = 64 * 1024
    while True:
        chunk = stream.read(CHUNK_BYTES)
        if not chunk:
            break
        stats.bytes += len(chunk)
        if nul_budget > 0:
            stats.nul_bytes += chunk[:nul_budget].count(b"\0")
            nul_budget -= len(chunk)
        if skipping:
            newline = chunk.find(b"\n")
            if newline == -1:
                continue
            chunk = chunk[newline + 1 :]
            line_no += 1
            skipping = False
        data = carry + chunk if carry else chunk
        end = data.rfind(b"\n")
        if end == -1:
            carry = data
            if len(carry) > MAX_LINE_BYTES:
                carry = carry[:MAX_LINE_BYTES]
                skipping = True
                stats.cut_lines += 1
                yield from _scan_block(carry + b"\n", line_no, stats, last_unit)
                carry = b""
            continue
        block, carry = data[: end + 1], data[end + 1 :]
        yield from _scan_block(block, line_no, stats, last_unit)
        line_no += block.count(b"\n")
        if len(carry) > MAX_LINE_BYTES:
            stats.cut_lines += 1
            yield from _scan_block(carry[:MAX_LINE_BYTES] + b"\n", line_no, stats, last_unit)
            carry = b""
            skipping = True
    if carry and not skipping:
        # Truncated mid-line: parse what is there.
        yield from _scan_block(carry + b"\n", line_no, stats, last_unit)
        line_no += 1
    stats.lines = line_no + (1 if skipping else 0)


def _scan_block(
    block: bytes, first_line: int, stats: LogStats, last_unit: list[str | None]
) -> Iterator[Event]:
    """Events from a block of whole lines (ending in a newline)."""
    pos = 0
    counted_to = 0
    line_no = first_line
    search = _KEYWORDS.search
    size = len(block)
    while pos < size:
        match = search(block, pos)
        if match is None:
            break
        start = block.rfind(b"\n", 0, match.start()) + 1
        stop = block.find(b"\n", match.end())
        if stop == -1:
            stop = size
        line_no += block.count(b"\n", counted_to, start)
        counted_to = start
        raw = block[start:stop]
        if len(raw) > MAX_LINE_BYTES:
            stats.cut_lines += 1
            raw = raw[:MAX_LINE_BYTES]
        yield from _line_events(raw, line_no + 1, stats, last_unit)
        pos = stop + 1
