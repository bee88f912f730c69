"""File permissions of snapshots: readable by their owner (and ``CASEWORK_GROUP``) only.

Snapshot files are written once and never rewritten, so they are made read-only; case data
should not be readable by every account on the machine (issue 19: one door to data).
"""

from __future__ import annotations

import os
from pathlib import Path

from casework.base import config
from casework.base.errors import ParameterError


def group_id() -> int | None:
    """The gid of ``CASEWORK_GROUP`` (None when unset); an unknown group is an error."""
    import grp  # POSIX only: loaded when a snapshot is written

    name = config.snapshot_group()
    if name is None:
        return None
    try:
        return int(name) if name.isdigit() else grp.getgrnam(name).gr_gid
    except KeyError:
        raise ParameterError(f"CASEWORK_GROUP 指定的用户组不存在：{name}",
                             f"CASEWORK_GROUP names an unknown group: {name}") from None


def restrict_file(path: Path, gid: int | None) -> None:
    if gid is not None:
        os.chown(path, -1, gid)
    os.chmod(path, 0o440 if gid is not None else 0o400)


def restrict(folder: Path) -> None:
    """Snapshot files readable by their owner (and ``CASEWORK_GROUP``) only, never written."""
    gid = group_id()
    for dirpath, _dirs, files in os.walk(folder):
        for f in files:
            restrict_file(Path(dirpath, f), gid)
        if gid is not None:
            os.chown(dirpath, -1, gid)
        os.chmod(dirpath, 0o750 if gid is not None else 0o700)
