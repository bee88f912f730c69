"""Funnel plots and overdispersion: how far a group sits from the target given its size.

Since 2024-10 the Supreme People's Procuratorate no longer ranks regions: every function here
*explains* differences rather than ordering groups. Methods follow ``reference/domain.md`` §4
(Spiegelhalter 2005, Stat Med 24: 1185–1202, doi:10.1002/sim.1970; the FunnelPlotR package is
the reference implementation of the overdispersion adjustment).

Frames in, tidy frames out: :func:`funnel` (proportions), :func:`ratio_funnel` (O/E),
:func:`normal_funnel` (an estimate with a known standard error), :func:`funnel_limits` (the
curves for drawing), :func:`overdispersion_estimates`, :func:`shrink` (beta-binomial
shrinkage and rank intervals). Case-mix adjustment and the comparison of registry indicators
live in :mod:`casework.analysis.casemix`; charts in :mod:`casework.present.comparison_charts`.

Overdispersion under exact limits: φ̂ is estimated from the z of the limits in use — the
normal deviate of the exact mid-P tail probability where exact limits apply, Spiegelhalter's
transformed-scale z where the normal approximation applies (``method="normal"`` and large n).
At small counts the log/arcsine z is skewed (O = 1 against E = 5 gives z ≈ −3 on the log
scale) and would inflate φ̂ and τ̂²; the mid-P z keeps them honest. With ``method="normal"``
the estimates are exactly Spiegelhalter's.

Examples
--------
>>> import pandas as pd
>>> d = pd.DataFrame({"department": ["第一检察部", "第二检察部", "第三检察部"],
...                   "numerator": [45, 90, 60], "denominator": [400, 400, 400]})
>>> f = funnel(d, by="department")
>>> f[["department", "flag", "flag_direction"]].to_numpy().tolist()
[['第一检察部', 'alert', 'low'], ['第三检察部', '', ''], ['第二检察部', 'alarm', 'high']]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis.stats import safe_ratio, wilson_interval
from casework.base.checks import as_keys, require_columns
from casework.base.errors import DataError, ParameterError, check_choice

#: Two-sided 95 % and 99.8 % standard-normal points (alert and alarm).
Z95 = float(_st.norm.ppf(0.975))
Z998 = float(_st.norm.ppf(0.999))

#: ``method="normal"`` uses the normal approximation p0 ± z·√(p0(1−p0)/n) only where the
#: binomial variance n·p0·(1−p0) is at least this (the binomial standard deviation is then ≥ 3
#: events, the usual rule of thumb for the normal approximation); smaller groups keep the exact
#: limits. For ratios the same rule applies to the expected count E (Poisson variance).
NORMAL_MIN_VARIANCE = 9.0

#: Default floor: groups with fewer cases are shown but never flagged and never ranked.
DEFAULT_MIN_N = 10

#: Winsorisation used to estimate overdispersion (10 % / 90 %, Spiegelhalter 2005 §4.2).
WINSOR = 0.10

#: Overdispersion is estimated only from at least this many eligible groups.
MIN_GROUPS_OD = 5

#: Correlations between indicators across fewer groups than this carry a caution.
MIN_GROUPS_RELATIONS = 10


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def to_float(series) -> np.ndarray:
    """A column as a float ndarray with NaN for missing values.

    Examples
    --------
    >>> to_float(["1", None, 2.5]).tolist()
    [1.0, nan, 2.5]
    """
    return pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(dtype="float64",
                                                                       na_value=np.nan)


def _aggregate(data, keys, cols) -> pd.DataFrame:
    """Sum ``cols`` per ``keys`` (a no-op on frames that already have one row per group)."""
    if not keys:
        raise ParameterError("必须给出分组列 by", "by (the grouping columns) is required")
    require_columns(data, keys + list(cols), "对比数据")
    frame = data[keys + list(cols)].copy()
    for c in cols:
        frame[c] = to_float(frame[c])
    out = frame.groupby(keys, dropna=False, sort=True, observed=True)[list(cols)].sum(min_count=1)
    return out.reset_index()



def binomial_exact_limit(n, p0, prob):
    """Spiegelhalter's interpolated exact binomial control limit.

    ``r`` is the smallest count with ``F(r) ≥ prob`` under Binomial(n, p0); the limit is
    ``(r − a)/n`` with ``a = (F(r) − prob)/(F(r) − F(r−1))``, which makes the limits a smooth
    function of ``n`` (Spiegelhalter 2005, appendix A.1.1).

    Examples
    --------
    >>> round(float(binomial_exact_limit(20, 0.5, 0.975)), 4)  # r = 14, a = 0.116
    0.6942
    """
    n = np.asarray(n, dtype="float64")
    p0 = np.broadcast_to(np.asarray(p0, dtype="float64"), n.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = _st.binom.ppf(prob, n, p0)
        f_r = _st.binom.cdf(r, n, p0)
        f_rm1 = _st.binom.cdf(r - 1, n, p0)
        gap = f_r - f_rm1
        a = np.where(gap > 0, (f_r - prob) / np.where(gap > 0, gap, 1), 0.0)
        lim = np.where(n > 0, (r - a) / n, np.nan)
    return np.clip(lim, 0.0, 1.0)


def poisson_exact_limit(expected, prob):
    """Interpolated exact Poisson control limit for a ratio O/E with O ~ Poisson(E).

    Examples
    --------
    >>> round(float(poisson_exact_limit(10, 0.975)), 4)  # r = 17, a = 0.843
    1.616
    """
    e = np.asarray(expected, dtype="float64")
    with np.errstate(invalid="ignore", divide="ignore"):
        r = _st.poisson.ppf(prob, e)
        f_r = _st.poisson.cdf(r, e)
        f_rm1 = _st.poisson.cdf(r - 1, e)
        gap = f_r - f_rm1
        a = np.where(gap > 0, (f_r - prob) / np.where(gap > 0, gap, 1), 0.0)
        lim = np.where(e > 0, (r - a) / e, np.nan)
    return np.clip(lim, 0.0, None)


def _garwood(o, e, level=0.95):
    """Exact (Garwood) interval for O/E with O ~ Poisson."""
    o = np.asarray(o, dtype="float64")
    e = np.asarray(e, dtype="float64")
    a = 1 - level
    with np.errstate(invalid="ignore", divide="ignore"):
        lo = np.where(o > 0, _st.chi2.ppf(a / 2, 2 * o) / 2, 0.0)
        hi = _st.chi2.ppf(1 - a / 2, 2 * (o + 1)) / 2
        return np.where(e > 0, lo / e, np.nan), np.where(e > 0, hi / e, np.nan)


def overdispersion_estimates(z, s, *, winsor: float = WINSOR) -> dict:
    """Spiegelhalter's overdispersion estimates from z-scores ``z`` with standard errors ``s``.

    z is winsorised at the ``winsor`` and ``1 − winsor`` quantiles (numpy's default linear
    quantile, R's type 7 as in FunnelPlotR); φ̂ = mean of the squared winsorised z;
    under no overdispersion I·φ̂ ~ χ²(I−1); τ̂² = max(0, (I·φ̂ − (I−1)) / (Σw − Σw²/Σw)),
    w = 1/s² (DerSimonian–Laird on the transformed scale).

    Returns
    -------
    dict with ``groups`` (I), ``phi``, ``tau2``, ``statistic`` (I·φ̂), ``p_value``,
    ``overdispersed`` (p < 0.05). NaN when fewer than :data:`MIN_GROUPS_OD` groups.

    Examples
    --------
    >>> od = overdispersion_estimates([0.0, 1.0, -1.0, 2.0, -2.0], [0.1] * 5)
    >>> round(od["phi"], 3)  # z clipped to ±1.6: (0 + 1 + 1 + 2.56 + 2.56) / 5
    1.424
    """
    z = np.asarray(z, dtype="float64")
    s = np.asarray(s, dtype="float64")
    ok = np.isfinite(z) & np.isfinite(s) & (s > 0)
    z, s = z[ok], s[ok]
    n_groups = int(len(z))
    out = {"groups": n_groups, "phi": np.nan, "tau2": np.nan, "statistic": np.nan,
           "p_value": np.nan, "overdispersed": False}
    if n_groups < MIN_GROUPS_OD:
        return out
    lo, hi = np.quantile(z, [winsor, 1 - winsor])
    zw = np.clip(z, lo, hi)
    phi = float(np.mean(zw**2))
    stat = n_groups * phi
    w = 1 / s**2
    denom = w.sum() - (w**2).sum() / w.sum()
    tau2 = max(0.0, (stat - (n_groups - 1)) / denom) if denom > 0 else 0.0
    p = float(_st.chi2.sf(stat, n_groups - 1))
    out.update(phi=phi, tau2=float(tau2), statistic=float(stat), p_value=p, overdispersed=p < 0.05)
    return out


# ---------------------------------------------------------------------------------------------
# funnel core (shared by proportions and ratios)
# ---------------------------------------------------------------------------------------------


def _flags_from(value, lo95, hi95, lo998, hi998, eligible):
    flag = np.full(len(value), "", dtype=object)
    direction = np.full(len(value), "", dtype=object)
    with np.errstate(invalid="ignore"):
        high998 = value > hi998
        low998 = value < lo998
        high95 = value > hi95
        low95 = value < lo95
    flag[(high95 | low95) & eligible] = "alert"
    flag[(high998 | low998) & eligible] = "alarm"
    direction[high95 & eligible] = "high"
    direction[low95 & eligible] = "low"
    return flag, direction


def _funnel_block(frame, *, kind, method, overdispersion_kind, min_n, target, size_col):
    """One funnel (one target, one φ̂) on an aggregated block. ``kind`` proportion|ratio."""
    out = frame.copy()
    if kind == "proportion":
        y = to_float(out["numerator"])
        n = to_float(out["denominator"])
        size = n
        value = safe_ratio(y, n)
        lo, hi = wilson_interval(y, n)
        valid = (n > 0) & np.isfinite(y)
        if target is not None:
            p0 = float(target)
        else:
            p0 = float(np.nansum(y[valid]) / np.nansum(n[valid])) if valid.any() else np.nan
        # transformed scale: arcsine square root
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(valid, 1 / (2 * np.sqrt(n)), np.nan)
            yt = np.arcsin(np.sqrt(np.clip(value, 0, 1)))
        y0 = np.arcsin(np.sqrt(p0)) if np.isfinite(p0) else np.nan
        exact = {q: binomial_exact_limit(np.where(valid, n, 0), p0, q)
                 for q in (0.001, 0.025, 0.975, 0.999)}
        var = n * p0 * (1 - p0)
        with np.errstate(invalid="ignore"):
            sd = np.sqrt(p0 * (1 - p0) / n)
        normal = {0.001: p0 - Z998 * sd, 0.025: p0 - Z95 * sd, 0.975: p0 + Z95 * sd,
                  0.999: p0 + Z998 * sd}
        normal = {q: np.clip(v, 0, 1) for q, v in normal.items()}
        back = lambda t: np.sin(np.clip(t, 0, np.pi / 2)) ** 2  # noqa: E731
        k = np.where(valid, np.round(y), 0)
        nn = np.where(valid, n, 1)
        lower_tail = _st.binom.cdf(k - 1, nn, p0) + 0.5 * _st.binom.pmf(k, nn, p0)
        upper_tail = _st.binom.sf(k, nn, p0) + 0.5 * _st.binom.pmf(k, nn, p0)
    else:
        o = to_float(out["observed"])
        e = to_float(out["expected"])
        size = to_float(out[size_col]) if size_col else e
        value = safe_ratio(o, e)
        lo, hi = _garwood(o, e)
        valid = (e > 0) & np.isfinite(o)
        p0 = 1.0 if target is None else float(target)
        with np.errstate(invalid="ignore", divide="ignore"):
            s = np.where(valid, 1 / np.sqrt(e), np.nan)
            # O = 0 would give log 0: use half an event (documented continuity correction)
            yt = np.log(np.where(o > 0, o, 0.5) / e)
        y0 = np.log(p0)
        exact = {q: p0 * poisson_exact_limit(np.where(valid, e, 0), q)
                 for q in (0.001, 0.025, 0.975, 0.999)}
        var = e
        with np.errstate(invalid="ignore", divide="ignore"):
            normal = {0.001: p0 * np.exp(-Z998 * s), 0.025: p0 * np.exp(-Z95 * s),
                      0.975: p0 * np.exp(Z95 * s), 0.999: p0 * np.exp(Z998 * s)}
        back = np.exp
        k = np.where(valid, np.round(o), 0)
        ee = np.where(valid, e, 1)
        lower_tail = _st.poisson.cdf(k - 1, ee) + 0.5 * _st.poisson.pmf(k, ee)
        upper_tail = _st.poisson.sf(k, ee) + 0.5 * _st.poisson.pmf(k, ee)

    # the exact analogue of z: the normal deviate of the mid-P tail probability
    with np.errstate(invalid="ignore", divide="ignore"):
        z_exact = np.where(lower_tail < 0.5, _st.norm.ppf(lower_tail), _st.norm.isf(upper_tail))
        z_exact = np.where(valid, z_exact, np.nan)
    use_normal = (method == "normal") & (var >= NORMAL_MIN_VARIANCE)
    lim = {q: np.where(use_normal, normal[q], exact[q]) for q in exact}
    for q in lim:
        lim[q] = np.where(valid, lim[q], np.nan)
    with np.errstate(invalid="ignore"):
        z = (yt - y0) / s
    below = ~(size >= min_n) | ~valid
    eligible = ~below
    # overdispersion works on the z of the limits in use: Spiegelhalter's transformed-scale z
    # where the normal approximation is used, the exact mid-P z elsewhere (at small counts the
    # transformed z is skewed — log(O/E) with O = 1 — and would inflate φ̂)
    z_od = np.where(use_normal, z, z_exact)

    od = overdispersion_estimates(z_od[eligible], s[eligible])
    out["value"] = value
    out["value_ci_lower"] = lo
    out["value_ci_upper"] = hi
    out["target"] = p0
    out["lower_95"], out["upper_95"] = lim[0.025], lim[0.975]
    out["lower_998"], out["upper_998"] = lim[0.001], lim[0.999]
    out["limit_method"] = np.where(valid, np.where(use_normal, "normal", "exact"), "")
    out["z"] = z
    out["z_exact"] = z_exact
    out["phi"] = od["phi"]
    out["tau2"] = od["tau2"]
    out["od_statistic"] = od["statistic"]
    out["od_p_value"] = od["p_value"]

    if overdispersion_kind == "none" or not np.isfinite(od["phi"]):
        scale = None
    elif overdispersion_kind == "multiplicative":
        scale = s * np.sqrt(max(od["phi"], 1.0))
    else:
        scale = np.sqrt(s**2 + od["tau2"])
    if scale is None:
        for c in ("od_lower_95", "od_upper_95", "od_lower_998", "od_upper_998", "z_adjusted"):
            out[c] = np.nan
        flag, direction = _flags_from(value, lim[0.025], lim[0.975], lim[0.001], lim[0.999],
                                      eligible)
    else:
        with np.errstate(invalid="ignore", over="ignore"):
            out["od_lower_95"] = back(y0 - Z95 * scale)
            out["od_upper_95"] = back(y0 + Z95 * scale)
            out["od_lower_998"] = back(y0 - Z998 * scale)
            out["od_upper_998"] = back(y0 + Z998 * scale)
            za = z_od * s / scale
        out["z_adjusted"] = za
        adj_flag, adj_dir = _flags_from(za, -Z95, Z95, -Z998, Z998, eligible)
        base_flag, base_dir = _flags_from(value, lim[0.025], lim[0.975], lim[0.001], lim[0.999],
                                          eligible)
        # the adjustment only widens the limits: a point must also lie outside the exact (or
        # normal) limits, which guards against the transformed-scale approximation at small
        # counts (log(O/E) with O of 0 or 1)
        rank = {"": 0, "alert": 1, "alarm": 2}
        both = np.minimum(np.vectorize(rank.get)(adj_flag), np.vectorize(rank.get)(base_flag))
        flag = np.array(["", "alert", "alarm"], dtype=object)[both]
        direction = np.where((both > 0) & (adj_dir == base_dir), adj_dir, "").astype(object)
    out["below_min_n"] = below
    out["flag"] = flag
    out["flag_direction"] = direction
    out.attrs["overdispersion"] = od
    return out


def _run_blocks(frame, within, **kw):
    if not within:
        res = _funnel_block(frame, **kw)
        od = {(): res.attrs.get("overdispersion")}
    else:
        parts, od = [], {}
        for key, block in frame.groupby(within, sort=True, dropna=False, observed=True):
            res = _funnel_block(block.reset_index(drop=True), **kw)
            od[key if isinstance(key, tuple) else (key,)] = res.attrs.get("overdispersion")
            parts.append(res)
        res = pd.concat(parts, ignore_index=True) if parts else frame.iloc[0:0]
    res.attrs = {"overdispersion": od}
    return res


def funnel(
    data: pd.DataFrame,
    *,
    numerator: str = "numerator",
    denominator: str = "denominator",
    by: str | Sequence[str] = (),
    within: str | Sequence[str] = (),
    target: float | None = None,
    method: str = "exact",
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Funnel-plot data for a proportion across groups.

    Parameters
    ----------
    data : DataFrame
        One or more rows per group; ``numerator`` and ``denominator`` are summed per group.
    numerator, denominator : str
        Count columns (events, persons at risk).
    by : str or sequence of str
        Group keys (部门, 检察官, 派出所 …).
    within : str or sequence of str
        Separate funnels (own target, own φ̂) per value of these keys — e.g. ``"indicator"``
        for a panel holding several indicators.
    target : float, optional
        The target p0; default the pooled rate Σnumerator / Σdenominator of the block.
    method : {"exact", "normal"}
        ``exact``: Spiegelhalter's interpolated exact binomial limits for every group.
        ``normal``: p0 ± z·√(p0(1−p0)/n), but only where n·p0·(1−p0) ≥
        :data:`NORMAL_MIN_VARIANCE`; smaller groups keep exact limits (``limit_method``).
    overdispersion : {"none", "multiplicative", "additive"}
        ``multiplicative``: limits Y0 ± z·√φ̂·s (φ̂ floored at 1); ``additive``: limits
        Y0 ± z·√(s² + τ̂²) (DerSimonian–Laird random effects), back-transformed. A point is
        then flagged when it lies outside the adjusted limits *and* outside the plain limits
        (the adjustment only widens them; the second condition guards the transformed-scale
        approximation at very small counts).
    min_n : int
        Groups with a denominator below this are shown but never flagged
        (``below_min_n``) and take no part in estimating φ̂.

    Returns
    -------
    DataFrame
        One row per group: keys, ``numerator, denominator, value, value_ci_lower,
        value_ci_upper`` (Wilson 95 %), ``target``, ``lower_95, upper_95, lower_998,
        upper_998`` (control limits at the group's n), ``limit_method``, ``z``
        (Spiegelhalter: (asin√p − asin√p0)·2√n), ``phi, tau2, od_statistic, od_p_value``
        (overdispersion estimates of the block), ``od_lower_95 … od_upper_998, z_adjusted``
        (NaN unless ``overdispersion`` is chosen), ``below_min_n``, ``flag`` ("", "alert",
        "alarm") and ``flag_direction`` ("", "high", "low"). ``attrs["overdispersion"]`` maps
        each ``within`` key to its estimates.

    Notes
    -----
    alert = outside the 95 % limits, alarm = outside 99.8 %. A flag says the difference is
    larger than chance alone explains at that size; it is a prompt for 分析研判, not a ranking.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"station": list("ABCDEF"), "numerator": [2, 3, 1, 9, 2, 0],
    ...                   "denominator": [40, 50, 30, 45, 35, 4]})
    >>> f = funnel(d, by="station", min_n=5)
    >>> f.loc[f["flag"] != "", ["station", "flag", "flag_direction"]]
      station   flag flag_direction
    3       D  alert           high
    >>> bool(f.loc[5, "below_min_n"])
    True
    """
    check_choice("method", method, ["exact", "normal"])
    check_choice("overdispersion", overdispersion, ["none", "multiplicative", "additive"])
    keys, wkeys = as_keys(by), as_keys(within)
    frame = _aggregate(data, wkeys + keys, [numerator, denominator])
    frame = frame.rename(columns={numerator: "numerator", denominator: "denominator"})
    bad = frame["numerator"] > frame["denominator"]
    if bad.any():
        raise DataError(
            f"有 {int(bad.sum())} 个分组的分子大于分母，不是比例",
            f"{int(bad.sum())} group(s) have numerator > denominator: not a proportion",
            hint="比值类指标请用 ratio_funnel / use ratio_funnel for ratios",
        )
    return _run_blocks(frame, wkeys, kind="proportion", method=method,
                       overdispersion_kind=overdispersion, min_n=min_n, target=target,
                       size_col=None)


def ratio_funnel(
    data: pd.DataFrame,
    *,
    observed: str = "observed",
    expected: str = "expected",
    by: str | Sequence[str] = (),
    within: str | Sequence[str] = (),
    size: str | None = None,
    target: float = 1.0,
    method: str = "exact",
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Funnel-plot data for an indirectly standardised ratio O/E (target 1).

    Y = log(O/E), s = 1/√E; exact limits treat O as Poisson(E) (interpolated like the
    binomial ones); the value's interval is the exact Garwood interval. Where O = 0 the
    z-score uses O = 0.5. ``size`` names the column compared with ``min_n`` (default: E).

    Returns
    -------
    DataFrame
        Keys, ``observed, expected`` (plus ``size`` if given), then the columns of
        :func:`funnel` from ``value`` on (value = O/E).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": list("abcde"), "observed": [10, 12, 30, 8, 11],
    ...                   "expected": [11.0, 10.5, 12.0, 9.0, 10.0]})
    >>> ratio_funnel(d, by="g").loc[2, ["value", "flag", "flag_direction"]].astype(str).tolist()
    ['2.5', 'alarm', 'high']
    """
    check_choice("method", method, ["exact", "normal"])
    check_choice("overdispersion", overdispersion, ["none", "multiplicative", "additive"])
    keys, wkeys = as_keys(by), as_keys(within)
    cols = [observed, expected] + ([size] if size else [])
    frame = _aggregate(data, wkeys + keys, cols)
    frame = frame.rename(columns={observed: "observed", expected: "expected"})
    return _run_blocks(frame, wkeys, kind="ratio", method=method,
                       overdispersion_kind=overdispersion, min_n=min_n, target=target,
                       size_col=size)


def funnel_limits(
    target: float,
    n_grid=None,
    *,
    kind: str = "proportion",
    method: str = "exact",
    phi: float | None = None,
    tau2: float | None = None,
    n_max: float = 100,
) -> pd.DataFrame:
    """Control-limit curves for drawing a funnel.

    Parameters
    ----------
    target : float
        p0 for proportions, the target ratio (1) for O/E.
    n_grid : array-like, optional
        Sizes (n, or E for ratios); default 200 points from 1 to ``n_max``.
    kind : {"proportion", "ratio"}
    method : {"exact", "normal"}
        As in :func:`funnel`.
    phi, tau2 : float, optional
        Give one to draw the multiplicative / additive overdispersion-adjusted curves.

    Returns
    -------
    DataFrame
        ``n, lower_95, upper_95, lower_998, upper_998``.

    Examples
    --------
    >>> lim = funnel_limits(0.2, [25, 100])
    >>> bool((lim["upper_998"] > lim["upper_95"]).all())
    True
    """
    check_choice("kind", kind, ["proportion", "ratio"])
    check_choice("method", method, ["exact", "normal"])
    if n_grid is None:
        n_grid = np.unique(np.round(np.geomspace(1, max(n_max, 2), 200),
                                    1 if kind == "ratio" else 0))
    n = np.asarray(n_grid, dtype="float64")
    if kind == "proportion":
        s = 1 / (2 * np.sqrt(n))
        y0 = np.arcsin(np.sqrt(target))
        back = lambda t: np.sin(np.clip(t, 0, np.pi / 2)) ** 2  # noqa: E731
    else:
        s = 1 / np.sqrt(n)
        y0 = np.log(target)
        back = np.exp
    out = pd.DataFrame({"n": n})
    if phi is not None or tau2 is not None:
        scale = s * np.sqrt(max(phi, 1.0)) if phi is not None else np.sqrt(s**2 + tau2)
        for name, z in (("95", Z95), ("998", Z998)):
            out[f"lower_{name}"] = back(y0 - z * scale)
            out[f"upper_{name}"] = back(y0 + z * scale)
        return out
    for name, z, ql, qh in (("95", Z95, 0.025, 0.975), ("998", Z998, 0.001, 0.999)):
        if kind == "proportion":
            ex_lo, ex_hi = binomial_exact_limit(n, target, ql), binomial_exact_limit(n, target, qh)
            sd = np.sqrt(target * (1 - target) / n)
            no_lo, no_hi = np.clip(target - z * sd, 0, 1), np.clip(target + z * sd, 0, 1)
            var = n * target * (1 - target)
        else:
            ex_lo = target * poisson_exact_limit(n, ql)
            ex_hi = target * poisson_exact_limit(n, qh)
            no_lo, no_hi = target * np.exp(-z * s), target * np.exp(z * s)
            var = n
        use = (method == "normal") & (var >= NORMAL_MIN_VARIANCE)
        out[f"lower_{name}"] = np.where(use, no_lo, ex_lo)
        out[f"upper_{name}"] = np.where(use, no_hi, ex_hi)
    return out


# ---------------------------------------------------------------------------------------------
# shrinkage and rank intervals
# ---------------------------------------------------------------------------------------------

#: α + β used when the between-group variance is estimated as zero (complete pooling).
_POOLED_PRIOR_SIZE = 1e7


def beta_binomial_prior(numerator, denominator) -> tuple[float, float]:
    """Method-of-moments (α, β) of a beta-binomial across groups.

    With μ̂ = Σy/N, S = Σ nᵢ(pᵢ − μ̂)² and N = Σnᵢ, E[S] = μ(1−μ)[(I−1) + ρ(N − Σnᵢ²/N −
    (I−1))], so ρ̂ = (S/(μ̂(1−μ̂)) − (I−1)) / (N − Σnᵢ²/N − (I−1)), clipped to [0, 1);
    α + β = 1/ρ̂ − 1, α = μ̂(α+β). ρ̂ = 0 (no between-group spread) gives complete pooling.

    Examples
    --------
    >>> # μ = 0.2, S = 2, ρ = (2/0.16 − 2) / (300 − 100 − 2) = 0.05303, α+β = 17.857
    >>> a, b = beta_binomial_prior([10, 30, 20], [100, 100, 100])
    >>> round(a, 3), round(b, 3)
    (3.571, 14.286)
    """
    y = np.asarray(numerator, dtype="float64")
    n = np.asarray(denominator, dtype="float64")
    ok = n > 0
    y, n = y[ok], n[ok]
    groups = len(n)
    big_n = n.sum()
    mu = y.sum() / big_n
    if groups < 2 or mu <= 0 or mu >= 1:
        size = _POOLED_PRIOR_SIZE
    else:
        s = float(np.sum(n * (y / n - mu) ** 2))
        denom = big_n - np.sum(n**2) / big_n - (groups - 1)
        rho = (s / (mu * (1 - mu)) - (groups - 1)) / denom if denom > 0 else 0.0
        rho = min(max(rho, 0.0), 1 - 1e-9)
        size = _POOLED_PRIOR_SIZE if rho == 0 else 1 / rho - 1
    return float(mu * size), float((1 - mu) * size)


def shrink(
    data: pd.DataFrame,
    *,
    numerator: str = "numerator",
    denominator: str = "denominator",
    by: str | Sequence[str] = (),
    within: str | Sequence[str] = (),
    level: float = 0.95,
    min_n: int = DEFAULT_MIN_N,
    draws: int = 4000,
    seed: int = 20240501,
    ranks: bool = True,
) -> pd.DataFrame:
    """Beta-binomial shrinkage with intervals, and rank intervals instead of bare ranks.

    Each group's rate is pulled toward the pooled rate in proportion to how little its own
    data say: posterior Beta(α + y, β + n − y) with (α, β) from
    :func:`beta_binomial_prior`. Ranks (1 = highest rate) are summarised by their interval
    over ``draws`` posterior draws; groups below ``min_n`` get no rank. ``ranks=False`` skips
    the draws (``rank_lower`` / ``rank_upper`` all ``<NA>``) when only the shrunk rates are
    wanted; they do not depend on the draws.

    Returns
    -------
    DataFrame
        Keys, ``numerator, denominator, value`` (crude), ``shrunk_value``,
        ``shrunk_ci_lower``, ``shrunk_ci_upper``, ``prior_alpha``, ``prior_beta``,
        ``below_min_n``, ``rank_lower``, ``rank_upper`` (interval of plausible ranks among
        the groups at or above ``min_n``; ``<NA>`` below it).

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"g": ["a", "b", "c"], "numerator": [10, 30, 20],
    ...                   "denominator": [100, 100, 100]})
    >>> s = shrink(d, by="g")
    >>> s["shrunk_value"].round(3).tolist()  # (3.571 + y) / (17.857 + 100)
    [0.115, 0.285, 0.2]
    """
    keys, wkeys = as_keys(by), as_keys(within)
    frame = _aggregate(data, wkeys + keys, [numerator, denominator])
    frame = frame.rename(columns={numerator: "numerator", denominator: "denominator"})
    rng = np.random.default_rng(seed)
    parts = []
    blocks = frame.groupby(wkeys, sort=True, observed=True) if wkeys else [((), frame)]
    for _, block in blocks:
        b = block.reset_index(drop=True).copy()
        y, n = to_float(b["numerator"]), to_float(b["denominator"])
        a0, b0 = beta_binomial_prior(y, n)
        pa, pb = a0 + y, b0 + n - y
        b["value"] = safe_ratio(y, n)
        b["shrunk_value"] = pa / (pa + pb)
        b["shrunk_ci_lower"] = _st.beta.ppf((1 - level) / 2, pa, pb)
        b["shrunk_ci_upper"] = _st.beta.ppf(1 - (1 - level) / 2, pa, pb)
        b["prior_alpha"], b["prior_beta"] = a0, b0
        below = ~(n >= min_n)
        b["below_min_n"] = below
        rank_lo = pd.array([pd.NA] * len(b), dtype="Int64")
        rank_hi = pd.array([pd.NA] * len(b), dtype="Int64")
        idx = np.flatnonzero(~below)
        if len(idx) and ranks:
            sims = rng.beta(pa[idx], pb[idx], size=(draws, len(idx)))
            ranks = (-sims).argsort(axis=1).argsort(axis=1) + 1
            q = np.quantile(ranks, [(1 - level) / 2, 1 - (1 - level) / 2], axis=0,
                            method="inverted_cdf")
            rank_lo[idx] = q[0].astype(int)
            rank_hi[idx] = q[1].astype(int)
        b["rank_lower"], b["rank_upper"] = rank_lo, rank_hi
        parts.append(b)
    return pd.concat(parts, ignore_index=True)


# ---------------------------------------------------------------------------------------------
# funnel for an estimate with a known standard error (continuous measures)
# ---------------------------------------------------------------------------------------------


def normal_funnel(
    data: pd.DataFrame,
    *,
    estimate: str = "estimate",
    std_error: str = "std_error",
    by: str | Sequence[str] = (),
    size: str | None = None,
    target: float = 0.0,
    scale: str = "log",
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
) -> pd.DataFrame:
    """Funnel for a normally distributed estimate Y with null standard error s.

    Used for case-mix adjusted handling days (:mod:`casework.analysis.workload`): Y = mean of
    log-day residuals, s from the pooled within-cell variance. Limits are target ± z·s (or
    the overdispersion-adjusted versions) on the estimate's scale, then back-transformed:
    ``scale="log"`` reports ``value = exp(Y)`` (a ratio, target exp(target)); ``"identity"``
    reports Y itself.

    Parameters
    ----------
    data : DataFrame
        One row per group, with ``estimate`` and ``std_error`` columns.
    size : str, optional
        Column compared with ``min_n`` (e.g. the number of cases); default: no floor.

    Returns
    -------
    DataFrame
        Keys and the input columns, then ``value, value_ci_lower, value_ci_upper`` (±1.96 s),
        ``target``, ``lower_95 … upper_998``, ``z``, ``phi, tau2, od_statistic, od_p_value``,
        ``od_lower_95 … od_upper_998, z_adjusted``, ``below_min_n``, ``flag``,
        ``flag_direction``.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"p": ["a", "b", "c"], "estimate": [0.0, 0.05, 0.6],
    ...                   "std_error": [0.1, 0.1, 0.15]})
    >>> f = normal_funnel(d, by="p")
    >>> f["flag"].tolist(), round(float(f.loc[2, "value"]), 3)  # exp(0.6); z = 4
    (['', '', 'alarm'], 1.822)
    """
    check_choice("scale", scale, ["log", "identity"])
    check_choice("overdispersion", overdispersion, ["none", "multiplicative", "additive"])
    keys = as_keys(by)
    require_columns(data, keys + [estimate, std_error] + ([size] if size else []), "漏斗图数据")
    out = data.reset_index(drop=True).copy()
    y = to_float(out[estimate])
    s = to_float(out[std_error])
    back = np.exp if scale == "log" else (lambda t: t)
    valid = np.isfinite(y) & np.isfinite(s) & (s > 0)
    below = ~valid
    if size:
        below |= ~(to_float(out[size]) >= min_n)
    eligible = ~below
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (y - target) / s
    od = overdispersion_estimates(z[eligible], s[eligible])
    out["value"] = back(y)
    out["value_ci_lower"] = back(y - Z95 * s)
    out["value_ci_upper"] = back(y + Z95 * s)
    out["target"] = back(np.float64(target))
    out["lower_95"], out["upper_95"] = back(target - Z95 * s), back(target + Z95 * s)
    out["lower_998"], out["upper_998"] = back(target - Z998 * s), back(target + Z998 * s)
    out["z"] = z
    out["phi"], out["tau2"] = od["phi"], od["tau2"]
    out["od_statistic"], out["od_p_value"] = od["statistic"], od["p_value"]
    if overdispersion == "none" or not np.isfinite(od["phi"]):
        for c in ("od_lower_95", "od_upper_95", "od_lower_998", "od_upper_998", "z_adjusted"):
            out[c] = np.nan
        zz = z
    else:
        sc = s * np.sqrt(max(od["phi"], 1.0)) if overdispersion == "multiplicative" else np.sqrt(
            s**2 + od["tau2"])
        out["od_lower_95"], out["od_upper_95"] = back(target - Z95 * sc), back(target + Z95 * sc)
        out["od_lower_998"] = back(target - Z998 * sc)
        out["od_upper_998"] = back(target + Z998 * sc)
        with np.errstate(invalid="ignore", divide="ignore"):
            zz = (y - target) / sc
        out["z_adjusted"] = zz
    flag, direction = _flags_from(zz, -Z95, Z95, -Z998, Z998, eligible)
    out["below_min_n"] = below
    out["flag"], out["flag_direction"] = flag, direction
    out.attrs = {"overdispersion": {(): od}}
    return out


def best_z(frame: pd.DataFrame) -> np.ndarray:
    """The z to judge a point by: ``z_adjusted`` where the overdispersion adjustment was made,
    else the exact mid-P ``z_exact``, else the transformed-scale ``z``."""
    z = to_float(frame["z"]) if "z" in frame.columns else np.full(len(frame), np.nan)
    for col in ("z_exact", "z_adjusted"):
        if col in frame.columns:
            alt = to_float(frame[col])
            z = np.where(np.isfinite(alt), alt, z)
    return z
