"""Judgment-only data: the public criminal judgment corpus shape (nested JSON Lines) imports
through ``resources/mappings/judgment_corpus.yaml`` and both topic analyses and templates run
on it, skipping what the corpus cannot support."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from casework.analysis.topics import recurring, sentencing, sentencing_models
from casework.base import config
from casework.present import recurring_text

MAPPING = config.RESOURCES_DIR / "mappings" / "judgment_corpus.yaml"

CHARGES = ["盗窃", "诈骗", "[走私、贩卖、运输、制造]毒品", "故意伤害", "危险驾驶"]
FACTS = {
    "盗窃": "被告人{n}趁夜入户盗窃，窃得手机一部、现金若干。",
    "诈骗": "被告人{n}冒充客服以刷单返利为名骗取被害人钱款。",
    "[走私、贩卖、运输、制造]毒品": "被告人{n}通过微信联系买家贩卖甲基苯丙胺。",
    "故意伤害": "被告人{n}因琐事持械将被害人打成轻伤二级。",
    "危险驾驶": "被告人{n}醉酒驾驶机动车，血液酒精含量超标。",
    "容留他人吸毒": "被告人{n}在其住处容留他人吸食毒品。",
    "故意杀人": "被告人{n}持刀故意杀人致被害人死亡。",
}


def corpus_rows(n: int = 80, seed: int = 4) -> list[dict]:
    """Judgments in the corpus shape: multi-charge rows, death and life sentences, fine only."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        charge = CHARGES[i % len(CHARGES)]
        months = int(rng.integers(6, 60)) if charge != "危险驾驶" else int(rng.integers(1, 6))
        rows.append({"accusation": [charge], "money": int(rng.integers(1, 20)) * 1000,
                     "imprisonment": months, "death": False, "life": False})
    # several charges in one judgment
    rows[1]["accusation"] = ["诈骗", "盗窃"]
    rows[2]["accusation"] = ["[走私、贩卖、运输、制造]毒品", "容留他人吸毒"]
    rows[7]["accusation"] = ["[走私、贩卖、运输、制造]毒品", "容留他人吸毒"]
    # death and life sentences (the corpus writes 0 months there)
    rows[12].update(accusation=["[走私、贩卖、运输、制造]毒品"], imprisonment=0, death=True)
    rows[13].update(accusation=["故意杀人"], imprisonment=0, death=True, money=0)
    rows[14].update(accusation=["故意杀人", "盗窃"], imprisonment=0, life=True, money=0)
    # a fine only
    rows[20].update(accusation=["盗窃"], imprisonment=0, money=2000)
    out = []
    for i, r in enumerate(rows):
        first = r["accusation"][0]
        out.append({
            "fact": FACTS[first].format(n=f"甲{i}某"),
            "meta": {
                "relevant_articles": [264],
                "accusation": r["accusation"],
                "punish_of_money": r["money"],
                "criminals": [f"甲{i}某"],
                "term_of_imprisonment": {"imprisonment": r["imprisonment"],
                                         "death_penalty": r["death"],
                                         "life_imprisonment": r["life"]},
            },
        })
    return out


def write_corpus(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def _plain(name: str) -> str:
    """The plain charge name, written out here independently of the library."""
    return re.sub(r"[\[\]]", "", name)


def expected_counts(rows: list[dict]) -> Counter:
    """Persons per charge, a multi-charge judgment counting once for each of its charges."""
    return Counter(_plain(c) for r in rows for c in dict.fromkeys(r["meta"]["accusation"]))


@pytest.fixture
def corpus(tmp_path):
    rows = corpus_rows()
    return rows, write_corpus(tmp_path / "cail_sample.json", rows)


@pytest.fixture
def imported(corpus, casework_home):
    """The corpus imported into an empty store through the shipped mapping."""
    from casework import store
    from casework.ingest import importer

    rows, path = corpus
    result = importer.import_files([path], mapping=MAPPING)
    records = store.read("records", purpose="测试：判决书语料导入")
    return rows, records, result


def test_import_through_the_mapping(imported):
    rows, records, _ = imported
    assert len(records) == len(rows)
    assert set(records["stage"]) == {"judgment"}
    assert records["accepted_on"].isna().all()          # the corpus has no dates
    assert records["recommendation_adopted"].isna().all()
    # bracketed alternatives are the plain charge of the charge table
    assert "走私、贩卖、运输、制造毒品" in set(records["charge"])
    assert records["death_penalty"].fillna(False).sum() == 2
    assert records["life_imprisonment"].fillna(False).sum() == 1
    assert records["person_name"].isna().all()          # names in meta.criminals are not imported


def test_sentencing_on_imported_corpus(imported):
    rows, records, _ = imported
    j = sentencing.judgments(records, period="2024")
    assert len(j) == len(rows)
    assert j.attrs["notes_zh"]  # no dates: the period could not be applied
    mix = sentencing.penalty_mix(j)
    per_charge = mix[mix["charge"] != "合计"].groupby("charge")["n"].sum()
    assert per_charge.to_dict() == dict(expected_counts(rows))
    total = mix[mix["charge"] == "合计"].set_index("band")["n"]
    assert total["death"] == 2 and total["life"] == 1 and total["fine_only"] == 1
    assert total.sum() == len(rows)
    # the 故意杀人 + 盗窃 life sentence counts under both charges
    murder = mix[mix["charge"] == "故意杀人"].set_index("band")["n"].to_dict()
    assert murder == {"life": 1, "death": 1}
    assert mix[(mix["charge"] == "盗窃") & (mix["band"] == "life")]["n"].tolist() == [1]
    av = sentencing.availability(j)
    assert av["recommendation"] and av["probation"] and av["period"]
    assert av["mix"] is None and av["fines"] is None
    assert sentencing.recommendation_adoption(j, by=None)["denominator"].tolist() == [0]
    # charges are the only covariate: with 16 persons per charge the model needs min_n ≤ 16
    assert "自变量" in sentencing_models.term_model(j, min_n=20).attrs["skip_zh"]
    tm = sentencing_models.term_model(j, min_n=10)
    assert "plea_leniency" not in set(tm["term"]) and tm["term"].str.startswith("charge:").any()


def test_recurring_on_imported_corpus(imported):
    rows, records, _ = imported
    r = recurring.characteristics(records, charges="[走私、贩卖、运输、制造]毒品", period="2024")
    expected = sum(1 for x in rows if "[走私、贩卖、运输、制造]毒品" in x["meta"]["accusation"])
    assert r.persons == expected and r.all_persons == len(rows)
    assert {"trend", "profile", "timing", "places", "stations"} <= set(r.skipped)
    assert "甲基苯丙胺" in set(r.keywords["term"])
    assert recurring_text.narrative(r)


def test_analyses_on_the_corpus_shape_flattened_by_hand():
    """The same analyses on the corpus shape built here without the importer."""
    rows = corpus_rows()
    flat = pd.json_normalize(rows)
    df = pd.DataFrame({
        "stage": "judgment",
        "charges": flat["meta.accusation"],
        "fine": flat["meta.punish_of_money"].astype(float),
        "term_months": flat["meta.term_of_imprisonment.imprisonment"].astype(float),
        "death_penalty": flat["meta.term_of_imprisonment.death_penalty"],
        "life_imprisonment": flat["meta.term_of_imprisonment.life_imprisonment"],
        "case_summary": flat["fact"],
    })
    mix = sentencing.penalty_mix(df)
    per_charge = mix[mix["charge"] != "合计"].groupby("charge")["n"].sum()
    assert per_charge.to_dict() == dict(expected_counts(rows))
    total = mix[mix["charge"] == "合计"].set_index("band")["n"]
    assert (total["death"], total["life"], total["fine_only"]) == (2, 1, 1)
    med = sentencing.median_terms(df).set_index("charge")["median"]
    drink = [r["meta"]["term_of_imprisonment"]["imprisonment"] for r in rows
             if r["meta"]["accusation"] == ["危险驾驶"]]
    assert med["危险驾驶"] == pytest.approx(float(np.median(drink)))
    r = recurring.characteristics(df, charges="走私、贩卖、运输、制造毒品")
    assert r.persons == sum(1 for x in rows
                            if "[走私、贩卖、运输、制造]毒品" in x["meta"]["accusation"])


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("template", ["topic_recurring", "topic_sentencing"])
def test_templates_run_on_the_corpus(imported, template, tmp_path):
    from casework.run import report

    report.ensure_kernel(install=True)
    params = {"charges": ["[走私、贩卖、运输、制造]毒品"]} if template == "topic_recurring" else {}
    res = report.run(template, period="2024", unit="all", params=params, reports_dir=tmp_path)
    assert res.ok, res.describe()
    html = Path(res.html).read_text(encoding="utf-8")
    assert "本节略" in html                      # absent sections say why
    assert "Traceback" not in html and "Error" not in html
    files = Path(res.html).with_name(Path(res.html).stem + "_files")
    if template == "topic_sentencing":
        assert "数据中没有量刑建议" in html
        mix = pd.read_csv(files / "penalty_mix_total.csv")
        assert {"死刑", "无期徒刑"} <= set(mix.iloc[:, 0])
    else:
        assert "数据中没有受理日期" in html
        assert (files / "keywords.csv").exists()


# ---------------------------------------------------------------------------------------------
# Issue 14: every record counted, every charge grouped
# ---------------------------------------------------------------------------------------------

#: Charges outside the 26 of the old charge table, as a corpus writes them.
NEW_CHARGES = ["滥用职权", "玩忽职守", "非法经营", "[窝藏、转移、隐瞒]毒品、毒赃",
               "组织他人偷越国（边）境", "[伪造、变造、买卖]国家机关[公文、证件、印章]",
               "贩卖毒品", "拒不支付劳动报酬"]


def issue14_frame() -> pd.DataFrame:
    """Judgment-only rows: zero term and no fine, charges outside the old table, six-month
    危险驾驶 (alone and with another charge), multi-charge persons, an unlisted name, a row with
    nothing known and a row without charge."""
    rows = []
    for i, c in enumerate(NEW_CHARGES * 3):
        rows.append({"charges": [c], "term_months": float(6 + 5 * i), "fine": 1000.0})
    rows += [{"charges": ["盗窃"], "term_months": 0.0, "fine": 0.0}] * 3       # 免予（推断）
    rows += [{"charges": ["滥用职权"], "term_months": 0.0, "fine": None}] * 2
    rows += [{"charges": ["危险驾驶"], "term_months": 6.0, "fine": 3000.0}] * 4   # 拘役
    rows += [{"charges": ["危险驾驶"], "term_months": 4.0, "fine": 2000.0}] * 3
    rows += [{"charges": ["危险驾驶", "交通肇事"], "term_months": 6.0, "fine": 0.0}]  # ambiguous
    rows += [{"charges": ["盗窃"], "term_months": 6.0, "fine": 1000.0}] * 2        # ambiguous
    rows += [{"charges": ["诈骗", "盗窃", "诈骗"], "term_months": 30.0, "fine": 5000.0}] * 2
    rows += [{"charges": ["投机倒把"], "term_months": 12.0, "fine": None}]           # unlisted
    rows += [{"charges": ["盗窃"], "term_months": None, "fine": None}]              # unknown
    rows += [{"charges": [], "term_months": 10.0, "fine": None}]                    # no charge
    df = pd.DataFrame(rows)
    df.insert(0, "stage", "judgment")
    df["death_penalty"] = False
    df["life_imprisonment"] = False
    return df


def _per_charge_rows(df: pd.DataFrame) -> int:
    return sum(max(1, len(dict.fromkeys(c))) for c in df["charges"])


def test_issue14_every_record_counted_and_every_charge_grouped():
    from casework.model import charges as charge_table

    df = issue14_frame()
    n = len(df)
    j = sentencing.judgments(df)
    assert len(j) == n
    # every listed charge has a group; the unlisted one is 其他, the empty row 罪名未填
    groups = {c: charge_table.group_of(c) for lst in df["charges"] for c in lst}
    assert all(g not in ("other", "unknown") for c, g in groups.items() if c != "投机倒把")
    assert groups["投机倒把"] == "other" and groups["滥用职权"] == "duty"
    assert groups["贩卖毒品"] == groups["[窝藏、转移、隐瞒]毒品、毒赃"] == "drugs"
    notes = " ".join(j.attrs["notes_zh"])
    assert "投机倒把" in notes and "免予刑事处罚" in notes and "六个月" in notes

    mix = sentencing.penalty_mix(j)
    total = mix[mix["charge"] == "合计"].set_index("band")["n"]
    assert total.sum() == n                                      # 合计 = the row count
    assert mix[mix["charge"] != "合计"]["n"].sum() == _per_charge_rows(df)
    assert total["exempted_inferred"] == 5 and total["unknown"] == 1
    # six months: 2 盗窃, 危险驾驶+交通肇事, the first 滥用职权
    assert total["six_months"] == 4
    drink = mix[mix["charge"] == "危险驾驶"].set_index("band")["n"].to_dict()
    assert drink == {"criminal_detention": 7, "six_months": 1}
    assert "未知" in set(mix["charge"])                            # the row without a charge

    by_group = sentencing.penalty_mix(j, by="charge_group")
    assert by_group[by_group["charge_group"] == "合计"]["n"].sum() == n
    per_group = by_group[by_group["charge_group"] != "合计"].groupby("charge_group")["n"].sum()
    assert per_group["other"] == 1 and per_group["unknown"] == 1 and per_group["duty"] == 3 + 3 + 2
    assert sentencing.penalty_mix(j, by=None)["n"].sum() == n
    assert sentencing.penalty_table(j, by=None)["n"].sum() == n
    # rates: the unknown row is the only one outside the convicted denominators
    assert sentencing.fines(j, by=None)["denominator"].iloc[0] == n - 1
    assert sentencing.minor_offence_share(j, by=None)["denominator"].iloc[0] == n - 1
    pt = sentencing.penalty_table(j)
    assert pt[pt["charge"] != "合计"]["n"].sum() == _per_charge_rows(df)


def test_issue14_outlier_screen_leaves_multi_charge_persons_out_and_says_so():
    from casework.analysis.topics import consistency

    df = issue14_frame()
    out = consistency.outlying_sentences(df, min_n=2)
    multi = sum(len(dict.fromkeys(c)) > 1 for c in df["charges"])
    assert out.attrs["multi_charge"] == multi and out.attrs["notes_zh"]


def test_bundled_mapping_by_name_from_any_folder(corpus, casework_home, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from casework import store
    from casework.run import cli

    rows, path = corpus
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    res = CliRunner().invoke(cli.cli, ["import", str(path), "--mapping", "judgment_corpus"])
    assert res.exit_code == 0, res.output
    records = store.read("records", purpose="测试：按名称使用内置映射")
    assert len(records) == len(rows) and set(records["stage"]) == {"judgment"}


def test_default_topic_on_undated_corpus_is_the_most_frequent_charge():
    rows = corpus_rows()
    flat = pd.json_normalize(rows)
    df = pd.DataFrame({"stage": "judgment", "charges": flat["meta.accusation"],
                       "case_summary": flat["fact"], "accepted_on": pd.NaT})
    chosen = recurring.choose_charges(df, period="2024")
    top, n = expected_counts(rows).most_common(1)[0]
    assert chosen[["charge", "persons", "chosen"]].values.tolist() == [[top, n, "undated"]]
    r = recurring.characteristics(df, charges=list(chosen["charge"]), period="2024")
    assert r.persons == n > 0
    assert "数据中没有受理日期" in recurring_text.choice_text(chosen)
