"""Word deliverables: ``<report>.docx`` beside each HTML report, and the month's documents.

:func:`report_docx` is called by :func:`casework.run.report.run` after the HTML export (the
.docx is moved into place with the report); :func:`month_documents` builds, from the
``findings.json`` and CSV tables of the reports of one period folder, the three documents of
the office's monthly work (:mod:`casework.present.briefings`): the 按期分析, the 案卡差错通报
(when the data-quality report ran) and one 联席会议 briefing per investigating agency with
findings. The batch calls it after the index; ``casework documents --period …`` on its own.

Examples
--------
>>> import tempfile
>>> month_documents(tempfile.mkdtemp(), period="2024-12")
[]
"""

from __future__ import annotations

import datetime as _dt
import re
import shutil
from pathlib import Path

import pandas as pd
import yaml

from casework.analysis import periods
from casework.present import briefings, docx_writer, report_document

#: The data-quality report whose tables feed the 案卡差错通报.
QUALITY_TEMPLATE = "data_quality"
_UNSAFE = re.compile(r'[\\/:*?"<>|\s]+')


def today() -> str:
    """Today's date, ISO (the 落款 date)."""
    return _dt.date.today().isoformat()


def sidecar_owner(path) -> str:
    """The ``owner`` of a template sidecar (default 案件管理部门)."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        data = {}
    return str(data.get("owner") or "案件管理部门")


def report_docx(nb, files, dest, *, title: str, period_label: str, unit_label: str,
                level: str, owner: str) -> Path:
    """Write the Word version of one report (:mod:`casework.present.report_document`).

    Parameters
    ----------
    nb : notebook node
        The executed template.
    files : path
        The report's artefact folder.
    dest : path
        The .docx to write (beside the HTML).
    title, period_label, unit_label, level, owner : str
        Template title, ``"2024年12月"``, unit name, access level, issuing office.
    """
    model = report_document.from_notebook(
        nb, files, title=title, subtitle=f"（{period_label} · {unit_label}）", level=level,
        owner=owner, date=today())
    return docx_writer.write(model, dest)


def _reports(period_dir: Path) -> list[tuple[str, Path, dict]]:
    """``(stem, files folder, findings document)`` of every report with a findings.json."""
    out = []
    for files in sorted(period_dir.glob("*_files")):
        doc = report_document.read_json(files / "findings.json")
        if doc is not None and (period_dir / f"{files.name[:-6]}.html").exists():
            out.append((files.name[:-6], files, doc))
    return out


def _csv(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    return pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)


def month_documents(period_dir, *, period: str, level: str | None = None,
                    owner: str = "案件管理部门") -> list[Path]:
    """Build the month's 按期分析, 案卡差错通报 and 联席会议 briefings in ``period_dir``.

    Parameters
    ----------
    period_dir : path
        ``reports/<period>/`` holding the month's reports.
    period : str
        Period code.
    level : str, optional
        Access level of the 按期分析 and the 通报; default: ``internal`` when every report
        was run internally, else ``circulated``. Briefings are always circulated.

    Returns
    -------
    list of pathlib.Path
        The documents written (none when no report wrote a ``findings.json``).
    """
    period_dir = Path(period_dir)
    reports = _reports(period_dir) if period_dir.is_dir() else []
    if not reports:
        return []
    label = periods.parse(period).label_zh
    if level is None:
        level = ("internal" if all(d.get("level") == "internal" for _, _, d in reports)
                 else "circulated")
    date = today()
    out = []
    # a circulated document never draws on an internal report (real names)
    docs = [d for _, _, d in reports if level == "internal" or d.get("level") == "circulated"]
    model = briefings.periodic_analysis(docs, period_label=label, date=date, owner=owner,
                                        level=level)
    out.append(docx_writer.write(model, period_dir / f"按期分析_{period}.docx"))

    quality = [(stem, files, d) for stem, files, d in reports
               if d.get("template") == QUALITY_TEMPLATE]
    if quality:
        stem, files, doc = quality[0]
        attachment = None
        q_level = doc.get("level", "internal")
        if q_level == "internal" and (files / "circular.xlsx").is_file():
            attachment = f"案卡差错通报_附件_{period}.xlsx"
            shutil.copyfile(files / "circular.xlsx", period_dir / attachment)
        model = briefings.error_notice(
            _csv(files / "error_rate_department.csv"), _csv(files / "rule_counts.csv"),
            [f for f in doc.get("findings", []) if f.get("detector") != "modification"],
            period_label=label, date=date, owner=owner, level=q_level, attachment=attachment)
        out.append(docx_writer.write(model, period_dir / f"案卡差错通报_{period}.docx"))

    by_agency: dict[str, list[dict]] = {}
    seen = set()
    for _, _, doc in reports:
        for f in doc.get("findings", []):
            agency = briefings.agency_of(f)
            key = (f.get("entity_id"), f.get("indicator"))
            if agency and key not in seen:
                seen.add(key)
                by_agency.setdefault(agency, []).append(f)
    for agency, found in sorted(by_agency.items()):
        model = briefings.joint_meeting(agency, found, period_label=label, date=date,
                                        owner=owner)
        name = _UNSAFE.sub("_", agency)
        out.append(docx_writer.write(model, period_dir / f"联席会议通报_{name}_{period}.docx"))
    return out


__all__ = ["report_docx", "month_documents", "sidecar_owner", "today"]
