"""Where the action keeps things, and what after-restore hands to before-save.

The state file (``FlowState`` as JSON under RUNNER_TEMP) carries what the
first step learned to the save step; the *entry dir* is the one folder
actions/cache saves and restores.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pyo3_cache.cache.mtimes import RECORD_IN_TARGET
from pyo3_cache.errors import Pyo3CacheError
from pyo3_cache.github import log

if TYPE_CHECKING:  # store.py loads zstandard: only when a phase needs it
    from pyo3_cache.cache.places import Places

# Where the key manifest travels inside the cache, so a later partial hit can
# say what changed (it is restored with the target dir).
MANIFEST_IN_CACHE = Path("pyo3-cache") / "key-manifest.json"
# The source files' record (see mtimes.py) travels the same way.
MTIMES_IN_CACHE = RECORD_IN_TARGET
COMMENT_MODES = ("on-rebuild", "always", "never")
# The folder actions/cache saves and restores: a dir: store with one entry. It
# sits at the top of the workspace, so actions/cache's ``path`` for it is a
# relative string without ``..`` (actions/cache refuses ``.`` and ``..``
# segments, and versions an entry by the literal strings).
ENTRY_DIR_NAME = ".pyo3-cache-entry"
# The entry actions/cache stores: an archive of ours (about a third smaller),
# or the folders themselves, which actions/cache compresses once (docs/benchmarks.md).
ENTRY_FORMATS = ("archive", "tree")
# Off a runner (no GITHUB_WORKSPACE): under RUNNER_TEMP or ~/.cache.
ENTRY_DIR = Path("pyo3-cache") / "entry"


def python_inputs(env: Mapping[str, str]) -> list[str]:
    """The ``python`` input's interpreters, one per line (or word); the first is the primary."""
    return (env.get("INPUT_PYTHON") or "").split()


def truthy(value: str | None, default: bool = False) -> bool:
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("true", "1", "yes", "on")


@dataclass
class FlowState:
    """What after-restore learned, handed to before-save through a JSON file."""

    key: str = ""
    matched_key: str = ""
    cache_hit: bool = False
    restore_failed: bool = False
    manifest: str = ""
    paths: str = ""
    workspace: str = ""
    target_dir: str = ""
    cargo_log: str = ""
    config_file: str = ""
    key_changes: list[str] = field(default_factory=list)
    key_parts: dict[str, str] = field(default_factory=dict)
    summary: bool = True
    comment: str = "on-rebuild"
    save_if: bool = True
    cache_on_failure: bool = False
    matrix: str = ""
    entry_format: str = "archive"  # ENTRY_FORMATS
    notes: list[str] = field(default_factory=list)

    @property
    def partial_hit(self) -> bool:
        return bool(self.matched_key) and not self.cache_hit

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, path: Path) -> FlowState:
        data = json.loads(path.read_text(encoding="utf-8"))
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def state_path(env: Mapping[str, str]) -> Path:
    """The state file, under RUNNER_TEMP (the save action's tool.sh sets it from runner.temp).

    Never taken from a variable of its own: a build step can write any variable
    to $GITHUB_ENV, and the save step trusts this file (docs/security.md).
    """
    base = env.get("RUNNER_TEMP") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "pyo3-cache" / "state.json"


def own_folder(folder: Path) -> Path:
    """``folder`` if it is the action's own: a real folder of ours that nobody else can write.

    install.sh makes ``RUNNER_TEMP/pyo3-cache`` (mode 700) before any step of
    the user's build runs; a link or a folder someone else could write in
    its place was put there by somebody else, and what it holds is not ours.
    """
    import stat

    from pyo3_cache.errors import StoreError

    try:
        st = os.lstat(folder)
    except FileNotFoundError:
        raise StoreError(
            f"{folder} does not exist: the pyo3-cache action did not run earlier in this job"
        ) from None
    if stat.S_ISLNK(st.st_mode):
        raise StoreError(f"{folder} is a link, not the pyo3-cache action's own folder")
    if not stat.S_ISDIR(st.st_mode):
        raise StoreError(f"{folder} is not a folder")
    if os.name != "nt":
        if st.st_uid != os.getuid():
            raise StoreError(f"{folder} belongs to another user")
        if st.st_mode & 0o022:
            raise StoreError(f"{folder} can be written by other users")
    return folder


def read_state(env: Mapping[str, str]) -> FlowState:
    """The flow state after-restore left, from our own folder only (see own_folder)."""
    from pyo3_cache.errors import StoreError

    path = state_path(env)
    own_folder(path.parent)
    try:
        return FlowState.read(path)
    except FileNotFoundError:
        raise StoreError(
            "no flow state: the pyo3-cache action's after-restore did not run in this job"
        ) from None
    except (ValueError, TypeError) as exc:
        raise StoreError(f"the flow state {path.name} is not one we wrote ({exc})") from None


def entry_dir(env: Mapping[str, str]) -> Path:
    """The folder actions/cache stores: ``.pyo3-cache-entry`` at the top of the workspace.

    It exists only inside our own steps: after-restore removes it once it is
    unpacked, and the save action's last step removes it after actions/cache
    stored it.
    """
    workspace = env.get("GITHUB_WORKSPACE", "")
    if workspace:
        return Path(workspace) / ENTRY_DIR_NAME
    base = env.get("RUNNER_TEMP") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / ENTRY_DIR


def cache_path_string(path: Path, env: Mapping[str, str]) -> str:
    """``path`` as actions/cache's ``path`` input, the same string on every run of a runner.

    actions/cache hashes the literal ``path`` strings into an entry's version
    and resolves relative ones against GITHUB_WORKSPACE, so a path inside the
    workspace is given relative to it (``.pyo3-cache-entry``, ``dist``); one
    outside it stays absolute (never ``../``: actions/cache refuses ``.`` and
    ``..`` segments with "Relative pathing ... is not allowed").
    """
    workspace = env.get("GITHUB_WORKSPACE", "")
    absolute = Path(os.path.abspath(path))
    if workspace:
        with contextlib.suppress(ValueError):
            relative = absolute.relative_to(os.path.abspath(workspace))
            return relative.as_posix() if relative.parts else "."
    return str(absolute)


def entry_path_for_cache(env: Mapping[str, str]) -> str:
    """The entry dir as actions/cache's ``path`` input (see cache_path_string)."""
    return cache_path_string(entry_dir(env), env)


def remove_entry_dir(folder: Path) -> None:
    """Remove the entry dir; a link or file in its place is removed, never followed."""
    if folder.is_symlink() or folder.is_file():
        folder.unlink()
    elif folder.is_dir():
        import shutil

        shutil.rmtree(folder)


def fresh_entry_dir(folder: Path) -> Path:
    """An empty entry dir of ours, whatever an earlier step left at its place."""
    remove_entry_dir(folder)
    folder.mkdir(parents=True, mode=0o700)
    return folder


def places(state: FlowState) -> Places:
    from pyo3_cache.cache.places import Places
    from pyo3_cache.errors import StoreError
    from pyo3_cache.project import cargo_home

    if not state.workspace or not state.target_dir:
        raise StoreError("the workspace was not found, so there is nowhere to unpack to")
    return Places(Path(state.target_dir), cargo_home(), Path(state.workspace))


class PhaseClock:
    """Seconds spent per phase of one step, for one line in the job log."""

    def __init__(self, step: str) -> None:
        self.step = step
        self.started = time.monotonic()
        self.phases: dict[str, float] = {}

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = self.phases.get(name, 0.0) + time.monotonic() - started

    def line(self) -> str:
        """``after-restore 0.41 s (unpack 0.20 s, pin 0.05 s, ...)``."""
        total = time.monotonic() - self.started
        parts = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in self.phases.items())
        return f"{self.step} {total:.2f} s ({parts})" if parts else f"{self.step} {total:.2f} s"


def guard(
    what: str,
    action: Callable[[], Any],
    notes: list[str],
    clock: PhaseClock | None = None,
    phase: str = "",
) -> Any:
    """Run one phase step, timed as ``phase`` on ``clock``; on trouble warn once, note it, go on."""
    try:
        if clock is None:
            return action()
        with clock.phase(phase or what):
            return action()
    except Pyo3CacheError as exc:
        message = f"{what} skipped: {exc}"
    except Exception as exc:  # never fail the user's job over our own bug
        message = f"{what} skipped: internal error ({type(exc).__name__}: {exc})"
    log.warn(message)
    notes.append(message)
    return None


def guarded(what: str, env: Mapping[str, str], step: Callable[[Mapping[str, str]], Any]) -> None:
    """Run one action step on ``env``; our trouble is one warning, never a failed job."""
    guard(what, lambda: step(env), [])


def cache_paths(cache_targets: bool = True) -> list[str]:
    """What goes into the entry: the target dir and cargo's registry index, crates and git dbs."""
    from pyo3_cache.cache.places import DEFAULT_CARGO_HOME_PATHS
    from pyo3_cache.project import cargo_home, find_manifest, find_workspace_root, target_dir

    paths: list[str] = []
    if cache_targets:
        paths.append(str(target_dir(find_workspace_root(find_manifest()))))
    home = cargo_home()
    paths += [str(home / sub) for sub in DEFAULT_CARGO_HOME_PATHS]
    return paths
