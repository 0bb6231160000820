"""``pyo3-cache run`` and the transparent ``cargo`` wrapper.

``run`` starts a build command with cargo's verbose status lines switched on
(``CARGO_TERM_VERBOSE=true``: it adds ``Fresh``/``Dirty`` lines and changes no
fingerprint), passes its output through live, keeps a log and explains the
rebuilds at the end.  Front-ends may hide cargo's output (pip shows the build
backend's output only with ``-v``), so ``run`` also puts a small ``cargo``
wrapper first on PATH.  The wrapper appends cargo's stderr to a second log and
never touches stdout, where maturin reads cargo's JSON messages.

The wrapper lives in a stable directory (by default under the user cache dir):
PATH is an input of PyO3's build script when no PyO3 config is pinned, so a
directory that changed per run would itself cause rebuilds.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import BinaryIO

from pyo3_cache.errors import CommandError, OutputLocationError

WRAPPER_LOG_VARIABLE = "PYO3_CACHE_CARGO_LOG"
WRAPPER_DIR_VARIABLE = "PYO3_CACHE_WRAPPER_DIR"


def wrapper_script() -> bytes:
    return resources.files("pyo3_cache").joinpath("resources/cargo-wrapper.sh").read_bytes()


def default_wrapper_dir() -> Path:
    """A directory that stays the same from run to run (PATH is a build input)."""
    configured = os.environ.get(WRAPPER_DIR_VARIABLE)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyo3-cache" / "cargo-wrapper"


def install_cargo_wrapper(directory: str | os.PathLike[str] | None = None) -> Path:
    """Write the ``cargo`` wrapper into ``directory`` and return its path.

    Idempotent: an identical wrapper is left alone, so its mtime (and anything
    hashing the directory) stays stable.
    """
    if sys.platform == "win32":
        raise CommandError(
            "the cargo wrapper is a POSIX shell script; it is not available on Windows"
        )
    target_dir = Path(directory) if directory is not None else default_wrapper_dir()
    target = target_dir / "cargo"
    script = wrapper_script()
    try:
        target_dir.mkdir(parents=True, exist_ok=True)
        if target.is_file() and target.read_bytes() == script and os.access(target, os.X_OK):
            return target
        fd, tmp = tempfile.mkstemp(dir=target_dir, prefix=".cargo-")
        with os.fdopen(fd, "wb") as handle:
            handle.write(script)
        os.chmod(tmp, 0o755)
        os.replace(tmp, target)
    except OSError as exc:
        raise OutputLocationError(
            f"cannot install the cargo wrapper in {target_dir}: {exc.strerror or exc}"
        ) from None
    return target


def find_real_cargo(path: str, skip: Path) -> str | None:
    """The first ``cargo`` on ``path`` that is not in ``skip``."""
    skip_resolved = skip.resolve()
    for entry in path.split(os.pathsep):
        candidate = Path(entry or ".") / "cargo"
        try:
            if candidate.parent.resolve() == skip_resolved:
                continue
        except OSError:
            continue
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


@dataclass
class RunResult:
    exit_code: int
    log: Path
    cargo_log: Path | None
    seconds: float

    @property
    def logs_to_explain(self) -> list[Path]:
        """The wrapper's log when it saw cargo (complete, never duplicated), else the output."""
        if (
            self.cargo_log is not None
            and self.cargo_log.is_file()
            and self.cargo_log.stat().st_size
        ):
            return [self.cargo_log]
        return [self.log]


def _pump(source: BinaryIO, sink: BinaryIO, log: BinaryIO, lock: threading.Lock) -> None:
    """Copy a child's stream to ours and to the log as it arrives (keeps \\r redraws live)."""
    fd = source.fileno()
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        try:
            sink.write(data)
            sink.flush()
        except (OSError, ValueError):
            pass  # our reader went away; keep logging
        with lock:
            log.write(data)


def run_with_log(
    command: Sequence[str],
    *,
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    wrapper_dir: str | os.PathLike[str] | None = None,
    use_wrapper: bool = True,
) -> RunResult:
    """Run ``command`` with verbose cargo output, tee its output to a log, keep its exit code."""
    if not command:
        raise CommandError("no command given to run (usage: pyo3-cache run -- CMD ...)")
    child_env = dict(os.environ if env is None else env)
    child_env["CARGO_TERM_VERBOSE"] = "true"
    log = Path(log_path) if log_path is not None else _default_log()
    cargo_log: Path | None = None
    try:
        log.parent.mkdir(parents=True, exist_ok=True)
        log_handle = log.open("wb")
    except OSError as exc:
        raise OutputLocationError(f"cannot write the log {log}: {exc.strerror or exc}") from None
    if use_wrapper and sys.platform != "win32":
        wrapper = install_cargo_wrapper(wrapper_dir)
        cargo_log = log.with_name(log.name + ".cargo")
        try:
            cargo_log.write_bytes(b"")
        except OSError as exc:
            log_handle.close()
            raise OutputLocationError(f"cannot write {cargo_log}: {exc.strerror or exc}") from None
        child_env[WRAPPER_LOG_VARIABLE] = str(cargo_log)
        parts = child_env.get("PATH", "").split(os.pathsep)
        wrapper_entry = str(wrapper.parent)
        if not parts or parts[0] != wrapper_entry:
            child_env["PATH"] = os.pathsep.join(
                [wrapper_entry, *[p for p in parts if p != wrapper_entry]]
            )
    executable = shutil.which(command[0], path=child_env.get("PATH"))
    if executable is None and os.sep not in command[0]:
        log_handle.close()
        raise CommandError(f"command not found: {command[0]}")
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(command), env=child_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as exc:
        log_handle.close()
        raise CommandError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    lock = threading.Lock()
    assert proc.stdout is not None and proc.stderr is not None
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout, sys.stdout.buffer, log_handle, lock), daemon=True
        ),
        threading.Thread(
            target=_pump, args=(proc.stderr, sys.stderr.buffer, log_handle, lock), daemon=True
        ),
    ]
    for pump in pumps:
        pump.start()
    try:
        code = proc.wait()
    except KeyboardInterrupt:
        proc.send_signal(signal.SIGINT)
        code = proc.wait()
    for pump in pumps:
        pump.join()
    log_handle.close()
    if code < 0:  # killed by a signal: report it as a shell would
        code = 128 - code
    return RunResult(code, log, cargo_log, time.monotonic() - start)


def _default_log() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "pyo3-cache" / f"run-{stamp}-{os.getpid()}.log"
