"""The key step: its outputs, and a leftover entry dir cleared before actions/cache restores."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pyo3_cache.action.keys import action_keys


def test_a_killed_job_s_entry_dir_is_cleared_before_the_restore(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """A self-hosted runner keeps the workspace: old tree files would mix with the next entry."""
    workspace = tmp_path / "ws"
    (workspace / "src").mkdir(parents=True)
    (workspace / "Cargo.toml").write_text('[package]\nname = "w"\nversion = "0.1.0"\n')
    (workspace / "src" / "lib.rs").write_text("")
    (workspace / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "w"\nversion = "0.1.0"\n'
    )
    leftover = workspace / ".pyo3-cache-entry" / "entries" / "k" / "tree" / "0"
    leftover.mkdir(parents=True)
    (leftover / "stale.rlib").write_bytes(b"old")
    outputs = tmp_path / "output"
    monkeypatch.chdir(workspace)
    for name, value in {
        "GITHUB_WORKSPACE": str(workspace),
        "GITHUB_OUTPUT": str(outputs),
        "GITHUB_ENV": str(tmp_path / "env"),
        "RUNNER_TEMP": str(tmp_path / "temp"),
        "CARGO_HOME": str(tmp_path / "cargo-home"),
        "INPUT_PYTHON": sys.executable,
    }.items():
        monkeypatch.setenv(name, value)
    action_keys()
    assert not (workspace / ".pyo3-cache-entry").exists()
    assert "paths=.pyo3-cache-entry\n" in outputs.read_text()
    assert "\nkey=v1-pyo3-" in "\n" + outputs.read_text()

    # a link in its place is removed, never followed
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (workspace / ".pyo3-cache-entry").symlink_to(outside)
    action_keys()
    assert not (workspace / ".pyo3-cache-entry").is_symlink()
    assert (outside / "keep.txt").read_text() == "mine"
