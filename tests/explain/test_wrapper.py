"""The cargo wrapper and `run` with real processes: one wrapper acts, signals reach cargo.

A stand-in `cargo` (a shell script last on PATH) records its pid, arguments and
the signals it got; everything in between (two wrapper copies, the Python half,
`pyo3-cache run`) is the real thing.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pyo3_cache.explain.wrapper import install_cargo_wrapper, is_verbose_line

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell wrapper")

FAKE_CARGO = """#!/bin/sh
echo $$ > "{dir}/cargo.pid"
echo "real cargo $*"
echo "cargo stderr line" >&2
trap 'echo TERM > "{dir}/cargo.signal"; exit 143' TERM
trap 'echo INT > "{dir}/cargo.signal"; exit 130' INT
if [ "$1" = "sleep" ] || [ "$2" = "sleep" ]; then
    i=0
    while [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
fi
exit 7
"""


@pytest.fixture
def fake_cargo(tmp_path: Path) -> Path:
    bin_dir = tmp_path / "realbin"
    bin_dir.mkdir()
    cargo = bin_dir / "cargo"
    cargo.write_text(FAKE_CARGO.format(dir=tmp_path))
    cargo.chmod(0o755)
    return bin_dir


def _env(tmp_path: Path, *dirs: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYO3_")}
    env["PATH"] = os.pathsep.join([*(str(d) for d in dirs), "/usr/bin", "/bin"])
    env.update(extra)
    return env


def _wait_for(path: Path, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for our purpose; /proc tells (Linux only).
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ")[-1].startswith("Z"))


def test_two_wrapper_copies_on_path_run_the_real_cargo_once(
    tmp_path: Path, fake_cargo: Path
) -> None:
    first = install_cargo_wrapper(tmp_path / "user-wrapper").parent
    second = install_cargo_wrapper(tmp_path / "action-wrapper").parent
    log = tmp_path / "cargo.log"
    env = _env(tmp_path, first, second, fake_cargo, PYO3_CACHE_CARGO_LOG=str(log))
    proc = subprocess.run(
        ["cargo", "build", "--x"], env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 7
    assert proc.stdout == "real cargo build --x\n"
    assert proc.stderr.count("cargo stderr line") == 1
    assert log.read_text().count("cargo stderr line") == 1  # logged once, not per copy


def test_wrapper_alone_on_path_says_so(tmp_path: Path) -> None:
    only = install_cargo_wrapper(tmp_path / "w").parent
    proc = subprocess.run(
        [str(only / "cargo"), "build"],
        env=_env(tmp_path, only, only),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 127
    assert "no cargo on PATH other than pyo3-cache's wrappers" in proc.stderr


def test_without_pin_or_log_the_wrapper_becomes_cargo(tmp_path: Path, fake_cargo: Path) -> None:
    wrapper = install_cargo_wrapper(tmp_path / "w")
    proc = subprocess.Popen([str(wrapper), "build"], env=_env(tmp_path, wrapper.parent, fake_cargo))
    assert proc.wait(timeout=60) == 7
    assert int((tmp_path / "cargo.pid").read_text()) == proc.pid  # exec'd, no middle process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_to_logging_wrapper_reaches_cargo_and_status_is_kept(
    tmp_path: Path, fake_cargo: Path, signum: int
) -> None:
    wrapper = install_cargo_wrapper(tmp_path / "w")
    env = _env(
        tmp_path, wrapper.parent, fake_cargo, PYO3_CACHE_CARGO_LOG=str(tmp_path / "cargo.log")
    )
    # `build`: a subcommand the wrapper hands to its Python half while logging.
    proc = subprocess.Popen([str(wrapper), "build", "sleep"], env=env, stdout=subprocess.DEVNULL)
    cargo_pid = int(_wait_for(tmp_path / "cargo.pid"))
    assert cargo_pid != proc.pid
    time.sleep(0.3)  # let the shell set its traps
    proc.send_signal(signum)
    code = proc.wait(timeout=30)
    expected = "TERM" if signum == signal.SIGTERM else "INT"
    assert _wait_for(tmp_path / "cargo.signal") == expected
    assert code == (143 if signum == signal.SIGTERM else 130)  # cargo's own status
    deadline = time.monotonic() + 10
    while _alive(cargo_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(cargo_pid), "cargo outlived the wrapper"


def test_sigterm_to_run_reaches_cargo_under_a_front_end(tmp_path: Path, fake_cargo: Path) -> None:
    env = _env(tmp_path, fake_cargo)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    cmd = [sys.executable, "-m", "pyo3_cache", "run", "--wrapper-dir", str(tmp_path / "w")]
    cmd += ["--log", str(tmp_path / "run.log"), "--", "sh", "-c", "cargo sleep; echo after"]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    cargo_pid = int(_wait_for(tmp_path / "cargo.pid"))
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)
    out, _err = proc.communicate(timeout=60)
    assert _wait_for(tmp_path / "cargo.signal") == "TERM"
    assert proc.returncode == 143
    assert b"after" not in out  # the front-end (sh) was stopped too
    deadline = time.monotonic() + 10
    while _alive(cargo_pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(cargo_pid)


VERBOSE_OUTPUT = (
    "   Compiling once_cell v1.21.4\n"
    "       Fresh libc v0.2.191\n"
    "       Dirty hello v0.1.0 (/w): the file `src/lib.rs` has changed\n"
    "     Running `/r/bin/rustc --crate-name hello --edition=2021 src/lib.rs`\n"
    "     Running `/w/target/debug/build/pyo3-ffi-1234/build-script-build`\n"
    "[pyo3-ffi 0.30.1] cargo:rerun-if-env-changed=PYO3_CONFIG_FILE\n"
    "     Running `target/debug/hello`\n"
    "     Running unittests src/lib.rs (target/debug/deps/hello-abcd)\n"
    "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.20s\n"
    "index https://ci:hunter2@registry.example/index\n"
)


def test_run_shows_normal_lines_and_logs_verbose_ones(tmp_path: Path) -> None:
    (tmp_path / "out.txt").write_text(VERBOSE_OUTPUT)
    cmd = [sys.executable, "-m", "pyo3_cache", "run", "--no-wrapper", "--log"]
    cmd += [str(tmp_path / "run.log"), "--", "sh", "-c", "cat out.txt >&2"]
    proc = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    shown = proc.stderr
    for kept in ("Compiling once_cell", "Running `target/debug/hello`", "Running unittests"):
        assert kept in shown
    for dropped in ("Fresh libc", "Dirty hello", "--crate-name", "build-script-build", "[pyo3-ffi"):
        assert dropped not in shown
    assert "hunter2" not in shown and "https://***@registry.example" in shown
    assert (tmp_path / "run.log").read_text() == VERBOSE_OUTPUT  # the log keeps every byte


@pytest.mark.parametrize(
    ("line", "verbose"),
    [
        (b"       Fresh a v1\n", True),
        (b"     Running `rustc --crate-name a`\n", True),
        (b"     Running `C:\\r\\rustc.exe --crate-name a`\n", True),
        (b"     Running `target/debug/app --flag`\n", False),
        (b"   Compiling a v1\n", False),
        (b"warning: unused variable: `x`\n", False),
    ],
)
def test_verbose_line_rule(line: bytes, verbose: bool) -> None:
    assert is_verbose_line(line) is verbose


def test_shell_and_python_agree_on_which_subcommands_build() -> None:
    from pyo3_cache.explain.wrapper import wrapper_script
    from pyo3_cache.pin.route import BUILD_COMMANDS

    script = wrapper_script().decode()
    line = next(ln for ln in script.splitlines() if ln.strip().startswith("build|b|"))
    assert set(line.strip().split(")")[0].split("|")) == BUILD_COMMANDS


def test_with_a_pin_cargo_metadata_goes_straight_to_cargo(tmp_path: Path, fake_cargo: Path) -> None:
    wrapper = install_cargo_wrapper(tmp_path / "w")
    env = _env(tmp_path, wrapper.parent, fake_cargo, PYO3_CACHE_PIN=str(tmp_path / "none.json"))
    proc = subprocess.Popen([str(wrapper), "--locked", "metadata"], env=env)
    assert proc.wait(timeout=60) == 7
    assert int((tmp_path / "cargo.pid").read_text()) == proc.pid  # no Python in between
    # A build goes through the Python half, which says why the pin did not apply.
    built = subprocess.run(
        [str(wrapper), "build"], env=env, capture_output=True, text=True, timeout=60
    )
    assert built.returncode == 7
    assert "pyo3-cache: warning: PyO3 not pinned for this cargo call" in built.stderr


def test_while_logging_cargo_metadata_goes_straight_to_cargo(
    tmp_path: Path, fake_cargo: Path
) -> None:
    """maturin calls `cargo metadata` before every build: no Python start for it."""
    wrapper = install_cargo_wrapper(tmp_path / "w")
    log_file = tmp_path / "cargo.log"
    env = _env(tmp_path, wrapper.parent, fake_cargo, PYO3_CACHE_CARGO_LOG=str(log_file))
    proc = subprocess.Popen([str(wrapper), "metadata", "--format-version", "1"], env=env)
    assert proc.wait(timeout=60) == 7
    assert int((tmp_path / "cargo.pid").read_text()) == proc.pid  # no Python in between
    assert not log_file.exists()
    # A build is still logged.
    built = subprocess.run([str(wrapper), "build"], env=env, capture_output=True, timeout=60)
    assert built.returncode == 7
    assert log_file.is_file()


def test_two_installs_of_pyo3_cache_keep_their_own_wrapper(tmp_path: Path) -> None:
    """Two tool venvs of one user (two runners, or two pyo3-cache versions) on
    one machine: each default install writes its own wrapper, naming its own
    Python, and a second install from the first venv finds its wrapper as it was."""
    import pyo3_cache

    src = str(Path(pyo3_cache.__file__).resolve().parents[1])
    env = _env(tmp_path, XDG_CACHE_HOME=str(tmp_path / "cache"), PYTHONPATH=src)
    pythons = []
    for name in ("runner-1", "runner-2"):
        venv = tmp_path / name
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
        pythons.append(venv / "bin" / "python")

    def install(python: Path) -> Path:
        cmd = [str(python), "-m", "pyo3_cache", "cargo-wrapper", "--install"]
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        lines = [line for line in out.splitlines() if "PATH=" in line]
        assert lines, out
        found = list((tmp_path / "cache" / "pyo3-cache" / "cargo-wrapper").glob("*/cargo"))
        return next(w for w in found if str(python) in w.read_text())

    first, second = install(pythons[0]), install(pythons[1])
    assert first.parent != second.parent
    assert str(pythons[1]) not in first.read_text()
    before = first.stat().st_mtime_ns
    assert install(pythons[0]) == first
    assert first.stat().st_mtime_ns == before
