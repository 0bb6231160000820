"""The bad-input catalogue: one data-driven case per hostile or broken input.

``cases.py`` defines the cases, ``faults.py`` the faults injected into the
action flow, ``test_catalogue.py`` runs every case as a user would, and
``report.py`` turns both into ``docs/reliability.md``.
"""
