"""The recompile model on logs recorded from real cargo 1.95 runs (tests/fixtures/cargo-logs)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pyo3_cache import explain_recompiles
from pyo3_cache.explain import causes
from pyo3_cache.explain import reasons as r

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cargo-logs"
PYO3_CASCADE = ["pyo3", "hello-pyo3"]


def _report(*names: str):  # type: ignore[no-untyped-def]
    return explain_recompiles([FIXTURES / n for n in names])


# (fixture, root package, kind, cascade members, hint fragment)
SCENARIOS = [
    (
        "human/pyo3-python-changed.log",
        "pyo3-ffi",
        r.INTERPRETER_ENV,
        PYO3_CASCADE,
        "pyo3-cache pin",
    ),
    ("cargo-log/pyo3-python-changed.log", "pyo3-ffi", r.INTERPRETER_ENV, PYO3_CASCADE, "pin"),
    ("human/uv-build-unpinned.log", "pyo3-ffi", r.INTERPRETER_ENV, PYO3_CASCADE, "pyo3-cache pin"),
    ("github/uv-build-then-cargo-build.log", "pyo3-ffi", r.INTERPRETER_ENV, PYO3_CASCADE, "pin"),
    ("human/config-file-changed.log", "pyo3-ffi", r.PYO3_CONFIG, PYO3_CASCADE, "stable path"),
    ("cargo-log/config-file-changed.log", "pyo3-ffi", r.PYO3_CONFIG, PYO3_CASCADE, "mtime"),
    ("human/touched-source.log", "hello-pyo3", r.FILE_CHANGED, [], "preserve mtimes"),
    ("cargo-log/touched-source.log", "hello-pyo3", r.FILE_CHANGED, [], "preserve mtimes"),
    ("human/rustflags-changed.log", "hello-pyo3", r.RUSTFLAGS, [], "same flags"),
    ("human/rustflags-reverted.log", "hello-pyo3", r.RUSTFLAGS, [], "same flags"),
    ("cargo-log/rustflags-changed.log", "hello-pyo3", r.RUSTFLAGS, [], "RUSTFLAGS"),
    ("cargo-log/rustflags-reverted.log", "hello-pyo3", r.RUSTFLAGS, [], "RUSTFLAGS"),
    ("human/feature-toggled.log", "hello-pyo3", r.FEATURES, [], "extension-module"),
    ("cargo-log/feature-toggled.log", "hello-pyo3", r.FEATURES, [], "extension-module"),
]


@pytest.mark.parametrize(("fixture", "root", "kind", "cascade", "hint"), SCENARIOS)
def test_recorded_scenario_root_cause_cascade_and_hint(
    fixture: str, root: str, kind: str, cascade: list[str], hint: str
) -> None:
    report = _report(fixture)
    (cause,) = report.root_causes
    assert (cause.package, cause.kind) == (root, kind)
    assert sorted(cause.cascade) == sorted(cascade)
    assert hint in cause.hint
    rebuilt = {u.package: u.root_cause for u in report.units if u.status == "rebuilt"}
    assert rebuilt == {p: root for p in [root, *cascade]}


def test_pyo3_python_change_names_variable_and_chain_in_cargo_words() -> None:
    report = _report("human/pyo3-python-changed.log")
    assert report.headline == "3 crates rebuilt because PYO3_PYTHON changed"
    reasons = {u.package: u.reason for u in report.units if u.status == "rebuilt"}
    assert reasons == {
        "pyo3-ffi": "the env variable PYO3_PYTHON changed",
        "pyo3": "info of dependency `pyo3-ffi` changed",
        "hello-pyo3": "info of dependency `pyo3` changed",
    }
    assert report.counts == {"fresh": 11, "rebuilt": 3, "new": 0, "compiled": 0}
    assert report.time_lost_seconds == 3.93 and report.time_basis == "cargo"


def test_fingerprint_log_shows_old_and_new_values() -> None:
    (cause,) = _report("cargo-log/pyo3-python-changed.log").root_causes
    assert cause.old_value == "/usr/bin/python3.11"
    assert cause.new_value == "<VENV>/bin/python"
    (flags,) = _report("cargo-log/rustflags-changed.log").root_causes
    assert (flags.old_value, flags.new_value) == ("[]", '["-C", "force-frame-pointers=yes"]')


def test_rustflags_change_compiles_dependencies_anew() -> None:
    report = _report("human/rustflags-changed.log")
    assert report.counts == {"fresh": 0, "rebuilt": 1, "new": 13, "compiled": 0}
    (group,) = report.new_groups
    assert group.kind == r.RUSTFLAGS and "pyo3-ffi" in group.packages


def test_feature_toggle_groups_new_pyo3_units_under_features() -> None:
    (group,) = _report("human/feature-toggled.log").new_groups
    assert group.kind == r.FEATURES
    assert group.packages == ["pyo3-build-config", "pyo3-ffi", "pyo3"]


def test_noop_build_reports_nothing_rebuilt() -> None:
    report = _report("human/noop.log")
    assert report.counts == {"fresh": 14, "rebuilt": 0, "new": 0, "compiled": 0}
    assert report.root_causes == [] and report.headline.startswith("Nothing rebuilt")
    assert report.time_lost_seconds is None


def test_json_output_says_compiled_not_rebuilt_and_points_at_no_cause() -> None:
    report = _report("json/pyo3-python-changed.log")
    assert report.counts == {"fresh": 11, "rebuilt": 0, "new": 0, "compiled": 3}
    assert report.unexplained == 3 and report.root_causes == []
    assert report.headline == (
        "3 crates compiled (the log cannot tell new from rebuilt: JSON messages only)"
    )
    compiled = [u for u in report.units if u.status != "fresh"]
    assert {u.status for u in compiled} == {"compiled"}
    assert all(u.root_cause is None for u in compiled)
    assert _report("json/noop.log").counts == {"fresh": 14, "rebuilt": 0, "new": 0, "compiled": 0}


def test_json_feature_change_between_invocations_is_named() -> None:
    base = (FIXTURES / "json/noop.log").read_text()
    changed = base.replace('"features":["default"]', '"features":[]').replace(
        '"fresh":true', '"fresh":false'
    )
    report = explain_recompiles(io.BytesIO((base + changed).encode()))
    assert len(report.invocations) == 2
    assert any(g.kind == r.FEATURES for g in report.new_groups)


def test_several_invocations_in_one_log_and_across_files() -> None:
    report = _report("github/uv-build-then-cargo-build.log")
    assert len(report.invocations) == 2
    assert [i.counts["rebuilt"] for i in report.invocations] == [3, 0]
    assert report.time_basis == "timestamps" and report.time_lost_seconds
    two = _report("human/noop.log", "human/pyo3-python-changed.log")
    assert len(two.invocations) == 2 and two.counts["fresh"] == 25


def test_stderr_and_json_of_one_run_are_not_counted_twice() -> None:
    human = (FIXTURES / "human/pyo3-python-changed.log").read_text().splitlines(True)[1:]
    js = (FIXTURES / "json/pyo3-python-changed.log").read_text().splitlines(True)[1:]
    # `cargo build -v --message-format=json 2>&1`: both streams end together.
    *human_body, finished = human
    *js_body, build_finished = js
    mixed = "".join(a for pair in zip(human_body, js_body) for a in pair)
    mixed += "".join(js_body[len(human_body) :]) + finished + build_finished
    report = explain_recompiles(io.BytesIO(mixed.encode()))
    assert len(report.invocations) == 1
    assert report.counts == {"fresh": 11, "rebuilt": 3, "new": 0, "compiled": 0}


def test_missing_finished_line_still_splits_invocations() -> None:
    body = (FIXTURES / "human/noop.log").read_text().splitlines(True)[1:-1]
    report = explain_recompiles(io.BytesIO("".join(body * 2).encode()))
    assert len(report.invocations) == 2


def test_cold_cache_and_partially_pruned_cache() -> None:
    cold = explain_recompiles(
        io.BytesIO(
            b"   Compiling a v1.0.0\n     Running `rustc --crate-name a`\n"
            b"   Compiling b v1.0.0\n    Finished `dev` profile in 2.00s\n"
        )
    )
    assert cold.counts == {"fresh": 0, "rebuilt": 0, "new": 2, "compiled": 0}
    assert cold.new_groups[0].kind == r.NEW_COLD
    pruned = explain_recompiles(
        io.BytesIO(b"       Fresh a v1.0.0\n   Compiling b v1.0.0\n    Finished `dev` in 1.0s\n")
    )
    assert pruned.new_groups[0].kind == r.NEW_NOT_CACHED


def test_unnamed_dependency_cascade_goes_to_the_single_root() -> None:
    # cargo 1.69-1.94 wording without the dependency's name.
    report = explain_recompiles(
        io.BytesIO(
            b"       Dirty pyo3-build-config v0.17.3: the env variable PYO3_PYTHON changed\n"
            b"   Compiling pyo3-build-config v0.17.3\n"
            b"       Dirty pyo3-ffi v0.17.3: dependency info changed\n"
            b"   Compiling pyo3-ffi v0.17.3\n"
            b"       Dirty pyo3 v0.17.3: the dependency pyo3-ffi was rebuilt\n"
            b"   Compiling pyo3 v0.17.3\n"
        )
    )
    (cause,) = report.root_causes
    assert cause.package == "pyo3-build-config"
    assert {u.package: u.root_cause for u in report.units} == {
        "pyo3-build-config": "pyo3-build-config",
        "pyo3-ffi": "pyo3-build-config",
        "pyo3": "pyo3-build-config",
    }


def test_registry_source_with_new_mtime_points_at_restore() -> None:
    report = explain_recompiles(
        io.BytesIO(
            b"       Dirty libc v0.2.191: the file `/home/u/.cargo/registry/src/index/libc/"
            b"build.rs` has changed (1.0s, 5s after last build at 0.0s)\n"
            b"   Compiling libc v0.2.191\n"
        )
    )
    assert "restore" in report.root_causes[0].hint


# Every wording cargo 1.95's dirty_reason.rs prints, plus older and newer ones.
WORDINGS = [
    ("the toolchain changed", r.TOOLCHAIN),
    ("the list of features changed", r.FEATURES),
    ("the list of declared features changed", r.FEATURES),
    ("the target configuration changed", r.TARGET),
    ("the path to the source changed", r.SOURCE_PATH),
    ("the profile configuration changed", r.PROFILE),
    ("the rustflags changed", r.RUSTFLAGS),
    ("the metadata changed", r.DEPENDENCIES),
    ("the config settings changed", r.CONFIG_SETTINGS),
    ("the rustc compile kind changed", r.TARGET),
    ("the local lengths changed", r.BUILD_SCRIPT),
    ("the precalculated components changed", r.DEPENDENCIES),
    ("the prior compilation used checksum freshness and this one does not", r.CHECKSUM),
    ("checksum freshness requested, prior compilation did not use checksum freshness", r.CHECKSUM),
    (
        "the prior compilation fingerprinted build inputs using `mtime` and this one used `x`",
        r.CHECKSUM,
    ),
    ("the dependency info output changed", r.BUILD_SCRIPT),
    ("rerun-if-changed output file path changed", r.BUILD_SCRIPT),
    ("the rerun-if-changed instructions changed", r.BUILD_SCRIPT),
    ("the environment variables changed", r.BUILD_SCRIPT),
    ("the env variable PYO3_PYTHON changed", r.INTERPRETER_ENV),
    ("the env variable VIRTUAL_ENV changed", r.INTERPRETER_ENV),
    ("the environment variable PATH changed", r.INTERPRETER_ENV),
    ("the env variable PYO3_CONFIG_FILE changed", r.PYO3_CONFIG),
    ("the env variable CC changed", r.ENV_VAR),
    ("the local fingerprint type changed", r.BUILD_SCRIPT),
    ("number of dependencies changed (3 => 4)", r.DEPENDENCIES),
    ("name of dependency changed (a => b)", r.DEPENDENCIES),
    ("info of dependency `pyo3` changed", r.CASCADE),
    ("dependency info changed", r.CASCADE),
    ("stale, unknown reason", r.UNKNOWN),
    ("the file `src/lib.rs` is missing", r.FILE_MISSING),
    ("the file `src/lib.rs` could not be read", r.FILE_MISSING),
    ("couldn't read metadata for file `src/lib.rs`", r.FILE_MISSING),
    ("the file `src/lib.rs` has changed (1.5s, 1s after last build at 0.5s)", r.FILE_CHANGED),
    ("the file `src/lib.rs` has changed (checksum didn't match, a != b)", r.FILE_CHANGED),
    ("file size changed (10 != 12) for `src/lib.rs`", r.FILE_CHANGED),
    ("the checksum for file `src/lib.rs` is missing", r.CHECKSUM),
    (
        "the file `<T>/pyo3-config-abc.txt` has changed (1s, 1s after last build at 0s)",
        r.PYO3_CONFIG,
    ),
    ("the dependency `pyo3` was rebuilt (1s, 1s after last build at 0s)", r.CASCADE),
    ("the dependency `pyo3` was rebuilt", r.CASCADE),
    ("the dependency pyo3 was rebuilt", r.CASCADE),
    ("the fingerprint comparison turned up nothing obvious", r.UNKNOWN),
    ("forced", r.FORCED),
    ("something cargo will say in 2030", r.UNKNOWN),
]


@pytest.mark.parametrize(("text", "kind"), WORDINGS)
def test_every_cargo_wording_is_classified(text: str, kind: str) -> None:
    assert r.classify_reason(text).kind == kind


@pytest.mark.parametrize(
    ("debug", "text", "kind"),
    [
        ("RustcChanged", "the toolchain changed", r.TOOLCHAIN),
        (
            'FeaturesChanged { old: "[]", new: "[\\"x\\"]" }',
            "the list of features changed",
            r.FEATURES,
        ),
        ("UnitDependencyInfoChanged { unit: UnitIndex(9) }", "dependency info changed", r.CASCADE),
        (
            'UnitDependencyInfoChanged { old_name: "pyo3", old_fingerprint: 1, '
            'new_name: "pyo3", new_fingerprint: 2 }',
            "info of dependency `pyo3` changed",
            r.CASCADE,
        ),
        (
            "NumberOfDependenciesChanged { old: 1, new: 2 }",
            "number of dependencies changed (1 => 2)",
            r.DEPENDENCIES,
        ),
        (
            'FsStatusOutdated(StaleItem(MissingFile { path: "/a/b.rs" }))',
            "the file `/a/b.rs` is missing",
            r.FILE_MISSING,
        ),
        (
            'FsStatusOutdated(StaleItem(MissingFile("/a/b.rs")))',
            "the file `/a/b.rs` is missing",
            r.FILE_MISSING,
        ),
        (
            'FsStatusOutdated(StaleItem(ChangedEnv { var: "PATH", previous: None, current: '
            'Some("/x") }))',
            "the environment variable PATH changed",
            r.INTERPRETER_ENV,
        ),
        ("FsStatusOutdated(Stale)", "stale, unknown reason", r.UNKNOWN),
        (
            "ChecksumUseChanged { old: true }",
            "the prior compilation used checksum freshness and this one does not",
            r.CHECKSUM,
        ),
        ("Forced", "forced", r.FORCED),
        ("NothingObvious", "the fingerprint comparison turned up nothing obvious", r.UNKNOWN),
    ],
)
def test_fingerprint_debug_reasons_become_cargo_wording(debug: str, text: str, kind: str) -> None:
    reason = r.reason_from_debug(debug)
    assert reason is not None and (reason.text, reason.kind) == (text, kind)


def test_fresh_build_debug_reason_means_new_unit() -> None:
    assert r.reason_from_debug("FreshBuild") is None


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"", "is empty"),
        (bytes(range(256)) * 50, "binary"),
        (b"hello\nworld\n", "no cargo output"),
        (b"\xff\xfe\x00garbage\n" * 10, "binary"),
    ],
)
def test_bad_input_gives_a_report_that_says_so(data: bytes, fragment: str) -> None:
    report = explain_recompiles(io.BytesIO(data))
    assert report.invocations == []
    assert report.headline.startswith("No cargo output found")
    assert fragment in report.headline


def test_member_build_script_without_rerun_if_changed_is_named_with_its_fix() -> None:
    # rpds-py 2026.9.1's build.rs prints no rerun-if-changed: editing rpds.pyi
    # rebuilt the crate, and cargo only said "the precalculated components changed".

    report = _report("human/build-script-package-files.log")
    assert report.counts["rebuilt"] == 1
    (cause,) = report.root_causes
    assert (cause.package, cause.kind) == ("rpds-py", r.PACKAGE_FILES)
    assert "rerun-if-changed" in cause.hint
    assert "Python file" in cause.hint
    # A registry package keeps the general classification (no package folder of yours).
    assert r.classify_reason("the precalculated components changed").kind == r.DEPENDENCIES


def _body(name: str) -> str:
    return "".join((FIXTURES / name).read_text().splitlines(True)[1:])


def test_long_log_lists_every_rebuilt_unit_but_fresh_ones_of_the_last_invocations_only(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(causes, "FRESH_UNITS_INVOCATIONS", 2)
    # 5 invocations: rebuild (3 rebuilt + 11 fresh), no-op (14 fresh) x 2, rebuild, no-op.
    log = "".join(
        _body(n)
        for n in (
            "human/pyo3-python-changed.log",
            "human/noop.log",
            "human/noop.log",
            "human/pyo3-python-changed.log",
            "human/noop.log",
        )
    )
    report = explain_recompiles(io.BytesIO(log.encode()))
    assert report.invocation_count == 5 and report.number_of_invocations == 5
    # No-op invocations 2 and 3 are counted, not listed.
    assert [i.index for i in report.invocations] == [1, 4, 5]
    assert report.invocations_truncated == 2
    assert report.counts == {"fresh": 11 + 14 + 14 + 11 + 14, "rebuilt": 6, "new": 0, "compiled": 0}
    rebuilt = [(u.invocation, u.package) for u in report.units if u.status == "rebuilt"]
    assert sorted(rebuilt) == sorted(
        (i, p) for i in (1, 4) for p in ("pyo3-ffi", "pyo3", "hello-pyo3")
    )
    fresh_in = {u.invocation for u in report.units if u.status == "fresh"}
    assert fresh_in == {4, 5}
    assert report.units_truncated == 11 + 14 + 14
    assert [u.invocation for u in report.units] == sorted(u.invocation for u in report.units)
    (cause,) = report.root_causes
    assert cause.invocations == [1, 4] and report.cascade_size(cause) == 6
    assert report.headline == (
        "3 crates rebuilt in each of 2 cargo runs because PYO3_PYTHON changed"
    )
    data = report.to_json()
    assert data["units_truncated"] == 39 and data["counts"]["fresh"] == 64
    assert data["invocations"] == 5 and data["invocations_truncated"] == 2


def test_short_log_lists_every_unit() -> None:
    report = _report("human/noop.log", "human/pyo3-python-changed.log")
    assert report.units_truncated == 0
    assert len(report.units) == sum(report.counts.values()) == 28


def test_fresh_units_of_the_window_keep_their_cargo_order() -> None:
    report = _report("human/pyo3-python-changed.log")
    body = _body("human/pyo3-python-changed.log")
    statuses = [
        line.split()[1] for line in body.splitlines() if line.split()[:1] in (["Fresh"], ["Dirty"])
    ]
    assert [u.package for u in report.units] == statuses


def test_coloured_cold_verbose_build_compiles_units_anew() -> None:
    log = (
        b"\x1b[1m\x1b[32m   Compiling\x1b[0m a v1.0.0\n"
        b"\x1b[1m\x1b[32m     Running\x1b[0m `/x/bin/rustc --crate-name a`\n"
        b"\x1b[1m\x1b[32m    Finished\x1b[0m `dev` profile in 2.00s\n"
    )
    report = explain_recompiles(io.BytesIO(log))
    assert report.counts == {"fresh": 0, "rebuilt": 0, "new": 1, "compiled": 0}
    assert report.unexplained == 0 and report.new_groups[0].kind == r.NEW_COLD
