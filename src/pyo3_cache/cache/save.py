"""Save: archive the cached folders and publish them as one entry.

Cache trouble never fails a build: store and disk failures become warnings in
the result ("not saved").
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache import leftovers
from pyo3_cache.cache.archive import ArchiveRoot, create_archive
from pyo3_cache.cache.store import (
    DEFAULT_MAX_SIZE,
    Store,
    check_key,
    new_entry_record,
    scoped_key,
)
from pyo3_cache.cache.target_dir import target_dir_problem
from pyo3_cache.errors import ArchiveError, StoreError

_KIND = "save"


@dataclass
class SaveResult:
    """What ``save`` did. ``reason``: saved, exact-hit, exists (another job won), error."""

    saved: bool
    reason: str
    key: str
    store: str
    archive_bytes: int = 0
    source_bytes: int = 0
    sha256: str | None = None
    seconds: float = 0.0
    paths: list[str] = field(default_factory=list)
    evicted: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what the Cargo.lock filter kept
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Every field, in order; the CLI's public output."""
        return {**asdict(self), "seconds": round(self.seconds, 3)}

    def text(self) -> str:
        """The CLI's text output: saved (and what the Cargo.lock filter kept), or why not."""
        if not self.saved:
            return f"not saved ({self.reason}): {self.key}"
        kept = [f"  kept {line} (the Cargo.lock's packages)" for line in self.kept]
        return "\n".join([f"saved {self.key} to {self.store}: {self.archive_bytes} bytes", *kept])


def save_cache(
    store: Store,
    key: str,
    roots: Sequence[ArchiveRoot],
    key_manifest: bytes | None = None,
    max_bytes: int | None = DEFAULT_MAX_SIZE,
    *,
    scope: str | None = None,
) -> SaveResult:
    """Archive ``roots`` and publish them as ``key`` in ``scope`` (a branch or
    ref, see ``scoped_key``); never raises for cache trouble.

    A ``target`` root without cargo's ``CACHEDIR.TAG`` is not saved (see
    ``target_dir.py``); a killed save's temporary archive is cleared first.
    """
    check_key(key)
    started = time.monotonic()
    result = SaveResult(False, "error", key, store.spec, paths=[r.anchor for r in roots])
    staged: Path | None = None
    stored = scoped_key(scope, key)
    try:
        if store.has(stored):
            result.reason = "exact-hit"
            return result
        refuse_untagged_targets(roots)
        folder = store.staging_dir()
        leftovers.clear(folder, _KIND)
        prefix = leftovers.prefix(_KIND)
        fd, name = tempfile.mkstemp(prefix=prefix, suffix=".tar.zst", dir=folder)
        os.close(fd)
        staged = Path(name)
        stats = create_archive(roots, staged)
        result.archive_bytes = stats.archive_bytes
        result.source_bytes = stats.source_bytes
        result.sha256 = stats.sha256
        result.kept = list(stats.kept)
        for skipped in stats.skipped:
            result.warnings.append(f"not cached: {skipped}")
        record = new_entry_record(
            stored, stats.sha256, stats.archive_bytes, stats.source_bytes, result.paths
        )
        if store.put(stored, staged, record, key_manifest):
            result.saved, result.reason = True, "saved"
            if max_bytes is not None:
                result.evicted = store.evict(max_bytes, keep=stored)
        else:
            result.reason = "exists"
    except (StoreError, ArchiveError) as exc:
        result.warnings.append(f"cache not saved: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not saved: {os_reason(exc)}")
    finally:
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.unlink()
        result.seconds = time.monotonic() - started
    return result


def refuse_untagged_targets(roots: Sequence[ArchiveRoot]) -> None:
    """``StoreError`` for a ``target`` root cargo did not make (no ``CACHEDIR.TAG``)."""
    for root in roots:
        problem = target_dir_problem(root.path) if root.anchor == "target" else None
        if problem:
            raise StoreError(problem)


def os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"
