"""Attacks on the keys: secrets in env values, forged workflow commands in project files.

Issue 18 items 4 and 5: a registry URL with a password went verbatim into the
key manifest (which travels in every cache entry), and values from
pyproject.toml, Cargo.lock or a restored manifest were printed at the start
of a line, where the runner reads ``::warning ...`` as a command.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tests.bad_inputs.cases import EXAMPLE, Case, Ctx
from tests.bad_inputs.cases import project as hello_project

PASSWORD = "hunter2-corp-pw"
INDEX = f"sparse+https://ci-user:{PASSWORD}@crates.corp.example/index/"
FORGED = "\n::warning title=forged::from pyproject\n::add-mask::lock\n"
# GitHub's parser trims leading spaces before looking for "::" (actions/runner
# ActionCommand.TryParseV2), so an indented line is as dangerous as any.
COMMAND_STARTS = ("::warning", "::error", "::notice", "::add-mask", "::set-", "::stop-commands")


def _no_forged_lines(ctx: Ctx, results: list[Any]) -> None:
    for result in results:
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.lstrip().startswith(COMMAND_STARTS), line


def _no_password(ctx: Ctx, results: list[Any]) -> None:
    texts = [r.stdout + r.stderr for r in results]
    texts += [p.read_text() for p in ctx.work.rglob("*.json")]
    for text in texts:
        assert PASSWORD not in text
    manifest = json.loads((ctx.work / "key.json").read_text())
    shown = manifest["parts"]["env"]["inputs"]["CARGO_REGISTRIES_CORP_INDEX"]
    assert shown == "sparse+https://***@crates.corp.example/index/", shown


def registry_password(ctx: Ctx) -> None:
    hello_project(ctx)
    ctx.env["CARGO_REGISTRIES_CORP_INDEX"] = INDEX


def _masked_only(ctx: Ctx, results: list[Any]) -> None:
    """On GitHub the password is masked first, and shown nowhere but in the mask command."""
    out = results[0].stdout + results[0].stderr
    masks = [ln for ln in out.splitlines() if ln.startswith("::add-mask::")]
    assert f"::add-mask::{PASSWORD}" in masks, out[:2000]
    rest = "\n".join(ln for ln in out.splitlines() if not ln.startswith("::add-mask::"))
    assert PASSWORD not in rest
    for path in [*ctx.work.rglob("*.json"), ctx.work / "github_output"]:
        assert PASSWORD not in path.read_text(), path


def registry_password_on_github(ctx: Ctx) -> None:
    forged_pyproject(ctx)  # GitHub's files and variables
    (ctx.work / "pyproject.toml").write_text((EXAMPLE / "pyproject.toml").read_text())
    ctx.env["CARGO_REGISTRIES_CORP_INDEX"] = INDEX


def _manifest(key: str, lock: dict[str, Any], env: dict[str, str]) -> dict[str, Any]:
    return {
        "manifest_version": 1,
        "tool": "pyo3-cache 0.1.0",
        "kind": "rust",
        "key": key,
        "restore_keys": [key.rsplit("-", 1)[0] + "-"],
        "parts": {
            "lock": {"hash": key.rsplit("-", 1)[1], "inputs": lock},
            "env": {"hash": key.rsplit("-", 1)[1], "inputs": env},
        },
    }


def forged_manifests(ctx: Ctx) -> None:
    """An old manifest (from a cache entry made before the rules) and a new one."""
    old = _manifest(
        "v1-pyo3-build-linux-x86_64-aaaaaaaaaaaa",
        {"build-system.requires": "maturin>=1.0", "serde": "1.0.210"},
        {"CARGO_REGISTRIES_CORP_INDEX": INDEX, "CARGO_REGISTRY_TOKEN": "cio-old-secret-1"},
    )
    new = _manifest(
        "v1-pyo3-build-linux-x86_64-bbbbbbbbbbbb",
        {
            "build-system.requires": "maturin>=1.0" + FORGED,
            "serde": "1.0.211",
            "evil\n::error title=forged::from Cargo.lock": "0.1.0",
        },
        {"CARGO_REGISTRIES_CORP_INDEX": INDEX.replace("corp.", "other."), "RUSTFLAGS": "x"},
    )
    (ctx.work / "old.json").write_text(json.dumps(old))
    (ctx.work / "new.json").write_text(json.dumps(new))


def _diff_is_safe(ctx: Ctx, results: list[Any]) -> None:
    _no_forged_lines(ctx, results)
    out = results[0].stdout
    assert PASSWORD not in out and "cio-old-secret-1" not in out
    assert "serde 1.0.210 → 1.0.211" in out  # the report itself still reads


def forged_key(ctx: Ctx) -> None:
    bad = _manifest("v1-pyo3-aaaaaaaaaaaa", {}, {})
    bad["key"] = "v1-pyo3\n::error title=forged::key"
    (ctx.work / "old.json").write_text(json.dumps(bad))
    (ctx.work / "new.json").write_text(json.dumps(_manifest("v1-pyo3-bbbbbbbbbbbb", {}, {})))


def forged_pyproject(ctx: Ctx) -> None:
    hello_project(ctx)
    pyproject = ctx.work / "pyproject.toml"
    text = (EXAMPLE / "pyproject.toml").read_text()
    requires = json.dumps("maturin>=1.0" + FORGED)
    text = text.replace('requires = ["maturin', f'requires = [{requires}, "maturin', 1)
    assert FORGED.strip().splitlines()[0] in json.loads(requires)
    pyproject.write_text(text)
    for name in ("GITHUB_OUTPUT", "GITHUB_ENV"):
        (ctx.work / name.lower()).write_text("")
        ctx.env[name] = str(ctx.work / name.lower())
    ctx.env["GITHUB_ACTIONS"] = "true"
    # No maturin on PATH: the key then reads maturin's version from `requires`.
    rustc = shutil.which("rustc")
    assert rustc is not None
    ctx.env["PATH"] = os.pathsep.join([str(Path(rustc).parent), "/usr/bin", "/bin"])
    ctx.env["RUNNER_TEMP"] = str(ctx.work / "runner-temp")
    shutil.rmtree(ctx.work / "runner-temp", ignore_errors=True)


CASES: list[Case] = [
    Case(
        "key-registry-password",
        "project files",
        "CARGO_REGISTRIES_CORP_INDEX=sparse+https://user:password@host/ in the environment",
        ("key", "--manifest-out", "{work}/key.json"),
        registry_password,
        "report",
        0,
        ("key: v1-pyo3-",),
        writes=("key.json",),
        check=_no_password,
        finding="the registry URL with its password went verbatim into the key manifest, "
        "which travels in every cache entry; now the manifest shows and hashes "
        "sparse+https://***@host/, so another index host still changes the key",
    ),
    Case(
        "key-github-registry-password",
        "project files",
        "CARGO_REGISTRIES_CORP_INDEX with a password, with key --github",
        ("key", "--github"),
        registry_password_on_github,
        "report",
        0,
        ("key: v1-pyo3-",),
        writes=("github_output", "github_env", "runner-temp", "runner-temp/*"),
        check=_masked_only,
        finding="the password reached the manifest, the log and the PR comment; now the "
        "runner is told to mask it (::add-mask::) before anything is printed, and no file "
        "we write holds it",
    ),
    Case(
        "key-diff-forged-commands",
        "project files",
        "manifests whose values hold newlines and ::warning/::error/::add-mask lines "
        "(a [build-system] requires string, a Cargo.lock package name) and an old "
        "manifest holding a registry password and a token",
        ("key-diff", "old.json", "new.json"),
        forged_manifests,
        "report",
        0,
        ("serde 1.0.210 → 1.0.211",),
        check=_diff_is_safe,
        finding="key-diff printed the values as they were: a newline in a value started a "
        "line the runner reads as a workflow command, and an old manifest's password "
        "was printed; values are now one line (\\n escaped) and secrets redacted",
    ),
    Case(
        "key-diff-forged-key",
        "project files",
        "a manifest whose key holds a newline and ::error",
        ("key-diff", "old.json", "new.json"),
        forged_key,
        "error",
        7,
        ("has characters no key has",),
    ),
    Case(
        "key-github-forged-requires",
        "project files",
        "a [build-system] requires string with a newline, ::warning and ::add-mask, "
        "with key --github",
        ("key", "--github"),
        forged_pyproject,
        "report",
        0,
        ("key: v1-pyo3-",),
        writes=("github_output", "github_env", "runner-temp", "runner-temp/*"),
        check=_no_forged_lines,
        finding="the key's table of parts printed maturin's requirement as read, so its "
        "newline started a forged ::warning line in the log; it is now escaped",
    ),
]


# --- stale wheels: inputs only cargo knows -------------------------------------------------

DEPINFO = EXAMPLE.parents[1] / "tests" / "fixtures" / "cargo-depinfo"


def stale_path_module(ctx: Ctx) -> None:
    """A saved wheel whose crate has `#[path = "../../shared/extra.rs"]`; then that file changes.

    The dep-info is cargo 1.95's own (tests/fixtures/cargo-depinfo) for this
    layout; the wheel is a stand-in (the cache never opens it).
    """
    import sys
    import zipfile

    from pyo3_cache.cache.places import open_store
    from pyo3_cache.cache.wheel_cache import save_wheels, wheel_cargo_inputs
    from pyo3_cache.keys.wheel import WheelInputs, compute_wheel_key

    project = ctx.work / "job" / "hello-pyo3"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target", "dist"))
    (ctx.work / "job" / "shared").mkdir()
    (ctx.work / "job" / "shared" / "extra.rs").write_text("pub fn extra() -> u8 { 1 }\n")
    deps = project / "target" / "release" / "deps"
    deps.mkdir(parents=True)
    text = (DEPINFO / "_hello_pyo3.d").read_text().replace("@ROOT@", str(ctx.work / "job"))
    (deps / "_hello_pyo3.d").write_text(text)
    dist = project / "dist"
    dist.mkdir()
    with zipfile.ZipFile(dist / "hello_pyo3-0.1.0-cp311-cp311-linux_x86_64.whl", "w") as zf:
        zf.writestr("hello_pyo3/__init__.py", "")
    env = {**os.environ, "GITHUB_ACTIONS": ""}
    inputs = WheelInputs()
    manifest = compute_wheel_key(project, python=sys.executable, environ=env, inputs_out=inputs)
    cargo_inputs, problem = wheel_cargo_inputs(inputs, env, dist)
    assert cargo_inputs is not None, problem
    store = open_store(f"dir:{ctx.work / 'store'}")
    assert save_wheels(store, manifest.key, dist, None, cargo_inputs, scope="default").saved
    shutil.rmtree(dist)
    (ctx.work / "job" / "shared" / "extra.rs").write_text("pub fn extra() -> u8 { 2 }\n")
    ctx.vars["python"] = sys.executable


def _stale_is_a_miss(ctx: Ctx, results: list[Any]) -> None:
    data = json.loads(results[0].stdout)
    assert data["hit"] is False and data["wheels"] == []
    assert not (ctx.work / "job" / "hello-pyo3" / "dist").exists()


CASES.append(
    Case(
        "wheel-stale-path-module",
        "project files",
        "a saved wheel, then a change to a #[path] module outside src/ (the key stays)",
        (
            "wheel-cache",
            "restore",
            "--store",
            "dir:{work}/store",
            "--manifest-path",
            "{work}/job/hello-pyo3",
            "--dist",
            "{work}/job/hello-pyo3/dist",
            "--python",
            "{python}",
            "--format",
            "json",
        ),
        stale_path_module,
        "report",
        0,
        ("../shared/extra.rs changed",),
        # the entry is unpacked aside, next to dist/, and removed again
        writes=("store/*", "job/hello-pyo3/.pyo3-cache-wheels.*"),
        check=_stale_is_a_miss,
        finding="the wheel key cannot see files only cargo tracks (a #[path] module outside "
        "src/, a file build.rs reads, an env! variable), so the old wheel was restored and "
        "the build skipped; wheels now carry cargo's dep-info list and a change is a miss",
    )
)
