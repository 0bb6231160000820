"""Read the project's own files: Cargo.toml, Cargo.lock, pyproject.toml, cargo config.

Everything here is read-only and path-relative to the project, so callers can
derive cache-key inputs without ever touching an absolute path of the machine.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import ProjectError

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
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ProjectError(f"{label} not found at {path}") from None
    except IsADirectoryError:
        raise ProjectError(f"{label} at {path} is a directory") from None
    except OSError as exc:
        raise ProjectError(f"cannot read {label} at {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectError(f"{label} at {path} is not UTF-8 text (byte {exc.start})") from None
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


def target_dir(root: Path) -> Path:
    """Cargo's target dir for the workspace at ``root``: env, then config, then ``target``."""
    env = os.environ.get("CARGO_TARGET_DIR") or os.environ.get("CARGO_BUILD_TARGET_DIR")
    if env:
        return Path(env).resolve()
    from_config = _config_target_dir(root)
    if from_config is not None:
        return from_config
    return root / "target"
