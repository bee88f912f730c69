"""casework.analysis.topics.sentencing: hand-computed tables, planted model effects, synthetic
data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from casework.analysis.topics import consistency, normalise_charge, sentencing, sentencing_models
from casework.present import sentencing_text


def _tiny():
    """Six judged persons; person 2 has two charges; one death, one life, one acquittal."""
    return pd.DataFrame({
        "stage": ["prosecution_review"] * 6,
        "unified_case_no": ["u1", "u2", "u3", "u4", "u5", "u6"],
        "person_id": ["p1", "p2", "p3", "p4", "p5", "p6"],
        "unit_code": ["a", "a", "b", "b", "b", "a"],
        "charge": ["盗窃", "盗窃", "故意杀人", "[走私、贩卖、运输、制造]毒品", "诈骗", "诈骗"],
        "charges": [["盗窃"], ["盗窃", "诈骗罪"], ["故意杀人"], ["[走私、贩卖、运输、制造]毒品"],
                    ["诈骗"], ["诈骗"]],
        "principal_penalty": ["fixed_term", "criminal_detention", "death", "life", "fixed_term",
                              "acquitted"],
        "term_months": [10.0, 5.0, None, None, 40.0, None],
        "probation": [True, False, False, False, False, None],
        "fine": [2000.0, 1000.0, None, 50000.0, 20000.0, None],
    })


class TestCharges:
    def test_bracketed_alternatives_match_plain_form(self):
        assert normalise_charge("[走私、贩卖、运输、制造]毒品") == "走私、贩卖、运输、制造毒品"
        assert normalise_charge("〔走私、贩卖、运输、制造〕毒品罪") == "走私、贩卖、运输、制造毒品"
        from casework.model import schema

        assert normalise_charge("[走私、贩卖、运输、制造]毒品") in schema.CHARGES

    def test_judgments_select_by_plain_name(self):
        j = sentencing.judgments(_tiny(), charges="走私、贩卖、运输、制造毒品")
        assert j["person_id"].tolist() == ["p4"]
        assert j["charge"].tolist() == ["走私、贩卖、运输、制造毒品"]


class TestTables:
    def test_penalty_mix_counts_multi_charge_once_per_charge(self):
        mix = sentencing.penalty_mix(_tiny())
        theft = mix[mix["charge"] == "盗窃"].set_index("band")["n"].to_dict()
        fraud = mix[mix["charge"] == "诈骗"].set_index("band")["n"].to_dict()
        assert theft == {"criminal_detention": 1, "fixed_term_le1": 1}
        # p2 (盗窃+诈骗, 拘役) counts under 诈骗 too; p5 40 months; p6 acquitted
        assert fraud == {"criminal_detention": 1, "fixed_term_3_10": 1, "acquitted": 1}
        total = mix[mix["charge"] == "合计"]
        assert total["n"].sum() == 6 and (total["denominator"] == 6).all()
        assert set(total["band"]) >= {"death", "life"}
        drug = mix[mix["charge"] == "走私、贩卖、运输、制造毒品"]
        assert drug["band"].tolist() == ["life"]

    def test_band_boundaries(self):
        b = sentencing.band_of
        assert [b("fixed_term", t) for t in (6, 12, 12.5, 36, 37, 120, 121)] == [
            "fixed_term_le1", "fixed_term_le1", "fixed_term_1_3", "fixed_term_1_3",
            "fixed_term_3_10", "fixed_term_3_10", "fixed_term_gt10"]
        assert b("fixed_term", None) == "fixed_term_unknown"

    def test_probation_fines_minor_offence_by_hand(self):
        df = _tiny()
        pr = sentencing.probation_rate(df, by=None).iloc[0]
        # 拘役/有期: p1 (缓刑), p2, p5 → 1/3
        assert (pr["numerator"], pr["denominator"]) == (1, 3)
        assert pr["value_ci_lower"] < 1 / 3 < pr["value_ci_upper"]
        fn = sentencing.fines(df, by=None).iloc[0]
        # convicted: p1..p5 (p6 acquitted); fined: p1, p2, p4, p5
        # → median of 1000, 2000, 20000, 50000
        assert (fn["numerator"], fn["denominator"]) == (4, 5)
        assert fn["fine_median"] == pytest.approx(11000.0)
        light = sentencing.minor_offence_share(df, by=None).iloc[0]
        # ≤3 years: p1 (10 m), p2 (拘役) of convicted p1..p5
        assert (light["numerator"], light["denominator"]) == (2, 5)
        med = sentencing.median_terms(df).set_index("charge")
        assert med.loc["盗窃", "median"] == pytest.approx(7.5)
        assert med.loc["诈骗", "median"] == pytest.approx(22.5)
        assert med.loc["合计", "n"] == 3

    def test_fine_distribution_by_hand(self):
        dist = sentencing.fine_distribution(_tiny())
        assert dist.set_index("fine_band_zh")["n"].to_dict() == {
            "1000元以下": 1, "1000元以上5000元以下": 1, "1万元以上5万元以下": 2}
        assert (dist["denominator"] == 4).all()

    def test_recommendation_adoption_and_deviation_by_hand(self):
        df = pd.DataFrame({
            "charge": ["盗窃", "盗窃", "诈骗", "诈骗", "诈骗"],
            "principal_penalty": ["fixed_term"] * 5,
            "term_months": [10.0, 12.0, 24.0, 30.0, 18.0],
            "recommended_term_months": [10.0, 10.0, 24.0, 36.0, None],
            "recommendation_type": ["fixed", "fixed", "range", "fixed", "none"],
            "recommendation_adopted": [True, False, True, False, True],
            "plea_leniency": [True, True, True, False, False],
        })
        out = sentencing.recommendation_adoption(df).set_index("charge")
        assert (out.loc["盗窃", "numerator"], out.loc["盗窃", "denominator"]) == (1, 2)
        # the "none" row is left out of 诈骗
        assert (out.loc["诈骗", "numerator"], out.loc["诈骗", "denominator"]) == (1, 2)
        assert out.loc["诈骗", "deviation_mean"] == pytest.approx((0 + -6) / 2)
        assert out.loc["合计", "lighter_share"] == pytest.approx(1 / 4)
        assert out.loc["合计", "heavier_share"] == pytest.approx(1 / 4)

    def test_duplicate_rows_of_one_person_count_once(self):
        df = _tiny()
        extra = df.iloc[[0]].assign(stage="judgment", term_months=11.0)
        j = sentencing.judgments(pd.concat([df, extra], ignore_index=True))
        assert len(j) == 6
        # the judgment row wins over the prosecution-review row
        assert j.loc[j["person_id"] == "p1", "term_months"].tolist() == [11.0]

    def test_period_filter_and_note_without_dates(self):
        df = _tiny().assign(judgment_on=pd.to_datetime(["2024-01-10", "2024-02-01", "2023-12-31",
                                                         "2024-03-31", "2024-04-01",
                                                         "2024-01-01"]))
        assert len(sentencing.judgments(df, period="2024-Q1")) == 4
        j = sentencing.judgments(_tiny(), period="2024-Q1")
        assert len(j) == 6 and j.attrs["notes_zh"]


class TestDerivation:
    def test_rules(self):
        df = pd.DataFrame({
            "principal_penalty": [None] * 7 + ["public_surveillance"],
            "term_months": [0, 0, 3, 6, 18, 0, 0, 8],
            "fine": [None, 2000, None, None, None, None, None, None],
            "death_penalty": [False, False, False, False, False, True, False, False],
            "life_imprisonment": [False, False, False, False, False, False, True, False],
        })
        out = sentencing.derive_principal_penalty(df)
        # issue 14: a zero term with no fine is an inferred 免予刑事处罚, never dropped
        assert out["principal_penalty"].fillna("unknown").tolist() == [
            "exempted", "fine_only", "criminal_detention", "fixed_term", "fixed_term", "death",
            "life",
            "public_surveillance"]
        assert out["penalty_derived"].tolist() == [True, True, True, True, True, True, True,
                                                   False]
        assert out["term_months"].isna().tolist()[5:7] == [True, True]
        assert sentencing.bands(out)[:4] == ["exempted_inferred", "fine_only",
                                             "criminal_detention", "six_months"]
        assert out["penalty_ambiguous"].tolist() == [False, False, False, True] + [False] * 4


def _planted(n=900, seed=3):
    """Persons with planted sentencing effects (log-term and logit scales)."""
    rng = np.random.default_rng(seed)
    charge = rng.choice(["危险驾驶", "盗窃", "诈骗"], size=n, p=[0.4, 0.35, 0.25])
    plea = rng.random(n) < 0.7
    recid = rng.random(n) < 0.15
    surrender = rng.random(n) < 0.3
    amount = np.where(charge == "危险驾驶", np.nan, np.exp(rng.normal(9, 1, n)))
    base = pd.Series(charge).map({"危险驾驶": np.log(4), "盗窃": np.log(8),
                                  "诈骗": np.log(14)}).to_numpy()
    log_amt = np.log1p(np.nan_to_num(amount))
    log_term = (base + np.log(0.8) * plea + np.log(1.3) * recid + np.log(0.9) * surrender
                + 0.2 * (log_amt - 9) * (charge != "危险驾驶") + rng.normal(0, 0.25, n))
    term = np.round(np.exp(log_term), 1)
    eta = -1.0 + np.log(3.0) * plea - 0.5 * surrender
    prob = (rng.random(n) < 1 / (1 + np.exp(-eta))) & ~recid
    penalty = np.where(term < 6, "criminal_detention", "fixed_term")
    return pd.DataFrame({"charge": charge, "principal_penalty": penalty, "term_months": term,
                         "plea_leniency": plea, "recidivist": recid, "surrender": surrender,
                         "minor": False, "amount_involved": amount, "probation": prob})


class TestModels:
    def test_term_model_recovers_planted_ratios(self):
        tab = sentencing_text.with_readings(
            sentencing_models.term_model(_planted(), reference="危险驾驶")).set_index("term")
        for term, truth in (("plea_leniency", 0.8), ("recidivist", 1.3), ("surrender", 0.9)):
            assert tab.loc[term, "exp_ci_lower"] < truth < tab.loc[term, "exp_ci_upper"]
            assert tab.loc[term, "significant"]
        assert tab.loc["log_amount", "ci_lower"] < 0.2 < tab.loc["log_amount", "ci_upper"]
        # the reading is Chinese and carries the computed ratio
        reading = tab.loc["plea_leniency", "reading_zh"]
        assert "认罪认罚" in reading and "短" in reading
        assert f"{tab.loc['plea_leniency', 'exp_estimate']:.2f}" in reading
        # minor never varies: left out and noted
        assert "minor" not in tab.index
        assert any("未成年人" in n for n in tab.attrs["notes_zh"])
        assert list(tab.reset_index().columns[:7]) == ["term", "term_zh", "estimate", "std_err",
                                                       "ci_lower", "ci_upper", "p_value"]

    def test_probation_model_drops_separated_recidivism(self):
        tab = sentencing_text.with_readings(
            sentencing_models.probation_model(_planted())).set_index("term")
        assert "recidivist" not in tab.index
        assert any("累犯" in n and "完全分离" in n for n in tab.attrs["notes_zh"])
        plea = tab.loc["plea_leniency"]
        assert plea["exp_ci_lower"] < 3.0 < plea["exp_ci_upper"]
        assert tab.loc["plea_leniency", "exp_ci_lower"] > 1
        assert "几率比" in tab.loc["plea_leniency", "reading_zh"]

    def test_too_few_persons_gives_empty_table_with_reason(self):
        tab = sentencing_models.term_model(_planted().head(5))
        assert tab.empty and "不足" in tab.attrs["skip_zh"]

    def test_null_effect_is_not_significant(self):
        df = _planted()
        rng = np.random.default_rng(11)
        df["surrender"] = rng.random(len(df)) < 0.3  # reshuffled: no effect any more
        tab = sentencing_models.term_model(df).set_index("term")
        assert tab.loc["surrender", "exp_ci_lower"] < 1 < tab.loc["surrender", "exp_ci_upper"]


class TestConsistency:
    def test_spread_and_tests(self):
        rng = np.random.default_rng(5)
        a = np.exp(rng.normal(np.log(6), 0.2, 40))
        b = np.exp(rng.normal(np.log(12), 0.2, 40))
        c = np.exp(rng.normal(np.log(6), 0.6, 40))
        df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term",
                           "term_months": np.concatenate([a, b, c]),
                           "court": ["甲"] * 40 + ["乙"] * 40 + ["丙"] * 40})
        spread = consistency.term_spread(df, across="court").set_index("court")
        assert spread.loc["乙", "median"] == pytest.approx(np.median(b))
        assert spread.loc["甲", "iqr"] == pytest.approx(np.quantile(a, .75) - np.quantile(a, .25))
        row = consistency.consistency(df, across="court").iloc[0]
        assert row["groups"] == 3 and row["n"] == 120
        assert row["kruskal_p"] < 0.001  # 乙 is twice as long
        assert row["fligner_p"] < 0.01   # 丙 is three times as spread out
        assert row["group_median_max"] == pytest.approx(np.median(b))

    def test_outliers_robust_z(self):
        terms = [6.0, 7, 8, 6, 7, 8, 6, 7, 8, 7, 7, 96, 1]
        df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term",
                           "term_months": terms,
                           "dept_case_no": [f"c{i}" for i in range(len(terms))]})
        out = consistency.outlying_sentences(df)
        logs = np.log(terms)
        med = np.median(logs)
        mad = np.median(np.abs(logs - med))
        z = 0.6745 * (logs - med) / mad
        expected = {f"c{i}" for i in np.flatnonzero(np.abs(z) >= 3.5)}
        assert set(out["dept_case_no"]) == expected == {"c11", "c12"}
        assert out.set_index("dept_case_no").loc["c11", "direction_zh"] == "偏重"
        assert out.set_index("dept_case_no").loc["c12", "robust_z"] == pytest.approx(z[12])


class TestAvailabilityAndNarrative:
    def test_judgment_only_shape_has_skips(self):
        av = sentencing.availability(_tiny().drop(columns=["probation"]))
        assert av["mix"] is None and av["probation"] and av["recommendation"]

    def test_narrative_numbers_are_computed(self):
        lines = sentencing_text.narrative(_tiny())
        assert lines[0].startswith("共有判决6人")
        assert any("死刑1人" in s and "无期徒刑1人" in s for s in lines)


# ---------------------------------------------------------------------------------------------
# Synthetic data: values computed here with plain pandas
# ---------------------------------------------------------------------------------------------


def test_median_terms_per_charge_equal_plain_pandas(synth_small):
    rec = synth_small.records
    custodial = rec[rec["principal_penalty"].isin(["criminal_detention", "fixed_term"])
                    & rec["term_months"].notna()]
    expected = custodial.explode("charges").groupby("charges")["term_months"].median()
    got = sentencing.median_terms(rec, total=False).set_index("charge")["median"]
    assert set(got.index) == set(expected.index)
    for charge, value in expected.items():
        assert got[charge] == pytest.approx(float(value)), charge
    overall = sentencing.median_terms(rec, by=None)["median"].iloc[0]
    assert overall == pytest.approx(float(custodial["term_months"].median()))


def test_adoption_rate_equals_plain_pandas(synth_small):
    rec = synth_small.records
    made = rec[rec["recommendation_type"].isin(["fixed",
                                                "range"]) & rec["recommendation_adopted"].notna()]
    got = sentencing.recommendation_adoption(rec, by=None).iloc[0]
    assert got["denominator"] == len(made)
    assert got["value"] == pytest.approx(float(made["recommendation_adopted"].astype(bool).mean()))
    by_charge = sentencing.recommendation_adoption(rec, total=False).set_index("charge")
    per = made.explode("charges").groupby("charges")["recommendation_adopted"].agg(["sum", "size"])
    for charge, row in per.iterrows():
        assert (by_charge.loc[charge, "numerator"], by_charge.loc[charge, "denominator"]) == (
            int(row["sum"]), int(row["size"])), charge


def test_planted_adoption_drop_is_visible_by_unit_and_year(synth_small):
    [p] = [p for p in synth_small.truth["patterns"] if p["id"] == "adoption_drop"]
    rec = synth_small.records
    unit = rec[rec["unit_code"] == p["where"]["unit_code"]]
    start = pd.Period(p["from"], "M").start_time
    before = sentencing.recommendation_adoption(
        unit[unit["judgment_on"] < start], by=None).iloc[0]
    after = sentencing.recommendation_adoption(
        unit[unit["judgment_on"] >= start], by=None).iloc[0]
    assert after["value_ci_upper"] < before["value_ci_lower"]


def test_synthetic_mix_and_models_run(synth_small):
    rec = synth_small.records
    j = sentencing.judgments(rec, period="2024")
    mix = sentencing.penalty_table(j)
    assert mix.set_index("charge").loc["合计", "n"] == len(j)
    assert {"拘役", "有期徒刑一年以下"} <= set(mix.columns)
    tm = sentencing_models.term_model(j)
    custodial = j[j["principal_penalty"].isin(["criminal_detention",
                                               "fixed_term"]) & (j["term_months"] > 0)]
    assert tm.attrs["n"] == len(custodial)
    assert {"plea_leniency", "recidivist", "surrender", "log_amount"} <= set(tm["term"])
    assert (tm["ci_lower"] <= tm["estimate"]).all() and (tm["estimate"] <= tm["ci_upper"]).all()
    cons = consistency.consistency(j, across="court")
    assert not cons.empty and cons["kruskal_p"].between(0, 1).all()
