"""The action's wheel cache, run step by step as the runner would, on the real example.

Two jobs on one runner path with actions/cache served by a local directory:

1. builds the wheel (`uv build`, after the action pinned PyO3) and saves it
   under the wheel key;
2. a checkout where only tests/ changed: the action restores the wheel,
   `wheel-hit` is 'true', the build step (`if: ... wheel-hit != 'true'`) is
   skipped and cargo compiles nothing; the restored wheel installs and imports.

Plus the save action's bytecode audit on wheels with injected `.pyc` files:
a warning section by default, a failed job with `audit-bytecode: error`.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import pytest

from tests.action_runner import Job, LocalActionsCache, StepResult, wait_for_new_mtime
from tests.conftest import REPO
from tests.integration.conftest import (
    WarmExample,
    _copy_tree,
    tool_env,
    uv_pip_install,
    uv_venv,
    venv_prints,
)

pytestmark = pytest.mark.integration

BUILD = "uv build --wheel --out-dir dist"
# What the user's workflow says for its build step.
BUILD_IF = "steps.pyo3.outputs.wheel-hit != 'true'"
COMPILING = ("build", "rustc", "check", "test")


def _cargo_spy(bindir: Path) -> Path:
    """A `cargo` first on PATH that records each call's arguments, then runs the real one."""
    real = shutil.which("cargo")
    assert real, "cargo is needed"
    bindir.mkdir(parents=True, exist_ok=True)
    spy = bindir / "cargo"
    spy.write_text(f'#!/bin/sh\necho "$*" >> "$SPY_LOG_OF_CARGO"\nexec "{real}" "$@"\n')
    spy.chmod(0o755)
    return bindir


def _job(workspace: Path, root: Path, n: int, cache: LocalActionsCache) -> Job:
    spy = _cargo_spy(root / "spy")
    env = tool_env(
        PYO3_CACHE_WRAPPER_DIR=str(root / "wrapper"), SPY_LOG_OF_CARGO=str(root / f"cargo{n}.log")
    )
    env["PATH"] = f"{spy}{os.pathsep}{env['PATH']}"
    return Job(
        workspace=workspace,
        runner_temp=root / "_temp",
        job_dir=root / f"job{n}",
        cache=cache,
        base_env=env,
        github={"job": f"job{n}"},  # different jobs: the wheel key carries no job name
    )


def _cargo_calls(root: Path, n: int) -> list[str]:
    log = root / f"cargo{n}.log"
    return log.read_text().splitlines() if log.exists() else []


def _ok(steps: list) -> None:
    assert all(s.outcome in ("success", "skipped") for s in steps), [
        (s.name, s.outcome, s.log[-2000:]) for s in steps if s.outcome not in ("success", "skipped")
    ]


def _with_inputs(**extra: str) -> dict[str, str]:
    # cache-targets false: the Rust cache is not what this test is about, and the
    # harness restores to absolute paths; this keeps the runner's target dir ours.
    return {"wheel-cache": "true", "comment": "never", "cache-targets": "false", **extra}


def test_test_only_change_restores_the_wheel_and_skips_cargo(
    warm_example: WarmExample, warm_example_base: tuple[Path, Path], tmp_path: Path
) -> None:
    root = tmp_path / "runner"
    cache = LocalActionsCache(root / "actions-cache")
    project = warm_example.path

    # Job 1: a miss; the build runs and the save action stores the wheel.
    first = _job(project, root, 1, cache)
    _ok(first.run_action(REPO, _with_inputs()))
    assert first.outputs["wheel-hit"] == "false"
    wheel_key = first.outputs["wheel-key"]
    assert wheel_key.startswith("v1-pyo3-wheel-linux-"), wheel_key
    assert first.run_shell(BUILD) == 0, first.log[-1][-3000:]
    assert any(c.split()[0] == "rustc" for c in _cargo_calls(root, 1)), _cargo_calls(root, 1)
    (built,) = (project / "dist").glob("*.whl")
    _ok(first.run_action(REPO / "save"))
    assert any(s.startswith(wheel_key + "-") for s in cache.saves)  # <key>-<cargo inputs>
    assert first.outputs["wheels-saved"] == "true"
    wait_for_new_mtime()

    # Job 2: a new checkout of a commit that only touched tests/.
    warm, checkout = warm_example_base
    _copy_tree(warm, checkout)
    test_file = checkout / "tests" / "test_hello.py"
    test_file.write_text(test_file.read_text() + "\n\ndef test_added_later():\n    assert True\n")
    assert not (checkout / "dist").exists()
    saves_before = list(cache.saves)
    second = _job(checkout, root, 2, cache)
    steps = second.run_action(REPO, _with_inputs())
    _ok(steps)
    assert second.outputs["wheel-key"] == wheel_key
    assert second.outputs["wheel-hit"] == "true"
    skipped = {s.id for s in steps if s.outcome == "skipped"}
    assert {"restore", "pin"} <= skipped  # no Rust cache, no pin on a wheel hit
    # The user's build step: `if: steps.pyo3.outputs.wheel-hit != 'true'`.
    if second.outputs["wheel-hit"] != "true":
        second.run_shell(BUILD)
    _ok(second.run_action(REPO / "save"))
    calls = _cargo_calls(root, 2)
    assert not [c for c in calls if c.split()[0] in COMPILING], calls
    assert calls and all(c.startswith("metadata ") for c in calls), calls  # the key's only call
    assert cache.saves == saves_before  # neither the Rust cache nor the wheel saved again
    assert "wheel cache hit" in second.summary.read_text()
    (restored,) = (checkout / "dist").glob("*.whl")
    assert restored.name == built.name

    # The restored wheel installs into a fresh venv and imports.
    env = tool_env()
    venv = uv_venv(tmp_path / "venv", env)
    uv_pip_install(venv, restored, "--offline", env=env)
    imported = venv_prints(
        venv,
        "import hello_pyo3; print(hello_pyo3.shout('ci'), hello_pyo3.word_count('a b c'))",
        cwd=tmp_path,
    )
    assert imported.split() == ["HELLO,", "CI!", "3"]


def _audit_job(project: Path, root: Path) -> Job:
    """A job whose pyo3-cache action ran earlier (install step, env): only the save action runs."""
    job = _job(project, root, 1, LocalActionsCache(root / "actions-cache"))
    install = {
        "GITHUB_ACTION_PATH": str(REPO),
        "PYO3_CACHE_TEMP": str(job.runner_temp),
        "PYO3_CACHE_TOOL_CACHE": str(job.runner_temp.parent / "_tool"),
    }
    assert job.run_shell(f'bash "{REPO}/scripts/install.sh"', extra_env=install) == 0, job.log
    job.env.update(PYO3_CACHE_DIST=str(project / "dist"))
    return job


def save_with_audit(
    project: Path, root: Path, inputs: dict[str, str]
) -> tuple[Job, list[StepResult], str]:
    """The save action over dist/ with these audit inputs: (job, steps, summary).

    The audits run in the prepare step's process; the audit step is for a wheel hit."""
    job = _audit_job(project, root)
    steps = job.run_action(REPO / "save", inputs)
    by_name = {s.name: s for s in steps}
    assert by_name["Explain rebuilds, report and prune"].outcome == "success"
    assert by_name["Audit the wheels (bytecode and tags)"].outcome == "skipped"
    return job, steps, job.summary.read_text()


def assert_gate(job: Job, steps: list[StepResult], gate_name: str, mode: str) -> None:
    """warn: a green job, the gate skipped; error: the gate is the one failed step."""
    gate = next(s for s in steps if s.name == gate_name)
    if mode == "warn":
        assert job.status == "success" and gate.outcome == "skipped"
    else:
        assert job.status == "failure"
        assert [s.name for s in steps if s.outcome == "failure"] == [gate.name]


def _inject_foreign_pyc(wheel: Path, dest: Path) -> Path:
    """The wheel with a CPython 3.10 .pyc of its __init__ (foreign to its cp3xx tag)."""
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        header = (3439).to_bytes(2, "little") + b"\r\n" + bytes(12)
        out.writestr("hello_pyo3/__pycache__/__init__.cpython-310.pyc", header + b"\xe3")
    return dest


@pytest.mark.parametrize("mode", ["warn", "error"])
def test_save_action_audits_the_wheels_in_dist(
    warm_example: WarmExample, tmp_path: Path, mode: str
) -> None:
    (real,) = (warm_example.session_dir / "dist0").glob("*.whl")
    dist = warm_example.path / "dist"
    dist.mkdir()
    _inject_foreign_pyc(real, dist / real.name)
    inputs = {"audit-bytecode": mode}
    job, steps, summary = save_with_audit(warm_example.path, tmp_path / "runner", inputs)
    assert "[!WARNING]" in summary and "foreign-tag" in summary, summary
    assert "__init__.cpython-310.pyc" in summary
    assert_gate(job, steps, "Fail on bytecode errors (audit-bytecode is error)", mode)


def test_save_action_with_a_clean_wheel_adds_no_warning(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    (real,) = (warm_example.session_dir / "dist0").glob("*.whl")
    dist = warm_example.path / "dist"
    dist.mkdir()
    shutil.copy(real, dist / real.name)
    job = _audit_job(warm_example.path, tmp_path / "runner")
    steps = job.run_action(REPO / "save", {"audit-bytecode": "error"})
    _ok(steps)
    assert job.status == "success"
    assert "[!WARNING]" not in job.summary.read_text()
    assert "bytecode audit of" in "\n".join(s.log for s in steps)
