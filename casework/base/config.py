"""Every path casework uses, derived from one root; the account and the code version.

``CASEWORK_HOME`` (environment) moves the data and report folders, so tests and the
benchmarks work in a temporary directory without touching the project's own ``data/``.

Examples
--------
>>> from casework.base import config
>>> config.data_dir().name
'data'
"""

from __future__ import annotations

import getpass
import os
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PROJ_ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
TEMPLATES_DIR = NOTEBOOKS_DIR / "reports"
TRAINING_DIR = NOTEBOOKS_DIR / "training"
PARAMS_DIR = PROJ_ROOT / "params"
RESOURCES_DIR = Path(__file__).resolve().parents[1] / "resources"

#: Kernel name every notebook and the runner use (pitfall P1 in the style guide).
KERNEL_NAME = "casework"


def home() -> Path:
    """Root under which ``data/`` and ``reports/`` live (``CASEWORK_HOME`` or the project)."""
    return Path(os.environ.get("CASEWORK_HOME", PROJ_ROOT)).resolve()


def data_dir() -> Path:
    """Folder holding snapshots, the audit log and generated demo data."""
    return home() / "data"


def snapshots_dir() -> Path:
    """Folder of immutable snapshots, one sub-folder per snapshot id."""
    return data_dir() / "snapshots"


def audit_log_path() -> Path:
    """The append-only query audit log (一查询一记录)."""
    return data_dir() / "audit" / "query_log.jsonl"


def demo_dir() -> Path:
    """Where ``casework demo`` writes the synthetic exports and ``truth.json``."""
    return data_dir() / "demo"


def reports_dir() -> Path:
    """Root of generated reports: ``reports/<period>/<template>_<unit>.html``."""
    return Path(os.environ.get("CASEWORK_REPORTS", home() / "reports")).resolve()


def snapshot_group() -> str | None:
    """The group that may read snapshot files besides their owner (``CASEWORK_GROUP``).

    Without it, snapshot files are readable by their owner only (mode 0400, folders 0700);
    with it, by that group too (0440, folders 0750). Nobody else can open the Parquet files
    around the audited door.
    """
    return os.environ.get("CASEWORK_GROUP") or None


def current_account(account: str | None = None) -> str:
    """Who is querying: the explicit account, else ``CASEWORK_USER``, else the OS login."""
    if account:
        return account
    env = os.environ.get("CASEWORK_USER")
    if env:
        return env
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return f"uid{os.getuid()}"


def code_version() -> str:
    """The code version shown in every report's provenance.

    ``git <sha>`` of the project checkout (with ``(含未提交修改)`` when tracked files are
    modified), else ``casework <package version>``.

    Examples
    --------
    >>> code_version().startswith(("git ", "casework "))
    True
    """
    try:
        sha = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=PROJ_ROOT,
                             capture_output=True, text=True, timeout=5)
        if sha.returncode == 0 and sha.stdout.strip():
            dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                   cwd=PROJ_ROOT, capture_output=True, text=True, timeout=5)
            suffix = " (含未提交修改)" if dirty.stdout.strip() else ""
            return f"git {sha.stdout.strip()}{suffix}"
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        return f"casework {version('casework')}"
    except PackageNotFoundError:  # pragma: no cover
        return "casework (unknown version)"
