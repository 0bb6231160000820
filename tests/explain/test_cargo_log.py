"""The streaming cargo log parser: line kinds, log decorations, bounded memory."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from pyo3_cache.explain import cargo_log
from pyo3_cache.explain.cargo_log import (
    Event,
    FingerprintLine,
    Finished,
    JsonArtifact,
    LogStats,
    Running,
    UnitStatus,
    iter_events,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "cargo-logs"


def events(data: bytes) -> tuple[list[Event], LogStats]:
    stats = LogStats("test")
    return list(iter_events(io.BytesIO(data), stats)), stats


def statuses(evs: list[Event]) -> list[tuple[str, str, str | None]]:
    return [(e.word, e.package, e.reason) for e in evs if isinstance(e, UnitStatus)]


def test_human_status_lines_with_path_and_reason() -> None:
    evs, stats = events(
        b"       Fresh target-lexicon v0.13.5\n"
        b"       Dirty pyo3-ffi v0.30.1: the env variable PYO3_PYTHON changed\n"
        b"   Compiling pyo3-ffi v0.30.1\n"
        b"       Dirty hello-pyo3 v0.1.0 (/src/hello-pyo3): info of dependency `pyo3` changed\n"
        b"    Finished `release` profile [optimized] target(s) in 1m 02s\n"
    )
    assert statuses(evs) == [
        ("Fresh", "target-lexicon", None),
        ("Dirty", "pyo3-ffi", "the env variable PYO3_PYTHON changed"),
        ("Compiling", "pyo3-ffi", None),
        ("Dirty", "hello-pyo3", "info of dependency `pyo3` changed"),
    ]
    dirty = [e for e in evs if isinstance(e, UnitStatus)][3]
    assert dirty.source_path == "/src/hello-pyo3"
    (fin,) = [e for e in evs if isinstance(e, Finished)]
    assert fin.profile == "release" and fin.seconds == 62.0
    assert stats.cargo_lines == 5


def test_github_timestamps_ansi_crlf_and_progress_redraws() -> None:
    data = (
        b"2026-11-26T10:00:00.1234567Z \x1b[1m\x1b[32m   Compiling\x1b[0m pyo3 v0.30.1\r\n"
        b"2026-11-26T10:00:01.5000000Z     Building [====>   ] 3/9: pyo3\r"
        b"\x1b[K       Dirty pyo3 v0.30.1: the rustflags changed\r\n"
    )
    evs, stats = events(data)
    found = [e for e in evs if isinstance(e, UnitStatus)]
    assert [(e.word, e.reason) for e in found] == [
        ("Compiling", None),
        ("Dirty", "the rustflags changed"),
    ]
    assert found[0].at.time is not None and found[1].at.time is not None
    assert found[1].at.time - found[0].at.time == pytest.approx(1.3765433, abs=1e-4)
    assert stats.timestamped and stats.ansi


def test_json_messages_with_both_package_id_spellings() -> None:
    evs, _ = events(
        b'{"reason":"compiler-artifact","package_id":"registry+https://github.com/rust-lang/'
        b'crates.io-index#pyo3@0.30.1","target":{"kind":["lib"]},"profile":{"opt_level":"3"},'
        b'"features":["macros"],"fresh":false}\n'
        b'{"reason":"compiler-artifact","package_id":"path+file:///src/hello-pyo3#0.1.0",'
        b'"target":{"kind":["cdylib"]},"fresh":true}\n'
        b'{"reason":"compiler-artifact","package_id":"pyo3 0.17.3 (registry+https://x)",'
        b'"target":{"kind":["lib"]},"fresh":true}\n'
        b'{"reason":"compiler-message","message":{"rendered":"Dirty fake v1.0.0: nope"}}\n'
        b'{"reason":"build-finished","success":true}\n'
    )
    arts = [e for e in evs if isinstance(e, JsonArtifact)]
    assert [(a.package, a.version, a.fresh) for a in arts] == [
        ("pyo3", "0.30.1", False),
        ("hello-pyo3", "0.1.0", True),
        ("pyo3", "0.17.3", True),
    ]
    assert arts[0].features == ("macros",)
    assert any(isinstance(e, cargo_log.JsonBuildFinished) and e.success for e in evs)
    assert not any(isinstance(e, UnitStatus) for e in evs)


def test_fingerprint_log_lines_carry_package_from_span() -> None:
    line = (
        b"   0.025860398s  INFO prepare_target{force=false package_id=pyo3-ffi v0.30.1 "
        b'target="build-script-build"}: cargo::core::compiler::fingerprint:     dirty: '
        b'EnvVarChanged { name: "PYO3_PYTHON", old_value: Some("/a"), new_value: None }\n'
    )
    (ev,), _ = events(line)
    assert isinstance(ev, FingerprintLine)
    assert (ev.package, ev.version, ev.target) == ("pyo3-ffi", "0.30.1", "build-script-build")
    assert ev.message.strip().startswith("dirty: EnvVarChanged")


def test_env_logger_fingerprint_lines_belong_to_last_unit() -> None:
    data = (
        b"[2023-01-01T00:00:00Z INFO  cargo::core::compiler::fingerprint] fingerprint dirty "
        b'for pyo3-build-config v0.17.3/RunCustomBuild/TargetInner { name: "x" }\n'
        b"[2023-01-01T00:00:00Z INFO  cargo::core::compiler::fingerprint]     dirty: "
        b'EnvVarChanged { name: "PYO3_PYTHON", old_value: None, new_value: Some("/b") }\n'
    )
    evs, _ = events(data)
    assert [(e.package, e.version) for e in evs if isinstance(e, FingerprintLine)] == [
        ("pyo3-build-config", "0.17.3"),
        ("pyo3-build-config", "0.17.3"),
    ]


def test_failed_build_and_verbose_running_lines() -> None:
    evs, _ = events(
        b"     Running `/x/bin/rustc --crate-name foo src/lib.rs`\n"
        b"Running `maturin pep517 build-wheel`\n"
        b"error: could not compile `foo` (lib) due to 1 previous error\n"
    )
    assert sum(isinstance(e, Running) for e in evs) == 1
    assert [e.package for e in evs if isinstance(e, cargo_log.BuildFailed)] == ["foo"]


def test_other_tools_lines_are_ignored() -> None:
    evs, stats = events(
        b"Compiling 'foo.py'...\nFinished processing\nfingerprint of the moon\n"
        b"Fresh air v: nothing\n\xff\xfe garbage\n"
    )
    assert evs == []
    assert stats.cargo_lines == 0 and stats.lines == 5


@pytest.mark.parametrize("chunk", [1, 7, 64, 4096])
def test_chunk_boundaries_do_not_change_events(monkeypatch: pytest.MonkeyPatch, chunk: int) -> None:
    data = (FIXTURES / "github" / "uv-build-then-cargo-build.log").read_bytes()
    expected, _ = events(data)
    monkeypatch.setattr(cargo_log, "CHUNK_BYTES", chunk)
    got, stats = events(data)
    assert got == expected
    assert stats.lines == data.count(b"\n")


def test_overlong_line_is_cut_and_parsing_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cargo_log, "MAX_LINE_BYTES", 1000)
    monkeypatch.setattr(cargo_log, "CHUNK_BYTES", 300)
    data = (
        b"   Compiling a v1.0.0\n"
        + b"x" * 5000
        + b"Dirty hidden v1.0.0: forced\n"
        + b"       Dirty b v1.0.0: forced\n"
    )
    evs, stats = events(data)
    assert [e.package for e in evs if isinstance(e, UnitStatus)] == ["a", "b"]
    assert stats.cut_lines == 1
    assert stats.lines == 3


def test_truncated_last_line_and_invalid_utf8_are_parsed() -> None:
    evs, stats = events(b"   Compiling caf\xe9 v1.0.0\n       Dirty b v1.0.0: the rustflags chan")
    assert [(e.package, e.reason) for e in evs if isinstance(e, UnitStatus)] == [
        ("b", "the rustflags chan")
    ]
    assert stats.undecodable_lines == 1


def test_binary_input_is_flagged() -> None:
    _, stats = events(bytes(range(256)) * 100)
    assert stats.looks_binary


class _OneGigabyteLine:
    """A stream holding a 1 GiB line (no newline) and then a cargo status line."""

    def __init__(self) -> None:
        self.left = 1 << 30
        self.block = b"x" * (1 << 20)
        self.tail = b"\n       Dirty pyo3 v0.30.1: the rustflags changed\n"

    def read(self, size: int = -1) -> bytes:
        if self.left > 0:
            self.left -= len(self.block)
            return self.block
        tail, self.tail = self.tail, b""
        return tail


def test_one_gigabyte_line_is_skipped_with_bounded_memory() -> None:
    stats = LogStats("huge")
    evs = list(iter_events(_OneGigabyteLine(), stats))  # type: ignore[arg-type]
    assert [(e.package, e.reason) for e in evs if isinstance(e, UnitStatus)] == [
        ("pyo3", "the rustflags changed")
    ]
    assert stats.cut_lines == 1 and stats.bytes > 1 << 30


def _fixture_lines() -> list[bytes]:
    lines: list[bytes] = []
    for name in sorted(FIXTURES.glob("*/*.log")):
        lines += name.read_bytes().splitlines(True)[1:]
    return lines


# Lines a keyword search skips or a fast path must leave to parse_line.
TRICKY = [
    b"2026-11-26T10:00:00.5Z Compiling 'foo.py'...\n",  # keyword, no cargo line
    b"2026-11-26T10:00:00.5Z \x1b[1m\x1b[32m   Compiling\x1b[0m pyo3 v0.30.1\r\n",
    b"2026-11-26T10:00:00.5Z Fre\x1b[0msh not-a-keyword v1.0.0\n",  # parses, no keyword
    b"\xff\xfe not utf-8 Dirty x v1.0.0: forced\n",
    b"hello world\n",
    b'{"reason": "compiler-artifact", "package_id": "spaced 1.0.0 (registry+x)", '
    b'"target": {"kind": ["lib"]}, "fresh": true}\n',
    b"    Running `maturin pep517 build-wheel`\n",  # uv's Running, not cargo's
]


def test_dense_blocks_give_the_same_events_and_stats_as_a_keyword_scan(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Nothing but cargo lines: after the first block, blocks are split into
    # lines and each line goes to the fast paths unchecked.
    lines = _fixture_lines() * 4
    for i, tricky in enumerate(TRICKY * 20):
        lines.insert((i + 1) * 25, tricky)
    data = b"".join(lines)
    monkeypatch.setattr(cargo_log, "CHUNK_BYTES", 16 * 1024)
    seen: list[bool] = []
    scan = cargo_log._BlockScanner.scan

    def spy(self: cargo_log._BlockScanner, block: bytes, first_line: int) -> list[Event]:
        seen.append(self.dense)
        return scan(self, block, first_line)

    monkeypatch.setattr(cargo_log._BlockScanner, "scan", spy)
    dense, dense_stats = events(data)
    assert any(seen) and not all(seen)

    def sparse(self: cargo_log._BlockScanner, block: bytes, first_line: int) -> list[Event]:
        self.dense = False
        found = scan(self, block, first_line)
        self.dense = False
        return found

    monkeypatch.setattr(cargo_log._BlockScanner, "scan", sparse)
    checked, checked_stats = events(data)
    assert dense == checked
    assert dense_stats == checked_stats
    assert checked_stats.lines == data.count(b"\n")


def test_artifact_fast_path_reads_what_json_loads_reads() -> None:
    at = cargo_log.Where("test", 1)
    artifacts = [ln.strip() for ln in _fixture_lines() if b'"compiler-artifact"' in ln]
    assert len(artifacts) > 50
    for line in artifacts:
        body = line[line.index(b"{") :]
        fast = cargo_log._artifact_fast(body, 0, at)
        assert fast is not None
        assert fast == cargo_log._json_event(body.decode(), at)


@pytest.mark.parametrize(
    "line",
    [
        # An escaped quote in a path, keys in another order, a nested profile value.
        b'{"reason":"compiler-artifact","package_id":"a 1.0.0 (x)","manifest_path":"C:\\\\a\\"b",'
        b'"target":{"kind":["lib"],"name":"a"},"profile":{"opt_level":"0"},"features":[],'
        b'"filenames":[],"executable":null,"fresh":false}',
        b'{"reason":"compiler-artifact","package_id":"a 1.0.0 (x)","fresh":false,'
        b'"target":{"kind":["lib"]},"profile":{"opt_level":"0"},"features":["f"]}',
        b'{"reason":"compiler-artifact","package_id":"a 1.0.0 (x)","manifest_path":"m",'
        b'"target":{"kind":["lib"],"name":"a"},"profile":{"opt_level":"0","x":{"y":1}},'
        b'"features":[],"filenames":[],"executable":null,"fresh":false}',
    ],
)
def test_artifacts_the_fast_path_does_not_know_go_through_json(line: bytes) -> None:
    (event,), _ = events(line + b"\n")
    assert isinstance(event, JsonArtifact)
    assert (event.package, event.version, event.fresh) == ("a", "1.0.0", False)
    assert event == cargo_log._json_event(line.decode(), event.at)


def test_coloured_running_lines_prove_verbose_output() -> None:
    # cargo 1.95 with CARGO_TERM_COLOR=always colours the word, not the backtick.
    evs, stats = events(
        b"2026-11-26T10:00:00.5Z \x1b[1m\x1b[32m     Running\x1b[0m `/x/bin/rustc --crate-name a`"
        b"\r\n"
        b"\x1b[1m\x1b[32m     Running\x1b[0m `/t/build/a-1/build-script-build`\n"
    )
    assert [type(e) for e in evs] == [Running, Running]
    assert stats.ansi and stats.timestamped
