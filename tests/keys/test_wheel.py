"""The wheel key: exactly the wheel build's inputs, and nothing else.

The project is examples/hello-pyo3 (copied per test).  ``rustc`` is a stub
first on PATH and no ``cargo``/``git`` is reachable, so the crates come from
their Cargo.toml files and the files from a walk of the tree; the same checks
with real ``cargo metadata`` and a git checkout are in
tests/integration/test_wheel_key_real.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from pyo3_cache.keys.diff import diff_manifests, render_diff_text
from pyo3_cache.keys.render import part_summary
from pyo3_cache.keys.wheel import HASHED_PARTS, WheelInputs, compute_wheel_key
from pyo3_cache.keys.wheel_sources import build_crates, module_name
from pyo3_cache.pin.pinning import pin_pyo3_config
from tests.conftest import EXAMPLE, assert_one_line_error, run_cli
from tests.keys.test_rust import copy_project, edit

PARTS = ("prefix", *HASHED_PARTS)


def wheel_key(project: Path, tools: Path, inputs: WheelInputs | None = None, **kw: str):
    env = {"PATH": str(tools), **kw.pop("env", {})}  # type: ignore[dict-item]
    return compute_wheel_key(project, python=sys.executable, environ=env, inputs_out=inputs, **kw)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --- what is an input -------------------------------------------------------------


def test_the_inputs_of_the_example(hello: Path, tools: Path) -> None:
    inputs = WheelInputs()
    manifest = wheel_key(hello, tools, inputs)
    assert manifest.kind == "wheel"
    assert manifest.part_names == PARTS
    assert manifest.restore_keys == ()  # an older wheel is a wrong wheel
    assert manifest.key.startswith("v1-pyo3-wheel-")
    rel = lambda paths: sorted(p.relative_to(hello.resolve()).as_posix() for p in paths)  # noqa: E731
    assert rel(inputs.rust_files) == ["Cargo.toml", "src/lib.rs"]
    assert rel(inputs.python_files) == ["python/hello_pyo3/__init__.py"]
    assert [c.name for c in inputs.crates] == ["hello-pyo3"]
    build = manifest.part("build").inputs
    assert build["features"] == "pyo3/extension-module"
    assert build["profile"] == "release" and build["target"] == "x86_64-unknown-linux-gnu"
    assert manifest.part("metadata").inputs["project.name"] == "hello-pyo3"
    # without cargo on PATH the crates come from their Cargo.toml, and we say so
    assert any("reading the crates' Cargo.toml files instead" in w for w in manifest.warnings)


@pytest.mark.parametrize(
    "change",
    [
        lambda p: write(p / "tests" / "test_more.py", "def test_x():\n    pass\n"),
        lambda p: edit(p / "tests" / "test_hello.py", "import", "import os\nimport"),
        lambda p: write(p / "docs" / "index.md", "# Docs\n"),
        lambda p: write(p / ".github" / "workflows" / "ci.yml", "on: push\n"),
        lambda p: write(p / "CHANGELOG.md", "# 0.1.0\n"),
        lambda p: write(p / "uv.lock", "version = 1\n"),
        lambda p: write(p / "noxfile.py", "import nox\n"),
        lambda p: write(p / "python" / "hello_pyo3" / "__pycache__" / "x.cpython-311.pyc", "x"),
        # what `maturin develop` leaves in the package: an output, not an input
        lambda p: write(p / "python" / "hello_pyo3" / "_hello_pyo3.cpython-311-x86_64.so", "x"),
        lambda p: write(p / "target" / "release" / "libx.so", "x"),
        lambda p: edit(
            p / "pyproject.toml",
            "[tool.maturin]",
            '[tool.pytest.ini_options]\naddopts = "-q"\n\n[tool.maturin]',
        ),
    ],
    ids=[
        "new-test",
        "edited-test",
        "docs",
        "github",
        "changelog",
        "uv-lock",
        "noxfile",
        "pycache",
        "develop-extension",
        "target-dir",
        "pytest-config",
    ],
)
def test_edits_outside_the_wheel_do_not_change_the_key(hello: Path, tools: Path, change) -> None:
    before = wheel_key(hello, tools)
    change(hello)
    assert wheel_key(hello, tools).key == before.key


@pytest.mark.parametrize(
    ("change", "part", "line"),
    [
        (
            lambda p: edit(p / "src" / "lib.rs", "Hello,", "Hi,"),
            "rust-sources",
            "rust-sources: src/lib.rs changed",
        ),
        (
            lambda p: write(p / "src" / "extra.rs", "pub fn f() {}\n"),
            "rust-sources",
            "rust-sources: added: src/extra.rs",
        ),
        (
            lambda p: edit(
                p / "Cargo.lock", 'name = "libc"\nversion = "', 'name = "libc"\nversion = "9'
            ),
            "lock",
            "lock: libc 0.2.",
        ),
        (
            lambda p: edit(
                p / "pyproject.toml",
                'features = ["pyo3/extension-module"]',
                'features = ["pyo3/extension-module", "pyo3/abi3-py39"]',
            ),
            "build",
            "build: features pyo3/extension-module → pyo3/abi3-py39,pyo3/extension-module",
        ),
        (
            lambda p: edit(
                p / "python" / "hello_pyo3" / "__init__.py", ".upper()", ".upper() + '!'"
            ),
            "python-sources",
            "python-sources: python/hello_pyo3/__init__.py changed",
        ),
        (
            lambda p: edit(p / "pyproject.toml", 'version = "0.1.0"', 'version = "0.2.0"'),
            "metadata",
            "metadata: project.version 0.1.0 → 0.2.0",
        ),
        (
            lambda p: edit(p / "Cargo.toml", 'version = "0.1.0"', 'version = "0.1.1"'),
            "rust-sources",
            "rust-sources: Cargo.toml changed",
        ),
        (
            lambda p: write(p / "rust-toolchain.toml", '[toolchain]\nchannel = "1.94.0"\n'),
            "toolchain",
            "toolchain: added: rust-toolchain.toml",
        ),
    ],
    ids=[
        "lib-rs",
        "new-module",
        "cargo-lock",
        "maturin-features",
        "python-package",
        "project-version",
        "crate-version",
        "toolchain-file",
    ],
)
def test_each_build_input_changes_the_key_and_is_named(
    hello: Path, tools: Path, change, part: str, line: str
) -> None:
    before = wheel_key(hello, tools)
    change(hello)
    after = wheel_key(hello, tools)
    diff = diff_manifests(before, after)
    assert after.key != before.key
    assert part in [c.part for c in diff.changed]
    assert any(text.startswith(line) for text in diff.lines()), diff.lines()


def test_build_flags_and_env_change_the_build_and_env_parts(hello: Path, tools: Path) -> None:
    base = wheel_key(hello, tools)
    assert wheel_key(hello, tools, target="aarch64-unknown-linux-gnu").part("build").hash != (
        base.part("build").hash
    )
    assert wheel_key(hello, tools, profile="dev").part("build").inputs["profile"] == "dev"
    flagged = wheel_key(hello, tools, features="b, a a")
    assert flagged.part("build").inputs["features"] == "a,b"
    from_env = wheel_key(hello, tools, env={"CARGO_BUILD_TARGET": "x86_64-unknown-linux-musl"})
    assert from_env.part("build").inputs["target from"] == "CARGO_BUILD_TARGET"
    rustflags = wheel_key(hello, tools, env={"RUSTFLAGS": "-Ctarget-cpu=native"})
    assert [c.part for c in diff_manifests(base, rustflags).changed] == ["env"]


def test_same_key_across_checkouts_and_no_machine_path(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    other = copy_project(EXAMPLE, tmp_path / "elsewhere" / "deep" / "hello-pyo3")
    a, b = wheel_key(hello, tools), wheel_key(other, tools)
    assert a.key == b.key
    text = json.dumps(a.to_json())
    for machine_path in (str(tmp_path), str(Path.home()), "/tmp"):
        assert machine_path not in text


def test_pinning_pyo3_does_not_change_the_key(hello: Path, tools: Path, tmp_path: Path) -> None:
    """The action computes the key before `pin` exports PYO3_CONFIG_FILE; a local run may after."""
    unpinned = wheel_key(hello, tools)
    pinned = pin_pyo3_config(sys.executable, directory=tmp_path / "pin", manifest_path=hello)
    # A user may still export the pinned file themselves (pyo3-cache no longer does).
    env = {"PYO3_CONFIG_FILE": str(pinned.config_file), "PYO3_PYTHON": pinned.pyo3_python}
    again = compute_wheel_key(hello, environ={"PATH": str(tools), **env})
    assert again.key == unpinned.key
    assert again.part("python").inputs["config from"] == "PYO3_CONFIG_FILE"


def test_included_files_outside_src_are_inputs(hello: Path, tools: Path) -> None:
    write(hello / "data" / "words.txt", "alpha beta\n")
    write(hello / "data" / "unused.txt", "x\n")
    edit(
        hello / "src" / "lib.rs",
        "use pyo3::prelude::*;",
        'use pyo3::prelude::*;\nconst WORDS: &str = include_str!("../data/words.txt");\n'
        'const MORE: &[u8] = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/build.cfg"));',
    )
    write(hello / "build.cfg", "x=1\n")
    inputs = WheelInputs()
    before = wheel_key(hello, tools, inputs)
    labels = set(before.part("rust-sources").inputs)
    assert {"data/words.txt", "build.cfg"} <= labels
    assert "data/unused.txt" not in labels
    write(hello / "data" / "words.txt", "gamma\n")
    assert diff_manifests(before, wheel_key(hello, tools)).lines() == [
        "rust-sources: data/words.txt changed"
    ]


def test_path_dependencies_count_but_dev_dependencies_do_not(tmp_path: Path, tools: Path) -> None:
    root = tmp_path / "repo"
    hello = copy_project(EXAMPLE, root / "hello-pyo3")
    write(root / "shared" / "Cargo.toml", '[package]\nname = "shared"\nversion = "0.1.0"\n')
    write(root / "shared" / "src" / "lib.rs", "pub fn one() -> u8 { 1 }\n")
    write(root / "shared" / "build.rs", "fn main() {}\n")
    write(root / "shared" / "tests" / "t.rs", "#[test] fn t() {}\n")
    write(root / "helper" / "Cargo.toml", '[package]\nname = "helper"\nversion = "0.1.0"\n')
    write(root / "helper" / "src" / "lib.rs", "\n")
    edit(
        hello / "Cargo.toml",
        "[dependencies]",
        '[dev-dependencies]\nhelper = { path = "../helper" }\n\n[dependencies]\n'
        'shared = { path = "../shared" }',
    )
    inputs = WheelInputs()
    before = wheel_key(hello, tools, inputs)
    assert [c.name for c in inputs.crates] == ["hello-pyo3", "shared"]
    labels = set(before.part("rust-sources").inputs)
    assert {"../shared/Cargo.toml", "../shared/src/lib.rs", "../shared/build.rs"} <= labels
    assert not any("helper" in label or "tests" in label for label in labels)
    write(root / "helper" / "src" / "lib.rs", "pub fn changed() {}\n")
    assert wheel_key(hello, tools).key == before.key
    write(root / "shared" / "src" / "lib.rs", "pub fn one() -> u8 { 2 }\n")
    assert diff_manifests(before, wheel_key(hello, tools)).lines() == [
        "rust-sources: ../shared/src/lib.rs changed"
    ]


def test_pure_rust_layout_has_no_python_sources_and_says_so(hello: Path, tools: Path) -> None:
    edit(hello / "pyproject.toml", 'python-source = "python"\n', "")
    edit(hello / "pyproject.toml", 'module-name = "hello_pyo3._hello_pyo3"\n', "")
    manifest = wheel_key(hello, tools)
    assert manifest.part("python-sources").inputs == {}
    assert any("no Python sources" in w for w in manifest.warnings)
    # a stub next to pyproject.toml is packaged in that layout
    write(hello / "_hello_pyo3.pyi", "def greet(name: str) -> str: ...\n")
    assert "_hello_pyo3.pyi" in wheel_key(hello, tools).part("python-sources").inputs


def test_the_crate_readme_is_an_input(hello: Path, tools: Path) -> None:
    """cargo takes README.md as the crate's readme; maturin puts it into METADATA."""
    write(hello / "README.md", "# hello\n")
    before = wheel_key(hello, tools)
    assert "README.md" in before.part("rust-sources").inputs
    write(hello / "README.md", "# hello, again\n")
    assert wheel_key(hello, tools).key != before.key


def test_readme_and_license_files_of_the_project_are_metadata(hello: Path, tools: Path) -> None:
    edit(
        hello / "pyproject.toml",
        'requires-python = ">=3.9"',
        'requires-python = ">=3.9"\nreadme = "docs/pypi.md"',
    )
    write(hello / "docs" / "pypi.md", "# hello\n")
    write(hello / "docs" / "other.md", "# other\n")
    before = wheel_key(hello, tools)
    assert "docs/pypi.md" in before.part("metadata").inputs
    write(hello / "docs" / "other.md", "# other, again\n")
    assert wheel_key(hello, tools).key == before.key
    write(hello / "docs" / "pypi.md", "# hello, again\n")
    assert diff_manifests(before, wheel_key(hello, tools)).lines() == [
        "metadata: docs/pypi.md changed"
    ]


def test_module_name_follows_maturin() -> None:
    cargo = {"package": {"name": "my-crate"}, "lib": {"name": "_native"}}
    assert (
        module_name({"tool": {"maturin": {"module-name": "pkg._native"}}}, cargo) == "pkg._native"
    )
    assert module_name({}, cargo) == "_native"
    assert module_name(None, {"package": {"name": "my-crate"}}) == "my_crate"


def test_build_crates_from_metadata_keeps_compiled_targets(tmp_path: Path) -> None:
    manifest = write(tmp_path / "c" / "Cargo.toml", '[package]\nname = "c"\nversion = "0.1.0"\n')
    metadata = {
        "packages": [
            {
                "name": "c",
                "manifest_path": str(manifest),
                "targets": [
                    {"kind": ["cdylib"], "src_path": str(tmp_path / "c" / "src" / "lib.rs")},
                    {"kind": ["test"], "src_path": str(tmp_path / "c" / "tests" / "t.rs")},
                    {"kind": ["custom-build"], "src_path": str(tmp_path / "c" / "build.rs")},
                    {"kind": ["example"], "src_path": str(tmp_path / "c" / "examples" / "e.rs")},
                ],
                "dependencies": [],
            }
        ]
    }
    (crate,) = build_crates(manifest, metadata)
    assert [p.name for p in crate.target_paths] == ["lib.rs", "build.rs"]


def test_parts_have_readable_summaries(hello: Path, tools: Path) -> None:
    manifest = wheel_key(hello, tools)
    assert part_summary(manifest.part("build"), "wheel") == (
        "x86_64-unknown-linux-gnu, profile release, features pyo3/extension-module"
    )
    assert part_summary(manifest.part("rust-sources"), "wheel") == "2 files"
    assert part_summary(manifest.part("metadata"), "wheel") == "hello-pyo3 0.1.0"
    assert part_summary(manifest.part("toolchain"), "wheel").startswith("rustc 1.95.0 (")


# --- CLI ------------------------------------------------------------------------------


def cli_env(tools: Path) -> dict[str, str]:
    return {"PATH": str(tools), "PYO3_CONFIG_FILE": "", "PYO3_PYTHON": "", "GITHUB_ACTIONS": ""}


def test_cli_key_for_wheel_json_text_and_key_diff(hello: Path, tools: Path, tmp_path: Path) -> None:
    base = ("key", "--for", "wheel", "--manifest-path", str(hello), "--python", sys.executable)
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    first = run_cli(*base, "--format", "json", "--manifest-out", str(old), env=cli_env(tools))
    assert first.returncode == 0, first.stderr
    data = json.loads(first.stdout)
    assert data["kind"] == "wheel" and data["restore_keys"] == []
    assert list(data["parts"]) == list(PARTS)
    text = run_cli(*base, env=cli_env(tools))
    assert "rust-sources    " in text.stdout and "2 files" in text.stdout
    edit(hello / "src" / "lib.rs", "Hello,", "Hi,")
    assert run_cli(*base, "--manifest-out", str(new), env=cli_env(tools)).returncode == 0
    diff = run_cli("key-diff", str(old), str(new))
    assert diff.returncode == 0
    assert "  rust-sources: src/lib.rs changed" in diff.stdout
    assert "The cache key changed in 1 of 9 parts:" in diff.stdout


def test_cli_key_diff_refuses_a_wheel_and_a_rust_manifest(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    wheel, rust = tmp_path / "wheel.json", tmp_path / "rust.json"
    common = ("--manifest-path", str(hello), "--python", sys.executable)
    assert (
        run_cli(
            "key", "--for", "wheel", *common, "--manifest-out", str(wheel), env=cli_env(tools)
        ).returncode
        == 0
    )
    assert run_cli("key", *common, "--manifest-out", str(rust), env=cli_env(tools)).returncode == 0
    assert_one_line_error(
        run_cli("key-diff", str(rust), str(wheel)),
        7,
        "cannot compare a 'rust' key manifest with a 'wheel' one",
    )


def test_cli_key_for_wheel_without_cargo_lock_gives_one_line(hello: Path, tools: Path) -> None:
    (hello / "Cargo.lock").unlink()
    result = run_cli(
        "key",
        "--for",
        "wheel",
        "--manifest-path",
        str(hello),
        "--python",
        sys.executable,
        env=cli_env(tools),
    )
    assert_one_line_error(result, 5, "Cargo.lock not found")


def test_diff_of_same_wheel_manifest_says_nothing_changed(hello: Path, tools: Path) -> None:
    manifest = wheel_key(hello, tools)
    assert "nothing changed" in render_diff_text(diff_manifests(manifest, manifest))


def test_key_diff_text_for_wheel_keys_says_the_wheel_is_rebuilt() -> None:
    from pyo3_cache.keys.diff import KeyDiff, render_diff_text

    diff = KeyDiff("w-old", "w-new", (), ("build",), None, (), kind="wheel")
    text = render_diff_text(diff)
    assert "the wheel is built again" in text
    assert "starts cold" not in text
