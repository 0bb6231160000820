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

import hashlib
import os
import re
import shlex
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
from typing import Any, BinaryIO

from pyo3_cache.errors import CommandError, OutputLocationError
from pyo3_cache.explain.cargo_shim import read_chunks
from pyo3_cache.redact import redact_text

WRAPPER_LOG_VARIABLE = "PYO3_CACHE_CARGO_LOG"
WRAPPER_DIR_VARIABLE = "PYO3_CACHE_WRAPPER_DIR"


WRAPPER_MARKER = b"# pyo3-cache cargo wrapper"


def wrapper_script(python: str | None = None) -> bytes:
    """The wrapper's text, set to run our Python half with ``python`` (default: this one)."""
    text = resources.files("pyo3_cache").joinpath("resources/cargo-wrapper.sh").read_bytes()
    return text.replace(b"@PYTHON@", shlex.quote(python or sys.executable).encode("utf-8"))


def default_wrapper_dir() -> Path:
    """A directory that stays the same from run to run (PATH is a build input).

    One per install of pyo3-cache (the Python the wrapper runs): two runners of
    one user on one machine, each with its own tool venv, or two projects on
    different pyo3-cache versions, would otherwise rewrite one wrapper in turn,
    and a build of one would run the other's Python half.
    """
    configured = os.environ.get(WRAPPER_DIR_VARIABLE)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    install = hashlib.sha256(os.fsencode(sys.executable)).hexdigest()[:12]
    return Path(base) / "pyo3-cache" / "cargo-wrapper" / install


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


def is_wrapper(path: Path) -> bool:
    """Whether ``path`` is a copy of our wrapper (any version: the marker line)."""
    try:
        with path.open("rb") as handle:
            head = handle.read(4096)
    except OSError:
        return False
    return any(line.startswith(WRAPPER_MARKER) for line in head.splitlines()[:3])


def find_real_cargo(path: str, skip: Path | None = None) -> str | None:
    """The first ``cargo`` on ``path`` that is not a copy of our wrapper (nor in ``skip``)."""
    skip_resolved = skip.resolve() if skip is not None else None
    for entry in path.split(os.pathsep):
        candidate = Path(entry or ".") / "cargo"
        try:
            if skip_resolved is not None and candidate.parent.resolve() == skip_resolved:
                continue
        except OSError:
            continue
        if candidate.is_file() and os.access(candidate, os.X_OK) and not is_wrapper(candidate):
            return str(candidate)
    return None


def with_wrapper_first(path: str, wrapper_dir: Path) -> str:
    """``path`` with ``wrapper_dir`` first (once).

    Other copies of the wrapper further on (an older install, the action's)
    stay, with the tools beside them: each copy skips every copy when it looks
    for the real cargo, so only the first one acts.
    """
    entry = str(wrapper_dir)
    kept = [part for part in (path.split(os.pathsep) if path else []) if part != entry]
    return os.pathsep.join([entry, *kept])


def activate_pin(
    pin_env: Mapping[str, str],
    environ: Mapping[str, str] | None = None,
    wrapper_dir: str | os.PathLike[str] | None = None,
) -> dict[str, str]:
    """The variables that switch a pin on: ``PYO3_CACHE_PIN`` and PATH with the wrapper first.

    ``pin_env``: ``PinResult.env``.  For a noxfile::

        result = pin_pyo3_config(session.virtualenv.bin + "/python")
        session.env.update(activate_pin(result.env, session.env or os.environ))
    """
    base = os.environ if environ is None else environ
    return pin_env_with_wrapper(pin_env, base, install_cargo_wrapper(wrapper_dir).parent)


def pin_env_with_wrapper(
    pin_env: Mapping[str, str], environ: Mapping[str, str], wrapper_dir: Path
) -> dict[str, str]:
    """``pin_env`` plus ``environ``'s PATH with the installed wrapper's folder first."""
    out = dict(pin_env)
    out["PATH"] = with_wrapper_first(environ.get("PATH", ""), wrapper_dir)
    return out


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


# Lines cargo prints only when verbose (CARGO_TERM_VERBOSE=true, which `run`
# sets so the log can explain rebuilds): kept in the log, not shown.  A
# `Running` line is verbose when it runs rustc or a build script; `cargo run`
# and `cargo test` print their own `Running` lines, which stay.
_VERBOSE_STATUS = re.compile(rb"^\s*(Fresh|Dirty) \S")
_VERBOSE_RUNNING = re.compile(
    rb"^\s*Running `(?:[^`]*[/\\])?(?:rustc|clippy-driver|rustdoc)(?:\.exe)? |"
    rb"^\s*Running `[^`]*build-script-\w+`"
)
_BUILD_SCRIPT_OUTPUT = re.compile(rb"^\[[A-Za-z0-9_.+-]+ [0-9][^\]]*\] ")


def is_verbose_line(line: bytes) -> bool:
    """Whether cargo printed ``line`` only because verbose output was on."""
    text = line.lstrip(b"\r")
    return bool(
        _VERBOSE_STATUS.match(text)
        or _VERBOSE_RUNNING.match(text)
        or _BUILD_SCRIPT_OUTPUT.match(text)
    )


class _Shown:
    """What the terminal gets of a stream: whole lines, verbose ones dropped, secrets hidden."""

    def __init__(self, sink: BinaryIO, quiet: bool) -> None:
        self.sink = sink
        self.quiet = quiet
        self.partial = b""

    def write(self, data: bytes) -> None:
        lines = (self.partial + data).split(b"\n")
        self.partial = lines.pop()
        self._emit([line + b"\n" for line in lines])

    def close(self) -> None:
        if self.partial:
            self._emit([self.partial])
            self.partial = b""

    def _emit(self, lines: list[bytes]) -> None:
        shown = [ln for ln in lines if not (self.quiet and is_verbose_line(ln))]
        if not shown:
            return
        text = b"".join(shown).decode("utf-8", "surrogateescape")
        try:
            self.sink.write(redact_text(text).encode("utf-8", "surrogateescape"))
            self.sink.flush()
        except (OSError, ValueError):
            pass  # our reader went away; keep logging


def _pump(source: BinaryIO, shown: _Shown, log: BinaryIO, lock: threading.Lock) -> None:
    """Copy a child's stream to the terminal (filtered) and to the log (whole) as it arrives."""
    for data in read_chunks(source.fileno()):
        shown.write(data)
        with lock:
            log.write(data)
    shown.close()


def _new_group() -> None:  # pragma: no cover - runs in the child
    os.setpgid(0, 0)


def run_with_log(
    command: Sequence[str],
    *,
    log_path: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
    wrapper_dir: str | os.PathLike[str] | None = None,
    use_wrapper: bool = True,
    show_verbose: bool = False,
) -> RunResult:
    """Run ``command`` with verbose cargo output, tee its output to a log, keep its exit code.

    The terminal gets cargo's normal lines live; the verbose ones (``Fresh``,
    ``Dirty``, rustc command lines) go to the log only, unless ``show_verbose``.
    The command runs in its own process group: SIGINT, SIGTERM and SIGHUP sent
    to us are passed to the whole group, so the cargo under a front-end stops too.
    """
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
        child_env["PATH"] = with_wrapper_first(child_env.get("PATH", ""), wrapper.parent)
    executable = shutil.which(command[0], path=child_env.get("PATH"))
    if executable is None and os.sep not in command[0]:
        log_handle.close()
        raise CommandError(f"command not found: {command[0]}")
    start = time.monotonic()
    extra: dict[str, object] = {}
    if sys.platform != "win32":
        extra["preexec_fn"] = _new_group
    try:
        proc = subprocess.Popen(
            list(command),
            env=child_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            **extra,  # type: ignore[call-overload]
        )
    except OSError as exc:
        log_handle.close()
        raise CommandError(f"cannot start {command[0]}: {exc.strerror or exc}") from None
    previous = _forward_signals(proc)
    lock = threading.Lock()
    assert proc.stdout is not None and proc.stderr is not None
    quiet = not show_verbose
    pumps = [
        threading.Thread(
            target=_pump,
            args=(proc.stdout, _Shown(sys.stdout.buffer, quiet), log_handle, lock),
            daemon=True,
        ),
        threading.Thread(
            target=_pump,
            args=(proc.stderr, _Shown(sys.stderr.buffer, quiet), log_handle, lock),
            daemon=True,
        ),
    ]
    for pump in pumps:
        pump.start()
    try:
        code = proc.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    for pump in pumps:
        pump.join()
    log_handle.close()
    if code < 0:  # killed by a signal: report it as a shell would
        code = 128 - code
    return RunResult(code, log, cargo_log, time.monotonic() - start)


def _forward_signals(proc: subprocess.Popen[bytes]) -> dict[int, Any]:
    """Pass SIGINT/SIGTERM/SIGHUP to the child's process group; returns the old handlers."""
    if threading.current_thread() is not threading.main_thread():
        return {}

    def forward(signum: int, _frame: object) -> None:
        try:
            if sys.platform == "win32":
                proc.send_signal(signum)
            else:
                os.killpg(proc.pid, signum)
        except OSError:
            pass

    previous: dict[int, Any] = {}
    names = ("SIGINT", "SIGTERM", "SIGHUP")
    for signum in [getattr(signal, n) for n in names if hasattr(signal, n)]:
        previous[signum] = signal.signal(signum, forward)
    return previous


def _default_log() -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return Path(tempfile.gettempdir()) / "pyo3-cache" / f"run-{stamp}-{os.getpid()}.log"
