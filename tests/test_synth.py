"""casework.synth: determinism, schema conformance, realistic rates, planted patterns measured
directly from the generated frames (and absent from null data), exports read back."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from casework import synth
from casework.model import schema

TINY = dict(units=1, years=1, end="2024-06", persons=2500, seed=3)
KEY_FIELDS = ["decision", "closed_on", "charge", "term_months", "plea_leniency"]
#: Months before the end in which each pattern may start, and effect ranges (module docstring).
START_BACK = {"post_arrest_bail_jump": (8, 12), "slow_prosecutor": (6, 14),
              "rising_charge": (9, 14), "entry_error_run": (6, 11), "adoption_drop": (6, 12),
              "closed_case_editor": (6, 14)}
#: The supervision patterns (synth._supervision; their placement is tested in test_supervision).
SUPERVISION_BACK = {"supervision_gap": (11, 11), "correction_adoption_drop": (5, 11)}
TEMPLATES = {"post_arrest_bail", "prosecutor_profiles", "periodic_overview", "topic_recurring",
             "data_quality", "horizontal_comparison", "topic_sentencing", "supervision_gaps"}


def _pattern(data, pid):
    found = [p for p in data.truth["patterns"] if p["id"] == pid]
    assert len(found) == 1, f"{pid} not in truth"
    return found[0]


def _true(s):
    """Boolean mask treating NA as False."""
    return s.fillna(False).astype(bool)


def _month(s):
    return s.dt.to_period("M")


# ---------------------------------------------------------------------------------------------
# Determinism and API
# ---------------------------------------------------------------------------------------------


def test_same_seed_same_data_different_seed_different_data():
    a, b = synth.make(**TINY), synth.make(**TINY)
    pd.testing.assert_frame_equal(a.records, b.records)
    pd.testing.assert_frame_equal(a.modifications, b.modifications)
    assert a.truth == b.truth
    c = synth.make(**{**TINY, "seed": 4})
    assert not a.records["person_name"].head(50).equals(c.records["person_name"].head(50))


def test_persons_sets_the_size():
    small = synth.make(**{**TINY, "persons": 2000})
    large = synth.make(**{**TINY, "persons": 6000})
    assert 1500 < len(small.records) < 2600
    assert 4800 < len(large.records) < 7300


def test_large_units_are_simulated_in_batches(monkeypatch):
    monkeypatch.setattr(synth, "MAX_ROWS_PER_BATCH", 1500)
    d = synth.make(units=1, years=1, end="2024-06", persons=4500, seed=9)
    r = d.records
    assert 3500 < len(r) < 5500
    assert not r.duplicated(list(schema.RECORD_KEY)).any()
    # one stage case number per (stage, unified case), and serial numbers unique per year
    assert r.groupby(["stage", "unified_case_no"])["dept_case_no"].nunique().max() == 1
    assert r.groupby(["stage", "dept_case_no"])["unified_case_no"].nunique().max() == 1
    assert {p["id"] for p in d.truth["patterns"]} == {
        "post_arrest_bail_jump",
        "slow_prosecutor",
        "rising_charge",
        "entry_error_run",
        "adoption_drop",
        "closed_case_editor",
        "supervision_gap",
        "correction_adoption_drop",
    }
    # the same prosecutors serve every batch
    assert r["prosecutor_id"].nunique() < 30


def test_bad_parameters_raise_clear_errors():
    from casework.base.errors import ParameterError

    with pytest.raises(ParameterError, match="YYYY-MM"):
        synth.make(units=1, years=1, end="2024/06")
    with pytest.raises(ParameterError, match="units"):
        synth.make(units=0, years=1, end="2024-06")


def test_truth_manifest_shape(synth_small, synth_null_small):
    t = synth_small.truth
    assert t["start"] == "2022-01" and t["end"] == "2024-12" and t["null"] is False
    assert [u["unit_code"] for u in t["units"]] == sorted(
        synth_small.records["unit_code"].unique()
    )
    ids = {p["id"] for p in t["patterns"]}
    assert ids == {"post_arrest_bail_jump", "slow_prosecutor", "rising_charge", "entry_error_run",
                   "adoption_drop", "closed_case_editor", "supervision_gap",
                   "correction_adoption_drop"}
    end = pd.Period(t["end"], "M")
    for p in t["patterns"]:
        assert set(p) >= {"id", "type", "what_zh", "entity_type", "entity_id", "entity_name",
                          "keys", "where", "from", "to", "effect", "templates"}
        assert re.fullmatch(r"\d{4}-\d{2}", p["from"])
        lo, hi = {**START_BACK, **SUPERVISION_BACK}[p["id"]]
        assert lo <= (end - pd.Period(p["from"], "M")).n <= hi, p["id"]
        assert p["keys"].items() <= p["where"].items()
        assert p["templates"] and set(p["templates"]) <= set(TEMPLATES)
    assert synth_null_small.truth["patterns"] == [] and synth_null_small.truth["null"] is True
    json.dumps(t, ensure_ascii=False)  # serialisable


# ---------------------------------------------------------------------------------------------
# Placement moves with the seed; the truth names entities as the reports should
# ---------------------------------------------------------------------------------------------

PLACEMENT = dict(units=6, years=2, end="2024-12", persons=6000)
UNIT_BOUND = ["post_arrest_bail_jump", "slow_prosecutor", "entry_error_run", "adoption_drop",
              "closed_case_editor"]


@pytest.fixture(scope="module")
def eight_seeds():
    return {seed: synth.make(**PLACEMENT, seed=seed) for seed in range(8)}


def test_placement_moves_with_the_seed(eight_seeds):
    truths = [d.truth for d in eight_seeds.values()]

    def values(pid, get):
        return {get(_pattern_of(t, pid)) for t in truths}

    for pid in START_BACK:
        assert len(values(pid, lambda p: p["entity_name"])) >= 3, pid
        assert len(values(pid, lambda p: p["from"])) >= 3, pid
        assert len(values(pid, lambda p: json.dumps(p["effect"], sort_keys=True))) >= 3, pid
    for pid in UNIT_BOUND:
        assert len(values(pid, lambda p: p["keys"]["unit_code"])) >= 3, pid
    assert len(values("post_arrest_bail_jump", lambda p: p["keys"]["referring_agency"])) >= 3
    assert len(values("rising_charge", lambda p: p["keys"]["charge"])) >= 3
    assert len(values("slow_prosecutor", lambda p: p["keys"]["department"])) == 2
    assert len(values("closed_case_editor", lambda p: p["keys"]["account"][-3:])) >= 3
    for t in truths:  # five unit-bound patterns in five different units: no collisions
        assert len({_pattern_of(t, pid)["keys"]["unit_code"] for pid in UNIT_BOUND}) == 5


def test_same_seed_same_placement(eight_seeds):
    assert synth.make(**PLACEMENT, seed=3).truth == eight_seeds[3].truth
    null = synth.make(**PLACEMENT, seed=3, null=True).truth
    assert null["patterns"] == [] and null["units"] == eight_seeds[3].truth["units"]


def _pattern_of(truth, pid):
    [p] = [p for p in truth["patterns"] if p["id"] == pid]
    return p


def _entity_names(data):
    """Every full entity name of the data, per entity type, built from its own columns."""
    r, m = data.records, data.modifications
    units = dict(zip(r["unit_code"], r["unit_name"]))
    return {
        "station": set(r["referring_agency"] + r["police_station"]),
        "department": set(r["unit_name"] + r["department"]),
        "prosecutor": set(r["unit_name"] + r["department"] + "检察官" + r["prosecutor_name"]),
        "unit": set(r["unit_name"]),
        "charge": set(r["charge"]),
        "account": {units[u] + "账号" + a for u, a in zip(m["unit_code"], m["account"])},
    }


def test_truth_entity_names_exist_in_the_data(eight_seeds, synth_small):
    for data in [*eight_seeds.values(), synth_small]:
        names = _entity_names(data)
        r = data.records
        for p in data.truth["patterns"]:
            assert p["entity_name"] in names[p["entity_type"]], (p["id"], p["entity_name"])
            keys = p["keys"]
            rows = r
            for col, value in keys.items():
                if col != "account":
                    rows = rows[rows[col] == value]
            assert len(rows), (p["id"], keys)
            assert p["entity_id"].split("/")[-1] in {*map(str, keys.values()), p["entity_name"]}
        # the station is named with its bureau: the bare name alone is often ambiguous
        bail = _pattern_of(data.truth, "post_arrest_bail_jump")
        keys = bail["keys"]
        assert bail["entity_name"] == keys["referring_agency"] + keys["police_station"]


def test_null_data_have_no_planted_effect_anywhere(synth_null_small, synth_small):
    """Scans over every station, department, unit and account (not just where the truth says):
    nothing in the null data reaches the planted effect sizes."""
    for data, null in ((synth_null_small, True), (synth_small, False)):
        r, end = data.records, pd.Period(data.truth["end"], "M")
        a = r[(r["stage"] == "arrest_review") & (r["decision"] == "arrest_approved")
              & r["arrested_on"].notna()]
        m = _month(a["arrested_on"])
        a = a[(m >= end - 14) & (m <= end - 2)]
        bail = (a["measure_after_change"] == "bail").fillna(False)
        g = bail.groupby([a["referring_agency"], a["police_station"]]).agg(["mean", "size"])
        top_bail = g.loc[g["size"] >= 40, "mean"].max()
        closed = r["closed_on"].notna()
        e = pd.DataFrame({"u": r["unit_code"], "d": r["department"], "b": _broken(r),
                          "q": r["accepted_on"].dt.to_period("Q")})[closed]
        g = e.groupby(["u", "d", "q"])["b"].agg(["mean", "size"])
        top_err = g.loc[g["size"] >= 100, "mean"].max()
        j = r[r["judgment_on"].notna() & r["recommendation_adopted"].notna()]
        j = j[_month(j["judgment_on"]) > end - 6]
        low_adopt = _true(j["recommendation_adopted"]).groupby(j["unit_code"]).mean().min()
        mods = data.modifications
        x = mods[mods["field"].isin(KEY_FIELDS)].merge(
            r[["dept_case_no", "person_id", "closed_on"]], on=["dept_case_no", "person_id"])
        top_edits = x[x["modified_at"] > x["closed_on"]].groupby("account").size().max()
        if null:
            assert top_bail < 0.15 and top_err < 0.06 and low_adopt > 0.88 and top_edits <= 10
        else:  # the same scans see the planted patterns
            assert top_bail > 0.15 and top_err > 0.14 and low_adopt < 0.82 and top_edits >= 30


# ---------------------------------------------------------------------------------------------
# Schema conformance and identifiers
# ---------------------------------------------------------------------------------------------


def test_records_conform_to_schema(synth_small):
    r = synth_small.records
    assert list(r.columns) == schema.column_names("records")
    for col in schema.columns("records"):
        assert str(r[col.name].dtype) == schema.pandas_dtype(col), col.name
    for name in schema.required_columns("records"):
        assert r[name].notna().all(), name
    assert not r.duplicated(list(schema.RECORD_KEY)).any()
    for col in schema.columns("records"):
        if col.codes and col.codes != "charge":
            vals = set(r[col.name].dropna().unique())
            assert vals <= set(schema.CODE_TABLES[col.codes]), (
                col.name,
                vals - set(schema.CODE_TABLES[col.codes]),
            )
    assert set(r["charge"].unique()) <= set(schema.CHARGES)
    assert r["charge"].nunique() >= 30
    charges = r["charges"]
    assert all(
        isinstance(x, list) and x[0] == c
        for x, c in zip(charges.head(2000), r["charge"].head(2000))
    )
    m = synth_small.modifications
    assert list(m.columns) == schema.column_names("modifications")
    for name in schema.required_columns("modifications"):
        assert m[name].notna().all(), name
    assert set(m["field"].unique()) <= set(schema.column_names("records"))


def test_case_numbers_have_the_real_format(synth_small):
    r = synth_small.records
    pat = re.compile(r"^(.+)检(刑捕|刑诉|未捕|未起诉)受\[(\d{4})\](\d{6})(\d{6})号$")
    parts = r["dept_case_no"].str.extract(pat.pattern)
    assert parts.notna().all().all()
    assert (parts[3] == r["unit_code"]).all()
    ar = r["stage"] == "arrest_review"
    assert (
        parts.loc[ar, 1].isin(["刑捕", "未捕"]).all()
        and parts.loc[~ar, 1].isin(["刑诉", "未起诉"]).all()
    )
    uni = r["unified_case_no"]
    assert uni.str.fullmatch(r"\d{17}").all() and (uni.str[:6] == r["unit_code"]).all()
    # every unit has its own abbreviation, used in all its case numbers
    assert parts.groupby(r["unit_code"])[0].nunique().eq(1).all()


def test_id_numbers_valid_and_consistent(synth_small):
    r = synth_small.records.drop_duplicates("person_id").head(3000)
    ids = r["id_number"]
    assert ids.str.fullmatch(r"\d{17}[\dX]").all()
    w = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    for idn in ids.head(500):
        total = sum(int(ch) * wi for ch, wi in zip(idn[:17], w))
        assert "10X98765432"[total % 11] == idn[17]
    assert (ids.str[6:14] == r["birth_date"].dt.strftime("%Y%m%d")).all()
    male = ids.str[16].astype(int) % 2 == 1
    assert (male == (r["gender"] == "male")).all()
    assert not ids.str[:2].isin(["11", "31", "44", "42"]).any()  # fictional region codes


def test_stages_link_by_unified_case_no_and_person_id(synth_small):
    r = synth_small.records
    ar = r[r["stage"] == "arrest_review"]
    pr = r[r["stage"] == "prosecution_review"]
    both = ar.merge(pr, on=["unified_case_no", "person_id"], suffixes=("_a", "_p"))
    assert len(both) > 0.5 * len(ar)
    assert (both["accepted_on_p"] > both["accepted_on_a"]).all()
    for col in (
        "person_name",
        "id_number",
        "birth_date",
        "gender",
        "prosecutor_id",
        "police_station",
    ):
        assert (both[f"{col}_a"] == both[f"{col}_p"]).all(), col
    # only detained persons go through arrest review
    assert len(ar) < 0.6 * len(pr)
    # co-offending cases with several persons
    sizes = pr.groupby("dept_case_no").size()
    assert (sizes >= 3).sum() > 50
    assert _true(pr.loc[pr["dept_case_no"].isin(sizes[sizes >= 2].index), "co_offending"]).all()


def test_open_cases_only_near_the_end(synth_small):
    r = synth_small.records
    open_ = r[r["closed_on"].isna()]
    assert len(open_) > 0
    assert (open_["accepted_on"] >= pd.Timestamp("2024-09-01")).mean() > 0.9
    assert open_["decision"].isna().all() and open_["judgment_on"].isna().all()
    assert r["accepted_on"].between(pd.Timestamp("2022-01-01"), pd.Timestamp("2024-12-31")).all()


# ---------------------------------------------------------------------------------------------
# Realism: rates near the published ones (measured on the null data)
# ---------------------------------------------------------------------------------------------


def test_rates_near_published_figures(synth_null_small):
    r = synth_null_small.records
    ar = r[(r["stage"] == "arrest_review") & r["decision"].notna()]
    pr = r[(r["stage"] == "prosecution_review") & r["decision"].notna()]
    non_arrest = (ar["decision"] == "non_arrest").mean()
    assert 0.30 <= non_arrest <= 0.45
    assert (
        ar.loc[ar["decision"] == "non_arrest", "decision_subtype"].value_counts().index[0]
        == "no_necessity"
    )
    n_pros = (pr["decision"] == "prosecute").sum()
    n_np = (pr["decision"] == "non_prosecution").sum()
    assert 0.15 <= n_np / (n_pros + n_np) <= 0.27
    np_types = pr.loc[pr["decision"] == "non_prosecution", "decision_subtype"].value_counts(
        normalize=True
    )
    assert np_types.index[0] == "discretionary" and np_types["discretionary"] > 0.6
    assert set(np_types.index) == {
        "statutory",
        "discretionary",
        "insufficient_evidence",
        "conditional",
    }
    # 附条件不起诉 only for minors
    cond = pr[pr["decision_subtype"] == "conditional"]
    assert _true(cond["minor"]).all()
    assert 0.83 <= _true(pr["plea_leniency"]).mean() <= 0.94
    pros = pr[pr["decision"] == "prosecute"]
    recs = pros[pros["recommendation_type"].isin(["fixed", "range"])]
    assert (recs["recommendation_type"] == "fixed").mean() > 0.85
    judged = pros[pros["judgment_on"].notna() & pros["recommendation_adopted"].notna()]
    assert 0.92 <= _true(judged["recommendation_adopted"]).mean() <= 0.98
    j = pros[pros["judgment_on"].notna()]
    plea = _true(j["plea_leniency"])
    assert _true(j.loc[plea, "appeal"]).mean() < 0.06 < _true(j.loc[~plea, "appeal"]).mean()
    # handling days: arrest review within 7 days, prosecution review weeks
    ha = (ar["closed_on"] - ar["accepted_on"]).dt.days
    assert (ha.between(0, 7)).mean() > 0.97
    hp = (pr["closed_on"] - pr["accepted_on"]).dt.days
    assert 10 <= hp.median() <= 40
    with_sup = pr["supplementary_investigation"] > 0
    assert (hp[with_sup].median() > 2 * hp[~with_sup].median())
    cases = pr.groupby("dept_case_no")[["supplementary_investigation", "review_extension"]].max()
    assert 0.02 <= (cases["supplementary_investigation"] > 0).mean() <= 0.12
    assert 0.03 <= (cases["review_extension"] > 0).mean() <= 0.16
    # post-arrest change of measures: a few percent in the background
    appr = r[(r["stage"] == "arrest_review") & (r["decision"] == "arrest_approved")]
    assert 0.02 <= appr["measure_after_change"].notna().mean() <= 0.08


def test_charge_mix_and_sentencing(synth_null_small):
    r = synth_null_small.records
    pr = r[r["stage"] == "prosecution_review"]
    mix = pr["charge"].value_counts(normalize=True)
    assert list(mix.index[:3]) == ["危险驾驶", "盗窃", "帮助信息网络犯罪活动"]
    assert set(mix.index[:8]) >= {"诈骗", "开设赌场", "故意伤害", "掩饰、隐瞒犯罪所得"}
    assert 0.15 < mix["危险驾驶"] < 0.28
    j = pr[pr["judgment_on"].notna()]
    dd = j[j["charge"] == "危险驾驶"]
    assert (dd["principal_penalty"] == "criminal_detention").mean() > 0.9
    det = dd[dd["principal_penalty"] == "criminal_detention"]
    assert det["term_months"].between(1, 6).mean() > 0.98
    assert 0.3 < _true(det["probation"]).mean() < 0.65
    assert det["fine"].notna().mean() > 0.95
    theft = j[j["charge"] == "盗窃"]
    assert theft["amount_involved"].notna().all() and theft["amount_involved"].median() > 500
    assert j["principal_penalty"].isin(["fixed_term", "criminal_detention"]).mean() > 0.9
    # probation only for terms up to 3 years (apart from rare entry errors)
    prob = j[_true(j["probation"]) & (j["principal_penalty"] == "fixed_term")]
    assert (prob["term_months"] <= 36).mean() > 0.98
    assert (prob["probation_months"] >= prob["term_months"]).mean() > 0.98
    # a sizeable share of minors and the juvenile department
    assert 0.02 < _true(pr["minor"]).mean() < 0.08
    assert (pr.loc[_true(pr["minor"]), "department"] == "第四检察部").all()


def test_spring_festival_dip(synth_null_small):
    r = synth_null_small.records
    counts = _month(r["accepted_on"]).value_counts().sort_index()
    festival_months = [pd.Period(m, "M") for m in ("2022-02", "2023-01", "2024-02")]
    others = counts.drop(festival_months)
    for m in festival_months:
        assert counts[m] < 0.9 * others.median(), (m, counts[m], others.median())


def test_text_fields_are_realistic(synth_small):
    r = synth_small.records.head(5000)
    assert r["case_summary"].str.contains("犯罪嫌疑人").all()
    assert r["case_name"].str.endswith("案").all()
    assert r["referring_agency"].str.contains("公安").all()
    assert r["prosecutor_id"].str.fullmatch(r"\d{9}").all()
    assert r["department"].isin(["第一检察部", "第二检察部", "第三检察部", "第四检察部"]).all()
    assert r["offence_at"].dt.hour.nunique() > 12
    assert (r["offence_at"] < r["accepted_on"]).all()
    dd = r[r["charge"] == "危险驾驶"]
    assert dd["case_summary"].str.contains("mg/100ml").all()


def test_entry_errors_are_rare_in_the_background(synth_null_small):
    r = synth_null_small.records
    closed = r["closed_on"].notna()
    assert 0 < (closed & r["decision"].isna()).mean() < 0.01
    assert 0 < (r["closed_on"] < r["accepted_on"]).fillna(False).mean() < 0.01
    assert (synth_null_small.errors["planted"] == False).all()  # noqa: E712
    assert 0.005 < len(synth_null_small.errors) / len(r) < 0.04


def test_modification_log_is_ordinary_in_null_data(synth_null_small):
    m = synth_null_small.modifications
    r = synth_null_small.records
    assert (
        0.1
        < m.merge(r[["dept_case_no", "person_id"]])
        .drop_duplicates(["dept_case_no", "person_id"])
        .shape[0]
        / len(r)
        < 0.35
    )
    assert m["account"].nunique() > 20
    j = m.merge(r[["dept_case_no", "person_id", "closed_on"]], on=["dept_case_no", "person_id"])
    assert (j["modified_at"] <= j["closed_on"] + pd.Timedelta(days=1)).mean() > 0.85
    assert (m["old_value"] != m["new_value"]).all()


# ---------------------------------------------------------------------------------------------
# Planted patterns: present where planted, absent from the null data
# ---------------------------------------------------------------------------------------------


def _bail_shares(data, p):
    w, r = p["where"], data.records
    a = r[
        (r["stage"] == "arrest_review")
        & (r["unit_code"] == w["unit_code"])
        & (r["referring_agency"] == w["referring_agency"])
        & (r["police_station"] == w["police_station"])
        & (r["decision"] == "arrest_approved")
        & r["arrested_on"].notna()
    ]
    m = _month(a["arrested_on"])
    start, end = pd.Period(p["from"], "M"), pd.Period(data.truth["end"], "M")
    bail = (a["measure_after_change"] == "bail").fillna(False)
    first_two = (m >= start) & (m <= start + 1)
    return (
        bail[m < start].mean(),
        bail[(m >= start) & (m <= end - 2)].mean(),
        bail[first_two].mean(),
        first_two.sum(),
        (m >= start).sum() / ((end - start).n + 1),
    )


def test_post_arrest_bail_jump(synth_small, synth_null_small):
    p = _pattern(synth_small, "post_arrest_bail_jump")
    before, after, first_two, n_two, per_month = _bail_shares(synth_small, p)
    assert 0.25 <= p["effect"]["rate_after"] <= 0.40 and p["effect"]["rate_before"] < 0.06
    assert before < 0.09 and after > 0.18 and abs(after - p["effect"]["rate_after"]) < 0.1
    assert per_month >= 12 and n_two >= 24 and first_two > 0.12  # visible within two months
    n_before, n_after, *_ = _bail_shares(synth_null_small, p)
    assert n_after < 0.12 and abs(n_after - n_before) < 0.06


def _handling(data, w, since=None, before=None):
    r = data.records
    m = _month(r["accepted_on"])
    x = r[
        (r["stage"] == w["stage"])
        & (r["unit_code"] == w["unit_code"])
        & (r["department"] == w["department"])
        & r["closed_on"].notna()
        & (r["closed_on"] >= r["accepted_on"])
        & ((m >= pd.Period(since, "M")) if since else True)
        & ((m < pd.Period(before, "M")) if before else True)
    ]
    days = (x["closed_on"] - x["accepted_on"]).dt.days
    me = x["prosecutor_id"] == w["prosecutor_id"]
    return days[me].median() / days[~me].median(), x[me], x[~me]


def test_slow_prosecutor(synth_small, synth_null_small):
    p = _pattern(synth_small, "slow_prosecutor")
    assert 1.6 <= p["effect"]["handling_days_ratio"] <= 2.0
    ratio, mine, peers = _handling(synth_small, p["where"], p["from"])
    assert ratio > 1.4
    assert len(mine) > 60 and peers["prosecutor_id"].nunique() >= 2
    # not slow before the start month
    before, *_ = _handling(synth_small, p["where"], before=p["from"])
    assert 0.8 < before < 1.25
    assert mine["prosecutor_name"].eq(p["where"]["prosecutor_name"]).all()
    # same case mix as the peers
    for charge in ("危险驾驶", "盗窃"):
        assert abs((mine["charge"] == charge).mean() - (peers["charge"] == charge).mean()) < 0.1
    null_ratio, *_ = _handling(synth_null_small, p["where"], p["from"])
    assert 0.8 < null_ratio < 1.25


def _monthly_slope(data, charge, start):
    r = data.records
    m = _month(r.loc[r["charge"] == charge, "accepted_on"])
    start, end = pd.Period(start, "M"), pd.Period(data.truth["end"], "M")
    counts = m[(m >= start) & (m <= end)].value_counts().sort_index()
    t = np.array([(q - start).n for q in counts.index])
    return np.polyfit(t, np.log(counts.to_numpy(dtype=float)), 1)[0]


def test_rising_charge(synth_small, synth_null_small):
    p = _pattern(synth_small, "rising_charge")
    charge, kws = p["where"]["charge"], p["effect"]["keywords"]
    assert 3 <= len(kws) <= 5 and charge in schema.CHARGES
    growth = p["effect"]["monthly_growth"]
    assert 0.05 <= growth <= 0.08
    assert _monthly_slope(synth_small, charge, p["from"]) > 0.6 * np.log1p(growth)
    assert abs(_monthly_slope(synth_null_small, charge, p["from"])) < 0.03
    r = synth_small.records
    x = r[(r["charge"] == charge) & (_month(r["accepted_on"]) >= pd.Period(p["from"], "M"))]
    for kw in kws:
        assert x["case_summary"].str.contains(kw).sum() > 20, kw
    assert x["case_summary"].str.contains("|".join(kws)).mean() > 0.2
    nr = synth_null_small.records
    assert not nr["case_summary"].str.contains("|".join(kws)).any()


def _broken(r):
    closed = r["closed_on"].notna()
    fixed_adopted = (r["recommendation_type"] == "fixed") & _true(r["recommendation_adopted"])
    return ((closed & r["decision"].isna())
            | (r["closed_on"] < r["accepted_on"]).fillna(False)
            | (fixed_adopted & (r["term_months"] != r["recommended_term_months"])).fillna(False)
            | ((r["decision"] == "prosecute") & _true(r["plea_leniency"])
               & (r["recommendation_type"] == "none")).fillna(False))


def _error_shares(data, p):
    w, r = p["where"], data.records
    m = _month(r["accepted_on"])
    closed = r["closed_on"].notna()
    window = ((r["unit_code"] == w["unit_code"]) & (r["department"] == w["department"])
              & (m >= pd.Period(p["from"], "M")) & (m <= pd.Period(p["to"], "M")) & closed)
    broken = _broken(r)
    return broken[window].mean(), broken[closed & ~window].mean(), window.sum()


def test_entry_error_run(synth_small, synth_null_small):
    p = _pattern(synth_small, "entry_error_run")
    assert (pd.Period(p["to"], "M") - pd.Period(p["from"], "M")).n == 2  # three months
    assert set(p["effect"]["errors"]) == {
        "missing:decision",
        "closed_before_accepted",
        "adopted_but_term_differs",
        "plea_without_recommendation",
    }
    inside, outside, n = _error_shares(synth_small, p)
    assert 0.20 <= p["effect"]["error_rate"] <= 0.30
    assert n > 100 and 0.14 < inside < 0.4 and outside < 0.03
    null_inside, null_outside, _ = _error_shares(synth_null_small, p)
    assert null_inside < 0.05
    # the errors table agrees with the frame
    planted = synth_small.errors[synth_small.errors["planted"]]
    assert set(planted["kind"]) == set(p["effect"]["errors"])


def _adoption(data, p):
    r = data.records
    x = r[
        (r["unit_code"] == p["where"]["unit_code"])
        & r["judgment_on"].notna()
        & r["recommendation_adopted"].notna()
    ]
    after = _month(x["judgment_on"]) >= pd.Period(p["from"], "M")
    adopted = _true(x["recommendation_adopted"])
    return adopted[~after].mean(), adopted[after].mean(), after.sum()


def test_adoption_drop(synth_small, synth_null_small):
    p = _pattern(synth_small, "adoption_drop")
    before, after, n = _adoption(synth_small, p)
    assert 0.65 <= p["effect"]["rate_after"] <= 0.75
    assert n > 200 and before > 0.9 and after < 0.82
    n_before, n_after, _ = _adoption(synth_null_small, p)
    assert n_after > 0.9


def _closed_edits(data, account):
    m = data.modifications
    e = m[(m["account"] == account) & m["field"].isin(KEY_FIELDS)]
    j = e.merge(
        data.records[["dept_case_no", "person_id", "closed_on"]], on=["dept_case_no", "person_id"]
    )
    return j[j["modified_at"] > j["closed_on"]]


def test_closed_case_editor(synth_small, synth_null_small):
    p = _pattern(synth_small, "closed_case_editor")
    account = p["where"]["account"]
    edits = _closed_edits(synth_small, account)
    assert len(edits) >= 30 and len(edits) >= 0.8 * p["effect"]["edits"]
    assert set(edits["field"]) == set(p["effect"]["fields"])
    # most after the month's statistics were reported (5th of the following month)
    report = (edits["closed_on"].dt.to_period("M") + 1).dt.to_timestamp() + pd.Timedelta(days=5)
    assert (edits["modified_at"] > report).mean() > 0.5
    # some reverse an outcome
    dec = edits[edits["field"] == "decision"]
    pairs = set(zip(dec["old_value"], dec["new_value"]))
    assert pairs & {("non_arrest", "arrest_approved"), ("arrest_approved", "non_arrest"),
                    ("non_prosecution", "prosecute"), ("prosecute", "non_prosecution")}
    # the same account exists in the null data, doing ordinary work only
    assert account in set(synth_null_small.modifications["account"])
    assert len(_closed_edits(synth_null_small, account)) <= 5
    # no other account comes close
    m = synth_small.modifications
    others = m[(m["account"] != account) & m["field"].isin(KEY_FIELDS)]
    j = others.merge(synth_small.records[["dept_case_no", "person_id", "closed_on"]])
    per_account = j[j["modified_at"] > j["closed_on"]].groupby("account").size()
    assert per_account.max() < len(edits) / 3


def test_null_and_planted_share_everything_else(synth_small, synth_null_small):
    rising = _pattern(synth_small, "rising_charge")["where"]["charge"]
    cols = ["unit_code", "stage", "person_name", "id_number", "charge", "accepted_on", "gender"]
    a = synth_small.records
    b = synth_null_small.records
    a = a.loc[a["charge"] != rising, cols].reset_index(drop=True)
    b = b.loc[b["charge"] != rising, cols].reset_index(drop=True)
    pd.testing.assert_frame_equal(a, b)


# ---------------------------------------------------------------------------------------------
# Files: parquet, truth.json, exports
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth_out")
    summary = synth.generate(
        out, units=2, years=1, end="2024-06", persons=3000, seed=5, null=False
    )
    return out, summary


def test_generate_writes_canonical_files(generated):
    out, summary = generated
    rec = pd.read_parquet(out / "records.parquet")
    assert len(rec) == summary["records"]
    made = synth.make(units=2, years=1, end="2024-06", persons=3000, seed=5)
    pd.testing.assert_frame_equal(schema.conform(rec, "records").drop(columns="charges"),
                                  made.records.drop(columns="charges"), check_dtype=False)
    assert list(rec["charges"].head(100).map(list)) == list(made.records["charges"].head(100))
    truth = json.loads((out / "truth.json").read_text(encoding="utf-8"))
    assert truth == json.loads(json.dumps(made.truth))
    assert summary["rows_by_stage"]["arrest_review"] + summary["rows_by_stage"][
        "prosecution_review"
    ] == len(rec)


def test_exports_read_back_with_chinese_headers(generated):
    out, summary = generated
    exp = out / "exports"
    rec = pd.read_parquet(out / "records.parquet")
    for stage, name in (("arrest_review", "审查逮捕案件"), ("prosecution_review", "审查起诉案件")):
        df = pd.read_csv(exp / f"{name}.csv", encoding="gb18030", dtype=str)
        canon = rec[rec["stage"] == stage]
        assert len(df) == len(canon)
        assert (
            "受理日期" in df.columns and "部门受案号" in df.columns and "嫌疑人姓名" in df.columns
        )
        labels = [schema.column("records", c).label_zh for c in schema.column_names("records")]
        assert set(df.columns) <= set(labels)
        assert (df["办案环节"] == schema.label("stage", stage)).all()
        assert set(df["是否累犯"].dropna()) == {"是", "否"}
        assert df["性别"].isin(["男", "女"]).all()
        dates = df["受理日期"]
        assert dates.str.fullmatch(r"\d{4}-\d{2}-\d{2}").mean() > 0.7
        assert dates.str.fullmatch(r"\d{4}/\d{1,2}/\d{1,2}").any()
        assert dates.str.fullmatch(r"\d{4}年\d{1,2}月\d{1,2}日").any()
        assert (
            df["部门受案号"].str.contains("〔").any()
            and df["部门受案号"].str.contains(r"\[").any()
        )
        assert (
            pd.to_datetime(
                dates.str.replace("年", "-").str.replace("月", "-").str.replace("日", ""),
                format="mixed",
            ).to_numpy()
            == canon["accepted_on"].to_numpy()
        ).all()
    pr = pd.read_csv(exp / "审查起诉案件.csv", encoding="gb18030", dtype=str)
    assert pr["全部罪名"].str.contains("；").any()
    assert set(pr["审结结论"].dropna()) <= {v[0] for v in schema.CODE_TABLES["decision"].values()}
    assert "判决日期" in pr.columns and "逮捕日期" not in pr.columns
    mods = pd.read_csv(exp / "案卡修改日志.csv", encoding="gb18030", dtype=str)
    assert len(mods) == len(pd.read_parquet(out / "modifications.parquet"))
    assert {"部门受案号", "修改项", "修改前", "修改后", "修改账号", "修改时间"} <= set(
        mods.columns
    )


def test_xlsx_exports_match_csv(generated):
    out, _ = generated
    exp = out / "exports"
    csv = pd.read_csv(exp / "审查逮捕案件.csv", encoding="gb18030", dtype=str)
    xlsx = pd.read_excel(exp / "审查逮捕案件.xlsx", dtype=str)
    assert list(xlsx.columns) == list(csv.columns)
    assert len(xlsx) == len(csv)
    for col in ("部门受案号", "嫌疑人姓名", "受理日期", "案情摘要", "审结结论"):
        assert xlsx[col].fillna("").tolist() == csv[col].fillna("").tolist(), col


def test_describe_and_cli(generated, tmp_path):
    from click.testing import CliRunner

    from casework.run.cli import cli

    out, summary = generated
    text = synth.describe(summary)
    assert (
        f"{summary['records']:,} 行" in text and str(out) in text and "2023-07 至 2024-06" in text
    )
    res = CliRunner().invoke(
        cli,
        [
            "synth",
            "--out",
            str(tmp_path / "d"),
            "--units",
            "1",
            "--years",
            "1",
            "--end",
            "2024-06",
            "--persons",
            "1200",
            "--null",
            "--no-exports",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "对照数据" in res.output and (tmp_path / "d" / "records.parquet").exists()
    assert not (tmp_path / "d" / "exports").exists()
