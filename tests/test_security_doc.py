"""docs/security.md's tables are generated from the tests (tests/security_report.py), and every
test or file they name exists."""

from __future__ import annotations

import ast

from tests import security_report as report
from tests.bad_inputs.cases import CASES
from tests.conftest import REPO


def _all_refs() -> list[str]:
    refs = [ref for _claim, found in report.CHECKS for ref in found]
    refs += [ref for found in report.ALSO.values() for ref in found]
    refs += [test for _a, _b, test in report.EXTRA_CACHE_ROWS]
    return refs


def test_the_page_holds_the_tables_the_tests_give() -> None:
    text = report.DOC.read_text(encoding="utf-8")
    assert sorted(report.blocks(text)) == sorted(report.TABLES)
    assert report.rendered(text) == text, (
        "docs/security.md is out of date: run `.venv/bin/python tests/security_report.py --write`"
    )


def test_every_test_and_file_the_page_names_exists() -> None:
    for ref in _all_refs():
        path, _, name = ref.partition("::")
        file = REPO / path
        assert file.exists(), f"{path} named in docs/security.md does not exist"
        if name:
            tree = ast.parse(file.read_text(encoding="utf-8"))
            names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert name in names, f"{ref} named in docs/security.md does not exist"
    ids = {case.id for case in CASES}
    assert set(report.ALSO) <= ids, set(report.ALSO) - ids


def test_every_attack_case_has_a_row() -> None:
    text = report.DOC.read_text(encoding="utf-8")
    for case in [*report.attacks_cache.CASES, *report.attacks_action.CASES]:
        assert f"`{case.id}`" in text, case.id


def test_a_new_attack_case_changes_the_page(monkeypatch) -> None:
    """The table follows the catalogue: a case added there is a row the page lacks."""
    text = report.DOC.read_text(encoding="utf-8")
    extra = report.attacks_action.CASES[0]
    monkeypatch.setattr(
        report.attacks_action,
        "CASES",
        [*report.attacks_action.CASES, type(extra)(**{**extra.__dict__, "id": "attack-new"})],
    )
    assert report.rendered(text) != text
    assert "`attack-new`" in report.rendered(text)


def test_the_script_prints_every_table(capsys) -> None:
    assert report.main([]) == 0
    out = capsys.readouterr().out
    for name in report.TABLES:
        assert f"<!-- generated: {name} -->" in out
