"""Narrative wording: direction words, units, noise, "—", and sentences from real panels."""

import pandas as pd
import pytest

from casework.analysis import monitor, panel
from casework.present import narrative


def _row(**kw):
    base = {"indicator": "x", "name_zh": "不捕率", "kind": "rate", "count_unit": "person",
            "direction": "range", "value": 0.381}
    base.update(kw)
    return base


@pytest.mark.parametrize("change, word", [(2.4, "同比上升2.4个百分点"),
                                          (-2.4, "同比下降2.4个百分点"),
                                          (0.04, "同比持平"), (-0.04, "同比持平")])
def test_rate_changes_in_percentage_points(change, word):
    r = _row(year_ago_change=change, year_ago_notable=True, year_ago_p_value=0.001)
    assert narrative.change_clause(r) == word


def test_count_changes_in_per_cent_with_units():
    r = _row(name_zh="受理审查起诉", kind="count", value=1234, year_ago_change=12.345,
             year_ago_notable=True, year_ago_p_value=1e-6)
    assert narrative.indicator_sentence(r) == "受理审查起诉1,234人，同比上升12.3%"
    r["count_unit"] = "case"
    assert narrative.value_clause(r) == "受理审查起诉1,234件"


def test_example_sentence_from_the_issue():
    rows = pd.DataFrame([
        _row(indicator="accepted_prosecution_review", name_zh="受理审查起诉", kind="count",
             value=1234, year_ago_change=12.3, year_ago_notable=True, year_ago_p_value=1e-4),
        _row(indicator="non_arrest_rate", value=0.381, year_ago_change=-2.4,
             year_ago_notable=True, year_ago_p_value=1e-3)])
    assert narrative.summary(rows, lead="1-5月共") == \
        "1-5月共受理审查起诉1,234人，同比上升12.3%；不捕率38.1%，同比下降2.4个百分点。"


def test_noise_is_not_called_a_rise():
    r = _row(year_ago_change=3.0, year_ago_notable=False, year_ago_p_value=0.31)
    text = narrative.change_clause(r)
    assert text == "同比基本持平（+3.0个百分点，在正常波动范围内）"
    assert "上升" not in text and "下降" not in text


def test_direction_aware_wording():
    up = dict(year_ago_change=3.1, year_ago_notable=True, year_ago_p_value=0.001)
    assert narrative.change_clause(_row(direction="lower_better", **up)).endswith("需关注")
    assert narrative.change_clause(_row(direction="higher_better", **up)).endswith("向好")
    assert narrative.change_clause(_row(direction="range", **up)) == "同比上升3.1个百分点"
    down = dict(year_ago_change=-1.5, year_ago_notable=True, year_ago_p_value=0.001)
    r = _row(name_zh="审查起诉平均办案天数", kind="mean", unit_zh="天", direction="lower_better",
             value=24.26, **down)
    assert narrative.indicator_sentence(r) == "审查起诉平均办案天数24.3天，同比下降1.5天，向好"


def test_dash_for_zero_denominators_and_missing_bases():
    r = _row(value=float("nan"), year_ago_change=float("nan"))
    assert narrative.indicator_sentence(r) == "不捕率—，同比—"
    assert narrative.fmt_change(None, kind="count") == "—"
    assert narrative.fmt_value(float("inf"), kind="rate") == "—"
    assert narrative.direction_word(float("nan")) == "—"


def test_untestable_changes_are_stated_plainly():
    r = _row(name_zh="案-件比", kind="ratio", value=1.19, year_ago_change=-0.04,
             year_ago_notable=False, year_ago_p_value=float("nan"))
    assert narrative.indicator_sentence(r) == "案-件比1:1.19，同比下降0.04"


def test_sentences_from_a_real_panel():
    from test_indicators import tiny_records

    out = panel.compute(tiny_records(), indicators=["accepted_arrest_review", "non_arrest_rate",
                                                    "withdrawal_rate"], by="unit_code",
                        period="2024-05")
    u1 = out[out["unit_code"] == "U1"]
    text = narrative.summary(u1, lead=narrative.lead("2024-05", scope_zh="U1"),
                             compare=("year_ago", "previous"))
    # U1: 4 accepted (P1-P4) vs 1 a year ago (P6) and 1 in April (P5): small numbers, so the
    # +300% is worded as noise; 不捕率 2 of 4 = 50.0%; 撤回起诉率 0 of 1 (P1) = 0.0%
    assert text.startswith("2024年5月，U1共受理审查逮捕4人，"
                           "同比基本持平（+300.0%，在正常波动范围内）")
    assert "不捕率50.0%" in text and "撤回起诉率0.0%" in text
    u2 = out[out["unit_code"] == "U2"]
    assert "撤回起诉率—" in narrative.summary(u2)  # U2 prosecuted nobody: zero denominator


def test_problems_and_prompts_from_flags():
    ch = pd.DataFrame({"police_station": "新华派出所", "indicator": "post_arrest_bail_rate",
                       "direction": "lower_better",
                       "month": ["2024-03", "2024-04", "2024-05"],
                       "flag": ["", "rule1", "cusum_up"],
                       "flag_since": [None, "2024-04", "2024-04"], "side": [0, 1, 1],
                       "value": [0.02, 0.3, 0.35]})
    fl = monitor.flags(ch)
    sentences = narrative.problems(fl, keys=["police_station"])
    assert sentences == ["新华派出所捕后取保候审率自2024年4月起偏高（2个月出现信号，"
                         "最近2024年5月为35.0%；超出控制限（3σ）；CUSUM 累积上移信号），需关注。"]
    p = narrative.prompts(fl, keys=["police_station"])
    assert p[0].startswith("新华派出所捕后取保候审率自2024年4月起偏高：") and "对策建议" in p[0]
    assert narrative.problems(fl.iloc[0:0]) == []


def test_problems_leave_out_favourable_moves_and_old_episodes():
    fl = pd.DataFrame([
        {"group": "一部", "indicator": "prosecution_review_days_mean", "flag_since": "2024-03",
         "last_month": "2024-05", "months_flagged": 3, "rules_zh": "超出控制限（3σ）", "side": -1,
         "adverse": False, "direction": "lower_better", "count_unit": "case", "last_value": 12.0},
        {"group": "二部", "indicator": "accepted_prosecution_review", "flag_since": "2024-04",
         "last_month": "2024-05", "months_flagged": 2, "rules_zh": "超出控制限（3σ）", "side": 1,
         "adverse": False, "direction": "range", "count_unit": "case", "last_value": 40},
        {"group": "三部", "indicator": "non_arrest_rate", "flag_since": "2023-01",
         "last_month": "2023-03", "months_flagged": 2, "rules_zh": "超出控制限（3σ）", "side": 1,
         "adverse": False, "direction": "range", "count_unit": "case", "last_value": 0.5}])
    out = narrative.problems(fl, keys=["group"], since="2024-04")
    assert out == ["二部受理审查起诉自2024年4月起偏高（2个月出现信号，最近2024年5月为40件；"
                   "超出控制限（3σ））。"]
    assert len(narrative.problems(fl, keys=["group"], favourable=True, since="2024-04")) == 2
    none = narrative.problems(fl, since="2025-01", empty=narrative.NO_PROBLEMS)
    assert none == [narrative.NO_PROBLEMS]
    assert narrative.prompts(fl, since="2024-04", empty="无") == ["无"]  # nothing adverse


def test_scope_and_limitations_are_computed():
    text = narrative.scope_text("2024-YTD05", scope_zh="江州市青山区人民检察院", count_unit="case")
    assert "2024年1-5月（2024-01-01至2024-05-31）" in text and "2023年1-5月" in text
    assert "按“件”" in text
    lines = narrative.overview_limitations("2024-Q2", months=36, alpha=0.01)
    assert any("36个月" in x for x in lines) and any("1%" in x for x in lines)
