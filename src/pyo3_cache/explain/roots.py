"""Which reason a package gets, and where each cascade starts.

A package has several units (its build script, the script's run, the lib);
cargo prints one status per package, ``CARGO_LOG`` one line per unit.
``_pick_reason`` chooses the package's reason; ``_resolve_roots`` follows
each cascade (``info of dependency `x` changed``) through the dependencies
cargo names to the unit that changed by itself.
"""

from __future__ import annotations

from pyo3_cache.explain.builder import _Acc
from pyo3_cache.explain.reasons import CASCADE, OTHER_BUILD, Reason
from pyo3_cache.explain.report import Unit

# Stands for a fresh unit where cascades are followed: a cascade that reaches
# it has no rebuilt root there.
_FRESH = Unit(0, "", "", "fresh")


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
    """Follow each cascade through the dependencies cargo names to its root.

    A cascade whose named dependency is fresh in the same run was last built
    against another build of it: cargo (1.95) keeps one fingerprint slot for a
    crate whose file name has no hash (a cdylib), so ``cargo build`` and
    ``maturin build`` with other pyo3 features take turns overwriting it and
    print ``info of dependency `pyo3` changed`` while pyo3 itself is Fresh.
    """
    for unit in units.values():
        if (
            unit.status == "rebuilt"
            and unit.kind == CASCADE
            and unit.dependency
            and units.get(unit.dependency) is _FRESH
        ):
            unit.kind = OTHER_BUILD
            unit.reason = (
                f"last built against a different build of {unit.dependency} "
                "(features differ between the commands that build this crate)"
            )
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
        named = True
        while current is not None and current.kind == CASCADE:
            dep = current.dependency
            if dep is None or dep in seen or dep not in units:
                named = dep is not None and dep in seen
                current = None
                break
            seen.add(dep)
            current = units[dep]
        if current is not None and current.status in ("rebuilt", "new"):
            root = current.package
        elif not named and len(roots) == 1 and roots[0].package != unit.package:
            # An unnamed dependency (cargo 1.95's CARGO_LOG names a unit index;
            # cargo < 1.77 no name at all): one root cause in the run explains it.
            root = roots[0].package
        unit.root_cause = root
