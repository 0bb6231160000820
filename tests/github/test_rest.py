"""github/rest.py: retries, rate limits, errors, redaction and URL checks (fake GitHub)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from tests.fake_github import FakeGitHub, running
from tests.github import helpers
from tests.github.helpers import COMMENTS, PR, REPO, TOKEN, FakeTime, upsert


def test_read_only_token_raises_read_only_token_error(fake: FakeGitHub) -> None:
    with pytest.raises(github.ReadOnlyTokenError, match="fork gets a read-only GITHUB_TOKEN"):
        upsert(fake, "report", token=helpers.READ_ONLY_TOKEN)
    assert not fake.comments(REPO, PR)


def test_429_with_retry_after_is_waited_out_then_succeeds(fake: FakeGitHub) -> None:
    fake.fail(
        "GET",
        COMMENTS,
        429,
        {"message": "API rate limit exceeded", "documentation_url": "https://docs.github.com"},
        {"Retry-After": "7"},
    )
    time = FakeTime()
    assert upsert(fake, "report", time=time).action == "created"
    assert time.sleeps[0] == 7
    assert len(fake.calls("GET", COMMENTS)) == 3  # the refused read, the retry, the check


def test_secondary_rate_limit_403_waits_until_the_reset(fake: FakeGitHub) -> None:
    time = FakeTime()
    fake.fail(
        "GET",
        COMMENTS,
        403,
        {"message": "You have exceeded a secondary rate limit. Please wait a few minutes."},
        {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(int(time.now) + 30)},
    )
    assert upsert(fake, "report", time=time).action == "created"
    assert time.sleeps[0] == pytest.approx(31)


def test_5xx_on_a_read_is_retried_with_backoff(fake: FakeGitHub) -> None:
    fake.fail("GET", COMMENTS, 502, "<html>Bad Gateway</html>", times=2)
    time = FakeTime()
    assert upsert(fake, "report", time=time).action == "created"
    assert time.sleeps[:2] == [1.0, 2.0]  # 1 s, 2 s (jitter pinned to its middle)


def test_rate_limit_longer_than_the_wait_budget_fails_without_sleeping(fake: FakeGitHub) -> None:
    fake.fail("GET", COMMENTS, 429, {"message": "API rate limit exceeded"}, {"Retry-After": "3600"})
    time = FakeTime()
    with pytest.raises(GitHubError, match="rate limit") as caught:
        upsert(fake, "report", time=time)
    assert time.sleeps == []
    assert "\n" not in str(caught.value)


def test_persistent_5xx_gives_up_with_a_one_line_error(fake: FakeGitHub) -> None:
    fake.fail("GET", COMMENTS, 503, "unavailable", times=50)
    time = FakeTime()
    with pytest.raises(GitHubError, match="503") as caught:
        upsert(fake, "report", time=time)
    assert len(time.sleeps) == 3 and "\n" not in str(caught.value)


def test_a_token_echoed_by_the_server_is_redacted(fake: FakeGitHub) -> None:
    fake.fail("GET", COMMENTS, 422, {"message": f"token {TOKEN} is odd; also ghp_{'a' * 36}"})
    with pytest.raises(GitHubError) as caught:
        upsert(fake, "report")
    assert TOKEN not in str(caught.value) and "ghp_aaaa" not in str(caught.value)
    assert "***" in str(caught.value)


def test_the_token_is_not_in_any_repr() -> None:
    client = github.GitHubClient(TOKEN)
    context = github.GitHubContext(token=TOKEN, repository=REPO)
    assert TOKEN not in repr(client) + repr(context) + repr(client.__dict__)


def test_a_link_header_to_another_host_is_not_followed(fake: FakeGitHub) -> None:
    fake.fail(
        "GET",
        COMMENTS,
        200,
        [],
        {"Link": '<http://127.0.0.2:9/repos/octo/hello/issues/7/comments?page=2>; rel="next"'},
    )
    with pytest.raises(GitHubError, match="does not send the token there"):
        upsert(fake, "report")


def test_github_enterprise_api_url_with_a_path_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for fake in running(TOKEN, prefix="/api/v3"):
        fake.add_pull(REPO, PR)
        fake.add_comments(REPO, PR, [f"c{i}" for i in range(150)])
        assert upsert(fake, "report").action == "created"
        assert fake.api_url.endswith("/api/v3")
        assert not [r for r in fake.requests if r.path.startswith("/__outside_prefix__")]
        assert len(fake.calls("GET", COMMENTS)) == 4  # two pages, twice


@pytest.mark.parametrize(
    "api_url", ["http://ghe.example.com/api/v3", "ftp://x", "https://user:pw@ghe.example.com"]
)
def test_unsafe_api_urls_are_refused(api_url: str) -> None:
    with pytest.raises(GitHubError, match="GITHUB_API_URL"):
        github.GitHubClient(TOKEN, api_url=api_url)


@pytest.mark.parametrize("repository", ["octo", "../x", "octo/../../x", "a/b/c"])
def test_malformed_repository_is_refused(repository: str) -> None:
    with pytest.raises(GitHubError, match="owner/name"):
        github.check_repository(repository)


def test_http_is_loaded_only_when_a_request_is_made() -> None:
    """Plain CLI runs (and the log, files and comment modules) never pay for loading urllib."""
    code = (
        "import sys\n"
        "from pyo3_cache.cli import main\n"
        "from pyo3_cache.github import client, log, files, comment, pull_request\n"
        "names = ('pyo3_cache.github.http', 'urllib.request', 'http.client', 'requests')\n"
        "def loaded():\n"
        "    print(','.join(str(n in sys.modules) for n in names))\n"
        "main.build_parser()\n"
        "loaded()\n"
        "gh = client.GitHubClient('ghs_x', api_url=sys.argv[1], max_attempts=1)\n"
        "loaded()\n"
        "try:\n"
        "    gh.authenticated_login()\n"
        "except client.GitHubAPIError as exc:\n"
        "    print('cannot reach' in str(exc))\n"
        "loaded()\n"
    )
    env = {**os.environ, "NO_PROXY": "127.0.0.1,localhost"}
    out = subprocess.run(
        [sys.executable, "-c", code, f"http://127.0.0.1:{helpers.closed_port()}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    assert out.stdout.split() == [
        "False,False,False,False",
        "False,False,False,False",  # making the client makes no request
        "True",
        "True,True,True,False",  # and requests is never loaded
    ]
