"""The report records: units, root causes, groups of new units, invocations.

What renderers and the JSON contract read; built by causes.py.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

# Units and invocations are the records a long log makes many of: slots keep
# each one small (Python >= 3.10; on 3.9 they are ordinary dataclasses).
_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}

FRESH_UNITS_INVOCATIONS = 20
"""Fresh units, and invocations that rebuilt nothing, are listed for the last
this many cargo invocations only; older ones are counted (``counts``,
``units_truncated``, ``invocation_count``, ``invocations_truncated``) but not
listed, so a log of thousands of invocations gives a report of what matters.
Rebuilt and new units, invocations that rebuilt or failed, and root causes are
always listed."""


@dataclass(**_SLOTS)
class Unit:
    """One package in one cargo invocation, as cargo's status lines count them."""

    invocation: int
    package: str
    version: str
    status: str  # "fresh" | "rebuilt" | "new"
    reason: str | None = None
    root_cause: str | None = None
    kind: str | None = None
    source_path: str | None = None
    dependency: str | None = None
    old_value: str | None = None
    new_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "root_cause": self.root_cause,
            "invocation": self.invocation,
            "kind": self.kind,
        }


@dataclass
class RootCause:
    package: str
    version: str
    kind: str
    reason: str
    hint: str
    variable: str | None = None
    file: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    invocations: list[int] = field(default_factory=list)
    cascade: list[str] = field(default_factory=list)
    """Packages rebuilt only because of this one (in the same invocations)."""
    rebuilt_units: int = 0
    """Units rebuilt because of this cause, itself included, over all its invocations."""

    @property
    def phrase(self) -> str:
        """Short words for a headline: "PYO3_PYTHON changed"."""
        if self.variable:
            return f"{self.variable} changed"
        if self.file:
            return f"`{self.file}` changed"
        return self.reason

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "kind": self.kind,
            "reason": self.reason,
            "hint": self.hint,
            "variable": self.variable,
            "file": self.file,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "invocations": self.invocations,
            "cascade": self.cascade,
        }


@dataclass
class NewGroup:
    """Units compiled with no previous build, grouped by the likely reason."""

    kind: str
    reason: str
    hint: str
    packages: list[str] = field(default_factory=list)
    invocations: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "hint": self.hint,
            "packages": self.packages,
            "invocations": self.invocations,
        }


@dataclass(**_SLOTS)
class Invocation:
    index: int
    source: str
    first_line: int
    profile: str | None = None
    seconds: float | None = None  # cargo's own "Finished ... in Xs"
    rebuild_seconds: float | None = None  # from GitHub timestamps, if any
    failed: bool = False
    fresh: int = 0
    rebuilt: int = 0
    new: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"fresh": self.fresh, "rebuilt": self.rebuilt, "new": self.new}

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "line": self.first_line,
            "profile": self.profile,
            "seconds": self.seconds,
            "rebuild_seconds": self.rebuild_seconds,
            "failed": self.failed,
            "counts": self.counts,
        }


@dataclass
class SourceSummary:
    """What was read from one input, so a report can say "this is not a cargo log"."""

    name: str
    bytes: int
    lines: int
    cargo_lines: int
    kinds: list[str]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": self.bytes,
            "lines": self.lines,
            "cargo_lines": self.cargo_lines,
            "kinds": self.kinds,
            "note": self.note,
        }


@dataclass
class RecompileReport:
    invocations: list[Invocation]
    """Invocations that rebuilt, compiled something new or failed, and the last
    ``FRESH_UNITS_INVOCATIONS`` (``invocation_count`` counts them all)."""
    units: list[Unit]
    """Every rebuilt and new unit; fresh units of the last ``FRESH_UNITS_INVOCATIONS``
    invocations only (``units_truncated`` counts the others)."""
    root_causes: list[RootCause]
    new_groups: list[NewGroup]
    sources: list[SourceSummary]
    unexplained: int = 0
    """Compiled units whose log says nothing about why (not verbose, JSON only)."""
    time_lost_seconds: float | None = None
    time_basis: str | None = None  # "timestamps" | "cargo" | None
    counts: dict[str, int] = field(default_factory=lambda: {"fresh": 0, "rebuilt": 0, "new": 0})
    """Units per status over the whole log, listed or not."""
    units_truncated: int = 0
    """Fresh units counted in ``counts`` but not listed in ``units``."""
    invocation_count: int = 0
    """Cargo invocations in the logs, listed or not."""
    invocations_truncated: int = 0
    """Invocations that rebuilt nothing, counted but not listed in ``invocations``."""

    @property
    def number_of_invocations(self) -> int:
        return max(self.invocation_count, len(self.invocations))

    @property
    def found_cargo_output(self) -> bool:
        return bool(self.invocations)

    def cascade_size(self, cause: RootCause) -> int:
        """Units rebuilt because of this cause, itself included."""
        return cause.rebuilt_units

    @property
    def headline(self) -> str:
        if not self.invocations:
            notes = "; ".join(s.note for s in self.sources if s.note)
            return "No cargo output found" + (f" ({notes})" if notes else "")
        counts = self.counts
        crates = _plural(counts["rebuilt"], "crate")
        if self.root_causes:
            parts = [
                (self.cascade_size(c), c.phrase)
                for c in sorted(self.root_causes, key=lambda c: -self.cascade_size(c))
            ]
            if len(parts) == 1:
                head = f"{crates} rebuilt because {parts[0][1]}"
            else:
                shown = ", ".join(f"{n} because {p}" for n, p in parts[:3])
                more = f" and {len(parts) - 3} more causes" if len(parts) > 3 else ""
                head = f"{crates} rebuilt: {shown}{more}"
            if counts["new"]:
                head += f"; {counts['new']} compiled with no previous build"
            return head
        if counts["rebuilt"]:
            return f"{crates} rebuilt; the log does not say why (cargo output was not verbose)"
        if counts["new"]:
            return f"{_plural(counts['new'], 'crate')} compiled with no previous build"
        invocations = _plural(self.number_of_invocations, "cargo invocation")
        if not counts["fresh"]:
            return f"Nothing compiled in {invocations}"
        return f"Nothing rebuilt: {counts['fresh']} fresh in {invocations}"

    def to_json(self) -> dict[str, Any]:
        return {
            "invocations": self.number_of_invocations,
            "counts": dict(self.counts),
            "units": [u.to_json() for u in self.units],
            "units_truncated": self.units_truncated,
            "root_causes": [c.to_json() for c in self.root_causes],
            "new": [g.to_json() for g in self.new_groups],
            "headline": self.headline,
            "unexplained": self.unexplained,
            "time_lost_seconds": self.time_lost_seconds,
            "time_basis": self.time_basis,
            "invocation_details": [i.to_json() for i in self.invocations],
            "invocations_truncated": self.invocations_truncated,
            "sources": [s.to_json() for s in self.sources],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
