"""`pin` on the real example crate: warm PEP 517 rebuilds compile nothing.

Each test starts from the session's warm target dir (see conftest.py).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import (
    BIN,
    Build,
    WarmExample,
    run_build,
    tool_env,
    uv_build,
    uv_pip_install,
    venv_prints,
)

PYO3_CHAIN = {"pyo3-ffi", "pyo3", "hello-pyo3"}


def _pin(project: Path) -> dict[str, str]:
    """The JSON's ``env`` as it is, which a user sets: PYO3_CACHE_PIN, and PATH
    (the build tools' PATH, pin's own) with the cargo wrapper first."""
    wrapper_dir = project.parent / "wrapper"
    result = run_cli(
        "pin",
        "--manifest-path",
        str(project / "Cargo.toml"),
        "--wrapper-dir",
        str(wrapper_dir),
        "--format",
        "json",
        env=tool_env(),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert not any(name.startswith("PYO3_") and "CACHE" not in name for name in data["env"])
    assert data["env"]["PATH"] == os.pathsep.join([data["wrapper_dir"], tool_env()["PATH"]])
    return dict(data["env"])


def _names(compiled: list[str]) -> set[str]:
    return {c.split()[0] for c in compiled}


def _wheel_tag(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        tags = [
            ln.split(":", 1)[1].strip()
            for ln in zf.read(meta).decode().splitlines()
            if ln.startswith("Tag:")
        ]
    return ",".join(tags)


def test_warm_uv_build_without_pin_recompiles_pyo3_chain(warm_example: WarmExample) -> None:
    build = uv_build(warm_example.path, tool_env(), warm_example.dist)
    assert build.returncode == 0, build.output[-3000:]
    assert "Dirty pyo3-ffi v0.30.1: the env variable PYO3_PYTHON changed" in build.output
    assert _names(build.compiled) >= PYO3_CHAIN


def test_warm_uv_build_with_pin_compiles_nothing(warm_example: WarmExample) -> None:
    env = tool_env(**_pin(warm_example.path))
    first = uv_build(warm_example.path, env, warm_example.dist)
    assert first.returncode == 0, first.output[-3000:]
    unpinned_wheel = sorted(warm_example.dist.glob("*.whl"))
    second = uv_build(warm_example.path, env, warm_example.dist)
    assert second.returncode == 0, second.output[-3000:]
    assert second.compiled == [], second.output[-3000:]
    assert second.dirty == []
    wheels = sorted(warm_example.dist.glob("*.whl"))
    assert len(wheels) == 1 and unpinned_wheel == wheels
    assert _wheel_tag(wheels[0]).startswith(f"cp3{sys.version_info[1]}-cp3{sys.version_info[1]}-")


def test_pinned_wheel_has_unpinned_tag_and_imports(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    plain = uv_build(warm_example.path, tool_env(), tmp_path / "plain")
    assert plain.returncode == 0
    pinned = uv_build(warm_example.path, tool_env(**_pin(warm_example.path)), tmp_path / "pinned")
    assert pinned.returncode == 0
    (plain_whl,) = (tmp_path / "plain").glob("*.whl")
    (pinned_whl,) = (tmp_path / "pinned").glob("*.whl")
    assert plain_whl.name == pinned_whl.name
    assert _wheel_tag(plain_whl) == _wheel_tag(pinned_whl)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    uv_pip_install(venv, pinned_whl)
    out = venv_prints(
        venv, "import hello_pyo3; print(hello_pyo3.greet('pin'), hello_pyo3.checked_sum([1, 2]))"
    )
    assert out.strip() == "Hello, pin! 3"


def _pinned_twice(cmd: list[str], project: Path) -> Build:
    """Run ``cmd`` twice with the pin on; the second build must compile nothing."""
    env = tool_env(CARGO_TERM_VERBOSE="true", **_pin(project))
    first = run_build(cmd, project, env)
    assert first.returncode == 0, first.output[-3000:]
    second = run_build(cmd, project, env)
    assert second.returncode == 0, second.output[-3000:]
    assert second.compiled == [], second.output[-3000:]
    return second


@pytest.mark.parametrize("frontend", ["pip", "maturin"])
def test_warm_rebuild_with_pin_compiles_nothing_for_other_frontends(
    warm_example: WarmExample, frontend: str
) -> None:
    if frontend == "pip":
        if importlib.util.find_spec("pip") is None:
            pytest.skip("pip is not installed in this venv")
        cmd = [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-v",
            "-w",
            str(warm_example.dist),
            ".",
        ]
    else:
        cmd = [str(BIN / "maturin"), "build", "--release", "-o", str(warm_example.dist)]
    second = _pinned_twice(cmd, warm_example.path)
    assert "Finished" in second.output


def test_abi3_crate_still_gets_abi3_wheel_with_pin(warm_example: WarmExample) -> None:
    manifest = warm_example.path / "Cargo.toml"
    text = manifest.read_text()
    manifest.write_text(
        text.replace(
            'features = ["extension-module"]', 'features = ["extension-module", "abi3-py39"]'
        )
    )
    env = tool_env(**_pin(warm_example.path))
    first = uv_build(warm_example.path, env, warm_example.dist)
    assert first.returncode == 0, first.output[-3000:]
    second = uv_build(warm_example.path, env, warm_example.dist)
    assert second.compiled == [], second.output[-3000:]
    (wheel,) = warm_example.dist.glob("*.whl")
    assert "-cp39-abi3-" in wheel.name
    assert _wheel_tag(wheel).startswith("cp39-abi3-")


def test_an_explicit_host_target_is_pinned_and_rebuilds_warm(warm_example: WarmExample) -> None:
    """`maturin build --target <host triple>` (as maturin-action passes it): still pinned.

    Only a target other than the host passes through untouched (a cross build
    reads its own PYO3_CROSS_* settings, tests/pin/test_route.py).
    """
    rustc = subprocess.run(["rustc", "-vV"], capture_output=True, text=True, check=True)
    host = next(
        ln.split(":", 1)[1].strip() for ln in rustc.stdout.splitlines() if ln.startswith("host:")
    )
    cmd = [
        str(BIN / "maturin"),
        "build",
        "--release",
        "--target",
        host,
        "-o",
        str(warm_example.dist),
    ]
    _pinned_twice(cmd, warm_example.path)
    (wheel,) = warm_example.dist.glob("*.whl")
    assert _wheel_tag(wheel).startswith(f"cp3{sys.version_info[1]}-cp3{sys.version_info[1]}-")
