"""CI-shaped benchmark: consecutive CI jobs of real PyO3 projects, rust-cache flow vs ours.

Each *job* does what a workflow job on a fresh runner does, at the same
checkout path every time: check the sources out (new mtimes, as git gives),
restore the cache, build the wheel with ``uv build --wheel``, install it into a
fresh venv and import it, save the cache. Two flows run side by side, job by
job, in one run:

* ``baseline``: Swatinem/rust-cache's behaviour (key, restore, cleanup before
  save), reimplemented in ``_rust_cache.py``; no PyO3 pinning.
* ``ours``: ``pyo3-cache key`` → ``restore`` (dir: store; it also gives
  unchanged workspace files their cached mtimes back) → ``key-diff`` on a
  partial hit → ``pin`` → ``run -- uv build`` (its JSON explanation is the
  ``explain`` step) → ``prune`` → ``save`` (which records the mtimes).

Each flow has its own runner: ``CARGO_HOME`` (wiped before every job, so
crates come from the cache or crates.io), cache store, checkout. The uv cache
(maturin for the isolated build env) is shared, as it is not what we compare.

Scenarios, per project: ``cold`` (empty cache; saves the main entry), ``warm``
(no change), then one pull-request-like job per change, each on top of the
pristine sources and restoring the main entry: ``python-change`` (a .py/.pyi
file), ``rust-change`` (the extension's Rust source), ``lock-bump`` (one leaf
crate moved back one release with ``cargo update --precise``) and
``python-patch`` (another patch release of the same CPython minor, e.g.
3.11.7 → 3.11.2). An entry a PR job saves is dropped afterwards (GitHub scopes
it to the PR's branch).

Per job: wall time, cargo time (sum of cargo's ``Finished ... in``), crates
compiled (``Compiling`` lines), archive sizes, and our explanation's root
cause, which the benchmark checks against the scenario; a wrong one fails the
run (exit 1) after all jobs ran.

``--runner act`` runs the same scenarios as real workflow jobs under nektos/act
with the real rust-cache and actions/cache (``ci_act.py``); this, the default
``--runner model``, models a job without a runner and without the tool's install.

Usage:
  .venv/bin/python bench/ci_job.py --quick                     # CI: hello-pyo3, 3 scenarios
  .venv/bin/python bench/ci_job.py --plots docs/img --json ci-job.json   # full run
  .venv/bin/python bench/ci_job.py --from-json ci-job.json --plots docs/img  # redraw
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _rust_cache as rust_cache
from _ci_projects import (
    PROJECTS,
    QUICK_SCENARIOS,
    SCENARIOS,
    Interpreter,
    Project,
    bump_lock,
    copy_tree,
    edit_python,
    edit_rust,
    job_interpreters,
    package_watching,
    pristine_source,
    toolcache_python,
)
from _common import BIN, BuildRun, ratio, tool_env, tool_versions

from pyo3_cache.explain.diagnostics import explain_recompiles

FLOWS = ("baseline", "ours")
RUNNER_DIRS = {"baseline": "rust-cache", "ours": "pyo3-cache"}


@dataclass
class Job:
    """One CI job of one flow: what it cost and what it did."""

    project: str
    scenario: str
    flow: str
    wall_s: float = 0.0
    cargo_s: float = 0.0
    compiled: list[str] = field(default_factory=list)
    restore: str = "miss"  # miss | partial | exact
    restored_bytes: int = 0
    saved_bytes: int = 0
    saved_content_bytes: int = 0  # the files archived, before compression
    # The entry's files through pyo3-cache's archiver: for ours the entry itself,
    # for the baseline a second archive of its files (content alone compared).
    saved_same_archiver_bytes: int = 0
    steps: dict[str, float] = field(default_factory=dict)
    headline: str = ""
    root_cause: str = ""
    key_changes: list[str] = field(default_factory=list)
    check: str = ""  # ours only: "ok" or what was wrong
    note: str = ""

    @property
    def rebuilt(self) -> int:
        return len(self.compiled)


@dataclass
class Context:
    """What every job of a project shares."""

    project: Project
    work: Path
    sources: dict[str, Path]
    pythons: dict[str, Path]  # scenario → the job's python3 (setup-python-like path)
    changes: dict[str, str]  # scenario → what changed ("unicode-ident 1.0.22 → 1.0.20")
    watchers: dict[str, str | None]  # scenario → package whose build script sees the edit


# --- helpers -------------------------------------------------------------------------


class JobFailed(SystemExit):
    pass


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        tail = (proc.stdout + proc.stderr)[-3000:]
        raise JobFailed(f"{what} failed ({proc.returncode}): {' '.join(cmd)}\n{tail}")
    return proc.stdout


def _ours(args: list[str], cwd: Path, env: dict[str, str]) -> str:
    return _run([sys.executable, "-m", "pyo3_cache", *args], cwd, env, f"pyo3-cache {args[0]}")


def _summarize(report: dict[str, Any]) -> str:
    parts = []
    for cause in report.get("root_causes", []):
        what = cause.get("variable") or cause.get("file") or cause.get("reason")
        parts.append(f"{cause['kind']}: {what} ({cause['package']})")
    for group in report.get("new", []):
        parts.append(f"{group['kind']}: {len(group['packages'])} new")
    return "; ".join(parts) or "nothing rebuilt"


def _install_and_import(ctx: Context, python: Path, dist: Path, tmp: Path, env: dict[str, str]):
    wheels = sorted(dist.glob("*.whl"))
    if len(wheels) != 1:
        raise JobFailed(f"expected one wheel in {dist}, found {[w.name for w in wheels]}")
    venv = tmp / "venv"
    _run([str(BIN / "uv"), "venv", "-q", "--python", str(python), str(venv)], tmp, env, "uv venv")
    vpy = str(venv / "bin" / "python")
    _run(
        [str(BIN / "uv"), "pip", "install", "-q", "--python", vpy, "--no-deps", str(wheels[0])],
        tmp,
        env,
        "uv pip install",
    )
    _run([vpy, "-c", f"import {ctx.project.import_name}"], tmp, env, "import")


# --- one job ---------------------------------------------------------------------------------


@dataclass
class Runner:
    """One flow's runner for one project: same paths every job, like a CI runner."""

    root: Path

    @property
    def checkout(self) -> Path:
        return self.root / "checkout"

    @property
    def cargo_home(self) -> Path:
        return self.root / "runner" / "cargo-home"

    @property
    def tmp(self) -> Path:
        return self.root / "runner" / "tmp"

    @property
    def store(self) -> Path:
        return self.root / "cache"

    def fresh(self) -> None:
        """A new runner: no CARGO_HOME, no temp files (the cache store stays)."""
        shutil.rmtree(self.root / "runner", ignore_errors=True)
        self.tmp.mkdir(parents=True)

    def env(self, python: Path) -> dict[str, str]:
        env = tool_env(CARGO_HOME=str(self.cargo_home), GITHUB_JOB="build")
        # setup-python puts the job's interpreter first on PATH; our tools follow.
        env["PATH"] = os.pathsep.join([str(python.parent), env["PATH"]])
        return env


def _start(
    ctx: Context, scenario: str, runner: Runner, flow: str
) -> tuple[Job, Path, dict[str, str]]:
    """A new job of ``flow`` on a fresh runner: the job, its Python and its env."""
    python = ctx.pythons[scenario]
    runner.fresh()
    return Job(ctx.project.name, scenario, flow), python, runner.env(python)


def baseline_job(ctx: Context, scenario: str, runner: Runner) -> Job:
    job, python, env = _start(ctx, scenario, runner, "baseline")
    env["CARGO_INCREMENTAL"] = "0"  # rust-cache exports it before computing the key
    env["CARGO_TERM_VERBOSE"] = "true"  # for our counts; cargo's fingerprints ignore it
    checkout, target, tmp = runner.checkout, runner.checkout / "target", runner.tmp
    cache = rust_cache.LocalCache(runner.store)
    steps = job.steps
    start = time.perf_counter()

    copy_tree(ctx.sources[scenario], checkout)
    mark = time.perf_counter()
    steps["checkout"] = mark - start

    key = rust_cache.compute_key(checkout, env)
    steps["key"] = time.perf_counter() - mark
    mark = time.perf_counter()
    matched, job.restored_bytes = cache.restore(key.key, key.restore_key, runner.cargo_home, target)
    exact = matched == key.key
    job.restore = "exact" if exact else ("partial" if matched else "miss")
    if matched and not exact and target.is_dir():
        rust_cache.clean_target_dir(target, [], check_timestamp=True)
    steps["restore"] = time.perf_counter() - mark
    mark = time.perf_counter()

    dist = tmp / "dist"
    cmd = [str(BIN / "uv"), "build", "--wheel", "--python", str(python), "--out-dir", str(dist)]
    proc = subprocess.run(
        cmd, cwd=checkout, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    build = BuildRun(proc.returncode, proc.stdout, 0.0)
    if proc.returncode != 0:
        raise JobFailed(f"baseline build failed:\n{proc.stdout[-3000:]}")
    steps["build"] = time.perf_counter() - mark
    mark = time.perf_counter()

    _install_and_import(ctx, python, dist, tmp, env)
    steps["install"] = time.perf_counter() - mark
    mark = time.perf_counter()

    if not exact:  # rust-cache saves unless the key matched exactly
        packages = rust_cache.cargo_packages(checkout, env, members_only=False)
        rust_cache.clean_target_dir(target, packages)
        rust_cache.clean_registry(runner.cargo_home, packages)
        rust_cache.clean_git(runner.cargo_home, packages)
        saved = cache.save(key.key, runner.cargo_home, target)
        job.saved_bytes, job.saved_content_bytes, job.saved_same_archiver_bytes = saved
    steps["save"] = time.perf_counter() - mark
    job.wall_s = time.perf_counter() - start

    # Not timed: what cargo did, in our words (the baseline has no explanation of its own).
    job.cargo_s, job.compiled = build.cargo_s, build.compiled
    log = tmp / "build.log"
    log.write_text(proc.stdout, encoding="utf-8")
    report = explain_recompiles([str(log)]).to_json()
    job.headline, job.root_cause = report["headline"], _summarize(report)
    return job


def ours_job(ctx: Context, scenario: str, runner: Runner) -> Job:
    job, python, env = _start(ctx, scenario, runner, "ours")
    checkout, tmp = runner.checkout, runner.tmp
    target = checkout / "target"
    manifest = checkout / ctx.project.manifest
    store = f"dir:{runner.store}"
    steps = job.steps
    start = time.perf_counter()

    copy_tree(ctx.sources[scenario], checkout)
    mark = time.perf_counter()
    steps["checkout"] = mark - start

    key_manifest = tmp / "key-manifest.json"
    key_args = ["key", "--manifest-path", str(manifest), "--format", "json"]
    key = json.loads(_ours([*key_args, "--manifest-out", str(key_manifest)], checkout, env))
    steps["key"] = time.perf_counter() - mark
    mark = time.perf_counter()
    restore_args = ["restore", "--store", store, "--key", key["key"]]
    for prefix in key["restore_keys"]:
        restore_args += ["--restore-key", prefix]
    restored_manifest = tmp / "restored-key-manifest.json"
    restore_args += ["--manifest-path", str(manifest), "--format", "json"]
    restore_args += ["--manifest-out", str(restored_manifest)]
    restored = json.loads(_ours(restore_args, checkout, env))
    exact = bool(restored["exact"])
    job.restore = "exact" if exact else ("partial" if restored["hit"] else "miss")
    job.restored_bytes = int(restored.get("archive_bytes") or 0)
    # restore also gave the unchanged workspace files their cached mtimes back.
    if restored["hit"] and not exact and restored_manifest.is_file():
        diff = _ours(["key-diff", str(restored_manifest), str(key_manifest)], checkout, env)
        job.key_changes = [line.strip() for line in diff.splitlines() if line.strip()]
    steps["restore"] = time.perf_counter() - mark
    mark = time.perf_counter()

    pin_args = ["pin", "--python", str(python), "--manifest-path", str(manifest)]
    pinned = json.loads(_ours([*pin_args, "--format", "json"], checkout, env))
    env.update(pinned["env"])
    steps["pin"] = time.perf_counter() - mark
    mark = time.perf_counter()

    dist, log, explanation = tmp / "dist", tmp / "build.log", tmp / "explain.json"
    build_cmd = [
        str(BIN / "uv"),
        "build",
        "--wheel",
        "--python",
        str(python),
        "--out-dir",
        str(dist),
    ]
    run_args = ["run", "--log", str(log), "--format", "json", "--output", str(explanation)]
    run_args += ["--wrapper-dir", str(runner.root / "runner" / "wrapper"), "--", *build_cmd]
    _ours(run_args, checkout, env)
    steps["build"] = time.perf_counter() - mark
    mark = time.perf_counter()

    _install_and_import(ctx, python, dist, tmp, env)
    steps["install"] = time.perf_counter() - mark
    mark = time.perf_counter()

    if not exact:  # the action's before-save: prune, then save (with the source mtimes)
        _ours(["prune", "--target-dir", str(target), "--format", "json"], checkout, env)
        save_args = ["save", "--store", store, "--key", key["key"], "--manifest", str(key_manifest)]
        save_args += ["--manifest-path", str(manifest), "--format", "json"]
        saved = json.loads(_ours(save_args, checkout, env))
        job.saved_bytes = int(saved.get("archive_bytes") or 0)
        job.saved_content_bytes = int(saved.get("source_bytes") or 0)
        job.saved_same_archiver_bytes = job.saved_bytes
    steps["save"] = time.perf_counter() - mark
    job.wall_s = time.perf_counter() - start

    cargo_log = log.with_name(log.name + ".cargo")
    text = cargo_log.read_text(encoding="utf-8", errors="replace") if cargo_log.is_file() else ""
    if not text.strip():
        text = log.read_text(encoding="utf-8", errors="replace")
    build = BuildRun(0, text, 0.0)
    job.cargo_s, job.compiled = build.cargo_s, build.compiled
    report = json.loads(explanation.read_text(encoding="utf-8"))
    job.headline, job.root_cause = report["headline"], _summarize(report)
    problem = check_explanation(
        scenario, report, ctx.project, ctx.changes.get(scenario, ""), ctx.watchers.get(scenario)
    )
    job.check = problem or "ok"
    return job


# --- what our explanation must say --------------------------------------------------------


def check_explanation(
    scenario: str, report: dict[str, Any], project: Project, change: str, watcher: str | None
) -> str | None:
    """None when ``report`` (``explain --format json``) names the scenario's root cause.

    Otherwise one sentence saying what was expected and what it said. ``change``
    is what the scenario changed; ``watcher`` the workspace package whose build
    script cargo reruns on any change in its folder (rpds-py's build.rs prints
    no rerun-if-changed), so its edits and Cargo.lock bumps rebuild it.
    """
    counts = report.get("counts", {})
    causes = report.get("root_causes", [])
    new = report.get("new", [])
    said = _summarize(report)

    def only_cause(kind: str, package: str, file: str | None = None) -> str | None:
        if new:
            return f"expected no new units; got {said}"
        if len(causes) != 1:
            return f"expected one root cause ({kind} in {package}); got {said}"
        cause = causes[0]
        if cause["kind"] != kind or cause["package"] != package:
            return f"expected {kind} in {package}; got {said}"
        if file is not None and file not in str(cause.get("file")):
            return f"expected the file {file} to be named; got {said}"
        return None

    if scenario == "cold":
        if causes or counts.get("rebuilt"):
            return f"a cold job should compile only new units; got {said}"
        if not new or any(g["kind"] != "cold-cache" for g in new):
            return f"a cold job should be explained as a cold cache; got {said}"
        return None
    if scenario == "warm" or (scenario == "python-change" and watcher is None):
        if counts.get("rebuilt") or counts.get("new"):
            return f"expected nothing rebuilt; got {said}"
        if not counts.get("fresh"):
            return "expected fresh units from the cache; the log shows none"
        return None
    if scenario == "python-change":
        return only_cause("package-files", str(watcher))
    if scenario == "rust-change":
        if watcher is not None:
            return only_cause("package-files", watcher)
        return only_cause("file-changed", project.rust_package, Path(project.rust_file).name)
    if scenario == "lock-bump":
        crate = change.split()[0] if change else ""
        named = {c["package"] for c in causes} | {p for g in new for p in g["packages"]}
        if crate not in named:
            return f"expected the bumped crate {crate} to be named; got {said}"
        allowed = {"dependencies", "dependency-rebuilt"} | ({"package-files"} if watcher else set())
        stray = [c["kind"] for c in causes if c["kind"] not in allowed]
        if stray or any(g["kind"] != "not-cached" for g in new):
            return f"expected only the lock change as cause; got {said}"
        return None
    if scenario == "python-patch":
        if len(causes) != 1 or causes[0]["kind"] != "pyo3-config" or new:
            return f"expected one pyo3-config root cause (PYO3_CONFIG_FILE); got {said}"
        return None
    return f"unknown scenario {scenario}"


# --- a project's run ---------------------------------------------------------------------------


def prepare(
    project: Project,
    scenarios: list[str],
    work: Path,
    cache: Path,
    main: Interpreter,
    other: Interpreter | None,
) -> Context:
    pristine = pristine_source(project, cache)
    base = work / project.name
    shutil.rmtree(base, ignore_errors=True)
    trees = base / "sources"
    sources: dict[str, Path] = {}
    changes: dict[str, str] = {}
    watchers: dict[str, str | None] = {}
    for scenario in scenarios:
        if scenario in ("cold", "warm", "python-patch"):
            sources[scenario] = pristine
            continue
        tree = trees / scenario
        copy_tree(pristine, tree)
        if scenario == "python-change":
            changes[scenario] = edit_python(tree, project)
            watchers[scenario] = package_watching(tree, project.python_file)
        elif scenario == "rust-change":
            changes[scenario] = edit_rust(tree, project)
            watchers[scenario] = package_watching(tree, project.rust_file)
        elif scenario == "lock-bump":
            changes[scenario] = bump_lock(tree, project, cache / "prep-cargo-home")
            watchers[scenario] = package_watching(tree, "Cargo.lock")
        sources[scenario] = tree
    toolcache = work / "toolcache"
    pythons = {s: toolcache_python(toolcache, main) for s in scenarios}
    if "python-patch" in scenarios and other is not None:
        pythons["python-patch"] = toolcache_python(toolcache, other)
        changes["python-patch"] = f"CPython {main.version} → {other.version}"
    return Context(project, base, sources, pythons, changes, watchers)


def _keep_logs(runner: Runner, folder: Path, stem: str) -> None:
    """Keep the job's build log and explanation (the runner is wiped before the next job)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("build.log", "build.log.cargo", "explain.json"):
        src = runner.tmp / name
        if src.is_file():
            shutil.copyfile(src, folder / f"{stem}.{name}")


def run_project(ctx: Context, scenarios: list[str], flows: list[str], log: Any) -> list[Job]:
    jobs: list[Job] = []
    # Same-length folder names: paths end up inside rlibs, so archive sizes compare fairly.
    runners = {flow: Runner(ctx.work / RUNNER_DIRS[flow]) for flow in flows}
    snapshots: dict[str, Path] = {}
    for scenario in scenarios:
        for flow in flows:
            runner = runners[flow]
            job = (baseline_job if flow == "baseline" else ours_job)(ctx, scenario, runner)
            job.note = ctx.changes.get(scenario, "")
            jobs.append(job)
            _keep_logs(runner, ctx.work / "logs", f"{flow}-{scenario}")
            log(
                f"  {ctx.project.name:<11} {scenario:<13} {flow:<8} wall {job.wall_s:7.2f}s "
                f"cargo {job.cargo_s:7.2f}s compiled {job.rebuilt:3d} restore {job.restore:<7} "
                f"saved {job.saved_bytes / 1e6:6.1f}MB  {job.root_cause}"
                + (f"  CHECK: {job.check}" if job.check not in ("", "ok") else "")
            )
            if scenario == "warm":  # the default branch's cache, as PR jobs see it
                snap = runner.root / "cache-main"
                shutil.rmtree(snap, ignore_errors=True)
                if runner.store.is_dir():
                    shutil.copytree(runner.store, snap)
                snapshots[flow] = snap
            elif flow in snapshots and job.saved_bytes:
                shutil.rmtree(runner.store)
                shutil.copytree(snapshots[flow], runner.store)
    return jobs


# --- reporting ----------------------------------------------------------------------------------


def _pair(jobs: list[Job], project: str, scenario: str) -> tuple[Job | None, Job | None]:
    found = {j.flow: j for j in jobs if j.project == project and j.scenario == scenario}
    return found.get("baseline"), found.get("ours")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if n else "-"


def _both(b: Job | None, o: Job | None, attr: str, spec: str) -> str:
    """ "baseline / ours" of one attribute, "-" for a flow that did not run."""
    cells = [format(getattr(j, attr), spec) if j else "-" for j in (b, o)]
    return " / ".join(cells)


def _rate(b: Job | None, o: Job | None, attr: str) -> str:
    return ratio(getattr(o, attr), getattr(b, attr)) if b and o else "-"


def headline(jobs: list[Job]) -> str:
    """P1, P5, P6 per project: the warm no-change job and the saved entries' sizes."""
    out = [
        "| project | warm: crates compiled base / ours | warm: cargo time ratio "
        "| warm: wall time ratio (P6: ≤ 0.5) | entry size ratio, cold / lock-bump (P5: ≤ 1.0) "
        "| content only (both through pyo3-cache's archiver) | files archived |",
        "|---|---|---|---|---|---|---|",
    ]
    for project in dict.fromkeys(j.project for j in jobs):
        b, o = _pair(jobs, project, "warm")
        if b is None or o is None:
            continue
        cells = []
        for attr in ("saved_bytes", "saved_same_archiver_bytes", "saved_content_bytes"):
            pair = []
            for scenario in ("cold", "lock-bump"):
                cb, co = _pair(jobs, project, scenario)
                saved = bool(cb and co and getattr(cb, attr) and getattr(co, attr))
                pair.append(_rate(cb, co, attr) if saved else "-")
            cells.append(" / ".join(pair))
        out.append(
            f"| {project} | {b.rebuilt} / {o.rebuilt} | {ratio(o.cargo_s, b.cargo_s)} "
            f"| {ratio(o.wall_s, b.wall_s)} | {' | '.join(cells)} |"
        )
    return "\n".join(out)


def markdown(jobs: list[Job], meta: dict[str, Any]) -> str:
    out = [headline(jobs), ""]
    for project in dict.fromkeys(j.project for j in jobs):
        out.append(f"**{project}** ({meta.get('projects', {}).get(project, '')})")
        out.append("")
        out.append(
            "| scenario | wall base / ours (s) | ratio | crates compiled base / ours "
            "| cargo base / ours (s) | ratio | restore | our explanation |"
        )
        out.append("|---|---|---|---|---|---|---|---|")
        for scenario in dict.fromkeys(j.scenario for j in jobs if j.project == project):
            b, o = _pair(jobs, project, scenario)
            out.append(
                f"| {scenario} | {_both(b, o, 'wall_s', '.1f')} | {_rate(b, o, 'wall_s')} "
                f"| {_both(b, o, 'rebuilt', 'd')} | {_both(b, o, 'cargo_s', '.2f')} "
                f"| {_rate(b, o, 'cargo_s')} | {_both(b, o, 'restore', 's')} "
                f"| {o.root_cause if o else '-'} |"
            )
        out.append("")
        for scenario in ("cold", "lock-bump"):
            b, o = _pair(jobs, project, scenario)
            if b and o and b.saved_bytes and o.saved_bytes:
                out.append(
                    f"Cache entry saved by the {scenario} job: rust-cache flow "
                    f"{_mb(b.saved_bytes)}, ours {_mb(o.saved_bytes)} "
                    f"(ratio {ratio(o.saved_bytes, b.saved_bytes)}); both through "
                    "pyo3-cache's archiver "
                    f"{_mb(b.saved_same_archiver_bytes)} and {_mb(o.saved_same_archiver_bytes)} "
                    f"({ratio(o.saved_same_archiver_bytes, b.saved_same_archiver_bytes)}); "
                    "files archived "
                    f"{_mb(b.saved_content_bytes)} and {_mb(o.saved_content_bytes)} "
                    f"(ratio {ratio(o.saved_content_bytes, b.saved_content_bytes)})."
                )
        changes = {j.scenario: j.note for j in jobs if j.project == project and j.note}
        if changes:
            out.append("Changes: " + "; ".join(f"{k}: {v}" for k, v in changes.items()) + ".")
        out.append("")
    return "\n".join(out)


def plot(jobs: list[Job], folder: Path) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    projects = list(dict.fromkeys(j.project for j in jobs))
    written = []
    for metric, label, name in (
        ("wall_s", "job wall time (s)", "ci-job-wall-time.png"),
        ("rebuilt", "crates compiled", "ci-job-crates-compiled.png"),
    ):
        fig, axes = plt.subplots(
            1, len(projects), figsize=(3.3 * len(projects), 2.8), squeeze=False
        )
        for ax, project in zip(axes[0], projects):
            scenarios = list(dict.fromkeys(j.scenario for j in jobs if j.project == project))
            width = 0.38
            for offset, flow, color in (
                (-width / 2, "baseline", "#9a9a9a"),
                (width / 2, "ours", "#d9651c"),
            ):
                values = []
                for s in scenarios:
                    pair = dict(zip(("baseline", "ours"), _pair(jobs, project, s)))
                    job = pair.get(flow)
                    values.append(getattr(job, metric) if job else 0)
                xs = [i + offset for i in range(len(scenarios))]
                ax.bar(
                    xs,
                    values,
                    width,
                    label="rust-cache flow" if flow == "baseline" else "pyo3-cache",
                    color=color,
                )
            ax.set_title(project, fontsize=9)
            ax.set_xticks(range(len(scenarios)))
            ax.set_xticklabels(scenarios, rotation=35, ha="right", fontsize=7)
            ax.tick_params(axis="y", labelsize=7)
            ax.set_ylabel(label, fontsize=8)
            if metric == "rebuilt":
                ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="upper center", ncol=2, fontsize=8, frameon=False)
        fig.tight_layout(rect=(0, 0, 1, 0.9))
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        fig.savefig(path, dpi=110)
        plt.close(fig)
        written.append(path)
    return written


def summary_checks(jobs: list[Job]) -> list[str]:
    return [
        f"{j.project} {j.scenario}: {j.check}"
        for j in jobs
        if j.flow == "ours" and j.check not in ("", "ok")
    ]


# --- main ----------------------------------------------------------------------------


def _meta(
    projects: list[Project], main: Interpreter, other: Interpreter | None, why: str
) -> dict[str, Any]:
    meta: dict[str, Any] = dict(tool_versions())
    meta["rustc"] = subprocess.run(
        ["rustc", "--version"], capture_output=True, text=True
    ).stdout.strip()
    meta["interpreters"] = f"{main.version}" + (
        f", {other.version}" if other else f" (no second: {why})"
    )
    described = {}
    for p in projects:
        if p.sdist:
            described[p.name] = f"{p.sdist[0]} {p.sdist[1]} from its PyPI sdist"
        else:
            described[p.name] = "examples/hello-pyo3"
    meta["projects"] = described
    return meta


def main(argv: list[str] | None = None) -> int:
    runner = argparse.ArgumentParser(add_help=False)
    runner.add_argument("--runner", choices=("model", "act"), default="model")
    known, rest = runner.parse_known_args(argv)
    if known.runner == "act":  # real workflow jobs under nektos/act: bench/ci_act.py
        import ci_act

        return ci_act.main(rest)
    argv = rest
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--runner", choices=("model", "act"), default="model", help="act: see bench/ci_act.py"
    )
    parser.add_argument("--quick", action="store_true", help="hello-pyo3, cold/warm/rust-change")
    parser.add_argument("--projects", help=f"comma-separated, of {', '.join(PROJECTS)}")
    parser.add_argument("--scenarios", help=f"comma-separated, of {', '.join(SCENARIOS)}")
    parser.add_argument("--flows", default="baseline,ours", help="baseline,ours (default both)")
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp dir)")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path.home() / ".cache" / "pyo3-cache-bench",
        help="where sdists are downloaded and unpacked (kept between runs)",
    )
    parser.add_argument("--plots", type=Path, help="write the PNG plots into this folder")
    parser.add_argument("--json", type=Path, help="write every job's record here")
    parser.add_argument("--from-json", type=Path, help="report (and plot) a saved run")
    args = parser.parse_args(argv)

    if args.from_json:
        data = json.loads(args.from_json.read_text(encoding="utf-8"))
        known = Job.__dataclass_fields__
        jobs = [Job(**{k: v for k, v in j.items() if k in known}) for j in data["jobs"]]
        print(markdown(jobs, data["meta"]))
        if args.plots:
            for path in plot(jobs, args.plots):
                print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
        return 0

    names = ["hello-pyo3"] if args.quick else list(PROJECTS)
    if args.projects:
        names = args.projects.split(",")
    scenarios = list(QUICK_SCENARIOS if args.quick else SCENARIOS)
    if args.scenarios:
        scenarios = args.scenarios.split(",")
    flows = args.flows.split(",")
    unknown = [n for n in names if n not in PROJECTS] + [s for s in scenarios if s not in SCENARIOS]
    unknown += [f for f in flows if f not in FLOWS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    work = args.work or Path(tempfile.gettempdir()) / "pyo3-cache-ci-job"
    work.mkdir(parents=True, exist_ok=True)

    main_py, other_py, why = job_interpreters(work)
    if "python-patch" in scenarios and other_py is None:
        print(f"skipping python-patch: {why}", flush=True)
        scenarios.remove("python-patch")
    projects = [PROJECTS[n] for n in names]
    meta = _meta(projects, main_py, other_py, why)
    meta["command"] = "bench/ci_job.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(json.dumps(meta, indent=1), flush=True)

    started = time.perf_counter()
    jobs: list[Job] = []
    for project in projects:
        ctx = prepare(project, scenarios, work, args.cache, main_py, other_py)
        for scenario, change in ctx.changes.items():
            watcher = ctx.watchers.get(scenario)
            seen = f" (rebuilds {watcher}: its build.rs has no rerun-if)" if watcher else ""
            print(f"  {project.name}: {scenario}: {change}{seen}", flush=True)
        jobs += run_project(ctx, scenarios, flows, lambda line: print(line, flush=True))
    meta["total_s"] = round(time.perf_counter() - started, 1)
    print()
    print(markdown(jobs, meta))
    print(f"total: {meta['total_s']:.0f} s for {len(jobs)} jobs")
    if args.json:
        payload = {"meta": meta, "jobs": [asdict(j) for j in jobs]}
        args.json.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")
    if args.plots:
        for path in plot(jobs, args.plots):
            print(f"wrote {path} ({path.stat().st_size // 1024} KB)")
    failures = summary_checks(jobs)
    if failures:
        print("\nCHECK FAILED: our explanation did not name the right root cause:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
