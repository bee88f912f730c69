"""The monthly batch: a run definition → templates × units in worker processes → index and log.

:func:`batch` runs a run definition (``params/monthly/<YYYY-MM>.yaml``) as templates × units in
worker processes (each report through :func:`casework.run.report.run`), keeps going past
failures, and writes ``reports/<period>/index.html`` (:mod:`casework.run.index`) and
``batch_log.jsonl`` (one JSON line per event: ``start``, one ``report`` per report, ``end``).
:func:`demo` generates, imports and runs everything end to end.

Examples
--------
>>> from casework.notebook.params import RunDefinition
>>> d = RunDefinition(period="2024-05", units="all", templates=["snapshot_overview"],
...                   level="internal", params={}, path=None)
>>> [(j["template"], j["unit"]) for j in jobs(d, snapshot_id="s1")]
[('snapshot_overview', 'all')]
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
import time
import uuid
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from multiprocessing import get_context
from pathlib import Path

from tqdm import tqdm

from casework import store, synth
from casework.base import config
from casework.base.errors import CaseworkError, ParameterError
from casework.ingest import importer
from casework.notebook import params as _params
from casework.run import deliverables
from casework.run.index import write_index
from casework.run.report import EXECUTION_TIMEOUT, RunResult, ensure_kernel, now_iso, recover, run


@dataclass
class BatchResult:
    """Outcome of a batch: every :class:`~casework.run.report.RunResult`, the index page and
    the log."""

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


def _run_job(job: dict) -> dict:
    """Worker entry point (module-level so it can be pickled): run one report, never raise."""
    try:
        res = run(**job)
    except CaseworkError as err:
        res = RunResult(template=job["template"], period=job["period"], unit=job["unit"],
                        level=job.get("level", "internal"), started_at=now_iso(),
                        finished_at=now_iso(),
                        error={"cell": None, "exec_count": None, "ename": type(err).__name__,
                               "evalue": str(err), "source": ""})
    except Exception as err:  # a bug: keep the batch going, report it
        res = RunResult(template=job["template"], period=job["period"], unit=job["unit"],
                        level=job.get("level", "internal"), started_at=now_iso(),
                        finished_at=now_iso(),
                        error={"cell": None, "exec_count": None, "ename": type(err).__name__,
                               "evalue": str(err)[:500], "source": ""})
    return asdict(res)


def _units(definition, snapshot_id: str) -> list[str]:
    if isinstance(definition.units, list):
        return list(definition.units)
    if definition.units == "all":
        return ["all"]
    df = store.sql("SELECT DISTINCT unit_code FROM records WHERE unit_code IS NOT NULL ORDER BY 1",
                   snapshot=snapshot_id,
                   purpose=f"批处理 {definition.period}：列出各单位以逐一生成报告")
    return [str(u) for u in df["unit_code"]]


def jobs(definition, *, snapshot_id: str, templates_dir=None, reports_dir=None,
         execution_timeout: int = EXECUTION_TIMEOUT, cache: bool = True) -> list[dict]:
    """The (template × unit) runs of a run definition, as keyword dicts for :func:`run`.

    Templates without a ``unit`` parameter run once over all units.
    """
    units = _units(definition, snapshot_id)
    code_version = config.code_version()
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
                            execution_timeout=execution_timeout, code_version=code_version,
                            cache=cache))
    return out


def batch(definition, *, workers: int = 2, progress: bool | None = None, templates_dir=None,
          reports_dir=None, execution_timeout: int = EXECUTION_TIMEOUT,
          snapshot: str | None = None, cache: bool = True) -> BatchResult:
    """Run a run definition: templates × units in parallel, index page and log at the end.

    Parameters
    ----------
    definition : path or RunDefinition
        ``params/monthly/<YYYY-MM>.yaml`` or a :class:`casework.notebook.params.RunDefinition`.
    workers : int
        Worker processes (1 = run in this process).
    progress : bool, optional
        Show a tqdm progress bar on stderr (default: only when stderr is a terminal).
    templates_dir, reports_dir : path, optional
        Override the templates folder and the reports root.
    execution_timeout : int
        Seconds per cell.
    snapshot : str, optional
        Snapshot id every report reads (default: the definition's ``snapshot``, else the
        latest); recorded in the batch log and each report's provenance.
    cache : bool
        Reports answer analysis calls another report of the batch already made from the
        snapshot's cache (:mod:`casework.base.memo`; the tables are the same either way).

    Returns
    -------
    BatchResult
        ``.ok`` is False when any report failed; every other report is still produced.

    Raises
    ------
    ParameterError
        A bad run definition (before anything runs).
    """
    t0 = time.perf_counter()
    if not isinstance(definition, _params.RunDefinition):
        definition = _params.load_run(definition, folder=templates_dir)
    if not isinstance(workers, int) or workers < 1:
        raise ParameterError(f"--workers 应为正整数，收到 {workers!r}",
                             f"--workers must be >= 1, got {workers!r}")
    ensure_kernel()
    snapshot_id = store.manifest(snapshot or definition.snapshot or "latest")["id"]
    if progress is None:
        progress = sys.stderr.isatty()
    todo = jobs(definition, snapshot_id=snapshot_id, templates_dir=templates_dir,
                reports_dir=reports_dir, execution_timeout=execution_timeout, cache=cache)
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
                            hint="检查磁盘空间和写权限 / "
                                 "check free space and write permission") from None
    recover(period_dir)
    log_path = period_dir / "batch_log.jsonl"
    batch_id = f"{_dt.datetime.now():%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    defn = str(Path(definition.path).resolve()) if definition.path else ""
    common = {"batch_id": batch_id, "definition": defn, "snapshot": snapshot_id,
              "code_version": todo[0]["code_version"] if todo else config.code_version(),
              "account": config.current_account()}
    _append_log(log_path, {**common, "event": "start", "at": now_iso(), "reports": len(todo),
                           "workers": workers})
    results: list[RunResult] = []
    bar = tqdm(total=len(todo), desc=f"生成报告 {definition.period}", unit="份", file=sys.stderr,
               disable=not progress, dynamic_ncols=True)

    def done(res_dict):
        res = RunResult(**res_dict)
        results.append(res)
        _append_log(log_path, {**common, "event": "report", **asdict(res)})
        write_index(period_dir, results, period=definition.period, batch_id=batch_id,
                    total=len(todo))
        bar.update(1)
        if not res.ok:
            bar.write("失败 / "
                      f"failed: {res.template} {res.unit}: {(res.error or {}).get('ename')}")

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
    index = write_index(period_dir, results, period=definition.period, batch_id=batch_id,
                        total=len(todo))
    try:  # the month's Word documents (按期分析, 案卡差错通报, 联席会议 briefings)
        documents = [p.name for p in deliverables.month_documents(
            period_dir, period=definition.period)]
    except Exception as err:  # a by-product: never fails the batch
        documents = [f"failed: {type(err).__name__}: {str(err)[:200]}"]
    duration = round(time.perf_counter() - t0, 3)
    _append_log(log_path, {**common, "event": "end", "at": now_iso(), "duration_s": duration,
                           "ok": sum(r.ok for r in results),
                           "failed": sum(not r.ok for r in results),
                           "findings": findings_per_report(results),
                           "findings_total": sum(r.findings or 0 for r in results if r.ok),
                           "documents": documents})
    return BatchResult(definition.period, results, index, log_path, duration, workers)


def _append_log(path: Path, entry: dict) -> None:
    line = json.dumps(entry, ensure_ascii=False, default=str) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("utf-8"))
    finally:
        os.close(fd)


def findings_per_report(results: list) -> dict:
    """``{"<template>_<unit>": number of findings}`` for each report; ``None`` when the report
    failed or its template wrote no ``findings.json`` (as in the batch log's ``end`` line).

    Examples
    --------
    >>> findings_per_report([RunResult("periodic_overview", "2026-11", "all", status="ok",
    ...                                findings=3)])
    {'periodic_overview_all': 3}
    """
    return {f"{r.template}_{r.unit}": (r.findings if r.ok else None) for r in results}


def format_summary(result: BatchResult) -> str:
    """Console summary of a batch (Chinese and English)."""
    ok = sum(r.ok for r in result.results)
    lines = [f"{result.period}：{len(result.results)} 份报告，成功 {ok}，"
             f"失败 {len(result.failed)}，"
             f"用时 {result.duration_s:.1f} 秒（{result.workers} 个进程）",
             f"{result.period}: {len(result.results)} reports, {ok} ok,"
             f" {len(result.failed)} failed, "
             f"{result.duration_s:.1f}s with {result.workers} workers"]
    for r in result.failed:
        lines.append("  " + r.describe())
    done = [r for r in result.results if r.ok]
    counted = [r for r in done if r.findings is not None]
    if counted:
        total = sum(r.findings for r in counted)
        line = f"要点：{len(counted)} 份报告共 {total} 项发现（见目录页）"
        if len(counted) < len(done):
            line += f"；{len(done) - len(counted)} 份报告未提供 findings.json"
        lines.append(line + f" / {total} findings in {len(counted)} reports")
    lines.append(f"目录页 / index: {result.index}")
    lines.append(f"日志 / log: {result.log}")
    return "\n".join(lines)


def demo(*, workers: int = 2, units: str | list = "all", progress: bool | None = None,
         templates_dir=None, echo=None, n_units: int = 6, years: int = 3,
         templates: list | None = None) -> BatchResult:
    """The demo end to end: synthetic data → GB18030 exports → real importer → monthly batch.

    Generates ``casework.synth.generate(config.demo_dir(), units=6, years=3)``, imports the CSV
    exports it wrote with :func:`casework.ingest.importer.import_files`, then runs every
    template found in the templates folder for the latest full month of the data.

    Parameters
    ----------
    workers : int
        Worker processes for the batch.
    units : "all", "each" or list
        Units of the batch (default one report per template over all units).
    progress : bool, optional
        Show progress bars (default: only when stderr is a terminal).
    templates_dir : path, optional
    echo : callable, optional
        Receives a Chinese summary of each data step (generation, import); the CLI passes
        ``click.echo`` so the demo says what it made before the batch starts.
    n_units, years : int
        Size of the synthetic data (6 procuratorates × 3 years by default).
    templates : list of str, optional
        Templates to run (default every template found).

    Returns
    -------
    BatchResult
        ``.index`` is the index page to open.
    """
    echo = echo or (lambda text: None)

    out = config.demo_dir()
    summary = synth.generate(out, units=n_units, years=years)
    end = summary.get("end") if isinstance(summary, dict) else None
    truth = out / "truth.json"
    if not end and truth.exists():
        end = json.loads(truth.read_text(encoding="utf-8"))["end"]
    csvs = sorted((out / "exports").glob("*.csv"))
    if not csvs:
        raise CaseworkError("演示数据没有生成 CSV 导出文件",
                            "the demo generator wrote no CSV exports", hint=str(out / "exports"))
    echo(synth.describe(summary))
    echo(importer.describe(importer.import_files(csvs, account=config.current_account())))
    definition = _params.RunDefinition(period=end, units=units,
                                       templates=list(templates or
                                                      _params.discover(templates_dir)),
                                       level="internal", params={}, path=None)
    return batch(definition, workers=workers, progress=progress, templates_dir=templates_dir)


__all__ = ["BatchResult", "batch", "jobs", "demo", "format_summary"]
