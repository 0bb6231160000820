"""``pin``: write a pinned PyO3 config and print the variables to export."""

from __future__ import annotations

import argparse
import os
import shlex
import sys

from pyo3_cache.cli.common import Parser, add_wrapper_dir_flag, print_json
from pyo3_cache.github import log


def add_pin(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "pin",
        handler=_cmd_pin,
        help="pin PyO3's config per interpreter, applied per cargo call by the cargo wrapper",
        description=(
            "Resolve PyO3's interpreter config for each --python, write it as a "
            "content-addressed file with a pinned mtime and no moving paths, and print the "
            "variables that switch the pin on: PYO3_CACHE_PIN and PATH with pyo3-cache's "
            "cargo wrapper first. The wrapper gives each cargo call the pinned config of the "
            "interpreter that call builds for (PYO3_PYTHON, set per interpreter by maturin "
            "and setuptools-rust), so warm PEP 517 builds compile nothing and every "
            "interpreter gets its own wheel. No PYO3_* variable of PyO3's is exported."
        ),
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        action="append",
        help="interpreter; repeat for several, the first is the primary one "
        "(default: python3 on PATH)",
    )
    p.add_argument("--dir", metavar="DIR", help="where to write (default: <target dir>/pyo3-cache)")
    p.add_argument("--manifest-path", metavar="PATH", help="the crate's Cargo.toml")
    p.add_argument(
        "--pyo3-version", metavar="VERSION", help="PyO3 version (default: read from Cargo.lock)"
    )
    add_wrapper_dir_flag(p)
    p.add_argument(
        "--format",
        choices=("shell", "json"),
        default="shell",
        help="shell: export lines to eval (default); json: the variables to set (env: "
        "PYO3_CACHE_PIN and PATH with the wrapper first), the pin state, the configs per "
        "interpreter, the PyO3 version and the primary interpreter's config",
    )
    p.add_argument(
        "--github",
        action="store_true",
        help="append PYO3_CACHE_PIN to $GITHUB_ENV, the wrapper to $GITHUB_PATH and "
        "config-file to $GITHUB_OUTPUT",
    )


def _cmd_pin(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github
    from pyo3_cache.pin.pinning import pin_pyo3_config

    result = pin_pyo3_config(
        args.python,
        directory=args.dir,
        manifest_path=args.manifest_path,
        pyo3_version=args.pyo3_version,
    )
    for warning in result.warnings:
        log.warn(warning)
    wrapper_dir: str | None = None
    # Complete, as the shell format's exports are: PYO3_CACHE_PIN alone
    # switches nothing on without the wrapper first on PATH.
    env = dict(result.env)
    if sys.platform != "win32":
        from pyo3_cache.explain.wrapper import install_cargo_wrapper, pin_env_with_wrapper

        wrapper = install_cargo_wrapper(args.wrapper_dir).parent
        wrapper_dir = str(wrapper)
        env = pin_env_with_wrapper(result.env, os.environ, wrapper)
    if args.github:
        github.append_env(result.env)
        if wrapper_dir is not None:
            github.append_path(wrapper_dir)
        github.append_output({"config-file": str(result.config_file)})
    if args.format == "json":
        print_json({**result.to_json(), "env": env, "wrapper_dir": wrapper_dir})
    else:
        for name, value in result.env.items():
            print(f"export {name}={shlex.quote(value)}")
        if wrapper_dir is not None:
            print(f'export PATH={shlex.quote(wrapper_dir)}"${{PATH:+:$PATH}}"')
    return 0
