"""The charge reference (罪名表): every 罪名 of the Criminal Law with its place in 分则.

The table lives in ``casework/resources/charges.csv`` (its header names the sources and the
amendments covered). Each name has its chapter (章) and section (节) of 分则, the article and,
where it matters for classifying six-month terms, the custodial ceiling (``criminal_detention``:
拘役 is the heaviest custodial penalty, e.g. 危险驾驶).

Charge groups derive from chapter and section, so every listed charge has one:

==================  ==========================================================================
group               rule
==================  ==========================================================================
national_security   第一章 危害国家安全罪
public_safety       第二章 危害公共安全罪
economic_order      第三章 破坏社会主义市场经济秩序罪
person_rights       第四章 侵犯公民人身权利、民主权利罪
property            第五章 侵犯财产罪
cyber               第六章第一节 articles 285, 286, 286之一, 287之一, 287之二 (计算机信息系统
                    and 信息网络 offences; the office reports them as 网络犯罪)
drugs               第六章第七节 走私、贩卖、运输、制造毒品罪
public_order        the rest of 第六章 妨害社会管理秩序罪
national_defence    第七章 危害国防利益罪
duty                第八章 贪污贿赂罪 and 第九章 渎职罪 (职务犯罪)
military            第十章 军人违反职责罪
other               a name that is not in the table (reported by :func:`unlisted`)
unknown             no charge recorded
==================  ==========================================================================

Names match after :func:`normalise_charge` (full/half width, brackets, a trailing 罪); a name
also matches through the table's aliases (earlier names, short forms), through the plain
forms of a bracketed alternative (``偷越国（边）境`` matches ``偷越国境`` and ``偷越边境``), and,
failing those, as a shortened form of a 选择性罪名 when exactly one listed name contains its
characters in order, or exactly one of those also ends with its last two characters
(``运输毒品`` → ``走私、贩卖、运输、制造毒品``).

Examples
--------
>>> from casework.model import charges
>>> charges.group_of("[走私、贩卖、运输、制造]毒品"), charges.group_of("滥用职权罪")
('drugs', 'duty')
>>> charges.ceiling_of("危险驾驶"), charges.ceiling_of("盗窃") is None
('criminal_detention', True)
>>> charges.canonical("贩卖毒品"), charges.group_of("不存在的罪名"), charges.group_of(None)
('走私、贩卖、运输、制造毒品', 'other', 'unknown')
"""

from __future__ import annotations

import functools
import re
import unicodedata

import pandas as pd

from casework.base.config import RESOURCES_DIR

__all__ = [
    "GROUPS", "CHAPTERS", "SECTIONS", "CYBER_ARTICLES", "OTHER", "UNKNOWN", "normalise_charge",
    "reference", "lookup", "canonical", "group_of", "group_label", "ceiling_of", "unlisted",
]

#: Charge groups in display order: code -> (label_zh, label_en).
GROUPS: dict[str, tuple[str, str]] = {
    "national_security": ("危害国家安全犯罪", "endangering national security"),
    "public_safety": ("危害公共安全犯罪", "endangering public safety"),
    "economic_order": ("破坏社会主义市场经济秩序犯罪", "disrupting the market economy"),
    "person_rights": ("侵犯公民人身权利、民主权利犯罪", "against the person"),
    "property": ("侵犯财产犯罪", "property crimes"),
    "public_order": ("妨害社会管理秩序犯罪", "disrupting public order"),
    "cyber": ("网络犯罪", "cyber crimes"),
    "drugs": ("毒品犯罪", "drug crimes"),
    "national_defence": ("危害国防利益犯罪", "endangering national defence"),
    "duty": ("职务犯罪", "duty crimes"),
    "military": ("军人违反职责犯罪", "military duty crimes"),
    "other": ("其他（罪名表未收录）", "other (not in the charge table)"),
    "unknown": ("罪名未填", "no charge recorded"),
}

#: Group of names not in the table, and of rows without a charge.
OTHER, UNKNOWN = "other", "unknown"

#: Chapters of 分则.
CHAPTERS: dict[int, str] = {
    1: "危害国家安全罪", 2: "危害公共安全罪", 3: "破坏社会主义市场经济秩序罪",
    4: "侵犯公民人身权利、民主权利罪", 5: "侵犯财产罪", 6: "妨害社会管理秩序罪",
    7: "危害国防利益罪", 8: "贪污贿赂罪", 9: "渎职罪", 10: "军人违反职责罪",
}

#: Sections of chapters 3 and 6 (the other chapters have none: section 0).
SECTIONS: dict[tuple[int, int], str] = {
    (3, 1): "生产、销售伪劣商品罪", (3, 2): "走私罪", (3, 3): "妨害对公司、企业的管理秩序罪",
    (3, 4): "破坏金融管理秩序罪", (3, 5): "金融诈骗罪", (3, 6): "危害税收征管罪",
    (3, 7): "侵犯知识产权罪", (3, 8): "扰乱市场秩序罪",
    (6, 1): "扰乱公共秩序罪", (6, 2): "妨害司法罪", (6, 3): "妨害国（边）境管理罪",
    (6, 4): "妨害文物管理罪", (6, 5): "危害公共卫生罪", (6, 6): "破坏环境资源保护罪",
    (6, 7): "走私、贩卖、运输、制造毒品罪",
    (6, 8): "组织、强迫、引诱、容留、介绍卖淫罪", (6, 9): "制作、贩卖、传播淫秽物品罪",
}

#: Articles of 第六章第一节 grouped as 网络犯罪.
CYBER_ARTICLES = ("285", "286", "286之一", "287之一", "287之二")

_BY_CHAPTER = {1: "national_security", 2: "public_safety", 3: "economic_order",
               4: "person_rights", 5: "property", 6: "public_order", 7: "national_defence",
               8: "duty", 9: "duty", 10: "military"}

_BRACKETS = re.compile(r"[\[\]〔〕【】（）()]")
_ALT = re.compile(r"(.)（(.+?)）")


def normalise_charge(name) -> str | None:
    """Canonical spelling of a charge name; ``None`` for missing values.

    NFKC (full/half width), brackets dropped (``[走私、贩卖、运输、制造]毒品`` →
    ``走私、贩卖、运输、制造毒品``), trailing 罪 removed, spaces removed.

    Examples
    --------
    >>> normalise_charge("【走私、贩卖、运输、制造】毒品罪")
    '走私、贩卖、运输、制造毒品'
    >>> normalise_charge(" 危险驾驶 "), normalise_charge(None) is None
    ('危险驾驶', True)
    """
    if name is None or name is pd.NA or (isinstance(name, float) and name != name):
        return None
    text = unicodedata.normalize("NFKC", str(name))
    text = _BRACKETS.sub("", text)
    text = re.sub(r"\s+", "", text)
    if text.endswith("罪") and len(text) > 1:
        text = text[:-1]
    return text or None


def _group(chapter: int, section: int, article: str) -> str:
    if chapter == 6 and section == 7:
        return "drugs"
    if chapter == 6 and article in CYBER_ARTICLES:
        return "cyber"
    return _BY_CHAPTER[chapter]


def _plain_forms(name: str) -> set[str]:
    """``国（边）境`` → 国境, 边境 (the bracket is an alternative to the character before it)."""
    forms = {name}
    for _ in range(3):
        forms = {f for x in forms
                 for f in ((_ALT.sub(r"\1", x, count=1), _ALT.sub(r"\2", x, count=1))
                           if _ALT.search(x) else (x,))}
    return forms


@functools.cache
def _table() -> pd.DataFrame:
    df = pd.read_csv(RESOURCES_DIR / "charges.csv", comment="#", dtype=str,
                     keep_default_na=False, encoding="utf-8")
    df["chapter"] = df["chapter"].astype(int)
    df["section"] = df["section"].astype(int)
    df["ceiling"] = df["ceiling"].astype(object).where(df["ceiling"] != "", None)
    df["group"] = [_group(c, s, a) for c, s, a in zip(df["chapter"], df["section"],
                                                       df["article"])]
    df["chapter_zh"] = df["chapter"].map(CHAPTERS)
    df["section_zh"] = [SECTIONS.get((c, s), "") for c, s in zip(df["chapter"], df["section"])]
    return df


@functools.cache
def _index() -> dict[str, tuple[str, str]]:
    """normalised spelling -> (listed name, how it matched)."""
    out: dict[str, tuple[str, str]] = {}
    for name, aliases in zip(_table()["name"], _table()["aliases"]):
        for form in _plain_forms(name):
            out.setdefault(normalise_charge(form), (name, "bracket"))
        for alias in filter(None, aliases.split("|")):
            for form in _plain_forms(alias):
                out.setdefault(normalise_charge(form), (name, "alias"))
        out[normalise_charge(name)] = (name, "name")
    return out


def reference() -> pd.DataFrame:
    """The charge table: ``name, chapter, section, article, ceiling, aliases, group,
    chapter_zh, section_zh`` (a copy).

    Examples
    --------
    >>> t = reference()
    >>> t.loc[t["name"] == "危险驾驶", ["chapter", "article", "ceiling", "group"]].values.tolist()
    [[2, '133之一', 'criminal_detention', 'public_safety']]
    """
    return _table().copy()


def _subsequence(short: str, long: str) -> bool:
    it = iter(long)
    return all(ch in it for ch in short)


@functools.cache
def _lookup(key: str) -> tuple[str, str] | None:
    found = _index().get(key)
    if found:
        return found
    if len(key) < 3:
        return None
    hits = [n for n in _table()["name"] if _subsequence(key, normalise_charge(n))]
    if len(hits) > 1:  # 运输毒品: the listed name that ends as the short form does
        hits = [n for n in hits if normalise_charge(n)[-2:] == key[-2:]]
    return (hits[0], "partial") if len(hits) == 1 else None


def lookup(name) -> dict | None:
    """The table row of a charge name (any spelling), with ``matched_by`` (``name``,
    ``bracket``, ``alias`` or ``partial``); ``None`` when the name is not in the table.

    Examples
    --------
    >>> r = lookup("组织他人偷越国境")
    >>> r["name"], r["matched_by"], r["section_zh"]
    ('组织他人偷越国（边）境', 'bracket', '妨害国（边）境管理罪')
    >>> lookup("掩饰、隐瞒犯罪所得罪")["name"]
    '掩饰、隐瞒犯罪所得、犯罪所得收益'
    """
    key = normalise_charge(name)
    found = _lookup(key) if key else None
    if found is None:
        return None
    return {**_rows()[found[0]], "matched_by": found[1]}


@functools.cache
def _rows() -> dict[str, dict]:
    """listed name -> its table row as a dict (built once: a boolean filter of the table per
    call made row-wise callers such as :func:`ceiling_of` over a snapshot take seconds)."""
    return {row["name"]: row for row in _table().to_dict("records")}


def canonical(name) -> str | None:
    """The table's name for a charge (any spelling); ``None`` when not in the table.

    Examples
    --------
    >>> canonical("[走私、贩卖、运输、制造]毒品"), canonical("非法持有枪支")
    ('走私、贩卖、运输、制造毒品', '非法持有、私藏枪支、弹药')
    """
    key = normalise_charge(name)
    found = _lookup(key) if key else None
    return found[0] if found else None


@functools.cache
def _group_of_key(key: str | None) -> str:
    if key is None:
        return UNKNOWN
    found = _lookup(key)
    if found is None:
        return OTHER
    return str(_rows()[found[0]]["group"])


def group_of(name) -> str:
    """The charge group of a charge name: a code of :data:`GROUPS`, ``"other"`` for a name
    not in the table, ``"unknown"`` for a missing name.

    Examples
    --------
    >>> group_of("帮助信息网络犯罪活动"), group_of("非法经营"), group_of("叛逃")
    ('cyber', 'economic_order', 'national_security')
    """
    return _group_of_key(normalise_charge(name))


def group_label(code: str, lang: str = "zh") -> str:
    """Label of a group code (the code itself when unknown).

    Examples
    --------
    >>> group_label("duty"), group_label("other", "en")
    ('职务犯罪', 'other (not in the charge table)')
    """
    if code not in GROUPS:
        return code
    return GROUPS[code][0 if lang == "zh" else 1]


def ceiling_of(name) -> str | None:
    """The custodial ceiling of a charge when it is below 有期徒刑 (``"criminal_detention"``),
    else ``None`` (also for names not in the table).

    Examples
    --------
    >>> ceiling_of("代替考试罪"), ceiling_of("故意杀人")
    ('criminal_detention', None)
    """
    return _ceiling_of_key(normalise_charge(name))


@functools.cache
def _ceiling_of_key(key: str | None) -> str | None:
    found = _lookup(key) if key else None
    if found is None:
        return None
    return _rows()[found[0]]["ceiling"] or None


def unlisted(names) -> list[str]:
    """The distinct (normalised) names among ``names`` that are not in the table, sorted.

    Examples
    --------
    >>> unlisted(["盗窃", "投机倒把罪", None, "投机倒把"])
    ['投机倒把']
    """
    keys = {normalise_charge(n) for n in names}
    keys.discard(None)
    return sorted(k for k in keys if _lookup(k) is None)
