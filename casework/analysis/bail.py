"""Post-arrest bail monitoring (捕后取保候审监测) by referring agency and police station.

After an approved arrest the investigating agency may change the measure to bail (取保候审);
it must notify the procuratorate that approved the arrest (CPL art. 96). A station whose
share of such changes keeps rising is a matter for the joint meeting (联席会议) with its bureau.
:func:`bail_cohorts` gives arrest-month cohorts, :func:`bail_signals` a Bernoulli CUSUM per
station with the month the rise began, :func:`bail_signal_cases` the arrests behind a signal.
Sentences, tables and the joint-meeting points are written by
:mod:`casework.present.comparison_text`; charts by :mod:`casework.present.comparison_charts`.

Stations are keyed by (referring_agency, police_station): the same station name under two
bureaus is two stations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import monitor
from casework.analysis import periods as _periods
from casework.analysis import signals as _signals
from casework.analysis.casemix import group_labels
from casework.analysis.days import mature_through
from casework.analysis.funnel_signals import (
    GROUPING_ENTITY,
    combine,
    entity_keys,
    funnel_signals,
)
from casework.analysis.funnels import to_float
from casework.analysis.stats import safe_ratio, wilson_interval
from casework.base.checks import as_keys, require_columns

#: Streams of the post-arrest bail monitor: one per police station of a referring agency.
BAIL_KEYS = ("referring_agency", "police_station")

#: Bernoulli CUSUM settings: watch for the odds of bail doubling; in-control average run
#: length in arrests (about one false signal per 80 station-years at 60 arrests a year).
BAIL_ODDS_RATIO = 2.0
BAIL_ARL0 = 5000.0


def _arrests(journeys: pd.DataFrame) -> pd.DataFrame:
    require_columns(journeys, ["arrested_on", "post_arrest_bail"], "捕后取保候审监测")
    a = journeys
    keep = a["arrested_on"].notna().to_numpy()  # one filter of all columns, not two
    if "arrest_decision" in a.columns:
        approved = a["arrest_decision"].astype("object").eq("arrest_approved").fillna(False)
        keep = keep & approved.to_numpy(dtype=bool)
    a = a.loc[keep].copy()
    a["arrested_on"] = pd.to_datetime(a["arrested_on"])
    a["post_arrest_bail"] = a["post_arrest_bail"].astype("boolean").fillna(False).astype(bool)
    a["month"] = a["arrested_on"].dt.to_period("M").dt.strftime("%Y-%m")
    return a


def _window(period, months: int):
    p = _periods.parse(period)
    first = _periods.trailing_months(p, months)[0]
    return first.start, p.end, p


def bail_cohorts(
    journeys: pd.DataFrame,
    *,
    by: str | Sequence[str] = BAIL_KEYS,
    period,
    months: int = 24,
) -> pd.DataFrame:
    """Arrest-month cohorts of 捕后取保候审 per stream (police station by default).

    Parameters
    ----------
    journeys : DataFrame
        The ``journeys`` table (:func:`casework.model.journeys.build`).
    by : str or sequence of str
        Stream keys (``referring_agency``, ``police_station``) — or ``()`` for all arrests.
    period : str or Period
        The last month (or period) shown; the window covers ``months`` months up to its end.

    Returns
    -------
    DataFrame
        keys, ``month`` (arrest month, ``YYYY-MM``), ``numerator`` (later changed to bail),
        ``denominator`` (approved arrests executed that month), ``value``,
        ``value_ci_lower``, ``value_ci_upper`` (Wilson).

    Notes
    -----
    A cohort is counted by its arrest month; a change to bail months later still counts in
    that month, so the last cohorts are incomplete (right-censored) and read low.
    """
    keys = as_keys(by)
    lo, hi, _ = _window(period, months)
    a = _arrests(journeys)
    a = a.loc[(a["arrested_on"] >= lo) & (a["arrested_on"] < hi + pd.Timedelta(days=1))]
    g = a.groupby(keys + ["month"], dropna=False, observed=True)["post_arrest_bail"]
    out = pd.DataFrame({"numerator": g.sum().astype("float64"),
                        "denominator": g.size().astype("float64")}).reset_index()
    out["value"] = safe_ratio(out["numerator"], out["denominator"])
    out["value_ci_lower"], out["value_ci_upper"] = wilson_interval(out["numerator"],
                                                                   out["denominator"])
    return out.sort_values(keys + ["month"]).reset_index(drop=True)


def _step_change_start(y: np.ndarray, p0: float, lo: int, hi: int, end: int) -> int:
    """Maximum-likelihood start of a sustained rise in a 0/1 stream: τ in [lo, hi] maximising
    the log-likelihood ratio of rate p̂(τ..end) against p0 over y[τ..end]."""
    best, best_tau = -np.inf, lo
    for tau in range(lo, hi + 1):
        seg = y[tau:end + 1]
        k, m = float(seg.sum()), len(seg)
        p1 = k / m if m else 0.0
        if p1 <= p0 or p1 >= 1:
            ll = -np.inf if p1 <= p0 else k * np.log(1 / p0)
        else:
            ll = k * np.log(p1 / p0) + (m - k) * np.log((1 - p1) / (1 - p0))
        if ll > best:
            best, best_tau = ll, tau
    return best_tau


def bail_signals(
    journeys: pd.DataFrame,
    *,
    by: str | Sequence[str] = BAIL_KEYS,
    period,
    months: int = 24,
    p0: float | None = None,
    odds_ratio: float = BAIL_ODDS_RATIO,
    arl0: float = BAIL_ARL0,
    records: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Bernoulli CUSUM of 捕后取保候审 per stream, with the month the signal began.

    Each stream (police station) is the sequence of its approved arrests in arrest order,
    y = 1 when the person was later changed to bail. The CUSUM
    (:func:`casework.analysis.monitor.bernoulli_cusum`) watches for the odds of bail rising
    ``odds_ratio``-fold over p0 (default: the pooled rate of all streams in the window), with
    the threshold set for an in-control run length of ``arl0`` arrests. When a stream
    signals, the start is the maximum-likelihood change point of a sustained rise within the
    excursion that signalled (more precise than the last zero of the CUSUM).

    Returns
    -------
    DataFrame
        One row per stream: keys, ``label``, ``arrests``, ``bail`` (events), ``rate``,
        ``signal`` (bool), ``signal_month`` (the arrest month of the case that crossed h),
        ``start_month``, ``arrests_since_start``, ``bail_since_start``, ``rate_since_start``,
        ``rate_before``, ``p0``, ``p1``, ``h``. Sorted: signalling streams first.
    """
    keys = as_keys(by)
    lo, hi, _ = _window(period, months)
    a = _arrests(journeys)
    a = a.loc[(a["arrested_on"] >= lo) & (a["arrested_on"] < hi + pd.Timedelta(days=1))]
    sort_cols = ["arrested_on"] + [c for c in ("person_id",) if c in a.columns]
    a = a.sort_values(sort_cols, kind="stable")
    base = float(a["post_arrest_bail"].mean()) if p0 is None and len(a) else (p0 or np.nan)
    cols = keys + ["arrests", "bail", "rate", "signal", "signal_month", "start_month",
                   "arrests_since_start", "bail_since_start", "rate_since_start",
                   "rate_before", "p0", "p1", "h"]
    if not (0 < base < 1):
        return pd.DataFrame(columns=cols[:len(keys)] + ["label"] + cols[len(keys):])
    odds = odds_ratio * base / (1 - base)
    p1 = odds / (1 + odds)
    h = monitor.cusum_threshold(base, p1, arl0=arl0)
    rows = []
    for key, g in a.groupby(keys, dropna=False, observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        y = g["post_arrest_bail"].to_numpy(dtype="float64")
        row = dict(zip(keys, key))
        row.update(arrests=len(y), bail=int(y.sum()), rate=float(y.mean()), signal=False,
                   signal_month=None, start_month=None, arrests_since_start=0,
                   bail_since_start=0, rate_since_start=np.nan, rate_before=np.nan,
                   p0=base, p1=p1, h=h)
        res = monitor.bernoulli_cusum(y, p0=base, p1=p1, h=h, reset=False)
        sig = res["signal"].to_numpy(dtype=bool)
        if sig.any():
            last = int(np.flatnonzero(sig)[-1])
            run_start = int(res["run_start"].iloc[last])
            first = run_start + int(np.flatnonzero(sig[run_start:])[0])
            s = res["s"].to_numpy()
            end = last
            while end + 1 < len(s) and s[end + 1] > 0:
                end += 1
            tau = _step_change_start(y, base, 0, first, end)
            months_ = g["month"].to_numpy()
            row.update(signal=True, signal_month=months_[first], start_month=months_[tau],
                       arrests_since_start=int(len(y) - tau), bail_since_start=int(y[tau:].sum()),
                       rate_since_start=float(y[tau:].mean()),
                       rate_before=float(y[:tau].mean()) if tau > 0 else np.nan)
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    out.insert(len(keys), "label", group_labels(out, keys, records))
    out = out.sort_values(["signal", "rate_since_start"], ascending=[False, False], kind="stable")
    return out.reset_index(drop=True)


def bail_signal_cases(
    journeys: pd.DataFrame,
    signals: pd.DataFrame,
    *,
    by: str | Sequence[str] = BAIL_KEYS,
    period,
    bail_only: bool = False,
) -> pd.DataFrame:
    """The arrests behind each CUSUM signal since its start month (for 联席会议 follow-up).

    Returns
    -------
    DataFrame
        ``分组``, keys, ``arrest_dept_case_no`` (审查逮捕部门受案号), ``unified_case_no``,
        ``charge``, ``arrested_on``, ``post_arrest_bail``, ``measure_changed_on``,
        ``prosecution_dept_case_no``, ``prosecution_decision``. Internal use only.
    """
    keys = as_keys(by)
    _, hi, _ = _window(period, 1)
    hit = signals.loc[signals["signal"].astype(bool)] if len(signals) else signals
    if hit.empty:
        return pd.DataFrame(columns=["分组", *keys, "arrest_dept_case_no", "arrested_on",
                                     "post_arrest_bail"])
    a = _arrests(journeys)
    a = a.loc[a["arrested_on"] < hi + pd.Timedelta(days=1)]
    a = a.merge(hit[keys + ["label", "start_month"]], on=keys, how="inner")
    a = a.loc[a["month"] >= a["start_month"]]
    if bail_only:
        a = a.loc[a["post_arrest_bail"]]
    a = a.rename(columns={"label": "分组"})
    cols = ["分组", *keys, "arrest_dept_case_no", "unified_case_no", "charge", "arrested_on",
            "post_arrest_bail", "measure_changed_on", "prosecution_dept_case_no",
            "prosecution_decision"]
    out = a[[c for c in cols if c in a.columns]]
    return out.sort_values(["分组", "arrested_on"], kind="stable").reset_index(drop=True)




# ---------------------------------------------------------------------------------------------
# change test with a valid p-value (issue 13): did a station's rate rise from some month on?
# ---------------------------------------------------------------------------------------------

#: Share of bail changes that must have happened for an arrest cohort to count as mature:
#: cohorts arrested within this quantile of the arrest-to-bail lag before the end of the
#: period are still filling up (right-censored) and are left out of the test.
MATURITY_QUANTILE = 0.95

#: Lag used when the data hold too few bail changes with both dates to estimate it.
DEFAULT_MATURITY_DAYS = 60

#: A candidate start month needs this many mature months before and after it.
MIN_MONTHS_BEFORE = 3
MIN_MONTHS_AFTER = 2


def maturity_days(journeys: pd.DataFrame, *, quantile: float = MATURITY_QUANTILE) -> int:
    """Days after an arrest by which ``quantile`` of the changes to bail have happened
    (estimated from the data; :data:`DEFAULT_MATURITY_DAYS` with fewer than 20 changes).

    Examples
    --------
    >>> import pandas as pd
    >>> j = pd.DataFrame({"arrested_on": pd.to_datetime(["2024-01-01"] * 30),
    ...                   "measure_changed_on": pd.to_datetime(["2024-01-31"] * 30),
    ...                   "post_arrest_bail": [True] * 30})
    >>> maturity_days(j)
    30
    """
    if "measure_changed_on" not in journeys.columns:
        return DEFAULT_MATURITY_DAYS
    a = _arrests(journeys)
    a = a.loc[a["post_arrest_bail"] & a["measure_changed_on"].notna()]
    lag = (pd.to_datetime(a["measure_changed_on"]) - a["arrested_on"]).dt.days
    lag = lag[lag >= 0]
    if len(lag) < 20:
        return DEFAULT_MATURITY_DAYS
    return int(np.ceil(float(lag.quantile(quantile))))


def _scan_rise(k: np.ndarray, n: np.ndarray, lo: int, hi: int):
    """Best start of a rise in monthly counts: one-sided Fisher exact test of the rate from
    month τ on against the rate before, for τ in [lo, hi]; returns (τ, p_min, candidates)."""
    best_p, best_tau, cand = np.nan, -1, 0
    for tau in range(lo, hi + 1):
        k1, n1 = k[tau:].sum(), n[tau:].sum()
        k0, n0 = k[:tau].sum(), n[:tau].sum()
        if n1 == 0 or n0 == 0:
            continue
        cand += 1
        p = float(_st.hypergeom.sf(k1 - 1, n0 + n1, k0 + k1, n1))
        if not np.isfinite(best_p) or p < best_p:
            best_p, best_tau = p, tau
    return best_tau, best_p, cand


def bail_shifts(
    journeys: pd.DataFrame,
    *,
    by: str | Sequence[str] = BAIL_KEYS,
    period,
    months: int = 24,
    maturity: int | None = None,
    records: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Did a station's 捕后取保候审 rate rise from some month on? A change test per station.

    For each stream (police station by default) the approved arrests of the ``months``
    months up to the end of ``period`` are counted by arrest month. Cohorts younger than the
    maturity lag (:func:`maturity_days`, estimated from the data unless given) are left out:
    their changes to bail have not happened yet, so they read low — never a 下降. For every
    candidate start month τ (with :data:`MIN_MONTHS_BEFORE` mature months before and
    :data:`MIN_MONTHS_AFTER` from τ on) a one-sided Fisher exact test compares the rate from
    τ on with the rate before; the start month is the τ with the smallest p, and the
    reported ``p_value`` is that minimum times the number of candidates (Bonferroni over the
    search, so it stays valid). Comparing a station with its own past keeps a station that
    has always run higher than others (legitimate variation) out of the findings.

    Returns
    -------
    DataFrame
        One row per stream: keys, ``label``, ``arrests``, ``bail``, ``rate`` (all arrests in
        the window), ``mature_through`` (last mature arrest month), ``start_month``,
        ``months_since_start`` (start to the end of the period, inclusive),
        ``arrests_since_start``, ``bail_since_start``, ``rate_since_start``,
        ``arrests_before``, ``bail_before``, ``rate_before`` (mature cohorts only),
        ``candidates``, ``p_min``, ``p_value``. Sorted by ``p_value``.
        ``attrs``: ``keys``, ``maturity_days``, ``mature_through``, ``period``.
    """
    keys = as_keys(by)
    lo, hi, p = _window(period, months)
    lag = maturity_days(journeys) if maturity is None else int(maturity)
    last = mature_through(p, lag)
    a = _arrests(journeys)
    a = a.loc[(a["arrested_on"] >= lo) & (a["arrested_on"] < hi + pd.Timedelta(days=1))]
    window = [m.code for m in _periods.trailing_months(p, months)]
    mature = [m for m in window if m <= last]
    cols = keys + ["arrests", "bail", "rate", "mature_through", "start_month",
                   "months_since_start", "arrests_since_start", "bail_since_start",
                   "rate_since_start", "arrests_before", "bail_before", "rate_before",
                   "candidates", "p_min", "p_value"]
    rows = []
    end = pd.Period(p.end, freq="M")
    for key, g in a.groupby(keys, dropna=False, observed=True, sort=True):
        key = key if isinstance(key, tuple) else (key,)
        y = g["post_arrest_bail"].to_numpy(dtype="float64")
        row = dict(zip(keys, key))
        row.update(arrests=len(y), bail=int(y.sum()), rate=float(y.mean()),
                   mature_through=last, start_month=None, months_since_start=0,
                   arrests_since_start=0, bail_since_start=0, rate_since_start=np.nan,
                   arrests_before=0, bail_before=0, rate_before=np.nan, candidates=0,
                   p_min=np.nan, p_value=np.nan)
        per = g.loc[g["month"] <= last].groupby("month")["post_arrest_bail"].agg(["sum", "size"])
        per = per.reindex(mature, fill_value=0)
        k, n = per["sum"].to_numpy(dtype="float64"), per["size"].to_numpy(dtype="float64")
        tau, p_min, cand = _scan_rise(k, n, MIN_MONTHS_BEFORE, len(mature) - MIN_MONTHS_AFTER)
        if cand:
            k1, n1, k0, n0 = k[tau:].sum(), n[tau:].sum(), k[:tau].sum(), n[:tau].sum()
            start = mature[tau]
            row.update(start_month=start,
                       months_since_start=(end - pd.Period(start, freq="M")).n + 1,
                       arrests_since_start=int(n1), bail_since_start=int(k1),
                       rate_since_start=k1 / n1, arrests_before=int(n0), bail_before=int(k0),
                       rate_before=k0 / n0, candidates=cand, p_min=p_min,
                       p_value=min(1.0, p_min * cand))
        rows.append(row)
    out = pd.DataFrame(rows, columns=cols)
    out.insert(len(keys), "label", group_labels(out, keys, records))
    out = out.sort_values(["p_value"] + keys, kind="stable", na_position="last")
    out = out.reset_index(drop=True)
    out.attrs = {"keys": keys, "maturity_days": lag, "mature_through": last, "period": p.code,
                 "first_month": window[0]}
    return out


def shift_signals(shifts: pd.DataFrame, records: pd.DataFrame, *, entity_type: str,
                  section: str = "", alpha: float = 0.05) -> pd.DataFrame:
    """:func:`bail_shifts` as signals (detector ``bail_shift``, indicator
    ``post_arrest_bail_rate``): latest = rate since the start, baseline = rate before, effect
    with a Newcombe interval; ``start_month`` and ``months_signalling`` only where the
    adjusted p-value is below ``alpha`` (a rise worth dating).
    """
    keys = list(shifts.attrs.get("keys", BAIL_KEYS))
    if shifts.empty:
        return _signals.empty()
    ent = entity_keys(records, keys, entity_type)
    s = shifts.merge(ent, on=keys, how="left")
    missing = s["entity_id"].isna().to_numpy()
    if missing.any():
        lab = _signals.entity_labels(s.loc[missing], entity_type)
        for c in ("entity_id", "entity_name", "within"):
            s.loc[missing, c] = lab[c].to_numpy()
    d = _signals.rate_difference(s["bail_since_start"], s["arrests_since_start"],
                                 s["bail_before"], s["arrests_before"])
    pv = to_float(s["p_value"])
    dated = np.isfinite(pv) & (pv < alpha)
    eff = np.asarray(d["effect"], dtype="float64")
    out = pd.DataFrame({
        "detector": "bail_shift", "section": section, "entity_type": entity_type,
        "entity_id": s["entity_id"].astype(str), "entity_name": s["entity_name"].astype(str),
        "indicator": "post_arrest_bail_rate", "indicator_name": "捕后取保候审率",
        "direction": np.where(eff < 0, "favourable", "unfavourable"),
        "start_month": pd.array(np.where(dated, s["start_month"], None), dtype="string"),
        "months_signalling": np.where(dated, s["months_since_start"], 0).astype("int64"),
        "latest_value": d["latest_value"], "baseline": d["baseline"], "effect": eff,
        "effect_lower": d["effect_lower"], "effect_upper": d["effect_upper"],
        "n": to_float(s["arrests_since_start"]), "p_value": pv,
        "method": "逐站变化检验：自候选起始月起的比例与此前比较（单侧Fisher精确检验），"
                  "对全部候选起始月作Bonferroni校正；未成熟的近期逮捕队列不参与检验",
        "within": s["within"].fillna("").astype(str),
        "kind": "rate", "baseline_zh": "此前水平",
        "shift_row": np.arange(len(s), dtype="int64"),
    })
    return _signals.validate(out)


def monitor_signals(shifts: pd.DataFrame, comparison: pd.DataFrame, records: pd.DataFrame, *,
                    by: str = "police_station", section: str = "") -> pd.DataFrame:
    """Every test of the post-arrest bail report as signals: per station (or agency, ``by``),
    the change test of :func:`bail_shifts` and the level test of the period's funnel
    (``comparison``: :func:`casework.analysis.casemix.horizontal` of post_arrest_bail_rate)
    joined into one test (detector ``bail``, :func:`casework.analysis.funnel_signals.combine`).
    Rows carry ``shift_row`` and ``result_row`` (the rows of the two frames they test).
    """
    etype = GROUPING_ENTITY[by]
    level = funnel_signals(comparison, records, entity_type=etype, section=section,
                           grouping=by)
    change = shift_signals(shifts, records, entity_type=etype, section=section)
    return combine(level, change, detector="bail")
