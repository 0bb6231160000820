"""The ``pyo3-cache`` command line: build the parser from the command groups, dispatch.

Each group (``cli/pin.py``, ``cli/key.py``, ...) declares its commands'
flags in ``add_<command>`` and, in its handler, calls the library once and
prints.  Errors the library raises on purpose (``Pyo3CacheError``) become one
line on stderr and the class's exit code; anything else is a bug: one line
and exit 70.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

from pyo3_cache import __version__
from pyo3_cache.cli.common import Parser
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log

INTERNAL_ERROR_EXIT = 70


def all_commands() -> tuple[Callable[[Any], None], ...]:
    """Every command's ``add_*``, in the order `pyo3-cache --help` lists them."""
    from pyo3_cache.cli import action, bytecode, cache, explain, github, key, pin

    return (
        pin.add_pin,
        key.add_key,
        key.add_key_diff,
        cache.add_prune,
        cache.add_save,
        cache.add_restore,
        bytecode.add_audit_bytecode,
        bytecode.add_audit_wheels,
        cache.add_wheel_cache,
        explain.add_explain,
        explain.add_run,
        explain.add_cargo_wrapper,
        action.add_action,
        github.add_comment,
        github.add_summary,
    )


def build_parser(commands: Sequence[Callable[[Any], None]] | None = None) -> Parser:
    parser = Parser(
        prog="pyo3-cache",
        description="Fast, explainable CI caching for Rust+PyO3 Python packages.",
    )
    parser.add_argument("--version", action="version", version=f"pyo3-cache {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for add in all_commands() if commands is None else commands:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # An action step is a process of its own in every job: it imports and
    # builds only the action group's parser (the action runs from a fresh
    # checkout, so each module imported is also compiled, in every job).
    if argv[:1] == ["action"]:
        from pyo3_cache.cli.action import add_action

        parser = build_parser((add_action,))
    else:
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
