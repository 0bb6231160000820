"""P4: `explain` parse throughput and memory on a large generated log.

Generates GitHub-style logs (timestamp prefix on every line) from the recorded
fixtures (verbose cargo output with long `Running` lines, JSON messages,
CARGO_LOG fingerprint lines): "typical" mixes in 9x as much other CI output,
"dense" is cargo output only, "coloured" is "dense" with ANSI-coloured
status words and CRLF line ends.  Measured side by side in one run, each
`--runs` times (median reported; the CPU is shared, so the child's CPU time
is reported too):

* `grep -c Dirty` on the file (the floor: a C scan that understands nothing);
* `explain_recompiles` on the file, in a child process: wall time, CPU time
  (user + system) and peak RSS;
* the same on a log half the size: memory grows only with what the report
  must list (rebuilt and new units, one record per invocation), not with the
  bytes read.

The target-dir pass (``explain --target-dir``: reading cargo's fingerprint
records and comparing each new unit with its previous one) is timed on its
own: the recorded lock-bump target dir, its unit folders copied under other
package names until it holds ``--units`` of them (a 600-crate workspace has
about 2,000), with the lock-bump log.

Usage: .venv/bin/python bench/explain.py [--size 200] [--runs 3] [--units 2000] [--src DIR]
(--src: measure another source tree, e.g. an older commit unpacked with
`git archive <commit> src | tar -x -C .bench/old`, then --src .bench/old/src)
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import statistics
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
start, cpu = time.perf_counter(), time.process_time()
report = explain_recompiles(sys.argv[1])
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
invocations = getattr(report, "invocation_count", 0) or len(report.invocations)
print(seconds, cpu, peak_kib, invocations, report.counts["rebuilt"])
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


# cargo's status words as a terminal (or CARGO_TERM_COLOR=always) shows them.
_STATUS_WORD = re.compile(rb"(?m)^(\S+Z +)(Fresh|Dirty|Compiling|Running|Finished)\b")


def _coloured(block: bytes) -> bytes:
    """Bold green status words and CRLF line ends, as a Windows runner's log has them."""
    block = _STATUS_WORD.sub(
        lambda m: m.group(1) + b"\x1b[1m\x1b[32m" + m.group(2) + b"\x1b[0m", block
    )
    return block.replace(b"\n", b"\r\n")


def generate(path: Path, size_mb: int, filler_per_cargo_byte: int, coloured: bool = False) -> int:
    """Repeat the recorded cargo output, with `filler_per_cargo_byte` x as much other output."""
    block = _coloured(_cargo_block()) if coloured else _cargo_block()
    filler_lines: list[bytes] = []
    filler_bytes = 0
    i = 0
    while filler_bytes < len(block) * filler_per_cargo_byte:
        line = FILLER[i % len(FILLER)].format(i=i)
        filler_lines.append(f"2026-11-26T10:00:01.{i % 10_000_000:07d}Z {line}\n".encode())
        filler_bytes += len(filler_lines[-1])
        i += 1
    unit = b"".join(filler_lines) + block
    target = size_mb * 1024 * 1024
    written = 0
    with path.open("wb") as out:
        while written < target:
            out.write(unit)
            written += len(unit)
    return written


class Run:
    def __init__(self, line: str) -> None:
        out = line.split()
        self.seconds, self.cpu = float(out[0]), float(out[1])
        self.peak_mib = int(out[2]) / 1024
        self.invocations, self.rebuilt = int(out[3]), int(out[4])


def run_explain(path: Path, src: Path) -> Run:
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(src)),
    ).stdout
    return Run(out)


def time_grep(path: Path) -> tuple[float, str]:
    start = time.perf_counter()
    grep = subprocess.run(["grep", "-c", "Dirty", str(path)], capture_output=True, text=True)
    return time.perf_counter() - start, grep.stdout.strip()


def measure(
    tmp: Path, label: str, size_mb: int, filler: int, runs: int, src: Path, coloured: bool = False
) -> None:
    big, half = tmp / f"{label}.log", tmp / f"{label}-half.log"
    size = generate(big, size_mb, filler, coloured)
    half_size = generate(half, max(1, size_mb // 2), filler, coloured)
    mb = size / 1e6
    greps, fulls, halves = [], [], []
    for _ in range(runs):  # interleaved, so a busy moment hits all three alike
        greps.append(time_grep(big))
        fulls.append(run_explain(big, src))
        halves.append(run_explain(half, src))
    grep_s = statistics.median(g[0] for g in greps)
    seconds = statistics.median(r.seconds for r in fulls)
    cpu = statistics.median(r.cpu for r in fulls)
    peak = max(r.peak_mib for r in fulls)
    half_seconds = statistics.median(r.seconds for r in halves)
    half_peak = max(r.peak_mib for r in halves)
    first = fulls[0]
    print(
        f"[{label}] {mb:.0f} MB, {first.invocations} cargo invocations, "
        f"{first.rebuilt} rebuilt units (median of {runs} runs)"
    )
    print(f"  grep -c Dirty: {grep_s:.2f} s ({mb / grep_s:.0f} MB/s), {greps[0][1]} lines")
    print(
        f"  explain:       {seconds:.2f} s ({mb / seconds:.1f} MB/s), CPU {cpu:.2f} s "
        f"({mb / cpu:.1f} MB/s), peak RSS {peak:.0f} MiB"
    )
    print(
        f"  explain on {half_size / 1e6:.0f} MB ({halves[0].invocations} invocations): "
        f"{half_seconds:.2f} s, peak RSS {half_peak:.0f} MiB"
    )
    print(f"  ratio explain/grep time: {seconds / grep_s:.0f}x")
    big.unlink()
    half.unlink()


TARGET_CHILD = """
import sys, time
from pyo3_cache import explain_recompiles
start = time.perf_counter()
plain = explain_recompiles(sys.argv[1])
log_only = time.perf_counter() - start
start = time.perf_counter()
report = explain_recompiles(sys.argv[1], target_dir=sys.argv[2])
both = time.perf_counter() - start
print(log_only, both, report.target_dir_records, report.headline)
"""


def make_target_dir(tmp: Path, units: int) -> Path:
    """The lock-bump target dir, grown to ``units`` unit folders."""
    import tarfile

    target = tmp / "target"
    with tarfile.open(FIXTURES / "workspace" / "target" / "lock-bump.tar.gz") as tar:
        tar.extractall(target)  # our own fixture
    fingerprints = target / "debug" / ".fingerprint"
    originals = sorted(p for p in fingerprints.iterdir() if p.is_dir())
    copy = 0
    while len(list(fingerprints.iterdir())) < units:
        for original in originals:
            name, _, unit_hash = original.name.rpartition("-")
            shutil.copytree(original, fingerprints / f"{name}x{copy}-{unit_hash}")
        copy += 1
    return target


def measure_target_dir(tmp: Path, units: int, runs: int, src: Path) -> None:
    target = make_target_dir(tmp, units)
    folders = len(list((target / "debug" / ".fingerprint").iterdir()))
    log = FIXTURES / "workspace" / "human" / "lock-bump.log"
    results = []
    for _ in range(runs):
        child = subprocess.run(
            [sys.executable, "-c", TARGET_CHILD, str(log), str(target)],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=str(src)),
        )
        if child.returncode != 0:
            print("[target dir] not measured: this source tree has no --target-dir")
            return
        out = child.stdout.split(maxsplit=3)
        results.append((float(out[0]), float(out[1]), int(out[2]), out[3].strip()))
    log_only = statistics.median(r[0] for r in results)
    both = statistics.median(r[1] for r in results)
    print(f"[target dir] {folders} unit folders, {results[0][2]} records (median of {runs} runs)")
    print(f"  explain on the log alone:     {log_only * 1000:.1f} ms")
    print(
        f"  with --target-dir:            {both * 1000:.1f} ms "
        f"(target-dir pass {(both - log_only) * 1000:.1f} ms)"
    )
    print(f"  headline: {results[0][3]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=200, help="log size in MB (default 200)")
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (median)")
    parser.add_argument(
        "--src", type=Path, default=REPO / "src", help="source tree to measure (default: ours)"
    )
    parser.add_argument(
        "--units", type=int, default=2000, help="unit folders in the target-dir bench"
    )
    parser.add_argument("--target-dir-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        measure_target_dir(Path(tmp), args.units, args.runs, args.src)
        if args.target_dir_only:
            return
        # typical: a CI job log where cargo's lines are ~1 byte in 10 (tests, warnings, pip...)
        measure(Path(tmp), "typical", args.size, 9, args.runs, args.src)
        # dense: nothing but cargo output (verbose, JSON and CARGO_LOG fixtures back to back)
        measure(Path(tmp), "dense", args.size, 0, args.runs, args.src)
        # coloured: the dense log with ANSI-coloured status words and CRLF line ends
        measure(Path(tmp), "coloured", args.size, 0, args.runs, args.src, coloured=True)
    print(
        f"(bench driver peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MiB)"
    )


if __name__ == "__main__":
    main()
