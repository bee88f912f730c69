"""casework: a research workbench for the case-management office of a procuratorate.

The data flow is one-way: exports -> :mod:`casework.io` -> :mod:`casework.store` (snapshots,
query audit log) -> analysis functions -> :mod:`casework.plotting` / :mod:`casework.narrative`
-> report notebooks run by :mod:`casework.report`.
"""

__version__ = "0.1.0"
