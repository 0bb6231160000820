"""A job's name and its section key in the sticky comment: from the workflow's
variables and the ``matrix`` input alone (no REST client, so the save step's
summary imports none)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# The events whose payload names a pull request to comment on.
PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")


def matrix_values(matrix: str) -> list[str]:
    """The values of ``${{ toJSON(matrix) }}``, in order; a plain string is one value."""
    text = (matrix or "").strip()
    if not text or text == "null":
        return []
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return [text]
    if isinstance(data, dict):
        items: list[Any] = list(data.values())
    elif isinstance(data, list):
        items = data
    else:
        items = [data]
    return [
        v if isinstance(v, str) else json.dumps(v, separators=(",", ":"), sort_keys=True)
        for v in items
        if v not in (None, "")
    ]


def job_title(job: str, matrix: str = "") -> str:
    """``job (value, value)``, as GitHub names a matrix job's check."""
    values = matrix_values(matrix)
    name = job or "job"
    return f"{name} ({', '.join(values)})" if values else name


def job_section_key(env: Mapping[str, str], matrix: str = "") -> str:
    """The key of a job's section: workflow, job id and matrix, so each matrix job owns one."""
    return "/".join(
        [env.get("GITHUB_WORKFLOW", ""), env.get("GITHUB_JOB", "") or "job", *matrix_values(matrix)]
    )
