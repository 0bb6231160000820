"""``prune``, ``save``, ``restore`` and ``wheel-cache``: the target dir and wheels in a store."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyo3_cache.cli.common import Parser, add_format_flag, print_json
from pyo3_cache.cli.key import add_wheel_build_flags
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log

if TYPE_CHECKING:
    from pyo3_cache.keys.cargo_inputs import CargoInputs


def add_prune(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "prune",
        help="drop from the target dir what the next build will not use",
        description=(
            "Keep every unit the last build used (fresh or rebuilt), build-script outputs, "
            "target/maturin and our pinned PyO3 config; remove units of versions no longer "
            "locked, stale workspace units, incremental/ and target/wheels."
        ),
    )
    p.add_argument("--target-dir", metavar="DIR", help="target dir (default: the project's)")
    p.add_argument("--dry-run", action="store_true", help="report, remove nothing")
    add_format_flag(p, "what was found and removed")
    p.set_defaults(handler=_cmd_prune)


def _cmd_prune(args: argparse.Namespace) -> int:
    from pyo3_cache import project
    from pyo3_cache.cache.prune import prune_target, render_text, workspace_members
    from pyo3_cache.errors import ProjectError

    members = None
    try:
        root = project.find_workspace_root(project.find_manifest(None))
    except ProjectError:
        if not args.target_dir:
            raise
    else:
        members = workspace_members(root / "Cargo.lock")
    target = Path(args.target_dir) if args.target_dir else project.target_dir(root)
    report = prune_target(target, dry_run=args.dry_run, members=members)
    if args.format == "json":
        print_json(report.to_json())
    else:
        print(render_text(report))
    return 0


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="STORE", help="dir:PATH or s3://BUCKET/PREFIX")
    p.add_argument(
        "--key", required=True, metavar="KEY", help="the entry's key, e.g. `pyo3-cache key`'s"
    )
    p.add_argument(
        "--endpoint-url", metavar="URL", help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL)"
    )
    p.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")
    p.add_argument("--target-dir", metavar="DIR", help="target dir (default: the project's)")
    p.add_argument(
        "--scope",
        metavar="REF",
        help="the branch or ref entries belong to (default: $GITHUB_REF, else the checkout's "
        "git branch, else 'default'); a restore sees only its scope and --fallback-scope",
    )
    p.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PATH",
        help="a folder to cache (repeatable; default: the target dir and cargo's "
        "registry/index, registry/cache, git/db); restore with the save's list",
    )
    add_format_flag(p, "what was restored or saved, and why")


def _git_branch(workspace: Path) -> str | None:
    import subprocess

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


def _scope(args: argparse.Namespace, workspace: Path) -> str:
    import os

    return args.scope or os.environ.get("GITHUB_REF") or _git_branch(workspace) or "default"


def _fallback_scopes(args: argparse.Namespace, scope: str) -> list[str]:
    """``--fallback-scope`` in order; on a pull request, its base branch (as actions/cache)."""
    import os

    scopes = list(args.fallback_scope)
    base = os.environ.get("GITHUB_BASE_REF")
    if not args.fallback_scope and base and not args.scope:
        scopes.append(f"refs/heads/{base}")
    return [s for s in scopes if s != scope]


def _places(args: argparse.Namespace) -> Any:
    from pyo3_cache import project
    from pyo3_cache.cache.places import Places

    manifest = project.find_manifest(args.manifest_path)
    root = project.find_workspace_root(manifest)
    target = Path(args.target_dir).resolve() if args.target_dir else project.target_dir(root)
    return Places(target=target, cargo_home=project.cargo_home().resolve(), workspace=root)


def _record_source_mtimes(places: Any) -> None:
    """Keep the workspace files' mtimes with the cache (see mtimes.py); never fatal."""
    from pyo3_cache.cache.mtimes import RECORD_IN_TARGET, record_source_mtimes

    try:
        record_source_mtimes(
            places.workspace, places.target / RECORD_IN_TARGET, skip=(places.target,)
        )
    except (Pyo3CacheError, OSError) as exc:
        log.warn(f"source mtimes not recorded: {exc}")


def _restore_source_mtimes(places: Any) -> None:
    from pyo3_cache.cache.mtimes import RECORD_IN_TARGET, restore_source_mtimes

    record = places.target / RECORD_IN_TARGET
    if record.is_file():
        stats = restore_source_mtimes(places.workspace, record)
        log.info(
            f"source mtimes: {stats.restored} unchanged files got their cached mtime back, "
            f"{stats.changed} changed files kept theirs"
        )


def add_save(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "save",
        help="archive the target dir and cargo caches into a store under KEY",
        description=(
            "Archive (tar + zstd) the target dir and $CARGO_HOME/registry/{index,cache} and "
            "git/db, or the given --path list, into STORE as KEY with the key manifest beside "
            "it. An existing KEY is not saved again. A malformed --store, --key or --max-size "
            "is a usage error, exit 9; an unreadable --manifest exits 7; once the store is "
            "open, trouble writing it is a warning, exit 0."
        ),
    )
    _store_flags(p)
    p.add_argument(
        "--manifest", metavar="FILE", help="key manifest (JSON) to store beside the archive"
    )
    p.add_argument(
        "--no-source-mtimes",
        action="store_true",
        help="do not record the workspace files' mtimes with the cache",
    )
    p.add_argument(
        "--max-size",
        metavar="SIZE",
        default="10G",
        help="dir: store cap, LRU eviction (default 10G)",
    )
    p.set_defaults(handler=_cmd_save)


def _cmd_save(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.places import anchored_roots, locked_packages, open_store
    from pyo3_cache.cache.save import save_cache
    from pyo3_cache.cache.store import check_key, parse_size
    from pyo3_cache.cache.target_dir import target_dir_problem
    from pyo3_cache.errors import ManifestError

    check_key(args.key)
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    max_bytes = parse_size(args.max_size)
    key_manifest = None
    if args.manifest:
        try:
            key_manifest = Path(args.manifest).read_bytes()
            json.loads(key_manifest)
        except OSError as exc:
            raise ManifestError(
                f"cannot read key manifest {args.manifest}: {exc.strerror}"
            ) from None
        except (ValueError, RecursionError):
            raise ManifestError(f"key manifest {args.manifest} is not JSON") from None
    places = _places(args)
    roots = anchored_roots(places, args.path, locked=locked_packages(places.workspace))
    tagged = target_dir_problem(places.target, places.workspace) is None
    if not args.no_source_mtimes and tagged and any(r.anchor == "target" for r in roots):
        _record_source_mtimes(places)
    scope = _scope(args, places.workspace)
    result = save_cache(store, args.key, roots, key_manifest, max_bytes=max_bytes, scope=scope)
    for warning in result.warnings:
        log.warn(warning)
    if args.format == "json":
        print_json(result.to_json())
    elif result.saved:
        print(f"saved {result.key} to {result.store}: {result.archive_bytes} bytes")
        for line in result.kept:
            print(f"  kept {line} (the Cargo.lock's packages)")
    else:
        print(f"not saved ({result.reason}): {result.key}")
    return 0


def add_restore(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "restore",
        help="restore the entry for KEY (or the newest RESTORE-KEY prefix match) from a store",
        description=(
            "Restore KEY, else the newest entry whose key starts with each --restore-key in "
            "turn. The archive's sha256 is checked; a corrupt or unsafe entry is reported, "
            "skipped and counts as a miss. A malformed --store, --key or --restore-key is a "
            "usage error, exit 9; once the store is open, trouble reaching or reading it "
            "(unreachable, no boto3, a corrupt entry) is a warning and a miss, exit 0."
        ),
    )
    _store_flags(p)
    p.add_argument(
        "--restore-key",
        action="append",
        default=[],
        metavar="PREFIX",
        help="fallback key prefix (repeatable, in order)",
    )
    p.add_argument(
        "--fallback-scope",
        action="append",
        default=[],
        metavar="REF",
        help="a scope to search after --scope, e.g. refs/heads/main (repeatable; default on a "
        "pull request: its base branch)",
    )
    p.add_argument(
        "--manifest-out",
        metavar="FILE",
        help="where to write the matched entry's key manifest "
        "(default: <target dir>/pyo3-cache/restored-key-manifest.json)",
    )
    p.add_argument(
        "--no-source-mtimes",
        action="store_true",
        help="leave the workspace files' mtimes as the checkout made them",
    )
    p.set_defaults(handler=_cmd_restore)


def _cmd_restore(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.places import anchored_roots, open_store
    from pyo3_cache.cache.restore import restore_cache
    from pyo3_cache.cache.store import check_key

    check_key(args.key)
    for prefix in args.restore_key:
        check_key(prefix, "restore key")
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    places = _places(args)
    manifest_out = (
        Path(args.manifest_out)
        if args.manifest_out
        else places.target / "pyo3-cache" / "restored-key-manifest.json"
    )
    roots = anchored_roots(places, args.path)
    scope = _scope(args, places.workspace)
    result = restore_cache(
        store,
        args.key,
        places,
        args.restore_key,
        manifest_out,
        roots=roots,
        scope=scope,
        fallback_scopes=_fallback_scopes(args, scope),
    )
    for warning in result.warnings:
        log.warn(warning)
    if result.hit and not args.no_source_mtimes:
        _restore_source_mtimes(places)
    if args.format == "json":
        print_json(result.to_json())
    elif result.hit:
        kind = "exact hit" if result.exact else "partial hit"
        print(f"{kind}: restored {result.matched_key} from {result.store}")
    else:
        print(f"cache miss: {result.key}")
    return 0


_WHEEL_OPS = {
    "restore": (
        "restore the wheels into --dist",
        "Copy the wheels saved under the wheel key into --dist (exact key only, sha256 "
        "checked). A miss, or store trouble (a warning), exits 0, or 1 with --fail-on-miss; "
        "a malformed --store or --key is a usage error, exit 9.",
    ),
    "save": (
        "save --dist's wheels",
        "Save --dist/*.whl, with the wheel key's manifest, under the wheel key. An existing "
        "key is not saved again. Store trouble is a warning, exit 0; a malformed --store or "
        "--key is a usage error, exit 9.",
    ),
}


def add_wheel_cache(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "wheel-cache",
        help="restore or save built wheels under the wheel key, in a store",
        description=(
            "Keep dist/*.whl in a store (dir:PATH or s3://BUCKET/PREFIX) under the wheel key, "
            "which covers only the wheel build's inputs (see `key --for wheel`): a change to "
            "tests or docs restores the wheel and the build can be skipped. Exact key only. "
            "Store trouble is a warning and a miss; exit 0 unless --fail-on-miss."
        ),
    )
    ops = p.add_subparsers(dest="op", metavar="OP", parser_class=Parser, required=True)
    for op in ("restore", "save"):
        q = ops.add_parser(op, help=_WHEEL_OPS[op][0], description=_WHEEL_OPS[op][1])
        q.add_argument(
            "--store", required=True, metavar="STORE", help="dir:PATH or s3://BUCKET/PREFIX"
        )
        q.add_argument("--dist", metavar="DIR", default="dist", help="the wheels' folder (dist)")
        q.add_argument("--key", metavar="KEY", help="the key (default: compute the wheel key)")
        q.add_argument(
            "--endpoint-url",
            metavar="URL",
            help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL)",
        )
        q.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")
        q.add_argument("--prefix-key", metavar="S", default="v1-pyo3", help="first part of the key")
        q.add_argument("--extra-key", metavar="S", help="added to the key, e.g. a matrix value")
        q.add_argument("--python", metavar="PATH", help="interpreter the wheel is built for")
        q.add_argument(
            "--scope",
            metavar="REF",
            help="the branch or ref the wheels belong to (default: $GITHUB_REF, else the "
            "checkout's git branch, else 'default'); a restore sees only its scope and "
            "--fallback-scope",
        )
        if op == "restore":
            q.add_argument(
                "--fallback-scope",
                action="append",
                default=[],
                metavar="REF",
                help="a scope to search after --scope, e.g. refs/heads/main (repeatable; "
                "default on a pull request: its base branch)",
            )
        add_wheel_build_flags(q)
        add_format_flag(q, "the key, the store and the wheels")
        if op == "restore":
            q.add_argument(
                "--fail-on-miss",
                action="store_true",
                help="exit 1 on a miss, e.g. `wheel-cache restore ... || maturin build ...`",
            )
        q.set_defaults(handler=_cmd_wheel_cache)


def _cmd_wheel_cache(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.places import open_store
    from pyo3_cache.cache.store import check_key
    from pyo3_cache.cache.wheel_cache import (
        WheelCacheResult,
        restore_wheels,
        save_wheels,
        wheel_cargo_inputs,
    )
    from pyo3_cache.keys.wheel import WheelInputs, compute_wheel_key

    manifest_bytes = None
    inputs: WheelInputs | None = None
    if args.key:
        key = check_key(args.key)
    else:
        inputs = WheelInputs()
        manifest = compute_wheel_key(
            args.manifest_path,
            prefix_key=args.prefix_key,
            extra_key=args.extra_key,
            python=args.python,
            target=args.target,
            profile=args.profile,
            features=args.features,
            inputs_out=inputs,
        )
        for warning in manifest.warnings:
            log.warn(warning)
        key = manifest.key
        manifest_bytes = json.dumps(manifest.to_json(), indent=2).encode("utf-8")
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    dist = Path(args.dist)
    project = Path(args.manifest_path).parent if args.manifest_path else Path.cwd()
    scope = _scope(args, project)
    if args.op == "restore":
        check = None
        if inputs is not None:
            known = inputs

            def check(saved: CargoInputs) -> list[str]:
                return known.check_cargo_inputs(saved, os.environ)

        result = restore_wheels(
            store, key, dist, check, scope=scope, fallback_scopes=_fallback_scopes(args, scope)
        )
    elif inputs is None:
        result = save_wheels(store, key, dist, manifest_bytes, scope=scope)
    else:
        cargo_inputs, problem = wheel_cargo_inputs(inputs, os.environ, dist)
        if cargo_inputs is None:
            result = WheelCacheResult("save", key, store.spec, str(dist), reason="no dep-info")
            result.warnings.append(f"wheels not saved: {problem}")
        else:
            result = save_wheels(store, key, dist, manifest_bytes, cargo_inputs, scope=scope)
    for warning in result.warnings:
        log.warn(warning)
    if args.format == "json":
        print_json(result.to_json())
    else:
        print(result.line())
    if args.op == "restore" and args.fail_on_miss and not result.hit:
        return 1
    return 0
