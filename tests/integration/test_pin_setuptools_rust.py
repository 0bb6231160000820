"""setuptools-rust, a build shape of its own: the pin keeps its PEP 517 rebuilds warm.

setuptools-rust (1.13, ``build.py``) sets ``PYO3_PYTHON`` to the real path of
``sys._base_executable``: the base interpreter of the PEP 517 temp env, not
the env itself, so unlike maturin it stays warm without help. The pin must
keep it so (the cargo wrapper takes the interpreter from that PYO3_PYTHON)
and give the same right wheel. A real ``pip wheel .`` (isolated, setuptools
and setuptools-rust from PyPI) of the example crate, laid out for
setuptools-rust.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.conftest import WarmExample, run_build, tool_env
from tests.integration.test_pin_builds import PYO3_CHAIN, _names, _pin

PYPROJECT = """\
[build-system]
requires = ["setuptools>=70", "setuptools-rust>=1.9"]
build-backend = "setuptools.build_meta"

[project]
name = "hello-pyo3"
version = "0.1.0"
requires-python = ">=3.9"

[tool.setuptools.packages.find]
where = ["python"]

[[tool.setuptools-rust.ext-modules]]
target = "hello_pyo3._hello_pyo3"
path = "Cargo.toml"
binding = "PyO3"
"""

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pip") is None, reason="pip is not installed in this venv"
)


def _as_setuptools_rust(project: Path) -> None:
    (project / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")


def _wheel(project: Path, out: Path, env: dict[str, str]):
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(out), "."]
    return run_build(cmd, project, dict(env, CARGO_TERM_VERBOSE="true"))


def test_setuptools_rust_stays_warm_with_the_pin_and_its_wheel_imports(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    project = warm_example.path
    _as_setuptools_rust(project)
    plain = tool_env()
    first = _wheel(project, tmp_path / "a", plain)
    assert first.returncode == 0, first.output[-3000:]
    # setuptools-rust hands PyO3 the base interpreter: already warm unpinned
    again = _wheel(project, tmp_path / "b", plain)
    assert again.returncode == 0, again.output[-3000:]
    assert again.compiled == [], again.output[-3000:]
    assert "Fresh pyo3 v" in again.output

    pinned = tool_env(**_pin(project))
    warm = _wheel(project, tmp_path / "c", pinned)
    assert warm.returncode == 0, warm.output[-3000:]
    # the wrapper gave this call the pinned config (written on its first use)
    assert list((project / "target" / "pyo3-cache").glob("pyo3-config-*.txt")), warm.output[-3000:]
    # switching the pin on costs the PyO3 chain once, never more
    assert _names(warm.compiled) <= PYO3_CHAIN | {
        "pyo3-build-config",
        "pyo3-macros-backend",
        "pyo3-macros",
    }, warm.compiled
    rebuild = _wheel(project, tmp_path / "d", pinned)
    assert rebuild.returncode == 0, rebuild.output[-3000:]
    assert rebuild.compiled == [], rebuild.output[-3000:]

    (wheel,) = (tmp_path / "d").glob("*.whl")
    assert f"-cp3{sys.version_info[1]}-cp3{sys.version_info[1]}-" in wheel.name
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    uv = shutil.which("uv", path=str(Path(sys.executable).parent))
    assert uv
    subprocess.run(
        [uv, "pip", "install", "--python", str(venv / "bin" / "python"), str(wheel)],
        check=True,
        capture_output=True,
    )
    out = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import hello_pyo3; print(hello_pyo3.greet('st'))"],
        check=True,
        capture_output=True,
        text=True,
    )
    assert out.stdout.strip() == "Hello, st!"
