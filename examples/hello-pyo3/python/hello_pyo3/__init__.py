"""hello_pyo3: a small PyO3 extension with a pure-Python layer on top."""

from hello_pyo3._hello_pyo3 import checked_sum, greet, word_count

__all__ = ["checked_sum", "greet", "shout", "word_count"]


def shout(name: str) -> str:
    """A pure-Python function, so Python-only edits have something to change."""
    return greet(name).upper()
