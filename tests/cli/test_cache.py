"""`restore`, `save`, `wheel-cache`: what --help promises about store trouble is what happens."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyo3_cache.cache.target_dir import CACHEDIR_TAG, SIGNATURE
from pyo3_cache.errors import StoreError
from tests.conftest import assert_one_line_error, run_cli


def _help(*command: str) -> str:
    result = run_cli(*command, "--help", env={"COLUMNS": "400"})
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.split())


@pytest.mark.parametrize(
    "command", [("restore",), ("save",), ("wheel-cache", "restore"), ("wheel-cache", "save")]
)
def test_help_says_a_malformed_store_is_exit_9_and_it_is(
    command: tuple[str, ...], crate: Path
) -> None:
    assert "usage error, exit 9" in _help(*command)
    result = run_cli(*command, "--store", "foo:/x", "--key", "k", cwd=crate)
    assert_one_line_error(result, StoreError.exit_code, "unknown cache store 'foo'")
    assert StoreError.exit_code == 9


@pytest.mark.parametrize("command", ["restore", "save"])
def test_help_says_a_broken_store_warns_and_exits_0_and_it_does(
    command: str, crate: Path, tmp_path: Path
) -> None:
    assert "a warning" in _help(command) and "exit 0" in _help(command)
    not_a_folder = tmp_path / "store"
    not_a_folder.write_text("a file where the store should be\n")
    # a target dir cargo made (its CACHEDIR.TAG), so the store is what save trips over
    (crate / "target").mkdir()
    (crate / "target" / CACHEDIR_TAG).write_bytes(SIGNATURE + b"\n")
    result = run_cli(command, "--store", f"dir:{not_a_folder}", "--key", "k", cwd=crate)
    assert result.returncode == 0, result.stderr
    assert "warning:" in result.stderr and "is a file, not a folder" in result.stderr
    assert result.stdout.startswith("cache miss: k" if command == "restore" else "not saved")
