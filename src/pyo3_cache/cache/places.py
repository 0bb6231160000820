"""Where things are: this machine's folders behind each anchor, and a store spec.

``open_store`` turns ``dir:PATH`` / ``s3://BUCKET/PREFIX`` into a store; a
spec that names no known store is the only store error that is fatal.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.store import Store
from pyo3_cache.errors import ProjectError, StoreError
from pyo3_cache.project import read_lockfile


def open_store(spec: str, endpoint_url: str | None = None) -> Store:
    """``dir:PATH`` or ``s3://BUCKET/PREFIX``. Raises ``StoreError`` for anything else."""
    # Each store's module only when asked for: the action's steps import this
    # module for the entry's folders and open no store of these two kinds.
    if spec.startswith("dir:"):
        from pyo3_cache.cache.dir_store import DirStore

        path = spec[len("dir:") :]
        if not path:
            raise StoreError("store 'dir:' needs a path, e.g. dir:.cache/pyo3-cache")
        return DirStore(Path(path).expanduser())
    if spec.startswith("s3://"):
        bucket, _, prefix = spec[len("s3://") :].partition("/")
        if not bucket:
            raise StoreError(f"store {spec!r} names no bucket; use s3://BUCKET/PREFIX")
        from pyo3_cache.cache.s3_store import S3Store

        return S3Store(bucket, prefix, endpoint_url=endpoint_url)
    scheme = spec.split(":", 1)[0] if ":" in spec else spec
    raise StoreError(
        f"unknown cache store {scheme!r} in {spec!r}; use dir:PATH or s3://BUCKET/PREFIX"
    )


# rust-cache's default set: the target dir, the registry index and .crate
# files, git databases. registry/src is left out: cargo re-extracts it from
# the .crate files, and registry crates are fresh by version, not by mtime.
# It does so for every locked package a `cargo metadata` reads, before any
# build (jiter: 131 packages, 2.3-2.6 s of a warm job), but keeping the
# sources cost more (docs/benchmarks.md, Runs 9 and 10b): their unpack is
# bound by the disk, not by our archiver (jiter's entry: 2.5-3.3 s instead of
# 0.5 s in a job, 130 MB more written, even with an unpack as fast as tar's),
# and every saving job packs them again.
DEFAULT_CARGO_HOME_PATHS = ("registry/index", "registry/cache", "git/db")


@dataclass(frozen=True)
class Places:
    """This machine's folders behind each anchor."""

    target: Path
    cargo_home: Path
    workspace: Path


def _under(path: Path, root: Path) -> str | None:
    try:
        rel = path.relative_to(root)
    except ValueError:
        return None
    return rel.as_posix()


_NEVER = (".git", ".cargo")


def _refuse(raw: object, why: str) -> StoreError:
    return StoreError(f"--path {raw} {why}; only build outputs and cargo's caches are cached")


def _check_root(raw: object, anchor: str, path: Path) -> None:
    """The folders an entry may ever write: never sources, ``.git``, ``.cargo`` or cargo's bin."""
    head, _, rel = anchor.partition("/")
    parts = rel.split("/") if rel else []
    if head == "cargo-home" and (not parts or parts[0] not in ("registry", "git")):
        raise _refuse(raw, "is in CARGO_HOME outside its registry/ and git/ caches")
    if head == "workspace":
        if not parts:
            raise _refuse(raw, "is the workspace itself")
        if any(part in _NEVER for part in parts):
            raise _refuse(raw, "is in .git or .cargo")
        if any((path / name).exists() for name in ("Cargo.toml", *_NEVER)):
            raise _refuse(raw, "holds a Cargo.toml, .git or .cargo (sources)")


def locked_packages(workspace: Path) -> set[tuple[str, str]] | None:
    """Cargo.lock's (name, version) pairs, so a shared CARGO_HOME's other crates stay out."""
    try:
        packages = read_lockfile(workspace / "Cargo.lock")
    except ProjectError:
        return None
    return {(p.name, p.version) for p in packages}


def _locked_filter(sub: str, locked: Collection[tuple[str, str]]) -> ArchiveRoot | None:
    """rust-cache's rule, as a filter on what we archive (a shared CARGO_HOME is never
    changed): of the registry, only the locked packages' ``.crate`` files and index entries.

    ``registry/cache/<registry>/<name>-<version>.crate``; the sparse index keeps
    one file per crate name at ``registry/index/<registry>/.cache/**/<name>``
    (lower case, cargo 1.95); the index's ``config.json`` and a git index stay.
    """
    if sub == "registry/cache":
        crates = {f"{name}-{version}.crate" for name, version in locked}
        return ArchiveRoot("", Path(), lambda rel: rel.rsplit("/", 1)[-1] in crates, ".crate files")
    if sub == "registry/index":
        names = {name.lower() for name, _version in locked}

        def keep(rel: str) -> bool:
            parts = rel.split("/")
            return len(parts) < 3 or parts[1] != ".cache" or parts[-1] in names

        return ArchiveRoot("", Path(), keep, "index files")
    return None


def _with_filter(root: ArchiveRoot, locked: Collection[tuple[str, str]] | None) -> ArchiveRoot:
    head, _, sub = root.anchor.partition("/")
    found = _locked_filter(sub, locked) if locked is not None and head == "cargo-home" else None
    if found is None:
        return root
    return ArchiveRoot(root.anchor, root.path, found.keep, found.what)


def anchored_roots(
    places: Places,
    paths: Sequence[str | os.PathLike[str]] = (),
    locked: Collection[tuple[str, str]] | None = None,
) -> list[ArchiveRoot]:
    """The default paths (or ``paths``), each named relative to its anchor.

    A path must lie in the target dir, cargo's registry/git caches in
    ``CARGO_HOME``, or a workspace folder that holds no sources: those are
    the only places a restore on another machine can find again, and the only
    ones an entry may write (``StoreError`` otherwise). Paths may not nest.
    ``locked`` (Cargo.lock's name and version pairs): the registry's cache and
    index keep only those packages' files (see ``_locked_filter``).
    """
    return [_with_filter(root, locked) for root in _anchored(places, paths)]


def _anchored(places: Places, paths: Sequence[str | os.PathLike[str]]) -> list[ArchiveRoot]:
    if not paths:
        return [
            ArchiveRoot("target", places.target),
            *(
                ArchiveRoot(f"cargo-home/{sub}", places.cargo_home / sub)
                for sub in DEFAULT_CARGO_HOME_PATHS
            ),
        ]
    roots: list[ArchiveRoot] = []
    for raw in paths:
        path = Path(os.path.abspath(os.fspath(raw)))
        for anchor, base in (
            ("target", places.target),
            ("cargo-home", places.cargo_home),
            ("workspace", places.workspace),
        ):
            rel = _under(path, Path(os.path.abspath(base)))
            if rel is not None:
                root = ArchiveRoot(anchor if rel == "." else f"{anchor}/{rel}", path)
                _check_root(raw, root.anchor, path)
                break
        else:
            raise StoreError(
                f"--path {raw} is outside the target dir, CARGO_HOME and the workspace; "
                "only paths under those can be restored elsewhere"
            )
        for other in roots:
            if other.path == path or other.path in path.parents or path in other.path.parents:
                raise _refuse(raw, f"overlaps --path {other.path}")
        roots.append(root)
    return roots
