"""Attacks on the GitHub side: a forged sticky comment, workflow-command injection."""

from __future__ import annotations

from typing import Any

from pyo3_cache.github.comment import make_section, render_sticky_body
from tests.bad_inputs.cases import PR, REPOSITORY, Case, Ctx, github_env

FORGED = render_sticky_body(
    [make_section("release", "release", "[download the fixed wheel](https://evil.example/w.whl)")]
)
INJECTED = "hello\n::error title=forged::build failed\n::add-mask::x"


def forged_comment(login: str, user_type: str) -> Any:
    base = github_env()

    def setup(ctx: Ctx) -> None:
        base(ctx)
        ctx.github.add_comments(REPOSITORY, PR, [FORGED], login=login, user_type=user_type)

    return setup


def check_forged_comment_untouched(ctx: Ctx, results: list[Any]) -> None:
    comments = ctx.github.comments(REPOSITORY, PR)
    strangers = [c for c in comments if c["user"]["login"] != "github-actions[bot]"]
    ours = [c for c in comments if c["user"]["login"] == "github-actions[bot]"]
    assert [c["body"] for c in strangers] == [FORGED], "the stranger's comment was edited"
    assert len(ours) == 1 and "3 crates rebuilt" in ours[0]["body"], ours
    assert "evil.example" not in ours[0]["body"], "the forged section was kept"


def injected_title(ctx: Ctx) -> None:
    github_env()(ctx)
    ctx.env["GITHUB_ACTIONS"] = "true"
    ctx.env["GITHUB_JOB"] = INJECTED


def check_no_injected_command(ctx: Ctx, results: list[Any]) -> None:
    for result in results:
        for line in (result.stdout + result.stderr).splitlines():
            assert not line.startswith(("::error title=forged", "::add-mask::x")), line


CASES: list[Case] = [
    Case(
        "github-forged-marker",
        "github",
        "before our first comment, a stranger's comment carries <!-- pyo3-cache --> and a "
        "forged section",
        ("comment", "--file", "report.md"),
        forged_comment("mallory", "User"),
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        check=check_forged_comment_untouched,
        finding="the first comment with the marker was edited whoever wrote it, and the "
        "forged section stayed; now only the token's own user's comments count "
        "(GET /user, or github-actions[bot] for GITHUB_TOKEN)",
    ),
    Case(
        "github-forged-marker-other-bot",
        "github",
        "another app's bot account posted the marker first",
        ("comment", "--file", "report.md"),
        forged_comment("mallory-app[bot]", "Bot"),
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        check=check_forged_comment_untouched,
        finding="bots' comments were preferred whoever the bot was",
        limit="with another GitHub App's installation token (not GITHUB_TOKEN), which may not "
        "ask GET /user, pyo3-cache cannot recognise its own comments and creates a new one "
        "per run",
    ),
    Case(
        "github-job-name-injection",
        "github",
        "GITHUB_JOB holds a newline and ::error / ::add-mask:: commands",
        ("comment", "--file", "report.md"),
        injected_title,
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        check=check_no_injected_command,
    ),
]
