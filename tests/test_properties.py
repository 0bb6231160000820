"""Property-based tests (hypothesis) for the parsers and renderers that read hostile text.

Covered here: tar headers (our fast reader and writer against tarfile), cargo
log lines (human status, fingerprint, JSON messages), the
log stream as a whole, PyO3 config files, key manifests, Markdown/mermaid
escaping and the whole Markdown report and job summary on hostile package
names, reasons and values.  Covered elsewhere, so not repeated: ``.pyc``
headers (tests/test_bytecode.py) and workflow-command escaping and the sticky
comment's sections (tests/test_github.py).
"""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyo3_cache.action.report import summary_markdown
from pyo3_cache.action.state import FlowState
from pyo3_cache.cache.archive import pax_header
from pyo3_cache.cache.pipe_tar import parse_header
from pyo3_cache.errors import ManifestError
from pyo3_cache.explain import cargo_log
from pyo3_cache.explain.cargo_log import (
    FingerprintLine,
    JsonArtifact,
    JsonBuildFinished,
    LogStats,
    UnitStatus,
    iter_events,
)
from pyo3_cache.explain.diagnostics import explain_recompiles
from pyo3_cache.explain.render import escape_markdown, escape_mermaid, render_markdown
from pyo3_cache.keys.manifest import load_manifest
from pyo3_cache.keys.model import MANIFEST_VERSION, KeyManifest, KeyPart
from pyo3_cache.pin.pyo3_config import Pyo3Config

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- strategies -----------------------------------------------------------------------------

# Characters that mean something to Markdown, HTML, GFM, mermaid, tables or terminals.
HOSTILE = "<>&|`*_[]()#@!~$:\\\"'\n\r\t\x1b\x00\u202e\u2028\ufeff -=.{}%;/"
hostile_text = st.text(
    alphabet=st.one_of(st.sampled_from(HOSTILE), st.characters(blacklist_categories=("Cs",))),
    max_size=60,
)
one_line = st.text(
    alphabet=st.one_of(
        st.sampled_from(HOSTILE.replace("\n", "").replace("\r", "")),
        st.characters(blacklist_categories=("Cs", "Zl", "Zp", "Cc")),
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() != "")
package = st.from_regex(r"[A-Za-z][A-Za-z0-9_-]{0,20}", fullmatch=True)
version = st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(-[a-z0-9.]{1,8})?", fullmatch=True)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def events_of(data: bytes) -> list[Any]:
    return list(iter_events(io.BytesIO(data), LogStats("<test>")))


# --- cargo log lines ----------------------------------------------------------------------


@SETTINGS
@given(st.binary(max_size=2000))
def test_log_parser_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    stats = LogStats("<test>")
    for event in iter_events(io.BytesIO(data), stats):
        assert event.at.line >= 1
    assert stats.bytes == len(data)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=80),
            st.sampled_from(
                [
                    b"       Dirty pyo3 v0.30.1: the env variable PYO3_PYTHON changed",
                    b"       Fresh serde v1.0.210",
                    b"   Compiling hello v0.1.0 (/w)",
                    b'{"reason":"compiler-artifact","package_id":"a 1.0.0","fresh":true}',
                    b"    Finished `dev` profile [unoptimized] target(s) in 1.00s",
                ]
            ),
        ),
        max_size=30,
    ),
    st.integers(1, 64),
)
def test_chunk_size_never_changes_the_events(lines: list[bytes], chunk: int) -> None:
    data = b"\n".join(lines)
    whole = events_of(data)
    saved = cargo_log.CHUNK_BYTES
    cargo_log.CHUNK_BYTES = chunk
    try:
        pieces = events_of(data)
    finally:
        cargo_log.CHUNK_BYTES = saved
    assert pieces == whole


decorations = st.sampled_from(["plain", "crlf", "ansi", "stamp", "redraw"])


def decorate(line: str, how: str) -> bytes:
    """The same cargo line as logs carry it: CRLF, colours, GitHub's timestamp, a redraw."""
    if how == "crlf":
        return (line + "\r\n").encode()
    if how == "ansi":
        word, _, rest = line.lstrip().partition(" ")
        return f"   \x1b[1m\x1b[32m{word}\x1b[0m {rest}\n".encode()
    if how == "stamp":
        return f"2026-11-26T10:00:00.1234567Z {line}\n".encode()
    if how == "redraw":
        return f"    Building [=>   ] 3/14: pyo3\r{line}\n".encode()
    return (line + "\n").encode()


@SETTINGS
@given(package, version, one_line, st.none() | st.from_regex(r"/[a-z/]{1,20}", fullmatch=True))
def test_dirty_status_lines_parse_back(name: str, ver: str, reason: str, path: str | None) -> None:
    reason = " ".join(reason.replace("\x1b", " ").split())
    if not reason:
        return
    where = f" ({path})" if path else ""
    for how in ("plain", "crlf", "ansi", "stamp", "redraw"):
        [event] = events_of(decorate(f"       Dirty {name} v{ver}{where}: {reason}", how))
        assert isinstance(event, UnitStatus), how
        assert (event.word, event.package, event.version) == ("Dirty", name, ver), how
        assert event.source_path == path, how
        assert event.reason == reason, how


@SETTINGS
@given(
    package,
    version,
    st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    st.from_regex(r"[A-Z_]{1,12}", fullmatch=True),
    st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
    decorations,
)
def test_fingerprint_lines_keep_package_target_and_message(
    name: str, ver: str, target: str, variable: str, value: str, how: str
) -> None:
    message = (
        f"dirty: EnvVarChanged {{ name: {json.dumps(variable)}, old_value: None, "
        f"new_value: Some({json.dumps(value)}) }}"
    )
    line = (
        f"   0.021s  INFO prepare_target{{force=false package_id={name} v{ver} "
        f'target="{target}"}}: cargo::core::compiler::fingerprint: {message}'
    )
    events = [e for e in events_of(decorate(line, how)) if isinstance(e, FingerprintLine)]
    assert len(events) == 1, (line, events_of(decorate(line, how)))
    event = events[0]
    assert (event.package, event.version, event.target) == (name, ver, target)
    assert event.message == message.rstrip()


def _artifact_message(name: str, ver: str, fresh: bool, spelling: str, extra: Any) -> dict:
    package_id = (
        f"registry+https://github.com/rust-lang/crates.io-index#{name}@{ver}"
        if spelling == "new"
        else f"{name} {ver} (registry+https://github.com/rust-lang/crates.io-index)"
    )
    message = {
        "reason": "compiler-artifact",
        "package_id": package_id,
        "target": {"kind": ["lib"], "name": name},
        "profile": {"opt_level": "0", "debuginfo": 2},
        "features": ["default"],
        "extra": extra,
        "fresh": fresh,
    }
    return message


artifacts = st.tuples(package, version, st.booleans(), st.sampled_from(["new", "old"]), json_values)


@SETTINGS
@given(artifacts)
def test_json_artifact_messages_parse_in_both_package_id_spellings(artifact: Any) -> None:
    name, ver, fresh, _, _ = artifact
    compact = json.dumps(_artifact_message(*artifact), separators=(",", ":"))  # cargo's spelling
    [event] = events_of(compact.encode() + b"\n")
    assert isinstance(event, JsonArtifact)
    assert (event.package, event.version, event.fresh) == (name, ver, fresh)


@SETTINGS
@given(artifacts)
def test_json_artifact_messages_parse_whatever_the_json_spacing(artifact: Any) -> None:
    """A message re-written by another tool (Python's json.dumps puts spaces in) still counts."""
    name, ver, fresh, _, _ = artifact
    spaced = json.dumps(_artifact_message(*artifact))
    [event] = events_of(spaced.encode() + b"\n")
    assert isinstance(event, JsonArtifact)
    assert (event.package, event.version, event.fresh) == (name, ver, fresh)


@SETTINGS
@given(st.dictionaries(st.text(max_size=10), json_values, max_size=6), st.booleans())
def test_any_json_object_calling_itself_a_cargo_message_is_safe(
    body: dict[str, Any], success: bool
) -> None:
    for reason in ("compiler-artifact", "build-finished"):
        message = dict(body, reason=reason, success=success)
        events = events_of(json.dumps(message).encode() + b"\n")
        assert all(isinstance(e, (JsonArtifact, JsonBuildFinished)) for e in events)


# --- PyO3 config files ------------------------------------------------------------------------

config_key = st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True).filter(
    lambda k: k not in ("ext_suffix", "abiflags")
)
config_value = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs",),
        blacklist_characters="\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029",
    ),
    max_size=40,
)


@SETTINGS
@given(
    st.lists(st.tuples(config_key, config_value), max_size=12),
    st.lists(st.tuples(st.sampled_from(["ext_suffix", "abiflags"]), config_value), max_size=2),
)
def test_pyo3_config_render_parse_round_trip(
    entries: list[tuple[str, str]], extras: list[tuple[str, str]]
) -> None:
    config = Pyo3Config(tuple(entries), tuple(extras))
    # A line whose value is blank after a key= still parses; only whitespace-only
    # lines are skipped, and a key is never blank here.
    assert Pyo3Config.parse(config.render()) == config


@SETTINGS
@given(st.text(max_size=300))
def test_pyo3_config_parse_fails_only_with_value_error(text: str) -> None:
    try:
        parsed = Pyo3Config.parse(text)
    except ValueError:
        return
    assert all("\n" not in k for k, _ in parsed.entries)


# --- key manifests ----------------------------------------------------------------------------

# What keys, part names and hashes are made of (a manifest with anything else is refused).
key_text = st.text(alphabet="abcXYZ019._+=@-", min_size=1, max_size=40)
input_value = st.one_of(st.text(max_size=20), st.lists(st.text(max_size=10), max_size=4))
parts = st.lists(
    st.builds(
        KeyPart,
        name=st.text(alphabet="abcXYZ019._+=@-", min_size=1, max_size=10),
        hash=st.text(alphabet="0123456789abcdef", min_size=1, max_size=12),
        inputs=st.dictionaries(st.text(max_size=10), input_value, max_size=4),
    ),
    max_size=5,
    unique_by=lambda p: p.name,
)


@SETTINGS
@given(
    key_text,
    st.lists(key_text, max_size=3),
    parts,
    st.sampled_from(["rust", "venv", "wheel"]),
)
def test_manifests_round_trip_through_json(
    key: str, restore: list[str], key_parts: list[KeyPart], kind: str
) -> None:
    manifest = KeyManifest(key, tuple(restore), tuple(key_parts), kind=kind)
    text = json.dumps(manifest.to_json())
    assert KeyManifest.from_json(json.loads(text)) == manifest


def _mutations() -> st.SearchStrategy[Any]:
    good: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "pyo3-cache 0.1.0",
        "kind": "rust",
        "key": "k",
        "restore_keys": ["k-"],
        "parts": {"lock": {"hash": "h", "inputs": {"serde": "1.0.0"}}},
    }

    def mutate(choice: tuple[str, Any]) -> Any:
        field, value = choice
        return dict(good, **{field: value})

    return st.tuples(st.sampled_from(sorted(good)), json_values).map(mutate)


@SETTINGS
@given(st.one_of(json_values, _mutations()))
def test_any_json_is_a_manifest_or_a_manifest_error(data: Any) -> None:
    try:
        KeyManifest.from_json(data)
    except ManifestError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=60, deadline=None)
@given(
    st.binary(max_size=300) | st.one_of(json_values, _mutations()).map(json.dumps).map(str.encode)
)
def test_load_manifest_raises_only_manifest_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "manifest.json"
        path.write_bytes(data)
        with contextlib.suppress(ManifestError):
            load_manifest(path)


def test_load_manifest_on_deeply_nested_json_is_a_manifest_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[" * 100_000 + "]" * 100_000)
    try:
        load_manifest(path)
    except ManifestError as exc:
        assert "nested too deeply" in str(exc)
    else:
        raise AssertionError("a 100,000-deep list is no manifest")


# --- Markdown and mermaid escaping -------------------------------------------------------------

ENTITY = re.compile(r"&#\d+;")
ALLOWED_TAGS = re.compile(r"</?(details|summary|br)>")


@SETTINGS
@given(hostile_text)
def test_escape_markdown_leaves_nothing_markdown_or_html_can_use(text: str) -> None:
    out = escape_markdown(text)
    bare = ENTITY.sub("", out)
    assert not set(bare) & set("\\`*_[]#|~<>&@:$\n\r")
    assert not re.search(r"(?i)www\.", out)
    # It reads the same once rendered: entities decode back to the (cleaned) text.
    cleaned = " ".join(html.unescape(out).split())
    expected = " ".join(
        re.sub(
            r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069\ufeff]", " ", text
        ).split()
    )
    assert cleaned == expected[: len(cleaned)]


@SETTINGS
@given(hostile_text)
def test_escape_mermaid_keeps_labels_inside_their_quotes(text: str) -> None:
    out = escape_mermaid(text)
    assert re.fullmatch(r"[A-Za-z0-9 ._/\-#;.]*", out), out


def _check_markdown(text: str, hostile: list[str]) -> None:
    """No HTML but ours, tables keep their columns, <details> and fences stay balanced."""
    for match in re.finditer(r"<", text):
        assert ALLOWED_TAGS.match(text, match.start()), text[match.start() : match.start() + 40]
    assert text.count("<details>") == text.count("</details>")
    depth = 0
    for tag in re.findall(r"</?details>", text):
        depth += 1 if tag == "<details>" else -1
        assert depth in (0, 1), "a <details> block was closed early or nested"
    fences = [ln for ln in text.splitlines() if ln.lstrip().startswith("```")]
    assert len(fences) % 2 == 0 and all(f in ("```mermaid", "```") for f in fences), fences
    columns = None
    for line in text.splitlines():
        if not line.startswith("|"):
            columns = None
            continue
        if columns is None:
            columns = line.count("|")
        assert line.count("|") == columns, line
    for value in hostile:
        for bad in ("<script", "<img", "](", "@octocat"):
            if bad in value:
                assert bad not in text


hostile_log = st.tuples(
    st.lists(package, min_size=1, max_size=4, unique=True),
    st.lists(one_line, min_size=1, max_size=4),
    one_line,
)


def _log(names: list[str], reasons: list[str], value: str) -> bytes:
    lines = ["       Fresh serde v1.0.210"]
    for i, name in enumerate(names):
        reason = " ".join(reasons[i % len(reasons)].split()) or "changed"
        lines.append(f"       Dirty {name} v0.1.{i}: {reason}")
        lines.append(f"   Compiling {name} v0.1.{i} (/w/{name})")
        lines.append(f"     Running `rustc --crate-name {name}`")
    lines.append(
        f'   0.02s  INFO prepare_target{{package_id={names[0]} v0.1.0 target="lib"}}: '
        f"cargo::core::compiler::fingerprint: dirty: EnvVarChanged {{ name: "
        f'"PYO3_PYTHON", old_value: Some({json.dumps(value)}), new_value: None }}'
    )
    lines.append("    Finished `dev` profile [unoptimized + debuginfo] target(s) in 1.00s")
    return "\n".join(lines).encode("utf-8", "replace") + b"\n"


@settings(max_examples=80, deadline=None)
@given(hostile_log)
def test_markdown_report_is_inert_on_hostile_names_reasons_and_values(log: Any) -> None:
    names, reasons, value = log
    report = explain_recompiles(io.BytesIO(_log(names, reasons, value)))
    text = render_markdown(report)
    _check_markdown(text, [*reasons, value])


@settings(max_examples=80, deadline=None)
@given(hostile_log, hostile_text, st.lists(hostile_text, max_size=3), hostile_text)
def test_job_summary_is_inert_on_hostile_keys_changes_and_job_names(
    log: Any, key: str, changes: list[str], job: str
) -> None:
    names, reasons, value = log
    report = render_markdown(explain_recompiles(io.BytesIO(_log(names, reasons, value))))
    state = FlowState(
        key=key,
        matched_key=key[:5],
        key_changes=changes,
        key_parts={key: value, "lock": key},
        notes=changes,
    )
    text = summary_markdown(state, report, job)
    _check_markdown(text, [*reasons, value, key, job, *changes])


def test_a_section_id_with_a_trailing_newline_is_made_safe() -> None:
    """Found by tests/test_github.py's round-trip property: `$` matched before a newline."""
    from pyo3_cache.github import client as github

    section = github.make_section("0\n", "job", "report")
    assert "\n" not in section.id
    body = github.render_sticky_body([section])
    assert github.parse_sticky_body(body) == [section]


# --- tar headers: our fast reader and writer against tarfile's -------------------------

_TAR_KINDS = [tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE]
_TAR_KINDS += [tarfile.LNKTYPE, tarfile.XHDTYPE, tarfile.CHRTYPE, tarfile.GNUTYPE_LONGNAME]
tar_names = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=120)


@st.composite
def tar_infos(draw: st.DrawFn) -> tarfile.TarInfo:
    info = tarfile.TarInfo(draw(tar_names) or "x")
    info.type = draw(st.sampled_from(_TAR_KINDS))
    info.mode = draw(st.integers(0, 0o7777))
    info.size = draw(st.integers(0, 1 << 36)) if info.type == tarfile.REGTYPE else 0
    info.mtime = draw(st.integers(0, 1 << 35))
    info.linkname = draw(tar_names) if info.type in (tarfile.SYMTYPE, tarfile.LNKTYPE) else ""
    nanos = draw(st.integers(0, 999_999_999))
    info.pax_headers = {"mtime": f"{info.mtime}.{nanos:09d}"}
    return info


def _fix_checksum(block: bytearray) -> None:
    block[148:156] = b" " * 8
    block[148:156] = b"%06o\0 " % sum(block)


@settings(max_examples=300, deadline=None)
@given(
    tar_infos(),
    st.sampled_from([tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT]),
    st.lists(st.tuples(st.integers(0, 511), st.integers(0, 255)), max_size=4),
    st.booleans(),
)
def test_the_fast_tar_header_parser_never_reads_what_tarfile_would_not(
    info: tarfile.TarInfo, fmt: int, changes: list[tuple[int, int]], fix: bool
) -> None:
    try:
        raw = info.tobuf(fmt, "utf-8", "surrogateescape")
    except ValueError:
        return  # tarfile cannot write it in this format
    block = bytearray(raw[-512:])
    for offset, value in changes:
        block[offset] = value
    if fix:
        _fix_checksum(block)
    fast = parse_header(bytes(block))
    if fast is None:
        return
    slow = tarfile.TarInfo.frombuf(bytes(block), "utf-8", "surrogateescape")
    fields = ("name", "mode", "size", "mtime", "chksum", "type", "linkname")
    assert {f: getattr(fast, f) for f in fields} == {f: getattr(slow, f) for f in fields}


@settings(max_examples=300, deadline=None)
@given(tar_infos())
def test_the_archivers_fast_headers_are_tarfiles_bytes(info: tarfile.TarInfo) -> None:
    fast = pax_header(info)
    if fast is not None:
        assert fast == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
