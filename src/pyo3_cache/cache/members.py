"""Reading a cache archive's members and deciding, member by member, whether each is safe.

The rules are about the archive's *final* tree, not the links seen so far: a
link that is harmless when it arrives (``a -> e/../..`` while ``e`` is a
folder) changes meaning when a later member turns ``e`` into a link. So:

- nothing may lie behind a symlink member, whichever comes first in the
  stream (a member below a link, or a link over a folder that has members);
- a path keeps its kind: a folder, a file or a link, never two of them;
- symlinks are only checked at the end, against every link of the archive:
  relative, resolved step by step inside their anchor, through no other link
  (a link to a link is refused, so no chain can change meaning);
- a hard link names a regular file met earlier under the same anchor.

The extraction (``extract.py``) writes files and folders into a staging
folder that holds no link until every file is written, so a member is never
created through a link.
"""

from __future__ import annotations

import posixpath
import tarfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pyo3_cache.cache import zstd
from pyo3_cache.cache.archive import READ_CHUNK
from pyo3_cache.errors import ArchiveError

REFUSE = "refusing to restore"


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


# What a damaged archive raises while it is read: tar's errors and zstd's.
BROKEN_STREAM: tuple[type[BaseException], ...] = (tarfile.TarError, *zstd.errors())


def iter_members(archive: Path) -> Iterator[tuple[tarfile.TarFile, tarfile.TarInfo]]:
    try:
        with zstd.decompressing(archive) as stream:
            try:
                # closed below; 1 MiB reads: tarfile's default 10 KiB costs a third of a restore
                tar = tarfile.open(fileobj=stream, mode="r|", bufsize=READ_CHUNK)  # noqa: SIM115
            except BROKEN_STREAM as exc:
                raise ArchiveError(f"{archive.name} is not a .tar.zst archive ({exc})") from None
            with tar:
                while True:
                    try:
                        member = tar.next()
                    except BROKEN_STREAM as exc:
                        raise ArchiveError(
                            f"{archive.name} is corrupt or truncated ({exc})"
                        ) from None
                    if member is None:
                        break
                    yield tar, member
    except zstd.ZstdMissing as exc:
        raise ArchiveError(f"cannot read {archive.name}: {exc}") from None
    except BROKEN_STREAM as exc:  # the zstd command's verdict on the whole stream
        raise ArchiveError(f"{archive.name} is corrupt or truncated ({exc})") from None


def clean_name(name: str) -> str:
    """The member's relative path, or ArchiveError if it could escape."""
    if not name or "\x00" in name:
        raise ArchiveError(f"archive member {name!r} has an empty or invalid name")
    if name.startswith(("/", "\\")) or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"archive member {name!r} has an absolute path; {REFUSE}")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"archive member {name!r} climbs out with '..'; {REFUSE}")
    if not parts:
        raise ArchiveError(f"archive member {name!r} has an empty name")
    return "/".join(parts)


def split_anchor(name: str, destinations: Mapping[str, Path]) -> tuple[str, str]:
    """(anchor, rest) for the longest anchor that prefixes ``name``."""
    for anchor in sorted(destinations, key=len, reverse=True):
        if name == anchor:
            return anchor, ""
        if name.startswith(anchor + "/"):
            return anchor, name[len(anchor) + 1 :]
    known = ", ".join(sorted(destinations))
    raise ArchiveError(
        f"archive member {name!r} is under no known root (this restore writes only {known}); "
        f"{REFUSE}"
    )


def mtime_ns(member: tarfile.TarInfo) -> int:
    """The member's exact mtime (our PAX record), else tar's whole seconds."""
    text = member.pax_headers.get("mtime")
    if text:
        whole, _, frac = text.partition(".")
        try:
            return int(whole) * 1_000_000_000 + int((frac + "000000000")[:9] or "0")
        except ValueError:
            pass
    return int(member.mtime) * 1_000_000_000


def _ancestors(name: str) -> Iterator[str]:
    parent = posixpath.dirname(name)
    while parent:
        yield parent
        parent = posixpath.dirname(parent)


@dataclass
class Symlink:
    anchor: str
    rest: str
    target: str
    mtime_ns: int


@dataclass
class MemberRules:
    """Every member's safety against the whole archive, and its size limits."""

    archive: Path
    destinations: Mapping[str, Path]
    limits: ExtractLimits = field(default_factory=ExtractLimits)
    compressed: int = 1
    total: int = 0
    count: int = 0
    kinds: dict[str, str] = field(default_factory=dict)  # name -> "dir" | "file" | "link"
    below: set[str] = field(default_factory=set)  # every folder some member lies in
    symlinks: dict[str, Symlink] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.compressed = max(self.archive.stat().st_size, 1)

    def check(self, member: tarfile.TarInfo) -> tuple[str, str, str]:
        """(name, anchor, rest) of a safe member, or ArchiveError."""
        name = clean_name(member.name)
        if not (member.isreg() or member.isdir() or member.issym() or member.islnk()):
            raise ArchiveError(
                f"archive member {name!r} is a device, fifo or special file; {REFUSE}"
            )
        anchor, rest = split_anchor(name, self.destinations)
        if not rest and not member.isdir():
            raise ArchiveError(f"archive member {name!r} would replace the folder itself; {REFUSE}")
        kind = "dir" if member.isdir() else "link" if member.issym() else "file"
        seen = self.kinds.get(name)
        if seen is not None and (seen != kind or kind == "link"):
            raise ArchiveError(f"archive member {name!r} appears twice, as a {seen} and a {kind}")
        # Every folder in ``below`` was checked when it got there, with all
        # its parents, and can never become a file or a link (refused below):
        # the walk up stops at the first one met.
        new_parents = []
        for parent in _ancestors(name):
            if parent in self.below:
                break
            if self.kinds.get(parent, "dir") != "dir":
                raise ArchiveError(
                    f"archive member {name!r} lies behind the {self.kinds[parent]} {parent!r} "
                    f"(outside its root once that is followed); {REFUSE}"
                )
            new_parents.append(parent)
        if kind != "dir" and name in self.below:
            what = "symlink" if kind == "link" else "file"
            raise ArchiveError(
                f"archive member {name!r} is a {what} over a folder that has members; {REFUSE}"
            )
        self.kinds[name] = kind
        self.below.update(new_parents)
        self.count += 1
        if self.count > self.limits.max_members:
            raise ArchiveError(
                f"{self.archive.name} has more than {self.limits.max_members} members"
            )
        if member.issym():
            self._symlink_text(name, member.linkname)
            link = Symlink(anchor, rest, member.linkname, mtime_ns(member))
            self.symlinks[name] = link
            self._resolve(link, {})  # the plain climb-out is refused at once
        elif member.islnk():
            self._hard_link(name, anchor, member.linkname)
        elif member.isreg():
            self._size(name, member.size)
        return name, anchor, rest

    def _symlink_text(self, name: str, target: str) -> None:
        if not target or "\x00" in target or posixpath.isabs(target) or target.startswith("\\"):
            raise ArchiveError(
                f"archive member {name!r} is a symlink to an absolute path; {REFUSE}"
            )

    def _hard_link(self, name: str, anchor: str, linkname: str) -> None:
        target = clean_name(linkname)
        if self.kinds.get(target) != "file" or target == name:
            raise ArchiveError(
                f"archive member {name!r} is a hard link to {linkname!r}, which is not "
                f"an earlier file of the archive; {REFUSE}"
            )
        if split_anchor(target, self.destinations)[0] != anchor:
            raise ArchiveError(f"archive member {name!r} is a hard link across roots; {REFUSE}")

    def _size(self, name: str, size: int) -> None:
        limits, archive = self.limits, self.archive
        if size > limits.max_member_bytes:
            raise ArchiveError(
                f"archive member {name!r} claims {size} bytes, more than the "
                f"{limits.max_member_bytes} a cache file may have; {REFUSE}"
            )
        self.total += size
        if self.total > limits.max_total_bytes:
            raise ArchiveError(
                f"{archive.name} would unpack to more than {limits.max_total_bytes} bytes; {REFUSE}"
            )
        if (
            self.total > limits.ratio_grace_bytes
            and self.total / self.compressed > limits.max_ratio
        ):
            raise ArchiveError(
                f"{archive.name} would unpack to {self.total} bytes from {self.compressed} "
                f"(over {limits.max_ratio:.0f}x, a decompression bomb); {REFUSE}"
            )

    def check_symlinks(self) -> None:
        """Each symlink, resolved step by step against the final tree, stays in its
        anchor and passes through no other link."""
        for link in self.symlinks.values():
            self._resolve(link, self.kinds)

    def _resolve(self, link: Symlink, kinds: Mapping[str, str]) -> None:
        base = link.anchor
        name = f"{base}/{link.rest}"
        out = [p for p in posixpath.dirname(link.rest).split("/") if p]
        for part in link.target.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if not out:
                    raise ArchiveError(
                        f"archive member {name!r} is a symlink pointing outside "
                        f"its root ({link.target!r}); {REFUSE}"
                    )
                out.pop()
                continue
            out.append(part)
            through = f"{base}/{'/'.join(out)}"
            if kinds.get(through) == "link":
                raise ArchiveError(
                    f"archive member {name!r} is a symlink through another "
                    f"symlink {through!r} (could end outside its root); {REFUSE}"
                )
