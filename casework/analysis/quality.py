"""Case-card quality inspection (案卡规范性检测): a rule engine over the ``records`` table.

The rules (kinds, severities, the built-in file, user overrides) are compiled by
:mod:`casework.analysis.quality_rules` (its public names are re-exported here); this module
runs them (:func:`run_rules`, one DuckDB scan for all rules) and counts what they find: error
rates by group on a funnel (:func:`error_rates`), monthly error rates with p-chart limits
(:func:`error_trend`), counts by rule and severity. The Chinese summary, the report's findings
and the 案卡差错通报 layout are in :mod:`casework.present.quality_text`.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis import quality
>>> from casework.model import schema
>>> cards = schema.conform(pd.DataFrame({
...     "unit_code": ["371329", "371329"], "dept_case_no": ["A1", "A2"],
...     "person_id": ["p1", "p2"], "stage": ["prosecution_review"] * 2,
...     "accepted_on": ["2024-03-01", "2024-03-01"], "closed_on": ["2024-02-20", "2024-03-20"],
... }), "records")
>>> found = quality.run_rules(cards, rules=[
...     {"id": "closed_before_accepted", "kind": "consistency", "severity": "error",
...      "message_zh": "审结日期早于受理日期", "fields": ["accepted_on", "closed_on"],
...      "condition": "closed_on < accepted_on"}], builtin=False)
>>> rows = found[["rule_id", "dept_case_no", "values"]].to_dict("records")
>>> rows  # doctest: +NORMALIZE_WHITESPACE
[{'rule_id': 'closed_before_accepted', 'dept_case_no': 'A1',
  'values': '受理日期：2024-03-01，审结日期：2024-02-20'}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis import periods
from casework.analysis.funnels import funnel
from casework.analysis.quality_rules import (
    BUILTIN_RULES,
    KIND_ZH,
    KINDS,
    SEVERITIES,
    SEVERITY_ZH,
    Rule,
    load_rules,
    rule_error,
    rules_frame,
)
from casework.analysis.stats import wilson_interval
from casework.base.errors import DataError, ParameterError, check_choice
from casework.model import schema

__all__ = [
    "SEVERITIES", "SEVERITY_ZH", "KINDS", "KIND_ZH", "BUILTIN_RULES", "Rule", "load_rules",
    "rules_frame", "NOT_CARDS", "IDENTITY", "FINDING_COLUMNS", "MONTH_BASES", "POSITION_ZH",
    "card_rows", "card_month", "card_keys", "flag_cards", "rule_query", "run_rules",
    "at_or_above",
    "error_rates", "error_trend", "in_period", "rule_counts", "severity_counts",
]


#: Stages whose rows are not case cards (a judgment-only corpus): never inspected or counted.
NOT_CARDS = ("judgment",)


def card_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``records`` that are case cards (all but :data:`NOT_CARDS` stages).

    Examples
    --------
    >>> card_rows(pd.DataFrame({"stage": ["arrest_review", "judgment", "审查"]}))["stage"].tolist()
    ['arrest_review', '审查']
    """
    if "stage" not in records.columns:
        return records
    return records[~records["stage"].isin(list(NOT_CARDS)).fillna(False).to_numpy()]


#: Columns every finding carries (identity of the card and who handled it).
IDENTITY = ("unit_code", "dept_case_no", "person_id", "stage", "case_type", "department",
            "prosecutor_id", "prosecutor_name", "case_name", "accepted_on", "closed_on")

#: Columns of the frame :func:`run_rules` returns.
FINDING_COLUMNS = ("rule_id", "kind", "severity", "message_zh", "unit_code", "dept_case_no",
                   "person_id", "stage", "case_type", "department", "prosecutor_id",
                   "prosecutor_name", "case_name", "accepted_on", "closed_on", "month", "fields",
                   "values")


_RECORD_COLS = set(schema.column_names("records"))

# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _label(col: str) -> str:
    return schema.column("records", col).label_zh if col in _RECORD_COLS else col


def _display(col: str, s: pd.Series) -> pd.Series:
    """Values of one column as Chinese display text (codes → labels, 未填 for null)."""
    spec = schema.column("records", col) if col in _RECORD_COLS else None
    missing = s.isna()
    if spec is not None and spec.dtype == "date":
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
    elif spec is not None and spec.dtype == "datetime":
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d %H:%M")
    elif spec is not None and spec.dtype == "bool":
        out = s.map(lambda v: "是" if v is True or v == 1 else "否", na_action="ignore")
    elif spec is not None and spec.dtype in ("float", "int"):
        out = s.map(lambda v: f"{float(v):g}", na_action="ignore")
    elif spec is not None and spec.codes and spec.codes != "charge" and spec.dtype == "string":
        out = s.map(lambda v: schema.label(spec.codes, v), na_action="ignore")
    else:
        out = s.map(lambda v: ",".join(v) if isinstance(v, (list, tuple, np.ndarray)) else str(v),
                    na_action="ignore")
    return out.astype("object").where(~missing, "未填")


#: How a card is placed in a month: ``closed`` — month of ``closed_on`` (open cards: of
#: ``accepted_on``), as 审结 statistics count it; ``accepted`` — month of ``accepted_on``.
MONTH_BASES = ("closed", "accepted")


def card_month(records: pd.DataFrame, *, basis: str = "closed") -> pd.Series:
    """The statistics month of each card (``'YYYY-MM'`` strings).

    Parameters
    ----------
    basis : {"closed", "accepted"}
        ``closed``: month of ``closed_on``, else of ``accepted_on`` (open cards);
        ``accepted``: month of ``accepted_on``.

    Examples
    --------
    >>> rec = pd.DataFrame({"accepted_on": pd.to_datetime(["2024-01-20", "2024-02-01"]),
    ...                     "closed_on": pd.to_datetime(["2024-03-02", None])})
    >>> card_month(rec).tolist(), card_month(rec, basis="accepted").tolist()
    (['2024-03', '2024-02'], ['2024-01', '2024-02'])
    """
    check_choice("basis", basis, MONTH_BASES)
    acc = pd.to_datetime(records["accepted_on"])
    ref = acc if basis == "accepted" else pd.to_datetime(records["closed_on"]).fillna(acc)
    return year_months(ref)


def year_months(dates: pd.Series) -> pd.Series:
    """``dates.dt.strftime("%Y-%m")`` as ``string`` (``<NA>`` for NaT), formatting one date
    of each distinct month: the same text, without formatting every date.

    Examples
    --------
    >>> d = pd.Series(pd.to_datetime(["2024-03-31", None, "2024-03-01", "2023-12-05"]))
    >>> year_months(d).tolist()
    ['2024-03', <NA>, '2024-03', '2023-12']
    """
    d = pd.to_datetime(dates)
    key = (d.dt.year * 12 + d.dt.month).to_numpy(dtype="float64", na_value=np.nan)
    codes = pd.factorize(key)[0]  # NaT: -1
    out = np.full(len(d), None, dtype=object)
    at = np.flatnonzero(codes >= 0)
    first = at[np.unique(codes[at], return_index=True)[1]]  # one date per month, by code
    out[at] = d.iloc[first].dt.strftime("%Y-%m").to_numpy(dtype=object)[codes[at]]
    return pd.Series(out, index=d.index, name=d.name, dtype="string")


def _duck_frame(records: pd.DataFrame, cols: list[str]):
    import pyarrow as pa  # heavy: only needed when rules run

    frame = records[cols].copy()
    for c in cols:
        is_list = c in _RECORD_COLS and schema.column("records", c).dtype == "list"
        if frame[c].dtype == object and is_list:
            frame[c] = frame[c].map(lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray))
                                    else None)
    frame["__row"] = np.arange(len(frame), dtype="int64")
    return pa.Table.from_pandas(frame, preserve_index=False)


def rule_query(rule: Rule, order: int = 0) -> str:
    """The SQL (DuckDB dialect) that finds one rule's faulty cards in a table ``records``.

    It returns ``__rule`` (= ``order``) and ``__row`` (the card's row number, a column of
    ``records``); the condition sees only the rule's fields and the identity columns. The
    same text runs on Spark through :func:`casework.store.engines.translate`.

    Examples
    --------
    >>> r = load_rules([{"id": "x", "kind": "consistency", "severity": "error",
    ...     "message_zh": "审结早于受理", "fields": ["closed_on", "accepted_on"],
    ...     "condition": "closed_on < accepted_on"}], builtin=False)[0]
    >>> rule_query(r).endswith("AS card WHERE coalesce(((closed_on < accepted_on)), FALSE)")
    True
    """
    cols = ", ".join(dict.fromkeys(["__row", "unit_code", "dept_case_no", "person_id",
                                    "stage", "case_type", *rule.fields]))
    return (f"SELECT {order} AS __rule, __row FROM (SELECT {cols} FROM records)"
            f" AS card WHERE coalesce(({rule.predicate}), FALSE)")


def run_rules(records: pd.DataFrame, *, rules=None, builtin: bool = True) -> pd.DataFrame:
    """Inspect case cards: one row per (rule, card) fault.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table (canonical columns; missing schema columns are treated as
        absent from the export: rules reading them are skipped and listed in
        ``findings.attrs["skipped"]``). Rows of a judgment-only corpus (stage ``judgment``)
        are not case cards and are not inspected (:func:`card_rows`).
    rules : path, list or dict, optional
        User rules (see :func:`load_rules`); disabled rules do not run.
    builtin : bool
        Include the built-in rules.

    Returns
    -------
    DataFrame
        ``rule_id, kind, severity, message_zh`` (the rule), ``unit_code, dept_case_no,
        person_id, stage, case_type, department, prosecutor_id, prosecutor_name, case_name``
        ``accepted_on, closed_on`` (the card), ``month`` (statistics month of the card,
        :func:`card_month` with the ``closed`` basis), ``fields``
        (columns read, comma-joined) and ``values`` (their values on the card, as Chinese
        display text). Sorted by severity (errors first), then unit, case, person, rule order.

    Raises
    ------
    ParameterError
        A rule is malformed or its SQL cannot run (the message names the rule).
    """
    import duckdb  # heavy: only needed when rules run

    rule_set = [r for r in load_rules(rules, builtin=builtin) if r.enabled]
    present = set(records.columns)
    skipped = {r.id: [f for f in r.fields if f not in present] for r in rule_set}
    skipped = {k: v for k, v in skipped.items() if v}
    active = [r for r in rule_set if r.id not in skipped]
    data = schema.conform(card_rows(records).reset_index(drop=True), "records")

    needed = list(dict.fromkeys([*IDENTITY, *(f for r in active for f in r.fields)]))
    missing_extra = [c for c in needed if c not in data.columns]
    if missing_extra:  # only possible for user columns that vanished after conform
        raise DataError(f"缺少列：{missing_extra}", f"missing columns: {missing_extra}")
    con = duckdb.connect()
    try:
        con.register("records", _duck_frame(data, needed))
        con.execute("SET enable_external_access = false")
        queries = [rule_query(r, order) for order, r in enumerate(active)]
        hits = []
        if queries:
            try:  # one scan plan for all rules; on failure, find the rule to blame
                found = con.execute(" UNION ALL ".join(queries)).fetchnumpy()
                hits = [pd.DataFrame({"__rule": np.asarray(found["__rule"], dtype="int64"),
                                      "__row": np.asarray(found["__row"], dtype="int64")})]
            except duckdb.Error:
                for r, sql in zip(active, queries):
                    try:
                        con.execute(sql).fetchall()
                    except duckdb.Error as exc:
                        raise rule_error(r.id, "条件无法执行（条件只能引用 fields 中声明的列）"
                                               f"：{exc}",
                                   f"its SQL cannot run (conditions may use only the columns "
                                   f"listed in fields): {exc}") from None
                raise
    finally:
        con.close()

    if not hits or not len(hits[0]):
        out = pd.DataFrame({c: pd.Series(dtype="string") for c in FINDING_COLUMNS})
        out.attrs["skipped"] = skipped
        return out
    hit = pd.concat(hits, ignore_index=True)
    parts = []
    data = data[needed]  # the faulty cards' rows are taken from the columns used only
    for order, grp in hit.groupby("__rule", sort=True):
        r = active[order]
        cards = data.iloc[grp["__row"].to_numpy()]
        text = None
        for f in r.fields:
            piece = _label(f) + "：" + _display(f, cards[f]).astype(str)
            text = piece if text is None else text + "，" + piece
        part = cards[list(IDENTITY)].copy()
        part.insert(0, "message_zh", r.message_zh)
        part.insert(0, "severity", r.severity)
        part.insert(0, "kind", r.kind)
        part.insert(0, "rule_id", r.id)
        part["month"] = card_month(cards)
        part["fields"] = ",".join(r.fields)
        part["values"] = text.to_numpy()
        part["__order"] = order
        part["__row"] = grp["__row"].to_numpy()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["__sev"] = out["severity"].map({s: -i for i, s in enumerate(SEVERITIES)})
    out = out.sort_values(["__sev", "unit_code", "dept_case_no", "person_id", "__order"],
                          kind="stable").reset_index(drop=True)
    out = out[list(FINDING_COLUMNS)]
    for c in ("rule_id", "kind", "severity", "message_zh", "month", "fields", "values"):
        out[c] = out[c].astype("string")
    out.attrs["skipped"] = skipped
    return out


def at_or_above(findings: pd.DataFrame, level: str) -> pd.Series:
    """Boolean mask of findings whose severity is ``level`` or higher.

    Examples
    --------
    >>> f = pd.DataFrame({"severity": ["info", "warning", "error"]})
    >>> at_or_above(f, "warning").tolist()
    [False, True, True]
    """
    check_choice("level", level, SEVERITIES)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return findings["severity"].map(rank).fillna(-1).astype(int) >= rank[level]


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def card_keys(df: pd.DataFrame) -> pd.Series:
    """One key per card (``unit_code, stage, dept_case_no, person_id`` joined), for counting
    distinct cards in findings and records alike.

    Examples
    --------
    >>> k = card_keys(pd.DataFrame({"unit_code": ["1"], "stage": ["s"], "dept_case_no": ["a"],
    ...                             "person_id": [None]}))
    >>> k.tolist() == ["1\x1fs\x1fa\x1f"]
    True
    """
    parts = [df[c].astype("string").fillna("")
             for c in ("unit_code", "stage", "dept_case_no", "person_id")]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


def flag_cards(findings: pd.DataFrame, records: pd.DataFrame, level: str) -> pd.DataFrame:
    """The case cards of ``records`` (:func:`card_rows`) with a boolean column ``faulty``
    (≥1 finding at or above ``level``).

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1", "1"], "stage": ["arrest_review"] * 2,
    ...                     "dept_case_no": ["a", "b"], "person_id": ["p", "p"]})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["b"],
    ...                   "person_id": ["p"], "severity": ["error"]})
    >>> flag_cards(f, rec, "error")["faulty"].tolist()
    [False, True]
    """
    f = findings[at_or_above(findings, level)] if len(findings) else findings
    faulty = set(card_keys(f)) if len(f) else set()
    out = card_rows(records).copy()
    out["faulty"] = card_keys(out).isin(faulty).to_numpy()
    return out


POSITION_ZH = {"high_alarm": "显著偏高（超出99.8%控制限）", "high_alert": "偏高（超出95%控制限）",
               "within": "控制限内", "low_alert": "偏低（超出95%控制限）",
               "low_alarm": "显著偏低（超出99.8%控制限）", "below_min_n": "案卡过少，不作判断"}


def _as_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def error_rates(findings: pd.DataFrame, records: pd.DataFrame, *, by="department",
                level: str = "error", months=None, basis: str = "closed",
                overdispersion: str = "none",
                min_n: int = 10) -> pd.DataFrame:
    """Case-card error rates (差错率 = cards with ≥1 fault ÷ cards) by group, with funnel position.

    Parameters
    ----------
    findings, records : DataFrame
        From :func:`run_rules` and the inspected ``records``.
    by : str or list of str
        Grouping columns of ``records`` (``department``, ``prosecutor_id``, ``unit_code`` …).
    level : {"info", "warning", "error"}
        Lowest severity that makes a card faulty.
    months : list of 'YYYY-MM', optional
        Restrict to cards whose statistics month (:func:`card_month`) is listed.
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).
    overdispersion : {"none", "multiplicative", "additive"}
        Passed to :func:`casework.analysis.funnels.funnel`.
    min_n : int
        Groups with fewer cards are shown but not flagged (``below_min_n``).

    Returns
    -------
    DataFrame
        The columns of :func:`casework.analysis.funnels.funnel` — ``by…, numerator``
        (faulty cards),
        ``denominator`` (cards), ``value, value_ci_lower, value_ci_upper`` (Wilson),
        ``target`` (pooled rate), control limits, ``z``, ``flag``, ``flag_direction``,
        ``below_min_n`` … — plus ``position`` (``high_alarm``, ``high_alert``, ``within``,
        ``low_alert``, ``low_alarm``, ``below_min_n``), ``position_zh`` and ``label`` (the
        group's key values joined, for charts). Sorted by value, highest first (a reading
        order, not a ranking).

    Notes
    -----
    A card is one ``records`` row (one person at one stage). The funnel compares each group
    with the pooled rate given its size (Spiegelhalter 2005); outside 99.8% = alarm.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 4, "stage": ["arrest_review"] * 4,
    ...     "dept_case_no": ["a", "b", "c", "d"], "person_id": ["p"] * 4,
    ...     "department": ["一部", "一部", "二部", "二部"],
    ...     "accepted_on": pd.to_datetime(["2024-01-02"] * 4), "closed_on": pd.NaT})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["a"],
    ...     "person_id": ["p"], "severity": ["error"]})
    >>> r = error_rates(f, rec, min_n=1)
    >>> r[["department", "numerator", "denominator", "value"]].values.tolist()
    [['一部', 1, 2, 0.5], ['二部', 0, 2, 0.0]]
    """
    keys = _as_list(by)
    for k in keys:
        if k not in records.columns:
            raise ParameterError(f"分组列 {k} 不在案卡数据中", f"grouping column {k} not in "
                                                     "records")
    cards = flag_cards(findings, records, level)
    if months is not None:
        cards = cards[card_month(cards, basis=basis).isin([str(m) for m in months]).to_numpy()]
    cards = cards.assign(numerator=cards["faulty"].astype("int64"), denominator=1)
    for k in keys:  # a missing department is a group of its own, not dropped
        cards[k] = cards[k].astype("string").fillna("（未填录）")
    out = funnel(cards[[*keys, "numerator", "denominator"]], by=keys,
                         overdispersion=overdispersion, min_n=min_n)
    out["numerator"] = out["numerator"].astype("int64")
    out["denominator"] = out["denominator"].astype("int64")
    pos = np.where(out["flag"].astype(str) == "", "within",
                   out["flag_direction"].astype(str) + "_" + out["flag"].astype(str))
    pos = np.where(out["below_min_n"].astype(bool), "below_min_n", pos)
    out["position"] = pd.array(pos, dtype="string")
    out["position_zh"] = out["position"].map(POSITION_ZH).astype("string")
    out["label"] = _label_of(out, keys)
    return out.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def _label_of(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One display label per group: the key values joined by a space (``全部`` without keys)."""
    if not keys:
        return pd.Series("全部", index=frame.index, dtype="string")
    label = frame[keys[0]].astype("string").fillna("（未填录）")
    for k in keys[1:]:
        label = label + " " + frame[k].astype("string").fillna("（未填录）")
    return label


def error_trend(findings: pd.DataFrame, records: pd.DataFrame, *, by=None,
                level: str = "error", months=None, basis: str = "closed",
                alpha: float = 0.05) -> pd.DataFrame:
    """Monthly case-card error rate (by statistics month of the card, :func:`card_month`),
    with p-chart limits.

    Parameters
    ----------
    by : str or list of str, optional
        Extra grouping columns (one series per group).
    level : {"info", "warning", "error"}
        Lowest severity that makes a card faulty.
    months : list of 'YYYY-MM', optional
        Keep only these months (e.g. the trailing window of a report).
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).

    Returns
    -------
    DataFrame
        ``month, by…, numerator, denominator, value, value_ci_lower, value_ci_upper`` and the
        p-chart of each series: ``centre`` (the series' pooled rate), ``lower_limit``,
        ``upper_limit`` (centre ± 3·√(centre·(1−centre)/n), clipped to [0, 1]) and ``flagged``
        (outside the limits), ``label`` (the group's key values joined).

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["a", "b", "c"], "person_id": ["p"] * 3,
    ...     "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-02-01"]),
    ...     "closed_on": pd.NaT})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["b"],
    ...     "person_id": ["p"], "severity": ["error"]})
    >>> error_trend(f, rec)[["month", "numerator", "denominator"]].values.tolist()
    [['2024-01', 1, 2], ['2024-02', 0, 1]]
    """
    keys = _as_list(by)
    cards = flag_cards(findings, records, level)
    cards["month"] = card_month(cards, basis=basis)
    if months is not None:
        cards = cards[cards["month"].isin([str(m) for m in months]).to_numpy()]
    g = (cards.groupby(["month", *keys], dropna=False, sort=True)["faulty"]
         .agg(["sum", "size"]).reset_index()
         .rename(columns={"sum": "numerator", "size": "denominator"}))
    g["numerator"] = g["numerator"].astype("int64")
    g["denominator"] = g["denominator"].astype("int64")
    g["value"] = g["numerator"] / g["denominator"]
    g["value_ci_lower"], g["value_ci_upper"] = wilson_interval(g["numerator"], g["denominator"],
                                                               alpha=alpha)
    if keys:
        tot = g.groupby(keys, dropna=False)[["numerator", "denominator"]].transform("sum")
        num, den = tot["numerator"].to_numpy(float), tot["denominator"].to_numpy(float)
    else:
        num = np.full(len(g), float(g["numerator"].sum()))
        den = np.full(len(g), float(g["denominator"].sum()))
    centre = num / den
    half = 3 * np.sqrt(centre * (1 - centre) / g["denominator"].to_numpy(dtype=float))
    g["centre"] = centre
    g["lower_limit"] = np.clip(centre - half, 0, 1)
    g["upper_limit"] = np.clip(centre + half, 0, 1)
    g["flagged"] = ((g["value"] > g["upper_limit"]) | (g["value"] < g["lower_limit"])).to_numpy()
    g["label"] = _label_of(g, keys)
    return g


def in_period(data: pd.DataFrame, period, *, trailing: int | None = None,
              basis: str = "closed") -> pd.Series:
    """Boolean mask of the cards (or findings) whose statistics month lies in ``period``.

    Parameters
    ----------
    data : DataFrame
        ``records`` or findings (both carry ``accepted_on`` and ``closed_on``; a frame with
        only a ``month`` column is filtered on it).
    period : Period or str
        A :class:`casework.analysis.periods.Period` or a period code.
    trailing : int, optional
        Also keep the ``trailing`` months ending with the period's last month (the window of
        a trend chart).
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).

    Examples
    --------
    >>> rec = pd.DataFrame({"accepted_on": pd.to_datetime(["2024-04-20", "2024-05-02"]),
    ...                     "closed_on": pd.to_datetime(["2024-05-03", None])})
    >>> in_period(rec, "2024-05").tolist(), in_period(rec, "2024-04").tolist()
    ([True, True], [False, False])
    >>> in_period(rec, "2024-04", basis="accepted").tolist()
    [True, False]
    >>> in_period(pd.DataFrame({"month": ["2024-03", "2024-04"]}), "2024-05", trailing=2).tolist()
    [False, True]
    """
    p = periods.parse(period) if isinstance(period, str) else period
    months = {m.code for m in p.months()}
    if trailing:
        months |= {m.code for m in periods.trailing_months(p, int(trailing))}
    if "accepted_on" in data.columns:
        month = card_month(data, basis=basis)
    else:
        month = data["month"]
    return month.astype("string").isin(months).fillna(False).astype(bool)


def rule_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings by rule: ``rule_id, kind, kind_zh, severity, severity_zh, message_zh, findings,
    cards`` (distinct cards), errors first, then most findings first.

    Examples
    --------
    >>> f = pd.DataFrame({"rule_id": ["a", "a", "b"], "kind": ["validity"] * 3,
    ...     "severity": ["error", "error", "info"], "message_zh": ["x", "x", "y"],
    ...     "unit_code": ["1"] * 3, "stage": ["s"] * 3, "dept_case_no": ["c1", "c2", "c1"],
    ...     "person_id": ["p"] * 3})
    >>> rule_counts(f)[["rule_id", "findings", "cards"]].to_dict("records")
    [{'rule_id': 'a', 'findings': 2, 'cards': 2}, {'rule_id': 'b', 'findings': 1, 'cards': 1}]
    """
    cols = ["rule_id", "kind", "kind_zh", "severity", "severity_zh", "message_zh", "findings",
            "cards"]
    if not len(findings):
        return pd.DataFrame(columns=cols)
    f = findings.assign(__card=card_keys(findings).to_numpy())
    g = (f.groupby(["rule_id", "kind", "severity", "message_zh"], sort=False)
         .agg(findings=("__card", "size"), cards=("__card", "nunique")).reset_index())
    g["kind_zh"] = g["kind"].map(KIND_ZH)
    g["severity_zh"] = g["severity"].map(SEVERITY_ZH)
    g["__sev"] = g["severity"].map({s: -i for i, s in enumerate(SEVERITIES)})
    return g.sort_values(["__sev", "findings"], ascending=[True, False], kind="stable")[cols] \
        .reset_index(drop=True)


def severity_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings and faulty cards per severity: ``severity, severity_zh, findings, cards``
    (all three levels, highest first, zeros included)."""
    rows = []
    for s in reversed(SEVERITIES):
        f = findings[findings["severity"] == s] if len(findings) else findings
        rows.append({"severity": s, "severity_zh": SEVERITY_ZH[s], "findings": int(len(f)),
                     "cards": int(card_keys(f).nunique()) if len(f) else 0})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Narrative
# ---------------------------------------------------------------------------------------------

