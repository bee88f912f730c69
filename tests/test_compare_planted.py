"""Planted patterns are found, named and dated; clean data raise no more alarms than chance.

Uses the shared synthetic fixtures (``synth_small``, ``synth_null_small``: 3 units × 3 years
ending 2024-12). The truth manifest says where the generator planted a police station whose
post-arrest bail rate jumps and a prosecutor whose handling days run long; the analyses never
see it.
"""

from __future__ import annotations

import pandas as pd
import pytest
from scipy import stats

from casework.analysis import bail, casemix, workload
from casework.model import journeys
from casework.present import comparison_text

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
    sig = bail.bail_signals(jrn, period=truth["end"], months=24, records=recs)
    row = sig.loc[(sig["referring_agency"] == where["referring_agency"])
                  & (sig["police_station"] == where["police_station"])]
    assert len(row) == 1 and bool(row["signal"].iloc[0])
    start = row["start_month"].iloc[0]
    assert _months_apart(start, pat["from"]) <= 2
    assert row["rate_since_start"].iloc[0] > 3 * row["p0"].iloc[0]
    # the other streams stay quiet (at most one chance signal among ~30)
    assert int(sig["signal"].sum()) <= 2
    # named, with its start month, in the narrative and the joint-meeting points
    year = truth["end"][:4]
    comp = casemix.horizontal(recs, period=year, by=list(bail.BAIL_KEYS),
                              indicators=["post_arrest_bail_rate"], journeys=jrn)
    text = _plain(comparison_text.describe_bail(sig, comp, period_label=truth["end"]))
    label = row["label"].iloc[0]
    assert where["police_station"] in label
    assert f"**{label}**：自 {start} 起" in text
    points = _plain(comparison_text.joint_meeting_points(sig, comp))
    assert where["referring_agency"] in points and f"自 {start} 起" in points
    # and flagged on the period's funnel
    frow = comp.loc[comp["police_station"] == where["police_station"]]
    frow = frow.loc[frow["referring_agency"] == where["referring_agency"]]
    assert frow["flag"].iloc[0] == "alarm" and frow["flag_direction"].iloc[0] == "high"
    cases = bail.bail_signal_cases(jrn, sig, period=truth["end"])
    assert (cases["police_station"] == where["police_station"]).all()
    assert (cases["arrested_on"] >= pd.Timestamp(start + "-01")).all()


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
    start = sh["start_month"].iloc[0]
    assert _months_apart(start, pat["from"]) <= 2
    load = workload.caseload(recs, period=year)
    text = _plain(comparison_text.describe_profiles(load, comparison_text.with_position(days),
                                                   pd.DataFrame(), shifts, period_label=year))
    assert where["prosecutor_name"] in text
    assert f"{where['prosecutor_name']}平均" in text and f"自 {start} 起持续偏长" in text
    # the horizontal comparison by prosecutor flags the same person on handling days
    comp = casemix.horizontal(recs, period=year, by="prosecutor_id",
                              indicators=["prosecution_review_days_mean"])
    row = comp.loc[comp["prosecutor_id"] == where["prosecutor_id"]]
    assert row["flag"].iloc[0] == "alarm"
    text = _plain(comparison_text.describe_comparison(comp, grouping="prosecutor"))
    assert where["prosecutor_name"] in text


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


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_reports_name_the_planted_patterns(demo_home, synth_small, _reports):
    truth = synth_small.truth
    bail = _pattern(truth, "post_arrest_bail_jump")["where"]
    slow = _pattern(truth, "slow_prosecutor")["where"]
    html, files = _run("post_arrest_bail", _reports)
    text = _plain(html)
    assert bail["police_station"] in text and "联席会议" in text
    assert (files / "signal_cases.xlsx").exists()
    html, files = _run("prosecutor_profiles", _reports)
    assert slow["prosecutor_name"] in html and "持续偏长" in html
    html, files = _run("horizontal_comparison", _reports, grouping="prosecutor")
    assert slow["prosecutor_name"] in html
    cases = pd.read_excel(files / "flagged_cases.xlsx")
    assert {"部门受案号", "办案环节", "受理日期", "审结日期"} <= set(cases.columns)


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
