"""Small statistical helpers shared by indicators, monitoring and comparison.

Examples
--------
>>> lo, hi = wilson_interval(48, 235)
>>> round(float(lo), 4), round(float(hi), 4)
(0.1577, 0.2604)
"""

from __future__ import annotations

import numpy as np
from scipy import stats as _st


def wilson_interval(k, n, *, alpha: float = 0.05):
    """Wilson score interval for ``k`` events out of ``n``, vectorised.

    Where ``n`` is 0 (or missing) both bounds are NaN, never an error.

    Parameters
    ----------
    k, n : array-like
        Events and trials.
    alpha : float
        1 − confidence level.

    Returns
    -------
    (lower, upper) : tuple of ndarray

    Notes
    -----
    (p + z²/2n ± z·√(p(1−p)/n + z²/4n²)) / (1 + z²/n); agrees with
    ``statsmodels.stats.proportion.proportion_confint(method="wilson")``.
    """
    k = np.asarray(k, dtype="float64")
    n = np.asarray(n, dtype="float64")
    z = _st.norm.ppf(1 - alpha / 2)
    with np.errstate(divide="ignore", invalid="ignore"):
        p = k / n
        denom = 1 + z**2 / n
        centre = (p + z**2 / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denom
        lower = np.where(n > 0, np.clip(centre - half, 0, 1), np.nan)
        upper = np.where(n > 0, np.clip(centre + half, 0, 1), np.nan)
    return lower, upper


def safe_ratio(num, den):
    """``num / den`` with NaN (not inf, not an error) where ``den`` is 0 or missing.

    Examples
    --------
    >>> safe_ratio([1, 2], [4, 0]).tolist()
    [0.25, nan]
    """
    num = np.asarray(num, dtype="float64")
    den = np.asarray(den, dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / den, np.nan)
