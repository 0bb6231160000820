"""Pin PyO3's interpreter config so warm PEP 517 rebuilds compile nothing.

Why: PEP 517 front-ends build in a randomly named temp env, maturin hands that
env's interpreter to PyO3 as ``PYO3_PYTHON``, and pyo3-build-config emits
``cargo:rerun-if-env-changed=PYO3_PYTHON``.  A new path each run dirties
pyo3-build-config (pyo3-ffi from 0.29 on) and everything above it.

With ``PYO3_CONFIG_FILE`` set, PyO3 reads the file instead of asking an
interpreter and tracks only that variable and the file's mtime.  So we resolve
the config once, against a stable interpreter, in pure Python (one interpreter
call, no cargo run), and write it:

* to a content-addressed name, so a different interpreter gives a different
  ``PYO3_CONFIG_FILE`` value and cargo rebuilds, as it should;
* with its mtime pinned to 1980-01-01, so regenerating an identical file on a
  fresh runner never looks newer than the cached build (``rerun-if-changed``
  compares mtimes);
* with ``ext_suffix`` and ``abiflags`` appended, which maturin reads from the
  same file (it needs ``ext_suffix`` on Windows and tags free-threaded wheels
  from ``abiflags``), on PyO3 lines that tolerate unknown keys.

The file's keys and values follow what PyO3's own ``PYO3_PRINT_CONFIG=1``
prints for the same interpreter; the tests cross-check that with real cargo.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache.errors import OutputLocationError
from pyo3_cache.pin.interpreter import InterpreterInfo
from pyo3_cache.project import version_tuple

# 1980-01-01T00:00:00Z, the oldest time a zip (and so a wheel) can record:
# older than any build, so cargo's rerun-if-changed never fires on the file.
PINNED_MTIME = 315532800

CONFIG_FILE_PREFIX = "pyo3-config-"
# Subdirectory of the target dir the config lives in by default; prune keeps it.
DEFAULT_SUBDIR = "pyo3-cache"

# The newest PyO3 line whose config format this module knows; newer lines are
# written in its format with a warning.
NEWEST_KNOWN = (0, 30)


@dataclass(frozen=True)
class Pyo3Line:
    """What matters about one PyO3 release line for pinning.

    Facts read from the pyo3-build-config / pyo3-ffi sources of each line
    (0.17.3 through 0.30.1) and checked against their PYO3_PRINT_CONFIG output.
    """

    version: tuple[int, ...]
    keys: tuple[str, ...]
    accepts_unknown_keys: bool
    tracks_config_file_env: bool
    resolver_crate: str
    build_flags: tuple[str, ...]
    windows_flags_before_313_only: bool
    debug_suffix_in_target_abi: bool
    min_cpython: tuple[int, int]
    min_pypy: tuple[int, int]

    @property
    def label(self) -> str:
        return ".".join(str(p) for p in self.version)


def pyo3_line(version: str | None) -> Pyo3Line:
    """The config format and behaviour of the PyO3 release ``version`` (None: newest)."""
    vt = version_tuple(version) if version else NEWEST_KNOWN
    vt = (*vt, 0, 0, 0)[:3]
    minor = vt[:2]
    keys: list[str] = ["implementation", "version", "shared"]
    # 0.29 replaced the boolean `abi3` with `target_abi` (impl-kind-version).
    keys.append("target_abi" if minor >= (0, 29) else "abi3")
    keys += ["lib_name", "lib_dir", "executable", "pointer_width", "build_flags"]
    if vt >= (0, 23, 4):
        keys.append("python_framework_prefix")
    keys.append("suppress_build_script_link_lines")
    flags = ["Py_DEBUG", "Py_REF_DEBUG"]
    if minor < (0, 29):
        flags.append("Py_TRACE_REFS")
    if vt >= (0, 22, 6):
        flags.append("Py_GIL_DISABLED")
    flags.append("COUNT_ALLOCS")
    return Pyo3Line(
        version=vt,
        keys=tuple(keys),
        # pyo3 PR #2926: unknown keys warn instead of failing from 0.18.1 on.
        accepts_unknown_keys=vt >= (0, 18, 1),
        # 0.23.0-0.23.2 read PYO3_CONFIG_FILE without `rerun-if-env-changed`.
        tracks_config_file_env=not ((0, 23, 0) <= vt <= (0, 23, 2)),
        resolver_crate="pyo3-ffi" if minor >= (0, 29) else "pyo3-build-config",
        build_flags=tuple(flags),
        # Up to 0.22 PyO3 reports no build flags on Windows at all; from 0.23
        # only for interpreters older than 3.13 (their sysconfig lacks them).
        windows_flags_before_313_only=minor >= (0, 23),
        # 0.30 added `-debug` to target_abi; 0.29 cannot parse it.
        debug_suffix_in_target_abi=minor >= (0, 30),
        min_cpython=_oldest_python(minor, _MIN_CPYTHON),
        min_pypy=_oldest_python(minor, _MIN_PYPY),
    )


# The oldest interpreter a PyO3 line builds for: (from PyO3 minor, Python), newest line first.
_MIN_CPYTHON = (((0, 30), (3, 9)), ((0, 29), (3, 8)), ((0, 0), (3, 7)))
_MIN_PYPY = (((0, 27), (3, 11)), ((0, 23), (3, 9)), ((0, 0), (3, 7)))


def _oldest_python(
    minor: tuple[int, ...], table: tuple[tuple[tuple[int, int], tuple[int, int]], ...]
) -> tuple[int, int]:
    return next(python for since, python in table if minor >= since)


# platform.python_implementation() → PyO3's PythonImplementation display name.
_IMPLEMENTATION_NAMES = {"CPython": "CPython", "PyPy": "PyPy", "GraalVM": "GraalPy"}


@dataclass(frozen=True)
class Pyo3Config:
    """A PyO3 interpreter config: PyO3's own keys in its order, then maturin's extras."""

    entries: tuple[tuple[str, str], ...]
    extras: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, str]:
        return dict(self.entries + self.extras)

    def render(self) -> str:
        return "".join(f"{k}={v}\n" for k, v in self.entries + self.extras)

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(self.render().encode("utf-8")).hexdigest()

    @property
    def file_name(self) -> str:
        return f"{CONFIG_FILE_PREFIX}{self.content_hash[:16]}.txt"

    def abi_fields(self) -> dict[str, str]:
        """The ABI-relevant fields, without paths: what a cache key may hash."""
        data = self.as_dict()
        keep = (
            "implementation",
            "version",
            "shared",
            "abi3",
            "target_abi",
            "lib_name",
            "pointer_width",
            "build_flags",
            "ext_suffix",
            "abiflags",
        )
        return {k: data[k] for k in keep if k in data}

    @classmethod
    def parse(cls, text: str) -> Pyo3Config:
        """Read a config file's ``key=value`` lines (PyO3's format)."""
        entries: list[tuple[str, str]] = []
        extras: list[tuple[str, str]] = []
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            if "=" not in raw:
                raise ValueError(f"line {number} is not key=value")
            key, value = raw.split("=", 1)
            (extras if key in ("ext_suffix", "abiflags") else entries).append((key, value))
        return cls(tuple(entries), tuple(extras))


def _lib_name(info: InterpreterInfo, impl: str, version: tuple[int, int]) -> str:
    major, minor = version
    t = "t" if info.gil_disabled else ""
    debug = info.flags.get("Py_DEBUG") == "1"
    if info.is_windows:
        mingw = info.platform.startswith("mingw")
        if impl == "PyPy":
            return f"libpypy{major}.{minor}-c"
        if impl == "GraalPy":
            return "python-native"
        if mingw:
            return "lib" + _lib_name_unix(info, impl, version, cygwin_like=True)
        if debug and impl == "CPython" and version < (3, 10):
            return f"python{major}{minor}_d"
        return f"python{major}{minor}{t}{'_d' if debug else ''}"
    return _lib_name_unix(info, impl, version, cygwin_like=info.platform.startswith("cygwin"))


def _lib_name_unix(
    info: InterpreterInfo, impl: str, version: tuple[int, int], cygwin_like: bool
) -> str:
    major, minor = version
    if impl == "CPython":
        if info.ldversion is not None:
            return f"python{info.ldversion}"
        t = "t" if info.gil_disabled else ""
        d = "d" if info.flags.get("Py_DEBUG") == "1" else ""
        return f"python{major}.{minor}{t}{d}"
    if impl == "PyPy":
        if info.ldversion is not None:
            return f"pypy{info.ldversion}-c"
        return f"pypy{major}.{minor}-c"
    return "python-native"


def _build_flags(info: InterpreterInfo, line: Pyo3Line) -> str:
    # Windows sysconfig lacks the flags before 3.13, so PyO3 reports none there.
    if info.is_windows and (not line.windows_flags_before_313_only or info.version[:2] < (3, 13)):
        return ""
    flags = [f for f in line.build_flags if info.flags.get(f) == "1"]
    if "Py_DEBUG" in flags and "Py_REF_DEBUG" not in flags:
        flags.insert(1, "Py_REF_DEBUG")
    # PyO3 keeps them in a HashSet (order varies run to run); we write them in a
    # fixed order so identical interpreters give byte-identical files.
    return ",".join(flags)


def resolve_pyo3_config(info: InterpreterInfo, line: Pyo3Line) -> Pyo3Config:
    """The config PyO3 (of release line ``line``) would derive from ``info``."""
    impl = _IMPLEMENTATION_NAMES.get(info.implementation, info.implementation)
    version = (info.version[0], info.version[1])
    framework = bool(info.pythonframework)
    unix_shared = info.py_enable_shared not in (None, "0", "", "False")
    shared = (
        impl in ("PyPy", "GraalPy") or info.anaconda or info.is_windows or framework or unix_shared
    )
    values: dict[str, str] = {
        "implementation": impl,
        "version": f"{version[0]}.{version[1]}",
        "shared": "true" if shared else "false",
        "abi3": "false",
        "target_abi": "{}-{}-{}.{}{}".format(
            impl,
            "free_threaded" if info.gil_disabled else "gil_enabled",
            version[0],
            version[1],
            "-debug"
            if line.debug_suffix_in_target_abi and info.flags.get("Py_DEBUG") == "1"
            else "",
        ),
        "lib_name": _lib_name(info, impl, version),
        "executable": info.executable,
        "pointer_width": str(info.calcsize_pointer * 8),
        "build_flags": _build_flags(info, line),
        # PyO3's script prints the sysconfig value with Python's str(): an
        # unset variable comes out as the word None.
        "python_framework_prefix": (
            "None" if info.pythonframeworkprefix is None else info.pythonframeworkprefix
        ),
        "suppress_build_script_link_lines": "false",
    }
    if info.is_windows:
        if info.base_prefix is not None:
            values["lib_dir"] = info.base_prefix + "\\libs"
    elif info.libdir is not None:
        values["lib_dir"] = info.libdir
    entries = tuple((k, values[k]) for k in line.keys if k in values)
    extras: tuple[tuple[str, str], ...] = ()
    if line.accepts_unknown_keys:
        extras = (
            ("ext_suffix", info.ext_suffix or ""),
            ("abiflags", info.effective_abiflags()),
        )
    return Pyo3Config(entries, extras)


def check_dir(directory: Path) -> None:
    if directory.exists() and not directory.is_dir():
        raise OutputLocationError(f"--dir {directory} exists and is not a directory")
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputLocationError(f"--dir {directory}: a parent is not a directory") from None
    except OSError as exc:
        raise OutputLocationError(f"cannot create {directory}: {exc.strerror}") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise OutputLocationError(f"{directory} is not writable")


def write_pinned_config(config: Pyo3Config, directory: Path) -> tuple[Path, bool]:
    """Write ``config`` content-addressed into ``directory`` with the pinned mtime.

    Returns the path and whether a new file was written.  An identical existing
    file is left alone (only its mtime is re-pinned if something touched it).
    """
    check_dir(directory)
    path = directory / config.file_name
    content = config.render().encode("utf-8")
    try:
        if path.is_file() and path.read_bytes() == content:
            if int(path.stat().st_mtime) != PINNED_MTIME:
                os.utime(path, (PINNED_MTIME, PINNED_MTIME))
            return path, False
    except OSError as exc:
        raise OutputLocationError(f"cannot check {path}: {exc.strerror}") from None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".pyo3-config-", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise OutputLocationError(f"cannot write to {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        # mkstemp creates 0600; the config is no secret and other users (a
        # container build, a second CI user) may need to read it.
        os.chmod(tmp, 0o644)
        os.utime(tmp, (PINNED_MTIME, PINNED_MTIME))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputLocationError(f"cannot write {path}: {exc.strerror}") from None
    return path, True
