"""The wheel cache off GitHub: stores, and the ``wheel-cache`` command.

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
from pyo3_cache.cache.wheel_cache import restore_wheels, save_wheels
from tests.conftest import EXAMPLE, REPO, assert_one_line_error, run_cli
from tests.keys.test_rust import copy_project, fake_rustc

DEPINFO = REPO / "tests" / "fixtures" / "cargo-depinfo"
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


def cargo_built(project: Path) -> None:
    """The dep-info cargo leaves after building the example (tests/fixtures/cargo-depinfo)."""
    deps = project / "target" / "release" / "deps"
    deps.mkdir(parents=True)
    text = (DEPINFO / "_hello_pyo3.d").read_text().replace("@ROOT@", str(project.parent))
    (deps / "_hello_pyo3.d").write_text(text)


def test_cli_wheel_cache_round_trip_computes_the_key(hello: Path, tmp_path: Path) -> None:
    tools = fake_rustc(tmp_path / "bin")
    env = {"PATH": str(tools), "PYO3_CONFIG_FILE": "", "PYO3_PYTHON": "", "GITHUB_ACTIONS": ""}
    store = f"dir:{tmp_path / 'store'}"
    args = ("--store", store, "--python", sys.executable, "--format", "json")
    miss = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=hello, env=env)
    assert miss.returncode == 1 and json.loads(miss.stdout)["hit"] is False
    make_wheel(hello / "dist")
    unbuilt = run_cli("wheel-cache", "save", *args, cwd=hello, env=env)
    assert unbuilt.returncode == 0 and json.loads(unbuilt.stdout)["saved"] is False
    assert "wheels not saved: no cargo dep-info in the target dir" in unbuilt.stderr
    cargo_built(hello)
    saved = run_cli("wheel-cache", "save", *args, cwd=hello, env=env)
    assert saved.returncode == 0, saved.stderr
    data = json.loads(saved.stdout)
    assert data["saved"] is True and data["key"].startswith(json.loads(miss.stdout)["key"] + "-")
    (hello / "dist" / WHEEL).unlink()
    (hello / "tests" / "test_hello.py").write_text("def test_new():\n    pass\n")
    hit = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=hello, env=env)
    assert hit.returncode == 0, hit.stderr
    assert json.loads(hit.stdout)["wheels"] == [WHEEL]
    assert sorted(p.name for p in (hello / "dist").iterdir()) == [WHEEL]  # not the input list
    # the key manifest travels with the entry, for a later look at what it was built from
    (manifest,) = (tmp_path / "store").rglob("key-manifest.json")
    assert json.loads(manifest.read_text())["kind"] == "wheel"
    # A file rustc read that the key does not cover: cargo's list catches it.
    (hello.parent / "shared").mkdir()
    (hello.parent / "shared" / "extra.rs").write_text("pub fn extra() -> u8 { 2 }\n")
    (hello / "dist" / WHEEL).unlink()
    again = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=hello, env=env)
    assert again.returncode == 1, again.stdout
    assert json.loads(again.stdout)["reasons"] == [
        f"since the wheels of …-{data['key'].rsplit('-', 1)[1]} were built: "
        "../shared/extra.rs appeared"
    ]
    assert not list((hello / "dist").glob("*.whl"))


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


def test_wheels_a_pull_request_saved_are_never_restored_on_the_default_branch(
    tmp_path: Path,
) -> None:
    """Like the Rust cache's entries, saved wheels belong to a scope (issue 18, item 9)."""
    store = open_store(f"dir:{tmp_path / 'store'}")
    make_wheel(tmp_path / "pr-dist", extra={"evil.py": b"print('from a PR')\n"})
    saved = save_wheels(store, "k1", tmp_path / "pr-dist", scope="refs/pull/7/merge")
    assert saved.saved

    main = restore_wheels(store, "k1", tmp_path / "main-dist", scope="refs/heads/main")
    assert not main.hit and not (tmp_path / "main-dist" / WHEEL).exists()

    make_wheel(tmp_path / "main-build")
    assert save_wheels(store, "k1", tmp_path / "main-build", scope="refs/heads/main").saved
    # The pull request finds its own wheels first, the default branch's as a fallback.
    pr = restore_wheels(
        store,
        "k1",
        tmp_path / "pr2",
        scope="refs/pull/8/merge",
        fallback_scopes=["refs/heads/main"],
    )
    assert pr.hit
    with zipfile.ZipFile(tmp_path / "pr2" / WHEEL) as zf:
        assert "evil.py" not in zf.namelist()  # main's wheel, not PR 7's


def test_cli_wheel_cache_scope_keeps_branches_apart(tmp_path: Path) -> None:
    make_wheel(tmp_path / "dist")
    store = f"dir:{tmp_path / 'store'}"
    common = ("--store", store, "--key", "k1")
    saved = run_cli("wheel-cache", "save", *common, "--scope", "refs/heads/topic", cwd=tmp_path)
    assert saved.returncode == 0 and saved.stdout.startswith("saved"), saved.stderr
    elsewhere = run_cli(
        "wheel-cache", "restore", *common, "--scope", "refs/heads/main", "--dist", "a",
        "--fail-on-miss", cwd=tmp_path,
    )  # fmt: skip
    assert elsewhere.returncode == 1 and elsewhere.stdout.startswith("wheel cache miss: k1")
    same = run_cli(
        "wheel-cache", "restore", *common, "--scope", "refs/heads/topic", "--dist", "b",
        cwd=tmp_path,
    )  # fmt: skip
    assert same.stdout.startswith(f"wheel cache hit: restored {WHEEL}"), same.stderr
