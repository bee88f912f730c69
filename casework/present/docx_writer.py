"""Word documents in 公文 layout (after GB/T 9704-2012) from a small document model.

A document model is a plain dict (JSON-serialisable, so builders and tests can make one by
hand)::

    {"title": "捕后取保候审监测", "subtitle": "（2024年12月 · 全部单位）",
     "level": "internal" | "circulated", "owner": "案件管理部门", "date": "2026-12-03",
     "body": [block, …], "appendix": [block, …]}

Blocks: ``{"kind": "heading", "level": 1-4, "text"}``, ``{"kind": "paragraph", "text"}``
(``**bold**`` segments allowed), ``{"kind": "placeholder", "text"}`` (a highlighted place for
the analyst), ``{"kind": "table", "caption", "columns", "rows", "note"}`` (cells already as
shown), ``{"kind": "figure", "path" or "png_b64", "caption"}``.

Layout: A4; margins top 37 mm, bottom 35 mm, left 28 mm, right 26 mm; title 方正小标宋简体 二号
(east-Asian font name set; Word and WPS fall back to another Chinese serif when it is absent);
body 仿宋_GB2312 三号 (16 pt) with a fixed 28.95 pt line pitch and a two-character first-line
indent; headings numbered 一、 （一） 1. （1） in 黑体 / 楷体_GB2312 / 仿宋 bold / 仿宋;
page numbers "— N —" in the footer; tables as 三线表 with 表N captions above; charts as
images with 图N captions below; the 落款 (issuing office, date in Chinese) after the body; the
appendix (附件：方法与口径说明) on a new page. The numbering is written by the writer: heading
texts come without it (a leading 一、 or 1. in a given text is removed first).

Examples
--------
>>> import tempfile, pathlib
>>> model = {"title": "示例报告", "owner": "案件管理部门", "date": "2026-03-05",
...          "body": [{"kind": "heading", "level": 1, "text": "基本情况"},
...                   {"kind": "paragraph", "text": "本期共受理**120**人。"}],
...          "appendix": [{"kind": "paragraph", "text": "方法说明。"}]}
>>> path = write(model, pathlib.Path(tempfile.mkdtemp()) / "x.docx")
>>> body_text(path).splitlines()[1:4]
['示例报告', '一、基本情况', '本期共受理120人。']
>>> "方法说明。" in body_text(path)
False
"""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path

import docx
from docx.enum.section import WD_SECTION
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_COLOR_INDEX, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt

from casework.present.wording import date_zh

#: Fonts (east-Asian names as Word/WPS know them).
TITLE_FONT = "方正小标宋简体"
BODY_FONT = "仿宋_GB2312"
H1_FONT = "黑体"
H2_FONT = "楷体_GB2312"
LATIN_FONT = "Times New Roman"
#: Font sizes (pt): 二号 22, 三号 16, 小四 12, 四号 14.
TITLE_PT, BODY_PT, TABLE_PT, PAGE_NO_PT = 22, 16, 12, 14
#: Fixed line pitch (22 lines on a GB/T 9704 page).
LINE_PT = 28.95
#: Margins in mm: top, bottom, left, right.
MARGINS_MM = (37, 35, 28, 26)
#: Text width in mm (A4 210 mm minus the side margins).
TEXT_WIDTH_MM = 210 - MARGINS_MM[2] - MARGINS_MM[3]
#: Style of the appendix title: :func:`body_text` stops there.
APPENDIX_STYLE = "附件标题"
#: Style of table cells and of captions.
TABLE_STYLE, CAPTION_STYLE = "表格文字", "Caption"

LEVEL_MARK = {"internal": "内部资料　注意保存", "circulated": ""}

_CN_DIGITS = "零一二三四五六七八九"
_OLD_NUMBER = re.compile(r"^\s*(?:[一二三四五六七八九十]+、|（[一二三四五六七八九十]+）|\d+[.．、]"
                         r"(?!\d)|（\d+）)\s*")


def chinese_number(n: int) -> str:
    """1 → 一, 10 → 十, 12 → 十二, 23 → 二十三 (numbers below 100).

    Examples
    --------
    >>> [chinese_number(i) for i in (1, 9, 10, 11, 20, 35)]
    ['一', '九', '十', '十一', '二十', '三十五']
    """
    if n < 10:
        return _CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else _CN_DIGITS[tens]) + "十" + (_CN_DIGITS[ones] if ones else "")


def heading_prefix(level: int, n: int) -> str:
    """The 公文 number of the ``n``-th heading of ``level``: 一、 （一） 1. （1）.

    Examples
    --------
    >>> [heading_prefix(lv, 2) for lv in (1, 2, 3, 4)]
    ['二、', '（二）', '2.', '（2）']
    """
    if level == 1:
        return f"{chinese_number(n)}、"
    if level == 2:
        return f"（{chinese_number(n)}）"
    if level == 3:
        return f"{n}."
    return f"（{n}）"


def strip_number(text: str) -> str:
    """A heading text without a leading 一、 （一） 1. （1）.

    Examples
    --------
    >>> strip_number("二、主要特点"), strip_number("（一）总体"), strip_number("2024年")
    ('主要特点', '总体', '2024年')
    """
    return _OLD_NUMBER.sub("", str(text), count=1).strip()


# --------------------------------------------------------------------------------------------
# styles
# --------------------------------------------------------------------------------------------


def _fonts(element, east: str, latin: str = LATIN_FONT) -> None:
    """Set the fonts of a style's or run's ``rPr`` (theme fonts removed, so they apply)."""
    rpr = element.get_or_add_rPr()
    rfonts = rpr.find(qn("w:rFonts"))
    if rfonts is None:
        rfonts = OxmlElement("w:rFonts")
        rpr.insert(0, rfonts)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        rfonts.attrib.pop(qn(attr), None)
    rfonts.set(qn("w:ascii"), latin)
    rfonts.set(qn("w:hAnsi"), latin)
    rfonts.set(qn("w:cs"), latin)
    rfonts.set(qn("w:eastAsia"), east)
    rfonts.set(qn("w:hint"), "eastAsia")


def _style(doc, name: str, *, east: str, size: float, bold: bool = False,
           base: str | None = None, align=None, exact_line: bool = True, indent: bool = False):
    styles = doc.styles
    try:
        st = styles[name]
    except KeyError:
        st = styles.add_style(name, 1)
        if base:
            st.base_style = styles[base]
    st.font.size = Pt(size)
    st.font.bold = bold
    st.font.italic = False
    st.font.color.rgb = None
    _fonts(st.element, east)
    pf = st.paragraph_format
    pf.space_before = Pt(0)
    pf.space_after = Pt(0)
    if exact_line:
        pf.line_spacing_rule = WD_LINE_SPACING.EXACTLY
        pf.line_spacing = Pt(LINE_PT)
    else:
        pf.line_spacing_rule = WD_LINE_SPACING.SINGLE
    pf.first_line_indent = Pt(2 * size) if indent else Pt(0)
    if align is not None:
        pf.alignment = align
    return st


def _setup(doc) -> None:
    sec = doc.sections[0]
    sec.page_width, sec.page_height = Mm(210), Mm(297)
    top, bottom, left, right = MARGINS_MM
    sec.top_margin, sec.bottom_margin = Mm(top), Mm(bottom)
    sec.left_margin, sec.right_margin = Mm(left), Mm(right)
    sec.footer_distance = Mm(28)
    _style(doc, "Normal", east=BODY_FONT, size=BODY_PT, indent=True,
           align=WD_ALIGN_PARAGRAPH.JUSTIFY)
    _style(doc, "Title", east=TITLE_FONT, size=TITLE_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, "Subtitle", east=H2_FONT, size=BODY_PT, align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, "Heading 1", east=H1_FONT, size=BODY_PT, indent=True)
    _style(doc, "Heading 2", east=H2_FONT, size=BODY_PT, indent=True)
    _style(doc, "Heading 3", east=BODY_FONT, size=BODY_PT, bold=True, indent=True)
    _style(doc, "Heading 4", east=BODY_FONT, size=BODY_PT, indent=True)
    _style(doc, APPENDIX_STYLE, east=H1_FONT, size=BODY_PT, base="Normal")
    _style(doc, TABLE_STYLE, east=BODY_FONT, size=TABLE_PT, base="Normal", exact_line=False,
           align=WD_ALIGN_PARAGRAPH.CENTER)
    _style(doc, CAPTION_STYLE, east=H1_FONT, size=TABLE_PT, exact_line=False,
           align=WD_ALIGN_PARAGRAPH.CENTER)
    for name in ("Title", "Heading 1", "Heading 2", "Heading 3", "Heading 4"):
        doc.styles[name].paragraph_format.keep_with_next = True
        # the default template draws a rule under the title: not in a 公文
        ppr = doc.styles[name].element.get_or_add_pPr()
        for bdr in ppr.findall(qn("w:pBdr")):
            ppr.remove(bdr)
    _page_numbers(sec)


def _page_numbers(section) -> None:
    """Footer ``— N —`` (宋体 四号, centred) with a PAGE field."""
    p = section.footer.paragraphs[0]
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.first_line_indent = Pt(0)
    for part in ("— ", None, " —"):
        if part is None:
            fld = OxmlElement("w:fldSimple")
            fld.set(qn("w:instr"), "PAGE")
            r = OxmlElement("w:r")
            t = OxmlElement("w:t")
            t.text = "1"
            r.append(t)
            fld.append(r)
            p._p.append(fld)
        else:
            run = p.add_run(part)
            run.font.size = Pt(PAGE_NO_PT)
            _fonts(run._r, "宋体")


# --------------------------------------------------------------------------------------------
# blocks
# --------------------------------------------------------------------------------------------

_BOLD = re.compile(r"\*\*(.+?)\*\*")


def _runs(par, text: str) -> None:
    """Add ``text`` to ``par``; ``**x**`` segments in bold."""
    pos = 0
    for m in _BOLD.finditer(text):
        if m.start() > pos:
            par.add_run(text[pos:m.start()])
        par.add_run(m.group(1)).bold = True
        pos = m.end()
    if pos < len(text):
        par.add_run(text[pos:])


def _border(tag: str, size_eighths: int) -> OxmlElement:
    el = OxmlElement(f"w:{tag}")
    el.set(qn("w:val"), "single" if size_eighths else "nil")
    if size_eighths:
        el.set(qn("w:sz"), str(size_eighths))
        el.set(qn("w:space"), "0")
        el.set(qn("w:color"), "000000")
    return el


def _three_line(table) -> None:
    """三线表: thick top and bottom rules, a thin rule under the header, nothing else."""
    tblpr = table._tbl.tblPr
    borders = OxmlElement("w:tblBorders")
    for tag, size in (("top", 12), ("left", 0), ("bottom", 12), ("right", 0),
                      ("insideH", 0), ("insideV", 0)):
        borders.append(_border(tag, size))
    tblpr.append(borders)
    for cell in table.rows[0].cells:
        tcpr = cell._tc.get_or_add_tcPr()
        tcb = OxmlElement("w:tcBorders")
        tcb.append(_border("bottom", 6))
        tcpr.append(tcb)


def _table(doc, block: dict, number: int) -> None:
    cols = [str(c) for c in block["columns"]]
    rows = block.get("rows") or []
    cap = doc.add_paragraph(f"表{number}　{block.get('caption') or ''}".rstrip(),
                            style=CAPTION_STYLE)
    cap.paragraph_format.keep_with_next = True
    table = doc.add_table(rows=1 + len(rows), cols=len(cols))
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    # python-docx resolves a style name by scanning every style (and the default) on each
    # assignment; a long table made that most of a report's Word time. Resolve it once.
    style_id = doc.styles[TABLE_STYLE].style_id
    for i, values in enumerate([cols, *rows]):
        for cell, v in zip(table.rows[i].cells, values):
            para = cell.paragraphs[0]
            para._p.style = style_id
            run = para.add_run("" if v is None else str(v))
            if i == 0:
                run.bold = True
    # the header row repeats on every page
    trpr = table.rows[0]._tr.get_or_add_trPr()
    hdr = OxmlElement("w:tblHeader")
    trpr.append(hdr)
    _three_line(table)
    if block.get("note"):
        note = doc.add_paragraph(style=TABLE_STYLE)
        note.alignment = WD_ALIGN_PARAGRAPH.LEFT
        note.add_run(f"注：{block['note']}")


def _figure(doc, block: dict, number: int) -> None:
    if block.get("png_b64"):
        source = io.BytesIO(base64.b64decode(block["png_b64"]))
    else:
        source = str(Path(block["path"]))
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.paragraph_format.first_line_indent = Pt(0)
    p.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
    p.paragraph_format.keep_with_next = True
    p.add_run().add_picture(source, width=Mm(min(TEXT_WIDTH_MM, block.get("width_mm", 150))))
    doc.add_paragraph(f"图{number}　{block.get('caption') or ''}".rstrip(), style=CAPTION_STYLE)


class _Counter:
    def __init__(self):
        self.heads = [0, 0, 0, 0]
        self.tables = 0
        self.figures = 0

    def heading(self, level: int) -> str:
        level = max(1, min(4, int(level)))
        self.heads[level - 1] += 1
        for k in range(level, 4):
            self.heads[k] = 0
        return heading_prefix(level, self.heads[level - 1])


def _blocks(doc, blocks, counter: _Counter) -> None:
    for b in blocks:
        kind = b.get("kind")
        if kind == "heading":
            level = max(1, min(4, int(b.get("level", 1))))
            text = strip_number(b["text"])
            numbered = b.get("numbered", True)
            prefix = counter.heading(level) if numbered else ""
            doc.add_paragraph(prefix + text, style=f"Heading {level}")
        elif kind == "paragraph":
            _runs(doc.add_paragraph(), str(b["text"]))
        elif kind == "placeholder":
            run = doc.add_paragraph().add_run(f"【{b['text']}】")
            run.font.highlight_color = WD_COLOR_INDEX.YELLOW
        elif kind == "table":
            counter.tables += 1
            _table(doc, b, counter.tables)
        elif kind == "figure":
            counter.figures += 1
            _figure(doc, b, counter.figures)
        elif kind == "page_break":
            doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
        else:
            raise ValueError(f"unknown block kind {kind!r}")


def _signature(doc, owner: str, date: str) -> None:
    """落款: issuing office and date, right-aligned, two blank lines after the body."""
    doc.add_paragraph()
    for text in (owner, date_zh(date)):
        p = doc.add_paragraph(text)
        p.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        p.paragraph_format.first_line_indent = Pt(0)
        p.paragraph_format.right_indent = Pt(4 * BODY_PT)


def write(model: dict, path) -> Path:
    """Write ``model`` (see the module docstring) as a .docx file.

    Parameters
    ----------
    model : dict
        Title, level, owner, date, body and appendix blocks.
    path : path
        Destination (its folder must exist).

    Returns
    -------
    pathlib.Path
    """
    doc = docx.Document()
    _setup(doc)
    props = doc.core_properties
    props.title = str(model.get("title", ""))
    props.author = str(model.get("owner", ""))
    mark = LEVEL_MARK.get(model.get("level", "internal"), "")
    if mark:
        p = doc.add_paragraph(mark)
        p.paragraph_format.first_line_indent = Pt(0)
        _fonts(p.runs[0]._r, H1_FONT)
    doc.add_paragraph(str(model["title"]), style="Title")
    if model.get("subtitle"):
        doc.add_paragraph(str(model["subtitle"]), style="Subtitle")
    doc.add_paragraph()
    counter = _Counter()
    _blocks(doc, model.get("body", []), counter)
    _signature(doc, str(model.get("owner") or "案件管理部门"), str(model.get("date", "")))
    appendix = model.get("appendix") or []
    if appendix:
        doc.add_section(WD_SECTION.NEW_PAGE)
        head = doc.add_paragraph(model.get("appendix_title", "附件：方法与口径说明"),
                                 style=APPENDIX_STYLE)
        head.paragraph_format.first_line_indent = Pt(0)
        counter.heads = [0, 0, 0, 0]
        _blocks(doc, appendix, counter)
    path = Path(path)
    doc.save(str(path))
    return path


# --------------------------------------------------------------------------------------------
# reading back (tests, checks)
# --------------------------------------------------------------------------------------------


def _iter_body(doc):
    """Paragraphs and tables of the document in order."""
    for child in doc.element.body.iterchildren():
        if child.tag == qn("w:p"):
            yield docx.text.paragraph.Paragraph(child, doc)
        elif child.tag == qn("w:tbl"):
            yield docx.table.Table(child, doc)


def _open(source):
    return source if hasattr(source, "element") else docx.Document(str(source))


def body_text(source) -> str:
    """The text of the body (title to 落款, tables included), without the appendix: what
    :func:`casework.present.wording.jargon_hits` must find nothing in."""
    doc = _open(source)
    lines = []
    for item in _iter_body(doc):
        if isinstance(item, docx.table.Table):
            for row in item.rows:
                lines.append("\t".join(c.text for c in row.cells))
            continue
        if item.style is not None and item.style.name == APPENDIX_STYLE:
            break
        if item.text.strip():
            lines.append(item.text)
    return "\n".join(lines)


def all_text(source) -> str:
    """The text of the whole document, appendix included."""
    doc = _open(source)
    lines = []
    for item in _iter_body(doc):
        if isinstance(item, docx.table.Table):
            lines += ["\t".join(c.text for c in row.cells) for row in item.rows]
        elif item.text.strip():
            lines.append(item.text)
    return "\n".join(lines)


def tables(source) -> list[tuple[str, list[list[str]]]]:
    """``(caption, rows)`` of every table (rows[0] is the header)."""
    doc = _open(source)
    out, caption = [], ""
    for item in _iter_body(doc):
        if isinstance(item, docx.table.Table):
            out.append((caption, [[c.text for c in row.cells] for row in item.rows]))
        elif item.style is not None and item.style.name == CAPTION_STYLE:
            caption = item.text
    return out


__all__ = ["write", "body_text", "all_text", "tables", "chinese_number", "heading_prefix",
           "strip_number", "APPENDIX_STYLE", "TABLE_STYLE", "CAPTION_STYLE", "MARGINS_MM"]
