"""Why a key changed: ``key-diff``'s model and its one-line-per-part report."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pyo3_cache.errors import (
    ManifestError,
)
from pyo3_cache.keys.model import InputValue, KeyManifest, printable
from pyo3_cache.redact import REDACTED, is_secret_name, redact_text


@dataclass(frozen=True)
class InputChange:
    """One readable input that differs between two manifests."""

    name: str
    change: str  # "changed", "added" or "removed"
    old: str | None = None
    new: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"input": self.name, "change": self.change, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class PartChange:
    """A part whose hash differs, with the inputs that explain it."""

    part: str
    change: str  # "changed", "added" or "removed"
    old_hash: str | None
    new_hash: str | None
    inputs: tuple[InputChange, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "change": self.change,
            "old_hash": self.old_hash,
            "new_hash": self.new_hash,
            "inputs": [c.to_json() for c in self.inputs],
            "summary": describe_part_change(self),
        }


@dataclass(frozen=True)
class KeyDiff:
    """What differs between an old manifest (the cache's) and a new one (this run's)."""

    old_key: str
    new_key: str
    changed: tuple[PartChange, ...]
    unchanged: tuple[str, ...]
    restore_match: int | None
    """Which of the new restore keys (0-based) the old key starts with, if any."""
    new_restore_keys: tuple[str, ...] = ()
    kind: str = "rust"

    @property
    def same(self) -> bool:
        return self.old_key == self.new_key and not self.changed

    def lines(self) -> list[str]:
        """One line per changed part, e.g. ``lock: serde 1.0.210 → 1.0.211``."""
        return [describe_part_change(p) for p in self.changed]

    def to_json(self) -> dict[str, Any]:
        return {
            "old_key": self.old_key,
            "new_key": self.new_key,
            "same": self.same,
            "restore_match": self.restore_match,
            "changed": [p.to_json() for p in self.changed],
            "unchanged": list(self.unchanged),
        }


def _as_set(value: InputValue | None) -> set[str]:
    if value is None:
        return set()
    return {value} if isinstance(value, str) else set(value)


def diff_inputs(
    old: Mapping[str, InputValue], new: Mapping[str, InputValue]
) -> tuple[InputChange, ...]:
    """Input-by-input changes; list values (several locked versions) compare as sets."""
    changes: list[InputChange] = []
    # In the order the part lists its inputs (its most telling ones first).
    for name in [*new, *(n for n in old if n not in new)]:
        before, after = old.get(name), new.get(name)
        if before == after:
            continue
        if before is None or after is None:
            kind = "added" if before is None else "removed"
            for value in sorted(_as_set(after if before is None else before)):
                changes.append(
                    InputChange(
                        name,
                        kind,
                        None if kind == "added" else value,
                        value if kind == "added" else None,
                    )
                )
            continue
        if isinstance(before, str) and isinstance(after, str):
            changes.append(InputChange(name, "changed", before, after))
            continue
        gone, came = (
            sorted(_as_set(before) - _as_set(after)),
            sorted(_as_set(after) - _as_set(before)),
        )
        if len(gone) == 1 and len(came) == 1:
            changes.append(InputChange(name, "changed", gone[0], came[0]))
            continue
        changes += [InputChange(name, "removed", old=v) for v in gone]
        changes += [InputChange(name, "added", new=v) for v in came]
    return tuple(changes)


def _redacted(part: str, change: InputChange) -> InputChange:
    """``change`` with secrets hidden: a manifest from the cache may predate our rules.

    Values lose URL passwords and token-shaped words; in the env part, a
    variable whose name says secret shows ``<redacted>`` (crate names in the
    lock part are not judged by name: ``tokenizers`` is no secret).
    """

    def hide(value: str | None) -> str | None:
        if value is None:
            return None
        if part == "env" and is_secret_name(change.name):
            return REDACTED
        return redact_text(value)

    return InputChange(change.name, change.change, hide(change.old), hide(change.new))


def diff_manifests(old: KeyManifest, new: KeyManifest) -> KeyDiff:
    """Which parts changed between ``old`` and ``new``, and which inputs inside them.

    Parts are compared by hash; inputs are listed only for parts whose hash
    moved (a redacted variable or a "where it came from" label never counts).
    """
    if old.kind != new.kind:
        raise ManifestError(f"cannot compare a {old.kind!r} key manifest with a {new.kind!r} one")
    old_parts = {p.name: p for p in old.parts}
    new_parts = {p.name: p for p in new.parts}
    order = list(new.part_names) + [n for n in old.part_names if n not in new_parts]
    changed: list[PartChange] = []
    unchanged: list[str] = []
    for name in order:
        before, after = old_parts.get(name), new_parts.get(name)
        if before is not None and after is not None and before.hash == after.hash:
            unchanged.append(name)
            continue
        kind = "added" if before is None else "removed" if after is None else "changed"
        inputs = diff_inputs(before.inputs if before else {}, after.inputs if after else {})
        inputs = tuple(_redacted(name, c) for c in inputs)
        changed.append(
            PartChange(
                name,
                kind,
                before.hash if before else None,
                after.hash if after else None,
                inputs,
            )
        )
    match = next(
        (i for i, prefix in enumerate(new.restore_keys) if old.key.startswith(prefix)), None
    )
    return KeyDiff(
        old.key,
        new.key,
        tuple(changed),
        tuple(unchanged),
        match,
        tuple(new.restore_keys),
        kind=new.kind,
    )


# --- rendering ------------------------------------------------------------------

_MAX_LISTED = 20


def _simple(value: str) -> bool:
    return bool(value) and len(value) <= 48 and not any(ch.isspace() for ch in value)


def describe_input_change(part: str, change: InputChange) -> str:
    """``serde 1.0.210 → 1.0.211``, ``added: foo 0.1.0``, ``RUSTFLAGS changed``."""
    # An input named after its part reads better without the name: "python: 3.12 → 3.13".
    name = "" if change.name == part else printable(change.name)
    change = InputChange(
        change.name,
        change.change,
        None if change.old is None else printable(change.old),
        None if change.new is None else printable(change.new),
    )
    if change.change in ("added", "removed"):
        value = change.new if change.change == "added" else change.old
        shown = ""
        if value and value != REDACTED and "sha256:" not in value:
            shown = value if _simple(value) else f'"{value[:60]}"'
        return f"{change.change}: " + " ".join(x for x in (name or part, shown) if x)
    old, new = change.old or "", change.new or ""
    if REDACTED in (old, new) or "sha256:" in old or "sha256:" in new:
        return f"{name or part} changed"
    if _simple(old) and _simple(new):
        return " ".join(x for x in (name, old, "→", new) if x)
    if len(old) + len(new) <= 80:
        return f'{name or part} changed ("{old}" → "{new}")'
    return f"{name or part} changed"


def _follows(headline: InputChange, other: InputChange) -> bool:
    """Whether ``other`` changed only by the headline's old value becoming its new one."""
    if other.change != "changed" or not other.old or not other.new:
        return False
    old, new = headline.old or "", headline.new or ""
    for a, b in ((old, new), (old.replace(".", ""), new.replace(".", ""))):
        if a and a in other.old and other.old.replace(a, b) == other.new:
            return True
    return False


def describe_part_change(change: PartChange) -> str:
    """One line for one changed part, written for someone whose cache only partly matched."""
    if change.change == "added":
        return f"{change.part}: new part of the key"
    if change.change == "removed":
        return f"{change.part}: no longer part of the key"
    inputs = change.inputs
    followers: list[str] = []
    headline = next((c for c in inputs if c.name == change.part and c.change == "changed"), None)
    if headline is not None and headline.old and headline.new:
        # Inputs that only restate the headline ("python3.12" → "python3.13",
        # ".cpython-312-…" → ".cpython-313-…") are named, not spelled out.
        followers = [c.name for c in inputs if c is not headline and _follows(headline, c)]
        inputs = tuple(c for c in inputs if c.name not in followers)
    with_it = f" (with it {', '.join(followers)})" if followers else ""
    pieces = [
        describe_input_change(change.part, c) + (with_it if c is headline else "") for c in inputs
    ]
    if not pieces:
        # Only hashed content moved (a package checksum, a file's bytes).
        return f"{change.part}: changed (checksums or hashed file content)"
    if len(pieces) > _MAX_LISTED:
        more = len(pieces) - _MAX_LISTED
        pieces = [*pieces[:_MAX_LISTED], f"and {more} more (see key-diff --format json)"]
    return f"{change.part}: " + "; ".join(pieces)


_RUNG_NAMES = ("lock", "lock and env")


def render_diff_text(diff: KeyDiff) -> str:
    """The ``key-diff`` report: what changed, then what did not."""
    if diff.same:
        return f"The keys are the same: nothing changed.\nkey: {diff.new_key}\n"
    lines = [
        f"The cache key changed in {len(diff.changed)} of "
        f"{len(diff.changed) + len(diff.unchanged)} parts:"
    ]
    lines += [f"  {line}" for line in diff.lines()]
    if diff.unchanged:
        lines.append(f"Unchanged: {', '.join(diff.unchanged)}.")
    if diff.restore_match is not None:
        dropped = _RUNG_NAMES[diff.restore_match] if diff.restore_match < 2 else "more"
        lines.append(
            f"The old cache still matches restore key {diff.restore_match + 1} (without the "
            f"{dropped} hash): it is restored and cargo rebuilds only what changed."
        )
    elif diff.kind == "wheel":
        lines.append("Wheel keys have no fallback: the wheel is built again and saved.")
    else:
        lines.append("No restore key matches the old cache: the build starts cold.")
    lines.append(f"old key: {diff.old_key}")
    lines.append(f"new key: {diff.new_key}")
    return "\n".join(lines) + "\n"
