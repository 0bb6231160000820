"""``action STEP``: the GitHub Action's steps, run from action.yml and save/action.yml."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable

from pyo3_cache.cli.common import Parser
from pyo3_cache.github import log


def add_action(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "action",
        help="the GitHub Action's steps (used by action.yml and save/action.yml)",
        description=(
            "Steps of the composite actions, run from action.yml and save/action.yml. "
            "They read the action's inputs from INPUT_* variables and never fail the job."
        ),
    )
    steps = p.add_subparsers(dest="step", metavar="STEP", parser_class=Parser, required=True)
    paths = steps.add_parser(
        "paths",
        handler=_cmd_action_paths,
        help="print (or output) the folders the cache entry holds, and the entry dir",
        description=(
            "Print the folder actions/cache stores (the entry dir, under RUNNER_TEMP) and the "
            "folders packed into it: the target dir and $CARGO_HOME's registry index, crates "
            "and git dbs."
        ),
    )
    paths.add_argument("--cache-targets", default="true", help="cache the target dir (true/false)")
    paths.add_argument(
        "--github",
        action="store_true",
        help="write outputs `paths` (the entry dir actions/cache stores) and `contents`",
    )
    _add_action_plain_steps(steps)


def _cmd_action_paths(args: argparse.Namespace) -> int:
    from pyo3_cache.action.state import cache_paths, entry_path_for_cache
    from pyo3_cache.action.state import truthy as _truthy
    from pyo3_cache.github import client as github

    paths = cache_paths(_truthy(args.cache_targets, default=True))
    entry = entry_path_for_cache(os.environ)
    if args.github:
        github.append_output({"paths": entry, "contents": "\n".join(paths)})
    print(f"entry dir (actions/cache path): {entry}")
    print("\n".join(paths))
    return 0


def _cmd_action_after_restore(args: argparse.Namespace) -> int:
    from pyo3_cache.action.restore import after_restore

    after_restore()
    return 0


def _cmd_action_before_save(args: argparse.Namespace) -> int:
    from pyo3_cache.action.save import before_save

    try:
        before_save()
    finally:
        if args.audit:  # the audit step's work, in this process: one Python start fewer
            from pyo3_cache.action.wheel_audit import action_audit

            action_audit()
    return 0


def _cmd_action_comment(args: argparse.Namespace) -> int:
    from pyo3_cache.action.report import post_comment

    post_comment()
    return 0


def _add_action_plain_steps(steps: argparse._SubParsersAction[Parser]) -> None:
    """The steps with no flags of their own: they read INPUT_* and the runner's variables."""
    for name, help_text, description, handler in (
        (
            "after-restore",
            "unpack the entry, pin PyO3, capture cargo output, explain a partial hit",
            "After actions/cache restored: unpack the entry into the target dir and cargo "
            "home, give unchanged sources their cached mtimes, pin the PyO3 config, put the "
            "cargo wrapper on PATH and say which key parts changed since the matched entry. "
            "Reads INPUT_*, CACHE_HIT, MATCHED_KEY, ...; leaves a state file for before-save.",
            _cmd_action_after_restore,
        ),
        (
            "before-save",
            "explain, summarize, comment, prune, pack the entry",
            "Before actions/cache saves: explain the job's cargo logs, write the job summary "
            "and prepare the PR comment (the comment step posts it), decide whether to save, "
            "then prune the target dir and pack the entry. Sets the `save` and `comment` "
            "outputs.",
            _cmd_action_before_save,
        ),
        (
            "comment",
            "post the PR comment section before-save left",
            "The save action's one step with the token: post the section before-save left "
            "in RUNNER_TEMP/pyo3-cache/comment.json, nothing else.",
            _cmd_action_comment,
        ),
        (
            "keys",
            "compute the cache key, the entry's paths and the wheel key, in one step",
            "action.yml's key step: the Rust cache key (outputs key, restore-keys, manifest, "
            "paths, contents) and, in the same process, what wheel-key does (its outputs "
            "prefixed wheel-).",
            _cmd_action_wheel_step,
        ),
        (
            "wheel-key",
            "compute the wheel key (with wheel-cache: true) and locate dist/",
            "Output the glob of the wheels in dist-dir and, with wheel-cache: true, the wheel "
            "key (the wheel build's inputs only) and its manifest.",
            _cmd_action_wheel_step,
        ),
        (
            "wheel-check",
            "after the wheel restore: set wheel-hit when wheels came back",
            "wheel-hit is true only for an exact key match that put wheels into dist-dir; "
            "a matched entry without wheels is a warning and a miss.",
            _cmd_action_wheel_step,
        ),
        (
            "wheel-save",
            "decide whether to save dist/*.whl under the wheel key",
            "Save on a miss, when the wheel cache is on, the job succeeded and built wheels; "
            "say why not otherwise.",
            _cmd_action_wheel_step,
        ),
        (
            "audit-dist",
            "audit the bytecode of the wheels in dist/ for the job summary",
            "Check the .pyc files in dist-dir's wheels (see audit-bytecode); findings are "
            "warnings in the log and a section in the job summary.",
            _cmd_action_wheel_step,
        ),
        (
            "audit",
            "audit-dist and audit-wheels in one step",
            "The save action's audit step: the bytecode audit, then the wheel tag audit "
            "(outputs bytecode-failed, wheels-failed).",
            _cmd_action_wheel_step,
        ),
        (
            "audit-wheels",
            "check the tags of the wheels in dist/ against their extension modules",
            "Check every wheel in dist-dir against its extension modules (see audit-wheels); "
            "findings are warnings in the log and a section in the job summary.",
            _cmd_action_wheel_step,
        ),
    ):
        step = steps.add_parser(name, help=help_text, description=description)
        step.set_defaults(handler=handler, wheel_step=name)
        if name == "before-save":
            step.add_argument("--audit", action="store_true", help=_AUDIT_HELP)


_AUDIT_HELP = "then do what the audit step does (outputs bytecode-failed, wheels-failed)"


def _cmd_action_wheel_step(args: argparse.Namespace) -> int:
    def step() -> Callable[[], object]:
        # Import only the step that runs: each step is its own process.
        if args.wheel_step == "keys":
            from pyo3_cache.action.keys import action_keys

            return action_keys
        if args.wheel_step in ("wheel-key", "wheel-check", "wheel-save"):
            from pyo3_cache.action import wheel

            wheel_steps: dict[str, Callable[[], object]] = {
                "wheel-key": wheel.action_wheel_key,
                "wheel-check": wheel.action_wheel_check,
                "wheel-save": wheel.action_wheel_save,
            }
            return wheel_steps[args.wheel_step]
        from pyo3_cache.action import wheel_audit

        audit_steps: dict[str, Callable[[], object]] = {
            "audit-dist": wheel_audit.action_audit_dist,
            "audit-wheels": wheel_audit.action_audit_wheels,
            "audit": wheel_audit.action_audit,
        }
        return audit_steps[args.wheel_step]

    try:
        step()()
    except Exception as exc:  # an action step of ours never fails the job
        log.warn(f"action {args.wheel_step} skipped: {exc}")
    return 0
