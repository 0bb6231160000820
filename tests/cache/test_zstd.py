"""zstd.py: the zstandard module and the zstd command write one format and agree on broken streams.

The action runs the tool on the job's Python with no third-party package, so
its archives go through the ``zstd`` command; a CLI install has ``zstandard``.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import zstandard

from pyo3_cache.cache import zstd
from pyo3_cache.cache.archive import ArchiveRoot, create_archive
from pyo3_cache.cache.extract import check_archive, extract_archive
from pyo3_cache.errors import ArchiveError

pytestmark = pytest.mark.skipif(shutil.which("zstd") is None, reason="no zstd command here")
NS = 1_600_000_000_123_456_789


def _tree(root: Path) -> dict[str, bytes]:
    files = {f"release/deps/lib{i}.rlib": os.urandom(2000) * 50 for i in range(5)}
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, ns=(NS, NS))
    return files


@pytest.mark.parametrize(("writer", "reader"), [("cli", "module"), ("module", "cli")])
def test_either_side_reads_what_the_other_wrote(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str, reader: str
) -> None:
    files = _tree(tmp_path / "target")
    archive = tmp_path / "a.tar.zst"
    monkeypatch.setenv(zstd.ENV_BACKEND, writer)
    stats = create_archive([ArchiveRoot("target", tmp_path / "target")], archive)
    assert stats.archive_bytes == archive.stat().st_size
    assert stats.archive_bytes < sum(map(len, files.values())) / 10  # long matches found
    monkeypatch.setenv(zstd.ENV_BACKEND, reader)
    extract_archive(archive, {"target": tmp_path / "out"})
    for name, data in files.items():
        restored = tmp_path / "out" / name
        assert restored.read_bytes() == data
        assert restored.stat().st_mtime_ns == NS


def _tar_zst(path: Path, names: list[str], cut_after: int | None = None) -> None:
    """A tar.zst of ``names``; with ``cut_after``, the zstd stream is cut after that member."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        ends = []
        for name in names:
            info = tarfile.TarInfo(name)
            info.size = 4096
            tar.addfile(info, io.BytesIO(b"x" * 4096))
            ends.append(tar.offset)
    data = raw.getvalue()
    compressed = zstandard.ZstdCompressor().compress(data)
    if cut_after is not None:
        # The members up to a clean boundary (no end-of-archive blocks) in one
        # frame, then a damaged frame: the decoder's output ends where a tar
        # could end, and only zstd's verdict says the stream was broken.
        whole = zstandard.ZstdCompressor().compress(data[: ends[cut_after]])
        compressed = whole + zstandard.ZstdCompressor().compress(data[ends[cut_after] :])[:-5]
    path.write_bytes(compressed)


def test_a_stream_cut_at_a_member_boundary_is_not_a_shorter_archive(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tarfile alone would take a stream that ends between members for a complete archive.

    The zstd command's exit status says so. (zstandard's stream reader does not
    report a cut last frame; a restore from a store checks the archive's sha256
    from its record before reading it, test_store.py.)
    """
    monkeypatch.setenv(zstd.ENV_BACKEND, "cli")
    archive = tmp_path / "cut.tar.zst"
    _tar_zst(archive, [f"target/f{i}" for i in range(40)], cut_after=20)
    with pytest.raises(ArchiveError, match="corrupt or truncated"):
        check_archive(archive, ["target"])
    assert not (tmp_path / "out").exists()


def test_a_refused_member_stops_the_zstd_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(zstd.ENV_BACKEND, "cli")
    archive = tmp_path / "evil.tar.zst"
    _tar_zst(archive, ["target/ok", "../escape", *[f"target/f{i}" for i in range(2000)]])
    with pytest.raises(ArchiveError, match="climbs out"):
        extract_archive(archive, {"target": tmp_path / "out"})
    assert not (tmp_path / "escape").exists()
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert str(archive) not in ps  # no zstd left running on it


def test_without_module_and_command_restore_and_save_say_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(zstd.ENV_BACKEND, "cli")
    archive = tmp_path / "a.tar.zst"
    _tree(tmp_path / "target")
    create_archive([ArchiveRoot("target", tmp_path / "target")], archive)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ArchiveError, match="neither the zstandard module nor the zstd command"):
        extract_archive(archive, {"target": tmp_path / "out"})
    with pytest.raises(OSError, match="neither the zstandard module nor the zstd command"):
        create_archive([ArchiveRoot("target", tmp_path / "target")], tmp_path / "b.tar.zst")


def test_the_job_size_gives_every_thread_two_jobs_within_its_bounds() -> None:
    # the example's release target dir: four jobs of ~19 MiB on 2 cores, not 64 + 15
    assert zstd.job_size(79_000_000, threads=2) == 79_000_000 // 4
    assert zstd.job_size(1_000_000, threads=2) == zstd.MIN_JOB_SIZE
    assert zstd.job_size(10_000_000_000, threads=2) == zstd.JOB_SIZE
    assert zstd.job_size(300_000_000, threads=8) == 300_000_000 // 16
