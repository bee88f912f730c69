"""Display tables: computed rows turned into the tables a report shows (text in their units,
Chinese column names, and which columns small-cell suppression protects).

The numbers come from :mod:`casework.analysis` (:func:`casework.analysis.panel.overview`,
:func:`casework.analysis.monitor.flags`); this module only formats and arranges them. Each
table builder returns a DataFrame ready for :func:`casework.notebook.page.table`, and the
``*PROTECT`` constants say which columns hold person counts (``counts``) and which are computed
from them (``dependent``), so the circulated level can suppress small cells.

Examples
--------
>>> from casework.present import tables
>>> tables.assessment({"year_ago_change": 3.0, "year_ago_notable": True,
...                    "year_ago_p_value": 0.001, "direction": "lower_better"})
'▲需关注'
"""

from __future__ import annotations

import pandas as pd

from casework.analysis import indicators as _ind
from casework.analysis import panel as _panel
from casework.analysis import periods as _periods
from casework.model import schema
from casework.present import narrative

# ---------------------------------------------------------------------------------------------
# The periodic overview (按期分析): headline, indicators, business lines, composition
# ---------------------------------------------------------------------------------------------


def assessment(row) -> str:
    """Direction-aware verdict of the 同比 change: ▲/▼ with 向好 or 需关注 beyond noise, 平稳
    within noise, 上升/下降（区间判断） for range indicators, — when missing or not testable.

    Examples
    --------
    >>> base = {"year_ago_notable": True, "year_ago_p_value": 0.01}
    >>> assessment({**base, "year_ago_change": -3.0, "direction": "lower_better"})
    '▼向好'
    >>> assessment({"year_ago_change": float("nan")})
    '—'
    >>> assessment({**base, "year_ago_change": -3.0, "immature": True})
    '尚未成熟'
    """
    if row.get("immature") is True or row.get("immature") == 1:
        return "尚未成熟"
    change, notable = row.get("year_ago_change"), row.get("year_ago_notable")
    if narrative.is_missing(change):
        return "—"
    if "year_ago_p_value" in row and narrative.is_missing(row.get("year_ago_p_value")):
        return "—"  # not testable (stock counts, medians, ratios)
    if not bool(notable):
        return "平稳"
    direction = row.get("direction", "range")
    if direction == "range":
        return "上升（区间判断）" if change > 0 else "下降（区间判断）"
    adverse = (change > 0) == (direction == "lower_better")
    arrow = "▲" if change > 0 else "▼"
    return arrow + ("需关注" if adverse else "向好")


def int_or_na(v):
    """A count as a whole number, or ``pd.NA`` when missing.

    Examples
    --------
    >>> int_or_na(4.6), int_or_na(float("nan")) is pd.NA
    (5, True)
    """
    return pd.NA if narrative.is_missing(v) else int(round(float(v)))


def display_rows(rows: pd.DataFrame, *, counts: bool = False) -> pd.DataFrame:
    """Display rows of :func:`casework.analysis.panel.compute` rows: values and changes as text
    in their units; with ``counts`` the values themselves stay numeric (so small cells can be
    suppressed at the circulated level).

    Examples
    --------
    >>> rows = pd.DataFrame([{"indicator": "non_arrest_rate", "kind": "rate",
    ...     "count_unit": "person", "unit_zh": "%", "direction": "range", "value": 0.5,
    ...     "value_ci_lower": 0.2, "value_ci_upper": 0.8, "numerator": 1, "denominator": 2,
    ...     "year_ago_value": float("nan"), "previous_value": float("nan"),
    ...     "year_ago_change": float("nan"), "previous_change": float("nan")}])
    >>> display_rows(rows)[["指标", "本期", "95%区间"]].values.tolist()
    [['不捕率', '50.0%', '20.0%～80.0%']]
    """
    out = []
    for _, r in rows.iterrows():
        kind, cu, unit_zh = r["kind"], r["count_unit"], r.get("unit_zh")

        def fv(v, _k=kind, _c=cu, _u=unit_zh):
            return narrative.fmt_value(v, kind=_k, count_unit=_c,
                                       unit_zh=_u if _k in ("mean", "median") else None)

        label = _ind.get(r["indicator"]).label(cu)
        change = {"同比": narrative.fmt_change(r["year_ago_change"], kind=kind, unit_zh=unit_zh),
                  "环比": narrative.fmt_change(r["previous_change"], kind=kind, unit_zh=unit_zh),
                  "评价": assessment(r)}
        if counts:
            out.append({"indicator": r["indicator"], "指标": label,
                        "本期": int_or_na(r["value"]), "去年同期": int_or_na(r["year_ago_value"]),
                        "上期": int_or_na(r["previous_value"]), **change})
            continue
        ci = "—"
        if not narrative.is_missing(r["value_ci_lower"]):
            ci = f"{fv(r['value_ci_lower'])}～{fv(r['value_ci_upper'])}"
        has_den = kind in ("rate", "ratio", "mean", "median")
        out.append({
            "indicator": r["indicator"], "指标": label, "本期": fv(r["value"]), "95%区间": ci,
            "分子": int_or_na(r["numerator"]) if kind in ("rate", "ratio") else pd.NA,
            "分母": int_or_na(r["denominator"]) if has_den else pd.NA,
            "去年同期": fv(r["year_ago_value"]), "上期": fv(r["previous_value"]), **change,
        })
    df = pd.DataFrame(out)
    for c in ("本期", "去年同期", "上期", "分子", "分母"):
        if c in df.columns and (counts or c in ("分子", "分母")):
            df[c] = df[c].astype("Int64")
    return df


#: How each overview table is protected at the circulated level (page.table's ``counts`` and
#: ``dependent``): person counts, and the columns computed from them.
PROTECT = {
    "headline": {"counts": ["本期", "去年同期", "上期"], "dependent": ["同比", "环比", "评价"]},
    "indicators": {"counts": ["分子", "分母"],
                   "dependent": ["本期", "95%区间", "去年同期", "同比", "上期", "环比", "评价"]},
    "by_line": {"counts": ["受理", "审结", "期末在办"], "dependent": ["受理同比", "审结同比"]},
}


def line_table(lines: pd.DataFrame) -> pd.DataFrame:
    """受理/审结/期末在办 per business line (:data:`casework.analysis.panel.LINES`) with 同比,
    from :func:`casework.analysis.panel.compute` rows holding the line indicators.

    Examples
    --------
    >>> codes = [c for line in _panel.LINES for c in line[1:]]
    >>> rows = pd.DataFrame({"indicator": codes, "value": range(6),
    ...                      "year_ago_change": float("nan")})
    >>> line_table(rows)["受理"].tolist()
    [0, 3]
    """
    lines = lines.set_index("indicator")
    table = []
    for stage, acc, clo, pend in _panel.LINES:
        table.append({
            "办案环节": schema.label("stage", stage),
            "受理": int_or_na(lines.loc[acc, "value"]), "受理同比": narrative.fmt_change(
                lines.loc[acc, "year_ago_change"], kind="count"),
            "审结": int_or_na(lines.loc[clo, "value"]), "审结同比": narrative.fmt_change(
                lines.loc[clo, "year_ago_change"], kind="count"),
            "期末在办": int_or_na(lines.loc[pend, "value"]),
        })
    return pd.DataFrame(table).astype({"受理": "Int64", "审结": "Int64", "期末在办": "Int64"})


def composition_table(rows: pd.DataFrame, *, codes, key: str, top: int | None = None
                      ) -> pd.DataFrame:
    """Composition by ``key`` (department, charge …): for each count indicator in ``codes``
    its value, share, year-ago value and 同比, largest first; groups with nothing in either
    year are left out, and ``top`` keeps the largest. ``attrs["protect"]`` names the count
    and dependent columns for :func:`casework.notebook.page.table`.

    Examples
    --------
    >>> rows = pd.DataFrame({"charge": ["盗窃", "诈骗"],
    ...                      "indicator": "accepted_prosecution_review", "value": [3.0, 1.0],
    ...                      "year_ago_value": [2.0, 0.0],
    ...                      "year_ago_change": [50.0, float("nan")]})
    >>> t = composition_table(rows, codes=["accepted_prosecution_review"], key="charge")
    >>> t.iloc[0].astype(str).tolist()
    ['盗窃', '3', '75.0%', '2', '+50.0%']
    """
    parts = []
    for code in codes:
        r = rows[rows["indicator"] == code].set_index(key)
        name = _ind.get(code).name_zh
        total = r["value"].sum()
        parts.append(pd.DataFrame({
            name: r["value"].round().astype("Int64"),
            f"{name}占比": [narrative.fmt_pct(v / total) if total else "—" for v in r["value"]],
            f"{name}去年同期": r["year_ago_value"].round().astype("Int64"),
            f"{name}同比": [narrative.fmt_change(c, kind="count") for c in r["year_ago_change"]],
        }))
    out = pd.concat(parts, axis=1)
    out = out.sort_values(out.columns[0], ascending=False, kind="stable")
    out = out[(out[out.columns[0]] > 0) | (out[out.columns[2]] > 0)]
    if top is not None:
        out = out.head(top)
    out = out.rename_axis(key).reset_index()
    counts = [c for c in out.columns[1:] if not (c.endswith("占比") or c.endswith("同比"))]
    out.attrs["protect"] = {"counts": counts, "dependent": [c for c in out.columns[1:]
                                                            if c not in counts]}
    return out


def overview_tables(records, *, period, journeys=None, headline=_panel.HEADLINE,
                    indicators="all", top_charges: int = 10, count_unit: str = "person",
                    alpha: float = 0.05, extra=None, last_month=None) -> dict:
    """Everything tabular the periodic overview (按期分析) shows, computed once
    (:func:`casework.analysis.panel.overview`) and formatted for display.

    Parameters
    ----------
    records, journeys, count_unit, alpha, extra
        As in :func:`casework.analysis.panel.compute`.
    period : str or Period
        The reporting period (月/季/半年/年/累计).
    headline : sequence of codes
        Headline counts (default :data:`casework.analysis.panel.HEADLINE`).
    indicators : codes, group names or "all"
        Rows of the indicator table.
    top_charges : int
        How many charges the composition by charge shows.
    last_month : str or Period, optional
        Last month with data: cohort rates not yet mature are marked 尚未成熟 in ``评价``.

    Returns
    -------
    dict of DataFrame
        ``panel`` (the tidy :func:`casework.analysis.panel.compute` rows of headline +
        indicators, for narrative), ``headline`` and ``indicators`` (display tables: 本期,
        95%区间, 去年同期, 同比, 上期, 环比 as text, ``评价`` direction-aware: ▲需关注 / ▼向好 /
        平稳 / 上升（区间判断）), ``by_line`` (受理/审结/在办 per business line with 同比),
        ``by_department`` and ``by_charge`` (受理 persons with 同比 and share; top
        ``top_charges`` charges of 审查起诉), ``definitions_brief`` and ``definitions`` (the
        brief and technical metric dictionary of the indicators shown,
        :func:`casework.analysis.indicators.definitions_table`), and ``protect``: for each
        display table the ``counts`` and ``dependent`` columns to pass to
        :func:`casework.notebook.page.table` (small-cell suppression at the circulated level).

    Examples
    --------
    >>> from casework.model.schema import conform
    >>> recs = conform(pd.DataFrame({"unit_code": ["U1"] * 2, "stage": ["arrest_review"] * 2,
    ...     "dept_case_no": ["A1", "A2"], "unified_case_no": ["T1", "T2"],
    ...     "person_id": ["P1", "P2"], "department": ["一部", "二部"], "charge": ["盗窃", "诈骗"],
    ...     "accepted_on": ["2024-05-02", "2024-05-03"],
    ...     "closed_on": ["2024-05-08", "2024-05-09"],
    ...     "decision": ["non_arrest", "arrest_approved"]}), "records")
    >>> t = overview_tables(recs, period="2024-05", indicators=["non_arrest_rate"])
    >>> t["indicators"][["指标", "本期", "分子", "分母"]].astype(str).values.tolist()
    [['不捕率', '50.0%', '1', '2']]
    >>> sorted(t)  # doctest: +NORMALIZE_WHITESPACE
    ['by_charge', 'by_department', 'by_line', 'definitions', 'definitions_brief', 'headline',
     'indicators', 'panel', 'protect']
    """
    o = _panel.overview(records, period=period, journeys=journeys, headline=headline,
                        indicators=indicators, count_unit=count_unit, alpha=alpha, extra=extra,
                        last_month=last_month)
    rows, heads, inds = o["panel"], o["headline_codes"], o["indicator_codes"]
    out = {"panel": rows}
    out["headline"] = display_rows(rows[rows["indicator"].isin(heads)], counts=True).drop(
        columns="indicator")
    out["indicators"] = display_rows(rows[rows["indicator"].isin(inds)
                                          & ~rows["indicator"].isin(heads)]
                                     ).drop(columns="indicator")
    out["by_line"] = line_table(o["lines"])
    dept = composition_table(o["by_department"], codes=_panel.COMPOSITION["department"],
                             key="department")
    out["by_department"] = dept
    out["by_charge"] = composition_table(o["by_charge"], codes=_panel.COMPOSITION["charge"],
                                         key="charge", top=top_charges)
    out["protect"] = {**PROTECT, "by_department": dept.attrs["protect"],
                      "by_charge": out["by_charge"].attrs["protect"]}
    shown = list(dict.fromkeys(inds + heads))
    out["definitions"] = _ind.definitions_table(shown, extra=extra, unit=count_unit,
                                                technical=True)
    out["definitions_brief"] = _ind.definitions_table(shown, extra=extra, unit=count_unit)
    return out


# ---------------------------------------------------------------------------------------------
# Monitoring flags (存在问题 details)
# ---------------------------------------------------------------------------------------------

#: ``page.table`` options for :func:`flag_table` (it holds no person counts to suppress).
FLAG_TABLE_PROTECT = {"counts": []}


def flag_table(flags_frame: pd.DataFrame, *, since=None, top: int = 20) -> pd.DataFrame:
    """Display table of flagged episodes (:func:`casework.analysis.monitor.flags`, 存在问题):
    维度, 对象, 指标, 起始月份, 最近月份, 信号月数, 方向, 规则, 最近值.

    Examples
    --------
    >>> f = pd.DataFrame([{"dimension": "派出所", "group": "新华派出所",
    ...     "indicator": "post_arrest_bail_rate", "flag_since": "2024-04",
    ...     "first_month": "2024-04", "last_month": "2024-06", "months_flagged": 3,
    ...     "rules": "rule1", "rules_zh": "超出控制限（3σ）", "side": 1, "adverse": True,
    ...     "last_value": 0.35}])
    >>> [str(v) for v in flag_table(f).iloc[0]]  # doctest: +NORMALIZE_WHITESPACE
    ['派出所', '新华派出所', '捕后取保候审率', '2024年4月', '2024年6月', '3', '偏高（需关注）',
     '超出控制限（3σ）', '35.0%']
    """
    cols = ["维度", "对象", "指标", "起始月份", "最近月份", "信号月数", "方向", "规则", "最近值"]
    if flags_frame is None or flags_frame.empty:
        return pd.DataFrame(columns=cols)
    f = flags_frame
    if since is not None:
        cut = _periods.parse(since).months()[0].code
        f = f[f["last_month"] >= cut]
    f = f.sort_values(["adverse", "last_month", "months_flagged"], ascending=False,
                      kind="stable").head(top)
    rows = []
    for _, r in f.iterrows():
        ind = _ind.get(r["indicator"])
        side = "偏高" if r["side"] > 0 else "偏低" if r["side"] < 0 else "异常"
        cu = r.get("count_unit")
        rows.append([
            r.get("dimension", ""), r.get("group", ""), ind.name_zh,
            _periods.parse(r["flag_since"]).label_zh, _periods.parse(r["last_month"]).label_zh,
            int(r["months_flagged"]), side + ("（需关注）" if r["adverse"] else ""), r["rules_zh"],
            narrative.fmt_value(r["last_value"], kind=ind.kind,
                                count_unit=cu if isinstance(cu, str) else ind.default_unit,
                                unit_zh=ind.unit_zh if ind.kind in ("mean", "median") else None),
        ])
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------------------
# Rising and frequent charges
# ---------------------------------------------------------------------------------------------

#: ``page.table`` options for :func:`charge_table`: case counts and what is computed from them.
CHARGE_TABLE_PROTECT = {"counts": ["本期新受理（件）", "去年同期（件）"],
                        "dependent": ["同比", "占比"]}


def charge_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Display table of :func:`casework.analysis.charge_trends.rising_charges`: 罪名, 类型
    (持续上升 / 多发), 本期新受理（件）, 去年同期（件）, 同比, 占比, 上升起始月份, 说明.

    Examples
    --------
    >>> rows = pd.DataFrame([{"charge": "盗窃", "reason": "rising,frequent", "cases": 272.0,
    ...     "year_ago_cases": 111.0, "change": 145.0, "share": 0.28, "rank": 2,
    ...     "start_month": "2026-02", "months_signalling": 10, "latest_value": 194.0,
    ...     "baseline": 127.1}])
    >>> charge_table(rows).iloc[0, :7].astype(str).tolist()
    ['盗窃', '持续上升、多发', '272', '111', '+145.0%', '28.0%', '2026年2月']
    """
    cols = ["罪名", "类型", "本期新受理（件）", "去年同期（件）", "同比", "占比", "上升起始月份",
            "说明"]
    if rows is None or rows.empty:
        return pd.DataFrame(columns=cols)
    kinds = {"rising": "持续上升", "frequent": "多发"}
    out = pd.DataFrame({
        "罪名": rows["charge"].astype(str),
        "类型": ["、".join(kinds[k] for k in str(r).split(",") if k in kinds)
               for r in rows["reason"]],
        "本期新受理（件）": [int_or_na(v) for v in rows["cases"]],
        "去年同期（件）": [int_or_na(v) for v in rows["year_ago_cases"]],
        "同比": [narrative.fmt_change(v, kind="count") for v in rows["change"]],
        "占比": [narrative.fmt_pct(v) for v in rows["share"]],
        "上升起始月份": [_periods.parse(m).label_zh if isinstance(m, str) else "—"
                   for m in rows["start_month"]],
        "说明": [narrative.charge_reason(r) for _, r in rows.iterrows()],
    }, columns=cols)
    return out.astype({"本期新受理（件）": "Int64", "去年同期（件）": "Int64"})
