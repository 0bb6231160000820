"""The flow state handed from after-restore to before-save."""

from __future__ import annotations

from pathlib import Path

from pyo3_cache.action.state import (
    FlowState,
    cache_path_string,
    entry_dir,
    entry_path_for_cache,
    fresh_entry_dir,
    remove_entry_dir,
)


def test_state_round_trips_through_its_file(tmp_path: Path) -> None:
    state = FlowState(key="k", matched_key="m", key_changes=["a"], notes=["n"])
    path = tmp_path / "state.json"
    state.write(path)
    assert FlowState.read(path) == state


def _refused_by_actions_cache(path: str) -> bool:
    """@actions/glob's rule: no ``..`` segment, ``.`` only as the first one."""
    segments = [part for part in path.split("/") if part]
    return any(part == ".." or (part == "." and i > 0) for i, part in enumerate(segments))


def test_cache_paths_are_workspace_relative_and_never_climb_out(tmp_path: Path) -> None:
    workspace = tmp_path / "work" / "repo" / "repo"
    env = {"GITHUB_WORKSPACE": str(workspace), "RUNNER_TEMP": str(tmp_path / "work" / "_temp")}
    entry = entry_path_for_cache(env)
    assert entry == ".pyo3-cache-entry"
    assert entry_dir(env) == workspace / ".pyo3-cache-entry"
    assert cache_path_string(workspace / "dist", env) == "dist"
    assert cache_path_string(workspace, env) == "."
    # outside the workspace: absolute, not ../../_temp (actions/cache refuses that)
    outside = tmp_path / "work" / "_temp" / "x"
    assert cache_path_string(outside, env) == str(outside)
    for path in (entry, "dist", ".", str(outside)):
        assert not _refused_by_actions_cache(path), path
    # a runner moved elsewhere gives the same strings: the entry's version holds
    moved = {"GITHUB_WORKSPACE": str(tmp_path / "elsewhere" / "repo")}
    assert entry_path_for_cache(moved) == entry


def test_a_link_at_the_entry_dir_is_removed_not_followed(tmp_path: Path) -> None:
    decoy = tmp_path / "decoy"
    decoy.mkdir()
    (decoy / "keep.txt").write_text("mine", encoding="utf-8")
    workspace = tmp_path / "ws"
    workspace.mkdir()
    folder = entry_dir({"GITHUB_WORKSPACE": str(workspace)})
    folder.symlink_to(decoy, target_is_directory=True)  # a build step planted it
    made = fresh_entry_dir(folder)
    assert made.is_dir() and not made.is_symlink() and list(made.iterdir()) == []
    assert (decoy / "keep.txt").read_text(encoding="utf-8") == "mine"
    (made / "x").write_text("entry", encoding="utf-8")
    remove_entry_dir(made)
    assert not made.exists() and (decoy / "keep.txt").exists()
