"""The job summary and the sticky PR comment section, as Markdown."""

from __future__ import annotations

from collections.abc import Mapping

from pyo3_cache.action.state import FlowState
from pyo3_cache.github import client as github
from pyo3_cache.github import log


def summary_markdown(state: FlowState, report_markdown: str | None, job: str) -> str:
    """The job summary: key and hit/miss, what changed, then the rebuild report."""
    from pyo3_cache.explain.render import escape_markdown

    if state.cache_hit:
        status = "exact hit"
    elif state.partial_hit:
        status = f"partial hit (restored {escape_markdown(state.matched_key)})"
    else:
        status = "miss (cold build)"
    lines = [f"## pyo3-cache: {escape_markdown(job)}", ""]
    lines.append(f"**Cache:** {status} for key {escape_markdown(state.key or '-')}")
    lines.append("")
    if state.key_changes:
        lines.append("**What changed in the key:**")
        lines.append("")
        lines += [f"- {escape_markdown(change)}" for change in state.key_changes]
        lines.append("")
    if state.key_parts:
        lines.append("<details><summary>Key parts</summary>")
        lines.append("")
        lines.append("| part | hash: inputs |")
        lines.append("|---|---|")
        lines += [
            f"| {escape_markdown(k)} | {escape_markdown(v)} |" for k, v in state.key_parts.items()
        ]
        lines.append("")
        lines.append("</details>")
        lines.append("")
    if report_markdown:
        lines.append(report_markdown.rstrip())
        lines.append("")
    if state.notes:
        lines.append("**Skipped:**")
        lines.append("")
        lines += [f"- {escape_markdown(note)}" for note in state.notes]
        lines.append("")
    return "\n".join(lines)


def post_comment(markdown: str, env: Mapping[str, str], job: str, matrix: str) -> None:
    # The same section key as `pyo3-cache explain --comment`, so both write one section.
    outcome = github.post_job_section(
        markdown, section_key=github.job_section_key(env, matrix), title=job, env=env
    )
    log.info(outcome.message)
