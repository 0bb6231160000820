"""The headers of an extension module: ELF, Mach-O (thin or fat) and PE.

Only what a wheel's platform tag promises is read: the file format, the CPU
(and for ELF the 32/64-bit class and byte order, for PE whether it is PE32 or
PE32+), and the exported symbols, to find ``PyInit_<name>``.  Layouts from the
System V gABI (``elf.h``), Apple's ``<mach-o/loader.h>`` / ``<mach-o/fat.h>``
and Microsoft's PE/COFF specification.  Every read is bounds-checked: a
truncated or hostile file gives a ``BinaryInfo`` with what could be read and
a ``problem``, never an exception.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass, field

# ELF e_machine values; EM_PPC64 covers ppc64 and ppc64le (told apart by byte order).
_ELF_MACHINES = {3: "i686", 62: "x86_64", 183: "aarch64", 40: "armv7l", 20: "ppc", 21: "ppc64"}
_ELF_MACHINES.update({22: "s390x", 243: "riscv64", 258: "loongarch64"})
_MACHO_CPUS = {7: "i686", 0x01000007: "x86_64", 12: "armv7l", 0x0100000C: "aarch64"}
_MACHO_CPUS.update({18: "ppc", 0x01000012: "ppc64"})
_PE_MACHINES = {0x14C: "i686", 0x8664: "x86_64", 0xAA64: "aarch64", 0x1C4: "armv7l"}


@dataclass
class BinaryInfo:
    format: str
    """``elf``, ``mach-o``, ``pe`` or ``unknown``."""
    arches: list[str] = field(default_factory=list)
    """The CPU of each slice (one, or several for a fat Mach-O)."""
    bits: list[int] = field(default_factory=list)
    """32 or 64 per slice, from the header's class, not from the CPU's name."""
    exports: set[str] | None = None
    """Exported symbol names (Mach-O's without the leading ``_``); None if not read."""
    problem: str = ""


class _Short(Exception):
    pass


def _unpack(fmt: str, data: bytes, offset: int) -> tuple[int, ...]:
    if offset < 0 or offset + struct.calcsize(fmt) > len(data):
        raise _Short
    return struct.unpack_from(fmt, data, offset)


def _cstring(data: bytes, offset: int, limit: int = 4096) -> str:
    if offset < 0 or offset >= len(data):
        raise _Short
    end = data.find(b"\0", offset, offset + limit)
    return data[offset : end if end >= 0 else offset + limit].decode("latin-1")


def read_binary(data: bytes, *, whole: bool = True) -> BinaryInfo:
    """What ``data`` is; see the module's docstring.

    ``whole=False``: ``data`` is only the file's start (a module too large to
    read): the header is read, the symbols are not (``exports`` stays None).
    """
    if data.startswith(b"\x7fELF"):
        info = _guarded(_elf, data, "elf")
    elif data.startswith(b"MZ"):
        info = _guarded(_pe, data, "pe")
    elif data[:4] in (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"):
        info = _guarded(_macho, data, "mach-o")
    else:
        return BinaryInfo("unknown", problem="not an ELF, Mach-O or PE file")
    fat = data[:4] == b"\xca\xfe\xba\xbe"
    if not whole and info.problem and info.arches and not fat:
        # The symbols lie past what was read; the header itself was whole.
        info.problem, info.exports = "", None
    return info


def _guarded(reader: Callable[[bytes, BinaryInfo], None], data: bytes, fmt: str) -> BinaryInfo:
    info = BinaryInfo(fmt)
    try:
        reader(data, info)
    except (_Short, struct.error, IndexError):
        name = {"elf": "ELF", "pe": "PE", "mach-o": "Mach-O"}[fmt]
        info.problem = f"the {name} header is truncated or malformed"
        info.exports = None
    return info


# --- ELF --------------------------------------------------------------------------------


def _elf(data: bytes, info: BinaryInfo) -> None:
    ei_class, ei_data = data[4], data[5] if len(data) > 5 else 0
    if ei_class not in (1, 2) or ei_data not in (1, 2):
        raise _Short
    end = "<" if ei_data == 1 else ">"
    wide = ei_class == 2
    (machine,) = _unpack(end + "H", data, 18)
    arch = _ELF_MACHINES.get(machine, f"elf-machine-{machine}")
    if arch == "ppc64" and end == "<":
        arch = "ppc64le"
    info.arches, info.bits = [arch], [64 if wide else 32]
    header = end + ("QIHHHHHH" if wide else "IIHHHHHH")
    shoff, _, _, _, _, shentsize, shnum, _ = _unpack(header, data, 0x28 if wide else 0x20)
    section = end + ("IIQQQQIIQQ" if wide else "IIIIIIIIII")
    sections = []
    for i in range(min(shnum, 4096)):
        fields = _unpack(section, data, shoff + i * shentsize)
        _, sh_type, _, _, off, size, link, _, _, entsize = fields
        sections.append((sh_type, off, size, link, entsize))
    exports: set[str] = set()
    for sh_type, off, size, link, entsize in sections:
        if sh_type != 11 or not entsize or link >= len(sections):  # SHT_DYNSYM
            continue
        str_off = sections[link][1]
        for n in range(min(size // entsize, 200_000)):
            base = off + n * entsize
            if wide:
                name, st_info, _, shndx = _unpack(end + "IBBH", data, base)
            else:
                name, _, _, st_info, _, shndx = _unpack(end + "IIIBBH", data, base)
            if shndx != 0 and st_info >> 4 in (1, 2):  # defined; GLOBAL or WEAK
                exports.add(_cstring(data, str_off + name))
    info.exports = exports


# --- Mach-O ------------------------------------------------------------------------------


def _macho(data: bytes, info: BinaryInfo) -> None:
    if data[:4] == b"\xca\xfe\xba\xbe":  # fat: big-endian header, one entry per slice
        (count,) = _unpack(">I", data, 4)
        if count > 32:
            raise _Short
        for i in range(count):
            _, _, offset, _, _ = _unpack(">iiIII", data, 8 + 20 * i)
            _macho_slice(data, offset, info)
        return
    _macho_slice(data, 0, info)


def _macho_slice(data: bytes, start: int, info: BinaryInfo) -> None:
    magic, cputype, _, _, ncmds, _, _ = _unpack("<IiiIIII", data, start)
    wide = magic == 0xFEEDFACF
    if magic not in (0xFEEDFACF, 0xFEEDFACE):
        raise _Short
    info.arches.append(_MACHO_CPUS.get(cputype & 0xFFFFFFFF, f"mach-o-cpu-{cputype}"))
    info.bits.append(64 if wide else 32)
    offset = start + (32 if wide else 28)
    exports: set[str] = set()
    for _ in range(min(ncmds, 4096)):
        cmd, cmdsize = _unpack("<II", data, offset)
        if cmd == 0x2:  # LC_SYMTAB
            symoff, nsyms, stroff, _ = _unpack("<IIII", data, offset + 8)
            size = 16 if wide else 12
            for n in range(min(nsyms, 200_000)):
                strx, n_type = _unpack("<IB", data, start + symoff + n * size)
                if n_type & 0x01 and n_type & 0x0E == 0x0E:  # N_EXT, N_SECT: defined, exported
                    exports.add(_cstring(data, start + stroff + strx).removeprefix("_"))
        if cmdsize < 8:
            raise _Short
        offset += cmdsize
    info.exports = exports if info.exports is None else info.exports & exports


# --- PE ----------------------------------------------------------------------------------


def _pe(data: bytes, info: BinaryInfo) -> None:
    (lfanew,) = _unpack("<I", data, 0x3C)
    if data[lfanew : lfanew + 4] != b"PE\0\0":
        raise _Short
    machine, nsections, _, _, _, opt_size, _ = _unpack("<HHIIIHH", data, lfanew + 4)
    opt = lfanew + 24
    (opt_magic,) = _unpack("<H", data, opt)
    info.arches = [_PE_MACHINES.get(machine, f"pe-machine-{machine:#x}")]
    info.bits = [64 if opt_magic == 0x20B else 32]
    export_rva, _ = _unpack("<II", data, opt + (112 if opt_magic == 0x20B else 96))
    sections = []
    for i in range(min(nsections, 96)):
        base = opt + opt_size + 40 * i
        vsize, vaddr, rawsize, rawptr = _unpack("<IIII", data, base + 8)
        sections.append((vaddr, max(vsize, rawsize), rawptr))

    def offset_of(rva: int) -> int:
        for vaddr, size, rawptr in sections:
            if vaddr <= rva < vaddr + size:
                return rawptr + rva - vaddr
        raise _Short

    info.exports = set()
    if not export_rva:
        return
    directory = offset_of(export_rva)
    (count,) = _unpack("<I", data, directory + 24)
    (names_rva,) = _unpack("<I", data, directory + 32)
    names = offset_of(names_rva) if count else 0
    for n in range(min(count, 200_000)):
        (name_rva,) = _unpack("<I", data, names + 4 * n)
        info.exports.add(_cstring(data, offset_of(name_rva)))
