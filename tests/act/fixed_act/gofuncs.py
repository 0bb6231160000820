#!/usr/bin/env python3
"""List functions (entry address, name) of a stripped Go >= 1.20 ELF binary
from its .gopclntab, e.g. to find where act creates its random host dir."""

import struct
import sys
from pathlib import Path


def sections(data):
    (shoff,) = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = hdrs[shstrndx][4]
    out = {}
    for h in hdrs:
        name = data[stroff + h[0] : data.index(b"\0", stroff + h[0])].decode()
        out[name] = h  # (name, type, flags, addr, offset, size, ...)
    return out


def funcs(path):
    data = Path(path).read_bytes()
    sec = sections(data)
    _, _, _, _addr, off, size, *_ = sec[".gopclntab"]
    p = data[off : off + size]
    (magic,) = struct.unpack_from("<I", p, 0)
    assert magic in (0xFFFFFFF1, 0xFFFFFFF0), hex(magic)
    nfunc, _nfiles, text_start, funcname_off, _cu_off, _filetab_off, _pctab_off, pcln_off = (
        struct.unpack_from("<QQQQQQQQ", p, 8)
    )
    ftab = pcln_off
    res = []
    for i in range(nfunc):
        entryoff, funcoff = struct.unpack_from("<II", p, ftab + i * 8)
        f = pcln_off + funcoff
        _entry, nameoff = struct.unpack_from("<Ii", p, f)
        s = funcname_off + nameoff
        name = p[s : p.index(b"\0", s)].decode(errors="replace")
        res.append((text_start + entryoff, name))
    (end_entry,) = struct.unpack_from("<I", p, ftab + nfunc * 8)
    return res, text_start + end_entry, sec


if __name__ == "__main__":
    fl, end, _ = funcs(sys.argv[1])
    pats = sys.argv[2:]
    for i, (a, n) in enumerate(fl):
        if not pats or any(x in n for x in pats):
            nxt = fl[i + 1][0] if i + 1 < len(fl) else end
            print(f"{a:#x} {nxt:#x} {n}")
