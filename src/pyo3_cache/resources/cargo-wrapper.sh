#!/bin/sh
# pyo3-cache cargo wrapper (installed by `pyo3-cache cargo-wrapper --install DIR`, `pin`, `run`).
#
# Runs the real cargo: the first `cargo` on PATH that is not a copy of this
# wrapper (every copy carries the line above, so two copies on PATH never run
# each other).  With nothing to do it execs cargo at once.  With a pin
# (PYO3_CACHE_PIN) or a log (PYO3_CACHE_CARGO_LOG), a subcommand that compiles
# (a cargo alias does not count: it runs unpinned and unlogged) is handed to
# pyo3-cache's Python half, which applies this call's pinned PyO3 config and
# copies cargo's stderr to the log; stdout is never touched (maturin reads
# cargo's JSON messages there), signals reach cargo, the exit status is cargo's.
pyo3_cache_python=@PYTHON@
real=""
old_ifs=$IFS
IFS=:
for dir in $PATH; do
    [ -n "$dir" ] || dir=.
    candidate="$dir/cargo"
    if [ -x "$candidate" ] && [ ! -d "$candidate" ]; then
        if ! head -n 3 -- "$candidate" 2>/dev/null | grep -q '^# pyo3-cache cargo wrapper'; then
            real=$candidate
            break
        fi
    fi
done
IFS=$old_ifs
if [ -z "$real" ]; then
    echo "pyo3-cache cargo wrapper: no cargo on PATH other than pyo3-cache's wrappers" >&2
    exit 127
fi
[ -n "${PYO3_CACHE_PIN:-}${PYO3_CACHE_CARGO_LOG:-}" ] || exec "$real" "$@"
# Only a subcommand that runs build scripts needs the pin or the log (pin/route.py
# has the same list); `cargo metadata` and friends go straight to cargo: they
# compile nothing, so there is nothing to pin or to explain, and a build front
# end calls them before every build.
sub=""
skip=""
for arg in "$@"; do
    if [ -n "$skip" ]; then skip=""; continue; fi
    case $arg in
        +*) ;;
        -Z|--config|-C|--color|--explain) skip=1 ;;
        -*) ;;
        *) sub=$arg; break ;;
    esac
done
case $sub in
    build|b|check|c|test|t|bench|run|r|rustc|rustdoc|doc|d|clippy|fix|nextest|llvm-cov|miri) ;;
    *) exec "$real" "$@" ;;
esac
if [ ! -x "$pyo3_cache_python" ]; then
    echo "pyo3-cache cargo wrapper: $pyo3_cache_python is gone; cargo runs unpinned, unlogged" >&2
    exec "$real" "$@"
fi
exec "$pyo3_cache_python" -I -m pyo3_cache.explain.cargo_shim "$real" "$@"
