"""Shared by the tests of pyo3_cache.github: the token, the fake PR, and small helpers."""

from __future__ import annotations

import json
import secrets
import socket
import string
from pathlib import Path
from typing import Any

from pyo3_cache.github import client as github
from tests.conftest import CliResult
from tests.fake_github import FakeGitHub

_ALNUM = string.ascii_letters + string.digits


TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))


READ_ONLY_TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))


REPO = "octo/hello"


PR = 7


COMMENTS = r"/repos/octo/hello/issues/7/comments|/repositories/\d+/issues/7/comments"


ONE_COMMENT = r"/repos/octo/hello/issues/comments/\d+"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


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
