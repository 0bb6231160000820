"""The sticky pull-request comment: one comment, one section per job.

The text is pure (sections, markers, merge, fitting to GitHub's 65,536
characters); ``upsert_sticky_comment`` is the read-modify-write against the
REST API that keeps concurrent matrix jobs from losing each other's sections.
"""

from __future__ import annotations

import contextlib
import hashlib
import random
import re
import string
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from pyo3_cache.errors import GitHubError
from pyo3_cache.github.files import scan_fences, truncate_markdown
from pyo3_cache.github.rest import (
    COMMENT_BODY_LIMIT,
    DEFAULT_MAX_WAIT,
    GitHubAPIError,
    GitHubClient,
    IssueComment,
    ReadOnlyTokenError,
    check_repository,
)

# --- the sticky comment: its text (pure) ----------------------------------------

STICKY_MARKER = "<!-- pyo3-cache -->"
STICKY_HEADER = f"{STICKY_MARKER}\n## pyo3-cache\n"
_SECTION_START = re.compile(r"<!-- pyo3-cache:section:([A-Za-z0-9._-]{1,80}) -->")
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
TITLE_LIMIT = 200
_KEPT_FORMAT_CHARS = {"\u200d"}  # zero-width joiner: part of emoji sequences
_TITLE_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# U+2060 (word joiner) after @ and # stops GitHub turning a job name into an
# @mention (a notification) or an issue cross-reference.
_NO_AUTOLINK = "\u2060"


def _start_marker(section_id: str) -> str:
    return f"<!-- pyo3-cache:section:{section_id} -->"


def _end_marker(section_id: str) -> str:
    return f"<!-- pyo3-cache:section-end:{section_id} -->"


def section_id_for(key: str) -> str:
    """A marker-safe section id for any key (job, matrix JSON ...); stable for a key."""
    if _SAFE_ID.fullmatch(key):  # match() lets `$` accept a trailing newline
        return key
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", key).strip("-._")[:40] or "section"
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{slug}-{digest}"


def clean_title(title: str) -> str:
    """A title as one line: control and invisible format characters gone, spaces collapsed."""
    kept = "".join(
        ch
        for ch in title
        if ch in _KEPT_FORMAT_CHARS
        or ch.isspace()
        or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    text = " ".join(kept.split())
    if len(text) > TITLE_LIMIT:
        text = text[: TITLE_LIMIT - 1].rstrip() + "…"
    return text


def escape_section_title(title: str) -> str:
    """A user-controlled job name / matrix value made safe as a Markdown heading's text.

    One line; ``&``, ``<``, ``>`` become entities (no HTML, no hidden comment);
    every other ASCII punctuation character is backslash-escaped (no links,
    emphasis or code spans); ``@`` and ``#`` cannot mention or reference.
    """
    out: list[str] = []
    for ch in clean_title(title) or "job":
        if ch in _TITLE_ENTITIES:
            out.append(_TITLE_ENTITIES[ch])
        elif ch in string.punctuation:
            out.append("\\" + ch + (_NO_AUTOLINK if ch in "@#" else ""))
        else:
            out.append(ch)
    return "".join(out)


def _neutralise_markers(content: str) -> str:
    # Content is Markdown made elsewhere (with crate names, paths, env values
    # in it): it must not carry a marker that would end or fake a section.
    return content.replace("<!-- pyo3-cache", "&lt;!-- pyo3-cache")


def balance_markdown(content: str) -> str:
    """Close a code fence or HTML comment left open, so it cannot swallow the next section."""
    text = content.rstrip()
    lines = text.splitlines(keepends=True)
    state = scan_fences(lines)[-1]
    if state is not None:
        text += "\n" + state[0]
    if text.rfind("<!--") > text.rfind("-->"):
        text += " -->"
    return text


@dataclass(frozen=True)
class Section:
    """One job's part of the sticky comment: a marker-safe id, its heading, its Markdown."""

    id: str
    heading: str
    content: str


def make_section(section_id: str, title: str, markdown: str) -> Section:
    """A section from raw inputs: id made safe, title escaped, content kept from breaking out."""
    content = balance_markdown(_neutralise_markers(markdown).strip("\n"))
    return Section(section_id_for(section_id), escape_section_title(title), content.strip("\n"))


def render_section(section: Section) -> str:
    return (
        f"{_start_marker(section.id)}\n### {section.heading}\n\n{section.content}\n"
        f"{_end_marker(section.id)}\n"
    )


def render_sticky_body(sections: list[Section]) -> str:
    return STICKY_HEADER + "".join("\n" + render_section(s) for s in sections)


def is_sticky_body(body: str) -> bool:
    return body.lstrip().startswith(STICKY_MARKER)


def parse_sticky_body(body: str) -> list[Section]:
    """The sections of a sticky comment body, in order; text outside sections is ours to redo.

    A section whose end marker is missing (a hand edit) ends where the next
    one starts; a repeated id keeps its first section.
    """
    starts = list(_SECTION_START.finditer(body))
    sections: list[Section] = []
    seen: set[str] = set()
    for index, match in enumerate(starts):
        section_id = match.group(1)
        limit = starts[index + 1].start() if index + 1 < len(starts) else len(body)
        end = body.find(_end_marker(section_id), match.end(), limit)
        inner = body[match.end() : end if end >= 0 else limit].strip("\n")
        heading, _, rest = inner.partition("\n")
        if heading.startswith("### "):
            heading, content = heading[4:], rest.strip("\n")
        else:
            heading, content = section_id, inner
        if section_id not in seen:
            seen.add(section_id)
            sections.append(Section(section_id, heading, content))
    return sections


def comment_length(text: str) -> int:
    """Length as GitHub's comment limit counts it, erring high: UTF-16 code units."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


_CUT_NOTE = (
    "\n_… cut to fit GitHub's 65,536-character comment limit; "
    "the job summary has the whole report._\n"
)


def fit_sticky_body(sections: list[Section], limit: int = COMMENT_BODY_LIMIT) -> tuple[str, bool]:
    """Render sections into a body shorter than ``limit``; ``(body, truncated)``.

    Long contents are cut to a common cap (the longest first, so a short
    section is never cut for a long one), at line boundaries, with a note.
    Markers and headings are never dropped: every job keeps its section.
    """
    body = render_sticky_body(sections)
    if comment_length(body) < limit:
        return body, False
    skeleton = comment_length(render_sticky_body([replace(s, content="") for s in sections]))
    room = limit - 1 - skeleton
    note_len = comment_length(_CUT_NOTE) + 16  # + a closing fence
    lengths = [comment_length(s.content) for s in sections]

    def total(cap: int) -> int:
        return sum(n if n <= cap else cap + note_len for n in lengths)

    low, high = 0, max(lengths)
    while low < high:
        mid = (low + high + 1) // 2
        if total(mid) <= room:
            low = mid
        else:
            high = mid - 1
    cap = low
    while True:
        fitted = [
            s
            if comment_length(s.content) <= cap
            else replace(
                s,
                content=truncate_markdown(
                    s.content + "\n", cap + note_len, comment_length, _CUT_NOTE
                ).strip("\n"),
            )
            for s in sections
        ]
        body = render_sticky_body(fitted)
        if comment_length(body) < limit:
            return body, True
        if cap == 0:
            raise GitHubError(
                f"{len(sections)} job sections do not fit in one PR comment "
                f"({COMMENT_BODY_LIMIT:,} characters) even without their reports"
            )
        cap = cap * 9 // 10


def merge_section(body: str, section: Section, limit: int = COMMENT_BODY_LIMIT) -> tuple[str, bool]:
    """The sticky body with ``section`` added or replaced; the other sections kept in order."""
    sections = parse_sticky_body(body) if is_sticky_body(body) else []
    for index, existing in enumerate(sections):
        if existing.id == section.id:
            sections[index] = section
            break
    else:
        sections.append(section)
    return fit_sticky_body(sections, limit)


def section_in(body: str, section: Section) -> bool:
    """Whether ``body`` holds ``section`` as written, or cut to fit by a later writer."""
    for found in parse_sticky_body(body) if is_sticky_body(body) else []:
        if found.id == section.id:
            return found.heading == section.heading and (
                found.content == section.content or _is_cut_of(found.content, section.content)
            )
    return False


def _is_cut_of(found: str, full: str) -> bool:
    note = _CUT_NOTE.strip()
    if not found.endswith(note):
        return False
    head = found[: -len(note)].rstrip("\n")
    # truncate_markdown may have closed a fence or cut a long line with "…".
    without_last_line = head.rpartition("\n")[0] if "\n" in head else ""
    return any(full.startswith(h) for h in (head, head.removesuffix("…"), without_last_line))


# GitHub Actions' GITHUB_TOKEN writes comments as this bot account
# (user.type "Bot"); no person or other app can post under that login.
GITHUB_ACTIONS_BOT = "github-actions[bot]"


def is_own_comment(comment: IssueComment, login: str | None) -> bool:
    """Whether the token's own user wrote ``comment``.

    ``login`` is what ``GET /user`` answered; None for an installation token,
    which may not ask: then only GitHub Actions' bot (``GITHUB_TOKEN``) counts.
    """
    if login:
        return comment.author == login
    return comment.author == GITHUB_ACTIONS_BOT and comment.author_type == "Bot"


def find_sticky_comments(
    comments: list[IssueComment], login: str | None = None
) -> list[IssueComment]:
    """Our comments carrying the marker, oldest first.

    The marker alone is no proof: anyone can paste it, and editing their
    comment would keep whatever sections they forged.  Only comments the
    token's own user wrote (``is_own_comment``) are candidates.
    """
    marked = [c for c in comments if is_sticky_body(c.body) and is_own_comment(c, login)]
    return sorted(marked, key=lambda c: c.id)


# --- the sticky comment: talking to GitHub ---------------------------------------


@dataclass(frozen=True)
class CommentResult:
    """What ``upsert_sticky_comment`` did: ``action`` is created, updated or unchanged."""

    comment_id: int
    html_url: str
    action: str
    attempts: int
    body_chars: int
    truncated: bool


def upsert_sticky_comment(
    section_markdown: str,
    *,
    section_id: str,
    section_title: str,
    token: str,
    repository: str,
    pr_number: int,
    api_url: str | None = None,
    client: GitHubClient | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
    rng: Callable[[], float] = random.random,
    max_attempts: int = 5,
    max_wait: float = DEFAULT_MAX_WAIT,
    settle_seconds: float = 1.0,
) -> CommentResult:
    """Create or update this job's section of the one pyo3-cache comment on a pull request.

    The comment is the one carrying ``<!-- pyo3-cache -->`` that the token's
    own user wrote (``find_sticky_comments``: a pasted marker captures
    nothing); each job owns the part between its section markers.  GitHub has no conditional update
    for comments, so concurrent matrix jobs are handled by read-modify-write,
    then, after a pause longer than our own read-to-write time (with jitter),
    re-reading to check our section is still there, and redoing it if another
    job's write replaced it; at most ``max_attempts`` rounds.  Two jobs that
    both create a comment keep the older one; the other job moves its section
    there and deletes its own.

    Raises ``ReadOnlyTokenError`` for a read-only token (fork pull requests)
    and ``GitHubError`` for any other failure, each with a one-line message
    that never contains the token.
    """
    check_repository(repository)
    if isinstance(pr_number, bool) or not isinstance(pr_number, int) or pr_number <= 0:
        raise GitHubError(f"pull request number {pr_number!r} is not a positive integer")
    section = make_section(section_id, section_title, section_markdown)
    gh = client or GitHubClient(
        token, api_url=api_url, sleep=sleep, clock=clock, rng=rng, max_wait=max_wait
    )
    ours: list[int] = []  # comments this call created
    login = gh.authenticated_login()
    problem = ""
    pause = 0.0
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            gh.wait(pause, f"could not update PR #{pr_number}'s comment: {problem}")
        pause = gh.backoff(attempt)
        started = gh.clock()
        # Reads were retried by the client already; their failures end here.
        sticky = find_sticky_comments(gh.list_issue_comments(repository, pr_number), login)
        try:
            if not sticky:
                body, truncated = fit_sticky_body([section])
                new = _write(gh.create_issue_comment, repository, pr_number, body)
                ours.append(new.id)
                # Another job may have created one at the same moment: the
                # older comment wins, whoever looks.
                again = find_sticky_comments(gh.list_issue_comments(repository, pr_number), login)
                if not again or again[0].id == new.id:
                    return CommentResult(
                        new.id, new.html_url, "created", attempt, comment_length(body), truncated
                    )
                problem, pause = "another job created the comment at the same time", 0.0
                continue
            target = sticky[0]
            body, truncated = merge_section(target.body, section)
            if body == target.body:
                _drop_duplicates(gh, repository, ours, keep=target.id)
                return CommentResult(
                    target.id,
                    target.html_url,
                    "unchanged",
                    attempt,
                    comment_length(body),
                    truncated,
                )
            _write(gh.update_issue_comment, repository, target.id, body)
            # Another job that read before our write may still write its
            # stale copy; wait longer than a read-to-write round trip.
            elapsed = max(0.0, gh.clock() - started)
            gh.wait(
                min(10.0, max(settle_seconds, 2 * elapsed)) * (1 + gh.rng()),
                "waiting to check the PR comment",
            )
            now = _write(gh.get_issue_comment, repository, target.id, reads=True)
        except _Redo as redo:
            problem = redo.problem
            if redo.pause is not None:
                pause = redo.pause
            continue
        if section_in(now.body, section):
            _drop_duplicates(gh, repository, ours, keep=target.id)
            return CommentResult(
                target.id,
                target.html_url or now.html_url,
                "updated",
                attempt,
                comment_length(body),
                truncated,
            )
        problem = "another job's update replaced this job's section"
    raise GitHubError(
        f"could not keep this job's section in PR #{pr_number}'s comment after "
        f"{max_attempts} attempts: {problem}"
    )


class _Redo(Exception):
    """Read the comment again and redo this job's change."""

    def __init__(self, problem: str, pause: float | None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.pause = pause


_T = TypeVar("_T")


def _write(call: Callable[..., _T], *args: Any, reads: bool = False) -> _T:
    """Run one step of the read-modify-write; turn what a fresh read can fix into ``_Redo``.

    A write answered by 5xx or a rate limit may or may not have landed, and a
    comment deleted under us answers 404: in both cases read again and redo.
    """
    try:
        return call(*args)
    except ReadOnlyTokenError:
        raise
    except GitHubAPIError as exc:
        if exc.status == 404 or (exc.retryable and not reads):
            raise _Redo(str(exc), exc.retry_after) from None
        raise


def _drop_duplicates(gh: GitHubClient, repository: str, ours: list[int], keep: int) -> None:
    for comment_id in ours:
        if comment_id != keep:
            # Best effort: a leftover duplicate is untidy, not wrong.
            with contextlib.suppress(GitHubError):
                gh.delete_issue_comment(repository, comment_id)


# --- the job's context, and the one call the action makes -----------------------
