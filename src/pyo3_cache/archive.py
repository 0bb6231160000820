"""Cache archives: ``.tar.zst`` files that keep cargo's freshness intact.

Members are named by *anchor* (``target/release/deps/…``,
``cargo-home/registry/index/…``), never by absolute path, so an archive made
on one machine restores on another whose checkout or ``CARGO_HOME`` differs.

Why the care with time stamps: cargo (1.95) decides freshness by comparing
file mtimes with nanosecond precision (``the file `src/lib.rs` has changed
(…, 312ns after last build …)``), so mtimes travel in PAX ``mtime`` records as
exact decimal strings (Python's tarfile writes floats, which lose the last
digits) and are set back with ``os.utime(ns=…)``.

Restoring is done in two passes over the stream: the first reads every header
and refuses the whole archive (``ArchiveError``) if any member could escape
the destination or is absurdly large; only then does the second pass write.
So a hostile or broken archive writes nothing at all.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import posixpath
import re
import shutil
import stat
import tarfile
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import zstandard

from pyo3_cache.errors import ArchiveError

ZSTD_LEVEL = 3
# Keep every file's content in its own frame-independent stream: a long window
# buys a few percent on rlibs that share code across versions.
ZSTD_WINDOW_LOG = 27
ZSTD_JOB_SIZE = 64 << 20
_READ_CHUNK = 1 << 20


@dataclass(frozen=True)
class ArchiveRoot:
    """One directory to archive and the anchor its members are named under."""

    anchor: str
    path: Path


@dataclass(frozen=True)
class ExtractLimits:
    """What a restore refuses as absurd (zip-bomb defence).

    A cargo target dir compresses 3-6x with zstd; a stream claiming far more
    than ``max_ratio`` times its compressed size, beyond a grace amount, is
    not a cache we wrote.
    """

    max_total_bytes: int = 64 << 30
    max_member_bytes: int = 16 << 30
    max_members: int = 2_000_000
    max_ratio: float = 100.0
    ratio_grace_bytes: int = 64 << 20


@dataclass
class ArchiveStats:
    """What ``create_archive`` wrote (sizes in bytes)."""

    members: int = 0
    source_bytes: int = 0
    archive_bytes: int = 0
    sha256: str = ""
    skipped: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "source_bytes": self.source_bytes,
            "archive_bytes": self.archive_bytes,
            "sha256": self.sha256,
            "skipped": list(self.skipped),
        }


@dataclass
class ExtractStats:
    members: int = 0
    bytes_written: int = 0


# --- creating ---------------------------------------------------------------


def _exact_mtime(st: os.stat_result) -> str:
    seconds, nanos = divmod(st.st_mtime_ns, 1_000_000_000)
    return f"{seconds}.{nanos:09d}"


def _link_stays_inside(link: Path, target: str, root: Path) -> bool:
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
        dirs.sort()
        base = Path(folder)
        others += (base / name for name in files)
        for name in dirs:
            path = base / name
            if path.is_symlink():  # os.walk lists links to folders as folders
                others.append(path)
            else:
                yield path
    yield from sorted(others, key=_kinship)


class _CountingWriter(io.RawIOBase):
    """Hashes and counts the compressed bytes on their way to the file."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.count = 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        view = memoryview(data).cast("B")
        self.raw.write(view)
        self.sha.update(view)
        self.count += len(view)
        return len(view)


def create_archive(
    roots: Sequence[ArchiveRoot], dest: Path, level: int = ZSTD_LEVEL
) -> ArchiveStats:
    """Write ``roots`` into ``dest`` (``.tar.zst``) and return sizes and sha256.

    Symlinks are stored as links and only when they point inside their root;
    device files, fifos and sockets are skipped (listed in ``stats.skipped``).
    Hard links within the archive are stored once. Raises ``OSError`` on I/O
    failure (the caller decides whether that is fatal).
    """
    stats = ArchiveStats()
    # Long-distance matching: a target dir holds the same bytes many times over
    # (dev and release builds, .rlib next to .rmeta, hard-linked outputs), far
    # apart in the tar; LDM finds them. Measured on the example's target dir
    # (197 MB tar): 43.6 MiB without, 25.2 MiB with, and no slower.  64 MiB jobs
    # keep multi-threaded output close to single-threaded.  actions/cache
    # compresses with `zstd --long` for the same reason.
    params = zstandard.ZstdCompressionParameters.from_level(
        level,
        window_log=ZSTD_WINDOW_LOG,
        enable_ldm=True,
        threads=-1 if (os.cpu_count() or 1) > 1 else 0,
        job_size=ZSTD_JOB_SIZE,
    )
    compressor = zstandard.ZstdCompressor(compression_params=params)
    with dest.open("wb") as raw:
        counter = _CountingWriter(raw)
        zout = compressor.stream_writer(counter, closefd=False)  # type: ignore[arg-type]
        with zout, tarfile.open(fileobj=zout, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for root in roots:
                if root.path.is_dir():
                    _add_tree(tar, root, stats)
    stats.archive_bytes = counter.count
    stats.sha256 = counter.sha.hexdigest()
    return stats


def _add_tree(tar: tarfile.TarFile, root: ArchiveRoot, stats: ArchiveStats) -> None:
    anchor = root.anchor.strip("/")
    base = root.path
    entries: list[Path] = [base, *_walk(base)]
    for path in entries:
        rel = path.relative_to(base).as_posix()
        arcname = anchor if rel == "." else f"{anchor}/{rel}"
        try:
            st = path.lstat()
        except FileNotFoundError:  # vanished while we walked (a concurrent build)
            continue
        mode = st.st_mode
        if stat.S_ISLNK(mode):
            target = os.readlink(path)
            if not _link_stays_inside(path, target, base):
                stats.skipped.append(f"{arcname} (symlink pointing outside)")
                continue
        elif not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            stats.skipped.append(f"{arcname} (not a file, directory or link)")
            continue
        info = tar.gettarinfo(str(path), arcname=arcname)
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime_ns // 1_000_000_000)
        info.pax_headers = {"mtime": _exact_mtime(st)}
        if info.isreg():
            try:
                with path.open("rb") as handle:
                    tar.addfile(info, handle)
            except FileNotFoundError:
                continue
            stats.source_bytes += info.size
        else:
            tar.addfile(info)
        stats.members += 1


# --- reading ----------------------------------------------------------------


def _open_stream(archive: Path) -> tuple[IO[bytes], Any]:
    raw = archive.open("rb")
    decompressor = zstandard.ZstdDecompressor(max_window_size=1 << 31)
    return raw, decompressor.stream_reader(raw, read_size=_READ_CHUNK)


def _iter_members(archive: Path) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    raw, stream = _open_stream(archive)
    try:
        try:
            # closed below; 1 MiB reads: tarfile's default 10 KiB costs a third of a restore
            tar = tarfile.open(fileobj=stream, mode="r|", bufsize=_READ_CHUNK)  # noqa: SIM115
        except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
            raise ArchiveError(f"{archive.name} is not a .tar.zst archive ({exc})") from None
        with tar:
            while True:
                try:
                    member = tar.next()
                except (tarfile.TarError, zstandard.ZstdError, EOFError) as exc:
                    raise ArchiveError(f"{archive.name} is corrupt or truncated ({exc})") from None
                if member is None:
                    return
                yield tar, member
    finally:
        stream.close()
        raw.close()


def _clean_name(name: str) -> str:
    """The member's relative path, or ArchiveError if it could escape."""
    if not name or "\x00" in name:
        raise ArchiveError(f"archive member {name!r} has an empty or invalid name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive member {name!r} has an absolute path; refusing to restore")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member {name!r} climbs out with '..'; refusing to restore")
    if not parts:
        raise ArchiveError(f"archive member {name!r} has an empty name")
    return "/".join(parts)


def _split_anchor(name: str, destinations: Mapping[str, Path]) -> tuple[str, str]:
    """(anchor, rest) for the longest anchor that prefixes ``name``."""
    for anchor in sorted(destinations, key=len, reverse=True):
        if name == anchor:
            return anchor, ""
        if name.startswith(anchor + "/"):
            return anchor, name[len(anchor) + 1 :]
    raise ArchiveError(f"archive member {name!r} is under no known root; refusing to restore")


def _resolve_inside(parts: list[str], links: Mapping[str, str]) -> bool:
    """Follow ``parts`` through the archive's own symlinks; False if it leaves the root.

    Checking each link's text alone is not enough: ``b -> .`` is harmless, but
    ``a -> b/..`` then climbs out through it.
    """
    todo = list(parts)
    out: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if not out:
                return False
            out.pop()
            continue
        out.append(part)
        target = links.get("/".join(out))
        if target is not None:
            hops += 1
            if hops > 40 or posixpath.isabs(target):
                return False
            out.pop()
            todo = target.split("/") + todo
    return True


def _check_member(
    member: tarfile.TarInfo,
    name: str,
    destinations: Mapping[str, Path],
    regular_names: set[str],
    links: dict[str, dict[str, str]],
) -> None:
    if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
        raise ArchiveError(
            f"archive member {name!r} is a device, fifo or special file; refusing to restore"
        )
    anchor, rest = _split_anchor(name, destinations)
    anchor_links = links.setdefault(anchor, {})
    parent = posixpath.dirname(rest)
    if parent and not _resolve_inside(parent.split("/"), anchor_links):
        raise ArchiveError(
            f"archive member {name!r} lies behind a symlink pointing outside its root; "
            "refusing to restore"
        )
    if member.issym():
        target = member.linkname
        if not target or posixpath.isabs(target) or target.startswith("\\"):
            raise ArchiveError(
                f"archive member {name!r} is a symlink to an absolute path; refusing to restore"
            )
        anchor_links[rest] = target
        if not _resolve_inside(rest.split("/"), anchor_links):
            raise ArchiveError(
                f"archive member {name!r} is a symlink pointing outside its root "
                f"({target!r}); refusing to restore"
            )
    elif rest in anchor_links:
        del anchor_links[rest]
    if member.islnk():
        target = _clean_name(member.linkname)
        if target not in regular_names:
            raise ArchiveError(
                f"archive member {name!r} is a hard link to {member.linkname!r}, which is not "
                "an earlier file of the archive; refusing to restore"
            )
        if _split_anchor(target, destinations)[0] != anchor:
            raise ArchiveError(
                f"archive member {name!r} is a hard link across roots; refusing to restore"
            )


def check_archive(
    archive: Path,
    destinations: Mapping[str, Path],
    limits: ExtractLimits | None = None,
) -> int:
    """First pass: refuse the archive if any member is unsafe. Returns the member count."""
    limits = limits or ExtractLimits()
    compressed = max(archive.stat().st_size, 1)
    total = 0
    count = 0
    regular_names: set[str] = set()
    links: dict[str, dict[str, str]] = {}
    for _tar, member in _iter_members(archive):
        name = _clean_name(member.name)
        _check_member(member, name, destinations, regular_names, links)
        count += 1
        if count > limits.max_members:
            raise ArchiveError(f"{archive.name} has more than {limits.max_members} members")
        if member.isreg():
            regular_names.add(name)
            if member.size > limits.max_member_bytes:
                raise ArchiveError(
                    f"archive member {name!r} claims {member.size} bytes, more than the "
                    f"{limits.max_member_bytes} a cache file may have; refusing to restore"
                )
            total += member.size
            if total > limits.max_total_bytes:
                raise ArchiveError(
                    f"{archive.name} would unpack to more than {limits.max_total_bytes} bytes; "
                    "refusing to restore"
                )
            if total > limits.ratio_grace_bytes and total / compressed > limits.max_ratio:
                raise ArchiveError(
                    f"{archive.name} would unpack to {total} bytes from {compressed} "
                    f"(over {limits.max_ratio:.0f}x, a decompression bomb); refusing to restore"
                )
    return count


def _inside(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _safe_parent(dest_root: Path, rest: str) -> Path:
    """Create the member's parent folders and check none resolves outside ``dest_root``."""
    if not rest:
        return dest_root
    target = dest_root / rest
    parent = target.parent
    parent.mkdir(parents=True, exist_ok=True)
    if not _inside(parent.resolve(), dest_root.resolve()):
        raise ArchiveError(
            f"restoring {rest!r} would write through a link outside {dest_root.name}/; refusing"
        )
    return target


def _remove_existing(path: Path) -> None:
    try:
        st = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        path.unlink()


def _mtime_ns(member: tarfile.TarInfo) -> int:
    text = member.pax_headers.get("mtime")
    if text:
        whole, _, frac = text.partition(".")
        try:
            return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
        except ValueError:
            pass
    return int(member.mtime) * 1_000_000_000


def _write_file(tar: tarfile.TarFile, member: tarfile.TarInfo, target: Path) -> int:
    source = tar.extractfile(member)
    if source is None:  # pragma: no cover - regular members always have data
        raise ArchiveError(f"archive member {member.name!r} has no data")
    # Whole files only: write beside, then rename, so an interrupted restore
    # never leaves a truncated rlib that a restored fingerprint would call fresh.
    fd, tmp_name = tempfile.mkstemp(prefix=".pyo3-cache-", dir=target.parent)
    written = 0
    try:
        with os.fdopen(fd, "wb") as out:
            while True:
                chunk = source.read(_READ_CHUNK)
                if not chunk:
                    break
                out.write(chunk)
                written += len(chunk)
        os.chmod(tmp_name, member.mode & 0o777)
        ns = _mtime_ns(member)
        os.utime(tmp_name, ns=(ns, ns))
        if target.is_dir() and not target.is_symlink():
            _remove_existing(target)
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp_name)
        raise
    return written


def extract_archive(
    archive: Path,
    destinations: Mapping[str, Path],
    limits: ExtractLimits | None = None,
) -> ExtractStats:
    """Restore ``archive`` with each anchor's members under ``destinations[anchor]``.

    Refuses the whole archive (``ArchiveError``, nothing written) if a member
    has an absolute path or ``..``, is a link out of its root, a hard link to
    anything but an earlier file, a device/fifo, or the sizes are absurd.
    ``OSError`` (disk full, permissions) propagates; files already restored
    are whole files with their original mtimes.
    """
    check_archive(archive, destinations, limits)
    stats = ExtractStats()
    dir_times: list[tuple[Path, int]] = []
    written: dict[str, Path] = {}
    for tar, member in _iter_members(archive):
        name = _clean_name(member.name)
        anchor, rest = _split_anchor(name, destinations)
        root = destinations[anchor]
        root.mkdir(parents=True, exist_ok=True)
        target = _safe_parent(root, rest)
        ns = _mtime_ns(member)
        if member.isdir():
            if target.is_symlink() or (target.exists() and not target.is_dir()):
                _remove_existing(target)
            target.mkdir(exist_ok=True)
            os.chmod(target, (member.mode & 0o777) | 0o700)
            dir_times.append((target, ns))
        elif member.isreg():
            stats.bytes_written += _write_file(tar, member, target)
            written[name] = target
        elif member.issym():
            _remove_existing(target)
            os.symlink(member.linkname, target)
            if os.utime in os.supports_follow_symlinks:
                os.utime(target, ns=(ns, ns), follow_symlinks=False)
        elif member.islnk():
            source = written[_clean_name(member.linkname)]
            _remove_existing(target)
            try:
                os.link(source, target)
            except OSError:  # a filesystem without hard links: copy
                shutil.copy2(source, target)
        stats.members += 1
    # Folders last and deepest first: writing into a folder moves its mtime.
    for folder, ns in sorted(dir_times, key=lambda item: len(item[0].parts), reverse=True):
        with contextlib.suppress(OSError):
            os.utime(folder, ns=(ns, ns))
    return stats


def sha256_of(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(_READ_CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
