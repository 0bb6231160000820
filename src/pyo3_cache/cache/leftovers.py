"""Temporary files and folders that say who made them, so a killed run's are cleared.

A save or restore killed half-way (SIGKILL, a cancelled job) leaves its
staging copy behind: a 59 MB ``save.*.tar.zst`` in a store's ``tmp/`` stayed
forever before this.  Names carry the host and process id
(``save.<host>.<pid>.<random>``); the next run on that host removes the ones
whose process is gone, and anything of ours older than a day whatever host
made it (a store shared over a network filesystem).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import time
from pathlib import Path

MAX_AGE_SECONDS = 24 * 3600


def _host() -> str:
    return "".join(ch if ch.isalnum() or ch == "-" else "-" for ch in socket.gethostname())[:40]


def prefix(kind: str) -> str:
    """``<kind>.<host>.<pid>.``: the start of a temporary name this process owns."""
    return f"{kind}.{_host() or 'host'}.{os.getpid()}."


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stale(path: Path, kind: str, now: float) -> bool:
    parts = path.name.split(".")
    if len(parts) < 4 or parts[0] != kind:
        return False
    try:
        old = now - path.lstat().st_mtime > MAX_AGE_SECONDS
    except OSError:
        return False
    if old:
        return True
    if parts[1] != (_host() or "host") or not parts[2].isdigit():
        return False
    pid = int(parts[2])
    return pid != os.getpid() and not _alive(pid)


def clear(folder: Path, *kinds: str) -> list[str]:
    """Remove ``folder``'s leftovers of ``kinds`` whose maker is gone; their names."""
    removed: list[str] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    with contextlib.suppress(OSError):
        for path in folder.iterdir():
            if not any(_stale(path, kind, now) for kind in kinds):
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    path.unlink()
            removed.append(path.name)
    return removed
