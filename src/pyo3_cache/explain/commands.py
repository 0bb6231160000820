"""What a verbose log's ``Running `rustc ...``` lines say about each build.

cargo -v prints the rustc command of every unit it compiles.  Two commands of
the same crate in one log, one per cargo invocation, show why the second was
a new build: other ``--cfg feature=`` values, another ``-C opt-level``, a
``--target``, extra flags (RUSTFLAGS), another rustc, or only other hashes of
its dependencies (``--extern name=.../libname-<hash>.rlib``: the dependency
was built differently, the crate follows).  A build script's run
(``.../build/<pkg>-<hash>/build-script-build``) tells that the package's
build script ran, which is how a watched file (``rerun-if-changed``) is told
from a source file.

Only bytes are looked at in the hot path (the crate key of a line); a
command is taken apart when a new unit needs it.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field

_CRATE = re.compile(rb"--crate-name (\S+)")
_SCRIPT_RUN = re.compile(
    rb"[/\\]build[/\\]([A-Za-z0-9_][A-Za-z0-9_.-]*)-[0-9a-f]{16}[/\\]build-script-"
)
_HASHED = re.compile(r"-[0-9a-f]{16}(?=\.|$)")

# Flags whose value names a place or a hash of this build: they differ between
# any two builds and say nothing by themselves.
_PLACE_FLAGS = frozenset(
    {"--out-dir", "-L", "--extern", "--error-format", "--json", "--emit", "--crate-name"}
)
_PLACE_CODEGEN = ("metadata=", "extra-filename=", "incremental=")
# `-C name=value` options that come from the profile.
PROFILE_CODEGEN = frozenset(
    {
        "opt-level",
        "debuginfo",
        "debug-assertions",
        "overflow-checks",
        "lto",
        "codegen-units",
        "panic",
        "strip",
        "split-debuginfo",
        "embed-bitcode",
        "rpath",
    }
)


def crate_key(command: bytes) -> tuple[str, str] | None:
    """(crate name, crate type or ``test``) of a rustc command, or None for
    build scripts and anything else; a few byte finds, cheap enough for every line."""
    at = command.find(b"--crate-name ")
    if at == -1:
        return None
    at += len(b"--crate-name ")
    end = command.find(b" ", at)
    crate = command[at : end if end != -1 else len(command)]
    if crate.startswith(b"build_script_"):
        return None
    kind_at = command.find(b"--crate-type ", end)
    if kind_at == -1:  # rustc --test: no crate type
        return crate.decode("utf-8", "replace"), "test" if command.find(b" --test") != -1 else "bin"
    kind_at += len(b"--crate-type ")
    kind_end = command.find(b" ", kind_at)
    kind = command[kind_at : kind_end if kind_end != -1 else len(command)]
    return crate.decode("utf-8", "replace"), kind.decode("utf-8", "replace")


def script_run_package(command: bytes) -> str | None:
    """The package whose build script this command runs, if it is one."""
    if command.find(b"build-script-") == -1:
        return None
    if command.lstrip(b"`").startswith(b"rustc") or _CRATE.search(command):
        return None
    found = _SCRIPT_RUN.search(command)
    return found.group(1).decode("utf-8", "replace") if found else None


@dataclass
class RustcCall:
    """A rustc command of one crate, taken apart."""

    rustc: str
    features: tuple[str, ...]
    profile: dict[str, str]
    target: str | None
    incremental: bool
    flags: tuple[str, ...]
    """Everything else but places and hashes: RUSTFLAGS show up here."""
    externs: dict[str, str] = field(default_factory=dict)
    """Dependency crate name -> the hash in its file name."""


# cargo prints a command with each argument shell-quoted only where needed
# (`--cfg 'feature="std"'`); shlex would take 50 times as long.
_WORD = re.compile(r"""(?:'[^']*'|"[^"]*"|[^\s'"])+""")


@functools.lru_cache(maxsize=1024)
def parse_command(command: bytes) -> RustcCall | None:
    """A ``Running `...``` command taken apart (cached: a log repeats its commands)."""
    text = command.decode("utf-8", "replace")
    end = text.rfind("`")
    if end > 0:
        text = text[:end]
    words = [w.replace("'", "") if "'" in w else w for w in _WORD.findall(text)]
    # Environment assignments before rustc (cargo prints some: CARGO_..., on -vv all).
    start = next((i for i, w in enumerate(words) if "=" not in w.split("/")[0]), 0)
    if start >= len(words):
        return None
    rustc = words[start]
    features: list[str] = []
    profile: dict[str, str] = {}
    flags: list[str] = []
    externs: dict[str, str] = {}
    target = None
    incremental = False
    i = start + 1
    while i < len(words):
        word = words[i]
        value = words[i + 1] if i + 1 < len(words) else ""
        if word == "--cfg" and value.startswith("feature="):
            features.append(value[len("feature=") :].strip('"'))
            i += 2
            continue
        if word == "-C" and value:
            name, _, setting = value.partition("=")
            if name in PROFILE_CODEGEN:
                profile[name] = setting
            elif value.startswith("incremental="):
                incremental = True
            elif not value.startswith(_PLACE_CODEGEN):
                flags.append(f"-C {value}")
            i += 2
            continue
        if word == "--target":
            target = value
            i += 2
            continue
        if word == "--extern":
            dep, _, path = value.partition("=")
            found = _HASHED.search(path.rsplit("/", 1)[-1])
            externs[dep] = found.group(0)[1:] if found else path
            i += 2
            continue
        if word in _PLACE_FLAGS or word == "--check-cfg":
            i += 2
            continue
        if word.startswith(("--error-format=", "--json=", "--emit=", "--edition=")) or (
            not word.startswith("-") and (word.endswith(".rs") or "/" in word)
        ):
            i += 1
            continue
        flags.append(word)
        i += 1
    return RustcCall(
        rustc, tuple(sorted(features)), profile, target, incremental, tuple(flags), externs
    )


@dataclass
class CallDifference:
    kind: str  # features | profile | target | rustflags | toolchain | dependency-build
    old: str
    new: str
    dependencies: tuple[str, ...] = ()


def _listed(items: tuple[str, ...]) -> str:
    return "[" + ", ".join(f'"{i}"' for i in items) + "]"


def compare_calls(old: RustcCall, new: RustcCall) -> list[CallDifference]:
    """How two builds of one crate differ, most telling first."""
    out: list[CallDifference] = []
    if old.rustc != new.rustc:
        out.append(CallDifference("toolchain", old.rustc, new.rustc))
    if old.features != new.features:
        out.append(CallDifference("features", _listed(old.features), _listed(new.features)))
    if old.target != new.target:
        out.append(CallDifference("target", old.target or "host", new.target or "host"))
    changed = sorted(
        k for k in set(old.profile) | set(new.profile) if old.profile.get(k) != new.profile.get(k)
    )
    if changed or old.incremental != new.incremental:
        olds = [f"{k} {old.profile.get(k, 'unset')}" for k in changed]
        news = [f"{k} {new.profile.get(k, 'unset')}" for k in changed]
        if old.incremental != new.incremental:
            olds.append(f"incremental {'on' if old.incremental else 'off'}")
            news.append(f"incremental {'on' if new.incremental else 'off'}")
        out.append(CallDifference("profile", ", ".join(olds), ", ".join(news)))
    if old.flags != new.flags:
        added = [f for f in new.flags if f not in old.flags]
        removed = [f for f in old.flags if f not in new.flags]
        out.append(
            CallDifference(
                "rustflags",
                " ".join(old.flags) or "(none)",
                " ".join([*(f"+ {f}" for f in added), *(f"- {f}" for f in removed)])
                or " ".join(new.flags),
            )
        )
    if not out:
        deps = tuple(
            sorted(
                d
                for d in set(old.externs) | set(new.externs)
                if old.externs.get(d) != new.externs.get(d)
            )
        )
        if deps:
            out.append(CallDifference("dependency-build", "", "", deps))
    return out


_DIFFERENCES: dict[tuple[bytes, bytes], CallDifference | None] = {}


def first_difference(earlier: bytes, command: bytes) -> CallDifference | None:
    """What tells two rustc commands of a crate apart first (cached: logs repeat)."""
    key = (earlier, command)
    if key in _DIFFERENCES:
        return _DIFFERENCES[key]
    if len(_DIFFERENCES) > 1024:
        _DIFFERENCES.clear()
    old, new = parse_command(earlier), parse_command(command)
    differences = compare_calls(old, new) if old is not None and new is not None else []
    found = _DIFFERENCES[key] = differences[0] if differences else None
    return found


@functools.lru_cache(maxsize=1024)
def profile_settings(command: bytes, member: bool) -> str | None:
    """A rustc command's profile settings in words (cargo leaves out the zeros)."""
    parsed = parse_command(command)
    if parsed is None:
        return None
    shown = [f"{k} {parsed.profile.get(k, '0')}" for k in ("opt-level", "debuginfo")]
    if member:  # registry crates are never built incrementally
        shown.append(f"incremental {'on' if parsed.incremental else 'off'}")
    return ", ".join(shown)
