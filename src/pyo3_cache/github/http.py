"""HTTP for the REST client on the standard library: one call, one whole answer.

``Transport.request`` sends one request with ``urllib.request`` and returns
every answer as a ``Response``, 4xx and 5xx included.  Proxies come from the
environment (``HTTPS_PROXY``, ``NO_PROXY``, ...) as urllib reads them;
``~/.netrc`` is never read.  Redirects are followed only while they stay on
the same scheme, host and port; one that leaves is returned as it came, so
the Authorization header never reaches another host.  Anything without an
answer (refused, DNS, timeout, TLS, a malformed or oversized answer) is a
``TransportError``.  ``rest.py`` imports this module only when it makes a call.
"""

from __future__ import annotations

import http.client
import json
import re
import socket
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_BODY = 32 * 1024 * 1024
MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}
_NO_BODY = {"GET", "HEAD"}
_PORTS = {"http": 80, "https": 443}
_LINK = re.compile(r"<([^>]*)>([^<]*)")
_LINK_PARAM = re.compile(r'([^\s=;,]+)\s*=\s*("[^"]*"|[^;,]*)')
_CHARSET = re.compile(r"charset\s*=\s*\"?([A-Za-z0-9._-]+)", re.I)


class TransportError(Exception):
    """No usable answer; ``kind`` names the cause (``ConnectionRefusedError``, ``TimeoutError``)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class Headers(Mapping[str, str]):
    """Answer headers, looked up without regard to case; repeated ones joined by ``, ``."""

    def __init__(self, items: Iterable[tuple[str, str]] | Mapping[str, str] = ()) -> None:
        pairs = items.items() if isinstance(items, Mapping) else items
        self._items: dict[str, tuple[str, str]] = {}
        for name, value in pairs:
            key = name.lower()
            if key in self._items:
                value = f"{self._items[key][1]}, {value}"
            self._items[key] = (name, value)

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({dict(self.items())!r})"


@dataclass
class Response:
    """One HTTP answer, its body read in full."""

    status_code: int
    reason: str = ""
    headers: Headers = field(default_factory=Headers)
    content: bytes = field(default=b"", repr=False)
    url: str = field(default="", repr=False)

    @property
    def text(self) -> str:
        found = _CHARSET.search(self.headers.get("content-type", ""))
        try:
            return self.content.decode(found.group(1) if found else "utf-8", "replace")
        except LookupError:  # an unknown charset
            return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        """The body as JSON; ``ValueError`` when it is not (``RecursionError`` if too deep)."""
        return json.loads(self.content)

    @property
    def links(self) -> dict[str, dict[str, str]]:
        """The ``Link`` header by relation: ``{"next": {"url": ..., "rel": "next"}, ...}``."""
        found: dict[str, dict[str, str]] = {}
        for url, params in _LINK.findall(self.headers.get("link", "")):
            link = {"url": url.strip()}
            for name, value in _LINK_PARAM.findall(params):
                link[name.lower()] = value.strip().strip('"')
            for rel in link.get("rel", "").split() or [link["url"]]:
                found.setdefault(rel, link)
        return found


def _origin(url: str) -> tuple[str, str, int | None]:
    """Scheme, host and port; ``("", "", -1)`` for a URL that does not parse."""
    try:
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        return scheme, (parts.hostname or "").lower(), parts.port or _PORTS.get(scheme)
    except ValueError:  # a bad port or IPv6 address
        return "", "", -1


def _kind(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, BaseException):
        exc = exc.reason
    return "TimeoutError" if isinstance(exc, socket.timeout) else type(exc).__name__


class Transport:
    """Sends requests through ``urllib.request``; see the module's docstring."""

    def __init__(self, *, max_body: int = MAX_BODY, max_redirects: int = MAX_REDIRECTS) -> None:
        self.max_body = max_body
        self.max_redirects = max_redirects
        # Not build_opener(): no redirect or error handlers (handled here), no file:, ftp:, data:.
        self._opener = urllib.request.OpenerDirector()
        handlers: list[urllib.request.BaseHandler] = [
            urllib.request.ProxyHandler(),
            urllib.request.HTTPHandler(),
            urllib.request.UnknownHandler(),
        ]
        if hasattr(urllib.request, "HTTPSHandler"):  # Python built without ssl: http only
            handlers.append(urllib.request.HTTPSHandler())
        for handler in handlers:
            self._opener.add_handler(handler)

    def request(
        self,
        method: str,
        url: str,
        *,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = 30.0,
    ) -> Response:
        method = method.upper()
        if params:
            url += ("&" if "?" in url else "?") + urllib.parse.urlencode(params)
        sent = {k: v for k, v in (headers or {}).items() if k.lower() != "content-type"}
        data = None
        if json_body is not None and method not in _NO_BODY:
            data = json.dumps(json_body).encode("utf-8")
        for _ in range(self.max_redirects + 1):
            response = self._once(method, url, data, sent, timeout)
            status = response.status_code
            location = response.headers.get("location", "").strip()
            if status not in _REDIRECTS or not location:
                return response
            try:
                target = urllib.parse.urljoin(url, location)
            except ValueError:  # an unparsable Location: the caller reports the answer
                return response
            if _origin(target) != _origin(url):
                return response  # the token stays here; the caller reports the redirect
            if (status == 303 and method != "HEAD") or (status in (301, 302) and method == "POST"):
                method, data = "GET", None
            url = target
        return response

    def _once(
        self, method: str, url: str, data: bytes | None, headers: dict[str, str], timeout: float
    ) -> Response:
        if _origin(url)[0] not in ("http", "https"):
            raise TransportError(f"not a usable http(s) URL: {url[:100]!r}", "InvalidURL")
        if data is not None:
            headers = {**headers, "Content-Type": "application/json"}
        try:
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            answer = self._opener.open(request, timeout=timeout)
            try:
                chunks: list[bytes] = []
                size = 0
                while chunk := answer.read(65_536):
                    size += len(chunk)
                    if size > self.max_body:
                        raise TransportError(
                            f"the answer is over {self.max_body} bytes", "ResponseTooLarge"
                        )
                    chunks.append(chunk)
                if getattr(answer, "length", None):  # short of its Content-Length
                    raise TransportError("the answer ended early", "IncompleteRead")
            finally:
                answer.close()
        except TransportError:
            raise
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise TransportError(f"no answer from {_origin(url)[1]}", _kind(exc)) from None
        return Response(
            answer.status,
            answer.reason or "",
            Headers(answer.headers.items()),
            b"".join(chunks),
            url,
        )
