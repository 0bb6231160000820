"""The action's wheel steps: key, check, save, audit (stand-in wheels; real ones in integration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyo3_cache.action.wheel import (
    action_audit_dist,
    action_wheel_check,
    action_wheel_key,
    action_wheel_save,
)
from tests.action_runner import parse_command_file
from tests.cache.test_wheel_cache import make_wheel
from tests.conftest import run_cli


@pytest.fixture
def gh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    files = {name: tmp_path / "gh" / name.lower() for name in ("GITHUB_OUTPUT", "GITHUB_ENV")}
    files["GITHUB_STEP_SUMMARY"] = tmp_path / "gh" / "summary.md"
    for name, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("")
        monkeypatch.setenv(name, str(path))
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    return files


def outputs(gh: dict[str, Path]) -> dict[str, str]:
    return parse_command_file(gh["GITHUB_OUTPUT"])


def test_wheel_key_step_off_only_says_where_dist_is(gh: dict[str, Path], tmp_path: Path) -> None:
    action_wheel_key({"INPUT_WHEEL_CACHE": "false", "INPUT_DIST_DIR": str(tmp_path / "out")})
    assert outputs(gh) == {"key": "", "path": "", "manifest": ""}
    env = parse_command_file(gh["GITHUB_ENV"])
    assert env["PYO3_CACHE_DIST"] == str(tmp_path / "out")
    assert "PYO3_CACHE_WHEEL_KEY" not in env


def test_wheel_key_step_on_trouble_warns_and_leaves_the_key_empty(
    gh: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    monkeypatch.chdir(tmp_path)  # no Cargo.toml here
    action_wheel_key({"INPUT_WHEEL_CACHE": "true", "PATH": ""})
    assert outputs(gh)["key"] == ""
    assert "::warning title=pyo3-cache::computing the wheel key skipped" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("cache_hit", "has_wheel", "hit"),
    [("true", True, True), ("true", False, False), ("false", True, False), ("", False, False)],
)
def test_wheel_check_needs_an_exact_hit_and_wheels(
    gh: dict[str, Path], tmp_path: Path, cache_hit: str, has_wheel: bool, hit: bool
) -> None:
    dist = tmp_path / "dist"
    if has_wheel:
        make_wheel(dist)
    env = {"CACHE_HIT": cache_hit, "PYO3_CACHE_DIST": str(dist), "PYO3_CACHE_WHEEL_KEY": "k"}
    assert action_wheel_check(env) is hit
    assert outputs(gh) == {"wheel-hit": "true" if hit else "false"}
    assert parse_command_file(gh["GITHUB_ENV"])["PYO3_CACHE_WHEEL_HIT"] == str(hit).lower()
    assert ("wheel cache hit" in gh["GITHUB_STEP_SUMMARY"].read_text()) is hit


@pytest.mark.parametrize(
    ("env", "save"),
    [
        ({}, True),
        ({"PYO3_CACHE_WHEEL_KEY": ""}, False),
        ({"PYO3_CACHE_WHEEL_HIT": "true"}, False),
        ({"JOB_STATUS": "failure"}, False),
        ({"PYO3_CACHE_WHEEL_SAVE_IF": "false"}, False),
        ({"no_wheels": "1"}, False),
    ],
    ids=["miss-with-wheels", "cache-off", "was-a-hit", "job-failed", "save-if-false", "no-wheels"],
)
def test_wheel_save_decision(
    gh: dict[str, Path], tmp_path: Path, env: dict[str, str], save: bool
) -> None:
    dist = tmp_path / "dist"
    if "no_wheels" not in env:
        make_wheel(dist)
    full = {
        "PYO3_CACHE_WHEEL_KEY": "k",
        "PYO3_CACHE_DIST": str(dist),
        "PYO3_CACHE_WHEEL_PATH": f"{dist}/*.whl",
        "JOB_STATUS": "success",
        **env,
    }
    assert action_wheel_save(full) is save
    out = outputs(gh)
    assert out["save"] == str(save).lower()
    if save:
        assert out["key"] == "k" and out["path"] == f"{dist}/*.whl"


def test_audit_dist_warns_by_default_and_fails_only_when_asked(
    gh: dict[str, Path], tmp_path: Path, capsys
) -> None:
    dist = tmp_path / "dist"
    header = (3439).to_bytes(2, "little") + b"\r\n" + bytes(12)
    make_wheel(dist, extra={"hello_pyo3/__pycache__/__init__.cpython-310.pyc": header + b"\xe3"})
    assert action_audit_dist({"PYO3_CACHE_DIST": str(dist)}) is False
    assert outputs(gh) == {"failed": "false"}
    summary = gh["GITHUB_STEP_SUMMARY"].read_text()
    assert "> [!WARNING]" in summary and "foreign-tag" in summary
    assert "foreign-tag" in capsys.readouterr().err
    gh["GITHUB_OUTPUT"].write_text("")
    assert action_audit_dist({"PYO3_CACHE_DIST": str(dist), "INPUT_AUDIT_BYTECODE": "error"})
    assert outputs(gh) == {"failed": "true"}
    gh["GITHUB_OUTPUT"].write_text("")
    assert not action_audit_dist({"PYO3_CACHE_DIST": str(dist), "INPUT_AUDIT_BYTECODE": "off"})


def test_audit_dist_without_wheels_or_with_a_bad_mode(
    gh: dict[str, Path], tmp_path: Path, capsys
) -> None:
    assert action_audit_dist({"PYO3_CACHE_DIST": str(tmp_path / "none")}) is False
    assert gh["GITHUB_STEP_SUMMARY"].read_text() == ""
    make_wheel(tmp_path / "dist")
    assert not action_audit_dist(
        {"PYO3_CACHE_DIST": str(tmp_path / "dist"), "INPUT_AUDIT_BYTECODE": "loud"}
    )
    assert "'loud' is not one of warn, error, off; using warn" in capsys.readouterr().err
    assert gh["GITHUB_STEP_SUMMARY"].read_text() == ""  # a clean wheel: no section


def test_action_wheel_steps_never_fail_the_job(tmp_path: Path) -> None:
    """Even without GITHUB_OUTPUT (our own trouble), the step exits 0 with one warning."""
    env = {"GITHUB_OUTPUT": "", "GITHUB_ENV": "", "GITHUB_ACTIONS": ""}
    for step in ("wheel-key", "wheel-check", "wheel-save", "audit-dist"):
        result = run_cli("action", step, cwd=tmp_path, env=env)
        assert result.returncode == 0, (step, result.stderr)
        assert "Traceback" not in result.stderr
