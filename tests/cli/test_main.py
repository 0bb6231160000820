"""The command line as a whole: every command has help, usage errors are one line."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from pyo3_cache.cli.main import build_parser, main
from tests.conftest import run_cli


def _commands(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    """The parser and every (sub)command parser below it."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _commands(sub)


COMMANDS = [p.prog for p in _commands(build_parser())]
LEAVES = [
    p.prog
    for p in _commands(build_parser())
    if not any(isinstance(a, argparse._SubParsersAction) for a in p._actions)
]


def test_the_walk_sees_every_command() -> None:
    assert "pyo3-cache wheel-cache restore" in LEAVES
    assert "pyo3-cache action audit-dist" in LEAVES
    assert "pyo3-cache wheel-cache" in COMMANDS and "pyo3-cache wheel-cache" not in LEAVES
    assert "pyo3-cache audit-wheels" in LEAVES
    assert "pyo3-cache action audit-wheels" in LEAVES
    assert "pyo3-cache action comment" in LEAVES
    assert "pyo3-cache action keys" in LEAVES and "pyo3-cache action audit" in LEAVES
    assert len(LEAVES) == 26


@pytest.mark.parametrize("prog", COMMANDS)
def test_every_command_and_option_has_help(prog: str) -> None:
    [parser] = [p for p in _commands(build_parser()) if p.prog == prog]
    assert parser.description, f"{prog} --help has no description"
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                assert choice.help, f"{prog} {choice.dest} has no help line"
        else:
            assert action.help, f"{prog} {action.option_strings or action.dest} has no help"


def test_wheel_cache_flags_are_not_labelled_for_a_flag_it_lacks(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for op in ("restore", "save"):
        with pytest.raises(SystemExit):
            main(["wheel-cache", op, "--help"])
        shown = capsys.readouterr().out
        assert "--target TRIPLE" in shown and "--for wheel" not in shown
    with pytest.raises(SystemExit):
        main(["key", "--help"])
    assert "--for wheel: the build's target" in capsys.readouterr().out


@pytest.mark.parametrize("prog", LEAVES)
def test_a_bad_flag_is_one_line_pointing_at_that_commands_help(
    prog: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [*prog.split()[1:], "--no-such-flag"]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    [line] = err.splitlines()
    assert line.startswith(f"{prog}: error: ")
    assert line.endswith(f"(see {prog} --help)")


@pytest.mark.parametrize(
    ("argv", "prog", "fragment"),
    [
        (["no-such-command"], "pyo3-cache", "invalid choice: 'no-such-command'"),
        (["wheel-cache"], "pyo3-cache wheel-cache", "required: OP"),
        (["wheel-cache", "evict"], "pyo3-cache wheel-cache", "invalid choice: 'evict'"),
        (["action"], "pyo3-cache action", "required: STEP"),
        (["action", "restore"], "pyo3-cache action", "invalid choice: 'restore'"),
        (["pin", "--format", "yaml"], "pyo3-cache pin", "invalid choice: 'yaml'"),
    ],
)
def test_an_unknown_or_missing_subcommand_is_one_line(
    argv: list[str], prog: str, fragment: str
) -> None:
    result = run_cli(*argv)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line.startswith(f"{prog}: error: ") and fragment in line
    assert line.endswith(f"(see {prog} --help)")
    assert "usage:" not in result.stderr and result.stdout == ""


def test_an_unknown_flag_after_a_nested_command_names_that_command() -> None:
    result = run_cli("wheel-cache", "save", "--store", "dir:x", "--bogus")
    assert result.returncode == 2
    assert result.stderr == (
        "pyo3-cache wheel-cache save: error: unrecognized arguments: --bogus "
        "(see pyo3-cache wheel-cache save --help)\n"
    )


def test_no_command_prints_the_command_list_and_exits_2() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert "COMMAND" in result.stderr and "wheel-cache" in result.stderr


def test_version_prints_the_package_version() -> None:
    from pyo3_cache import __version__

    result = run_cli("--version")
    assert (result.returncode, result.stdout) == (0, f"pyo3-cache {__version__}\n")
