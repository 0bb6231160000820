from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import EXAMPLE


@pytest.fixture
def crate(tmp_path: Path) -> Path:
    """The example's manifest files only: enough for commands that build nothing."""
    dst = tmp_path / "crate"
    dst.mkdir()
    for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml"):
        shutil.copy2(EXAMPLE / name, dst / name)
    return dst
