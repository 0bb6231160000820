"""Cache stores (a local folder or S3) and the save/restore flows over them.

A store holds *entries*, one per key. An entry is three things side by side:

- ``archive.tar.zst`` — the cached folders (see ``archive.py``);
- ``key-manifest.json`` — the key manifest the caller gave (opaque here), so a
  partial hit can be explained with ``key-diff``;
- ``entry.json`` — our record: key, creation time, the archive's sha256 and
  size, the anchored paths. It is written last: an entry without it does not
  exist, so readers never see half an entry.

Stores:

``dir:PATH``
    Entries are folders under ``PATH/entries``. A save is staged in
    ``PATH/tmp`` and renamed into place in one step; when two jobs save one
    key at once the second rename fails and that job drops its copy, so one
    whole entry remains. A size cap evicts the least recently used entries
    (a restore marks an entry used).
``s3://BUCKET/PREFIX``
    Any S3-compatible service via boto3; credentials come from the usual AWS
    environment and config files, the endpoint from ``--endpoint-url`` or
    ``AWS_ENDPOINT_URL``. The archive is uploaded under a unique name
    (multipart above 64 MiB, completed atomically by S3), then ``entry.json``
    is created with ``If-None-Match: *`` so only the first of two concurrent
    savers publishes its entry. Expiry is left to the bucket's lifecycle rules.

Cache trouble never fails a build: ``save_cache`` and ``restore_cache`` turn
store and disk failures into warnings in their result (a miss, or "not
saved"). Only a store spec that names no known store is an error.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
import urllib.parse
import uuid
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import ArchiveRoot, create_archive, extract_archive, sha256_of
from pyo3_cache.errors import ArchiveError, StoreError

ENTRY_SCHEMA = "pyo3-cache-entry/1"
ARCHIVE_NAME = "archive.tar.zst"
ENTRY_NAME = "entry.json"
KEY_MANIFEST_NAME = "key-manifest.json"
MAX_KEY_LENGTH = 512
DEFAULT_MAX_SIZE = 10 << 30  # what actions/cache gives a repository
_KEY_SAFE = "-_.~+=@"
_MULTIPART_THRESHOLD = 64 << 20


# --- keys and entries ---------------------------------------------------------


def check_key(key: str, what: str = "key") -> str:
    if not key or len(key) > MAX_KEY_LENGTH:
        raise StoreError(f"cache {what} must be 1 to {MAX_KEY_LENGTH} characters long")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in key) or "," in key:
        raise StoreError(f"cache {what} {key!r} contains a control character or a comma")
    return key


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
    from pyo3_cache import __version__

    now = time.time_ns()
    return {
        "schema": ENTRY_SCHEMA,
        "key": key,
        "created": datetime.fromtimestamp(now / 1e9, tz=timezone.utc).isoformat(),
        "created_ns": now,
        "tool_version": __version__,
        "archive": {"name": ARCHIVE_NAME, "sha256": archive_sha256, "bytes": archive_bytes},
        "source_bytes": source_bytes,
        "paths": list(paths),
        "key_manifest": None,
    }


def _parse_entry(data: bytes, key: str) -> dict[str, Any]:
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ArchiveError(f"entry {key!r} has an unreadable entry.json") from None
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


def open_store(spec: str, endpoint_url: str | None = None) -> Store:
    """``dir:PATH`` or ``s3://BUCKET/PREFIX``. Raises ``StoreError`` for anything else."""
    if spec.startswith("dir:"):
        path = spec[len("dir:") :]
        if not path:
            raise StoreError("store 'dir:' needs a path, e.g. dir:.cache/pyo3-cache")
        return DirStore(Path(path).expanduser())
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise StoreError(f"store {spec!r} names no bucket; use s3://BUCKET/PREFIX")
        return S3Store(bucket, prefix, endpoint_url=endpoint_url)
    scheme = spec.split(":", 1)[0] if ":" in spec else spec
    raise StoreError(
        f"unknown cache store {scheme!r} in {spec!r}; use dir:PATH or s3://BUCKET/PREFIX"
    )


# --- dir: store ---------------------------------------------------------------


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
        return self.tmp

    def put(
        self, key: str, archive: Path, record: dict[str, Any], key_manifest: bytes | None
    ) -> bool:
        self._ensure()
        stage = Path(tempfile.mkdtemp(prefix=f"{encode_key(key)[:80]}.", dir=self.tmp))
        try:
            os.replace(archive, stage / ARCHIVE_NAME)
            if key_manifest is not None:
                (stage / KEY_MANIFEST_NAME).write_bytes(key_manifest)
                record["key_manifest"] = KEY_MANIFEST_NAME
            (stage / ENTRY_NAME).write_text(json.dumps(record, indent=2) + "\n")
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
        finally:
            if stage.exists():
                shutil.rmtree(stage, ignore_errors=True)

    def touch(self, key: str) -> None:
        with contextlib.suppress(OSError):
            (self._dir(key) / "last-used").touch()

    def remove(self, key: str) -> None:
        path = self._dir(key)
        if not path.exists():
            return
        self._ensure()
        # Rename first: a reader never sees an entry with its archive half-deleted.
        doomed = Path(tempfile.mkdtemp(prefix="evicted.", dir=self.tmp)) / "entry"
        os.rename(path, doomed)
        shutil.rmtree(doomed.parent, ignore_errors=True)

    def _last_used(self, key: str) -> int:
        for name in ("last-used", ENTRY_NAME):
            with contextlib.suppress(OSError):
                return (self._dir(key) / name).stat().st_mtime_ns
        return 0

    def evict(self, max_bytes: int, keep: str) -> list[str]:
        entries = self.list_entries("")
        total = sum(e.size for e in entries)
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


# --- s3:// store --------------------------------------------------------------


class S3Store(Store):
    """Entries as objects ``PREFIX/<key>/{entry.json, archive-*.tar.zst, key-manifest-*.json}``."""

    def __init__(self, bucket: str, prefix: str, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = (prefix.strip("/") + "/") if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
        self.spec = f"s3://{bucket}/{self.prefix}"
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            try:
                import boto3
                from botocore.config import Config
            except ImportError:
                raise StoreError("s3:// stores need boto3: pip install 'pyo3-cache[s3]'") from None
            config = Config(
                connect_timeout=5,
                read_timeout=60,
                retries={"max_attempts": 2, "mode": "standard"},
                s3={"addressing_style": "path"} if self.endpoint_url else None,
            )
            self._client = boto3.client("s3", endpoint_url=self.endpoint_url, config=config)
        return self._client

    def _folder(self, key: str) -> str:
        return f"{self.prefix}{encode_key(key)}/"

    @contextlib.contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            from botocore.exceptions import BotoCoreError, ClientError
        except ImportError:
            raise StoreError("s3:// stores need boto3: pip install 'pyo3-cache[s3]'") from None
        try:
            yield
        except ClientError as exc:
            err = exc.response.get("Error", {})
            raise StoreError(
                f"S3 {doing} failed on {self.spec}: {err.get('Code', '?')} "
                f"{err.get('Message', '')}".strip()
            ) from None
        except BotoCoreError as exc:
            raise StoreError(f"S3 {doing} failed on {self.spec}: {exc}") from None

    def list_entries(self, prefix: str) -> list[EntryInfo]:
        found = []
        start = self.prefix + encode_key(prefix)
        with self._errors("listing"):
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=start):
                for obj in page.get("Contents", []):
                    name = obj["Key"][len(self.prefix) :]
                    segment, _, leaf = name.partition("/")
                    if leaf == ENTRY_NAME:
                        created = int(obj["LastModified"].timestamp() * 1e9)
                        found.append(EntryInfo(decode_key(segment), created, int(obj["Size"])))
        return found

    def has(self, key: str) -> bool:
        from botocore.exceptions import ClientError

        with self._errors("lookup"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self._folder(key) + ENTRY_NAME)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                    return False
                raise
        return True

    def read_record(self, key: str) -> bytes:
        with self._errors("download"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._folder(key) + ENTRY_NAME)
            data: bytes = body["Body"].read()
        return data

    def fetch_archive(self, key: str, record: Mapping[str, Any], workdir: Path) -> Path:
        name = str(record["archive"].get("object", ""))
        if not name or "/" in name:
            raise ArchiveError(f"entry {key!r} names no archive object")
        dest = workdir / ARCHIVE_NAME
        with self._errors("download"):
            self.client.download_file(self.bucket, self._folder(key) + name, str(dest))
        return dest

    def read_key_manifest(self, key: str, record: Mapping[str, Any]) -> bytes | None:
        name = record.get("key_manifest")
        if not isinstance(name, str) or not name or "/" in name:
            return None
        with self._errors("download"):
            body = self.client.get_object(Bucket=self.bucket, Key=self._folder(key) + name)
            data: bytes = body["Body"].read()
        return data

    def staging_dir(self) -> Path:
        return Path(tempfile.gettempdir())

    def put(
        self, key: str, archive: Path, record: dict[str, Any], key_manifest: bytes | None
    ) -> bool:
        from boto3.s3.transfer import TransferConfig  # type: ignore[import-untyped,unused-ignore]
        from botocore.exceptions import ClientError

        folder = self._folder(key)
        unique = uuid.uuid4().hex
        archive_object = f"archive-{unique}.tar.zst"
        record["archive"]["object"] = archive_object
        uploaded = [folder + archive_object]
        transfer = TransferConfig(
            multipart_threshold=_MULTIPART_THRESHOLD, multipart_chunksize=_MULTIPART_THRESHOLD
        )
        with self._errors("upload"):
            self.client.upload_file(
                str(archive), self.bucket, folder + archive_object, Config=transfer
            )
            if key_manifest is not None:
                manifest_object = f"key-manifest-{unique}.json"
                self.client.put_object(
                    Bucket=self.bucket, Key=folder + manifest_object, Body=key_manifest
                )
                uploaded.append(folder + manifest_object)
                record["key_manifest"] = manifest_object
            body = (json.dumps(record, indent=2) + "\n").encode()
            try:
                # Create-only: of two concurrent savers, one publishes its entry.
                self.client.put_object(
                    Bucket=self.bucket, Key=folder + ENTRY_NAME, Body=body, IfNoneMatch="*"
                )
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code")
                if code in ("PreconditionFailed", "ConditionalRequestConflict", "412", "409"):
                    self._delete(uploaded)
                    return False
                raise
        return True

    def _delete(self, names: Sequence[str]) -> None:
        with self._errors("delete"):
            for name in names:
                self.client.delete_object(Bucket=self.bucket, Key=name)

    def remove(self, key: str) -> None:
        folder = self._folder(key)
        with self._errors("delete"):
            # entry.json first: the entry disappears before its parts do.
            self.client.delete_object(Bucket=self.bucket, Key=folder + ENTRY_NAME)
            paginator = self.client.get_paginator("list_objects_v2")
            names = [
                obj["Key"]
                for page in paginator.paginate(Bucket=self.bucket, Prefix=folder)
                for obj in page.get("Contents", [])
            ]
        self._delete(names)


# --- what to cache --------------------------------------------------------------

# rust-cache's default set: the target dir, the registry index and .crate
# files, git databases. registry/src is left out: cargo re-extracts it from
# the .crate files, and registry crates are fresh by version, not by mtime.
DEFAULT_CARGO_HOME_PATHS = ("registry/index", "registry/cache", "git/db")


@dataclass(frozen=True)
class Places:
    """This machine's folders behind each anchor."""

    target: Path
    cargo_home: Path
    workspace: Path

    def destinations(self) -> dict[str, Path]:
        return {"target": self.target, "cargo-home": self.cargo_home, "workspace": self.workspace}


def _under(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


def anchored_roots(
    places: Places, paths: Sequence[str | os.PathLike[str]] = ()
) -> list[ArchiveRoot]:
    """The default paths (or ``paths``), each named relative to its anchor.

    A path must lie in the target dir, ``CARGO_HOME`` or the workspace: those
    are the only places a restore on another machine can find again.
    """
    if not paths:
        roots = [ArchiveRoot("target", places.target)]
        roots += [
            ArchiveRoot(f"cargo-home/{sub}", places.cargo_home / sub)
            for sub in DEFAULT_CARGO_HOME_PATHS
        ]
        return roots
    roots = []
    for raw in paths:
        path = Path(os.path.abspath(os.fspath(raw)))
        for anchor, base in (
            ("target", places.target),
            ("cargo-home", places.cargo_home),
            ("workspace", places.workspace),
        ):
            rel = _under(path, Path(os.path.abspath(base)))
            if rel is not None:
                roots.append(ArchiveRoot(anchor if rel == "." else f"{anchor}/{rel}", path))
                break
        else:
            raise StoreError(
                f"--path {raw} is outside the target dir, CARGO_HOME and the workspace; "
                "only paths under those can be restored elsewhere"
            )
    return roots


# --- save -----------------------------------------------------------------------


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
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "saved": self.saved,
            "reason": self.reason,
            "key": self.key,
            "store": self.store,
            "archive_bytes": self.archive_bytes,
            "source_bytes": self.source_bytes,
            "sha256": self.sha256,
            "seconds": round(self.seconds, 3),
            "paths": self.paths,
            "evicted": self.evicted,
            "warnings": self.warnings,
        }


def save_cache(
    store: Store,
    key: str,
    roots: Sequence[ArchiveRoot],
    key_manifest: bytes | None = None,
    max_bytes: int | None = DEFAULT_MAX_SIZE,
) -> SaveResult:
    """Archive ``roots`` and publish them as ``key``; never raises for cache trouble."""
    check_key(key)
    started = time.monotonic()
    result = SaveResult(False, "error", key, store.spec, paths=[r.anchor for r in roots])
    staged: Path | None = None
    try:
        if store.has(key):
            result.reason = "exact-hit"
            return result
        fd, name = tempfile.mkstemp(prefix="save.", suffix=".tar.zst", dir=store.staging_dir())
        os.close(fd)
        staged = Path(name)
        stats = create_archive(roots, staged)
        result.archive_bytes = stats.archive_bytes
        result.source_bytes = stats.source_bytes
        result.sha256 = stats.sha256
        for skipped in stats.skipped:
            result.warnings.append(f"not cached: {skipped}")
        record = new_entry_record(
            key, stats.sha256, stats.archive_bytes, stats.source_bytes, result.paths
        )
        if store.put(key, staged, record, key_manifest):
            result.saved, result.reason = True, "saved"
            if max_bytes is not None:
                result.evicted = store.evict(max_bytes, keep=key)
        else:
            result.reason = "exists"
    except (StoreError, ArchiveError) as exc:
        result.warnings.append(f"cache not saved: {exc}")
    except OSError as exc:
        result.warnings.append(f"cache not saved: {_os_reason(exc)}")
    finally:
        if staged is not None:
            with contextlib.suppress(OSError):
                staged.unlink()
        result.seconds = time.monotonic() - started
    return result


def _os_reason(exc: OSError) -> str:
    where = f" ({exc.filename})" if exc.filename else ""
    return f"{exc.strerror or exc}{where}"


# --- restore ----------------------------------------------------------------------


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
        result.warnings.append(f"cache not restored: {_os_reason(exc)}")
    result.seconds = time.monotonic() - started
    return result


def _restore_one(store: Store, key: str, places: Places, work: Path, result: RestoreResult) -> bool:
    try:
        record = _parse_entry(store.read_record(key), key)
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
        record = _parse_entry(store.read_record(key), key)
        data = store.read_key_manifest(key, record)
        if data is None:
            return
        manifest_out.parent.mkdir(parents=True, exist_ok=True)
        manifest_out.write_bytes(data)
        result.manifest = str(manifest_out)
    except (StoreError, ArchiveError) as exc:
        result.warnings.append(f"key manifest not restored: {exc}")
    except OSError as exc:
        result.warnings.append(f"key manifest not restored: {_os_reason(exc)}")


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
