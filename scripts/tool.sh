#!/usr/bin/env bash
# Run pyo3-cache for one of our steps: this checkout's code (scripts/launch.py)
# on the interpreter the install step fixed for this job, after checking it,
# in isolated mode (python -I: PYTHONPATH, PYTHONHOME and the user site are
# ignored).
#
# Where things are comes from the runner context (PYO3_CACHE_TEMP and
# PYO3_CACHE_TOOL_CACHE, which the step sets from runner.temp and
# runner.tool_cache) and from this file's own place, never from $GITHUB_ENV:
# a build step can write any variable there (PYO3_CACHE_PYTHON=/tmp/evil.sh,
# RUNNER_TEMP=...), and the save action runs after the build.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
temp="${PYO3_CACHE_TEMP:?PYO3_CACHE_TEMP is set by the step from runner.temp}"
tools="${PYO3_CACHE_TOOL_CACHE:?PYO3_CACHE_TOOL_CACHE is set by the step from runner.tool_cache}"
own="$temp/pyo3-cache"
refuse() {
  # Not a failed step: a cache tool never turns a build red.
  echo "::warning title=pyo3-cache::$1; pyo3-cache skipped this step"
  exit 0
}
[ -d "$own" ] || refuse "pyo3-cache/save runs after the pyo3-cache action; nothing to save"
{ [ -O "$own" ] && [ ! -L "$own" ]; } || refuse "$own is not this user's own folder"
case "$(stat -c %a "$own" 2>/dev/null || stat -f %Lp "$own")" in
  700) ;;
  *) refuse "$own is open to other users" ;;
esac
{ [ -L "$own/python" ] && [ -f "$own/tool" ]; } || refuse "the install step's record in $own is missing"
venv="$(cat "$own/tool")"
py="$(readlink "$own/python")"
case "$venv" in
  "$tools/pyo3-cache/py"*) ;;
  *) refuse "the recorded venv is not in the runner's tool cache" ;;
esac
case "$py" in
  "$venv/bin/python" | "$venv/Scripts/python.exe") ;;
  *) refuse "the recorded interpreter is not the tool venv's" ;;
esac
[ -f "$venv/.complete" ] || refuse "the recorded venv is incomplete"
if [ "${1:-}" = "tool-venv" ]; then
  # The save action's question: did the install step make the venv in this
  # job (then it goes to the Actions cache)? Answered from our state only.
  if [ "$(cat "$own/tool-made" 2>/dev/null)" = "$venv" ]; then
    {
      echo "save=true"
      echo "path=$venv"
      echo "ident=${venv##*/}"
    } >> "$GITHUB_OUTPUT"
    echo "pyo3-cache: tool venv made in this job; saving it to the cache"
  fi
  exit 0
fi
export RUNNER_TEMP="$temp"
# The workspace from the runner context too (the entry dir lives in it).
if [ -n "${PYO3_CACHE_WORKSPACE:-}" ]; then
  export GITHUB_WORKSPACE="$PYO3_CACHE_WORKSPACE"
fi
exec "$py" -I "$root/scripts/launch.py" "$@"
