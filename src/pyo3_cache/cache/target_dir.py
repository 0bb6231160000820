"""Is this folder a cargo target dir? Only then do we save it, restore into it or prune it.

Cargo (1.95) makes a target dir with a ``CACHEDIR.TAG`` at its top (the
cache-directory-tag standard, https://bford.info/cachedir/), written when it
creates the folder; it never writes one into a folder that already existed.
So ``CARGO_TARGET_DIR=.`` (or a target dir pointed at a source tree) has no
tag: saving it archived the sources and ``.git/config``, restoring it put an
old ``src/lib.rs`` back, pruning it deleted a user's ``wheels/README.md``.

Cargo's default place, ``target/`` beside a ``Cargo.toml``, counts as cargo's
too: ``pyo3-cache pin`` (or maturin) may create it before cargo runs, and then
cargo never tags it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from pyo3_cache.project import CACHEDIR_TAG

SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def has_cachedir_tag(folder: Path) -> bool:
    try:
        with (folder / CACHEDIR_TAG).open("rb") as handle:
            return handle.read(len(SIGNATURE)) == SIGNATURE
    except OSError:
        return False


def _default_place(folder: Path) -> bool:
    """``<crate or workspace>/target``, holding no manifest or checkout of its own."""
    return (
        folder.name == "target"
        and (folder.parent / "Cargo.toml").is_file()
        and not any((folder / name).exists() for name in ("Cargo.toml", ".git", "src"))
    )


def is_cargo_target_dir(folder: Path) -> bool:
    """Tagged by cargo, or cargo's default place (see the module doc)."""
    here = Path(os.path.abspath(folder))
    return has_cachedir_tag(here) or _default_place(here)


def target_dir_problem(target: Path, workspace: Path | None = None) -> str | None:
    """Why ``target`` is not a target dir we may touch, or None.

    A folder that does not exist yet is fine (a restore makes it, with the
    tag the archive carries); the workspace itself or a folder above it never is.
    """
    here = Path(os.path.abspath(target))
    if workspace is not None:
        root = Path(os.path.abspath(workspace))
        if here == root or here in root.parents:
            return f"the target dir {target} is the workspace or holds it"
    if not here.exists() and not here.is_symlink():
        return None
    if not is_cargo_target_dir(here):
        return (
            f"the target dir {target} has no cargo {CACHEDIR_TAG} and is not a crate's "
            "target/, so cargo did not make it (is CARGO_TARGET_DIR a source folder?)"
        )
    return None


def read_unused(path: str | os.PathLike[str], limit: int = -1) -> bytes:
    """Read a file in the target dir without making it look used.

    ``prune`` tells the units the last build used from the rest by their hash
    files' access times (cargo reads a hash file to decide freshness); a read
    of ours, such as ``explain`` comparing a rebuilt unit with its older
    folders, would make a stale unit look just used and keep it in the cache.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        with os.fdopen(fd, "rb", closefd=False) as handle:
            data = handle.read(limit)
        times = (st.st_atime_ns, st.st_mtime_ns)
        # Not ours to change (a read-only tree): there is nothing to prune there either.
        with contextlib.suppress(OSError):
            os.utime(fd if os.utime in os.supports_fd else path, ns=times)
        return data
    finally:
        os.close(fd)
