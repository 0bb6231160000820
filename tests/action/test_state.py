"""The flow state handed from after-restore to before-save."""

from __future__ import annotations

from pathlib import Path

from pyo3_cache.action.state import FlowState


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    state = FlowState(key="k", matched_key="m", key_changes=["a"], notes=["n"])
    path = tmp_path / "state.json"
    state.write(path)
    assert FlowState.read(path) == state
