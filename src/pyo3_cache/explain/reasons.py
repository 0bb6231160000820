"""Cargo's dirty reasons, classified into our kinds.

Every dirty reason cargo 1.95 prints is classified (the wording table in
cargo's ``fingerprint/dirty_reason.rs``), as are the older wordings (cargo
1.69-1.94: ``dependency info changed`` without a name, ``the metadata
changed``, ``the dependency foo was rebuilt`` without backticks) and the
``Debug`` spelling of the same reasons in ``CARGO_LOG`` fingerprint lines.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from pyo3_cache.redact import redact_env_value, redact_text, scrub_url_credentials

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
# A file a build script watches (cargo:rerun-if-changed) is newer.
WATCHED_FILE = "watched-file"
# `info of dependency X changed` while X is Fresh in the same run: the crate was
# last built against another build of X (cargo build vs maturin build features).
OTHER_BUILD = "other-build-of-dependency"
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


def shown_value(variable: str, value: str | None) -> str | None:
    """An env variable's old or new value as a report may show it: secrets (by
    name or by look: ``*_TOKEN``, passwords in URLs) are ``<redacted>``."""
    if value is None:
        return None
    return scrub_url_credentials(redact_env_value(variable, value))


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


def reason_from_debug(debug: str) -> Reason | None:
    """``EnvVarChanged { name: "PYO3_PYTHON", ... }`` -> a ``Reason`` in cargo's words.

    Returns None for ``FreshBuild`` (no previous build: a new unit).  The same
    few reasons come back in every invocation of a log, so answers are cached.
    """
    return _reason_from_debug(debug.strip())


def _env_reason(text: str, var: str, debug: str, old_field: str, new_field: str) -> Reason:
    """An env-variable reason from a Debug dump's old and new value fields (``None``: unset)."""
    old = _debug_field(debug, old_field)
    new = _debug_field(debug, new_field)
    return Reason(
        text,
        _env_kind(var),
        variable=var,
        old_value=shown_value(var, _debug_unquote(old)) if old and old != "None" else None,
        new_value=shown_value(var, _debug_unquote(new)) if new and new != "None" else None,
    )


@functools.lru_cache(maxsize=4096)
def _reason_from_debug(debug: str) -> Reason | None:
    variant = re.match(r"\w+", debug)
    if not variant:
        return None
    name = variant.group(0)
    if name == "FreshBuild":
        return None
    if name == "FsStatusOutdated":
        return _fs_status_reason(debug)
    if name == "WatchedFileChanged":  # build_analysis.py: a build script's watched file
        path = _debug_unquote(_debug_field(debug, "path") or '"?"')
        return Reason(f"the file `{path}` has changed", WATCHED_FILE, file=path)
    if name == "EnvVarChanged":
        var = _debug_unquote(_debug_field(debug, "name") or '"?"')
        return _env_reason(f"the env variable {var} changed", var, debug, "old_value", "new_value")
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
        return Reason(redact_text(debug), UNKNOWN)
    reason = classify_reason(wording)
    if name in ("FeaturesChanged", "DeclaredFeaturesChanged", "RustflagsChanged"):
        before = _debug_field(debug, "old")
        after = _debug_field(debug, "new")
        return Reason(
            reason.text,
            reason.kind,
            old_value=_debug_unquote(before) if before else None,
            new_value=_debug_unquote(after) if after else None,
        )
    return reason


# StaleItem variants about one file: (variant, field holding the path, cargo's wording).
_FS_STALE_FILE = (
    ("ChangedFile", "stale", "the file `{}` has changed"),
    ("ChangedChecksum", "source", "the file `{}` has changed (checksum)"),
    ("FileSizeChanged", "path", "the file `{}` has changed (size)"),
    ("MissingChecksum", "path", "the checksum for file `{}` is missing"),
    ("UnableToReadFile", "path", "the file `{}` could not be read"),
    ("FailedToReadMetadata", "path", "couldn't read metadata for file `{}`"),
    ("MissingFile", "path", "the file `{}` is missing"),
)


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
        return _env_reason(
            f"the environment variable {var} changed", var, debug, "previous", "current"
        )
    for marker, field, wording in _FS_STALE_FILE:
        if marker in debug:
            return classify_reason(wording.format(path_of(field)))
    return classify_reason("stale, unknown reason")
