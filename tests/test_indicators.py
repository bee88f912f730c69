"""Every registry indicator against values computed by hand on a tiny hand-built fixture.

The fixture (``tiny_records``) is small enough to count on paper; the expected numbers below
were worked out from the rows, not from the code. Period under test: 2024-05, with 2024-04
(环比) and 2023-05 (同比).
"""

import math

import numpy as np
import pandas as pd
import pytest
import yaml

from casework.analysis import indicators, panel
from casework.base.errors import ParameterError
from casework.model import journeys, schema

NaT = None


def _row(unit, stage, case, person, unified, accepted, closed, **kw):
    return dict(unit_code=unit, stage=stage, dept_case_no=case, person_id=person,
                unified_case_no=unified, accepted_on=accepted, closed_on=closed, charge="盗窃",
                **kw)


def tiny_records() -> pd.DataFrame:
    A, Q = "arrest_review", "prosecution_review"
    rows = [
        # --- unit U1, arrest review ------------------------------------------------------
        _row("U1", A, "A1", "P1", "T1", "2024-05-02", "2024-05-08", decision="arrest_approved",
             arrested_on="2024-05-08", department="第一检察部", police_station="城关派出所"),
        _row("U1", A, "A1", "P2", "T1", "2024-05-02", "2024-05-08", decision="non_arrest",
             decision_subtype="no_necessity", department="第一检察部",
             police_station="城关派出所"),
        _row("U1", A, "A2", "P3", "T2", "2024-05-20", "2024-05-27", decision="arrest_approved",
             arrested_on="2024-05-27", measure_changed_on="2024-06-15",
             measure_after_change="bail", department="第一检察部", police_station="新华派出所"),
        _row("U1", A, "A3", "P4", "T3", "2024-05-28", NaT, department="第一检察部",
             police_station="新华派出所"),
        _row("U1", A, "A4", "P5", "T4", "2024-04-25", "2024-05-03", decision="non_arrest",
             decision_subtype="insufficient_evidence_arrest", department="第二检察部",
             police_station="新华派出所"),
        _row("U1", A, "A5", "P6", "T5", "2023-05-10", "2023-05-15", decision="arrest_approved",
             arrested_on="2023-05-15", department="第二检察部", police_station="城关派出所"),
        # --- unit U1, prosecution review -------------------------------------------------
        _row("U1", Q, "Q1", "P1", "T1", "2024-05-10", "2024-05-30", decision="prosecute",
             coercive_measure="arrest", detained=True, plea_leniency=True,
             recommendation_type="fixed", review_extension=1, supplementary_investigation=0,
             judgment_on="2024-06-20", principal_penalty="fixed_term", department="第一检察部"),
        _row("U1", Q, "Q2", "P7", "T6", "2024-04-01", "2024-05-15", decision="non_prosecution",
             decision_subtype="discretionary", coercive_measure="bail", detained=False,
             plea_leniency=True, recommendation_type="none", review_extension=0,
             supplementary_investigation=2, department="第二检察部"),
        _row("U1", Q, "Q2", "P8", "T6", "2024-04-01", "2024-05-15", decision="prosecute",
             coercive_measure="bail", detained=False, plea_leniency=False,
             recommendation_type="range", review_extension=0, supplementary_investigation=2,
             judgment_on="2024-05-25", principal_penalty="fixed_term",
             recommendation_adopted=False, appeal=True, protest=False, withdrawal=False,
             department="第二检察部"),
        _row("U1", Q, "Q3", "P9", "T7", "2024-03-01", "2024-04-10", decision="prosecute",
             coercive_measure="bail", plea_leniency=True, recommendation_type="fixed",
             review_extension=0, supplementary_investigation=0, judgment_on="2024-05-05",
             principal_penalty="criminal_detention", recommendation_adopted=True, appeal=False,
             department="第二检察部"),
        _row("U1", Q, "Q4", "P10", "T8", "2024-05-25", NaT, coercive_measure="bail",
             department="第一检察部"),
        # --- unit U2 ----------------------------------------------------------------------
        _row("U2", A, "B1", "P11", "T9", "2024-05-05", "2024-05-10", decision="non_arrest",
             decision_subtype="no_necessity", department="第一检察部",
             police_station="东关派出所"),
        _row("U2", Q, "R1", "P12", "T10", "2024-05-03", "2024-05-20", decision="non_prosecution",
             decision_subtype="statutory", coercive_measure="none", plea_leniency=False,
             review_extension=0, supplementary_investigation=0, department="第一检察部"),
        # --- unit U3: only a year ago (an empty group in the current period) -------------------
        _row("U3", A, "C1", "P13", "T11", "2023-05-03", "2023-05-09", decision="non_arrest",
             decision_subtype="no_necessity", department="第一检察部",
             police_station="南关派出所"),
    ]
    df = pd.DataFrame(rows)
    return schema.conform(df, "records")


@pytest.fixture(scope="module")
def tiny():
    return tiny_records()


@pytest.fixture(scope="module")
def tiny_panel(tiny):
    return panel.compute(tiny, indicators="all", period="2024-05")


@pytest.fixture(scope="module")
def tiny_panel_case(tiny):
    return panel.compute(tiny, indicators="all", period="2024-05", count_unit="case")


# (numerator, denominator, value) by hand, persons, all units, 2024-05
EXPECTED_PERSON = {
    "accepted_arrest_review": (5, None, 5),            # P1 P2 P3 P4 P11
    "closed_arrest_review": (5, None, 5),              # P1 P2 P3 P5 P11
    "pending_arrest_review": (1, None, 1),             # P4
    "carried_over_arrest_review": (1, None, 1),        # P5 (accepted 04-25)
    "accepted_prosecution_review": (3, None, 3),       # P1 P10 P12
    "closed_prosecution_review": (4, None, 4),         # P1 P7 P8 P12
    "pending_prosecution_review": (1, None, 1),        # P10
    "carried_over_prosecution_review": (2, None, 2),   # P7 P8
    "arrests_approved": (2, None, 2),                  # P1 P3
    "non_arrests": (3, None, 3),                       # P2 P5 P11
    "prosecuted": (2, None, 2),                        # P1 P8
    "non_prosecuted": (2, None, 2),                    # P7 P12
    "judged": (2, None, 2),                            # P8 (05-25) P9 (05-05)
    "non_arrest_rate": (3, 5, 0.6),
    "non_arrest_rate_no_necessity": (2, 5, 0.4),
    "non_arrest_rate_insufficient_evidence": (1, 5, 0.2),
    "non_arrest_rate_not_criminal": (0, 5, 0.0),
    "post_arrest_bail_rate": (1, 2, 0.5),              # arrested in May: P1, P3 (bail)
    "post_arrest_measure_change_rate": (1, 2, 0.5),
    "non_prosecution_rate": (2, 4, 0.5),
    "non_prosecution_rate_statutory": (1, 4, 0.25),
    "non_prosecution_rate_discretionary": (1, 4, 0.25),
    "non_prosecution_rate_insufficient_evidence": (0, 4, 0.0),
    "non_prosecution_rate_conditional": (0, 4, 0.0),
    "prosecution_rate": (2, 4, 0.5),
    "post_arrest_non_prosecution_rate": (0, 1, 0.0),   # P1 arrested, prosecuted 05-30
    "pre_charge_detention_rate_a": (2, 4, 0.5),        # arrests approved ÷ (起诉+不诉)
    "pre_charge_detention_rate_b": (1, 2, 0.5),        # P1 detained of P1 P8 prosecuted
    "plea_leniency_rate": (2, 4, 0.5),                 # P1 P7
    "fixed_recommendation_rate": (1, 2, 0.5),          # P1 fixed, P8 range
    "recommendation_adoption_rate": (1, 2, 0.5),       # judged: P9 adopted, P8 not
    "review_extension_rate": (1, 4, 0.25),             # persons: P1 of 4 closed
    "withdrawal_rate": (0, 2, 0.0),
    "acquittal_rate": (0, 2, 0.0),
    "appeal_rate": (1, 2, 0.5),                        # P8
    "judgment_acceptance_rate": (1, 2, 0.5),           # P9
    "post_arrest_exemption_rate": (0, 0, np.nan),      # no arrested person judged in May
    "arrest_review_days_mean": (32, 5, 6.4),           # 6 6 7 8 5
    "arrest_review_days_median": (None, 5, 6.0),
    "prosecution_review_days_mean": (125, 4, 31.25),   # 20 44 44 17
    "prosecution_review_days_median": (None, 4, 32.0),
    "closure_rate_arrest_review": (5, 6, 5 / 6),       # active: P1 P2 P3 P4 P5 P11
    "closure_rate_prosecution_review": (4, 5, 0.8),    # active: P1 P7 P8 P10 P12
    # 案-件比 (件 only): 案 = A1 A2 A3 B1 + Q4 R1 (Q1 was arrested) = 6
    "case_count": (6, None, 6),
    "review_extension_count": (1, None, 1),            # Q1 closed in May
    "supplementary_investigation_count": (2, None, 2),  # Q2: 2 (case-level, counted once)
    "appeal_count": (1, None, 1),                      # Q2 judged 05-25
    "proceeding_count": (10, None, 10),
    "case_proceeding_ratio": (10, 6, 10 / 6),
    "supplementary_investigation_rate": (2, 3, 2 / 3),  # 件: Q1 Q2 R1 closed in May
}

# 件 (distinct dept_case_no) where it differs from persons
EXPECTED_CASE = {
    "accepted_arrest_review": (4, None, 4),            # A1 A2 A3 B1
    "closed_arrest_review": (4, None, 4),              # A1 A2 A4 B1
    "closed_prosecution_review": (3, None, 3),         # Q1 Q2 R1
    "non_arrest_rate": (3, 4, 0.75),                   # A1 (P2), A4, B1 of A1 A2 A4 B1
    "review_extension_rate": (1, 3, 1 / 3),
    "non_prosecution_rate": (2, 3, 2 / 3),             # Q2 (P7), R1 of Q1 Q2 R1
    "arrest_review_days_mean": (26, 4, 6.5),           # A1 6, A2 7, A4 8, B1 5
    "arrest_review_days_median": (None, 4, 6.5),
}


def _check(row, expected):
    num, den, val = expected
    if num is None:
        assert math.isnan(row["numerator"])
    else:
        assert row["numerator"] == pytest.approx(num)
    if den is None:
        assert math.isnan(row["denominator"])
    else:
        assert row["denominator"] == pytest.approx(den)
    if isinstance(val, float) and math.isnan(val):
        assert math.isnan(row["value"])
    else:
        assert row["value"] == pytest.approx(val)


def test_every_registry_indicator_has_a_hand_value():
    assert set(EXPECTED_PERSON) == set(indicators.registry())


@pytest.mark.parametrize("code", sorted(EXPECTED_PERSON))
def test_indicator_person(tiny_panel, code):
    row = tiny_panel.set_index("indicator").loc[code]
    _check(row, EXPECTED_PERSON[code])


@pytest.mark.parametrize("code", sorted(EXPECTED_CASE))
def test_indicator_case(tiny_panel_case, code):
    row = tiny_panel_case.set_index("indicator").loc[code]
    assert row["count_unit"] == "case"
    _check(row, EXPECTED_CASE[code])


def test_case_only_indicators_fall_back_to_their_unit(tiny_panel):
    rows = tiny_panel.set_index("indicator")
    for code in ("case_count", "supplementary_investigation_rate", "case_proceeding_ratio"):
        assert rows.loc[code, "count_unit"] == "case"
    assert rows.loc["non_arrest_rate", "count_unit"] == "person"


def test_year_ago_and_previous_hand_values(tiny_panel):
    rows = tiny_panel.set_index("indicator")
    # 2023-05: arrest reviews P6 (approved) and P13 (U3, not approved)
    r = rows.loc["accepted_arrest_review"]
    assert r["year_ago_value"] == 2 and r["year_ago_change"] == pytest.approx(150.0)
    assert r["previous_value"] == 1 and r["previous_change"] == pytest.approx(400.0)  # P5
    r = rows.loc["non_arrest_rate"]
    assert r["year_ago_value"] == pytest.approx(0.5)
    assert r["year_ago_change"] == pytest.approx(10.0)  # 60% − 50% = 10 个百分点
    assert math.isnan(r["previous_value"])  # nothing closed in April
    assert math.isnan(r["previous_change"])
    r = rows.loc["accepted_prosecution_review"]
    assert r["previous_value"] == 2 and r["previous_change"] == pytest.approx(50.0)  # P7 P8
    r = rows.loc["post_arrest_bail_rate"]
    assert r["year_ago_value"] == 0.0 and r["year_ago_denominator"] == 1  # P6
    assert r["year_ago_change"] == pytest.approx(50.0)
    assert rows.loc["non_arrest_rate", "change_unit"] == "pp"
    assert rows.loc["accepted_arrest_review", "change_unit"] == "pct"


def test_empty_group_and_zero_denominators(tiny):
    out = panel.compute(tiny, indicators=["accepted_arrest_review", "non_arrest_rate",
                                          "withdrawal_rate", "arrest_review_days_mean",
                                          "case_proceeding_ratio"],
                        by="unit_code", period="2024-05")
    u3 = out[out["unit_code"] == "U3"].set_index("indicator")
    # U3 exists only a year ago: present, counts 0, rates NaN, no inf, no error
    assert u3.loc["accepted_arrest_review", "value"] == 0
    assert u3.loc["accepted_arrest_review", "year_ago_value"] == 1
    assert math.isnan(u3.loc["accepted_arrest_review", "year_ago_change"]) is False
    assert u3.loc["accepted_arrest_review", "year_ago_change"] == pytest.approx(-100.0)
    assert math.isnan(u3.loc["non_arrest_rate", "value"])
    assert math.isnan(u3.loc["non_arrest_rate", "value_ci_lower"])
    assert u3.loc["non_arrest_rate", "year_ago_value"] == 1.0
    assert math.isnan(u3.loc["non_arrest_rate", "year_ago_change"])
    assert math.isnan(u3.loc["arrest_review_days_mean", "value"])
    assert math.isnan(u3.loc["case_proceeding_ratio", "value"])
    u2 = out[out["unit_code"] == "U2"].set_index("indicator")
    assert u2.loc["withdrawal_rate", "denominator"] == 0  # no one prosecuted in U2
    assert math.isnan(u2.loc["withdrawal_rate", "value"])
    numeric = out.select_dtypes("number").to_numpy(dtype=float)
    assert not np.isinf(numeric).any()
    # per-unit numerators add up to the total
    tot = panel.compute(tiny, indicators="non_arrest_rate", period="2024-05")
    sub = out[out["indicator"] == "non_arrest_rate"]
    assert sub["numerator"].sum() == tot["numerator"].iloc[0]
    assert sub["denominator"].sum() == tot["denominator"].iloc[0]


def test_journey_keys_come_from_the_stage_record(tiny):
    # department is not a journeys column: taken from the arrest-review card for 捕后 indicators
    out = panel.compute(tiny, indicators="post_arrest_bail_rate", by="department",
                        period="2024-05")
    got = out.set_index("department")[["numerator", "denominator"]]
    assert got.loc["第一检察部"].tolist() == [1, 2]  # P1, P3 (bail)
    out = panel.compute(tiny, indicators="post_arrest_bail_rate", by="police_station",
                        period="2024-05")
    got = out.set_index("police_station")[["numerator", "denominator"]]
    assert got.loc["新华派出所"].tolist() == [1, 1]
    assert got.loc["城关派出所"].tolist() == [0, 1]


def test_journeys_passed_or_built_give_the_same(tiny):
    built = panel.compute(tiny, indicators="arrest", period="2024-05")
    given = panel.compute(tiny, indicators="arrest", period="2024-05",
                          journeys=journeys.build(tiny))
    pd.testing.assert_frame_equal(built, given)


def test_intervals():
    from casework.analysis.stats import wilson_interval

    recs = tiny_records()
    row = panel.compute(recs, indicators="non_arrest_rate", period="2024-05").iloc[0]
    lo, hi = wilson_interval(3, 5)
    assert row["value_ci_lower"] == pytest.approx(float(lo))
    assert row["value_ci_upper"] == pytest.approx(float(hi))
    # counts: exact Poisson (Garwood) interval; 5 events → [1.6235, 11.6683]
    row = panel.compute(recs, indicators="accepted_arrest_review", period="2024-05").iloc[0]
    assert row["value_ci_lower"] == pytest.approx(1.6235, abs=1e-3)
    assert row["value_ci_upper"] == pytest.approx(11.6683, abs=1e-3)
    # means: normal interval from the sample sd (6 6 7 8 5 → sd 1.1402)
    row = panel.compute(recs, indicators="arrest_review_days_mean", period="2024-05").iloc[0]
    half = 1.959964 * 1.140175 / math.sqrt(5)
    assert row["value_ci_lower"] == pytest.approx(6.4 - half, abs=1e-4)
    assert row["value_ci_upper"] == pytest.approx(6.4 + half, abs=1e-4)


# --- the registry -------------------------------------------------------------------------


def test_registry_entries_are_complete():
    reg = indicators.registry()
    assert len(reg) >= 45
    for code, ind in reg.items():
        assert code == ind.code and code.isascii() and code == code.lower()
        assert ind.name_zh and ind.name_en and ind.source, code
        assert ind.caveats, code
        assert ind.direction in indicators.DIRECTIONS
        assert all(u in indicators.COUNT_UNITS for u in ind.count_units)
    # both published 诉前羁押率 definitions, each labelled
    assert "口径A" in reg["pre_charge_detention_rate_a"].name_zh
    assert "口径B" in reg["pre_charge_detention_rate_b"].name_zh
    assert reg["post_arrest_non_prosecution_rate"].cohort == "prosecution_closed"
    assert reg["post_arrest_bail_rate"].cohort == "arrested"
    assert reg["closure_rate_prosecution_review"].denominator_cohort == "active"


def test_dictionary_table():
    d = indicators.dictionary()
    assert list(d.columns) == ["indicator", "name_zh", "name_en", "group_zh", "kind", "cohort_zh",
                               "count_unit", "numerator", "denominator", "direction_zh", "source",
                               "caveats"]
    assert len(d) == len(indicators.registry())
    row = d.set_index("indicator").loc["case_proceeding_ratio"]
    assert "案（案-件比分母）" in row["denominator"]


def _write(tmp_path, entries, name="mine.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"indicators": entries}, allow_unicode=True), encoding="utf-8")
    return path


def test_user_indicator_from_yaml_without_code(tmp_path, tiny, monkeypatch):
    path = _write(tmp_path, [{
        "code": "minor_share", "name_zh": "未成年人占比", "kind": "rate", "table": "records",
        "cohort": "accepted", "where": "stage = 'arrest_review'",
        "numerator": "person_id IN ('P1', 'P3')", "denominator": "TRUE",
        "direction": "range", "ci": "wilson", "source": "local", "caveats": "测试"}])
    reg = indicators.registry(extra=path)
    assert "minor_share" in reg and "non_arrest_rate" in reg
    out = panel.compute(tiny, indicators="minor_share", period="2024-05", extra=path)
    assert out.iloc[0][["numerator", "denominator"]].tolist() == [2, 5]
    # the same file named in the environment
    monkeypatch.setenv(indicators.ENV_VAR, str(path))
    assert "minor_share" in indicators.registry()
    monkeypatch.delenv(indicators.ENV_VAR)
    assert "minor_share" not in indicators.registry()


def test_user_file_overrides_a_builtin(tmp_path, tiny):
    path = _write(tmp_path, [{
        "code": "non_arrest_rate", "name_zh": "不捕率（含其他结论）", "kind": "rate",
        "table": "records", "cohort": "closed", "where": "stage = 'arrest_review'",
        "numerator": "decision = 'non_arrest'", "denominator": "TRUE", "ci": "wilson"}])
    out = panel.compute(tiny, indicators="non_arrest_rate", period="2024-05", extra=path)
    assert out.iloc[0]["name_zh"] == "不捕率（含其他结论）"
    assert out.iloc[0][["numerator", "denominator"]].tolist() == [3, 5]


@pytest.mark.parametrize("entry, needle", [
    ({"code": "x", "name_zh": "x", "kind": "rate", "table": "records", "cohort": "closed",
      "numerator": "TRUE", "denominator": "TRUE", "colour": "red"}, "colour"),
    ({"code": "x", "name_zh": "x", "kind": "share", "table": "records", "cohort": "closed",
      "numerator": "TRUE"}, "kind"),
    ({"code": "x", "name_zh": "x", "kind": "count", "table": "records", "cohort": "filed",
      "numerator": "TRUE"}, "filed"),
    ({"code": "x", "name_zh": "x", "kind": "rate", "table": "records", "cohort": "closed",
      "numerator": "TRUE"}, "denominator"),
    ({"code": "x", "name_zh": "x", "kind": "count", "table": "records", "cohort": "closed",
      "numerator": {"sum_of": ["nope"]}}, "nope"),
    ({"code": "x", "name_zh": "x", "kind": "mean", "table": "records", "cohort": "closed"},
     "value"),
])
def test_bad_user_entries_are_explained(tmp_path, entry, needle):
    path = _write(tmp_path, [entry], name="bad.yaml")
    with pytest.raises(ParameterError) as err:
        indicators.registry(extra=path)
    assert needle in str(err.value)


def test_unknown_indicator_and_missing_file(tmp_path):
    with pytest.raises(ParameterError, match="未知指标"):
        indicators.get("nonsense")
    with pytest.raises(ParameterError, match="不存在"):
        indicators.registry(extra=tmp_path / "missing.yaml")


def test_bad_sql_in_user_indicator_is_a_clear_error(tmp_path, tiny):
    path = _write(tmp_path, [{"code": "oops", "name_zh": "错", "kind": "count", "table": "records",
                              "cohort": "closed", "numerator": "no_such_column = 1"}])
    with pytest.raises(ParameterError, match="DuckDB"):
        panel.compute(tiny, indicators="oops", period="2024-05", extra=path)
