#!/usr/bin/env bash
# Install pyo3-cache from the action's own checkout into a private venv, so the
# user's Python environment is left exactly as it was.
set -euo pipefail
py="${INPUT_PYTHON:-}"
if [ -z "$py" ]; then
  py="$(command -v python3 || command -v python || true)"
fi
if [ -z "$py" ]; then
  echo "::warning title=pyo3-cache::no Python found (set the python input); pyo3-cache is off for this job"
  exit 1
fi
root="$GITHUB_ACTION_PATH"
venv="${RUNNER_TEMP:-${TMPDIR:-/tmp}}/pyo3-cache-venv"
if [ ! -d "$venv" ]; then
  "$py" -m venv "$venv"
fi
if [ -x "$venv/bin/python" ]; then
  vpy="$venv/bin/python"
else
  vpy="$venv/Scripts/python.exe"
fi
if command -v uv >/dev/null 2>&1; then
  # uv installs in a second where pip takes ten; same result.
  uv pip install --quiet --python "$vpy" "$root"
else
  "$vpy" -m pip install --quiet --disable-pip-version-check --no-input "$root"
fi
echo "PYO3_CACHE_PYTHON=$vpy" >> "$GITHUB_ENV"
