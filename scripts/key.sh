#!/usr/bin/env bash
# Compute the cache key (outputs key, restore-keys, manifest) and the paths to cache.
set -euo pipefail
args=(key --github --prefix-key "$INPUT_PREFIX_KEY")
shared="$INPUT_SHARED_KEY"
if [ -z "$shared" ] && [ -n "$INPUT_KEY" ]; then
  # rust-cache's rule: an extra key goes with the job name unless a shared key replaces both.
  shared="${GITHUB_JOB:-job}-$INPUT_KEY"
fi
if [ -n "$shared" ]; then
  args+=(--shared-key "$shared")
fi
"$PYO3_CACHE_PYTHON" -m pyo3_cache "${args[@]}"
"$PYO3_CACHE_PYTHON" -m pyo3_cache action paths --github --cache-targets "$INPUT_CACHE_TARGETS"
