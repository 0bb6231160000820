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
    version: str | None = None

    @property
    def main(self) -> bool:
        return not self.file.startswith(("build-script-", "run-build-script-"))

    @property
    def triple(self) -> str | None:
        return self.place.split("/")[0] if "/" in self.place else None

    @property
    def profile_dir(self) -> str:
        return self.place.rsplit("/", 1)[-1]


@dataclass
class TargetDirIndex:
    """Every unit record under a target dir, by package name."""

    root: Path
    by_package: dict[str, list[UnitRecord]] = field(default_factory=dict)
    by_fingerprint: dict[str, UnitRecord] = field(default_factory=dict)
    records: int = 0

    def units(self, package: str) -> list[UnitRecord]:
        return self.by_package.get(package, [])

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


def _fingerprint_dirs(root: Path) -> list[tuple[str, Path]]:
    found: list[tuple[str, Path]] = []
    try:
        firsts = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return found
    for first in firsts:
        direct = first / ".fingerprint"
        if direct.is_dir():
            found.append((first.name, direct))
            continue
        try:
            seconds = sorted(p for p in first.iterdir() if p.is_dir() and not p.is_symlink())
        except OSError:
            continue
        for second in seconds:
            nested = second / ".fingerprint"
            if nested.is_dir():
                found.append((f"{first.name}/{second.name}", nested))
    return found


def _version_from_dep_info(place_dir: Path, package: str, unit_hash: str) -> str | None:
    crate = package.replace("-", "_")
    path = place_dir / "deps" / f"{crate}-{unit_hash}.d"
    try:
        with path.open("rb") as handle:
            head = handle.read(8192).decode("utf-8", "replace")
    except OSError:
        return None
    found = re.search(rf"[/\\]{re.escape(package)}-(\d+\.\d+\.\d+[\w.+-]*)[/\\]", head)
    return found.group(1) if found else None


def read_target_dir(target_dir: str | os.PathLike[str]) -> TargetDirIndex:
    """Index the fingerprint records of a target dir (missing dir: an empty index)."""
    root = Path(target_dir)
    index = TargetDirIndex(root)
    for place, fp_dir in _fingerprint_dirs(root):
        try:
            unit_dirs = sorted(fp_dir.iterdir())
        except OSError:
            continue
        for unit_dir in unit_dirs:
            named = _UNIT_DIR.match(unit_dir.name)
            if named is None or not unit_dir.is_dir() or unit_dir.is_symlink():
                continue
            package, unit_hash = named.groups()
            try:
                entries = sorted(unit_dir.iterdir())
            except OSError:
                continue
            version: str | None = None
            version_read = False
            for entry in entries:
                if entry.suffix != ".json" or entry.is_symlink():
                    continue
                record = _read_record(entry)
                if record is None:
                    continue
                data, mtime = record
                file = entry.name[: -len(".json")]
                try:
                    fingerprint = (unit_dir / file).read_text(encoding="ascii", errors="replace")[
                        :16
                    ]
                except OSError:
                    fingerprint = None
                if not version_read and not file.startswith(("build-script-", "run-build-script-")):
                    version = _version_from_dep_info(fp_dir.parent, package, unit_hash)
                    version_read = True
                unit = UnitRecord(
                    package, unit_hash, file, place, mtime, data, fingerprint, version
                )
                index.by_package.setdefault(package, []).append(unit)
                if fingerprint:
                    index.by_fingerprint[fingerprint] = unit
                index.records += 1
    for records in index.by_package.values():
        records.sort(key=lambda r: r.mtime)
    return index


def _read_record(path: Path) -> tuple[dict[str, Any], float] | None:
    try:
        stat = path.stat()
        if stat.st_size > MAX_RECORD_BYTES:
            return None
        data = json.loads(path.read_bytes())
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
    if isinstance(fingerprint, int) and 0 <= fingerprint < 1 << 64:
        # cargo writes the hash file as the u64's little-endian bytes in hex.
        found = index.by_fingerprint.get(fingerprint.to_bytes(8, "little").hex())
        if found is not None:
            return found
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
