"""``pin``: write a pinned PyO3 config and print the variables to export."""

from __future__ import annotations

import argparse
import shlex

from pyo3_cache.cli.common import Parser, print_json
from pyo3_cache.github import log


def add_pin(sub: argparse._SubParsersAction[Parser]) -> None:
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
    p.add_argument(
        "--format",
        choices=("shell", "json"),
        default="shell",
        help="shell: export lines to eval (default); json: the config file, the variables, "
        "the PyO3 version and the config",
    )
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
        print_json(result.to_json())
    else:
        for name, value in result.env.items():
            print(f"export {name}={shlex.quote(value)}")
    return 0
