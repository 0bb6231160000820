"""Fixtures of the key tests: a fake rustc on PATH and a copy of the example project."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import EXAMPLE
from tests.keys.test_rust import copy_project, fake_rustc


@pytest.fixture
def tools(tmp_path: Path) -> Path:
    return fake_rustc(tmp_path / "bin")


@pytest.fixture
def hello(tmp_path: Path) -> Path:
    return copy_project(EXAMPLE, tmp_path / "checkout-a" / "hello-pyo3")
