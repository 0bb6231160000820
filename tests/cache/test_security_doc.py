"""docs/security.md's cache table names every cache attack test, and each one exists."""

from __future__ import annotations

import ast
import re

import tests.bad_inputs.cases  # noqa: F401 - loads attacks_cache.py after the catalogue
from tests.bad_inputs.attacks_cache import CASES
from tests.conftest import REPO

DOC = REPO / "docs" / "security.md"


def _section() -> str:
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## Cache entries: attacks and the tests that prove them")
    return text[start : text.index("\n## ", start + 1)]


def test_every_cache_attack_case_is_in_the_security_doc() -> None:
    section = _section()
    missing = [case.id for case in CASES if f"`{case.id}`" not in section]
    assert missing == [], f"docs/security.md does not name {missing}"


def test_every_test_the_security_doc_names_exists() -> None:
    section = _section()
    named = re.findall(r"`((?:tests/\S+?|test_\w+)\.py)::(\w+)`", section)
    assert named
    for path, test in named:
        file = REPO / path if path.startswith("tests/") else REPO / "tests" / "cache" / path
        tree = ast.parse(file.read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert test in names, f"{path}::{test} named in docs/security.md does not exist"
    ids = {case.id for case in CASES}
    for cid in re.findall(r"`(attack-[\w-]+)`", section):
        assert cid in ids, f"{cid} named in docs/security.md is not a catalogue case"
