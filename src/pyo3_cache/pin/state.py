"""The pin of a job: one pinned PyO3 config per interpreter, applied per cargo call.

Why not export ``PYO3_CONFIG_FILE`` job-wide: maturin (1.16,
``src/python_interpreter/resolver.rs``) takes an exported ``PYO3_CONFIG_FILE``
as the one and only target interpreter, drops ``-i``/``--find-interpreter``
without a word and tags the wheel from the file; maturin-action forwards every
``PYO3_*`` variable into its manylinux container.  So ``pin`` exports only
``PYO3_CACHE_PIN`` (this module's state file) and puts the cargo wrapper first
on PATH; the wrapper (``pin.route``) sees the interpreter each front-end hands
PyO3 for that one cargo call (``PYO3_PYTHON``) and applies that interpreter's
pinned config to that call only.

A pinned config here holds no path that moves with a patch release or a venv:
``executable`` is a stable shim of ours (``python-<abi>``, a two-line script
that runs the base interpreter), and ``lib_dir`` is left out where nothing links
libpython (extension modules on Linux and macOS).  So ``python`` and ``python3``
of one venv, a temp PEP 517 build env and its base interpreter, or 3.12.7 and
3.12.8 at other paths give byte-identical files: same name, nothing rebuilt.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shlex
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyo3_cache.errors import OutputLocationError
from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.pin.pyo3_config import (
    PINNED_MTIME,
    Pyo3Config,
    Pyo3Line,
    pyo3_line,
    resolve_pyo3_config,
    write_pinned_config,
)

PIN_VARIABLE = "PYO3_CACHE_PIN"
STATE_FILE = "pin.json"
PROBE_CACHE_FILE = "probes.json"
# Where the builds of interpreters other than the primary one go, one target
# dir each: cargo keeps one fingerprint per unit, so two interpreters in one
# target dir evict each other (6 crates rebuilt per interpreter, pyo3 0.23.5).
TARGETS_SUBDIR = "targets"


def secondary_targets(target_dir: Path) -> Path:
    """Where the secondary interpreters' target dirs live: ``target/pyo3-cache/targets/``."""
    return target_dir / "pyo3-cache" / TARGETS_SUBDIR


STATE_VERSION = 1


def abi_key(config: Pyo3Config) -> str:
    """What identifies an interpreter's ABI in a config: every field but the paths."""
    fields = [
        (k, v) for k, v in config.entries + config.extras if k not in ("executable", "lib_dir")
    ]
    text = "".join(f"{k}={v}\n" for k, v in fields)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def base_interpreter(info: InterpreterInfo) -> str:
    """The real interpreter behind ``info`` (a venv or build env's base, links resolved)."""
    candidate = info.base_executable or info.executable or info.path
    return os.path.realpath(candidate)


def shim_path(pin_dir: Path, key: str) -> Path:
    return pin_dir / f"python-{key}"


def write_shim(path: Path, interpreter: str) -> None:
    """A stable path that runs ``interpreter``: PyO3's ``executable`` and ``PYO3_PYTHON``."""
    content = (
        "#!/bin/sh\n# pyo3-cache: the interpreter this PyO3 config is pinned to\n"
        f'exec {shlex.quote(interpreter)} "$@"\n'
    ).encode()
    with contextlib.suppress(OSError):
        if path.read_bytes() == content:
            return
    _atomic_write(path, content, 0o755)


def _atomic_write(path: Path, content: bytes, mode: int) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise OutputLocationError(f"cannot write to {path.parent}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise OutputLocationError(f"cannot write {path}: {exc.strerror}") from None


def stable_config(
    info: InterpreterInfo, line: Pyo3Line, pin_dir: Path, *, links: bool
) -> tuple[Pyo3Config, str]:
    """``info``'s config with our shim as ``executable`` and, when nothing links, no ``lib_dir``.

    ``links``: whether the build may link libpython (always on Windows; on
    Linux and macOS an extension module does not, pyo3-ffi 0.30 ``build.rs``).
    Returns the config and its ABI key.
    """
    plain = resolve_pyo3_config(info, line)
    key = abi_key(plain)
    shim = str(shim_path(pin_dir, key))
    entries = tuple(
        (k, shim if k == "executable" else v)
        for k, v in plain.entries
        if k != "lib_dir" or links or info.is_windows
    )
    return Pyo3Config(entries, plain.extras), key


@dataclass(frozen=True)
class PinnedInterpreter:
    """One interpreter's pin: its config file and where its cargo calls build."""

    python: str
    implementation: str
    version: str
    abi_key: str
    config_file: Path
    content_hash: str
    pyo3_python: str
    target_dir: Path | None
    """None for the primary interpreter (the project's own target dir)."""

    def to_json(self) -> dict[str, object]:
        return {
            "python": self.python,
            "implementation": self.implementation,
            "version": self.version,
            "abi_key": self.abi_key,
            "config_file": str(self.config_file),
            "content_hash": self.content_hash,
            "pyo3_python": self.pyo3_python,
            "target_dir": None if self.target_dir is None else str(self.target_dir),
        }


def pin_interpreter(
    info: InterpreterInfo,
    line: Pyo3Line,
    pin_dir: Path,
    *,
    links: bool,
    primary_key: str | None,
    target_dir: Path | None,
) -> tuple[PinnedInterpreter, Pyo3Config, bool]:
    """Write ``info``'s stable config and shim; returns the pin, the config, and whether written."""
    config, key = stable_config(info, line, pin_dir, links=links)
    path, written = write_pinned_config(config, pin_dir)
    shim = shim_path(pin_dir, key)
    write_shim(shim, base_interpreter(info))
    own_target = None
    if target_dir is not None and primary_key is not None and key != primary_key:
        own_target = secondary_targets(target_dir) / key
    pinned = PinnedInterpreter(
        python=info.path,
        implementation=info.implementation,
        version=info.minor_version,
        abi_key=key,
        config_file=path,
        content_hash=config.content_hash,
        pyo3_python=str(shim),
        target_dir=own_target,
    )
    return pinned, config, written


# --- the state file the wrapper reads ---------------------------------------------


@dataclass(frozen=True)
class PinState:
    """What ``pin`` left for the wrapper (``PYO3_CACHE_PIN`` names this file)."""

    pin_dir: Path
    pyo3_version: str | None
    primary_python: str
    primary_key: str
    target_dir: Path | None
    workspace_root: Path | None

    def to_json(self) -> dict[str, object]:
        return {
            "version": STATE_VERSION,
            "pyo3_version": self.pyo3_version,
            "primary_python": self.primary_python,
            "primary_key": self.primary_key,
            "target_dir": None if self.target_dir is None else str(self.target_dir),
            "workspace_root": None if self.workspace_root is None else str(self.workspace_root),
        }

    @property
    def line(self) -> Pyo3Line:
        return pyo3_line(self.pyo3_version)


def write_state(state: PinState) -> Path:
    path = state.pin_dir / STATE_FILE
    content = (json.dumps(state.to_json(), indent=1, sort_keys=True) + "\n").encode("utf-8")
    with contextlib.suppress(OSError):
        if path.read_bytes() == content:
            return path
    _atomic_write(path, content, 0o644)
    # Not read by cargo, but kept as old as the configs so nothing hashing the
    # folder's mtimes sees a change.
    with contextlib.suppress(OSError):
        os.utime(path, (PINNED_MTIME, PINNED_MTIME))
    return path


def read_state(path: str | os.PathLike[str]) -> PinState:
    """The state file ``pin`` wrote; ``ValueError``/``OSError`` when unreadable."""
    state_path = Path(path)
    data = json.loads(state_path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get("version") != STATE_VERSION:
        raise ValueError(f"{path} is not a pyo3-cache pin state (version {STATE_VERSION})")

    def opt_path(name: str) -> Path | None:
        value = data.get(name)
        return None if value in (None, "") else Path(str(value))

    return PinState(
        pin_dir=state_path.parent,
        pyo3_version=None if data.get("pyo3_version") is None else str(data["pyo3_version"]),
        primary_python=str(data["primary_python"]),
        primary_key=str(data["primary_key"]),
        target_dir=opt_path("target_dir"),
        workspace_root=opt_path("workspace_root"),
    )


# --- probe results, cached per interpreter file -----------------------------------


def _probe_key(python: str) -> tuple[str, list[int]] | None:
    try:
        real = os.path.realpath(python)
        st = os.stat(real)
    except OSError:
        return None
    # A venv's python resolves to its base; sysconfig (the ABI) is the base's,
    # and we use nothing venv-specific of the answer.
    return real, [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns]


def _info_to_json(info: InterpreterInfo) -> dict[str, Any]:
    return dataclasses.asdict(info)


def _info_from_json(data: dict[str, Any]) -> InterpreterInfo:
    data = dict(data)
    data["version"] = tuple(data["version"])
    return InterpreterInfo(**data)


def probe_cache_file() -> Path:
    """Where probe answers are kept: per machine and user, never in the (cached) target dir.

    A cache entry restored from another job could otherwise carry answers that
    lie about an interpreter's ABI.
    """
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyo3-cache" / PROBE_CACHE_FILE


def cached_probe(python: str) -> InterpreterInfo:
    """``probe_interpreter(python)``, answered from the probe cache when the file is unchanged."""
    key = _probe_key(python)
    cache_file = probe_cache_file()
    cache: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        loaded = json.loads(cache_file.read_text(encoding="utf-8"))
        if isinstance(loaded, dict):
            cache = loaded
    if key is not None:
        hit = cache.get(key[0])
        if isinstance(hit, dict) and hit.get("stat") == key[1]:
            with contextlib.suppress(TypeError, KeyError, ValueError):
                info = _info_from_json(hit["info"])
                # The answer names the interpreter by the path it was first asked
                # by (a toolcache link, a venv): that path must still lead to the
                # same file, or the pin's shim would run a gone or another Python.
                if base_interpreter(info) == hit.get("base"):
                    return dataclasses.replace(info, path=python)
    info = probe_interpreter(python)
    if key is not None:
        entry = {"stat": key[1], "info": _info_to_json(info), "base": base_interpreter(info)}
        cache[key[0]] = entry
        with contextlib.suppress(OutputLocationError, OSError):
            cache_file.parent.mkdir(parents=True, exist_ok=True)
            _atomic_write(cache_file, json.dumps(cache).encode("utf-8"), 0o644)
    return info
