"""Cache keys built from named parts, the key manifest, and why a key changed.

A key is a list of named parts.  Each part has a short hash and the readable
inputs behind it, so when a cache misses (or only a restore key matches) a
person can be told *which* input moved: ``lock: serde 1.0.210 → 1.0.211``.

The Rust build-cache key (``kind="rust"``) reads::

    <prefix>-<job>-<os>-<arch>-<toolchain>-<python>-<env>-<lock>

and its restore keys drop the lock hash, then the env hash as well, so a
changed lockfile still restores the build of the same toolchain, Python and
flags (cargo rebuilds only what changed).

Rules every part keeps:

* Nothing machine-specific is hashed: absolute paths of the checkout, the
  temp dir, the home dir, ``CARGO_HOME`` and ``RUSTUP_HOME`` are replaced by
  placeholders (``<PROJECT>``, ``<TMP>``, ``<HOME>``…) before hashing, and files
  are labelled by their path relative to the project.  Two clones of one
  commit in different directories get the same key and the same manifest.
* Only build inputs are read (Cargo.lock, the workspace's Cargo.toml files,
  .cargo/config, rust-toolchain, pyproject.toml's build tables, env vars,
  ``rustc -vV``, the Python/PyO3 config), so edits to tests/, docs/ or a README
  never change the key.
* Secret-looking env vars (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``,
  ``*CREDENTIAL*``, ``*_KEY``…) are never hashed and their values never
  printed: the manifest lists the name with the value ``<redacted>`` so a
  reader sees the variable was noticed and left out on purpose.

New kinds of key (``key --for venv``, ``key --for wheel``) reuse ``KeyPart``,
``make_part``, ``assemble_key``, the manifest format and ``diff_manifests``;
they only add their own part builders and a kind name, which goes into the
key after the prefix so kinds never share cache entries.

Pure functions take data and return data (``*_part``, ``assemble_key``,
``diff_manifests``, renderers); ``compute_key`` gathers the data (files,
``rustc -vV``, interpreter probes) and is the only one that does I/O, besides
``load_manifest``/``write_manifest``.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pyo3_cache.errors import (
    InterpreterError,
    ManifestError,
    OutputLocationError,
    ProjectError,
    ToolchainError,
)
from pyo3_cache.pin.interpreter import InterpreterInfo, default_python, probe_interpreter
from pyo3_cache.project import (
    LockedPackage,
    find_manifest,
    find_workspace_root,
    load_toml,
    locked_version,
    read_lockfile,
    target_dir,
)
from pyo3_cache.redact import REDACTED, is_secret

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 runners
    import tomli as tomllib

MANIFEST_VERSION = 1
"""Format version of the manifest JSON; ``load_manifest`` reads only this one."""

DEFAULT_PREFIX = "v1-pyo3"
KEY_MAX_LENGTH = 512  # actions/cache's limit
HASH_LENGTH = 12  # hex digits per part in the key: 48 bits, ample per job
MANIFEST_FILE_NAME = "key-manifest.json"

# What one readable input is: a string, or a list of strings (a crate locked
# at several versions).  Lists are compared as sets by ``diff_manifests``.
InputValue = Union[str, list[str]]


# --- parts and manifests --------------------------------------------------------


@dataclass(frozen=True)
class KeyPart:
    """One named part of a key: its hash and the readable inputs behind it."""

    name: str
    hash: str
    inputs: dict[str, InputValue]

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class KeyManifest:
    """A key, its restore keys and the parts it was built from.

    ``warnings`` are things the user should hear about while computing the key
    (an unreadable ``PYO3_CONFIG_FILE``...); they are not part of the saved
    manifest, which stays identical across machines and checkouts.
    """

    key: str
    restore_keys: tuple[str, ...]
    parts: tuple[KeyPart, ...]
    kind: str = "rust"
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def part(self, name: str) -> KeyPart:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        from pyo3_cache import __version__

        return {
            "manifest_version": MANIFEST_VERSION,
            "tool": f"pyo3-cache {__version__}",
            "kind": self.kind,
            "key": self.key,
            "restore_keys": list(self.restore_keys),
            "parts": {p.name: p.to_json() for p in self.parts},
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "key manifest") -> KeyManifest:
        """Read a manifest written by ``to_json``; ``ManifestError`` for anything else."""
        if not isinstance(data, dict) or ("parts" not in data and "manifest_version" not in data):
            raise ManifestError(f"{source} is not a pyo3-cache key manifest")
        version = data.get("manifest_version")
        if version != MANIFEST_VERSION:
            tool = data.get("tool")
            made_by = f" (written by {tool})" if isinstance(tool, str) else ""
            raise ManifestError(
                f"{source} has manifest format version {version!r}{made_by}; this pyo3-cache "
                f"reads version {MANIFEST_VERSION}: compute both manifests with one version"
            )
        key = data.get("key")
        restore = data.get("restore_keys")
        parts = data.get("parts")
        kind = data.get("kind", "rust")
        if not isinstance(key, str) or not key:
            raise ManifestError(f"{source} has no key")
        if not isinstance(restore, list) or not all(isinstance(r, str) for r in restore):
            raise ManifestError(f"{source}: restore_keys is not a list of strings")
        if not isinstance(parts, dict):
            raise ManifestError(f"{source}: parts is not an object")
        if not isinstance(kind, str):
            raise ManifestError(f"{source}: kind is not a string")
        out: list[KeyPart] = []
        for name, body in parts.items():
            if not isinstance(body, dict) or not isinstance(body.get("hash"), str):
                raise ManifestError(f"{source}: part {name!r} has no hash")
            inputs = body.get("inputs", {})
            if not isinstance(inputs, dict):
                raise ManifestError(f"{source}: inputs of part {name!r} are not an object")
            clean: dict[str, InputValue] = {}
            for label, value in inputs.items():
                if isinstance(value, str):
                    clean[str(label)] = value
                elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                    clean[str(label)] = [str(v) for v in value]
                else:
                    raise ManifestError(
                        f"{source}: input {label!r} of part {name!r} is not text or a list of text"
                    )
            out.append(KeyPart(str(name), body["hash"], clean))
        return cls(key=key, restore_keys=tuple(restore), parts=tuple(out), kind=kind)


def _canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def short_hash(data: Any) -> str:
    """A short, stable hash of JSON-like ``data`` (sorted keys, so order-free)."""
    return hashlib.sha256(_canonical(data).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def content_label(text: str | bytes) -> str:
    """How a hashed file shows in a manifest: ``sha256:`` and 12 hex digits."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:HASH_LENGTH]


def make_part(name: str, inputs: Mapping[str, InputValue], hashed: Any = None) -> KeyPart:
    """A part whose hash covers ``hashed`` (default: the readable ``inputs`` themselves).

    ``hashed`` lets a part hash more than it shows (checksums, whole files) or
    less (labels saying where a value came from, redacted variables).
    """
    material = dict(inputs) if hashed is None else hashed
    return KeyPart(name, short_hash([name, material]), dict(inputs))


_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._+=@-]+")


def key_segment(text: str, limit: int = 100) -> str:
    """A user-given piece of a key made safe: no commas or spaces, bounded length.

    actions/cache refuses commas; spaces and other odd characters are turned
    into ``_`` too so keys stay one word.  An over-long piece keeps its start
    and a hash of the whole, so distinct inputs stay distinct.
    """
    clean = _UNSAFE_KEY_CHARS.sub("_", text.strip()).strip("-")
    if len(clean) > limit:
        clean = clean[: limit - HASH_LENGTH - 1] + "_" + short_hash(text)
    return clean


def assemble_key(
    kind: str,
    head: Sequence[str],
    parts: Sequence[KeyPart],
    hashed_parts: Sequence[str],
    ladder: Sequence[int],
    warnings: Sequence[str] = (),
) -> KeyManifest:
    """Join readable ``head`` segments and the hashes of ``hashed_parts`` into a key.

    ``ladder``: for each restore key, how many of ``hashed_parts`` it keeps
    (most specific first).  Restore keys end in ``-`` so a prefix match never
    runs into a longer segment (job ``build`` must not match ``build-docs``).
    """
    by_name = {p.name: p for p in parts}
    segments = [s for s in head if s]
    hashes = [by_name[name].hash for name in hashed_parts]
    key = "-".join([*segments, *hashes])
    restore = tuple("-".join([*segments, *hashes[:n]]) + "-" for n in ladder)
    if len(key) > KEY_MAX_LENGTH:  # only reachable through absurd prefixes
        raise ProjectError(f"the cache key would be {len(key)} characters; keep prefixes short")
    return KeyManifest(key, restore, tuple(parts), kind, tuple(warnings))


# --- keeping machine paths out --------------------------------------------------


@dataclass(frozen=True)
class PathScrubber:
    """Replaces this machine's absolute paths by placeholders, longest first."""

    replacements: tuple[tuple[str, str], ...]

    def __call__(self, text: str) -> str:
        for path, placeholder in self.replacements:
            if path in text:
                # Only whole path components: /tmp must not eat /tmpfs.
                text = re.sub(re.escape(path) + r"(?=$|[\\/\s\"',;:=)\]}])", placeholder, text)
        return text


def path_scrubber(project_root: Path, environ: Mapping[str, str]) -> PathScrubber:
    """The scrubber for a project: checkout, workspace, temp, homes of cargo and rustup."""
    candidates: list[tuple[str, str]] = [(str(project_root), "<PROJECT>")]
    for variable, placeholder in (
        ("GITHUB_WORKSPACE", "<WORKSPACE>"),
        ("CARGO_HOME", "<CARGO_HOME>"),
        ("RUSTUP_HOME", "<RUSTUP_HOME>"),
        ("RUNNER_TEMP", "<TMP>"),
        ("RUNNER_TOOL_CACHE", "<TOOL_CACHE>"),
        ("TMPDIR", "<TMP>"),
        ("HOME", "<HOME>"),
    ):
        value = environ.get(variable)
        if value:
            candidates.append((value, placeholder))
    candidates.append((tempfile.gettempdir(), "<TMP>"))
    candidates.append((os.path.expanduser("~"), "<HOME>"))
    seen: dict[str, str] = {}
    for path, placeholder in candidates:
        for variant in {path, os.path.realpath(path)}:
            variant = variant.rstrip("/\\")
            # A root or drive ("/", "C:") would rewrite every path: skip it.
            if len(variant) > 3 and variant not in seen:
                seen[variant] = placeholder
    ordered = sorted(seen.items(), key=lambda item: len(item[0]), reverse=True)
    return PathScrubber(tuple(ordered))


def _relative_label(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return path.as_posix()


# --- prefix ---------------------------------------------------------------------

_OS_NAMES = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}
_ARCH_NAMES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def os_name(system: str | None = None) -> str:
    system = system or platform.system()
    return _OS_NAMES.get(system, system.lower() or "unknown")


def arch_name(machine: str | None = None) -> str:
    machine = (machine or platform.machine()).lower()
    return _ARCH_NAMES.get(machine, machine or "unknown")


def prefix_part(prefix: str, job: str, os_label: str, arch: str) -> KeyPart:
    """The readable head of the key: prefix, job (or shared key), os, arch."""
    return make_part("prefix", {"prefix": prefix, "job": job, "os": os_label, "arch": arch})


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
        if is_secret(name, environ[name]):
            inputs[name] = REDACTED  # shown, never hashed
            continue
        value = replaced[name] if name in replaced else scrub(environ[name])
        inputs[name] = value
        hashed[name] = value
    return make_part("env", inputs, hashed)


# --- lock -----------------------------------------------------------------------

_CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"
_DEP_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")


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
    for table in _DEP_TABLES:
        _drop_path_dep_versions(out.get(table))
    targets = out.get("target")
    if isinstance(targets, dict):
        for spec in targets.values():
            if isinstance(spec, dict):
                for table in _DEP_TABLES:
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
        text = scrub(_canonical(normalize_manifest(manifests[label])))
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
                    value if isinstance(value, str) else _canonical(value)
                )
    hashed = {
        "packages": locked,
        "manifests": hashed_manifests,
        "cargo_configs": hashed_configs,
        "pyproject": scrub(_canonical(build_tables)),
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


# --- gathering the inputs (I/O) -------------------------------------------------


def _which(program: str, environ: Mapping[str, str]) -> str | None:
    return shutil.which(program, path=environ.get("PATH", os.defpath))


def run_rustc_version(cwd: Path, environ: Mapping[str, str]) -> str:
    """``rustc -vV`` as cargo would run it here (``$RUSTC`` honoured, rust-toolchain too)."""
    rustc = environ.get("RUSTC") or "rustc"
    found = _which(rustc, environ) if os.sep not in rustc else rustc
    if not found:
        raise ToolchainError(
            f"{rustc} not found on PATH; install Rust (e.g. with rustup) before computing the key"
        )
    try:
        proc = subprocess.run(
            [found, "-vV"],
            cwd=cwd,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=600,  # rustup may install the toolchain a rust-toolchain file names
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ToolchainError(f"{rustc} could not be run: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"`{rustc} -vV` did not finish within 600 s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in lines if ln.startswith("error")), lines[-1] if lines else "")
        raise ToolchainError(
            f"`{rustc} -vV` failed with exit code {proc.returncode}: {reason[:200]}"
        )
    return proc.stdout


def _upward(start: Path) -> Iterable[Path]:
    yield start
    yield from start.parents


def find_toolchain_file(start: Path) -> Path | None:
    """The rust-toolchain file rustup would use from ``start`` (nearest wins)."""
    for folder in _upward(start):
        for name in ("rust-toolchain", "rust-toolchain.toml"):
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def find_cargo_configs(start: Path, environ: Mapping[str, str]) -> list[tuple[str, Path]]:
    """Cargo config files cargo reads for a build in ``start``, with readable labels.

    ``$CARGO_HOME/config.toml`` is labelled by the variable, so a checkout
    below the home dir and one elsewhere see the same label.
    """
    found: list[tuple[str, Path]] = []
    seen: set[str] = set()
    home = Path(environ["CARGO_HOME"]) if environ.get("CARGO_HOME") else Path.home() / ".cargo"
    for name in ("config.toml", "config"):
        candidate = home / name
        if candidate.is_file():
            found.append((f"$CARGO_HOME/{name}", candidate))
            seen.add(os.path.realpath(candidate))
    for folder in _upward(start):
        for name in ("config.toml", "config"):
            candidate = folder / ".cargo" / name
            if candidate.is_file() and os.path.realpath(candidate) not in seen:
                seen.add(os.path.realpath(candidate))
                found.append(("", candidate))
    return found


def _dependency_paths(data: Mapping[str, Any]) -> list[str]:
    tables: list[Any] = [data.get(t) for t in _DEP_TABLES]
    workspace = data.get("workspace")
    if isinstance(workspace, dict):
        tables.append(workspace.get("dependencies"))
    targets = data.get("target")
    if isinstance(targets, dict):
        for spec in targets.values():
            if isinstance(spec, dict):
                tables += [spec.get(t) for t in _DEP_TABLES]
    patches = data.get("patch")  # [patch.crates-io] foo = { path = "../foo" }
    if isinstance(patches, dict):
        tables += list(patches.values())
    paths: list[str] = []
    for table in tables:
        if isinstance(table, dict):
            for spec in table.values():
                if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                    paths.append(spec["path"])
    return paths


def workspace_manifests(root: Path, package_manifest: Path) -> dict[Path, dict[str, Any]]:
    """Every Cargo.toml of the workspace: root, members (globs expanded), path deps.

    Parsed here rather than asked of ``cargo metadata``: no cargo run (and no
    network) on the key's path, and the same answer offline.
    """
    found: dict[Path, dict[str, Any]] = {}
    pending: list[Path] = [root / "Cargo.toml", package_manifest]
    root_data = load_toml(root / "Cargo.toml", "Cargo.toml")
    workspace = root_data.get("workspace")
    if isinstance(workspace, dict):
        excluded = set()
        for pattern in workspace.get("exclude", []) or []:
            if isinstance(pattern, str):
                excluded |= {p.resolve() for p in root.glob(pattern)}
        for pattern in workspace.get("members", []) or []:
            if not isinstance(pattern, str):
                continue
            for folder in sorted(root.glob(pattern)):
                candidate = folder / "Cargo.toml"
                if folder.resolve() not in excluded and candidate.is_file():
                    pending.append(candidate)
    while pending:
        manifest = pending.pop(0).resolve()
        if manifest in found:
            continue
        data = root_data if manifest == (root / "Cargo.toml").resolve() else None
        if data is None:
            data = load_toml(manifest, "Cargo.toml")
        found[manifest] = data
        for dep in _dependency_paths(data):
            candidate = (manifest.parent / dep / "Cargo.toml").resolve()
            if candidate.is_file() and candidate not in found:
                pending.append(candidate)
    return found


def find_pyproject(start: Path, workspace_root: Path) -> Path | None:
    """The pyproject.toml of the Python package building this crate.

    Next to the crate, else the nearest one upward (maturin's ``manifest-path``
    lets the crate sit in a subdirectory, ``rust/Cargo.toml`` say), but never
    above the workspace root's parent nor above the repository root, so a
    stray file outside the checkout is not picked up.
    """
    stop = workspace_root.parent
    for folder in _upward(start):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
        if folder == stop or (folder / ".git").exists():
            return None
    return None


def installed_maturin_version(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``maturin --version`` of the maturin on PATH: what ``maturin build``/``develop`` use."""
    found = _which("maturin", environ)
    if not found:
        return None
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        proc = subprocess.run(
            [found, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
        )
        words = proc.stdout.split()
        if proc.returncode == 0 and len(words) >= 2 and words[0] == "maturin":
            return words[1], "maturin --version"
    return None


def maturin_requirement(pyproject: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """maturin's requirement in ``[build-system] requires``: what PEP 517 front-ends install.

    The fallback when no maturin is on PATH.  Returns ``(specifier, where)``.
    """
    build_system = (pyproject or {}).get("build-system")
    requires = build_system.get("requires") if isinstance(build_system, dict) else None
    if isinstance(requires, list):
        for requirement in requires:
            text = str(requirement).strip()
            name = re.split(r"[\s<>=!~;\[(@]", text, maxsplit=1)[0]
            if name.lower().replace("_", "-") == "maturin":
                spec = text[len(name) :].strip()
                return spec or "any", "pyproject.toml build-system.requires"
    return None


def _describe_identity(info: InterpreterInfo) -> str:
    ident = info.identity()
    abiflags = ident["abiflags"]
    return (
        f"{ident['implementation']} {ident['version']}"
        + (f" abiflags={abiflags}" if abiflags else "")
        + f" soabi={ident['soabi'] or '-'} ext_suffix={ident['ext_suffix'] or '-'}"
        + f" platform={ident['platform']} {ident['pointer_width']}-bit"
        + f" magic={ident['magic_number'] or '-'}"
    )


class _Probes:
    """Interpreter probes of one key computation: each path asked once, all at once.

    Probes run in threads next to ``rustc -vV`` and ``maturin --version``: the
    key's cost is then the slowest subprocess, not their sum.
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._futures: dict[str, Future[InterpreterInfo]] = {}

    def start(self, python: str) -> None:
        if python not in self._futures:
            self._futures[python] = self._pool.submit(probe_interpreter, python)

    def get(self, python: str) -> InterpreterInfo:
        self.start(python)
        return self._futures[python].result()


def _config_file_abi(path: str) -> tuple[dict[str, str] | None, str | None]:
    """ABI fields of the PyO3 config file at ``path``, or a reason it has none."""
    from pyo3_cache.pin.pyo3_config import Pyo3Config

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"cannot read PYO3_CONFIG_FILE {path}: {exc.strerror}"
    except UnicodeDecodeError:
        return None, f"PYO3_CONFIG_FILE {path} is not UTF-8 text"
    try:
        return Pyo3Config.parse(text).abi_fields(), None
    except ValueError as exc:
        return None, f"PYO3_CONFIG_FILE {path} is not a PyO3 config ({exc})"


def _python_abi(
    python: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    pyo3_version: str | None,
    probes: _Probes,
    warnings: list[str],
) -> tuple[dict[str, str] | None, str]:
    from pyo3_cache.pin.pyo3_config import pyo3_line, resolve_pyo3_config

    config_file = environ.get("PYO3_CONFIG_FILE")
    if python is None and config_file:
        abi, problem = _config_file_abi(config_file)
        if abi is not None:
            return abi, "PYO3_CONFIG_FILE"
        warnings.append(f"{problem}; using the interpreter instead")
    if python is not None:
        info = probes.get(os.fspath(python))  # the user named it: errors are theirs to see
        label = "--python"
    else:
        label = "PYO3_PYTHON" if environ.get("PYO3_PYTHON") else "python3 on PATH"
        try:
            chosen = environ.get("PYO3_PYTHON") or default_python()
            info = probes.get(chosen)
        except InterpreterError as exc:
            warnings.append(f"no Python for the key's python part: {exc}")
            return None, "no interpreter"
    config = resolve_pyo3_config(info, pyo3_line(pyo3_version))
    return config.abi_fields(), f"resolved from {label}"


@dataclass(frozen=True)
class ProjectFiles:
    """Where a project's key inputs live, found from its Cargo.toml."""

    manifest: Path
    workspace_root: Path
    project_root: Path
    pyproject: Path | None

    @classmethod
    def find(cls, manifest_path: str | os.PathLike[str] | None = None) -> ProjectFiles:
        manifest = find_manifest(manifest_path)
        root = find_workspace_root(manifest)
        pyproject = find_pyproject(manifest.parent, root)
        # The project root is what holds both the crate(s) and the Python
        # package; file labels are relative to it.
        project_root = root
        if pyproject is not None:
            project_root = Path(os.path.commonpath([root, pyproject.parent]))
        return cls(manifest, root, project_root, pyproject)


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
    # side by side while the files are parsed; see _Probes.
    with ThreadPoolExecutor(max_workers=4) as pool:
        probes = _Probes(pool)
        rustc_future = pool.submit(run_rustc_version, files.manifest.parent, env)
        maturin_future = pool.submit(installed_maturin_version, env)
        if env.get("PYO3_PYTHON"):
            probes.start(env["PYO3_PYTHON"])
        if python is not None:
            probes.start(os.fspath(python))
        inputs = _read_project_inputs(files, env)
        pyo3_version = locked_version(inputs.packages, "pyo3")
        abi, config_source = _python_abi(python, env, pyo3_version, probes, warnings)
        replaced = _replaced_env(env, probes, warnings)
        rustc_vv = rustc_future.result()
        maturin = maturin_future.result() or maturin_requirement(inputs.pyproject)

    job = shared_key if shared_key else env.get("GITHUB_JOB", "")
    if extra_key:
        job = f"{job}-{extra_key}" if job else extra_key
    head = [key_segment(prefix_key or DEFAULT_PREFIX), key_segment(job), os_name(), arch_name()]
    parts = [
        prefix_part(head[0], head[1], head[2], head[3]),
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
    )


@dataclass(frozen=True)
class _ProjectInputs:
    packages: list[LockedPackage]
    manifests: dict[str, dict[str, Any]]
    cargo_configs: dict[str, str]
    pyproject: dict[str, Any] | None
    toolchain_file: tuple[str, str] | None


def _read_text(path: Path, what: str) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ProjectError(f"{what} at {path} is not UTF-8 text") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {what} at {path}: {exc.strerror}") from None


def _read_project_inputs(files: ProjectFiles, env: Mapping[str, str]) -> _ProjectInputs:
    lock_path = files.workspace_root / "Cargo.lock"
    if not lock_path.is_file():
        raise ProjectError(
            f"Cargo.lock not found at {lock_path}; run `cargo generate-lockfile` and commit it"
        )
    packages = read_lockfile(lock_path)
    members = workspace_manifests(files.workspace_root, files.manifest)
    manifests = {_relative_label(p, files.project_root): d for p, d in members.items()}
    configs = {
        label or _relative_label(path, files.project_root): _read_text(path, "cargo config")
        for label, path in find_cargo_configs(files.manifest.parent, env)
    }
    pyproject = None
    if files.pyproject is not None:
        pyproject = load_toml(files.pyproject, "pyproject.toml")
    toolchain_path = find_toolchain_file(files.manifest.parent)
    toolchain_file = None
    if toolchain_path is not None:
        toolchain_file = (
            _relative_label(toolchain_path, files.project_root),
            _read_text(toolchain_path, toolchain_path.name),
        )
    return _ProjectInputs(packages, manifests, configs, pyproject, toolchain_file)


def _replaced_env(env: Mapping[str, str], probes: _Probes, warnings: list[str]) -> dict[str, str]:
    """What stands in the env part for the two PyO3 variables whose values are paths."""
    replaced: dict[str, str] = {}
    if env.get("PYO3_CONFIG_FILE"):
        config_abi, problem = _config_file_abi(env["PYO3_CONFIG_FILE"])
        replaced["PYO3_CONFIG_FILE"] = (
            "<missing or unreadable file>"
            if config_abi is None
            else "config " + content_label(_canonical(config_abi))
        )
        if problem and not any(problem in w for w in warnings):
            warnings.append(problem)
    if env.get("PYO3_PYTHON"):
        try:
            replaced["PYO3_PYTHON"] = _describe_identity(probes.get(env["PYO3_PYTHON"]))
        except InterpreterError as exc:
            replaced["PYO3_PYTHON"] = "<not a working interpreter>"
            warnings.append(f"PYO3_PYTHON: {exc}")
    return replaced


# --- the venv key (issue 8: Python environment / pip / uv caches) ------------

# Files that pin a Python environment's contents, looked for in the project dir.
_PYTHON_LOCK_GLOBS = (
    "uv.lock",
    "pylock.toml",
    "pylock.*.toml",
    "poetry.lock",
    "pdm.lock",
    "requirements*.txt",
    "requirements/*.txt",
    "constraints*.txt",
)


def interpreter_part(info: InterpreterInfo) -> KeyPart:
    """The interpreter a Python environment is made for, down to its bytecode magic.

    The full version carries the pre-release level and the magic number is
    shown as a number (3495 for 3.11): 3.14.0rc2 and rc3 differ only there, and
    a cache keyed on "3.14" kept serving stale ``.pyc`` files (seed 003).
    """
    inputs: dict[str, InputValue] = {
        "python": info.full_version,
        "implementation": info.implementation,
        "magic": "" if info.magic_number is None else str(info.magic_number),
        "cache_tag": info.cache_tag or "",
        "abiflags": info.effective_abiflags(),
        "soabi": info.soabi or "",
        "platform": info.platform,
        "pointer_width": str(info.calcsize_pointer * 8),
    }
    if info.is_prerelease:
        inputs["pre-release"] = info.releaselevel
    return make_part("python", inputs)


def python_lock_part(
    files: Mapping[str, str], pyproject: Mapping[str, Any] | None, scrub: PathScrubber
) -> KeyPart:
    """Lock and requirements files (by content) and pyproject.toml's dependency tables."""
    inputs: dict[str, InputValue] = {}
    hashed: dict[str, Any] = {}
    for label in sorted(files):
        text = scrub(files[label])
        inputs[label] = content_label(text)
        hashed[label] = text
    if pyproject is not None:
        project = pyproject.get("project")
        tables: dict[str, Any] = {}
        if isinstance(project, dict):
            for name in ("requires-python", "dependencies", "optional-dependencies"):
                if name in project:
                    tables[f"project.{name}"] = project[name]
        for name in ("dependency-groups", "build-system"):
            if name in pyproject:
                tables[name] = pyproject[name]
        for label, value in tables.items():
            text = scrub(value if isinstance(value, str) else _canonical(value))
            inputs[label] = text if len(text) <= 120 else content_label(text)
            hashed[label] = text
    return make_part("lock", inputs, hashed)


def find_python_project(path: str | os.PathLike[str] | None = None) -> Path:
    """The directory of a Python project: ``path`` (a dir or a file in it), else cwd upward."""
    if path is not None:
        given = Path(path)
        folder = given if given.is_dir() else given.parent
        if not folder.is_dir():
            raise ProjectError(f"project directory {path} not found")
        return folder.resolve()
    here = Path.cwd().resolve()
    for folder in _upward(here):
        if (folder / "pyproject.toml").is_file():
            return folder
        if (folder / ".git").exists():
            break
    return here


def compute_venv_key(
    project: str | os.PathLike[str] | None = None,
    *,
    prefix_key: str = DEFAULT_PREFIX,
    shared_key: str | None = None,
    extra_key: str | None = None,
    python: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeyManifest:
    """A key for Python environment / pip / uv caches of the project at ``project``.

    Parts: ``python`` (implementation, full version with pre-release level,
    bytecode magic, cache tag, abiflags, platform) and ``lock`` (uv.lock,
    pylock*.toml, requirements*.txt..., pyproject.toml's dependencies).  The
    restore key drops the lock: a cache of the same interpreter is reused.
    A pre-release interpreter is called out in ``warnings``.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    folder = find_python_project(project)
    pyproject_path = folder / "pyproject.toml"
    pyproject = load_toml(pyproject_path, "pyproject.toml") if pyproject_path.is_file() else None
    files: dict[str, str] = {}
    for pattern in _PYTHON_LOCK_GLOBS:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                files[_relative_label(path, folder)] = _read_text(path, path.name)
    if pyproject is None and not files:
        raise ProjectError(
            f"no pyproject.toml, uv.lock, pylock.toml or requirements*.txt in {folder}"
        )
    info = probe_interpreter(python)
    warnings: list[str] = []
    from pyo3_cache.bytecode.magic_numbers import prerelease_warning

    # The magic table knows pre-release bytecode even where the interpreter
    # calls itself final (a distro patch build); the release level covers the rest.
    magic_note = prerelease_warning(info.magic_number) if info.magic_number else None
    if magic_note:
        warnings.append(f"Python {info.full_version}: {magic_note}; the key carries the magic")
    elif info.is_prerelease:
        warnings.append(
            f"Python {info.full_version} is a pre-release: its bytecode magic "
            f"({info.magic_number}) may change before the final release, so the key "
            "carries the full version and the magic number"
        )
    job = shared_key if shared_key else env.get("GITHUB_JOB", "")
    if extra_key:
        job = f"{job}-{extra_key}" if job else extra_key
    head = [
        key_segment(prefix_key or DEFAULT_PREFIX),
        "venv",  # the kind: venv entries never meet the Rust build cache's
        key_segment(job),
        os_name(),
        arch_name(),
    ]
    parts = [
        prefix_part(head[0], head[2], head[3], head[4]),
        interpreter_part(info),
        python_lock_part(files, pyproject, path_scrubber(folder, env)),
    ]
    return assemble_key(
        "venv", head, parts, hashed_parts=("python", "lock"), ladder=(1,), warnings=warnings
    )


# --- manifest files -------------------------------------------------------------


def load_manifest(path: str | os.PathLike[str]) -> KeyManifest:
    """Read a manifest file; ``ManifestError`` (one line) for anything unusable."""
    where = os.fspath(path)
    try:
        text = Path(where).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ManifestError(f"key manifest {where} not found") from None
    except IsADirectoryError:
        raise ManifestError(f"key manifest {where} is a directory") from None
    except UnicodeDecodeError:
        raise ManifestError(f"key manifest {where} is not UTF-8 text") from None
    except OSError as exc:
        raise ManifestError(f"cannot read key manifest {where}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"key manifest {where} is not JSON: {exc}") from None
    except RecursionError:
        raise ManifestError(f"key manifest {where} is nested too deeply to read") from None
    return KeyManifest.from_json(data, f"key manifest {where}")


def write_manifest(manifest: KeyManifest, path: str | os.PathLike[str]) -> Path:
    """Write ``manifest`` as JSON (atomically); ``OutputLocationError`` if it cannot be."""
    target = Path(os.path.abspath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputLocationError(f"cannot create {target.parent}: {exc.strerror}") from None
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".key-manifest-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputLocationError(f"cannot write to {target.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputLocationError(f"cannot write {target}: {exc.strerror}") from None
    return target


def default_manifest_path(
    manifest_path: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None = None,
    kind: str = "rust",
) -> Path:
    """Where ``key --github`` writes the new manifest when not told.

    Under ``$RUNNER_TEMP`` on GitHub, because the restore step that follows
    extracts the *old* manifest into the target dir (``pyo3-cache/key-manifest.json``)
    and must not overwrite the new one; elsewhere next to it in the target dir.
    Other kinds get their own name (``venv-key-manifest.json``), and off GitHub
    a venv key, which has no target dir, goes to the temp dir.
    """
    env = os.environ if environ is None else environ
    name = MANIFEST_FILE_NAME if kind == "rust" else f"{kind}-{MANIFEST_FILE_NAME}"
    if env.get("RUNNER_TEMP"):
        return Path(env["RUNNER_TEMP"]) / "pyo3-cache" / name
    if kind != "rust":
        return Path(tempfile.gettempdir()) / "pyo3-cache" / name
    root = find_workspace_root(find_manifest(manifest_path))
    return target_dir(root) / "pyo3-cache" / f"new-{name}"


# --- why a key changed ----------------------------------------------------------


@dataclass(frozen=True)
class InputChange:
    """One readable input that differs between two manifests."""

    name: str
    change: str  # "changed", "added" or "removed"
    old: str | None = None
    new: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"input": self.name, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class PartChange:
    """A part whose hash differs, with the inputs that explain it."""

    part: str
    change: str  # "changed", "added" or "removed"
    old_hash: str | None
    new_hash: str | None
    inputs: tuple[InputChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "change": self.change,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "inputs": [c.to_json() for c in self.inputs],
            "summary": describe_part_change(self),
        }


@dataclass(frozen=True)
class KeyDiff:
    """What differs between an old manifest (the cache's) and a new one (this run's)."""

    old_key: str
    new_key: str
    changed: tuple[PartChange, ...]
    unchanged: tuple[str, ...]
    restore_match: int | None
    """Which of the new restore keys (0-based) the old key starts with, if any."""
    new_restore_keys: tuple[str, ...] = ()
    kind: str = "rust"

    @property
    def same(self) -> bool:
        return self.old_key == self.new_key and not self.changed

    def lines(self) -> list[str]:
        """One line per changed part, e.g. ``lock: serde 1.0.210 → 1.0.211``."""
        return [describe_part_change(p) for p in self.changed]

    def to_json(self) -> dict[str, Any]:
        return {
            "old_key": self.old_key,
            "new_key": self.new_key,
            "same": self.same,
            "restore_match": self.restore_match,
            "changed": [p.to_json() for p in self.changed],
            "unchanged": list(self.unchanged),
        }


def _as_set(value: InputValue | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def diff_inputs(
    old: Mapping[str, InputValue], new: Mapping[str, InputValue]
) -> tuple[InputChange, ...]:
    """Input-by-input changes; list values (several locked versions) compare as sets."""
    changes: list[InputChange] = []
    # In the order the part lists its inputs (its most telling ones first).
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            kind = "added" if before is None else "removed"
            for value in sorted(_as_set(after if before is None else before)):
                changes.append(
                    InputChange(
                        name,
                        kind,
                        None if kind == "added" else value,
                        value if kind == "added" else None,
                    )
                )
            continue
        if isinstance(before, str) and isinstance(after, str):
            changes.append(InputChange(name, "changed", before, after))
            continue
        gone, came = (
            sorted(_as_set(before) - _as_set(after)),
            sorted(_as_set(after) - _as_set(before)),
        )
        if len(gone) == 1 and len(came) == 1:
            changes.append(InputChange(name, "changed", gone[0], came[0]))
            continue
        changes += [InputChange(name, "removed", old=v) for v in gone]
        changes += [InputChange(name, "added", new=v) for v in came]
    return tuple(changes)


def diff_manifests(old: KeyManifest, new: KeyManifest) -> KeyDiff:
    """Which parts changed between ``old`` and ``new``, and which inputs inside them.

    Parts are compared by hash; inputs are listed only for parts whose hash
    moved (a redacted variable or a "where it came from" label never counts).
    """
    if old.kind != new.kind:
        raise ManifestError(f"cannot compare a {old.kind!r} key manifest with a {new.kind!r} one")
    old_parts = {p.name: p for p in old.parts}
    new_parts = {p.name: p for p in new.parts}
    order = list(new.part_names) + [n for n in old.part_names if n not in new_parts]
    changed: list[PartChange] = []
    unchanged: list[str] = []
    for name in order:
        before, after = old_parts.get(name), new_parts.get(name)
        if before is not None and after is not None and before.hash == after.hash:
            unchanged.append(name)
            continue
        kind = "added" if before is None else "removed" if after is None else "changed"
        inputs = diff_inputs(before.inputs if before else {}, after.inputs if after else {})
        changed.append(
            PartChange(
                name,
                kind,
                before.hash if before else None,
                after.hash if after else None,
                inputs,
            )
        )
    match = next(
        (i for i, prefix in enumerate(new.restore_keys) if old.key.startswith(prefix)), None
    )
    return KeyDiff(
        old.key,
        new.key,
        tuple(changed),
        tuple(unchanged),
        match,
        tuple(new.restore_keys),
        kind=new.kind,
    )


# --- rendering ------------------------------------------------------------------

_MAX_LISTED = 20


def _simple(value: str) -> bool:
    return bool(value) and len(value) <= 48 and not any(ch.isspace() for ch in value)


def describe_input_change(part: str, change: InputChange) -> str:
    """``serde 1.0.210 → 1.0.211``, ``added: foo 0.1.0``, ``RUSTFLAGS changed``."""
    # An input named after its part reads better without the name: "python: 3.12 → 3.13".
    name = "" if change.name == part else change.name
    if change.change in ("added", "removed"):
        value = change.new if change.change == "added" else change.old
        shown = ""
        if value and value != REDACTED and "sha256:" not in value:
            shown = value if _simple(value) else f'"{value[:60]}"'
        return f"{change.change}: " + " ".join(x for x in (name or part, shown) if x)
    old, new = change.old or "", change.new or ""
    if REDACTED in (old, new) or "sha256:" in old or "sha256:" in new:
        return f"{name or part} changed"
    if _simple(old) and _simple(new):
        return " ".join(x for x in (name, old, "→", new) if x)
    if len(old) + len(new) <= 80:
        return f'{name or part} changed ("{old}" → "{new}")'
    return f"{name or part} changed"


def _follows(headline: InputChange, other: InputChange) -> bool:
    """Whether ``other`` changed only by the headline's old value becoming its new one."""
    if other.change != "changed" or not other.old or not other.new:
        return False
    old, new = headline.old or "", headline.new or ""
    for a, b in ((old, new), (old.replace(".", ""), new.replace(".", ""))):
        if a and a in other.old and other.old.replace(a, b) == other.new:
            return True
    return False


def describe_part_change(change: PartChange) -> str:
    """One line for one changed part, written for someone whose cache only partly matched."""
    if change.change == "added":
        return f"{change.part}: new part of the key"
    if change.change == "removed":
        return f"{change.part}: no longer part of the key"
    inputs = change.inputs
    followers: list[str] = []
    headline = next((c for c in inputs if c.name == change.part and c.change == "changed"), None)
    if headline is not None and headline.old and headline.new:
        # Inputs that only restate the headline ("python3.12" → "python3.13",
        # ".cpython-312-…" → ".cpython-313-…") are named, not spelled out.
        followers = [c.name for c in inputs if c is not headline and _follows(headline, c)]
        inputs = tuple(c for c in inputs if c.name not in followers)
    with_it = f" (with it {', '.join(followers)})" if followers else ""
    pieces = [
        describe_input_change(change.part, c) + (with_it if c is headline else "") for c in inputs
    ]
    if not pieces:
        # Only hashed content moved (a package checksum, a file's bytes).
        return f"{change.part}: changed (checksums or hashed file content)"
    if len(pieces) > _MAX_LISTED:
        more = len(pieces) - _MAX_LISTED
        pieces = [*pieces[:_MAX_LISTED], f"and {more} more (see key-diff --format json)"]
    return f"{change.part}: " + "; ".join(pieces)


_RUNG_NAMES = ("lock", "lock and env")


def render_diff_text(diff: KeyDiff) -> str:
    """The ``key-diff`` report: what changed, then what did not."""
    if diff.same:
        return f"The keys are the same: nothing changed.\nkey: {diff.new_key}\n"
    lines = [
        f"The cache key changed in {len(diff.changed)} of "
        f"{len(diff.changed) + len(diff.unchanged)} parts:"
    ]
    lines += [f"  {line}" for line in diff.lines()]
    if diff.unchanged:
        lines.append(f"Unchanged: {', '.join(diff.unchanged)}.")
    if diff.restore_match is not None:
        dropped = _RUNG_NAMES[diff.restore_match] if diff.restore_match < 2 else "more"
        lines.append(
            f"The old cache still matches restore key {diff.restore_match + 1} (without the "
            f"{dropped} hash): it is restored and cargo rebuilds only what changed."
        )
    elif diff.kind == "wheel":
        lines.append("Wheel keys have no fallback: the wheel is built again and saved.")
    else:
        lines.append("No restore key matches the old cache: the build starts cold.")
    lines.append(f"old key: {diff.old_key}")
    lines.append(f"new key: {diff.new_key}")
    return "\n".join(lines) + "\n"


def part_summary(part: KeyPart, kind: str = "rust") -> str:
    """A few words on a part for the key's table of parts."""
    inputs = part.inputs
    if kind == "wheel":
        from pyo3_cache.keys.wheel import part_summary as wheel_part_summary

        words = wheel_part_summary(part)
        if words is not None:
            return words
    if kind == "venv" and part.name == "lock":
        names = list(inputs)
        return ", ".join(names) if names else "nothing locked"

    def get(name: str) -> str:
        value = inputs.get(name, "")
        return value if isinstance(value, str) else ", ".join(value)

    if part.name == "prefix":
        return " ".join(v for v in (get("prefix"), get("job"), get("os"), get("arch")) if v)
    if part.name == "toolchain":
        extra = f", {get('channel')}" if "channel" in inputs else ""
        return f"rustc {get('rustc')} ({get('host')}, LLVM {get('LLVM')}{extra})"
    if kind == "venv" and part.name == "python":
        pre = f", {get('pre-release')} pre-release" if "pre-release" in inputs else ""
        return (
            f"{get('implementation')} {get('python')} (magic {get('magic')}, "
            f"{get('cache_tag')}, {get('platform')}{pre})"
        )
    if part.name == "python":
        bits = [f"{get('implementation')} {get('python')}".strip() or get("python")]
        bits.append(f"pyo3 {get('pyo3')}")
        if "maturin" in inputs:
            bits.append(f"maturin {get('maturin')}")
        return ", ".join(bits)
    if part.name == "env":
        names = list(inputs)
        if not names:
            return "no build variables set"
        shown = ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")
        return f"{len(names)} variable{'s' if len(names) != 1 else ''}: {shown}"
    if part.name == "lock":
        crates = [k for k in inputs if "." not in k and "/" not in k]
        crate_names = set(crates)  # a list here made `key` quadratic in Cargo.lock's size
        files = [k for k in inputs if k not in crate_names and k.endswith(("Cargo.toml", "config"))]
        return (
            f"{len(crates)} locked crates, {len(files)} manifest/config file"
            f"{'s' if len(files) != 1 else ''}"
            + (
                ", pyproject build tables"
                if any(k.startswith("build-system") for k in inputs)
                else ""
            )
        )
    return f"{len(inputs)} inputs"


def render_parts_table(manifest: KeyManifest) -> list[str]:
    """``name  hash  summary`` lines, for the log and the text output."""
    width = max((len(p.name) for p in manifest.parts), default=4)
    return [
        f"{p.name:<{width}}  {p.hash}  {part_summary(p, manifest.kind)}" for p in manifest.parts
    ]


def render_key_text(manifest: KeyManifest) -> str:
    lines = [f"key: {manifest.key}", "restore-keys:"]
    lines += [f"  {r}" for r in manifest.restore_keys]
    lines.append("parts:")
    lines += [f"  {row}" for row in render_parts_table(manifest)]
    return "\n".join(lines) + "\n"
