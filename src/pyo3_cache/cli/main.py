"""The ``pyo3-cache`` command line: argument parsing and output only.

Each command is a pair: ``_add_<name>`` declares its flags, ``_cmd_<name>``
calls the library and prints.  Errors the library raises on purpose
(``Pyo3CacheError``) become one line on stderr and the class's exit code.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from pyo3_cache import __version__
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log

INTERNAL_ERROR_EXIT = 70


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a pointer to --help."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


# --- pin --------------------------------------------------------------------


def _add_pin(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "pin",
        help="write a pinned PyO3 config for a stable interpreter and export it",
        description=(
            "Resolve PyO3's interpreter config for a stable Python, write it as a "
            "content-addressed file with a pinned mtime, and print the PYO3_CONFIG_FILE "
            "and PYO3_PYTHON values to export, so warm PEP 517 builds compile nothing."
        ),
    )
    p.add_argument("--python", metavar="PATH", help="interpreter (default: python3 on PATH)")
    p.add_argument("--dir", metavar="DIR", help="where to write (default: <target dir>/pyo3-cache)")
    p.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")
    p.add_argument(
        "--pyo3-version", metavar="VERSION", help="PyO3 version (default: read from Cargo.lock)"
    )
    p.add_argument("--format", choices=("shell", "json"), default="shell")
    p.add_argument(
        "--github",
        action="store_true",
        help="append the variables to $GITHUB_ENV and config-file to $GITHUB_OUTPUT",
    )
    p.set_defaults(handler=_cmd_pin)


def _cmd_pin(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github
    from pyo3_cache.pin.pyo3_config import pin_pyo3_config

    result = pin_pyo3_config(
        args.python,
        directory=args.dir,
        manifest_path=args.manifest_path,
        pyo3_version=args.pyo3_version,
    )
    for warning in result.warnings:
        log.warn(warning)
    if args.github:
        github.append_env(result.env)
        github.append_output({"config-file": str(result.config_file)})
    if args.format == "json":
        _print_json(result.to_json())
    else:
        for name, value in result.env.items():
            print(f"export {name}={shlex.quote(value)}")
    return 0


# --- prune, save, restore (cache stores) -----------------------------------------


def _add_prune(sub: argparse._SubParsersAction[_Parser]) -> None:
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
    p.add_argument("--format", choices=("text", "json"), default="text")
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
        _print_json(report.to_json())
    else:
        print(render_text(report))
    return 0


def _store_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--store", required=True, metavar="STORE", help="dir:PATH or s3://BUCKET/PREFIX")
    p.add_argument("--key", required=True, metavar="KEY")
    p.add_argument(
        "--endpoint-url", metavar="URL", help="S3-compatible endpoint (default: $AWS_ENDPOINT_URL)"
    )
    p.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")
    p.add_argument("--target-dir", metavar="DIR", help="target dir (default: the project's)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def _places(args: argparse.Namespace) -> Any:
    from pyo3_cache import project
    from pyo3_cache.cache.store import Places

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


def _add_save(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "save",
        help="archive the target dir and cargo caches into a store under KEY",
        description=(
            "Archive (tar + zstd) the target dir and $CARGO_HOME/registry/{index,cache} and "
            "git/db, or the given --path list, into STORE as KEY with the key manifest beside "
            "it. An existing KEY is not saved again. Store trouble is a warning, never a failure."
        ),
    )
    _store_flags(p)
    p.add_argument(
        "--path", action="append", default=[], metavar="PATH", help="a folder to cache (repeatable)"
    )
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
    from pyo3_cache.cache.store import anchored_roots, check_key, open_store, parse_size, save_cache
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
    roots = anchored_roots(places, args.path)
    if not args.no_source_mtimes and any(r.anchor == "target" for r in roots):
        _record_source_mtimes(places)
    result = save_cache(store, args.key, roots, key_manifest, max_bytes=max_bytes)
    for warning in result.warnings:
        log.warn(warning)
    if args.format == "json":
        _print_json(result.to_json())
    elif result.saved:
        print(f"saved {result.key} to {result.store}: {result.archive_bytes} bytes")
    else:
        print(f"not saved ({result.reason}): {result.key}")
    return 0


def _add_restore(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "restore",
        help="restore the entry for KEY (or the newest RESTORE-KEY prefix match) from a store",
        description=(
            "Restore KEY, else the newest entry whose key starts with each --restore-key in "
            "turn. The archive's sha256 is checked; a corrupt or unsafe entry is reported, "
            "skipped and counts as a miss. Store trouble is a warning and a miss, exit 0."
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
    from pyo3_cache.cache.store import check_key, open_store, restore_cache

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
    result = restore_cache(store, args.key, places, args.restore_key, manifest_out)
    for warning in result.warnings:
        log.warn(warning)
    if result.hit and not args.no_source_mtimes:
        _restore_source_mtimes(places)
    if args.format == "json":
        _print_json(result.to_json())
    elif result.hit:
        kind = "exact hit" if result.exact else "partial hit"
        print(f"{kind}: restored {result.matched_key} from {result.store}")
    else:
        print(f"cache miss: {result.key}")
    return 0


# --- audit-bytecode ---------------------------------------------------------


def _python_tag_arg(text: str) -> str:
    from pyo3_cache.bytecode.magic_numbers import parse_python_tag

    if parse_python_tag(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no single interpreter (use e.g. cp311, cp314t, pp310, cpython-311)"
        )
    return text


def _add_audit_bytecode(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "audit-bytecode",
        help="check the .pyc files in wheels, sdists, conda packages and directories",
        description=(
            "Read every .pyc header (magic, flags, source mtime/size or hash) and report "
            "bytecode for another interpreter (foreign-tag), pre-release or wrong magic "
            "numbers (magic-mismatch), orphans, stale and unchecked-hash files. Exit 1 when "
            "an error finding is left."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="wheel, sdist, .conda, dir ...")
    p.add_argument(
        "--python-tag",
        metavar="TAG",
        type=_python_tag_arg,
        help="the interpreter the bytecode must be for (cp311, pp310, cpython-311, 3.11); "
        "default: from the wheel tag, conda metadata or lib/python3.X path",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--fix",
        action="store_true",
        help="delete offending .pyc files inside directories (archives are never edited)",
    )
    p.set_defaults(handler=_cmd_audit_bytecode)


def _cmd_audit_bytecode(args: argparse.Namespace) -> int:
    from pyo3_cache.bytecode.audit import audit_bytecode, render_json, render_text

    report = audit_bytecode(args.paths, python_tag=args.python_tag, fix=args.fix)
    for path in report.not_fixed:
        log.warn(f"--fix left {path} as it is: pyo3-cache never edits archives in place")
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    return report.exit_code


# --- explain, run, cargo-wrapper (recompile diagnostics) ----------------------


def _add_explain(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "explain",
        help="explain why cargo recompiled, from cargo logs",
        description=(
            "Read cargo logs (verbose human output, --message-format=json, CARGO_LOG "
            "fingerprint lines, GitHub's downloaded logs) and report which input changed, "
            "what it dragged along, how long it cost and what to do about it."
        ),
    )
    p.add_argument("logs", nargs="+", metavar="LOG", help="log files; - reads stdin")
    p.add_argument("--format", choices=("text", "markdown", "json"), default="text")
    p.add_argument("--output", metavar="FILE", help="write the report here instead of stdout")
    p.add_argument(
        "--summary",
        action="store_true",
        help="also append the Markdown report to the job summary ($GITHUB_STEP_SUMMARY)",
    )
    p.add_argument(
        "--comment",
        nargs="?",
        const="on-rebuild",
        choices=("on-rebuild", "always", "never"),
        help="also put the Markdown report in the PR's sticky comment "
        "(default when given: on-rebuild, only when something rebuilt)",
    )
    p.add_argument("--matrix", default="", help="the job's matrix values (toJSON(matrix))")
    p.set_defaults(handler=_cmd_explain)


def _write_report(text: str, output: str | None) -> None:
    from pyo3_cache.errors import OutputLocationError

    if output is None or output == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    try:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise OutputLocationError(f"cannot write {output}: {exc.strerror or exc}") from None


def _cmd_explain(args: argparse.Namespace) -> int:
    from pyo3_cache.explain.diagnostics import explain_recompiles
    from pyo3_cache.explain.render import render

    report = explain_recompiles(args.logs)
    _write_report(render(report, args.format), args.output)
    if args.summary or (args.comment and args.comment != "never"):
        _publish_report(report, render(report, "markdown"), args)
    return 0


def _publish_report(report: Any, markdown: str, args: argparse.Namespace) -> None:
    """--summary / --comment: GitHub trouble is a warning; the report was still printed."""
    from pyo3_cache.github import client as github

    if args.summary:
        try:
            github.append_summary(markdown)
        except Pyo3CacheError as exc:
            log.warn(f"the job summary was not written: {exc}")
    rebuilt = report.counts.get("rebuilt", 0) + report.counts.get("new", 0)
    if args.comment == "always" or (args.comment == "on-rebuild" and rebuilt):
        env = os.environ
        try:
            outcome = github.post_job_section(
                markdown,
                section_key=github.job_section_key(env, args.matrix),
                title=github.job_title(env.get("GITHUB_JOB", ""), args.matrix),
                env=env,
            )
            log.info(outcome.message)
        except Pyo3CacheError as exc:
            log.warn(f"the PR comment was not updated: {exc}")


def _add_run(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "run",
        help="run a build with verbose cargo output, keep a log, explain rebuilds",
        description=(
            "Run CMD with cargo's verbose status lines on (CARGO_TERM_VERBOSE=true), pass "
            "its output through, keep a log, and print why cargo recompiled at the end. "
            "A cargo wrapper first on PATH also captures cargo output that front-ends "
            "such as pip hide. The exit code is CMD's."
        ),
    )
    p.add_argument("--log", metavar="FILE", help="keep the output here (default: a temp file)")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="format of the explanation printed at the end (default: text, on stderr)",
    )
    p.add_argument("--output", metavar="FILE", help="write the explanation here instead")
    p.add_argument("--no-wrapper", action="store_true", help="do not put the cargo wrapper on PATH")
    p.add_argument(
        "--wrapper-dir",
        metavar="DIR",
        help="stable directory for the cargo wrapper (default: ~/.cache/pyo3-cache/cargo-wrapper)",
    )
    p.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ...")
    p.set_defaults(handler=_cmd_run)


def _cmd_run(args: argparse.Namespace) -> int:
    from pyo3_cache.explain.diagnostics import explain_recompiles
    from pyo3_cache.explain.render import render
    from pyo3_cache.explain.wrapper import run_with_log

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    result = run_with_log(
        command, log_path=args.log, wrapper_dir=args.wrapper_dir, use_wrapper=not args.no_wrapper
    )
    try:
        report = explain_recompiles([str(p) for p in result.logs_to_explain])
        text = render(report, args.format)
        if args.output:
            _write_report(text, args.output)
        else:
            sys.stderr.write(text)
        log.info(f"log kept in {result.log}")
    except Pyo3CacheError as exc:
        # The build's result matters more than our explanation of it.
        log.warn(f"could not explain the build: {exc}")
    except Exception as exc:  # our bug must not replace the build's exit code
        log.warn(f"could not explain the build: internal error ({type(exc).__name__}: {exc})")
    return result.exit_code


def _add_cargo_wrapper(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "cargo-wrapper",
        help="install the transparent cargo wrapper that logs cargo's stderr",
        description=(
            "Install a `cargo` script into a stable DIR. Put DIR first on PATH and set "
            "PYO3_CACHE_CARGO_LOG to a file: every cargo run then appends its verbose "
            "stderr there (stdout untouched), even when pip hides the build output."
        ),
    )
    p.add_argument(
        "--install",
        metavar="DIR",
        nargs="?",
        const="",
        required=True,
        help="directory (default: ~/.cache/pyo3-cache/cargo-wrapper)",
    )
    p.add_argument("--log", metavar="FILE", help="log file to export as PYO3_CACHE_CARGO_LOG")
    p.add_argument(
        "--github",
        action="store_true",
        help="add DIR to $GITHUB_PATH (and the log variable to $GITHUB_ENV)",
    )
    p.set_defaults(handler=_cmd_cargo_wrapper)


def _cmd_cargo_wrapper(args: argparse.Namespace) -> int:
    from pyo3_cache.explain.wrapper import WRAPPER_LOG_VARIABLE, install_cargo_wrapper
    from pyo3_cache.github import client as github

    script = install_cargo_wrapper(args.install or None)
    directory = str(script.parent)
    log_file = os.path.abspath(args.log) if args.log else None
    if args.github:
        github.append_path(directory)
        if log_file:
            github.append_env({WRAPPER_LOG_VARIABLE: log_file})
    print(f'export PATH={shlex.quote(directory)}:"$PATH"')
    if log_file:
        print(f"export {WRAPPER_LOG_VARIABLE}={shlex.quote(log_file)}")
    return 0


# --- action (the GitHub Action's steps) ---------------------------------------


def _add_action(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "action",
        help="the GitHub Action's steps (used by action.yml and save/action.yml)",
        description=(
            "Steps of the composite actions, run from action.yml and save/action.yml. "
            "They read the action's inputs from INPUT_* variables and never fail the job."
        ),
    )
    steps = p.add_subparsers(dest="step", metavar="STEP", parser_class=_Parser)
    paths = steps.add_parser(
        "paths", help="print (or output) the folders the cache entry holds, and the entry dir"
    )
    paths.add_argument("--cache-targets", default="true", help="cache the target dir (true/false)")
    paths.add_argument(
        "--github",
        action="store_true",
        help="write outputs `paths` (the entry dir actions/cache stores) and `contents`",
    )
    paths.set_defaults(handler=_cmd_action_paths)
    after = steps.add_parser("after-restore", help="pin, capture cargo output, explain a miss")
    after.set_defaults(handler=_cmd_action_after_restore)
    before = steps.add_parser("before-save", help="explain, summarize, comment, prune")
    before.set_defaults(handler=_cmd_action_before_save)
    _add_action_wheel_steps(steps)


def _cmd_action_paths(args: argparse.Namespace) -> int:
    from pyo3_cache.action.flow import _truthy, cache_paths, entry_dir
    from pyo3_cache.github import client as github

    paths = cache_paths(_truthy(args.cache_targets, default=True))
    entry = str(entry_dir(os.environ))
    if args.github:
        github.append_output({"paths": entry, "contents": "\n".join(paths)})
    print(f"entry dir (actions/cache path): {entry}")
    print("\n".join(paths))
    return 0


def _cmd_action_after_restore(args: argparse.Namespace) -> int:
    from pyo3_cache.action.flow import after_restore

    after_restore()
    return 0


def _cmd_action_before_save(args: argparse.Namespace) -> int:
    from pyo3_cache.action.flow import before_save

    before_save()
    return 0


def _add_action_wheel_steps(steps: argparse._SubParsersAction[_Parser]) -> None:
    for name, help_text in (
        ("wheel-key", "compute the wheel key (with wheel-cache: true) and locate dist/"),
        ("wheel-check", "after the wheel restore: set wheel-hit when wheels came back"),
        ("wheel-save", "decide whether to save dist/*.whl under the wheel key"),
        ("audit-dist", "audit the bytecode of the wheels in dist/ for the job summary"),
    ):
        step = steps.add_parser(name, help=help_text)
        step.set_defaults(handler=_cmd_action_wheel_step, wheel_step=name)


def _cmd_action_wheel_step(args: argparse.Namespace) -> int:
    from pyo3_cache.cache import wheel_cache

    run = {
        "wheel-key": wheel_cache.action_wheel_key,
        "wheel-check": wheel_cache.action_wheel_check,
        "wheel-save": wheel_cache.action_wheel_save,
        "audit-dist": wheel_cache.action_audit_dist,
    }[args.wheel_step]
    try:
        run()
    except Exception as exc:  # an action step of ours never fails the job
        log.warn(f"action {args.wheel_step} skipped: {exc}")
    return 0


# --- wheel-cache (the wheel cache off GitHub) ---------------------------------


def _add_wheel_cache(sub: argparse._SubParsersAction[_Parser]) -> None:
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
    ops = p.add_subparsers(dest="op", metavar="OP", parser_class=_Parser)
    for op in ("restore", "save"):
        q = ops.add_parser(
            op,
            help="restore the wheels into --dist" if op == "restore" else "save --dist's wheels",
        )
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
        _wheel_build_flags(q)
        q.add_argument("--format", choices=("text", "json"), default="text")
        if op == "restore":
            q.add_argument(
                "--fail-on-miss",
                action="store_true",
                help="exit 1 on a miss, e.g. `wheel-cache restore ... || maturin build ...`",
            )
        q.set_defaults(handler=_cmd_wheel_cache)


def _cmd_wheel_cache(args: argparse.Namespace) -> int:
    from pyo3_cache.cache.store import check_key, open_store
    from pyo3_cache.cache.wheel_cache import restore_wheels, save_wheels
    from pyo3_cache.keys.wheel import compute_wheel_key

    manifest_bytes = None
    if args.key:
        key = check_key(args.key)
    else:
        manifest = compute_wheel_key(
            args.manifest_path,
            prefix_key=args.prefix_key,
            extra_key=args.extra_key,
            python=args.python,
            target=args.target,
            profile=args.profile,
            features=args.features,
        )
        for warning in manifest.warnings:
            log.warn(warning)
        key = manifest.key
        manifest_bytes = json.dumps(manifest.to_json(), indent=2).encode("utf-8")
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    dist = Path(args.dist)
    if args.op == "restore":
        result = restore_wheels(store, key, dist)
    else:
        result = save_wheels(store, key, dist, manifest_bytes)
    for warning in result.warnings:
        log.warn(warning)
    if args.format == "json":
        _print_json(result.to_json())
    else:
        print(result.line())
    if args.op == "restore" and args.fail_on_miss and not result.hit:
        return 1
    return 0


# --- key / key-diff --------------------------------------------------------


def _add_key(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "key",
        help="compute the Rust build-cache key from named parts",
        description=(
            "Compute the cache key for the target dir and cargo's caches from named parts "
            "(prefix, toolchain, python, env, lock) and the restore keys, most specific first."
        ),
    )
    p.add_argument(
        "--for",
        dest="kind",
        choices=("rust", "venv", "wheel"),
        default="rust",
        help="rust: the target dir and cargo caches (default); venv: Python env/pip/uv caches; "
        "wheel: the built wheels, keyed on the wheel build's inputs only",
    )
    p.add_argument(
        "--manifest-path",
        metavar="PATH",
        help="the crate's Cargo.toml (--for venv: the project's pyproject.toml or directory)",
    )
    p.add_argument("--prefix-key", metavar="S", default="v1-pyo3", help="first part of the key")
    p.add_argument("--shared-key", metavar="S", help="replaces the job name so jobs share a cache")
    p.add_argument("--extra-key", metavar="S", help="added to the job part, e.g. a matrix value")
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter PyO3 builds for (default: PYO3_CONFIG_FILE, PYO3_PYTHON, python3)",
    )
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument(
        "--github",
        action="store_true",
        help="write outputs key, restore-keys and manifest to $GITHUB_OUTPUT",
    )
    p.add_argument(
        "--manifest-out",
        metavar="PATH",
        help="write the key manifest here (default with --github: $RUNNER_TEMP/pyo3-cache/)",
    )
    _wheel_build_flags(p)
    p.set_defaults(handler=_cmd_key)


def _wheel_build_flags(p: argparse.ArgumentParser) -> None:
    """What the wheel build passes to maturin, for ``--for wheel`` (see wheel_key.py)."""
    p.add_argument(
        "--target",
        metavar="TRIPLE",
        help="--for wheel: the build's target (default: CARGO_BUILD_TARGET, [tool.maturin], host)",
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help="--for wheel: the cargo profile (default: [tool.maturin] profile, else release)",
    )
    p.add_argument(
        "--features",
        metavar="LIST",
        help="--for wheel: the features passed to maturin (default: [tool.maturin] features)",
    )


def _cmd_key(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github
    from pyo3_cache.keys.manifest import default_manifest_path, write_manifest
    from pyo3_cache.keys.render import render_key_text, render_parts_table
    from pyo3_cache.keys.rust import compute_key
    from pyo3_cache.keys.venv import compute_venv_key

    if args.kind == "wheel":
        from pyo3_cache.keys.wheel import compute_wheel_key

        manifest = compute_wheel_key(
            args.manifest_path,
            prefix_key=args.prefix_key,
            shared_key=args.shared_key,
            extra_key=args.extra_key,
            python=args.python,
            target=args.target,
            profile=args.profile,
            features=args.features,
        )
    else:
        compute = compute_venv_key if args.kind == "venv" else compute_key
        manifest = compute(
            args.manifest_path,
            prefix_key=args.prefix_key,
            shared_key=args.shared_key,
            extra_key=args.extra_key,
            python=args.python,
        )
    for warning in manifest.warnings:
        log.warn(warning)
    written = None
    if args.manifest_out or args.github:
        out = args.manifest_out or default_manifest_path(args.manifest_path, kind=manifest.kind)
        written = write_manifest(manifest, out)
    if args.github:
        github.append_output(
            {
                "key": manifest.key,
                "restore-keys": "\n".join(manifest.restore_keys),
                "manifest": str(written),
            }
        )
        with log.group(f"cache key {manifest.key}"):
            for row in render_parts_table(manifest):
                print(f"  {row}", file=sys.stderr)
    if args.format == "json":
        _print_json(manifest.to_json())
    else:
        sys.stdout.write(render_key_text(manifest))
    return 0


def _add_key_diff(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "key-diff",
        help="say which key parts and inputs changed between two key manifests",
        description=(
            "Compare two key manifests (the cache's and this run's) and name each changed "
            "part and input, e.g. 'lock: serde 1.0.210 → 1.0.211'. Exit 0 either way."
        ),
    )
    p.add_argument("old", metavar="OLD.json", help="the older manifest (e.g. the restored one)")
    p.add_argument("new", metavar="NEW.json", help="the newer manifest (this run's)")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.set_defaults(handler=_cmd_key_diff)


def _cmd_key_diff(args: argparse.Namespace) -> int:
    from pyo3_cache.keys.diff import diff_manifests, render_diff_text
    from pyo3_cache.keys.manifest import load_manifest

    diff = diff_manifests(load_manifest(args.old), load_manifest(args.new))
    if args.format == "json":
        _print_json(diff.to_json())
    else:
        sys.stdout.write(render_diff_text(diff))
    return 0


# --- comment, summary (GitHub PR comment and job summary) ---------------------


def _markdown_file(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.read()
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or "not UTF-8 text"
        raise argparse.ArgumentTypeError(f"cannot read {path}: {reason}") from None


def _add_comment(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "comment",
        help="put Markdown into this job's section of the sticky PR comment",
        description=(
            "Create or update the one pyo3-cache comment on the pull request (found by "
            "<!-- pyo3-cache -->); this job owns one section of it, so matrix jobs share it. "
            "Reads GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_EVENT_PATH (the PR number) and "
            "GITHUB_API_URL. Not a pull request: nothing is posted, exit 0. A read-only token "
            "(a fork's PR) gets 403: the Markdown goes to the job summary with one notice, "
            "exit 0. Other failures exit 11, or warn and exit 0 with --soft."
        ),
    )
    p.add_argument(
        "--file", required=True, metavar="MD", type=_markdown_file, help="Markdown; - reads stdin"
    )
    p.add_argument(
        "--section-id",
        metavar="ID",
        help="the section this job owns (default: from GITHUB_WORKFLOW, GITHUB_JOB, --matrix)",
    )
    p.add_argument(
        "--title", metavar="T", help="the section's heading (default: GITHUB_JOB (matrix values))"
    )
    p.add_argument(
        "--matrix", metavar="JSON", default="", help="the job's matrix, e.g. ${{ toJSON(matrix) }}"
    )
    p.add_argument("--soft", action="store_true", help="report a failure as a warning and exit 0")
    p.set_defaults(handler=_cmd_comment)


def _cmd_comment(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github

    env = os.environ
    try:
        outcome = github.post_job_section(
            args.file,
            section_key=args.section_id or github.job_section_key(env, args.matrix),
            title=args.title or github.job_title(env.get("GITHUB_JOB", ""), args.matrix),
            env=env,
        )
    except Pyo3CacheError as exc:
        if not args.soft:
            raise
        log.warn(f"the PR comment was not updated: {exc}")
        return 0
    if outcome.comment is not None:
        print(f"{outcome.action} {outcome.comment.html_url}".rstrip())
    elif outcome.action == "skipped":
        log.info(outcome.message)
    return 0


def _add_summary(sub: argparse._SubParsersAction[_Parser]) -> None:
    p = sub.add_parser(
        "summary",
        help="append Markdown to the job summary ($GITHUB_STEP_SUMMARY), under 1 MiB",
        description=(
            "Append Markdown to $GITHUB_STEP_SUMMARY. GitHub drops a step summary over "
            "1 MiB, so what the step already wrote is measured and the Markdown is cut, "
            "with a note, to fit. Failures exit 11, or warn and exit 0 with --soft."
        ),
    )
    p.add_argument(
        "--file", required=True, metavar="MD", type=_markdown_file, help="Markdown; - reads stdin"
    )
    p.add_argument("--soft", action="store_true", help="report a failure as a warning and exit 0")
    p.set_defaults(handler=_cmd_summary)


def _cmd_summary(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github

    try:
        result = github.append_summary(args.file)
    except Pyo3CacheError as exc:
        if not args.soft:
            raise
        log.warn(f"the job summary was not written: {exc}")
        return 0
    if result.truncated:
        log.warn(
            "the report was cut to fit GitHub's 1 MiB job summary limit"
            + ("" if result.written_bytes else " and nothing of it fit")
        )
    return 0


# --- the parser -------------------------------------------------------------


def build_parser() -> _Parser:
    parser = _Parser(
        prog="pyo3-cache",
        description="Fast, explainable CI caching for Rust+PyO3 Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"pyo3-cache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_pin(sub)
    _add_key(sub)
    _add_key_diff(sub)
    _add_prune(sub)
    _add_save(sub)
    _add_restore(sub)
    _add_audit_bytecode(sub)
    _add_wheel_cache(sub)
    _add_explain(sub)
    _add_run(sub)
    _add_cargo_wrapper(sub)
    _add_action(sub)
    _add_comment(sub)
    _add_summary(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.handler(args))
    except Pyo3CacheError as exc:
        log.error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`); not our failure.
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        return 0
    except Exception as exc:  # a bug: still one line, the traceback only on request
        if os.environ.get("PYO3_CACHE_DEBUG"):
            raise
        log.error(
            f"internal error ({type(exc).__name__}: {exc}); "
            "set PYO3_CACHE_DEBUG=1 for a traceback and report it"
        )
        return INTERNAL_ERROR_EXIT


if __name__ == "__main__":
    raise SystemExit(main())
