"""Chinese sentences and display tables of the comparison reports: horizontal comparison
(横向对比), post-arrest bail monitoring (捕后取保候审监测) and prosecutor profiles
(员额检察官办案数据).

Reads the tidy frames of :mod:`casework.analysis.casemix`, :mod:`casework.analysis.bail`,
:mod:`casework.analysis.workload` and :mod:`casework.analysis.days`; every number in a
sentence is computed from them, data values are escaped (:func:`escape_text`). Access levels
are applied here, never in analysis: :func:`at_level` puts pseudonyms in place of
prosecutors' names and records the level that the sentence builders then honour (counts
below :data:`SMALL_COUNT` are not written at the circulated level).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from casework.analysis import indicators as _ind
from casework.analysis.casemix import GROUPINGS, flagged_case_rows, group_labels
from casework.analysis.funnels import DEFAULT_MIN_N, MIN_GROUPS_RELATIONS, best_z, to_float
from casework.analysis.workload import (
    CASE_WEIGHTS,
    CHARGE_GROUP_FACTORS,
    EXTRA_PERSON_WEIGHT,
    PROSECUTOR,
    STAGE_ZH,
)
from casework.base.checks import as_keys
from casework.base.errors import ParameterError, check_choice
from casework.present.markdown import escape_text as _esc
from casework.present.privacy import LEVELS, pseudonymise

#: Funnel positions in Chinese.
FLAG_LABELS_ZH = {"alarm": "超出99.8%控制限", "alert": "超出95%控制限", "": "在控制限内"}
DIRECTION_ZH = {"high": "偏高", "low": "偏低", "": ""}
DIRECTION_NAME_ZH = {"higher_better": "越高越好", "lower_better": "越低越好",
                     "range": "宜在合理区间"}
MEASURE_ZH = {"rate": "比率", "ratio_oe": "实际/预期", "mean": "平均值",
              "days_ratio": "办案天数比"}
ADJUST_ZH = {"case_mix": "（比率按案件结构调整：实际数÷按罪名类别、认罪认罚、未成年、累犯、"
                         "羁押等因素预期的数；办案天数与同环节、同程序、同罪名类别、同羁押状态的"
                         "案件比较）",
             "none": "（未做案件结构调整）"}
POSITION_ZH = {("alarm", "high"): "偏高，超出99.8%控制限",
               ("alarm", "low"): "偏低，超出99.8%控制限",
               ("alert", "high"): "偏高，超出95%控制限",
               ("alert", "low"): "偏低，超出95%控制限"}


# ---------------------------------------------------------------------------------------------
# access level and funnel position
# ---------------------------------------------------------------------------------------------


def level_labels(frame: pd.DataFrame, keys: Sequence[str], records: pd.DataFrame | None = None,
                 *, level: str = "internal") -> pd.Series:
    """:func:`casework.analysis.casemix.group_labels` at an access level: at ``circulated`` a
    prosecutor appears as his stable pseudonym (:func:`casework.present.privacy.pseudonymise`
    of the 工号 — the same letter :func:`casework.present.privacy.sanitize_frame` gives him in
    tables).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"prosecutor_id": ["930101001"]})
    >>> r = pd.DataFrame({"prosecutor_id": ["930101001"], "prosecutor_name": ["王五"]})
    >>> level_labels(f, ["prosecutor_id"], r).tolist()
    ['王五']
    >>> level_labels(f, ["prosecutor_id"], r, level="circulated").str.startswith("检察官").tolist()
    [True]
    """
    check_choice("level", level, LEVELS)
    masks = {"prosecutor_id": pseudonymise} if level == "circulated" else None
    return group_labels(frame, keys, records, masks=masks)


def at_level(frame: pd.DataFrame, level: str = "internal", *,
             records: pd.DataFrame | None = None, keys: Sequence[str] | None = None
             ) -> pd.DataFrame:
    """A comparison frame at the report's access level: its ``label`` column rebuilt by
    :func:`level_labels` and ``attrs["level"]`` set (the sentence builders suppress small
    counts at ``circulated``).

    Parameters
    ----------
    frame : DataFrame
        Output of :func:`casework.analysis.casemix.horizontal`,
        :func:`casework.analysis.workload.days_by_stage`, ``quality``, ``shifts_by_stage`` …
    level : {"internal", "circulated"}
    records : DataFrame, optional
        For unit and prosecutor names.
    keys : sequence of str, optional
        Group keys (default ``frame.attrs["keys"]``).
    """
    check_choice("level", level, LEVELS)
    keys = as_keys(keys) if keys is not None else list(frame.attrs.get("keys", []))
    attrs = dict(frame.attrs)
    out = frame.copy()
    if level != "internal" and "label" in out.columns and len(out) and keys:
        out["label"] = level_labels(out, keys, records, level=level).to_numpy()
    attrs["level"] = level
    out.attrs = attrs
    return out


def position(flag, direction, below) -> str:
    """The Chinese funnel position of one point (在控制限内 / 偏高，超出95%控制限 … /
    样本量不足，不作判断)."""
    if below:
        return "样本量不足，不作判断"
    return POSITION_ZH.get((flag, direction), "在控制限内")


def with_position(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame with a Chinese ``position`` column (:func:`position`), attrs kept."""
    attrs = dict(frame.attrs)
    out = frame.copy()
    if len(out):
        out["position"] = [position(f, d, b) for f, d, b in
                           zip(out["flag"], out["flag_direction"], out["below_min_n"])]
    out.attrs = attrs
    return out


# ---------------------------------------------------------------------------------------------
# horizontal comparison
# ---------------------------------------------------------------------------------------------

#: Counts below this are not written into circulated narrative (as in the tables).
SMALL_COUNT = 5


def small_count(row, level) -> bool:
    """At the circulated level: does the row's numerator (or its complement) count fewer than
    :data:`SMALL_COUNT` persons?"""
    if level != "circulated":
        return False
    num, den = row.get("numerator"), row.get("denominator")
    try:
        num, den = float(num), float(den)
    except (TypeError, ValueError):
        return False
    if not (np.isfinite(num) and np.isfinite(den)) or row.get("kind") not in ("rate", None):
        return False
    return 0 < num < SMALL_COUNT or 0 < den - num < SMALL_COUNT


def fmt_crude(row, level: str = "internal") -> str:
    kind, unit = row.get("kind"), row.get("unit_zh") or ""
    v = row.get("crude_value")
    if small_count(row, level):
        return f"不列示（涉及人数少于{SMALL_COUNT}人）"
    if v is None or not np.isfinite(v):
        return "—"
    if kind == "rate":
        return f"{v:.1%}"
    return f"{v:.1f}{unit}"


def _point_sentence(row, level: str = "internal") -> str:
    measure = row["measure"]
    side = DIRECTION_ZH.get(row["flag_direction"], "")
    where = "超出99.8%控制限" if row["flag"] == "alarm" else "超出95%控制限"
    lo, hi = row.get("value_ci_lower"), row.get("value_ci_upper")
    if measure == "ratio_oe":
        counted = row.get("numerator"), row.get("denominator")
        exp_rate = row.get("expected_rate")
        known = exp_rate is not None and np.isfinite(exp_rate)
        exp_text = f"，按案件结构预期 {exp_rate:.1%}" if known else ""
        frac = "" if small_count(row, level) else f"（{counted[0]:,.0f}/{counted[1]:,.0f}）"
        body = (f"{fmt_crude(row, level)}{frac}{exp_text}，"
                f"实际/预期 {row['value']:.2f}（95%区间 {lo:.2f}–{hi:.2f}）")
    elif measure == "days_ratio":
        body = (f"平均办案 {row['mean_days']:.1f} 天，同类案件预期 "
                f"{row['expected_mean_days']:.1f} 天，为预期的 {row['value']:.2f} 倍"
                f"（95%区间 {lo:.2f}–{hi:.2f}，{row['size']:,.0f}件）")
    elif measure == "mean":
        body = (f"{row['value']:.1f}{row.get('unit_zh') or ''}（总体 {row['target']:.1f}，"
                f"95%区间 {lo:.1f}–{hi:.1f}）")
    elif small_count(row, level):
        body = f"{fmt_crude(row, level)}（总体 {row['target']:.1%}）"
    else:
        body = (f"{row['value']:.1%}（{row['numerator']:,.0f}/{row['denominator']:,.0f}，"
                f"95%区间 {lo:.1%}–{hi:.1%}；总体 {row['target']:.1%}）")
    concern = ""
    if row.get("concern") and row.get("direction") in ("higher_better", "lower_better"):
        concern = "，与该指标的期望方向相反"
    return f"{_esc(row['label'])}{side}：{body}，{where}{concern}"


def describe_comparison(result: pd.DataFrame, *, grouping: str = "department",
                        period_label: str | None = None) -> str:
    """The narrative of a horizontal comparison: what stands out and what does not.

    Explains, never ranks: flagged points are named with their values, expectation and
    interval; everything inside the limits is said to be within chance; groups below the
    small-n floor are counted but not judged.

    Parameters
    ----------
    result : DataFrame
        :func:`horizontal` output (labels already at the report's access level).
    grouping : str
        Key of :data:`GROUPINGS` (for the Chinese name of the groups).
    period_label : str, optional
        E.g. ``P.period.label_zh``.

    Returns
    -------
    str
        Markdown (data values escaped), for :func:`casework.notebook.page.md`.
    """
    gname = GROUPINGS.get(grouping, ((), "分组"))[1]
    if result.empty:
        return f"本期没有可比较的数据（{gname}）。"
    level = result.attrs.get("level", "internal")
    min_n = result.attrs.get("min_n", DEFAULT_MIN_N)
    adjust = result.attrs.get("adjust", "none")
    elig = ~result["below_min_n"].astype(bool)
    n_groups = int(result["label"].nunique())
    n_ind = int(result["indicator"].nunique())
    alarm = int(((result["flag"] == "alarm") & elig).sum())
    alert = int(((result["flag"] == "alert") & elig).sum())
    points = int(elig.sum())
    when = f"{period_label}，" if period_label else ""
    lines = [
        f"{when}对 {n_groups} 个{gname}的 {n_ind} 项指标作横向对比{ADJUST_ZH.get(adjust, '')}。"
        f"达到最小样本量（{min_n}）的比较点共 {points} 个：{alarm} 个超出99.8%控制限，"
        f"{alert} 个位于95%与99.8%控制限之间；其余 {points - alarm - alert} 个点的差异在随机波动"
        f"范围内，不宜解读为实际差异。"
    ]
    below = int((~elig).sum())
    if below:
        lines[0] += f"另有 {below} 个比较点样本量不足 {min_n}，只列示、不作判断。"
    lines.append("")
    for _code, block in result.groupby("indicator", sort=False):
        first = block.iloc[0]
        name = _esc(first["name_zh"])
        flagged = block.loc[(block["flag"] != "") & ~block["below_min_n"].astype(bool)].copy()
        n_el = int((~block["below_min_n"].astype(bool)).sum())
        od = ""
        tau2, od_p = first.get("tau2"), first.get("od_p_value")
        if result.attrs.get("overdispersion", "none") != "none" and tau2 is not None and \
                np.isfinite(tau2) and tau2 > 0:
            if od_p < 0.05:
                od = (f"各{gname}之间的差异大于随机波动（过度离散检验 P={od_p:.3f}），"
                      f"控制限已按组间差异放宽。")
            else:
                od = (f"控制限已按估计的组间差异略作放宽（过度离散检验 P={od_p:.3f}，"
                      f"组间差异不显著）。")
        if flagged.empty:
            lines.append(f"- **{name}**：参与比较的 {n_el} 个{gname}均在控制限内。{od}")
            continue
        flagged["_absz"] = -np.abs(best_z(flagged))
        flagged = flagged.sort_values("_absz")
        alarms = flagged.loc[flagged["flag"] == "alarm"]
        alerts = flagged.loc[flagged["flag"] == "alert"]
        text = "；".join(_point_sentence(r, level) for _, r in alarms.iterrows())
        if len(alerts):
            short = "、".join(f"{_esc(r['label'])}（{DIRECTION_ZH.get(r['flag_direction'], '')}，"
                             f"{fmt_crude(r, level)}）" for _, r in alerts.iterrows())
            text += ("；" if text else "") + f"位于95%与99.8%控制限之间的有：{short}"
        rest = n_el - len(flagged)
        lines.append(f"- **{name}**：{text}。其余 {rest} 个{gname}在控制限内。{od}")
    lines.append("")
    lines.append("以上提示只说明差异大于随机波动可以解释的程度，不是排名；原因须结合具体案件分析"
                 "（内部密级的报告附有各提示点的案件清单）。")
    return "\n".join(lines)


def flagged_cases_table(rows: pd.DataFrame) -> pd.DataFrame:
    """:func:`casework.analysis.casemix.flagged_case_rows` with Chinese headings for the
    internal case list: ``分组``, ``指标``, ``提示`` (超出99.8%/95%控制限, 偏高/偏低), keys and
    case columns, ``计入分子`` (rates) or ``办案天数`` / ``同类预期天数`` (handling days).
    Pass it to :func:`casework.notebook.page.attachment`."""
    head = ["分组", "指标", "提示"]
    if rows is None or rows.empty:
        return pd.DataFrame(columns=head)
    hint = (rows["flag"].map({"alarm": "超出99.8%控制限", "alert": "超出95%控制限"})
            + rows["flag_direction"].map(DIRECTION_ZH))
    out = rows.drop(columns=["label", "indicator_name", "flag", "flag_direction"])
    if "expected_days" in out.columns:
        out["expected_days"] = out["expected_days"].round(1)
    out = out.rename(columns={"days": "办案天数", "expected_days": "同类预期天数",
                              "in_numerator": "计入分子"})
    out.insert(0, "提示", hint.to_numpy())
    out.insert(0, "指标", rows["indicator_name"].to_numpy())
    out.insert(0, "分组", rows["label"].to_numpy())
    return out.reset_index(drop=True)


def flagged_cases(records: pd.DataFrame, result: pd.DataFrame, *,
                  journeys: pd.DataFrame | None = None, concern_only: bool = False
                  ) -> pd.DataFrame:
    """The internal case list of a horizontal comparison's flagged points, with Chinese
    headings: :func:`flagged_cases_table` of :func:`casework.analysis.casemix.flagged_case_rows`
    (same arguments)."""
    return flagged_cases_table(flagged_case_rows(records, result, journeys=journeys,
                                                 concern_only=concern_only))


# ---------------------------------------------------------------------------------------------
# post-arrest bail monitoring
# ---------------------------------------------------------------------------------------------


def describe_bail(signals: pd.DataFrame, comparison: pd.DataFrame | None = None, *,
                  period_label: str | None = None, months: int = 24) -> str:
    """Narrative of the post-arrest bail monitor: which streams signalled, since when, how
    much; which stood out on the period's funnel; and that the rest did not.

    Returns
    -------
    str
        Markdown (data values escaped).
    """
    when = f"截至{period_label}的" if period_label else "近"
    if signals is None or signals.empty:
        return "监测期内没有逮捕数据。"
    p0 = float(signals["p0"].iloc[0])
    n = len(signals)
    hit = signals.loc[signals["signal"].astype(bool)]
    lines = [f"{when}{months}个月内，{n} 个派出所（含其他侦查部门）共批准逮捕并执行 "
             f"{int(signals['arrests'].sum()):,} 人，其中后来变更为取保候审 "
             f"{int(signals['bail'].sum()):,} 人，总体比例 {p0:.1%}。"]
    if hit.empty:
        lines.append("按逮捕先后逐人累积的 CUSUM 监测没有发出信号：各派出所的捕后取保候审比例"
                     "未见持续上升。")
    else:
        lines.append("CUSUM 监测（以总体比例为基准，监测变更比例的几率翻倍）对 "
                     f"{len(hit)} 个派出所发出信号：")
        for _, r in hit.iterrows():
            before = (f"此前为 {r['rate_before']:.1%}" if np.isfinite(r["rate_before"])
                      else "监测期初即偏高")
            lines.append(
                f"- **{_esc(r['label'])}**：自 {_esc(r['start_month'])} 起"
                f"（{_esc(r['signal_month'])} 发出信号），逮捕 "
                f"{int(r['arrests_since_start']):,} 人中变更为取保候审 "
                f"{int(r['bail_since_start']):,} 人，比例 {r['rate_since_start']:.1%}，{before}。")
    if comparison is not None and len(comparison):
        al = comparison.loc[(comparison["flag"] != "") & ~comparison["below_min_n"].astype(bool)]
        quiet = int((~comparison["below_min_n"].astype(bool)).sum()) - len(al)
        if len(al):
            lines.append("")
            lvl = comparison.attrs.get("level", "internal")
            points = "；".join(_point_sentence(r, lvl) for _, r in al.iterrows())
            lines.append(f"本期漏斗图：{points}。其余 {quiet} 个派出所在控制限内。")
        else:
            lines.append("")
            lines.append(f"本期漏斗图：参与比较的 {quiet} 个派出所均在控制限内。")
    return "\n".join(lines)


def joint_meeting_points(signals: pd.DataFrame, comparison: pd.DataFrame | None = None, *,
                         cases: pd.DataFrame | None = None) -> str:
    """Points to raise at the joint meeting (联席会议) with the investigating agencies, written
    from the monitor's findings.

    Returns
    -------
    str
        Markdown: one numbered point per agency with signalling or flagged stations (what was
        seen, since when, the numbers, what to ask and to check), plus the standing points
        (notification duty under CPL art. 96, 羁押必要性审查 art. 95). When nothing stands out
        it says so and proposes only the routine items.
    """
    if signals is not None and len(signals):
        hit = signals.loc[signals["signal"].astype(bool)]
    else:
        hit = pd.DataFrame(columns=["referring_agency", "label"])
    flagged = pd.DataFrame(columns=["label"])
    if comparison is not None and len(comparison):
        flagged = comparison.loc[(comparison["flag"] != "")
                                 & ~comparison["below_min_n"].astype(bool)
                                 & (comparison["flag_direction"] == "high")]
    points = []
    agencies = list(dict.fromkeys(list(hit.get("referring_agency", [])) +
                                  list(flagged.get("referring_agency", []))))
    for agency in agencies:
        rows = (hit.loc[hit["referring_agency"] == agency] if "referring_agency" in hit
                else hit.iloc[0:0])
        frows = (flagged.loc[flagged["referring_agency"] == agency]
                 if "referring_agency" in flagged else flagged.iloc[0:0])
        seen = []
        for _, r in rows.iterrows():
            seen.append(f"{_esc(r['label'])}自 {_esc(r['start_month'])} 起逮捕 "
                        f"{int(r['arrests_since_start']):,} 人中 {int(r['bail_since_start']):,} 人"
                        f"变更为取保候审（{r['rate_since_start']:.1%}，"
                        f"监测范围总体 {r['p0']:.1%}）")
        for _, r in frows.iterrows():
            if r["label"] in set(rows.get("label", [])):
                continue
            seen.append(f"{_esc(r['label'])}本期捕后取保候审比例 "
                        f"{fmt_crude(r, comparison.attrs.get('level', 'internal'))}，超出控制限")
        n_cases = ""
        if cases is not None and len(cases) and "referring_agency" in cases.columns:
            k = int((cases["referring_agency"] == agency).sum())
            n_cases = f"（内部案件清单 {k:,} 人，可逐案核对）" if k else ""
        points.append(
            f"**{_esc(agency)}**：" + "；".join(seen) + "。建议在联席会议上通报上述情况，请其说明"
            "逮捕后变更强制措施的主要原因（案件证据变化、羁押必要性变化、身体状况等），核对每一起变更"
            f"是否依照刑事诉讼法第九十六条及时通知原批准逮捕的人民检察院{n_cases}；对未通知或理由不充分的"
            "案件逐案反馈，并商定此后变更强制措施的通报和备案方式。")
    lines = []
    if points:
        lines += [f"{i}. {p}" for i, p in enumerate(points, 1)]
        lines.append(f"{len(points) + 1}. 双方共同核实：上述变更中是否有审查逮捕时证据已显不足或无"
                     "社会危险性的情形，反向检视本院批准逮捕的质量；必要时对在押人员开展羁押必要性"
                     "审查（刑事诉讼法第九十五条）。")
    else:
        lines.append("1. 本期各侦查机关、派出所的捕后取保候审比例未见异常，联席会议可只通报总体"
                     "情况，并重申逮捕后变更强制措施应依照刑事诉讼法第九十六条通知原批准逮捕的"
                     "人民检察院。")
    lines.append("")
    lines.append("（以上要点由监测数据生成，供承办人结合案件核实后修改使用。）")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# display tables of the comparison reports
# ---------------------------------------------------------------------------------------------


#: Display labels of :func:`summary_table` (for :func:`casework.notebook.page.table`).
SUMMARY_LABELS = {"label": "比较对象", "name_zh": "指标", "numerator": "分子",
                  "denominator": "分母", "rate": "指标值", "expected": "预期数",
                  "value": "比较值", "value_ci_lower": "95%区间下限",
                  "value_ci_upper": "95%区间上限", "measure_zh": "比较值含义", "position": "位置"}


def summary_table(result: pd.DataFrame) -> pd.DataFrame:
    """The comparison as a table: one row per group × indicator, in group order (no ranking).

    Returns
    -------
    DataFrame
        ``label, name_zh, numerator, denominator, rate`` (the indicator as defined: a
        proportion, or mean days — then ``numerator`` is empty and ``denominator`` the
        cases), ``value, value_ci_lower, value_ci_upper`` (the compared measure),
        ``measure_zh`` (what ``value`` is), ``position`` (Chinese funnel position).
        Use :data:`SUMMARY_LABELS` as the table labels.
    """
    if result.empty:
        return pd.DataFrame(columns=list(SUMMARY_LABELS))
    days = result["measure"].isin(["days_ratio", "mean"]).to_numpy()
    out = pd.DataFrame({
        "label": result["label"], "name_zh": result["name_zh"],
        # for handling days the numerator would be a sum of days: leave it out
        "numerator": np.where(days, np.nan, to_float(result["numerator"]).round(0)),
        "denominator": to_float(result["denominator"]),
        "rate": to_float(result["crude_value"]).round(4),
        "value": to_float(result["value"]).round(3),
        "value_ci_lower": to_float(result["value_ci_lower"]).round(3),
        "value_ci_upper": to_float(result["value_ci_upper"]).round(3),
        "measure_zh": result["measure"].map(MEASURE_ZH),
    })
    pos = np.where(result["below_min_n"].astype(bool), "样本量不足，不作判断",
                   np.where(result["flag"] == "", "在控制限内",
                            result["flag_direction"].map(DIRECTION_ZH).fillna("") + "，" +
                            result["flag"].map({"alarm": "超出99.8%控制限",
                                                "alert": "超出95%控制限",
                                                "": ""}).fillna("")))
    out["position"] = pos
    keys = list(result.attrs.get("keys", []))
    order = result[keys].astype(str).agg("|".join, axis=1) if keys else out["label"]
    out = out.assign(_k=order.to_numpy()).sort_values(["_k", "name_zh"], kind="stable")
    return out.drop(columns="_k").reset_index(drop=True)


def describe_relations(relations: pd.DataFrame, *, strong: float = 0.5,
                       alpha: float = 0.05) -> str:
    """Which indicators move together across the groups, with the cautions that apply.

    Returns
    -------
    str
        Markdown.
    """
    if relations is None or relations.empty:
        return "参与比较的指标少于两项，无法分析指标之间的关联。"
    ok = relations.loc[np.isfinite(to_float(relations["rho"]))]
    strongish = ok.loc[(np.abs(ok["rho"]) >= strong) & (ok["p_value"] < alpha)]
    lines = []
    if strongish.empty:
        lines.append("各指标之间没有明显的关联（斯皮尔曼相关系数绝对值均小于 "
                     f"{strong:.1f} 或不显著）。")
    else:
        bits = []
        for _, r in strongish.iterrows():
            way = "同向" if r["rho"] > 0 else "反向"
            bits.append(f"{_esc(r['name_a'])}与{_esc(r['name_b'])}{way}变动"
                        f"（相关系数 {r['rho']:.2f}，"
                        f"{int(r['n_groups'])} 个分组）")
        lines.append("分组层面的明显关联：" + "；".join(bits) + "。")
    few = relations.loc[relations["caution"].astype(bool)]
    if len(few):
        lines.append(f"注意：有 {len(few)} 对指标的比较分组少于 {MIN_GROUPS_RELATIONS} 个，"
                     "相关系数很不稳定，"
                     "仅供参考。")
    lines.append("关联只反映分组之间的共同变化，不说明因果，也不能推及单个案件。")
    return "\n\n".join(lines)


def describe_skipped(result: pd.DataFrame) -> str:
    """One line per indicator that was not compared, with the reason (empty text when none)."""
    skipped = result.attrs.get("skipped", {}) if result is not None else {}
    if not skipped:
        return ""
    bits = []
    for code, why in skipped.items():
        try:
            name = _ind.get(code).name_zh
        except ParameterError:
            name = code
        bits.append(f"{_esc(name)}（{_esc(why)}）")
    return "未作比较的指标：" + "；".join(bits) + "。"


#: Display labels of :func:`bail_signal_table`.
BAIL_SIGNAL_LABELS = {"label": "派出所/侦查部门", "arrests": "逮捕人数",
                      "bail": "捕后取保候审人数", "rate": "比例", "signal_zh": "CUSUM信号",
                      "start_month": "开始月份",
                      "signal_month": "信号月份", "rate_since_start": "开始以来比例",
                      "rate_before": "此前比例"}


def bail_signal_table(signals: pd.DataFrame) -> pd.DataFrame:
    """The CUSUM results per stream for a table (signalling streams first, then by name)."""
    if signals is None or signals.empty:
        return pd.DataFrame(columns=list(BAIL_SIGNAL_LABELS))
    out = signals.assign(signal_zh=np.where(signals["signal"].astype(bool), "有", "无"))
    return out[list(BAIL_SIGNAL_LABELS)].reset_index(drop=True)


def scores_table(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`standardised_scores` with Chinese column names, for the CSV beside the heatmap."""
    return pd.DataFrame({"比较对象": scores["label"], "指标": scores["name_zh"],
                         "标准化得分（按指标方向）": to_float(scores["score"]).round(2),
                         "是否有方向": scores["oriented"].map({True: "是",
                                                               False: "否（区间判断）"}),
                         "样本量不足": scores["below_min_n"].map({True: "是", False: "否"})})


# ---------------------------------------------------------------------------------------------
# prosecutor profiles
# ---------------------------------------------------------------------------------------------


def overview(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    *,
    by: str | Sequence[str] = PROSECUTOR,
    records: pd.DataFrame | None = None,
    level: str = "internal",
) -> pd.DataFrame:
    """One row per prosecutor: caseload, days ratio per stage with interval, quality flags.

    Sorted by unit, department and 工号 — an overview, not a league table.

    Returns
    -------
    DataFrame
        keys, ``label``, ``department``, ``unit_name``, ``cases``, ``persons``, ``weighted_cases``,
        ``weighted_vs_median``, for each stage ``<stage>_days_ratio``, ``<stage>_days_ci``
        (text "a–b") and ``<stage>_days_position``, ``quality_flags`` (number of quality
        indicators outside the limits) and ``quality_notes`` (which, with the side).
    """
    keys = as_keys(by)
    base = load.copy()
    base.insert(len(keys), "label", level_labels(base, keys, records, level=level))
    for stage in ("arrest_review", "prosecution_review"):
        d = days.loc[days["stage"] == stage] if len(days) else days
        if d.empty:
            continue
        part = d[keys].copy()
        part[f"{stage}_days_ratio"] = d["value"].round(2).to_numpy()
        part[f"{stage}_days_ci"] = [f"{a:.2f}–{b:.2f}" for a, b in
                                    zip(d["value_ci_lower"], d["value_ci_upper"])]
        part[f"{stage}_days_position"] = d["position"].to_numpy()
        base = base.merge(part, on=keys, how="left")
    if len(quality_result):
        q = quality_result.loc[(quality_result["flag"] != "")
                               & ~quality_result["below_min_n"].astype(bool)]
        notes = q.groupby(keys).apply(
            lambda g: "；".join(f"{n}{'偏高' if d == 'high' else '偏低'}"
                               for n, d in zip(g["name_zh"], g["flag_direction"])),
            include_groups=False).rename("quality_notes")
        counts = q.groupby(keys).size().rename("quality_flags")
        base = base.merge(counts.reset_index(), on=keys, how="left").merge(
            notes.reset_index(), on=keys, how="left")
        base["quality_flags"] = base["quality_flags"].fillna(0).astype("int64")
        base["quality_notes"] = base["quality_notes"].fillna("")
    sort = [c for c in ("unit_code", "department") if c in base.columns] + keys
    base = base.sort_values(list(dict.fromkeys(sort)), kind="stable").reset_index(drop=True)
    # the label already names the prosecutor (or his pseudonym); the unit name says the unit
    return base.drop(columns=[c for c in ("prosecutor_name", "unit_code") if c in base.columns
                              and c not in keys])


OVERVIEW_LABELS = {
    "label": "检察官", "cases": "审结件数", "persons": "审结人数",
    "arrest_review_cases": "审查逮捕件数",
    "prosecution_review_cases": "审查起诉件数", "weighted_cases": "折算件数",
    "weighted_vs_median": "折算件数/中位数",
    "arrest_review_days_ratio": "审查逮捕天数（实际/预期）",
    "arrest_review_days_ci": "审查逮捕95%区间",
    "arrest_review_days_position": "审查逮捕位置",
    "prosecution_review_days_ratio": "审查起诉天数（实际/预期）",
    "prosecution_review_days_ci": "审查起诉95%区间",
    "prosecution_review_days_position": "审查起诉位置",
    "quality_flags": "质量提示数", "quality_notes": "质量提示",
}


def _rate_or_value(v, kind) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:.1%}" if kind == "rate" else f"{v:.2f}"


def profile_sections(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    shifts: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] = PROSECUTOR,
    records: pd.DataFrame | None = None,
    level: str = "internal",
) -> pd.DataFrame:
    """The one-page profile of each prosecutor, as Markdown, one row per prosecutor.

    Each section: caseload (raw and weighted, against the median), handling days per stage
    against peer cases with the same mix (ratio, 95 % interval, funnel position, and the
    month a slowdown began when the CUSUM signalled), and a table of quality indicators
    (own value, expected for the same mix, observed/expected with its interval, the
    beta-binomial shrunk estimate with its interval, funnel position). No rank is given.

    Returns
    -------
    DataFrame
        keys, ``label``, ``markdown``. Join the ``markdown`` column for
        :func:`casework.notebook.page.md` (:func:`profile_pages`).
    """
    keys = as_keys(by)
    load = load.copy()
    load["label"] = level_labels(load, keys, records, level=level).to_numpy()
    med = float(load["weighted_cases"].median()) if len(load) else np.nan
    rows = []
    for _, r in load.sort_values([c for c in ("unit_code", "department") if c in load.columns]
                                 + keys, kind="stable").iterrows():
        kv = {k: r[k] for k in keys}
        where = " · ".join(_esc(r[c]) for c in ("unit_name", "department")
                           if c in load.columns and isinstance(r.get(c), str))
        lines = [f"### {_esc(r['label'])}" + (f"（{where}）" if where else ""), ""]
        lines.append(
            f"- **办案量**：审结 {int(r['cases']):,} 件 {int(r['persons']):,} 人（审查逮捕 "
            f"{int(r['arrest_review_cases']):,} 件、审查起诉 "
            f"{int(r['prosecution_review_cases']):,} 件）；"
            f"按案件类型折算 {r['weighted_cases']:.1f} 件，为全体检察官中位数（{med:.1f} 件）的 "
            f"{r['weighted_vs_median']:.2f} 倍。")
        mine = days
        for k in keys:
            mine = mine.loc[mine[k] == kv[k]] if len(mine) else mine
        for _, d in mine.iterrows():
            text = (f"- **{d['stage_zh']}办案天数**：平均 {d['mean_days']:.1f} 天（中位数 "
                    f"{d['median_days']:.0f} 天，{int(d['n']):,} 件），同类案件预期 "
                    f"{d['expected_mean_days']:.1f} 天；实际/预期 {d['value']:.2f}（95%区间 "
                    f"{d['value_ci_lower']:.2f}–{d['value_ci_upper']:.2f}），{d['position']}。")
            if shifts is not None and len(shifts):
                sh = shifts.loc[(shifts["stage"] == d["stage"]) if "stage" in shifts.columns
                                else slice(None)]
                for k in keys:
                    sh = sh.loc[sh[k] == kv[k]]
                sh = sh.loc[sh["signal"].astype(bool)]
                if len(sh):
                    s = sh.iloc[0]
                    text += (f"逐案累积监测（CUSUM）显示自 {_esc(s['start_month'])} 起持续偏长"
                             f"（{_esc(s['signal_month'])} 发出信号），此后为同类案件的 "
                             f"{s['ratio_since_start']:.2f} 倍。")
            lines.append(text)
        q = quality_result
        for k in keys:
            q = q.loc[q[k] == kv[k]] if len(q) else q
        if len(q):
            lines += ["", "| 质量指标 | 本人 | 同类案件预期 | 实际/预期（95%区间） | "
                      "收缩估计（95%区间） | 位置 |", "|---|---|---|---|---|---|"]
            for _, x in q.iterrows():
                expected = x.get("expected_rate")
                own = (f"{_rate_or_value(x['crude_value'], x['kind'])}"
                       f"（{x['numerator']:,.0f}/{x['denominator']:,.0f}）")
                if small_count(x, level):
                    own = "不列示（涉及人数少于5人）"
                oe = (f"{x['value']:.2f}（{x['value_ci_lower']:.2f}–{x['value_ci_upper']:.2f}）"
                      if np.isfinite(x["value"]) else "—")
                shrunk = (f"{x['shrunk_value']:.1%}（{x['shrunk_ci_lower']:.1%}–"
                          f"{x['shrunk_ci_upper']:.1%}）"
                          if "shrunk_value" in x and pd.notna(x["shrunk_value"]) else "—")
                exp_text = _rate_or_value(expected, "rate") if expected is not None else "—"
                lines.append(f"| {_esc(x['name_zh'])} | {own} | {exp_text} | {oe} | "
                             f"{shrunk} | {x['position']} |")
        lines += ["", "---", ""]
        rows.append({**kv, "label": r["label"], "markdown": "\n".join(lines)})
    return pd.DataFrame(rows, columns=keys + ["label", "markdown"])


def profile_pages(sections: pd.DataFrame) -> str:
    """All profile sections joined into one Markdown text (for
    :func:`casework.notebook.page.md`)."""
    if sections is None or sections.empty:
        return "本期没有检察官审结案件。"
    return "\n".join(sections["markdown"])


def describe_profiles(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    shifts: pd.DataFrame | None = None,
    *,
    period_label: str | None = None,
) -> str:
    """Narrative of the prosecutor report: who stands out on handling days (with the month a
    slowdown began) and on quality, and that the others do not. Names appear as the frames'
    ``label`` (pseudonyms at the circulated level). No ranking.

    Returns
    -------
    str
        Markdown.
    """
    when = f"{period_label}，" if period_label else ""
    n = len(load)
    lines = [f"{when}共 {n} 名检察官有审结案件，合计审结 {int(load['cases'].sum()):,} 件、"
             f"折算 {load['weighted_cases'].sum():,.1f} 件；折算件数的中位数为 "
             f"{load['weighted_cases'].median():.1f} 件。折算方法见口径说明，办案量只说明工作量，"
             "不代表办案质量。", ""]
    for stage in ("prosecution_review", "arrest_review"):
        d = days.loc[days["stage"] == stage] if len(days) else days
        if d.empty:
            continue
        elig = d.loc[~d["below_min_n"].astype(bool)]
        fl = elig.loc[elig["flag"] != ""]
        text = f"- **{STAGE_ZH[stage]}办案天数**（与同程序、同罪名类别、同羁押状态的案件比较）："
        if fl.empty:
            text += f"参与比较的 {len(elig)} 名检察官均在控制限内。"
        else:
            fl = fl.assign(_o=fl["flag"].map({"alarm": 0, "alert": 1}), _z=-np.abs(fl["z"]))
            bits = []
            for _, x in fl.sort_values(["_o", "_z"]).iterrows():
                bit = (f"{_esc(x['label'])}平均 {x['mean_days']:.1f} 天，同类案件预期 "
                       f"{x['expected_mean_days']:.1f} 天，为预期的 {x['value']:.2f} 倍（95%区间 "
                       f"{x['value_ci_lower']:.2f}–{x['value_ci_upper']:.2f}），{x['position']}")
                if shifts is not None and len(shifts):
                    sh = shifts.loc[(shifts["label"] == x["label"])
                                    & shifts["signal"].astype(bool)]
                    if "stage" in shifts.columns:
                        sh = sh.loc[sh["stage"] == stage]
                    if len(sh):
                        s = sh.iloc[0]
                        bit += (f"；逐案累积监测显示自 {_esc(s['start_month'])} 起持续偏长"
                                f"（{_esc(s['signal_month'])} 发出信号）")
                bits.append(bit)
            text += "；".join(bits) + f"。其余 {len(elig) - len(fl)} 名检察官在控制限内。"
        lines.append(text)
    if len(quality_result):
        for _code, block in quality_result.groupby("indicator", sort=False):
            elig = block.loc[~block["below_min_n"].astype(bool)]
            fl = elig.loc[elig["flag"] != ""]
            name = _esc(block["name_zh"].iloc[0])
            if fl.empty:
                lines.append(f"- **{name}**：参与比较的 {len(elig)} 名检察官均在控制限内。")
            else:
                lvl = quality_result.attrs.get("level", "internal")
                bits = "、".join(f"{_esc(x['label'])}（{x['position']}，本人 "
                                f"{fmt_crude(x, lvl)}，实际/预期 {x['value']:.2f}）"
                                for _, x in fl.iterrows())
                lines.append(f"- **{name}**：{bits}；其余 {len(elig) - len(fl)} "
                             "名检察官在控制限内。")
    lines += ["", "以上为数据提示，供员额检察官业绩考评参考：偏离的原因（案件难度、承办特殊案件、"
              "临时任务等）须结合案件核实，不能直接作为评价结论；不列名次。"]
    return "\n".join(lines)


#: The old name (``casework.workload.describe``), kept for the legacy import path.
describe = describe_profiles


def weights_table(weights: pd.DataFrame | None = None,
                  charge_factors: pd.DataFrame | None = None,
                  extra_person: float = EXTRA_PERSON_WEIGHT) -> pd.DataFrame:
    """The declared case weights as one table for the report's definitions section.

    Returns
    -------
    DataFrame
        ``item, weight, note`` (项目, 权重, 说明).
    """
    w = CASE_WEIGHTS if weights is None else weights
    f = CHARGE_GROUP_FACTORS if charge_factors is None else charge_factors
    rows = [(str(n), float(v), "每件基础权重") for n, v in zip(w["note"], w["weight"])]
    rows += [(f"罪名类别：{n}", float(v), "乘数") for n, v in zip(f["note"], f["factor"])]
    rows.append(("同案每增加一名犯罪嫌疑人", float(extra_person), "按基础权重加计的比例"))
    return pd.DataFrame(rows, columns=["item", "weight", "note"])


WEIGHT_LABELS = {"item": "项目", "weight": "权重", "note": "说明"}

#: Number formats of the overview table (for :func:`casework.notebook.page.table`).
OVERVIEW_FORMATS = {"weighted_cases": "{:.1f}", "weighted_vs_median": "{:.2f}",
                    "arrest_review_days_ratio": "{:.2f}",
                    "prosecution_review_days_ratio": "{:.2f}"}

#: Person-count columns of the overview table (small-cell suppression at the circulated level;
#: the other integer columns are case counts and flag counts, not persons).
OVERVIEW_COUNTS = ["persons"]
