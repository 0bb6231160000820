"""``audit-wheels`` on real wheels (tests/wheels/data, see MANIFEST.txt) and mislabelled copies.

Each mislabelled wheel is a copy of a real one made by ``tests/wheels/retag.py``:
the tags or the module's name changed, the module's bytes exactly as built.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from pyo3_cache.wheels.audit import audit_wheels, render_markdown
from tests.conftest import assert_one_line_error, run_cli
from tests.wheels.retag import module_of, retag

DATA = Path(__file__).parent / "data"
MAC_ARM = DATA / "MarkupSafe-3.0.2-cp313-cp313-macosx_11_0_arm64.whl"
MAC_UNIVERSAL = DATA / "MarkupSafe-3.0.2-cp313-cp313-macosx_10_13_universal2.whl"
LINUX_ARM = DATA / "MarkupSafe-3.0.2-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
LINUX_I686 = DATA / (
    "MarkupSafe-3.0.2-cp313-cp313-manylinux_2_5_i686.manylinux1_i686.manylinux_2_17_i686."
    "manylinux2014_i686.whl"
)
LINUX_FT = DATA / ("MarkupSafe-3.0.2-cp313-cp313t-manylinux_2_17_x86_64.manylinux2014_x86_64.whl")
WIN32 = DATA / "MarkupSafe-3.0.2-cp313-cp313-win32.whl"
WIN_FT = DATA / "MarkupSafe-3.0.2-cp313-cp313t-win_amd64.whl"


def kinds(*paths: Path) -> list[str]:
    return sorted({f.kind for f in audit_wheels([str(p) for p in paths]).findings})


def test_real_wheels_of_every_format_are_clean() -> None:
    report = audit_wheels([str(DATA)])
    assert (report.checked, len(report.wheels), report.findings) == (7, 7, [])
    assert report.exit_code == 0


@pytest.mark.parametrize(
    ("wheel", "tags", "suffix", "expected"),
    [
        # cp313 module, re-tagged as a PyPy 3.10 wheel
        (LINUX_FT, "pp310-pypy310_pp73-manylinux_2_17_x86_64", None, ["interpreter-mismatch"]),
        (LINUX_ARM, "pp310-pypy310_pp73-manylinux_2_17_aarch64", None, ["interpreter-mismatch"]),
        # a version-specific module in an abi3 wheel
        (LINUX_ARM, "cp39-abi3-manylinux_2_17_aarch64", None, ["not-abi3"]),
        # cp313 module (no t) in a cp313t wheel, and the reverse
        (
            LINUX_FT,
            None,
            (".cpython-313t-x86_64-linux-gnu.so", ".cpython-313-x86_64-linux-gnu.so"),
            ["free-threading-mismatch"],
        ),
        (LINUX_FT, "cp313-cp313-manylinux_2_17_x86_64", None, ["free-threading-mismatch"]),
        (
            WIN_FT,
            None,
            (".cp313t-win_amd64.pyd", ".cp313-win_amd64.pyd"),
            ["free-threading-mismatch"],
        ),
        # a 32-bit ELF / PE re-tagged as 64-bit (the module name says so too)
        (
            LINUX_I686,
            "cp313-cp313-manylinux_2_17_x86_64",
            None,
            ["platform-mismatch", "pointer-width"],
        ),
        (WIN32, "cp313-cp313-win_amd64", None, ["platform-mismatch", "pointer-width"]),
        # the 32-bit ELF renamed as an x86_64 module: only the header tells
        (
            LINUX_I686,
            "cp313-cp313-manylinux_2_17_x86_64",
            ("-i386-linux-gnu.so", "-x86_64-linux-gnu.so"),
            ["pointer-width"],
        ),
        # an arm64-only Mach-O in an x86_64 / universal2 wheel; a fat one in an arm64 wheel is fine
        (MAC_ARM, "cp313-cp313-macosx_11_0_x86_64", None, ["platform-mismatch"]),
        (MAC_ARM, "cp313-cp313-macosx_11_0_universal2", None, ["platform-mismatch"]),
        (MAC_UNIVERSAL, "cp313-cp313-macosx_11_0_arm64", None, []),
        # formats: an ELF in a Windows wheel, a PE in a Linux one
        (
            LINUX_ARM,
            "cp313-cp313-win_amd64",
            (".cpython-313-aarch64-linux-gnu.so", ".pyd"),
            ["platform-mismatch"],
        ),
        (
            WIN32,
            "cp313-cp313-manylinux_2_17_i686",
            (".cp313-win32.pyd", ".so"),
            ["platform-mismatch"],
        ),
        # a musl module name in a manylinux (glibc) wheel
        (
            LINUX_ARM,
            None,
            ("-aarch64-linux-gnu.so", "-aarch64-linux-musl.so"),
            ["platform-mismatch"],
        ),
        # a binary in a pure wheel
        (LINUX_ARM, "py3-none-any", None, ["binary-in-pure-wheel"]),
        # an abi3 module in PyPy and free-threaded wheels
        (
            LINUX_FT,
            "pp310-pypy310_pp73-manylinux_2_17_x86_64",
            (".cpython-313t-x86_64-linux-gnu.so", ".abi3.so"),
            ["interpreter-mismatch"],
        ),
        (
            LINUX_FT,
            None,
            (".cpython-313t-x86_64-linux-gnu.so", ".abi3.so"),
            ["free-threading-mismatch"],
        ),
        (
            LINUX_FT,
            "pp310-pypy310_pp73-manylinux_2_17_x86_64",
            (".cpython-313t-x86_64-linux-gnu.so", ".so"),
            ["untagged-module"],
        ),
        # names an OS never imports: .abi3.pyd on Windows, .so there, .pyd on Linux
        (WIN32, "cp39-abi3-win32", (".cp313-win32.pyd", ".abi3.pyd"), ["platform-mismatch"]),
        (WIN32, None, (".cp313-win32.pyd", ".so"), ["platform-mismatch"]),
        (WIN_FT, None, (".cp313t-win_amd64.pyd", ".pyd"), []),
        # a plain .so in a CPython wheel, an abi3 module in a version wheel: both import fine
        (LINUX_ARM, None, (".cpython-313-aarch64-linux-gnu.so", ".so"), []),
        (LINUX_ARM, None, (".cpython-313-aarch64-linux-gnu.so", ".abi3.so"), []),
    ],
)
def test_mislabelled_wheels_are_flagged(
    tmp_path: Path,
    wheel: Path,
    tags: str | None,
    suffix: tuple[str, str] | None,
    expected: list[str],
) -> None:
    bad = retag(wheel, tmp_path, tags=tags, suffix=suffix)
    assert kinds(bad) == expected


def test_a_renamed_module_misses_its_init_function(tmp_path: Path) -> None:
    member = module_of(LINUX_ARM)
    bad = retag(LINUX_ARM, tmp_path, rename={member: member.replace("_speedups", "_fast")})
    [finding] = audit_wheels([str(bad)]).findings
    assert (finding.kind, finding.severity) == ("missing-init", "warning")
    assert "PyInit__fast is not exported" in finding.detail


def test_vendored_libraries_are_not_modules(tmp_path: Path) -> None:
    bad = retag(LINUX_ARM, tmp_path, tags="cp313-cp313-manylinux_2_17_x86_64")
    member = module_of(LINUX_ARM)
    vendored = tmp_path / "vendored" / bad.name
    vendored.parent.mkdir()
    with zipfile.ZipFile(bad) as src, zipfile.ZipFile(vendored, "w") as dst:
        for info in src.infolist():
            name = info.filename
            if name == member:
                name = "markupsafe.libs/libfoo-1a2b3c.so"
            dst.writestr(name, src.read(info))
    assert audit_wheels([str(vendored)]).checked == 0


def test_a_truncated_module_is_a_warning_not_a_crash(tmp_path: Path) -> None:
    member = module_of(LINUX_ARM)
    out = tmp_path / LINUX_ARM.name
    with zipfile.ZipFile(LINUX_ARM) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            dst.writestr(info.filename, data[:70] if info.filename == member else data)
    report = audit_wheels([str(out)])
    assert [(f.kind, f.severity) for f in report.findings] == [("unknown-binary", "warning")]
    assert "truncated" in report.findings[0].detail


def test_a_bad_file_name_falls_back_to_the_wheel_file(tmp_path: Path) -> None:
    bad = retag(LINUX_ARM, tmp_path, tags="pp310-pypy310_pp73-manylinux_2_17_aarch64")
    odd = bad.rename(tmp_path / "markupsafe.whl")
    assert kinds(odd) == ["bad-wheel-name", "interpreter-mismatch"]


def test_a_corrupt_wheel_is_a_finding(tmp_path: Path) -> None:
    broken = tmp_path / "x-1.0-cp313-cp313-win32.whl"
    broken.write_bytes(b"PK\x03\x04 not really")
    [finding] = audit_wheels([str(broken)]).findings
    assert (finding.kind, finding.severity) == ("unreadable", "error")


def test_cli_text_json_and_exit_codes(tmp_path: Path) -> None:
    bad = retag(LINUX_ARM, tmp_path / "dist", tags="cp39-abi3-manylinux_2_17_aarch64")
    clean = run_cli("audit-wheels", str(MAC_ARM))
    assert (clean.returncode, clean.stderr) == (0, "")
    assert clean.stdout.strip() == "1 extension module(s) in 1 wheel(s): 0 error(s), 0 warning(s)"
    text = run_cli("audit-wheels", str(tmp_path / "dist"))
    assert text.returncode == 1
    assert text.stdout.startswith(f"error: not-abi3: {bad}!markupsafe/_speedups.cpython-313-")
    data = json.loads(run_cli("audit-wheels", "--format", "json", str(bad)).stdout)
    assert data["checked"] == 1 and data["errors"] == 1
    assert set(data["findings"][0]) == {"path", "kind", "detail", "severity"}
    assert data["findings"][0]["kind"] == "not-abi3"


@pytest.mark.parametrize(
    ("arg", "fragment"),
    [("missing.whl", "does not exist"), ("README", "is not a wheel")],
)
def test_cli_bad_input_is_one_line(tmp_path: Path, arg: str, fragment: str) -> None:
    (tmp_path / "README").write_text("x")
    result = run_cli("audit-wheels", str(tmp_path / arg))
    assert_one_line_error(result, 12, fragment)


def test_markdown_escapes_member_names(tmp_path: Path) -> None:
    member = module_of(LINUX_ARM)
    bad = retag(
        LINUX_ARM,
        tmp_path,
        tags="cp39-abi3-manylinux_2_17_aarch64",
        rename={member: "markupsafe/<img src=x>|`/_speedups.cpython-313-aarch64-linux-gnu.so"},
    )
    markdown = render_markdown(audit_wheels([str(bad)]))
    [row] = [ln for ln in markdown.splitlines() if ln.startswith("| error |")]
    assert "!markupsafe/<img src=x>\\|`/_speedups.cpython-313-aarch64-linux-gnu.so`` |" in row
    assert row.count(" | ") == 3 and "| ``" in row


def test_a_newline_in_a_member_name_cannot_start_a_workflow_command(tmp_path: Path) -> None:
    member = module_of(LINUX_ARM)
    forged = "markupsafe/x\n::error title=forged::owned.cpython-313-aarch64-linux-gnu.so"
    bad = retag(
        LINUX_ARM, tmp_path, tags="cp39-abi3-manylinux_2_17_aarch64", rename={member: forged}
    )
    result = run_cli("audit-wheels", str(bad), env={"GITHUB_ACTIONS": "true"})
    assert result.returncode == 1
    assert not [ln for ln in result.stdout.splitlines() if ln.startswith("::")], result.stdout
    assert "x ::error title=forged::owned" in result.stdout  # shown, on our own line
