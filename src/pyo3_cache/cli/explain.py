"""``explain``, ``run`` and ``cargo-wrapper``: why cargo recompiled."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from typing import Any

from pyo3_cache.cli.common import Parser, add_wrapper_dir_flag
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log


def add_explain(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "explain",
        handler=_cmd_explain,
        help="explain why cargo recompiled, from cargo logs",
        description=(
            "Read cargo logs (verbose human output, --message-format=json, CARGO_LOG "
            "fingerprint lines, GitHub's downloaded logs) and report which input changed, "
            "what it dragged along, how long it cost and what to do about it."
        ),
    )
    p.add_argument("logs", nargs="+", metavar="LOG", help="log files; - reads stdin")
    p.add_argument(
        "--format",
        choices=("text", "markdown", "json"),
        default="text",
        help="text for a terminal (default), markdown for a job summary or PR comment, "
        "json for programs",
    )
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
    p.add_argument(
        "--target-dir",
        metavar="DIR",
        help="the target dir the build used: its fingerprint records tell why crates were "
        "compiled anew (another version, features, profile, RUSTFLAGS, --target)",
    )


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

    report = explain_recompiles(args.logs, target_dir=args.target_dir)
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
    rebuilt = sum(report.counts.get(k, 0) for k in ("rebuilt", "new", "compiled"))
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


def add_run(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "run",
        handler=_cmd_run,
        help="run a build with verbose cargo output, keep a log, explain rebuilds",
        description=(
            "Run CMD with cargo's verbose status lines on (CARGO_TERM_VERBOSE=true), show "
            "cargo's normal lines live (the verbose Fresh/Dirty/rustc lines go to the log "
            "only; secret-looking values are hidden on screen), keep the whole output in "
            "the log, and print why cargo recompiled at the end. A cargo wrapper first on "
            "PATH also copies cargo's own stderr to LOG.cargo, complete even where a "
            "front-end such as pip hides it; explain reads that copy when it exists. "
            "SIGINT/SIGTERM reach CMD and the cargo under it. The exit code is CMD's."
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
        "--verbose",
        action="store_true",
        help="show cargo's verbose lines on the terminal too (they are always in the log)",
    )
    add_wrapper_dir_flag(p)
    p.add_argument(
        "command",
        nargs=argparse.REMAINDER,
        metavar="-- CMD ...",
        help="the build to run, after --, e.g. -- maturin build --release",
    )


def _cmd_run(args: argparse.Namespace) -> int:
    from pyo3_cache.explain.diagnostics import explain_recompiles
    from pyo3_cache.explain.render import render
    from pyo3_cache.explain.wrapper import run_with_log

    command = list(args.command)
    if command and command[0] == "--":
        command = command[1:]
    result = run_with_log(
        command,
        log_path=args.log,
        wrapper_dir=args.wrapper_dir,
        use_wrapper=not args.no_wrapper,
        show_verbose=args.verbose,
    )
    try:
        report = explain_recompiles(
            [str(p) for p in result.logs_to_explain], target_dir=_build_target_dir()
        )
        text = render(report, args.format)
        if args.output:
            _write_report(text, args.output)
        else:
            sys.stderr.write(text)
        kept = f"log kept in {result.log}"
        if result.cargo_log is not None and result.cargo_log.is_file():
            kept += f" (cargo's own stderr, from the wrapper: {result.cargo_log})"
        log.info(kept)
    except Pyo3CacheError as exc:
        # The build's result matters more than our explanation of it.
        log.warn(f"could not explain the build: {exc}")
    except Exception as exc:  # our bug must not replace the build's exit code
        log.warn(f"could not explain the build: internal error ({type(exc).__name__}: {exc})")
    return result.exit_code


def _build_target_dir() -> str | None:
    """The target dir of the project in the current directory, if there is one."""
    from pyo3_cache.project import find_manifest, find_workspace_root, target_dir

    try:
        return str(target_dir(find_workspace_root(find_manifest())))
    except Pyo3CacheError:
        return None


def add_cargo_wrapper(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "cargo-wrapper",
        handler=_cmd_cargo_wrapper,
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
        help="directory (default: ~/.cache/pyo3-cache/cargo-wrapper/ID, one per install)",
    )
    p.add_argument("--log", metavar="FILE", help="log file to export as PYO3_CACHE_CARGO_LOG")
    p.add_argument(
        "--github",
        action="store_true",
        help="add DIR to $GITHUB_PATH (and the log variable to $GITHUB_ENV)",
    )


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
