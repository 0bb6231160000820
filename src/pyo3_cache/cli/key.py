"""``key`` and ``key-diff``: the cache keys and what changed between two of them."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from pyo3_cache.cli.common import Parser, add_format_flag, print_json
from pyo3_cache.github import log


def add_key(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "key",
        handler=_cmd_key,
        help="compute the Rust build-cache key from named parts",
        description=(
            "Compute the cache key for the target dir and cargo's caches from named parts "
            "(prefix, toolchain, python, env, lock) and the restore keys, most specific first."
        ),
    )
    p.add_argument(
        "--for",
        dest="kind",
        choices=("rust", "venv", "wheel"),
        default="rust",
        help="rust: the target dir and cargo caches (default); venv: Python env/pip/uv caches; "
        "wheel: the built wheels, keyed on the wheel build's inputs only",
    )
    p.add_argument(
        "--manifest-path",
        metavar="PATH",
        help="the crate's Cargo.toml (--for venv: the project's pyproject.toml or directory)",
    )
    p.add_argument("--prefix-key", metavar="S", default="v1-pyo3", help="first part of the key")
    p.add_argument("--shared-key", metavar="S", help="replaces the job name so jobs share a cache")
    p.add_argument("--extra-key", metavar="S", help="added to the job part, e.g. a matrix value")
    p.add_argument(
        "--python",
        metavar="PATH",
        help="interpreter PyO3 builds for (default: PYO3_CONFIG_FILE, PYO3_PYTHON, python3)",
    )
    add_format_flag(p, "the key, its parts and the restore keys")
    p.add_argument(
        "--github",
        action="store_true",
        help="write outputs key, restore-keys and manifest to $GITHUB_OUTPUT",
    )
    p.add_argument(
        "--manifest-out",
        metavar="PATH",
        help="write the key manifest here (default with --github: $RUNNER_TEMP/pyo3-cache/)",
    )
    add_wheel_build_flags(p, label="--for wheel: ")


def add_wheel_build_flags(p: argparse.ArgumentParser, label: str = "") -> None:
    """What the wheel build passes to maturin, for the wheel key (see keys/wheel.py).

    ``label`` starts each help line, e.g. "--for wheel: " where other kinds ignore them.
    """
    p.add_argument(
        "--target",
        metavar="TRIPLE",
        help=f"{label}the build's target (default: CARGO_BUILD_TARGET, [tool.maturin], host)",
    )
    p.add_argument(
        "--profile",
        metavar="NAME",
        help=f"{label}the cargo profile (default: [tool.maturin] profile, else release)",
    )
    p.add_argument(
        "--features",
        metavar="LIST",
        help=f"{label}the features passed to maturin (default: [tool.maturin] features)",
    )


def _cmd_key(args: argparse.Namespace) -> int:
    from pyo3_cache.github import client as github
    from pyo3_cache.keys.manifest import default_manifest_path, write_manifest
    from pyo3_cache.keys.render import render_key_text, render_parts_table
    from pyo3_cache.keys.rust import compute_key
    from pyo3_cache.keys.venv import compute_venv_key

    common: dict[str, Any] = {
        "prefix_key": args.prefix_key,
        "shared_key": args.shared_key,
        "extra_key": args.extra_key,
        "python": args.python,
    }
    if args.kind == "wheel":
        from pyo3_cache.keys.wheel import compute_wheel_key

        manifest = compute_wheel_key(
            args.manifest_path,
            target=args.target,
            profile=args.profile,
            features=args.features,
            **common,
        )
    else:
        compute = compute_venv_key if args.kind == "venv" else compute_key
        manifest = compute(args.manifest_path, **common)
    for secret in manifest.masks:  # before any line could show one
        log.mask(secret)
    for warning in manifest.warnings:
        log.warn(warning)
    written = None
    if args.manifest_out or args.github:
        out = args.manifest_out or default_manifest_path(args.manifest_path, kind=manifest.kind)
        written = write_manifest(manifest, out)
    if args.github:
        github.append_output(
            {
                "key": manifest.key,
                "restore-keys": "\n".join(manifest.restore_keys),
                "manifest": str(written),
            }
        )
        with log.group(f"cache key {manifest.key}"):
            for row in render_parts_table(manifest):
                print(f"  {row}", file=sys.stderr)
    if args.format == "json":
        print_json(manifest.to_json())
    else:
        sys.stdout.write(render_key_text(manifest))
    return 0


def add_key_diff(sub: argparse._SubParsersAction[Parser]) -> None:
    p = sub.add_parser(
        "key-diff",
        handler=_cmd_key_diff,
        help="say which key parts and inputs changed between two key manifests",
        description=(
            "Compare two key manifests (the cache's and this run's) and name each changed "
            "part and input, e.g. 'lock: serde 1.0.210 → 1.0.211'. Exit 0 either way."
        ),
    )
    p.add_argument("old", metavar="OLD.json", help="the older manifest (e.g. the restored one)")
    p.add_argument("new", metavar="NEW.json", help="the newer manifest (this run's)")
    add_format_flag(p, "each changed part and input")


def _cmd_key_diff(args: argparse.Namespace) -> int:
    from pyo3_cache.keys.diff import diff_manifests, render_diff_text
    from pyo3_cache.keys.manifest import load_manifest

    diff = diff_manifests(load_manifest(args.old), load_manifest(args.new))
    if args.format == "json":
        print_json(diff.to_json())
    else:
        sys.stdout.write(render_diff_text(diff))
    return 0
