"""`make demo`: pyo3-cache end to end on examples/hello-pyo3, with real tools.

Part 1, pinning: builds a copy of the example with `uv build --wheel` (a PEP
517 front-end, as CI runs it) on a warm target dir, twice without pinning and
twice with `pyo3-cache pin` exported, and prints what cargo recompiled.

Part 2, the whole flow: two consecutive CI jobs run our GitHub Action
(action.yml, then the build, then save/action.yml) step by step on this
machine with tests/action_runner.py, each on a fresh checkout, with
actions/cache served by a local directory: key → restore → pin → build →
explain → prune → save. It prints the job summary each job writes.

Part 4, the wheel cache: `pyo3-cache wheel-cache restore --fail-on-miss ||
uv build` on a copy of the example, then a tests-only change (the wheel is
restored, cargo does not run at all) and a src/lib.rs change (a miss, built).

Usage: python bench/demo.py [--workdir DIR] [--part 1|2|3|4]   (default: .demo/)
"""

from __future__ import annotations

import argparse
import html
import json
import shutil
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import BIN, REPO, BuildRun, fresh_copy, pyo3_cache, tool_env, uv_build


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


def for_terminal(markdown: str) -> str:
    """The job summary as a person reads it in a terminal: entities shown as characters."""
    return html.unescape(markdown)


def row(label: str, build: BuildRun, dist: Path) -> str:
    crates = ", ".join(c.split()[0] for c in build.compiled) or "-"
    return (
        f"{label:<24}{len(build.compiled):>6}{build.cargo_s:>10.2f}  {wheel_tag(dist):<28}{crates}"
    )


def part_store(workdir: Path) -> None:
    """Off GitHub (GitLab, self-hosted, a laptop): the same flow with a dir: store."""
    print("\n== Part 3: off GitHub, the CLI with a dir: store, two jobs ==")
    root = workdir / "store-flow"
    if root.exists():
        shutil.rmtree(root)
    store = f"dir:{root / 'store'}"
    checkout = root / "checkout" / "hello-pyo3"
    cargo_home = root / "cargo-home"
    cargo_home.mkdir(parents=True)
    for n in (1, 2):
        fresh_copy(checkout, copy=shutil.copy)  # a fresh checkout: new mtimes, no target
        env = tool_env(CARGO_HOME=str(cargo_home))
        manifest = root / f"key-manifest-{n}.json"
        key = json.loads(
            pyo3_cache(
                "key", "--format", "json", "--manifest-out", str(manifest), cwd=checkout, env=env
            )
        )
        restore_args = ["restore", "--store", store, "--key", key["key"], "--format", "json"]
        for prefix in key["restore_keys"]:
            restore_args += ["--restore-key", prefix]
        restored = json.loads(pyo3_cache(*restore_args, cwd=checkout, env=env))
        pinned = json.loads(pyo3_cache("pin", "--format", "json", cwd=checkout, env=env))
        build_env = dict(env, **pinned["env"])
        log = root / f"build-{n}.log"
        explain = pyo3_cache(
            "run",
            "--log",
            str(log),
            "--format",
            "json",
            "--output",
            str(root / f"explain-{n}.json"),
            "--",
            str(BIN / "uv"),
            "build",
            "--wheel",
            "--out-dir",
            str(root / "dist"),
            cwd=checkout,
            env=build_env,
        )
        del explain
        report = json.loads((root / f"explain-{n}.json").read_text())
        pruned = json.loads(pyo3_cache("prune", "--format", "json", cwd=checkout, env=env))
        saved = json.loads(
            pyo3_cache(
                "save",
                "--store",
                store,
                "--key",
                key["key"],
                "--manifest",
                str(manifest),
                "--format",
                "json",
                cwd=checkout,
                env=env,
            )
        )
        hit = (
            "exact hit" if restored.get("exact") else ("partial" if restored.get("hit") else "miss")
        )
        counts = report["counts"]
        print(
            f"job {n}: restore {hit:<9} | build: {counts['fresh']} fresh, {counts['rebuilt']} "
            f"rebuilt, {counts['new']} new | prune {pruned['bytes_before'] // 2**20} → "
            f"{pruned['bytes_after'] // 2**20} MiB | save: {saved.get('reason')}"
        )


def part_two(workdir: Path) -> None:
    sys.path.insert(0, str(REPO))
    from tests.action_runner import Job, LocalActionsCache

    print("\n== Part 2: the GitHub Action's whole flow, two jobs on one runner ==")
    root = workdir / "runner"
    if root.exists():
        shutil.rmtree(root)
    cache = LocalActionsCache(root / "actions-cache")
    checkout = root / "work" / "hello" / "hello"
    cargo_home = root / "home" / ".cargo"
    cargo_home.mkdir(parents=True)
    for n in (1, 2):
        if checkout.exists():
            shutil.rmtree(checkout)
        # a fresh checkout: new files with new mtimes, no target dir
        fresh_copy(checkout, copy=shutil.copy)
        env = tool_env(CARGO_HOME=str(cargo_home), PYO3_CACHE_WRAPPER_DIR=str(root / "wrapper"))
        job = Job(
            workspace=checkout,
            runner_temp=root / "_temp",
            job_dir=root / f"job{n}",
            cache=cache,
            base_env=env,
            github={"job": "wheels"},
        )
        print(f"\n-- job {n}: uses: pyo3-cache (restore + pin)", flush=True)
        for step in job.run_action(REPO, {"comment": "never"}):
            print(f"   {step.name}: {step.outcome}")
        print(f"-- job {n}: run: uv build --wheel", flush=True)
        if job.run_shell('uv build --wheel --out-dir "$RUNNER_TEMP/dist"') != 0:
            raise SystemExit(job.log[-1][-3000:])
        print(f"-- job {n}: uses: pyo3-cache/save (explain + prune + save)", flush=True)
        for step in job.run_action(REPO / "save"):
            print(f"   {step.name}: {step.outcome}")
        print(f"\n-- job {n}: the job summary ($GITHUB_STEP_SUMMARY) --\n")
        # The file keeps its Markdown escapes (x86&#95;64); a terminal reader wants x86_64.
        print(for_terminal(job.summary.read_text()))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=REPO / ".demo")
    parser.add_argument("--part", choices=("1", "2", "3", "4", "all"), default="all")
    args = parser.parse_args()
    if args.part in ("1", "all"):
        part_one(args.workdir)
    if args.part in ("2", "all"):
        part_two(args.workdir)
    if args.part in ("3", "all"):
        part_store(args.workdir)
    if args.part in ("4", "all"):
        part_wheel_cache(args.workdir)
    return 0


def part_one(workdir: Path) -> None:
    args = argparse.Namespace(workdir=workdir)
    print("== Part 1: pinning PyO3's config ==")
    project = fresh_copy(args.workdir / "hello-pyo3")
    dist = args.workdir / "dist"
    print(f"demo: building a copy of examples/hello-pyo3 in {args.workdir}")
    print("demo: cold build to warm the target dir (uv build --wheel) ...", flush=True)
    uv_build(project, tool_env(), dist)

    rows = []
    for n in (1, 2):
        print(f"demo: warm rebuild {n} without pinning ...", flush=True)
        rows.append(row(f"unpinned rebuild {n}", uv_build(project, tool_env(), dist), dist))

    pinned = json.loads(pyo3_cache("pin", "--format", "json", cwd=project, env=tool_env()))
    print(f"demo: pyo3-cache pin -> {Path(pinned['config_file']).name}")
    # pin's env is complete: PYO3_CACHE_PIN and PATH with the cargo wrapper first
    env = tool_env(**pinned["env"])
    builds = []
    for n in (1, 2):
        print(f"demo: warm rebuild {n} with the pin on ...", flush=True)
        builds.append(uv_build(project, env, dist))
        rows.append(row(f"pinned rebuild {n}", builds[-1], dist))

    print()
    print(f"{'run':<24}{'crates':>6}{'cargo s':>10}  {'wheel tag':<28}recompiled")
    print("\n".join(rows))
    print(
        "\nThe first pinned rebuild recompiles once (the pinned config is new to cargo);"
        " from then on a warm rebuild compiles nothing."
    )
    # The demo is also a check: a pinned warm rebuild that compiles anything
    # is the very defect this tool exists to fix.
    if builds[-1].compiled:
        raise SystemExit(f"demo: the second pinned rebuild compiled {builds[-1].compiled}")


def part_wheel_cache(workdir: Path) -> None:
    """A tests-only change restores the wheel from the wheel cache: cargo never runs."""
    import subprocess

    print("\n== Part 4: the wheel cache (key --for wheel) ==")
    base = workdir / "wheel-cache"
    project = fresh_copy(base / "hello-pyo3")
    store = f"dir:{base / 'store'}"
    shutil.rmtree(base / "store", ignore_errors=True)
    env = tool_env()
    warm = workdir / "hello-pyo3" / "target"
    if warm.is_dir():  # part 1's target dir: with the pin, only the example's own crate compiles
        env["CARGO_TARGET_DIR"] = str(warm)
    env.update(json.loads(pyo3_cache("pin", "--format", "json", cwd=project, env=env))["env"])
    dist = project / "dist"

    def job(label: str) -> str:
        command = [sys.executable, "-m", "pyo3_cache", "wheel-cache", "restore"]
        restore = subprocess.run(
            [*command, "--store", store, "--dist", str(dist), "--fail-on-miss"],
            cwd=project,
            env=env,
            capture_output=True,
            text=True,
        )
        if restore.returncode == 0:
            line = f"{label:<28}{'hit':<6}{'-':>8}{'0':>9}  cargo not run"
        else:
            build = uv_build(project, env, dist)
            # the save reads cargo's dep-info from the build's own target dir (env)
            saved = pyo3_cache(
                "wheel-cache", "save", "--store", store, "--dist", str(dist), cwd=project, env=env
            )
            if not saved.startswith("saved"):
                raise SystemExit(f"demo: the wheels were not saved: {saved.strip()}")
            line = (
                f"{label:<28}{'miss':<6}{len(build.compiled):>8}{build.cargo_s:>9.2f}  "
                "built, then saved"
            )
        print(f"demo: {line}", flush=True)
        return line

    rows = [job("first build")]
    shutil.rmtree(dist)
    test_file = project / "tests" / "test_hello.py"
    test_file.write_text(test_file.read_text() + "\n# a tests-only commit\n")
    rows.append(job("tests/ changed"))
    shutil.rmtree(dist)
    lib = project / "src" / "lib.rs"
    lib.write_text(lib.read_text().replace("Hello,", "Hi,"))
    rows.append(job("src/lib.rs changed"))
    # The demo is also a check: the wheel cache must hit on a tests-only
    # change and miss on a Rust change, or it would ship a stale extension.
    expected = ["miss", "hit", "miss"]
    got = [row[28:34].strip() for row in rows]  # the wheel column
    if got != expected:
        raise SystemExit(f"demo: wheel cache went {got}, expected {expected}")
    print()
    print(f"{'commit':<28}{'wheel':<6}{'crates':>8}{'cargo s':>9}")
    print("\n".join(rows))
    key = pyo3_cache("key", "--for", "wheel", cwd=project).splitlines()
    print("\n" + "\n".join(key))


if __name__ == "__main__":
    raise SystemExit(main())
