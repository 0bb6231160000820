"""Entries as folder trees: what the action hands actions/cache.

actions/cache packs the folder it is given with tar and zstd itself. Given
one of our ``.tar.zst`` archives, a job paid for two compressions on save and
two unpackings on restore (ours: 0.65-1.04 s a job under act, docs/benchmarks.md).
So the action's entry is the cached folders themselves: ``stage_tree`` hard-links
(copies, where no link can be made) what ``archive.root_entries`` selects into
``tree/<i>/`` of a ``DirStore`` entry, ``<i>`` being the place of its anchor
in the record's ``paths``; ``restore_tree`` checks the tree that actions/cache
unpacked and moves it into place by rename. GNU tar, which actions/cache runs,
keeps nanosecond mtimes (PAX records) and hard links within the tree, which is
what cargo's freshness needs (see ``archive.py``).

A tree is checked before anything moves: it must hold only the anchors this
job restores (``restore.entry_destinations``), no link may point out of its
anchor, nothing but files, folders and links, and as many files and bytes as
its record says (a truncated restore is a cold job). As after an archive's
restore, each file's atime is set to its mtime, so ``prune`` sees what the
build reads (see ``prune.py``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import ArchiveRoot, ArchiveStats, link_stays_inside, root_entries
from pyo3_cache.cache.dir_store import DirStore
from pyo3_cache.cache.extract import NO_HARD_LINKS, check_apart, move_into_place
from pyo3_cache.cache.places import Places, anchored_roots
from pyo3_cache.cache.restore import NotForThisJob, RestoreResult, entry_destinations
from pyo3_cache.cache.save import SaveResult, os_reason, refuse_untagged_targets
from pyo3_cache.cache.store import (
    ENTRY_NAME,
    KEY_MANIFEST_NAME,
    check_key,
    load_record,
    record_header,
)
from pyo3_cache.errors import ArchiveError, StoreError

TREE_SCHEMA = "pyo3-cache-tree/1"
TREE_NAME = "tree"


def is_tree_record(data: bytes) -> bool:
    """Whether an ``entry.json`` is a tree's (else an archive entry's, ``store.parse_entry``)."""
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return isinstance(record, dict) and record.get("schema") == TREE_SCHEMA


def parse_tree_record(data: bytes, key: str) -> dict[str, Any]:
    record = load_record(data, key)
    tree = record.get("tree") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or record.get("schema") != TREE_SCHEMA
        or not isinstance(tree, dict)
        or not all(isinstance(tree.get(n), int) for n in ("files", "bytes"))
    ):
        raise ArchiveError(f"entry {key!r} has an entry.json of another shape or version")
    return record


# --- staging ----------------------------------------------------------------------


def _link_or_copy(src: Path, dst: Path, first: Path | None) -> None:
    """``dst`` as a hard link to ``src``; where the filesystem refuses, a copy of it
    (a link to ``first``, the copy made of the same inode before, when there is one)."""
    try:
        os.link(src, dst, follow_symlinks=False)
        return
    except OSError as exc:
        if exc.errno not in NO_HARD_LINKS:
            raise
    if first is not None:
        with contextlib.suppress(OSError):
            os.link(first, dst, follow_symlinks=False)
            return
    shutil.copy2(src, dst, follow_symlinks=False)


def _stage_root(root: ArchiveRoot, dest: Path, stats: ArchiveStats) -> int:
    """``root``'s cached entries below ``dest``; counts go to ``stats``. Returns the
    bytes of every file entry (a hard-linked file once per name: a transport that
    does not keep links still brings them all)."""
    listed = 0
    inodes: dict[tuple[int, int], Path] = {}
    folders: list[tuple[Path, int]] = []
    dest.parent.mkdir(parents=True, exist_ok=True)
    for path in root_entries(root, stats):
        rel = path.relative_to(root.path)
        target = dest / rel
        try:
            st = path.lstat()
        except FileNotFoundError:  # vanished while we walked (a concurrent build)
            continue
        if stat.S_ISDIR(st.st_mode):
            target.mkdir(exist_ok=True)
            folders.append((target, st.st_mtime_ns))
        elif stat.S_ISREG(st.st_mode):
            inode = (st.st_ino, st.st_dev)
            try:
                _link_or_copy(path, target, inodes.get(inode))
            except FileNotFoundError:
                continue
            if inode not in inodes:
                inodes[inode] = target
                stats.source_bytes += st.st_size
            listed += st.st_size
        elif stat.S_ISLNK(st.st_mode):
            link = os.readlink(path)
            if not link_stays_inside(path, link, root.path):
                stats.skipped.append(f"{root.anchor}/{rel.as_posix()} (symlink pointing outside)")
                continue
            os.symlink(link, target)
            if os.utime in os.supports_follow_symlinks:
                os.utime(target, ns=(st.st_mtime_ns,) * 2, follow_symlinks=False)
        else:
            stats.skipped.append(f"{root.anchor}/{rel.as_posix()} (not a file, directory or link)")
            continue
        stats.members += 1
    for folder, ns in folders:  # last: filling a folder moved its mtime
        with contextlib.suppress(OSError):
            os.utime(folder, ns=(ns, ns))
    return listed


def stage_tree(
    store: DirStore, key: str, roots: Sequence[ArchiveRoot], key_manifest: bytes | None = None
) -> SaveResult:
    """``roots`` as the tree entry ``key`` of ``store``; never raises for cache trouble.

    As ``save.save_cache``: a ``target`` root without cargo's ``CACHEDIR.TAG``
    is not saved, and an existing entry is never replaced.
    """
    check_key(key)
    started = time.monotonic()
    result = SaveResult(False, "error", key, store.spec, paths=[r.anchor for r in roots])
    stage: Path | None = None
    try:
        if store.has(key):
            result.reason = "exact-hit"
            return result
        refuse_untagged_targets(roots)
        store.staging_dir()  # clears what killed saves left
        stage = store.new_stage()
        stats, listed = ArchiveStats(), 0
        for index, root in enumerate(roots):
            if root.path.is_dir():
                listed += _stage_root(root, stage / TREE_NAME / str(index), stats)
        result.source_bytes = stats.source_bytes
        result.kept = list(stats.kept)
        result.warnings += [f"not cached: {skipped}" for skipped in stats.skipped]
        if key_manifest is not None:
            (stage / KEY_MANIFEST_NAME).write_bytes(key_manifest)
        (stage / ENTRY_NAME).write_text(
            json.dumps(
                _record(key, stats, listed, result.paths, key_manifest is not None), indent=2
            )
            + "\n"
        )
        if store.publish(key, stage):
            result.saved, result.reason = True, "saved"
        else:
            result.reason = "exists"
    except (StoreError, ArchiveError) as exc:
        result.warnings.append(f"cache not saved: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not saved: {os_reason(exc)}")
    finally:
        if stage is not None and stage.exists():
            shutil.rmtree(stage, ignore_errors=True)
        result.seconds = time.monotonic() - started
    return result


def _record(
    key: str, stats: ArchiveStats, listed: int, paths: list[str], manifest: bool
) -> dict[str, Any]:
    files = stats.members  # folders and links included: what the restore counts again
    return {
        **record_header(TREE_SCHEMA, key),
        "tree": {"name": TREE_NAME, "files": files, "bytes": listed},
        "source_bytes": stats.source_bytes,
        "paths": paths,
        "key_manifest": KEY_MANIFEST_NAME if manifest else None,
    }


# --- restoring ----------------------------------------------------------------------


def _check_tree(top: Path, anchor: str) -> tuple[int, int]:
    """Entries and file bytes below ``top`` (itself included); refuses what must not move
    into place, and sets every file's atime to its mtime."""
    entries, size = 1, 0
    pending = [top]
    while pending:
        folder = pending.pop()
        with os.scandir(folder) as found:
            for entry in found:
                st = entry.stat(follow_symlinks=False)
                entries += 1
                if stat.S_ISDIR(st.st_mode):
                    pending.append(Path(entry.path))
                elif stat.S_ISREG(st.st_mode):
                    size += st.st_size
                    os.utime(entry.path, ns=(st.st_mtime_ns, st.st_mtime_ns))
                elif stat.S_ISLNK(st.st_mode):
                    if not link_stays_inside(Path(entry.path), os.readlink(entry.path), top):
                        raise ArchiveError(
                            f"{_shown(top, entry.path, anchor)} links out of {anchor}"
                        )
                else:
                    raise ArchiveError(f"{_shown(top, entry.path, anchor)} is not a file or folder")
    return entries, size


def _shown(top: Path, path: str, anchor: str) -> str:
    return f"{anchor}/{Path(path).relative_to(top).as_posix()}"


def restore_tree(
    store: DirStore,
    key: str,
    places: Places,
    *,
    roots: Sequence[ArchiveRoot] | None = None,
) -> RestoreResult:
    """Move the tree entry ``key`` into this job's folders; never raises for cache trouble.

    ``roots``: the folders this job restores (as for ``restore.restore_cache``).
    A refused tree (another job's anchors, a link out, a special file, fewer
    files or bytes than its record) moves nothing, is reported in ``corrupt``
    or ``warnings``, and the result is a miss.
    """
    check_key(key)
    started = time.monotonic()
    result = RestoreResult(False, False, key, store.spec)
    try:
        record = parse_tree_record(store.read_record(key), key)
        wanted = {r.anchor: r.path for r in (anchored_roots(places) if roots is None else roots)}
        destinations = entry_destinations(record, places, wanted, key)
        check_apart(destinations)
        tree = store.entry_folder(key) / TREE_NAME
        anchors = list(record["paths"])
        present = _present(tree, anchors, key)
        entries, size = 0, 0
        for index, top in present.items():
            counted = _check_tree(top, anchors[index])
            entries, size = entries + counted[0], size + counted[1]
        expected = record["tree"]
        if (entries, size) != (expected["files"], expected["bytes"]):
            raise ArchiveError(
                f"entry {key!r} is incomplete: {entries} entries of {size} bytes, "
                f"its record says {expected['files']} of {expected['bytes']}"
            )
        _publish(present, anchors, destinations)
        result.hit, result.exact, result.matched_key = True, True, key
        result.restored_bytes = size
    except NotForThisJob as exc:
        result.warnings.append(f"skipped cache entry {key!r}: {exc}")
    except ArchiveError as exc:
        result.corrupt.append(key)
        result.warnings.append(f"skipped cache entry {key!r}: {exc}")
    except StoreError as exc:
        result.warnings.append(f"cache not restored: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not restored: {os_reason(exc)}")
    result.seconds = time.monotonic() - started
    return result


def _present(tree: Path, anchors: list[str], key: str) -> dict[int, Path]:
    """``tree/<i>`` for each anchor the tree holds; anything else there refuses the tree."""
    if not tree.exists():
        return {}
    if tree.is_symlink() or not tree.is_dir():
        raise ArchiveError(f"entry {key!r}: its tree is not a folder")
    present: dict[int, Path] = {}
    for child in tree.iterdir():
        if not (child.name.isdigit() and int(child.name) < len(anchors)):
            raise ArchiveError(f"entry {key!r}: its tree holds {child.name!r}, which it lists not")
        if child.is_symlink() or not child.is_dir():
            raise ArchiveError(f"entry {key!r}: {anchors[int(child.name)]} is not a folder")
        present[int(child.name)] = child
    return present


def _publish(
    present: Mapping[int, Path], anchors: list[str], destinations: Mapping[str, Path]
) -> None:
    for index, top in present.items():
        dest = destinations[anchors[index]]
        dest.parent.mkdir(parents=True, exist_ok=True)
        move_into_place(top, dest)
