"""From every test a report made to the few findings it may state (issue 13).

:func:`select` takes the signal frames of all detectors a report ran
(:mod:`casework.analysis.signals`) and returns every row with ``q_value``, ``status``
(``finding`` | ``context`` | ``weak`` | ``none``), ``rank`` and ``context_for``. Only
``finding`` rows may reach prose (要点, 存在问题, 联席会议要点); ``weak`` rows stay in tables,
marked 提示（未达显著）.

Why Benjamini–Hochberg over the whole report
--------------------------------------------
A report makes hundreds of tests (indicators × units × departments × prosecutors × stations ×
charges); each detector is calibrated on its own, so on data with nothing planted a report
still "finds" several problems. The Benjamini–Hochberg step-up procedure (Benjamini &
Hochberg 1995, JRSS B 57:289–300) at level q over EVERY test the report made controls the
false discovery rate E[V/R] ≤ q for independent or positively regression dependent p-values
(Benjamini & Yekutieli 2001, Ann. Stat. 29:1165) — the overlapping, nested groupings of a
report (a station inside its bureau inside the office) are positively dependent. Under the
complete null (nothing wrong anywhere) every rejection is false, so FDR = P(any rejection):
the chance that a report on null data names anything is at most q — "a report on null data
says nothing" at 95 %. When real problems exist BH keeps far more power than Bonferroni, which
matters because a missed problem is the reason the office exists. Untestable rows (NaN
p-values) are not counted as tests.

Persistence for monthly detectors
---------------------------------
Monthly reports are re-run every month: a one-month blip that passes BH in one report and
vanishes the next costs the office a 重点流程监控 for nothing and makes findings flap.
A signal of a monthly detector (one with a ``start_month``) becomes a finding only when it has
been on for at least ``min_months`` months (default 2); a passing one-month signal is shown as
``weak``. Non-monthly signals (funnels, profiles, audits: no ``start_month``) need no
persistence. The gate only removes rejections, so under the complete null the chance of any
finding stays ≤ q.

De-duplication along the hierarchies
------------------------------------
A station's jump also moves its bureau's, its procuratorate's and the whole office's rate on
the same indicator; naming all of them would send the office to four places for one problem.
Within each (indicator, direction), passing rows are taken from the most specific entity type
(:data:`casework.analysis.signals.DEPTH`: prosecutor > department/station/charge/account >
unit/agency/charge group > all) and, within a type, by q then p. Each becomes a finding unless
it is already context; every relative of a finding on the same indicator and direction — its
ancestors and descendants (:func:`casework.analysis.signals.ancestors`: path prefixes, the
units in ``within``, a charge's group, ``all``), or the same entity seen by another detector —
that deviates itself (nominal p < 0.05 or passing) becomes ``context`` with ``context_for`` =
the finding's entity_id. So the station is the finding and its bureau context; if the bureau
passes and no station does, the bureau is the finding.

Ranking
-------
Findings are ranked by q-value (strength of evidence after error control), then the raw
p-value (q-values tie in blocks under BH), then the absolute effect (larger first).

Direction
---------
Favourable deviations that pass are findings too (direction recorded); prose decides whether
they are 存在问题 (only ``unfavourable`` or ``neutral`` are problems) or 亮点.

Examples
--------
>>> from casework.analysis import signals
>>> rows = [dict(detector="bail", entity_type="station", entity_id="甲分局/乙派出所",
...              entity_name="甲分局乙派出所", indicator="bail", indicator_name="捕后取保候审率",
...              direction="unfavourable", p_value=1e-6, within="930104"),
...         dict(detector="bail", entity_type="agency", entity_id="甲分局",
...              entity_name="甲分局", indicator="bail", indicator_name="捕后取保候审率",
...              direction="unfavourable", p_value=1e-4, within="930104")]
>>> rows += [dict(detector="funnel", entity_type="unit", entity_id=f"9301{i:02d}",
...               entity_name=f"院{i}", indicator="x", indicator_name="某率",
...               direction="neutral", p_value=0.5) for i in range(20)]
>>> out = select(signals.frame(rows))
>>> out.loc[out.status != "none", ["entity_id", "status", "context_for"]].values.tolist()
[['甲分局/乙派出所', 'finding', ''], ['甲分局', 'context', '甲分局/乙派出所']]
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis import signals as _signals
from casework.base.errors import ParameterError

#: Status values and their Chinese labels for tables.
STATUS_LABELS = {"finding": "发现", "context": "背景", "weak": "提示（未达显著）", "none": "—"}

#: Nominal level below which a non-passing signal is shown as ``weak``.
WEAK_P = 0.05


def bh(p_values) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values); NaN stays NaN and is not counted.

    Agrees with ``statsmodels.stats.multitest.multipletests(p, method="fdr_bh")[1]``.

    Examples
    --------
    >>> bh([0.01, 0.04, 0.03, float("nan"), 0.5]).round(3).tolist()
    [0.04, 0.053, 0.053, nan, 0.5]
    """
    p = np.asarray(p_values, dtype="float64")
    q = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return q
    pv = p[ok]
    order = np.argsort(pv, kind="mergesort")
    ranked = pv[order] * m / np.arange(1, m + 1)
    ranked = np.minimum.accumulate(ranked[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(ranked, 0, 1)
    q[ok] = out
    return q


def n_tests(signals: pd.DataFrame) -> int:
    """Number of tests in a signal frame (rows with a p-value)."""
    return int(pd.to_numeric(signals["p_value"], errors="coerce").notna().sum())


def select(signals, *, q: float = 0.05, min_months: int = 2) -> pd.DataFrame:
    """Error control, persistence, de-duplication and ranking over all signals of a report.

    Parameters
    ----------
    signals : DataFrame or list of DataFrame
        Signal frames (:mod:`casework.analysis.signals`) of every detector the report ran —
        flagged or not; validated here.
    q : float
        False discovery rate (0 < q < 1), default 0.05.
    min_months : int
        Months a monthly signal (one with ``start_month``) must have been on to be a finding.

    Returns
    -------
    DataFrame
        Every signal row plus ``q_value`` (float), ``status`` (str), ``rank`` (Int64, 1 =
        strongest finding, NA otherwise) and ``context_for`` (str, ``""`` unless context).
        Rows are ordered: findings by rank, then context, weak and none rows by p-value.

    Notes
    -----
    Pure: no I/O. See the module docstring for the choices and their references.
    """
    if isinstance(signals, (list, tuple)):
        sig = _signals.concat(signals)
    else:
        sig = _signals.validate(signals)
    if not (isinstance(q, (int, float)) and 0 < q < 1):
        raise ParameterError(f"q 应在 0 与 1 之间，收到 {q!r}", f"q must be in (0, 1), got {q!r}")
    if not isinstance(min_months, (int, np.integer)) or min_months < 0:
        raise ParameterError(f"min_months 应为非负整数，收到 {min_months!r}",
                             f"min_months must be a non-negative integer, got {min_months!r}")
    out = sig.copy()
    p = out["p_value"].to_numpy(dtype="float64")
    qv = bh(p)
    out["q_value"] = qv
    monthly = out["start_month"].notna().to_numpy()
    persistent = ~monthly | (out["months_signalling"].to_numpy() >= min_months)
    passing = (qv <= q) & persistent
    deviating = passing | (p < WEAK_P)
    status = np.full(len(out), "none", dtype=object)
    context_for = np.full(len(out), "", dtype=object)

    ids = out["entity_id"].astype(str).tolist()
    anc = [set(_signals.ancestors(e, w)) for e, w in zip(ids, out["within"].astype(str))]
    depth = out["entity_type"].map(_signals.DEPTH).to_numpy()
    keys = list(zip(out["indicator"].astype(str), out["direction"].astype(str)))
    groups: dict = {}
    for i, k in enumerate(keys):
        groups.setdefault(k, []).append(i)
    for members in groups.values():
        cand = sorted((i for i in members if passing[i]),
                      key=lambda i: (-depth[i], qv[i], p[i]))
        for i in cand:
            if status[i] != "none":
                continue
            status[i] = "finding"
            for j in members:
                if j == i or status[j] != "none" or not deviating[j]:
                    continue
                if ids[j] == ids[i] or ids[j] in anc[i] or ids[i] in anc[j]:
                    status[j] = "context"
                    context_for[j] = ids[i]
    weak = (status == "none") & deviating
    status[weak] = "weak"
    out["status"] = pd.array(status, dtype="string")
    out["context_for"] = pd.array(context_for, dtype="string")

    fnd = np.flatnonzero(status == "finding")
    eff = np.abs(out["effect"].to_numpy(dtype="float64"))
    eff = np.where(np.isnan(eff), -np.inf, eff)
    order = sorted(fnd, key=lambda i: (qv[i], p[i], -eff[i]))
    rank = pd.array([pd.NA] * len(out), dtype="Int64")
    for r, i in enumerate(order, start=1):
        rank[i] = r
    out["rank"] = rank
    srt = {"finding": 0, "context": 1, "weak": 2, "none": 3}
    out["_s"] = [srt[s] for s in status]
    out["_r"] = out["rank"].astype("float64").fillna(np.inf)
    out["_p"] = np.where(np.isnan(p), np.inf, p)
    out = out.sort_values(["_s", "_r", "_p"], kind="mergesort").drop(columns=["_s", "_r", "_p"])
    return out.reset_index(drop=True)


def findings_only(selected: pd.DataFrame) -> pd.DataFrame:
    """The ``finding`` rows of :func:`select`'s result, by rank."""
    f = selected[selected["status"] == "finding"]
    return f.sort_values("rank", kind="mergesort").reset_index(drop=True)


def problems(selected: pd.DataFrame) -> pd.DataFrame:
    """Findings that are problems (存在问题): unfavourable or neutral direction, by rank."""
    f = findings_only(selected)
    return f[f["direction"] != "favourable"].reset_index(drop=True)
