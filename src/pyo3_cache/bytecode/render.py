"""The bytecode audit's report as terminal text, JSON and Markdown."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from pyo3_cache.bytecode.findings import AuditReport, FindingsReport
from pyo3_cache.explain.render import escape_markdown


def code_span(text: str) -> str:
    """``text`` (a path from an archive) as one inert Markdown code span inside a table cell.

    The fence is one backtick longer than any run inside (CommonMark), so a
    backtick in a member name cannot end the span; ``|`` is escaped, which
    GFM tables honour inside code spans too; HTML in a span is shown, not run.
    """
    value = " ".join(text.split()).replace("|", "\\|")
    longest = max((len(run) for run in re.findall("`+", value)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if value.startswith("`") or value.endswith("`") else ""
    return f"{fence}{pad}{value}{pad}{fence}"


def one_line(text: str) -> str:
    """A path or detail from an archive on one output line: a newline in a member
    name would start a line of its own (on GitHub, a workflow command)."""
    return " ".join(text.split())


def finding_line(f: Any) -> str:
    """``severity: kind: path: detail``, on one line (a bytecode or a wheel finding)."""
    return f"{f.severity}: {f.kind}: {one_line(f.path)}: {one_line(f.detail)}"


def render_text(report: AuditReport) -> str:
    lines = []
    for f in report.findings:
        lines.append(finding_line(f) + (" [fixed: removed]" if f.fixed else ""))
    for path in report.not_fixed:
        lines.append(
            f"note: not fixed: {one_line(path)}: pyo3-cache never edits archives in place; "
            "rebuild it without the bytecode"
        )
    for a in report.artifacts:
        if len(a.tags) > 1:
            seen = ", ".join(f"{tag} ({n})" for tag, n in a.tags.items())
            lines.append(
                f"note: {one_line(a.path)} holds bytecode for several interpreters: "
                + one_line(seen)
            )
    fixed = sum(1 for f in report.findings if f.fixed)
    fixed_text = f", {fixed} fixed" if fixed else ""
    lines.append(
        f"checked {report.checked} .pyc file(s) in {len(report.artifacts)} artifact(s): "
        f"{report.count('error')} error(s), {report.count('warning')} warning(s), "
        f"{report.count('note')} note(s){fixed_text}"
    )
    return "\n".join(lines) + "\n"


def render_json(report: FindingsReport) -> str:
    """Either audit's report as JSON (``to_json``), one document."""
    return json.dumps(report.to_json(), indent=2) + "\n"


def render_markdown(report: AuditReport) -> str:
    """For ``$GITHUB_STEP_SUMMARY`` (the save action's dist/ check)."""
    out = io.StringIO()
    out.write("### Bytecode audit\n\n")
    out.write(
        f"{report.checked} `.pyc` file(s) in {len(report.artifacts)} artifact(s): "
        f"{report.count('error')} error(s), {report.count('warning')} warning(s), "
        f"{report.count('note')} note(s).\n\n"
    )
    if report.findings:
        out.write("| severity | kind | path | detail |\n|---|---|---|---|\n")
        for f in report.findings:
            cells = [f.severity, f"`{f.kind}`", code_span(f.path), escape_markdown(f.detail)]
            out.write("| " + " | ".join(cells) + " |\n")
    return out.getvalue()
