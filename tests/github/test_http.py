"""github/http.py and the client on it: redirects, proxies, timeouts, paging, no leaks.

Everything runs against servers on 127.0.0.1: the fake GitHub, a second fake
standing in for another host, one that never answers and one that answers
garbage.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from pyo3_cache.github.http import Headers, Response, Transport, TransportError
from tests.fake_github import FakeGitHub, running
from tests.github.helpers import (
    COMMENTS,
    PR,
    READ_ONLY_TOKEN,
    REPO,
    TOKEN,
    FakeTime,
    closed_port,
)

LIST = "/repos/octo/hello/issues/7/comments"


def client(api_url: str, time: FakeTime | None = None, **kw: object) -> github.GitHubClient:
    time = time or FakeTime()
    return github.GitHubClient(
        TOKEN,
        api_url=api_url,
        sleep=time.sleep,
        clock=time.clock,
        rng=lambda: 0.5,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def other() -> Iterator[FakeGitHub]:
    """Another host: a second fake that takes the same token, so a leak would be recorded."""
    yield from running(TOKEN)


@contextlib.contextmanager
def silent_server() -> Iterator[int]:
    """A port whose connections are accepted by the kernel and then never answered."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock.getsockname()[1]


@contextlib.contextmanager
def raw_server(answer: bytes) -> Iterator[int]:
    """A port that reads a request's head, sends ``answer`` as is and closes."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.1)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in head and len(head) < 65_536:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                    conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        sock.close()


# --- redirects ---------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_to_another_host_is_not_followed(
    fake: FakeGitHub, other: FakeGitHub, status: int
) -> None:
    fake.fail("GET", COMMENTS, status, "", {"Location": other.api_url + LIST})
    with pytest.raises(github.GitHubAPIError) as caught:
        client(fake.api_url).list_issue_comments(REPO, PR)
    assert other.requests == []  # the token never reached it
    message = str(caught.value)
    assert f"with {status}: redirects to {other.origin}" in message
    assert "follows redirects only on" in message and TOKEN not in message
    assert caught.value.status == status and not caught.value.retryable


def test_a_redirect_to_another_name_of_the_same_server_is_not_followed(fake: FakeGitHub) -> None:
    """Same address and port, other host name: still another host to the token."""
    elsewhere = fake.origin.replace("127.0.0.1", "localhost") + LIST
    fake.fail("GET", COMMENTS, 302, "", {"Location": elsewhere})
    with pytest.raises(github.GitHubAPIError, match="redirects to http://localhost:"):
        client(fake.api_url).list_issue_comments(REPO, PR)
    assert [
        r.headers.get("host", "") for r in fake.requests if "localhost" in r.headers["host"]
    ] == []
    assert len(fake.requests) == 1


def test_a_redirect_from_https_to_http_on_the_same_host_is_not_followed() -> None:
    answer = Response(302, "Found", Headers({"Location": "http://127.0.0.1/x"}))
    transport = Transport()
    transport._once = lambda *a, **k: answer  # type: ignore[method-assign]
    assert transport.request("GET", "https://127.0.0.1/x") is answer


def test_a_write_redirected_to_another_host_fails_and_sends_nothing(
    fake: FakeGitHub, other: FakeGitHub
) -> None:
    fake.fail("POST", COMMENTS, 307, "", {"Location": other.api_url + LIST})
    with pytest.raises(github.GitHubAPIError, match="307: redirects to"):
        client(fake.api_url).create_issue_comment(REPO, PR, "hello")
    assert other.requests == [] and fake.comments(REPO, PR) == []


def test_a_same_host_redirect_is_followed_with_the_token(fake: FakeGitHub) -> None:
    fake.add_comments(REPO, PR, ["one", "two"])
    fake.fail("GET", COMMENTS, 301, "", {"Location": f"{LIST}?per_page=100&redirected=1"})
    comments = client(fake.api_url).list_issue_comments(REPO, PR)
    assert [c.body for c in comments] == ["one", "two"]
    first, followed = fake.calls("GET", COMMENTS)
    assert followed.query == {"per_page": ["100"], "redirected": ["1"]}
    assert followed.headers["authorization"] == first.headers["authorization"] == f"Bearer {TOKEN}"
    assert followed.headers["x-github-api-version"] == "2022-11-28"


def test_a_307_on_a_write_is_followed_with_its_method_and_body(fake: FakeGitHub) -> None:
    fake.fail("POST", COMMENTS, 307, "", {"Location": fake.api_url + LIST})
    comment = client(fake.api_url).create_issue_comment(REPO, PR, "hello")
    assert [c["body"] for c in fake.comments(REPO, PR)] == ["hello"] and comment.body == "hello"
    assert [r.body for r in fake.calls("POST", COMMENTS)] == [{"body": "hello"}] * 2


def test_a_redirect_loop_ends_in_an_error(fake: FakeGitHub) -> None:
    fake.fail("GET", COMMENTS, 302, "", {"Location": LIST}, times=20)
    with pytest.raises(github.GitHubAPIError, match="302: redirects too many times"):
        client(fake.api_url).list_issue_comments(REPO, PR)
    assert len(fake.requests) == 6  # the first try and five redirects


# --- no answer ---------------------------------------------------------------


def test_connection_refused_is_the_retryable_cannot_reach_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    port = closed_port()
    time = FakeTime()
    with pytest.raises(github.GitHubAPIError) as caught:
        client(f"http://127.0.0.1:{port}", time).list_issue_comments(REPO, PR)
    assert str(caught.value) == (
        f"cannot reach 127.0.0.1:{port} for GET {LIST} (ConnectionRefusedError)"
    )
    assert caught.value.retryable and caught.value.status is None
    assert len(time.sleeps) == 3  # read: tried max_attempts (4) times


def test_a_server_that_never_answers_times_out(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with silent_server() as port:
        with pytest.raises(TransportError) as caught:
            Transport().request("GET", f"http://127.0.0.1:{port}/user", timeout=0.2)
        assert caught.value.kind == "TimeoutError"
        time = FakeTime()
        gh = client(f"http://127.0.0.1:{port}", time, timeout=0.2, max_attempts=2)
        with pytest.raises(github.GitHubAPIError, match=r"cannot reach .* \(TimeoutError\)") as e:
            gh.list_issue_comments(REPO, PR)
        assert e.value.retryable and len(time.sleeps) == 1


@pytest.mark.parametrize(
    ("answer", "kind"),
    [
        (b"SPAM\r\n\r\n", "BadStatusLine"),
        (b"", "RemoteDisconnected"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "IncompleteRead"),
    ],
)
def test_a_malformed_answer_is_a_transport_error(
    monkeypatch: pytest.MonkeyPatch, answer: bytes, kind: str
) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    with raw_server(answer) as port:
        with pytest.raises(TransportError) as caught:
            Transport().request("GET", f"http://127.0.0.1:{port}/user", timeout=5)
        assert caught.value.kind == kind
        with pytest.raises(github.GitHubAPIError, match=f"cannot reach .*{kind}"):
            client(f"http://127.0.0.1:{port}", max_attempts=1).authenticated_login()


def test_an_answer_over_the_cap_is_a_transport_error(fake: FakeGitHub) -> None:
    fake.fail("GET", "/user", 200, "x" * 5000)
    with pytest.raises(TransportError, match="over 1000 bytes"):
        Transport(max_body=1000).request("GET", fake.api_url + "/user")


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/x", "file://localhost/x", "http://127.0.0.1:99999/x", "http://a b/"]
)
def test_bad_urls_are_transport_errors(url: str) -> None:
    with pytest.raises(TransportError):
        Transport().request("GET", url, timeout=2)


# --- what is sent ------------------------------------------------------------


def test_non_2xx_answers_are_returned(fake: FakeGitHub) -> None:
    response = Transport().request("GET", fake.api_url + "/nowhere")
    assert response.status_code == 401 and response.reason == "Unauthorized"
    assert response.json()["message"] == "Bad credentials"
    assert response.headers["CONTENT-TYPE"] == response.headers["content-type"]
    assert "X-RateLimit-Limit" in response.headers


def test_a_json_body_is_sent_as_json_and_a_get_sends_none(fake: FakeGitHub) -> None:
    transport = Transport()
    auth = {"Authorization": f"Bearer {TOKEN}", "content-type": "text/plain"}
    transport.request("POST", fake.api_url + LIST, json_body={"body": "ü"}, headers=auth)
    transport.request("GET", fake.api_url + LIST, json_body={"body": "no"}, headers=auth)
    post, get = fake.requests
    assert post.headers["content-type"] == "application/json" and post.body == {"body": "ü"}
    assert get.body is None and "content-type" not in get.headers
    assert get.headers.get("content-length", "0") == "0"


def test_params_are_added_to_the_query(fake: FakeGitHub) -> None:
    Transport().request("GET", fake.api_url + LIST + "?a=1", params={"page": "2", "q": "a b&c"})
    assert fake.requests[0].query == {"a": ["1"], "page": ["2"], "q": ["a b&c"]}


def test_netrc_is_never_read(
    fake: FakeGitHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    netrc = tmp_path / ".netrc"
    netrc.write_text("machine 127.0.0.1 login someone password hunter2\n")
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("NETRC", str(netrc))
    Transport().request("GET", fake.api_url + "/user")
    assert "authorization" not in fake.requests[0].headers


def test_a_proxy_from_the_environment_is_used(
    fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fake stands in for the proxy: a plain-http request goes to it in full."""
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("http_proxy", "HTTP_PROXY"):
        monkeypatch.setenv(name, fake.origin)
    response = Transport().request("GET", "http://api.example.invalid/user", timeout=5)
    assert response.status_code == 401  # the fake answered: no DNS lookup of example.invalid
    assert fake.requests[0].headers["host"] == "api.example.invalid"


# --- paging ------------------------------------------------------------------


def test_link_paging_reads_every_page(fake: FakeGitHub) -> None:
    fake.add_comments(REPO, PR, [f"c{i}" for i in range(250)])
    comments = client(fake.api_url).list_issue_comments(REPO, PR)
    assert [c.body for c in comments] == [f"c{i}" for i in range(250)]
    paths = [r.path for r in fake.calls("GET")]
    assert paths[0] == LIST and len(paths) == 3
    assert all(p.startswith("/repositories/") for p in paths[1:])  # GitHub's Link form
    assert [r.query["page"] for r in fake.calls("GET")] == [["1"], ["2"], ["3"]]


def test_links_are_parsed_like_github_sends_them() -> None:
    link = (
        '<https://api.github.com/repositories/1/issues/7/comments?page=2&per_page=100>; rel="next",'
        ' <https://api.github.com/repositories/1/issues/7/comments?page=5>; rel="last", '
        "<https://x/a,b>;rel=prev;title=\"a, b\" , <https://x/y>; rel='odd'"
    )
    links = Response(200, headers=Headers([("link", link)])).links
    assert links["next"] == {
        "url": "https://api.github.com/repositories/1/issues/7/comments?page=2&per_page=100",
        "rel": "next",
    }
    assert links["last"]["url"].endswith("page=5")
    assert links["prev"]["url"] == "https://x/a,b"
    assert (
        Response(200).links == {} and Response(200, headers=Headers({"Link": "junk"})).links == {}
    )


def test_repeated_headers_are_joined() -> None:
    headers = Headers([("Link", '<a>; rel="next"'), ("link", '<b>; rel="last"')])
    assert headers["LINK"] == '<a>; rel="next", <b>; rel="last"' and len(headers) == 1
    assert set(Response(200, headers=headers).links) == {"next", "last"}


# --- the token ---------------------------------------------------------------


def _faults() -> dict[str, Callable[[FakeGitHub], Callable[[], object]]]:
    def listing(fake: FakeGitHub) -> Callable[[], object]:
        return lambda: client(fake.api_url).list_issue_comments(REPO, PR)

    def fault(
        status: int, body: object, headers: dict[str, str] | None = None
    ) -> Callable[..., object]:
        def make(fake: FakeGitHub) -> Callable[[], object]:
            fake.fail("GET", COMMENTS, status, body, headers or {}, times=10)
            return listing(fake)

        return make

    def read_only(fake: FakeGitHub) -> Callable[[], object]:
        gh = github.GitHubClient(READ_ONLY_TOKEN, api_url=fake.api_url)
        return lambda: gh.create_issue_comment(REPO, PR, TOKEN)

    def refused(fake: FakeGitHub) -> Callable[[], object]:
        return lambda: client(f"http://127.0.0.1:{closed_port()}").list_issue_comments(REPO, PR)

    echo = f"token {TOKEN} rejected"
    return {
        "401": fault(401, {"message": echo}),
        "404": fault(404, {"message": echo}),
        "422": fault(422, {"message": echo}),
        "500": fault(500, echo),
        "400-text": fault(400, f"<html>{echo}</html>"),
        "429": fault(429, {"message": echo}, {"Retry-After": "3600"}),
        "malformed-json": fault(200, "{" + echo),
        "link-elsewhere": fault(
            200, [], {"Link": f'<http://127.0.0.2:9/x?access_token={TOKEN}>; rel="next"'}
        ),
        "redirect-elsewhere": fault(
            302, echo, {"Location": f"http://{TOKEN}@127.0.0.2:9/?t={TOKEN}"}
        ),
        "read-only": read_only,
        "refused": refused,
    }


@pytest.mark.parametrize("case", sorted(_faults()))
def test_the_token_is_in_no_error_message(fake: FakeGitHub, case: str) -> None:
    action = _faults()[case](fake)
    with pytest.raises(GitHubError) as caught:
        action()
    seen: list[str] = []
    error: BaseException | None = caught.value
    while error is not None:
        seen += [str(error), repr(error), *map(str, error.args)]
        error = error.__cause__ or error.__context__
    assert TOKEN not in "\n".join(seen)
