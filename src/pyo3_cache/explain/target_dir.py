"""What a target dir remembers of earlier builds: cargo's fingerprint records.

cargo (1.95) keeps one folder per unit, ``<profile>/.fingerprint/<pkg>-<hash>/``
(``<triple>/<profile>/...`` with ``--target``), holding ``<kind>-<target>.json``:
the fingerprint's parts (``rustc``, ``features``, ``declared_features``,
``target``, ``profile``, ``path``, ``deps``, ``local``, ``rustflags``,
``config``, ``compile_kind``), most as hashes.  ``<hash>`` is the unit's
``-C extra-filename``, made from the package id, the profile, features,
target, rustc and the dependencies' hashes (``fingerprint/mod.rs``, "Fingerprints
and UnitHashes"): when one of those changes the unit gets a new folder and
cargo prints no ``Dirty`` line, only ``Compiling``.  The old folder stays
(cargo does not delete it), which is the evidence this module reads.

``deps`` entries are ``[hash of the dependency's package id, crate name,
public, the dependency's fingerprint hash]``: a new package-id hash for the
same name is another version or source of that dependency; only a new
fingerprint hash means the dependency was built differently.  Registry
packages' versions are not in the records; the ``deps/<crate>-<hash>.d``
file rustc wrote names the sources (``.../once_cell-1.21.4/src/lib.rs``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.target_dir import read_unused

_UNIT_DIR = re.compile(r"^(.+)-([0-9a-f]{16})$")
MAX_RECORD_BYTES = 1 << 20


@dataclass
class UnitRecord:
    package: str
    hash: str
    file: str
    """The record's name without .json: ``lib-util``, ``bin-app``, ``test-lib-util``,
    ``build-script-build-script-build``, ``run-build-script-build-script-build``."""
    place: str
    """Where under the target dir: ``debug``, ``release``, ``x86_64-unknown-linux-gnu/debug``."""
    mtime: float
    data: dict[str, Any]
    fingerprint: str | None = None
    """The 16-hex fingerprint hash cargo keeps beside the record (``lib-util``)."""
    place_dir: str = ""
    _version: str | None = field(default=None, repr=False)
    _version_read: bool = field(default=False, repr=False)

    @property
    def main(self) -> bool:
        return not self.file.startswith(("build-script-", "run-build-script-"))

    @property
    def triple(self) -> str | None:
        return self.place.split("/")[0] if "/" in self.place else None

    @property
    def profile_dir(self) -> str:
        return self.place.rsplit("/", 1)[-1]

    @property
    def version(self) -> str | None:
        """A registry package's version, from the sources rustc's dep-info names."""
        if not self._version_read and self.main:
            self._version_read = True
            self._version = _version_from_dep_info(self.place_dir, self.package, self.hash)
        return self._version


@dataclass
class TargetDirIndex:
    """The unit folders under a target dir by package; a package's records are
    read when first asked for (a big workspace has thousands of folders, a
    report needs the few of its new units and their dependencies)."""

    root: Path
    folders: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)
    """package -> (place, place dir, unit folder path)."""
    records: int = 0
    """Unit folders found."""
    _loaded: dict[str, list[UnitRecord]] = field(default_factory=dict)
    _crates: dict[str, list[str]] | None = None

    def units(self, package: str) -> list[UnitRecord]:
        loaded = self._loaded.get(package)
        if loaded is None:
            loaded = self._loaded[package] = _load(package, self.folders.get(package, []))
        return loaded

    def packages_of_crate(self, crate: str) -> list[str]:
        """Packages whose library crate may be called ``crate`` (``cfg_if``: cfg-if)."""
        if self._crates is None:
            self._crates = {}
            for package in self.folders:
                self._crates.setdefault(package.replace("-", "_"), []).append(package)
        return self._crates.get(crate, [])

    def watched_files(self, package: str) -> set[str]:
        """Files the package's build script watches (``rerun-if-changed``)."""
        out: set[str] = set()
        for record in self.units(package):
            if not record.file.startswith("run-build-script-"):
                continue
            for local in record.data.get("local") or []:
                if isinstance(local, dict) and isinstance(local.get("RerunIfChanged"), dict):
                    paths = local["RerunIfChanged"].get("paths") or []
                    out.update(str(p) for p in paths if isinstance(p, str))
        return out


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return sorted(
                (e for e in entries if e.is_dir(follow_symlinks=False)), key=lambda e: e.name
            )
    except OSError:
        return []


def _fingerprint_dirs(root: Path) -> list[tuple[str, str]]:
    """(place, .fingerprint path): ``<profile>/`` and ``<triple>/<profile>/``."""
    found: list[tuple[str, str]] = []
    for first in _subdirs(str(root)):
        direct = os.path.join(first.path, ".fingerprint")
        if os.path.isdir(direct):
            found.append((first.name, direct))
            continue
        for second in _subdirs(first.path):
            nested = os.path.join(second.path, ".fingerprint")
            if os.path.isdir(nested):
                found.append((f"{first.name}/{second.name}", nested))
    return found


def _version_from_dep_info(place_dir: str, package: str, unit_hash: str) -> str | None:
    crate = package.replace("-", "_")
    path = os.path.join(place_dir, "deps", f"{crate}-{unit_hash}.d")
    try:
        with open(path, "rb") as handle:
            head = handle.read(8192).decode("utf-8", "replace")
    except OSError:
        return None
    found = re.search(rf"[/\\]{re.escape(package)}-(\d+\.\d+\.\d+[\w.+-]*)[/\\]", head)
    return found.group(1) if found else None


def read_target_dir(target_dir: str | os.PathLike[str]) -> TargetDirIndex:
    """Index the unit folders of a target dir (missing dir: an empty index)."""
    root = Path(target_dir)
    index = TargetDirIndex(root)
    for place, fp_dir in _fingerprint_dirs(root):
        place_dir = os.path.dirname(fp_dir)
        for unit_dir in _subdirs(fp_dir):
            named = _UNIT_DIR.match(unit_dir.name)
            if named is None:
                continue
            index.folders.setdefault(named.group(1), []).append((place, place_dir, unit_dir.path))
            index.records += 1
    return index


def _load(package: str, folders: list[tuple[str, str, str]]) -> list[UnitRecord]:
    records: list[UnitRecord] = []
    for place, place_dir, folder in folders:
        unit_hash = folder.rsplit("-", 1)[-1]
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries if e.is_file(follow_symlinks=False))
        except OSError:
            continue
        for name in names:
            if not name.endswith(".json"):
                continue
            record = _read_record(os.path.join(folder, name))
            if record is None:
                continue
            data, mtime = record
            file = name[: -len(".json")]
            fingerprint = None
            if file in names:
                try:
                    raw = read_unused(os.path.join(folder, file), 16)
                    fingerprint = raw.decode("ascii", "replace")
                except OSError:
                    pass
            records.append(
                UnitRecord(package, unit_hash, file, place, mtime, data, fingerprint, place_dir)
            )
    records.sort(key=lambda r: r.mtime)
    return records


def _read_record(path: str) -> tuple[dict[str, Any], float] | None:
    try:
        stat = os.stat(path)
        if stat.st_size > MAX_RECORD_BYTES:
            return None
        with open(path, "rb") as handle:
            data = json.loads(handle.read())
    except (OSError, ValueError, RecursionError):
        return None
    return (data, stat.st_mtime) if isinstance(data, dict) else None


# --- comparing two records ---------------------------------------------------------


@dataclass
class RecordDifference:
    kind: str
    old: str
    new: str
    dependency: str | None = None
    """For cascades and dependency changes: the dependency's package name."""


def _features(value: object) -> list[str]:
    if isinstance(value, str) and value.startswith("["):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return [str(v) for v in parsed] if isinstance(parsed, list) else [value]
    return []


def _listed(items: list[str]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def _deps(record: UnitRecord) -> dict[str, tuple[Any, Any]]:
    out: dict[str, tuple[Any, Any]] = {}
    for dep in record.data.get("deps") or []:
        if isinstance(dep, list) and len(dep) >= 4 and isinstance(dep[1], str):
            out[dep[1]] = (dep[0], dep[3])
    return out


def _dep_package(index: TargetDirIndex, fingerprint: object, crate: str) -> UnitRecord | None:
    """The record a ``deps`` entry points at: a unit of a package whose crate is
    ``crate`` with that fingerprint hash (cargo writes the hash file as the
    u64's little-endian bytes in hex)."""
    if not isinstance(fingerprint, int) or not 0 <= fingerprint < 1 << 64:
        return None
    wanted = fingerprint.to_bytes(8, "little").hex()
    for package in index.packages_of_crate(crate):
        for record in index.units(package):
            if record.fingerprint == wanted:
                return record
    return None


def compare_records(
    index: TargetDirIndex, old: UnitRecord, new: UnitRecord
) -> list[RecordDifference]:
    """Why ``new`` is another unit than ``old`` (same package and target), most telling first."""
    out: list[RecordDifference] = []
    a, b = old.data, new.data
    if a.get("rustc") != b.get("rustc"):
        out.append(RecordDifference("toolchain", "another rustc", "this rustc"))
    if old.version and new.version and old.version != new.version:
        out.append(RecordDifference("dependency-version", old.version, new.version, new.package))
    if a.get("features") != b.get("features"):
        out.append(
            RecordDifference(
                "features",
                _listed(_features(a.get("features"))),
                _listed(_features(b.get("features"))),
            )
        )
    if a.get("compile_kind") != b.get("compile_kind") or old.triple != new.triple:
        out.append(RecordDifference("target", old.triple or "host", new.triple or "host"))
    if a.get("profile") != b.get("profile"):
        if old.profile_dir != new.profile_dir:
            out.append(RecordDifference("profile", old.profile_dir, new.profile_dir))
        else:
            out.append(RecordDifference("profile", "other profile settings", "these"))
    if a.get("rustflags") != b.get("rustflags"):
        before = [str(f) for f in a.get("rustflags") or []]
        after = [str(f) for f in b.get("rustflags") or []]
        change = [f"+ {f}" for f in after if f not in before] + [
            f"- {f}" for f in before if f not in after
        ]
        out.append(
            RecordDifference(
                "rustflags", " ".join(before) or "(none)", " ".join(change) or " ".join(after)
            )
        )
    if a.get("declared_features") != b.get("declared_features") and not any(
        d.kind == "features" for d in out
    ):
        out.append(
            RecordDifference(
                "features",
                "declared " + _listed(_features(a.get("declared_features"))),
                "declared " + _listed(_features(b.get("declared_features"))),
            )
        )
    if a.get("config") != b.get("config"):
        out.append(RecordDifference("config-settings", "other cargo config", "this cargo config"))
    old_deps, new_deps = _deps(old), _deps(new)
    for crate in sorted(set(new_deps) - set(old_deps)):
        dep = _dep_package(index, new_deps[crate][1], crate)
        name = dep.package if dep is not None else crate
        out.append(RecordDifference("new-dependency", "", f"+ {name}", name))
    for crate in sorted(set(old_deps) - set(new_deps)):
        out.append(RecordDifference("new-dependency", "", f"- {crate}", crate))
    cascades: list[RecordDifference] = []
    for crate in sorted(set(old_deps) & set(new_deps)):
        (old_id, old_fp), (new_id, new_fp) = old_deps[crate], new_deps[crate]
        if old_id == new_id and old_fp == new_fp:
            continue
        # Another package id is another version or source of the dependency; the
        # dependency's own record says which (its dependency-version difference).
        dep = _dep_package(index, new_fp, crate) or _dep_package(index, old_fp, crate)
        name = dep.package if dep is not None else crate
        cascades.append(RecordDifference("dependency-build", "", "", name))
    if not out:
        out.extend(cascades)
    return out


def previous_unit(index: TargetDirIndex, current: UnitRecord) -> UnitRecord | None:
    """The other record of the same package and target closest to ``current``:
    fewest differences (another version or flag set than the one built last
    may be the nearer one), then the same place, then the newest."""
    others = [
        r for r in index.units(current.package) if r.file == current.file and r.hash != current.hash
    ]
    if not others:
        return None

    def distance(record: UnitRecord) -> tuple[float, bool, float]:
        diffs = compare_records(index, record, current)
        own = [d for d in diffs if d.kind != "dependency-build"]
        return (
            len(own) + (0.5 if len(own) < len(diffs) else 0.0),
            record.place != current.place,
            -record.mtime,
        )

    return min(others, key=distance)


def current_unit(
    index: TargetDirIndex, package: str, unit_hash: str | None = None
) -> UnitRecord | None:
    """The package's main record from this build: the one of ``unit_hash`` when
    the log names it, else the newest."""
    records = [r for r in index.units(package) if r.main]
    if unit_hash is not None:
        named = [r for r in records if r.hash == unit_hash]
        if named:
            return named[-1]
    return records[-1] if records else None
