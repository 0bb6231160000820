"""Closed invocations -> statuses, root causes, cascades, groups of new units."""

from __future__ import annotations

import functools
import re
import sys
from collections import deque
from typing import Any

from pyo3_cache.explain.builder import _Acc, _Inv
from pyo3_cache.explain.commands import (
    crate_key,
    first_difference,
    profile_settings,
    script_run_package,
)
from pyo3_cache.explain.hints import hint_for
from pyo3_cache.explain.new_units import (
    BUILT_BEFORE,
    DEPENDENCY_VERSION,
    NEW_CASCADE,
    TEST_HARNESS,
    group_new_units,
)
from pyo3_cache.explain.reasons import (
    CASCADE,
    FEATURES,
    FILE_CHANGED,
    NEW_COLD,
    NEW_NOT_CACHED,
    PACKAGE_FILES,
    PROFILE,
    RUSTFLAGS,
    TARGET,
    TOOLCHAIN,
    UNKNOWN,
    WATCHED_FILE,
    Reason,
)
from pyo3_cache.explain.report import (
    FRESH_UNITS_INVOCATIONS,
    Invocation,
    RecompileReport,
    RootCause,
    Unit,
)
from pyo3_cache.explain.roots import _FRESH, _pick_reason, _resolve_roots

_HASH_FLAG = re.compile(rb"extra-filename=-([0-9a-f]{16})")


_NEW_BESIDE = (TOOLCHAIN, FEATURES, RUSTFLAGS, PROFILE, TARGET)
_WHOLE_BUILD = (TOOLCHAIN, RUSTFLAGS, PROFILE, TARGET)


class _Finisher:
    """Turns each closed invocation into units and causes, then drops it.

    What it keeps grows with what a report must show: every rebuilt and new
    unit, one small record per invocation, the root causes, and per crate the
    rustc command of its last build (to compare a new build with).  Fresh
    units are kept for the last ``FRESH_UNITS_INVOCATIONS`` invocations only
    and counted for the others.
    """

    def __init__(self, unit_hashes: bool = False) -> None:
        # unit_hashes: note each new unit's hash and profile settings from its
        # rustc command, for the target-dir pass (skipped without one: P4).
        self.unit_hashes = unit_hashes
        self.count = 0
        self.settled_invocations: list[Invocation] = []  # older ones that rebuilt or failed
        self.recent_invocations: deque[Invocation] = deque()
        self.invocations_truncated = 0
        self.settled_units: list[Unit] = []  # rebuilt/new units of older invocations
        # The last invocations: (number, rows in cargo's order, fresh rows).  A
        # fresh unit stays an _Acc until the report lists it, if it ever does.
        self.recent: deque[tuple[int, list[Unit | _Acc], int]] = deque()
        self.units_truncated = 0
        self.counts = {"fresh": 0, "rebuilt": 0, "new": 0, "compiled": 0}
        self.causes: dict[tuple[str, str, str, str], RootCause] = {}
        # For JSON-only logs: each package's previous features and profile.
        self.history: dict[tuple[str, str], _Acc] = {}
        # The invocation each package was last seen in, fresh or compiled.
        # Every (package, version) of earlier invocations, fresh or compiled.
        self.known: set[tuple[str, str]] = set()
        # The rustc commands of the last invocations that ran any, looked
        # through only when a new unit wants its crate's previous build.
        # Each entry's crate index is made the first time it is looked through.
        self.calls: deque[list[Any]] = deque(maxlen=FRESH_UNITS_INVOCATIONS)
        self.unexplained = 0
        self.time_lost = 0.0
        self.basis: str | None = None
        self.verbose = False
        self.rebuild_runs = 0
        self.rebuilt_packages: set[str] = set()
        self.rebuilt_first: frozenset[str] | None = None
        self.rebuilt_same = True

    def add(self, inv: _Inv) -> None:
        self.count = number = self.count + 1
        rows: list[Unit | _Acc] = []
        inv_units: list[Unit] = []  # the rebuilt and new ones
        fresh = rebuilt = new = compiled = 0
        history = self.history
        intern = sys.intern
        verbose = inv.verbose or inv.fingerprint_log
        self.verbose = self.verbose or inv.verbose
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
            elif acc.fp_new or verbose:
                unit.status = "new"
            elif stale and _json_changed(history.get((acc.package, acc.version)), acc):
                before = history[(acc.package, acc.version)]
                unit.status = "new"
                unit.kind = _json_change_kind(before, acc)
                unit.evidence = "log"
                if unit.kind == FEATURES:
                    unit.old_value = _listed(before.features or ())
                    unit.new_value = _listed(acc.features or ())
                else:
                    unit.old_value, unit.new_value = _profile_change(before, acc)
            else:
                # JSON messages only: `fresh: false` is all there is.
                unit.status = "compiled"
                self.unexplained += 1
            if unit.status == "rebuilt":
                rebuilt += 1
            elif unit.status == "new":
                new += 1
            else:
                compiled += 1
            if acc.features is not None:
                history[(acc.package, acc.version)] = acc
            rows.append(unit)
            inv_units.append(unit)
        if rebuilt or new:
            self._explain(number, inv, rows, inv_units, fresh > 0)
        if inv.running:
            self.calls.append([inv.running, None])
        self.known.update(inv.units)  # (package, version) keys, in C
        self._keep(number, rows, fresh)
        counts = self.counts
        counts["fresh"] += fresh
        counts["rebuilt"] += rebuilt
        counts["new"] += new
        counts["compiled"] += compiled
        if rebuilt:
            self._count_rebuilds(inv_units)
        self._close(number, inv, fresh, rebuilt, new, compiled)

    def _count_rebuilds(self, inv_units: list[Unit]) -> None:
        names = frozenset(u.package for u in inv_units if u.status == "rebuilt")
        self.rebuild_runs += 1
        self.rebuilt_packages.update(names)
        if self.rebuilt_first is None:
            self.rebuilt_first = names
        elif names != self.rebuilt_first:
            self.rebuilt_same = False

    def _close(
        self, number: int, inv: _Inv, fresh: int, rebuilt: int, new: int, compiled: int
    ) -> None:
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
                compiled,
                inv.failed_package,
            )
        )
        while len(self.recent_invocations) > FRESH_UNITS_INVOCATIONS:
            old = self.recent_invocations.popleft()
            if old.rebuilt or old.new or old.failed or old.compiled:
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
        self,
        number: int,
        inv: _Inv,
        rows: list[Unit | _Acc],
        inv_units: list[Unit],
        has_fresh: bool,
    ) -> None:
        """Root causes and cascades of one invocation; new units' likely reasons."""
        # Two versions of one package: key by name for cascades (cargo names
        # packages); the first one wins, fresh or not.
        units: dict[str, Unit] = {}
        for row in rows:
            units.setdefault(row.package, row if isinstance(row, Unit) else _FRESH)
        _resolve_roots(units)
        if any(u.kind == FILE_CHANGED for u in inv_units):
            scripts = {p for p in map(script_run_package, inv.running) if p}
            for u in inv_units:
                if u.kind == FILE_CHANGED and u.package in scripts and not _is_rust(u.reason):
                    u.kind = WATCHED_FILE
        roots = [u for u in inv_units if u.status == "rebuilt" and u.kind != CASCADE and u.reason]
        new_units = [u for u in inv_units if u.status == "new"]
        if new_units:
            self._new_reasons(number, inv, new_units, roots, has_fresh)
        for u in roots:
            self._add_cause(number, u, inv_units)

    def _new_reasons(
        self, number: int, inv: _Inv, new_units: list[Unit], roots: list[Unit], has_fresh: bool
    ) -> None:
        here: dict[str, bytes] = {}
        tests: set[str] = set()
        if any(u.kind is None for u in new_units):
            for command in inv.running:
                key = crate_key(command)
                if key is not None and key[1] != "test":
                    here.setdefault(key[0], command)
                elif key is not None:
                    tests.add(key[0])
        beside = next((k for k in _NEW_BESIDE if any(r.kind == k for r in roots)), None)
        versions: dict[str, set[str]] = {}
        for package, version in self.known:
            versions.setdefault(package, set()).add(version)
        seen_before = any(u.package in versions for u in new_units)
        for u in new_units:
            if u.kind is not None:  # JSON history told
                continue
            crate = u.package.replace("-", "_")
            call = here.get(crate)
            if call is None and crate in tests:
                u.kind, u.evidence = TEST_HARNESS, "log"
                continue
            if call is not None:
                if self.unit_hashes:
                    found = _HASH_FLAG.search(call)
                    u.unit_hash = found.group(1).decode() if found else None
                    u.settings = profile_settings(call, _is_member(u))
                before = self._earlier_call(crate)
                if before is not None and self._from_calls(u, before, call):
                    continue
            earlier_versions = versions.get(u.package)
            if earlier_versions and u.version not in earlier_versions:
                u.kind, u.evidence = DEPENDENCY_VERSION, "log"
                u.old_value, u.new_value = _closest(earlier_versions, u.version), u.version
            elif earlier_versions:
                u.kind = BUILT_BEFORE
            elif beside is not None:
                u.kind = beside
            else:
                u.kind = NEW_NOT_CACHED if has_fresh or seen_before else NEW_COLD
        # Settings that hold for a whole build (flags, profile, target, rustc):
        # what the commands show for some crates holds for those built before.
        shown = next((u for u in new_units if u.evidence == "log" and u.kind in _WHOLE_BUILD), None)
        if shown is not None:
            for u in new_units:
                if u.kind == BUILT_BEFORE:
                    u.kind, u.evidence = shown.kind, "log"
                    u.old_value, u.new_value = shown.old_value, shown.new_value

    def _earlier_call(self, crate: str) -> bytes | None:
        """The last rustc command of ``crate`` (tests aside) in an earlier invocation."""
        for entry in reversed(self.calls):
            index: dict[str, bytes] | None = entry[1]
            if index is None:
                index = {}
                entry[1] = index
                for command in entry[0]:
                    key = crate_key(command)
                    if key is not None and key[1] != "test":
                        index[key[0]] = command
            found = index.get(crate)
            if found is not None:
                return found
        return None

    @staticmethod
    def _from_calls(unit: Unit, earlier: bytes, command: bytes) -> bool:
        first = first_difference(earlier, command)
        if first is None:
            return False
        unit.evidence = "log"
        if first.kind == "dependency-build":
            unit.kind = NEW_CASCADE
            unit.dependency = first.dependencies[0]
            return True
        unit.kind = first.kind
        unit.old_value, unit.new_value = first.old, first.new
        return True

    def _add_cause(self, number: int, u: Unit, inv_units: list[Unit]) -> None:
        # A file's reason carries its mtimes: one cause per file, not per build.
        what = _file_of(u) or _variable_of(u) or u.reason or ""
        key = (u.package, u.version, u.kind or UNKNOWN, what)
        cause = self.causes.get(key)
        if cause is None:
            reason = Reason(
                u.reason or "",
                u.kind or UNKNOWN,
                dependency=u.dependency,
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
        first = self.rebuilt_first
        return RecompileReport(
            invocations=[*self.settled_invocations, *self.recent_invocations],
            units=units,
            root_causes=list(self.causes.values()),
            new_groups=group_new_units(units),
            sources=[],
            unexplained=self.unexplained,
            time_lost_seconds=round(self.time_lost, 2) if self.basis else None,
            time_basis=self.basis,
            counts=dict(self.counts),
            units_truncated=self.units_truncated,
            invocation_count=self.count,
            invocations_truncated=self.invocations_truncated,
            rebuild_runs=self.rebuild_runs,
            rebuilt_crates=len(self.rebuilt_packages),
            rebuilt_each=len(first) if first is not None and self.rebuilt_same else None,
            verbose=self.verbose,
        )


def _listed(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _profile_change(before: _Acc, now: _Acc) -> tuple[str, str]:
    old, new = dict(before.profile or ()), dict(now.profile or ())
    keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
    return (
        ", ".join(f"{k} {old.get(k, 'unset')}" for k in keys),
        ", ".join(f"{k} {new.get(k, 'unset')}" for k in keys),
    )


def _closest(versions: set[str], version: str) -> str:
    """The earlier version most like ``version`` (same major, then minor)."""
    parts = version.split(".")

    def shared(other: str) -> tuple[int, str]:
        same = 0
        for a, b in zip(other.split("."), parts):
            if a != b:
                break
            same += 1
        return same, other

    return max(versions, key=shared)


def _is_rust(reason: str | None) -> bool:
    match = re.match(r"^the file `(.*)` has changed", reason or "")
    if match is None:
        return False
    return match.group(1).endswith(".rs") and not match.group(1).endswith("build.rs")


def _json_changed(before: _Acc | None, now: _Acc) -> bool:
    return before is not None and (before.features != now.features or before.profile != now.profile)


def _json_change_kind(before: _Acc, now: _Acc) -> str:
    return FEATURES if before.features != now.features else PROFILE


def _variable_of(unit: Unit) -> str | None:
    return _variable_in(unit.reason or "")


def _file_of(unit: Unit) -> str | None:
    return _file_in(unit.reason or "")


@functools.lru_cache(maxsize=1024)
def _variable_in(reason: str) -> str | None:
    match = re.match(r"^the env(?:ironment)? variable (\S+) changed$", reason)
    return match.group(1) if match else None


@functools.lru_cache(maxsize=1024)
def _file_in(reason: str) -> str | None:
    match = re.match(r"^the file `(.*)` (?:has changed|is missing|could not be read)", reason)
    return match.group(1) if match else None


_PRECALCULATED = "the precalculated components changed"


def _is_member(unit: Unit) -> bool:
    # Path packages print their directory; registry and git ones do not (git shows a URL).
    path = unit.source_path or ""
    return bool(path) and "://" not in path
