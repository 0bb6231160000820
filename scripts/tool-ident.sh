#!/usr/bin/env bash
# Which tool venv this job needs, and whether the runner already has it.
#
# Run as the action's first step: prints the outputs `ident` (the venv's
# name), `venv` (its folder, under runner.tool_cache/pyo3-cache/) and
# `present` (true when a complete venv is there), so the next step can
# restore a missing venv from the Actions cache before install.sh makes one.
# Sourced by install.sh for the same variables (py, root, temp, tools, ident,
# venv).
#
# Env: INPUT_PYTHON (may be empty; its first line), PYO3_CACHE_TEMP (runner.temp),
# PYO3_CACHE_TOOL_CACHE (runner.tool_cache; may be empty), TOOL_IDENT (the
# first step's output, when sourced; recomputed when it is not one).
set -euo pipefail
# The python input may list several interpreters: the tool runs on the first.
py="$(printf '%s\n' "${INPUT_PYTHON:-}" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' | head -n 1)"
if [ -z "$py" ]; then
  py="$(command -v python3 || command -v python || true)"
fi
root="$(cd "$GITHUB_ACTION_PATH" && pwd -P)"
temp="${PYO3_CACHE_TEMP:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}}"
tools="${PYO3_CACHE_TOOL_CACHE:-${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}}}"
# What the venv depends on: the interpreter and the dependency list. Any
# change gives a new venv beside the old one (and a new cache key). One
# interpreter start, which also checks it is 3.9+; none when the first step
# already gave the ident for the same interpreter.
ident_of() {
  "$1" - "$root" <<'PY'
import hashlib, os, re, sys
if sys.version_info < (3, 9):
    sys.exit(1)
with open(os.path.join(sys.argv[1], "pyproject.toml"), encoding="utf-8") as f:
    deps = re.search(r"^dependencies = \[(.*?)^\]", f.read(), re.S | re.M).group(1)
parts = [os.path.realpath(sys.executable), sys.version, deps]
print(f"py{sys.version_info[0]}{sys.version_info[1]}-" + hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16])
PY
}
ident="${TOOL_IDENT:-}"
if ! [[ "$ident" =~ ^py[0-9]+-[0-9a-f]{16}$ ]]; then
  ident=""
  if [ -n "$py" ]; then ident="$(ident_of "$py" 2>/dev/null || true)"; fi
fi
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
  } >> "$GITHUB_OUTPUT"
fi
