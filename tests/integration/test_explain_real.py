"""`explain`, `run` and the cargo wrapper against the installed cargo, uv, pip and maturin.

These generate fresh scenarios in the test run (not only stored fixtures), so
the parser keeps up with whatever cargo is installed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from pyo3_cache import explain_recompiles
from tests.conftest import assert_one_line_error, run_cli
from tests.integration.conftest import BIN, WarmExample, run_build, tool_env

FINGERPRINT_LOG = "cargo::core::compiler::fingerprint=info"


def _pin(project: Path) -> dict[str, str]:
    manifest = str(project / "Cargo.toml")
    result = run_cli("pin", "--manifest-path", manifest, "--format", "json", env=tool_env())
    assert result.returncode == 0, result.stderr
    return dict(json.loads(result.stdout)["env"])


def test_fresh_pyo3_python_change_is_explained(warm_example: WarmExample, tmp_path: Path) -> None:
    # The warm dev build ran without PYO3_PYTHON; now set it, with cargo's
    # verbose lines and its fingerprint log both on.
    env = tool_env(PYO3_PYTHON=sys.executable, CARGO_LOG=FINGERPRINT_LOG)
    build = run_build(["cargo", "build", "-v"], warm_example.path, env)
    assert build.returncode == 0, build.output[-3000:]
    log = tmp_path / "build.log"
    log.write_text(build.output)
    report = explain_recompiles(log)
    assert len(report.invocations) == 1
    (cause,) = report.root_causes
    assert (cause.package, cause.kind) == ("pyo3-ffi", "interpreter-env")
    assert cause.reason == "the env variable PYO3_PYTHON changed"
    assert (cause.old_value, cause.new_value) == (None, sys.executable)
    assert {"pyo3", "hello-pyo3"} <= set(cause.cascade)
    assert "pyo3-cache pin" in cause.hint
    result = run_cli("explain", "--format", "json", str(log))
    data = json.loads(result.stdout)
    assert data["counts"]["rebuilt"] == report.counts["rebuilt"] >= 3
    assert {u["package"] for u in data["units"] if u["root_cause"] == "pyo3-ffi"} >= {
        "pyo3-ffi",
        "pyo3",
        "hello-pyo3",
    }


def test_run_passes_output_through_keeps_log_and_explains(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    env = _pin(warm_example.path)
    wrapper_dir = str(warm_example.session_dir / "wrapper")
    settle = run_cli(
        "run", "--wrapper-dir", wrapper_dir, "--", "cargo", "build", cwd=warm_example.path, env=env
    )
    assert settle.returncode == 0, settle.stderr[-3000:]
    (warm_example.path / "src" / "lib.rs").touch()
    log = tmp_path / "run.log"
    result = run_cli(
        "run", "--log", str(log), "--wrapper-dir", wrapper_dir, "--", "cargo", "build",
        cwd=warm_example.path, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    # cargo's normal lines came through live, its verbose ones went to the log
    # only (issue 17), and the explanation follows.
    assert "Compiling hello-pyo3 v0.1.0" in result.stderr
    assert "Dirty hello-pyo3 v0.1.0" not in result.stderr
    assert "Dirty hello-pyo3 v0.1.0" in Path(str(log) + ".cargo").read_text()
    assert "pyo3-cache explain: 1 crate rebuilt because `src/lib.rs` changed" in result.stderr
    assert "Finished" in log.read_text()


def test_run_keeps_the_exit_code_and_reports_unstartable_commands(tmp_path: Path) -> None:
    failed = run_cli("run", "--log", str(tmp_path / "x.log"), "--", "sh", "-c", "echo hi; exit 3")
    assert failed.returncode == 3
    assert failed.stdout == "hi\n"
    assert "No cargo output found" in failed.stderr
    assert_one_line_error(
        run_cli("run", "--no-wrapper", "--", "no-such-command-pyo3-cache"), 13, "not found"
    )


def _wrapped_env(example: WarmExample, log: Path) -> dict[str, str]:
    installed = run_cli("cargo-wrapper", "--install", str(example.session_dir / "wrapper"))
    assert installed.returncode == 0, installed.stderr
    directory = installed.stdout.split("=", 1)[1].split(":", 1)[0].strip("'\"")
    env = tool_env(**_pin(example.path), PYO3_CACHE_CARGO_LOG=str(log))
    env["PATH"] = directory + ":" + env["PATH"]
    return env


def test_cargo_wrapper_causes_no_rebuild_under_uv(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    cmd = [str(BIN / "uv"), "build", "--wheel", "--out-dir", str(warm_example.dist)]
    first = run_build(cmd, warm_example.path, _wrapped_env(warm_example, first_log))
    assert first.returncode == 0, first.output[-3000:]
    second = run_build(cmd, warm_example.path, _wrapped_env(warm_example, second_log))
    assert second.returncode == 0, second.output[-3000:]
    assert second.compiled == [], second.output[-3000:]
    assert len(list(warm_example.dist.glob("*.whl"))) == 1  # maturin still read cargo's JSON
    report = explain_recompiles(second_log)
    assert report.counts["rebuilt"] == 0 and report.counts["new"] == 0
    assert report.counts["fresh"] >= 10
    assert "Fresh pyo3 v0.30.1" in second_log.read_text()


def test_cargo_wrapper_captures_what_pip_hides(warm_example: WarmExample, tmp_path: Path) -> None:
    log = tmp_path / "cargo.log"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(warm_example.dist), "."]
    build = run_build(cmd, warm_example.path, _wrapped_env(warm_example, log))
    assert build.returncode == 0, build.output[-3000:]
    assert "Finished" not in build.output  # pip without -v hides the backend's output
    captured = log.read_text()
    assert "Finished `release` profile" in captured
    report = explain_recompiles(log)
    assert report.invocations and report.counts["fresh"] + report.counts["rebuilt"] >= 10


def test_wrapper_without_log_variable_is_plain_cargo(warm_example: WarmExample) -> None:
    installed = run_cli("cargo-wrapper", "--install", str(warm_example.session_dir / "wrapper"))
    assert installed.returncode == 0
    wrapper = warm_example.session_dir / "wrapper" / "cargo"
    out = subprocess.run(
        [str(wrapper), "metadata", "--format-version", "1", "--no-deps"],
        cwd=warm_example.path,
        env=tool_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout)["packages"][0]["name"] == "hello-pyo3"
