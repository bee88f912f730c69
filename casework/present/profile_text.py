"""Chinese text and display tables of the prosecutor report (员额检察官办案数据): the overview
table, one page per prosecutor, the report's narrative and the declared case weights.

Reads :mod:`casework.analysis.workload` and :mod:`casework.analysis.days` frames that
:func:`casework.present.comparison_text.at_level` has put at the report's access level, and
the report's findings (:func:`casework.notebook.findings.report_findings`): only findings are
named in the narrative; a point outside the limits that did not pass the report's error
control is marked 提示（未达显著） in the tables and pages.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from casework.analysis.workload import (
    CASE_WEIGHTS,
    CHARGE_GROUP_FACTORS,
    EXTRA_PERSON_WEIGHT,
    PROSECUTOR,
)
from casework.base.checks import as_keys
from casework.present import findings_text
from casework.present.comparison_text import level_labels, small_count
from casework.present.markdown import escape_text as _esc


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


def _finding_sentences(selected: pd.DataFrame | None, grouping: str) -> dict[int, str]:
    """result_row → the finding sentence, for the findings of one grouping."""
    if selected is None or not len(selected) or "result_row" not in selected.columns:
        return {}
    f = selected.loc[(selected["status"] == "finding")
                     & (selected["grouping"].astype("object") == grouping)]
    rows = pd.to_numeric(f["result_row"], errors="coerce")
    return {int(r): str(t) for r, t in zip(rows, f["sentence"]) if pd.notna(r)}


def profile_sections(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    selected: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] = PROSECUTOR,
    records: pd.DataFrame | None = None,
    level: str = "internal",
) -> pd.DataFrame:
    """The one-page profile of each prosecutor, as Markdown, one row per prosecutor.

    Each section: caseload (raw and weighted, against the median), handling days per stage
    against peer cases with the same mix (ratio, 95 % interval, funnel position), and a table
    of quality indicators (own value, expected for the same mix, observed/expected with its
    interval, the beta-binomial shrunk estimate with its interval, funnel position). Where
    the report's findings (``selected``) include this prosecutor, the finding's sentence is
    added (with the month a rise began); a position outside the limits that is not a finding
    is marked 提示（未达显著） (``days`` and ``quality_result`` carry ``position`` from
    :func:`casework.present.comparison_text.with_position`). No rank is given.

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
    said = _finding_sentences(selected, "days")
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
        for i, d in mine.iterrows():
            text = (f"- **{d['stage_zh']}办案天数**：平均 {d['mean_days']:.1f} 天（中位数 "
                    f"{d['median_days']:.0f} 天，{int(d['n']):,} 件），同类案件预期 "
                    f"{d['expected_mean_days']:.1f} 天；实际/预期 {d['value']:.2f}（95%区间 "
                    f"{d['value_ci_lower']:.2f}–{d['value_ci_upper']:.2f}），{d['position']}。")
            if i in said:
                text += f"需关注：{_esc(said[i])}"
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


def describe_profiles(load: pd.DataFrame, selected: pd.DataFrame | None = None, *,
                      period_label: str | None = None) -> str:
    """Narrative of the prosecutor report: the caseload, then only the report's findings
    (handling days that run long against peer cases — with the month the rise began — and
    quality indicators out of line), each naming the prosecutor in full (a pseudonym at the
    circulated level); the count of weaker signals left to the tables. No ranking.

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
    tests = found = weak = 0
    if selected is not None and len(selected):
        tests = int(pd.to_numeric(selected["p_value"], errors="coerce").notna().sum())
        found = int((selected["status"] == "finding").sum())
        weak = int((selected["status"] == "weak").sum())
    lines.append(f"本报告对每名检察官的各环节办案天数（与同类案件比较，并检验是否自某月起持续变长）"
                 f"和质量指标共作了 {tests:,} 项检验，并对全部检验作了误报控制"
                 "（错误发现率不超过5%，检察官之间的正常差异计入随机波动）。")
    said = findings_text.sentences(selected) if selected is not None else []
    if said:
        lines.append(f"需关注的 {found} 项：")
        lines += [f"- {_esc(t)}" for t in said]
    else:
        lines.append("未发现需关注的检察官：各检察官的办案天数和质量指标与同类案件的差异，均在随机"
                     "波动和检察官之间正常差异的范围内。")
    if weak:
        lines += ["", f"另有 {weak} 项提示未达到需关注的程度，只在一览表和个人页中标注为"
                      "“提示，未达显著”，不作解读。"]
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
