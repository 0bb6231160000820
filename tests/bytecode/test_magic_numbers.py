"""The magic number table: final numbers, pre-release ranges, tags, and real interpreters."""

from __future__ import annotations

import glob
import json
import os
import shutil
import subprocess
import sys

import pytest

from pyo3_cache.bytecode.magic_numbers import (
    CPYTHON_LINES,
    PYPY_LINES,
    Interpreter,
    cpython_line_for_magic,
    describe_magic,
    is_prerelease_magic,
    magic_for,
    parse_cache_tag,
    parse_python_tag,
    parse_python_version,
    parse_wheel_python_tag,
)

FINALS = {
    "3.6": 3379,
    "3.7": 3394,
    "3.8": 3413,
    "3.9": 3425,
    "3.10": 3439,
    "3.11": 3495,
    "3.12": 3531,
    "3.13": 3571,
    "3.14": 3627,
}


@pytest.mark.parametrize(("version", "magic"), sorted(FINALS.items()))
def test_final_release_magic(version: str, magic: int) -> None:
    assert magic_for(version) == magic
    assert magic_for(f"{version}.0") == magic
    assert magic_for(f"{version}.9") == magic  # bugfix releases keep the number
    assert not is_prerelease_magic(magic)


@pytest.mark.parametrize(
    ("version", "magic"),
    [
        # conda-forge-pinning#7795: rc2 and rc3 differ; rc3 is what 3.14.0 ships.
        ("3.14.0rc2", 3626),
        ("3.14.0rc3", 3627),
        ("3.14rc1", 3625),
        ("3.14.0b1", 3624),
        ("3.14.0b2", 3624),
        ("3.14.0a1", 3608),
        ("3.13.0a6", 3570),
        ("3.13.0rc1", 3571),
        ("3.12.0b1", 3531),
        ("3.11.0b3", 3494),
        ("3.11.0b4", 3495),
        ("3.7.0b5", 3394),
        ("3.15.0a1", 3656),
    ],
)
def test_prerelease_magic_is_the_newest_labelled_at_or_before_it(version: str, magic: int) -> None:
    assert magic_for(version) == magic


@pytest.mark.parametrize(
    "version", ["3.15", "3.15.0", "3.15.0a5", "3.5", "3.16", "2.7", "4.0", "x"]
)
def test_magic_for_says_none_when_the_table_cannot_know(version: str) -> None:
    assert magic_for(version) is None


def test_magic_for_accepts_tuples_and_parsed_versions() -> None:
    assert magic_for((3, 11)) == 3495
    assert magic_for((3, 11, 7)) == 3495
    parsed = parse_python_version("3.14.0rc2")
    assert parsed is not None and parsed.is_prerelease
    assert magic_for(parsed) == 3626


def test_ranges_are_ordered_and_disjoint_and_hold_their_numbers() -> None:
    lines = [CPYTHON_LINES[v] for v in sorted(CPYTHON_LINES)]
    assert [line.name for line in lines] == [f"3.{m}" for m in range(6, 16)]
    for before, after in zip(lines, lines[1:]):
        assert before.last + 1 == after.first, (before.name, after.name)
    for line in lines:
        assert min(line.labels) == line.first
        assert max(line.labels) <= line.last
        if line.final is not None:
            assert line.final == max(line.labels), line.name
            assert line.labels[line.final] != ""
        # From 3.11 on, 3.n starts at 2900 + 50n (CPython's stated rule).
        if line.version[1] >= 11:
            assert line.first == 2900 + 50 * line.version[1]


@pytest.mark.parametrize(
    ("magic", "expected"),
    [(3626, True), (3627, False), (3494, True), (3495, False), (3650, True), (3657, True)],
)
def test_is_prerelease_magic(magic: int, expected: bool) -> None:
    assert is_prerelease_magic(magic) is expected


def test_numbers_outside_cpython_are_not_prerelease() -> None:
    assert not is_prerelease_magic(336)  # PyPy 3.9
    assert not is_prerelease_magic(62211)  # Python 2.7
    assert not is_prerelease_magic(3351)  # Python 3.5


def test_numbers_past_the_table_follow_the_2900_plus_50n_rule() -> None:
    line = cpython_line_for_magic(3702)
    assert line is not None and line.version == (3, 16) and line.final is None
    assert is_prerelease_magic(3702)
    assert describe_magic(3702).release == "3.16"


def test_describe_magic_names_release_and_prerelease() -> None:
    assert describe_magic(3626).describe() == "3626 (CPython 3.14rc2 pre-release)"
    assert describe_magic(3627).describe() == "3627 (CPython 3.14 final)"
    assert describe_magic(336).implementation == "pypy"
    assert describe_magic(1234).implementation == "unknown"


@pytest.mark.parametrize(
    ("tag", "impl", "version"),
    [
        ("cpython-311", "cpython", (3, 11)),
        ("cpython-36", "cpython", (3, 6)),
        ("cpython-315", "cpython", (3, 15)),
        ("pypy39", "pypy", (3, 9)),
        ("pypy311", "pypy", (3, 11)),
    ],
)
def test_parse_cache_tag(tag: str, impl: str, version: tuple[int, int]) -> None:
    interp = parse_cache_tag(tag)
    assert interp == Interpreter(impl, version)
    assert interp.cache_tag == tag


@pytest.mark.parametrize("tag", ["graalpy240-310", "cp311", "cpython", "pypy", "", "cpython-3x1"])
def test_parse_cache_tag_rejects_other_tags(tag: str) -> None:
    assert parse_cache_tag(tag) is None


def test_free_threaded_shares_the_cache_tag() -> None:
    ft = parse_wheel_python_tag("cp314t")
    assert ft == Interpreter("cpython", (3, 14), free_threaded=True)
    assert ft.cache_tag == "cpython-314"
    assert ft.same_bytecode(Interpreter("cpython", (3, 14)))
    assert ft.name == "CPython 3.14t"


@pytest.mark.parametrize(
    ("text", "cache_tag"),
    [
        ("cp311", "cpython-311"),
        ("CP310", "cpython-310"),
        ("pp310", "pypy310"),
        ("cpython-312", "cpython-312"),
        ("pypy39", "pypy39"),
        ("3.11", "cpython-311"),
        ("3.13t", "cpython-313"),
        ("pypy3.10", "pypy310"),
    ],
)
def test_parse_python_tag(text: str, cache_tag: str) -> None:
    interp = parse_python_tag(text)
    assert interp is not None and interp.cache_tag == cache_tag


@pytest.mark.parametrize("text", ["py3", "abi3", "cp3", "python", "3", "cp311-abi3"])
def test_parse_python_tag_rejects_generic_tags(text: str) -> None:
    assert parse_python_tag(text) is None


def test_cpython_accepts_only_its_final_magic_once_released() -> None:
    cp314 = Interpreter("cpython", (3, 14))
    assert cp314.accepts_magic(3627) is True
    assert cp314.accepts_magic(3626) is False
    assert cp314.accepts_magic(3571) is False
    # In development: anything of its own range.
    cp315 = Interpreter("cpython", (3, 15))
    assert cp315.accepts_magic(3657) is True
    assert cp315.accepts_magic(3627) is False


def test_pypy_accepts_pypy_numbers_and_its_cpython_equivalent() -> None:
    pypy39 = Interpreter("pypy", (3, 9))
    assert pypy39.accepts_magic(336) is True
    # Older PyPy 3.9 builds wrote CPython's 3425 (pypy/pypy#3782).
    assert pypy39.accepts_magic(3425) is True
    assert pypy39.accepts_magic(3495) is False
    assert set(PYPY_LINES) == {(3, 7), (3, 8), (3, 9), (3, 10), (3, 11)}
    assert [line.cache_tag for line in PYPY_LINES.values()] == [
        "pypy37",
        "pypy38",
        "pypy39",
        "pypy310",
        "pypy311",
    ]
    for line in PYPY_LINES.values():
        assert all(line.accepts(m) for m in line.observed_magics)


# --- real interpreters ------------------------------------------------------------------


def _interpreters() -> list[str]:
    found = {os.path.realpath(sys.executable): sys.executable}
    candidates = ["/usr/bin/python3", shutil.which("pypy3") or ""]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.*/bin/python3")))
    for path in candidates:
        if path and os.path.exists(path):
            found.setdefault(os.path.realpath(path), path)
    return sorted(found.values())


_ASK = (
    "import importlib.util, json, sys, platform; m = importlib.util.MAGIC_NUMBER; "
    "print(json.dumps([platform.python_implementation(), list(sys.version_info[:3]), "
    "sys.version_info[3], sys.version_info[4], m[0] | m[1] << 8, m[2:].hex(), "
    "sys.implementation.cache_tag]))"
)


@pytest.mark.parametrize("python", _interpreters())
def test_real_interpreter_agrees_with_the_table(python: str) -> None:
    out = subprocess.run([python, "-c", _ASK], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    impl, version, level, serial, magic, tail, cache_tag = json.loads(out.stdout)
    assert tail == "0d0a"
    interp = parse_cache_tag(cache_tag)
    assert interp is not None
    assert interp.version == tuple(version[:2])
    assert interp.accepts_magic(magic) is True
    if impl == "CPython":
        suffix = {"alpha": "a", "beta": "b", "candidate": "rc"}.get(level, "")
        full = ".".join(map(str, version)) + (f"{suffix}{serial}" if suffix else "")
        expected = magic_for(full)
        if expected is not None:
            assert magic == expected, full
        assert is_prerelease_magic(magic) is (level != "final")
    else:
        assert impl == "PyPy"
        line = PYPY_LINES[tuple(version[:2])]
        assert line.accepts(magic)


def test_prerelease_warning_names_the_release_magic() -> None:
    from pyo3_cache.bytecode.magic_numbers import prerelease_warning

    assert prerelease_warning(3627) is None
    assert prerelease_warning(336) is None
    text = prerelease_warning(3626)
    assert text is not None and "3.14rc2" in text and "use 3627" in text
    dev = prerelease_warning(3656)
    assert dev is not None and "still in development" in dev
