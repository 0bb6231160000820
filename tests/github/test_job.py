"""github/job.py: a job's title and comment section key from the matrix input."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pyo3_cache.github.job import job_section_key, job_title, matrix_values
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("matrix", "values"),
    [
        ("", []),
        ("null", []),
        ('{"os": "ubuntu-latest", "python": "3.12"}', ["ubuntu-latest", "3.12"]),
        ('{"python": 3.12, "extra": null, "free": ""}', ["3.12"]),
        ('{"include": {"a": 1}}', ['{"a":1}']),
        ('["x", true]', ["x", "true"]),
        ("3.13t", ["3.13t"]),
        ("not json {", ["not json {"]),
    ],
)
def test_matrix_values_in_order_and_plain_strings_kept(matrix: str, values: list[str]) -> None:
    assert matrix_values(matrix) == values


def test_a_job_without_a_name_or_matrix_is_job() -> None:
    assert job_title("", "") == "job"
    assert job_title("wheels", '{"target": "aarch64"}') == "wheels (aarch64)"
    assert job_section_key({}, "") == "/job"


def test_the_save_step_reaches_its_summary_without_the_rest_client() -> None:
    # before-save runs in every job from a fresh checkout, where each module it
    # imports is compiled first; only the comment step needs the REST client.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]);"
        "import pyo3_cache.cli.main, pyo3_cache.action.save;"
        "print(sorted(m for m in sys.modules if m.startswith('pyo3_cache.')))"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code, str(REPO / "src")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for module in ("github.rest", "github.comment", "cli.pin", "cli.cache", "cache.s3_store"):
        assert f"pyo3_cache.{module}'" not in out
