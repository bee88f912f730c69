"""The findings step (issue 13): report-wide error control, persistence, hierarchy
de-duplication, ranking, sentences and findings.json."""

from __future__ import annotations

import json
import re
import types

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.multitest import multipletests

from casework.analysis import findings, periods, signals
from casework.base.errors import ParameterError
from casework.notebook import findings as nb_findings
from casework.present import findings_text, privacy

IND, IND_ZH = "post_arrest_bail_rate", "捕后取保候审率"


def _sig(entity_type, entity_id, p, *, name=None, indicator=IND, direction="unfavourable",
         detector="bail", **kw):
    row = dict(detector=detector, entity_type=entity_type, entity_id=entity_id,
               entity_name=name or entity_id.replace("/", ""), indicator=indicator,
               indicator_name=IND_ZH if indicator == IND else "某率", direction=direction,
               p_value=p)
    row.update(kw)
    return row


def _nulls(rng, m, *, prefix="u"):
    return [_sig("unit", f"{prefix}{i:04d}", float(rng.uniform()), indicator="x")
            for i in range(m)]


def _status(out, eid):
    return out.set_index("entity_id").loc[eid, "status"]


# --------------------------------------------------------------------------------------------
# Benjamini–Hochberg and error control
# --------------------------------------------------------------------------------------------


def test_bh_matches_statsmodels():
    rng = np.random.default_rng(0)
    for m in (1, 2, 7, 50, 500):
        p = np.concatenate([rng.uniform(size=m), rng.uniform(0, 0.01, size=m // 5)])
        ref = multipletests(p, alpha=0.05, method="fdr_bh")[1]
        assert np.allclose(findings.bh(p), ref)
    p = np.array([0.01, np.nan, 0.2, 0.003])
    q = findings.bh(p)
    assert np.isnan(q[1])
    assert np.allclose(q[[0, 2, 3]], multipletests(p[[0, 2, 3]], method="fdr_bh")[1])


def test_select_q_values_match_statsmodels_and_untestable_rows_do_not_count():
    rng = np.random.default_rng(1)
    rows = _nulls(rng, 60) + [_sig("unit", "z1", float("nan"), indicator="x")]
    out = findings.select(signals.frame(rows))
    tested = out[out["p_value"].notna()]
    ref = multipletests(tested["p_value"], method="fdr_bh")[1]
    assert np.allclose(tested["q_value"], ref)
    assert findings.n_tests(out) == 60
    assert _status(out, "z1") == "none" and np.isnan(out.set_index("entity_id").loc["z1",
                                                                                  "q_value"])


def test_complete_null_bh_rarely_names_anything():
    """2,000 null families of 200 tests: P(any rejection) ≤ q (+ simulation tolerance)."""
    rng = np.random.default_rng(2026)
    fam, m, q = 2000, 200, 0.05
    any_hit = sum(bool((findings.bh(rng.uniform(size=m)) <= q).any()) for _ in range(fam))
    tol = 3 * np.sqrt(q * (1 - q) / fam)
    assert any_hit / fam <= q + tol


def test_complete_null_select_with_hierarchies_and_monthly_rows():
    """The full step on null reports (hierarchies, monthly signals, two detectors): never
    more findings than BH rejections, and a report with any finding at most ~q of the time."""
    rng = np.random.default_rng(7)
    fam, q = 100, 0.05
    hits = 0
    for _ in range(fam):
        rows = []
        for a in range(3):
            rows.append(_sig("agency", f"局{a}", float(rng.uniform()), within="930104"))
            for s in range(8):
                rows.append(_sig("station", f"局{a}/所{s}", float(rng.uniform()),
                                 within="930104", start_month="2026-01",
                                 months_signalling=int(rng.integers(0, 4))))
        rows.append(_sig("unit", "930104", float(rng.uniform())))
        rows.append(_sig("all", "all", float(rng.uniform())))
        rows += _nulls(rng, 40)
        out = findings.select(signals.frame(rows), q=q)
        n_find = int((out["status"] == "finding").sum())
        assert n_find <= int((findings.bh(out["p_value"]) <= q).sum())
        hits += n_find > 0
    assert hits / fam <= q + 3 * np.sqrt(q * (1 - q) / fam)


def test_planted_strong_signal_among_nulls_is_found_first():
    rng = np.random.default_rng(5)
    rows = _nulls(rng, 300) + [_sig("station", "青山分局/和平派出所", 1e-9,
                                    name="江州市公安局青山分局和平派出所", effect=0.3)]
    out = findings.select(signals.frame(rows))
    top = out.iloc[0]
    assert top["entity_id"] == "青山分局/和平派出所" and top["status"] == "finding"
    assert top["rank"] == 1


def test_weak_means_nominal_but_not_passing():
    rng = np.random.default_rng(6)
    rows = _nulls(rng, 200) + [_sig("unit", "w1", 0.01, indicator="x")]
    out = findings.select(signals.frame(rows))
    assert _status(out, "w1") == "weak"
    assert (out.loc[out["p_value"] >= 0.05, "status"] == "none").all()


# --------------------------------------------------------------------------------------------
# hierarchy de-duplication
# --------------------------------------------------------------------------------------------


def test_station_is_the_finding_bureau_procuratorate_and_office_are_context():
    rows = [_sig("station", "青山分局/和平派出所", 1e-8, within="930104"),
            _sig("agency", "青山分局", 1e-6, within="930104"),
            _sig("unit", "930104", 1e-4),
            _sig("all", "all", 1e-3),
            _sig("unit", "930105", 0.6)]
    out = findings.select(signals.frame(rows)).set_index("entity_id")
    assert out.loc["青山分局/和平派出所", "status"] == "finding"
    for eid in ("青山分局", "930104", "all"):
        assert out.loc[eid, "status"] == "context", eid
        assert out.loc[eid, "context_for"] == "青山分局/和平派出所"
    assert out.loc["930105", "status"] == "none"
    assert (out["status"] == "finding").sum() == 1


def test_bureau_is_the_finding_when_no_station_passes():
    rng = np.random.default_rng(8)
    rows = [_sig("agency", "青山分局", 1e-8),
            _sig("station", "青山分局/和平派出所", 0.02),
            _sig("station", "青山分局/桂花派出所", 0.7)] + _nulls(rng, 100)
    out = findings.select(signals.frame(rows)).set_index("entity_id")
    assert out.loc["青山分局", "status"] == "finding"
    assert out.loc["青山分局/和平派出所", "status"] == "context"
    assert out.loc["青山分局/和平派出所", "context_for"] == "青山分局"
    assert out.loc["青山分局/桂花派出所", "status"] == "none"


def test_other_indicator_direction_or_branch_stays_separate():
    rows = [_sig("station", "青山分局/和平派出所", 1e-8),
            _sig("agency", "青山分局", 1e-7, direction="favourable"),
            _sig("agency", "东湖分局", 1e-7),
            _sig("department", "930104/第二检察部", 1e-7, indicator="x"),
            _sig("unit", "930104", 1e-7, indicator="x", detector="funnel")]
    out = findings.select(signals.frame(rows)).set_index("entity_id")
    assert out.loc["青山分局", "status"] == "finding"  # opposite direction: its own finding
    assert out.loc["东湖分局", "status"] == "finding"  # another bureau
    assert out.loc["930104/第二检察部", "status"] == "finding"
    assert out.loc["930104", "status"] == "context"
    assert out.loc["930104", "context_for"] == "930104/第二检察部"


def test_two_stations_of_one_bureau_are_both_findings_and_same_entity_twice_is_context():
    rows = [_sig("station", "青山分局/和平派出所", 1e-9),
            _sig("station", "青山分局/桂花派出所", 1e-7),
            _sig("station", "青山分局/和平派出所", 1e-5, detector="cusum"),
            _sig("agency", "青山分局", 1e-8)]
    out = findings.select(signals.frame(rows))
    f = out[out["status"] == "finding"]
    assert sorted(f["entity_id"]) == ["青山分局/和平派出所", "青山分局/桂花派出所"]
    assert f["detector"].tolist() == ["bail", "bail"]
    ctx = out[out["status"] == "context"].set_index("detector")
    assert ctx.loc["cusum", "context_for"] == "青山分局/和平派出所"
    assert ctx.loc["bail", "entity_id"] == "青山分局"


def test_charge_and_its_group():
    rows = [_sig("charge", "charge/诈骗", 1e-9, indicator="volume"),
            _sig("charge_group", "charge_group/property", 1e-6, indicator="volume",
                 name="侵犯财产罪")]
    out = findings.select(signals.frame(rows)).set_index("entity_id")
    assert out.loc["charge/诈骗", "status"] == "finding"
    assert out.loc["charge_group/property", "status"] == "context"


# --------------------------------------------------------------------------------------------
# persistence, direction, ranking, parameters
# --------------------------------------------------------------------------------------------


def test_monthly_signals_need_persistence():
    rows = [_sig("station", "甲/乙", 1e-9, start_month="2026-10", months_signalling=1),
            _sig("station", "甲/丙", 1e-9, start_month="2026-09", months_signalling=2),
            _sig("unit", "930104", 1e-9, indicator="x")]  # not monthly: no persistence asked
    out = findings.select(signals.frame(rows)).set_index("entity_id")
    assert out.loc["甲/乙", "status"] == "weak"
    assert out.loc["甲/丙", "status"] == "finding"
    assert out.loc["930104", "status"] == "finding"
    out1 = findings.select(signals.frame(rows), min_months=1).set_index("entity_id")
    assert out1.loc["甲/乙", "status"] == "finding"


def test_favourable_findings_are_kept_but_are_not_problems():
    rows = [_sig("unit", "930104", 1e-9, direction="favourable"),
            _sig("unit", "930105", 1e-8)]
    out = findings.select(signals.frame(rows))
    assert (out["status"] == "finding").sum() == 2
    assert findings.problems(out)["entity_id"].tolist() == ["930105"]
    assert findings_text.sentences(out, problems_only=True) == [
        findings_text.sentence(out.set_index("entity_id").loc["930105"])]


def test_ranking_by_q_then_p_then_effect():
    rows = [_sig("unit", "a", 1e-3, effect=0.01), _sig("unit", "b", 1e-6, effect=0.01),
            _sig("unit", "c", 1e-3, effect=-0.5, indicator="y"),
            _sig("unit", "d", 1e-3, effect=0.2, indicator="z")]
    out = findings.select(signals.frame(rows))
    f = out[out["status"] == "finding"]
    assert f["entity_id"].tolist() == ["b", "c", "d", "a"]
    assert f["rank"].tolist() == [1, 2, 3, 4]
    assert out["rank"].isna().sum() == len(out) - len(f)


def test_select_accepts_a_list_and_checks_parameters():
    a = signals.frame([_sig("unit", "a", 0.5)])
    b = signals.frame([_sig("unit", "a", 0.5, detector="funnel")])
    assert len(findings.select([a, b])) == 2
    with pytest.raises(ParameterError):
        findings.select(a, q=1.5)
    with pytest.raises(ParameterError):
        findings.select(a, min_months=-1)
    empty = findings.select(signals.empty())
    assert len(empty) == 0 and {"q_value", "status", "rank", "context_for"} <= set(empty.columns)


# --------------------------------------------------------------------------------------------
# sentences
# --------------------------------------------------------------------------------------------

_JARGON = re.compile(r"[Pp]值|q值|显著|检验|控制限|置信|CUSUM|FDR|σ|漏斗")


def test_sentence_plain_words_dates_and_percentages():
    row = _sig("station", "江州市公安局青山分局/和平派出所", 1e-9,
               name="江州市公安局青山分局和平派出所", start_month="2026-03",
               months_signalling=6, latest_value=0.353, baseline=0.038, effect=0.315,
               effect_lower=0.2, effect_upper=0.43)
    text = findings_text.sentence(row)
    assert text.startswith("江州市公安局青山分局和平派出所捕后取保候审率自2026年3月起明显上升")
    assert "近6个月为35.3%" in text and "此前为3.8%" in text and "+31.5个百分点" in text
    assert "95%区间为+20.0至+43.0个百分点" in text
    assert not _JARGON.search(text)
    down = findings_text.sentence({**row, "effect": -0.1, "effect_lower": -0.2,
                                   "effect_upper": -0.05, "latest_value": 0.1,
                                   "baseline": 0.2})
    assert "明显下降" in down and "-10.0个百分点" in down


def test_no_findings_sentence_and_table_labels():
    rng = np.random.default_rng(9)
    out = findings.select(signals.frame(_nulls(rng, 30) + [_sig("unit", "w", 0.01)]))
    out = out.assign(status=out["status"].replace("finding", "none"))
    assert findings_text.bullets(out) == "本期未发现需关注的问题。"
    table = findings_text.signal_table(out)
    assert len(table) == len(out)
    assert set(table["状态"]) <= {"发现", "背景", "提示（未达显著）", "—"}
    assert "提示（未达显著）" in set(table["状态"])


# --------------------------------------------------------------------------------------------
# findings.json via report_findings
# --------------------------------------------------------------------------------------------


def _params(tmp_path, level="internal"):
    return types.SimpleNamespace(template="post_arrest_bail", title_zh="捕后取保候审监测",
                                 period=periods.parse("2026-10"), unit="all",
                                 unit_label="全部单位", level=level, snapshot="snap-1",
                                 output_dir=tmp_path / "out_files")


def _report_signals(rng):
    bail = signals.frame([
        _sig("station", "江州市公安局青山分局/和平派出所", 1e-9,
             name="江州市公安局青山分局和平派出所", start_month="2026-03", months_signalling=6,
             latest_value=0.353, baseline=0.038, effect=0.315, effect_lower=0.2,
             effect_upper=0.43, n=34, within="930104", section="stations"),
        _sig("agency", "江州市公安局青山分局", 1e-5, name="江州市公安局青山分局",
             within="930104", section="stations"),
    ])
    prof = signals.frame([
        _sig("prosecutor", "930104/第二检察部/930104101", 1e-8, detector="profile",
             name="江州市江滨区人民检察院第二检察部检察官曾杰东", indicator="days",
             latest_value=50.0, baseline=30.0, effect=20.0, kind="mean", unit_zh="天",
             section="profiles"),
    ])
    return [bail, prof, signals.frame(_nulls(rng, 100))]


def test_report_findings_writes_findings_json(tmp_path):
    P = _params(tmp_path)
    frame = nb_findings.report_findings(P, _report_signals(np.random.default_rng(1)),
                                        section_titles={"stations": "派出所监测"})
    path = P.output_dir / "findings.json"
    raw = path.read_text(encoding="utf-8")
    assert "和平派出所" in raw  # ensure_ascii=False
    doc = json.loads(raw)
    assert doc["template"] == "post_arrest_bail" and doc["period"] == "2026-10"
    assert doc["level"] == "internal" and doc["snapshot"] == "snap-1"
    assert doc["n_tests"] == 103 and doc["q"] == 0.05
    assert doc["weak_count"] == int((frame["status"] == "weak").sum())
    f = frame[frame["status"] == "finding"].sort_values("rank")
    assert [x["entity_id"] for x in doc["findings"]] == f["entity_id"].tolist()
    assert [x["rank"] for x in doc["findings"]] == list(range(1, len(f) + 1))
    first = next(x for x in doc["findings"] if x["section"] == "stations")
    assert first["entity_name"] == "江州市公安局青山分局和平派出所"
    assert first["start_month"] == "2026-03" and first["months_signalling"] == 6
    assert first["section_title"] == "派出所监测"
    assert first["sentence"].startswith("江州市公安局青山分局和平派出所"
                                        "捕后取保候审率自2026年3月起")
    assert set(nb_findings.FINDING_FIELDS) <= set(first)
    assert "江州市公安局青山分局" not in [x["entity_id"] for x in doc["findings"]]
    assert [p.name for p in P.output_dir.iterdir()] == ["findings.json"]  # no temp file left
    md = nb_findings.findings_bullets(frame)
    assert md.count("\n- ") + 1 == len(f) and md.startswith("- ")


def test_report_findings_circulated_uses_the_report_pseudonyms(tmp_path):
    privacy.reset_pseudonyms()
    P = _params(tmp_path, level="circulated")
    frame = nb_findings.report_findings(P, _report_signals(np.random.default_rng(1)))
    raw = (P.output_dir / "findings.json").read_text(encoding="utf-8")
    assert "曾杰东" not in raw and "930104101" not in raw
    assert "曾杰东" not in "".join(frame["sentence"]) + "".join(frame["entity_name"])
    # the same prosecutor in a table of the same report gets the same letter
    table = privacy.sanitize_frame(pd.DataFrame({"prosecutor_name": ["曾杰东"]}),
                                   level="circulated")
    letter = table["prosecutor_name"].iloc[0]
    assert f"江州市江滨区人民检察院第二检察部{letter}" in raw
    assert "江州市公安局青山分局和平派出所" in raw  # agencies and stations are not hidden
