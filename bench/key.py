"""P3: time to compute the cache key for a ~600-package lockfile (goal ≤ 0.5 s).

The project: polars-runtime-32 2.1.0's real Cargo.lock (583 packages, committed
in tests/fixtures/lockfiles/, taken from its PyPI sdist), a workspace root
whose ``members = ["crates/*"]`` glob finds 31 generated member crates (polars
has 31 under crates/; each generated Cargo.toml names 12 of the lockfile's
crates as dependencies), and examples/hello-pyo3's pyproject.toml.

Measured side by side in one run, interleaved, median of ``--runs``:

* ``sha256sum`` over the same files (Cargo.lock, every Cargo.toml,
  pyproject.toml) — what a plain "hash the files" key costs;
* ``rustc -vV`` alone, and ``sha256sum`` + ``rustc -vV`` (rust-cache's inputs);
* ``compute_key()``, the library call (``rustc -vV``, ``maturin --version``
  and one interpreter probe included, run side by side in threads);
* ``pyo3-cache key``, the CLI process (adds Python's start-up and imports);
* ``pyo3-cache --version``: that start-up and import cost alone.

The environment is the project's: the venv's maturin first on PATH, the
rustup-managed ``rustc``, ``--python`` = this interpreter.

Usage: .venv/bin/python bench/key.py [--runs 15]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import EXAMPLE, REPO, pyo3_cache, ratio, tool_env, tool_versions

from pyo3_cache import compute_key

LOCKFILE = REPO / "tests" / "fixtures" / "lockfiles" / "polars-runtime-32.Cargo.lock"
MEMBERS = 31


def make_project(root: Path) -> list[Path]:
    """The benchmark workspace; returns the files a plain hash would read."""
    lock_text = LOCKFILE.read_text()
    found = re.findall(r'^name = "([^"]+)"\nversion = "([^"]+)"', lock_text, re.M)
    crates = sorted(dict(found).items())  # one version per name: a manifest names a crate once
    root.mkdir(parents=True)
    (root / "Cargo.lock").write_text(lock_text)
    (root / "Cargo.toml").write_text(
        '[workspace]\nresolver = "2"\nmembers = ["crates/*"]\n\n'
        '[workspace.package]\nversion = "2.1.0"\nedition = "2021"\n'
    )
    shutil.copy(EXAMPLE / "pyproject.toml", root / "pyproject.toml")
    files = [root / "Cargo.lock", root / "Cargo.toml", root / "pyproject.toml"]
    for index in range(MEMBERS):
        member = root / "crates" / f"member-{index:02d}"
        member.mkdir(parents=True)
        deps = crates[index * 12 % len(crates) :][:12]
        lines = [f'{name} = "={version}"' for name, version in deps]
        (member / "Cargo.toml").write_text(
            f'[package]\nname = "member-{index:02d}"\nversion.workspace = true\n'
            "edition.workspace = true\n\n[dependencies]\n" + "\n".join(lines) + "\n"
        )
        files.append(member / "Cargo.toml")
    return files


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()

    env = tool_env()
    with tempfile.TemporaryDirectory(prefix="pyo3-cache-bench-key-") as tmp:
        project = Path(tmp) / "polars-like"
        files = make_project(project)
        manifest = compute_key(project, python=sys.executable, environ=env)
        packages = sum(1 for ln in LOCKFILE.read_text().splitlines() if ln == "[[package]]")
        lock_inputs = manifest.part("lock").inputs
        size = sum(f.stat().st_size for f in files)

        def sha256sum() -> None:
            subprocess.run(["sha256sum", *map(str, files)], check=True, capture_output=True)

        def rustc() -> None:
            subprocess.run(["rustc", "-vV"], check=True, capture_output=True, env=env)

        def library() -> None:
            compute_key(project, python=sys.executable, environ=env)

        def cli() -> None:
            pyo3_cache("key", "--manifest-path", str(project), "--python", sys.executable, env=env)

        def startup() -> None:
            pyo3_cache("--version", env=env)

        routes: dict[str, Callable[[], None]] = {
            "sha256sum": sha256sum,
            "rustc -vV": rustc,
            "compute_key()": library,
            "pyo3-cache key": cli,
            "pyo3-cache --version": startup,
        }
        for action in routes.values():  # warm the page cache and rustup once
            action()
        times: dict[str, list[float]] = {name: [] for name in routes}
        for _ in range(args.runs):
            for name, action in routes.items():
                times[name].append(timed(action))

    med = {name: statistics.median(values) for name, values in times.items()}
    floor = med["sha256sum"] + med["rustc -vV"]
    print(f"versions: {tool_versions()}")
    print(
        f"project: {packages} locked packages, {len(lock_inputs)} lock inputs, "
        f"{len(files)} files, {size / 1024:.0f} KiB"
    )
    print(f"median of {args.runs} interleaved runs:")
    for name, value in med.items():
        print(f"  {name:<26} {value:.3f} s")
    print(f"  {'sha256sum + rustc -vV':<26} {floor:.3f} s")
    print("ratios:")
    print(
        f"  compute_key() / sha256sum             {ratio(med['compute_key()'], med['sha256sum'])}"
    )
    print(f"  compute_key() / (sha256sum+rustc -vV) {ratio(med['compute_key()'], floor)}")
    print(f"  pyo3-cache key / (sha256sum+rustc -vV) {ratio(med['pyo3-cache key'], floor)}")
    goal = "met" if med["pyo3-cache key"] <= 0.5 else "NOT met"
    print(f"goal ≤ 0.5 s for the CLI: {goal} ({med['pyo3-cache key']:.3f} s)")


if __name__ == "__main__":
    main()
