"""CUSUM charts: the case-level Bernoulli CUSUM and the monthly (aggregated) binomial and
Poisson CUSUMs that :func:`casework.analysis.monitor.control_chart` runs beside its limits.

- **Case-level** (:func:`bernoulli_cusum`): W_t = y_t·log(p1/p0) + (1 − y_t)·log((1 − p1)/(1 − p0))
  over a 0/1 stream of events; the threshold h gives an in-control average run length in events
  (Markov chain of Brook & Evans 1972, :func:`cusum_arl`, :func:`cusum_threshold`).
- **Monthly** (:func:`monthly_binomial_cusum`, :func:`monthly_poisson_cusum`): the same
  log-likelihood-ratio scores summed over a month's k events out of n (binomial) or k events
  over an exposure n (Poisson, W = k·log(u1/u0) − (u1 − u0)·n). Their thresholds
  (:func:`monthly_binomial_threshold`, :func:`monthly_poisson_threshold`) give an in-control
  ARL in months at the baseline's mean monthly volume (Siegmund's approximation); a Laney
  factor σ_z inflates the increments' standard deviation when the series is overdispersed.

The statistic restarts at 0 after each signal, so later signals are new episodes.

Examples
--------
>>> from casework.analysis import cusum
>>> out = cusum.bernoulli_cusum([0] * 30 + [1, 0, 1, 1, 0, 1, 1, 1], p0=0.1, p1=0.4, h=3.0)
>>> out.attrs["first_signal"], out.attrs["signal_start"]
(33, 30)
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import pandas as pd

from casework.base.errors import ParameterError


def _llr(p0: float, p1: float) -> tuple[float, float]:
    return float(np.log(p1 / p0)), float(np.log((1 - p1) / (1 - p0)))


def cusum_arl(p: float, *, p0: float, p1: float, h: float, steps: int = 100) -> float:
    """Average run length (events until S_t ≥ h) of a Bernoulli CUSUM when the true rate is
    ``p`` — Markov-chain approximation (Brook & Evans 1972) on a grid of ``steps`` cells per
    unit of the positive score.

    Examples
    --------
    >>> arl0 = cusum_arl(0.1, p0=0.1, p1=0.2, h=4.0)
    >>> arl1 = cusum_arl(0.2, p0=0.1, p1=0.2, h=4.0)
    >>> round(arl0), round(arl1)
    (1893, 75)
    """
    a, b = _llr(p0, p1)
    up_first = a > 0
    if not up_first:  # downward CUSUM: mirror so the positive step is the event's complement
        a, b, p = b, a, 1 - p
    delta = a / steps
    n = int(np.ceil(h / delta))
    if n < 1:
        return 1.0
    up = steps
    down = int(round(-b / delta))
    q = np.zeros((n, n))
    idx = np.arange(n)
    tgt_up = idx + up
    ok = tgt_up < n
    q[idx[ok], tgt_up[ok]] += p
    tgt_dn = np.maximum(idx - down, 0)
    q[idx, tgt_dn] += 1 - p
    try:
        arl = np.linalg.solve(np.eye(n) - q, np.ones(n))
    except np.linalg.LinAlgError:
        return float("inf")
    return float(arl[0])


@lru_cache(maxsize=512)
def _threshold(p0: float, p1: float, arl0: float) -> float:
    a, b = _llr(p0, p1)
    lo, hi = 0.05, 1.0
    while cusum_arl(p0, p0=p0, p1=p1, h=hi) < arl0 and hi < 200:
        lo, hi = hi, hi * 2
    for _ in range(30):
        mid = (lo + hi) / 2
        if cusum_arl(p0, p0=p0, p1=p1, h=mid) < arl0:
            lo = mid
        else:
            hi = mid
    return hi


def cusum_threshold(p0: float, p1: float, *, arl0: float = 2000.0) -> float:
    """The Bernoulli CUSUM threshold h whose in-control average run length is ``arl0`` events.

    Examples
    --------
    >>> h = cusum_threshold(0.05, 0.10, arl0=1000)
    >>> round(cusum_arl(0.05, p0=0.05, p1=0.10, h=h))  # doctest: +SKIP
    1000
    >>> 1.0 < h < 10.0
    True
    """
    if not (0 < p0 < 1 and 0 < p1 < 1) or p0 == p1:
        raise ParameterError("CUSUM 需要 0 < p0, p1 < 1 且 p0 ≠ p1",
                             "CUSUM needs 0 < p0, p1 < 1 and p0 != p1")
    return _threshold(round(float(p0), 6), round(float(p1), 6), float(arl0))


def bernoulli_cusum(events, *, p0: float, p1: float, h: float | None = None,
                    arl0: float = 2000.0, reset: bool = True) -> pd.DataFrame:
    """Bernoulli CUSUM over a case-level 0/1 stream (domain.md §4).

    W_t = y_t·log(p1/p0) + (1 − y_t)·log((1 − p1)/(1 − p0)); S_t = max(0, S_{t−1} + W_t);
    a signal when S_t ≥ h. With p1 > p0 it watches for a rise, with p1 < p0 for a fall.

    Parameters
    ----------
    events : sequence of 0/1 (bool), in time order
        E.g. for each approved arrest of one police station, whether it was later changed to
        bail. Missing values are skipped (S carries over).
    p0, p1 : float
        In-control and out-of-control rates.
    h : float, optional
        Threshold; default :func:`cusum_threshold` for ``arl0``.
    reset : bool
        Restart at 0 after a signal (default), so later signals are new episodes.

    Returns
    -------
    DataFrame
        One row per event: ``y, w, s, signal`` (S_t ≥ h at this event) and ``run_start`` (the
        position where the current excursion of S above 0 began). ``attrs`` holds ``h``,
        ``first_signal`` (position of the first signal or None) and ``signal_start`` (its
        run start).

    Examples
    --------
    >>> y = [0] * 30 + [1, 0, 1, 1, 0, 1, 1, 1]
    >>> out = bernoulli_cusum(y, p0=0.1, p1=0.4, h=3.0)
    >>> out.attrs["first_signal"], out.attrs["signal_start"]
    (33, 30)
    >>> round(float(out["s"].iloc[30]), 3)  # log(0.4/0.1)
    1.386
    """
    y = pd.to_numeric(pd.Series(list(events), dtype="object"),
                      errors="coerce").to_numpy(dtype=float)
    if h is None:
        h = cusum_threshold(p0, p1, arl0=arl0)
    a, b = _llr(p0, p1)
    n = len(y)
    w = np.where(np.isnan(y), 0.0, np.where(y > 0, a, b))
    s = np.zeros(n)
    sig = np.zeros(n, dtype=bool)
    start = np.full(n, -1)
    cur, run = 0.0, -1
    for t in range(n):
        if np.isnan(y[t]):
            s[t], start[t] = cur, run
            continue
        nxt = cur + w[t]
        if nxt <= 0:
            cur, run = 0.0, -1
        else:
            if cur == 0.0:
                run = t
            cur = nxt
        s[t], start[t] = cur, run
        if cur >= h:
            sig[t] = True
            if reset:
                cur = 0.0
                run = -1
    out = pd.DataFrame({"y": y, "w": w, "s": s, "signal": sig,
                        "run_start": pd.array(np.where(start >= 0, start, -1), dtype="Int64")})
    out.loc[out["run_start"] < 0, "run_start"] = pd.NA
    first = int(np.argmax(sig)) if sig.any() else None
    out.attrs.update(h=float(h), first_signal=first,
                     signal_start=(int(out["run_start"].iloc[first]) if first is not None
                                   else None))
    return out


def _siegmund_arl(mu: float, sd: float, h: float) -> float:
    """Siegmund's approximation of the ARL of a CUSUM whose increments have mean ``mu`` < 0 and
    standard deviation ``sd``, threshold ``h``."""
    if sd <= 0:
        return float("inf")
    d = mu / sd
    b = h / sd + 1.166
    if abs(d) < 1e-9:
        return b * b
    return float((np.exp(-2 * d * b) + 2 * d * b - 1) / (2 * d * d))


def _aggregated_threshold(mu: float, sd: float, arl0: float) -> float:
    """Threshold h with Siegmund ARL = ``arl0`` steps (months) for increments (mu, sd)."""
    if sd <= 0 or mu >= 0:
        return float("inf")
    lo, hi = 0.0, sd
    while _siegmund_arl(mu, sd, hi) < arl0 and hi < 1e9:
        lo, hi = hi, hi * 2
    for _ in range(60):
        mid = (lo + hi) / 2
        if _siegmund_arl(mu, sd, mid) < arl0:
            lo = mid
        else:
            hi = mid
    return hi


def monthly_binomial_threshold(p0: float, p1: float, n: float, arl0: float,
                               factor: float = 1.0) -> float:
    """Threshold h of the monthly binomial CUSUM from p0 to p1 with ``n`` cases a month and an
    in-control ARL of ``arl0`` months; ``factor`` (Laney σ_z) inflates the increments' sd.

    Examples
    --------
    >>> h1 = monthly_binomial_threshold(0.1, 0.2, 50, 400)
    >>> h2 = monthly_binomial_threshold(0.1, 0.2, 50, 400, factor=1.5)
    >>> bool(0 < h1 < h2)
    True
    """
    a, b = _llr(p0, p1)
    mu = n * (p0 * (a - b) + b)
    sd = np.sqrt(n * p0 * (1 - p0)) * abs(a - b) * factor
    return _aggregated_threshold(mu, sd, arl0)


def monthly_poisson_threshold(u0: float, u1: float, n: float, arl0: float,
                              factor: float = 1.0) -> float:
    """Threshold h of the monthly Poisson CUSUM from rate u0 to u1 per unit of exposure, with
    exposure ``n`` a month and an in-control ARL of ``arl0`` months; ``factor`` (Laney σ_z)
    inflates the increments' sd.

    Examples
    --------
    >>> bool(0 < monthly_poisson_threshold(2.0, 3.0, 30, 400) < float("inf"))
    True
    """
    a = np.log(u1 / u0)
    mu = u0 * n * a - (u1 - u0) * n
    sd = np.sqrt(u0 * n) * abs(a) * factor
    return _aggregated_threshold(mu, sd, arl0)


def _cusum_path(w, valid, h):
    """Accumulate per-month CUSUM scores ``w`` (months where ``valid`` is false carry S over);
    returns S_t, signal flags and run starts (indices, −1 outside a run). S restarts at 0 after
    each signal."""
    T = len(w)
    s = np.zeros(T)
    sig = np.zeros(T, dtype=bool)
    start = np.full(T, -1)
    cur, run = 0.0, -1
    for t in range(T):
        if valid[t]:
            nxt = cur + w[t]
            if nxt <= 0:
                cur, run = 0.0, -1
            else:
                if cur == 0.0:
                    run = t
                cur = nxt
        s[t], start[t] = cur, run
        if valid[t] and cur >= h:
            sig[t] = True
            cur, run = 0.0, -1
    return s, sig, start


def monthly_binomial_cusum(k, n, p0, p1, h):
    """Monthly (aggregated) CUSUM; returns S_t, signal flags and run starts (indices)."""
    a, b = _llr(p0, p1)
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        return _cusum_path(k * a + (n - k) * b, ~np.isnan(k) & ~np.isnan(n) & (n > 0), h)


def monthly_poisson_cusum(k, n, u0, u1, h):
    """Poisson CUSUM on counts k with exposures n: W = k·log(u1/u0) − (u1 − u0)·n."""
    k, n = np.asarray(k, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore"):
        return _cusum_path(k * np.log(u1 / u0) - (u1 - u0) * n, ~np.isnan(k) & (n > 0), h)
