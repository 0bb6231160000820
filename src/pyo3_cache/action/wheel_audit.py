"""The save action's ``action audit-wheels`` step: the built wheels' tags against their modules.

Same switch as the bytecode audit beside it (input ``audit-wheels``: warn,
error, off): findings are warnings in the log and a section in the job
summary; with ``error``, an error finding makes the next step fail the job.
The wheels are where the wheel steps found them (``PYO3_CACHE_DIST``, else
``dist``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from pyo3_cache.action.state import guarded
from pyo3_cache.explain.render import escape_markdown
from pyo3_cache.github import files as github
from pyo3_cache.github import log
from pyo3_cache.wheels.audit import WheelReport, audit_dist_wheels, render_markdown

MODES = ("warn", "error", "off")


def wheel_audit_markdown(report: WheelReport, dist: Path) -> str:
    errors, warnings = report.count("error"), report.count("warning")
    return (
        f"## pyo3-cache: wheel tags in {escape_markdown(dist.name)}/\n\n"
        "> [!WARNING]\n"
        f"> {errors} error(s) and {warnings} warning(s): extension modules that the wheel's "
        "tags do not describe install and then fail on import. "
        "Set `audit-wheels: error` to fail the job on them.\n\n" + render_markdown(report)
    )


def audit_step(
    env: Mapping[str, str] | None,
    *,
    switch: str,
    audit: Callable[[Path], Any],
    nothing: str,
    shown: Callable[[Any], bool],
    tally: Callable[[Any, Path], str],
    markdown: Callable[[Any, Path], str],
    failed: Callable[[Any], bool],
    output: str = "failed",
) -> bool:
    """One audit step of the save action, switched by input ``switch`` (warn, error, off).

    ``audit(dist)`` gives a report with ``findings`` (None: no wheels); the ``shown``
    findings are warnings in the log, ``tally`` the closing line, ``markdown`` the summary
    section; True (and output ``failed=true``) when ``error`` asks and ``failed(report)``.
    """
    env = dict(os.environ if env is None else env)
    mode = (env.get("INPUT_" + switch.upper().replace("-", "_")) or "warn").strip().lower()
    if mode not in MODES:
        log.warn(f"{switch}: {mode!r} is not one of {', '.join(MODES)}; using warn")
        mode = "warn"
    fail = False
    if mode != "off":
        dist = Path(env.get("PYO3_CACHE_DIST") or "dist")
        report = audit(dist)
        if report is None:
            log.info(f"no wheels in {dist}: {nothing}")
        else:
            for finding in report.findings:
                if shown(finding):
                    log.warn(f"{finding.kind}: {finding.path}: {finding.detail}")
            log.info(tally(report, dist))
            summary = (env.get("INPUT_SUMMARY", "true") or "").strip().lower()
            if report.findings and summary in ("true", "1", "yes", "on"):
                github.append_summary(markdown(report, dist))
            fail = mode == "error" and failed(report)
    github.append_output({output: "true" if fail else "false"})
    return fail


def action_audit_wheels(env: Mapping[str, str] | None = None, output: str = "failed") -> bool:
    """Audit ``dist/*.whl``; True (and output ``failed=true``) when the job should fail."""
    return audit_step(
        env,
        switch="audit-wheels",
        audit=audit_dist_wheels,
        nothing="no wheel tags to audit",
        shown=lambda finding: True,
        tally=lambda report, dist: (
            f"wheel audit of {dist}: {report.checked} extension module(s) in "
            f"{len(report.wheels)} wheel(s), {report.count('error')} error(s), "
            f"{report.count('warning')} warning(s)"
        ),
        markdown=wheel_audit_markdown,
        failed=lambda report: report.exit_code != 0,
        output=output,
    )


def audit_markdown(report: Any, dist: Path) -> str:
    """The job summary's bytecode section: a warning callout over the audit's table."""
    from pyo3_cache.bytecode.audit import render_markdown

    errors, warnings = report.count("error"), report.count("warning")
    lines = [f"## pyo3-cache: bytecode in {escape_markdown(dist.name)}/", ""]
    if errors or warnings:
        lines += [
            "> [!WARNING]",
            f"> The built wheels hold {errors} bytecode error(s) and {warnings} warning(s): "
            "`.pyc` files another interpreter cannot use, or that it recompiles on import. "
            "Set `audit-bytecode: error` to fail the job on them.",
            "",
        ]
    body = render_markdown(report)
    return "\n".join(lines) + body + "\n"


def action_audit_dist(env: Mapping[str, str] | None = None, output: str = "failed") -> bool:
    """save/action.yml: audit the wheels in dist/; True when the job should fail.

    Fails only when ``audit-bytecode: error`` asks and an error finding exists;
    otherwise findings are warnings in the log and a section in the summary.
    """
    from pyo3_cache.bytecode.audit import audit_dist

    return audit_step(
        env,
        switch="audit-bytecode",
        audit=audit_dist,
        nothing="no bytecode to audit",
        shown=lambda finding: finding.severity in ("error", "warning"),
        tally=lambda report, dist: (
            f"bytecode audit of {dist}: {report.checked} .pyc file(s), "
            f"{report.count('error')} error(s), {report.count('warning')} warning(s)"
        ),
        markdown=audit_markdown,
        failed=lambda report: report.has_errors,
        output=output,
    )


def action_audit(env: Mapping[str, str] | None = None) -> None:
    """The save action's audit step: bytecode, then wheel tags, in one process.

    Outputs ``bytecode-failed`` and ``wheels-failed``; one audit's trouble is a
    warning and never stops the other.
    """
    env = dict(os.environ if env is None else env)
    guarded("the bytecode audit", env, lambda e: action_audit_dist(e, output="bytecode-failed"))
    guarded("the wheel audit", env, lambda e: action_audit_wheels(e, output="wheels-failed"))
