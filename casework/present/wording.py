"""Plain 公文 wording for the Word deliverables: what the body may not say, and how to say it.

The body of a document that goes to the 检察长 or a 联席会议 speaks the office's language:
no method words (σ, CUSUM, z, 控制限 rules, regression terms), no English rule or indicator
codes, rates in %, months as 2026年3月. Method text is not lost: the document builders move it
to the appendix (附件：方法与口径说明). :func:`jargon_hits` is the check the tests (and the
builders) use; :func:`internal_only_hits` finds sentences that may only appear at the
``internal`` level (case lists, 逐案核对 references).

Examples
--------
>>> jargon_hits("连续5点中有4点超出1σ（同侧）")
['σ', '同侧', '连续5点中有4点']
>>> jargon_hits("自2026年3月起连续3个月高于同期其他派出所")
[]
>>> plain_text("自2026-03起 closed_before_accepted 在控制限内")
'自2026年3月起 审结日期早于受理日期 在正常波动范围内'
>>> percent(0.1548), month_zh("2024-04"), date_zh("2026-12-03")
('15.5%', '2024年4月', '2026年12月3日')
"""

from __future__ import annotations

import functools
import re

from casework.analysis import indicators, quality_rules

#: Words that belong in the method appendix, never in the body.
JARGON_WORDS = ("σ", "CUSUM", "cusum", "控制限", "控制图", "回归", "残差", "标准误", "过度离散",
                "离散度", "P值", "p值", "q值", "Q值", "期望方向", "累积上移", "累积和",
                "标准化得分", "假设检验", "显著性", "Benjamini", "Bonferroni", "Fisher",
                "DerSimonian", "同侧")
_JARGON_RES = (
    re.compile(r"连续\s*\d+\s*点中有\s*\d+\s*点"),
    re.compile(r"(?<![A-Za-z])[zZ]\s*(?:值|分数|得分|=|＝)"),
    re.compile(r"(?<![A-Za-z0-9_])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![A-Za-z0-9_])"),  # codes
    re.compile(r"(?<!\d)\d{4}-\d{1,2}(?:-\d{1,2})?(?!\d)"),  # ISO dates
    re.compile(r"(?<![\d.])0\.\d{3,}"),  # a rate written as a raw fraction
)

#: Markers of text that may only appear at the ``internal`` level.
INTERNAL_ONLY = ("案件清单", "逐案核对", "仅限内部", "内部使用", "以内部密级运行", "案件明细")

#: Method phrases with a plain equivalent (applied by :func:`plain_text`).
REPLACEMENTS = (
    ("在控制限内", "在正常波动范围内"),
    ("超出上控制限", "明显偏高"),
    ("超出下控制限", "明显偏低"),
    ("高于控制限", "明显偏高"),
    ("低于控制限", "明显偏低"),
    ("超出控制限", "超出正常波动范围"),
    ("与该指标的期望方向相反", "向不利方向变化"),
    ("与该指标的期望方向一致", "向有利方向变化"),
    ("p控制图", "趋势图"),
    ("控制图", "趋势图"),
    ("控制限", "正常波动范围"),
    ("标准化得分", "偏离程度"),
)

_ISO_DAY = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})-(\d{1,2})(?!\d)")
_ISO_MONTH = re.compile(r"(?<!\d)(\d{4})-(\d{1,2})(?![\d-])")


def jargon_hits(text: str) -> list[str]:
    """The method words, English codes, ISO dates and raw fractions found in ``text``.

    Examples
    --------
    >>> jargon_hits("CUSUM 累积上移信号；z=2.3；比例 0.125；规则 missing_case_type")
    ['CUSUM', '累积上移', 'z=', 'missing_case_type', '0.125']
    """
    text = str(text)
    hits = [w for w in JARGON_WORDS if w in text]
    for rx in _JARGON_RES:
        hits += rx.findall(text)
    return hits


def internal_only_hits(text: str) -> list[str]:
    """Markers of internal-only content in ``text`` (case lists, 逐案核对).

    Examples
    --------
    >>> internal_only_hits("（内部案件清单 158 人，可逐案核对）")
    ['案件清单', '逐案核对']
    """
    return [w for w in INTERNAL_ONLY if w in str(text)]


_INTERNAL_CLAUSE = re.compile(
    r"[（(][^（）()]*(?:" + "|".join(INTERNAL_ONLY) + r")[^（）()]*[）)]")


def strip_internal(text: str) -> str | None:
    """``text`` without its internal-only parenthetical clauses; ``None`` when internal-only
    content remains (the sentence must then be left out at the circulated level).

    Examples
    --------
    >>> strip_internal("核对每一起变更（内部案件清单 158 人，可逐案核对）；逐起反馈。")
    '核对每一起变更；逐起反馈。'
    >>> strip_internal("案件清单只随内部密级的报告提供。") is None
    True
    """
    out = _INTERNAL_CLAUSE.sub("", str(text))
    return None if internal_only_hits(out) else out


def month_zh(code) -> str:
    """``"2024-04"`` → ``"2024年4月"`` (other text unchanged)."""
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", str(code).strip())
    return f"{int(m.group(1))}年{int(m.group(2))}月" if m else str(code)


def date_zh(iso) -> str:
    """``"2026-12-03"`` (or a date/datetime) → ``"2026年12月3日"``."""
    text = str(iso)[:10]
    m = re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})", text)
    return f"{int(m.group(1))}年{int(m.group(2))}月{int(m.group(3))}日" if m else str(iso)


def percent(value, digits: int = 1) -> str:
    """A rate given as a fraction, in %: ``0.1548`` → ``'15.5%'``."""
    return f"{float(value) * 100:.{digits}f}%"


@functools.cache
def code_names() -> dict[str, str]:
    """English rule and indicator codes → their Chinese names (quality rules' ``message_zh``,
    indicators' ``name_zh``)."""
    out = {}
    try:
        for code, ind in indicators.registry().items():
            out[str(code)] = str(getattr(ind, "name_zh", code))
    except Exception:  # a broken user registry must not stop a document
        pass
    try:
        for rule in quality_rules.load_rules():
            out[rule.id] = rule.message_zh
    except Exception:  # as above
        pass
    return out


_CODE_RE = _JARGON_RES[2]


def plain_text(text: str) -> str:
    """``text`` in plain wording: ISO dates as 年月(日), known codes by their Chinese names,
    控制限 phrases replaced. Unknown codes stay (and :func:`jargon_hits` still finds them).

    Examples
    --------
    >>> plain_text("2026-03-05 起，post_arrest_bail_rate 上升")
    '2026年3月5日 起，捕后取保候审率 上升'
    """
    text = str(text)
    for old, new in REPLACEMENTS:
        text = text.replace(old, new)
    text = _ISO_DAY.sub(lambda m: f"{int(m[1])}年{int(m[2])}月{int(m[3])}日", text)
    text = _ISO_MONTH.sub(lambda m: f"{int(m[1])}年{int(m[2])}月", text)
    names = code_names()
    return _CODE_RE.sub(lambda m: names.get(m.group(0), m.group(0)), text)


__all__ = ["JARGON_WORDS", "INTERNAL_ONLY", "REPLACEMENTS", "jargon_hits", "internal_only_hits",
           "strip_internal", "month_zh", "date_zh", "percent", "code_names", "plain_text"]
