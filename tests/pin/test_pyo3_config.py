"""pyo3_config: the config PyO3 would derive, written pinned and content-addressed."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.pin.pinning import pin_pyo3_config
from pyo3_cache.pin.pyo3_config import (
    PINNED_MTIME,
    Pyo3Config,
    pyo3_line,
    resolve_pyo3_config,
    write_pinned_config,
)

LINUX_311 = InterpreterInfo(
    path="/opt/py/bin/python3",
    implementation="CPython",
    version=(3, 11, 7),
    releaselevel="final",
    serial=0,
    executable="/opt/py/bin/python3",
    base_prefix="/opt/py",
    system="Linux",
    machine="x86_64",
    platform="linux-x86_64",
    anaconda=False,
    pythonframework="",
    pythonframeworkprefix="",
    py_enable_shared="1",
    ldversion="3.11",
    libdir="/opt/py/lib",
    ext_suffix=".cpython-311-x86_64-linux-gnu.so",
    soabi="cpython-311-x86_64-linux-gnu",
    abiflags="",
    calcsize_pointer=8,
    flags={"Py_DEBUG": "0", "Py_REF_DEBUG": "0", "Py_GIL_DISABLED": "0", "COUNT_ALLOCS": None},
    cache_tag="cpython-311",
    magic_number=3495,
    hexversion=0x30B07F0,
)


def _variant(**changes: object) -> InterpreterInfo:
    return dataclasses.replace(LINUX_311, **changes)  # type: ignore[arg-type]


def test_newest_line_writes_target_abi_and_maturin_extras() -> None:
    config = resolve_pyo3_config(LINUX_311, pyo3_line("0.30.1"))
    assert config.render().splitlines() == [
        "implementation=CPython",
        "version=3.11",
        "shared=true",
        "target_abi=CPython-gil_enabled-3.11",
        "lib_name=python3.11",
        "lib_dir=/opt/py/lib",
        "executable=/opt/py/bin/python3",
        "pointer_width=64",
        "build_flags=",
        "python_framework_prefix=",
        "suppress_build_script_link_lines=false",
        "ext_suffix=.cpython-311-x86_64-linux-gnu.so",
        "abiflags=",
    ]


def test_pyo3_028_writes_abi3_flag_instead_of_target_abi() -> None:
    data = resolve_pyo3_config(LINUX_311, pyo3_line("0.28.2")).as_dict()
    assert data["abi3"] == "false"
    assert "target_abi" not in data


def test_pyo3_017_gets_no_unknown_keys() -> None:
    # pyo3-build-config 0.17 fails the build on unknown keys (`unknown config key`).
    config = resolve_pyo3_config(LINUX_311, pyo3_line("0.17.3"))
    assert "ext_suffix" not in config.as_dict()
    assert "python_framework_prefix" not in config.as_dict()


def test_free_threaded_interpreter_gets_t_abiflags_and_abi() -> None:
    ft = _variant(
        version=(3, 14, 0),
        abiflags="t",
        ldversion="3.14t",
        flags={"Py_DEBUG": "0", "Py_GIL_DISABLED": "1"},
        ext_suffix=".cpython-314t-x86_64-linux-gnu.so",
    )
    data = resolve_pyo3_config(ft, pyo3_line("0.30.1")).as_dict()
    assert data["target_abi"] == "CPython-free_threaded-3.14"
    assert data["abiflags"] == "t"
    assert data["build_flags"] == "Py_GIL_DISABLED"
    assert data["lib_name"] == "python3.14t"


def test_debug_build_implies_ref_debug() -> None:
    dbg = _variant(flags={"Py_DEBUG": "1", "Py_REF_DEBUG": "0"}, abiflags="d")
    data = resolve_pyo3_config(dbg, pyo3_line(None)).as_dict()
    assert data["build_flags"] == "Py_DEBUG,Py_REF_DEBUG"
    assert data["target_abi"].endswith("-debug")


def test_windows_interpreter_links_pythonXY_from_base_prefix_libs() -> None:
    win = _variant(
        system="Windows",
        platform="win-amd64",
        executable="C:\\Python311\\python.exe",
        base_prefix="C:\\Python311",
        libdir=None,
        ldversion=None,
        abiflags=None,
        py_enable_shared=None,
        ext_suffix=".cp311-win_amd64.pyd",
        flags={"Py_DEBUG": None, "Py_GIL_DISABLED": None},
    )
    data = resolve_pyo3_config(win, pyo3_line("0.30.1")).as_dict()
    assert data["lib_name"] == "python311"
    assert data["lib_dir"] == "C:\\Python311\\libs"
    assert data["shared"] == "true"
    assert data["ext_suffix"] == ".cp311-win_amd64.pyd"
    # Windows has no sys.abiflags; maturin still gets the key.
    assert data["abiflags"] == ""


def test_pypy_without_ldversion_uses_versioned_c_library() -> None:
    pypy = _variant(
        implementation="PyPy", version=(3, 10, 14), ldversion=None, py_enable_shared="0"
    )
    data = resolve_pyo3_config(pypy, pyo3_line(None)).as_dict()
    assert data["lib_name"] == "pypy3.10-c"
    assert data["shared"] == "true"


def test_parse_round_trips_render() -> None:
    config = resolve_pyo3_config(LINUX_311, pyo3_line(None))
    assert Pyo3Config.parse(config.render()) == config


def test_abi_fields_hold_no_paths() -> None:
    fields = resolve_pyo3_config(LINUX_311, pyo3_line(None)).abi_fields()
    assert not any("/" in v for v in fields.values())
    assert fields["ext_suffix"] == ".cpython-311-x86_64-linux-gnu.so"


def test_rewriting_identical_config_keeps_name_content_and_mtime(tmp_path: Path) -> None:
    config = resolve_pyo3_config(LINUX_311, pyo3_line(None))
    path, written = write_pinned_config(config, tmp_path)
    assert written
    before = path.stat()
    assert before.st_mtime == PINNED_MTIME
    again, written_again = write_pinned_config(config, tmp_path)
    assert again == path and not written_again
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert path.read_text() == config.render()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_touched_identical_config_gets_its_mtime_pinned_again(tmp_path: Path) -> None:
    config = resolve_pyo3_config(LINUX_311, pyo3_line(None))
    path, _ = write_pinned_config(config, tmp_path)
    os.utime(path)  # e.g. a cache restore that did not keep mtimes
    write_pinned_config(config, tmp_path)
    assert path.stat().st_mtime == PINNED_MTIME


def test_different_interpreter_gets_different_file_name() -> None:
    a = resolve_pyo3_config(LINUX_311, pyo3_line(None))
    b = resolve_pyo3_config(_variant(version=(3, 12, 1), ldversion="3.12"), pyo3_line(None))
    c = resolve_pyo3_config(_variant(executable="/other/venv/bin/python"), pyo3_line(None))
    assert len({a.file_name, b.file_name, c.file_name}) == 3


def test_pin_library_call_reads_pyo3_version_from_cargo_lock(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    (tmp_path / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "pyo3-build-config"\nversion = "0.23.2"\n'
    )
    result = pin_pyo3_config(interpreter=LINUX_311, manifest_path=tmp_path / "Cargo.toml")
    assert result.pyo3_version == "0.23.2"
    assert result.config_file.parent == tmp_path / "target" / "pyo3-cache"
    assert result.env == {"PYO3_CACHE_PIN": str(tmp_path / "target" / "pyo3-cache" / "pin.json")}
    # The shim, not the interpreter's own path: a patch release elsewhere keeps the file.
    assert result.pyo3_python == str(
        result.config_file.parent / f"python-{result.interpreters[0].abi_key}"
    )
    assert result.config.as_dict()["executable"] == result.pyo3_python
    assert "abi3" in result.config.as_dict()
    assert any("does not rebuild when PYO3_CONFIG_FILE changes" in w for w in result.warnings)


def test_pin_honours_cargo_target_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = "0.1.0"\n')
    monkeypatch.setenv("CARGO_TARGET_DIR", str(tmp_path / "elsewhere"))
    result = pin_pyo3_config(interpreter=LINUX_311, manifest_path=tmp_path / "Cargo.toml")
    assert result.config_file.parent == tmp_path / "elsewhere" / "pyo3-cache"


def test_probe_reports_this_interpreter() -> None:
    import sys

    info = probe_interpreter(sys.executable)
    assert info.version[:2] == sys.version_info[:2]
    assert info.cache_tag == sys.implementation.cache_tag
    import importlib.util

    assert info.magic_number == int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")


def test_framework_prefix_key_appears_from_0_23_4() -> None:
    assert "python_framework_prefix" not in pyo3_line("0.23.3").keys
    assert "python_framework_prefix" in pyo3_line("0.23.4").keys


def test_0_29_cannot_parse_debug_suffix_so_it_is_not_written() -> None:
    dbg = _variant(flags={"Py_DEBUG": "1"})
    assert resolve_pyo3_config(dbg, pyo3_line("0.29.3")).as_dict()["target_abi"] == (
        "CPython-gil_enabled-3.11"
    )


def test_build_flag_names_follow_the_line() -> None:
    assert "Py_TRACE_REFS" in pyo3_line("0.28.3").build_flags
    assert "Py_TRACE_REFS" not in pyo3_line("0.29.3").build_flags
    assert "Py_GIL_DISABLED" not in pyo3_line("0.22.5").build_flags
    assert "Py_GIL_DISABLED" in pyo3_line("0.22.6").build_flags


def test_interpreter_older_than_the_pyo3_line_supports_is_refused(tmp_path: Path) -> None:
    from pyo3_cache.errors import InterpreterError

    pypy39 = _variant(implementation="PyPy", version=(3, 9, 16), ldversion=None)
    with pytest.raises(InterpreterError, match=r"older than PyO3 0\.30\.1 supports \(PyPy 3\.11"):
        pin_pyo3_config(interpreter=pypy39, directory=tmp_path, pyo3_version="0.30.1")
    # The same interpreter is fine for a line that still supports it.
    pin_pyo3_config(interpreter=pypy39, directory=tmp_path, pyo3_version="0.26.0")
    assert not list(tmp_path.glob("*.tmp"))
