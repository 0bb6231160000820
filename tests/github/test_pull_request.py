"""github/pull_request.py: the event file, post_job_section, the comment CLI and explain."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from tests.conftest import assert_one_line_error, run_cli
from tests.fake_github import FakeGitHub
from tests.github.helpers import (
    COMMENTS,
    PR,
    READ_ONLY_TOKEN,
    REPO,
    TOKEN,
    assert_no_token,
    cli_env,
    event_file,
    sticky_bodies,
)


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
