"""The composite actions, run step by step as the runner would, on the real example.

Three consecutive "jobs" on one runner path, each on a fresh checkout (new
mtimes, no target dir, empty cargo registry), with actions/cache served by a
local directory:

1. cold: builds everything, saves;
2. same commit: exact hit, the build compiles 0 crates, the summary says so;
3. Cargo.lock bumped: a restore key matches, the summary names the package.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.action_runner import Job, LocalActionsCache, wait_for_new_mtime
from tests.conftest import EXAMPLE, REPO
from tests.integration.conftest import tool_env

BUILD = 'uv build --wheel --out-dir "$RUNNER_TEMP/dist"'


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runner")
    return {
        "root": root,
        "checkout": root / "work" / "hello" / "hello",
        "cargo_home": root / "home" / ".cargo",
        "cache": root / "actions-cache",
    }


def _fresh_checkout(dst: Path, cargo_home: Path) -> None:
    """What actions/checkout and a new runner give: new files, no target, no registry."""
    if dst.exists():
        shutil.rmtree(dst)
    # copy (not copy2): a checkout writes files now, with new mtimes.
    shutil.copytree(
        EXAMPLE,
        dst,
        copy_function=shutil.copy,
        ignore=shutil.ignore_patterns("target", "dist", "__pycache__"),
    )
    for sub in ("registry", "git"):
        shutil.rmtree(cargo_home / sub, ignore_errors=True)
    cargo_home.mkdir(parents=True, exist_ok=True)


def _job(runner: dict[str, Path], n: int, cache: LocalActionsCache) -> Job:
    env = tool_env(
        CARGO_HOME=str(runner["cargo_home"]), PYO3_CACHE_WRAPPER_DIR=str(runner["root"] / "wrapper")
    )
    return Job(
        workspace=runner["checkout"],
        runner_temp=runner["root"] / "_temp",
        job_dir=runner["root"] / f"job{n}",
        cache=cache,
        base_env=env,
        github={"job": "wheels", "token": "ghs_SECRETVALUE"},
    )


def _run_job(runner: dict[str, Path], n: int, cache: LocalActionsCache) -> Job:
    job = _job(runner, n, cache)
    steps = job.run_action(REPO, {"summary": "true", "comment": "never"})
    assert all(s.outcome in ("success", "skipped") for s in steps), [
        (s.name, s.outcome, s.log) for s in steps
    ]
    job.restore_outputs = dict(job.outputs)
    assert job.run_shell(BUILD) == 0, job.log[-1][-3000:]
    job.build_log = job.log[-1]
    saved = job.run_action(REPO / "save")
    assert all(s.outcome in ("success", "skipped") for s in saved), [
        (s.name, s.outcome, s.log[-2000:]) for s in saved if s.outcome not in ("success", "skipped")
    ]
    return job


def test_three_jobs_cold_exact_hit_and_lock_bump(runner: dict[str, Path]) -> None:
    cache = LocalActionsCache(runner["cache"])

    _fresh_checkout(runner["checkout"], runner["cargo_home"])
    first = _run_job(runner, 1, cache)
    assert first.restore_outputs["cache-hit"] in ("false", "")
    assert len(cache.saves) == 1
    assert "miss (cold build)" in first.summary.read_text()
    # What actions/cache stores: the entry dir under RUNNER_TEMP, one pyo3-cache
    # archive with its record and key manifest, not the target dir itself.
    with tarfile.open(next(runner["cache"].glob("*.tar"))) as tar:
        files = [m.name for m in tar.getmembers() if m.isfile()]
    entry = (runner["root"] / "_temp" / "pyo3-cache" / "entry").as_posix().lstrip("/")
    assert files and all(name.startswith(entry + "/entries/") for name in files), files
    assert sorted(Path(name).name for name in files) == [
        "archive.tar.zst",
        "entry.json",
        "key-manifest.json",
        "last-used",
    ], files
    wait_for_new_mtime()

    _fresh_checkout(runner["checkout"], runner["cargo_home"])
    second = _run_job(runner, 2, cache)
    assert second.restore_outputs["cache-hit"] == "true"
    summary = second.summary.read_text()
    assert "exact hit" in summary
    # unpacked into the target dir and cargo's home, then the entry dir is freed
    assert not (runner["root"] / "_temp" / "pyo3-cache" / "entry").exists()
    assert "0 crates rebuilt" in summary or "nothing rebuilt" in summary.lower(), summary
    build_log = second.log[-3] if len(second.log) >= 3 else ""
    assert len(cache.saves) == 1  # no save on an exact hit
    wait_for_new_mtime()

    _fresh_checkout(runner["checkout"], runner["cargo_home"])
    lock = runner["checkout"] / "Cargo.lock"
    subprocess.run(
        ["cargo", "update", "-p", "once_cell", "--precise", "1.21.3"],
        cwd=runner["checkout"],
        env=tool_env(CARGO_HOME=str(runner["cargo_home"])),
        check=True,
        capture_output=True,
    )
    assert "1.21.3" in lock.read_text()
    third = _run_job(runner, 3, cache)
    assert third.restore_outputs["cache-hit"] == "false"
    assert third.restore_outputs["matched-key"]
    summary = third.summary.read_text()
    assert "partial hit" in summary
    assert "once_cell" in html.unescape(summary), summary
    assert len(cache.saves) == 2
    for job in (first, second, third):
        assert "ghs_SECRETVALUE" not in "\n".join(job.log)
        assert "ghs_SECRETVALUE" not in job.summary.read_text()
    del build_log
