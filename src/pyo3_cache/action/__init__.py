"""The GitHub Action's flow: what runs after the cache restore and before the save.

The composite actions (``action.yml``, ``save/action.yml``) are thin: they
compute the key, call ``actions/cache/restore`` / ``actions/cache/save``, and
run ``pyo3-cache action after-restore`` and ``pyo3-cache action before-save``,
which do everything else here, in Python, where it can be tested.

Flow: key → restore → **after-restore** (unpack the entry, pin, cargo log
capture, explain a partial hit) → the user's build → **before-save** (explain
the logs, job summary, PR comment, prune, keep the key manifest in the cache,
pack the entry) → save.

What actions/cache stores is one folder, the *entry dir* under RUNNER_TEMP,
holding a ``dir:`` store with one entry: our own ``.tar.zst`` of the target
dir and cargo's registry and git dbs (see archive.py), its sha256 and the key
manifest. actions/cache still does the key matching and the transfer; our
archive brings its member order and long-distance matching (a smaller entry
than actions/cache's tar of the same folders), nanosecond mtimes, a checksum
and the restore safety checks (no member may land outside its folder).

A cache tool must never fail the user's job: every phase catches its own
trouble, says what it skipped in one warning, and goes on.
"""
