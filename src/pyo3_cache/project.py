"""Read the project's own files: Cargo.toml, Cargo.lock, pyproject.toml, cargo config.

Everything here is read-only and path-relative to the project, so callers can
derive cache-key inputs without ever touching an absolute path of the machine.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ProjectError, Pyo3CacheError

# Cargo.toml's dependency tables (path dependencies are found in each).
DEP_TABLES = ("dependencies", "dev-dependencies", "build-dependencies")

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.9/3.10 runners
    import tomli as tomllib


@dataclass(frozen=True)
class LockedPackage:
    """One ``[[package]]`` entry of Cargo.lock."""

    name: str
    version: str
    source: str | None
    checksum: str | None

    @property
    def is_registry(self) -> bool:
        return bool(self.source and self.source.startswith(("registry+", "sparse+")))

    @property
    def is_local(self) -> bool:
        """Path dependencies and workspace members have no source."""
        return self.source is None


def load_toml(path: Path, what: str | None = None) -> dict[str, Any]:
    """Parse a TOML file, turning every failure into one readable ``ProjectError``."""
    label = what or path.name
    text = read_text(path, label)
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProjectError(f"{label} at {path} is not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ProjectError(f"{label} at {path} is nested too deeply to read") from None
    return data


def find_manifest(manifest_path: str | os.PathLike[str] | None = None) -> Path:
    """The package's Cargo.toml: the one given, else the nearest one upward from cwd."""
    if manifest_path is not None:
        path = Path(manifest_path)
        if path.is_dir():
            path = path / "Cargo.toml"
        if not path.is_file():
            raise ProjectError(f"Cargo.toml not found at {manifest_path}")
        return path.resolve()
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / "Cargo.toml"
        if candidate.is_file():
            return candidate
    raise ProjectError("no Cargo.toml in this directory or any parent; pass --manifest-path PATH")


def find_workspace_root(manifest: Path) -> Path:
    """The directory holding the workspace's Cargo.lock (cargo's own rule, simplified).

    Walks up from the package manifest to the nearest Cargo.toml with a
    ``[workspace]`` table; a package outside any workspace is its own root.
    """
    manifest = manifest.resolve()
    for folder in manifest.parent.parents:
        candidate = folder / "Cargo.toml"
        if candidate.is_file():
            try:
                data = load_toml(candidate)
            except ProjectError:
                continue
            if "workspace" in data:
                return folder
    return manifest.parent


def read_lockfile(path: Path) -> list[LockedPackage]:
    """Cargo.lock's packages, in file order. Raises ``ProjectError`` if absent or invalid."""
    data = load_toml(path, "Cargo.lock")
    packages = data.get("package", [])
    if not isinstance(packages, list):
        raise ProjectError(f"Cargo.lock at {path} has no [[package]] list")
    out: list[LockedPackage] = []
    for index, entry in enumerate(packages):
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ProjectError(f"Cargo.lock at {path}: package #{index + 1} has no name")
        version = entry.get("version")
        if not isinstance(version, str):
            raise ProjectError(f"Cargo.lock at {path}: package {entry['name']!r} has no version")
        source = entry.get("source")
        checksum = entry.get("checksum")
        out.append(
            LockedPackage(
                name=entry["name"],
                version=version,
                source=source if isinstance(source, str) else None,
                checksum=checksum if isinstance(checksum, str) else None,
            )
        )
    return out


def locked_version(packages: list[LockedPackage], name: str) -> str | None:
    """The locked version of ``name`` (the highest, if several are locked)."""
    versions = [p.version for p in packages if p.name == name]
    if not versions:
        return None
    return max(versions, key=version_tuple)


def version_tuple(version: str) -> tuple[int, ...]:
    """``0.23.5`` → (0, 23, 5); pre-release and build suffixes are dropped."""
    core = version.split("+", 1)[0].split("-", 1)[0]
    parts: list[int] = []
    for piece in core.split("."):
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def cargo_home() -> Path:
    env = os.environ.get("CARGO_HOME")
    return Path(env) if env else Path.home() / ".cargo"


def _config_target_dir(root: Path) -> Path | None:
    """``build.target-dir`` from the nearest .cargo/config(.toml) up from ``root``."""
    for folder in (root, *root.parents):
        for name in ("config.toml", "config"):
            cfg = folder / ".cargo" / name
            if cfg.is_file():
                try:
                    data = load_toml(cfg)
                except ProjectError:
                    return None
                build = data.get("build")
                if isinstance(build, dict) and isinstance(build.get("target-dir"), str):
                    # cargo resolves it relative to the directory holding .cargo/
                    return (folder / str(build["target-dir"])).resolve()
                break
    return None


def target_dir(root: Path, environ: Mapping[str, str] | None = None) -> Path:
    """Cargo's target dir for the workspace at ``root``: env, then config, then ``target``."""
    environ = os.environ if environ is None else environ
    env = environ.get("CARGO_TARGET_DIR") or environ.get("CARGO_BUILD_TARGET_DIR")
    if env:
        return Path(env).resolve()
    from_config = _config_target_dir(root)
    if from_config is not None:
        return from_config
    return root / "target"


# --- a target dir as cargo makes it --------------------------------------------------

CACHEDIR_TAG = "CACHEDIR.TAG"
# What cargo 1.95 writes when it creates a target dir (cargo's `Layout`:
# create_dir_all_excluded_from_backups_atomic); it never tags a folder that
# already exists.
CARGO_CACHEDIR_TAG_TEXT = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by cargo.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def write_cargo_cachedir_tag(folder: Path) -> None:
    """Tag ``folder`` as cargo tags a target dir it creates (for one we create for cargo)."""
    (folder / CACHEDIR_TAG).write_text(CARGO_CACHEDIR_TAG_TEXT, encoding="utf-8")


def find_profile_dirs(target: Path) -> list[Path]:
    """``target/<profile>`` and ``target/<triple>/<profile>`` folders cargo wrote."""
    found = []
    for child in sorted(target.iterdir()) if target.is_dir() else []:
        if not child.is_dir() or child.is_symlink():
            continue
        if (child / ".fingerprint").is_dir():
            found.append(child)
            continue
        for grandchild in sorted(child.iterdir()):
            if grandchild.is_dir() and (grandchild / ".fingerprint").is_dir():
                found.append(grandchild)
    return found


# --- finding the project's files (for the keys) ------------------------------------


def which(program: str, environ: Mapping[str, str]) -> str | None:
    return shutil.which(program, path=environ.get("PATH", os.defpath))


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
    tables: list[Any] = [data.get(t) for t in DEP_TABLES]
    workspace = data.get("workspace")
    if isinstance(workspace, dict):
        tables.append(workspace.get("dependencies"))
    targets = data.get("target")
    if isinstance(targets, dict):
        for spec in targets.values():
            if isinstance(spec, dict):
                tables += [spec.get(t) for t in DEP_TABLES]
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


def read_text(path: Path, what: str, error: type[Pyo3CacheError] = ProjectError) -> str:
    """The UTF-8 text of the file ``what`` at ``path``; ``error`` with one readable line else."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise error(f"{what} not found at {path}") from None
    except IsADirectoryError:
        raise error(f"{what} at {path} is a directory") from None
    except OSError as exc:
        raise error(f"cannot read {what} at {path}: {exc.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{what} at {path} is not UTF-8 text (byte {exc.start})") from None


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


def maturin_table(pyproject: Mapping[str, Any] | None) -> dict[str, Any]:
    tool = (pyproject or {}).get("tool")
    table = tool.get("maturin") if isinstance(tool, dict) else None
    return table if isinstance(table, dict) else {}


def _maturin_manifest(start: Path) -> Path | None:
    """[tool.maturin] manifest-path of the pyproject.toml in ``start``, if it names one."""
    pyproject = start / "pyproject.toml"
    if not pyproject.is_file():
        return None
    path = maturin_table(load_toml(pyproject, "pyproject.toml")).get("manifest-path")
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
