"""The wheel cache: stores off GitHub, and the action's wheel steps (key, check, save, audit).

Wheels here are small stand-ins (their bytes do not matter to the cache); the
real example's wheel, restored, installed and imported, is in
tests/integration/test_wheel_key_real.py and test_wheel_cache_action.py.
"""

from __future__ import annotations

import json
import sys
import zipfile
from pathlib import Path

import pytest

from pyo3_cache.cache.places import open_store
from pyo3_cache.cache.wheel_cache import (
    action_audit_dist,
    action_wheel_check,
    action_wheel_key,
    action_wheel_save,
    restore_wheels,
    save_wheels,
)
from tests.action_runner import parse_command_file
from tests.conftest import EXAMPLE, assert_one_line_error, run_cli
from tests.keys.test_rust import copy_project, fake_rustc

WHEEL = "hello_pyo3-0.1.0-cp311-cp311-manylinux_2_34_x86_64.whl"


def make_wheel(dist: Path, name: str = WHEEL, extra: dict[str, bytes] | None = None) -> Path:
    dist.mkdir(parents=True, exist_ok=True)
    path = dist / name
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("hello_pyo3/__init__.py", "x = 1\n")
        for member, data in (extra or {}).items():
            zf.writestr(member, data)
    return path


# --- stores -----------------------------------------------------------------------------


def test_save_keeps_only_wheels_and_restore_brings_them_back(tmp_path: Path) -> None:
    store = open_store(f"dir:{tmp_path / 'store'}")
    dist = tmp_path / "dist"
    wheel = make_wheel(dist)
    (dist / "hello_pyo3-0.1.0.tar.gz").write_bytes(b"sdist holds tests and docs")
    saved = save_wheels(store, "k1", dist)
    assert saved.saved and saved.wheels == [WHEEL]
    again = save_wheels(store, "k1", dist)
    assert not again.saved and again.line() == "not saved (already saved): k1"

    fresh = tmp_path / "checkout" / "dist"
    result = restore_wheels(store, "k1", fresh)
    assert result.hit and result.wheels == [WHEEL]
    assert sorted(p.name for p in fresh.iterdir()) == [WHEEL]  # no sdist
    assert (fresh / WHEEL).read_bytes() == wheel.read_bytes()
    assert result.line() == f"wheel cache hit: restored {WHEEL} into {fresh}"


def test_restore_is_exact_key_only(tmp_path: Path) -> None:
    store = open_store(f"dir:{tmp_path / 'store'}")
    make_wheel(tmp_path / "dist")
    save_wheels(store, "v1-pyo3-wheel-linux-x86_64-aaa", tmp_path / "dist")
    result = restore_wheels(store, "v1-pyo3-wheel-linux-x86_64-aa", tmp_path / "out")
    assert not result.hit and result.wheels == []
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_save_without_wheels_is_a_warning_not_an_error(tmp_path: Path) -> None:
    store = open_store(f"dir:{tmp_path / 'store'}")
    result = save_wheels(store, "k", tmp_path / "dist")
    assert not result.saved and result.reason == "no wheels"
    assert result.warnings == [f"no *.whl in {tmp_path / 'dist'}: nothing to save"]


def test_a_corrupt_entry_is_a_miss_with_a_warning(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    store = open_store(f"dir:{store_dir}")
    make_wheel(tmp_path / "dist")
    assert save_wheels(store, "k", tmp_path / "dist").saved
    (archive,) = store_dir.rglob("archive.tar.zst")
    archive.write_bytes(archive.read_bytes()[:-20] + b"\0" * 20)
    result = restore_wheels(store, "k", tmp_path / "out")
    assert not result.hit
    assert any("corrupt" in w for w in result.warnings), result.warnings


# --- CLI ------------------------------------------------------------------------------------


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE, tmp_path / "checkout" / "hello-pyo3")


def test_cli_wheel_cache_round_trip_computes_the_key(hello: Path, tmp_path: Path) -> None:
    tools = fake_rustc(tmp_path / "bin")
    env = {"PATH": str(tools), "PYO3_CONFIG_FILE": "", "PYO3_PYTHON": "", "GITHUB_ACTIONS": ""}
    store = f"dir:{tmp_path / 'store'}"
    args = ("--store", store, "--python", sys.executable, "--format", "json")
    miss = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=hello, env=env)
    assert miss.returncode == 1 and json.loads(miss.stdout)["hit"] is False
    make_wheel(hello / "dist")
    saved = run_cli("wheel-cache", "save", *args, cwd=hello, env=env)
    assert saved.returncode == 0, saved.stderr
    data = json.loads(saved.stdout)
    assert data["saved"] is True and data["key"].startswith("v1-pyo3-wheel-")
    (hello / "dist" / WHEEL).unlink()
    (hello / "tests" / "test_hello.py").write_text("def test_new():\n    pass\n")
    hit = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=hello, env=env)
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout)["wheels"] == [WHEEL]
    assert (hello / "dist" / WHEEL).is_file()
    # the key manifest travels with the entry, for a later look at what it was built from
    (manifest,) = (tmp_path / "store").rglob("key-manifest.json")
    assert json.loads(manifest.read_text())["kind"] == "wheel"


def test_cli_wheel_cache_bad_store_gives_one_line(tmp_path: Path) -> None:
    result = run_cli("wheel-cache", "save", "--store", "ftp://x", "--key", "k", cwd=tmp_path)
    assert_one_line_error(result, 9, "ftp://x")


def test_cli_wheel_cache_with_a_key_needs_no_project(tmp_path: Path) -> None:
    make_wheel(tmp_path / "dist")
    store = f"dir:{tmp_path / 'store'}"
    saved = run_cli("wheel-cache", "save", "--store", store, "--key", "k1", cwd=tmp_path)
    assert saved.returncode == 0 and saved.stdout.startswith(f"saved {WHEEL} to {store} as k1")
    restored = run_cli(
        "wheel-cache", "restore", "--store", store, "--key", "k1", "--dist", "out", cwd=tmp_path
    )
    assert restored.stdout.startswith(f"wheel cache hit: restored {WHEEL}")


# --- the action's steps ------------------------------------------------------------------


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
