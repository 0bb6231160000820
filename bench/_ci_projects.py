"""The projects and scenarios of bench/ci_job.py: sources, edits, a lock bump, interpreters.

Real projects come from their PyPI sdists, downloaded at benchmark time into a
cache folder outside the repository (never committed). Each scenario is a
"commit" on top of the project's pristine sources: the same edit is applied
for both flows, so they build identical trees.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from _common import BIN, EXAMPLE

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]


@dataclass(frozen=True)
class Project:
    name: str
    import_name: str
    python_file: str  # edited by the Python-only change
    rust_file: str  # edited by the Rust change
    rust_package: str  # the package that owns rust_file
    manifest: str = "Cargo.toml"  # the extension crate's, relative to the checkout
    sdist: tuple[str, str] | None = None  # (PyPI name, version)
    # Leaf crates tried in turn for the Cargo.lock bump (first that can go back).
    lock_candidates: tuple[str, ...] = ("unicode-ident", "once_cell", "libc")


PROJECTS: dict[str, Project] = {
    "hello-pyo3": Project(
        "hello-pyo3",
        "hello_pyo3",
        python_file="python/hello_pyo3/__init__.py",
        rust_file="src/lib.rs",
        rust_package="hello-pyo3",
    ),
    "rpds-py": Project(
        "rpds-py",
        "rpds",
        python_file="rpds.pyi",
        rust_file="src/lib.rs",
        rust_package="rpds-py",
        sdist=("rpds-py", "2026.9.1"),
    ),
    "jiter": Project(
        "jiter",
        "jiter",
        python_file="crates/jiter-python/jiter.pyi",
        rust_file="crates/jiter-python/src/lib.rs",
        rust_package="jiter-python",
        manifest="crates/jiter-python/Cargo.toml",
        sdist=("jiter", "0.19.0"),
    ),
    "jellyfish": Project(
        "jellyfish",
        "jellyfish",
        python_file="python/jellyfish/__init__.pyi",
        rust_file="src/lib.rs",
        rust_package="jellyfish",
        sdist=("jellyfish", "1.3.0"),
    ),
}

SCENARIOS = ("cold", "warm", "python-change", "rust-change", "lock-bump", "python-patch")
QUICK_SCENARIOS = ("cold", "warm", "rust-change")


# --- sources ----------------------------------------------------------------------


def pristine_source(project: Project, cache: Path) -> Path:
    """The project's sources, unpacked once under ``cache`` (sdists fetched with pip)."""
    if project.sdist is None:
        return EXAMPLE
    name, version = project.sdist
    unpacked = cache / "src" / f"{name}-{version}"
    if (unpacked / "Cargo.lock").is_file():
        return unpacked
    downloads = cache / "sdists"
    downloads.mkdir(parents=True, exist_ok=True)
    archive = _find_sdist(downloads, name, version)
    if archive is None:
        # Only this package from source: ":all:" would build its build backend from source too.
        cmd = [*_pip(), "download", "--no-binary", name, "--no-deps"]
        cmd += [f"{name}=={version}", "-d", str(downloads), "-q"]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        archive = _find_sdist(downloads, name, version)
        if proc.returncode != 0 or archive is None:
            raise SystemExit(
                f"cannot download the sdist of {name}=={version}: {proc.stderr[-800:]}"
            )
    staging = cache / "src" / f".{name}-{version}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        tar.extractall(staging, filter="data")
    (top,) = list(staging.iterdir())
    shutil.rmtree(unpacked, ignore_errors=True)
    top.rename(unpacked)
    shutil.rmtree(staging)
    return unpacked


def _pip() -> list[str]:
    """pip: the venv's if it has one (uv makes venvs without), else the base interpreter's."""
    if (BIN / "pip").is_file():
        return [str(BIN / "pip")]
    base = getattr(sys, "_base_executable", None) or sys.executable
    return [base, "-m", "pip"]


def _find_sdist(folder: Path, name: str, version: str) -> Path | None:
    def norm(text: str) -> str:
        return re.sub(r"[-_.]+", "_", text).lower()

    want = norm(f"{name}-{version}.tar.gz")
    for path in folder.glob("*.tar.gz"):
        if norm(path.name) == want:
            return path
    return None


_IGNORED = shutil.ignore_patterns("target", "dist", "*.whl", "__pycache__", ".venv")


def copy_tree(src: Path, dst: Path) -> None:
    """Copy ``src`` to ``dst``; new mtimes, as a fresh ``git checkout`` gives."""
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(src, dst, ignore=_IGNORED, copy_function=shutil.copy)


# --- scenario edits -------------------------------------------------------------------


def edit_python(tree: Path, project: Project) -> str:
    path = tree / project.python_file
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n# ci-job benchmark: a Python-only change\n")
    return project.python_file


def edit_rust(tree: Path, project: Project) -> str:
    path = tree / project.rust_file
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n// ci-job benchmark: a Rust source change\n")
    return project.rust_file


def _locked(tree: Path) -> dict[str, str]:
    data = tomllib.loads((tree / "Cargo.lock").read_text(encoding="utf-8"))
    return {
        p["name"]: p["version"]
        for p in data.get("package", [])
        if str(p.get("source", "")).startswith(("registry+", "sparse+"))
    }


def _index_path(name: str) -> str:
    lower = name.lower()
    if len(lower) <= 2:
        return f"{len(lower)}/{lower}"
    if len(lower) == 3:
        return f"3/{lower[0]}/{lower}"
    return f"{lower[:2]}/{lower[2:4]}/{lower}"


def _older_versions(name: str, current: str) -> list[str]:
    """Semver-compatible, unyanked versions of ``name`` below ``current``, newest first."""
    url = f"https://index.crates.io/{_index_path(name)}"
    with urllib.request.urlopen(url, timeout=30) as response:  # one lookup per project
        lines = response.read().decode().splitlines()

    def parts(v: str) -> tuple[int, ...] | None:
        return tuple(int(x) for x in v.split(".")) if re.fullmatch(r"\d+\.\d+\.\d+", v) else None

    cur = parts(current)
    if cur is None:
        return []
    same_line = (lambda p: p[0] == cur[0]) if cur[0] else (lambda p: p[:2] == cur[:2])
    found = []
    for line in lines:
        entry = json.loads(line)
        ver = parts(entry["vers"])
        if ver is not None and not entry.get("yanked") and ver < cur and same_line(ver):
            found.append(ver)
    return [".".join(map(str, v)) for v in sorted(found, reverse=True)]


def bump_lock(tree: Path, project: Project, cargo_home: Path) -> str:
    """Move one leaf crate of Cargo.lock back one release; return "crate old → new"."""
    locked = _locked(tree)
    env = dict(os.environ, CARGO_HOME=str(cargo_home), CARGO_TERM_COLOR="never")
    tried = []
    for name in project.lock_candidates:
        if name not in locked:
            continue
        for older in _older_versions(name, locked[name])[:2]:
            proc = subprocess.run(
                ["cargo", "update", "-p", f"{name}@{locked[name]}", "--precise", older],
                cwd=tree,
                env=env,
                capture_output=True,
                text=True,
            )
            if proc.returncode == 0:
                return f"{name} {locked[name]} → {older}"
            tried.append(f"{name} {older}: {proc.stderr.strip().splitlines()[-1:]}")
    raise SystemExit(f"no leaf crate of {project.name} could be moved back: {tried}")


# --- interpreters -------------------------------------------------------------------------


@dataclass(frozen=True)
class Interpreter:
    version: str  # full, e.g. 3.11.7
    path: Path  # the real executable

    @property
    def minor(self) -> str:
        return ".".join(self.version.split(".")[:2])


_PROBE = "import platform,sys; print(platform.python_implementation(), platform.python_version())"


def _probe(path: str) -> Interpreter | None:
    try:
        out = subprocess.run([path, "-c", _PROBE], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    words = out.stdout.split()
    if out.returncode != 0 or len(words) != 2 or words[0] != "CPython":
        return None
    return Interpreter(words[1], Path(os.path.realpath(path)))


def _makes_venvs(interp: Interpreter, scratch: Path) -> bool:
    """``uv venv`` needs no ensurepip, so Debian's python3 works without python3-venv."""
    where = scratch / f"venv-check-{interp.version}"
    proc = subprocess.run(
        [str(BIN / "uv"), "venv", "-q", "--python", str(interp.path), str(where)],
        capture_output=True,
        text=True,
    )
    shutil.rmtree(where, ignore_errors=True)
    return proc.returncode == 0


def job_interpreters(scratch: Path) -> tuple[Interpreter, Interpreter | None, str]:
    """The job's Python, and another patch release of the same CPython minor (or why not)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    main = _probe(base)
    if main is None:
        raise SystemExit(f"cannot run the benchmark's base interpreter {base}")
    candidates = [
        "/usr/bin/python3",
        f"/usr/bin/python{main.minor}",
        f"/usr/local/bin/python{main.minor}",
    ]
    for path in candidates:
        other = _probe(path) if os.path.exists(path) else None
        if other and other.minor == main.minor and other.version != main.version:
            if _makes_venvs(other, scratch):
                return main, other, ""
            return main, None, f"{path} ({other.version}) cannot create a venv with uv"
    return main, None, f"no other CPython {main.minor}.x found at {', '.join(candidates)}"


def toolcache_python(root: Path, interp: Interpreter) -> Path:
    """A setup-python-like folder per version: <root>/Python/<version>/bin/python3."""
    bin_dir = root / "Python" / interp.version / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in ("python3", "python", f"python{interp.minor}"):
        link = bin_dir / name
        if not link.is_symlink():
            link.symlink_to(interp.path)
    return bin_dir / "python3"


def package_watching(tree: Path, rel_file: str) -> str | None:
    """The workspace package whose build script cargo reruns when ``rel_file`` changes.

    That is the package owning the file (nearest Cargo.toml with [package]) if
    its build.rs prints no rerun-if instruction: cargo (1.95) then watches
    every file of the package's folder.
    """
    folder = (tree / rel_file).parent
    while True:
        manifest = folder / "Cargo.toml"
        if manifest.is_file():
            data = tomllib.loads(manifest.read_text(encoding="utf-8"))
            package = data.get("package")
            if isinstance(package, dict):
                build = folder / str(package.get("build", "build.rs"))
                if build.is_file() and "rerun-if" not in build.read_text(encoding="utf-8"):
                    return str(package["name"])
                return None
        if folder == tree or folder == folder.parent:
            return None
        folder = folder.parent
