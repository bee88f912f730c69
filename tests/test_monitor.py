"""Monitoring: run rules, CUSUM, control charts, STL, and the planted / null synthetic data."""

import math

import numpy as np
import pandas as pd
import pytest

from casework.analysis import cusum, monitor, periods, seasonal
from casework.base.errors import ParameterError
from casework.model import journeys
from casework.present import tables

MONTHS24 = [p.code for p in periods.month_range("2023-01", "2024-12")]


def _rate_series(k, n, *, indicator="x_rate", direction="lower_better"):
    return pd.DataFrame({"indicator": indicator, "kind": "rate", "direction": direction,
                         "month": MONTHS24[: len(k)], "numerator": k, "denominator": n})


# --- run rules ----------------------------------------------------------------------------


def test_rule1_and_rule4():
    z = [0.1, -0.4, 0.2, 0.5, 0.3, 0.9, 0.4, 0.2, 1.1, 0.6, -3.2]
    r = monitor.run_rules(z)
    assert r["rule1"].tolist() == [False] * 10 + [True]
    # positive from index 2 to 9 = 8 in a row → fires at 9, run began at 2
    assert r["rule4"].tolist().index(True) == 9 and r["since_rule4"][9] == 2


def test_rule2_rule3_rule5():
    r = monitor.run_rules([0.0, 2.5, 0.3, 2.2])  # 2 of 3 beyond 2σ (positions 1 and 3)
    assert r["rule2"].tolist() == [False, False, False, True] and r["since_rule2"][3] == 1
    r = monitor.run_rules([1.5, 1.2, -0.5, 1.1, 1.3])  # 4 of 5 beyond 1σ
    assert r["rule3"].tolist()[-1] and r["since_rule3"][4] == 0
    r = monitor.run_rules([-1.0, -0.5, 0.0, 0.2, 0.4, 0.9, 0.8])  # 6 rising: 0..5
    assert r["rule5"].tolist() == [False] * 5 + [True, False] and r["since_rule5"][5] == 0


def test_rules_skip_missing_and_ineligible_points():
    z = [0.5, np.nan, 0.6, 0.7, 0.2, 0.3, 0.4, 0.5, 0.6]
    r = monitor.run_rules(z)
    assert r["rule4"].tolist()[-1]  # 8 valid points on one side, the gap is skipped
    r = monitor.run_rules(z, eligible=[True] * 8 + [False])
    assert not r["rule4"].any()


# --- CUSUM --------------------------------------------------------------------------------


def test_bernoulli_cusum_by_hand():
    a, b = math.log(0.4 / 0.1), math.log(0.6 / 0.9)  # 1.3863, −0.4055
    out = cusum.bernoulli_cusum([0, 1, 1, 0, 1], p0=0.1, p1=0.4, h=3.5)
    expected = [0.0, a, 2 * a, 2 * a + b, 3 * a + b]
    assert out["s"].tolist() == pytest.approx(expected)
    assert out["signal"].tolist() == [False, False, False, False, True]  # 3.753 ≥ 3.5
    assert out.attrs["first_signal"] == 4 and out.attrs["signal_start"] == 1
    assert pd.isna(out["run_start"].iloc[0])


def test_bernoulli_cusum_downward_and_missing():
    # watching for a fall from 0.5 to 0.2: each 0 adds log(0.8/0.5) = 0.47, a 1 subtracts
    out = cusum.bernoulli_cusum([1, None, 0, 0, 0, 0], p0=0.5, p1=0.2, h=1.5)
    w0 = math.log(0.8 / 0.5)
    assert out["s"].tolist() == pytest.approx([0, 0, w0, 2 * w0, 3 * w0, 4 * w0])
    assert out["signal"].tolist() == [False] * 5 + [True]  # 1.88 ≥ 1.5
    assert out.attrs["signal_start"] == 2


def test_cusum_threshold_matches_simulated_arl():
    p0, p1, arl0 = 0.1, 0.2, 200.0
    h = cusum.cusum_threshold(p0, p1, arl0=arl0)
    rng = np.random.default_rng(1)
    y = rng.random((2000, 3000)) < p0
    a, b = math.log(p1 / p0), math.log((1 - p1) / (1 - p0))
    s = np.zeros(2000)
    first = np.full(2000, np.nan)
    for t in range(3000):
        s = np.maximum(0, s + np.where(y[:, t], a, b))
        hit = (s >= h) & np.isnan(first)
        first[hit] = t + 1
    sim = np.nanmean(first)
    assert sim == pytest.approx(arl0, rel=0.15)
    assert cusum.cusum_arl(p1, p0=p0, p1=p1, h=h) < arl0 / 5
    with pytest.raises(ParameterError):
        cusum.cusum_threshold(0.1, 0.1)


# --- charts -------------------------------------------------------------------------------


def test_p_chart_flags_a_jump_and_not_stable_months():
    rng = np.random.default_rng(3)
    n = np.full(24, 200)
    k = rng.binomial(n, 0.10)
    k[20:] = rng.binomial(200, 0.25, 4)
    out = monitor.control_chart(_rate_series(k, n))
    assert out["chart"].iloc[0] == "p"
    flagged = out.loc[out["flag"] != "", "month"].tolist()
    assert flagged and flagged[0] == "2024-09" and all(m >= "2024-09" for m in flagged)
    assert (out.loc[out["flag"] != "", "side"] == 1).all()
    assert out["flag_since"].iloc[20] == "2024-09"


def test_p_chart_limits_by_hand():
    k = [10] * 24
    n = [100] * 24
    out = monitor.control_chart(_rate_series(k, n), baseline="all")
    assert out["centre"].iloc[0] == pytest.approx(0.10)
    # exact predictive limits: beta-binomial(100, 240.5, 2160.5) 0.135% / 99.865% quantiles
    from scipy import stats

    bb = stats.betabinom(100, 240.5, 2160.5)
    assert out["ucl"].iloc[0] == pytest.approx(bb.ppf(1 - stats.norm.sf(3)) / 100)
    assert out["lcl"].iloc[0] == pytest.approx(bb.ppf(stats.norm.sf(3)) / 100)
    assert (out["flag"] == "").all() and (out["z"] == 0).all()


def test_sparse_series_single_event_is_not_an_alarm():
    # a police station with 5 approved arrests a month and a 3% bail rate: one bail is noise
    k = [0] * 24
    k[7] = 1
    k[15] = 1
    k[22] = 1
    out = monitor.control_chart(_rate_series(k, [5] * 24))
    assert (out["flag"] == "").all()


def test_laney_widens_overdispersed_series():
    rng = np.random.default_rng(5)
    n = np.full(24, 2000)
    p = rng.beta(40, 360, 24)  # month-to-month variation well beyond binomial noise
    k = rng.binomial(n, p)
    plain = monitor.control_chart(_rate_series(k, n), overdispersion_alpha=1e-300)
    laney = monitor.control_chart(_rate_series(k, n))
    assert laney["chart"].iloc[0] == "laney_p" and laney["sigma_factor"].iloc[0] > 1.5
    assert (laney["ucl"] >= plain["ucl"] - 1e-12).all()
    rule1 = {k: int(f["flag"].str.contains("rule1").sum()) for k, f in (("laney", laney),
                                                                         ("plain", plain))}
    assert rule1["laney"] <= rule1["plain"]
    assert laney["phi"].iloc[0] > 2


def test_xmr_by_hand():
    values = [10.0, 12.0, 11.0, 13.0, 12.0, 30.0]
    df = pd.DataFrame({"indicator": "x", "kind": "ratio", "month": MONTHS24[:6],
                       "value": values})
    out = monitor.control_chart(df, chart="xmr", baseline=5)
    mr = np.mean([2, 1, 2, 1])
    assert out["centre"].iloc[0] == pytest.approx(11.6)
    assert out["ucl"].iloc[0] == pytest.approx(11.6 + 3 * mr / 1.128)
    assert out["flag"].tolist()[-1].startswith("rule1")


def test_xbar_uses_within_month_sd():
    n = np.full(24, 50.0)
    value = np.full(24, 20.0)
    value[-1] = 26.0
    se = np.full(24, 10.0 / math.sqrt(50))  # sd 10 days
    df = pd.DataFrame({"indicator": "prosecution_review_days_mean", "kind": "mean",
                       "direction": "lower_better", "month": MONTHS24, "numerator": value * n,
                       "denominator": n, "value": value, "value_se": se})
    out = monitor.control_chart(df)
    assert out["chart"].iloc[0] == "xbar"
    assert out["ucl"].iloc[0] == pytest.approx(20 + 3 * 10 / math.sqrt(50))
    assert out["flag"].iloc[-1].startswith("rule1") and (out["flag"].iloc[:-1] == "").all()


def test_stock_counts_and_medians_are_not_flagged():
    df = pd.DataFrame({"indicator": "pending_prosecution_review", "kind": "count",
                       "month": MONTHS24, "numerator": list(range(24)),
                       "value": list(range(24))})
    out = monitor.control_chart(df)
    assert (out["chart"] == "none").all() and (out["flag"] == "").all()
    assert out["centre"].iloc[0] == pytest.approx(5.5)


def test_counts_use_days_of_the_month():
    # 31 a month, 28 in February: the same daily rate, nothing to flag
    k = [periods.parse(m).n_days for m in MONTHS24]
    df = pd.DataFrame({"indicator": "accepted_arrest_review", "kind": "count",
                       "direction": "range", "month": MONTHS24, "numerator": k, "value": k})
    out = monitor.control_chart(df)
    assert out["chart"].iloc[0] == "u" and (out["flag"] == "").all()
    assert out.set_index("month").loc["2024-02", "centre"] == pytest.approx(29.0)


def test_flags_merge_episodes():
    ch = pd.DataFrame({"indicator": "x", "direction": "lower_better",
                       "month": ["2024-01", "2024-02", "2024-03", "2024-04", "2024-09"],
                       "flag": ["rule1", "", "cusum_up", "rule1", "rule1"],
                       "flag_since": ["2024-01", None, "2024-02", "2024-04", "2024-09"],
                       "side": [1, 0, 1, 1, -1], "value": [1, 2, 3, 4, 5]})
    f = monitor.flags(ch)
    assert f[["flag_since", "first_month", "last_month", "months_flagged"]].values.tolist() == [
        ["2024-09", "2024-09", "2024-09", 1], ["2024-01", "2024-01", "2024-04", 3]]
    assert f["adverse"].tolist() == [False, True]
    assert monitor.flags(ch, since="2024-06")["first_month"].tolist() == ["2024-09"]


def test_seasonal_stl():
    rng = np.random.default_rng(2)
    season = np.tile([30, 20, 40, 42, 41, 40, 39, 40, 41, 42, 40, 45], 3).astype(float)
    y = season + rng.normal(0, 2, 36)
    y[28] += 45
    months = [p.code for p in periods.month_range("2022-01", "2024-12")]
    out = seasonal.seasonal(pd.DataFrame({"indicator": "accepted_arrest_review",
                                          "kind": "count", "month": months, "value": y}))
    assert out.loc[out["flag"] == "stl", "month"].tolist() == ["2024-05"]
    assert out["seasonal"].notna().all()
    short = seasonal.seasonal(pd.DataFrame({"indicator": "a", "kind": "count",
                                            "month": months[:18], "value": y[:18]}))
    assert short["trend"].isna().all() and (short["flag"] == "").all()


def test_bad_options():
    with pytest.raises(ParameterError):
        monitor.control_chart(_rate_series([1] * 24, [10] * 24), chart="pie")
    with pytest.raises(ParameterError):
        monitor.control_chart(_rate_series([1] * 24, [10] * 24), rules=("rule9",))


# --- synthetic data ---------------------------------------------------------------------------


def _month_no(code):
    p = periods.parse(code)
    return p.start.year * 12 + p.start.month


@pytest.fixture(scope="module")
def planted_journeys(synth_small):
    return journeys.build(synth_small.records)


def test_planted_station_bail_jump_found_within_two_months(synth_small, planted_journeys):
    pat = next(p for p in synth_small.truth["patterns"] if p["id"] == "post_arrest_bail_jump")
    where = pat["where"]
    end = synth_small.truth["end"]
    ch = monitor.scan(synth_small.records, indicators="post_arrest_bail_rate",
                      by=["unit_code", "referring_agency", "police_station"], end=end,
                      months=24, journeys=planted_journeys)
    mine = ((ch["unit_code"] == where["unit_code"])
            & (ch["police_station"] == where["police_station"])
            & (ch["referring_agency"] == where["referring_agency"]))
    hits = ch[mine & (ch["flag"] != "") & (ch["side"] > 0)]
    assert len(hits), "planted bail jump not flagged"
    first = hits["month"].min()
    lag = _month_no(first) - _month_no(pat["from"])
    print(f"\nbail jump from {pat['from']}: first flagged {first} (lag {lag} months), "
          f"rules {hits['flag'].iloc[0]}")
    assert 0 <= lag <= 2
    # nothing flagged upward there before the pattern
    assert not ((ch[mine]["month"] < pat["from"]) & (ch[mine]["flag"] != "")
                & (ch[mine]["side"] > 0) & (ch[mine]["flag"].str.contains("rule1"))).any()


def test_planted_rising_charge_found(synth_small):
    pat = next(p for p in synth_small.truth["patterns"] if p["id"] == "rising_charge")
    end = synth_small.truth["end"]
    ch = monitor.scan(synth_small.records, indicators=["accepted_prosecution_review"],
                      by="charge", end=end, months=24)
    fl = monitor.flags(ch)
    up = fl[(fl["charge"] == pat["where"]["charge"]) & (fl["side"] > 0)]
    assert len(up), "rising charge not flagged"
    first = up["first_month"].min()
    print(f"\nrising charge {pat['where']['charge']} from {pat['from']}: first flagged {first}, "
          f"run since {up['flag_since'].min()}")
    assert first >= pat["from"]
    assert up["last_month"].max() == end  # still flagged at the end of the data
    # the planted charge is the top upward signal
    others = fl[(fl["charge"] != pat["where"]["charge"]) & (fl["side"] > 0)]
    assert up["months_flagged"].sum() > others.groupby("charge")["months_flagged"].sum().max()


def test_null_data_false_alarm_share_within_nominal(synth_null_small):
    """On data with nothing planted the share of (group, month) points beyond the 3σ limits
    stays within the nominal 2·Φ(−3) = 0.27 %."""
    recs = synth_null_small.records
    j = journeys.build(recs)
    end = synth_null_small.truth["end"]
    charted = []
    for by in (("unit_code",), ("unit_code", "department")):
        ch = monitor.scan(recs, indicators="all", by=by, end=end, months=24, journeys=j)
        charted.append(ch[ch["z"].notna()])
    pts = pd.concat(charted, ignore_index=True)
    rule1 = pts["flag"].str.contains("rule1").mean()
    anyflag = (pts["flag"] != "").mean()
    print(f"\nnull data: {len(pts)} charted points, rule-1 (3σ) share {rule1:.4%}, "
          f"any-rule share {anyflag:.4%}")
    assert len(pts) > 5000
    assert rule1 <= 2 * monitor.TAIL
    assert anyflag < 0.03


def test_watch_reports_the_planted_station_with_chinese_labels(synth_small, planted_journeys):
    pat = next(p for p in synth_small.truth["patterns"] if p["id"] == "post_arrest_bail_jump")
    w = monitor.watch(synth_small.records, end=synth_small.truth["end"],
                      indicators=["post_arrest_bail_rate", "accepted_prosecution_review"],
                      groupings=("police_station", "charge_group"), journeys=planted_journeys)
    assert set(w["trends"]["indicator"]) == {"post_arrest_bail_rate",
                                             "accepted_prosecution_review"}
    assert w["scanned"] == ["police_station", "charge_group"]
    f = w["flags"]
    # the station is named in full (its agency + station), never by a bare station name
    hit = f[(f["dimension"] == "派出所") & (f["group"] == pat["entity_name"])
            & (f["indicator"] == "post_arrest_bail_rate")]
    assert len(hit) and hit["adverse"].all()
    groups = set(f.loc[f["dimension"] == "罪名类别", "group"])
    assert all(not g.isascii() for g in groups)  # 网络犯罪, not "cyber"
    table = tables.flag_table(f, since=hit["last_month"].max(), top=100)
    assert list(table.columns) == ["维度", "对象", "指标", "起始月份", "最近月份", "信号月数",
                                   "方向", "规则", "最近值"]
    assert (table["对象"] == pat["entity_name"]).any()


def test_recent_start():
    assert monitor.recent_start("2024-05", 3) == "2024-03"
    assert monitor.recent_start("2024-H1", 3) == "2024-01"
    assert monitor.recent_start("2024-YTD02", 1) == "2024-01"
