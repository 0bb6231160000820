"""The cache key with the real toolchain, real interpreters and real pinned PyO3 configs.

No build is needed for a key, so these tests do not use the warm example:
they copy the project files only.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pyo3_cache.errors import InterpreterError
from pyo3_cache.pin.interpreter import probe_interpreter
from tests.conftest import EXAMPLE, REPO, run_cli
from tests.integration.conftest import tool_env

pytestmark = pytest.mark.integration

PYDANTIC = REPO / "tests" / "fixtures" / "lockfiles" / "pydantic-core"


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target", "dist", "__pycache__"))
    return dst


def _key(project: Path, *extra: str, **env: str) -> dict:
    result = run_cli(
        "key",
        "--manifest-path",
        str(project),
        "--python",
        sys.executable,
        "--format",
        "json",
        *extra,
        env=tool_env(**env),
    )
    assert result.returncode == 0, result.stderr
    data: dict = json.loads(result.stdout)
    return data


def _interpreter(minor: str) -> str | None:
    """A real CPython of ``minor`` on this machine, if there is one."""
    home = os.path.expanduser("~")
    candidates = [shutil.which(f"python{minor}") or ""]
    candidates += sorted(glob.glob(f"{home}/.pyenv/versions/{minor}.*/bin/python{minor}"))
    candidates += [f"/usr/bin/python{minor}", f"/usr/local/bin/python{minor}"]
    for candidate in candidates:
        if not candidate or not os.path.exists(candidate):
            continue
        try:
            info = probe_interpreter(candidate)
        except InterpreterError:
            continue
        if info.minor_version == minor and info.implementation == "CPython":
            return candidate
    return None


@pytest.mark.parametrize("source", [EXAMPLE, PYDANTIC], ids=["hello-pyo3", "pydantic-core"])
def test_real_toolchain_key_is_stable_across_runs_and_copies(source: Path, tmp_path: Path) -> None:
    a = _copy(source, tmp_path / "one" / source.name)
    b = _copy(source, tmp_path / "two" / "nested" / source.name)
    first, second, other = _key(a), _key(a), _key(b)
    assert first == second == other
    toolchain = first["parts"]["toolchain"]["inputs"]
    assert toolchain["rustc"].count(".") == 2 and toolchain["host"]
    assert str(tmp_path) not in json.dumps(first)


def test_fake_rustc_first_on_path_changes_only_the_toolchain_part(tmp_path: Path) -> None:
    project = _copy(EXAMPLE, tmp_path / "hello-pyo3")
    real = _key(project)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    fake = bindir / "rustc"
    fake.write_text(
        "#!/bin/sh\nprintf '%s\\n' 'rustc 1.80.0 (051478957 2024-07-21)' 'binary: rustc'"
        " 'commit-hash: 051478957371ee0084a7c0913941d2a8c4757bb9' 'commit-date: 2024-07-21'"
        " 'host: x86_64-unknown-linux-gnu' 'release: 1.80.0' 'LLVM version: 18.1.7'\n"
    )
    fake.chmod(0o755)
    env = tool_env()
    faked = _key(project, PATH=f"{bindir}{os.pathsep}{env['PATH']}")
    changed = [n for n in real["parts"] if real["parts"][n] != faked["parts"][n]]
    assert changed == ["toolchain"]
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    old.write_text(json.dumps(faked))
    new.write_text(json.dumps(real))
    report = run_cli("key-diff", str(old), str(new))
    assert f"rustc 1.80.0 → {real['parts']['toolchain']['inputs']['rustc']}" in report.stdout


def test_pinned_configs_of_two_pythons_show_as_a_python_change(tmp_path: Path) -> None:
    older, newer = _interpreter("3.12"), _interpreter("3.13")
    if older is None or newer is None:
        pytest.skip("needs CPython 3.12 and 3.13 on this machine")
    project = _copy(EXAMPLE, tmp_path / "hello-pyo3")
    manifests = []
    for python in (older, newer):
        pin = run_cli(
            "pin",
            "--python",
            python,
            "--manifest-path",
            str(project),
            "--dir",
            str(tmp_path / "pinned"),
            "--format",
            "json",
            env=tool_env(),
        )
        assert pin.returncode == 0, pin.stderr
        config = json.loads(pin.stdout)["config_file"]
        out = tmp_path / f"manifest-{len(manifests)}.json"
        result = run_cli(
            "key",
            "--manifest-path",
            str(project),
            "--manifest-out",
            str(out),
            env=tool_env(PYO3_CONFIG_FILE=config, PYO3_PYTHON=python),
        )
        assert result.returncode == 0, result.stderr
        manifests.append(out)
    report = run_cli("key-diff", *map(str, manifests))
    assert report.returncode == 0
    assert "  python: 3.12 → 3.13 (with it " in report.stdout
    assert "env: PYO3_CONFIG_FILE changed" in report.stdout
    assert "PYO3_PYTHON changed" in report.stdout
    assert str(tmp_path) not in manifests[0].read_text()
