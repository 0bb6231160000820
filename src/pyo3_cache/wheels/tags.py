"""What a wheel's tags promise, and what an extension module's file name says it is.

Wheel tags (PEP 425, PEP 427; packaging's ``tags``): ``{python}-{abi}-{platform}``,
each part a ``.``-separated set (``manylinux_2_17_x86_64.manylinux2014_x86_64``).
The abi tag names the ABI the binaries need: ``cp311`` (CPython 3.11's full
ABI), ``cp313t`` (3.13's free-threaded build; its python tag stays ``cp313``),
``abi3`` (the stable ABI, any CPython from the python tag's version on),
``pypy39_pp73`` (PyPy 3.9, PyPy ABI 7.3), ``none`` (no binary ABI).

Extension module names (PEP 3149; CPython's ``EXT_SUFFIX`` / ``SOABI`` in
``configure.ac``, ``PC/pyconfig.h`` and ``Include/internal/pycore_importdl.h``;
PyPy's ``soabi``): ``mod.cpython-311-x86_64-linux-gnu.so``, ``mod.cpython-313t-
x86_64-linux-gnu.so``, ``mod.cpython-311-darwin.so``, ``mod.abi3.so``,
``mod.cp311-win_amd64.pyd`` (``cp313t-...``, a ``_d`` debug suffix), ``mod.pyd``,
``mod.pypy39-pp73-x86_64-linux-gnu.so``, plain ``mod.so``.  CPython imports
its own tagged suffix, ``.abi3.so`` (not on Windows, nor free-threaded
builds) and the untagged one; PyPy 3.9 lists only its own tagged suffix
(``importlib.machinery.EXTENSION_SUFFIXES`` of Debian's PyPy 7.3, seen here).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- the wheel's tags ----------------------------------------------------------

_WHEEL_NAME = re.compile(
    r"^(?P<name>[^-]+)-(?P<version>[^-]+)(?:-(?P<build>\d[^-]*))?"
    r"-(?P<py>[^-]+)-(?P<abi>[^-]+)-(?P<plat>[^-]+)\.whl$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class WheelTags:
    python: frozenset[str]
    abi: frozenset[str]
    platform: frozenset[str]

    @property
    def text(self) -> str:
        return "-".join(".".join(sorted(part)) for part in (self.python, self.abi, self.platform))


def tags_from_filename(filename: str) -> WheelTags | None:
    m = _WHEEL_NAME.match(filename)
    if m is None:
        return None
    return WheelTags(*(frozenset(m[k].lower().split(".")) for k in ("py", "abi", "plat")))


def tags_from_wheel_file(text: str) -> WheelTags | None:
    """The ``Tag:`` lines of ``*.dist-info/WHEEL`` (each one expanded triple)."""
    triples = [
        line.split(":", 1)[1].strip().lower().split("-")
        for line in text.splitlines()
        if line.lower().startswith("tag:")
    ]
    triples = [t for t in triples if len(t) == 3]
    if not triples:
        return None
    return WheelTags(*(frozenset(t[i] for t in triples) for i in range(3)))


# --- what the abi tag asks of a module ---------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """One interpreter ABI: ``cpython`` 3.11 (``t``: free-threaded), ``pypy`` 3.9 (ABI 73)."""

    impl: str
    version: tuple[int, int]
    free_threaded: bool = False
    pypy_abi: str = ""

    @property
    def name(self) -> str:
        if self.impl == "pypy":
            return f"PyPy {self.version[0]}.{self.version[1]}"
        t = "t (free-threaded)" if self.free_threaded else ""
        return f"CPython {self.version[0]}.{self.version[1]}{t}"


_ABI_CPYTHON = re.compile(r"^cp(\d)(\d+)(t?)(d?)m?u?$")
_ABI_PYPY = re.compile(r"^pypy(\d)(\d+)_pp(\d+)$")
_PY_CPYTHON = re.compile(r"^cp(\d)(\d+)t?$")


def abi_interpreter(abi: str) -> Interpreter | None:
    """``cp311`` → CPython 3.11, ``cp313t`` → 3.13t, ``pypy39_pp73`` → PyPy 3.9; else None."""
    if m := _ABI_CPYTHON.match(abi):
        return Interpreter("cpython", (int(m[1]), int(m[2])), free_threaded=bool(m[3]))
    if m := _ABI_PYPY.match(abi):
        return Interpreter("pypy", (int(m[1]), int(m[2])), pypy_abi=m[3])
    return None


def python_tag_interpreters(python: frozenset[str]) -> list[Interpreter]:
    """``pp39`` → PyPy 3.9, ``cp311`` → CPython 3.11 (what a python tag alone names)."""
    found = []
    for tag in python:
        if m := re.match(r"^pp(\d)(\d+)$", tag):
            found.append(Interpreter("pypy", (int(m[1]), int(m[2]))))
        elif m := _PY_CPYTHON.match(tag):
            found.append(Interpreter("cpython", (int(m[1]), int(m[2]))))
    return found


# --- the module's file name ------------------------------------------------------------


@dataclass(frozen=True)
class ModuleSuffix:
    """What an extension module's name says about the interpreter and platform it is for."""

    name: str
    """The module's own name (``_hello_pyo3``): ``PyInit_<name>`` must be exported."""
    suffix: str
    """``.cpython-311-x86_64-linux-gnu.so``."""
    kind: str
    """``tagged`` (one interpreter), ``abi3``, ``untagged`` (plain .so/.pyd) or ``unknown``."""
    interpreter: Interpreter | None = None
    platform: str = ""
    """The triplet or platform part: ``x86_64-linux-gnu``, ``darwin``, ``win_amd64``."""


_SO_TAGGED = re.compile(
    r"^\.(?:cpython-(?P<cp>\d)(?P<cpm>\d+)(?P<t>t?)(?P<d>d?)m?"
    r"|pypy(?P<pp>\d)(?P<ppm>\d+)-pp(?P<ppabi>\d+))-(?P<plat>[a-z0-9_.-]+)\.so$"
)
_PYD_TAGGED = re.compile(
    r"^\.(?:cp(?P<cp>\d)(?P<cpm>\d+)(?P<t>t?)|pypy(?P<pp>\d)(?P<ppm>\d+)-pp(?P<ppabi>\d+))"
    r"-(?P<plat>win32|win_amd64|win_arm64|win_arm32)(?P<d>_d)?\.pyd$"
)


def parse_module_name(filename: str) -> ModuleSuffix | None:
    """``_hello.cpython-311-x86_64-linux-gnu.so`` → its parts; None if not ``.so``/``.pyd``."""
    lower = filename.lower()
    if not lower.endswith((".so", ".pyd")):
        return None
    name, dot, rest = filename.partition(".")
    suffix = dot + rest.lower()
    if suffix in (".so", ".pyd"):
        return ModuleSuffix(name, suffix, "untagged")
    if suffix in (".abi3.so", ".abi3.pyd"):
        return ModuleSuffix(name, suffix, "abi3")
    m = _SO_TAGGED.match(suffix) or _PYD_TAGGED.match(suffix)
    if m is None:
        return ModuleSuffix(name, suffix, "unknown")
    if m["cp"]:
        interp = Interpreter("cpython", (int(m["cp"]), int(m["cpm"])), free_threaded=bool(m["t"]))
    else:
        interp = Interpreter("pypy", (int(m["pp"]), int(m["ppm"])), pypy_abi=m["ppabi"])
    return ModuleSuffix(name, suffix, "tagged", interp, m["plat"])


# --- platforms ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Platform:
    """What a platform tag (or a module name's triplet) asks of a binary."""

    os: str
    """``linux``, ``macos`` or ``windows``."""
    arches: frozenset[str]
    """``x86_64``, ``i686``, ``aarch64``, ``armv7l``, ``ppc64le`` ...; macOS fat: several."""
    libc: str = ""
    """``glibc`` or ``musl`` on Linux."""


_WIDTH = {
    "x86_64": 64,
    "i686": 32,
    "aarch64": 64,
    "armv7l": 32,
    "ppc64le": 64,
    "ppc64": 64,
    "s390x": 64,
    "riscv64": 64,
    "loongarch64": 64,
}


def width_of(arch: str) -> int:
    return _WIDTH.get(arch, 0)


_MAC_ARCHES = {
    "x86_64": {"x86_64"},
    "arm64": {"aarch64"},
    "universal2": {"x86_64", "aarch64"},
    "intel": {"x86_64", "i686"},
    "i386": {"i686"},
}
_WIN_ARCHES = {
    "win32": "i686",
    "win_amd64": "x86_64",
    "win_arm64": "aarch64",
    "win_arm32": "armv7l",
}
_LINUX_ARCH_ALIASES = {"i386": "i686", "i586": "i686", "armv7": "armv7l"}


def platform_of_tag(tag: str) -> Platform | None:
    """``manylinux_2_17_x86_64`` → Linux/glibc/x86_64; ``any`` and unknown tags → None."""
    if tag in _WIN_ARCHES:
        return Platform("windows", frozenset({_WIN_ARCHES[tag]}))
    if m := re.match(r"^macosx_\d+_\d+_(\w+)$", tag):
        arches = _MAC_ARCHES.get(m[1])
        return Platform("macos", frozenset(arches)) if arches else None
    if m := re.match(r"^(many|musl)?linux(?:1|2010|2014|_\d+_\d+)?_(\w+)$", tag):
        arch = _LINUX_ARCH_ALIASES.get(m[2], m[2])
        libc = "musl" if m[1] == "musl" else "glibc"
        return Platform("linux", frozenset({arch}), libc)
    return None


_TRIPLET_ARCH = {
    "x86_64": "x86_64",
    "i386": "i686",
    "i686": "i686",
    "x86": "i686",
    "aarch64": "aarch64",
    "arm": "armv7l",
    "powerpc64le": "ppc64le",
    "powerpc64": "ppc64",
    "s390x": "s390x",
    "riscv64": "riscv64",
    "loongarch64": "loongarch64",
}


def platform_of_module(suffix: ModuleSuffix) -> Platform | None:
    """The platform a tagged module's name says: ``x86_64-linux-gnu``, ``darwin``, ``win32``."""
    plat = suffix.platform
    if not plat:
        return None
    if plat in _WIN_ARCHES:
        return Platform("windows", frozenset({_WIN_ARCHES[plat]}))
    if plat == "darwin":
        return Platform("macos", frozenset())
    cpu, _, rest = plat.partition("-")
    if "linux" not in rest or cpu not in _TRIPLET_ARCH:
        return None
    return Platform("linux", frozenset({_TRIPLET_ARCH[cpu]}), "musl" if "musl" in rest else "glibc")
