"""Findings in the office's words: one Chinese sentence per finding, 要点 and 存在问题 lists,
and a display table of every signal a report tested.

Sentences read the rows of :func:`casework.analysis.findings.select` with ``status ==
"finding"``; they name the full entity, say what moved and since when, give the recent value
and the value before (or the comparison level) and the difference with its 95 % interval —
no method words (no p-values, control limits or test names) in the sentence; the method goes
to the signal table and the appendix.

Optional extra columns of a signal frame that the sentences use when present:
``kind`` (``rate`` | ``count`` | ``mean`` | ``median`` | ``ratio``; default from the indicator
registry, else ``rate`` for names ending in 率/比例), ``unit_zh`` (天, 次 …), ``count_unit``
(``person`` | ``case``), ``baseline_zh`` (what the baseline is: 总体水平, 去年同期 …) and
``note`` (a clause appended to the sentence, e.g. an immaturity caveat).

Examples
--------
>>> import pandas as pd
>>> row = {"entity_name": "江州市公安局青山分局和平派出所", "indicator": "post_arrest_bail_rate",
...        "indicator_name": "捕后取保候审率", "direction": "unfavourable",
...        "start_month": "2026-03", "months_signalling": 6, "latest_value": 0.353,
...        "baseline": 0.038, "effect": 0.315, "effect_lower": 0.168, "effect_upper": 0.462}
>>> print(sentence(row))
江州市公安局青山分局和平派出所捕后取保候审率自2026年3月起明显上升，近6个月为35.3%，此前为3.8%（+31.5个百分点，95%区间为+16.8至+46.2个百分点）。
>>> bullets(pd.DataFrame(columns=["status"]))
'本期未发现需关注的问题。'
"""

from __future__ import annotations

import html as _html
import re

import pandas as pd

from casework.analysis import indicators as _ind
from casework.analysis import periods as _periods
from casework.analysis.findings import STATUS_LABELS
from casework.analysis.signals import DIRECTIONS, ENTITY_TYPES

#: What a report says when nothing passed error control.
NO_FINDINGS = "本期未发现需关注的问题。"
#: What a report's 存在问题 says when no unfavourable finding passed.
NO_PROBLEMS = "本期未发现需关注的问题。"

_UNIT_ZH = {"person": "人", "case": "件"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _missing(x) -> bool:
    try:
        return x is None or x is pd.NA or bool(pd.isna(x))
    except (TypeError, ValueError):
        return False


def _get(row, key, default=None):
    try:
        v = row[key]
    except (KeyError, IndexError, TypeError):
        return default
    return default if _missing(v) else v


def month_zh(code) -> str:
    """``"2026-03"`` → ``"2026年3月"``; missing → ``""``.

    Examples
    --------
    >>> month_zh("2026-03"), month_zh(None)
    ('2026年3月', '')
    """
    if _missing(code) or not str(code).strip():
        return ""
    return _periods.parse(str(code)).label_zh


def _kind(row) -> tuple[str, str, str]:
    """(kind, unit for means/medians, count unit 人/件) of a signal row."""
    kind, unit = _get(row, "kind"), _get(row, "unit_zh")
    count_unit = _UNIT_ZH.get(str(_get(row, "count_unit", "")), None)
    code = _get(row, "indicator")
    ind = None
    if code is not None and str(code) in _ind.registry():
        ind = _ind.get(str(code))
    if kind is None and ind is not None:
        kind = ind.kind
    if unit is None and ind is not None and ind.unit_zh:
        unit = ind.unit_zh
    if count_unit is None:
        count_unit = ind.count_unit_zh() if ind is not None else "人"
    if kind is None:
        name = str(_get(row, "indicator_name", ""))
        kind = "rate" if name.endswith(("率", "比例", "占比")) else "mean"
    if kind in ("mean", "median") and unit is None:
        unit = ""
    return str(kind), str(unit or ""), count_unit


def fmt_value(value, row) -> str:
    """A latest value or baseline in the display form of the row's indicator.

    Examples
    --------
    >>> fmt_value(0.353, {"indicator_name": "差错率"}), fmt_value(12, {"kind": "count"})
    ('35.3%', '12人')
    """
    kind, unit, cu = _kind(row)
    if kind == "count":
        return _periods.format_value(value, kind="count", unit=cu)
    return _periods.format_value(value, kind=kind, unit=unit)


def _change(value, row, *, with_unit: bool = True) -> str:
    """A signed difference in the row's unit: +31.5个百分点, +114人, -3.2天."""
    if _missing(value):
        return _periods.DASH
    kind, unit, cu = _kind(row)
    v = float(value)
    if kind == "rate":
        v = round(v * 100, 1) + 0.0
        return f"{v:+.1f}" + ("个百分点" if with_unit else "")
    if kind == "count":
        return f"{v:+,.0f}" + (cu if with_unit else "")
    if kind == "ratio":
        return f"{round(v, 2) + 0.0:+.2f}"
    return f"{round(v, 1) + 0.0:+,.1f}" + (unit if with_unit else "")


def effect_text(row) -> str:
    """``+31.5个百分点，95%区间为+16.8至+46.2个百分点`` (the interval only when known).

    Examples
    --------
    >>> effect_text({"indicator_name": "差错率", "effect": 0.05, "effect_lower": float("nan")})
    '+5.0个百分点'
    """
    eff = _get(row, "effect")
    if eff is None:
        return ""
    text = _change(eff, row)
    lo, hi = _get(row, "effect_lower"), _get(row, "effect_upper")
    if lo is not None and hi is not None:
        text += f"，95%区间为{_change(lo, row, with_unit=False)}至{_change(hi, row)}"
    return text


def _up(row) -> int:
    eff = _get(row, "effect")
    if eff is None:
        lv, bl = _get(row, "latest_value"), _get(row, "baseline")
        eff = (float(lv) - float(bl)) if lv is not None and bl is not None else 0.0
    return (float(eff) > 0) - (float(eff) < 0)


def sentence(row) -> str:
    """One plain Chinese sentence for a finding (a row of ``select``'s result, or a dict).

    Monthly signals (with ``start_month``): *who* + indicator + 自<month>起明显上升/下降，
    近<k>个月为<latest>，此前为<baseline>（difference, 95% interval）. Others: *who* +
    indicator + 为<latest>，明显高于/低于<baseline_zh>（<baseline>；difference …）.

    Examples
    --------
    >>> row = {"entity_name": "江州市江滨区人民检察院第二检察部", "indicator": "card_error_rate",
    ...        "indicator_name": "案卡差错率", "direction": "unfavourable",
    ...        "latest_value": 0.205, "baseline": 0.041, "effect": 0.164,
    ...        "effect_lower": 0.12, "effect_upper": 0.21, "baseline_zh": "全市平均"}
    >>> print(sentence(row))
    江州市江滨区人民检察院第二检察部案卡差错率为20.5%，明显高于全市平均（4.1%；+16.4个百分点，95%区间为+12.0至+21.0个百分点）。
    """
    who = str(_get(row, "entity_name", ""))
    name = str(_get(row, "indicator_name", _get(row, "indicator", "")))
    up = _up(row)
    latest = fmt_value(_get(row, "latest_value"), row)
    base = _get(row, "baseline")
    eff = effect_text(row)
    start = month_zh(_get(row, "start_month"))
    if start:
        k = int(_get(row, "months_signalling", 0) or 0)
        word = {1: "明显上升", -1: "明显下降"}.get(up, "出现明显变化")
        recent = f"近{k}个月" if k > 1 else ("最近1个月" if k == 1 else "近期")
        text = f"{who}{name}自{start}起{word}，{recent}为{latest}"
        if base is not None:
            text += f"，此前为{fmt_value(base, row)}"
        if eff:
            text += f"（{eff}）"
    else:
        level = str(_get(row, "baseline_zh", "总体水平"))
        text = f"{who}{name}为{latest}"
        if base is not None:
            word = {1: "明显高于", -1: "明显低于"}.get(up, "明显不同于")
            inner = fmt_value(base, row) + (f"；{eff}" if eff else "")
            text += f"，{word}{level}（{inner}）"
        elif eff:
            text += f"，变化明显（{eff}）"
    note = _get(row, "note")
    if isinstance(note, str) and note.strip():
        text += "，" + note.strip().rstrip("。")
    return text + "。"


def sentences(selected: pd.DataFrame, *, problems_only: bool = False) -> list[str]:
    """Sentences of the ``finding`` rows, strongest first; ``problems_only`` keeps the
    unfavourable and neutral ones (存在问题) and leaves out favourable ones."""
    if selected is None or not len(selected) or "status" not in selected.columns:
        return []
    f = selected[selected["status"] == "finding"]
    if problems_only:
        f = f[f["direction"] != "favourable"]
    if "rank" in f.columns:
        f = f.sort_values("rank", kind="mergesort")
    if "sentence" in f.columns:
        return [str(s) for s in f["sentence"]]
    return [sentence(r) for _, r in f.iterrows()]


def escape_markdown(text: str) -> str:
    """Text from data made literal in Markdown (HTML and Markdown punctuation escaped).

    Examples
    --------
    >>> escape_markdown("甲*乙<b>")
    '甲\\\\*乙&lt;b&gt;'
    """
    return _MD_SPECIAL.sub(r"\\\1", _html.escape(str(text), quote=False))


def bullets(selected: pd.DataFrame, *, problems_only: bool = False, top: int | None = None,
            empty: str | None = None) -> str:
    """Markdown bullet list of the findings (要点, or 存在问题 with ``problems_only``);
    a plain sentence when there is none (:data:`NO_FINDINGS`). Text is escaped.

    Examples
    --------
    >>> import pandas as pd
    >>> sel = pd.DataFrame({"status": ["finding", "weak"], "rank": [1, None],
    ...                     "direction": ["unfavourable", "unfavourable"],
    ...                     "sentence": ["甲院不诉率明显偏高。", "乙院。"]})
    >>> print(bullets(sel))
    - 甲院不诉率明显偏高。
    """
    lines = sentences(selected, problems_only=problems_only)
    if top is not None:
        lines = lines[:top]
    if not lines:
        return empty if empty is not None else (NO_PROBLEMS if problems_only else NO_FINDINGS)
    return "\n".join(f"- {escape_markdown(s)}" for s in lines)


def weak_note(selected: pd.DataFrame) -> str:
    """A line saying how many weaker signals stay in the table (empty when none).

    Examples
    --------
    >>> import pandas as pd
    >>> weak_note(pd.DataFrame({"status": ["weak", "weak", "none"]}))
    '另有2项提示未达到需关注的程度，仅列于表中，供参考。'
    """
    if selected is None or "status" not in selected.columns:
        return ""
    k = int((selected["status"] == "weak").sum())
    return f"另有{k:,}项提示未达到需关注的程度，仅列于表中，供参考。" if k else ""


def _fmt_p(p) -> str:
    if _missing(p):
        return _periods.DASH
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def signal_table(selected: pd.DataFrame, *, statuses=None) -> pd.DataFrame:
    """Display table of every signal (Chinese headers, formatted values, status in Chinese:
    发现 / 背景 / 提示（未达显著） / —).

    Parameters
    ----------
    selected : DataFrame
        :func:`casework.analysis.findings.select` output.
    statuses : sequence of str, optional
        Keep only these statuses (e.g. ``["finding", "context", "weak"]``).

    Examples
    --------
    >>> import pandas as pd
    >>> sel = pd.DataFrame([{"status": "weak", "rank": pd.NA, "entity_type": "unit",
    ...     "entity_id": "930104", "entity_name": "甲院", "indicator": "x",
    ...     "indicator_name": "不诉率", "direction": "unfavourable", "start_month": None,
    ...     "months_signalling": 0, "latest_value": 0.2, "baseline": 0.1, "effect": 0.1,
    ...     "effect_lower": 0.01, "effect_upper": 0.19, "n": 50.0, "p_value": 0.03,
    ...     "q_value": 0.4, "method": "漏斗图", "context_for": ""}])
    >>> signal_table(sel).iloc[0][["状态", "对象", "最新值", "差值"]].tolist()
    ['提示（未达显著）', '甲院', '20.0%', '+10.0个百分点']
    """
    sel = selected
    if statuses is not None:
        sel = sel[sel["status"].isin(list(statuses))]
    names = dict(zip(selected["entity_id"], selected["entity_name"])) if len(selected) else {}
    rows = []
    for _, r in sel.iterrows():
        lo, hi = _get(r, "effect_lower"), _get(r, "effect_upper")
        interval = (f"{_change(lo, r, with_unit=False)}至{_change(hi, r, with_unit=False)}"
                    if lo is not None and hi is not None else _periods.DASH)
        ctx = _get(r, "context_for", "")
        rank = _get(r, "rank")
        rows.append({
            "序号": int(rank) if rank is not None else None,
            "状态": STATUS_LABELS.get(str(_get(r, "status", "none")), "—"),
            "对象": _get(r, "entity_name", ""),
            "类别": ENTITY_TYPES.get(str(_get(r, "entity_type", "")), ""),
            "指标": _get(r, "indicator_name", ""),
            "方向": DIRECTIONS.get(str(_get(r, "direction", "")), ""),
            "起始月份": month_zh(_get(r, "start_month")) or _periods.DASH,
            "持续月数": int(_get(r, "months_signalling", 0) or 0),
            "最新值": fmt_value(_get(r, "latest_value"), r),
            "基准值": fmt_value(_get(r, "baseline"), r),
            "差值": _change(_get(r, "effect"), r),
            "95%区间": interval,
            "人数": _get(r, "n"),
            "P值": _fmt_p(_get(r, "p_value")),
            "全报告校正后": _fmt_p(_get(r, "q_value")),
            "方法": _get(r, "method", ""),
            "所属发现": names.get(ctx, ctx) if ctx else "",
        })
    cols = ["序号", "状态", "对象", "类别", "指标", "方向", "起始月份", "持续月数", "最新值",
            "基准值", "差值", "95%区间", "人数", "P值", "全报告校正后", "方法", "所属发现"]
    out = pd.DataFrame(rows, columns=cols)
    out["序号"] = out["序号"].astype("Int64")
    out["持续月数"] = out["持续月数"].astype("Int64")
    out["人数"] = pd.to_numeric(out["人数"], errors="coerce")
    return out
