"""The GitHub Action's flow: what runs after the cache restore and before the save.

The composite actions (``action.yml``, ``save/action.yml``) are thin: they
compute the key, call ``actions/cache/restore`` / ``actions/cache/save``, and
run ``pyo3-cache action after-restore`` and ``pyo3-cache action before-save``,
which do everything else here, in Python, where it can be tested.

Flow: key → restore → **after-restore** (unpack the entry, pin, cargo log
capture, explain a partial hit) → the user's build → **before-save** (explain
the logs, job summary, PR comment, prune, keep the key manifest in the cache,
pack the entry) → save.

What actions/cache stores is one folder, the *entry dir* under RUNNER_TEMP,
holding a ``dir:`` store with one entry: our own ``.tar.zst`` of the target
dir and cargo's registry and git dbs (see archive.py), its sha256 and the key
manifest. actions/cache still does the key matching and the transfer; our
archive brings its member order and long-distance matching (a smaller entry
than actions/cache's tar of the same folders), nanosecond mtimes, a checksum
and the restore safety checks (no member may land outside its folder).

A cache tool must never fail the user's job: every phase catches its own
trouble, says what it skipped in one warning, and goes on.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyo3_cache.cache.mtimes import RECORD_IN_TARGET
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import client as github
from pyo3_cache.github import log

if TYPE_CHECKING:  # store.py loads zstandard: only when a phase needs it
    from pyo3_cache.cache.store import Places

STATE_VARIABLE = "PYO3_CACHE_STATE"
# Where the key manifest travels inside the cache, so a later partial hit can
# say what changed (it is restored with the target dir).
MANIFEST_IN_CACHE = Path("pyo3-cache") / "key-manifest.json"
# The source files' record (see mtimes.py) travels the same way.
MTIMES_IN_CACHE = RECORD_IN_TARGET
COMMENT_MODES = ("on-rebuild", "always", "never")
# The folder actions/cache saves and restores: a dir: store with one entry.
ENTRY_DIR = Path("pyo3-cache") / "entry"


def _truthy(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("true", "1", "yes", "on")


@dataclass
class FlowState:
    """What after-restore learned, handed to before-save through a JSON file."""

    key: str = ""
    matched_key: str = ""
    cache_hit: bool = False
    restore_failed: bool = False
    manifest: str = ""
    paths: str = ""
    workspace: str = ""
    target_dir: str = ""
    cargo_log: str = ""
    config_file: str = ""
    key_changes: list[str] = field(default_factory=list)
    key_parts: dict[str, str] = field(default_factory=dict)
    summary: bool = True
    comment: str = "on-rebuild"
    save_if: bool = True
    cache_on_failure: bool = False
    matrix: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def partial_hit(self) -> bool:
        return bool(self.matched_key) and not self.cache_hit

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> FlowState:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def _state_path(env: Mapping[str, str]) -> Path:
    explicit = env.get(STATE_VARIABLE)
    if explicit:
        return Path(explicit)
    base = env.get("RUNNER_TEMP") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyo3-cache" / "state.json"


def entry_dir(env: Mapping[str, str]) -> Path:
    """The folder actions/cache stores (under RUNNER_TEMP, outside the workspace)."""
    base = env.get("RUNNER_TEMP") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / ENTRY_DIR


def _places(state: FlowState) -> Places:
    from pyo3_cache.cache.store import Places
    from pyo3_cache.errors import StoreError
    from pyo3_cache.project import cargo_home

    if not state.workspace or not state.target_dir:
        raise StoreError("the workspace was not found, so there is nowhere to unpack to")
    return Places(Path(state.target_dir), cargo_home(), Path(state.workspace))


def _guard(what: str, action: Callable[[], Any], notes: list[str]) -> Any:
    """Run one phase step; on trouble warn once, note it, and go on."""
    try:
        return action()
    except Pyo3CacheError as exc:
        message = f"{what} skipped: {exc}"
    except Exception as exc:  # never fail the user's job over our own bug
        message = f"{what} skipped: internal error ({type(exc).__name__}: {exc})"
    log.warn(message)
    notes.append(message)
    return None


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


# --- after the restore --------------------------------------------------------


def after_restore(env: Mapping[str, str] | None = None) -> FlowState:
    """Pin PyO3, switch on cargo log capture, and explain a partial hit.

    Reads the action's inputs and the restore step's outputs from ``env``
    (``INPUT_*``, ``CACHE_HIT``, ``MATCHED_KEY``, ...), writes GitHub's env and
    output files, and leaves a state file for ``before_save``.
    """
    env = dict(os.environ if env is None else env)
    notes: list[str] = []
    comment = env.get("INPUT_COMMENT", "on-rebuild").strip() or "on-rebuild"
    if comment not in COMMENT_MODES:
        log.warn(f"comment: {comment!r} is not one of {', '.join(COMMENT_MODES)}; using never")
        comment = "never"
    state = FlowState(
        key=env.get("PRIMARY_KEY", ""),
        matched_key=env.get("MATCHED_KEY", ""),
        cache_hit=_truthy(env.get("CACHE_HIT")),
        restore_failed=env.get("RESTORE_OUTCOME", "success") not in ("success", ""),
        manifest=env.get("NEW_MANIFEST", ""),
        paths=env.get("CACHE_PATHS", ""),
        summary=_truthy(env.get("INPUT_SUMMARY"), default=True),
        comment=comment,
        save_if=_truthy(env.get("INPUT_SAVE_IF"), default=True),
        cache_on_failure=_truthy(env.get("INPUT_CACHE_ON_FAILURE")),
        matrix=env.get("INPUT_MATRIX", ""),
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

    _guard("locating the target dir", locate_target, notes)

    def unpack() -> bool:
        from pyo3_cache.cache.store import DirStore, restore_cache
        from pyo3_cache.errors import StoreError

        folder = entry_dir(env)
        store = DirStore(folder)
        keys = [entry.key for entry in store.list_entries("")] if folder.is_dir() else []
        key = state.matched_key if state.matched_key in keys else (keys[0] if keys else "")
        if not key:
            raise StoreError(f"the restored {folder.name} folder holds no pyo3-cache entry")
        result = restore_cache(store, key, _places(state))
        for warning in result.warnings:
            log.warn(warning)
        if not result.hit:
            raise StoreError("the restored entry could not be unpacked")
        log.info(
            f"unpacked the cache entry: {result.archive_bytes} bytes → "
            f"{result.restored_bytes} bytes in {result.seconds:.1f} s"
        )
        shutil.rmtree(folder, ignore_errors=True)  # the disk space is the build's
        return True

    unpacked = state.matched_key and _guard("unpacking the restored cache", unpack, notes)
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
        _guard("restoring source file mtimes", restore_mtimes, notes)

    def pin() -> None:
        from pyo3_cache.pin.pyo3_config import pin_pyo3_config

        result = pin_pyo3_config(env.get("INPUT_PYTHON") or None)
        for warning in result.warnings:
            log.warn(warning)
        github.append_env(result.env)
        github.append_output({"config-file": str(result.config_file)})
        state.config_file = str(result.config_file)
        log.info(
            f"pinned PyO3 config: {result.config_file.name} (PYO3_PYTHON={result.pyo3_python})"
        )

    _guard("pinning the PyO3 config", pin, notes)

    def capture() -> None:
        from pyo3_cache.explain.wrapper import WRAPPER_LOG_VARIABLE, install_cargo_wrapper

        log_file = _state_path(env).parent / "cargo.log"
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
        _guard("capturing cargo output", capture, notes)

    if state.partial_hit and state.target_dir and state.manifest:
        old = Path(state.target_dir) / MANIFEST_IN_CACHE
        if old.is_file():
            changes = _guard(
                "explaining the cache miss",
                lambda: _explain_key_change(old, Path(state.manifest)),
                notes,
            )
            state.key_changes = changes or []
            if state.key_changes:
                log.notice("cache key changed: " + "; ".join(state.key_changes))
        else:
            state.key_changes = ["the restored entry has no key manifest to compare with"]
    _guard("writing the flow state", lambda: state.write(_state_path(env)), notes)
    _guard(
        "exporting the flow state",
        lambda: github.append_env({STATE_VARIABLE: str(_state_path(env))}),
        notes,
    )
    return state


# --- before the save ----------------------------------------------------------


@dataclass
class SaveDecision:
    save: bool
    reason: str


def decide_save(state: FlowState, job_status: str) -> SaveDecision:
    """actions/cache's rules, plus ours: no save on an exact hit or when asked not to."""
    if not state.save_if:
        return SaveDecision(False, "save-if is false")
    if state.cache_hit:
        return SaveDecision(False, "exact cache hit: the entry is already saved")
    if job_status not in ("success", "") and not state.cache_on_failure:
        happened = {"failure": "failed", "cancelled": "was cancelled"}.get(job_status, job_status)
        return SaveDecision(False, f"the job {happened}; set cache-on-failure to save anyway")
    if not state.key:
        return SaveDecision(False, "no cache key was computed")
    return SaveDecision(True, "new entry")


def summary_markdown(state: FlowState, report_markdown: str | None, job: str) -> str:
    """The job summary: key and hit/miss, what changed, then the rebuild report."""
    from pyo3_cache.explain.render import escape_markdown

    if state.cache_hit:
        status = "exact hit"
    elif state.partial_hit:
        status = f"partial hit (restored {escape_markdown(state.matched_key)})"
    else:
        status = "miss (cold build)"
    lines = [f"## pyo3-cache: {escape_markdown(job)}", ""]
    lines.append(f"**Cache:** {status} for key {escape_markdown(state.key or '-')}")
    lines.append("")
    if state.key_changes:
        lines.append("**What changed in the key:**")
        lines.append("")
        lines += [f"- {escape_markdown(change)}" for change in state.key_changes]
        lines.append("")
    if state.key_parts:
        lines.append("<details><summary>Key parts</summary>")
        lines.append("")
        lines.append("| part | hash: inputs |")
        lines.append("|---|---|")
        lines += [
            f"| {escape_markdown(k)} | {escape_markdown(v)} |" for k, v in state.key_parts.items()
        ]
        lines.append("")
        lines.append("</details>")
        lines.append("")
    if report_markdown:
        lines.append(report_markdown.rstrip())
        lines.append("")
    if state.notes:
        lines.append("**Skipped:**")
        lines.append("")
        lines += [f"- {escape_markdown(note)}" for note in state.notes]
        lines.append("")
    return "\n".join(lines)


def before_save(env: Mapping[str, str] | None = None) -> SaveDecision:
    """Explain the job's cargo logs, report them, prune, and decide whether to save."""
    env = dict(os.environ if env is None else env)
    notes: list[str] = []
    path = _state_path(env)
    state = _guard("reading the flow state", lambda: FlowState.read(path), notes)
    if state is None:
        state = FlowState(key=env.get("PRIMARY_KEY", ""), notes=[])
    state.notes.extend(notes)
    job = github.job_title(env.get("GITHUB_JOB", ""), state.matrix)

    report = None
    logs = [p for p in [*_extra_logs(env), state.cargo_log] if p and Path(p).is_file()]
    if logs:

        def explain() -> Any:
            from pyo3_cache.explain.diagnostics import explain_recompiles

            return explain_recompiles(logs)

        report = _guard("explaining the cargo logs", explain, state.notes)
    report_md = None
    if report is not None:
        from pyo3_cache.explain.render import render

        report_md = render(report, "markdown")
    rebuilt = bool(report is not None and report.counts.get("rebuilt", 0) + _new(report))

    markdown = summary_markdown(state, report_md, job)
    if state.summary:
        _guard("writing the job summary", lambda: github.append_summary(markdown), state.notes)
    if state.comment == "always" or (state.comment == "on-rebuild" and rebuilt):
        _guard(
            "updating the PR comment",
            lambda: _comment(markdown, env, job, state.matrix),
            state.notes,
        )

    decision = decide_save(state, env.get("JOB_STATUS", "success"))
    if decision.save and state.target_dir and Path(state.target_dir).is_dir():

        def prune() -> None:
            from pyo3_cache.cache.prune import prune_target

            result = prune_target(Path(state.target_dir))
            log.info(f"pruned the target dir: {result.bytes_before} → {result.bytes_after} bytes")

        _guard("pruning the target dir", prune, state.notes)

        def keep_manifest() -> None:
            if state.manifest and Path(state.manifest).is_file():
                dst = Path(state.target_dir) / MANIFEST_IN_CACHE
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(state.manifest, dst)

        _guard("storing the key manifest with the cache", keep_manifest, state.notes)

        def record_mtimes() -> None:
            from pyo3_cache.cache.mtimes import record_source_mtimes

            if state.workspace:
                target = Path(state.target_dir)
                record_source_mtimes(
                    Path(state.workspace), target / MTIMES_IN_CACHE, skip=(target,)
                )

        _guard("recording source file mtimes", record_mtimes, state.notes)

    if decision.save:

        def pack() -> bool:
            from pyo3_cache.cache.store import DirStore, anchored_roots, save_cache
            from pyo3_cache.errors import StoreError

            folder = entry_dir(env)
            shutil.rmtree(folder, ignore_errors=True)
            manifest = Path(state.manifest) if state.manifest else None
            contents = [line.strip() for line in state.paths.splitlines() if line.strip()]
            result = save_cache(
                DirStore(folder),
                state.key,
                anchored_roots(_places(state), contents),
                key_manifest=manifest.read_bytes() if manifest and manifest.is_file() else None,
                max_bytes=None,
            )
            for warning in result.warnings:
                log.warn(warning)
            if not result.saved:
                raise StoreError(f"the cache entry was not written ({result.reason})")
            log.info(
                f"packed the cache entry: {result.source_bytes} bytes → "
                f"{result.archive_bytes} bytes in {result.seconds:.1f} s"
            )
            return True

        if not _guard("packing the cache entry", pack, state.notes):
            decision = SaveDecision(False, "the cache entry could not be packed")
    log.info(f"save: {'yes' if decision.save else 'no'} ({decision.reason})")
    _guard(
        "setting the save outputs",
        lambda: github.append_output(
            {
                "save": "true" if decision.save else "false",
                "key": state.key,
                "paths": str(entry_dir(env)),
            }
        ),
        state.notes,
    )
    return decision


def _new(report: Any) -> int:
    return int(report.counts.get("new", 0))


def _extra_logs(env: Mapping[str, str]) -> list[str]:
    raw = env.get("INPUT_LOGS", "")
    return [line.strip() for line in raw.splitlines() if line.strip()]


def _comment(markdown: str, env: Mapping[str, str], job: str, matrix: str) -> None:
    # The same section key as `pyo3-cache explain --comment`, so both write one section.
    outcome = github.post_job_section(
        markdown, section_key=github.job_section_key(env, matrix), title=job, env=env
    )
    log.info(outcome.message)


def cache_paths(cache_targets: bool = True) -> list[str]:
    """What goes into the entry: the target dir and cargo's registry index, crates and git dbs."""
    from pyo3_cache.cache.store import DEFAULT_CARGO_HOME_PATHS
    from pyo3_cache.project import cargo_home, find_manifest, find_workspace_root, target_dir

    paths: list[str] = []
    if cache_targets:
        paths.append(str(target_dir(find_workspace_root(find_manifest()))))
    home = cargo_home()
    paths += [str(home / sub) for sub in DEFAULT_CARGO_HOME_PATHS]
    return paths
