"""What an artifact holds: listings of directories, wheels, sdists and conda packages.

Archives are read once, streaming; only each ``.pyc``'s first 16 bytes are
kept, and the sources only when a hash-based header must be checked.  The
interpreter a package is built for comes from its name or metadata.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
import tarfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO, Any

from pyo3_cache.bytecode.findings import Finding
from pyo3_cache.bytecode.header import HEADER_SIZE
from pyo3_cache.bytecode.magic_numbers import (
    Interpreter,
    parse_cache_tag,
    parse_wheel_python_tag,
)
from pyo3_cache.errors import BytecodeError


@dataclass
class Member:
    size: int
    mtime: float | None = None
    """Exact source mtime; only a directory's is what the importer compares."""
    outside: bool = False
    """A symlink out of the audited tree: counted as present, never read."""


@dataclass
class Listing:
    """Every file of one artifact, plus the first bytes of each ``.pyc``.

    Archives are read once, streaming; only headers are kept in memory.
    """

    display: str
    kind: str
    members: dict[str, Member] = field(default_factory=dict)
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


def interpreter_from_path(path: str) -> Interpreter | None:
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


def _list_directory(root: Path, display: str, archives: list[Path], skipped: list[str]) -> Listing:
    listing = Listing(display=display, kind="directory", root=root)
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
            listing.members[rel] = Member(st.st_size, st.st_mtime, outside)
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


def _zip_members(zf: zipfile.ZipFile, listing: Listing) -> None:
    for info in zf.infolist():
        if info.is_dir():
            continue
        name = info.filename
        listing.members[name] = Member(info.file_size)
        if name.endswith(".pyc"):
            try:
                with zf.open(info) as fh:
                    listing.pyc_heads[name] = fh.read(HEADER_SIZE)
            except Exception as exc:  # zipfile raises many kinds for one bad member
                listing.pyc_heads[name] = f"cannot read from the archive: {reason(exc)}"


def reason(exc: BaseException) -> str:
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


def _list_wheel(path: Path, display: str) -> Listing:
    listing = Listing(display=display, kind="wheel")
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
    tf: tarfile.TarFile, listing: Listing, index: dict[str, bytes] | None = None
) -> None:
    for member in tf:
        if not member.isfile():
            continue
        name = _tar_name(member)
        listing.members[name] = Member(member.size, float(member.mtime))
        wants_pyc = name.endswith(".pyc")
        wants_index = index is not None and _tar_name(member) == "info/index.json"
        if not (wants_pyc or wants_index):
            continue
        try:
            fh = tf.extractfile(member)
            data = fh.read(HEADER_SIZE if wants_pyc else 1024 * 1024) if fh else b""
        except Exception as exc:
            if wants_pyc:
                listing.pyc_heads[name] = f"cannot read from the archive: {reason(exc)}"
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


def _list_sdist(path: Path, display: str) -> Listing:
    listing = Listing(display=display, kind="sdist")
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


def _list_conda(path: Path, display: str) -> Listing:
    listing = Listing(display=display, kind="conda")
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


@dataclass(frozen=True)
class PycName:
    source: str | None
    """Where its source would be (``pkg/mod.py``); None for a tag-less ``__pycache__`` file."""
    tag: str | None
    in_pycache: bool


def split_pyc_name(name: str) -> PycName:
    path = PurePosixPath(name)
    parent = path.parent
    if parent.name == "__pycache__":
        m = _PYC_NAME_RE.match(path.name)
        src_dir = parent.parent
        if m is None:
            return PycName(None, None, True)
        src = (src_dir / f"{m['stem']}.py").as_posix()
        return PycName(src, m["tag"], True)
    src = path.with_suffix(".py").as_posix()
    return PycName(src, None, False)


def list_artifact(path: Path, display: str, archives: list[Path], skipped: list[str]) -> Listing:
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


def _list_single_pyc(path: Path, display: str) -> Listing:
    parent = path.parent.parent if path.parent.name == "__pycache__" else path.parent
    rel = path.relative_to(parent).as_posix()
    listing = Listing(display=display, kind="pyc", root=parent)
    listing.path_prefix = parent.resolve().as_posix() + "/"
    with open(path, "rb") as fh:
        listing.pyc_heads[rel] = fh.read(HEADER_SIZE)
    listing.members[rel] = Member(path.stat().st_size)
    src = split_pyc_name(rel).source
    if src and (parent / src).is_file():
        st = (parent / src).stat()
        listing.members[src] = Member(st.st_size, st.st_mtime)
    listing.read_sources = lambda names: {
        n: (parent / n).read_bytes() for n in names if (parent / n).is_file()
    }
    return listing
