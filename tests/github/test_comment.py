"""github/comment.py: the sticky comment's text, and its read-modify-write against the fake.

Whose sticky comment we edit: only the token's own user's (issue 18, item 8).

Before the fix, the first comment carrying ``<!-- pyo3-cache -->`` was ours,
whoever wrote it: a stranger's comment with the marker and a forged section
was edited by us, and the forged section stayed under our heading.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyo3_cache.github import client as github
from pyo3_cache.github.rest import IssueComment
from tests.fake_github import FakeGitHub, running
from tests.github.helpers import (
    COMMENTS,
    ONE_COMMENT,
    PR,
    REPO,
    TOKEN,
    FakeTime,
    sticky_bodies,
    upsert,
)

GITHUB_ACTIONS_BOT = "github-actions[bot]"  # GITHUB_TOKEN's comments' user.login
FORGED = github.render_sticky_body(
    [github.make_section("release", "release", "[fixed wheel](https://evil.example/w.whl)")]
)


@pytest.fixture
def actions_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """GitHub Actions' GITHUB_TOKEN: ``GET /user`` refused, comments by github-actions[bot]."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for fake in running(TOKEN):
        fake.add_pull(REPO, PR)
        yield fake


@pytest.fixture
def user_token(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    """A personal token of ``octocat``."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for fake in running(TOKEN, user_login="octocat"):
        fake.add_pull(REPO, PR)
        yield fake


def _by_author(fake: FakeGitHub) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for c in fake.comments(REPO, PR):
        found.setdefault(c["user"]["login"], []).append(c["body"])
    return found


@pytest.mark.parametrize(
    ("login", "user_type"),
    [("mallory", "User"), ("mallory-app[bot]", "Bot")],
)
def test_a_strangers_comment_with_the_marker_is_never_edited(
    actions_token: FakeGitHub, login: str, user_type: str
) -> None:
    [forged] = actions_token.add_comments(REPO, PR, [FORGED], login=login, user_type=user_type)
    result = upsert(actions_token, "3 crates rebuilt")
    assert result.action == "created" and result.comment_id != forged
    authors = _by_author(actions_token)
    assert authors[login] == [FORGED]  # untouched
    [ours] = authors[GITHUB_ACTIONS_BOT]
    assert "3 crates rebuilt" in ours and "evil.example" not in ours
    assert not actions_token.calls("PATCH")


def test_with_github_token_our_bot_comment_is_updated(actions_token: FakeGitHub) -> None:
    actions_token.add_comments(REPO, PR, [FORGED], login="mallory")
    first = upsert(actions_token, "first")
    second = upsert(actions_token, "second")
    assert (second.action, second.comment_id) == ("updated", first.comment_id)
    assert len(sticky_bodies(actions_token)) == 2  # mallory's and ours
    assert actions_token.calls("GET", "/user")  # asked, refused, fell back to the bot rule


def test_with_a_personal_token_only_that_users_comment_counts(user_token: FakeGitHub) -> None:
    user_token.add_comments(REPO, PR, [FORGED], login=GITHUB_ACTIONS_BOT, user_type="Bot")
    [mine] = user_token.add_comments(REPO, PR, [github.STICKY_HEADER], login="octocat")
    result = upsert(user_token, "report")
    assert (result.action, result.comment_id) == ("updated", mine)
    assert _by_author(user_token)[GITHUB_ACTIONS_BOT] == [FORGED]


def test_a_personal_tokens_new_comment_is_found_again(user_token: FakeGitHub) -> None:
    first = upsert(user_token, "first")
    assert first.action == "created"
    assert upsert(user_token, "second").comment_id == first.comment_id
    assert list(_by_author(user_token)) == ["octocat"]


def test_own_comment_rule() -> None:
    from pyo3_cache.github.comment import is_own_comment

    bot = IssueComment(1, "x", author=GITHUB_ACTIONS_BOT, author_type="Bot")
    person = IssueComment(2, "x", author="octocat", author_type="User")
    impostor = IssueComment(3, "x", author=GITHUB_ACTIONS_BOT, author_type="User")
    assert [is_own_comment(c, None) for c in (bot, person, impostor)] == [True, False, False]
    assert [is_own_comment(c, "octocat") for c in (bot, person, impostor)] == [False, True, False]


# --- the comment's text, and concurrent jobs ------------------------------------------------


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


def test_5xx_on_a_write_is_redone_after_reading_again(fake: FakeGitHub) -> None:
    upsert(fake, "first")
    fake.fail("PATCH", ONE_COMMENT, 500, {"message": "Server Error"})
    result = upsert(fake, "second")
    assert (result.action, result.attempts) == ("updated", 2)
    assert len(fake.calls("PATCH")) == 2
    assert "second" in sticky_bodies(fake)[0]


def test_a_huge_report_is_cut_before_it_is_sent(fake: FakeGitHub) -> None:
    report = "\n".join(f"line {i} " + "x" * 60 for i in range(3000))
    result = upsert(fake, report)
    assert result.truncated and result.body_chars < github.COMMENT_BODY_LIMIT
    assert len(sticky_bodies(fake)[0]) < github.COMMENT_BODY_LIMIT


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
