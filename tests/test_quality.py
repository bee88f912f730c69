"""The quality rule engine around the rules: user rule files, errors, outputs, `casework check`,
and the planted entry-error run on synthetic data."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml
from test_quality_rules import broken, clean

from casework.analysis import findings as analysis_findings
from casework.analysis import periods, quality, quality_signals
from casework.base.errors import ParameterError
from casework.model import schema
from casework.present import quality_text

# ---------------------------------------------------------------------------------------------
# user rules: add, override by id, disable
# ---------------------------------------------------------------------------------------------


def _write(path, rules):
    path.write_text(yaml.safe_dump({"rules": rules}, allow_unicode=True), encoding="utf-8")
    return path


def test_a_user_file_adds_a_rule_that_fires_on_the_right_card(tmp_path):
    path = _write(tmp_path / "mine.yaml", [{
        "id": "fraud_without_amount", "kind": "completeness", "severity": "warning",
        "message_zh": "诈骗案件未填录涉案金额", "fields": ["charge", "amount_involved"],
        "when": "charge = '诈骗'", "required": ["amount_involved"]}])
    data = clean()
    data.loc[2, "amount_involved"] = pd.NA  # row 2 is the only 诈骗 card
    data.loc[0, "amount_involved"] = pd.NA  # a 盗窃 card: out of the rule's scope
    found = quality.run_rules(data, rules=path)
    assert found["rule_id"].tolist() == ["fraud_without_amount"]
    assert found.iloc[0]["person_id"] == "P2"
    assert found.iloc[0]["severity"] == "warning"
    assert found.iloc[0]["values"] == "罪名：诈骗，涉案金额（元）：未填"


def test_a_user_file_overrides_only_the_keys_it_gives(tmp_path):
    data, _ = broken("late_entry_closed")  # entered 10 days after closing
    path = _write(tmp_path / "o.yaml", [{"id": "late_entry_closed", "severity": "error"}])
    hit = quality.run_rules(data, rules=path).iloc[0]
    assert (hit["rule_id"], hit["severity"]) == ("late_entry_closed", "error")
    # a longer allowance silences it; the message and the rest stay built-in
    path = _write(tmp_path / "o2.yaml", [{"id": "late_entry_closed", "max_days": 10}])
    assert quality.run_rules(data, rules=path).empty
    path = _write(tmp_path / "o3.yaml", [{"id": "late_entry_closed", "max_days": 9}])
    assert quality.run_rules(data, rules=path)["rule_id"].tolist() == ["late_entry_closed"]


def test_a_user_condition_replaces_the_built_in_parameters(tmp_path):
    data, _ = broken("detention_term_range")  # 拘役 8 months
    path = _write(tmp_path / "c.yaml", [{"id": "detention_term_range",
                                         "condition": "term_months > 12"}])
    assert quality.run_rules(data, rules=path).empty


def test_a_user_file_disables_a_rule(tmp_path):
    data, _ = broken("minor_age_mismatch")
    assert len(quality.run_rules(data)) == 1
    path = _write(tmp_path / "d.yaml", [{"id": "minor_age_mismatch", "enabled": False}])
    assert quality.run_rules(data, rules=path).empty
    table = quality.rules_frame(path)
    assert not table.loc[table["id"] == "minor_age_mismatch", "enabled"].item()
    assert table.loc[table["id"] == "minor_age_mismatch", "origin"].item() == str(path)


def test_rules_without_the_builtin_set_run_alone():
    data, _ = broken("closed_before_accepted")
    found = quality.run_rules(data, builtin=False, rules=[{
        "id": "x", "kind": "consistency", "severity": "info", "message_zh": "审结早于受理",
        "fields": ["accepted_on", "closed_on"], "condition": "closed_on < accepted_on"}])
    assert found["rule_id"].tolist() == ["x"]


@pytest.mark.parametrize("rule, words", [
    ({"id": "r", "kind": "consistency", "severity": "error", "message_zh": "m",
      "fields": ["age"]}, "condition"),
    ({"id": "r", "kind": "logic", "severity": "error", "message_zh": "m", "fields": ["age"],
      "condition": "age > 1"}, "kind"),
    ({"id": "r", "kind": "validity", "severity": "fatal", "message_zh": "m", "fields": ["age"],
      "range": [1, 2]}, "severity"),
    ({"id": "r", "kind": "validity", "severity": "error", "fields": ["age"], "range": [1, 2]},
     "message_zh"),
    ({"id": "r", "kind": "validity", "severity": "error", "message_zh": "m",
      "fields": ["gender"], "codes": "sex"}, "sex"),
    ({"id": "r", "kind": "consistency", "severity": "error", "message_zh": "m",
      "fields": ["age"], "applies_to": {"stage": ["trial"]}, "condition": "age > 1"}, "trial"),
    ({"id": "r", "kind": "consistency", "severity": "error", "message_zh": "m",
      "fields": ["age"], "condtion": "age > 1"}, "condtion"),
])
def test_malformed_rules_are_refused_with_a_bilingual_message(rule, words):
    with pytest.raises(ParameterError) as err:
        quality.run_rules(clean(), rules=[rule], builtin=False)
    assert words in str(err.value)


def test_a_condition_may_read_only_the_fields_it_declares():
    rule = {"id": "sneaky", "kind": "consistency", "severity": "error", "message_zh": "m",
            "fields": ["age"], "condition": "age > 1 AND term_months > 1"}
    with pytest.raises(ParameterError) as err:
        quality.run_rules(clean(), rules=[rule], builtin=False)
    assert "sneaky" in str(err.value) and "fields" in str(err.value)


def test_bad_sql_names_the_rule():
    rule = {"id": "typo", "kind": "consistency", "severity": "error", "message_zh": "m",
            "fields": ["age"], "condition": "age >>> 1"}
    with pytest.raises(ParameterError, match="typo"):
        quality.run_rules(clean(), rules=[rule], builtin=False)


def test_a_missing_rule_file_and_bad_yaml_are_user_errors(tmp_path):
    with pytest.raises(ParameterError, match="规则文件不存在"):
        quality.load_rules(tmp_path / "none.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules: [ {id: a, kind: }", encoding="utf-8")
    with pytest.raises(ParameterError, match="YAML"):
        quality.load_rules(bad)


def test_rules_reading_columns_absent_from_the_export_are_skipped_and_reported():
    data, _ = broken("closed_before_accepted")
    partial = data.drop(columns=["entered_at", "recidivist"])
    found = quality.run_rules(partial)
    assert found["rule_id"].tolist() == ["closed_before_accepted"]
    skipped = found.attrs["skipped"]
    assert {"late_entry_closed", "late_entry_judgment", "closed_after_entry",
            "probation_for_recidivist"} <= set(skipped)
    assert skipped["probation_for_recidivist"] == ["recidivist"]


def test_sql_cannot_reach_files():
    rule = {"id": "exfil", "kind": "consistency", "severity": "error", "message_zh": "m",
            "fields": ["age"],
            "condition": "age IN (SELECT 1 FROM read_csv('/etc/hostname'))"}
    with pytest.raises(ParameterError, match="exfil"):
        quality.run_rules(clean(), rules=[rule], builtin=False)


# ---------------------------------------------------------------------------------------------
# outputs
# ---------------------------------------------------------------------------------------------


def _two_faults_one_case():
    """Case 000003 gets a second person; both persons' cards are faulty."""
    data = clean()
    extra = data.iloc[[2]].copy()
    extra["person_id"] = "P2b"
    extra["term_months"] = 10.0  # adopted_but_differs (error)
    data = pd.concat([data, extra], ignore_index=True)
    data.loc[2, "entered_at"] = pd.Timestamp("2024-06-20 10:00")  # late entry (warning)
    data.loc[0, "age"] = 101  # another case: age_out_of_range (error)
    return schema.conform(data, "records")


def test_the_circular_has_the_layout_and_one_row_per_case():
    data = _two_faults_one_case()
    found = quality.run_rules(data)
    assert sorted(found["rule_id"]) == ["adopted_but_differs", "age_out_of_range",
                                        "late_entry_judgment"]
    c = quality_text.circular(found, data, batch="2024年第6期")
    assert list(c.columns) == ["通报批次", "部门受案号", "案件名称", "承办部门", "承办检察官",
                               "案件类别", "错误明细", "备注"]
    assert len(c) == 2 and set(c["通报批次"]) == {"2024年第6期"}
    row = c[c["部门受案号"] == "示检刑诉受[2024]371329000003号"].iloc[0]
    assert row["案件名称"] == "丙某诈骗案" and row["案件类别"] == "一审公诉案件"
    assert row["承办检察官"] == "检察官甲" and row["承办部门"] == "第一检察部"
    assert row["备注"] == "错误1项、警告1项"
    lines = row["错误明细"].split("；\n")
    assert lines[0].startswith("1. [嫌疑人编号 P2b] 法院采纳确定刑量刑建议")
    assert lines[1].startswith("2. [嫌疑人编号 P2] 判决后超过7日才填录判决信息")
    # errors only: the warning disappears from the list
    only = quality_text.circular(found, data, batch="b", level="error")
    row = only[only["部门受案号"] == "示检刑诉受[2024]371329000003号"].iloc[0]
    assert row["备注"] == "错误1项" and "迟填" not in row["错误明细"]


def test_an_empty_inspection_gives_an_empty_circular_with_the_layout():
    found = quality.run_rules(clean())
    c = quality_text.circular(found, clean(), batch="b")
    assert c.empty and list(c.columns) == list(quality_text.CIRCULAR_COLUMNS)


def test_error_rates_count_cards_with_at_least_one_fault():
    data = _two_faults_one_case()  # 9 cards; 第一检察部 8 cards (2 faulty at error level)
    found = quality.run_rules(data)
    r = quality.error_rates(found, data, by="department", level="error", min_n=1)
    got = r.set_index("department")[["numerator", "denominator"]].to_dict("index")
    assert got == {"第一检察部": {"numerator": 2, "denominator": 8},
                   "第五检察部": {"numerator": 0, "denominator": 1}}
    first = r.set_index("department").loc["第一检察部"]
    assert first["value"] == pytest.approx(2 / 8)
    assert first["target"] == pytest.approx(2 / 9)
    assert first["value_ci_lower"] < 0.25 < first["value_ci_upper"]
    # warnings make card 000003/P2 faulty too
    w = quality.error_rates(found, data, by="department", level="warning", min_n=1)
    assert w.set_index("department").loc["第一检察部", "numerator"] == 3
    # groups below min_n are not judged
    assert set(quality.error_rates(found, data, min_n=10)["position"]) == {"below_min_n"}


def test_error_trend_by_statistics_month():
    data = _two_faults_one_case()
    found = quality.run_rules(data)
    t = quality.error_trend(found, data, level="error")
    # faulty cards: P0 closed 2024-03-06, P2b closed 2024-04-20
    got = t.set_index("month")[["numerator", "denominator"]].to_dict("index")
    assert got["2024-03"]["numerator"] == 1 and got["2024-04"]["numerator"] == 1
    assert t["denominator"].sum() == len(data)
    assert got["2024-06"] == {"numerator": 0, "denominator": 1}  # the open card, by acceptance


def test_summary_counts_by_severity_and_rule():
    data = _two_faults_one_case()
    found = quality.run_rules(data)
    sev = quality.severity_counts(found).set_index("severity")
    assert sev.loc["error", "findings"] == 2 and sev.loc["warning", "findings"] == 1
    assert sev.loc["info", "findings"] == 0
    text = quality_text.summary_text(found, data, snapshot="s1")
    assert "检查案卡 9 张" in text and "发现问题 3 条" in text
    assert "adopted_but_differs" in text and "第一检察部" in text
    assert "检查未通过" in text


# ---------------------------------------------------------------------------------------------
# casework check
# ---------------------------------------------------------------------------------------------


def _snapshot(frame):
    from casework import store

    store.write_snapshot({"records": frame}, account="test")


def _check(capsys, *args):
    from casework.run import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["check", *args])
    return exc.value.code, capsys.readouterr().out


def test_check_exits_1_on_errors_and_prints_the_summary(casework_home, capsys):
    _snapshot(_two_faults_one_case())
    code, out = _check(capsys)
    assert code == 1
    assert "案卡质量检查" in out and "错误 2 条" in out and "adopted_but_differs" in out


def test_check_exits_0_when_fail_on_is_above_the_highest_severity(casework_home, capsys):
    data, _ = broken("late_entry_closed")  # one warning only
    _snapshot(data)
    code, out = _check(capsys)
    assert code == 0 and "警告 1 条" in out and "检查通过" in out
    code, _ = _check(capsys, "--fail-on", "warning")
    assert code == 1


def test_check_takes_a_user_rule_file(casework_home, capsys, tmp_path):
    data, _ = broken("closed_before_accepted")
    _snapshot(data)
    assert _check(capsys)[0] == 1
    path = _write(tmp_path / "r.yaml", [{"id": "closed_before_accepted", "severity": "info"}])
    code, out = _check(capsys, "--rules", str(path))
    assert code == 0 and "提示 1 条" in out


def test_check_reads_through_the_audited_store(casework_home, capsys):
    from casework import store

    _snapshot(clean())
    before = len(store.audit_entries())
    code, out = _check(capsys)
    assert code == 0 and "发现问题 0 条" in out
    log = store.audit_entries()
    assert len(log) == before + 1
    assert log.iloc[-1]["purpose"] == "案卡质量检查"


# ---------------------------------------------------------------------------------------------
# synthetic data: the planted entry-error run is found and named
# ---------------------------------------------------------------------------------------------


def _pattern(truth, pid):
    found = [p for p in truth["patterns"] if p["id"] == pid]
    return found[0] if found else None


@pytest.fixture(scope="module")
def small_findings(synth_small):
    return quality.run_rules(synth_small.records)


def _last_month(records) -> str:
    """The last month of the data, read from the data (never from the truth)."""
    return periods.last_data_month(records["accepted_on"]).code


def _month_gap(a: str, b: str) -> int:
    return abs((pd.Period(a, "M") - pd.Period(b, "M")).n)


def _error_findings(data):
    """The error-run detector at its defaults, for the last month of the data (blind)."""
    end = _last_month(data.records)
    span = quality_signals.HISTORY_MONTHS + 12
    recs = data.records[quality.in_period(data.records, end, trailing=span)]
    found = quality.run_rules(recs)
    sig = quality_signals.error_rate_signals(found, recs, end=end)
    return analysis_findings.select(sig)


def test_the_error_run_detector_names_the_planted_department_blind(synth_small):
    sel = _error_findings(synth_small)
    fin = sel[sel["status"] == "finding"]
    planted = _pattern(synth_small.truth, "entry_error_run")
    # exactly the planted department, named in full (unit + department), near its start
    assert fin["entity_name"].tolist() == [planted["entity_name"]]
    assert fin["entity_id"].tolist() == [planted["entity_id"]]
    assert _month_gap(fin["start_month"].iloc[0], planted["from"]) <= 1
    # its rate in the run and its own rate before it are in the signal
    assert fin["latest_value"].iloc[0] > 5 * fin["baseline"].iloc[0]
    # every department was tested, each under its own unit: no pooling across units
    n_depts = synth_small.records.groupby(["unit_code", "department"]).ngroups
    assert len(sel) == n_depts
    assert sel["entity_id"].str.contains("/").all()


def test_the_error_run_detector_finds_nothing_on_null_data(synth_null_small):
    sel = _error_findings(synth_null_small)
    assert not (sel["status"] == "finding").any()
    assert sel["p_value"].between(0, 1).all()


def test_the_planted_months_stand_out_on_the_p_chart_of_their_department(synth_small,
                                                                         small_findings):
    """Blind: every department's p-chart by unit and department; the only one with months
    above its upper limit for two months or more is the planted one, and those months lie in
    the run (by acceptance month) or one month after it (by closing month)."""
    planted = _pattern(synth_small.truth, "entry_error_run")
    run = [str(m) for m in pd.period_range(planted["from"], planted["to"], freq="M")]
    after = str(pd.Period(planted["to"], freq="M") + 1)
    for basis, allowed in (("accepted", set(run)), ("closed", set(run) | {after})):
        trend = quality.error_trend(small_findings, synth_small.records,
                                    by=["unit_code", "department"], basis=basis)
        high = trend[trend["flagged"] & (trend["value"] > trend["centre"])]
        counts = high.groupby(["unit_code", "department"]).size()
        assert list(counts[counts >= 2].index) == [(planted["keys"]["unit_code"],
                                                    planted["keys"]["department"])], basis
        mine = high[(high["unit_code"] == planted["keys"]["unit_code"])
                    & (high["department"] == planted["keys"]["department"])]
        assert set(run[1:]) <= set(mine["month"]) <= allowed, (basis, set(mine["month"]))


def test_the_injected_error_kinds_are_caught_by_the_rules(synth_small, small_findings):
    """Each kind of error the generator says it planted in the run is found by some rule."""
    planted = _pattern(synth_small.truth, "entry_error_run")
    catches = {"missing:decision": "closed_without_decision",
               "closed_before_accepted": "closed_before_accepted",
               "adopted_but_term_differs": "adopted_but_differs",
               "plea_without_recommendation": "plea_without_recommendation"}
    months = [str(m) for m in pd.period_range(planted["from"], planted["to"], freq="M")]
    inside = small_findings[(small_findings["unit_code"] == planted["where"]["unit_code"])
                            & (small_findings["department"] == planted["where"]["department"])
                            & small_findings["month"].isin(months)]
    for kind in planted["effect"]["errors"]:
        assert catches[kind] in set(inside["rule_id"]), kind


def test_null_data_show_no_department_above_its_limits(synth_null_small):
    found = quality.run_rules(synth_null_small.records)
    rates = quality.error_rates(found, synth_null_small.records, by=["unit_code", "department"],
                                overdispersion="multiplicative")
    assert not rates["position"].isin(["high_alarm"]).any()


def test_check_on_the_demo_store_exits_1_and_names_the_top_department(demo_home, capsys,
                                                                      synth_small):
    code, out = _check(capsys)
    assert code == 1
    assert "案卡质量检查" in out and "closed_before_accepted" in out
    planted = _pattern(synth_small.truth, "entry_error_run")
    unit_name = synth_small.records.loc[
        synth_small.records["unit_code"] == planted["where"]["unit_code"], "unit_name"].iloc[0]
    top_lines = out.split("错误及以上问题案卡占比最高的承办部门：")[1].strip().splitlines()
    assert top_lines[0].strip().startswith(unit_name + planted["where"]["department"])
    assert "超出控制限" in top_lines[0]


# ---------------------------------------------------------------------------------------------
# the data_quality template on the demo store
# ---------------------------------------------------------------------------------------------


def _report_text(path) -> str:
    """The report's prose: the HTML without tables, figures, scripts and styles."""
    import html as _html
    import re

    s = open(path, encoding="utf-8").read()
    s = re.sub(r"<(script|style|table|figure)[^>]*>.*?</\1>", " ", s, flags=re.S)
    return _html.unescape(re.sub(r"<[^>]+>", " ", s))


def _run_data_quality(tmp_path, records):
    from casework.run import report

    report.ensure_kernel(install=True)
    period = _last_month(records)  # the default monthly run: no truth window, all units
    res = report.run("data_quality", period=period, reports_dir=tmp_path)
    assert res.ok, res.describe()
    doc = json.loads((tmp_path / period / "data_quality_all_files" / "findings.json")
                     .read_text(encoding="utf-8"))
    return doc, _report_text(res.html)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_the_data_quality_report_names_the_planted_department_and_editor(
        demo_home, tmp_path, synth_small):
    doc, prose = _run_data_quality(tmp_path, synth_small.records)
    named = {f["entity_name"]: f for f in doc["findings"]}
    for pid in ("entry_error_run", "closed_case_editor"):
        planted = _pattern(synth_small.truth, pid)
        assert planted["entity_name"] in named, (pid, list(named))
        f = named[planted["entity_name"]]
        assert f["entity_id"] == planted["entity_id"]
        assert _month_gap(f["start_month"], planted["from"]) <= 1, (pid, f["start_month"])
        # named in full in the prose, with the month it began
        start_zh = f"{int(f['start_month'][:4])}年{int(f['start_month'][5:])}月"
        assert planted["entity_name"] + "" in prose and start_zh in prose
    # nothing else is a finding, and no department is named without its procuratorate
    assert len(doc["findings"]) == 2
    problems = prose.split("存在问题", 1)[1].split("按承办部门", 1)[0]
    for dept in ("第一检察部", "第二检察部", "第三检察部", "第四检察部"):
        for i in [k for k in range(len(problems)) if problems.startswith(dept, k)]:
            assert problems[max(0, i - 3):i].endswith("检察院"), problems[max(0, i - 20):i + 5]
    # the reversals are tied to the account that made them
    editor = named[_pattern(synth_small.truth, "closed_case_editor")["entity_name"]]
    assert "审结后修改关键项" in editor["sentence"]
    # the circular keeps its layout
    files = tmp_path / _last_month(synth_small.records) / "data_quality_all_files"
    circ = pd.read_excel(files / "circular.xlsx")
    assert list(circ.columns) == list(quality_text.CIRCULAR_COLUMNS)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_the_data_quality_report_finds_nothing_on_null_data(null_home, tmp_path, monkeypatch,
                                                            synth_null_small):
    monkeypatch.setenv("CASEWORK_HOME", str(null_home))
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    doc, prose = _run_data_quality(tmp_path, synth_null_small.records)
    assert doc["findings"] == [] and doc["n_tests"] > 0
    assert "本期未发现需关注的问题" in prose


def test_check_refuses_a_bad_rule_file_before_reading_any_data(casework_home, capsys, tmp_path):
    from casework import store
    from casework.run import cli

    _snapshot(clean())
    before = len(store.audit_entries())
    path = _write(tmp_path / "bad.yaml", [{"id": "half_done", "kind": "consistency"}])
    with pytest.raises(SystemExit) as exc:
        cli.main(["check", "--rules", str(path)])
    assert exc.value.code == 2
    assert "half_done" in capsys.readouterr().err
    assert len(store.audit_entries()) == before


def test_rows_of_a_judgment_corpus_are_not_case_cards():
    data = clean()
    corpus = data.iloc[[2]].copy()
    corpus["stage"] = "judgment"
    corpus["department"] = pd.NA  # a court judgment has no 承办部门
    corpus["person_id"] = "J1"
    both = schema.conform(pd.concat([data, corpus], ignore_index=True), "records")
    found = quality.run_rules(both)
    assert found.empty
    rates = quality.error_rates(found, both, by="unit_code", min_n=1)
    assert rates["denominator"].tolist() == [len(data)]
