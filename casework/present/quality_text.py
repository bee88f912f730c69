"""Chinese text and display layouts of the case-card quality inspection (案卡质量检查):
the summary ``casework check`` prints (:func:`summary_text`), the report's findings
(:func:`describe`) and the 案卡差错通报 list (:func:`circular`), all computed from the frames of
:mod:`casework.analysis.quality`.
"""

from __future__ import annotations

import pandas as pd

from casework.analysis import periods
from casework.analysis.quality import (
    SEVERITIES,
    SEVERITY_ZH,
    at_or_above,
    card_keys,
    card_rows,
    error_rates,
    rule_counts,
    severity_counts,
)
from casework.base.errors import check_choice
from casework.model import schema

#: Columns of the 案卡差错通报 (circular) layout, in order.
CIRCULAR_COLUMNS = ("通报批次", "部门受案号", "案件名称", "承办部门", "承办检察官", "案件类别",
                    "错误明细", "备注")


def circular(findings: pd.DataFrame, records: pd.DataFrame | None = None, *, batch: str,
             level: str = "warning") -> pd.DataFrame:
    """The 案卡差错通报 list: one row per case card number with its faults.

    Parameters
    ----------
    findings : DataFrame
        From :func:`run_rules`.
    records : DataFrame, optional
        Not needed for the layout (findings carry the case identity); accepted so callers
        can pass the inspected records alongside.
    batch : str
        The 通报批次 label, e.g. ``"2024年第5期"``.
    level : {"info", "warning", "error"}
        Lowest severity listed.

    Returns
    -------
    DataFrame
        Columns 通报批次, 部门受案号, 案件名称, 承办部门, 承办检察官, 案件类别, 错误明细, 备注;
        错误明细 numbers each fault (嫌疑人编号 prefixed when the case has several persons),
        备注 counts faults by severity. Sorted by 承办部门 then 部门受案号.

    Examples
    --------
    >>> f = pd.DataFrame({"rule_id": ["r1"], "kind": ["consistency"], "severity": ["error"],
    ...     "message_zh": ["审结日期早于受理日期"], "unit_code": ["371329"],
    ...                   "dept_case_no": ["A1"],
    ...     "person_id": ["p1"], "stage": ["prosecution_review"],
    ...     "case_type": ["first_instance_prosecution"], "department": ["第一检察部"],
    ...     "prosecutor_id": ["g1"], "prosecutor_name": ["王某"], "case_name": ["张某盗窃案"],
    ...     "month": ["2024-03"], "fields": ["closed_on"], "values": ["审结日期：2024-02-20"]})
    >>> row = circular(f, batch="2024年第3期").iloc[0]
    >>> row["错误明细"], row["案件类别"], row["备注"]
    ('1. 审结日期早于受理日期（审结日期：2024-02-20）', '一审公诉案件', '错误1项')
    """
    check_choice("level", level, SEVERITIES)
    f = findings[at_or_above(findings, level)] if len(findings) else findings
    if not len(f):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CIRCULAR_COLUMNS})
    f = f.reset_index(drop=True)
    keys = [f["unit_code"].astype("string").fillna(""),
            f["dept_case_no"].astype("string").fillna("")]
    grp = f.groupby(keys, sort=False)
    several = grp["person_id"].transform("nunique") > 1
    who = ("[嫌疑人编号 " + f["person_id"].astype("string") + "] ").where(
        several & f["person_id"].notna(), "").fillna("")
    number = (grp.cumcount() + 1).astype(str)
    item = (number + ". " + who + f["message_zh"].astype(str) + "（" + f["values"].astype(str)
            + "）")
    detail = item.groupby(keys, sort=False).agg("；\n".join)
    counts = pd.crosstab(keys, f["severity"])
    order = [sev for sev in reversed(SEVERITIES) if sev in counts.columns]
    note = pd.Series(["、".join(f"{SEVERITY_ZH[sev]}{n}项" for sev, n in zip(order, row) if n)
                      for row in counts[order].to_numpy()], index=counts.index, dtype=object)
    first = grp[["dept_case_no", "case_name", "department", "prosecutor_name", "prosecutor_id",
                 "case_type"]].first()
    case_type = first["case_type"].map(lambda v: schema.label("case_type", v), na_action="ignore")
    prosecutor = first["prosecutor_name"].where(first["prosecutor_name"].notna(),
                                                first["prosecutor_id"])
    out = pd.DataFrame({
        "通报批次": batch, "部门受案号": first["dept_case_no"], "案件名称": first["case_name"],
        "承办部门": first["department"], "承办检察官": prosecutor, "案件类别": case_type,
        "错误明细": detail.reindex(first.index), "备注": note.reindex(first.index),
    })
    out = out.sort_values(["承办部门", "部门受案号"], na_position="last", kind="stable")
    return out.reset_index(drop=True).astype("string")


def summary_text(findings: pd.DataFrame, records: pd.DataFrame, *, snapshot: str = "latest",
                 fail_on: str = "error", top: int = 5) -> str:
    """The Chinese summary ``casework check`` prints (counts by severity, by rule, top
    departments by error rate)."""
    check_choice("fail_on", fail_on, SEVERITIES)
    records = card_rows(records)
    n_cards = len(records)
    sev = severity_counts(findings)
    faulty = int(card_keys(findings).nunique()) if len(findings) else 0
    lines = [f"案卡质量检查（快照：{snapshot}）",
             f"检查案卡 {n_cards:,} 张（人·环节），发现问题 {len(findings):,} 条，"
             f"涉及案卡 {faulty:,} 张。"]
    lines.append("按严重程度：" + "；".join(
        f"{r.severity_zh} {r.findings:,} 条（{r.cards:,} 张）" for r in sev.itertuples()))
    skipped = findings.attrs.get("skipped") or {}
    if skipped:
        lines.append("因数据缺列未运行的规则：" + "；".join(
            f"{k}（缺 {','.join(v)}）" for k, v in skipped.items()))
    rc = rule_counts(findings)
    if len(rc):
        lines.append("")
        lines.append("按规则：")
        for r in rc.itertuples():
            lines.append(f"  [{SEVERITY_ZH[r.severity]}] {r.rule_id}  {r.message_zh}："
                         f"{r.findings:,} 条")
    if len(findings) and "department" in records.columns:
        several_units = records["unit_code"].nunique() > 1
        keys = ["unit_code", "department"] if several_units else ["department"]
        rates = error_rates(findings, records, by=keys, level=fail_on)
        rates = rates[rates["numerator"] > 0].head(top)
        names = {}
        if "unit_name" in records.columns:
            names = (records.dropna(subset=["unit_name"]).drop_duplicates("unit_code")
                     .set_index("unit_code")["unit_name"].to_dict())
        if len(rates):
            lines.append("")
            lines.append(f"{SEVERITY_ZH[fail_on]}及以上问题案卡占比最高的承办部门：")
            for r in rates.itertuples():
                name = r.department
                if "unit_code" in keys:
                    name = f"{names.get(r.unit_code, r.unit_code)}{r.department}"
                mark = "（超出控制限）" if r.position in ("high_alarm", "high_alert") else ""
                lines.append(f"  {name}：{r.numerator:,} / {r.denominator:,} 张"
                             f"（{r.value:.1%}）{mark}")
    failing = int(at_or_above(findings, fail_on).sum()) if len(findings) else 0
    lines.append("")
    if failing:
        lines.append(f"结论：存在{SEVERITY_ZH[fail_on]}及以上问题 {failing:,} 条，检查未通过。")
    else:
        lines.append(f"结论：无{SEVERITY_ZH[fail_on]}及以上问题，检查通过。")
    return "\n".join(lines)


def describe(findings: pd.DataFrame, records: pd.DataFrame, *, level: str = "error",
             top: int = 3) -> str:
    """Chinese Markdown overview of an inspection for the report's 总体情况: cards inspected,
    problems by severity, the error rate and the most common problems, all computed.

    Which departments have a problem is not said here: only the findings of the error-run
    detector (:func:`casework.analysis.quality_signals.error_rate_signals`, selected by
    :func:`casework.analysis.findings.select`) reach the 存在问题, each named by its full
    unit and department.

    Parameters
    ----------
    findings, records : DataFrame
        From :func:`casework.analysis.quality.run_rules` and the inspected cards.
    level : {"info", "warning", "error"}
        Severity that counts a card as faulty for the error rate.
    top : int
        How many rules to name.

    Returns
    -------
    str
        Markdown bullet list.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 2, "stage": ["arrest_review"] * 2,
    ...     "dept_case_no": ["a", "b"], "person_id": ["p"] * 2, "department": ["一部"] * 2,
    ...     "accepted_on": pd.to_datetime(["2024-01-02"] * 2), "closed_on": pd.NaT})
    >>> from casework.analysis.quality import run_rules
    >>> print(describe(run_rules(rec.iloc[:0], builtin=False, rules=[]), rec))
    - 共检查案卡2张，未发现问题。
    """
    check_choice("level", level, SEVERITIES)
    records = card_rows(records)
    n = len(records)
    if not len(findings):
        return f"- 共检查案卡{n:,}张，未发现问题。"
    sev = severity_counts(findings).set_index("severity")
    faulty = int(card_keys(findings[at_or_above(findings, level)]).nunique())
    lines = [
        f"- 共检查案卡{n:,}张，发现问题{len(findings):,}条（"
        + "、".join(f"{SEVERITY_ZH[s]}{int(sev.loc[s, 'findings']):,}条"
                   for s in reversed(SEVERITIES))
        + f"）；{faulty:,}张案卡存在{SEVERITY_ZH[level]}及以上问题，差错率{faulty / n:.1%}。"
        if n else f"- 发现问题{len(findings):,}条。"
    ]
    rc = rule_counts(findings).sort_values("findings", ascending=False, kind="stable").head(top)
    lines.append("- 最常见的问题：" + "；".join(
        f"“{r.message_zh}”{r.findings:,}条" for r in rc.itertuples()) + "。")
    return "\n".join(lines)


def _next_month_zh(code: str) -> str:
    return periods.parse(str(code)).shift(1).label_zh


def error_run_notes(signals: pd.DataFrame) -> pd.DataFrame:
    """Error-run signals with a ``note`` for the sentence of a run that has ended
    (``…，2026年3月起已回落至0.9%``); other rows get ``""``.

    Examples
    --------
    >>> s = pd.DataFrame({"start_month": ["2025-12", None], "end_month": ["2026-02", None],
    ...                   "after_value": [0.0087, float("nan")]})
    >>> error_run_notes(s)["note"].tolist()
    ['2026年3月起已回落至0.9%', '']
    """
    out = signals.copy()
    notes = []
    for start, end, after in zip(out.get("start_month", pd.Series(index=out.index)),
                                 out.get("end_month", pd.Series(index=out.index)),
                                 out.get("after_value", pd.Series(index=out.index))):
        ok = isinstance(start, str) and isinstance(end, str) and pd.notna(after)
        notes.append(f"{_next_month_zh(end)}起已回落至{float(after):.1%}" if ok else "")
    out["note"] = pd.array(notes, dtype="string")
    return out
