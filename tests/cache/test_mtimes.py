"""mtimes: unchanged files get their cached mtime back; changed ones do not."""

from __future__ import annotations

import json
import os
from pathlib import Path

from pyo3_cache.cache.mtimes import record_source_mtimes, restore_source_mtimes


def _tree(root: Path) -> None:
    (root / "src").mkdir(parents=True)
    (root / "src" / "lib.rs").write_text("fn a() {}\n")
    (root / "Cargo.toml").write_text("[package]\n")
    (root / "target" / "debug").mkdir(parents=True)
    (root / "target" / "debug" / "out.rlib").write_text("binary")


def test_fresh_checkout_gets_recorded_mtimes_for_unchanged_files(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _tree(ws)
    os.utime(ws / "src" / "lib.rs", ns=(1, 1_000_000_123))
    record = tmp_path / "record.json"
    count = record_source_mtimes(ws, record, skip=(ws / "target",))
    assert count == 2  # target/ is not recorded
    # a new checkout: same content, new mtimes
    os.utime(ws / "src" / "lib.rs")
    os.utime(ws / "Cargo.toml")
    (ws / "Cargo.toml").write_text("[package]\nname = 'changed'\n")
    stats = restore_source_mtimes(ws, record)
    assert (stats.restored, stats.changed, stats.missing) == (1, 1, 0)
    assert (ws / "src" / "lib.rs").stat().st_mtime_ns == 1_000_000_123
    assert (ws / "Cargo.toml").stat().st_mtime_ns != 1_000_000_123


def test_record_holds_no_absolute_paths(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _tree(ws)
    record = tmp_path / "record.json"
    record_source_mtimes(ws, record)
    assert str(tmp_path) not in record.read_text()


def test_hostile_record_cannot_touch_files_outside_the_workspace(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _tree(ws)
    outside = tmp_path / "outside.txt"
    outside.write_text("x")
    before = outside.stat().st_mtime_ns
    import hashlib

    digest = hashlib.sha256(b"x").hexdigest()
    record = tmp_path / "record.json"
    record.write_text(
        json.dumps(
            {
                "version": 1,
                "files": {
                    "../outside.txt": [1, digest, 5],
                    str(outside): [1, digest, 5],
                },
            }
        )
    )
    stats = restore_source_mtimes(ws, record)
    assert stats.restored == 0
    assert outside.stat().st_mtime_ns == before


def test_corrupt_record_is_ignored(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _tree(ws)
    record = tmp_path / "record.json"
    for content in (
        "not json",
        "[]",
        '{"version": 99, "files": {}}',
        '{"version": 1, "files": {"src/lib.rs": ["a"]}}',
    ):
        record.write_text(content)
        assert restore_source_mtimes(ws, record).restored == 0
