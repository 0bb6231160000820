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
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Union

CHUNK_BYTES = 1 << 20
MAX_LINE_BYTES = 256 * 1024
"""Longest line kept; the rest of a longer line is skipped (a JSON compiler
message can be tens of KiB, a status line is short)."""

# A line is looked at only if one of these occurs in it.  One regex search per
# chunk position is far cheaper than a Python-level test per line.
_KEYWORDS = re.compile(
    # No trailing spaces: coloured output puts an escape code after the word.
    rb"Fresh|Dirty|Compiling|Checking|Documenting|Scraping|Finished|"
    # JSON messages other than these two (build-script-executed, compiler-message)
    # say nothing we use.
    # Any JSON spacing: a message re-written by another tool has `"reason": "..."`.
    rb'"reason":\s*"compiler-artifact"|"reason":\s*"build-finished"|'
    # `Running` alone: cargo colours the word, `Running\x1b[0m `rustc ...`.
    rb"fingerprint|could not compile|Running"
)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
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
    # The span runs to the first `}:` + blank (written out as a loop: twice as
    # fast as a lazy `.*?` on a 300-byte line).
    r"^\s*(?:[\d.]+s\s+|\S+\s+)?(?:INFO|DEBUG|TRACE|WARN)\s+"
    r"(?:(\w+)\{([^}]*(?:\}(?!:\s)[^}]*)*)\}:\s+)?"
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
#
# Plain dataclasses with slots (Python >= 3.10), read-only by convention: a
# frozen dataclass costs about six times as much to create (object.__setattr__
# per field), and a dense log makes one event per line.
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


_PACKAGE_IDS: dict[str, tuple[str, str]] = {}


def _package_from_id(package_id: str) -> tuple[str, str]:
    """Name and version from any cargo package id spelling.

    cargo >= 1.77: ``registry+https://...#pyo3@0.30.1``, ``path+file:///x/hello-pyo3#0.1.0``
    (name left out when it equals the directory name); older:
    ``pyo3 0.17.3 (registry+https://...)``.  Each package comes back once per
    cargo invocation, so the answers are cached.
    """
    known = _PACKAGE_IDS.get(package_id)
    if known is not None:
        return known
    if "#" in package_id:
        url, _, frag = package_id.rpartition("#")
        if "@" in frag:
            name, _, version = frag.rpartition("@")
        else:
            name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
            version = frag
    else:
        parts = package_id.split(" ")
        name, version = (parts[0], parts[1]) if len(parts) >= 2 else (package_id, "")
    if len(_PACKAGE_IDS) > 4096:
        _PACKAGE_IDS.clear()
    _PACKAGE_IDS[package_id] = (name, version)
    return name, version


def _json_value(value: object) -> str:
    """A profile value as JSON spells it (``true``, ``0``, ``"3"``), whichever way it was read."""
    return json.dumps(value, separators=(",", ":"))


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
            profile=tuple(sorted((str(k), _json_value(v)) for k, v in profile.items()))
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


# cargo's compiler-artifact message, in the order cargo 1.x serializes it:
# {"reason":"compiler-artifact","package_id":"..","manifest_path":"..",
#  "target":{"kind":[..],..},"profile":{..},"features":[..],"filenames":[..],
#  "executable":..,"fresh":true}
# A quote inside a JSON string is always escaped, so `,"target":{"kind":[` and
# the like can only be the real keys.  Anything else (another order, escapes in
# the parts we read) goes through json.loads.
_ARTIFACT_HEAD = b'{"reason":"compiler-artifact","package_id":"'
_ARTIFACT_MANIFEST = b'","manifest_path":"'
_ARTIFACT_KIND = b'","target":{"kind":['
_ARTIFACT_PROFILE = b'},"profile":{'
_ARTIFACT_FEATURES = b'},"features":['
_PROFILE_ITEM = re.compile(rb'"(\w+)":("[\w.+-]*"|true|false|null|-?\d+)(?:,|$)')
# A log has a handful of distinct kind lists, feature lists and profiles.
_KINDS: dict[bytes, tuple[str, ...]] = {}
_FEATURES: dict[bytes, tuple[str, ...]] = {}
_PROFILES: dict[bytes, tuple[tuple[str, str], ...] | None] = {}
_PACKAGE_ID_BYTES: dict[bytes, tuple[str, str]] = {}


def _string_list(raw: bytes, cache: dict[bytes, tuple[str, ...]], sort: bool) -> tuple[str, ...]:
    """``"a","b"`` (a JSON string list's inside, no escapes) -> ("a", "b"), cached."""
    known = cache.get(raw)
    if known is None:
        if len(cache) > 4096:
            cache.clear()
        items = raw.decode("utf-8", "replace")[1:-1].split('","') if raw else []
        known = cache[raw] = tuple(sorted(items) if sort else items)
    return known


def _profile_items(raw: bytes) -> tuple[tuple[str, str], ...] | None:
    """The inside of cargo's profile object -> sorted (key, JSON value) pairs,
    or None when it holds anything but flat keys and simple values."""
    if raw in _PROFILES:
        return _PROFILES[raw]
    items = _PROFILE_ITEM.findall(raw)
    # Every byte must belong to an item, or json.loads should read it.
    if sum(len(k) + len(v) + 4 for k, v in items) != len(raw) + (1 if items else 0):
        parsed = None
    else:
        parsed = tuple(sorted((k.decode(), v.decode()) for k, v in items))
    if len(_PROFILES) > 4096:
        _PROFILES.clear()
    _PROFILES[raw] = parsed
    return parsed


def _artifact_event(line: bytes, start: int, at: Where) -> Event | None:
    """A compiler-artifact message starting at ``line[start]`` -> a ``JsonArtifact``.

    json.loads costs ~8 us on a typical 800-byte artifact message and a dense
    log has one every third line; finding the five fields we use with
    ``bytes.find`` costs a fraction of that.
    """
    event = _artifact_fast(line, start, at)
    if event is not None:
        return event
    return _json_event(line[start:].decode("utf-8", "replace"), at)


def _artifact_fast(line: bytes, start: int, at: Where) -> JsonArtifact | None:
    # Walk the message in cargo's field order with one-byte finds (memchr) and
    # fixed-position checks; any surprise returns None and json.loads decides.
    find = line.find
    id_at = start + len(_ARTIFACT_HEAD)
    id_end = find(b'"', id_at)
    if id_end == -1 or not line.startswith(_ARTIFACT_MANIFEST, id_end):
        return None
    manifest_end = find(b'"', id_end + len(_ARTIFACT_MANIFEST))
    if manifest_end == -1 or not line.startswith(_ARTIFACT_KIND, manifest_end):
        return None
    kind_at = manifest_end + len(_ARTIFACT_KIND)
    kind_end = find(b"]", kind_at)
    target_end = find(b"}", kind_end)
    if kind_end == -1 or target_end == -1 or not line.startswith(_ARTIFACT_PROFILE, target_end):
        return None
    profile_at = target_end + len(_ARTIFACT_PROFILE)
    profile_end = find(b"}", profile_at)
    if profile_end == -1 or not line.startswith(_ARTIFACT_FEATURES, profile_end):
        return None
    features_at = profile_end + len(_ARTIFACT_FEATURES)
    features_end = find(b"]", features_at)
    if line.endswith(b',"fresh":true}'):
        fresh = True
    elif line.endswith(b',"fresh":false}'):
        fresh = False
    else:
        tail = line.rstrip()
        if tail.endswith(b',"fresh":true}'):
            fresh = True
        elif tail.endswith(b',"fresh":false}'):
            fresh = False
        else:
            return None
    package_id = line[id_at:id_end]
    kinds = line[kind_at:kind_end]
    features = line[features_at:features_end]
    if (
        features_end == -1
        or line[manifest_end - 1] == 0x5C  # an escaped quote: not the path's end
        or _BACKSLASH in package_id
        or _BACKSLASH in kinds
        or _BACKSLASH in features
    ):
        return None
    profile = _profile_items(line[profile_at:profile_end])
    if profile is None:
        return None
    ids = _PACKAGE_ID_BYTES.get(package_id)
    if ids is None:
        if len(_PACKAGE_ID_BYTES) > 4096:
            _PACKAGE_ID_BYTES.clear()
        ids = _PACKAGE_ID_BYTES[package_id] = _package_from_id(
            package_id.decode("utf-8", "replace")
        )
    return JsonArtifact(
        ids[0],
        ids[1],
        fresh,
        _string_list(kinds, _KINDS, False),
        _string_list(features, _FEATURES, True),
        profile,
        at,
    )


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

_STAMP_BYTES = rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) "
_GITHUB_STAMP_BYTES = re.compile(_STAMP_BYTES)
_ANSI_BYTES = re.compile(
    rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
)
_ESC, _CR, _BACKSLASH = 0x1B, 0x0D, 0x5C
_JSON_REASON = b'{"reason":"'
_ARTIFACT_REASON = b'compiler-artifact"'
_BUILD_FINISHED_REASON = b'build-finished"'
# The lines a dense log is made of, recognised in one match on the raw bytes
# of a line without ANSI codes or `\r`: an optional GitHub timestamp, blanks,
# then a status line (_STATUS on bytes: names and versions are ASCII, a
# version ends where _STATUS's would), a compiler-artifact message or a
# `Running` line.  Everything else takes the general path.
_COMMON_KINDS = (
    rb"(Fresh|Dirty|Compiling|Checking|Documenting|Scraping)[ \t]+"
    rb"([A-Za-z0-9_][A-Za-z0-9_.-]*) v(\d[^\s:\x80-\xff]*)(.*)"
    rb'|(\{"reason":"compiler-artifact",)'
    rb"|(Running `)"
)
_COMMON_LINE = re.compile(
    rb"(?:" + _STAMP_BYTES + rb")?[ \t\x0b\x0c]*(?:" + _COMMON_KINDS + rb")", re.DOTALL
)
# The same after the timestamp and colours are taken off (group numbers one less).
_COMMON_BODY = re.compile(rb"[ \t\x0b\x0c]*(?:" + _COMMON_KINDS + rb")", re.DOTALL)
_STATUS_WORDS = {
    w.encode(): w for w in ("Fresh", "Dirty", "Compiling", "Checking", "Documenting", "Scraping")
}
_ARTIFACT_KEYWORD = b'"reason":"compiler-artifact"'


def _line_events(
    raw: bytes,
    line_no: int,
    stats: LogStats,
    last_unit: list[str | None],
    out: list[Event],
    unchecked: bool = False,
) -> None:
    """Append the events of one raw line (no newline) to ``out``.

    Bytes are looked at before anything is decoded: the most common line kinds
    of a dense log (status lines, JSON messages, ``Running `rustc ...```) are
    recognised by one match on the raw line (after CRLF's `\r` and colours are
    taken off); everything else is decoded and given to ``parse_line``.
    ``unchecked``: the line was not searched for a keyword yet; the recognised
    kinds hold one, the others are searched here, so a line gives the same
    events either way.
    """
    # `int in bytes` is a memchr; `bytes in bytes` first tries to read its
    # operand as an int and pays for the TypeError (CPython 3.11), so bytes
    # are searched with find() in this module.
    clean = raw[:-1] if raw.endswith(b"\r") else raw  # CRLF: an empty last segment
    if _CR not in clean:
        if _ESC not in clean:
            common = _COMMON_LINE.match(clean)
            if common is None:
                event = None
            else:
                stamp = common.group(1)
                at = Where(stats.source, line_no, stamp.decode("ascii") if stamp else None)
                event, kind = _common_event(common, 2, clean, at, stats)
        else:
            # As the general path: the timestamp first, then the colours.
            found = _GITHUB_STAMP_BYTES.match(clean) if clean[:1].isdigit() else None
            stamp = found.group(1) if found is not None else None
            body = _ANSI_BYTES.sub(b"", clean[found.end() :] if found is not None else clean)
            common = _COMMON_BODY.match(body)
            if common is None:
                event = None
            else:
                at = Where(stats.source, line_no, stamp.decode("ascii") if stamp else None)
                event, kind = _common_event(common, 1, body, at, stats)
                if event is not None and unchecked:
                    # Colours may split a keyword: check the line as it was.
                    which = common.lastindex
                    keyword = (
                        common.group(1)
                        if which == 4
                        else _ARTIFACT_KEYWORD
                        if which == 5
                        else b"Running"
                    )
                    if raw.find(keyword) == -1 and _KEYWORDS.search(raw) is None:
                        return
                stats.ansi = stats.ansi or event is not None
        if common is not None:
            if event is not None:
                if stamp is not None:
                    stats.timestamped = True
                stats.cargo_lines += 1
                stats.kinds.add(kind)
                out.append(event)
            return
    original = raw
    stamp_text = None
    if raw[:1].isdigit():
        found = _GITHUB_STAMP_BYTES.match(raw)
        if found is not None:
            stamp_text = found.group(1).decode("ascii")
            raw = raw[found.end() :]
    ansi = _ESC in raw
    if ansi:
        raw = _ANSI_BYTES.sub(b"", raw)
    at = Where(stats.source, line_no, stamp_text)
    undecodable = False
    events: list[Event] = []
    kinds: list[str] = []
    # `\r` redraws (cargo's progress bar, CRLF): each segment is a line of its own.
    for segment in raw.split(b"\r") if _CR in raw else (raw,):
        body = segment.lstrip()
        if not body:
            continue
        if body.startswith(_JSON_REASON):
            if body.startswith(_ARTIFACT_REASON, 11):
                event = _artifact_event(body, 0, at)
            elif body.startswith(_BUILD_FINISHED_REASON, 11):
                event = _json_event(body.decode("utf-8", "replace"), at)
            else:
                continue  # build-script-executed, compiler-message...: nothing we use
            if event is None:
                continue
            kind = "json"
        else:
            try:
                text = segment.decode("utf-8")
            except UnicodeDecodeError:
                undecodable = True
                text = segment.decode("utf-8", "replace")
            event = parse_line(text, at, last_unit)
            if event is None:
                continue
            kind = _kind_of(event)
        events.append(event)
        kinds.append(kind)
    # A line the keyword search would have skipped gives nothing, as in a
    # checked scan.  An event names its keyword: test that one first.
    if unchecked and (events or undecodable) and not _has_keyword(original, events):
        return
    if undecodable:
        stats.undecodable_lines += 1
    if events:
        if stamp_text is not None:
            stats.timestamped = True
        if ansi:
            stats.ansi = True
        stats.cargo_lines += len(events)
        stats.kinds.update(kinds)
        out.extend(events)


def _common_event(
    common: re.Match[bytes], first: int, line: bytes, at: Where, stats: LogStats
) -> tuple[Event | None, str]:
    """The event of a line ``_COMMON_LINE`` or ``_COMMON_BODY`` matched, whose
    status-word group is number ``first``."""
    which = common.lastindex or 0
    if which == first + 3:  # a status line
        word_raw, name, version, rest_raw = common.group(first, first + 1, first + 2, first + 3)
        word = _STATUS_WORDS[word_raw]
        if rest_raw:
            try:
                rest = rest_raw.decode("utf-8")
            except UnicodeDecodeError:
                stats.undecodable_lines += 1
                rest = rest_raw.decode("utf-8", "replace")
            path, reason = _split_status_rest(rest)
        else:
            path = reason = None
        if word != "Dirty":
            reason = None
        elif reason is None:
            return None, "human"
        return UnitStatus(word, name.decode(), version.decode(), path, reason, at), "human"
    if which == first + 4:
        return _artifact_event(line, common.start(which), at), "json"
    # cargo runs rustc or a build script; other tools (uv) say "Running" too.
    start = common.start(which)
    head = line[start : start + 400]
    if (
        head.find(b"rustc ") == -1
        and head.find(b"build-script-") == -1
        and head.find(b"build_script_") == -1
    ):
        return None, "human"
    return Running(at), "human"


_KEYWORD_OF: dict[type, bytes] = {
    Finished: b"Finished",
    FingerprintLine: b"fingerprint",
    BuildFailed: b"could not compile",
    JsonArtifact: b'"reason":',
    JsonBuildFinished: b'"reason":',
}


def _has_keyword(raw: bytes, events: list[Event]) -> bool:
    """Whether ``_KEYWORDS`` finds something in ``raw``; quick when an event's
    own keyword is there (the full search tries every keyword at every byte)."""
    for event in events:
        keyword = _KEYWORD_OF.get(type(event))
        if keyword is not None and raw.find(keyword) != -1:
            return True
    return _KEYWORDS.search(raw) is not None


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
    for batch in iter_event_batches(stream, stats):
        yield from batch


def iter_event_batches(stream: BinaryIO, stats: LogStats) -> Iterator[list[Event]]:
    """``iter_events`` a block at a time: one list of events per chunk read, so
    a consumer pays for one loop step per event rather than a generator step."""
    carry = b""
    skipping = False  # inside an over-long line: drop bytes up to its newline
    line_no = 0  # lines before the current chunk
    last_unit: list[str | None] = [None, None, None]
    nul_budget = 64 * 1024
    scanner = _BlockScanner(stats, last_unit)
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
                yield scanner.scan(carry + b"\n", line_no)
                carry = b""
            continue
        block, carry = data[: end + 1], data[end + 1 :]
        yield scanner.scan(block, line_no)
        line_no += scanner.block_lines
        if len(carry) > MAX_LINE_BYTES:
            stats.cut_lines += 1
            yield scanner.scan(carry[:MAX_LINE_BYTES] + b"\n", line_no)
            carry = b""
            skipping = True
    if carry and not skipping:
        # Truncated mid-line: parse what is there.
        yield scanner.scan(carry + b"\n", line_no)
        line_no += 1
    stats.lines = line_no + (1 if skipping else 0)


class _BlockScanner:
    """Finds the lines worth parsing in a block of whole lines.

    Two ways, chosen from the previous block: where cargo lines are sparse (a
    CI log with test output, warnings, pip...), one regex search jumps from
    keyword to keyword over the bytes in between; where nearly all lines are
    cargo's (``cargo -v`` output, JSON messages), the block is split into lines
    and each goes to ``_line_events`` unchecked: the keyword search (slow on a
    timestamped line: the regex tries every keyword at every position) is then
    only made for lines that its fast paths do not recognise.
    """

    def __init__(self, stats: LogStats, last_unit: list[str | None]) -> None:
        self.stats = stats
        self.last_unit = last_unit
        self.dense = False
        self.block_lines = 0  # newlines in the last block scanned

    def scan(self, block: bytes, first_line: int) -> list[Event]:
        """Events from a block of whole lines (ending in a newline), in a list:
        one list per block costs less than a generator per line."""
        out: list[Event] = []
        stats, last_unit = self.stats, self.last_unit
        search = _KEYWORDS.search
        hits = 0
        if self.dense:
            line_no = first_line
            for raw in block.split(b"\n"):
                line_no += 1
                if raw:
                    if len(raw) > MAX_LINE_BYTES:
                        stats.cut_lines += 1
                        raw = raw[:MAX_LINE_BYTES]
                    _line_events(raw, line_no, stats, last_unit, out, True)
            lines = line_no - first_line - 1
            hits = len(out)
        else:
            pos = 0
            counted_to = 0
            line_no = first_line
            find = block.find
            size = len(block)
            while pos < size:
                match = search(block, pos)
                if match is None:
                    break
                hits += 1
                start = block.rfind(b"\n", 0, match.start()) + 1
                stop = find(b"\n", match.end())
                if stop == -1:
                    stop = size
                line_no += block.count(b"\n", counted_to, start)
                counted_to = start
                raw = block[start:stop]
                if len(raw) > MAX_LINE_BYTES:
                    stats.cut_lines += 1
                    raw = raw[:MAX_LINE_BYTES]
                _line_events(raw, line_no + 1, stats, last_unit, out)
                pos = stop + 1
            lines = line_no - first_line + block.count(b"\n", counted_to)
        self.block_lines = lines
        # Dense when at least 3 lines in 4 are cargo's.
        self.dense = hits > 64 and hits * 4 >= lines * 3
        return out
