"""Audit the ``.pyc`` files in wheels, sdists, conda packages and directories.

Python writes bytecode per interpreter: ``pkg/__pycache__/mod.<cache tag>.pyc``
holds a 16-byte header (magic number, flags, then the source's mtime and size
or a SipHash of it).  Packages get this wrong in ways nothing else reports:
a ``cpython-311.pyc`` inside a package built for 3.10 (dead weight that grows
with every build variant, prefix-dev/pixi's numba-cuda report), or 3.14rc2
bytecode under the ``cpython-314`` tag that every 3.14.0 recompiles on import
(conda-forge-pinning#7795).  ``audit_bytecode`` reads only each ``.pyc``'s
header (16 bytes, streamed out of archives) and reports one finding per
problem.

Finding kinds (public: the CLI's JSON carries them as ``kind``):

==============  ========  =====================================================
kind            severity  meaning
==============  ========  =====================================================
foreign-tag     error     cache tag of another interpreter than the package's
magic-mismatch  error     magic is not what its tag's released interpreter
                          loads (pre-release bytecode, or another version's)
orphan          error     ``__pycache__`` file with no source next to it:
                          no interpreter ever loads it
stale           error     the source changed after compiling (size, mtime in a
                          directory, or hash where it can be checked)
truncated       error     shorter than its header
unknown-magic   error     not a CPython or PyPy magic number at all
unreadable      error     the file or archive cannot be read (corrupt zip ...)
unchecked-hash  warning   compiled so that Python never checks the source:
                          an edited source keeps running the old bytecode
bad-wheel-name  warning   wheel file name does not parse; tags read from WHEEL
pyc-in-wheel    note      the wheel ships bytecode (installers compile their own)
pyc-in-sdist    note      the sdist ships bytecode
==============  ========  =====================================================

Exit status of the CLI: 1 when an error finding is left (``--fix`` removed
files count as fixed), else 0.  ``--fix`` deletes offending ``.pyc`` files
only inside a directory given on the command line (Python regenerates them);
archives are never edited in place.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import json
import os
import re
import stat
import tarfile
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pyo3_cache.bytecode.magic_numbers import (
    Interpreter,
    cpython_line_for_magic,
    describe_magic,
    is_pypy_style_magic,
    parse_cache_tag,
    parse_python_tag,
    parse_wheel_python_tag,
)
from pyo3_cache.errors import BytecodeError

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

ERROR_KINDS = frozenset(
    {
        "foreign-tag",
        "magic-mismatch",
        "orphan",
        "stale",
        "truncated",
        "unknown-magic",
        "unreadable",
    }
)
WARNING_KINDS = frozenset({"unchecked-hash", "bad-wheel-name"})
NOTE_KINDS = frozenset({"pyc-in-wheel", "pyc-in-sdist"})
# What --fix deletes: bytecode no interpreter can use as it is.
_FIXABLE_KINDS = frozenset(
    {"foreign-tag", "magic-mismatch", "orphan", "stale", "truncated", "unknown-magic"}
)


def severity_of(kind: str) -> str:
    if kind in ERROR_KINDS:
        return "error"
    if kind in WARNING_KINDS:
        return "warning"
    return "note"


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


# --- findings and the report ---------------------------------------------------------


@dataclass
class Finding:
    path: str
    """``dir/pkg/__pycache__/m.cpython-311.pyc``; inside an archive ``ARCHIVE!MEMBER``."""
    kind: str
    detail: str
    fixed: bool = False

    @property
    def severity(self) -> str:
        return severity_of(self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "detail": self.detail,
            "severity": self.severity,
            "fixed": self.fixed,
        }


@dataclass
class ArtifactSummary:
    """One PATH (or an archive found in a directory) and what was expected of it."""

    path: str
    kind: str
    """``wheel``, ``sdist``, ``conda``, ``directory`` or ``pyc``."""
    expected: str | None
    """``CPython 3.11`` or None when nothing names one interpreter."""
    expected_from: str
    pyc_files: int = 0
    tags: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "expected": self.expected,
            "expected_from": self.expected_from,
            "pyc_files": self.pyc_files,
            "tags": dict(self.tags),
        }


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    checked: int = 0
    """``.pyc`` files examined."""
    artifacts: list[ArtifactSummary] = field(default_factory=list)
    not_fixed: list[str] = field(default_factory=list)
    """Archives with findings that ``--fix`` left alone (never edited in place)."""
    skipped: list[str] = field(default_factory=list)
    """Entries not examined, with the reason (symlinks out of the tree)."""

    def count(self, severity: str, include_fixed: bool = False) -> int:
        return sum(
            1 for f in self.findings if f.severity == severity and (include_fixed or not f.fixed)
        )

    @property
    def has_errors(self) -> bool:
        """An error finding is left (fixed ones do not count)."""
        return self.count("error") > 0

    @property
    def exit_code(self) -> int:
        return 1 if self.has_errors else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "findings": [f.to_json() for f in self.findings],
            "checked": self.checked,
            "errors": self.count("error"),
            "warnings": self.count("warning"),
            "notes": self.count("note"),
            "fixed": sum(1 for f in self.findings if f.fixed),
            "artifacts": [a.to_json() for a in self.artifacts],
            "not_fixed": list(self.not_fixed),
            "skipped": list(self.skipped),
        }


# --- listings: what an artifact holds -----------------------------------------------


@dataclass
class _Member:
    size: int
    mtime: float | None = None
    """Exact source mtime; only a directory's is what the importer compares."""
    outside: bool = False
    """A symlink out of the audited tree: counted as present, never read."""


@dataclass
class _Listing:
    """Every file of one artifact, plus the first bytes of each ``.pyc``.

    Archives are read once, streaming; only headers are kept in memory.
    """

    display: str
    kind: str
    members: dict[str, _Member] = field(default_factory=dict)
    pyc_heads: dict[str, bytes | str] = field(default_factory=dict)
    """name → first 16 bytes, or the reason it could not be read."""
    default_expected: Interpreter | None = None
    expected_from: str = "nothing names one interpreter"
    path_prefix: str = ""
    """Prepended to member names when looking for ``lib/python3.X/``."""
    read_sources: Callable[[set[str]], dict[str, bytes]] | None = None
    root: Path | None = None
    """A directory's root: the only place ``--fix`` deletes in."""
    problems: list[Finding] = field(default_factory=list)

    def path_of(self, name: str) -> str:
        """How a member is shown: a real path for directories, ``ARCHIVE!MEMBER`` otherwise."""
        if self.kind == "pyc":
            return self.display
        if self.kind == "directory":
            return str(Path(self.display) / name)
        return f"{self.display}!{name}"


_MAX_HASHED_SOURCE = 64 * 1024 * 1024
_PYC_NAME_RE = re.compile(
    r"^(?P<stem>[^.]+(?:\.[^.]+)*?)\.(?P<tag>[^.]+)(?:\.opt-(?P<opt>\d+))?\.pyc$"
)
_LIB_RE = re.compile(
    r"(?:^|/)lib(?:64)?/(?P<impl>python|pypy)(?P<major>\d)\.(?P<minor>\d+)(?P<t>t?)/"
)


def _interpreter_from_path(path: str) -> Interpreter | None:
    """``.../lib/python3.10/site-packages/...`` → CPython 3.10; ``lib/pypy3.9/`` → PyPy 3.9."""
    found = None
    for m in _LIB_RE.finditer(path):
        found = m  # the innermost one wins (a venv nested in a tree)
    if found is None:
        return None
    impl = "pypy" if found["impl"] == "pypy" else "cpython"
    return Interpreter(impl, (int(found["major"]), int(found["minor"])), bool(found["t"]))


# --- directories ------------------------------------------------------------------------

_ARCHIVE_SUFFIXES = (".whl", ".conda", ".tar.bz2", ".tar.gz", ".tgz")
_SKIP_DIRS = frozenset({".git", ".hg", ".svn"})


def _is_archive(name: str) -> bool:
    return name.lower().endswith(_ARCHIVE_SUFFIXES)


def _venv_interpreter(root: Path) -> tuple[Interpreter | None, str]:
    cfg = root / "pyvenv.cfg"
    try:
        text = cfg.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None, ""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip().lower()] = value.strip()
    version = values.get("version_info") or values.get("version") or ""
    m = re.match(r"^(\d)\.(\d+)", version)
    if m is None:
        return None, ""
    impl_text = (values.get("implementation") or values.get("home") or "").lower()
    impl = "pypy" if "pypy" in impl_text else "cpython"
    return Interpreter(impl, (int(m[1]), int(m[2]))), "pyvenv.cfg"


def _list_directory(root: Path, display: str, archives: list[Path], skipped: list[str]) -> _Listing:
    listing = _Listing(display=display, kind="directory", root=root)
    listing.path_prefix = root.resolve().as_posix() + "/"
    listing.default_expected, listing.expected_from = _venv_interpreter(root)
    if listing.default_expected is None:
        listing.expected_from = "nothing names one interpreter"
    real_root = os.path.realpath(root)

    def onerror(exc: OSError) -> None:
        name = os.path.relpath(exc.filename, root) if exc.filename else "."
        listing.problems.append(
            Finding(listing.path_of(name), "unreadable", f"cannot list: {exc.strerror or exc}")
        )

    for dirpath, dirnames, filenames in os.walk(root, onerror=onerror, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS)
        rel_dir = os.path.relpath(dirpath, root)
        for fname in sorted(filenames):
            full = os.path.join(dirpath, fname)
            rel = fname if rel_dir == "." else f"{Path(rel_dir).as_posix()}/{fname}"
            is_pyc = fname.endswith(".pyc")
            outside = False
            try:
                st = os.lstat(full)
                if stat.S_ISLNK(st.st_mode):
                    target = os.path.realpath(full)
                    outside = os.path.commonpath([target, real_root]) != real_root
                    if outside and (is_pyc or _is_archive(fname)):
                        skipped.append(
                            f"{listing.path_of(rel)}: symlink out of the tree, not followed"
                        )
                        continue
                    # A source may live elsewhere (Debian links sitecustomize.py
                    # to /etc): its existence and stat count, its content is
                    # never read.
                    st = os.stat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
            except (OSError, ValueError) as exc:
                if is_pyc:
                    listing.problems.append(
                        Finding(listing.path_of(rel), "unreadable", f"cannot stat: {exc}")
                    )
                continue
            if _is_archive(fname):
                archives.append(Path(full))
            listing.members[rel] = _Member(st.st_size, st.st_mtime, outside)
            if is_pyc:
                try:
                    with open(full, "rb") as fh:
                        listing.pyc_heads[rel] = fh.read(HEADER_SIZE)
                except OSError as exc:
                    listing.pyc_heads[rel] = f"cannot read: {exc.strerror or exc}"

    def read_sources(names: set[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for name in names:
            member = listing.members.get(name)
            if member is None or member.outside:
                continue
            with contextlib.suppress(OSError):
                if (root / name).stat().st_size <= _MAX_HASHED_SOURCE:
                    out[name] = (root / name).read_bytes()
        return out

    listing.read_sources = read_sources
    return listing


# --- archives ----------------------------------------------------------------------------

_WHEEL_NAME_RE = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-(?P<build>\d[^-]*))?"
    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$",
    re.IGNORECASE,
)


def wheel_interpreter(python_tag: str, abi_tag: str) -> tuple[Interpreter | None, str]:
    """The one interpreter a wheel's tags name, or None with the reason."""
    if "." in python_tag:
        return None, f"wheel tag {python_tag} names several interpreters"
    if abi_tag.lower() in ("abi3", "abi3t", "none") and not python_tag.lower().startswith("pp"):
        # abi3 and pure wheels install on every later interpreter too.
        return None, f"{python_tag}-{abi_tag} wheel installs on several interpreters"
    interp = parse_wheel_python_tag(python_tag)
    if interp is None:
        return None, f"wheel tag {python_tag} names no single interpreter"
    return interp, f"wheel tag {python_tag}"


def _zip_members(zf: zipfile.ZipFile, listing: _Listing) -> None:
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename
        listing.members[name] = _Member(info.file_size)
        if name.endswith(".pyc"):
            try:
                with zf.open(info) as fh:
                    listing.pyc_heads[name] = fh.read(HEADER_SIZE)
            except Exception as exc:  # zipfile raises many kinds for one bad member
                listing.pyc_heads[name] = f"cannot read from the archive: {_reason(exc)}"


def _reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _zip_read_sources(path: Path) -> Callable[[set[str]], dict[str, bytes]]:
    def read(names: set[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with contextlib.suppress(Exception), zipfile.ZipFile(path) as zf:
            for name in names:
                with contextlib.suppress(Exception):
                    if zf.getinfo(name).file_size <= _MAX_HASHED_SOURCE:
                        out[name] = zf.read(name)
        return out

    return read


def _list_wheel(path: Path, display: str) -> _Listing:
    listing = _Listing(display=display, kind="wheel")
    m = _WHEEL_NAME_RE.match(path.name)
    with zipfile.ZipFile(path) as zf:
        _zip_members(zf, listing)
        tags = [] if m else _wheel_file_tags(zf)
    if m:
        listing.default_expected, listing.expected_from = wheel_interpreter(m["py"], m["abi"])
    else:
        listing.problems.append(
            Finding(
                display,
                "bad-wheel-name",
                "file name is not NAME-VERSION[-BUILD]-PYTHON-ABI-PLATFORM.whl; "
                + (
                    f"using its WHEEL file's tag {tags[0]}"
                    if len(tags) == 1
                    else "no single tag in its WHEEL file"
                ),
            )
        )
        if len(tags) == 1:
            py, abi, _plat = tags[0].split("-", 2)
            listing.default_expected, listing.expected_from = wheel_interpreter(py, abi)
            listing.expected_from += " (from WHEEL)"
    listing.read_sources = _zip_read_sources(path)
    return listing


def _wheel_file_tags(zf: zipfile.ZipFile) -> list[str]:
    for name in zf.namelist():
        parts = name.split("/")
        if len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] == "WHEEL":
            try:
                text = zf.read(name).decode("utf-8", "replace")
            except Exception:
                return []
            return [
                ln.split(":", 1)[1].strip()
                for ln in text.splitlines()
                if ln.lower().startswith("tag:") and ln.count("-") >= 2
            ]
    return []


def _tar_name(member: tarfile.TarInfo) -> str:
    name = member.name
    while name.startswith("./"):
        name = name[2:]
    return name


def _tar_members(
    tf: tarfile.TarFile, listing: _Listing, index: dict[str, bytes] | None = None
) -> None:
    for member in tf:
        if not member.isfile():
            continue
        name = _tar_name(member)
        listing.members[name] = _Member(member.size, float(member.mtime))
        wants_pyc = name.endswith(".pyc")
        wants_index = index is not None and _tar_name(member) == "info/index.json"
        if not (wants_pyc or wants_index):
            continue
        try:
            fh = tf.extractfile(member)
            data = fh.read(HEADER_SIZE if wants_pyc else 1024 * 1024) if fh else b""
        except Exception as exc:
            if wants_pyc:
                listing.pyc_heads[name] = f"cannot read from the archive: {_reason(exc)}"
            continue
        if wants_pyc:
            listing.pyc_heads[name] = data
        elif index is not None:
            index["info/index.json"] = data


def _tar_read_sources(
    opener: Callable[[], Iterator[tarfile.TarFile]],
) -> Callable[[set[str]], dict[str, bytes]]:
    def read(names: set[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        with contextlib.suppress(Exception):
            for tf in opener():
                for member in tf:
                    name = _tar_name(member)
                    if member.isfile() and name in names and member.size <= _MAX_HASHED_SOURCE:
                        fh = tf.extractfile(member)
                        if fh is not None:
                            out[name] = fh.read()
        return out

    return read


def _list_sdist(path: Path, display: str) -> _Listing:
    listing = _Listing(display=display, kind="sdist")
    listing.expected_from = "an sdist is source for every interpreter"
    if path.name.lower().endswith(".zip"):
        with zipfile.ZipFile(path) as zf:
            _zip_members(zf, listing)
        listing.read_sources = _zip_read_sources(path)
        return listing
    with tarfile.open(path, mode="r|*") as tf:
        _tar_members(tf, listing)

    def opener() -> Iterator[tarfile.TarFile]:
        with tarfile.open(path, mode="r|*") as tf:
            yield tf

    listing.read_sources = _tar_read_sources(opener)
    return listing


def _zstd_tar(fileobj: IO[bytes]) -> tarfile.TarFile:
    import zstandard

    reader = zstandard.ZstdDecompressor().stream_reader(fileobj)
    return tarfile.open(fileobj=reader, mode="r|")


def _list_conda(path: Path, display: str) -> _Listing:
    listing = _Listing(display=display, kind="conda")
    index: dict[str, bytes] = {}
    if path.name.lower().endswith(".conda"):
        # A .conda is a zip of pkg-*.tar.zst (the files) and info-*.tar.zst (metadata).
        with zipfile.ZipFile(path) as zf:
            inner = [n for n in zf.namelist() if n.endswith(".tar.zst")]
            if not inner:
                raise zipfile.BadZipFile("no pkg-*.tar.zst or info-*.tar.zst inside")
            for name in inner:
                with zf.open(name) as raw, _zstd_tar(raw) as tf:
                    _tar_members(tf, listing, index=index)

        def opener() -> Iterator[tarfile.TarFile]:
            with zipfile.ZipFile(path) as zf:
                for name in zf.namelist():
                    if name.startswith("pkg-") and name.endswith(".tar.zst"):
                        with zf.open(name) as raw, _zstd_tar(raw) as tf:
                            yield tf

    else:
        with tarfile.open(path, mode="r|*") as tf:
            _tar_members(tf, listing, index=index)

        def opener() -> Iterator[tarfile.TarFile]:
            with tarfile.open(path, mode="r|*") as tf:
                yield tf

    listing.read_sources = _tar_read_sources(opener)
    listing.default_expected, listing.expected_from = conda_interpreter(
        index.get("info/index.json"), path.name
    )
    return listing


def conda_interpreter(
    index_json: bytes | None, filename: str = ""
) -> tuple[Interpreter | None, str]:
    """The interpreter a conda package is built for, from ``info/index.json``.

    ``python_abi 3.10.* *_cp310`` (conda-forge) names it exactly; else a
    ``python >=3.10,<3.11.0a0`` pin; else a ``py310`` build string.  A
    ``noarch: python`` package has its bytecode compiled at install time.
    """
    data: dict[str, Any] = {}
    if index_json:
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            loaded = json.loads(index_json.decode("utf-8"))
            if isinstance(loaded, dict):
                data = loaded
    if data.get("noarch") == "python":
        return None, "noarch: python package (bytecode is compiled at install)"
    depends = [d for d in data.get("depends", []) if isinstance(d, str)]
    for dep in depends:
        m = re.match(r"^python_abi\s+\S+\s+\*_(?P<tag>cp\d+t?|pypy\d+)", dep)
        if m:
            tag = m["tag"]
            interp = parse_wheel_python_tag(tag) or parse_cache_tag(tag)
            if interp:
                return interp, f"conda dependency '{dep}'"
    for dep in depends:
        m = re.match(r"^python\s+>=(\d)\.(\d+)(?:\.\d+)?,<(\d)\.(\d+)", dep)
        if m and (int(m[3]), int(m[4])) == (int(m[1]), int(m[2]) + 1):
            return Interpreter("cpython", (int(m[1]), int(m[2]))), f"conda dependency '{dep}'"
    build = str(data.get("build") or "")
    if not build and filename:
        build = filename.rsplit("-", 1)[-1]
    m = re.match(r"^py(\d)(\d+)", build)
    if m:
        return Interpreter(
            "cpython", (int(m[1]), int(m[2]))
        ), f"conda build string {build.split('.')[0]}"
    return None, "conda metadata names no single interpreter"


# --- the checks ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _PycName:
    source: str | None
    """Where its source would be (``pkg/mod.py``); None for a tag-less ``__pycache__`` file."""
    tag: str | None
    in_pycache: bool


def _split_pyc_name(name: str) -> _PycName:
    path = PurePosixPath(name)
    parent = path.parent
    if parent.name == "__pycache__":
        m = _PYC_NAME_RE.match(path.name)
        src_dir = parent.parent
        if m is None:
            return _PycName(None, None, True)
        src = (src_dir / f"{m['stem']}.py").as_posix()
        return _PycName(src, m["tag"], True)
    src = path.with_suffix(".py").as_posix()
    return _PycName(src, None, False)


def _check_listing(
    listing: _Listing,
    user_expected: Interpreter | None,
    user_tag: str | None,
    summary: ArtifactSummary,
) -> list[Finding]:
    findings: list[Finding] = list(listing.problems)
    tags: Counter[str] = Counter()
    own_magic = int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")
    hash_checks: dict[str, tuple[str, PycHeader]] = {}  # pyc name -> (source name, header)
    for name in sorted(listing.pyc_heads):
        head = listing.pyc_heads[name]
        shown = listing.path_of(name)
        pname = _split_pyc_name(name)
        if pname.tag:
            tags[pname.tag] += 1
        if isinstance(head, str):
            findings.append(Finding(shown, "unreadable", head))
            continue
        header = parse_pyc_header(head)
        if isinstance(header, HeaderProblem):
            findings.append(Finding(shown, header.kind, header.detail))
            continue
        expected: Interpreter | None
        if user_expected is not None:
            expected, why = user_expected, f"--python-tag {user_tag}"
        else:
            expected = _interpreter_from_path(listing.path_prefix + name)
            why = "its lib/ path"
            if expected is None:
                expected, why = listing.default_expected, listing.expected_from
        findings.extend(_check_one(shown, name, pname, header, expected, why, listing))
        source_member = listing.members.get(pname.source or "")
        if (
            pname.in_pycache
            and source_member is not None
            and header.hash_based
            and header.magic == own_magic
        ):
            hash_checks[name] = (pname.source or "", header)
    if hash_checks and listing.read_sources is not None:
        sources = listing.read_sources({src for src, _h in hash_checks.values()})
        for name, (src, header) in sorted(hash_checks.items()):
            data = sources.get(src)
            if data is None or importlib.util.source_hash(data) == header.source_hash:
                continue
            trust = (
                "Python never checks it (unchecked-hash), so the old code runs"
                if header.invalidation == "unchecked-hash"
                else "Python recompiles it on every import it cannot write back"
            )
            findings.append(
                Finding(
                    listing.path_of(name),
                    "stale",
                    f"source hash differs from the one recorded; {trust}",
                )
            )
    summary.pyc_files = len(listing.pyc_heads)
    summary.tags = dict(sorted(tags.items()))
    if listing.pyc_heads and listing.kind in ("wheel", "sdist"):
        kind = "pyc-in-wheel" if listing.kind == "wheel" else "pyc-in-sdist"
        what = (
            "installers compile bytecode for the interpreter they install into"
            if listing.kind == "wheel"
            else "an sdist is built from source"
        )
        findings.append(
            Finding(listing.display, kind, f"ships {len(listing.pyc_heads)} .pyc file(s); {what}")
        )
    return findings


def _check_one(
    shown: str,
    name: str,
    pname: _PycName,
    header: PycHeader,
    expected: Interpreter | None,
    why: str,
    listing: _Listing,
) -> list[Finding]:
    out: list[Finding] = []
    info = describe_magic(header.magic)
    tagged = parse_cache_tag(pname.tag) if pname.tag else None
    if pname.in_pycache and pname.source is None:
        out.append(
            Finding(shown, "orphan", "not named MODULE.CACHE_TAG.pyc; no interpreter loads it")
        )
        return out
    if tagged is not None:
        if expected is not None and not expected.same_bytecode(tagged):
            out.append(
                Finding(
                    shown,
                    "foreign-tag",
                    f"{pname.tag} bytecode in a package for {expected.name} ({why})",
                )
            )
        accepted = tagged.accepts_magic(header.magic)
        if accepted is False:
            out.append(Finding(shown, "magic-mismatch", _mismatch_detail(header.magic, tagged)))
    elif not pname.in_pycache and expected is not None:
        # A sourceless module (legacy mod.pyc): loaded only by the interpreter
        # whose magic it carries.
        accepted = expected.accepts_magic(header.magic)
        if accepted is False and listing.members.get(pname.source or "") is None:
            out.append(
                Finding(
                    shown,
                    "magic-mismatch",
                    f"sourceless module with magic {info.describe()}; {expected.name} ({why}) "
                    f"loads only {expected.expected_magic()}",
                )
            )
    if header.invalidation == "unchecked-hash":
        out.append(
            Finding(
                shown,
                "unchecked-hash",
                "compiled with --invalidation-mode unchecked-hash: Python never checks the "
                "source, so an edited source keeps running this bytecode",
            )
        )
    source = listing.members.get(pname.source or "") if pname.in_pycache else None
    if pname.in_pycache and source is None:
        out.append(
            Finding(shown, "orphan", f"no source {pname.source} next to it; nothing loads it")
        )
    elif source is not None and not header.hash_based:
        out.extend(_timestamp_staleness(shown, pname, header, source, listing.kind))
    return out


def _mismatch_detail(magic: int, tagged: Interpreter) -> str:
    info = describe_magic(magic)
    if (
        tagged.implementation == "cpython"
        and info.implementation == "cpython"
        and info.version == tagged.version
        and info.prerelease
    ):
        return (
            f"magic {info.describe()} under tag {tagged.cache_tag}: {tagged.name} releases "
            f"use {tagged.expected_magic()} and recompile it on every import"
        )
    return (
        f"magic {info.describe()} does not match its tag {tagged.cache_tag} "
        f"(expects {tagged.expected_magic()})"
    )


def _timestamp_staleness(
    shown: str, pname: _PycName, header: PycHeader, source: _Member, kind: str
) -> list[Finding]:
    # The importer compares both words for equality, modulo 2**32 (importlib's
    # _validate_timestamp_pyc): any difference means recompile.
    if header.source_size is not None and header.source_size != source.size & 0xFFFFFFFF:
        return [
            Finding(
                shown,
                "stale",
                f"compiled from a {header.source_size}-byte {pname.source}; "
                f"it now has {source.size} bytes",
            )
        ]
    if (
        kind in ("directory", "pyc")
        and source.mtime is not None
        and header.mtime is not None
        and header.mtime != int(source.mtime) & 0xFFFFFFFF
    ):
        return [
            Finding(
                shown,
                "stale",
                f"compiled from {pname.source} with mtime {header.mtime}; "
                f"its mtime is now {int(source.mtime)}",
            )
        ]
    return []


# --- the audit ------------------------------------------------------------------------------


def _list_artifact(path: Path, display: str, archives: list[Path], skipped: list[str]) -> _Listing:
    lower = path.name.lower()
    if path.is_dir():
        return _list_directory(path, display, archives, skipped)
    if lower.endswith(".whl"):
        return _list_wheel(path, display)
    if lower.endswith((".conda", ".tar.bz2")):
        return _list_conda(path, display)
    if lower.endswith((".tar.gz", ".tgz", ".zip")):
        return _list_sdist(path, display)
    if lower.endswith(".pyc"):
        return _list_single_pyc(path, display)
    raise BytecodeError(
        f"{display} is not a wheel, sdist (.tar.gz), conda package (.conda, .tar.bz2), "
        ".pyc file or directory"
    )


def _list_single_pyc(path: Path, display: str) -> _Listing:
    parent = path.parent.parent if path.parent.name == "__pycache__" else path.parent
    rel = path.relative_to(parent).as_posix()
    listing = _Listing(display=display, kind="pyc", root=parent)
    listing.path_prefix = parent.resolve().as_posix() + "/"
    with open(path, "rb") as fh:
        listing.pyc_heads[rel] = fh.read(HEADER_SIZE)
    listing.members[rel] = _Member(path.stat().st_size)
    src = _split_pyc_name(rel).source
    if src and (parent / src).is_file():
        st = (parent / src).stat()
        listing.members[src] = _Member(st.st_size, st.st_mtime)
    listing.read_sources = lambda names: {
        n: (parent / n).read_bytes() for n in names if (parent / n).is_file()
    }
    return listing


def _audit_one(
    path: Path,
    display: str,
    user_expected: Interpreter | None,
    user_tag: str | None,
    fix: bool,
    report: AuditReport,
    skipped: list[str],
) -> None:
    archives: list[Path] = []
    kind_guess = "directory" if path.is_dir() else path.suffix.lstrip(".") or "file"
    try:
        listing = _list_artifact(path, display, archives, skipped)
    except BytecodeError:
        raise
    except Exception as exc:  # corrupt zip/tar/zstd, I/O errors: one finding, go on
        report.findings.append(Finding(display, "unreadable", f"cannot read: {_reason(exc)}"))
        report.artifacts.append(ArtifactSummary(display, kind_guess, None, "unreadable"))
        return
    summary = ArtifactSummary(
        display,
        listing.kind,
        user_expected.name
        if user_expected
        else (listing.default_expected.name if listing.default_expected else None),
        f"--python-tag {user_tag}" if user_expected else listing.expected_from,
    )
    findings = _check_listing(listing, user_expected, user_tag, summary)
    report.checked += len(listing.pyc_heads)
    report.artifacts.append(summary)
    if fix:
        if listing.kind in ("directory", "pyc") and listing.root is not None:
            _fix_in_directory(listing, findings)
        elif any(f.severity == "error" for f in findings):
            report.not_fixed.append(display)
    report.findings.extend(findings)
    for archive in archives:
        rel = archive.relative_to(path).as_posix()
        _audit_one(archive, str(Path(display) / rel), user_expected, user_tag, fix, report, skipped)


def _fix_in_directory(listing: _Listing, findings: list[Finding]) -> None:
    assert listing.root is not None
    real_root = os.path.realpath(listing.root)
    by_path = {listing.path_of(name): name for name in listing.pyc_heads}
    for finding in findings:
        name = by_path.get(finding.path)
        if name is None or finding.kind not in _FIXABLE_KINDS:
            continue
        target = listing.root / name
        # Delete the entry itself (a symlink, not its target), and only when its
        # directory really is inside the tree we were given.
        parent = os.path.realpath(target.parent)
        if os.path.commonpath([parent, real_root]) != real_root:
            continue
        try:
            os.unlink(target)
        except FileNotFoundError:
            finding.fixed = True  # a second finding on the same file removed it
        except OSError:
            continue
        else:
            finding.fixed = True


def audit_bytecode(
    paths: Sequence[str | os.PathLike[str]],
    python_tag: str | None = None,
    fix: bool = False,
) -> AuditReport:
    """Audit the ``.pyc`` files of wheels, sdists, conda packages and directories.

    ``python_tag`` (``cp311``, ``pp310``, ``cpython-311``, ``3.11``) names the
    interpreter the bytecode must be for, overriding what each artifact says
    (wheel tag, conda metadata, a ``lib/python3.X/`` path, ``pyvenv.cfg``).
    ``fix`` deletes offending ``.pyc`` files inside directories; archives are
    never edited (they are listed in ``report.not_fixed``).

    Raises ``BytecodeError`` for a path that does not exist or is no kind of
    artifact, and for a ``python_tag`` that names no single interpreter.
    Everything wrong *inside* an artifact (corrupt zip, truncated .pyc) is a
    finding instead.
    """
    user_expected: Interpreter | None = None
    if python_tag is not None:
        user_expected = parse_python_tag(python_tag)
        if user_expected is None:
            raise BytecodeError(
                f"--python-tag {python_tag!r} names no single interpreter; "
                "use a tag like cp311, cp314t, pp310, cpython-311 or 3.11"
            )
    if not paths:
        raise BytecodeError("no path given: name wheels, sdists, conda packages or directories")
    resolved: list[tuple[Path, str]] = []
    for raw in paths:
        text = os.fspath(raw)
        p = Path(text)
        if not p.exists():
            raise BytecodeError(f"{text} does not exist")
        resolved.append((p, text))
    report = AuditReport()
    for p, text in resolved:
        _audit_one(p, text, user_expected, python_tag, fix, report, report.skipped)
    return report


def audit_dist(dist: str | os.PathLike[str]) -> AuditReport | None:
    """The save action's check: audit the wheels in ``dist/``; None when it holds none."""
    wheels = sorted(Path(dist).glob("*.whl")) if Path(dist).is_dir() else []
    if not wheels:
        return None
    return audit_bytecode([str(w) for w in wheels])


# --- renderers -------------------------------------------------------------------------------


def render_text(report: AuditReport) -> str:
    lines = []
    for f in report.findings:
        mark = " [fixed: removed]" if f.fixed else ""
        lines.append(f"{f.severity}: {f.kind}: {f.path}: {f.detail}{mark}")
    for path in report.not_fixed:
        lines.append(
            f"note: not fixed: {path}: pyo3-cache never edits archives in place; "
            "rebuild it without the bytecode"
        )
    for a in report.artifacts:
        if len(a.tags) > 1:
            seen = ", ".join(f"{tag} ({n})" for tag, n in a.tags.items())
            lines.append(f"note: {a.path} holds bytecode for several interpreters: {seen}")
    fixed = sum(1 for f in report.findings if f.fixed)
    fixed_text = f", {fixed} fixed" if fixed else ""
    lines.append(
        f"checked {report.checked} .pyc file(s) in {len(report.artifacts)} artifact(s): "
        f"{report.count('error')} error(s), {report.count('warning')} warning(s), "
        f"{report.count('note')} note(s){fixed_text}"
    )
    return "\n".join(lines) + "\n"


def render_json(report: AuditReport) -> str:
    return json.dumps(report.to_json(), indent=2) + "\n"


def render_markdown(report: AuditReport) -> str:
    """For ``$GITHUB_STEP_SUMMARY`` (the save action's dist/ check)."""
    out = io.StringIO()
    out.write("### Bytecode audit\n\n")
    out.write(
        f"{report.checked} `.pyc` file(s) in {len(report.artifacts)} artifact(s): "
        f"{report.count('error')} error(s), {report.count('warning')} warning(s), "
        f"{report.count('note')} note(s).\n\n"
    )
    if report.findings:
        out.write("| severity | kind | path | detail |\n|---|---|---|---|\n")
        for f in report.findings:
            cells = [f.severity, f"`{f.kind}`", f"`{f.path}`", f.detail]
            out.write("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |\n")
    return out.getvalue()
