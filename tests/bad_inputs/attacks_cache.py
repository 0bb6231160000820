"""Attacks on the cache: hostile entries, a target dir that is the workspace, leftovers, scopes.

Each case ran against the code before the fix and failed there (the finding
says what happened); decoys outside the project are checked by inode,
content and mtime, beyond the catalogue's own tree snapshot.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pyo3_cache.cache import leftovers
from pyo3_cache.cache.store import (
    ARCHIVE_NAME,
    ENTRY_NAME,
    encode_key,
    new_entry_record,
    scoped_key,
)
from tests.bad_inputs.cases import (
    KEY,
    RESTORE,
    Case,
    Ctx,
    _member,
    _special,
    both,
    store_project,
    zst,
)
from tests.cache.cargo_dirs import cargo_target_dir
from tests.cache.test_archive import LINK_SWAP

DECOY = b"a file outside the project\n"


def write_entry(
    ctx: Ctx,
    members: list[tuple[tarfile.TarInfo, bytes | None]],
    *,
    paths: tuple[str, ...] = ("target",),
    key: str = KEY,
    scope: str = "default",
    created_ns: int | None = None,
) -> None:
    """A dir: store entry for ``key`` in ``scope`` (the CLI's scope outside a git checkout)."""
    stored = scoped_key(scope, key)
    folder = ctx.work / "store" / "entries" / encode_key(stored)
    folder.mkdir(parents=True)
    (ctx.work / "store" / "tmp").mkdir(exist_ok=True)
    data = zst(members)(ctx)
    (folder / ARCHIVE_NAME).write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    record = new_entry_record(stored, sha, len(data), 0, list(paths))
    (folder / ENTRY_NAME).write_text(json.dumps(record) + "\n")
    (folder / "last-used").touch()
    if created_ns is not None:
        for name in (ENTRY_NAME, "last-used"):
            os.utime(folder / name, ns=(created_ns, created_ns))


def scoped_entry(
    members: list[tuple[tarfile.TarInfo, bytes | None]], **kw: Any
) -> Callable[[Ctx], None]:
    def setup(ctx: Ctx) -> None:
        store_project(ctx)
        write_entry(ctx, members, **kw)

    return setup


def _above(ctx: Ctx, up: int) -> Path:
    return ctx.work.parents[up - 1]


def decoy(name: str, up: int = 1) -> Callable[[Ctx], None]:
    """A file ``up`` folders above the project, where the attack aims; its identity is kept."""

    def setup(ctx: Ctx) -> None:
        path = _above(ctx, up) / name
        path.write_bytes(DECOY)
        st = path.stat()
        ctx.vars[f"decoy:{name}"] = f"{st.st_ino}:{st.st_mtime_ns}:{st.st_nlink}"

    return setup


def check_decoy(name: str, up: int = 1) -> Callable[[Ctx, list[Any]], None]:
    def check(ctx: Ctx, results: list[Any]) -> None:
        path = _above(ctx, up) / name
        st = path.stat()
        assert path.read_bytes() == DECOY, "the decoy outside the project was written"
        assert f"{st.st_ino}:{st.st_mtime_ns}:{st.st_nlink}" == ctx.vars[f"decoy:{name}"], (
            "the decoy got another link (a restored file shares its inode) or a new mtime"
        )
        for folder, _dirs, files in os.walk(ctx.work):
            for file in files:
                assert os.lstat(Path(folder) / file).st_ino != st.st_ino, (folder, file)

    return check


def sources(ctx: Ctx) -> None:
    """A checkout with .git and a cargo home that holds a cargo binary."""
    git = ctx.work / ".git"
    git.mkdir(exist_ok=True)
    (git / "config").write_text("[core]\n")
    (ctx.work / "cargo-home" / "bin").mkdir(parents=True, exist_ok=True)
    (ctx.work / "cargo-home" / "bin" / "cargo").write_text("the real cargo\n")


def check_sources(ctx: Ctx, results: list[Any]) -> None:
    assert (ctx.work / ".git" / "config").read_text() == "[core]\n"
    assert "evil" not in (ctx.work / "src" / "lib.rs").read_text()
    assert not (ctx.work / ".cargo").exists()
    assert (ctx.work / "cargo-home" / "bin" / "cargo").read_text() == "the real cargo\n"


def target_is_workspace(ctx: Ctx) -> None:
    ctx.env["CARGO_TARGET_DIR"] = "."
    (ctx.work / "wheels").mkdir(exist_ok=True)
    (ctx.work / "wheels" / "README.md").write_text("the user's notes\n")


def _cli(ctx: Ctx, *args: str) -> None:
    env = {**os.environ, **ctx.env}
    for name in ("GITHUB_REF", "GITHUB_BASE_REF", "CARGO_TARGET_DIR"):
        env.pop(name, None)
    env.update({k: v for k, v in ctx.env.items() if k == "CARGO_TARGET_DIR"})
    done = subprocess.run(
        [sys.executable, "-m", "pyo3_cache", *args],
        cwd=ctx.work,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0 and done.stdout.startswith("saved "), done.stderr


def multi_path_saved(ctx: Ctx) -> None:
    """`save --path target --path gen`, then both folders removed (a fresh checkout)."""
    store_project(ctx)
    target = cargo_target_dir(ctx.work / "target")
    (target / "release").mkdir()
    (target / "release" / "lib.rlib").write_bytes(b"rlib")
    (ctx.work / "gen").mkdir()
    (ctx.work / "gen" / "bindings.py").write_text("# generated\n")
    _cli(
        ctx, "save", "--store", ctx.vars["store"], "--key", KEY, "--path", "target", "--path", "gen"
    )
    shutil.rmtree(target)
    shutil.rmtree(ctx.work / "gen")


def check_multi_path(ctx: Ctx, results: list[Any]) -> None:
    assert (ctx.work / "target" / "release" / "lib.rlib").read_bytes() == b"rlib"
    assert (ctx.work / "gen" / "bindings.py").read_text() == "# generated\n"
    assert not list(ctx.work.glob(".pyo3-cache-restore-*"))


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def killed_save(ctx: Ctx) -> None:
    """A save killed half-way left its 3 MiB temporary archive in the store's tmp/."""
    store_project(ctx)
    deps = cargo_target_dir(ctx.work / "target") / "release" / "deps"
    deps.mkdir(parents=True)
    (deps / "libsmall.rlib").write_bytes(b"small")
    tmp = ctx.work / "store" / "tmp"
    tmp.mkdir(parents=True)
    name = leftovers.prefix("save").replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    (tmp / f"{name}abcd.tar.zst").write_bytes(os.urandom(3 << 20))
    (ctx.work / "store" / "entries").mkdir()


def check_no_leftover(ctx: Ctx, results: list[Any]) -> None:
    left = sorted(p.name for p in (ctx.work / "store" / "tmp").iterdir())
    assert left == [], left


def killed_restore(ctx: Ctx) -> None:
    """A restore killed half-way left its download folder in the temp dir."""
    scoped_entry([_member("target/ok")])(ctx)
    tmp = ctx.work / "tmpdir"
    name = leftovers.prefix("pyo3-cache-restore").replace(f".{os.getpid()}.", f".{_dead_pid()}.")
    (tmp / f"{name}xyz").mkdir(parents=True)
    (tmp / f"{name}xyz" / ARCHIVE_NAME).write_bytes(os.urandom(1 << 20))
    ctx.env["TMPDIR"] = str(tmp)


def check_tmpdir_empty(ctx: Ctx, results: list[Any]) -> None:
    assert list((ctx.work / "tmpdir").iterdir()) == []


def pr_entry_newer(ctx: Ctx) -> None:
    """main saved v1-main; later a pull request build saved a newer v1-pr entry."""
    store_project(ctx)
    main, pr = 1_700_000_000 * 10**9, 1_800_000_000 * 10**9
    write_entry(
        ctx,
        [_member("target/from-main", b"main")],
        key="v1-main",
        scope="refs/heads/main",
        created_ns=main,
    )
    write_entry(
        ctx,
        [_member("target/from-pr", b"pr")],
        key="v1-pr",
        scope="refs/pull/7/merge",
        created_ns=pr,
    )


def check_main_restored(ctx: Ctx, results: list[Any]) -> None:
    assert (ctx.work / "target" / "from-main").read_bytes() == b"main"
    assert not (ctx.work / "target" / "from-pr").exists()


_RESTORE_TO = ("restore", "--store", "{store}", "--key", KEY)
_SKIPPED = "skipped cache entry"

CASES: list[Case] = [
    Case(
        "attack-link-swap",
        "archives",
        "links that change meaning later in the stream: folders d1/, d1/e/; link d1/a -> "
        "e/../..; file d1/a/x; link d1/e -> ..; hard link h -> d1/a/x",
        RESTORE,
        both(scoped_entry(LINK_SWAP), decoy("x")),
        "warning",
        0,
        (_SKIPPED, "lies behind the link", "cache miss"),
        writes=("store/**",),
        check=check_decoy("x"),
        finding="each member was checked against the links seen so far: target/h ended up "
        "sharing the inode of a file outside the project; now nothing may lie behind a link, "
        "links are checked against the final tree and made last",
    ),
    Case(
        "attack-link-swap-deep",
        "archives",
        "the link swap nested one level deeper, aiming a hard link at a file above the case folder",
        RESTORE,
        both(
            scoped_entry(
                [
                    _special("target/d1", tarfile.DIRTYPE),
                    _special("target/d1/d2", tarfile.DIRTYPE),
                    _special("target/d1/d2/e", tarfile.DIRTYPE),
                    _special("target/d1/d2/a", tarfile.SYMTYPE, "e/../../.."),
                    _member("target/d1/d2/a/x", b"through the link"),
                    _special("target/d1/d2/e", tarfile.SYMTYPE, "../.."),
                    _special("target/h", tarfile.LNKTYPE, "target/d1/d2/a/x"),
                ]
            ),
            decoy("x", up=2),
        ),
        "warning",
        0,
        (_SKIPPED, "cache miss"),
        writes=("store/**",),
        check=check_decoy("x", up=2),
        finding="resolving a link's target against the links seen so far let a later link "
        "turn it outward",
    ),
    Case(
        "attack-entry-writes-sources",
        "archives",
        "an entry listing paths [target] that holds workspace/src/lib.rs, "
        "workspace/.cargo/config.toml (a rustc-wrapper) and cargo-home/bin/cargo",
        RESTORE,
        both(
            scoped_entry(
                [
                    _member("target/ok"),
                    _member("workspace/src/lib.rs", b"// evil"),
                    _member("workspace/.cargo/config.toml", b'[build]\nrustc-wrapper = "x"\n'),
                    _member("cargo-home/bin/cargo", b"#!/bin/sh\necho evil\n"),
                ]
            ),
            sources,
        ),
        "warning",
        0,
        (_SKIPPED, "under no known root", "cache miss"),
        writes=("store/**",),
        check=check_sources,
        finding="a restore wrote anywhere in the workspace and CARGO_HOME: it overwrote the "
        "source, planted a rustc-wrapper and replaced cargo; now only the anchors the job "
        "restores and the entry lists",
    ),
    Case(
        "attack-entry-file-over-git",
        "archives",
        "an entry whose record lists [workspace] and holds a file workspace/.git",
        RESTORE,
        both(scoped_entry([_member("workspace/.git", b"gone")], paths=("workspace",)), sources),
        "warning",
        0,
        (_SKIPPED, "which this restore does not write", "cache miss"),
        writes=(),
        check=check_sources,
        finding="a folder in the way is removed, so a file member workspace/.git deleted .git",
    ),
    Case(
        "attack-target-dir-is-workspace-save",
        "stores",
        "`save` with CARGO_TARGET_DIR=. (the target dir is the checkout)",
        ("save", "--store", "{store}", "--key", KEY),
        both(store_project, sources, target_is_workspace),
        "warning",
        0,
        ("has no cargo CACHEDIR.TAG", "not saved"),
        writes=(),
        finding="save archived the sources and .git/config; now a target dir must carry "
        "cargo's CACHEDIR.TAG",
    ),
    Case(
        "attack-target-dir-is-workspace-restore",
        "archives",
        "`restore` with CARGO_TARGET_DIR=. and an entry holding an old target/src/lib.rs",
        RESTORE,
        both(
            scoped_entry([_member("target/src/lib.rs", b"// evil: an old source")]),
            sources,
            target_is_workspace,
        ),
        "warning",
        0,
        (_SKIPPED, "the workspace or holds it", "cache miss"),
        writes=(),
        check=check_sources,
        finding="a restore put an old src/lib.rs back (a silent stale build)",
    ),
    Case(
        "attack-prune-workspace",
        "stores",
        "`prune --target-dir .` in a checkout (no CACHEDIR.TAG) holding wheels/README.md",
        ("prune", "--target-dir", "."),
        both(store_project, target_is_workspace),
        "error",
        4,
        ("has no cargo CACHEDIR.TAG",),
        finding="prune deleted the user's wheels/README.md",
    ),
    Case(
        "attack-multi-path-fresh-checkout",
        "stores",
        "`save --path target --path gen`, both folders removed, `restore` with the same paths",
        (*_RESTORE_TO, "--path", "target", "--path", "gen"),
        multi_path_saved,
        "report",
        0,
        ("exact hit: restored",),
        writes=("target/**", "gen/**", "store/**"),
        check=check_multi_path,
        finding="one anchor's clean-up deleted the other's staging folder: 'cache not "
        "restored: No such file or directory', a miss forever",
    ),
    Case(
        "attack-killed-save-leftover",
        "stores",
        "a save killed half-way left store/tmp/save.*.tar.zst (3 MiB)",
        ("save", "--store", "{store}", "--key", KEY),
        killed_save,
        "report",
        0,
        ("saved ",),
        writes=("store/**", "target/pyo3-cache/**"),
        check=check_no_leftover,
        finding="the temporary archive stayed forever, outside --max-size",
    ),
    Case(
        "attack-killed-restore-leftover",
        "stores",
        "a restore killed half-way left a pyo3-cache-restore.* folder in the temp dir",
        RESTORE,
        killed_restore,
        "report",
        0,
        ("exact hit",),
        writes=("store/**", "target/**", "tmpdir/**", "store-manifest.json"),
        check=check_tmpdir_empty,
        finding="the folder stayed in the temp dir forever",
    ),
    Case(
        "attack-pr-scope-wins",
        "stores",
        "a newer entry saved by a pull request build, and a main-branch restore by restore key",
        (
            "restore",
            "--store",
            "{store}",
            "--key",
            "v1-none",
            "--restore-key",
            "v1-",
            "--scope",
            "refs/heads/main",
        ),
        pr_entry_newer,
        "report",
        0,
        ("partial hit: restored v1-main",),
        writes=("store/**", "target/**"),
        check=check_main_restored,
        finding="the newest prefix match won whoever saved it: a PR build's entry reached "
        "main; now entries are scoped by branch or ref as in actions/cache",
    ),
]
