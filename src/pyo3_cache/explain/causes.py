"""Closed invocations -> statuses, root causes, cascades, groups of new units."""

from __future__ import annotations

import functools
import re
import sys
from collections import deque

from pyo3_cache.explain.builder import _Acc, _Inv
from pyo3_cache.explain.hints import hint_for
from pyo3_cache.explain.reasons import (
    CASCADE,
    FEATURES,
    NEW_COLD,
    NEW_NOT_CACHED,
    PACKAGE_FILES,
    PROFILE,
    RUSTFLAGS,
    TARGET,
    TOOLCHAIN,
    UNKNOWN,
    Reason,
)
from pyo3_cache.explain.report import (
    FRESH_UNITS_INVOCATIONS,
    Invocation,
    NewGroup,
    RecompileReport,
    RootCause,
    Unit,
)


def _pick_reason(unit: _Acc) -> Reason | None:
    """The package's reason: cargo's Dirty line, else the fingerprint log's.

    A package has several units (build script, its run, the lib); it is a root
    cause if any of them changed by itself, which the log may list after a
    cascade line of another unit.
    """
    fp_reasons = unit.fp_reasons or []
    roots = [r for r in fp_reasons if not r.is_cascade]
    detailed = next((r for r in roots if r.old_value or r.new_value), None)
    if unit.dirty is not None:
        if unit.dirty.is_cascade and roots:
            return roots[0]
        if detailed is not None and detailed.kind == unit.dirty.kind:
            # Same reason, but the log has old and new values: keep cargo's wording.
            return Reason(
                unit.dirty.text,
                unit.dirty.kind,
                unit.dirty.dependency,
                unit.dirty.variable,
                unit.dirty.file,
                detailed.old_value,
                detailed.new_value,
            )
        return unit.dirty
    if roots:
        return detailed if detailed is not None else roots[0]
    return fp_reasons[0] if fp_reasons else None


def _resolve_roots(units: dict[str, Unit]) -> None:
    """Follow each cascade through the dependencies cargo names to its root."""
    roots = [u for u in units.values() if u.status == "rebuilt" and u.kind != CASCADE]
    for unit in units.values():
        if unit.status != "rebuilt":
            continue
        if unit.kind != CASCADE:
            unit.root_cause = unit.package
            continue
        seen = {unit.package}
        current: Unit | None = unit
        root: str | None = None
        while current is not None and current.kind == CASCADE:
            dep = current.dependency
            if dep is None or dep in seen or dep not in units:
                current = None
                break
            seen.add(dep)
            current = units[dep]
        if current is not None and current.status in ("rebuilt", "new"):
            root = current.package
        elif len(roots) == 1 and roots[0].package != unit.package:
            # An unnamed dependency (cargo 1.95's CARGO_LOG names a unit index;
            # cargo < 1.77 no name at all): one root cause in the run explains it.
            root = roots[0].package
        unit.root_cause = root


_NEW_BECAUSE = (
    (TOOLCHAIN, "the toolchain changed"),
    (FEATURES, "the features changed"),
    (RUSTFLAGS, "the rustflags changed"),
    (PROFILE, "the profile changed"),
    (TARGET, "the target changed"),
)


def _new_reason(inv_roots: list[Unit], has_fresh: bool) -> tuple[str, str, str]:
    kinds = {u.kind for u in inv_roots}
    for kind, _ in _NEW_BECAUSE:
        if kind in kinds:
            return _new_reason_of(kind, has_fresh)
    return _new_reason_of(None, has_fresh)


@functools.cache
def _json_new_reason(kind: str) -> tuple[str, str, str]:
    reason = f"the {kind} differ from an earlier build in this log"
    return kind, reason, hint_for(Reason(reason, kind))


@functools.cache
def _new_reason_of(root_kind: str | None, has_fresh: bool) -> tuple[str, str, str]:
    """(kind, reason, hint) of new units beside a root cause of ``root_kind``."""
    for kind, what in _NEW_BECAUSE:
        if kind == root_kind:
            reason = f"{what}: each flag or feature set is a separate build of its own"
            return kind, reason, hint_for(Reason(what, kind))
    if has_fresh:
        return (
            NEW_NOT_CACHED,
            "not in the target dir although other units were: a pruned or partial cache, "
            "a new dependency, or a flag/feature set not built before",
            "If the cache was restored, check that it was saved after the same kind of "
            "build (same features, profile, RUSTFLAGS) and that pruning did not remove "
            "these units.",
        )
    return (
        NEW_COLD,
        "nothing was reused: a cold cache (no cache hit, a different target dir, or a "
        "cache saved by a different build)",
        "Check that the cache was restored (key hit?) into the target dir cargo uses "
        "(CARGO_TARGET_DIR) and that it was saved after a build of the same kind.",
    )


# Stands for a fresh unit where cascades are followed: a cascade that reaches
# it has no rebuilt root there.
_FRESH = Unit(0, "", "", "fresh")


class _Finisher:
    """Turns each closed invocation into units, causes and groups, then drops it.

    What it keeps grows with what a report must show: every rebuilt and new
    unit, one small record per invocation, the root causes.  Fresh units are
    kept for the last ``FRESH_UNITS_INVOCATIONS`` invocations only and counted
    for the others.
    """

    def __init__(self) -> None:
        self.count = 0
        self.settled_invocations: list[Invocation] = []  # older ones that rebuilt or failed
        self.recent_invocations: deque[Invocation] = deque()
        self.invocations_truncated = 0
        self.settled_units: list[Unit] = []  # rebuilt/new units of older invocations
        # The last invocations: (number, rows in cargo's order, fresh rows).  A
        # fresh unit stays an _Acc until the report lists it, if it ever does.
        self.recent: deque[tuple[int, list[Unit | _Acc], int]] = deque()
        self.units_truncated = 0
        self.counts = {"fresh": 0, "rebuilt": 0, "new": 0}
        self.causes: dict[tuple[str, str, str, str], RootCause] = {}
        self.groups: dict[tuple[str, str], NewGroup] = {}
        # For JSON-only logs: each package's previous features and profile.
        self.history: dict[tuple[str, str], _Acc] = {}
        self.unexplained = 0
        self.time_lost = 0.0
        self.basis: str | None = None

    def add(self, inv: _Inv) -> None:
        self.count = number = self.count + 1
        rows: list[Unit | _Acc] = []
        inv_units: list[Unit] = []  # the rebuilt and new ones
        fresh = rebuilt = new = 0
        history = self.history
        intern = sys.intern
        for acc in inv.units.values():
            if acc.compiled or acc.dirty is not None or acc.fp_reasons or acc.json_stale:
                stale = True
            elif acc.fp_new:
                stale = False
            elif acc.fresh or acc.json_fresh:
                # The common case, kept short: a unit reused from the cache.
                fresh += 1
                if acc.features is not None:
                    history[(acc.package, acc.version)] = acc
                rows.append(acc)
                continue
            else:
                continue
            unit = Unit(
                number,
                intern(acc.package),
                intern(acc.version),
                "fresh",
                source_path=intern(acc.source_path) if acc.source_path else None,
            )
            reason = _pick_reason(acc)
            if reason is not None:
                unit.status = "rebuilt"
                unit.reason = reason.text
                unit.kind = reason.kind
                if reason.text == _PRECALCULATED and _is_member(unit):
                    unit.kind = PACKAGE_FILES
                unit.dependency = reason.dependency
                unit.old_value, unit.new_value = reason.old_value, reason.new_value
            elif acc.fp_new or inv.verbose or inv.fingerprint_log:
                unit.status = "new"
            elif stale and _json_changed(history.get((acc.package, acc.version)), acc):
                unit.status = "new"
                unit.kind = _json_change_kind(history[(acc.package, acc.version)], acc)
            else:
                unit.status = "rebuilt"
                self.unexplained += 1
            if unit.status == "rebuilt":
                rebuilt += 1
            else:
                new += 1
            if acc.features is not None:
                history[(acc.package, acc.version)] = acc
            rows.append(unit)
            inv_units.append(unit)
        if rebuilt or new:
            self._explain(number, rows, inv_units, fresh > 0)
        self._keep(number, rows, fresh)
        counts = self.counts
        counts["fresh"] += fresh
        counts["rebuilt"] += rebuilt
        counts["new"] += new
        rebuild_seconds = None
        if inv.first_work_at is not None and inv.last_at is not None:
            first, last = inv.first_work_at.time, inv.last_at.time
            if first is not None and last is not None:
                rebuild_seconds = max(0.0, last - first)
        seconds = inv.finished.seconds if inv.finished else None
        profile = inv.finished.profile if inv.finished else None
        self.recent_invocations.append(
            Invocation(
                number,
                inv.source,
                inv.first_line,
                sys.intern(profile) if profile else None,
                seconds,
                rebuild_seconds,
                inv.failed,
                fresh,
                rebuilt,
                new,
            )
        )
        while len(self.recent_invocations) > FRESH_UNITS_INVOCATIONS:
            old = self.recent_invocations.popleft()
            if old.rebuilt or old.new or old.failed:
                self.settled_invocations.append(old)
            else:
                self.invocations_truncated += 1
        if rebuilt:
            if rebuild_seconds is not None:
                self.time_lost += rebuild_seconds
                self.basis = "timestamps" if self.basis in (None, "timestamps") else "mixed"
            elif seconds is not None:
                self.time_lost += seconds
                self.basis = "cargo" if self.basis in (None, "cargo") else "mixed"

    def _keep(self, number: int, rows: list[Unit | _Acc], fresh: int) -> None:
        """Keep this invocation's units; drop fresh ones of invocations that fall
        out of the window of the last ``FRESH_UNITS_INVOCATIONS``."""
        self.recent.append((number, rows, fresh))
        while len(self.recent) > FRESH_UNITS_INVOCATIONS:
            _, old_rows, old_fresh = self.recent.popleft()
            self.units_truncated += old_fresh
            if old_fresh < len(old_rows):
                self.settled_units.extend(r for r in old_rows if isinstance(r, Unit))

    def _explain(
        self, number: int, rows: list[Unit | _Acc], inv_units: list[Unit], has_fresh: bool
    ) -> None:
        """Root causes, cascades and groups of new units of one invocation."""
        # Two versions of one package: key by name for cascades (cargo names
        # packages); the first one wins, fresh or not.
        units: dict[str, Unit] = {}
        for row in rows:
            units.setdefault(row.package, row if isinstance(row, Unit) else _FRESH)
        _resolve_roots(units)
        roots = [u for u in inv_units if u.status == "rebuilt" and u.kind != CASCADE and u.reason]
        new_units = [u for u in inv_units if u.status == "new"]
        if new_units:
            kind, new_reason, hint = _new_reason(roots, has_fresh)
            for u in new_units:
                if u.kind in (FEATURES, PROFILE):  # from JSON self.history
                    g_kind, g_reason, g_hint = _json_new_reason(u.kind)
                else:
                    g_kind, g_reason, g_hint = kind, new_reason, hint
                u.reason = u.reason or g_reason
                u.kind = g_kind
                group = self.groups.setdefault(
                    (g_kind, g_reason), NewGroup(g_kind, g_reason, g_hint)
                )
                if u.package not in group.packages:
                    group.packages.append(u.package)
                # Invocations are numbered in order: only the last can be this one.
                if not group.invocations or group.invocations[-1] != number:
                    group.invocations.append(number)
        for u in roots:
            key = (u.package, u.version, u.kind or UNKNOWN, u.reason or "")
            cause = self.causes.get(key)
            if cause is None:
                reason = Reason(
                    u.reason or "",
                    u.kind or UNKNOWN,
                    variable=_variable_of(u),
                    file=_file_of(u),
                    old_value=u.old_value,
                    new_value=u.new_value,
                )
                cause = self.causes[key] = RootCause(
                    u.package,
                    u.version,
                    reason.kind,
                    reason.text,
                    hint_for(reason, workspace_member=_is_member(u)),
                    variable=reason.variable,
                    file=reason.file,
                    old_value=reason.old_value,
                    new_value=reason.new_value,
                )
            cause.invocations.append(number)
            for other in inv_units:
                if other.root_cause == u.package and other.status == "rebuilt":
                    cause.rebuilt_units += 1
                    if other.package != u.package and other.package not in cause.cascade:
                        cause.cascade.append(other.package)

    def report(self) -> RecompileReport:
        units = list(self.settled_units)
        for number, rows, _ in self.recent:
            for row in rows:
                if isinstance(row, Unit):
                    units.append(row)
                else:
                    units.append(
                        Unit(number, row.package, row.version, "fresh", source_path=row.source_path)
                    )
        return RecompileReport(
            invocations=[*self.settled_invocations, *self.recent_invocations],
            units=units,
            root_causes=list(self.causes.values()),
            new_groups=list(self.groups.values()),
            sources=[],
            unexplained=self.unexplained,
            time_lost_seconds=round(self.time_lost, 2) if self.basis else None,
            time_basis=self.basis,
            counts=dict(self.counts),
            units_truncated=self.units_truncated,
            invocation_count=self.count,
            invocations_truncated=self.invocations_truncated,
        )


def _json_changed(before: _Acc | None, now: _Acc) -> bool:
    return before is not None and (before.features != now.features or before.profile != now.profile)


def _json_change_kind(before: _Acc, now: _Acc) -> str:
    return FEATURES if before.features != now.features else PROFILE


def _variable_of(unit: Unit) -> str | None:
    match = re.match(r"^the env(?:ironment)? variable (\S+) changed$", unit.reason or "")
    return match.group(1) if match else None


def _file_of(unit: Unit) -> str | None:
    match = re.match(
        r"^the file `(.*)` (?:has changed|is missing|could not be read)", unit.reason or ""
    )
    return match.group(1) if match else None


_PRECALCULATED = "the precalculated components changed"


def _is_member(unit: Unit) -> bool:
    # Path packages print their directory; registry and git ones do not (git shows a URL).
    path = unit.source_path or ""
    return bool(path) and "://" not in path
