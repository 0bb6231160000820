"""``audit-bytecode``: check the .pyc files in wheels, sdists, conda packages, dirs."""

from __future__ import annotations

import argparse
import sys

from pyo3_cache.cli.common import Parser, add_format_flag
from pyo3_cache.github import log


def _python_tag_arg(text: str) -> str:
    from pyo3_cache.bytecode.magic_numbers import parse_python_tag

    if parse_python_tag(text) is None:
        raise argparse.ArgumentTypeError(
            f"{text!r} names no single interpreter (use e.g. cp311, cp314t, pp310, cpython-311)"
        )
    return text


def add_audit_bytecode(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "audit-bytecode",
        handler=_cmd_audit_bytecode,
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
    add_format_flag(p, "the findings per artifact")
    p.add_argument(
        "--fix",
        action="store_true",
        help="delete offending .pyc files inside directories (archives are never edited)",
    )


def _cmd_audit_bytecode(args: argparse.Namespace) -> int:
    from pyo3_cache.bytecode.audit import audit_bytecode, render_json, render_text

    report = audit_bytecode(args.paths, python_tag=args.python_tag, fix=args.fix)
    for path in report.not_fixed:
        log.warn(f"--fix left {path} as it is: pyo3-cache never edits archives in place")
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    return report.exit_code


def add_audit_wheels(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "audit-wheels",
        handler=_cmd_audit_wheels,
        help="check that each wheel's extension modules match its tags",
        description=(
            "Read every extension module's file name (cpython-311, abi3, cp313t, pypy39-pp73, "
            "platform) and binary header (ELF / Mach-O / PE: CPU, 32/64-bit, PyInit_ export) "
            "and report modules that disagree with the wheel's python, abi and platform tags. "
            "Exit 1 when an error finding is found."
        ),
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="wheel files or directories of wheels")
    add_format_flag(p, "the findings per wheel")


def _cmd_audit_wheels(args: argparse.Namespace) -> int:
    from pyo3_cache.wheels.audit import audit_wheels, render_json, render_text

    report = audit_wheels(args.paths)
    sys.stdout.write(render_json(report) if args.format == "json" else render_text(report))
    return report.exit_code
