"""P5: cache size, save/restore time and rebuilt crates — our prune vs rust-cache's cleanup.

On one warm build of examples/hello-pyo3 (pinned `uv build` = release, plus a
`cargo build` = dev), the same target dir is cleaned three ways, archived into
a dir: store, wiped, restored, and built again as the next CI run would
(restore → `pyo3-cache pin` → `uv build` + `cargo build`):

- ``as built``: no cleanup;
- ``pyo3-cache prune``: our rules (src/pyo3_cache/cache/prune.py);
- ``rust-cache rules``: Swatinem/rust-cache v2's documented target cleanup,
  reproduced here: every folder of target/ (unless it is a nested target) is
  a profile, reduced to build/, .fingerprint/ and deps/, and inside those to
  entries named after non-workspace packages (hash suffix stripped; deps/
  also ``lib<name>``, dashes as underscores); files at target/'s top level
  except CACHEDIR.TAG go too. So target/maturin, our target/pyo3-cache,
  workspace members' units and incremental/ are deleted.

Only the target dir is archived (the cargo-home part is identical for both).
Each cleaned tree is measured two ways: pyo3-cache's archive (what our
action hands actions/cache to store, and what dir:/s3: stores hold), and the
entry @actions/cache makes of the same folder (GNU ``tar --posix`` piped into
``zstd -T0 --long=30``; what rust-cache users get). The headline compares the
entries each tool really stores; the same-archiver ratios compare content.
Restore times are the median of three restores of each entry.
Usage: .venv/bin/python bench/store.py [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_copy, pyo3_cache, ratio, run, tool_env, tool_versions, uv_build
from _rust_cache import actions_cache_archive, actions_cache_extract

from pyo3_cache.cache.dir_store import DirStore
from pyo3_cache.cache.places import Places, anchored_roots
from pyo3_cache.cache.prune import prune_target, tree_bytes
from pyo3_cache.cache.restore import restore_cache
from pyo3_cache.cache.save import save_cache
from pyo3_cache.project import read_lockfile

RESTORES = 3


def _strip_hash(name: str) -> str:
    head, dash, _tail = name.rpartition("-")
    return head if dash else name


def rust_cache_rules(target: Path, dependency_names: set[str]) -> None:
    """rust-cache v2's target cleanup as its README and cleanup.ts describe it (our code)."""
    keep_deps = set()
    for name in dependency_names:
        under = name.replace("-", "_")
        keep_deps |= {under, f"lib{under}"}
    for child in list(target.iterdir()):
        if child.is_dir():
            if (child / "CACHEDIR.TAG").exists() or (child / ".rustc_info.json").exists():
                rust_cache_rules(child, dependency_names)
                continue
            for sub in list(child.iterdir()):
                if sub.name not in ("build", ".fingerprint", "deps"):
                    _rm(sub)
            for sub, names in (
                ("build", dependency_names),
                (".fingerprint", dependency_names),
                ("deps", keep_deps),
            ):
                folder = child / sub
                for entry in list(folder.iterdir()) if folder.is_dir() else []:
                    if _strip_hash(entry.name) not in names:
                        _rm(entry)
        elif child.name != "CACHEDIR.TAG":
            child.unlink()


def _rm(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _copy(src: Path, dst: Path) -> None:
    """An exact copy: mtimes, and the hard links cargo makes (uplifted outputs) kept."""
    if dst.exists():
        shutil.rmtree(dst)
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True)


def _next_build(project: Path, out: Path) -> tuple[list[str], float]:
    """What the next CI run does after a restore: pin, then the release and dev builds."""
    pinned = pyo3_cache("pin", "--format", "json", cwd=project, env=tool_env())
    env = tool_env(**json.loads(pinned)["env"])
    release = uv_build(project, env, out)
    dev = run(["cargo", "build", "-v"], project, env).check()
    return release.compiled + [f"{c} (dev)" for c in dev.compiled], release.wall_s + dev.wall_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, help="keep files here (default: a temp dir)")
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="pyo3-cache-bench-store."))
    work.mkdir(parents=True, exist_ok=True)
    checkout = work / "job" / "hello-pyo3"
    checkout.parent.mkdir(parents=True, exist_ok=True)
    fresh_copy(checkout)

    print("building the example once (pinned uv build + cargo build)...", file=sys.stderr)
    _next_build(checkout, work / "dist")
    warm = work / "warm"
    _copy(checkout, warm)
    lock = read_lockfile(checkout / "Cargo.lock")
    dependencies = {p.name for p in lock if not p.is_local}

    rows = []
    for label in ("as built", "pyo3-cache prune", "rust-cache rules"):
        _copy(warm, checkout)
        target = checkout / "target"
        before = tree_bytes(target)
        started = time.perf_counter()
        if label == "pyo3-cache prune":
            prune_target(target)
        elif label == "rust-cache rules":
            rust_cache_rules(target, dependencies)
        clean_s = time.perf_counter() - started
        places = Places(target=target, cargo_home=work / "unused-cargo-home", workspace=checkout)
        store = DirStore(work / f"store-{label.split()[0]}")
        shutil.rmtree(store.root, ignore_errors=True)
        saved = save_cache(store, "bench", anchored_roots(places, [target]), max_bytes=None)
        assert saved.saved, saved.warnings
        entry = work / "actions-cache-entry.tar.zst"
        mark = time.perf_counter()
        actions_cache_bytes = actions_cache_archive([str(target.resolve()).lstrip("/")], entry)
        actions_cache_s = time.perf_counter() - mark
        extract_times = []
        for _ in range(RESTORES):  # actions/cache's restore: zstd -d --long=30 | tar -x
            shutil.rmtree(target)
            mark = time.perf_counter()
            actions_cache_extract(entry)
            extract_times.append(time.perf_counter() - mark)
        entry.unlink()
        restore_times = []
        for _ in range(RESTORES):  # the median of a few: one restore is under a second
            shutil.rmtree(target)
            restored = restore_cache(store, "bench", places)
            assert restored.hit, restored.warnings
            restore_times.append(restored.seconds)
        compiled, build_s = _next_build(checkout, work / "dist")
        rows.append(
            {
                "cleanup": label,
                "target_bytes": before,
                "cached_bytes": saved.source_bytes,
                "archive_bytes": saved.archive_bytes,
                "actions_cache_bytes": actions_cache_bytes,
                "actions_cache_s": actions_cache_s,
                "actions_cache_restore_s": statistics.median(extract_times),
                "clean_s": clean_s,
                "save_s": saved.seconds,
                "restore_s": statistics.median(restore_times),
                "rebuilt": compiled,
                "build_s": build_s,
            }
        )

    versions = tool_versions()
    print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    print(
        "| cleanup | target dir | archived (unpacked) | pyo3-cache archive "
        "| actions/cache entry | cleanup time "
        "| save | restore | crates rebuilt next build | next build wall |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        rebuilt = r["rebuilt"]
        print(
            f"| {r['cleanup']} | {r['target_bytes'] / 2**20:.1f} MiB "
            f"| {r['cached_bytes'] / 2**20:.1f} MiB | {r['archive_bytes'] / 2**20:.1f} MiB "
            f"| {r['actions_cache_bytes'] / 2**20:.1f} MiB "
            f"| {r['clean_s']:.2f} s | {r['save_s']:.2f} s | {r['restore_s']:.2f} s "
            f"| {len(rebuilt)}{' (' + ', '.join(rebuilt) + ')' if rebuilt else ''} "
            f"| {r['build_s']:.1f} s |"
        )
    ours = next(r for r in rows if r["cleanup"] == "pyo3-cache prune")
    theirs = next(r for r in rows if r["cleanup"] == "rust-cache rules")
    print()
    print(
        "entry size (P5), ours as stored (pyo3-cache archive) / rust-cache as stored "
        f"(actions/cache): {ratio(ours['archive_bytes'], theirs['actions_cache_bytes'])}"
    )
    print(
        "content only, both through pyo3-cache's archiver: "
        f"{ratio(ours['archive_bytes'], theirs['archive_bytes'])}; "
        "both through actions/cache's: "
        f"{ratio(ours['actions_cache_bytes'], theirs['actions_cache_bytes'])}"
    )
    print(
        "archiving time, ours (pyo3-cache archive) / rust-cache (actions/cache's tar | zstd): "
        f"{ratio(ours['save_s'], theirs['actions_cache_s'])} "
        f"({ours['save_s']:.2f} s / {theirs['actions_cache_s']:.2f} s)"
    )
    print(f"save time, both through pyo3-cache: {ratio(ours['save_s'], theirs['save_s'])}")
    print(
        "restore time, ours (pyo3-cache) / rust-cache (actions/cache's zstd -d | tar -x): "
        f"{ratio(ours['restore_s'], theirs['actions_cache_restore_s'])} "
        f"({ours['restore_s']:.2f} s / {theirs['actions_cache_restore_s']:.2f} s)"
    )
    print(f"restore time, both through pyo3-cache: {ratio(ours['restore_s'], theirs['restore_s'])}")
    print(f"next build wall ours / rust-cache: {ratio(ours['build_s'], theirs['build_s'])}")
    print(f"crates rebuilt: ours {len(ours['rebuilt'])}, rust-cache {len(theirs['rebuilt'])}")
    if not args.workdir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
