"""Cargo's own input list, read from dep-info and build-script outputs (real files, cargo 1.95).

The fixtures under tests/fixtures/cargo-depinfo come from a real `uv build` of
examples/hello-pyo3 with a build.rs reading data/words.txt, a
`#[path = "../../shared/extra.rs"]` module and `env!("MY_VAR")`; they are laid
out here as cargo lays out a target dir.  The same checks on a real build are
in tests/integration/test_wheel_key_real.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pyo3_cache.keys.cargo_inputs import (
    CargoInputs,
    check_cargo_inputs,
    collect_cargo_inputs,
    parse_build_output,
    parse_dep_info,
    tracked_env,
)
from pyo3_cache.keys.wheel_sources import BuildCrate, SourceLister
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures" / "cargo-depinfo"
ENV = {"PATH": "", "MY_VAR": "value-one", "CARGO_HOME": "/nonexistent-cargo-home"}


def _fixture(name: str, root: Path) -> str:
    return (FIXTURES / name).read_text().replace("@ROOT@", str(root))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A checkout as the fixtures describe it, with the target dir cargo left."""
    root = tmp_path / "job"
    pkg = root / "hello-pyo3"
    (pkg / "src").mkdir(parents=True)
    (pkg / "data").mkdir()
    (root / "shared").mkdir()
    (pkg / "Cargo.toml").write_text('[package]\nname = "hello-pyo3"\nversion = "0.1.0"\n')
    (pkg / "src" / "lib.rs").write_text('#[path = "../../shared/extra.rs"]\nmod extra;\n')
    (pkg / "build.rs").write_text("fn main() {}\n")
    (pkg / "data" / "words.txt").write_text("alpha\n")
    (root / "shared" / "extra.rs").write_text("pub fn extra() -> u8 { 1 }\n")
    release = pkg / "target" / "release"
    (release / "deps").mkdir(parents=True)
    (pkg / "target" / "CACHEDIR.TAG").write_text("Signature: 8a477f597d28d172789f06886806bc55\n")
    (release / "deps" / "_hello_pyo3.d").write_text(_fixture("_hello_pyo3.d", root))
    (release / "deps" / "pyo3_ffi-52c6bdea4fd3fe55.d").write_text(
        _fixture("pyo3_ffi-52c6bdea4fd3fe55.d", root)
    )
    script = release / "build" / "hello-pyo3-5e40951baf9e2a6a"
    script.mkdir(parents=True)
    (script / "build_script_build-5e40951baf9e2a6a.d").write_text(
        _fixture("build_script_build-5e40951baf9e2a6a.d", root)
    )
    run = release / "build" / "hello-pyo3-0da522612555e708"
    run.mkdir()
    (run / "output").write_text(_fixture("hello-pyo3-output", root))
    ffi = release / "build" / "pyo3-ffi-9e9ad8aa3d75822e"
    ffi.mkdir()
    (ffi / "output").write_text(_fixture("pyo3-ffi-output", root))
    return pkg


def _crate(pkg: Path) -> BuildCrate:
    return BuildCrate("hello-pyo3", pkg / "Cargo.toml", (pkg / "src" / "lib.rs", pkg / "build.rs"))


def _collect(pkg: Path, env: dict[str, str] = ENV) -> CargoInputs:
    crate = _crate(pkg)
    lister = SourceLister(env)
    return collect_cargo_inputs(pkg / "target", pkg, pkg, [crate], env, lister, [pkg / "dist"])


def _check(saved: CargoInputs, pkg: Path, env: dict[str, str] = ENV) -> list[str]:
    return check_cargo_inputs(saved, pkg, env, SourceLister(env))


def test_dep_info_gives_the_files_rustc_read_and_the_env_dep_names(tmp_path: Path) -> None:
    files, names = parse_dep_info(_fixture("_hello_pyo3.d", tmp_path))
    assert files[:2] == ["src/lib.rs", "src/../../shared/extra.rs"]  # crate root first
    assert files[2].endswith("/out/words.rs")  # generated into OUT_DIR
    assert names == ["MY_VAR", "OUT_DIR"]


def test_dep_info_paths_keep_escaped_spaces() -> None:
    text = "/t/deps/x.d: src/lib.rs src/my\\ mod.rs src/a$$b.rs\n\nsrc/lib.rs:\n"
    assert parse_dep_info(text)[0] == ["src/lib.rs", "src/my mod.rs", "src/a$b.rs"]


def test_build_output_gives_rerun_paths_and_variables() -> None:
    paths, names = parse_build_output((FIXTURES / "hello-pyo3-output").read_text())
    assert paths == ["data/words.txt"] and names == ["MY_BUILD_SWITCH"]
    assert parse_build_output("cargo::rerun-if-changed=proto/a.proto\n") == (["proto/a.proto"], [])


def test_variables_the_key_already_holds_are_not_tracked_again() -> None:
    for name in ("PYO3_PYTHON", "PYO3_CONFIG_FILE", "CARGO_PKG_VERSION", "OUT_DIR", "RUSTFLAGS"):
        assert not tracked_env(name), name
    for name in ("MY_VAR", "OPENSSL_DIR", "PROTOC", "LIBC_BUILD_VERBOSE"):
        assert tracked_env(name), name


def test_collected_inputs_are_what_cargo_tracked_relative_to_the_project(project: Path) -> None:
    inputs = _collect(project)
    assert sorted(inputs.files) == [
        "../shared/extra.rs",
        "build.rs",
        "data/words.txt",
        "src/lib.rs",
    ]
    assert sorted(inputs.env) == ["MY_BUILD_SWITCH", "MY_VAR"]  # PYO3_* are the key's
    assert inputs.env["MY_BUILD_SWITCH"] is None  # unset, and that is recorded
    assert inputs.packages == {}
    assert inputs.outputs == ["target", "dist"]
    text = str(inputs.to_json())
    assert str(project) not in text and "value-one" not in text  # no value is kept
    assert _check(inputs, project) == []


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            lambda p: (p.parent / "shared" / "extra.rs").write_text("pub fn extra() {}\n"),
            "../shared/extra.rs changed",
        ),
        (lambda p: (p / "data" / "words.txt").write_text("beta\n"), "data/words.txt changed"),
        (lambda p: (p / "build.rs").unlink(), "build.rs is gone"),
    ],
    ids=["path-module-outside-src", "file-build-rs-reads", "build-script-removed"],
)
def test_a_changed_input_is_named(project: Path, change, reason: str) -> None:  # type: ignore[no-untyped-def]
    saved = _collect(project)
    change(project)
    assert _check(saved, project) == [reason]


def test_a_changed_or_new_variable_is_named(project: Path) -> None:
    saved = _collect(project)
    assert _check(saved, project, {**ENV, "MY_VAR": "two"}) == ["the variable MY_VAR changed"]
    assert _check(saved, project, {**ENV, "MY_BUILD_SWITCH": "1"}) == [
        "the variable MY_BUILD_SWITCH changed"
    ]


def test_a_build_script_naming_nothing_watches_every_file_of_its_package(project: Path) -> None:
    (
        project / "target" / "release" / "build" / "hello-pyo3-0da522612555e708" / "output"
    ).write_text("cargo:rustc-cfg=has_words\n")
    saved = _collect(project)
    assert list(saved.packages) == ["."]
    (project / "dist").mkdir()
    (project / "dist" / "x-0.1.0-py3-none-any.whl").write_bytes(b"an output, not an input")
    (project / "dist" / ".gitignore").write_text("*\n")  # uv build writes one
    (project / "target" / "release" / "new-artifact").write_bytes(b"also an output")
    assert _check(saved, project) == []
    (project / "README.md").write_text("any file of the package\n")
    assert _check(saved, project) == ["a file of ./ changed (its build script names no inputs)"]


def test_a_test_crate_in_the_same_target_dir_adds_no_files(project: Path) -> None:
    (project / "tests").mkdir()
    (project / "tests" / "it.rs").write_text("#[test] fn t() {}\n")
    deps = project / "target" / "release" / "deps"
    (deps / "it-0123456789abcdef.d").write_text(
        f"{deps}/it-0123456789abcdef.d: tests/it.rs\n\ntests/it.rs:\n"
    )
    assert "tests/it.rs" not in _collect(project).files


def test_a_damaged_list_is_not_trusted() -> None:
    assert CargoInputs.from_json({"format": 1, "files": {"a": 3}}) is None
    assert CargoInputs.from_json([]) is None
    good = CargoInputs(files={"a.rs": None}).to_json()
    back = CargoInputs.from_json(good)
    assert back is not None and back.files == {"a.rs": None}
