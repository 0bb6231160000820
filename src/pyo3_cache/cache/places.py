"""Where things are: this machine's folders behind each anchor, and a store spec.

``open_store`` turns ``dir:PATH`` / ``s3://BUCKET/PREFIX`` into a store; a
spec that names no known store is the only store error that is fatal.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.dir_store import DirStore
from pyo3_cache.cache.s3_store import S3Store
from pyo3_cache.cache.store import Store
from pyo3_cache.errors import StoreError


def open_store(spec: str, endpoint_url: str | None = None) -> Store:
    """``dir:PATH`` or ``s3://BUCKET/PREFIX``. Raises ``StoreError`` for anything else."""
    if spec.startswith("dir:"):
        path = spec[len("dir:") :]
        if not path:
            raise StoreError("store 'dir:' needs a path, e.g. dir:.cache/pyo3-cache")
        return DirStore(Path(path).expanduser())
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise StoreError(f"store {spec!r} names no bucket; use s3://BUCKET/PREFIX")
        return S3Store(bucket, prefix, endpoint_url=endpoint_url)
    scheme = spec.split(":", 1)[0] if ":" in spec else spec
    raise StoreError(
        f"unknown cache store {scheme!r} in {spec!r}; use dir:PATH or s3://BUCKET/PREFIX"
    )


# rust-cache's default set: the target dir, the registry index and .crate
# files, git databases. registry/src is left out: cargo re-extracts it from
# the .crate files, and registry crates are fresh by version, not by mtime.
DEFAULT_CARGO_HOME_PATHS = ("registry/index", "registry/cache", "git/db")


@dataclass(frozen=True)
class Places:
    """This machine's folders behind each anchor."""

    target: Path
    cargo_home: Path
    workspace: Path

    def destinations(self) -> dict[str, Path]:
        return {"target": self.target, "cargo-home": self.cargo_home, "workspace": self.workspace}


def _under(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


def anchored_roots(
    places: Places, paths: Sequence[str | os.PathLike[str]] = ()
) -> list[ArchiveRoot]:
    """The default paths (or ``paths``), each named relative to its anchor.

    A path must lie in the target dir, ``CARGO_HOME`` or the workspace: those
    are the only places a restore on another machine can find again.
    """
    if not paths:
        roots = [ArchiveRoot("target", places.target)]
        roots += [
            ArchiveRoot(f"cargo-home/{sub}", places.cargo_home / sub)
            for sub in DEFAULT_CARGO_HOME_PATHS
        ]
        return roots
    roots = []
    for raw in paths:
        path = Path(os.path.abspath(os.fspath(raw)))
        for anchor, base in (
            ("target", places.target),
            ("cargo-home", places.cargo_home),
            ("workspace", places.workspace),
        ):
            rel = _under(path, Path(os.path.abspath(base)))
            if rel is not None:
                roots.append(ArchiveRoot(anchor if rel == "." else f"{anchor}/{rel}", path))
                break
        else:
            raise StoreError(
                f"--path {raw} is outside the target dir, CARGO_HOME and the workspace; "
                "only paths under those can be restored elsewhere"
            )
    return roots
