"""github.py: workflow commands, job summary, event file, REST client and the sticky PR comment.

Every REST test talks HTTP to the fake GitHub in tests/fake_github.py on
127.0.0.1; sleeping and the clock are injected, so retries and rate limits
cost no real time.  The token is a realistic ``ghs_`` value, and no test may
print it: an autouse fixture checks everything captured.
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from tests.conftest import CliResult, assert_one_line_error, run_cli
from tests.fake_github import FakeGitHub, running

_ALNUM = string.ascii_letters + string.digits
TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))
READ_ONLY_TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))
REPO = "octo/hello"
PR = 7
COMMENTS = r"/repos/octo/hello/issues/7/comments|/repositories/\d+/issues/7/comments"
ONE_COMMENT = r"/repos/octo/hello/issues/comments/\d+"


# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_token_in_output(capfd: pytest.CaptureFixture[str]) -> Iterator[None]:
    yield
    out, err = capfd.readouterr()
    assert TOKEN not in out + err
    assert READ_ONLY_TOKEN not in out + err


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for fake in running(TOKEN, read_only_tokens=(READ_ONLY_TOKEN,)):
        fake.add_pull(REPO, PR)
        yield fake


class FakeTime:
    """An injected clock and sleep: sleeping only moves the clock and is recorded."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def upsert(
    fake: FakeGitHub, markdown: str, *, section: str = "build", title: str = "build", **kw: Any
) -> github.CommentResult:
    time = kw.pop("time", None) or FakeTime()
    kw.setdefault("rng", lambda: 0.5)
    return github.upsert_sticky_comment(
        markdown,
        section_id=section,
        section_title=title,
        token=kw.pop("token", TOKEN),
        repository=REPO,
        pr_number=PR,
        api_url=fake.api_url,
        sleep=time.sleep,
        clock=time.clock,
        **kw,
    )


def sticky_bodies(fake: FakeGitHub) -> list[str]:
    return [c["body"] for c in fake.comments(REPO, PR) if github.is_sticky_body(c["body"])]


def event_file(tmp_path: Path, name: str = "pull_request", number: int = PR) -> Path:
    path = tmp_path / "event.json"
    payload: dict[str, Any] = {"action": "synchronize", "number": number}
    if name in github.PULL_REQUEST_EVENTS:
        payload["pull_request"] = {"number": number, "head": {"ref": "topic"}}
    else:
        payload = {"ref": "refs/heads/main"}
    path.write_text(json.dumps(payload), encoding="utf-8")
    return path


def cli_env(fake: FakeGitHub, tmp_path: Path, **over: str) -> dict[str, str]:
    env = {
        "GITHUB_ACTIONS": "true",
        "GITHUB_TOKEN": TOKEN,
        "GITHUB_REPOSITORY": REPO,
        "GITHUB_API_URL": fake.api_url,
        "GITHUB_EVENT_NAME": "pull_request",
        "GITHUB_EVENT_PATH": str(event_file(tmp_path)),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary.md"),
        "GITHUB_WORKFLOW": "CI",
        "GITHUB_JOB": "build",
        "NO_PROXY": "127.0.0.1,localhost",
    }
    env.update(over)
    return env


def assert_no_token(result: CliResult) -> None:
    assert TOKEN not in result.stdout + result.stderr
    assert READ_ONLY_TOKEN not in result.stdout + result.stderr


# --- workflow commands: escaping (property tests) -------------------------------------

_UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: _UNESCAPE[m.group(0)], text)


@given(st.text())
def test_escape_data_round_trips_and_never_emits_raw_newlines(value: str) -> None:
    escaped = github.escape_data(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert unescape(escaped) == value


@given(st.text())
def test_escape_property_round_trips_without_separators(value: str) -> None:
    escaped = github.escape_property(value)
    assert not set(escaped) & {"\n", "\r", ":", ","}
    assert unescape(escaped) == value


@given(st.text(), st.dictionaries(st.sampled_from(["title", "file", "line"]), st.text()))
def test_workflow_command_is_always_one_line(message: str, props: dict[str, str]) -> None:
    command = github.workflow_command("warning", message, **props)
    assert "\n" not in command and "\r" not in command
    head, _, data = command[2:].partition("::")
    assert unescape(data) == message
    assert head.count("::") == 0


# --- section titles (property tests) -----------------------------------------------------


def unescape_title(text: str) -> str:
    text = text.replace("\u2060", "")
    text = re.sub(r"\\(.)", r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


@given(st.text())
def test_section_title_is_one_line_with_no_html_and_every_punctuation_escaped(title: str) -> None:
    escaped = github.escape_section_title(title)
    assert escaped and "\n" not in escaped and "\r" not in escaped
    assert "<" not in escaped and ">" not in escaped
    # Outside entities, each ASCII punctuation character is an escape or escaped.
    bare = re.sub(r"&(amp|lt|gt);", "", escaped)
    bare = re.sub(r"\\[!-/:-@\[-`{-~]\u2060?", "", bare)
    assert not set(bare) & set(string.punctuation), escaped


@given(st.text())
def test_section_title_escaping_round_trips(title: str) -> None:
    assert unescape_title(github.escape_section_title(title)) == (
        github.clean_title(title) or "job"
    )


def test_section_title_cannot_mention_or_reference() -> None:
    escaped = github.escape_section_title("@octo/team #12 [x](http://evil) <!-- -->")
    assert "@octo" not in escaped and "#12" not in escaped
    assert "](" not in escaped and "<!--" not in escaped


_sections = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=30),
        st.text(max_size=40),
        st.text(max_size=200),
    ),
    max_size=5,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200)
@given(_sections)
def test_sections_round_trip_through_the_comment_body(raw: list[tuple[str, str, str]]) -> None:
    sections = [github.make_section(key, title, content) for key, title, content in raw]
    if len({s.id for s in sections}) != len(sections):
        return  # two keys mapped to one id: not what this property is about
    body = github.render_sticky_body(sections)
    assert github.is_sticky_body(body)
    assert github.parse_sticky_body(body) == sections
    for section in sections:
        assert github.section_in(body, section)


def test_content_carrying_markers_cannot_fake_or_end_a_section() -> None:
    evil = "x\n<!-- pyo3-cache:section-end:a -->\n<!-- pyo3-cache:section:b -->\n### b\n<!-- open"
    sections = [github.make_section("a", "a", evil), github.make_section("c", "c", "ok")]
    body = github.render_sticky_body(sections)
    assert [s.id for s in github.parse_sticky_body(body)] == ["a", "c"]
    assert github.parse_sticky_body(body)[0].content.endswith("<!-- open -->")


def test_unclosed_code_fence_is_closed_inside_its_section() -> None:
    section = github.make_section("a", "a", "```text\nhalf a log")
    assert section.content.endswith("\n```")


# --- the comment body limit ------------------------------------------------------------------


def test_body_stays_under_65536_and_keeps_every_section_marker() -> None:
    big = "\n".join(f"| crate-{i} | rebuilt | 1.2 s |" for i in range(4000))
    body = github.STICKY_HEADER
    for job in ("linux", "macos", "windows"):
        body, _ = github.merge_section(body, github.make_section(job, job, big))
    body, truncated = github.merge_section(body, github.make_section("tiny", "tiny", "0 rebuilt"))
    assert truncated
    assert github.comment_length(body) < github.COMMENT_BODY_LIMIT
    found = github.parse_sticky_body(body)
    assert [s.id for s in found] == ["linux", "macos", "windows", "tiny"]
    assert found[3].content == "0 rebuilt"  # a short section is never cut for long ones
    for job in ("linux", "macos", "windows", "tiny"):
        assert body.count(f"<!-- pyo3-cache:section:{job} -->") == 1
        assert body.count(f"<!-- pyo3-cache:section-end:{job} -->") == 1
    assert "cut to fit GitHub's 65,536-character comment limit" in found[0].content


def test_merging_keeps_other_sections_and_replaces_our_own_in_place() -> None:
    body, _ = github.merge_section("", github.make_section("a", "A", "one"))
    body, _ = github.merge_section(body, github.make_section("b", "B", "two"))
    body, _ = github.merge_section(body, github.make_section("a", "A", "three"))
    assert [(s.id, s.content) for s in github.parse_sticky_body(body)] == [
        ("a", "three"),
        ("b", "two"),
    ]


# --- job summary ---------------------------------------------------------------------------


def test_append_summary_appends_markdown(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("earlier step output", encoding="utf-8")
    result = github.append_summary("## pyo3-cache\n0 crates rebuilt", path=path)
    assert (
        path.read_text(encoding="utf-8") == "earlier step output\n## pyo3-cache\n0 crates rebuilt\n"
    )
    assert not result.truncated
    assert result.written_bytes == len("\n## pyo3-cache\n0 crates rebuilt\n")


def test_append_summary_counts_what_the_step_already_wrote(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (github.STEP_SUMMARY_LIMIT - 3000) + b"\n")
    report = "".join(
        f"- crate {i} rebuilt: the env variable PYO3_PYTHON changed\n" for i in range(500)
    )
    result = github.append_summary(report, path=path)
    assert result.truncated
    assert path.stat().st_size <= github.STEP_SUMMARY_LIMIT
    text = path.read_text(encoding="utf-8")
    assert "GitHub keeps at most 1 MiB of job summary per step" in text
    assert text.endswith("\n") and "- crate 0 rebuilt" in text


def test_append_summary_to_a_full_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * github.STEP_SUMMARY_LIMIT)
    result = github.append_summary("# report", path=path)
    assert (result.written_bytes, result.truncated) == (0, True)
    assert path.stat().st_size == github.STEP_SUMMARY_LIMIT


def test_summary_cut_inside_a_mermaid_diagram_drops_the_diagram() -> None:
    diagram = "```mermaid\ngraph TD\n" + "".join(f"  a{i} --> b{i}\n" for i in range(200)) + "```\n"
    text, truncated = github.fit_summary("# Rebuilt\nintro\n" + diagram + "after\n", 1500)
    assert truncated
    assert "```mermaid" not in text
    assert text.startswith("# Rebuilt\nintro\n") and "cut this" in text


def test_summary_cut_inside_a_code_block_closes_it() -> None:
    block = "```text\n" + "log line\n" * 500 + "```\n"
    text, _ = github.fit_summary(block, 1000)
    assert text.count("```") == 2


@settings(max_examples=150)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))), st.integers(0, 3000))
def test_fit_summary_never_passes_the_room_it_has(markdown: str, room: int) -> None:
    text, truncated = github.fit_summary(markdown, room)
    assert len(text.encode("utf-8")) <= room
    assert truncated or text.rstrip("\n") == markdown.rstrip("\n")


def test_append_summary_without_the_variable_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with pytest.raises(GitHubError, match="GITHUB_STEP_SUMMARY is not set"):
        github.append_summary("x")


# --- the event file ---------------------------------------------------------------------


@pytest.mark.parametrize("name", ["pull_request", "pull_request_target"])
def test_pull_request_number_from_pull_request_events(tmp_path: Path, name: str) -> None:
    assert github.pull_request_number(event_file(tmp_path, name, 42), name) == 42
    assert github.pull_request_number(event_file(tmp_path, name, 42)) == 42


def test_pull_request_number_is_none_for_other_events(tmp_path: Path) -> None:
    assert github.pull_request_number(event_file(tmp_path, "push"), "push") is None
    assert github.pull_request_number(event_file(tmp_path, "pull_request"), "push") is None
    assert github.pull_request_number(event_file(tmp_path, "push")) is None
    assert github.pull_request_number(None, "pull_request") is None


def test_unreadable_or_non_json_event_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(GitHubError, match="cannot read the event file"):
        github.pull_request_number(tmp_path / "missing.json", "pull_request")
    bad = tmp_path / "bad.json"
    bad.write_text("{nope", encoding="utf-8")
    with pytest.raises(GitHubError, match="is not JSON"):
        github.pull_request_number(bad, "pull_request")


# --- the sticky comment against the fake GitHub --------------------------------------------


def test_comment_is_created_then_updated_in_place_on_a_rerun(fake: FakeGitHub) -> None:
    first = upsert(fake, "## 3 crates rebuilt")
    assert first.action == "created"
    second = upsert(fake, "## 0 crates rebuilt")
    assert second.action == "updated" and second.comment_id == first.comment_id
    [body] = sticky_bodies(fake)
    assert "0 crates rebuilt" in body and "3 crates rebuilt" not in body
    assert len(fake.calls("POST")) == 1 and len(fake.calls("PATCH")) == 1
    third = upsert(fake, "## 0 crates rebuilt")
    assert third.action == "unchanged" and len(fake.calls("PATCH")) == 1


def test_marker_on_page_three_of_250_comments_is_found_and_updated(fake: FakeGitHub) -> None:
    fake.add_comments(REPO, PR, [f"looks good {i}" for i in range(220)])
    [ours] = fake.add_comments(
        REPO,
        PR,
        [github.render_sticky_body([github.make_section("build", "build", "old")])],
        login="github-actions[bot]",
        user_type="Bot",
    )
    fake.add_comments(REPO, PR, [f"nit {i}" for i in range(29)])
    result = upsert(fake, "new report")
    assert (result.action, result.comment_id) == ("updated", ours)
    lists = fake.calls("GET", COMMENTS)
    assert [r.query.get("page") for r in lists[:3]] == [["1"], ["2"], ["3"]]
    assert all(r.query.get("per_page") == ["100"] for r in lists)
    assert lists[1].path.startswith("/repositories/")  # followed GitHub's Link header
    assert not fake.calls("POST")
    assert len(fake.comments(REPO, PR)) == 250
    assert "new report" in sticky_bodies(fake)[0]


def test_a_bot_comment_is_preferred_over_a_pasted_marker(fake: FakeGitHub) -> None:
    fake.add_comments(REPO, PR, [github.STICKY_MARKER + "\nI pasted this"])
    [ours] = fake.add_comments(
        REPO, PR, [github.STICKY_HEADER], login="github-actions[bot]", user_type="Bot"
    )
    assert upsert(fake, "report").comment_id == ours


def test_two_concurrent_matrix_jobs_both_land_their_sections(fake: FakeGitHub) -> None:
    fake.add_comments(
        REPO, PR, [github.STICKY_HEADER], login="github-actions[bot]", user_type="Bot"
    )
    # Replay the race: both jobs read the same comment, then both writes land
    # before either checks; the first write is lost unless the check catches it.
    fake.rendezvous("GET", COMMENTS)
    fake.rendezvous("PATCH", ONE_COMMENT)
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(upsert, fake, f"report of {job}", section=job, title=f"test ({job})")
            for job in ("ubuntu-latest", "windows-latest")
        ]
        results = [job.result(timeout=60) for job in jobs]
    [body] = sticky_bodies(fake)
    ids = [s.id for s in github.parse_sticky_body(body)]
    assert sorted(ids) == ["ubuntu-latest", "windows-latest"]
    assert "report of ubuntu-latest" in body and "report of windows-latest" in body
    assert sorted(r.attempts for r in results) == [1, 2]  # one job had to redo its write
    assert len(fake.calls("PATCH")) == 3


def test_two_jobs_creating_the_comment_at_once_leave_one_comment(fake: FakeGitHub) -> None:
    fake.rendezvous("GET", COMMENTS)
    with ThreadPoolExecutor(2) as pool:
        jobs = [
            pool.submit(upsert, fake, f"report of {job}", section=job, title=job)
            for job in ("py311", "py312")
        ]
        results = [job.result(timeout=60) for job in jobs]
    assert len(fake.calls("POST")) == 2
    [body] = sticky_bodies(fake)
    assert sorted(s.id for s in github.parse_sticky_body(body)) == ["py311", "py312"]
    assert sorted(r.action for r in results) == ["created", "updated"]
    assert len({r.comment_id for r in results}) == 1
    assert len(fake.calls("DELETE")) == 1


def test_read_only_token_raises_read_only_token_error(fake: FakeGitHub) -> None:
    with pytest.raises(github.ReadOnlyTokenError, match="fork gets a read-only GITHUB_TOKEN"):
        upsert(fake, "report", token=READ_ONLY_TOKEN)
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


def test_5xx_on_a_write_is_redone_after_reading_again(fake: FakeGitHub) -> None:
    upsert(fake, "first")
    fake.fail("PATCH", ONE_COMMENT, 500, {"message": "Server Error"})
    result = upsert(fake, "second")
    assert (result.action, result.attempts) == ("updated", 2)
    assert len(fake.calls("PATCH")) == 2
    assert "second" in sticky_bodies(fake)[0]


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


def test_a_huge_report_is_cut_before_it_is_sent(fake: FakeGitHub) -> None:
    report = "\n".join(f"line {i} " + "x" * 60 for i in range(3000))
    result = upsert(fake, report)
    assert result.truncated and result.body_chars < github.COMMENT_BODY_LIMIT
    assert len(sticky_bodies(fake)[0]) < github.COMMENT_BODY_LIMIT


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


def test_post_job_section_falls_back_once_without_duplicating_the_summary(
    fake: FakeGitHub,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    summary = tmp_path / "summary.md"
    github.append_summary("## report\n1 crate rebuilt", path=summary)
    env = cli_env(fake, tmp_path, GITHUB_TOKEN=READ_ONLY_TOKEN)
    outcome = github.post_job_section(
        "## report\n1 crate rebuilt", section_key="k", title="build", env=env
    )
    assert outcome.action == "summary"
    assert summary.read_text(encoding="utf-8").count("1 crate rebuilt") == 1
    err = capfd.readouterr().err
    assert err.count("::notice") == 1 and "fork" in err


def test_job_title_and_section_key_from_the_matrix() -> None:
    matrix = '{"os": "ubuntu-latest", "python": "3.11", "extra": null}'
    assert github.job_title("test", matrix) == "test (ubuntu-latest, 3.11)"
    env = {"GITHUB_WORKFLOW": "CI", "GITHUB_JOB": "test"}
    key = github.job_section_key(env, matrix)
    assert key == "CI/test/ubuntu-latest/3.11"
    assert github.section_id_for(key) != github.section_id_for("CI/test/windows-latest/3.11")
    assert re.fullmatch(r"[A-Za-z0-9._-]+", github.section_id_for(key))


# --- the CLI ---------------------------------------------------------------------------------


def test_cli_comment_creates_then_updates_with_the_job_heading(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text("## 2 crates rebuilt\n", encoding="utf-8")
    env = cli_env(fake, tmp_path, GITHUB_JOB="test")
    matrix = '{"os":"ubuntu-latest","python":"3.11"}'
    first = run_cli("comment", "--file", str(report), "--matrix", matrix, env=env, timeout=120)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("created https://github.com/octo/hello/pull/7#issuecomment-")
    report.write_text("## 0 crates rebuilt\n", encoding="utf-8")
    second = run_cli("comment", "--file", str(report), "--matrix", matrix, env=env, timeout=120)
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("updated ")
    [body] = sticky_bodies(fake)
    assert "### test \\(ubuntu\\-latest\\, 3\\.11\\)" in body and "0 crates rebuilt" in body
    assert "Bearer " + TOKEN in [r.headers.get("authorization") for r in fake.requests]
    assert_no_token(first)
    assert_no_token(second)


def test_cli_fork_pr_falls_back_to_the_summary_with_one_notice(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    report = tmp_path / "report.md"
    report.write_text("## 1 crate rebuilt\n", encoding="utf-8")
    env = cli_env(fake, tmp_path, GITHUB_TOKEN=READ_ONLY_TOKEN)
    result = run_cli("comment", "--file", str(report), env=env, timeout=120)
    assert result.returncode == 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("::notice title=pyo3-cache::"), lines
    assert "1 crate rebuilt" in (tmp_path / "summary.md").read_text(encoding="utf-8")
    assert not fake.comments(REPO, PR)
    assert_no_token(result)


@pytest.mark.parametrize(
    ("status", "body", "fragment"),
    [
        (401, {"message": "Bad credentials"}, "GitHub rejected the token"),
        (404, {"message": "Not Found"}, "404 Not Found"),
        (200, "{not json", "malformed JSON"),
    ],
)
def test_cli_api_failures_are_one_line_errors(
    fake: FakeGitHub, tmp_path: Path, status: int, body: Any, fragment: str
) -> None:
    fake.fail("GET", COMMENTS, status, body)
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    result = run_cli(
        "comment",
        "--file",
        str(report),
        env=cli_env(fake, tmp_path, GITHUB_ACTIONS=""),
        timeout=120,
    )
    assert_one_line_error(result, 11, fragment)
    assert_no_token(result)


def test_cli_wrong_token_is_a_one_line_error_without_the_token(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    wrong = "ghp_" + "B" * 36
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    env = cli_env(fake, tmp_path, GITHUB_TOKEN=wrong, GITHUB_ACTIONS="")
    result = run_cli("comment", "--file", str(report), env=env, timeout=120)
    assert_one_line_error(result, 11, "401")
    assert wrong not in result.stderr + result.stdout


def test_cli_soft_turns_a_failure_into_a_warning(fake: FakeGitHub, tmp_path: Path) -> None:
    fake.fail("GET", COMMENTS, 404, {"message": "Not Found"})
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    env = cli_env(fake, tmp_path)
    result = run_cli("comment", "--soft", "--file", str(report), env=env, timeout=120)
    assert result.returncode == 0
    [line] = result.stderr.splitlines()
    assert line.startswith("::warning title=pyo3-cache::the PR comment was not updated")


def test_cli_comment_outside_a_pull_request_posts_nothing(fake: FakeGitHub, tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    env = cli_env(
        fake,
        tmp_path,
        GITHUB_EVENT_NAME="push",
        GITHUB_EVENT_PATH=str(event_file(tmp_path, "push")),
    )
    result = run_cli("comment", "--file", str(report), env=env, timeout=120)
    assert result.returncode == 0 and result.stdout == ""
    assert "not a pull request" in result.stderr
    assert not fake.requests


def test_cli_comment_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("comment", "--file", str(tmp_path / "nope.md"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith("pyo3-cache comment: error: argument --file: cannot read")
    assert "No such file or directory" in line


def test_cli_summary_appends_and_warns_when_cut(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    report = tmp_path / "report.md"
    report.write_text("## pyo3-cache\n0 crates rebuilt\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": ""}
    ok = run_cli("summary", "--file", str(report), env=env)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert summary.read_text(encoding="utf-8") == "## pyo3-cache\n0 crates rebuilt\n"
    report.write_text("y\n" * 600_000, encoding="utf-8")
    cut = run_cli("summary", "--file", str(report), env=env)
    assert cut.returncode == 0 and "cut to fit GitHub's 1 MiB" in cut.stderr
    assert summary.stat().st_size <= github.STEP_SUMMARY_LIMIT


def test_cli_summary_outside_github_actions(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": "", "GITHUB_ACTIONS": ""}
    assert_one_line_error(
        run_cli("summary", "--file", str(report), env=env), 11, "GITHUB_STEP_SUMMARY is not set"
    )
    soft = run_cli("summary", "--soft", "--file", str(report), env=env)
    assert soft.returncode == 0 and "warning" in soft.stderr


def test_a_comment_deleted_under_a_write_is_read_again(fake: FakeGitHub) -> None:
    upsert(fake, "first")
    fake.fail("PATCH", ONE_COMMENT, 404, {"message": "Not Found"})
    result = upsert(fake, "second")
    assert (result.action, result.attempts) == ("updated", 2)
    assert "second" in sticky_bodies(fake)[0]


def test_a_rate_limited_write_waits_then_reads_again_before_writing(fake: FakeGitHub) -> None:
    upsert(fake, "first")
    fake.fail("PATCH", ONE_COMMENT, 429, {"message": "slow down"}, {"Retry-After": "5"})
    before = len(fake.requests)
    time = FakeTime()
    result = upsert(fake, "second", time=time)
    assert result.attempts == 2 and time.sleeps[0] == 5
    seen = [
        (r.method, "list" if re.fullmatch(COMMENTS, r.path) else r.path.strip("/")[:4])
        for r in fake.requests
    ]
    assert [(m, "one" if p == "repo" else p) for m, p in seen[before:]] == [
        ("GET", "user"),  # who the token is, once per call
        ("GET", "list"),
        ("PATCH", "one"),  # refused: 429
        ("GET", "list"),  # read again after Retry-After, never resend a stale body
        ("PATCH", "one"),
        ("GET", "one"),
    ]


# --- explain --summary / --comment ------------------------------------------------------

CARGO_LOGS = Path(__file__).parent.parent / "fixtures" / "cargo-logs" / "human"


def test_explain_comment_posts_the_report_when_something_rebuilt(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    log_file = CARGO_LOGS / "pyo3-python-changed.log"
    env = cli_env(fake, tmp_path, GITHUB_JOB="wheels")
    result = run_cli(
        "explain", str(log_file), "--format", "json", "--summary", "--comment", env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["counts"]["rebuilt"] > 0  # stdout keeps its format
    [body] = sticky_bodies(fake)
    assert "PYO3&#95;PYTHON" in body or "PYO3_PYTHON" in body
    assert "pyo3-ffi" in body
    assert "pyo3-ffi" in (tmp_path / "summary.md").read_text()
    assert_no_token(result)


def test_explain_comment_on_rebuild_posts_nothing_for_a_fresh_build(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    log_file = CARGO_LOGS / "noop.log"
    env = cli_env(fake, tmp_path)
    result = run_cli("explain", str(log_file), "--comment", env=env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert sticky_bodies(fake) == []


def test_explain_comment_api_failure_is_a_warning_not_a_failure(
    fake: FakeGitHub, tmp_path: Path
) -> None:
    env = cli_env(fake, tmp_path, GITHUB_TOKEN="ghs_wrongtokenvalue000000000000000000")
    result = run_cli(
        "explain",
        str(CARGO_LOGS / "pyo3-python-changed.log"),
        "--comment",
        "always",
        env=env,
        timeout=120,
    )
    assert result.returncode == 0
    assert "the PR comment was not updated" in result.stderr
    assert "ghs_wrongtokenvalue" not in result.stderr
