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


def add_mask(value: str) -> str:
    """``::add-mask::value``: the runner prints ``***`` for ``value`` from then on.

    A multi-line value is masked line by line (the runner matches each
    masked string within one line of output), each line escaped so none of
    it can end the command early.
    """
    lines = [line for line in value.replace("\r\n", "\n").split("\n") if line.strip()]
    return "\n".join(f"::add-mask::{escape_data(line)}" for line in lines)
