#!/usr/bin/env bash
# Which tool venv this job needs, and whether the runner already has it.
#
# Run as the action's first step: prints the outputs `ident` (the venv's
# name), `venv` (its folder, under runner.tool_cache/pyo3-cache/) and
# `present` (true when a complete venv is there), `bare` (true when the venv
# needs no package: nothing to restore) and `needs` (the packages it gets),
# so the next step can restore a missing venv from the Actions cache before
# install.sh makes one.
# Sourced by install.sh for the same variables (py, root, temp, tools, ident,
# needs, bare, venv).
#
# Env: INPUT_PYTHON (may be empty; its first line), PYO3_CACHE_TEMP (runner.temp),
# PYO3_CACHE_TOOL_CACHE (runner.tool_cache; may be empty), TOOL_IDENT and
# TOOL_NEEDS (the first step's outputs, when sourced; recomputed when they
# are not ones).
set -euo pipefail
# The python input may list several interpreters: the tool runs on the first.
py="$(printf '%s\n' "${INPUT_PYTHON:-}" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' | head -n 1)"
if [ -z "$py" ]; then
  py="$(command -v python3 || command -v python || true)"
fi
root="$(cd "$GITHUB_ACTION_PATH" && pwd -P)"
temp="${PYO3_CACHE_TEMP:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}"
tools="${PYO3_CACHE_TOOL_CACHE:-${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}}"
# What the venv depends on: the interpreter and the dependencies it lacks.
# The tool needs no third-party package on Python 3.11+ with the zstd command
# on PATH (GitHub's images have it; actions/cache uses it): then the venv is
# bare (no site-packages of the base interpreter leak in), made in 0.1 s and
# never cached. Otherwise it gets tomli (before 3.11) and zstandard (no zstd
# command). Any change gives a new venv beside the old one (and a new cache
# key). One interpreter start, which also checks it is 3.9+; none when the
# first step already gave the ident and the list for the same interpreter.
ident_of() {
  "$1" - "$root" <<'PY'
import hashlib, os, re, shutil, sys
if sys.version_info < (3, 9):
    sys.exit(1)
with open(os.path.join(sys.argv[1], "pyproject.toml"), encoding="utf-8") as f:
    block = re.search(r"^dependencies = \[(.*?)^\]", f.read(), re.S | re.M).group(1)
# a dependency the action can do without, and what stands in for it
# (PYO3_CACHE_ZSTD=module asks for the module anyway)
instead = {
    "zstandard": lambda: os.environ.get("PYO3_CACHE_ZSTD") != "module" and shutil.which("zstd"),
}
needs = []
for dep in re.findall(r'"([^"]+)"', block):
    req, _, marker = (part.strip() for part in dep.partition(";"))
    m = re.fullmatch(r"python_version\s*<\s*'(\d+)\.(\d+)'", marker)
    if marker and not (m and sys.version_info[:2] < (int(m.group(1)), int(m.group(2)))):
        continue
    name = re.match(r"[A-Za-z0-9_.-]+", req).group(0).lower()
    if name in instead and instead[name]():
        continue
    needs.append(req)
parts = [os.path.realpath(sys.executable), sys.version, *needs]
tag = "-bare" if not needs else ""
digest = hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]
print(f"py{sys.version_info[0]}{sys.version_info[1]}{tag}-{digest}")
print(" ".join(needs))
PY
}
ident="${TOOL_IDENT:-}"
needs="${TOOL_NEEDS:-}"
# The first step's pair is taken as it is only when it agrees with itself
# (a bare ident with no packages, any other with some).
valid=false
if [[ "$ident" =~ ^py[0-9]+-bare-[0-9a-f]{16}$ ]]; then
  [ -z "$needs" ] && valid=true
elif [[ "$ident" =~ ^py[0-9]+-[0-9a-f]{16}$ ]] && [[ "$needs" =~ ^[A-Za-z0-9_.\<\>=!~,\ -]+$ ]]; then
  valid=true
fi
if [ "$valid" != true ]; then
  ident=""
  needs=""
  if [ -n "$py" ]; then
    out="$(ident_of "$py" 2>/dev/null || true)"
    ident="$(printf '%s\n' "$out" | sed -n 1p)"
    needs="$(printf '%s\n' "$out" | sed -n 2p)"
  fi
fi
bare=false
case "$ident" in *-bare-*) bare=true ;; esac
if [ -z "$ident" ]; then
  # As a step: no outputs, nothing to restore; the install step says why.
  [ "${BASH_SOURCE[0]}" != "$0" ] || exit 0
  echo "::warning title=pyo3-cache::no Python 3.9+ found (set the python input); pyo3-cache is off for this job"
  exit 1
fi
venv="$tools/pyo3-cache/$ident"
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  present=false
  if [ -f "$venv/.complete" ]; then present=true; fi
  {
    echo "ident=$ident"
    echo "venv=$venv"
    echo "present=$present"
    echo "bare=$bare"
    echo "needs=$needs"
  } >> "$GITHUB_OUTPUT"
fi
