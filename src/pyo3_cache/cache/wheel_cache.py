"""The wheel cache: keep built wheels under the wheel key, skip the build on a hit.

Off GitHub the wheels go to a store (``dir:`` or ``s3://``, see store.py)::

    pyo3-cache wheel-cache restore --store dir:/cache --fail-on-miss \\
        || maturin build --release --out dist
    pyo3-cache wheel-cache save --store dir:/cache

On GitHub the action restores ``dist/*.whl`` with ``actions/cache/restore``
(the cache service's token only reaches JavaScript actions) and sets the
output ``wheel-hit``; the steps in between are here:

* ``action wheel-key`` (action.yml): computes the wheel key, tells later steps
  where the wheels live (``PYO3_CACHE_DIST``);
* ``action wheel-check`` (action.yml, after the restore): a hit only counts
  when wheels are really there; sets ``wheel-hit`` and ``PYO3_CACHE_WHEEL_HIT``;
* ``action wheel-save`` (save/action.yml): save on a miss when the job built
  wheels and succeeded;
* ``action audit-dist`` (save/action.yml): ``audit-bytecode`` over the wheels,
  a warning section in the job summary, or a failed job when
  ``audit-bytecode: error`` asks for it.

Only ``*.whl`` files are cached: an sdist in the same folder holds tests and
docs, which the wheel key leaves out on purpose.  Cache trouble never fails a
build: every failure is a warning and a miss.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.cache.archive import ArchiveRoot
from pyo3_cache.cache.places import Places
from pyo3_cache.cache.restore import restore_cache
from pyo3_cache.cache.save import save_cache
from pyo3_cache.cache.store import Store
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import client as github
from pyo3_cache.github import log
from pyo3_cache.keys.wheel import wheel_files

# The wheels travel under the store's "workspace" anchor; a restore points
# every anchor at the dist folder, so they land there whatever the machine.
_ANCHOR = "workspace"
AUDIT_MODES = ("warn", "error", "off")


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


# --- the GitHub Action's steps ------------------------------------------------------


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


def _guarded(what: str, env: Mapping[str, str], step: Any) -> None:
    """Run one action step; our trouble is one warning, never a failed job."""
    try:
        step(env)
    except Pyo3CacheError as exc:
        log.warn(f"{what} skipped: {exc}")
    except Exception as exc:  # never fail the user's job over our own bug
        log.warn(f"{what} skipped: internal error ({type(exc).__name__}: {exc})")


def action_wheel_key(env: Mapping[str, str] | None = None) -> None:
    """action.yml: say where the wheels live and, with ``wheel-cache: true``, compute their key.

    Outputs ``key`` (empty when the wheel cache is off or failed), ``path``
    (the glob actions/cache restores and saves) and ``manifest``.
    """
    env = dict(os.environ if env is None else env)
    dist = Path(os.path.abspath(env.get("INPUT_DIST_DIR") or "dist"))
    github.append_env(
        {
            "PYO3_CACHE_DIST": str(dist),
            "PYO3_CACHE_WHEEL_SAVE_IF": "false" if env.get("INPUT_SAVE_IF") == "false" else "true",
        }
    )
    outputs = {"key": "", "path": "", "manifest": ""}
    if _truthy(env.get("INPUT_WHEEL_CACHE")):

        def compute(e: Mapping[str, str]) -> None:
            from pyo3_cache.keys.manifest import default_manifest_path, write_manifest
            from pyo3_cache.keys.render import render_parts_table
            from pyo3_cache.keys.wheel import compute_wheel_key

            manifest = compute_wheel_key(
                prefix_key=e.get("INPUT_PREFIX_KEY") or "v1-pyo3",
                extra_key=e.get("INPUT_KEY") or None,
                python=e.get("INPUT_PYTHON") or None,
                environ=e,
            )
            for warning in manifest.warnings:
                log.warn(warning)
            written = write_manifest(manifest, default_manifest_path(None, e, kind="wheel"))
            # The same string for restore and save: actions/cache versions an
            # entry by its path list.
            pattern = f"{dist}{os.sep}*.whl"
            outputs.update(key=manifest.key, path=pattern, manifest=str(written))
            github.append_env(
                {"PYO3_CACHE_WHEEL_KEY": manifest.key, "PYO3_CACHE_WHEEL_PATH": pattern}
            )
            with log.group(f"wheel key {manifest.key}"):
                for row in render_parts_table(manifest):
                    log.info(f"  {row}")

        _guarded("computing the wheel key", env, compute)
    github.append_output(outputs)


def action_wheel_check(env: Mapping[str, str] | None = None) -> bool:
    """action.yml, after the restore: a hit is an exact key match that put wheels in dist/."""
    env = dict(os.environ if env is None else env)
    dist = Path(env.get("PYO3_CACHE_DIST") or "dist")
    wheels = wheel_files(dist)
    hit = _truthy(env.get("CACHE_HIT")) and bool(wheels)
    if _truthy(env.get("CACHE_HIT")) and not wheels:
        log.warn(f"the wheel cache entry matched but no wheel is in {dist}; building as usual")
    if env.get("RESTORE_OUTCOME") not in (None, "", "success"):
        log.warn("the wheel cache restore step failed; building as usual")
    github.append_output({"wheel-hit": "true" if hit else "false"})
    github.append_env({"PYO3_CACHE_WHEEL_HIT": "true" if hit else "false"})
    key = env.get("PYO3_CACHE_WHEEL_KEY", "")
    if hit:
        names = ", ".join(w.name for w in wheels)
        log.notice(
            f"wheel cache hit: {names} restored, built from the same inputs; the Rust cache "
            "is not restored: skip the build with if: steps.<id>.outputs.wheel-hit != 'true'"
        )
        if _truthy(env.get("INPUT_SUMMARY", "true")):
            with_markdown = (
                "## pyo3-cache: wheel cache hit\n\n"
                f"No input of the wheel build changed since the wheels for key `{key}` were "
                f"built, so they were restored and cargo did not need to run:\n\n"
                + "".join(f"- `{w.name}`\n" for w in wheels)
            )
            github.append_summary(with_markdown)
    else:
        log.info(f"wheel cache miss: {key}; the build runs and save stores its wheels")
    return hit


def action_wheel_save(env: Mapping[str, str] | None = None) -> bool:
    """save/action.yml: save the wheels on a miss, when the job built some and succeeded."""
    env = dict(os.environ if env is None else env)
    key = env.get("PYO3_CACHE_WHEEL_KEY", "")
    dist = Path(env.get("PYO3_CACHE_DIST") or "dist")
    wheels = wheel_files(dist)
    status = env.get("JOB_STATUS", "success")
    if not key:
        reason = "the wheel cache is off"
    elif _truthy(env.get("PYO3_CACHE_WHEEL_HIT")):
        reason = "the wheels came from the cache"
    elif env.get("PYO3_CACHE_WHEEL_SAVE_IF") == "false":
        reason = "save-if is false"
    elif status not in ("success", ""):
        reason = f"the job {status}"
    elif not wheels:
        reason = f"no *.whl in {dist}"
    else:
        reason = ""
    save = not reason
    if save:
        log.info(f"saving {', '.join(w.name for w in wheels)} as {key}")
    else:
        log.info(f"wheels not saved: {reason}")
    github.append_output(
        {
            "save": "true" if save else "false",
            "key": key,
            "path": env.get("PYO3_CACHE_WHEEL_PATH", ""),
        }
    )
    return save


def audit_markdown(report: Any, dist: Path) -> str:
    """The job summary's bytecode section: a warning callout over the audit's table."""
    from pyo3_cache.bytecode.audit import render_markdown
    from pyo3_cache.explain.render import escape_markdown

    errors, warnings = report.count("error"), report.count("warning")
    lines = [f"## pyo3-cache: bytecode in {escape_markdown(dist.name)}/", ""]
    if errors or warnings:
        lines += [
            "> [!WARNING]",
            f"> The built wheels hold {errors} bytecode error(s) and {warnings} warning(s): "
            "`.pyc` files another interpreter cannot use, or that it recompiles on import. "
            "Set `audit-bytecode: error` to fail the job on them.",
            "",
        ]
    body = render_markdown(report)
    return "\n".join(lines) + body + "\n"


def action_audit_dist(env: Mapping[str, str] | None = None) -> bool:
    """save/action.yml: audit the wheels in dist/; True when the job should fail.

    Fails only when ``audit-bytecode: error`` asks and an error finding exists;
    otherwise findings are warnings in the log and a section in the summary.
    """
    from pyo3_cache.bytecode.audit import audit_dist

    env = dict(os.environ if env is None else env)
    mode = (env.get("INPUT_AUDIT_BYTECODE") or "warn").strip().lower()
    if mode not in AUDIT_MODES:
        log.warn(f"audit-bytecode: {mode!r} is not one of {', '.join(AUDIT_MODES)}; using warn")
        mode = "warn"
    fail = False
    if mode != "off":
        dist = Path(env.get("PYO3_CACHE_DIST") or "dist")
        report = audit_dist(dist)
        if report is None:
            log.info(f"no wheels in {dist}: no bytecode to audit")
        else:
            for finding in report.findings:
                if finding.severity in ("error", "warning"):
                    log.warn(f"{finding.kind}: {finding.path}: {finding.detail}")
            log.info(
                f"bytecode audit of {dist}: {report.checked} .pyc file(s), "
                f"{report.count('error')} error(s), {report.count('warning')} warning(s)"
            )
            if report.findings and _truthy(env.get("INPUT_SUMMARY", "true")):
                github.append_summary(audit_markdown(report, dist))
            fail = mode == "error" and report.has_errors
    github.append_output({"failed": "true" if fail else "false"})
    return fail
