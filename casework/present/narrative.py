"""Chinese sentences rendered from computed values (never typed by hand).

Sentences read the rows of :func:`casework.analysis.panel.compute` and the episodes of
:func:`casework.analysis.monitor.flags`. They follow the releases' conventions — counts with
thousands separators and 人/件, rates in per cent, rate changes in 个百分点, count changes in
per cent — and they only call a change a rise or a fall when it is beyond noise:

- a change whose test says it is beyond noise (``*_notable``) is worded 上升 / 下降, with 需关注
  or 向好 when the indicator has a direction (``lower_better`` / ``higher_better``);
- a change within noise is worded 基本持平 with the figure in brackets and 在正常波动范围内;
- a change that rounds to zero is 持平; a change that cannot be tested (medians, ratios) is
  stated plainly; a missing value or a zero base shows "—".

Examples
--------
>>> import pandas as pd
>>> from casework.present import narrative
>>> rows = pd.DataFrame([
...   {"indicator": "accepted_prosecution_review", "name_zh": "受理审查起诉", "kind": "count",
...    "count_unit": "person", "direction": "range", "value": 1234, "year_ago_value": 1099,
...    "year_ago_change": 12.28, "year_ago_notable": True},
...   {"indicator": "non_arrest_rate", "name_zh": "不捕率", "kind": "rate",
...    "count_unit": "person", "direction": "range", "value": 0.381, "year_ago_value": 0.405,
...    "year_ago_change": -2.4, "year_ago_notable": True}])
>>> narrative.summary(rows, lead="1-5月共")
'1-5月共受理审查起诉1,234人，同比上升12.3%；不捕率38.1%，同比下降2.4个百分点。'
"""

from __future__ import annotations

import math

import pandas as pd

from casework.analysis import indicators as _ind
from casework.analysis import periods as _periods
from casework.analysis.monitor import BASELINE_MONTHS
from casework.base.errors import check_choice

DASH = _periods.DASH
UNIT_ZH = {"person": "人", "case": "件"}
COMPARE_ZH = {"year_ago": "同比", "previous": "环比"}
DIGITS = {"rate": 1, "count": 1, "mean": 1, "median": 1, "ratio": 2}


# ---------------------------------------------------------------------------------------------
# Number formatting
# ---------------------------------------------------------------------------------------------


def is_missing(x) -> bool:
    """True for None, NA, NaN, ±inf and anything that is not a number.

    Examples
    --------
    >>> is_missing(None), is_missing(float("nan")), is_missing("x"), is_missing(0)
    (True, True, True, False)
    """
    try:
        return x is None or x is pd.NA or bool(pd.isna(x)) or not math.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def fmt_count(n, unit: str = "") -> str:
    """``1,234人``; missing → "—".

    Examples
    --------
    >>> fmt_count(1234, "人"), fmt_count(None)
    ('1,234人', '—')
    """
    if is_missing(n):
        return DASH
    return f"{int(round(float(n))):,}{unit}"


def fmt_pct(p, digits: int = 1) -> str:
    """A proportion as per cent: ``0.381 → 38.1%``; missing → "—".

    Examples
    --------
    >>> fmt_pct(0.381), fmt_pct(float("nan"))
    ('38.1%', '—')
    """
    return _periods.format_value(p, kind="rate", digits=digits)


def fmt_value(value, *, kind: str, count_unit: str = "person", unit_zh: str | None = None) -> str:
    """A value in the display form of its kind: ``1,234人``, ``38.1%``, ``24.3天``, ``1:1.19``.

    Examples
    --------
    >>> fmt_value(24.26, kind="mean", unit_zh="天"), fmt_value(1.189, kind="ratio")
    ('24.3天', '1:1.19')
    >>> fmt_value(0, kind="count", count_unit="case")
    '0件'
    """
    if kind == "count":
        return fmt_count(value, UNIT_ZH.get(count_unit, ""))
    if kind in ("mean", "median"):
        return _periods.format_value(value, kind=kind,
                                     unit=unit_zh if unit_zh is not None else "天")
    return _periods.format_value(value, kind=kind)


def fmt_change(change, *, kind: str, unit_zh: str | None = None, signed: bool = True) -> str:
    """A change in the unit of its kind: ``+2.4个百分点`` (rates), ``+12.3%`` (counts),
    ``-1.5天`` (means, medians), ``+0.05`` (ratios); missing → "—".

    Examples
    --------
    >>> (fmt_change(-2.4, kind="rate"), fmt_change(12.34, kind="count"),
    ...  fmt_change(None, kind="rate"))
    ('-2.4个百分点', '+12.3%', '—')
    """
    unit = (unit_zh if unit_zh is not None else "天") if kind in ("mean", "median") else ""
    return _periods.format_change(change, kind=kind, digits=DIGITS.get(kind, 1), unit=unit,
                                  signed=signed)


def _abs_change_text(change, kind: str, unit_zh) -> str:
    return fmt_change(abs(float(change)), kind=kind, unit_zh=unit_zh, signed=False)


# ---------------------------------------------------------------------------------------------
# Clauses and sentences
# ---------------------------------------------------------------------------------------------


def _get(row, key, default=None):
    try:
        v = row[key]
    except (KeyError, IndexError):
        return default
    return default if v is pd.NA else v


def _unit_zh(row) -> str | None:
    u = _get(row, "unit_zh")
    if is_missing(u) if not isinstance(u, str) else False:
        return None
    if _get(row, "kind") in ("mean", "median"):
        return u if isinstance(u, str) and u not in ("", "%") else "天"
    return u


def change_clause(row, *, compare: str = "year_ago", verdict: bool = True) -> str:
    """How the value moved against the comparison period, e.g. ``同比下降2.4个百分点``.

    Parameters
    ----------
    row : mapping or Series
        A row of :func:`casework.analysis.panel.compute` (needs ``kind``, ``<compare>_change``,
        optionally ``<compare>_notable``, ``<compare>_p_value``, ``direction``).
    compare : {"year_ago", "previous"}
        同比 or 环比.
    verdict : bool
        Add 需关注 / 向好 to a change beyond noise. A report that names problems only through
        its error-controlled findings passes False, so no single uncorrected test is called a
        problem.

    Notes
    -----
    A row with ``immature`` true (a cohort rate whose later events have not happened yet,
    :meth:`casework.analysis.indicators.Indicator.immature`) gets no change words at all:
    ``同比不作比较（尚未成熟）``.

    Examples
    --------
    >>> r = {"kind": "rate", "direction": "lower_better", "year_ago_change": 3.1,
    ...      "year_ago_notable": True, "year_ago_p_value": 0.001}
    >>> change_clause(r)
    '同比上升3.1个百分点，需关注'
    >>> change_clause({**r, "year_ago_notable": False, "year_ago_p_value": 0.4})
    '同比基本持平（+3.1个百分点，在正常波动范围内）'
    >>> change_clause({**r, "year_ago_change": 0.01})
    '同比持平'
    >>> change_clause({**r, "year_ago_change": float("nan")})
    '同比—'
    >>> change_clause(r, verdict=False), change_clause({**r, "immature": True})
    ('同比上升3.1个百分点', '同比不作比较（尚未成熟）')
    """
    check_choice("compare", compare, COMPARE_ZH)
    word = COMPARE_ZH[compare]
    if _get(row, "immature") is True or _get(row, "immature") == 1:
        return f"{word}不作比较（尚未成熟）"
    kind = _get(row, "kind", "rate")
    change = _get(row, f"{compare}_change")
    if is_missing(change):
        return f"{word}{DASH}"
    change = float(change)
    digits = DIGITS.get(kind, 1)
    if round(change, digits) == 0:
        return f"{word}持平"
    unit = _unit_zh(row)
    notable = _get(row, f"{compare}_notable")
    p = _get(row, f"{compare}_p_value")
    testable = not is_missing(p)
    if testable and not bool(notable):
        signed = fmt_change(change, kind=kind, unit_zh=unit)
        return f"{word}基本持平（{signed}，在正常波动范围内）"
    verb = "上升" if change > 0 else "下降"
    text = f"{word}{verb}{_abs_change_text(change, kind, unit)}"
    direction = _get(row, "direction", "range")
    if verdict and testable and bool(notable) and direction in ("lower_better", "higher_better"):
        adverse = (change > 0) == (direction == "lower_better")
        text += "，需关注" if adverse else "，向好"
    return text


def value_clause(row, *, name: str | None = None) -> str:
    """The indicator and its value: ``不捕率38.1%``, ``受理审查起诉1,234人``; a value that
    cannot be computed (zero denominator) shows ``不捕率—``.

    Examples
    --------
    >>> value_clause({"name_zh": "不捕率", "kind": "rate", "value": float("nan")})
    '不捕率—'
    """
    nm = name if name is not None else str(_get(row, "name_zh", _get(row, "indicator", "")))
    val = fmt_value(_get(row, "value"), kind=_get(row, "kind", "rate"),
                    count_unit=_get(row, "count_unit", "person"), unit_zh=_unit_zh(row))
    return f"{nm}{val}"


def indicator_sentence(row, *, compare=("year_ago",), name: str | None = None,
                       verdict: bool = True) -> str:
    """Value plus one or two change clauses, e.g. ``不捕率38.1%，同比下降2.4个百分点``.

    Examples
    --------
    >>> r = {"name_zh": "受理审查逮捕", "kind": "count", "count_unit": "person", "value": 5,
    ...      "year_ago_change": float("nan"), "previous_change": 25.0,
    ...      "previous_notable": False, "previous_p_value": 0.7}
    >>> indicator_sentence(r, compare=("year_ago", "previous"))
    '受理审查逮捕5人，同比—，环比基本持平（+25.0%，在正常波动范围内）'
    """
    if isinstance(compare, str):
        compare = (compare,)
    parts = [value_clause(row, name=name)]
    for c in compare:
        parts.append(change_clause(row, compare=c, verdict=verdict))
    return "，".join(parts)


def summary(panel_rows: pd.DataFrame, *, indicators=None, compare=("year_ago",),
            lead: str = "", end: str = "。", verdict: bool = True) -> str:
    """One sentence for several indicators, joined by ``；`` — the opening of a report.

    Parameters
    ----------
    panel_rows : DataFrame
        Rows of :func:`casework.analysis.panel.compute` for one group (e.g. the whole unit).
    indicators : sequence of codes, optional
        Which rows, in this order (default: all rows, in their order).
    compare : str or tuple
        ``year_ago`` (同比), ``previous`` (环比) or both.
    lead : str
        Text before the first clause, e.g. ``"2024年1-5月，全院共"``.
    verdict : bool
        As in :func:`change_clause`.

    Examples
    --------
    >>> rows = pd.DataFrame([{"indicator": "non_prosecution_rate", "name_zh": "不诉率",
    ...     "kind": "rate", "value": 0.2, "year_ago_change": 0.0}])
    >>> summary(rows, lead="本月")
    '本月不诉率20.0%，同比持平。'
    """
    rows = panel_rows
    if indicators is not None:
        order = list(indicators)
        rows = rows[rows["indicator"].isin(order)].copy()
        rows["_o"] = rows["indicator"].map({c: i for i, c in enumerate(order)})
        rows = rows.sort_values("_o")
    clauses = [indicator_sentence(r, compare=compare, verdict=verdict)
               for _, r in rows.iterrows()]
    if not clauses:
        return ""
    return lead + "；".join(clauses) + end


def lead(period, *, scope_zh: str = "") -> str:
    """The opening words of a summary: ``2024年1-5月，江州市青山区人民检察院共``.

    Examples
    --------
    >>> lead("2024-YTD05", scope_zh="全院")
    '2024年1-5月，全院共'
    """
    p = _periods.parse(period)
    return f"{p.label_zh}，{scope_zh}共" if scope_zh else f"{p.label_zh}，共"


def notable_changes(panel_rows: pd.DataFrame, *, compare: str = "year_ago", top: int = 5,
                    keys=()) -> list[str]:
    """Sentences for the changes that are beyond noise, strongest first (smallest p-value).

    ``keys`` names group columns to prefix (e.g. ``("department",)`` →
    ``第一检察部：不捕率…``).

    Examples
    --------
    >>> rows = pd.DataFrame([
    ...   {"indicator": "a", "name_zh": "不诉率", "kind": "rate", "direction": "range",
    ...    "value": 0.3, "year_ago_change": 8.0, "year_ago_notable": True,
    ...    "year_ago_p_value": 1e-4},
    ...   {"indicator": "b", "name_zh": "不捕率", "kind": "rate", "direction": "range",
    ...    "value": 0.4, "year_ago_change": 1.0, "year_ago_notable": False,
    ...    "year_ago_p_value": 0.5}])
    >>> notable_changes(rows)
    ['不诉率30.0%，同比上升8.0个百分点']
    """
    check_choice("compare", compare, COMPARE_ZH)
    col = f"{compare}_notable"
    if col not in panel_rows.columns or panel_rows.empty:
        return []
    hit = panel_rows[panel_rows[col].fillna(False).astype(bool)].copy()
    hit = hit.sort_values(f"{compare}_p_value", kind="stable").head(top)
    out = []
    for _, r in hit.iterrows():
        prefix = "".join(f"{r[k]}" for k in keys if not is_missing(r[k]) or isinstance(r[k], str))
        text = indicator_sentence(r, compare=(compare,))
        out.append(f"{prefix}：{text}" if prefix else text)
    return out


# ---------------------------------------------------------------------------------------------
# Monitoring flags → 存在问题, 原因分析 and 对策建议 prompts
# ---------------------------------------------------------------------------------------------


def _month_zh(code) -> str:
    if is_missing(code) if not isinstance(code, str) else False:
        return ""
    return _periods.parse(str(code)).label_zh


def flag_sentence(episode, *, keys=None, name: str | None = None) -> str:
    """One 存在问题 sentence from a row of :func:`casework.analysis.monitor.flags`.

    Examples
    --------
    >>> ep = {"police_station": "新华派出所", "indicator": "post_arrest_bail_rate",
    ...       "flag_since": "2024-04", "last_month": "2024-06", "months_flagged": 3,
    ...       "rules_zh": "超出控制限（3σ）", "side": 1, "adverse": True, "last_value": 0.35}
    >>> flag_sentence(ep, keys=["police_station"])
    '新华派出所捕后取保候审率自2024年4月起偏高（3个月出现信号，最近2024年6月为35.0%；超出控制限（3σ）），需关注。'
    """
    code = _get(episode, "indicator")
    try:
        ind = _ind.get(code)
        nm = name or ind.name_zh
        kind = ind.kind
        unit_zh = ind.unit_zh if kind in ("mean", "median") else None
        cu = _get(episode, "count_unit")
        count_unit = cu if isinstance(cu, str) and cu in UNIT_ZH else ind.default_unit
    except Exception:  # an indicator not in the registry
        nm, kind, unit_zh, count_unit = name or str(code), "rate", None, "person"
    if keys is None:
        keys = [k for k in ("unit_name", "unit_code", "department", "prosecutor_id", "charge",
                            "referring_agency", "police_station") if _get(episode, k) is not None]
    who = "".join(str(_get(episode, k)) for k in keys if not _missing_str(_get(episode, k)))
    side = int(_get(episode, "side", 0) or 0)
    word = "偏高" if side > 0 else ("偏低" if side < 0 else "异常")
    since = _month_zh(_get(episode, "flag_since"))
    last = _month_zh(_get(episode, "last_month"))
    val = fmt_value(_get(episode, "last_value"), kind=kind, count_unit=count_unit, unit_zh=unit_zh)
    n = _get(episode, "months_flagged", 1)
    detail = f"{int(n)}个月出现信号，最近{last}为{val}"
    rules = _get(episode, "rules_zh")
    if isinstance(rules, str) and rules:
        detail += f"；{rules}"
    tail = "，需关注。" if bool(_get(episode, "adverse", False)) else "。"
    return f"{who}{nm}自{since}起{word}（{detail}）{tail}"


def _missing_str(v) -> bool:
    return v is None or (not isinstance(v, str) and is_missing(v))


NO_PROBLEMS = "本期监测的指标均未超出控制限，也未出现连续偏高、偏低或持续上升、下降的信号。"


def _since(flags: pd.DataFrame, since) -> pd.DataFrame:
    if since is None or flags is None or flags.empty or "last_month" not in flags.columns:
        return flags
    cut = _periods.parse(since).months()[0].code
    return flags[flags["last_month"].astype(str) >= cut]


def problems(flags: pd.DataFrame, *, keys=None, top: int = 8, adverse_only: bool = False,
             favourable: bool = False, since=None, empty: str | None = None) -> list[str]:
    """存在问题: sentences for the flagged episodes, adverse ones first, most recent first.

    ``since`` (a period or month code) keeps episodes still flagged in or after its first
    month; moves in the favourable direction of a directional indicator (e.g. shorter handling
    days) are left out unless ``favourable``; ``empty`` is returned (as the only sentence)
    when nothing is left, e.g. :data:`NO_PROBLEMS`.

    Examples
    --------
    >>> problems(pd.DataFrame())
    []
    >>> problems(pd.DataFrame(), empty=NO_PROBLEMS)[0][:6]
    '本期监测的指'
    """
    flags = _since(flags, since)
    if flags is None or flags.empty:
        return [empty] if empty else []
    f = flags.copy()
    if adverse_only and "adverse" in f.columns:
        f = f[f["adverse"]]
    if not favourable and {"adverse", "direction"} <= set(f.columns):
        f = f[f["adverse"].astype(bool) | (f["direction"].astype(str) == "range")]
    if f.empty:
        return [empty] if empty else []
    sort_cols = [c for c in ("adverse", "last_month", "months_flagged") if c in f.columns]
    f = f.sort_values(sort_cols, ascending=[False] * len(sort_cols), kind="stable").head(top)
    return [flag_sentence(r, keys=keys) for _, r in f.iterrows()]


def prompts(flags: pd.DataFrame, *, keys=None, top: int = 5, since=None,
            empty: str | None = None) -> list[str]:
    """原因分析 / 对策建议 prompts for the analyst to complete, one per adverse episode.

    Examples
    --------
    >>> ep = pd.DataFrame([{"police_station": "新华派出所", "indicator": "post_arrest_bail_rate",
    ...     "flag_since": "2024-04", "last_month": "2024-06", "side": 1, "adverse": True}])
    >>> prompts(ep, keys=["police_station"])[0]
    '新华派出所捕后取保候审率自2024年4月起偏高：请结合个案核查变更强制措施的理由、羁押必要性审查情况及与侦查机关的沟通，分析原因并提出对策建议。'
    """
    flags = _since(flags, since)
    f = flags
    if f is not None and not f.empty and "adverse" in f.columns:
        f = f[f["adverse"].astype(bool)]
    if f is None or f.empty:
        return [empty] if empty else []
    f = f.sort_values("last_month", ascending=False, kind="stable").head(top)
    out = []
    for _, ep in f.iterrows():
        code = _get(ep, "indicator")
        try:
            ind = _ind.get(code)
            nm, group = ind.name_zh, ind.group
        except Exception:
            nm, group = str(code), "other"
        ks = keys if keys is not None else [
            k for k in ("department", "charge", "referring_agency", "police_station")
            if _get(ep, k) is not None]
        who = "".join(str(_get(ep, k)) for k in ks if not _missing_str(_get(ep, k)))
        side = int(_get(ep, "side", 0) or 0)
        word = "偏高" if side > 0 else ("偏低" if side < 0 else "异常")
        hint = _PROMPT_HINTS.get(code) or _PROMPT_HINTS.get(group) or _PROMPT_HINTS["other"]
        out.append(f"{who}{nm}自{_month_zh(_get(ep, 'flag_since'))}起{word}：{hint}")
    return out


_PROMPT_HINTS = {
    "post_arrest_bail_rate": "请结合个案核查变更强制措施的理由、羁押必要性审查情况"
                             "及与侦查机关的沟通，分析原因并提出对策建议。",
    "post_arrest_measure_change_rate": "请核查捕后变更强制措施的个案理由及侦查机关通知情况，"
                                       "分析原因并提出对策建议。",
    "arrest": "请结合案件结构（罪名、认罪认罚、未成年人）和审查逮捕质量分析原因，并提出对策建议。",
    "prosecution": "请结合案件结构和审查起诉质量（证据、程序）分析原因，并提出对策建议。",
    "judgment": "请结合判决结果和量刑建议情况分析原因，并提出对策建议。",
    "efficiency": "请结合办案力量、案件复杂程度和退查延长情况分析原因，并提出对策建议。",
    "volume": "请结合发案形势、侦查机关移送情况和季节因素分析原因，并提出对策建议。",
    "case_ratio": "请结合延长、退查、上诉等程序的个案情况分析原因，并提出对策建议。",
    "other": "请结合个案情况分析原因，并提出对策建议。",
}


def direction_word(change, *, notable=None, kind: str = "rate") -> str:
    """上升 / 下降 / 持平 / 基本持平 for a change (``notable`` False → 基本持平).

    Examples
    --------
    >>> [direction_word(x) for x in (2.0, -1.0, 0.0)]
    ['上升', '下降', '持平']
    >>> direction_word(2.0, notable=False), direction_word(float("nan"))
    ('基本持平', '—')
    """
    if is_missing(change):
        return DASH
    c = float(change)
    if round(c, DIGITS.get(kind, 1)) == 0:
        return "持平"
    if notable is not None and not bool(notable):
        return "基本持平"
    return "上升" if c > 0 else "下降"


# ---------------------------------------------------------------------------------------------
# The periodic overview
# ---------------------------------------------------------------------------------------------

#: Counts opening the periodic overview's findings (总体态势).
OVERVIEW_COUNTS = ("accepted_arrest_review", "accepted_prosecution_review",
                   "closed_prosecution_review")

#: Rates and durations of the findings' second sentence (主要指标).
OVERVIEW_RATES = ("non_arrest_rate", "non_prosecution_rate", "plea_leniency_rate",
                  "post_arrest_bail_rate", "prosecution_review_days_mean", "case_proceeding_ratio")


def bullets(lines) -> str:
    """Markdown bullet list of sentences (empty string for none).

    Examples
    --------
    >>> print(bullets(["甲。", "乙。"]))
    - 甲。
    - 乙。
    """
    return "\n".join(f"- {line}" for line in lines if line)


def overview_findings(panel_rows: pd.DataFrame, *, period, scope_zh: str = "",
                      counts=OVERVIEW_COUNTS, rates=OVERVIEW_RATES, top: int = 5,
                      verdict: bool = True, others: bool = True) -> list[str]:
    """The findings of the periodic overview, as sentences (总体态势 → 主要指标 → 变化).

    Parameters
    ----------
    panel_rows : DataFrame
        :func:`casework.analysis.panel.compute` rows for the whole scope (no grouping), e.g.
        ``tables.overview_tables(...)["panel"]``.
    period : str or Period
        The reporting period (for the lead words).
    scope_zh : str
        Unit name or 全部单位.
    counts, rates : sequences of codes
        Indicators of the first and second sentence (missing ones are left out).
    top : int
        At most this many further changes beyond noise (同比) are listed.
    verdict : bool
        Word changes with 需关注 / 向好 (:func:`change_clause`); False when the report names
        problems only through its error-controlled findings.
    others : bool
        List the further changes beyond noise (one uncorrected test per indicator); False
        for the same reason. Rows marked ``immature`` are never worded as a change, and a
        sentence says which rates are not yet mature (:func:`immature_note`).

    Returns
    -------
    list of str

    Examples
    --------
    >>> rows = pd.DataFrame([
    ...   {"indicator": "accepted_prosecution_review", "name_zh": "受理审查起诉", "kind": "count",
    ...    "count_unit": "person", "direction": "range", "value": 120, "year_ago_change": 20.0,
    ...    "year_ago_notable": True, "year_ago_p_value": 0.01},
    ...   {"indicator": "non_arrest_rate", "name_zh": "不捕率", "kind": "rate",
    ...    "count_unit": "person", "direction": "range", "value": 0.4, "year_ago_change": 1.0,
    ...    "year_ago_notable": False, "year_ago_p_value": 0.6}])
    >>> overview_findings(rows, period="2024-05", scope_zh="全院")[0]
    '2024年5月，全院共受理审查起诉120人，同比上升20.0%。'
    """
    out = []
    shown_counts = [c for c in counts if c in set(panel_rows["indicator"])]
    first = summary(panel_rows, indicators=shown_counts, lead=lead(period, scope_zh=scope_zh),
                    verdict=verdict)
    if first:
        out.append(first)
    present = [c for c in rates if c in set(panel_rows["indicator"])]
    second = summary(panel_rows, indicators=present, lead="主要指标：", verdict=verdict)
    if second:
        out.append(second)
    if others:
        shown = set(counts) | set(rates)
        rest = panel_rows[~panel_rows["indicator"].isin(shown)]
        if "immature" in rest.columns:
            rest = rest[~rest["immature"].fillna(False).astype(bool)]
        changes = notable_changes(rest, top=top)
        if changes:
            out.append("同比变化超出正常波动范围的还有：" + "；".join(changes) + "。")
        elif len(rest):
            out.append("其余指标同比变化均在正常波动范围内。")
    note = immature_note(panel_rows)
    if note:
        out.append(note)
    return out


def immature_note(panel_rows: pd.DataFrame) -> str:
    """Which rates of the period are not yet mature (rows with ``immature`` true), or "".

    Examples
    --------
    >>> rows = pd.DataFrame({"indicator": ["post_arrest_bail_rate", "non_arrest_rate"],
    ...                      "name_zh": ["捕后取保候审率", "不捕率"], "immature": [True, False]})
    >>> immature_note(rows).split("：")[0]
    '捕后取保候审率尚未成熟'
    """
    if panel_rows is None or "immature" not in panel_rows.columns:
        return ""
    hit = panel_rows[panel_rows["immature"].fillna(False).astype(bool)]
    names = list(dict.fromkeys(hit["name_zh"].astype(str)))
    if not names:
        return ""
    return ("、".join(names) + "尚未成熟：本期的逮捕、起诉、判决人员观察时间较短，"
            "其后的变更、撤回、"
            "上诉尚未全部发生，数值偏低，不能据此判断上升或下降，待观察期满后再作比较。")


def coverage_note(coverage) -> str:
    """A sentence flagging an incomplete period (:func:`casework.analysis.periods.coverage`),
    or "" when the data cover the whole period.

    Examples
    --------
    >>> from casework.analysis import periods
    >>> print(coverage_note(periods.coverage("2026", last_month="2026-11")))
    注意：数据截至2026年11月，2026年不完整（12个月中有11个月有数据）。本报告的数字为2026年1-11月，同比与2025年1-11月比较，趋势不含没有数据的月份。
    >>> coverage_note(periods.coverage("2026-11", last_month="2026-11"))
    ''
    """
    if coverage is None or coverage.complete:
        return ""
    p, e = coverage.period, coverage.effective
    return (f"注意：数据截至{coverage.last_month.label_zh}，{p.label_zh}不完整（"
            f"{coverage.months_in_period}个月中有{coverage.months_with_data}个月有数据）。"
            f"本报告的数字为{e.label_zh}，同比与{e.year_ago().label_zh}比较，"
            "趋势不含没有数据的月份。")


#: 原因分析 when no problem passed error control.
NO_PROMPTS = "本期未发现需关注的问题，无需专门分析原因。"

_CHARGE_HINT = ("请结合发案形势、作案手段的变化（可作多发性案件专题分析）及侦查机关移送情况"
                "分析原因，并提出对策建议。")


def finding_prompts(selected: pd.DataFrame, *, top: int = 5, empty: str | None = None
                    ) -> list[str]:
    """原因分析 / 对策建议 prompts for the analyst, one per problem finding (the ``finding``
    rows of :func:`casework.analysis.findings.select` that are not favourable), strongest
    first; ``empty`` when there is none.

    Examples
    --------
    >>> sel = pd.DataFrame([{"status": "finding", "rank": 1, "direction": "unfavourable",
    ...     "entity_name": "江州市东湖区人民检察院", "indicator": "recommendation_adoption_rate",
    ...     "indicator_name": "量刑建议采纳率", "start_month": "2025-12", "effect": -0.24}])
    >>> finding_prompts(sel)[0].split("：")[0]
    '江州市东湖区人民检察院量刑建议采纳率自2025年12月起明显下降'
    """
    if selected is None or not len(selected) or "status" not in selected.columns:
        return [empty] if empty else []
    f = selected[(selected["status"] == "finding") & (selected["direction"] != "favourable")]
    if "rank" in f.columns:
        f = f.sort_values("rank", kind="mergesort")
    out = []
    for _, r in f.head(top).iterrows():
        code = str(_get(r, "indicator", ""))
        try:
            group = _ind.get(code).group
        except Exception:  # detector codes (charge trends) are not registry indicators
            group = "other"
        hint = (_CHARGE_HINT if _get(r, "entity_type") == "charge" or code.startswith("charge")
                else _PROMPT_HINTS.get(code) or _PROMPT_HINTS.get(group)
                or _PROMPT_HINTS["other"])
        eff = _get(r, "effect")
        word = "明显变化" if is_missing(eff) or float(eff) == 0 else (
            "明显上升" if float(eff) > 0 else "明显下降")
        since = _month_zh(_get(r, "start_month"))
        when = f"自{since}起" if since else ""
        out.append(f"{_get(r, 'entity_name', '')}{_get(r, 'indicator_name', '')}{when}{word}："
                   f"{hint}")
    return out or ([empty] if empty else [])


def charge_reason(row) -> str:
    """Why a charge was chosen, from a row of
    :func:`casework.analysis.charge_trends.rising_charges`.

    Examples
    --------
    >>> print(charge_reason({"charge": "盗窃", "reason": "rising,frequent", "cases": 272,
    ...     "year_ago_cases": 111, "change": 145.0, "share": 0.28, "rank": 2,
    ...     "start_month": "2026-02", "months_signalling": 10, "latest_value": 194.0,
    ...     "baseline": 127.1}))
    盗窃：自2026年2月起持续上升（近10个月月均新受理194.0件，此前127.1件）；本期新受理272件，同比+145.0%，占28.0%，居第2位。
    >>> print(charge_reason({"charge": "危险驾驶", "reason": "frequent", "cases": 294,
    ...     "year_ago_cases": 277, "change": 6.1, "share": 0.31, "rank": 1}))
    危险驾驶：多发，本期新受理294件，同比+6.1%，占31.0%，居第1位。
    """
    reason = str(_get(row, "reason", ""))
    parts = []
    if "rising" in reason:
        k = int(_get(row, "months_signalling", 0) or 0)
        parts.append(f"自{_month_zh(_get(row, 'start_month'))}起持续上升（近{k}个月月均新受理"
                     f"{_get(row, 'latest_value', 0):.1f}件，"
                     f"此前{_get(row, 'baseline', 0):.1f}件）")
    tail = f"本期新受理{fmt_count(_get(row, 'cases'), '件')}"
    if not is_missing(_get(row, "change")):
        tail += f"，同比{fmt_change(_get(row, 'change'), kind='count')}"
    if not is_missing(_get(row, "share")):
        tail += f"，占{fmt_pct(_get(row, 'share'))}"
    if not is_missing(_get(row, "rank")):
        tail += f"，居第{int(_get(row, 'rank'))}位"
    head = "" if "rising" in reason else "多发，"
    parts.append(head + tail)
    return f"{_get(row, 'charge', '')}：" + "；".join(parts) + "。"


def scope_text(period, *, scope_zh: str, count_unit: str = "person", snapshot: str = "") -> str:
    """The opening paragraph of a periodic report: period and its dates, 同比/环比 bases,
    scope, count unit and snapshot.

    Examples
    --------
    >>> print(scope_text("2024-Q2", scope_zh="全部单位"))
    统计期间为2024年第二季度（2024-04-01至2024-06-30），范围为全部单位；同比与2023年第二季度比较，环比与2024年第一季度比较；人数按“人”（人次）计，另有注明的按“件”计。
    """
    p = _periods.parse(period)
    unit = "按“件”（部门受案号）计" if count_unit == "case" else "按“人”（人次）计"
    text = (f"统计期间为{p.label_zh}（{p.start.date()}至{p.end.date()}），范围为{scope_zh}；"
            f"同比与{p.year_ago().label_zh}比较，环比与{p.previous().label_zh}比较；"
            f"人数{unit}，另有注明的按“件”计。")
    if snapshot:
        text += f"数据来自快照 {snapshot}。"
    return text


def overview_limitations(period, *, count_unit: str = "person", months: int = 24,
                         data_start=None, alpha: float = 0.05) -> list[str]:
    """The 说明与局限 of the periodic overview, as sentences computed from its settings.

    Examples
    --------
    >>> lines = overview_limitations("2024-05", data_start="2022-01-01")
    >>> lines[0]
    '各指标按登记口径计入期间（受理、审结、逮捕、判决日期），口径与说明见“指标口径”表；同一人在不同环节分别计数。'
    >>> any("2022年1月" in line for line in lines)
    True
    """
    p = _periods.parse(period)
    unit = "件" if count_unit == "case" else "人"
    lines = [
        "各指标按登记口径计入期间（受理、审结、逮捕、判决日期），口径与说明见“指标口径”表；"
        "同一人在不同环节分别计数。",
        "同比、环比变化只有在超出随机波动（比率用两比例检验，数量用泊松检验，平均数用均值检验，"
        f"显著性水平{alpha:.0%}）时才表述为上升或下降，否则表述为基本持平；中位数和比值不作检验。",
        f"表中数量按“{unit}”计。",
        f"月度趋势显示截至{p.label_zh}的{months}个月，控制限由前{BASELINE_MONTHS}个月"
        f"（不足{2 * BASELINE_MONTHS}个月时为全部月份）估计，超出控制限、连续偏于一侧或持续上升"
        "下降的月份标为异常；监测按“件”计数，以免同案多人同时变动造成误报。",
        "捕后取保候审率按逮捕月份统计，最近几个月的逮捕人员观察时间较短，变更尚未发生，"
        "数值偏低；撤回起诉率、上诉率等依赖后续程序的指标同样如此。",
        "案卡中没有退查、延长、上诉的发生日期，分别以审结日期、判决日期代替；"
        "办案天数含退回补充侦查期间。",
        "指标用于分析研判，不作排名和考核；结构差异（罪名、认罪认罚、未成年人等）会影响横向比较。",
        "要点和存在问题只列经全报告误报控制的发现：对全部单位、各院、各部门（按院区分）、"
        "各侦查机关和派出所（按所属机关区分）的主要比率和办案天数逐一检验是否自某月起持续变化"
        "（各对象与同院、同机关的其他部分相比，并须至少持续两个月），对每个有一定案件量的罪名"
        "检验新受理案件是否持续上升或同比上升（与其他罪名相比，抵消季节因素），再对本报告所做的"
        f"全部检验统一控制错误发现率（{alpha:.0%}）；未达到要求的信号只列入明细表并标明“提示”。",
        "尚未成熟的比率（如最近几个月的捕后取保候审率、撤回起诉率、上诉率）只检验到观察期满的月份，"
        "报告中不作上升或下降的判断。",
    ]
    if data_start is not None and not (isinstance(data_start, float) and math.isnan(data_start)):
        start = pd.Timestamp(data_start)
        lines.append(f"数据自{start.year}年{start.month}月起，此前受理的案件不在快照中，"
                     "最早几个月的在办数、上期积存和审结率偏低。")
    return lines
