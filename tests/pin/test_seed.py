"""seed.py: a secondary interpreter's target dir starts as a copy of the primary's."""

from __future__ import annotations

import os
from pathlib import Path

from pyo3_cache.pin.seed import seed_target_dir
from tests.cache.cargo_dirs import cargo_target_dir


def _primary(root: Path) -> Path:
    target = cargo_target_dir(root / "target")
    for rel in (
        "release/.fingerprint/syn-1/lib-syn",
        "release/deps/libsyn-1.rlib",
        "release/build/pyo3-build-config-2/out/pyo3-build-config.txt",
        "release/incremental/x/y",
        "x86_64-unknown-linux-gnu/release/.fingerprint/syn-3/lib-syn",
        "pyo3-cache/targets/other/release/.fingerprint/z-1/lib-z",
        "maturin/pyo3-config.txt",
        "wheels/a.whl",
    ):
        (target / rel).parent.mkdir(parents=True, exist_ok=True)
        (target / rel).write_text(rel)
    return target


def _files(root: Path) -> list[str]:
    return sorted(
        str(Path(folder, f).relative_to(root)) for folder, _, files in os.walk(root) for f in files
    )


def test_the_profiles_are_copied_not_linked_and_nothing_else(tmp_path: Path) -> None:
    primary = _primary(tmp_path)
    secondary = primary / "pyo3-cache" / "targets" / "pp39-abc"
    copied = seed_target_dir(primary, secondary)
    assert _files(secondary) == [
        "CACHEDIR.TAG",
        "release/.fingerprint/syn-1/lib-syn",
        "release/build/pyo3-build-config-2/out/pyo3-build-config.txt",
        "release/deps/libsyn-1.rlib",
        "x86_64-unknown-linux-gnu/release/.fingerprint/syn-3/lib-syn",
    ]
    assert copied == 4  # the profiles' files
    # cargo rewrites fingerprints in place: the primary's must not change with them
    fingerprint = secondary / "release/.fingerprint/syn-1/lib-syn"
    assert fingerprint.stat().st_nlink == 1
    fingerprint.write_text("rewritten by cargo")
    assert (primary / "release/.fingerprint/syn-1/lib-syn").read_text().endswith("lib-syn")
    assert [p.name for p in secondary.parent.iterdir() if p.name.startswith(".")] == []


def test_an_existing_dir_or_an_empty_primary_is_left_to_cargo(tmp_path: Path) -> None:
    primary = _primary(tmp_path)
    existing = tmp_path / "existing"
    existing.mkdir()
    assert seed_target_dir(primary, existing) == 0 and list(existing.iterdir()) == []
    empty = cargo_target_dir(tmp_path / "empty")  # nothing built there yet
    assert seed_target_dir(empty, tmp_path / "new") == 0
    assert not (tmp_path / "new").exists()


def test_an_untagged_primary_still_seeds_and_the_copy_is_tagged(tmp_path: Path) -> None:
    """`pin` makes target/pyo3-cache/ before cargo runs, so cargo never tags target/."""
    primary = _primary(tmp_path)
    (primary / "CACHEDIR.TAG").unlink()
    secondary = tmp_path / "second"
    assert seed_target_dir(primary, secondary) == 4
    assert (
        (secondary / "CACHEDIR.TAG")
        .read_text()
        .startswith("Signature: 8a477f597d28d172789f06886806bc55")
    )


def test_a_failed_copy_leaves_nothing_half_made(tmp_path: Path) -> None:
    primary = _primary(tmp_path)
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    blocked.chmod(0o500)  # cannot create the temp folder beside the destination
    try:
        if os.access(blocked, os.W_OK):  # root ignores modes
            return
        assert seed_target_dir(primary, blocked / "pp39") == 0
        assert list(blocked.iterdir()) == []
    finally:
        blocked.chmod(0o700)
