"""A fake GitHub REST API for issue comments, served on 127.0.0.1 from a thread.

It follows the shapes GitHub documents for the endpoints pyo3-cache uses
(docs.github.com/rest/issues/comments, .../using-the-rest-api/rate-limits...):

- ``GET  /repos/{o}/{r}/issues/{n}/comments?per_page=&page=`` (30 a page by
  default, 100 at most) with ``Link: <...>; rel="next", <...>; rel="last"``
  (and ``prev``/``first``); like GitHub, the links use the
  ``/repositories/{id}/...`` form, which is served too;
- ``POST`` there creates (201 + ``Location``); ``GET/PATCH/DELETE
  /repos/{o}/{r}/issues/comments/{id}`` read (200), update (200), delete (204);
- 401 ``Bad credentials`` for an unknown token, 403 ``Resource not accessible
  by integration`` for a write with a read-only token (a fork's PR), 404
  ``Not Found``, 422 ``Validation Failed`` for a body over 65,536 characters;
- ``GET /user``: the token's user (``login``, ``id``, ``type: "User"``) for a
  personal token (``user_login=``); for an installation token (GitHub
  Actions' ``GITHUB_TOKEN``, the default here) 403 ``Resource not accessible
  by integration``, as GitHub answers there.  Comments a token creates carry
  its author: its user, or ``github-actions[bot]`` (``type: "Bot"``);
- ``x-ratelimit-*`` headers on every answer.

Per test, faults can be queued (429 + Retry-After, a 403 secondary rate limit
with ``x-ratelimit-remaining: 0`` and ``x-ratelimit-reset``, 5xx, malformed
JSON, ...) and *rendezvous* points that hold the first N matching answers
until all N are computed, to replay races between matrix jobs
deterministically.  Every request is recorded.  The server is bounded: it
refuses requests past a cap and shuts itself down after ``lifetime`` seconds.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DOCS = "https://docs.github.com/rest/issues/comments"
BODY_LIMIT = 65_536

_LIST = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")
_LIST_BY_ID = re.compile(r"^/repositories/(\d+)/issues/(\d+)/comments$")
_ONE = re.compile(r"^/repos/([^/]+)/([^/]+)/issues/comments/(\d+)$")


@dataclass
class Recorded:
    """One request as the server saw it (``path`` without the API prefix)."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """An answer given instead of the real one to the next ``times`` matching requests."""

    method: str
    path: str  # a regex, matched in full against the path
    status: int
    body: Any = None  # dict/list → JSON, str/bytes → sent as is
    headers: dict[str, str] = field(default_factory=dict)
    times: int = 1


@dataclass
class _Rendezvous:
    method: str
    path: str
    barrier: threading.Barrier
    left: int
    timeout: float


@dataclass
class _Answer:
    status: int
    body: bytes
    headers: dict[str, str]


class FakeGitHub:
    """The fake API.  ``start()``/``stop()``, or use it through the ``fake_github`` fixture."""

    def __init__(
        self,
        *,
        token: str,
        read_only_tokens: tuple[str, ...] = (),
        user_login: str | None = None,
        prefix: str = "",
        lifetime: float = 120.0,
        max_requests: int = 3000,
    ) -> None:
        self.token = token
        self.read_only_tokens = set(read_only_tokens)
        self.user_login = user_login
        self.prefix = prefix.rstrip("/")
        self.lifetime = lifetime
        self.max_requests = max_requests
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._rendezvous: list[_Rendezvous] = []
        self._repos: dict[str, int] = {}
        self._issues: dict[tuple[str, int], list[dict[str, Any]]] = {}
        self._next_id = 1000
        self._clock = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._watchdog: threading.Timer | None = None

    # lifecycle -----------------------------------------------------------------

    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10  # a stuck client cannot hold a thread forever

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _serve(self) -> None:
                fake._serve(self)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        self._watchdog = threading.Timer(self.lifetime, self.stop)
        self._watchdog.daemon = True
        self._watchdog.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if self._watchdog is not None and self._watchdog is not threading.current_thread():
            self._watchdog.cancel()
        for point in self._rendezvous:
            point.barrier.abort()
        if server is not None:
            server.shutdown()
            server.server_close()

    @property
    def origin(self) -> str:
        assert self._server is not None, "the fake GitHub is not running"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api_url(self) -> str:
        return self.origin + self.prefix

    # state ---------------------------------------------------------------------

    def add_pull(self, repository: str, number: int) -> None:
        with self._lock:
            self._repos.setdefault(repository, 100 + len(self._repos))
            self._issues.setdefault((repository, number), [])

    def add_comments(
        self,
        repository: str,
        number: int,
        bodies: list[str],
        *,
        login: str = "someone",
        user_type: str = "User",
    ) -> list[int]:
        self.add_pull(repository, number)
        with self._lock:
            return [
                self._new_comment(repository, number, body, login, user_type)["id"]
                for body in bodies
            ]

    def comments(self, repository: str, number: int) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(c) for c in self._issues[(repository, number)]]

    def fail(
        self,
        method: str,
        path: str,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests matching ``method`` and ``path`` (regex) so."""
        with self._lock:
            self._faults.append(Fault(method, path, status, body, dict(headers or {}), times))

    def rendezvous(self, method: str, path: str, parties: int = 2, timeout: float = 10.0) -> None:
        """Hold the first ``parties`` matching answers until all of them are computed.

        A GET's data is read, and a write applied, before the wait: N jobs
        read the same state, or N writes all land before any job reads again.
        """
        with self._lock:
            self._rendezvous.append(
                _Rendezvous(method, path, threading.Barrier(parties), parties, timeout)
            )

    def calls(self, method: str | None = None, path: str | None = None) -> list[Recorded]:
        with self._lock:
            return [
                r
                for r in self.requests
                if (method is None or r.method == method)
                and (path is None or re.fullmatch(path, r.path))
            ]

    # serving -------------------------------------------------------------------

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        split = urllib.parse.urlsplit(handler.path)
        path = split.path
        if self.prefix and path.startswith(self.prefix + "/"):
            path = path[len(self.prefix) :]
        elif self.prefix:
            path = "/__outside_prefix__" + path
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        method = handler.command
        with self._lock:
            self.requests.append(
                Recorded(
                    method,
                    path,
                    urllib.parse.parse_qs(split.query),
                    {k.lower(): v for k, v in handler.headers.items()},
                    body,
                )
            )
            over_cap = len(self.requests) > self.max_requests
        if over_cap:
            answer = self._json(503, {"message": "fake GitHub: request cap reached"})
        else:
            answer = self._fault(method, path) or self._route(handler, method, path, split, body)
        self._meet(method, path)
        handler.send_response(answer.status)
        for name, value in answer.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        if answer.body:
            handler.wfile.write(answer.body)

    def _meet(self, method: str, path: str) -> None:
        point = None
        with self._lock:
            for candidate in self._rendezvous:
                if (
                    candidate.left
                    and candidate.method == method
                    and re.fullmatch(candidate.path, path)
                ):
                    candidate.left -= 1
                    point = candidate
                    break
        if point is not None:
            # If the other party never comes, answer anyway: the test will say.
            with contextlib.suppress(threading.BrokenBarrierError):
                point.barrier.wait(point.timeout)

    def _fault(self, method: str, path: str) -> _Answer | None:
        with self._lock:
            for fault in self._faults:
                if fault.times > 0 and fault.method == method and re.fullmatch(fault.path, path):
                    fault.times -= 1
                    break
            else:
                return None
        if isinstance(fault.body, (dict, list)):
            answer = self._json(fault.status, fault.body)
        else:
            data = fault.body.encode() if isinstance(fault.body, str) else fault.body or b""
            answer = _Answer(fault.status, data, {"Content-Type": "application/json"})
        answer.headers.update(fault.headers)
        return answer

    def _json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> _Answer:
        out = {
            "Content-Type": "application/json; charset=utf-8",
            "x-ratelimit-limit": "5000",
            "x-ratelimit-remaining": str(max(0, 5000 - len(self.requests))),
            "x-ratelimit-reset": str(int(time.time()) + 3600),
            "x-ratelimit-used": str(len(self.requests)),
            "x-ratelimit-resource": "core",
        }
        out.update(headers or {})
        return _Answer(status, json.dumps(data).encode() if data is not None else b"", out)

    def _error(self, status: int, message: str, doc: str = DOCS) -> _Answer:
        return self._json(
            status, {"message": message, "documentation_url": doc, "status": str(status)}
        )

    def _route(
        self,
        handler: BaseHTTPRequestHandler,
        method: str,
        path: str,
        split: urllib.parse.SplitResult,
        body: Any,
    ) -> _Answer:
        auth = handler.headers.get("Authorization", "")
        scheme, _, token = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or token not in (
            {self.token} | self.read_only_tokens
        ):
            return self._error(401, "Bad credentials", "https://docs.github.com/rest")
        read_only = token in self.read_only_tokens
        if path == "/user" and method == "GET":
            if self.user_login is None or read_only:
                return self._error(
                    403,
                    "Resource not accessible by integration",
                    "https://docs.github.com/rest/users/users#get-the-authenticated-user",
                )
            return self._json(200, {"login": self.user_login, "id": 583231, "type": "User"})
        if match := _LIST.match(path):
            key = (f"{match.group(1)}/{match.group(2)}", int(match.group(3)))
        elif match := _LIST_BY_ID.match(path):
            by_id = {v: k for k, v in self._repos.items()}
            key = (by_id.get(int(match.group(1)), "?"), int(match.group(2)))
        elif match := _ONE.match(path):
            return self._one(
                method, f"{match.group(1)}/{match.group(2)}", int(match.group(3)), body, read_only
            )
        else:
            return self._error(404, "Not Found", "https://docs.github.com/rest")
        if key not in self._issues:
            return self._error(404, "Not Found")
        if method == "GET":
            return self._list(key, split)
        if method == "POST":
            if read_only:
                return self._error(403, "Resource not accessible by integration")
            invalid = self._invalid(body)
            if invalid:
                return invalid
            with self._lock:
                if self.user_login is None:
                    author = ("github-actions[bot]", "Bot")
                else:
                    author = (self.user_login, "User")
                comment = self._new_comment(key[0], key[1], body["body"], *author)
            return self._json(201, comment, {"Location": comment["url"]})
        return self._error(404, "Not Found")

    def _list(self, key: tuple[str, int], split: urllib.parse.SplitResult) -> _Answer:
        query = urllib.parse.parse_qs(split.query)
        per_page = min(100, max(1, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        with self._lock:
            items = [dict(c) for c in self._issues[key]]
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        base = f"{self.api_url}/repositories/{self._repos[key[0]]}/issues/{key[1]}/comments"

        def link(n: int, rel: str) -> str:
            return f'<{base}?per_page={per_page}&page={n}>; rel="{rel}"'

        links = []
        if page > 1:
            links.append(link(page - 1, "prev"))
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        if page > 1:
            links.append(link(1, "first"))
        headers = {"Link": ", ".join(links)} if links else {}
        return self._json(200, chunk, headers)

    def _invalid(self, body: Any) -> _Answer | None:
        if not isinstance(body, dict) or not isinstance(body.get("body"), str):
            return self._error(422, 'Invalid request.\n\n"body" wasn\'t supplied.')
        if len(body["body"]) > BODY_LIMIT:
            return self._json(
                422,
                {
                    "message": "Validation Failed",
                    "errors": [
                        {
                            "resource": "IssueComment",
                            "code": "custom",
                            "field": "body",
                            "message": "body is too long (maximum is 65536 characters)",
                        }
                    ],
                    "documentation_url": DOCS,
                    "status": "422",
                },
            )
        return None

    def _one(
        self, method: str, repository: str, comment_id: int, body: Any, read_only: bool
    ) -> _Answer:
        with self._lock:
            found = [
                (key, c)
                for key, comments in self._issues.items()
                if key[0] == repository
                for c in comments
                if c["id"] == comment_id
            ]
        if not found:
            return self._error(404, "Not Found")
        key, comment = found[0]
        if method == "GET":
            return self._json(200, dict(comment))
        if method not in ("PATCH", "DELETE"):
            return self._error(404, "Not Found")
        if read_only:
            return self._error(403, "Resource not accessible by integration")
        if method == "DELETE":
            with self._lock:
                self._issues[key] = [c for c in self._issues[key] if c["id"] != comment_id]
            return _Answer(204, b"", {})
        invalid = self._invalid(body)
        if invalid:
            return invalid
        with self._lock:
            comment["body"] = body["body"]
            comment["updated_at"] = self._stamp()
            return self._json(200, dict(comment))

    def _stamp(self) -> str:
        self._clock += 1
        return (
            time.strftime("%Y-%m-%dT%H:%M:", time.gmtime(1_700_000_000))
            + f"{self._clock % 60:02d}Z"
        )

    def _new_comment(
        self, repository: str, number: int, body: str, login: str, user_type: str
    ) -> dict[str, Any]:
        self._next_id += 1
        comment_id = self._next_id
        stamp = self._stamp()
        comment = {
            "id": comment_id,
            "node_id": f"IC_fake{comment_id}",
            "url": f"{self.api_url}/repos/{repository}/issues/comments/{comment_id}",
            "html_url": f"https://github.com/{repository}/pull/{number}#issuecomment-{comment_id}",
            "issue_url": f"{self.api_url}/repos/{repository}/issues/{number}",
            "body": body,
            "user": {"login": login, "id": 41898282, "type": user_type},
            "created_at": stamp,
            "updated_at": stamp,
            "author_association": "NONE" if user_type == "Bot" else "CONTRIBUTOR",
        }
        self._issues[(repository, number)].append(comment)
        return comment


def running(token: str, **options: Any) -> Iterator[FakeGitHub]:
    """Start a fake for the length of a ``with``/fixture; always stopped after."""
    fake = FakeGitHub(token=token, **options).start()
    try:
        yield fake
    finally:
        fake.stop()
