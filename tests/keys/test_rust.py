"""Cache keys: named parts, the manifest, key-diff.

The projects are real: examples/hello-pyo3 and pydantic-core 2.50.5's
Cargo.lock/Cargo.toml/pyproject.toml (tests/fixtures/lockfiles).  ``rustc`` is
a stub script first on PATH here, so the toolchain can be "changed"; the
tests with the real toolchain are in tests/integration/test_keys_real.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from pyo3_cache import KeyManifest, compute_key
from pyo3_cache.errors import ManifestError, ProjectError, ToolchainError
from pyo3_cache.keys.diff import InputChange, diff_inputs, diff_manifests, render_diff_text
from pyo3_cache.keys.manifest import load_manifest, write_manifest
from pyo3_cache.keys.model import KeyPart, key_segment, make_part, path_scrubber
from pyo3_cache.keys.parts import env_part, is_build_env, normalize_manifest, parse_rustc_version
from pyo3_cache.keys.render import render_key_text
from pyo3_cache.keys.venv import compute_venv_key, interpreter_part
from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.redact import REDACTED, is_secret_name
from tests.conftest import EXAMPLE, REPO, CliResult, assert_one_line_error, run_cli

PYDANTIC = REPO / "tests" / "fixtures" / "lockfiles" / "pydantic-core"

RUSTC_VV = """rustc {release} (59807616e 2026-04-14)
binary: rustc
commit-hash: {commit}
commit-date: 2026-04-14
host: x86_64-unknown-linux-gnu
release: {release}
LLVM version: {llvm}
"""


def fake_rustc(bindir: Path, release: str = "1.95.0", llvm: str = "22.1.2") -> Path:
    """A `rustc` that prints a chosen `-vV`, first on PATH."""
    bindir.mkdir(parents=True, exist_ok=True)
    script = bindir / "rustc"
    commit = {"1.94.0": "4a4ef493e3a1488c6e321570238084b38948f6db"}.get(release, "5980" * 10)
    text = RUSTC_VV.format(release=release, commit=commit, llvm=llvm)
    # printf is a shell builtin: the script works with only this directory on PATH.
    script.write_text(f"#!/bin/sh\nprintf '%s' '{text}'\n")
    script.chmod(0o755)
    return bindir


def copy_project(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("target", "dist", "__pycache__"))
    return dst


@pytest.fixture
def pydantic(tmp_path: Path) -> Path:
    return copy_project(PYDANTIC, tmp_path / "checkout-a" / "pydantic-core")


def key_of(project: Path, tools: Path, **env: str) -> KeyManifest:
    environ = {"PATH": str(tools), **env}
    python = None if "PYO3_CONFIG_FILE" in env else sys.executable
    return compute_key(project, python=python, environ=environ)


def same_key_with(project: Path, tools: Path, **env: str) -> KeyManifest:
    """The key with ``env`` set, which must be the key without it."""
    manifest = key_of(project, tools, **env)
    assert manifest.key == key_of(project, tools).key
    return manifest


def manifest_text(manifest: KeyManifest) -> str:
    return json.dumps(manifest.to_json(), indent=2, sort_keys=True)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


# --- stability ------------------------------------------------------------------


@pytest.mark.parametrize("source", [EXAMPLE, PYDANTIC], ids=["hello-pyo3", "pydantic-core"])
def test_key_is_the_same_across_runs_and_checkout_directories(
    source: Path, tools: Path, tmp_path: Path
) -> None:
    a = copy_project(source, tmp_path / "a" / source.name)
    b = copy_project(source, tmp_path / "elsewhere" / "deeper" / "b" / source.name)
    first, again = key_of(a, tools), key_of(a, tools)
    other = key_of(b, tools)
    assert first.key == again.key == other.key
    assert manifest_text(first) == manifest_text(other)


@pytest.mark.parametrize("source", [EXAMPLE, PYDANTIC], ids=["hello-pyo3", "pydantic-core"])
def test_manifest_holds_no_machine_path(source: Path, tools: Path, tmp_path: Path) -> None:
    project = copy_project(source, tmp_path / "work" / source.name)
    # Variables whose values are paths of this machine: all scrubbed or left out.
    manifest = key_of(
        project,
        tools,
        HOME=str(Path.home()),
        CARGO_HOME=str(tmp_path / "cargo-home"),
        CARGO_TARGET_DIR=str(tmp_path / "target"),
        RUSTFLAGS=f"--remap-path-prefix={project}=. -L {Path.home()}/lib",
        PYO3_PYTHON=sys.executable,
    )
    text = manifest_text(manifest)
    for path in (str(tmp_path), str(Path.home()), str(REPO), sys.executable):
        assert path not in text
    assert "--remap-path-prefix=<PROJECT>=." in text
    assert "<HOME>/lib" in text


def test_key_is_short_enough_and_has_no_commas(hello: Path, tools: Path) -> None:
    manifest = compute_key(
        hello,
        prefix_key="v9, my prefix",
        shared_key="x" * 600,
        extra_key="py3.12,linux",
        python=sys.executable,
        environ={"PATH": str(tools)},
    )
    for key in (manifest.key, *manifest.restore_keys):
        assert len(key) <= 512
        assert "," not in key and " " not in key
    assert manifest.key.startswith("v9_my_prefix-xxxx")


def test_restore_keys_drop_lock_then_env(hello: Path, tools: Path) -> None:
    manifest = key_of(hello, tools)
    h = {p.name: p.hash for p in manifest.parts}
    assert manifest.key.endswith(f"-{h['toolchain']}-{h['python']}-{h['env']}-{h['lock']}")
    first, second = manifest.restore_keys
    assert first == manifest.key[: -len(h["lock"])]
    assert second == manifest.key[: -len(f"{h['env']}-{h['lock']}")]
    assert manifest.key.startswith(first) and first.startswith(second)


def test_job_comes_from_github_job_and_shared_key_replaces_it(hello: Path, tools: Path) -> None:
    env = {"PATH": str(tools), "GITHUB_JOB": "wheels"}
    job = compute_key(hello, python=sys.executable, environ=env)
    shared = compute_key(hello, python=sys.executable, environ=env, shared_key="all")
    extra = compute_key(hello, python=sys.executable, environ=env, extra_key="py312")
    assert job.key.startswith("v1-pyo3-wheels-")
    assert shared.key.startswith("v1-pyo3-all-")
    assert extra.key.startswith("v1-pyo3-wheels-py312-")
    assert job.part("prefix").inputs["job"] == "wheels"


# --- what changes the key, what does not --------------------------------------


def test_edits_to_tests_docs_and_readme_do_not_change_the_key(pydantic: Path, tools: Path) -> None:
    before = key_of(pydantic, tools)
    (pydantic / "tests").mkdir(exist_ok=True)
    (pydantic / "tests" / "test_new.py").write_text("def test_x():\n    pass\n")
    (pydantic / "docs").mkdir()
    (pydantic / "docs" / "index.md").write_text("# docs\n")
    (pydantic / "README.md").write_text("changed readme\n")
    edit(pydantic / "pyproject.toml", 'description = "Core', 'description = "The core')
    assert key_of(pydantic, tools).key == before.key


def test_own_version_bump_does_not_change_the_key(pydantic: Path, tools: Path) -> None:
    before = key_of(pydantic, tools)
    edit(pydantic / "Cargo.toml", 'version = "2.50.5"', 'version = "2.51.0"')
    edit(
        pydantic / "Cargo.lock",
        'name = "pydantic-core"\nversion = "2.50.5"',
        'name = "pydantic-core"\nversion = "2.51.0"',
    )
    assert key_of(pydantic, tools).key == before.key


def test_locked_version_change_changes_lock_and_key_diff_names_the_package(
    pydantic: Path, tools: Path
) -> None:
    old = key_of(pydantic, tools)
    edit(
        pydantic / "Cargo.lock",
        'name = "serde"\nversion = "1.0.',
        'name = "serde"\nversion = "9.0.',
    )
    new = key_of(pydantic, tools)
    assert new.key != old.key
    diff = diff_manifests(old, new)
    assert [p.part for p in diff.changed] == ["lock"]
    (line,) = diff.lines()
    old_serde, new_serde = old.part("lock").inputs["serde"], new.part("lock").inputs["serde"]
    assert line == f"lock: serde {old_serde} → {new_serde}"
    assert diff.restore_match == 0


def test_added_and_removed_packages_are_named(pydantic: Path, tools: Path) -> None:
    old = key_of(pydantic, tools)
    lock = pydantic / "Cargo.lock"
    text = lock.read_text()
    start = text.index('[[package]]\nname = "hex"')
    end = text.index("[[package]]", start + 1)
    removed = text[start:end]
    added = (
        '[[package]]\nname = "foo"\nversion = "0.1.0"\n'
        'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
        'checksum = "' + "ab" * 32 + '"\n\n'
    )
    lock.write_text(text[:start] + added + text[end:])
    new = key_of(pydantic, tools)
    (line,) = diff_manifests(old, new).lines()
    hex_version = removed.split('version = "')[1].split('"')[0]
    assert line == f"lock: added: foo 0.1.0; removed: hex {hex_version}"


def test_rustflags_change_changes_env_and_the_second_restore_key_still_matches(
    hello: Path, tools: Path
) -> None:
    old = key_of(hello, tools)
    new = key_of(hello, tools, RUSTFLAGS="-C target-cpu=native")
    diff = diff_manifests(old, new)
    assert [p.part for p in diff.changed] == ["env"]
    assert diff.lines() == ['env: added: RUSTFLAGS "-C target-cpu=native"']
    assert diff.restore_match == 1
    newer = key_of(hello, tools, RUSTFLAGS="-Dwarnings")
    assert diff_manifests(new, newer).lines() == [
        'env: RUSTFLAGS changed ("-C target-cpu=native" → "-Dwarnings")'
    ]


def test_toolchain_change_is_named_with_old_and_new_release(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    old = key_of(hello, fake_rustc(tmp_path / "old-bin", "1.94.0", "21.1.8"))
    new = key_of(hello, tools)
    diff = diff_manifests(old, new)
    assert [p.part for p in diff.changed] == ["toolchain"]
    line = diff.lines()[0]
    assert line.startswith("toolchain: ")
    assert "rustc 1.94.0 → 1.95.0" in line
    assert "LLVM 21.1.8 → 22.1.2" in line
    assert diff.restore_match is None
    assert "starts cold" in render_diff_text(diff)


def _config(version: str, suffix: str) -> str:
    return (
        "implementation=CPython\n"
        f"version={version}\n"
        "shared=true\n"
        f"target_abi=CPython-gil_enabled-{version}\n"
        f"lib_name=python{version}\n"
        "lib_dir=/opt/python/lib\n"
        f"executable=/opt/python/bin/python{version}\n"
        "pointer_width=64\n"
        "build_flags=\n"
        "suppress_build_script_link_lines=false\n"
        f"ext_suffix=.cpython-{suffix}-x86_64-linux-gnu.so\n"
        "abiflags=\n"
    )


def test_pyo3_config_change_is_named_as_a_python_version_change(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    c312, c313 = tmp_path / "c312.txt", tmp_path / "c313.txt"
    c312.write_text(_config("3.12", "312"))
    c313.write_text(_config("3.13", "313"))
    old = key_of(hello, tools, PYO3_CONFIG_FILE=str(c312))
    new = key_of(hello, tools, PYO3_CONFIG_FILE=str(c313))
    lines = diff_manifests(old, new).lines()
    python_line = next(line for line in lines if line.startswith("python: "))
    assert python_line == "python: 3.12 → 3.13 (with it target_abi, lib_name, ext_suffix)"
    assert "env: PYO3_CONFIG_FILE changed" in lines
    assert old.part("python").inputs["config from"] == "PYO3_CONFIG_FILE"


def test_config_file_paths_do_not_reach_the_key(hello: Path, tools: Path, tmp_path: Path) -> None:
    """The same config at two paths (and with other interpreter paths inside) is one key."""
    a, b = tmp_path / "a.txt", tmp_path / "elsewhere" / "b.txt"
    b.parent.mkdir()
    a.write_text(_config("3.12", "312"))
    b.write_text(_config("3.12", "312").replace("/opt/python", "/usr/local"))
    assert (
        key_of(hello, tools, PYO3_CONFIG_FILE=str(a)).key
        == key_of(hello, tools, PYO3_CONFIG_FILE=str(b)).key
    )


def test_missing_pyo3_config_file_warns_and_still_gives_a_key(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    manifest = compute_key(
        hello,
        environ={"PATH": str(tools), "PYO3_CONFIG_FILE": str(tmp_path / "gone.txt")},
        python=sys.executable,
    )
    assert manifest.part("env").inputs["PYO3_CONFIG_FILE"] == "<missing or unreadable file>"
    assert any("PYO3_CONFIG_FILE" in w for w in manifest.warnings)


def test_pyo3_python_is_replaced_by_the_interpreter_identity(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    link = tmp_path / "venv" / "bin" / "python"
    link.parent.mkdir(parents=True)
    link.symlink_to(sys.executable)
    direct = key_of(hello, tools, PYO3_PYTHON=sys.executable)
    via_link = key_of(hello, tools, PYO3_PYTHON=str(link))
    value = direct.part("env").inputs["PYO3_PYTHON"]
    assert isinstance(value, str)
    assert value.startswith(f"CPython {sys.version_info[0]}.{sys.version_info[1]}")
    assert "magic=" in value and "soabi=" in value
    assert str(link) not in value and sys.executable not in value
    assert direct.key == via_link.key


def test_secret_variables_are_never_hashed_nor_shown(hello: Path, tools: Path) -> None:
    with_secret = same_key_with(
        hello,
        tools,
        CARGO_REGISTRY_TOKEN="cio-very-secret",
        CARGO_REGISTRIES_CORP_TOKEN="corp-secret",
        MATURIN_PYPI_PASSWORD="hunter2",
        PYO3_SIGNING_KEY="k3y",
    )
    text = manifest_text(with_secret)
    for secret in ("cio-very-secret", "corp-secret", "hunter2", "k3y"):
        assert secret not in text
    assert with_secret.part("env").inputs["CARGO_REGISTRY_TOKEN"] == REDACTED
    other_secret = key_of(hello, tools, CARGO_REGISTRY_TOKEN="another")
    assert diff_manifests(with_secret, other_secret).changed == ()


def test_volatile_variables_do_not_change_the_key(hello: Path, tools: Path, tmp_path: Path) -> None:
    same_key_with(
        hello,
        tools,
        CARGO_TERM_COLOR="always",
        CARGO_TERM_VERBOSE="true",
        CARGO_HOME=str(tmp_path / "ch"),
        CARGO_TARGET_DIR=str(tmp_path / "t"),
        CARGO_BUILD_JOBS="2",
        RUST_BACKTRACE="1",
        RUSTUP_HOME=str(tmp_path / "rh"),
        PYO3_CACHE_DEBUG="1",
        GITHUB_SHA="abc",
    )


def test_env_part_picks_build_variables() -> None:
    for name in (
        "RUSTFLAGS",
        "CARGO_INCREMENTAL",
        "CARGO_PROFILE_RELEASE_LTO",
        "CC",
        "CFLAGS",
        "CXX",
        "CMAKE_GENERATOR",
        "MATURIN_PEP517_ARGS",
        "PYO3_CROSS",
        "RUSTC_WRAPPER",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER",
        "RUSTUP_TOOLCHAIN",
    ):
        assert is_build_env(name), name
    for name in (
        "CARGO_TERM_COLOR",
        "CARGO_HOME",
        "CARGO_TARGET_DIR",
        "RUST_LOG",
        "PATH",
        "HOME",
        "CCACHE_DIR",
        "RUSTUP_HOME",
        "PYO3_CACHE_STATE",
    ):
        assert not is_build_env(name), name
    for name in (
        "CARGO_REGISTRY_TOKEN",
        "MATURIN_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
        "CARGO_REGISTRIES_X_CREDENTIAL_PROVIDER",
        "PYO3_KEY",
        "MATURIN_API_KEY",
    ):
        assert is_secret_name(name), name
    assert not is_secret_name("CARGO_PROFILE_RELEASE_LTO")


def test_env_part_hash_ignores_redacted_values() -> None:
    scrub = path_scrubber(Path("/nonexistent/project"), {})
    a = env_part({"RUSTFLAGS": "-Dwarnings", "CARGO_REGISTRY_TOKEN": "a"}, scrub)
    b = env_part({"RUSTFLAGS": "-Dwarnings", "CARGO_REGISTRY_TOKEN": "b"}, scrub)
    c = env_part({"RUSTFLAGS": "-Dwarnings"}, scrub)
    assert a.hash == b.hash == c.hash
    assert a.inputs == {"CARGO_REGISTRY_TOKEN": REDACTED, "RUSTFLAGS": "-Dwarnings"}


def test_maturin_table_change_is_named(hello: Path, tools: Path) -> None:
    old = key_of(hello, tools)
    edit(
        hello / "pyproject.toml",
        'features = ["pyo3/extension-module"]',
        'features = ["pyo3/extension-module", "pyo3/abi3-py39"]',
    )
    (line,) = diff_manifests(old, key_of(hello, tools)).lines()
    assert line == (
        'lock: tool.maturin.features ["pyo3/extension-module"]'
        ' → ["pyo3/extension-module","pyo3/abi3-py39"]'
    )


def test_cargo_config_and_toolchain_file_feed_the_key(hello: Path, tools: Path) -> None:
    old = key_of(hello, tools)
    (hello / ".cargo").mkdir()
    (hello / ".cargo" / "config.toml").write_text('[build]\nrustflags = ["-Dwarnings"]\n')
    with_config = key_of(hello, tools)
    assert diff_manifests(old, with_config).lines() == ["lock: added: .cargo/config.toml"]
    (hello / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "1.95.0"\n')
    with_toolchain = key_of(hello, tools)
    toolchain = with_toolchain.part("toolchain")
    assert toolchain.inputs["channel"] == "1.95.0"
    assert [p.part for p in diff_manifests(with_config, with_toolchain).changed] == ["toolchain"]


def test_workspace_members_globs_excludes_and_versions(tmp_path: Path, tools: Path) -> None:
    ws = tmp_path / "ws"
    for member in ("crates/a", "crates/b", "crates/skipped"):
        (ws / member).mkdir(parents=True)
        name = member.rsplit("/", 1)[1]
        (ws / member / "Cargo.toml").write_text(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\n\n[dependencies]\n'
        )
    (ws / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["crates/*"]\nexclude = ["crates/skipped"]\n'
        '[workspace.package]\nversion = "1.0.0"\n'
    )
    (ws / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "a"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "b"\nversion = "0.1.0"\n'
    )
    old = compute_key(ws / "crates" / "a", environ={"PATH": str(tools)}, python=sys.executable)
    lock = old.part("lock").inputs
    assert {"Cargo.toml", "crates/a/Cargo.toml", "crates/b/Cargo.toml"} <= set(lock)
    assert "crates/skipped/Cargo.toml" not in lock
    # Version bumps of members and the workspace leave the key alone...
    edit(ws / "crates" / "b" / "Cargo.toml", 'version = "0.1.0"', 'version = "0.2.0"')
    edit(ws / "Cargo.toml", 'version = "1.0.0"', 'version = "1.1.0"')
    same = compute_key(ws / "crates" / "a", environ={"PATH": str(tools)}, python=sys.executable)
    assert same.key == old.key
    # ...a new dependency of a member does not.
    edit(ws / "crates" / "b" / "Cargo.toml", "[dependencies]\n", '[dependencies]\nserde = "1"\n')
    new = compute_key(ws / "crates" / "a", environ={"PATH": str(tools)}, python=sys.executable)
    assert diff_manifests(old, new).lines() == ["lock: crates/b/Cargo.toml changed"]


def test_normalize_manifest_drops_own_and_path_dependency_versions() -> None:
    data = {
        "package": {"name": "x", "version": "1.2.3"},
        "dependencies": {"y": {"path": "../y", "version": "1.2.3"}, "serde": "1"},
        "target": {"cfg(unix)": {"dependencies": {"z": {"path": "z", "version": "2"}}}},
    }
    out = normalize_manifest(data)
    assert out == {
        "package": {"name": "x"},
        "dependencies": {"y": {"path": "../y"}, "serde": "1"},
        "target": {"cfg(unix)": {"dependencies": {"z": {"path": "z"}}}},
    }
    assert data["package"] == {"name": "x", "version": "1.2.3"}  # input untouched


# --- manifest files and diffs ---------------------------------------------------


def test_manifest_json_has_the_documented_shape(hello: Path, tools: Path) -> None:
    data = key_of(hello, tools).to_json()
    assert set(data) >= {"key", "restore_keys", "parts", "manifest_version"}
    assert list(data["parts"]) == ["prefix", "toolchain", "python", "env", "lock"]
    for part in data["parts"].values():
        assert set(part) == {"hash", "inputs"}
    assert data["parts"]["toolchain"]["inputs"]["rustc"] == "1.95.0"
    assert data["parts"]["lock"]["inputs"]["pyo3"] == "0.30.1"
    assert data["parts"]["python"]["inputs"]["pyo3"] == "0.30.1"


def test_manifest_round_trips_through_a_file(hello: Path, tools: Path, tmp_path: Path) -> None:
    manifest = key_of(hello, tools)
    path = write_manifest(manifest, tmp_path / "out" / "m.json")
    loaded = load_manifest(path)
    assert loaded == manifest
    assert diff_manifests(loaded, manifest).same


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{not json", "is not JSON"),
        ("[1, 2]", "is not a pyo3-cache key manifest"),
        (
            '{"manifest_version": 2, "tool": "pyo3-cache 9.0", "key": "k", "parts": {}}',
            "format version 2 (written by pyo3-cache 9.0)",
        ),
        (
            '{"manifest_version": 1, "key": "k", "restore_keys": [], "parts": {"a": 1}}',
            "part 'a' has no hash",
        ),
        (
            '{"manifest_version": 1, "key": "k", "restore_keys": [],'
            ' "parts": {"a": {"hash": "h", "inputs": {"x": 1}}}}',
            "input 'x' of part 'a'",
        ),
        ('{"manifest_version": 1, "restore_keys": [], "parts": {}}', "has no key"),
    ],
)
def test_bad_manifests_raise_one_readable_error(
    tmp_path: Path, content: str, fragment: str
) -> None:
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    assert fragment in str(info.value)
    assert "\n" not in str(info.value)


def test_diff_inputs_compares_several_locked_versions_as_sets() -> None:
    old = {"syn": ["1.0.109", "2.0.87"], "hex": "0.4.3", "gone": "1.0.0"}
    new = {"syn": ["1.0.109", "2.0.90"], "hex": "0.4.3", "windows-sys": ["0.52.0", "0.59.0"]}
    assert diff_inputs(old, new) == (
        InputChange("syn", "changed", "2.0.87", "2.0.90"),
        InputChange("windows-sys", "added", new="0.52.0"),
        InputChange("windows-sys", "added", new="0.59.0"),
        InputChange("gone", "removed", old="1.0.0"),
    )


def test_key_diff_lists_many_changes_briefly() -> None:
    old_inputs = {f"crate{i}": "1.0.0" for i in range(30)}
    new_inputs = {f"crate{i}": "1.0.1" for i in range(30)}
    old = KeyManifest("k-a", (), (make_part("lock", old_inputs),))
    new = KeyManifest("k-b", (), (make_part("lock", new_inputs),))
    (line,) = diff_manifests(old, new).lines()
    assert line.count("→") == 20
    assert line.endswith("and 10 more (see key-diff --format json)")


def test_key_diff_for_hashed_content_only() -> None:
    old = KeyManifest("k-a", (), (KeyPart("lock", "aaaa", {"serde": "1.0.0"}),))
    new = KeyManifest("k-b", (), (KeyPart("lock", "bbbb", {"serde": "1.0.0"}),))
    assert diff_manifests(old, new).lines() == ["lock: changed (checksums or hashed file content)"]


def test_parse_rustc_version_reads_the_fields() -> None:
    text = RUSTC_VV.format(release="1.95.0", commit="c" * 40, llvm="22.1.2")
    assert parse_rustc_version(text) == {
        "commit-hash": "c" * 40,
        "host": "x86_64-unknown-linux-gnu",
        "rustc": "1.95.0",
        "LLVM": "22.1.2",
    }
    with pytest.raises(ToolchainError, match="no release line"):
        parse_rustc_version("something else\n")


def test_key_segment_cleans_user_text() -> None:
    assert key_segment("a,b c") == "a_b_c"
    long = key_segment("z" * 300)
    assert len(long) == 100 and long != key_segment("z" * 301)


def test_text_output_lists_parts(hello: Path, tools: Path) -> None:
    text = render_key_text(key_of(hello, tools))
    assert text.splitlines()[0].startswith("key: v1-pyo3-")
    assert "toolchain" in text and "rustc 1.95.0 (x86_64-unknown-linux-gnu, LLVM 22.1.2)" in text
    assert "pyo3 0.30.1" in text


# --- bad input ------------------------------------------------------------------


def test_missing_cargo_lock_is_a_project_error(hello: Path, tools: Path) -> None:
    (hello / "Cargo.lock").unlink()
    with pytest.raises(ProjectError, match=r"Cargo\.lock not found"):
        key_of(hello, tools)


def cli_key(project: Path, *args: str, env: dict[str, str]) -> CliResult:
    """``pyo3-cache key`` for ``project``, for this interpreter."""
    return run_cli(
        "key", "--manifest-path", str(project), "--python", sys.executable, *args, env=env
    )


def cli_env(tools: Path, **extra: str) -> dict[str, str]:
    env = {"PATH": f"{tools}{os.pathsep}{os.environ.get('PATH', '')}"}
    for name in ("PYO3_CONFIG_FILE", "PYO3_PYTHON", "GITHUB_OUTPUT", "GITHUB_ACTIONS"):
        env[name] = ""
    env.update(extra)
    return env


@pytest.mark.parametrize(
    ("damage", "fragment"),
    [
        (lambda p: (p / "Cargo.lock").unlink(), "Cargo.lock not found"),
        (lambda p: (p / "Cargo.lock").write_text("[[package]\nname="), "Cargo.lock at"),
        (lambda p: (p / "Cargo.toml").write_text("[package\n"), "is not valid TOML"),
        (lambda p: (p / "pyproject.toml").write_text("[build-system\n"), "pyproject.toml at"),
        (lambda p: (p / "Cargo.toml").unlink(), "Cargo.toml not found"),
    ],
    ids=["no-lock", "bad-lock", "bad-cargo-toml", "bad-pyproject", "no-cargo-toml"],
)
def test_cli_key_bad_project_files_give_one_line(
    hello: Path, tools: Path, damage, fragment
) -> None:
    damage(hello)
    result = cli_key(hello, env=cli_env(tools))
    assert_one_line_error(result, 5, fragment)


def test_cli_key_without_rustc_gives_one_line(hello: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    result = cli_key(hello, env={"PATH": str(empty), "RUSTC": ""})
    assert_one_line_error(result, 6, "rustc not found on PATH")


def test_cli_key_with_failing_rustc_gives_one_line(hello: Path, tmp_path: Path) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    rustc = bindir / "rustc"
    rustc.write_text(
        "#!/bin/sh\necho \"error: toolchain 'nightly-2099-01-01' is not installed\" >&2\n"
        "echo 'help: run rustup toolchain install' >&2\nexit 1\n"
    )
    rustc.chmod(0o755)
    result = cli_key(hello, env=cli_env(bindir))
    assert_one_line_error(result, 6, "toolchain 'nightly-2099-01-01' is not installed")


def test_cli_key_diff_other_version_gives_one_line(tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    new = tmp_path / "new.json"
    old.write_text(json.dumps({"manifest_version": 0, "key": "x", "parts": {}}))
    new.write_text(json.dumps({"manifest_version": 1, "key": "y", "restore_keys": [], "parts": {}}))
    assert_one_line_error(run_cli("key-diff", str(old), str(new)), 7, "format version 0")
    assert_one_line_error(
        run_cli("key-diff", str(tmp_path / "nope.json"), str(new)), 7, "not found"
    )


# --- CLI ------------------------------------------------------------------------


def test_cli_key_json_and_github_outputs(hello: Path, tools: Path, tmp_path: Path) -> None:
    out = tmp_path / "github_output"
    runner_temp = tmp_path / "runner-temp"
    result = cli_key(
        hello,
        "--format",
        "json",
        "--github",
        env=cli_env(tools, GITHUB_OUTPUT=str(out), RUNNER_TEMP=str(runner_temp), GITHUB_JOB="test"),
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["key"].startswith("v1-pyo3-test-linux-") or data["key"].startswith("v1-pyo3-test-")
    written = runner_temp / "pyo3-cache" / "key-manifest.json"
    assert json.loads(written.read_text()) == data
    text = out.read_text()
    assert f"key={data['key']}\n" in text
    assert f"manifest={written}\n" in text
    delimiter = text.split("restore-keys<<", 1)[1].split("\n", 1)[0]
    block = text.split(f"restore-keys<<{delimiter}\n", 1)[1].split(f"\n{delimiter}\n", 1)[0]
    assert block.splitlines() == data["restore_keys"]
    assert "toolchain" in result.stderr and "rustc 1.95.0" in result.stderr


def test_cli_key_diff_text_and_json(hello: Path, tools: Path, tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    env = cli_env(tools)
    assert cli_key(hello, "--manifest-out", str(old), env=env).returncode == 0
    edit(hello / "Cargo.lock", 'name = "libc"\nversion = "', 'name = "libc"\nversion = "9')
    result = cli_key(hello, "--manifest-out", str(new), env=dict(env, RUSTFLAGS="-Dwarnings"))
    assert result.returncode == 0, result.stderr
    text = run_cli("key-diff", str(old), str(new))
    assert text.returncode == 0
    assert "The cache key changed in 2 of 5 parts:" in text.stdout
    assert "  env: added: RUSTFLAGS -Dwarnings" in text.stdout
    assert "  lock: libc 0.2." in text.stdout and "→ 90.2." in text.stdout
    assert "Unchanged: prefix, toolchain, python." in text.stdout
    data = json.loads(run_cli("key-diff", str(old), str(new), "--format", "json").stdout)
    assert [p["part"] for p in data["changed"]] == ["env", "lock"]
    assert data["changed"][0]["inputs"] == [
        {"input": "RUSTFLAGS", "change": "added", "old": None, "new": "-Dwarnings"}
    ]
    same = run_cli("key-diff", str(old), str(old))
    assert same.returncode == 0 and "nothing changed" in same.stdout


def test_maturin_layout_with_the_crate_in_a_subdirectory(
    hello: Path, tools: Path, tmp_path: Path
) -> None:
    """pyproject.toml at the top, the crate in rust/ (maturin's manifest-path)."""
    project = tmp_path / "layout" / "proj"
    (project / "rust").mkdir(parents=True)
    for name in ("Cargo.toml", "Cargo.lock", "src"):
        src = hello / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, project / "rust" / name)
    shutil.copy(hello / "pyproject.toml", project / "pyproject.toml")
    # A stray pyproject.toml above the project is never read.
    (tmp_path / "layout" / "pyproject.toml").write_text("[build-system\n")
    manifest = key_of(project / "rust", tools)
    lock = manifest.part("lock").inputs
    assert "rust/Cargo.toml" in lock
    assert lock["build-system.requires"] == "maturin>=1.9,<2"
    assert (
        manifest.key == key_of(copy_project(project, tmp_path / "b" / "proj") / "rust", tools).key
    )


def test_path_dependencies_and_patches_are_followed(tmp_path: Path, tools: Path) -> None:
    root = tmp_path / "app"
    for name in ("helper", "patched"):
        (root / name).mkdir(parents=True)
        (root / name / "Cargo.toml").write_text(f'[package]\nname = "{name}"\nversion = "0.1.0"\n')
    (root / "Cargo.toml").write_text(
        '[package]\nname = "app"\nversion = "0.1.0"\n\n'
        '[dependencies]\nhelper = { path = "helper", version = "0.1.0" }\n\n'
        '[patch.crates-io]\npatched = { path = "patched" }\n'
    )
    (root / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "app"\nversion = "0.1.0"\n'
    )
    old = compute_key(root, environ={"PATH": str(tools)}, python=sys.executable)
    assert {"Cargo.toml", "helper/Cargo.toml", "patched/Cargo.toml"} <= set(old.part("lock").inputs)
    edit(
        root / "patched" / "Cargo.toml",
        'version = "0.1.0"\n',
        'version = "0.1.0"\nedition = "2021"\n',
    )
    new = compute_key(root, environ={"PATH": str(tools)}, python=sys.executable)
    assert diff_manifests(old, new).lines() == ["lock: patched/Cargo.toml changed"]


# --- key --for venv -------------------------------------------------------------


def _info(**changes: object) -> InterpreterInfo:
    return dataclasses.replace(probe_interpreter(sys.executable), **changes)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        # 3.14.0rc2 wrote magic 3626; rc3 bumped it to 3627 (seed 003).
        (
            dict(version=(3, 14, 0), releaselevel="candidate", serial=2, magic_number=3626),
            dict(version=(3, 14, 0), releaselevel="candidate", serial=3, magic_number=3627),
            False,
        ),
        (
            dict(version=(3, 14, 0), releaselevel="final", serial=0, magic_number=3627),
            dict(version=(3, 14, 0), releaselevel="candidate", serial=3, magic_number=3627),
            False,
        ),
        # Same version, magic differs (a patched build): the magic alone tells them apart.
        (
            dict(version=(3, 11, 7), magic_number=3495),
            dict(version=(3, 11, 7), magic_number=3494),
            False,
        ),
        (
            dict(version=(3, 11, 7), magic_number=3495),
            dict(version=(3, 11, 7), magic_number=3495),
            True,
        ),
    ],
)
def test_venv_python_part_tells_interpreters_apart_by_magic_and_release(
    a: dict, b: dict, same: bool
) -> None:
    first, second = interpreter_part(_info(**a)), interpreter_part(_info(**b))
    assert (first.hash == second.hash) is same
    if not same:
        (line,) = diff_manifests(
            KeyManifest("a", (), (first,), "venv"), KeyManifest("b", (), (second,), "venv")
        ).lines()
        assert line.startswith("python: ")


def test_venv_key_shows_magic_as_a_number_and_marks_pre_releases() -> None:
    part = interpreter_part(
        _info(
            version=(3, 14, 0),
            releaselevel="candidate",
            serial=2,
            magic_number=3626,
            cache_tag="cpython-314",
        )
    )
    assert part.inputs["python"] == "3.14.0rc2"
    assert part.inputs["magic"] == "3626"
    assert part.inputs["pre-release"] == "candidate"
    assert "pre-release" not in interpreter_part(_info()).inputs


def _python_project(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\ndependencies = ["numpy>=1.24"]\n'
    )
    (root / "uv.lock").write_text('version = 1\n[[package]]\nname = "numpy"\nversion = "2.1.0"\n')
    (root / "requirements-dev.txt").write_text("pytest==8.3.3\n")
    return root


def test_venv_key_follows_lock_files_and_ignores_the_rest(tmp_path: Path) -> None:
    project = _python_project(tmp_path / "a" / "demo")
    old = compute_venv_key(project, python=sys.executable, environ={})
    assert old.kind == "venv" and old.key.startswith("v1-pyo3-venv-")
    assert set(old.part("lock").inputs) == {
        "requirements-dev.txt",
        "uv.lock",
        "project.dependencies",
    }
    other = compute_venv_key(
        _python_project(tmp_path / "b" / "deeper" / "demo"), python=sys.executable, environ={}
    )
    assert other.key == old.key
    (project / "tests").mkdir()
    (project / "tests" / "test_a.py").write_text("def test(): pass\n")
    (project / "README.md").write_text("docs\n")
    edit(project / "pyproject.toml", 'version = "1.0"', 'version = "1.1"')
    assert compute_venv_key(project, python=sys.executable, environ={}).key == old.key
    edit(project / "uv.lock", 'version = "2.1.0"', 'version = "2.2.0"')
    new = compute_venv_key(project, python=sys.executable, environ={})
    assert diff_manifests(old, new).lines() == ["lock: uv.lock changed"]
    assert new.key.startswith(new.restore_keys[0]) and old.key.startswith(new.restore_keys[0])


def test_venv_key_differs_between_real_interpreters(tmp_path: Path) -> None:
    others = [p for p in ("/usr/bin/python3", "/usr/bin/pypy3") if Path(p).exists()]
    if not others:
        pytest.skip("needs a second interpreter (Debian's python3 or pypy3)")
    project = _python_project(tmp_path / "demo")
    mine = compute_venv_key(project, python=sys.executable, environ={})
    for other in others:
        theirs = compute_venv_key(project, python=other, environ={})
        assert theirs.key != mine.key
        assert theirs.part("python").inputs != mine.part("python").inputs


def test_cli_key_for_venv_calls_out_a_pre_release(tmp_path: Path) -> None:
    project = _python_project(tmp_path / "demo")
    info = dataclasses.asdict(probe_interpreter(sys.executable))
    probe = {
        **{
            k: info[k]
            for k in (
                "implementation",
                "executable",
                "base_prefix",
                "system",
                "machine",
                "platform",
                "anaconda",
                "pythonframework",
                "pythonframeworkprefix",
                "py_enable_shared",
                "ldversion",
                "libdir",
                "ext_suffix",
                "soabi",
                "abiflags",
                "calcsize_pointer",
                "flags",
                "hexversion",
            )
        },
        "prefix": "/opt/py",
        "version_info": [3, 14, 0, "candidate", 2],
        "cache_tag": "cpython-314",
        "magic_number": 3626,
        "graalpy_version": None,
    }
    fake = tmp_path / "python3.14"
    fake.write_text(f"#!/bin/sh\nprintf '%s\\n' 'PYO3CACHE-PROBE {json.dumps(probe)}'\n")
    fake.chmod(0o755)
    result = run_cli("key", "--for", "venv", "--manifest-path", str(project), "--python", str(fake))
    assert result.returncode == 0, result.stderr
    assert "Python 3.14.0rc2: bytecode magic 3626 is CPython 3.14rc2 pre-release" in result.stderr
    assert "3.14 releases use 3627" in result.stderr
    assert "CPython 3.14.0rc2 (magic 3626, cpython-314" in result.stdout
    assert "candidate pre-release" in result.stdout


def test_cli_key_for_venv_without_project_files_gives_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = run_cli("key", "--for", "venv", "--manifest-path", str(empty))
    assert_one_line_error(result, 5, "no pyproject.toml, uv.lock")


def test_cli_key_for_venv_github_writes_its_own_manifest(tmp_path: Path) -> None:
    project = _python_project(tmp_path / "demo")
    out, runner_temp = tmp_path / "github_output", tmp_path / "rt"
    result = run_cli(
        "key",
        "--for",
        "venv",
        "--manifest-path",
        str(project),
        "--python",
        sys.executable,
        "--github",
        env={"GITHUB_OUTPUT": str(out), "RUNNER_TEMP": str(runner_temp)},
    )
    assert result.returncode == 0, result.stderr
    written = runner_temp / "pyo3-cache" / "venv-key-manifest.json"
    assert load_manifest(written).kind == "venv"
    assert f"manifest={written}\n" in out.read_text()


def test_prerelease_magic_is_called_out_by_its_number() -> None:
    from pyo3_cache.bytecode.magic_numbers import prerelease_warning

    note = prerelease_warning(3626)  # 3.14rc2, replaced by 3627 in 3.14.0
    assert note is not None and "3627" in note
    assert prerelease_warning(3627) is None
