"""Bad wheels for ``audit-wheels``: missing, not wheels, corrupt, hostile headers, bombs."""

from __future__ import annotations

import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.bad_inputs.cases import Case, Ctx, nothing, write
from tests.wheels.retag import retag

DATA = Path(__file__).resolve().parents[1] / "wheels" / "data"
ARM = DATA / "MarkupSafe-3.0.2-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"
WHEEL = "pkg-1.0-cp313-cp313-manylinux_2_17_x86_64.whl"
MODULE = "pkg/_m.cpython-313-x86_64-linux-gnu.so"


def _hostile_elf() -> bytes:
    """A 64-byte ELF64 header for x86_64 whose section table lies far past the file's end."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + bytes(9)
    return ident + struct.pack("<HHIQQQIHHHHHH", 3, 62, 1, 0, 0, 2**63, 0, 64, 56, 0, 64, 65535, 0)


def wheel_with(module: bytes | Callable[[zipfile.ZipFile], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        with zipfile.ZipFile(ctx.work / WHEEL, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("pkg/__init__.py", "")
            if callable(module):
                module(zf)
            else:
                zf.writestr(MODULE, module)
            zf.writestr("pkg-1.0.dist-info/WHEEL", "Tag: cp313-cp313-manylinux_2_17_x86_64\n")

    return setup


def _zeros(zf: zipfile.ZipFile) -> None:
    """A 300 MiB module of zeros (300 KiB compressed): read whole, it would cost 300 MiB."""
    chunk = bytes(1 << 20)
    with zf.open(MODULE, "w", force_zip64=True) as out:
        for _ in range(300):
            out.write(chunk)


def retagged_pypy(ctx: Ctx) -> None:
    retag(ARM, ctx.work / "dist", tags="pp310-pypy310_pp73-manylinux_2_17_aarch64")


def newline_member(ctx: Ctx) -> None:
    with zipfile.ZipFile(ARM) as zf:
        [member] = [n for n in zf.namelist() if n.endswith(".so")]
    forged = "markupsafe/x\n::error title=forged::owned.cpython-313-aarch64-linux-gnu.so"
    retag(ARM, ctx.work / "dist", tags="cp39-abi3-manylinux_2_17_aarch64", rename={member: forged})
    ctx.env["GITHUB_ACTIONS"] = "true"


def check_no_command_line(ctx: Ctx, results: list[Any]) -> None:
    for result in results:
        assert not [ln for ln in result.stdout.splitlines() if ln.startswith("::")], result.stdout


CASES: list[Case] = [
    Case(
        "wheels-missing-path",
        "wheels",
        "a wheel path that does not exist",
        ("audit-wheels", "dist/missing.whl"),
        nothing,
        "error",
        12,
        ("does not exist",),
    ),
    Case(
        "wheels-not-a-wheel",
        "wheels",
        "a text file given as a wheel",
        ("audit-wheels", "notes.txt"),
        write("notes.txt", "not a wheel\n"),
        "error",
        12,
        ("is not a wheel",),
    ),
    Case(
        "wheels-corrupt",
        "wheels",
        "a .whl that is not a zip",
        ("audit-wheels", WHEEL),
        write(WHEEL, b"PK\x03\x04 not really a zip"),
        "findings",
        1,
        ("unreadable",),
    ),
    Case(
        "wheels-hostile-elf",
        "wheels",
        "a module whose ELF header puts 65,535 sections at offset 2^63",
        ("audit-wheels", WHEEL),
        wheel_with(_hostile_elf()),
        "report",
        0,
        ("unknown-binary", "ELF header is truncated or malformed"),
    ),
    Case(
        "wheels-module-bomb",
        "wheels",
        "a 300 MiB module of zeros (300 KiB in the zip)",
        ("audit-wheels", WHEEL),
        wheel_with(_zeros),
        "report",
        0,
        ("unknown-binary", "not an ELF, Mach-O or PE file"),
        max_rss_mib=200,
    ),
    Case(
        "wheels-retagged-pypy",
        "wheels",
        "a real cp313 wheel renamed and re-tagged pp310-pypy310_pp73",
        ("audit-wheels", "dist"),
        retagged_pypy,
        "findings",
        1,
        ("interpreter-mismatch", "built for CPython 3.13 but the wheel is tagged for PyPy 3.10"),
    ),
    Case(
        "wheels-newline-member",
        "wheels",
        "a module member name holding a newline and ::error title=forged::",
        ("audit-wheels", "dist"),
        newline_member,
        "findings",
        1,
        ("not-abi3", "x ::error title=forged::owned"),
        check=check_no_command_line,
        finding="the text report printed the name as is: its second line was a workflow "
        "command; paths and details are now one line each (also in audit-bytecode)",
    ),
]
