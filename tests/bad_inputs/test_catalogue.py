"""Run every case of the bad-input catalogue as a user would, and check the contract.

For each case: a fresh folder (``case/work`` is the current directory, with a
neighbour file beside it), the input built by the case's factory, then
``python -m pyo3_cache ARGS`` in a subprocess.  Checked, whatever the case:
no traceback, no internal error (exit 70), the tree of ``case/`` unchanged
except the paths the case says the command owns (paths, sizes, mtimes), and
no GitHub token in the output.  Then the outcome the case promises: a one-line
error with its class's exit code, a warning and exit 0, a report, findings,
or the wrapped build's exit code.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import secrets
import signal
import stat
import string
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import pytest

from pyo3_cache.errors import ALL_ERRORS
from tests.bad_inputs import report
from tests.bad_inputs.cases import CASES, OUTCOMES, Case, Ctx
from tests.conftest import REPO, CliResult, assert_one_line_error

_ALNUM = string.ascii_letters + string.digits
TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))
READ_ONLY_TOKEN = "ghs_" + "".join(secrets.choice(_ALNUM) for _ in range(36))
ERROR_CODES = {cls.exit_code for cls in ALL_ERRORS}

# Runs the CLI as its only child and reports that child's peak memory.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.call(sys.argv[2:])\n"
    "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(peak))\n"
    "sys.exit(rc if rc >= 0 else 128 - rc)\n"
)
# What the machine running the tests may have set that would change a case.
_DROPPED_PREFIXES = ("GITHUB_", "RUNNER_", "PYO3_", "INPUT_", "AWS_", "ACTIONS_")
_DROPPED = {"CARGO_TARGET_DIR", "VIRTUAL_ENV", "CONDA_PREFIX", "CARGO_LOG", "RUSTFLAGS"}


@dataclass
class Observed:
    returncode: int
    stdout: str
    stderr: str
    max_rss_kib: int


def _env(ctx: Ctx) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_DROPPED_PREFIXES) and k not in _DROPPED
    }
    env.update(ctx.env)
    return env


def _argv(case: Case, ctx: Ctx) -> list[str]:
    values = {"work": str(ctx.work), **ctx.vars}
    return [arg.format(**values) for arg in case.argv]


def _feed(pipe: IO[bytes], ctx: Ctx) -> None:
    assert ctx.stdin is not None
    with contextlib.suppress(BrokenPipeError, OSError):
        for chunk in ctx.stdin():
            pipe.write(chunk)
    with contextlib.suppress(BrokenPipeError, OSError):
        pipe.close()


def run_case(case: Case, ctx: Ctx) -> list[Observed]:
    """Start ``case.parallel`` copies of the command at once; wait for all."""
    procs = []
    for n in range(case.parallel):
        rss_file = ctx.work.parent.parent / f"rss-{n}"  # outside the snapshot
        cmd = [sys.executable, "-c", _MEASURE, str(rss_file), sys.executable, "-m", "pyo3_cache"]
        proc = subprocess.Popen(
            [*cmd, *_argv(case, ctx)],
            cwd=ctx.work,
            env=_env(ctx),
            stdin=subprocess.PIPE if ctx.stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # a timeout kills the CLI too, not only the wrapper
        )
        procs.append((proc, rss_file))
    feeders = []
    for proc, _ in procs:
        if ctx.stdin is not None and proc.stdin is not None:
            # The feeder owns the pipe: communicate() below must not close it.
            feeders.append(threading.Thread(target=_feed, args=(proc.stdin, ctx)))
            proc.stdin = None
    for feeder in feeders:
        feeder.start()
    observed = []
    for proc, rss_file in procs:
        try:
            out, err = proc.communicate(timeout=case.timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            pytest.fail(f"{case.id}: no answer within {case.timeout:.0f} s")
        rss = int(rss_file.read_text()) if rss_file.exists() else 0
        rss_file.unlink(missing_ok=True)
        observed.append(
            Observed(
                proc.returncode,
                out.decode("utf-8", "replace"),
                err.decode("utf-8", "replace"),
                rss,
            )
        )
    for feeder in feeders:
        feeder.join()
    return observed


# --- the tree snapshot ----------------------------------------------------------------


def snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` (links not followed): kind, size (files), mtime."""
    tree = {}
    for folder, dirs, files in os.walk(root):
        for name in [".", *dirs, *files] if folder == str(root) else [*dirs, *files]:
            path = Path(folder) / name
            st = path.lstat()
            kind = stat.S_IFMT(st.st_mode)
            size = 0 if stat.S_ISDIR(st.st_mode) else st.st_size
            tree[path.relative_to(root).as_posix()] = (kind, size, st.st_mtime_ns)
    return tree


def _allowed(rel: str, writes: tuple[str, ...]) -> bool:
    for pattern in writes:
        full = "work/" + pattern
        if fnmatch.fnmatch(rel, full):
            return True
        base = full.split("*", 1)[0].rstrip("/")
        # Folders on the way to an owned path change their mtime when it is written.
        if base == rel or base.startswith(rel + "/") or rel == ".":
            return True
    return False


def changed_outside(before: dict[str, Any], after: dict[str, Any], writes: tuple[str, ...]) -> list:
    changed = sorted(
        path for path in set(before) | set(after) if before.get(path) != after.get(path)
    )
    return [p for p in changed if not _allowed(p, writes)]


# --- running a case -------------------------------------------------------------------


@contextlib.contextmanager
def _github(case: Case) -> Iterator[Any]:
    if case.group != "github":
        yield None
        return
    try:
        from tests.fake_github import running
    except ImportError:  # it lands with the GitHub REST client
        pytest.skip("tests/fake_github.py is not there yet")

    for fake in running(TOKEN, read_only_tokens=(READ_ONLY_TOKEN,)):
        fake.read_only_token = READ_ONLY_TOKEN
        yield fake


def check_outcome(case: Case, result: Observed) -> None:
    text = result.stdout + result.stderr
    assert "Traceback" not in text, text[-3000:]
    assert "internal error" not in text, result.stderr
    assert result.returncode != 70, result.stderr
    assert TOKEN not in text and READ_ONLY_TOKEN not in text, "a token reached the output"
    ours = [ln for ln in result.stderr.splitlines() if ln.startswith("pyo3-cache")]
    if case.outcome == "error":
        assert case.exit_code in ERROR_CODES, f"{case.exit_code} is not an errors.py code"
        cli = CliResult(result.returncode, result.stdout, result.stderr)
        assert_one_line_error(cli, case.exit_code, case.fragments[0])
        for fragment in case.fragments:
            assert fragment in result.stderr, (fragment, result.stderr)
        return
    assert not any(ln.startswith("pyo3-cache: error:") for ln in ours), result.stderr
    if case.outcome == "warning":
        assert result.returncode == 0, result.stderr
        said = [ln for ln in ours if case.fragments[0] in ln]
        assert said, f"no pyo3-cache line says {case.fragments[0]!r}: {result.stderr}"
        assert len(said[0].splitlines()) == 1
    elif case.outcome == "report":
        assert result.returncode == 0, result.stderr
    elif case.outcome == "findings":
        assert result.returncode == 1, result.stderr
    elif case.outcome == "build":
        assert result.returncode == case.exit_code, result.stderr
    for fragment in case.fragments:
        assert fragment in text, (fragment, result.stdout[-2000:], result.stderr[-2000:])


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "case"
    work = root / "work"
    work.mkdir(parents=True)
    (root / "neighbour.txt").write_text("anything outside work/ must stay as it is\n")
    with _github(case) as fake:
        ctx = Ctx(work=work, github=fake)
        try:
            case.setup(ctx)
            if ctx.skip:
                pytest.skip(ctx.skip)
            before = snapshot(root)
            results = run_case(case, ctx)
            after = snapshot(root)
            for result in results:
                check_outcome(case, result)
                if case.max_rss_mib is not None:
                    assert 0 < result.max_rss_kib < case.max_rss_mib * 1024, result.max_rss_kib
            assert changed_outside(before, after, case.writes) == []
            if case.check is not None:
                case.check(ctx, results)
        finally:
            for cleanup in reversed(ctx.cleanups):
                cleanup()


# --- the catalogue itself ---------------------------------------------------------------


def test_catalogue_covers_every_kind_of_input_the_issue_lists() -> None:
    ids = {c.id for c in CASES}
    assert len(ids) == len(CASES), "case ids must be unique"
    assert len(CASES) >= 40
    assert {c.outcome for c in CASES} <= set(OUTCOMES)
    groups = {c.group for c in CASES}
    assert {
        "logs",
        "project files",
        "interpreters",
        "key manifests",
        "bytecode",
        "archives",
        "stores",
        "github",
    } <= groups


def test_reliability_doc_is_generated_from_the_catalogue() -> None:
    doc = REPO / "docs" / "reliability.md"
    assert doc.read_text(encoding="utf-8") == report.render(), (
        "docs/reliability.md is out of date: run "
        "`.venv/bin/python tests/bad_inputs/report.py > docs/reliability.md`"
    )


def test_run_keeps_the_build_exit_code_when_explaining_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Whatever goes wrong in our explanation, `run` returns the build's code."""
    from pyo3_cache.cli import main as cli
    from pyo3_cache.explain import diagnostics

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the explanation")

    monkeypatch.setattr(diagnostics, "explain_recompiles", broken)
    log = tmp_path / "run.log"
    code = cli.main(["run", "--no-wrapper", "--log", str(log), "--", "sh", "-c", "exit 5"])
    assert code == 5
    err = capsys.readouterr().err
    assert "could not explain the build" in err and "RuntimeError" in err
