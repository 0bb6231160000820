"""Faults injected into the action's flow (restore → pin → build → explain → save).

``tests/integration/test_fault_injection.py`` runs each one through the
composite actions with the runner harness (``tests/action_runner.py``);
``report.py`` lists them in ``docs/reliability.md``.  The rule every fault
checks: the job's outcome is the build's, never ours, and a warning says what
was skipped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Fault:
    id: str
    injected: str  # what breaks, in words
    build: str  # "passes", "fails" or "cancelled"
    job_outcome: str  # the job's status after our save action: the build's
    saved: bool  # whether a cache entry is saved
    says: str  # what our log / job summary says about it


FAULTS: list[Fault] = [
    Fault(
        "cache-restore-fails",
        "the cache service fails the restore",
        "passes",
        "success",
        True,
        "the cache restore step failed; the build ran on a cold cache",
    ),
    Fault(
        "cache-save-fails",
        "the cache service fails the save",
        "passes",
        "success",
        False,
        "save step failed; output saved is false",
    ),
    Fault(
        "install-fails",
        "pyo3-cache cannot be installed (no such Python)",
        "passes",
        "success",
        False,
        "pyo3-cache/save runs after the pyo3-cache action; nothing to save",
    ),
    Fault(
        "rest-api-rate-limited",
        "GitHub's REST API answers 429 with Retry-After: 3600",
        "passes",
        "success",
        True,
        "updating the PR comment skipped: GitHub rate limit",
    ),
    Fault(
        "rest-api-fork-token",
        "a fork's read-only token (403 on the comment)",
        "passes",
        "success",
        True,
        "the report is in the job summary instead",
    ),
    Fault(
        "build-fails",
        "the build fails to compile (cache-on-failure: false)",
        "fails",
        "failure",
        False,
        "the job failed; set cache-on-failure to save anyway",
    ),
    Fault(
        "build-fails-cache-on-failure",
        "the build fails to compile (cache-on-failure: true)",
        "fails",
        "failure",
        True,
        "could not compile",
    ),
    Fault(
        "job-cancelled",
        "the job is cancelled while a build script runs",
        "cancelled",
        "cancelled",
        False,
        "the job was cancelled; set cache-on-failure to save anyway",
    ),
]
