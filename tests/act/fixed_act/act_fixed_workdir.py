#!/usr/bin/env python3
"""Make a copy of act whose self-hosted per-run folder is always
<action-cache-path>/0000000000000000 instead of 16 random hex digits.

Why: in self-hosted mode act puts GITHUB_WORKSPACE and RUNNER_TEMP under a
fresh random folder on every run (pkg/runner/run_context.go,
startHostEnvironment: `rand.Read(randBytes)` → hex). GitHub's runners keep
both at one path (/home/runner/work/<repo>/<repo>, /home/runner/work/_temp),
and actions/cache's entry "version" hashes the literal `path` strings, so with
act's random folder no absolute-path cache can ever be restored.

The patch NOPs the one `call crypto/rand.Read` in that closure, leaving the
zeroed 8-byte buffer. It locates the closure from .gopclntab and checks the
instruction pattern (movq $0 buf; lea buf,rax; mov $8,ebx; mov rbx,rcx; call
crypto/rand.Read; lea buf,rax; mov $8,ebx; mov rbx,rcx; call
encoding/hex.EncodeToString) before touching anything.

From the team's shared act tools; tests/act use it, the product never does.
"""

import re
import struct
import sys
from pathlib import Path

sys.path.insert(0, __import__("os").path.dirname(__file__))
from gofuncs import funcs

src, dst = sys.argv[1], sys.argv[2]
data = bytearray(Path(src).read_bytes())
fl, end, sec = funcs(src)
text_addr, text_off = sec[".text"][3], sec[".text"][4]
# Go 1.26 leaves pclntab's textStart 0: entries are offsets from .text
base = text_addr if fl[0][0] < text_addr else 0
addr = {n: a + base for a, n in fl}
rng = {}
for i, (a, n) in enumerate(fl):
    rng[n] = (a + base, (fl[i + 1][0] if i + 1 < len(fl) else end) + base)
host = [n for n in rng if n.endswith("startHostEnvironment.1")]
assert len(host) == 1, host
lo, hi = rng[host[0]]
rand_read, hex_enc = addr["crypto/rand.Read"], addr["encoding/hex.EncodeToString"]
f_lo, f_hi = lo - text_addr + text_off, hi - text_addr + text_off
code = bytes(data[f_lo:f_hi])
# lea disp(%rsp),%rax ; mov $8,%ebx ; mov %rbx,%rcx ; call rel32   (twice)
pat = re.compile(
    rb"\x48\x8d\x44\x24(.)\xbb\x08\x00\x00\x00\x48\x89\xd9\xe8(.{4})"
    rb"\x48\x8d\x44\x24\1\xbb\x08\x00\x00\x00\x48\x89\xd9\xe8(.{4})",
    re.S,
)
hits = []
for m in pat.finditer(code):
    call1 = f_lo + m.start(2) - 1  # file offset of the first e8
    va1 = call1 - text_off + text_addr
    t1 = va1 + 5 + struct.unpack("<i", m.group(2))[0]
    va2 = f_lo + m.start(3) - 1 - text_off + text_addr
    t2 = va2 + 5 + struct.unpack("<i", m.group(3))[0]
    if t1 == rand_read and t2 == hex_enc:
        hits.append((call1, va1))
if not hits and b"\x0f\x1f\x44\x00\x00\x48\x8d\x44\x24" in code:
    print("already patched?")
    sys.exit(1)
assert len(hits) == 1, hits
off, va = hits[0]
print(f"{host[0]} @ {lo:#x}: NOP call crypto/rand.Read at {va:#x} (file offset {off:#x})")
data[off : off + 5] = b"\x0f\x1f\x44\x00\x00"
Path(dst).write_bytes(bytes(data))
__import__("os").chmod(dst, 0o755)
