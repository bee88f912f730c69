"""Sustained shifts in monthly rates and means: one signal per entity × indicator (issue 13).

The control charts of :mod:`casework.analysis.monitor` draw limits and fire run rules month
by month; they are a picture for the reader, but their flags carry no p-value, so a report
cannot control its false alarms over the hundreds of series it watches. :func:`scan` tests
every series once and returns the result in the signal shape of
:mod:`casework.analysis.signals` — flagged or not, one row per entity × indicator — ready for
the report-level error control of :func:`casework.analysis.findings.select`.

The test (a change-point scan)
------------------------------
For a series of ``months`` monthly values ending at the report's last month, each candidate
start month ``s`` among the last ``search`` months (default 12) splits the series into
*before* (all months before ``s``, at least ``min_before``) and *after* (``s`` to the end).
The after segment is compared with the before segment:

- **rates** (numerator and denominator): the difference of the two pooled rates, with the
  variance p(1 − p)(1/N_after + 1/N_before) of the pooled binomial model plus the month-to-month
  heterogeneity τ²·Σ(n_t/N)² of each segment (τ² estimated by the DerSimonian–Laird moment
  estimator on the before months of every series of the same indicator and entity type,
  pooled). Its two-sided p-value is compared with Fisher's exact test on the 2 × 2 table of
  the two segments, and the larger is kept: the exact test protects sparse series (a police
  station with a handful of arrests a month, where the normal approximation would raise false
  alarms), the z-test with τ² protects large series whose months vary more than binomially;
- **means** (handling days): the difference of the two pooled means with the pooled
  within-month variance plus τ² (the same estimator); a segment needs at least 20 cases.

**Persistence.** A shift must be carried by more than one month: the after segment has at least
two months, and a candidate counts only if the shift stays in the same direction and nominally
significant (p < 0.05) when the after segment's most extreme month is left out. One bad month
— a single large case, a batch of late entries — therefore never makes a signal, however large.
The rule only removes rejections, so the test stays valid. ``months_signalling`` is the length
of the after segment.

**The search over start months.** The smallest p-value over the k candidates is not a p-value;
the reported ``p_value`` is Šidák-adjusted, 1 − (1 − p_min)^k
(:func:`casework.analysis.signals.search_adjusted`), conservative for the positively dependent
overlapping splits of one series. Counts are not scanned here (seasonality makes a month-level
count test unreliable): the volume of each charge is tested like for like, year on year and as
a trend, by :mod:`casework.analysis.charge_trends`.

**Immature cohorts.** Indicators whose numerator happens months after the cohort date
(``follow_up_months`` in the registry: 捕后取保候审率 by arrest month, 撤回起诉率, 上诉率) are
scanned only up to ``last_month`` minus that lag, so the right-censored recent months never
look like a fall.

Entities follow :data:`casework.analysis.signals.GROUPINGS`: departments by unit and
department, stations by investigating agency and station; names are full
(:func:`casework.analysis.signals.entity_labels`).

Examples
--------
>>> import numpy as np
>>> k = np.array([5] * 18 + [20] * 6)
>>> n = np.full(24, 100)
>>> r = rate_shift(k, n, search=12)
>>> r["start"], round(r["latest_value"], 2), round(r["baseline"], 2), r["p_value"] < 1e-6
(18, 0.2, 0.05, True)
>>> one = np.array([5] * 23 + [40])  # a single bad month is not a shift
>>> rate_shift(one, n, search=12)["p_value"]
1.0
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import indicators as _ind
from casework.analysis import panel as _panel
from casework.analysis import periods as _periods
from casework.analysis import signals as _signals
from casework.model import journeys as _journeys

#: Indicators the periodic overview scans for sustained shifts (rates and means).
SCAN = ("non_arrest_rate", "non_prosecution_rate", "post_arrest_bail_rate", "plea_leniency_rate",
        "recommendation_adoption_rate", "fixed_recommendation_rate", "review_extension_rate",
        "withdrawal_rate", "appeal_rate", "arrest_review_days_mean",
        "prosecution_review_days_mean")

#: Indicators an investigating agency or police station is scanned on: the decisions its cases
#: lead to (arrest, bail after arrest, prosecution). Sentencing, appeals and handling days are
#: the procuratorate's and the court's; scanning stations on them would add tests, not answers.
POLICE_INDICATORS = ("non_arrest_rate", "post_arrest_bail_rate", "non_prosecution_rate")

#: Entity types scanned by default (keys of :data:`casework.analysis.signals.GROUPINGS`).
ENTITY_TYPES = ("all", "unit", "department", "agency", "station")

#: Detector name in the signal frame.
DETECTOR = "shift"

#: Nominal level a shift must keep without its most extreme month (persistence).
PERSIST_P = 0.05

#: Fewest cases a segment of a mean needs.
MIN_CASES_MEAN = 20

METHOD_RATE = ("月度变点检验：在最近12个月内逐一假设起始月份，比较此后与此前的比率（二项检验含月间"
               "差异，与Fisher精确检验取较保守者），剔除最极端一个月后仍须显著，按起始月份搜索作"
               "Šidák校正")
METHOD_MEAN = ("月度变点检验：在最近12个月内逐一假设起始月份，比较此后与此前的平均值"
               "（含月间差异），"
               "剔除最极端一个月后仍须显著，按起始月份搜索作Šidák校正")


# ---------------------------------------------------------------------------------------------
# heterogeneity between months (DerSimonian–Laird, pooled over series)
# ---------------------------------------------------------------------------------------------


def _dl_parts(y, v):
    """(Q − df, C) of one series' months for the DerSimonian–Laird τ² (y values, v variances)."""
    ok = np.isfinite(y) & np.isfinite(v) & (v > 0)
    if ok.sum() < 3:
        return 0.0, 0.0
    w = 1.0 / v[ok]
    ybar = float((w * y[ok]).sum() / w.sum())
    q = float((w * (y[ok] - ybar) ** 2).sum())
    c = float(w.sum() - (w ** 2).sum() / w.sum())
    return q - (ok.sum() - 1), c


def tau2_rates(series, *, baseline: int) -> float:
    """Pooled between-month variance τ² of rates over the first ``baseline`` months.

    Parameters
    ----------
    series : iterable of (k, n) arrays
        Monthly numerators and denominators of each series of one indicator and entity type.
    baseline : int
        Months at the start of each series used (before any candidate shift).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> flat = [(rng.binomial(200, 0.1, 24), np.full(24, 200)) for _ in range(30)]
    >>> bool(tau2_rates(flat, baseline=12) < 1e-4)
    True
    >>> wobbly = [(rng.binomial(200, rng.uniform(0.05, 0.15, 24)), np.full(24, 200))
    ...           for _ in range(30)]
    >>> bool(tau2_rates(wobbly, baseline=12) > 5e-4)
    True
    """
    num = den = 0.0
    for k, n in series:
        k = np.asarray(k, dtype=float)[:baseline]
        n = np.asarray(n, dtype=float)[:baseline]
        ok = n > 0
        if ok.sum() < 3 or n[ok].sum() <= 0:
            continue
        p = k[ok].sum() / n[ok].sum()
        if not 0 < p < 1:
            continue
        a, c = _dl_parts(k[ok] / n[ok], p * (1 - p) / n[ok])
        num, den = num + a, den + c
    return max(0.0, num / den) if den > 0 else 0.0


def tau2_means(series, *, baseline: int) -> float:
    """Pooled between-month variance τ² of monthly means (x, n, within-month variance s2)."""
    num = den = 0.0
    for x, n, s2 in series:
        x, n, s2 = (np.asarray(a, dtype=float)[:baseline] for a in (x, n, s2))
        ok = (n > 1) & np.isfinite(x) & np.isfinite(s2)
        if ok.sum() < 3:
            continue
        a, c = _dl_parts(x[ok], s2[ok] / n[ok])
        num, den = num + a, den + c
    return max(0.0, num / den) if den > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# one series
# ---------------------------------------------------------------------------------------------


def _candidates(length: int, search: int, min_before: int) -> range:
    return range(max(min_before, length - search), length - 1)


def _nothing(n_cand: int) -> dict:
    return {"start": None, "p_value": np.nan if n_cand == 0 else 1.0, "p_min": np.nan,
            "latest_value": np.nan, "baseline": np.nan, "effect": np.nan,
            "effect_lower": np.nan, "effect_upper": np.nan, "n": np.nan, "candidates": n_cand}


def _search(p: float, k: int) -> float:
    """Šidák adjustment for the search over ``k`` start months (1 stays 1)."""
    return 1.0 if p >= 1 else _signals.search_adjusted(p, k)


def _plain(out: dict) -> dict:
    return {k: float(v) if isinstance(v, (np.floating, np.integer)) and k != "start" else v
            for k, v in out.items()}


def _rate_args(ka, na, kb, nb, wa2, wb2, tau2):
    """What :func:`_rate_p` tests: (|z|, obs, total, events, draws); None when the variance
    is not positive (p = 1)."""
    p0 = (ka + kb) / (na + nb)
    var = p0 * (1 - p0) * (1 / na + 1 / nb) + tau2 * (wa2 + wb2)
    if var <= 0:
        return None
    z = (ka / na - kb / nb) / np.sqrt(var)
    total, events, draws = int(round(na + nb)), int(round(ka + kb)), int(round(na))
    return abs(z), int(round(ka)), total, events, draws


def _rate_ps(args: list) -> list[float]:
    """:func:`_rate_p` of many :func:`_rate_args` at once: one SciPy call per distribution
    (the same values element by element; per-call overhead dominated the scan)."""
    out = [1.0] * len(args)
    todo = [i for i, x in enumerate(args) if x is not None]
    if todo:
        z, obs, total, events, draws = (np.array([args[i][j] for i in todo]) for j in range(5))
        pz = 2 * _st.norm.sf(z)
        lower = _st.hypergeom.cdf(obs, total, events, draws)
        upper = _st.hypergeom.sf(obs - 1, total, events, draws)
        for j, i in enumerate(todo):
            pf = min(1.0, 2 * min(float(lower[j]), float(upper[j])))
            out[i] = max(float(pz[j]), pf)
    return out


def _rate_p(ka, na, kb, nb, wa2, wb2, tau2):
    """Two-sided p of rate(after) − rate(before): max of the z-test with τ² and Fisher's."""
    return _rate_ps([_rate_args(ka, na, kb, nb, wa2, wb2, tau2)])[0]


def rate_shift(k, n, *, search: int = 12, min_before: int = 6, tau2: float = 0.0) -> dict:
    """The change-point test of one monthly rate series (see the module docstring).

    Parameters
    ----------
    k, n : array-like
        Monthly numerators and denominators, oldest first, ending at the report's last month.
    search : int
        Candidate start months: the last ``search`` months, but never the last month alone.
    min_before : int
        Fewest months before a candidate start.
    tau2 : float
        Between-month variance of the rate (:func:`tau2_rates`).

    Returns
    -------
    dict
        ``start`` (index of the best start month, None when nothing was testable),
        ``p_value`` (Šidák-adjusted over the candidates; 1.0 when no candidate persisted; NaN
        when untestable), ``p_min`` (the best candidate's own p), ``latest_value``,
        ``baseline`` (after and before rates), ``effect`` with ``effect_lower`` /
        ``effect_upper`` (95 %), ``n`` (denominator after) and ``candidates``.
    """
    k = np.nan_to_num(np.asarray(k, dtype=float))
    n = np.nan_to_num(np.asarray(n, dtype=float))
    length = len(n)
    cands = [s for s in _candidates(length, search, min_before)
             if n[s:].sum() > 0 and n[:s].sum() > 0]
    if not cands:
        return _nothing(0)
    best, best_p = None, np.inf
    for s in cands:
        ka, na, kb, nb = k[s:].sum(), n[s:].sum(), k[:s].sum(), n[:s].sum()
        wa2, wb2 = float((n[s:] ** 2).sum() / na ** 2), float((n[:s] ** 2).sum() / nb ** 2)
        p = _rate_p(ka, na, kb, nb, wa2, wb2, tau2)
        if p >= best_p:
            continue
        # persistence: without the after segment's most extreme month the shift remains
        side = np.sign(ka / na - kb / nb)
        if side == 0:
            continue
        dev = side * (k[s:] - n[s:] * kb / nb)
        u = s + int(np.argmax(dev))
        ka1, na1 = ka - k[u], na - n[u]
        if na1 <= 0 or np.sign(ka1 / na1 - kb / nb) != side:
            continue
        rest = np.delete(n[s:], u - s)
        if _rate_p(ka1, na1, kb, nb, float((rest ** 2).sum() / na1 ** 2), wb2, tau2) >= PERSIST_P:
            continue
        best, best_p = s, p
    out = _nothing(len(cands))
    if best is None:
        return out
    s = best
    ka, na, kb, nb = k[s:].sum(), n[s:].sum(), k[:s].sum(), n[:s].sum()
    pa, pb = ka / na, kb / nb
    het = tau2 * float((n[s:] ** 2).sum() / na ** 2 + (n[:s] ** 2).sum() / nb ** 2)
    se = float(np.sqrt(pa * (1 - pa) / na + pb * (1 - pb) / nb + het))
    out.update(start=s, p_min=best_p, p_value=_search(best_p, len(cands)),
               latest_value=pa, baseline=pb, effect=pa - pb, effect_lower=pa - pb - 1.96 * se,
               effect_upper=pa - pb + 1.96 * se, n=na)
    return _plain(out)


def mean_shift(x, n, s2, *, search: int = 12, min_before: int = 6, tau2: float = 0.0,
               min_cases: int = MIN_CASES_MEAN) -> dict:
    """The change-point test of one monthly mean series (handling days).

    ``x`` monthly means, ``n`` cases, ``s2`` within-month variances; other parameters and the
    result as in :func:`rate_shift`.

    Examples
    --------
    >>> x = np.array([20.0] * 16 + [30.0] * 8)
    >>> r = mean_shift(x, np.full(24, 40), np.full(24, 100.0))
    >>> r["start"], round(r["effect"], 1), r["p_value"] < 1e-6
    (16, 10.0, True)
    """
    x = np.asarray(x, dtype=float)
    n = np.nan_to_num(np.asarray(n, dtype=float))
    s2 = np.asarray(s2, dtype=float)
    ok = (n > 0) & np.isfinite(x)
    n = np.where(ok, n, 0.0)
    sx = np.where(ok, x * n, 0.0)
    use = ok & (n > 1) & np.isfinite(s2)
    if use.sum() == 0:
        return _nothing(0)
    sigma2 = float(((n[use] - 1) * s2[use]).sum() / (n[use] - 1).sum())
    length = len(n)
    cands = [s for s in _candidates(length, search, min_before)
             if n[s:].sum() >= min_cases and n[:s].sum() >= min_cases]
    if not cands or sigma2 <= 0:
        return _nothing(0)

    def p_of(sa, na, sb, nb, wa2, wb2):
        var = sigma2 * (1 / na + 1 / nb) + tau2 * (wa2 + wb2)
        return float(2 * _st.norm.sf(abs(sa / na - sb / nb) / np.sqrt(var)))

    best, best_p = None, np.inf
    for s in cands:
        sa, na, sb, nb = sx[s:].sum(), n[s:].sum(), sx[:s].sum(), n[:s].sum()
        wa2, wb2 = float((n[s:] ** 2).sum() / na ** 2), float((n[:s] ** 2).sum() / nb ** 2)
        p = p_of(sa, na, sb, nb, wa2, wb2)
        if p >= best_p:
            continue
        side = np.sign(sa / na - sb / nb)
        if side == 0:
            continue
        dev = side * (sx[s:] - n[s:] * sb / nb)
        u = s + int(np.argmax(dev))
        sa1, na1 = sa - sx[u], na - n[u]
        if na1 < min_cases or np.sign(sa1 / na1 - sb / nb) != side:
            continue
        rest = np.delete(n[s:], u - s)
        if p_of(sa1, na1, sb, nb, float((rest ** 2).sum() / na1 ** 2), wb2) >= PERSIST_P:
            continue
        best, best_p = s, p
    out = _nothing(len(cands))
    if best is None:
        return out
    s = best
    sa, na, sb, nb = sx[s:].sum(), n[s:].sum(), sx[:s].sum(), n[:s].sum()
    ma, mb = sa / na, sb / nb
    het = tau2 * float((n[s:] ** 2).sum() / na ** 2 + (n[:s] ** 2).sum() / nb ** 2)
    se = float(np.sqrt(sigma2 * (1 / na + 1 / nb) + het))
    out.update(start=s, p_min=best_p, p_value=_search(best_p, len(cands)),
               latest_value=ma, baseline=mb, effect=ma - mb, effect_lower=ma - mb - 1.96 * se,
               effect_upper=ma - mb + 1.96 * se, n=na)
    return _plain(out)


# ---------------------------------------------------------------------------------------------
# relative to the rest of the parent (unit, agency …): where a shift sits
# ---------------------------------------------------------------------------------------------

#: entity type -> (cell keys, parent keys): an entity is compared with the rest of its parent
#: inside each unit, so a unit-wide shift is the unit's alone (its departments, agencies and
#: stations moved with it), while one station's jump stands out from its agency.
RELATIVE_TO = {
    "unit": (["unit_code"], []),
    "department": (["unit_code", "department"], ["unit_code"]),
    "prosecutor": (["unit_code", "department", "prosecutor_id"], ["unit_code", "department"]),
    "agency": (["unit_code", "referring_agency"], ["unit_code"]),
    "station": (["unit_code", "referring_agency", "police_station"],
                ["unit_code", "referring_agency"]),
    "charge_group": (["unit_code", "charge_group"], ["unit_code"]),
    "charge": (["unit_code", "charge"], ["unit_code"]),
}


def _seg(a, mask):
    return a[:, mask].sum(axis=1)


def _relative_args(ke, n, re_, rn, a, b, phi):
    """What :func:`_relative_p` tests: (obs, total, pi, |z|, side); None when untestable
    (p NaN), ``()`` when there is nothing to test (p 1, side 0)."""
    ka, kb, na, nb = _seg(ke, a), _seg(ke, b), _seg(n, a), _seg(n, b)
    ra, rb, rna, rnb = _seg(re_, a), _seg(re_, b), _seg(rn, a), _seg(rn, b)
    ok = (rna > 0) & (rnb > 0) & ((ra + rb) > 0)
    if not ok.any():
        return None
    pra = np.where(ra[ok] > 0, ra[ok], 0.5) / rna[ok]
    prb = np.where(rb[ok] > 0, rb[ok], 0.5) / rnb[ok]
    ea, eb = float((na[ok] * pra).sum()), float((nb[ok] * prb).sum())
    oa, ob = float(ka[ok].sum()), float(kb[ok].sum())
    if ea <= 0 or eb <= 0 or oa + ob == 0:
        return ()
    total, obs = int(round(oa + ob)), int(round(oa))
    pi = ea / (ea + eb)
    lr = np.log((oa + 0.5) / ea) - np.log((ob + 0.5) / eb)
    var = phi * (1 / (oa + 0.5) + 1 / (ob + 0.5)) + 1 / (ra[ok].sum() + 0.5) \
        + 1 / (rb[ok].sum() + 0.5)
    return obs, total, pi, abs(lr) / np.sqrt(var), int(np.sign(lr))


def _relative_ps(args: list) -> list[float]:
    """The p of many :func:`_relative_args` at once (NaN for None, 1 for ``()``): one SciPy
    call per distribution, the same values element by element."""
    out = [np.nan if x is None else 1.0 for x in args]
    todo = [i for i, x in enumerate(args) if x]
    if todo:
        obs, total, pi, z = (np.array([args[i][j] for i in todo]) for j in range(4))
        lower = _st.binom.cdf(obs, total, pi)
        upper = _st.binom.sf(obs - 1, total, pi)
        pz = 2 * _st.norm.sf(z)
        for j, i in enumerate(todo):
            exact = min(1.0, 2 * min(float(lower[j]), float(upper[j])))
            out[i] = max(exact, float(pz[j]))
    return out


def _relative_p(ke, n, re_, rn, a, b, phi):
    """(p, side) of the child's rare-side events after vs before, each against the rest of its
    parent cells: exact conditional binomial test (expected counts from the rest's rates)
    and a log rate-ratio z-test with dispersion ``phi``; the larger p is kept."""
    args = _relative_args(ke, n, re_, rn, a, b, phi)
    return _relative_ps([args])[0], (args[4] if args else 0)


def relative_rate_shift(k, n, K, N, *, search: int = 12, min_before: int = 6,
                        phi: float = 1.0, tau2: float = 0.0, complement: bool = False) -> dict:
    """The change-point test of an entity's rate against the rest of its parent.

    Parameters
    ----------
    k, n : array-like, shape (cells, months)
        The entity's monthly numerators and denominators, one row per parent cell (a station
        in each unit it serves); a 1-d series is one cell.
    K, N : array-like, same shape
        The parent cells' totals (the entity included).
    phi : float
        Dispersion of the entity's monthly counts (≥ 1) for the z-test.
    tau2 : float
        Between-month variance of the entity's own rate (:func:`tau2_rates`).
    complement : bool
        Test the non-events (common events such as 采纳: the rarer side is the informative one).

    Returns
    -------
    dict
        As :func:`rate_shift`; ``latest_value``, ``baseline`` and ``effect`` are the entity's
        own rates after and before. A candidate's p-value is the larger of the test against
        the parent and the entity's own test (:func:`rate_shift`'s): its own rate must have
        moved, and moved more than its parent's (an intersection–union test, valid because
        each part is) — so a unit does not look better only because another unit got worse.

    Examples
    --------
    >>> months = 24
    >>> n = np.full((1, months), 50.0); N = np.full((1, months), 500.0)
    >>> K = np.full((1, months), 25.0)                    # the parent: 5 % throughout
    >>> k = np.array([[2.0] * 16 + [12.0] * 8])          # the entity: 4 % → 24 %
    >>> K = K + k - 2.5                                   # parent total includes the entity
    >>> r = relative_rate_shift(k, n, K, N)
    >>> r["start"], round(r["latest_value"], 2), r["p_value"] < 1e-6
    (16, 0.24, True)
    """
    k, n, K, N = (np.atleast_2d(np.nan_to_num(np.asarray(x, dtype=float))) for x in (k, n, K, N))
    ke = n - k if complement else k
    re_ = (N - K) - (n - k) if complement else K - k
    rn = N - n
    length = n.shape[1]
    idx = np.arange(length)
    tot = n.sum(axis=0)
    cands = [s for s in _candidates(length, search, min_before)
             if tot[s:].sum() > 0 and tot[:s].sum() > 0]
    if not cands:
        return _nothing(0)
    flip = -1 if complement else 1
    best, best_p, testable = None, np.inf, False
    ko, no = k.sum(axis=0), n.sum(axis=0)
    # the numbers each candidate may need (test against the parent, own test, test without
    # the month that pulls hardest), then all p-values at once (SciPy per candidate was most
    # of a scan's time), then the same choice as candidate by candidate
    tests = {}
    for s in cands:
        a, b = idx >= s, idx < s
        rel = _relative_args(ke, n, re_, rn, a, b, phi)
        side = rel[4] if rel else 0
        ka, na, kb, nb = ko[a].sum(), no[a].sum(), ko[b].sum(), no[b].sum()
        if rel is None or side == 0 or np.sign(ka / na - kb / nb) != side * flip:
            tests[s] = (rel, False, None, None)
            continue
        own = _rate_args(ka, na, kb, nb, float((no[a] ** 2).sum() / na ** 2),
                         float((no[b] ** 2).sum() / nb ** 2), tau2)
        # persistence: leave out the after segment's month that pulls hardest
        rate_b = np.where(rn[:, b].sum(1) > 0, re_[:, b].sum(1) / np.maximum(rn[:, b].sum(1), 1),
                          0.0)
        expect = (n[:, a] * rate_b[:, None]).sum(axis=0)
        u = np.flatnonzero(a)[int(np.argmax(side * (ke[:, a].sum(axis=0) - expect)))]
        tests[s] = (rel, True, own, _relative_args(ke, n, re_, rn, a & (idx != u), b, phi))
    rels = [t[0] for t in tests.values()]
    checked = [s for s, t in tests.items() if t[1]]
    p_rel = dict(zip(tests, _relative_ps(rels)))
    p_own = dict(zip(checked, _rate_ps([tests[s][2] for s in checked])))
    p_left = dict(zip(checked, _relative_ps([tests[s][3] for s in checked])))
    for s in cands:
        rel, directed, _, left = tests[s]
        if np.isnan(p_rel[s]):
            continue
        testable = True
        if not directed:  # no direction, or the entity's own rate moved the other way
            continue
        p = max(p_rel[s], p_own[s])
        if p >= best_p:
            continue
        side = rel[4]
        if np.isnan(p_left[s]) or (left[4] if left else 0) != side or p_left[s] >= PERSIST_P:
            continue
        best, best_p = s, p
    out = _nothing(len(cands) if testable else 0)
    if best is None:
        return out
    a, b = idx >= best, idx < best
    na, nb = n[:, a].sum(), n[:, b].sum()
    pa, pb = k[:, a].sum() / na, k[:, b].sum() / nb
    se = float(np.sqrt(max(phi, 1.0) * (pa * (1 - pa) / na + pb * (1 - pb) / nb)))
    out.update(start=best, p_min=best_p, p_value=_search(best_p, len(cands)),
               latest_value=pa, baseline=pb, effect=pa - pb, effect_lower=pa - pb - 1.96 * se,
               effect_upper=pa - pb + 1.96 * se, n=na)
    return _plain(out)


def relative_mean_shift(sx, n, ss, SX, NN, *, search: int = 12, min_before: int = 6,
                        sigma2: float, tau2: float = 0.0,
                        min_cases: int = MIN_CASES_MEAN) -> dict:
    """The change-point test of an entity's mean against the rest of its parent.

    ``sx``, ``n``, ``ss``: the entity's monthly sums, cases and sums of squares, shape (cells,
    months); ``SX``, ``NN``: the parent cells' sums and cases; ``sigma2``: within-month
    variance; ``tau2``: between-month variance of the entity's mean. The difference of
    (entity − rest) after and before is tested, and the entity's own change must be
    significant too (the larger p is kept); otherwise as :func:`relative_rate_shift`.

    Examples
    --------
    >>> n = np.full((1, 24), 30.0); NN = np.full((1, 24), 300.0)
    >>> sx = n * np.array([[20.0] * 16 + [32.0] * 8]); SX = NN * 20.0 + sx - n * 20.0
    >>> r = relative_mean_shift(sx, n, None, SX, NN, sigma2=100.0)
    >>> r["start"], round(r["effect"], 1), r["p_value"] < 1e-6
    (16, 12.0, True)
    """
    sx, n, SX, NN = (np.atleast_2d(np.nan_to_num(np.asarray(x, dtype=float)))
                     for x in (sx, n, SX, NN))
    rsx, rn = SX - sx, NN - n
    length = n.shape[1]
    idx = np.arange(length)
    tot = n.sum(axis=0)
    cands = [s for s in _candidates(length, search, min_before)
             if tot[s:].sum() >= min_cases and tot[:s].sum() >= min_cases]
    if not cands or sigma2 <= 0:
        return _nothing(0)

    def stats(a, b):
        out = []
        for m in (a, b):
            nc, rc = n[:, m].sum(1), rn[:, m].sum(1)
            ok = rc > 0
            if not ok.any() or nc[ok].sum() == 0:
                return None
            own = sx[:, m].sum(1)[ok].sum() / nc[ok].sum()
            rest = (nc[ok] * rsx[:, m].sum(1)[ok] / rc[ok]).sum() / nc[ok].sum()
            w = (n[:, m][ok].sum(0) / nc[ok].sum()) ** 2
            out.append((own - rest, nc[ok].sum(), rc[ok].sum(), float(w.sum()), own))
        (da, na, ra, wa, xa), (db, nb, rb, wb, xb) = out
        var = sigma2 * (1 / na + 1 / nb + 1 / ra + 1 / rb) + tau2 * (wa + wb)
        own = sigma2 * (1 / na + 1 / nb) + tau2 * (wa + wb)
        p = max(float(2 * _st.norm.sf(abs(da - db) / np.sqrt(var))),
                float(2 * _st.norm.sf(abs(xa - xb) / np.sqrt(own))))
        return p, int(np.sign(da - db)), xa, xb, na, nb, own

    best, best_p, testable = None, np.inf, False
    for s in cands:
        a, b = idx >= s, idx < s
        st = stats(a, b)
        if st is None:
            continue
        testable = True
        p, side, xa, xb = st[:4]
        if p >= best_p or side == 0 or np.sign(xa - xb) != side:
            continue
        month_mean = np.where(n[:, a].sum(0) > 0, sx[:, a].sum(0) / np.maximum(n[:, a].sum(0), 1),
                              xb)
        u = np.flatnonzero(a)[int(np.argmax(side * (month_mean - xb) * n[:, a].sum(0)))]
        a1 = a & (idx != u)
        if n[:, a1].sum() < min_cases:
            continue
        st1 = stats(a1, b)
        if st1 is None or st1[1] != side or st1[0] >= PERSIST_P:
            continue
        best, best_p = s, p
    out = _nothing(len(cands) if testable else 0)
    if best is None:
        return out
    a, b = idx >= best, idx < best
    _, _, xa, xb, na, nb, var = stats(a, b)
    se = float(np.sqrt(var))
    out.update(start=best, p_min=best_p, p_value=_search(best_p, len(cands)),
               latest_value=xa, baseline=xb, effect=xa - xb, effect_lower=xa - xb - 1.96 * se,
               effect_upper=xa - xb + 1.96 * se, n=na)
    return _plain(out)


# ---------------------------------------------------------------------------------------------
# a report's scan
# ---------------------------------------------------------------------------------------------


def _direction(indicator_direction: str, effect: float) -> str:
    if not np.isfinite(effect) or effect == 0 or indicator_direction == "range":
        return "neutral"
    up = effect > 0
    return "unfavourable" if up == (indicator_direction == "lower_better") else "favourable"


def _cells(m: pd.DataFrame, months_codes, kind: str, parent_keys) -> pd.DataFrame:
    """One row per (entity, cell): monthly arrays of the cell and of its parent cell."""
    m = m.assign(_num=pd.to_numeric(m["numerator"], errors="coerce").fillna(0.0),
                 _den=pd.to_numeric(m["denominator"], errors="coerce").fillna(0.0))
    if kind == "mean":
        x = pd.to_numeric(m["value"], errors="coerce")
        se = pd.to_numeric(m["value_se"], errors="coerce")
        m = m.assign(_num=(x * m["_den"]).fillna(0.0),
                     _ss=((m["_den"] - 1).clip(lower=0) * se ** 2 * m["_den"]
                          + m["_den"] * x ** 2).fillna(0.0))
    else:
        m = m.assign(_ss=0.0)
    pk = [m[k].astype("string").fillna("\x00") for k in parent_keys]
    m = m.assign(_parent=pd.Series("|", index=m.index, dtype="string").str.cat(pk, sep="|")
                 if pk else "all")
    pos = {c: i for i, c in enumerate(months_codes)}
    m = m[m["month"].isin(pos)]
    cols = ["_num", "_den", "_ss"]
    cell = m.groupby(["entity_id", "_parent", "month"], sort=False)[cols].sum()
    parent = m.groupby(["_parent", "month"], sort=False)[cols].sum()
    L = len(months_codes)
    # the sums into (pair or parent) × column × month arrays by position, not a loop of
    # .loc look-ups per (entity, parent cell); pairs in order of first appearance, as a
    # groupby(sort=False) over them would give
    pair_codes, pairs = pd.MultiIndex.from_arrays(
        [cell.index.get_level_values(0), cell.index.get_level_values(1)]).factorize()
    par_codes, parents = parent.index.get_level_values(0).factorize()
    own = np.zeros((len(pairs), 3, L))
    own[pair_codes, :, cell.index.get_level_values(2).map(pos).to_numpy()] = cell[cols].to_numpy()
    tot = np.zeros((len(parents), 3, L))
    tot[par_codes, :, parent.index.get_level_values(1).map(pos).to_numpy()] = \
        parent[cols].to_numpy()
    of_pair = parents.get_indexer(pairs.get_level_values(1))
    return [(eid, np.concatenate([own[i], tot[of_pair[i]]]))
            for i, eid in enumerate(pairs.get_level_values(0))]


def _phi(arrays, baseline: int) -> float:
    """Pooled dispersion (Pearson χ²/df) of the entities' monthly counts in the baseline."""
    x2 = df = 0.0
    for k, n in arrays:
        k, n = k[:baseline], n[:baseline]
        ok = n > 0
        if ok.sum() < 3 or n[ok].sum() == 0:
            continue
        p = k[ok].sum() / n[ok].sum()
        if not 0 < p < 1:
            continue
        x2 += float(((k[ok] - n[ok] * p) ** 2 / (n[ok] * p * (1 - p))).sum())
        df += ok.sum() - 1
    return max(1.0, x2 / df) if df >= 10 else 1.0


def _entity_results(m, ind, etype, *, months_codes, search, min_before):
    """entity_id → test result for one indicator and entity type."""
    baseline = max(min_before, len(months_codes) - search)
    if etype == "all":
        cells = _cells(m, months_codes, ind.kind, [])
        arrays = {eid: arr for eid, arr in cells}
        if ind.kind == "mean":
            series = {eid: _mean_arrays(a[0], a[1], a[2]) for eid, a in arrays.items()}
            tau2 = tau2_means(series.values(), baseline=baseline)
            return {eid: mean_shift(*v, search=search, min_before=min_before, tau2=tau2)
                    for eid, v in series.items()}
        tau2 = tau2_rates([(a[0], a[1]) for a in arrays.values()], baseline=baseline)
        return {eid: rate_shift(a[0], a[1], search=search, min_before=min_before, tau2=tau2)
                for eid, a in arrays.items()}
    cells = _cells(m, months_codes, ind.kind, RELATIVE_TO[etype][1])
    by_entity: dict[str, list] = {}
    for eid, arr in cells:
        by_entity.setdefault(eid, []).append(arr)
    stacked = {eid: np.stack(v, axis=1) for eid, v in by_entity.items()}  # (6, cells, L)
    if ind.kind == "mean":
        own = {eid: _mean_arrays(a[0].sum(0), a[1].sum(0), a[2].sum(0))
               for eid, a in stacked.items()}
        tau2 = tau2_means(own.values(), baseline=baseline)
        s2 = [(v[1] - 1) * v[2] for v in own.values()]
        dfs = [np.clip(v[1] - 1, 0, None) for v in own.values()]
        num = float(np.nansum([np.nansum(x) for x in s2]))
        den = float(sum(d.sum() for d in dfs))
        sigma2 = num / den if den > 0 else 0.0
        return {eid: relative_mean_shift(a[0], a[1], a[2], a[3], a[4], search=search,
                                         min_before=min_before, sigma2=sigma2, tau2=tau2)
                for eid, a in stacked.items()}
    phi = _phi([(a[0].sum(0), a[1].sum(0)) for a in stacked.values()], baseline)
    tot_k = sum(float(a[0].sum()) for a in stacked.values())
    tot_n = sum(float(a[1].sum()) for a in stacked.values())
    complement = tot_n > 0 and tot_k / tot_n > 0.5
    tau2 = tau2_rates([(a[0].sum(0), a[1].sum(0)) for a in stacked.values()],
                      baseline=baseline)
    return {eid: relative_rate_shift(a[0], a[1], a[3], a[4], search=search,
                                     min_before=min_before, phi=phi, tau2=tau2,
                                     complement=complement)
            for eid, a in stacked.items()}


def _mean_arrays(sx, n, ss):
    """(x, n, s2) from monthly sums, cases and sums of squares."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.where(n > 0, sx / np.where(n > 0, n, 1), np.nan)
        s2 = np.where(n > 1, (ss - n * x ** 2) / np.where(n > 1, n - 1, 1), np.nan)
    return x, n, np.clip(s2, 0, None)


def _series_signals(m: pd.DataFrame, ind, etype: str, *, months_codes, search: int,
                    min_before: int, section: str, count_unit: str) -> list[dict]:
    """Signal rows of one indicator and entity type (``m``: its monthly rows with labels)."""
    results = _entity_results(m, ind, etype, months_codes=months_codes, search=search,
                              min_before=min_before)
    first = m.drop_duplicates("entity_id").set_index("entity_id")
    rows = []
    for eid, r in results.items():
        on = r["start"] is not None and r["p_min"] < PERSIST_P
        lab = first.loc[eid]
        rows.append({
            "detector": DETECTOR, "section": section, "entity_type": etype,
            "entity_id": eid, "entity_name": lab["entity_name"], "within": lab["within"],
            "indicator": ind.code, "indicator_name": ind.name_zh,
            "direction": _direction(ind.direction, r["effect"]),
            "start_month": months_codes[r["start"]] if on else None,
            "months_signalling": len(months_codes) - r["start"] if on else 0,
            "latest_value": r["latest_value"], "baseline": r["baseline"], "effect": r["effect"],
            "effect_lower": r["effect_lower"], "effect_upper": r["effect_upper"], "n": r["n"],
            "p_value": r["p_value"], "method": METHOD_MEAN if ind.kind == "mean" else METHOD_RATE,
            "kind": ind.kind, "unit_zh": ind.unit_zh if ind.kind == "mean" else "",
            "count_unit": count_unit, "last_month": months_codes[-1],
        })
    return rows


def _unit_names(records) -> dict | None:
    if hasattr(records, "columns") and {"unit_code", "unit_name"} <= set(records.columns):
        u = records[["unit_code", "unit_name"]].dropna().drop_duplicates("unit_code")
        return dict(zip(u["unit_code"].astype(str), u["unit_name"].astype(str), strict=True))
    return None


#: The columns :func:`casework.analysis.signals.entity_labels` reads.
_LABEL_COLUMNS = ("unit_code", "unit_name", "department", "prosecutor_id", "prosecutor_name",
                  "account", "referring_agency", "police_station", "charge", "charge_group")


def _within(records, entity_type: str, cache: dict) -> pd.Series:
    """entity_id → the units whose records include it (agencies, stations), once per scan.

    Only the distinct (agency, station, unit) rows are labelled: ``within`` is a set of units,
    the same whether a row occurs once or a thousand times."""
    if entity_type not in cache:
        cols = [c for c in ("referring_agency", "police_station", "unit_code")
                if c in records.columns]
        rows = records[cols].drop_duplicates() if isinstance(records, pd.DataFrame) else records
        cache[entity_type] = (_signals.entity_table(rows, entity_type)
                              .set_index("entity_id")["within"])
    return cache[entity_type]


def _with_labels(m: pd.DataFrame, entity_type: str, records, names,
                 within_cache: dict | None = None) -> pd.DataFrame:
    """Monthly rows with entity_type, entity_id, entity_name and within."""
    cols = [c for c in _LABEL_COLUMNS if c in m.columns]
    if cols and "unit_name" not in cols:
        # each row's label depends on its own keys only (no unit_name to borrow from other
        # rows): label each distinct key once, not once per month and indicator
        group = m.groupby(cols, dropna=False, sort=False).ngroup().to_numpy()
        firsts = m.loc[~pd.Series(group).duplicated().to_numpy(), cols]  # in group order
        lab = _signals.entity_labels(firsts, entity_type, unit_names=names)
        lab = lab.iloc[group].set_axis(m.index)
    else:
        lab = _signals.entity_labels(m, entity_type, unit_names=names)
    if entity_type in ("agency", "station") and hasattr(records, "columns"):
        within = _within(records, entity_type, {} if within_cache is None else within_cache)
        lab["within"] = lab["entity_id"].map(within).fillna("").astype("string")
    return m.assign(entity_type=entity_type, entity_id=lab["entity_id"],
                    entity_name=lab["entity_name"], within=lab["within"])


def scan(records, *, period, journeys=None, indicators=SCAN, entity_types=ENTITY_TYPES,
         last_month=None, months: int = 24, search: int = 12, min_before: int = 6,
         count_unit: str = "case", section: str = "problems",
         police=POLICE_INDICATORS) -> pd.DataFrame:
    """Test every entity × indicator series for a sustained shift; signals for the findings.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table.
    period : str or Period
        The report period; series end at its last month (or at ``last_month`` when earlier).
    journeys : DataFrame or path, optional
        As in :func:`casework.analysis.panel.monthly` (built when needed).
    indicators : codes
        Rates and means to scan (counts and medians are skipped).
    entity_types : sequence of str
        Keys of :data:`casework.analysis.signals.GROUPINGS` (``all``, ``unit``,
        ``department``, ``charge_group``, ``agency``, ``station`` …).
    last_month : str or Period, optional
        Last month with data (:func:`casework.analysis.periods.last_data_month`); trailing
        months without data and the immature months of lagged indicators are left out.
    months, search, min_before : int
        Series length, candidate start months (the last ``search``), fewest months before a
        start.
    count_unit : {"case", "person"}
        件 by default: the persons of one case are decided together, so person rates are
        overdispersed at the source.
    section : str
        Report section anchor stored in each row.
    police : codes
        The indicators agencies and stations are scanned on (:data:`POLICE_INDICATORS`).

    Returns
    -------
    DataFrame
        A signal frame (:func:`casework.analysis.signals.frame`), one row per entity ×
        indicator tested, plus ``kind``, ``unit_zh``, ``count_unit`` and ``last_month`` (the
        series' last month).

    Examples
    --------
    >>> import pandas as pd
    >>> months = pd.period_range("2023-01", periods=24, freq="M")
    >>> rows = []
    >>> for i, m in enumerate(months):
    ...     for unit, name in (("930101", "甲县人民检察院"), ("930102", "乙县人民检察院")):
    ...         for j in range(40):
    ...             bad = j < (16 if unit == "930101" and i >= 18 else 4)
    ...             rows.append({"unit_code": unit, "unit_name": name,
    ...                          "stage": "arrest_review", "dept_case_no": f"{unit}-{i}-{j}",
    ...                          "person_id": f"P{i}-{j}", "accepted_on": m.start_time,
    ...                          "closed_on": m.start_time + pd.Timedelta(days=5),
    ...                          "decision": "non_arrest" if bad else "arrest_approved"})
    >>> s = scan(pd.DataFrame(rows), period="2024-12", indicators=["non_arrest_rate"],
    ...          entity_types=["all", "unit"])
    >>> s[["entity_name", "start_month", "months_signalling"]].values.tolist()
    [['全部单位', '2024-07', 6], ['甲县人民检察院', '2024-07', 6], ['乙县人民检察院', <NA>, 0]]
    >>> bool(s.loc[1, "p_value"] < 1e-4), bool(s.loc[2, "p_value"] > 0.5)
    (True, True)
    """
    end = _periods.parse(period).months()[-1]
    last = None if last_month is None else _periods.parse(last_month).months()[-1]
    if last is not None:
        end = min(end, last, key=lambda p: p.start)
    inds = [i for i in _ind.resolve(indicators) if i.kind in ("rate", "mean")]
    if journeys is None and isinstance(records, pd.DataFrame) and any(
            i.table == "journeys" for i in inds):
        journeys = _journeys.build(records)
    by_stop: dict[str, list] = {}
    for ind in inds:  # lagged indicators stop earlier: their recent cohorts are immature
        stop = end if last is None else min(end, last.shift(-ind.follow_up_months),
                                            key=lambda p: p.start)
        by_stop.setdefault(stop.code, []).append(ind)
    names = _unit_names(records)
    within: dict = {}  # entity type → units of each agency / station, shared by the stops
    rows: list[dict] = []
    for stop, group in by_stop.items():
        codes = [p.code for p in _periods.trailing_months(_periods.parse(stop), months)]
        for etype in entity_types:
            keys = RELATIVE_TO[etype][0] if etype != "all" else []
            wanted = [i for i in group
                      if etype not in ("agency", "station") or i.code in police]
            if not wanted:
                continue
            m = _panel.monthly(records, indicators=[i.code for i in wanted], by=keys,
                               start=codes[0], end=codes[-1], journeys=journeys,
                               count_unit=count_unit)
            if m.empty:
                continue
            m = _with_labels(m, etype, records, names, within)
            for ind in wanted:
                mi = m[m["indicator"] == ind.code]
                if len(mi):
                    rows += _series_signals(mi, ind, etype, months_codes=codes, search=search,
                                            min_before=min_before, section=section,
                                            count_unit=count_unit)
    return _signals.frame(rows)
