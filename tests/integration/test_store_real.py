"""save → wipe → restore → build, and prune after a Cargo.lock change, on the real example.

Each test works on the warm example at its fixed checkout path and on a
private CARGO_HOME (a copy of this machine's registry index and .crate files),
so wiping "the cargo caches" never touches the machine's own ~/.cargo.
Builds run offline: everything they need must come from the restored cache.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import WarmExample, run_build, tool_env, uv_build

OLDER_ONCE_CELL = "1.21.3"


def _machine_cargo_home() -> Path:
    env = os.environ.get("CARGO_HOME")
    return Path(env) if env else Path.home() / ".cargo"


@pytest.fixture(scope="session")
def cargo_home_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = _machine_cargo_home() / "registry"
    if not (source / "index").is_dir():
        pytest.skip("no cargo registry on this machine to copy")
    home = tmp_path_factory.mktemp("cargo-home-copy")
    for sub in ("index", "cache"):
        shutil.copytree(source / sub, home / "registry" / sub, symlinks=True)
    return home


@pytest.fixture
def cargo_home(cargo_home_copy: Path, tmp_path: Path) -> Path:
    home = tmp_path / "cargo-home"
    shutil.copytree(cargo_home_copy, home, symlinks=True)
    return home


def _pinned_env(project: Path, cargo_home: Path) -> dict[str, str]:
    """pin's JSON ``env`` as it is: PYO3_CACHE_PIN, and PATH with the cargo wrapper first."""
    wrapper_dir = project.parent / "wrapper"
    pin = run_cli(
        "pin", "--manifest-path", str(project / "Cargo.toml"),
        "--wrapper-dir", str(wrapper_dir), "--format", "json", env=tool_env(),
    )  # fmt: skip
    assert pin.returncode == 0, pin.stderr
    data = json.loads(pin.stdout)
    assert data["env"]["PATH"].split(os.pathsep)[0] == data["wrapper_dir"]
    return tool_env(**data["env"], CARGO_HOME=str(cargo_home))


def _cli(project: Path, env: dict[str, str], *args: str) -> dict[str, object]:
    result = run_cli(*args, "--format", "json", cwd=project, env=env)
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


def _warm_up(example: WarmExample, env: dict[str, str]) -> None:
    """Pinned release build (as uv/maturin do) and a dev build with the private CARGO_HOME."""
    release = uv_build(example.path, env, example.dist)
    assert release.returncode == 0, release.output[-3000:]
    dev = run_build(["cargo", "build", "-v"], example.path, env)
    assert dev.returncode == 0, dev.output[-3000:]


def test_save_wipe_restore_then_builds_are_all_fresh(
    warm_example: WarmExample, cargo_home: Path, tmp_path: Path
) -> None:
    project = warm_example.path
    env = _pinned_env(project, cargo_home)
    _warm_up(warm_example, env)
    # A file as maturin >= 1.14 writes for abi3 builds: it must come back too.
    maturin_file = project / "target" / "maturin" / "pyo3-config-x86_64-unknown-linux-gnu.txt"
    maturin_file.parent.mkdir(parents=True, exist_ok=True)
    maturin_file.write_text("implementation=CPython\n")
    manifest = tmp_path / "key-manifest.json"
    manifest.write_text('{"key": "demo-key"}')

    prune = _cli(project, env, "prune")
    assert prune["bytes_after"] <= prune["bytes_before"]  # type: ignore[operator]
    store = f"dir:{tmp_path / 'store'}"
    saved = _cli(
        project, env, "save", "--store", store, "--key", "demo-key", "--manifest", str(manifest)
    )
    assert saved["saved"] is True, saved

    shutil.rmtree(project / "target")
    shutil.rmtree(cargo_home / "registry")
    restored = _cli(project, env, "restore", "--store", store, "--key", "demo-key")
    assert (restored["hit"], restored["exact"]) == (True, True), restored
    assert json.loads(Path(str(restored["manifest"])).read_text()) == {"key": "demo-key"}
    assert maturin_file.read_text() == "implementation=CPython\n"
    assert not (cargo_home / "registry" / "src").exists()

    # As the documented flow does: restore, then pin (its shims point at this
    # machine's interpreters, so they are made again, never restored).
    env = _pinned_env(project, cargo_home)
    offline = dict(env, CARGO_NET_OFFLINE="true")
    release = uv_build(project, offline, warm_example.dist)
    assert release.returncode == 0, release.output[-3000:]
    assert release.compiled == [] and release.dirty == [], release.output[-3000:]
    dev = run_build(["cargo", "build", "-v"], project, offline)
    assert dev.returncode == 0, dev.output[-3000:]
    assert dev.compiled == [] and dev.dirty == [], dev.output[-3000:]
    assert "Fresh hello-pyo3" in dev.output and "Fresh pyo3 v0.30.1" in dev.output


def _downgrade_once_cell(project: Path, env: dict[str, str], cargo_home: Path) -> None:
    """``cargo update --precise`` to the older once_cell, offline when its .crate is cached.

    A fresh machine has only what the example locks; then the older crate is
    fetched from crates.io into the test's own CARGO_HOME (the builds stay offline).
    """
    cached = list((cargo_home / "registry" / "cache").glob(f"*/once_cell-{OLDER_ONCE_CELL}.crate"))
    update = ["cargo", "update", "-p", "once_cell", "--precise", OLDER_ONCE_CELL]
    if cached:
        subprocess.run(
            [*update, "--offline"], cwd=project, env=env, check=True, capture_output=True
        )
        return
    steps = (update, ["cargo", "fetch"])
    for step in steps:
        done = subprocess.run(
            step, cwd=project, env=env, capture_output=True, text=True, timeout=300
        )
        if done.returncode != 0:
            pytest.skip(
                f"once_cell {OLDER_ONCE_CELL} is not cached and crates.io is out of reach: "
                f"{done.stderr[-300:]}"
            )


def _once_cell_units(project: Path) -> set[str]:
    return {p.name for p in (project / "target/release/.fingerprint").glob("once_cell-*")}


def test_prune_after_lock_downgrade_drops_old_units_and_next_build_compiles_nothing(
    warm_example: WarmExample, cargo_home: Path
) -> None:
    project = warm_example.path
    env = _pinned_env(project, cargo_home)
    offline = dict(env, CARGO_NET_OFFLINE="true")
    first = uv_build(project, offline, warm_example.dist)
    assert first.returncode == 0, first.output[-3000:]
    old_units = _once_cell_units(project)
    assert len(old_units) == 1

    _downgrade_once_cell(project, env, cargo_home)
    rebuilt = uv_build(project, offline, warm_example.dist)
    assert rebuilt.returncode == 0, rebuilt.output[-3000:]
    assert f"once_cell v{OLDER_ONCE_CELL}" in rebuilt.compiled
    assert len(_once_cell_units(project)) == 2

    # As the save action does: explain first (it reads the old units' records to
    # say what changed), then prune; explain's reads must not keep the old chain.
    log = project / "target" / "lock-bump.log"
    log.write_text(rebuilt.output)
    explained = _cli(project, env, "explain", str(log), "--target-dir", "target")
    assert explained["counts"], explained
    log.unlink()
    report = _cli(project, env, "prune")
    removed = set(report["units_removed"])  # type: ignore[arg-type]
    assert {f"release/{u}" for u in old_units} <= removed
    assert _once_cell_units(project).isdisjoint(old_units)
    assert not list((project / "target/release/deps").glob(f"*{next(iter(old_units))[-16:]}*"))
    assert not (project / "target/release/incremental").exists()
    assert list((project / "target/pyo3-cache").glob("pyo3-config-*.txt")), "pinned config kept"
    assert report["bytes_after"] < report["bytes_before"]  # type: ignore[operator]

    after = uv_build(project, offline, warm_example.dist)
    assert after.returncode == 0, after.output[-3000:]
    assert after.compiled == [] and after.dirty == [], after.output[-3000:]


def _other_projects_crates(home: Path, count: int = 60) -> None:
    """Crates a shared CARGO_HOME holds for other projects (sparse index entry + .crate)."""
    cache = next((home / "registry" / "cache").iterdir())
    index = home / "registry" / "index" / cache.name / ".cache"
    for n in range(count):
        name = f"other-project-dep{n}"
        (cache / f"{name}-1.0.{n}.crate").write_bytes(os.urandom(64 << 10))
        entry = index / name[:2] / name[2:4] / name
        entry.parent.mkdir(parents=True, exist_ok=True)
        entry.write_bytes(os.urandom(8 << 10))


def _tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


def test_off_github_entry_is_the_same_size_with_a_fresh_or_a_shared_cargo_home(
    tmp_path: Path, cargo_home_copy: Path
) -> None:
    """`save` keeps only the Cargo.lock's .crate files and index entries (rust-cache's rule)."""
    from tests.conftest import EXAMPLE

    project = tmp_path / "hello-pyo3"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dist", "*.whl"))
    fresh = tmp_path / "fresh-home"
    fetched = run_build(["cargo", "fetch", "--locked"], project, tool_env(CARGO_HOME=str(fresh)))
    if fetched.returncode != 0:
        pytest.skip(f"cargo fetch into a fresh CARGO_HOME failed: {fetched.output[-300:]}")
    shared = tmp_path / "shared-home"
    shutil.copytree(cargo_home_copy, shared, symlinks=True)  # this machine's other crates
    shutil.copytree(fresh / "registry" / "index", shared / "registry" / "index", dirs_exist_ok=True)
    shutil.copytree(fresh / "registry" / "cache", shared / "registry" / "cache", dirs_exist_ok=True)
    _other_projects_crates(shared)
    saved = {}
    for name, home in (("fresh", fresh), ("shared", shared)):
        env = {"CARGO_HOME": str(home), "CARGO_TARGET_DIR": ""}
        args = ("save", "--store", f"dir:{tmp_path / name}-store", "--key", "k")
        text = run_cli(*args, "--no-source-mtimes", cwd=project, env=env)
        assert text.returncode == 0, text.stderr
        assert "  kept cargo-home/registry/cache: 14 of " in text.stdout, text.stdout
        data = json.loads(
            (tmp_path / f"{name}-store" / "entries" / "default%2Fk" / "entry.json").read_text()
        )
        saved[name] = data["archive"]["bytes"]
    assert abs(saved["shared"] - saved["fresh"]) <= 0.05 * saved["fresh"], saved
    whole = _tree_bytes(shared / "registry" / "index") + _tree_bytes(shared / "registry" / "cache")
    assert whole > 2 * saved["shared"], (whole, saved)  # what archiving it all would have cost


def _tiny_crate(path: Path) -> Path:
    (path / "src").mkdir(parents=True)
    (path / "Cargo.toml").write_text(
        '[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n'
    )
    (path / "src" / "lib.rs").write_text("pub fn one() -> u32 { 1 }\n")
    (path / ".git").mkdir()
    (path / ".git" / "config").write_text("[core]\n")
    return path


def test_cargo_target_dir_dot_is_never_saved_restored_into_or_pruned(tmp_path: Path) -> None:
    """A real cargo build with CARGO_TARGET_DIR=. writes no CACHEDIR.TAG into the checkout."""
    crate = _tiny_crate(tmp_path / "tiny")
    (crate / "wheels").mkdir()
    (crate / "wheels" / "README.md").write_text("the user's notes\n")
    env = tool_env(CARGO_TARGET_DIR=".", CARGO_HOME=str(tmp_path / "home"))
    built = run_build(["cargo", "build", "--offline"], crate, env)
    assert built.returncode == 0, built.output[-2000:]
    assert (crate / "debug").is_dir() and not (crate / "CACHEDIR.TAG").exists()
    store = f"dir:{tmp_path / 'store'}"
    saved = run_cli("save", "--store", store, "--key", "k", cwd=crate, env=env)
    assert saved.returncode == 0 and "has no cargo CACHEDIR.TAG" in saved.stderr, saved.stderr
    assert not (tmp_path / "store").exists() and not (crate / "pyo3-cache").exists()
    pruned = run_cli("prune", "--target-dir", ".", cwd=crate, env=env)
    assert pruned.returncode == 4 and "CACHEDIR.TAG" in pruned.stderr
    assert (crate / "wheels" / "README.md").read_text() == "the user's notes\n"
    # the same crate with cargo's own target dir: tagged by cargo, saved
    del env["CARGO_TARGET_DIR"]
    built = run_build(["cargo", "build", "--offline"], crate, env)
    assert built.returncode == 0 and (crate / "target" / "CACHEDIR.TAG").is_file()
    saved = run_cli("save", "--store", store, "--key", "k", cwd=crate, env=env)
    assert saved.returncode == 0 and saved.stdout.startswith("saved "), saved.stderr
    # and an entry of that target dir is not restored into the checkout
    env["CARGO_TARGET_DIR"] = "."
    restored = run_cli("restore", "--store", store, "--key", "k", cwd=crate, env=env)
    assert "the workspace or holds it" in restored.stderr, restored.stderr
    assert (crate / "src" / "lib.rs").read_text() == "pub fn one() -> u32 { 1 }\n"
    assert (crate / ".git" / "config").read_text() == "[core]\n"


def _kill_when(proc: subprocess.Popen[bytes], ready: Any, timeout: float = 120) -> None:
    import signal
    import time

    deadline = time.monotonic() + timeout
    while not ready():
        assert proc.poll() is None, "finished before it could be killed"
        assert time.monotonic() < deadline, "never got half-way"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()


def test_killed_save_and_restore_leave_nothing_after_the_next_run(tmp_path: Path) -> None:
    """A real build's target dir with 300 MiB more in it, so each run can be killed half-way."""
    import sys

    crate = _tiny_crate(tmp_path / "tiny")
    env = tool_env(CARGO_HOME=str(tmp_path / "home"), TMPDIR=str(tmp_path / "tmpdir"))
    (tmp_path / "tmpdir").mkdir()
    built = run_build(["cargo", "build", "--offline"], crate, env)
    assert built.returncode == 0, built.output[-2000:]
    for n in range(3):
        (crate / "target" / "debug" / f"big{n}.bin").write_bytes(os.urandom(100 << 20))
    store = tmp_path / "store"
    cli = [sys.executable, "-m", "pyo3_cache"]
    args = ["--store", f"dir:{store}", "--key", "k", "--no-source-mtimes"]

    def half_saved() -> bool:
        return any(p.stat().st_size > (8 << 20) for p in (store / "tmp").glob("save.*"))

    save = subprocess.Popen([*cli, "save", *args], cwd=crate, env=env)
    _kill_when(save, half_saved)
    assert list((store / "tmp").glob("save.*")), "the killed save left no temporary archive"
    again = run_cli("save", *args, cwd=crate, env=env)
    assert again.returncode == 0 and again.stdout.startswith("saved "), again.stderr
    assert list((store / "tmp").iterdir()) == []

    shutil.rmtree(crate / "target")

    def half_restored() -> bool:
        return any(crate.glob(".pyo3-cache-restore-target.*/debug/big*"))

    restore = subprocess.Popen([*cli, "restore", *args], cwd=crate, env=env)
    _kill_when(restore, half_restored)
    assert list(crate.glob(".pyo3-cache-restore-*")), "the killed restore left no staging"
    assert list((tmp_path / "tmpdir").iterdir()), "the killed restore left no work folder"
    again = run_cli("restore", *args, cwd=crate, env=env)
    assert again.returncode == 0 and again.stdout.startswith("exact hit"), again.stderr
    assert not list(crate.glob(".pyo3-cache-restore-*"))
    assert list((tmp_path / "tmpdir").iterdir()) == []
    assert (crate / "target" / "CACHEDIR.TAG").is_file()
