"""One warm build of examples/hello-pyo3, shared by every integration test.

The warm tree is built once per session at a fixed "checkout" path, then moved
aside; each test gets a fresh copy at that same path (as a CI runner reuses its
checkout path), so cargo sees the paths it built with and the target dir is warm.
Copies keep mtimes to the nanosecond (shutil.copy2), which cargo's freshness needs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE, REPO

sys.path.insert(0, str(REPO / "bench"))
# The clean build environment the benchmarks build in, the venv's uv and maturin first on PATH.
from _common import BIN, tool_env

pytestmark = pytest.mark.integration

__all__ = ["BIN", "tool_env"]


@dataclass
class Build:
    returncode: int
    output: str

    @property
    def compiled(self) -> list[str]:
        """Crates cargo compiled, as `name vX.Y.Z`."""
        out = []
        for line in self.output.splitlines():
            text = line.strip()
            if text.startswith("Compiling "):
                out.append(" ".join(text.split()[1:3]))
        return out

    @property
    def dirty(self) -> list[str]:
        return [ln.strip() for ln in self.output.splitlines() if ln.strip().startswith("Dirty ")]


def run_build(cmd: list[str], cwd: Path, env: dict[str, str], timeout: float = 900) -> Build:
    proc = subprocess.run(
        cmd,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    return Build(proc.returncode, proc.stdout)


def uv_build(project: Path, env: dict[str, str], out: Path) -> Build:
    return run_build(
        [str(BIN / "uv"), "build", "--wheel", "--out-dir", str(out)],
        project,
        dict(env, CARGO_TERM_VERBOSE="true"),
    )


def uv_venv(venv: Path, env: dict[str, str]) -> Path:
    """A new venv at ``venv`` for this interpreter, made by uv."""
    subprocess.run(
        [str(BIN / "uv"), "venv", "--quiet", "--python", sys.executable, str(venv)],
        env=env,
        check=True,
        capture_output=True,
    )
    return venv


def uv_pip_install(venv: Path, wheel: Path, *flags: str, env: dict[str, str] | None = None) -> None:
    """``uv pip install FLAGS WHEEL`` into ``venv``; a failure fails the test with uv's stderr."""
    python = str(venv / "bin" / "python")
    done = subprocess.run(
        [str(BIN / "uv"), "pip", "install", *flags, "--python", python, str(wheel)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def venv_prints(venv: Path, code: str, cwd: Path | None = None) -> str:
    """What ``python -c CODE`` prints in ``venv``; a failure fails the test with its stderr."""
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, text=True, cwd=cwd
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class WarmExample:
    """A fresh copy of the warm example at the session's fixed checkout path."""

    path: Path
    dist: Path
    session_dir: Path
    notes: dict[str, str] = field(default_factory=dict)


def _copy_tree(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst, symlinks=True, copy_function=shutil.copy2)


@pytest.fixture(scope="session")
def warm_example_base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Build the example once (uv build: release profile as maturin uses; cargo build: dev)."""
    session = tmp_path_factory.mktemp("hello")
    checkout = session / "job" / "hello-pyo3"
    checkout.parent.mkdir()
    shutil.copytree(EXAMPLE, checkout, ignore=shutil.ignore_patterns("target", "dist", "*.whl"))
    env = tool_env()
    built = uv_build(checkout, env, session / "dist0")
    assert built.returncode == 0, built.output[-4000:]
    dev = run_build(["cargo", "build", "-v"], checkout, env)
    assert dev.returncode == 0, dev.output[-4000:]
    warm = session / "warm"
    shutil.move(str(checkout), str(warm))
    return warm, checkout


@pytest.fixture
def warm_example(warm_example_base: tuple[Path, Path], tmp_path: Path) -> WarmExample:
    warm, checkout = warm_example_base
    _copy_tree(warm, checkout)
    return WarmExample(path=checkout, dist=tmp_path / "dist", session_dir=checkout.parent.parent)
