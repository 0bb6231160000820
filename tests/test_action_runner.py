"""The test harness's expression evaluator behaves as GitHub documents it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.action_runner import evaluate, parse_command_file, substitute

CTX = {
    "inputs": {"comment": "never", "empty": ""},
    "steps": {"restore": {"outputs": {"cache-hit": "true"}, "outcome": "success"}},
    "__status__": "success",
}


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("inputs.comment == 'NEVER'", True),  # string comparison ignores case
        ("steps.restore.outputs.cache-hit == 'true'", True),
        ("steps.restore.outcome != 'success'", False),
        ("!inputs.empty", True),
        ("inputs.empty || 'fallback'", "fallback"),
        ("success() && steps.restore.outputs['cache-hit']", "true"),
        ("format('{0}-{1}', 'a', 1)", "a-1"),
    ],
)
def test_expressions(expr: str, expected: object) -> None:
    assert evaluate(expr, CTX) == expected


def test_substitute_in_text() -> None:
    assert substitute("hit=${{ steps.restore.outputs.cache-hit }}", CTX) == "hit=true"


def test_command_file_heredoc(tmp_path: Path) -> None:
    f = tmp_path / "out"
    f.write_text("a=1\nlist<<EOF_X\nx\ny\nEOF_X\nb=2\n")
    assert parse_command_file(f) == {"a": "1", "list": "x\ny", "b": "2"}
