"""Key manifest files: reading, writing, and where ``key --github`` puts them."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from pyo3_cache.errors import (
    ManifestError,
    OutputLocationError,
)
from pyo3_cache.keys.model import MANIFEST_FILE_NAME, KeyManifest
from pyo3_cache.project import find_manifest, find_workspace_root, read_text, target_dir


def load_manifest(path: str | os.PathLike[str]) -> KeyManifest:
    """Read a manifest file; ``ManifestError`` (one line) for anything unusable."""
    where = os.fspath(path)
    text = read_text(Path(where), "key manifest", ManifestError)
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ManifestError(f"key manifest {where} is not JSON: {exc}") from None
    except RecursionError:
        raise ManifestError(f"key manifest {where} is nested too deeply to read") from None
    return KeyManifest.from_json(data, f"key manifest {where}")


def write_manifest(manifest: KeyManifest, path: str | os.PathLike[str]) -> Path:
    """Write ``manifest`` as JSON (atomically); ``OutputLocationError`` if it cannot be."""
    target = Path(os.path.abspath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputLocationError(f"cannot create {target.parent}: {exc.strerror}") from None
    text = json.dumps(manifest.to_json(), indent=2, ensure_ascii=False) + "\n"
    try:
        fd, tmp = tempfile.mkstemp(prefix=".key-manifest-", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputLocationError(f"cannot write to {target.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputLocationError(f"cannot write {target}: {exc.strerror}") from None
    return target


def default_manifest_path(
    manifest_path: str | os.PathLike[str] | None,
    environ: Mapping[str, str] | None = None,
    kind: str = "rust",
) -> Path:
    """Where ``key --github`` writes the new manifest when not told.

    Under ``$RUNNER_TEMP`` on GitHub, because the restore step that follows
    extracts the *old* manifest into the target dir (``pyo3-cache/key-manifest.json``)
    and must not overwrite the new one; elsewhere next to it in the target dir.
    Other kinds get their own name (``venv-key-manifest.json``), and off GitHub
    a venv key, which has no target dir, goes to the temp dir.
    """
    env = os.environ if environ is None else environ
    name = MANIFEST_FILE_NAME if kind == "rust" else f"{kind}-{MANIFEST_FILE_NAME}"
    if env.get("RUNNER_TEMP"):
        return Path(env["RUNNER_TEMP"]) / "pyo3-cache" / name
    if kind != "rust":
        return Path(tempfile.gettempdir()) / "pyo3-cache" / name
    root = find_workspace_root(find_manifest(manifest_path))
    return target_dir(root) / "pyo3-cache" / f"new-{name}"
