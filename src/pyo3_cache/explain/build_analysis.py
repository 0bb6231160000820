"""cargo's own record of a build: nightly ``-Zbuild-analysis`` JSONL logs.

``cargo +nightly -Zbuild-analysis --config build.analysis.enabled=true build``
(cargo 1.97 nightly) writes one JSON object per line to
``$CARGO_HOME/log/<run id>.jsonl``: ``build-started`` (command, profile),
``unit-registered`` (index, ``package_id``, target name and kind, mode),
``unit-fingerprint`` (index, ``status`` ``fresh`` | ``dirty`` | ``new``, and
for dirty units a ``cause`` whose ``dirty_reason`` is cargo's
``DirtyReason`` in kebab case with its fields), ``unit-started``,
``unit-finished`` (``elapsed``).

Each record is turned into the events the other formats give: a fresh unit
into a ``Fresh`` status, a dirty or new one into the ``CARGO_LOG`` line cargo
would print for it (``dirty: EnvVarChanged { ... }``), with unit indexes
resolved to package names (CARGO_LOG prints only the index).  What it lacks,
and ``explain`` adds: why a unit is new, and what to do about it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, BinaryIO

from pyo3_cache.explain.cargo_lines import _package_from_id
from pyo3_cache.explain.events import Event, FingerprintLine, Finished, LogStats, UnitStatus, Where

MARKER = b'{"run_id":'
MAX_LINE_BYTES = 1 << 20


def looks_like_build_analysis(head: bytes) -> bool:
    """Whether a stream's first bytes (a ``#`` header line allowed) are one."""
    head = head.lstrip()
    if head.startswith(b"#"):
        newline = head.find(b"\n")
        head = head[newline + 1 :] if newline != -1 else b""
    return head.startswith(MARKER)


def _quote(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'


def _option(value: object) -> str:
    return "None" if value is None else f"Some({_quote(value)})"


def _camel(kebab: str) -> str:
    return "".join(part.capitalize() for part in kebab.split("-"))


def debug_of(cause: dict[str, Any], names: dict[int, str], script_run: bool = False) -> str:
    """A ``cause`` object -> cargo's ``Debug`` spelling of the same DirtyReason.

    ``script_run``: the unit runs a build script, so a changed file is one it
    watches (``rerun-if-changed``): ``WatchedFileChanged``, a name of ours.
    """
    reason = str(cause.get("dirty_reason", ""))

    def unit_name(key: str = "unit") -> str:
        index = cause.get(key)
        return names.get(index, "?") if isinstance(index, int) else "?"

    if reason == "env-var-changed":
        return (
            f"EnvVarChanged {{ name: {_quote(cause.get('name', '?'))}, "
            f"old_value: {_option(cause.get('old_value'))}, "
            f"new_value: {_option(cause.get('new_value'))} }}"
        )
    if reason == "unit-dependency-info-changed":
        name = _quote(unit_name())
        return f"UnitDependencyInfoChanged {{ old_name: {name}, new_name: {name} }}"
    if reason == "fs-status-outdated":
        status = str(cause.get("fs_status", ""))
        if status in ("stale-dep-fingerprint", "stale-dependency"):
            return f"FsStatusOutdated(StaleDepFingerprint {{ name: {_quote(unit_name())} }})"
        item = _camel(str(cause.get("stale_item", "stale")))
        if script_run and item == "ChangedFile" and "stale" in cause:
            return f"WatchedFileChanged {{ path: {_quote(cause['stale'])} }}"
        fields = ", ".join(
            f"{key}: {_quote(cause[key])}"
            for key in ("stale", "path", "reference", "var", "previous", "current")
            if key in cause
        )
        return f"FsStatusOutdated(StaleItem({item} {{ {fields} }}))"
    fields = ", ".join(f"{k}: {_quote(v)}" for k, v in cause.items() if k != "dirty_reason")
    return f"{_camel(reason)} {{ {fields} }}" if fields else _camel(reason)


def iter_build_analysis(stream: BinaryIO, stats: LogStats) -> Iterator[list[Event]]:
    """Events from a build-analysis JSONL stream, one list per cargo run."""
    units: dict[int, tuple[str, str, str | None]] = {}
    script_runs: set[int] = set()
    names: dict[int, str] = {}
    out: list[Event] = []
    profile: str | None = None
    elapsed = 0.0
    line_no = 0
    for raw in stream:
        line_no += 1
        stats.bytes += len(raw)
        if raw.startswith(b"#"):
            continue  # a fixture's header line
        if len(raw) > MAX_LINE_BYTES:
            stats.cut_lines += 1
            continue
        try:
            record = json.loads(raw)
        except (ValueError, RecursionError):
            stats.undecodable_lines += 1
            continue
        if not isinstance(record, dict):
            continue
        kind = record.get("reason")
        at = Where(stats.source, line_no)
        if kind == "build-started":
            if out:
                out.append(Finished(profile, elapsed, at))
                yield out
                out = []
            units.clear()
            names.clear()
            script_runs.clear()
            profile = record.get("profile") if isinstance(record.get("profile"), str) else None
            elapsed = 0.0
        elif kind == "unit-registered":
            index, package_id = record.get("index"), record.get("package_id")
            if isinstance(index, int) and isinstance(package_id, str):
                name, version = _package_from_id(package_id)
                path = (
                    package_id[len("path+file://") :].split("#")[0]
                    if package_id.startswith("path+file://")
                    else None
                )
                units[index] = (name, version, path)
                names[index] = name
                if record.get("mode") == "run-custom-build":
                    script_runs.add(index)
        elif kind == "unit-fingerprint":
            index = record.get("index")
            unit = units.get(index) if isinstance(index, int) else None
            if unit is None:
                continue
            name, version, path = unit
            status = record.get("status")
            stats.cargo_lines += 1
            stats.kinds.add("build-analysis")
            if status == "fresh":
                out.append(UnitStatus("Fresh", name, version, path, None, at))
                continue
            cause = record.get("cause")
            debug = "FreshBuild" if status == "new" or not isinstance(cause, dict) else None
            if debug is None and isinstance(cause, dict):
                debug = debug_of(cause, names, index in script_runs)
            message = f"dirty: {debug}"
            out.append(FingerprintLine(name, version, path, None, message, at))
        elif kind == "unit-finished" and isinstance(record.get("elapsed"), (int, float)):
            elapsed = max(elapsed, float(record["elapsed"]))
    stats.lines = line_no
    if out:
        out.append(Finished(profile, elapsed, Where(stats.source, line_no)))
        yield out
