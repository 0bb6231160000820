"""``python -m pyo3_cache``: the same CLI as the ``pyo3-cache`` command."""

from pyo3_cache.cli.main import main

raise SystemExit(main())
