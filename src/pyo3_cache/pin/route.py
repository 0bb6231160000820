"""Which pinned PyO3 config one cargo call gets, if any (the cargo wrapper asks this).

The wrapper runs for every cargo call while ``PYO3_CACHE_PIN`` is set.  It
leaves a call untouched when someone else already chose PyO3's interpreter
(``PYO3_CONFIG_FILE`` set by the user or by maturin for abi3/cross builds,
``PYO3_CROSS*``), when the call builds for another target than the host
(``--target``, ``CARGO_BUILD_TARGET``, ``build.target`` in a cargo config), and
for subcommands that compile nothing.  Otherwise the interpreter is the one
PyO3 itself would pick (``PYO3_PYTHON``, which maturin and setuptools-rust set
per interpreter, else ``VIRTUAL_ENV``, ``CONDA_PREFIX``), falling back to the
pin's primary interpreter; it gets its stable pinned config, and an interpreter
other than the primary one builds in its own target dir.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

from pyo3_cache.pin.state import PinState, cached_probe, pin_interpreter, read_state

# cargo subcommands that run build scripts (and so PyO3's resolution).
BUILD_COMMANDS = frozenset(
    {"build", "b", "check", "c", "test", "t", "bench", "run", "r", "rustc", "rustdoc"}
    | {"doc", "d", "clippy", "fix", "nextest", "llvm-cov", "miri"}
)
# cargo's global options that take a value (`cargo --config k=v build`).
_OPTIONS_WITH_VALUE = frozenset({"-Z", "--config", "-C", "--color", "--explain"})


def subcommand(args: Sequence[str]) -> tuple[str | None, list[str]]:
    """cargo's subcommand and the arguments after it (``+toolchain`` and global options skipped)."""
    index = 0
    while index < len(args):
        arg = args[index]
        if arg.startswith("+") and index == 0:
            index += 1
        elif arg in _OPTIONS_WITH_VALUE:
            index += 2
        elif arg.startswith("-"):
            index += 1
        else:
            return arg, list(args[index + 1 :])
    return None, []


def _option_values(args: Sequence[str], name: str) -> list[str]:
    values = []
    for index, arg in enumerate(args):
        if arg == "--":
            break
        if arg == name and index + 1 < len(args):
            values.append(args[index + 1])
        elif arg.startswith(name + "="):
            values.append(arg[len(name) + 1 :])
    return values


_BUILD_TARGET = re.compile(r"""^\s*target\s*=\s*(.*)$""")


def _config_build_targets(cwd: Path, environ: Mapping[str, str]) -> list[str]:
    """``build.target`` of the cargo config files cargo reads for ``cwd`` (a light reading)."""
    found: list[str] = []
    files: list[Path] = []
    for folder in (cwd, *cwd.parents):
        files += [folder / ".cargo" / "config.toml", folder / ".cargo" / "config"]
    home = environ.get("CARGO_HOME") or os.path.join(os.path.expanduser("~"), ".cargo")
    files += [Path(home) / "config.toml", Path(home) / "config"]
    for path in files:
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeError):
            continue
        section = ""
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith("["):
                section = stripped
                continue
            if stripped.startswith("build.target") and section == "":
                found.append(stripped.split("=", 1)[-1].strip())
            elif section == "[build]":
                match = _BUILD_TARGET.match(line)
                if match:
                    found.append(match.group(1).strip())
    return found


def host_triple(environ: Mapping[str, str]) -> str | None:
    rustc = environ.get("RUSTC") or "rustc"
    try:
        out = subprocess.run(
            [rustc, "-vV"], capture_output=True, text=True, env=dict(environ), timeout=60
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    for line in out.splitlines():
        if line.startswith("host: "):
            return line[len("host: ") :].strip()
    return None


def builds_for_other_target(args: Sequence[str], environ: Mapping[str, str], cwd: Path) -> bool:
    """Whether the call names a target; True unless every one named is the host."""
    targets = _option_values(args, "--target")
    if environ.get("CARGO_BUILD_TARGET"):
        targets.append(environ["CARGO_BUILD_TARGET"])
    if not targets:
        targets = _config_build_targets(cwd, environ)
    if not targets:
        return False
    host = host_triple(environ)
    return host is None or any(t.strip("\"' ") != host for t in targets)


def pass_through_reason(args: Sequence[str], environ: Mapping[str, str], cwd: Path) -> str | None:
    """Why this cargo call runs as it is, or None when the pin applies to it."""
    if "PYO3_CONFIG_FILE" in environ:
        return "PYO3_CONFIG_FILE is set"
    if any(name.startswith("PYO3_CROSS") for name in environ):
        return "a PYO3_CROSS* variable is set"
    command, rest = subcommand(args)
    if command not in BUILD_COMMANDS:
        return f"cargo {command or '(no subcommand)'} builds nothing"
    if builds_for_other_target(rest, environ, cwd):
        return "the build is for another target than the host"
    return None


def _chosen_interpreter(environ: Mapping[str, str], state: PinState) -> str:
    """The interpreter PyO3 would use for this call (its own order), else the pin's primary."""
    if environ.get("PYO3_PYTHON"):
        return environ["PYO3_PYTHON"]
    for variable in ("VIRTUAL_ENV", "CONDA_PREFIX"):
        prefix = environ.get(variable)
        if prefix:
            for name in ("bin/python", "bin/python3", "python.exe", "Scripts/python.exe"):
                candidate = os.path.join(prefix, name)
                if os.path.isfile(candidate):
                    return candidate
    return state.primary_python


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def _routes_here(
    args: Sequence[str], environ: Mapping[str, str], cwd: Path, state: PinState
) -> bool:
    """Whether this call builds the pinned project in its target dir (so may be moved)."""
    if state.target_dir is None or state.workspace_root is None:
        return False
    if _option_values(args, "--target-dir"):
        return False
    configured = environ.get("CARGO_TARGET_DIR")
    if configured and Path(os.path.abspath(configured)) != state.target_dir:
        return False
    manifests = _option_values(args, "--manifest-path")
    where = Path(os.path.abspath(manifests[0])).parent if manifests else cwd
    return _inside(where, state.workspace_root)


def plan_cargo_call(
    args: Sequence[str], environ: Mapping[str, str], cwd: Path
) -> tuple[dict[str, str], str]:
    """The variables to set for this cargo call, and a one-line account of the decision.

    Empty variables: the call runs untouched.  Raises ``Pyo3CacheError`` (e.g.
    the interpreter does not answer) and ``OSError``/``ValueError`` (state file)
    for the wrapper to report and run cargo untouched.
    """
    state_file = environ.get("PYO3_CACHE_PIN", "")
    reason = pass_through_reason(args, environ, cwd)
    if reason is not None:
        return {}, f"not pinned: {reason}"
    state = read_state(state_file)
    python = _chosen_interpreter(environ, state)
    info = cached_probe(python)
    links = info.is_windows or "PYO3_BUILD_EXTENSION_MODULE" not in environ
    pinned, _config, _written = pin_interpreter(
        info,
        state.line,
        state.pin_dir,
        links=links,
        primary_key=state.primary_key,
        target_dir=state.target_dir,
    )
    changes = {"PYO3_CONFIG_FILE": str(pinned.config_file)}
    if not environ.get("PYO3_PYTHON"):
        changes["PYO3_PYTHON"] = pinned.pyo3_python
    where = ""
    if pinned.target_dir is not None and _routes_here(args, environ, cwd, state):
        from pyo3_cache.pin.seed import seed_target_dir

        changes["CARGO_TARGET_DIR"] = str(pinned.target_dir)
        where = f", target dir {pinned.target_dir}"
        if state.target_dir is not None:
            seeded = seed_target_dir(state.target_dir, pinned.target_dir)
            if seeded:
                where += f", started from a copy of the primary's ({seeded} files)"
    account = (
        f"PyO3 pinned for {info.implementation} {info.minor_version} "
        f"({pinned.config_file.name}{where})"
    )
    return changes, account
