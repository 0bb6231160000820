"""after-restore unpacks the entry actions/cache brought back, or runs the job cold."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from pyo3_cache.action.restore import after_restore
from pyo3_cache.action.save import before_save, decide_save
from pyo3_cache.action.state import FlowState
from tests.cache.cargo_dirs import cargo_target_dir


def _job_env(tmp_path: Path, monkeypatch: Any, n: int) -> dict[str, str]:
    """A job's environment: runner files, the shared RUNNER_TEMP, our own CARGO_HOME."""
    files = tmp_path / f"job{n}"
    files.mkdir()
    env = {
        "RUNNER_TEMP": str(tmp_path / "_temp"),
        "GITHUB_ENV": str(files / "env"),
        "GITHUB_OUTPUT": str(files / "output"),
        "GITHUB_PATH": str(files / "path"),
        "GITHUB_STEP_SUMMARY": str(files / "summary.md"),
        "CARGO_HOME": str(tmp_path / "cargo-home"),
        "PYO3_CACHE_WRAPPER_DIR": str(tmp_path / "wrapper"),
        "INPUT_PYTHON": sys.executable,
        "INPUT_COMMENT": "never",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def _crate(workspace: Path) -> Path:
    """A one-file crate at ``workspace``."""
    (workspace / "src").mkdir(parents=True)
    (workspace / "Cargo.toml").write_text('[package]\nname = "w"\nversion = "0.1.0"\n')
    (workspace / "src" / "lib.rs").write_text("")
    return workspace


def _outputs(env: dict[str, str]) -> str:
    return Path(env["GITHUB_OUTPUT"]).read_text(encoding="utf-8")


MTIME_NS = 1_600_000_000_123_456_789  # an mtime whose last digits a float would lose


def _built(tmp_path: Path, monkeypatch: Any, rel: str) -> tuple[Path, Path, Path]:
    """A crate whose target dir (cargo's CACHEDIR.TAG: only a real one is saved) holds
    ``rel``; the workspace, the target dir and that file."""
    workspace = _crate(tmp_path / "ws")
    target = workspace / "target"
    probe = target / rel
    probe.parent.mkdir(parents=True)
    probe.write_text("built")
    cargo_target_dir(target)
    os.utime(probe, ns=(MTIME_NS,) * 2)
    monkeypatch.chdir(workspace)
    return workspace, target, probe


def _saved(tmp_path: Path, monkeypatch: Any, state: FlowState) -> dict[str, str]:
    """Job 1's before-save on ``state``: it saves; its env."""
    env = _job_env(tmp_path, monkeypatch, 1)
    state.write(tmp_path / "_temp" / "pyo3-cache" / "state.json")
    assert before_save(env).save
    return env


def test_the_entry_actions_cache_stores_round_trips_and_a_corrupt_one_is_a_cold_job(
    tmp_path: Path, monkeypatch: Any
) -> None:
    workspace, target, probe = _built(tmp_path, monkeypatch, "pyo3-cache/probe.txt")

    # job 1 saves: before-save stages the entry dir that actions/cache will store:
    # the cached folders themselves (hard links), which actions/cache compresses
    state = FlowState(key="k1", workspace=str(workspace), target_dir=str(target))
    state.paths, state.entry_format = str(target), "tree"
    env = _saved(tmp_path, monkeypatch, state)
    entry = tmp_path / "_temp" / "pyo3-cache" / "entry"
    assert f"paths={entry}" in _outputs(env)
    staged = next(entry.glob("entries/*/tree/0/pyo3-cache/probe.txt"))
    assert staged.stat().st_ino == probe.stat().st_ino  # a link, not a copy

    # job 2 restores it (actions/cache brought the folder back) on a fresh checkout
    shutil.rmtree(target)
    saved = tmp_path / "saved-entry"
    shutil.copytree(entry, saved)
    env = _job_env(tmp_path, monkeypatch, 2)
    restored = after_restore(dict(env, MATCHED_KEY="k1", CACHE_HIT="true", PRIMARY_KEY="k1"))
    assert restored.cache_hit and restored.matched_key == "k1", restored.notes
    assert probe.read_text() == "built"
    assert probe.stat().st_mtime_ns == MTIME_NS
    assert not entry.exists()  # its disk space goes back to the build

    # job 3: the entry came back cut short: one warning, and the job runs cold
    shutil.rmtree(target)
    shutil.copytree(saved, entry)
    damaged = entry / staged.relative_to(entry)
    damaged.write_bytes(damaged.read_bytes()[:2])
    env = _job_env(tmp_path, monkeypatch, 3)
    cold = after_restore(dict(env, MATCHED_KEY="k1", CACHE_HIT="true", PRIMARY_KEY="k1"))
    assert not cold.cache_hit and cold.matched_key == ""
    assert any("putting the restored cache in place skipped" in note for note in cold.notes)
    assert not probe.exists()
    assert not entry.exists()  # refused, it is gone all the same
    assert decide_save(cold, "success").save  # so this job saves a good entry again


def test_entry_format_archive_saves_our_archive_and_either_format_restores(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """entry-format: archive (smaller entries); a job restores whichever format it finds."""
    workspace, target, probe = _built(tmp_path, monkeypatch, "release/probe.txt")
    state = FlowState(key="k1", workspace=str(workspace), target_dir=str(target))
    state.paths, state.entry_format = str(target), "archive"
    _saved(tmp_path, monkeypatch, state)
    entry = tmp_path / "_temp" / "pyo3-cache" / "entry"
    assert [p.name for p in entry.glob("entries/*/*.tar.zst")] == ["archive.tar.zst"]
    assert not list(entry.glob("entries/*/tree"))

    shutil.rmtree(target)
    env = _job_env(tmp_path, monkeypatch, 2)
    restored = after_restore(
        dict(env, MATCHED_KEY="k1", CACHE_HIT="true", PRIMARY_KEY="k1", INPUT_ENTRY_FORMAT="tree")
    )
    assert restored.cache_hit, restored.notes
    assert probe.stat().st_mtime_ns == MTIME_NS
    assert probe.read_text() == "built"


def test_an_unknown_entry_format_is_a_warning_and_archive(tmp_path: Path, monkeypatch: Any) -> None:
    workspace = _crate(tmp_path / "ws")
    monkeypatch.chdir(workspace)
    env = _job_env(tmp_path, monkeypatch, 1)
    state = after_restore(dict(env, PRIMARY_KEY="k1", INPUT_ENTRY_FORMAT="zip"))
    assert state.entry_format == "archive"


def test_a_cold_job_s_target_dir_carries_cargo_s_tag_so_it_can_be_saved(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """The pin writes below a target dir that does not exist yet: cargo would not tag it."""
    from pyo3_cache.cache.target_dir import target_dir_problem

    workspace = _crate(tmp_path / "ws")
    monkeypatch.chdir(workspace)
    env = _job_env(tmp_path, monkeypatch, 1)
    state = after_restore(dict(env, PRIMARY_KEY="k1"))
    target = Path(state.target_dir)
    assert (
        (target / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55\n")
    )
    assert target_dir_problem(target, workspace) is None
    # a folder that was already there keeps what it had: no tag is forged into it
    (target / "CACHEDIR.TAG").unlink()
    after_restore(dict(env, PRIMARY_KEY="k1"))
    assert not (target / "CACHEDIR.TAG").exists()


def test_no_comment_step_on_an_event_without_a_pull_request(
    tmp_path: Path, monkeypatch: Any
) -> None:
    """comment: always prepares a section on a pull request, and nothing on a push."""
    workspace = _crate(tmp_path / "ws")
    monkeypatch.chdir(workspace)
    comment = tmp_path / "_temp" / "pyo3-cache" / "comment.json"
    for n, (event, wanted) in enumerate([("push", False), ("pull_request", True)]):
        env = _job_env(tmp_path, monkeypatch, n)
        comment.unlink(missing_ok=True)
        FlowState(key="k1", workspace=str(workspace), comment="always", cache_hit=True).write(
            tmp_path / "_temp" / "pyo3-cache" / "state.json"
        )
        before_save(dict(env, GITHUB_EVENT_NAME=event))
        assert ("comment=true" in _outputs(env)) is wanted, (event, _outputs(env))
        assert comment.is_file() is wanted
