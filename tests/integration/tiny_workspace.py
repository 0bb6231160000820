"""A tiny offline workspace for explain's integration tests: a bin, a path
library with a build script (watching data.txt and UTIL_MODE) and a feature,
no registry crates, so a build takes about a second.  Built once per module
at a fixed path (cargo hashes paths); each test gets a copy at that path."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import run_build, tool_env

FILES = {
    "Cargo.toml": '[workspace]\nmembers = ["app", "util"]\nresolver = "2"\n',
    "app/Cargo.toml": (
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\nutil = { path = "../util" }\n'
    ),
    "app/src/main.rs": 'fn main() {\n    println!("{}", util::answer());\n}\n',
    "util/Cargo.toml": (
        '[package]\nname = "util"\nversion = "0.1.0"\nedition = "2021"\n\n[features]\nextra = []\n'
    ),
    "util/build.rs": (
        'fn main() {\n    println!("cargo:rerun-if-changed=data.txt");\n'
        '    println!("cargo:rerun-if-env-changed=UTIL_MODE");\n}\n'
    ),
    "util/data.txt": "hello\n",
    "util/src/lib.rs": "pub fn answer() -> u32 {\n    42\n}\n",
}


@pytest.fixture(scope="module")
def warm_workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("ws-warm") / "ws"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    build = run_build(["cargo", "build", "--offline"], root, tool_env())
    assert build.returncode == 0, build.output[-2000:]
    yield root


@pytest.fixture
def workspace(warm_workspace: Path, tmp_path: Path) -> Path:
    # The same path as the warm build (cargo hashes paths), one scenario at a time.
    shutil.rmtree(warm_workspace.parent / "scenario", ignore_errors=True)
    copy = warm_workspace.parent / "scenario"
    shutil.copytree(warm_workspace, copy, symlinks=True, copy_function=shutil.copy2)
    moved = warm_workspace.parent / "held"
    warm_workspace.rename(moved)
    copy.rename(warm_workspace)
    yield warm_workspace
    shutil.rmtree(warm_workspace)
    moved.rename(warm_workspace)
