"""The key model: named parts, the manifest, assembling a key from them.

A key is a list of named parts.  Each part has a short hash and the readable
inputs behind it, so when a cache misses (or only a restore key matches) a
person can be told *which* input moved: ``lock: serde 1.0.210 → 1.0.211``.

The Rust build-cache key (``kind="rust"``) reads::

    <prefix>-<job>-<os>-<arch>-<toolchain>-<python>-<env>-<lock>

and its restore keys drop the lock hash, then the env hash as well, so a
changed lockfile still restores the build of the same toolchain, Python and
flags (cargo rebuilds only what changed).

Rules every part keeps:

* Nothing machine-specific is hashed: absolute paths of the checkout, the
  temp dir, the home dir, ``CARGO_HOME`` and ``RUSTUP_HOME`` are replaced by
  placeholders (``<PROJECT>``, ``<TMP>``, ``<HOME>``…) before hashing, and files
  are labelled by their path relative to the project.  Two clones of one
  commit in different directories get the same key and the same manifest.
* Only build inputs are read (Cargo.lock, the workspace's Cargo.toml files,
  .cargo/config, rust-toolchain, pyproject.toml's build tables, env vars,
  ``rustc -vV``, the Python/PyO3 config), so edits to tests/, docs/ or a README
  never change the key.
* Secret-looking env vars (``*TOKEN*``, ``*SECRET*``, ``*PASSWORD*``,
  ``*CREDENTIAL*``, ``*_KEY``…) are never hashed and their values never
  printed: the manifest lists the name with the value ``<redacted>`` so a
  reader sees the variable was noticed and left out on purpose.

The package, bottom to top: ``model`` (this), ``parts`` (toolchain, env, lock,
python), ``probes`` (rustc, maturin, interpreters), the keys ``rust``, ``venv``
and ``wheel`` (with ``wheel_sources``), then ``manifest`` (files), ``diff``
(key-diff) and ``render`` (tables of parts).  Every kind reuses ``KeyPart``,
``make_part``, ``assemble_key`` and the manifest format; its kind name goes
into the key after the prefix so kinds never share cache entries.  Pure
functions take data and return data; the ``compute_*`` functions gather it.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from pyo3_cache.errors import (
    ManifestError,
    ProjectError,
)

MANIFEST_VERSION = 1
"""Format version of the manifest JSON; ``load_manifest`` reads only this one."""

DEFAULT_PREFIX = "v1-pyo3"
KEY_MAX_LENGTH = 512  # actions/cache's limit
HASH_LENGTH = 12  # hex digits per part in the key: 48 bits, ample per job
MANIFEST_FILE_NAME = "key-manifest.json"

# What one readable input is: a string, or a list of strings (a crate locked
# at several versions).  Lists are compared as sets by ``diff_manifests``.
InputValue = Union[str, list[str]]


# --- parts and manifests --------------------------------------------------------


@dataclass(frozen=True)
class KeyPart:
    """One named part of a key: its hash and the readable inputs behind it."""

    name: str
    hash: str
    inputs: dict[str, InputValue]

    def to_json(self) -> dict[str, Any]:
        return {"hash": self.hash, "inputs": dict(self.inputs)}


@dataclass(frozen=True)
class KeyManifest:
    """A key, its restore keys and the parts it was built from.

    ``warnings`` are things the user should hear about while computing the key
    (an unreadable ``PYO3_CONFIG_FILE``...); they are not part of the saved
    manifest, which stays identical across machines and checkouts.
    """

    key: str
    restore_keys: tuple[str, ...]
    parts: tuple[KeyPart, ...]
    kind: str = "rust"
    warnings: tuple[str, ...] = field(default=(), compare=False)
    masks: tuple[str, ...] = field(default=(), compare=False, repr=False)
    """Secret values of the inputs (never stored): what ``--github`` masks in the log."""

    def part(self, name: str) -> KeyPart:
        for part in self.parts:
            if part.name == name:
                return part
        raise KeyError(name)

    @property
    def part_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parts)

    def to_json(self) -> dict[str, Any]:
        from pyo3_cache import __version__

        return {
            "manifest_version": MANIFEST_VERSION,
            "tool": f"pyo3-cache {__version__}",
            "kind": self.kind,
            "key": self.key,
            "restore_keys": list(self.restore_keys),
            "parts": {p.name: p.to_json() for p in self.parts},
        }

    @classmethod
    def from_json(cls, data: Any, source: str = "key manifest") -> KeyManifest:
        """Read a manifest written by ``to_json``; ``ManifestError`` for anything else."""
        if not isinstance(data, dict) or ("parts" not in data and "manifest_version" not in data):
            raise ManifestError(f"{source} is not a pyo3-cache key manifest")
        version = data.get("manifest_version")
        if version != MANIFEST_VERSION:
            tool = data.get("tool")
            made_by = f" (written by {tool})" if isinstance(tool, str) else ""
            raise ManifestError(
                f"{source} has manifest format version {version!r}{made_by}; this pyo3-cache "
                f"reads version {MANIFEST_VERSION}: compute both manifests with one version"
            )
        key = data.get("key")
        restore = data.get("restore_keys")
        parts = data.get("parts")
        kind = data.get("kind", "rust")
        if not isinstance(key, str) or not key:
            raise ManifestError(f"{source} has no key")
        if not isinstance(restore, list) or not all(isinstance(r, str) for r in restore):
            raise ManifestError(f"{source}: restore_keys is not a list of strings")
        if not isinstance(parts, dict):
            raise ManifestError(f"{source}: parts is not an object")
        if not isinstance(kind, str):
            raise ManifestError(f"{source}: kind is not a string")
        for text in (key, *restore, kind):
            _check_key_text(text, "key", source)
        out: list[KeyPart] = []
        for name, body in parts.items():
            if not isinstance(body, dict) or not isinstance(body.get("hash"), str):
                raise ManifestError(f"{source}: part {printable(str(name))!r} has no hash")
            _check_key_text(str(name), "part name", source)
            _check_key_text(body["hash"], "hash", source)
            inputs = body.get("inputs", {})
            if not isinstance(inputs, dict):
                raise ManifestError(f"{source}: inputs of part {name!r} are not an object")
            clean: dict[str, InputValue] = {}
            for label, value in inputs.items():
                if isinstance(value, str):
                    clean[str(label)] = value
                elif isinstance(value, list) and all(isinstance(v, str) for v in value):
                    clean[str(label)] = [str(v) for v in value]
                else:
                    raise ManifestError(
                        f"{source}: input {label!r} of part {name!r} is not text or a list of text"
                    )
            out.append(KeyPart(str(name), body["hash"], clean))
        return cls(key=key, restore_keys=tuple(restore), parts=tuple(out), kind=kind)


def printable(text: str) -> str:
    """``text`` on one line: control characters (newlines too) as escapes like ``\\n``.

    A value from a file or a log printed at the start of a line could be read
    by the runner as a workflow command (``::error ...``); escaped, it cannot.
    """
    if text.isprintable():
        return text
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


# What our keys, restore keys, part names and hashes are made of (see
# key_segment): a manifest read back with anything else was not written by us.
_KEY_TEXT = re.compile(r"[A-Za-z0-9._+=@-]+")


def _check_key_text(value: str, what: str, source: str) -> None:
    if not _KEY_TEXT.fullmatch(value):
        raise ManifestError(f"{source}: {what} {printable(value)[:80]!r} has characters no key has")


def canonical(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def short_hash(data: Any) -> str:
    """A short, stable hash of JSON-like ``data`` (sorted keys, so order-free)."""
    return hashlib.sha256(canonical(data).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def content_label(text: str | bytes) -> str:
    """How a hashed file shows in a manifest: ``sha256:`` and 12 hex digits."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    return "sha256:" + hashlib.sha256(raw).hexdigest()[:HASH_LENGTH]


def make_part(name: str, inputs: Mapping[str, InputValue], hashed: Any = None) -> KeyPart:
    """A part whose hash covers ``hashed`` (default: the readable ``inputs`` themselves).

    ``hashed`` lets a part hash more than it shows (checksums, whole files) or
    less (labels saying where a value came from, redacted variables).
    """
    material = dict(inputs) if hashed is None else hashed
    return KeyPart(name, short_hash([name, material]), dict(inputs))


_UNSAFE_KEY_CHARS = re.compile(r"[^A-Za-z0-9._+=@-]+")


def key_segment(text: str, limit: int = 100) -> str:
    """A user-given piece of a key made safe: no commas or spaces, bounded length.

    actions/cache refuses commas; spaces and other odd characters are turned
    into ``_`` too so keys stay one word.  An over-long piece keeps its start
    and a hash of the whole, so distinct inputs stay distinct.
    """
    clean = _UNSAFE_KEY_CHARS.sub("_", text.strip()).strip("-")
    if len(clean) > limit:
        clean = clean[: limit - HASH_LENGTH - 1] + "_" + short_hash(text)
    return clean


def assemble_key(
    kind: str,
    head: Sequence[str],
    parts: Sequence[KeyPart],
    hashed_parts: Sequence[str],
    ladder: Sequence[int],
    warnings: Sequence[str] = (),
    masks: Sequence[str] = (),
) -> KeyManifest:
    """Join readable ``head`` segments and the hashes of ``hashed_parts`` into a key.

    ``ladder``: for each restore key, how many of ``hashed_parts`` it keeps
    (most specific first).  Restore keys end in ``-`` so a prefix match never
    runs into a longer segment (job ``build`` must not match ``build-docs``).
    """
    by_name = {p.name: p for p in parts}
    segments = [s for s in head if s]
    hashes = [by_name[name].hash for name in hashed_parts]
    key = "-".join([*segments, *hashes])
    restore = tuple("-".join([*segments, *hashes[:n]]) + "-" for n in ladder)
    if len(key) > KEY_MAX_LENGTH:  # only reachable through absurd prefixes
        raise ProjectError(f"the cache key would be {len(key)} characters; keep prefixes short")
    return KeyManifest(key, restore, tuple(parts), kind, tuple(warnings), tuple(masks))


# --- keeping machine paths out --------------------------------------------------


@dataclass(frozen=True)
class PathScrubber:
    """Replaces this machine's absolute paths by placeholders, longest first."""

    replacements: tuple[tuple[str, str], ...]

    def __call__(self, text: str) -> str:
        for path, placeholder in self.replacements:
            if path in text:
                # Only whole path components: /tmp must not eat /tmpfs.
                text = re.sub(re.escape(path) + r"(?=$|[\\/\s\"',;:=)\]}])", placeholder, text)
        return text


def path_scrubber(project_root: Path, environ: Mapping[str, str]) -> PathScrubber:
    """The scrubber for a project: checkout, workspace, temp, homes of cargo and rustup."""
    candidates: list[tuple[str, str]] = [(str(project_root), "<PROJECT>")]
    for variable, placeholder in (
        ("GITHUB_WORKSPACE", "<WORKSPACE>"),
        ("CARGO_HOME", "<CARGO_HOME>"),
        ("RUSTUP_HOME", "<RUSTUP_HOME>"),
        ("RUNNER_TEMP", "<TMP>"),
        ("RUNNER_TOOL_CACHE", "<TOOL_CACHE>"),
        ("TMPDIR", "<TMP>"),
        ("HOME", "<HOME>"),
    ):
        value = environ.get(variable)
        if value:
            candidates.append((value, placeholder))
    candidates.append((tempfile.gettempdir(), "<TMP>"))
    candidates.append((os.path.expanduser("~"), "<HOME>"))
    seen: dict[str, str] = {}
    for path, placeholder in candidates:
        for variant in {path, os.path.realpath(path)}:
            variant = variant.rstrip("/\\")
            # A root or drive ("/", "C:") would rewrite every path: skip it.
            if len(variant) > 3 and variant not in seen:
                seen[variant] = placeholder
    ordered = sorted(seen.items(), key=lambda item: len(item[0]), reverse=True)
    return PathScrubber(tuple(ordered))


def relative_label(path: Path, root: Path) -> str:
    try:
        return Path(os.path.relpath(path, root)).as_posix()
    except ValueError:  # another drive on Windows: no relative path exists
        return path.as_posix()


# --- prefix ---------------------------------------------------------------------

_OS_NAMES = {"Linux": "linux", "Darwin": "macos", "Windows": "windows"}
_ARCH_NAMES = {"amd64": "x86_64", "x64": "x86_64", "arm64": "aarch64"}


def os_name(system: str | None = None) -> str:
    system = system or platform.system()
    return _OS_NAMES.get(system, system.lower() or "unknown")


def arch_name(machine: str | None = None) -> str:
    machine = (machine or platform.machine()).lower()
    return _ARCH_NAMES.get(machine, machine or "unknown")


def prefix_part(prefix: str, job: str, os_label: str, arch: str) -> KeyPart:
    """The readable head of the key: prefix, job (or shared key), os, arch."""
    return make_part("prefix", {"prefix": prefix, "job": job, "os": os_label, "arch": arch})


def job_label(shared_key: str | None, extra_key: str | None, environ: Mapping[str, str]) -> str:
    """The key's job segment: ``shared_key`` (else ``$GITHUB_JOB``), then ``-extra_key``."""
    job = shared_key if shared_key else environ.get("GITHUB_JOB", "")
    if extra_key:
        job = f"{job}-{extra_key}" if job else extra_key
    return job


def key_head(prefix_key: str, kind: str | None, job: str) -> tuple[list[str], KeyPart]:
    """The key's leading segments (prefix, the kind if any, job, os, arch) and its prefix part."""
    head = [key_segment(prefix_key or DEFAULT_PREFIX)]
    if kind:
        head.append(kind)
    head += [key_segment(job), os_name(), arch_name()]
    return head, prefix_part(head[0], head[-3], head[-2], head[-1])
