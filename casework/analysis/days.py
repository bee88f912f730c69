"""Handling days against peer cases (办案天数): each closed stage case with the days of
cases like it, and groups (prosecutors, departments …) on a funnel of the case-mix ratio.

Shared by :mod:`casework.analysis.workload` (prosecutor profiles) and
:mod:`casework.analysis.casemix` (the horizontal comparison of mean handling days), so that
neither needs the other for it.

Examples
--------
>>> import pandas as pd
>>> r = pd.DataFrame({"unit_code": ["U"] * 2, "stage": ["prosecution_review"] * 2,
...                   "dept_case_no": ["c1", "c2"], "person_id": ["p1", "p2"],
...                   "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-05"]),
...                   "closed_on": pd.to_datetime(["2024-01-12", "2024-01-25"])})
>>> case_days(r)["days"].tolist()
[10.0, 20.0]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from casework.analysis import periods
from casework.analysis.funnels import DEFAULT_MIN_N, normal_funnel
from casework.base.checks import as_keys, require_columns
from casework.model import schema

#: Case-mix cells for handling days: peers are cases of the same stage, procedure, charge
#: group and custody status (羁押 cases run on tighter limits).
DEFAULT_CELLS = ("stage", "procedure", "charge_group", "detained")

#: A cell with fewer cases borrows the mean and variance of its coarser parent cell.
MIN_CELL_CASES = 10

#: Default grouping of the handling-days comparison: the prosecutor (工号).
PROSECUTOR = ("prosecutor_id",)

#: Display columns carried beside the keys (most frequent value per group).
LABEL_COLUMNS = ("prosecutor_name", "department", "unit_code", "unit_name")


#: Columns :func:`case_days` reads besides its cells.
CASE_DAYS_COLUMNS = ("unit_code", "stage", "dept_case_no", "accepted_on", "closed_on", "charge",
                     "charge_group")


def case_columns(records: pd.DataFrame, *extra: str) -> list[str]:
    """The columns of ``records`` that :func:`case_days` (with :data:`DEFAULT_CELLS`) reads,
    plus ``extra`` (group keys, labels, other cells) where present.

    :func:`case_days` keeps every column of a case's first record; a caller that needs only
    some passes ``records[case_columns(records, ...)]`` — the same values, without copying
    the other columns of every case.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame(columns=["unit_code", "stage", "dept_case_no", "accepted_on",
    ...                           "closed_on", "charge", "victim_count", "prosecutor_id"])
    >>> case_columns(r, "prosecutor_id")
    ['unit_code', 'stage', 'dept_case_no', 'accepted_on', 'closed_on', 'charge', 'prosecutor_id']
    """
    want = dict.fromkeys([*CASE_DAYS_COLUMNS, *DEFAULT_CELLS, *extra])
    return [c for c in want if c in records.columns]


def in_period(records: pd.DataFrame, period, date: str) -> pd.DataFrame:
    """The rows whose ``date`` falls in ``period`` (all rows when ``period`` is None)."""
    if period is None:
        return records
    p = periods.parse(period)
    return records.loc[p.contains(records[date]).to_numpy()]


def charge_groups(records: pd.DataFrame) -> pd.Series:
    """The 罪名类别 of each row: ``charge_group`` where filled, else derived from ``charge``."""
    if "charge_group" in records.columns and records["charge_group"].notna().any():
        cg = records["charge_group"].astype("object")
        if "charge" in records.columns:
            miss = cg.isna()
            cg[miss] = records.loc[miss, "charge"].map(
                lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
        return cg
    if "charge" in records.columns:
        return records["charge"].map(
            lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
    return pd.Series(None, index=records.index, dtype="object")


def label_columns(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Most frequent display label per group (name, department, unit)."""
    cols = [c for c in LABEL_COLUMNS if c in records.columns and c not in keys]
    if not cols:
        return records[keys].drop_duplicates().reset_index(drop=True)
    parts = []
    for c in cols:
        s = (records[keys + [c]].dropna(subset=[c])
             .groupby(keys + [c], dropna=False, observed=True).size().reset_index(name="_n")
             .sort_values("_n", ascending=False)
             .drop_duplicates(keys).drop(columns="_n"))
        parts.append(s.set_index(keys))
    return pd.concat(parts, axis=1).reset_index()


def stage_cases(records: pd.DataFrame) -> pd.DataFrame:
    """One row per stage case (件) with its number of persons (``persons``) and 罪名类别."""
    require_columns(records, ["stage", "dept_case_no"], "案件数据")
    ids = [c for c in ("unit_code", "stage", "dept_case_no") if c in records.columns]
    r = records.assign(charge_group=charge_groups(records))
    persons = r.groupby(ids, dropna=False, observed=True).size().rename("persons")
    first = r.drop_duplicates(ids).set_index(ids)
    return first.join(persons).reset_index()


def mature_through(period, days: int) -> str:
    """The last month whose whole cohort (of arrests, of accepted cases …) is at least ``days``
    old at the end of ``period`` (``YYYY-MM``): later cohorts are still filling up.

    Examples
    --------
    >>> mature_through("2026-11", 57)
    '2026-09'
    """
    p = periods.parse(period)
    cutoff = pd.Timestamp(p.end) - pd.Timedelta(days=days)
    month = cutoff.to_period("M")
    if cutoff < month.end_time.normalize():
        month -= 1
    return month.strftime("%Y-%m")


# ---------------------------------------------------------------------------------------------
# case-mix adjusted handling days
# ---------------------------------------------------------------------------------------------


def case_days(
    records: pd.DataFrame,
    *,
    period=None,
    cells: Sequence[str] = DEFAULT_CELLS,
    reference: pd.DataFrame | None = None,
    min_cell: int = MIN_CELL_CASES,
) -> pd.DataFrame:
    """Handling days of each closed stage case with its case-mix expectation.

    Days = 审结日期 − 受理日期. Each case's expectation is the mean (and variance) of
    log(1 + days) over peer cases in the same cell (``cells``, from the ``reference`` cases,
    default the cases themselves); a cell with fewer than ``min_cell`` cases uses its coarser
    parent (dropping the last cell column, and so on up to all cases).

    Returns
    -------
    DataFrame
        One row per closed case: the case columns plus ``days``, ``log_days``,
        ``expected_log_days``, ``expected_var``, ``expected_days`` (the peer mean of raw days),
        ``residual`` (log_days − expected_log_days), ``std_residual``.
        ``attrs["dropped_negative"]`` counts cases closed before they were accepted.
    """
    recs = in_period(records, period, "closed_on")
    cases = stage_cases(recs.loc[recs["closed_on"].notna() & recs["accepted_on"].notna()])
    days = (pd.to_datetime(cases["closed_on"]) - pd.to_datetime(cases["accepted_on"])).dt.days
    negative = int((days < 0).sum())
    cases = cases.loc[(days >= 0).to_numpy()].copy()
    cases["days"] = days[days >= 0].astype("float64").to_numpy()
    ref = cases if reference is None else case_days(reference, cells=cells, min_cell=min_cell)
    cells = [c for c in cells if c in cases.columns]

    def lv(frame, c):
        s = frame[c].astype("object")
        return s.where(s.notna(), "（缺失）").astype(str)

    ref_levels = pd.DataFrame({c: lv(ref, c) for c in cells}, index=ref.index)
    ref_levels["log_days"] = np.log1p(ref["days"].to_numpy(dtype="float64"))
    ref_levels["days"] = ref["days"].to_numpy(dtype="float64")
    own = pd.DataFrame({c: lv(cases, c) for c in cells}, index=cases.index)
    mean = pd.Series(np.nan, index=cases.index)
    var = pd.Series(np.nan, index=cases.index)
    raw = pd.Series(np.nan, index=cases.index)
    overall_var = float(ref_levels["log_days"].var(ddof=1))
    for depth in range(len(cells), -1, -1):
        sub = cells[:depth]
        todo = mean.isna()
        if not todo.any():
            break
        if sub:
            st = ref_levels.groupby(sub, observed=True).agg(
                n=("log_days", "size"), m=("log_days", "mean"), v=("log_days", "var"),
                d=("days", "mean"))
            st = st.loc[st["n"] >= (min_cell if depth else 1)]
            joined = own.loc[todo, sub].join(st, on=sub)
        else:
            joined = pd.DataFrame({"m": ref_levels["log_days"].mean(), "v": overall_var,
                                   "d": ref_levels["days"].mean()}, index=own.index[todo])
        mean[todo] = joined["m"]
        var[todo] = joined["v"].fillna(overall_var)
        raw[todo] = joined["d"]
    cases["log_days"] = np.log1p(cases["days"])
    cases["expected_log_days"] = mean
    cases["expected_var"] = var.clip(lower=1e-6)
    cases["expected_days"] = raw
    cases["residual"] = cases["log_days"] - cases["expected_log_days"]
    cases["std_residual"] = cases["residual"] / np.sqrt(cases["expected_var"])
    cases.attrs["dropped_negative"] = negative
    return cases.reset_index(drop=True)


def handling_days(
    records: pd.DataFrame,
    *,
    by: str | Sequence[str] = PROSECUTOR,
    period=None,
    cells: Sequence[str] = DEFAULT_CELLS,
    reference: pd.DataFrame | None = None,
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
    stage: str | None = None,
    cases: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Handling days adjusted for case mix, per prosecutor (or any grouping), on a funnel.

    For each group: the observed geometric-mean ratio of its handling days to the days of
    peer cases (same ``cells``) — ``value`` = exp(mean of log(1+days) − expected); 1 = as
    fast as peers with the same mix, 1.5 = half again as long. The null standard error of
    the mean residual is √(Σ cell variances)/n, so the funnel limits narrow with the caseload.

    Parameters
    ----------
    stage : str, optional
        Keep one stage (``arrest_review`` / ``prosecution_review``).
    overdispersion, min_n
        As in :func:`casework.analysis.funnels.normal_funnel` (``min_n`` on the number of cases).
    cases : DataFrame, optional
        :func:`case_days` of ``records`` with the same ``period``, ``cells`` and ``reference``
        when already computed (e.g. once for both stages); ``records`` is then not read.

    Returns
    -------
    DataFrame
        Keys, labels, ``n`` (closed cases), ``mean_days``, ``median_days``,
        ``expected_mean_days`` (mean peer days for the same mix), ``excess_days``,
        ``estimate`` (mean log residual), ``std_error``, then the funnel columns of
        :func:`~casework.analysis.funnels.normal_funnel` (``value`` = days ratio, target 1).

    Notes
    -----
    Days are counted from 受理 to 审结 as exported; periods of 退回补充侦查 are not removed (local
    rules differ), so the peer cells should be read with that in mind.
    """
    keys = as_keys(by)
    if cases is None:  # only the columns used here are carried along
        used = case_columns(records, *cells, *keys, *LABEL_COLUMNS)
        cases = case_days(records[used], period=period, cells=cells, reference=reference)
    if stage is not None:
        cases = cases.loc[cases["stage"] == stage]
    g = cases.groupby(keys, dropna=False, observed=True)
    out = pd.DataFrame({
        "n": g.size(),
        "mean_days": g["days"].mean(),
        "median_days": g["days"].median(),
        "expected_mean_days": g["expected_days"].mean(),
        "estimate": g["residual"].mean(),
        "std_error": np.sqrt(g["expected_var"].sum()) / g.size(),
    }).reset_index()
    out["excess_days"] = out["mean_days"] - out["expected_mean_days"]
    labels = label_columns(cases, keys)
    out = labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
    res = normal_funnel(out, estimate="estimate", std_error="std_error", by=keys, size="n",
                        target=0.0, scale="log", overdispersion=overdispersion, min_n=min_n)
    res.attrs["dropped_negative"] = cases.attrs.get("dropped_negative", 0)
    return res


