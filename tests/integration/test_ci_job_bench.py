"""bench/ci_job.py: its root-cause checks, and one short real run of our CI flow.

The full benchmark (three projects, both flows, six scenarios) runs by hand
(docs/benchmarks.md); here one warm job after a cold one proves the flow
end to end on examples/hello-pyo3 within CI's budget. No timing assertions.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

import ci_job  # noqa: E402
from _ci_projects import PROJECTS, package_watching  # noqa: E402

HELLO = PROJECTS["hello-pyo3"]


def _report(
    causes: list[dict[str, Any]] = (),  # type: ignore[assignment]
    new: list[dict[str, Any]] = (),  # type: ignore[assignment]
    fresh: int = 14,
    rebuilt: int = 0,
) -> dict[str, Any]:
    return {
        "counts": {"fresh": fresh, "rebuilt": rebuilt, "new": sum(len(g["packages"]) for g in new)},
        "root_causes": list(causes),
        "new": list(new),
        "headline": "test report",
    }


def _cause(kind: str, package: str, **extra: Any) -> dict[str, Any]:
    return {
        "kind": kind,
        "package": package,
        "reason": "r",
        "variable": None,
        "file": None,
        **extra,
    }


def test_check_fails_a_warm_job_that_rebuilt_the_pyo3_chain() -> None:
    report = _report([_cause("interpreter-env", "pyo3-ffi", variable="PYO3_PYTHON")], rebuilt=3)
    problem = ci_job.check_explanation("warm", report, HELLO, "", None)
    assert problem is not None and "nothing rebuilt" in problem


def test_check_passes_a_warm_job_with_only_fresh_units() -> None:
    assert ci_job.check_explanation("warm", _report(), HELLO, "", None) is None


def test_check_wants_the_edited_file_named_for_a_rust_change() -> None:
    right = _report([_cause("file-changed", "hello-pyo3", file="src/lib.rs")], rebuilt=1)
    wrong = _report([_cause("dependencies", "hello-pyo3")], rebuilt=1)
    assert ci_job.check_explanation("rust-change", right, HELLO, "src/lib.rs", None) is None
    problem = ci_job.check_explanation("rust-change", wrong, HELLO, "src/lib.rs", None)
    assert problem is not None and "file-changed" in problem


def test_check_expects_package_files_where_a_build_script_watches_the_folder() -> None:
    report = _report([_cause("package-files", "rpds-py")], rebuilt=1)
    rpds = PROJECTS["rpds-py"]
    assert ci_job.check_explanation("python-change", report, rpds, "rpds.pyi", "rpds-py") is None
    problem = ci_job.check_explanation("python-change", report, rpds, "rpds.pyi", None)
    assert problem is not None


def test_check_wants_the_bumped_crate_named_and_nothing_else() -> None:
    new = [{"kind": "not-cached", "packages": ["unicode-ident", "proc-macro2"]}]
    good = _report(new=new)
    stray = _report([_cause("rustflags", "hello-pyo3")], new=new, rebuilt=1)
    change = "unicode-ident 1.0.27 → 1.0.26"
    assert ci_job.check_explanation("lock-bump", good, HELLO, change, None) is None
    assert ci_job.check_explanation("lock-bump", stray, HELLO, change, None) is not None
    other = "libc 0.2.191 → 0.2.190"
    assert ci_job.check_explanation("lock-bump", good, HELLO, other, None) is not None


def test_package_watching_finds_a_build_script_without_rerun_if(tmp_path: Path) -> None:
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "demo"\nversion = "0.1.0"\n')
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text("")
    assert package_watching(tmp_path, "pkg/mod.py") is None
    (tmp_path / "build.rs").write_text("fn main() {}\n")
    assert package_watching(tmp_path, "pkg/mod.py") == "demo"
    (tmp_path / "build.rs").write_text('fn main() { println!("cargo:rerun-if-changed=build.rs"); }')
    assert package_watching(tmp_path, "pkg/mod.py") is None


@pytest.mark.integration
def test_warm_job_of_our_flow_compiles_nothing_and_says_why(tmp_path: Path) -> None:
    results = tmp_path / "results.json"
    cmd = [sys.executable, str(REPO / "bench" / "ci_job.py"), "--projects", "hello-pyo3"]
    cmd += ["--scenarios", "cold,warm", "--flows", "ours", "--work", str(tmp_path / "work")]
    cmd += ["--json", str(results)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = {j["scenario"]: j for j in json.loads(results.read_text())["jobs"]}
    cold, warm = jobs["cold"], jobs["warm"]
    assert cold["restore"] == "miss" and cold["saved_bytes"] > 0
    assert cold["check"] == "ok" and cold["compiled"]
    assert warm["restore"] == "exact"
    assert warm["compiled"] == []
    assert warm["check"] == "ok"
    assert warm["root_cause"] == "nothing rebuilt"
    assert "| warm |" in proc.stdout  # the report table


# --- ci_job.py --runner act ---------------------------------------------------------------

import ci_act  # noqa: E402
from _act import ActRun, _read  # noqa: E402
from _act_flows import FLOWS, workflow  # noqa: E402


def _act_lines(*entries: dict[str, Any]) -> ActRun:
    run = ActRun(0, 0.0)
    opened: dict[tuple[str, str], tuple[float, str]] = {}
    for t, entry in enumerate(entries):
        _read(json.dumps(entry), float(t), run, opened)
    return run


def test_act_log_gives_each_composite_step_its_time_and_outputs() -> None:
    step = {"stage": "Main", "stepID": ["cache", "restore"]}
    run = _act_lines(
        {**step, "msg": "⭐ Run Main Restore the cache"},
        {**step, "msg": "Cache Size: ~15 MB (15206088 B)"},
        {**step, "msg": "  ✅  Success - Main Restore the cache", "stepResult": "success",
         "executionTime": 922470040},
        {**step, "msg": "::set-output:: cache-hit=true", "command": "set-output",
         "name": "cache-hit", "arg": "true"},
    )  # fmt: skip
    (found,) = run.steps
    assert (found.step, found.name, found.result) == (
        "cache/restore",
        "Restore the cache",
        "success",
    )
    assert abs(found.seconds - 0.922) < 0.001
    assert run.outputs("cache/restore") == {"cache-hit": "true"}
    job = ci_act.ActJob("p", "warm", "ours")
    ci_act.read_job(job, run)
    assert (job.restore, job.restored_bytes) == ("exact", 15206088)
    assert job.transfer_s == pytest.approx(0.922, abs=0.001)
    assert job.problem.startswith("our action's install step did not succeed")


def test_every_flow_builds_and_imports_the_same_way() -> None:
    for flow in FLOWS:
        text = workflow(
            flow, cargo_home=Path("ch"), python_bin=Path("py/bin"), tools=Path("tools"),
            crate_dir=".", import_name="hello_pyo3", dist_name="hello-pyo3",
        )  # fmt: skip
        assert 'uv build --wheel --python \\"$(command -v python3)\\" --out-dir dist' in text
        assert '-c "import hello_pyo3"' in text
        assert '--no-index --find-links dist "hello-pyo3"' in text
    multi = workflow(
        "ours", cargo_home=Path("ch"), python_bin=Path("a/bin"), tools=Path("t"), crate_dir=".",
        import_name="hello_pyo3", dist_name="hello-pyo3", also=(Path("b/bin"),),
    )  # fmt: skip
    assert "maturin build --release -i a/bin/python3 -i b/bin/python3 --out dist" in multi
    assert multi.count('-c "import hello_pyo3"') == 2  # each interpreter imports its wheel
    assert "MATURIN_PEP517_USE_BASE_PYTHON" in workflow(
        "base-python", cargo_home=Path("ch"), python_bin=Path("b"), tools=Path("t"),
        crate_dir=".", import_name="x", dist_name="x",
    )  # fmt: skip


def test_each_round_runs_the_flows_in_another_order() -> None:
    """Over as many rounds as flows, every flow comes first once and no flow
    always follows the same neighbour (a job pays for what the last one left)."""
    flows = ["rust-cache", "base-python", "sccache", "ours"]
    orders = [ci_act.rotated(flows, r) for r in range(len(flows))]
    assert all(sorted(o) == sorted(flows) for o in orders)
    assert {o[0] for o in orders} == set(flows)
    for flow in flows:
        before = [o[o.index(flow) - 1] for o in orders if o[0] != flow]
        assert sorted(before) == sorted(f for f in flows if f != flow), (flow, orders)
    assert ci_act.rotated(["ours"], 2) == ["ours"]


def test_a_warm_job_always_has_its_cold_job_before_it() -> None:
    assert ci_act.seeded(["warm", "python-patch"]) == (["cold", "warm", "python-patch"], ["cold"])
    assert ci_act.seeded(["lock-bump", "cold"]) == (["cold", "lock-bump"], [])
    assert ci_act.seeded(["multi-warm"]) == (["multi-cold", "multi-warm"], ["multi-cold"])
    assert ci_act.seeded(["cold", "multi-cold"]) == (["cold", "multi-cold"], [])


def test_act_runner_says_which_checkout_a_flow_needs(tmp_path: Path) -> None:
    cmd = [sys.executable, str(REPO / "bench" / "ci_job.py"), "--runner", "act", "--quick"]
    cmd += ["--flows", "rust-cache", "--work", str(tmp_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "skipping flow rust-cache: it needs --rust-cache" in proc.stdout


def test_act_runner_makes_the_json_folder_and_refuses_an_unwritable_path_first(
    tmp_path: Path,
) -> None:
    cmd = [sys.executable, str(REPO / "bench" / "ci_job.py"), "--runner", "act", "--quick"]
    cmd += ["--flows", "rust-cache", "--work", str(tmp_path)]
    fresh = tmp_path / "new" / "run.json"
    proc = subprocess.run([*cmd, "--json", str(fresh)], capture_output=True, text=True, timeout=120)
    assert fresh.is_file(), proc.stderr  # the folder is made before any job runs
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    proc = subprocess.run(
        [*cmd, "--json", str(blocker / "run.json")], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"ci_job: cannot write --json: File exists: {blocker}"
    ]


@pytest.mark.integration
def test_our_flow_under_act_warm_job_compiles_nothing(tmp_path: Path) -> None:
    if ci_act.stand_in() is None:
        pytest.skip("no stand-in for actions/cache under tests/act/ (the action's act tests)")
    results = tmp_path / "results.json"
    cmd = [sys.executable, str(REPO / "bench" / "ci_job.py"), "--runner", "act", "--quick"]
    cmd += ["--flows", "ours", "--work", str(tmp_path / "work"), "--json", str(results)]
    # a folder without the shared tools: the patcher kept in tests/act/ is used
    cmd += ["--act-tools", str(tmp_path / "no-shared-tools")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    jobs = {j["scenario"]: j for j in json.loads(results.read_text())["jobs"]}
    cold, warm = jobs["cold"], jobs["warm"]
    assert cold["restore"] == "miss" and cold["saved_bytes"] > 0 and cold["compiled"]
    assert warm["restore"] == "exact" and warm["compiled"] == [] and warm["saved_bytes"] == 0
    assert "| warm |" in proc.stdout
