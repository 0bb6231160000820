"""Deliberately mislabelled wheels: a copy of a real wheel with other tags or module names.

``retag(wheel, out, tags="pp39-pypy39_pp73-manylinux_2_34_x86_64", rename={...})``
writes ``<name>-<version>-<tags>.whl`` whose WHEEL ``Tag:`` lines say the same,
with members renamed (``{"pkg/_m.cpython-311-x86_64-linux-gnu.so":
"pkg/_m.cpython-311-x86_64-linux-gnu.so"}``, or by suffix with ``suffix=``); the
module's bytes stay those the real build wrote.  This is how a pinned
``PYO3_CONFIG_FILE`` mislabels a build: the right tag, the wrong binary.
"""

from __future__ import annotations

import zipfile
from pathlib import Path


def retag(
    wheel: Path,
    out_dir: Path,
    *,
    tags: str | None = None,
    suffix: tuple[str, str] | None = None,
    rename: dict[str, str] | None = None,
) -> Path:
    name, version = wheel.name.split("-")[:2]
    new_tags = tags or "-".join(wheel.name[: -len(".whl")].split("-")[-3:])
    target = out_dir / f"{name}-{version}-{new_tags}.whl"
    out_dir.mkdir(parents=True, exist_ok=True)
    moves = dict(rename or {})
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            member = moves.get(info.filename, info.filename)
            if suffix and member.endswith(suffix[0]):
                member = member[: -len(suffix[0])] + suffix[1]
            if member.endswith(".dist-info/WHEEL") and tags:
                py, abi, plat = tags.split("-")
                lines = [ln for ln in data.decode().splitlines() if not ln.startswith("Tag:")]
                lines += [
                    f"Tag: {p}-{a}-{q}"
                    for p in py.split(".")
                    for a in abi.split(".")
                    for q in plat.split(".")
                ]
                data = ("\n".join(lines) + "\n").encode()
            dst.writestr(member, data)
    return target


def module_of(wheel: Path) -> str:
    """The one extension module's member name."""
    with zipfile.ZipFile(wheel) as zf:
        [found] = [n for n in zf.namelist() if n.endswith((".so", ".pyd"))]
    return found
