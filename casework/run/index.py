"""The batch's index page: ``reports/<period>/index.html``, Chinese, offline.

The page opens with the month's 要点: the findings of every report of the batch (read from the
``findings.json`` each template writes beside its report, see
:mod:`casework.notebook.findings`), strongest first, each with its full entity name, one
Chinese sentence and a link to the report section that shows it. Only findings (rows that
passed each report's error control) appear; when no report found anything the page says so
plainly (本期未发现需关注的问题。). Reports that failed, or whose template wrote no
``findings.json``, are named, so an empty 要点 never hides a report that was not evaluated.

Below come every report of the batch (title, template, unit, level, status, number of
findings, duration, link) and the other reports already in the folder. The page is rendered
from the Jinja2 template ``casework/resources/batch/index.html.j2`` with every value escaped,
written to a temporary file and renamed into place; the batch rewrites it after each report,
so it is useful while a batch is still running.

Examples
--------
>>> nbconvert_id("七、存在问题") == "%E4%B8%83%E3%80%81%E5%AD%98%E5%9C%A8%E9%97%AE%E9%A2%98"
True
>>> nbconvert_id("Summary of 2026")
'Summary-of-2026'
"""

from __future__ import annotations

import html as _html
import json
import math
import os
import re
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import jinja2

from casework.analysis import periods
from casework.base import config
from casework.base.errors import CaseworkError
from casework.present.findings_text import NO_FINDINGS
from casework.run.report import FINDINGS_FILE, now_iso

#: At most this many findings are listed in the 要点 (one screen); the rest are counted.
MAX_POINTS = 10

LEVEL_ZH = {"internal": "内部", "circulated": "通报/外发"}
DIRECTION_ZH = {"unfavourable": "出现不利变化", "favourable": "出现有利变化",
                "neutral": "出现明显变化"}

_HEADING_RE = re.compile(r'<h[1-6][^>]*\sid="([^"]+)"[^>]*>(.*?)</h[1-6]>', re.S)
_ID_RE = re.compile(r'\sid="([^"]+)"')
_TAG_RE = re.compile(r"<[^>]+>")
_ENV = None


# --------------------------------------------------------------------------------------------
# reading the findings of one report
# --------------------------------------------------------------------------------------------


@dataclass
class ReportFindings:
    """What the index knows about the findings of one report of the batch.

    Attributes
    ----------
    state : str
        ``"ok"`` (``findings.json`` read), ``"missing"`` (the template wrote none),
        ``"unreadable"`` (not valid JSON or not the expected shape), ``"failed"`` (the report
        failed: its findings, if any, are not trusted).
    findings : list of dict
        The ``findings`` list of ``findings.json`` (empty unless ``state == "ok"``).
    error : str
        Why the file could not be read (``"unreadable"`` only).
    """

    state: str
    findings: list = field(default_factory=list)
    error: str = ""


def findings_path(html_path) -> Path:
    """``<stem>_files/findings.json`` beside the report ``<stem>.html``."""
    html_path = Path(html_path)
    return html_path.with_name(f"{html_path.stem}_files") / FINDINGS_FILE


def read_findings(path) -> ReportFindings:
    """Read one ``findings.json`` (see :mod:`casework.notebook.findings` for its layout).

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "findings.json"
    >>> read_findings(p).state
    'missing'
    >>> _ = p.write_text(json.dumps({"findings": [{"rank": 1}]}), encoding="utf-8")
    >>> rf = read_findings(p); rf.state, len(rf.findings)
    ('ok', 1)
    >>> _ = p.write_text("{", encoding="utf-8"); read_findings(p).state
    'unreadable'
    """
    path = Path(path)
    if not path.is_file():
        return ReportFindings("missing")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        return ReportFindings("unreadable", error=f"{type(err).__name__}: {str(err)[:120]}")
    items = doc.get("findings") if isinstance(doc, dict) else None
    if not isinstance(items, list) or not all(isinstance(f, dict) for f in items):
        return ReportFindings("unreadable", error="没有 findings 列表 / no findings list")
    return ReportFindings("ok", items)


# --------------------------------------------------------------------------------------------
# links to report sections
# --------------------------------------------------------------------------------------------


def nbconvert_id(text: str) -> str:
    """The ``id`` nbconvert gives a Markdown heading with this text (spaces → ``-``, then
    URL-encoded), so a finding's section title can link to its heading."""
    return quote(str(text).replace(" ", "-"), safe="?/:@!$&'()*+,;=")


def _plain(fragment: str) -> str:
    text = _html.unescape(_TAG_RE.sub("", fragment))
    return text.replace("¶", "").strip()


def section_anchor(html_text: str | None, section, section_title=None) -> str:
    """The ``id`` in a report's HTML of the section a finding names, or ``""`` (report top).

    Tried in order: ``section`` itself as an id (an explicit anchor such as
    :func:`casework.notebook.page.anchor` writes), the id of a heading whose text is
    ``section`` or ``section_title``, then a heading whose text ends with ``section_title``
    (``三、派出所监测`` for ``派出所监测``). Without the HTML, the heading id of
    ``section_title`` (else ``section``) is returned.

    Examples
    --------
    >>> hid = nbconvert_id("三、派出所监测")
    >>> page = f'<h2 id="{hid}">三、派出所监测</h2><p><a id="stations"></a></p>'
    >>> section_anchor(page, "stations"), section_anchor(page, "x", "派出所监测") == hid
    ('stations', True)
    >>> section_anchor(page, "nowhere", "无此节")
    ''
    """
    names = [str(s).strip() for s in (section, section_title)
             if isinstance(s, str) and str(s).strip()]
    if not names:
        return ""
    if html_text is None:
        return nbconvert_id(names[-1])
    ids = set(_ID_RE.findall(html_text))
    for name in names:
        for cand in (name, _html.escape(name, quote=True), nbconvert_id(name)):
            if cand in ids:
                return _html.unescape(cand)
    headings = [(hid, _plain(text)) for hid, text in _HEADING_RE.findall(html_text)]
    for name in names:
        for hid, text in headings:
            if text == name or (len(name) >= 2 and text.endswith(name)):
                return _html.unescape(hid)
    return ""


def _href(html_name: str, anchor: str) -> str:
    if not anchor:
        return html_name
    return f"{html_name}#{quote(anchor, safe='%?/:@!$&()*+,;=-._~')}"


# --------------------------------------------------------------------------------------------
# the 要点
# --------------------------------------------------------------------------------------------


def _number(v, default=math.inf) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        return default
    return default if math.isnan(x) else x


def _text(v) -> str:
    return "" if v is None else str(v).strip()


def _strength(item: dict) -> tuple:
    f = item["finding"]
    return (_number(f.get("q_value")), _number(f.get("rank")), _number(f.get("p_value")),
            item["order"])


def _since(month: str) -> str:
    """``"2026-03"`` → ``"自2026年3月起"``; anything else → ``""``."""
    if not re.match(r"^\d{4}-\d{2}$", month):
        return ""
    try:
        return f"自{periods.parse(month).label_zh}起"
    except CaseworkError:
        return ""


def _point(item: dict) -> dict:
    """One line of the 要点: entity (bold), the rest of the sentence, where to read more."""
    f = item["finding"]
    name = _text(f.get("entity_name")) or _text(f.get("entity_id")) or "（未命名对象）"
    sentence = _text(f.get("sentence"))
    if not sentence:
        since = _since(_text(f.get("start_month")))
        what = DIRECTION_ZH.get(_text(f.get("direction")), "出现明显变化")
        indicator = _text(f.get("indicator_name")) or _text(f.get("indicator"))
        sentence = f"{name}{indicator}{since}{what}。"
    rest = sentence[len(name):] if sentence.startswith(name) else f"：{sentence}"
    return {"entity_name": name, "rest": rest, "direction": _text(f.get("direction")),
            "href": item["href"], "where": item["where"], "also": []}


def keypoints(entries: list, *, max_points: int = MAX_POINTS) -> tuple[list, int, int]:
    """The 要点 lines from ``(result, ReportFindings, html_text)`` entries.

    Findings of all reports are ordered by their ``q_value``, then ``rank`` and ``p_value``
    (strongest first); the same entity and indicator found by several reports is one line
    with links to each. Returns ``(lines, lines not shown, findings in all)``.
    """
    items = []
    for order, (r, rf, html_text) in enumerate(entries):
        if rf.state != "ok" or not rf.findings:
            continue
        html_name = Path(r.html).name
        title = r.title_zh or r.template
        if r.unit != "all":
            title = f"{title}（{r.unit_label or r.unit}）"
        for f in rf.findings:
            anchor = section_anchor(html_text, f.get("section"), f.get("section_title"))
            section_title = _text(f.get("section_title"))
            where = f"《{title}》" + (f"“{section_title}”" if section_title else "")
            items.append({"finding": f, "result": r, "order": order,
                          "href": _href(html_name, anchor), "where": where})
    items.sort(key=_strength)
    lines, keys = [], {}
    for item in items:
        f = item["finding"]
        scope = item["result"].unit if _text(f.get("entity_type")) == "all" else ""
        key = (_text(f.get("entity_id")) or _text(f.get("entity_name")),
               _text(f.get("indicator")), _text(f.get("direction")), scope)
        if key in keys:
            line = lines[keys[key]]
            hrefs = [line["href"]] + [o["href"] for o in line["also"]]
            if item["href"] not in hrefs:
                line["also"].append({"href": item["href"], "where": item["where"]})
            continue
        keys[key] = len(lines)
        lines.append(_point(item))
    return lines[:max_points], max(0, len(lines) - max_points), len(items)


def _names(results) -> str:
    shown = [f"{r.title_zh or r.template}（{r.unit_label or r.unit}）" for r in results[:8]]
    return "、".join(shown) + (f" 等 {len(results)} 份" if len(results) > 8 else "")


def _notes(entries, *, done: int, total: int | None) -> list[str]:
    notes = []
    if total is not None and done < total:
        notes.append(f"批处理进行中：已完成 {done:,}/{total:,} 份报告，本页随之更新。")
    failed = [r for r, rf, _ in entries if rf.state == "failed"]
    missing = [r for r, rf, _ in entries if rf.state == "missing"]
    unreadable = [r for r, rf, _ in entries if rf.state == "unreadable"]
    if failed:
        notes.append(f"{len(failed)} 份报告生成失败，其发现未纳入本页：{_names(failed)}。")
    if missing:
        notes.append(f"{len(missing)} 份报告的模板未输出 findings.json（机器可读的发现），"
                     f"未纳入本页：{_names(missing)}。")
    if unreadable:
        notes.append(f"{len(unreadable)} 份报告的 findings.json 无法读取，未纳入本页："
                     f"{_names(unreadable)}。")
    return notes


# --------------------------------------------------------------------------------------------
# the page
# --------------------------------------------------------------------------------------------


def _template() -> jinja2.Template:
    global _ENV
    if _ENV is None:
        _ENV = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(config.RESOURCES_DIR / "batch")),
            autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True,
            lstrip_blocks=True, keep_trailing_newline=True)
    return _ENV.get_template("index.html.j2")


def report_findings(period_dir: Path, results: list) -> list:
    """``(result, ReportFindings, html_text or None)`` for each result, in order.

    The report's HTML is read only when it has findings (to resolve section anchors).
    """
    out = []
    for r in results:
        if not r.ok or not r.html:
            out.append((r, ReportFindings("failed"), None))
            continue
        html_path = Path(period_dir) / Path(r.html).name
        rf = read_findings(findings_path(html_path))
        text = None
        if rf.state == "ok" and rf.findings:
            try:
                text = html_path.read_text(encoding="utf-8")
            except OSError:
                text = None
        out.append((r, rf, text))
    return out


def _row(r, rf: ReportFindings) -> dict:
    name = Path(r.html).name if r.html else None
    if r.ok:
        detail = f"{r.html_bytes / 1024:,.0f} KB"
    else:
        err = r.error or {}
        cell = f"第 {err.get('cell')} 个单元格：" if err.get("cell") is not None else ""
        src = f"（{err.get('source')}）" if err.get("source") else ""
        detail = f"{cell}{src}{err.get('ename', '')}：{str(err.get('evalue', ''))[:300]}"
    findings, findings_href = "—", None
    if rf.state == "ok":
        findings = f"{len(rf.findings):,} 项"
        findings_href = f"{Path(name).stem}_files/{FINDINGS_FILE}"
    elif rf.state == "missing":
        findings = "未提供 findings.json"
    elif rf.state == "unreadable":
        findings = "findings.json 无法读取"
    return {"href": name, "title": r.title_zh or r.template, "template": r.template,
            "unit": r.unit_label or r.unit, "level": LEVEL_ZH.get(r.level, r.level), "ok": r.ok,
            "findings": findings, "findings_href": findings_href,
            "duration": f"{r.duration_s:,.1f} 秒", "detail": detail}


def render_index(period_dir: Path, results: list, *, period: str, batch_id: str = "",
                 total: int | None = None, max_points: int = MAX_POINTS) -> str:
    """The index page's HTML (see :func:`write_index`)."""
    period_dir = Path(period_dir)
    try:
        plabel = periods.parse(period).label_zh
    except CaseworkError:
        plabel = period
    entries = report_findings(period_dir, results)
    points, more, n_items = keypoints(entries, max_points=max_points)
    evaluated = [rf for _, rf, _ in entries if rf.state == "ok"]
    n_with = sum(1 for rf in evaluated if rf.findings)
    if not evaluated:
        meta = ("本批报告均未提供 findings.json，无法汇总要点。" if results
                else "尚无已完成的报告。")
        no_findings = "本期要点无法汇总：没有报告输出机器可读的发现。" if results else ""
    else:
        no_findings = NO_FINDINGS
        meta = (f"汇总 {len(evaluated):,} 份报告的发现（每份报告对其全部检测项做错误发现率控制，"
                "只列通过控制的发现），按证据强弱排列")
        if n_items:
            meta += f"：共 {len(points) + more:,} 项，来自 {n_with:,} 份报告。"
        else:
            meta += "。"
    seen = {f"{r.template}_{r.unit}.html" for r in results}
    others = sorted(p.name for p in period_dir.glob("*.html")
                    if p.name != "index.html" and p.name not in seen)
    n_ok = sum(r.ok for r in results)
    summary = (f"共 {len(results):,} 份报告：成功 {n_ok:,} 份，失败 {len(results) - n_ok:,} 份。"
               f"批次 {batch_id}，更新于 {now_iso()}。运行日志见 batch_log.jsonl。")
    return _template().render(
        period_label=plabel, keypoints_meta=meta, points=points, more=more,
        no_findings=no_findings, notes=_notes(entries, done=len(results), total=total),
        summary=summary, rows=[_row(r, rf) for r, rf, _ in entries], others=others)


def write_index(period_dir: Path, results: list, *, period: str, batch_id: str = "",
                total: int | None = None) -> Path:
    """Write ``reports/<period>/index.html``: the 要点, then every report of this batch.

    Parameters
    ----------
    period_dir : path
        ``reports/<period>/``.
    results : list of RunResult
        The reports of the batch so far (each report's ``findings.json`` is read from
        ``<template>_<unit>_files/``).
    period : str
        Period code (for the title).
    batch_id : str
    total : int, optional
        Reports the batch will produce; while fewer are done the page says the batch is
        still running.

    Returns
    -------
    Path
        The index page, written to a temporary file and renamed into place.
    """
    period_dir = Path(period_dir)
    body = render_index(period_dir, results, period=period, batch_id=batch_id, total=total)
    path = period_dir / "index.html"
    tmp = period_dir / f".index-{os.getpid()}-{uuid.uuid4().hex[:6]}.html"
    try:
        tmp.write_text(body, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


__all__ = ["FINDINGS_FILE", "MAX_POINTS", "ReportFindings", "findings_path", "keypoints",
           "nbconvert_id", "read_findings", "render_index", "report_findings",
           "section_anchor", "write_index"]
