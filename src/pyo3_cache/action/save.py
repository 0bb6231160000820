"""before-save: explain the cargo logs, report, prune, decide and stage the entry."""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.action.report import summary_markdown, write_comment
from pyo3_cache.action.state import (
    MANIFEST_IN_CACHE,
    MTIMES_IN_CACHE,
    FlowState,
    PhaseClock,
    entry_dir,
    entry_path_for_cache,
    fresh_entry_dir,
    guard,
    places,
    read_state,
)
from pyo3_cache.github import files as github
from pyo3_cache.github import log
from pyo3_cache.github.job import PULL_REQUEST_EVENTS, job_title


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


def before_save(env: Mapping[str, str] | None = None) -> SaveDecision:
    """Explain the job's cargo logs, report them, prune, and decide whether to save."""
    env = dict(os.environ if env is None else env)
    clock = PhaseClock("before-save")
    notes: list[str] = []
    state = guard("reading the flow state", lambda: read_state(env), notes)
    if state is None:
        state = FlowState(key=env.get("PRIMARY_KEY", ""), notes=[])
    state.notes.extend(notes)
    job = job_title(env.get("GITHUB_JOB", ""), state.matrix)

    report = None
    logs = [p for p in [*_extra_logs(env), state.cargo_log] if p and Path(p).is_file()]
    if logs:

        def explain() -> Any:
            from pyo3_cache.explain.diagnostics import explain_recompiles

            # Before pruning: the superseded units are the evidence for new ones.
            return explain_recompiles(logs, target_dir=state.target_dir or None)

        report = guard("explaining the cargo logs", explain, state.notes, clock, "explain")
    report_md = None
    if report is not None:
        from pyo3_cache.explain.render import render

        report_md = render(report, "markdown")
    rebuilt = bool(
        report is not None
        and report.counts.get("rebuilt", 0) + report.counts.get("compiled", 0) + _new(report)
    )

    markdown = summary_markdown(state, report_md, job)
    if state.summary:
        guard("writing the job summary", lambda: github.append_summary(markdown), state.notes)
    # The comment is posted by the next step, the only one given the token; on
    # an event without a pull request that step would only say so, so it is skipped.
    event = env.get("GITHUB_EVENT_NAME", "")
    wants_comment = (not event or event in PULL_REQUEST_EVENTS) and (
        state.comment == "always" or (state.comment == "on-rebuild" and rebuilt)
    )
    commented = wants_comment and guard(
        "preparing the PR comment",
        lambda: write_comment(markdown, env, job, state.matrix),
        state.notes,
    )

    decision = decide_save(state, env.get("JOB_STATUS", "success"))
    if decision.save and state.target_dir:
        # Nothing is written into (or pruned from) a folder cargo did not make.
        from pyo3_cache.cache.target_dir import target_dir_problem

        workspace = Path(state.workspace) if state.workspace else None
        problem = target_dir_problem(Path(state.target_dir), workspace)
        if problem:
            log.warn(f"cache not saved: {problem}")
            state.notes.append(f"cache not saved: {problem}")
            decision = SaveDecision(False, problem)
    if decision.save and state.target_dir and Path(state.target_dir).is_dir():

        def prune() -> None:
            from pyo3_cache.cache.prune import prune_target, workspace_members

            lock = Path(state.workspace) / "Cargo.lock" if state.workspace else None
            members = workspace_members(lock) if lock else None
            result = prune_target(Path(state.target_dir), members=members)
            log.info(f"pruned the target dir: {result.bytes_before} → {result.bytes_after} bytes")

        guard("pruning the target dir", prune, state.notes, clock, "prune")

        def keep_manifest() -> None:
            if state.manifest and Path(state.manifest).is_file():
                dst = Path(state.target_dir) / MANIFEST_IN_CACHE
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(state.manifest, dst)

        guard("storing the key manifest with the cache", keep_manifest, state.notes)

        def record_mtimes() -> None:
            from pyo3_cache.cache.mtimes import record_source_mtimes

            if state.workspace:
                target = Path(state.target_dir)
                record_source_mtimes(
                    Path(state.workspace), target / MTIMES_IN_CACHE, skip=(target,)
                )

        guard("recording source file mtimes", record_mtimes, state.notes, clock, "mtimes")

    if decision.save:

        def stage() -> bool:
            from pyo3_cache.cache.dir_store import DirStore
            from pyo3_cache.cache.places import anchored_roots, locked_packages
            from pyo3_cache.cache.save import save_cache
            from pyo3_cache.cache.tree import stage_tree
            from pyo3_cache.errors import StoreError

            folder = fresh_entry_dir(entry_dir(env))
            manifest = Path(state.manifest) if state.manifest else None
            contents = [line.strip() for line in state.paths.splitlines() if line.strip()]
            store = DirStore(folder)
            roots = anchored_roots(places(state), contents, locked_packages(Path(state.workspace)))
            key_manifest = manifest.read_bytes() if manifest and manifest.is_file() else None
            if state.entry_format == "archive":  # ours, compressed with long-distance matching
                result = save_cache(store, state.key, roots, key_manifest, max_bytes=None)
                done = (
                    f"packed the cache entry: {result.source_bytes} bytes → {result.archive_bytes}"
                )
            else:  # the folders themselves, hard-linked: actions/cache compresses them once
                result = stage_tree(store, state.key, roots, key_manifest)
                done = f"staged the cache entry for actions/cache: {result.source_bytes}"
            for warning in result.warnings:
                log.warn(warning)
            if not result.saved:
                raise StoreError(f"the cache entry was not written ({result.reason})")
            log.info(f"{done} bytes in {result.seconds:.2f} s")
            return True

        if not guard("staging the cache entry", stage, state.notes, clock, "stage"):
            decision = SaveDecision(False, "the cache entry could not be staged")
    log.info(f"save: {'yes' if decision.save else 'no'} ({decision.reason})")
    guard(
        "setting the save outputs",
        lambda: github.append_output(
            {
                "save": "true" if decision.save else "false",
                "key": state.key,
                "paths": entry_path_for_cache(env),
                "comment": "true" if commented else "false",
            }
        ),
        state.notes,
    )
    log.info(clock.line())
    return decision


def _new(report: Any) -> int:
    return int(report.counts.get("new", 0))


def _extra_logs(env: Mapping[str, str]) -> list[str]:
    raw = env.get("INPUT_LOGS", "")
    return [line.strip() for line in raw.splitlines() if line.strip()]
