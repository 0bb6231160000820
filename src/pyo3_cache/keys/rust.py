"""The Rust build-cache key (``kind="rust"``)::

    <prefix>-<job>-<os>-<arch>-<toolchain>-<python>-<env>-<lock>

Its restore keys drop the lock hash, then the env hash as well, so a changed
lockfile still restores the build of the same toolchain, Python and flags
(cargo rebuilds only what changed).  ``compute_key`` gathers the data (files,
``rustc -vV``, interpreter probes); the parts are in ``keys/parts.py``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ProjectError
from pyo3_cache.keys.model import (
    DEFAULT_PREFIX,
    KeyManifest,
    assemble_key,
    job_label,
    key_head,
    path_scrubber,
    relative_label,
)
from pyo3_cache.keys.parts import env_part, env_secrets, lock_part, python_part, toolchain_part
from pyo3_cache.keys.probes import BuildTools, Probes, python_abi, replaced_env
from pyo3_cache.project import (
    LockedPackage,
    ProjectFiles,
    find_cargo_configs,
    find_toolchain_file,
    load_toml,
    locked_version,
    read_lockfile,
    read_text,
    workspace_manifests,
)


def compute_key(
    manifest_path: str | os.PathLike[str] | None = None,
    *,
    prefix_key: str = DEFAULT_PREFIX,
    shared_key: str | None = None,
    extra_key: str | None = None,
    python: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeyManifest:
    """The Rust build-cache key of the project around ``manifest_path`` (default: from cwd).

    ``prefix_key``: the key's first part (change it to start over).
    ``shared_key``: replaces the job name (``$GITHUB_JOB``) so jobs share a cache.
    ``extra_key``: appended to the job part (e.g. a matrix value).
    ``python``: the interpreter PyO3 builds for (default: ``PYO3_CONFIG_FILE``'s
    config, else ``PYO3_PYTHON``, else ``python3`` on PATH) — use the one you pin.
    ``environ``: the environment to read (default: ``os.environ``).

    Raises ``ProjectError`` (missing/invalid Cargo.toml, Cargo.lock,
    pyproject.toml), ``ToolchainError`` (no working ``rustc``),
    ``InterpreterError`` (a ``python`` that is not one).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    warnings: list[str] = []
    files = ProjectFiles.find(manifest_path)
    scrub = path_scrubber(files.project_root, env)
    # The subprocesses (rustc -vV, maturin --version, interpreter probes) run
    # side by side while the files are parsed; see Probes.
    with ThreadPoolExecutor(max_workers=4) as pool:
        probes = Probes(pool)
        tools = BuildTools(pool, files.manifest.parent, env)
        if env.get("PYO3_PYTHON"):
            probes.start(env["PYO3_PYTHON"])
        if python is not None:
            probes.start(os.fspath(python))
        inputs = _read_project_inputs(files, env)
        pyo3_version = locked_version(inputs.packages, "pyo3")
        abi, config_source = python_abi(python, env, pyo3_version, probes, warnings)
        replaced = replaced_env(env, probes, warnings)
        rustc_vv, maturin = tools.versions(inputs.pyproject)

    head, prefix = key_head(prefix_key, None, job_label(shared_key, extra_key, env))
    parts = [
        prefix,
        toolchain_part(rustc_vv, inputs.toolchain_file),
        python_part(abi, pyo3_version, maturin, config_source),
        env_part(env, scrub, replaced),
        lock_part(inputs.packages, inputs.manifests, inputs.cargo_configs, inputs.pyproject, scrub),
    ]
    return assemble_key(
        "rust",
        head,
        parts,
        hashed_parts=("toolchain", "python", "env", "lock"),
        ladder=(3, 2),  # drop lock, then env too
        warnings=warnings,
        masks=env_secrets(env),
    )


@dataclass(frozen=True)
class _ProjectInputs:
    packages: list[LockedPackage]
    manifests: dict[str, dict[str, Any]]
    cargo_configs: dict[str, str]
    pyproject: dict[str, Any] | None
    toolchain_file: tuple[str, str] | None


def _read_project_inputs(files: ProjectFiles, env: Mapping[str, str]) -> _ProjectInputs:
    packages = read_cargo_lock(files.workspace_root)
    members = workspace_manifests(files.workspace_root, files.manifest)
    manifests = {relative_label(p, files.project_root): d for p, d in members.items()}
    configs = cargo_config_texts(files.manifest.parent, files.project_root, env)
    pyproject = None
    if files.pyproject is not None:
        pyproject = load_toml(files.pyproject, "pyproject.toml")
    toolchain_file = read_toolchain_file(files.manifest.parent, files.project_root)
    return _ProjectInputs(packages, manifests, configs, pyproject, toolchain_file)


def read_cargo_lock(workspace_root: Path) -> list[LockedPackage]:
    """The workspace's Cargo.lock packages; a missing Cargo.lock is a ``ProjectError``."""
    lock_path = workspace_root / "Cargo.lock"
    if not lock_path.is_file():
        raise ProjectError(
            f"Cargo.lock not found at {lock_path}; run `cargo generate-lockfile` and commit it"
        )
    return read_lockfile(lock_path)


def cargo_config_texts(crate_dir: Path, root: Path, env: Mapping[str, str]) -> dict[str, str]:
    """The cargo config files cargo reads in ``crate_dir``, by label (relative to ``root``)."""
    return {
        label or relative_label(path, root): read_text(path, "cargo config")
        for label, path in find_cargo_configs(crate_dir, env)
    }


def read_toolchain_file(crate_dir: Path, root: Path) -> tuple[str, str] | None:
    """The rust-toolchain file rustup applies in ``crate_dir``: (label, text), if any."""
    path = find_toolchain_file(crate_dir)
    if path is None:
        return None
    return relative_label(path, root), read_text(path, path.name)
