"""``s3://BUCKET/PREFIX``: entries as objects in any S3-compatible service.

Uses boto3; credentials come from the usual AWS environment and config
files, the endpoint from ``--endpoint-url`` or ``AWS_ENDPOINT_URL``. The
archive is uploaded under a unique name (multipart above 64 MiB, completed
atomically by S3), then ``entry.json`` is created with ``If-None-Match: *`` so
only the first of two concurrent savers publishes its entry. Expiry is left to
the bucket's lifecycle rules.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from pyo3_cache.cache.store import (
    ARCHIVE_NAME,
    ENTRY_NAME,
    EntryInfo,
    Store,
    decode_key,
    encode_key,
)
from pyo3_cache.errors import ArchiveError, StoreError

_MULTIPART_THRESHOLD = 64 << 20


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
