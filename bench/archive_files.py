"""Pack and unpack of many small files: our archiver against GNU tar + zstd, side by side.

A cargo registry's extracted sources are thousands of files of a few KiB,
where a target dir is a few hundred large ones; per-member costs show there.
The tree timed is real: ``--tree DIR`` (any folder), or by default the
extracted sources of a project's locked packages (``--manifest``, default
examples/hello-pyo3), which ``cargo metadata`` extracts into a fresh
CARGO_HOME after ``cargo fetch``.

Each round packs the tree and unpacks it into a new folder with every
implementation in turn: ours (this checkout's ``src/``, and ``--also SRC``
for another checkout's ``src/``, e.g. an older commit in a git worktree) and
``tar -c | zstd -2 --long=27 -T0`` / ``zstd -d | tar -x``. Each runs in a
child process, after ``sync``. ``--where /dev/shm`` puts the work on tmpfs,
which leaves out the disk and shows the CPU cost alone.

Usage: .venv/bin/python bench/archive_files.py [--rounds 5] [--where DIR]
       [--tree DIR | --manifest Cargo.toml] [--also OTHER/src] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ANCHOR = "tree"

# Run by a child process: pack SRC into ARCHIVE, unpack it into DEST, print the times.
CHILD = """
import json, sys, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
from pyo3_cache.cache.archive import ArchiveRoot, create_archive
from pyo3_cache.cache.extract import extract_archive
src, archive, dest = map(Path, sys.argv[2:5])
t = time.perf_counter()
stats = create_archive([ArchiveRoot("tree", src)], archive)
pack = time.perf_counter() - t
import os; os.sync()
t = time.perf_counter()
extract_archive(archive, {"tree": dest / "tree"})
unpack = time.perf_counter() - t
print(json.dumps({"pack": pack, "unpack": unpack, "members": stats.members,
                  "bytes": stats.source_bytes, "archive": stats.archive_bytes}))
"""


def _tar(src: Path, archive: Path, dest: Path) -> dict[str, float]:
    t = time.perf_counter()
    subprocess.run(
        f"tar -C {_q(src)} -c . | zstd -q -2 --long=27 -T0 -c > {_q(archive)}",
        shell=True,
        check=True,
    )
    pack = time.perf_counter() - t
    os.sync()
    (dest / ANCHOR).mkdir(parents=True)
    t = time.perf_counter()
    subprocess.run(
        f"zstd -q -dc --long=31 {_q(archive)} | tar -x -C {_q(dest / ANCHOR)}",
        shell=True,
        check=True,
    )
    return {"pack": pack, "unpack": time.perf_counter() - t, "archive": archive.stat().st_size}


def _ours(src_dir: Path, tree: Path, archive: Path, dest: Path) -> dict[str, float]:
    env = {**os.environ, "PYO3_CACHE_ZSTD": "cli"}  # the action's path: the zstd command
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(src_dir), str(tree), str(archive), str(dest)],
        capture_output=True,
        text=True,
        env=env,
    )
    if proc.returncode:
        raise SystemExit(f"archive_files: the run with {src_dir} failed:\n{proc.stderr[-2000:]}")
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _q(path: Path) -> str:
    return shlex.quote(str(path))


def registry_sources(manifest: Path, home: Path) -> Path:
    """The extracted sources of ``manifest``'s locked packages, in a fresh CARGO_HOME."""
    env = {**os.environ, "CARGO_HOME": str(home)}
    for cmd in (["cargo", "fetch", "--locked"], ["cargo", "metadata", "--format-version", "1"]):
        proc = subprocess.run(
            [*cmd, "--manifest-path", str(manifest)], env=env, capture_output=True, text=True
        )
        if proc.returncode:
            raise SystemExit(f"archive_files: {' '.join(cmd)} failed: {proc.stderr.strip()[-500:]}")
    return home / "registry" / "src"


def _count(tree: Path) -> tuple[int, int]:
    files = size = 0
    for folder, _dirs, names in os.walk(tree):
        for name in names:
            files += 1
            size += os.lstat(os.path.join(folder, name)).st_size
    return files, size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--where", type=Path, help="work folder's parent (default: /tmp)")
    parser.add_argument("--tree", type=Path, help="the folder to pack (default: registry sources)")
    parser.add_argument("--manifest", type=Path, default=REPO / "examples/hello-pyo3/Cargo.toml")
    parser.add_argument("--also", type=Path, action="append", default=[], help="another src/")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    for other in args.also:
        if not (other / "pyo3_cache" / "cache" / "archive.py").is_file():
            parser.error(f"--also {other}: not a src/ folder holding pyo3_cache")
    if shutil.which("zstd") is None or shutil.which("tar") is None:
        parser.error("needs the zstd and tar commands")
    work = Path(tempfile.mkdtemp(prefix="archive-files-", dir=args.where))
    try:
        tree = args.tree or registry_sources(args.manifest.resolve(), work / "cargo-home")
        if not tree.is_dir():
            parser.error(f"--tree {tree}: not a folder")
        files, size = _count(tree)
        impls = {"ours": REPO / "src", **{f"also:{p}": p for p in args.also}, "tar + zstd": None}
        times: dict[str, list[dict[str, float]]] = {name: [] for name in impls}
        for r in range(args.rounds):
            for i, (name, src_dir) in enumerate(impls.items()):
                run = work / f"round{r}-{i}"
                run.mkdir()
                os.sync()
                archive, dest = run / "a.tar.zst", run / "out"
                got = (
                    _tar(tree, archive, dest)
                    if src_dir is None
                    else _ours(src_dir, tree, archive, dest)
                )
                times[name].append(got)
                shutil.rmtree(run)
        result = {
            "tree": "registry sources of " + args.manifest.parent.name
            if args.tree is None
            else "--tree",
            "files": files,
            "bytes": size,
            "where": "tmpfs" if str(work).startswith("/dev/shm") else "disk",
            "rounds": args.rounds,
            "median": {
                name: {key: statistics.median(t[key] for t in runs) for key in ("pack", "unpack")}
                | {"archive": runs[0]["archive"]}
                for name, runs in times.items()
            },
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base = result["median"]["tar + zstd"]
    print(
        f"{result['tree']}: {files} files, {size / 1e6:.1f} MB, {result['where']}, "
        f"medians of {args.rounds} rounds"
    )
    print("| implementation | pack (s) | unpack (s) | pack / tar | unpack / tar | archive (MB) |")
    print("|---|---|---|---|---|---|")
    for name, m in result["median"].items():
        print(
            f"| {name} | {m['pack']:.3f} | {m['unpack']:.3f} | {m['pack'] / base['pack']:.2f} | "
            f"{m['unpack'] / base['unpack']:.2f} | {m['archive'] / 1e6:.1f} |"
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
