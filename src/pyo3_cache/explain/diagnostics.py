"""Why did cargo recompile?  The model behind ``pyo3-cache explain``.

cargo_log.py turns logs into events; this module groups them per cargo
invocation and per package (cargo prints one status per package and
invocation), gives every unit a status, and works out the cascade:

* ``fresh``: reused from the cache;
* ``rebuilt``: a previous build existed but was stale, with cargo's reason;
  either a *root cause* (its own input changed: an env variable, a file,
  rustflags, features, profile, toolchain...) or a *cascade* (it only rebuilt
  because a dependency did: ``info of dependency `pyo3-ffi` changed``);
* ``new``: compiled with no previous build to compare with (cold or pruned
  cache, or a changed flag/feature set, which gives the unit a new hash),
  grouped with the likely reason.

Every dirty reason cargo 1.95 prints is classified (the wording table in
cargo's ``fingerprint/dirty_reason.rs``), as are the older wordings (cargo
1.69-1.94: ``dependency info changed`` without a name, ``the metadata
changed``, ``the dependency foo was rebuilt`` without backticks) and the
``Debug`` spelling of the same reasons in ``CARGO_LOG`` fingerprint lines.
"""

from __future__ import annotations

import functools
import io
import os
import re
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, Union, cast

from pyo3_cache.errors import LogError
from pyo3_cache.explain.cargo_log import (
    BuildFailed,
    Event,
    FingerprintLine,
    Finished,
    JsonArtifact,
    JsonBuildFinished,
    LogStats,
    Running,
    UnitStatus,
    Where,
    iter_event_batches,
)

# Kinds: our classification of a reason.  Public (JSON `kind`), so stable.
INTERPRETER_ENV = "interpreter-env"  # PYO3_PYTHON, VIRTUAL_ENV, PATH, CONDA_PREFIX
PYO3_CONFIG = "pyo3-config"  # PYO3_CONFIG_FILE or the file it names
ENV_VAR = "env-var"
FILE_CHANGED = "file-changed"
FILE_MISSING = "file-missing"
TOOLCHAIN = "toolchain"
FEATURES = "features"
RUSTFLAGS = "rustflags"
PROFILE = "profile"
TARGET = "target"
SOURCE_PATH = "source-path"
CONFIG_SETTINGS = "config-settings"
BUILD_SCRIPT = "build-script"
DEPENDENCIES = "dependencies"
CHECKSUM = "checksum"
FORCED = "forced"
UNKNOWN = "unknown"
CASCADE = "dependency-rebuilt"
# A workspace package's build script that prints no rerun-if-changed: cargo
# (1.95) then reruns it when any file of the package is newer, and says only
# "the precalculated components changed" (seen on rpds-py 2026.9.1).
PACKAGE_FILES = "package-files"
# Kinds of groups of new units.
NEW_COLD = "cold-cache"
NEW_NOT_CACHED = "not-cached"

# pyo3-build-config 0.30.1 find_interpreter(): PATH only when neither PYO3_PYTHON nor a
# virtualenv is set; PYO3_ENVIRONMENT_SIGNATURE lets tools force a re-resolve (pyo3 #2724).
INTERPRETER_VARIABLES = frozenset(
    {"PYO3_PYTHON", "VIRTUAL_ENV", "PATH", "CONDA_PREFIX", "PYO3_ENVIRONMENT_SIGNATURE"}
)


# --- reasons -----------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """A dirty reason in cargo's words, classified."""

    text: str
    kind: str
    dependency: str | None = None  # cascades: the package cargo names, if any
    variable: str | None = None
    file: str | None = None
    old_value: str | None = None
    new_value: str | None = None

    @property
    def is_cascade(self) -> bool:
        return self.kind == CASCADE


_FIXED_WORDINGS: dict[str, str] = {
    "the toolchain changed": TOOLCHAIN,
    "the list of features changed": FEATURES,
    "the list of declared features changed": FEATURES,
    "the target configuration changed": TARGET,
    "the rustc compile kind changed": TARGET,
    "the path to the source changed": SOURCE_PATH,
    "the profile configuration changed": PROFILE,
    "the rustflags changed": RUSTFLAGS,
    "the metadata changed": DEPENDENCIES,  # cargo <= 1.85: [package] metadata
    "the config settings changed": CONFIG_SETTINGS,
    "the local lengths changed": BUILD_SCRIPT,
    "the precalculated components changed": DEPENDENCIES,
    "the dependency info output changed": BUILD_SCRIPT,
    "rerun-if-changed output file path changed": BUILD_SCRIPT,
    "the rerun-if-changed instructions changed": BUILD_SCRIPT,
    "the environment variables changed": BUILD_SCRIPT,
    "the local fingerprint type changed": BUILD_SCRIPT,
    "stale, unknown reason": UNKNOWN,
    "the fingerprint comparison turned up nothing obvious": UNKNOWN,
    "forced": FORCED,
    "dependency info changed": CASCADE,  # cargo 1.69-1.94: no name
    "the prior compilation used checksum freshness and this one does not": CHECKSUM,
    "checksum freshness requested, prior compilation did not use checksum freshness": CHECKSUM,
}

_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^the env(?:ironment)? variable (\S+) changed$"), ENV_VAR),
    (re.compile(r"^info of dependency `([^`]*)` changed$"), CASCADE),
    (re.compile(r"^the dependency `([^`]*)` was rebuilt\b"), CASCADE),
    (re.compile(r"^the dependency (\S+) was rebuilt\b"), CASCADE),  # cargo <= 1.87
    (re.compile(r"^the file `(.*)` has changed\b"), FILE_CHANGED),
    (re.compile(r"^file size changed \(\d+ != \d+\) for `(.*)`$"), FILE_CHANGED),
    (re.compile(r"^the file `(.*)` is missing$"), FILE_MISSING),
    (re.compile(r"^the file `(.*)` could not be read$"), FILE_MISSING),
    (re.compile(r"^couldn't read metadata for file `(.*)`$"), FILE_MISSING),
    (re.compile(r"^the checksum for file `(.*)` is missing$"), CHECKSUM),
    (re.compile(r"^number of dependencies changed \((.*)\)$"), DEPENDENCIES),
    (re.compile(r"^name of dependency changed \((.*)\)$"), DEPENDENCIES),
    # cargo after 1.95 (build.fingerprint setting): the fingerprint method changed.
    (re.compile(r"^the prior compilation fingerprinted build inputs using `(.*)`"), CHECKSUM),
]


def classify_reason(text: str) -> Reason:
    """Cargo's human wording of a dirty reason -> a classified ``Reason``."""
    text = text.strip()
    kind = _FIXED_WORDINGS.get(text)
    if kind is not None:
        return Reason(text, kind)
    for pattern, kind in _PATTERNS:
        match = pattern.match(text)
        if not match:
            continue
        value = match.group(1)
        if kind == ENV_VAR:
            return Reason(text, _env_kind(value), variable=value)
        if kind == CASCADE:
            return Reason(text, CASCADE, dependency=value)
        if kind in (FILE_CHANGED, FILE_MISSING) or value.startswith(("/", "<")) or "/" in value:
            file_kind = PYO3_CONFIG if _is_pyo3_config(value) else kind
            return Reason(text, file_kind, file=value)
        return Reason(text, kind)
    return Reason(text, UNKNOWN)


def _env_kind(variable: str) -> str:
    if variable in INTERPRETER_VARIABLES:
        return INTERPRETER_ENV
    if variable == "PYO3_CONFIG_FILE":
        return PYO3_CONFIG
    return ENV_VAR


def _is_pyo3_config(path: str) -> bool:
    name = path.replace("\\", "/").rsplit("/", 1)[-1]
    return "pyo3-config" in name or "pyo3_config" in name or "pyo3-build-config" in name


# CARGO_LOG prints `dirty: <Debug of DirtyReason>`; map it to cargo's human wording.
_DEBUG_FIXED = {
    "RustcChanged": "the toolchain changed",
    "TargetConfigurationChanged": "the target configuration changed",
    "PathToSourceChanged": "the path to the source changed",
    "ProfileConfigurationChanged": "the profile configuration changed",
    "MetadataChanged": "the metadata changed",
    "ConfigSettingsChanged": "the config settings changed",
    "CompileKindChanged": "the rustc compile kind changed",
    "LocalLengthsChanged": "the local lengths changed",
    "PrecalculatedComponentsChanged": "the precalculated components changed",
    "DepInfoOutputChanged": "the dependency info output changed",
    "RerunIfChangedOutputFileChanged": "rerun-if-changed output file path changed",
    "RerunIfChangedOutputPathsChanged": "the rerun-if-changed instructions changed",
    "EnvVarsChanged": "the environment variables changed",
    "LocalFingerprintTypeChanged": "the local fingerprint type changed",
    "NothingObvious": "the fingerprint comparison turned up nothing obvious",
    "Forced": "forced",
    "FeaturesChanged": "the list of features changed",
    "DeclaredFeaturesChanged": "the list of declared features changed",
    "RustflagsChanged": "the rustflags changed",
    "Stale": "stale, unknown reason",
}
_DEBUG_STRING = r'"((?:[^"\\]|\\.)*)"'
_DEBUG_OPTION = r'(None|Some\("(?:[^"\\]|\\.)*"\))'


def _debug_unquote(value: str) -> str:
    if value.startswith('Some("') and value.endswith('")'):
        value = value[5:-1]
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1]
    return value.replace('\\"', '"').replace("\\\\", "\\")


@functools.cache
def _debug_field_pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"\b{name}: ({_DEBUG_STRING}|{_DEBUG_OPTION}|\[[^\]]*\]|[\w.]+)")


def _debug_field(debug: str, name: str) -> str | None:
    match = _debug_field_pattern(name).search(debug)
    return match.group(1) if match else None


_DEBUG_REASONS: dict[str, Reason | None] = {}


def reason_from_debug(debug: str) -> Reason | None:
    """``EnvVarChanged { name: "PYO3_PYTHON", ... }`` -> a ``Reason`` in cargo's words.

    Returns None for ``FreshBuild`` (no previous build: a new unit).  The same
    few reasons come back in every invocation of a log, so answers are cached.
    """
    debug = debug.strip()
    if debug in _DEBUG_REASONS:
        return _DEBUG_REASONS[debug]
    if len(_DEBUG_REASONS) > 4096:
        _DEBUG_REASONS.clear()
    reason = _DEBUG_REASONS[debug] = _reason_from_debug(debug)
    return reason


def _reason_from_debug(debug: str) -> Reason | None:
    variant = re.match(r"\w+", debug)
    if not variant:
        return None
    name = variant.group(0)
    if name == "FreshBuild":
        return None
    if name == "FsStatusOutdated":
        return _fs_status_reason(debug)
    if name == "EnvVarChanged":
        var = _debug_unquote(_debug_field(debug, "name") or '"?"')
        old = _debug_field(debug, "old_value")
        new = _debug_field(debug, "new_value")
        return Reason(
            f"the env variable {var} changed",
            _env_kind(var),
            variable=var,
            old_value=_debug_unquote(old) if old and old != "None" else None,
            new_value=_debug_unquote(new) if new and new != "None" else None,
        )
    if name == "UnitDependencyInfoChanged":
        # cargo 1.69-1.94 printed the names; 1.95 only a unit index.
        dep = _debug_field(debug, "new_name") or _debug_field(debug, "old_name")
        if dep:
            dep = _debug_unquote(dep)
            return Reason(f"info of dependency `{dep}` changed", CASCADE, dependency=dep)
        return Reason("dependency info changed", CASCADE)
    if name in ("NumberOfDependenciesChanged", "UnitDependencyNameChanged"):
        old = _debug_unquote(_debug_field(debug, "old") or "?")
        new = _debug_unquote(_debug_field(debug, "new") or "?")
        what = "number of dependencies" if name.startswith("Number") else "name of dependency"
        return Reason(f"{what} changed ({old} => {new})", DEPENDENCIES)
    if name == "ChecksumUseChanged":
        used = _debug_field(debug, "old") == "true"
        return classify_reason(
            "the prior compilation used checksum freshness and this one does not"
            if used
            else "checksum freshness requested, prior compilation did not use checksum freshness"
        )
    wording = _DEBUG_FIXED.get(name)
    if wording is None:
        return Reason(debug, UNKNOWN)
    reason = classify_reason(wording)
    if name in ("FeaturesChanged", "DeclaredFeaturesChanged", "RustflagsChanged"):
        old = _debug_field(debug, "old")
        new = _debug_field(debug, "new")
        return Reason(
            reason.text,
            reason.kind,
            old_value=_debug_unquote(old) if old else None,
            new_value=_debug_unquote(new) if new else None,
        )
    return reason


def _fs_status_reason(debug: str) -> Reason:
    def path_of(*names: str) -> str:
        for n in names:
            value = _debug_field(debug, n)
            if value:
                return _debug_unquote(value)
        tuple_arg = re.search(r"\w+\(" + _DEBUG_STRING + r"\)", debug)  # MissingFile("...")
        return _debug_unquote(f'"{tuple_arg.group(1)}"') if tuple_arg else "?"

    if "StaleDependency" in debug or "StaleDepFingerprint" in debug:
        dep = _debug_field(debug, "name")
        if dep:
            return Reason(
                f"the dependency `{_debug_unquote(dep)}` was rebuilt",
                CASCADE,
                dependency=_debug_unquote(dep),
            )
        return Reason("the dependency was rebuilt", CASCADE)
    if "ChangedEnv" in debug:
        var = _debug_unquote(_debug_field(debug, "var") or '"?"')
        old = _debug_field(debug, "previous")
        new = _debug_field(debug, "current")
        return Reason(
            f"the environment variable {var} changed",
            _env_kind(var),
            variable=var,
            old_value=_debug_unquote(old) if old and old != "None" else None,
            new_value=_debug_unquote(new) if new and new != "None" else None,
        )
    if "ChangedFile" in debug:
        return classify_reason(f"the file `{path_of('stale')}` has changed")
    if "ChangedChecksum" in debug:
        return classify_reason(f"the file `{path_of('source')}` has changed (checksum)")
    if "FileSizeChanged" in debug:
        return classify_reason(f"the file `{path_of('path')}` has changed (size)")
    if "MissingChecksum" in debug:
        return classify_reason(f"the checksum for file `{path_of('path')}` is missing")
    if "UnableToReadFile" in debug:
        return classify_reason(f"the file `{path_of('path')}` could not be read")
    if "FailedToReadMetadata" in debug:
        return classify_reason(f"couldn't read metadata for file `{path_of('path')}`")
    if "MissingFile" in debug:
        return classify_reason(f"the file `{path_of('path')}` is missing")
    return classify_reason("stale, unknown reason")


# --- hints -------------------------------------------------------------------


def hint_for(reason: Reason, *, workspace_member: bool = False) -> str:
    """Plain-words advice for a root cause."""
    kind = reason.kind
    if kind == INTERPRETER_ENV:
        return (
            f"PyO3's build script re-resolves the Python interpreter when {reason.variable} "
            "changes; PEP 517 front-ends (uv, pip, build) run it from a new temporary "
            "environment each time. Run `pyo3-cache pin` before the build to give PyO3 a "
            "stable interpreter config (PYO3_CONFIG_FILE + PYO3_PYTHON)."
        )
    if kind == PYO3_CONFIG:
        if reason.variable:
            return (
                "PYO3_CONFIG_FILE pointed somewhere else than in the cached build. PyO3 "
                "tracks the variable's value and the file's mtime: keep one stable path "
                "(`pyo3-cache pin` writes a content-addressed file with a pinned mtime) and "
                "set it in every step that builds."
            )
        return (
            "The PyO3 config file was rewritten (new content or a new mtime). Generate it "
            "with `pyo3-cache pin`, which keeps the content stable and pins the mtime."
        )
    if kind == ENV_VAR:
        return (
            f"A build script tracks {reason.variable} (cargo:rerun-if-env-changed) and its "
            "value differs from the cached build. Set it identically in every step, or "
            "leave it unset."
        )
    if kind == FILE_CHANGED:
        if workspace_member:
            return (
                "A source file is newer than the last build. If nobody edited it, the "
                "checkout or cache restore did not preserve mtimes (git checkout sets them "
                "to now): expected for workspace members in CI; only dependencies are "
                "reused across runs."
            )
        return (
            "A dependency's source file has a newer mtime than the cached build: the "
            "cache restore did not preserve mtimes of $CARGO_HOME/registry/src (or git "
            "checkouts). Restore with mtimes kept, or do not cache the sources without "
            "their build outputs."
        )
    if kind == FILE_MISSING:
        return (
            "A file the cached build depended on is gone: a pruned cache removed sources, "
            "or a generated file was deleted. Cache sources and target dir together."
        )
    if kind == TOOLCHAIN:
        return (
            "rustc changed (a toolchain update): nothing built by the old compiler can be "
            "reused. Put `rustc -vV` in the cache key and pin the toolchain with "
            "rust-toolchain.toml so updates happen on purpose."
        )
    if kind == FEATURES:
        return (
            "A different set of features was enabled than in the cached build, e.g. "
            "`cargo test` without and `maturin build` with pyo3's `extension-module`. Enable "
            "the same features in both steps (or drop extension-module: PyO3 >= 0.26 and "
            "maturin set it up themselves); each feature set is a separate build."
        )
    if kind == RUSTFLAGS:
        return (
            "RUSTFLAGS (or build.rustflags in .cargo/config.toml, CARGO_ENCODED_RUSTFLAGS) "
            "differ from the cached build. Use the same flags in every step (maturin build, "
            "cargo test) and include them in the cache key."
        )
    if kind == PROFILE:
        return (
            "The profile settings differ from the cached build ([profile.*] in Cargo.toml "
            "or .cargo/config.toml, CARGO_PROFILE_* variables). Build with the same profile "
            "settings the cache was made with."
        )
    if kind == TARGET:
        return (
            "The target (--target, build.target, CARGO_BUILD_TARGET) differs from the "
            "cached build. Use the same target in every step."
        )
    if kind == SOURCE_PATH:
        return (
            "The package's source path moved (a different checkout or CARGO_HOME path). "
            "Use the same paths in every job that shares the cache."
        )
    if kind == CONFIG_SETTINGS:
        return "A cargo configuration setting that affects compilation changed between builds."
    if kind == BUILD_SCRIPT:
        return (
            "The build script's rerun-if instructions changed, usually because it ran with "
            "different inputs (e.g. a different PyO3 config). Fix the input that changed "
            "first; this settles once builds are reproducible."
        )
    if kind == PACKAGE_FILES:
        return (
            "This package's build script prints no `cargo:rerun-if-changed`, so cargo reruns "
            "it, and rebuilds the crate, whenever any file in the package's folder is newer "
            "than the last build: a Python file, a test or docs as much as Rust code. Add "
            '`println!("cargo:rerun-if-changed=build.rs")` (and one line per file it reads) '
            "to build.rs so only its real inputs trigger a rebuild."
        )
    if kind == DEPENDENCIES:
        return (
            "The dependency graph or a dependency's version changed (Cargo.lock update, "
            "features): a rebuild is expected once per change."
        )
    if kind == CHECKSUM:
        return "Checksum-based freshness was switched on or off between builds."
    if kind == FORCED:
        return (
            "cargo was told to rebuild (e.g. cargo clippy/fix on workspace members, or "
            "`cargo build` after `cargo clean -p`)."
        )
    return (
        "cargo gave no specific reason. Run the build with "
        "CARGO_LOG=cargo::core::compiler::fingerprint=info for details."
    )


# --- the report ----------------------------------------------------------------

# Units and invocations are the records a long log makes many of: slots keep
# each one small (Python >= 3.10; on 3.9 they are ordinary dataclasses).
_SLOTS: dict[str, Any] = {"slots": True} if sys.version_info >= (3, 10) else {}

FRESH_UNITS_INVOCATIONS = 20
"""Fresh units, and invocations that rebuilt nothing, are listed for the last
this many cargo invocations only; older ones are counted (``counts``,
``units_truncated``, ``invocation_count``, ``invocations_truncated``) but not
listed, so a log of thousands of invocations gives a report of what matters.
Rebuilt and new units, invocations that rebuilt or failed, and root causes are
always listed."""


@dataclass(**_SLOTS)
class Unit:
    """One package in one cargo invocation, as cargo's status lines count them."""

    invocation: int
    package: str
    version: str
    status: str  # "fresh" | "rebuilt" | "new"
    reason: str | None = None
    root_cause: str | None = None
    kind: str | None = None
    source_path: str | None = None
    dependency: str | None = None
    old_value: str | None = None
    new_value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "status": self.status,
            "reason": self.reason,
            "root_cause": self.root_cause,
            "invocation": self.invocation,
            "kind": self.kind,
        }


@dataclass
class RootCause:
    package: str
    version: str
    kind: str
    reason: str
    hint: str
    variable: str | None = None
    file: str | None = None
    old_value: str | None = None
    new_value: str | None = None
    invocations: list[int] = field(default_factory=list)
    cascade: list[str] = field(default_factory=list)
    """Packages rebuilt only because of this one (in the same invocations)."""
    rebuilt_units: int = 0
    """Units rebuilt because of this cause, itself included, over all its invocations."""

    @property
    def phrase(self) -> str:
        """Short words for a headline: "PYO3_PYTHON changed"."""
        if self.variable:
            return f"{self.variable} changed"
        if self.file:
            return f"`{self.file}` changed"
        return self.reason

    def to_json(self) -> dict[str, Any]:
        return {
            "package": self.package,
            "version": self.version,
            "kind": self.kind,
            "reason": self.reason,
            "hint": self.hint,
            "variable": self.variable,
            "file": self.file,
            "old_value": self.old_value,
            "new_value": self.new_value,
            "invocations": self.invocations,
            "cascade": self.cascade,
        }


@dataclass
class NewGroup:
    """Units compiled with no previous build, grouped by the likely reason."""

    kind: str
    reason: str
    hint: str
    packages: list[str] = field(default_factory=list)
    invocations: list[int] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "hint": self.hint,
            "packages": self.packages,
            "invocations": self.invocations,
        }


@dataclass(**_SLOTS)
class Invocation:
    index: int
    source: str
    first_line: int
    profile: str | None = None
    seconds: float | None = None  # cargo's own "Finished ... in Xs"
    rebuild_seconds: float | None = None  # from GitHub timestamps, if any
    failed: bool = False
    fresh: int = 0
    rebuilt: int = 0
    new: int = 0

    @property
    def counts(self) -> dict[str, int]:
        return {"fresh": self.fresh, "rebuilt": self.rebuilt, "new": self.new}

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "source": self.source,
            "line": self.first_line,
            "profile": self.profile,
            "seconds": self.seconds,
            "rebuild_seconds": self.rebuild_seconds,
            "failed": self.failed,
            "counts": self.counts,
        }


@dataclass
class SourceSummary:
    """What was read from one input, so a report can say "this is not a cargo log"."""

    name: str
    bytes: int
    lines: int
    cargo_lines: int
    kinds: list[str]
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "bytes": self.bytes,
            "lines": self.lines,
            "cargo_lines": self.cargo_lines,
            "kinds": self.kinds,
            "note": self.note,
        }


@dataclass
class RecompileReport:
    invocations: list[Invocation]
    """Invocations that rebuilt, compiled something new or failed, and the last
    ``FRESH_UNITS_INVOCATIONS`` (``invocation_count`` counts them all)."""
    units: list[Unit]
    """Every rebuilt and new unit; fresh units of the last ``FRESH_UNITS_INVOCATIONS``
    invocations only (``units_truncated`` counts the others)."""
    root_causes: list[RootCause]
    new_groups: list[NewGroup]
    sources: list[SourceSummary]
    unexplained: int = 0
    """Compiled units whose log says nothing about why (not verbose, JSON only)."""
    time_lost_seconds: float | None = None
    time_basis: str | None = None  # "timestamps" | "cargo" | None
    counts: dict[str, int] = field(default_factory=lambda: {"fresh": 0, "rebuilt": 0, "new": 0})
    """Units per status over the whole log, listed or not."""
    units_truncated: int = 0
    """Fresh units counted in ``counts`` but not listed in ``units``."""
    invocation_count: int = 0
    """Cargo invocations in the logs, listed or not."""
    invocations_truncated: int = 0
    """Invocations that rebuilt nothing, counted but not listed in ``invocations``."""

    @property
    def number_of_invocations(self) -> int:
        return max(self.invocation_count, len(self.invocations))

    @property
    def found_cargo_output(self) -> bool:
        return bool(self.invocations)

    def cascade_size(self, cause: RootCause) -> int:
        """Units rebuilt because of this cause, itself included."""
        return cause.rebuilt_units

    @property
    def headline(self) -> str:
        if not self.invocations:
            notes = "; ".join(s.note for s in self.sources if s.note)
            return "No cargo output found" + (f" ({notes})" if notes else "")
        counts = self.counts
        crates = _plural(counts["rebuilt"], "crate")
        if self.root_causes:
            parts = [
                (self.cascade_size(c), c.phrase)
                for c in sorted(self.root_causes, key=lambda c: -self.cascade_size(c))
            ]
            if len(parts) == 1:
                head = f"{crates} rebuilt because {parts[0][1]}"
            else:
                shown = ", ".join(f"{n} because {p}" for n, p in parts[:3])
                more = f" and {len(parts) - 3} more causes" if len(parts) > 3 else ""
                head = f"{crates} rebuilt: {shown}{more}"
            if counts["new"]:
                head += f"; {counts['new']} compiled with no previous build"
            return head
        if counts["rebuilt"]:
            return f"{crates} rebuilt; the log does not say why (cargo output was not verbose)"
        if counts["new"]:
            return f"{_plural(counts['new'], 'crate')} compiled with no previous build"
        invocations = _plural(self.number_of_invocations, "cargo invocation")
        if not counts["fresh"]:
            return f"Nothing compiled in {invocations}"
        return f"Nothing rebuilt: {counts['fresh']} fresh in {invocations}"

    def to_json(self) -> dict[str, Any]:
        return {
            "invocations": self.number_of_invocations,
            "counts": dict(self.counts),
            "units": [u.to_json() for u in self.units],
            "units_truncated": self.units_truncated,
            "root_causes": [c.to_json() for c in self.root_causes],
            "new": [g.to_json() for g in self.new_groups],
            "headline": self.headline,
            "unexplained": self.unexplained,
            "time_lost_seconds": self.time_lost_seconds,
            "time_basis": self.time_basis,
            "invocation_details": [i.to_json() for i in self.invocations],
            "invocations_truncated": self.invocations_truncated,
            "sources": [s.to_json() for s in self.sources],
        }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --- building the model ----------------------------------------------------------


@dataclass(**_SLOTS)
class _Acc:
    """Everything seen about one package in one invocation."""

    package: str
    version: str
    source_path: str | None = None
    fresh: bool = False
    compiled: bool = False
    dirty: Reason | None = None  # from a `Dirty` line
    fp_reasons: list[Reason] | None = None  # from CARGO_LOG
    fp_new: bool = False
    json_stale: bool = False
    json_fresh: bool = False
    features: tuple[str, ...] | None = None
    profile: tuple[tuple[str, str], ...] | None = None


@dataclass
class _Inv:
    index: int
    source: str
    first_line: int
    units: dict[tuple[str, str], _Acc] = field(default_factory=dict)
    verbose: bool = False
    fingerprint_log: bool = False
    finished: Finished | None = None
    failed: bool = False
    # Where the first unit started compiling and the last cargo line: their
    # GitHub timestamps are read only when the invocation closes.
    first_work_at: Where | None = None
    last_at: Where | None = None

    def acc(self, package: str, version: str, source_path: str | None) -> _Acc:
        key = (package, version)
        unit = self.units.get(key)
        if unit is None:
            unit = self.units[key] = _Acc(package, version, source_path)
        elif source_path and not unit.source_path:
            unit.source_path = source_path
        return unit


_ENV_STALE = re.compile(r'^stale: changed env "?([^"]+)"?$')
_ENV_VALUES = re.compile(rf"^{_DEBUG_OPTION} != {_DEBUG_OPTION}$")

_REASONS: dict[str, Reason] = {}


def _classify_cached(text: str) -> Reason:
    """``classify_reason`` for Dirty lines: the same few reasons repeat in every
    invocation, and sharing one ``Reason`` keeps one copy of its text."""
    reason = _REASONS.get(text)
    if reason is None:
        if len(_REASONS) > 4096:
            _REASONS.clear()
        reason = _REASONS[text] = classify_reason(text)
    return reason


class _Builder:
    """Feeds events into invocations; closes one at Finished / build-finished / failure."""

    def __init__(self, finisher: _Finisher) -> None:
        self.finisher = finisher
        self.count = 0
        self.current: _Inv | None = None
        self.just_closed = False
        self.pending_env: dict[tuple[str, str], str] = {}

    def _open(self, source: str, line: int) -> _Inv:
        if self.current is None:
            self.count += 1
            self.current = _Inv(self.count, source, line)
        return self.current

    def close(self) -> None:
        inv, self.current = self.current, None
        if inv is not None and (inv.units or inv.finished):
            self.finisher.add(inv)

    def feed_all(self, events: list[Event]) -> None:
        """``feed`` each event; the most frequent kinds handled inline."""
        for event in events:
            if type(event) is JsonArtifact:
                # As _artifact().
                self.just_closed = False
                at = event.at
                inv = self.current or self._open(at.source, at.line)
                key = (event.package, event.version)
                unit = inv.units.get(key)
                if unit is None:
                    unit = inv.units[key] = _Acc(event.package, event.version)
                if event.fresh:
                    unit.json_fresh = True
                else:
                    unit.json_stale = True
                    if inv.first_work_at is None and at.stamp is not None:
                        inv.first_work_at = at
                if "custom-build" not in event.target_kind:
                    unit.features = event.features
                    unit.profile = event.profile
                if at.stamp is not None:
                    inv.last_at = at
                continue
            if type(event) is Running:
                self.just_closed = False
                self._open(event.at.source, event.at.line).verbose = True
                continue
            if type(event) is not UnitStatus:
                self.feed(event)
                continue
            self.just_closed = False
            at = event.at
            inv = self.current or self._open(at.source, at.line)
            key = (event.package, event.version)
            unit = inv.units.get(key)
            if unit is not None and (unit.fresh or unit.compiled):
                # cargo prints one status per package and invocation: a second one
                # means another cargo run began without a Finished line in between.
                self.close()
                inv = self._open(at.source, at.line)
                unit = None
            if unit is None:
                unit = inv.units[key] = _Acc(event.package, event.version, event.source_path)
            elif event.source_path and not unit.source_path:
                unit.source_path = event.source_path
            word = event.word
            if word == "Fresh":
                inv.verbose = True
                unit.fresh = True
            else:
                if word == "Dirty":
                    inv.verbose = True
                    unit.dirty = _classify_cached(event.reason or "")
                else:
                    unit.compiled = True
                if inv.first_work_at is None and at.stamp is not None:
                    inv.first_work_at = at
            if at.stamp is not None:
                inv.last_at = at

    def feed(self, event: Event) -> None:
        # Most frequent kinds first; `type() is` is cheaper than isinstance chains.
        kind = type(event)
        if kind is UnitStatus:
            self.just_closed = False
            self._status(cast(UnitStatus, event))
        elif kind is JsonArtifact:
            self.just_closed = False
            self._artifact(cast(JsonArtifact, event))
        elif kind is Running:
            self.just_closed = False
            self._open(event.at.source, event.at.line).verbose = True
            return
        elif kind is FingerprintLine:
            self.just_closed = False
            self._fingerprint(cast(FingerprintLine, event))
        elif kind is Finished or kind is JsonBuildFinished:
            # A log holding both cargo's stderr and its JSON stdout ends one
            # invocation twice; the second end marker belongs to the first.
            if self.current is None and self.just_closed:
                return
            inv = self._open(event.at.source, event.at.line)
            if isinstance(event, Finished):
                inv.finished = event
            elif isinstance(event, JsonBuildFinished) and not event.success:
                inv.failed = True
            if event.at.stamp is not None:
                inv.last_at = event.at
            self.close()
            self.just_closed = True
            return
        elif kind is BuildFailed:
            inv = self._open(event.at.source, event.at.line)
            inv.failed = True
            if event.at.stamp is not None:
                inv.last_at = event.at
            self.close()
            self.just_closed = True
            return
        if self.current is not None and event.at.stamp is not None:
            self.current.last_at = event.at

    def _status(self, event: UnitStatus) -> None:
        at = event.at
        inv = self.current or self._open(at.source, at.line)
        key = (event.package, event.version)
        unit = inv.units.get(key)
        if unit is not None and (unit.fresh or unit.compiled):
            # cargo prints one status per package and invocation: a second one
            # means another cargo run began without a Finished line in between.
            self.close()
            inv = self._open(at.source, at.line)
            unit = None
        if unit is None:
            unit = inv.units[key] = _Acc(event.package, event.version, event.source_path)
        elif event.source_path and not unit.source_path:
            unit.source_path = event.source_path
        word = event.word
        if word == "Fresh":
            inv.verbose = True
            unit.fresh = True
            return
        if word == "Dirty":
            inv.verbose = True
            unit.dirty = _classify_cached(event.reason or "")
        else:
            unit.compiled = True
        if inv.first_work_at is None and at.stamp is not None:
            inv.first_work_at = at

    def _artifact(self, event: JsonArtifact) -> None:
        inv = self.current or self._open(event.at.source, event.at.line)
        unit = inv.acc(event.package, event.version, None)
        if event.fresh:
            unit.json_fresh = True
        else:
            unit.json_stale = True
            if inv.first_work_at is None and event.at.stamp is not None:
                inv.first_work_at = event.at
        if "custom-build" not in event.target_kind:
            unit.features = event.features
            unit.profile = event.profile

    def _fingerprint(self, event: FingerprintLine) -> None:
        if event.package is None or event.version is None:
            return
        inv = self._open(event.at.source, event.at.line)
        inv.fingerprint_log = True
        unit = inv.acc(event.package, event.version, event.source_path)
        if unit.fp_reasons is None:
            unit.fp_reasons = []
        message = event.message.strip()
        if message.startswith("dirty:"):
            reason = reason_from_debug(message[len("dirty:") :])
            if reason is None:
                unit.fp_new = True
            else:
                unit.fp_reasons.append(reason)
        elif message.startswith("err:"):
            # "fingerprint error for ...": no readable previous fingerprint (new unit),
            # or on cargo < 1.69 the only reason given.
            detail = message[len("err:") :].strip()
            if "failed to read" in detail or "No such file" in detail:
                unit.fp_new = True
            else:
                unit.fp_reasons.append(Reason(detail, UNKNOWN))
        else:
            env = _ENV_STALE.match(message)
            key = (event.package, event.version)
            if env:
                self.pending_env[key] = env.group(1)
                return
            values = _ENV_VALUES.match(message)
            if values and key in self.pending_env:
                var = self.pending_env.pop(key)
                old, new = (None if v == "None" else _debug_unquote(v) for v in values.groups())
                unit.fp_reasons.append(
                    Reason(
                        f"the environment variable {var} changed",
                        _env_kind(var),
                        variable=var,
                        old_value=old,
                        new_value=new,
                    )
                )


def _pick_reason(unit: _Acc) -> Reason | None:
    """The package's reason: cargo's Dirty line, else the fingerprint log's.

    A package has several units (build script, its run, the lib); it is a root
    cause if any of them changed by itself, which the log may list after a
    cascade line of another unit.
    """
    fp_reasons = unit.fp_reasons or []
    roots = [r for r in fp_reasons if not r.is_cascade]
    detailed = next((r for r in roots if r.old_value or r.new_value), None)
    if unit.dirty is not None:
        if unit.dirty.is_cascade and roots:
            return roots[0]
        if detailed is not None and detailed.kind == unit.dirty.kind:
            # Same reason, but the log has old and new values: keep cargo's wording.
            return Reason(
                unit.dirty.text,
                unit.dirty.kind,
                unit.dirty.dependency,
                unit.dirty.variable,
                unit.dirty.file,
                detailed.old_value,
                detailed.new_value,
            )
        return unit.dirty
    if roots:
        return detailed if detailed is not None else roots[0]
    return fp_reasons[0] if fp_reasons else None


def _resolve_roots(units: dict[str, Unit]) -> None:
    """Follow each cascade through the dependencies cargo names to its root."""
    roots = [u for u in units.values() if u.status == "rebuilt" and u.kind != CASCADE]
    for unit in units.values():
        if unit.status != "rebuilt":
            continue
        if unit.kind != CASCADE:
            unit.root_cause = unit.package
            continue
        seen = {unit.package}
        current: Unit | None = unit
        root: str | None = None
        while current is not None and current.kind == CASCADE:
            dep = current.dependency
            if dep is None or dep in seen or dep not in units:
                current = None
                break
            seen.add(dep)
            current = units[dep]
        if current is not None and current.status in ("rebuilt", "new"):
            root = current.package
        elif len(roots) == 1 and roots[0].package != unit.package:
            # An unnamed dependency (cargo 1.95's CARGO_LOG names a unit index;
            # cargo < 1.77 no name at all): one root cause in the run explains it.
            root = roots[0].package
        unit.root_cause = root


_NEW_BECAUSE = (
    (TOOLCHAIN, "the toolchain changed"),
    (FEATURES, "the features changed"),
    (RUSTFLAGS, "the rustflags changed"),
    (PROFILE, "the profile changed"),
    (TARGET, "the target changed"),
)


def _new_reason(inv_roots: list[Unit], has_fresh: bool) -> tuple[str, str, str]:
    kinds = {u.kind for u in inv_roots}
    for kind, _ in _NEW_BECAUSE:
        if kind in kinds:
            return _new_reason_of(kind, has_fresh)
    return _new_reason_of(None, has_fresh)


@functools.cache
def _json_new_reason(kind: str) -> tuple[str, str, str]:
    reason = f"the {kind} differ from an earlier build in this log"
    return kind, reason, hint_for(Reason(reason, kind))


@functools.cache
def _new_reason_of(root_kind: str | None, has_fresh: bool) -> tuple[str, str, str]:
    """(kind, reason, hint) of new units beside a root cause of ``root_kind``."""
    for kind, what in _NEW_BECAUSE:
        if kind == root_kind:
            reason = f"{what}: each flag or feature set is a separate build of its own"
            return kind, reason, hint_for(Reason(what, kind))
    if has_fresh:
        return (
            NEW_NOT_CACHED,
            "not in the target dir although other units were: a pruned or partial cache, "
            "a new dependency, or a flag/feature set not built before",
            "If the cache was restored, check that it was saved after the same kind of "
            "build (same features, profile, RUSTFLAGS) and that pruning did not remove "
            "these units.",
        )
    return (
        NEW_COLD,
        "nothing was reused: a cold cache (no cache hit, a different target dir, or a "
        "cache saved by a different build)",
        "Check that the cache was restored (key hit?) into the target dir cargo uses "
        "(CARGO_TARGET_DIR) and that it was saved after a build of the same kind.",
    )


# Stands for a fresh unit where cascades are followed: a cascade that reaches
# it has no rebuilt root there.
_FRESH = Unit(0, "", "", "fresh")


class _Finisher:
    """Turns each closed invocation into units, causes and groups, then drops it.

    What it keeps grows with what a report must show: every rebuilt and new
    unit, one small record per invocation, the root causes.  Fresh units are
    kept for the last ``FRESH_UNITS_INVOCATIONS`` invocations only and counted
    for the others.
    """

    def __init__(self) -> None:
        self.count = 0
        self.settled_invocations: list[Invocation] = []  # older ones that rebuilt or failed
        self.recent_invocations: deque[Invocation] = deque()
        self.invocations_truncated = 0
        self.settled_units: list[Unit] = []  # rebuilt/new units of older invocations
        # The last invocations: (number, rows in cargo's order, fresh rows).  A
        # fresh unit stays an _Acc until the report lists it, if it ever does.
        self.recent: deque[tuple[int, list[Unit | _Acc], int]] = deque()
        self.units_truncated = 0
        self.counts = {"fresh": 0, "rebuilt": 0, "new": 0}
        self.causes: dict[tuple[str, str, str, str], RootCause] = {}
        self.groups: dict[tuple[str, str], NewGroup] = {}
        # For JSON-only logs: each package's previous features and profile.
        self.history: dict[tuple[str, str], _Acc] = {}
        self.unexplained = 0
        self.time_lost = 0.0
        self.basis: str | None = None

    def add(self, inv: _Inv) -> None:
        self.count = number = self.count + 1
        rows: list[Unit | _Acc] = []
        inv_units: list[Unit] = []  # the rebuilt and new ones
        fresh = rebuilt = new = 0
        history = self.history
        intern = sys.intern
        for acc in inv.units.values():
            if acc.compiled or acc.dirty is not None or acc.fp_reasons or acc.json_stale:
                stale = True
            elif acc.fp_new:
                stale = False
            elif acc.fresh or acc.json_fresh:
                # The common case, kept short: a unit reused from the cache.
                fresh += 1
                if acc.features is not None:
                    history[(acc.package, acc.version)] = acc
                rows.append(acc)
                continue
            else:
                continue
            unit = Unit(
                number,
                intern(acc.package),
                intern(acc.version),
                "fresh",
                source_path=intern(acc.source_path) if acc.source_path else None,
            )
            reason = _pick_reason(acc)
            if reason is not None:
                unit.status = "rebuilt"
                unit.reason = reason.text
                unit.kind = reason.kind
                if reason.text == _PRECALCULATED and _is_member(unit):
                    unit.kind = PACKAGE_FILES
                unit.dependency = reason.dependency
                unit.old_value, unit.new_value = reason.old_value, reason.new_value
            elif acc.fp_new or inv.verbose or inv.fingerprint_log:
                unit.status = "new"
            elif stale and _json_changed(history.get((acc.package, acc.version)), acc):
                unit.status = "new"
                unit.kind = _json_change_kind(history[(acc.package, acc.version)], acc)
            else:
                unit.status = "rebuilt"
                self.unexplained += 1
            if unit.status == "rebuilt":
                rebuilt += 1
            else:
                new += 1
            if acc.features is not None:
                history[(acc.package, acc.version)] = acc
            rows.append(unit)
            inv_units.append(unit)
        if rebuilt or new:
            self._explain(number, rows, inv_units, fresh > 0)
        self._keep(number, rows, fresh)
        counts = self.counts
        counts["fresh"] += fresh
        counts["rebuilt"] += rebuilt
        counts["new"] += new
        rebuild_seconds = None
        if inv.first_work_at is not None and inv.last_at is not None:
            first, last = inv.first_work_at.time, inv.last_at.time
            if first is not None and last is not None:
                rebuild_seconds = max(0.0, last - first)
        seconds = inv.finished.seconds if inv.finished else None
        profile = inv.finished.profile if inv.finished else None
        self.recent_invocations.append(
            Invocation(
                number,
                inv.source,
                inv.first_line,
                sys.intern(profile) if profile else None,
                seconds,
                rebuild_seconds,
                inv.failed,
                fresh,
                rebuilt,
                new,
            )
        )
        while len(self.recent_invocations) > FRESH_UNITS_INVOCATIONS:
            old = self.recent_invocations.popleft()
            if old.rebuilt or old.new or old.failed:
                self.settled_invocations.append(old)
            else:
                self.invocations_truncated += 1
        if rebuilt:
            if rebuild_seconds is not None:
                self.time_lost += rebuild_seconds
                self.basis = "timestamps" if self.basis in (None, "timestamps") else "mixed"
            elif seconds is not None:
                self.time_lost += seconds
                self.basis = "cargo" if self.basis in (None, "cargo") else "mixed"

    def _keep(self, number: int, rows: list[Unit | _Acc], fresh: int) -> None:
        """Keep this invocation's units; drop fresh ones of invocations that fall
        out of the window of the last ``FRESH_UNITS_INVOCATIONS``."""
        self.recent.append((number, rows, fresh))
        while len(self.recent) > FRESH_UNITS_INVOCATIONS:
            _, old_rows, old_fresh = self.recent.popleft()
            self.units_truncated += old_fresh
            if old_fresh < len(old_rows):
                self.settled_units.extend(r for r in old_rows if isinstance(r, Unit))

    def _explain(
        self, number: int, rows: list[Unit | _Acc], inv_units: list[Unit], has_fresh: bool
    ) -> None:
        """Root causes, cascades and groups of new units of one invocation."""
        # Two versions of one package: key by name for cascades (cargo names
        # packages); the first one wins, fresh or not.
        units: dict[str, Unit] = {}
        for row in rows:
            units.setdefault(row.package, row if isinstance(row, Unit) else _FRESH)
        _resolve_roots(units)
        roots = [u for u in inv_units if u.status == "rebuilt" and u.kind != CASCADE and u.reason]
        new_units = [u for u in inv_units if u.status == "new"]
        if new_units:
            kind, new_reason, hint = _new_reason(roots, has_fresh)
            for u in new_units:
                if u.kind in (FEATURES, PROFILE):  # from JSON self.history
                    g_kind, g_reason, g_hint = _json_new_reason(u.kind)
                else:
                    g_kind, g_reason, g_hint = kind, new_reason, hint
                u.reason = u.reason or g_reason
                u.kind = g_kind
                group = self.groups.setdefault(
                    (g_kind, g_reason), NewGroup(g_kind, g_reason, g_hint)
                )
                if u.package not in group.packages:
                    group.packages.append(u.package)
                # Invocations are numbered in order: only the last can be this one.
                if not group.invocations or group.invocations[-1] != number:
                    group.invocations.append(number)
        for u in roots:
            key = (u.package, u.version, u.kind or UNKNOWN, u.reason or "")
            cause = self.causes.get(key)
            if cause is None:
                reason = Reason(
                    u.reason or "",
                    u.kind or UNKNOWN,
                    variable=_variable_of(u),
                    file=_file_of(u),
                    old_value=u.old_value,
                    new_value=u.new_value,
                )
                cause = self.causes[key] = RootCause(
                    u.package,
                    u.version,
                    reason.kind,
                    reason.text,
                    hint_for(reason, workspace_member=_is_member(u)),
                    variable=reason.variable,
                    file=reason.file,
                    old_value=reason.old_value,
                    new_value=reason.new_value,
                )
            cause.invocations.append(number)
            for other in inv_units:
                if other.root_cause == u.package and other.status == "rebuilt":
                    cause.rebuilt_units += 1
                    if other.package != u.package and other.package not in cause.cascade:
                        cause.cascade.append(other.package)

    def report(self) -> RecompileReport:
        units = list(self.settled_units)
        for number, rows, _ in self.recent:
            for row in rows:
                if isinstance(row, Unit):
                    units.append(row)
                else:
                    units.append(
                        Unit(number, row.package, row.version, "fresh", source_path=row.source_path)
                    )
        return RecompileReport(
            invocations=[*self.settled_invocations, *self.recent_invocations],
            units=units,
            root_causes=list(self.causes.values()),
            new_groups=list(self.groups.values()),
            sources=[],
            unexplained=self.unexplained,
            time_lost_seconds=round(self.time_lost, 2) if self.basis else None,
            time_basis=self.basis,
            counts=dict(self.counts),
            units_truncated=self.units_truncated,
            invocation_count=self.count,
            invocations_truncated=self.invocations_truncated,
        )


def _json_changed(before: _Acc | None, now: _Acc) -> bool:
    return before is not None and (before.features != now.features or before.profile != now.profile)


def _json_change_kind(before: _Acc, now: _Acc) -> str:
    return FEATURES if before.features != now.features else PROFILE


def _variable_of(unit: Unit) -> str | None:
    match = re.match(r"^the env(?:ironment)? variable (\S+) changed$", unit.reason or "")
    return match.group(1) if match else None


def _file_of(unit: Unit) -> str | None:
    match = re.match(
        r"^the file `(.*)` (?:has changed|is missing|could not be read)", unit.reason or ""
    )
    return match.group(1) if match else None


_PRECALCULATED = "the precalculated components changed"


def _is_member(unit: Unit) -> bool:
    # Path packages print their directory; registry and git ones do not (git shows a URL).
    path = unit.source_path or ""
    return bool(path) and "://" not in path


# --- entry points ------------------------------------------------------------------

LogInput = Union[str, "os.PathLike[str]", BinaryIO, io.TextIOBase]


def _open_input(item: LogInput) -> tuple[str, BinaryIO, bool]:
    """(display name, binary stream, we opened it)."""
    if isinstance(item, (str, os.PathLike)):
        name = os.fspath(item)
        if name == "-":
            return "<stdin>", sys.stdin.buffer, False
        path = Path(name)
        if path.is_dir():
            raise LogError(f"{name} is a directory, not a log file")
        try:
            return name, path.open("rb"), True
        except FileNotFoundError:
            raise LogError(f"log file {name} does not exist") from None
        except OSError as exc:
            raise LogError(f"cannot read log file {name}: {exc.strerror}") from None
    if isinstance(item, io.TextIOBase):
        buffer = getattr(item, "buffer", None)
        if buffer is not None:
            return getattr(item, "name", "<stream>"), buffer, False
        return "<stream>", io.BytesIO(item.read().encode("utf-8", "replace")), False
    name = getattr(item, "name", "<stream>")
    return str(name), item, False


def _event_batches(
    items: Iterable[LogInput], summaries: list[SourceSummary]
) -> Iterator[list[Event]]:
    for item in items:
        name, stream, owned = _open_input(item)
        stats = LogStats(name)
        try:
            yield from iter_event_batches(stream, stats)
        except OSError as exc:
            raise LogError(f"cannot read log {name}: {exc.strerror or exc}") from None
        finally:
            if owned:
                stream.close()
        summaries.append(_summary(stats))
        # A file boundary ends an invocation (logs of separate jobs).
        yield _FILE_END


class _FileEnd:
    pass


_FILE_END: Any = _FileEnd()


def _summary(stats: LogStats) -> SourceSummary:
    note = None
    if stats.bytes == 0:
        note = f"{stats.source} is empty"
    elif stats.looks_binary:
        note = f"{stats.source} looks like a binary file, not a log"
    elif stats.cargo_lines == 0:
        note = f"{stats.source} has no cargo output ({_plural(stats.lines, 'line')} read)"
    elif stats.cut_lines:
        note = f"{_plural(stats.cut_lines, 'over-long line')} in {stats.source} cut short"
    return SourceSummary(
        stats.source, stats.bytes, stats.lines, stats.cargo_lines, sorted(stats.kinds), note
    )


def explain_recompiles(inputs: LogInput | Iterable[LogInput]) -> RecompileReport:
    """Read cargo logs (paths, ``-`` for stdin, or binary streams) and explain rebuilds.

    Streams are read in chunks, so memory stays flat for any log size.  A log
    with no cargo output gives a report whose ``headline`` says so; an
    unreadable file raises ``LogError``.
    """
    items: list[LogInput]
    if isinstance(inputs, (str, os.PathLike)) or hasattr(inputs, "read"):
        items = [cast(LogInput, inputs)]
    else:
        items = list(inputs)
    summaries: list[SourceSummary] = []
    finisher = _Finisher()
    builder = _Builder(finisher)
    for batch in _event_batches(items, summaries):
        if batch is _FILE_END:
            builder.close()
            builder.just_closed = False
            continue
        builder.feed_all(batch)
    builder.close()
    report = finisher.report()
    report.sources = summaries
    return report
