"""The ``.pyc`` header (PEP 552, and the 12-byte one before it): parse and write."""

from __future__ import annotations

from dataclasses import dataclass

from pyo3_cache.bytecode.magic_numbers import (
    cpython_line_for_magic,
    describe_magic,
    is_pypy_style_magic,
)

# --- the .pyc header -----------------------------------------------------------

HEADER_SIZE = 16
"""PEP 552 header (3.7a4, magic 3392, onwards): magic, flags, 8 bytes of validation."""
LEGACY_HEADER_SIZE = 12
"""3.3 → 3.7a2 header: magic, source mtime, source size; no flags word."""

FLAG_HASH_BASED = 0b01
FLAG_CHECK_SOURCE = 0b10

_PEP552_FIRST_CPYTHON_MAGIC = 3392
# PyPy 3.7 (magic 224) is the first PyPy line with PEP 552 headers; PyPy 3.6
# used 160 and 192 (per the numbers PyPy's 3.6 releases wrote).
_PEP552_FIRST_PYPY_MAGIC = 224


@dataclass(frozen=True)
class PycHeader:
    """A parsed ``.pyc`` header."""

    magic: int
    flags: int = 0
    """0 timestamp, 1 unchecked hash, 3 checked hash (2 reads as timestamp)."""
    mtime: int | None = None
    source_size: int | None = None
    source_hash: bytes | None = None
    size: int = HEADER_SIZE
    """Header length: 16, or 12 for pre-PEP 552 bytecode (3.6)."""

    @property
    def hash_based(self) -> bool:
        return bool(self.flags & FLAG_HASH_BASED)

    @property
    def invalidation(self) -> str:
        """``timestamp``, ``checked-hash`` or ``unchecked-hash`` (py_compile's names)."""
        if not self.hash_based:
            return "timestamp"
        return "checked-hash" if self.flags & FLAG_CHECK_SOURCE else "unchecked-hash"


@dataclass(frozen=True)
class HeaderProblem:
    """Why a ``.pyc`` header could not be read; ``kind`` is a finding kind."""

    kind: str
    detail: str


def _u32(data: bytes, offset: int) -> int:
    return int.from_bytes(data[offset : offset + 4], "little")


def header_size_for_magic(magic: int) -> int:
    """16 for PEP 552 bytecode, 12 for older (CPython before 3.7a4, PyPy 3.6)."""
    if cpython_line_for_magic(magic) is not None:
        return HEADER_SIZE if magic >= _PEP552_FIRST_CPYTHON_MAGIC else LEGACY_HEADER_SIZE
    if is_pypy_style_magic(magic) and magic < _PEP552_FIRST_PYPY_MAGIC:
        return LEGACY_HEADER_SIZE
    return HEADER_SIZE


def parse_pyc_header(data: bytes) -> PycHeader | HeaderProblem:
    """Read a ``.pyc`` header from the file's first bytes; never raises.

    Returns a ``HeaderProblem`` (kind ``truncated``, ``unknown-magic`` or
    ``unreadable``) for anything that is not a header CPython or PyPy writes.
    """
    data = bytes(data[:HEADER_SIZE])
    if len(data) < 4:
        return HeaderProblem(
            "truncated", f"{len(data)} bytes; a .pyc starts with a {HEADER_SIZE}-byte header"
        )
    if data[2:4] != b"\r\n":
        return HeaderProblem(
            "unknown-magic", f"does not start with a bytecode magic number (bytes {data[:4].hex()})"
        )
    magic = int.from_bytes(data[:2], "little")
    if describe_magic(magic).implementation == "unknown":
        return HeaderProblem(
            "unknown-magic", f"magic {magic} is neither a CPython nor a PyPy bytecode number"
        )
    size = header_size_for_magic(magic)
    if len(data) < size:
        return HeaderProblem(
            "truncated", f"{len(data)} bytes; its magic {magic} needs a {size}-byte header"
        )
    if size == LEGACY_HEADER_SIZE:
        return PycHeader(magic, 0, _u32(data, 4), _u32(data, 8), None, LEGACY_HEADER_SIZE)
    flags = _u32(data, 4)
    if flags & ~0b11:
        # CPython's importer rejects these too ("invalid flags").
        return HeaderProblem("unreadable", f"header flags {flags:#x} are not a known pyc format")
    if flags & FLAG_HASH_BASED:
        return PycHeader(magic, flags, None, None, data[8:16], HEADER_SIZE)
    return PycHeader(magic, flags, _u32(data, 8), _u32(data, 12), None, HEADER_SIZE)


def write_pyc_header(header: PycHeader) -> bytes:
    """The bytes of ``header`` (the inverse of ``parse_pyc_header``)."""
    out = header.magic.to_bytes(2, "little") + b"\r\n"
    if header.size == LEGACY_HEADER_SIZE:
        return (
            out
            + (header.mtime or 0).to_bytes(4, "little")
            + (header.source_size or 0).to_bytes(4, "little")
        )
    out += header.flags.to_bytes(4, "little")
    if header.flags & FLAG_HASH_BASED:
        return out + (header.source_hash or b"\0" * 8)[:8].ljust(8, b"\0")
    return (
        out
        + (header.mtime or 0).to_bytes(4, "little")
        + (header.source_size or 0).to_bytes(4, "little")
    )
