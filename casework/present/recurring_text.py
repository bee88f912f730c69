"""Chinese sentences, chart frames and display labels of the recurring-case report
(多发性案件作案特点): :func:`narrative` and :func:`prompts` turn a
:class:`casework.analysis.topics.recurring.Characteristics` into sentences whose every number
is computed; :func:`shares_long` and :func:`trend_lines` reshape its tables for charts;
:data:`LABELS` and :data:`FORMATS` are the display labels and formats of its columns.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis import periods
from casework.analysis.topics.recurring import (
    BOOL_DIMENSIONS,
    PROFILE_DIMENSIONS,
    Characteristics,
)

#: Fewest topic persons (or cases) behind a characteristic the narrative states.
MIN_CLAIM_N = 5


def top_over(table: pd.DataFrame, k: int = 3, z: float = 1.96) -> pd.DataFrame:
    """The ``k`` categories of a contrast table over-represented in the topic: adjusted residual
    at least ``z`` and at least :data:`MIN_CLAIM_N` topic persons, strongest first.

    Examples
    --------
    >>> t = pd.DataFrame({"adj_residual": [2.5, 3.0], "topic_n": [4, 9]})
    >>> top_over(t)["topic_n"].tolist()
    [9]
    """
    if table is None or table.empty:
        return table if table is not None else pd.DataFrame()
    over = table[(table["adj_residual"] >= z) & (table["topic_n"] >= MIN_CLAIM_N)]
    return over.sort_values("adj_residual", ascending=False).head(k)


def narrative(result: Characteristics, *, z: float = 1.96,
              trend_finding: bool | None = None) -> list[str]:
    """Chinese sentences of the characteristics; every number comes from ``result``.

    Only contrasts whose adjusted residual exceeds ``z`` and that rest on at least
    :data:`MIN_CLAIM_N` topic persons are described as 较高 (higher than among other cases); a
    trend is called 上升 or 下降 only when its interval excludes 1 — and, when
    ``trend_finding`` is given (the report's findings step has judged the topic's charge
    trend), only when it is a finding: a rise that did not survive the report's error control
    is given as an estimate, not called a trend. Keywords are named when found in at least
    :data:`MIN_CLAIM_N` topic cases (emerging ones also at least twice as often as before).

    Returns
    -------
    list of str

    Examples
    --------
    >>> from casework.analysis.topics.recurring import characteristics
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃"]]})
    >>> narrative(characteristics(df, charges="盗窃"))[0]
    '全部期间，盗窃案件共2人，占同期全部案件人数（3人）的66.7%。'
    """
    r = result
    out: list[str] = [f"说明：{n}。" for n in r.notes_zh]
    if r.persons == 0:
        return out + [f"{r.period_zh}，所选单位没有{r.topic_zh}案件。"]
    share = r.persons / r.all_persons if r.all_persons else float("nan")
    out.append(f"{r.period_zh}，{r.topic_zh}案件共{r.persons:,}人，占同期全部案件人数"
               f"（{r.all_persons:,}人）的{share:.1%}。")
    if not r.trend.empty:
        t = r.trend.iloc[0]
        lo, hi, rr = t["rate_ratio_ci_lower"], t["rate_ratio_ci_upper"], t["rate_ratio"]
        span = (f"{pd.Timestamp(t['first_month']):%Y年%-m月}"
                f"至{pd.Timestamp(t['last_month']):%Y年%-m月}"
                if pd.notna(t["first_month"]) else f"{int(t['months'])}个月")
        if (lo > 1 or hi < 1) and trend_finding is False:
            out.append(f"{span}月度人数的{t['family_zh']}估计年率比为{rr:.2f}"
                       f"（95%置信区间{lo:.2f}至{hi:.2f}），经全报告的误差控制，"
                       "不作为明显趋势。")
        elif lo > 1 or hi < 1:
            word = "上升" if rr > 1 else "下降"
            out.append(f"{span}月度人数呈{word}趋势：{t['family_zh']}估计年率比为{rr:.2f}"
                       f"（95%置信区间{lo:.2f}至{hi:.2f}），即每年约{word}{abs(rr - 1):.0%}。")
        else:
            out.append(f"{span}月度人数无明显趋势：{t['family_zh']}估计年率比为{rr:.2f}"
                       f"（95%置信区间{lo:.2f}至{hi:.2f}，包含1）。")
        if len(r.trend) > 1:
            s = r.trend.iloc[1]
            if s["rate_ratio_ci_lower"] > 1 or s["rate_ratio_ci_upper"] < 1:
                word = "上升" if s["rate_ratio"] > 1 else "下降"
                out.append(f"其占全部案件的比例同样{word}，年率比{s['rate_ratio']:.2f}"
                           f"（95%置信区间{s['rate_ratio_ci_lower']:.2f}"
                           f"至{s['rate_ratio_ci_upper']:.2f}）。")
    for table, what in ((r.units, "承办单位"), (r.stations, "派出所")):
        if table is not None and not table.empty and table.attrs.get("groups", 0) > 1:
            k = len(table)
            out.append(f"从{what}看，案件分布在{table.attrs['groups']}个{what}，前{k}个"
                       f"（{'、'.join(table['category'])}）合计占{table.attrs['top_share']:.1%}。")
    over = top_over(r.profile, k=4, z=z)
    if over is not None and not over.empty:
        parts = [f"{_phrase(row)}（{row.topic_share:.1%}，其他案件{row.other_share:.1%}）"
                 for row in over.itertuples()]
        out.append("与其他案件相比，本专题人员中" + "、".join(parts) + "的比例较高。")
    for table, what in ((r.hours, "时段"), (r.weekdays, "星期"), (r.places, "场所")):
        top = top_over(table, k=3, z=z)
        if top is not None and not top.empty:
            parts = [f"{row.category_zh}（{row.topic_share:.1%}，其他案件{row.other_share:.1%}）"
                     for row in top.itertuples()]
            out.append(f"案发{what}相对集中于" + "、".join(parts) + "。")
    a = r.amounts
    if not a.empty and a.loc[0, "recorded"] > 0:
        row = a.iloc[0]
        out.append(f"记录涉案金额的{int(row['recorded']):,}人中，金额中位数{row['median']:,.0f}元"
                   "，"
                   f"四分位数间距{row['q1']:,.0f}元至{row['q3']:,.0f}元。")
    if not r.keywords.empty:
        k = r.keywords[r.keywords["topic_docs"] >= MIN_CLAIM_N].head(5)
    if not r.keywords.empty and not k.empty:
        parts = [f"“{row.term}”（见于{row.topic_doc_share:.1%}的本专题案件，"
                 f"其他案件{row.other_doc_share:.1%}）"
                 for row in k.itertuples()]
        out.append("案情摘要中最具特征的作案手段词语为" + "、".join(parts) + "。")
    new = r.emerging if r.emerging is not None else pd.DataFrame()
    if not new.empty:
        new = new[(new["topic_docs"] >= MIN_CLAIM_N) & (new["lift"] >= 2)]
    if not new.empty:
        k = new.head(3)
        parts = [f"“{row.term}”（本期{row.topic_doc_share:.1%}，此前{row.other_doc_share:.1%}）"
                 for row in k.itertuples()]
        out.append("与此前的同类案件相比，本期新出现或明显增多的词语有" + "、".join(parts) + "。")
    return out


def _phrase(row) -> str:
    if row.dimension in BOOL_DIMENSIONS:
        return PROFILE_DIMENSIONS[row.dimension]
    return f"{row.dimension_zh}为{row.category_zh}"


def shares_long(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`contrast` table in long form for a chart: ``category_zh, label, group_zh, share``.

    ``label`` is the category without a trailing unit (``21时`` → ``21``) for crowded axes.

    Examples
    --------
    >>> t = pd.DataFrame({"category_zh": ["21时"], "topic_share": [0.9], "other_share": [0.5]})
    >>> shares_long(t).values.tolist()
    [['21时', '21', '本专题', 0.9], ['21时', '21', '其他案件', 0.5]]
    """
    rows = []
    for r in table.itertuples():
        label = str(r.category_zh).removesuffix("时")
        rows.append((r.category_zh, label, "本专题", r.topic_share))
        rows.append((r.category_zh, label, "其他案件", r.other_share))
    return pd.DataFrame(rows, columns=["category_zh", "label", "group_zh", "share"])


def trend_lines(monthly: pd.DataFrame, trend_table: pd.DataFrame) -> pd.DataFrame:
    """Monthly counts and the fitted trend in long form for a chart.

    Returns
    -------
    DataFrame
        ``month, series_zh, n``: ``实际人数`` and ``趋势拟合（<model>）`` rows per month.

    Examples
    --------
    >>> m = pd.DataFrame({"month": pd.date_range("2024-01-01", periods=2, freq="MS"),
    ...                   "t_years": [0, 1 / 12], "n": [10, 12], "all_n": [100, 100]})
    >>> t = pd.DataFrame({"measure": ["count"], "family_zh": ["泊松回归"],
    ...                   "intercept": [np.log(10)],
    ...                   "estimate": [np.log(2)]})
    >>> out = trend_lines(m, t)
    >>> out["series_zh"].unique().tolist(), round(float(out["n"].iloc[-1]), 3)
    (['实际人数', '趋势拟合（泊松回归）'], 10.595)
    """
    actual = monthly[["month", "n"]].assign(series_zh="实际人数")
    if trend_table.empty:
        return actual[["month", "series_zh", "n"]]
    row = trend_table[trend_table["measure"] == "count"].iloc[0]
    fitted = monthly[["month"]].assign(
        series_zh=f"趋势拟合（{row['family_zh']}）",
        n=np.exp(row["intercept"] + row["estimate"] * monthly["t_years"].astype(float)))
    return pd.concat([actual, fitted], ignore_index=True)[["month", "series_zh", "n"]]


def prompts(result: Characteristics, *, z: float = 1.96,
            trend_finding: bool | None = None) -> list[str]:
    """Prompts for 原因分析 and 对策建议, computed from the findings, for the analyst to complete.

    The growth prompt appears only for a rising trend (and, when ``trend_finding`` is given,
    only when the report's findings step found the rise). No police station is singled out
    here: a station is named for a 联席会议 only as a finding of a report that tests stations.

    Returns
    -------
    list of str
        Each names a finding (with its number) and the question it raises.

    Examples
    --------
    >>> from casework.analysis.topics.recurring import characteristics
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃"]]})
    >>> prompts(characteristics(df, charges="盗窃"))
    ['未发现明显的集中或异常特征，请结合办案实践补充分析。']
    """
    r = result
    out: list[str] = []
    if not r.trend.empty:
        t = r.trend.iloc[0]
        if t["rate_ratio_ci_lower"] > 1 and trend_finding is not False:
            out.append(f"案件数量每年约增长{t['rate_ratio'] - 1:.0%}：请结合同期打击整治部署、"
                       "侦查机关移送力度和社会面发案情况分析增长原因。")
    over = top_over(r.profile, k=2, z=z)
    if over is not None and not over.empty:
        who = "、".join(_phrase(row) for row in over.itertuples())
        out.append(f"{who}的人员比例明显偏高：请分析其成因，并研究有针对性的预防和教育措施。")
    if not r.keywords.empty and (r.keywords["topic_docs"] >= MIN_CLAIM_N).any():
        words = "、".join(f"“{w}”" for w in
                         r.keywords.loc[r.keywords["topic_docs"] >= MIN_CLAIM_N, "term"].head(3))
        out.append(f"作案手段以{words}等为特征：可结合典型案例开展以案释法和风险提示。")
    if not out:
        out.append("未发现明显的集中或异常特征，请结合办案实践补充分析。")
    return out


#: Display labels of this module's columns (``page.table(..., labels=recurring_text.LABELS)``).
LABELS: dict[str, str] = {
    "measure_zh": "口径", "family_zh": "模型", "rate_ratio": "年率比",
    "rate_ratio_ci_lower": "95%区间下限", "rate_ratio_ci_upper": "95%区间上限",
    "pearson_dispersion": "离散度（Pearson）", "nb_alpha": "负二项α",
    "overdispersion_p": "过度离散检验P值",
    "months": "月数", "total": "人数合计", "first_month": "起始月", "last_month": "截止月",
    "dimension_zh": "维度", "category": "类别", "category_zh": "类别", "rank": "位次",
    "cumulative_share": "累计占比", "all_n": "全部案件人数", "topic_rate": "本专题占该类别比例",
    "groups": "类别数", "top_n": "前N位", "top_categories": "前N位名称",
    "top_share": "前N位合计占比",
    "hhi": "赫芬达尔指数",
    "topic_n": "本专题人数", "topic_share": "本专题占比", "other_n": "其他案件人数",
    "other_share": "其他案件占比", "difference": "占比差", "adj_residual": "调整残差",
    "chi2_p": "卡方检验P值",
    "group_zh": "组别", "persons": "人数", "recorded": "有金额记录人数", "median": "中位数（元）",
    "q1": "下四分位数（元）", "q3": "上四分位数（元）", "mean": "平均数（元）",
    "max": "最大值（元）",
    "term": "词语", "topic_docs": "本专题案件数", "topic_doc_share": "本专题案件占比",
    "other_docs": "其他案件数", "other_doc_share": "其他案件占比", "lift": "提升度",
    "tf": "词频", "idf": "逆文档频率", "score": "TF-IDF得分", "examples_zh": "示例短语",
    "month": "月份", "t_years": "时间（年）", "n": "本专题人数", "share": "占比",
    "intercept": "截距（对数）", "series_zh": "序列", "label": "标签", "term_zh": "自变量",
}


#: Display formats of this module's columns (``page.table(..., formats=recurring_text.FORMATS)``).
FORMATS: dict[str, str] = {
    "rate_ratio": "{:.2f}", "rate_ratio_ci_lower": "{:.2f}", "rate_ratio_ci_upper": "{:.2f}",
    "estimate": "{:.3f}", "std_err": "{:.3f}", "ci_lower": "{:.3f}", "ci_upper": "{:.3f}",
    "p_value": "{:.4f}", "overdispersion_p": "{:.4f}", "chi2_p": "{:.4f}",
    "pearson_dispersion": "{:.2f}", "nb_alpha": "{:.3f}",
    "share": "{:.1%}", "cumulative_share": "{:.1%}", "topic_rate": "{:.1%}", "top_share": "{:.1%}",
    "hhi": "{:.3f}", "topic_share": "{:.1%}", "other_share": "{:.1%}", "difference": "{:+.1%}",
    "adj_residual": "{:+.2f}", "topic_doc_share": "{:.1%}", "other_doc_share": "{:.1%}",
    "lift": "{:.1f}", "tf": "{:.4f}", "idf": "{:.2f}", "score": "{:.4f}",
    "median": "{:,.0f}", "q1": "{:,.0f}", "q3": "{:,.0f}", "mean": "{:,.0f}", "max": "{:,.0f}",
}


#: Labels for :func:`emerging_terms` (the comparison is the topic's earlier cases).
EMERGING_LABELS: dict[str, str] = {
    **LABELS, "topic_docs": "本期案件数", "topic_doc_share": "本期案件占比",
    "other_docs": "此前案件数", "other_doc_share": "此前案件占比",
}


def choice_text(chosen: pd.DataFrame | None, *, topic_zh: str = "") -> str:
    """Why the report studies these charges: the automatic choice
    (:func:`casework.analysis.topics.recurring.choose_charges`) in a sentence; ``""`` when
    the user named the charges (``chosen`` is None).

    Examples
    --------
    >>> c = pd.DataFrame({"charge": ["盗窃"], "chosen": ["rising"], "start_month": ["2026-01"],
    ...                   "cases": [412.0], "change": [38.5], "share": [0.21]})
    >>> print(choice_text(c))
    本报告未指定罪名，按本期的罪名趋势自动选取上升的罪名：盗窃（自2026年1月起持续上升，本期新受理412件，同比+38.5%）。
    >>> c = c.assign(chosen="frequent", start_month=None)
    >>> print(choice_text(c))
    本期没有经检验持续上升的罪名，自动选取本期新受理案件最多的罪名：盗窃（本期新受理412件，占全部的21.0%）。
    >>> u = pd.DataFrame({"charge": ["盗窃"], "persons": [18], "share": [0.225],
    ...                   "chosen": ["undated"]})
    >>> print(choice_text(u))
    数据中没有受理日期，无法按本期趋势选取罪名，自动选取人数最多的罪名：盗窃（18人，占全部的22.5%）。
    """
    if chosen is None or not len(chosen):
        return ""
    if (chosen["chosen"] == "undated").all():
        r = chosen.iloc[0]
        return ("数据中没有受理日期，无法按本期趋势选取罪名，自动选取人数最多的罪名："
                f"{r['charge']}（{int(r['persons']):,}人，占全部的{r['share']:.1%}）。")
    parts = []
    for r in chosen.itertuples():
        bits = []
        start = getattr(r, "start_month", None)
        if r.chosen == "rising" and isinstance(start, str) and start:
            bits.append(f"自{periods.parse(start).label_zh}起持续上升")
        cases = getattr(r, "cases", float("nan"))
        if pd.notna(cases):
            bits.append(f"本期新受理{cases:,.0f}件")
        change = getattr(r, "change", float("nan"))
        share = getattr(r, "share", float("nan"))
        if r.chosen == "rising" and pd.notna(change):
            bits.append(f"同比{change:+.1f}%")
        elif pd.notna(share):
            bits.append(f"占全部的{share:.1%}")
        parts.append(f"{r.charge}（{'，'.join(bits)}）" if bits else str(r.charge))
    if (chosen["chosen"] == "rising").any():
        head = "本报告未指定罪名，按本期的罪名趋势自动选取上升的罪名："
    else:
        head = "本期没有经检验持续上升的罪名，自动选取本期新受理案件最多的罪名："
    return head + "；".join(parts) + "。"
