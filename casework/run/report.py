"""The report runner: parameters → papermill (fixed kernel) → offline HTML, atomically.

One report::

    result = report.run("snapshot_overview", period="2024-05", unit="all")
    result.html   # reports/2024-05/snapshot_overview_all.html

writes, beside the HTML, ``reports/<period>/<template>_<unit>_files/`` with every table as CSV
(UTF-8 with BOM), ``tables.xlsx``, each chart as PNG, Excel attachments, ``provenance.json``,
``findings.json`` (when the template selects findings: :mod:`casework.notebook.findings`) and
the executed notebook. The order of work follows the pitfalls in the style guide (§5):

1. parameters are validated against the sidecar **before** a kernel starts (P3);
2. papermill runs the template in a fresh kernel named ``casework`` (P1) with explicit
   ``execution_timeout`` and ``start_timeout`` (P10), a fixed ``cwd`` (P8) and one retry when
   the kernel fails to start; the runner injects ``casework_run`` (artefact folder, snapshot
   id, templates folder, code version);
3. the executed notebook is scanned for errors even when papermill reported success (P4);
4. nbconvert renders HTML with the ``casework`` template: no input cells, no prompts, the
   ``parameters``/``injected-parameters`` cells removed (P2), images embedded, no script, font
   or stylesheet from any URL (P6);
5. everything — ``findings.json`` included — is written into a temporary folder beside the
   destination and moved into place at the end, so a failed or killed run never leaves a half
   report (nor findings without their report) and never replaces an earlier good one; failed
   notebooks are kept in ``reports/_failed/<period>/``.

The monthly batch (templates × units in worker processes) is :mod:`casework.run.batch`; its
index page is :mod:`casework.run.index`.

Examples
--------
>>> from casework.run import report
>>> html, files = report.output_paths("2024-05", "snapshot_overview", "all", reports_dir="/tmp/r")
>>> html
PosixPath('/tmp/r/2024-05/snapshot_overview_all.html')
>>> files.name
'snapshot_overview_all_files'
"""

from __future__ import annotations

import copy
import datetime as _dt
import functools
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from casework import store
from casework.analysis import periods
from casework.base import config
from casework.base.errors import CaseworkError, ParameterError, check_choice
from casework.notebook import params as _params
from casework.present.workbook import write_xlsx
from casework.run import deliverables
from casework.store import engines

#: Seconds a single cell may run before the report fails (pitfall P10).
EXECUTION_TIMEOUT = 900
#: Seconds to wait for the kernel to start.
START_TIMEOUT = 60
#: Size budget of one HTML report (pitfall P5); larger reports are logged with a warning.
HTML_BUDGET_BYTES = 5 * 1024 * 1024
#: The template's machine-readable findings, inside the report's ``<stem>_files/`` folder
#: (the name :data:`casework.notebook.findings.FILENAME` writes; not imported, to keep the
#: runner free of the plotting stack).
FINDINGS_FILE = "findings.json"
#: Cell tags whose cells never appear in the HTML.
REMOVED_TAGS = ("parameters", "injected-parameters", "remove_cell", "remove-cell")

STATUS_ZH = {"ok": "成功", "failed": "失败"}
_SAFE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# results
# --------------------------------------------------------------------------------------------


@dataclass
class RunResult:
    """Outcome of one report run.

    Attributes
    ----------
    template, title_zh, period, unit, unit_label, level : str
    status : str
        ``ok`` or ``failed``.
    html : str or None
        Path of the HTML report (``None`` when failed).
    duration_s : float
        Wall time of the whole run (validation to move into place).
    kernel_s : float
        Sum of cell execution times inside the kernel (papermill metadata).
    html_bytes : int
    attempts : int
        Kernel start attempts (2 after one retry).
    error : dict or None
        ``{"cell", "exec_count", "ename", "evalue", "source", "failed_notebook"}``; ``cell`` is
        the failing cell's number in the template (1 = first cell, as counted in JupyterLab).
    findings : int or None
        Number of findings in the ``findings.json`` the template wrote into the report's
        folder (:mod:`casework.notebook.findings`); ``None`` when it wrote none (or the file
        is not valid JSON: then a warning says so).
    warnings : list of str
    started_at, finished_at : str
        ISO timestamps.
    snapshot : str
        The snapshot id the report read (``latest`` resolved): pass it as ``--snapshot`` to
        reproduce the report.
    previous : str or None
        Where the report this run replaced was kept (``reports/_previous/<period>/...``);
        ``None`` when there was none.
    """

    template: str
    period: str
    unit: str
    level: str = "internal"
    title_zh: str = ""
    unit_label: str = ""
    status: str = "failed"
    html: str | None = None
    duration_s: float = 0.0
    kernel_s: float = 0.0
    html_bytes: int = 0
    attempts: int = 0
    error: dict | None = None
    findings: int | None = None
    warnings: list = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""
    snapshot: str = ""
    previous: str | None = None

    @property
    def ok(self) -> bool:
        """True when the report was produced."""
        return self.status == "ok"

    def describe(self) -> str:
        """One bilingual line for the console."""
        head = (f"[{STATUS_ZH[self.status]}/{self.status}] {self.template} 单位 {self.unit} "
                f"({self.duration_s:.1f}s)")
        if self.ok:
            line = f"{head} → {self.html}"
            if self.snapshot:
                line += f"\n    数据快照 / snapshot: {self.snapshot}"
            if self.previous:
                line += f"\n    上一版本已保留于 / previous version kept in: {self.previous}"
            return line
        e = self.error or {}
        where = (f"第 {e.get('cell')} 个单元格 / cell {e.get('cell')}"
                 if e.get("cell") is not None else "")
        src = f" «{e.get('source')}»" if e.get("source") else ""
        nb = (f"\n    失败的笔记本 / failed notebook: {e['failed_notebook']}"
              if e.get("failed_notebook") else "")
        return f"{head}: {where}{src} {e.get('ename', '')}: {e.get('evalue', '')}{nb}"


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def now_iso() -> str:
    """The local time with its UTC offset, to the second (timestamps of runs and logs)."""
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def output_paths(period: str, template: str, unit: str, *, reports_dir=None) -> tuple[Path, Path]:
    """``(html, files_folder)`` of a report: ``reports/<period>/<template>_<unit>.html`` and
    ``reports/<period>/<template>_<unit>_files/``."""
    root = Path(reports_dir) if reports_dir else config.reports_dir()
    stem = f"{template}_{unit}"
    return root / period / f"{stem}.html", root / period / f"{stem}_files"


def ensure_kernel(*, install: bool = False) -> str:
    """Check that the ``casework`` Jupyter kernel is registered; optionally register it.

    Parameters
    ----------
    install : bool
        Register the kernel in this environment (``ipykernel install --sys-prefix``) when it is
        missing (the tests do this; ``make`` does it for users).

    Returns
    -------
    str
        The kernelspec's folder.

    Raises
    ------
    CaseworkError
        The kernel is missing and ``install`` is False.
    """
    # the Jupyter stack is heavy: loaded only when a report runs
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        return ksm.get_kernel_spec(config.KERNEL_NAME).resource_dir
    except NoSuchKernel:
        if not install:
            raise CaseworkError(
                f"未注册 Jupyter 内核 {config.KERNEL_NAME}",
                f"the Jupyter kernel {config.KERNEL_NAME!r} is not registered",
                hint="运行 / "
                     f"run: make env  （或 {sys.executable} -m ipykernel install --sys-prefix "
                     f"--name {config.KERNEL_NAME}）",
            ) from None
    from ipykernel.kernelspec import install as _install  # heavy: only to register the kernel

    path = _install(kernel_name=config.KERNEL_NAME, display_name="casework (Python)",
                    prefix=sys.prefix)
    return path


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover(period_dir: Path) -> list[str]:
    """Clean up after runs that were killed: remove temporary folders of dead processes and put
    back a previous artefact folder whose replacement never arrived.

    Returns
    -------
    list of str
        What was done (for the log).
    """
    done = []
    period_dir = Path(period_dir)
    if not period_dir.is_dir():
        return done
    for p in sorted(period_dir.glob(".tmp-*")) + sorted(period_dir.glob(".old-*")):
        m = re.match(r"^\.(tmp|old)-(.+)-(\d+)-[0-9a-f]{8}$", p.name)
        if not m or _pid_alive(int(m.group(3))):
            continue
        kind, stem = m.group(1), m.group(2)
        target = period_dir / f"{stem}_files"
        if kind == "old" and not target.exists() and (period_dir / f"{stem}.html").exists():
            os.rename(p, target)
            done.append(f"restored {target.name}")
        else:
            shutil.rmtree(p, ignore_errors=True)
            done.append(f"removed {p.name}")
    return done


def _css() -> str:
    return (config.RESOURCES_DIR / "report.css").read_text(encoding="utf-8")


@functools.cache
def _exporter():
    """The HTML exporter with casework's template, built once per process: a batch worker
    renders many reports, and building it compiles the Jinja templates again (~0.2 s)."""
    # nbconvert is heavy (about a second): loaded only when a report is rendered
    from nbconvert import HTMLExporter
    from traitlets.config import Config  # comes with nbconvert; only needed with it

    c = Config()
    c.HTMLExporter.extra_template_basedirs = [str(config.RESOURCES_DIR / "nbconvert")]
    c.HTMLExporter.template_name = "casework"
    c.HTMLExporter.exclude_input = True
    c.HTMLExporter.exclude_input_prompt = True
    c.HTMLExporter.exclude_output_prompt = True
    c.HTMLExporter.embed_images = True
    c.HTMLExporter.mathjax_url = ""
    c.HTMLExporter.require_js_url = ""
    c.HTMLExporter.jupyter_widgets_base_url = ""
    c.HTMLExporter.widget_renderer_url = ""
    c.TagRemovePreprocessor.enabled = True
    c.TagRemovePreprocessor.remove_cell_tags = set(REMOVED_TAGS)
    c.HTMLExporter.preprocessors = ["nbconvert.preprocessors.TagRemovePreprocessor"]
    return HTMLExporter(config=c)


def render_html(nb, *, title: str, footer: str = "") -> str:
    """Render an executed notebook as an offline HTML report (no code, no remote URLs).

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The executed notebook (not modified).
    title : str
        The page ``<title>`` (Chinese).
    footer : str
        A line at the bottom of the page (escaped).

    Returns
    -------
    str
        The HTML document.
    """
    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # stderr (warnings) stays in the executed notebook, not the report
        if cell.get("cell_type") == "code":
            cell["outputs"] = [
                o for o in cell.get("outputs", [])
                if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
    exporter = _exporter()
    resources = {"metadata": {"name": title}, "casework_css": _css(), "casework_footer": footer}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


_MARKER_TAGS = {"injected-parameters", "papermill-error-cell-tag"}


def _template_position(nb, i: int) -> int:
    """1-based number in the template of cell ``i`` of an executed notebook (papermill's injected
    and error-marker cells are not counted)."""
    return 1 + sum(1 for c in nb.cells[:i]
                   if not _MARKER_TAGS & set(c.get("metadata", {}).get("tags", [])))


def _notebook_errors(nb) -> dict | None:
    """First error recorded in an executed notebook (outputs or papermill metadata)."""
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            if out.get("output_type") == "error":
                return {"cell": _template_position(nb, i),
                        "exec_count": cell.get("execution_count"),
                        "ename": out.get("ename", "Error"),
                        "evalue": str(out.get("evalue", ""))[:500],
                        "source": _first_line(cell.get("source", ""))}
        if cell.get("metadata", {}).get("papermill", {}).get("exception"):
            return {"cell": _template_position(nb, i), "exec_count": cell.get("execution_count"),
                    "ename": "PapermillException", "evalue": "cell marked as failed",
                    "source": _first_line(cell.get("source", ""))}
    if nb.metadata.get("papermill", {}).get("exception"):
        return {"cell": None, "exec_count": None, "ename": "PapermillException",
                "evalue": "notebook marked as failed", "source": ""}
    return None


def _first_line(src: str) -> str:
    lines = [ln for ln in str(src).splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    return (lines[0].strip()[:100]) if lines else ""


def _kernel_seconds(nb) -> float:
    total = 0.0
    for cell in nb.cells:
        d = cell.get("metadata", {}).get("papermill", {}).get("duration")
        if isinstance(d, (int, float)):
            total += float(d)
    return total


def _glyph_warnings(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []) if cell.get("cell_type") == "code" else []:
            text = o.get("text", "") if o.get("output_type") == "stream" else ""
            if "Glyph" in text and "missing" in text:
                out.append(text.strip().splitlines()[-1][:200])
    return out


def _keep_failed(src: Path | None, period: str, stem: str, reports_dir: Path) -> str | None:
    if src is None or not src.exists():
        return None
    dest_dir = reports_dir / "_failed" / period
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / f"{stem}-{_dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:4]}.ipynb"
    shutil.move(str(src), dest)
    return str(dest)


def previous_dir(period_dir: Path, stem: str) -> Path:
    """Folder keeping the earlier versions of a report:
    ``reports/_previous/<period>/<stem>/<timestamp>/`` (HTML, .docx and ``<stem>_files``).

    Examples
    --------
    >>> previous_dir(Path("/r/2024-05"), "snapshot_overview_all").as_posix()
    '/r/_previous/2024-05/snapshot_overview_all'
    """
    return Path(period_dir).parent / "_previous" / Path(period_dir).name / stem


def _keep_previous(period_dir: Path, stem: str) -> Path | None:
    """Copy the current version of a report (if any) into :func:`previous_dir` before it is
    replaced, so every earlier version stays reachable; returns the folder."""
    files_dst, html_dst = period_dir / f"{stem}_files", period_dir / f"{stem}.html"
    if not html_dst.exists():
        return None
    stamp = _dt.datetime.fromtimestamp(html_dst.stat().st_mtime).strftime("%Y%m%dT%H%M%S")
    dest = previous_dir(period_dir, stem) / f"{stamp}-{uuid.uuid4().hex[:4]}"
    dest.mkdir(parents=True)
    shutil.copy2(html_dst, dest / html_dst.name)
    if (period_dir / f"{stem}.docx").exists():
        shutil.copy2(period_dir / f"{stem}.docx", dest / f"{stem}.docx")
    if files_dst.is_dir():
        shutil.copytree(files_dst, dest / files_dst.name)
    return dest


def previous_findings(reports_root: Path, period: str, stem: str) -> Path | None:
    """``findings.json`` of the last earlier run of the same report (same template and unit,
    same kind of period, the latest period ending before this one), or ``None``.

    Examples
    --------
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> for p in ("2024-03", "2024-04", "2024-Q1"):
    ...     d = root / p / "x_all_files"
    ...     d.mkdir(parents=True)
    ...     _ = (d / "findings.json").write_text("{}", encoding="utf-8")
    >>> previous_findings(root, "2024-05", "x_all").parent.parent.name
    '2024-04'
    >>> previous_findings(root, "2024-03", "x_all") is None
    True
    """
    this = periods.parse(period)
    best = None
    for folder in Path(reports_root).iterdir() if Path(reports_root).is_dir() else ():
        path = folder / f"{stem}_files" / FINDINGS_FILE
        if not path.is_file():
            continue
        try:
            other = periods.parse(folder.name)
        except (ParameterError, ValueError):
            continue
        if other.kind == this.kind and other.end < this.start and (
                best is None or other.end > best[0]):
            best = (other.end, path)
    return best[1] if best else None


def _move_into_place(tmp: Path, stem: str, period_dir: Path) -> Path:
    """Move ``tmp/<stem>_files`` and ``tmp/<stem>.html`` into ``period_dir`` (HTML last)."""
    files_new, html_new = tmp / f"{stem}_files", tmp / f"{stem}.html"
    files_dst, html_dst = period_dir / f"{stem}_files", period_dir / f"{stem}.html"
    old = None
    if files_dst.exists():
        old = period_dir / f".old-{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(files_dst, old)
    os.rename(files_new, files_dst)
    if (tmp / f"{stem}.docx").exists():
        os.replace(tmp / f"{stem}.docx", period_dir / f"{stem}.docx")
    os.replace(html_new, html_dst)
    try:  # make the rename durable before removing the old copy
        fd = os.open(period_dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError:
        pass
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    shutil.rmtree(tmp, ignore_errors=True)
    return html_dst


def _count_findings(path: Path, warnings: list) -> int | None:
    """Findings in the template's ``findings.json`` (``None``: no file, or unreadable)."""
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return len(doc["findings"])
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as err:
        warnings.append(f"findings.json 无法读取，未计入要点 / findings.json is unreadable "
                        f"({type(err).__name__}: {str(err)[:120]})")
        return None


def _fallback_xlsx(files: Path) -> None:
    """Build ``tables.xlsx`` from the CSVs when the template never reached provenance()."""
    if (files / "tables.xlsx").exists():
        return
    csvs = sorted(p for p in files.glob("*.csv"))
    if not csvs:
        return
    sheets = {p.stem: (p.stem,
                       pd.read_csv(p, encoding="utf-8-sig", dtype=str, keep_default_na=False))
              for p in csvs}
    write_xlsx(files / "tables.xlsx", sheets)


# --------------------------------------------------------------------------------------------
# one report
# --------------------------------------------------------------------------------------------


def prepare(template: str, *, period: str, unit: str = "all", level: str = "internal",
            params: dict | None = None, params_text=(), templates_dir=None) -> tuple:
    """Validate a run before any kernel starts.

    Returns
    -------
    (Sidecar, dict)
        The sidecar and the typed parameter values (``period``, ``unit``, ``level`` included
        when the template declares them).

    Raises
    ------
    ParameterError
        Unknown template; unknown, missing or mistyped parameters (the message lists the valid
        ones with types and Chinese descriptions); a unit code unsafe for a file name.
    """
    sidecar = _params.load_sidecar(template, folder=templates_dir)
    values = dict(params or {})
    text = _params.parse_assignments(params_text)
    values.update(text)
    decl = sidecar.parameters
    for name, val in (("period", period), ("unit", unit), ("level", level)):
        if name in decl:
            if name in values and values[name] != val:
                raise ParameterError(f"参数 {name} 请用 --{name} 给出，不要用 -p",
                                     f"give {name} with --{name}, not -p")
            values[name] = val
        elif name == "unit" and unit != "all":
            raise ParameterError(f"模板 {template} 不分单位（没有 unit 参数），只能以 all 运行",
                                 f"template {template} has no unit parameter; run it "
                                 "with unit all")
        elif name == "level" and level != "internal":
            raise ParameterError(f"模板 {template} 没有 level（密级）参数",
                                 f"template {template} has no level parameter")
    if not isinstance(unit, str) or not _SAFE.match(unit):
        raise ParameterError(f"单位编码 {unit!r} 无效：只能包含英文字母、数字、下划线和连字符",
                             f"unit code {unit!r} must be ASCII letters, digits, '_' or '-'")
    typed = _params.validate(sidecar, values, from_text=set(text))
    return sidecar, typed


def run(template: str, *, period: str, unit: str = "all", level: str = "internal",
        params: dict | None = None, params_text=(), snapshot: str = "latest",
        templates_dir=None, reports_dir=None, execution_timeout: int = EXECUTION_TIMEOUT,
        start_timeout: int = START_TIMEOUT, code_version: str | None = None,
        docx: bool = True, engine: str = "duckdb", spark_config=None,
        cache: bool = True) -> RunResult:
    """Run one report template and write its HTML report and artefacts atomically.

    Parameters
    ----------
    template : str
        Template key (``notebooks/reports/<template>.ipynb`` + ``.yaml``).
    period, unit, level : str
        The common parameters (``unit = "all"`` for all units).
    params : dict, optional
        Further typed parameter values (as from YAML).
    params_text : sequence of str, optional
        ``key=value`` strings from the command line (parsed by the sidecar's types).
    snapshot : str
        Snapshot id or ``"latest"`` (resolved before the kernel starts; the id is recorded in
        the result, the footer and ``provenance.json``). The report it replaces is kept in
        ``reports/_previous/<period>/<template>_<unit>/<timestamp>/``.
    templates_dir, reports_dir : path, optional
        Override the templates folder and the reports root.
    execution_timeout, start_timeout : int
        Seconds per cell and for the kernel to start.
    code_version : str, optional
        Shown in provenance (default: git SHA or package version).
    docx : bool
        Also write ``<template>_<unit>.docx`` beside the HTML (the Word version in 公文
        layout, :mod:`casework.run.deliverables`); a failure there only adds a warning.
    cache : bool
        Answer repeated analysis calls from the snapshot's cache (:mod:`casework.base.memo`:
        the same tables either way; ``False`` computes everything afresh).
    engine : {"duckdb", "spark"}
        Where the template's tables are read: the snapshot store (default) or Apache Spark.
    spark_config : path, optional
        With ``engine="spark"``: the config file (:func:`casework.store.engines.load_config`);
        checked before the kernel starts (:func:`casework.store.engines.preflight`). The
        report then names ``spark:<address>`` as its data and Spark as its engine.

    Returns
    -------
    RunResult
        ``status == "failed"`` with the failing cell and error when the notebook failed; the
        partial notebook is then in ``reports/_failed/<period>/``.

    Raises
    ------
    ParameterError
        Invalid parameters (raised before any kernel starts).
    CaseworkError
        No snapshot, or the ``casework`` kernel is not registered.
    """
    t0 = time.perf_counter()
    started = now_iso()
    sidecar, values = prepare(template, period=period, unit=unit, level=level, params=params,
                              params_text=params_text, templates_dir=templates_dir)
    period_code = values.get("period", period)
    reports_root = Path(reports_dir).resolve() if reports_dir else config.reports_dir()
    period_dir = reports_root / period_code
    stem = f"{template}_{unit}"
    result = RunResult(template=template, period=period_code, unit=unit, level=level,
                       title_zh=sidecar.title_zh, unit_label="全部单位" if unit == "all" else unit,
                       started_at=started)
    check_choice("engine", engine, engines.ENGINES)
    if engine == "spark" and snapshot not in ("latest", None):
        raise ParameterError("Spark 引擎读取平台上的表，不使用快照：不要同时给出 --snapshot",
                             "the Spark engine reads the platform's tables, not a snapshot: "
                             "do not give --snapshot with it")
    if engine == "duckdb" and spark_config:
        raise ParameterError("--spark-config 只用于 --engine spark",
                             "--spark-config is only used with --engine spark")
    spark = engines.preflight(spark_config) if engine == "spark" else None  # before any kernel
    ensure_kernel()
    if spark is not None:
        sid = spark.label
    else:
        sid = store.manifest(snapshot)["id"] if snapshot != "none" else "none"
    result.snapshot = sid

    try:
        period_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CaseworkError(f"无法创建报告目录 {period_dir}：{err.strerror or err}",
                            f"cannot create the report folder {period_dir}: {err}",
                            hint="检查磁盘空间和写权限 / "
                                 "check free space and write permission") from None
    recover(period_dir)
    tmp = period_dir / f".tmp-{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    files = tmp / f"{stem}_files"
    try:
        files.mkdir(parents=True)
    except OSError as err:
        raise CaseworkError(f"无法写入报告目录 {period_dir}：{err.strerror or err}",
                            f"cannot write to the report folder {period_dir}: {err}",
                            hint="检查磁盘空间和写权限 / "
                                 "check free space and write permission") from None
    out_nb = files / f"{stem}.ipynb"
    injected = dict(values)
    injected[_params.RUN_VARIABLE] = {
        "output_dir": str(files), "snapshot": sid,
        "templates_dir": str(sidecar.path.parent),
        "code_version": code_version or config.code_version(),
        "previous_findings": str(previous_findings(reports_root, period_code, stem) or ""),
        "engine": engine, "spark_config": str(Path(spark.source).resolve()) if spark else "",
        "cache": bool(cache),
    }
    try:
        nb, attempts, error = _execute(sidecar.notebook, out_nb, injected, files,
                                       execution_timeout, start_timeout)
        result.attempts = attempts
        if nb is not None:
            result.kernel_s = _kernel_seconds(nb)
            error = error or _notebook_errors(nb)
            result.warnings += _glyph_warnings(nb)
        if error is not None:
            error["failed_notebook"] = _keep_failed(out_nb, period_code, stem, reports_root)
            result.error = error
            return result
        prov = files / "provenance.json"
        if prov.exists():
            info = json.loads(prov.read_text(encoding="utf-8"))
            result.unit_label = info.get("unit_label") or result.unit_label
        _fallback_xlsx(files)
        result.findings = _count_findings(files / FINDINGS_FILE, result.warnings)
        plabel = periods.parse(period_code).label_zh
        title = f"{sidecar.title_zh} · {plabel} · {result.unit_label}"
        footer = (f"{sidecar.title_zh}（{template}）｜{plabel}｜{result.unit_label}｜"
                  f"密级：{'内部' if level == 'internal' else '通报/外发'}｜数据快照 {sid}｜"
                  f"{'查询引擎 Spark｜' if spark else ''}生成于 {now_iso()}")
        text = render_html(nb, title=title, footer=footer)
        if docx:
            _write_docx(nb, files, tmp / f"{stem}.docx", sidecar, result, plabel)
        (tmp / f"{stem}.html").write_text(text, encoding="utf-8")
        result.html_bytes = len(text.encode("utf-8"))
        if result.html_bytes > HTML_BUDGET_BYTES:
            result.warnings.append(f"HTML {result.html_bytes:,} bytes exceeds the 5 MB budget")
        kept = _keep_previous(period_dir, stem)
        result.previous = str(kept) if kept else None
        result.html = str(_move_into_place(tmp, stem, period_dir))
        result.status = "ok"
        return result
    except OSError as err:
        result.error = {"cell": None, "exec_count": None, "ename": type(err).__name__,
                        "evalue": f"写入报告失败 / writing the report failed: {err}", "source": ""}
        return result
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
        result.duration_s = round(time.perf_counter() - t0, 3)
        result.finished_at = now_iso()


def _write_docx(nb, files: Path, dest: Path, sidecar, result: RunResult, plabel: str) -> None:
    """The report's Word version (:func:`casework.run.deliverables.report_docx`); a failure
    costs the .docx (with a warning), never the HTML report."""
    try:
        deliverables.report_docx(nb, files, dest, title=sidecar.title_zh, period_label=plabel,
                                 unit_label=result.unit_label, level=result.level,
                                 owner=deliverables.sidecar_owner(sidecar.path))
    except Exception as err:  # the docx is a by-product: keep the report
        dest.unlink(missing_ok=True)
        result.warnings.append(f"Word 文档未生成 / the .docx failed: {type(err).__name__}: "
                               f"{str(err)[:200]}")


def _kernel_manager_class():
    """AsyncKernelManager talking to the kernel over local IPC sockets instead of TCP: case data
    never crosses a network socket, and ipykernel does not warn about unencrypted TCP."""
    # the Jupyter stack is heavy: loaded only when a report runs
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum  # part of the Jupyter stack, as above

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IPCKernelManager


_ENGINE = "casework"
#: Non-empty once :func:`_register_engine` has registered the engine in this process.
_REGISTERED: list = []


def _register_engine() -> str:
    """Register a papermill engine that saves the executing notebook at most every 30 s (and at
    the end) instead of twice per cell: those intermediate saves are pure per-report overhead,
    and the output only matters once the run ends (it lives in a temporary folder until then)."""
    # papermill is heavy: loaded only when a report runs
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if _REGISTERED:  # papermill's public API only: register once per process, never peek
        return _ENGINE

    class ThrottledManager(NotebookExecutionManager):
        final = False

        def save(self, **kwargs):
            if kwargs.get("nb"):
                self.nb = kwargs["nb"]
            waited = (self.now() - self.last_save_time).total_seconds()
            if self.final or waited >= self.autosave_cell_every:
                super().save()

        def notebook_complete(self, **kwargs):
            self.final = True
            super().notebook_complete(**kwargs)

    class Engine(NBClientEngine):
        @classmethod
        def execute_notebook(cls, nb, kernel_name, output_path=None, progress_bar=False,
                             log_output=False, autosave_cell_every=30, **kwargs):
            nb_man = ThrottledManager(nb, output_path=output_path, progress_bar=progress_bar,
                                      log_output=log_output,
                                      autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, Engine)
    _REGISTERED.append(_ENGINE)
    return _ENGINE


def _execute(input_nb: Path, output_nb: Path, parameters: dict, cwd: Path,
             execution_timeout: int, start_timeout: int):
    """papermill with the fixed kernel; one retry when the kernel fails to start.

    Returns ``(notebook or None, attempts, error dict or None)``.
    """
    # the Jupyter stack is heavy: loaded only when a report runs
    import nbformat
    import papermill as pm  # heavy, as above
    from papermill.exceptions import PapermillExecutionError  # heavy, as above

    logging.getLogger("papermill").setLevel(logging.ERROR)  # e.g. "unknown parameter casework_run"
    last_error = None
    for attempt in (1, 2):
        try:
            nb = pm.execute_notebook(
                str(input_nb), str(output_nb), parameters=parameters,
                kernel_name=config.KERNEL_NAME, execution_timeout=execution_timeout,
                start_timeout=start_timeout, cwd=str(cwd), progress_bar=False,
                log_output=False, report_mode=False, engine_name=_register_engine(),
                kernel_manager_class=_kernel_manager_class(),
                # every output has arrived when the last cell is idle; waiting for a graceful
                # exit only adds latency (and a KeyboardInterrupt line on stderr)
                shutdown_kernel="immediate",
            )
            return nb, attempt, None
        except PapermillExecutionError as err:
            nb = nbformat.read(str(output_nb), as_version=4) if output_nb.exists() else None
            found = _notebook_errors(nb) if nb is not None else None
            return nb, attempt, {"cell": found["cell"] if found else None,
                                 "exec_count": err.exec_count, "ename": err.ename,
                                 "evalue": str(err.evalue)[:500],
                                 "source": found["source"] if found else ""}
        except Exception as err:  # kernel start failures, timeouts, dead kernels
            nb = nbformat.read(str(output_nb), as_version=4) if output_nb.exists() else None
            # the cell that was executing: the last one papermill gave a start time
            began = [i for i, c in enumerate(nb.cells)
                     if c.get("metadata", {}).get("papermill", {}).get("start_time")
                     and c.get("cell_type") == "code"] if nb is not None else []
            started = bool(began)
            last_error = {"cell": None, "exec_count": None, "ename": type(err).__name__,
                          "evalue": str(err)[:500], "source": ""}
            if began:
                last_error["cell"] = _template_position(nb, began[-1])
                last_error["source"] = _first_line(nb.cells[began[-1]].source)
            if started or attempt == 2 or type(err).__name__ in ("CellTimeoutError",
                                                                 "NoSuchKernel"):
                return nb, attempt, last_error
            log.warning("kernel failed to start (%s); retrying once", err)
    return None, 2, last_error  # pragma: no cover


__all__ = ["RunResult", "run", "prepare", "render_html", "ensure_kernel", "output_paths",
           "recover", "now_iso", "previous_dir", "previous_findings", "EXECUTION_TIMEOUT",
           "START_TIMEOUT", "HTML_BUDGET_BYTES", "FINDINGS_FILE"]
