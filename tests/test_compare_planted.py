"""Planted patterns are found, named and dated; clean data raise no more alarms than chance.

Uses the shared synthetic fixtures (``synth_small``, ``synth_null_small``: 3 units × 3 years
ending 2024-12). The truth manifest says where the generator planted a police station whose
post-arrest bail rate jumps and a prosecutor whose handling days run long; the analyses never
see it (blind: default windows and scans). Report-level tests read ``findings.json`` and the
prose of the horizontal comparison, post-arrest bail and prosecutor reports: on planted data
the planted entity is the finding, named in full with its start month; on null data there is
no finding and the prose says nothing is wrong.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from casework.analysis import bail, casemix, findings, funnel_signals, funnels, workload
from casework.model import journeys
from casework.present import comparison_text, profile_text

#: Alarm = outside the 99.8 % limits: the nominal rate under no real differences.
NOMINAL_ALARM = 0.002

NULL_INDICATORS = (
    "non_arrest_rate", "non_prosecution_rate", "plea_leniency_rate", "fixed_recommendation_rate",
    "recommendation_adoption_rate", "post_arrest_bail_rate", "post_arrest_non_prosecution_rate",
    "review_extension_rate", "supplementary_investigation_rate", "appeal_rate",
    "prosecution_review_days_mean", "arrest_review_days_mean",
)


def _pattern(truth, pid):
    found = [p for p in truth["patterns"] if p["id"] == pid]
    assert found, f"the fixture plants {pid}"
    return found[0]


def _months_apart(a: str, b: str) -> int:
    return abs((pd.Period(a, freq="M") - pd.Period(b, freq="M")).n)


def _plain(markdown: str) -> str:
    return markdown.replace("\\", "")


@pytest.fixture(scope="module")
def planted(synth_small):
    recs = synth_small.records
    return recs, journeys.build(recs), synth_small.truth


def test_planted_police_station_signals_with_start_month(planted):
    recs, jrn, truth = planted
    pat = _pattern(truth, "post_arrest_bail_jump")
    where = pat["where"]
    # the CUSUM of the library still dates the jump
    sig = bail.bail_signals(jrn, period=truth["end"], months=24, records=recs)
    row = sig.loc[(sig["referring_agency"] == where["referring_agency"])
                  & (sig["police_station"] == where["police_station"])]
    assert len(row) == 1 and bool(row["signal"].iloc[0])
    assert _months_apart(row["start_month"].iloc[0], pat["from"]) <= 2
    assert row["rate_since_start"].iloc[0] > 3 * row["p0"].iloc[0]
    assert int(sig["signal"].sum()) <= 2
    # the report's detector: change test with a valid p-value, blind (default window)
    shifts = bail.bail_shifts(jrn, period=truth["end"], months=24, records=recs)
    srow = shifts.loc[(shifts["referring_agency"] == where["referring_agency"])
                      & (shifts["police_station"] == where["police_station"])]
    start = srow["start_month"].iloc[0]
    assert _months_apart(start, pat["from"]) <= 1
    assert srow["p_value"].iloc[0] < 1e-4
    # immature recent cohorts are left out of the test
    assert shifts.attrs["mature_through"] < truth["end"]
    comp = casemix.horizontal(recs, period=casemix.window(truth["end"], 12),
                              by=list(bail.BAIL_KEYS), indicators=["post_arrest_bail_rate"],
                              journeys=jrn, adjust="none", min_n=10)
    selected = findings.select(bail.monitor_signals(shifts, comp, recs, section="monitor"))
    found = selected.loc[selected["status"] == "finding"]
    assert found["entity_id"].tolist() == [pat["entity_id"]]
    assert found["entity_name"].iloc[0] == pat["entity_name"]  # 分局 + 派出所, in full
    text = _plain(comparison_text.describe_bail(shifts, selected, period_label=truth["end"]))
    month = f"{int(start[:4])}年{int(start[5:])}月"
    assert f"{pat['entity_name']}捕后取保候审率自{month}起明显上升" in text
    assert "不表示下降" in text
    points = _plain(comparison_text.joint_meeting_points(selected))
    assert f"**{where['referring_agency']}**" in points and pat["entity_name"] in points
    streams = comparison_text.finding_streams(shifts, selected)
    cases = bail.bail_signal_cases(jrn, streams, period=truth["end"])
    assert (cases["police_station"] == where["police_station"]).all()
    assert (cases["arrested_on"] >= pd.Timestamp(start + "-01")).all()


@pytest.mark.parametrize("code", ["non_arrest_rate", "supplementary_investigation_rate",
                                  "post_arrest_bail_rate"])
def test_indicator_rows_with_columns_are_the_full_rows_cut_down(planted, code):
    # person rows, case (件) rows and journey rows: the quick path returns the same rows and
    # values as the full frame, only fewer columns
    recs, jny, _ = planted
    full = casemix.indicator_rows(recs, code, period="2024", journeys=jny)
    cols = ["department", "charge_group", "detained"]
    quick = casemix.indicator_rows(recs, code, period="2024", journeys=jny, columns=cols)
    assert len(full) > 50 and set(cols) <= set(quick.columns) < set(full.columns)
    pd.testing.assert_frame_equal(quick, full[list(quick.columns)], check_exact=True)


def test_planted_slow_prosecutor_flagged_named_and_dated(planted):
    recs, jrn, truth = planted
    pat = _pattern(truth, "slow_prosecutor")
    where = pat["where"]
    year = truth["end"][:4]
    days = workload.days_by_stage(recs, period=year)
    mine = days.loc[(days["prosecutor_id"] == where["prosecutor_id"])
                    & (days["stage"] == where["stage"])]
    assert mine["flag"].iloc[0] == "alarm" and mine["flag_direction"].iloc[0] == "high"
    assert mine["value"].iloc[0] == pytest.approx(pat["effect"]["handling_days_ratio"], rel=0.2)
    others = days.loc[(days["stage"] == where["stage"])
                      & (days["prosecutor_id"] != where["prosecutor_id"])]
    assert (others["flag"] != "alarm").all()
    span = (pd.Period(truth["end"], freq="M") - pd.Period(truth["start"], freq="M")).n + 1
    shifts = workload.shifts_by_stage(recs, period=truth["end"], months=span)
    sh = shifts.loc[(shifts["prosecutor_id"] == where["prosecutor_id"])
                    & (shifts["stage"] == where["stage"])]
    assert bool(sh["signal"].iloc[0])
    assert _months_apart(sh["start_month"].iloc[0], pat["from"]) <= 2
    # the report: every test of every prosecutor, error control, then prose (blind)
    scope = casemix.window(truth["end"], 12)
    days = workload.days_by_stage(recs, period=scope)
    quality = workload.quality(recs, period=scope, journeys=jrn)
    scans = workload.days_shifts_by_stage(recs, period=truth["end"], months=36)
    selected = findings.select(workload.profile_signals(days, quality, scans, recs))
    found = selected.loc[selected["status"] == "finding"]
    assert set(found["entity_id"]) == {pat["entity_id"]}
    days_row = found.loc[found["indicator"] == f"{where['stage']}_days_mean"].iloc[0]
    assert _months_apart(days_row["start_month"], pat["from"]) <= 1
    load = workload.caseload(recs, period=scope)
    text = _plain(profile_text.describe_profiles(load, selected, period_label=year))
    assert f"{pat['entity_name']}审查起诉平均办案天数自" in text
    # the horizontal comparison by prosecutor flags the same person on handling days
    comp = casemix.horizontal(recs, period=year, by="prosecutor_id",
                              indicators=["prosecution_review_days_mean"])
    row = comp.loc[comp["prosecutor_id"] == where["prosecutor_id"]]
    assert row["flag"].iloc[0] == "alarm"
    sel = findings.select(funnel_signals.comparison_signals(recs, comp, grouping="prosecutor",
                                                            parents=()))
    text = _plain(comparison_text.describe_comparison(comp, sel, grouping="prosecutor"))
    assert pat["entity_name"] in text


@pytest.fixture(scope="module")
def null_data(synth_null_small):
    recs = synth_null_small.records
    return recs, journeys.build(recs), synth_null_small.truth


def test_null_data_the_three_reports_find_nothing(null_data):
    """Blind: default windows and scans on data with nothing planted; every detector of the
    three reports, error control across each report, and the prose says nothing is wrong."""
    recs, jrn, truth = null_data
    end = truth["end"]
    scope = casemix.window(end, 12)
    comp = casemix.horizontal(recs, period=scope, by=casemix.grouping_keys("department"),
                              journeys=jrn)
    sel = findings.select(funnel_signals.comparison_signals(recs, comp, grouping="department",
                                                            journeys=jrn))
    assert (sel["status"] != "finding").all()
    assert findings.n_tests(sel) > 50
    text = _plain(comparison_text.describe_comparison(comp, sel, grouping="department"))
    assert "未发现需关注的差异" in text and "需关注的差异 " not in text

    shifts = bail.bail_shifts(jrn, period=end, months=24, records=recs)
    bcomp = casemix.horizontal(recs, period=scope, by=list(bail.BAIL_KEYS),
                               indicators=["post_arrest_bail_rate"], journeys=jrn,
                               adjust="none", min_n=10)
    sel = findings.select(bail.monitor_signals(shifts, bcomp, recs))
    assert (sel["status"] != "finding").all()
    assert "未发现需关注的派出所" in _plain(comparison_text.describe_bail(shifts, sel))
    assert "未发现需关注的情况" in comparison_text.joint_meeting_points(sel)

    days = workload.days_by_stage(recs, period=scope)
    quality = workload.quality(recs, period=scope, journeys=jrn)
    scans = workload.days_shifts_by_stage(recs, period=end, months=36)
    sel = findings.select(workload.profile_signals(days, quality, scans, recs))
    assert (sel["status"] != "finding").all()
    load = workload.caseload(recs, period=scope)
    assert "未发现需关注的检察官" in profile_text.describe_profiles(load, sel)


def test_change_test_p_values_are_valid_under_the_null():
    """The bail change test's search-adjusted p-value: on streams with a constant rate, the
    share of p < α stays at or below α (Bonferroni over the candidate start months)."""
    rng = np.random.default_rng(11)
    months = [f"{2023 + (m // 12)}-{m % 12 + 1:02d}" for m in range(24)]
    rows = []
    for st in range(300):
        n = rng.poisson(8, size=24)
        for m, k in zip(months, n):
            for _ in range(k):
                rows.append({"referring_agency": "甲分局", "police_station": f"所{st}",
                             "arrested_on": pd.Timestamp(m + "-10"),
                             "post_arrest_bail": bool(rng.random() < 0.06)})
    jrn = pd.DataFrame(rows)
    sh = bail.bail_shifts(jrn, period="2024-12", months=24, maturity=0)
    p = sh["p_value"].dropna()
    assert len(p) > 250
    assert (p < 0.05).mean() <= 0.05 and (p < 0.2).mean() <= 0.2


def test_funnel_p_values_allow_for_legitimate_spread():
    """Groups that really differ a little (random effects, nothing planted) give no p-value
    small enough to survive error control; one group far out does."""
    rng = np.random.default_rng(3)
    n = rng.integers(80, 400, size=60)
    p = 1 / (1 + np.exp(-(np.log(0.15 / 0.85) + rng.normal(0, 0.35, size=60))))
    y = rng.binomial(n, p)
    d = pd.DataFrame({"g": [f"g{i}" for i in range(60)], "numerator": y, "denominator": n})
    res = funnels.funnel(d, by="g", overdispersion="additive")
    res = res.assign(indicator="x", measure="rate")
    pv = funnel_signals.funnel_p_values(res)
    assert (findings.bh(pv) <= 0.05).sum() == 0
    d.loc[0, "numerator"] = int(d.loc[0, "denominator"] * 0.6)
    res = funnels.funnel(d, by="g", overdispersion="additive").assign(indicator="x",
                                                                       measure="rate")
    pv = funnel_signals.funnel_p_values(res)
    assert findings.bh(pv)[0] <= 0.05


def test_null_data_alarm_rate_within_nominal(synth_null_small, record_property):
    recs = synth_null_small.records
    jrn = journeys.build(recs)
    year = synth_null_small.truth["end"][:4]
    points = alarms = 0
    where = []
    for grouping in casemix.GROUPINGS:
        comp = casemix.horizontal(recs, period=year, by=casemix.grouping_keys(grouping),
                                  indicators=NULL_INDICATORS, journeys=jrn)
        eligible = comp.loc[~comp["below_min_n"].astype(bool)]
        points += len(eligible)
        hit = eligible.loc[eligible["flag"] == "alarm"]
        alarms += len(hit)
        where += [(grouping, i, lab) for i, lab in zip(hit["indicator"], hit["label"])]
    rate = alarms / points
    record_property("null_alarm_points", points)
    record_property("null_alarms", alarms)
    record_property("null_alarm_rate", rate)
    print(f"\nnull data: {alarms} alarms in {points} group × indicator points = {rate:.3%} "
          f"(nominal {NOMINAL_ALARM:.1%}); {where}")
    assert points > 500
    # not more alarms than chance allows at the nominal rate (one-sided, 1 %)
    assert stats.binom.sf(alarms - 1, points, NOMINAL_ALARM) > 0.01, where


# --------------------------------------------------------------------------------------------
# the same findings in the rendered reports, and nothing named at the circulated level
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def _reports(tmp_path_factory):
    from casework.run import report

    report.ensure_kernel(install=True)
    return tmp_path_factory.mktemp("compare_reports")


def _run(key, folder, level="internal", **params):
    from casework.run import report

    res = report.run(key, period="2024-12", unit="all", level=level, params=params,
                     reports_dir=folder / level)
    assert res.ok, res.describe()
    from pathlib import Path

    html = Path(res.html)
    return html.read_text(encoding="utf-8"), html.with_name(f"{key}_all_files")


def _findings(files) -> dict:
    return json.loads((files / "findings.json").read_text(encoding="utf-8"))


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_reports_name_the_planted_patterns(demo_home, synth_small, _reports):
    truth = synth_small.truth
    bail_pat = _pattern(truth, "post_arrest_bail_jump")
    slow_pat = _pattern(truth, "slow_prosecutor")
    html, files = _run("post_arrest_bail", _reports)
    text = _plain(html)
    doc = _findings(files)
    assert [f["entity_id"] for f in doc["findings"]] == [bail_pat["entity_id"]]
    found = doc["findings"][0]
    assert _months_apart(found["start_month"], bail_pat["from"]) <= 1
    assert found["entity_name"] == bail_pat["entity_name"]
    assert found["sentence"] in text and "联席会议" in text
    points = text[text.index("联席会议通报要点"):]
    assert bail_pat["entity_name"] in points
    assert (files / "signal_cases.xlsx").exists()
    html, files = _run("prosecutor_profiles", _reports)
    doc = _findings(files)
    assert {f["entity_id"] for f in doc["findings"]} == {slow_pat["entity_id"]}
    dated = [f for f in doc["findings"] if f["start_month"]]
    assert dated and _months_apart(dated[0]["start_month"], slow_pat["from"]) <= 1
    assert all(f["sentence"] in _plain(html) for f in doc["findings"])
    html, files = _run("horizontal_comparison", _reports, grouping="prosecutor")
    doc = _findings(files)
    assert slow_pat["entity_id"] in {f["entity_id"] for f in doc["findings"]}
    assert slow_pat["entity_name"] in _plain(html)
    cases = pd.read_excel(files / "flagged_cases.xlsx")
    assert {"部门受案号", "办案环节", "受理日期", "审结日期"} <= set(cases.columns)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_reports_on_null_data_say_nothing_is_wrong(null_home, monkeypatch, tmp_path):
    monkeypatch.setenv("CASEWORK_HOME", str(null_home))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    from casework.run import report

    report.ensure_kernel(install=True)
    said = {"horizontal_comparison": "未发现需关注的差异",
            "post_arrest_bail": "未发现需关注的派出所",
            "prosecutor_profiles": "未发现需关注的检察官"}
    for key, sentence in said.items():
        html, files = _run(key, tmp_path)
        doc = _findings(files)
        assert doc["findings"] == [] and doc["n_tests"] > 30, key
        assert sentence in _plain(html), key
        assert "需关注的差异 " not in html and "需关注：" not in html, key


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_circulated_reports_name_no_prosecutor_and_attach_no_cases(demo_home, synth_small,
                                                                   _reports):
    names = set(synth_small.records["prosecutor_name"].dropna())
    for key, params in (("prosecutor_profiles", {}),
                        ("horizontal_comparison", {"grouping": "prosecutor"}),
                        ("post_arrest_bail", {})):
        html, files = _run(key, _reports, level="circulated", **params)
        shown = html + " ".join(p.read_text(encoding="utf-8-sig") for p in files.glob("*.csv"))
        assert not [n for n in names if n in shown], key
        assert not list(files.glob("*cases*.xlsx")), key
        assert "检察官A" in html or key == "post_arrest_bail"
        shown = (files / "findings.json").read_text(encoding="utf-8")
        assert not [n for n in names if n in shown], key
