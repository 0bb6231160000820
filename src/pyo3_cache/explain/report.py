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
    status: str  # "fresh" | "rebuilt" | "new" | "compiled" (JSON only: new or rebuilt)
    reason: str | None = None
    root_cause: str | None = None
    kind: str | None = None
    source_path: str | None = None
    dependency: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    unit_hash: str | None = None  # `-C extra-filename` from the log, if verbose
    evidence: str | None = None  # how a new unit's reason is known: "target-dir" | "log"
    settings: str | None = None  # a new unit's profile settings, from its rustc command

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "root_cause": self.root_cause,
            "invocation": self.invocation,
            "kind": self.kind,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "evidence": self.evidence,
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
        if self.file and self.kind == "watched-file":
            return f"`{self.file}` changed (a file {self.package}'s build script watches)"
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
    """Units compiled with no previous build of the same hash, grouped by reason.

    ``packages`` changed themselves (another version, features, flags...);
    ``cascade`` are new only because a dependency in ``packages`` is;
    ``rebuilt`` were rebuilt (same hash, cargo's ``Dirty``) because of them.
    """

    kind: str
    reason: str
    hint: str
    packages: list[str] = field(default_factory=list)
    invocations: list[int] = field(default_factory=list)
    cascade: list[str] = field(default_factory=list)
    rebuilt: list[str] = field(default_factory=list)
    old_value: str | None = None
    new_value: str | None = None
    evidence: str | None = None  # "target-dir" | "log" | None (a guess)
    phrase: str = ""
    """Short words for a headline ("once_cell 1.21.4 → 1.21.3"); empty for the
    groups that only say no previous build exists (cold or pruned cache)."""
    short: str = ""
    """For those groups: a few words for the headline ("cold cache")."""

    @property
    def size(self) -> int:
        return len(self.packages) + len(self.cascade) + len(self.rebuilt)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "hint": self.hint,
            "packages": self.packages,
            "invocations": self.invocations,
            "cascade": self.cascade,
            "rebuilt": self.rebuilt,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "evidence": self.evidence,
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
    compiled: int = 0
    failed_package: str | None = None

    @property
    def counts(self) -> dict[str, int]:
        return {
            "fresh": self.fresh,
            "rebuilt": self.rebuilt,
            "new": self.new,
            "compiled": self.compiled,
        }

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "line": self.first_line,
            "profile": self.profile,
            "seconds": self.seconds,
            "rebuild_seconds": self.rebuild_seconds,
            "failed": self.failed,
            "failed_package": self.failed_package,
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
    counts: dict[str, int] = field(
        default_factory=lambda: {"fresh": 0, "rebuilt": 0, "new": 0, "compiled": 0}
    )
    """Units per status over the whole log, listed or not."""
    units_truncated: int = 0
    """Fresh units counted in ``counts`` but not listed in ``units``."""
    invocation_count: int = 0
    """Cargo invocations in the logs, listed or not."""
    invocations_truncated: int = 0
    """Invocations that rebuilt nothing, counted but not listed in ``invocations``."""
    rebuild_runs: int = 0
    """Invocations that rebuilt something."""
    rebuilt_crates: int = 0
    """Distinct packages rebuilt over the whole log."""
    rebuilt_each: int | None = None
    """The number of crates every rebuilding invocation rebuilt, when it is the same
    packages each time ("3 crates rebuilt in each of 2 cargo runs")."""
    verbose: bool = False
    """Some invocation printed verbose status lines (Fresh/Dirty/Running)."""
    notes: list[str] = field(default_factory=list)
    """What the report could not use (an empty target dir...)."""
    target_dir_records: int = 0
    """Fingerprint records read from the target dir (0: none given or none there)."""

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
    def failures(self) -> list[Invocation]:
        return [i for i in self.invocations if i.failed]

    def _rebuilt_words(self, rebuilt: int) -> str:
        runs = self.rebuild_runs
        if runs > 1 and rebuilt == self.counts["rebuilt"]:
            if self.rebuilt_each:
                return f"{_plural(self.rebuilt_each, 'crate')} rebuilt in each of {runs} cargo runs"
            crates = _plural(self.rebuilt_crates, "crate")
            return f"{crates} rebuilt ({rebuilt} times over {runs} cargo runs)"
        return f"{_plural(rebuilt, 'crate')} rebuilt"

    def _units_words(self, rebuilt: int, new: int) -> str:
        if rebuilt and new:
            return f"{self._rebuilt_words(rebuilt)} and {new} compiled anew"
        if new:
            return f"{_plural(new, 'crate')} compiled anew"
        return self._rebuilt_words(rebuilt)

    @property
    def headline(self) -> str:
        if not self.invocations:
            notes = "; ".join(s.note for s in self.sources if s.note)
            return "No cargo output found" + (f" ({notes})" if notes else "")
        head = self._changes_headline()
        failures = self.failures
        if not failures:
            return head
        named = sorted({f"`{i.failed_package}`" for i in failures if i.failed_package})
        where = f"could not compile {', '.join(named)}" if named else "a cargo run failed"
        runs = "" if len(failures) == 1 else f" in {len(failures)} cargo runs"
        return f"Build failed: {where}{runs}; {head[0].lower()}{head[1:]}"

    def _changes_headline(self) -> str:
        counts = self.counts
        # (units, new units, phrase); a cause and a group of the same kind
        # without values (features changed: the lib rebuilt, its deps new) are one.
        merged: dict[object, list[Any]] = {}
        for cause in self.root_causes:
            plain = not (cause.variable or cause.file or cause.old_value or cause.new_value)
            entry = merged.setdefault(cause.kind if plain else id(cause), [0, 0, cause.phrase])
            entry[0] += cause.rebuilt_units
        new_explained = 0
        for group in self.new_groups:
            if group.phrase:
                new = len(group.packages) + len(group.cascade)
                new_explained += new
                plain = not (group.old_value or group.new_value)
                entry = merged.setdefault(group.kind if plain else id(group), [0, 0, group.phrase])
                entry[0] += group.size
                entry[1] += new
        explained = sorted(
            ((n, new, phrase) for n, new, phrase in merged.values()), key=lambda e: -e[0]
        )
        rebuilt_explained = sum(n - new for n, new, _ in explained)
        rebuilt_left = max(0, counts["rebuilt"] - rebuilt_explained)
        new_left = max(0, counts["new"] - new_explained)
        pieces: list[str] = []
        if explained:
            words = self._units_words(rebuilt_explained, new_explained)
            if len(explained) == 1:
                pieces.append(f"{words} because {explained[0][2]}")
            else:
                shown = ", ".join(f"{n} because {p}" for n, _, p in explained[:3])
                more = f" and {len(explained) - 3} more causes" if len(explained) > 3 else ""
                pieces.append(f"{words}: {shown}{more}")
        unnamed = sum(
            1
            for u in self.units
            if u.status == "rebuilt" and u.kind == "dependency-rebuilt" and u.root_cause is None
        )
        if rebuilt_left and unnamed >= rebuilt_left:
            pieces.append(
                f"{self._rebuilt_words(rebuilt_left)} because a dependency changed that the log "
                "does not name (CARGO_LOG gives a unit index only: add -v)"
            )
        elif rebuilt_left:
            pieces.append(
                f"{self._rebuilt_words(rebuilt_left)}; the log does not say why"
                + (" (cargo output was not verbose)" if not self.verbose else "")
            )
        if new_left:
            generic = next((g for g in self.new_groups if not g.phrase), None)
            why = f" ({generic.short})" if generic is not None and generic.short else ""
            pieces.append(f"{_plural(new_left, 'crate')} compiled with no previous build{why}")
        if counts.get("compiled"):
            pieces.append(
                f"{_plural(counts['compiled'], 'crate')} compiled "
                "(the log cannot tell new from rebuilt: JSON messages only)"
            )
        if pieces:
            return "; ".join(pieces)
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
            "failures": [
                {"invocation": i.index, "package": i.failed_package} for i in self.failures
            ],
            "rebuilt_crates": self.rebuilt_crates,
            "rebuild_runs": self.rebuild_runs,
            "target_dir_records": self.target_dir_records,
            "sources": [s.to_json() for s in self.sources],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
