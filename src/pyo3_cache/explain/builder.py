"""Events -> invocations: one record per package and cargo invocation.

The hot path of ``explain``: ``_Builder.feed_all`` handles the most
frequent events inline (see docs/benchmarks.md, P4).
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

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
from pyo3_cache.explain.reasons import (
    _DEBUG_OPTION,
    UNKNOWN,
    Reason,
    _debug_unquote,
    _env_kind,
    classify_reason,
    reason_from_debug,
    shown_value,
)
from pyo3_cache.redact import redact_text

_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}


@dataclass(**_SLOTS)
class _Acc:
    """Everything seen about one package in one invocation."""

    package: str
    version: str
    source_path: str | None = None
    fresh: bool = False
    compiled: bool = False
    dirty: Reason | None = None  # from a `Dirty` line
    fp_reasons: list[Reason] | None = None  # from CARGO_LOG
    fp_new: bool = False
    json_stale: bool = False
    json_fresh: bool = False
    features: tuple[str, ...] | None = None
    profile: tuple[tuple[str, str], ...] | None = None


@dataclass
class _Inv:
    index: int
    source: str
    first_line: int
    units: dict[tuple[str, str], _Acc] = field(default_factory=dict)
    verbose: bool = False
    fingerprint_log: bool = False
    finished: Finished | None = None
    failed: bool = False
    failed_package: str | None = None
    running: list[bytes] = field(default_factory=list)
    """The commands of this invocation's `Running` lines (commands.py reads them)."""
    # Where the first unit started compiling and the last cargo line: their
    # GitHub timestamps are read only when the invocation closes.
    first_work_at: Where | None = None
    last_at: Where | None = None

    def acc(self, package: str, version: str, source_path: str | None) -> _Acc:
        key = (package, version)
        unit = self.units.get(key)
        if unit is None:
            unit = self.units[key] = _Acc(package, version, source_path)
        elif source_path and not unit.source_path:
            unit.source_path = source_path
        return unit


_ENV_STALE = re.compile(r'^stale: changed env "?([^"]+)"?$')
_ENV_VALUES = re.compile(rf"^{_DEBUG_OPTION} != {_DEBUG_OPTION}$")

_REASONS: dict[str, Reason] = {}


def _classify_cached(text: str) -> Reason:
    """``classify_reason`` for Dirty lines: the same few reasons repeat in every
    invocation, and sharing one ``Reason`` keeps one copy of its text."""
    reason = _REASONS.get(text)
    if reason is None:
        if len(_REASONS) > 4096:
            _REASONS.clear()
        reason = _REASONS[text] = classify_reason(text)
    return reason


class _Sink(Protocol):
    """What takes closed invocations (causes._Finisher)."""

    def add(self, inv: _Inv) -> None: ...


class _Builder:
    """Feeds events into invocations; closes one at Finished / build-finished / failure."""

    def __init__(self, finisher: _Sink) -> None:
        self.finisher = finisher
        self.count = 0
        self.current: _Inv | None = None
        self.just_closed = False
        self.pending_env: dict[tuple[str, str], str] = {}

    def _open(self, source: str, line: int) -> _Inv:
        if self.current is None:
            self.count += 1
            self.current = _Inv(self.count, source, line)
        return self.current

    def close(self) -> None:
        inv, self.current = self.current, None
        if inv is not None and (inv.units or inv.finished):
            self.finisher.add(inv)

    def feed_all(self, events: list[Event]) -> None:
        """``feed`` each event (statuses and artifacts, the most frequent, are tried first)."""
        feed = self.feed
        for event in events:
            feed(event)

    def feed(self, event: Event) -> None:
        # Most frequent kinds first; `type() is` is cheaper than isinstance chains.
        kind = type(event)
        if kind is UnitStatus:
            self.just_closed = False
            self._status(cast(UnitStatus, event))
        elif kind is JsonArtifact:
            self.just_closed = False
            self._artifact(cast(JsonArtifact, event))
        elif kind is Running:
            self.just_closed = False
            inv = self._open(event.at.source, event.at.line)
            inv.verbose = True
            inv.running.append(cast(Running, event).command)
            return
        elif kind is FingerprintLine:
            self.just_closed = False
            self._fingerprint(cast(FingerprintLine, event))
        elif kind is Finished or kind is JsonBuildFinished:
            # A log holding both cargo's stderr and its JSON stdout ends one
            # invocation twice; the second end marker belongs to the first.
            if self.current is None and self.just_closed:
                return
            inv = self._open(event.at.source, event.at.line)
            if isinstance(event, Finished):
                inv.finished = event
            elif isinstance(event, JsonBuildFinished) and not event.success:
                inv.failed = True
            if event.at.stamp is not None:
                inv.last_at = event.at
            self.close()
            self.just_closed = True
            return
        elif kind is CompileError:
            inv = self._open(event.at.source, event.at.line)
            if inv.failed_package is None:
                inv.failed_package = cast(CompileError, event).package
        elif kind is BuildFailed:
            inv = self._open(event.at.source, event.at.line)
            inv.failed = True
            inv.failed_package = cast(BuildFailed, event).package
            if event.at.stamp is not None:
                inv.last_at = event.at
            self.close()
            self.just_closed = True
            return
        if self.current is not None and event.at.stamp is not None:
            self.current.last_at = event.at

    def _status(self, event: UnitStatus) -> None:
        at = event.at
        inv = self.current or self._open(at.source, at.line)
        key = (event.package, event.version)
        unit = inv.units.get(key)
        if unit is not None and (unit.fresh or unit.compiled):
            # cargo prints one status per package and invocation: a second one
            # means another cargo run began without a Finished line in between.
            self.close()
            inv = self._open(at.source, at.line)
            unit = None
        if unit is None:
            unit = inv.units[key] = _Acc(event.package, event.version, event.source_path)
        elif event.source_path and not unit.source_path:
            unit.source_path = event.source_path
        word = event.word
        if word == "Fresh":
            inv.verbose = True
            unit.fresh = True
            return
        if word == "Dirty":
            inv.verbose = True
            unit.dirty = _classify_cached(event.reason or "")
        else:
            unit.compiled = True
        if inv.first_work_at is None and at.stamp is not None:
            inv.first_work_at = at

    def _artifact(self, event: JsonArtifact) -> None:
        inv = self.current or self._open(event.at.source, event.at.line)
        unit = inv.acc(event.package, event.version, None)
        if event.fresh:
            unit.json_fresh = True
        else:
            unit.json_stale = True
            if inv.first_work_at is None and event.at.stamp is not None:
                inv.first_work_at = event.at
        if "custom-build" not in event.target_kind:
            unit.features = event.features
            unit.profile = event.profile

    def _fingerprint(self, event: FingerprintLine) -> None:
        if event.package is None or event.version is None:
            return
        inv = self._open(event.at.source, event.at.line)
        inv.fingerprint_log = True
        unit = inv.acc(event.package, event.version, event.source_path)
        if unit.fp_reasons is None:
            unit.fp_reasons = []
        message = event.message.strip()
        if message.startswith("dirty:"):
            reason = reason_from_debug(message[len("dirty:") :])
            if reason is None:
                unit.fp_new = True
            else:
                unit.fp_reasons.append(reason)
        elif message.startswith("err:"):
            # "fingerprint error for ...": no readable previous fingerprint (new unit),
            # or on cargo < 1.69 the only reason given.
            detail = message[len("err:") :].strip()
            if "failed to read" in detail or "No such file" in detail:
                unit.fp_new = True
            else:
                unit.fp_reasons.append(Reason(redact_text(detail), UNKNOWN))
        else:
            env = _ENV_STALE.match(message)
            key = (event.package, event.version)
            if env:
                self.pending_env[key] = env.group(1)
                return
            values = _ENV_VALUES.match(message)
            if values and key in self.pending_env:
                var = self.pending_env.pop(key)
                old, new = (
                    None if v == "None" else shown_value(var, _debug_unquote(v))
                    for v in values.groups()
                )
                unit.fp_reasons.append(
                    Reason(
                        f"the environment variable {var} changed",
                        _env_kind(var),
                        variable=var,
                        old_value=old,
                        new_value=new,
                    )
                )
