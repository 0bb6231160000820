"""Attacks on the save action's steps: a build step plants state, links or variables for them.

The save action runs after the user's build, which runs as the same user and
may write files and ``$GITHUB_ENV``. These cases run our steps' commands
(``pyo3-cache action before-save`` / ``comment``) as the save action does,
with what such a build could leave behind; the shell side (scripts/tool.sh,
the manifests' ``env:``) is tested under act in
``tests/act/test_scenarios.py::test_pr_comment_and_a_build_step_cannot_take_over_the_save_step``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.bad_inputs.cases import PR, REPOSITORY, Case, Ctx, github_env, project

TAG = "Signature: 8a477f597d28d172789f06886806bc55\n"


def _elsewhere(ctx: Ctx) -> Path:
    """A folder outside the project (inside the case folder the catalogue watches)."""
    folder = ctx.work.parent / "elsewhere"
    folder.mkdir(exist_ok=True)
    return folder


def _gh_files(ctx: Ctx) -> None:
    for name in ("output", "summary", "env"):
        (ctx.work / "gh" / name).parent.mkdir(exist_ok=True)
        (ctx.work / "gh" / name).write_text("")
    ctx.env.update(
        GITHUB_OUTPUT=str(ctx.work / "gh" / "output"),
        GITHUB_STEP_SUMMARY=str(ctx.work / "gh" / "summary"),
        GITHUB_ENV=str(ctx.work / "gh" / "env"),
        RUNNER_TEMP=str(ctx.work / "temp"),
        JOB_STATUS="success",
    )


def linked_state_folder(ctx: Ctx) -> None:
    """RUNNER_TEMP/pyo3-cache is a link to a folder the build made, with a state of its own.

    The state names a cargo-tagged folder outside the project as the target
    dir: pruning it, recording mtimes into it or packing it would all write
    outside what we own.
    """
    project(ctx)
    _gh_files(ctx)
    elsewhere = _elsewhere(ctx)
    victim = elsewhere / "target"
    (victim / "release" / "deps").mkdir(parents=True)
    (victim / "CACHEDIR.TAG").write_text(TAG)
    (victim / "release" / "deps" / "libold-0123456789abcdef.rlib").write_bytes(b"x" * 4096)
    state = {
        "key": "v1-pyo3-forged",
        "workspace": str(elsewhere),
        "target_dir": str(victim),
        "paths": str(victim),
        "comment": "never",
    }
    (elsewhere / "state.json").write_text(json.dumps(state))
    (ctx.work / "temp").mkdir()
    (ctx.work / "temp" / "pyo3-cache").symlink_to(elsewhere, target_is_directory=True)
    ctx.env["PYO3_CACHE_STATE"] = str(elsewhere / "state.json")  # the old variable, ignored


def check_nothing_saved(ctx: Ctx, results: list[Any]) -> None:
    outputs = (ctx.work / "gh" / "output").read_text()
    assert "save=false" in outputs and "v1-pyo3-forged" not in outputs, outputs


def linked_comment_folder(ctx: Ctx) -> None:
    """The comment step's folder is a link to the build's folder holding its own section."""
    github_env()(ctx)
    _gh_files(ctx)
    elsewhere = _elsewhere(ctx)
    section = {"markdown": "[fixed wheel](https://evil.example/w.whl)", "key": "x", "title": "x"}
    (elsewhere / "comment.json").write_text(json.dumps(section))
    (ctx.work / "temp").mkdir()
    (ctx.work / "temp" / "pyo3-cache").symlink_to(elsewhere, target_is_directory=True)


def check_no_comment_posted(ctx: Ctx, results: list[Any]) -> None:
    assert ctx.github.comments(REPOSITORY, PR) == [], "the build's section was posted"


def open_state_folder(ctx: Ctx) -> None:
    """Our folder's mode was opened to everybody (another user could have written the state)."""
    linked_state_folder(ctx)
    link = ctx.work / "temp" / "pyo3-cache"
    link.unlink()
    link.mkdir()
    (link / "state.json").write_text((_elsewhere(ctx) / "state.json").read_text())
    link.chmod(0o777)


CASES: list[Case] = [
    Case(
        "action-save-state-folder-is-a-link",
        "action",
        "a build step replaced RUNNER_TEMP/pyo3-cache with a link to its own folder, whose "
        "state names a cargo-tagged folder outside the project as the target dir",
        ("action", "before-save"),
        linked_state_folder,
        "warning",
        0,
        ("is a link, not the pyo3-cache action's own folder",),
        writes=("gh/*", "temp/pyo3-cache"),
        check=check_nothing_saved,
        finding="before-save read the state through the link: it pruned the outside "
        "folder, recorded source mtimes into it and packed it as the job's cache entry "
        "('save: yes'); now a state is read only from a real folder of this user that "
        "nobody else can write",
    ),
    Case(
        "action-save-state-folder-open-to-all",
        "action",
        "RUNNER_TEMP/pyo3-cache is mode 777 (anybody could have written the state)",
        ("action", "before-save"),
        open_state_folder,
        "warning",
        0,
        ("can be written by other users",),
        writes=("gh/*", "temp/pyo3-cache", "temp/pyo3-cache/*"),
        check=check_nothing_saved,
        finding="the state was read and the outside folder pruned and packed, as through a link",
    ),
    Case(
        "action-comment-folder-is-a-link",
        "github",
        "the comment step (the one with the token) finds RUNNER_TEMP/pyo3-cache linked to a "
        "build's folder holding a section with a link to a forged wheel",
        ("action", "comment"),
        linked_comment_folder,
        "warning",
        0,
        ("is a link, not the pyo3-cache action's own folder",),
        writes=("gh/*",),
        check=check_no_comment_posted,
        finding="the section was read through the link and posted with the token; now "
        "the comment step reads only a real folder of this user that nobody else can write",
    ),
]
