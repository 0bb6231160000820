"""action_flow: the save decision and the job summary, as a CI user reads them."""

from __future__ import annotations

from pathlib import Path

from pyo3_cache.action_flow import FlowState, decide_save, summary_markdown


def test_exact_hit_is_not_saved_again() -> None:
    assert not decide_save(FlowState(key="k", cache_hit=True), "success").save


def test_failed_job_saves_only_with_cache_on_failure() -> None:
    assert not decide_save(FlowState(key="k"), "failure").save
    assert decide_save(FlowState(key="k", cache_on_failure=True), "failure").save


def test_save_if_false_wins() -> None:
    decision = decide_save(FlowState(key="k", save_if=False), "success")
    assert not decision.save and "save-if" in decision.reason


def test_partial_hit_summary_names_what_changed_escaped() -> None:
    state = FlowState(
        key="v1-pyo3-abc",
        matched_key="v1-pyo3-",
        key_changes=["lock: once_cell 1.21.4 → 1.21.3", "env: <script>alert(1)</script> changed"],
    )
    text = summary_markdown(state, None, "wheels (ubuntu, 3.12)")
    assert "partial hit" in text
    # Log/key text is entity-escaped: it reads the same once rendered.
    assert "once&#95;cell 1.21.4 → 1.21.3" in text
    assert "<script>" not in text


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    state = FlowState(key="k", matched_key="m", key_changes=["a"], notes=["n"])
    path = tmp_path / "state.json"
    state.write(path)
    assert FlowState.read(path) == state
