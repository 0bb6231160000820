"""Findings of the bytecode audit, their severities, and the report."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ERROR_KINDS = frozenset(
    {
        "foreign-tag",
        "magic-mismatch",
        "orphan",
        "stale",
        "truncated",
        "unknown-magic",
        "unreadable",
    }
)
WARNING_KINDS = frozenset({"unchecked-hash", "bad-wheel-name"})
NOTE_KINDS = frozenset({"pyc-in-wheel", "pyc-in-sdist"})
# What --fix deletes: bytecode no interpreter can use as it is.
FIXABLE_KINDS = frozenset(
    {"foreign-tag", "magic-mismatch", "orphan", "stale", "truncated", "unknown-magic"}
)


def severity_of(kind: str) -> str:
    if kind in ERROR_KINDS:
        return "error"
    if kind in WARNING_KINDS:
        return "warning"
    return "note"


@dataclass
class Finding:
    path: str
    """``dir/pkg/__pycache__/m.cpython-311.pyc``; inside an archive ``ARCHIVE!MEMBER``."""
    kind: str
    detail: str
    fixed: bool = False

    @property
    def severity(self) -> str:
        return severity_of(self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "detail": self.detail,
            "severity": self.severity,
            "fixed": self.fixed,
        }


@dataclass
class ArtifactSummary:
    """One PATH (or an archive found in a directory) and what was expected of it."""

    path: str
    kind: str
    """``wheel``, ``sdist``, ``conda``, ``directory`` or ``pyc``."""
    expected: str | None
    """``CPython 3.11`` or None when nothing names one interpreter."""
    expected_from: str
    pyc_files: int = 0
    tags: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "expected": self.expected,
            "expected_from": self.expected_from,
            "pyc_files": self.pyc_files,
            "tags": dict(self.tags),
        }


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    """``.pyc`` files examined."""
    artifacts: list[ArtifactSummary] = field(default_factory=list)
    not_fixed: list[str] = field(default_factory=list)
    """Archives with findings that ``--fix`` left alone (never edited in place)."""
    skipped: list[str] = field(default_factory=list)
    """Entries not examined, with the reason (symlinks out of the tree)."""

    def count(self, severity: str, include_fixed: bool = False) -> int:
        return sum(
            1 for f in self.findings if f.severity == severity and (include_fixed or not f.fixed)
        )

    @property
    def has_errors(self) -> bool:
        """An error finding is left (fixed ones do not count)."""
        return self.count("error") > 0

    @property
    def exit_code(self) -> int:
        return 1 if self.has_errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            **findings_json(self),
            "notes": self.count("note"),
            "fixed": sum(1 for f in self.findings if f.fixed),
            "artifacts": [a.to_json() for a in self.artifacts],
            "not_fixed": list(self.not_fixed),
            "skipped": list(self.skipped),
        }


class _Finding(Protocol):
    def to_json(self) -> Any: ...


class FindingsReport(Protocol):
    """What both audits' reports (this one and ``wheels/audit.py``'s) have."""

    @property
    def findings(self) -> Sequence[_Finding]: ...

    @property
    def checked(self) -> int: ...

    def count(self, severity: str) -> int: ...

    def to_json(self) -> dict[str, Any]: ...


def findings_json(report: FindingsReport) -> dict[str, Any]:
    """What an audit's JSON starts with: the findings, how many were checked, the counts."""
    return {
        "findings": [f.to_json() for f in report.findings],
        "checked": report.checked,
        "errors": report.count("error"),
        "warnings": report.count("warning"),
    }
