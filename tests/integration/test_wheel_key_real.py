"""The wheel key with the real tools: `cargo metadata`, a git checkout, the example's real wheel.

The warm example's wheel (built once per session by the shared fixture) goes
through `wheel-cache save`, a tests-only change, `wheel-cache restore`, and is
installed into a fresh venv and imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyo3_cache.keys.diff import diff_manifests
from pyo3_cache.keys.wheel import WheelInputs, compute_wheel_key
from tests.conftest import EXAMPLE, git_env, run_cli
from tests.integration.conftest import (
    BIN,
    WarmExample,
    run_build,
    tool_env,
    uv_pip_install,
    uv_venv,
    venv_prints,
)

pytestmark = pytest.mark.integration


def _git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=cwd, env=git_env(), check=True, capture_output=True)


def _copy(dst: Path) -> Path:
    shutil.copytree(EXAMPLE, dst, ignore=shutil.ignore_patterns("target", "dist", "__pycache__"))
    return dst


def _key(project: Path, inputs: WheelInputs | None = None):
    return compute_wheel_key(project, python=sys.executable, environ=tool_env(), inputs_out=inputs)


def test_git_checkout_and_plain_copy_give_one_key(tmp_path: Path) -> None:
    plain = _copy(tmp_path / "plain" / "hello-pyo3")
    repo = _copy(tmp_path / "repo" / "hello-pyo3")
    _git(repo, "init", "-q")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "init")
    plain_inputs, git_inputs = WheelInputs(), WheelInputs()
    a, b = _key(plain, plain_inputs), _key(repo, git_inputs)
    assert git_inputs.used_git and not plain_inputs.used_git
    assert a.key == b.key
    assert not any("cargo metadata" in w for w in a.warnings + b.warnings)  # cargo answered
    # git decides in a checkout: an ignored generated file is not an input,
    # an untracked one that is not ignored is (cargo package takes it too).
    (repo / ".gitignore").write_text("src/generated.rs\n")
    (repo / "src" / "generated.rs").write_text("// generated\n")
    assert "src/generated.rs" not in _key(repo).part("rust-sources").inputs
    (repo / "src" / "new_module.rs").write_text("pub fn f() {}\n")
    assert "src/new_module.rs" in _key(repo).part("rust-sources").inputs


def test_project_in_an_ignored_folder_of_a_repo_still_keys_its_sources(tmp_path: Path) -> None:
    # e.g. a scratch copy under an ignored `.demo/`, or a vendored crate:
    # git lists nothing there, so the sources must come from a walk (as cargo does).
    outer = tmp_path / "outer"
    outer.mkdir()
    _git(outer, "init", "-q")
    (outer / ".gitignore").write_text("scratch/\n")
    project = _copy(outer / "scratch" / "hello-pyo3")
    inputs = WheelInputs()
    before = _key(project, inputs)
    assert not inputs.used_git
    assert "src/lib.rs" in before.part("rust-sources").inputs
    assert before.part("python-sources").inputs  # hello_pyo3/__init__.py
    lib = project / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n// changed\n")
    after = _key(project)
    assert after.key != before.key
    assert any("src/lib.rs" in line for line in diff_manifests(before, after).lines())


def test_workspace_with_path_dependency_from_cargo_metadata(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    hello = _copy(root / "hello-pyo3")
    (root / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["hello-pyo3", "shared", "cli"]\nresolver = "2"\n'
    )
    for name in ("shared", "cli"):
        (root / name / "src").mkdir(parents=True)
        (root / name / "Cargo.toml").write_text(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2021"\n'
        )
        (root / name / "src" / "lib.rs").write_text("pub fn one() -> u8 { 1 }\n")
    text = (hello / "Cargo.toml").read_text()
    (hello / "Cargo.toml").write_text(
        text.replace("[dependencies]", '[dependencies]\nshared = { path = "../shared" }')
    )
    shutil.move(str(hello / "Cargo.lock"), str(root / "Cargo.lock"))
    inputs = WheelInputs()
    before = _key(hello, inputs)
    assert not any("cargo metadata" in w for w in before.warnings), before.warnings
    assert sorted(c.name for c in inputs.crates) == ["hello-pyo3", "shared"]  # not cli
    (root / "cli" / "src" / "lib.rs").write_text("pub fn two() -> u8 { 2 }\n")
    assert _key(hello).key == before.key
    (root / "shared" / "src" / "lib.rs").write_text("pub fn one() -> u8 { 3 }\n")
    assert diff_manifests(before, _key(hello)).lines() == [
        "rust-sources: shared/src/lib.rs changed"
    ]


def test_wheel_cache_restores_the_real_wheel_after_a_tests_only_change(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    project = warm_example.path
    (wheel,) = (warm_example.session_dir / "dist0").glob("*.whl")
    store = f"dir:{tmp_path / 'store'}"
    env = tool_env(GITHUB_ACTIONS="")
    args = ("--store", store, "--python", sys.executable, "--format", "json")
    (project / "dist").mkdir()
    shutil.copy2(wheel, project / "dist" / wheel.name)
    saved = run_cli("wheel-cache", "save", *args, cwd=project, env=env)
    assert saved.returncode == 0 and json.loads(saved.stdout)["saved"], saved.stderr

    shutil.rmtree(project / "dist")
    test_file = project / "tests" / "test_hello.py"
    test_file.write_text(test_file.read_text() + "\n# a tests-only change\n")
    hit = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=project, env=env)
    assert hit.returncode == 0, hit.stdout + hit.stderr
    assert json.loads(hit.stdout)["wheels"] == [wheel.name]

    venv = uv_venv(tmp_path / "venv", env)
    uv_pip_install(venv, project / "dist" / wheel.name, "--offline", env=env)
    code = "import hello_pyo3; print(hello_pyo3.greet('wheel'), hello_pyo3.checked_sum([1, 2]))"
    assert venv_prints(venv, code, cwd=tmp_path).strip() == "Hello, wheel! 3"

    # An edit to the extension's source is a miss: the wheel must be built again.
    lib = project / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("Hello,", "Hi,"))
    shutil.rmtree(project / "dist")
    miss = run_cli("wheel-cache", "restore", *args, "--fail-on-miss", cwd=project, env=env)
    assert miss.returncode == 1 and json.loads(miss.stdout)["hit"] is False
    assert not (project / "dist").exists() or not list((project / "dist").glob("*.whl"))


# --- inputs only cargo knows (issue 18: stale wheels) -------------------------------------

BUILD_RS = """fn main() {
    let words = std::fs::read_to_string("data/words.txt").unwrap();
    let out = std::env::var("OUT_DIR").unwrap();
    std::fs::write(format!("{out}/words.rs"), format!("{:?}", words.trim())).unwrap();
    %s
}
"""
RERUN = 'println!("cargo:rerun-if-changed=data/words.txt");'
LIB_ADDITIONS = """
#[path = "../../shared/extra.rs"]
mod extra;

/// Set at compile time: env!("MY_VAR"), a file build.rs reads, a module outside src/.
#[pyfunction]
fn baked() -> String {
    format!("{} {} {}", env!("MY_VAR"), include!(concat!(env!("OUT_DIR"), "/words.rs")), extra::N)
}
"""


def _with_cargo_only_inputs(project: Path, rerun: str = RERUN) -> None:
    """A build.rs reading data/words.txt, a #[path] module in ../shared, an env! variable."""
    (project / "build.rs").write_text(BUILD_RS % rerun)
    (project / "data").mkdir(exist_ok=True)
    (project / "data" / "words.txt").write_text("alpha\n")
    (project.parent / "shared").mkdir(exist_ok=True)
    (project.parent / "shared" / "extra.rs").write_text("pub const N: u8 = 1;\n")
    lib = project / "src" / "lib.rs"
    text = lib.read_text()
    if "fn baked" not in text:
        text = text.replace("#[pymodule]", LIB_ADDITIONS + "\n#[pymodule]", 1)
        text = text.replace(
            "    Ok(())\n}", "    m.add_function(wrap_pyfunction!(baked, m)?)?;\n    Ok(())\n}", 1
        )
        lib.write_text(text)


def _wheel_cache(op: str, project: Path, store: Path, **env: str) -> dict[str, object]:
    args = ("--store", f"dir:{store}", "--python", sys.executable, "--format", "json")
    done = run_cli("wheel-cache", op, *args, cwd=project, env=tool_env(GITHUB_ACTIONS="", **env))
    assert done.returncode == 0, done.stderr
    data: dict[str, object] = json.loads(done.stdout)
    return data


def _restore(project: Path, store: Path, **env: str) -> dict[str, object]:
    shutil.rmtree(project / "dist", ignore_errors=True)
    return _wheel_cache("restore", project, store, **env)


def test_a_change_only_cargo_sees_is_a_wheel_cache_miss(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    project, store = warm_example.path, tmp_path / "store"
    _with_cargo_only_inputs(project)
    built = run_build(
        [str(BIN / "uv"), "build", "--wheel", "--out-dir", "dist"],
        project,
        tool_env(MY_VAR="one"),
    )
    assert built.returncode == 0, built.output[-3000:]
    key = _key(project).key
    saved = _wheel_cache("save", project, store, MY_VAR="one")
    assert saved["saved"] is True, saved
    assert _restore(project, store, MY_VAR="one")["hit"] is True

    extra = project.parent / "shared" / "extra.rs"
    words = project / "data" / "words.txt"
    changes = [
        (
            "#[path] module outside src/",
            lambda: extra.write_text("pub const N: u8 = 2;\n"),
            lambda: extra.write_text("pub const N: u8 = 1;\n"),
            {},
            "../shared/extra.rs changed",
        ),
        (
            "a file build.rs reads",
            lambda: words.write_text("beta\n"),
            lambda: words.write_text("alpha\n"),
            {},
            "data/words.txt changed",
        ),
        (
            'env!("MY_VAR")',
            lambda: None,
            lambda: None,
            {"MY_VAR": "two"},
            "the variable MY_VAR changed",
        ),
    ]
    for what, change, undo, env, reason in changes:
        change()
        # The key alone cannot see it (that restored the old wheel before)...
        assert _key(project).key == key, what
        # ...cargo's own list can.
        result = _restore(project, store, **{"MY_VAR": "one", **env})
        assert result["hit"] is False, what
        assert str(result["reasons"]).endswith(f"were built: {reason}']"), result["reasons"]
        undo()
    # Back where the wheel was built, and a tests-only change: a hit.
    test_file = project / "tests" / "test_hello.py"
    test_file.write_text(test_file.read_text() + "\n# a tests-only change\n")
    assert _restore(project, store, MY_VAR="one")["hit"] is True


def test_a_build_script_naming_no_inputs_makes_any_package_file_an_input(
    warm_example: WarmExample, tmp_path: Path
) -> None:
    project, store = warm_example.path, tmp_path / "store"
    _with_cargo_only_inputs(project, rerun="")
    built = run_build(
        [str(BIN / "uv"), "build", "--wheel", "--out-dir", "dist"],
        project,
        tool_env(MY_VAR="one"),
    )
    assert built.returncode == 0, built.output[-3000:]
    assert _wheel_cache("save", project, store, MY_VAR="one")["saved"] is True
    assert _restore(project, store, MY_VAR="one")["hit"] is True
    # cargo reruns such a script when any file of its package changes, tests/ too.
    test_file = project / "tests" / "test_hello.py"
    test_file.write_text(test_file.read_text() + "\n# a tests-only change\n")
    result = _restore(project, store, MY_VAR="one")
    assert result["hit"] is False
    assert "a file of ./ changed (its build script names no inputs)" in str(result["reasons"])
