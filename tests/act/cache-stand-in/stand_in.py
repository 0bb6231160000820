"""A stand-in for actions/cache/restore and actions/cache/save, for tests under act.

Written from actions/cache's documented contract (README, action.yml), not its
code: entries live in the folder ``$STAND_IN_CACHE_DIR``; an entry's version is
a hash of the literal ``path`` strings (so a path that differs between runs
never matches, as on GitHub); ``key`` matches exactly, then each of
``restore-keys`` as a prefix, newest entry first; ``cache-hit`` is ``true`` on
an exact match, ``false`` on a restore-key match and not set on a miss; an
existing key is never overwritten. ``~`` is the home folder and relative paths
are relative to GITHUB_WORKSPACE. As the real one (its glob patterns), save
refuses a path with a ``..`` segment or a ``.`` segment after the first: it
warns "Cache save failed." and saves nothing, and the step still succeeds. A
path is a file, a folder or a glob (``dist/*.whl``: the files it matches,
restored beside each other). Hard links within a path stay hard links, as tar
keeps them for actions/cache.

Every save appends a line to ``$STAND_IN_CACHE_DIR/log`` (``save KEY``) so a
test can see what was saved.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
import tarfile
import time
from pathlib import Path


def _lines(name: str) -> list[str]:
    return [line.strip() for line in os.environ.get(name, "").splitlines() if line.strip()]


def _resolve(path: str) -> Path:
    if path.startswith("~"):
        return Path(os.path.expanduser(path))
    return Path(os.environ.get("GITHUB_WORKSPACE", "."), path)


def _base(path: str) -> Path:
    """The folder a path's members are stored relative to: above its first glob part."""
    resolved = _resolve(path)
    parts = resolved.parts
    for i, part in enumerate(parts):
        if any(c in part for c in "*?["):
            return Path(*parts[:i])
    return resolved.parent


def _members(path: str) -> list[Path]:
    resolved = _resolve(path)
    if any(c in str(resolved) for c in "*?["):
        return [Path(p) for p in sorted(glob.glob(str(resolved), recursive=True))]
    return [resolved] if resolved.exists() else []


def _store() -> Path:
    return Path(os.environ["STAND_IN_CACHE_DIR"])


def _version(paths: list[str]) -> str:
    return hashlib.sha256("|".join(paths).encode()).hexdigest()[:16]


def _entries(version: str) -> list[dict[str, object]]:
    index = _store() / "index.jsonl"
    if not index.is_file():
        return []
    rows = [json.loads(line) for line in index.read_text().splitlines() if line]
    return [row for row in rows if row["version"] == version]


def _output(**values: str) -> None:
    with open(os.environ["GITHUB_OUTPUT"], "a", encoding="utf-8") as out:
        for name, value in values.items():
            out.write(f"{name}={value}\n")


def restore() -> None:
    paths, key = _lines("INPUT_PATH"), os.environ["INPUT_KEY"]
    _output(**{"cache-primary-key": key})
    entries = sorted(_entries(_version(paths)), key=lambda row: -float(row["created"]))  # type: ignore[arg-type]
    found = next((row for row in entries if row["key"] == key), None)
    for prefix in _lines("INPUT_RESTORE_KEYS"):
        if found is None:
            found = next((row for row in entries if str(row["key"]).startswith(prefix)), None)
    if found is None:
        print(f"Cache not found for input keys: {', '.join([key, *_lines('INPUT_RESTORE_KEYS')])}")
        return
    with tarfile.open(_store() / str(found["file"])) as tar:
        for member in tar.getmembers():
            index, _, rest = member.name.partition("/")
            member.name = rest
            if member.islnk():  # a hard link names its file as stored, under the same path
                member.linkname = member.linkname.partition("/")[2]
            tar.extract(member, _base(paths[int(index)]), filter="tar")
    hit = "true" if found["key"] == key else "false"
    _output(**{"cache-hit": hit, "cache-matched-key": str(found["key"])})
    print(f"Cache restored from key: {found['key']}")


def _refused(path: str) -> bool:
    segments = [part for part in path.replace("\\", "/").split("/") if part]
    return any(part == ".." or (part == "." and i > 0) for i, part in enumerate(segments))


def save() -> None:
    paths, key = _lines("INPUT_PATH"), os.environ["INPUT_KEY"]
    for path in paths:
        if _refused(path):
            print(f"Invalid pattern '{path}'. Relative pathing '.' and '..' is not allowed.")
            print("::warning::Cache save failed.")
            return
    version = _version(paths)
    if any(row["key"] == key for row in _entries(version)):
        print(f"::warning::Failed to save: cache entry {key} already exists")
        return
    store = _store()
    store.mkdir(parents=True, exist_ok=True)
    name = f"{hashlib.sha256((version + key).encode()).hexdigest()[:16]}.tar"
    with tarfile.open(store / name, "w", format=tarfile.PAX_FORMAT) as tar:
        for index, path in enumerate(paths):
            for source in _members(path):
                tar.add(source, arcname=f"{index}/{source.relative_to(_base(path)).as_posix()}")
    row = {"key": key, "version": version, "file": name, "created": time.time()}
    with open(store / "index.jsonl", "a", encoding="utf-8") as index:
        index.write(json.dumps(row) + "\n")
    with open(store / "log", "a", encoding="utf-8") as log:
        log.write(f"save {key}\n")
    print(f"Cache saved with key: {key}")


if __name__ == "__main__":
    {"restore": restore, "save": save}[sys.argv[1]]()
