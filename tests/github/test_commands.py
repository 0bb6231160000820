"""Every value printed into a workflow command stays inside it (issue 18, item 5).

The runner reads each output line that starts with ``::`` as a command, so a
newline inside a value (a lockfile's package name, a log line, a job name)
must never reach the output raw.  Each printing helper of ``pyo3_cache.github``
is fed values carrying ``\\n::error ...`` and ``\\r::add-mask::...``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyo3_cache.errors import GitHubError
from pyo3_cache.github import client as github
from pyo3_cache.github import commands, files, log

INJECTIONS = [
    "lib\n::error title=forged::build failed",
    "a\r::add-mask::everything",
    "x\r\n::warning file=/etc/passwd,line=1::owned",
    "100% %0A::notice::already-escaped looking",
    "end\n",
    "\u2028::error::line separator\x85::error::next line",
]
_COMMAND = re.compile(r"^::([a-z-]+)(?: ([^:]*))?::(.*)$")


_UNESCAPE = {"%25": "%", "%0D": "\r", "%0A": "\n", "%3A": ":", "%2C": ","}


def unescape(text: str) -> str:
    return re.sub(r"%(25|0D|0A|3A|2C)", lambda m: _UNESCAPE[m.group(0)], text)


def _commands(output: str) -> list[tuple[str, str, str]]:
    """The workflow commands the runner would see in ``output``, as (name, props, data)."""
    found = []
    for line in re.split(r"\r\n|\r|\n", output):
        match = _COMMAND.match(line.lstrip())
        if match:
            found.append((match[1], match[2] or "", match[3]))
    return found


@pytest.fixture
def on_github(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_ACTIONS", "true")


@pytest.mark.parametrize("value", INJECTIONS)
@pytest.mark.parametrize("helper", ["warn", "notice", "error"])
def test_annotations_carry_the_value_as_one_command(
    on_github: None, capfd: pytest.CaptureFixture[str], helper: str, value: str
) -> None:
    getattr(log, helper)(f"cannot read {value}")
    out, err = capfd.readouterr()
    found = _commands(out + err)
    command = {"warn": "warning"}.get(helper, helper)
    assert [(name, props) for name, props, _ in found] == [(command, "title=pyo3-cache")]
    assert unescape(found[0][2]) == " ".join(f"cannot read {value}".split())


@pytest.mark.parametrize("value", INJECTIONS)
def test_info_and_the_plain_lines_start_with_our_name(
    on_github: None, capfd: pytest.CaptureFixture[str], value: str
) -> None:
    log.info(value)
    log.error(value)
    out, err = capfd.readouterr()
    assert [name for name, _, _ in _commands(out + err)] == ["error"]
    plain = [line for line in err.splitlines() if not line.startswith("::error title=")]
    assert plain and all(line.startswith("pyo3-cache: ") for line in plain), plain


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_group_title_cannot_open_other_commands(
    on_github: None, capfd: pytest.CaptureFixture[str], value: str
) -> None:
    with log.group(value):
        pass
    out, err = capfd.readouterr()
    assert [name for name, _, _ in _commands(out + err)] == ["group", "endgroup"]


@pytest.mark.parametrize("value", INJECTIONS)
def test_workflow_command_escapes_the_message_and_every_property(value: str) -> None:
    line = commands.workflow_command("warning", value, title=value, file=value)
    [(name, props, data)] = _commands(line)
    assert name == "warning" and unescape(data) == value
    pairs = dict(p.split("=", 1) for p in props.split(","))
    assert {k: unescape(v) for k, v in pairs.items()} == {"title": value, "file": value}


@pytest.mark.parametrize("value", INJECTIONS)
def test_add_mask_masks_each_line_and_nothing_else(
    on_github: None, capfd: pytest.CaptureFixture[str], value: str
) -> None:
    log.mask(value)
    out, err = capfd.readouterr()
    found = _commands(out + err)
    assert {name for name, _, _ in found} == {"add-mask"}
    masked = [unescape(data) for _, _, data in found]
    assert masked == [line for line in value.replace("\r\n", "\n").split("\n") if line.strip()]


def test_mask_prints_nothing_off_github(
    monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    log.mask("s3cr3t-value")
    assert capfd.readouterr() == ("", "")


@pytest.mark.parametrize("value", INJECTIONS)
def test_env_and_output_values_cannot_add_entries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    target = tmp_path / "env"
    monkeypatch.setenv("GITHUB_ENV", str(target))
    files.append_env({"PYO3_CACHE_X": value + "\nEVIL=1"})
    text = target.read_bytes().decode("utf-8")
    head, _, rest = text.partition("\n")
    name, _, delimiter = head.partition("<<")
    assert name == "PYO3_CACHE_X" and rest.endswith(f"\n{delimiter}\n")
    assert rest[: -len(delimiter) - 2] == value + "\nEVIL=1"


@pytest.mark.parametrize("name", ["A\nB", "A=B", "A<<EOF", ""])
def test_a_bad_variable_name_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setenv("GITHUB_OUTPUT", str(tmp_path / "out"))
    with pytest.raises(GitHubError, match="not a valid"):
        files.append_output({name: "x"})


def test_a_path_with_a_line_break_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "path"
    monkeypatch.setenv("GITHUB_PATH", str(target))
    with pytest.raises(GitHubError, match="line break"):
        files.append_path("/opt/ours\n/tmp/evil")
    assert not target.exists()


# --- escaping: property tests ---------------------------------------------------------


@given(st.text())
def test_escape_data_round_trips_and_never_emits_raw_newlines(value: str) -> None:
    escaped = github.escape_data(value)
    assert "\n" not in escaped and "\r" not in escaped
    assert unescape(escaped) == value


@given(st.text())
def test_escape_property_round_trips_without_separators(value: str) -> None:
    escaped = github.escape_property(value)
    assert not set(escaped) & {"\n", "\r", ":", ","}
    assert unescape(escaped) == value


@given(st.text(), st.dictionaries(st.sampled_from(["title", "file", "line"]), st.text()))
def test_workflow_command_is_always_one_line(message: str, props: dict[str, str]) -> None:
    command = github.workflow_command("warning", message, **props)
    assert "\n" not in command and "\r" not in command
    head, _, data = command[2:].partition("::")
    assert unescape(data) == message
    assert head.count("::") == 0
