"""Our pure-Python config equals what PyO3's own build script prints.

For each interpreter on this machine, run the example's build with
``PYO3_PRINT_CONFIG=1`` (PyO3 prints its resolved config and stops the build on
purpose) and compare with ``pyo3-cache pin`` for the same interpreter.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyo3_cache.pin.interpreter import probe_interpreter
from pyo3_cache.pin.pyo3_config import pyo3_line, resolve_pyo3_config
from tests.conftest import run_cli
from tests.integration.conftest import WarmExample, run_build, tool_env

MATURIN_EXTRAS = {"ext_suffix", "abiflags"}


def _interpreters() -> list[pytest.param]:
    found = [pytest.param(sys.executable, id="venv-cpython")]
    for name, ident in (("/usr/bin/python3", "debian-python3"), ("pypy3", "pypy3")):
        path = shutil.which(name)
        marks = [] if path else [pytest.mark.skip(reason=f"{name} not installed")]
        found.append(pytest.param(path or name, id=ident, marks=marks))
    return found


def _printed_config(output: str) -> dict[str, str]:
    lines = output.splitlines()
    start = next(i for i, ln in enumerate(lines) if "PYO3_PRINT_CONFIG=1 is set" in ln)
    config: dict[str, str] = {}
    for line in lines[start + 1 :]:
        text = line.strip()
        if text.startswith("note:"):
            break
        if "=" in text:
            key, value = text.split("=", 1)
            config[key] = value
    return config


def _as_set(flags: str) -> set[str]:
    return {f for f in flags.split(",") if f}


@pytest.mark.parametrize("python", _interpreters())
def test_pin_matches_pyo3_print_config(
    warm_example: WarmExample, python: str, tmp_path: Path
) -> None:
    printed = run_build(
        ["cargo", "build"], warm_example.path, tool_env(PYO3_PYTHON=python, PYO3_PRINT_CONFIG="1")
    )
    assert printed.returncode != 0  # PyO3 halts the build on purpose
    theirs = _printed_config(printed.output)
    assert theirs, printed.output[-3000:]

    pin_args = ["pin", "--python", python, "--dir", str(tmp_path), "--format", "json"]
    pin_args += ["--manifest-path", str(warm_example.path / "Cargo.toml")]
    info = probe_interpreter(python)
    if info.implementation == "PyPy" and info.version[:2] < pyo3_line("0.30.1").min_pypy:
        # PyO3 0.30 refuses PyPy < 3.11 at build time (and `pin` refuses it up
        # front), but PYO3_PRINT_CONFIG prints before that check: compare the
        # resolution itself for such interpreters.
        refused = run_cli(*pin_args)
        assert refused.returncode == 3, refused.stderr
        assert "older than PyO3 0.30.1 supports" in refused.stderr
        ours = resolve_pyo3_config(info, pyo3_line("0.30.1")).as_dict()
    else:
        pinned = run_cli(*pin_args)
        assert pinned.returncode == 0, pinned.stderr
        written = json.loads(pinned.stdout)["config"]
        ours = resolve_pyo3_config(info, pyo3_line("0.30.1")).as_dict()
        # The pinned file is the resolution with two stable stand-ins: a shim of
        # ours as `executable` (runs this interpreter's base) and no `lib_dir`
        # where nothing links libpython (Linux/macOS extension modules).
        shim = written.pop("executable")
        assert "lib_dir" not in written
        assert written == {k: v for k, v in ours.items() if k not in ("executable", "lib_dir")}
        ran = subprocess.run(
            [shim, "-c", "import sys; print(sys.implementation.name, sys.version_info[:2])"],
            capture_output=True,
            text=True,
            check=True,
        )
        assert ran.stdout.split()[0] == info.implementation.lower()
    assert ours.keys() >= MATURIN_EXTRAS
    ours_pyo3 = {k: v for k, v in ours.items() if k not in MATURIN_EXTRAS}
    # build_flags is a set in PyO3 (its printed order varies between runs).
    assert _as_set(ours_pyo3.pop("build_flags")) == _as_set(theirs.pop("build_flags"))
    assert ours_pyo3 == theirs
