"""Seasonal decomposition of monthly count series (STL) with leave-year-out outlier months.

Examples
--------
>>> import numpy as np, pandas as pd
>>> from casework.analysis import seasonal as _seasonal
>>> months = pd.period_range("2022-01", periods=36, freq="M").strftime("%Y-%m")
>>> v = np.tile([30, 20, 40, 42, 41, 40, 39, 40, 41, 42, 40, 45], 3).astype(float)
>>> v[30] += 40
>>> out = _seasonal.seasonal(pd.DataFrame({"indicator": "accepted_prosecution_review",
...                                        "kind": "count", "month": months, "value": v}))
>>> out.loc[out["flag"] == "stl", "month"].tolist()
['2024-07']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis.monitor import keys_of


def _year_out_scores(y: np.ndarray, trend: np.ndarray, period: int, threshold: float):
    """Surprise of each month against the same calendar month of the *other* years (after
    removing the STL trend), in robust standard deviations; outliers are removed one at a
    time (largest first) so that one spike does not distort its siblings."""
    d = y - trend
    T = len(y)
    out = np.zeros(T, dtype=bool)
    floor = np.sqrt(np.clip(trend, 1, None))
    score = np.zeros(T)
    for _ in range(max(1, T // 6)):
        r = np.full(T, np.nan)
        for t in range(T):
            sib = [d[u] for u in range(t % period, T, period) if u != t and not out[u]]
            if sib:
                r[t] = d[t] - float(np.mean(sib))
        ok = ~np.isnan(r) & ~out
        if ok.sum() < 3:
            break
        mad = 1.4826 * float(np.median(np.abs(r[ok] - np.median(r[ok]))))
        score = r / np.maximum(mad, floor)
        cand = np.where(ok, np.abs(score), -np.inf)
        t = int(np.argmax(cand))
        if cand[t] <= threshold:
            break
        out[t] = True
    return score, out


def seasonal(monthly: pd.DataFrame, *, period: int = 12, robust: bool = True,
             threshold: float = 3.5) -> pd.DataFrame:
    """STL seasonal decomposition (statsmodels) of monthly count series, with outlier months.

    Each series (group × indicator, counts only) with at least two full seasons is split into
    ``trend``, ``seasonal`` and ``remainder`` (robust STL). A month is flagged ``"stl"`` when,
    after removing the trend, it differs from the same calendar month of the other years by
    more than ``threshold`` robust standard deviations (1.4826·MAD, but at least the Poisson
    √trend) — a leave-year-out comparison, because with two or three years of data STL alone
    can fold one unusual month into its seasonal or trend component. ``surprise`` holds that
    standardised difference. Shorter series are returned with NaN components and no flag.

    Returns
    -------
    DataFrame
        The input columns plus ``trend``, ``seasonal``, ``remainder``, ``seasonally_adjusted``,
        ``surprise``, ``flag`` and ``flag_since``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> months = pd.period_range("2022-01", periods=36, freq="M").strftime("%Y-%m")
    >>> season = np.tile([30, 20, 40, 42, 41, 40, 39, 40, 41, 42, 40, 45], 3)
    >>> v = season + np.random.default_rng(1).normal(0, 3, 36); v[30] += 40
    >>> df = pd.DataFrame({"indicator": "accepted_prosecution_review", "kind": "count",
    ...                    "month": months, "value": v})
    >>> out = seasonal(df)
    >>> out.loc[out["flag"] == "stl", "month"].tolist()
    ['2024-07']
    """
    # statsmodels is heavy (about a second to import): loaded only when STL is asked for
    from statsmodels.tsa.seasonal import STL

    keys = keys_of(monthly)
    df = monthly.sort_values([*keys, "indicator", "month"], kind="stable").reset_index(drop=True)
    pieces = []
    for _, g in df.groupby([*keys, "indicator"], sort=False, dropna=False):
        out = g.copy()
        for c in ("trend", "seasonal", "remainder", "seasonally_adjusted", "surprise"):
            out[c] = np.nan
        out["flag"] = ""
        out["flag_since"] = pd.NA
        y = pd.to_numeric(g["value"], errors="coerce").astype(float)
        is_count = ("kind" not in g.columns) or (str(g["kind"].iloc[0]) == "count")
        if is_count and len(y) >= 2 * period and not y.isna().any():
            fit = STL(y.to_numpy(), period=period, robust=robust).fit()
            trend = np.asarray(fit.trend)
            out["trend"], out["seasonal"], out["remainder"] = trend, fit.seasonal, fit.resid
            out["seasonally_adjusted"] = y.to_numpy() - np.asarray(fit.seasonal)
            score, hit = _year_out_scores(y.to_numpy(), trend, period, threshold)
            out["surprise"] = score
            out.loc[hit, "flag"] = "stl"
            out.loc[hit, "flag_since"] = g["month"].to_numpy()[hit]
        pieces.append(out)
    res = pd.concat(pieces, ignore_index=True)
    res["flag_since"] = res["flag_since"].astype("string")
    return res

