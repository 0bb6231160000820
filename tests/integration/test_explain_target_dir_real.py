"""`explain --target-dir` on builds made by the installed cargo in this test run.

A tiny workspace (a bin, a path library with a build script and a feature;
no registry crates, so it builds offline in about a second) is built once,
then each scenario changes one input and builds again; the explanation from
the target dir must name the change, and `explain` without it must not
contradict what the log shows.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import run_build, tool_env
from tests.integration.tiny_workspace import warm_workspace, workspace

__all__ = ["warm_workspace", "workspace"]  # fixtures


def _explain(root: Path, args: list[str], env: dict[str, str], tmp: Path) -> dict[str, object]:
    build = run_build(["cargo", "build", "-v", "--offline", *args], root, tool_env(**env))
    assert build.returncode == 0, build.output[-2000:]
    log = tmp / "build.log"
    log.write_text(build.output)
    plain = run_cli("explain", "--format", "json", str(log))
    assert plain.returncode == 0, plain.stderr
    assert "cold-cache" not in {g["kind"] for g in json.loads(plain.stdout)["new"]} or not any(
        u["status"] == "fresh" for u in json.loads(plain.stdout)["units"]
    )
    result = run_cli("explain", "--format", "json", "--target-dir", str(root / "target"), str(log))
    assert result.returncode == 0, result.stderr
    data: dict[str, object] = json.loads(result.stdout)
    return data


@pytest.mark.parametrize(
    ("args", "env", "kind", "packages", "old", "new"),
    [
        (["--features", "util/extra"], {}, "features", ["util", "app"], "[]", '["extra"]'),
        (
            [],
            {"RUSTFLAGS": "--cfg=myflag"},
            "rustflags",
            ["util", "app"],
            "(none)",
            "+ --cfg=myflag",
        ),
        (
            ["--target", "x86_64-unknown-linux-gnu"],
            {},
            "target",
            ["util", "app"],
            "host",
            "x86_64-unknown-linux-gnu",
        ),
        ([], {"CARGO_PROFILE_DEV_OPT_LEVEL": "1"}, "profile", ["util", "app"], None, None),
    ],
)
def test_target_dir_names_what_made_new_units(
    workspace: Path,
    tmp_path: Path,
    args: list[str],
    env: dict[str, str],
    kind: str,
    packages: list[str],
    old: str | None,
    new: str | None,
) -> None:
    data = _explain(workspace, args, env, tmp_path)
    groups = data["new"]
    assert isinstance(groups, list)
    (group,) = groups
    assert group["kind"] == kind and group["evidence"] == "target-dir"
    assert sorted([*group["packages"], *group["cascade"]]) == sorted(packages)
    if kind == "profile":
        assert group["new_value"] == "opt-level 1, debuginfo 2, incremental on"
    else:
        assert (group["old_value"], group["new_value"]) == (old, new)
    if kind == "features":
        assert group["cascade"] == ["app"]


def test_watched_file_is_named_from_the_build_scripts_record(
    workspace: Path, tmp_path: Path
) -> None:
    (workspace / "util" / "data.txt").write_text("changed\n")
    data = _explain(workspace, [], {}, tmp_path)
    (cause,) = data["root_causes"]  # type: ignore[misc]
    assert cause["kind"] == "watched-file" and cause["package"] == "util"
    assert cause["cascade"] == ["app"]
    assert "build script watches" in str(data["headline"])
