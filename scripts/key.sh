#!/usr/bin/env bash
# Compute the cache key (outputs key, restore-keys, manifest), the folders the
# cache entry holds (contents) and the entry dir actions/cache stores (paths).
set -euo pipefail
args=(key --github --prefix-key "$INPUT_PREFIX_KEY")
if [ -n "$INPUT_SHARED_KEY" ]; then
  args+=(--shared-key "$INPUT_SHARED_KEY")
fi
primary="$(printf '%s\n' "${INPUT_PYTHON:-}" | sed -e 's/^[[:space:]]*//' -e 's/[[:space:]]*$//' -e '/^$/d' | head -n 1)"
if [ -n "$primary" ]; then
  # the primary interpreter the pin step pins (the python input's first line),
  # so the key's python part describes it
  args+=(--python "$primary")
fi
if [ -n "$INPUT_KEY" ]; then
  args+=(--extra-key "$INPUT_KEY")
fi
start="${EPOCHREALTIME:-}"
tool="$(dirname "${BASH_SOURCE[0]}")/tool.sh"
bash "$tool" "${args[@]}"
bash "$tool" action paths --github --cache-targets "$INPUT_CACHE_TARGETS"
if [ -n "$start" ]; then
  awk -v a="$start" -v b="${EPOCHREALTIME}" 'BEGIN { printf "pyo3-cache: key %.2f s\n", b - a }'
fi
