"""The store interface: what an entry is, how keys are spelled, and what every store does.

A store holds *entries*, one per key. An entry is three things side by side:

- ``archive.tar.zst`` — the cached folders (see ``archive.py``);
- ``key-manifest.json`` — the key manifest the caller gave (opaque here), so a
  partial hit can be explained with ``key-diff``;
- ``entry.json`` — our record: key, creation time, the archive's sha256 and
  size, the anchored paths. It is written last: an entry without it does not
  exist, so readers never see half an entry.

The stores themselves are ``dir_store.py`` and ``s3_store.py``; the save and
restore flows over any store are ``save.py`` and ``restore.py``.
"""

from __future__ import annotations

import json
import re
import time
import urllib.parse
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ArchiveError, StoreError

ENTRY_SCHEMA = "pyo3-cache-entry/1"
ARCHIVE_NAME = "archive.tar.zst"
ENTRY_NAME = "entry.json"
KEY_MANIFEST_NAME = "key-manifest.json"
MAX_KEY_LENGTH = 512
DEFAULT_MAX_SIZE = 10 << 30  # what actions/cache gives a repository
_KEY_SAFE = "-_.~+=@"


# --- keys and entries ---------------------------------------------------------


def check_key(key: str, what: str = "key") -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise StoreError(f"cache {what} must be 1 to {MAX_KEY_LENGTH} characters long")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key) or "," in key:
        raise StoreError(f"cache {what} {key!r} contains a control character or a comma")
    return key


def scoped_key(scope: str | None, key: str) -> str:
    """The name a store holds ``key`` under when saved in ``scope`` (a branch or ref).

    Like actions/cache, an entry belongs to the branch that saved it: a
    restore looks in its own scope, then in the scopes it trusts (the default
    branch), never in another branch's or a pull request's. ``None``: unscoped
    (the action's private store in RUNNER_TEMP, scoped by actions/cache itself).
    """
    if scope is None:
        return key
    check_key(scope, "scope")
    return f"{urllib.parse.quote(scope, safe='')}/{key}"


def unscoped_key(scope: str | None, stored: str) -> str:
    return stored if scope is None else stored.split("/", 1)[-1]


def encode_key(key: str) -> str:
    """One path segment per key; encoding a prefix gives a prefix of the encoding."""
    return urllib.parse.quote(key, safe=_KEY_SAFE)


def decode_key(segment: str) -> str:
    return urllib.parse.unquote(segment)


@dataclass(frozen=True)
class EntryInfo:
    """A complete entry found in a store."""

    key: str
    created_ns: int
    size: int


def new_entry_record(
    key: str, archive_sha256: str, archive_bytes: int, source_bytes: int, paths: Sequence[str]
) -> dict[str, Any]:
    return {
        **record_header(ENTRY_SCHEMA, key),
        "archive": {"name": ARCHIVE_NAME, "sha256": archive_sha256, "bytes": archive_bytes},
        "source_bytes": source_bytes,
        "paths": list(paths),
        "key_manifest": None,
    }


def record_header(schema: str, key: str) -> dict[str, Any]:
    """The fields every ``entry.json`` starts with: its schema, the key, when, by which version."""
    from pyo3_cache import __version__

    now = time.time_ns()
    return {
        "schema": schema,
        "key": key,
        "created": datetime.fromtimestamp(now / 1e9, tz=timezone.utc).isoformat(),
        "created_ns": now,
        "tool_version": __version__,
    }


def load_record(data: bytes, key: str) -> Any:
    """An ``entry.json``'s JSON (of any shape); ``ArchiveError`` if it is not JSON."""
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArchiveError(f"entry {key!r} has an unreadable entry.json") from None


def parse_entry(data: bytes, key: str) -> dict[str, Any]:
    record = load_record(data, key)
    archive = record.get("archive") if isinstance(record, dict) else None
    if (
        not isinstance(record, dict)
        or record.get("schema") != ENTRY_SCHEMA
        or not isinstance(archive, dict)
        or not isinstance(archive.get("sha256"), str)
    ):
        raise ArchiveError(f"entry {key!r} has an entry.json of another shape or version")
    return record


# --- the store interface ------------------------------------------------------


class Store(ABC):
    """Where entries live. Methods raise ``StoreError`` or ``OSError`` on trouble."""

    spec: str

    @abstractmethod
    def list_entries(self, prefix: str) -> list[EntryInfo]:
        """Complete entries whose key starts with ``prefix``."""

    @abstractmethod
    def has(self, key: str) -> bool: ...

    @abstractmethod
    def read_record(self, key: str) -> bytes:
        """The raw ``entry.json`` of ``key``."""

    @abstractmethod
    def fetch_archive(self, key: str, record: Mapping[str, Any], workdir: Path) -> Path:
        """A local path to the entry's archive (may be inside the store)."""

    @abstractmethod
    def read_key_manifest(self, key: str, record: Mapping[str, Any]) -> bytes | None: ...

    @abstractmethod
    def staging_dir(self) -> Path:
        """Where to write an archive before ``put`` (same filesystem when it helps)."""

    @abstractmethod
    def put(
        self, key: str, archive: Path, record: dict[str, Any], key_manifest: bytes | None
    ) -> bool:
        """Publish one entry atomically. False if another saver published ``key`` first."""

    def touch(self, key: str) -> None:  # noqa: B027 - optional for a store
        """Mark ``key`` as just used (for LRU eviction)."""

    @abstractmethod
    def remove(self, key: str) -> None: ...

    def evict(self, max_bytes: int, keep: str) -> list[str]:
        """Drop least recently used entries until the store fits ``max_bytes``."""
        return []


# --- sizes ------------------------------------------------------------------------

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``500M``, ``10G``, ``1.5GiB``, ``123`` (bytes) → bytes."""
    match = _SIZE.match(text)
    if not match:
        raise StoreError(f"cannot read size {text!r}; use e.g. 500M or 10G")
    number, unit = match.groups()
    factor = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}[unit.lower()]
    return int(float(number) * factor)
