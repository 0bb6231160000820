"""audit-bytecode on artifacts built in the test: headers, directories, wheels, sdists, conda."""

from __future__ import annotations

import importlib.util
import io
import json
import os
import py_compile
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard
from hypothesis import given
from hypothesis import strategies as st

from pyo3_cache.bytecode.audit import (
    HEADER_SIZE,
    LEGACY_HEADER_SIZE,
    AuditReport,
    HeaderProblem,
    PycHeader,
    audit_bytecode,
    audit_dist,
    conda_interpreter,
    parse_pyc_header,
    render_markdown,
    render_text,
    wheel_interpreter,
    write_pyc_header,
)
from pyo3_cache.bytecode.magic_numbers import CPYTHON_LINES, Interpreter
from pyo3_cache.errors import BytecodeError
from tests.conftest import assert_one_line_error, run_cli

OWN_MAGIC = int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")
OWN_TAG = importlib.util.cache_from_source("m.py").rsplit(".", 2)[-2]  # cpython-311
OWN_MINOR = int(OWN_TAG.split("-")[1][1:])
SOURCE = b"VALUE = 1\n\ndef answer():\n    return 42\n"


# --- helpers that build artifacts ---------------------------------------------------------


def compiled(source: bytes = SOURCE, mode: str = "timestamp", tmp: Path | None = None) -> bytes:
    """Real bytecode from this interpreter's py_compile."""
    import tempfile

    invalidation = {
        "timestamp": py_compile.PycInvalidationMode.TIMESTAMP,
        "checked-hash": py_compile.PycInvalidationMode.CHECKED_HASH,
        "unchecked-hash": py_compile.PycInvalidationMode.UNCHECKED_HASH,
    }[mode]
    with tempfile.TemporaryDirectory(dir=tmp) as d:
        src = Path(d) / "m.py"
        src.write_bytes(source)
        out = Path(d) / "m.pyc"
        py_compile.compile(str(src), cfile=str(out), doraise=True, invalidation_mode=invalidation)
        return out.read_bytes()


def with_magic(pyc: bytes, magic: int) -> bytes:
    return magic.to_bytes(2, "little") + pyc[2:]


def make_zip(path: Path, files: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return path


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1_700_000_000
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def make_conda(path: Path, files: dict[str, bytes], index: dict[str, object]) -> Path:
    """A .conda (zip of pkg-*.tar.zst + info-*.tar.zst) or a .tar.bz2, like conda-build writes."""
    info = {"info/index.json": json.dumps(index).encode()}
    stem = path.name.rsplit(".conda", 1)[0].rsplit(".tar.bz2", 1)[0]
    if path.name.endswith(".conda"):
        cctx = zstandard.ZstdCompressor()
        make_zip(
            path,
            {
                "metadata.json": b'{"conda_pkg_format_version": 2}',
                f"pkg-{stem}.tar.zst": cctx.compress(tar_bytes(files)),
                f"info-{stem}.tar.zst": cctx.compress(tar_bytes(info)),
            },
        )
    else:
        path.write_bytes(tar_bytes({**info, **files}, mode="w:bz2"))
    return path


def wheel_files(
    pycs: dict[str, bytes] | None = None, tag: str = "cp311-cp311-linux_x86_64"
) -> dict[str, bytes]:
    files = {
        "pkg/__init__.py": SOURCE,
        "pkg-1.0.dist-info/METADATA": b"Metadata-Version: 2.1\nName: pkg\nVersion: 1.0\n",
        "pkg-1.0.dist-info/WHEEL": f"Wheel-Version: 1.0\nTag: {tag}\n".encode(),
    }
    files.update(pycs or {})
    return files


def kinds(report: AuditReport) -> list[str]:
    return sorted(f.kind for f in report.findings)


def compile_tree(root: Path, mode: str = "timestamp") -> None:
    for src in root.rglob("*.py"):
        py_compile.compile(
            str(src),
            doraise=True,
            invalidation_mode={
                "timestamp": py_compile.PycInvalidationMode.TIMESTAMP,
                "checked-hash": py_compile.PycInvalidationMode.CHECKED_HASH,
                "unchecked-hash": py_compile.PycInvalidationMode.UNCHECKED_HASH,
            }[mode],
        )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_bytes(SOURCE)
    (root / "pkg" / "mod.py").write_bytes(b"X = 2\n")
    return root


# --- the header parser ----------------------------------------------------------------------


def test_parses_real_timestamp_header(tmp_path: Path) -> None:
    src = tmp_path / "m.py"
    src.write_bytes(SOURCE)
    pyc = Path(py_compile.compile(str(src), doraise=True))
    header = parse_pyc_header(pyc.read_bytes())
    assert isinstance(header, PycHeader)
    assert header.magic == OWN_MAGIC
    assert header.invalidation == "timestamp"
    assert header.source_size == len(SOURCE)
    assert header.mtime == int(src.stat().st_mtime)


@pytest.mark.parametrize("mode", ["checked-hash", "unchecked-hash"])
def test_parses_real_hash_header(mode: str) -> None:
    header = parse_pyc_header(compiled(mode=mode))
    assert isinstance(header, PycHeader)
    assert header.invalidation == mode
    assert header.source_hash == importlib.util.source_hash(SOURCE)
    assert header.mtime is None


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "truncated"),
        (b"\x0d", "truncated"),
        (OWN_MAGIC.to_bytes(2, "little") + b"\r\n\0\0", "truncated"),
        (b"PK\x03\x04" + b"\0" * 12, "unknown-magic"),
        ((1234).to_bytes(2, "little") + b"\r\n" + b"\0" * 12, "unknown-magic"),
        (
            OWN_MAGIC.to_bytes(2, "little") + b"\r\n" + (4).to_bytes(4, "little") + b"\0" * 8,
            "unreadable",
        ),
    ],
)
def test_bad_headers_are_named_problems(data: bytes, kind: str) -> None:
    problem = parse_pyc_header(data)
    assert isinstance(problem, HeaderProblem)
    assert problem.kind == kind


def test_python_36_header_is_twelve_bytes() -> None:
    data = (
        (3379).to_bytes(2, "little")
        + b"\r\n"
        + (1_600_000_000).to_bytes(4, "little")
        + (77).to_bytes(4, "little")
    )
    header = parse_pyc_header(data + b"\xe3code")
    assert isinstance(header, PycHeader)
    assert (header.size, header.mtime, header.source_size) == (
        LEGACY_HEADER_SIZE,
        1_600_000_000,
        77,
    )
    assert write_pyc_header(header) == data


@given(st.binary(max_size=40))
def test_parser_never_raises_on_arbitrary_bytes(data: bytes) -> None:
    result = parse_pyc_header(data)
    assert isinstance(result, (PycHeader, HeaderProblem))


_KNOWN_MAGICS = sorted({m for line in CPYTHON_LINES.values() for m in line.labels} | {336, 384})


@st.composite
def headers(draw: st.DrawFn) -> PycHeader:
    magic = draw(st.sampled_from(_KNOWN_MAGICS))
    u32 = st.integers(0, 2**32 - 1)
    if magic < 3392 and magic > 3000:
        return PycHeader(magic, 0, draw(u32), draw(u32), None, LEGACY_HEADER_SIZE)
    flags = draw(st.sampled_from([0, 1, 2, 3]))
    if flags & 1:
        return PycHeader(magic, flags, None, None, draw(st.binary(min_size=8, max_size=8)))
    return PycHeader(magic, flags, draw(u32), draw(u32), None)


@given(headers(), st.binary(max_size=16))
def test_written_headers_parse_back(header: PycHeader, body: bytes) -> None:
    data = write_pyc_header(header)
    assert len(data) == header.size
    assert parse_pyc_header(data + body) == header


# --- directories -----------------------------------------------------------------------------


def test_clean_compiled_tree_has_no_findings(tree: Path) -> None:
    compile_tree(tree)
    report = audit_bytecode([tree])
    assert report.findings == []
    assert report.checked == 2
    assert report.exit_code == 0
    assert report.artifacts[0].tags == {OWN_TAG: 2}


def test_edited_source_makes_timestamp_pyc_stale(tree: Path) -> None:
    compile_tree(tree)
    (tree / "pkg" / "mod.py").write_bytes(b"X = 22222\n")  # size differs
    report = audit_bytecode([tree])
    assert kinds(report) == ["stale"]
    assert "mod.py" in report.findings[0].detail


def test_touched_source_with_same_size_is_stale_by_mtime(tree: Path) -> None:
    compile_tree(tree)
    src = tree / "pkg" / "mod.py"
    st_ = src.stat()
    os.utime(src, (st_.st_atime, st_.st_mtime + 100))
    report = audit_bytecode([tree])
    assert kinds(report) == ["stale"]
    assert "mtime" in report.findings[0].detail


def test_deleted_source_leaves_an_orphan_and_fix_removes_it(tree: Path) -> None:
    compile_tree(tree)
    (tree / "pkg" / "mod.py").unlink()
    orphan = tree / "pkg" / "__pycache__" / f"mod.{OWN_TAG}.pyc"
    report = audit_bytecode([tree])
    assert kinds(report) == ["orphan"]
    assert report.exit_code == 1
    fixed = audit_bytecode([tree], fix=True)
    assert [f.fixed for f in fixed.findings] == [True]
    assert fixed.exit_code == 0
    assert not orphan.exists()
    assert (tree / "pkg" / "__pycache__" / f"__init__.{OWN_TAG}.pyc").exists()
    assert audit_bytecode([tree]).findings == []


def test_unchecked_hash_is_a_warning_until_the_source_changes(tree: Path) -> None:
    compile_tree(tree, "unchecked-hash")
    report = audit_bytecode([tree])
    assert kinds(report) == ["unchecked-hash", "unchecked-hash"]
    assert report.exit_code == 0
    (tree / "pkg" / "mod.py").write_bytes(b"X = 3\n")  # same size, new hash
    report = audit_bytecode([tree])
    assert kinds(report) == ["stale", "unchecked-hash", "unchecked-hash"]
    stale = next(f for f in report.findings if f.kind == "stale")
    assert "never checks" in stale.detail


def test_checked_hash_with_edited_source_is_stale(tree: Path) -> None:
    compile_tree(tree, "checked-hash")
    assert audit_bytecode([tree]).findings == []
    (tree / "pkg" / "mod.py").write_bytes(b"X = 4\n")
    assert kinds(audit_bytecode([tree])) == ["stale"]


def test_foreign_and_prerelease_bytecode_in_a_tree(tree: Path) -> None:
    compile_tree(tree)
    cache = tree / "pkg" / "__pycache__"
    good = (cache / f"mod.{OWN_TAG}.pyc").read_bytes()
    (cache / "mod.cpython-314.pyc").write_bytes(with_magic(good, 3626))  # 3.14rc2
    (cache / "mod.cpython-310.pyc").write_bytes(with_magic(good, 3439))
    report = audit_bytecode([tree], python_tag=f"cp3{OWN_MINOR}")
    found = {(Path(f.path).name, f.kind) for f in report.findings}
    assert found == {
        ("mod.cpython-314.pyc", "foreign-tag"),
        ("mod.cpython-314.pyc", "magic-mismatch"),
        ("mod.cpython-310.pyc", "foreign-tag"),
    }
    mismatch = next(f for f in report.findings if f.kind == "magic-mismatch")
    assert "3.14rc2" in mismatch.detail and "3627" in mismatch.detail
    # Without a tag nothing names the interpreter: only the wrong magic remains.
    assert kinds(audit_bytecode([tree])) == ["magic-mismatch"]


def test_site_packages_path_names_the_interpreter(tmp_path: Path) -> None:
    site = tmp_path / "env" / "lib" / "python3.10" / "site-packages"
    (site / "pkg").mkdir(parents=True)
    (site / "pkg" / "__init__.py").write_bytes(SOURCE)
    compile_tree(site)
    report = audit_bytecode([tmp_path / "env"])
    if OWN_TAG == "cpython-310":
        pytest.skip("this interpreter is 3.10: its bytecode is at home there")
    assert kinds(report) == ["foreign-tag"]
    assert "CPython 3.10 (its lib/ path)" in report.findings[0].detail


def test_pyvenv_cfg_names_the_interpreter(tree: Path) -> None:
    compile_tree(tree)
    (tree / "pyvenv.cfg").write_text("home = /usr/bin\nversion_info = 3.9.18\n")
    report = audit_bytecode([tree])
    assert kinds(report) == ["foreign-tag", "foreign-tag"]
    assert report.artifacts[0].expected == "CPython 3.9"


def test_truncated_and_garbage_pyc_are_reported_per_file(tree: Path) -> None:
    compile_tree(tree)
    cache = tree / "pkg" / "__pycache__"
    (cache / f"mod.{OWN_TAG}.pyc").write_bytes(importlib.util.MAGIC_NUMBER + b"\0\0")
    (cache / f"__init__.{OWN_TAG}.pyc").write_bytes(b"not bytecode at all")
    report = audit_bytecode([tree])
    assert kinds(report) == ["truncated", "unknown-magic"]
    fixed = audit_bytecode([tree], fix=True)
    assert all(f.fixed for f in fixed.findings)
    assert not list(cache.iterdir())


def test_symlink_out_of_the_tree_is_not_followed_nor_deleted(tree: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    victim = outside / "x.cpython-310.pyc"
    victim.write_bytes(b"garbage")
    cache = tree / "pkg" / "__pycache__"
    cache.mkdir()
    (cache / "x.cpython-310.pyc").symlink_to(victim)
    (tree / "linked-dir").symlink_to(outside, target_is_directory=True)
    report = audit_bytecode([tree], fix=True)
    assert report.checked == 0
    assert any("symlink out of the tree" in s for s in report.skipped)
    assert victim.read_bytes() == b"garbage"


def test_source_symlinked_out_of_the_tree_still_counts(tree: Path, tmp_path: Path) -> None:
    # Debian: /usr/lib/python3.11/sitecustomize.py -> /etc/python3.11/sitecustomize.py
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "site.py").write_bytes(b"Y = 1\n")
    (tree / "pkg" / "site.py").symlink_to(etc / "site.py")
    compile_tree(tree)
    assert audit_bytecode([tree]).findings == []
    (etc / "site.py").unlink()  # now dangling: the bytecode has no source any more
    assert kinds(audit_bytecode([tree])) == ["orphan"]


def test_directory_with_wheels_audits_them_too(tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    pyc = {"pkg/__pycache__/__init__.cpython-310.pyc": with_magic(compiled(), 3439)}
    make_zip(dist / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    report = audit_bytecode([dist], fix=True)
    assert kinds(report) == ["foreign-tag", "pyc-in-wheel"]
    assert report.findings[0].path.endswith(".whl!pkg/__pycache__/__init__.cpython-310.pyc")
    assert report.not_fixed == [str(dist / "pkg-1.0-cp311-cp311-linux_x86_64.whl")]


# --- wheels ----------------------------------------------------------------------------------


def test_wheel_without_bytecode_is_clean(tmp_path: Path) -> None:
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files())
    report = audit_bytecode([whl])
    assert report.findings == [] and report.checked == 0
    assert report.artifacts[0].expected == "CPython 3.11"
    assert report.artifacts[0].expected_from == "wheel tag cp311"


def test_wheel_with_matching_bytecode_gets_only_a_note(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/__init__.cpython-311.pyc": with_magic(compiled(), 3495)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    report = audit_bytecode([whl])
    assert kinds(report) == ["pyc-in-wheel"]
    assert report.exit_code == 0


def test_wheel_with_foreign_wrong_orphan_and_unchecked_bytecode(tmp_path: Path) -> None:
    base = with_magic(compiled(), 3495)
    pycs = {
        "pkg/__pycache__/__init__.cpython-310.pyc": with_magic(base, 3439),
        "pkg/__pycache__/__init__.cpython-311.pyc": with_magic(base, 3494),  # 3.11a7
        "pkg/__pycache__/gone.cpython-311.pyc": base,
        "pkg/__pycache__/__init__.cpython-311.opt-1.pyc": with_magic(
            compiled(mode="unchecked-hash"), 3495
        ),
    }
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pycs))
    report = audit_bytecode([whl])
    by_name = {(f.path.rsplit("/", 1)[-1], f.kind) for f in report.findings}
    assert by_name == {
        ("__init__.cpython-310.pyc", "foreign-tag"),
        ("__init__.cpython-311.pyc", "magic-mismatch"),
        ("gone.cpython-311.pyc", "orphan"),
        ("__init__.cpython-311.opt-1.pyc", "unchecked-hash"),
        (whl.name, "pyc-in-wheel"),
    }
    assert report.exit_code == 1


def test_stale_size_in_a_wheel(tmp_path: Path) -> None:
    pyc = with_magic(compiled(b"X = 1\n"), 3495)
    whl = make_zip(
        tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl",
        wheel_files({"pkg/__pycache__/__init__.cpython-311.pyc": pyc}),
    )
    assert kinds(audit_bytecode([whl])) == ["pyc-in-wheel", "stale"]


def test_abi3_wheel_names_no_single_interpreter(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/__init__.cpython-312.pyc": with_magic(compiled(), 3531)}
    whl = make_zip(
        tmp_path / "pkg-1.0-cp38-abi3-linux_x86_64.whl", wheel_files(pyc, "cp38-abi3-linux_x86_64")
    )
    report = audit_bytecode([whl])
    assert kinds(report) == ["pyc-in-wheel"]
    assert report.artifacts[0].expected is None
    assert "several interpreters" in report.artifacts[0].expected_from


def test_wheel_whose_name_does_not_parse_uses_its_wheel_file(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/__init__.cpython-310.pyc": with_magic(compiled(), 3439)}
    whl = make_zip(tmp_path / "pkg.whl", wheel_files(pyc, "cp311-cp311-linux_x86_64"))
    report = audit_bytecode([whl])
    assert kinds(report) == ["bad-wheel-name", "foreign-tag", "pyc-in-wheel"]
    assert report.artifacts[0].expected_from == "wheel tag cp311 (from WHEEL)"


def test_corrupt_zip_is_one_finding_and_other_paths_still_run(tmp_path: Path) -> None:
    bad = tmp_path / "bad-1.0-cp311-cp311-linux_x86_64.whl"
    bad.write_bytes(b"PK\x03\x04 this is not a zip")
    good = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files())
    report = audit_bytecode([bad, good])
    assert [(f.path, f.kind) for f in report.findings] == [(str(bad), "unreadable")]
    assert len(report.artifacts) == 2


def test_fix_never_edits_a_wheel(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/gone.cpython-311.pyc": with_magic(compiled(), 3495)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    before = whl.read_bytes()
    report = audit_bytecode([whl], fix=True)
    assert report.not_fixed == [str(whl)]
    assert not any(f.fixed for f in report.findings)
    assert whl.read_bytes() == before
    assert "never edits archives in place" in render_text(report)


@pytest.mark.parametrize(
    ("py", "abi", "expected"),
    [
        ("cp311", "cp311", "CPython 3.11"),
        ("cp314", "cp314t", "CPython 3.14"),
        ("cp314t", "cp314t", "CPython 3.14t"),
        ("pp310", "pypy310_pp73", "PyPy 3.10"),
        ("py3", "none", None),
        ("cp38", "abi3", None),
        ("cp310.cp311", "cp310", None),
    ],
)
def test_wheel_interpreter(py: str, abi: str, expected: str | None) -> None:
    interp, _why = wheel_interpreter(py, abi)
    assert (interp.name if interp else None) == expected


# --- sdists and conda packages ----------------------------------------------------------------


def test_sdist_with_bytecode(tmp_path: Path) -> None:
    sdist = tmp_path / "pkg-1.0.tar.gz"
    sdist.write_bytes(
        tar_bytes(
            {
                "pkg-1.0/pkg/__init__.py": SOURCE,
                "pkg-1.0/pkg/__pycache__/__init__.cpython-311.pyc": with_magic(compiled(), 3495),
                "pkg-1.0/pkg/__pycache__/old.cpython-311.pyc": with_magic(compiled(), 3495),
            },
            mode="w:gz",
        )
    )
    report = audit_bytecode([sdist])
    assert kinds(report) == ["orphan", "pyc-in-sdist"]
    assert report.findings[0].path == f"{sdist}!pkg-1.0/pkg/__pycache__/old.cpython-311.pyc"


@pytest.mark.parametrize("suffix", [".conda", ".tar.bz2"])
def test_conda_package_with_previous_variant_bytecode(tmp_path: Path, suffix: str) -> None:
    # prefix-dev/pixi: a py310 package carrying the py311 build's bytecode.
    site = "lib/python3.10/site-packages/pkg"
    files = {
        f"{site}/__init__.py": SOURCE,
        f"{site}/__pycache__/__init__.cpython-310.pyc": with_magic(compiled(), 3439),
        f"{site}/__pycache__/__init__.cpython-311.pyc": with_magic(compiled(), 3495),
    }
    index = {
        "name": "pkg",
        "build": "py310h0_0",
        "depends": ["python >=3.10,<3.11.0a0", "python_abi 3.10.* *_cp310"],
    }
    pkg = make_conda(tmp_path / f"pkg-1.0-py310h0_0{suffix}", files, index)
    report = audit_bytecode([pkg])
    assert [(f.path.rsplit("/", 1)[-1], f.kind) for f in report.findings] == [
        ("__init__.cpython-311.pyc", "foreign-tag")
    ]
    assert report.artifacts[0].expected == "CPython 3.10"
    assert report.artifacts[0].tags == {"cpython-310": 1, "cpython-311": 1}


def test_conda_windows_layout_uses_index_json(tmp_path: Path) -> None:
    files = {
        "Lib/site-packages/pkg/__init__.py": SOURCE,
        "Lib/site-packages/pkg/__pycache__/__init__.cpython-311.pyc": with_magic(compiled(), 3495),
    }
    index = {"depends": ["python_abi 3.12.* *_cp312"]}
    report = audit_bytecode([make_conda(tmp_path / "pkg-1.0-py312h0_0.conda", files, index)])
    assert kinds(report) == ["foreign-tag"]
    assert "conda dependency 'python_abi 3.12.* *_cp312'" in report.findings[0].detail


def test_conda_without_its_tarballs_is_unreadable(tmp_path: Path) -> None:
    pkg = make_zip(tmp_path / "pkg-1.0-0.conda", {"metadata.json": b"{}"})
    report = audit_bytecode([pkg])
    assert kinds(report) == ["unreadable"]


@pytest.mark.parametrize(
    ("index", "filename", "expected"),
    [
        ({"depends": ["python_abi 3.13.* *_cp313t"]}, "", "CPython 3.13t"),
        ({"depends": ["python_abi 3.9 *_pypy39_pp73"]}, "", "PyPy 3.9"),
        ({"depends": ["python >=3.11,<3.12.0a0"]}, "", "CPython 3.11"),
        ({"depends": ["python >=3.8"]}, "pkg-1.0-py312hab12_0.conda", "CPython 3.12"),
        ({"noarch": "python", "build": "pyhd8ed1ab_0"}, "", None),
        ({}, "pkg-1.0-h123_0.conda", None),
    ],
)
def test_conda_interpreter(index: dict[str, object], filename: str, expected: str | None) -> None:
    interp, _why = conda_interpreter(json.dumps(index).encode(), filename)
    assert (interp.name if interp else None) == expected


def test_conda_interpreter_survives_broken_metadata() -> None:
    assert conda_interpreter(b"\xff{not json", "")[0] is None
    assert conda_interpreter(b"[1, 2]", "")[0] is None


# --- library edges and renderers ---------------------------------------------------------------


def test_missing_path_and_bad_tag_raise_bytecode_error(tmp_path: Path) -> None:
    with pytest.raises(BytecodeError, match="does not exist"):
        audit_bytecode([tmp_path / "nope.whl"])
    with pytest.raises(BytecodeError, match="names no single interpreter"):
        audit_bytecode([tmp_path], python_tag="py3")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(BytecodeError, match="is not a wheel"):
        audit_bytecode([tmp_path / "notes.txt"])


def test_single_pyc_path(tree: Path) -> None:
    compile_tree(tree)
    pyc = tree / "pkg" / "__pycache__" / f"mod.{OWN_TAG}.pyc"
    assert audit_bytecode([pyc]).findings == []
    assert kinds(audit_bytecode([pyc], python_tag="pp39")) == ["foreign-tag"]


def test_audit_dist_only_runs_when_wheels_are_there(tmp_path: Path) -> None:
    assert audit_dist(tmp_path) is None
    assert audit_dist(tmp_path / "missing") is None
    make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files())
    report = audit_dist(tmp_path)
    assert report is not None and report.findings == []


def test_markdown_summary_lists_findings(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/gone.cpython-311.pyc": with_magic(compiled(), 3495)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    text = render_markdown(audit_bytecode([whl]))
    assert text.startswith("### Bytecode audit")
    assert "| error | `orphan` |" in text


def test_markdown_summary_is_inert_on_hostile_member_names(tmp_path: Path) -> None:
    name = "pkg/__pycache__/x`<img src=x onerror=alert(1)>|y.cpython-311.pyc"
    pyc = {name: with_magic(compiled(), 3495)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    text = render_markdown(audit_bytecode([whl]))
    rows = [ln for ln in text.splitlines() if ln.startswith("| error |")]
    # One code span, fenced longer than the name's backtick; the | in the name is escaped.
    assert len(rows) == 1 and rows[0].count(" | ") == 3, rows
    assert "| ``" in rows[0]
    assert "!pkg/__pycache__/x`<img src=x onerror=alert(1)>\\|y.cpython-311.pyc`` |" in rows[0]


# --- the CLI ----------------------------------------------------------------------------------


def test_cli_json_shape_and_exit_code(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/__init__.cpython-310.pyc": with_magic(compiled(), 3439)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    result = run_cli("audit-bytecode", str(whl), "--format", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["checked"] == 1
    assert {"path", "kind", "detail"} <= set(data["findings"][0])
    assert [f["kind"] for f in data["findings"]] == ["foreign-tag", "pyc-in-wheel"]
    assert data["errors"] == 1 and data["notes"] == 1


def test_cli_clean_wheel_exits_zero_with_a_summary_line(tmp_path: Path) -> None:
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files())
    result = run_cli("audit-bytecode", str(whl))
    assert result.returncode == 0
    assert (
        result.stdout.strip()
        == "checked 0 .pyc file(s) in 1 artifact(s): 0 error(s), 0 warning(s), 0 note(s)"
    )


def test_cli_bad_input_is_reported_per_file_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad-1.0-cp311-cp311-linux_x86_64.whl"
    bad.write_bytes(b"\0" * 100)
    d = tmp_path / "d" / "__pycache__"
    d.mkdir(parents=True)
    (d / "x.cpython-311.pyc").write_bytes(b"\x01")
    (d / "y.cpython-311.pyc").write_bytes((7).to_bytes(2, "little") + b"\r\n" + b"\0" * 12)
    result = run_cli("audit-bytecode", str(bad), str(tmp_path / "d"))
    assert result.returncode == 1
    assert "Traceback" not in result.stdout + result.stderr
    assert f"error: unreadable: {bad}: cannot read" in result.stdout
    assert "error: truncated: " in result.stdout
    assert "error: unknown-magic: " in result.stdout


def test_cli_missing_path_is_one_line_error(tmp_path: Path) -> None:
    result = run_cli("audit-bytecode", str(tmp_path / "nope.whl"))
    assert_one_line_error(result, BytecodeError.exit_code, "does not exist")


def test_cli_bad_python_tag_is_a_usage_error(tmp_path: Path) -> None:
    result = run_cli("audit-bytecode", str(tmp_path), "--python-tag", "py3")
    assert result.returncode == 2
    assert "names no single interpreter" in result.stderr


def test_cli_fix_on_archive_warns_and_leaves_it(tmp_path: Path) -> None:
    pyc = {"pkg/__pycache__/gone.cpython-311.pyc": with_magic(compiled(), 3495)}
    whl = make_zip(tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl", wheel_files(pyc))
    result = run_cli("audit-bytecode", str(whl), "--fix")
    assert result.returncode == 1
    assert "never edits archives in place" in result.stderr
    assert zipfile.ZipFile(whl).namelist() == list(wheel_files(pyc))


def test_cli_fix_in_directory_exits_zero_once_fixed(tree: Path) -> None:
    compile_tree(tree)
    (tree / "pkg" / "mod.py").unlink()
    result = run_cli("audit-bytecode", str(tree), "--fix")
    assert result.returncode == 0, result.stdout
    assert "[fixed: removed]" in result.stdout
    assert run_cli("audit-bytecode", str(tree)).returncode == 0


def test_header_constants() -> None:
    assert HEADER_SIZE == 16 and LEGACY_HEADER_SIZE == 12
    assert Interpreter("cpython", (3, 11)).expected_magic() == "3495"


def test_a_newline_in_a_member_name_cannot_start_a_workflow_command(tmp_path: Path) -> None:
    name = "pkg/__pycache__/x\n::error title=forged::owned.cpython-311.pyc"
    whl = make_zip(
        tmp_path / "pkg-1.0-cp311-cp311-linux_x86_64.whl",
        wheel_files({name: with_magic(compiled(), 3495)}),
    )
    result = run_cli("audit-bytecode", str(whl), env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("::")], result.stdout
