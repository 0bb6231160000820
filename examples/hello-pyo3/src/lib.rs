//! A small PyO3 extension: enough real code for cargo to build the whole
//! PyO3 crate chain, small enough to build in seconds.
use pyo3::prelude::*;

/// Return a greeting for `name`.
#[pyfunction]
fn greet(name: &str) -> String {
    format!("Hello, {name}!")
}

/// Sum the integers in `values` (checked: overflow raises OverflowError).
#[pyfunction]
fn checked_sum(values: Vec<i64>) -> PyResult<i64> {
    values.iter().try_fold(0i64, |acc, v| acc.checked_add(*v)).ok_or_else(|| {
        pyo3::exceptions::PyOverflowError::new_err("sum does not fit in 64 bits")
    })
}

/// Count the words of `text` (whitespace-separated).
#[pyfunction]
fn word_count(text: &str) -> usize {
    text.split_whitespace().count()
}

#[pymodule]
fn _hello_pyo3(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(greet, m)?)?;
    m.add_function(wrap_pyfunction!(checked_sum, m)?)?;
    m.add_function(wrap_pyfunction!(word_count, m)?)?;
    Ok(())
}
