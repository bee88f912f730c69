"""Every path casework uses, derived from one root; the account and the code version.

The root (:func:`home`) holding ``data/`` and ``reports/`` is, in order: ``CASEWORK_HOME``
(environment; tests and the benchmarks use a temporary directory), the workspace the current
folder is in (a folder made by ``casework init``, recognised by its :data:`MARKER` file,
searched upward from the current folder), the project checkout when casework runs from one,
else the current folder. Templates, their sidecars and the example run definitions come from
the checkout (``notebooks/reports``, ``params/monthly``) or, in an installed wheel, from the
package (``casework/templates``, ``casework/run_definitions``); a workspace's own
``notebooks/reports`` (copies to adapt) takes precedence (:func:`templates_dir`).

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

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROJ_ROOT = PACKAGE_DIR.parent
NOTEBOOKS_DIR = PROJ_ROOT / "notebooks"
#: True when casework runs from the project checkout (not from an installed wheel).
IN_CHECKOUT = (PROJ_ROOT / "pyproject.toml").is_file() and (NOTEBOOKS_DIR / "reports").is_dir()
#: The shipped report templates (``.ipynb`` + sidecar ``.yaml``).
TEMPLATES_DIR = NOTEBOOKS_DIR / "reports" if IN_CHECKOUT else PACKAGE_DIR / "templates"
TRAINING_DIR = NOTEBOOKS_DIR / "training"
#: The shipped example run definitions (``<YYYY-MM>.yaml``).
RUN_DEFINITIONS_DIR = (PROJ_ROOT / "params" / "monthly" if IN_CHECKOUT
                       else PACKAGE_DIR / "run_definitions")
PARAMS_DIR = PROJ_ROOT / "params"
RESOURCES_DIR = PACKAGE_DIR / "resources"
#: File marking a workspace's root (written by ``casework init``).
MARKER = ".casework-workspace"

#: Kernel name every notebook and the runner use (pitfall P1 in the style guide).
KERNEL_NAME = "casework"


def find_workspace(start=None) -> Path | None:
    """The workspace folder holding ``start`` (default the current folder): the nearest
    folder, ``start`` or above, with a :data:`MARKER` file; ``None`` outside any workspace.

    Examples
    --------
    >>> import tempfile
    >>> ws = Path(tempfile.mkdtemp())
    >>> _ = (ws / MARKER).write_text("", encoding="utf-8")
    >>> (ws / "reports" / "2024-05").mkdir(parents=True)
    >>> find_workspace(ws / "reports" / "2024-05") == ws.resolve()
    True
    """
    try:
        here = Path(start or Path.cwd()).resolve()
    except OSError:  # the current folder was removed
        return None
    for folder in (here, *here.parents):
        if (folder / MARKER).is_file():
            return folder
    return None


def home() -> Path:
    """Root under which ``data/`` and ``reports/`` live: ``CASEWORK_HOME``, else the
    workspace around the current folder, else the project checkout, else the current folder."""
    env = os.environ.get("CASEWORK_HOME")
    if env:
        return Path(env).resolve()
    ws = find_workspace()
    if ws is not None:
        return ws
    return PROJ_ROOT if IN_CHECKOUT else Path.cwd().resolve()


def templates_dir() -> Path:
    """Folder of report templates: the workspace's ``notebooks/reports`` when it has one
    (copies made by ``casework init``, to adapt), else the shipped :data:`TEMPLATES_DIR`."""
    own = home() / "notebooks" / "reports"
    if own.is_dir() and any(own.glob("*.yaml")):
        return own
    return TEMPLATES_DIR


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
