#!/bin/sh
# pyo3-cache cargo wrapper (installed by `pyo3-cache cargo-wrapper --install DIR`).
#
# Runs the real cargo (the next `cargo` on PATH after this script's directory).
# When PYO3_CACHE_CARGO_LOG names a file, cargo runs with verbose status lines
# (CARGO_TERM_VERBOSE=true, which changes no fingerprint) and its stderr is
# appended to that file as well as passed on.  stdout is never touched: maturin
# reads cargo's JSON messages from it.  The exit status is cargo's.
self_dir=$(CDPATH= cd -- "$(dirname -- "$0")" && pwd -P)
real=""
old_ifs=$IFS
IFS=:
for dir in $PATH; do
    [ -n "$dir" ] || dir=.
    if [ -x "$dir/cargo" ] && [ ! -d "$dir/cargo" ]; then
        resolved=$(CDPATH= cd -- "$dir" 2>/dev/null && pwd -P)
        if [ "$resolved" != "$self_dir" ]; then
            real="$dir/cargo"
            break
        fi
    fi
done
IFS=$old_ifs
if [ -z "$real" ]; then
    echo "pyo3-cache cargo wrapper: no cargo found on PATH after $self_dir" >&2
    exit 127
fi
if [ -z "${PYO3_CACHE_CARGO_LOG:-}" ]; then
    exec "$real" "$@"
fi
CARGO_TERM_VERBOSE=true
export CARGO_TERM_VERBOSE
log=$PYO3_CACHE_CARGO_LOG
if ! ( : >>"$log" ) 2>/dev/null; then
    exec "$real" "$@"
fi
# fd 3: our stdout (cargo's stdout goes there untouched); fd 4: the status.
{ status=$( { { "$real" "$@" 2>&1 1>&3 3>&- 4>&-; echo $? >&4; } | tee -a "$log" 1>&2; } 4>&1 ); } 3>&1
exit "${status:-1}"
