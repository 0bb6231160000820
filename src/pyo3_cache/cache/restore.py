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

from pyo3_cache.cache import leftovers
from pyo3_cache.cache.archive import ArchiveRoot, sha256_of
from pyo3_cache.cache.extract import extract_archive
from pyo3_cache.cache.places import Places, anchored_roots
from pyo3_cache.cache.save import os_reason
from pyo3_cache.cache.store import Store, check_key, parse_entry, scoped_key, unscoped_key
from pyo3_cache.cache.target_dir import target_dir_problem
from pyo3_cache.errors import ArchiveError, StoreError

_WORK_KIND = "pyo3-cache-restore"


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

    def text(self) -> str:
        """The CLI's text output: which entry was restored, or the miss."""
        if not self.hit:
            return f"cache miss: {self.key}"
        kind = "exact hit" if self.exact else "partial hit"
        return f"{kind}: restored {self.matched_key} from {self.store}"


def _candidates(
    store: Store, key: str, restore_keys: Sequence[str], scopes: Sequence[str | None]
) -> Iterator[tuple[str, str]]:
    """(stored name, key): per scope in order, the exact key, then each restore
    key's prefix matches, newest first (actions/cache's order)."""
    seen: set[str] = set()
    for scope in scopes:
        exact = scoped_key(scope, key)
        if exact not in seen and store.has(exact):
            seen.add(exact)
            yield exact, key
        for prefix in restore_keys:
            found = store.list_entries(scoped_key(scope, prefix))
            for entry in sorted(found, key=lambda e: (e.created_ns, e.key), reverse=True):
                if entry.key not in seen:
                    seen.add(entry.key)
                    yield entry.key, unscoped_key(scope, entry.key)


class NotForThisJob(Exception):
    """An entry this restore may not unpack: skipped, left in the store."""


def restore_cache(
    store: Store,
    key: str,
    places: Places,
    restore_keys: Sequence[str] = (),
    manifest_out: Path | None = None,
    *,
    roots: Sequence[ArchiveRoot] | None = None,
    scope: str | None = None,
    fallback_scopes: Sequence[str] = (),
) -> RestoreResult:
    """Restore the best entry for ``key``; never raises for cache trouble.

    ``roots``: the folders this job restores, by anchor (``anchored_roots``,
    as for ``save``; default: the target dir and cargo's registry/git
    caches). An entry is unpacked only when every anchor its record lists is
    one of them, and its members only below those. ``scope`` (a branch or ref) and then each of
    ``fallback_scopes`` are searched in turn; other scopes are never seen.

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
        wanted = {r.anchor: r.path for r in (anchored_roots(places) if roots is None else roots)}
        scopes: list[str | None] = [scope, *fallback_scopes] if scope is not None else [None]
        leftovers.clear(Path(tempfile.gettempdir()), _WORK_KIND)
        with tempfile.TemporaryDirectory(prefix=leftovers.prefix(_WORK_KIND)) as work:
            for stored, user_key in _candidates(store, key, restore_keys, scopes):
                if _restore_one(store, (stored, user_key), places, wanted, Path(work), result):
                    result.hit = True
                    result.exact = stored == scoped_key(scope, key)
                    result.matched_key = user_key
                    _write_manifest(store, stored, manifest_out, result)
                    store.touch(stored)
                    break
    except StoreError as exc:
        result.warnings.append(f"cache not restored: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not restored: {os_reason(exc)}")
    result.seconds = time.monotonic() - started
    return result


def entry_destinations(
    record: dict[str, Any], places: Places, wanted: dict[str, Path], key: str
) -> dict[str, Path]:
    """The folders ``record`` lists, if this job asked for every one of them."""
    listed = record.get("paths")
    if not isinstance(listed, list) or not listed or not all(isinstance(p, str) for p in listed):
        raise ArchiveError(f"entry {key!r} lists no paths")
    extra = [p for p in listed if p not in wanted]
    if extra:
        raise NotForThisJob(
            f"it holds {', '.join(extra)}, which this restore does not write "
            f"(it restores {', '.join(sorted(wanted))}; restore with the --path list of the save)"
        )
    if "target" in listed:
        problem = target_dir_problem(places.target, places.workspace)
        if problem:
            raise NotForThisJob(problem)
    return {p: wanted[p] for p in listed}


def _restore_one(
    store: Store,
    names: tuple[str, str],
    places: Places,
    wanted: dict[str, Path],
    work: Path,
    result: RestoreResult,
) -> bool:
    key, shown = names  # the stored name and the key a user knows
    try:
        record = parse_entry(store.read_record(key), shown)
        destinations = entry_destinations(record, places, wanted, shown)
        archive = store.fetch_archive(key, record, work)
        actual = sha256_of(archive)
        if actual != record["archive"]["sha256"]:
            raise ArchiveError(
                f"entry {shown!r} is corrupt: archive sha256 {actual[:12]}… does not match "
                f"its manifest's {str(record['archive']['sha256'])[:12]}…"
            )
        result.archive_bytes = archive.stat().st_size
        stats = extract_archive(archive, destinations)
        result.restored_bytes = stats.bytes_written
        if archive.parent == work:
            archive.unlink()
        return True
    except NotForThisJob as exc:
        result.warnings.append(f"skipped cache entry {shown!r}: {exc}")
        return False
    except ArchiveError as exc:
        result.corrupt.append(shown)
        result.warnings.append(f"skipped cache entry {shown!r}: {exc}")
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
