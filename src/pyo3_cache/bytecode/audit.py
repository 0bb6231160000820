"""Audit the ``.pyc`` files in wheels, sdists, conda packages and directories.

Python writes bytecode per interpreter: ``pkg/__pycache__/mod.<cache tag>.pyc``
holds a 16-byte header (magic number, flags, then the source's mtime and size
or a SipHash of it).  Packages get this wrong in ways nothing else reports:
a ``cpython-311.pyc`` inside a package built for 3.10 (dead weight that grows
with every build variant, prefix-dev/pixi's numba-cuda report), or 3.14rc2
bytecode under the ``cpython-314`` tag that every 3.14.0 recompiles on import
(conda-forge-pinning#7795).  ``audit_bytecode`` reads only each ``.pyc``'s
header (16 bytes, streamed out of archives) and reports one finding per
problem.

Finding kinds (public: the CLI's JSON carries them as ``kind``):

==============  ========  =====================================================
kind            severity  meaning
==============  ========  =====================================================
foreign-tag     error     cache tag of another interpreter than the package's
magic-mismatch  error     magic is not what its tag's released interpreter
                          loads (pre-release bytecode, or another version's)
orphan          error     ``__pycache__`` file with no source next to it:
                          no interpreter ever loads it
stale           error     the source changed after compiling (size, mtime in a
                          directory, or hash where it can be checked)
truncated       error     shorter than its header
unknown-magic   error     not a CPython or PyPy magic number at all
unreadable      error     the file or archive cannot be read (corrupt zip ...)
unchecked-hash  warning   compiled so that Python never checks the source:
                          an edited source keeps running the old bytecode
bad-wheel-name  warning   wheel file name does not parse; tags read from WHEEL
pyc-in-wheel    note      the wheel ships bytecode (installers compile their own)
pyc-in-sdist    note      the sdist ships bytecode
==============  ========  =====================================================

Exit status of the CLI: 1 when an error finding is left (``--fix`` removed
files count as fixed), else 0.  ``--fix`` deletes offending ``.pyc`` files
only inside a directory given on the command line (Python regenerates them);
archives are never edited in place.
"""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from pyo3_cache.bytecode.archives import (
    Listing,
    Member,
    PycName,
    conda_interpreter,
    interpreter_from_path,
    list_artifact,
    reason,
    split_pyc_name,
    wheel_interpreter,
)
from pyo3_cache.bytecode.findings import (
    ERROR_KINDS,
    FIXABLE_KINDS,
    NOTE_KINDS,
    WARNING_KINDS,
    ArtifactSummary,
    AuditReport,
    Finding,
    severity_of,
)
from pyo3_cache.bytecode.header import (
    FLAG_CHECK_SOURCE,
    FLAG_HASH_BASED,
    HEADER_SIZE,
    LEGACY_HEADER_SIZE,
    HeaderProblem,
    PycHeader,
    parse_pyc_header,
    write_pyc_header,
)
from pyo3_cache.bytecode.magic_numbers import (
    Interpreter,
    describe_magic,
    parse_cache_tag,
    parse_python_tag,
)
from pyo3_cache.bytecode.render import render_json, render_markdown, render_text
from pyo3_cache.errors import BytecodeError

__all__ = [
    "ERROR_KINDS",
    "FLAG_CHECK_SOURCE",
    "FLAG_HASH_BASED",
    "HEADER_SIZE",
    "LEGACY_HEADER_SIZE",
    "NOTE_KINDS",
    "WARNING_KINDS",
    "ArtifactSummary",
    "AuditReport",
    "Finding",
    "HeaderProblem",
    "PycHeader",
    "audit_bytecode",
    "audit_dist",
    "conda_interpreter",
    "parse_pyc_header",
    "render_json",
    "render_markdown",
    "render_text",
    "severity_of",
    "wheel_interpreter",
    "write_pyc_header",
]


def _check_listing(
    listing: Listing,
    user_expected: Interpreter | None,
    user_tag: str | None,
    summary: ArtifactSummary,
) -> list[Finding]:
    findings: list[Finding] = list(listing.problems)
    tags: Counter[str] = Counter()
    own_magic = int.from_bytes(importlib.util.MAGIC_NUMBER[:2], "little")
    hash_checks: dict[str, tuple[str, PycHeader]] = {}  # pyc name -> (source name, header)
    for name in sorted(listing.pyc_heads):
        head = listing.pyc_heads[name]
        shown = listing.path_of(name)
        pname = split_pyc_name(name)
        if pname.tag:
            tags[pname.tag] += 1
        if isinstance(head, str):
            findings.append(Finding(shown, "unreadable", head))
            continue
        header = parse_pyc_header(head)
        if isinstance(header, HeaderProblem):
            findings.append(Finding(shown, header.kind, header.detail))
            continue
        expected: Interpreter | None
        if user_expected is not None:
            expected, why = user_expected, f"--python-tag {user_tag}"
        else:
            expected = interpreter_from_path(listing.path_prefix + name)
            why = "its lib/ path"
            if expected is None:
                expected, why = listing.default_expected, listing.expected_from
        findings.extend(_check_one(shown, name, pname, header, expected, why, listing))
        source_member = listing.members.get(pname.source or "")
        if (
            pname.in_pycache
            and source_member is not None
            and header.hash_based
            and header.magic == own_magic
        ):
            hash_checks[name] = (pname.source or "", header)
    if hash_checks and listing.read_sources is not None:
        sources = listing.read_sources({src for src, _h in hash_checks.values()})
        for name, (src, header) in sorted(hash_checks.items()):
            data = sources.get(src)
            if data is None or importlib.util.source_hash(data) == header.source_hash:
                continue
            trust = (
                "Python never checks it (unchecked-hash), so the old code runs"
                if header.invalidation == "unchecked-hash"
                else "Python recompiles it on every import it cannot write back"
            )
            findings.append(
                Finding(
                    listing.path_of(name),
                    "stale",
                    f"source hash differs from the one recorded; {trust}",
                )
            )
    summary.pyc_files = len(listing.pyc_heads)
    summary.tags = dict(sorted(tags.items()))
    if listing.pyc_heads and listing.kind in ("wheel", "sdist"):
        kind = "pyc-in-wheel" if listing.kind == "wheel" else "pyc-in-sdist"
        what = (
            "installers compile bytecode for the interpreter they install into"
            if listing.kind == "wheel"
            else "an sdist is built from source"
        )
        findings.append(
            Finding(listing.display, kind, f"ships {len(listing.pyc_heads)} .pyc file(s); {what}")
        )
    return findings


def _check_one(
    shown: str,
    name: str,
    pname: PycName,
    header: PycHeader,
    expected: Interpreter | None,
    why: str,
    listing: Listing,
) -> list[Finding]:
    out: list[Finding] = []
    info = describe_magic(header.magic)
    tagged = parse_cache_tag(pname.tag) if pname.tag else None
    if pname.in_pycache and pname.source is None:
        out.append(
            Finding(shown, "orphan", "not named MODULE.CACHE_TAG.pyc; no interpreter loads it")
        )
        return out
    if tagged is not None:
        if expected is not None and not expected.same_bytecode(tagged):
            out.append(
                Finding(
                    shown,
                    "foreign-tag",
                    f"{pname.tag} bytecode in a package for {expected.name} ({why})",
                )
            )
        accepted = tagged.accepts_magic(header.magic)
        if accepted is False:
            out.append(Finding(shown, "magic-mismatch", _mismatch_detail(header.magic, tagged)))
    elif not pname.in_pycache and expected is not None:
        # A sourceless module (legacy mod.pyc): loaded only by the interpreter
        # whose magic it carries.
        accepted = expected.accepts_magic(header.magic)
        if accepted is False and listing.members.get(pname.source or "") is None:
            out.append(
                Finding(
                    shown,
                    "magic-mismatch",
                    f"sourceless module with magic {info.describe()}; {expected.name} ({why}) "
                    f"loads only {expected.expected_magic()}",
                )
            )
    if header.invalidation == "unchecked-hash":
        out.append(
            Finding(
                shown,
                "unchecked-hash",
                "compiled with --invalidation-mode unchecked-hash: Python never checks the "
                "source, so an edited source keeps running this bytecode",
            )
        )
    source = listing.members.get(pname.source or "") if pname.in_pycache else None
    if pname.in_pycache and source is None:
        out.append(
            Finding(shown, "orphan", f"no source {pname.source} next to it; nothing loads it")
        )
    elif source is not None and not header.hash_based:
        out.extend(_timestamp_staleness(shown, pname, header, source, listing.kind))
    return out


def _mismatch_detail(magic: int, tagged: Interpreter) -> str:
    info = describe_magic(magic)
    if (
        tagged.implementation == "cpython"
        and info.implementation == "cpython"
        and info.version == tagged.version
        and info.prerelease
    ):
        return (
            f"magic {info.describe()} under tag {tagged.cache_tag}: {tagged.name} releases "
            f"use {tagged.expected_magic()} and recompile it on every import"
        )
    return (
        f"magic {info.describe()} does not match its tag {tagged.cache_tag} "
        f"(expects {tagged.expected_magic()})"
    )


def _timestamp_staleness(
    shown: str, pname: PycName, header: PycHeader, source: Member, kind: str
) -> list[Finding]:
    # The importer compares both words for equality, modulo 2**32 (importlib's
    # _validate_timestamp_pyc): any difference means recompile.
    if header.source_size is not None and header.source_size != source.size & 0xFFFFFFFF:
        return [
            Finding(
                shown,
                "stale",
                f"compiled from a {header.source_size}-byte {pname.source}; "
                f"it now has {source.size} bytes",
            )
        ]
    if (
        kind in ("directory", "pyc")
        and source.mtime is not None
        and header.mtime is not None
        and header.mtime != int(source.mtime) & 0xFFFFFFFF
    ):
        return [
            Finding(
                shown,
                "stale",
                f"compiled from {pname.source} with mtime {header.mtime}; "
                f"its mtime is now {int(source.mtime)}",
            )
        ]
    return []


def _audit_one(
    path: Path,
    display: str,
    user_expected: Interpreter | None,
    user_tag: str | None,
    fix: bool,
    report: AuditReport,
    skipped: list[str],
) -> None:
    archives: list[Path] = []
    kind_guess = "directory" if path.is_dir() else path.suffix.lstrip(".") or "file"
    try:
        listing = list_artifact(path, display, archives, skipped)
    except BytecodeError:
        raise
    except Exception as exc:  # corrupt zip/tar/zstd, I/O errors: one finding, go on
        report.findings.append(Finding(display, "unreadable", f"cannot read: {reason(exc)}"))
        report.artifacts.append(ArtifactSummary(display, kind_guess, None, "unreadable"))
        return
    summary = ArtifactSummary(
        display,
        listing.kind,
        user_expected.name
        if user_expected
        else (listing.default_expected.name if listing.default_expected else None),
        f"--python-tag {user_tag}" if user_expected else listing.expected_from,
    )
    findings = _check_listing(listing, user_expected, user_tag, summary)
    report.checked += len(listing.pyc_heads)
    report.artifacts.append(summary)
    if fix:
        if listing.kind in ("directory", "pyc") and listing.root is not None:
            _fix_in_directory(listing, findings)
        elif any(f.severity == "error" for f in findings):
            report.not_fixed.append(display)
    report.findings.extend(findings)
    for archive in archives:
        rel = archive.relative_to(path).as_posix()
        _audit_one(archive, str(Path(display) / rel), user_expected, user_tag, fix, report, skipped)


def _fix_in_directory(listing: Listing, findings: list[Finding]) -> None:
    assert listing.root is not None
    real_root = os.path.realpath(listing.root)
    by_path = {listing.path_of(name): name for name in listing.pyc_heads}
    for finding in findings:
        name = by_path.get(finding.path)
        if name is None or finding.kind not in FIXABLE_KINDS:
            continue
        target = listing.root / name
        # Delete the entry itself (a symlink, not its target), and only when its
        # directory really is inside the tree we were given.
        parent = os.path.realpath(target.parent)
        if os.path.commonpath([parent, real_root]) != real_root:
            continue
        try:
            os.unlink(target)
        except FileNotFoundError:
            finding.fixed = True  # a second finding on the same file removed it
        except OSError:
            continue
        else:
            finding.fixed = True


def audit_bytecode(
    paths: Sequence[str | os.PathLike[str]],
    python_tag: str | None = None,
    fix: bool = False,
) -> AuditReport:
    """Audit the ``.pyc`` files of wheels, sdists, conda packages and directories.

    ``python_tag`` (``cp311``, ``pp310``, ``cpython-311``, ``3.11``) names the
    interpreter the bytecode must be for, overriding what each artifact says
    (wheel tag, conda metadata, a ``lib/python3.X/`` path, ``pyvenv.cfg``).
    ``fix`` deletes offending ``.pyc`` files inside directories; archives are
    never edited (they are listed in ``report.not_fixed``).

    Raises ``BytecodeError`` for a path that does not exist or is no kind of
    artifact, and for a ``python_tag`` that names no single interpreter.
    Everything wrong *inside* an artifact (corrupt zip, truncated .pyc) is a
    finding instead.
    """
    user_expected: Interpreter | None = None
    if python_tag is not None:
        user_expected = parse_python_tag(python_tag)
        if user_expected is None:
            raise BytecodeError(
                f"--python-tag {python_tag!r} names no single interpreter; "
                "use a tag like cp311, cp314t, pp310, cpython-311 or 3.11"
            )
    if not paths:
        raise BytecodeError("no path given: name wheels, sdists, conda packages or directories")
    resolved: list[tuple[Path, str]] = []
    for raw in paths:
        text = os.fspath(raw)
        p = Path(text)
        if not p.exists():
            raise BytecodeError(f"{text} does not exist")
        resolved.append((p, text))
    report = AuditReport()
    for p, text in resolved:
        _audit_one(p, text, user_expected, python_tag, fix, report, report.skipped)
    return report


def audit_dist(dist: str | os.PathLike[str]) -> AuditReport | None:
    """The save action's check: audit the wheels in ``dist/``; None when it holds none."""
    wheels = sorted(Path(dist).glob("*.whl")) if Path(dist).is_dir() else []
    if not wheels:
        return None
    return audit_bytecode([str(w) for w in wheels])
