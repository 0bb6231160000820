"""``prune``: drop what the next build will not use from a cargo target dir.

How cargo (1.95) lays out ``target/<profile>/`` (and ``target/<triple>/<profile>/``):

- ``.fingerprint/<package>-<hash>/`` — one folder per *unit* (a library, a
  build script's compilation, a build script's run, a test...). It holds a
  hash file (e.g. ``lib-pyo3``, the unit's fingerprint as 16 hex digits) and
  ``<hash file>.json``, whose ``deps`` list names each dependency unit by its
  fingerprint (a u64; the hash file holds its little-endian hex).
- ``deps/<crate>-<hash>.{rlib,rmeta,so,d,…}`` — the unit's outputs, with the
  same ``<hash>`` as its fingerprint folder (workspace cdylibs have none).
- ``build/<package>-<hash>/`` — a build script's binary, or its run's
  ``out/`` and ``output``, again with the unit's hash.
- ``incremental/`` — rustc's incremental state for workspace members.

Which units does the next build use? Those the last build used. Every unit
cargo built or checked is reachable from the units at the top of the last
build (the ones nothing depends on: the workspace members' targets), by
following the ``deps`` fingerprints. So:

1. A *top unit* is one no other unit depends on. Among top units of one
   package and one kind (same hash file name, same check-or-build mode), only
   the most recently used is kept: older ones are stale configurations
   (rustflags, features, a dependency upgrade that changed every hash above
   it). "Used" is the later of the hash file's mtime (written when built) and
   atime (cargo reads it to decide freshness; a restore sets atime = mtime,
   so under ``relatime`` that first read always moves it; our own readers,
   ``explain`` among them, put the atime back). A dependency's top unit is
   stale whenever another unit of its package and kind is built upon: after
   a lock bump cargo rebuilds a cdylib member in place, which leaves the old
   dependency chain on top.
2. Every unit reachable from a kept top unit is kept, fresh or rebuilt; so
   are its ``deps/`` files and ``build/`` folder. Everything else in
   ``.fingerprint``, ``deps`` and ``build`` belonging to an unreachable unit is
   removed: units of package versions no longer in Cargo.lock, stale units of
   workspace members, duplicate older artifacts.
3. ``incremental/`` is removed (cargo does not need it to call a unit fresh;
   CI usually sets ``CARGO_INCREMENTAL=0`` anyway) and so is ``target/wheels``
   (maturin's output, rewritten by every build).
4. Kept as they are: everything outside the profile folders — ``target/maturin``
   (maturin ≥1.14's pyo3 config files; deleting them rebuilds PyO3),
   ``target/pyo3-cache`` (our pinned PyO3 config; the target dirs of
   secondary interpreters below it, ``pyo3-cache/targets/*``, are pruned like
   the main one) — the uplifted files at the
   top of each profile, and ``deps/`` files whose hash matches no unit at all
   (we only remove what we can attribute).

Limitation: a workspace member built in two configurations in one profile
(e.g. two feature sets) keeps only the most recently used one.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.target_dir import is_cargo_target_dir, read_unused
from pyo3_cache.errors import OutputLocationError
from pyo3_cache.project import find_profile_dirs

_UNIT_DIR = re.compile(r"^(?P<package>.+)-(?P<hash>[0-9a-f]{16})$")
_ARTIFACT = re.compile(r"^(?P<stem>.+?)-(?P<hash>[0-9a-f]{16})(?P<ext>\..*)?$")
# Outputs that mean "this unit was compiled to code", not only checked.
_CODE_EXTS = (".rlib", ".so", ".dylib", ".dll", ".a", ".lib", ".exe", "")
_DROPPED_TOP = ("wheels",)


@dataclass
class Unit:
    """One ``.fingerprint/<package>-<hash>`` folder."""

    package: str
    hash: str
    path: Path
    kinds: tuple[str, ...]  # hash file names: lib-pyo3, run-build-script-build-script-build …
    fingerprints: tuple[str, ...]  # their contents (16 hex)
    dep_fingerprints: tuple[str, ...]
    last_used_ns: int


@dataclass
class PruneReport:
    """What ``prune`` removed (or would remove, on a dry run)."""

    target_dir: str
    dry_run: bool
    bytes_before: int = 0
    bytes_after: int = 0
    profiles: list[str] = field(default_factory=list)
    units_kept: int = 0
    units_removed: list[str] = field(default_factory=list)
    paths_removed: list[str] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return self.bytes_before - self.bytes_after

    def to_json(self) -> dict[str, Any]:
        return {
            "target_dir": self.target_dir,
            "dry_run": self.dry_run,
            "bytes_before": self.bytes_before,
            "bytes_after": self.bytes_after,
            "bytes_freed": self.bytes_freed,
            "profiles": self.profiles,
            "units_kept": self.units_kept,
            "units_removed": self.units_removed,
            "paths_removed": self.paths_removed,
        }


# --- reading the target dir ---------------------------------------------------------


def _le_hex(value: int) -> str:
    return (value & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little").hex()


def _read_unit(folder: Path) -> Unit | None:
    match = _UNIT_DIR.match(folder.name)
    if not match:
        return None
    kinds: list[str] = []
    prints: list[str] = []
    deps: list[str] = []
    used = 0
    for child in sorted(folder.iterdir()):
        if child.suffix == ".json" or child.name.startswith("dep-"):
            continue
        meta = child.with_name(child.name + ".json")
        if not meta.is_file():
            continue
        try:
            st = child.stat()
            # Our own read must not count as a use (a dry run, then the real run).
            text = read_unused(child).decode("ascii", "replace").strip()
            data = json.loads(meta.read_text())
        except (OSError, ValueError, RecursionError):
            continue
        used = max(used, st.st_mtime_ns, st.st_atime_ns)
        kinds.append(child.name)
        prints.append(text)
        for dep in data.get("deps", []) if isinstance(data, dict) else []:
            # cargo 1.95: [package-id hash, extern name, public, fingerprint u64]
            if isinstance(dep, list) and dep and isinstance(dep[-1], int):
                deps.append(_le_hex(dep[-1]))
    return Unit(
        match["package"], match["hash"], folder, tuple(kinds), tuple(prints), tuple(deps), used
    )


def nested_target_dirs(target: Path) -> list[Path]:
    """``target/pyo3-cache/targets/*``: one target dir per secondary interpreter."""
    from pyo3_cache.pin.state import secondary_targets

    nested = secondary_targets(target)
    if not nested.is_dir() or nested.is_symlink():
        return []
    return [
        child for child in sorted(nested.iterdir()) if child.is_dir() and not child.is_symlink()
    ]


def _artifact_hashes(deps_dir: Path) -> dict[str, set[str]]:
    """hash → extensions of the ``deps/`` files carrying it."""
    out: dict[str, set[str]] = {}
    for child in deps_dir.iterdir() if deps_dir.is_dir() else []:
        match = _ARTIFACT.match(child.name)
        if match:
            out.setdefault(match["hash"], set()).add(match["ext"] or "")
    return out


def _mode(unit: Unit, artifacts: dict[str, set[str]]) -> str:
    exts = artifacts.get(unit.hash)
    if exts is None:
        return "build"
    return "build" if any(ext in _CODE_EXTS or ext.startswith(".so") for ext in exts) else "check"


# --- deciding -------------------------------------------------------------------------


def units_to_keep(
    units: Iterable[Unit],
    artifacts: dict[str, set[str]],
    members: frozenset[str] | None = None,
) -> set[str]:
    """The folder names (``package-hash``) of units the next build will use.

    ``members`` are the workspace's package names (from Cargo.lock). A top
    unit of a dependency (nothing depends on it any more) is kept only if no
    other unit of its package and kind is built upon and it is the most
    recently used one: after a lock change the old ``pyo3`` unit is such an
    orphan, while the new one is used by the member (whatever read the old
    one's files since: the structure decides, not only the access times).
    A member's top unit is an orphan too when a newer unit of the same
    package and kind is one another unit builds on: in a
    workspace whose cdylib member depends on a library member (jiter 0.19:
    jiter-python on jiter), a lock change leaves the library's old unit on
    top, holding its whole old dependency chain. Without ``members`` every
    top unit is treated as a member's and kept, which keeps more and never
    costs a rebuild.
    """
    units = list(units)
    by_print: dict[str, Unit] = {}
    for unit in units:
        for value in unit.fingerprints:
            by_print[value] = unit
    depended_on = {
        by_print[value].path.name
        for unit in units
        for value in unit.dep_fingerprints
        if value in by_print and by_print[value] is not unit
    }

    def slot(unit: Unit) -> tuple[str, tuple[str, ...], str]:
        return (unit.package, unit.kinds, _mode(unit, artifacts))

    newest_any: dict[tuple[str, tuple[str, ...], str], int] = {}
    for unit in units:
        key = slot(unit)
        newest_any[key] = max(newest_any.get(key, 0), unit.last_used_ns)
    newest_used: dict[tuple[str, tuple[str, ...], str], int] = {}
    for unit in units:
        if unit.path.name in depended_on:
            key = slot(unit)
            newest_used[key] = max(newest_used.get(key, 0), unit.last_used_ns)
    newest_top: dict[tuple[str, tuple[str, ...], str], Unit] = {}
    for unit in units:
        if unit.path.name in depended_on or not unit.kinds:
            continue
        key = slot(unit)
        is_member = members is None or unit.package in members
        if not is_member and (key in newest_used or unit.last_used_ns < newest_any[key]):
            continue  # an orphan: another unit of this package is what builds use now
        if members is not None and is_member and unit.last_used_ns < newest_used.get(key, 0):
            continue  # an orphaned library member: a newer unit of it is built upon now
        best = newest_top.get(key)
        if best is None or unit.last_used_ns > best.last_used_ns:
            newest_top[key] = unit
    keep: set[str] = set()
    todo = list(newest_top.values())
    while todo:
        unit = todo.pop()
        if unit.path.name in keep:
            continue
        keep.add(unit.path.name)
        todo.extend(by_print[v] for v in unit.dep_fingerprints if v in by_print)
    return keep


# --- sizes and removal ---------------------------------------------------------------


def tree_bytes(path: Path) -> int:
    """Apparent size of files under ``path``; hard-linked files counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder, _dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(folder, name))
            except OSError:
                continue
            ident = (st.st_dev, st.st_ino)
            if st.st_nlink > 1:
                if ident in seen:
                    continue
                seen.add(ident)
            total += st.st_size
    return total


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISDIR(path.lstat().st_mode):
            shutil.rmtree(path)
        else:
            path.unlink()


def _plan_profile(
    profile: Path, report: PruneReport, root: Path, members: frozenset[str] | None
) -> list[Path]:
    units = [u for u in map(_read_unit, sorted((profile / ".fingerprint").iterdir())) if u]
    artifacts = _artifact_hashes(profile / "deps")
    keep = units_to_keep(units, artifacts, members)
    dropped = {u.path.name: u for u in units if u.path.name not in keep}
    dropped_hashes = {u.hash for u in dropped.values()}
    report.units_kept += len(keep)
    report.units_removed += sorted(
        f"{profile.relative_to(root).as_posix()}/{name}" for name in dropped
    )
    doomed: list[Path] = [u.path for u in dropped.values()]
    build = profile / "build"
    for child in sorted(build.iterdir()) if build.is_dir() else []:
        if child.name in dropped:
            doomed.append(child)
    for sub in ("deps", "examples"):
        folder = profile / sub
        for child in sorted(folder.iterdir()) if folder.is_dir() else []:
            match = _ARTIFACT.match(child.name)
            if match and match["hash"] in dropped_hashes:
                doomed.append(child)
    if (profile / "incremental").exists():
        doomed.append(profile / "incremental")
    return doomed


def workspace_members(lockfile: Path) -> frozenset[str] | None:
    """Package names of the workspace (Cargo.lock entries without a source), if readable."""
    from pyo3_cache.errors import ProjectError
    from pyo3_cache.project import read_lockfile

    try:
        return frozenset(p.name for p in read_lockfile(lockfile) if p.is_local)
    except ProjectError:
        return None


def prune_command(target_dir: str | None = None, *, dry_run: bool = False) -> PruneReport:
    """``pyo3-cache prune``: the project's target dir (or ``target_dir``), pruned."""
    from pyo3_cache import project
    from pyo3_cache.errors import ProjectError

    members = None
    try:
        root = project.find_workspace_root(project.find_manifest(None))
    except ProjectError:
        if not target_dir:
            raise
    else:
        members = workspace_members(root / "Cargo.lock")
    target = Path(target_dir) if target_dir else project.target_dir(root)
    return prune_target(target, dry_run=dry_run, members=members)


def prune_target(
    target_dir: Path, dry_run: bool = False, members: frozenset[str] | None = None
) -> PruneReport:
    """Remove from ``target_dir`` what the next build will not use (see module doc).

    ``members``: the workspace's package names; by default read from the
    Cargo.lock beside the target dir when there is one.
    """
    target_dir = Path(target_dir)
    if not target_dir.is_dir():
        raise OutputLocationError(f"target dir {target_dir} does not exist or is not a folder")
    if not is_cargo_target_dir(target_dir):
        raise OutputLocationError(
            f"{target_dir} has no cargo CACHEDIR.TAG and is not a crate's target/, so it is "
            "not a target dir cargo made; nothing pruned"
        )
    if members is None:
        members = workspace_members(target_dir.parent / "Cargo.lock")
    report = PruneReport(str(target_dir), dry_run)
    report.bytes_before = tree_bytes(target_dir)
    doomed: list[Path] = []
    # The target dirs the cargo wrapper gives interpreters other than the
    # primary one (target/pyo3-cache/targets/<interpreter>/) are pruned alike.
    for root in [target_dir, *nested_target_dirs(target_dir)]:
        for profile in find_profile_dirs(root):
            report.profiles.append(profile.relative_to(target_dir).as_posix())
            doomed += _plan_profile(profile, report, target_dir, members)
        doomed += [root / name for name in _DROPPED_TOP if (root / name).exists()]
    report.paths_removed = [p.relative_to(target_dir).as_posix() for p in doomed]
    if dry_run:
        gone = sum(tree_bytes(p) if p.is_dir() else _file_bytes(p) for p in doomed)
        report.bytes_after = report.bytes_before - gone
        return report
    for path in doomed:
        try:
            _remove(path)
        except OSError as exc:
            raise OutputLocationError(
                f"cannot remove {path.relative_to(target_dir)} from the target dir: {exc.strerror}"
            ) from None
    report.bytes_after = tree_bytes(target_dir)
    return report


def _file_bytes(path: Path) -> int:
    try:
        st = path.lstat()
    except OSError:
        return 0
    # A hard-linked file (cargo uplifts by hard link) frees nothing while its twin stays.
    return st.st_size if st.st_nlink <= 1 else 0


def render_text(report: PruneReport) -> str:
    verb = "would remove" if report.dry_run else "removed"
    lines = [
        f"prune {report.target_dir}{' (dry run)' if report.dry_run else ''}",
        f"  profiles: {', '.join(report.profiles) or 'none'}",
        f"  units kept: {report.units_kept}; {verb}: {len(report.units_removed)}",
    ]
    lines += [f"    - {name}" for name in report.units_removed]
    extra = [p for p in report.paths_removed if p.endswith(("incremental", "wheels"))]
    if extra:
        lines.append(f"  also {verb}: {', '.join(extra)}")
    lines.append(
        f"  size: {_human(report.bytes_before)} before, {_human(report.bytes_after)} after "
        f"({_human(report.bytes_freed)} freed)"
    )
    return "\n".join(lines)


def _human(n: int) -> str:
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(value) < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{int(value)} B"
        value /= 1024
    return f"{value:.1f} GiB"  # pragma: no cover
