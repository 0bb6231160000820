"""The wheel key: a cache key over exactly the inputs of a maturin wheel build.

A PyO3 job that only changed Python tests still spends most of its time
rebuilding the extension.  nixpkgs proposes building wheels in their own
derivation, keyed on their build inputs only (NixOS/nixpkgs#170577); this is
the same idea for CI: when none of the wheel's inputs moved, the wheel saved
by an earlier job is the wheel this job would build, and cargo need not run.

The key (``kind="wheel"``) reads::

    <prefix>-wheel[-<shared/extra key>]-<os>-<arch>-<toolchain>-<python>-<env>
        -<build>-<lock>-<rust-sources>-<python-sources>-<metadata>

and has no restore keys: an older wheel is a wrong wheel.  Unlike the Rust
build cache it carries no job name, so a test job finds the wheel a build job
saved; ``--shared-key``/``--extra-key`` separate builds that differ in ways the
inputs cannot see (arguments given to ``maturin build`` on its command line).

What counts as an input, and why:

* Rust sources of the crates the build compiles: the package maturin builds
  and its path dependencies (normal and build, not dev), found with
  ``cargo metadata --no-deps`` (no network, fast) and, for path dependencies
  outside the workspace, their Cargo.toml.  Of each crate: its Cargo.toml,
  the folder holding each compiled target's ``src_path`` (lib, bins, build
  script; not tests, benches or examples), files named by
  ``include_str!``/``include_bytes!``/``include!`` in those sources, and its
  readme and license file.  In a git checkout the files are those git lists
  (tracked, or untracked but not ignored: what ``cargo package`` takes);
  elsewhere every file but caches, ``target/`` and hidden folders.
* Cargo.lock's packages, the crates' Cargo.toml tables, cargo config files and
  pyproject.toml's ``[build-system]`` and ``[tool.maturin]`` (the ``lock`` part
  of the Rust key, reused).
* The Python sources maturin packages: ``python-source``/``module-name``'s
  package (or the package folder next to pyproject.toml), ``python-packages``,
  ``include`` patterns, a ``<module>.pyi`` stub and the ``data`` folder.
* ``[project]`` (it becomes the wheel's METADATA) and its readme and license
  files.
* The toolchain (``rustc -vV``, rust-toolchain file), the PyO3 config's ABI
  fields with the PyO3 and maturin versions, the build env vars, and the
  target, profile and features.

So edits under ``tests/``, ``docs/`` or ``.github/``, a README that is not the
package's readme, or a Python lock file do not change the key.  File labels
are relative to the project; no absolute path is hashed.  ``PYO3_CONFIG_FILE``
and ``PYO3_PYTHON`` are left out of the env part (their paths change between
machines and ``pyo3-cache pin`` sets them after the key is computed): the
``python`` part carries the config's ABI either way.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ProjectError
from pyo3_cache.keys.cargo_inputs import CargoInputs, check_cargo_inputs, collect_cargo_inputs
from pyo3_cache.keys.model import (
    DEFAULT_PREFIX,
    KeyManifest,
    assemble_key,
    key_head,
    path_scrubber,
    relative_label,
)
from pyo3_cache.keys.parts import (
    build_part,
    env_part,
    env_secrets,
    files_part,
    lock_part,
    metadata_part,
    python_part,
    toolchain_part,
)
from pyo3_cache.keys.probes import BuildTools, Probes, python_abi
from pyo3_cache.keys.rust import cargo_config_texts, read_cargo_lock, read_toolchain_file
from pyo3_cache.keys.wheel_sources import (
    BuildCrate,
    SourceLister,
    build_crates,
    file_sha256,
    metadata_files,
    python_source_files,
    run_cargo_metadata,
    rust_source_files,
)
from pyo3_cache.project import (
    find_wheel_project,
    load_toml,
    locked_version,
    maturin_table,
    target_dir,
)

KIND = "wheel"
# The parts the key's hash covers, in order (the prefix part names the key, unhashed).
HASHED_PARTS = (
    "toolchain",
    "python",
    "env",
    "build",
    "lock",
    "rust-sources",
    "python-sources",
    "metadata",
)
_ENV_REPLACED_BY_PYTHON_PART = frozenset({"PYO3_CONFIG_FILE", "PYO3_PYTHON"})


def _features_text(value: Any) -> str:
    if isinstance(value, str):
        items = [f for f in re.split(r"[\s,]+", value) if f]
    elif isinstance(value, list):
        items = [str(f) for f in value]
    else:
        items = []
    return ",".join(sorted(set(items))) if items else "default"


def _host_of(rustc_vv: str) -> str:
    for line in rustc_vv.splitlines():
        name, _, value = line.partition(":")
        if name.strip() == "host":
            return value.strip()
    return "unknown"


# --- gathering (I/O) ----------------------------------------------------------------------


@dataclass
class WheelInputs:
    """What the wheel key was computed from, as files and tables (for tests and reports)."""

    rust_files: list[Path] = field(default_factory=list)
    python_files: list[Path] = field(default_factory=list)
    metadata_files: list[Path] = field(default_factory=list)
    crates: list[BuildCrate] = field(default_factory=list)
    used_git: bool = False
    project_root: Path | None = None
    workspace_root: Path | None = None

    def collect_cargo_inputs(
        self, environ: Mapping[str, str], outputs: Sequence[Path] = ()
    ) -> CargoInputs:
        """After the build: what cargo tracked for these crates (see ``keys/cargo_inputs.py``)."""
        if self.project_root is None or self.workspace_root is None:
            raise ProjectError("no project: compute the wheel key first")
        return collect_cargo_inputs(
            target_dir(self.workspace_root, environ),
            self.project_root,
            self.workspace_root,
            self.crates,
            environ,
            SourceLister(environ),
            outputs,
        )

    def check_cargo_inputs(self, saved: CargoInputs, environ: Mapping[str, str]) -> list[str]:
        """Before trusting restored wheels: which of cargo's inputs changed since."""
        if self.project_root is None:
            raise ProjectError("no project: compute the wheel key first")
        return check_cargo_inputs(saved, self.project_root, environ, SourceLister(environ))


def compute_wheel_key(
    manifest_path: str | os.PathLike[str] | None = None,
    *,
    prefix_key: str = DEFAULT_PREFIX,
    shared_key: str | None = None,
    extra_key: str | None = None,
    python: str | os.PathLike[str] | None = None,
    target: str | None = None,
    profile: str | None = None,
    features: str | None = None,
    environ: Mapping[str, str] | None = None,
    inputs_out: WheelInputs | None = None,
) -> KeyManifest:
    """The wheel-cache key of the maturin project around ``manifest_path`` (default: cwd).

    ``python``: the interpreter the wheel is built for (default as for the
    Rust key: ``PYO3_CONFIG_FILE``, ``PYO3_PYTHON``, ``python3``).
    ``target``/``profile``/``features``: what the build passes to maturin
    (defaults: ``CARGO_BUILD_TARGET`` or ``[tool.maturin]`` or the host;
    ``[tool.maturin]`` profile or ``release``, as PEP 517 builds use;
    ``[tool.maturin]`` features).  ``inputs_out`` receives the files read.

    Raises ``ProjectError`` (missing/invalid Cargo.toml, Cargo.lock,
    pyproject.toml), ``ToolchainError`` (no working ``rustc``),
    ``InterpreterError`` (a ``python`` that is not one).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    warnings: list[str] = []
    files = find_wheel_project(manifest_path)
    root = files.project_root
    scrub = path_scrubber(root, env)
    packages = read_cargo_lock(files.workspace_root)
    pyproject = load_toml(files.pyproject, "pyproject.toml") if files.pyproject else None
    cargo_toml = load_toml(files.manifest, "Cargo.toml")
    pyo3_version = locked_version(packages, "pyo3")
    with ThreadPoolExecutor(max_workers=4) as pool:
        probes = Probes(pool)
        tools = BuildTools(pool, files.manifest.parent, env)
        metadata_future = pool.submit(run_cargo_metadata, files.manifest, env)
        if python is not None:
            probes.start(os.fspath(python))
        elif env.get("PYO3_PYTHON"):
            probes.start(env["PYO3_PYTHON"])
        abi, config_source = python_abi(python, env, pyo3_version, probes, warnings)
        try:
            metadata: dict[str, Any] | None = metadata_future.result()
        except ProjectError as exc:
            warnings.append(f"{exc}; reading the crates' Cargo.toml files instead")
            metadata = None
        rustc_vv, maturin = tools.versions(pyproject)

    lister = SourceLister(env)
    crates = build_crates(files.manifest, metadata)
    rust_files = rust_source_files(crates, lister)
    python_files: list[Path] = []
    meta_files: list[Path] = []
    if files.pyproject is not None and pyproject is not None:
        python_files = python_source_files(files.pyproject, pyproject, cargo_toml, lister)
        meta_files = metadata_files(files.pyproject, pyproject)
    if inputs_out is not None:
        inputs_out.rust_files = rust_files
        inputs_out.python_files = python_files
        inputs_out.metadata_files = meta_files
        inputs_out.crates = crates
        inputs_out.used_git = lister.used_git
        inputs_out.project_root = root
        inputs_out.workspace_root = files.workspace_root

    def digests(paths: Iterable[Path]) -> dict[str, str]:
        return {relative_label(p, root): file_sha256(p) for p in paths}

    # Cargo.toml tables of the crates in the build and the workspace root (its
    # [workspace.dependencies], [patch] and profiles), versions normalized; the
    # raw files are among the Rust sources, so a version bump still counts.
    manifests: dict[str, dict[str, Any]] = {}
    for path in [files.workspace_root / "Cargo.toml", *(c.manifest for c in crates)]:
        manifests[relative_label(path.resolve(), root)] = load_toml(path, "Cargo.toml")
    configs = cargo_config_texts(files.manifest.parent, root, env)
    toolchain_file = read_toolchain_file(files.manifest.parent, root)

    table = maturin_table(pyproject)
    if target:
        chosen_target = (target, "--target")
    elif env.get("CARGO_BUILD_TARGET"):
        chosen_target = (env["CARGO_BUILD_TARGET"], "CARGO_BUILD_TARGET")
    elif isinstance(table.get("target"), str):
        chosen_target = (str(table["target"]), "tool.maturin.target")
    else:
        chosen_target = (_host_of(rustc_vv), "host")
    if profile:
        chosen_profile = (profile, "--profile")
    elif isinstance(table.get("profile"), str):
        chosen_profile = (str(table["profile"]), "tool.maturin.profile")
    else:
        chosen_profile = ("release", "default of PEP 517 builds")
    if features is not None:
        chosen_features = (_features_text(features), "--features")
    elif "features" in table:
        chosen_features = (_features_text(table["features"]), "tool.maturin.features")
    else:
        chosen_features = ("default", "default")

    build_env = {k: v for k, v in env.items() if k not in _ENV_REPLACED_BY_PYTHON_PART}
    job = "-".join(s for s in (shared_key, extra_key) if s)
    head, prefix = key_head(prefix_key, KIND, job)
    parts = [
        prefix,
        toolchain_part(rustc_vv, toolchain_file),
        python_part(abi, pyo3_version, maturin, config_source),
        env_part(build_env, scrub),
        build_part(chosen_target, chosen_profile, chosen_features),
        lock_part(packages, manifests, configs, pyproject, scrub),
        files_part("rust-sources", digests(rust_files)),
        files_part("python-sources", digests(python_files)),
        metadata_part(pyproject, digests(meta_files), scrub),
    ]
    if not python_files and files.pyproject is not None:
        warnings.append(
            "no Python sources found for the wheel (pure Rust layout); the key covers the Rust side"
        )
    return assemble_key(
        KIND,
        head,
        parts,
        hashed_parts=HASHED_PARTS,
        ladder=(),  # an older wheel is a wrong wheel: exact hits only
        warnings=warnings,
        masks=env_secrets(env),
    )


def wheel_files(dist: Path) -> list[Path]:
    """The wheels in ``dist`` (not recursive), sorted by name."""
    if not dist.is_dir():
        return []
    return sorted(p for p in dist.glob("*.whl") if p.is_file())


def find_wheel_inputs(
    manifest_path: str | os.PathLike[str] | None, environ: Mapping[str, str]
) -> WheelInputs:
    """The crates and folders of the wheel build, without computing its key (for after it)."""
    files = find_wheel_project(manifest_path)
    try:
        metadata: dict[str, Any] | None = run_cargo_metadata(files.manifest, environ)
    except ProjectError:
        metadata = None
    return WheelInputs(
        crates=build_crates(files.manifest, metadata),
        project_root=files.project_root,
        workspace_root=files.workspace_root,
    )
