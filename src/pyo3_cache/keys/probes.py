"""What a key needs from tools: ``rustc -vV``, ``maturin --version``, interpreters.

The subprocesses of one key computation run side by side (``Probes``), so a
key costs the slowest of them, not their sum.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from pyo3_cache.errors import InterpreterError, ToolchainError
from pyo3_cache.keys.model import canonical, content_label
from pyo3_cache.pin.interpreter import InterpreterInfo, default_python
from pyo3_cache.project import which


def run_rustc_version(cwd: Path, environ: Mapping[str, str]) -> str:
    """``rustc -vV`` as cargo would run it here (``$RUSTC`` honoured, rust-toolchain too)."""
    rustc = environ.get("RUSTC") or "rustc"
    found = which(rustc, environ) if os.sep not in rustc else rustc
    if not found:
        raise ToolchainError(
            f"{rustc} not found on PATH; install Rust (e.g. with rustup) before computing the key"
        )
    try:
        proc = subprocess.run(
            [found, "-vV"],
            cwd=cwd,
            env=dict(environ),
            capture_output=True,
            text=True,
            timeout=600,  # rustup may install the toolchain a rust-toolchain file names
            stdin=subprocess.DEVNULL,
        )
    except OSError as exc:
        raise ToolchainError(f"{rustc} could not be run: {exc.strerror or exc}") from None
    except subprocess.TimeoutExpired:
        raise ToolchainError(f"`{rustc} -vV` did not finish within 600 s") from None
    if proc.returncode != 0:
        lines = [ln.strip() for ln in proc.stderr.splitlines() if ln.strip()]
        reason = next((ln for ln in lines if ln.startswith("error")), lines[-1] if lines else "")
        raise ToolchainError(
            f"`{rustc} -vV` failed with exit code {proc.returncode}: {reason[:200]}"
        )
    return proc.stdout


def installed_maturin_version(environ: Mapping[str, str]) -> tuple[str, str] | None:
    """``maturin --version`` of the maturin on PATH: what ``maturin build``/``develop`` use."""
    found = which("maturin", environ)
    if not found:
        return None
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        proc = subprocess.run(
            [found, "--version"],
            capture_output=True,
            text=True,
            timeout=60,
            env=dict(environ),
            stdin=subprocess.DEVNULL,
        )
        words = proc.stdout.split()
        if proc.returncode == 0 and len(words) >= 2 and words[0] == "maturin":
            return words[1], "maturin --version"
    return None


def maturin_requirement(pyproject: Mapping[str, Any] | None) -> tuple[str, str] | None:
    """maturin's requirement in ``[build-system] requires``: what PEP 517 front-ends install.

    The fallback when no maturin is on PATH.  Returns ``(specifier, where)``.
    """
    build_system = (pyproject or {}).get("build-system")
    requires = build_system.get("requires") if isinstance(build_system, dict) else None
    if isinstance(requires, list):
        for requirement in requires:
            text = str(requirement).strip()
            name = re.split(r"[\s<>=!~;\[(@]", text, maxsplit=1)[0]
            if name.lower().replace("_", "-") == "maturin":
                spec = text[len(name) :].strip()
                return spec or "any", "pyproject.toml build-system.requires"
    return None


def _describe_identity(info: InterpreterInfo) -> str:
    ident = info.identity()
    abiflags = ident["abiflags"]
    return (
        f"{ident['implementation']} {ident['version']}"
        + (f" abiflags={abiflags}" if abiflags else "")
        + f" soabi={ident['soabi'] or '-'} ext_suffix={ident['ext_suffix'] or '-'}"
        + f" platform={ident['platform']} {ident['pointer_width']}-bit"
        + f" magic={ident['magic_number'] or '-'}"
    )


class Probes:
    """Interpreter probes of one key computation: each path asked once, all at once.

    Probes run in threads next to ``rustc -vV`` and ``maturin --version``: the
    key's cost is then the slowest subprocess, not their sum.
    """

    def __init__(self, pool: ThreadPoolExecutor) -> None:
        self._pool = pool
        self._futures: dict[str, Future[InterpreterInfo]] = {}

    def start(self, python: str) -> None:
        if python not in self._futures:
            # The per-user probe cache (pin/state.py): the pin, right after the
            # key step, asks the same interpreter, and a kept home asks it every job.
            from pyo3_cache.pin.state import cached_probe

            self._futures[python] = self._pool.submit(cached_probe, python)

    def get(self, python: str) -> InterpreterInfo:
        self.start(python)
        return self._futures[python].result()


class BuildTools:
    """``rustc -vV`` and ``maturin --version`` of one key computation, started at once."""

    def __init__(self, pool: ThreadPoolExecutor, cwd: Path, environ: Mapping[str, str]) -> None:
        self._rustc = pool.submit(run_rustc_version, cwd, environ)
        self._maturin = pool.submit(installed_maturin_version, environ)

    def versions(self, pyproject: Mapping[str, Any] | None) -> tuple[str, tuple[str, str] | None]:
        """``rustc -vV``'s text, and maturin's version: installed, else the build requirement."""
        rustc_vv = self._rustc.result()
        return rustc_vv, self._maturin.result() or maturin_requirement(pyproject)


def _config_file_abi(path: str) -> tuple[dict[str, str] | None, str | None]:
    """ABI fields of the PyO3 config file at ``path``, or a reason it has none."""
    from pyo3_cache.pin.pyo3_config import Pyo3Config

    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        return None, f"cannot read PYO3_CONFIG_FILE {path}: {exc.strerror}"
    except UnicodeDecodeError:
        return None, f"PYO3_CONFIG_FILE {path} is not UTF-8 text"
    try:
        return Pyo3Config.parse(text).abi_fields(), None
    except ValueError as exc:
        return None, f"PYO3_CONFIG_FILE {path} is not a PyO3 config ({exc})"


def python_abi(
    python: str | os.PathLike[str] | None,
    environ: Mapping[str, str],
    pyo3_version: str | None,
    probes: Probes,
    warnings: list[str],
) -> tuple[dict[str, str] | None, str]:
    from pyo3_cache.pin.pyo3_config import pyo3_line, resolve_pyo3_config

    config_file = environ.get("PYO3_CONFIG_FILE")
    if python is None and config_file:
        abi, problem = _config_file_abi(config_file)
        if abi is not None:
            return abi, "PYO3_CONFIG_FILE"
        warnings.append(f"{problem}; using the interpreter instead")
    if python is not None:
        info = probes.get(os.fspath(python))  # the user named it: errors are theirs to see
        label = "--python"
    else:
        label = "PYO3_PYTHON" if environ.get("PYO3_PYTHON") else "python3 on PATH"
        try:
            chosen = environ.get("PYO3_PYTHON") or default_python()
            info = probes.get(chosen)
        except InterpreterError as exc:
            warnings.append(f"no Python for the key's python part: {exc}")
            return None, "no interpreter"
    config = resolve_pyo3_config(info, pyo3_line(pyo3_version))
    return config.abi_fields(), f"resolved from {label}"


def replaced_env(env: Mapping[str, str], probes: Probes, warnings: list[str]) -> dict[str, str]:
    """What stands in the env part for the two PyO3 variables whose values are paths."""
    replaced: dict[str, str] = {}
    if env.get("PYO3_CONFIG_FILE"):
        config_abi, problem = _config_file_abi(env["PYO3_CONFIG_FILE"])
        replaced["PYO3_CONFIG_FILE"] = (
            "<missing or unreadable file>"
            if config_abi is None
            else "config " + content_label(canonical(config_abi))
        )
        if problem and not any(problem in w for w in warnings):
            warnings.append(problem)
    if env.get("PYO3_PYTHON"):
        try:
            replaced["PYO3_PYTHON"] = _describe_identity(probes.get(env["PYO3_PYTHON"]))
        except InterpreterError as exc:
            replaced["PYO3_PYTHON"] = "<not a working interpreter>"
            warnings.append(f"PYO3_PYTHON: {exc}")
    return replaced
