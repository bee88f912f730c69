"""Prosecutor caseload and handling time (员额检察官办案数据): weighted caseload, case-mix adjusted
handling days, the month a slowdown began, and per-prosecutor profiles.

Data support for appraisal, not a league table: every comparison carries its interval and
funnel position, and no bare rank is produced.

Case weights are *declared data* (:data:`CASE_WEIGHTS`, :data:`CHARGE_GROUP_FACTORS`,
:data:`EXTRA_PERSON_WEIGHT`): illustrative defaults that a procuratorate replaces with its own
办案量折算标准 by passing ``weights=`` / ``charge_factors=`` frames of the same shape.

Examples
--------
>>> import pandas as pd
>>> r = pd.DataFrame({
...     "unit_code": ["U"] * 4, "stage": ["prosecution_review"] * 3 + ["arrest_review"],
...     "dept_case_no": ["c1", "c1", "c2", "c3"], "person_id": ["p1", "p2", "p3", "p4"],
...     "prosecutor_id": ["A", "A", "A", "B"], "procedure": ["ordinary", "ordinary", "fast_track", pd.NA],
...     "charge": ["盗窃", "盗窃", "危险驾驶", "受贿"],
...     "accepted_on": pd.to_datetime(["2024-01-02"] * 4), "closed_on": pd.to_datetime(["2024-02-01"] * 4)})
>>> caseload(r)[["prosecutor_id", "cases", "persons", "weighted_cases"]].to_numpy().tolist()
[['A', 2, 3, 1.9], ['B', 1, 1, 0.75]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from casework import schema
from casework.compare import DEFAULT_MIN_N, Z95, normal_funnel
from casework.errors import DataError, check_choice

# ---------------------------------------------------------------------------------------------
# declared weights
# ---------------------------------------------------------------------------------------------

#: Base weight of one stage case (件) by stage and procedure. ``procedure`` NA matches any
#: procedure not listed (and arrest review, which has none). Illustrative defaults: an
#: ordinary-procedure prosecution review = 1; 速裁/简易 take less work; an arrest review (7-day
#: limit, CPL art. 91) half a case.
CASE_WEIGHTS = pd.DataFrame(
    [
        ("arrest_review", pd.NA, 0.5, "审查逮捕（审查期限7日）"),
        ("prosecution_review", "ordinary", 1.0, "审查起诉·普通程序（基准）"),
        ("prosecution_review", "summary", 0.8, "审查起诉·简易程序"),
        ("prosecution_review", "fast_track", 0.6, "审查起诉·速裁程序"),
        ("prosecution_review", pd.NA, 1.0, "审查起诉·程序未填（按普通程序）"),
    ],
    columns=["stage", "procedure", "weight", "note"],
)

#: Multiplier by charge group (罪名类别): economic, cyber and duty crimes carry more evidence
#: work. Groups not listed count 1.
CHARGE_GROUP_FACTORS = pd.DataFrame(
    [
        ("duty", 1.5, "职务犯罪"),
        ("economic_order", 1.3, "破坏社会主义市场经济秩序犯罪"),
        ("cyber", 1.2, "网络犯罪"),
    ],
    columns=["charge_group", "factor", "note"],
)

#: Each person beyond the first in one case adds this share of the case weight (共同犯罪).
EXTRA_PERSON_WEIGHT = 0.3

#: Case-mix cells for handling days: peers are cases of the same stage, procedure, charge
#: group and custody status (羁押 cases run on tighter limits).
DEFAULT_CELLS = ("stage", "procedure", "charge_group", "detained")

#: A cell with fewer cases borrows the mean and variance of its coarser parent cell.
MIN_CELL_CASES = 10

#: Tabular CUSUM on standardised case residuals: reference value k (half the shift to detect,
#: in within-cell standard deviations) and decision interval h.
CUSUM_K = 0.5
CUSUM_H = 5.0

_PROSECUTOR = ("prosecutor_id",)
_LABELS = ("prosecutor_name", "department", "unit_code", "unit_name")


def _keys(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _in_period(records: pd.DataFrame, period, date: str) -> pd.DataFrame:
    if period is None:
        return records
    from casework import periods

    p = periods.parse(period)
    return records.loc[p.contains(records[date]).to_numpy()]


def _charge_group(records: pd.DataFrame) -> pd.Series:
    if "charge_group" in records.columns and records["charge_group"].notna().any():
        cg = records["charge_group"].astype("object")
        if "charge" in records.columns:
            miss = cg.isna()
            cg[miss] = records.loc[miss, "charge"].map(
                lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
        return cg
    if "charge" in records.columns:
        return records["charge"].map(lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
    return pd.Series(None, index=records.index, dtype="object")


def _labels(records: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Most frequent display label per group (name, department, unit)."""
    cols = [c for c in _LABELS if c in records.columns and c not in keys]
    if not cols:
        return records[keys].drop_duplicates().reset_index(drop=True)
    parts = []
    for c in cols:
        s = (records[keys + [c]].dropna(subset=[c]).groupby(keys + [c], dropna=False, observed=True)
             .size().reset_index(name="_n").sort_values("_n", ascending=False)
             .drop_duplicates(keys).drop(columns="_n"))
        parts.append(s.set_index(keys))
    return pd.concat(parts, axis=1).reset_index()


def _cases(records: pd.DataFrame) -> pd.DataFrame:
    """One row per stage case (件) with its number of persons."""
    need = ["stage", "dept_case_no"]
    missing = [c for c in need if c not in records.columns]
    if missing:
        raise DataError(f"数据缺少列：{', '.join(missing)}", f"missing column(s): {', '.join(missing)}")
    ids = [c for c in ("unit_code", "stage", "dept_case_no") if c in records.columns]
    r = records.assign(charge_group=_charge_group(records))
    persons = r.groupby(ids, dropna=False, observed=True).size().rename("persons")
    first = r.drop_duplicates(ids).set_index(ids)
    return first.join(persons).reset_index()


# ---------------------------------------------------------------------------------------------
# caseload
# ---------------------------------------------------------------------------------------------


def case_weights(
    records: pd.DataFrame,
    *,
    weights: pd.DataFrame | None = None,
    charge_factors: pd.DataFrame | None = None,
    extra_person: float = EXTRA_PERSON_WEIGHT,
) -> pd.DataFrame:
    """The weight of each stage case (件).

    weight = base(stage, procedure) × factor(charge group) × (1 + ``extra_person`` ×
    (persons − 1)).

    Returns
    -------
    DataFrame
        One row per (unit, stage, dept_case_no) with the case's columns (from its first person
        row) plus ``persons``, ``base_weight``, ``charge_factor``, ``weight``.
    """
    w = CASE_WEIGHTS if weights is None else weights
    f = CHARGE_GROUP_FACTORS if charge_factors is None else charge_factors
    cases = _cases(records)
    stage = cases["stage"].astype("object")
    proc = cases["procedure"].astype("object") if "procedure" in cases.columns else pd.Series(
        None, index=cases.index, dtype="object")
    exact = {(s, p): v for s, p, v in zip(w["stage"], w["procedure"], w["weight"]) if pd.notna(p)}
    default = {s: v for s, p, v in zip(w["stage"], w["procedure"], w["weight"]) if pd.isna(p)}
    base = [exact.get((s, p), default.get(s, 1.0)) if pd.notna(p) else default.get(s, 1.0)
            for s, p in zip(stage, proc)]
    factors = dict(zip(f["charge_group"], f["factor"]))
    cases["base_weight"] = np.asarray(base, dtype="float64")
    cases["charge_factor"] = cases["charge_group"].map(lambda g: factors.get(g, 1.0)).astype("float64")
    cases["weight"] = (cases["base_weight"] * cases["charge_factor"]
                       * (1 + extra_person * (cases["persons"].astype("float64") - 1)))
    return cases


def caseload(
    records: pd.DataFrame,
    *,
    by: str | Sequence[str] = _PROSECUTOR,
    period=None,
    date: str = "closed_on",
    weights: pd.DataFrame | None = None,
    charge_factors: pd.DataFrame | None = None,
    extra_person: float = EXTRA_PERSON_WEIGHT,
) -> pd.DataFrame:
    """Caseload per prosecutor (or any grouping), raw and weighted by case type.

    Parameters
    ----------
    records : DataFrame
        Case rows (one per person per stage case).
    by : str or sequence of str
        Grouping, default ``prosecutor_id`` (工号).
    period : str or Period, optional
        Keep cases whose ``date`` falls in the period.
    date : {"closed_on", "accepted_on"}
        审结 (default) or 受理 cohort.
    weights, charge_factors, extra_person
        Declared weights (:data:`CASE_WEIGHTS`, :data:`CHARGE_GROUP_FACTORS`,
        :data:`EXTRA_PERSON_WEIGHT`).

    Returns
    -------
    DataFrame
        Keys, display labels (``prosecutor_name``, ``department``, ``unit_code`` … when
        present), ``cases`` (件), ``persons`` (人), ``arrest_review_cases``,
        ``prosecution_review_cases``, ``weighted_cases``, ``weighted_vs_median`` (weighted
        caseload ÷ the median over groups).
    """
    check_choice("date", date, ["closed_on", "accepted_on"])
    keys = _keys(by)
    recs = _in_period(records, period, date)
    recs = recs.loc[recs[date].notna()]
    cases = case_weights(recs, weights=weights, charge_factors=charge_factors,
                         extra_person=extra_person)
    g = cases.groupby(keys, dropna=False, observed=True)
    out = pd.DataFrame({
        "cases": g.size(),
        "persons": g["persons"].sum(),
        "arrest_review_cases": g["stage"].apply(lambda s: int((s == "arrest_review").sum())),
        "prosecution_review_cases": g["stage"].apply(lambda s: int((s == "prosecution_review").sum())),
        "weighted_cases": g["weight"].sum().round(2),
    }).reset_index()
    out = _labels(recs, keys).merge(out, on=keys, how="right")
    med = float(out["weighted_cases"].median()) if len(out) else np.nan
    out["weighted_vs_median"] = out["weighted_cases"] / med if med and med > 0 else np.nan
    for c in ("cases", "persons", "arrest_review_cases", "prosecution_review_cases"):
        out[c] = out[c].astype("int64")
    return out.sort_values(keys).reset_index(drop=True)


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
    recs = _in_period(records, period, "closed_on")
    cases = _cases(recs.loc[recs["closed_on"].notna() & recs["accepted_on"].notna()])
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
    by: str | Sequence[str] = _PROSECUTOR,
    period=None,
    cells: Sequence[str] = DEFAULT_CELLS,
    reference: pd.DataFrame | None = None,
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
    stage: str | None = None,
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
        As in :func:`casework.compare.normal_funnel` (``min_n`` on the number of cases).

    Returns
    -------
    DataFrame
        Keys, labels, ``n`` (closed cases), ``mean_days``, ``median_days``,
        ``expected_mean_days`` (mean peer days for the same mix), ``excess_days``,
        ``estimate`` (mean log residual), ``std_error``, then the funnel columns of
        :func:`~casework.compare.normal_funnel` (``value`` = days ratio, target 1).

    Notes
    -----
    Days are counted from 受理 to 审结 as exported; periods of 退回补充侦查 are not removed (local
    rules differ), so the peer cells should be read with that in mind.
    """
    keys = _keys(by)
    cases = case_days(records, period=period, cells=cells, reference=reference)
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
    labels = _labels(cases, keys)
    out = labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
    res = normal_funnel(out, estimate="estimate", std_error="std_error", by=keys, size="n",
                        target=0.0, scale="log", overdispersion=overdispersion, min_n=min_n)
    res.attrs["dropped_negative"] = cases.attrs.get("dropped_negative", 0)
    return res


def _month_start(ts) -> pd.Timestamp:
    return pd.Timestamp(ts).to_period("M").to_timestamp()


def handling_days_shift(
    records: pd.DataFrame,
    *,
    by: str | Sequence[str] = _PROSECUTOR,
    cells: Sequence[str] = DEFAULT_CELLS,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    stage: str | None = None,
) -> pd.DataFrame:
    """When did a group's handling days start running long? Tabular CUSUM per group.

    Cases are taken in order of their closing date; each contributes its standardised
    residual u (log-days against peers, in within-cell standard deviations) to
    C_t = max(0, C_{t−1} + u_t − k). A signal is C_t > h; the slowdown is dated by Page's
    estimator — the first case after the last time C was zero before the signal — and
    reported as the accepting month of that case (a slow case started running long when it
    was accepted). The CUSUM runs over the whole series; when it crossed h more than once the
    last excursion is reported (a sustained slowdown never returns to zero after it starts).

    Returns
    -------
    DataFrame
        Keys, labels, ``n``, ``signal`` (bool), ``signal_month`` (month of the signalling
        case's 审结, ``YYYY-MM``), ``start_month`` (``YYYY-MM``), ``cases_since_start``,
        ``ratio_since_start`` (geometric days ratio since the start), ``ratio_before``.
    """
    keys = _keys(by)
    cases = case_days(records, cells=cells)
    if stage is not None:
        cases = cases.loc[cases["stage"] == stage]
    cases = cases.sort_values(["closed_on", "accepted_on"], kind="stable")
    rows = []
    for key, grp in cases.groupby(keys, dropna=False, observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        u = grp["std_residual"].to_numpy(dtype="float64")
        c, start_i, episodes, signalled = 0.0, 0, [], False
        for i, ui in enumerate(u):
            c = max(0.0, c + ui - k)
            if c == 0.0:
                start_i, signalled = i + 1, False
            elif c > h and not signalled:
                episodes.append((start_i, i))
                signalled = True
        # the last excursion past h: a sustained slowdown never returns to zero afterwards
        sig_at = episodes[-1][1] if episodes else None
        last_zero = episodes[-1][0] - 1 if episodes else -1
        row = dict(zip(keys, key))
        row.update(n=len(grp), signal=sig_at is not None, signal_month=None, start_month=None,
                   cases_since_start=0, ratio_since_start=np.nan, ratio_before=np.nan)
        if sig_at is not None:
            start = last_zero + 1
            after = grp.iloc[start:]
            # the remaining cases define the level since the start
            row["signal_month"] = _month_start(grp["closed_on"].iloc[sig_at]).strftime("%Y-%m")
            row["start_month"] = _month_start(grp["accepted_on"].iloc[start]).strftime("%Y-%m")
            row["cases_since_start"] = int(len(after))
            row["ratio_since_start"] = float(np.exp(after["residual"].mean()))
            if start > 0:
                row["ratio_before"] = float(np.exp(grp["residual"].iloc[:start].mean()))
        rows.append(row)
    out = pd.DataFrame(rows, columns=keys + ["n", "signal", "signal_month", "start_month",
                                             "cases_since_start", "ratio_since_start",
                                             "ratio_before"])
    labels = _labels(cases, keys)
    return labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
