"""``casework init DIR``: a workspace outside the checkout.

A workspace is a folder with ``data/`` (snapshots, audit log), ``reports/``,
``params/monthly/`` (run definitions, an example copied in), ``notebooks/reports/`` (copies of
the shipped templates and their sidecars, to adapt) and the marker file
:data:`casework.base.config.MARKER`. Every ``casework`` command run anywhere inside it uses it
(:func:`casework.base.config.home`).

Examples
--------
>>> import tempfile
>>> ws = init(Path(tempfile.mkdtemp()) / "ws", register_kernel=False)
>>> sorted(p.name for p in ws.root.iterdir())  # doctest: +NORMALIZE_WHITESPACE
['.casework-workspace', 'data', 'notebooks', 'params', 'reports']
>>> "snapshot_overview.ipynb" in ws.copied
True
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

from casework.base import config
from casework.base.errors import ParameterError
from casework.run import report


@dataclass
class Workspace:
    """What :func:`init` made: the root, the files copied and those left as they were."""

    root: Path
    copied: list = field(default_factory=list)
    kept: list = field(default_factory=list)
    kernel: str | None = None

    def describe(self) -> str:
        """Bilingual summary for the console."""
        lines = [f"工作区 / workspace: {self.root}",
                 f"  复制模板与运行定义 {len(self.copied)} 个文件"
                 + (f"，保留已有文件 {len(self.kept)} 个" if self.kept else "")
                 + f" / {len(self.copied)} files copied, {len(self.kept)} kept"]
        if self.kernel:
            lines.append(f"  Jupyter 内核 / kernel: {self.kernel}")
        lines.append(f"  下一步 / next: cd {self.root} && casework demo")
        return "\n".join(lines)


def init(folder, *, register_kernel: bool = True) -> Workspace:
    """Create (or complete) a workspace in ``folder``; existing files are never overwritten.

    Parameters
    ----------
    folder : path
        The workspace root (created when missing).
    register_kernel : bool
        Register the ``casework`` Jupyter kernel of this environment when it is missing.

    Returns
    -------
    Workspace

    Raises
    ------
    ParameterError
        ``folder`` exists and is not a folder.
    """
    root = Path(folder).expanduser().resolve()
    if root.exists() and not root.is_dir():
        raise ParameterError(f"{root} 已存在且不是文件夹", f"{root} exists and is not a folder")
    ws = Workspace(root)
    for sub in ("data", "reports", "params/monthly", "notebooks/reports"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    copies = [(p, root / "notebooks" / "reports" / p.name)
              for p in sorted(config.TEMPLATES_DIR.glob("*"))
              if p.suffix in (".ipynb", ".yaml")]
    copies += [(p, root / "params" / "monthly" / p.name)
               for p in sorted(config.RUN_DEFINITIONS_DIR.glob("*.yaml"))]
    for src, dest in copies:
        if dest.exists():
            ws.kept.append(dest.name)
        else:
            shutil.copy2(src, dest)
            ws.copied.append(dest.name)
    marker = root / config.MARKER
    if not marker.exists():
        marker.write_text("# casework 工作区 / casework workspace (casework init)\n",
                          encoding="utf-8")
    if register_kernel:
        ws.kernel = report.ensure_kernel(install=True)
    return ws


__all__ = ["Workspace", "init"]
