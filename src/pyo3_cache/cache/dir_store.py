"""``dir:PATH``: entries as folders on a local (or mounted) filesystem.

Entries are folders under ``PATH/entries``. A save is staged in ``PATH/tmp``
and renamed into place in one step; when two jobs save one key at once the
second rename fails and that job drops its copy, so one whole entry remains. A
size cap evicts the least recently used entries (a restore marks an entry used).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyo3_cache.cache import leftovers
from pyo3_cache.cache.store import (
    ARCHIVE_NAME,
    ENTRY_NAME,
    KEY_MANIFEST_NAME,
    EntryInfo,
    Store,
    decode_key,
    encode_key,
)
from pyo3_cache.errors import ArchiveError, StoreError


def _tree_bytes(path: Path) -> int:
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += (Path(folder) / name).lstat().st_size
    return total


class DirStore(Store):
    """Entries as folders on a local (or mounted) filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.spec = f"dir:{root}"
        self.entries = root / "entries"
        self.tmp = root / "tmp"

    def _check_folder(self) -> None:
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {self.spec} is a file, not a folder")

    def _ensure(self) -> None:
        self._check_folder()
        try:
            self.entries.mkdir(parents=True, exist_ok=True)
            self.tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create store folder {self.root}: {exc.strerror}") from None

    def _dir(self, key: str) -> Path:
        return self.entries / encode_key(key)

    def entry_folder(self, key: str) -> Path:
        """Where ``key``'s entry lives (whether or not it exists)."""
        return self._dir(key)

    def list_entries(self, prefix: str) -> list[EntryInfo]:
        self._check_folder()
        if not self.entries.is_dir():
            return []
        wanted = encode_key(prefix)
        found = []
        for child in self.entries.iterdir():
            if not child.name.startswith(wanted):
                continue
            try:
                st = (child / ENTRY_NAME).stat()
            except OSError:
                continue
            found.append(EntryInfo(decode_key(child.name), st.st_mtime_ns, _tree_bytes(child)))
        return found

    def has(self, key: str) -> bool:
        self._check_folder()
        return (self._dir(key) / ENTRY_NAME).is_file()

    def read_record(self, key: str) -> bytes:
        try:
            return (self._dir(key) / ENTRY_NAME).read_bytes()
        except FileNotFoundError:
            raise StoreError(f"no entry {key!r} in {self.spec}") from None

    def fetch_archive(self, key: str, record: Mapping[str, Any], workdir: Path) -> Path:
        path = self._dir(key) / ARCHIVE_NAME
        if not path.is_file():
            raise ArchiveError(f"entry {key!r} has no archive")
        return path

    def read_key_manifest(self, key: str, record: Mapping[str, Any]) -> bytes | None:
        path = self._dir(key) / KEY_MANIFEST_NAME
        return path.read_bytes() if path.is_file() else None

    def staging_dir(self) -> Path:
        self._ensure()
        leftovers.clear(self.tmp, "put", "evicted")
        return self.tmp

    def put(
        self, key: str, archive: Path, record: dict[str, Any], key_manifest: bytes | None
    ) -> bool:
        stage = self.new_stage()
        try:
            os.replace(archive, stage / ARCHIVE_NAME)
            if key_manifest is not None:
                (stage / KEY_MANIFEST_NAME).write_bytes(key_manifest)
                record["key_manifest"] = KEY_MANIFEST_NAME
            (stage / ENTRY_NAME).write_text(json.dumps(record, indent=2) + "\n")
            return self.publish(key, stage)
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def new_stage(self) -> Path:
        """A private folder in the store's ``tmp`` to build an entry in, for ``publish``."""
        self._ensure()
        return Path(tempfile.mkdtemp(prefix=leftovers.prefix("put"), dir=self.tmp))

    def publish(self, key: str, stage: Path) -> bool:
        """Make the folder ``stage`` (its ``entry.json`` written last) the entry of ``key``.

        False if another saver published ``key`` first (``stage`` is then left).
        """
        (stage / "last-used").touch()
        os.chmod(stage, 0o755)
        try:
            # rename(2) of a folder onto an existing non-empty folder fails:
            # the first of two concurrent savers wins, whole.
            os.rename(stage, self._dir(key))
        except OSError:
            if self.has(key):
                return False
            raise
        return True

    def touch(self, key: str) -> None:
        with contextlib.suppress(OSError):
            (self._dir(key) / "last-used").touch()

    def remove(self, key: str) -> None:
        path = self._dir(key)
        if not path.exists():
            return
        self._ensure()
        # Rename first: a reader never sees an entry with its archive half-deleted.
        doomed = Path(tempfile.mkdtemp(prefix=leftovers.prefix("evicted"), dir=self.tmp)) / "entry"
        os.rename(path, doomed)
        shutil.rmtree(doomed.parent, ignore_errors=True)

    def _last_used(self, key: str) -> int:
        for name in ("last-used", ENTRY_NAME):
            with contextlib.suppress(OSError):
                return (self._dir(key) / name).stat().st_mtime_ns
        return 0

    def evict(self, max_bytes: int, keep: str) -> list[str]:
        entries = self.list_entries("")
        # What killed runs left and saves under way take room too.
        total = sum(e.size for e in entries) + _tree_bytes(self.tmp)
        evicted: list[str] = []
        for entry in sorted(entries, key=lambda e: self._last_used(e.key)):
            if total <= max_bytes:
                break
            if entry.key == keep:
                continue
            self.remove(entry.key)
            total -= entry.size
            evicted.append(entry.key)
        return evicted
