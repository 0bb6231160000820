"""The failures pyo3-cache reports, one class per kind, each with its own exit code.

A user reads ``str(error)``: one sentence saying what went wrong and, where it
helps, what to do.  The CLI prints it as ``pyo3-cache: error: <sentence>`` and
exits with the class's ``exit_code``; no traceback is shown.

Exit codes are public interface (scripts test them), so they never change
meaning:

==  ===========================================================
0   success
1   the command ran and found problems it was asked to report
    (``audit-bytecode`` findings of error kinds)
2   usage error (bad flags; argparse's own code)
3   interpreter: missing, not Python, too old, crashed
4   output location: unwritable directory, a file where a dir goes
5   project files: Cargo.lock / Cargo.toml / pyproject.toml missing or invalid
6   toolchain: ``rustc``/``cargo`` missing or failing
7   key manifest: unreadable, wrong shape or from another tool version
8   cargo log: unreadable input
9   cache store: unknown scheme, unreachable, misconfigured
10  archive: corrupt, or a member that would escape the destination
11  GitHub: REST API or workflow files
12  bytecode: unreadable artifact given to ``audit-bytecode`` or ``audit-wheels``
13  wrapped command could not be started (``pyo3-cache run``)
70  internal error (a bug in pyo3-cache)
==  ===========================================================
"""

from __future__ import annotations


class Pyo3CacheError(Exception):
    """Base class: every error the tool raises on purpose."""

    exit_code = 70
    kind = "internal"

    def __init__(self, message: str) -> None:
        # One line only: a message is printed as a single log line, and a
        # newline in it would let log content forge a workflow command.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class FindingsError(Pyo3CacheError):
    """The command worked and found problems the user asked to be told about."""

    exit_code = 1
    kind = "findings"


class InterpreterError(Pyo3CacheError):
    """The Python interpreter is missing, is not Python, is too old, or crashed."""

    exit_code = 3
    kind = "interpreter"


class OutputLocationError(Pyo3CacheError):
    """A directory or file we must write cannot be written."""

    exit_code = 4
    kind = "output-location"


class ProjectError(Pyo3CacheError):
    """A project file (Cargo.lock, Cargo.toml, pyproject.toml) is missing or invalid."""

    exit_code = 5
    kind = "project"


class ToolchainError(Pyo3CacheError):
    """The Rust toolchain (rustc, cargo) is missing or failed."""

    exit_code = 6
    kind = "toolchain"


class ManifestError(Pyo3CacheError):
    """A key manifest cannot be read, has the wrong shape or another version."""

    exit_code = 7
    kind = "manifest"


class LogError(Pyo3CacheError):
    """A cargo log cannot be read."""

    exit_code = 8
    kind = "log"


class StoreError(Pyo3CacheError):
    """A cache store is unknown, unreachable or misconfigured."""

    exit_code = 9
    kind = "store"


class ArchiveError(Pyo3CacheError):
    """A cache archive is corrupt or holds a member that would escape its destination."""

    exit_code = 10
    kind = "archive"


class GitHubError(Pyo3CacheError):
    """The GitHub REST API or a workflow file (event, env, output) failed."""

    exit_code = 11
    kind = "github"


class BytecodeError(Pyo3CacheError):
    """An artifact given to audit-bytecode cannot be read."""

    exit_code = 12
    kind = "bytecode"


class WheelAuditError(BytecodeError):
    """A path given to audit-wheels is not a wheel or a directory of wheels (exit code 12)."""


class CommandError(Pyo3CacheError):
    """The command wrapped by ``pyo3-cache run`` could not be started."""

    exit_code = 13
    kind = "command"


ALL_ERRORS: tuple[type[Pyo3CacheError], ...] = (
    FindingsError,
    InterpreterError,
    OutputLocationError,
    ProjectError,
    ToolchainError,
    ManifestError,
    LogError,
    StoreError,
    ArchiveError,
    GitHubError,
    BytecodeError,
    CommandError,
)
