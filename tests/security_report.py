"""Write docs/security.md's tables from the tests that prove them.

    .venv/bin/python tests/security_report.py           # print the tables
    .venv/bin/python tests/security_report.py --write   # put them into docs/security.md

Each table sits between ``<!-- generated: NAME -->`` and ``<!-- end: NAME -->``.
``tests/test_security_doc.py`` fails when the page differs from what this
prints, or when a row names a test or file that does not exist. The attack
tables come from the bad-input catalogue itself (a case's input, what it
found, its id), so a new attack case is a new row.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `tests` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import tests.bad_inputs.cases  # noqa: F401 - the catalogue loads the attacks_* modules
from tests.bad_inputs import attacks_action, attacks_cache
from tests.bad_inputs.cases import Case

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "security.md"

# What is checked, and where (a test ``path::name``, or a file that runs the check).
CHECKS: list[tuple[str, tuple[str, ...]]] = [
    (
        "`zizmor --offline` on every action and workflow file: no findings",
        (".ci/lint-yaml",),
    ),
    (
        "Third-party actions pinned by full commit SHA, with a `# vX.Y.Z` comment",
        ("tests/test_security.py::test_third_party_actions_are_pinned_by_commit_sha",),
    ),
    (
        "No `${{ }}` expression inside any `run:` script",
        ("tests/test_security.py::test_no_expression_inside_a_run_script",),
    ),
    (
        "Top-level `permissions: contents: read`; `pull-requests: write` only in jobs that run "
        "pyo3-cache (the sticky comment)",
        ("tests/test_security.py::test_workflows_grant_the_least_privilege",),
    ),
    (
        "No `pull_request_target` trigger; `actions/checkout` with `persist-credentials: false`",
        ("tests/test_security.py::test_no_pull_request_target_and_no_persisted_credentials",),
    ),
    (
        "The token reaches one step only: `save/action.yml`'s `comment` step, as `GITHUB_TOKEN` "
        "in its `env:`; that step runs nothing but the post",
        ("tests/test_security.py::test_the_token_reaches_only_the_step_that_comments",),
    ),
    (
        "Both manifests load on a real runner (act); `${{ }}` only where the runner evaluates "
        "it; no input, event or matrix data spliced into a `run:` script",
        (
            "tests/act/test_manifests.py::test_both_manifests_load_and_run_under_act",
            "tests/act/test_manifests.py::test_expressions_only_where_the_runner_evaluates_them",
            "tests/act/test_manifests.py::test_no_input_or_event_data_is_spliced_into_a_script",
        ),
    ),
    (
        "A build step that writes `PYO3_CACHE_PYTHON`, `PYO3_CACHE_STATE`, `RUNNER_TEMP` and "
        "`BASH_ENV` to `$GITHUB_ENV` does not change what the save action runs: the PR comment "
        "is posted, the build's script never sees the token",
        (
            "tests/act/test_scenarios.py::"
            "test_pr_comment_and_a_build_step_cannot_take_over_the_save_step",
        ),
    ),
    (
        "The save action's steps read their state and the PR comment only from our own folder "
        "(not a link, not writable by others) and write nothing into a target dir cargo did "
        "not make",
        ("tests/bad_inputs/attacks_action.py",),
    ),
    (
        "A full action run leaves the token in no log line, job summary, output, env/output "
        "file, state file, key manifest, target dir or cache entry, while the fake GitHub API "
        "proves it was sent",
        (
            "tests/integration/test_fault_injection.py::test_the_token_appears_nowhere_after_a_full_run",
        ),
    ),
    (
        "The REST client sends the token to the API host only: a redirect to another host is "
        "not followed, and no error message holds the token",
        ("tests/github/test_http.py", "tests/github/test_rest.py"),
    ),
    (
        "Hostile cache entries (path traversal, absolute paths, links out or swapped later in "
        "the stream, members outside the job's folders, devices, decompression bombs, corrupt "
        "or mismatching archives; in the action's folder trees links out, special files, "
        "unlisted folders, missing or cut files) write nothing and are a warning and a miss",
        (
            "tests/bad_inputs/attacks_cache.py",
            "tests/cache/test_archive.py",
            "tests/cache/test_tree.py",
        ),
    ),
    (
        "Log text in the job summary and the PR comment cannot inject HTML, mentions, links, "
        "break a table row or a `<details>` block",
        (
            "tests/test_properties.py",
            "tests/explain/test_render.py",
            "tests/github/test_comment.py",
        ),
    ),
    (
        "Secret-looking values (credentials in URLs, token names and shapes) are redacted "
        "everywhere and masked before they could be printed",
        ("tests/test_redact.py", "tests/bad_inputs/attacks_keys.py"),
    ),
]

# Unit tests that prove a catalogue case's rule without the CLI around it.
ALSO = {
    "attack-link-swap": (
        "tests/cache/test_archive.py::test_links_are_judged_against_the_final_tree",
    ),
    "attack-entry-writes-sources": (
        "tests/cache/test_archive.py::test_a_member_under_no_destination_of_this_restore_is_refused",
    ),
    "attack-entry-file-over-git": (
        "tests/cache/test_store.py::test_an_entry_may_never_hold_sources_git_or_cargos_bin",
    ),
    "attack-target-dir-is-workspace-save": (
        "tests/cache/test_store.py::"
        "test_a_target_dir_cargo_did_not_make_is_neither_saved_nor_restored_into",
    ),
    "attack-pr-scope-wins": (
        "tests/cache/test_store.py::test_a_pull_requests_entry_never_wins_a_main_restore",
    ),
    "attack-multi-path-fresh-checkout": (
        "tests/cache/test_store.py::test_a_multi_path_entry_restores_whole_on_a_fresh_checkout",
    ),
    "attack-killed-save-leftover": (
        "tests/cache/test_store.py::test_a_killed_saves_archive_is_cleared_and_counts_against_the_cap",
    ),
    "action-save-state-folder-is-a-link": (
        "tests/action/test_state.py::test_a_link_at_the_entry_dir_is_removed_not_followed",
    ),
}
# Attacks proved by a real build rather than a catalogue case: (attack, before, test).
EXTRA_CACHE_ROWS = [
    (
        "Off GitHub, `save` with a shared `~/.cargo`",
        "the whole registry archived (85 MB for a 14-crate lock file)",
        "tests/integration/test_store_real.py::"
        "test_off_github_entry_is_the_same_size_with_a_fresh_or_a_shared_cargo_home",
    ),
]


def _cell(text: str) -> str:
    return " ".join(text.replace("|", "\\|").split())


def _refs(refs: tuple[str, ...]) -> str:
    return "; ".join(f"`{ref}`" for ref in refs)


def checks_table() -> str:
    rows = ["| Check | Where |", "|---|---|"]
    rows += [f"| {_cell(claim)} | {_refs(refs)} |" for claim, refs in CHECKS]
    return "\n".join(rows)


def _attack_rows(cases: list[Case]) -> list[str]:
    rows = ["| Attack | What happened before | Test |", "|---|---|---|"]
    for case in cases:
        before = case.finding or "(refused from the start)"
        refs = _refs((case.id, *ALSO.get(case.id, ())))
        rows.append(f"| {_cell(case.input)} | {_cell(before)} | {refs} |")
    return rows


def cache_table() -> str:
    rows = _attack_rows(attacks_cache.CASES)
    rows += [f"| {_cell(a)} | {_cell(b)} | `{t}` |" for a, b, t in EXTRA_CACHE_ROWS]
    return "\n".join(rows)


def action_table() -> str:
    return "\n".join(_attack_rows(attacks_action.CASES))


TABLES = {"checks": checks_table, "cache-attacks": cache_table, "action-attacks": action_table}
_BLOCK = re.compile(r"(<!-- generated: ([\w-]+) -->\n)(.*?)(\n<!-- end: \2 -->)", re.S)


def rendered(text: str) -> str:
    """``text`` with every generated block replaced by what the tests say now."""
    return _BLOCK.sub(lambda m: m.group(1) + TABLES[m.group(2)]() + m.group(4), text)


def blocks(text: str) -> list[str]:
    return [m.group(2) for m in _BLOCK.finditer(text)]


def main(argv: list[str]) -> int:
    if "--write" in argv:
        DOC.write_text(rendered(DOC.read_text(encoding="utf-8")), encoding="utf-8")
        return 0
    for name, table in TABLES.items():
        print(f"<!-- generated: {name} -->\n{table()}\n<!-- end: {name} -->\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
