#!/usr/bin/env bash
# Make pyo3-cache runnable for this job without building anything.
#
# The tool runs from the action's own checkout ($GITHUB_ACTION_PATH/src): no
# source build per job, in a venv without pip under the runner's tool cache,
# reused by every later job on the same runner (self-hosted runners, act):
# then this step costs one `test -f`. On Python 3.11+ with the zstd command
# on PATH (GitHub's images) the tool needs no package and the venv is bare:
# made in about 0.1 s (`python -m venv --without-pip`; a pip bootstrap would
# cost 5 s) and never cached. Otherwise (tomli before 3.11, zstandard without
# the zstd command) the venv is restored from the Actions cache (the step
# before this one, keyed by scripts/tool-ident.sh's ident) or made once, the
# packages installed with uv when it is on PATH, else pip. The user's Python
# environment is never touched.
#
# The job's entry points are fixed here, under runner.temp, in a folder only
# this user can write: `pyo3-cache/python` (a link to the venv's interpreter)
# and `pyo3-cache/tool` (which venv, for which action checkout). The save
# action reads them from there (scripts/tool.sh), never from $GITHUB_ENV.
#
# Env: INPUT_PYTHON (may be empty), PYO3_CACHE_TEMP (runner.temp),
# PYO3_CACHE_TOOL_CACHE (runner.tool_cache; may be empty), TOOL_IDENT and
# TOOL_PRESENT (the outputs of scripts/tool-ident.sh's step; may be empty).
set -euo pipefail
start="${EPOCHREALTIME:-}"
# py, root, temp, tools, ident, venv
# shellcheck source=tool-ident.sh
source "$(dirname "${BASH_SOURCE[0]}")/tool-ident.sh"
if [ -x "$venv/bin/python" ]; then
  vpy="$venv/bin/python"
else
  vpy="$venv/Scripts/python.exe"
fi
how="kept"
if [ "${TOOL_PRESENT:-}" != "true" ] && [ -f "$venv/.complete" ]; then
  # It appeared during this job: restored from the Actions cache (or a
  # half-extracted entry, or another job's): use it only if its compiled
  # dependency loads.
  how="restored"
  modules="$(printf '%s\n' $needs | sed -e 's/[<>=!~,].*//' -e 's/-/_/g' | paste -sd, -)"
  if [ -n "$modules" ] && ! "$vpy" -I -c "import $modules" >/dev/null 2>&1; then
    echo "::warning title=pyo3-cache::the tool venv restored from the cache does not run; making it again"
    rm -rf "$venv"
  fi
fi
if [ ! -f "$venv/.complete" ]; then
  how="made"
  mkdir -p "$tools/pyo3-cache"
  fresh="$(mktemp -d "$tools/pyo3-cache/.new.XXXXXX")"
  "$py" -m venv --without-pip "$fresh"
  if [ -x "$fresh/bin/python" ]; then fpy="$fresh/bin/python"; else fpy="$fresh/Scripts/python.exe"; fi
  # one interpreter start for the venv's site-packages, absolute and relative
  {
    IFS= read -r site || true
    IFS= read -r rel || true
  } < <("$fpy" -I -c 'import os, sys, sysconfig; p = sysconfig.get_paths()["purelib"]; print(p); print(os.path.relpath(p, sys.prefix))')
  if [ -z "$site" ] || [ -z "$rel" ]; then
    rm -rf "$fresh"
    echo "::warning title=pyo3-cache::the new tool venv's interpreter does not run; pyo3-cache is off for this job"
    exit 1
  fi
  printf '%s\n' "$rel" > "$fresh/.site"
  deps=()  # the packages this interpreter lacks (tool-ident.sh); none: a bare venv
  for dep in $needs; do deps+=("$dep"); done
  if [ "${#deps[@]}" -eq 0 ]; then
    echo "pyo3-cache: no package to install (Python 3.11+, zstd on PATH): a bare venv"
  elif command -v uv >/dev/null 2>&1; then
    echo "pyo3-cache: installing ${deps[*]} with uv"
    uv pip install --quiet --python "$fpy" "${deps[@]}"
  elif ! "$py" -m pip --version >/dev/null 2>&1; then
    rm -rf "$fresh"
    echo "::warning title=pyo3-cache::$py has no pip and uv is not on PATH, so pyo3-cache's dependencies (${deps[*]}) cannot be installed; pyo3-cache is off for this job"
    exit 1
  else
    echo "pyo3-cache: installing ${deps[*]} with pip"
    "$py" -m pip install --quiet --disable-pip-version-check --no-input \
      --target "$site" "${deps[@]}"
  fi
  touch "$fresh/.complete"
  # Another job on this runner may have finished the same venv meanwhile.
  if [ -f "$venv/.complete" ]; then
    rm -rf "$fresh"
  else
    rm -rf "$venv"  # a half-made one (a killed job)
    mv "$fresh" "$venv"
  fi
  if [ -x "$venv/bin/python" ]; then vpy="$venv/bin/python"; else vpy="$venv/Scripts/python.exe"; fi
fi
# For `"$PYO3_CACHE_PYTHON" -m pyo3_cache` in the user's steps: the tool is
# imported from this job's action checkout. Our own steps do not rely on it
# (scripts/tool.sh runs scripts/launch.py of the checkout it belongs to).
site="$venv/$(cat "$venv/.site")"
if [ "$(cat "$site/pyo3_cache_checkout.pth" 2>/dev/null)" != "$root/src" ]; then
  echo "$root/src" > "$site/pyo3_cache_checkout.pth"
fi
own="$temp/pyo3-cache"
mkdir -p "$own"
chmod 700 "$own"
ln -sfn "$vpy" "$own/python"
printf '%s\n' "$venv" > "$own/tool"
# The venv goes to the Actions cache only if this job made it and it holds
# packages (a bare one is quicker to make than to restore).
if [ "$how" = "made" ] && [ "$bare" != "true" ]; then
  printf '%s\n' "$venv" > "$own/tool-made"
else
  rm -f "$own/tool-made"
fi
echo "python=$vpy" >> "$GITHUB_OUTPUT"
# For the user's own steps (e.g. `"$PYO3_CACHE_PYTHON" -m pyo3_cache explain`);
# our save action does not read it.
echo "PYO3_CACHE_PYTHON=$vpy" >> "$GITHUB_ENV"
if [ -n "$start" ]; then
  awk -v a="$start" -v b="${EPOCHREALTIME}" -v how="$how" \
    'BEGIN { printf "pyo3-cache: install %.2f s (venv %s)\n", b - a, how }'
fi
