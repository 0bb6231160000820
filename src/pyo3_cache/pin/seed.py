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

from pyo3_cache.project import find_profile_dirs, write_cargo_cachedir_tag


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
        profiles = find_profile_dirs(primary)
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
        write_cargo_cachedir_tag(work)

        def copy(source: str, dest: str) -> None:
            nonlocal copied
            shutil.copy2(source, dest)
            copied += 1

        for profile in profiles:
            dest = work / profile.relative_to(primary)
            shutil.copytree(
                profile, dest, symlinks=True, ignore=_skip_incremental(profile), copy_function=copy
            )
        os.rename(work, secondary)
    except OSError:
        shutil.rmtree(work, ignore_errors=True)
        return 0
    return copied
