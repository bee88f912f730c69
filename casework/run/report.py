"""The report runner: parameters → papermill (fixed kernel) → offline HTML, atomically; the batch.

One report::

    result = report.run("snapshot_overview", period="2024-05", unit="all")
    result.html   # reports/2024-05/snapshot_overview_all.html

writes, beside the HTML, ``reports/<period>/<template>_<unit>_files/`` with every table as CSV
(UTF-8 with BOM), ``tables.xlsx``, each chart as PNG, Excel attachments, ``provenance.json`` and
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
5. everything is written into a temporary folder beside the destination and moved into place at
   the end, so a failed or killed run never leaves a half report nor replaces an earlier good one;
   failed notebooks are kept in ``reports/_failed/<period>/``.

:func:`batch` runs a run definition (``params/monthly/<YYYY-MM>.yaml``) as templates × units in
worker processes, keeps going past failures, and writes ``reports/<period>/index.html`` and
``batch_log.jsonl``. :func:`demo` generates, imports and runs everything end to end.

Examples
--------
>>> from casework import report
>>> report.output_paths("2024-05", "snapshot_overview", "all", reports_dir="/tmp/r")
(PosixPath('/tmp/r/2024-05/snapshot_overview_all.html'), PosixPath('/tmp/r/2024-05/snapshot_overview_all_files'))
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import json
import logging
import os
import re
import shutil
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

from casework.base import config
from casework.notebook import params as _params
from casework.base.errors import CaseworkError, ParameterError

#: Seconds a single cell may run before the report fails (pitfall P10).
EXECUTION_TIMEOUT = 900
#: Seconds to wait for the kernel to start.
START_TIMEOUT = 60
#: Size budget of one HTML report (pitfall P5); larger reports are logged with a warning.
HTML_BUDGET_BYTES = 5 * 1024 * 1024
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
    warnings : list of str
    started_at, finished_at : str
        ISO timestamps.
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
    warnings: list = field(default_factory=list)
    started_at: str = ""
    finished_at: str = ""

    @property
    def ok(self) -> bool:
        """True when the report was produced."""
        return self.status == "ok"

    def describe(self) -> str:
        """One bilingual line for the console."""
        head = f"[{STATUS_ZH[self.status]}/{self.status}] {self.template} 单位 {self.unit} ({self.duration_s:.1f}s)"
        if self.ok:
            return f"{head} → {self.html}"
        e = self.error or {}
        where = f"第 {e.get('cell')} 个单元格 / cell {e.get('cell')}" if e.get("cell") is not None else ""
        src = f" «{e.get('source')}»" if e.get("source") else ""
        nb = f"\n    失败的笔记本 / failed notebook: {e['failed_notebook']}" if e.get("failed_notebook") else ""
        return f"{head}: {where}{src} {e.get('ename', '')}: {e.get('evalue', '')}{nb}"


@dataclass
class BatchResult:
    """Outcome of a batch: every :class:`RunResult`, the index page and the log."""

    period: str
    results: list
    index: Path
    log: Path
    duration_s: float
    workers: int

    @property
    def ok(self) -> bool:
        """True when every report was produced."""
        return all(r.ok for r in self.results)

    @property
    def failed(self) -> list:
        """The failed :class:`RunResult` objects."""
        return [r for r in self.results if not r.ok]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _now() -> str:
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
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    ksm = KernelSpecManager()
    try:
        return ksm.get_kernel_spec(config.KERNEL_NAME).resource_dir
    except NoSuchKernel:
        if not install:
            raise CaseworkError(
                f"未注册 Jupyter 内核 {config.KERNEL_NAME}",
                f"the Jupyter kernel {config.KERNEL_NAME!r} is not registered",
                hint=f"运行 / run: make env  （或 {sys.executable} -m ipykernel install --sys-prefix "
                     f"--name {config.KERNEL_NAME}）",
            ) from None
    from ipykernel.kernelspec import install as _install

    path = _install(kernel_name=config.KERNEL_NAME, display_name="casework (Python)", prefix=sys.prefix)
    return path


def _code_version() -> str:
    from casework.notebook import page

    return page._code_version()


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
    import copy

    from nbconvert import HTMLExporter
    from traitlets.config import Config

    nb = copy.deepcopy(nb)
    for cell in nb.cells:  # stderr (warnings) stays in the executed notebook, not the report
        if cell.get("cell_type") == "code":
            cell["outputs"] = [o for o in cell.get("outputs", [])
                               if not (o.get("output_type") == "stream" and o.get("name") == "stderr")]
    nb.metadata["title"] = title
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
    exporter = HTMLExporter(config=c)
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
                return {"cell": _template_position(nb, i), "exec_count": cell.get("execution_count"),
                        "ename": out.get("ename", "Error"), "evalue": str(out.get("evalue", ""))[:500],
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


def _move_into_place(tmp: Path, stem: str, period_dir: Path) -> Path:
    """Move ``tmp/<stem>_files`` and ``tmp/<stem>.html`` into ``period_dir`` (HTML last)."""
    files_new, html_new = tmp / f"{stem}_files", tmp / f"{stem}.html"
    files_dst, html_dst = period_dir / f"{stem}_files", period_dir / f"{stem}.html"
    old = None
    if files_dst.exists():
        old = period_dir / f".old-{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        os.rename(files_dst, old)
    os.rename(files_new, files_dst)
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


def _fallback_xlsx(files: Path) -> None:
    """Build ``tables.xlsx`` from the CSVs when the template never reached provenance()."""
    if (files / "tables.xlsx").exists():
        return
    csvs = sorted(p for p in files.glob("*.csv"))
    if not csvs:
        return
    import pandas as pd

    from casework.notebook import page

    sheets = {p.stem: (p.stem, pd.read_csv(p, encoding="utf-8-sig", dtype=str, keep_default_na=False))
              for p in csvs}
    page._write_xlsx(files / "tables.xlsx", sheets)


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
                                 f"template {template} has no unit parameter; run it with unit all")
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
        start_timeout: int = START_TIMEOUT, code_version: str | None = None) -> RunResult:
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
        Snapshot id or ``"latest"`` (resolved before the kernel starts).
    templates_dir, reports_dir : path, optional
        Override the templates folder and the reports root.
    execution_timeout, start_timeout : int
        Seconds per cell and for the kernel to start.
    code_version : str, optional
        Shown in provenance (default: git SHA or package version).

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
    import nbformat

    t0 = time.perf_counter()
    started = _now()
    sidecar, values = prepare(template, period=period, unit=unit, level=level, params=params,
                              params_text=params_text, templates_dir=templates_dir)
    period_code = values.get("period", period)
    reports_root = Path(reports_dir).resolve() if reports_dir else config.reports_dir()
    period_dir = reports_root / period_code
    stem = f"{template}_{unit}"
    result = RunResult(template=template, period=period_code, unit=unit, level=level,
                       title_zh=sidecar.title_zh, unit_label="全部单位" if unit == "all" else unit,
                       started_at=started)
    ensure_kernel()
    from casework import store

    sid = store.manifest(snapshot)["id"] if snapshot != "none" else "none"

    try:
        period_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CaseworkError(f"无法创建报告目录 {period_dir}：{err.strerror or err}",
                            f"cannot create the report folder {period_dir}: {err}",
                            hint="检查磁盘空间和写权限 / check free space and write permission") from None
    recover(period_dir)
    tmp = period_dir / f".tmp-{stem}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    files = tmp / f"{stem}_files"
    try:
        files.mkdir(parents=True)
    except OSError as err:
        raise CaseworkError(f"无法写入报告目录 {period_dir}：{err.strerror or err}",
                            f"cannot write to the report folder {period_dir}: {err}",
                            hint="检查磁盘空间和写权限 / check free space and write permission") from None
    out_nb = files / f"{stem}.ipynb"
    injected = dict(values)
    injected[_params.RUN_VARIABLE] = {
        "output_dir": str(files), "snapshot": sid,
        "templates_dir": str(sidecar.path.parent), "code_version": code_version or _code_version(),
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
        from casework.analysis import periods

        plabel = periods.parse(period_code).label_zh
        title = f"{sidecar.title_zh} · {plabel} · {result.unit_label}"
        footer = (f"{sidecar.title_zh}（{template}）｜{plabel}｜{result.unit_label}｜"
                  f"密级：{'内部' if level == 'internal' else '通报/外发'}｜数据快照 {sid}｜生成于 {_now()}")
        text = render_html(nb, title=title, footer=footer)
        (tmp / f"{stem}.html").write_text(text, encoding="utf-8")
        result.html_bytes = len(text.encode("utf-8"))
        if result.html_bytes > HTML_BUDGET_BYTES:
            result.warnings.append(f"HTML {result.html_bytes:,} bytes exceeds the 5 MB budget")
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
        result.finished_at = _now()


def _kernel_manager_class():
    """AsyncKernelManager talking to the kernel over local IPC sockets instead of TCP: case data
    never crosses a network socket, and ipykernel does not warn about unencrypted TCP."""
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import CaselessStrEnum

    class IPCKernelManager(AsyncKernelManager):
        transport = CaselessStrEnum(["tcp", "ipc"], default_value="ipc", config=True)

    return IPCKernelManager


_ENGINE = "casework"


def _register_engine() -> str:
    """Register a papermill engine that saves the executing notebook at most every 30 s (and at
    the end) instead of twice per cell: those intermediate saves are pure per-report overhead,
    and the output only matters once the run ends (it lives in a temporary folder until then)."""
    from papermill.engines import NBClientEngine, NotebookExecutionManager, papermill_engines

    if _ENGINE in papermill_engines._engines:
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
                                      log_output=log_output, autosave_cell_every=autosave_cell_every)
            nb_man.notebook_start()
            try:
                cls.execute_managed_notebook(nb_man, kernel_name, log_output=log_output, **kwargs)
            finally:
                nb_man.cleanup_pbar()
                nb_man.notebook_complete()
            return nb_man.nb

    papermill_engines.register(_ENGINE, Engine)
    return _ENGINE


def _execute(input_nb: Path, output_nb: Path, parameters: dict, cwd: Path,
             execution_timeout: int, start_timeout: int):
    """papermill with the fixed kernel; one retry when the kernel fails to start.

    Returns ``(notebook or None, attempts, error dict or None)``.
    """
    import nbformat
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

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
            if started or attempt == 2 or type(err).__name__ in ("CellTimeoutError", "NoSuchKernel"):
                return nb, attempt, last_error
            log.warning("kernel failed to start (%s); retrying once", err)
    return None, 2, last_error  # pragma: no cover


# --------------------------------------------------------------------------------------------
# batch
# --------------------------------------------------------------------------------------------


def _run_job(job: dict) -> dict:
    """Worker entry point (module-level so it can be pickled): run one report, never raise."""
    try:
        res = run(**job)
    except CaseworkError as err:
        res = RunResult(template=job["template"], period=job["period"], unit=job["unit"],
                        level=job.get("level", "internal"), started_at=_now(), finished_at=_now(),
                        error={"cell": None, "exec_count": None, "ename": type(err).__name__,
                               "evalue": str(err), "source": ""})
    except Exception as err:  # a bug: keep the batch going, report it
        res = RunResult(template=job["template"], period=job["period"], unit=job["unit"],
                        level=job.get("level", "internal"), started_at=_now(), finished_at=_now(),
                        error={"cell": None, "exec_count": None, "ename": type(err).__name__,
                               "evalue": str(err)[:500], "source": ""})
    return asdict(res)


def _units(definition, snapshot_id: str) -> list[str]:
    if isinstance(definition.units, list):
        return list(definition.units)
    if definition.units == "all":
        return ["all"]
    from casework import store

    df = store.sql("SELECT DISTINCT unit_code FROM records WHERE unit_code IS NOT NULL ORDER BY 1",
                   snapshot=snapshot_id, purpose=f"批处理 {definition.period}：列出各单位以逐一生成报告")
    return [str(u) for u in df["unit_code"]]


def jobs(definition, *, snapshot_id: str, templates_dir=None, reports_dir=None,
         execution_timeout: int = EXECUTION_TIMEOUT) -> list[dict]:
    """The (template × unit) runs of a run definition, as keyword dicts for :func:`run`.

    Templates without a ``unit`` parameter run once over all units.
    """
    units = _units(definition, snapshot_id)
    code_version = _code_version()
    out = []
    for tpl in definition.templates:
        sc = _params.load_sidecar(tpl, folder=templates_dir)
        tpl_units = units if "unit" in sc.parameters else ["all"]
        for u in dict.fromkeys(tpl_units):
            out.append(dict(template=tpl, period=definition.period, unit=u,
                            level=definition.level if "level" in sc.parameters else "internal",
                            params=dict(definition.params.get(tpl, {})), snapshot=snapshot_id,
                            templates_dir=str(templates_dir) if templates_dir else None,
                            reports_dir=str(reports_dir) if reports_dir else None,
                            execution_timeout=execution_timeout, code_version=code_version))
    return out


def batch(definition, *, workers: int = 2, progress: bool = True, templates_dir=None,
          reports_dir=None, execution_timeout: int = EXECUTION_TIMEOUT) -> BatchResult:
    """Run a run definition: templates × units in parallel, index page and log at the end.

    Parameters
    ----------
    definition : path or RunDefinition
        ``params/monthly/<YYYY-MM>.yaml`` or a :class:`casework.notebook.params.RunDefinition`.
    workers : int
        Worker processes (1 = run in this process).
    progress : bool
        Show a tqdm progress bar on stderr.
    templates_dir, reports_dir : path, optional
        Override the templates folder and the reports root.
    execution_timeout : int
        Seconds per cell.

    Returns
    -------
    BatchResult
        ``.ok`` is False when any report failed; every other report is still produced.

    Raises
    ------
    ParameterError
        A bad run definition (before anything runs).
    """
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from multiprocessing import get_context

    from tqdm import tqdm

    from casework import store

    t0 = time.perf_counter()
    if not isinstance(definition, _params.RunDefinition):
        definition = _params.load_run(definition, folder=templates_dir)
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"--workers 应为正整数，收到 {workers!r}", f"--workers must be >= 1, got {workers!r}")
    ensure_kernel()
    snapshot_id = store.manifest("latest")["id"]
    todo = jobs(definition, snapshot_id=snapshot_id, templates_dir=templates_dir,
                reports_dir=reports_dir, execution_timeout=execution_timeout)
    root = Path(reports_dir).resolve() if reports_dir else config.reports_dir()
    period_dir = root / definition.period
    try:
        period_dir.mkdir(parents=True, exist_ok=True)
        probe = period_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise CaseworkError(f"无法写入报告目录 {period_dir}：{err.strerror or err}",
                            f"cannot write to the report folder {period_dir}: {err}",
                            hint="检查磁盘空间和写权限 / check free space and write permission") from None
    recover(period_dir)
    log_path = period_dir / "batch_log.jsonl"
    batch_id = f"{_dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    defn = str(Path(definition.path).resolve()) if definition.path else ""
    common = {"batch_id": batch_id, "definition": defn, "snapshot": snapshot_id,
              "code_version": todo[0]["code_version"] if todo else _code_version(),
              "account": config.current_account()}
    _append_log(log_path, {**common, "event": "start", "at": _now(), "reports": len(todo),
                           "workers": workers})
    results: list[RunResult] = []
    bar = tqdm(total=len(todo), desc=f"生成报告 {definition.period}", unit="份", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def done(res_dict):
        res = RunResult(**res_dict)
        results.append(res)
        _append_log(log_path, {**common, "event": "report", **asdict(res)})
        write_index(period_dir, results, period=definition.period, batch_id=batch_id)
        bar.update(1)
        if not res.ok:
            bar.write(f"失败 / failed: {res.template} {res.unit}: {(res.error or {}).get('ename')}")

    try:
        if workers == 1 or len(todo) <= 1:
            for job in todo:
                done(_run_job(job))
        else:
            with ProcessPoolExecutor(max_workers=min(workers, len(todo)),
                                     mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_run_job, job) for job in todo]
                for fut in as_completed(futures):
                    done(fut.result())
    finally:
        bar.close()
    order = {(j["template"], j["unit"]): i for i, j in enumerate(todo)}
    results.sort(key=lambda r: order.get((r.template, r.unit), 0))
    index = write_index(period_dir, results, period=definition.period, batch_id=batch_id)
    duration = round(time.perf_counter() - t0, 3)
    _append_log(log_path, {**common, "event": "end", "at": _now(), "duration_s": duration,
                           "ok": sum(r.ok for r in results), "failed": sum(not r.ok for r in results)})
    return BatchResult(definition.period, results, index, log_path, duration, workers)


def _append_log(path: Path, entry: dict) -> None:
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def write_index(period_dir: Path, results: list, *, period: str, batch_id: str = "") -> Path:
    """Write ``reports/<period>/index.html`` (Chinese, offline): every report of this batch with
    title, unit, status, duration and link, then other reports already in the folder.

    The page is written to a temporary file and renamed into place.
    """
    from casework.analysis import periods

    period_dir = Path(period_dir)
    e = _html.escape
    rows = []
    seen = set()
    for r in results:
        name = Path(r.html).name if r.html else None
        seen.add(f"{r.template}_{r.unit}.html")
        link = f'<a href="{e(name, quote=True)}">{e(r.title_zh or r.template)}</a>' if name else e(r.title_zh or r.template)
        if r.ok:
            status = '<span class="ok">成功</span>'
            detail = f"{r.html_bytes / 1024:,.0f} KB"
        else:
            err = r.error or {}
            cell = f"第 {err.get('cell')} 个单元格：" if err.get("cell") is not None else ""
            src = f"（{e(err.get('source') or '')}）" if err.get("source") else ""
            status = '<span class="bad">失败</span>'
            detail = f"{e(cell)}{src}{e(str(err.get('ename', '')))}：{e(str(err.get('evalue', ''))[:300])}"
        rows.append(f"<tr><td>{link}</td><td>{e(r.template)}</td><td>{e(r.unit_label or r.unit)}</td>"
                    f"<td>{e('内部' if r.level == 'internal' else '通报/外发')}</td><td>{status}</td>"
                    f'<td class="num">{r.duration_s:,.1f} 秒</td><td>{detail}</td></tr>')
    others = sorted(p.name for p in period_dir.glob("*.html") if p.name != "index.html" and p.name not in seen)
    other_rows = "".join(f'<li><a href="{e(n, quote=True)}">{e(n)}</a></li>' for n in others)
    try:
        plabel = periods.parse(period).label_zh
    except CaseworkError:
        plabel = period
    n_ok = sum(r.ok for r in results)
    n_bad = len(results) - n_ok
    body = f"""<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>{e(plabel)}分析报告目录</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "Noto Sans SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 0; background: #f4f6f8; color: #1f2d3d; }}
main {{ max-width: 1100px; margin: 0 auto; background: #fff; padding: 28px 40px; min-height: 100vh; }}
h1 {{ border-bottom: 3px solid #2f5d8a; padding-bottom: .3em; }}
table {{ border-collapse: collapse; width: 100%; font-size: .92rem; }}
th, td {{ border-bottom: 1px solid #d9dee5; padding: .4em .6em; text-align: left; vertical-align: top; }}
th {{ background: #eef2f6; }} td.num {{ text-align: right; white-space: nowrap; }}
.ok {{ color: #1e8449; font-weight: bold; }} .bad {{ color: #c0392b; font-weight: bold; }}
.meta {{ color: #5f6b7a; font-size: .88rem; }}
</style></head>
<body><main>
<h1>{e(plabel)}分析报告</h1>
<p class="meta">共 {len(results):,} 份报告：成功 {n_ok:,} 份，失败 {n_bad:,} 份。批次 {e(batch_id)}，更新于 {e(_now())}。运行日志见 batch_log.jsonl。</p>
<table><thead><tr><th>报告</th><th>模板</th><th>单位</th><th>密级</th><th>状态</th><th>用时</th><th>说明</th></tr></thead>
<tbody>
{''.join(rows)}
</tbody></table>
{('<h2>本目录中的其他报告</h2><ul>' + other_rows + '</ul>') if other_rows else ''}
</main></body></html>
"""
    path = period_dir / "index.html"
    tmp = period_dir / f".index-{os.getpid()}-{uuid.uuid4().hex[:6]}.html"
    tmp.write_text(body, encoding="utf-8")
    os.replace(tmp, path)
    return path


def format_summary(result: BatchResult) -> str:
    """Console summary of a batch (Chinese and English)."""
    ok = sum(r.ok for r in result.results)
    lines = [f"{result.period}：{len(result.results)} 份报告，成功 {ok}，失败 {len(result.failed)}，"
             f"用时 {result.duration_s:.1f} 秒（{result.workers} 个进程）",
             f"{result.period}: {len(result.results)} reports, {ok} ok, {len(result.failed)} failed, "
             f"{result.duration_s:.1f}s with {result.workers} workers"]
    for r in result.failed:
        lines.append("  " + r.describe())
    lines.append(f"目录页 / index: {result.index}")
    lines.append(f"日志 / log: {result.log}")
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# demo
# --------------------------------------------------------------------------------------------


def demo(*, workers: int = 2, units: str | list = "all", progress: bool = True,
         templates_dir=None, echo=None) -> BatchResult:
    """The demo end to end: synthetic data → GB18030 exports → real importer → monthly batch.

    Generates ``casework.synth.generate(config.demo_dir(), units=6, years=3)``, imports the CSV
    exports it wrote with :func:`casework.ingest.io.import_files`, then runs every template found in
    the templates folder for the latest full month of the data.

    Parameters
    ----------
    workers : int
        Worker processes for the batch.
    units : "all", "each" or list
        Units of the batch (default one report per template over all units).
    progress : bool
        Show progress bars.
    templates_dir : path, optional
    echo : callable, optional
        Receives a Chinese summary of each data step (generation, import); the CLI passes
        ``click.echo`` so the demo says what it made before the batch starts.

    Returns
    -------
    BatchResult
        ``.index`` is the index page to open.
    """
    from casework.ingest import io
    from casework import synth

    echo = echo or (lambda text: None)

    out = config.demo_dir()
    summary = synth.generate(out, units=6, years=3)
    end = summary.get("end") if isinstance(summary, dict) else None
    truth = out / "truth.json"
    if not end and truth.exists():
        end = json.loads(truth.read_text(encoding="utf-8"))["end"]
    csvs = sorted((out / "exports").glob("*.csv"))
    if not csvs:
        raise CaseworkError("演示数据没有生成 CSV 导出文件", "the demo generator wrote no CSV exports",
                            hint=str(out / "exports"))
    echo(synth.describe(summary))
    echo(io.describe(io.import_files(csvs, account=config.current_account())))
    definition = _params.RunDefinition(period=end, units=units,
                                       templates=_params.discover(templates_dir),
                                       level="internal", params={}, path=None)
    return batch(definition, workers=workers, progress=progress, templates_dir=templates_dir)


__all__ = ["RunResult", "BatchResult", "run", "prepare", "batch", "jobs", "demo", "render_html",
           "write_index", "format_summary", "ensure_kernel", "output_paths", "recover",
           "EXECUTION_TIMEOUT", "START_TIMEOUT", "HTML_BUDGET_BYTES"]
