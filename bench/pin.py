"""Benchmark `pin` on the real example crate, side by side in one run.

P1: a warm `uv build --wheel` rebuild, unpinned vs pinned: crates recompiled
    and cargo's own time, as a ratio.
P2: the time to produce the config: `pyo3-cache pin` (CLI and library call) vs
    PyO3's `PYO3_PRINT_CONFIG=1` cargo route for the same interpreter (warm
    target dir; the build script reruns and prints), as a ratio.

Usage: python bench/pin.py [--runs N] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import fresh_copy, pyo3_cache, ratio, run, tool_env, tool_versions, uv_build

from pyo3_cache import pin_pyo3_config


def p1(project: Path, runs: int, dist: Path) -> dict[str, float]:
    uv_build(project, tool_env(), dist)  # cold build, unpinned
    unpinned = [uv_build(project, tool_env(), dist) for _ in range(runs)]
    manifest = str(project / "Cargo.toml")
    out = pyo3_cache("pin", "--manifest-path", manifest, "--format", "json", env=tool_env())

    pin_env = tool_env(**json.loads(out)["env"])
    uv_build(project, pin_env, dist)  # the config path is new once: one rebuild
    pinned = [uv_build(project, pin_env, dist) for _ in range(runs)]
    res = {
        "unpinned_crates": statistics.median(len(r.compiled) for r in unpinned),
        "pinned_crates": statistics.median(len(r.compiled) for r in pinned),
        "unpinned_cargo_s": statistics.median(r.cargo_s for r in unpinned),
        "pinned_cargo_s": statistics.median(r.cargo_s for r in pinned),
        "unpinned_wall_s": statistics.median(r.wall_s for r in unpinned),
        "pinned_wall_s": statistics.median(r.wall_s for r in pinned),
    }
    print("\nP1  warm `uv build --wheel` rebuild (median of", runs, "runs)")
    print(f"{'':12}{'crates':>8}{'cargo s':>10}{'wall s':>9}")
    print(
        f"{'unpinned':12}{res['unpinned_crates']:>8.0f}{res['unpinned_cargo_s']:>10.2f}"
        f"{res['unpinned_wall_s']:>9.2f}"
    )
    print(
        f"{'pinned':12}{res['pinned_crates']:>8.0f}{res['pinned_cargo_s']:>10.2f}"
        f"{res['pinned_wall_s']:>9.2f}"
    )
    print(
        f"ratio pinned/unpinned: cargo time {ratio(res['pinned_cargo_s'], res['unpinned_cargo_s'])}"
        f", wall {ratio(res['pinned_wall_s'], res['unpinned_wall_s'])}"
        f"; unpinned rebuilt {', '.join(unpinned[-1].compiled)}"
    )
    return res


def p2(project: Path, runs: int) -> dict[str, float]:
    python = sys.executable
    cli: list[float] = []
    lib: list[float] = []
    cargo: list[float] = []
    cold: list[float] = []
    pins = project / "target" / "bench-pins"
    for _ in range(runs):  # interleaved, so machine noise hits all three alike
        start = time.perf_counter()
        pyo3_cache("pin", "--python", python, "--dir", str(pins), "--format", "json", cwd=project)
        cli.append(time.perf_counter() - start)
        start = time.perf_counter()
        pin_pyo3_config(python, directory=pins, manifest_path=project / "Cargo.toml")
        lib.append(time.perf_counter() - start)
        env = tool_env(PYO3_PYTHON=python, PYO3_PRINT_CONFIG="1")
        res = run(["cargo", "build"], project, env)
        if "PYO3_PRINT_CONFIG=1 is set" not in res.output:
            raise SystemExit("PYO3_PRINT_CONFIG route did not print a config")
        cargo.append(res.wall_s)
        # The same route on a fresh runner: no dev-profile artifacts yet, so
        # cargo first compiles pyo3-build-config and its build-script deps.
        with tempfile.TemporaryDirectory(prefix="pyo3-print-config-") as fresh_target:
            res = run(["cargo", "build"], project, dict(env, CARGO_TARGET_DIR=fresh_target))
        if "PYO3_PRINT_CONFIG=1 is set" not in res.output:
            raise SystemExit("PYO3_PRINT_CONFIG route (cold) did not print a config")
        cold.append(res.wall_s)
    med = {
        "pin_cli_s": statistics.median(cli),
        "pin_lib_s": statistics.median(lib),
        "print_config_s": statistics.median(cargo),
        "print_config_cold_s": statistics.median(cold),
    }
    print("\nP2  time to produce the config (median of", runs, "runs)")
    print(f"pyo3-cache pin (CLI process)   {med['pin_cli_s']:.3f} s")
    print(f"pin_pyo3_config (library)      {med['pin_lib_s']:.3f} s")
    print(f"PYO3_PRINT_CONFIG=1 cargo, warm dev target    {med['print_config_s']:.3f} s")
    print(f"PYO3_PRINT_CONFIG=1 cargo, fresh runner       {med['print_config_cold_s']:.3f} s")
    for label, key in (("warm", "print_config_s"), ("fresh runner", "print_config_cold_s")):
        print(
            f"ratio cargo route ({label}) / pin: CLI {med[key] / med['pin_cli_s']:.1f}x, "
            f"library {med[key] / med['pin_lib_s']:.1f}x"
        )
    return med


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="pyo3-cache-bench-pin-"))
    project = fresh_copy(workdir / "hello-pyo3")
    print("bench/pin.py:", ", ".join(f"{k} {v}" for k, v in tool_versions().items()))
    p1(project, args.runs, workdir / "dist")
    subprocess.run(["cargo", "build"], cwd=project, env=tool_env(), capture_output=True)
    p2(project, max(args.runs, 5))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
