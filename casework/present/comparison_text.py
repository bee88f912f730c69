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
from casework.analysis.funnels import DEFAULT_MIN_N, MIN_GROUPS_RELATIONS, to_float
from casework.base.checks import as_keys
from casework.base.errors import ParameterError, check_choice
from casework.present import findings_text
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


def with_position(frame: pd.DataFrame, status: pd.Series | None = None) -> pd.DataFrame:
    """The frame with a Chinese ``position`` column (:func:`position`), attrs kept.

    With ``status`` (:func:`row_status`), a point outside the limits says whether it is a
    finding of the report (需关注) or a weaker signal left to the table (提示，未达显著).
    """
    attrs = dict(frame.attrs)
    out = frame.copy()
    if len(out):
        pos = [position(f, d, b) for f, d, b in
               zip(out["flag"], out["flag_direction"], out["below_min_n"])]
        if status is not None:
            pos = [p + STATUS_NOTE.get(st, "") if "超出" in p
                   else (p + "（近期变化需关注）" if st == "finding" else p)
                   for p, st in zip(pos, status)]
        out["position"] = pos
    out.attrs = attrs
    return out


#: What a row's findings status adds to its funnel position in tables.
STATUS_NOTE = {"finding": "（需关注）", "context": "（见相关发现）", "weak": "（提示，未达显著）",
               "none": "（未达显著）"}

#: Status of a row in display tables.
STATUS_ZH = {"finding": "需关注", "context": "相关发现的背景", "weak": "提示（未达显著）",
             "none": ""}


def row_status(frame: pd.DataFrame, selected: pd.DataFrame | None, *,
               grouping: str | None = None, row_col: str = "result_row") -> pd.Series:
    """The findings status (``finding`` | ``context`` | ``weak`` | ``none``) of each row of a
    comparison frame, read from the selected signals' ``row_col`` (the row each signal tested;
    :func:`casework.analysis.funnel_signals.funnel_signals`) within ``grouping``.

    Examples
    --------
    >>> import pandas as pd
    >>> sel = pd.DataFrame({"status": ["finding", "weak"], "grouping": ["unit", "unit"],
    ...                     "result_row": [1, 0]})
    >>> row_status(pd.DataFrame({"x": [1, 2, 3]}), sel, grouping="unit").tolist()
    ['weak', 'finding', 'none']
    """
    out = pd.Series("none", index=range(len(frame)), dtype="object")
    if selected is None or not len(selected) or row_col not in selected.columns:
        return out
    sel = selected
    if grouping is not None and "grouping" in sel.columns:
        sel = sel.loc[sel["grouping"].astype("object") == grouping]
    order = {"finding": 0, "context": 1, "weak": 2, "none": 3}
    rows = pd.to_numeric(sel[row_col], errors="coerce")
    for r, st in sorted(zip(rows, sel["status"].astype(str)), key=lambda x: -order[x[1]]):
        if pd.notna(r) and 0 <= int(r) < len(out):
            out.iloc[int(r)] = st
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


def _counts(selected: pd.DataFrame | None) -> tuple[int, int, int]:
    """(tests, findings, weak) of a selected signal frame."""
    if selected is None or not len(selected):
        return 0, 0, 0
    tests = int(pd.to_numeric(selected["p_value"], errors="coerce").notna().sum())
    return (tests, int((selected["status"] == "finding").sum()),
            int((selected["status"] == "weak").sum()))


def _findings_block(selected: pd.DataFrame | None, *, none_text: str) -> list[str]:
    """Bullets of the findings (their sentences, escaped), or ``none_text``."""
    lines = findings_text.sentences(selected) if selected is not None else []
    if not lines:
        return [none_text]
    return [f"- {_esc(t)}" for t in lines]


def describe_comparison(result: pd.DataFrame, selected: pd.DataFrame | None = None, *,
                        grouping: str = "department", period_label: str | None = None) -> str:
    """The narrative of a horizontal comparison: what the report found, and that the rest is
    within chance and the normal spread between groups.

    Only the report's findings are named (rows of ``selected`` with ``status == "finding"``,
    each by its full entity — :func:`casework.analysis.findings.select` after error control
    over every point the report tested); weaker signals are counted and left to the tables,
    marked. Explains, never ranks.

    Parameters
    ----------
    result : DataFrame
        :func:`casework.analysis.casemix.horizontal` output (at the report's access level).
    selected : DataFrame
        :func:`casework.notebook.findings.report_findings` output for the report.
    grouping : str
        Key of :data:`casework.analysis.casemix.GROUPINGS` (for the Chinese name of the groups).
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
    min_n = result.attrs.get("min_n", DEFAULT_MIN_N)
    adjust = result.attrs.get("adjust", "none")
    elig = ~result["below_min_n"].astype(bool)
    n_groups = int(result["label"].nunique())
    n_ind = int(result["indicator"].nunique())
    points = int(elig.sum())
    tests, found, weak = _counts(selected)
    when = f"{period_label}，" if period_label else ""
    head = (f"{when}对 {n_groups} 个{gname}的 {n_ind} 项指标作横向对比"
            f"{ADJUST_ZH.get(adjust, '')}。达到最小样本量（{min_n}）的比较点 {points} 个")
    below = int((~elig).sum())
    if below:
        head += f"（另有 {below} 个样本量不足，只列示、不作判断）"
    head += (f"；连同上级层面的比较，本报告共检验 {tests:,} 项差异，并对全部检验作了误报控制"
             "（控制错误发现率不超过5%，组间的正常差异计入随机波动）。")
    lines = [head, ""]
    if found:
        lines.append(f"经误报控制后需关注的差异 {found} 项：")
        lines += _findings_block(selected, none_text="")
    else:
        lines.append(f"未发现需关注的差异：各{gname}之间的差异均在随机波动和正常组间差异的范围内，"
                     "不宜解读为实际差异。")
    if weak:
        lines += ["", f"另有 {weak} 项差异超出95%控制限、但经全报告误报控制后未达到需关注的程度，"
                      "只在比较明细中标注为“提示（未达显著）”，不作解读。"]
    lines += ["", "以上只说明差异大于随机波动可以解释的程度，不是排名；原因须结合具体案件分析"
                  "（内部密级的报告附有提示点的案件清单）。"]
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


def _month_zh(code) -> str:
    return findings_text.month_zh(code) if isinstance(code, str) and code else ""


def describe_bail(shifts: pd.DataFrame, selected: pd.DataFrame | None = None, *,
                  period_label: str | None = None, months: int = 24) -> str:
    """Narrative of the post-arrest bail monitor: the volume, which stations the report found
    (findings only, by full name, with the month a rise began), that the recent arrest
    cohorts are not yet complete, and that the rest did not rise.

    Parameters
    ----------
    shifts : DataFrame
        :func:`casework.analysis.bail.bail_shifts` output.
    selected : DataFrame
        :func:`casework.notebook.findings.report_findings` output.

    Returns
    -------
    str
        Markdown (data values escaped).
    """
    when = f"截至{period_label}的" if period_label else "近"
    if shifts is None or shifts.empty:
        return "监测期内没有逮捕数据。"
    n = len(shifts)
    arrests, bail = int(shifts["arrests"].sum()), int(shifts["bail"].sum())
    rate = bail / arrests if arrests else float("nan")
    tests, found, weak = _counts(selected)
    last = shifts.attrs.get("mature_through")
    lag = shifts.attrs.get("maturity_days")
    lines = [f"{when}{months}个月内，{n} 个派出所（含其他侦查部门）共批准逮捕并执行 "
             f"{arrests:,} 人，其中后来变更为取保候审 {bail:,} 人，比例 {rate:.1%}。"]
    if last:
        first_open = (pd.Period(last, freq="M") + 1).strftime("%Y-%m")
        lines[0] += (f"变更取保候审一般在逮捕后 {lag} 天内发生，{_month_zh(first_open)}起逮捕的"
                     "人员观察时间还不够，其比例偏低是因为变更尚未发生，不表示下降，也不据此判断"
                     f"好转；变化检验只用{_month_zh(last)}及以前已观察完整的逮捕月份。")
    lines.append("")
    lines.append(f"本报告对各派出所作了 {tests:,} 项检验（比例是否自某月起持续上升、本期水平是否"
                 "明显高于其他派出所），并对全部检验作了误报控制（错误发现率不超过5%）。")
    if found:
        lines.append(f"需关注的 {found} 项：")
        lines += _findings_block(selected, none_text="")
    else:
        lines.append("未发现需关注的派出所：各派出所的捕后取保候审比例未见持续上升，本期水平的差异"
                     "也在随机波动和派出所之间正常差异的范围内。")
    if weak:
        lines += ["", f"另有 {weak} 项提示未达到需关注的程度，只在监测结果表中标注，不作解读。"]
    return "\n".join(lines)


def finding_streams(shifts: pd.DataFrame, selected: pd.DataFrame | None) -> pd.DataFrame:
    """The rows of :func:`casework.analysis.bail.bail_shifts` that are findings of the report
    (matched through ``shift_row``), with ``signal`` = True and the finding's start month
    (the first month of the monitoring window when the finding is about the level) — the
    input of :func:`casework.analysis.bail.bail_signal_cases` and of the trend chart."""
    keys = list(shifts.attrs.get("keys", []))
    cols = [*keys, "label", "signal", "start_month"]
    if selected is None or not len(selected) or "shift_row" not in selected.columns:
        return pd.DataFrame(columns=cols)
    f = selected.loc[(selected["status"] == "finding")
                     & pd.to_numeric(selected["shift_row"], errors="coerce").notna()]
    rows = []
    for _, r in f.iterrows():
        row = shifts.iloc[int(r["shift_row"])]
        start = r["start_month"] if isinstance(r["start_month"], str) else None
        first = shifts.attrs.get("first_month") or row.get("start_month")
        rows.append({**{k: row[k] for k in keys}, "label": row["label"], "signal": True,
                     "start_month": start or first})
    return pd.DataFrame(rows, columns=cols)


def joint_meeting_points(selected: pd.DataFrame | None, *, cases: pd.DataFrame | None = None,
                         period_label: str | None = None) -> str:
    """Points to raise at the joint meeting (联席会议) with the investigating agencies, written
    from the report's findings only.

    Returns
    -------
    str
        Markdown: one numbered point per investigating agency with a finding (its stations by
        full name: what was seen, since when, the numbers, what to ask and to check), plus
        the standing points (notification duty under CPL art. 96, 羁押必要性审查 art. 95).
        When nothing was found it says so and proposes only the routine items.
    """
    points = []
    if selected is not None and len(selected):
        f = selected.loc[(selected["status"] == "finding")
                         & selected["entity_type"].isin(["station", "agency"])
                         & (selected["direction"] != "favourable")]
        f = f.sort_values("rank", kind="stable")
        agencies: dict[str, list[str]] = {}
        for _, r in f.iterrows():
            agency = str(r["entity_id"]).split("/")[0]
            said = r.get("sentence")
            agencies.setdefault(agency, []).append(
                str(said) if isinstance(said, str) and said else findings_text.sentence(r))
        for agency, said in agencies.items():
            n_cases = ""
            if cases is not None and len(cases) and "referring_agency" in cases.columns:
                k = int((cases["referring_agency"].astype(str).str.replace("/", "／")
                         == agency).sum())
                n_cases = f"（内部案件清单 {k:,} 人，可逐案核对）" if k else ""
            seen = "".join(_esc(t) for t in said)
            points.append(
                f"**{_esc(agency)}**：{seen}建议在联席会议上通报上述情况，请其说明逮捕后变更强制"
                "措施的主要原因（案件证据变化、羁押必要性变化、身体状况等），核对每一起变更是否依照"
                f"刑事诉讼法第九十六条及时通知原批准逮捕的人民检察院{n_cases}；对未通知或理由不充分"
                "的案件逐案反馈，并商定此后变更强制措施的通报和备案方式。")
    lines = []
    if points:
        lines += [f"{i}. {p}" for i, p in enumerate(points, 1)]
        lines.append(f"{len(points) + 1}. 双方共同核实：上述变更中是否有审查逮捕时证据已显不足或无"
                     "社会危险性的情形，反向检视本院批准逮捕的质量；必要时对在押人员开展羁押必要性"
                     "审查（刑事诉讼法第九十五条）。")
    else:
        when = f"{period_label}" if period_label else "本期"
        lines.append(f"1. {when}各侦查机关、派出所的捕后取保候审比例未发现需关注的情况，"
                     "联席会议可只通报总体情况，并重申逮捕后变更强制措施应依照刑事诉讼法第九十六条通知原批准"
                     "逮捕的人民检察院。")
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
                  "value_ci_upper": "95%区间上限", "measure_zh": "比较值含义", "position": "位置",
                  "status": "结论"}


def summary_table(result: pd.DataFrame, selected: pd.DataFrame | None = None, *,
                  grouping: str | None = None) -> pd.DataFrame:
    """The comparison as a table: one row per group × indicator, in group order (no ranking).

    With ``selected`` (the report's findings), ``status`` says which rows are findings
    (需关注), context of a finding, or weaker signals (提示（未达显著）) — read through
    :func:`row_status` for the signals of ``grouping``.

    Returns
    -------
    DataFrame
        ``label, name_zh, numerator, denominator, rate`` (the indicator as defined: a
        proportion, or mean days — then ``numerator`` is empty and ``denominator`` the
        cases), ``value, value_ci_lower, value_ci_upper`` (the compared measure),
        ``measure_zh`` (what ``value`` is), ``position`` (Chinese funnel position),
        ``status`` (only with ``selected``). Use :data:`SUMMARY_LABELS` as the table labels.
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
    if selected is not None:
        st = row_status(result, selected, grouping=grouping)
        out["status"] = st.map(STATUS_ZH).to_numpy()
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


#: Display labels of :func:`bail_shift_table`.
BAIL_SHIFT_LABELS = {"label": "派出所/侦查部门", "arrests": "逮捕人数", "bail": "捕后取保候审人数",
                     "rate": "比例", "start_month": "可能的起始月份",
                     "arrests_since_start": "此后逮捕人数（已成熟）",
                     "rate_since_start": "此后比例", "rate_before": "此前比例",
                     "p_value": "校正后P值", "status": "结论"}


def bail_shift_table(shifts: pd.DataFrame, selected: pd.DataFrame | None = None
                     ) -> pd.DataFrame:
    """:func:`casework.analysis.bail.bail_shifts` for a table, with each station's findings
    status (需关注 / 提示（未达显著） / blank) and the most likely start month only where the
    change test is nominally significant."""
    if shifts is None or shifts.empty:
        return pd.DataFrame(columns=list(BAIL_SHIFT_LABELS))
    out = shifts.copy()
    st = row_status(shifts, selected, grouping=None, row_col="shift_row")
    out["status"] = st.map(STATUS_ZH).to_numpy()
    sig = pd.to_numeric(out["p_value"], errors="coerce") < 0.05
    out["start_month"] = out["start_month"].where(sig, "")
    return out[list(BAIL_SHIFT_LABELS)].reset_index(drop=True)


def scores_table(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`standardised_scores` with Chinese column names, for the CSV beside the heatmap."""
    return pd.DataFrame({"比较对象": scores["label"], "指标": scores["name_zh"],
                         "标准化得分（按指标方向）": to_float(scores["score"]).round(2),
                         "是否有方向": scores["oriented"].map({True: "是",
                                                               False: "否（区间判断）"}),
                         "样本量不足": scores["below_min_n"].map({True: "是", False: "否"})})
