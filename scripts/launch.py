"""Run pyo3-cache from this checkout: ``python -I scripts/launch.py ARGS``.

No install and no build: the package is imported from ``../src`` of this very
file, so the code that runs is the action's own checkout, whatever a build
step left in the environment (``-I`` ignores PYTHONPATH, PYTHONHOME and the
user site). The interpreter's venv brings only the dependencies.
"""

import runpy
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
runpy.run_module("pyo3_cache", run_name="__main__", alter_sys=True)
