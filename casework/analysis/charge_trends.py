"""Which charges are rising: a like-for-like scan of every charge with enough cases (issue 13).

The periodic overview names rising charges in 存在问题 and the recurring-cases report
(多发性案件) picks its charges from them, so nothing depends on a charge someone thought of in
advance. :func:`scan` tests every charge with at least ``min_monthly`` new cases a month
(cases counted once, in the month of their first acceptance: :func:`first_acceptance`) and
returns one signal per charge (:mod:`casework.analysis.signals`, detector ``charge_trend``,
entity ``charge/<罪名>``); :func:`rising_charges` turns the scan into the list a report
chooses from, with the reason for each charge.

The tests
---------
A charge's monthly new cases y_t are compared with the new cases of **all other charges** O_t
in the same month (the offset of a Poisson model), so the season (the Spring Festival dip,
the summer peak) and any rise of the whole caseload cancel: a charge "rises" when it grows
faster than the rest of the caseload.

- **Trend**: log E[y_t] = log O_t + α + γ·(t − s + ½)₊, a growth that starts in month s (the
  log of an exponential rise). Every candidate start in the last ``search`` months (at least
  two months before the end — a rise must last — and ``min_before`` after the window's start)
  is fitted; the maximum-likelihood start is tested: the deviance drop of γ scaled by the
  quasi-Poisson dispersion φ̂ (Pearson χ² / (T − 3), at least 1: months vary more than
  Poisson), referred to a one-sided t-distribution, Šidák-adjusted for the number of
  candidates (:func:`casework.analysis.signals.search_adjusted`). Persistence: the rise must
  survive leaving out its largest month.
- **Dating by new words.** A gradual rise has a flat likelihood near its start (its first
  months add little), so counts date it only to within a few months. When the charge's case
  summaries carry words that are new — absent before a month, in a share of the cases since
  (:func:`emerging_start`, a new modus operandi) — the rise is dated to the month those words
  first appear, and the count test is made at that start alone. The start then comes from
  the text, not from the counts, so no search correction is due; the words are found in the
  data, never from a list. Only charges whose counts already look like a rise (nominal
  p < :data:`TEXT_DATE_P`) are read — a pre-screen that only removes rejections.
- **Year on year** for report periods of at least :data:`YOY_MIN_MONTHS` months: the share
  y/(y + O) of the period against the same period a year earlier, a one-sided z-test on the
  log ratio with the same φ̂.

The charge's p-value is the Šidák combination of the tests made (min p, adjusted for their
number). The signal's ``start_month`` is the start of the rise; ``latest_value`` and
``baseline`` are the mean monthly new cases since and before it; ``note`` names the new words.

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(3)
>>> others = rng.poisson(900, 36).astype(float)
>>> y = rng.poisson(100 * 1.07 ** np.clip(np.arange(36) - 23.5, 0, None)).astype(float)
>>> r = trend_test(y, others, search=18)
>>> r["start"] in (22, 23, 24, 25), r["p_value"] < 1e-4
(True, True)
>>> flat = rng.poisson(100, 36).astype(float)
>>> trend_test(flat, others, search=18)["p_value"] > 0.05
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import findings as _findings
from casework.analysis import periods as _periods
from casework.analysis import signals as _signals
from casework.analysis import text as _text
from casework.base import memo
from casework.base.errors import ParameterError

#: Detector name in the signal frame.
DETECTOR = "charge_trend"

#: Indicator code and Chinese name of the signals (mean monthly cases accepted).
INDICATOR = "charge_new_cases"
INDICATOR_NAME = "月均新受理案件数"

#: Charges with fewer cases a month (over the window) are not tested.
MIN_MONTHLY = 3.0

#: Nominal level a rise must keep without its largest month (persistence).
PERSIST_P = 0.05

#: A rise with a nominal trend p below this is dated by its new words when there are any
#: (only a pre-screen: it removes rejections, so the test stays valid).
TEXT_DATE_P = 0.05

#: Months back in which new words may date a rise.
TEXT_SEARCH = 18

#: The year-on-year test is made for periods of at least this many months: one month against
#: one month is mostly noise, and the trend test already covers a month's report.
YOY_MIN_MONTHS = 3

METHOD = ("罪名趋势检验：按首次受理月份统计新受理案件，与同月其他罪名相比（抵消季节和总量变化），"
          "检验最近18个月内自某月起的持续增长（拟泊松，起始月份搜索经Šidák校正，剔除最大一个月后仍须显著）"
          "及本期同比上升，两项取较强者并校正")


# ---------------------------------------------------------------------------------------------
# one charge
# ---------------------------------------------------------------------------------------------


def _deviance(y, mu):
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(y > 0, y * np.log(y / mu), 0.0)
    return float(2 * (t - (y - mu)).sum())


def _fit_ramp(y, off, x, iters: int = 30):
    """Poisson fit of log mu = off + a + g·x (Newton); returns (a, g, mu)."""
    a = float(np.log(max(y.sum(), 0.5) / np.exp(off).sum()))
    g = 0.0
    for _ in range(iters):
        mu = np.exp(off + a + g * x)
        r = y - mu
        h = np.array([[mu.sum(), (mu * x).sum()], [(mu * x).sum(), (mu * x * x).sum()]])
        step = np.linalg.lstsq(h, np.array([r.sum(), (r * x).sum()]), rcond=None)[0]
        step = np.clip(step, -2, 2)
        a, g = a + step[0], g + step[1]
        if np.abs(step).max() < 1e-8:
            break
    return a, g, np.exp(off + a + g * x)


def _ramp_stat(y, off, s, length):
    """(signed deviance drop, gamma, mu, Pearson X²) of a rise starting at month ``s``."""
    x = np.clip(np.arange(length) - s + 0.5, 0, None)
    mu0 = np.exp(off) * y.sum() / np.exp(off).sum()
    a, g, mu = _fit_ramp(y, off, x)
    drop = max(0.0, _deviance(y, mu0) - _deviance(y, mu))
    x2 = float(((y - mu) ** 2 / mu).sum())
    return drop, g, mu, x2


def _persists(y, off, s, length, phi, df) -> bool:
    """The rise from ``s`` survives without its largest month after the start."""
    after = np.arange(s, length)
    mu0 = np.exp(off[after]) * y.sum() / np.exp(off).sum()  # the no-rise expectation
    u = after[int(np.argmax((y[after] - mu0) / np.sqrt(mu0)))]
    keep1 = np.arange(length) != u
    x1 = np.clip(np.arange(length) - s + 0.5, 0, None)[keep1]
    mu01 = np.exp(off[keep1]) * y[keep1].sum() / np.exp(off[keep1]).sum()
    _, g1, m1 = _fit_ramp(y[keep1], off[keep1], x1)
    d1 = max(0.0, _deviance(y[keep1], mu01) - _deviance(y[keep1], m1))
    return g1 > 0 and float(_st.t.sf(np.sqrt(d1 / phi), max(1, df - 1))) < PERSIST_P


def trend_test(y, others, *, search: int = 18, min_before: int = 6, at=None) -> dict:
    """The trend part of the test for one charge (see the module docstring).

    Parameters
    ----------
    y, others : array-like
        Monthly cases of the charge and of all other charges, oldest first (months without
        any case are left out).
    search, min_before : int
        Candidate starts: the last ``search`` months but not the last month alone; at least
        ``min_before`` months before a start.
    at : int, optional
        Test this start only (an index of ``y``), chosen without looking at the counts (e.g.
        dated by the words of the case summaries, :func:`emerging_start`): no search, so no
        search correction.

    Returns
    -------
    dict
        ``start`` (index of the best start, None when no rise), ``p_value`` (one-sided,
        Šidák-adjusted over the candidates; NaN when untestable), ``p_min`` (the start's own
        p), ``phi`` (dispersion), ``gamma`` (monthly log growth since the start),
        ``candidates`` and ``plausible`` (the starts within the 95 % profile-likelihood set).
    """
    y = np.asarray(y, dtype=float)
    o = np.asarray(others, dtype=float)
    keep = o > 0
    idx = np.flatnonzero(keep)
    y, o = y[keep], o[keep]
    length = len(y)
    cands = list(range(max(min_before, length - search), length - 1))
    if at is not None:
        cands = [int(np.searchsorted(idx, at))] if at in set(idx.tolist()) else []
        cands = [c for c in cands if min_before <= c <= length - 2]
    out = {"start": None, "p_value": np.nan, "p_min": np.nan, "phi": np.nan, "gamma": np.nan,
           "candidates": len(cands), "plausible": []}
    if not cands or y.sum() == 0:
        return out
    off = np.log(o)
    df = max(1, length - 3)
    fits = []
    for s in cands:
        drop, g, mu, x2 = _ramp_stat(y, off, s, length)
        phi = max(1.0, x2 / df)
        if g > 0:
            fits.append((s, float(_st.t.sf(np.sqrt(drop / phi), df)), phi, g, drop))
    out["phi"] = max(1.0, _ramp_stat(y, off, cands[-1], length)[3] / df)
    if not fits:
        out["p_value"] = 1.0
        return out
    fits.sort(key=lambda f: -f[4])  # maximum likelihood first
    s, p, phi, g, top = fits[0]
    # starts the data cannot tell from the best one (95 % profile-likelihood set)
    plausible = sorted(f[0] for f in fits if f[4] >= top - _st.chi2.ppf(0.95, 1) * phi)
    out.update(phi=phi, plausible=[int(idx[k]) for k in plausible])
    if not _persists(y, off, s, length, phi, df):
        out["p_value"] = 1.0
        return out
    out.update(start=int(idx[s]), p_min=p, gamma=g,
               p_value=_signals.search_adjusted(p, len(cands)))
    return out


#: A word dates a rise when it is new — in at most :data:`TEXT_MAX_BEFORE` of the charge's
#: cases before the start — and in at least :data:`TEXT_MIN_AFTER` of them since, with a
#: likelihood ratio of at least :data:`TEXT_MIN_LR` (χ²₁ tail about 10⁻⁶).
TEXT_MIN_AFTER = 0.05
TEXT_MAX_BEFORE = 1
TEXT_MIN_LR = 24.0


def _bernoulli_ll(k, n):
    with np.errstate(divide="ignore", invalid="ignore"):
        p = np.where(n > 0, k / np.where(n > 0, n, 1), 0.0)
        a = np.where(k > 0, k * np.log(np.where(p > 0, p, 1)), 0.0)
        b = np.where(n - k > 0, (n - k) * np.log(np.where(p < 1, 1 - p, 1)), 0.0)
    return a + b


def emerging_start(summaries, months, candidates, *, top: int = 3) -> dict | None:
    """Date a rise by the words that arrive with it (a new modus operandi).

    A new modus operandi spreads gradually (its share of cases grows with the rise), so the
    count model alone dates the start loosely. Words are sharper: for each candidate start
    month (earliest first), every word of the case summaries is tested for a step in the share
    of cases that use it (Bernoulli likelihood ratio, after vs before). A word is new when, at
    some candidate, it is in at most :data:`TEXT_MAX_BEFORE` case before, in at least
    :data:`TEXT_MIN_AFTER` of the cases since, with a likelihood ratio of at least
    :data:`TEXT_MIN_LR`; the rise is dated to the first month in which the strongest new
    words appear (a lone case months earlier is a stray), kept within the candidates. The
    words are found in the data (no list of expected words); None when no word qualifies.

    Parameters
    ----------
    summaries : sequence of str
        Case summaries (案情摘要) of the charge's new cases.
    months : sequence of int
        Each case's month index (the same indices as ``candidates``).
    candidates : sequence of int
        Start months to choose from (e.g. :func:`trend_test`'s ``plausible`` set).

    Returns
    -------
    dict or None
        ``start`` (month index) and ``terms`` (the strongest new words, at most ``top``).

    Examples
    --------
    >>> old = ["嫌疑人入户窃取现金"] * 60
    >>> new = ["嫌疑人在快递驿站窃取包裹"] * 12 + ["嫌疑人入户窃取现金"] * 18
    >>> r = emerging_start(old + new, [0] * 30 + [1] * 30 + [2] * 30, [1, 2])
    >>> r["start"], sorted(r["terms"])
    (2, ['包裹', '快递', '驿站'])
    """
    candidates = sorted(set(int(c) for c in candidates))
    if not candidates:
        return None
    months = np.asarray(months, dtype=int)
    toks = [set(_text.tokenize(s)) if isinstance(s, str) else set() for s in summaries]
    if not any(toks):
        return None
    length = int(max(months.max(), max(candidates))) + 1
    per_month = np.bincount(months, minlength=length).astype(float)
    vocab: dict[str, np.ndarray] = {}
    for m, ts in zip(months, toks, strict=True):
        for t in ts:
            vocab.setdefault(t, np.zeros(length))[m] += 1
    words = [w for w, v in vocab.items() if v.sum() >= 5]
    if not words:
        return None
    counts = np.vstack([vocab[w] for w in words])  # words × months
    strength = np.full(len(words), -np.inf)
    for s in candidates:  # the new words: strongest step over the candidates
        ka, kb = counts[:, s:].sum(1), counts[:, :s].sum(1)
        na, nb = per_month[s:].sum(), per_month[:s].sum()
        if na == 0 or nb == 0:
            continue
        lr = 2 * (_bernoulli_ll(ka, na) + _bernoulli_ll(kb, nb)
                  - _bernoulli_ll(ka + kb, na + nb))
        ok = (ka / na >= TEXT_MIN_AFTER) & (kb <= TEXT_MAX_BEFORE) & (lr >= TEXT_MIN_LR)
        strength = np.where(ok, np.maximum(strength, lr), strength)
    found = [i for i in np.argsort(-strength)[:top] if np.isfinite(strength[i])]
    if not found:
        return None
    firsts = []
    for i in found:  # a new word's start: its first month (a lone early case is a stray)
        present = np.flatnonzero(counts[i] > 0)
        first = present[0]
        if len(present) > 1 and counts[i, first] == 1 and present[1] - first > 3:
            first = present[1]
        firsts.append(int(first))
    start = int(np.clip(min(firsts), candidates[0], candidates[-1]))
    return {"start": start, "terms": [words[i] for i in found]}


def yoy_test(y1, y0, o1, o0, *, phi: float = 1.0) -> float:
    """One-sided p-value that a charge's share of cases rose from the year-ago period.

    Examples
    --------
    >>> round(yoy_test(150, 100, 1000, 1000), 4) < 0.01, yoy_test(100, 100, 1000, 1000) > 0.4
    (True, True)
    """
    if y1 + y0 < 10 or o1 <= 0 or o0 <= 0:
        return np.nan
    lr = np.log((y1 + 0.5) / (y0 + 0.5)) - np.log(o1 / o0)
    return float(_st.norm.sf(lr / np.sqrt(max(phi, 1.0) * (1 / (y1 + 0.5) + 1 / (y0 + 0.5)))))


# ---------------------------------------------------------------------------------------------
# every charge
# ---------------------------------------------------------------------------------------------


def first_acceptance(records) -> pd.DataFrame:
    """One row per case: its charge and the month it first reached the procuratorate.

    A case is a 统一受案号 (``unified_case_no``; without one, the unit and 部门受案号), so a case
    that went through 审查逮捕 and then 审查起诉 is counted once, in the month of its first
    acceptance — when the office first met it, which is when a rise in a kind of crime shows
    (审查起诉 acceptance lags by the investigation). Its charge is the charge of that first
    record; a case without one is 未知罪名. Records without an acceptance date cannot be placed
    in a month and are left out.

    Examples
    --------
    >>> recs = pd.DataFrame({"unit_code": "U1", "unified_case_no": ["T1", "T1", "T2"],
    ...     "dept_case_no": ["A1", "Q1", "Q2"], "charge": ["盗窃", "盗窃", None],
    ...     "accepted_on": pd.to_datetime(["2024-01-05", "2024-03-03", "2024-02-09"])})
    >>> first_acceptance(recs)[["charge", "month"]].values.tolist()
    [['盗窃', '2024-01'], ['未知罪名', '2024-02']]
    """
    if not isinstance(records, pd.DataFrame):
        raise ParameterError("records 应为 DataFrame（经 casework.store 读取）",
                             "records must be a DataFrame (read through casework.store)")
    # only the columns used here, and the summaries of the first records only: filtering and
    # sorting all ~70 columns of the records (each take copies Arrow strings) was most of the
    # time of this function
    dated = np.flatnonzero(records["accepted_on"].notna().to_numpy())
    cols = [c for c in ("accepted_on", "unified_case_no", "unit_code", "dept_case_no")
            if c in records.columns]
    r = records[cols].iloc[dated]
    key = (r["unified_case_no"].astype("string") if "unified_case_no" in r.columns
           else pd.Series(pd.NA, index=r.index, dtype="string"))
    fallback = r["unit_code"].astype("string") + "/" + r["dept_case_no"].astype("string")
    key = key.fillna("dept:" + fallback)
    order = pd.DataFrame({"_case": key.to_numpy(),
                          "_on": pd.to_datetime(r["accepted_on"]).to_numpy()})
    order = order.sort_values(["_case", "_on"], kind="mergesort").drop_duplicates("_case")
    first = dated[order.index.to_numpy()]  # each case's first record (positions)

    def column(name):
        return (records[name].iloc[first].astype("string") if name in records.columns
                else pd.Series(pd.NA, index=range(len(first)), dtype="string"))

    charge = column("charge").str.strip().mask(lambda s: s == "").fillna("未知罪名")
    # "YYYY-MM" of each distinct month, not of every date
    months, at = np.unique(order["_on"].to_numpy().astype("datetime64[M]"),
                           return_inverse=True)
    return pd.DataFrame({"charge": charge.to_numpy(),
                         "month": pd.DatetimeIndex(months).strftime("%Y-%m").to_numpy()[at],
                         "case_summary": column("case_summary").to_numpy()})


def monthly_cases(records, *, end, months: int = 36) -> pd.DataFrame:
    """New cases by charge and month of first acceptance (:func:`first_acceptance`): a wide
    frame, charges × the ``months`` months ending ``end``.

    Examples
    --------
    >>> recs = pd.DataFrame({"unit_code": "U1", "unified_case_no": ["T1", "T2", "T3"],
    ...     "dept_case_no": ["Q1", "Q2", "Q3"], "charge": ["盗窃", "盗窃", None],
    ...     "accepted_on": pd.to_datetime(["2024-01-05", "2024-02-03", "2024-02-09"])})
    >>> w = monthly_cases(recs, end="2024-02", months=2)
    >>> w.loc["盗窃"].tolist(), w.loc["未知罪名"].tolist()
    ([1.0, 1.0], [0.0, 1.0])
    """
    codes = [p.code for p in _periods.trailing_months(_periods.parse(end), months)]
    return _wide(first_acceptance(records), codes)


def _wide(first: pd.DataFrame, codes) -> pd.DataFrame:
    f = first[first["month"].isin(codes)]
    wide = pd.crosstab(f["charge"], f["month"]).astype(float)
    return wide.reindex(columns=codes, fill_value=0.0)


@memo.memoized
def _scan_table(wide: pd.DataFrame, **kwargs) -> pd.DataFrame:
    """:func:`_scan_rows` as a frame, computed once per data and settings: the periodic
    overview and the recurring-cases report of a unit scan the same charges (the cache of
    :mod:`casework.base.memo`; its arguments are the small monthly table, not the records)."""
    return pd.DataFrame(_scan_rows(wide, **kwargs))


def _scan_rows(wide: pd.DataFrame, *, period, search: int, min_before: int,
               min_monthly: float, first: pd.DataFrame | None = None) -> list[dict]:
    codes = list(wide.columns)
    pos = {c: i for i, c in enumerate(codes)}
    total = wide.sum(axis=0).to_numpy()
    cur = [m.code for m in _periods.parse(period).months() if m.code in codes]
    ago = [m.code for m in _periods.parse(period).year_ago().months() if m.code in codes]
    rows = []
    for charge, y in wide.iterrows():
        y = y.to_numpy(dtype=float)
        active = total > 0
        if active.sum() == 0 or y[active].mean() < min_monthly:
            continue
        o = total - y
        t = trend_test(y, o, search=search, min_before=min_before)
        terms: list[str] = []
        if (t["start"] is not None and t["p_min"] < TEXT_DATE_P and first is not None
                and first["case_summary"].notna().any()):
            # date the rise by its new words; the start then comes from the text, not from
            # the counts, so the count test at that start needs no search correction
            docs = first[(first["charge"] == charge) & first["month"].isin(pos)]
            dated = emerging_start(docs["case_summary"].tolist(),
                                   docs["month"].map(pos).to_numpy(),
                                   range(max(min_before, len(codes) - TEXT_SEARCH),
                                         len(codes) - 1))
            if dated is not None:
                at = trend_test(y, o, min_before=min_before, at=dated["start"])
                if at["start"] is not None:
                    t, terms = at, dated["terms"]
        phi = t["phi"] if np.isfinite(t["phi"]) else 1.0
        col = {c: i for i, c in enumerate(codes)}
        p_yoy = np.nan
        y1 = y0 = np.nan
        if cur and len(ago) == len(cur):
            i1, i0 = [col[c] for c in cur], [col[c] for c in ago]
            y1, y0 = y[i1].sum(), y[i0].sum()
            if len(cur) >= YOY_MIN_MONTHS:
                p_yoy = yoy_test(y1, y0, o[i1].sum(), o[i0].sum(), phi=phi)
        parts = [p for p in (t["p_value"], p_yoy) if np.isfinite(p)]
        if not parts:
            continue
        p = 1.0 if min(parts) >= 1 else _signals.search_adjusted(min(parts), len(parts))
        if t["start"] is not None and t["p_min"] < PERSIST_P:
            s = t["start"]
            start, months_on = codes[s], len(codes) - s
        elif np.isfinite(p_yoy) and p_yoy < PERSIST_P and cur:
            s = col[cur[0]]
            start, months_on = cur[0], len(cur)
        else:
            s, start, months_on = None, None, 0
        ref = s if s is not None else max(0, len(codes) - search)
        after, before = y[ref:][active[ref:]], y[:ref][active[:ref]]
        la = float(after.mean()) if len(after) else np.nan
        lb = float(before.mean()) if len(before) else np.nan
        se = np.sqrt(phi * (after.sum() / max(len(after), 1) ** 2
                            + before.sum() / max(len(before), 1) ** 2))
        rows.append({
            "detector": DETECTOR, "section": "", "entity_type": "charge",
            "indicator": INDICATOR, "indicator_name": INDICATOR_NAME,
            "direction": "unfavourable" if la > lb else "neutral",
            "start_month": start, "months_signalling": months_on, "latest_value": la,
            "baseline": lb, "effect": la - lb, "effect_lower": la - lb - 1.96 * se,
            "effect_upper": la - lb + 1.96 * se, "n": float(after.sum()), "p_value": p,
            "method": METHOD, "kind": "mean", "unit_zh": "件", "count_unit": "case",
            "charge": charge, "cases": y1, "year_ago_cases": y0, "p_trend": t["p_value"],
            "p_yoy": p_yoy, "growth": t["gamma"], "new_terms": "、".join(terms),
            "note": ("同期新出现的案情用语有" + "".join(f"“{w}”" for w in terms)) if terms
            else "",
        })
    return rows


def scan(records, *, period, last_month=None, months: int = 36, search: int = 18,
         min_before: int = 6, min_monthly: float = MIN_MONTHLY,
         section: str = "charges") -> pd.DataFrame:
    """Signals of rising charges: every charge with at least ``min_monthly`` cases a month.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table (``charge``, ``stage``, ``accepted_on``, ``dept_case_no``).
    period : str or Period
        The report period: the year-on-year test compares it with a year earlier, and the
        series end at its last month (or at ``last_month``, the last month with data, when
        earlier — trailing months without data are left out).
    months, search, min_before : int
        Window length, candidate start months of a rise (the last ``search``), fewest months
        before a start.
    min_monthly : float
        Fewest cases a month (mean over the window) for a charge to be tested.
    section : str
        Report section anchor stored in each row.

    Returns
    -------
    DataFrame
        A signal frame (entity_type ``charge``) plus ``kind``, ``unit_zh``, ``count_unit``
        (for the sentences), ``charge``, ``cases`` and ``year_ago_cases`` (the period and a
        year earlier), ``p_trend``, ``p_yoy`` and ``growth`` (monthly log growth).

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> rows = []
    >>> for i, m in enumerate(pd.period_range("2022-01", periods=36, freq="M")):
    ...     for charge, lam in (("盗窃", 60 * 1.08 ** max(0, i - 23.5)), ("危险驾驶", 120),
    ...                         ("诈骗", 40)):
    ...         rows += [{"charge": charge, "unit_code": "U1", "accepted_on": m.start_time,
    ...                   "unified_case_no": f"{charge}{i}-{j}", "dept_case_no": f"{i}-{j}"}
    ...                  for j in range(rng.poisson(lam))]
    >>> s = scan(pd.DataFrame(rows), period="2024-12")
    >>> s.loc[s["p_value"] < 0.01, "entity_name"].tolist()  # 盗窃 grows from 2024-01
    ['盗窃']
    >>> start = s.loc[s["entity_name"] == "盗窃", "start_month"].iloc[0]
    >>> start in ("2023-11", "2023-12", "2024-01", "2024-02", "2024-03")  # within two months
    True
    """
    end = _periods.parse(period).months()[-1]
    if last_month is not None:
        end = min(end, _periods.parse(last_month).months()[-1], key=lambda p: p.start)
    first = first_acceptance(records)
    codes = [p.code for p in _periods.trailing_months(end, months)]
    out = _scan_table(_wide(first, codes), period=_periods.parse(period), search=search,
                      min_before=min_before, min_monthly=min_monthly, first=first)
    if not len(out):
        return _signals.empty()
    lab = _signals.entity_labels(out[["charge"]], "charge")
    out["entity_id"], out["entity_name"] = lab["entity_id"], lab["entity_name"]
    out["section"] = section
    return _signals.frame(out.to_dict("records"))


def rising_charges(records, *, period, last_month=None, q: float = 0.05, frequent: int = 5,
                   min_monthly: float = MIN_MONTHLY) -> pd.DataFrame:
    """The charges a recurring-cases report should study: rising or 多发 in ``period``.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table.
    period : str or Period
        The report period.
    last_month : str or Period, optional
        Last month with data (:func:`casework.analysis.periods.last_data_month`).
    q : float
        False discovery rate over the charges tested (Benjamini–Hochberg): a charge is
        ``rising`` when its q-value is at most ``q`` and the rise has lasted two months or
        more.
    frequent : int
        The ``frequent`` charges with the most cases accepted in the period are 多发.
    min_monthly : float
        As in :func:`scan`.

    Returns
    -------
    DataFrame
        One row per charge that is rising or frequent (rising first, strongest first; then by
        cases): ``charge``, ``reason`` (``"rising"``, ``"frequent"`` or
        ``"rising,frequent"``), ``rising``, ``frequent``, ``cases`` (accepted in the period, 件),
        ``year_ago_cases``, ``change`` (per cent, NaN when the base is 0), ``share`` (of all
        cases in the period), ``rank`` (by cases), ``start_month``, ``months_signalling``,
        ``latest_value`` and ``baseline`` (mean monthly cases since and before the start),
        ``p_value`` and ``q_value``. :func:`casework.present.narrative.charge_reason` says
        why in a sentence.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> rows = []
    >>> for i, m in enumerate(pd.period_range("2022-01", periods=36, freq="M")):
    ...     for charge, lam in (("盗窃", 60 * 1.08 ** max(0, i - 23.5)), ("危险驾驶", 120),
    ...                         ("诈骗", 40)):
    ...         rows += [{"charge": charge, "unit_code": "U1", "accepted_on": m.start_time,
    ...                   "unified_case_no": f"{charge}{i}-{j}", "dept_case_no": f"{i}-{j}"}
    ...                  for j in range(rng.poisson(lam))]
    >>> r = rising_charges(pd.DataFrame(rows), period="2024-Q4", frequent=2)
    >>> r[["charge", "reason"]].values.tolist()
    [['盗窃', 'rising,frequent'], ['危险驾驶', 'frequent']]
    """
    p = _periods.parse(period)
    end = p.months()[-1]
    if last_month is not None:
        end = min(end, _periods.parse(last_month).months()[-1], key=lambda x: x.start)
    first = first_acceptance(records)
    wide = _wide(first, [x.code for x in _periods.trailing_months(end, 36)])
    cur = [m.code for m in p.months() if m.code in wide.columns]
    ago = [m.code for m in p.year_ago().months() if m.code in wide.columns]
    cases = wide[cur].sum(axis=1) if cur else pd.Series(0.0, index=wide.index)
    year_ago = (wide[ago].sum(axis=1) if ago and len(ago) == len(cur)
                else pd.Series(np.nan, index=wide.index))
    table = pd.DataFrame({"charge": wide.index.astype(str), "cases": cases.to_numpy(),
                          "year_ago_cases": year_ago.to_numpy()})
    total = float(table["cases"].sum())
    table["share"] = table["cases"] / total if total else np.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        table["change"] = np.where(table["year_ago_cases"] > 0,
                                   (table["cases"] / table["year_ago_cases"] - 1) * 100, np.nan)
    known = table[table["charge"] != "未知罪名"]
    table["rank"] = known["cases"].rank(ascending=False, method="first").reindex(table.index)
    table["frequent"] = (table["rank"] <= frequent) & (table["cases"] > 0)
    s = _scan_table(wide, period=p, search=18, min_before=6, min_monthly=min_monthly,
                    first=first)
    if not len(s):
        s = pd.DataFrame(columns=["charge", "p_value"])
    if len(s):
        s["q_value"] = _findings.bh(s["p_value"].to_numpy(dtype=float))
        s = s[["charge", "start_month", "months_signalling", "latest_value", "baseline",
               "p_value", "q_value", "direction", "new_terms"]]
    table = table.merge(s, on="charge", how="left")
    table["rising"] = ((table.get("q_value", np.nan) <= q)
                       & (table.get("months_signalling", 0).fillna(0) >= 2)
                       & (table.get("direction", "") == "unfavourable")).fillna(False)
    keep = table[table["rising"] | table["frequent"]].copy()
    keep["reason"] = [",".join(k for k, v in (("rising", r), ("frequent", f)) if v)
                      for r, f in zip(keep["rising"], keep["frequent"], strict=True)]
    keep["_o"] = np.where(keep["rising"], 0, 1)
    keep = keep.sort_values(["_o", "q_value", "cases"], ascending=[True, True, False],
                            na_position="last", kind="mergesort")
    keep["rank"] = keep["rank"].astype("Int64")
    keep["start_month"] = keep["start_month"].where(keep["rising"], None)
    cols = ["charge", "reason", "rising", "frequent", "cases", "year_ago_cases", "change",
            "share", "rank", "start_month", "months_signalling", "latest_value", "baseline",
            "p_value", "q_value", "new_terms"]
    return keep[cols].reset_index(drop=True)
