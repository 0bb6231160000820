"""The pull request a job runs for, and the one call the action makes to report there.

``post_job_section`` puts the job's report into the sticky comment, or into
the job summary when the token is read-only (a fork's pull request).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import log
from pyo3_cache.github.comment import CommentResult, upsert_sticky_comment
from pyo3_cache.github.files import append_summary
from pyo3_cache.github.job import PULL_REQUEST_EVENTS, job_section_key, job_title, matrix_values
from pyo3_cache.github.rest import DEFAULT_API_URL, ReadOnlyTokenError

__all__ = [
    "PULL_REQUEST_EVENTS",
    "CommentOutcome",
    "GitHubContext",
    "job_section_key",
    "job_title",
    "matrix_values",
    "post_job_section",
    "pull_request_number",
]

# --- the event that started the workflow ---------------------------------------


def pull_request_number(
    event_path: str | os.PathLike[str] | None, event_name: str | None = None
) -> int | None:
    """The pull request's number from ``$GITHUB_EVENT_PATH``, or None.

    None for events that are not ``pull_request``/``pull_request_target``
    (``event_name``, from ``$GITHUB_EVENT_NAME``, decides when given) and when
    the payload holds no pull request.  An unreadable or non-JSON event file
    is an error: the runner always writes one.
    """
    if event_name and event_name not in PULL_REQUEST_EVENTS:
        return None
    if not event_path:
        return None
    try:
        payload = json.loads(Path(event_path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise GitHubError(
            f"cannot read the event file GITHUB_EVENT_PATH ({event_path}): {exc.strerror}"
        ) from None
    except (ValueError, RecursionError):
        raise GitHubError(f"the event file GITHUB_EVENT_PATH ({event_path}) is not JSON") from None
    pull = payload.get("pull_request") if isinstance(payload, dict) else None
    number = pull.get("number") if isinstance(pull, dict) else None
    if isinstance(number, int) and not isinstance(number, bool) and number > 0:
        return number
    return None


# --- secrets stay out of messages ---------------------------------------------


@dataclass(frozen=True)
class GitHubContext:
    """The ``GITHUB_*`` values a comment or summary needs (the token never in repr)."""

    token: str = field(default="", repr=False)
    repository: str = ""
    api_url: str = DEFAULT_API_URL
    event_path: str = ""
    event_name: str = ""
    workflow: str = ""
    job: str = ""
    step_summary: str = ""

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> GitHubContext:
        return cls(
            token=env.get("GITHUB_TOKEN", "").strip(),
            repository=env.get("GITHUB_REPOSITORY", ""),
            api_url=env.get("GITHUB_API_URL", "") or DEFAULT_API_URL,
            event_path=env.get("GITHUB_EVENT_PATH", ""),
            event_name=env.get("GITHUB_EVENT_NAME", ""),
            workflow=env.get("GITHUB_WORKFLOW", ""),
            job=env.get("GITHUB_JOB", ""),
            step_summary=env.get("GITHUB_STEP_SUMMARY", ""),
        )


@dataclass(frozen=True)
class CommentOutcome:
    """What ``post_job_section`` did: created, updated, unchanged, summary or skipped."""

    action: str
    message: str
    comment: CommentResult | None = None


FORK_NOTICE = (
    "this token cannot comment on the pull request (a pull request from a fork gets a "
    "read-only GITHUB_TOKEN; otherwise give the job `permissions: pull-requests: write`); "
    "the report is in the job summary instead"
)


def post_job_section(
    markdown: str,
    *,
    section_key: str,
    title: str,
    env: Mapping[str, str] | None = None,
    fallback_to_summary: bool = True,
    **options: Any,
) -> CommentOutcome:
    """Put this job's report into the PR's sticky comment, from the ``GITHUB_*`` environment.

    Not a pull request event: nothing is posted (``skipped``).  A read-only
    token (fork): the report goes to the job summary (unless it is there
    already) and one notice says so (``summary``).  Other failures raise
    ``GitHubError``; callers warn, since a comment never fails a build.
    ``options`` go to ``upsert_sticky_comment`` (sleep, clock, max_wait ...).
    """
    context = GitHubContext.from_env(os.environ if env is None else env)
    number = pull_request_number(context.event_path, context.event_name or None)
    if number is None:
        return CommentOutcome("skipped", "not a pull request event: no PR comment")
    if not context.repository:
        raise GitHubError(
            "GITHUB_REPOSITORY is not set; PR comments only work inside GitHub Actions"
        )
    try:
        result = upsert_sticky_comment(
            markdown,
            section_id=section_key,
            section_title=title,
            token=context.token,
            repository=context.repository,
            pr_number=number,
            api_url=context.api_url,
            **options,
        )
    except ReadOnlyTokenError:
        if not fallback_to_summary:
            raise
        message = FORK_NOTICE
        if context.step_summary:
            if not _summary_has(context.step_summary, markdown):
                append_summary(markdown, path=context.step_summary)
        else:
            message += " (but GITHUB_STEP_SUMMARY is not set, so it is only in this log)"
        log.notice(message)
        return CommentOutcome("summary", message)
    return CommentOutcome(
        result.action, f"{result.action} the PR comment {result.html_url}".rstrip(), result
    )


def _summary_has(path: str, markdown: str) -> bool:
    try:
        return markdown.strip() in Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
