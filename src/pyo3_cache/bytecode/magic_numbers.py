"""Bytecode magic numbers of CPython 3.6 → 3.15 and PyPy's cache tags, as data.

A ``.pyc`` file starts with a 16-bit magic number (little-endian, then
``\\r\\n``).  An interpreter loads a cached ``.pyc`` only when that number is
its own; otherwise it silently recompiles the source (and cannot write the
result back into a read-only environment).  So a cache keyed on "3.14" that
still holds 3.14rc2 bytecode (magic 3626) costs every 3.14.0 user (magic 3627)
a recompile on every import: the regression conda-forge measured in
conda-forge-pinning#7795.

Where every number comes from
-----------------------------
* CPython keeps the list of its magic numbers in a comment, one line per bump,
  labelled with the pre-release the bump first ships in ("Please ... always use
  the *upcoming* tag").  Through 3.12 the comment sits in
  ``Lib/importlib/_bootstrap_external.py`` (read at python/cpython commit
  001707176fd0c19e2f54c1ddef997b6489419e50: 3.6a0 → 3.14a1 entries); since 3.13
  it is ``Include/internal/pycore_magic_number.h`` (read at python/cpython
  commit 00e7800e4c3e9a6aa3dfc5c3d3a7ca649186d080: all entries through
  3.15a1's 3656, and ``#define PYC_MAGIC_NUMBER 3657``).
* The same comment states the numbering rule from 3.11 on: Python 3.n starts
  at 2900 + 50·n, so 3.n's range ends where 3.(n+1)'s begins ("Python 3.16 will
  start with 3700").
* Final-release magic numbers were checked by asking real interpreters
  (``importlib.util.MAGIC_NUMBER``) on the machine this module was written on:
  pyenv CPython 3.6.15 → 3379, 3.7.16 → 3394, 3.8.18 → 3413, 3.9.18 → 3425,
  3.10.13 → 3439, 3.11.7 and Debian 12's 3.11.2 → 3495, 3.12.1 → 3531,
  3.13.0 → 3571.  3.14's final 3627 is the last 3.14 entry of the header
  (labelled 3.14rc3; 3.14rc2 shipped 3626), after which the list moves on to
  3.15.  3.15 has no final release yet: ``final`` is ``None``.
* PyPy does not use CPython's numbers: ``pypy/interpreter/pycode.py`` computes
  ``pypy_incremental_magic`` (always a multiple of 16 and below 3000, both
  asserted there) and bumps it by 16 whenever its pycs become incompatible,
  shared across its 3.x lines.  PyPy 7.3.11 for 3.9 (Debian 12's ``pypy3``)
  reports 336 with cache tag ``pypy39``; the 3.10 line's source reads 384.
  Earlier PyPy 3.9 builds wrote CPython's own 3425 instead (pypy/pypy#3782), so
  a PyPy tag accepts its PyPy-style numbers *and* its language version's
  CPython number.

Nothing here is copied from those files: the numbers and release labels are
facts; the code is ours.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# --- CPython ------------------------------------------------------------------

# (first magic, last magic, label of the pre-release the bump first shipped in),
# in order.  A run stands for every number from first to last with that label.
# Gaps inside a run's range (3374 in 3.6, 3402–3409 in 3.8) were never used.
_CPYTHON_RUNS: dict[tuple[int, int], tuple[tuple[int, int, str], ...]] = {
    (3, 6): (
        (3360, 3360, "a0"),
        (3361, 3361, "a1"),
        (3370, 3372, "a2"),
        (3373, 3373, "b1"),
        (3375, 3377, "b1"),
        (3378, 3378, "b2"),
        (3379, 3379, "rc1"),
    ),
    (3, 7): (
        (3390, 3390, "a1"),
        (3391, 3391, "a2"),
        (3392, 3392, "a4"),
        (3393, 3393, "b1"),
        (3394, 3394, "b5"),
    ),
    (3, 8): (
        (3400, 3401, "a1"),
        (3410, 3410, "a1"),
        (3411, 3412, "b2"),
        (3413, 3413, "b4"),
    ),
    (3, 9): (
        (3420, 3422, "a0"),
        (3423, 3425, "a2"),
    ),
    (3, 10): (
        (3430, 3431, "a1"),
        (3432, 3433, "a2"),
        (3434, 3434, "a6"),
        (3435, 3435, "a7"),
        (3436, 3439, "b1"),
    ),
    (3, 11): (
        (3450, 3461, "a1"),
        (3462, 3462, "a2"),
        (3463, 3465, "a3"),
        (3466, 3474, "a4"),
        (3475, 3485, "a5"),
        (3486, 3491, "a6"),
        (3492, 3494, "a7"),
        (3495, 3495, "b4"),
    ),
    (3, 12): (
        (3500, 3509, "a1"),
        (3510, 3512, "a2"),
        (3513, 3514, "a4"),
        (3515, 3517, "a5"),
        (3518, 3520, "a6"),
        (3521, 3524, "a7"),
        (3525, 3531, "b1"),
    ),
    (3, 13): (
        (3550, 3568, "a1"),
        (3569, 3569, "a5"),
        (3570, 3570, "a6"),
        (3571, 3571, "b1"),
    ),
    (3, 14): (
        (3600, 3608, "a1"),
        (3609, 3609, "a2"),
        (3610, 3613, "a4"),
        (3614, 3616, "a5"),
        (3617, 3620, "a6"),
        (3621, 3623, "a7"),
        (3624, 3624, "b1"),
        (3625, 3625, "b3"),
        (3626, 3626, "rc2"),
        (3627, 3627, "rc3"),
    ),
    (3, 15): (
        (3650, 3650, "a0"),
        (3651, 3656, "a1"),
        # PYC_MAGIC_NUMBER at the commit we read; its comment line was not yet
        # written, so which pre-release ships it is not known.
        (3657, 3657, ""),
    ),
}

# The magic every final release of the line uses.  None: no final release yet.
_CPYTHON_FINAL: dict[tuple[int, int], int | None] = {
    (3, 6): 3379,
    (3, 7): 3394,
    (3, 8): 3413,
    (3, 9): 3425,
    (3, 10): 3439,
    (3, 11): 3495,
    (3, 12): 3531,
    (3, 13): 3571,
    (3, 14): 3627,
    (3, 15): None,
}

# Through 3.10 a line's range ends just before the next line's first number;
# from 3.11 on, 3.n owns [2900 + 50n, 2950 + 50n).
_FIRST_TABLE_MINOR = 6
_LAST_TABLE_MINOR = 15
_RULE_FROM_MINOR = 11


@dataclass(frozen=True)
class CPythonLine:
    """One CPython minor version's bytecode magic numbers."""

    version: tuple[int, int]
    first: int
    """The first magic of the development cycle (its 3.x a0/a1)."""
    last: int
    """The last magic the cycle may use (inclusive)."""
    final: int | None
    """What the final release and every bugfix release use; None while in development."""
    labels: dict[int, str]
    """Magic → pre-release it first shipped in (``"rc2"``); ``""`` when unknown."""

    @property
    def name(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def cache_tag(self) -> str:
        return f"cpython-{self.version[0]}{self.version[1]}"

    def label(self, magic: int) -> str:
        """``3.14rc2``-style name of the pre-release that used ``magic`` (best known)."""
        return f"{self.name}{self.labels.get(magic, '')}"


def _build_lines() -> dict[tuple[int, int], CPythonLine]:
    lines: dict[tuple[int, int], CPythonLine] = {}
    versions = sorted(_CPYTHON_RUNS)
    for index, version in enumerate(versions):
        runs = _CPYTHON_RUNS[version]
        labels = {m: label for first, last, label in runs for m in range(first, last + 1)}
        first = runs[0][0]
        if version[1] >= _RULE_FROM_MINOR:
            last = 2900 + 50 * version[1] + 49
        else:
            last = _CPYTHON_RUNS[versions[index + 1]][0][0] - 1
        lines[version] = CPythonLine(version, first, last, _CPYTHON_FINAL[version], labels)
    return lines


CPYTHON_LINES: dict[tuple[int, int], CPythonLine] = _build_lines()
"""CPython 3.6 → 3.15, keyed by ``(3, minor)``."""


def _line_for_minor(minor: int) -> CPythonLine | None:
    """The table's line, or for a 3.16+ not in the table one built from the 2900+50n rule."""
    found = CPYTHON_LINES.get((3, minor))
    if found is not None:
        return found
    if minor > _LAST_TABLE_MINOR:
        first = 2900 + 50 * minor
        return CPythonLine((3, minor), first, first + 49, None, {})
    return None


def cpython_line_for_magic(magic: int) -> CPythonLine | None:
    """The CPython minor version whose development cycle used ``magic``, if any.

    Numbers past the table (3.16 and later) are placed by the 2900+50n rule;
    their final number is not known, so ``final`` is None for them.
    """
    for line in CPYTHON_LINES.values():
        if line.first <= magic <= line.last:
            return line
    if magic >= 2900 + 50 * (_LAST_TABLE_MINOR + 1) and magic < 2900 + 50 * 100:
        return _line_for_minor((magic - 2900) // 50)
    return None


# --- versions -------------------------------------------------------------------

_VERSION_RE = re.compile(
    r"^\s*(?P<major>\d+)\.(?P<minor>\d+)(?:\.(?P<micro>\d+))?"
    r"(?:(?P<level>a|b|rc|c|alpha|beta|candidate)(?P<serial>\d+))?\s*$"
)
_LEVEL_ORDER = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "rc": 2, "c": 2, "candidate": 2}
_LABEL_RE = re.compile(r"^(?P<level>a|b|rc)(?P<serial>\d+)$")


@dataclass(frozen=True)
class PythonVersion:
    """A version as a user writes it: ``3.11``, ``3.11.7``, ``3.14.0rc2``, ``3.14rc2``."""

    major: int
    minor: int
    micro: int | None = None
    prerelease: tuple[int, int] | None = None
    """(level, serial) with level 0 = alpha, 1 = beta, 2 = release candidate."""

    @property
    def is_prerelease(self) -> bool:
        return self.prerelease is not None


def parse_python_version(text: str) -> PythonVersion | None:
    """Read ``3.11``, ``3.11.7``, ``3.14.0rc2``, ``3.14rc2``; None when it is not one."""
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    pre = None
    if m["level"]:
        pre = (_LEVEL_ORDER[m["level"]], int(m["serial"]))
    micro = int(m["micro"]) if m["micro"] is not None else None
    return PythonVersion(int(m["major"]), int(m["minor"]), micro, pre)


def _label_key(label: str) -> tuple[int, int] | None:
    m = _LABEL_RE.match(label)
    return (_LEVEL_ORDER[m["level"]], int(m["serial"])) if m else None


def magic_for(version: str | tuple[int, ...] | PythonVersion) -> int | None:
    """The bytecode magic a CPython version writes, or None when the table cannot say.

    ``magic_for("3.11")`` and ``magic_for("3.11.7")`` give the line's final
    number (3495).  A pre-release gives the newest number labelled at or before
    it: ``magic_for("3.14.0rc2")`` is 3626, ``"3.14.0rc3"`` is 3627.  None for
    versions outside 3.6 → 3.15, for a final release of a line still in
    development (3.15), and for a pre-release newer than the table knows.
    """
    if isinstance(version, PythonVersion):
        parsed: PythonVersion | None = version
    elif isinstance(version, tuple):
        parsed = PythonVersion(version[0], version[1]) if len(version) >= 2 else None
    else:
        parsed = parse_python_version(version)
    if parsed is None or parsed.major != 3:
        return None
    line = CPYTHON_LINES.get((3, parsed.minor))
    if line is None:
        return None
    if parsed.prerelease is None:
        return line.final
    best: int | None = None
    newest_labelled: tuple[int, int] | None = None
    for magic, label in sorted(line.labels.items()):
        key = _label_key(label)
        if key is None:
            continue
        newest_labelled = key if newest_labelled is None else max(newest_labelled, key)
        if key <= parsed.prerelease:
            best = magic
    if line.final is None and newest_labelled is not None and parsed.prerelease > newest_labelled:
        return None  # a pre-release newer than the table: the magic may have moved
    return best


def is_prerelease_magic(magic: int) -> bool:
    """True when ``magic`` belongs to a CPython line but no final release uses it.

    3626 (3.14rc2) is; 3627 (3.14.0) is not.  Everything a line in development
    (3.15 today) writes is pre-release bytecode.  Numbers outside every CPython
    range (PyPy's, garbage) are not.
    """
    line = cpython_line_for_magic(magic)
    return line is not None and magic != line.final


@dataclass(frozen=True)
class MagicInfo:
    """What a magic number says about the interpreter that wrote it."""

    magic: int
    implementation: str
    """``cpython``, ``pypy`` or ``unknown``."""
    version: tuple[int, int] | None
    release: str
    """``3.11`` for a final number, ``3.14rc2`` for a pre-release one, ``""`` if unknown."""
    prerelease: bool

    def describe(self) -> str:
        if self.implementation == "cpython":
            kind = "pre-release" if self.prerelease else "final"
            return f"{self.magic} (CPython {self.release} {kind})"
        if self.implementation == "pypy":
            return f"{self.magic} (PyPy)"
        return f"{self.magic} (not a known magic number)"


def describe_magic(magic: int) -> MagicInfo:
    """Name the interpreter behind a magic number, as well as the table allows."""
    line = cpython_line_for_magic(magic)
    if line is not None:
        pre = magic != line.final
        release = line.label(magic) if pre else line.name
        return MagicInfo(magic, "cpython", line.version, release, pre)
    if is_pypy_style_magic(magic):
        return MagicInfo(magic, "pypy", None, "", False)
    return MagicInfo(magic, "unknown", None, "", False)


def is_pypy_style_magic(magic: int) -> bool:
    """PyPy 3's own numbers: a multiple of 16 below 3000 (asserted in pypy's pycode.py)."""
    return 0 < magic < 3000 and magic % 16 == 0


# --- PyPy ------------------------------------------------------------------------


@dataclass(frozen=True)
class PyPyLine:
    """One PyPy 3.x line, by the cache tag its importer writes."""

    version: tuple[int, int]
    cache_tag: str
    observed_magics: tuple[int, ...]
    """PyPy-style numbers seen for this line (see the module docstring); may grow."""

    @property
    def cpython_equivalent(self) -> int | None:
        """The CPython number of the same language version (older PyPy builds wrote it)."""
        return magic_for((3, self.version[1]))

    def accepts(self, magic: int) -> bool:
        return is_pypy_style_magic(magic) or magic == self.cpython_equivalent


PYPY_LINES: dict[tuple[int, int], PyPyLine] = {
    (3, 7): PyPyLine((3, 7), "pypy37", ()),
    (3, 8): PyPyLine((3, 8), "pypy38", ()),
    (3, 9): PyPyLine((3, 9), "pypy39", (336,)),
    (3, 10): PyPyLine((3, 10), "pypy310", (384,)),
    (3, 11): PyPyLine((3, 11), "pypy311", ()),
}
"""PyPy 3.7 → 3.11, keyed by language version."""


# --- cache tags and wheel tags ---------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    """An interpreter family as bytecode sees it: implementation and language version.

    Free-threaded CPython shares the regular build's cache tag and magic
    (3.13t writes ``cpython-313``), so ``free_threaded`` only matters for
    naming, not for matching bytecode.
    """

    implementation: str
    """``cpython`` or ``pypy``."""
    version: tuple[int, int]
    free_threaded: bool = False

    @property
    def cache_tag(self) -> str:
        major, minor = self.version
        if self.implementation == "pypy":
            return f"pypy{major}{minor}"
        return f"cpython-{major}{minor}"

    @property
    def name(self) -> str:
        impl = "PyPy" if self.implementation == "pypy" else "CPython"
        t = "t" if self.free_threaded else ""
        return f"{impl} {self.version[0]}.{self.version[1]}{t}"

    def same_bytecode(self, other: Interpreter) -> bool:
        return self.cache_tag == other.cache_tag

    def accepts_magic(self, magic: int) -> bool | None:
        """Whether this interpreter's released builds load ``magic``; None if unknown.

        CPython: only the line's final number (pre-release bytecode of the same
        line is rejected by the release).  A line with no final release yet
        accepts any number of its own range.  PyPy: see ``PyPyLine.accepts``.
        """
        if self.implementation == "pypy":
            line = PYPY_LINES.get(self.version)
            if line is None:
                return is_pypy_style_magic(magic) or None
            return line.accepts(magic)
        cline = _line_for_minor(self.version[1]) if self.version[0] == 3 else None
        if cline is None:
            return None
        if cline.final is None:
            return cline.first <= magic <= cline.last
        return magic == cline.final

    def expected_magic(self) -> str:
        """The accepted magic number(s), for messages."""
        if self.implementation == "pypy":
            line = PYPY_LINES.get(self.version)
            eq = line.cpython_equivalent if line else None
            alt = f" or {eq}" if eq else ""
            return f"a PyPy number (multiple of 16 below 3000){alt}"
        cline = _line_for_minor(self.version[1])
        if cline is None:
            return "unknown"
        if cline.final is None:
            return f"{cline.first}-{cline.last} (3.{self.version[1]} is in development)"
        return str(cline.final)


_CACHE_TAG_RE = re.compile(
    r"^(?:cpython-(?P<cp>\d)(?P<cpminor>\d+)|pypy(?P<pp>\d)(?P<ppminor>\d+))$"
)


def parse_cache_tag(tag: str) -> Interpreter | None:
    """``cpython-311`` → CPython 3.11, ``pypy39`` → PyPy 3.9; None for other tags.

    The tag is ``sys.implementation.cache_tag``, the middle part of
    ``__pycache__/mod.<tag>.pyc``.  Tags of other implementations (GraalPy,
    old Jython) and garbage give None.
    """
    m = _CACHE_TAG_RE.match(tag)
    if m is None:
        return None
    if m["cp"]:
        return Interpreter("cpython", (int(m["cp"]), int(m["cpminor"])))
    return Interpreter("pypy", (int(m["pp"]), int(m["ppminor"])))


_WHEEL_PY_TAG_RE = re.compile(r"^(?P<impl>cp|pp)(?P<major>\d)(?P<minor>\d+)(?P<t>t?)$")


def parse_wheel_python_tag(tag: str) -> Interpreter | None:
    """A wheel's python tag for one interpreter: ``cp311``, ``cp314t``, ``pp310``.

    Generic tags (``py3``, ``py2.py3``, ``cp38`` with abi3 are handled by the
    caller) and compound ones name no single interpreter: None.
    """
    m = _WHEEL_PY_TAG_RE.match(tag.strip().lower())
    if m is None:
        return None
    impl = "cpython" if m["impl"] == "cp" else "pypy"
    return Interpreter(impl, (int(m["major"]), int(m["minor"])), free_threaded=bool(m["t"]))


def parse_python_tag(text: str) -> Interpreter | None:
    """What a user may pass as ``--python-tag``.

    Accepts a wheel python tag (``cp311``, ``cp314t``, ``pp39``), a cache tag
    (``cpython-311``, ``pypy39``), a CPython version (``3.11``, ``3.14t``) or
    ``pypy3.10``.  None when it names no single interpreter.
    """
    value = text.strip().lower()
    found = parse_wheel_python_tag(value) or parse_cache_tag(value)
    if found is not None:
        return found
    m = re.match(r"^(?P<pypy>pypy)?(?P<major>\d)\.(?P<minor>\d+)(?P<t>t?)$", value)
    if m is None:
        return None
    impl = "pypy" if m["pypy"] else "cpython"
    return Interpreter(impl, (int(m["major"]), int(m["minor"])), free_threaded=bool(m["t"]))


def prerelease_warning(magic: int) -> str | None:
    """One sentence for a cache key's output when an interpreter writes pre-release bytecode.

    None for a final release's number.  For ``key --for venv``: an environment
    cached from 3.14rc2 (3626) is recompiled by every 3.14.0 (3627) import.
    """
    line = cpython_line_for_magic(magic)
    if line is None or magic == line.final:
        return None
    if line.final is None:
        return (
            f"bytecode magic {magic} is CPython {line.label(magic)} pre-release bytecode; "
            f"{line.name} is still in development, so its magic number may change again"
        )
    return (
        f"bytecode magic {magic} is CPython {line.label(magic)} pre-release bytecode; "
        f"{line.name} releases use {line.final} and recompile every cached .pyc"
    )
