"""Audit of historical data modifications (历史数据修改审核) from the case-card change log.

The ``modifications`` table (:mod:`casework.model.schema`) holds one row per change: which card
(``unit_code, dept_case_no, person_id``), which ``field``, ``old_value → new_value``, by which
``account``, ``modified_at``. With the ``records`` table (for closing dates) this module gives

* :func:`change_counts` — changes by field, account and month;
* four flags, each a frame of the change rows behind it:
  :func:`closed_case_edits` (key fields — decision, dates, charge, term, 认罪认罚 — changed after
  the card was closed), :func:`post_report_changes` (changes after the statistics of the card's
  month were reported), :func:`bursts` (days on which one account changed far more than its own
  and its peers' baseline) and :func:`reversals` (changes that reverse an outcome:
  不起诉 ↔ 起诉, 批捕 ↔ 不捕, 无罪 ↔ 有罪);
* :func:`audit` (all flags in one tidy frame), :func:`flag_summary` and :func:`account_flags`
  (which accounts stand out from their peers, on a funnel).

The Chinese findings are written by :func:`casework.present.modification_text.describe`.

Field names may come as canonical names or as Chinese labels, values as codes or Chinese labels
(exports differ); :func:`normalise` maps both onto the schema.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis import modifications as mods
>>> log = pd.DataFrame({"unit_code": ["371329"], "dept_case_no": ["A1"], "person_id": ["p1"],
...     "field": ["审结结论"], "old_value": ["不起诉"], "new_value": ["起诉"],
...     "account": ["u01"], "modified_at": pd.to_datetime(["2024-05-10 09:00"])})
>>> mods.reversals(log)[["field", "old_code", "new_code"]].to_dict("records")
[{'field': 'decision', 'old_code': 'non_prosecution', 'new_code': 'prosecute'}]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis import periods
from casework.analysis.funnels import funnel
from casework.analysis.quality import year_months
from casework.base.errors import DataError, ParameterError, check_choice
from casework.model import schema

#: Fields whose change after closing alters a reported outcome (decision, dates, charge,
#: term, 认罪认罚).
KEY_FIELDS = (
    "decision", "decision_subtype", "accepted_on", "closed_on", "arrested_on", "judgment_on",
    "charge", "charges", "principal_penalty", "term_months", "probation", "probation_months",
    "recommended_penalty", "recommended_term_months", "recommendation_adopted", "plea_leniency",
)

#: Outcome pairs whose swap is a reversal: field -> list of (side A, side B) code sets.
_GUILTY = {"public_surveillance", "criminal_detention", "fixed_term", "life", "death",
           "fine_only", "exempted"}
REVERSALS = {
    "decision": [({"prosecute"}, {"non_prosecution"}), ({"arrest_approved"}, {"non_arrest"})],
    "principal_penalty": [({"acquitted"}, _GUILTY)],
    "arrest_decision": [({"arrest_approved"}, {"non_arrest"})],
    "prosecution_decision": [({"prosecute"}, {"non_prosecution"})],
}

FLAG_ZH = {
    "closed_case_edit": "审结后修改关键项",
    "post_report_change": "统计数据上报后修改",
    "burst": "单一账号集中大量修改",
    "reversal": "修改导致结论反转",
}

#: Columns of :func:`audit`.
FLAG_COLUMNS = ("flag", "flag_zh", "unit_code", "dept_case_no", "person_id", "field",
                "field_zh", "old_value", "new_value", "account", "modified_at", "closed_on",
                "department", "detail")

_TRUE = {"true", "1", "是", "yes", "y", "t"}
_FALSE = {"false", "0", "否", "no", "n", "f"}


def _field_lookup() -> dict[str, str]:
    out = {}
    for col in schema.columns("records"):
        for name in (col.name, col.label_zh, *col.aliases):
            out.setdefault(str(name).strip(), col.name)
    return out


_FIELD_LOOKUP = _field_lookup()


def _code_lookup(field: str) -> dict[str, str]:
    try:
        col = schema.column("records", field)
    except KeyError:
        return {}
    if col.codes and col.codes in schema.CODE_TABLES:
        table = schema.CODE_TABLES[col.codes]
        out = {k: k for k in table}
        out.update({zh: k for k, (zh, _en) in table.items()})
        out.update({en: k for k, (_zh, en) in table.items()})
        return out
    return {}


def _to_codes(fields: pd.Series, values: pd.Series) -> pd.Series:
    """Each value as a code of its own field (labels mapped, booleans as 'true'/'false',
    text stripped); ``<NA>`` where the field is missing.

    The text operations run once over all rows (they work value by value, so the result is
    that of running them field by field); the lookups are dictionaries.
    """
    s = values.astype("string").str.strip()
    low = s.str.lower()
    out = s.to_numpy(dtype=object, na_value=pd.NA)
    field = fields.to_numpy(dtype=object, na_value=None)
    for fld in fields.dropna().unique():
        at = field == fld
        try:
            dtype = schema.column("records", fld).dtype
        except KeyError:
            dtype = None
        if dtype == "bool":
            out[at] = low.to_numpy(dtype=object, na_value=pd.NA)[at]
            out[at & low.isin(_TRUE).to_numpy()] = "true"
            out[at & low.isin(_FALSE).to_numpy()] = "false"
        elif lookup := _code_lookup(fld):
            out[at] = [v if v is pd.NA else lookup.get(v, v) for v in out[at]]
    out[fields.isna().to_numpy()] = pd.NA
    return pd.Series(pd.array(out, dtype="string"), index=values.index)


def _map_distinct(values: pd.Series, func) -> pd.Series:
    """``values.map(func, na_action="ignore")``, calling ``func`` once per distinct value (a
    log repeats a few field names and codes over thousands of rows)."""
    distinct = values.dropna().unique()
    return values.map(dict(zip(distinct, (func(v) for v in distinct))))


def normalise(modifications: pd.DataFrame) -> pd.DataFrame:
    """The change log with canonical field names and coded values.

    Adds ``field_raw`` (as given), rewrites ``field`` to the canonical ``records`` column name
    where one matches (label, alias or name), adds ``field_zh``, ``old_code``/``new_code``
    (values mapped to codes, booleans to ``true``/``false``), ``modified_at`` as datetime,
    ``date`` and ``month`` ('YYYY-MM').

    Raises
    ------
    DataError
        A required column of the ``modifications`` table is missing.
    """
    need = ["unit_code", "dept_case_no", "field", "account", "modified_at"]
    missing = [c for c in need if c not in modifications.columns]
    if missing:
        raise DataError(f"修改日志缺少列：{', '.join(missing)}",
                        f"the modification log lacks columns: {', '.join(missing)}",
                        hint="修改日志须含 单位编码、部门受案号、修改项、修改账号、修改时间")
    m = schema.conform(modifications.reset_index(drop=True), "modifications")
    m["field_raw"] = m["field"]
    m["field"] = _map_distinct(m["field"], lambda v: _FIELD_LOOKUP.get(str(v).strip(), v)
                               ).astype("string")
    m["field_zh"] = _map_distinct(
        m["field"], lambda v: schema.column("records", v).label_zh if v in _RECORD_COLS else v
    ).astype("string")
    m["old_code"] = _to_codes(m["field"], m["old_value"])
    m["new_code"] = _to_codes(m["field"], m["new_value"])
    m["modified_at"] = pd.to_datetime(m["modified_at"])
    m["date"] = m["modified_at"].dt.normalize()
    m["month"] = year_months(m["modified_at"])
    return m


_RECORD_COLS = set(schema.column_names("records"))


def ensure_log(modifications: pd.DataFrame) -> pd.DataFrame:
    """The change log with canonical fields and codes (:func:`normalise` unless done already)."""
    return modifications if "field_raw" in modifications.columns else normalise(modifications)


def _cards(records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-card and per-case closing data: (card table, case table)."""
    need = ["unit_code", "dept_case_no", "closed_on"]
    missing = [c for c in need if c not in records.columns]
    if missing:
        raise DataError(f"案卡数据缺少列：{', '.join(missing)}",
                        f"records lack columns: {', '.join(missing)}")
    cols = [c for c in ("unit_code", "dept_case_no", "person_id", "closed_on", "department",
                        "prosecutor_id") if c in records.columns]
    cards = records[cols].copy()
    cards["closed_on"] = pd.to_datetime(cards["closed_on"])
    if "department" not in cards.columns:
        cards["department"] = pd.NA
    if "person_id" in cards.columns:
        cards = cards.drop_duplicates(["unit_code", "dept_case_no", "person_id"])
    # a case (部门受案号) is closed when its last person is closed
    case = (cards.assign(_open=cards["closed_on"].isna())
            .groupby(["unit_code", "dept_case_no"], dropna=False)
            .agg(case_closed_on=("closed_on", "max"), case_open=("_open", "max"),
                 case_department=("department", "first"))
            .reset_index())
    case.loc[case["case_open"], "case_closed_on"] = pd.NaT
    return cards, case.drop(columns="case_open")


def with_closing(modifications: pd.DataFrame, records: pd.DataFrame) -> pd.DataFrame:
    """The normalised log with the card's ``closed_on`` and ``department`` attached.

    A change naming a person takes that person's card; a change without ``person_id`` takes the
    case's closing date (the last person's; NaT while any person is open).
    """
    m = ensure_log(modifications)
    if "_closing_joined" in m.columns:  # already joined (audit joins once)
        return m
    cards, case = _cards(records)
    out = m.merge(case, on=["unit_code", "dept_case_no"], how="left")
    if "person_id" in cards.columns:
        per = cards.rename(columns={"closed_on": "card_closed_on",
                                    "department": "card_department"})
        per = per[["unit_code", "dept_case_no", "person_id", "card_closed_on", "card_department"]]
        out = out.merge(per, on=["unit_code", "dept_case_no", "person_id"], how="left")
        named = out["person_id"].notna() & out["card_closed_on"].notna()
        out["closed_on"] = out["card_closed_on"].where(named, out["case_closed_on"])
        out["department"] = out["card_department"].where(out["card_department"].notna(),
                                                         out["case_department"])
        out = out.drop(columns=["card_closed_on", "card_department"])
    else:
        out["closed_on"] = out["case_closed_on"]
        out["department"] = out["case_department"]
    out["_closing_joined"] = True
    return out.drop(columns=["case_closed_on", "case_department"])


def in_period(modifications: pd.DataFrame, period, *, trailing: int | None = None) -> pd.Series:
    """Boolean mask of the changes made (``modified_at``) within ``period``, or within the
    ``trailing`` months ending with the period's last month when that is longer.

    Examples
    --------
    >>> log = pd.DataFrame({"modified_at": pd.to_datetime(["2024-03-31 23:00",
    ...                                                    "2024-05-01 08:00"])})
    >>> in_period(log, "2024-05").tolist(), in_period(log, "2024-05", trailing=3).tolist()
    ([False, True], [True, True])
    """
    p = periods.parse(period) if isinstance(period, str) else period
    months = {m.code for m in p.months()}
    if trailing:
        months |= {m.code for m in periods.trailing_months(p, int(trailing))}
    month = year_months(pd.to_datetime(modifications["modified_at"]))
    return month.isin(months).fillna(False).astype(bool)


# ---------------------------------------------------------------------------------------------
# Counts
# ---------------------------------------------------------------------------------------------


def change_counts(modifications: pd.DataFrame, *, by=("field",),
                  freq: str = "month") -> pd.DataFrame:
    """Changes counted by ``by`` (``field``, ``account``, ``unit_code`` …) and time.

    Parameters
    ----------
    by : str or list of str
        Columns of the (normalised) log.
    freq : {"month", "date", "total"}
        Time grain (``total``: no time column).

    Returns
    -------
    DataFrame
        ``[month|date], by…, changes, cases`` (distinct 部门受案号), plus ``field_zh`` when
        grouping by field; sorted by time and keys, or (``total``) by changes, most first.

    Examples
    --------
    >>> log = pd.DataFrame({"unit_code": ["1"] * 3, "dept_case_no": ["a", "a", "b"],
    ...     "field": ["decision", "term_months", "decision"], "account": ["u1", "u1", "u2"],
    ...     "modified_at": pd.to_datetime(["2024-01-03", "2024-01-09", "2024-02-01"])})
    >>> change_counts(log, by="account", freq="total").to_dict("records")
    [{'account': 'u1', 'changes': 2, 'cases': 1}, {'account': 'u2', 'changes': 1, 'cases': 1}]
    """
    check_choice("freq", freq, ["month", "date", "total"])
    m = ensure_log(modifications)
    keys = [by] if isinstance(by, str) else list(by)
    for k in keys:
        if k not in m.columns:
            raise ParameterError(f"分组列 {k} 不在修改日志中", f"column {k} not in the log")
    time = [] if freq == "total" else [freq]
    g = (m.groupby(time + keys, dropna=False, sort=True)
         .agg(changes=("dept_case_no", "size"), cases=("dept_case_no", "nunique")).reset_index())
    if "field" in keys:
        g.insert(g.columns.get_loc("field") + 1, "field_zh",
                 g["field"].map(lambda v: schema.column("records", v).label_zh
                                if v in _RECORD_COLS else v, na_action="ignore"))
    g["changes"] = g["changes"].astype("int64")
    g["cases"] = g["cases"].astype("int64")
    if freq == "total":
        g = g.sort_values("changes", ascending=False, kind="stable").reset_index(drop=True)
    return g


# ---------------------------------------------------------------------------------------------
# Flags
# ---------------------------------------------------------------------------------------------


def closed_case_edits(modifications: pd.DataFrame, records: pd.DataFrame, *,
                      fields=KEY_FIELDS, grace_days: int = 3) -> pd.DataFrame:
    """Changes of key fields made after the card was closed (审结后修改关键项).

    Parameters
    ----------
    fields : sequence of str
        Key fields (canonical names), default :data:`KEY_FIELDS`.
    grace_days : int
        Changes within this many days after ``closed_on`` count as part of closing the card
        (the entry itself, cf. the late-entry rule) and are not flagged.

    Returns
    -------
    DataFrame
        The normalised change rows with ``closed_on``, ``department`` and ``days_after_close``.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"], "dept_case_no": ["a"], "person_id": ["p"],
    ...     "closed_on": pd.to_datetime(["2024-03-01"])})
    >>> log = pd.DataFrame({"unit_code": ["1", "1"], "dept_case_no": ["a", "a"],
    ...     "person_id": ["p", "p"], "field": ["decision", "decision"],
    ...     "account": ["u1", "u1"], "modified_at": pd.to_datetime(["2024-03-02", "2024-04-10"])})
    >>> closed_case_edits(log, rec)["days_after_close"].tolist()
    [40]
    """
    m = with_closing(modifications, records)
    days = (m["date"] - m["closed_on"]).dt.days
    hit = m["field"].isin(list(fields)) & m["closed_on"].notna() & (days > grace_days)
    out = m[hit.fillna(False).to_numpy()].copy()
    out["days_after_close"] = days[hit.fillna(False).to_numpy()].astype("int64").to_numpy()
    return out.reset_index(drop=True)


def report_cutoff(month, *, cutoff_day: int = 5) -> pd.Series:
    """The reporting cut-off of statistics months: day ``cutoff_day`` of the following month
    (changes on or before that day are still in the report; later ones are not).

    Examples
    --------
    >>> report_cutoff(pd.Series(pd.to_datetime(["2024-01-20",
    ...                                         "2024-12-31"]))).dt.strftime("%Y-%m-%d").tolist()
    ['2024-02-05', '2025-01-05']
    """
    if not 1 <= int(cutoff_day) <= 28:
        raise ParameterError("上报截止日须在1至28之间", "cutoff_day must be between 1 and 28")
    d = pd.to_datetime(pd.Series(month))
    start_next = d.dt.to_period("M").dt.start_time + pd.offsets.MonthBegin(1)
    return start_next + pd.to_timedelta(int(cutoff_day) - 1, unit="D")


def post_report_changes(modifications: pd.DataFrame, records: pd.DataFrame, *,
                        cutoff_day: int = 5) -> pd.DataFrame:
    """Changes made after the statistics of the card's month were reported (上报后修改).

    A closed card is counted in the statistics of its closing month, reported on day
    ``cutoff_day`` of the following month (a documented convention, adjust it to the local
    reporting calendar). A change after that day alters a figure already reported. Open cards
    are expected to change and are not flagged.

    Returns
    -------
    DataFrame
        The change rows with ``closed_on``, ``reported_month`` ('YYYY-MM') and ``cutoff``.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"], "dept_case_no": ["a"], "person_id": ["p"],
    ...     "closed_on": pd.to_datetime(["2024-03-20"])})
    >>> log = pd.DataFrame({"unit_code": ["1", "1"], "dept_case_no": ["a", "a"],
    ...     "person_id": ["p", "p"], "field": ["gender", "gender"], "account": ["u", "u"],
    ...     "modified_at": pd.to_datetime(["2024-04-05 18:00", "2024-04-06 08:00"])})
    >>> post_report_changes(log, rec)["modified_at"].dt.strftime("%m-%d").tolist()
    ['04-06']
    """
    m = with_closing(modifications, records)
    cutoff = report_cutoff(m["closed_on"], cutoff_day=cutoff_day)
    hit = (m["closed_on"].notna() & (m["date"] > cutoff)).fillna(False).to_numpy()
    out = m[hit].copy()
    out["reported_month"] = year_months(out["closed_on"])
    out["cutoff"] = cutoff[hit].to_numpy()
    return out.reset_index(drop=True)


def _leave_one_out_median(values: np.ndarray) -> np.ndarray:
    """For each element, the median of the other elements (NaN when there are none).

    Examples
    --------
    >>> _leave_one_out_median(np.array([1, 2, 10])).tolist()
    [6.0, 5.5, 1.5]
    """
    x = np.asarray(values, dtype=float)
    k = len(x)
    if k < 2:
        return np.full(k, np.nan)
    order = np.argsort(x, kind="stable")
    a = x[order]
    pos = np.empty(k, dtype=int)
    pos[order] = np.arange(k)
    n = k - 1

    def b(j):  # j-th element of the sorted array with position pos removed
        return a[j + (j >= pos)]

    if n % 2:
        med = b(np.full(k, n // 2))
    else:
        med = (b(np.full(k, n // 2 - 1)) + b(np.full(k, n // 2))) / 2
    return med


def daily_counts(modifications: pd.DataFrame) -> pd.DataFrame:
    """Changes per account and day with each account's and its peers' baseline.

    Returns
    -------
    DataFrame
        ``account, date, changes, own_median`` (median of the account's *other* active days,
        so a burst does not raise its own baseline; NaN for an account's only day),
        ``peer_median`` and ``peer_mad`` (median and median absolute deviation of all other
        accounts' active days).
    """
    m = ensure_log(modifications)
    d = m.groupby(["account", "date"], dropna=False).size().rename("changes").reset_index()
    d["changes"] = d["changes"].astype("int64")
    d["own_median"] = np.nan
    for _, idx in d.groupby("account", dropna=False).groups.items():
        d.loc[idx, "own_median"] = _leave_one_out_median(d.loc[idx, "changes"].to_numpy())
    # peers = all other accounts' active days; counts are small integers, so work on the
    # histogram of daily counts (total minus the account's own) instead of re-sorting per account
    values = np.sort(d["changes"].unique())
    pos = np.searchsorted(values, d["changes"].to_numpy())
    acc_codes, accounts = pd.factorize(d["account"], use_na_sentinel=False)
    own = np.zeros((len(accounts), len(values)), dtype=np.int64)
    np.add.at(own, (acc_codes, pos), 1)
    total = own.sum(axis=0)
    rows = []
    for a in range(len(accounts)):
        hist = total - own[a]
        if hist.sum() == 0:
            hist = total
        med = _hist_median(values, hist)
        dev = np.abs(values - med)
        order = np.argsort(dev, kind="stable")
        mad = _hist_median(dev[order], hist[order])
        rows.append((accounts[a], med, mad))
    base = pd.DataFrame(rows, columns=["account", "peer_median", "peer_mad"])
    return d.merge(base, on="account", how="left")


def _hist_median(values: np.ndarray, counts: np.ndarray) -> float:
    """Median of ``values`` (sorted) repeated ``counts`` times.

    Examples
    --------
    >>> _hist_median(np.array([1.0, 2.0, 5.0]), np.array([2, 1, 1]))
    1.5
    """
    n = int(counts.sum())
    cum = np.cumsum(counts)
    lo = values[np.searchsorted(cum, (n - 1) // 2 + 1)]
    hi = values[np.searchsorted(cum, n // 2 + 1)]
    return float((lo + hi) / 2)


def bursts(modifications: pd.DataFrame, *, min_changes: int = 20, factor: float = 5.0,
           z: float = 6.0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Days on which one account made far more changes than usual (集中大量修改).

    An account-day is a burst when all three hold: at least ``min_changes`` changes; more than
    ``factor`` × the larger of the account's own median active day and its peers' median; and a
    robust z-score against the peers, (count − peer median) / (1.4826·MAD, at least 1), above
    ``z``. Medians and MAD are used so that a burst does not raise its own baseline.

    Returns
    -------
    (days, rows)
        ``days``: the flagged account-days (:func:`daily_counts` columns + ``threshold``,
        ``robust_z``); ``rows``: the change rows behind them.

    Examples
    --------
    >>> ts = ["2024-01-%02d 10:00" % d for d in range(1, 21)] + ["2024-01-21 10:00"] * 40
    >>> log = pd.DataFrame({"unit_code": "1", "dept_case_no": [f"c{i}" for i in range(60)],
    ...     "field": "gender", "account": ["u1"] * 20 + ["u2"] * 40,
    ...     "modified_at": pd.to_datetime(ts)})
    >>> days, rows = bursts(log)
    >>> days[["account", "changes"]].to_dict("records"), len(rows)
    ([{'account': 'u2', 'changes': 40}], 40)
    """
    m = ensure_log(modifications)
    d = daily_counts(m)
    scale = np.maximum(1.4826 * d["peer_mad"], 1.0)
    d["robust_z"] = (d["changes"] - d["peer_median"]) / scale
    base = np.fmax(d["own_median"].to_numpy(dtype=float), d["peer_median"].to_numpy(dtype=float))
    d["threshold"] = np.maximum(float(min_changes), factor * base)
    hit = (d["changes"] >= d["threshold"]) & (d["robust_z"] > z)
    days = d[hit].sort_values(["changes"], ascending=False).reset_index(drop=True)
    rows = m.merge(days[["account", "date"]], on=["account", "date"], how="inner")
    return days, rows


def reversals(modifications: pd.DataFrame) -> pd.DataFrame:
    """Changes that reverse an outcome (不起诉 ↔ 起诉, 批捕 ↔ 不捕, 无罪 ↔ 有罪判决).

    Returns
    -------
    DataFrame
        The normalised change rows whose (old, new) codes sit on opposite sides of a pair in
        :data:`REVERSALS`, with ``direction`` ('old → new' in Chinese labels).
    """
    m = ensure_log(modifications)
    hit = np.zeros(len(m), dtype=bool)
    for fld, pairs in REVERSALS.items():
        sel = (m["field"] == fld).fillna(False).to_numpy()
        if not sel.any():
            continue
        old, new = m["old_code"], m["new_code"]
        for a, b in pairs:
            oa = old.isin(list(a)).fillna(False).to_numpy(dtype=bool)
            ob = old.isin(list(b)).fillna(False).to_numpy(dtype=bool)
            na = new.isin(list(a)).fillna(False).to_numpy(dtype=bool)
            nb = new.isin(list(b)).fillna(False).to_numpy(dtype=bool)
            hit |= sel & ((oa & nb) | (ob & na))
    out = m[hit].copy()
    codes = {"decision": "decision", "principal_penalty": "principal_penalty",
             "arrest_decision": "decision", "prosecution_decision": "decision"}
    out["direction"] = [
        f"{schema.label(codes.get(f, f), o)} → {schema.label(codes.get(f, f), n)}"
        for f, o, n in zip(out["field"], out["old_code"], out["new_code"])]
    return out.reset_index(drop=True)


def audit(modifications: pd.DataFrame, records: pd.DataFrame, *, key_fields=KEY_FIELDS,
          grace_days: int = 3, cutoff_day: int = 5, burst_min_changes: int = 20,
          burst_factor: float = 5.0, burst_z: float = 6.0) -> pd.DataFrame:
    """All modification flags, one row per (flag, change).

    Returns
    -------
    DataFrame
        :data:`FLAG_COLUMNS`: ``flag`` (closed_case_edit, post_report_change, burst,
        reversal), ``flag_zh``, the card and change (``unit_code … modified_at``),
        ``closed_on``, ``department`` and ``detail`` (Chinese, computed per row). A change can
        carry several flags. Sorted by flag, account, time.
    """
    m = with_closing(normalise(modifications), records)
    parts = []

    cc = closed_case_edits(m, records, fields=key_fields, grace_days=grace_days)
    cc["detail"] = "审结后第" + cc["days_after_close"].astype(str) + "日修改"
    parts.append(cc.assign(flag="closed_case_edit"))

    pr = post_report_changes(m, records, cutoff_day=cutoff_day)
    pr["detail"] = (pr["reported_month"].str.replace("-", "年") + "月数据已于"
                    + pd.to_datetime(pr["cutoff"]).dt.strftime("%Y-%m-%d") + "上报")
    parts.append(pr.assign(flag="post_report_change"))

    days, rows = bursts(m, min_changes=burst_min_changes, factor=burst_factor, z=burst_z)
    if len(rows):
        info = days.set_index(["account", "date"])
        key = list(zip(rows["account"], rows["date"]))
        rows["detail"] = [
            f"当日修改{int(info.loc[k, 'changes'])}次（本人日中位数{info.loc[k, 'own_median']:g}，"
            f"其他账号日中位数{info.loc[k, 'peer_median']:g}）" for k in key]
        parts.append(rows.assign(flag="burst"))

    rv = reversals(m)
    if len(rv):
        rv["detail"] = rv["direction"]
        parts.append(rv.assign(flag="reversal"))

    parts = [p for p in parts if len(p)]
    if not parts:
        return pd.DataFrame({c: pd.Series(dtype="object") for c in FLAG_COLUMNS})
    out = pd.concat([p[[c for c in FLAG_COLUMNS if c in p.columns and c != "flag_zh"]]
                     for p in parts], ignore_index=True)
    out["flag_zh"] = out["flag"].map(FLAG_ZH)
    order = {k: i for i, k in enumerate(FLAG_ZH)}
    out = out.assign(__o=out["flag"].map(order)).sort_values(
        ["__o", "account", "modified_at"], kind="stable").drop(columns="__o")
    return out[list(FLAG_COLUMNS)].reset_index(drop=True)


def account_summary(flags: pd.DataFrame, modifications: pd.DataFrame) -> pd.DataFrame:
    """Every account's changes with the flags they carry: which account made the closed-case
    edits, the post-report changes, the bursts and the reversals.

    Returns
    -------
    DataFrame
        One row per account (``unit_code, account``) with changes: ``changes``, ``cases``
        (cases it changed), one count column per flag of :data:`FLAG_ZH` (its changes carrying
        that flag), ``flagged_cases`` (cases with any flagged change of it), ``first`` and
        ``last`` (its first and last change); accounts with flagged changes first, most
        closed-case edits and reversals first.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"], "dept_case_no": ["a"], "person_id": ["p"],
    ...     "closed_on": pd.to_datetime(["2024-03-01"])})
    >>> log = pd.DataFrame({"unit_code": ["1", "1", "1"], "dept_case_no": ["a", "a", "a"],
    ...     "person_id": ["p"] * 3, "field": ["decision", "gender", "gender"],
    ...     "old_value": ["不起诉", "男", "男"], "new_value": ["起诉", "女", "女"],
    ...     "account": ["u1", "u2", "u2"],
    ...     "modified_at": pd.to_datetime(["2024-04-10", "2024-02-01", "2024-02-02"])})
    >>> s = account_summary(audit(log, rec), log)
    >>> s[["account", "changes", "closed_case_edit", "reversal"]].values.tolist()
    [['u1', 1, 1, 1], ['u2', 2, 0, 0]]
    """
    m = ensure_log(modifications)
    keys = ["unit_code", "account"]
    out = (m.groupby(keys, dropna=False, sort=True)
           .agg(changes=("field", "size"), cases=("dept_case_no", "nunique"),
                first=("modified_at", "min"), last=("modified_at", "max")).reset_index())
    change = ["dept_case_no", "person_id", "field", "modified_at"]
    for f in FLAG_ZH:
        sel = flags[flags["flag"] == f] if len(flags) else flags
        counts = (sel.drop_duplicates([*keys, *change]).groupby(keys, dropna=False).size()
                  if len(sel) else pd.Series(dtype="int64"))
        out[f] = [int(counts.get(k, 0)) for k in zip(out["unit_code"], out["account"])]
    if len(flags):
        fc = flags.groupby(keys, dropna=False)["dept_case_no"].nunique()
        out["flagged_cases"] = [int(fc.get(k, 0)) for k in zip(out["unit_code"], out["account"])]
    else:
        out["flagged_cases"] = 0
    order = out[list(FLAG_ZH)].sum(axis=1).gt(0)
    out = out.assign(__any=order, __key=out["closed_case_edit"] + out["reversal"])
    out = out.sort_values(["__any", "__key", "changes"], ascending=[False, False, False],
                          kind="stable").drop(columns=["__any", "__key"])
    cols = [*keys, "changes", "cases", *FLAG_ZH, "flagged_cases", "first", "last"]
    return out[cols].reset_index(drop=True)


def flag_summary(flags: pd.DataFrame) -> pd.DataFrame:
    """Flags by kind and account: ``flag, flag_zh, account, changes, cases, first, last``."""
    cols = ["flag", "flag_zh", "account", "changes", "cases", "first", "last"]
    if not len(flags):
        return pd.DataFrame(columns=cols)
    g = (flags.groupby(["flag", "flag_zh", "account"], dropna=False, sort=False)
         .agg(changes=("dept_case_no", "size"), cases=("dept_case_no", "nunique"),
              first=("modified_at", "min"), last=("modified_at", "max")).reset_index())
    order = {k: i for i, k in enumerate(FLAG_ZH)}
    g = g.assign(__o=g["flag"].map(order)).sort_values(["__o", "changes"], ascending=[True, False],
                                                      kind="stable")
    return g[cols].reset_index(drop=True)


def account_flags(flags: pd.DataFrame, modifications: pd.DataFrame, *,
                  flag: str = "closed_case_edit", min_n: int = 10,
                  overdispersion: str = "multiplicative") -> pd.DataFrame:
    """Which accounts stand out for one flag: share of their changes carrying it, on a funnel.

    Parameters
    ----------
    flags : DataFrame
        From :func:`audit`.
    modifications : DataFrame
        The change log (denominators: every change of each account).
    flag : str
        One of :data:`FLAG_ZH`.
    min_n : int
        Accounts with fewer changes are shown but not flagged.
    overdispersion : {"none", "multiplicative", "additive"}
        Passed to :func:`casework.analysis.funnels.funnel` (accounts differ in their work, so the
        default widens the limits by the estimated overdispersion).

    Returns
    -------
    DataFrame
        ``account, numerator`` (flagged changes), ``denominator`` (all changes), ``value`` …
        (the :func:`casework.analysis.funnels.funnel` columns) and ``flagged`` (above the
        99.8% limit),
        highest share first.
    """
    check_choice("flag", flag, FLAG_ZH)
    m = ensure_log(modifications)
    total = m.groupby("account", dropna=False).size().rename("denominator")
    sel = flags[flags["flag"] == flag] if len(flags) else flags
    hits = (sel.drop_duplicates(["account", "dept_case_no", "field", "modified_at"])
            .groupby("account", dropna=False).size().rename("numerator")
            if len(sel) else pd.Series(dtype="int64", name="numerator"))
    t = pd.concat([total, hits], axis=1).fillna(0).reset_index(names="account")
    t["numerator"] = t["numerator"].astype("int64")
    t["denominator"] = t["denominator"].astype("int64")
    out = funnel(t, by="account", min_n=min_n, overdispersion=overdispersion)
    out["numerator"] = out["numerator"].astype("int64")
    out["denominator"] = out["denominator"].astype("int64")
    out["flagged"] = ((out["flag"] == "alarm") & (out["flag_direction"] == "high")).to_numpy()
    return out.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)

