"""tree.py: the action's entry is the cached folders themselves, checked before they move in.

The round trip goes through GNU tar the way actions/cache runs it (``tar
--posix -cf … -P -C WORKSPACE --files-from …``, then ``tar -xf … -P -C
WORKSPACE`` on another machine), so what cargo's freshness needs (exact
mtimes, hard links) is checked against the real tool, not our model of it.
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.dir_store import DirStore
from pyo3_cache.cache.places import Places, anchored_roots
from pyo3_cache.cache.tree import TREE_NAME, restore_tree, stage_tree
from tests.cache.cargo_dirs import cargo_target_dir

NS = 1_600_000_000_123_456_789  # an mtime whose last digits a float would lose
KEY = "v1-pyo3-Linux-abc"


def _machine(root: Path) -> Places:
    places = Places(root / "ws" / "target", root / "cargo-home", root / "ws")
    places.workspace.mkdir(parents=True)
    return places


def _built(places: Places) -> Path:
    """A target dir as cargo leaves it: a unit's rlib, uplifted by a hard link; a registry."""
    target = cargo_target_dir(places.target)
    deps = target / "release" / "deps"
    deps.mkdir(parents=True)
    lib = deps / "libfoo-0123456789abcdef.rlib"
    lib.write_bytes(b"rlib" * 1000)
    os.utime(lib, ns=(NS, NS))
    os.link(lib, target / "release" / "libfoo.rlib")
    (target / "release" / "current").symlink_to("deps")
    cache = places.cargo_home / "registry" / "cache" / "index.crates.io-0"
    cache.mkdir(parents=True)
    for name in ("once_cell-1.21.3.crate", "serde-1.0.0.crate"):
        (cache / name).write_bytes(b"crate")
    return lib


def _roots(places: Places) -> list[ArchiveRoot]:
    return anchored_roots(
        places,
        [places.target, places.cargo_home / "registry" / "cache"],
        locked={("once_cell", "1.21.3")},
    )


def _through_gnu_tar(workspace: Path, entry: Path, other_workspace: Path) -> None:
    """What actions/cache does with the entry dir: tar it on one runner, untar on another."""
    archive = workspace.parent / "cache.tar"
    listing = workspace.parent / "manifest.txt"
    listing.write_text(entry.relative_to(workspace).as_posix() + "\n")
    subprocess.run(
        [
            "tar",
            "--posix",
            "-cf",
            str(archive),
            "-P",
            "-C",
            str(workspace),
            "--files-from",
            str(listing),
        ],
        check=True,
    )
    other_workspace.mkdir(parents=True, exist_ok=True)
    subprocess.run(["tar", "-xf", str(archive), "-P", "-C", str(other_workspace)], check=True)


def test_a_staged_tree_survives_gnu_tar_and_moves_into_place_exactly(tmp_path: Path) -> None:
    if shutil.which("tar") is None:
        pytest.skip("no tar here")
    one = _machine(tmp_path / "one")
    lib = _built(one)
    entry = one.workspace / ".pyo3-cache-entry"
    saved = stage_tree(DirStore(entry), KEY, _roots(one), key_manifest=b"{}")
    assert saved.saved, saved.warnings
    staged = next(entry.glob(f"entries/*/{TREE_NAME}/0/release/deps/{lib.name}"))
    assert staged.stat().st_ino == lib.stat().st_ino  # a hard link: no byte copied
    assert saved.kept == ["cargo-home/registry/cache: 1 of 2 .crate files"]

    two = _machine(tmp_path / "two")
    _through_gnu_tar(one.workspace, entry, two.workspace)
    store = DirStore(two.workspace / ".pyo3-cache-entry")
    restored = restore_tree(store, KEY, two, roots=_roots(two))
    assert restored.hit, restored.warnings
    moved = two.target / "release" / "deps" / lib.name
    st = moved.stat()
    assert st.st_mtime_ns == NS and st.st_atime_ns == NS  # prune's "used" starts at mtime
    assert moved.read_bytes() == lib.read_bytes()
    assert st.st_nlink == 2 and (two.target / "release" / "libfoo.rlib").stat().st_ino == st.st_ino
    assert os.readlink(two.target / "release" / "current") == "deps"
    crates = sorted(p.name for p in (two.cargo_home / "registry" / "cache").rglob("*.crate"))
    assert crates == ["once_cell-1.21.3.crate"]
    assert not any(store.entry_folder(KEY).glob(f"{TREE_NAME}/*"))  # moved, not copied


def test_a_folder_already_there_is_merged_and_what_is_in_the_way_replaced(tmp_path: Path) -> None:
    one = _machine(tmp_path / "one")
    _built(one)
    entry = one.workspace / ".pyo3-cache-entry"
    assert stage_tree(DirStore(entry), KEY, _roots(one)).saved
    two = _machine(tmp_path / "two")
    shutil.copytree(entry, two.workspace / entry.name, symlinks=True)
    index = two.cargo_home / "registry" / "cache" / "index.crates.io-0"
    index.mkdir(parents=True)
    (index / "mine.crate").write_bytes(b"the runner's")
    (index / "once_cell-1.21.3.crate").write_bytes(b"stale")
    restored = restore_tree(DirStore(two.workspace / entry.name), KEY, two, roots=_roots(two))
    assert restored.hit, restored.warnings
    assert (index / "mine.crate").read_bytes() == b"the runner's"
    assert (index / "once_cell-1.21.3.crate").read_bytes() == b"crate"


def test_links_out_of_the_cached_folders_are_not_staged(tmp_path: Path) -> None:
    one = _machine(tmp_path / "one")
    _built(one)
    (one.target / "release" / "escape").symlink_to(tmp_path)
    saved = stage_tree(DirStore(one.workspace / "e"), KEY, _roots(one))
    assert saved.saved
    assert saved.warnings == ["not cached: target/release/escape (symlink pointing outside)"]


def _staged(tmp_path: Path) -> tuple[Places, DirStore, Path]:
    """An entry staged on one machine and copied to the next, as actions/cache brings it."""
    one = _machine(tmp_path / "one")
    _built(one)
    stage_tree(DirStore(one.workspace / "e"), KEY, _roots(one))
    two = _machine(tmp_path / "two")
    shutil.copytree(one.workspace / "e", two.workspace / "e", symlinks=True)
    store = DirStore(two.workspace / "e")
    return two, store, store.entry_folder(KEY) / TREE_NAME / "0"


@pytest.mark.parametrize(
    ("damage", "said"),
    [
        (lambda top: (top / "release" / "out").symlink_to("../../../.."), "links out of target"),
        (lambda top: os.mkfifo(top / "release" / "pipe"), "is not a file or folder"),
        (lambda top: (top / "release" / "libfoo.rlib").unlink(), "is incomplete"),
        (lambda top: (top / "release" / "libfoo.rlib").write_bytes(b"x"), "is incomplete"),
        (lambda top: (top.parent / "7").mkdir(), "which it lists not"),
    ],
    ids=["link-out", "fifo", "file-missing", "file-cut-short", "unlisted-folder"],
)
def test_a_damaged_or_hostile_tree_moves_nothing(tmp_path: Path, damage, said: str) -> None:  # type: ignore[no-untyped-def]
    two, store, top = _staged(tmp_path)
    damage(top)
    restored = restore_tree(store, KEY, two, roots=_roots(two))
    assert not restored.hit and restored.corrupt == [KEY]
    assert any(said in warning for warning in restored.warnings), restored.warnings
    assert not two.target.exists() and not two.cargo_home.exists()


def test_an_entry_with_folders_this_job_does_not_restore_is_skipped(tmp_path: Path) -> None:
    two, store, _top = _staged(tmp_path)
    restored = restore_tree(store, KEY, two, roots=anchored_roots(two, [two.target]))
    assert not restored.hit and restored.corrupt == []
    assert "which this restore does not write" in restored.warnings[0]
    assert not two.target.exists()


def test_where_no_hard_link_can_be_made_the_files_are_copied_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target dir on another filesystem than the workspace (EXDEV)."""
    one = _machine(tmp_path / "one")
    lib = _built(one)
    real_link = os.link

    def cross_device(src: object, dst: object, **kw: object) -> None:
        if ".pyo3-cache-entry" in str(src):  # links inside the entry's own tree work
            real_link(src, dst, **kw)  # type: ignore[arg-type]
            return
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    entry = one.workspace / ".pyo3-cache-entry"
    assert stage_tree(DirStore(entry), KEY, _roots(one)).saved
    top = next(entry.glob(f"entries/*/{TREE_NAME}/0"))
    copy = top / "release" / "deps" / lib.name
    assert copy.stat().st_ino != lib.stat().st_ino and copy.stat().st_mtime_ns == NS
    assert (top / "release" / "libfoo.rlib").stat().st_ino == copy.stat().st_ino  # stored once


def test_an_existing_key_is_never_replaced(tmp_path: Path) -> None:
    one = _machine(tmp_path / "one")
    _built(one)
    store = DirStore(one.workspace / "e")
    assert stage_tree(store, KEY, _roots(one)).saved
    again = stage_tree(store, KEY, _roots(one))
    assert not again.saved and again.reason == "exact-hit"
