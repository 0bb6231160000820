"""The action's wheel steps: key, check, save, audit (stand-in wheels; real ones in integration)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from pyo3_cache.action.wheel import action_wheel_check, action_wheel_key, action_wheel_save
from pyo3_cache.action.wheel_audit import action_audit, action_audit_dist
from pyo3_cache.cache.wheel_cache import write_cargo_inputs
from pyo3_cache.keys.cargo_inputs import FILE_NAME as CARGO_INPUTS_FILE
from pyo3_cache.keys.cargo_inputs import CargoInputs
from tests.action_runner import parse_command_file
from tests.cache.test_wheel_cache import WHEEL, cargo_built, make_wheel
from tests.conftest import EXAMPLE, run_cli
from tests.keys.test_rust import copy_project


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
    assert outputs(gh) == {"key": "", "path": "", "manifest": "", "restore-keys": ""}
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


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE, tmp_path / "checkout" / "hello-pyo3")


def _listed(hello: Path, dist: Path, **files: str | None) -> None:
    """Cargo's input list as wheel-save writes it next to the wheels."""
    inputs = CargoInputs(files=dict(files), wheels=[WHEEL])
    write_cargo_inputs(inputs, dist / CARGO_INPUTS_FILE)


@pytest.mark.parametrize(
    ("listed", "cache_hit", "has_wheel", "hit"),
    [
        ("same", "false", True, True),  # a prefix match of the key: cache-hit is false
        ("changed", "false", True, False),
        ("none", "true", True, False),  # an entry without cargo's list is not trusted
        ("same", "true", False, False),
        ("none", "", False, False),
    ],
    ids=["inputs-match", "an-input-changed", "no-input-list", "no-wheel", "nothing-restored"],
)
def test_wheel_check_needs_wheels_whose_cargo_inputs_still_match(
    gh: dict[str, Path],
    hello: Path,
    tmp_path: Path,
    listed: str,
    cache_hit: str,
    has_wheel: bool,
    hit: bool,
) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    if has_wheel:
        make_wheel(dist)
    lib = hello / "src" / "lib.rs"
    digest = hashlib.sha256(lib.read_bytes()).hexdigest()
    if listed != "none":
        _listed(hello, dist, **{"src/lib.rs": digest if listed == "same" else "0" * 64})
    env = {
        "CACHE_HIT": cache_hit,
        "PYO3_CACHE_DIST": str(dist),
        "PYO3_CACHE_WHEEL_KEY": "k",
        "PYO3_CACHE_WHEEL_MANIFEST": str(hello / "Cargo.toml"),
        "PATH": "",
    }
    assert action_wheel_check(env) is hit
    assert outputs(gh) == {"wheel-hit": "true" if hit else "false"}
    assert parse_command_file(gh["GITHUB_ENV"])["PYO3_CACHE_WHEEL_HIT"] == str(hit).lower()
    assert ("wheel cache hit" in gh["GITHUB_STEP_SUMMARY"].read_text()) is hit
    assert not (dist / CARGO_INPUTS_FILE).exists()  # the list never stays in dist/
    if listed == "changed":
        assert not list(dist.glob("*.whl"))  # the stale wheel is taken away again


@pytest.mark.parametrize(
    ("env", "save"),
    [
        ({}, True),
        ({"PYO3_CACHE_WHEEL_KEY": ""}, False),
        ({"PYO3_CACHE_WHEEL_HIT": "true"}, False),
        ({"JOB_STATUS": "failure"}, False),
        ({"PYO3_CACHE_WHEEL_SAVE_IF": "false"}, False),
        ({"no_wheels": "1"}, False),
        ({"not_built": "1"}, False),
    ],
    ids=[
        "miss-with-wheels",
        "cache-off",
        "was-a-hit",
        "job-failed",
        "save-if-false",
        "no-wheels",
        "no-dep-info",
    ],
)
def test_wheel_save_decision(
    gh: dict[str, Path], hello: Path, tmp_path: Path, env: dict[str, str], save: bool
) -> None:
    dist = tmp_path / "dist"
    if "no_wheels" not in env:
        make_wheel(dist)
    if "not_built" not in env:
        cargo_built(hello)
    full = {
        "PYO3_CACHE_WHEEL_KEY": "k",
        "PYO3_CACHE_DIST": str(dist),
        "PYO3_CACHE_WHEEL_PATH": f"{dist}/*.whl",
        "PYO3_CACHE_WHEEL_MANIFEST": str(hello / "Cargo.toml"),
        "JOB_STATUS": "success",
        "PATH": "",
        **env,
    }
    assert action_wheel_save(full) is save
    out = outputs(gh)
    assert out["save"] == str(save).lower()
    if save:
        assert out["key"].startswith("k-") and out["path"] == f"{dist}/*.whl"
        saved = CargoInputs.from_json(json.loads((dist / CARGO_INPUTS_FILE).read_text()))
        assert saved is not None and "src/lib.rs" in saved.files
        assert out["key"] == f"k-{saved.digest()}"


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


def test_the_audit_step_runs_both_audits_and_names_which_one_failed(
    gh: dict[str, Path], tmp_path: Path
) -> None:
    dist = tmp_path / "dist"
    header = (3439).to_bytes(2, "little") + b"\r\n" + bytes(12)
    make_wheel(dist, extra={"hello_pyo3/__pycache__/__init__.cpython-310.pyc": header + b"\xe3"})
    env = {"PYO3_CACHE_DIST": str(dist), "INPUT_AUDIT_BYTECODE": "error"}
    action_audit({**env, "INPUT_AUDIT_WHEELS": "warn"})
    assert outputs(gh) == {"bytecode-failed": "true", "wheels-failed": "false"}
    summary = gh["GITHUB_STEP_SUMMARY"].read_text()
    assert "foreign-tag" in summary  # the bytecode section
    gh["GITHUB_OUTPUT"].write_text("")
    action_audit({**env, "INPUT_AUDIT_BYTECODE": "off", "INPUT_AUDIT_WHEELS": "off"})
    assert outputs(gh) == {"bytecode-failed": "false", "wheels-failed": "false"}


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
    for step in ("keys", "wheel-key", "wheel-check", "wheel-save", "audit-dist", "audit"):
        result = run_cli("action", step, cwd=tmp_path, env=env)
        assert result.returncode == 0, (step, result.stderr)
        assert "Traceback" not in result.stderr
