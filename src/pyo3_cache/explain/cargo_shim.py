"""The Python half of the cargo wrapper: ``python -I -m pyo3_cache.explain.cargo_shim CARGO ARGS``.

The shell half (``resources/cargo-wrapper.sh``) finds the real cargo and runs
this only when there is something to do: a pin to apply (``PYO3_CACHE_PIN``,
see ``pin.route``) or cargo's stderr to log (``PYO3_CACHE_CARGO_LOG``).

Without a log, cargo replaces this process (``execve``): signals and the exit
status are cargo's own.  With a log, cargo runs as a child whose stderr is
copied to ours and appended to the log; SIGINT, SIGTERM and SIGHUP are passed
on to it, and we end as it ended (same exit code, or killed by the same signal),
so no cargo is left running without its parent.  stdout is never touched:
maturin reads cargo's JSON messages from it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

LOG_VARIABLE = "PYO3_CACHE_CARGO_LOG"
PIN_VARIABLE = "PYO3_CACHE_PIN"
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _say(message: str, log: BinaryIO | None = None) -> None:
    line = f"pyo3-cache: {message}\n".encode("utf-8", "replace")
    try:
        sys.stderr.buffer.write(line)
        sys.stderr.buffer.flush()
    except (OSError, ValueError):
        pass
    if log is not None:
        log.write(line)
        log.flush()


def _apply_pin(args: list[str], env: dict[str, str]) -> tuple[dict[str, str], str | None]:
    from pyo3_cache.errors import Pyo3CacheError
    from pyo3_cache.pin.route import plan_cargo_call

    try:
        changes, account = plan_cargo_call(args, env, Path.cwd())
    except (Pyo3CacheError, OSError, ValueError, KeyError) as exc:
        return {}, f"warning: PyO3 not pinned for this cargo call: {exc}"
    return changes, account if changes else None


def _open_log(path: str) -> BinaryIO | None:
    try:
        return open(path, "ab")
    except OSError:
        return None


def read_chunks(fd: int) -> Iterator[bytes]:
    """What a pipe delivers, as it arrives, until its writer closes it."""
    while True:
        try:
            data = os.read(fd, 65536)
        except InterruptedError:
            continue
        except OSError:
            return
        if not data:
            return
        yield data


def run_logged(command: list[str], env: dict[str, str], log: BinaryIO) -> int:
    """Run cargo with its stderr copied to ours and to ``log``; signals forwarded."""
    # Handlers first: a signal that comes while cargo starts is kept and passed on.
    started: list[subprocess.Popen[bytes]] = []
    pending: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        if not started:
            pending.append(signum)
            return
        with contextlib.suppress(OSError):
            started[0].send_signal(signum)

    for signum in _FORWARDED:
        signal.signal(signum, forward)
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE)
    started.append(proc)
    for waiting in pending:
        with contextlib.suppress(OSError):
            proc.send_signal(waiting)
    assert proc.stderr is not None
    for data in read_chunks(proc.stderr.fileno()):
        try:
            sys.stderr.buffer.write(data)
            sys.stderr.buffer.flush()
        except (OSError, ValueError):
            pass
        try:
            log.write(data)
            log.flush()
        except OSError:
            pass
    code = proc.wait()
    log.close()
    return code


def main(argv: list[str]) -> int:
    if not argv:
        _say("error: cargo wrapper started without the real cargo's path")
        return 127
    real, args = argv[0], argv[1:]
    env = dict(os.environ)
    account: str | None = None
    if env.get(PIN_VARIABLE):
        changes, account = _apply_pin(args, env)
        env.update(changes)
    log = _open_log(env[LOG_VARIABLE]) if env.get(LOG_VARIABLE) else None
    if log is None:
        if account is not None and account.startswith("warning:"):
            _say(account)
        os.execve(real, [real, *args], env)
    env["CARGO_TERM_VERBOSE"] = "true"
    if account is not None:
        _say(account, log)
    code = run_logged([real, *args], env, log)
    if code < 0:  # killed by a signal: end the same way, so our parent sees it
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
        return 128 - code
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
