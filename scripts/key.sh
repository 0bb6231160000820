#!/usr/bin/env bash
# The key step: the Rust cache key (outputs key, restore-keys, manifest), the
# folders the entry holds (contents), the entry dir actions/cache stores
# (paths) and the wheel key (wheel-key, wheel-path, wheel-restore-keys,
# wheel-manifest), all in one Python process.
set -euo pipefail
start="${EPOCHREALTIME:-}"
bash "$(dirname "${BASH_SOURCE[0]}")/tool.sh" action keys
if [ -n "$start" ]; then
  awk -v a="$start" -v b="${EPOCHREALTIME}" 'BEGIN { printf "pyo3-cache: key %.2f s\n", b - a }'
fi
