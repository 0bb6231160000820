"""Ask a Python interpreter, once, everything pyo3-cache needs to know about it.

One subprocess answers for the PyO3 config (``pyo3_config``), the cache keys
(``keys``: the interpreter's identity) and bytecode checks (magic number, cache
tag).  The probe script is written to run on any Python, old ones included, so
that "too old" is reported as such instead of as a syntax error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import InterpreterError

# Kept compatible with Python 2.7 and 3.x alike: no f-strings, no keyword-only
# arguments. The values mirror what pyo3-build-config's own discovery script
# reads (sysconfig vars, struct.calcsize("P"), sys.base_prefix, ...), plus the
# facts maturin and the bytecode checks need (EXT_SUFFIX, abiflags, magic).
_PROBE_SCRIPT = r"""
import json, os, platform, struct, sys, sysconfig
gv = sysconfig.get_config_var
try:
    import importlib.util
    magic = importlib.util.MAGIC_NUMBER
    magic_number = magic[0] | (magic[1] << 8)
except Exception:
    magic_number = None
impl = platform.python_implementation()
base_prefix = getattr(sys, "base_prefix", None)
def s(v):
    return None if v is None else str(v)
flags = {}
for k in ("Py_DEBUG", "Py_REF_DEBUG", "Py_TRACE_REFS", "Py_GIL_DISABLED", "COUNT_ALLOCS"):
    flags[k] = s(gv(k))
graalpy = None
if impl == "GraalVM":
    try:
        graalpy = __graalpython__.get_graalvm_version()
    except Exception:
        graalpy = None
info = {
    "implementation": impl,
    "version_info": list(sys.version_info[:3]) + [sys.version_info[3], sys.version_info[4]],
    "executable": sys.executable,
    "base_executable": getattr(sys, "_base_executable", None),
    "base_prefix": base_prefix,
    "prefix": sys.prefix,
    "anaconda": bool(base_prefix) and os.path.exists(os.path.join(base_prefix, "conda-meta")),
    "system": platform.system(),
    "machine": platform.machine(),
    "platform": sysconfig.get_platform(),
    "pythonframework": s(gv("PYTHONFRAMEWORK")),
    "pythonframeworkprefix": s(gv("PYTHONFRAMEWORKPREFIX")),
    "py_enable_shared": s(gv("Py_ENABLE_SHARED")),
    "ldversion": s(gv("LDVERSION")),
    "libdir": s(gv("LIBDIR")),
    "ext_suffix": s(gv("EXT_SUFFIX")),
    "soabi": s(gv("SOABI")),
    "abiflags": getattr(sys, "abiflags", None),
    "calcsize_pointer": struct.calcsize("P"),
    "flags": flags,
    "cache_tag": getattr(getattr(sys, "implementation", None), "cache_tag", None),
    "magic_number": magic_number,
    "graalpy_version": graalpy,
    "hexversion": sys.hexversion,
}
sys.stdout.write("PYO3CACHE-PROBE " + json.dumps(info) + "\n")
"""

# PyO3's oldest supported CPython across the lines we handle (0.17: 3.7).
_OLDEST_PYTHON = (3, 7)


@dataclass(frozen=True)
class InterpreterInfo:
    """What one interpreter said about itself (see ``_PROBE_SCRIPT``)."""

    path: str
    """The path as the user named it (absolute, symlinks not resolved)."""
    implementation: str
    version: tuple[int, int, int]
    releaselevel: str
    serial: int
    executable: str
    base_prefix: str | None
    system: str
    machine: str
    platform: str
    anaconda: bool
    pythonframework: str | None
    pythonframeworkprefix: str | None
    py_enable_shared: str | None
    ldversion: str | None
    libdir: str | None
    ext_suffix: str | None
    soabi: str | None
    abiflags: str | None
    calcsize_pointer: int
    flags: dict[str, str | None]
    cache_tag: str | None
    magic_number: int | None
    hexversion: int
    base_executable: str | None = None
    """``sys._base_executable``: the interpreter a venv was made from (3.7+)."""

    @property
    def minor_version(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def full_version(self) -> str:
        """``3.14.0rc3``-style version, with the pre-release level when there is one."""
        base = ".".join(str(p) for p in self.version)
        suffix = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(self.releaselevel)
        return f"{base}{suffix}{self.serial}" if suffix else base

    @property
    def is_prerelease(self) -> bool:
        return self.releaselevel != "final"

    @property
    def gil_disabled(self) -> bool:
        return self.flags.get("Py_GIL_DISABLED") == "1"

    @property
    def is_windows(self) -> bool:
        return self.system == "Windows"

    def identity(self) -> dict[str, str]:
        """The facts that make two interpreters ABI-equivalent, without any path.

        Used by cache keys in place of ``PYO3_PYTHON``'s value, so the key does
        not change with the checkout or temp directory.
        """
        return {
            "implementation": self.implementation,
            "version": self.full_version,
            "abiflags": self.effective_abiflags(),
            "soabi": self.soabi or "",
            "ext_suffix": self.ext_suffix or "",
            "platform": self.platform,
            "pointer_width": str(self.calcsize_pointer * 8),
            "magic_number": "" if self.magic_number is None else str(self.magic_number),
        }

    def effective_abiflags(self) -> str:
        """``sys.abiflags`` where it exists; Windows has none, so derive it.

        maturin reads ``abiflags`` from the config file to tag free-threaded
        wheels (``cp314t``); Windows interpreters lack ``sys.abiflags``.
        """
        if self.abiflags is not None:
            return self.abiflags
        flags = ""
        if self.gil_disabled:
            flags += "t"
        if self.flags.get("Py_DEBUG") == "1":
            flags += "d"
        return flags


def default_python() -> str:
    """The interpreter a user means by "python": ``python3``, else ``python``, on PATH."""
    for name in ("python3", "python"):
        found = shutil.which(name)
        if found:
            return found
    raise InterpreterError(
        "no Python interpreter found on PATH (looked for python3 and python); pass --python PATH"
    )


def _resolve_path(python: str | os.PathLike[str] | None) -> str:
    if python is None:
        return os.path.abspath(default_python())
    text = os.fspath(python)
    if os.sep not in text and not (os.altsep and os.altsep in text):
        found = shutil.which(text)
        if found is None:
            raise InterpreterError(f"Python interpreter {text!r} not found on PATH")
        return os.path.abspath(found)
    path = Path(text)
    try:
        if not path.exists():
            raise InterpreterError(f"no Python interpreter at {text}")
        if path.is_dir():
            raise InterpreterError(f"{text} is a directory, not a Python interpreter")
    except OSError as exc:  # e.g. EACCES on a parent directory
        raise InterpreterError(f"cannot access {text}: {exc.strerror}") from None
    return os.path.abspath(text)


def probe_interpreter(
    python: str | os.PathLike[str] | None = None, timeout: float = 60.0
) -> InterpreterInfo:
    """Run the interpreter once and return what it says about itself.

    Raises ``InterpreterError`` with one readable line when the path is missing,
    is not a Python, is older than any PyO3 release supports, or crashes.
    """
    path = _resolve_path(python)
    # -E -s: ignore PYTHON* variables and user site-packages, which could make
    # the probe import something else; both flags exist on every Python.
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    try:
        proc = subprocess.run(
            [path, "-E", "-s", "-c", _PROBE_SCRIPT],
            capture_output=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except PermissionError as exc:
        raise InterpreterError(f"{path} is not executable ({exc.strerror})") from exc
    except OSError as exc:
        raise InterpreterError(f"{path} could not be run: {exc.strerror or exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise InterpreterError(f"{path} did not answer within {timeout:.0f} s") from exc
    out = proc.stdout.decode("utf-8", "replace")
    line = next((ln for ln in out.splitlines() if ln.startswith("PYO3CACHE-PROBE ")), None)
    if line is None:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        last = err[-1] if err else f"exit code {proc.returncode}"
        if proc.returncode < 0:
            last = f"killed by signal {-proc.returncode}"
        raise InterpreterError(f"{path} is not a working Python interpreter: {last[:200]}")
    try:
        data: dict[str, Any] = json.loads(line[len("PYO3CACHE-PROBE ") :])
        info = _info_from_probe(path, data)
    except (ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise InterpreterError(f"{path} gave an answer pyo3-cache cannot read: {exc}") from exc
    if info.version[:2] < _OLDEST_PYTHON:
        raise InterpreterError(
            f"{path} is Python {info.full_version}; PyO3 needs Python "
            f"{_OLDEST_PYTHON[0]}.{_OLDEST_PYTHON[1]} or newer"
        )
    return info


def _info_from_probe(path: str, data: dict[str, Any]) -> InterpreterInfo:
    vi = data["version_info"]
    return InterpreterInfo(
        path=path,
        implementation=str(data["implementation"]),
        version=(int(vi[0]), int(vi[1]), int(vi[2])),
        releaselevel=str(vi[3]),
        serial=int(vi[4]),
        executable=str(data["executable"] or path),
        base_prefix=data.get("base_prefix"),
        system=str(data["system"]),
        machine=str(data["machine"]),
        platform=str(data["platform"]),
        anaconda=bool(data.get("anaconda")),
        pythonframework=data.get("pythonframework"),
        pythonframeworkprefix=data.get("pythonframeworkprefix"),
        py_enable_shared=data.get("py_enable_shared"),
        ldversion=data.get("ldversion"),
        libdir=data.get("libdir"),
        ext_suffix=data.get("ext_suffix"),
        soabi=data.get("soabi"),
        abiflags=data.get("abiflags"),
        calcsize_pointer=int(data["calcsize_pointer"]),
        flags={str(k): (None if v is None else str(v)) for k, v in data["flags"].items()},
        cache_tag=data.get("cache_tag"),
        magic_number=None if data.get("magic_number") is None else int(data["magic_number"]),
        hexversion=int(data["hexversion"]),
        base_executable=data.get("base_executable"),
    )
