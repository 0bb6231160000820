"""pin/state.py's probe cache: interpreter answers kept per interpreter file, never stale.

Found when a test pinned through a probe answer cached by an earlier run:
the bench had asked about pyenv's 3.11.7 through a toolcache link that was
gone since, and the pin's shim exec'd that missing path (exit 127).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pyo3_cache.pin import state
from pyo3_cache.pin.state import base_interpreter, cached_probe

REAL = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)


@pytest.fixture
def probes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A private probe cache; returns the interpreters actually probed."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    asked: list[str] = []
    real_probe = state.probe_interpreter

    def counting(python: str):  # type: ignore[no-untyped-def]
        asked.append(python)
        return real_probe(python)

    monkeypatch.setattr(state, "probe_interpreter", counting)
    return asked


def _link(folder: Path) -> str:
    """A toolcache-like layout: <folder>/bin/python3, a link to the real interpreter."""
    (folder / "bin").mkdir(parents=True)
    link = folder / "bin" / "python3"
    link.symlink_to(REAL)
    return str(link)


def test_an_unchanged_interpreter_is_probed_once(tmp_path: Path, probes: list[str]) -> None:
    link = _link(tmp_path / "tc")
    first = cached_probe(link)
    again = cached_probe(link)
    assert probes == [link]
    assert again == first and base_interpreter(again) == REAL


def test_an_answer_whose_path_is_gone_is_probed_again(tmp_path: Path, probes: list[str]) -> None:
    old = _link(tmp_path / "run1" / "toolcache")
    assert base_interpreter(cached_probe(old)) == REAL
    shutil.rmtree(tmp_path / "run1")  # the runner's per-run folder, removed after the job
    new = _link(tmp_path / "run2" / "toolcache")
    info = cached_probe(new)
    assert probes == [old, new]
    shim_target = base_interpreter(info)
    assert shim_target == REAL and os.path.exists(shim_target)
    ran = subprocess.run([shim_target, "-c", "print(1)"], capture_output=True, text=True)
    assert ran.stdout.strip() == "1"


def test_a_link_pointed_elsewhere_is_probed_again(tmp_path: Path, probes: list[str]) -> None:
    """Same binary behind the asked path, but the recorded path now leads to another file."""
    first = _link(tmp_path / "tc")
    cached_probe(first)
    other = tmp_path / "other-python"
    shutil.copy2(REAL, other)  # a different file (another inode) at the recorded path
    os.unlink(first)
    os.symlink(other, first)
    second = _link(tmp_path / "tc2")  # asks about REAL again
    info = cached_probe(second)
    assert probes == [first, second]
    assert base_interpreter(info) == REAL
