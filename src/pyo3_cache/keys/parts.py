"""The parts every Rust-side key shares: toolchain, env, lock, python; and the wheel
key's own: build, the source files, metadata.

Pure functions: each takes data already read (``rustc -vV`` text, the
environment, parsed Cargo.toml files) and returns a ``KeyPart``.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from pyo3_cache.errors import (
    ToolchainError,
)

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 runners
    import tomli as tomllib

from pyo3_cache.keys.model import (
    InputValue,
    KeyPart,
    PathScrubber,
    canonical,
    content_label,
    make_part,
)
from pyo3_cache.project import DEP_TABLES, LockedPackage
from pyo3_cache.redact import REDACTED, redact_env_value, secret_parts

# --- toolchain ------------------------------------------------------------------

_RUSTC_FIELDS = {
    "release": "rustc",
    "commit-hash": "commit-hash",
    "host": "host",
    "LLVM version": "LLVM",
}


def parse_rustc_version(text: str) -> dict[str, str]:
    """``rustc -vV`` output → ``{"rustc": release, "commit-hash", "host", "LLVM"}``."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep and name.strip() in _RUSTC_FIELDS:
            fields[_RUSTC_FIELDS[name.strip()]] = value.strip()
    if "rustc" not in fields:
        first = text.strip().splitlines()[0] if text.strip() else "nothing"
        raise ToolchainError(f"`rustc -vV` printed no release line (it printed: {first[:120]})")
    return fields


def toolchain_channel(name: str, text: str) -> str | None:
    """The channel a rust-toolchain(.toml) file asks for, if it says."""
    stripped = text.strip()
    if name == "rust-toolchain" and stripped and "\n" not in stripped and "[" not in stripped:
        return stripped  # the legacy one-line form
    try:
        data = tomllib.loads(text)
    except Exception:
        return None
    table = data.get("toolchain")
    if isinstance(table, dict) and isinstance(table.get("channel"), str):
        return str(table["channel"])
    return None


def toolchain_part(rustc_vv: str, toolchain_file: tuple[str, str] | None) -> KeyPart:
    """``rustc -vV`` of the active toolchain and the rust-toolchain file, if any.

    ``toolchain_file`` is ``(label, text)``; the file is hashed whole (it can
    name components and targets too) and its channel is shown.
    """
    inputs: dict[str, InputValue] = dict(parse_rustc_version(rustc_vv))
    if toolchain_file is not None:
        label, text = toolchain_file
        inputs[label] = content_label(text)
        channel = toolchain_channel(label.rsplit("/", 1)[-1], text)
        if channel:
            inputs["channel"] = channel
    return make_part("toolchain", inputs)


# --- env ------------------------------------------------------------------------

_ENV_PREFIXES = ("CARGO_", "RUST", "CC", "CFLAGS", "CXX", "CMAKE", "MATURIN_", "PYO3_")
# Set but not build-affecting, or a location that differs between machines.
_ENV_VOLATILE_PREFIXES = (
    "CARGO_TERM_",  # colours, progress, verbosity
    "CARGO_HTTP_",
    "CARGO_NET_",
    "CARGO_LOG",
    "CARGO_CACHE_",
    "CARGO_MAKEFLAGS",
    "CCACHE_",
    "RUST_LOG",
    "RUST_BACKTRACE",
    "RUST_LIB_BACKTRACE",
    "RUST_TEST_",
    "RUSTUP_",  # RUSTUP_TOOLCHAIN is kept below; the toolchain part sees its effect anyway
    "PYO3_CACHE_",  # our own switches
)
_ENV_VOLATILE_NAMES = frozenset(
    {
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET_DIR",
        "CARGO_BUILD_JOBS",
        "CARGO_BUILD_PIPELINING",
    }
)
_ENV_KEEP = frozenset({"RUSTUP_TOOLCHAIN"})


def is_build_env(name: str) -> bool:
    """Whether an env var feeds the build (and so the env part)."""
    upper = name.upper()
    if upper in _ENV_KEEP:
        return True
    if not upper.startswith(_ENV_PREFIXES):
        return False
    return upper not in _ENV_VOLATILE_NAMES and not upper.startswith(_ENV_VOLATILE_PREFIXES)


def env_part(
    environ: Mapping[str, str],
    scrub: PathScrubber,
    replaced: Mapping[str, str] | None = None,
) -> KeyPart:
    """The build-affecting env vars, with paths scrubbed and secrets redacted.

    ``replaced`` maps a variable to the value that stands for it (the content
    hash of ``PYO3_CONFIG_FILE``, the identity of ``PYO3_PYTHON``), since their
    raw values are machine paths.
    """
    replaced = replaced or {}
    inputs: dict[str, InputValue] = {}
    hashed: dict[str, str] = {}
    for name in sorted(environ):
        if not is_build_env(name):
            continue
        shown = redact_env_value(name, environ[name])
        if shown == REDACTED:
            inputs[name] = REDACTED  # shown, never hashed
            continue
        # A URL with credentials is hashed without them: another index host
        # changes the key, the password never reaches it (nor the manifest).
        value = replaced[name] if name in replaced else scrub(shown)
        inputs[name] = value
        hashed[name] = value
    return make_part("env", inputs, hashed)


# --- lock -----------------------------------------------------------------------

_CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def _drop_path_dep_versions(tables: Any) -> None:
    if not isinstance(tables, dict):
        return
    for spec in tables.values():
        if isinstance(spec, dict) and "path" in spec:
            spec.pop("version", None)


def normalize_manifest(data: Mapping[str, Any]) -> dict[str, Any]:
    """A Cargo.toml with its own version numbers taken out.

    A release that only bumps the crate's (or the workspace's) version must not
    throw the cache away; rust-cache does the same.  Versions on path
    dependencies go too, since they follow the member's version.
    """
    out: dict[str, Any] = copy.deepcopy(dict(data))
    package = out.get("package")
    if isinstance(package, dict) and isinstance(package.get("version"), str):
        del package["version"]
    workspace = out.get("workspace")
    if isinstance(workspace, dict):
        ws_package = workspace.get("package")
        if isinstance(ws_package, dict):
            ws_package.pop("version", None)
        _drop_path_dep_versions(workspace.get("dependencies"))
    for table in DEP_TABLES:
        _drop_path_dep_versions(out.get(table))
    targets = out.get("target")
    if isinstance(targets, dict):
        for spec in targets.values():
            if isinstance(spec, dict):
                for table in DEP_TABLES:
                    _drop_path_dep_versions(spec.get(table))
    return out


def _package_value(package: LockedPackage, scrub: PathScrubber) -> str:
    if package.source in (None, _CRATES_IO):
        return package.version
    return f"{package.version} ({scrub(package.source or '')})"


def lock_part(
    packages: Sequence[LockedPackage],
    manifests: Mapping[str, Mapping[str, Any]],
    cargo_configs: Mapping[str, str],
    pyproject: Mapping[str, Any] | None,
    scrub: PathScrubber,
) -> KeyPart:
    """Locked packages, the workspace's Cargo.toml files, cargo config, pyproject build tables.

    ``manifests``: label → parsed Cargo.toml; ``cargo_configs``: label → text;
    ``pyproject``: the parsed pyproject.toml (None when there is none).
    Workspace members in Cargo.lock (no source) are left out: their versions
    are the project's own, and their dependencies show in their Cargo.toml.
    """
    inputs: dict[str, InputValue] = {}
    locked: list[list[str]] = []
    versions: dict[str, list[str]] = {}
    for package in packages:
        if package.is_local:
            continue
        source = scrub(package.source or "")
        locked.append([package.name, package.version, source, package.checksum or ""])
        versions.setdefault(package.name, []).append(_package_value(package, scrub))
    for name in sorted(versions):
        values = sorted(set(versions[name]))
        inputs[name] = values[0] if len(values) == 1 else values
    hashed_manifests: dict[str, str] = {}
    for label in sorted(manifests):
        text = scrub(canonical(normalize_manifest(manifests[label])))
        hashed_manifests[label] = text
        inputs[label] = content_label(text)
    hashed_configs: dict[str, str] = {}
    for label in sorted(cargo_configs):
        text = scrub(cargo_configs[label])
        hashed_configs[label] = text
        inputs[label] = content_label(text)
    build_tables: dict[str, Any] = {}
    if pyproject is not None:
        build_system = pyproject.get("build-system")
        if isinstance(build_system, dict):
            build_tables["build-system"] = build_system
            requires = build_system.get("requires")
            if isinstance(requires, list):
                inputs["build-system.requires"] = "; ".join(str(r) for r in requires)
            backend = build_system.get("build-backend")
            if isinstance(backend, str):
                inputs["build-system.build-backend"] = backend
        tool = pyproject.get("tool")
        maturin = tool.get("maturin") if isinstance(tool, dict) else None
        if isinstance(maturin, dict):
            build_tables["tool.maturin"] = maturin
            for name in sorted(maturin):
                value = maturin[name]
                inputs[f"tool.maturin.{name}"] = scrub(
                    value if isinstance(value, str) else canonical(value)
                )
    hashed = {
        "packages": locked,
        "manifests": hashed_manifests,
        "cargo_configs": hashed_configs,
        "pyproject": scrub(canonical(build_tables)),
    }
    return make_part("lock", inputs, hashed)


# --- python / pyo3 --------------------------------------------------------------


def python_part(
    abi: Mapping[str, str] | None,
    pyo3_version: str | None,
    maturin: tuple[str, str] | None,
    config_source: str,
) -> KeyPart:
    """The PyO3 config's ABI fields, the PyO3 and maturin versions.

    ``abi``: ``Pyo3Config.abi_fields()`` (no paths), None when no interpreter
    could be found.  ``maturin``: ``(version, where it was read)``.
    ``config_source`` says where the config came from; it is shown, not hashed,
    so a pinned file and the interpreter it was pinned from give one key.
    """
    inputs: dict[str, InputValue] = {}
    hashed: dict[str, str] = {}
    if abi is None:
        inputs["python"] = "none found"
    else:
        # The version first: "python: 3.12 → 3.13" leads the line key-diff prints.
        inputs["python"] = abi.get("version", "unknown")
        inputs.update((name, value) for name, value in abi.items() if name != "version")
    inputs["pyo3"] = pyo3_version or "not in Cargo.lock"
    if maturin is not None:
        inputs["maturin"] = maturin[0]
    hashed = {k: v for k, v in inputs.items() if isinstance(v, str)}
    if maturin is not None:
        inputs["maturin from"] = maturin[1]
    inputs["config from"] = config_source
    return make_part("python", inputs, hashed)


def env_secrets(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Secret pieces of the build env vars, for ``::add-mask::`` (never stored)."""
    out: list[str] = []
    for name in sorted(environ):
        if is_build_env(name):
            out += [s for s in secret_parts(name, environ[name]) if s not in out]
    return tuple(out)


# --- the wheel key's own parts ----------------------------------------------------


def files_part(name: str, digests: Mapping[str, str]) -> KeyPart:
    """A part over files: label (relative path) → sha256 of the content.

    Shown as ``sha256:`` + 12 hex digits per file, so key-diff can say which
    file changed; the whole digest is hashed.
    """
    inputs: dict[str, InputValue] = {
        label: "sha256:" + digest[:12] for label, digest in sorted(digests.items())
    }
    return make_part(name, inputs, dict(sorted(digests.items())))


def build_part(
    target: tuple[str, str], profile: tuple[str, str], features: tuple[str, str]
) -> KeyPart:
    """Target triple, cargo profile and features, each as ``(value, where it came from)``."""
    inputs: dict[str, InputValue] = {
        "target": target[0],
        "profile": profile[0],
        "features": features[0],
    }
    hashed = dict(inputs)
    inputs["target from"] = target[1]
    inputs["profile from"] = profile[1]
    inputs["features from"] = features[1]
    return make_part("build", inputs, hashed)


def metadata_part(
    pyproject: Mapping[str, Any] | None, files: Mapping[str, str], scrub: PathScrubber
) -> KeyPart:
    """``[project]`` (each field shown) and the readme/license files by content."""
    inputs: dict[str, InputValue] = {}
    project = (pyproject or {}).get("project")
    if isinstance(project, dict):
        for name in sorted(project):
            value = project[name]
            text = scrub(value if isinstance(value, str) else canonical(value))
            inputs[f"project.{name}"] = text
    hashed: dict[str, Any] = {k: v for k, v in inputs.items()}
    for label, digest in sorted(files.items()):
        inputs[label] = "sha256:" + digest[:12]
        hashed[label] = digest
    return make_part("metadata", inputs, hashed)
