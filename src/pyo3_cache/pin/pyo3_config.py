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
from dataclasses import dataclass, field
from pathlib import Path

from pyo3_cache.errors import InterpreterError, OutputLocationError, ProjectError
from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.project import (
    find_manifest,
    find_workspace_root,
    locked_version,
    read_lockfile,
    target_dir,
    version_tuple,
)

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
    if minor >= (0, 30):
        min_cpython = (3, 9)
    elif minor >= (0, 29):
        min_cpython = (3, 8)
    else:
        min_cpython = (3, 7)
    if minor >= (0, 27):
        min_pypy = (3, 11)
    elif minor >= (0, 23):
        min_pypy = (3, 9)
    else:
        min_pypy = (3, 7)
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
        min_cpython=min_cpython,
        min_pypy=min_pypy,
    )


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


@dataclass(frozen=True)
class PinResult:
    """What ``pin_pyo3_config`` did: the file, the variables to export, and warnings."""

    config_file: Path
    pyo3_python: str
    pyo3_version: str | None
    config: Pyo3Config
    interpreter: InterpreterInfo
    written: bool
    warnings: tuple[str, ...] = field(default=())

    @property
    def env(self) -> dict[str, str]:
        return {"PYO3_CONFIG_FILE": str(self.config_file), "PYO3_PYTHON": self.pyo3_python}

    def to_json(self) -> dict[str, object]:
        return {
            "config_file": str(self.config_file),
            "pyo3_python": self.pyo3_python,
            "env": self.env,
            "pyo3_version": self.pyo3_version,
            "content_hash": self.config.content_hash,
            "written": self.written,
            "config": self.config.as_dict(),
            "warnings": list(self.warnings),
        }


def _detect_pyo3_version(manifest_path: str | os.PathLike[str] | None) -> tuple[str | None, Path]:
    manifest = find_manifest(manifest_path)
    root = find_workspace_root(manifest)
    lock = root / "Cargo.lock"
    if not lock.is_file():
        return None, root
    packages = read_lockfile(lock)
    for name in ("pyo3-build-config", "pyo3-ffi", "pyo3"):
        found = locked_version(packages, name)
        if found:
            return found, root
    return None, root


def _version_warnings(line: Pyo3Line, version: str | None, root_known: bool) -> list[str]:
    notes: list[str] = []
    if version is None:
        if root_known:
            notes.append(
                "no PyO3 found in Cargo.lock; writing the config in PyO3 "
                f"{'.'.join(map(str, NEWEST_KNOWN))}'s format"
            )
        return notes
    if line.version[:2] > NEWEST_KNOWN:
        notes.append(
            f"PyO3 {version} is newer than pyo3-cache knows; writing the config in "
            f"{'.'.join(map(str, NEWEST_KNOWN))}'s format"
        )
    if line.version[:2] < (0, 17):
        notes.append(f"PyO3 {version} is older than 0.17, which pyo3-cache does not test")
    if not line.accepts_unknown_keys:
        notes.append(
            f"PyO3 {version} rejects unknown config keys, so ext_suffix and abiflags "
            "are left out: maturin builds on Windows or for free-threaded Python need "
            "PyO3 0.18.1 or newer"
        )
    if not line.tracks_config_file_env:
        notes.append(
            f"PyO3 {version} does not rebuild when PYO3_CONFIG_FILE changes "
            "(fixed in 0.23.3): after switching interpreters run `cargo clean -p pyo3-build-config`"
        )
    return notes


def _check_supported(info: InterpreterInfo, line: Pyo3Line, version: str | None) -> None:
    """Refuse interpreters the crate's PyO3 would refuse at build time anyway."""
    minimum = line.min_pypy if info.implementation == "PyPy" else line.min_cpython
    if info.version[:2] < minimum:
        which = f"PyO3 {version}" if version else "current PyO3"
        raise InterpreterError(
            f"{info.path} is {info.implementation} {info.full_version}, older than {which} "
            f"supports ({info.implementation} {minimum[0]}.{minimum[1]} or newer)"
        )


def _check_dir(directory: Path) -> None:
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
    _check_dir(directory)
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


def pin_pyo3_config(
    python: str | os.PathLike[str] | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    pyo3_version: str | None = None,
    interpreter: InterpreterInfo | None = None,
) -> PinResult:
    """Resolve the PyO3 config for a stable interpreter and write it, pinned.

    ``python``: the interpreter (default: ``python3``/``python`` on PATH).
    ``directory``: where to write (default: ``<target dir>/pyo3-cache``).
    ``manifest_path``: the crate's Cargo.toml (default: found from cwd); used to
    read the PyO3 version from Cargo.lock and to locate the target dir.
    ``pyo3_version``: overrides the version read from Cargo.lock.

    The result's ``env`` holds ``PYO3_CONFIG_FILE`` and ``PYO3_PYTHON`` to export.
    """
    info = interpreter if interpreter is not None else probe_interpreter(python)
    root: Path | None = None
    detected: str | None = None
    if pyo3_version is None or directory is None:
        try:
            detected, root = _detect_pyo3_version(manifest_path)
        except ProjectError:
            if directory is None:
                raise
    version = pyo3_version or detected
    line = pyo3_line(version)
    _check_supported(info, line, version)
    warnings = _version_warnings(line, version, root_known=root is not None)
    config = resolve_pyo3_config(info, line)
    if directory is None:
        assert root is not None
        out_dir = target_dir(root) / DEFAULT_SUBDIR
    else:
        out_dir = Path(os.path.abspath(directory))
    path, written = write_pinned_config(config, out_dir)
    return PinResult(
        config_file=path,
        pyo3_python=info.executable,
        pyo3_version=version,
        config=config,
        interpreter=info,
        written=written,
        warnings=tuple(warnings),
    )
