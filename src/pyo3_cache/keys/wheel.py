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

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ProjectError
from pyo3_cache.keys.rust import (
    DEFAULT_PREFIX,
    InputValue,
    KeyManifest,
    KeyPart,
    PathScrubber,
    ProjectFiles,
    _canonical,
    _Probes,
    _python_abi,
    _read_text,
    _relative_label,
    _which,
    arch_name,
    assemble_key,
    env_part,
    find_cargo_configs,
    find_toolchain_file,
    installed_maturin_version,
    key_segment,
    lock_part,
    make_part,
    maturin_requirement,
    os_name,
    path_scrubber,
    prefix_part,
    python_part,
    run_rustc_version,
    toolchain_part,
)
from pyo3_cache.project import load_toml, locked_version, read_lockfile

KIND = "wheel"

# Targets whose code ends up in the wheel (maturin builds the lib, or the bins
# for `bindings = "bin"`; a build script runs for either).  Test, bench and
# example targets are not compiled by `maturin build`.
_COMPILED_KINDS = frozenset(
    {"lib", "rlib", "dylib", "cdylib", "staticlib", "proc-macro", "bin", "custom-build"}
)
# Folders never holding build inputs, when we walk a tree without git (besides
# hidden ones, cargo target dirs, which carry CACHEDIR.TAG, and virtualenvs).
# Names like `build` or `target` are not skipped: they can be real modules.
_SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
_EXTENSION_SUFFIXES = (".so", ".pyd", ".dylib", ".dll")
# PyO3/maturin variables whose values are paths; the python part stands for them.
_ENV_REPLACED_BY_PYTHON_PART = frozenset({"PYO3_CONFIG_FILE", "PYO3_PYTHON"})

# include_str!("x"), include_bytes!("x"), include!("x"): relative to the file.
_INCLUDE_RE = re.compile(r'\binclude(?:_str|_bytes)?!\s*\(\s*"((?:[^"\\]|\\.)+)"\s*\)')
# include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/data/x")): relative to the crate.
_MANIFEST_DIR_RE = re.compile(
    r'concat!\s*\(\s*env!\s*\(\s*"CARGO_MANIFEST_DIR"\s*\)\s*,\s*"((?:[^"\\]|\\.)+)"\s*\)'
)


# --- listing files as cargo and maturin would package them ----------------------------


class SourceLister:
    """Lists the files under a folder: git's view in a checkout, else a filtered walk.

    ``git ls-files --cached --others --exclude-standard`` is what ``cargo
    package`` uses in a git checkout (tracked files and untracked ones that
    are not ignored); a file deleted from the work tree but still in the
    index is left out.  One git call per folder, remembered.
    """

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = dict(environ)
        self._git = _which("git", environ)
        self._cache: dict[Path, list[Path]] = {}
        self.used_git = False

    def files_under(self, folder: Path) -> list[Path]:
        folder = folder.resolve()
        if folder not in self._cache:
            listed = self._git_files(folder)
            if listed is None:
                listed = _walk_files(folder)
            else:
                self.used_git = True
            self._cache[folder] = sorted(p for p in listed if _is_source_file(p))
        return self._cache[folder]

    def _git_files(self, folder: Path) -> list[Path] | None:
        if self._git is None or not folder.is_dir():
            return None
        # A folder the enclosing repository ignores (a vendored crate, a scratch
        # copy under an ignored dir) is not that repository's: git would list
        # nothing, and the key would miss every source.  cargo walks such a
        # package instead; so do we.
        try:
            ignored = subprocess.run(
                [self._git, "check-ignore", "-q", "."],
                cwd=folder,
                env=self._environ,
                capture_output=True,
                timeout=60,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if ignored.returncode == 0:
            return None
        try:
            proc = subprocess.run(
                [self._git, "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                cwd=folder,
                env=self._environ,
                capture_output=True,
                timeout=120,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if proc.returncode != 0:  # not a git checkout (or git refuses it): walk instead
            return None
        names = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
        return [p for p in (folder / n for n in names if n) if p.is_file()]


def _walk_files(folder: Path) -> list[Path]:
    if folder.is_file():
        return [folder]
    found: list[Path] = []
    for current, dirs, files in os.walk(folder):
        here = Path(current)
        dirs[:] = sorted(
            d
            for d in dirs
            if d not in _SKIPPED_DIRS
            and not d.startswith(".")
            and not (here / d / "CACHEDIR.TAG").exists()  # a cargo target dir by another name
            and not (here / d / "pyvenv.cfg").exists()  # a virtualenv
        )
        found += [here / f for f in files]
    return found


def _is_source_file(path: Path) -> bool:
    if "__pycache__" in path.parts:
        return False
    return path.suffix not in (".pyc", ".pyo") and path.is_file()


# --- the crates in the build ----------------------------------------------------------


@dataclass(frozen=True)
class BuildCrate:
    """One crate the wheel build compiles, and the files that feed it."""

    name: str
    manifest: Path
    target_paths: tuple[Path, ...]
    """``src_path`` of each compiled target (lib, bins, build script)."""
    extra_files: tuple[Path, ...] = ()
    """Its readme and license file, when it names them."""

    @property
    def root(self) -> Path:
        return self.manifest.parent


def run_cargo_metadata(manifest: Path, environ: Mapping[str, str]) -> dict[str, Any]:
    """``cargo metadata --no-deps --offline`` for the workspace of ``manifest``.

    ``--no-deps`` reads only the workspace's manifests: no registry, no
    network, well under a second even before the cargo cache is restored.
    Raises ``ProjectError`` with cargo's own reason when it fails.
    """
    cargo = environ.get("CARGO") or "cargo"
    found = _which(cargo, environ) if os.sep not in cargo else cargo
    if not found:
        raise ProjectError(f"{cargo} not found on PATH")
    try:
        proc = subprocess.run(
            [
                found,
                "metadata",
                "--format-version",
                "1",
                "--no-deps",
                "--offline",
                "--manifest-path",
                str(manifest),
            ],
            cwd=manifest.parent,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ProjectError(f"`cargo metadata` could not be run: {exc}") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in lines if ln.startswith("error")), lines[-1] if lines else "")
        raise ProjectError(f"`cargo metadata` failed: {reason[:200]}")
    try:
        data = json.loads(proc.stdout)
    except ValueError:
        raise ProjectError("`cargo metadata` printed something that is not JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("packages"), list):
        raise ProjectError("`cargo metadata` printed no package list")
    return data


def _toml_targets(manifest: Path, data: Mapping[str, Any]) -> list[Path]:
    """A crate's compiled targets by cargo's conventions, for crates metadata did not list."""
    root = manifest.parent
    paths: list[Path] = []
    lib = data.get("lib")
    if isinstance(lib, dict) and isinstance(lib.get("path"), str):
        paths.append(root / lib["path"])
    elif (root / "src" / "lib.rs").is_file():
        paths.append(root / "src" / "lib.rs")
    for table in data.get("bin", []) or []:
        if isinstance(table, dict) and isinstance(table.get("path"), str):
            paths.append(root / table["path"])
    if (root / "src" / "main.rs").is_file():
        paths.append(root / "src" / "main.rs")
    package = data.get("package")
    build = package.get("build") if isinstance(package, dict) else None
    if isinstance(build, str):
        paths.append(root / build)
    elif build is not False and (root / "build.rs").is_file():
        paths.append(root / "build.rs")
    return paths


def _toml_path_deps(manifest: Path, data: Mapping[str, Any]) -> list[Path]:
    """Path dependencies (normal and build) named in a Cargo.toml."""
    tables: list[Any] = [data.get("dependencies"), data.get("build-dependencies")]
    targets = data.get("target")
    if isinstance(targets, dict):
        for spec in targets.values():
            if isinstance(spec, dict):
                tables += [spec.get("dependencies"), spec.get("build-dependencies")]
    out: list[Path] = []
    for table in tables:
        if isinstance(table, dict):
            for spec in table.values():
                if isinstance(spec, dict) and isinstance(spec.get("path"), str):
                    out.append((manifest.parent / spec["path"] / "Cargo.toml").resolve())
    return out


# The names cargo (since 1.46) takes as the readme when `package.readme` is unset;
# `cargo metadata` reports the one it found, and maturin puts it into METADATA
# when [project] names no readme.
_CARGO_README_NAMES = ("README.md", "README.txt", "README")


def _package_files(root: Path, readme: Any, license_file: Any) -> tuple[Path, ...]:
    out = []
    for value in (readme, license_file):
        if isinstance(value, str) and (root / value).is_file():
            out.append((root / value).resolve())
    return tuple(out)


def build_crates(manifest: Path, metadata: Mapping[str, Any] | None) -> list[BuildCrate]:
    """The crate maturin builds and its path dependencies (normal and build), transitively.

    From ``cargo metadata`` where it lists the crate (workspace members),
    from the crate's Cargo.toml otherwise (path dependencies outside the
    workspace, or every crate when metadata is None).  Dev-dependencies are
    left out: ``maturin build`` does not compile them.
    """
    by_manifest: dict[Path, Mapping[str, Any]] = {}
    for package in (metadata or {}).get("packages", []) or []:
        if isinstance(package, dict) and isinstance(package.get("manifest_path"), str):
            by_manifest[Path(package["manifest_path"]).resolve()] = package
    crates: list[BuildCrate] = []
    seen: set[Path] = set()
    pending = [manifest.resolve()]
    while pending:
        current = pending.pop(0)
        if current in seen or not current.is_file():
            continue
        seen.add(current)
        package = by_manifest.get(current)
        if package is not None:
            targets = [
                Path(t["src_path"])
                for t in package.get("targets", []) or []
                if isinstance(t, dict)
                and isinstance(t.get("src_path"), str)
                and _COMPILED_KINDS.intersection(t.get("kind", []) or [])
            ]
            for dep in package.get("dependencies", []) or []:
                if (
                    isinstance(dep, dict)
                    and isinstance(dep.get("path"), str)
                    and dep.get("kind") in (None, "normal", "build")
                ):
                    pending.append((Path(dep["path"]) / "Cargo.toml").resolve())
            extra = _package_files(
                current.parent, package.get("readme"), package.get("license_file")
            )
            crates.append(BuildCrate(str(package.get("name", "")), current, tuple(targets), extra))
            continue
        data = load_toml(current, "Cargo.toml")
        table = data.get("package")
        info = table if isinstance(table, dict) else {}
        readme = info.get("readme")
        if readme is None:
            readme = next((n for n in _CARGO_README_NAMES if (current.parent / n).is_file()), None)
        crates.append(
            BuildCrate(
                str(info.get("name", current.parent.name)),
                current,
                tuple(_toml_targets(current, data)),
                _package_files(current.parent, readme, info.get("license-file")),
            )
        )
        pending += _toml_path_deps(current, data)
    return crates


def _target_inputs(crate: BuildCrate) -> list[Path]:
    """Files and folders a crate's targets compile from.

    A target at the crate root (``build.rs``) is that one file; one deeper
    (``src/lib.rs``, ``src/bin/cli.rs``) brings its top folder (``src/``), where
    its modules live; one outside the crate brings the folder it sits in.
    """
    out: list[Path] = [crate.manifest]
    root = crate.root.resolve()
    for path in crate.target_paths:
        resolved = path.resolve()
        try:
            rel = resolved.relative_to(root)
        except ValueError:
            out.append(resolved.parent)
            continue
        out.append(resolved if len(rel.parts) == 1 else root / rel.parts[0])
    out += crate.extra_files
    return out


def _included_files(source: Path, crate_root: Path) -> list[Path]:
    """Files a Rust source pulls in at compile time (include_str! and friends)."""
    try:
        text = source.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    out = []
    for match in _MANIFEST_DIR_RE.finditer(text):
        out.append(crate_root / match.group(1).lstrip("/\\"))
    for match in _INCLUDE_RE.finditer(text):
        out.append(source.parent / match.group(1))
    return [p.resolve() for p in out if p.is_file()]


def rust_source_files(crates: Sequence[BuildCrate], lister: SourceLister) -> list[Path]:
    """Every file the crates' compiled targets are built from."""
    files: set[Path] = set()
    for crate in crates:
        for item in _target_inputs(crate):
            if item.is_dir():
                files.update(lister.files_under(item))
            elif item.is_file():
                files.add(item.resolve())
        for source in sorted(f for f in files if f.suffix == ".rs"):
            files.update(_included_files(source, crate.root.resolve()))
    return sorted(files)


# --- the Python side --------------------------------------------------------------------


def _maturin_table(pyproject: Mapping[str, Any] | None) -> dict[str, Any]:
    tool = (pyproject or {}).get("tool")
    table = tool.get("maturin") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else {}


def module_name(pyproject: Mapping[str, Any] | None, cargo_toml: Mapping[str, Any]) -> str:
    """The extension's import name as maturin picks it: module-name, [lib] name, package name."""
    name = _maturin_table(pyproject).get("module-name")
    if isinstance(name, str) and name:
        return name
    lib = cargo_toml.get("lib")
    if isinstance(lib, dict) and isinstance(lib.get("name"), str):
        return str(lib["name"])
    package = cargo_toml.get("package")
    if isinstance(package, dict) and isinstance(package.get("name"), str):
        return str(package["name"]).replace("-", "_")
    return ""


def python_source_files(
    pyproject_path: Path,
    pyproject: Mapping[str, Any],
    cargo_toml: Mapping[str, Any],
    lister: SourceLister,
) -> list[Path]:
    """The files maturin puts into the wheel besides the extension.

    maturin's mixed layout: the package named by the first part of
    ``module-name`` under ``python-source`` (default: next to pyproject.toml),
    plus ``python-packages``; a pure-Rust layout may have a ``<module>.pyi``
    stub.  ``include`` patterns and the ``data`` folder add files too.  The
    compiled extension a ``maturin develop`` left in the package is an
    output, not an input, and is skipped.
    """
    base = pyproject_path.parent
    table = _maturin_table(pyproject)
    source = table.get("python-source")
    src_dir = base / source if isinstance(source, str) else base
    name = module_name(pyproject, cargo_toml)
    top, _, _ = name.partition(".")
    last = name.rsplit(".", 1)[-1]
    items: list[Path] = []
    if top:
        items += [src_dir / top, base / f"{top}.pyi", src_dir / f"{top}.pyi"]
    for extra in table.get("python-packages", []) or []:
        if isinstance(extra, str):
            items += [src_dir / extra, src_dir / f"{extra}.py"]
    data = table.get("data")
    if isinstance(data, str):
        items.append(base / data)
    for pattern in table.get("include", []) or []:
        glob = pattern.get("path") if isinstance(pattern, dict) else pattern
        if isinstance(glob, str) and glob and not os.path.isabs(glob) and ".." not in glob:
            items += sorted(base.glob(glob))
    files: set[Path] = set()
    for item in items:
        if item.is_dir():
            files.update(lister.files_under(item))
        elif item.is_file():
            files.add(item.resolve())

    def built_extension(path: Path) -> bool:
        return path.suffix in _EXTENSION_SUFFIXES and path.name.split(".", 1)[0] == last

    return sorted(f for f in files if not built_extension(f))


def metadata_files(pyproject_path: Path, pyproject: Mapping[str, Any]) -> list[Path]:
    """``[project]``'s readme and license files: their text goes into METADATA."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        return []
    base = pyproject_path.parent
    names: list[str] = []
    readme = project.get("readme")
    if isinstance(readme, str):
        names.append(readme)
    elif isinstance(readme, dict) and isinstance(readme.get("file"), str):
        names.append(readme["file"])
    license_ = project.get("license")
    if isinstance(license_, dict) and isinstance(license_.get("file"), str):
        names.append(license_["file"])
    out: set[Path] = {(base / n).resolve() for n in names if (base / n).is_file()}
    for pattern in project.get("license-files", []) or []:
        if isinstance(pattern, str) and ".." not in pattern and not os.path.isabs(pattern):
            out.update(p.resolve() for p in base.glob(pattern) if p.is_file())
    return sorted(out)


# --- parts ------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                sha.update(chunk)
    except OSError as exc:
        raise ProjectError(f"cannot read {path}: {exc.strerror}") from None
    return sha.hexdigest()


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
            text = scrub(value if isinstance(value, str) else _canonical(value))
            inputs[f"project.{name}"] = text
    hashed: dict[str, Any] = {k: v for k, v in inputs.items()}
    for label, digest in sorted(files.items()):
        inputs[label] = "sha256:" + digest[:12]
        hashed[label] = digest
    return make_part("metadata", inputs, hashed)


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


def _maturin_manifest(start: Path) -> Path | None:
    """[tool.maturin] manifest-path of the pyproject.toml in ``start``, if it names one."""
    pyproject = start / "pyproject.toml"
    if not pyproject.is_file():
        return None
    path = _maturin_table(load_toml(pyproject, "pyproject.toml")).get("manifest-path")
    if isinstance(path, str) and (start / path).is_file():
        return (start / path).resolve()
    return None


def find_wheel_project(manifest_path: str | os.PathLike[str] | None) -> ProjectFiles:
    """The crate maturin builds: the one given, else pyproject's manifest-path, else upward."""
    if manifest_path is None:
        found = _maturin_manifest(Path.cwd())
        if found is not None:
            return ProjectFiles.find(found)
    elif Path(manifest_path).is_dir():
        found = _maturin_manifest(Path(manifest_path))
        if found is not None:
            return ProjectFiles.find(found)
    return ProjectFiles.find(manifest_path)


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
    lock_path = files.workspace_root / "Cargo.lock"
    if not lock_path.is_file():
        raise ProjectError(
            f"Cargo.lock not found at {lock_path}; run `cargo generate-lockfile` and commit it"
        )
    packages = read_lockfile(lock_path)
    pyproject = load_toml(files.pyproject, "pyproject.toml") if files.pyproject else None
    cargo_toml = load_toml(files.manifest, "Cargo.toml")
    pyo3_version = locked_version(packages, "pyo3")
    with ThreadPoolExecutor(max_workers=4) as pool:
        probes = _Probes(pool)
        rustc_future = pool.submit(run_rustc_version, files.manifest.parent, env)
        maturin_future = pool.submit(installed_maturin_version, env)
        metadata_future = pool.submit(run_cargo_metadata, files.manifest, env)
        if python is not None:
            probes.start(os.fspath(python))
        elif env.get("PYO3_PYTHON"):
            probes.start(env["PYO3_PYTHON"])
        abi, config_source = _python_abi(python, env, pyo3_version, probes, warnings)
        try:
            metadata: dict[str, Any] | None = metadata_future.result()
        except ProjectError as exc:
            warnings.append(f"{exc}; reading the crates' Cargo.toml files instead")
            metadata = None
        rustc_vv = rustc_future.result()
        maturin = maturin_future.result() or maturin_requirement(pyproject)

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

    def digests(paths: Iterable[Path]) -> dict[str, str]:
        return {_relative_label(p, root): file_sha256(p) for p in paths}

    # Cargo.toml tables of the crates in the build and the workspace root (its
    # [workspace.dependencies], [patch] and profiles), versions normalized; the
    # raw files are among the Rust sources, so a version bump still counts.
    manifests: dict[str, dict[str, Any]] = {}
    for path in [files.workspace_root / "Cargo.toml", *(c.manifest for c in crates)]:
        manifests[_relative_label(path.resolve(), root)] = load_toml(path, "Cargo.toml")
    configs = {
        label or _relative_label(path, root): _read_text(path, "cargo config")
        for label, path in find_cargo_configs(files.manifest.parent, env)
    }
    toolchain_path = find_toolchain_file(files.manifest.parent)
    toolchain_file = None
    if toolchain_path is not None:
        toolchain_file = (
            _relative_label(toolchain_path, root),
            _read_text(toolchain_path, toolchain_path.name),
        )

    table = _maturin_table(pyproject)
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
    head = [
        key_segment(prefix_key or DEFAULT_PREFIX),
        KIND,
        key_segment(job),
        os_name(),
        arch_name(),
    ]
    parts = [
        prefix_part(head[0], head[2], head[3], head[4]),
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
        hashed_parts=(
            "toolchain",
            "python",
            "env",
            "build",
            "lock",
            "rust-sources",
            "python-sources",
            "metadata",
        ),
        ladder=(),  # an older wheel is a wrong wheel: exact hits only
        warnings=warnings,
    )


def wheel_files(dist: Path) -> list[Path]:
    """The wheels in ``dist`` (not recursive), sorted by name."""
    if not dist.is_dir():
        return []
    return sorted(p for p in dist.glob("*.whl") if p.is_file())


def part_summary(part: KeyPart) -> str | None:
    """A few words on a wheel-key part for the table of parts (None: the Rust key's words)."""
    inputs = part.inputs

    def get(name: str) -> str:
        value = inputs.get(name, "")
        return value if isinstance(value, str) else ", ".join(value)

    if part.name == "build":
        return f"{get('target')}, profile {get('profile')}, features {get('features')}"
    if part.name in ("rust-sources", "python-sources"):
        count = len(inputs)
        return f"{count} file{'s' if count != 1 else ''}" if count else "no files"
    if part.name == "metadata":
        name, version = get("project.name"), get("project.version")
        files = [k for k in inputs if not k.startswith("project.")]
        shown = " ".join(v for v in (name, version) if v) or "no [project] table"
        return shown + (f", {len(files)} readme/license file(s)" if files else "")
    return None
