"""`make demo`: pyo3-cache end to end on examples/hello-pyo3, with real tools.

Builds a copy of the example with `uv build --wheel` (a PEP 517 front-end, as
CI runs it) on a warm target dir: twice without pinning, then twice with
`pyo3-cache pin` exported, and prints what cargo recompiled each time.

Usage: python bench/demo.py [--workdir DIR]   (default: .demo/ in the repo)
"""

from __future__ import annotations

import argparse
import json
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import REPO, BuildRun, fresh_copy, pyo3_cache, tool_env, uv_build


def wheel_tag(dist: Path) -> str:
    wheels = sorted(dist.glob("*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        return "-"
    with zipfile.ZipFile(wheels[-1]) as zf:
        meta = next(n for n in zf.namelist() if n.endswith(".dist-info/WHEEL"))
        for line in zf.read(meta).decode().splitlines():
            if line.startswith("Tag:"):
                return line.split(":", 1)[1].strip()
    return "?"


def row(label: str, build: BuildRun, dist: Path) -> str:
    crates = ", ".join(c.split()[0] for c in build.compiled) or "-"
    return (
        f"{label:<24}{len(build.compiled):>6}{build.cargo_s:>10.2f}  {wheel_tag(dist):<28}{crates}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".demo")
    args = parser.parse_args()
    project = fresh_copy(args.workdir / "hello-pyo3")
    dist = args.workdir / "dist"
    print(f"demo: building a copy of examples/hello-pyo3 in {args.workdir}")
    print("demo: cold build to warm the target dir (uv build --wheel) ...", flush=True)
    uv_build(project, tool_env(), dist)

    rows = []
    for n in (1, 2):
        print(f"demo: warm rebuild {n} without pinning ...", flush=True)
        rows.append(row(f"unpinned rebuild {n}", uv_build(project, tool_env(), dist), dist))

    pinned = json.loads(pyo3_cache("pin", "--format", "json", cwd=project))
    print(f"demo: pyo3-cache pin -> {Path(pinned['config_file']).name}")
    env = tool_env(**pinned["env"])
    for n in (1, 2):
        print(f"demo: warm rebuild {n} with PYO3_CONFIG_FILE pinned ...", flush=True)
        rows.append(row(f"pinned rebuild {n}", uv_build(project, env, dist), dist))

    print()
    print(f"{'run':<24}{'crates':>6}{'cargo s':>10}  {'wheel tag':<28}recompiled")
    print("\n".join(rows))
    print(
        "\nThe first pinned rebuild recompiles once (PYO3_CONFIG_FILE is new to cargo);"
        " from then on a warm rebuild compiles nothing."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
