"""The catalogue of bad inputs: what a user (or an attacker) can hand pyo3-cache.

Each ``Case`` is data: the input (built by a small factory, or a file under
``data/``), the command as a user types it, and what must happen:

``error``
    one line ``pyo3-cache: error: ...`` on stderr and the exit code of the
    matching class in ``errors.py`` (never 70, the internal-error code);
``warning``
    cache trouble: exit 0, a ``pyo3-cache: warning: ...`` line saying what was
    skipped (a cache problem never fails a build);
``report``
    the command's normal output says what it made of the input (``explain``
    on an empty log says so; ``key`` on a huge lock file just works);
``findings``
    ``audit-bytecode`` found something wrong inside an artifact: exit 1 and a
    finding in the report;
``build``
    ``pyo3-cache run`` returns the wrapped build's own exit code.

``test_catalogue.py`` runs every case in a fresh directory and also checks
that nothing outside the paths the command owns changed; ``report.py`` turns
the catalogue into ``docs/reliability.md``.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import zstandard

from pyo3_cache.cache.store import (
    ARCHIVE_NAME,
    ENTRY_NAME,
    encode_key,
    new_entry_record,
    scoped_key,
)
from pyo3_cache.keys.model import MANIFEST_VERSION
from tests.cache.cargo_dirs import cargo_target_dir
from tests.cache.tar_members import member as _member
from tests.cache.tar_members import special as _special

REPO = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
EXAMPLE = REPO / "examples" / "hello-pyo3"
LOGS = REPO / "tests" / "fixtures" / "cargo-logs"
PYO3_PYTHON_LOG = LOGS / "human" / "pyo3-python-changed.log"
TOUCHED_LOG = LOGS / "human" / "touched-source.log"
PYO3_PYTHON_HEADLINE = "3 crates rebuilt because PYO3_PYTHON changed"
KEY = "v1-pyo3-linux-x86_64-aaaa"
GIB = 1 << 30
STORED_KEY = scoped_key("default", KEY)  # the CLI's scope outside a git checkout

OUTCOMES = ("error", "warning", "report", "findings", "build")


@dataclass
class Ctx:
    """What a factory builds for one run: files in ``work``, env, stdin, placeholders."""

    work: Path
    github: Any = None  # tests.fake_github.FakeGitHub for the github group
    env: dict[str, str] = field(default_factory=dict)
    stdin: Callable[[], Iterator[bytes]] | None = None
    vars: dict[str, str] = field(default_factory=dict)
    cleanups: list[Callable[[], None]] = field(default_factory=list)
    skip: str = ""  # a reason this machine cannot run the case


@dataclass(frozen=True)
class Case:
    id: str
    group: str
    input: str  # the bad input, in words
    argv: tuple[str, ...]  # after `pyo3-cache`; {work} and ctx.vars are filled in
    setup: Callable[[Ctx], None]
    outcome: str
    exit_code: int
    fragments: tuple[str, ...]  # each must be in the message (stderr line / report)
    writes: tuple[str, ...] = ()  # paths (globs, relative to work) the command may change
    fault: bool = False  # the environment fails, not the input
    parallel: int = 1  # run this many copies at once (concurrent writers)
    check: Callable[[Ctx, list[Any]], None] | None = None
    max_rss_mib: int | None = None
    timeout: float = 60.0
    finding: str = ""  # what this case found and got fixed in the product
    limit: str = ""  # what the product cannot do with this input, stated plainly


# --- factories: building blocks ---------------------------------------------------


def project(ctx: Ctx) -> None:
    """A copy of examples/hello-pyo3's project files (no target dir)."""
    for name in ("Cargo.toml", "Cargo.lock", "pyproject.toml"):
        shutil.copy(EXAMPLE / name, ctx.work / name)
    shutil.copytree(EXAMPLE / "src", ctx.work / "src")


def write(name: str, data: bytes | str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        path = ctx.work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)

    return setup


def copy_data(name: str, dest: str) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        shutil.copy(DATA / name, ctx.work / dest)

    return setup


def both(*steps: Callable[[Ctx], None]) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        for step in steps:
            step(ctx)

    return setup


def nothing(ctx: Ctx) -> None:
    return None


def deep_json(depth: int = 100_000) -> str:
    return "[" * depth + "]" * depth


def fixture_log() -> bytes:
    """The recorded `cargo build -v` log of a PYO3_PYTHON change (header line dropped)."""
    return PYO3_PYTHON_LOG.read_bytes().split(b"\n", 1)[1]


# --- logs ---------------------------------------------------------------------------


def log_binary(ctx: Ctx) -> None:
    (ctx.work / "build.log").write_bytes(bytes(range(256)) * 64)


def log_truncated(ctx: Ctx) -> None:
    data = fixture_log()
    cut = data.index(b"Running `", data.index(b"Dirty pyo3 ")) + 40  # mid-line
    (ctx.work / "build.log").write_bytes(data[:cut])


def log_non_utf8(ctx: Ctx) -> None:
    # Latin-1 and stray continuation bytes, as a log from a non-UTF-8 locale has.
    data = fixture_log().replace(b"<WORKSPACE>", b"/home/j\xf6rg/\x80\xfe")
    (ctx.work / "build.log").write_bytes(b"caf\xe9 \xff\xfe\n" + data)


def log_crlf(ctx: Ctx) -> None:
    (ctx.work / "build.log").write_bytes(fixture_log().replace(b"\n", b"\r\n"))


def log_ansi(ctx: Ctx) -> None:
    data = fixture_log()
    for word in (b"Fresh", b"Dirty", b"Compiling", b"Finished", b"Running"):
        data = data.replace(word, b"\x1b[1m\x1b[32m" + word + b"\x1b[0m")
    (ctx.work / "build.log").write_bytes(b"\x1b]0;title\x07" + data)


def log_timestamps(ctx: Ctx) -> None:
    lines = fixture_log().splitlines(keepends=True)
    stamped = [
        f"2026-11-26T10:00:{i % 60:02d}.{i:07d}Z ".encode() + line for i, line in enumerate(lines)
    ]
    (ctx.work / "build.log").write_bytes(b"".join(stamped))


def log_interleaved(ctx: Ctx) -> None:
    """Two cargo runs writing into one log at once, line by line."""
    first = fixture_log().splitlines(keepends=True)
    second = TOUCHED_LOG.read_bytes().split(b"\n", 1)[1].splitlines(keepends=True)
    mixed: list[bytes] = []
    for i in range(max(len(first), len(second))):
        mixed += first[i : i + 1] + second[i : i + 1]
    (ctx.work / "build.log").write_bytes(b"".join(mixed))


def log_deep_json(ctx: Ctx) -> None:
    hostile = '{"reason":"compiler-artifact","package_id":"x 1.0.0","target":' + deep_json(50_000)
    (ctx.work / "build.log").write_bytes(hostile.encode() + b"}\n" + fixture_log())


def log_one_gib_line(ctx: Ctx) -> None:
    """Streamed through stdin, never stored: cargo lines, one 1 GiB line, cargo lines."""
    data = fixture_log()
    head, tail = data[: data.index(b"       Dirty")], data[data.index(b"       Dirty") :]

    def stream() -> Iterator[bytes]:
        yield head
        block = b"x" * (1 << 20)
        for _ in range(GIB // len(block)):
            yield block
        yield b"\n" + tail

    ctx.stdin = stream


# --- project files ------------------------------------------------------------------


def huge_lock(packages: int) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        project(ctx)
        parts = ["# bad input: a huge Cargo.lock\nversion = 4\n"]
        parts += [
            f'\n[[package]]\nname = "crate{i}"\nversion = "1.0.{i}"\n'
            'source = "registry+https://github.com/rust-lang/crates.io-index"\n'
            f'checksum = "{i:064x}"\n'
            for i in range(packages)
        ]
        (ctx.work / "Cargo.lock").write_text("".join(parts))

    return setup


def huge_cargo_toml(ctx: Ctx) -> None:
    project(ctx)
    text = (EXAMPLE / "Cargo.toml").read_text()
    deps = "".join(f'dep{i} = "1.0.{i}"\n' for i in range(20_000))
    filler = "# " + "x" * 1000 + "\n"
    (ctx.work / "Cargo.toml").write_text(text + deps + filler * 5000)


def huge_pyproject(ctx: Ctx) -> None:
    project(ctx)
    text = (EXAMPLE / "pyproject.toml").read_text()
    extra = "".join(f'key{i} = "{"v" * 200}"\n' for i in range(20_000))
    (ctx.work / "pyproject.toml").write_text(text + "\n[tool.bulk]\n" + extra)


def replace_in(name: str, data: bytes | str) -> Callable[[Ctx], None]:
    return both(project, write(name, data))


def cargo_toml_is_a_directory(ctx: Ctx) -> None:
    project(ctx)
    (ctx.work / "Cargo.toml").unlink()
    (ctx.work / "Cargo.toml").mkdir()


def no_cargo_lock(ctx: Ctx) -> None:
    project(ctx)
    (ctx.work / "Cargo.lock").unlink()


def no_cargo_toml(ctx: Ctx) -> None:
    project(ctx)
    (ctx.work / "Cargo.toml").unlink()


# --- interpreters ---------------------------------------------------------------------


def script(name: str, body: str, mode: int = 0o755) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        project(ctx)
        path = ctx.work / name
        path.write_text(body.replace("{python}", sys.executable))
        path.chmod(mode)

    return setup


OLD_PYTHON = r"""#!/bin/sh
# A Python 3.6 as far as pyo3-cache can tell: the real probe answer, version rewritten.
"{python}" "$@" | sed -e 's/"version_info": \[3, [0-9]*,/"version_info": [3, 6,/'
"""


def garbage_probe(ctx: Ctx) -> None:
    script("python3", f"#!/bin/sh\necho 'PYO3CACHE-PROBE {deep_json(50_000)}'\n")(ctx)


# --- key manifests ----------------------------------------------------------------------


def manifest(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "manifest_version": MANIFEST_VERSION,
        "tool": "pyo3-cache 0.1.0",
        "kind": "rust",
        "key": KEY,
        "restore_keys": ["v1-pyo3-linux-x86_64-"],
        "parts": {"lock": {"hash": "aaaa", "inputs": {"serde": "1.0.210"}}},
    }
    data.update(changes)
    return data


def manifests(new: Any) -> Callable[[Ctx], None]:
    """old.json (a good manifest) and new.json (``new``: a dict, or raw text/bytes)."""

    def setup(ctx: Ctx) -> None:
        (ctx.work / "old.json").write_text(json.dumps(manifest()))
        if isinstance(new, (str, bytes)):
            write("new.json", new)(ctx)
        else:
            (ctx.work / "new.json").write_text(json.dumps(new))

    return setup


# --- bytecode ---------------------------------------------------------------------------


def pyc_tree(header: bytes) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        pkg = ctx.work / "site" / "pkg"
        (pkg / "__pycache__").mkdir(parents=True)
        (pkg / "mod.py").write_text("X = 1\n")
        (pkg / "__pycache__" / "mod.cpython-311.pyc").write_bytes(header)

    return setup


# --- cache entries and archives ------------------------------------------------------------


def _tar(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return raw.getvalue()


def store_project(ctx: Ctx) -> None:
    """A project, CARGO_HOME inside the case, and the store path as {store}."""
    project(ctx)
    ctx.env["CARGO_HOME"] = str(ctx.work / "cargo-home")
    ctx.vars["store"] = f"dir:{ctx.work / 'store'}"


def entry(
    archive: Callable[[Ctx], bytes],
    *,
    record: Callable[[bytes], bytes] | None = None,
) -> Callable[[Ctx], None]:
    """A dir: store holding one entry for KEY with the given archive bytes."""

    def setup(ctx: Ctx) -> None:
        import hashlib

        store_project(ctx)
        folder = ctx.work / "store" / "entries" / encode_key(STORED_KEY)
        folder.mkdir(parents=True)
        (ctx.work / "store" / "tmp").mkdir()
        data = archive(ctx)
        (folder / ARCHIVE_NAME).write_bytes(data)
        rec = new_entry_record(
            STORED_KEY, hashlib.sha256(data).hexdigest(), len(data), 0, ["target"]
        )
        text = (json.dumps(rec) + "\n").encode()
        (folder / ENTRY_NAME).write_bytes(record(text) if record else text)
        (folder / "last-used").touch()

    return setup


def zst(members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Callable[[Ctx], bytes]:
    return lambda ctx: zstandard.ZstdCompressor().compress(_tar(members))


def absolute_member(ctx: Ctx) -> bytes:
    # Aimed next to the case's folder, where the tree snapshot would see it land.
    target = str(ctx.work.parent / "evil-absolute")
    return zst([_member("target/ok"), _member(target)])(ctx)


def truncated_archive(ctx: Ctx) -> bytes:
    payload = os.urandom(300_000)
    whole = zstandard.ZstdCompressor().compress(_tar([_member("target/data", payload)]))
    return whole[: len(whole) // 2]


class _Zeros(io.RawIOBase):
    def __init__(self, size: int) -> None:
        self.left = size

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self.left)
        buffer[:n] = bytes(n)
        self.left -= n
        return n


def bomb_archive(ctx: Ctx) -> bytes:
    """80 MiB of zeros in a few KiB: over the 100x ratio past the 64 MiB grace."""
    size = 80 << 20
    info = tarfile.TarInfo("target/zeros")
    info.size = size
    out = io.BytesIO()
    writer = zstandard.ZstdCompressor(level=3).stream_writer(out, closefd=False)
    with tarfile.open(fileobj=writer, mode="w|") as tar:
        tar.addfile(info, _Zeros(size))
    writer.close()
    return out.getvalue()


def with_target_data(ctx: Ctx) -> None:
    """Something to save: 3 MiB of incompressible data in the target dir."""
    deps = ctx.work / "target" / "release" / "deps"
    deps.mkdir(parents=True)
    cargo_target_dir(ctx.work / "target")
    (deps / "libbig-0123456789abcdef.rlib").write_bytes(os.urandom(3 << 20))


def _mount_tmpfs(ctx: Ctx, where: Path, options: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    where.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(where)], capture_output=True
    )
    if done.returncode != 0:
        return False
    ctx.cleanups.append(lambda: subprocess.run(["umount", "-l", str(where)], check=False))
    return True


def full_store(ctx: Ctx) -> None:
    store_project(ctx)
    with_target_data(ctx)
    if not _mount_tmpfs(ctx, ctx.work / "store", "size=1m"):
        ctx.skip = "a full disk needs root to mount a 1 MiB tmpfs"


def read_only_store(ctx: Ctx) -> None:
    store_project(ctx)
    with_target_data(ctx)
    store = ctx.work / "store"
    if _mount_tmpfs(ctx, store, "ro,size=1m"):
        return
    if os.geteuid() == 0:
        ctx.skip = "root writes through permission bits and could not mount a read-only tmpfs"
        return
    store.mkdir()
    store.chmod(0o555)
    ctx.cleanups.append(lambda: store.chmod(0o755))


def store_is_a_file(ctx: Ctx) -> None:
    store_project(ctx)
    with_target_data(ctx)
    (ctx.work / "store").write_text("not a folder\n")


def concurrent_savers(ctx: Ctx) -> None:
    store_project(ctx)
    with_target_data(ctx)


def check_one_entry(ctx: Ctx, results: list[Any]) -> None:
    entries = sorted(p.name for p in (ctx.work / "store" / "entries").iterdir())
    assert entries == [encode_key(STORED_KEY)], entries
    saved = [r for r in results if r.stdout.startswith("saved ")]
    assert len(saved) == 1, [r.stdout for r in results]
    assert not list((ctx.work / "store" / "tmp").iterdir()), "a loser left its staging copy"


def closed_port() -> int:
    """A 127.0.0.1 port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def unreachable_s3(ctx: Ctx) -> None:
    project(ctx)
    with_target_data(ctx)
    ctx.env.update(
        CARGO_HOME=str(ctx.work / "cargo-home"),
        AWS_ACCESS_KEY_ID="pyo3cache-test",  # fake: boto3 needs some before it connects
        AWS_SECRET_ACCESS_KEY="pyo3cache-test",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true",
        NO_PROXY="127.0.0.1",
    )
    ctx.vars["endpoint"] = f"http://127.0.0.1:{closed_port()}"


# --- GitHub -----------------------------------------------------------------------------

REPOSITORY = "octo/hello"
PR = 7
COMMENTS = r"/repos/octo/hello/issues/7/comments|/repositories/\d+/issues/7/comments"


def github_env(
    *,
    read_only: bool = False,
    event: str | None = '{"pull_request": {"number": 7}}',
    token: str | None = None,
    api_url: str | None = None,
    fault: tuple[Any, ...] | None = None,
    summary: bool = True,
) -> Callable[[Ctx], None]:
    """A pull_request job's GITHUB_* variables against the fake GitHub; ``fault`` queued."""

    def setup(ctx: Ctx) -> None:
        fake = ctx.github
        fake.add_pull(REPOSITORY, PR)
        (ctx.work / "report.md").write_text("## 3 crates rebuilt because PYO3_PYTHON changed\n")
        if event is not None:
            (ctx.work / "event.json").write_text(event)
        chosen = token or (fake.read_only_token if read_only else fake.token)
        ctx.env.update(
            GITHUB_TOKEN=chosen,
            GITHUB_REPOSITORY=REPOSITORY,
            GITHUB_API_URL=api_url or fake.api_url,
            GITHUB_EVENT_NAME="pull_request",
            GITHUB_EVENT_PATH=str(ctx.work / "event.json"),
            GITHUB_WORKFLOW="CI",
            GITHUB_JOB="build",
            NO_PROXY="127.0.0.1,localhost",
        )
        if summary:
            ctx.env["GITHUB_STEP_SUMMARY"] = str(ctx.work / "summary.md")
        if fault is not None:
            fake.fail(*fault)

    return setup


def check_summary_has_report(ctx: Ctx, results: list[Any]) -> None:
    assert "3 crates rebuilt" in (ctx.work / "summary.md").read_text(encoding="utf-8")
    assert not ctx.github.comments(REPOSITORY, PR), "a read-only token posted a comment"


def check_one_comment(ctx: Ctx, results: list[Any]) -> None:
    bodies = [c["body"] for c in ctx.github.comments(REPOSITORY, PR)]
    assert len(bodies) == 1 and "3 crates rebuilt" in bodies[0], bodies


RATE_LIMITED = {"message": "API rate limit exceeded for installation ID 1."}


# --- the catalogue ------------------------------------------------------------------------

EXPLAIN = ("explain", "build.log")


def _log_case(cid: str, text: str, setup: Callable[[Ctx], None], *frags: str, **kw: Any) -> Case:
    return Case(cid, "logs", text, EXPLAIN, setup, "report", 0, frags, **kw)


CASES: list[Case] = [
    # logs -------------------------------------------------------------------------------
    _log_case("log-empty", "an empty log", write("build.log", b""), "is empty"),
    _log_case("log-binary", "a binary file given as a log", log_binary, "looks like a binary"),
    _log_case(
        "log-truncated",
        "a log cut off in the middle of a line",
        log_truncated,
        "rebuilt because PYO3_PYTHON changed",
    ),
    _log_case(
        "log-non-utf8",
        "a log with Latin-1 and invalid UTF-8 bytes",
        log_non_utf8,
        PYO3_PYTHON_HEADLINE,
    ),
    Case(
        "log-1gib-line",
        "logs",
        "a 1 GiB line between cargo's lines, streamed on stdin",
        ("explain", "-"),
        log_one_gib_line,
        "report",
        0,
        (PYO3_PYTHON_HEADLINE,),
        max_rss_mib=300,
        timeout=120,
    ),
    _log_case("log-crlf", "a log with CRLF line ends", log_crlf, PYO3_PYTHON_HEADLINE),
    _log_case("log-ansi", "a log full of ANSI colour codes", log_ansi, PYO3_PYTHON_HEADLINE),
    _log_case(
        "log-timestamps",
        "a log with GitHub's timestamp prefix on every line",
        log_timestamps,
        PYO3_PYTHON_HEADLINE,
        "from log timestamps",
    ),
    _log_case(
        "log-interleaved",
        "two cargo runs interleaved line by line in one log",
        log_interleaved,
        "because `src/lib.rs` changed",
        "because PYO3_PYTHON changed",
        limit="cargo's human output carries no process id, so two runs interleaved line by "
        "line cannot be told apart: both root causes are named, but the number of "
        "invocations and which crates each cause dragged along are approximate; runs one "
        "after another in one log are told apart",
    ),
    _log_case(
        "log-no-cargo",
        "a log of other tools only",
        copy_data("other-tools.log", "build.log"),
        "No cargo output found",
    ),
    _log_case(
        "log-deep-json",
        "a JSON message nested 50,000 levels deep",
        log_deep_json,
        PYO3_PYTHON_HEADLINE,
        finding="explain stopped with an internal error (RecursionError) on a deeply "
        "nested JSON line; such a line is now skipped like any unreadable message",
    ),
    Case(
        "log-missing",
        "logs",
        "a log path that does not exist",
        EXPLAIN,
        nothing,
        "error",
        8,
        ("does not exist",),
    ),
    Case(
        "log-directory",
        "logs",
        "a directory given as a log",
        EXPLAIN,
        lambda ctx: (ctx.work / "build.log").mkdir(),
        "error",
        8,
        ("is a directory",),
    ),
    Case(
        "log-output-unwritable",
        "logs",
        "--output under a file instead of a folder",
        ("explain", "build.log", "--output", "build.log/report.md"),
        write("build.log", fixture_log()),
        "error",
        4,
        ("cannot write build.log/report.md",),
    ),
    Case(
        "run-hostile-log",
        "logs",
        "a failing build whose output holds a hostile JSON line",
        ("run", "--no-wrapper", "--log", "run.log", "--", "sh", "-c", "cat build.log; exit 3"),
        log_deep_json,
        "build",
        3,
        (),
        writes=("run.log",),
        finding="`pyo3-cache run` returned 70 instead of the build's exit code when "
        "explaining the log failed; the build's code now always wins",
    ),
    Case(
        "run-missing-command",
        "logs",
        "a build command that does not exist",
        ("run", "--no-wrapper", "--log", "run.log", "--", "{work}/no-such-build"),
        nothing,
        "error",
        13,
        ("no-such-build",),
        writes=("run.log",),
    ),
    # project files ----------------------------------------------------------------------
    Case(
        "lock-malformed",
        "project files",
        "a Cargo.lock that is not TOML",
        ("key",),
        replace_in("Cargo.lock", "version = 4\n[[package]\nname = \n"),
        "error",
        5,
        ("Cargo.lock", "is not valid TOML"),
    ),
    Case(
        "lock-missing",
        "project files",
        "no Cargo.lock",
        ("key",),
        no_cargo_lock,
        "error",
        5,
        ("Cargo.lock not found",),
    ),
    Case(
        "lock-huge",
        "project files",
        "a 20 MB Cargo.lock with 100,000 packages",
        ("key",),
        huge_lock(100_000),
        "report",
        0,
        ("100000 locked crates",),
        # A hang guard, not a benchmark: linear takes ~4 s here, quadratic took 90 s.
        timeout=45,
        finding="`key` was quadratic in the number of locked packages (a list membership "
        "test): 100,000 packages took 90 s, now 4 s",
    ),
    Case(
        "lock-duplicate-keys",
        "project files",
        "a Cargo.lock package with `version` twice",
        ("key",),
        both(project, copy_data("cargo-lock-duplicate-keys.lock", "Cargo.lock")),
        "error",
        5,
        ("Cargo.lock", "is not valid TOML"),
    ),
    Case(
        "lock-no-name",
        "project files",
        "a Cargo.lock package without a name",
        ("key",),
        replace_in("Cargo.lock", 'version = 4\n[[package]]\nversion = "1.0.0"\n'),
        "error",
        5,
        ("has no name",),
    ),
    Case(
        "lock-deep-nesting",
        "project files",
        "a Cargo.lock with arrays nested 5,000 deep",
        ("key",),
        replace_in("Cargo.lock", "x = " + "[" * 5000 + "]" * 5000 + "\n"),
        "error",
        5,
        ("Cargo.lock", "nested too deeply"),
        finding="a deeply nested Cargo.lock, Cargo.toml or pyproject.toml made tomllib "
        "recurse until an internal error; it is now a project error",
    ),
    Case(
        "lock-not-utf8",
        "project files",
        "a Cargo.lock in UTF-16",
        ("key",),
        replace_in("Cargo.lock", "version = 4\n".encode("utf-16")),
        "error",
        5,
        ("is not UTF-8",),
    ),
    Case(
        "cargo-toml-malformed",
        "project files",
        "a Cargo.toml that is not TOML",
        ("key",),
        both(project, copy_data("cargo-toml-malformed.toml", "Cargo.toml")),
        "error",
        5,
        ("Cargo.toml", "is not valid TOML"),
    ),
    Case(
        "cargo-toml-missing",
        "project files",
        "no Cargo.toml here or above",
        ("key",),
        no_cargo_toml,
        "error",
        5,
        ("no Cargo.toml",),
    ),
    Case(
        "cargo-toml-duplicate-keys",
        "project files",
        "a Cargo.toml with `name` twice",
        ("key",),
        replace_in("Cargo.toml", '[package]\nname = "a"\nname = "b"\nversion = "0.1.0"\n'),
        "error",
        5,
        ("Cargo.toml", "is not valid TOML"),
    ),
    Case(
        "cargo-toml-directory",
        "project files",
        "--manifest-path naming a folder without Cargo.toml",
        ("key", "--manifest-path", "{work}/src"),
        project,
        "error",
        5,
        ("Cargo.toml not found",),
    ),
    Case(
        "cargo-toml-huge",
        "project files",
        "a 5 MB Cargo.toml with 20,000 dependencies",
        ("key",),
        huge_cargo_toml,
        "report",
        0,
        ("key: v1-pyo3-",),
    ),
    Case(
        "pyproject-malformed",
        "project files",
        "a pyproject.toml that is not TOML",
        ("key",),
        replace_in("pyproject.toml", "[build-system\nrequires = [\n"),
        "error",
        5,
        ("pyproject.toml", "is not valid TOML"),
    ),
    Case(
        "pyproject-duplicate-keys",
        "project files",
        "a pyproject.toml with [project] twice",
        ("key",),
        both(project, copy_data("pyproject-duplicate-keys.toml", "pyproject.toml")),
        "error",
        5,
        ("pyproject.toml", "is not valid TOML"),
    ),
    Case(
        "pyproject-deep-nesting",
        "project files",
        "a pyproject.toml with inline tables nested 3,000 deep",
        ("key",),
        replace_in("pyproject.toml", "x = " + "{a = " * 3000 + "1" + "}" * 3000 + "\n"),
        "error",
        5,
        ("pyproject.toml", "nested too deeply"),
    ),
    Case(
        "pyproject-huge",
        "project files",
        "a 4 MB pyproject.toml",
        ("key",),
        huge_pyproject,
        "report",
        0,
        ("key: v1-pyo3-",),
    ),
    # interpreters -----------------------------------------------------------------------
    Case(
        "python-missing",
        "interpreters",
        "--python naming a file that does not exist",
        ("pin", "--python", "{work}/no/python3"),
        project,
        "error",
        3,
        ("no Python interpreter at",),
    ),
    Case(
        "python-not-on-path",
        "interpreters",
        "--python naming a command not on PATH",
        ("pin", "--python", "python3.0-nowhere"),
        project,
        "error",
        3,
        ("not found on PATH",),
    ),
    Case(
        "python-not-python",
        "interpreters",
        "--python naming a shell script that prints hello",
        ("pin", "--python", "{work}/python3"),
        script("python3", "#!/bin/sh\necho hello\n"),
        "error",
        3,
        ("is not a working Python interpreter",),
    ),
    Case(
        "python-not-executable",
        "interpreters",
        "--python naming a file without the execute bit",
        ("pin", "--python", "{work}/python3"),
        script("python3", "#!/bin/sh\nexit 0\n", mode=0o644),
        "error",
        3,
        ("is not executable",),
    ),
    Case(
        "python-crashing",
        "interpreters",
        "an interpreter that dies of SIGSEGV",
        ("pin", "--python", "{work}/python3"),
        script("python3", "#!/bin/sh\nkill -SEGV $$\n"),
        "error",
        3,
        ("killed by signal 11",),
    ),
    Case(
        "python-failing",
        "interpreters",
        "an interpreter that exits 1 with an error message",
        ("pin", "--python", "{work}/python3"),
        script("python3", "#!/bin/sh\necho 'Fatal Python error: init_fs_encoding' >&2\nexit 1\n"),
        "error",
        3,
        ("Fatal Python error: init_fs_encoding",),
    ),
    Case(
        "python-too-old",
        "interpreters",
        "a Python 3.6",
        ("pin", "--python", "{work}/python3"),
        script("python3", OLD_PYTHON),
        "error",
        3,
        ("is Python 3.6", "PyO3 needs Python 3.7 or newer"),
    ),
    Case(
        "python-directory",
        "interpreters",
        "--python naming a directory",
        ("pin", "--python", "{work}/src"),
        project,
        "error",
        3,
        ("is a directory",),
    ),
    Case(
        "python-garbage-answer",
        "interpreters",
        "an interpreter answering the probe with JSON nested 50,000 deep",
        ("pin", "--python", "{work}/python3"),
        garbage_probe,
        "error",
        3,
        ("gave an answer pyo3-cache cannot read",),
        finding="a probe answer nested too deeply was an internal error; it is now an "
        "interpreter error",
    ),
    Case(
        "key-python-crashing",
        "interpreters",
        "`key --python` naming a crashing interpreter",
        ("key", "--python", "{work}/python3"),
        script("python3", "#!/bin/sh\nkill -SEGV $$\n"),
        "error",
        3,
        ("killed by signal 11",),
    ),
    # key manifests ------------------------------------------------------------------------
    Case(
        "manifest-wrong-version",
        "key manifests",
        "a manifest of format version 99",
        ("key-diff", "old.json", "new.json"),
        manifests(manifest(manifest_version=99, tool="pyo3-cache 9.0.0")),
        "error",
        7,
        ("manifest format version 99", "pyo3-cache 9.0.0"),
    ),
    Case(
        "manifest-wrong-type",
        "key manifests",
        "a JSON list instead of a manifest",
        ("key-diff", "old.json", "new.json"),
        manifests([1, 2, 3]),
        "error",
        7,
        ("is not a pyo3-cache key manifest",),
    ),
    Case(
        "manifest-key-not-text",
        "key manifests",
        "a manifest whose key is a number",
        ("key-diff", "old.json", "new.json"),
        manifests(manifest(key=5)),
        "error",
        7,
        ("has no key",),
    ),
    Case(
        "manifest-input-object",
        "key manifests",
        "a manifest input that is an object",
        ("key-diff", "old.json", "new.json"),
        manifests(manifest(parts={"lock": {"hash": "a", "inputs": {"serde": {"v": 1}}}})),
        "error",
        7,
        ("is not text or a list of text",),
    ),
    Case(
        "manifest-other-kind",
        "key manifests",
        "a venv manifest compared with a rust one",
        ("key-diff", "old.json", "new.json"),
        manifests(manifest(kind="venv")),
        "error",
        7,
        ("cannot compare a 'rust' key manifest with a 'venv' one",),
    ),
    Case(
        "manifest-deep-nesting",
        "key manifests",
        "a manifest nested 100,000 levels deep",
        ("key-diff", "old.json", "new.json"),
        manifests(deep_json()),
        "error",
        7,
        ("nested too deeply",),
        finding="key-diff (and restore's entry.json, save --manifest, the event file, "
        "GitHub's answers, --matrix) stopped with an internal error on deeply nested JSON",
    ),
    Case(
        "manifest-not-utf8",
        "key manifests",
        "a manifest that is not UTF-8",
        ("key-diff", "old.json", "new.json"),
        manifests(b"\xff\xfe{}"),
        "error",
        7,
        ("is not UTF-8",),
    ),
    Case(
        "manifest-missing",
        "key manifests",
        "a manifest path that does not exist",
        ("key-diff", "old.json", "missing.json"),
        manifests(manifest()),
        "error",
        7,
        ("not found",),
    ),
    Case(
        "save-manifest-deep",
        "key manifests",
        "`save --manifest` given JSON nested 100,000 deep",
        ("save", "--store", "{store}", "--key", KEY, "--manifest", "new.json"),
        both(store_project, manifests(deep_json())),
        "error",
        7,
        ("is not JSON",),
    ),
    # bytecode ----------------------------------------------------------------------------
    Case(
        "pyc-short",
        "bytecode",
        "a 5-byte .pyc",
        ("audit-bytecode", "site"),
        pyc_tree(b"\xa7\r\r\n\x00"),
        "findings",
        1,
        ("truncated",),
    ),
    Case(
        "pyc-unknown-magic",
        "bytecode",
        "a .pyc with a magic number no Python wrote",
        ("audit-bytecode", "site"),
        pyc_tree((9999).to_bytes(2, "little") + b"\r\n" + bytes(12) + b"\xe3"),
        "findings",
        1,
        ("unknown-magic",),
    ),
    Case(
        "wheel-corrupt",
        "bytecode",
        "a .whl that is not a zip",
        ("audit-bytecode", "pkg-1.0-cp311-cp311-linux_x86_64.whl"),
        write("pkg-1.0-cp311-cp311-linux_x86_64.whl", b"PK\x03\x04 not really a zip"),
        "findings",
        1,
        ("unreadable",),
    ),
    Case(
        "bytecode-missing-path",
        "bytecode",
        "an artifact path that does not exist",
        ("audit-bytecode", "dist/missing.whl"),
        nothing,
        "error",
        12,
        ("does not exist",),
    ),
    Case(
        "bytecode-not-an-artifact",
        "bytecode",
        "a text file given as an artifact",
        ("audit-bytecode", "notes.txt"),
        write("notes.txt", "hello\n"),
        "error",
        12,
        ("is not a wheel",),
    ),
]


# `save` keeps the workspace files' mtimes beside the target dir it caches (mtimes.py).
SAVE_WRITES = ("target/pyo3-cache/**",)

RESTORE = (
    "restore",
    "--store",
    "{store}",
    "--key",
    KEY,
    "--manifest-out",
    "{work}/store-manifest.json",
)


def _archive_case(cid: str, text: str, setup: Callable[[Ctx], None], frag: str, **kw: Any) -> Case:
    return Case(
        cid,
        "archives",
        text,
        RESTORE,
        setup,
        "warning",
        0,
        (frag, "cache miss"),
        writes=("store/**",),
        **kw,
    )


CASES += [
    _archive_case(
        "archive-corrupt",
        "an archive of random bytes (sha256 matching)",
        entry(lambda ctx: os.urandom(4096)),
        "is not a .tar.zst archive",
    ),
    _archive_case(
        "archive-truncated",
        "an archive cut in half",
        entry(truncated_archive),
        "corrupt or truncated",
    ),
    _archive_case(
        "archive-traversal",
        "a member named target/../../evil",
        entry(zst([_member("target/ok"), _member("target/../../evil")])),
        "climbs out with '..'",
    ),
    _archive_case(
        "archive-absolute",
        "a member with an absolute path",
        entry(absolute_member),
        "absolute path",
    ),
    _archive_case(
        "archive-symlink-out",
        "a symlink leaving the target dir, then a file through it",
        entry(
            zst(
                [
                    _special("target/up", tarfile.SYMTYPE, "../.."),
                    _member("target/up/evil"),
                ]
            )
        ),
        "symlink pointing outside",
    ),
    _archive_case(
        "archive-hardlink-out",
        "a hard link to /etc/passwd",
        entry(zst([_special("target/passwd", tarfile.LNKTYPE, "/etc/passwd")])),
        "absolute path",
    ),
    _archive_case(
        "archive-device",
        "a character device member",
        entry(zst([_special("target/null", tarfile.CHRTYPE)])),
        "device, fifo or special file",
    ),
    _archive_case(
        "archive-bomb",
        "80 MiB of zeros packed into a few KiB",
        entry(bomb_archive),
        "decompression bomb",
    ),
    _archive_case(
        "entry-sha-mismatch",
        "an archive whose sha256 is not the recorded one",
        entry(
            zst([_member("target/ok")]),
            record=lambda text: text.replace(b'"sha256": "', b'"sha256": "00'),
        ),
        "does not match",
    ),
    _archive_case(
        "entry-record-garbage",
        "an entry.json that is not JSON",
        entry(zst([_member("target/ok")]), record=lambda text: b"{not json"),
        "unreadable entry.json",
    ),
    _archive_case(
        "entry-record-deep",
        "an entry.json nested 100,000 deep",
        entry(zst([_member("target/ok")]), record=lambda text: deep_json().encode()),
        "unreadable entry.json",
        finding="a deeply nested entry.json made restore stop with an internal error "
        "(exit 70) instead of a warning and a miss",
    ),
    # stores --------------------------------------------------------------------------------
    Case(
        "s3-unreachable-save",
        "stores",
        "an S3 endpoint on a closed 127.0.0.1 port (save)",
        ("save", "--store", "s3://bucket/cache", "--key", KEY, "--endpoint-url", "{endpoint}"),
        unreachable_s3,
        "warning",
        0,
        ("cache not saved", "Could not connect"),
        writes=SAVE_WRITES,
        fault=True,
    ),
    Case(
        "s3-unreachable-restore",
        "stores",
        "an S3 endpoint on a closed 127.0.0.1 port (restore)",
        ("restore", "--store", "s3://bucket/cache", "--key", KEY, "--endpoint-url", "{endpoint}"),
        unreachable_s3,
        "warning",
        0,
        ("cache not restored", "Could not connect", "cache miss"),
        fault=True,
    ),
    Case(
        "store-full",
        "stores",
        "a store on a full disk (1 MiB tmpfs, 3 MiB to save)",
        ("save", "--store", "{store}", "--key", KEY),
        full_store,
        "warning",
        0,
        ("cache not saved", "No space left on device"),
        writes=("store/**", *SAVE_WRITES),
        fault=True,
    ),
    Case(
        "store-read-only",
        "stores",
        "a store on a read-only file system",
        ("save", "--store", "{store}", "--key", KEY),
        read_only_store,
        "warning",
        0,
        ("cache not saved",),
        writes=SAVE_WRITES,
        fault=True,
    ),
    Case(
        "store-is-a-file",
        "stores",
        "a dir: store path that is a file",
        ("save", "--store", "{store}", "--key", KEY),
        store_is_a_file,
        "warning",
        0,
        ("is a file, not a folder",),
        writes=SAVE_WRITES,
        fault=True,
    ),
    Case(
        "store-concurrent-writers",
        "stores",
        "two jobs saving the same key at the same moment",
        ("save", "--store", "{store}", "--key", KEY),
        concurrent_savers,
        "report",
        0,
        ("saved",),
        writes=("store/**", *SAVE_WRITES),
        fault=True,
        parallel=2,
        check=check_one_entry,
    ),
    Case(
        "store-unknown-scheme",
        "stores",
        "a store spec with an unknown scheme",
        ("save", "--store", "ftp://cache.example/x", "--key", KEY),
        store_project,
        "error",
        9,
        ("unknown cache store 'ftp'",),
    ),
    Case(
        "store-key-with-comma",
        "stores",
        "a key with a comma (actions/cache refuses them)",
        ("save", "--store", "{store}", "--key", "a,b"),
        store_project,
        "error",
        9,
        ("contains a control character or a comma",),
    ),
    Case(
        "store-bad-size",
        "stores",
        "--max-size that is not a size",
        ("save", "--store", "{store}", "--key", KEY, "--max-size", "lots"),
        store_project,
        "error",
        9,
        ("cannot read size 'lots'",),
    ),
    # GitHub --------------------------------------------------------------------------------
    Case(
        "github-fork-403",
        "github",
        "a fork's read-only token (403 on every write)",
        ("comment", "--file", "report.md"),
        github_env(read_only=True),
        "warning",
        0,
        ("cannot comment on the pull request", "job summary"),
        writes=("summary.md",),
        fault=True,
        check=check_summary_has_report,
    ),
    Case(
        "github-404",
        "github",
        "GitHub answering 404 (no such pull request)",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 404, {"message": "Not Found"})),
        "error",
        11,
        ("404 Not Found",),
        fault=True,
    ),
    Case(
        "github-401",
        "github",
        "an expired token (401 Bad credentials)",
        ("comment", "--file", "report.md"),
        github_env(token="ghs_" + "E" * 36),
        "error",
        11,
        ("GitHub rejected the token",),
        fault=True,
    ),
    Case(
        "github-429-long",
        "github",
        "429 with Retry-After: 3600 (more than a step may wait)",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 429, RATE_LIMITED, {"Retry-After": "3600"}, 10)),
        "error",
        11,
        ("rate limit", "would pass"),
        fault=True,
    ),
    Case(
        "github-429-short",
        "github",
        "429 with Retry-After: 1, once",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 429, RATE_LIMITED, {"Retry-After": "1"})),
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        fault=True,
        check=check_one_comment,
    ),
    Case(
        "github-5xx",
        "github",
        "502 Bad Gateway twice, then answers",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 502, "<html>Bad Gateway</html>", {}, 2)),
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        fault=True,
        check=check_one_comment,
    ),
    Case(
        "github-malformed-json",
        "github",
        "a 200 answer that is not JSON",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 200, "{not json")),
        "error",
        11,
        ("malformed JSON",),
        fault=True,
    ),
    Case(
        "github-deep-json",
        "github",
        "a 200 answer nested 100,000 deep",
        ("comment", "--file", "report.md"),
        github_env(fault=("GET", COMMENTS, 200, deep_json())),
        "error",
        11,
        ("malformed JSON",),
        fault=True,
    ),
    Case(
        "github-event-missing",
        "github",
        "GITHUB_EVENT_PATH naming a missing file",
        ("comment", "--file", "report.md"),
        github_env(event=None),
        "error",
        11,
        ("cannot read the event file",),
    ),
    Case(
        "github-event-deep",
        "github",
        "an event file nested 100,000 deep",
        ("comment", "--file", "report.md"),
        github_env(event=deep_json()),
        "error",
        11,
        ("is not JSON",),
    ),
    Case(
        "github-matrix-deep",
        "github",
        "--matrix JSON nested 100,000 deep",
        ("comment", "--file", "report.md", "--matrix", "{matrix}"),
        both(github_env(), lambda ctx: ctx.vars.update(matrix=deep_json(50_000))),
        "report",
        0,
        ("created https://github.com/octo/hello/pull/7",),
        check=check_one_comment,
    ),
    Case(
        "github-plain-http",
        "github",
        "GITHUB_API_URL on plain http to another host",
        ("comment", "--file", "report.md"),
        github_env(api_url="http://api.github.example"),
        "error",
        11,
        ("plain http",),
    ),
    Case(
        "summary-unset",
        "github",
        "`summary` outside GitHub Actions (no GITHUB_STEP_SUMMARY)",
        ("summary", "--file", "report.md"),
        github_env(summary=False),
        "error",
        11,
        ("GITHUB_STEP_SUMMARY is not set",),
    ),
]


def _more_cases() -> list[Case]:
    """Cases kept in modules of their own (``attacks_*.py`` here, each a ``CASES`` list)."""
    import importlib
    import pkgutil

    found: list[Case] = []
    for info in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]), key=lambda i: i.name):
        if info.name.startswith("attacks_"):
            found += importlib.import_module(f"tests.bad_inputs.{info.name}").CASES
    return found


CASES += _more_cases()


def by_id(case_id: str) -> Case:
    return next(c for c in CASES if c.id == case_id)
