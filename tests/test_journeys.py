"""journeys.build: stage rows linked into one row per person, on hand-built records."""

from __future__ import annotations

import pandas as pd
import pytest

from casework.base.errors import DataError
from casework.model import journeys, schema

A, P, J = "arrest_review", "prosecution_review", "judgment"


def rec(unit, tysah, person, stage, bmsah, accepted, decision=None, **kw) -> dict:
    return {"unit_code": unit, "unified_case_no": tysah, "person_id": person, "stage": stage,
            "dept_case_no": bmsah, "accepted_on": accepted, "decision": decision, **kw}


@pytest.fixture
def records() -> pd.DataFrame:
    rows = [
        # P1: arrested, prosecuted, judged (judgment items on the prosecution row)
        rec("U1", "T1", "P1", A, "捕1", "2024-01-05", "arrest_approved", closed_on="2024-01-10",
            arrested_on="2024-01-11", charge="盗窃", referring_agency="甲公安分局",
            police_station="城关派出所"),
        rec("U1", "T1", "P1", P, "诉1", "2024-03-01", "prosecute", closed_on="2024-03-25",
            charge="诈骗", referring_agency="甲公安分局（移送）", judgment_on="2024-06-01",
            principal_penalty="fixed_term"),
        # P2: arrested, later changed to bail on the arrest card, then not prosecuted
        rec("U1", "T2", "P2", A, "捕2", "2024-01-07", "arrest_approved", arrested_on="2024-01-09",
            measure_after_change="bail", measure_changed_on="2024-02-01", charge="故意伤害",
            police_station="东街派出所"),
        rec("U1", "T2", "P2", P, "诉2", "2024-03-02", "non_prosecution",
            decision_subtype="discretionary", charge="故意伤害"),
        # P3: arrest review only, not approved
        rec("U1", "T3", "P3", A, "捕3", "2024-02-01", "non_arrest",
            decision_subtype="no_necessity", charge="危险驾驶"),
        # P4: prosecution review only (never arrested); released-to-surveillance is not bail
        rec("U1", "T4", "P4", P, "诉4", "2024-02-11", "prosecute", charge="危险驾驶",
            measure_after_change="residential_surveillance"),
        # P5: arrested; the change to bail is recorded only on the prosecution card
        rec("U1", "T5", "P5", A, "捕5", "2024-01-20", "arrest_approved", charge="盗窃"),
        rec("U1", "T5", "P5", P, "诉5", "2024-04-01", "prosecute", charge="盗窃",
            measure_after_change="bail", measure_changed_on="2024-04-15"),
        # P6: a second arrest request after a refusal — the later one counts
        rec("U1", "T6", "P6", A, "捕6a", "2024-01-02", "non_arrest", charge="抢劫"),
        rec("U1", "T6", "P6", A, "捕6b", "2024-02-20", "arrest_approved", charge="抢劫"),
        # P1 again, in another case of the same unit: a separate journey
        rec("U1", "T7", "P1", P, "诉7", "2024-05-01", "prosecute", charge="寻衅滋事"),
        # same case number and person in another unit: a separate journey
        rec("U2", "T1", "P1", A, "乙捕1", "2024-01-05", "arrest_approved", charge="盗窃"),
        # judgment-only corpus row
        rec("U2", "T8", "P8", J, "判8", "2024-05-05", None, judgment_on="2024-05-20",
            principal_penalty="criminal_detention", charge="危险驾驶"),
        # unlinkable: no person id
        rec("U2", "T9", None, A, "乙捕9", "2024-05-05", "arrest_approved", charge="盗窃"),
    ]
    return schema.conform(pd.DataFrame(rows), "records")


def by_key(j: pd.DataFrame) -> pd.DataFrame:
    return j.set_index(["unit_code", "unified_case_no", "person_id"])


def test_one_row_per_person_and_case_with_the_schema_columns(records):
    j = journeys.build(records)
    assert j.columns.tolist() == schema.column_names("journeys")
    for col in schema.columns("journeys"):
        assert str(j[col.name].dtype) == schema.pandas_dtype(col), col.name
    keys = list(by_key(j).index)
    assert keys == [("U1", "T1", "P1"), ("U1", "T2", "P2"), ("U1", "T3", "P3"),
                    ("U1", "T4", "P4"), ("U1", "T5", "P5"), ("U1", "T6", "P6"),
                    ("U1", "T7", "P1"), ("U2", "T1", "P1"), ("U2", "T8", "P8")]


def test_person_with_both_stages(records):
    r = by_key(journeys.build(records)).loc[("U1", "T1", "P1")]
    assert r["arrest_dept_case_no"] == "捕1" and r["prosecution_dept_case_no"] == "诉1"
    assert r["arrest_accepted_on"] == pd.Timestamp("2024-01-05")
    assert r["arrest_closed_on"] == pd.Timestamp("2024-01-10")
    assert r["arrested_on"] == pd.Timestamp("2024-01-11")
    assert r["prosecution_accepted_on"] == pd.Timestamp("2024-03-01")
    assert r["prosecution_closed_on"] == pd.Timestamp("2024-03-25")
    assert (r["arrest_decision"], r["prosecution_decision"]) == ("arrest_approved", "prosecute")
    assert r["judgment_on"] == pd.Timestamp("2024-06-01")
    assert r["principal_penalty"] == "fixed_term"
    assert bool(r["post_arrest_bail"]) is False
    assert pd.isna(r["non_prosecution_type"])
    # the charge of the later stage, the agency of the earlier one
    assert r["charge"] == "诈骗" and r["charge_group"] == "property"
    assert r["referring_agency"] == "甲公安分局" and r["police_station"] == "城关派出所"


def test_bail_after_arrest_and_non_prosecution_type(records):
    r = by_key(journeys.build(records)).loc[("U1", "T2", "P2")]
    assert bool(r["post_arrest_bail"]) is True
    assert r["measure_changed_on"] == pd.Timestamp("2024-02-01")
    assert r["prosecution_decision"] == "non_prosecution"
    assert r["non_prosecution_type"] == "discretionary"
    assert r["charge_group"] == "person_rights"


def test_bail_recorded_on_the_prosecution_card_counts(records):
    r = by_key(journeys.build(records)).loc[("U1", "T5", "P5")]
    assert bool(r["post_arrest_bail"]) is True
    assert r["measure_changed_on"] == pd.Timestamp("2024-04-15")


def test_arrest_only_person(records):
    r = by_key(journeys.build(records)).loc[("U1", "T3", "P3")]
    assert r["arrest_decision"] == "non_arrest"
    assert pd.isna(r["post_arrest_bail"])  # not in the arrest cohort
    assert pd.isna(r["prosecution_dept_case_no"]) and pd.isna(r["prosecution_decision"])
    assert pd.isna(r["prosecution_accepted_on"])


def test_prosecution_only_person(records):
    r = by_key(journeys.build(records)).loc[("U1", "T4", "P4")]
    assert pd.isna(r["arrest_dept_case_no"]) and pd.isna(r["arrest_decision"])
    assert pd.isna(r["post_arrest_bail"])  # residential surveillance, and never arrested
    assert r["prosecution_decision"] == "prosecute" and r["charge"] == "危险驾驶"


def test_repeated_arrest_review_uses_the_latest(records):
    r = by_key(journeys.build(records)).loc[("U1", "T6", "P6")]
    assert r["arrest_dept_case_no"] == "捕6b" and r["arrest_decision"] == "arrest_approved"
    assert bool(r["post_arrest_bail"]) is False


def test_unit_and_case_separate_journeys_of_one_person(records):
    j = by_key(journeys.build(records))
    assert j.loc[("U1", "T7", "P1"), "charge"] == "寻衅滋事"
    assert pd.isna(j.loc[("U1", "T7", "P1"), "arrest_decision"])
    assert j.loc[("U2", "T1", "P1"), "arrest_dept_case_no"] == "乙捕1"
    assert pd.isna(j.loc[("U2", "T1", "P1"), "prosecution_dept_case_no"])


def test_judgment_only_rows(records):
    r = by_key(journeys.build(records)).loc[("U2", "T8", "P8")]
    assert r["judgment_on"] == pd.Timestamp("2024-05-20")
    assert r["principal_penalty"] == "criminal_detention"
    assert pd.isna(r["arrest_decision"]) and pd.isna(r["prosecution_decision"])


def test_post_arrest_bail_mean_is_the_cohort_rate(records):
    j = journeys.build(records)
    approved = j["arrest_decision"] == "arrest_approved"
    assert int(approved.sum()) == 5  # P1, P2, P5, P6, U2/P1
    assert j["post_arrest_bail"].notna().sum() == 5
    assert j["post_arrest_bail"].mean() == pytest.approx(2 / 5)


def test_minimal_columns_and_empty_input():
    j = journeys.build(pd.DataFrame({"unit_code": ["U"], "unified_case_no": ["T"],
                                     "person_id": ["P"], "stage": [A]}))
    assert len(j) == 1 and pd.isna(j.loc[0, "post_arrest_bail"])
    empty = journeys.build(schema.empty_frame("records"))
    assert empty.empty and empty.columns.tolist() == schema.column_names("journeys")
    with pytest.raises(DataError, match="stage"):
        journeys.build(pd.DataFrame({"unit_code": ["U"]}))


# --- on the synthetic data: the planted post-arrest bail jump is found through journeys -------


def _bail_rates(records, where, start):
    j = journeys.build(records)
    sel = ((j["unit_code"] == where["unit_code"])
           & (j["police_station"] == where["police_station"])
           & (j["arrest_decision"] == "arrest_approved")).fillna(False)
    after = (j["arrested_on"] >= pd.Timestamp(start)).fillna(False)
    return (j.loc[sel & ~after, "post_arrest_bail"].mean(),
            j.loc[sel & after, "post_arrest_bail"].mean(), int((sel & after).sum()))


def test_planted_post_arrest_bail_jump_is_visible(synth_small):
    (pattern,) = [p for p in synth_small.truth["patterns"] if p["id"] == "post_arrest_bail_jump"]
    before, after, n_after = _bail_rates(synth_small.records, pattern["where"], pattern["from"])
    effect = pattern["effect"]
    assert n_after >= 30
    # within about three binomial standard errors of the planted rate
    se = (effect["rate_after"] * (1 - effect["rate_after"]) / n_after) ** 0.5
    assert abs(after - effect["rate_after"]) < 3 * se + 0.02
    assert after > 3 * before


def test_no_jump_in_the_null_data(synth_small, synth_null_small):
    (pattern,) = [p for p in synth_small.truth["patterns"] if p["id"] == "post_arrest_bail_jump"]
    before, after, n_after = _bail_rates(synth_null_small.records, pattern["where"],
                                         pattern["from"])
    assert n_after >= 30  # the same station exists in the null data
    assert after < pattern["effect"]["rate_after"] / 2
