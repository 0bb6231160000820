"""The s3:// store against a moto server on 127.0.0.1 (see conftest.py)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import boto3

from pyo3_cache.cache.places import Places, anchored_roots, open_store
from pyo3_cache.cache.restore import restore_cache
from pyo3_cache.cache.s3_store import S3Store
from pyo3_cache.cache.save import save_cache
from tests.cache.cargo_dirs import cargo_target_dir
from tests.conftest import run_cli


def _places(base: Path) -> Places:
    return Places(target=base / "target", cargo_home=base / "cargo-home", workspace=base)


def _fill(places: Places, tag: str, extra: bytes = b"") -> None:
    deps = cargo_target_dir(places.target) / "release" / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    (deps / "libdep-0123456789abcdef.rlib").write_text(f"rlib {tag}")
    (deps / "blob").write_bytes(extra)
    index = places.cargo_home / "registry" / "index"
    index.mkdir(parents=True, exist_ok=True)
    (index / "config.json").write_text(tag)


def _objects(bucket: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    return sorted(o["Key"] for o in client.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_s3_save_then_restore(tmp_path: Path, bucket: str) -> None:
    store = open_store(f"s3://{bucket}/ci/cache")
    places = _places(tmp_path / "job")
    _fill(places, "v1")
    saved = save_cache(store, "linux-abc", anchored_roots(places), b'{"m": 1}')
    assert saved.saved, saved.warnings
    names = _objects(bucket)
    assert "ci/cache/linux-abc/entry.json" in names
    assert any(n.startswith("ci/cache/linux-abc/archive-") for n in names)
    again = save_cache(store, "linux-abc", anchored_roots(places))
    assert again.reason == "exact-hit"

    fresh = _places(tmp_path / "other-machine")
    out = tmp_path / "m.json"
    result = restore_cache(store, "linux-abc", fresh, manifest_out=out)
    assert (result.hit, result.exact, result.warnings) == (True, True, [])
    assert (fresh.cargo_home / "registry/index/config.json").read_text() == "v1"
    assert json.loads(out.read_text()) == {"m": 1}


def test_s3_large_archive_goes_up_in_parts(tmp_path: Path, bucket: str) -> None:
    store = open_store(f"s3://{bucket}/big")
    places = _places(tmp_path / "job")
    _fill(places, "big", os.urandom(70 << 20))  # above the 64 MiB multipart threshold
    saved = save_cache(store, "big", anchored_roots(places))
    assert saved.saved and saved.archive_bytes > 64 << 20
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    name = next(n for n in _objects(bucket) if "archive-" in n)
    assert "-" in client.head_object(Bucket=bucket, Key=name)["ETag"], "multipart ETag"
    result = restore_cache(store, "big", _places(tmp_path / "back"))
    assert result.hit and result.corrupt == []


def test_s3_restore_key_falls_back_to_newest_prefix_match(tmp_path: Path, bucket: str) -> None:
    store = open_store(f"s3://{bucket}/p")
    places = _places(tmp_path / "job")
    for key in ("linux-1", "linux-2"):
        _fill(places, key)
        assert save_cache(store, key, anchored_roots(places)).saved
        time.sleep(1.1)  # S3 LastModified has one-second resolution
    fresh = _places(tmp_path / "fresh")
    result = restore_cache(store, "linux-3", fresh, ["mac-", "linux-"])
    assert (result.hit, result.exact, result.matched_key) == (True, False, "linux-2")
    assert (fresh.cargo_home / "registry/index/config.json").read_text() == "linux-2"


def test_s3_concurrent_saves_leave_one_whole_entry(tmp_path: Path, bucket: str) -> None:
    outcomes: list[str] = []

    def save(i: int) -> None:
        places = _places(tmp_path / f"job{i}")
        _fill(places, f"job{i}", os.urandom(200_000))
        store = S3Store(bucket, "race")
        outcomes.append(save_cache(store, "same", anchored_roots(places)).reason)

    threads = [threading.Thread(target=save, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("saved") >= 1
    assert set(outcomes) <= {"saved", "exists", "exact-hit"}
    names = _objects(bucket)
    assert names.count("race/same/entry.json") == 1
    assert len([n for n in names if "archive-" in n]) == 1, "losers delete their uploads"
    fresh = _places(tmp_path / "fresh")
    result = restore_cache(open_store(f"s3://{bucket}/race"), "same", fresh)
    assert result.hit and result.corrupt == []


def test_s3_corrupt_object_is_reported_and_a_miss(tmp_path: Path, bucket: str) -> None:
    store = open_store(f"s3://{bucket}/c")
    places = _places(tmp_path / "job")
    _fill(places, "v1")
    assert save_cache(store, "k", anchored_roots(places)).saved
    client = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    name = next(n for n in _objects(bucket) if "archive-" in n)
    client.put_object(Bucket=bucket, Key=name, Body=b"garbage, not the archive")
    fresh = _places(tmp_path / "fresh")
    result = restore_cache(store, "k", fresh)
    assert (result.hit, result.corrupt) == (False, ["k"])
    assert any("sha256" in w for w in result.warnings)
    assert not fresh.target.exists()
    assert _objects(bucket) == [], "the corrupt entry is dropped"


def _job(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    job.mkdir()
    (job / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    _fill(Places(job / "target", tmp_path / "ch", job), "v")
    return job


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_cli_unreachable_endpoint_warns_and_misses(tmp_path: Path, s3_env: dict[str, str]) -> None:
    job = _job(tmp_path)
    env = dict(s3_env, CARGO_HOME=str(tmp_path / "ch"))
    url = f"http://127.0.0.1:{_closed_port()}"
    for command in ("save", "restore"):
        result = run_cli(
            command, "--store", "s3://bucket/p", "--key", "k", "--endpoint-url", url,
            "--format", "json", cwd=job, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data.get("saved", data.get("hit")) is False
        assert "pyo3-cache: warning: cache not" in result.stderr
        assert "Could not connect" in result.stderr
        assert "Traceback" not in result.stderr


def test_cli_missing_credentials_warns_and_misses(
    tmp_path: Path, s3_env: dict[str, str], bucket: str
) -> None:
    job = _job(tmp_path)
    env = {
        "CARGO_HOME": str(tmp_path / "ch"),
        "AWS_ACCESS_KEY_ID": "",
        "AWS_SECRET_ACCESS_KEY": "",
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
    }
    for command in ("save", "restore"):
        result = run_cli(
            command, "--store", f"s3://{bucket}/p", "--key", "k", "--format", "json",
            cwd=job, env=env,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        assert "Unable to locate credentials" in result.stderr
    assert _objects(bucket) == []


def test_cli_s3_round_trip(tmp_path: Path, s3_env: dict[str, str], bucket: str) -> None:
    job = _job(tmp_path)
    env = dict(s3_env, CARGO_HOME=str(tmp_path / "ch"))
    store = f"s3://{bucket}/cli"
    saved = run_cli("save", "--store", store, "--key", "k", "--format", "json", cwd=job, env=env)
    assert json.loads(saved.stdout)["saved"] is True, saved.stderr
    restored = run_cli(
        "restore", "--store", store, "--key", "k", "--format", "json", cwd=job, env=env
    )
    data = json.loads(restored.stdout)
    assert (data["hit"], data["exact"]) == (True, True), restored.stderr
