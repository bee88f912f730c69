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

from casework.analysis import periods
from casework.analysis.casemix import group_labels, horizontal
from casework.analysis.days import (
    DEFAULT_CELLS,
    PROSECUTOR,
    case_days,
    handling_days,
    in_period,
    label_columns,
    stage_cases,
)
from casework.analysis.funnels import DEFAULT_MIN_N
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
    cases = case_weights(recs, weights=weights, charge_factors=charge_factors,
                         extra_person=extra_person)
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
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        h = handling_days(records, by=keys, period=period, stage=stage,
                          overdispersion=overdispersion, min_n=min_n)
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


