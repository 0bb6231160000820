import hello_pyo3


def test_greet():
    assert hello_pyo3.greet("PyO3") == "Hello, PyO3!"


def test_checked_sum():
    assert hello_pyo3.checked_sum([1, 2, 3]) == 6
