"""Every scenario recorded from real cargo 1.95 on the two-crate workspace
(tests/fixtures/cargo-logs/record_workspace.py), in its three forms, with and
without the target dir the build left: the reason kind, the package, old and
new values, the cascade, and no claim the evidence contradicts."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from pyo3_cache import explain_recompiles
from pyo3_cache.explain.render import render
from pyo3_cache.explain.report import RecompileReport

WORKSPACE = Path(__file__).parents[1] / "fixtures" / "cargo-logs" / "workspace"
FORMS = ("human", "json", "cargo-log")
STEMS = sorted(p.stem for p in (WORKSPACE / "json").glob("*.log"))


def target_dir(stem: str, tmp: Path) -> Path:
    out = tmp / "target"
    with tarfile.open(WORKSPACE / "target" / f"{stem}.tar.gz") as tar:
        for member in tar.getmembers():
            assert not member.name.startswith(("/", "..")) and ".." not in Path(member.name).parts
        tar.extractall(out)
    return out


def explain(form: str, stem: str, tmp: Path | None = None) -> RecompileReport:
    log = WORKSPACE / form / f"{stem}.log"
    return explain_recompiles(log, target_dir=target_dir(stem, tmp) if tmp else None)


def group(
    report: RecompileReport, kind: str
) -> tuple[list[str], list[str], str | None, str | None]:
    (found,) = [g for g in report.new_groups if g.kind == kind]
    return found.packages, found.cascade, found.old_value, found.new_value


def test_every_fixture_has_its_header_and_no_machine_path() -> None:
    for path in WORKSPACE.rglob("*.log"):
        text = path.read_text(encoding="utf-8")
        assert text.startswith("# pyo3-cache fixture: tool: "), path
        assert "cargo 1.95.0" in text.splitlines()[0], path
        assert "/tmp/" not in text and "/root/" not in text and "/work/" not in text, path
    assert len(STEMS) == 19


@pytest.mark.parametrize("form", FORMS)
def test_lock_bump_names_the_version_change_and_its_cascade(form: str, tmp_path: Path) -> None:
    report = explain(form, "lock-bump", tmp_path)
    assert group(report, "dependency-version") == (["once_cell"], ["app"], "1.21.4", "1.21.3")
    assert report.headline == "2 crates compiled anew because once_cell 1.21.4 → 1.21.3"


@pytest.mark.parametrize("form", FORMS)
def test_new_dependency_is_named(form: str, tmp_path: Path) -> None:
    report = explain(form, "new-dependency", tmp_path)
    packages, _, _, new = group(report, "new-dependency")
    assert sorted(packages) == ["app", "cfg-if"] and new == "+ cfg-if"


@pytest.mark.parametrize("form", FORMS)
def test_feature_change_names_old_and_new_features(form: str, tmp_path: Path) -> None:
    report = explain(form, "feature", tmp_path)
    assert group(report, "features") == (["util"], ["app"], "[]", '["extra"]')


@pytest.mark.parametrize(
    ("stem", "now"),
    [
        ("profile-env", "opt-level 0, debuginfo 0, incremental on"),
        ("opt-level", "opt-level 2, debuginfo 2, incremental on"),
        ("incremental", "opt-level 0, debuginfo 2, incremental off"),
    ],
)
def test_profile_changes_say_profile_and_the_settings_now(
    stem: str, now: str, tmp_path: Path
) -> None:
    report = explain("human", stem, tmp_path)
    _, _, old, new = group(report, "profile")
    assert old is None and new == now
    assert "the profile changed" in report.headline
    # Without the verbose commands the kind is still known, the values are not.
    assert group(explain("cargo-log", stem, tmp_path), "profile")[3] is None


@pytest.mark.parametrize(
    ("stem", "old", "new"),
    [
        ("rustflags-once", "(none)", "+ --cfg=myflag"),
        ("encoded-rustflags", "--cfg=myflag", "+ --cfg=other - --cfg=myflag"),
    ],
)
@pytest.mark.parametrize("form", FORMS)
def test_rustflags_changes_show_the_flags(
    form: str, stem: str, old: str, new: str, tmp_path: Path
) -> None:
    packages, cascade, was, now = group(explain(form, stem, tmp_path), "rustflags")
    assert sorted(packages) == ["app", "once_cell", "util"] and cascade == []
    assert (was, now) == (old, new)


@pytest.mark.parametrize("form", FORMS)
def test_target_change_is_host_to_the_triple(form: str, tmp_path: Path) -> None:
    _, _, old, new = group(explain(form, "target", tmp_path), "target")
    assert (old, new) == ("host", "x86_64-unknown-linux-gnu")


@pytest.mark.parametrize("form", ("human", "cargo-log"))
@pytest.mark.parametrize("stem", ["watched-touched", "watched-edited"])
def test_build_script_watched_file_is_called_that(form: str, stem: str, tmp_path: Path) -> None:
    for tmp in (None, tmp_path):
        report = explain(form, stem, tmp)
        if form == "cargo-log" and tmp is None:
            continue  # CARGO_LOG without -v has no build-script Running line
        (cause,) = report.root_causes
        assert cause.kind == "watched-file" and cause.package == "util"
        assert cause.cascade == ["app"]
        assert "rerun-if-changed" in cause.hint and "a source file" not in cause.hint
        assert "a file util's build script watches" in report.headline


def test_env_change_and_path_dependency_edit_keep_cargo_reasons() -> None:
    (env,) = explain("human", "env-changed").root_causes
    assert (env.kind, env.variable, env.cascade) == ("env-var", "UTIL_MODE", ["app"])
    (edit,) = explain("human", "path-dep-edit").root_causes
    assert (edit.kind, edit.file, edit.cascade) == ("file-changed", "util/src/lib.rs", ["app"])
    (touched,) = explain("human", "touch-no-change").root_causes
    assert touched.file == "app/src/main.rs" and touched.cascade == []


@pytest.mark.parametrize("fmt", ["text", "markdown", "json"])
def test_secret_env_values_are_redacted_in_every_output(fmt: str, tmp_path: Path) -> None:
    for form in FORMS:
        log = (WORKSPACE / form / "secret-env.log").read_text()
        assert form == "json" or "SECRETVALUE" in log  # the log really has them
        report = explain(form, "secret-env", tmp_path / form)
        out = render(report, fmt)
        assert "SECRETVALUE" not in out and "sntrys_" not in out
    (cause,) = explain("cargo-log", "secret-env").root_causes
    assert cause.variable == "SENTRY_AUTH_TOKEN"
    assert (cause.old_value, cause.new_value) == ("<redacted>", "<redacted>")


@pytest.mark.parametrize("form", FORMS)
def test_compile_error_is_a_failed_build_naming_the_crate(form: str) -> None:
    report = explain(form, "compile-error")
    assert report.headline.startswith("Build failed: could not compile `app`")
    data = json.loads(render(report, "json"))
    assert data["failures"] == [{"invocation": 1, "package": "app"}]
    assert "could not compile &#96;app&#96;" in render(report, "markdown")


@pytest.mark.parametrize("form", ("human", "cargo-log"))
def test_cargo_test_after_build_is_the_test_harness_not_a_cold_cache(
    form: str, tmp_path: Path
) -> None:
    report = explain(form, "test-after-build", tmp_path)
    (found,) = report.new_groups
    assert found.kind == "test-harness" and sorted(found.packages) == ["app", "util"]


def test_cold_build_is_cold_in_every_form(tmp_path: Path) -> None:
    assert explain("human", "cold", tmp_path).new_groups[0].kind == "cold-cache"
    assert explain("cargo-log", "cold", tmp_path).new_groups[0].kind == "cold-cache"
    json_report = explain("json", "cold", tmp_path)
    assert json_report.counts["compiled"] == 3 and "cannot tell new from rebuilt" in (
        json_report.headline
    )


def test_github_copy_and_interleaved_pytest_give_the_same_answer(tmp_path: Path) -> None:
    plain = explain("human", "lock-bump", tmp_path)
    for log in (
        WORKSPACE / "github" / "lock-bump.log",
        WORKSPACE / "human" / "lock-bump-with-pytest.log",
    ):
        assert b"\r\n" in log.read_bytes() or "PASSED" in log.read_text()
        report = explain_recompiles(log, target_dir=tmp_path / "target")
        assert report.headline == plain.headline
        assert [g.to_json() for g in report.new_groups] == [g.to_json() for g in plain.new_groups]


def test_lock_bump_without_target_dir_says_which_evidence_is_missing() -> None:
    report = explain("human", "lock-bump")
    assert "does not say why" not in report.headline
    assert report.headline == "2 crates compiled with no previous build (not in the target dir)"


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("stem", STEMS)
def test_no_report_states_what_the_evidence_contradicts(
    form: str, stem: str, tmp_path: Path
) -> None:
    log = (WORKSPACE / form / f"{stem}.log").read_text()
    for tmp in (None, tmp_path):
        report = explain(form, stem, tmp)
        kinds = {g.kind for g in report.new_groups}
        fresh_here = any(u.status == "fresh" for u in report.units)
        if fresh_here or (tmp is not None and stem != "cold"):
            assert "cold-cache" not in kinds, (stem, form)
        for unit in report.units:
            if form == "json":
                assert unit.status in ("fresh", "compiled", "new"), (stem, unit)
            if unit.root_cause == unit.package and unit.status in ("rebuilt", "compiled"):
                assert any(c.package == unit.package for c in report.root_causes), (stem, unit)
        if '"level":"error"' not in log and "could not compile" not in log:
            assert not report.failures and "failed" not in report.headline
        if report.verbose:
            assert "not verbose" not in report.headline


@pytest.mark.parametrize(
    "log", ["human/cargo-build-after-maturin", "human/maturin-after-cargo-build"]
)
def test_alternation_cascade_from_a_fresh_dependency_is_its_own_cause(
    log: str, tmp_path: Path
) -> None:
    """`cargo build` and `maturin build` (which adds pyo3/extension-module) take
    turns: pyo3 is Fresh (both builds exist) but the cdylib's one slot was last
    written by the other command."""
    for target in (None, target_dir("cargo-build-after-maturin", tmp_path)):
        report = explain_recompiles(WORKSPACE / f"{log}.log", target_dir=target)
        (cause,) = report.root_causes
        assert (cause.package, cause.kind) == ("hello-pyo3", "other-build-of-dependency")
        assert cause.reason == (
            "last built against a different build of pyo3 "
            "(features differ between the commands that build this crate)"
        )
        assert "one feature set for `cargo test` and `maturin build`" in cause.hint
        assert "separate target dirs" in cause.hint
        assert "PYO3_PYTHON" not in report.headline
        pyo3 = next(u for u in report.units if u.package == "pyo3")
        assert pyo3.status == "fresh"


def test_unnamed_cascade_in_cargo_log_says_what_is_missing() -> None:
    report = explain_recompiles(WORKSPACE / "cargo-log" / "cargo-build-after-maturin.log")
    assert report.headline == (
        "1 crate rebuilt because a dependency changed that the log does not name "
        "(CARGO_LOG gives a unit index only: add -v)"
    )
