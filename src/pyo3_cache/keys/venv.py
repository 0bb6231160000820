"""The venv key (``kind="venv"``): Python environment / pip / uv caches."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from pyo3_cache.errors import (
    ProjectError,
)
from pyo3_cache.keys.model import (
    DEFAULT_PREFIX,
    InputValue,
    KeyManifest,
    KeyPart,
    PathScrubber,
    assemble_key,
    canonical,
    content_label,
    job_label,
    key_head,
    make_part,
    path_scrubber,
    relative_label,
)
from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.project import find_python_project, load_toml, read_text

# Files that pin a Python environment's contents, looked for in the project dir.
_PYTHON_LOCK_GLOBS = (
    "uv.lock",
    "pylock.toml",
    "pylock.*.toml",
    "poetry.lock",
    "pdm.lock",
    "requirements*.txt",
    "requirements/*.txt",
    "constraints*.txt",
)


def interpreter_part(info: InterpreterInfo) -> KeyPart:
    """The interpreter a Python environment is made for, down to its bytecode magic.

    The full version carries the pre-release level and the magic number is
    shown as a number (3495 for 3.11): 3.14.0rc2 and rc3 differ only there, and
    a cache keyed on "3.14" kept serving stale ``.pyc`` files (seed 003).
    """
    inputs: dict[str, InputValue] = {
        "python": info.full_version,
        "implementation": info.implementation,
        "magic": "" if info.magic_number is None else str(info.magic_number),
        "cache_tag": info.cache_tag or "",
        "abiflags": info.effective_abiflags(),
        "soabi": info.soabi or "",
        "platform": info.platform,
        "pointer_width": str(info.calcsize_pointer * 8),
    }
    if info.is_prerelease:
        inputs["pre-release"] = info.releaselevel
    return make_part("python", inputs)


def python_lock_part(
    files: Mapping[str, str], pyproject: Mapping[str, Any] | None, scrub: PathScrubber
) -> KeyPart:
    """Lock and requirements files (by content) and pyproject.toml's dependency tables."""
    inputs: dict[str, InputValue] = {}
    hashed: dict[str, Any] = {}
    for label in sorted(files):
        text = scrub(files[label])
        inputs[label] = content_label(text)
        hashed[label] = text
    if pyproject is not None:
        project = pyproject.get("project")
        tables: dict[str, Any] = {}
        if isinstance(project, dict):
            for name in ("requires-python", "dependencies", "optional-dependencies"):
                if name in project:
                    tables[f"project.{name}"] = project[name]
        for name in ("dependency-groups", "build-system"):
            if name in pyproject:
                tables[name] = pyproject[name]
        for label, value in tables.items():
            text = scrub(value if isinstance(value, str) else canonical(value))
            inputs[label] = text if len(text) <= 120 else content_label(text)
            hashed[label] = text
    return make_part("lock", inputs, hashed)


def compute_venv_key(
    project: str | os.PathLike[str] | None = None,
    *,
    prefix_key: str = DEFAULT_PREFIX,
    shared_key: str | None = None,
    extra_key: str | None = None,
    python: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> KeyManifest:
    """A key for Python environment / pip / uv caches of the project at ``project``.

    Parts: ``python`` (implementation, full version with pre-release level,
    bytecode magic, cache tag, abiflags, platform) and ``lock`` (uv.lock,
    pylock*.toml, requirements*.txt..., pyproject.toml's dependencies).  The
    restore key drops the lock: a cache of the same interpreter is reused.
    A pre-release interpreter is called out in ``warnings``.
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    folder = find_python_project(project)
    pyproject_path = folder / "pyproject.toml"
    pyproject = load_toml(pyproject_path, "pyproject.toml") if pyproject_path.is_file() else None
    files: dict[str, str] = {}
    for pattern in _PYTHON_LOCK_GLOBS:
        for path in sorted(folder.glob(pattern)):
            if path.is_file():
                files[relative_label(path, folder)] = read_text(path, path.name)
    if pyproject is None and not files:
        raise ProjectError(
            f"no pyproject.toml, uv.lock, pylock.toml or requirements*.txt in {folder}"
        )
    info = probe_interpreter(python)
    warnings: list[str] = []
    from pyo3_cache.bytecode.magic_numbers import prerelease_warning

    # The magic table knows pre-release bytecode even where the interpreter
    # calls itself final (a distro patch build); the release level covers the rest.
    magic_note = prerelease_warning(info.magic_number) if info.magic_number else None
    if magic_note:
        warnings.append(f"Python {info.full_version}: {magic_note}; the key carries the magic")
    elif info.is_prerelease:
        warnings.append(
            f"Python {info.full_version} is a pre-release: its bytecode magic "
            f"({info.magic_number}) may change before the final release, so the key "
            "carries the full version and the magic number"
        )
    # the kind "venv" in the head: venv entries never meet the Rust build cache's
    head, prefix = key_head(prefix_key, "venv", job_label(shared_key, extra_key, env))
    parts = [
        prefix,
        interpreter_part(info),
        python_lock_part(files, pyproject, path_scrubber(folder, env)),
    ]
    return assemble_key(
        "venv", head, parts, hashed_parts=("python", "lock"), ladder=(1,), warnings=warnings
    )
