"""Is this folder a cargo target dir? Only then do we save it, restore into it or prune it.

Cargo (1.95) makes a target dir with a ``CACHEDIR.TAG`` at its top (the
cache-directory-tag standard, https://bford.info/cachedir/), written when it
creates the folder; it never writes one into a folder that already existed.
So ``CARGO_TARGET_DIR=.`` (or a target dir pointed at a source tree) has no
tag: saving it archived the sources and ``.git/config``, restoring it put an
old ``src/lib.rs`` back, pruning it deleted a user's ``wheels/README.md``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHEDIR_TAG = "CACHEDIR.TAG"
SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def has_cachedir_tag(folder: Path) -> bool:
    try:
        with (folder / CACHEDIR_TAG).open("rb") as handle:
            return handle.read(len(SIGNATURE)) == SIGNATURE
    except OSError:
        return False


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
    if not has_cachedir_tag(here):
        return (
            f"the target dir {target} has no cargo {CACHEDIR_TAG}, so cargo did not make it "
            "(is CARGO_TARGET_DIR a source folder?)"
        )
    return None
