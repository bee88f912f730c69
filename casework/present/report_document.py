"""The Word version of one report: a document model rebuilt from the executed notebook.

:func:`from_notebook` walks the executed template (markdown cells and the outputs of the
``page.*`` calls) and the artefacts beside it (the CSV of every ``page.table``, in the order
``provenance.json`` lists them; ``findings.json``) and returns a model for
:func:`casework.present.docx_writer.write`:

* it opens with 主要发现 — the sentences of ``findings.json`` (only ``status == "finding"``
  rows are in that file), or 本期未发现需关注的问题。; without ``findings.json`` the report's
  own first section opens it;
* every table is the CSV as the report wrote it (so at the report's access level), in plain
  wording (:func:`plain_table`): rates in %, months as 2026年3月, codes by their Chinese
  names; columns of test statistics (P值, 标准化得分 …) and English helper columns are left out
  of the Word table (they stay in the CSV/xlsx);
* tables longer than :data:`MAX_BODY_ROWS` rows, the 口径/说明/数据来源 sections and every
  paragraph that still holds a method word after :func:`casework.present.wording.plain_text`
  go to the appendix (附件：方法与口径说明);
* at the ``circulated`` level no internal-only sentence (case lists, 逐案核对) is kept, and
  attachments are not mentioned; a paragraph repeated verbatim is kept once.

Examples
--------
>>> import pandas as pd
>>> cols, rows, dropped = plain_table(pd.DataFrame(
...     {"派出所": ["城关派出所"], "比例": ["0.1548"], "起始月份": ["2024-04"],
...      "校正后P值": ["0.001"], "target": ["0.05"]}))
>>> cols, rows, dropped
(['派出所', '比例', '起始月份'], [['城关派出所', '15.5%', '2024年4月']], ['校正后P值', 'target'])
>>> markdown_blocks("## 二、监测发现\\n\\n共 **4,015** 人\\\\。\\n- 一项\\n> *注*")
[{'kind': 'heading', 'level': 1, 'text': '监测发现'}, {'kind': 'paragraph', 'text': '共 **4,015** 人。'}, {'kind': 'paragraph', 'text': '一项'}, {'kind': 'paragraph', 'text': '注'}]
"""  # noqa: E501

from __future__ import annotations

import html as _html
import json
import re
from pathlib import Path

import pandas as pd

from casework.present import wording
from casework.present.docx_writer import strip_number

#: Tables longer than this go to the appendix (the body says where they are).
MAX_BODY_ROWS = 20
#: Appendix tables are cut at this many rows (the CSV/xlsx hold every row).
MAX_APPENDIX_ROWS = 200
#: Level-1 sections whose heading holds one of these words go to the appendix.
APPENDIX_SECTIONS = ("口径", "说明与局限", "数据来源", "方法", "生成信息", "检验结果", "全部检验")
#: Column labels that hint at a rate (shown in % when every value lies in [0, 1]).
RATE_HINTS = ("率", "比例", "占比", "数值", "比较值", "基准值", "区间", "指标值", "最新值")

_HEADING = re.compile(r"^(#{1,6})\s+(.*)$")
_LIST = re.compile(r"^\s*(?:[-*+]|\d+[.)])\s+(.*)$")
_FIG_CAPTION = re.compile(r"^\*图：.*\*$")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_ESC = re.compile(r"\\(.)")
_ITALIC = re.compile(r"(?<!\*)\*(?!\*)([^*]+)(?<!\*)\*(?!\*)")
_TAG = re.compile(r"<[^>]+>")
_CJK = re.compile(r"[\u3400-\u9fff]")
#: page.setup's scope line (期间、单位、密级、快照): the title block says it already.
_SCOPE = "统计期间："


def inline_text(text: str) -> str:
    """Markdown inline text as plain text (``**bold**`` kept for the writer).

    Examples
    --------
    >>> inline_text(r"比例 5\\.2%，见[下表](#t)；*注意*")
    '比例 5.2%，见下表；注意'
    """
    text = _LINK.sub(r"\1", str(text))
    text = _ESC.sub(r"\1", text)
    text = _ITALIC.sub(r"\1", text)
    return _html.unescape(text).strip()


def markdown_blocks(text: str) -> list[dict]:
    """Blocks of a Markdown text: headings (``##`` → level 1; ``#`` is the document title and
    gets level 0), paragraphs, list items and quotes as paragraphs."""
    blocks: list[dict] = []
    para: list[str] = []

    def flush():
        if para:
            joined = inline_text(" ".join(para) if not _CJK.search("".join(para))
                                 else "".join(para))
            if joined:
                blocks.append({"kind": "paragraph", "text": joined})
            para.clear()

    for raw in str(text).splitlines():
        line = raw.strip()
        if line.startswith(">"):
            line = line.lstrip(">").strip()
        if not line:
            flush()
            continue
        if _FIG_CAPTION.match(line):
            flush()
            continue
        m = _HEADING.match(line)
        if m:
            flush()
            blocks.append({"kind": "heading", "level": len(m.group(1)) - 1,
                           "text": strip_number(inline_text(m.group(2)))})
            continue
        m = _LIST.match(line)
        if m:
            flush()
            para.append(m.group(1))
            flush()
            continue
        para.append(line)
    flush()
    return blocks


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _number(text: str):
    t = str(text).replace(",", "").strip()
    try:
        return float(t)
    except ValueError:
        return None


def _fmt_number(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    a = abs(v)
    if a >= 100:
        return f"{v:,.0f}"
    if a >= 1:
        return f"{v:,.1f}"
    return f"{v:.2f}"


def plain_table(frame: pd.DataFrame) -> tuple[list[str], list[list[str]], list[str]]:
    """``(columns, rows, dropped)``: a table as the CSV holds it, in plain wording.

    Rates (a column whose label hints at a rate and whose numbers all lie in [0, 1]) in %,
    ISO months as 年月, codes by their Chinese names, ``True``/``False`` as 是/否, other numbers
    rounded for reading; columns with English labels or method words (P值, 标准化得分, a
    方法 column …) are dropped and named in ``dropped``.
    """
    cols, data, dropped = [], [], []
    for col in frame.columns:
        label = str(col)
        values = ["" if pd.isna(v) else str(v) for v in frame[col]]
        values = [v[1:] if v[:2] in ("'=", "'+", "'-", "'@") else v for v in values]
        if not _CJK.search(label) or wording.jargon_hits(label):
            dropped.append(label)
            continue
        nums = [_number(v) for v in values]
        is_rate = (any(h in label for h in RATE_HINTS)
                   and any(n is not None for n in nums)
                   and all(n is None or 0 <= n <= 1 for n in nums)
                   and not any("%" in v for v in values))
        shown = []
        for v, n in zip(values, nums):
            if v in ("True", "False"):
                shown.append("是" if v == "True" else "否")
            elif n is not None and is_rate:
                shown.append(wording.percent(n))
            elif n is not None and re.fullmatch(r"[+-]?[\d,]*\.\d+(e[+-]?\d+)?|[+-]?\d+", v):
                shown.append(_fmt_number(n))
            else:
                shown.append(wording.plain_text(v))
        if any(wording.jargon_hits(v) for v in shown):
            dropped.append(label)
            continue
        cols.append(wording.plain_text(label))
        data.append(shown)
    rows = [list(r) for r in zip(*data)] if data else []
    return cols, rows, dropped


def _html_cells(html_text: str) -> tuple[list[str], list[list[str]]]:
    head = [_html.unescape(_TAG.sub("", h)) for h in re.findall(r"<th>(.*?)</th>", html_text)]
    rows = []
    for tr in re.findall(r"<tr>(.*?)</tr>", html_text.split("</thead>")[-1], flags=re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", tr, flags=re.S)
        if cells:
            rows.append([_html.unescape(_TAG.sub("", c)) for c in cells])
    return head, rows


def _caption(html_text: str) -> str:
    m = re.search(r"<caption>(.*?)</caption>", html_text, flags=re.S)
    return _html.unescape(m.group(1)) if m else ""


def _note(html_text: str) -> str:
    notes = re.findall(r'<p class="cw-note">(.*?)</p>', html_text, flags=re.S)
    notes = [_html.unescape(_TAG.sub("", n)) for n in notes if "仅显示前" not in n]
    return "；".join(notes)


# --------------------------------------------------------------------------------------------
# the walk
# --------------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, files: Path, level: str, table_names: list[str]):
        self.files = files
        self.level = level
        self.table_names = list(table_names)
        self.body: list[dict] = []
        self.appendix: list[dict] = []
        self.method: list[tuple[str, str]] = []
        self.attachments: list[str] = []
        self.seen: set[str] = set()
        self.section = ""
        self.in_appendix = False
        self.skipping = 0  # level of an internal-only section being left out (0: none)
        self.title = None

    # routing -----------------------------------------------------------------------------

    def _target(self) -> list[dict]:
        return self.appendix if self.in_appendix else self.body

    def heading(self, level: int, text: str) -> None:
        if level <= 0:
            self.title = self.title or text
            return
        if self.skipping and level <= self.skipping:
            self.skipping = 0
        text = wording.plain_text(text)
        if self.level != "internal" and wording.internal_only_hits(text):
            self.skipping = level
            return
        if level == 1:
            self.section = text
            self.in_appendix = any(w in text for w in APPENDIX_SECTIONS)
        self._target().append({"kind": "heading", "level": level, "text": text})

    def paragraph(self, text: str) -> None:
        if self.skipping:
            return
        text = wording.plain_text(text)
        if self.level != "internal":
            text = wording.strip_internal(text)
            if text is None:
                return
        if not text.strip() or text in self.seen or text.startswith(_SCOPE):
            return
        self.seen.add(text)
        if not self.in_appendix and wording.jargon_hits(text):
            self.method.append((self.section, text))
            return
        self._target().append({"kind": "paragraph", "text": text})

    def table(self, caption: str, columns, rows, note: str = "") -> None:
        if not columns or self.skipping:
            return
        caption = wording.plain_text(caption)
        block = {"kind": "table", "caption": caption, "columns": columns,
                 "rows": rows[:MAX_APPENDIX_ROWS], "note": wording.plain_text(note)}
        if len(rows) > MAX_APPENDIX_ROWS:
            block["note"] = (block["note"] + "；" if block["note"] else "") + (
                f"仅列前{MAX_APPENDIX_ROWS}行，共{len(rows):,}行，完整数据见报告的表格文件")
        if self.level != "internal" and wording.internal_only_hits(block["note"]):
            block["note"] = ""
        if not self.in_appendix and wording.jargon_hits(caption):
            self.appendix.append(block)  # a model table (regression …): method, not body
            return
        if self.in_appendix or len(rows) <= MAX_BODY_ROWS:
            self._target().append(block)
            return
        self.body.append({"kind": "paragraph",
                          "text": f"{caption or '明细表'}共{len(rows):,}行，列于附件。"})
        self.appendix.append(block)

    # outputs -----------------------------------------------------------------------------

    def markdown(self, text: str) -> None:
        for b in markdown_blocks(text):
            if b["kind"] == "heading":
                self.heading(b["level"], b["text"])
            else:
                self.paragraph(b["text"])

    def html(self, text: str) -> None:
        if "cw-anchor" in text and "<table" not in text:
            return
        if "cw-attachment" in text:
            if self.level == "internal":
                self.attachments.append(inline_text(_TAG.sub("", text)))
            return
        if "cw-table" not in text:
            return
        head, html_rows = _html_cells(text)
        frame = None
        if self.table_names:
            name = self.table_names[0]
            path = self.files / f"{name}.csv"
            if path.is_file():
                csv = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
                if [str(c) for c in csv.columns] == [h.lstrip("'") for h in head] or \
                        [str(c) for c in csv.columns] == head:
                    frame = csv
                    self.table_names.pop(0)
        if frame is None:
            if self.in_appendix and not _caption(text):
                return  # the provenance table: summarised from provenance.json instead
            frame = pd.DataFrame(html_rows, columns=head) if head else pd.DataFrame()
        cols, rows, _ = plain_table(frame)
        self.table(_caption(text), cols, rows, _note(text))

    def image(self, png_b64: str, caption: str) -> None:
        if self.skipping:
            return
        if not _CJK.search(caption):
            caption = ""  # page.figure's alt falls back to the file name
        block = {"kind": "figure", "png_b64": png_b64.replace("\n", ""),
                 "caption": wording.plain_text(caption)}
        if self.level != "internal" and wording.internal_only_hits(block["caption"]):
            block["caption"] = ""
        self._target().append(block)


def _text(value) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def findings_blocks(doc: dict | None) -> list[dict]:
    """主要发现 from a ``findings.json`` document (``None``: nothing)."""
    if doc is None:
        return []
    out = [{"kind": "heading", "level": 1, "text": "主要发现"}]
    sentences = [wording.plain_text(f.get("sentence") or "") for f in doc.get("findings", [])]
    sentences = [s for s in sentences if s]
    if not sentences:
        out.append({"kind": "paragraph", "text": "本期未发现需关注的问题。"})
    for i, s in enumerate(sentences, start=1):
        out.append({"kind": "paragraph", "text": f"{i}. {s}" if len(sentences) > 1 else s})
    n = doc.get("n_tests")
    if n:
        out.append({"kind": "paragraph",
                    "text": f"本报告共作{int(n):,}项比较，以上为排除偶然波动后仍需关注的事项；"
                            "其余比较未见需关注的变化。"})
    return out


def read_json(path: Path) -> dict | None:
    """A JSON file, or ``None`` when it is absent or unreadable."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def from_notebook(nb, files, *, title: str, subtitle: str = "", level: str = "internal",
                  owner: str = "案件管理部门", date: str = "") -> dict:
    """The document model of one report (see the module docstring).

    Parameters
    ----------
    nb : notebook node or dict
        The executed template.
    files : path
        The report's artefact folder (CSVs, ``provenance.json``, ``findings.json``).
    title, subtitle, level, owner, date : str
        Title (the template's Chinese title), a line under it (period and unit), access level,
        issuing office (the sidecar's ``owner``) and ISO date of the 落款.
    """
    files = Path(files)
    prov = read_json(files / "provenance.json") or {}
    b = _Builder(files, level, prov.get("tables", []))
    for cell in nb["cells"]:
        tags = set(cell.get("metadata", {}).get("tags", []))
        if tags & {"parameters", "injected-parameters", "remove_cell", "remove-cell"}:
            continue
        if cell["cell_type"] == "markdown":
            b.markdown(_text(cell["source"]))
            continue
        if cell["cell_type"] != "code":
            continue
        for out in cell.get("outputs", []):
            if out.get("output_type") not in ("display_data", "execute_result"):
                continue
            data = out.get("data", {})
            if "image/png" in data:
                meta = out.get("metadata", {}).get("image/png", {})
                b.image(_text(data["image/png"]), str(meta.get("alt", "")))
            elif "text/markdown" in data:
                b.markdown(_text(data["text/markdown"]))
            elif "text/html" in data:
                b.html(_text(data["text/html"]))
    found = read_json(files / "findings.json")
    body = findings_blocks(found) + b.body
    appendix = list(b.appendix)
    if b.method:
        appendix.append({"kind": "heading", "level": 1, "text": "正文所涉方法说明"})
        last = None
        for section, text in b.method:
            if section and section != last:
                appendix.append({"kind": "heading", "level": 2, "text": section})
                last = section
            appendix.append({"kind": "paragraph", "text": text})
    if b.attachments:
        appendix.append({"kind": "heading", "level": 1, "text": "随附材料（仅限内部）"})
        appendix += [{"kind": "paragraph", "text": t} for t in b.attachments]
    if prov:
        appendix.append({"kind": "heading", "level": 1, "text": "数据来源"})
        appendix.append({"kind": "paragraph", "text": (
            f"数据快照 {prov.get('snapshot', '—')}，代码版本 {prov.get('code_version', '—')}，"
            f"生成于 {prov.get('generated_at', '—')}；全部表格见报告的 tables.xlsx。")})
    return {"title": title or b.title or "", "subtitle": subtitle, "level": level,
            "owner": owner, "date": date, "body": body, "appendix": appendix}


__all__ = ["from_notebook", "findings_blocks", "plain_table", "markdown_blocks", "inline_text",
           "read_json", "MAX_BODY_ROWS", "APPENDIX_SECTIONS"]
