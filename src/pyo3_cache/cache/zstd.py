"""zstd for cache archives: the ``zstandard`` module when installed, else the ``zstd`` command.

The GitHub Action runs the tool from its checkout on the job's own Python, with
no third-party package installed (each one would cost every job install time).
GitHub's runner images all ship the ``zstd`` command (actions/cache compresses
with it), so the action's archives go through it; an installed ``zstandard``
is used in-process. Both write the same format: one zstd stream with
long-distance matching (a target dir holds the same bytes many times over,
far apart), which either side reads.

A stream that ends early is an error on the command's side (its exit status,
checked after the reader is done); zstandard's stream reader does not report
a cut last frame, so a restore from a store checks the archive's sha256 from
its record before it reads a byte (restore.py).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

# Level 2: the pack of a target dir takes 0.65-0.8x the time of level 3, for
# an archive 2-3% bigger (the benchmark projects' pruned target dirs, 2 cores;
# decompression is as fast). The pack runs in every job that saves.
LEVEL = 2
# A 128 MiB window: long-distance matches across a target dir's tar.
WINDOW_LOG = 27
# Jobs of up to 64 MiB: with smaller ones the threads lose the matches
# between a crate's debug and release files (a dev+release target dir of 190
# MB: 16 MiB jobs 3.9% bigger, 32 MiB 2.1%, no faster on 2 cores). But a
# tree of less than four jobs leaves a thread idle: the example's release
# target dir (79 MB) packed in 0.24-0.26 s as one 64 MiB job and a 15 MiB one,
# in 0.15-0.16 s as 20 MiB ones, 0.6% bigger. So the job size is the tree's
# size over twice the threads, between 16 and 64 MiB (``job_size``).
JOB_SIZE = 64 << 20
MIN_JOB_SIZE = 16 << 20


def job_size(total_bytes: int, threads: int | None = None) -> int:
    """The zstd job size for a stream of about ``total_bytes``: at least two jobs
    per thread, each between ``MIN_JOB_SIZE`` and ``JOB_SIZE``."""
    threads = threads or os.cpu_count() or 1
    return max(MIN_JOB_SIZE, min(JOB_SIZE, total_bytes // (2 * threads)))


# What a restore accepts as a window (a stream asking for more is not ours).
MAX_WINDOW_LOG = 31
READ_CHUNK = 1 << 20
ENV_BACKEND = "PYO3_CACHE_ZSTD"  # "module" or "cli": force one (tests, benchmarks)


class ZstdCommandError(OSError):
    """The zstd command failed (a corrupt stream, a full disk ...)."""


class ZstdMissing(ZstdCommandError):
    """Neither the zstandard module nor the zstd command is there."""


def _module() -> Any | None:
    if os.environ.get(ENV_BACKEND) == "cli":
        return None
    try:
        import zstandard
    except ImportError:
        return None
    return zstandard


def _command() -> str:
    found = shutil.which("zstd")
    if not found:
        raise ZstdMissing(
            "neither the zstandard module nor the zstd command is available "
            "(pip install zstandard, or install zstd)"
        )
    return found


def command_available() -> bool:
    """Whether the ``zstd`` command is on PATH."""
    return shutil.which("zstd") is not None


def pipes_available() -> bool:
    """The zstd command is there and the module is not forced: archives can go
    through its pipes (``pipe_tar.py`` reads them, ``archive.py`` writes them)."""
    return os.environ.get(ENV_BACKEND) != "module" and command_available()


def decompress_command(path: Path) -> list[str]:
    """``zstd -d`` of ``path`` to stdout, refusing windows larger than ours allow."""
    return [_command(), "-q", "-d", "-c", f"--memory={1 << (MAX_WINDOW_LOG - 20)}MB", str(path)]


def errors() -> tuple[type[BaseException], ...]:
    """The exceptions a corrupt or truncated stream raises while it is read."""
    found: tuple[type[BaseException], ...] = (ZstdCommandError, EOFError)
    try:
        import zstandard
    except ImportError:
        return found
    return (*found, zstandard.ZstdError)


@contextlib.contextmanager
def compressing(
    out: IO[bytes], level: int = LEVEL, command: bool = False, size_hint: int | None = None
) -> Iterator[IO[bytes]]:
    """A writable stream whose bytes reach ``out`` (an open file) zstd-compressed.

    ``command``: through the zstd command even when the module is installed
    (the stream is then a pipe, whose ``fileno()`` takes raw writes).
    ``size_hint``: about how many bytes will be written (sets the job size).
    """
    jobs = JOB_SIZE if size_hint is None else job_size(size_hint)
    zstandard = None if command else _module()
    threads = -1 if (os.cpu_count() or 1) > 1 else 0
    if zstandard is not None:
        params = zstandard.ZstdCompressionParameters.from_level(
            level, window_log=WINDOW_LOG, enable_ldm=True, threads=threads, job_size=jobs
        )
        writer = zstandard.ZstdCompressor(compression_params=params).stream_writer(
            out, closefd=False
        )
        with writer:
            yield writer
        return
    out.flush()
    cmd = [_command(), "-q", f"-{level}", f"--long={WINDOW_LOG}", "-c"]
    if threads:
        cmd += ["-T0", f"-B{jobs}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=out, stderr=subprocess.PIPE)
    assert proc.stdin is not None
    try:
        yield proc.stdin
        proc.stdin.close()
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finish(proc, "compressing")


@contextlib.contextmanager
def decompressing(path: Path) -> Iterator[IO[bytes]]:
    """The decompressed bytes of the zstd file ``path``, as a readable stream."""
    zstandard = _module()
    if zstandard is not None:
        with path.open("rb") as raw:
            decompressor = zstandard.ZstdDecompressor(max_window_size=1 << MAX_WINDOW_LOG)
            # every frame, as the command reads them: a damaged frame after
            # an intact one is an error, not the end of the archive
            reader_of = decompressor.stream_reader(
                raw, read_size=READ_CHUNK, read_across_frames=True
            )
            with reader_of as reader:
                yield reader
        return
    cmd = decompress_command(path)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    try:
        yield proc.stdout
        # The reader is done (a tar ends before its padding): read the rest, so
        # that zstd's exit status can say whether the whole stream was sound.
        # A corrupt stream cut at a member boundary would otherwise look like a
        # shorter, complete archive.
        while proc.stdout.read(READ_CHUNK):
            pass
    except BaseException:
        proc.kill()  # a refused member: do not wait for the rest
        proc.stdout.close()
        proc.wait()
        raise
    proc.stdout.close()
    finish(proc, "decompressing")


def finish(proc: subprocess.Popen[bytes], what: str) -> None:
    err = proc.stderr.read() if proc.stderr is not None else b""
    proc.wait()
    if proc.returncode:
        text = " ".join((err or b"").decode("utf-8", "replace").split())[:200]
        raise ZstdCommandError(f"zstd failed {what} (exit {proc.returncode}: {text})")
