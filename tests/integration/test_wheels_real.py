"""audit-wheels on the example's real wheel (the session's warm `uv build`) and re-tagged copies.

Each mislabelled wheel is the real wheel with its tags (or its module's name)
changed by tests/wheels/retag.py, the module's bytes as maturin wrote them:
what a pinned PYO3_CONFIG_FILE produces when it steers a build for another
interpreter.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli
from tests.integration.conftest import WarmExample, tool_env, uv_build
from tests.integration.test_wheel_cache_action import assert_gate, save_with_audit
from tests.wheels.retag import module_of, retag

pytestmark = pytest.mark.integration

OWN = f"{sys.version_info[0]}{sys.version_info[1]}"


@pytest.fixture(scope="session")
def example_wheel(warm_example_base: tuple[Path, Path]) -> Path:
    """The wheel the shared warm build made (no second build)."""
    warm, _ = warm_example_base
    (wheel,) = (warm.parent / "dist0").glob("*.whl")
    return wheel


def _audit(*paths: Path) -> tuple[int, dict]:  # type: ignore[type-arg]
    result = run_cli("audit-wheels", "--format", "json", *map(str, paths))
    assert result.stderr == "", result.stderr
    return result.returncode, json.loads(result.stdout)


def test_the_real_wheel_is_clean(example_wheel: Path) -> None:
    result = run_cli("audit-wheels", str(example_wheel.parent))
    assert result.returncode == 0, result.stdout
    assert result.stdout.strip() == (
        "1 extension module(s) in 1 wheel(s): 0 error(s), 0 warning(s)"
    )
    assert module_of(example_wheel).endswith(f".cpython-{OWN}-x86_64-linux-gnu.so")


def test_a_real_abi3_wheel_is_clean(warm_example: WarmExample) -> None:
    """The example built with pyo3's abi3-py39 feature: maturin names the module .abi3.so."""
    manifest = warm_example.path / "Cargo.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'features = ["extension-module"]', 'features = ["extension-module", "abi3-py39"]'
        )
    )
    build = uv_build(warm_example.path, tool_env(), warm_example.dist)
    assert build.returncode == 0, build.output[-3000:]
    (wheel,) = warm_example.dist.glob("*.whl")
    assert "-cp39-abi3-" in wheel.name and module_of(wheel).endswith("/_hello_pyo3.abi3.so")
    code, report = _audit(wheel)
    assert (code, report["findings"], report["checked"]) == (0, [], 1)
    # The same module in a version-specific wheel is fine too (CPython loads .abi3.so).
    same = retag(wheel, warm_example.dist / "v", tags=f"cp{OWN}-cp{OWN}-{_platform(wheel)}")
    code, again = _audit(same)
    assert (code, again["findings"]) == (0, [])


def _platform(wheel: Path) -> str:
    return wheel.name[: -len(".whl")].split("-")[-1]


@pytest.mark.parametrize(
    ("how", "expected"),
    [
        ("cpython module in a pp39 wheel", "interpreter-mismatch"),
        ("version-specific module in an abi3 wheel", "not-abi3"),
        ("64-bit ELF in an i686 wheel", "pointer-width"),
        ("cp313 module in a cp313t wheel", "free-threading-mismatch"),
    ],
)
def test_mislabelled_copies_are_flagged(
    example_wheel: Path, tmp_path: Path, how: str, expected: str
) -> None:
    plat = _platform(example_wheel)
    member = module_of(example_wheel)
    if how.startswith("cpython module"):
        bad = retag(example_wheel, tmp_path, tags=f"pp39-pypy39_pp73-{plat}")
    elif how.startswith("version-specific"):
        bad = retag(example_wheel, tmp_path, tags=f"cp39-abi3-{plat}")
    elif how.startswith("64-bit"):
        bad = retag(
            example_wheel, tmp_path, tags=f"cp{OWN}-cp{OWN}-{plat.replace('x86_64', 'i686')}"
        )
    else:
        renamed = member.replace(f".cpython-{OWN}-", ".cpython-313-")
        bad = retag(example_wheel, tmp_path, tags=f"cp313-cp313t-{plat}", rename={member: renamed})
    code, report = _audit(bad)
    assert code == 1
    found = {(f["kind"], f["severity"]) for f in report["findings"]}
    assert (expected, "error") in found, report
    assert all(f["path"].startswith(f"{bad}!") for f in report["findings"])


@pytest.mark.parametrize("mode", ["warn", "error"])
def test_save_action_audits_the_wheels_tags(
    warm_example: WarmExample, tmp_path: Path, mode: str
) -> None:
    """A pp39-tagged copy of the cp3xx wheel in dist/: a warning section, or a failed job."""
    (real,) = (warm_example.session_dir / "dist0").glob("*.whl")
    bad = retag(real, warm_example.path / "dist", tags=f"pp39-pypy39_pp73-{_platform(real)}")
    inputs = {"audit-wheels": mode}
    job, steps, summary = save_with_audit(warm_example.path, tmp_path / "runner", inputs)
    assert "## pyo3-cache: wheel tags in dist/" in summary and "interpreter-mismatch" in summary
    assert bad.name.replace("_", "&#95;") in summary or bad.name in summary
    assert_gate(job, steps, "Fail on wheel tag errors (audit-wheels is error)", mode)
