"""Everything that touches GitHub Actions: ``GITHUB_*`` files and workflow commands.

The REST client (sticky PR comments) lives here too, so there is one place
that knows GitHub's formats and rules.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from pyo3_cache.errors import GitHubError


def in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def escape_data(value: str) -> str:
    """Escape a workflow command's message (GitHub's ``escapeData``)."""
    return value.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(value: str) -> str:
    """Escape a workflow command property value (``escapeProperty``)."""
    return escape_data(value).replace(":", "%3A").replace(",", "%2C")


def workflow_command(command: str, message: str, **properties: str) -> str:
    """``::command prop=value,...::message`` with every part escaped."""
    props = ",".join(f"{k}={escape_property(v)}" for k, v in properties.items() if v)
    head = f"::{command} {props}" if props else f"::{command}"
    return f"{head}::{escape_data(message)}"


def _file_from_env(variable: str) -> Path:
    value = os.environ.get(variable)
    if not value:
        raise GitHubError(f"{variable} is not set; --github only works inside GitHub Actions")
    return Path(value)


def _heredoc_entry(name: str, value: str) -> str:
    if "\n" not in value and "\r" not in value:
        return f"{name}={value}\n"
    # A random delimiter that the value cannot contain, as GitHub documents
    # for multi-line values (a fixed one would let the value end the block).
    delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    while delimiter in value:
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
    return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"


def _append(variable: str, values: Mapping[str, str]) -> None:
    path = _file_from_env(variable)
    text = "".join(_heredoc_entry(k, v) for k, v in values.items())
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise GitHubError(f"cannot append to {variable} ({path}): {exc.strerror}") from None


def append_env(values: Mapping[str, str]) -> None:
    """Export variables to later steps through ``$GITHUB_ENV``."""
    _append("GITHUB_ENV", values)


def append_output(values: Mapping[str, str]) -> None:
    """Set step outputs through ``$GITHUB_OUTPUT``."""
    _append("GITHUB_OUTPUT", values)


def append_path(directory: str) -> None:
    """Prepend a directory to PATH for later steps through ``$GITHUB_PATH``."""
    path = _file_from_env("GITHUB_PATH")
    try:
        with path.open("a", encoding="utf-8") as handle:
            handle.write(directory + "\n")
    except OSError as exc:
        raise GitHubError(f"cannot append to GITHUB_PATH ({path}): {exc.strerror}") from None
