"""The workflow each flow of ``ci_job.py --runner act`` runs: one job, as a user writes it.

Every flow checks the sources out, puts the job's Python first on PATH (what
actions/setup-python does), builds the wheel with ``uv build --wheel``,
installs it into a fresh venv and imports it. They differ only in the cache:

* ``rust-cache``: Swatinem/rust-cache@v2 (its post step saves).
* ``base-python``: the same, with maturin's ``MATURIN_PEP517_USE_BASE_PYTHON=1``
  (the isolated build env's base interpreter is passed to PyO3, so the PyO3
  chain is not rebuilt for the new build-env path).
* ``sccache``: what ``maturin generate-ci github`` jobs use (maturin-action's
  ``sccache: true``: sccache installed per job, ``RUSTC_WRAPPER=sccache``,
  ``CARGO_INCREMENTAL=0``); sccache's local disk cache is kept between jobs by
  actions/cache in place of GitHub's cache backend; no target dir, no cargo
  registry cache (crates come from crates.io every job, as there).
* ``ours``: pyo3-cache and pyo3-cache/save.

Step ids are fixed (``cache``, ``build``, ...) so the harness can read each
step's time from act's log.
"""

from __future__ import annotations

import json
from pathlib import Path

ACTIONS_CACHE_REF = "actions/cache@27d5ce7f107fe9357f9df03efb73ab90386fccae"  # v5.0.5
RUST_CACHE_REF = "Swatinem/rust-cache@v2"
OURS_REF = "pyo3-cache/pyo3-cache@v1"
SCCACHE_VERSION = "0.16.0"

FLOWS = ("rust-cache", "base-python", "sccache", "ours")
LABELS = {
    "rust-cache": "rust-cache",
    "base-python": "rust-cache + MATURIN_PEP517_USE_BASE_PYTHON",
    "sccache": "sccache (maturin generate-ci)",
    "ours": "pyo3-cache",
}
# Which local checkouts each flow needs (see Peers in ci_act.py).
NEEDS = {
    "rust-cache": ("rust-cache",),
    "base-python": ("rust-cache",),
    "sccache": ("actions-cache",),
    "ours": ("actions-cache",),
}


def _q(value: str) -> str:
    """A YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def workflow(
    flow: str,
    *,
    cargo_home: Path,
    python_bin: Path,
    tools: Path,
    crate_dir: str,
    import_name: str,
    dist_name: str,
    also: tuple[Path, ...] = (),
) -> str:
    """The workflow file of one flow's job (``crate_dir`` relative to the checkout).

    ``also``: more interpreters (their bin folders) for one ``maturin build
    --release -i A -i B`` (the multi-interpreter shape of maturin-action and
    ``maturin generate-ci``); each wheel is installed and imported by its own
    interpreter.
    """
    env = {"CARGO_HOME": str(cargo_home), "CARGO_TERM_COLOR": "never"}
    if flow == "base-python":
        env["MATURIN_PEP517_USE_BASE_PYTHON"] = "1"
    dist = f"{crate_dir}/dist" if crate_dir != "." else "dist"
    build = f'uv build --wheel --python "$(command -v python3)" --out-dir {dist}'
    pythons = [python_bin / "python3", *(b / "python3" for b in also)]
    if also:
        build = "maturin build --release " + " ".join(f"-i {p}" for p in pythons)
        build += f" --out {dist}" + (f" -m {crate_dir}/Cargo.toml" if crate_dir != "." else "")
    lines = [
        "name: ci",
        "on: push",
        "jobs:",
        "  build:",
        "    runs-on: ubuntu-latest",
        "    env:",
        *[f"      {k}: {_q(v)}" for k, v in env.items()],
        "    steps:",
        "      - uses: actions/checkout@v4",
        "        id: checkout",
        "      - name: set up Python and uv",
        "        id: setup",
        "        run: |",
        f'          echo {_q(str(tools))} >> "$GITHUB_PATH"',
        f'          echo {_q(str(python_bin))} >> "$GITHUB_PATH"',
    ]
    lines += _before(flow, crate_dir, python_bin)
    lines += [
        "      - name: build",
        "        id: build",
        f"        run: {_q(build)}",
        "      - name: install and import",
        "        id: install",
        "        run: |",
    ]
    for n, python in enumerate(pythons):
        venv = f"$RUNNER_TEMP/venv{n}"
        lines += [
            f'          uv venv -q --python {_q(str(python))} "{venv}"',
            f'          uv pip install -q --python "{venv}/bin/python" --no-deps --no-index '
            f"--find-links {dist} {_q(dist_name)}",
            f'          "{venv}/bin/python" -c "import {import_name}"',
        ]
    lines += _after(flow)
    return "\n".join(lines) + "\n"


_SCCACHE_PATH = "          path: ${{ runner.temp }}/sccache"


def _before(flow: str, crate_dir: str, python_bin: Path) -> list[str]:
    if flow in ("rust-cache", "base-python"):
        # Its default workspace "." is right: every project's Cargo workspace (and target/)
        # is at the checkout's top, even where maturin builds a member crate (jiter).
        return [f"      - uses: {RUST_CACHE_REF}", "        id: cache"]
    if flow == "sccache":
        return [
            "      - name: install sccache",
            "        id: sccache-install",
            "        run: |",
            '          uv venv -q "$RUNNER_TEMP/sccache-venv"',
            '          uv pip install -q --python "$RUNNER_TEMP/sccache-venv/bin/python" '
            f"sccache=={SCCACHE_VERSION}",
            '          echo "$RUNNER_TEMP/sccache-venv/bin" >> "$GITHUB_PATH"',
            '          echo "RUSTC_WRAPPER=sccache" >> "$GITHUB_ENV"',
            '          echo "CARGO_INCREMENTAL=0" >> "$GITHUB_ENV"',
            '          echo "SCCACHE_DIR=$RUNNER_TEMP/sccache" >> "$GITHUB_ENV"',
            f"      - uses: {ACTIONS_CACHE_REF.replace('@', '/restore@')}",
            "        id: cache",
            "        with:",
            _SCCACHE_PATH,
            "          key: sccache-${{ runner.os }}-${{ hashFiles('**/Cargo.lock', '**/*.rs') }}",
            "          restore-keys: sccache-${{ runner.os }}-",
        ]
    if flow == "ours":
        return [
            f"      - uses: {OURS_REF}",
            "        id: cache",
            "        with:",
            f"          working-directory: {_q(crate_dir)}",
            f"          python: {_q(str(python_bin / 'python3'))}",
        ]
    raise ValueError(flow)


def _after(flow: str) -> list[str]:
    if flow == "sccache":
        return [
            "      - name: stop sccache",
            "        id: sccache-stop",
            "        if: always()",
            "        run: sccache --stop-server || true",
            f"      - uses: {ACTIONS_CACHE_REF.replace('@', '/save@')}",
            "        id: save",
            "        if: always() && steps.cache.outputs.cache-hit != 'true'",
            "        with:",
            _SCCACHE_PATH,
            # the key as restore computed it (the build writes .rs files under target/)
            "          key: ${{ steps.cache.outputs.cache-primary-key }}",
        ]
    if flow == "ours":
        return [
            f"      - uses: {OURS_REF.replace('@', '/save@')}",
            "        id: save",
            "        if: always()",
        ]
    return []  # rust-cache saves in its post step
