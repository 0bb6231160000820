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
from typing import Any, NoReturn

from pyo3_cache import __version__, log
from pyo3_cache.errors import Pyo3CacheError

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
    from pyo3_cache import github
    from pyo3_cache.pyo3_config import pin_pyo3_config

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


# --- the parser -------------------------------------------------------------


def build_parser() -> _Parser:
    parser = _Parser(
        prog="pyo3-cache",
        description="Fast, explainable CI caching for Rust+PyO3 Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"pyo3-cache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    _add_pin(sub)
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
