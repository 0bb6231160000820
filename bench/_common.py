"""Shared plumbing for the benchmarks and the demo: copy the example, run builds, read cargo.

Everything runs real tools (cargo, uv, maturin) from the project's venv; numbers
come from cargo's own output (``Compiling`` lines, ``Finished ... in X.XXs``).
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "hello-pyo3"
BIN = Path(sys.executable).parent

_FINISHED = re.compile(r"Finished .* in (?:(\d+)m )?([0-9.]+)s")
_VOLATILE = (
    "PYO3_CONFIG_FILE",
    "PYO3_PYTHON",
    "VIRTUAL_ENV",
    "CARGO_TARGET_DIR",
    "CARGO_TERM_VERBOSE",
    "CARGO_LOG",
    "RUSTFLAGS",
    "CONDA_PREFIX",
    "PYO3_CACHE_PIN",
    "PYO3_CACHE_CARGO_LOG",
)


@dataclass
class BuildRun:
    """One build: what cargo compiled, how long cargo said it took, the wall time."""

    returncode: int
    output: str
    wall_s: float

    @property
    def compiled(self) -> list[str]:
        return [
            " ".join(ln.split()[1:3])
            for ln in self.output.splitlines()
            if ln.strip().startswith("Compiling ")
        ]

    @property
    def dirty(self) -> list[str]:
        return [ln.strip() for ln in self.output.splitlines() if ln.strip().startswith("Dirty ")]

    @property
    def cargo_s(self) -> float:
        """Sum of cargo's own ``Finished ... in`` times (one per cargo invocation)."""
        total = 0.0
        for match in _FINISHED.finditer(self.output):
            total += int(match.group(1) or 0) * 60 + float(match.group(2))
        return total

    def check(self) -> BuildRun:
        if self.returncode != 0:
            raise SystemExit(f"build failed ({self.returncode}):\n{self.output[-4000:]}")
        return self


def tool_env(**extra: str) -> dict[str, str]:
    """A clean build environment with the venv's uv/maturin first on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in _VOLATILE}
    env["PATH"] = str(BIN) + os.pathsep + env.get("PATH", "")
    env["CARGO_TERM_COLOR"] = "never"
    env.update(extra)
    return env


def run(cmd: list[str], cwd: Path, env: dict[str, str]) -> BuildRun:
    start = time.perf_counter()
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    return BuildRun(proc.returncode, proc.stdout, time.perf_counter() - start)


def uv_build(project: Path, env: dict[str, str], out: Path) -> BuildRun:
    cmd = [str(BIN / "uv"), "build", "--wheel", "--out-dir", str(out)]
    return run(cmd, project, dict(env, CARGO_TERM_VERBOSE="true")).check()


def fresh_copy(dst: Path, copy: Any = shutil.copy2) -> Path:
    """A copy of the example without build output, at ``dst``.

    ``copy=shutil.copy`` gives the files new mtimes, as a fresh git checkout does.
    """
    if dst.exists():
        shutil.rmtree(dst)
    ignore = shutil.ignore_patterns("target", "dist", "*.whl", "__pycache__")
    shutil.copytree(EXAMPLE, dst, ignore=ignore, copy_function=copy)
    return dst


def pyo3_cache(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> str:
    """Run our CLI and return its stdout (fails loudly)."""
    proc = subprocess.run(
        [sys.executable, "-m", "pyo3_cache", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        raise SystemExit(f"pyo3-cache {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def tool_versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        try:
            return subprocess.run(cmd, capture_output=True, text=True).stdout.splitlines()[0]
        except (OSError, IndexError):
            return "unavailable"

    return {
        "machine": f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores",
        "python": platform.python_version(),
        "cargo": first_line(["cargo", "--version"]),
        "uv": first_line([str(BIN / "uv"), "--version"]),
        "maturin": first_line([str(BIN / "maturin"), "--version"]),
    }


def ratio(a: float, b: float) -> str:
    return "n/a" if b == 0 else f"{a / b:.3f}"
