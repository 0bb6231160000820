"""Security review of the action and the workflows, kept true by tests (see docs/security.md).

zizmor runs in `make lint` (.ci/lint-yaml); these tests check the rules of
our own review on every action and workflow file: third-party actions pinned
by full commit SHA, no `${{ }}` expression inside a `run:` script (inputs and
event data reach scripts through `env:` only), least privilege (`contents:
read`, `pull-requests: write` only in jobs that comment), no
`pull_request_target`, checkouts without persisted credentials, and the token
handed to the one step that comments.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import REPO

ACTIONS = [REPO / "action.yml", REPO / "save" / "action.yml"]
WORKFLOWS = sorted((REPO / "workflows").glob("*.yml")) + sorted(
    (REPO / ".github" / "workflows").glob("*.yml")
)
ALL_FILES = ACTIONS + WORKFLOWS
PINNED = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")
OUR_ACTION = re.compile(r"^pyo3-cache/pyo3-cache(/save)?@")


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _steps(path: Path) -> list[tuple[str, dict[str, Any]]]:
    """(where, step) for every step of an action or workflow file."""
    data = _load(path)
    if "runs" in data:
        return [(f"{path.name} step {i}", s) for i, s in enumerate(data["runs"].get("steps", []))]
    return [
        (f"{path.name} job {job} step {i}", step)
        for job, body in data.get("jobs", {}).items()
        for i, step in enumerate(body.get("steps", []))
    ]


def _triggers(data: dict[Any, Any]) -> Any:
    # PyYAML reads the key `on` as the boolean True (YAML 1.1).
    return data.get("on", data.get(True))


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(REPO)) for p in paths]


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_third_party_actions_are_pinned_by_commit_sha(path: Path) -> None:
    raw = path.read_text(encoding="utf-8")
    for where, step in _steps(path):
        uses = step.get("uses")
        if not uses or uses.startswith("./"):
            continue
        assert PINNED.match(uses), f"{where}: {uses} is not pinned to a full commit SHA"
        line = next(ln for ln in raw.splitlines() if f"uses: {uses}" in ln)
        assert "#" in line, f"{where}: say which release the SHA is (a `# vX.Y.Z` comment)"


@pytest.mark.parametrize("path", ALL_FILES, ids=_ids(ALL_FILES))
def test_no_expression_inside_a_run_script(path: Path) -> None:
    for where, step in _steps(path):
        if "run" in step:
            assert "${{" not in step["run"], f"{where}: pass values to run: through env:"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_workflows_grant_the_least_privilege(path: Path) -> None:
    data = _load(path)
    assert data.get("permissions") == {"contents": "read"}, f"{path.name}: top-level permissions"
    for job, body in data["jobs"].items():
        perms = body.get("permissions")
        if perms is None:
            continue
        assert isinstance(perms, dict), f"{path.name} {job}: no write-all/read-all shorthands"
        assert perms.get("contents") == "read", f"{path.name} {job}"
        extra = {k: v for k, v in perms.items() if k != "contents"}
        assert extra in ({}, {"pull-requests": "write"}), f"{path.name} {job}: {extra}"
        if extra:
            uses = [s.get("uses", "") for s in body.get("steps", [])]
            comments = any(OUR_ACTION.match(u) or u in ("./", "./save") for u in uses)
            assert comments, f"{path.name} {job}: pull-requests: write without our action"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_no_pull_request_target_and_no_persisted_credentials(path: Path) -> None:
    data = _load(path)
    triggers = _triggers(data)
    names = triggers if isinstance(triggers, (list, dict)) else [triggers]
    assert "pull_request_target" not in names, "see docs/security.md before using it"
    for where, step in _steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert (step.get("with") or {}).get("persist-credentials") is False, where


def test_the_token_reaches_only_the_step_that_comments() -> None:
    holders = [
        (str(path.relative_to(REPO)), step.get("id"), step.get("env") or {})
        for path in ACTIONS
        for _, step in _steps(path)
        if "github-token" in yaml.safe_dump(step) or "GITHUB_TOKEN" in yaml.safe_dump(step)
    ]
    assert holders == [
        ("save/action.yml", "comment", holders[0][2]),
    ], [(f, i) for f, i, _ in holders]
    assert holders[0][2]["GITHUB_TOKEN"] == "${{ inputs.github-token }}"


def test_security_doc_covers_pull_request_target() -> None:
    text = (REPO / "docs" / "security.md").read_text(encoding="utf-8")
    assert "pull_request_target" in text and "workflow_run" in text
