"""The wheel cache: keep built wheels under the wheel key, skip the build on a hit.

Off GitHub the wheels go to a store (``dir:`` or ``s3://``, see store.py)::

    pyo3-cache wheel-cache restore --store dir:/cache --fail-on-miss \\
        || maturin build --release --out dist
    pyo3-cache wheel-cache save --store dir:/cache

On GitHub the action's steps (action/wheel.py) do the same around
``actions/cache``.

Only ``*.whl`` files are cached: an sdist in the same folder holds tests and
docs, which the wheel key leaves out on purpose.  Cache trouble never fails a
build: every failure is a warning and a miss.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.places import Places
from pyo3_cache.cache.restore import restore_cache
from pyo3_cache.cache.save import save_cache
from pyo3_cache.cache.store import Store
from pyo3_cache.keys.wheel import wheel_files

# The wheels travel under the store's "workspace" anchor; a restore points
# every anchor at the dist folder, so they land there whatever the machine.
_ANCHOR = "workspace"


@dataclass
class WheelCacheResult:
    """What ``wheel-cache restore``/``save`` did; ``to_json`` is the CLI's JSON output."""

    action: str  # "restore" or "save"
    key: str
    store: str
    dist: str
    hit: bool = False
    saved: bool = False
    reason: str = ""
    wheels: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "store": self.store, "dist": self.dist}
        if self.action == "restore":
            out["hit"] = self.hit
        else:
            out["saved"] = self.saved
            out["reason"] = self.reason
        out["wheels"] = self.wheels
        out["warnings"] = self.warnings
        return out

    def line(self) -> str:
        names = ", ".join(self.wheels)
        if self.action == "restore":
            if self.hit:
                return f"wheel cache hit: restored {names} into {self.dist}"
            return f"wheel cache miss: {self.key}"
        if self.saved:
            return f"saved {names} to {self.store} as {self.key}"
        return f"not saved ({self.reason}): {self.key}"


def _fingerprint(dist: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in wheel_files(dist)}


def restore_wheels(store: Store, key: str, dist: Path) -> WheelCacheResult:
    """Restore the wheels saved under exactly ``key`` into ``dist``.

    Never raises for cache trouble: a failure is a warning and a miss.
    """
    dist = Path(os.path.abspath(dist))
    result = WheelCacheResult("restore", key, store.spec, str(dist))
    before = _fingerprint(dist)
    places = Places(target=dist, cargo_home=dist, workspace=dist)
    restored = restore_cache(store, key, places, restore_keys=(), manifest_out=None)
    result.warnings += restored.warnings
    if restored.hit:
        after = _fingerprint(dist)
        result.wheels = sorted(n for n, f in after.items() if before.get(n) != f)
        result.hit = bool(result.wheels)
        if not result.hit:
            result.warnings.append(f"the entry for {key} held no wheel; treated as a miss")
    return result


def save_wheels(
    store: Store, key: str, dist: Path, key_manifest: bytes | None = None
) -> WheelCacheResult:
    """Save ``dist/*.whl`` (nothing else) under ``key``; never raises for cache trouble."""
    dist = Path(os.path.abspath(dist))
    result = WheelCacheResult("save", key, store.spec, str(dist))
    wheels = wheel_files(dist)
    if not wheels:
        result.reason = "no wheels"
        result.warnings.append(f"no *.whl in {dist}: nothing to save")
        return result
    result.wheels = [w.name for w in wheels]
    try:
        with tempfile.TemporaryDirectory(prefix="pyo3-cache-wheels.") as staging:
            for wheel in wheels:
                shutil.copy2(wheel, Path(staging) / wheel.name)
            saved = save_cache(store, key, [ArchiveRoot(_ANCHOR, Path(staging))], key_manifest)
    except OSError as exc:
        result.reason = "error"
        result.warnings.append(f"wheels not saved: {exc.strerror or exc}")
        return result
    result.saved = saved.saved
    result.reason = {"exact-hit": "already saved"}.get(saved.reason, saved.reason)
    result.warnings += saved.warnings
    return result
