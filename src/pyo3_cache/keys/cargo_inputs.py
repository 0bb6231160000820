"""What cargo itself tracked for a build, read back from the target dir after it.

The wheel key is computed *before* the build, from files we can name up front.
Cargo knows more once it has built: rustc's dep-info (``target/*/deps/*.d``)
lists every file rustc read — ``#[path = "../shared/x.rs"]`` modules and
``include_*!`` files included — and ``# env-dep:NAME=value`` lines for
``env!``/``option_env!``; a build script's ``output`` file lists its
``cargo:rerun-if-changed`` paths and ``rerun-if-env-changed`` variables.  A
build script that prints neither makes cargo watch every file of its package
(cargo 1.95, ``fingerprint/mod.rs``: ``build_script_local_fingerprints`` falls
back to the package's fingerprint when both lists are empty).

``collect_cargo_inputs`` turns that into ``CargoInputs``: labels relative to
the project and sha256 digests, saved with the wheels; ``check_cargo_inputs``
hashes the same inputs again before a restored wheel is trusted, so a change
to any of them is a miss.  Files cargo itself treats as immutable
(``$CARGO_HOME/registry`` and ``git``, covered by Cargo.lock's checksums),
generated files under the target dir, and variables the key already holds
(the env part's prefixes, PyO3's interpreter variables, those cargo sets) are
left out.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyo3_cache.keys.parts import is_build_env
from pyo3_cache.keys.wheel_sources import BuildCrate, SourceLister, file_sha256

FORMAT = 1
FILE_NAME = ".pyo3-cache-wheel-inputs.json"
"""Saved next to the wheels in the entry; a dot file, so ``dist/*`` globs skip it."""

# Variables whose effect the key already carries, or that cargo sets itself
# (CARGO_PKG_VERSION, OUT_DIR, TARGET ...): the same in every job that has the key.
_COVERED_ENV = frozenset(
    {"PATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYTHONHOME", "OUT_DIR", "TARGET", "HOST"}
    | {"NUM_JOBS", "OPT_LEVEL", "DEBUG", "PROFILE", "RUSTC", "RUSTDOC", "RUSTC_LINKER"}
)
_RERUN_RE = re.compile(r"^cargo::?rerun-if-(changed|env-changed)=(.*)$")
_HASH_SUFFIX = re.compile(r"-[0-9a-f]{16}$")


def tracked_env(name: str) -> bool:
    """Whether a variable cargo tracks still needs a place of its own (the key lacks it)."""
    return not (
        name in _COVERED_ENV or name.startswith(("CARGO", "PYO3_", "DEP_")) or is_build_env(name)
    )


@dataclass
class CargoInputs:
    """Files and variables cargo tracked, each with the digest it had at save time.

    ``files``: label → sha256 (None: the file did not exist, as cargo's
    ``rerun-if-changed`` on a missing path); ``env``: name → salted sha256 of
    the value (None: unset), so no value is stored; ``packages``: package
    folder → digest of all its files, for build scripts that name nothing.
    """

    files: dict[str, str | None] = field(default_factory=dict)
    env: dict[str, str | None] = field(default_factory=dict)
    packages: dict[str, str] = field(default_factory=dict)
    wheels: list[str] = field(default_factory=list)
    salt: str = field(default_factory=lambda: secrets.token_hex(8))
    outputs: list[str] = field(default_factory=lambda: ["target"])
    """The target dir and the wheels' folder, relative to the project: outputs, never inputs."""
    sources: int = 0
    """How many dep-info and build-script output files were read."""

    def digest(self) -> str:
        """12 hex digits over every digest: the entry's key suffix."""
        sha = hashlib.sha256()
        for kind, table in (("f", self.files), ("p", self.packages)):
            for label in sorted(table):
                sha.update(f"{kind}\0{label}\0{table[label]}\n".encode())
        # env digests are salted per entry; the names and set/unset state are not
        for name in sorted(self.env):
            sha.update(f"e\0{name}\0{self.env[name] is None}\n".encode())
        return sha.hexdigest()[:12]

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "files": dict(sorted(self.files.items())),
            "env": dict(sorted(self.env.items())),
            "packages": dict(sorted(self.packages.items())),
            "wheels": sorted(self.wheels),
            "salt": self.salt,
            "outputs": sorted(self.outputs),
        }

    @classmethod
    def from_json(cls, data: Any) -> CargoInputs | None:
        """Read ``to_json``'s output; None for anything else (an entry we cannot trust)."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            return None
        files, env, packages = data.get("files"), data.get("env"), data.get("packages")
        wheels, salt, outputs = data.get("wheels", []), data.get("salt"), data.get("outputs")
        if not (
            isinstance(files, dict)
            and isinstance(env, dict)
            and isinstance(packages, dict)
            and isinstance(wheels, list)
            and isinstance(salt, str)
            and isinstance(outputs, list)
            and all(isinstance(o, str) for o in outputs)
        ):
            return None

        def digests(table: dict[Any, Any], optional: bool) -> bool:
            return all(
                isinstance(k, str) and (isinstance(v, str) or (optional and v is None))
                for k, v in table.items()
            )

        if not (digests(files, True) and digests(env, True) and digests(packages, False)):
            return None
        return cls(
            dict(files),
            dict(env),
            dict(packages),
            [str(w) for w in wheels if isinstance(w, str)],
            salt,
            [str(o) for o in outputs],
        )


# --- reading cargo's files --------------------------------------------------------------


def _unescape_depinfo_path(text: str) -> str:
    return text.replace("\\ ", " ").replace("$$", "$").replace("\\#", "#")


def parse_dep_info(text: str) -> tuple[list[str], list[str]]:
    """rustc's dep-info: the files of its first rule, and the ``# env-dep:`` names.

    The first rule (``out: a.rs b.rs``) lists the crate root first; the rules
    after it repeat the same files as phony targets.  Paths escape spaces as
    ``\\ `` and ``$`` as ``$$``.
    """
    files: list[str] = []
    names: list[str] = []
    logical = text.replace("\\\n", " ")
    first_rule_seen = False
    for line in logical.splitlines():
        if line.startswith("# env-dep:"):
            name = line[len("# env-dep:") :].split("=", 1)[0]
            if name and name not in names:
                names.append(name)
            continue
        if first_rule_seen or not line.strip() or line.startswith("#"):
            continue
        # "target: deps" — the target may itself hold escaped spaces or a drive colon.
        match = re.match(r"^((?:\\.|[^\\:]|:(?!\s|$))+):(?:\s+(.*))?$", line)
        if match is None:
            continue
        first_rule_seen = True
        for word in re.findall(r"(?:\\.|[^\s\\])+", match.group(2) or ""):
            files.append(_unescape_depinfo_path(word))
    return files, names


def parse_build_output(text: str) -> tuple[list[str], list[str]]:
    """A build script's ``output``: ``rerun-if-changed`` paths, ``rerun-if-env-changed`` names."""
    paths: list[str] = []
    names: list[str] = []
    for line in text.splitlines():
        match = _RERUN_RE.match(line.strip())
        if match is None:
            continue
        (paths if match.group(1) == "changed" else names).append(match.group(2).strip())
    return paths, names


def _profile_dirs(target: Path) -> list[Path]:
    """``target/<profile>`` and ``target/<triple>/<profile>``: the folders holding deps/."""
    out: list[Path] = []
    for pattern in ("*/deps", "*/*/deps"):
        out += [p.parent for p in sorted(target.glob(pattern)) if p.is_dir()]
    return out


@dataclass(frozen=True)
class _Places:
    project_root: Path
    workspace_root: Path
    outputs: tuple[Path, ...]
    immutable: tuple[Path, ...]

    def skipped(self, path: Path) -> bool:
        """Made by the build (target/, dist/) or immutable (registry, git checkouts, rustup)."""
        return any(_is_under(path, root) for root in (*self.outputs, *self.immutable))

    def label(self, path: Path) -> str:
        rel = os.path.relpath(path, self.project_root)
        return Path(rel).as_posix()

    def path(self, label: str) -> Path:
        return Path(os.path.normpath(self.project_root / label))


def _is_under(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
    except ValueError:
        return False
    return True


def _immutable_roots(environ: Mapping[str, str]) -> tuple[Path, ...]:
    home = Path(environ.get("CARGO_HOME") or Path.home() / ".cargo")
    rustup = Path(environ.get("RUSTUP_HOME") or Path.home() / ".rustup")
    roots = [home / "registry", home / "git", rustup]
    return tuple(Path(os.path.realpath(r)) for r in roots) + tuple(roots)


def _env_digest(salt: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    return hashlib.sha256(f"{salt}\0{name}\0{value}".encode()).hexdigest()


def _files_digest(files: Iterable[Path], places: _Places) -> str:
    """One digest over a package's files; built wheels (outputs, not inputs) left out."""
    sha = hashlib.sha256()
    for path in sorted(p for p in files if p.suffix != ".whl" and not places.skipped(p)):
        sha.update(f"{places.label(path)}\0{file_sha256(path)}\n".encode())
    return sha.hexdigest()


def _read(path: Path, inputs: CargoInputs) -> str | None:
    """One of cargo's files, counted in ``inputs.sources``; None when unreadable."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    inputs.sources += 1
    return text


def collect_cargo_inputs(
    target: Path,
    project_root: Path,
    workspace_root: Path,
    crates: Sequence[BuildCrate],
    environ: Mapping[str, str],
    lister: SourceLister,
    outputs: Sequence[Path] = (),
) -> CargoInputs:
    """The inputs cargo tracked for the last build of ``crates`` in ``target``.

    ``outputs``: folders the build writes besides ``target`` (the wheels'
    ``dist/``), never inputs.

    Only dep-info files whose crate root is one of ``crates``' compiled targets
    give files (a ``cargo test`` build of ``tests/*.rs`` in the same target dir
    is not the wheel's); every dep-info file and build-script output gives
    variables.  Stale files of older builds only add inputs: their digests are
    taken now, so they never make a restore trust a changed tree.
    """
    places = _Places(
        project_root.resolve(),
        workspace_root.resolve(),
        (target.resolve(), *(Path(os.path.abspath(o)) for o in outputs)),
        _immutable_roots(environ),
    )
    roots = {p.resolve() for crate in crates for p in crate.target_paths}
    by_name = {crate.name: crate for crate in crates}
    inputs = CargoInputs(outputs=[places.label(o) for o in places.outputs])
    files: set[Path] = set()
    names: set[str] = set()
    for profile in _profile_dirs(places.outputs[0]):
        depinfos = sorted(profile.glob("deps/*.d")) + sorted(profile.glob("build/*/*.d"))
        for depinfo in depinfos:
            if (text := _read(depinfo, inputs)) is None:
                continue
            listed, env_names = parse_dep_info(text)
            names.update(env_names)
            # The crate root comes first: resolve the rest only for our crates
            # (a registry crate's dep-info lists hundreds of its own files).
            if listed and (places.workspace_root / listed[0]).resolve() in roots:
                paths = [(places.workspace_root / p).resolve() for p in listed]
                files.update(p for p in paths if not places.skipped(p))
        for output in sorted(profile.glob("build/*/output")):
            if (text := _read(output, inputs)) is None:
                continue
            changed, env_names = parse_build_output(text)
            names.update(env_names)
            crate = by_name.get(_HASH_SUFFIX.sub("", output.parent.name))
            if crate is None:
                continue  # a registry package: its files are Cargo.lock's checksum
            if not changed and not env_names:
                # cargo's old mode: any file of the package reruns the script
                label = places.label(crate.root.resolve())
                inputs.packages[label] = _files_digest(lister.files_under(crate.root), places)
                continue
            for name in changed:
                path = (crate.root / name).resolve()
                if path.is_dir():
                    files.update(lister.files_under(path))
                else:
                    files.add(path)
    for path in sorted(files):
        inputs.files[places.label(path)] = file_sha256(path) if path.is_file() else None
    for name in sorted(n for n in names if tracked_env(n)):
        inputs.env[name] = _env_digest(inputs.salt, name, environ.get(name))
    return inputs


def check_cargo_inputs(
    saved: CargoInputs,
    project_root: Path,
    environ: Mapping[str, str],
    lister: SourceLister,
) -> list[str]:
    """What differs now from ``saved``, one phrase each (empty: the wheels still fit)."""
    root = project_root.resolve()
    outputs = tuple(Path(os.path.normpath(root / o)) for o in saved.outputs)
    places = _Places(root, root, outputs, ())
    changes: list[str] = []
    for label, digest in sorted(saved.files.items()):
        path = places.path(label)
        now = file_sha256(path) if path.is_file() else None
        if now != digest:
            state = "appeared" if digest is None else "is gone" if now is None else "changed"
            changes.append(f"{label} {state}")
    for name, digest in sorted(saved.env.items()):
        if _env_digest(saved.salt, name, environ.get(name)) != digest:
            changes.append(f"the variable {name} changed")
    for label, digest in sorted(saved.packages.items()):
        folder = places.path(label)
        if _files_digest(lister.files_under(folder), places) != digest:
            changes.append(f"a file of {label}/ changed (its build script names no inputs)")
    return changes
