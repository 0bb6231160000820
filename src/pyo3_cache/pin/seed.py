"""A secondary interpreter's first target dir starts as a copy of the primary one's.

Each interpreter other than the primary builds in a target dir of its own
(``target/pyo3-cache/targets/<interpreter>/``: cargo keeps one fingerprint per
unit, so interpreters sharing one flip the PyO3 chain on every build). Made
empty, that dir would compile every crate again, also the ones that never see
PyO3's config (syn, proc-macro2, …): ``maturin build -i 3.11 -i 3.12``
compiled 28 crates cold against rust-cache's 17 (docs/benchmarks.md). So the
first call routed there gets a copy of the primary target dir's profile
folders: cargo finds the units that do not depend on the config fresh
(cargo rewrites a moved build script's out-dir paths itself, via its
``root-output`` record) and rebuilds only the PyO3 chain.

A copy, never hard links: cargo rewrites fingerprint files in place, which
would change the primary's through a shared inode. Made in a temp folder
beside the destination and renamed into place, so a parallel call or a killed
one never leaves half a target dir; any trouble leaves the dir to cargo.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

CACHEDIR_TAG = "CACHEDIR.TAG"
TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by pyo3-cache for cargo's builds.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
# What is not copied: our own folder (it holds the secondary dirs themselves),
# maturin's and cargo's outputs nobody reads back, and incremental state.
_SKIPPED_TOP = {"pyo3-cache", "maturin", "wheels", "doc", "package", "tmp"}


def _profiles(target: Path) -> list[Path]:
    """``target/<profile>`` and ``target/<triple>/<profile>``, as cargo writes them."""
    found = []
    for child in sorted(target.iterdir()):
        if child.name in _SKIPPED_TOP or not child.is_dir() or child.is_symlink():
            continue
        if (child / ".fingerprint").is_dir():
            found.append(child)
            continue
        found += [g for g in sorted(child.iterdir()) if (g / ".fingerprint").is_dir()]
    return found


def _skip_incremental(profile: Path) -> Callable[[str, list[str]], set[str]]:
    """copytree's ``ignore``: the profile's ``incremental/`` (rustc's, never read in CI)."""

    def skip(folder: str, names: list[str]) -> set[str]:
        return {"incremental"} & set(names) if Path(folder) == profile else set()

    return skip


def seed_target_dir(primary: Path, secondary: Path) -> int:
    """Copy ``primary``'s profile folders into a new ``secondary``; the files copied (0: none).

    Only when ``secondary`` does not exist yet and cargo has built into
    ``primary`` (a profile folder with ``.fingerprint``). Raises nothing: a
    failed copy is discarded and cargo builds as it would have.
    """
    if secondary.exists() or secondary.is_symlink():
        return 0
    if primary.is_symlink() or not primary.is_dir():
        return 0
    try:
        profiles = _profiles(primary)
    except OSError:
        return 0
    if not profiles:  # nothing cargo built there yet
        return 0
    copied = 0
    try:
        secondary.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{secondary.name}.seed-", dir=secondary.parent))
    except OSError:
        return 0
    try:
        # cargo tags only a target dir it creates itself; this one we create
        (work / CACHEDIR_TAG).write_text(TAG_TEXT, encoding="utf-8")
        for profile in profiles:
            dest = work / profile.relative_to(primary)
            shutil.copytree(profile, dest, symlinks=True, ignore=_skip_incremental(profile))
            copied += sum(len(files) for _, _, files in os.walk(dest))
        os.rename(work, secondary)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        return 0
    return copied
