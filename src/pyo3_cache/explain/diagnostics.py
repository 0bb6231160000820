"""Why did cargo recompile?  The model behind ``pyo3-cache explain``.

cargo_log.py turns logs into events; this module groups them per cargo
invocation and per package (cargo prints one status per package and
invocation), gives every unit a status, and works out the cascade:

* ``fresh``: reused from the cache;
* ``rebuilt``: a previous build existed but was stale, with cargo's reason;
  either a *root cause* (its own input changed: an env variable, a file,
  rustflags, features, profile, toolchain...) or a *cascade* (it only rebuilt
  because a dependency did: ``info of dependency `pyo3-ffi` changed``);
* ``new``: compiled with no previous build to compare with (cold or pruned
  cache, or a changed flag/feature set, which gives the unit a new hash),
  grouped with the likely reason.

The pieces: reasons.py (cargo's wordings -> kinds), hints.py, report.py
(the records), builder.py (events -> invocations), causes.py (statuses,
cascades, root causes); this module reads the inputs and ties them together.
"""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Union, cast

from pyo3_cache.errors import LogError
from pyo3_cache.explain.build_analysis import iter_build_analysis, looks_like_build_analysis
from pyo3_cache.explain.builder import _Builder
from pyo3_cache.explain.cargo_log import Event, LogStats, iter_event_batches
from pyo3_cache.explain.causes import _Finisher
from pyo3_cache.explain.hints import hint_for
from pyo3_cache.explain.new_units import explain_from_target_dir, regroup
from pyo3_cache.explain.reasons import (
    BUILD_SCRIPT,
    CASCADE,
    CHECKSUM,
    CONFIG_SETTINGS,
    DEPENDENCIES,
    ENV_VAR,
    FEATURES,
    FILE_CHANGED,
    FILE_MISSING,
    FORCED,
    INTERPRETER_ENV,
    INTERPRETER_VARIABLES,
    NEW_COLD,
    NEW_NOT_CACHED,
    PACKAGE_FILES,
    PROFILE,
    PYO3_CONFIG,
    RUSTFLAGS,
    SOURCE_PATH,
    TARGET,
    TOOLCHAIN,
    UNKNOWN,
    WATCHED_FILE,
    Reason,
    classify_reason,
    reason_from_debug,
)
from pyo3_cache.explain.report import (
    FRESH_UNITS_INVOCATIONS,
    Invocation,
    NewGroup,
    RecompileReport,
    RootCause,
    SourceSummary,
    Unit,
    _plural,
)
from pyo3_cache.explain.target_dir import TargetDirIndex, read_target_dir

__all__ = [
    "BUILD_SCRIPT",
    "CASCADE",
    "CHECKSUM",
    "CONFIG_SETTINGS",
    "DEPENDENCIES",
    "ENV_VAR",
    "FEATURES",
    "FILE_CHANGED",
    "FILE_MISSING",
    "FORCED",
    "FRESH_UNITS_INVOCATIONS",
    "INTERPRETER_ENV",
    "INTERPRETER_VARIABLES",
    "NEW_COLD",
    "NEW_NOT_CACHED",
    "PACKAGE_FILES",
    "PROFILE",
    "PYO3_CONFIG",
    "RUSTFLAGS",
    "SOURCE_PATH",
    "TARGET",
    "TOOLCHAIN",
    "UNKNOWN",
    "Invocation",
    "LogInput",
    "NewGroup",
    "Reason",
    "RecompileReport",
    "RootCause",
    "SourceSummary",
    "Unit",
    "classify_reason",
    "explain_recompiles",
    "hint_for",
    "reason_from_debug",
]

LogInput = Union[str, "os.PathLike[str]", BinaryIO, io.TextIOBase]


def _open_input(item: LogInput) -> tuple[str, BinaryIO, bool]:
    """(display name, binary stream, we opened it)."""
    if isinstance(item, (str, os.PathLike)):
        name = os.fspath(item)
        if name == "-":
            return "<stdin>", sys.stdin.buffer, False
        path = Path(name)
        if path.is_dir():
            raise LogError(f"{name} is a directory, not a log file")
        try:
            return name, path.open("rb"), True
        except FileNotFoundError:
            raise LogError(f"log file {name} does not exist") from None
        except OSError as exc:
            raise LogError(f"cannot read log file {name}: {exc.strerror}") from None
    if isinstance(item, io.TextIOBase):
        buffer = getattr(item, "buffer", None)
        if buffer is not None:
            return getattr(item, "name", "<stream>"), buffer, False
        return "<stream>", io.BytesIO(item.read().encode("utf-8", "replace")), False
    name = getattr(item, "name", "<stream>")
    return str(name), item, False


def _event_batches(
    items: Iterable[LogInput], summaries: list[SourceSummary]
) -> Iterator[list[Event]]:
    for item in items:
        name, stream, owned = _open_input(item)
        stats = LogStats(name)
        try:
            if _is_build_analysis(stream):
                for batch in iter_build_analysis(stream, stats):
                    yield batch
                    yield _FILE_END  # one cargo run per build-started
            else:
                yield from iter_event_batches(stream, stats)
        except OSError as exc:
            raise LogError(f"cannot read log {name}: {exc.strerror or exc}") from None
        finally:
            if owned:
                stream.close()
        summaries.append(_summary(stats))
        # A file boundary ends an invocation (logs of separate jobs).
        yield _FILE_END


def _is_build_analysis(stream: BinaryIO) -> bool:
    """A nightly build-analysis JSONL log (build_analysis.py), told by its first bytes."""
    peek = getattr(stream, "peek", None)
    if peek is not None:
        try:
            return looks_like_build_analysis(peek(1024)[:1024])
        except (OSError, ValueError):
            return False
    if stream.seekable():
        head = stream.read(1024)
        stream.seek(-len(head), os.SEEK_CUR)
        return looks_like_build_analysis(head)
    return False


class _FileEnd:
    pass


_FILE_END: Any = _FileEnd()


def _summary(stats: LogStats) -> SourceSummary:
    note = None
    if stats.bytes == 0:
        note = f"{stats.source} is empty"
    elif stats.looks_binary:
        note = f"{stats.source} looks like a binary file, not a log"
    elif stats.cargo_lines == 0:
        note = f"{stats.source} has no cargo output ({_plural(stats.lines, 'line')} read)"
    elif stats.cut_lines:
        note = f"{_plural(stats.cut_lines, 'over-long line')} in {stats.source} cut short"
    return SourceSummary(
        stats.source, stats.bytes, stats.lines, stats.cargo_lines, sorted(stats.kinds), note
    )


def explain_recompiles(
    inputs: LogInput | Iterable[LogInput],
    *,
    target_dir: str | os.PathLike[str] | None = None,
) -> RecompileReport:
    """Read cargo logs (paths, ``-`` for stdin, or binary streams) and explain rebuilds.

    Streams are read in chunks, so memory stays flat for any log size.  A log
    with no cargo output gives a report whose ``headline`` says so; an
    unreadable file raises ``LogError``.  ``target_dir``: the target dir the
    build used, after the build; its fingerprint records tell why units were
    compiled anew (another version, features, profile, flags, target).
    """
    items: list[LogInput]
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read"):
        items = [cast(LogInput, inputs)]
    else:
        items = list(inputs)
    summaries: list[SourceSummary] = []
    finisher = _Finisher(unit_hashes=target_dir is not None)
    builder = _Builder(finisher)
    for batch in _event_batches(items, summaries):
        if batch is _FILE_END:
            builder.close()
            builder.just_closed = False
            continue
        builder.feed_all(batch)
    builder.close()
    report = finisher.report()
    report.sources = summaries
    if target_dir is not None:
        explain_with_target_dir(report, target_dir)
    return report


def explain_with_target_dir(report: RecompileReport, target_dir: str | os.PathLike[str]) -> None:
    """Refine a report with what the target dir remembers (target_dir.py)."""
    index = read_target_dir(target_dir)
    if not index.records:
        report.notes.append(f"{os.fspath(target_dir)} holds no fingerprint records")
        return
    report.target_dir_records = index.records
    if explain_from_target_dir(report.units, index):
        report.new_groups = regroup(report.units)
        for status in ("new", "compiled"):
            report.counts[status] = sum(1 for u in report.units if u.status == status)
        report.unexplained = report.counts["compiled"]
    for cause in report.root_causes:
        if cause.kind == FILE_CHANGED and cause.file and _watched(index, cause):
            cause.kind = WATCHED_FILE
            cause.hint = hint_for(Reason(cause.reason, WATCHED_FILE))
            for unit in report.units:
                if unit.package == cause.package and unit.kind == FILE_CHANGED:
                    unit.kind = WATCHED_FILE


def _watched(index: TargetDirIndex, cause: RootCause) -> bool:
    file = (cause.file or "").replace("\\", "/")
    return any(file == w or file.endswith("/" + w) for w in index.watched_files(cause.package))
