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

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.commands import Say, fallback_scopes, job_scope
from pyo3_cache.cache.places import Places, open_store
from pyo3_cache.cache.restore import RestoreResult, restore_cache
from pyo3_cache.cache.save import save_cache
from pyo3_cache.cache.store import Store, check_key, scoped_key, unscoped_key
from pyo3_cache.errors import Pyo3CacheError, StoreError
from pyo3_cache.keys.cargo_inputs import FILE_NAME as CARGO_INPUTS_FILE
from pyo3_cache.keys.cargo_inputs import CargoInputs
from pyo3_cache.keys.model import DEFAULT_PREFIX
from pyo3_cache.keys.wheel import WheelInputs, compute_wheel_key, wheel_files

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
    reasons: list[str] = field(default_factory=list)
    """Why entries under the key were not used (cargo's inputs moved since)."""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"key": self.key, "store": self.store, "dist": self.dist}
        if self.action == "restore":
            out["hit"] = self.hit
        else:
            out["saved"] = self.saved
            out["reason"] = self.reason
        out["wheels"] = self.wheels
        out["warnings"] = self.warnings
        if self.action == "restore":
            out["reasons"] = self.reasons
        return out

    def line(self) -> str:
        names = ", ".join(self.wheels)
        if self.action == "restore":
            if self.hit:
                return f"wheel cache hit: restored {names} into {self.dist}"
            why = f" ({self.reasons[0]})" if self.reasons else ""
            return f"wheel cache miss: {self.key}{why}"
        if self.saved:
            return f"saved {names} to {self.store} as {self.key}"
        return f"not saved ({self.reason}): {self.key}"


def _fingerprint(dist: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in wheel_files(dist)}


# How many entries under one wheel key a restore looks at (newest first): each
# holds wheels built from other contents of cargo's own inputs.
_CANDIDATES = 5


def restore_wheels(
    store: Store,
    key: str,
    dist: Path,
    check: Callable[[CargoInputs], list[str]] | None = None,
    *,
    scope: str | None = None,
    fallback_scopes: Sequence[str] = (),
) -> WheelCacheResult:
    """Restore the wheels saved under ``key`` into ``dist``.

    ``scope`` (a branch or ref) and then ``fallback_scopes`` are searched in
    turn, as for ``restore_cache``: wheels a pull request saved are never seen
    from the default branch.

    With ``check`` (the project is known), entries are ``<key>-<inputs>``:
    the newest are tried in turn, each unpacked aside, and the first whose
    saved cargo inputs (``keys/cargo_inputs.py``) still match — ``check``
    returns no change — has its wheels moved into ``dist``.  Without it, the
    exact key only (a key the caller vouches for).  Never raises for cache
    trouble: a failure is a warning and a miss.
    """
    dist = Path(os.path.abspath(dist))
    result = WheelCacheResult("restore", key, store.spec, str(dist))
    if check is None:
        before = _fingerprint(dist)
        restored = _restore_into(dist, store, key, scope, fallback_scopes)
        result.warnings += restored.warnings
        if restored.hit:
            after = _fingerprint(dist)
            result.wheels = sorted(n for n, f in after.items() if before.get(n) != f)
            result.hit = bool(result.wheels)
            if not result.hit:
                result.warnings.append(f"the entry for {key} held no wheel; treated as a miss")
        return result
    scopes: list[str | None] = [scope, *fallback_scopes] if scope is not None else [None]
    try:
        for where in scopes:
            found = store.list_entries(scoped_key(where, key + "-"))
            entries = sorted(found, key=lambda e: (e.created_ns, e.key), reverse=True)
            names = [unscoped_key(where, e.key) for e in entries[:_CANDIDATES]]
            hit = next(
                (n for n in names if _restore_checked(store, n, dist, check, result, where)), None
            )
            if hit is not None:
                result.key = hit
                break
    except (StoreError, OSError) as exc:
        result.warnings.append(f"wheel cache not restored: {exc}")
    return result


def _restore_into(
    folder: Path,
    store: Store,
    key: str,
    scope: str | None,
    fallback_scopes: Sequence[str] = (),
) -> RestoreResult:
    """The entry ``key`` (exact key only) unpacked into ``folder``, every anchor pointed there."""
    return restore_cache(
        store,
        key,
        Places(target=folder, cargo_home=folder, workspace=folder),
        restore_keys=(),
        manifest_out=None,
        roots=[ArchiveRoot(_ANCHOR, folder)],
        scope=scope,
        fallback_scopes=fallback_scopes,
    )


def _restore_checked(
    store: Store,
    key: str,
    dist: Path,
    check: Callable[[CargoInputs], list[str]],
    result: WheelCacheResult,
    scope: str | None = None,
) -> bool:
    """Unpack one entry next to ``dist``; move its wheels in only if cargo's inputs match."""
    dist.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".pyo3-cache-wheels.", dir=dist.parent) as aside:
        staging = Path(aside)
        restored = _restore_into(staging, store, key, scope)
        result.warnings += restored.warnings
        if not restored.hit:
            return False
        saved = read_cargo_inputs(staging / CARGO_INPUTS_FILE)
        if saved is None:
            result.reasons.append(f"{key} holds no list of cargo's inputs")
            return False
        try:
            changes = check(saved)
        except Pyo3CacheError as exc:  # an input we cannot read: not trusted
            changes = [f"cargo's inputs could not be checked ({exc})"]
        if changes:
            entry = "…-" + key.rsplit("-", 1)[-1]
            result.reasons.append(f"since the wheels of {entry} were built: {describe(changes)}")
            return False
        wheels = wheel_files(staging)
        if not wheels:
            result.warnings.append(f"the entry for {key} held no wheel; treated as a miss")
            return False
        dist.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            os.replace(wheel, dist / wheel.name)
        result.wheels = [w.name for w in wheels]
        result.hit = True
        return True


def describe(changes: list[str], limit: int = 5) -> str:
    """``a.rs changed; the variable X changed and 3 more``."""
    more = f" and {len(changes) - limit} more" if len(changes) > limit else ""
    return "; ".join(changes[:limit]) + more


def read_cargo_inputs(path: Path) -> CargoInputs | None:
    """The cargo input list saved with wheels; None when absent or not ours."""
    try:
        return CargoInputs.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, RecursionError):
        return None


def write_cargo_inputs(inputs: CargoInputs, path: Path) -> None:
    path.write_text(json.dumps(inputs.to_json(), indent=1) + "\n", encoding="utf-8")


def save_wheels(
    store: Store,
    key: str,
    dist: Path,
    key_manifest: bytes | None = None,
    inputs: CargoInputs | None = None,
    *,
    scope: str | None = None,
) -> WheelCacheResult:
    """Save ``dist/*.whl`` (only those) as ``key`` in ``scope``; never raises for cache trouble.

    With ``inputs`` (cargo's own list, taken after the build) the entry is
    ``<key>-<inputs digest>`` and carries the list, which a restore checks.
    """
    dist = Path(os.path.abspath(dist))
    result = WheelCacheResult("save", key, store.spec, str(dist))
    wheels = wheel_files(dist)
    if not wheels:
        result.reason = "no wheels"
        result.warnings.append(f"no *.whl in {dist}: nothing to save")
        return result
    result.wheels = [w.name for w in wheels]
    if inputs is not None:
        result.key = key = f"{key}-{inputs.digest()}"
        inputs.wheels = list(result.wheels)
    try:
        with tempfile.TemporaryDirectory(prefix="pyo3-cache-wheels.") as staging:
            for wheel in wheels:
                shutil.copy2(wheel, Path(staging) / wheel.name)
            if inputs is not None:
                write_cargo_inputs(inputs, Path(staging) / CARGO_INPUTS_FILE)
            saved = save_cache(
                store, key, [ArchiveRoot(_ANCHOR, Path(staging))], key_manifest, scope=scope
            )
    except OSError as exc:
        result.reason = "error"
        result.warnings.append(f"wheels not saved: {exc.strerror or exc}")
        return result
    result.saved = saved.saved
    result.reason = {"exact-hit": "already saved"}.get(saved.reason, saved.reason)
    result.warnings += saved.warnings
    return result


def wheel_cargo_inputs(
    inputs: WheelInputs, environ: Mapping[str, str], dist: Path
) -> tuple[CargoInputs | None, str]:
    """Cargo's input list after the build, or why there is none (then nothing is saved).

    Without it a restore could not notice a changed file that ``build.rs``
    reads or a ``#[path]`` module outside the crate's folders, so wheels are
    only saved with it.
    """
    try:
        found = inputs.collect_cargo_inputs(environ, outputs=(dist,))
    except (Pyo3CacheError, OSError) as exc:
        return None, f"cargo's input list could not be read ({exc})"
    if not found.sources:
        where = inputs.workspace_root or "the project"
        return None, (
            f"no cargo dep-info in the target dir of {where}: build the wheels there first "
            "(cargo's list of the files and variables the build read is saved with them)"
        )
    return found, ""


@dataclass(frozen=True)
class WheelCacheArgs:
    """What ``wheel-cache restore|save`` is given, named as its flags."""

    op: str  # "restore" or "save"
    store: str
    dist: str = "dist"
    key: str | None = None
    """The key; by default the wheel key is computed (``compute_wheel_key``)."""
    endpoint_url: str | None = None
    manifest_path: str | None = None
    prefix_key: str = DEFAULT_PREFIX
    extra_key: str | None = None
    python: str | None = None
    scope: str | None = None
    fallback_scope: Sequence[str] = ()
    target: str | None = None
    profile: str | None = None
    features: str | None = None


def wheel_cache_command(args: WheelCacheArgs, *, warn: Say) -> WheelCacheResult:
    """``pyo3-cache wheel-cache restore|save``: the wheels under the wheel key, in a store.

    Without a key, the wheel key is computed and cargo's inputs are checked on
    a restore and saved with the wheels.  A malformed store or key raises;
    store trouble is a warning and a miss.
    """
    manifest_bytes = None
    inputs: WheelInputs | None = None
    if args.key:
        key = check_key(args.key)
    else:
        inputs = WheelInputs()
        manifest = compute_wheel_key(
            args.manifest_path,
            prefix_key=args.prefix_key,
            extra_key=args.extra_key,
            python=args.python,
            target=args.target,
            profile=args.profile,
            features=args.features,
            inputs_out=inputs,
        )
        for warning in manifest.warnings:
            warn(warning)
        key = manifest.key
        manifest_bytes = json.dumps(manifest.to_json(), indent=2).encode("utf-8")
    store = open_store(args.store, endpoint_url=args.endpoint_url)
    dist = Path(args.dist)
    project = Path(args.manifest_path).parent if args.manifest_path else Path.cwd()
    scope = job_scope(args.scope, project)
    if args.op == "restore":
        check = None
        if inputs is not None:
            known = inputs

            def check(saved: CargoInputs) -> list[str]:
                return known.check_cargo_inputs(saved, os.environ)

        fallback = fallback_scopes(args.fallback_scope, scope, scope_given=bool(args.scope))
        result = restore_wheels(store, key, dist, check, scope=scope, fallback_scopes=fallback)
    elif inputs is None:
        result = save_wheels(store, key, dist, manifest_bytes, scope=scope)
    else:
        cargo_inputs, problem = wheel_cargo_inputs(inputs, os.environ, dist)
        if cargo_inputs is None:
            result = WheelCacheResult("save", key, store.spec, str(dist), reason="no dep-info")
            result.warnings.append(f"wheels not saved: {problem}")
        else:
            result = save_wheels(store, key, dist, manifest_bytes, cargo_inputs, scope=scope)
    for warning in result.warnings:
        warn(warning)
    return result
