"""`pyo3-cache pin` as a user runs it: outputs, GitHub files, and bad input."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import CliResult, assert_one_line_error, run_cli


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in root.rglob("*")}


def test_shell_format_prints_export_lines_that_eval(crate: Path) -> None:
    result = run_cli("pin", "--python", sys.executable, cwd=crate)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    # Nothing of PyO3's own: an exported PYO3_CONFIG_FILE would make maturin
    # build for that one interpreter whatever -i says (issue 16).
    assert [ln.split("=", 1)[0] for ln in lines] == ["export PYO3_CACHE_PIN", "export PATH"]
    state = Path(lines[0].split("=", 1)[1].strip("'"))
    assert state == crate / "target" / "pyo3-cache" / "pin.json"
    configs = list(state.parent.glob("pyo3-config-*.txt"))
    assert len(configs) == 1 and configs[0].read_text().startswith("implementation=CPython\n")
    shell = subprocess.run(
        ["sh", "-c", result.stdout + 'command -v cargo; echo "$PYO3_CACHE_PIN"'],
        capture_output=True,
        text=True,
        check=True,
    )
    wrapper, pin = shell.stdout.splitlines()
    assert Path(wrapper).read_text().splitlines()[1].startswith("# pyo3-cache cargo wrapper")
    assert pin == str(state)


def test_json_format_has_config_file_python_and_env(crate: Path) -> None:
    result = run_cli("pin", "--python", sys.executable, "--format", "json", cwd=crate)
    data = json.loads(result.stdout)
    assert data["pyo3_version"] == "0.30.1"
    # Complete: setting env alone switches the pin on (the wrapper first on PATH).
    assert set(data["env"]) == {"PYO3_CACHE_PIN", "PATH"}
    assert data["env"]["PYO3_CACHE_PIN"] == data["state_file"]
    first, *rest = data["env"]["PATH"].split(os.pathsep)
    assert first == data["wrapper_dir"]
    assert rest == [p for p in os.environ["PATH"].split(os.pathsep) if p != first]
    assert (Path(first) / "cargo").read_text().splitlines()[1].startswith("# pyo3-cache cargo")
    assert Path(data["config_file"]).read_text().startswith("implementation=CPython\n")
    # The config names our stable shim, not the interpreter's moving path.
    assert data["config"]["executable"] == data["pyo3_python"]
    assert Path(data["pyo3_python"]).parent == Path(data["config_file"]).parent
    assert [p["config_file"] for p in data["interpreters"]] == [data["config_file"]]
    assert data["interpreters"][0]["target_dir"] is None


def test_pin_twice_is_byte_and_mtime_identical(crate: Path) -> None:
    first = json.loads(run_cli("pin", "--format", "json", cwd=crate).stdout)
    path = Path(first["config_file"])
    before = path.stat().st_mtime_ns
    second = json.loads(run_cli("pin", "--format", "json", cwd=crate).stdout)
    assert second["config_file"] == first["config_file"]
    assert second["written"] is False
    assert path.stat().st_mtime_ns == before


def test_github_flag_appends_env_and_output(crate: Path, tmp_path: Path) -> None:
    env_file, out_file, path_file = tmp_path / "env", tmp_path / "out", tmp_path / "path"
    env_file.write_text("EXISTING=1\n")
    result = run_cli(
        "pin",
        "--github",
        cwd=crate,
        env={
            "GITHUB_ENV": str(env_file),
            "GITHUB_OUTPUT": str(out_file),
            "GITHUB_PATH": str(path_file),
        },
    )
    assert result.returncode == 0, result.stderr
    env_lines = env_file.read_text().splitlines()
    assert env_lines[0] == "EXISTING=1"
    assert len(env_lines) == 2 and env_lines[1].startswith("PYO3_CACHE_PIN=")
    state = Path(env_lines[1].split("=", 1)[1])
    config = out_file.read_text().removeprefix("config-file=").strip()
    assert Path(config).parent == state.parent
    wrapper_dir = Path(path_file.read_text().strip())
    assert (wrapper_dir / "cargo").is_file()


def test_github_flag_outside_actions_is_one_line_error(crate: Path) -> None:
    result = run_cli("pin", "--github", cwd=crate, env={"GITHUB_ENV": "", "GITHUB_OUTPUT": ""})
    assert_one_line_error(result, 11, "GITHUB_ENV is not set")


def _pin_with_script(crate: Path, python: Path, script: str) -> CliResult:
    """``pin --python`` given a shell script (written at ``python``) for an interpreter."""
    python.write_text("#!/bin/sh\n" + script)
    python.chmod(0o755)
    return run_cli("pin", "--python", str(python), cwd=crate)


def test_missing_interpreter_is_one_line_error(crate: Path) -> None:
    before = _snapshot(crate)
    result = run_cli("pin", "--python", str(crate / "no-such-python"), cwd=crate)
    assert_one_line_error(result, 3, "no Python interpreter at")
    assert _snapshot(crate) == before


def test_non_python_interpreter_is_one_line_error(crate: Path, tmp_path: Path) -> None:
    result = _pin_with_script(crate, tmp_path / "python", "echo 'I am not python' >&2\nexit 3\n")
    assert_one_line_error(result, 3, "is not a working Python interpreter: I am not python")
    assert not (crate / "target").exists()


def test_crashing_interpreter_is_one_line_error(crate: Path, tmp_path: Path) -> None:
    result = _pin_with_script(crate, tmp_path / "python", "kill -SEGV $$\n")
    assert_one_line_error(result, 3, "killed by signal 11")


def test_too_old_python_is_one_line_error(crate: Path, tmp_path: Path) -> None:
    # Speaks the probe's protocol as a Python 3.6 would answer it.
    answer = json.dumps(
        {
            "implementation": "CPython",
            "version_info": [3, 6, 15, "final", 0],
            "executable": "/usr/bin/python3.6",
            "system": "Linux",
            "machine": "x86_64",
            "platform": "linux-x86_64",
            "calcsize_pointer": 8,
            "flags": {},
            "hexversion": 0,
        }
    )
    result = _pin_with_script(crate, tmp_path / "python3.6", f"echo 'PYO3CACHE-PROBE {answer}'\n")
    assert_one_line_error(result, 3, "is Python 3.6.15; PyO3 needs Python 3.")


def test_dir_that_is_a_file_is_one_line_error(crate: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    result = run_cli("pin", "--dir", str(blocker), cwd=crate)
    assert_one_line_error(result, 4, "exists and is not a directory")
    assert blocker.read_text() == "keep me"


def test_dir_under_a_file_is_one_line_error(crate: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("keep me")
    result = run_cli("pin", "--dir", str(blocker / "sub"), cwd=crate)
    assert_one_line_error(result, 4, "")
    assert blocker.read_text() == "keep me"


@pytest.fixture
def unwritable_dir(tmp_path: Path):
    """A directory this process cannot write to, even as root (immutable flag)."""
    locked = tmp_path / "locked"
    locked.mkdir()
    if os.geteuid() == 0:
        chattr = shutil.which("chattr")
        if chattr is None or subprocess.run([chattr, "+i", str(locked)]).returncode != 0:
            pytest.skip("running as root and cannot make a directory immutable here")
        yield locked
        subprocess.run([chattr, "-i", str(locked)], check=True)
    else:
        locked.chmod(stat.S_IRUSR | stat.S_IXUSR)
        yield locked
        locked.chmod(stat.S_IRWXU)


def test_unwritable_dir_is_one_line_error(crate: Path, unwritable_dir: Path) -> None:
    result = run_cli("pin", "--dir", str(unwritable_dir), cwd=crate)
    assert_one_line_error(result, 4, str(unwritable_dir))
    assert list(unwritable_dir.iterdir()) == []


def test_unreadable_interpreter_path_is_one_line_error(crate: Path, unwritable_dir: Path) -> None:
    result = run_cli("pin", "--python", str(unwritable_dir / "python"), cwd=crate)
    assert_one_line_error(result, 3, "no Python interpreter at")


def test_no_cargo_toml_without_dir_is_one_line_error(tmp_path: Path) -> None:
    result = run_cli("pin", "--python", sys.executable, cwd=tmp_path)
    assert_one_line_error(result, 5, "no Cargo.toml")


def test_explicit_dir_works_without_a_crate(tmp_path: Path) -> None:
    result = run_cli(
        "pin",
        "--python",
        sys.executable,
        "--dir",
        str(tmp_path / "pins"),
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["config_file"].startswith(str(tmp_path / "pins"))


def test_old_pyo3_warns_in_one_line(crate: Path) -> None:
    result = run_cli("pin", "--pyo3-version", "0.17.3", cwd=crate)
    assert result.returncode == 0
    warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert any("rejects unknown config keys" in w for w in warnings)


def test_module_entry_point_and_console_script_agree(crate: Path) -> None:
    script = Path(sys.executable).with_name("pyo3-cache")
    via_script = subprocess.run(
        [str(script), "pin", "--format", "json"], cwd=crate, capture_output=True, text=True
    )
    via_module = run_cli("pin", "--format", "json", cwd=crate)
    a, b = json.loads(via_script.stdout), json.loads(via_module.stdout)
    assert a["written"] and not b["written"]
    assert {**a, "written": None} == {**b, "written": None}


def test_public_api_names_all_resolve() -> None:
    import pyo3_cache

    for name in pyo3_cache.__all__:
        assert getattr(pyo3_cache, name) is not None, name
