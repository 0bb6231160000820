"""What every command group shares: the one-line-error parser, flags, JSON output."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Options = TypeVar("Options", bound=DataclassInstance)

Handler = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line plus a pointer to this command's --help.

    ``handler``: the function a (sub)command runs, given as
    ``sub.add_parser(name, handler=..., help=...)``.
    """

    def __init__(self, *args: Any, handler: Handler | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The innermost (sub)command parsed leaves itself here, so an unknown flag is
        # reported against the command it was given to (see ``parse_args``).
        self.set_defaults(command_parser=self)
        if handler is not None:
            self.set_defaults(handler=handler)

    def parse_args(self, args: Any = None, namespace: Any = None) -> Any:
        parsed, extra = self.parse_known_args(args, namespace)
        if extra:
            parser = getattr(parsed, "command_parser", self)
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        return parsed

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        raise SystemExit(2)


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, sort_keys=False))


def print_result(result: Any, text: str, output_format: str) -> None:
    """``result.to_json()`` for ``--format json``, else ``text`` (a line is added)."""
    if output_format == "json":
        print_json(result.to_json())
    else:
        print(text)


def options(kind: type[Options], args: argparse.Namespace) -> Options:
    """The library's options ``kind`` (a dataclass) from the flags named as its fields."""
    names = {field.name for field in dataclasses.fields(kind)}
    return kind(**{name: value for name, value in vars(args).items() if name in names})


def add_format_flag(p: argparse.ArgumentParser, what: str) -> None:
    """``--format text|json``; ``what`` says what the output holds."""
    p.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help=f"text for people (default) or json for programs: {what}",
    )


def add_wrapper_dir_flag(p: argparse.ArgumentParser) -> None:
    """``--wrapper-dir DIR``: where the cargo wrapper goes (``pin`` and ``run``)."""
    p.add_argument(
        "--wrapper-dir",
        metavar="DIR",
        help=(
            "stable directory for the cargo wrapper "
            "(default: ~/.cache/pyo3-cache/cargo-wrapper/ID, one per pyo3-cache install)"
        ),
    )
