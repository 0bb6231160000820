"""The tool venv on a fresh runner: found, restored from the Actions cache, or made.

Runs the action's own scripts as its steps do (``scripts/tool-ident.sh``,
``scripts/install.sh``, ``scripts/tool.sh tool-venv``) with this venv's
interpreter and uv; "restored" is a copy of a venv another job made, put where
actions/cache/restore puts it (the same folder), as on a GitHub-hosted runner.

On Python 3.11+ with the zstd command on PATH the tool needs no package and
the venv is bare; the tests of a venv with packages ask for the zstandard
module (PYO3_CACHE_ZSTD=module), as a runner without the zstd command would.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.action_runner import parse_command_file
from tests.conftest import REPO


@dataclass
class Step:
    returncode: int
    log: str
    outputs: dict[str, str]


def _step(script: str, runner: Path, *args: str, **env: str) -> Step:
    out = runner / "output"
    out.write_text("")
    host = {k: v for k, v in os.environ.items() if not k.startswith(("PYO3_", "VIRTUAL_ENV"))}
    full = {
        **host,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        "GITHUB_ACTION_PATH": str(REPO),
        "GITHUB_OUTPUT": str(out),
        "GITHUB_ENV": str(runner / "env"),
        "INPUT_PYTHON": sys.executable,
        "PYO3_CACHE_TEMP": str(runner / "temp"),
        "PYO3_CACHE_TOOL_CACHE": str(runner / "tool_cache"),
        "PYO3_CACHE_ZSTD": "module",
        **env,
    }
    proc = subprocess.run(
        ["bash", str(REPO / "scripts" / script), *args],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    return Step(proc.returncode, proc.stdout, parse_command_file(out))


def _install(runner: Path, **env: str) -> tuple[Step, Step]:
    """The action's first two steps of ours: which venv, then the install."""
    found = _step("tool-ident.sh", runner, **env)
    assert found.returncode == 0, found.log
    installed = _step(
        "install.sh",
        runner,
        TOOL_IDENT=found.outputs["ident"],
        TOOL_NEEDS=found.outputs.get("needs", ""),
        TOOL_PRESENT=found.outputs["present"],
        **env,
    )
    return found, installed


@pytest.mark.skipif(
    sys.version_info < (3, 11) or shutil.which("zstd") is None, reason="needs 3.11+ and zstd"
)
def test_with_zstd_on_311_the_venv_is_bare_made_at_once_and_never_cached(tmp_path: Path) -> None:
    found, installed = _install(tmp_path, PYO3_CACHE_ZSTD="")
    assert found.outputs["bare"] == "true" and found.outputs["needs"] == ""
    assert "-bare-" in found.outputs["ident"]
    assert installed.returncode == 0, installed.log
    assert "a bare venv" in installed.log and "(venv made)" in installed.log
    assert "pyo3-cache: installing " not in installed.log
    venv = Path(found.outputs["venv"])
    site = venv / (venv / ".site").read_text().strip()
    assert sorted(p.name for p in site.iterdir()) == ["pyo3_cache_checkout.pth"]
    # not worth an Actions cache entry: quicker to make than to restore
    assert _step("tool.sh", tmp_path, "tool-venv", PYO3_CACHE_ZSTD="").outputs == {}
    ran = _step("tool.sh", tmp_path, "--version", PYO3_CACHE_ZSTD="")
    assert ran.returncode == 0 and "skipped this step" not in ran.log, ran.log
    again, kept = _install(tmp_path, PYO3_CACHE_ZSTD="")
    assert again.outputs["present"] == "true" and "(venv kept)" in kept.log


def test_a_first_step_pair_that_disagrees_is_computed_again(tmp_path: Path) -> None:
    """A packaged ident with no package list (or the reverse) never makes a bare venv."""
    found = _step("tool-ident.sh", tmp_path)
    assert found.outputs["bare"] == "false" and "zstandard" in found.outputs["needs"]
    installed = _step("install.sh", tmp_path, TOOL_IDENT=found.outputs["ident"], TOOL_NEEDS="")
    assert installed.returncode == 0, installed.log
    assert "pyo3-cache: installing " in installed.log and "zstandard" in installed.log


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runner whose job made the venv (a cache miss)."""
    runner = tmp_path_factory.mktemp("made")
    found, installed = _install(runner)
    assert found.outputs["present"] == "false"
    assert installed.returncode == 0, installed.log
    assert "(venv made)" in installed.log and "pyo3-cache: installing " in installed.log
    return runner


def _fresh_runner_with_restored_venv(made: Path, tmp_path: Path) -> Path:
    found = _step("tool-ident.sh", made)
    venv = Path(found.outputs["venv"])
    runner = tmp_path / "runner"
    target = runner / "tool_cache" / venv.relative_to(made / "tool_cache")
    shutil.copytree(venv, target, symlinks=True)
    return runner


def test_a_made_venv_is_saved_once_and_then_kept(tmp_path: Path) -> None:
    made = tmp_path
    _, installed = _install(made)
    assert "(venv made)" in installed.log, installed.log
    asked = _step("tool.sh", made, "tool-venv")
    assert asked.returncode == 0, asked.log
    ident = _step("tool-ident.sh", made).outputs["ident"]
    assert asked.outputs == {
        "save": "true",
        "path": str(made / "tool_cache" / "pyo3-cache" / ident),
        "ident": ident,
    }
    # the next job on this runner finds it: nothing to restore, nothing to save
    found, installed = _install(made)
    assert found.outputs["present"] == "true"
    assert "(venv kept)" in installed.log, installed.log
    assert _step("tool.sh", made, "tool-venv").outputs == {}


def test_a_restored_venv_is_used_without_installing(made: Path, tmp_path: Path) -> None:
    runner = _fresh_runner_with_restored_venv(made, tmp_path)
    # the first step ran before the restore: the venv was not there
    found = _step("tool-ident.sh", made)
    installed = _step("install.sh", runner, TOOL_IDENT=found.outputs["ident"], TOOL_PRESENT="false")
    assert installed.returncode == 0, installed.log
    assert "(venv restored)" in installed.log, installed.log
    assert "pyo3-cache: installing " not in installed.log
    # tool.sh accepts it (inside the tool cache, complete) and it is not saved again
    assert _step("tool.sh", runner, "tool-venv").outputs == {}
    ran = _step("tool.sh", runner, "--help")
    assert ran.returncode == 0 and "skipped this step" not in ran.log, ran.log


def test_a_restored_venv_that_does_not_load_is_made_again(made: Path, tmp_path: Path) -> None:
    runner = _fresh_runner_with_restored_venv(made, tmp_path)
    found = _step("tool-ident.sh", made)
    venv = runner / "tool_cache" / "pyo3-cache" / found.outputs["ident"]
    for broken in venv.rglob("zstandard"):
        shutil.rmtree(broken)
    installed = _step("install.sh", runner, TOOL_IDENT=found.outputs["ident"], TOOL_PRESENT="false")
    assert installed.returncode == 0, installed.log
    assert "the tool venv restored from the cache does not run; making it again" in installed.log
    assert "(venv made)" in installed.log
    assert _step("tool.sh", runner, "tool-venv").outputs["save"] == "true"


def test_no_python_gives_no_ident_and_the_install_step_says_why(tmp_path: Path) -> None:
    missing = str(tmp_path / "no" / "python3")
    found = _step("tool-ident.sh", tmp_path, INPUT_PYTHON=missing)
    assert found.returncode == 0 and found.outputs == {}
    installed = _step("install.sh", tmp_path, INPUT_PYTHON=missing)
    assert installed.returncode == 1
    assert "no Python 3.9+ found (set the python input)" in installed.log


def test_a_forged_ident_is_not_used_as_a_path(made: Path) -> None:
    installed = _step("install.sh", made, TOOL_IDENT="../../evil", TOOL_PRESENT="true")
    assert installed.returncode == 0, installed.log
    ident = _step("tool-ident.sh", made).outputs["ident"]
    assert (made / "temp" / "pyo3-cache" / "tool").read_text().strip().endswith("/" + ident)


def test_the_tool_runs_on_the_python_inputs_first_line(made: Path) -> None:
    one = _step("tool-ident.sh", made)
    several = _step(
        "tool-ident.sh", made, INPUT_PYTHON=f"  {sys.executable}\n/nonexistent/python3\n"
    )
    assert several.returncode == 0, several.log
    assert several.outputs == one.outputs and one.outputs["present"] == "true"
