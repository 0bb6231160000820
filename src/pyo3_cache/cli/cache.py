"""``prune``, ``save``, ``restore`` and ``wheel-cache``: the target dir and wheels in a store."""

from __future__ import annotations

import argparse

from pyo3_cache.cli.common import Parser, add_format_flag, options, print_result
from pyo3_cache.cli.key import add_wheel_build_flags
from pyo3_cache.github import log


def add_prune(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "prune",
        handler=_cmd_prune,
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


def _cmd_prune(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.prune import prune_command, render_text

    report = prune_command(args.target_dir, dry_run=args.dry_run)
    print_result(report, render_text(report), args.format)
    return 0


def _store_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="STORE", help="dir:PATH or s3://BUCKET/PREFIX")


def _endpoint_and_manifest_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--endpoint-url", metavar="URL", help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL)"
    )
    p.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")


def _scope_flag(p: argparse.ArgumentParser, whose: str) -> None:
    p.add_argument(
        "--scope",
        metavar="REF",
        help=f"the branch or ref {whose} belong to (default: $GITHUB_REF, else the checkout's "
        "git branch, else 'default'); a restore sees only its scope and --fallback-scope",
    )


def _fallback_scope_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--fallback-scope",
        action="append",
        default=[],
        metavar="REF",
        help="a scope to search after --scope, e.g. refs/heads/main (repeatable; default on a "
        "pull request: its base branch)",
    )


def _store_flags(p: argparse.ArgumentParser) -> None:
    _store_flag(p)
    p.add_argument(
        "--key", required=True, metavar="KEY", help="the entry's key, e.g. `pyo3-cache key`'s"
    )
    _endpoint_and_manifest_flags(p)
    p.add_argument("--target-dir", metavar="DIR", help="target dir (default: the project's)")
    _scope_flag(p, "entries")
    p.add_argument(
        "--path",
        action="append",
        default=[],
        metavar="PATH",
        help="a folder to cache (repeatable; default: the target dir and cargo's "
        "registry/index, registry/cache, git/db); restore with the save's list",
    )
    add_format_flag(p, "what was restored or saved, and why")


def add_save(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "save",
        handler=_cmd_save,
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


def _cmd_save(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.commands import SaveArgs, save_command

    result = save_command(options(SaveArgs, args), warn=log.warn)
    print_result(result, result.text(), args.format)
    return 0


def add_restore(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "restore",
        handler=_cmd_restore,
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
    _fallback_scope_flag(p)
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


def _cmd_restore(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.commands import RestoreArgs, restore_command

    result = restore_command(options(RestoreArgs, args), warn=log.warn, info=log.info)
    print_result(result, result.text(), args.format)
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
        q = ops.add_parser(
            op, handler=_cmd_wheel_cache, help=_WHEEL_OPS[op][0], description=_WHEEL_OPS[op][1]
        )
        _store_flag(q)
        q.add_argument("--dist", metavar="DIR", default="dist", help="the wheels' folder (dist)")
        q.add_argument("--key", metavar="KEY", help="the key (default: compute the wheel key)")
        _endpoint_and_manifest_flags(q)
        q.add_argument("--prefix-key", metavar="S", default="v1-pyo3", help="first part of the key")
        q.add_argument("--extra-key", metavar="S", help="added to the key, e.g. a matrix value")
        q.add_argument("--python", metavar="PATH", help="interpreter the wheel is built for")
        _scope_flag(q, "the wheels")
        if op == "restore":
            _fallback_scope_flag(q)
        add_wheel_build_flags(q)
        add_format_flag(q, "the key, the store and the wheels")
        if op == "restore":
            q.add_argument(
                "--fail-on-miss",
                action="store_true",
                help="exit 1 on a miss, e.g. `wheel-cache restore ... || maturin build ...`",
            )


def _cmd_wheel_cache(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.wheel_cache import WheelCacheArgs, wheel_cache_command

    result = wheel_cache_command(options(WheelCacheArgs, args), warn=log.warn)
    print_result(result, result.line(), args.format)
    return 1 if args.op == "restore" and args.fail_on_miss and not result.hit else 0
