"""Fixtures of the GitHub tests.

Every REST test talks HTTP to the fake GitHub in tests/fake_github.py on
127.0.0.1; sleeping and the clock are injected, so retries and rate limits
cost no real time.  The token is a realistic ``ghs_`` value, and no test may
print it: an autouse fixture checks everything captured.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fake_github import FakeGitHub, running
from tests.github.helpers import (
    PR,
    READ_ONLY_TOKEN,
    REPO,
    TOKEN,
)


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
