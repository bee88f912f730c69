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

from casework.model import schema
from casework.analysis.compare import DEFAULT_MIN_N, Z95, normal_funnel
from casework.base.errors import DataError, check_choice

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
#: in within-cell standard deviations), decision interval h, and winsorisation of each
#: residual at ±clip (handling days are right-skewed: one case held for months by 退查 must
#: not by itself make a signal). Chosen on synthetic null data (3 units × 3 years: about one
#: signal among 56 prosecutors over 36 months, against 28 with k = 0.5, h = 5 unclipped).
CUSUM_K = 0.5
CUSUM_H = 8.0
CUSUM_CLIP = 2.0

_PROSECUTOR = ("prosecutor_id",)
_LABELS = ("prosecutor_name", "department", "unit_code", "unit_name")


def _keys(by) -> list[str]:
    return [by] if isinstance(by, str) else list(by)


def _in_period(records: pd.DataFrame, period, date: str) -> pd.DataFrame:
    if period is None:
        return records
    from casework.analysis import periods

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
        As in :func:`casework.analysis.compare.normal_funnel` (``min_n`` on the number of cases).

    Returns
    -------
    DataFrame
        Keys, labels, ``n`` (closed cases), ``mean_days``, ``median_days``,
        ``expected_mean_days`` (mean peer days for the same mix), ``excess_days``,
        ``estimate`` (mean log residual), ``std_error``, then the funnel columns of
        :func:`~casework.analysis.compare.normal_funnel` (``value`` = days ratio, target 1).

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
    by: str | Sequence[str] = _PROSECUTOR,
    period=None,
    months: int = 24,
    cells: Sequence[str] = DEFAULT_CELLS,
    k: float = CUSUM_K,
    h: float = CUSUM_H,
    clip: float = CUSUM_CLIP,
    stage: str | None = None,
    level: str = "internal",
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
        Keys, labels, ``label`` (pseudonym at the circulated level), ``n``, ``signal``
        (bool), ``signal_month`` (month of the signalling case's 审结, ``YYYY-MM``),
        ``start_month`` (``YYYY-MM``), ``cases_since_start``, ``ratio_since_start``
        (geometric days ratio against peers since the start), ``ratio_before``.
    """
    from casework.analysis.compare import group_labels

    keys = _keys(by)
    cases = case_days(records, cells=cells)
    if period is not None:
        from casework.analysis import periods

        p = periods.parse(period)
        first = periods.trailing_months(p, months)[0]
        closed = pd.to_datetime(cases["closed_on"])
        cases = cases.loc[((closed >= first.start) & (closed < p.end + pd.Timedelta(days=1))).to_numpy()]
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
    labels = _labels(cases, keys)
    out = labels.merge(out, on=keys, how="right").sort_values(keys).reset_index(drop=True)
    out.insert(len(keys), "label", group_labels(out, keys, records, level=level))
    return out


# ---------------------------------------------------------------------------------------------
# quality indicators, overview and per-prosecutor profiles
# ---------------------------------------------------------------------------------------------

#: Quality indicators shown per prosecutor (registry codes).
QUALITY_INDICATORS = (
    "plea_leniency_rate", "fixed_recommendation_rate", "recommendation_adoption_rate",
    "supplementary_investigation_rate", "review_extension_rate", "appeal_rate",
)

STAGE_ZH = {"arrest_review": "审查逮捕", "prosecution_review": "审查起诉"}
POSITION_ZH = {("alarm", "high"): "偏高，超出99.8%控制限", ("alarm", "low"): "偏低，超出99.8%控制限",
               ("alert", "high"): "偏高，超出95%控制限", ("alert", "low"): "偏低，超出95%控制限"}


def _position(flag, direction, below) -> str:
    if below:
        return "样本量不足，不作判断"
    return POSITION_ZH.get((flag, direction), "在控制限内")


def quality(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str] = _PROSECUTOR,
    indicators: Sequence[str] = QUALITY_INDICATORS,
    journeys: pd.DataFrame | None = None,
    overdispersion: str = "additive",
    min_n: int = DEFAULT_MIN_N,
    level: str = "internal",
) -> pd.DataFrame:
    """Quality indicators per prosecutor with their funnel position and intervals.

    A thin wrapper of :func:`casework.analysis.compare.horizontal` (case-mix adjusted, overdispersion
    allowed for) with a Chinese ``position`` column.

    Returns
    -------
    DataFrame
        The :func:`~casework.analysis.compare.horizontal` columns plus ``position``
        (在控制限内 / 偏高，超出95%控制限 … / 样本量不足，不作判断).
    """
    from casework.analysis.compare import horizontal

    out = horizontal(records, period=period, by=by, indicators=indicators, journeys=journeys,
                     adjust="case_mix", overdispersion=overdispersion, min_n=min_n, level=level)
    attrs = dict(out.attrs)
    if len(out):
        out["position"] = [_position(f, d, b) for f, d, b in
                           zip(out["flag"], out["flag_direction"], out["below_min_n"])]
    out.attrs = attrs
    return out


def days_by_stage(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str] = _PROSECUTOR,
    overdispersion: str = "additive",
    min_n: int = DEFAULT_MIN_N,
    level: str = "internal",
) -> pd.DataFrame:
    """Case-mix adjusted handling days per prosecutor, one funnel per stage.

    Returns
    -------
    DataFrame
        ``stage``, ``stage_zh``, keys, ``label`` and the columns of :func:`handling_days`,
        plus ``position`` (Chinese funnel position).
    """
    from casework.analysis.compare import group_labels

    keys = _keys(by)
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        h = handling_days(records, by=keys, period=period, stage=stage,
                          overdispersion=overdispersion, min_n=min_n)
        if h.empty:
            continue
        h.insert(0, "stage", stage)
        h.insert(1, "stage_zh", STAGE_ZH[stage])
        h.insert(2 + len(keys), "label", group_labels(h, keys, records, level=level))
        h["position"] = [_position(f, d, b) for f, d, b in
                         zip(h["flag"], h["flag_direction"], h["below_min_n"])]
        parts.append(h)
    if not parts:
        return pd.DataFrame(columns=["stage", "stage_zh", *keys, "label", "n", "value", "flag"])
    return pd.concat(parts, ignore_index=True)


def overview(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    *,
    by: str | Sequence[str] = _PROSECUTOR,
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
    from casework.analysis.compare import group_labels

    keys = _keys(by)
    base = load.copy()
    base.insert(len(keys), "label", group_labels(base, keys, records, level=level))
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
        q = quality_result.loc[(quality_result["flag"] != "") & ~quality_result["below_min_n"].astype(bool)]
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
    "label": "检察官", "cases": "审结件数", "persons": "审结人数", "arrest_review_cases": "审查逮捕件数",
    "prosecution_review_cases": "审查起诉件数", "weighted_cases": "折算件数",
    "weighted_vs_median": "折算件数/中位数",
    "arrest_review_days_ratio": "审查逮捕天数（实际/预期）", "arrest_review_days_ci": "审查逮捕95%区间",
    "arrest_review_days_position": "审查逮捕位置",
    "prosecution_review_days_ratio": "审查起诉天数（实际/预期）",
    "prosecution_review_days_ci": "审查起诉95%区间", "prosecution_review_days_position": "审查起诉位置",
    "quality_flags": "质量提示数", "quality_notes": "质量提示",
}


def _esc(text) -> str:
    from casework.notebook.page import escape_text

    return escape_text(text)


def _rate_or_value(v, kind) -> str:
    if v is None or not np.isfinite(v):
        return "—"
    return f"{v:.1%}" if kind == "rate" else f"{v:.2f}"


def profile_sections(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    shifts: pd.DataFrame | None = None,
    *,
    by: str | Sequence[str] = _PROSECUTOR,
    records: pd.DataFrame | None = None,
    level: str = "internal",
) -> pd.DataFrame:
    """The one-page profile of each prosecutor, as Markdown, one row per prosecutor.

    Each section: caseload (raw and weighted, against the median), handling days per stage
    against peer cases with the same mix (ratio, 95 % interval, funnel position, and the
    month a slowdown began when the CUSUM signalled), and a table of quality indicators
    (own value, expected for the same mix, observed/expected with its interval, the
    beta-binomial shrunk estimate with its interval, funnel position). No rank is given.

    Returns
    -------
    DataFrame
        keys, ``label``, ``markdown``. Join the ``markdown`` column for
        :func:`casework.notebook.page.md` (:func:`profile_pages`).
    """
    from casework.analysis.compare import group_labels

    keys = _keys(by)
    load = load.copy()
    load["label"] = group_labels(load, keys, records, level=level).to_numpy()
    med = float(load["weighted_cases"].median()) if len(load) else np.nan
    rows = []
    for _, r in load.sort_values([c for c in ("unit_code", "department") if c in load.columns]
                                 + keys, kind="stable").iterrows():
        kv = {k: r[k] for k in keys}
        where = " · ".join(_esc(r[c]) for c in ("unit_name", "department")
                           if c in load.columns and isinstance(r.get(c), str))
        lines = [f"### {_esc(r['label'])}" + (f"（{where}）" if where else ""), ""]
        lines.append(
            f"- **办案量**：审结 {int(r['cases']):,} 件 {int(r['persons']):,} 人（审查逮捕 "
            f"{int(r['arrest_review_cases']):,} 件、审查起诉 {int(r['prosecution_review_cases']):,} 件）；"
            f"按案件类型折算 {r['weighted_cases']:.1f} 件，为全体检察官中位数（{med:.1f} 件）的 "
            f"{r['weighted_vs_median']:.2f} 倍。")
        mine = days
        for k in keys:
            mine = mine.loc[mine[k] == kv[k]] if len(mine) else mine
        for _, d in mine.iterrows():
            text = (f"- **{d['stage_zh']}办案天数**：平均 {d['mean_days']:.1f} 天（中位数 "
                    f"{d['median_days']:.0f} 天，{int(d['n']):,} 件），同类案件预期 "
                    f"{d['expected_mean_days']:.1f} 天；实际/预期 {d['value']:.2f}（95%区间 "
                    f"{d['value_ci_lower']:.2f}–{d['value_ci_upper']:.2f}），{d['position']}。")
            if shifts is not None and len(shifts):
                sh = shifts.loc[(shifts["stage"] == d["stage"]) if "stage" in shifts.columns
                                else slice(None)]
                for k in keys:
                    sh = sh.loc[sh[k] == kv[k]]
                sh = sh.loc[sh["signal"].astype(bool)]
                if len(sh):
                    s = sh.iloc[0]
                    text += (f"逐案累积监测（CUSUM）显示自 {_esc(s['start_month'])} 起持续偏长"
                             f"（{_esc(s['signal_month'])} 发出信号），此后为同类案件的 "
                             f"{s['ratio_since_start']:.2f} 倍。")
            lines.append(text)
        q = quality_result
        for k in keys:
            q = q.loc[q[k] == kv[k]] if len(q) else q
        if len(q):
            lines += ["", "| 质量指标 | 本人 | 同类案件预期 | 实际/预期（95%区间） | 收缩估计（95%区间） | 位置 |",
                      "|---|---|---|---|---|---|"]
            from casework.analysis.compare import _small

            for _, x in q.iterrows():
                expected = x.get("expected_rate")
                own = (f"{_rate_or_value(x['crude_value'], x['kind'])}"
                       f"（{x['numerator']:,.0f}/{x['denominator']:,.0f}）")
                if _small(x, level):
                    own = "不列示（涉及人数少于5人）"
                oe = (f"{x['value']:.2f}（{x['value_ci_lower']:.2f}–{x['value_ci_upper']:.2f}）"
                      if np.isfinite(x["value"]) else "—")
                shrunk = (f"{x['shrunk_value']:.1%}（{x['shrunk_ci_lower']:.1%}–{x['shrunk_ci_upper']:.1%}）"
                          if "shrunk_value" in x and pd.notna(x["shrunk_value"]) else "—")
                lines.append(
                    f"| {_esc(x['name_zh'])} | {own} | "
                    f"{_rate_or_value(expected, 'rate') if expected is not None else '—'} | {oe} | "
                    f"{shrunk} | {x['position']} |")
        lines += ["", "---", ""]
        rows.append({**kv, "label": r["label"], "markdown": "\n".join(lines)})
    return pd.DataFrame(rows, columns=keys + ["label", "markdown"])


def profile_pages(sections: pd.DataFrame) -> str:
    """All profile sections joined into one Markdown text (for :func:`casework.notebook.page.md`)."""
    if sections is None or sections.empty:
        return "本期没有检察官审结案件。"
    return "\n".join(sections["markdown"])


def describe(
    load: pd.DataFrame,
    days: pd.DataFrame,
    quality_result: pd.DataFrame,
    shifts: pd.DataFrame | None = None,
    *,
    period_label: str | None = None,
) -> str:
    """Narrative of the prosecutor report: who stands out on handling days (with the month a
    slowdown began) and on quality, and that the others do not. Names appear as the frames'
    ``label`` (pseudonyms at the circulated level). No ranking.

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
    for stage in ("prosecution_review", "arrest_review"):
        d = days.loc[days["stage"] == stage] if len(days) else days
        if d.empty:
            continue
        elig = d.loc[~d["below_min_n"].astype(bool)]
        fl = elig.loc[elig["flag"] != ""]
        text = f"- **{STAGE_ZH[stage]}办案天数**（与同程序、同罪名类别、同羁押状态的案件比较）："
        if fl.empty:
            text += f"参与比较的 {len(elig)} 名检察官均在控制限内。"
        else:
            fl = fl.assign(_o=fl["flag"].map({"alarm": 0, "alert": 1}), _z=-np.abs(fl["z"]))
            bits = []
            for _, x in fl.sort_values(["_o", "_z"]).iterrows():
                bit = (f"{_esc(x['label'])}平均 {x['mean_days']:.1f} 天，同类案件预期 "
                       f"{x['expected_mean_days']:.1f} 天，为预期的 {x['value']:.2f} 倍（95%区间 "
                       f"{x['value_ci_lower']:.2f}–{x['value_ci_upper']:.2f}），{x['position']}")
                if shifts is not None and len(shifts):
                    sh = shifts.loc[(shifts["label"] == x["label"]) & shifts["signal"].astype(bool)]
                    if "stage" in shifts.columns:
                        sh = sh.loc[sh["stage"] == stage]
                    if len(sh):
                        s = sh.iloc[0]
                        bit += (f"；逐案累积监测显示自 {_esc(s['start_month'])} 起持续偏长"
                                f"（{_esc(s['signal_month'])} 发出信号）")
                bits.append(bit)
            text += "；".join(bits) + f"。其余 {len(elig) - len(fl)} 名检察官在控制限内。"
        lines.append(text)
    if len(quality_result):
        for code, block in quality_result.groupby("indicator", sort=False):
            elig = block.loc[~block["below_min_n"].astype(bool)]
            fl = elig.loc[elig["flag"] != ""]
            name = _esc(block["name_zh"].iloc[0])
            if fl.empty:
                lines.append(f"- **{name}**：参与比较的 {len(elig)} 名检察官均在控制限内。")
            else:
                from casework.analysis.compare import _fmt_crude

                lvl = quality_result.attrs.get("level", "internal")
                bits = "、".join(f"{_esc(x['label'])}（{x['position']}，本人 "
                                f"{_fmt_crude(x, lvl)}，实际/预期 {x['value']:.2f}）"
                                for _, x in fl.iterrows())
                lines.append(f"- **{name}**：{bits}；其余 {len(elig) - len(fl)} 名检察官在控制限内。")
    lines += ["", "以上为数据提示，供员额检察官业绩考评参考：偏离的原因（案件难度、承办特殊案件、"
              "临时任务等）须结合案件核实，不能直接作为评价结论；不列名次。"]
    return "\n".join(lines)


def shifts_by_stage(
    records: pd.DataFrame,
    *,
    period,
    months: int = 36,
    by: str | Sequence[str] = _PROSECUTOR,
    level: str = "internal",
) -> pd.DataFrame:
    """:func:`handling_days_shift` for each stage, stacked with a ``stage`` column.

    Returns
    -------
    DataFrame
        ``stage``, ``stage_zh`` and the columns of :func:`handling_days_shift`.
    """
    parts = []
    for stage in ("arrest_review", "prosecution_review"):
        s = handling_days_shift(records, by=by, period=period, months=months, stage=stage,
                                level=level)
        s.insert(0, "stage", stage)
        s.insert(1, "stage_zh", STAGE_ZH[stage])
        parts.append(s)
    return pd.concat(parts, ignore_index=True)


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


def days_funnel_figure(days: pd.DataFrame, *, title: str | None = None):
    """Funnel of the case-mix adjusted days ratio, one panel per stage (flagged points named).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from casework.present import plotting

    stages = [s for s in ("prosecution_review", "arrest_review")
              if len(days) and (days["stage"] == s).any()]
    fig, axes = plt.subplots(1, max(len(stages), 1), figsize=(5.4 * max(len(stages), 1), 4.0),
                             layout="constrained", squeeze=False)
    for ax, stage in zip(axes.flat, stages):
        d = days.loc[(days["stage"] == stage) & ~days["below_min_n"].astype(bool)].copy()
        if np.isfinite(d["phi"]).any() and d["od_lower_95"].notna().any():
            for c in ("lower_95", "upper_95", "lower_998", "upper_998"):
                d[c] = d[f"od_{c}"]
        plotting.funnel_chart(d, x="n", y="value", label="label", target=1.0, flag="flag",
                              percent=False, title=f"{STAGE_ZH[stage]}办案天数（实际/同类案件预期）",
                              xlabel="审结件数", ylabel="实际/预期", ax=ax)
    if title:
        fig.suptitle(title)
    return fig

#: Number formats of the overview table (for :func:`casework.notebook.page.table`).
OVERVIEW_FORMATS = {"weighted_cases": "{:.1f}", "weighted_vs_median": "{:.2f}",
                    "arrest_review_days_ratio": "{:.2f}", "prosecution_review_days_ratio": "{:.2f}"}

#: Person-count columns of the overview table (small-cell suppression at the circulated level;
#: the other integer columns are case counts and flag counts, not persons).
OVERVIEW_COUNTS = ["persons"]
