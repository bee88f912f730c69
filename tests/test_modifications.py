"""Audit of historical data modifications on a hand-built change log, and on synthetic data."""

from __future__ import annotations

import pandas as pd
import pytest

from casework.analysis import findings as analysis_findings
from casework.analysis import modifications as mods
from casework.analysis import periods, quality_signals
from casework.base.errors import DataError, ParameterError
from casework.model import schema

RECORDS = schema.conform(pd.DataFrame({
    "unit_code": ["371329"] * 3,
    "dept_case_no": ["A", "B", "C"],
    "person_id": ["pA", "pB", "pC"],
    "stage": ["prosecution_review"] * 3,
    "department": ["第一检察部", "第二检察部", "第二检察部"],
    "accepted_on": ["2024-02-01", "2024-04-01", "2024-06-01"],
    "closed_on": ["2024-03-20", "2024-05-10", None],
}), "records")


def _row(case, field, old, new, account, at):
    return {"unit_code": "371329", "dept_case_no": case, "person_id": f"p{case}", "field": field,
            "old_value": old, "new_value": new, "account": account, "modified_at": at}


def _log():
    rows = [
        # A closed 2024-03-20, reported 2024-04-05
        # closed edit, post-report, reversal
        _row("A", "审结结论", "不起诉", "起诉", "u1", "2024-04-10 09:00"),
        _row("A", "gender", "male", "female", "u2", "2024-03-22 10:00"),     # nothing
        _row("A", "term_months", "10", "12", "u2", "2024-03-22 11:00"),  # within grace: nothing
        # B closed 2024-05-10, reported 2024-06-05
        _row("B", "罪名", "盗窃", "诈骗", "u2", "2024-06-06 15:00"),  # closed edit, post-report
        _row("B", "case_summary", "x", "y", "u1", "2024-06-05 20:00"),  # on cut-off day: nothing
        # C open: reversal only
        _row("C", "decision", "prosecute", "non_prosecution", "u1", "2024-07-01 09:00"),
    ]
    # routine work: u4 and u5 change 1-2 fields a day on open card C
    for day in range(1, 29):
        for acc, k in (("u4", 1 + day % 2), ("u5", 1 + (day + 1) % 2)):
            rows += [_row("C", "address", "a", "b", acc, f"2024-08-{day:02d} 10:{i:02d}")
                     for i in range(k)]
    # u3: two a day for ten days, then 30 on one day
    for day in range(1, 11):
        rows += [_row("C", "occupation", "工人", "农民", "u3", f"2024-09-{day:02d} 09:{i:02d}")
                 for i in range(2)]
    rows += [_row("C", "occupation", "工人", "农民", "u3", f"2024-09-20 10:{i:02d}")
             for i in range(30)]
    frame = pd.DataFrame(rows)
    frame["modified_at"] = pd.to_datetime(frame["modified_at"])
    return frame


def test_normalise_maps_labels_to_fields_and_codes():
    m = mods.normalise(_log())
    first = m.iloc[0]
    assert (first["field"], first["field_raw"], first["field_zh"]) == ("decision", "审结结论",
                                                                       "审结结论")
    assert (first["old_code"], first["new_code"]) == ("non_prosecution", "prosecute")
    charge = m[m["field_raw"] == "罪名"].iloc[0]
    assert charge["field"] == "charge" and charge["new_code"] == "诈骗"
    assert m["month"].iloc[0] == "2024-04"


def test_normalise_requires_the_log_columns():
    with pytest.raises(DataError, match="修改账号|account"):
        mods.normalise(_log().drop(columns=["account"]))


def test_change_counts_by_field_account_and_month():
    c = mods.change_counts(_log(), by=["account"], freq="month")
    got = c.set_index(["month", "account"])["changes"].to_dict()
    assert got[("2024-09", "u3")] == 50
    assert got[("2024-08", "u4")] == sum(1 + d % 2 for d in range(1, 29))
    assert got[("2024-04", "u1")] == 1
    f = mods.change_counts(_log(), by="field", freq="total").set_index("field")
    assert f.loc["decision", "changes"] == 2 and f.loc["decision", "cases"] == 2
    assert f.loc["decision", "field_zh"] == "审结结论"


def test_closed_case_edits_are_key_fields_changed_after_closing_beyond_the_grace():
    cc = mods.closed_case_edits(_log(), RECORDS)
    assert list(zip(cc["dept_case_no"], cc["field"], cc["days_after_close"])) == [
        ("A", "decision", 21), ("B", "charge", 27)]
    assert cc["department"].tolist() == ["第一检察部", "第二检察部"]
    # no grace: the term change two days after closing is flagged too
    cc0 = mods.closed_case_edits(_log(), RECORDS, grace_days=0)
    assert sorted(cc0["field"]) == ["charge", "decision", "term_months"]


def test_post_report_changes_follow_the_cutoff_day():
    pr = mods.post_report_changes(_log(), RECORDS)
    assert list(zip(pr["dept_case_no"], pr["field"])) == [("A", "decision"), ("B", "charge")]
    assert pr["reported_month"].tolist() == ["2024-03", "2024-05"]
    # a later cut-off (the 6th) keeps B's change of 2024-06-06 in the report
    pr6 = mods.post_report_changes(_log(), RECORDS, cutoff_day=6)
    assert pr6["dept_case_no"].tolist() == ["A"]
    with pytest.raises(ParameterError):
        mods.post_report_changes(_log(), RECORDS, cutoff_day=31)


def test_a_burst_is_found_against_own_and_peer_baselines():
    days, rows = mods.bursts(_log())
    assert days[["account", "changes"]].to_dict("records") == [{"account": "u3", "changes": 30}]
    assert days.iloc[0]["own_median"] == 2 and days.iloc[0]["date"] == pd.Timestamp("2024-09-20")
    assert len(rows) == 30 and set(rows["account"]) == {"u3"}
    # a higher floor than the burst: nothing
    assert mods.bursts(_log(), min_changes=31)[0].empty


def test_steady_heavy_work_is_not_a_burst():
    """An account that always changes 30 a day is busy, not bursting."""
    log = _log()
    steady = [_row("C", "address", "a", "b", "u9", f"2024-10-{d:02d} 10:{i:02d}")
              for d in range(1, 21) for i in range(30)]
    steady = pd.DataFrame(steady).assign(modified_at=lambda d: pd.to_datetime(d["modified_at"]))
    days, _ = mods.bursts(pd.concat([log, steady], ignore_index=True))
    assert "u9" not in set(days["account"])


def test_reversals_in_both_directions_and_for_judgments():
    rv = mods.reversals(_log())
    assert list(zip(rv["dept_case_no"], rv["direction"])) == [("A", "不起诉 → 起诉"),
                                                              ("C", "起诉 → 不起诉")]
    extra = pd.DataFrame([
        _row("A", "principal_penalty", "无罪", "有期徒刑", "u1", "2024-05-01"),
        _row("A", "principal_penalty", "拘役", "有期徒刑", "u1", "2024-05-01"),   # not a reversal
        _row("A", "decision", "批准逮捕", "不批准逮捕", "u1", "2024-05-01"),
    ])
    rv = mods.reversals(extra)
    assert rv["direction"].tolist() == ["无罪 → 有期徒刑", "批准逮捕 → 不批准逮捕"]


def test_audit_gathers_every_flag_with_the_rows_behind_it():
    flags = mods.audit(_log(), RECORDS)
    assert list(flags.columns) == list(mods.FLAG_COLUMNS)
    got = flags.groupby("flag")["dept_case_no"].apply(list).to_dict()
    assert got == {"closed_case_edit": ["A", "B"], "post_report_change": ["A", "B"],
                   "burst": ["C"] * 30, "reversal": ["A", "C"]}
    a = flags[(flags["flag"] == "post_report_change") & (flags["dept_case_no"] == "A")].iloc[0]
    assert a["detail"] == "2024年03月数据已于2024-04-05上报"
    assert flags.loc[flags["flag"] == "closed_case_edit", "detail"].tolist() == [
        "审结后第21日修改", "审结后第27日修改"]
    s = mods.flag_summary(flags)
    burst = s[s["flag"] == "burst"].iloc[0]
    assert (burst["account"], burst["changes"], burst["cases"]) == ("u3", 30, 1)


def test_a_clean_log_raises_no_flags():
    log = _log()
    quiet = log[(log["dept_case_no"] == "C") & (log["field"] == "address")]
    flags = mods.audit(quiet, RECORDS)
    assert flags.empty and list(flags.columns) == list(mods.FLAG_COLUMNS)


def test_a_change_without_person_takes_the_case_closing_date():
    recs = schema.conform(pd.DataFrame({
        "unit_code": ["1", "1"], "dept_case_no": ["D", "D"], "person_id": ["x", "y"],
        "stage": ["prosecution_review"] * 2,
        "accepted_on": ["2024-01-01"] * 2, "closed_on": ["2024-02-01", "2024-03-01"]}), "records")
    log = pd.DataFrame([{"unit_code": "1", "dept_case_no": "D", "person_id": None,
                         "field": "charge", "account": "u", "modified_at": "2024-02-20"},
                        {"unit_code": "1", "dept_case_no": "D", "person_id": None,
                         "field": "charge", "account": "u", "modified_at": "2024-03-20"}])
    cc = mods.closed_case_edits(log, recs)
    assert cc["modified_at"].dt.strftime("%m-%d").tolist() == ["03-20"]  # closed when y closed


def test_account_flags_single_out_the_account_with_many_closed_case_edits():
    recs = schema.conform(pd.DataFrame({
        "unit_code": "1", "dept_case_no": [f"K{i}" for i in range(400)],
        "person_id": "p", "stage": "prosecution_review", "accepted_on": "2024-01-01",
        "closed_on": "2024-02-01"}), "records")
    rows = []
    for a in range(8):  # eight accounts, 50 changes each, 2 of them after closing
        for i in range(50):
            when = "2024-03-15" if i < 2 else "2024-01-15"
            rows.append({"unit_code": "1", "dept_case_no": f"K{a * 50 + i}", "person_id": "p",
                         "field": "decision", "account": f"a{a}", "modified_at": when})
    for i in range(25):  # a7 edits 25 more closed cases
        rows.append({"unit_code": "1", "dept_case_no": f"K{350 + i}", "person_id": "p",
                     "field": "term_months", "account": "a7", "modified_at": "2024-04-01"})
    log = pd.DataFrame(rows)
    flags = mods.audit(log, recs)
    acc = mods.account_flags(flags, log)
    assert acc.loc[acc["flagged"], "account"].tolist() == ["a7"]
    a7 = acc.set_index("account").loc["a7"]
    assert (a7["numerator"], a7["denominator"]) == (27, 75)


# ---------------------------------------------------------------------------------------------
# synthetic data: the planted editor is found; nothing is found where nothing was planted
# ---------------------------------------------------------------------------------------------


def _pattern(truth, pid):
    found = [p for p in truth["patterns"] if p["id"] == pid]
    return found[0] if found else None


def test_the_planted_closed_case_editor_is_flagged(synth_small):
    planted = _pattern(synth_small.truth, "closed_case_editor")
    assert planted is not None
    flags = mods.audit(synth_small.modifications, synth_small.records)
    acc = mods.account_flags(flags, synth_small.modifications, flag="closed_case_edit")
    assert acc.loc[acc["flagged"], "account"].tolist() == [planted["where"]["account"]]
    top = acc.iloc[0]
    assert top["account"] == planted["where"]["account"]


def test_no_account_bursts_on_null_data(synth_null_small):
    days, rows = mods.bursts(synth_null_small.modifications)
    assert days.empty and rows.empty
    flags = mods.audit(synth_null_small.modifications, synth_null_small.records)
    acc = mods.account_flags(flags, synth_null_small.modifications, flag="closed_case_edit")
    assert not acc["flagged"].any()


# ---------------------------------------------------------------------------------------------
# account signals (issue 13): blind, with the reversals tied to the account
# ---------------------------------------------------------------------------------------------


def _account_findings(data):
    """The account detector at its defaults, for the last month of the data (never the truth)."""
    end = periods.last_data_month(data.records["accepted_on"]).code
    flags = mods.audit(data.modifications, data.records)
    sig = quality_signals.account_signals(flags, data.modifications, data.records, end=end)
    return analysis_findings.select(sig), flags


def test_account_signals_name_the_planted_editor_blind(synth_small):
    sel, flags = _account_findings(synth_small)
    fin = sel[sel["status"] == "finding"]
    planted = _pattern(synth_small.truth, "closed_case_editor")
    assert fin["entity_id"].tolist() == [planted["entity_id"]]
    assert fin["entity_name"].tolist() == [planted["entity_name"]]  # unit + account, in full
    gap = abs((pd.Period(fin["start_month"].iloc[0], "M") - pd.Period(planted["from"], "M")).n)
    assert gap <= 1
    # the signal counts the reversals the account made among its flagged changes
    row = fin.iloc[0]
    acc = planted["keys"]["account"]
    mine = flags[(flags["account"] == acc) & (flags["flag"] == "reversal")]
    assert row["reversals"] <= len(mine) and row["flagged"] > 0
    # every account with changes was tested
    assert sel["entity_type"].eq("account").all() and len(sel) > 20


def test_account_signals_find_nothing_on_null_data(synth_null_small):
    sel, _ = _account_findings(synth_null_small)
    assert not (sel["status"] == "finding").any()


def test_account_summary_ties_reversals_and_closed_case_edits_to_their_accounts():
    flags = mods.audit(_log(), RECORDS)
    summary = mods.account_summary(flags, _log()).set_index("account")
    # u1 reversed A's decision after closing and C's while open; u2 edited B after closing
    assert summary.loc["u1", "reversal"] == 2 and summary.loc["u1", "closed_case_edit"] == 1
    assert summary.loc["u2", "closed_case_edit"] == 1 and summary.loc["u2", "reversal"] == 0
    assert summary.loc["u4", ["closed_case_edit", "reversal"]].sum() == 0
    # accounts with flagged changes come first
    flagged = summary[["closed_case_edit", "reversal", "post_report_change", "burst"]].sum(axis=1)
    assert list(flagged.gt(0)) == sorted(flagged.gt(0), reverse=True)
