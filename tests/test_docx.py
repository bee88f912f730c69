"""Word deliverables looked at as a person would: opened with python-docx, and once converted
to PDF by LibreOffice and read back with pdftotext."""

from __future__ import annotations

import re
import shutil
import subprocess

import docx
import pandas as pd
import pytest
from docx.shared import Mm

from casework.present import briefings, docx_writer, report_document, wording
from casework.run import deliverables, report

PERIOD = "2024-12"  # the last month of the conftest synth_small data

HEADING_RES = {1: re.compile(r"^[一二三四五六七八九十]+、"),
               2: re.compile(r"^（[一二三四五六七八九十]+）"),
               3: re.compile(r"^\d+\."), 4: re.compile(r"^（\d+）")}


def _model(level="internal"):
    return {
        "title": "捕后取保候审监测", "subtitle": "（2024年12月 · 全部单位）", "level": level,
        "owner": "案件管理部门", "date": "2026-03-05",
        "body": [
            {"kind": "heading", "level": 1, "text": "一、主要发现"},
            {"kind": "paragraph", "text": "城关派出所捕后取保候审率自2024年4月起明显上升。"},
            {"kind": "heading", "level": 2, "text": "总体"},
            {"kind": "heading", "level": 3, "text": "分所"},
            {"kind": "heading", "level": 4, "text": "细项"},
            {"kind": "heading", "level": 2, "text": "其他"},
            {"kind": "table", "caption": "各派出所", "columns": ["派出所", "比例"],
             "rows": [["城关派出所", "15.5%"], ["和平派出所", "3.1%"]]},
            {"kind": "placeholder", "text": "待分析人员补充"},
            {"kind": "heading", "level": 1, "text": "建议"},
        ],
        "appendix": [{"kind": "paragraph", "text": "逐站 CUSUM 累积和检验。"}],
    }


def _headings(doc):
    return [(int(p.style.name.split()[-1]), p.text) for p in doc.paragraphs
            if p.style.name.startswith("Heading")]


def test_layout_styles_and_heading_numbering(tmp_path):
    path = docx_writer.write(_model(), tmp_path / "a.docx")
    doc = docx.Document(str(path))
    sec = doc.sections[0]
    assert (round(sec.page_width.mm), round(sec.page_height.mm)) == (210, 297)
    margins = [sec.top_margin, sec.bottom_margin, sec.left_margin, sec.right_margin]
    assert [round(m.mm) for m in margins] == list(docx_writer.MARGINS_MM)
    normal = doc.styles["Normal"]
    assert normal.font.size.pt == 16
    rfonts = normal.element.rPr.rFonts
    assert rfonts.get("{http://schemas.openxmlformats.org/wordprocessingml/2006/main}eastAsia") \
        == docx_writer.BODY_FONT
    title = doc.styles["Title"].element.rPr.rFonts
    assert docx_writer.TITLE_FONT in title.xml
    heads = _headings(doc)
    assert [t for _, t in heads] == ["一、主要发现", "（一）总体", "1.分所", "（1）细项",
                                     "（二）其他", "二、建议"]
    for level, text in heads:
        assert HEADING_RES[level].match(text), text
    # page numbers, 落款, 三线表
    footer = doc.sections[0].footer.paragraphs[0]._p.xml
    assert "PAGE" in footer
    texts = [p.text for p in doc.paragraphs]
    assert "案件管理部门" in texts and "2026年3月5日" in texts
    tbl = doc.tables[0]._tbl.xml
    assert 'w:insideV w:val="nil"' in tbl and "w:top" in tbl
    assert docx_writer.tables(path)[0][0] == "表1　各派出所"
    # the appendix is not body
    assert "CUSUM" not in docx_writer.body_text(path)
    assert "CUSUM" in docx_writer.all_text(path)
    assert Mm(docx_writer.TEXT_WIDTH_MM).mm == pytest.approx(156)


def test_wording_checks():
    assert wording.jargon_hits("连续5点中有4点超出1σ（同侧）")
    assert wording.jargon_hits("CUSUM 累积上移信号")
    assert wording.jargon_hits("与该指标的期望方向相反")
    assert wording.jargon_hits("规则 closed_before_accepted")
    assert wording.jargon_hits("比例 0.125，2026-03 起")
    assert not wording.jargon_hits("自2026年3月起连续3个月高于同期其他派出所，比例12.5%")
    assert wording.plain_text("2026-03") == "2026年3月"
    assert "_" not in wording.plain_text("closed_before_accepted")
    assert wording.strip_internal("核对（内部案件清单 141 人，可逐案核对）。") == "核对。"


def test_plain_table_keeps_the_numbers():
    frame = pd.DataFrame({"派出所": ["甲", "乙"], "逮捕人数": ["4015", "<5"],
                          "比例": ["0.052", "—"], "校正后P值": ["0.01", "0.5"],
                          "起始月份": ["2024-04", ""]})
    cols, rows, dropped = report_document.plain_table(frame)
    assert cols == ["派出所", "逮捕人数", "比例", "起始月份"] and dropped == ["校正后P值"]
    assert rows == [["甲", "4,015", "5.2%", "2024年4月"], ["乙", "<5", "—", ""]]


def _num(text: str):
    t = text.replace(",", "").strip()
    try:
        return float(t[:-1]) / 100 if t.endswith("%") else float(t)
    except ValueError:
        return None


def _assert_table_matches_csv(rows, csv: pd.DataFrame):
    head, body = rows[0], rows[1:]
    assert len(body) == min(len(csv), report_document.MAX_APPENDIX_ROWS)
    for j, col in enumerate(head):
        assert col in csv.columns, col
        for r, row in enumerate(body):
            cell = row[j]
            want = str(csv[col].iloc[r]).lstrip("'")
            got = _num(cell)
            if got is not None and _num(want) is not None:
                assert got == pytest.approx(_num(want), abs=0.06, rel=0.01), (col, cell, want)


@pytest.fixture(scope="module")
def bail_reports(tmp_path_factory, _demo_home):
    """post_arrest_bail at both levels, run once through the real runner."""
    import os

    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(_demo_home)
    report.ensure_kernel(install=True)
    root = tmp_path_factory.mktemp("docx_reports")
    try:
        out = {lvl: report.run("post_arrest_bail", period=PERIOD, level=lvl,
                               reports_dir=root / lvl) for lvl in ("internal", "circulated")}
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    return out


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_real_report_docx(bail_reports):
    for level, res in bail_reports.items():
        assert res.ok, res.describe()
        path = re.sub(r"\.html$", ".docx", res.html)
        files = res.html[:-5] + "_files"
        body = docx_writer.body_text(path)
        assert body.splitlines()[0 if level == "circulated" else 1] == "捕后取保候审监测"
        assert not wording.jargon_hits(body), wording.jargon_hits(body)
        assert not re.search(r"[a-z]+_[a-z_]+", body)
        if level == "circulated":
            assert not wording.internal_only_hits(docx_writer.all_text(path))
        doc = docx.Document(path)
        heads = _headings(doc)
        assert heads[0] == (1, "一、主要发现")
        for lv, text in heads:
            assert HEADING_RES[lv].match(text), text
        # every Word table's numbers equal the CSV the report wrote
        names = report_document.read_json(f"{files}/provenance.json")["tables"]
        csvs = [pd.read_csv(f"{files}/{n}.csv", encoding="utf-8-sig", dtype=str,
                            keep_default_na=False) for n in names]
        checked = 0
        for _, rows in docx_writer.tables(path):
            match = [c for c in csvs if set(rows[0]) <= set(c.columns)
                     and len(rows) - 1 == min(len(c), report_document.MAX_APPENDIX_ROWS)]
            if match:
                _assert_table_matches_csv(rows, match[0])
                checked += 1
        assert checked >= 2


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_month_documents(bail_reports):
    period_dir = report.output_paths(PERIOD, "x", "all",
                                     reports_dir=bail_reports["internal"].html.rsplit(
                                         f"/{PERIOD}/", 1)[0])[0].parent
    docs = deliverables.month_documents(period_dir, period=PERIOD)
    names = [p.name for p in docs]
    assert f"按期分析_{PERIOD}.docx" in names
    for p in docs:
        body = docx_writer.body_text(p)
        assert not wording.jargon_hits(body), (p.name, wording.jargon_hits(body))
        if p.name.startswith("联席会议"):
            assert not wording.internal_only_hits(docx_writer.all_text(p))
    analysis = docx.Document(str(docs[0]))
    assert [t for lv, t in _headings(analysis) if lv == 1] == [
        "一、基本情况", "二、存在问题", "三、原因分析", "四、对策建议"]


def test_joint_meeting_is_circulated_without_case_lists():
    f = {"entity_type": "station", "entity_id": "东湖分局/城关派出所",
         "entity_name": "东湖分局城关派出所", "indicator_name": "捕后取保候审率",
         "detector": "bail", "start_month": "2024-04", "months_signalling": 9,
         "sentence": "东湖分局城关派出所捕后取保候审率自2024年4月起明显上升"
                     "（内部案件清单 5 人，可逐案核对）。"}
    m = briefings.joint_meeting("东湖分局", [f], period_label="2024年12月", date="2026-12-03")
    text = " ".join(b.get("text", "") for b in m["body"])
    assert m["level"] == "circulated" and not wording.internal_only_hits(text)
    assert "2024年4月" in text and "第九十六条" in text


@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice (soffice) or pdftotext not installed: "
                           "apt-get install libreoffice-writer-nogui poppler-utils")
def test_libreoffice_renders_the_docx(tmp_path):
    path = docx_writer.write(_model(), tmp_path / "brief.docx")
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{tmp_path}/lo",
                    "--convert-to", "pdf", "--outdir", str(tmp_path), str(path)],
                   check=True, capture_output=True, timeout=180)
    pdf = tmp_path / "brief.pdf"
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True,
                          text=True).stdout
    assert "捕后取保候审监测" in text.replace(" ", "")
    info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert 1 <= pages <= 4
