"""Monthly monitoring: control charts, run rules and CUSUM, and the overview's scan.

The monitor takes the monthly series of :func:`casework.analysis.panel.monthly` and, per
indicator and group, computes the chart its kind calls for (``../shared/reference/domain.md``
§4); drawing is :mod:`casework.present.trend_charts`, the seasonal decomposition
:mod:`casework.analysis.seasonal`, the CUSUM arithmetic :mod:`casework.analysis.cusum`:

=========================  ===============================================================
indicator                  chart
=========================  ===============================================================
rate (proportion)          p-chart p̄ ± 3√(p̄(1−p̄)/n_t); Laney p′ when overdispersed
count (events per month)   u-chart of events per day ū ± 3√(ū/n_t), n_t = days in month;
                           Laney u′ when overdispersed
mean / median days, ratio  XmR: X̄ ± 2.66·MR̄
=========================  ===============================================================

Points are standardised (``z``) and checked with the Western Electric / Nelson run rules; rates
and counts also get a one-sided CUSUM (binomial / Poisson) toward the adverse direction (both
directions for "range" indicators). Every result is a tidy frame with ``flag`` (the rules that
fired, e.g. ``"rule1,cusum_up"``, empty when none) and ``flag_since`` (the month the run began).

Decisions, documented:

- **Baseline.** Limits come from a baseline (Phase I) and are applied to every month (Phase II).
  ``baseline="auto"`` uses the first 12 months when the series has at least 24 months, else
  all months; a baseline with fewer than 5 events (or 5 non-events) falls back to all months.
- **Overdispersion (Laney).** The dispersion statistic D = Σz_t² of the baseline months (with
  adequate expected counts) is summed over all groups of one indicator and compared with
  χ²(Σ(m−1)) — pooling gives the test power that 12 months of one series lack (person counts
  are overdispersed by construction: the persons of one case arrive and are decided
  together). When P(χ² ≥ ΣD) < ``overdispersion_alpha`` (default 0.01), every series of that
  indicator whose moving-range estimate σ_z = MR̄(z)/1.128 exceeds 1 gets limits widened by
  σ_z (Laney p′/u′; X̄ charts likewise). Underdispersion never narrows them. A single series
  (no other groups) is tested on its own.
- **Small counts.** For p and u charts, rule 1 uses exact predictive probability limits — the
  beta-binomial (p) or negative-binomial (u) quantiles with the tail probability of 3σ,
  Φ(−3) = 0.00135 per side, which include the uncertainty of the baseline estimate — so
  sparse series (a police station with a handful of arrests a month) do not raise false alarms
  from a skewed normal approximation; Laney limits, when wider, take precedence. The zone and
  run rules (2–5) are applied only where the normal approximation holds (expected events and
  non-events ≥ 5 in the month); sparse series are watched by rule 1 and the CUSUM. X̄ charts of
  handling days flag only months with at least ``XBAR_MIN_N`` (20) cases, as means of a few
  skewed durations are far from normal.
- **CUSUM.** Binomial CUSUM on monthly counts, W = k·log(p1/p0) + (n−k)·log((1−p1)/(1−p0)),
  with p0 the baseline rate and p1 the rate at ``cusum_odds_ratio`` (default 2) times the
  odds; Poisson CUSUM for counts at ``cusum_rate_ratio`` (default 1.5). The threshold h gives
  an in-control average run length of ``cusum_arl0`` months (default 400) at the baseline's
  mean monthly volume (Siegmund's approximation); the statistic restarts at 0 after a signal.
  The case-level :func:`bernoulli_cusum` sets h for an ARL in events (Markov chain,
  :func:`cusum_threshold`). When the chart is Laney-adjusted the CUSUM's increments are
  taken as overdispersed by the same σ_z, which raises h accordingly.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis import monitor
>>> months = pd.period_range("2023-01", periods=24, freq="M").strftime("%Y-%m")
>>> k = [10] * 20 + [10, 30, 32, 31]
>>> series = pd.DataFrame({"indicator": "x_rate", "kind": "rate", "direction": "lower_better",
...                        "month": months, "numerator": k, "denominator": [100] * 24})
>>> out = monitor.control_chart(series)
>>> out.loc[out["flag"] != "", ["month", "flag", "flag_since"]].head(2).values.tolist()
[['2024-10', 'rule1,cusum_up', '2024-10'], ['2024-11', 'rule1,rule2,cusum_up', '2024-10']]
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st
from scipy.special import betaln, gammaln

from casework.analysis import cusum as _cusum
from casework.analysis import indicators as _ind
from casework.analysis import panel as _panel
from casework.analysis import periods as _periods
from casework.analysis import signals as _signals

# the case-level CUSUM stays part of the monitor's API; its code is in analysis.cusum
from casework.analysis.cusum import bernoulli_cusum, cusum_arl, cusum_threshold  # noqa: F401
from casework.analysis.stats import safe_ratio
from casework.base.errors import ParameterError, check_choice
from casework.model import journeys as _journeys

#: Tail probability per side equivalent to 3σ.
TAIL = float(_st.norm.sf(3.0))

#: Rule names and their Chinese descriptions (for report tables and 存在问题).
RULES = {
    "rule1": "超出控制限（3σ）",
    "rule2": "连续3点中有2点超出2σ（同侧）",
    "rule3": "连续5点中有4点超出1σ（同侧）",
    "rule4": "连续8点位于中心线同侧",
    "rule5": "连续6点持续上升或下降",
    "cusum_up": "CUSUM 累积上移信号",
    "cusum_down": "CUSUM 累积下移信号",
    "stl": "剔除季节因素后异常",
}

CHARTS = ("auto", "p", "u", "xbar", "xmr", "none")

_OUT_COLS = ["chart", "centre", "lcl", "ucl", "z", "sigma_factor", "phi", "cusum", "flag",
             "flag_since", "side"]


# ---------------------------------------------------------------------------------------------
# Run rules
# ---------------------------------------------------------------------------------------------


def run_rules(z, *, eligible=None, rule1=None) -> pd.DataFrame:
    """Western Electric / Nelson rules on a standardised series ``z``.

    Parameters
    ----------
    z : array-like
        Standardised values (NaN = no point that month; runs pass over it).
    eligible : array-like of bool, optional
        Points where the zone and run rules (2–5) may fire (default: all non-missing).
    rule1 : array-like of bool, optional
        Precomputed rule-1 decisions (e.g. exact probability limits); default |z| > 3.

    Returns
    -------
    DataFrame
        Boolean columns ``rule1`` … ``rule5`` and integer columns ``since_rule1`` …
        ``since_rule5`` (position where the run that fired began), ``side`` (+1 / −1 / 0).

    Notes
    -----
    rule1: one point beyond 3σ; rule2: 2 of 3 consecutive beyond 2σ on one side; rule3: 4 of 5
    beyond 1σ on one side; rule4: 8 consecutive on one side of the centre; rule5: 6 consecutive
    points steadily increasing or decreasing.

    Examples
    --------
    >>> r = run_rules([0.5, -0.2, 0.3, 0.4, 0.6, 0.2, 0.8, 0.9, 1.1, 0.7, 3.4])
    >>> r["rule4"].tolist()[-4:], int(r["since_rule4"].iloc[-1])
    ([False, False, True, True], 2)
    >>> bool(r["rule1"].iloc[-1]), bool(r["rule1"].iloc[0])
    (True, False)
    """
    return pd.DataFrame(_rules_arrays(z, eligible, rule1))


def _rules_arrays(z, eligible, rule1) -> dict:
    z = np.asarray(z, dtype=float)
    T = len(z)
    valid = ~np.isnan(z)
    elig = valid.copy() if eligible is None else (np.asarray(eligible, dtype=bool) & valid)
    if rule1 is None:
        r1 = (np.abs(np.nan_to_num(z)) > 3) & valid
    else:
        r1 = np.asarray(rule1, bool) & valid
    out = {f"rule{i}": np.zeros(T, dtype=bool) for i in range(1, 6)}
    since = {f"rule{i}": np.full(T, -1) for i in range(1, 6)}
    out["rule1"] = r1
    side = np.sign(np.nan_to_num(z)).astype(int)
    # rule1 since: start of consecutive rule-1 points on the same side
    for t in np.flatnonzero(r1):
        s = t
        j = t - 1
        while j >= 0 and (r1[j] or not valid[j]) and (not valid[j] or side[j] == side[t]):
            if valid[j]:
                s = j
            j -= 1
        since["rule1"][t] = s
    idx = np.flatnonzero(elig)  # rules 2-5 skip ineligible/missing months
    ze = z[idx]
    m = len(ze)
    for rule, win, need, lim in (("rule2", 3, 2, 2.0), ("rule3", 5, 4, 1.0)):
        if m < win:
            continue
        for sgn in (1, -1):
            hits = sgn * ze > lim
            w = np.lib.stride_tricks.sliding_window_view(hits, win)
            fire = (w.sum(axis=1) >= need) & hits[win - 1:]
            first = w.argmax(axis=1)
            pos = np.flatnonzero(fire)
            out[rule][idx[pos + win - 1]] = True
            since[rule][idx[pos + win - 1]] = idx[pos + first[pos]]
    # rule4: 8 or more in a row on one side; rule5: 6 or more steadily rising or falling
    zl = ze.tolist()
    run_side, run_start = 0, 0
    trend, trend_start = 0, 0
    for pos in range(m):
        sd = (zl[pos] > 0) - (zl[pos] < 0)
        if sd != run_side or sd == 0:
            run_side, run_start = sd, pos
        if sd != 0 and pos - run_start + 1 >= 8:
            out["rule4"][idx[pos]] = True
            since["rule4"][idx[pos]] = idx[run_start]
        if pos > 0:
            step = (zl[pos] > zl[pos - 1]) - (zl[pos] < zl[pos - 1])
            if step != trend or step == 0:
                trend, trend_start = step, pos - 1
            if step != 0 and pos - trend_start + 1 >= 6:
                out["rule5"][idx[pos]] = True
                since["rule5"][idx[pos]] = idx[trend_start]
    res = dict(out)
    for k, v in since.items():
        res[f"since_{k}"] = v
    res["side"] = side
    return res


# ---------------------------------------------------------------------------------------------
# One series
# ---------------------------------------------------------------------------------------------


#: ``baseline="auto"``: the first this-many months when the series has at least twice as many.
BASELINE_MONTHS = 12


def _baseline_mask(T: int, baseline) -> np.ndarray:
    if isinstance(baseline, str):
        check_choice("baseline", baseline, ["auto", "all"])
        if baseline == "all" or T < 2 * BASELINE_MONTHS:
            return np.ones(T, dtype=bool)
        baseline = BASELINE_MONTHS
    if isinstance(baseline, (int, np.integer)):
        m = np.zeros(T, dtype=bool)
        m[: max(1, min(int(baseline), T))] = True
        return m
    m = np.asarray(baseline, dtype=bool)
    if len(m) != T:
        raise ParameterError("baseline 掩码长度应等于月份数",
                             "baseline mask must have one entry per month")
    return m


#: Months with fewer cases than this get no X̄-chart flags (means of skewed handling days).
XBAR_MIN_N = 20


def chart_for(indicator) -> str:
    """The chart :func:`control_chart` draws for an indicator (code or
    :class:`casework.analysis.indicators.Indicator`) when ``chart="auto"``.

    ``p`` (rates with a binomial denominator), ``u`` (counts per day of the month, events per
    unit of the denominator, ratios of counts such as 诉前羁押率 definition A — their extra
    variance is left to the Laney adjustment), ``xbar`` (means, limits from the within-month
    standard deviation and each month's n), ``none`` (medians and stock counts such as
    在办/上期积存, which are autocorrelated by construction: shown without limits or flags).

    Examples
    --------
    >>> [chart_for(c) for c in ("non_arrest_rate", "accepted_prosecution_review",
    ...                         "prosecution_review_days_mean", "pending_prosecution_review")]
    ['p', 'u', 'xbar', 'none']
    """
    ind = _ind.get(indicator)
    if ind.kind == "rate":
        return "p" if ind.ci == "wilson" else "u"
    if ind.kind == "count":
        if _ind.cohorts()[ind.cohort].type != "date":
            return "none"
        return "u"
    if ind.kind == "mean":
        return "xbar"
    if ind.kind == "median":
        return "none"
    return "u"


def _fallback_chart(kind: str, has_se: bool) -> str:
    return {"rate": "p", "count": "u", "mean": "xbar" if has_se else "xmr",
            "median": "none"}.get(kind, "xmr")


def _empty_res(T: int) -> dict:
    res = {c: np.full(T, np.nan) for c in ("centre", "lcl", "ucl", "z", "cusum", "phi")}
    res["sigma_factor"] = np.ones(T)
    return res


def _betabinom_limits(n, a: float, b: float, tail: float):
    """Lower and upper ``tail`` quantiles of BetaBinomial(n_t, a, b) for each n_t (vectorised
    over the distinct n; scipy's generic discrete ppf is too slow for thousands of series)."""
    n = np.asarray(n, dtype=float)
    lo = np.zeros(len(n))
    hi = np.zeros(len(n))
    for value in np.unique(n):
        m = int(value)
        if m <= 0:
            continue
        k = np.arange(m + 1, dtype=float)
        logpmf = (gammaln(m + 1) - gammaln(k + 1) - gammaln(m - k + 1)
                  + betaln(k + a, m - k + b) - betaln(a, b))
        cdf = np.cumsum(np.exp(logpmf - logpmf.max()))
        cdf /= cdf[-1]
        sel = n == value
        lo[sel] = min(int(np.searchsorted(cdf, tail - 1e-12)), m)
        hi[sel] = min(int(np.searchsorted(cdf, 1 - tail - 1e-12)), m)
    return lo, hi


def _dispersion(zb: np.ndarray) -> tuple[float, float, float, int]:
    """(phi, σ_z, D, df) from baseline z-values: D = Σz², df = m − 1, σ_z = MR̄(z)/1.128."""
    if len(zb) < 3:
        return np.nan, 1.0, 0.0, 0
    D = float((zb ** 2).sum())
    df = len(zb) - 1
    sz = float(np.abs(np.diff(zb)).mean() / 1.128)
    return D / df, sz, D, df


def _laney_factor(disp, od_alpha: float, overdispersed) -> float:
    """σ_z when overdispersion is established (by the pooled test passed in, else by this
    series' own χ² test) and σ_z > 1; else 1."""
    phi, sz, D, df = disp
    if overdispersed is None:
        overdispersed = df >= 7 and float(_st.chi2.sf(D, df)) < od_alpha
    return sz if (overdispersed and sz > 1) else 1.0


def _series_chart(k, n, value, se, *, chart: str, per_unit: bool, baseline, direction: str,
                  sigma: float, od_alpha: float, cusum: bool, odds_ratio: float,
                  rate_ratio: float, arl0: float, rules: tuple[str, ...],
                  overdispersed=None, dispersion_only: bool = False):
    T = len(value)
    base = _baseline_mask(T, baseline)
    if dispersion_only and chart not in ("p", "u", "xbar"):
        return (np.nan, 1.0, 0.0, 0)
    res = _empty_res(T)
    res["chart"] = chart
    tail = float(_st.norm.sf(sigma))
    r1 = elig = z = None
    cus_up = cus_dn = None
    if chart in ("p", "u"):
        valid = (n > 0) & ~np.isnan(k)
        b = base & valid
        kb, nb = k[b].sum(), n[b].sum()
        if b.sum() == 0 or kb < 5 or (chart == "p" and nb - kb < 5):
            b = valid
            kb, nb = k[b].sum(), n[b].sum()
        if nb <= 0:
            if dispersion_only:
                return (np.nan, 1.0, 0.0, 0)
            return _finish(res, T, None, None, None, None, None, sigma, rules)
        c = kb / nb
        nn = np.where(valid, n, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            x = np.where(valid, k / np.where(n > 0, n, 1), np.nan)
            if chart == "p":
                sd = np.sqrt(c * (1 - c) / n)
                adequate = (n * c >= 5) & (n * (1 - c) >= 5)
            else:
                sd = np.sqrt(c / n)
                adequate = n * c >= 5
            z = np.where(valid & (sd > 0), (x - c) / sd, np.nan)
        zb = z[b & adequate & ~np.isnan(z)]
        disp = _dispersion(zb) if (b & adequate).sum() * 2 >= b.sum() else (np.nan, 1.0, 0.0, 0)
        if dispersion_only:
            return disp
        phi = disp[0]
        factor = _laney_factor(disp, od_alpha, overdispersed)
        res["phi"][:] = phi
        res["sigma_factor"][:] = factor
        # exact predictive limits (baseline estimation error included), in events
        if chart == "p":
            lo_k, hi_k = _betabinom_limits(nn, kb + 0.5, nb - kb + 0.5, tail)
        else:
            pp = nb / (nb + nn)
            hi_k = _st.nbinom.ppf(1 - tail, kb + 0.5, pp)
            lo_k = _st.nbinom.ppf(tail, kb + 0.5, pp)
        if factor > 1:  # Laney p′/u′: widen, never narrow
            hi_k = np.maximum(hi_k, (c + sigma * sd * factor) * nn)
            lo_k = np.minimum(lo_k, np.maximum((c - sigma * sd * factor) * nn, 0))
            res["chart"] = "laney_" + chart
        scale = np.where(nn > 0, nn, np.nan) if per_unit else np.ones(T)
        res["centre"] = np.where(valid, c * (1 if per_unit else nn), np.nan)
        res["ucl"] = np.where(valid, hi_k / scale, np.nan)
        res["lcl"] = np.where(valid, lo_k / scale, np.nan)
        z = z / factor
        r1 = valid & ((k > hi_k) | (k < lo_k))
        elig = valid & adequate
        if cusum:
            nbar = float(np.mean(n[b]))
            if chart == "p" and 0 < c < 1:
                odds = c / (1 - c)
                p_up = odds * odds_ratio / (1 + odds * odds_ratio)
                p_dn = (odds / odds_ratio) / (1 + odds / odds_ratio)
                if direction in ("lower_better", "range"):
                    h = _cusum.monthly_binomial_threshold(c, p_up, nbar, arl0, factor)
                    cus_up = _cusum.monthly_binomial_cusum(k, n, c, p_up, h)
                if direction in ("higher_better", "range"):
                    h = _cusum.monthly_binomial_threshold(c, p_dn, nbar, arl0, factor)
                    cus_dn = _cusum.monthly_binomial_cusum(k, n, c, p_dn, h)
            elif chart == "u" and c > 0:
                if direction in ("lower_better", "range"):
                    h = _cusum.monthly_poisson_threshold(c, c * rate_ratio, nbar, arl0, factor)
                    cus_up = _cusum.monthly_poisson_cusum(k, n, c, c * rate_ratio, h)
                if direction in ("higher_better", "range"):
                    h = _cusum.monthly_poisson_threshold(c, c / rate_ratio, nbar, arl0, factor)
                    cus_dn = _cusum.monthly_poisson_cusum(k, n, c, c / rate_ratio, h)
    elif chart == "xbar":
        x = value.astype(float)
        valid = ~np.isnan(x) & (n > 0)
        b = base & valid
        if b.sum() < 3:
            b = valid
        s_t = se * np.sqrt(np.where(n > 0, n, np.nan))
        use = b & (n > 1) & np.isfinite(s_t)
        if b.sum() < 2 or use.sum() == 0:
            if dispersion_only:
                return (np.nan, 1.0, 0.0, 0)
            return _finish(res, T, None, None, None, None, None, sigma, rules)
        centre = float((x[b] * n[b]).sum() / n[b].sum())
        s = float(np.sqrt(((n[use] - 1) * s_t[use] ** 2).sum() / (n[use] - 1).sum()))
        with np.errstate(invalid="ignore", divide="ignore"):
            sd = s / np.sqrt(n)
            z = np.where(valid & (sd > 0), (x - centre) / sd, np.nan)
        adequate = n >= XBAR_MIN_N
        disp = _dispersion(z[b & adequate & ~np.isnan(z)])
        if dispersion_only:
            return disp
        phi = disp[0]
        factor = _laney_factor(disp, od_alpha, overdispersed)
        res["phi"][:] = phi
        res["sigma_factor"][:] = factor
        if factor > 1:
            res["chart"] = "laney_xbar"
        res["centre"] = np.where(valid, centre, np.nan)
        res["ucl"] = np.where(valid, centre + sigma * sd * factor, np.nan)
        res["lcl"] = np.where(valid, centre - sigma * sd * factor, np.nan)
        z = z / factor
        elig = valid & adequate
        r1 = elig & (np.abs(np.nan_to_num(z)) > sigma)
    elif chart == "xmr":
        x = value.astype(float)
        valid = ~np.isnan(x)
        b = base & valid
        if b.sum() < 3:
            b = valid
        if b.sum() < 2:
            return _finish(res, T, None, None, None, None, None, sigma, rules)
        xb = x[b]
        centre = float(xb.mean())
        s = float(np.abs(np.diff(xb)).mean() / 1.128)
        res["centre"] = np.where(valid, centre, np.nan)
        res["lcl"] = np.where(valid, centre - sigma * s, np.nan)
        res["ucl"] = np.where(valid, centre + sigma * s, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            z = np.where(valid & (s > 0), (x - centre) / s, np.nan)
        elig = valid
        r1 = valid & (np.abs(np.nan_to_num(z)) > sigma)
    else:  # none: a run chart, centre only
        x = value.astype(float)
        valid = ~np.isnan(x)
        b = base & valid
        if b.sum() == 0:
            b = valid
        if b.sum():
            res["centre"] = np.where(valid, float(np.median(x[b])), np.nan)
        return _finish(res, T, None, None, None, None, None, sigma, rules)
    res["z"] = z
    return _finish(res, T, z, r1, elig, cus_up, cus_dn, sigma, rules)


def _finish(res, T, z, r1, elig, cus_up, cus_dn, sigma, rules):
    flags = [[] for _ in range(T)]
    since = np.full(T, -1)
    side = np.zeros(T, dtype=int)
    if z is not None:
        zz = z * (3.0 / sigma)  # the zone rules are stated on the 3σ scale
        rr = _rules_arrays(zz, elig, r1)
        for rule in ("rule1", "rule2", "rule3", "rule4", "rule5"):
            if rule not in rules:
                continue
            for t in np.flatnonzero(rr[rule]):
                flags[t].append(rule)
                st = int(rr["since_" + rule][t])
                since[t] = st if since[t] < 0 else min(since[t], st)
                side[t] = int(rr["side"][t])
    cs = np.full(T, np.nan)
    for name, out, sgn in (("cusum_up", cus_up, 1), ("cusum_down", cus_dn, -1)):
        if out is None:
            continue
        s, sig, start = out
        if sgn > 0 or np.all(np.isnan(cs)):
            cs = s
        for t in np.flatnonzero(sig):
            flags[t].append(name)
            st = int(start[t]) if start[t] >= 0 else t
            since[t] = st if since[t] < 0 else min(since[t], st)
            if side[t] == 0:
                side[t] = sgn
    res["cusum"] = cs
    res["flag"] = [",".join(f) for f in flags]
    res["_since_idx"] = since
    res["side"] = side
    return res


# ---------------------------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------------------------

_STANDARD = {"indicator", "name_zh", "kind", "count_unit", "unit_zh", "direction", "month",
             "month_start", "numerator", "denominator", "value", "value_ci_lower",
             "value_ci_upper", "value_se", "ci"}


def keys_of(df: pd.DataFrame) -> list[str]:
    """Group-key columns of a monthly frame: every column that is neither a standard column of
    :func:`casework.analysis.panel.monthly` nor one :func:`control_chart` adds.

    Examples
    --------
    >>> keys_of(pd.DataFrame(columns=["unit_code", "indicator", "month", "value", "flag"]))
    ['unit_code']
    """
    return [c for c in df.columns if c not in _STANDARD and c not in _OUT_COLS]


def control_chart(monthly: pd.DataFrame, *, chart: str = "auto", baseline="auto",
                  sigma: float = 3.0, overdispersion_alpha: float = 0.01, cusum: bool = True,
                  cusum_odds_ratio: float = 2.0, cusum_rate_ratio: float = 1.5,
                  cusum_arl0: float = 400.0,
                  rules=("rule1", "rule2", "rule3", "rule4", "rule5")) -> pd.DataFrame:
    """Control limits, run rules and CUSUM for every series of a monthly frame.

    Parameters
    ----------
    monthly : DataFrame
        Output of :func:`casework.analysis.panel.monthly` (or any frame with ``indicator``,
        ``month`` and ``numerator``/``denominator`` or ``value``; optional ``kind``, ``direction``,
        ``value_se``; other non-standard columns are group keys).
    chart : {"auto", "p", "u", "xbar", "xmr", "none"}
        ``auto`` picks by indicator (:func:`chart_for`).
    baseline : "auto", "all", int or boolean mask
        Months used to estimate the centre and limits.
    sigma : float
        Width of the limits in standard deviations (3 = the 3σ rule).
    overdispersion_alpha : float
        Level of the χ² dispersion test that switches to Laney p′/u′ (and widens X̄ limits).
    cusum : bool
        Also run the one-sided CUSUMs (rates and counts).
    cusum_odds_ratio, cusum_rate_ratio, cusum_arl0 : float
        Shift the CUSUMs are tuned to detect, and their in-control ARL in months.
    rules : sequence
        Which run rules to apply (subset of ``rule1`` … ``rule5``).

    Returns
    -------
    DataFrame
        The input columns plus ``chart`` (``p``, ``laney_p``, ``u``, ``laney_u``, ``xbar``,
        ``laney_xbar``, ``xmr``, ``none``), ``centre``, ``lcl``, ``ucl`` (in the value's units;
        counts in events per month), ``z`` (standardised, Laney-adjusted), ``sigma_factor``
        (σ_z, 1 when not adjusted), ``phi`` (baseline dispersion D/(m−1)), ``cusum``
        (statistic), ``flag`` (comma-joined rules, "" when none), ``flag_since`` (month code
        the run began, NA when no flag) and ``side`` (+1 above / −1 below the centre).
    """
    check_choice("chart", chart, CHARTS)
    for r in rules:
        check_choice("rules", r, [k for k in RULES if k.startswith("rule")])
    if "value" not in monthly.columns and {"numerator", "denominator"} <= set(monthly.columns):
        monthly = monthly.assign(value=safe_ratio(monthly["numerator"], monthly["denominator"]))
    need = {"indicator", "month", "value"}
    if not need <= set(monthly.columns):
        raise ParameterError("月度数据缺少列：indicator, month, value",
                             "monthly frame needs indicator, month and value columns")
    if monthly.empty:
        return monthly.assign(**{c: pd.Series(dtype="float64") for c in _OUT_COLS})
    keys = keys_of(monthly)
    df = monthly.sort_values([*keys, "indicator", "month"], kind="stable").reset_index(drop=True)
    N = len(df)

    def num(col, default=np.nan):
        if col not in df.columns:
            return np.full(N, default)
        return pd.to_numeric(df[col], errors="coerce").to_numpy(dtype=float, na_value=np.nan)

    K, D, V, SE = num("numerator"), num("denominator"), num("value"), num("value_se")
    kinds = df["kind"].astype(str).to_numpy() if "kind" in df.columns else np.full(N, "rate")
    dirs = (df["direction"].astype(str).to_numpy() if "direction" in df.columns
            else np.full(N, "range"))
    month_codes = df["month"].astype(str).to_numpy()
    days = {m: _periods.parse(m).n_days for m in set(month_codes)}
    DAYS = np.array([days[m] for m in month_codes], dtype=float)
    reg = _ind.registry()
    out = {c: np.full(N, np.nan) for c in ("centre", "lcl", "ucl", "z", "sigma_factor", "phi",
                                           "cusum")}
    out_chart = np.empty(N, dtype=object)
    out_flag = np.empty(N, dtype=object)
    out_since = np.empty(N, dtype=object)
    out_side = np.zeros(N, dtype=int)
    groups = df.groupby([*keys, "indicator"], sort=False, dropna=False).indices
    plan = []
    for gkey, idx in groups.items():
        code = gkey[-1] if isinstance(gkey, tuple) else gkey
        kind = kinds[idx[0]]
        if chart != "auto":
            which = chart
        elif code in reg:
            which = chart_for(reg[code])
        else:
            which = _fallback_chart(kind, bool(np.isfinite(SE[idx]).any()))
        per_unit = not (which == "u" and kind == "count")
        n = DAYS[idx] if (which == "u" and kind == "count") else D[idx]
        plan.append((code, idx, which, per_unit, n))
    common = dict(baseline=baseline, sigma=sigma, od_alpha=overdispersion_alpha, cusum=cusum,
                  odds_ratio=cusum_odds_ratio, rate_ratio=cusum_rate_ratio, arl0=cusum_arl0,
                  rules=tuple(rules))
    # pass 1: the dispersion test is pooled over all groups of one indicator (Σ D on Σ df)
    pooled: dict[str, list[float]] = {}
    for code, idx, which, per_unit, n in plan:
        d = _series_chart(K[idx], n, V[idx], SE[idx], chart=which, per_unit=per_unit,
                          direction=dirs[idx[0]], dispersion_only=True, **common)
        acc = pooled.setdefault(code, [0.0, 0])
        acc[0] += d[2]
        acc[1] += d[3]
    verdict = {code: (df_ >= 7 and float(_st.chi2.sf(D_, df_)) < overdispersion_alpha)
               for code, (D_, df_) in pooled.items()}
    for code, idx, which, per_unit, n in plan:
        res = _series_chart(K[idx], n, V[idx], SE[idx], chart=which, per_unit=per_unit,
                            direction=dirs[idx[0]], overdispersed=verdict[code], **common)
        for c in out:
            out[c][idx] = res[c]
        out_chart[idx] = res["chart"]
        out_flag[idx] = res["flag"]
        out_side[idx] = res["side"]
        months = month_codes[idx]
        out_since[idx] = [months[i] if i >= 0 else None for i in res["_since_idx"]]
    result = df.copy()
    result["chart"] = out_chart
    for c in ("centre", "lcl", "ucl", "z", "sigma_factor", "phi", "cusum"):
        result[c] = out[c]
    result["flag"] = out_flag
    result["flag_since"] = pd.array(out_since, dtype="string")
    result["side"] = out_side
    return result


def scan(records, *, indicators, by=(), end, months: int = 24, journeys=None,
         count_unit: str = "case", **chart_options) -> pd.DataFrame:
    """Monthly series for ``months`` months ending ``end``, charted (:func:`control_chart`).

    Counting is in 件 (``count_unit="case"``) by default wherever the indicator allows it: the
    persons of one case arrive and are decided together, so person counts and person rates are
    overdispersed at the source and a sparse series (one police station, one charge) would
    raise false alarms whenever a multi-person case moves. Pass ``count_unit="person"`` to
    chart 人 (the Laney adjustment then absorbs what it can on the larger series).

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"unit_code": "U1", "stage": "arrest_review",
    ...     "dept_case_no": [f"A{i}" for i in range(40)], "person_id": "P",
    ...     "accepted_on": pd.date_range("2023-01-05", periods=40, freq="14D"),
    ...     "closed_on": pd.date_range("2023-01-10", periods=40, freq="14D"),
    ...     "decision": "arrest_approved"})
    >>> out = scan(recs, indicators="closed_arrest_review", end="2024-06", months=18)
    >>> len(out), out["chart"].iloc[0]
    (18, 'u')
    """
    end_p = _periods.parse(end)
    ms = _periods.trailing_months(end_p, months)
    m = _panel.monthly(records, indicators=indicators, by=by, start=ms[0], end=ms[-1],
                       journeys=journeys, count_unit=count_unit)
    return control_chart(m, **chart_options)


def flags(charted: pd.DataFrame, *, since=None) -> pd.DataFrame:
    """One row per flagged episode: group keys, indicator, first and last flagged month,
    ``flag_since``, the rules that fired (``rules``, ``rules_zh``), ``side``, whether the
    move is adverse for the indicator's direction (``adverse``, with ``direction``), the
    ``count_unit`` of the series and its ``last_value``.

    ``since`` (a month code or Period) keeps episodes whose last flagged month is at or after
    it (e.g. the report month).

    Examples
    --------
    >>> import pandas as pd
    >>> ch = pd.DataFrame({"indicator": "x", "direction": "lower_better",
    ...     "month": ["2024-01", "2024-02", "2024-03"], "flag": ["", "rule1", "rule1,cusum_up"],
    ...     "flag_since": [None, "2024-02", "2024-02"], "side": [0, 1, 1], "value": [1, 5, 6]})
    >>> flags(ch)[["indicator", "flag_since", "last_month", "rules", "adverse"]].values.tolist()
    [['x', '2024-02', '2024-03', 'rule1,cusum_up', True]]
    """
    cols = ["indicator", "flag_since", "first_month", "last_month", "months_flagged", "rules",
            "rules_zh", "side", "adverse", "direction", "count_unit", "last_value"]
    if charted.empty or not (charted["flag"].astype(str) != "").any():
        keys = keys_of(charted.drop(columns=[c for c in _OUT_COLS if c in charted.columns]))
        return pd.DataFrame(columns=[*keys, *cols])
    base_cols = [c for c in charted.columns if c not in _OUT_COLS]
    keys = keys_of(charted[base_cols])
    hit = charted[charted["flag"].astype(str) != ""].copy()
    hit["flag_since"] = hit["flag_since"].astype("string").fillna(hit["month"].astype("string"))
    rows = []
    for _, series in hit.groupby([*keys, "indicator"], sort=False, dropna=False):
        series = series.sort_values("month")
        # episodes: a flagged month whose run began no later than the month after the last
        # flagged month continues the episode (a CUSUM restart or a one-month gap)
        episode, last = [], None
        episodes = []
        for _, row in series.iterrows():
            start_idx = _month_no(row["flag_since"])
            if last is not None and start_idx > last + 1 and _month_no(row["month"]) > last + 1:
                episodes.append(episode)
                episode = []
            episode.append(row)
            last = _month_no(row["month"])
        episodes.append(episode)
        for ep in episodes:
            g = pd.DataFrame(ep)
            rules = sorted({r for f in g["flag"] for r in str(f).split(",") if r},
                           key=list(RULES).index)
            side = int(np.sign(g["side"].astype(float).sum())) or int(g["side"].iloc[-1])
            direction = str(g["direction"].iloc[0]) if "direction" in g.columns else "range"
            adverse = ((side > 0 and direction == "lower_better")
                       or (side < 0 and direction == "higher_better"))
            row = {k: g[k].iloc[0] for k in keys}
            row.update(indicator=g["indicator"].iloc[0], flag_since=str(min(g["flag_since"])),
                       first_month=str(g["month"].iloc[0]), last_month=str(g["month"].iloc[-1]),
                       months_flagged=len(g), rules=",".join(rules),
                       rules_zh="；".join(RULES[r] for r in rules), side=side,
                       adverse=bool(adverse), direction=direction,
                       count_unit=(str(g["count_unit"].iloc[0]) if "count_unit" in g.columns
                                   else None),
                       last_value=g["value"].iloc[-1])
            rows.append(row)
    out = pd.DataFrame(rows)
    if since is not None:
        cut = _periods.parse(since).months()[0].code
        out = out[out["last_month"] >= cut]
    return out.sort_values(["last_month", "indicator"],
                           ascending=[False, True]).reset_index(drop=True)


def _month_no(code) -> int:
    p = _periods.parse(str(code))
    return p.start.year * 12 + p.start.month - 1


# ---------------------------------------------------------------------------------------------
# The periodic overview: trends and flags across groupings
# ---------------------------------------------------------------------------------------------

#: Indicators whose 24-month trends the periodic overview charts by default.
TRENDS = ("accepted_prosecution_review", "non_arrest_rate", "non_prosecution_rate",
          "post_arrest_bail_rate", "plea_leniency_rate", "prosecution_review_days_mean")

#: Groupings the overview's monitor scans: entity type
#: (:data:`casework.analysis.signals.GROUPINGS`) → 维度. Departments are keyed by unit and
#: department, stations by agency and station.
GROUPINGS = {"unit": "单位", "department": "承办部门", "charge_group": "罪名类别",
             "agency": "侦查机关", "station": "派出所"}

#: Column names accepted for the entity types of :data:`GROUPINGS` (older calls).
GROUPING_ALIASES = {"unit_code": "unit", "referring_agency": "agency",
                    "police_station": "station"}


def _mask_immature(monthly: pd.DataFrame, last_month) -> pd.DataFrame:
    """Leave out the months after ``last_month`` and, for indicators with a follow-up lag,
    the months whose cohorts are not yet mature (values set to NaN: no point, no flag)."""
    if last_month is None or monthly.empty:
        return monthly
    last = _periods.parse(last_month).months()[-1]
    cut = {code: last.shift(-_ind.get(code).follow_up_months).code
           for code in monthly["indicator"].unique() if code in _ind.registry()}
    stop = monthly["indicator"].map(cut).fillna(last.code)
    late = monthly["month"].astype(str) > stop.astype(str)
    if not late.any():
        return monthly
    out = monthly.copy()
    for c in ("numerator", "denominator", "value", "value_ci_lower", "value_ci_upper",
              "value_se"):
        if c in out.columns:
            out.loc[late, c] = np.nan
    return out


def watch(records, *, end, indicators=TRENDS, groupings=tuple(GROUPINGS), months: int = 24,
          journeys=None, count_unit: str = "case", last_month=None, **chart_options) -> dict:
    """Charts and flags for a report: the total series and every grouping, in one call.

    Parameters
    ----------
    records, journeys, count_unit, chart_options
        As in :func:`scan`.
    end : str or Period
        Last month shown (the report period's last month).
    indicators : codes
        Indicators to chart and scan.
    groupings : sequence of entity types
        Keys of :data:`GROUPINGS` (or the column names of :data:`GROUPING_ALIASES`), each
        scanned on its own, grouped by :data:`casework.analysis.signals.GROUPINGS` — a
        department within its unit, a station within its agency — and named in full;
        groupings with a single entity in the data are skipped.
    months : int
        Length of the series (default 24).
    last_month : str or Period, optional
        Last month with data: the series end there when ``end`` is later (trailing months
        without data are left out), and the immature months of lagged cohort rates
        (``follow_up_months``) are left out too.

    Returns
    -------
    dict
        ``trends``: :func:`control_chart` rows of the total series; ``trend_data``: the same
        reduced to the columns a reader needs beside the chart; ``flags``: episodes
        (:func:`flags`) of the total and of every grouping, with ``dimension`` (维度, Chinese)
        and ``group`` (the entity's full name) columns, most recent first; ``scanned``: the
        groupings scanned.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({"unit_code": "U1", "stage": "arrest_review", "department": "一部",
    ...     "dept_case_no": [f"A{i}" for i in range(30)], "person_id": "P",
    ...     "accepted_on": pd.date_range("2023-01-05", periods=30, freq="20D"),
    ...     "closed_on": pd.date_range("2023-01-10", periods=30, freq="20D"),
    ...     "decision": "arrest_approved"})
    >>> w = watch(recs, end="2024-06", indicators=["closed_arrest_review"], months=18)
    >>> len(w["trends"]), w["scanned"]
    (18, [])
    >>> w = watch(recs, end="2024-12", indicators=["closed_arrest_review"], months=18,
    ...           last_month="2024-08")
    >>> w["trends"]["month"].iloc[-1]
    '2024-08'
    """
    end_p = _periods.parse(end).months()[-1]
    if last_month is not None:
        end_p = min(end_p, _periods.parse(last_month).months()[-1], key=lambda p: p.start)
    ms = _periods.trailing_months(end_p, months)
    kw = dict(indicators=indicators, start=ms[0], end=ms[-1], journeys=journeys,
              count_unit=count_unit)
    if journeys is None and not isinstance(records, (str,)) and hasattr(records, "columns"):
        if any(_ind.get(c).table == "journeys" for c in _ind.resolve(indicators)):
            kw["journeys"] = _journeys.build(records)

    def charted(by=()):
        return control_chart(_mask_immature(_panel.monthly(records, by=by, **kw), last_month),
                             **chart_options)

    total = charted()
    episodes = [flags(total).assign(dimension="总体", group="总体")]
    scanned = []
    cols = list(records.columns) if hasattr(records, "columns") else []
    names = None
    if {"unit_code", "unit_name"} <= set(cols):
        u = records[["unit_code", "unit_name"]].dropna().drop_duplicates("unit_code")
        names = dict(zip(u["unit_code"].astype(str), u["unit_name"].astype(str), strict=True))
    for key in groupings:
        etype = GROUPING_ALIASES.get(key, key)
        keys = list(_signals.GROUPINGS[etype])
        present = [k for k in keys if k in cols or (k == "charge_group" and "charge" in cols)]
        if cols and len(present) < len(keys):
            continue
        if cols and keys and all(k in cols for k in keys) and len(
                records[keys].drop_duplicates()) < 2:
            continue
        f = flags(charted(keys))
        if len(f):
            f = f.assign(dimension=GROUPINGS.get(etype, etype),
                         group=_signals.entity_labels(f, etype, unit_names=names)["entity_name"])
            f = f.drop(columns=[k for k in keys if k in f.columns])
        episodes.append(f)
        scanned.append(key)
    fl = pd.concat([e for e in episodes if len(e)], ignore_index=True) if any(
        len(e) for e in episodes) else flags(total).assign(dimension=pd.Series(dtype="string"),
                                                         group=pd.Series(dtype="string"))
    if len(fl):
        fl = fl.sort_values(["last_month", "adverse", "months_flagged"],
                            ascending=[False, False, False], kind="stable").reset_index(drop=True)
    data = total[[c for c in ("name_zh", "month", "numerator", "denominator", "value",
                              "chart", "centre", "lcl", "ucl", "flag", "flag_since")
                  if c in total.columns]]
    return {"trends": total, "trend_data": data, "flags": fl, "scanned": scanned}


def recent_start(period, months: int = 3) -> str:
    """First month of the window in which a flag still counts as 本期问题: the period's first
    month, or ``months`` months back from its last month when that is earlier.

    Examples
    --------
    >>> recent_start("2024-12", 3), recent_start("2024-Q4", 1), recent_start("2024", 3)
    ('2024-10', '2024-10', '2024-01')
    """
    p = _periods.parse(period)
    back = _periods.trailing_months(p, max(1, int(months)))[0]
    first = p.months()[0]
    return min(first.code, back.code)
