"""Prosecutor caseload and handling time (员额检察官办案数据): weighted caseload, case-mix adjusted
handling days per stage, the month a slowdown began, and quality indicators per prosecutor.

Data support for appraisal, not a league table: every comparison carries its interval and
funnel position, and no bare rank is produced. Handling days against peer cases come from
:mod:`casework.analysis.days`; the profiles, overview table and narrative are written by
:mod:`casework.present.comparison_text`, the funnel chart by
:mod:`casework.present.comparison_charts`.

Case weights are *declared data* (:data:`CASE_WEIGHTS`, :data:`CHARGE_GROUP_FACTORS`,
:data:`EXTRA_PERSON_WEIGHT`): illustrative defaults that a procuratorate replaces with its own
办案量折算标准 by passing ``weights=`` / ``charge_factors=`` frames of the same shape.

Examples
--------
>>> import pandas as pd
>>> r = pd.DataFrame({
...     "unit_code": ["U"] * 4, "stage": ["prosecution_review"] * 3 + ["arrest_review"],
...     "dept_case_no": ["c1", "c1", "c2", "c3"], "person_id": ["p1", "p2", "p3", "p4"],
...     "prosecutor_id": ["A", "A", "A", "B"],
...     "procedure": ["ordinary", "ordinary", "fast_track", pd.NA],
...     "charge": ["盗窃", "盗窃", "危险驾驶", "受贿"],
...     "accepted_on": pd.to_datetime(["2024-01-02"] * 4),
...     "closed_on": pd.to_datetime(["2024-02-01"] * 4)})
>>> caseload(r)[["prosecutor_id", "cases", "persons", "weighted_cases"]].to_numpy().tolist()
[['A', 2, 3, 1.9], ['B', 1, 1, 0.75]]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import periods
from casework.analysis import signals as _signals
from casework.analysis.casemix import group_labels, horizontal
from casework.analysis.days import (
    DEFAULT_CELLS,
    LABEL_COLUMNS,
    PROSECUTOR,
    case_columns,
    case_days,
    handling_days,
    in_period,
    label_columns,
    mature_through,
    stage_cases,
)
from casework.analysis.funnel_signals import combine, entity_keys, funnel_signals
from casework.analysis.funnels import DEFAULT_MIN_N, Z95
from casework.base.checks import as_keys
from casework.base.errors import check_choice

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

#: Tabular CUSUM on standardised case residuals: reference value k (half the shift to detect,
#: in within-cell standard deviations), decision interval h, and winsorisation of each
#: residual at ±clip (handling days are right-skewed: one case held for months by 退查 must
#: not by itself make a signal). Chosen on synthetic null data (3 units × 3 years: about one
#: signal among 56 prosecutors over 36 months, against 28 with k = 0.5, h = 5 unclipped).
CUSUM_K = 0.5
CUSUM_H = 8.0
CUSUM_CLIP = 2.0


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
    cases = stage_cases(records)
    stage = cases["stage"].astype("object")
    proc = cases["procedure"].astype("object") if "procedure" in cases.columns else pd.Series(
        None, index=cases.index, dtype="object")
    exact = {(s, p): v for s, p, v in zip(w["stage"], w["procedure"], w["weight"]) if pd.notna(p)}
    default = {s: v for s, p, v in zip(w["stage"], w["procedure"], w["weight"]) if pd.isna(p)}
    base = [exact.get((s, p), default.get(s, 1.0)) if pd.notna(p) else default.get(s, 1.0)
            for s, p in zip(stage, proc)]
    factors = dict(zip(f["charge_group"], f["factor"]))
    cases["base_weight"] = np.asarray(base, dtype="float64")
    cases["charge_factor"] = cases["charge_group"].map(
        lambda g: factors.get(g, 1.0)).astype("float64")
    cases["weight"] = (cases["base_weight"] * cases["charge_factor"]
                       * (1 + extra_person * (cases["persons"].astype("float64") - 1)))
    return cases


def caseload(
    records: pd.DataFrame,
    *,
    by: str | Sequence[str] = PROSECUTOR,
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
    keys = as_keys(by)
    recs = in_period(records, period, date)
    recs = recs.loc[recs[date].notna()]
    # the weights of the cases, carrying only the columns used (not every record column)
    cases = case_weights(recs[case_columns(recs, "procedure", *keys)], weights=weights,
                         charge_factors=charge_factors, extra_person=extra_person)
    g = cases.groupby(keys, dropna=False, observed=True)
    out = pd.DataFrame({
        "cases": g.size(),
        "persons": g["persons"].sum(),
        "arrest_review_cases": g["stage"].apply(lambda s: int((s == "arrest_review").sum())),
        "prosecution_review_cases": g["stage"].apply(
            lambda s: int((s == "prosecution_review").sum())),
        "weighted_cases": g["weight"].sum().round(2),
    }).reset_index()
    out = label_columns(recs, keys).merge(out, on=keys, how="right")
    med = float(out["weighted_cases"].median()) if len(out) else np.nan
    out["weighted_vs_median"] = out["weighted_cases"] / med if med and med > 0 else np.nan
    for c in ("cases", "persons", "arrest_review_cases", "prosecution_review_cases"):
        out[c] = out[c].astype("int64")
    return out.sort_values(keys).reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# when did a slowdown begin
# ---------------------------------------------------------------------------------------------


def _month_start(ts) -> pd.Timestamp:
    return pd.Timestamp(ts).to_period("M").to_timestamp()


def _shift_start(u: np.ndarray, lo: int, hi: int, end: int) -> int:
    """Maximum-likelihood start of a sustained upward mean shift in standardised residuals:
    τ in [lo, hi] maximising S(τ)²/m over the segment u[τ..end] with S(τ) = Σu > 0."""
    best, best_tau = -np.inf, lo
    for tau in range(lo, hi + 1):
        seg = u[tau:end + 1]
        total = float(seg.sum())
        if total <= 0:
            continue
        score = total * total / len(seg)
        if score > best:
            best, best_tau = score, tau
    return best_tau


def handling_days_shift(
    records: pd.DataFrame,
    *,
    by: str | Sequence[str] = PROSECUTOR,
    period=None,
    months: int = 24,
    cells: Sequence[str] = DEFAULT_CELLS,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    clip: float = CUSUM_CLIP,
    stage: str | None = None,
) -> pd.DataFrame:
    """When did a group's handling days start running long? Tabular CUSUM per group.

    Cases closed in the ``months`` months up to the end of ``period`` (all cases when no
    period is given) are taken in order of their closing date; each contributes its
    standardised residual u (log-days against peers, in within-cell standard deviations,
    winsorised at ±``clip``) to C_t = max(0, C_{t−1} + u_t − k). A signal is C_t > h. The
    start of the slowdown is the maximum-likelihood change point of a sustained upward shift
    within the excursion that signalled (the last one, when C crossed h more than once: a
    sustained slowdown never returns to zero after it starts), reported as the accepting
    month of that case.

    Returns
    -------
    DataFrame
        Keys, labels, ``label`` (internal: see
        :func:`casework.present.comparison_text.at_level`), ``n``, ``signal``
        (bool), ``signal_month`` (month of the signalling case's 审结, ``YYYY-MM``),
        ``start_month`` (``YYYY-MM``), ``cases_since_start``, ``ratio_since_start``
        (geometric days ratio against peers since the start), ``ratio_before``.
    """
    keys = as_keys(by)
    cases = case_days(records, cells=cells)
    if period is not None:
        p = periods.parse(period)
        first = periods.trailing_months(p, months)[0]
        closed = pd.to_datetime(cases["closed_on"])
        inside = (closed >= first.start) & (closed < p.end + pd.Timedelta(days=1))
        cases = cases.loc[inside.to_numpy()]
    if stage is not None:
        cases = cases.loc[cases["stage"] == stage]
    cases = cases.sort_values(["closed_on", "accepted_on"], kind="stable")
    rows = []
    for key, grp in cases.groupby(keys, dropna=False, observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        u = np.clip(grp["std_residual"].to_numpy(dtype="float64"), -clip, clip)
        c, start_i, episodes, signalled = 0.0, 0, [], False
        path = np.zeros(len(u))
        for i, ui in enumerate(u):
            c = max(0.0, c + ui - k)
            path[i] = c
            if c == 0.0:
                start_i, signalled = i + 1, False
            elif c > h and not signalled:
                episodes.append((start_i, i))
                signalled = True
        row = dict(zip(keys, key))
        row.update(n=len(grp), signal=bool(episodes), signal_month=None, start_month=None,
                   cases_since_start=0, ratio_since_start=np.nan, ratio_before=np.nan)
        if episodes:
            run_start, sig_at = episodes[-1]
            end = sig_at
            while end + 1 < len(path) and path[end + 1] > 0:
                end += 1
            start = _shift_start(u, 0, sig_at, end)
            after = grp.iloc[start:end + 1]
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
    labels = label_columns(cases, keys)
    out = labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
    out.insert(len(keys), "label", group_labels(out, keys, records))
    out.attrs["keys"] = keys
    return out


# ---------------------------------------------------------------------------------------------
# quality indicators and handling days per stage
# ---------------------------------------------------------------------------------------------

#: Quality indicators shown per prosecutor (registry codes).
QUALITY_INDICATORS = (
    "plea_leniency_rate", "fixed_recommendation_rate", "recommendation_adoption_rate",
    "supplementary_investigation_rate", "review_extension_rate", "appeal_rate",
)

STAGE_ZH = {"arrest_review": "审查逮捕", "prosecution_review": "审查起诉"}


def quality(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str] = PROSECUTOR,
    indicators: Sequence[str] = QUALITY_INDICATORS,
    journeys: pd.DataFrame | None = None,
    overdispersion: str = "additive",
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Quality indicators per prosecutor with their funnel position and intervals.

    A thin wrapper of :func:`casework.analysis.casemix.horizontal` (case-mix adjusted,
    overdispersion allowed for). :func:`casework.present.comparison_text.with_position` adds
    the Chinese funnel position.

    Returns
    -------
    DataFrame
        The :func:`~casework.analysis.casemix.horizontal` columns.
    """
    return horizontal(records, period=period, by=by, indicators=indicators, journeys=journeys,
                      adjust="case_mix", overdispersion=overdispersion, min_n=min_n)


def days_by_stage(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str] = PROSECUTOR,
    overdispersion: str = "additive",
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Case-mix adjusted handling days per prosecutor, one funnel per stage.

    Returns
    -------
    DataFrame
        ``stage``, ``stage_zh``, keys, ``label`` (internal) and the columns of
        :func:`casework.analysis.days.handling_days`; ``attrs["keys"]``.
    """
    keys = as_keys(by)
    # once for both stages (peers are per stage), carrying only the columns used
    cases = case_days(records[case_columns(records, *keys, *LABEL_COLUMNS)], period=period)
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        h = handling_days(records, by=keys, period=period, stage=stage,
                          overdispersion=overdispersion, min_n=min_n, cases=cases)
        if h.empty:
            continue
        h.insert(0, "stage", stage)
        h.insert(1, "stage_zh", STAGE_ZH[stage])
        h.insert(2 + len(keys), "label", group_labels(h, keys, records))
        parts.append(h)
    if not parts:
        out = pd.DataFrame(columns=["stage", "stage_zh", *keys, "label", "n", "value", "flag"])
    else:
        out = pd.concat(parts, ignore_index=True)
    out.attrs = {"keys": keys}
    return out


def shifts_by_stage(
    records: pd.DataFrame,
    *,
    period,
    months: int = 36,
    by: str | Sequence[str] = PROSECUTOR,
) -> pd.DataFrame:
    """:func:`handling_days_shift` for each stage, stacked with a ``stage`` column.

    Returns
    -------
    DataFrame
        ``stage``, ``stage_zh`` and the columns of :func:`handling_days_shift`.
    """
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        s = handling_days_shift(records, by=by, period=period, months=months, stage=stage)
        s.insert(0, "stage", stage)
        s.insert(1, "stage_zh", STAGE_ZH[stage])
        parts.append(s)
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {"keys": as_keys(by)}
    return out




# ---------------------------------------------------------------------------------------------
# change test with a valid p-value (issue 13): did a prosecutor's handling days rise?
# ---------------------------------------------------------------------------------------------

#: Residuals are winsorised at ±this many within-cell standard deviations before testing.
SHIFT_CLIP = 3.0

#: A candidate start month needs this many of the group's cases before and from it on.
SHIFT_MIN_CASES = 10

#: … and this many mature months before it.
SHIFT_MIN_MONTHS_BEFORE = 3

#: Quantile of handling days after which a cohort of accepted cases counts as mature.
SHIFT_MATURITY_QUANTILE = 0.95

#: Registry codes and names of the handling-days indicators by stage.
DAYS_INDICATORS = {"arrest_review": ("arrest_review_days_mean", "审查逮捕平均办案天数"),
                   "prosecution_review": ("prosecution_review_days_mean", "审查起诉平均办案天数")}


def _t_sf(t: np.ndarray, df: np.ndarray) -> np.ndarray:
    """One-sided p-values P(T > t) with ``df`` degrees of freedom; NaN where ``t`` is not
    finite (a zero or negative variance)."""
    out = np.full(len(t), np.nan)
    ok = np.isfinite(t)
    if ok.any():
        out[ok] = _st.t.sf(t[ok], df[ok])
    return out


def days_shifts(
    records: pd.DataFrame,
    *,
    period,
    stage: str,
    by: str | Sequence[str] = PROSECUTOR,
    months: int = 36,
    cells: Sequence[str] = DEFAULT_CELLS,
) -> pd.DataFrame:
    """Did a group's handling days rise from some month on? A change test per group.

    Cases of ``stage`` accepted in the ``months`` months up to the end of ``period`` and
    closed by then are taken by accepting month; months younger than the
    :data:`SHIFT_MATURITY_QUANTILE` of handling days are left out (their long cases are still
    open, so they read short). Each case contributes its standardised residual against peer
    cases (:func:`casework.analysis.days.case_days`, winsorised at ±:data:`SHIFT_CLIP`). For
    every candidate start month τ the group's change (mean from τ on − mean before) is
    compared with the same change of all other groups (a difference in differences, so an
    office-wide slowdown is nobody's finding) by a one-sided Welch-type t-test; the start
    month is the τ with the smallest p and ``p_value`` is that minimum times the number of
    candidates (Bonferroni over the search).

    Returns
    -------
    DataFrame
        One row per group: keys, ``label``, ``n`` (cases tested), ``start_month``,
        ``months_since_start``, ``cases_since_start``, ``mean_days_since_start``,
        ``mean_days_before``, ``days_diff_lower``, ``days_diff_upper`` (95 % interval of the
        difference in mean days), ``ratio_since_start``, ``ratio_before`` (geometric days
        against peers), ``candidates``, ``p_min``, ``p_value``. ``attrs``: ``keys``, ``stage``,
        ``maturity_days``, ``mature_through``.
    """
    used = case_columns(records, *cells, *as_keys(by), *LABEL_COLUMNS)
    return _days_shifts(case_days(records[used], cells=cells), records, period=period,
                        stage=stage, by=by, months=months)


def _days_shifts(all_cases: pd.DataFrame, records: pd.DataFrame, *, period, stage: str, by,
                 months: int) -> pd.DataFrame:
    """:func:`days_shifts` from the :func:`~casework.analysis.days.case_days` of ``records``
    (computed once for both stages by :func:`days_shifts_by_stage`)."""
    keys = as_keys(by)
    p = periods.parse(period)
    # only the columns used below (filtering and copying all record columns was slow)
    used = keys + ["accepted_on", "closed_on", "days", "residual", "std_residual"] + \
        [c for c in LABEL_COLUMNS if c in all_cases.columns]
    cases = all_cases.loc[(all_cases["stage"] == stage).to_numpy(),
                          list(dict.fromkeys(used))]
    first = periods.trailing_months(p, months)[0]
    acc = pd.to_datetime(cases["accepted_on"])
    closed = pd.to_datetime(cases["closed_on"])
    end = p.end + pd.Timedelta(days=1)
    cases = cases.loc[((acc >= first.start) & (closed < end)).to_numpy()].copy()
    lag = int(np.ceil(float(cases["days"].quantile(SHIFT_MATURITY_QUANTILE)))) if len(cases) \
        else 0
    last = mature_through(p, lag)
    cases["month"] = pd.to_datetime(cases["accepted_on"]).dt.to_period("M").dt.strftime("%Y-%m")
    cases = cases.loc[cases["month"] <= last]
    window = [m.code for m in periods.trailing_months(p, months) if m.code <= last]
    u = np.clip(cases["std_residual"].to_numpy(dtype="float64"), -SHIFT_CLIP, SHIFT_CLIP)
    cases["_u"] = u
    month_idx = {m: i for i, m in enumerate(window)}
    cases["_m"] = cases["month"].map(month_idx)
    nm = len(window)
    # all groups together, per month: count, sum, sum of squares (others = all − own)
    allm = cases.groupby("_m")["_u"].agg(["size", "sum"]).reindex(range(nm), fill_value=0)
    all_n, all_s = allm["size"].to_numpy(float), allm["sum"].to_numpy(float)
    all_ss = cases.groupby("_m")["_u"].apply(lambda s: float((s ** 2).sum())).reindex(
        range(nm), fill_value=0.0).to_numpy(float)
    cols = keys + ["n", "start_month", "months_since_start", "cases_since_start",
                   "mean_days_since_start", "mean_days_before", "days_diff_lower",
                   "days_diff_upper", "ratio_since_start", "ratio_before", "candidates",
                   "p_min", "p_value"]
    end_m = pd.Period(p.end, freq="M")
    # Per group × month counts and sums in one groupby over the narrow frame (grouping each
    # group's full frame again cost seconds). A group-month's sum adds the same values in
    # the same order as a groupby within the group, so every figure is unchanged.
    narrow = cases[keys + ["_m", "_u", "days", "residual"]]
    groups = narrow.groupby(keys, dropna=False, observed=True, sort=True)
    gid = groups.ngroup().to_numpy()  # numbered in the order the loop below sees the groups
    cell = narrow["_u"].groupby([gid, narrow["_m"].to_numpy()]).agg(["size", "sum"])
    own_n_all = np.zeros((groups.ngroups, nm))
    own_s_all = np.zeros((groups.ngroups, nm))
    g_at, m_at = (cell.index.get_level_values(i).to_numpy() for i in (0, 1))
    own_n_all[g_at, m_at] = cell["size"].to_numpy(float)
    own_s_all[g_at, m_at] = cell["sum"].to_numpy(float)
    # each group's rows in their order, as iterating the groupby would give them (without
    # slicing the frame per group)
    order = np.argsort(gid, kind="stable")
    bounds = np.searchsorted(gid[order], np.arange(groups.ngroups + 1))
    m_all, u_all = narrow["_m"].to_numpy(), narrow["_u"].to_numpy(dtype="float64")
    days_all, resid_all = narrow["days"].to_numpy(dtype="float64"), narrow["residual"]
    rows = []
    for j, key in enumerate(groups.size().index):  # the group keys, in the same order
        at = order[bounds[j]:bounds[j + 1]]
        key = key if isinstance(key, tuple) else (key,)
        row = dict(zip(keys, key))
        row.update(n=len(at), start_month=None, months_since_start=0, cases_since_start=0,
                   mean_days_since_start=np.nan, mean_days_before=np.nan,
                   days_diff_lower=np.nan, days_diff_upper=np.nan, ratio_since_start=np.nan,
                   ratio_before=np.nan, candidates=0, p_min=np.nan, p_value=np.nan)
        g_m = m_all[at]
        own_n, own_s = own_n_all[j], own_s_all[j]
        # sum of squares per month as Series.sum adds them (NaN as 0), one month at a time
        sq = u_all[at] ** 2
        sq[np.isnan(sq)] = 0.0
        own_ss = np.zeros(nm)
        for m in np.unique(g_m):
            own_ss[m] = sq[g_m == m].sum()
        on, os_, oss = all_n - own_n, all_s - own_s, all_ss - own_ss
        taus, ts, dfs = [], [], []
        for tau in range(SHIFT_MIN_MONTHS_BEFORE, nm):
            n1, n0 = own_n[tau:].sum(), own_n[:tau].sum()
            m1, m0 = on[tau:].sum(), on[:tau].sum()
            if min(n1, n0) < SHIFT_MIN_CASES or min(m1, m0) < 2:
                continue
            s1, s0 = own_s[tau:].sum(), own_s[:tau].sum()
            var_own = (own_ss.sum() - s1 ** 2 / n1 - s0 ** 2 / n0) / max(n1 + n0 - 2, 1)
            t1, t0 = os_[tau:].sum(), os_[:tau].sum()
            var_oth = (oss.sum() - t1 ** 2 / m1 - t0 ** 2 / m0) / max(m1 + m0 - 2, 1)
            diff = (s1 / n1 - s0 / n0) - (t1 / m1 - t0 / m0)
            var = var_own * (1 / n1 + 1 / n0) + var_oth * (1 / m1 + 1 / m0)
            with np.errstate(invalid="ignore", divide="ignore"):
                ts.append(diff / np.sqrt(var))
            taus.append(tau)
            dfs.append(max(n1 + n0 - 2, 1))
        cand = len(taus)
        # one t.sf call for all candidates (the same values as one call each, far cheaper);
        # the start is the first candidate with the smallest finite p
        pvs = _t_sf(np.asarray(ts, dtype="float64"), np.asarray(dfs, dtype="float64"))
        finite = np.flatnonzero(np.isfinite(pvs))
        if len(finite):
            best = finite[np.argmin(pvs[finite])]
            best_p, best_tau = float(pvs[best]), taus[best]
            start = window[best_tau]
            after_at = g_m >= best_tau
            days_g = days_all[at]
            d1, d0 = days_g[after_at], days_g[~after_at]
            diff = d1.mean() - d0.mean()
            se = np.sqrt(d1.var(ddof=1) / len(d1) + d0.var(ddof=1) / len(d0))
            row.update(start_month=start,
                       months_since_start=(end_m - pd.Period(start, freq="M")).n + 1,
                       cases_since_start=len(d1), mean_days_since_start=float(d1.mean()),
                       mean_days_before=float(d0.mean()),
                       days_diff_lower=float(diff - Z95 * se),
                       days_diff_upper=float(diff + Z95 * se),
                       ratio_since_start=float(np.exp(resid_all.iloc[at[after_at]].mean())),
                       ratio_before=float(np.exp(resid_all.iloc[at[~after_at]].mean())),
                       candidates=cand, p_min=best_p, p_value=min(1.0, best_p * cand))
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    labels = label_columns(cases, keys) if len(cases) else pd.DataFrame(columns=keys)
    out = labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
    out.insert(len(keys), "label", group_labels(out, keys, records))
    out.attrs = {"keys": keys, "stage": stage, "maturity_days": lag, "mature_through": last}
    return out


def days_shifts_by_stage(records: pd.DataFrame, *, period, months: int = 36,
                         by: str | Sequence[str] = PROSECUTOR) -> pd.DataFrame:
    """:func:`days_shifts` for each stage, stacked with ``stage`` and ``stage_zh``."""
    # both stages from one computation (it is per stage cell), with only the columns used
    cases = case_days(records[case_columns(records, *as_keys(by), *LABEL_COLUMNS)])
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        s = _days_shifts(cases, records, period=period, stage=stage, by=by, months=months)
        s.insert(0, "stage", stage)
        s.insert(1, "stage_zh", STAGE_ZH[stage])
        parts.append(s)
    out = pd.concat(parts, ignore_index=True)
    out.attrs = {"keys": as_keys(by)}
    return out


def profile_signals(
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    shifts: pd.DataFrame,
    records: pd.DataFrame,
    *,
    section_days: str = "",
    section_quality: str = "",
) -> pd.DataFrame:
    """Every test of the prosecutor report as signals (detector ``profile``), prosecutors
    keyed by (unit_code, department, prosecutor_id) with their full names.

    Handling days per stage: the funnel of :func:`days_by_stage` (level) and
    :func:`days_shifts_by_stage` (change, with a start month) are one test per prosecutor ×
    stage (:func:`casework.analysis.funnel_signals.combine`). Quality indicators: one funnel
    test per prosecutor × indicator (:func:`quality`).
    """
    frames = []
    for stage, (code, name) in DAYS_INDICATORS.items():
        at = (days["stage"] == stage).to_numpy() if len(days) else np.zeros(0, dtype=bool)
        d = days.loc[at].reset_index(drop=True)
        d.attrs = {"keys": list(days.attrs.get("keys", PROSECUTOR))}
        level = _signals.empty()
        if len(d):
            level = funnel_signals(d, records, entity_type="prosecutor", detector="profile",
                                   section=section_days, indicator=code, indicator_name=name,
                                   grouping="days")
            level["result_row"] = np.flatnonzero(at)[level["result_row"].to_numpy()]
        sat = (shifts["stage"] == stage).to_numpy() if len(shifts) else np.zeros(0, dtype=bool)
        s = shifts.loc[sat].reset_index(drop=True)
        s.attrs = {"keys": list(shifts.attrs.get("keys", PROSECUTOR))}
        change = _shift_signals(s, records, code=code, name=name, section=section_days)
        if len(change):
            change["shift_row"] = np.flatnonzero(sat)[change["shift_row"].to_numpy()]
        frames.append(combine(level, change, detector="profile"))
    if len(quality_result):
        frames.append(funnel_signals(quality_result, records, entity_type="prosecutor",
                                     detector="profile", section=section_quality,
                                     grouping="quality"))
    return _signals.concat(frames)


def _shift_signals(s: pd.DataFrame, records: pd.DataFrame, *, code: str, name: str,
                   section: str, alpha: float = 0.05) -> pd.DataFrame:
    if s.empty:
        return _signals.empty()
    keys = list(s.attrs["keys"])
    s = s.merge(entity_keys(records, keys, "prosecutor"), on=keys, how="left")
    pv = s["p_value"].to_numpy(dtype="float64")
    dated = np.isfinite(pv) & (pv < alpha)
    latest = s["mean_days_since_start"].to_numpy(dtype="float64")
    base = s["mean_days_before"].to_numpy(dtype="float64")
    out = pd.DataFrame({
        "detector": "days_shift", "section": section, "entity_type": "prosecutor",
        "entity_id": s["entity_id"].astype(str), "entity_name": s["entity_name"].astype(str),
        "indicator": code, "indicator_name": name,
        "direction": np.where(latest < base, "favourable", "unfavourable"),
        "start_month": pd.array(np.where(dated, s["start_month"], None), dtype="string"),
        "months_signalling": np.where(dated, s["months_since_start"], 0).astype("int64"),
        "latest_value": latest, "baseline": base, "effect": latest - base,
        "effect_lower": s["days_diff_lower"], "effect_upper": s["days_diff_upper"],
        "n": s["cases_since_start"].astype("float64"), "p_value": pv,
        "method": "逐人变化检验：自候选起始月起受理案件的办案天数（与同类案件比较的标准化残差）"
                  "的变化，与其他检察官同期的变化比较（单侧t检验），对全部候选起始月作"
                  "Bonferroni校正；近期尚未办结完毕的受理月份不参与检验",
        "within": s["within"].fillna("").astype(str),
        "kind": "mean", "unit_zh": "天", "baseline_zh": "此前水平",
        "shift_row": np.arange(len(s), dtype="int64"),
    })
    return _signals.validate(out)
