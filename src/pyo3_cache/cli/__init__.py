"""The ``pyo3-cache`` command line: argument parsing per command group, one library call each.

The entry point is ``pyo3_cache.cli.main:main``.
"""
