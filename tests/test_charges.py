"""The charge reference (casework/resources/charges.csv, casework.model.charges): structure,
groups derived from chapter/section, spellings that must match, and coverage of every charge
the generator and the judgment-corpus fixture use."""

from __future__ import annotations

import re

import pytest

from casework.model import charges, schema
from casework.synth import _core as synth_core

# article ranges of the chapters of 分则 (first and last article of each chapter)
CHAPTER_ARTICLES = {1: (102, 113), 2: (114, 139), 3: (140, 231), 4: (232, 262),
                    5: (263, 276), 6: (277, 367), 7: (368, 381), 8: (382, 396),
                    9: (397, 419), 10: (420, 451)}


def test_table_structure():
    t = charges.reference()
    assert len(t) >= 480
    assert not t["name"].duplicated().any()
    assert set(t["chapter"]) == set(range(1, 11))
    for r in t.itertuples():
        if r.chapter in (3, 6):
            assert (r.chapter, r.section) in charges.SECTIONS, r.name
        else:
            assert r.section == 0, r.name
        number = int(re.match(r"\d+", r.article).group())
        lo, hi = CHAPTER_ARTICLES[r.chapter]
        assert lo <= number <= hi, (r.name, r.article)
        assert r.group in charges.GROUPS and r.group not in (charges.OTHER, charges.UNKNOWN)
        assert not r.name.endswith("罪") and charges.normalise_charge(r.name) == re.sub(
            r"[（）]", "", r.name)
    assert set(t["ceiling"].dropna()) == {"criminal_detention"}


def test_no_spelling_points_to_two_charges():
    t = charges.reference()
    seen: dict[str, str] = {}
    for name, aliases in zip(t["name"], t["aliases"]):
        for form in [name, *filter(None, aliases.split("|"))]:
            key = charges.normalise_charge(form)
            assert seen.setdefault(key, name) == name, (form, seen[key], name)
            assert charges.canonical(form) == name


def test_groups_follow_chapter_and_section():
    t = charges.reference().set_index("name")
    assert t.loc["叛逃", "group"] == "national_security"
    assert t.loc["滥用职权", "group"] == "duty" and t.loc["贪污", "group"] == "duty"
    drugs = t[(t["chapter"] == 6) & (t["section"] == 7)]
    assert set(drugs["group"]) == {"drugs"} and len(drugs) == 12
    assert t.loc["非法持有毒品", "group"] == "drugs"
    assert set(t.loc[t["article"].isin(charges.CYBER_ARTICLES), "group"]) == {"cyber"}
    assert t.loc["逃离部队", "group"] == "military"
    assert t.loc["阻碍军人执行职务", "group"] == "national_defence"


def test_every_generator_and_schema_charge_is_grouped_as_the_schema_says():
    for name in set(synth_core.CHARGE_NAMES) | set(schema.CHARGES):
        assert charges.canonical(name), name
        assert charges.group_of(name) == schema.charge_group_of(name), name


def test_every_corpus_fixture_charge_is_grouped():
    from tests.test_judgment_corpus import CHARGES, FACTS, corpus_rows

    names = set(CHARGES) | set(FACTS)
    names |= {c for r in corpus_rows() for c in r["meta"]["accusation"]}
    for name in names:
        assert charges.group_of(name) not in (charges.OTHER, charges.UNKNOWN), name


@pytest.mark.parametrize("spelling, listed", [
    ("[走私、贩卖、运输、制造]毒品", "走私、贩卖、运输、制造毒品"),
    ("走私、贩卖、运输、制造毒品罪", "走私、贩卖、运输、制造毒品"),
    ("贩卖毒品", "走私、贩卖、运输、制造毒品"),
    ("组织他人偷越国（边）境", "组织他人偷越国（边）境"),
    ("组织他人偷越国(边)境罪", "组织他人偷越国（边）境"),
    ("组织他人偷越国境", "组织他人偷越国（边）境"),
    ("组织他人偷越边境", "组织他人偷越国（边）境"),
    ("组织参与境外赌博", "组织参与国（境）外赌博"),
    ("[伪造、变造、买卖]国家机关[公文、证件、印章]", "伪造、变造、买卖国家机关公文、证件、印章"),
    ("强制猥亵、侮辱妇女", "强制猥亵、侮辱"),
    ("非法猎捕、杀害珍贵、濒危野生动物", "危害珍贵、濒危野生动物"),
])
def test_spellings_match(spelling, listed):
    assert charges.canonical(spelling) == listed


def test_unlisted_and_missing_names():
    assert charges.group_of("投机倒把") == charges.OTHER
    assert charges.group_of(None) == charges.UNKNOWN
    assert charges.unlisted(["投机倒把罪", "盗窃", "流氓", None]) == ["投机倒把", "流氓"]


def test_ceilings():
    detention_only = {"危险驾驶", "使用虚假身份证件、盗用身份证件", "代替考试"}
    t = charges.reference()
    assert set(t.loc[t["ceiling"] == "criminal_detention", "name"]) == detention_only
    assert charges.ceiling_of("危险驾驶罪") == "criminal_detention"
    assert charges.ceiling_of("妨害安全驾驶") is None
