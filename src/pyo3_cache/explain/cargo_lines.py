"""One cargo line -> one event: status lines, JSON messages, CARGO_LOG lines.

The stream (cargo_log.py) hands over lines with a cargo keyword; these
functions read them.  JSON ``compiler-artifact`` messages are read field by
field in cargo's order where they can be (``_artifact_fast``) and with
``json.loads`` otherwise; both give the same event.
"""

from __future__ import annotations

import json
import re

from pyo3_cache.explain.events import (
    BuildFailed,
    CompileError,
    Event,
    FingerprintLine,
    Finished,
    JsonArtifact,
    JsonBuildFinished,
    Running,
    UnitStatus,
    Where,
)

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
    rb'"reason":\s*"compiler-artifact"|"reason":\s*"build-finished"|"level":"error"|'
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


# --- line helpers -------------------------------------------------------------


def strip_ansi(text: str) -> str:
    return _ANSI.sub("", text) if "\x1b" in text else text


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
_BACKSLASH = 0x5C
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


_MESSAGE_HEAD = '{"reason":"compiler-message","package_id":"'


def compile_error_event(body: str, at: Where) -> CompileError | None:
    """A ``compiler-message`` line -> the failed crate, if the message is an error."""
    if not body.startswith(_MESSAGE_HEAD) or '"level":"error"' not in body:
        return None
    end = body.find('"', len(_MESSAGE_HEAD))
    if end == -1:
        return None
    return CompileError(_package_from_id(body[len(_MESSAGE_HEAD) : end])[0], at)


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
            return Running(at, stripped[9:].encode("utf-8", "replace"))
        return None
    if "could not compile" in stripped:
        failed = _COULD_NOT_COMPILE.match(text)
        return BuildFailed(failed.group(1), at) if failed else None
    if "fingerprint" in stripped:
        return _fingerprint_event(stripped, at, last_unit if last_unit is not None else [None] * 3)
    return None
