"""casework.analysis.topics.recurring: contrasts, trend, concentration on hand-made data;
planted synthetic data."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from casework.analysis import periods, text
from casework.analysis.topics import recurring
from casework.base.errors import ParameterError
from casework.present import recurring_text


def _cases():
    return pd.DataFrame({
        "stage": ["prosecution_review"] * 8 + ["arrest_review"],
        "unit_code": ["1", "1", "1", "2", "2", "2", "3", "3", "1"],
        "unit_name": ["甲院", "甲院", "甲院", "乙院", "乙院", "乙院", "丙院", "丙院", "甲院"],
        "charges": [["盗窃"], ["盗窃", "诈骗"], ["诈骗"], ["盗窃"], ["危险驾驶"], ["危险驾驶"],
                    ["盗窃"], ["故意伤害"], ["盗窃"]],
        "police_station": ["东", "东", "西", "东", "南", None, "北", "北", "东"],
        "accepted_on": pd.to_datetime(["2024-01-03", "2024-01-20", "2024-02-01", "2024-02-11",
                                       "2024-03-05", "2024-03-09", "2024-03-30", "2023-12-31",
                                       "2024-01-05"]),
        "gender": ["male", "male", "female", "female", "male", "male", "male", "male", "male"],
        "age": [17, 30, 40, 22, 50, 61, 19, 35, 17],
        "recidivist": [True, False, False, True, False, False, False, False, True],
        "amount_involved": [1000.0, 3000.0, 50000.0, None, None, None, 8000.0, None, 1000.0],
    })


class TestSelection:
    def test_topic_cases_one_stage_period_units(self):
        c = recurring.topic_cases(_cases(), charges="盗窃", period="2024-Q1")
        assert c.attrs["stage"] == "prosecution_review"
        assert len(c) == 7  # the arrest-review row and the 2023 row are out
        assert int(c["in_topic"].sum()) == 4  # 盗窃 incl. the 盗窃+诈骗 person
        c2 = recurring.topic_cases(_cases(), charges="盗窃", units=["2"])
        assert int(c2["in_topic"].sum()) == 1 and len(c2) == 3

    def test_charge_group(self):
        c = recurring.topic_cases(_cases(), charge_group="property")
        assert int(c["in_topic"].sum()) == 5  # 盗窃 ×4 (one with 诈骗) + 诈骗


class TestContrast:
    def test_adjusted_residuals_match_chi_square(self):
        c = recurring.topic_cases(_cases(), charges="盗窃")
        out = recurring.contrast(c, "gender").set_index("category_zh")
        # topic: 男 3 (p1,p2,p7) 女 1 (p4); others: 男 3, 女 1 → identical shares
        assert (out.loc["男", "topic_n"], out.loc["男", "other_n"]) == (3, 3)
        assert out.loc["男", "adj_residual"] == pytest.approx(0.0)

    def test_residual_by_hand_on_unequal_table(self):
        c = pd.DataFrame({"in_topic": [True] * 30 + [False] * 70,
                          "household": ["non_local"] * 20 + ["local"] * 10
                          + ["non_local"] * 20 + ["local"] * 50})
        out = recurring.contrast(c, "household").set_index("category_zh")
        # 2×2: the adjusted residual squared equals the uncorrected chi-square
        chi2 = stats.chi2_contingency([[20, 10], [20, 50]], correction=False)[0]
        assert abs(out.loc["外地", "adj_residual"]) == pytest.approx(np.sqrt(chi2))
        assert out.loc["外地", "adj_residual"] > 0
        assert out.loc["外地", "topic_share"] == pytest.approx(20 / 30)
        assert out.loc["外地", "other_share"] == pytest.approx(20 / 70)
        assert out.loc["外地", "difference"] == pytest.approx(20 / 30 - 20 / 70)

    def test_profile_bool_and_age_bands(self):
        c = recurring.topic_cases(_cases(), charges="盗窃")
        prof = recurring.profile(c)
        rec = prof[prof["dimension"] == "recidivist"]
        assert rec["category_zh"].tolist() == ["是"]  # only the 是 row for flags
        assert (int(rec["topic_n"].iloc[0]), int(rec["other_n"].iloc[0])) == (2, 0)
        ages = prof[prof["dimension"] == "age_band"].set_index("category_zh")
        assert ages.loc["未满18岁", "topic_n"] == 1
        assert ages.loc["60岁以上", "other_n"] == 1
        assert set(prof["dimension"]) == {"age_band", "gender", "recidivist"}

    def test_timing_needs_times(self):
        c = recurring.topic_cases(_cases(), charges="盗窃")
        assert recurring.timing(c, by="hour").empty
        c = c.assign(offence_at=pd.to_datetime(["2024-01-01 21:00"] * len(c)))
        h = recurring.timing(c, by="hour")
        assert h["category_zh"].tolist() == ["21时"]


class TestConcentration:
    def test_top_share_by_hand(self):
        c = recurring.topic_cases(_cases(), charges="盗窃")
        out = recurring.concentration(c, by="police_station", top=1)
        # topic stations: 东 ×3, 北 ×1 — without an investigating agency in the data, a station
        # is shown as the unknown agency's (never pooled with same-named stations elsewhere)
        assert out["category"].tolist() == ["未知移送机关东"]
        assert out["share"].iloc[0] == pytest.approx(3 / 4)
        assert out.attrs["groups"] == 2
        assert out.attrs["hhi"] == pytest.approx((3 / 4) ** 2 + (1 / 4) ** 2)
        assert out["topic_rate"].iloc[0] == pytest.approx(3 / 3)

    def test_amounts_by_hand(self):
        c = recurring.topic_cases(_cases(), charges="盗窃")
        am = recurring.amounts(c).set_index("group")
        assert am.loc["topic", "recorded"] == 3
        assert am.loc["topic", "median"] == pytest.approx(3000.0)
        assert am.loc["other", "median"] == pytest.approx(50000.0)


class TestTrend:
    def _monthly(self, counts, all_n=None):
        n = len(counts)
        return pd.DataFrame({"month": pd.date_range("2022-01-01", periods=n, freq="MS"),
                             "t_years": np.arange(n) / 12, "n": counts,
                             "all_n": all_n if all_n is not None else [1000] * n})

    def test_poisson_growth_recovered(self):
        rng = np.random.default_rng(1)
        mu = 20 * 1.5 ** (np.arange(36) / 12)
        t = recurring.trend(self._monthly(rng.poisson(mu))).set_index("measure")
        assert t.loc["count", "family"] == "poisson"
        assert t.loc["count", "rate_ratio_ci_lower"] < 1.5 < t.loc["count", "rate_ratio_ci_upper"]
        assert t.loc["count", "rate_ratio_ci_lower"] > 1

    def test_overdispersed_counts_choose_negative_binomial(self):
        rng = np.random.default_rng(2)
        mu = 30 * np.ones(36)
        y = rng.negative_binomial(n=3, p=3 / (3 + mu))  # var = mu + mu²/3
        t = recurring.trend(self._monthly(y)).set_index("measure")
        assert t.loc["count", "family"] == "negative_binomial"
        assert t.loc["count", "overdispersion_p"] < 0.05
        assert t.loc["count", "rate_ratio_ci_lower"] < 1 < t.loc["count", "rate_ratio_ci_upper"]
        # the Poisson interval would be narrower: NB must not be overconfident
        tp = recurring.trend(self._monthly(y), family="poisson").set_index("measure")
        assert (t.loc["count", "std_err"] > tp.loc["count", "std_err"])

    def test_share_row_uses_offset(self):
        # the topic is a constant 5% of a caseload that doubles each year
        all_n = np.round(1000 * 2 ** (np.arange(24) / 12)).astype(int)
        t = recurring.trend(self._monthly(np.round(all_n * 0.05).astype(int),
                                          all_n)).set_index("measure")
        assert t.loc["count", "rate_ratio"] == pytest.approx(2.0, rel=0.03)
        assert t.loc["share", "rate_ratio"] == pytest.approx(1.0, abs=0.03)

    def test_monthly_counts_fill_empty_months(self):
        m = recurring.monthly_counts(_cases(), charges="盗窃")
        assert m["month"].dt.strftime("%Y-%m").tolist() == ["2023-12", "2024-01", "2024-02",
                                                            "2024-03"]
        assert m["n"].tolist() == [0, 2, 1, 1]
        assert m["all_n"].tolist() == [1, 2, 2, 3]


class TestNarrative:
    def test_judgment_only_shape_runs_and_skips(self):
        df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃", "诈骗"]],
                           "case_summary": ["入户盗窃手机", "冒充客服骗取钱款",
                                            "入户盗窃后冒充客服"]})
        r = recurring.characteristics(df, charges="盗窃", period="2024")
        assert r.persons == 2 and r.all_persons == 3
        assert {"trend", "profile", "timing", "places"} <= set(r.skipped)
        assert r.notes_zh  # no dates: the period could not be applied
        lines = recurring_text.narrative(r)
        assert lines[0].startswith("说明：数据中没有受理日期")
        assert lines[1].startswith("全部期间，盗窃案件共2人")


def test_misspelt_charge_is_noted_and_period_labelled():
    r = recurring.characteristics(_cases(), charges="盗窍", period="2024-Q1", allow_empty=True)
    assert r.persons == 0 and r.period_zh == "2024年第一季度"
    lines = recurring_text.narrative(r)
    assert "盗窍" in lines[0] and "拼写" in lines[0]
    assert lines[1] == "2024年第一季度，所选单位没有盗窍案件。"


def test_a_topic_without_persons_is_an_error_listing_the_charges_present():
    with pytest.raises(ParameterError) as err:
        recurring.characteristics(_cases(), charges="盗窍", period="2024-Q1")
    assert "0人" in err.value.zh and "拼写" in err.value.zh
    # the hint lists the charges of the period's persons, most first
    assert "盗窃（4人）、诈骗（2人）、危险驾驶（2人）" in err.value.hint


def test_police_stations_are_told_apart_by_their_bureau_and_named_in_full():
    c = pd.DataFrame({"in_topic": [True, True, True, False],
                      "referring_agency": ["江州市公安局青山分局", "江州市公安局青山分局",
                                           "江州市公安局东湖分局", "江州市公安局东湖分局"],
                      "police_station": ["和平派出所"] * 4})
    out = recurring.concentration(c, by="police_station")
    assert out["category"].tolist() == ["江州市公安局青山分局和平派出所",
                                        "江州市公安局东湖分局和平派出所"]
    assert out.attrs["groups"] == 2 and out["n"].tolist() == [2, 1]


def test_small_groups_make_no_claims():
    c = pd.DataFrame({"in_topic": [True] * 2 + [False] * 50,
                      "gender": ["female"] * 2 + ["male"] * 50})
    gender = recurring.contrast(c, "gender").set_index("category_zh")
    assert gender.loc["女", "adj_residual"] > 1.96
    assert recurring_text.top_over(recurring.contrast(c, "gender")).empty  # 2 persons: no claim


# ---------------------------------------------------------------------------------------------
# Planted synthetic data
# ---------------------------------------------------------------------------------------------


def _rising(truth):
    [p] = [p for p in truth["patterns"] if p["id"] == "rising_charge"]
    return p


def _last_month(records) -> str:
    """The last month of the data, read from the data (never from the truth)."""
    return periods.last_data_month(records["accepted_on"]).code


def test_the_automatic_topic_is_the_planted_rising_charge_blind(synth_small):
    """No charge given: the topic is chosen from the data; the planted charge is among the
    rising ones, with its start month, and its trend excludes 1."""
    chosen = recurring.choose_charges(synth_small.records,
                                      period=_last_month(synth_small.records))
    planted = _rising(synth_small.truth)
    assert (chosen["chosen"] == "rising").all()
    assert planted["entity_name"] in set(chosen["charge"])
    row = chosen.set_index("charge").loc[planted["entity_name"]]
    assert abs((pd.Period(row["start_month"], "M") - pd.Period(planted["from"], "M")).n) <= 1
    m = recurring.monthly_counts(synth_small.records, charges=planted["entity_name"])
    t = recurring.trend(m).set_index("measure")
    assert t.loc["count", "rate_ratio_ci_lower"] > 1
    assert t.loc["share", "rate_ratio_ci_lower"] > 1


def _automatic_year(data):
    """The year of the last month of data and the charges chosen for it (blind)."""
    year = _last_month(data.records)[:4]
    return year, recurring.choose_charges(data.records, period=year)


def test_planted_keywords_rank_among_top_terms_of_the_automatic_topic(synth_small):
    year, chosen = _automatic_year(synth_small)
    planted = _rising(synth_small.truth)
    assert planted["entity_name"] in set(chosen["charge"])
    r = recurring.characteristics(synth_small.records, charges=planted["entity_name"],
                                  period=year, terms=10)
    top = set(r.keywords["term"])
    for kw in planted["effect"]["keywords"]:
        assert kw not in text.user_words()  # found by segmentation, not by the dictionary
        assert set(text.tokenize(kw)) <= top, (kw, r.keywords["term"].tolist())
    # example phrases come from the topic's own summaries
    assert r.keywords["examples_zh"].str.len().gt(0).all()


def test_null_data_choose_a_frequent_charge_and_no_rise(synth_null_small):
    year, chosen = _automatic_year(synth_null_small)
    assert chosen["chosen"].tolist() == ["frequent"] and chosen.attrs["rising"] == 0


def test_emerging_terms_by_hand():
    df = pd.DataFrame({
        "stage": "prosecution_review",
        "charge": ["诈骗"] * 6 + ["盗窃"] * 2,
        "accepted_on": pd.to_datetime(["2023-03-01", "2023-05-01", "2023-07-01", "2024-02-01",
                                       "2024-03-01", "2024-04-01", "2024-02-01", "2023-02-01"]),
        "case_summary": ["谎称办理贷款骗取钱款", "谎称办理贷款收取费用", "谎称低价出售骗取定金",
                         "以退税为名骗取钱款", "谎称退税诱导转账", "谎称办理贷款骗取钱款",
                         "以退税为名盗刷", "扒窃手机"],
    })
    new = recurring.emerging_terms(df, charges="诈骗", period="2024", top=3)
    # 退税 — a word the dictionary does not hold — is in 2 of 3 recent 诈骗 cases and in none
    # of the 3 earlier ones
    assert "退税" not in text.user_words()
    row = new.set_index("term").loc["退税"]
    assert new["term"].iloc[0] == "退税"
    assert (row["topic_docs"], row["other_docs"]) == (2, 0)
    assert new.attrs["other_docs"] == 3  # only earlier 诈骗 cases are the comparison
    # no earlier cases: skipped with a reason
    none = recurring.emerging_terms(df, charges="诈骗", period="2023")
    assert none.empty and "之前没有" in none.attrs["skip_zh"]


def test_planted_keywords_emerge_in_the_automatic_topic(synth_small):
    year, chosen = _automatic_year(synth_small)
    planted = _rising(synth_small.truth)
    new = recurring.emerging_terms(synth_small.records, charges=planted["entity_name"],
                                   period=year, top=8)
    top = set(new["term"])
    for kw in planted["effect"]["keywords"]:
        assert set(text.tokenize(kw)) <= top, (kw, new["term"].tolist())


# ---------------------------------------------------------------------------------------------
# the topic_recurring template: automatic topic, findings.json and prose (blind)
# ---------------------------------------------------------------------------------------------


def _prose(path) -> str:
    s = open(path, encoding="utf-8").read()
    s = re.sub(r"<(script|style|table|figure)[^>]*>.*?</\1>", " ", s, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", s))


def _run(tmp_path, records, **params):
    from casework.run import report

    report.ensure_kernel(install=True)
    period = _last_month(records)  # the default monthly run, no charge given
    res = report.run("topic_recurring", period=period, reports_dir=tmp_path,
                     params=params or None)
    files = tmp_path / period / "topic_recurring_all_files"
    return res, files


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_the_report_without_charges_studies_and_names_the_rising_charge(demo_home, tmp_path,
                                                                       synth_small):
    res, files = _run(tmp_path, synth_small.records)
    assert res.ok, res.describe()
    doc = json.loads((files / "findings.json").read_text(encoding="utf-8"))
    planted = _rising(synth_small.truth)
    named = {f["entity_id"]: f for f in doc["findings"]}
    assert planted["entity_id"] in named, list(named)
    f = named[planted["entity_id"]]
    assert abs((pd.Period(f["start_month"], "M") - pd.Period(planted["from"], "M")).n) <= 1
    prose = _prose(res.html)
    # the report says why it chose the charge, and names the rise in its prose
    assert "自动选取上升的罪名：" + planted["entity_name"] in prose
    assert f["sentence"] in prose
    # stations are named in full (agency + station), never by a bare name
    stations = pd.read_csv(files / "police_stations.csv")
    assert stations["类别"].astype(str).str.contains("公安局").all()


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_the_report_on_null_data_names_nothing_and_says_why_it_chose_the_charge(
        null_home, tmp_path, monkeypatch, synth_null_small):
    monkeypatch.setenv("CASEWORK_HOME", str(null_home))
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    res, files = _run(tmp_path, synth_null_small.records)
    assert res.ok, res.describe()
    doc = json.loads((files / "findings.json").read_text(encoding="utf-8"))
    assert doc["findings"] == [] and doc["n_tests"] > 0
    prose = _prose(res.html)
    assert "本期没有经检验持续上升的罪名" in prose and "本期未发现需关注的问题" in prose
    assert "呈上升趋势" not in prose and "联席会议" not in prose


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_a_charge_with_no_persons_fails_the_report_with_the_charges_present(demo_home,
                                                                           tmp_path,
                                                                           synth_small):
    res, _ = _run(tmp_path, synth_small.records, charges=["盗窍"])
    assert not res.ok
    message = res.describe()
    assert "0人" in message and "盗窃" in message
