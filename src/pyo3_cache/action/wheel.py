"""The wheel cache's steps in the GitHub Action (the store side is cache/wheel_cache.py).

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

Cache trouble never fails a build: every failure is a warning and a miss.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from pyo3_cache.action.state import cache_path_string, guarded, python_inputs
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import files as github
from pyo3_cache.github import log
from pyo3_cache.keys.cargo_inputs import FILE_NAME as CARGO_INPUTS_FILE

if TYPE_CHECKING:
    from pyo3_cache.keys.cargo_inputs import CargoInputs

# The wheel cache's modules are imported where they are used: the key step
# imports this module on every job, and with wheel-cache off it needs none of them.


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "yes", "on")


def action_wheel_key(env: Mapping[str, str] | None = None, output_prefix: str = "") -> None:
    """action.yml: say where the wheels live and, with ``wheel-cache: true``, compute their key.

    Outputs ``key`` (empty when the wheel cache is off or failed), ``path``
    (what actions/cache restores and saves: the wheels and cargo's input list)
    and ``manifest``.  Entries are saved as ``<key>-<cargo inputs>``; the
    cache service matches ``key`` as a prefix when no entry has it exactly,
    newest first, and wheel-check trusts what came back only when cargo's
    inputs still match.
    """
    env = dict(os.environ if env is None else env)
    dist = Path(os.path.abspath(env.get("INPUT_DIST_DIR") or "dist"))
    github.append_env(
        {
            "PYO3_CACHE_DIST": str(dist),
            "PYO3_CACHE_WHEEL_SAVE_IF": "false" if env.get("INPUT_SAVE_IF") == "false" else "true",
        }
    )
    outputs = {"key": "", "path": "", "manifest": "", "restore-keys": ""}
    if _truthy(env.get("INPUT_WHEEL_CACHE")):

        def compute(e: Mapping[str, str]) -> None:
            from pyo3_cache.keys.manifest import default_manifest_path, write_manifest
            from pyo3_cache.keys.render import render_parts_table
            from pyo3_cache.keys.wheel import WheelInputs, compute_wheel_key

            inputs = WheelInputs()
            manifest = compute_wheel_key(
                prefix_key=e.get("INPUT_PREFIX_KEY") or "v1-pyo3",
                extra_key=e.get("INPUT_KEY") or None,
                python=next(iter(python_inputs(e)), None),  # the primary
                environ=e,
                inputs_out=inputs,
            )
            for secret in manifest.masks:  # before anything could print them
                log.mask(secret)
            for warning in manifest.warnings:
                log.warn(warning)
            written = write_manifest(manifest, default_manifest_path(None, e, kind="wheel"))
            # The same string for restore and save: actions/cache versions an
            # entry by its path list.
            where_dist = cache_path_string(dist, e)
            pattern = f"{where_dist}/*.whl\n{where_dist}/{CARGO_INPUTS_FILE}"
            outputs.update(
                key=manifest.key,
                path=pattern,
                manifest=str(written),
                **{"restore-keys": manifest.key + "-"},
            )
            where = str(inputs.crates[0].manifest) if inputs.crates else ""
            github.append_env(
                {
                    "PYO3_CACHE_WHEEL_KEY": manifest.key,
                    "PYO3_CACHE_WHEEL_PATH": pattern,
                    "PYO3_CACHE_WHEEL_MANIFEST": where,
                }
            )
            with log.group(f"wheel key {manifest.key}"):
                for row in render_parts_table(manifest):
                    log.info(f"  {row}")

        guarded("computing the wheel key", env, compute)
    github.append_output({output_prefix + name: value for name, value in outputs.items()})


def _cargo_changes(saved: CargoInputs, env: Mapping[str, str]) -> list[str]:
    from pyo3_cache.keys.wheel import find_wheel_inputs

    project = find_wheel_inputs(env.get("PYO3_CACHE_WHEEL_MANIFEST") or None, env)
    return project.check_cargo_inputs(saved, env)


def action_wheel_check(env: Mapping[str, str] | None = None) -> bool:
    """action.yml, after the restore: a hit is wheels whose saved cargo inputs still match.

    What actions/cache brought back (by the key or as its prefix) is checked
    against cargo's input list saved with it; on any change the restored
    wheels are removed again and the build runs.  The list itself never stays
    in dist/.
    """
    from pyo3_cache.cache.wheel_cache import describe, read_cargo_inputs
    from pyo3_cache.keys.wheel import wheel_files

    env = dict(os.environ if env is None else env)
    dist = Path(env.get("PYO3_CACHE_DIST") or "dist")
    listed = dist / CARGO_INPUTS_FILE
    saved = read_cargo_inputs(listed)
    wheels = wheel_files(dist)
    hit = False
    if env.get("RESTORE_OUTCOME") not in (None, "", "success"):
        log.warn("the wheel cache restore step failed; building as usual")
    elif saved is not None and wheels:
        try:
            changes = _cargo_changes(saved, env)
        except Pyo3CacheError as exc:
            changes = [f"cargo's inputs could not be checked ({exc})"]
        if changes:
            log.info(f"wheel cache: not using the restored wheels: {describe(changes)}")
            for name in saved.wheels:
                (dist / name).unlink(missing_ok=True)
            wheels = wheel_files(dist)
        else:
            hit = True
    elif wheels and _truthy(env.get("CACHE_HIT")):
        log.info("the wheel cache entry holds no list of cargo's inputs; building as usual")
    elif _truthy(env.get("CACHE_HIT")):
        log.warn(f"the wheel cache entry matched but no wheel is in {dist}; building as usual")
    listed.unlink(missing_ok=True)
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
    """save/action.yml: save the wheels on a miss, when the job built some and succeeded.

    The key saved is ``<wheel key>-<cargo inputs>``, with cargo's input list
    (taken now, after the build) written next to the wheels.
    """
    from pyo3_cache.keys.wheel import wheel_files

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
    if not reason:
        key, reason = _with_cargo_inputs(key, dist, env)
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


def _with_cargo_inputs(key: str, dist: Path, env: Mapping[str, str]) -> tuple[str, str]:
    """Write cargo's input list into dist/; the entry's key, or why nothing is saved."""
    from pyo3_cache.cache.wheel_cache import wheel_cargo_inputs, write_cargo_inputs
    from pyo3_cache.keys.wheel import find_wheel_inputs, wheel_files

    try:
        project = find_wheel_inputs(env.get("PYO3_CACHE_WHEEL_MANIFEST") or None, env)
    except Pyo3CacheError as exc:
        return key, f"the project could not be read ({exc})"
    inputs, problem = wheel_cargo_inputs(project, env, dist)
    if inputs is None:
        return key, problem
    inputs.wheels = [w.name for w in wheel_files(dist)]
    try:
        write_cargo_inputs(inputs, dist / CARGO_INPUTS_FILE)
    except OSError as exc:
        return key, f"cargo's input list could not be written ({exc.strerror or exc})"
    return f"{key}-{inputs.digest()}", ""


__all__ = [
    "action_wheel_check",
    "action_wheel_key",
    "action_wheel_save",
]
