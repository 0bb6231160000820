"""pyo3-cache: fast, explainable CI caching for Rust+PyO3 Python packages.

The library does the work; the ``pyo3-cache`` CLI and the GitHub Action are
thin layers over these functions::

    from pyo3_cache import activate_pin, pin_pyo3_config
    result = pin_pyo3_config(".venv/bin/python")
    session.env.update(activate_pin(result.env))   # PYO3_CACHE_PIN, PATH

Names are imported on first use, so ``import pyo3_cache`` (and every CLI
command) only pays for the modules it needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "activate_pin": "explain.wrapper",
    "AuditReport": "bytecode.audit",
    "audit_bytecode": "bytecode.audit",
    "RecompileReport": "explain.diagnostics",
    "explain_recompiles": "explain.diagnostics",
    "Pyo3CacheError": "errors",
    "InterpreterInfo": "pin.interpreter",
    "probe_interpreter": "pin.interpreter",
    "KeyManifest": "keys.model",
    "compute_key": "keys.rust",
    "PinResult": "pin.pinning",
    "Pyo3Config": "pin.pyo3_config",
    "pin_pyo3_config": "pin.pinning",
    "PruneReport": "cache.prune",
    "prune_target": "cache.prune",
    "open_store": "cache.places",
    "restore_cache": "cache.restore",
    "save_cache": "cache.save",
}

__all__ = [
    "AuditReport",
    "InterpreterInfo",
    "KeyManifest",
    "PinResult",
    "PruneReport",
    "Pyo3CacheError",
    "Pyo3Config",
    "RecompileReport",
    "__version__",
    "activate_pin",
    "audit_bytecode",
    "compute_key",
    "explain_recompiles",
    "open_store",
    "pin_pyo3_config",
    "probe_interpreter",
    "prune_target",
    "restore_cache",
    "save_cache",
]

if TYPE_CHECKING:
    from pyo3_cache.bytecode.audit import AuditReport, audit_bytecode
    from pyo3_cache.cache.places import open_store
    from pyo3_cache.cache.prune import PruneReport, prune_target
    from pyo3_cache.cache.restore import restore_cache
    from pyo3_cache.cache.save import save_cache
    from pyo3_cache.errors import Pyo3CacheError
    from pyo3_cache.explain.diagnostics import RecompileReport, explain_recompiles
    from pyo3_cache.explain.wrapper import activate_pin
    from pyo3_cache.keys.model import KeyManifest
    from pyo3_cache.keys.rust import compute_key
    from pyo3_cache.pin.interpreter import InterpreterInfo, probe_interpreter
    from pyo3_cache.pin.pinning import PinResult, pin_pyo3_config
    from pyo3_cache.pin.pyo3_config import Pyo3Config


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pyo3_cache' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"pyo3_cache.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
