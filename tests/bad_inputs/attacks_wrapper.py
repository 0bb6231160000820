"""Attacks on the cargo wrapper: copies of it on PATH, a pin state that lies."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyo3_cache.explain.wrapper import install_cargo_wrapper
from tests.bad_inputs.cases import Case, Ctx

FAKE_CARGO = '#!/bin/sh\necho "real cargo $*"\nexit 5\n'


def _fake_cargo(ctx: Ctx) -> Path:
    bin_dir = ctx.work / "realbin"
    bin_dir.mkdir()
    cargo = bin_dir / "cargo"
    cargo.write_text(FAKE_CARGO)
    cargo.chmod(0o755)
    return bin_dir


def two_wrappers(ctx: Ctx) -> None:
    """The action's wrapper and a user's `cargo-wrapper --install` both before cargo."""
    real = _fake_cargo(ctx)
    first = install_cargo_wrapper(ctx.work / "user-wrapper").parent
    second = install_cargo_wrapper(ctx.work / "action-wrapper").parent
    ctx.env["PATH"] = os.pathsep.join(
        [str(first), str(second), str(real), str(Path(sys.executable).parent), "/usr/bin", "/bin"]
    )
    ctx.env["PYO3_CACHE_CARGO_LOG"] = str(ctx.work / "cargo.log")


def lying_pin_state(ctx: Ctx) -> None:
    """PYO3_CACHE_PIN names a file that is not a pin state (or a hostile one)."""
    two_wrappers(ctx)
    (ctx.work / "pin.json").write_text('{"version": 1, "primary_python": "/nonexistent/python"')
    ctx.env["PYO3_CACHE_PIN"] = str(ctx.work / "pin.json")


def check_cargo_ran_once(ctx: Ctx, results: list[Any]) -> None:
    for result in results:
        assert result.stdout.count("real cargo build") == 1, result.stdout


CASES: list[Case] = [
    Case(
        "wrapper-two-copies-on-path",
        "wrapper",
        "two copies of the cargo wrapper on PATH before the real cargo, with the log on",
        ("run", "--no-wrapper", "--log", "run.log", "--", "cargo", "build"),
        two_wrappers,
        "build",
        5,
        (),
        writes=("run.log", "cargo.log"),
        check=check_cargo_ran_once,
        timeout=60.0,
        finding="each copy exec'd the next `cargo` on PATH after its own folder, which was "
        "the other copy: an endless chain of processes; every copy now skips every copy "
        "(a marker line) and the real cargo runs once with its exit code",
    ),
    Case(
        "wrapper-lying-pin-state",
        "wrapper",
        "PYO3_CACHE_PIN names a truncated pin state whose interpreter does not exist",
        ("run", "--no-wrapper", "--log", "run.log", "--", "cargo", "build"),
        lying_pin_state,
        "build",
        5,
        ("PyO3 not pinned for this cargo call",),
        writes=("run.log", "cargo.log"),
        check=check_cargo_ran_once,
        timeout=60.0,
        limit="the build runs unpinned (it may recompile PyO3), with one warning line",
    ),
]
