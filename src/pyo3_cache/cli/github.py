"""``comment`` and ``summary``: the sticky PR comment and the job summary."""

from __future__ import annotations

import argparse
import os
import sys

from pyo3_cache.cli.common import Parser
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log


def _markdown_file(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise argparse.ArgumentTypeError(f"cannot read {path}: {reason}") from None


def add_comment(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "comment",
        handler=_cmd_comment,
        help="put Markdown into this job's section of the sticky PR comment",
        description=(
            "Create or update the one pyo3-cache comment on the pull request (found by "
            "<!-- pyo3-cache -->); this job owns one section of it, so matrix jobs share it. "
            "Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the PR number) and "
            "GITHUB_API_URL. Not a pull request: nothing is posted, exit 0. A read-only token "
            "(a fork's PR) gets 403: the Markdown goes to the job summary with one notice, "
            "exit 0. Other failures exit 11, or warn and exit 0 with --soft."
        ),
    )
    p.add_argument(
        "--file", required=True, metavar="MD", type=_markdown_file, help="Markdown; - reads stdin"
    )
    p.add_argument(
        "--section-id",
        metavar="ID",
        help="the section this job owns (default: from GITHUB_WORKFLOW, GITHUB_JOB, --matrix)",
    )
    p.add_argument(
        "--title", metavar="T", help="the section's heading (default: GITHUB_JOB (matrix values))"
    )
    p.add_argument(
        "--matrix", metavar="JSON", default="", help="the job's matrix, e.g. ${{ toJSON(matrix) }}"
    )
    p.add_argument("--soft", action="store_true", help="report a failure as a warning and exit 0")


def _cmd_comment(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github

    env = os.environ
    try:
        outcome = github.post_job_section(
            args.file,
            section_key=args.section_id or github.job_section_key(env, args.matrix),
            title=args.title or github.job_title(env.get("GITHUB_JOB", ""), args.matrix),
            env=env,
        )
    except Pyo3CacheError as exc:
        if not args.soft:
            raise
        log.warn(f"the PR comment was not updated: {exc}")
        return 0
    if outcome.comment is not None:
        print(f"{outcome.action} {outcome.comment.html_url}".rstrip())
    elif outcome.action == "skipped":
        log.info(outcome.message)
    return 0


def add_summary(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "summary",
        handler=_cmd_summary,
        help="append Markdown to the job summary ($GITHUB_STEP_SUMMARY), under 1 MiB",
        description=(
            "Append Markdown to $GITHUB_STEP_SUMMARY. GitHub drops a step summary over "
            "1 MiB, so what the step already wrote is measured and the Markdown is cut, "
            "with a note, to fit. Failures exit 11, or warn and exit 0 with --soft."
        ),
    )
    p.add_argument(
        "--file", required=True, metavar="MD", type=_markdown_file, help="Markdown; - reads stdin"
    )
    p.add_argument("--soft", action="store_true", help="report a failure as a warning and exit 0")


def _cmd_summary(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github

    try:
        result = github.append_summary(args.file)
    except Pyo3CacheError as exc:
        if not args.soft:
            raise
        log.warn(f"the job summary was not written: {exc}")
        return 0
    if result.truncated:
        log.warn(
            "the report was cut to fit GitHub's 1 MiB job summary limit"
            + ("" if result.written_bytes else " and nothing of it fit")
        )
    return 0
