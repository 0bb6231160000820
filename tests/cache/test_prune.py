"""prune.py on a synthetic target dir laid out as cargo 1.95 lays it out.

Real builds are in tests/integration/test_store_real.py; here each rule is
shown on a tree small enough to read.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from pyo3_cache.cache.prune import prune_target
from tests.cache.cargo_dirs import cargo_target_dir
from tests.conftest import assert_one_line_error, run_cli

OLD, NEW = 1_700_000_000 * 10**9, 1_700_000_100 * 10**9


def _print(n: int) -> str:
    return n.to_bytes(8, "little").hex()


class Target:
    def __init__(self, root: Path) -> None:
        self.root = cargo_target_dir(root)
        self.profile = root / "release"
        for sub in (".fingerprint", "deps", "build", "incremental/app-xyz"):
            (self.profile / sub).mkdir(parents=True, exist_ok=True)

    def unit(
        self,
        package: str,
        unit_hash: str,
        kind: str,
        value: int,
        deps: tuple[int, ...] = (),
        used: int = NEW,
        outputs: tuple[str, ...] = (".rlib", ".rmeta", ".d"),
        build_dir: bool = False,
    ) -> None:
        folder = self.profile / ".fingerprint" / f"{package}-{unit_hash}"
        folder.mkdir()
        (folder / kind).write_text(_print(value))
        deps_json = [[1, "x", False, d] for d in deps]
        (folder / f"{kind}.json").write_text(json.dumps({"rustc": 1, "deps": deps_json}))
        os.utime(folder / kind, ns=(used, used))
        crate = package.replace("-", "_")
        for ext in outputs:
            prefix = "" if ext == ".d" else "lib"
            (self.profile / "deps" / f"{prefix}{crate}-{unit_hash}{ext}").write_bytes(b"o" * 1000)
        if build_dir:
            out = self.profile / "build" / f"{package}-{unit_hash}" / "out"
            out.mkdir(parents=True)
            (out / "generated.rs").write_text("// build script output")


def _example(tmp_path: Path) -> Target:
    """app (workspace member) was built against dep 1.0, then dep was upgraded to 1.1."""
    t = Target(tmp_path / "target")
    # dep 1.0 and the old app build that used it
    t.unit("dep", "1" * 16, "lib-dep", 101, deps=(301,), used=OLD)
    t.unit("dep", "3" * 16, "run-build-script-build-script-build", 301, used=OLD, outputs=(),
           build_dir=True)  # fmt: skip
    t.unit("app", "a" * 16, "lib-app", 501, deps=(101,), used=OLD)
    # dep 1.1 and the new app build
    t.unit("dep", "2" * 16, "lib-dep", 102, deps=(302,))
    t.unit("dep", "4" * 16, "run-build-script-build-script-build", 302, outputs=(),
           build_dir=True)  # fmt: skip
    t.unit("app", "b" * 16, "lib-app", 502, deps=(102,))
    # the member's cdylib as cargo uplifts it (no hash), maturin and our files
    (t.profile / "deps" / "libapp.so").write_bytes(b"so")
    (t.profile / "libapp.so").write_bytes(b"so")
    for rel in ("maturin/pyo3-config-x86_64.txt", "pyo3-cache/pyo3-config-abc.txt", "wheels/a.whl"):
        (t.root / rel).parent.mkdir(parents=True, exist_ok=True)
        (t.root / rel).write_text("x")
    return t


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_prune_drops_old_versions_and_stale_member_units(tmp_path: Path) -> None:
    t = _example(tmp_path)
    report = prune_target(t.root)
    assert report.units_removed == [
        "release/app-aaaaaaaaaaaaaaaa",
        "release/dep-1111111111111111",
        "release/dep-3333333333333333",
    ]
    assert report.units_kept == 3
    assert _names(t.profile / ".fingerprint") == [
        "app-bbbbbbbbbbbbbbbb",
        "dep-2222222222222222",
        "dep-4444444444444444",
    ]
    assert _names(t.profile / "build") == ["dep-4444444444444444"]
    assert _names(t.profile / "deps") == [
        "app-bbbbbbbbbbbbbbbb.d",
        "dep-2222222222222222.d",
        "libapp-bbbbbbbbbbbbbbbb.rlib",
        "libapp-bbbbbbbbbbbbbbbb.rmeta",
        "libapp.so",
        "libdep-2222222222222222.rlib",
        "libdep-2222222222222222.rmeta",
    ]
    assert not (t.profile / "incremental").exists()
    assert not (t.root / "wheels").exists()
    assert (t.root / "maturin/pyo3-config-x86_64.txt").exists()
    assert (t.root / "pyo3-cache/pyo3-config-abc.txt").exists()
    assert (t.profile / "libapp.so").exists()
    assert report.bytes_after < report.bytes_before
    assert report.bytes_freed == report.bytes_before - report.bytes_after


def test_a_fresh_unit_read_by_the_last_build_counts_as_used(tmp_path: Path) -> None:
    """Written long ago but read (atime) by the last build: it is the one kept."""
    t = Target(tmp_path / "target")
    t.unit("app", "a" * 16, "lib-app", 1, used=NEW)
    t.unit("app", "b" * 16, "lib-app", 2, used=OLD)
    hash_file = t.profile / ".fingerprint" / f"app-{'b' * 16}" / "lib-app"
    os.utime(hash_file, ns=(NEW + 10**9, OLD))  # atime after the other unit's build
    report = prune_target(t.root)
    assert report.units_removed == [f"release/app-{'a' * 16}"]


def test_check_and_build_units_of_a_member_are_both_kept(tmp_path: Path) -> None:
    t = Target(tmp_path / "target")
    t.unit("app", "a" * 16, "lib-app", 1, used=OLD, outputs=(".rmeta", ".d"))  # cargo check
    t.unit("app", "b" * 16, "lib-app", 2, used=NEW)  # cargo build
    assert prune_target(t.root).units_removed == []


def test_dry_run_reports_the_same_and_removes_nothing(tmp_path: Path) -> None:
    t = _example(tmp_path)
    files_before = sorted(str(p) for p in t.root.rglob("*"))
    dry = prune_target(t.root, dry_run=True)
    assert sorted(str(p) for p in t.root.rglob("*")) == files_before
    real = prune_target(t.root)
    assert dry.units_removed == real.units_removed
    assert dry.paths_removed == real.paths_removed
    assert dry.bytes_after == real.bytes_after


def test_prune_twice_removes_nothing_more(tmp_path: Path) -> None:
    t = _example(tmp_path)
    prune_target(t.root)
    again = prune_target(t.root)
    assert again.units_removed == [] and again.bytes_freed == 0


def test_cli_prune_json_and_text(tmp_path: Path) -> None:
    t = _example(tmp_path)
    dry = run_cli("prune", "--target-dir", str(t.root), "--dry-run", "--format", "json")
    assert dry.returncode == 0, dry.stderr
    data = json.loads(dry.stdout)
    assert data["dry_run"] is True and len(data["units_removed"]) == 3
    assert data["bytes_after"] < data["bytes_before"]
    text = run_cli("prune", "--target-dir", str(t.root))
    assert text.returncode == 0, text.stderr
    assert "units kept: 3; removed: 3" in text.stdout
    assert "- release/dep-1111111111111111" in text.stdout


def test_cli_prune_missing_target_dir_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli("prune", "--target-dir", str(tmp_path / "nope"))
    assert_one_line_error(result, 4, "does not exist")


def test_orphaned_dependency_unit_is_dropped_when_members_are_known(tmp_path: Path) -> None:
    """cargo 1.95 rebuilds a cdylib member in the same folder after a lock change, so
    the old dependency unit is left with nothing depending on it."""
    t = Target(tmp_path / "target")
    t.unit("dep", "1" * 16, "lib-dep", 101, used=OLD)  # dep 1.0, orphaned
    t.unit("dep", "2" * 16, "lib-dep", 102)  # dep 1.1
    t.unit("app", "a" * 16, "lib-app", 501, deps=(102,))
    # Without Cargo.lock every top unit may be a member's: keep it (never a rebuild).
    assert prune_target(t.root, dry_run=True).units_removed == []
    (t.root.parent / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "app"\nversion = "0.1.0"\n'
    )
    report = prune_target(t.root)  # reads the members from Cargo.lock beside target/
    assert report.units_removed == ["release/dep-1111111111111111"]


def test_orphaned_library_member_and_its_old_chain_go_after_a_lock_change(
    tmp_path: Path,
) -> None:
    """jiter 0.19's layout: the cdylib member (jiter-python) builds on a library member
    (jiter). After a lock change cargo rebuilds the cdylib in place, so the library's
    old unit is left on top, holding the old dependency chain (seen as a cache that grew
    from 49 to 59 MB in bench/ci_job.py)."""
    t = Target(tmp_path / "target")
    t.unit("dep", "1" * 16, "lib-dep", 101, used=OLD)  # dep 1.0
    t.unit("lib", "a" * 16, "lib-lib", 201, deps=(101,), used=OLD)  # old library member
    t.unit("dep", "2" * 16, "lib-dep", 102)  # dep 1.1
    t.unit("lib", "b" * 16, "lib-lib", 202, deps=(102,))
    t.unit("py", "c" * 16, "lib-py", 301, deps=(202,), outputs=(".d",))
    (t.profile / "deps" / "libpy.so").write_bytes(b"so")
    # Without Cargo.lock every top unit may be a member's: keep it (never a rebuild).
    assert prune_target(t.root, dry_run=True).units_removed == []
    (t.root.parent / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "lib"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "py"\nversion = "0.1.0"\n'
    )
    report = prune_target(t.root)
    assert report.units_removed == ["release/dep-1111111111111111", "release/lib-aaaaaaaaaaaaaaaa"]
    assert _names(t.profile / ".fingerprint") == [
        "dep-2222222222222222",
        "lib-bbbbbbbbbbbbbbbb",
        "py-cccccccccccccccc",
    ]


def test_a_member_library_built_alone_after_the_cdylib_is_kept(tmp_path: Path) -> None:
    """`cargo build -p lib` after the wheel build: its own top unit is the newest, kept."""
    t = Target(tmp_path / "target")
    t.unit("dep", "2" * 16, "lib-dep", 102, used=OLD)
    t.unit("lib", "b" * 16, "lib-lib", 202, deps=(102,), used=OLD)  # the cdylib's
    t.unit("py", "c" * 16, "lib-py", 301, deps=(202,), used=OLD, outputs=(".d",))
    t.unit("lib", "d" * 16, "lib-lib", 203, deps=(102,))  # other features, built later
    (t.root.parent / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "lib"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "py"\nversion = "0.1.0"\n'
    )
    assert prune_target(t.root).units_removed == []


def test_a_secondary_interpreters_target_dir_is_pruned_like_the_main_one(tmp_path: Path) -> None:
    """The cargo wrapper builds other interpreters in target/pyo3-cache/targets/<id>/."""
    t = _example(tmp_path)
    nested = Target(cargo_target_dir(t.root / "pyo3-cache" / "targets" / "cp312-abc"))
    nested.unit("dep", "5" * 16, "lib-dep", 103, used=OLD)  # dep 1.0 and app on it, for 3.12
    nested.unit("app", "d" * 16, "lib-app", 504, deps=(103,), used=OLD)
    nested.unit("dep", "6" * 16, "lib-dep", 104)
    nested.unit("app", "c" * 16, "lib-app", 503, deps=(104,))
    report = prune_target(t.root)
    assert "pyo3-cache/targets/cp312-abc/release/dep-5555555555555555" in report.units_removed
    assert _names(nested.profile / ".fingerprint") == [
        "app-cccccccccccccccc",
        "dep-6666666666666666",
    ]
    assert not (nested.profile / "incremental").exists()
    assert (
        "release" in report.profiles and "pyo3-cache/targets/cp312-abc/release" in report.profiles
    )
    # a link there is not followed
    outside = Target(cargo_target_dir(tmp_path / "outside"))
    outside.unit("dep", "7" * 16, "lib-dep", 105, used=OLD)
    (t.root / "pyo3-cache" / "targets" / "linked").symlink_to(outside.root)
    prune_target(t.root)
    assert _names(outside.profile / ".fingerprint") == ["dep-7777777777777777"]


def test_an_orphan_read_after_the_build_still_goes(tmp_path: Path) -> None:
    """After a lock bump the old dependency unit is left with nothing on it. Some
    step read its hash file after the build (its access time is the newest): it is
    still an orphan, because the new unit of the same package is the one built upon
    (found in a jellyfish lock-bump job that kept 50 MB of old units)."""
    t = Target(tmp_path / "target")
    later = NEW + 10**9
    t.unit("dep", "1" * 16, "lib-dep", 101, used=later)  # old, read after the build
    t.unit("dep", "2" * 16, "lib-dep", 102)
    t.unit("app", "a" * 16, "lib-app", 501, deps=(102,))
    (t.root.parent / "Cargo.lock").write_text(
        'version = 4\n\n[[package]]\nname = "app"\nversion = "0.1.0"\n'
    )
    assert prune_target(t.root).units_removed == ["release/dep-1111111111111111"]


def test_explaining_the_target_dir_leaves_what_prune_reads(tmp_path: Path) -> None:
    """explain compares a rebuilt unit with its older folders; reading them must
    not make the old units look used to prune."""
    from pyo3_cache.explain.target_dir import read_target_dir

    t = _example(tmp_path)
    hash_files = [p for p in (t.profile / ".fingerprint").glob("*/lib-*") if p.suffix != ".json"]
    before = {p: p.stat().st_atime_ns for p in hash_files}
    index = read_target_dir(t.root)
    records = index.units("dep") + index.units("app")
    assert {r.fingerprint for r in records} >= {_print(101), _print(102), _print(501)}
    assert {p: p.stat().st_atime_ns for p in hash_files} == before
    report = prune_target(t.root)
    assert "release/app-aaaaaaaaaaaaaaaa" in report.units_removed
