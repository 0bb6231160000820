"""archive.py: tar.zst round trips keep cargo's mtimes; hostile archives write nothing."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import zstandard

from pyo3_cache.cache import archive as archive_module
from pyo3_cache.cache import pipe_tar, zstd
from pyo3_cache.cache.archive import ArchiveRoot, ArchiveStats, create_archive
from pyo3_cache.cache.extract import ExtractLimits, check_archive, extract_archive
from pyo3_cache.errors import ArchiveError
from tests.cache.tar_members import member as _file
from tests.cache.tar_members import special as _special

NS = 1_600_000_000_123_456_789  # an mtime whose last digits a float would lose


@pytest.fixture(autouse=True, params=["pipe", "tarfile"])
def reader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Every test here twice: zstd's pipe spliced into the files (Linux), and tarfile."""
    if request.param == "pipe":
        monkeypatch.setenv(zstd.ENV_BACKEND, "cli")
        if not pipe_tar.available():
            pytest.skip("no os.splice or no zstd command here")
    else:
        monkeypatch.setenv(zstd.ENV_BACKEND, "module")
    return str(request.param)


def _tree(root: Path) -> None:
    (root / "release" / "deps").mkdir(parents=True)
    lib = root / "release" / "deps" / "libfoo-0123456789abcdef.rlib"
    lib.write_bytes(b"rlib" * 1000)
    os.utime(lib, ns=(NS, NS))
    (root / "release" / "libfoo.rlib").unlink(missing_ok=True)
    os.link(lib, root / "release" / "libfoo.rlib")  # cargo uplifts by hard link
    os.symlink("deps/libfoo-0123456789abcdef.rlib", root / "release" / "current")
    os.utime(root / "release" / "deps", ns=(NS + 7, NS + 7))


def _restore(archive: Path, dest: Path) -> None:
    extract_archive(archive, {"target": dest})


def test_round_trip_keeps_nanosecond_mtimes_links_and_hard_links(tmp_path: Path) -> None:
    src = tmp_path / "target"
    _tree(src)
    archive = tmp_path / "a.tar.zst"
    stats = create_archive([ArchiveRoot("target", src)], archive)
    assert stats.archive_bytes == archive.stat().st_size
    assert len(stats.sha256) == 64

    out = tmp_path / "restored"
    _restore(archive, out)
    lib = out / "release" / "deps" / "libfoo-0123456789abcdef.rlib"
    assert lib.read_bytes() == b"rlib" * 1000
    assert lib.stat().st_mtime_ns == NS
    assert (out / "release" / "deps").stat().st_mtime_ns == NS + 7
    link = out / "release" / "current"
    assert link.is_symlink() and os.readlink(link) == "deps/libfoo-0123456789abcdef.rlib"
    assert os.path.samefile(out / "release" / "libfoo.rlib", lib)


def test_links_and_special_files_that_leave_the_tree_are_not_archived(tmp_path: Path) -> None:
    src = tmp_path / "target"
    src.mkdir()
    (tmp_path / "secret").write_text("outside")
    os.symlink(str(tmp_path / "secret"), src / "absolute")
    os.symlink("../secret", src / "relative-out")
    os.mkfifo(src / "fifo")
    archive = tmp_path / "a.tar.zst"
    stats = create_archive([ArchiveRoot("target", src)], archive)
    assert sorted(stats.skipped) == [
        "target/absolute (symlink pointing outside)",
        "target/fifo (not a file, directory or link)",
        "target/relative-out (symlink pointing outside)",
    ]
    out = tmp_path / "out"
    _restore(archive, out)
    assert sorted(p.name for p in out.iterdir()) == []


def test_anchors_map_members_to_this_machines_folders(tmp_path: Path) -> None:
    target, index = tmp_path / "t", tmp_path / "home" / "registry" / "index"
    (target / "debug").mkdir(parents=True)
    (target / "debug" / "x").write_text("t")
    index.mkdir(parents=True)
    (index / "config.json").write_text("{}")
    archive = tmp_path / "a.tar.zst"
    create_archive(
        [ArchiveRoot("target", target), ArchiveRoot("cargo-home/registry/index", index)], archive
    )
    with tarfile.open(fileobj=io.BytesIO(_decompress(archive))) as tar:
        names = tar.getnames()
    assert all(not n.startswith("/") and str(tmp_path) not in n for n in names)
    other = tmp_path / "elsewhere"
    extract_archive(archive, {"target": other / "tgt", "cargo-home": other / "ch"})
    assert (other / "tgt" / "debug" / "x").read_text() == "t"
    assert (other / "ch" / "registry" / "index" / "config.json").read_text() == "{}"


# --- hostile archives -----------------------------------------------------------------


def _decompress(archive: Path) -> bytes:
    with archive.open("rb") as fh:
        return zstandard.ZstdDecompressor().stream_reader(fh).read()


def _hostile(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


HOSTILE = {
    "path traversal": ([_file("target/../../evil")], "'..'"),
    "absolute path": ([_file("/tmp/pyo3-cache-evil")], "absolute path"),
    "unknown root": ([_file("elsewhere/x")], "no known root"),
    "symlink to absolute path": (
        [_special("target/l", tarfile.SYMTYPE, "/etc"), _file("target/l/passwd")],
        "symlink to an absolute path",
    ),
    "symlink climbing out": (
        [_special("target/l", tarfile.SYMTYPE, "../../outside")],
        "symlink pointing outside",
    ),
    "symlink climbing out through another link": (
        [
            _special("target/here", tarfile.SYMTYPE, "."),
            _special("target/up", tarfile.SYMTYPE, "here/.."),
            _file("target/up/evil"),
        ],
        "outside its root",
    ),
    "hard link escape": (
        [_special("target/h", tarfile.LNKTYPE, "/etc/passwd")],
        "absolute path",
    ),
    "hard link to a file not in the archive": (
        [_special("target/h", tarfile.LNKTYPE, "target/nothing")],
        "not an earlier file",
    ),
    "character device": ([_special("target/null", tarfile.CHRTYPE)], "device"),
    "block device": ([_special("target/sda", tarfile.BLKTYPE)], "device"),
    "fifo": ([_special("target/pipe", tarfile.FIFOTYPE)], "fifo"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_is_refused_and_writes_nothing(tmp_path: Path, case: str) -> None:
    members, fragment = HOSTILE[case]
    archive = _hostile(tmp_path / "evil.tar.zst", [_file("target/first", b"ok"), *members])
    dest = tmp_path / "job" / "target"
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(ArchiveError) as caught:
        extract_archive(archive, {"target": dest})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert not dest.exists(), "a refused archive wrote into the destination"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not Path("/tmp/pyo3-cache-evil").exists()


def test_decompression_bomb_is_refused_before_unpacking(tmp_path: Path) -> None:
    size = 256 << 20  # 256 MiB of zeros: zstd squeezes it below 100 KiB
    info = tarfile.TarInfo("target/zeros")
    info.size = size
    archive = tmp_path / "bomb.tar.zst"
    with archive.open("wb") as fh:
        writer = zstandard.ZstdCompressor(level=19).stream_writer(fh)
        with tarfile.open(fileobj=writer, mode="w|") as tar:
            tar.addfile(info, _Zeros(size))
        writer.close()
    assert archive.stat().st_size < size // 1000
    dest = tmp_path / "out"
    with pytest.raises(ArchiveError, match="decompression bomb"):
        extract_archive(archive, {"target": dest})
    assert not dest.exists()


def test_member_claiming_an_absurd_size_is_refused(tmp_path: Path) -> None:
    archive = _hostile(tmp_path / "big.tar.zst", [_file("target/big", b"y" * 4096)])
    limits = ExtractLimits(max_member_bytes=1024)
    with pytest.raises(ArchiveError, match="claims 4096 bytes"):
        check_archive(archive, {"target": tmp_path / "out"}, limits)


@pytest.mark.parametrize("garbage", [b"", b"not zstd at all", b"\x28\xb5\x2f\xfd" + b"\0" * 40])
def test_corrupt_archive_is_an_archive_error(tmp_path: Path, garbage: bytes) -> None:
    archive = tmp_path / "bad.tar.zst"
    archive.write_bytes(garbage)
    with pytest.raises(ArchiveError):
        extract_archive(archive, {"target": tmp_path / "out"})
    assert not (tmp_path / "out").exists()


def test_truncated_archive_is_an_archive_error(tmp_path: Path) -> None:
    src = tmp_path / "target"
    src.mkdir()
    (src / "data").write_bytes(os.urandom(200_000))
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("target", src)], archive)
    archive.write_bytes(archive.read_bytes()[:50_000])
    with pytest.raises(ArchiveError):
        extract_archive(archive, {"target": tmp_path / "out"})
    assert not (tmp_path / "out").exists()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def test_a_crates_files_sit_side_by_side_after_all_folders(tmp_path: Path) -> None:
    """Kin next to kin (zstd finds the shared bytes); every folder before any file."""
    target = tmp_path / "target"
    files = [
        "debug/deps/libfoo-0123456789abcdef.rlib",
        "debug/deps/libbar-1111111111111111.rlib",
        "debug/deps/libfoo-0123456789abcdef.rmeta",
        "debug/build/foo-2222222222222222/build_script_build-2222222222222222",
        "release/deps/libfoo-3333333333333333.rlib",
        "release/deps/libbar-4444444444444444.rlib",
        "release/.fingerprint/zzz-5555555555555555/lib-zzz",
    ]
    for rel in files:
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_bytes(rel.encode())
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("target", target)], archive)
    with archive.open("rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            members = [(m.name, m.isdir()) for m in tar]
    kinds = [is_dir for _, is_dir in members]
    assert kinds == sorted(kinds, reverse=True), members  # folders, then files
    names = [name.removeprefix("target/") for name, is_dir in members if not is_dir]
    assert sorted(names) == sorted(files)
    foo = [i for i, name in enumerate(names) if "foo" in name]
    bar = [i for i, name in enumerate(names) if "bar" in name]
    assert foo == list(range(foo[0], foo[0] + 4)), names  # four foo files in a row
    assert bar == [bar[0], bar[0] + 1], names
    _restore(archive, tmp_path / "back")
    for rel in files:
        assert (tmp_path / "back" / rel).read_bytes() == rel.encode()


def _snapshot(root: Path) -> dict[str, tuple[str, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        st = path.lstat()
        kind = "link" if path.is_symlink() else ("dir" if path.is_dir() else "file")
        out[path.relative_to(root).as_posix()] = (kind, st.st_mtime_ns if kind == "file" else 0)
    return out


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archive_leaves_an_existing_destination_as_it_was(
    tmp_path: Path, case: str
) -> None:
    """The staged restore: refused half-way, the warm target dir is untouched."""
    members, _fragment = HOSTILE[case]
    archive = _hostile(tmp_path / "evil.tar.zst", [_file("target/first", b"ok"), *members])
    dest = tmp_path / "target"
    (dest / "release" / "deps").mkdir(parents=True)
    (dest / "release" / "deps" / "libkeep.rlib").write_bytes(b"kept")
    (dest / "first").write_bytes(b"old")
    before = _snapshot(dest)
    with pytest.raises(ArchiveError):
        extract_archive(archive, {"target": dest})
    assert _snapshot(dest) == before  # no staging folder left, nothing replaced
    assert (dest / "first").read_bytes() == b"old"


def test_restore_into_an_existing_folder_merges_and_replaces_links_in_the_way(
    tmp_path: Path,
) -> None:
    source = tmp_path / "src"
    _tree(source)
    (source / "release" / "build" / "out").mkdir(parents=True)
    (source / "release" / "build" / "out" / "gen.rs").write_text("// generated")
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("target", source)], archive)

    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    (dest / "release").mkdir(parents=True)
    (dest / "release" / "other.txt").write_text("not in the archive")
    os.symlink(outside, dest / "release" / "build")  # a link in the way, out of the tree
    # a restore that was killed half-way left its staging folder behind
    (dest / ".pyo3-cache-restore-stale" / "x").mkdir(parents=True)

    extract_archive(archive, {"target": dest})
    assert (dest / "release" / "other.txt").read_text() == "not in the archive"
    assert not (dest / "release" / "build").is_symlink()
    assert (dest / "release" / "build" / "out" / "gen.rs").read_text() == "// generated"
    assert list(outside.iterdir()) == []  # nothing written through the old link
    lib = dest / "release" / "deps" / "libfoo-0123456789abcdef.rlib"
    assert lib.stat().st_mtime_ns == NS
    assert lib.stat().st_ino == (dest / "release" / "libfoo.rlib").stat().st_ino
    assert os.stat(dest / "release" / "deps").st_mtime_ns == NS + 7
    assert not list(dest.glob(".pyo3-cache-restore-*"))  # the stale one too

    # and a staging folder never goes into an archive
    (source / ".pyo3-cache-restore-left").mkdir()
    (source / ".pyo3-cache-restore-left" / "junk").write_text("x")
    again = tmp_path / "b.tar.zst"
    create_archive([ArchiveRoot("target", source)], again)
    with again.open("rb") as raw:
        stream = zstandard.ZstdDecompressor().stream_reader(raw)
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            assert not [m.name for m in tar if "pyo3-cache-restore" in m.name]


def test_a_killed_restores_staging_beside_a_new_destination_is_cleared(tmp_path: Path) -> None:
    source = tmp_path / "src"
    _tree(source)
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("target", source)], archive)
    job = tmp_path / "job"
    (job / ".pyo3-cache-restore-target.old" / "release").mkdir(parents=True)
    (job / "unrelated").mkdir()
    extract_archive(archive, {"target": job / "target"})
    assert sorted(p.name for p in job.iterdir()) == ["target", "unrelated"]
    assert (job / "target" / "release" / "libfoo.rlib").read_bytes() == b"rlib" * 1000


# --- links judged against the final tree (issue 18, item 1) ------------------------------

LINK_SWAP = [
    _special("target/d1", tarfile.DIRTYPE),
    _special("target/d1/e", tarfile.DIRTYPE),
    _special("target/d1/a", tarfile.SYMTYPE, "e/../.."),
    _file("target/d1/a/x", b"through the link"),
    _special("target/d1/e", tarfile.SYMTYPE, ".."),
    _special("target/h", tarfile.LNKTYPE, "target/d1/a/x"),
]
LATE_LINKS = {
    "link swap (a folder later turned into a link)": (LINK_SWAP, "lies behind the link"),
    "a link over a folder that already has members": (
        [_file("target/d/f"), _special("target/d", tarfile.SYMTYPE, "..")],
        "symlink over a folder that has members",
    ),
    "a link whose target passes through another link": (
        [
            _special("target/e", tarfile.SYMTYPE, "sub"),
            _special("target/a", tarfile.SYMTYPE, "e/x"),
        ],
        "through another symlink",
    ),
    "a folder member turned into a file": (
        [_special("target/d", tarfile.DIRTYPE), _file("target/d")],
        "appears twice",
    ),
    "a member under a file": ([_file("target/f"), _file("target/f/x")], "lies behind the file"),
    "a file over a folder that already has members": (
        [_file("target/d/e/f"), _file("target/d")],
        "file over a folder that has members",
    ),
    "a member under a folder whose parent became a link": (
        [_file("target/a/b/f"), _special("target/a", tarfile.SYMTYPE, "."), _file("target/a/b/g")],
        "symlink over a folder that has members",
    ),
}


@pytest.mark.parametrize("case", sorted(LATE_LINKS))
def test_links_are_judged_against_the_final_tree(tmp_path: Path, case: str) -> None:
    members, fragment = LATE_LINKS[case]
    job = tmp_path / "job"
    job.mkdir()
    decoy = tmp_path / "x"  # where the link swap aims
    decoy.write_bytes(b"outside")
    before = (decoy.stat().st_ino, decoy.stat().st_mtime_ns, decoy.stat().st_nlink)
    archive = _hostile(tmp_path / "evil.tar.zst", members)
    with pytest.raises(ArchiveError) as caught:
        extract_archive(archive, {"target": job / "target"})
    assert fragment in str(caught.value)
    assert list(job.iterdir()) == []
    st = decoy.stat()
    assert (st.st_ino, st.st_mtime_ns, st.st_nlink) == before
    assert decoy.read_bytes() == b"outside"


def test_links_are_made_after_the_files_and_stay_links(tmp_path: Path) -> None:
    archive = _hostile(
        tmp_path / "a.tar.zst",
        [
            _special("target/current", tarfile.SYMTYPE, "deps/lib.rlib"),
            _special("target/deps", tarfile.DIRTYPE),
            _file("target/deps/lib.rlib", b"rlib"),
        ],
    )
    extract_archive(archive, {"target": tmp_path / "target"})
    assert os.readlink(tmp_path / "target" / "current") == "deps/lib.rlib"
    assert (tmp_path / "target" / "current").read_bytes() == b"rlib"


def test_a_member_under_no_destination_of_this_restore_is_refused(tmp_path: Path) -> None:
    archive = _hostile(tmp_path / "a.tar.zst", [_file("target/ok"), _file("workspace/src/lib.rs")])
    with pytest.raises(ArchiveError, match="this restore writes only target"):
        extract_archive(archive, {"target": tmp_path / "target"})
    assert not (tmp_path / "target").exists()


def test_nested_destinations_are_refused(tmp_path: Path) -> None:
    archive = _hostile(tmp_path / "a.tar.zst", [_file("target/ok")])
    with pytest.raises(ArchiveError, match="overlap"):
        extract_archive(archive, {"target": tmp_path / "t", "workspace/gen": tmp_path / "t" / "g"})


def test_a_file_met_twice_is_restored_as_its_later_copy(tmp_path: Path) -> None:
    archive = _hostile(
        tmp_path / "twice.tar.zst",
        [_file("target/f", b"first"), _file("target/g", b"g"), _file("target/f", b"second")],
    )
    extract_archive(archive, {"target": tmp_path / "out"})
    assert (tmp_path / "out" / "f").read_bytes() == b"second"
    assert (tmp_path / "out" / "g").read_bytes() == b"g"


def _after_planning(monkeypatch: pytest.MonkeyPatch, act: Callable[[], None]) -> None:
    """Run ``act`` between the walk that plans the archive and the writing of it."""
    plan = archive_module._plan_tree

    def planned_then(root: ArchiveRoot, stats: ArchiveStats) -> Any:
        result = plan(root, stats)
        act()
        return result

    monkeypatch.setattr(archive_module, "_plan_tree", planned_then)


@pytest.mark.parametrize("size", [10, 200_000])  # one write with its header; sendfile
# tarfile's abandoned stream once printed "Exception ignored in" to stderr when collected
@pytest.mark.filterwarnings("error::pytest.PytestUnraisableExceptionWarning")
def test_a_file_changed_while_archived_fails_the_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    src = tmp_path / "target"
    _tree(src)
    changing = src / "release" / "build.log"
    changing.write_bytes(b"a" * size)
    _after_planning(monkeypatch, lambda: changing.write_bytes(b"b" * (size + 1)))
    with pytest.raises(OSError, match="changed while it was archived"):
        create_archive([ArchiveRoot("target", src)], tmp_path / "a.tar.zst")


def test_a_file_gone_before_it_is_archived_is_left_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "target"
    _tree(src)
    (src / "release" / "gone").write_bytes(b"soon gone")
    _after_planning(monkeypatch, (src / "release" / "gone").unlink)
    archive = tmp_path / "a.tar.zst"
    stats = create_archive([ArchiveRoot("target", src)], archive)
    _restore(archive, tmp_path / "out")
    assert not (tmp_path / "out" / "release" / "gone").exists()
    assert (tmp_path / "out" / "release" / "libfoo.rlib").read_bytes() == b"rlib" * 1000
    assert stats.members == check_archive(archive, {"target": tmp_path / "x"})
