"""before-save's decision: when the job saves a new entry, as a CI user reads it."""

from __future__ import annotations

from pyo3_cache.action.save import decide_save
from pyo3_cache.action.state import FlowState


def test_exact_hit_is_not_saved_again() -> None:
    assert not decide_save(FlowState(key="k", cache_hit=True), "success").save


def test_failed_job_saves_only_with_cache_on_failure() -> None:
    assert not decide_save(FlowState(key="k"), "failure").save
    assert decide_save(FlowState(key="k", cache_on_failure=True), "failure").save


def test_save_if_false_wins() -> None:
    decision = decide_save(FlowState(key="k", save_if=False), "success")
    assert not decision.save and "save-if" in decision.reason
