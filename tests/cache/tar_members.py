"""Tar members for hand-made archives (the archive tests and the bad-input catalogue)."""

from __future__ import annotations

import tarfile


def member(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    """A regular file ``name`` holding ``data``."""
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, None]:
    """A member of type ``kind`` (a link, device, FIFO...) pointing at ``linkname``."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, None
