"""pyo3-cache: fast, explainable CI caching for Rust+PyO3 Python packages.

The library does the work; the ``pyo3-cache`` CLI and the GitHub Action are
thin layers over these functions::

    from pyo3_cache import pin_pyo3_config
    result = pin_pyo3_config(".venv/bin/python")
    session.env.update(result.env)   # PYO3_CONFIG_FILE, PYO3_PYTHON
"""

from __future__ import annotations

from pyo3_cache.bytecode import AuditReport, audit_bytecode
from pyo3_cache.diagnostics import RecompileReport, explain_recompiles
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.interpreter import InterpreterInfo, probe_interpreter
from pyo3_cache.keys import KeyManifest, compute_key
from pyo3_cache.pyo3_config import PinResult, Pyo3Config, pin_pyo3_config

__version__ = "0.1.0"

__all__ = [
    "AuditReport",
    "InterpreterInfo",
    "KeyManifest",
    "PinResult",
    "Pyo3CacheError",
    "Pyo3Config",
    "RecompileReport",
    "__version__",
    "audit_bytecode",
    "compute_key",
    "explain_recompiles",
    "pin_pyo3_config",
    "probe_interpreter",
]
