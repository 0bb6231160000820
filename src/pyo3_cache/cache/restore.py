"""Restore: the best entry for a key, checked, unpacked into this machine's folders.

Cache trouble never fails a build: store and disk failures become warnings in
the result (a miss); a corrupt or unsafe entry is skipped and removed.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import sha256_of
from pyo3_cache.cache.extract import extract_archive
from pyo3_cache.cache.places import Places
from pyo3_cache.cache.save import os_reason
from pyo3_cache.cache.store import Store, check_key, parse_entry
from pyo3_cache.errors import ArchiveError, StoreError


@dataclass
class RestoreResult:
    """What ``restore`` did; ``to_json`` is the CLI's public output."""

    hit: bool
    exact: bool
    key: str
    store: str
    matched_key: str | None = None
    manifest: str | None = None
    archive_bytes: int = 0
    restored_bytes: int = 0
    seconds: float = 0.0
    corrupt: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "hit": self.hit,
            "exact": self.exact,
            "key": self.key,
            "matched_key": self.matched_key,
            "manifest": self.manifest,
            "store": self.store,
            "archive_bytes": self.archive_bytes,
            "restored_bytes": self.restored_bytes,
            "seconds": round(self.seconds, 3),
            "corrupt": self.corrupt,
            "warnings": self.warnings,
        }


def _candidates(store: Store, key: str, restore_keys: Sequence[str]) -> Iterator[str]:
    """The exact key, then each restore key's prefix matches, newest first."""
    seen: set[str] = set()
    if store.has(key):
        seen.add(key)
        yield key
    for prefix in restore_keys:
        matches = sorted(store.list_entries(prefix), key=lambda e: (e.created_ns, e.key))
        for entry in reversed(matches):
            if entry.key not in seen:
                seen.add(entry.key)
                yield entry.key


def restore_cache(
    store: Store,
    key: str,
    places: Places,
    restore_keys: Sequence[str] = (),
    manifest_out: Path | None = None,
) -> RestoreResult:
    """Restore the best entry for ``key``; never raises for cache trouble.

    A corrupt entry (sha256 mismatch, unreadable record, unsafe member) is
    reported in ``corrupt``, removed from the store when possible, and the next
    candidate is tried.
    """
    check_key(key)
    for prefix in restore_keys:
        check_key(prefix, "restore key")
    started = time.monotonic()
    result = RestoreResult(False, False, key, store.spec)
    try:
        with tempfile.TemporaryDirectory(prefix="pyo3-cache-restore.") as work:
            for candidate in _candidates(store, key, restore_keys):
                if _restore_one(store, candidate, places, Path(work), result):
                    result.hit = True
                    result.exact = candidate == key
                    result.matched_key = candidate
                    _write_manifest(store, candidate, manifest_out, result)
                    store.touch(candidate)
                    break
    except StoreError as exc:
        result.warnings.append(f"cache not restored: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not restored: {os_reason(exc)}")
    result.seconds = time.monotonic() - started
    return result


def _restore_one(store: Store, key: str, places: Places, work: Path, result: RestoreResult) -> bool:
    try:
        record = parse_entry(store.read_record(key), key)
        archive = store.fetch_archive(key, record, work)
        actual = sha256_of(archive)
        if actual != record["archive"]["sha256"]:
            raise ArchiveError(
                f"entry {key!r} is corrupt: archive sha256 {actual[:12]}… does not match "
                f"its manifest's {str(record['archive']['sha256'])[:12]}…"
            )
        result.archive_bytes = archive.stat().st_size
        stats = extract_archive(archive, places.destinations())
        result.restored_bytes = stats.bytes_written
        if archive.parent == work:
            archive.unlink()
        return True
    except ArchiveError as exc:
        result.corrupt.append(key)
        result.warnings.append(f"skipped cache entry {key!r}: {exc}")
        with contextlib.suppress(StoreError, OSError):
            store.remove(key)
        return False


def _write_manifest(
    store: Store, key: str, manifest_out: Path | None, result: RestoreResult
) -> None:
    if manifest_out is None:
        return
    try:
        record = parse_entry(store.read_record(key), key)
        data = store.read_key_manifest(key, record)
        if data is None:
            return
        manifest_out.parent.mkdir(parents=True, exist_ok=True)
        manifest_out.write_bytes(data)
        result.manifest = str(manifest_out)
    except (StoreError, ArchiveError) as exc:
        result.warnings.append(f"key manifest not restored: {exc}")
    except OSError as exc:
        result.warnings.append(f"key manifest not restored: {os_reason(exc)}")
