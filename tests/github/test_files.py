"""github/files.py: the job summary (1 MiB per step, fences kept whole) and its CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from tests.conftest import assert_one_line_error, run_cli


def test_append_summary_appends_markdown(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_text("earlier step output", encoding="utf-8")
    result = github.append_summary("## pyo3-cache\n0 crates rebuilt", path=path)
    assert (
        path.read_text(encoding="utf-8") == "earlier step output\n## pyo3-cache\n0 crates rebuilt\n"
    )
    assert not result.truncated
    assert result.written_bytes == len("\n## pyo3-cache\n0 crates rebuilt\n")


def test_append_summary_counts_what_the_step_already_wrote(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * (github.STEP_SUMMARY_LIMIT - 3000) + b"\n")
    report = "".join(
        f"- crate {i} rebuilt: the env variable PYO3_PYTHON changed\n" for i in range(500)
    )
    result = github.append_summary(report, path=path)
    assert result.truncated
    assert path.stat().st_size <= github.STEP_SUMMARY_LIMIT
    text = path.read_text(encoding="utf-8")
    assert "GitHub keeps at most 1 MiB of job summary per step" in text
    assert text.endswith("\n") and "- crate 0 rebuilt" in text


def test_append_summary_to_a_full_file_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "summary.md"
    path.write_bytes(b"x" * github.STEP_SUMMARY_LIMIT)
    result = github.append_summary("# report", path=path)
    assert (result.written_bytes, result.truncated) == (0, True)
    assert path.stat().st_size == github.STEP_SUMMARY_LIMIT


def test_summary_cut_inside_a_mermaid_diagram_drops_the_diagram() -> None:
    diagram = "```mermaid\ngraph TD\n" + "".join(f"  a{i} --> b{i}\n" for i in range(200)) + "```\n"
    text, truncated = github.fit_summary("# Rebuilt\nintro\n" + diagram + "after\n", 1500)
    assert truncated
    assert "```mermaid" not in text
    assert text.startswith("# Rebuilt\nintro\n") and "cut this" in text


def test_summary_cut_inside_a_code_block_closes_it() -> None:
    block = "```text\n" + "log line\n" * 500 + "```\n"
    text, _ = github.fit_summary(block, 1000)
    assert text.count("```") == 2


@settings(max_examples=150)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",))), st.integers(0, 3000))
def test_fit_summary_never_passes_the_room_it_has(markdown: str, room: int) -> None:
    text, truncated = github.fit_summary(markdown, room)
    assert len(text.encode("utf-8")) <= room
    assert truncated or text.rstrip("\n") == markdown.rstrip("\n")


def test_append_summary_without_the_variable_is_one_line_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    with pytest.raises(GitHubError, match="GITHUB_STEP_SUMMARY is not set"):
        github.append_summary("x")


def test_cli_summary_appends_and_warns_when_cut(tmp_path: Path) -> None:
    summary = tmp_path / "summary.md"
    report = tmp_path / "report.md"
    report.write_text("## pyo3-cache\n0 crates rebuilt\n", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": str(summary), "GITHUB_ACTIONS": ""}
    ok = run_cli("summary", "--file", str(report), env=env)
    assert (ok.returncode, ok.stderr) == (0, "")
    assert summary.read_text(encoding="utf-8") == "## pyo3-cache\n0 crates rebuilt\n"
    report.write_text("y\n" * 600_000, encoding="utf-8")
    cut = run_cli("summary", "--file", str(report), env=env)
    assert cut.returncode == 0 and "cut to fit GitHub's 1 MiB" in cut.stderr
    assert summary.stat().st_size <= github.STEP_SUMMARY_LIMIT


def test_cli_summary_outside_github_actions(tmp_path: Path) -> None:
    report = tmp_path / "report.md"
    report.write_text("x", encoding="utf-8")
    env = {"GITHUB_STEP_SUMMARY": "", "GITHUB_ACTIONS": ""}
    assert_one_line_error(
        run_cli("summary", "--file", str(report), env=env), 11, "GITHUB_STEP_SUMMARY is not set"
    )
    soft = run_cli("summary", "--soft", "--file", str(report), env=env)
    assert soft.returncode == 0 and "warning" in soft.stderr
