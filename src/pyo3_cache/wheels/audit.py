"""``audit-wheels``: every extension module in a wheel must be what the wheel's tags say.

A wheel tagged ``pp39-pypy39_pp73`` holding a ``.cpython-311-...so`` installs
fine and fails on import; so does a ``cp311`` module in an ``abi3`` wheel on
3.12, a 3.13 module in a ``cp313t`` wheel, or a 64-bit ELF in an ``i686``
wheel.  A pinned ``PYO3_CONFIG_FILE`` that steers a build for another
interpreter produces exactly these (issue: maturin takes the file as its one
target).  The audit reads each module's file name (the interpreter and
platform it is for) and its binary header (CPU, 32/64-bit, ``PyInit_``).

==========================  ========  ==================================================
kind                        severity  meaning
==========================  ========  ==================================================
interpreter-mismatch        error     the module is built for another interpreter
not-abi3                    error     an ``abi3`` wheel holds a version-specific module
free-threading-mismatch     error     ``t`` (free-threaded) on one side only
platform-mismatch           error     file format, CPU or libc differ from the platform tag,
                                      or a file name that platform never imports
pointer-width               error     32-bit binary in a 64-bit wheel, or the reverse
binary-in-pure-wheel        error     a ``none``/``any`` wheel holds an extension module
unreadable                  error     not a zip, or no tags in its name or WHEEL file
missing-init                warning   ``PyInit_<name>`` is not exported: import fails
unknown-binary              warning   a module whose header is not ELF, Mach-O or PE
untagged-module             warning   a plain ``.so`` in a PyPy wheel (PyPy 3.9 only
                                      imports its tagged suffix)
bad-wheel-name              warning   the file name does not parse; tags read from WHEEL
==========================  ========  ==================================================
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from pyo3_cache.bytecode.findings import findings_json
from pyo3_cache.errors import WheelAuditError
from pyo3_cache.wheels.binary import BinaryInfo, read_binary
from pyo3_cache.wheels.tags import (
    ModuleSuffix,
    Platform,
    WheelTags,
    abi_interpreter,
    parse_module_name,
    platform_of_module,
    platform_of_tag,
    python_tag_interpreters,
    tags_from_filename,
    tags_from_wheel_file,
    width_of,
)

ERROR_KINDS = frozenset(
    {
        "interpreter-mismatch",
        "not-abi3",
        "free-threading-mismatch",
        "platform-mismatch",
        "pointer-width",
        "binary-in-pure-wheel",
        "unreadable",
    }
)
_MAX_MODULE = 256 * 1024 * 1024
_FORMAT_OF_OS = {"linux": "elf", "macos": "mach-o", "windows": "pe"}
_OS_NAMES = {"linux": "Linux", "macos": "macOS", "windows": "Windows"}
_FORMAT_NAMES = {"elf": "ELF", "mach-o": "Mach-O", "pe": "PE", "unknown": "unknown"}
_VENDORED = (".libs", ".dylibs")  # auditwheel / delocate put shared libraries there


@dataclass(frozen=True)
class WheelFinding:
    path: str
    """``WHEEL!member`` for a module, the wheel's path for the wheel itself."""
    kind: str
    detail: str

    @property
    def severity(self) -> str:
        return "error" if self.kind in ERROR_KINDS else "warning"

    def to_json(self) -> dict[str, str]:
        return {
            "path": self.path,
            "kind": self.kind,
            "detail": self.detail,
            "severity": self.severity,
        }


@dataclass
class WheelReport:
    findings: list[WheelFinding] = field(default_factory=list)
    checked: int = 0
    """Extension modules examined."""
    wheels: list[dict[str, Any]] = field(default_factory=list)

    def count(self, severity: str) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    @property
    def exit_code(self) -> int:
        return 1 if self.count("error") else 0

    def to_json(self) -> dict[str, Any]:
        return {**findings_json(self), "wheels": self.wheels}


# --- one module against the wheel's tags ---------------------------------------------


def _check_interpreter(
    where: str, module: ModuleSuffix, tags: WheelTags, out: list[WheelFinding]
) -> None:
    abis = [abi_interpreter(a) for a in tags.abi]
    wanted = [a for a in abis if a is not None]
    if "abi3" in tags.abi:
        if module.kind == "tagged":
            assert module.interpreter is not None
            out.append(
                WheelFinding(
                    where,
                    "not-abi3",
                    f"the wheel is tagged abi3 but {module.suffix} is built for "
                    f"{module.interpreter.name} only; other versions cannot import it",
                )
            )
        return
    if module.kind == "abi3":
        for interp in wanted:
            if interp.impl == "pypy":
                out.append(
                    WheelFinding(
                        where,
                        "interpreter-mismatch",
                        f"an abi3 module in a {interp.name} wheel: PyPy does not load "
                        "CPython's stable ABI",
                    )
                )
            elif interp.free_threaded:
                out.append(
                    WheelFinding(
                        where,
                        "free-threading-mismatch",
                        f"an abi3 module in a {interp.name} wheel: free-threaded CPython "
                        "does not load the stable ABI",
                    )
                )
        return
    if module.kind == "untagged":
        if any(i.impl == "pypy" for i in wanted):
            out.append(
                WheelFinding(
                    where,
                    "untagged-module",
                    f"plain {module.suffix} in a PyPy wheel: PyPy 3.9 imports only its own "
                    "tagged suffix (.pypy39-pp73-<platform>.so)",
                )
            )
        return
    if module.kind != "tagged" or module.interpreter is None:
        return
    got = module.interpreter
    if not wanted:
        wanted = python_tag_interpreters(tags.python)
    if not wanted or any(_same_abi(got, w) for w in wanted):
        return
    same_line = [w for w in wanted if (w.impl, w.version) == (got.impl, got.version)]
    if same_line:
        w = same_line[0]
        out.append(
            WheelFinding(
                where,
                "free-threading-mismatch",
                f"{module.suffix} is for {got.name} but the wheel's abi tag says {w.name}",
            )
        )
        return
    names = ", ".join(sorted(w.name for w in wanted))
    out.append(
        WheelFinding(
            where,
            "interpreter-mismatch",
            f"{module.suffix} is built for {got.name} but the wheel is tagged for {names} "
            f"({tags.text}); it installs there and fails on import",
        )
    )


def _same_abi(got: Any, wanted: Any) -> bool:
    if (got.impl, got.version) != (wanted.impl, wanted.version):
        return False
    if got.impl == "pypy":
        return not wanted.pypy_abi or got.pypy_abi == wanted.pypy_abi
    return bool(got.free_threaded == wanted.free_threaded)


def _check_platform(
    where: str,
    module: ModuleSuffix,
    binary: BinaryInfo,
    platforms: list[tuple[str, Platform]],
    out: list[WheelFinding],
) -> None:
    named = platform_of_module(module)
    for tag, plat in platforms:
        # Windows imports NAME.pyd and NAME.cp311-win_amd64.pyd only (no .abi3.pyd),
        # Linux and macOS only .so files: any other name is never found.
        wants = ".pyd" if plat.os == "windows" else ".so"
        if not module.suffix.endswith(wants) or module.suffix == ".abi3.pyd":
            out.append(
                WheelFinding(
                    where,
                    "platform-mismatch",
                    f"{module.suffix} in a {tag} wheel: {_OS_NAMES[plat.os]} never imports "
                    f"a module of that name (it looks for {wants} files"
                    + (", and no .abi3.pyd)" if plat.os == "windows" else ")"),
                )
            )
        if named is not None and (
            named.os != plat.os
            or (named.arches and not named.arches <= plat.arches)
            or (named.libc and plat.libc and named.libc != plat.libc)
        ):
            out.append(
                WheelFinding(
                    where,
                    "platform-mismatch",
                    f"{module.suffix} names platform {module.platform}, the wheel is tagged {tag}",
                )
            )
        if binary.format == "unknown":
            continue
        expected_format = _FORMAT_OF_OS[plat.os]
        if binary.format != expected_format:
            out.append(
                WheelFinding(
                    where,
                    "platform-mismatch",
                    f"{_FORMAT_NAMES[binary.format]} binary in a {tag} wheel "
                    f"(that platform loads {_FORMAT_NAMES[expected_format]} files)",
                )
            )
            continue
        shown = _FORMAT_NAMES[binary.format]
        for arch in sorted(plat.arches - set(binary.arches)):
            widths = sorted(set(binary.bits))
            if width_of(arch) and width_of(arch) not in widths:
                out.append(
                    WheelFinding(
                        where,
                        "pointer-width",
                        f"the {shown} header says {'/'.join(map(str, widths))}-bit "
                        f"({'+'.join(binary.arches)}); the {tag} tag needs {arch} "
                        f"({width_of(arch)}-bit)",
                    )
                )
            else:
                out.append(
                    WheelFinding(
                        where,
                        "platform-mismatch",
                        f"the {shown} header says {'+'.join(binary.arches)} only; "
                        f"the {tag} tag needs {arch}",
                    )
                )


def _check_init(
    where: str, module: ModuleSuffix, binary: BinaryInfo, out: list[WheelFinding]
) -> None:
    if binary.exports is None or not module.name.isascii() or not module.name.isidentifier():
        return
    init = f"PyInit_{module.name}"
    if init not in binary.exports:
        out.append(
            WheelFinding(
                where,
                "missing-init",
                f"{init} is not exported: `import {module.name}` fails (the module was "
                "renamed after linking, or built under another name)",
            )
        )


# --- one wheel -----------------------------------------------------------------------------


def _is_module_path(name: str) -> bool:
    parts = PurePosixPath(name).parts
    if any(p.endswith(_VENDORED) for p in parts[:-1]):
        return False
    in_data = bool(parts) and parts[0].endswith(".data")
    return not in_data or (len(parts) > 2 and parts[1] in ("purelib", "platlib"))


def _wheel_tags(zf: zipfile.ZipFile) -> WheelTags | None:
    for name in zf.namelist():
        p = PurePosixPath(name)
        if len(p.parts) == 2 and p.parts[0].endswith(".dist-info") and p.name == "WHEEL":
            return tags_from_wheel_file(zf.read(name)[:65536].decode("utf-8", "replace"))
    return None


def audit_wheel(path: Path, display: str, report: WheelReport) -> None:
    out: list[WheelFinding] = []
    modules = 0
    tags = tags_from_filename(path.name)
    try:
        with zipfile.ZipFile(path) as zf:
            if tags is None:
                tags = _wheel_tags(zf)
                if tags is not None:
                    out.append(
                        WheelFinding(
                            display,
                            "bad-wheel-name",
                            "the file name is not name-version-python-abi-platform.whl; "
                            f"tags read from its WHEEL file ({tags.text})",
                        )
                    )
            if tags is None:
                raise WheelAuditError(f"{display}: no tags in its file name or WHEEL file")
            platforms = [(t, p) for t in sorted(tags.platform) if (p := platform_of_tag(t))]
            pure = tags.platform == {"any"} or tags.abi == {"none"}
            for info in zf.infolist():
                module = parse_module_name(PurePosixPath(info.filename).name)
                if module is None or info.is_dir() or not _is_module_path(info.filename):
                    continue
                modules += 1
                where = f"{display}!{info.filename}"
                if pure:
                    out.append(
                        WheelFinding(
                            where,
                            "binary-in-pure-wheel",
                            f"an extension module in a wheel tagged {tags.text}: "
                            "installers put it on every platform and interpreter",
                        )
                    )
                    continue
                _check_interpreter(where, module, tags, out)
                whole = info.file_size <= _MAX_MODULE
                with zf.open(info) as handle:
                    # A huge module (or a zip bomb): its header only, memory stays bounded.
                    binary = read_binary(handle.read(_MAX_MODULE if whole else 65536), whole=whole)
                if binary.format == "unknown" or binary.problem:
                    out.append(WheelFinding(where, "unknown-binary", binary.problem))
                _check_platform(where, module, binary, platforms, out)
                _check_init(where, module, binary, out)
    except WheelAuditError as exc:
        out.append(WheelFinding(display, "unreadable", str(exc).removeprefix(f"{display}: ")))
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        out.append(WheelFinding(display, "unreadable", f"cannot read: {exc}"))
    # A wheel with several platform tags (manylinux_2_17_x86_64.manylinux2014_x86_64)
    # would say the same thing once per tag.
    seen: set[tuple[str, str]] = set()
    for finding in out:
        if (finding.path, finding.kind) not in seen:
            seen.add((finding.path, finding.kind))
            report.findings.append(finding)
    report.checked += modules
    report.wheels.append({"path": display, "tags": tags.text if tags else None, "modules": modules})


def audit_wheels(paths: list[str]) -> WheelReport:
    """Audit wheel files, and every ``*.whl`` in the directories given; see the module doc.

    A path that does not exist or is neither a wheel nor a directory raises
    ``WheelAuditError`` (bad input); a wheel that cannot be read is a finding.
    """
    report = WheelReport()
    for text in paths:
        path = Path(text)
        if path.is_dir():
            for wheel in sorted(path.rglob("*.whl")):
                if wheel.is_file():
                    audit_wheel(wheel, str(Path(text) / wheel.relative_to(path)), report)
        elif path.is_file() and path.name.lower().endswith(".whl"):
            audit_wheel(path, text, report)
        elif path.exists():
            raise WheelAuditError(f"{text} is not a wheel (.whl) or a directory of wheels")
        else:
            raise WheelAuditError(f"{text} does not exist")
    return report


def audit_dist_wheels(dist: str | os.PathLike[str]) -> WheelReport | None:
    """The save action's check: the wheels in ``dist/``; None when it holds none."""
    folder = Path(dist)
    if not folder.is_dir() or not any(folder.glob("*.whl")):
        return None
    return audit_wheels([str(folder)])


# --- renderers -------------------------------------------------------------------------------


def render_text(report: WheelReport) -> str:
    from pyo3_cache.bytecode.render import finding_line

    lines = [finding_line(f) for f in report.findings]
    wheels = len(report.wheels)
    lines.append(
        f"{report.checked} extension module(s) in {wheels} wheel(s): "
        f"{report.count('error')} error(s), {report.count('warning')} warning(s)"
    )
    return "\n".join(lines) + "\n"


def render_json(report: WheelReport) -> str:
    from pyo3_cache.bytecode.render import render_json

    return render_json(report)


def render_markdown(report: WheelReport) -> str:
    from pyo3_cache.bytecode.render import code_span
    from pyo3_cache.explain.render import escape_markdown

    if not report.findings:
        return ""
    rows = [
        f"| {f.severity} | `{f.kind}` | {code_span(f.path)} | {escape_markdown(f.detail)} |"
        for f in report.findings
    ]
    return (
        "### Wheel tags\n\n| severity | kind | module | detail |\n|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )
