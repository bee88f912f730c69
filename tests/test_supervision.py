"""Supervision matters (issue 20): the table, the importer, the generator's planted gaps, the
detectors (blind: never told the planted unit, line or window), the indicators on tiny hand
fixtures, and the supervision_gaps report at both access levels."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casework import store, synth
from casework.analysis import findings, supervision
from casework.base.errors import DataError
from casework.ingest import importer, mapping
from casework.model import schema
from casework.run import report
from casework.synth import _supervision as synth_sup

#: Small planted / null data: five units, two years (the gap needs peers and a year before).
SMALL = dict(units=5, years=2, end="2024-06", persons=25000)
PERIOD = "2024-06"


@pytest.fixture(scope="module")
def planted():
    return synth.make(**SMALL, seed=1)


@pytest.fixture(scope="module")
def null():
    return synth.make(**SMALL, seed=1, null=True)


def _pattern(data, pid):
    (p,) = [p for p in data.truth["patterns"] if p["id"] == pid]
    return p


# ---------------------------------------------------------------------------------------------
# Indicators on tiny hand fixtures
# ---------------------------------------------------------------------------------------------


def _tiny():
    rows = [
        # unit A: 3 correction notices with results (2 corrected), 1 pending; 2 protests
        ("A", "investigation_supervision", "investigation_correction", "corrected"),
        ("A", "investigation_supervision", "investigation_correction", "corrected"),
        ("A", "execution_supervision", "execution_correction", "not_corrected"),
        ("A", "investigation_supervision", "investigation_correction", "pending"),
        ("A", "trial_supervision", "appeal_protest", "sentence_changed"),
        ("A", "trial_supervision", "retrial_protest", "upheld"),
        ("A", "case_filing_supervision", "notice_to_file", "adopted"),
        ("A", "case_filing_supervision", "request_reasons", "not_adopted"),
        ("A", "case_filing_supervision", "request_withdrawal", "adopted"),
        # unit B: one remanded protest, one suggestion adopted; no correction notices at all
        ("B", "trial_supervision", "appeal_protest", "remanded"),
        ("B", "procuratorial_suggestion", "suggestion", "adopted"),
        # outside the period: never counted
        ("B", "investigation_supervision", "investigation_correction", "not_corrected"),
    ]
    df = pd.DataFrame(rows, columns=["unit_code", "line", "kind", "result"])
    df["started_on"] = pd.Timestamp("2024-05-10")
    df.loc[len(df) - 1, "started_on"] = pd.Timestamp("2023-01-10")
    return df


def _value(t, unit, code):
    return t.loc[(t.unit_code == unit) & (t.indicator == code)].iloc[0]


def test_indicators_by_hand():
    t = supervision.indicator_table(_tiny(), start="2024-05-01", end="2024-05-31")
    a = _value(t, "A", "correction_adoption_rate")
    assert (a.numerator, a.denominator) == (2, 3) and a.value == pytest.approx(2 / 3)
    assert a.lower < 2 / 3 < a.upper
    assert _value(t, "A", "protest_change_rate").value == pytest.approx(0.5)
    assert _value(t, "B", "protest_change_rate").value == pytest.approx(1.0)
    assert _value(t, "A", "case_filing_supervision_adoption_rate").value == pytest.approx(2 / 3)
    assert _value(t, "B", "procuratorial_suggestion_adoption_rate").value == 1.0


def test_zero_denominators_give_no_value():
    t = supervision.indicator_table(_tiny(), start="2024-05-01", end="2024-05-31")
    b = _value(t, "B", "correction_adoption_rate")  # its only notice is outside the period
    assert b.denominator == 0 and np.isnan(b.value) and b.note == "分母为0"
    assert np.isnan(b.lower) and np.isnan(b.upper)
    empty = supervision.indicator_table(_tiny().iloc[:0], by=())
    assert empty["value"].isna().all() and (empty["note"] == "分母为0").all()


def test_rate_per_100_cases_uses_the_records_as_exposure():
    recs = pd.DataFrame({"unit_code": ["A"] * 300 + ["B"] * 50,
                         "stage": ["prosecution_review"] * 200 + ["arrest_review"] * 100
                         + ["prosecution_review"] * 50})
    t = supervision.indicator_table(_tiny(), start="2024-05-01", end="2024-05-31", records=recs)
    a = _value(t, "A", "case_filing_supervision_per_100")
    assert (a.numerator, a.denominator) == (3, 200) and a.value == pytest.approx(1.5)
    b = _value(t, "B", "case_filing_supervision_per_100")
    assert b.value == 0 and b.lower == 0 and b.upper > 0


# ---------------------------------------------------------------------------------------------
# Table, export and importer
# ---------------------------------------------------------------------------------------------


def test_schema_and_glossary_names():
    names = schema.column_names("supervision")
    assert {"unit_code", "line", "kind", "supervised_agency", "started_on", "result_on",
            "result", "linked_case_no"} <= set(names)
    assert schema.label("supervision_line", "case_filing_supervision") == "立案监督"
    assert schema.label("supervision_result", "remanded") == "发回重审"
    assert "matter_no" in schema.sensitive_columns("supervision", level="circulated")


def test_chinese_headers_map_without_configuration(tmp_path, casework_home):
    path = tmp_path / "监督.csv"
    path.write_bytes(("单位编码,承办单位,监督事项编号,承办部门,监督类型,监督方式,被监督单位,"
                      "监督日期,反馈日期,监督结果,关联统一受案号\n"
                      "930101,甲院,JD1,第一检察部,立案监督,通知立案,甲公安局,2024/5/3,"
                      "2024-06-01,采纳,T1\n"
                      "930101,甲院,JD2,第二检察部,审判监督,二审抗诉,甲法院,2024年5月7日,,"
                      "尚未反馈,T2\n").encode("gb18030"))
    assert mapping.detect_table(path.read_bytes().decode("gb18030").split("\n")[0]
                                .split(",")) == "supervision"
    result = importer.import_files([path], account="t")
    assert result["row_counts"]["supervision"] == 2
    got = store.read("supervision", purpose="test")
    assert got["line"].tolist() == ["case_filing_supervision", "trial_supervision"]
    assert got["kind"].tolist() == ["notice_to_file", "appeal_protest"]
    assert got["result"].tolist() == ["adopted", "pending"]
    assert str(got["started_on"].iloc[1].date()) == "2024-05-07"


def test_importer_rejects_a_supervision_export_without_its_line(tmp_path, casework_home):
    path = tmp_path / "监督.csv"
    path.write_bytes(("单位编码,监督事项编号,监督方式,被监督单位,监督日期\n"
                      "930101,JD1,通知立案,甲公安局,2024-05-03\n").encode("gb18030"))
    with pytest.raises(DataError) as err:
        importer.import_files([path], account="t")
    assert "监督类型" in err.value.zh or "line" in err.value.en


def test_older_snapshot_reads_as_empty_supervision(demo_home):
    got = store.read("supervision", purpose="test: older snapshot")
    assert len(got) == 0 and list(got.columns) == schema.column_names("supervision")


def test_generator_exports_import_through_the_real_importer(tmp_path, casework_home):
    s = synth.generate(tmp_path / "d", units=2, years=1, end="2024-06", persons=4000, seed=3)
    csv = tmp_path / "d" / "exports" / f"{synth_sup.EXPORT_FILE}.csv"
    assert str(csv) in s["files"] and s["supervision"] > 0
    assert csv.read_bytes()[:200].decode("gb18030").startswith("单位编码,承办单位,监督事项编号")
    result = importer.import_files(sorted((tmp_path / "d" / "exports").glob("*.csv")),
                                   account="t")
    assert result["row_counts"]["supervision"] == s["supervision"]


# ---------------------------------------------------------------------------------------------
# Generator: realistic volume, placement drawn from the seed, nothing planted with null
# ---------------------------------------------------------------------------------------------


def test_volume_follows_caseload_and_every_line_is_used(null):
    sup = null.supervision
    assert set(sup["line"]) == set(schema.CODE_TABLES["supervision_line"])
    pr = null.records[null.records["stage"] == "prosecution_review"]
    per_1000 = len(sup) / len(pr) * 1000
    assert 50 < per_1000 < 120
    assert null.truth["patterns"] == []


def test_placement_varies_with_the_seed():
    units = [{"unit_code": f"9301{i:02d}", "unit_name": f"院{i}"} for i in range(6)]
    placed = [synth_sup.place(units, seed=s, end="2024-12") for s in range(12)]
    assert len({p["gap"]["unit"] for p in placed}) >= 3
    assert len({p["gap"]["line"] for p in placed}) >= 3
    assert len({str(p["drop"]["start"]) for p in placed}) >= 3
    assert all(p["gap"]["unit"] != p["drop"]["unit"] for p in placed)


def test_planted_gap_is_absent_from_the_data(planted):
    gap = _pattern(planted, "supervision_gap")
    sup = planted.supervision
    mine = sup[(sup["unit_code"] == gap["entity_id"]) & (sup["line"] == gap["where"]["line"])]
    assert (mine["started_on"] < pd.Timestamp(gap["from"])).any()
    assert not (mine["started_on"] >= pd.Timestamp(gap["from"])).any()


# ---------------------------------------------------------------------------------------------
# Detectors, blind
# ---------------------------------------------------------------------------------------------


def _findings(data):
    sig = supervision.signals(data.supervision, data.records, period=PERIOD, months=12)
    return sig, findings.select(sig)


def test_blind_detection_names_the_planted_unit_and_line(planted):
    sig, sel = _findings(planted)
    assert len(sig) >= 5 * 6  # every unit x line tested, flagged or not
    f = sel[sel["status"] == "finding"]
    gap = _pattern(planted, "supervision_gap")
    hit = f[(f["entity_id"] == gap["entity_id"]) & (f["indicator"] == gap["indicator"])]
    assert len(hit) == 1 and hit["observed"].iloc[0] == 0
    drop = _pattern(planted, "correction_adoption_drop")
    hit = f[(f["entity_id"] == drop["entity_id"]) & (f["indicator"] == drop["indicator"])]
    assert len(hit) == 1 and hit["direction"].iloc[0] == "unfavourable"
    assert len(f) <= 3  # little else


def test_blind_detection_finds_nothing_on_null_data(null):
    sig, sel = _findings(null)
    assert (sel["status"] != "finding").all(), sel.loc[sel.status == "finding", "entity_id"]
    assert sig["p_value"].notna().sum() > 30


# ---------------------------------------------------------------------------------------------
# The report, end to end (planted / null, internal / circulated)
# ---------------------------------------------------------------------------------------------


def _home(tmp_path_factory, data, name):
    home = tmp_path_factory.mktemp(name)
    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(home)
    try:
        store.write_snapshot({"records": data.records, "modifications": data.modifications,
                              "supervision": data.supervision}, account="fixture")
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    return home


def _run(home, level, tmp_path, monkeypatch):
    monkeypatch.setenv("CASEWORK_HOME", str(home))
    report.ensure_kernel(install=True)
    res = report.run("supervision_gaps", period=PERIOD, unit="all", level=level,
                     reports_dir=tmp_path)
    assert res.ok, res.describe()
    html = Path(res.html)
    folder = html.with_name(html.stem + "_files")
    doc = json.loads((folder / "findings.json").read_text(encoding="utf-8"))
    text = re.sub(r"<[^>]+>", " ", html.read_text(encoding="utf-8"))
    return doc, text, folder


def test_report_names_the_planted_unit_and_line(planted, tmp_path_factory, tmp_path,
                                                monkeypatch):
    home = _home(tmp_path_factory, planted, "sup_planted")
    doc, text, folder = _run(home, "internal", tmp_path, monkeypatch)
    gap = _pattern(planted, "supervision_gap")
    line_zh = gap["effect"]["line_zh"]
    assert any(f["entity_id"] == gap["entity_id"] and f["indicator"] == gap["indicator"]
               for f in doc["findings"])
    assert f"{gap['entity_name']} 近12个月未开展{line_zh}（按案件量预期约" in text
    drop = _pattern(planted, "correction_adoption_drop")
    assert any(f["entity_id"] == drop["entity_id"] for f in doc["findings"])
    assert (folder / "follow_up.xlsx").exists() and (folder / "heatmap.png").exists()
    # circulated: the same findings, no matter numbers or linked case numbers anywhere
    doc_c, text_c, folder_c = _run(home, "circulated", tmp_path / "c", monkeypatch)
    assert [f["entity_id"] for f in doc_c["findings"]] == [f["entity_id"]
                                                           for f in doc["findings"]]
    assert not (folder_c / "follow_up.xlsx").exists()
    shown = text_c + " ".join(p.read_text(encoding="utf-8-sig") for p in folder_c.glob("*.csv"))
    for secret in planted.supervision["matter_no"].head(50):
        assert secret not in shown
    for secret in planted.supervision["linked_case_no"].dropna().head(50):
        assert secret not in shown


def test_report_names_nothing_on_null_data(null, tmp_path_factory, tmp_path, monkeypatch):
    home = _home(tmp_path_factory, null, "sup_null")
    doc, text, _ = _run(home, "internal", tmp_path, monkeypatch)
    assert doc["findings"] == []
    assert "本期未发现需关注的问题" in text and "未开展" not in text


def test_single_unit_data_still_sees_its_own_gap(planted):
    """A unit-level report loads one unit (no peers): the change against its own past."""
    gap = _pattern(planted, "supervision_gap")
    unit = gap["entity_id"]
    sup = planted.supervision[planted.supervision["unit_code"] == unit]
    recs = planted.records[planted.records["unit_code"] == unit]
    sig = supervision.signals(sup, recs, period=PERIOD, months=12)
    assert sig.loc[sig.detector == "supervision_volume", "p_value"].isna().all()  # no peers
    sel = findings.select(sig)
    f = sel[sel["status"] == "finding"]
    assert gap["indicator"] in set(f["indicator"])


def test_importer_errors_and_warnings_on_supervision(tmp_path, casework_home):
    head = "单位编码,监督事项编号,监督类型,监督方式,被监督单位,监督日期,反馈日期,监督结果\n"
    dup = tmp_path / "重复.csv"
    dup.write_bytes((head + "930101,JD1,立案监督,通知立案,甲局,2024-05-03,,采纳\n"
                     "930101,JD1,立案监督,通知立案,甲局,2024-05-04,,采纳\n").encode("gb18030"))
    with pytest.raises(DataError) as err:
        importer.import_files([dup], account="t")
    assert "第 2、3 行" in err.value.zh and "监督事项编号" in err.value.zh
    odd = tmp_path / "存疑.csv"
    odd.write_bytes((head + "930101,JD1,审判监督,二审抗诉,甲院,2024-05-03,2024-04-01,纠正\n"
                     ).encode("gb18030"))
    result = importer.import_files([odd], account="t")
    text = " ".join(result["warnings"])
    assert "反馈日期早于监督日期" in text and "监督结果与监督方式不符" in text
    assert result["row_counts"]["supervision"] == 1
