"""Renderers (text, Markdown, JSON) and the `explain` command as a user runs it."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

from pyo3_cache import explain_recompiles
from pyo3_cache.explain.render import escape_markdown, escape_mermaid, render_markdown, render_text
from tests.conftest import assert_one_line_error, run_cli

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cargo-logs"
PYO3_LOG = str(FIXTURES / "human" / "pyo3-python-changed.log")

HOSTILE = (
    b"       Dirty evil v1.0.0: the file `<img src=x onerror=alert(1)>|x|</details>"
    b"<script>@octocat #1 [a](javascript:x) ```\n:: ::set-env name=X::1 $\\pi$"
    b"` has changed (1s)\n"
    b'       Dirty evil2 v1.0.0: the env variable a|b</details>"]-->x changed\n'
    b"       Dirty evil3 v1.0.0: info of dependency `evil2` changed\n"
)


def test_json_contract_is_exact() -> None:
    result = run_cli("explain", "--format", "json", PYO3_LOG)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["invocations"] == 1
    assert data["counts"] == {"fresh": 11, "rebuilt": 3, "new": 0, "compiled": 0}
    assert data["failures"] == [] and data["rebuilt_crates"] == 3 and data["rebuild_runs"] == 1
    unit = next(u for u in data["units"] if u["package"] == "pyo3")
    assert {k: unit[k] for k in ("package", "version", "status", "reason", "root_cause")} == {
        "package": "pyo3",
        "version": "0.30.1",
        "status": "rebuilt",
        "reason": "info of dependency `pyo3-ffi` changed",
        "root_cause": "pyo3-ffi",
    }
    fresh = next(u for u in data["units"] if u["status"] == "fresh")
    assert fresh["root_cause"] is None
    (cause,) = data["root_causes"]
    assert {k: cause[k] for k in ("package", "version", "kind", "reason")} == {
        "package": "pyo3-ffi",
        "version": "0.30.1",
        "kind": "interpreter-env",
        "reason": "the env variable PYO3_PYTHON changed",
    }
    assert "pyo3-cache pin" in cause["hint"]


def test_text_output_names_cause_cascade_and_hint() -> None:
    result = run_cli("explain", PYO3_LOG)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "pyo3-cache explain: 3 crates rebuilt because PYO3_PYTHON changed"
    assert "  pyo3-ffi v0.30.1: the env variable PYO3_PYTHON changed" in lines
    assert "      dragged along: pyo3, hello-pyo3" in lines
    assert any("pyo3-cache pin" in ln for ln in lines)


def test_markdown_has_headline_table_and_collapsed_mermaid_cascade(tmp_path: Path) -> None:
    out = tmp_path / "report.md"
    result = run_cli("explain", "--format", "markdown", "--output", str(out), PYO3_LOG)
    assert result.returncode == 0 and result.stdout == ""
    text = out.read_text()
    assert text.startswith("### pyo3-cache explain: 3 crates rebuilt because PYO3&#95;PYTHON")
    assert "| Root cause | Package | Kind | Rebuilt | Hint |" in text
    assert "<details><summary>" in text and "```mermaid" in text
    assert re.search(r'n\d\["pyo3-ffi"\] --> n\d\["pyo3"\]', text)


def test_markdown_escapes_hostile_log_content() -> None:
    report = explain_recompiles(io.BytesIO(HOSTILE))
    text = render_markdown(report)
    assert "<img" not in text and "<script" not in text
    assert text.count("<details>") == 1 and text.count("</details>") == 1
    assert "@octocat" not in text and " #1" not in text and "[a]" not in text
    fence_lines = [ln for ln in text.splitlines() if ln.startswith("```")]
    assert fence_lines == ["```mermaid", "```"]
    # Every row keeps its table's column count: no pipe from the log splits a cell.
    columns = 0
    for line in text.splitlines():
        if line.startswith("| Root cause") or line.startswith("| Package"):
            columns = line.count("|")
        elif line.startswith("| "):
            assert line.count("|") == columns, line
    assert columns == 5
    mermaid = text.split("```mermaid", 1)[1].split("```", 1)[0]
    assert '"]-->' not in mermaid.replace('"] -->', "")
    assert "<" not in mermaid


def test_escape_helpers() -> None:
    assert escape_markdown("a|b<c>") == "a&#124;b&#60;c&#62;"
    assert escape_markdown("line1\nline2\u202e") == "line1 line2"
    assert escape_markdown("see www.example.com") == "see www&#46;example.com"
    assert escape_mermaid('x"]-->y') == "x#34;#93;--#62;y"


def test_text_output_cannot_forge_workflow_commands() -> None:
    text = render_text(explain_recompiles(io.BytesIO(HOSTILE)))
    assert not any(ln.lstrip().startswith("::") for ln in text.splitlines())
    assert "::set-env" not in text


def test_stdin_and_several_logs() -> None:
    data = (FIXTURES / "human" / "noop.log").read_text()
    result = run_cli("explain", "--format", "json", "-", PYO3_LOG, input=data)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["invocations"] == 2


def test_missing_log_is_a_one_line_error(tmp_path: Path) -> None:
    assert_one_line_error(run_cli("explain", str(tmp_path / "nope.log")), 8, "does not exist")
    assert_one_line_error(run_cli("explain", str(tmp_path)), 8, "is a directory")


def test_unwritable_output_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("explain", "--output", str(tmp_path / "no" / "dir" / "x.md"), PYO3_LOG)
    assert_one_line_error(result, 4, "cannot write")


def test_bad_inputs_never_traceback(tmp_path: Path) -> None:
    cases = {
        "empty.log": b"",
        "binary.log": bytes(range(256)) * 64,
        "latin1.log": "   Compiling café v1.0.0\n".encode("latin-1"),
        "truncated.log": b"       Dirty pyo3 v0.30.1: the env var",
        "other.log": b"npm WARN deprecated\n" * 100,
    }
    for name, data in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        for fmt in ("text", "markdown", "json"):
            result = run_cli("explain", "--format", fmt, str(path))
            assert result.returncode == 0, (name, result.stderr)
            assert "Traceback" not in result.stderr and result.stdout
    empty = run_cli("explain", str(tmp_path / "empty.log"))
    assert "No cargo output found" in empty.stdout and "is empty" in empty.stdout


def test_json_says_how_many_fresh_units_it_does_not_list() -> None:
    result = run_cli("explain", "--format", "json", PYO3_LOG, PYO3_LOG)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["units_truncated"] == 0
    assert data["invocations"] == 2 and len(data["units"]) == 28
    assert {k for u in data["units"] for k in u} >= {
        "package",
        "version",
        "status",
        "reason",
        "root_cause",
    }
