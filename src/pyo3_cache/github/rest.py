"""The GitHub REST client: retries, rate limits, paging, errors; the token never leaks.

HTTP goes through ``github/http.py`` (the standard library's ``urllib``), which
is imported only when a request is made, so CLI commands that never talk to
the API do not pay for loading it.
"""

from __future__ import annotations

import email.utils
import random
import re
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pyo3_cache.github.http import Response, Transport

from pyo3_cache.errors import GitHubError
from pyo3_cache.redact import TEXT_REDACTED, redact_text

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


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, without credentials, path or query."""
    try:
        parts = urllib.parse.urlsplit(url.strip())
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{parts.hostname or ''}{port}"
    except ValueError:  # a bad port or IPv6 address
        return "an unparsable URL"


class _BearerAuth:
    """Holds the token; its repr is redacted.  ``header()`` goes with every request."""

    def __init__(self, token: str) -> None:
        self._token = token

    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._token}"}

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
    """A small GitHub REST client on the standard library: retries, rate limits, paging.

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
        transport: Transport | None = None,
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
        self._transport = transport  # made on the first request (see http.py)
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

    def _message(self, response: Response) -> str:
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

    def _retry_after(self, response: Response) -> float | None:
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

    def error_for(self, method: str, url: str, response: Response) -> GitHubAPIError:
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
        if 300 <= status < 400:  # http.py follows redirects that stay on the API's host
            try:
                target = urllib.parse.urljoin(url, response.headers.get("location", ""))
            except ValueError:
                target = ""
            target = _origin(target)
            if target == _origin(self.api_url):
                why = "redirects too many times"
            else:
                why = (
                    f"redirects to {redact(target, self._auth.secret())}; pyo3-cache follows "
                    f"redirects only on {_origin(self.api_url)} (the token goes nowhere else)"
                )
            return GitHubAPIError(f"GitHub answered {where} with {status}: {why}", status=status)
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
    ) -> Response:
        """One REST call; with ``retry``, transient failures are retried within the budget."""
        from pyo3_cache.github.http import Transport, TransportError

        if self._transport is None:
            self._transport = Transport()
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._transport.request(
                    method,
                    url,
                    params=params,
                    json_body=body,
                    headers={**self._headers, **self._auth.header()},
                    timeout=self._timeout,
                )
            except TransportError as exc:
                host = urllib.parse.urlsplit(url).netloc
                error = GitHubAPIError(
                    f"cannot reach {host} for {self._where(method, url)} ({exc.kind})",
                    retryable=True,
                )
            else:
                if 200 <= response.status_code < 300:
                    return response
                error = self.error_for(method, url, response)
            if not (retry and error.retryable) or attempt >= self.max_attempts:
                raise error
            delay = error.retry_after if error.retry_after is not None else self.backoff(attempt)
            self.wait(delay, str(error))

    def json_of(self, method: str, url: str, response: Response) -> Any:
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

    # who the token is ---------------------------------------------------------

    def authenticated_login(self) -> str | None:
        """The login of the token's user (``GET /user``), or None when the token may not ask.

        A personal or OAuth token answers with its user.  An installation token
        (GitHub Actions' ``GITHUB_TOKEN``, a GitHub App's) gets 403 "Resource
        not accessible by integration" there, GitHub's documented answer for
        endpoints an installation cannot use; None then.
        """
        url = f"{self.api_url}/user"
        try:
            data = self.json_of("GET", url, self.request("GET", url))
        except GitHubAPIError as exc:
            if exc.status in (403, 404) and not exc.retryable:
                return None
            raise
        login = data.get("login") if isinstance(data, dict) else None
        return login if isinstance(login, str) and login else None

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
