"""The job summary and the sticky PR comment section, as Markdown."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path

from pyo3_cache.action.state import FlowState, PhaseClock, guard, own_folder, state_path
from pyo3_cache.github import log
from pyo3_cache.github.job import job_section_key


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
        lines += _bullets("**What changed in the key:**", state.key_changes)
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
        lines += _bullets("**Skipped:**", state.notes)
    return "\n".join(lines)


def _bullets(title: str, items: Iterable[str]) -> list[str]:
    """A bold title, then one escaped Markdown bullet per item."""
    from pyo3_cache.explain.render import escape_markdown

    return [title, "", *(f"- {escape_markdown(item)}" for item in items), ""]


def comment_path(env: Mapping[str, str]) -> Path:
    """Where before-save leaves the PR comment section for the comment step."""
    return state_path(env).with_name("comment.json")


def write_comment(markdown: str, env: Mapping[str, str], job: str, matrix: str) -> bool:
    """Leave this job's comment section for ``post_comment`` (the step with the token)."""
    # The same section key as `pyo3-cache explain --comment`, so both write one section.
    section = {"markdown": markdown, "key": job_section_key(env, matrix), "title": job}
    path = comment_path(env)
    own_folder(path.parent)
    path.write_text(json.dumps(section), encoding="utf-8")
    return True


def post_comment(env: Mapping[str, str] | None = None) -> None:
    """The comment step: post the section before-save left, and nothing else.

    This is the one step of the save action that sees the token; it runs no
    build tool and reads only our own state folder (scripts/tool.sh checks it).
    """
    env = dict(os.environ if env is None else env)
    clock = PhaseClock("comment")
    notes: list[str] = []

    def post() -> None:
        from pyo3_cache.github.pull_request import post_job_section

        path = comment_path(env)
        own_folder(path.parent)  # a section only from our own folder reaches the token
        section = json.loads(path.read_text(encoding="utf-8"))
        outcome = post_job_section(
            section["markdown"], section_key=section["key"], title=section["title"], env=env
        )
        log.info(outcome.message)

    guard("updating the PR comment", post, notes, clock, "post")
    log.info(clock.line())
