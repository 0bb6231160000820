"""Plain-words advice for each kind of root cause."""

from __future__ import annotations

from pyo3_cache.explain.reasons import (
    BUILD_SCRIPT,
    CHECKSUM,
    CONFIG_SETTINGS,
    DEPENDENCIES,
    ENV_VAR,
    FEATURES,
    FILE_CHANGED,
    FILE_MISSING,
    FORCED,
    INTERPRETER_ENV,
    OTHER_BUILD,
    PACKAGE_FILES,
    PROFILE,
    PYO3_CONFIG,
    RUSTFLAGS,
    SOURCE_PATH,
    TARGET,
    TOOLCHAIN,
    WATCHED_FILE,
    Reason,
)


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
    if kind == WATCHED_FILE:
        return (
            "A file this package's build script watches (cargo:rerun-if-changed) is newer "
            "than its last run, so the script ran again and the crate was rebuilt. If the "
            "file did not really change, its mtime did (checkout, copy, download): keep "
            "mtimes (the cache's source mtimes) or watch fewer files."
        )
    if kind == OTHER_BUILD:
        return (
            f"{reason.dependency or 'A dependency'} is fresh, but this crate was last built "
            "against another build of it: the commands that build this crate (e.g. `cargo "
            "test` and `maturin build`) enable different features, and a cdylib has one "
            "fingerprint slot, so each command rebuilds it. Use one feature set for `cargo "
            "test` and `maturin build`, or give them separate target dirs."
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
