"""Workflow commands (``::warning::``, ``::group::``, ``::add-mask::``) and their escaping.

Every value printed into a workflow command goes through ``escape_data`` (the
message) or ``escape_property`` (``title=`` and other properties), so a
newline in a file name, a lockfile or a log line cannot start a command of
its own (GitHub's ``escapeData`` / ``escapeProperty`` in actions/toolkit).
"""

from __future__ import annotations

import os


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
