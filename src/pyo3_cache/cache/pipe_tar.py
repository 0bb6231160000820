"""Reading our archives on Linux with the file data never copied through Python.

A restore is bound by writing the files. Through ``tarfile`` each byte is
copied four times in Python (the pipe's buffer, tarfile's stream buffer, the
member reader, the file), which made our unpack 2-3x slower than ``tar -x``
on the same archive (jiter's entry: 1.9 s against 0.7 s). Here ``zstd -d``
writes into a pipe that is read in large chunks: headers are parsed from that
buffer (``parse_header``; ``tarfile.TarInfo.frombuf`` for anything unusual),
small files written from it with one ``write`` each, and the rest of a larger
file goes from the pipe into the file with ``os.splice``, inside the kernel,
while zstd decompresses the next bytes on the other core. (Reading each
header and padding with a call of its own, and parsing headers with
``frombuf``, made a cargo registry's 10,000 small files unpack 5.5x slower
than ``tar -x``; now 2.3x, on tmpfs.)

Only the tar subset our archiver writes is read here: ustar headers, each
with at most one PAX header of known keywords before it. Anything else (GNU
long names, sparse files, global or unknown PAX records) raises
``Unsupported`` before the member is used, and the caller reads the archive
again through ``tarfile``. The members this reader yields go through the same
``MemberRules`` as tarfile's: what is checked is what is written.
"""

from __future__ import annotations

import contextlib
import os
import re
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

from pyo3_cache.cache import zstd
from pyo3_cache.cache.archive import write_all
from pyo3_cache.errors import ArchiveError

BLOCK = tarfile.BLOCKSIZE
_ZERO = bytes(BLOCK)
_CHUNK = 1 << 20
_PIPE_SIZE = 1 << 20  # F_SETPIPE_SZ: fewer, larger splices
_FILL = 1 << 18  # what one read of headers and small files asks the pipe for
MAX_PAX_BYTES = 1 << 20  # our archiver's PAX records: a path and an mtime
# PAX keywords Python's tarfile writes for the members we archive.
_PAX_KEYS = frozenset({"path", "linkpath", "size", "mtime", "atime", "ctime"})
_PAX_KEYS_IGNORED = frozenset({"uid", "gid", "uname", "gname"})
_PAX_RECORD = re.compile(rb"(\d+) ")
# Types tarfile skips the data of (tarfile.TarInfo._proc_builtin does the same).
_NO_DATA = frozenset(
    {tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE, tarfile.CHRTYPE, tarfile.BLKTYPE}
    | {tarfile.FIFOTYPE}
)
_REFUSED_TYPES = {
    tarfile.GNUTYPE_LONGNAME: "a GNU long name",
    tarfile.GNUTYPE_LONGLINK: "a GNU long link",
    tarfile.GNUTYPE_SPARSE: "a GNU sparse file",
    tarfile.XGLTYPE: "a global PAX header",
    tarfile.SOLARIS_XHDTYPE: "a Solaris extended header",
}


class Unsupported(Exception):
    """The archive uses tar features this reader leaves to tarfile."""


def available() -> bool:
    """Linux's ``splice`` and the ``zstd`` command, unless the module is forced."""
    return hasattr(os, "splice") and zstd.pipes_available()


def _pad(size: int) -> int:
    return -size % BLOCK


class PipeTar:
    """The members of one tar stream on a pipe, read once, front to back.

    The stream is read in large chunks: headers are parsed and small files
    written from that buffer (one ``write`` per file), and the rest of a
    larger file is spliced from the pipe. Reading each header and each
    padding with a call of its own cost five calls per member, most of a
    registry's unpack (10,000 files of a few KiB).
    """

    def __init__(self, fd: int, name: str) -> None:
        self.fd = fd
        self.name = name
        self.headers = 0  # headers read so far
        self.ended = False  # the pipe closed before the tar's end
        self._left = 0  # data bytes of the current member not yet consumed
        self._buf = b""  # read from the pipe, not yet consumed from _pos on
        self._pos = 0

    def _truncated(self) -> ArchiveError:
        self.ended = True
        return ArchiveError(f"{self.name} is corrupt or truncated (the stream ended early)")

    def _buffered(self) -> int:
        return len(self._buf) - self._pos

    def _fill(self, want: int) -> bool:
        """Read until ``want`` bytes are buffered; False if the stream ends first."""
        parts = [self._buf[self._pos :]]
        have = len(parts[0])
        while have < want:
            chunk = os.read(self.fd, max(_FILL, want - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        self._buf, self._pos = b"".join(parts), 0
        return have >= want

    def _read(self, size: int) -> bytes:
        if self._buffered() < size and not self._fill(size):
            raise self._truncated()
        data = self._buf[self._pos : self._pos + size]
        self._pos += size
        return data

    def _skip(self, size: int) -> None:
        buffered = self._buffered()
        if size <= buffered:
            self._pos += size
            return
        size -= buffered
        self._buf, self._pos = b"", 0
        while size:
            chunk = os.read(self.fd, min(size, _CHUNK))
            if not chunk:
                raise self._truncated()
            size -= len(chunk)

    def _header(self) -> bytes | None:
        """The next 512-byte header, or None at the archive's end."""
        if self._buffered() < BLOCK and not self._fill(BLOCK):
            if not self._buffered():
                return None  # end of stream at a member boundary (zstd's status judges it)
            raise self._truncated()
        block = self._buf[self._pos : self._pos + BLOCK]
        self._pos += BLOCK
        self.headers += 1
        return None if block == _ZERO else block

    def _parse(self, block: bytes) -> tarfile.TarInfo:
        info = parse_header(block)
        if info is not None:
            return info
        try:
            return tarfile.TarInfo.frombuf(block, "utf-8", "surrogateescape")
        except tarfile.HeaderError as exc:
            raise ArchiveError(f"{self.name} is corrupt ({exc})") from None

    def members(self) -> Iterator[tarfile.TarInfo]:
        """Each member, with its PAX records applied; its data is the caller's to take."""
        pax: dict[str, str] | None = None
        while (block := self._header()) is not None:
            info = self._parse(block)
            if info.type in _REFUSED_TYPES:
                raise Unsupported(_REFUSED_TYPES[info.type])
            if info.type == tarfile.XHDTYPE:
                if pax is not None:
                    raise Unsupported("two PAX headers for one member")
                if info.size > MAX_PAX_BYTES:  # read whole into memory: bounded
                    raise ArchiveError(
                        f"{self.name} has a PAX header of {info.size} bytes (ours are a few "
                        "hundred); refusing to restore"
                    )
                data = self._read(info.size)
                self._skip(_pad(info.size))
                pax = _pax_records(data)
                continue
            if pax is not None:
                _apply(info, pax)
                pax = None
            has_data = info.type not in _NO_DATA
            self._left = info.size if has_data else 0
            yield info
            if self._left:
                self._skip(self._left)
                self._left = 0
            if has_data:
                self._skip(_pad(info.size))
        if pax is not None:
            raise self._truncated()

    def write_data(self, fd: int) -> int:
        """Move the current member's data into the open file ``fd``; the byte count."""
        written = min(self._left, self._buffered())
        if written:
            write_all(fd, memoryview(self._buf)[self._pos : self._pos + written])
            self._pos += written
            self._left -= written
        while self._left:
            moved = os.splice(self.fd, fd, min(self._left, _CHUNK))
            if not moved:
                raise self._truncated()
            self._left -= moved
            written += moved
        return written


# A ustar header's fields up to its prefix (magic and version as one field).
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s8s32s32s8s8s155s")
_USTAR_MAGIC = tarfile.POSIX_MAGIC  # b"ustar\x0000"
_BASE256 = (0o200, 0o377)
_GNU_TYPES = frozenset(tarfile.GNU_TYPES)
_PLAIN_UNUSED = frozenset({b"0000000\0", bytes(8)})  # what tarfile writes for owner 0, no device


def _until_nul(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _octal(field: bytes) -> int:
    return int(_until_nul(field).strip() or b"0", 8)


def parse_header(block: bytes) -> tarfile.TarInfo | None:
    """The member a plain ustar header describes, as ``TarInfo.frombuf`` reads it,
    in a fraction of its time; None for anything else (base-256 numbers, another
    magic, a signed checksum, GNU types, a damaged header), which goes to
    ``frombuf``: it parses those or says what is wrong with them. The owner
    and device fields are checked but not kept (a restore uses neither:
    owners are dropped, devices refused by their type).

    A restore reads two headers per member (the PAX record's and the file's):
    through ``frombuf`` they took a third of a registry's unpack.
    """
    fields = _USTAR.unpack_from(block)
    (name, mode, uid, gid, size, mtime, chksum, kind, linkname, magic) = fields[:10]
    if magic != _USTAR_MAGIC or kind in _GNU_TYPES:
        return None
    if mode[0] in _BASE256 or size[0] in _BASE256 or mtime[0] in _BASE256:
        return None
    try:
        for unused in (uid, gid, fields[12], fields[13]):  # not read, but valid as frombuf wants
            if unused not in _PLAIN_UNUSED:
                _octal(unused)
        checked = _octal(chksum)
        info = tarfile.TarInfo(_text(name))
        info.mode, info.size, info.mtime = _octal(mode), _octal(size), _octal(mtime)
    except ValueError:
        return None
    if checked != 256 + sum(block) - sum(block[148:156]):
        return None
    info.chksum = checked
    info.type = kind
    info.linkname = _text(linkname)
    if kind == tarfile.AREGTYPE and info.name.endswith("/"):
        info.type = tarfile.DIRTYPE
    if info.type == tarfile.DIRTYPE:
        info.name = info.name.rstrip("/")
    prefix = fields[14]
    if prefix[0]:
        info.name = _text(prefix) + "/" + info.name
    return info


def _text(field: bytes) -> str:
    return _until_nul(field).decode("utf-8", "surrogateescape")


def _pax_records(data: bytes) -> dict[str, str]:
    """``LEN key=value\\n`` records (POSIX pax), only the keywords we write."""
    records: dict[str, str] = {}
    pos = 0
    while pos < len(data):
        match = _PAX_RECORD.match(data, pos)
        if match is None:
            raise Unsupported("a malformed PAX record")
        length = int(match.group(1))
        record = data[match.end() : pos + length]
        if length <= 0 or pos + length > len(data) or not record.endswith(b"\n"):
            raise Unsupported("a malformed PAX record")
        key, sep, value = record[:-1].partition(b"=")
        if not sep:
            raise Unsupported("a malformed PAX record")
        try:
            name, text = key.decode("ascii"), value.decode("utf-8")
        except UnicodeDecodeError:
            raise Unsupported("a PAX record that is not UTF-8") from None
        if name not in _PAX_KEYS and name not in _PAX_KEYS_IGNORED:
            raise Unsupported(f"the PAX keyword {name!r}")
        records[name] = text
        pos += length
    return records


def _apply(info: tarfile.TarInfo, pax: dict[str, str]) -> None:
    """What tarfile does with these keywords: they override the ustar fields."""
    try:
        if "size" in pax:
            info.size = int(pax["size"])
        if "mtime" in pax:
            info.mtime = float(pax["mtime"])
    except ValueError:
        raise Unsupported("a PAX number that is not one") from None
    if "path" in pax:
        info.name = pax["path"]
    if "linkpath" in pax:
        info.linkname = pax["linkpath"]
    info.pax_headers = {k: v for k, v in pax.items() if k in _PAX_KEYS}
    if info.size < 0:
        raise Unsupported("a negative size")


@contextlib.contextmanager
def reading(archive: Path) -> Iterator[PipeTar]:
    """``zstd -d`` of ``archive`` into a pipe, read as a tar stream.

    After the caller is done the rest of the stream is drained, so that zstd's
    exit status judges the whole of it (a stream cut at a member boundary
    would otherwise look like a shorter, complete archive).
    """
    proc = subprocess.Popen(
        zstd.decompress_command(archive), stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0
    )
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    with contextlib.suppress(OSError, AttributeError):
        import fcntl

        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    stream = PipeTar(fd, archive.name)
    try:
        yield stream
        while os.read(fd, _CHUNK):
            pass
    except ArchiveError:
        if not stream.ended:
            _stop(proc)  # we refused the tar while zstd still writes: stop it
            raise
        _judge(proc, archive, stream)  # the pipe ended early: zstd knows why
        raise
    except BaseException:
        _stop(proc)
        raise
    _judge(proc, archive, stream)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    if proc.stdout is not None:
        proc.stdout.close()
    proc.wait()


def _judge(proc: subprocess.Popen[bytes], archive: Path, stream: PipeTar) -> None:
    """Raise zstd's verdict on the stream, if it failed (its message without our paths)."""
    assert proc.stdout is not None
    proc.stdout.close()
    try:
        zstd.finish(proc, "decompressing")
    except zstd.ZstdCommandError as exc:
        text = str(exc).replace(str(archive), archive.name)
        if not stream.headers:
            raise ArchiveError(f"{archive.name} is not a .tar.zst archive ({text})") from None
        raise ArchiveError(f"{archive.name} is corrupt or truncated ({text})") from None
