"""cargo's nightly build-analysis JSONL logs as a fourth input format
(fixtures recorded with cargo 1.97 nightly on the two-crate workspace)."""

from __future__ import annotations

import io
from pathlib import Path

from pyo3_cache import explain_recompiles
from pyo3_cache.explain.build_analysis import debug_of, looks_like_build_analysis
from pyo3_cache.explain.reasons import reason_from_debug

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cargo-logs" / "build-analysis"


def test_format_is_told_by_its_first_line_even_after_a_header() -> None:
    assert looks_like_build_analysis(b'{"run_id":"20261202T014326380Z-b1b6","timestamp"')
    assert looks_like_build_analysis(b'# pyo3-cache fixture: ...\n{"run_id":"x"')
    assert not looks_like_build_analysis(b'{"reason":"compiler-artifact"')


def test_env_change_root_and_its_cascade_by_name() -> None:
    report = explain_recompiles(FIXTURES / "env-changed.jsonl")
    (cause,) = report.root_causes
    assert (cause.package, cause.kind, cause.variable) == ("util", "env-var", "UTIL_MODE")
    assert (cause.old_value, cause.new_value) == (None, "z")
    assert cause.cascade == ["app"]  # cargo's log gives a unit index; we name it
    assert report.counts == {"fresh": 1, "rebuilt": 2, "new": 0, "compiled": 0}
    assert report.sources[0].kinds == ["build-analysis"]


def test_changed_source_and_watched_file_are_told_apart() -> None:
    (source,) = explain_recompiles(FIXTURES / "touched-source.jsonl").root_causes
    assert (source.kind, source.file) == ("file-changed", "<WORKSPACE>/util/src/lib.rs")
    (watched,) = explain_recompiles(FIXTURES / "watched-touched.jsonl").root_causes
    assert (watched.kind, watched.file) == ("watched-file", "<WORKSPACE>/util/data.txt")
    assert watched.cascade == ["app"]


def test_new_units_are_new_not_rebuilt() -> None:
    report = explain_recompiles(FIXTURES / "rustflags-once.jsonl")
    assert report.counts["new"] == 3 and report.counts["rebuilt"] == 0
    assert report.root_causes == []


def test_every_cause_shape_maps_to_a_reason() -> None:
    names = {2: "util"}
    cases = {
        "EnvVarChanged": {"dirty_reason": "env-var-changed", "name": "X", "new_value": "1"},
        "UnitDependencyInfoChanged": {"dirty_reason": "unit-dependency-info-changed", "unit": 2},
        "RustflagsChanged": {"dirty_reason": "rustflags-changed", "old": "a", "new": "b"},
        "FeaturesChanged": {"dirty_reason": "features-changed", "old": "[]", "new": "[x]"},
    }
    kinds = {}
    for variant, cause in cases.items():
        debug = debug_of(cause, names)
        assert debug.startswith(variant)
        reason = reason_from_debug(debug)
        assert reason is not None
        kinds[variant] = (reason.kind, reason.dependency)
    assert kinds["UnitDependencyInfoChanged"] == ("dependency-rebuilt", "util")
    assert kinds["RustflagsChanged"][0] == "rustflags"
    assert kinds["FeaturesChanged"][0] == "features"


def test_a_broken_line_is_skipped_not_fatal() -> None:
    data = (
        (FIXTURES / "env-changed.jsonl").read_bytes().replace(b'"reason":"unit-started"', b"{{{", 1)
    )
    report = explain_recompiles(io.BytesIO(data))
    assert report.root_causes[0].variable == "UTIL_MODE"
