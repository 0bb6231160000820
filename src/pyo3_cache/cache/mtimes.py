"""Keep cargo's view of unchanged source files across fresh checkouts.

Cargo decides whether a workspace member (your extension crate) is fresh by
comparing the mtimes of its source files with the time of the last build.  A
CI runner checks the repository out anew each job, so every file is "newer"
than the cached build and cargo recompiles the crate even when nothing changed
(`the file `src/lib.rs` has changed (...)`).

So, with the cache, we keep a small record of the workspace's files: path
relative to the workspace, size, sha256 and mtime.  After a restore, each file
whose content is byte-identical to the recorded one gets the recorded mtime
back; a file that really changed keeps its new mtime and cargo rebuilds it, as
it should.  Nothing outside the workspace is touched, and nothing is recorded
outside it (paths are relative, so the record is the same in any checkout
directory).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache.errors import OutputLocationError

RECORD_VERSION = 1
# Where the record lives: inside the target dir, so it travels with the cache.
RECORD_IN_TARGET = Path("pyo3-cache") / "source-mtimes.json"
# Directories never recorded: build output, VCS data, caches, environments.
_SKIP_DIRS = {
    ".git",
    ".hg",
    ".svn",
    "target",
    "node_modules",
    ".venv",
    "venv",
    ".nox",
    ".tox",
    "__pycache__",
    ".mypy_cache",
    ".pytest_cache",
    ".ruff_cache",
    "dist",
    "build",
}
# Bounds so a huge monorepo cannot make the job slow: past them we record
# nothing more (cargo then just rebuilds what it would have anyway).
MAX_FILES = 50_000
MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class RestoreStats:
    restored: int
    changed: int
    missing: int


def _files(root: Path, skip: set[Path]) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS and (here / d) not in skip)
        for name in sorted(names):
            path = here / name
            if path.is_symlink() or not path.is_file():
                continue
            found.append(path)
            if len(found) >= MAX_FILES:
                return found
    return found


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def record_source_mtimes(workspace: Path, record: Path, skip: tuple[Path, ...] = ()) -> int:
    """Write the record of ``workspace``'s files to ``record``; return how many."""
    entries: dict[str, list[object]] = {}
    skip_set = {p.resolve() for p in skip}
    for path in _files(workspace.resolve(), skip_set):
        st = path.stat()
        if st.st_size > MAX_FILE_BYTES:
            continue
        rel = path.relative_to(workspace.resolve()).as_posix()
        entries[rel] = [st.st_size, _digest(path), st.st_mtime_ns]
    data = {"version": RECORD_VERSION, "files": entries}
    try:
        record.parent.mkdir(parents=True, exist_ok=True)
        tmp = record.with_name(record.name + ".tmp")
        tmp.write_text(json.dumps(data, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, record)
    except OSError as exc:
        raise OutputLocationError(f"cannot write {record}: {exc.strerror}") from None
    return len(entries)


def restore_source_mtimes(workspace: Path, record: Path) -> RestoreStats:
    """Give unchanged files their recorded mtimes back. A bad record is ignored."""
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        files = data["files"] if data.get("version") == RECORD_VERSION else {}
    except (OSError, ValueError, KeyError, AttributeError, TypeError, RecursionError):
        return RestoreStats(0, 0, 0)
    root = workspace.resolve()
    restored = changed = missing = 0
    for rel, entry in files.items() if isinstance(files, dict) else ():
        try:
            size, digest, mtime_ns = int(entry[0]), str(entry[1]), int(entry[2])
        except (TypeError, ValueError, IndexError):
            continue
        path = (root / rel).resolve()
        # A record is data from a cache entry: never follow it outside the tree.
        if root not in path.parents or path.is_symlink():
            continue
        try:
            st = path.stat()
        except OSError:
            missing += 1
            continue
        if st.st_size != size or _digest(path) != digest:
            changed += 1
            continue
        if st.st_mtime_ns != mtime_ns:
            os.utime(path, ns=(st.st_atime_ns, mtime_ns))
        restored += 1
    return RestoreStats(restored, changed, missing)
