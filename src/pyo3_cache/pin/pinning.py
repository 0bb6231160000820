"""``pin``: pinned PyO3 configs for one or more interpreters, and the job's pin state.

The first interpreter is the primary one: plain ``cargo`` calls (no
``PYO3_PYTHON``) use it and it builds in the project's target dir.  Every other
interpreter, named here or met later by the wrapper, builds in its own target
dir below ``<target>/pyo3-cache/targets/``, so none evicts another's units.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyo3_cache.errors import InterpreterError, ProjectError
from pyo3_cache.pin.interpreter import InterpreterInfo, default_python
from pyo3_cache.pin.pyo3_config import (
    DEFAULT_SUBDIR,
    NEWEST_KNOWN,
    Pyo3Config,
    Pyo3Line,
    check_dir,
    pyo3_line,
)
from pyo3_cache.pin.state import (
    PIN_VARIABLE,
    PinnedInterpreter,
    PinState,
    cached_probe,
    pin_interpreter,
    write_state,
)
from pyo3_cache.project import (
    find_manifest,
    find_workspace_root,
    locked_version,
    read_lockfile,
    target_dir,
)


@dataclass(frozen=True)
class PinResult:
    """What ``pin_pyo3_config`` did: the primary interpreter's pin, every pin, the state file."""

    config_file: Path
    pyo3_python: str
    pyo3_version: str | None
    config: Pyo3Config
    interpreter: InterpreterInfo
    written: bool
    warnings: tuple[str, ...] = field(default=())
    state_file: Path | None = None
    interpreters: tuple[PinnedInterpreter, ...] = ()

    @property
    def env(self) -> dict[str, str]:
        """The one variable to export: the pin state the cargo wrapper reads.

        No ``PYO3_*`` variable of PyO3's own: maturin would take an exported
        ``PYO3_CONFIG_FILE`` as the only target interpreter, and maturin-action
        forwards ``PYO3_*`` into its containers.  The wrapper must be first on
        PATH as well (``pyo3_cache.explain.wrapper.activate_pin``).
        """
        return {} if self.state_file is None else {PIN_VARIABLE: str(self.state_file)}

    def to_json(self) -> dict[str, object]:
        return {
            "config_file": str(self.config_file),
            "pyo3_python": self.pyo3_python,
            "env": self.env,
            "pyo3_version": self.pyo3_version,
            "content_hash": self.config.content_hash,
            "written": self.written,
            "config": self.config.as_dict(),
            "state_file": None if self.state_file is None else str(self.state_file),
            "interpreters": [p.to_json() for p in self.interpreters],
            "warnings": list(self.warnings),
        }


def _detect_pyo3_version(manifest_path: str | os.PathLike[str] | None) -> tuple[str | None, Path]:
    manifest = find_manifest(manifest_path)
    root = find_workspace_root(manifest)
    lock = root / "Cargo.lock"
    if not lock.is_file():
        return None, root
    packages = read_lockfile(lock)
    for name in ("pyo3-build-config", "pyo3-ffi", "pyo3"):
        found = locked_version(packages, name)
        if found:
            return found, root
    return None, root


def _version_warnings(line: Pyo3Line, version: str | None, root_known: bool) -> list[str]:
    notes: list[str] = []
    if version is None:
        if root_known:
            notes.append(
                "no PyO3 found in Cargo.lock; writing the config in PyO3 "
                f"{'.'.join(map(str, NEWEST_KNOWN))}'s format"
            )
        return notes
    if line.version[:2] > NEWEST_KNOWN:
        notes.append(
            f"PyO3 {version} is newer than pyo3-cache knows; writing the config in "
            f"{'.'.join(map(str, NEWEST_KNOWN))}'s format"
        )
    if line.version[:2] < (0, 17):
        notes.append(f"PyO3 {version} is older than 0.17, which pyo3-cache does not test")
    if not line.accepts_unknown_keys:
        notes.append(
            f"PyO3 {version} rejects unknown config keys, so ext_suffix and abiflags "
            "are left out: maturin builds on Windows or for free-threaded Python need "
            "PyO3 0.18.1 or newer"
        )
    if not line.tracks_config_file_env:
        notes.append(
            f"PyO3 {version} does not rebuild when PYO3_CONFIG_FILE changes "
            "(fixed in 0.23.3): after switching interpreters run `cargo clean -p pyo3-build-config`"
        )
    return notes


def _check_supported(info: InterpreterInfo, line: Pyo3Line, version: str | None) -> None:
    """Refuse interpreters the crate's PyO3 would refuse at build time anyway."""
    minimum = line.min_pypy if info.implementation == "PyPy" else line.min_cpython
    if info.version[:2] < minimum:
        which = f"PyO3 {version}" if version else "current PyO3"
        raise InterpreterError(
            f"{info.path} is {info.implementation} {info.full_version}, older than {which} "
            f"supports ({info.implementation} {minimum[0]}.{minimum[1]} or newer)"
        )


def pin_pyo3_config(
    python: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    *,
    directory: str | os.PathLike[str] | None = None,
    manifest_path: str | os.PathLike[str] | None = None,
    pyo3_version: str | None = None,
    interpreter: InterpreterInfo | None = None,
) -> PinResult:
    """Resolve and write pinned PyO3 configs, and the pin state the cargo wrapper applies.

    ``python``: one interpreter or several (default: ``python3``/``python`` on
    PATH); the first is the primary one.  ``directory``: where to write
    (default: ``<target dir>/pyo3-cache``).  ``manifest_path``: the crate's
    Cargo.toml (default: found from cwd), for the PyO3 version in Cargo.lock
    and the target dir.  ``pyo3_version`` overrides the version read.

    The result's ``env`` holds ``PYO3_CACHE_PIN`` only; see ``PinResult.env``.
    """
    if python is None or isinstance(python, (str, os.PathLike)):
        pythons: list[str | None] = [None if python is None else os.fspath(python)]
    else:
        pythons = [os.fspath(p) for p in python] or [None]
    root: Path | None = None
    detected: str | None = None
    try:
        detected, root = _detect_pyo3_version(manifest_path)
    except ProjectError:
        if directory is None:
            raise
    version = pyo3_version or detected
    line = pyo3_line(version)
    warnings = _version_warnings(line, version, root_known=root is not None)
    project_target = target_dir(root) if root is not None else None
    if directory is None:
        assert project_target is not None
        out_dir = project_target / DEFAULT_SUBDIR
    else:
        out_dir = Path(os.path.abspath(directory))
    infos: list[InterpreterInfo] = []
    for index, one in enumerate(pythons):
        if index == 0 and interpreter is not None:
            infos.append(interpreter)
            continue
        if one is None:
            one = default_python()
        infos.append(cached_probe(os.path.abspath(_which(one))))
    for info in infos:
        _check_supported(info, line, version)
    check_dir(out_dir)  # only once every interpreter answered: bad input writes nothing
    # What the pin reports is the extension-module form maturin builds use
    # (nothing links libpython on Linux and macOS); the wrapper writes the
    # linking form for plain cargo calls when it needs it.
    pins: list[PinnedInterpreter] = []
    configs: list[Pyo3Config] = []
    written_any = False
    primary_key: str | None = None
    for info in infos:
        pinned, config, written = pin_interpreter(
            info,
            line,
            out_dir,
            links=False,
            primary_key=primary_key,
            target_dir=project_target,
        )
        if primary_key is None:
            primary_key = pinned.abi_key
        pins.append(pinned)
        configs.append(config)
        written_any = written_any or written
    assert primary_key is not None
    state = PinState(
        pin_dir=out_dir,
        pyo3_version=version,
        primary_python=infos[0].path,
        primary_key=primary_key,
        target_dir=project_target,
        workspace_root=root,
    )
    state_file = write_state(state)
    if sys.platform == "win32":
        warnings.append(
            "the cargo wrapper that applies the pin is a POSIX shell script: on Windows "
            "set MATURIN_PEP517_USE_BASE_PYTHON=1 for warm PEP 517 builds"
        )
    return PinResult(
        config_file=pins[0].config_file,
        pyo3_python=pins[0].pyo3_python,
        pyo3_version=version,
        config=configs[0],
        interpreter=infos[0],
        written=written_any,
        warnings=tuple(warnings),
        state_file=state_file,
        interpreters=tuple(pins),
    )


def _which(python: str) -> str:
    import shutil

    if os.sep in python or (os.altsep and os.altsep in python):
        return python
    found = shutil.which(python)
    if found is None:
        raise InterpreterError(f"Python interpreter {python!r} not found on PATH")
    return found
