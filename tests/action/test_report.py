"""The job summary, as a CI user reads it."""

from __future__ import annotations

from pyo3_cache.action.report import summary_markdown
from pyo3_cache.action.state import FlowState


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
