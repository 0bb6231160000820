"""The files a maturin wheel is built from: crates, Rust and Python sources.

Listed as cargo and maturin would package them (git's view in a checkout, a
filtered walk elsewhere); see ``keys/wheel.py`` for what counts and why.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import (
    ProjectError,
)
from pyo3_cache.project import load_toml, maturin_table, which

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
        self._git = which("git", environ)
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

    def _run_git(
        self, folder: Path, args: list[str], *, timeout: int
    ) -> subprocess.CompletedProcess[bytes] | None:
        """``git ARGS`` in ``folder``; None when git could not run or took too long."""
        if self._git is None:
            return None
        try:
            return subprocess.run(
                [self._git, *args],
                cwd=folder,
                env=self._environ,
                capture_output=True,
                timeout=timeout,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None

    def _git_files(self, folder: Path) -> list[Path] | None:
        if self._git is None or not folder.is_dir():
            return None
        # A folder the enclosing repository ignores (a vendored crate, a scratch
        # copy under an ignored dir) is not that repository's: git would list
        # nothing, and the key would miss every source.  cargo walks such a
        # package instead; so do we.
        ignored = self._run_git(folder, ["check-ignore", "-q", "."], timeout=60)
        if ignored is None or ignored.returncode == 0:
            return None
        proc = self._run_git(
            folder, ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], timeout=120
        )
        if proc is None or proc.returncode != 0:  # not a git checkout (or git refuses it): walk
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
    found = which(cargo, environ) if os.sep not in cargo else cargo
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


def module_name(pyproject: Mapping[str, Any] | None, cargo_toml: Mapping[str, Any]) -> str:
    """The extension's import name as maturin picks it: module-name, [lib] name, package name."""
    name = maturin_table(pyproject).get("module-name")
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
    table = maturin_table(pyproject)
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
