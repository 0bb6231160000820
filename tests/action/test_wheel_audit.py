"""The save action's ``action audit-wheels`` step (warn | error | off) on re-tagged real wheels."""

from __future__ import annotations

from pathlib import Path

import pytest

from pyo3_cache.action.wheel_audit import action_audit_wheels
from tests.wheels.retag import retag

REAL = Path(__file__).parents[1] / "wheels" / "data"
ARM = REAL / "MarkupSafe-3.0.2-cp313-cp313-manylinux_2_17_aarch64.manylinux2014_aarch64.whl"


def _env(tmp_path: Path, mode: str, dist: Path) -> dict[str, str]:
    return {"INPUT_AUDIT_WHEELS": mode, "PYO3_CACHE_DIST": str(dist)}


@pytest.fixture(autouse=True)
def github_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, variable in (("out", "GITHUB_OUTPUT"), ("summary", "GITHUB_STEP_SUMMARY")):
        (tmp_path / name).touch()
        monkeypatch.setenv(variable, str(tmp_path / name))
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)


@pytest.mark.parametrize(("mode", "fails"), [("warn", False), ("error", True), ("bogus", False)])
def test_a_mislabelled_wheel_warns_and_fails_only_when_asked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], mode: str, fails: bool
) -> None:
    retag(ARM, tmp_path / "dist", tags="pp310-pypy310_pp73-manylinux_2_17_aarch64")
    env = _env(tmp_path, mode, tmp_path / "dist")
    assert action_audit_wheels(env) is fails
    err = capsys.readouterr().err
    assert "pyo3-cache: warning: interpreter-mismatch: " in err
    assert "1 extension module(s) in 1 wheel(s), 1 error(s)" in err
    summary = (tmp_path / "summary").read_text()
    assert "## pyo3-cache: wheel tags in dist/" in summary and "interpreter-mismatch" in summary
    assert (tmp_path / "out").read_text() == f"failed={'true' if fails else 'false'}\n"


def test_clean_wheels_add_nothing_to_the_summary(tmp_path: Path) -> None:
    env = _env(tmp_path, "error", REAL)
    assert action_audit_wheels(env) is False
    assert (tmp_path / "summary").read_text() == ""


def test_off_and_no_wheels(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    retag(ARM, tmp_path / "dist", tags="cp39-abi3-manylinux_2_17_aarch64")
    assert action_audit_wheels(_env(tmp_path, "off", tmp_path / "dist")) is False
    assert capsys.readouterr().err == ""
    assert action_audit_wheels(_env(tmp_path, "error", tmp_path / "empty")) is False
    assert "no wheels in" in capsys.readouterr().err
