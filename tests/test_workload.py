"""casework.analysis.workload and days: weighted caseload, case-mix adjusted handling days,
CUSUM start month.

Expected numbers are worked out in the tests from the documented formulas (declared weights,
cell means of log(1 + days)), not read back from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from casework.analysis import workload
from casework.present import comparison_text, profile_text


def _case(pid, no, stage, procedure, charge, accepted, days, persons=1, detained=False,
          unit="930101"):
    acc = pd.Timestamp(accepted)
    names = {"A": "甲检", "B": "乙检", "C": "丙检"}
    return [{"unit_code": unit, "unit_name": "江州市示例区人民检察院", "department": "第一检察部",
             "stage": stage, "dept_case_no": no, "person_id": f"{no}-{i}",
             "prosecutor_id": pid, "prosecutor_name": names.get(pid, pid),
             "procedure": procedure, "charge": charge, "detained": detained,
             "accepted_on": acc, "closed_on": acc + pd.Timedelta(days=days)}
            for i in range(persons)]


def test_weighted_caseload_by_hand():
    rows = []
    rows += _case("A", "c1", "prosecution_review", "ordinary", "盗窃", "2024-03-01", 20, persons=3)
    rows += _case("A", "c2", "prosecution_review", "fast_track", "危险驾驶", "2024-03-01", 5)
    rows += _case("A", "c3", "prosecution_review", "summary", "非法吸收公众存款", "2024-03-01", 15)
    rows += _case("B", "c4", "arrest_review", pd.NA, "受贿", "2024-03-01", 6)
    rows += _case("B", "c5", "prosecution_review", pd.NA, "帮助信息网络犯罪活动", "2024-03-01",
                  30, persons=2)
    r = pd.DataFrame(rows)
    load = workload.caseload(r, period="2024-03").set_index("prosecutor_id")
    # c1: ordinary 1.0 × property 1.0 × (1 + 0.3·2) = 1.6; c2: fast-track 0.6; c3: summary 0.8 ×
    # economic 1.3 = 1.04  → A = 3.24.   c4: arrest review 0.5 × duty 1.5 = 0.75; c5: procedure
    # missing → 1.0 × cyber 1.2 × 1.3 = 1.56 → B = 2.31
    assert load.loc["A", "weighted_cases"] == pytest.approx(1.6 + 0.6 + 1.04)
    assert load.loc["B", "weighted_cases"] == pytest.approx(0.75 + 1.56)
    assert load.loc["A", "cases"] == 3 and load.loc["A", "persons"] == 5
    assert load.loc["B", "arrest_review_cases"] == 1
    assert load.loc["B", "prosecution_review_cases"] == 1
    assert load.loc["A", "weighted_vs_median"] == pytest.approx(3.24 / ((3.24 + 2.31) / 2))
    # user weights replace the declared ones
    mine = pd.DataFrame({"stage": ["prosecution_review", "arrest_review"],
                         "procedure": [pd.NA, pd.NA], "weight": [2.0, 1.0], "note": ["", ""]})
    flat = workload.caseload(r, period="2024-03", weights=mine, charge_factors=pd.DataFrame(
        columns=["charge_group", "factor", "note"]), extra_person=0.0).set_index("prosecutor_id")
    assert flat.loc["A", "weighted_cases"] == 6.0 and flat.loc["B", "weighted_cases"] == 3.0


def _days_fixture():
    """Cell a (盗窃, property) runs about 10 days, cell b (诈骗? no: 受贿, duty) about 30.
    A handles mostly the slow cell b at the cell's pace; B mostly cell a at its pace; C handles
    cell a but takes twice as long."""
    rows, n = [], 0
    pattern_a, pattern_b = [8, 10, 12], [25, 30, 35]

    def add(pid, charge, days_list, times):
        nonlocal n
        for _ in range(times):
            for d in days_list:
                n += 1
                rows.extend(_case(pid, f"k{n}", "prosecution_review", "ordinary", charge,
                                  f"2024-{1 + n % 10:02d}-01", d))

    add("A", "受贿", pattern_b, 10)
    add("A", "盗窃", pattern_a, 2)
    add("B", "盗窃", pattern_a, 10)
    add("B", "受贿", pattern_b, 2)
    add("C", "盗窃", [16, 20, 24], 6)
    return pd.DataFrame(rows)


def test_case_mix_adjusted_days_by_hand():
    r = _days_fixture()
    h = workload.handling_days(r, period="2024", min_n=5).set_index("prosecutor_id")
    la = [math.log1p(d) for d in [8, 10, 12]]
    lc = [math.log1p(d) for d in [16, 20, 24]]
    lb = [math.log1p(d) for d in [25, 30, 35]]
    cell_a = (sum(la) * (2 + 10) + sum(lc) * 6) / (3 * 18)
    cell_b = sum(lb) / 3
    # C: every case in cell a
    ratio_c = math.exp(sum(lc) / 3 - cell_a)
    assert h.loc["C", "value"] == pytest.approx(ratio_c)
    # A: 30 cases in b at b's own pace, 6 in a at the usual pace
    est_a = (10 * sum(x - cell_b for x in lb) + 2 * sum(x - cell_a for x in la)) / 36
    assert h.loc["A", "estimate"] == pytest.approx(est_a)
    # A's crude days are far above B's, but against its mix A is not slow; C is
    assert h.loc["A", "mean_days"] == pytest.approx(2 * h.loc["B", "mean_days"])  # 26.7 vs 13.3
    assert h.loc["A", "flag"] == ""
    assert h.loc["C", "flag"] == "alarm" and h.loc["C", "flag_direction"] == "high"
    # peer mean of raw days in cell a: (12 runs of 8+10+12, 6 runs of 16+20+24) / 54 cases
    assert h.loc["C", "expected_mean_days"] == pytest.approx((30 * 12 + 60 * 6) / 54)


def test_small_cells_borrow_the_parent_cell():
    r = _days_fixture()
    extra = pd.DataFrame(_case("B", "rare1", "prosecution_review", "ordinary", "放火",
                               "2024-05-01", 40))
    r = pd.concat([r, extra], ignore_index=True)
    cd = workload.case_days(r, period="2024", min_cell=10)
    rare = cd.loc[cd["dept_case_no"] == "rare1"].iloc[0]
    # 放火 (public_safety) has one case: it takes the stage × procedure mean of all cases
    assert rare["expected_log_days"] == pytest.approx(cd["log_days"].mean())


def test_negative_days_are_dropped_and_counted():
    r = _days_fixture()
    bad = pd.DataFrame(_case("B", "bad1", "prosecution_review", "ordinary", "盗窃", "2024-05-10",
                             -3))
    cd = workload.case_days(pd.concat([r, bad], ignore_index=True), period="2024")
    assert "bad1" not in set(cd["dept_case_no"])
    assert cd.attrs["dropped_negative"] == 1


def _stream(start_slow: int, total: int = 240, seed: int = 3):
    """One slow prosecutor (D) among four, cases closing one per few days; D's cases double
    in length from case number ``start_slow`` on."""
    rng = np.random.default_rng(seed)
    rows = []
    day0 = pd.Timestamp("2023-01-01")
    for pid in ("D", "E", "F", "G"):
        for i in range(total):
            acc = day0 + pd.Timedelta(days=int(i * 3))
            base = float(np.exp(rng.normal(np.log(15), 0.3)))
            days = base * (2.0 if (pid == "D" and i >= start_slow) else 1.0)
            rows.extend(_case(pid, f"{pid}{i}", "prosecution_review", "ordinary", "盗窃",
                              acc, int(round(days))))
    return pd.DataFrame(rows)


def test_cusum_dates_the_slowdown():
    r = _stream(start_slow=120)
    s = workload.handling_days_shift(r, stage="prosecution_review").set_index("prosecutor_id")
    assert bool(s.loc["D", "signal"])
    true_start = (pd.Timestamp("2023-01-01") + pd.Timedelta(days=120 * 3)).to_period("M")
    found = pd.Period(s.loc["D", "start_month"], freq="M")
    assert abs((found - true_start).n) <= 1
    assert s.loc["D", "ratio_since_start"] == pytest.approx(2.0, rel=0.15)
    assert not s.loc[["E", "F", "G"], "signal"].any()


def test_profiles_have_intervals_and_no_rank():
    r = _days_fixture()
    load = workload.caseload(r, period="2024")
    days = comparison_text.with_position(workload.days_by_stage(r, period="2024", min_n=5))
    no_quality = pd.DataFrame(columns=["prosecutor_id"])
    sections = profile_text.profile_sections(load, days, no_quality, records=r)
    text = profile_text.profile_pages(sections)
    assert "丙检" in text and "95%区间" in text
    assert "排名" not in text and "第1名" not in text
    assert len(sections) == 3
    c = sections.set_index("prosecutor_id").loc["C", "markdown"]
    assert "超出99.8%控制限" in c


def test_circulated_level_uses_pseudonyms():
    r = _days_fixture()
    days = comparison_text.with_position(comparison_text.at_level(
        workload.days_by_stage(r, period="2024", min_n=5), "circulated", records=r))
    assert not set(days["label"]) & {"甲检", "乙检", "丙检"}
    assert days["label"].str.startswith("检察官").all()
    load = workload.caseload(r, period="2024")
    ov = profile_text.overview(load, days, pd.DataFrame(), records=r, level="circulated")
    assert ov["label"].str.startswith("检察官").all()
    # the same prosecutor keeps one pseudonym across frames
    assert dict(zip(days["prosecutor_id"], days["label"])) == dict(zip(ov["prosecutor_id"],
                                                                       ov["label"]))
