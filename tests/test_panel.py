"""Panel mechanics: monthly series, grouping, Parquet pushdown, comparisons and their tests."""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from casework.analysis import panel
from casework.base.errors import ParameterError
from casework.model import schema
from casework.present import tables


def _arrests(rows):
    """Arrest-review rows from (unit, dept, case, person, accepted, closed, decision)."""
    df = pd.DataFrame(rows, columns=["unit_code", "department", "dept_case_no", "person_id",
                                     "accepted_on", "closed_on", "decision"])
    df["stage"] = "arrest_review"
    df["unified_case_no"] = "T" + df["dept_case_no"]
    df["charge"] = "盗窃"
    return schema.conform(df, "records")


@pytest.fixture(scope="module")
def small():
    return _arrests([
        ("U1", "一部", "A1", "P1", "2024-01-03", "2024-01-09", "non_arrest"),
        ("U1", "一部", "A1", "P2", "2024-01-03", "2024-01-09", "arrest_approved"),
        ("U1", "二部", "A2", "P3", "2024-01-20", "2024-02-02", "arrest_approved"),
        ("U2", "一部", "B1", "P4", "2024-03-01", "2024-03-05", "non_arrest"),
        ("U2", "一部", "B2", "P5", "2024-03-10", None, None),
    ])


def test_monthly_hand_values_and_empty_months(small):
    m = panel.monthly(small, indicators=["non_arrest_rate", "accepted_arrest_review",
                                         "pending_arrest_review"],
                      start="2024-01", end="2024-04")
    assert len(m) == 3 * 4  # every indicator × month, empty months included
    rate = m[m["indicator"] == "non_arrest_rate"].set_index("month")
    assert rate.loc["2024-01", ["numerator", "denominator"]].tolist() == [1, 2]
    assert rate.loc["2024-02", ["numerator", "denominator"]].tolist() == [0, 1]
    assert rate.loc["2024-03", "value"] == 1.0
    assert math.isnan(rate.loc["2024-04", "value"])
    acc = m[m["indicator"] == "accepted_arrest_review"].set_index("month")["value"]
    assert acc.tolist() == [3, 0, 2, 0]
    pend = m[m["indicator"] == "pending_arrest_review"].set_index("month")["value"]
    assert pend.tolist() == [1, 0, 1, 1]  # A2 open at end of Jan; B2 from March on
    assert str(m["month_start"].iloc[0].date()) == "2024-01-01"


def test_monthly_by_group_grid(small):
    m = panel.monthly(small, indicators="non_arrest_rate", by=["unit_code", "department"],
                      start="2024-01", end="2024-03")
    # groups seen in any month × every month
    assert len(m) == 3 * 3
    u2 = m[(m["unit_code"] == "U2")].set_index("month")
    assert math.isnan(u2.loc["2024-01", "value"]) and u2.loc["2024-03", "value"] == 1.0


def test_parquet_path_is_refused(tmp_path):
    # issue 19 (one door): a snapshot file read by path would bypass the audit log
    from test_indicators import tiny_records  # same folder; pytest puts it on sys.path

    recs = tiny_records()
    path = tmp_path / "records.parquet"
    recs.to_parquet(path)
    for fn in (panel.compute, panel.monthly):
        kw = ({"period": "2024-05"} if fn is panel.compute
              else {"start": "2024-01", "end": "2024-05"})
        with pytest.raises(ParameterError, match="store.read"):
            fn(path, indicators="all", by="unit_code", **kw)
        with pytest.raises(ParameterError, match="store.read"):
            fn(recs, indicators="all", by="unit_code", journeys=str(path), **kw)


def test_user_expression_cannot_read_files(tmp_path):
    from test_indicators import tiny_records

    target = tmp_path / "secret.csv"
    target.write_text("a\n1\n")
    for expr in (f"(SELECT count(*) FROM read_csv('{target}'))", "getenv('HOME') IS NULL",
                 f"(SELECT 1 FROM glob('{tmp_path}/*')) = 1"):
        extra = tmp_path / "mine.yaml"
        extra.write_text(yaml.safe_dump({"indicators": [
            {"code": "x_rate", "name_zh": "测试", "kind": "rate", "table": "records",
             "cohort": "closed", "numerator": expr,
             "denominator": "TRUE"}]}, allow_unicode=True), encoding="utf-8")
        with pytest.raises(ParameterError, match="may not use"):
            panel.compute(tiny_records(), indicators=["x_rate"], period="2024-05",
                          extra=str(extra))


def test_sql_text_runs_on_parquet(tmp_path):
    import duckdb
    from test_indicators import tiny_records

    recs = tiny_records()
    path = tmp_path / "r.parquet"
    recs.to_parquet(path)
    text = panel.sql(indicators=["non_arrest_rate"], period="2024-05", records=path)
    got = duckdb.sql(text.rstrip(";")).df().set_index("_window")
    # numerator and denominator parts for the current month
    assert sorted(got.loc["2024-05"].tolist()) == [3, 5]


def test_notable_changes():
    # 2023-05: 10 of 100 not arrested; 2024-05: 40 of 100 (clearly beyond noise)
    rows = []
    for year, k in ((2023, 10), (2024, 40)):
        for i in range(100):
            rows.append(("U1", "一部", f"A{year}{i}", f"P{year}{i}", f"{year}-05-02",
                         f"{year}-05-06", "non_arrest" if i < k else "arrest_approved"))
    recs = _arrests(rows)
    out = panel.compute(recs, indicators=["non_arrest_rate", "closed_arrest_review"],
                        period="2024-05").set_index("indicator")
    r = out.loc["non_arrest_rate"]
    assert r["year_ago_change"] == pytest.approx(30.0)
    assert r["year_ago_notable"] and r["year_ago_p_value"] < 1e-5
    c = out.loc["closed_arrest_review"]
    assert c["year_ago_change"] == pytest.approx(0.0)
    assert not c["year_ago_notable"] and c["year_ago_p_value"] == pytest.approx(1.0)
    # previous month (April) is empty: not testable, never notable
    assert math.isnan(r["previous_p_value"]) and not r["previous_notable"]


def test_small_change_is_not_notable():
    rows = []
    for year, k in ((2023, 10), (2024, 12)):
        for i in range(40):
            rows.append(("U1", "一部", f"A{year}{i}", f"P{year}{i}", f"{year}-05-02",
                         f"{year}-05-06", "non_arrest" if i < k else "arrest_approved"))
    out = panel.compute(_arrests(rows), indicators="non_arrest_rate", period="2024-05").iloc[0]
    assert out["year_ago_change"] == pytest.approx(5.0)
    assert not out["year_ago_notable"] and out["year_ago_p_value"] > 0.3


def test_count_test_scales_by_period_length():
    # 28 events in February 2023 vs 31 in March 2023: per day the same → not notable
    rows = [("U1", "一部", f"F{i}", f"P{i}", "2023-02-10", "2023-02-11", "non_arrest")
            for i in range(28)]
    rows += [("U1", "一部", f"M{i}", f"Q{i}", "2023-03-10", "2023-03-11", "non_arrest")
             for i in range(31)]
    out = panel.compute(_arrests(rows), indicators="accepted_arrest_review",
                        period="2023-03").iloc[0]
    assert out["previous_period"] == "2023-02"
    assert out["previous_p_value"] > 0.9


def test_quarter_and_ytd_windows(small):
    q = panel.compute(small, indicators="accepted_arrest_review", period="2024-Q1").iloc[0]
    assert q["value"] == 5
    assert q["previous_period"] == "2023-Q4" and q["year_ago_period"] == "2023-Q1"
    y = panel.compute(small, indicators="accepted_arrest_review", period="2024-YTD02").iloc[0]
    assert y["value"] == 3 and y["previous_period"] == "2023-11-01_2023-12-31"


def test_bad_arguments(small):
    with pytest.raises(ParameterError, match="count_unit"):
        panel.compute(small, indicators="non_arrest_rate", period="2024-05", count_unit="head")
    with pytest.raises(ParameterError, match="2024-Q2"):
        panel.compute(small, indicators="non_arrest_rate", period="May")
    with pytest.raises(ParameterError, match="prosecutor_name"):
        panel.compute(small, indicators="non_arrest_rate", by="prosecutor_name2", period="2024-05")
    with pytest.raises(ParameterError):
        panel.monthly(small, indicators="non_arrest_rate", start="2024-05", end="2024-01")


def test_output_columns(small):
    out = panel.compute(small, indicators="non_arrest_rate", by="unit_code", period="2024-01")
    for col in ("unit_code", "indicator", "name_zh", "numerator", "denominator", "value",
                "value_ci_lower", "value_ci_upper", "previous_value", "previous_change",
                "year_ago_value", "year_ago_change", "count_unit", "direction"):
        assert col in out.columns
    m = panel.monthly(small, indicators="non_arrest_rate", start="2024-01", end="2024-02")
    assert {"month", "month_start", "value_se"} <= set(m.columns)


def test_synthetic_panel_consistency(synth_small):
    """On the synthetic data: unit rows add up to the total; rates stay within [0, 1]."""
    recs = synth_small.records
    tot = panel.compute(recs, indicators=["non_arrest_rate", "accepted_prosecution_review"],
                        period="2024-Q2")
    by = panel.compute(recs, indicators=["non_arrest_rate", "accepted_prosecution_review"],
                       by="unit_code", period="2024-Q2")
    for code in ("non_arrest_rate", "accepted_prosecution_review"):
        t = tot[tot["indicator"] == code].iloc[0]
        b = by[by["indicator"] == code]
        assert b["numerator"].sum() == t["numerator"]
        assert len(b) == len(synth_small.truth["units"])
    rates = by[by["indicator"] == "non_arrest_rate"]["value"]
    assert rates.between(0, 1).all()
    # cross-check one figure with plain pandas
    r = recs[(recs["stage"] == "arrest_review")
             & recs["closed_on"].between("2024-04-01", "2024-06-30")]
    k = int((r["decision"] == "non_arrest").sum())
    n = int(r["decision"].isin(["non_arrest", "arrest_approved"]).sum())
    t = tot[tot["indicator"] == "non_arrest_rate"].iloc[0]
    assert (t["numerator"], t["denominator"]) == (k, n)
    assert not np.isinf(by.select_dtypes("number").to_numpy(dtype=float)).any()


# --- the periodic overview ----------------------------------------------------------------


def test_overview_tables_hand_values():
    from test_indicators import tiny_records

    t = tables.overview_tables(tiny_records(), period="2024-05",
                               indicators=["non_arrest_rate", "prosecution_review_days_mean"],
                               top_charges=3)
    head = t["headline"].set_index("指标")
    assert head.loc["受理审查逮捕（人）", "本期"] == 5
    assert head.loc["受理审查逮捕（人）", "去年同期"] == 2
    assert head.loc["受理审查逮捕（人）", "同比"] == "+150.0%"
    assert head.loc["受理审查逮捕（人）", "评价"] == "平稳"  # 5 vs 2 persons: within noise
    ind = t["indicators"].set_index("指标")
    assert ind.loc["不捕率", "本期"] == "60.0%" and ind.loc["不捕率", "分子"] == 3
    assert ind.loc["不捕率", "分母"] == 5 and ind.loc["不捕率", "同比"] == "+10.0个百分点"
    assert ind.loc["审查起诉平均办案天数", "本期"] == "31.2天"  # 125 / 4 = 31.25
    line = t["by_line"].set_index("办案环节")
    assert line.loc["审查逮捕", ["受理", "审结", "期末在办"]].tolist() == [5, 5, 1]
    assert line.loc["审查起诉", ["受理", "审结", "期末在办"]].tolist() == [3, 4, 1]
    dept = t["by_department"].set_index("department")
    # arrest reviews accepted in May: 第一检察部 P1 P2 P3 P4 P11
    assert dept.loc["第一检察部", "受理审查逮捕"] == 5
    assert dept.loc["第一检察部", "受理审查逮捕占比"] == "100.0%"
    assert t["by_charge"]["charge"].tolist() == ["盗窃"]
    for name, opts in t["protect"].items():
        cols = set(t[name].columns)
        assert set(opts["counts"]) <= cols and set(opts["dependent"]) <= cols, name
    assert "指标" in t["definitions"].columns and len(t["definitions"]) == 2 + len(panel.HEADLINE)


def test_overview_assessment_is_direction_aware():
    base = {"year_ago_notable": True}

    def verdict(change, direction):
        return tables.assessment({**base, "year_ago_change": change, "direction": direction})

    assert verdict(3.0, "lower_better") == "▲需关注"
    assert verdict(-3.0, "lower_better") == "▼向好"
    assert verdict(3.0, "higher_better") == "▲向好"
    assert verdict(-3.0, "higher_better") == "▼需关注"
    assert verdict(3.0, "range") == "上升（区间判断）"
    assert tables.assessment({"year_ago_notable": False, "year_ago_change": 3.0,
                              "direction": "lower_better"}) == "平稳"
    assert tables.assessment({"year_ago_change": float("nan")}) == "—"
    assert tables.assessment({"year_ago_change": 3.0, "year_ago_notable": False,
                              "year_ago_p_value": float("nan"), "direction": "range"}) == "—"


def test_periodic_overview_template_is_thin():
    import json

    from casework.base import config
    from casework.notebook import params

    nb = json.loads((config.TEMPLATES_DIR / "periodic_overview.ipynb").read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "casework"
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    param_cells = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(param_cells) == 1
    import ast

    for cell in code:
        src = "".join(cell["source"])
        # no magics
        assert not any(line.lstrip().startswith(("%", "!")) for line in src.splitlines())
        for node in ast.walk(ast.parse(src)):
            assert not isinstance(node, (ast.FunctionDef, ast.Lambda, ast.For, ast.While,
                                         ast.ListComp, ast.DictComp, ast.GeneratorExp))
            if cell not in param_cells and isinstance(node, ast.Constant):
                assert not isinstance(node.value, (int, float)) or isinstance(node.value, bool)
    side = params.load_sidecar("periodic_overview")
    names = {line.split("=")[0].strip() for line in "".join(param_cells[0]["source"]).splitlines()}
    assert names == set(side.parameters)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_periodic_overview_report_matches_the_panel(demo_home, tmp_path, synth_small):
    """The template through the real runner: its tables and sentences are the library's numbers."""
    import html as _html
    from pathlib import Path

    from casework.present import narrative
    from casework.run import report

    report.ensure_kernel(install=True)
    res = report.run("periodic_overview", period="2024-Q4", unit="all", reports_dir=tmp_path)
    assert res.ok, res.describe()
    files = Path(res.html).parent / "periodic_overview_all_files"
    expected = panel.compute(synth_small.records, indicators=["accepted_prosecution_review",
                                                              "non_arrest_rate"],
                             period="2024-Q4").set_index("indicator")
    head = pd.read_csv(files / "headline.csv", encoding="utf-8-sig").set_index("指标")
    assert (head.loc["受理审查起诉（人）", "本期"]
            == expected.loc["accepted_prosecution_review", "value"])
    ind = pd.read_csv(files / "indicators.csv", encoding="utf-8-sig").set_index("指标")
    assert ind.loc["不捕率", "分子"] == expected.loc["non_arrest_rate", "numerator"]
    assert ind.loc["不捕率", "本期"] == narrative.fmt_pct(expected.loc["non_arrest_rate", "value"])
    text = _html.unescape(Path(res.html).read_text(encoding="utf-8"))
    sentence = narrative.indicator_sentence(expected.loc["accepted_prosecution_review"])
    assert sentence in text
    for section in ("一、范围与口径", "二、要点", "三、总体态势", "六、月度趋势与控制限",
                    "八、存在问题", "九、原因分析与对策建议", "十、说明与局限"):
        assert section in text
    assert (files / "trends.png").exists() and (files / "problems.csv").exists()
