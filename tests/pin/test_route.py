"""pin.route and pin.state: which config a cargo call gets, and what stays the same across moves.

Real interpreters (this venv's, a venv made from it, Debian's python3 when it
is the same minor), real files; no cargo run here (the builds are in
tests/integration/test_pin_interpreters.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pyo3_cache.keys.rust import compute_key
from pyo3_cache.pin.pinning import pin_pyo3_config
from pyo3_cache.pin.route import pass_through_reason, plan_cargo_call, subcommand
from pyo3_cache.pin.state import read_state
from tests.conftest import EXAMPLE


@pytest.fixture
def crate(tmp_path: Path) -> Path:
    dst = tmp_path / "crate"
    dst.mkdir()
    for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml"):
        (dst / name).write_bytes((EXAMPLE / name).read_bytes())
    return dst


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    path = tmp_path / "elsewhere" / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


def _same_minor_system_python() -> str | None:
    system = "/usr/bin/python3"
    if not os.path.exists(system) or os.path.realpath(system) == os.path.realpath(sys.executable):
        return None
    out = subprocess.run(
        [system, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True, text=True
    )
    return system if out.stdout.strip() == str(tuple(sys.version_info[:2])) else None


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["build", "--release"], "build"),
        (["+nightly", "build"], "build"),
        (["--config", "build.jobs=1", "-Zunstable-options", "test"], "test"),
        (["-C", "sub", "check"], "check"),
        (["metadata", "--format-version", "1"], "metadata"),
        (["--version"], None),
    ],
)
def test_subcommand_skips_toolchain_and_global_options(
    args: list[str], expected: str | None
) -> None:
    assert subcommand(args)[0] == expected


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        (["build"], {"PYO3_CONFIG_FILE": "/x.txt"}, "PYO3_CONFIG_FILE is set"),
        (["build"], {"PYO3_CONFIG_FILE": ""}, "PYO3_CONFIG_FILE is set"),
        (["build"], {"PYO3_CROSS_LIB_DIR": "/sysroot/lib"}, "PYO3_CROSS"),
        (["metadata", "--format-version", "1"], {}, "cargo metadata builds nothing"),
        (["build", "--target", "aarch64-unknown-linux-gnu"], {}, "another target"),
        (["build", "--target=i686-unknown-linux-gnu"], {}, "another target"),
        (["build"], {"CARGO_BUILD_TARGET": "wasm32-unknown-unknown"}, "another target"),
    ],
)
def test_calls_left_alone(
    args: list[str], env: dict[str, str], reason: str, tmp_path: Path
) -> None:
    environ = {"PATH": os.environ["PATH"], **env}
    found = pass_through_reason(args, environ, tmp_path)
    assert found is not None and reason in found


def test_build_target_in_cargo_config_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text(
        '[build]\ntarget = "aarch64-unknown-linux-gnu"\n'
    )
    found = pass_through_reason(["build"], {"PATH": os.environ["PATH"]}, tmp_path)
    assert found is not None and "another target" in found


def test_host_target_is_pinned(tmp_path: Path) -> None:
    host = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True).stdout
    triple = next(ln.split()[1] for ln in host.splitlines() if ln.startswith("host:"))
    env = {"PATH": os.environ["PATH"]}
    assert pass_through_reason(["build", "--target", triple], env, tmp_path) is None


def test_python_and_python3_of_one_venv_give_one_pin(crate: Path, venv: Path) -> None:
    a = pin_pyo3_config(str(venv / "bin" / "python"), manifest_path=crate / "Cargo.toml")
    b = pin_pyo3_config(str(venv / "bin" / "python3"), manifest_path=crate / "Cargo.toml")
    c = pin_pyo3_config(sys.executable, manifest_path=crate / "Cargo.toml")
    assert a.config_file == b.config_file == c.config_file
    assert not b.written and not c.written  # byte-identical: nothing rewritten


def test_same_abi_interpreters_share_the_file_the_target_and_the_key(crate: Path) -> None:
    system = _same_minor_system_python()
    if system is None:
        pytest.skip("no second interpreter of this minor version at another path")
    pinned = pin_pyo3_config(sys.executable, manifest_path=crate / "Cargo.toml")
    state = pinned.state_file
    assert state is not None
    env = {"PATH": os.environ["PATH"], "PYO3_CACHE_PIN": str(state)}
    mine, _ = plan_cargo_call(["build"], {**env, "PYO3_BUILD_EXTENSION_MODULE": "1"}, crate)
    theirs, _ = plan_cargo_call(
        ["build"], {**env, "PYO3_BUILD_EXTENSION_MODULE": "1", "PYO3_PYTHON": system}, crate
    )
    assert mine["PYO3_CONFIG_FILE"] == theirs["PYO3_CONFIG_FILE"] == str(pinned.config_file)
    assert "CARGO_TARGET_DIR" not in theirs  # the primary's own target dir
    key_a = compute_key(crate / "Cargo.toml", python=sys.executable, environ=env)
    key_b = compute_key(crate / "Cargo.toml", python=system, environ=env)
    assert key_a.part("python").hash == key_b.part("python").hash
    assert key_a.key == key_b.key


def test_other_abi_builds_in_its_own_target_dir(crate: Path, tmp_path: Path) -> None:
    other = "/usr/bin/pypy3"
    if not os.path.exists(other):
        pytest.skip("pypy3 not installed")
    pinned = pin_pyo3_config(
        [sys.executable, other], manifest_path=crate / "Cargo.toml", pyo3_version="0.23.5"
    )
    primary, pypy = pinned.interpreters
    assert primary.target_dir is None
    assert pypy.target_dir == crate / "target" / "pyo3-cache" / "targets" / pypy.abi_key
    env = {"PATH": os.environ["PATH"], "PYO3_CACHE_PIN": str(pinned.state_file)}
    changes, account = plan_cargo_call(["build"], {**env, "PYO3_PYTHON": other}, crate)
    assert changes["CARGO_TARGET_DIR"] == str(pypy.target_dir)
    assert "PyPy 3.9" in account
    # Somewhere else (another project), the call is pinned but never moved.
    elsewhere = tmp_path / "other-project"
    elsewhere.mkdir()
    changes, _ = plan_cargo_call(["build"], {**env, "PYO3_PYTHON": other}, elsewhere)
    assert "CARGO_TARGET_DIR" not in changes and "PYO3_CONFIG_FILE" in changes
    # An explicit --target-dir is the user's choice.
    changes, _ = plan_cargo_call(
        ["build", "--target-dir", "t2"], {**env, "PYO3_PYTHON": other}, crate
    )
    assert "CARGO_TARGET_DIR" not in changes


def test_plain_cargo_uses_the_active_venv_else_the_primary(crate: Path, venv: Path) -> None:
    pinned = pin_pyo3_config(sys.executable, manifest_path=crate / "Cargo.toml")
    env = {"PATH": os.environ["PATH"], "PYO3_CACHE_PIN": str(pinned.state_file)}
    plain, _ = plan_cargo_call(["test"], env, crate)
    assert plain["PYO3_PYTHON"] == pinned.pyo3_python  # our stable shim
    # A plain cargo call may link libpython (a test binary): lib_dir stays there.
    linking = Path(plain["PYO3_CONFIG_FILE"]).read_text()
    assert "lib_dir=" in linking and "lib_dir=" not in pinned.config_file.read_text()
    in_venv, _ = plan_cargo_call(["test"], {**env, "VIRTUAL_ENV": str(venv)}, crate)
    assert in_venv["PYO3_CONFIG_FILE"] == plain["PYO3_CONFIG_FILE"]  # same ABI, same file
    shim = Path(pinned.pyo3_python)
    out = subprocess.run([str(shim), "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    assert out.stdout.strip() == str(tuple(sys.version_info[:2]))


def test_state_file_round_trips(crate: Path) -> None:
    pinned = pin_pyo3_config(sys.executable, manifest_path=crate / "Cargo.toml")
    assert pinned.state_file is not None
    state = read_state(pinned.state_file)
    assert state.primary_key == pinned.interpreters[0].abi_key
    assert state.target_dir == crate / "target"
    assert state.workspace_root == crate
