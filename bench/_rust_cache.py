"""The baseline of bench/ci_job.py: what Swatinem/rust-cache v2 does, written anew.

Read from rust-cache's sources (``src/config.ts``, ``src/restore.ts``,
``src/save.ts``, ``src/cleanup.ts``, ``src/workspace.ts``; commit 6323deb of
2026-08-06) and reimplemented here so the benchmark can run its flow on this
machine without GitHub. Nothing PyO3-aware: no interpreter pinning.

What it reproduces:

* **Key** (``config.ts``): ``v0-rust-<job>-<os.type()>-<os.arch()>`` then a
  SHA-1 (8 hex) of ``rustc -vV`` of every rustup toolchain plus the env vars
  whose names start with CARGO, CC, CFLAGS, CXX, CMAKE or RUST; that is also
  the only restore key. Then a SHA-1 of the workspace members' Cargo.toml
  (parsed, ``package.version`` and path dependencies' versions blanked),
  Cargo.lock's registry/git packages, and any .cargo/config.toml and
  rust-toolchain(.toml).
* **Restore** (``restore.ts``): exact key, else the newest entry whose key
  starts with the restore key; on a partial match the target dir is
  "pre-cleaned" with the one-week timestamp rule, which returns after the
  first entry of each folder (as upstream does). ``CARGO_INCREMENTAL=0`` is
  exported. No save after an exact hit.
* **Cleanup before save** (``cleanup.ts``): every file directly in a
  non-profile folder of the target dir is deleted (so ``target/maturin`` and
  ``target/wheels`` lose their files); each profile folder keeps only
  ``build``, ``.fingerprint`` and ``deps``, and in those only entries named
  after packages *outside* the workspace (``cargo metadata --all-features``),
  so the workspace members' artifacts go. Registry: index cache entries and
  ``.crate`` files of packages not in that list are removed, ``registry/src``
  is removed except ``-sys`` crates, ``credentials.toml`` is deleted; git
  checkouts/dbs not used are removed.
* **Cached paths**: ``$CARGO_HOME/{bin,.crates.toml,.crates2.json,registry,git}``
  and the target dir, in one entry made the way @actions/cache makes it on
  Linux (``packages/cache/src/internal/tar.ts``): GNU ``tar --posix`` piped
  into ``zstd -T0 --long=30`` (level 3, a 1 GiB long-distance window), here
  libzstd through the ``zstandard`` module with those parameters. The same
  files through pyo3-cache's own archiver are measured too
  (``same_archiver_bytes``), to compare content alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import zstandard

from pyo3_cache.cache.archive import ArchiveRoot, create_archive

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

HASH_LENGTH = 8
ENV_PREFIXES = ("CARGO", "CC", "CFLAGS", "CXX", "CMAKE", "RUST")
SAVE_TARGET_KINDS = {"lib", "cdylib", "dylib", "rlib", "staticlib", "proc-macro"}
ONE_WEEK_S = 7 * 24 * 3600


# --- key ----------------------------------------------------------------------


@dataclass(frozen=True)
class Package:
    """One package as rust-cache's workspace.ts reads it from ``cargo metadata``."""

    name: str
    version: str
    targets: tuple[str, ...]
    path: str


def _output(cmd: list[str], cwd: Path, env: dict[str, str]) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _rust_version_line(rustc_vv: str) -> str:
    fields = {}
    for line in rustc_vv.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            fields[name.strip()] = value.strip()
    return f"{fields.get('release')} {fields.get('host')} {fields.get('commit-hash')}"


def rust_versions(cwd: Path, env: dict[str, str]) -> list[str]:
    """``rustc -vV`` of the active toolchain and of each installed one, sorted."""
    versions = {_rust_version_line(_output(["rustc", "-vV"], cwd, env))}
    try:
        listing = _output(["rustup", "toolchain", "list", "--quiet"], cwd, env)
    except (RuntimeError, OSError):
        listing = ""
    for name in listing.split():
        out = _output(["rustup", "run", name, "rustc", "-vV"], cwd, env)
        versions.add(_rust_version_line(out))
    return sorted(versions)


def cargo_packages(root: Path, env: dict[str, str], *, members_only: bool) -> list[Package]:
    """``cargo metadata`` as rust-cache runs it: members (--no-deps) or all outside ``root``."""
    cmd = ["cargo", "metadata", "--all-features", "--format-version", "1"]
    if members_only:
        cmd.append("--no-deps")
    meta = json.loads(_output(cmd, root, dict(env, CARGO_ENCODED_RUSTFLAGS="")))
    packages = []
    for pkg in meta["packages"]:
        if not members_only and pkg["manifest_path"].startswith(str(root)):
            continue  # upstream compares path strings: a workspace package
        targets = tuple(
            t["name"] for t in pkg["targets"] if any(k in SAVE_TARGET_KINDS for k in t["kind"])
        )
        packages.append(
            Package(pkg["name"], pkg["version"], targets, os.path.dirname(pkg["manifest_path"]))
        )
    return packages


def _normalized_manifest(path: Path) -> Any:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    package = data.get("package")
    if isinstance(package, dict) and "version" in package:
        package["version"] = "0.0.0"
    for section in ("dependencies", "build-dependencies", "dev-dependencies"):
        for dep in (data.get(section) or {}).values():
            if isinstance(dep, dict) and "path" in dep:
                dep["version"] = "0.0.0"
                dep["path"] = ""
    return data


def _lock_packages(lock: Path) -> Any:
    data = tomllib.loads(lock.read_text(encoding="utf-8"))
    if data.get("version") not in (3, 4) or "package" not in data:
        return None
    return [p for p in data["package"] if "source" in p or "checksum" in p]


def _key_files(root: Path) -> list[Path]:
    names = {"config.toml"}
    found = []
    for base, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if d not in ("target", ".git")]
        here = Path(base)
        for name in files:
            if name in ("rust-toolchain", "rust-toolchain.toml") or (
                name in names and here.name == ".cargo"
            ):
                found.append(here / name)
    return sorted(set(found))


@dataclass
class RustCacheKey:
    key: str
    restore_key: str
    envs: list[str]
    files: list[str]


def compute_key(root: Path, env: dict[str, str], job: str = "build") -> RustCacheKey:
    """rust-cache's key and restore key for the workspace at ``root``."""
    arch = {"x86_64": "x64", "aarch64": "arm64", "AMD64": "x64"}.get(platform.machine(), "x64")
    prefix = f"v0-rust-{job}-{platform.system()}-{arch}"
    hasher = hashlib.sha1()
    for version in rust_versions(root, env):
        hasher.update(version.encode())
    envs = []
    for name in sorted(env):
        if name.startswith(ENV_PREFIXES) and env[name]:
            hasher.update(f"{name}={env[name]}".encode())
            envs.append(name)
    restore_key = f"{prefix}-{hasher.hexdigest()[:HASH_LENGTH]}"

    hasher = hashlib.sha1()
    raw_files = _key_files(root)
    parsed = []
    members = cargo_packages(root, env, members_only=True)
    for manifest in sorted({Path(p.path) / "Cargo.toml" for p in members}):
        data = _normalized_manifest(manifest)
        hasher.update(json.dumps(data, separators=(",", ":")).encode())
        parsed.append(manifest)
    lock = root / "Cargo.lock"
    if lock.is_file():
        packages = _lock_packages(lock)
        if packages is None:
            raw_files.append(lock)
        else:
            hasher.update(json.dumps(packages, separators=(",", ":")).encode())
            parsed.append(lock)
    for path in sorted(set(raw_files)):
        hasher.update(path.read_bytes())
    key = f"{restore_key}-{hasher.hexdigest()[:HASH_LENGTH]}"
    files = sorted(str(p.relative_to(root)) for p in {*raw_files, *parsed})
    return RustCacheKey(key, restore_key, envs, files)


# --- cleanup --------------------------------------------------------------------


def _rm(entry: os.DirEntry[str]) -> None:
    """Upstream's rm(): unlink a file, remove a folder; anything else stays."""
    try:
        if entry.is_file(follow_symlinks=False):
            os.unlink(entry.path)
        elif entry.is_dir(follow_symlinks=False):
            shutil.rmtree(entry.path, ignore_errors=True)
    except OSError:
        pass


def _rm_except(folder: Path, keep: set[str], check_timestamp: bool = False) -> None:
    with os.scandir(folder) as entries:
        for entry in entries:
            if check_timestamp:
                # Upstream returns after the first entry, outdated or not.
                if time.time() - entry.stat(follow_symlinks=False).st_mtime > ONE_WEEK_S:
                    _rm(entry)
                return
            name = entry.name
            if name in keep:
                continue
            cut = name.rfind("-")  # strip a trailing -<hash>
            if cut != -1:
                name = name[:cut]
            if name not in keep:
                _rm(entry)


def _clean_profile(profile: Path, packages: list[Package], check_timestamp: bool) -> None:
    if profile.name == "tests":
        for nested in ("target", "trybuild"):
            with contextlib.suppress(OSError):
                clean_target_dir(profile / nested, packages, check_timestamp)
        _rm_except(profile, {"target", "trybuild"}, check_timestamp)
        return
    _rm_except(profile, {"build", ".fingerprint", "deps"})
    keep_pkg = {p.name for p in packages} | {
        t.replace("-", "_") for p in packages for t in p.targets
    }
    _rm_except(profile / "build", keep_pkg, check_timestamp)
    _rm_except(profile / ".fingerprint", keep_pkg, check_timestamp)
    keep_deps: set[str] = set()
    for p in packages:
        for n in (p.name, *p.targets):
            name = n.replace("-", "_")
            keep_deps |= {name, f"lib{name}"}
    _rm_except(profile / "deps", keep_deps, check_timestamp)


def clean_target_dir(target: Path, packages: list[Package], check_timestamp: bool = False) -> None:
    """cleanup.ts's cleanTargetDir: reduce profiles to non-workspace deps, drop loose files."""
    with os.scandir(target) as entries:
        for entry in entries:
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                is_profile = entry.name == "tests" or any(
                    (path / sub).exists() for sub in ("build", ".fingerprint", "deps")
                )
                try:
                    if is_profile:
                        _clean_profile(path, packages, check_timestamp)
                    else:
                        clean_target_dir(path, packages, check_timestamp)
                except OSError:
                    pass
            elif entry.name != "CACHEDIR.TAG":
                _rm(entry)


def _clean_index_cache(folder: Path, keep: set[str]) -> bool:
    empty = True
    with os.scandir(folder) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if _clean_index_cache(Path(entry.path), keep):
                    _rm(entry)
                else:
                    empty = False
            elif entry.name in keep:
                empty = False
            else:
                _rm(entry)
    return empty


def clean_registry(cargo_home: Path, packages: list[Package], crates: bool = True) -> None:
    """cleanup.ts's cleanRegistry (cache-all-crates: false → crates=True)."""
    (cargo_home / "credentials.toml").unlink(missing_ok=True)
    names = {p.name for p in packages}
    index = cargo_home / "registry" / "index"
    if index.is_dir():
        for entry in os.scandir(index):
            if entry.is_dir():
                reg = Path(entry.path)
                if (reg / ".git").exists():
                    shutil.rmtree(reg / ".cache", ignore_errors=True)
                else:
                    _clean_index_cache(reg, names)
    if not crates:
        return
    keep_src = {f"{p.name}-{p.version}" for p in packages if p.name.endswith("-sys")}
    for entry in _registry_entries(cargo_home / "registry" / "src"):
        if entry.is_dir() and entry.name not in keep_src:
            shutil.rmtree(entry.path, ignore_errors=True)
    keep_crates = {f"{p.name}-{p.version}.crate" for p in packages}
    for entry in _registry_entries(cargo_home / "registry" / "cache"):
        if entry.is_file() and entry.name not in keep_crates:
            os.unlink(entry.path)


def _registry_entries(folder: Path) -> Iterator[os.DirEntry[str]]:
    """What each registry's subfolder of ``folder`` (registry/src, registry/cache) holds."""
    if not folder.is_dir():
        return
    for reg in os.scandir(folder):
        if reg.is_dir():
            yield from os.scandir(reg.path)


def clean_git(cargo_home: Path, packages: list[Package]) -> None:
    """cleanup.ts's cleanGit: keep the dbs and checkouts the packages use."""
    checkouts = cargo_home / "git" / "checkouts"
    db = cargo_home / "git" / "db"
    used: dict[str, set[str]] = {}
    for p in packages:
        if p.path.startswith(str(checkouts)):
            repo, _, rest = p.path[len(str(checkouts)) + 1 :].partition(os.sep)
            used.setdefault(repo, set()).add(rest.split(os.sep)[0])
    if db.is_dir():
        for entry in os.scandir(db):
            if entry.name not in used:
                _rm(entry)
    if checkouts.is_dir():
        for entry in os.scandir(checkouts):
            refs = used.get(entry.name)
            if refs is None:
                _rm(entry)
            elif entry.is_dir():
                for ref in os.scandir(entry.path):
                    if ref.name not in refs:
                        _rm(ref)


# --- the cache (a local folder standing in for actions/cache) -------------------------


def _roots(cargo_home: Path, target: Path) -> list[ArchiveRoot]:
    # .crates.toml / .crates2.json are files (cargo install's records); none
    # exist on these runners, and the archive module archives folders.
    return [
        ArchiveRoot("cargo-home/bin", cargo_home / "bin"),
        ArchiveRoot("cargo-home/registry", cargo_home / "registry"),
        ArchiveRoot("cargo-home/git", cargo_home / "git"),
        ArchiveRoot("target", target),
    ]


def _members(cargo_home: Path, target: Path) -> list[str]:
    paths = [cargo_home / "bin", cargo_home / "registry", cargo_home / "git", target]
    return [str(p.resolve()).lstrip("/") for p in paths if p.exists()]


def actions_cache_archive(members: list[str], dest: Path) -> int:
    """``tar --posix -cf - ... | zstd -T0 --long=30`` of paths relative to /; the size."""
    # zstd -T0 --long=30 at its default level 3: what @actions/cache runs.
    params = zstandard.ZstdCompressionParameters.from_level(
        3, window_log=30, enable_ldm=True, threads=-1
    )
    command = ["tar", "--posix", "-cf", "-", "-C", "/", *members]
    tar = subprocess.Popen(command, stdout=subprocess.PIPE)
    assert tar.stdout is not None
    with dest.open("wb") as raw:
        zstandard.ZstdCompressor(compression_params=params).copy_stream(tar.stdout, raw)
    if tar.wait() != 0:
        raise RuntimeError(f"tar failed ({tar.returncode}) archiving {members}")
    return dest.stat().st_size


def actions_cache_extract(archive: Path) -> None:
    """``zstd -d --long=30 | tar -xf -`` into /, as @actions/cache restores."""
    tar = subprocess.Popen(["tar", "-xf", "-", "-C", "/"], stdin=subprocess.PIPE)
    assert tar.stdin is not None
    with archive.open("rb") as raw:
        zstandard.ZstdDecompressor(max_window_size=1 << 31).copy_stream(raw, tar.stdin)
    tar.stdin.close()
    if tar.wait() != 0:
        raise RuntimeError(f"tar failed ({tar.returncode}) extracting {archive}")


@dataclass
class LocalCache:
    """Entries ``<key>.tar.zst`` in one folder; prefix restore picks the newest."""

    folder: Path

    def _entries(self) -> list[Path]:
        if not self.folder.is_dir():
            return []
        return sorted(self.folder.glob("*.tar.zst"), key=lambda p: p.stat().st_mtime_ns)

    def restore(
        self, key: str, restore_key: str, cargo_home: Path, target: Path
    ) -> tuple[str | None, int]:
        """Restore the best entry; return (matched key, archive bytes)."""
        exact = self.folder / f"{key}.tar.zst"
        chosen = exact if exact.is_file() else None
        if chosen is None:
            matches = [p for p in self._entries() if p.name.startswith(restore_key)]
            chosen = matches[-1] if matches else None
        if chosen is None:
            return None, 0
        del cargo_home, target  # the entry holds the same absolute paths
        actions_cache_extract(chosen)
        return chosen.name[: -len(".tar.zst")], chosen.stat().st_size

    def save(self, key: str, cargo_home: Path, target: Path) -> tuple[int, int, int]:
        """Archive the cached paths under ``key`` (never overwrites).

        Returns (entry bytes, bytes of the files archived, the same files
        through pyo3-cache's archiver); zeros if the entry exists.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        dest = self.folder / f"{key}.tar.zst"
        if dest.exists():
            return 0, 0, 0
        tmp = self.folder / f".{key}.tmp"
        entry_bytes = actions_cache_archive(_members(cargo_home, target), tmp)
        os.replace(tmp, dest)
        ours = self.folder / f".{key}.ours.tmp"
        try:
            stats = create_archive(_roots(cargo_home, target), ours)
        finally:
            ours.unlink(missing_ok=True)
        return entry_bytes, stats.source_bytes, stats.archive_bytes
