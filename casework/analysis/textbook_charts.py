"""Textbook control charts: the Phase I p chart and the tabular CUSUM for measured values, as
Montgomery's *Introduction to Statistical Quality Control* computes them.

These functions reproduce the textbook numbers exactly (3σ limits as numbers, baseline = every
point given, no overdispersion switch), for teaching, for checking the library against the book
and for analysts who must show the classical chart.

The monitoring reports use :func:`casework.analysis.monitor.control_chart` instead, and its
defaults differ on purpose: monthly counts of a procuratorate are small and overdispersed
(units and months differ for reasons nobody controls), so a chart with binomial 3σ limits
over-signals; the monitor estimates the baseline from earlier months only (Phase II: the month
being judged never sets its own limits), switches to Laney's p′ limits when the between-month
variation exceeds the binomial, and states limits as whole events (a month cannot have 3.4
cases). On a textbook data set these choices give other limits and signals than the book;
use :func:`p_chart` there.

Examples
--------
>>> from casework.analysis import textbook_charts as tc
>>> d = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24,
...      15, 9, 12, 7, 13, 9, 6]
>>> ch = tc.p_chart(d, 50)
>>> round(ch.attrs["center"], 4), ch.loc[ch["above"], "sample"].tolist()
(0.2313, [15, 23])
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.base.errors import ParameterError

__all__ = ["p_chart", "tabular_cusum"]


def p_chart(counts, n, *, exclude=(), sigma: float = 3.0) -> pd.DataFrame:
    """Phase I p chart (fraction nonconforming) with exact ``sigma``-limits.

    Parameters
    ----------
    counts : sequence of int
        Nonconforming units (events) per sample.
    n : int or sequence of int
        Sample size(s); with varying sizes the limits vary per sample.
    exclude : sequence of int
        1-based sample numbers left out of the centre line (samples with an assignable cause,
        removed when the trial limits are revised); they stay in the table.
    sigma : float
        Width of the limits in standard errors.

    Returns
    -------
    DataFrame
        ``sample`` (1-based), ``n``, ``count``, ``p``, ``center``, ``lcl``, ``ucl`` (LCL
        floored at 0), ``above``, ``below``, ``excluded``; ``attrs["center"]`` = p̄
        (Σ counts ÷ Σ n over the samples kept).

    Examples
    --------
    Montgomery's orange-juice cans (qcc ``orangejuice``, first 30 samples of 50), trial limits
    and the limits revised without samples 15 and 23:

    >>> d = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18,
    ...      24, 15, 9, 12, 7, 13, 9, 6]
    >>> ch = p_chart(d, 50)
    >>> [round(float(ch[c].iloc[0]), 4) for c in ("center", "ucl", "lcl")]
    [0.2313, 0.4102, 0.0524]
    >>> rev = p_chart(d, 50, exclude=[15, 23])
    >>> [round(float(rev[c].iloc[0]), 4) for c in ("center", "ucl", "lcl")]
    [0.215, 0.3893, 0.0407]
    >>> rev.loc[rev["above"] & ~rev["excluded"], "sample"].tolist()
    [21]
    """
    d = np.asarray(counts, dtype=float)
    sizes = np.broadcast_to(np.asarray(n, dtype=float), d.shape).copy()
    if d.ndim != 1 or not len(d) or (sizes <= 0).any() or (d < 0).any() or (d > sizes).any():
        raise ParameterError("样本数据有误：计数须在0与样本量之间，样本量须为正数",
                             "counts must lie between 0 and the sample sizes, sizes positive")
    sample = np.arange(1, len(d) + 1)
    excluded = np.isin(sample, list(exclude))
    kept = ~excluded
    if not kept.any():
        raise ParameterError("全部样本都被排除，无法计算中心线",
                             "every sample is excluded: no centre line")
    center = d[kept].sum() / sizes[kept].sum()
    se = np.sqrt(center * (1 - center) / sizes)
    p = d / sizes
    ucl, lcl = center + sigma * se, np.maximum(center - sigma * se, 0.0)
    out = pd.DataFrame({"sample": sample, "n": sizes, "count": d, "p": p, "center": center,
                        "lcl": lcl, "ucl": ucl, "above": p > ucl, "below": p < lcl,
                        "excluded": excluded})
    out.attrs["center"] = float(center)
    return out


def tabular_cusum(x, *, target: float, sd: float, k: float = 0.5,
                  h: float = 5.0) -> pd.DataFrame:
    """Tabular (two-sided) CUSUM for measured values (Montgomery, section 9.1).

    ``C⁺ᵢ = max(0, xᵢ − (μ₀ + K) + C⁺ᵢ₋₁)``, ``C⁻ᵢ = max(0, (μ₀ − K) − xᵢ + C⁻ᵢ₋₁)`` with
    ``K = k·σ``, signalling when a sum exceeds ``H = h·σ``. ``N⁺``/``N⁻`` count consecutive
    periods with a non-zero sum: at a signal the shift is estimated to have begun after
    sample ``i − N`` and the new mean is ``μ₀ + K + C⁺/N⁺`` (or ``μ₀ − K − C⁻/N⁻``).

    Parameters
    ----------
    x : sequence of float
        Observations (or sample means, with ``sd`` their standard error).
    target : float
        In-control mean μ₀.
    sd : float
        σ of the observations.
    k, h : float
        Reference value and decision interval in units of ``sd``.

    Returns
    -------
    DataFrame
        ``sample`` (1-based), ``x``, ``c_plus``, ``n_plus``, ``c_minus``, ``n_minus``,
        ``signal_up``, ``signal_down``; ``attrs``: ``first_signal`` (sample or ``None``),
        ``direction`` ("up"/"down"), ``shift_start`` (first sample after the estimated
        change), ``shift_mean`` (estimated new mean), ``K``, ``H``.

    Examples
    --------
    Montgomery's example 9.1 (μ₀ = 10, σ = 1, k = 0.5, h = 5):

    >>> x = [9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34, 9.03, 11.47,
    ...      10.51, 9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84, 10.90, 9.33, 12.29, 11.50,
    ...      10.60, 11.08, 10.38, 11.62, 11.31, 10.52]
    >>> cs = tabular_cusum(x, target=10, sd=1)
    >>> a = cs.attrs
    >>> a["first_signal"], round(float(cs["c_plus"].iloc[28]), 2), a["shift_start"]
    (29, 5.28, 23)
    >>> round(a["shift_mean"], 2)
    11.25
    """
    v = np.asarray(x, dtype=float)
    if v.ndim != 1 or not np.isfinite(v).all() or not sd > 0:
        raise ParameterError("观测值须为有限数值，标准差须为正数",
                             "observations must be finite numbers and sd positive")
    big_k, big_h = k * sd, h * sd
    cp = cm = 0.0
    np_ = nm = 0
    rows = []
    for xi in v:
        cp = max(0.0, xi - (target + big_k) + cp)
        cm = max(0.0, (target - big_k) - xi + cm)
        np_ = np_ + 1 if cp > 0 else 0
        nm = nm + 1 if cm > 0 else 0
        rows.append((xi, cp, np_, cm, nm))
    out = pd.DataFrame(rows, columns=["x", "c_plus", "n_plus", "c_minus", "n_minus"])
    out.insert(0, "sample", np.arange(1, len(v) + 1))
    out["signal_up"] = out["c_plus"] > big_h
    out["signal_down"] = out["c_minus"] > big_h
    hit = out[out["signal_up"] | out["signal_down"]]
    attrs = {"first_signal": None, "direction": None, "shift_start": None,
             "shift_mean": float("nan"), "K": big_k, "H": big_h}
    if len(hit):
        r = hit.iloc[0]
        up = bool(r["signal_up"])
        count = int(r["n_plus"] if up else r["n_minus"])
        attrs.update(first_signal=int(r["sample"]), direction="up" if up else "down",
                     shift_start=int(r["sample"]) - count + 1,
                     shift_mean=float(target + big_k + r["c_plus"] / count if up
                                      else target - big_k - r["c_minus"] / count))
    out.attrs.update(attrs)
    return out
