"""The batch index (issue 13, item 7): the 要点 page built from each report's findings.json,
reports without findings.json named, the batch log's finding counts, and findings.json moving
with its report atomically."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import numpy as np
import pytest

from casework.base import config
from casework.notebook import findings as nb_findings
from casework.notebook import params
from casework.present.findings_text import NO_FINDINGS
from casework.run import batch, index, report
from casework.run.report import RunResult

PERIOD = "2026-11"
STATION = "江州市公安局青山分局和平派出所"
DEPT = "江州市江滨区人民检察院第二检察部"


def _finding(rank, entity_id, name, q, *, indicator="post_arrest_bail_rate",
             indicator_name="捕后取保候审率", section="stations", section_title="派出所监测",
             sentence=None, direction="unfavourable", entity_type="station"):
    return {"rank": rank, "entity_type": entity_type, "entity_id": entity_id,
            "entity_name": name, "indicator": indicator, "indicator_name": indicator_name,
            "direction": direction, "start_month": "2026-03", "months_signalling": 6,
            "q_value": q, "p_value": q / 10, "section": section,
            "section_title": section_title,
            "sentence": f"{name}{indicator_name}自2026年3月起明显上升。" if sentence is None
            else sentence}


def _report(period_dir: Path, template: str, title: str, found, *, unit="all",
            html_body="", status="ok") -> RunResult:
    """A finished report on disk: <template>_<unit>.html and, unless ``found`` is None, its
    findings.json (hand-made, as notebook.findings writes it)."""
    stem = f"{template}_{unit}"
    res = RunResult(template=template, period=PERIOD, unit=unit, title_zh=title,
                    unit_label="全部单位" if unit == "all" else unit, status=status,
                    duration_s=3.2, html_bytes=2048)
    if status != "ok":
        res.error = {"cell": 7, "ename": "ValueError", "evalue": "故意失败", "source": "x = 1"}
        return res
    html = period_dir / f"{stem}.html"
    html.write_text(f"<html><body>{html_body}</body></html>", encoding="utf-8")
    res.html = str(html)
    files = period_dir / f"{stem}_files"
    files.mkdir()
    if found is not None:
        doc = {"template": template, "title": title, "period": PERIOD, "findings": found}
        (files / "findings.json").write_text(json.dumps(doc, ensure_ascii=False),
                                             encoding="utf-8")
        res.findings = len(found)
    return res


def _heading(text: str) -> str:
    return f'<h2 id="{index.nbconvert_id(text)}">{text}<a class="anchor-link">¶</a></h2>'


@pytest.fixture
def batch_dir(tmp_path):
    d = tmp_path / PERIOD
    d.mkdir()
    bail = _report(d, "post_arrest_bail", "捕后取保候审监测", [
        _finding(1, "江州市公安局青山分局/和平派出所", STATION, 1e-6),
        _finding(2, "江州市公安局东湖分局/桂花派出所", "江州市公安局东湖分局桂花派出所", 0.03),
    ], html_body='<p><a id="stations" class="cw-anchor"></a></p><h2>x</h2>')
    overview = _report(d, "periodic_overview", "按期分析报告", [
        _finding(1, "930104/第二检察部", DEPT, 1e-4, indicator="card_error_rate",
                 indicator_name="案卡差错率", section="problems", section_title="七、存在问题",
                 entity_type="department"),
        # the same station and indicator as the bail report: one line, two links
        _finding(2, "江州市公安局青山分局/和平派出所", STATION, 0.01),
    ], html_body=_heading("七、存在问题") + _heading("八、派出所监测"))
    workload = _report(d, "prosecutor_profiles", "员额检察官办案数据", None)
    broken = _report(d, "topic_recurring", "多发性案件分析", None, status="failed")
    return d, [bail, overview, workload, broken]


def _keypoints(page: str) -> str:
    return page[page.index('id="keypoints"'):page.index("<h2>报告目录</h2>")]


def test_index_opens_with_the_findings_strongest_first(batch_dir):
    d, results = batch_dir
    page = index.write_index(d, results, period=PERIOD, batch_id="b1").read_text("utf-8")
    assert page.index("<h2>本期要点</h2>") < page.index("<h2>报告目录</h2>")
    top = _keypoints(page)
    items = re.findall(r"<li class=\"(\w+)\"><strong>([^<]+)</strong>", top)
    # strongest first across reports (q 1e-6 < 1e-4 < 0.03); the station appears once
    assert [name for _, name in items] == [STATION, DEPT, "江州市公安局东湖分局桂花派出所"]
    assert items[0][0] == "unfavourable"
    assert "捕后取保候审率自2026年3月起明显上升。" in top
    # links to the report sections: explicit anchor, heading by title, heading ending with it
    assert 'href="post_arrest_bail_all.html#stations"' in top
    assert f'href="periodic_overview_all.html#{index.nbconvert_id("七、存在问题")}"' in top
    also = index.nbconvert_id("八、派出所监测")
    assert "另见" in top and f'periodic_overview_all.html#{also}' in top
    assert "《捕后取保候审监测》“派出所监测”" in top
    assert NO_FINDINGS not in page


def test_reports_without_findings_json_and_failed_reports_are_named(batch_dir):
    d, results = batch_dir
    page = index.write_index(d, results, period=PERIOD).read_text("utf-8")
    top = _keypoints(page)
    assert "1 份报告的模板未输出 findings.json" in top and "员额检察官办案数据" in top
    assert "1 份报告生成失败" in top and "多发性案件分析" in top
    assert page.count("<tr><td>") == 4
    assert "未提供 findings.json" in page.split("<h2>报告目录</h2>")[1]
    assert 'href="post_arrest_bail_all_files/findings.json">2 项' in page
    assert 'class="bad">失败' in page and "故意失败" in page
    assert "http" not in page


def test_no_finding_anywhere_says_so_plainly(tmp_path):
    d = tmp_path / PERIOD
    d.mkdir()
    results = [_report(d, "post_arrest_bail", "捕后取保候审监测", []),
               _report(d, "periodic_overview", "按期分析报告", [])]
    page = index.write_index(d, results, period=PERIOD).read_text("utf-8")
    assert NO_FINDINGS in _keypoints(page)
    assert "<ol" not in page
    assert page.count("<tr><td>") == 2 and page.count(">0 项</a>") == 2


def test_no_report_with_findings_json_is_not_called_clean(tmp_path):
    d = tmp_path / PERIOD
    d.mkdir()
    results = [_report(d, "snapshot_overview", "数据概况", None)]
    page = index.write_index(d, results, period=PERIOD, total=3).read_text("utf-8")
    top = _keypoints(page)
    assert NO_FINDINGS not in top and "无法汇总" in top
    assert "批处理进行中：已完成 1/3 份报告" in top


def test_everything_is_escaped_and_the_list_fits_one_screen(tmp_path):
    d = tmp_path / PERIOD
    d.mkdir()
    evil = '<script>alert("x")</script>派出所'
    found = [_finding(1, "evil", evil, 1e-9, section='"><img src=x onerror=alert(1)>')]
    found += [_finding(k, f"u{k}", f"单位{k}", 0.001 * k, sentence="")
              for k in range(2, index.MAX_POINTS + 5)]
    results = [_report(d, "post_arrest_bail", '<b>标题</b>', found)]
    page = index.write_index(d, results, period=PERIOD).read_text("utf-8")
    assert "<script>" not in page and "<img" not in page and "<b>标题" not in page
    assert "&lt;script&gt;" in page
    top = _keypoints(page)
    assert top.count("<li ") == index.MAX_POINTS
    assert f"另有 {len(found) - index.MAX_POINTS} 项发现" in top
    # a finding without a sentence still reads as one: entity, indicator, since when, direction
    assert "单位2</strong>捕后取保候审率自2026年3月起出现不利变化。" in top


def test_unreadable_findings_json_is_listed(tmp_path):
    d = tmp_path / PERIOD
    d.mkdir()
    res = _report(d, "post_arrest_bail", "捕后取保候审监测", [])
    (d / "post_arrest_bail_all_files" / "findings.json").write_text("{not json", "utf-8")
    page = index.write_index(d, [res], period=PERIOD).read_text("utf-8")
    assert "findings.json 无法读取" in page
    warnings = []
    assert report._count_findings(d / "post_arrest_bail_all_files" / "findings.json",
                                  warnings) is None
    assert "findings.json" in warnings[0]


def test_the_runner_and_the_page_helper_agree_on_the_file_name():
    assert nb_findings.FILENAME == report.FINDINGS_FILE == index.FINDINGS_FILE


def test_batch_summary_and_log_count_findings_per_report():
    ok = RunResult("periodic_overview", PERIOD, "all", status="ok", findings=3)
    none = RunResult("snapshot_overview", PERIOD, "all", status="ok")
    bad = RunResult("topic_recurring", PERIOD, "all", status="failed", findings=2)
    assert batch.findings_per_report([ok, none, bad]) == {
        "periodic_overview_all": 3, "snapshot_overview_all": None, "topic_recurring_all": None}
    text = batch.format_summary(batch.BatchResult(PERIOD, [ok, none, bad], Path("i.html"),
                                                  Path("l.jsonl"), 1.0, 1))
    assert "要点：1 份报告共 3 项发现" in text and "1 份报告未提供 findings.json" in text


# --------------------------------------------------------------------------------------------
# through the real runner and batch
# --------------------------------------------------------------------------------------------

SIGNALS_CODE = '''
import numpy as np
from casework.analysis import signals
from casework.notebook import findings
rng = np.random.default_rng(3)
rows = [dict(detector="bail", entity_type="station", entity_id="青山分局/和平派出所",
             entity_name="江州市公安局青山分局和平派出所", indicator="post_arrest_bail_rate",
             indicator_name="捕后取保候审率", direction="unfavourable", p_value=1e-9,
             start_month="2024-06", months_signalling=6, latest_value=0.35, baseline=0.04,
             effect=0.31, effect_lower=0.2, effect_upper=0.42, section="stations")]
rows += [dict(detector="bail", entity_type="unit", entity_id=f"u{i}", entity_name=f"单位{i}",
              indicator="x", indicator_name="某率", direction="unfavourable",
              p_value=float(rng.uniform(0.2, 1))) for i in range(40)]
page.anchor("stations")
F = findings.report_findings(P, [signals.frame(rows)])
'''


def copy_template(src_key: str, folder: Path, new_key: str, code: str | None = None,
                  at: int = 4):
    folder.mkdir(parents=True, exist_ok=True)
    text = (config.TEMPLATES_DIR / f"{src_key}.yaml").read_text(encoding="utf-8")
    (folder / f"{new_key}.yaml").write_text(text, encoding="utf-8")
    nb = nbformat.read(config.TEMPLATES_DIR / f"{src_key}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace(f'template="{src_key}"', f'template="{new_key}"')
    if code is not None:
        nb.cells.insert(at, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, folder / f"{new_key}.ipynb")


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_batch_index_and_log_from_real_reports(demo_home, tmp_path):
    report.ensure_kernel(install=True)
    templates, reports = tmp_path / "templates", tmp_path / "reports"
    copy_template("snapshot_overview", templates, "found", SIGNALS_CODE)
    copy_template("snapshot_overview", templates, "plain")
    # writes findings.json, then fails: nothing of it may appear
    copy_template("snapshot_overview", templates, "halfway",
                  SIGNALS_CODE + 'raise ValueError("故意失败")')
    period = "2024-12"
    definition = params.RunDefinition(period=period, units="all",
                                      templates=["found", "plain", "halfway"], level="internal",
                                      params={}, path=None)
    res = batch.batch(definition, workers=1, progress=False, templates_dir=templates,
                      reports_dir=reports)
    by = {r.template: r for r in res.results}
    assert by["found"].ok and by["found"].findings == 1
    assert by["plain"].ok and by["plain"].findings is None
    assert not by["halfway"].ok
    pdir = reports / period
    assert (pdir / "found_all_files" / "findings.json").exists()
    assert not list(pdir.glob("halfway*")) and not list(pdir.glob(".tmp-*"))
    doc = json.loads((pdir / "found_all_files" / "findings.json").read_text("utf-8"))
    assert [f["entity_name"] for f in doc["findings"]] == [STATION]
    page = res.index.read_text("utf-8")
    top = _keypoints(page)
    assert f"<strong>{STATION}</strong>" in top and 'href="found_all.html#stations"' in top
    assert 'id="stations"' in (pdir / "found_all.html").read_text("utf-8")
    assert "未输出 findings.json" in top and "生成失败" in top
    events = [json.loads(line) for line in res.log.read_text("utf-8").splitlines()]
    per = {e["template"]: e["findings"] for e in events if e["event"] == "report"}
    assert per == {"found": 1, "plain": None, "halfway": None}
    end = events[-1]
    assert end["findings"] == {"found_all": 1, "plain_all": None, "halfway_all": None}
    assert end["findings_total"] == 1
    assert np.isfinite(end["duration_s"])
