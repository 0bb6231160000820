"""Cache archives: writing ``.tar.zst`` files that keep cargo's freshness intact.

Members are named by *anchor* (``target/release/deps/…``,
``cargo-home/registry/index/…``), never by absolute path, so an archive made
on one machine restores on another whose checkout or ``CARGO_HOME`` differs.

Why the care with time stamps: cargo (1.95) decides freshness by comparing
file mtimes with nanosecond precision (``the file `src/lib.rs` has changed
(…, 312ns after last build …)``), so mtimes travel in PAX ``mtime`` records as
exact decimal strings (Python's tarfile writes floats, which lose the last
digits) and are set back with ``os.utime(ns=…)``.  Reading an archive back
safely is ``extract.py``'s job.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import sys
import tarfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from pyo3_cache.cache import zstd

ZSTD_LEVEL = zstd.LEVEL
READ_CHUNK = zstd.READ_CHUNK
# Staging folders are ours by this prefix: a restore killed half-way leaves one
# behind, the next restore removes it, and archives never include one.
STAGING_PREFIX = ".pyo3-cache-restore-"


@dataclass(frozen=True)
class ArchiveRoot:
    """One directory to archive and the anchor its members are named under."""

    anchor: str
    path: Path
    # Which files to keep, by path relative to ``path`` (None: all); folders
    # are kept when they hold a kept file.  ``what`` names the files in words.
    keep: Callable[[str], bool] | None = field(default=None, compare=False)
    what: str = "files"


@dataclass
class ArchiveStats:
    """What ``create_archive`` wrote (sizes in bytes)."""

    members: int = 0
    source_bytes: int = 0
    archive_bytes: int = 0
    sha256: str = ""
    skipped: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)  # what a root's filter kept, in words

    def to_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "source_bytes": self.source_bytes,
            "archive_bytes": self.archive_bytes,
            "sha256": self.sha256,
            "skipped": list(self.skipped),
            "kept": list(self.kept),
        }


# --- creating ---------------------------------------------------------------


def _exact_mtime(st: os.stat_result) -> str:
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def link_stays_inside(link: Path, target: str, root: Path) -> bool:
    """A relative symlink whose real destination is under ``root``."""
    if os.path.isabs(target):
        return False
    real = Path(os.path.realpath(link))
    try:
        real.relative_to(root.resolve())
    except ValueError:
        return False
    return True


_UNIT_HASH = re.compile(r"-[0-9a-f]{16}")


def _kinship(path: Path) -> tuple[str, str, str]:
    """Sort key that puts a crate's files side by side, whatever folder holds them.

    ``deps/libfoo-<hash>.rlib`` and ``.rmeta``, ``build/foo-<hash>/...`` and the
    debug and release copies of each share most of their bytes; next to each
    other they fall inside zstd's match window (measured on the example's
    pruned target dir: 24.1 → 23.5 MiB at the same level and speed).
    """
    name = _UNIT_HASH.sub("", path.name)
    stem = name.split(".", 1)[0]
    stem = stem[3:] if stem.startswith("lib") else stem
    return stem.replace("-", "_"), path.suffix, path.as_posix()


def _walk(root: Path) -> Iterator[Path]:
    """Every entry under ``root``, links not followed: all folders (parents
    first), then the files and links, kin next to kin (see ``_kinship``)."""
    others: list[Path] = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith(STAGING_PREFIX))
        base = Path(folder)
        others += (base / name for name in files)
        for name in dirs:
            path = base / name
            if path.is_symlink():  # os.walk lists links to folders as folders
                others.append(path)
            else:
                yield path
    yield from sorted(others, key=_kinship)


def create_archive(
    roots: Sequence[ArchiveRoot], dest: Path, level: int = zstd.LEVEL
) -> ArchiveStats:
    """Write ``roots`` into ``dest`` (``.tar.zst``) and return sizes and sha256.

    Symlinks are stored as links and only when they point inside their root;
    device files, fifos and sockets are skipped (listed in ``stats.skipped``).
    Hard links within the archive are stored once. Raises ``OSError`` on I/O
    failure (the caller decides whether that is fatal).

    Compression (``zstd.py``) uses long-distance matching: a target dir holds
    the same bytes many times over (dev and release builds, .rlib next to
    .rmeta, hard-linked outputs), far apart in the tar. Measured on the
    example's target dir (197 MB tar): 43.6 MiB without, 25.2 MiB with, and
    no slower.
    """
    stats = ArchiveStats()
    fast = _pipe_writes_available()
    planned = [_plan_tree(root, stats) for root in roots if root.path.is_dir()]
    size = sum(st.st_size for members in planned for _path, _name, st in members)
    with (
        dest.open("wb") as raw,
        zstd.compressing(raw, level, command=fast, size_hint=size) as zout,
    ):
        sink = _PipeSink(zout.fileno()) if fast else _TarfileSink(zout)
        with sink:
            for members in planned:
                _add_members(sink, members, stats)
    stats.archive_bytes = dest.stat().st_size
    stats.sha256 = sha256_of(dest)
    return stats


def _pipe_writes_available() -> bool:
    """Linux ``sendfile`` into a pipe and the zstd command (unless the module is forced)."""
    return sys.platform.startswith("linux") and hasattr(os, "sendfile") and zstd.pipes_available()


def write_all(fd: int, data: bytes | memoryview) -> None:
    """``os.write`` until every byte of ``data`` is in ``fd`` (a pipe may take fewer)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


class _Sink:
    """Where ``_add_members`` puts members: tarfile, or raw writes into zstd's pipe."""

    def add(self, info: tarfile.TarInfo, path: Path | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> _Sink:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is None:
            self.close()
        else:
            self.abandon()

    def abandon(self) -> None:
        """The archive failed: drop what is unwritten, write no end."""


class _TarfileSink(_Sink):
    def __init__(self, out: IO[bytes]) -> None:
        # closed by close(), at the end of the sink's with block
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115

    def add(self, info: tarfile.TarInfo, path: Path | None) -> None:
        if path is None:
            self.tar.addfile(info)
            return
        with path.open("rb") as handle:
            self.tar.addfile(info, handle)

    def close(self) -> None:
        self.tar.close()

    def abandon(self) -> None:
        # tarfile's stream would write its end when collected, into a
        # compressor already gone, and print the error it gets to stderr.
        stream = self.tar.fileobj
        if stream is not None and hasattr(stream, "closed"):
            stream.closed = True


_NUL = b"\0"
_SMALL_FILE = 1 << 16  # read whole and written with its header in one call
# The members _tarinfo makes (devices get device fields, which these headers lack).
_FAST_TYPES = frozenset({tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE})


def _octal(value: int, digits: int) -> bytes:
    return b"%0*o\0" % (digits - 1, value)


def _ustar(name: bytes, mode: int, size: int, mtime: int, kind: bytes, link: bytes) -> bytes:
    """The ustar block tarfile writes for a member without owners or devices."""
    head = b"".join(
        (
            name.ljust(100, _NUL),
            _octal(mode & 0o7777, 8),
            _octal(0, 8),
            _octal(0, 8),
            _octal(size, 12),
            _octal(mtime, 12),
        )
    )
    tail = b"".join(
        (kind, link.ljust(100, _NUL), tarfile.POSIX_MAGIC, bytes(32 + 32 + 8 + 8 + 155 + 12))
    )
    checksum = 256 + sum(head) + sum(tail)
    return head + b"%06o\0 " % checksum + tail


def pax_header(info: tarfile.TarInfo) -> bytes | None:
    """``info.tobuf(PAX_FORMAT, "utf-8", "surrogateescape")`` for the members
    ``_tarinfo`` makes (an exact PAX mtime, no owners), in a fraction of its
    time; None for anything else (a name or link that is not short ASCII, a
    size or time out of ustar's range), which tarfile then writes.

    Packing a cargo registry's 10,000 small files spent 40% of its time in
    tarfile's header code.
    """
    name = info.name + "/" if info.type == tarfile.DIRTYPE else info.name
    mtime = info.pax_headers.get("mtime")
    if (
        info.type not in _FAST_TYPES
        or len(info.pax_headers) != 1
        or mtime is None
        or not mtime.isascii()
        or len(name) > 100
        or len(info.linkname) > 100
        or not name.isascii()
        or not info.linkname.isascii()
        or not 0 <= info.size < 8**11
        or not 0 <= info.mtime < 8**11
        or info.uid
        or info.gid
        or info.uname
        or info.gname
        or not isinstance(info.mtime, int)
    ):
        return None
    link = info.linkname.encode()
    body = b"mtime=" + mtime.encode("ascii") + b"\n"
    # A record counts its own length's digits: "LEN mtime=...\n".
    rest = len(body) + 1
    digits = len(str(rest))
    while len(str(rest + digits)) != digits:
        digits += 1
    records = b"%d " % (rest + digits) + body
    pax = _ustar(b"././@PaxHeader", 0, len(records), 0, tarfile.XHDTYPE, b"")
    return b"".join(
        (
            pax,
            records,
            bytes(-len(records) % tarfile.BLOCKSIZE),
            _ustar(name.encode(), info.mode, info.size, info.mtime, info.type, link),
        )
    )


class _PipeSink(_Sink):
    """The same tar bytes tarfile writes (PAX headers as ``TarInfo.tobuf`` makes
    them), a small file's header and data in one write, a larger file's data
    sent from the file into zstd's pipe inside the kernel."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.offset = 0

    def _write(self, data: bytes) -> None:
        write_all(self.fd, data)
        self.offset += len(data)

    def add(self, info: tarfile.TarInfo, path: Path | None) -> None:
        header = pax_header(info) or info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
        if path is None:
            self._write(header)
            return
        with path.open("rb", buffering=0) as handle:  # opened first: a vanished file adds nothing
            padding = bytes(-info.size % tarfile.BLOCKSIZE)
            if info.size <= _SMALL_FILE:
                data = handle.read(info.size)
                if len(data) < info.size:
                    raise OSError(f"{path} shrank while it was archived")
                self._write(b"".join((header, data, padding)))
                return
            self._write(header)
            left, sent = info.size, 0
            while left:
                moved = os.sendfile(self.fd, handle.fileno(), sent, min(left, 1 << 30))
                if not moved:
                    raise OSError(f"{path} shrank while it was archived")
                left -= moved
                sent += moved
        self.offset += info.size
        self._write(padding)

    def close(self) -> None:
        # tarfile's end: two zero blocks, then zeros up to a whole record.
        self._write(bytes(2 * tarfile.BLOCKSIZE))
        self._write(bytes(-self.offset % tarfile.RECORDSIZE))


def _filtered(
    base: Path, entries: list[Path], root: ArchiveRoot, stats: ArchiveStats
) -> list[Path]:
    """The files ``root.keep`` keeps and the folders on their way, in walk order."""
    assert root.keep is not None
    folders = [p for p in entries if p.is_dir() and not p.is_symlink()]
    files = [p for p in entries if not (p.is_dir() and not p.is_symlink())]
    kept = [p for p in files if root.keep(p.relative_to(base).as_posix())]
    needed = {base}
    for path in kept:
        needed.update(parent for parent in path.parents if parent == base or base in parent.parents)
    stats.kept.append(f"{root.anchor}: {len(kept)} of {len(files)} {root.what}")
    return [p for p in folders if p in needed] + kept


def root_entries(root: ArchiveRoot, stats: ArchiveStats) -> list[Path]:
    """What is cached of ``root``: the folder itself, then (``_walk``'s order) every
    entry below it that ``root.keep`` keeps, with the folders on the way."""
    entries: list[Path] = [root.path, *_walk(root.path)]
    if root.keep is not None:
        entries = _filtered(root.path, entries, root, stats)
    return entries


Planned = list[tuple[Path, str, os.stat_result]]  # path, member name, lstat


def _plan_tree(root: ArchiveRoot, stats: ArchiveStats) -> Planned:
    """What of ``root`` goes in, in order, with each entry's lstat (the archive's
    size is known before zstd starts); links out of the root and special files
    are skipped here."""
    anchor = root.anchor.strip("/")
    base = root.path
    base_text = str(base)
    planned: Planned = []
    for path in root_entries(root, stats):
        text = str(path)  # entries lie under base: their names by string, not Path, math
        rel = "." if text == base_text else text[len(base_text) + 1 :].replace(os.sep, "/")
        arcname = anchor if rel == "." else f"{anchor}/{rel}"
        try:
            st = os.lstat(text)
        except FileNotFoundError:  # vanished while we walked (a concurrent build)
            continue
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            if not link_stays_inside(path, target, base):
                stats.skipped.append(f"{arcname} (symlink pointing outside)")
                continue
        elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            stats.skipped.append(f"{arcname} (not a file, directory or link)")
            continue
        planned.append((path, arcname, st))
    return planned


def _add_members(sink: _Sink, planned: Planned, stats: ArchiveStats) -> None:
    """Write the planned members. A file whose size or mtime is no longer the
    planned one was changed while the archive was made: its bytes and the
    mtime recorded for it may disagree, which a later build would take as
    fresh, so the archive fails (``OSError``; no cache rather than a wrong one)."""
    inodes: dict[tuple[int, int], str] = {}
    for path, arcname, st in planned:
        info = _tarinfo(path, arcname, st, inodes)
        if info.isreg():
            try:
                sink.add(info, path)
            except FileNotFoundError:  # gone before it was opened: left out
                continue
            try:
                now: os.stat_result | None = os.lstat(path)
            except FileNotFoundError:
                now = None
            if now is None or (now.st_size, now.st_mtime_ns) != (st.st_size, st.st_mtime_ns):
                raise OSError(f"{path} changed while it was archived")
            stats.source_bytes += info.size
        else:
            sink.add(info, None)
        stats.members += 1


def _tarinfo(
    path: Path, arcname: str, st: os.stat_result, inodes: dict[tuple[int, int], str]
) -> tarfile.TarInfo:
    """What tarfile's ``gettarinfo`` makes of ``path``, owners dropped, the mtime exact.

    A file whose inode was archived before (cargo hard-links its uplifted
    outputs) becomes a hard link to that earlier member.
    """
    info = tarfile.TarInfo(arcname)
    info.mode = stat.S_IMODE(st.st_mode)
    info.mtime = int(st.st_mtime_ns // 1_000_000_000)
    info.pax_headers = {"mtime": _exact_mtime(st)}
    if stat.S_ISREG(st.st_mode):
        inode = (st.st_ino, st.st_dev)
        if st.st_nlink > 1 and inode in inodes and inodes[inode] != arcname:
            info.type, info.linkname = tarfile.LNKTYPE, inodes[inode]
        else:
            inodes[inode] = arcname
            info.size = st.st_size
    elif stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    else:
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    return info


def sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(READ_CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
