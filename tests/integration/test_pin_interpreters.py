"""The pin with several interpreters in one job: right wheels, all warm (issue 16).

Real builds of a PyO3 0.23.5 crate (the example with an older PyO3, the newest
line that builds for Debian's PyPy 3.9), shared by every test in this file: one
cold ``maturin build -i <cpython> -i pypy3`` with the pin switched on by
``eval "$(pyo3-cache pin ...)"``, then the warm builds each test looks at.
The tests run in file order; the container test, which leaves PyO3's build
script rebuilt without the pin, comes last.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE
from tests.integration.conftest import BIN, Build, run_build, tool_env

PYPY = shutil.which("pypy3")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(PYPY is None, reason="pypy3 is not installed"),
]
CPYTHON = sys.executable
MINOR = f"3{sys.version_info[1]}"
# What PyO/maturin-action forwards into its manylinux container (v1.51,
# src/index.ts): variables with these prefixes, never PATH.
FORWARDED_PREFIXES = (
    "ACTIONS_", "CARGO_", "CC", "CFLAGS", "CMAKE_", "CPPFLAGS", "CXX", "CXXFLAGS", "GITHUB_",
    "JEMALLOC_", "LDFLAGS", "LD_", "MATURIN_", "PYO3_", "RUST", "SCCACHE_", "TARGET_",
)  # fmt: skip


@dataclass
class Job:
    project: Path
    wrapper_dir: Path
    env: dict[str, str]
    """The shell's environment after `eval "$(pyo3-cache pin ...)"`."""
    cold: Build
    warm: Build
    dist: Path


def _shell_pin(project: Path, wrapper_dir: Path, *pythons: str) -> dict[str, str]:
    """Run `eval "$(pyo3-cache pin ...)"` in a real shell and return the resulting environment."""
    args = " ".join(f"--python '{p}'" for p in pythons)
    script = (
        f'eval "$("{sys.executable}" -m pyo3_cache pin {args} --wrapper-dir \'{wrapper_dir}\')"'
        ' && "$0" -c "import json, os; print(json.dumps(dict(os.environ)))"'
    )
    out = subprocess.run(
        ["sh", "-c", script, sys.executable],
        cwd=project,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout)


def _wheels(dist: Path) -> dict[str, Path]:
    """Wheels by their interpreter tag (`cp311`, `pp39`)."""
    return {w.name.split("-")[2]: w for w in dist.glob("*.whl")}


def _maturin(job_env: dict[str, str], project: Path, dist: Path, *args: str) -> Build:
    cmd = [str(BIN / "maturin"), "build", "--release", "-o", str(dist), *args]
    return run_build(cmd, project, job_env)


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Job:
    root = tmp_path_factory.mktemp("pin-interpreters")
    project = root / "job" / "hello-pyo3"
    project.parent.mkdir()
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dist", "*.whl"))
    manifest = project / "Cargo.toml"
    manifest.write_text(manifest.read_text().replace('"0.30.1"', '"=0.23.5"'))
    (project / "Cargo.lock").unlink()
    lock = run_build(["cargo", "generate-lockfile"], project, tool_env())
    assert lock.returncode == 0, lock.output
    wrapper_dir = root / "wrapper"
    env = _shell_pin(project, wrapper_dir, CPYTHON, str(PYPY))
    dist = root / "dist"
    cold = _maturin(env, project, dist, "-i", CPYTHON, "-i", str(PYPY))
    assert cold.returncode == 0, cold.output[-4000:]
    warm = _maturin(env, project, root / "dist-warm", "-i", CPYTHON, "-i", str(PYPY))
    assert warm.returncode == 0, warm.output[-4000:]
    return Job(project, wrapper_dir, env, cold, warm, dist)


def _import_in(python: str, wheel: Path, venv: Path) -> str:
    uv = str(BIN / "uv")
    subprocess.run([uv, "venv", "-q", "--python", python, str(venv)], check=True)
    py = str(venv / "bin" / "python")
    subprocess.run([uv, "pip", "install", "-q", "--python", py, str(wheel)], check=True)
    out = subprocess.run(
        [py, "-c", "import hello_pyo3, sys; print(sys.implementation.name, hello_pyo3.greet('x'))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_pin_exports_nothing_of_pyo3s_own(job: Job) -> None:
    names = {n for n in job.env if n.startswith("PYO3_")}
    assert names == {"PYO3_CACHE_PIN"}
    assert job.env["PATH"].split(os.pathsep)[0] == str(job.wrapper_dir)


def test_two_interpreters_in_one_maturin_call_give_two_wheels_that_import(
    job: Job, tmp_path: Path
) -> None:
    wheels = _wheels(job.dist)
    assert set(wheels) == {f"cp{MINOR}", "pp39"}, job.cold.output[-3000:]
    assert _import_in(CPYTHON, wheels[f"cp{MINOR}"], tmp_path / "cp") == "cpython Hello, x!"
    assert _import_in(str(PYPY), wheels["pp39"], tmp_path / "pp") == "pypy Hello, x!"


def test_each_interpreter_keeps_its_own_warm_target(job: Job) -> None:
    """The second identical multi-interpreter build compiles nothing (unpinned: 6 each)."""
    assert job.warm.compiled == [], job.warm.output[-3000:]
    assert set(_wheels(job.dist)) == set(_wheels(job.dist.with_name("dist-warm")))
    targets = job.project / "target" / "pyo3-cache" / "targets"
    (pypy_target,) = targets.iterdir()
    assert (pypy_target / "release" / ".fingerprint").is_dir()


def test_the_second_interpreter_compiles_only_the_pyo3_chain_cold(job: Job) -> None:
    """Its own target dir starts as a copy of the primary's: shared crates are not rebuilt.

    Made empty it compiled every crate again (28 against rust-cache's 17 for
    hello-pyo3 under act, docs/benchmarks.md).
    """
    twice = {name for name in job.cold.compiled if job.cold.compiled.count(name) > 1}
    chain = {"pyo3-build-config", "pyo3-ffi", "pyo3-macros-backend", "pyo3-macros", "pyo3"}
    assert {name.split()[0] for name in twice} <= chain | {"hello-pyo3"}, job.cold.compiled
    assert "syn" not in {name.split()[0] for name in twice}


def test_find_interpreter_is_warm_and_complete(job: Job, tmp_path: Path) -> None:
    build = _maturin(job.env, job.project, tmp_path, "--find-interpreter")
    assert build.returncode == 0, build.output[-3000:]
    assert {f"cp{MINOR}", "pp39"} <= set(_wheels(tmp_path))
    assert build.compiled == [], build.output[-3000:]


def test_uv_build_for_pypy_gives_a_pypy_wheel(job: Job, tmp_path: Path) -> None:
    cmd = [str(BIN / "uv"), "build", "--wheel", "--python", str(PYPY), "-o", str(tmp_path)]
    build = run_build(cmd, job.project, job.env)
    assert build.returncode == 0, build.output[-3000:]
    assert set(_wheels(tmp_path)) == {"pp39"}
    # The temp build env resolves to the same PyPy: its warm target dir is used.
    assert build.compiled == [], build.output[-3000:]


def test_action_environment_gives_the_same_right_wheels(job: Job, tmp_path: Path) -> None:
    """`pin --github` as the action runs it: $GITHUB_ENV and $GITHUB_PATH applied by the runner."""
    files = {n: tmp_path / n.lower() for n in ("GITHUB_ENV", "GITHUB_PATH", "GITHUB_OUTPUT")}
    for path in files.values():
        path.write_text("")
    cmd = [sys.executable, "-m", "pyo3_cache", "pin", "--github", "--python", CPYTHON]
    cmd += ["--python", str(PYPY), "--wrapper-dir", str(job.wrapper_dir)]
    subprocess.run(
        cmd,
        cwd=job.project,
        env=tool_env(**{n: str(p) for n, p in files.items()}),
        check=True,
        capture_output=True,
    )
    env = tool_env()
    for line in files["GITHUB_ENV"].read_text().splitlines():
        name, value = line.split("=", 1)
        env[name] = value
    env["PATH"] = os.pathsep.join([*files["GITHUB_PATH"].read_text().split(), env["PATH"]])
    assert not any(n.startswith("PYO3_") and n != "PYO3_CACHE_PIN" for n in env)
    build = _maturin(env, job.project, tmp_path / "dist", "-i", CPYTHON, "-i", str(PYPY))
    assert build.returncode == 0, build.output[-3000:]
    assert set(_wheels(tmp_path / "dist")) == {f"cp{MINOR}", "pp39"}
    assert build.compiled == [], build.output[-3000:]


def test_same_abi_interpreter_elsewhere_compiles_nothing(job: Job, tmp_path: Path) -> None:
    """A venv at another path, and another patch release of the same minor, reuse the build."""
    venv = tmp_path / "elsewhere" / "venv"
    subprocess.run([CPYTHON, "-m", "venv", "--without-pip", str(venv)], check=True)
    movers = [str(venv / "bin" / "python")]
    system = "/usr/bin/python3"
    if os.path.exists(system) and os.path.realpath(system) != os.path.realpath(CPYTHON):
        version = subprocess.run(
            [system, "-c", "import sys; print(sys.version_info[1])"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if version == str(sys.version_info[1]):
            movers.append(system)  # e.g. Debian's 3.11.2 beside pyenv's 3.11.7
    for python in movers:
        build = _maturin(job.env, job.project, tmp_path / "dist", "-i", python)
        assert build.returncode == 0, build.output[-3000:]
        assert build.compiled == [], (python, build.output[-3000:])


def test_container_build_sees_no_host_pin(job: Job) -> None:
    """maturin-action's container gets our variables (PYO3_* prefix) but not PATH: no wrapper.

    The build there resolves PyO3's config from its own interpreter, as if
    pyo3-cache were absent; PyPy stands for /opt/python's interpreters.
    PyO3 prints the config it resolved (``PYO3_PRINT_CONFIG=1``) and stops.
    """
    forwarded = {k: v for k, v in job.env.items() if k.startswith(FORWARDED_PREFIXES)}
    assert "PYO3_CACHE_PIN" in forwarded  # the pin state travels; nothing reads it there
    system_path = os.pathsep.join(
        p for p in tool_env()["PATH"].split(os.pathsep) if p != str(job.wrapper_dir)
    )
    env = {**forwarded, "PATH": system_path, "HOME": os.environ.get("HOME", "/root")}
    env.update(CARGO_TERM_VERBOSE="true", PYO3_PRINT_CONFIG="1")
    build = _maturin(env, job.project, job.project / "unused-dist", "-i", str(PYPY))
    assert "PYO3_PRINT_CONFIG=1 is set" in build.output, build.output[-3000:]
    assert "pyo3-cache" not in build.output  # neither the wrapper nor a pinned file
    printed = [ln.strip() for ln in build.output.splitlines() if "executable=" in ln]
    assert printed == [f"executable={PYPY}"], printed  # not our shim under target/pyo3-cache
