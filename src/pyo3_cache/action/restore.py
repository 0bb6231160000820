"""after-restore: put the entry in place, pin PyO3, capture cargo output, explain a partial hit."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from pyo3_cache.action.state import (
    COMMENT_MODES,
    ENTRY_FORMATS,
    MANIFEST_IN_CACHE,
    MTIMES_IN_CACHE,
    FlowState,
    PhaseClock,
    entry_dir,
    guard,
    places,
    python_inputs,
    remove_entry_dir,
    state_path,
    truthy,
)
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import files as github
from pyo3_cache.github import log


def _manifest_parts(path: str) -> dict[str, str]:
    """Part name → "hash: what it stands for", from a key manifest (for the summary)."""
    from pyo3_cache.keys.manifest import load_manifest
    from pyo3_cache.keys.render import part_summary

    try:
        manifest = load_manifest(path)
    except Pyo3CacheError:
        return {}
    return {part.name: f"{part.hash}: {part_summary(part)}" for part in manifest.parts}


def _explain_key_change(old: Path, new: Path) -> list[str]:
    from pyo3_cache.keys.diff import diff_manifests
    from pyo3_cache.keys.manifest import load_manifest

    diff = diff_manifests(load_manifest(old), load_manifest(new))
    return list(diff.lines())


def _put_in_place(folder: Path, state: FlowState) -> None:
    """The entry actions/cache restored into ``folder``, in this job's folders."""
    from pyo3_cache.cache.dir_store import DirStore
    from pyo3_cache.cache.places import anchored_roots
    from pyo3_cache.cache.restore import restore_cache
    from pyo3_cache.cache.tree import is_tree_record, restore_tree
    from pyo3_cache.errors import StoreError

    store = DirStore(folder)
    keys = [entry.key for entry in store.list_entries("")] if folder.is_dir() else []
    key = state.matched_key if state.matched_key in keys else (keys[0] if keys else "")
    if not key:
        raise StoreError(f"the restored {folder.name} folder holds no pyo3-cache entry")
    contents = [line.strip() for line in state.paths.splitlines() if line.strip()]
    where = places(state)
    roots = anchored_roots(where, contents) if contents else None
    if is_tree_record(store.read_record(key)):  # saved with entry-format: tree
        result = restore_tree(store, key, where, roots=roots)
        done = f"moved the cache entry into place: {result.restored_bytes} bytes"
    else:  # an archive: the default format, and every earlier version's
        result = restore_cache(store, key, where, roots=roots)
        sizes = f"{result.archive_bytes} bytes → {result.restored_bytes} bytes"
        done = f"unpacked the cache entry: {sizes}"
    for warning in result.warnings:
        log.warn(warning)
    if not result.hit:
        raise StoreError("the restored entry could not be used")
    log.info(f"{done} in {result.seconds:.2f} s")


def make_target_dir_as_cargo_does(target: Path) -> None:
    """Create a missing target dir with cargo's CACHEDIR.TAG before the pin writes into it.

    On a cold job the pin is the first to write below the target dir; without
    this, cargo would find the folder already there and not tag it, and the
    save would then refuse it as "not a target dir cargo made". A folder that
    exists is left alone (its tag, or the lack of one, is cargo's).
    """
    from pyo3_cache.project import write_cargo_cachedir_tag

    if target.exists() or target.is_symlink():
        return
    target.mkdir(parents=True)
    write_cargo_cachedir_tag(target)


def after_restore(env: Mapping[str, str] | None = None) -> FlowState:
    """Pin PyO3, switch on cargo log capture, and explain a partial hit.

    Reads the action's inputs and the restore step's outputs from ``env``
    (``INPUT_*``, ``CACHE_HIT``, ``MATCHED_KEY``, ...), writes GitHub's env and
    output files, and leaves a state file for ``before_save``.
    """
    env = dict(os.environ if env is None else env)
    clock = PhaseClock("after-restore")
    notes: list[str] = []
    comment = env.get("INPUT_COMMENT", "on-rebuild").strip() or "on-rebuild"
    if comment not in COMMENT_MODES:
        log.warn(f"comment: {comment!r} is not one of {', '.join(COMMENT_MODES)}; using never")
        comment = "never"
    entry_format = env.get("INPUT_ENTRY_FORMAT", "").strip() or "archive"
    if entry_format not in ENTRY_FORMATS:
        log.warn(
            f"entry-format: {entry_format!r} is not one of {', '.join(ENTRY_FORMATS)}; "
            "using archive"
        )
        entry_format = "archive"
    state = FlowState(
        key=env.get("PRIMARY_KEY", ""),
        matched_key=env.get("MATCHED_KEY", ""),
        cache_hit=truthy(env.get("CACHE_HIT")),
        restore_failed=env.get("RESTORE_OUTCOME", "success") not in ("success", ""),
        manifest=env.get("NEW_MANIFEST", ""),
        paths=env.get("CACHE_PATHS", ""),
        summary=truthy(env.get("INPUT_SUMMARY"), default=True),
        comment=comment,
        save_if=truthy(env.get("INPUT_SAVE_IF"), default=True),
        cache_on_failure=truthy(env.get("INPUT_CACHE_ON_FAILURE")),
        matrix=env.get("INPUT_MATRIX", ""),
        entry_format=entry_format,
        notes=notes,
    )
    if state.restore_failed:
        notes.append("the cache restore step failed; the build ran on a cold cache")
        log.warn(notes[-1])
    state.key_parts = _manifest_parts(state.manifest) if state.manifest else {}

    def locate_target() -> None:
        from pyo3_cache.project import find_manifest, find_workspace_root, target_dir

        root = find_workspace_root(find_manifest())
        state.workspace = str(root)
        state.target_dir = str(target_dir(root))

    guard("locating the target dir", locate_target, notes, clock, "locate")

    def unpack() -> bool:
        from pyo3_cache.errors import StoreError

        folder = entry_dir(env)
        if folder.is_symlink():
            remove_entry_dir(folder)
            raise StoreError(f"{folder.name} was a link, not the folder actions/cache restored")
        try:
            _put_in_place(folder, state)
        finally:  # used or refused, its disk space is the build's; the workspace, the user's
            remove_entry_dir(folder)
        return True

    unpacked = state.matched_key and guard(
        "putting the restored cache in place", unpack, notes, clock, "place"
    )
    if state.matched_key and not unpacked:
        # Whatever actions/cache brought back is unusable: this job is cold.
        state.matched_key, state.cache_hit = "", False

    def restore_mtimes() -> None:
        from pyo3_cache.cache.mtimes import restore_source_mtimes

        record = Path(state.target_dir) / MTIMES_IN_CACHE
        if record.is_file():
            stats = restore_source_mtimes(Path(state.workspace), record)
            log.info(
                f"source mtimes: {stats.restored} unchanged files kept their cached mtime, "
                f"{stats.changed} changed"
            )

    if state.matched_key and state.target_dir:
        guard("restoring source file mtimes", restore_mtimes, notes, clock, "mtimes")

    def pin() -> None:
        from pyo3_cache.pin.pinning import pin_pyo3_config

        if state.target_dir:
            make_target_dir_as_cargo_does(Path(state.target_dir))

        # One interpreter per line (or word, python_inputs); the first is the primary one.
        # Only PYO3_CACHE_PIN goes to $GITHUB_ENV: the cargo wrapper (on PATH
        # below) applies each interpreter's config to its own cargo call, so
        # maturin -i/--find-interpreter, uv --python and containers stay right.
        pythons = python_inputs(env)
        result = pin_pyo3_config(pythons or None)
        for warning in result.warnings:
            log.warn(warning)
        github.append_env(result.env)
        github.append_output({"config-file": str(result.config_file)})
        state.config_file = str(result.config_file)
        for pinned in result.interpreters:
            log.info(
                f"pinned PyO3 config for {pinned.implementation} {pinned.version}: "
                f"{pinned.config_file.name}"
            )

    guard("pinning the PyO3 config", pin, notes, clock, "pin")

    def capture() -> None:
        from pyo3_cache.explain.wrapper import WRAPPER_LOG_VARIABLE, install_cargo_wrapper

        log_file = state_path(env).parent / "cargo.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        script = install_cargo_wrapper(None)
        github.append_path(str(script.parent))
        github.append_env({WRAPPER_LOG_VARIABLE: str(log_file), "CARGO_TERM_VERBOSE": "true"})
        state.cargo_log = str(log_file)

    if sys.platform == "win32":
        notes.append(
            "cargo output is not captured on Windows; wrap the build in `pyo3-cache run --`"
        )
        log.notice(notes[-1])
    else:
        guard("capturing cargo output", capture, notes, clock, "wrapper")

    if state.partial_hit and state.target_dir and state.manifest:
        old = Path(state.target_dir) / MANIFEST_IN_CACHE
        if old.is_file():
            changes = guard(
                "explaining the cache miss",
                lambda: _explain_key_change(old, Path(state.manifest)),
                notes,
                clock,
                "key-diff",
            )
            state.key_changes = changes or []
            if state.key_changes:
                log.notice("cache key changed: " + "; ".join(state.key_changes))
        else:
            state.key_changes = ["the restored entry has no key manifest to compare with"]
    guard("writing the flow state", lambda: state.write(state_path(env)), notes)
    log.info(clock.line())
    return state
