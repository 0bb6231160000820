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
from pyo3_cache.explain.builder import _Builder
from pyo3_cache.explain.cargo_log import Event, LogStats, iter_event_batches
from pyo3_cache.explain.causes import _Finisher
from pyo3_cache.explain.hints import hint_for
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
            yield from iter_event_batches(stream, stats)
        except OSError as exc:
            raise LogError(f"cannot read log {name}: {exc.strerror or exc}") from None
        finally:
            if owned:
                stream.close()
        summaries.append(_summary(stats))
        # A file boundary ends an invocation (logs of separate jobs).
        yield _FILE_END


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


def explain_recompiles(inputs: LogInput | Iterable[LogInput]) -> RecompileReport:
    """Read cargo logs (paths, ``-`` for stdin, or binary streams) and explain rebuilds.

    Streams are read in chunks, so memory stays flat for any log size.  A log
    with no cargo output gives a report whose ``headline`` says so; an
    unreadable file raises ``LogError``.
    """
    items: list[LogInput]
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read"):
        items = [cast(LogInput, inputs)]
    else:
        items = list(inputs)
    summaries: list[SourceSummary] = []
    finisher = _Finisher()
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
    return report
