"""The importer: round trip of the synthetic exports, header variants, values, mapping files,
warnings and errors (in process; the hostile-input corpus through the CLI is in
test_import_bad.py)."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io as _stdio
import json
from pathlib import Path

import pandas as pd
import pytest

from casework.base.errors import DataError, ParameterError
from casework.ingest import decoding, importer, mapping, readers, validation
from casework.model import schema

REQUIRED_HEADERS = ["单位编码", "部门受案号", "统一受案号", "办案环节", "嫌疑人编号", "罪名",
                    "受理日期"]


def write_csv(path: Path, headers, rows, *, encoding="gb18030", delimiter=",") -> Path:
    buf = _stdio.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(headers)
    w.writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def base_row(k: int, **over) -> dict:
    """One valid records row (Chinese headers → values)."""
    row = {"单位编码": "371329", "部门受案号": f"沭检刑诉受[2024]371329{k:06d}号",
           "统一受案号": f"3713292024{k:07d}", "办案环节": "审查起诉", "嫌疑人编号": f"P{k}",
           "罪名": "盗窃", "受理日期": "2024-03-01"}
    row.update(over)
    return row


def frame_csv(path: Path, rows: list[dict], **kw) -> Path:
    headers = list(dict.fromkeys(h for r in rows for h in r))
    return write_csv(path, headers, [[r.get(h, "") for h in headers] for r in rows], **kw)


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ---------------------------------------------------------------------------------------------
# Round trip: synth → GB18030 / xlsx Chinese-header exports → import → the synth's Parquet
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth_dir(tmp_path_factory):
    from casework import synth

    out = tmp_path_factory.mktemp("synth_rt")
    synth.generate(out, units=2, years=1, end="2024-12", seed=3)
    return out


def _comparable(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical frame in a fixed row order, lists as lists, blank text as missing."""
    df = schema.conform(df.reset_index(drop=True), table)[schema.column_names(table)].copy()
    for col in schema.columns(table):
        s = df[col.name]
        if col.dtype == "list":
            df[col.name] = s.map(lambda v: None if v is None else list(v))
        elif col.dtype == "string":
            df[col.name] = s.mask(s == "")
    key = list(schema.RECORD_KEY) if table == "records" else ["unit_code", "dept_case_no",
                                                              "person_id", "modified_at", "field"]
    key = ["unit_code", "matter_no"] if table == "supervision" else key
    return df.sort_values(key, kind="stable").reset_index(drop=True)


def _assert_same(got: pd.DataFrame, exp: pd.DataFrame, table: str) -> None:
    got, exp = _comparable(got, table), _comparable(exp, table)
    assert len(got) == len(exp)
    for col in schema.columns(table):
        a, b = got[col.name], exp[col.name]
        if col.dtype == "list":
            assert a.tolist() == b.tolist(), col.name
        else:
            pd.testing.assert_series_equal(a, b, check_dtype=False, check_names=False,
                                           obj=col.name)


def _exported_only(exp: pd.DataFrame, exports: list[Path]) -> pd.DataFrame:
    """The synth's records with, per stage, only the columns its export file carries.

    Each stage's export omits columns that do not belong to that stage (judgment items on the
    arrest-review card): they cannot come back, so they are compared as missing.
    """
    exp = exp.copy()
    for path in exports:
        header = path.read_bytes().split(b"\n", 1)[0].decode("gb18030").strip()
        cols = {mapping.match_header(h.strip('"'), "records") for h in header.split(",")}
        mods = {mapping.match_header(h.strip('"'), "modifications") for h in header.split(",")}
        if "modified_at" in mods or mapping.detect_table(header.split(",")) == "supervision":
            continue
        stage = importer.read_export(path)[0]["stage"].iloc[0]
        rows = exp["stage"] == stage
        for c in schema.column_names("records"):
            if c not in cols and c not in ("charge_group", "age"):
                exp.loc[rows, c] = None
    return exp


def test_round_trip_gb18030_csv(synth_dir, casework_home):
    from casework import store

    exports = sorted((synth_dir / "exports").glob("*.csv"))
    assert len(exports) == 4  # two stages + the modification log + supervision matters
    # 单位编码 in GB18030
    assert b"\xb5\xa5\xce\xbb\xb1\xe0\xc2\xeb" in exports[0].read_bytes()[:200]
    before = {p: sha256(p) for p in exports}
    result = importer.import_files(exports, account="round-trip")
    assert {p: sha256(p) for p in exports} == before  # sources never modified
    recs = store.read("records", purpose="test round trip")
    mods = store.read("modifications", purpose="test round trip")
    _assert_same(recs, _exported_only(pd.read_parquet(synth_dir / "records.parquet"), exports),
                 "records")
    _assert_same(mods, pd.read_parquet(synth_dir / "modifications.parquet"), "modifications")
    assert result["row_counts"]["records"] == len(recs)
    assert {f["table"] for f in result["files"]} == {"records", "modifications", "supervision"}
    sup = store.read("supervision", purpose="test round trip")
    _assert_same(sup, pd.read_parquet(synth_dir / "supervision.parquet"), "supervision")
    assert all(f["encoding"] == "GB18030" for f in result["files"])
    # the synth plants entry errors (审结 before 受理): reported, and the rows kept
    exp = pd.read_parquet(synth_dir / "records.parquet")
    n_bad = int((exp["closed_on"] < exp["accepted_on"]).sum())
    assert n_bad > 0
    assert any("closed before accepted" in w for w in result["warnings"])
    assert int((recs["closed_on"] < recs["accepted_on"]).sum()) == n_bad
    text = importer.describe(result)
    assert result["id"] in text and "审查逮捕案件.csv" in text and f"{len(recs):,}" in text


def test_round_trip_xlsx(synth_dir):
    path = synth_dir / "exports" / "审查逮捕案件.xlsx"
    df, _ = importer.read_export(path)
    exp = pd.read_parquet(synth_dir / "records.parquet")
    exp = _exported_only(exp[exp["stage"] == "arrest_review"],
                         [synth_dir / "exports" / "审查逮捕案件.csv"])
    _assert_same(df, exp, "records")


def test_parquet_input_is_taken_as_typed(synth_dir):
    df, warnings = importer.read_export(synth_dir / "records.parquet")
    _assert_same(df, pd.read_parquet(synth_dir / "records.parquet"), "records")


# ---------------------------------------------------------------------------------------------
# Headers
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, canonical", [
    ("受理日期", "accepted_on"), (" 受理日期 ", "accepted_on"), ("受 理 日 期", "accepted_on"),
    ("受理时间", "accepted_on"), ("accepted_on", "accepted_on"), ("ACCEPTED_ON", "accepted_on"),
    ("Accepted On", "accepted_on"), ("受理日期*", "accepted_on"), ("受理日期：", "accepted_on"),
    ("建议刑期（月）", "recommended_term_months"), ("建议刑期(月)", "recommended_term_months"),
    ("建议刑期 （ 月 ）", "recommended_term_months"), ("建议刑期", "recommended_term_months"),
    ("刑期（个月）", "term_months"), ("刑期(月份)", "term_months"), ("罚金（元）", "fine"),
    ("罚金(人民币元)", "fine"), ("ＢＭＳＡＨ", "dept_case_no"), ("不捕/不诉类型",
                                                                 "decision_subtype"),
    ("罚金（万元）", None), ("备注", None),
])
def test_header_variants(header, canonical):
    assert mapping.match_header(header, "records") == canonical


def test_header_variants_in_a_file(tmp_path):
    headers = ["单位编码", " 部门受案号 ", "统一受案号码", "诉讼环节", "犯罪嫌疑人编号", "案由",
               "受理时间", "刑期(月)", "备注"]
    path = write_csv(tmp_path / "v.csv", headers, [["371329", "A1", "T1", "审查起诉", "P1",
                                                    "盗窃罪", "2024-01-02", "12", "x"]])
    df, warnings = importer.read_export(path)
    got = df.loc[0, ["dept_case_no", "unified_case_no", "stage", "person_id", "charge"]]
    assert got.tolist() == ["A1", "T1", "prosecution_review", "P1", "盗窃"]
    assert df.loc[0, "term_months"] == 12.0
    # the unknown column is named, not silently lost
    assert len(warnings) == 1 and "备注" in warnings[0]


def test_competing_aliases_prefer_the_label_and_warn(tmp_path):
    row = base_row(1)
    row["移送案由"] = "诈骗"  # an alias of charge, beside the label 罪名
    df, warnings = importer.read_export(frame_csv(tmp_path / "c.csv", [row]))
    assert df.loc[0, "charge"] == "盗窃"
    assert any("移送案由" in w and "罪名" in w for w in warnings)


def test_table_detected_from_headers(tmp_path):
    path = write_csv(tmp_path / "mods.csv",
                     ["单位编码", "部门受案号", "嫌疑人编号", "修改项", "修改前", "修改后",
                      "修改账号", "修改时间"],
                     [["371329", "A1", "P1", "是否认罪认罚", "否", "是", "u1",
                       "2024/5/3 14:20:00"],
                      ["371329", "A1", "P1", "办案环节", "审查逮捕", "审查起诉", "u1",
                       "2024-05-04 09:00:00"]])
    df, _ = importer.read_export(path)
    assert df.columns[:8].tolist() == schema.column_names("modifications")
    assert df["field"].tolist() == ["plea_leniency", "stage"]
    assert df["old_value"].tolist() == ["false", "arrest_review"]
    assert df["new_value"].tolist() == ["true", "prosecution_review"]
    assert df["modified_at"].tolist() == [pd.Timestamp("2024-05-03 14:20:00"),
                                          pd.Timestamp("2024-05-04 09:00")]


def test_title_rows_above_the_header_are_skipped(tmp_path):
    text = "不捕人员信息表\n导出时间：2024-06-01,,\n" + ",".join(REQUIRED_HEADERS) + "\n" + \
        "371329,A1,T1,审查逮捕,P1,盗窃,2024-05-06\n" + "371329,A2,T2,审查逮捕,P2,盗窃,2024-13-06\n"
    path = tmp_path / "titled.csv"
    path.write_bytes(text.encode("gb18030"))
    with pytest.raises(DataError) as err:
        importer.read_export(path)
    # header on line 3, so the second record is spreadsheet row 5
    assert "第 5 行" in err.value.zh and "row 5" in err.value.en


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030", "utf-16"])
@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_encodings_and_delimiters(tmp_path, encoding, delimiter):
    path = frame_csv(tmp_path / "e.tsv", [base_row(1, 案件名称="张某涉嫌盗窃案"), base_row(2)],
                     encoding=encoding, delimiter=delimiter)
    df, warnings = importer.read_export(path)
    assert df["case_name"].tolist()[:1] == ["张某涉嫌盗窃案"] and len(df) == 2 and warnings == []


# ---------------------------------------------------------------------------------------------
# Values
# ---------------------------------------------------------------------------------------------


def test_date_forms(tmp_path):
    forms = {"2024-05-03": "2024-05-03", "2024/5/3": "2024-05-03", "2024年5月3日": "2024-05-03",
             "20240503": "2024-05-03", "2024.5.3": "2024-05-03", "45415": "2024-05-03",
             "２０２４－０５－０３": "2024-05-03", "2024-05-03 14:22:10": "2024-05-03",
             "2024/12/31 23:59": "2024-12-31", "2000-02-29": "2000-02-29"}
    rows = [base_row(k, 受理日期=f, 案卡填录时间="2024-05-03T14:22:10")
            for k, f in enumerate(forms)]
    rows[0]["案卡填录时间"] = "1714717330"  # Unix time: 06:22:10 UTC = 14:22:10 Beijing
    rows[1]["案卡填录时间"] = "2024年5月3日 14时22分10秒"
    rows[2]["案卡填录时间"] = "45415.59872685185"  # Excel serial with a time of day
    df, _ = importer.read_export(frame_csv(tmp_path / "d.csv", rows))
    assert [str(d.date()) for d in df["accepted_on"]] == list(forms.values())
    assert set(df["entered_at"]) == {pd.Timestamp("2024-05-03 14:22:10")}


def test_malformed_dates_name_the_rows(tmp_path):
    rows = [base_row(k) for k in range(30)]
    for k in (3, 7, 29):
        rows[k]["受理日期"] = {3: "2024-02-30", 7: "2024-13-01", 29: "明天"}[k]
    path = frame_csv(tmp_path / "bad_dates.csv", rows)
    with pytest.raises(DataError) as err:
        importer.read_export(path)
    e = err.value
    # spreadsheet rows: header is row 1, so record k is row k + 2
    assert "第 5、9、31 行" in e.zh and "rows 5, 9, 31" in e.en
    assert "bad_dates.csv" in e.zh and "bad_dates.csv" in e.en and "受理日期" in e.zh
    assert "'2024-02-30'" in e.en and "2024/5/3" in e.zh  # the bad value and what was expected


def test_at_most_twenty_rows_listed(tmp_path):
    rows = [base_row(k, 受理日期="x") for k in range(25)]
    with pytest.raises(DataError) as err:
        importer.read_export(frame_csv(tmp_path / "many.csv", rows))
    assert "共 25 行" in err.value.zh and "(25 rows in all)" in err.value.en
    assert "rows 2, 3, 4" in err.value.en
    assert ", 22 " not in err.value.en and "22," not in err.value.en


def test_codes_booleans_numbers(tmp_path):
    rows = [base_row(1, 性别="男", 是否认罪认罚="是", 是否累犯="N", 是否羁押="1", 罚金="1,500",
                     涉案金额="１２３４.５", 审结结论="不起诉", 强制措施="取保候审",
                     退回补充侦查次数="2"),
            base_row(2, 性别="female", 是否认罪认罚="否", 是否累犯="Y", 是否羁押="false", 罚金="",
                     涉案金额="3e3", 审结结论="prosecute", 强制措施="拘留", 退回补充侦查次数="0"),
            base_row(3, 性别="", 是否认罪认罚="有", 是否累犯="无", 是否羁押="true", 罚金="12 000",
                     涉案金额="-", 审结结论="起诉", 强制措施="逮捕", 退回补充侦查次数="1.0")]
    df, warnings = importer.read_export(frame_csv(tmp_path / "v.csv", rows))
    assert warnings == []
    assert df["gender"].iloc[:2].tolist() == ["male", "female"] and pd.isna(df["gender"].iloc[2])
    assert df["plea_leniency"].tolist() == [True, False, True]
    assert df["recidivist"].tolist() == [False, True, False]
    assert df["detained"].tolist() == [True, False, True]
    assert df["fine"].iloc[[0, 2]].tolist() == [1500.0, 12000.0] and pd.isna(df["fine"].iloc[1])
    assert df["amount_involved"].iloc[:2].tolist() == [1234.5, 3000.0]
    assert pd.isna(df["amount_involved"].iloc[2])
    assert df["decision"].tolist() == ["non_prosecution", "prosecute", "prosecute"]
    assert df["coercive_measure"].tolist() == ["bail", "detention", "arrest"]
    assert df["supplementary_investigation"].tolist() == [2, 0, 1]


def test_bad_flags_numbers_and_stage_are_errors(tmp_path):
    rows = [base_row(1, 是否认罪认罚="也许"), base_row(2, 退回补充侦查次数="两次"),
            base_row(3, 办案环节="二审"), base_row(4, 退回补充侦查次数="1.5")]
    with pytest.raises(DataError) as err:
        importer.read_export(frame_csv(tmp_path / "b.csv", rows))
    e = err.value
    assert "3 处" in e.zh
    assert "plea_leniency: row 2" in e.en and "supplementary_investigation: rows 3, 5" in e.en
    assert "stage: row 4" in e.en and "'也许'" in e.en


def test_unknown_code_labels_are_kept_with_a_warning(tmp_path):
    df, warnings = importer.read_export(frame_csv(tmp_path / "u.csv", [base_row(1,
                                                                                职业="个体工商户"),
                                                                 base_row(2, 职业="农民")]))
    assert df["occupation"].tolist() == ["个体工商户", "farmer"]
    assert len(warnings) == 1 and "个体工商户" in warnings[0] and "第 2 行" in warnings[0]


def test_charges(tmp_path):
    rows = [base_row(1, 罪名="[走私、贩卖、运输、制造]毒品",
                     全部罪名="[走私、贩卖、运输、制造]毒品；容留他人吸毒罪"),
            base_row(2, 罪名="", 全部罪名="掩饰、隐瞒犯罪所得;盗窃"),
            base_row(3, 罪名="非法经营", 全部罪名="")]
    df, warnings = importer.read_export(frame_csv(tmp_path / "ch.csv", rows))
    assert df["charges"].tolist() == [["走私、贩卖、运输、制造毒品", "容留他人吸毒"],
                                      ["掩饰、隐瞒犯罪所得", "盗窃"], None]
    assert df["charge"].tolist() == ["走私、贩卖、运输、制造毒品", "掩饰、隐瞒犯罪所得",
                                     "非法经营"]
    assert df["charge_group"].tolist()[:2] == ["drugs", "public_order"]
    assert pd.isna(df["charge_group"].iloc[2])
    assert len(warnings) == 1 and "非法经营" in warnings[0]  # not in the charge table: named


def test_charges_only_column_fills_charge(tmp_path):
    headers = [h for h in REQUIRED_HEADERS if h != "罪名"] + ["全部罪名"]
    path = write_csv(tmp_path / "c.csv", headers,
                     [["371329", "A1", "T1", "判决", "P1", "2024-01-02", "诈骗；盗窃"]])
    df, _ = importer.read_export(path)
    assert df.loc[0, "charge"] == "诈骗" and df.loc[0, "charge_group"] == "property"


def test_case_number_normalisation(tmp_path):
    variants = ["沭检刑诉受〔2024〕371329000004号", "沭检刑诉受【2024】371329000004号",
                "沭检刑诉受［２０２４］ 371329000004号", " 沭检刑诉受[2024]371329000004号"]
    rows = [base_row(k, 部门受案号=v, 嫌疑人编号=f"P{k}") for k, v in enumerate(variants)]
    df, _ = importer.read_export(frame_csv(tmp_path / "n.csv", rows))
    assert set(df["dept_case_no"]) == {"沭检刑诉受[2024]371329000004号"}
    # after normalisation the same person on the same case number is a duplicate
    rows = [base_row(0, 部门受案号=variants[0]), base_row(0, 部门受案号=variants[1])]
    with pytest.raises(DataError) as err:
        importer.read_export(frame_csv(tmp_path / "dup.csv", rows))
    assert "rows 2, 3" in err.value.en and "重复" in err.value.zh


def test_age_derived_from_birth_date(tmp_path):
    # the first: the day before the 18th birthday
    rows = [base_row(1, 出生日期="2006-05-04", 受理日期="2024-05-03"),
            base_row(2, 出生日期="2006-05-04", 受理日期="2024-05-04"),
            base_row(3, 出生日期="2004-02-29", 受理日期="2024-02-28"),
            base_row(4, 出生日期="2000-01-01", 受理日期="2024-05-04", 年龄="30")]  # given ages win
    df, _ = importer.read_export(frame_csv(tmp_path / "age.csv", rows))
    assert df["age"].tolist() == [17, 18, 19, 30]


def test_stage_from_case_type(tmp_path):
    headers = [h for h in REQUIRED_HEADERS if h != "办案环节"] + ["案件类别"]
    path = write_csv(tmp_path / "ct.csv", headers, [["371329", "A1", "T1", "P1", "盗窃",
                                                     "2024-01-02", "审查逮捕案件"],
                                                    ["371329", "A2", "T2", "P2", "盗窃",
                                                     "2024-01-02", "一审公诉案件（未检）"]])
    df, warnings = importer.read_export(path)
    assert df["stage"].tolist() == ["arrest_review", "prosecution_review"]
    assert any("inferred from case_type" in w for w in warnings)


# ---------------------------------------------------------------------------------------------
# Warnings: suspicious values are kept and reported with their rows
# ---------------------------------------------------------------------------------------------


def test_suspicious_values_are_kept_and_reported(tmp_path):
    future = (dt.date.today() + dt.timedelta(days=40)).isoformat()
    rows = [base_row(1),
            base_row(2, 审结日期="2024-02-01"),                      # closed before accepted
            base_row(3, 年龄="12"),                                    # under 14
            base_row(4, **{"刑期（月）": "-6"}),                        # negative term
            base_row(5, 受理日期=future),                              # future
            base_row(6, 受理日期="1949-09-30"),                        # before 1950
            base_row(7, 退回补充侦查次数="-1")]                          # negative count
    df, warnings = importer.read_export(frame_csv(tmp_path / "s.csv", rows))
    assert len(df) == 7  # nothing dropped
    text = "\n".join(warnings)
    for expected in ("closed_on: row 3: closed before accepted", "age: row 4: age under 14",
                     "term_months: row 5: negative", "accepted_on: row 6: dates in the future",
                     "accepted_on: row 7: dates before 1950",
                     "supplementary_investigation: row 8: negative"):
        assert expected in text, expected
    assert df.loc[3, "term_months"] == -6 and df.loc[1, "closed_on"] == pd.Timestamp("2024-02-01")


def test_formula_like_text_is_kept_as_text(tmp_path):
    rows = [base_row(1, 案件名称="=HYPERLINK(\"http://x\",\"点击\")"),
            base_row(2, 案件名称="@SUM(A1:A3)"), base_row(3, 案件名称="张某涉嫌盗窃案"),
            base_row(4, 案情摘要="+1-2 cmd|' /C calc'!A0")]
    df, warnings = importer.read_export(frame_csv(tmp_path / "f.csv", rows))
    assert df["case_name"].tolist()[:2] == ["=HYPERLINK(\"http://x\",\"点击\")", "@SUM(A1:A3)"]
    assert df.loc[3, "case_summary"] == "+1-2 cmd|' /C calc'!A0"
    assert any("case_name: rows 2, 3" in w and "formula" in w for w in warnings)
    assert any("case_summary: row 5" in w for w in warnings)


# ---------------------------------------------------------------------------------------------
# JSON Lines, mapping files
# ---------------------------------------------------------------------------------------------


def test_jsonl_dotted_paths_and_lists(tmp_path):
    recs = [{"id": "C1", "fact": "某日，被告人贩卖毒品。", "case": {"unit": "371329", "no": "A1",
                                                                    "stage": "判决",
                                                                    "date": "2018年3月1日"},
             "meta": {"accusation": ["[走私、贩卖、运输、制造]毒品", "容留他人吸毒"],
                      "criminals": ["张三"],
                      "term_of_imprisonment": {"imprisonment": 36, "death_penalty": False},
                      "punish_of_money": 5000}},
            {"id": "C2", "fact": "某日，被告人盗窃。", "case": {"unit": "371329", "no": "A2",
                                                                "stage": "判决",
                                                                "date": "2018-03-02"},
             "meta": {"accusation": ["盗窃"], "criminals": ["李四", "王五"],
                      "term_of_imprisonment": {"imprisonment": 8, "death_penalty": False},
                      "punish_of_money": 0}}]
    path = tmp_path / "cail.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in recs) + "\n",
                    encoding="utf-8")
    spec = tmp_path / "cail.yaml"
    spec.write_text("""
table: records
columns:
  unit_code: case.unit
  dept_case_no: case.no
  unified_case_no: id
  stage: case.stage
  accepted_on: case.date
  case_summary: fact
  charges: meta.accusation
  person_name: meta.criminals
  term_months: meta.term_of_imprisonment.imprisonment
  death_penalty: meta.term_of_imprisonment.death_penalty
  fine: meta.punish_of_money
defaults:
  person_id: "{file}-{row}"
""", encoding="utf-8")
    df, warnings = importer.read_export(path, mapping=spec)
    assert df["charges"].tolist() == [["走私、贩卖、运输、制造毒品", "容留他人吸毒"], ["盗窃"]]
    assert df["charge"].tolist() == ["走私、贩卖、运输、制造毒品", "盗窃"]
    assert df["term_months"].tolist() == [36.0, 8.0] and df["fine"].tolist() == [5000.0, 0.0]
    assert df["person_id"].tolist() == ["cail-1", "cail-2"]  # line numbers
    assert df["stage"].tolist() == ["judgment", "judgment"]
    assert df["death_penalty"].tolist() == [False, False]
    assert df["person_name"].tolist() == ["张三", "李四"]
    assert any("person_name" in w and "row 2" in w for w in warnings)  # a list in a scalar column


def test_mapping_recode_defaults_split(tmp_path):
    path = write_csv(tmp_path / "local.csv", ["案件编号", "统一案号", "当事人编号", "环节",
                                              "收案时间", "涉嫌罪名", "结论", "认罪"],
                     [["A1", "T1", "P1", "捕", "2024-01-02", "盗窃|诈骗", "诉", "适用"],
                      ["A2", "T2", "P2", "诉", "", "诈骗", "不诉", "未适用"]])
    spec = {"columns": {"dept_case_no": "案件编号", "unified_case_no": "统一案号",
                        "person_id": "当事人编号", "stage": "环节", "accepted_on": "收案时间",
                        "charges": {"source": "涉嫌罪名", "split": "|"}, "decision": "结论",
                        "plea_leniency": "认罪"},
            "recode": {"stage": {"捕": "arrest_review", "诉": "prosecution_review"},
                       "decision": {"诉": "prosecute", "不诉": "non_prosecution"},
                       "plea_leniency": {"适用": True, "未适用": False}},
            "defaults": {"unit_code": "371329", "accepted_on": "2024-01-31"}}
    df, warnings = importer.read_export(path, mapping=spec)
    assert df["unit_code"].tolist() == ["371329", "371329"]
    assert df["stage"].tolist() == ["arrest_review", "prosecution_review"]
    assert df["decision"].tolist() == ["prosecute", "non_prosecution"]
    assert df["plea_leniency"].tolist() == [True, False]
    assert df["charges"].tolist() == [["盗窃", "诈骗"], ["诈骗"]]
    assert df["accepted_on"].tolist() == [pd.Timestamp("2024-01-02"), pd.Timestamp("2024-01-31")]
    assert warnings == []


def test_example_mapping_ships_and_parses():
    from casework.base import config

    m = mapping.load(config.RESOURCES_DIR / "mappings" / "example.yaml")
    assert m.table == "records" and m.columns["dept_case_no"] == "案件编号"
    assert m.recode["plea_leniency"]["适用"] is True


@pytest.mark.parametrize("spec, fragment", [
    ({"colums": {}}, "colums"),
    ({"columns": {"no_such_column": "x"}}, "no_such_column"),
    ({"split": {"charge": ";"}}, "charge"),
    ({"table": "journeys"}, "table"),
    ("not: [valid", "YAML"),
])
def test_bad_mapping_files(tmp_path, spec, fragment):
    if isinstance(spec, str):
        p = tmp_path / "m.yaml"
        p.write_text(spec, encoding="utf-8")
        spec = p
    with pytest.raises(ParameterError) as err:
        mapping.load(spec)
    assert fragment in str(err.value)


# ---------------------------------------------------------------------------------------------
# Errors and atomicity
# ---------------------------------------------------------------------------------------------


def test_missing_required_column(tmp_path):
    rows = [{k: v for k, v in base_row(1).items() if k != "受理日期"}]
    with pytest.raises(DataError) as err:
        importer.read_export(frame_csv(tmp_path / "m.csv", rows))
    assert "受理日期" in err.value.zh and "accepted_on" in err.value.en and "m.csv" in err.value.en


def test_empty_and_header_only(tmp_path):
    (tmp_path / "empty.csv").write_bytes(b"")
    with pytest.raises(DataError, match="empty"):
        importer.read_export(tmp_path / "empty.csv")
    write_csv(tmp_path / "head.csv", REQUIRED_HEADERS, [])
    with pytest.raises(DataError) as err:
        importer.read_export(tmp_path / "head.csv")
    assert "只有表头" in err.value.zh and "no data rows" in err.value.en


def test_nothing_written_when_any_file_fails(tmp_path, casework_home):
    good = frame_csv(tmp_path / "good.csv", [base_row(1), base_row(2)])
    bad = frame_csv(tmp_path / "bad.csv", [base_row(3, 受理日期="2024-02-31")])
    with pytest.raises(DataError):
        importer.import_files([good, bad])
    snaps = casework_home / "data" / "snapshots"
    assert not snaps.exists() or not [p for p in snaps.iterdir() if not p.name.startswith(".")]
    # duplicates across files are caught too
    dup = frame_csv(tmp_path / "dup.csv", [base_row(2)])
    with pytest.raises(DataError) as err:
        importer.import_files([good, dup])
    assert "good.csv" in err.value.en and "dup.csv" in err.value.en and "row 3" in err.value.en
    assert not snaps.exists() or not [p for p in snaps.iterdir() if not p.name.startswith(".")]


def test_import_files_writes_one_snapshot(tmp_path, casework_home):
    from casework import store

    path = frame_csv(tmp_path / "ok.csv", [base_row(1), base_row(2, 审结日期="2024-02-01")])
    digest = sha256(path)
    result = importer.import_files([path], account="analyst-1")
    assert sha256(path) == digest
    man = store.manifest()
    assert man["id"] == result["id"] and man["account"] == "analyst-1"
    assert man["row_counts"]["records"] == 2 and man["warnings"] == result["warnings"]
    assert len(result["warnings"]) == 1 and "row 3" in result["warnings"][0]


def test_blank_lines_count_in_row_numbers(tmp_path):
    text = (",".join(REQUIRED_HEADERS) + "\n" + "371329,A1,T1,审查逮捕,P1,盗窃,2024-05-06\n\n \n"
            + "371329,A2,T2,审查逮捕,P2,盗窃,2024-05-32\n\n")
    path = tmp_path / "blank.csv"
    path.write_bytes(text.encode("gb18030"))
    with pytest.raises(DataError) as err:
        importer.read_export(path)
    assert "row 5:" in err.value.en  # lines 3 and 4 are blank: the bad record is on line 5


def test_parallel_coercion_gives_the_same_frame(synth_dir, monkeypatch):
    path = synth_dir / "exports" / "审查起诉案件.csv"
    seq, w_seq = importer.read_export(path)
    monkeypatch.setattr(readers, "use_threads", lambda: True)
    monkeypatch.setattr(validation, "PARALLEL_MIN_ROWS", 0)
    par, w_par = importer.read_export(path)
    pd.testing.assert_frame_equal(seq, par)
    assert w_seq == w_par


def test_xlsx_title_rows_formulas_and_typed_cells(tmp_path):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "说明"
    ws.append(["本表为演示"])
    data = wb.create_sheet("案卡")
    data.append(["审查起诉案件信息表"])
    data.append([])
    data.append(REQUIRED_HEADERS + ["审结日期", "罚金（元）", "案件名称"])
    data.append(["371329", "A1", "T1", "审查起诉", "P1", "盗窃", dt.datetime(2024, 5, 3), 45420,
                 1500.0, "=HYPERLINK(\"http://x\")"])
    data.append([None] * 10)  # an empty row in the middle keeps its number
    data.append([371329, "A2", "T2", "审查起诉", "P2", "盗窃", "2024/5/4", None, "2,000",
                 "李某涉嫌盗窃案"])
    data.append(["371329", "A3", "T3", "审查起诉", "P3", "盗窃", "2024-02-30", None, None, None])
    path = tmp_path / "book.xlsx"
    wb.save(path)
    with pytest.raises(DataError) as err:
        importer.read_export(path)
    assert "row 7:" in err.value.en  # title row 1, blank row 2, header row 3, blank row 5
    data.delete_rows(7)
    wb.save(path)
    df, warnings = importer.read_export(path)
    assert df["unit_code"].tolist() == ["371329", "371329"]
    assert df["accepted_on"].tolist() == [pd.Timestamp("2024-05-03"), pd.Timestamp("2024-05-04")]
    assert df["closed_on"].iloc[0] == pd.Timestamp("2024-05-08")  # Excel serial 45420
    assert df["fine"].tolist() == [1500.0, 2000.0]
    # the formula text, never its value
    assert df["case_name"].iloc[0] == "=HYPERLINK(\"http://x\")"
    assert any("case_name: row 4" in w for w in warnings)


def test_tsv_with_title_and_mapped_headers(tmp_path):
    # only one header (罪名) is a built-in name: the header row is found through the mapping
    text = "本地导出\n" + "\t".join(["案件编号", "统一案号", "当事人编号", "环节", "收案时间",
                                     "罪名"]) + "\n" + \
        "\t".join(["A1", "T1", "P1", "审查逮捕", "2024-01-02", "诈骗"]) + "\n"
    path = tmp_path / "local.txt"
    path.write_bytes(text.encode("utf-8"))
    spec = {"columns": {"dept_case_no": "案件编号", "unified_case_no": "统一案号",
                        "person_id": "当事人编号", "stage": "环节",
                        "accepted_on": "收案时间"}, "defaults": {"unit_code": "371329"}}
    df, _ = importer.read_export(path, mapping=spec)
    assert df.loc[0, ["unit_code", "dept_case_no", "person_id", "stage", "charge"]].tolist() == \
        ["371329", "A1", "P1", "arrest_review", "诈骗"]


def test_gb18030_without_libc_iconv_reads_the_same(synth_dir, tmp_path, monkeypatch):
    """The fast path converts GB18030 with libc's iconv; Arrow's own transcoding must agree."""
    path = synth_dir / "exports" / "审查逮捕案件.csv"
    fast, _ = importer.read_export(path)
    monkeypatch.setattr(decoding, "_ICONV", False)
    slow, _ = importer.read_export(path)
    pd.testing.assert_frame_equal(fast, slow)
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(",".join(REQUIRED_HEADERS).encode("gb18030") + b"\n" +
                      "371329,A1,T1,审查逮捕,P1,盗窃,2024-05-06\n".encode("gb18030") +
                      "371329,A2,T2,审查逮捕,P2,盗窃罪,2024-05-06\n".encode())
    for iconv in (False, None):
        monkeypatch.setattr(decoding, "_ICONV", iconv)
        with pytest.raises(DataError) as err:
            importer.read_export(mixed)
        assert "line 3" in err.value.en


def test_small_junk_is_not_misreported_as_an_over_long_line(tmp_path):
    """A few bytes of junk behind a UTF-16 BOM once gave "a line is longer than 4 MB"."""
    path = tmp_path / "junk.csv"
    path.write_bytes(b'\xff\xfe\x00garbage"\x00\x01')
    with pytest.raises(DataError) as err:
        importer.read_export(path)
    text = str(err.value)
    assert "junk.csv" in text and "MB" not in text
    assert "二进制" in text and "binary" in text
