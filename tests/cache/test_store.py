"""The store interface, the dir: store and the save/restore CLI on it (S3: test_s3_store.py)."""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.dir_store import DirStore
from pyo3_cache.cache.places import Places, anchored_roots, open_store
from pyo3_cache.cache.restore import restore_cache
from pyo3_cache.cache.save import save_cache
from pyo3_cache.cache.store import encode_key, parse_size
from pyo3_cache.errors import StoreError
from tests.cache.cargo_dirs import cargo_target_dir
from tests.conftest import assert_one_line_error, run_cli


def _places(base: Path) -> Places:
    return Places(target=base / "target", cargo_home=base / "cargo-home", workspace=base)


def _fill(places: Places, tag: str = "v1") -> None:
    deps = cargo_target_dir(places.target) / "release" / "deps"
    deps.mkdir(parents=True, exist_ok=True)
    (deps / "libdep-0123456789abcdef.rlib").write_text(f"rlib {tag}")
    index = places.cargo_home / "registry" / "index"
    index.mkdir(parents=True, exist_ok=True)
    (index / "config.json").write_text(tag)
    src = places.cargo_home / "registry" / "src"
    src.mkdir(parents=True, exist_ok=True)
    (src / "extracted.rs").write_text("not cached")


def _wipe(places: Places) -> None:
    shutil.rmtree(places.target, ignore_errors=True)
    shutil.rmtree(places.cargo_home, ignore_errors=True)


def _save(store: DirStore, places: Places, key: str, **kw: object) -> None:
    result = save_cache(store, key, anchored_roots(places), **kw)  # type: ignore[arg-type]
    assert result.saved, result.warnings


def test_save_then_restore_brings_back_target_and_cargo_caches(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    _fill(places)
    store = DirStore(tmp_path / "store")
    saved = save_cache(store, "linux-abc", anchored_roots(places), b'{"parts": []}')
    assert saved.saved and saved.reason == "saved"
    assert saved.paths == [
        "target",
        "cargo-home/registry/index",
        "cargo-home/registry/cache",
        "cargo-home/git/db",
    ]
    _wipe(places)
    out = tmp_path / "restored-manifest.json"
    result = restore_cache(store, "linux-abc", places, manifest_out=out)
    assert (result.hit, result.exact, result.matched_key) == (True, True, "linux-abc")
    assert (places.target / "release/deps/libdep-0123456789abcdef.rlib").read_text() == "rlib v1"
    assert (places.cargo_home / "registry/index/config.json").read_text() == "v1"
    assert not (places.cargo_home / "registry/src").exists(), "registry/src is not cached"
    assert result.manifest == str(out) and json.loads(out.read_text()) == {"parts": []}
    record = json.loads((store.entries / "linux-abc" / "entry.json").read_text())
    assert record["archive"]["sha256"] == saved.sha256
    assert str(tmp_path) not in json.dumps(record)


def test_exact_hit_skips_the_save(tmp_path: Path) -> None:
    places = _places(tmp_path)
    _fill(places)
    store = DirStore(tmp_path / "store")
    _save(store, places, "k")
    before = (store.entries / "k" / "archive.tar.zst").stat().st_mtime_ns
    _fill(places, "v2")
    again = save_cache(store, "k", anchored_roots(places))
    assert (again.saved, again.reason) == (False, "exact-hit")
    assert (store.entries / "k" / "archive.tar.zst").stat().st_mtime_ns == before


def test_restore_keys_match_by_prefix_newest_first(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    store = DirStore(tmp_path / "store")
    for key, tag in (("linux-old", "old"), ("linux-new", "new"), ("mac-newest", "mac")):
        _fill(places, tag)
        _save(store, places, key)
        time.sleep(0.01)
    _wipe(places)
    result = restore_cache(store, "linux-missing", places, ["windows-", "linux-"])
    assert (result.hit, result.exact, result.matched_key) == (True, False, "linux-new")
    assert (places.cargo_home / "registry/index/config.json").read_text() == "new"


def test_miss_restores_nothing(tmp_path: Path) -> None:
    places = _places(tmp_path)
    result = restore_cache(DirStore(tmp_path / "store"), "k", places, ["k-"])
    assert (result.hit, result.matched_key, result.warnings) == (False, None, [])
    assert not places.target.exists()


def _corrupt(store: DirStore, key: str) -> None:
    archive = store.entries / encode_key(key) / "archive.tar.zst"
    data = bytearray(archive.read_bytes())
    data[len(data) // 2] ^= 0xFF
    archive.write_bytes(bytes(data))


def test_corrupt_entry_is_reported_skipped_and_the_next_candidate_used(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    store = DirStore(tmp_path / "store")
    _fill(places, "older")
    _save(store, places, "key-1")
    time.sleep(0.01)
    _fill(places, "newer")
    _save(store, places, "key-2")
    _corrupt(store, "key-2")
    _wipe(places)
    result = restore_cache(store, "key-3", places, ["key-"])
    assert result.corrupt == ["key-2"]
    assert any("sha256" in w and "key-2" in w for w in result.warnings)
    assert (result.hit, result.matched_key) == (True, "key-1")
    assert (places.cargo_home / "registry/index/config.json").read_text() == "older"
    assert not store.has("key-2"), "a corrupt entry is dropped so the next save replaces it"


def test_corrupt_only_entry_is_a_miss_via_cli(tmp_path: Path) -> None:
    job = _project(tmp_path)
    places = Places(job / "target", tmp_path / "cargo-home", job)
    _fill(places)
    store = DirStore(tmp_path / "store")
    _save(store, places, "k", scope="default")  # the CLI's scope outside a git checkout
    _corrupt(store, "default/k")
    _wipe(places)
    result = run_cli(
        "restore", "--store", store.spec, "--key", "k", "--format", "json", **_in(job, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["hit"], data["corrupt"]) == (False, ["k"])
    assert "pyo3-cache: warning: skipped cache entry 'k'" in result.stderr
    assert not places.target.exists()


def _save_worker(store_root: str, base: str, key: str, tag: str) -> bool:
    places = _places(Path(base))
    _fill(places, tag)
    result = save_cache(DirStore(Path(store_root)), key, anchored_roots(places))
    return result.saved


def test_concurrent_saves_of_one_key_leave_one_whole_entry(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "store")
    jobs = [(str(store.root), str(tmp_path / f"job{i}"), "same-key", f"job{i}") for i in range(4)]
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        outcomes = pool.starmap(_save_worker, jobs)
    assert sum(outcomes) >= 1
    assert [p.name for p in store.entries.iterdir()] == ["same-key"]
    assert list(store.tmp.iterdir()) == [], "losers leave nothing behind"
    places = _places(tmp_path / "fresh")
    result = restore_cache(store, "same-key", places)
    assert result.hit and result.corrupt == []
    assert (places.cargo_home / "registry/index/config.json").read_text() in {
        f"job{i}" for i in range(4)
    }


def test_size_cap_evicts_least_recently_used(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    store = DirStore(tmp_path / "store")
    blob = places.target / "release" / "blob"
    for key in ("a", "b"):
        _fill(places, key)
        blob.write_bytes(os.urandom(100_000))
        _save(store, places, key, max_bytes=None)
        time.sleep(0.02)
    restore_cache(store, "a", _places(tmp_path / "reader"))  # a is now the most recent
    time.sleep(0.02)
    _fill(places, "c")
    blob.write_bytes(os.urandom(100_000))
    result = save_cache(store, "c", anchored_roots(places), max_bytes=250_000)
    assert result.saved
    assert result.evicted == ["b"]
    assert sorted(p.name for p in store.entries.iterdir()) == ["a", "c"]


def test_paths_outside_known_places_are_refused(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    with pytest.raises(StoreError, match="outside the target dir"):
        anchored_roots(places, [tmp_path / "elsewhere"])
    roots = anchored_roots(places, [places.target / "release", places.workspace / "vendor"])
    assert roots == [
        ArchiveRoot("target/release", places.target / "release"),
        ArchiveRoot("workspace/vendor", places.workspace / "vendor"),
    ]


@pytest.mark.parametrize(
    ("text", "value"), [("123", 123), ("500M", 500 << 20), ("10G", 10 << 30), ("1.5GiB", 3 << 29)]
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


def test_open_store_rejects_unknown_schemes() -> None:
    with pytest.raises(StoreError, match="unknown cache store 'gs'"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="needs a path"):
        open_store("dir:")


# --- the CLI ------------------------------------------------------------------------


def _project(tmp_path: Path) -> Path:
    job = tmp_path / "job"
    job.mkdir(parents=True, exist_ok=True)
    (job / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    return job


def _in(job: Path, tmp_path: Path) -> dict:  # type: ignore[type-arg]
    return {
        "cwd": job,
        "env": {"CARGO_HOME": str(tmp_path / "cargo-home"), "CARGO_TARGET_DIR": ""},
    }


def test_cli_save_restore_round_trip_with_manifest(tmp_path: Path) -> None:
    job = _project(tmp_path)
    places = Places(job / "target", tmp_path / "cargo-home", job)
    _fill(places)
    manifest = tmp_path / "key.json"
    manifest.write_text('{"key": "k1", "parts": {"lock": "abc"}}')
    store = f"dir:{tmp_path / 'store'}"
    saved = run_cli(
        "save", "--store", store, "--key", "k1", "--manifest", str(manifest), "--format", "json",
        **_in(job, tmp_path),
    )  # fmt: skip
    assert saved.returncode == 0, saved.stderr
    assert json.loads(saved.stdout)["saved"] is True
    again = run_cli("save", "--store", store, "--key", "k1", **_in(job, tmp_path))
    assert again.stdout.strip() == "not saved (exact-hit): k1"
    _wipe(places)
    out = tmp_path / "restored.json"
    restored = run_cli(
        "restore", "--store", store, "--key", "k2", "--restore-key", "k", "--manifest-out",
        str(out), "--format", "json", **_in(job, tmp_path),
    )  # fmt: skip
    assert restored.returncode == 0, restored.stderr
    data = json.loads(restored.stdout)
    assert {k: data[k] for k in ("hit", "exact", "matched_key", "manifest")} == {
        "hit": True,
        "exact": False,
        "matched_key": "k1",
        "manifest": str(out),
    }
    assert json.loads(out.read_text())["parts"] == {"lock": "abc"}
    assert (places.target / "release/deps/libdep-0123456789abcdef.rlib").exists()


def test_cli_restore_text_output_says_miss(tmp_path: Path) -> None:
    job = _project(tmp_path)
    result = run_cli(
        "restore", "--store", f"dir:{tmp_path / 's'}", "--key", "k", **_in(job, tmp_path)
    )
    assert (result.returncode, result.stdout.strip()) == (0, "cache miss: k")


@pytest.mark.parametrize("command", ["save", "restore"])
def test_cli_unknown_store_scheme_is_a_one_line_error(tmp_path: Path, command: str) -> None:
    job = _project(tmp_path)
    result = run_cli(command, "--store", "ftp://x/y", "--key", "k", **_in(job, tmp_path))
    assert_one_line_error(result, 9, "unknown cache store 'ftp'")


def test_cli_bad_key_is_a_one_line_error(tmp_path: Path) -> None:
    job = _project(tmp_path)
    result = run_cli("save", "--store", "dir:s", "--key", "a,b", **_in(job, tmp_path))
    assert_one_line_error(result, 9, "comma")


def test_cli_unreadable_manifest_is_a_one_line_error(tmp_path: Path) -> None:
    job = _project(tmp_path)
    (tmp_path / "m.json").write_text("{not json")
    result = run_cli(
        "save", "--store", "dir:s", "--key", "k", "--manifest", str(tmp_path / "m.json"),
        **_in(job, tmp_path),
    )  # fmt: skip
    assert_one_line_error(result, 7, "is not JSON")


def test_cli_unwritable_store_warns_and_does_not_fail(tmp_path: Path) -> None:
    job = _project(tmp_path)
    _fill(Places(job / "target", tmp_path / "cargo-home", job))
    blocker = tmp_path / "store-is-a-file"
    blocker.write_text("in the way")
    for command in ("save", "restore"):
        result = run_cli(
            command, "--store", f"dir:{blocker}", "--key", "k", "--format", "json",
            **_in(job, tmp_path),
        )  # fmt: skip
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert data.get("saved", data.get("hit")) is False
        assert "pyo3-cache: warning: cache not" in result.stderr
        assert "is a file, not a folder" in result.stderr or command == "restore"
    assert blocker.read_text() == "in the way"


def _mount_tmpfs(path: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    path.mkdir()
    proc = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)], capture_output=True
    )
    return proc.returncode == 0


@pytest.fixture
def tiny_disk(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A 256 KiB tmpfs: a real full disk (needs root and mount; skipped otherwise)."""
    mount = tmp_path / "tiny"
    if not _mount_tmpfs(mount, "size=256k"):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def _big_project(tmp_path: Path) -> Path:
    """A project whose target dir holds 2 MiB more than a tiny disk does."""
    job = _project(tmp_path)
    places = Places(job / "target", tmp_path / "cargo-home", job)
    _fill(places)
    (places.target / "release" / "big").write_bytes(os.urandom(2 << 20))
    return job


def _save_is_a_warning(store: str, why: str, job: Path, tmp_path: Path) -> None:
    """``save`` to ``store`` warns ``why``, saves nothing and still exits 0."""
    result = run_cli(
        "save", "--store", store, "--key", "k", "--format", "json", **_in(job, tmp_path)
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["saved"] is False
    assert why in result.stderr


def test_full_disk_on_save_warns_and_leaves_no_half_entry(tmp_path: Path, tiny_disk: Path) -> None:
    job = _big_project(tmp_path)
    _save_is_a_warning(f"dir:{tiny_disk}", "No space left on device", job, tmp_path)
    assert list((tiny_disk / "entries").iterdir()) == []
    assert list((tiny_disk / "tmp").iterdir()) == []


def test_full_disk_on_restore_warns_and_misses(tmp_path: Path, tiny_disk: Path) -> None:
    job = _big_project(tmp_path)
    store = f"dir:{tmp_path / 'store'}"
    assert run_cli("save", "--store", store, "--key", "k", **_in(job, tmp_path)).returncode == 0
    result = run_cli(
        "restore", "--store", store, "--key", "k", "--target-dir", str(tiny_disk / "target"),
        "--format", "json", **_in(job, tmp_path),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["hit"] is False
    assert "No space left on device" in result.stderr
    leftovers = [p.name for p in (tiny_disk / "target").rglob("*") if p.name.startswith(".pyo3")]
    assert leftovers == [], "no half-written file stays behind"


def test_read_only_store_warns_and_does_not_fail(tmp_path: Path) -> None:
    mount = tmp_path / "ro"
    if not _mount_tmpfs(mount, "size=1m,ro"):
        pytest.skip("cannot mount a read-only tmpfs here (needs root)")
    try:
        job = _project(tmp_path)
        _fill(Places(job / "target", tmp_path / "cargo-home", job))
        _save_is_a_warning(f"dir:{mount}/store", "Read-only file system", job, tmp_path)
    finally:
        subprocess.run(["umount", str(mount)], check=False)


# --- issue 18: what an entry may write, scopes, leftovers, the locked registry -------------


@pytest.mark.parametrize(
    ("rel", "why"),
    [
        (".", "is the workspace itself"),
        (".git/hooks", "is in .git or .cargo"),
        (".cargo", "is in .git or .cargo"),
        ("crate", "holds a Cargo.toml"),
        ("cargo-home/bin", "outside its registry/ and git/ caches"),
        ("cargo-home", "outside its registry/ and git/ caches"),
    ],
)
def test_an_entry_may_never_hold_sources_git_or_cargos_bin(
    tmp_path: Path, rel: str, why: str
) -> None:
    job = tmp_path / "job"
    places = Places(job / "target", job / "cargo-home", job)
    (job / "crate").mkdir(parents=True)
    (job / "crate" / "Cargo.toml").write_text("[package]\n")
    with pytest.raises(StoreError, match=why):
        anchored_roots(places, [job / rel])


def _filled_with_gen(tmp_path: Path, name: str, text: str) -> tuple[Places, Path]:
    """A filled job whose workspace has a folder ``gen`` (generated files) holding ``name``."""
    places = _places(tmp_path / "job")
    _fill(places)
    gen = places.workspace / "gen"
    gen.mkdir()
    (gen / name).write_text(text)
    return places, gen


def test_a_multi_path_entry_restores_whole_on_a_fresh_checkout(tmp_path: Path) -> None:
    places, gen = _filled_with_gen(tmp_path, "bindings.py", "# generated")
    store = DirStore(tmp_path / "store")
    roots = anchored_roots(places, [places.target, gen])
    assert save_cache(store, "k", roots).saved
    shutil.rmtree(places.target)
    shutil.rmtree(gen)
    result = restore_cache(store, "k", places, roots=roots)
    assert result.hit, result.warnings
    assert (gen / "bindings.py").read_text() == "# generated"
    assert (places.target / "release" / "deps" / "libdep-0123456789abcdef.rlib").is_file()
    assert not list(places.workspace.glob(".pyo3-cache-restore-*"))


def test_an_entry_holding_more_than_this_restore_writes_is_skipped_and_kept(
    tmp_path: Path,
) -> None:
    places, gen = _filled_with_gen(tmp_path, "x", "x")
    store = DirStore(tmp_path / "store")
    assert save_cache(store, "k", anchored_roots(places, [places.target, gen])).saved
    shutil.rmtree(gen)
    result = restore_cache(store, "k", places)  # the default paths: no workspace/gen
    assert not result.hit and result.corrupt == []
    assert "holds workspace/gen, which this restore does not write" in result.warnings[0]
    assert store.has("k") and not gen.exists()


def test_a_target_dir_cargo_did_not_make_is_neither_saved_nor_restored_into(
    tmp_path: Path,
) -> None:
    places = _places(tmp_path / "job")
    _fill(places)
    store = DirStore(tmp_path / "store")
    _save(store, places, "k")
    (places.target / "CACHEDIR.TAG").unlink()
    saved = save_cache(store, "k2", anchored_roots(places))
    assert not saved.saved and "has no cargo CACHEDIR.TAG" in saved.warnings[0]
    (places.target / "release" / "deps" / "libdep-0123456789abcdef.rlib").write_text("mine")
    restored = restore_cache(store, "k", places)
    assert not restored.hit and "has no cargo CACHEDIR.TAG" in restored.warnings[0]
    rlib = places.target / "release" / "deps" / "libdep-0123456789abcdef.rlib"
    assert rlib.read_text() == "mine"


def test_a_pull_requests_entry_never_wins_a_main_restore(tmp_path: Path) -> None:
    store = DirStore(tmp_path / "store")
    main, pr = _places(tmp_path / "main"), _places(tmp_path / "pr")
    _fill(main, "main")
    assert save_cache(store, "v1-a", anchored_roots(main), scope="refs/heads/main").saved
    time.sleep(0.01)
    _fill(pr, "pr")
    assert save_cache(store, "v1-b", anchored_roots(pr), scope="refs/pull/7/merge").saved
    job = _places(tmp_path / "job")
    got = restore_cache(store, "v1-c", job, ["v1-"], scope="refs/heads/main")
    assert got.matched_key == "v1-a"
    assert (job.cargo_home / "registry" / "index" / "config.json").read_text() == "main"
    # the pull request sees its own entries first, then the base branch's
    pr_job = _places(tmp_path / "pr-job")
    got = restore_cache(
        store, "v1-a", pr_job, scope="refs/pull/8/merge", fallback_scopes=["refs/heads/main"]
    )
    assert got.hit and got.matched_key == "v1-a" and not got.exact


def test_a_killed_saves_archive_is_cleared_and_counts_against_the_cap(tmp_path: Path) -> None:
    from pyo3_cache.cache import leftovers

    places = _places(tmp_path / "job")
    _fill(places)
    store = DirStore(tmp_path / "store")
    _save(store, places, "old")
    child = subprocess.Popen(["true"])
    child.wait()
    name = leftovers.prefix("save").replace(f".{os.getpid()}.", f".{child.pid}.")
    (store.tmp / f"{name}x.tar.zst").write_bytes(os.urandom(1 << 20))
    running = store.tmp / f"{leftovers.prefix('save')}y.tar.zst"  # a save under way: ours
    running.write_bytes(os.urandom(1 << 20))
    # the cap leaves room for one entry, not for the running save's megabyte
    result = save_cache(store, "new", anchored_roots(places), max_bytes=1 << 20)
    assert result.saved
    assert [p.name for p in store.tmp.iterdir()] == [running.name]
    assert result.evicted == ["old"]


def test_save_keeps_only_the_locked_registry_files(tmp_path: Path) -> None:
    places = _places(tmp_path / "job")
    reg = "index.crates.io-1949cf8c6b5b557f"
    cache = places.cargo_home / "registry" / "cache" / reg
    index = places.cargo_home / "registry" / "index" / reg
    cache.mkdir(parents=True)
    for name in ("serde-1.0.1.crate", "serde-1.0.0.crate", "other-2.0.0.crate"):
        (cache / name).write_bytes(b"crate")
    for rel in ("config.json", ".cache/se/rd/serde", ".cache/ot/he/other"):
        (index / rel).parent.mkdir(parents=True, exist_ok=True)
        (index / rel).write_text("entry")
    store = DirStore(tmp_path / "store")
    roots = anchored_roots(places, locked={("serde", "1.0.1"), ("Hello", "0.1.0")})
    result = save_cache(store, "k", roots)
    assert result.kept == [
        "cargo-home/registry/index: 2 of 3 index files",
        "cargo-home/registry/cache: 1 of 3 .crate files",
    ]
    shutil.rmtree(places.cargo_home)
    assert restore_cache(store, "k", places).hit
    assert sorted(p.name for p in cache.iterdir()) == ["serde-1.0.1.crate"]
    assert sorted(p.relative_to(index).as_posix() for p in index.rglob("*") if p.is_file()) == [
        ".cache/se/rd/serde",
        "config.json",
    ]


def test_a_crates_target_dir_made_before_cargo_ran_is_cargos(tmp_path: Path) -> None:
    """`pin` writes target/pyo3-cache/ first on a fresh checkout; cargo then never tags it."""
    job = tmp_path / "job"
    places = Places(job / "target", job / "cargo-home", job)
    (job / "target" / "pyo3-cache").mkdir(parents=True)
    (job / "Cargo.toml").write_text('[package]\nname = "w"\nversion = "0.1.0"\n')
    (job / "target" / "release").mkdir()
    (job / "target" / "release" / "lib.rlib").write_text("rlib")
    store = DirStore(tmp_path / "store")
    assert save_cache(store, "k", anchored_roots(places)).saved
    (job / "target" / "src").mkdir()  # a source tree named target/ is not cargo's
    saved = save_cache(store, "k2", anchored_roots(places))
    assert not saved.saved and "is not a crate's target/" in saved.warnings[0]
