"""Shared test helpers: run the CLI as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "hello-pyo3"


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    input: str | None = None,
    timeout: float = 600,
) -> CliResult:
    """Run ``python -m pyo3_cache ARGS`` the way a user's shell would."""
    full_env = dict(os.environ)
    full_env.pop("PYO3_CACHE_DEBUG", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "pyo3_cache", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        input=input,
        timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def cli():
    return run_cli


def git_env() -> dict[str, str]:
    """This environment with a committer, so tests can make commits anywhere."""
    return dict(
        os.environ,
        GIT_AUTHOR_NAME="t",
        GIT_AUTHOR_EMAIL="t@example.invalid",
        GIT_COMMITTER_NAME="t",
        GIT_COMMITTER_EMAIL="t@example.invalid",
    )


def assert_one_line_error(result: CliResult, exit_code: int, fragment: str) -> None:
    """The bad-input contract: one line on stderr, no traceback, the right exit code."""
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert lines[0].startswith("pyo3-cache: error: "), lines[0]
    assert fragment in lines[0], lines[0]
