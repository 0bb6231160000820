"""audit-bytecode on real artifacts: the example's wheel from `uv build`, bytecode written by
real interpreters (this venv's CPython, Debian's python3, pypy3 where installed), a venv made
by uv, and conda packages built in the test from the real wheel's files.
"""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from pyo3_cache.bytecode.audit import audit_bytecode
from pyo3_cache.bytecode.magic_numbers import parse_wheel_python_tag
from tests.conftest import run_cli
from tests.integration.conftest import _copy_tree, tool_env, uv_build, uv_pip_install, uv_venv

pytestmark = pytest.mark.integration

PYPY = shutil.which("pypy3")
DEBIAN_PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else None
NEEDS_PYPY = pytest.mark.skipif(
    PYPY is None,
    reason="pypy3 is not installed (Debian: apt-get install pypy3); it supplies the second "
    "interpreter's real bytecode",
)
OWN_TAG = sys.implementation.cache_tag
OWN_MAGIC = int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")


@pytest.fixture(scope="session")
def real_wheel(
    warm_example_base: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The example's wheel as `uv build --wheel` makes it (built once, from the warm tree)."""
    warm, checkout = warm_example_base
    _copy_tree(warm, checkout)
    out = tmp_path_factory.mktemp("bytecode-dist")
    build = uv_build(checkout, tool_env(), out)
    assert build.returncode == 0, build.output[-3000:]
    (wheel,) = out.glob("*.whl")
    return wheel


def _wheel_cache_tag(wheel: Path) -> str:
    interp = parse_wheel_python_tag(wheel.name.split("-")[2])
    assert interp is not None, wheel.name
    return interp.cache_tag


def _compile_with(python: str, source: Path, mode: str = "timestamp") -> bytes:
    """Bytecode for ``source`` written by the interpreter ``python`` itself."""
    out = source.parent / f".{source.stem}.{Path(python).name}.{mode}.pyc"
    code = (
        "import py_compile, sys; "
        "py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True, "
        f"invalidation_mode=py_compile.PycInvalidationMode.{mode.upper().replace('-', '_')})"
    )
    subprocess.run([python, "-c", code, str(source), str(out)], check=True, timeout=120)
    data = out.read_bytes()
    out.unlink()
    return data


def _rewrite_wheel(wheel: Path, dest: Path, extra: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        for name, data in extra.items():
            out.writestr(name, data)
    return dest


def _unpacked(wheel: Path, into: Path) -> Path:
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(into)
    return into


def test_real_wheel_has_no_bytecode_findings(real_wheel: Path) -> None:
    result = run_cli("audit-bytecode", str(real_wheel), "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["findings"] == []
    assert data["artifacts"][0]["kind"] == "wheel"
    assert data["artifacts"][0]["expected_from"].startswith("wheel tag cp3")


def test_real_wheel_with_injected_bytecode(real_wheel: Path, tmp_path: Path) -> None:
    src = _unpacked(real_wheel, tmp_path / "unpacked") / "hello_pyo3" / "__init__.py"
    tag = _wheel_cache_tag(real_wheel)
    real = _compile_with(sys.executable, src)
    foreign_tag = "pypy39" if PYPY else "cpython-310"
    foreign = _compile_with(PYPY, src) if PYPY else (3439).to_bytes(2, "little") + real[2:]
    injected = _rewrite_wheel(
        real_wheel,
        tmp_path / real_wheel.name,
        {
            f"hello_pyo3/__pycache__/__init__.{foreign_tag}.pyc": foreign,
            # 3.11b3's magic under the release's tag (the 3.14rc2-vs-rc3 kind of mistake).
            f"hello_pyo3/__pycache__/__init__.{tag}.pyc": (3494).to_bytes(2, "little") + real[2:],
            f"hello_pyo3/__pycache__/removed.{tag}.pyc": real,
            f"hello_pyo3/__pycache__/__init__.{tag}.opt-1.pyc": _compile_with(
                sys.executable, src, "unchecked-hash"
            ),
        },
    )
    result = run_cli("audit-bytecode", str(injected), "--format", "json")
    assert result.returncode == 1
    found = {
        (f["path"].rsplit("!", 1)[-1], f["kind"]) for f in json.loads(result.stdout)["findings"]
    }
    assert found == {
        (f"hello_pyo3/__pycache__/__init__.{foreign_tag}.pyc", "foreign-tag"),
        (f"hello_pyo3/__pycache__/__init__.{tag}.pyc", "magic-mismatch"),
        (f"hello_pyo3/__pycache__/removed.{tag}.pyc", "orphan"),
        (f"hello_pyo3/__pycache__/__init__.{tag}.opt-1.pyc", "unchecked-hash"),
        (str(injected), "pyc-in-wheel"),
    }
    # --fix leaves the archive byte for byte as it was.
    before = injected.read_bytes()
    fixed = run_cli("audit-bytecode", str(injected), "--fix")
    assert fixed.returncode == 1 and "never edits archives in place" in fixed.stderr
    assert injected.read_bytes() == before


def test_truncated_real_wheel_is_reported_without_traceback(
    real_wheel: Path, tmp_path: Path
) -> None:
    cut = tmp_path / real_wheel.name
    data = real_wheel.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    result = run_cli("audit-bytecode", str(cut))
    assert result.returncode == 1
    assert f"error: unreadable: {cut}: cannot read" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


@pytest.mark.skipif(DEBIAN_PYTHON is None, reason="no /usr/bin/python3 on this machine")
@NEEDS_PYPY
def test_directory_compiled_by_two_interpreters(real_wheel: Path, tmp_path: Path) -> None:
    tree = _unpacked(real_wheel, tmp_path / "tree")
    for python in (sys.executable, DEBIAN_PYTHON, PYPY):
        assert python is not None
        subprocess.run([python, "-m", "compileall", "-q", str(tree / "hello_pyo3")], check=True)
    pypy_tag = subprocess.run(
        [str(PYPY), "-c", "import sys; print(sys.implementation.cache_tag)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    cache = tree / "hello_pyo3" / "__pycache__"
    assert sorted(p.name for p in cache.iterdir()) == sorted(
        [f"__init__.{OWN_TAG}.pyc", f"__init__.{pypy_tag}.pyc"]
    )

    # Nothing names the interpreter: every file is valid for its own tag (PyPy's real
    # magic passes the PyPy rule), and the text output says two interpreters wrote here.
    plain = run_cli("audit-bytecode", str(tree))
    assert plain.returncode == 0, plain.stdout
    assert f"holds bytecode for several interpreters: {OWN_TAG} (1), {pypy_tag} (1)" in plain.stdout

    own = run_cli("audit-bytecode", str(tree), "--python-tag", OWN_TAG, "--format", "json")
    assert own.returncode == 1
    findings = json.loads(own.stdout)["findings"]
    assert [(Path(f["path"]).name, f["kind"]) for f in findings] == [
        (f"__init__.{pypy_tag}.pyc", "foreign-tag")
    ]

    theirs = run_cli("audit-bytecode", str(tree), "--python-tag", pypy_tag, "--format", "json")
    assert [Path(f["path"]).name for f in json.loads(theirs.stdout)["findings"]] == [
        f"__init__.{OWN_TAG}.pyc"
    ]

    fixed = run_cli("audit-bytecode", str(tree), "--python-tag", OWN_TAG, "--fix")
    assert fixed.returncode == 0, fixed.stdout
    assert sorted(p.name for p in cache.iterdir()) == [f"__init__.{OWN_TAG}.pyc"]
    assert run_cli("audit-bytecode", str(tree), "--python-tag", OWN_TAG).returncode == 0


@NEEDS_PYPY
def test_uv_venv_with_foreign_bytecode_in_site_packages(real_wheel: Path, tmp_path: Path) -> None:
    env = tool_env()
    venv = uv_venv(tmp_path / "venv", env)
    uv_pip_install(venv, real_wheel, "--quiet", "--offline", "--compile-bytecode", env=env)
    (site,) = (venv / "lib").glob("python3.*/site-packages")
    pkg = site / "hello_pyo3"
    assert (pkg / "__pycache__" / f"__init__.{OWN_TAG}.pyc").exists()
    clean = audit_bytecode([venv])
    assert [f for f in clean.findings if f.severity == "error"] == [], clean.findings

    # Another interpreter compiles into the env (a shared cache restored for the wrong job).
    assert PYPY is not None
    subprocess.run([PYPY, "-m", "compileall", "-q", str(pkg)], check=True)
    report = audit_bytecode([venv])
    foreign = [f for f in report.findings if f.kind == "foreign-tag"]
    assert len(foreign) == 1
    assert "(its lib/ path)" in foreign[0].detail
    assert foreign[0].path.startswith(str(pkg))


def _conda_from_wheel(wheel: Path, dest: Path, pycs: dict[str, bytes], minor: int) -> Path:
    site = f"lib/python3.{minor}/site-packages/"
    files: dict[str, bytes] = {}
    with zipfile.ZipFile(wheel) as zf:
        for name in zf.namelist():
            files[site + name] = zf.read(name)
    files.update({site + name: data for name, data in pycs.items()})
    index = {
        "name": "hello-pyo3",
        "version": "0.1.0",
        "build": f"py3{minor}h0_0",
        "depends": [
            f"python >=3.{minor},<3.{minor + 1}.0a0",
            f"python_abi 3.{minor}.* *_cp3{minor}",
        ],
    }

    def tar(members: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tf:
            for name, data in sorted(members.items()):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return buf.getvalue()

    cctx = zstandard.ZstdCompressor()
    stem = dest.name[: -len(".conda")]
    with zipfile.ZipFile(dest, "w") as zf:
        zf.writestr("metadata.json", '{"conda_pkg_format_version": 2}')
        zf.writestr(f"pkg-{stem}.tar.zst", cctx.compress(tar(files)))
        zf.writestr(
            f"info-{stem}.tar.zst",
            cctx.compress(tar({"info/index.json": json.dumps(index).encode()})),
        )
    return dest


def test_conda_package_carrying_the_previous_variants_bytecode(
    real_wheel: Path, tmp_path: Path
) -> None:
    # prefix-dev/pixi's report: each variant's package also holds the previous build's .pyc.
    src = _unpacked(real_wheel, tmp_path / "unpacked") / "hello_pyo3" / "__init__.py"
    minor = sys.version_info[1]
    own = _compile_with(sys.executable, src)
    if PYPY:
        other_tag, other = "pypy39", _compile_with(PYPY, src)
    else:
        other_tag, other = "cpython-310", (3439).to_bytes(2, "little") + own[2:]
    pkg = _conda_from_wheel(
        real_wheel,
        tmp_path / f"hello-pyo3-0.1.0-py3{minor}h0_0.conda",
        {
            f"hello_pyo3/__pycache__/__init__.{OWN_TAG}.pyc": own,
            f"hello_pyo3/__pycache__/__init__.{other_tag}.pyc": other,
        },
        minor,
    )
    result = run_cli("audit-bytecode", str(pkg), "--format", "json")
    assert result.returncode == 1
    data = json.loads(result.stdout)
    assert [(f["path"].rsplit("/", 1)[-1], f["kind"]) for f in data["findings"]] == [
        (f"__init__.{other_tag}.pyc", "foreign-tag")
    ]
    assert data["artifacts"][0]["kind"] == "conda"
    assert data["artifacts"][0]["expected"] == f"CPython 3.{minor}"
    assert data["checked"] == 2
    assert int.from_bytes(own[:2], "little") == OWN_MAGIC
