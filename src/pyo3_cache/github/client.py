"""Everything that touches GitHub Actions: ``GITHUB_*`` files and workflow commands.

The REST client (sticky PR comments) lives here too, so there is one place
that knows GitHub's formats and rules.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import json
import os
import random
import re
import secrets
import string
import time
import unicodedata
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

# requests is imported where the REST client needs it: every CLI command
# loads this module (for workflow commands), few of them talk to the API.
if TYPE_CHECKING:
    import requests

from pyo3_cache.errors import GitHubError
from pyo3_cache.redact import TEXT_REDACTED, redact_text


def in_github_actions() -> bool:
    from pyo3_cache.github.log import in_github_actions as check

    return check()


def escape_data(value: str) -> str:
    """Escape a workflow command's message (GitHub's ``escapeData``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property value (``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """``::command prop=value,...::message`` with every part escaped."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v)
    head = f"::{command} {props}" if props else f"::{command}"
    return f"{head}::{escape_data(message)}"


def _file_from_env(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise GitHubError(f"{variable} is not set; --github only works inside GitHub Actions")
    return Path(value)


def _heredoc_entry(name: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    # A random delimiter that the value cannot contain, as GitHub documents
    # for multi-line values (a fixed one would let the value end the block).
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(variable: str, values: Mapping[str, str]) -> None:
    path = _file_from_env(variable)
    text = "".join(_heredoc_entry(k, v) for k, v in values.items())
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise GitHubError(f"cannot append to {variable} ({path}): {exc.strerror}") from None


def append_env(values: Mapping[str, str]) -> None:
    """Export variables to later steps through ``$GITHUB_ENV``."""
    _append("GITHUB_ENV", values)


def append_output(values: Mapping[str, str]) -> None:
    """Set step outputs through ``$GITHUB_OUTPUT``."""
    _append("GITHUB_OUTPUT", values)


def append_path(directory: str) -> None:
    """Prepend a directory to PATH for later steps through ``$GITHUB_PATH``."""
    path = _file_from_env("GITHUB_PATH")
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(directory + "\n")
    except OSError as exc:
        raise GitHubError(f"cannot append to GITHUB_PATH ({path}): {exc.strerror}") from None


# --- job summary ---------------------------------------------------------------

# GitHub refuses a step's summary above 1 MiB ("$GITHUB_STEP_SUMMARY upload
# aborted, supports content up to a size of 1024k"), and then shows none of it.
STEP_SUMMARY_LIMIT = 1024 * 1024


@dataclass(frozen=True)
class SummaryResult:
    """What ``append_summary`` wrote: bytes added, and whether the report was cut."""

    path: Path
    written_bytes: int
    truncated: bool


def _utf8_len(text: str) -> int:
    return len(text.encode("utf-8"))


def fit_summary(markdown: str, room: int) -> tuple[str, bool]:
    """The Markdown to append when ``room`` bytes are left in the step summary.

    Returns ``(text, truncated)``; the text always ends with a newline and
    never measures more than ``room`` UTF-8 bytes.  A cut report ends with a
    note saying so; a cut inside a mermaid block drops the whole block (half a
    diagram does not render), any other open code fence is closed.
    """
    text = markdown if markdown.endswith("\n") else markdown + "\n"
    if _utf8_len(text) <= room:
        return text, False
    note = (
        f"\n> **Note:** pyo3-cache cut this {_utf8_len(text):,}-byte report here: GitHub keeps "
        "at most 1 MiB of job summary per step. `pyo3-cache explain` on the job's cargo log "
        "prints all of it.\n"
    )
    if _utf8_len(note) > room:
        return "", True
    return truncate_markdown(text, room, _utf8_len, note), True


def append_summary(markdown: str, *, path: str | os.PathLike[str] | None = None) -> SummaryResult:
    """Append Markdown to ``$GITHUB_STEP_SUMMARY``, keeping the step under 1 MiB.

    What the step already wrote counts: the file's current size is measured
    first, and the report is cut (with a note) to what is left.
    """
    target = Path(path) if path is not None else _file_from_env("GITHUB_STEP_SUMMARY")
    try:
        existing = target.stat().st_size if target.exists() else 0
        needs_break = existing > 0 and not _ends_with_newline(target)
    except OSError as exc:
        raise GitHubError(f"cannot read GITHUB_STEP_SUMMARY ({target}): {exc.strerror}") from None
    prefix = "\n" if needs_break else ""
    text, truncated = fit_summary(markdown, STEP_SUMMARY_LIMIT - existing - len(prefix))
    if not text:
        return SummaryResult(target, 0, truncated)
    try:
        with target.open("a", encoding="utf-8", newline="") as handle:
            handle.write(prefix + text)
    except OSError as exc:
        raise GitHubError(
            f"cannot append to GITHUB_STEP_SUMMARY ({target}): {exc.strerror}"
        ) from None
    return SummaryResult(target, _utf8_len(prefix + text), truncated)


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"


_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})(.*)$")


def _scan_fences(lines: list[str]) -> list[tuple[str, int, str] | None]:
    """For each prefix of ``lines``: the fence left open after it, or None.

    An open fence is ``(marker, index of its opening line, info string)``.
    """
    states: list[tuple[str, int, str] | None] = [None]
    open_fence: tuple[str, int, str] | None = None
    for index, line in enumerate(lines):
        match = _FENCE.match(line.rstrip("\r\n"))
        if match:
            marker, info = match.group(1), match.group(2).strip()
            if open_fence is None:
                open_fence = (marker, index, info)
            elif marker[0] == open_fence[0][0] and len(marker) >= len(open_fence[0]) and not info:
                open_fence = None
        states.append(open_fence)
    return states


def truncate_markdown(text: str, budget: int, measure: Callable[[str], int], note: str) -> str:
    """Cut Markdown at a line boundary so ``measure(result) <= budget``, ending with ``note``.

    Pure.  Code fences stay balanced: an open fence is closed, except a
    mermaid block, which is dropped whole.  A first line too long to keep is
    cut inside, with an ellipsis.
    """
    if measure(text) <= budget:
        return text
    lines = text.splitlines(keepends=True)
    states = _scan_fences(lines)
    room = budget - measure(note)
    # Measures add up over concatenation (bytes, UTF-16 units), so prefix
    # sums keep this linear in the report's size.
    sums = [0]
    for line in lines:
        sums.append(sums[-1] + measure(line))
    best: tuple[int, str] | None = None  # (lines kept, closing fence)
    for count in range(len(lines) + 1):
        if sums[count] > room:
            break
        state = states[count]
        if state is None:
            best = (count, "")
        elif state[2].lower().startswith("mermaid"):
            best = (state[1], "")
        elif sums[count] + measure(state[0] + "\n") <= room:
            best = (count, state[0] + "\n")
    kept = "".join(lines[: best[0]]) + best[1] if best else ""
    if not kept and lines and states[1] is None:
        # One huge first line: keep what fits of it rather than nothing.
        kept = _cut_line(lines[0].rstrip("\r\n"), room, measure)
    return kept + note


def _cut_line(line: str, room: int, measure: Callable[[str], int]) -> str:
    low, high = 0, len(line)
    while low < high:
        mid = (low + high + 1) // 2
        if measure(line[:mid] + "…\n") <= room:
            low = mid
        else:
            high = mid - 1
    return line[:low] + "…\n" if low else ""


# --- the event that started the workflow ---------------------------------------

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


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

REDACTED = TEXT_REDACTED


def redact(text: str, *secrets_: str) -> str:
    """``text`` with the given secrets and anything token-shaped replaced by ``***``."""
    return redact_text(text, *secrets_)


# --- REST client ----------------------------------------------------------------

DEFAULT_API_URL = "https://api.github.com"
COMMENT_BODY_LIMIT = 65_536
DEFAULT_MAX_WAIT = 90.0
_LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")


class GitHubAPIError(GitHubError):
    """A REST call failed; ``status`` is the HTTP status (None: no answer)."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        retryable: bool = False,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class ReadOnlyTokenError(GitHubAPIError):
    """The token may read but not write (a fork's pull request gets such a GITHUB_TOKEN).

    Callers fall back to the job summary with one notice; see ``post_job_section``.
    """


def check_api_url(api_url: str | None) -> str:
    """``GITHUB_API_URL`` checked: https (http only for loopback), no credentials, no query."""
    url = (api_url or DEFAULT_API_URL).strip().rstrip("/")
    parts = urllib.parse.urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        raise GitHubError(f"GITHUB_API_URL {url!r} is not an http(s) URL")
    if parts.scheme == "http" and host not in _LOOPBACK:
        raise GitHubError(
            f"GITHUB_API_URL {url!r} is plain http; pyo3-cache sends the token only over https"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise GitHubError("GITHUB_API_URL must not carry credentials, a query or a fragment")
    return url


def check_repository(repository: str) -> str:
    """``owner/name`` as in ``$GITHUB_REPOSITORY``; anything else could leave the repo's path."""
    if not _REPOSITORY.match(repository or "") or any(
        part in (".", "..") for part in repository.split("/")
    ):
        raise GitHubError(f"GITHUB_REPOSITORY {repository!r} is not of the form owner/name")
    return repository


class _BearerAuth:
    """Sets the Authorization header; given as ``auth=`` so ~/.netrc never overrides it.

    requests accepts any callable as ``auth``; no base class is needed.
    """

    def __init__(self, token: str) -> None:
        self._token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request.headers["Authorization"] = f"Bearer {self._token}"
        return request

    def secret(self) -> str:
        return self._token

    def __repr__(self) -> str:
        return "<token redacted>"


@dataclass(frozen=True)
class IssueComment:
    """The fields of GitHub's issue comment that pyo3-cache uses."""

    id: int
    body: str
    author: str = ""
    author_type: str = ""
    html_url: str = ""


class GitHubClient:
    """A small GitHub REST client on ``requests``: retries, rate limits, paging, no leaks.

    Reads (GET) are retried on 5xx, connection errors and rate limits, with
    ``Retry-After`` / ``x-ratelimit-reset`` honoured and exponential backoff
    with jitter otherwise.  Writes are not retried here: a write answered by
    5xx may still have landed, so ``upsert_sticky_comment`` re-reads and
    decides.  All waiting goes through ``wait`` and is capped by ``max_wait``
    seconds in total; ``sleep``, ``clock`` and ``rng`` are injectable so tests
    never sleep.  The token is kept out of ``repr`` and every message.
    """

    def __init__(
        self,
        token: str,
        *,
        api_url: str | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        rng: Callable[[], float] = random.random,
        max_wait: float = DEFAULT_MAX_WAIT,
        max_attempts: int = 4,
        timeout: float = 30.0,
    ) -> None:
        if not token or not token.strip():
            raise GitHubError("no GitHub token: set GITHUB_TOKEN (the action's github-token input)")
        import pyo3_cache

        self.api_url = check_api_url(api_url)
        # Held only inside the auth object, whose repr is redacted.
        self._auth = _BearerAuth(token.strip())
        if session is None:
            import requests

            session = requests.Session()
        self._session = session
        self._headers = {
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
            "User-Agent": f"pyo3-cache/{getattr(pyo3_cache, '__version__', 'dev')}",
        }
        self._sleep = sleep
        self.clock = clock
        self.rng = rng
        self.max_wait = max_wait
        self.max_attempts = max(1, max_attempts)
        self._timeout = timeout
        self.waited = 0.0

    def __repr__(self) -> str:
        return f"GitHubClient(api_url={self.api_url!r})"

    # waiting --------------------------------------------------------------

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter: about 1, 2, 4 ... s, capped at 20 s."""
        return float(min(20.0, 2.0 ** max(0, attempt - 1)) * (0.5 + self.rng()))

    def wait(self, seconds: float, why: str) -> None:
        """Sleep, unless the total would pass ``max_wait``; then fail with ``why``."""
        seconds = max(0.0, seconds)
        if self.waited + seconds > self.max_wait:
            raise GitHubAPIError(
                f"{why}; waiting {seconds:.0f} s more would pass the {self.max_wait:.0f} s "
                "pyo3-cache allows a step to wait for GitHub"
            )
        self.waited += seconds
        if seconds:
            self._sleep(seconds)

    # requests --------------------------------------------------------------

    def _where(self, method: str, url: str) -> str:
        path = urllib.parse.urlsplit(url).path
        base_path = urllib.parse.urlsplit(self.api_url).path
        if base_path and path.startswith(base_path):
            path = path[len(base_path) :] or "/"
        return f"{method} {path}"

    def _message(self, response: requests.Response) -> str:
        try:
            data = response.json()
        except (ValueError, RecursionError):
            data = None
        if isinstance(data, dict) and isinstance(data.get("message"), str):
            text = data["message"]
        else:
            text = response.text[:200] or response.reason or ""
        text = " ".join(redact(text, self._auth.secret()).split())
        return text[:200] + ("…" if len(text) > 200 else "")

    def _retry_after(self, response: requests.Response) -> float | None:
        value = response.headers.get("retry-after")
        if not value:
            return None
        value = value.strip()
        if value.isdigit():
            return float(value)
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        return max(0.0, when.timestamp() - self.clock())

    def error_for(self, method: str, url: str, response: requests.Response) -> GitHubAPIError:
        """The error a non-2xx answer means, and whether (and when) to try again."""
        status = response.status_code
        where = self._where(method, url)
        message = self._message(response)
        remaining = response.headers.get("x-ratelimit-remaining", "").strip()
        if status == 429 or (
            status == 403 and (remaining == "0" or "rate limit" in message.lower())
        ):
            wait = self._retry_after(response)
            reset = response.headers.get("x-ratelimit-reset", "").strip()
            if wait is None and remaining == "0" and reset.isdigit():
                wait = max(0.0, int(reset) - self.clock()) + 1.0
            if wait is None:
                wait = 60.0  # GitHub: "otherwise, wait for at least one minute"
            return GitHubAPIError(
                f"GitHub rate limit on {where} ({status}: {message or 'rate limited'})",
                status=status,
                retryable=True,
                retry_after=wait,
            )
        if status == 403 and "not accessible by integration" in message.lower():
            return ReadOnlyTokenError(
                f"the token cannot write there: GitHub answered {where} with 403 ({message}); "
                "a pull request from a fork gets a read-only GITHUB_TOKEN",
                status=status,
            )
        if status == 401:
            return GitHubAPIError(
                f"GitHub rejected the token on {where} (401: {message or 'Bad credentials'}); "
                "check GITHUB_TOKEN / the github-token input",
                status=status,
            )
        if status == 404:
            return GitHubAPIError(
                f"GitHub answered {where} with 404 Not Found: the repository, pull request or "
                "comment does not exist, or the token cannot see it",
                status=status,
            )
        if status >= 500:
            return GitHubAPIError(
                f"GitHub answered {where} with {status} {response.reason or ''}".rstrip(),
                status=status,
                retryable=True,
            )
        return GitHubAPIError(
            f"GitHub answered {where} with {status}: {message or response.reason}", status=status
        )

    def request(
        self,
        method: str,
        url: str,
        *,
        body: Any = None,
        params: Mapping[str, str] | None = None,
        retry: bool = True,
    ) -> requests.Response:
        """One REST call; with ``retry``, transient failures are retried within the budget."""
        import requests

        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._session.request(
                    method,
                    url,
                    params=params,
                    json=body,
                    headers=self._headers,
                    auth=self._auth,
                    timeout=self._timeout,
                )
            except requests.RequestException as exc:
                host = urllib.parse.urlsplit(url).netloc
                error = GitHubAPIError(
                    f"cannot reach {host} for {self._where(method, url)} ({type(exc).__name__})",
                    retryable=True,
                )
            else:
                if response.status_code < 400:
                    return response
                error = self.error_for(method, url, response)
            if not (retry and error.retryable) or attempt >= self.max_attempts:
                raise error
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            self.wait(delay, str(error))

    def json_of(self, method: str, url: str, response: requests.Response) -> Any:
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except (ValueError, RecursionError):  # nesting too deep for json
            raise GitHubAPIError(
                f"GitHub answered {self._where(method, url)} with malformed JSON "
                f"({response.status_code})",
                status=response.status_code,
            ) from None

    def _api_url_of(self, url: str) -> str:
        """A ``Link`` URL, only if it stays on our API (the token goes with it)."""
        base = urllib.parse.urlsplit(self.api_url)
        target = urllib.parse.urlsplit(url)
        if (target.scheme, target.netloc) != (base.scheme, base.netloc) or not (
            target.path.startswith(base.path + "/")
        ):
            raise GitHubAPIError(
                f"GitHub's Link header points outside {base.netloc}{base.path}; "
                "pyo3-cache does not send the token there"
            )
        return url

    # issue comments ----------------------------------------------------------

    def _comments_url(self, repository: str, number: int) -> str:
        return f"{self.api_url}/repos/{check_repository(repository)}/issues/{number}/comments"

    def _comment_url(self, repository: str, comment_id: int) -> str:
        return f"{self.api_url}/repos/{check_repository(repository)}/issues/comments/{comment_id}"

    def _comment(self, method: str, url: str, data: Any) -> IssueComment:
        if (
            not isinstance(data, dict)
            or not isinstance(data.get("id"), int)
            or not isinstance(data.get("body") or "", str)
        ):
            raise GitHubAPIError(
                f"GitHub answered {self._where(method, url)} with an unexpected comment shape"
            )
        user = data.get("user")
        if not isinstance(user, dict):
            user = {}
        return IssueComment(
            id=data["id"],
            body=data.get("body") or "",
            author=str(user.get("login") or ""),
            author_type=str(user.get("type") or ""),
            html_url=str(data.get("html_url") or ""),
        )

    def list_issue_comments(
        self, repository: str, number: int, *, max_pages: int = 100
    ) -> list[IssueComment]:
        """Every comment of issue/PR ``number``, 100 a page, following ``Link: rel="next"``."""
        url = self._comments_url(repository, number)
        params: Mapping[str, str] | None = {"per_page": "100", "page": "1"}
        comments: list[IssueComment] = []
        for _ in range(max_pages):
            response = self.request("GET", url, params=params)
            data = self.json_of("GET", url, response)
            if not isinstance(data, list):
                raise GitHubAPIError(
                    f"GitHub answered {self._where('GET', url)} with {type(data).__name__}, "
                    "not a list of comments"
                )
            comments.extend(self._comment("GET", url, item) for item in data)
            next_url = response.links.get("next", {}).get("url")
            if not next_url:
                return comments
            url, params = self._api_url_of(next_url), None
        raise GitHubAPIError(
            f"pull request #{number} has more than {max_pages * 100} comments; "
            "pyo3-cache stopped paging"
        )

    def get_issue_comment(self, repository: str, comment_id: int) -> IssueComment:
        url = self._comment_url(repository, comment_id)
        return self._comment("GET", url, self.json_of("GET", url, self.request("GET", url)))

    def create_issue_comment(self, repository: str, number: int, body: str) -> IssueComment:
        url = self._comments_url(repository, number)
        response = self.request("POST", url, body={"body": body}, retry=False)
        return self._comment("POST", url, self.json_of("POST", url, response))

    def update_issue_comment(self, repository: str, comment_id: int, body: str) -> IssueComment:
        url = self._comment_url(repository, comment_id)
        response = self.request("PATCH", url, body={"body": body}, retry=False)
        return self._comment("PATCH", url, self.json_of("PATCH", url, response))

    def delete_issue_comment(self, repository: str, comment_id: int) -> None:
        url = self._comment_url(repository, comment_id)
        self.request("DELETE", url, retry=False)


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
    state = _scan_fences(lines)[-1]
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


def find_sticky_comments(comments: list[IssueComment]) -> list[IssueComment]:
    """Comments carrying the marker, the one to update first.

    Bots' comments come first (GITHUB_TOKEN posts as github-actions[bot]; a
    person pasting the marker should not capture the report), then the oldest.
    """
    marked = [c for c in comments if is_sticky_body(c.body)]
    return sorted(marked, key=lambda c: (c.author_type != "Bot", c.id))


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

    The comment is the one carrying ``<!-- pyo3-cache -->``; each job owns
    the part between its section markers.  GitHub has no conditional update
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
    problem = ""
    pause = 0.0
    for attempt in range(1, max_attempts + 1):
        if attempt > 1:
            gh.wait(pause, f"could not update PR #{pr_number}'s comment: {problem}")
        pause = gh.backoff(attempt)
        started = gh.clock()
        # Reads were retried by the client already; their failures end here.
        sticky = find_sticky_comments(gh.list_issue_comments(repository, pr_number))
        try:
            if not sticky:
                body, truncated = fit_sticky_body([section])
                new = _write(gh.create_issue_comment, repository, pr_number, body)
                ours.append(new.id)
                # Another job may have created one at the same moment: the
                # older comment wins, whoever looks.
                again = find_sticky_comments(gh.list_issue_comments(repository, pr_number))
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


def matrix_values(matrix: str) -> list[str]:
    """The values of ``${{ toJSON(matrix) }}``, in order; a plain string is one value."""
    text = (matrix or "").strip()
    if not text or text == "null":
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return [text]
    if isinstance(data, dict):
        items: list[Any] = list(data.values())
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    return [
        v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True)
        for v in items
        if v not in (None, "")
    ]


def job_title(job: str, matrix: str = "") -> str:
    """``job (value, value)``, as GitHub names a matrix job's check."""
    values = matrix_values(matrix)
    name = job or "job"
    return f"{name} ({', '.join(values)})" if values else name


def job_section_key(env: Mapping[str, str], matrix: str = "") -> str:
    """The key of a job's section: workflow, job id and matrix, so each matrix job owns one."""
    return "/".join(
        [env.get("GITHUB_WORKFLOW", ""), env.get("GITHUB_JOB", "") or "job", *matrix_values(matrix)]
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
    from pyo3_cache.github import log

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
