"""A target dir as cargo makes one: with its CACHEDIR.TAG (cargo 1.95 writes it on creation)."""

from __future__ import annotations

from pathlib import Path

# The first line is the cache-directory-tag signature; the rest is cargo 1.95's text.
CARGO_CACHEDIR_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by cargo.\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)


def cargo_target_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "CACHEDIR.TAG").write_text(CARGO_CACHEDIR_TAG)
    return path
