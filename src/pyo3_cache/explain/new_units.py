"""Why units were compiled anew, and their groups in the report.

cargo gives a unit a new hash, so no ``Dirty`` line and only ``Compiling``,
when an input of the hash changes: the locked version, a dependency added,
features, the profile, RUSTFLAGS, ``--target``, rustc, or only a
dependency's hash (the unit follows its dependency: a cascade).  The reason
comes from the best evidence there is: the target dir's fingerprint records
(target_dir.py), else the rustc commands of earlier invocations in the same
log (commands.py) or JSON messages' features and profile, else only what
the log shows about the rest of the build (cold cache, pruned cache).
"""

from __future__ import annotations

import functools

from pyo3_cache.explain.hints import hint_for
from pyo3_cache.explain.reasons import (
    CONFIG_SETTINGS,
    FEATURES,
    NEW_COLD,
    NEW_NOT_CACHED,
    PROFILE,
    RUSTFLAGS,
    TARGET,
    TOOLCHAIN,
    Reason,
)
from pyo3_cache.explain.report import NewGroup, Unit
from pyo3_cache.explain.target_dir import (
    TargetDirIndex,
    compare_records,
    current_unit,
    previous_unit,
)

DEPENDENCY_VERSION = "dependency-version"
NEW_DEPENDENCY = "new-dependency"
NEW_CASCADE = "dependency-changed"
"""New only because a dependency's hash changed (the dependency explains it)."""
BUILT_BEFORE = "built-before"
"""Built earlier in the same log, with settings the log does not show."""
TEST_HARNESS = "test-harness"
"""``cargo test`` builds a crate again with ``--test``: a unit of its own."""

_GENERIC = (NEW_COLD, NEW_NOT_CACHED, BUILT_BEFORE, TEST_HARNESS)


@functools.cache
def _hint(kind: str) -> str:
    if kind == DEPENDENCY_VERSION:
        return (
            "Cargo.lock changed (cargo update, a bumped requirement): the crates that use "
            "the new version are built once per change. `pyo3-cache key` shows the lock "
            "part of the key before the build, so such a job is known to be partly cold."
        )
    if kind == NEW_DEPENDENCY:
        return (
            "A dependency was added or removed: the crates that depend on it get a new "
            "build once; expected after a Cargo.toml change."
        )
    if kind == BUILT_BEFORE:
        return (
            "The same crates were built earlier in this log with other settings (features, "
            "profile, RUSTFLAGS, target). Build with one set of settings in every step, or "
            "pass --target-dir to `pyo3-cache explain` to see which setting differs."
        )
    if kind == TEST_HARNESS:
        return (
            "`cargo test` compiles each crate a second time as a test harness (--test), "
            "next to its lib or bin build: expected the first time tests are built. Save the "
            "cache after a job that ran both the build and the tests."
        )
    if kind == NEW_COLD:
        return (
            "Check that the cache was restored (key hit?) into the target dir cargo uses "
            "(CARGO_TARGET_DIR) and that it was saved after a build of the same kind."
        )
    if kind == NEW_NOT_CACHED:
        return (
            "If the cache was restored, check that it was saved after the same kind of "
            "build (same features, profile, RUSTFLAGS) and that pruning did not remove "
            "these units."
        )
    return hint_for(Reason(kind, kind))


def describe(kind: str, package: str, old: str | None, new: str | None) -> tuple[str, str, str]:
    """(reason, headline phrase, hint) of a new unit's kind and values."""
    phrases = _phrases(kind, package, old, new)
    if phrases is None:
        return (
            "not in the target dir although other units were: a pruned or partial cache, "
            "a new dependency, or a flag/feature set not built before",
            "",
            _hint(NEW_NOT_CACHED),
        )
    return (*phrases, _hint(kind))


_SETTINGS = {FEATURES: "features", RUSTFLAGS: "rustflags", TARGET: "target"}


def _phrases(kind: str, package: str, old: str | None, new: str | None) -> tuple[str, str] | None:
    """(reason, headline phrase) of a kind describe knows by name; None for the rest."""
    change = f"{old} → {new}" if old and new else (new or old or "")
    if not change and kind in _SETTINGS:
        what = _SETTINGS[kind]
        return (
            f"the {what} changed: each flag or feature set is a separate build of its own",
            f"the {what} changed",
        )
    if kind == DEPENDENCY_VERSION:
        return f"the locked version of {package} changed: {change}", f"{package} {change}"
    if kind == NEW_DEPENDENCY:
        return f"a dependency was added or removed: {change}", f"a dependency changed ({change})"
    if kind == FEATURES:
        return (
            f"the features of {package} changed: {change}",
            f"{package}'s features changed ({change})",
        )
    if kind == PROFILE:
        if new and not old:
            return (
                f"the profile settings differ from the earlier build; now: {new}",
                f"the profile changed (now {new})",
            )
        if old and new:
            return f"the profile changed: {change}", f"the profile changed ({change})"
        return (
            "the profile settings differ from the earlier build "
            "(CARGO_PROFILE_*, [profile], --release)",
            "the profile changed",
        )
    if kind in (RUSTFLAGS, TARGET):
        what = _SETTINGS[kind]
        return f"the {what} changed: {change}", f"the {what} changed ({change})"
    if kind == TOOLCHAIN:
        return "another rustc than the earlier build", "the toolchain changed"
    if kind == CONFIG_SETTINGS:
        return "a cargo config setting differs from the earlier build", "a cargo setting changed"
    if kind == BUILT_BEFORE:
        return "built earlier in this log, with other settings the log does not show", ""
    if kind == TEST_HARNESS:
        return "the test harness build (cargo test): no earlier test build", ""
    if kind == NEW_COLD:
        return (
            "nothing was reused: a cold cache (no cache hit, a different target dir, or a "
            "cache saved by a different build)",
            "",
        )
    return None


_SHORT = {
    NEW_COLD: "nothing reused: a cold cache, or settings that changed for every crate",
    NEW_NOT_CACHED: "not in the target dir",
    BUILT_BEFORE: "built earlier with other settings",
    TEST_HARNESS: "test harness builds, none before",
}


def _key(unit: Unit) -> tuple[str, str, str, str]:
    kind = unit.kind or NEW_NOT_CACHED
    if kind in (DEPENDENCY_VERSION, FEATURES) and (unit.old_value or unit.new_value):
        return (kind, unit.package, unit.old_value or "", unit.new_value or "")
    if kind in _GENERIC:
        return (kind, "", "", "")
    if kind == PROFILE:
        return (kind, "", unit.old_value or "", "")
    return (kind, "", unit.old_value or "", unit.new_value or "")


def _normal(name: str) -> str:
    return name.replace("-", "_")


def group_new_units(units: list[Unit]) -> list[NewGroup]:
    """Groups of new units (one per reason), with their cascades and the rebuilt
    units whose root is one of them; sets each unit's ``reason`` and ``root_cause``."""
    groups: dict[tuple[str, str, str, str], NewGroup] = {}
    by_inv: dict[int, dict[str, Unit]] = {}
    for unit in units:
        if unit.status == "new":
            by_inv.setdefault(unit.invocation, {})[_normal(unit.package)] = unit
    group_of: dict[tuple[int, str], NewGroup] = {}

    def root_of(unit: Unit) -> Unit:
        seen = {unit.package}
        current = unit
        new_here = by_inv.get(unit.invocation, {})
        while current.kind == NEW_CASCADE and current.dependency:
            nxt = new_here.get(_normal(current.dependency))
            if nxt is None or nxt.package in seen:
                break
            seen.add(nxt.package)
            current = nxt
        return current

    cascades: list[tuple[Unit, Unit]] = []
    for unit in units:
        if unit.status != "new":
            continue
        root = root_of(unit)
        if root.kind == NEW_CASCADE:
            # A dependency built differently that is not new here: say so plainly.
            root.kind = BUILT_BEFORE
        if root is not unit:
            cascades.append((unit, root))
            continue
        group = _group_for(groups, unit)
        if unit.package not in group.packages:
            group.packages.append(unit.package)
        if group.kind == PROFILE and len(unit.new_value or "") > len(group.new_value or ""):
            # Registry crates are never incremental: the longest settings say most.
            group.new_value = unit.new_value
            group.reason, group.phrase, _ = describe(PROFILE, "", group.old_value, unit.new_value)
        if not group.invocations or group.invocations[-1] != unit.invocation:
            group.invocations.append(unit.invocation)
        group_of[(unit.invocation, unit.package)] = group
        unit.root_cause = unit.package
    for unit, root in cascades:
        group = group_of[(root.invocation, root.package)]
        unit.root_cause = root.package
        unit.reason = f"its dependency {root.package} is a new build"
        if unit.package not in group.cascade and unit.package not in group.packages:
            group.cascade.append(unit.package)
    for unit in units:
        if unit.status == "rebuilt" and unit.root_cause and unit.root_cause != unit.package:
            root_group = group_of.get((unit.invocation, unit.root_cause))
            if root_group is not None and unit.package not in root_group.rebuilt:
                root_group.rebuilt.append(unit.package)
    return list(groups.values())


def _group_for(groups: dict[tuple[str, str, str, str], NewGroup], unit: Unit) -> NewGroup:
    key = _key(unit)
    group = groups.get(key)
    if group is None:
        kind = key[0]
        reason, phrase, hint = describe(kind, unit.package, unit.old_value, unit.new_value)
        group = groups[key] = NewGroup(
            kind,
            reason,
            hint,
            old_value=unit.old_value,
            new_value=unit.new_value,
            evidence=unit.evidence,
            phrase=phrase,
            short=_SHORT.get(kind, ""),
        )
    if unit.reason is None or unit.kind not in _GENERIC:
        unit.reason = group.reason
    return group


def explain_from_target_dir(units: list[Unit], index: TargetDirIndex) -> int:
    """Give new units the reason the target dir's records show; the number explained.

    A unit's record from this build is the one whose hash the log names
    (``-C extra-filename``), else its newest; the previous unit is the closest
    other record of the same package and target (``previous_unit``).
    """
    explained = 0
    added: set[str] = set()
    pending: list[Unit] = []
    for unit in units:
        if unit.status not in ("new", "compiled"):
            continue
        current = current_unit(index, unit.package, unit.unit_hash)
        if current is None:
            continue
        previous = previous_unit(index, current)
        if previous is None:
            others = [r for r in index.units(unit.package) if r.hash != current.hash]
            if current.file.startswith("test-") and unit.status == "new":
                unit.kind, unit.evidence = TEST_HARNESS, "target-dir"
                explained += 1
            elif others and unit.kind == NEW_COLD:
                unit.kind = NEW_NOT_CACHED  # built before, in another form: not cold
            pending.append(unit)
            continue
        differences = compare_records(index, previous, current)
        if not differences:
            continue
        first = differences[0]
        unit.status = "new"  # JSON-only "compiled": the records show it is a new build
        for diff in differences:
            if diff.kind == NEW_DEPENDENCY and diff.new.startswith("+ ") and diff.dependency:
                added.add(diff.dependency)
        explained += 1
        if unit.evidence == "log" and unit.kind == first.kind and unit.old_value:
            continue  # the log's rustc commands have the values (opt-level 3 → 2)
        unit.evidence = "target-dir"
        unit.reason = None
        unit.dependency = first.dependency
        if first.kind == "dependency-build":
            unit.kind = NEW_CASCADE
            unit.old_value = unit.new_value = None
            continue
        unit.kind = first.kind
        values = first.kind != PROFILE or previous.profile_dir != current.profile_dir
        unit.old_value = first.old if values else None
        unit.new_value = first.new if values else unit.settings
    for unit in pending:
        if unit.package.replace("-", "_") in added or unit.package in added:
            unit.status = "new"
            unit.kind, unit.evidence, unit.reason = NEW_DEPENDENCY, "target-dir", None
            unit.old_value, unit.new_value = None, f"+ {unit.package}"
            explained += 1
    return explained


def regroup(units: list[Unit]) -> list[NewGroup]:
    """``group_new_units`` again after units got better reasons."""
    for unit in units:
        if unit.status == "new":
            unit.root_cause = None
            if unit.evidence == "target-dir":
                unit.reason = None
    return group_new_units(units)
