"""bench/archive_files.py: our archiver and tar + zstd on one tree, side by side."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "bench" / "archive_files.py"

pytestmark = pytest.mark.skipif(
    shutil.which("zstd") is None or shutil.which("tar") is None, reason="zstd and tar commands"
)


def _tree(root: Path) -> Path:
    for i in range(60):
        folder = root / f"pkg-{i % 7}" / "src"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{i}.rs").write_text("fn f() {}\n" * (i + 1))
    return root


def test_both_implementations_pack_and_unpack_the_tree_and_the_ratios_are_printed(
    tmp_path: Path,
) -> None:
    tree = _tree(tmp_path / "tree")
    out = tmp_path / "r.json"
    cmd = [sys.executable, str(SCRIPT), "--rounds", "1", "--tree", str(tree)]
    cmd += ["--where", str(tmp_path), "--json", str(out), "--also", str(REPO / "src")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["files"] == 60
    assert set(result["median"]) == {"ours", f"also:{REPO / 'src'}", "tar + zstd"}
    for timing in result["median"].values():
        assert timing["pack"] > 0 and timing["unpack"] > 0 and timing["archive"] > 0
    assert "| ours |" in proc.stdout and "| tar + zstd |" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.json", "tree"]  # work folder gone


def test_a_folder_that_is_no_checkout_is_refused_in_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--also", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "not a src/ folder holding pyo3_cache" in proc.stderr.strip().splitlines()[-1]
