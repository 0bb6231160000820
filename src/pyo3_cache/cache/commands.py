"""The ``save`` and ``restore`` commands, one call each (``wheel-cache``: wheel_cache.py).

Each ``*_command`` takes what the command line gave, finds the project's
folders and the branch the entry belongs to, runs the flow (``save.py``,
``restore.py``) and returns its result for the CLI to print.  What is said on
the way goes to ``warn`` and ``info`` as it happens (the CLI passes its log),
so a warning stands before a later error.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyo3_cache import project
from pyo3_cache.cache.places import Places, anchored_roots, locked_packages, open_store
from pyo3_cache.cache.restore import RestoreResult, restore_cache
from pyo3_cache.cache.save import SaveResult, save_cache
from pyo3_cache.cache.store import check_key, parse_size
from pyo3_cache.cache.target_dir import target_dir_problem
from pyo3_cache.errors import ManifestError, Pyo3CacheError

Say = Callable[[str], None]

RESTORED_KEY_MANIFEST = Path("pyo3-cache") / "restored-key-manifest.json"


@dataclass(frozen=True)
class StoreArgs:
    """What ``save`` and ``restore`` share (named as their flags): the store, the key and
    the project's folders."""

    store: str
    key: str
    path: Sequence[str] = ()
    """The folders the entry holds (default: the target dir and cargo's caches)."""
    endpoint_url: str | None = None
    manifest_path: str | None = None
    target_dir: str | None = None
    scope: str | None = None
    no_source_mtimes: bool = False


@dataclass(frozen=True)
class SaveArgs(StoreArgs):
    manifest: str | None = None
    """The key manifest (a JSON file) to store beside the archive."""
    max_size: str = "10G"


@dataclass(frozen=True)
class RestoreArgs(StoreArgs):
    restore_key: Sequence[str] = ()
    fallback_scope: Sequence[str] = ()
    manifest_out: str | None = None
    """Where the matched entry's key manifest goes (default: in the target dir)."""


def _git_branch(workspace: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "symbolic-ref", "-q", "HEAD"],
            cwd=workspace,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    ref = done.stdout.strip()
    return ref if done.returncode == 0 and ref else None


def job_scope(scope: str | None, workspace: Path, environ: Mapping[str, str] = os.environ) -> str:
    """The given scope, else ``$GITHUB_REF``, else the checkout's git branch, else default."""
    return scope or environ.get("GITHUB_REF") or _git_branch(workspace) or "default"


def fallback_scopes(
    given: Sequence[str],
    scope: str,
    *,
    scope_given: bool,
    environ: Mapping[str, str] = os.environ,
) -> list[str]:
    """``given`` in order; on a pull request, its base branch (as actions/cache)."""
    scopes = list(given)
    base = environ.get("GITHUB_BASE_REF")
    if not given and base and not scope_given:
        scopes.append(f"refs/heads/{base}")
    return [s for s in scopes if s != scope]


def find_places(manifest_path: str | None, target_dir: str | None) -> Places:
    """The project's folders: its target dir (or ``target_dir``), cargo home, workspace."""
    manifest = project.find_manifest(manifest_path)
    root = project.find_workspace_root(manifest)
    target = Path(target_dir).resolve() if target_dir else project.target_dir(root)
    return Places(target=target, cargo_home=project.cargo_home().resolve(), workspace=root)


def _read_key_manifest(path: str) -> bytes:
    try:
        data = Path(path).read_bytes()
        json.loads(data)
    except OSError as exc:
        raise ManifestError(f"cannot read key manifest {path}: {exc.strerror}") from None
    except (ValueError, RecursionError):
        raise ManifestError(f"key manifest {path} is not JSON") from None
    return data


def _record_source_mtimes(places: Places, warn: Say) -> None:
    """Keep the workspace files' mtimes with the cache (see mtimes.py); never fatal."""
    from pyo3_cache.cache.mtimes import RECORD_IN_TARGET, record_source_mtimes

    try:
        record_source_mtimes(
            places.workspace, places.target / RECORD_IN_TARGET, skip=(places.target,)
        )
    except (Pyo3CacheError, OSError) as exc:
        warn(f"source mtimes not recorded: {exc}")


def _restore_source_mtimes(places: Places, info: Say) -> None:
    from pyo3_cache.cache.mtimes import RECORD_IN_TARGET, restore_source_mtimes

    record = places.target / RECORD_IN_TARGET
    if record.is_file():
        stats = restore_source_mtimes(places.workspace, record)
        info(
            f"source mtimes: {stats.restored} unchanged files got their cached mtime back, "
            f"{stats.changed} changed files kept theirs"
        )


def save_command(args: SaveArgs, *, warn: Say) -> SaveResult:
    """``pyo3-cache save``: archive the project's cached folders into the store as the key.

    A malformed store, key or size and an unreadable key manifest raise;
    trouble writing the store is a warning in the result.
    """
    check_key(args.key)
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    max_bytes = parse_size(args.max_size)
    key_manifest = _read_key_manifest(args.manifest) if args.manifest else None
    places = find_places(args.manifest_path, args.target_dir)
    roots = anchored_roots(places, args.path, locked=locked_packages(places.workspace))
    tagged = target_dir_problem(places.target, places.workspace) is None
    if not args.no_source_mtimes and tagged and any(r.anchor == "target" for r in roots):
        _record_source_mtimes(places, warn)
    scope = job_scope(args.scope, places.workspace)
    result = save_cache(store, args.key, roots, key_manifest, max_bytes=max_bytes, scope=scope)
    for warning in result.warnings:
        warn(warning)
    return result


def restore_command(args: RestoreArgs, *, warn: Say, info: Say) -> RestoreResult:
    """``pyo3-cache restore``: the best entry for the key, unpacked into the project's folders.

    A malformed store or key raises; trouble reaching or reading the store is
    a warning and a miss.  On a hit, unchanged workspace files get their
    recorded mtimes back (unless ``no_source_mtimes``).
    """
    check_key(args.key)
    for prefix in args.restore_key:
        check_key(prefix, "restore key")
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    places = find_places(args.manifest_path, args.target_dir)
    out = Path(args.manifest_out) if args.manifest_out else places.target / RESTORED_KEY_MANIFEST
    roots = anchored_roots(places, args.path)
    scope = job_scope(args.scope, places.workspace)
    result = restore_cache(
        store,
        args.key,
        places,
        args.restore_key,
        out,
        roots=roots,
        scope=scope,
        fallback_scopes=fallback_scopes(args.fallback_scope, scope, scope_given=bool(args.scope)),
    )
    for warning in result.warnings:
        warn(warning)
    if result.hit and not args.no_source_mtimes:
        _restore_source_mtimes(places, info)
    return result
