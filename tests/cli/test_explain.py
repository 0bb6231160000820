"""`run` and `explain` as a user sees them on the terminal."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import run_cli


def test_run_without_cargo_output_says_so_once(tmp_path: Path) -> None:
    log = tmp_path / "build.log"
    result = run_cli("run", "--no-wrapper", "--log", str(log), "--", "echo", "no cargo here")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "no cargo here\n"
    assert result.stderr.count("No cargo output found") == 1
    assert result.stderr.count("has no cargo output") == 1, result.stderr
    assert f"log kept in {log}" in result.stderr
