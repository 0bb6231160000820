"""Whose sticky comment we edit: only the token's own user's (issue 18, item 8).

Before the fix, the first comment carrying ``<!-- pyo3-cache -->`` was ours,
whoever wrote it: a stranger's comment with the marker and a forged section
was edited by us, and the forged section stayed under our heading.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pyo3_cache.github import client as github
from pyo3_cache.github.rest import IssueComment
from tests.fake_github import FakeGitHub, running
from tests.github.test_client import PR, REPO, TOKEN, sticky_bodies, upsert

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
