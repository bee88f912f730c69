"""Each built-in case-card quality rule, one by one, on a hand-built fixture.

``CLEAN`` is eight hand-written case cards that satisfy every rule (arrest approved, not
approved, prosecuted with plea / fixed recommendation / suspended sentence, not prosecuted, a
juvenile case, an open case, a range recommendation with a changed measure, a short detention
sentence). ``BREAKS`` gives, for every built-in rule, the one change to one card that breaks
exactly that rule: the test asserts the rule fires once, on that card, and nothing else fires.
"""

from __future__ import annotations

import pandas as pd
import pytest

from casework.analysis import quality
from casework.model import schema

BASE = dict(
    unit_code="371329", unit_name="示例区人民检察院", department="第一检察部",
    prosecutor_id="G001", prosecutor_name="检察官甲", referring_agency="示例区公安分局",
    court="示例区人民法院",
    gender="male", age=30, birth_date="1994-01-01", ethnicity="汉族", education="junior_high",
    occupation="worker", household="local", minor=False, recidivist=False, prior_record=False,
    charge="盗窃", coercive_measure="detention", detained=True, offence_at="2023-12-20 22:00",
    supplementary_investigation=0, review_extension=0, amount_involved=3000.0,
)

CLEAN_ROWS = [
    # 0: arrest review, arrest approved
    dict(dept_case_no="示检刑捕受[2024]371329000001号", unified_case_no="U1", person_id="P0",
         case_name="甲某盗窃案", stage="arrest_review", case_type="arrest_review_case",
         accepted_on="2024-03-01", closed_on="2024-03-06", entered_at="2024-03-06 16:00",
         decision="arrest_approved", arrested_on="2024-03-06"),
    # 1: arrest review, not approved (no necessity)
    dict(dept_case_no="示检刑捕受[2024]371329000002号", unified_case_no="U2", person_id="P1",
         case_name="乙某盗窃案", stage="arrest_review", case_type="arrest_review_case",
         accepted_on="2024-03-01", closed_on="2024-03-07", entered_at="2024-03-08 09:00",
         decision="non_arrest", decision_subtype="no_necessity"),
    # 2: prosecuted, plea, fixed recommendation adopted, suspended fixed-term sentence
    dict(dept_case_no="示检刑诉受[2024]371329000003号", unified_case_no="U3", person_id="P2",
         case_name="丙某诈骗案", stage="prosecution_review",
         case_type="first_instance_prosecution", charge="诈骗",
         accepted_on="2024-03-10", closed_on="2024-04-20", entered_at="2024-06-12 10:00",
         decision="prosecute", procedure="summary", plea_leniency=True, surrender=True,
         circumstances_review="自首；坦白", recommendation_type="fixed",
         recommended_penalty="fixed_term", recommended_term_months=12.0,
         recommended_probation=True, judgment_on="2024-06-10",
         principal_penalty="fixed_term", term_months=12.0, probation=True,
         probation_months=24.0, fine=5000.0, recommendation_adopted=True,
         circumstances_judgment="坦白,自首", judgment_changed_circumstances=False),
    # 3: not prosecuted (discretionary), plea, no recommendation needed
    dict(dept_case_no="示检刑诉受[2024]371329000004号", unified_case_no="U4", person_id="P3",
         case_name="丁某盗窃案", stage="prosecution_review",
         case_type="first_instance_prosecution", coercive_measure="bail", detained=False,
         accepted_on="2024-03-10", closed_on="2024-04-20", entered_at="2024-04-21 10:00",
         decision="non_prosecution", decision_subtype="discretionary", plea_leniency=True,
         recommendation_type="none"),
    # 4: juvenile, prosecuted, detention with probation, fixed recommendation adopted
    dict(dept_case_no="示检未诉受[2024]371329000005号", unified_case_no="U5", person_id="P4",
         case_name="戊某抢夺案", stage="prosecution_review",
         case_type="juvenile_first_instance_prosecution", charge="抢夺", department="第五检察部",
         age=16, birth_date="2007-09-01", minor=True, occupation="student",
         coercive_measure="bail", detained=False,
         accepted_on="2024-03-10", closed_on="2024-04-01", entered_at="2024-05-03 11:00",
         decision="prosecute", procedure="summary", plea_leniency=True,
         recommendation_type="fixed", recommended_penalty="criminal_detention",
         recommended_term_months=4.0, recommended_probation=True, judgment_on="2024-04-30",
         principal_penalty="criminal_detention", term_months=4.0, probation=True,
         probation_months=6.0, recommendation_adopted=True),
    # 5: prosecution review still open
    dict(dept_case_no="示检刑诉受[2024]371329000006号", unified_case_no="U6", person_id="P5",
         case_name="己某危险驾驶案", stage="prosecution_review",
         case_type="first_instance_prosecution", charge="危险驾驶", coercive_measure="bail",
         detained=False, accepted_on="2024-06-01", entered_at="2024-06-02 09:00"),
    # 6: prosecuted, range recommendation not adopted, 管制; arrest later changed to bail
    dict(dept_case_no="示检刑诉受[2024]371329000007号", unified_case_no="U7", person_id="P6",
         case_name="庚某寻衅滋事案", stage="prosecution_review",
         case_type="first_instance_prosecution", charge="寻衅滋事", coercive_measure="arrest",
         arrested_on="2024-01-10", measure_changed_on="2024-02-01",
         measure_after_change="bail", accepted_on="2024-02-10", closed_on="2024-03-15",
         entered_at="2024-05-02 10:00", decision="prosecute", procedure="ordinary",
         plea_leniency=False, recommendation_type="range",
         recommended_penalty="public_surveillance", recommended_term_months=6.0,
         judgment_on="2024-04-28", principal_penalty="public_surveillance", term_months=6.0,
         probation=False, recommendation_adopted=False),
    # 7: prosecuted without plea or recommendation, short detention sentence
    dict(dept_case_no="示检刑诉受[2024]371329000008号", unified_case_no="U8", person_id="P7",
         case_name="辛某妨害公务案", stage="prosecution_review",
         case_type="first_instance_prosecution", charge="妨害公务",
         accepted_on="2024-02-10", closed_on="2024-03-15", entered_at="2024-04-22 10:00",
         decision="prosecute", procedure="fast_track", plea_leniency=False,
         recommendation_type="none", judgment_on="2024-04-20",
         principal_penalty="criminal_detention", term_months=3.0, probation=False),
]


def clean() -> pd.DataFrame:
    return schema.conform(pd.DataFrame([{**BASE, **row} for row in CLEAN_ROWS]), "records")


#: rule id (``id#variant`` for a second case) -> (row, changes) that break exactly that rule.
BREAKS = {
    # completeness
    "missing_case_type": (0, {"case_type": None}),
    "missing_department": (0, {"department": None}),
    "missing_prosecutor": (0, {"prosecutor_name": None}),
    "missing_person_basics": (0, {"gender": None}),
    "missing_juvenile_items": (4, {"household": None}),
    "missing_education": (0, {"education": None}),
    "arrest_without_date": (0, {"arrested_on": None}),
    "judgment_without_court": (2, {"court": None}),
    "closed_without_decision": (1, {"decision": None, "decision_subtype": None}),
    "decision_without_closed_on": (1, {"closed_on": None}),
    "missing_decision_subtype": (1, {"decision_subtype": None}),
    "missing_procedure": (2, {"procedure": None}),
    "missing_plea_leniency": (3, {"plea_leniency": None}),
    "missing_fixed_recommendation": (2, {"recommended_term_months": None}),
    "judgment_without_penalty": (6, {"principal_penalty": None}),
    "judgment_without_term": (6, {"term_months": None}),
    "probation_without_period": (2, {"probation_months": None}),
    "judgment_without_adoption": (2, {"recommendation_adopted": None}),
    # validity: codes
    "code_stage": (0, {"stage": "审查"}),
    "code_case_type": (0, {"case_type": "审逮"}),
    "code_gender": (0, {"gender": "M"}),
    "code_education": (0, {"education": "初級"}),
    "code_occupation": (0, {"occupation": "码农"}),
    "code_household": (0, {"household": "外省"}),
    "code_coercive_measure": (0, {"coercive_measure": "羁押"}),
    "code_decision": (0, {"decision": "批捕"}),
    "code_decision_subtype": (1, {"decision_subtype": "情节轻微"}),
    "code_procedure": (2, {"procedure": "速裁"}),
    "code_recommendation_type": (6, {"recommendation_type": "幅度"}),
    "code_recommended_penalty": (6, {"recommended_penalty": "管制刑"}),
    "code_principal_penalty": (6, {"principal_penalty": "管制刑"}),
    "code_measure_after_change": (6, {"measure_after_change": "取保"}),
    "code_charge": (0, {"charge": "偷东西"}),
    # validity: ranges, dates, legal limits
    "age_out_of_range": (0, {"age": 101}),
    "birth_after_acceptance": (4, {"birth_date": "2024-05-01"}),
    "date_before_1997": (0, {"accepted_on": "1996-03-01"}),
    "closed_after_entry": (1, {"entered_at": "2024-03-05 09:00"}),
    "surveillance_term_range": (6, {"term_months": 30.0}),
    "detention_term_range": (7, {"term_months": 8.0}),
    "fixed_term_range": (7, {"principal_penalty": "fixed_term", "term_months": 200.0}),
    "recommended_term_range": (6, {"recommended_term_months": 30.0}),
    "probation_penalty_type": (7, {"principal_penalty": "public_surveillance", "probation": True,
                                   "probation_months": 6.0}),
    "probation_term_over_3y": (7, {"principal_penalty": "fixed_term", "term_months": 48.0,
                                   "probation": True, "probation_months": 60.0}),
    "probation_period_detention": (4, {"probation_months": 13.0}),
    "probation_period_fixed_term": (2, {"probation_months": 6.0}),
    "negative_amount": (2, {"fine": -1.0}),
    "supplementary_investigation_count": (2, {"supplementary_investigation": 3}),
    "review_extension_count": (2, {"review_extension": 4}),
    # consistency
    "closed_before_accepted": (1, {"closed_on": "2024-02-28", "entered_at": "2024-03-01 10:00"}),
    "judgment_before_closed": (2, {"judgment_on": "2024-04-15", "entered_at": "2024-04-21 10:00"}),
    "judgment_not_prosecuted": (3, {"judgment_on": "2024-04-21",
                                    "principal_penalty": "exempted"}),
    "decision_stage_mismatch": (0, {"decision": "prosecute"}),
    "decision_subtype_mismatch": (1, {"decision_subtype": "discretionary"}),
    "adopted_but_differs": (2, {"term_months": 10.0}),
    "adopted_without_recommendation": (7, {"recommendation_adopted": True}),
    "plea_without_recommendation": (2, {"recommendation_type": "none",
                                        "recommendation_adopted": None}),
    "circumstances_changed_unmarked": (2, {"circumstances_judgment": "坦白"}),
    "probation_for_recidivist": (2, {"recidivist": True, "recommended_probation": False}),
    "recommended_probation_for_recidivist": (2, {"recidivist": True, "probation": False,
                                                 "probation_months": None}),
    "no_term_for_non_custodial_outcome": (7, {"principal_penalty": "exempted"}),
    "minor_age_mismatch": (0, {"minor": True}),
    "minor_age_mismatch#without dates": (0, {"age": 17, "offence_at": None}),
    "measure_changed_before_arrest": (6, {"measure_changed_on": "2024-01-01"}),
    # timeliness
    "late_entry_closed": (1, {"entered_at": "2024-03-17 09:00"}),
    "late_entry_judgment": (7, {"entered_at": "2024-05-10 09:00"}),
}


def broken(rule_id: str) -> tuple[pd.DataFrame, int]:
    row, changes = BREAKS[rule_id]
    rows = [{**BASE, **r} for r in CLEAN_ROWS]
    rows[row] = {**rows[row], **changes}
    frame = pd.DataFrame(rows)
    return schema.conform(frame, "records"), row


def test_the_clean_fixture_raises_nothing():
    found = quality.run_rules(clean())
    assert found.empty, found[["rule_id", "dept_case_no", "values"]].to_string()


def test_every_builtin_rule_has_a_breaking_fixture():
    assert {k.split("#")[0] for k in BREAKS} == {r.id for r in quality.load_rules()}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_each_rule_fires_once_on_the_broken_card_and_nothing_else_fires(case):
    rule_id = case.split("#")[0]
    data, row = broken(case)
    found = quality.run_rules(data)
    assert found["rule_id"].tolist() == [rule_id], found[["rule_id", "values"]].to_string()
    hit = found.iloc[0]
    assert hit["dept_case_no"] == data.loc[row, "dept_case_no"]
    assert hit["person_id"] == data.loc[row, "person_id"]
    rule = next(r for r in quality.load_rules() if r.id == rule_id)
    assert hit["severity"] == rule.severity and hit["message_zh"] == rule.message_zh
    # the offending values name every field the rule reads
    for f in rule.fields:
        assert schema.column("records", f).label_zh in hit["values"]


def test_the_rules_are_switchable_one_by_one_from_the_clean_fixture():
    """Sanity of the harness: disabling the broken rule silences the broken fixture."""
    data, _ = broken("adopted_but_differs")
    found = quality.run_rules(data, rules=[{"id": "adopted_but_differs", "enabled": False}])
    assert found.empty


def test_offending_values_are_shown_as_chinese_labels():
    data, _ = broken("code_decision_subtype")
    hit = quality.run_rules(data).iloc[0]
    assert hit["values"] == "不捕/不诉类型：情节轻微"
    data, _ = broken("adopted_but_differs")
    values = quality.run_rules(data).iloc[0]["values"]
    assert "建议主刑：有期徒刑" in values and "刑期（月）：10" in values
    assert "建议刑期（月）：12" in values and "量刑建议是否采纳：是" in values
