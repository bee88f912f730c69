"""Fair comparison across groups: funnel plots, case mix, shrinkage, heatmaps, relations.

Since 2024-10 the Supreme People's Procuratorate no longer ranks regions: every function here
*explains* differences (how far a group sits from the target given its size) rather than
ordering groups. Methods follow ``reference/domain.md`` §4 (Spiegelhalter 2005, Stat Med 24:
1185–1202, doi:10.1002/sim.1970; the FunnelPlotR package is the reference implementation of the
overdispersion adjustment).

Computation first: every analysis function takes a tidy frame and returns a tidy frame
(:func:`funnel`, :func:`ratio_funnel`, :func:`normal_funnel`, :func:`expected_counts`,
:func:`shrink`, :func:`horizontal`, :func:`standardised_scores`, :func:`indicator_relations`,
:func:`bail_cohorts`, :func:`bail_signals`); drawing is separate (:func:`funnel_figure`, and
:func:`casework.present.plotting.heatmap` on :func:`standardised_scores`), and so is the Chinese
narrative (:func:`describe_comparison`, :func:`describe_bail`, :func:`joint_meeting_points`).

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

from casework.base.errors import DataError, ParameterError, check_choice
from casework.analysis.stats import safe_ratio, wilson_interval

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

FLAG_LABELS_ZH = {"alarm": "超出99.8%控制限", "alert": "超出95%控制限", "": "在控制限内"}
DIRECTION_ZH = {"high": "偏高", "low": "偏低", "": ""}


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def _as_keys(by) -> list[str]:
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)


def _num(series) -> np.ndarray:
    """A column as a float ndarray with NaN for missing values."""
    return pd.to_numeric(pd.Series(series), errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _require(data: pd.DataFrame, cols, what: str) -> None:
    missing = [c for c in cols if c not in data.columns]
    if missing:
        raise DataError(
            f"{what}缺少列：{', '.join(missing)}",
            f"{what}: missing column(s) {', '.join(missing)}",
            hint="检查输入表的列名 / check the column names of the input frame",
        )


def _aggregate(data, keys, cols) -> pd.DataFrame:
    """Sum ``cols`` per ``keys`` (a no-op on frames that already have one row per group)."""
    if not keys:
        raise ParameterError("必须给出分组列 by", "by (the grouping columns) is required")
    _require(data, keys + list(cols), "对比数据")
    frame = data[keys + list(cols)].copy()
    for c in cols:
        frame[c] = _num(frame[c])
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
        y = _num(out["numerator"])
        n = _num(out["denominator"])
        size = n
        value = safe_ratio(y, n)
        lo, hi = wilson_interval(y, n)
        valid = (n > 0) & np.isfinite(y)
        p0 = float(np.nansum(y[valid]) / np.nansum(n[valid])) if target is None and valid.any() else (
            float(target) if target is not None else np.nan)
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
        o = _num(out["observed"])
        e = _num(out["expected"])
        size = _num(out[size_col]) if size_col else e
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
        flag, direction = _flags_from(value, lim[0.025], lim[0.975], lim[0.001], lim[0.999], eligible)
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
    keys, wkeys = _as_keys(by), _as_keys(within)
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
    keys, wkeys = _as_keys(by), _as_keys(within)
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
        n_grid = np.unique(np.round(np.geomspace(1, max(n_max, 2), 200), 1 if kind == "ratio" else 0))
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
# case mix (indirect standardisation)
# ---------------------------------------------------------------------------------------------

#: Default case-mix covariates: 罪名类别, 认罪认罚, 未成年, 累犯, 羁押.
DEFAULT_COVARIATES = ("charge_group", "plea_leniency", "minor", "recidivist", "detained")

#: Levels of a covariate with fewer rows than this are merged into 其他 before fitting.
MIN_LEVEL_ROWS = 20

_MISSING = "（缺失）"
_OTHER = "（其他）"


def _as_levels(series: pd.Series) -> pd.Series:
    """A covariate as string levels; missing values become their own level."""
    s = series.astype("object")
    return s.where(s.notna(), _MISSING).astype(str)


def _merge_sparse(levels: pd.Series, min_rows: int) -> pd.Series:
    counts = levels.value_counts()
    sparse = counts.index[counts < min_rows]
    if len(sparse) == 0:
        return levels
    out = levels.where(~levels.isin(sparse), _OTHER)
    if (out == _OTHER).sum() < min_rows:  # the merged level is still sparse: join the largest
        out = out.where(out != _OTHER, counts.index[0])
    return out


def _outcome_vector(records: pd.DataFrame, outcome) -> pd.Series:
    if isinstance(outcome, str):
        _require(records, [outcome], "病例组合模型")
        y = records[outcome]
    else:
        y = pd.Series(outcome)
        if len(y) != len(records):
            raise ParameterError("outcome 的长度与数据行数不一致",
                                 "outcome must have one value per row of records")
        y.index = records.index
    if pd.api.types.is_bool_dtype(y.dtype) or y.dtype == object:
        y = y.astype("boolean").astype("Float64")
    return pd.to_numeric(y, errors="coerce").astype("float64")


def case_mix_model(
    records: pd.DataFrame,
    *,
    outcome,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    min_level_rows: int = MIN_LEVEL_ROWS,
    family: str = "binomial",
) -> tuple[pd.Series, pd.DataFrame]:
    """Fit the pooled logistic case-mix model and predict each row's probability.

    Parameters
    ----------
    records : DataFrame
        Case rows (persons).
    outcome : str or Series
        A boolean / 0-1 column (or a Series aligned with ``records``). Rows where it is missing
        get no prediction (NaN).
    covariates : sequence of str
        Columns used as categorical predictors (booleans become 是/否 levels; missing values a
        level of their own). Levels with fewer than ``min_level_rows`` rows are merged into
        （其他）; covariates left with one level, or absent from ``records``, are dropped.
    family : {"binomial", "poisson"}
        ``binomial``: logistic model of a 0/1 outcome; ``poisson``: log-linear model of a
        count outcome (e.g. 退查次数 per case), predicting the expected count.

    Returns
    -------
    (Series, DataFrame)
        Predicted probability per row (index of ``records``) and the model table
        ``term, estimate, std_err, ci_lower, ci_upper, p_value`` (log-odds). The table's
        ``attrs`` record ``rows``, ``events`` and ``dropped`` covariates.

    Raises
    ------
    DataError
        When the outcome has no variation (all 0 or all 1): nothing to adjust.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"charge_group": ["a"] * 40 + ["b"] * 40,
    ...                   "y": [True] * 20 + [False] * 20 + [True] * 4 + [False] * 36})
    >>> p, table = case_mix_model(r, outcome="y", covariates=["charge_group"])
    >>> round(float(p.iloc[0]), 3), round(float(p.iloc[-1]), 3)
    (0.5, 0.1)
    """
    import warnings

    import statsmodels.api as sm

    check_choice("family", family, ["binomial", "poisson"])
    y = _outcome_vector(records, outcome)
    have = y.notna()
    yv = y[have]
    if len(yv) == 0 or yv.nunique() < 2:
        raise DataError(
            "结果变量没有变异（全部为同一取值），无法做病例组合调整",
            "the outcome has no variation (all rows the same): case-mix adjustment is impossible",
            hint="换一个指标，或扩大期间/范围 / choose another indicator or a wider period",
        )
    design, dropped = [], []
    for cov in covariates:
        if cov not in records.columns:
            dropped.append(cov)
            continue
        lev = _merge_sparse(_as_levels(records.loc[have, cov]), min_level_rows)
        if lev.nunique() < 2:
            dropped.append(cov)
            continue
        ref = lev.value_counts().index[0]
        dummies = pd.get_dummies(lev, prefix=cov, prefix_sep="=", dtype="float64")
        design.append(dummies.drop(columns=f"{cov}={ref}"))
    x = pd.concat(design, axis=1) if design else pd.DataFrame(index=yv.index)
    x = sm.add_constant(x, has_constant="add")
    # fit on the distinct covariate patterns (events and rows per pattern): the same
    # estimates and standard errors as the row-level fit, at a fraction of the cost
    cols = list(x.columns)
    pattern = x.groupby(cols, sort=False).ngroup().to_numpy()
    agg = pd.DataFrame({"_pattern": pattern, "_y": yv.to_numpy(dtype="float64")}).groupby(
        "_pattern").agg(events=("_y", "sum"), rows=("_y", "size"))
    xp = x.groupby(pattern, sort=False).first().loc[agg.index].to_numpy(dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "binomial":
            model = sm.GLM(agg["events"].to_numpy() / agg["rows"].to_numpy(), xp,
                           family=sm.families.Binomial(), var_weights=agg["rows"].to_numpy())
        else:
            model = sm.GLM(agg["events"].to_numpy(), xp, family=sm.families.Poisson(),
                           offset=np.log(agg["rows"].to_numpy(dtype="float64")))
        res = model.fit()
    per_pattern = pd.Series(np.asarray(sm.families.Binomial().link.inverse(xp @ np.asarray(res.params)))
                            if family == "binomial" else np.exp(xp @ np.asarray(res.params)),
                            index=agg.index)
    pred = pd.Series(np.nan, index=records.index, dtype="float64")
    pred[have] = per_pattern.reindex(pattern).to_numpy()
    ci = np.asarray(res.conf_int())
    table = pd.DataFrame({
        "term": list(x.columns), "estimate": np.asarray(res.params),
        "std_err": np.asarray(res.bse), "ci_lower": ci[:, 0], "ci_upper": ci[:, 1],
        "p_value": np.asarray(res.pvalues),
    })
    table.attrs = {"rows": int(len(yv)), "events": float(yv.sum()), "dropped": dropped}
    return pred, table


def expected_counts(
    records: pd.DataFrame,
    *,
    outcome,
    by: str | Sequence[str],
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    within: str | Sequence[str] = (),
    method: str = "exact",
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
    min_level_rows: int = MIN_LEVEL_ROWS,
    family: str = "binomial",
) -> pd.DataFrame:
    """Case-mix adjusted comparison: observed vs expected events per group, on a ratio funnel.

    A logistic model on the pooled rows (:func:`case_mix_model`) gives each case its expected
    probability; E = Σ p̂ over the group's cases, O = Σ outcome; O/E is compared with 1 on a
    funnel (Y = log(O/E), s = 1/√E). A team whose mix is harder (e.g. heavy in 危险驾驶) has a
    higher E, so its crude rate can differ without any excess.

    Parameters
    ----------
    records : DataFrame
        Case rows.
    outcome : str or Series
        Boolean event per row (e.g. ``decision == "non_prosecution"``); rows with a missing
        outcome are left out (the denominator population).
    by : str or sequence of str
        Groups to compare.
    covariates, min_level_rows, family
        As in :func:`case_mix_model` (``poisson`` for a count outcome).
    within, method, overdispersion, min_n
        As in :func:`ratio_funnel`; ``min_n`` applies to the number of cases ``n``.

    Returns
    -------
    DataFrame
        Keys, ``n`` (cases), ``observed``, ``expected``, ``observed_rate`` (O/n),
        ``expected_rate`` (E/n), ``adjusted_rate`` (O/E × pooled rate), then the ratio-funnel
        columns of :func:`ratio_funnel` (``value`` = O/E, target 1). ``attrs["model"]`` holds
        the model table.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"team": ["甲"] * 50 + ["乙"] * 50,
    ...                   "charge_group": ["a"] * 45 + ["b"] * 5 + ["a"] * 5 + ["b"] * 45,
    ...                   "y": ([True] * 27 + [False] * 18 + [True] * 1 + [False] * 4
    ...                         + [True] * 3 + [False] * 2 + [True] * 9 + [False] * 36)})
    >>> e = expected_counts(r, outcome="y", by="team", covariates=["charge_group"], min_level_rows=5)
    >>> e["value"].round(6).tolist(), e["flag"].tolist()  # crude rates 0.24 vs 0.56
    ([1.0, 1.0], ['', ''])
    """
    keys = _as_keys(by)
    wkeys = _as_keys(within)
    _require(records, keys + wkeys, "病例组合对比")
    pred, table = case_mix_model(records, outcome=outcome, covariates=covariates,
                                 min_level_rows=min_level_rows, family=family)
    y = _outcome_vector(records, outcome)
    have = y.notna()
    rows = records.loc[have, wkeys + keys].copy()
    rows["n"] = 1.0
    rows["observed"] = y[have].to_numpy()
    rows["expected"] = pred[have].to_numpy()
    out = ratio_funnel(rows, observed="observed", expected="expected", by=keys, within=wkeys,
                       size="n", method=method, overdispersion=overdispersion, min_n=min_n)
    od = out.attrs
    pooled = float(rows["observed"].sum() / rows["n"].sum())
    out.insert(len(wkeys) + len(keys) + 3, "observed_rate", safe_ratio(out["observed"], out["n"]))
    out.insert(len(wkeys) + len(keys) + 4, "expected_rate", safe_ratio(out["expected"], out["n"]))
    out.insert(len(wkeys) + len(keys) + 5, "adjusted_rate", out["value"] * pooled)
    out.attrs = {**od, "model": table, "pooled_rate": pooled}
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
) -> pd.DataFrame:
    """Beta-binomial shrinkage with intervals, and rank intervals instead of bare ranks.

    Each group's rate is pulled toward the pooled rate in proportion to how little its own
    data say: posterior Beta(α + y, β + n − y) with (α, β) from
    :func:`beta_binomial_prior`. Ranks (1 = highest rate) are summarised by their interval
    over ``draws`` posterior draws; groups below ``min_n`` get no rank.

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
    keys, wkeys = _as_keys(by), _as_keys(within)
    frame = _aggregate(data, wkeys + keys, [numerator, denominator])
    frame = frame.rename(columns={numerator: "numerator", denominator: "denominator"})
    rng = np.random.default_rng(seed)
    parts = []
    blocks = frame.groupby(wkeys, sort=True, observed=True) if wkeys else [((), frame)]
    for _, block in blocks:
        b = block.reset_index(drop=True).copy()
        y, n = _num(b["numerator"]), _num(b["denominator"])
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
        if len(idx):
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
    keys = _as_keys(by)
    _require(data, keys + [estimate, std_error] + ([size] if size else []), "漏斗图数据")
    out = data.reset_index(drop=True).copy()
    y = _num(out[estimate])
    s = _num(out[std_error])
    back = np.exp if scale == "log" else (lambda t: t)
    valid = np.isfinite(y) & np.isfinite(s) & (s > 0)
    below = ~valid
    if size:
        below |= ~(_num(out[size]) >= min_n)
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
        out["od_lower_998"], out["od_upper_998"] = back(target - Z998 * sc), back(target + Z998 * sc)
        with np.errstate(invalid="ignore", divide="ignore"):
            zz = (y - target) / sc
        out["z_adjusted"] = zz
    flag, direction = _flags_from(zz, -Z95, Z95, -Z998, Z998, eligible)
    out["below_min_n"] = below
    out["flag"], out["flag_direction"] = flag, direction
    out.attrs = {"overdispersion": {(): od}}
    return out


# ---------------------------------------------------------------------------------------------
# horizontal comparison of registry indicators (横向对比)
# ---------------------------------------------------------------------------------------------

#: Groupings offered by the horizontal-comparison report: key columns and Chinese name.
#: ``business_line`` pools one department across units (第一检察部 = 普通刑事犯罪检察 …, the
#: numbered departments of the 2019 reform are business lines); ``department`` keeps the unit.
GROUPINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "department": (("unit_code", "department"), "承办部门"),
    "prosecutor": (("prosecutor_id",), "承办检察官"),
    "business_line": (("department",), "业务条线"),
    "unit": (("unit_code",), "单位"),
    "referring_agency": (("referring_agency",), "移送机关"),
    "police_station": (("referring_agency", "police_station"), "派出所"),
}

#: Default indicators of the horizontal comparison (registry codes).
DEFAULT_INDICATORS = (
    "non_arrest_rate", "non_prosecution_rate", "plea_leniency_rate",
    "recommendation_adoption_rate", "post_arrest_bail_rate", "review_extension_rate",
    "prosecution_review_days_mean",
)

MEASURE_ZH = {"rate": "比率", "ratio_oe": "实际/预期", "mean": "平均值", "days_ratio": "办案天数比"}


def grouping_keys(grouping: str) -> list[str]:
    """Key columns of a named grouping (:data:`GROUPINGS`).

    Examples
    --------
    >>> grouping_keys("department")
    ['unit_code', 'department']
    """
    check_choice("grouping", grouping, list(GROUPINGS))
    return list(GROUPINGS[grouping][0])


def _short_unit_name(name: str) -> str:
    """江州市青山区人民检察院 → 青山区院; 江州市人民检察院 → 江州市院 (the city itself).

    Examples
    --------
    >>> _short_unit_name("江州市青山区人民检察院"), _short_unit_name("江州市人民检察院")
    ('青山区院', '江州市院')
    """
    import re

    text = str(name).replace("人民检察院", "院")
    m = re.match(r"^(.*?市)(.+)$", text)
    if m and m.group(2) != "院":
        return m.group(2)
    return text


def group_labels(frame: pd.DataFrame, keys: Sequence[str], records: pd.DataFrame | None = None,
                 *, level: str = "internal") -> pd.Series:
    """A short display label per row from its key columns (unit names and prosecutor names
    are looked up in ``records`` when given). At the ``circulated`` level a prosecutor
    appears as his stable pseudonym (:func:`casework.present.privacy.pseudonymise` of the 工号 — the
    same letter :func:`casework.present.privacy.sanitize_frame` gives him in tables).

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"unit_code": ["930102"], "department": ["第一检察部"]})
    >>> r = pd.DataFrame({"unit_code": ["930102"], "unit_name": ["江州市青山区人民检察院"]})
    >>> group_labels(f, ["unit_code", "department"], r).tolist()
    ['青山区院·第一检察部']
    """
    check_choice("level", level, ["internal", "circulated"])
    keys = list(keys)
    parts = []
    for k in keys:
        s = frame[k].astype("object").where(frame[k].notna(), "（未填）").astype(str)
        if k == "prosecutor_id" and level == "circulated":
            from casework.present import privacy

            parts.append(privacy.pseudonymise(frame[k].reset_index(drop=True)).astype(str))
            continue
        s = s.reset_index(drop=True)
        if records is not None and k == "unit_code" and "unit_name" in records.columns:
            names = (records[["unit_code", "unit_name"]].dropna().drop_duplicates("unit_code")
                     .set_index("unit_code")["unit_name"].astype(str))
            short = names.map(_short_unit_name)
            s = s.map(lambda v: short.get(v, v))
        if records is not None and k == "prosecutor_id" and "prosecutor_name" in records.columns:
            names = (records[["prosecutor_id", "prosecutor_name"]].dropna()
                     .drop_duplicates("prosecutor_id").set_index("prosecutor_id")["prosecutor_name"])
            s = s.map(lambda v: str(names.get(v, v)))
        if k == "referring_agency" and "police_station" in keys:
            s = s.str.replace(r"^.*?公安局(?=.)", "", regex=True)
        parts.append(s)
    out = parts[0]
    for p in parts[1:]:
        out = out + "·" + p
    return out.reset_index(drop=True)


def _cohort_column(ind, role: str) -> str | None:
    from casework.analysis import indicators as _ind

    parts = ind.parts("person")
    coh = _ind.cohorts().get(parts[role].cohort)
    return coh.column if coh is not None and coh.type == "date" else None


def indicator_rows(
    records: pd.DataFrame,
    indicator,
    *,
    period,
    journeys: pd.DataFrame | None = None,
    extra_columns: Sequence[str] = (),
) -> pd.DataFrame:
    """The rows behind one rate indicator in a period: its denominator, with ``in_numerator``.

    Evaluates the registry's expressions (:mod:`casework.analysis.indicators`) row by row with DuckDB,
    so a flagged point can be opened into its cases and a case-mix model can be fitted.
    Journey indicators (捕后…) take their rows from ``journeys`` (built when not given) and
    the stage's records row supplies the columns the journeys table lacks (承办部门, 检察官,
    case-mix covariates).

    Parameters
    ----------
    records : DataFrame
    indicator : str or Indicator
        A ``rate`` indicator whose numerator and denominator share one date cohort and whose
        numerator is a condition (not a sum).
    period : str or Period
    journeys : DataFrame, optional
    extra_columns : sequence of str
        Further records columns to carry onto journey rows.

    Returns
    -------
    DataFrame
        The denominator rows (one per person; one per case for indicators counted only in 件)
        with ``in_numerator`` (bool), ``numerator_value`` (the numerator's count, 0/1).

    Raises
    ------
    ParameterError
        When the indicator is not of that form.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({
    ...     "unit_code": ["U1"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["A1", "A2", "A3"], "person_id": ["P1", "P2", "P3"],
    ...     "accepted_on": pd.to_datetime(["2024-05-01"] * 3),
    ...     "closed_on": pd.to_datetime(["2024-05-05", "2024-05-06", "2024-06-02"]),
    ...     "decision": ["arrest_approved", "non_arrest", "non_arrest"]})
    >>> indicator_rows(recs, "non_arrest_rate", period="2024-05")[["dept_case_no", "in_numerator"]].values.tolist()
    [['A1', False], ['A2', True]]
    """
    import duckdb

    from casework.analysis import indicators as _ind
    from casework.analysis import periods as _periods

    ind = _ind.get(indicator)
    unit = ind.default_unit
    parts = ind.parts(unit)
    if ind.kind != "rate" or parts["numerator"].agg not in ("count", "sum") or \
            parts["denominator"].agg != "count":
        raise ParameterError(f"指标 {ind.code} 不是按条件计数的比率，不能列出明细",
                             f"indicator {ind.code} is not a counted rate; rows cannot be listed")
    col = _cohort_column(ind, "denominator")
    if col is None or col != _cohort_column(ind, "numerator"):
        raise ParameterError(f"指标 {ind.code} 的分子分母不属于同一日期队列",
                             f"indicator {ind.code}: numerator and denominator cohorts differ")
    p = _periods.parse(period)
    if ind.table == "journeys":
        if journeys is None:
            from casework.model import journeys as _journeys

            journeys = _journeys.build(records)
        stage = "arrest_review" if ind.stage == "arrest_review" else "prosecution_review"
        link = "arrest_dept_case_no" if stage == "arrest_review" else "prosecution_dept_case_no"
        wanted = [c for c in dict.fromkeys(
            ["department", "prosecutor_id", "prosecutor_name", "unit_name", "stage",
             *DEFAULT_COVARIATES, "charge", "procedure", *extra_columns])
            if c in records.columns and c not in journeys.columns]
        add = records.loc[records["stage"] == stage, ["unit_code", "dept_case_no", "person_id"] + wanted]
        add = add.drop_duplicates(["unit_code", "dept_case_no", "person_id"])
        source = journeys.merge(add.rename(columns={"dept_case_no": link}),
                                on=["unit_code", link, "person_id"], how="left")
    else:
        source = records
    num = parts["numerator"]
    num_expr = f"({num.condition})" if num.agg == "count" else (
        f"CASE WHEN {num.condition} THEN coalesce(({num.value}), 0) ELSE 0 END")
    if num.agg == "count":
        num_expr = f"CASE WHEN {num_expr} THEN 1 ELSE 0 END"
    sql = (f'SELECT *, ({num_expr}) AS numerator_value FROM source '
           f'WHERE {p.sql(col)} AND ({parts["denominator"].condition})')
    con = duckdb.connect()
    try:
        con.register("source", source)
        out = con.execute(sql).df()
    finally:
        con.close()
    if unit == "case":
        key = [c for c in ("unit_code", "dept_case_no" if ind.table == "records" else "unified_case_no")
               if c in out.columns]
        out = (out.sort_values(key, kind="stable")
               .groupby(key, as_index=False, sort=False, dropna=False)
               .agg({**{c: "first" for c in out.columns if c not in key},
                     "numerator_value": "max" if num.agg == "count" else "sum"}))
    out["numerator_value"] = pd.to_numeric(out["numerator_value"]).fillna(0).astype("float64")
    out["in_numerator"] = out["numerator_value"] > 0
    out.attrs = {"indicator": ind.code, "count_unit": unit, "period": p.code}
    return out.reset_index(drop=True)


def _covariates_for(ind, covariates) -> list[str]:
    text = " ".join(str(x) for x in (ind.where, ind.numerator, ind.denominator, ind.value))
    import re

    return [c for c in covariates if not re.search(rf"\b{c}\b", text)]


def _finish_measure(res: pd.DataFrame, *, ind, keys, measure, size_col) -> pd.DataFrame:
    res = res.copy()
    res.insert(0, "indicator", ind.code)
    res["name_zh"] = ind.name_zh
    res["kind"] = ind.kind
    res["direction"] = ind.direction
    res["unit_zh"] = ind.unit_zh
    res["measure"] = measure
    res["size"] = _num(res[size_col])
    return res


def horizontal(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str],
    indicators: Sequence[str] = DEFAULT_INDICATORS,
    journeys: pd.DataFrame | None = None,
    adjust: str = "case_mix",
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    method: str = "exact",
    overdispersion: str = "additive",
    min_n: int = 20,
    level: str = "internal",
) -> pd.DataFrame:
    """Compare groups on several indicators at once: one funnel per indicator.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table.
    period : str or Period
    by : str or sequence of str
        Group keys (see :data:`GROUPINGS` / :func:`grouping_keys`).
    indicators : sequence of str
        Registry codes. Rates and mean/median handling days are compared; counts and derived
        ratios (案-件比) are skipped (listed in ``attrs["skipped"]`` with the reason).
    journeys : DataFrame, optional
        For journey indicators (捕后…); built from ``records`` when needed.
    adjust : {"case_mix", "none"}
        ``case_mix`` (default): rates become observed ÷ expected from a pooled logistic model
        (:func:`expected_counts`; covariates the indicator itself uses are left out), handling
        days the case-mix ratio of :func:`casework.analysis.workload.handling_days`. ``none``: crude
        rates on a binomial funnel, means on a normal funnel.
    method, overdispersion, min_n
        As in :func:`funnel` (``min_n`` on the denominator, or on the number of cases).
    level : {"internal", "circulated"}
        Access level of the output: at ``circulated`` the ``label`` of a prosecutor is his
        pseudonym (:func:`group_labels`).

    Returns
    -------
    DataFrame
        One row per indicator × group: ``indicator, name_zh, kind, direction, unit_zh``, keys,
        ``label``, ``measure`` (``rate`` | ``ratio_oe`` | ``mean`` | ``days_ratio``: what
        ``value`` is), ``numerator, denominator, crude_value`` (the indicator as defined),
        ``value, value_ci_lower, value_ci_upper, target``, limits, ``z, z_adjusted, phi,
        tau2, od_p_value, below_min_n, flag, flag_direction``, ``size`` (x of the funnel),
        ``concern`` (flag in the unfavourable direction of the registry; both directions for
        "range" indicators), and for rates ``shrunk_value, shrunk_ci_lower,
        shrunk_ci_upper``. ``attrs``: ``skipped`` {code: reason}, ``keys``, ``period``,
        ``adjust``, ``overdispersion``.
    """
    from casework.analysis import indicators as _ind
    from casework.analysis import panel as _panel
    from casework.analysis import periods as _periods

    check_choice("adjust", adjust, ["case_mix", "none"])
    check_choice("method", method, ["exact", "normal"])
    check_choice("overdispersion", overdispersion, ["none", "multiplicative", "additive"])
    keys = _as_keys(by)
    p = _periods.parse(period)
    inds = _ind.resolve(list(indicators))
    if journeys is None and any(i.table == "journeys" for i in inds):
        from casework.model import journeys as _journeys

        journeys = _journeys.build(records)
    recs = records
    if "charge_group" not in recs.columns or recs["charge_group"].isna().any():
        from casework.model import schema as _schema

        filled = recs["charge"].map(lambda c: _schema.charge_group_of(c) if isinstance(c, str) else None)
        recs = recs.assign(charge_group=recs["charge_group"].fillna(filled)
                           if "charge_group" in recs.columns else filled)
    results, skipped = [], {}
    for ind in inds:
        try:
            res = _one_indicator(recs, ind, p=p, keys=keys, journeys=journeys, adjust=adjust,
                                 covariates=covariates, method=method,
                                 overdispersion=overdispersion, min_n=min_n, panel=_panel)
        except DataError as err:
            skipped[ind.code] = err.zh
            continue
        if isinstance(res, str):
            skipped[ind.code] = res
            continue
        results.append(res)
    if not results:
        out = pd.DataFrame(columns=["indicator", *keys, "label", "value", "flag"])
    else:
        out = pd.concat(results, ignore_index=True)
        out.insert(1, "label", group_labels(out, keys, recs, level=level))
        unfav = np.where(out["direction"] == "lower_better", "high",
                         np.where(out["direction"] == "higher_better", "low", "any"))
        out["concern"] = (out["flag"] != "") & ((unfav == "any") | (out["flag_direction"] == unfav))
        front = ["indicator", "name_zh", "kind", "direction", "unit_zh", *keys, "label", "measure"]
        out = out[front + [c for c in out.columns if c not in front]]
    out.attrs = {"skipped": skipped, "keys": keys, "period": p.code, "adjust": adjust,
                 "overdispersion": overdispersion, "min_n": min_n, "level": level}
    return out


def _one_indicator(recs, ind, *, p, keys, journeys, adjust, covariates, method, overdispersion,
                   min_n, panel):
    if ind.kind in ("count",):
        return "件数/人数类指标随规模而变，不做漏斗比较"
    if ind.kind == "ratio" or ind.derived:
        return "由其他指标派生的比值（如案-件比）不做漏斗比较"
    if ind.kind in ("mean", "median"):
        if adjust == "case_mix" and "date_diff" in str(ind.value):
            from casework.analysis import workload

            stage = ind.stage if ind.stage in ("arrest_review", "prosecution_review") else None
            res = workload.handling_days(recs, by=keys, period=p, stage=stage,
                                         overdispersion=overdispersion, min_n=min_n)
            res = res.rename(columns={"n": "denominator"})
            res["numerator"] = res["mean_days"] * res["denominator"]
            res["crude_value"] = res["mean_days"] if ind.kind == "mean" else res["median_days"]
            return _finish_measure(res, ind=ind, keys=keys, measure="days_ratio",
                                   size_col="denominator")
        if ind.kind == "median":
            return "中位数没有可用的标准误，未做病例组合调整时不做漏斗比较"
        pn = panel.compute(recs, indicators=[ind.code], by=keys, period=p, journeys=journeys,
                           compare=False)
        pn = pn.loc[pn["denominator"] > 0].reset_index(drop=True)
        if pn.empty:
            return "本期没有数据"
        se = (pn["value_ci_upper"] - pn["value_ci_lower"]) / (2 * Z95)
        target = float(pn["numerator"].sum() / pn["denominator"].sum())
        base = pn[keys + ["numerator", "denominator", "value"]].assign(std_error=se.to_numpy())
        res = normal_funnel(base, estimate="value", std_error="std_error", by=keys,
                            size="denominator", target=target, scale="identity",
                            overdispersion=overdispersion, min_n=min_n)
        res["crude_value"] = res["value"]
        return _finish_measure(res, ind=ind, keys=keys, measure="mean", size_col="denominator")
    # rates
    try:
        rows = indicator_rows(recs, ind, period=p, journeys=journeys)
    except ParameterError as err:
        return err.zh
    if rows.empty:
        return "本期没有数据"
    for k in keys:
        if k not in rows.columns:
            return f"数据中没有分组字段 {k}"
    rows = rows.assign(_one=1.0)
    counted = ind.parts(ind.default_unit)["numerator"].agg == "count"
    crude = rows.groupby(keys, dropna=False, observed=True).agg(
        numerator=("numerator_value", "sum"), denominator=("_one", "sum")).reset_index()
    if counted and adjust == "case_mix":
        covs = _covariates_for(ind, covariates)
        res = expected_counts(rows, outcome="in_numerator", by=keys, covariates=covs,
                              method=method, overdispersion=overdispersion, min_n=min_n)
        res = res.merge(crude, on=keys, how="left")
        res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
        res = _add_shrink(res, crude, keys, min_n)
        return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")
    if counted:
        res = funnel(crude, by=keys, method=method, overdispersion=overdispersion, min_n=min_n)
        res["crude_value"] = res["value"]
        res = _add_shrink(res, crude, keys, min_n)
        return _finish_measure(res, ind=ind, keys=keys, measure="rate", size_col="denominator")
    # a rate whose numerator is a sum (退查件次 ÷ 件数): Poisson O against its expectation
    if adjust == "case_mix":
        covs = _covariates_for(ind, covariates)
        res = expected_counts(rows, outcome="numerator_value", by=keys, covariates=covs,
                              method=method, overdispersion=overdispersion, min_n=min_n,
                              family="poisson")
        res = res.merge(crude, on=keys, how="left")
        res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
        return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")
    rate0 = float(crude["numerator"].sum() / crude["denominator"].sum())
    crude = crude.assign(observed=crude["numerator"], expected=crude["denominator"] * rate0)
    res = ratio_funnel(crude, by=keys, size="denominator", method=method,
                       overdispersion=overdispersion, min_n=min_n)
    res = res.merge(crude[keys + ["numerator"]], on=keys, how="left")
    res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
    return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")


def _add_shrink(res, crude, keys, min_n):
    sh = shrink(crude, by=keys, min_n=min_n)[keys + ["shrunk_value", "shrunk_ci_lower",
                                                        "shrunk_ci_upper"]]
    return res.merge(sh, on=keys, how="left")


# ---------------------------------------------------------------------------------------------
# scores, relations, narrative, case lists, figures
# ---------------------------------------------------------------------------------------------

_ORIENT = {"higher_better": 1.0, "lower_better": -1.0, "range": 1.0}
DIRECTION_NAME_ZH = {"higher_better": "越高越好", "lower_better": "越低越好", "range": "宜在合理区间"}
ADJUST_ZH = {"case_mix": "（比率按案件结构调整：实际数÷按罪名类别、认罪认罚、未成年、累犯、羁押等因素预期的数；"
                         "办案天数与同环节、同程序、同罪名类别、同羁押状态的案件比较）",
             "none": "（未做案件结构调整）"}


def _best_z(frame: pd.DataFrame) -> np.ndarray:
    z = _num(frame["z"]) if "z" in frame.columns else np.full(len(frame), np.nan)
    for col in ("z_exact", "z_adjusted"):
        if col in frame.columns:
            alt = _num(frame[col])
            z = np.where(np.isfinite(alt), alt, z)
    return z


def standardised_scores(result: pd.DataFrame, *, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Indicators × groups standardised scores for a heatmap, oriented by the registry.

    Parameters
    ----------
    result : DataFrame
        The output of :func:`horizontal` (or any frame with ``indicator``, ``direction``,
        group keys and ``z`` / ``z_exact`` / ``z_adjusted``). A plain
        :func:`casework.analysis.panel.compute` frame is accepted too: its rates are put on a funnel
        first (:func:`funnel` per indicator).
    by : str or sequence, optional
        Group keys (default: ``result.attrs["keys"]``).

    Returns
    -------
    DataFrame
        ``indicator, name_zh, direction``, keys, ``label``, ``z`` (the overdispersion-adjusted z
        where available, else the exact z), ``score`` (z turned so that a positive score is the
        registry's favourable direction; "range" indicators keep the sign of z: above the
        target is positive), ``oriented`` (False for "range"), ``below_min_n`` (score NaN:
        too small to judge).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"indicator": ["a", "a", "b", "b"], "name_zh": ["甲率", "甲率", "乙率", "乙率"],
    ...                   "direction": ["lower_better"] * 2 + ["higher_better"] * 2,
    ...                   "g": ["x", "y", "x", "y"], "label": ["x", "y", "x", "y"],
    ...                   "z": [2.0, -1.0, 2.0, -1.0], "below_min_n": [False] * 4})
    >>> standardised_scores(r, by="g")["score"].tolist()
    [-2.0, 1.0, 2.0, -1.0]
    """
    keys = _as_keys(by) if by is not None else list(result.attrs.get("keys", []))
    if not keys:
        raise ParameterError("请给出分组列 by", "by (the group keys) is required")
    frame = result
    if "z" not in frame.columns and "z_exact" not in frame.columns:
        rates = frame.loc[frame["kind"] == "rate"]
        frame = funnel(rates, by=keys, within=["indicator", "name_zh", "direction"])
    out = frame[[c for c in ["indicator", "name_zh", "direction", *keys, "label"]
                 if c in frame.columns]].copy()
    if "label" not in out.columns:
        out["label"] = group_labels(out, keys)
    z = _best_z(frame)
    orient = frame["direction"].map(_ORIENT).fillna(1.0).to_numpy(dtype="float64")
    below = frame["below_min_n"].to_numpy(dtype=bool) if "below_min_n" in frame.columns else \
        np.zeros(len(frame), dtype=bool)
    out["z"] = np.where(below, np.nan, z)
    out["score"] = np.where(below, np.nan, z * orient)
    out["oriented"] = (frame["direction"] != "range").to_numpy()
    out["below_min_n"] = below
    return out.reset_index(drop=True)


def indicator_relations(
    result: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    value: str = "crude_value",
    min_groups: int = MIN_GROUPS_RELATIONS,
) -> pd.DataFrame:
    """How indicators move together across groups (报表关联性): Spearman correlations.

    Parameters
    ----------
    result : DataFrame
        :func:`horizontal` output (or a panel frame with ``indicator`` and ``value``).
    value : str
        Column correlated (default the indicator as defined, ``crude_value``; use ``"z"`` for
        the case-mix adjusted position).
    min_groups : int
        Pairs computed over fewer groups carry ``caution`` = True: with few groups a
        correlation is unstable and says nothing about individual cases (ecological).

    Returns
    -------
    DataFrame
        ``indicator_a, name_a, indicator_b, name_b, n_groups, rho, p_value, caution`` — one row
        per pair of indicators, groups below the small-n floor left out.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"indicator": ["a"] * 5 + ["b"] * 5, "name_zh": ["甲"] * 5 + ["乙"] * 5,
    ...                   "g": list("pqrst") * 2, "crude_value": [1, 2, 3, 4, 5, 2, 4, 6, 8, 9]})
    >>> rel = indicator_relations(r, by="g")
    >>> rel[["indicator_a", "indicator_b", "n_groups", "caution"]].values.tolist(), round(float(rel["rho"][0]), 6)
    ([['a', 'b', 5, True]], 1.0)
    """
    keys = _as_keys(by) if by is not None else list(result.attrs.get("keys", []))
    frame = result
    if "below_min_n" in frame.columns:
        frame = frame.loc[~frame["below_min_n"].astype(bool)]
    col = value if value in frame.columns else "value"
    wide = frame.pivot_table(index=keys, columns="indicator", values=col, aggfunc="first")
    names = dict(zip(result["indicator"], result.get("name_zh", result["indicator"])))
    codes = [c for c in dict.fromkeys(result["indicator"]) if c in wide.columns]
    rows = []
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            pair = wide[[a, b]].apply(pd.to_numeric, errors="coerce").dropna()
            n = int(len(pair))
            if n >= 3 and pair[a].nunique() > 1 and pair[b].nunique() > 1:
                rho, pv = _st.spearmanr(pair[a], pair[b])
                rho, pv = float(rho), float(pv)
            else:
                rho, pv = np.nan, np.nan
            rows.append({"indicator_a": a, "name_a": names.get(a, a), "indicator_b": b,
                         "name_b": names.get(b, b), "n_groups": n, "rho": rho, "p_value": pv,
                         "caution": n < min_groups})
    return pd.DataFrame(rows, columns=["indicator_a", "name_a", "indicator_b", "name_b",
                                       "n_groups", "rho", "p_value", "caution"])


def _esc(text) -> str:
    from casework.notebook.page import escape_text

    return escape_text(text)


#: Counts below this are not written into circulated narrative (as in the tables).
SMALL_COUNT = 5


def _small(row, level) -> bool:
    """At the circulated level: does the row's numerator (or its complement) count fewer than
    :data:`SMALL_COUNT` persons?"""
    if level != "circulated":
        return False
    num, den = row.get("numerator"), row.get("denominator")
    try:
        num, den = float(num), float(den)
    except (TypeError, ValueError):
        return False
    if not (np.isfinite(num) and np.isfinite(den)) or row.get("kind") not in ("rate", None):
        return False
    return 0 < num < SMALL_COUNT or 0 < den - num < SMALL_COUNT


def _fmt_crude(row, level: str = "internal") -> str:
    kind, unit = row.get("kind"), row.get("unit_zh") or ""
    v = row.get("crude_value")
    if _small(row, level):
        return f"不列示（涉及人数少于{SMALL_COUNT}人）"
    if v is None or not np.isfinite(v):
        return "—"
    if kind == "rate":
        return f"{v:.1%}"
    return f"{v:.1f}{unit}"


def _point_sentence(row, level: str = "internal") -> str:
    measure = row["measure"]
    side = DIRECTION_ZH.get(row["flag_direction"], "")
    where = "超出99.8%控制限" if row["flag"] == "alarm" else "超出95%控制限"
    lo, hi = row.get("value_ci_lower"), row.get("value_ci_upper")
    if measure == "ratio_oe":
        counted = row.get("numerator"), row.get("denominator")
        exp_rate = row.get("expected_rate")
        exp_text = f"，按案件结构预期 {exp_rate:.1%}" if exp_rate is not None and np.isfinite(exp_rate) else ""
        frac = "" if _small(row, level) else f"（{counted[0]:,.0f}/{counted[1]:,.0f}）"
        body = (f"{_fmt_crude(row, level)}{frac}{exp_text}，"
                f"实际/预期 {row['value']:.2f}（95%区间 {lo:.2f}–{hi:.2f}）")
    elif measure == "days_ratio":
        body = (f"平均办案 {row['mean_days']:.1f} 天，同类案件预期 {row['expected_mean_days']:.1f} 天，"
                f"为预期的 {row['value']:.2f} 倍（95%区间 {lo:.2f}–{hi:.2f}，{row['size']:,.0f}件）")
    elif measure == "mean":
        body = (f"{row['value']:.1f}{row.get('unit_zh') or ''}（总体 {row['target']:.1f}，"
                f"95%区间 {lo:.1f}–{hi:.1f}）")
    elif _small(row, level):
        body = f"{_fmt_crude(row, level)}（总体 {row['target']:.1%}）"
    else:
        body = (f"{row['value']:.1%}（{row['numerator']:,.0f}/{row['denominator']:,.0f}，"
                f"95%区间 {lo:.1%}–{hi:.1%}；总体 {row['target']:.1%}）")
    concern = ""
    if row.get("concern") and row.get("direction") in ("higher_better", "lower_better"):
        concern = "，与该指标的期望方向相反"
    return f"{_esc(row['label'])}{side}：{body}，{where}{concern}"


def describe_comparison(result: pd.DataFrame, *, grouping: str = "department",
                        period_label: str | None = None) -> str:
    """The narrative of a horizontal comparison: what stands out and what does not.

    Explains, never ranks: flagged points are named with their values, expectation and
    interval; everything inside the limits is said to be within chance; groups below the
    small-n floor are counted but not judged.

    Parameters
    ----------
    result : DataFrame
        :func:`horizontal` output (labels already at the report's access level).
    grouping : str
        Key of :data:`GROUPINGS` (for the Chinese name of the groups).
    period_label : str, optional
        E.g. ``P.period.label_zh``.

    Returns
    -------
    str
        Markdown (data values escaped), for :func:`casework.notebook.page.md`.
    """
    gname = GROUPINGS.get(grouping, ((), "分组"))[1]
    if result.empty:
        return f"本期没有可比较的数据（{gname}）。"
    level = result.attrs.get("level", "internal")
    keys = list(result.attrs.get("keys", []))
    min_n = result.attrs.get("min_n", DEFAULT_MIN_N)
    adjust = result.attrs.get("adjust", "none")
    elig = ~result["below_min_n"].astype(bool)
    n_groups = int(result["label"].nunique())
    n_ind = int(result["indicator"].nunique())
    alarm = int(((result["flag"] == "alarm") & elig).sum())
    alert = int(((result["flag"] == "alert") & elig).sum())
    points = int(elig.sum())
    when = f"{period_label}，" if period_label else ""
    lines = [
        f"{when}对 {n_groups} 个{gname}的 {n_ind} 项指标作横向对比{ADJUST_ZH.get(adjust, '')}。"
        f"达到最小样本量（{min_n}）的比较点共 {points} 个：{alarm} 个超出99.8%控制限，"
        f"{alert} 个位于95%与99.8%控制限之间；其余 {points - alarm - alert} 个点的差异在随机波动"
        f"范围内，不宜解读为实际差异。"
    ]
    below = int((~elig).sum())
    if below:
        lines[0] += f"另有 {below} 个比较点样本量不足 {min_n}，只列示、不作判断。"
    lines.append("")
    for code, block in result.groupby("indicator", sort=False):
        first = block.iloc[0]
        name = _esc(first["name_zh"])
        flagged = block.loc[(block["flag"] != "") & ~block["below_min_n"].astype(bool)].copy()
        n_el = int((~block["below_min_n"].astype(bool)).sum())
        od = ""
        tau2, od_p = first.get("tau2"), first.get("od_p_value")
        if result.attrs.get("overdispersion", "none") != "none" and tau2 is not None and \
                np.isfinite(tau2) and tau2 > 0:
            if od_p < 0.05:
                od = (f"各{gname}之间的差异大于随机波动（过度离散检验 P={od_p:.3f}），"
                      f"控制限已按组间差异放宽。")
            else:
                od = (f"控制限已按估计的组间差异略作放宽（过度离散检验 P={od_p:.3f}，"
                      f"组间差异不显著）。")
        if flagged.empty:
            lines.append(f"- **{name}**：参与比较的 {n_el} 个{gname}均在控制限内。{od}")
            continue
        flagged["_absz"] = -np.abs(_best_z(flagged))
        flagged = flagged.sort_values("_absz")
        alarms = flagged.loc[flagged["flag"] == "alarm"]
        alerts = flagged.loc[flagged["flag"] == "alert"]
        text = "；".join(_point_sentence(r, level) for _, r in alarms.iterrows())
        if len(alerts):
            short = "、".join(f"{_esc(r['label'])}（{DIRECTION_ZH.get(r['flag_direction'], '')}，"
                             f"{_fmt_crude(r, level)}）" for _, r in alerts.iterrows())
            text += ("；" if text else "") + f"位于95%与99.8%控制限之间的有：{short}"
        rest = n_el - len(flagged)
        lines.append(f"- **{name}**：{text}。其余 {rest} 个{gname}在控制限内。{od}")
    lines.append("")
    lines.append("以上提示只说明差异大于随机波动可以解释的程度，不是排名；原因须结合具体案件分析"
                 "（内部密级的报告附有各提示点的案件清单）。")
    return "\n".join(lines)


def flagged_cases(
    records: pd.DataFrame,
    result: pd.DataFrame,
    *,
    journeys: pd.DataFrame | None = None,
    concern_only: bool = False,
) -> pd.DataFrame:
    """The cases behind every flagged point of a horizontal comparison, for follow-up.

    Parameters
    ----------
    records : DataFrame
    result : DataFrame
        :func:`horizontal` output (its ``attrs`` give the period and keys).
    journeys : DataFrame, optional
    concern_only : bool
        Only points flagged in the unfavourable direction.

    Returns
    -------
    DataFrame
        One row per case (person row) behind each flagged point: ``分组`` (label), ``指标``,
        ``提示`` (超出99.8%/95%控制限, 偏高/偏低), keys, ``dept_case_no``, ``stage``,
        ``department``, ``prosecutor_name``, ``accepted_on``, ``closed_on``, ``decision`` (for
        journey indicators ``arrested_on``, ``measure_changed_on``, ``measure_after_change``),
        ``计入分子`` (rates) or ``办案天数`` / ``同类预期天数`` (handling days). Internal use
        only: pass it to :func:`casework.notebook.page.attachment`.
    """
    from casework.analysis import indicators as _ind

    keys = list(result.attrs.get("keys", []))
    period = result.attrs.get("period")
    if result.empty or not keys:
        return pd.DataFrame(columns=["分组", "指标", "提示"])
    pick = (result["flag"] != "") & ~result["below_min_n"].astype(bool)
    if concern_only:
        pick &= result["concern"].astype(bool)
    flagged = result.loc[pick]
    base_cols = ["dept_case_no", "stage", "department", "prosecutor_name", "accepted_on",
                 "closed_on", "decision", "decision_subtype"]
    parts = []
    for code, block in flagged.groupby("indicator", sort=False):
        ind = _ind.get(code)
        first = block.iloc[0]
        if first["measure"] in ("days_ratio", "mean"):
            from casework.analysis import workload

            rows = workload.case_days(records, period=period)
            stage = ind.stage if ind.stage in ("arrest_review", "prosecution_review") else None
            if stage:
                rows = rows.loc[rows["stage"] == stage]
            rows = rows.assign(**{"办案天数": rows["days"], "同类预期天数": rows["expected_days"].round(1)})
            extra = ["办案天数", "同类预期天数"]
        else:
            rows = indicator_rows(records, ind, period=period, journeys=journeys)
            rows = rows.assign(**{"计入分子": rows["in_numerator"]})
            extra = ["计入分子"]
            if ind.table == "journeys":
                rows = rows.rename(columns={"arrest_dept_case_no": "dept_case_no"}) \
                    if "dept_case_no" not in rows.columns else rows
                extra = ["arrested_on", "measure_changed_on", "measure_after_change"] + extra
        hit = rows.merge(block[keys + ["label", "flag", "flag_direction"]], on=keys, how="inner")
        if hit.empty:
            continue
        hit["分组"] = hit["label"]
        hit["指标"] = ind.name_zh
        hit["提示"] = (hit["flag"].map({"alarm": "超出99.8%控制限", "alert": "超出95%控制限"})
                     + hit["flag_direction"].map(DIRECTION_ZH))
        cols = ["分组", "指标", "提示"] + [k for k in keys if k in hit.columns] + \
            [c for c in base_cols if c in hit.columns and c not in keys] + \
            [c for c in extra if c in hit.columns]
        parts.append(hit[list(dict.fromkeys(cols))])
    if not parts:
        return pd.DataFrame(columns=["分组", "指标", "提示"])
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["指标", "分组"], kind="stable").reset_index(drop=True)


def funnel_figure(result: pd.DataFrame, *, indicators: Sequence[str] | None = None,
                  ncols: int = 2, title: str | None = None):
    """Small multiples: one funnel plot per indicator of a :func:`horizontal` result.

    Rates and observed/expected ratios get smooth limit curves (:func:`funnel_limits`, widened
    by the estimated overdispersion when it was used); handling-day ratios and means show the
    limits at each group's own size. Flagged points are coloured and labelled; groups below
    the small-n floor are left out of the chart (they are in the tables).

    Returns
    -------
    matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    from casework.present import plotting

    codes = list(indicators) if indicators else list(dict.fromkeys(result["indicator"]))
    codes = [c for c in codes if c in set(result["indicator"])]
    n = max(len(codes), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows),
                             layout="constrained", squeeze=False)
    od_kind = result.attrs.get("overdispersion", "none")
    for ax, code in zip(axes.flat, codes):
        block = result.loc[(result["indicator"] == code) & ~result["below_min_n"].astype(bool)].copy()
        block = block.loc[np.isfinite(_num(block["size"])) & np.isfinite(_num(block["value"]))]
        if block.empty:
            ax.set_title(str(result.loc[result["indicator"] == code, "name_zh"].iloc[0]))
            ax.text(0.5, 0.5, "样本量不足，未作比较", ha="center", va="center", transform=ax.transAxes)
            continue
        first = block.iloc[0]
        measure = first["measure"]
        adj = od_kind != "none" and np.isfinite(first.get("phi", np.nan))
        if measure in ("rate", "ratio_oe"):
            kind = "proportion" if measure == "rate" else "ratio"
            grid = np.geomspace(max(float(block["size"].min()) * 0.8, 0.5),
                                float(block["size"].max()) * 1.1, 120)
            kw = {}
            if adj and od_kind == "additive":
                kw["tau2"] = float(first["tau2"])
            elif adj:
                kw["phi"] = float(first["phi"])
            limits = funnel_limits(float(first["target"]), grid, kind=kind, **kw)
            limits = limits.rename(columns={"n": "size"})
        else:
            limits = None
            if adj:
                for c in ("lower_95", "upper_95", "lower_998", "upper_998"):
                    block[c] = block[f"od_{c}"]
        xlabel = {"rate": "分母（人数）", "ratio_oe": "预期数", "days_ratio": "审结件数",
                  "mean": "人数"}[measure]
        ylabel = {"rate": "比率", "ratio_oe": "实际/预期", "days_ratio": "办案天数（实际/预期）",
                  "mean": first.get("unit_zh") or ""}[measure]
        plotting.funnel_chart(block, x="size", y="value", label="label", target="target",
                              limits=limits, flag="flag", percent=measure == "rate",
                              title=str(first["name_zh"]), xlabel=xlabel, ylabel=ylabel, ax=ax)
    for ax in list(axes.flat)[len(codes):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


# ---------------------------------------------------------------------------------------------
# 捕后取保候审 monitoring by referring agency and police station
# ---------------------------------------------------------------------------------------------

#: Streams of the post-arrest bail monitor: one per police station of a referring agency.
BAIL_KEYS = ("referring_agency", "police_station")

#: Bernoulli CUSUM settings: watch for the odds of bail doubling; in-control average run
#: length in arrests (about one false signal per 80 station-years at 60 arrests a year).
BAIL_ODDS_RATIO = 2.0
BAIL_ARL0 = 5000.0


def _arrests(journeys: pd.DataFrame) -> pd.DataFrame:
    _require(journeys, ["arrested_on", "post_arrest_bail"], "捕后取保候审监测")
    a = journeys
    if "arrest_decision" in a.columns:
        a = a.loc[a["arrest_decision"].astype("object").eq("arrest_approved").fillna(False).to_numpy()]
    a = a.loc[a["arrested_on"].notna()].copy()
    a["arrested_on"] = pd.to_datetime(a["arrested_on"])
    a["post_arrest_bail"] = a["post_arrest_bail"].astype("boolean").fillna(False).astype(bool)
    a["month"] = a["arrested_on"].dt.to_period("M").dt.strftime("%Y-%m")
    return a


def _window(period, months: int):
    from casework.analysis import periods as _periods

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
    keys = _as_keys(by)
    lo, hi, _ = _window(period, months)
    a = _arrests(journeys)
    a = a.loc[(a["arrested_on"] >= lo) & (a["arrested_on"] < hi + pd.Timedelta(days=1))]
    g = a.groupby(keys + ["month"], dropna=False, observed=True)["post_arrest_bail"]
    out = pd.DataFrame({"numerator": g.sum().astype("float64"),
                        "denominator": g.size().astype("float64")}).reset_index()
    out["value"] = safe_ratio(out["numerator"], out["denominator"])
    out["value_ci_lower"], out["value_ci_upper"] = wilson_interval(out["numerator"], out["denominator"])
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
    level: str = "internal",
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
    from casework.analysis import monitor

    keys = _as_keys(by)
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
    out.insert(len(keys), "label", group_labels(out, keys, records, level=level))
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
    keys = _as_keys(by)
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


def describe_bail(signals: pd.DataFrame, comparison: pd.DataFrame | None = None, *,
                  period_label: str | None = None, months: int = 24) -> str:
    """Narrative of the post-arrest bail monitor: which streams signalled, since when, how
    much; which stood out on the period's funnel; and that the rest did not.

    Returns
    -------
    str
        Markdown (data values escaped).
    """
    when = f"截至{period_label}的" if period_label else "近"
    if signals is None or signals.empty:
        return "监测期内没有逮捕数据。"
    p0 = float(signals["p0"].iloc[0])
    n = len(signals)
    hit = signals.loc[signals["signal"].astype(bool)]
    lines = [f"{when}{months}个月内，{n} 个派出所（含其他侦查部门）共批准逮捕并执行 "
             f"{int(signals['arrests'].sum()):,} 人，其中后来变更为取保候审 "
             f"{int(signals['bail'].sum()):,} 人，总体比例 {p0:.1%}。"]
    if hit.empty:
        lines.append("按逮捕先后逐人累积的 CUSUM 监测没有发出信号：各派出所的捕后取保候审比例"
                     "未见持续上升。")
    else:
        lines.append(f"CUSUM 监测（以总体比例为基准，监测变更比例的几率翻倍）对 {len(hit)} 个派出所发出信号：")
        for _, r in hit.iterrows():
            before = (f"此前为 {r['rate_before']:.1%}" if np.isfinite(r["rate_before"]) else "监测期初即偏高")
            lines.append(
                f"- **{_esc(r['label'])}**：自 {_esc(r['start_month'])} 起（{_esc(r['signal_month'])} "
                f"发出信号），逮捕 {int(r['arrests_since_start']):,} 人中变更为取保候审 "
                f"{int(r['bail_since_start']):,} 人，比例 {r['rate_since_start']:.1%}，{before}。")
    if comparison is not None and len(comparison):
        al = comparison.loc[(comparison["flag"] != "") & ~comparison["below_min_n"].astype(bool)]
        quiet = int((~comparison["below_min_n"].astype(bool)).sum()) - len(al)
        if len(al):
            lines.append("")
            lvl = comparison.attrs.get("level", "internal")
            lines.append("本期漏斗图：" + "；".join(_point_sentence(r, lvl) for _, r in al.iterrows())
                         + f"。其余 {quiet} 个派出所在控制限内。")
        else:
            lines.append("")
            lines.append(f"本期漏斗图：参与比较的 {quiet} 个派出所均在控制限内。")
    return "\n".join(lines)


def joint_meeting_points(signals: pd.DataFrame, comparison: pd.DataFrame | None = None, *,
                         cases: pd.DataFrame | None = None) -> str:
    """Points to raise at the joint meeting (联席会议) with the investigating agencies, written
    from the monitor's findings.

    Returns
    -------
    str
        Markdown: one numbered point per agency with signalling or flagged stations (what was
        seen, since when, the numbers, what to ask and to check), plus the standing points
        (notification duty under CPL art. 96, 羁押必要性审查 art. 95). When nothing stands out
        it says so and proposes only the routine items.
    """
    hit = signals.loc[signals["signal"].astype(bool)] if signals is not None and len(signals) else \
        pd.DataFrame(columns=["referring_agency", "label"])
    flagged = pd.DataFrame(columns=["label"])
    if comparison is not None and len(comparison):
        flagged = comparison.loc[(comparison["flag"] != "") & ~comparison["below_min_n"].astype(bool)
                                 & (comparison["flag_direction"] == "high")]
    points = []
    agencies = list(dict.fromkeys(list(hit.get("referring_agency", [])) +
                                  list(flagged.get("referring_agency", []))))
    for agency in agencies:
        rows = hit.loc[hit["referring_agency"] == agency] if "referring_agency" in hit else hit.iloc[0:0]
        frows = flagged.loc[flagged["referring_agency"] == agency] if "referring_agency" in flagged else flagged.iloc[0:0]
        seen = []
        for _, r in rows.iterrows():
            seen.append(f"{_esc(r['label'])}自 {_esc(r['start_month'])} 起逮捕 "
                        f"{int(r['arrests_since_start']):,} 人中 {int(r['bail_since_start']):,} 人"
                        f"变更为取保候审（{r['rate_since_start']:.1%}，监测范围总体 {r['p0']:.1%}）")
        for _, r in frows.iterrows():
            if r["label"] in set(rows.get("label", [])):
                continue
            seen.append(f"{_esc(r['label'])}本期捕后取保候审比例 "
                        f"{_fmt_crude(r, comparison.attrs.get('level', 'internal'))}，超出控制限")
        n_cases = ""
        if cases is not None and len(cases) and "referring_agency" in cases.columns:
            k = int((cases["referring_agency"] == agency).sum())
            n_cases = f"（内部案件清单 {k:,} 人，可逐案核对）" if k else ""
        points.append(
            f"**{_esc(agency)}**：" + "；".join(seen) + "。建议在联席会议上通报上述情况，请其说明"
            "逮捕后变更强制措施的主要原因（案件证据变化、羁押必要性变化、身体状况等），核对每一起变更"
            f"是否依照刑事诉讼法第九十六条及时通知原批准逮捕的人民检察院{n_cases}；对未通知或理由不充分的"
            "案件逐案反馈，并商定此后变更强制措施的通报和备案方式。")
    lines = []
    if points:
        lines += [f"{i}. {p}" for i, p in enumerate(points, 1)]
        lines.append(f"{len(points) + 1}. 双方共同核实：上述变更中是否有审查逮捕时证据已显不足或无"
                     "社会危险性的情形，反向检视本院批准逮捕的质量；必要时对在押人员开展羁押必要性"
                     "审查（刑事诉讼法第九十五条）。")
    else:
        lines.append("1. 本期各侦查机关、派出所的捕后取保候审比例未见异常，联席会议可只通报总体"
                     "情况，并重申逮捕后变更强制措施应依照刑事诉讼法第九十六条通知原批准逮捕的"
                     "人民检察院。")
    lines.append("")
    lines.append("（以上要点由监测数据生成，供承办人结合案件核实后修改使用。）")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# helpers for the report templates
# ---------------------------------------------------------------------------------------------


def window(period, months: int = 1):
    """The analysis window: the ``months`` calendar months ending with ``period`` (a custom
    period), or ``period`` itself when ``months`` ≤ 1 or the period is already that long.

    Comparisons of one month are thin (a prosecutor closes a handful of cases); reports
    compare over a trailing window ending with the reporting period.

    Examples
    --------
    >>> window("2024-05", 12).label_zh
    '2023年6月至2024年5月'
    >>> window("2024", 12).code
    '2024'
    """
    from casework.analysis import periods as _periods

    p = _periods.parse(period)
    if months is None or months <= 1:
        return p
    ms = _periods.trailing_months(p, months)
    if ms[0].start >= p.start:
        return p
    return _periods.custom(ms[0].start, p.end)


#: Display labels of :func:`summary_table` (for :func:`casework.notebook.page.table`).
SUMMARY_LABELS = {"label": "比较对象", "name_zh": "指标", "numerator": "分子", "denominator": "分母",
                  "rate": "指标值", "expected": "预期数", "value": "比较值", "value_ci_lower": "95%区间下限",
                  "value_ci_upper": "95%区间上限", "measure_zh": "比较值含义", "position": "位置"}


def summary_table(result: pd.DataFrame) -> pd.DataFrame:
    """The comparison as a table: one row per group × indicator, in group order (no ranking).

    Returns
    -------
    DataFrame
        ``label, name_zh, numerator, denominator, rate`` (the indicator as defined: a
        proportion, or mean days — then ``numerator`` is empty and ``denominator`` the cases), ``value, value_ci_lower, value_ci_upper`` (the compared
        measure), ``measure_zh`` (what ``value`` is), ``position`` (Chinese funnel position).
        Use :data:`SUMMARY_LABELS` as the table labels.
    """
    if result.empty:
        return pd.DataFrame(columns=list(SUMMARY_LABELS))
    days = result["measure"].isin(["days_ratio", "mean"]).to_numpy()
    out = pd.DataFrame({
        "label": result["label"], "name_zh": result["name_zh"],
        # for handling days the numerator would be a sum of days: leave it out
        "numerator": np.where(days, np.nan, _num(result["numerator"]).round(0)),
        "denominator": _num(result["denominator"]),
        "rate": _num(result["crude_value"]).round(4),
        "value": _num(result["value"]).round(3),
        "value_ci_lower": _num(result["value_ci_lower"]).round(3),
        "value_ci_upper": _num(result["value_ci_upper"]).round(3),
        "measure_zh": result["measure"].map(MEASURE_ZH),
    })
    pos = np.where(result["below_min_n"].astype(bool), "样本量不足，不作判断",
                   np.where(result["flag"] == "", "在控制限内",
                            result["flag_direction"].map(DIRECTION_ZH).fillna("") + "，" +
                            result["flag"].map({"alarm": "超出99.8%控制限", "alert": "超出95%控制限",
                                                "": ""}).fillna("")))
    out["position"] = pos
    keys = list(result.attrs.get("keys", []))
    order = result[keys].astype(str).agg("|".join, axis=1) if keys else out["label"]
    out = out.assign(_k=order.to_numpy()).sort_values(["_k", "name_zh"], kind="stable")
    return out.drop(columns="_k").reset_index(drop=True)


def describe_relations(relations: pd.DataFrame, *, strong: float = 0.5, alpha: float = 0.05) -> str:
    """Which indicators move together across the groups, with the cautions that apply.

    Returns
    -------
    str
        Markdown.
    """
    if relations is None or relations.empty:
        return "参与比较的指标少于两项，无法分析指标之间的关联。"
    ok = relations.loc[np.isfinite(_num(relations["rho"]))]
    strongish = ok.loc[(np.abs(ok["rho"]) >= strong) & (ok["p_value"] < alpha)]
    lines = []
    if strongish.empty:
        lines.append(f"各指标之间没有明显的关联（斯皮尔曼相关系数绝对值均小于 {strong:.1f} 或不显著）。")
    else:
        bits = []
        for _, r in strongish.iterrows():
            way = "同向" if r["rho"] > 0 else "反向"
            bits.append(f"{_esc(r['name_a'])}与{_esc(r['name_b'])}{way}变动（相关系数 {r['rho']:.2f}，"
                        f"{int(r['n_groups'])} 个分组）")
        lines.append("分组层面的明显关联：" + "；".join(bits) + "。")
    few = relations.loc[relations["caution"].astype(bool)]
    if len(few):
        lines.append(f"注意：有 {len(few)} 对指标的比较分组少于 {MIN_GROUPS_RELATIONS} 个，相关系数很不稳定，"
                     "仅供参考。")
    lines.append("关联只反映分组之间的共同变化，不说明因果，也不能推及单个案件。")
    return "\n\n".join(lines)


def describe_skipped(result: pd.DataFrame) -> str:
    """One line per indicator that was not compared, with the reason (empty text when none)."""
    from casework.analysis import indicators as _ind

    skipped = result.attrs.get("skipped", {}) if result is not None else {}
    if not skipped:
        return ""
    bits = []
    for code, why in skipped.items():
        try:
            name = _ind.get(code).name_zh
        except ParameterError:
            name = code
        bits.append(f"{_esc(name)}（{_esc(why)}）")
    return "未作比较的指标：" + "；".join(bits) + "。"


def bail_trend(cohorts: pd.DataFrame, overall: pd.DataFrame, signals: pd.DataFrame,
               comparison: pd.DataFrame | None = None, *, by: str | Sequence[str] = BAIL_KEYS) -> pd.DataFrame:
    """Monthly cohort rates of the stations worth watching (signalled or flagged) beside the
    overall rate, tidy for :func:`casework.present.plotting.line_chart` (``month, label, value``)."""
    keys = _as_keys(by)
    watch = signals.loc[signals["signal"].astype(bool), keys + ["label"]] if len(signals) else \
        pd.DataFrame(columns=keys + ["label"])
    if comparison is not None and len(comparison):
        fl = comparison.loc[(comparison["flag"] != "") & ~comparison["below_min_n"].astype(bool),
                            keys + ["label"]]
        watch = pd.concat([watch, fl], ignore_index=True).drop_duplicates(keys)
    lines = [overall.assign(label="全部")[["month", "label", "value"]]]
    if len(watch):
        sub = cohorts.merge(watch, on=keys, how="inner")[["month", "label", "value"]]
        lines.append(sub)
    return pd.concat(lines, ignore_index=True)


#: Display labels of :func:`bail_signal_table`.
BAIL_SIGNAL_LABELS = {"label": "派出所/侦查部门", "arrests": "逮捕人数", "bail": "捕后取保候审人数",
                      "rate": "比例", "signal_zh": "CUSUM信号", "start_month": "开始月份",
                      "signal_month": "信号月份", "rate_since_start": "开始以来比例",
                      "rate_before": "此前比例"}


def bail_signal_table(signals: pd.DataFrame) -> pd.DataFrame:
    """The CUSUM results per stream for a table (signalling streams first, then by name)."""
    if signals is None or signals.empty:
        return pd.DataFrame(columns=list(BAIL_SIGNAL_LABELS))
    out = signals.assign(signal_zh=np.where(signals["signal"].astype(bool), "有", "无"))
    return out[list(BAIL_SIGNAL_LABELS)].reset_index(drop=True)


def scores_table(scores: pd.DataFrame) -> pd.DataFrame:
    """:func:`standardised_scores` with Chinese column names, for the CSV beside the heatmap."""
    return pd.DataFrame({"比较对象": scores["label"], "指标": scores["name_zh"],
                         "标准化得分（按指标方向）": _num(scores["score"]).round(2),
                         "是否有方向": scores["oriented"].map({True: "是", False: "否（区间判断）"}),
                         "样本量不足": scores["below_min_n"].map({True: "是", False: "否"})})
