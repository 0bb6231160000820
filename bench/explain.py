"""P4: `explain` parse throughput and memory on a large generated log.

Generates GitHub-style logs (timestamp prefix on every line) from the recorded
fixtures (verbose cargo output with long `Running` lines, JSON messages,
CARGO_LOG fingerprint lines): "typical" mixes in 9x as much other CI output,
"dense" is cargo output only.  Measured side by side in one run:

* `grep -c Dirty` on the file (the floor: a C scan that understands nothing);
* `explain_recompiles` on the file, in a child process, with its peak RSS;
* the same on a log half the size: memory grows with the units the report
  holds (one per package and cargo invocation), not with the bytes read.

Usage: .venv/bin/python bench/explain.py [--size 200]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures" / "cargo-logs"

CHILD = """
import resource, sys, time
from pyo3_cache import explain_recompiles
start = time.perf_counter()
report = explain_recompiles(sys.argv[1])
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(seconds, peak_kib, len(report.invocations), report.counts["rebuilt"])
"""


FILLER = [
    "tests/test_api.py::test_roundtrip[case-{i}] PASSED                       [ 42%]",
    "warning: unused variable: `value_{i}`",
    "  --> src/lib.rs:{i}:9",
    "   |",
    "{i} |     let value_{i} = compute(input);",
    "   |         ^^^^^^^ help: if this is intentional, prefix it with an underscore",
    "npm WARN deprecated inflight@1.0.6: This module is not supported, and leaks memory",
    "Collecting numpy>=1.24 (from -r requirements.txt (line {i}))",
    "  Downloading numpy-2.1.0-cp311-cp311-manylinux_2_17_x86_64.whl (16.3 MB)",
    "INFO:root:processed batch {i} in 0.{i}s",
]


def _cargo_block() -> bytes:
    pieces = []
    for name in sorted(FIXTURES.glob("*/*.log")):
        lines = name.read_text().splitlines(True)[1:]
        if name.parent.name != "github":
            lines = [f"2026-11-26T10:00:00.1234567Z {ln}" for ln in lines]
        pieces.append("".join(lines).encode())
    return b"".join(pieces)


def generate(path: Path, size_mb: int, filler_per_cargo_byte: int) -> int:
    """Repeat the recorded cargo output, with `filler_per_cargo_byte` x as much other output."""
    block = _cargo_block()
    filler_lines = []
    i = 0
    while sum(map(len, filler_lines)) < len(block) * filler_per_cargo_byte:
        line = FILLER[i % len(FILLER)].format(i=i)
        filler_lines.append(f"2026-11-26T10:00:01.{i % 10_000_000:07d}Z {line}\n".encode())
        i += 1
    unit = b"".join(filler_lines) + block
    target = size_mb * 1024 * 1024
    written = 0
    with path.open("wb") as out:
        while written < target:
            out.write(unit)
            written += len(unit)
    return written


def run_explain(path: Path) -> tuple[float, int, int, int]:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2]), int(out[3])


def measure(tmp: Path, label: str, size_mb: int, filler: int) -> None:
    big, half = tmp / f"{label}.log", tmp / f"{label}-half.log"
    size = generate(big, size_mb, filler)
    half_size = generate(half, max(1, size_mb // 2), filler)
    mb = size / 1e6
    start = time.perf_counter()
    grep = subprocess.run(["grep", "-c", "Dirty", str(big)], capture_output=True, text=True)
    grep_s = time.perf_counter() - start
    seconds, peak_kib, invocations, rebuilt = run_explain(big)
    half_seconds, half_peak_kib, half_inv, _ = run_explain(half)
    print(f"[{label}] {mb:.0f} MB, {invocations} cargo invocations, {rebuilt} rebuilt units")
    print(f"  grep -c Dirty: {grep_s:.2f} s ({mb / grep_s:.0f} MB/s), {grep.stdout.strip()} lines")
    rate, peak = mb / seconds, peak_kib / 1024
    print(f"  explain:       {seconds:.2f} s ({rate:.1f} MB/s), peak RSS {peak:.0f} MiB")
    print(
        f"  explain on {half_size / 1e6:.0f} MB ({half_inv} invocations): {half_seconds:.2f} s, "
        f"peak RSS {half_peak_kib / 1024:.0f} MiB"
    )
    print(f"  ratio explain/grep time: {seconds / grep_s:.0f}x")
    big.unlink()
    half.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200, help="log size in MB (default 200)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # typical: a CI job log where cargo's lines are ~1 byte in 10 (tests, warnings, pip...)
        measure(Path(tmp), "typical", args.size, 9)
        # dense: nothing but cargo output (verbose, JSON and CARGO_LOG fixtures back to back)
        measure(Path(tmp), "dense", args.size, 0)
    print(
        f"(bench driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)"
    )


if __name__ == "__main__":
    main()
