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

import re
from collections.abc import Iterator
from typing import BinaryIO

from pyo3_cache.explain.cargo_lines import (
    _KEYWORDS,
    MAX_LINE_BYTES,
    _artifact_event,
    _artifact_fast,
    _json_event,
    _split_status_rest,
    compile_error_event,
    parse_line,
    strip_ansi,
)
from pyo3_cache.explain.events import (
    BuildFailed,
    CompileError,
    Event,
    FingerprintLine,
    Finished,
    JsonArtifact,
    JsonBuildFinished,
    LogStats,
    Running,
    UnitStatus,
    Where,
)

__all__ = [
    "CHUNK_BYTES",
    "MAX_LINE_BYTES",
    "BuildFailed",
    "Event",
    "FingerprintLine",
    "Finished",
    "JsonArtifact",
    "JsonBuildFinished",
    "LogStats",
    "Running",
    "UnitStatus",
    "Where",
    "_artifact_fast",
    "_json_event",
    "iter_event_batches",
    "iter_events",
    "parse_line",
    "strip_ansi",
]

CHUNK_BYTES = 1 << 20

# --- the stream ---------------------------------------------------------------

_STAMP_BYTES = rb"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) "
_GITHUB_STAMP_BYTES = re.compile(_STAMP_BYTES)
_ANSI_BYTES = re.compile(
    rb"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"
)
_ESC, _CR = 0x1B, 0x0D
_JSON_REASON = b'{"reason":"'
_ARTIFACT_REASON = b'compiler-artifact"'
_BUILD_FINISHED_REASON = b'build-finished"'
_MESSAGE_REASON = b'compiler-message"'
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
            elif body.startswith(_MESSAGE_REASON, 11) and body.find(b'"level":"error"') != -1:
                event = compile_error_event(body.decode("utf-8", "replace"), at)
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
    return Running(at, line[start + 9 :]), "human"


_KEYWORD_OF: dict[type, bytes] = {
    Finished: b"Finished",
    FingerprintLine: b"fingerprint",
    BuildFailed: b"could not compile",
    CompileError: b'"level":"error"',
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
