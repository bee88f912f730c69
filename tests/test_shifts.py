"""Sustained-shift signals (analysis.shifts) and rising charges (analysis.charge_trends).

The detectors see data only: no test hands them a planted window, unit or charge. Planted
truth (``synth_small.truth``) is read only to score what they found.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from casework.analysis import charge_trends, findings, shifts, signals
from casework.base.errors import ParameterError

MONTHS = pd.period_range("2023-01", periods=24, freq="M")


def _month_no(code: str) -> int:
    y, m = code.split("-")
    return int(y) * 12 + int(m)


def _arrest_rows(rng, *, units, months=MONTHS, per_month=40, rate=0.3, shift=None):
    """Arrest-review cases: ``shift`` = {(unit, department, station): (first month index,
    rate after)} moves one cell's 不捕率 from that month on."""
    rows = []
    for i, m in enumerate(months):
        for unit, name, depts, stations in units:
            for dept in depts:
                for station in stations:
                    p = rate
                    key = (unit, dept, station)
                    if shift and key in shift and i >= shift[key][0]:
                        p = shift[key][1]
                    for j in range(per_month):
                        rows.append({
                            "unit_code": unit, "unit_name": name, "department": dept,
                            "referring_agency": "江州市公安局" + name[:2] + "分局",
                            "police_station": station, "stage": "arrest_review",
                            "dept_case_no": f"{unit}-{dept}-{station}-{i}-{j}",
                            "person_id": f"P{unit}{i}{j}", "accepted_on": m.start_time,
                            "closed_on": m.start_time + pd.Timedelta(days=5),
                            "decision": "non_arrest" if rng.random() < p else "arrest_approved"})
    return pd.DataFrame(rows)


UNITS = [("930101", "甲县人民检察院", ["第一检察部", "第二检察部"], ["城关派出所", "新华派出所"]),
         ("930102", "乙县人民检察院", ["第一检察部", "第二检察部"], ["城关派出所", "新华派出所"]),
         ("930103", "丙县人民检察院", ["第一检察部", "第二检察部"], ["城关派出所", "新华派出所"])]


def _findings(sig):
    sel = findings.select(sig)
    return sel[sel["status"] == "finding"]


def test_one_station_jump_is_named_at_the_station_in_full():
    rng = np.random.default_rng(1)
    recs = _arrest_rows(rng, units=UNITS, per_month=12,
                        shift={("930102", "第一检察部", "新华派出所"): (16, 0.8),
                               ("930102", "第二检察部", "新华派出所"): (16, 0.8)})
    sig = shifts.scan(recs, period="2024-12", indicators=["non_arrest_rate"])
    signals.validate(sig)
    f = _findings(sig)
    assert f["entity_name"].tolist() == ["江州市公安局乙县分局新华派出所"]
    assert f["start_month"].iloc[0] == "2024-05"
    # its procuratorate moved with it: context, not a separate finding
    sel = findings.select(sig)
    assert "乙县人民检察院" in sel[sel["status"] == "context"]["entity_name"].tolist()


def test_unit_wide_shift_is_the_units_not_its_departments():
    rng = np.random.default_rng(2)
    shift = {("930103", d, s): (14, 0.6) for d in UNITS[2][2] for s in UNITS[2][3]}
    recs = _arrest_rows(rng, units=UNITS, per_month=10, shift=shift)
    f = _findings(shifts.scan(recs, period="2024-12", indicators=["non_arrest_rate"]))
    assert f["entity_name"].tolist() == ["丙县人民检察院"]
    assert f["start_month"].iloc[0] == "2024-03"


def test_departments_are_never_pooled_across_units():
    rng = np.random.default_rng(3)
    recs = _arrest_rows(rng, units=UNITS[:2], per_month=5)
    sig = shifts.scan(recs, period="2024-12", indicators=["non_arrest_rate"],
                      entity_types=["department"])
    assert sorted(sig["entity_id"]) == ["930101/第一检察部", "930101/第二检察部",
                                        "930102/第一检察部", "930102/第二检察部"]
    assert set(sig["entity_name"]) >= {"甲县人民检察院第一检察部", "乙县人民检察院第一检察部"}


def test_one_bad_month_is_not_a_shift():
    k = np.array([30] * 23 + [80], dtype=float)
    assert shifts.rate_shift(k, np.full(24, 100.0))["p_value"] == 1.0
    k2 = np.array([30] * 22 + [80, 30], dtype=float)
    assert shifts.rate_shift(k2, np.full(24, 100.0))["p_value"] == 1.0


def test_null_series_p_values_are_not_anticonservative():
    rng = np.random.default_rng(4)
    ps = []
    for _ in range(300):
        n = rng.integers(5, 80, 24).astype(float)
        k = rng.binomial(n.astype(int), 0.08).astype(float)
        ps.append(shifts.rate_shift(k, n)["p_value"])
    ps = np.array([p for p in ps if np.isfinite(p)])
    assert (ps < 0.05).mean() <= 0.05
    assert (ps < 0.2).mean() <= 0.2


def test_lagged_cohort_rates_stop_where_they_are_mature():
    rng = np.random.default_rng(5)
    recs = _arrest_rows(rng, units=UNITS[:2], per_month=5)
    from casework.model import journeys

    recs = recs.assign(arrested_on=recs["closed_on"].where(recs["decision"] == "arrest_approved"),
                       unified_case_no=recs["dept_case_no"])
    sig = shifts.scan(recs, period="2024-12", journeys=journeys.build(recs),
                      indicators=["post_arrest_bail_rate", "non_arrest_rate"],
                      entity_types=["all"], last_month="2024-12")
    last = dict(zip(sig["indicator"], sig["last_month"], strict=True))
    assert last == {"post_arrest_bail_rate": "2024-09", "non_arrest_rate": "2024-12"}


# --- rising charges --------------------------------------------------------------------------


def _charge_rows(rng, *, growth=None, words=None):
    """New cases of four charges over 36 months; ``growth`` = (charge, start index, rate)."""
    rows = []
    months = pd.period_range("2022-01", periods=36, freq="M")
    for i, m in enumerate(months):
        season = 1 + 0.2 * np.sin(2 * np.pi * i / 12)
        for charge, lam in (("盗窃", 80), ("危险驾驶", 150), ("诈骗", 40), ("故意伤害", 30)):
            mult = 1.0
            if growth and charge == growth[0] and i >= growth[1]:
                mult = (1 + growth[2]) ** (i - growth[1] + 0.5)
            for j in range(rng.poisson(lam * season * mult)):
                new = words and charge == growth[0] and i >= growth[1] and rng.random() < 0.3
                summary = ("嫌疑人利用" + words[j % len(words)] + "实施犯罪" if new
                           else "嫌疑人在街头实施犯罪")
                rows.append({"unit_code": "U1", "unified_case_no": f"{charge}{i}-{j}",
                             "dept_case_no": f"{charge}{i}-{j}", "charge": charge,
                             "accepted_on": m.start_time + pd.Timedelta(days=j % 27),
                             "case_summary": summary})
    return pd.DataFrame(rows)


def test_rising_charge_is_found_and_dated_by_its_new_words():
    rng = np.random.default_rng(6)
    # words that are not in any dictionary or planted list
    recs = _charge_rows(rng, growth=("诈骗", 25, 0.06), words=["蓝鲸盘", "影子号"])
    sig = charge_trends.scan(recs, period="2024-12")
    signals.validate(sig)
    f = _findings(sig)
    assert f["entity_name"].tolist() == ["诈骗"]
    assert abs(_month_no(f["start_month"].iloc[0]) - _month_no("2024-02")) <= 1
    assert "蓝鲸" in f["note"].iloc[0] or "影子" in f["note"].iloc[0]


def test_no_rising_charge_on_flat_data():
    rng = np.random.default_rng(7)
    sig = charge_trends.scan(_charge_rows(rng), period="2024-12")
    assert len(sig) == 4 and not len(_findings(sig))


def test_rising_charges_says_why():
    rng = np.random.default_rng(8)
    recs = _charge_rows(rng, growth=("故意伤害", 22, 0.07))
    out = charge_trends.rising_charges(recs, period="2024-Q4", frequent=2)
    assert out["charge"].tolist()[0] == "故意伤害" and out["rising"].iloc[0]
    assert set(out.loc[out["frequent"], "charge"]) == {"危险驾驶", "盗窃"}
    assert (out["cases"] > 0).all() and out["share"].between(0, 1).all()


def test_charge_scan_refuses_paths():
    with pytest.raises(ParameterError):
        charge_trends.first_acceptance("records.parquet")
