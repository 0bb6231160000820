"""cargo's own record as input: nightly ``-Zbuild-analysis`` logs, explained by us
and by ``cargo +nightly -Zbuild-analysis report rebuilds`` on the same builds.

Our root causes must name the packages cargo's report names; where cargo only
counts new units, we also say why (from the target dir).  Skipped where the
nightly toolchain is not installed.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from pyo3_cache import explain_recompiles
from tests.integration.conftest import run_build, tool_env
from tests.integration.tiny_workspace import warm_workspace, workspace

__all__ = ["warm_workspace", "workspace"]  # fixtures

NIGHTLY = ["cargo", "+nightly", "-Zbuild-analysis", "--config", "build.analysis.enabled=true"]


def _nightly_available() -> bool:
    try:
        proc = subprocess.run(["cargo", "+nightly", "--version"], capture_output=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0 and b"nightly" in proc.stdout


pytestmark = pytest.mark.skipif(not _nightly_available(), reason="no nightly cargo")


def _build(root: Path, cargo_home: Path, args: list[str], env: dict[str, str]) -> None:
    build = run_build(
        [*NIGHTLY, "build", "--offline", *args],
        root,
        tool_env(CARGO_HOME=str(cargo_home), **env),
    )
    assert build.returncode == 0, build.output[-2000:]


def _cargo_report(root: Path, cargo_home: Path) -> tuple[set[str], int]:
    """(packages of cargo's root rebuilds, new units) from `cargo report rebuilds`."""
    proc = subprocess.run(
        ["cargo", "+nightly", "-Zbuild-analysis", "report", "rebuilds"],
        cwd=root,
        env=tool_env(CARGO_HOME=str(cargo_home)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout + proc.stderr  # cargo 1.97 nightly prints the report on stderr
    status = re.search(r"Status: (\d+) units? rebuilt, (\d+) cached, (\d+) new", text)
    assert status, text
    roots = set(re.findall(r"^\s+\d+\. ([A-Za-z0-9_-]+)@", text, re.M))
    return roots, int(status.group(3))


SCENARIOS = [
    ("env-var", lambda root: None, {"UTIL_MODE": "fast"}, [], "env-var"),
    ("source", lambda root: (root / "util/src/lib.rs").touch(), {}, [], "file-changed"),
    ("watched", lambda root: (root / "util/data.txt").write_text("x\n"), {}, [], "watched-file"),
    ("bin-only", lambda root: (root / "app/src/main.rs").touch(), {}, [], "file-changed"),
    ("rustflags", lambda root: None, {"RUSTFLAGS": "--cfg=myflag"}, [], "rustflags"),
    ("feature", lambda root: None, {}, ["--features", "util/extra"], "features"),
]


@pytest.mark.parametrize(("name", "change", "env", "args", "kind"), SCENARIOS)
def test_our_root_causes_match_cargos_report_rebuilds(
    workspace: Path,
    tmp_path: Path,
    name: str,
    change: object,
    env: dict[str, str],
    args: list[str],
    kind: str,
) -> None:
    cargo_home = tmp_path / "cargo-home"
    cargo_home.mkdir()
    _build(workspace, cargo_home, [], {})  # the nightly build to compare with
    change(workspace)  # type: ignore[operator]
    _build(workspace, cargo_home, args, env)
    logs = sorted((cargo_home / "log").glob("*.jsonl"))
    assert len(logs) == 2
    cargo_roots, cargo_new = _cargo_report(workspace, cargo_home)
    report = explain_recompiles(logs[-1], target_dir=workspace / "target")
    assert {c.package for c in report.root_causes} == cargo_roots, report.headline
    if cargo_roots:
        assert {c.kind for c in report.root_causes} == {kind}
    # cargo counts new units; we also say why they are new.
    assert bool(report.counts["new"]) == bool(cargo_new)
    if cargo_new:
        assert {g.kind for g in report.new_groups} == {kind}
        assert all(g.evidence == "target-dir" for g in report.new_groups)
