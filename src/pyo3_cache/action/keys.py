"""action.yml's key step: the Rust cache key, the entry's paths and the wheel key, in one process.

One step instead of three: each of our steps starts a Python process, and in a
warm job those starts are most of the action's own time (docs/benchmarks.md).
Outputs: ``key``, ``restore-keys``, ``manifest``, ``paths`` (the entry dir
actions/cache stores), ``contents`` (what the entry holds), and the wheel
step's outputs with a ``wheel-`` prefix (``wheel-key``, ``wheel-path``,
``wheel-restore-keys``, ``wheel-manifest``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from pyo3_cache.action.state import (
    cache_paths,
    entry_dir,
    entry_path_for_cache,
    guarded,
    python_inputs,
    remove_entry_dir,
    truthy,
)
from pyo3_cache.github import files as github
from pyo3_cache.github import log


def rust_key_outputs(env: Mapping[str, str]) -> None:
    """Compute the Rust build-cache key and write the key step's outputs."""
    from pyo3_cache.keys.manifest import default_manifest_path, write_manifest
    from pyo3_cache.keys.render import render_parts_table
    from pyo3_cache.keys.rust import compute_key

    manifest = compute_key(
        None,
        prefix_key=env.get("INPUT_PREFIX_KEY") or "v1-pyo3",
        shared_key=env.get("INPUT_SHARED_KEY") or None,
        extra_key=env.get("INPUT_KEY") or None,
        python=next(iter(python_inputs(env)), None),  # the one pinned first
        environ=env,
    )
    for secret in manifest.masks:  # before any line could show one
        log.mask(secret)
    for warning in manifest.warnings:
        log.warn(warning)
    written = write_manifest(manifest, default_manifest_path(None, env, kind=manifest.kind))
    contents = cache_paths(truthy(env.get("INPUT_CACHE_TARGETS"), default=True))
    github.append_output(
        {
            "key": manifest.key,
            "restore-keys": "\n".join(manifest.restore_keys),
            "manifest": str(written),
            "paths": entry_path_for_cache(env),
            "contents": "\n".join(contents),
        }
    )
    with log.group(f"cache key {manifest.key}"):
        for row in render_parts_table(manifest):
            log.info(f"  {row}")


def action_keys(env: Mapping[str, str] | None = None) -> None:
    """The key step: the Rust key and entry paths, then the wheel key; trouble is a warning."""
    env = dict(os.environ if env is None else env)
    # What a killed job left at the entry dir would mix with the entry
    # actions/cache restores there next (a self-hosted runner keeps the workspace).
    guarded("clearing a leftover cache entry", env, lambda e: remove_entry_dir(entry_dir(e)))
    guarded("computing the cache key", env, rust_key_outputs)
    from pyo3_cache.action.wheel import action_wheel_key  # the wheel cache's modules, only here

    action_wheel_key(env, output_prefix="wheel-")
