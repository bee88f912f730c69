"""The periodic overview (按期分析) as a reader meets it: findings.json and the prose.

Blind: the template runs for the last month of the small fixture's data (``conftest.SMALL``)
with its default scans; the generator's truth is read only to score what the report says.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import pytest
from conftest import SMALL

from casework.analysis import periods
from casework.present import narrative

PERIOD = SMALL["end"]  # the last month of data: what a monthly batch would run


def _month_no(code: str) -> int:
    y, m = code.split("-")
    return int(y) * 12 + int(m)


def _prose(html_text: str) -> str:
    """The report's prose: no tables, figures, scripts or styles; tags removed."""
    t = re.sub(r"<(table|figure|script|style)\b.*?</\1>", " ", html_text, flags=re.S | re.I)
    return html.unescape(re.sub(r"<[^>]+>", "", t))


def _section(prose: str, start: str, end: str) -> str:
    a = prose.index(start)
    return prose[a:prose.index(end, a)]


def _run(tmp_path, period=PERIOD):
    from casework.run import report

    report.ensure_kernel(install=True)
    res = report.run("periodic_overview", period=period, unit="all", reports_dir=tmp_path,
                     docx=False)
    assert res.ok, res.describe()
    files = Path(res.html).parent / "periodic_overview_all_files"
    doc = json.loads((files / "findings.json").read_text(encoding="utf-8"))
    return doc, _prose(Path(res.html).read_text(encoding="utf-8"))


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_planted_rising_charge_and_adoption_drop_are_named_in_problems(demo_home, tmp_path,
                                                                       synth_small):
    doc, prose = _run(tmp_path)
    problems = _section(prose, "八、存在问题", "九、原因分析")
    truth = {p["id"]: p for p in synth_small.truth["patterns"]}
    for pid in ("rising_charge", "adoption_drop"):
        p = truth[pid]
        hits = [f for f in doc["findings"] if f["entity_name"] == p["entity_name"]
                and f["start_month"] and abs(_month_no(f["start_month"])
                                             - _month_no(p["from"])) <= 1]
        assert hits, (pid, p["entity_name"], p["from"], doc["findings"])
        assert p["entity_name"] in problems
        assert hits[0]["sentence"].rstrip("。") in problems
    # full names only: no department or station is named without its unit or agency
    for f in doc["findings"]:
        if f["entity_type"] in ("department", "prosecutor"):
            assert "人民检察院" in f["entity_name"]
        if f["entity_type"] == "station":
            assert "公安" in f["entity_name"] and f["entity_name"].endswith(("所", "队"))
    assert doc["n_tests"] > 100 and doc["findings"][0]["rank"] == 1


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_null_data_report_names_no_problem(null_home, tmp_path, monkeypatch):
    monkeypatch.setenv("CASEWORK_HOME", str(null_home))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    doc, prose = _run(tmp_path)
    assert doc["findings"] == [] and doc["n_tests"] > 100
    key_points = _section(prose, "二、要点", "三、总体态势")
    problems = _section(prose, "八、存在问题", "九、原因分析")
    assert "本期未发现需关注的问题" in key_points and "本期未发现需关注的问题" in problems
    assert "明显上升" not in problems and "明显下降" not in problems
    # immature cohort rates of the last month are said to be so, never 向好 or 下降
    state = _section(prose, "三、总体态势", "四、主要数量")
    assert "捕后取保候审率" in state and "尚未成熟" in state
    clause = state[state.index("捕后取保候审率"):].split("；")[0]
    assert "向好" not in clause and "下降" not in clause


def test_incomplete_year_is_flagged_and_compared_like_for_like():
    c = periods.coverage("2024", last_month="2024-10")
    assert not c.complete and c.effective.code == "2024-YTD10"
    note = narrative.coverage_note(c)
    assert "2024年不完整" in note and "2023年1-10月" in note
