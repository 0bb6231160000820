"""pipe_tar.py: our archives read from zstd's pipe, data spliced; other tars left to tarfile."""

from __future__ import annotations

import io
import os
import random
import tarfile
from pathlib import Path

import pytest
import zstandard

from pyo3_cache.cache import pipe_tar, zstd
from pyo3_cache.cache.archive import ArchiveRoot, create_archive, pax_header
from pyo3_cache.cache.extract import extract_archive
from pyo3_cache.errors import ArchiveError

pytestmark = pytest.mark.skipif(
    not (hasattr(os, "splice") and zstd.command_available()), reason="Linux splice and zstd"
)
NS = 1_700_000_000_987_654_321


@pytest.fixture(autouse=True)
def _cli(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(zstd.ENV_BACKEND, "cli")


def _zst(path: Path, members: list[tuple[tarfile.TarInfo, bytes]], fmt: int) -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data))
    path.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    return path


def _file(name: str, data: bytes, **pax: str) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o640
    info.pax_headers = dict(pax)
    return info, data


def _names(archive: Path) -> list[str]:
    with pipe_tar.reading(archive) as stream:
        return [member.name for member in stream.members()]


def test_our_archive_restores_byte_for_byte_with_exact_mtimes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "release" / "deps").mkdir(parents=True)
    big = os.urandom(3 << 20) + b"tail"  # more than one splice, not a block multiple
    (src / "release" / "deps" / "libbig.rlib").write_bytes(big)
    (src / "release" / "empty").write_bytes(b"")
    (src / "release" / "exact").write_bytes(b"x" * 512)
    for name in ("deps/libbig.rlib", "empty", "exact"):
        os.utime(src / "release" / name, ns=(NS, NS))
    (src / "release" / "deps" / "libbig.rlib").chmod(0o751)
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("target", src)], archive)
    assert pipe_tar.available()

    stats = extract_archive(archive, {"target": tmp_path / "out"})

    out = tmp_path / "out" / "release"
    assert (out / "deps" / "libbig.rlib").read_bytes() == big
    assert (out / "empty").read_bytes() == b""
    assert (out / "exact").read_bytes() == b"x" * 512
    assert (out / "deps" / "libbig.rlib").stat().st_mtime_ns == NS
    assert (out / "deps" / "libbig.rlib").stat().st_mode & 0o777 == 0o751
    assert stats.bytes_written == len(big) + 512


def test_many_small_files_and_files_across_the_read_buffer_restore_exactly(
    tmp_path: Path,
) -> None:
    """Headers and small files come from one buffered read; the rest of a file
    that does not fit is spliced: every size around the buffer's edge."""
    src = tmp_path / "src" / "registry"
    rng = random.Random(7)
    expected: dict[str, bytes] = {}
    for i in range(400):
        folder = src / f"pkg-{i % 23}" / "src"
        folder.mkdir(parents=True, exist_ok=True)
        data = rng.randbytes(rng.choice([0, 1, 511, 512, 513, 3000, 20_000]))
        (folder / f"f{i}.rs").write_bytes(data)
        expected[f"pkg-{i % 23}/src/f{i}.rs"] = data
    for size in (pipe_tar._FILL - 1, pipe_tar._FILL, pipe_tar._FILL + 1, 2 * pipe_tar._FILL + 7):
        data = rng.randbytes(size)
        (src / f"edge-{size}").write_bytes(data)
        expected[f"edge-{size}"] = data
    archive = tmp_path / "a.tar.zst"
    create_archive([ArchiveRoot("src", src)], archive)

    stats = extract_archive(archive, {"src": tmp_path / "out"})

    got = {
        p.relative_to(tmp_path / "out").as_posix(): p.read_bytes()
        for p in (tmp_path / "out").rglob("*")
        if p.is_file()
    }
    assert got == expected
    assert stats.bytes_written == sum(map(len, expected.values()))


def _headers(fmt: int, infos: list[tarfile.TarInfo]) -> list[bytes]:
    return [info.tobuf(fmt, "utf-8", "surrogateescape")[-512:] for info in infos]


def _info(
    name: str, kind: bytes = tarfile.REGTYPE, size: int = 0, link: str = ""
) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.size, info.linkname = kind, size, link
    info.mode, info.mtime, info.uid, info.gid = 0o754, 1_700_000_000, 1000, 100
    return info


PLAIN = [
    _info("target/release/deps/libfoo-0123456789abcdef.rlib", size=12345),
    _info("target/release", tarfile.DIRTYPE),
    _info("target/" + "/".join(["d" * 30] * 4) + "/name.rs", size=7),  # ustar prefix
    _info("target/link", tarfile.SYMTYPE, link="release/x"),
    _info("target/hard", tarfile.LNKTYPE, link="target/release/x"),
    _info("target/caf\u00e9.rs", size=1),
]


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.PAX_FORMAT])
def test_the_fast_header_parser_reads_what_tarfile_reads(fmt: int) -> None:
    for block in _headers(fmt, PLAIN):
        fast = pipe_tar.parse_header(block)
        slow = tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        assert fast is not None
        fields = ("name", "mode", "size", "mtime", "chksum", "type", "linkname")
        assert {f: getattr(fast, f) for f in fields} == {f: getattr(slow, f) for f in fields}


def test_headers_the_fast_parser_does_not_know_go_to_tarfile() -> None:
    huge = _info("target/huge", size=1 << 40)  # base-256 size
    (gnu,) = _headers(tarfile.GNU_FORMAT, [huge])
    (plain,) = _headers(tarfile.USTAR_FORMAT, [PLAIN[0]])
    bad_sum = plain[:10] + b"X" + plain[11:]
    long_name = tarfile.TarInfo("././@LongLink")
    long_name.type = tarfile.GNUTYPE_LONGNAME
    (gnu_long,) = _headers(tarfile.GNU_FORMAT, [long_name])
    for block in (gnu, bad_sum, gnu_long):
        assert pipe_tar.parse_header(block) is None
    assert tarfile.TarInfo.frombuf(gnu, "utf-8", "surrogateescape").size == 1 << 40
    with pytest.raises(tarfile.HeaderError):
        tarfile.TarInfo.frombuf(bad_sum, "utf-8", "surrogateescape")


@pytest.mark.parametrize(
    "name", ["a", "target/" + "x" * 92, "t/" + "n" * 98, "t/" + "n" * 97, "target/caf\u00e9"]
)
@pytest.mark.parametrize(
    "kind", [tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE]
)
@pytest.mark.parametrize("exact", ["1700000000.123456789", "5.000000001", "99999999999.5"])
def test_the_archivers_headers_are_tarfiles_bytes(name: str, kind: bytes, exact: str) -> None:
    info = _info(name, kind, 12345 if kind == tarfile.REGTYPE else 0)
    info.uid = info.gid = 0
    info.mtime = int(exact.split(".")[0])
    info.pax_headers = {"mtime": exact}
    if kind in (tarfile.SYMTYPE, tarfile.LNKTYPE):
        info.linkname = "some/where"
    fast = pax_header(info)
    fits = name.isascii() and len(name) + (kind == tarfile.DIRTYPE) <= 100 and info.mtime < 8**11
    assert (fast is not None) == fits
    if fast is not None:
        assert fast == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


@pytest.mark.parametrize(
    ("why", "members", "fmt"),
    [
        ("GNU long name", [_file("target/" + "n" * 150, b"long")], tarfile.GNU_FORMAT),
        (
            "unknown PAX keyword",
            [_file("target/x", b"x", **{"SCHILY.xattr.a": "1"})],
            tarfile.PAX_FORMAT,
        ),
    ],
)
def test_a_tar_this_reader_does_not_know_is_read_by_tarfile(
    tmp_path: Path, why: str, members: list[tuple[tarfile.TarInfo, bytes]], fmt: int
) -> None:
    archive = _zst(tmp_path / "other.tar.zst", [_file("target/first", b"ok"), *members], fmt)
    with pytest.raises(pipe_tar.Unsupported):
        _names(archive)

    extract_archive(archive, {"target": tmp_path / "out"})

    name, data = members[0][0].name.removeprefix("target/"), members[0][1]
    assert (tmp_path / "out" / name).read_bytes() == data
    assert (tmp_path / "out" / "first").read_bytes() == b"ok"
    assert [p.name for p in tmp_path.iterdir()] == ["other.tar.zst", "out"]  # no staging left


def test_a_stream_cut_inside_a_file_is_an_error_and_writes_nothing(tmp_path: Path) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info, data = _file("target/big", os.urandom(1 << 20))
        tar.addfile(info, io.BytesIO(data))
    cut = raw.getvalue()[:600_000]
    archive = tmp_path / "cut.tar.zst"
    archive.write_bytes(zstandard.ZstdCompressor().compress(cut))

    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        extract_archive(archive, {"target": tmp_path / "out"})
    assert [p.name for p in tmp_path.iterdir()] == ["cut.tar.zst"]


def test_zstd_garbage_says_it_is_no_archive_without_our_paths(tmp_path: Path) -> None:
    archive = tmp_path / "junk.tar.zst"
    archive.write_bytes(os.urandom(4096))
    with pytest.raises(ArchiveError) as caught:
        _names(archive)
    assert "junk.tar.zst is not a .tar.zst archive" in str(caught.value)
    assert str(tmp_path) not in str(caught.value)


def test_the_pipe_writer_writes_the_same_tar_as_tarfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    (src / "release" / "deps").mkdir(parents=True)
    lib = src / "release" / "deps" / "libfoo-0123456789abcdef.rlib"
    lib.write_bytes(os.urandom(70_000))
    os.link(lib, src / "release" / "libfoo.rlib")  # cargo's uplift: a hard link member
    os.symlink("deps", src / "release" / "current")
    (src / "release" / "empty").write_bytes(b"")
    (src / "release" / ("n" * 120)).write_bytes(b"a long name: a PAX path record")
    for path in src.rglob("*"):
        os.utime(path, ns=(NS, NS), follow_symlinks=False)
    tars = {}
    for backend in ("module", "cli"):
        monkeypatch.setenv(zstd.ENV_BACKEND, backend)
        archive = tmp_path / f"{backend}.tar.zst"
        create_archive([ArchiveRoot("target", src)], archive)
        with archive.open("rb") as fh:
            tars[backend] = zstandard.ZstdDecompressor().stream_reader(fh).read()
    assert tars["cli"] == tars["module"]
    with tarfile.open(fileobj=io.BytesIO(tars["cli"])) as tar:
        kinds = {m.name: m.type for m in tar.getmembers()}
    assert kinds["target/release/libfoo.rlib"] == tarfile.LNKTYPE
    assert kinds["target/release/current"] == tarfile.SYMTYPE


def test_an_oversized_pax_header_is_refused_before_it_is_read_into_memory(tmp_path: Path) -> None:
    info, data = _file("target/x", b"x", comment="c" * (pipe_tar.MAX_PAX_BYTES + 1))
    archive = _zst(tmp_path / "big-pax.tar.zst", [(info, data)], tarfile.PAX_FORMAT)
    with pytest.raises(ArchiveError, match=r"PAX header of \d+ bytes"):
        _names(archive)
    with pytest.raises(ArchiveError, match="PAX header"):
        extract_archive(archive, {"target": tmp_path / "out"})
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("zeros", range(80, 100))
def test_pax_records_whose_length_gains_a_digit_are_tarfiles_bytes(zeros: int) -> None:
    """A record counts its own length's digits; around 99 -> 100 that count moves."""
    info = _info("target/f")
    info.uid = info.gid = 0
    info.mtime = 1
    info.pax_headers = {"mtime": "1." + "0" * zeros}
    assert pax_header(info) == info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
