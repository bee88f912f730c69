"""Signals of the case-card quality report (issue 13): error runs of departments and accounts
that edit closed cases, in the one shape of :mod:`casework.analysis.signals`.

Error runs of a department (:func:`error_rate_signals`)
-------------------------------------------------------
For every department — keyed by unit AND department (:data:`casework.analysis.signals.GROUPINGS`),
never a 第二检察部 pooled across procuratorates — the cards of each statistics month
(:func:`casework.analysis.quality.card_month`) are counted with the faulty ones. Every window
of at least ``min_len`` consecutive months of the last ``months`` months is compared with the
other departments' cards of the same months (so a month in which every department entered
badly, e.g. after a rule change, is no run of one department):

* departments differ in their own error rates beyond chance (their work differs); the number
  of faulty cards of a department in a window is therefore taken as beta-binomial, with the
  peers' rate as its mean and the intra-class correlation ρ estimated by the method of
  moments from the departments' totals over the whole span (leaving the tested department
  out, so a run does not widen its own limits; Kleinman 1973, JASA 68:46) — the random-effects
  form of the overdispersed funnel (Spiegelhalter 2005, Stat Med 24:1185);
* the window with the largest standardised excess (the beta-binomial z) is kept; its one-sided
  tail probability is Šidák-adjusted for the number of windows searched
  (:func:`casework.analysis.signals.search_adjusted`). As that tail is at least the smallest
  tail of all windows, the adjusted value is valid (conservative) for the overlapping,
  positively dependent windows of the search; ranking by z rather than by the tail keeps the
  core of a strong run (the tails of strong runs underflow and cannot rank windows).

The signal's ``start_month`` is the first month of the best window (for a run already on when
the search starts, the earliest of the months before whose own rate is well above the peers'),
``months_signalling`` its length; ``latest_value`` the department's rate in the window and
``baseline`` its own rate in the ``history`` months before the window (the sentence says 此前),
``effect`` their difference with a Newcombe interval. ``end_month`` and ``after_value`` say
when the run ended and the rate since (for a note in the sentence); ``peer_rate`` is the
peers' rate in the window.

Accounts that edit closed cases (:func:`account_signals`)
---------------------------------------------------------
For every account with changes in the window, the share of its changes that are
:func:`casework.analysis.modifications.closed_case_edits` is compared with the other accounts'
share (beta-binomial, ρ by the method of moments over the accounts, leaving the account out);
the one-sided tail probability is the p-value (no search: the window is the report's). The
``start_month`` is where the account's edits of closed cards begin, by the month the edited
cards were closed (the account edits cards closed since then): the change point of the
monthly number of such cards, scaled by the cards its unit closed that month, that maximises
the Poisson likelihood ratio over the history up to the end. ``reversals`` and
``post_report_changes`` count the account's changes carrying those flags in the window, so a
finding names the reversals it made.

Examples
--------
>>> import numpy as np
>>> round(float(beta_binomial_sf(5, 20, 0.05, 0.0)), 4)  # binomial when ρ = 0
0.0026
>>> beta_binomial_sf(5, 20, 0.05, 0.05) > beta_binomial_sf(5, 20, 0.05, 0.0)
True
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import modifications as _mods
from casework.analysis import periods as _periods
from casework.analysis import quality as _quality
from casework.analysis import signals as _signals
from casework.base.errors import check_choice

#: Detector names in the signal frame.
ERROR_DETECTOR = "error_rate"
ACCOUNT_DETECTOR = "modification"

#: Indicator codes and Chinese names of the signals.
ERROR_INDICATOR, ERROR_INDICATOR_NAME = "card_error_rate", "案卡差错率"
ACCOUNT_INDICATOR, ACCOUNT_INDICATOR_NAME = "closed_case_edit_share", "审结后修改关键项占比"

ERROR_METHOD = ("案卡差错率游程检验：逐部门（单位+部门）检查最近各月份中连续两个月以上的时间窗，"
                "与同期其他部门比较（β-二项分布，部门间离散度以矩估计），取最显著的时间窗，"
                "按搜索的时间窗个数作Šidák校正")
ACCOUNT_METHOD = ("账号修改审核：各账号审结后修改关键项占其全部修改的比例与其他账号比较"
                  "（β-二项分布，账号间离散度以矩估计，单侧检验）；起始月份按被修改案卡的审结月份估计")


# ---------------------------------------------------------------------------------------------
# small statistics
# ---------------------------------------------------------------------------------------------


def beta_binomial_sf(k, n, p, rho):
    """P(X ≥ k) for X beta-binomial with ``n`` trials, mean ``p`` and intra-class correlation
    ``rho`` (binomial when ``rho`` is 0). Vectorised; 1 where ``k`` ≤ 0.

    Examples
    --------
    >>> float(beta_binomial_sf(0, 10, 0.1, 0.0))
    1.0
    """
    k, n, p, rho = np.broadcast_arrays(*(np.asarray(x, dtype="float64") for x in (k, n, p, rho)))
    out = np.ones(k.shape)
    ok = (k > 0) & (n > 0)
    p = np.clip(p, 1e-9, 1 - 1e-9)
    binom = ok & (rho <= 1e-12)
    out[binom] = _st.binom.sf(k[binom] - 1, n[binom], p[binom])
    bb = ok & ~binom
    if bb.any():
        m = (1 - rho[bb]) / rho[bb]
        out[bb] = _st.betabinom.sf(k[bb] - 1, n[bb], p[bb] * m, (1 - p[bb]) * m)
    out = np.clip(out, 0, 1)
    return float(out) if out.ndim == 0 else out


def icc_moments(k, n) -> float:
    """Method-of-moments intra-class correlation of groups with ``k`` events of ``n`` trials:
    ρ̂ = (S/(p̂(1−p̂)) − (g − 1)) / (N − Σn²/N), S = Σ n (k/n − p̂)², at least 0.

    Examples
    --------
    >>> icc_moments([10, 10, 10], [100, 100, 100])
    0.0
    >>> icc_moments([2, 30, 10], [100, 100, 100]) > 0.05
    True
    """
    k, n = np.asarray(k, dtype="float64"), np.asarray(n, dtype="float64")
    keep = n > 0
    k, n = k[keep], n[keep]
    if len(n) < 2:
        return 0.0
    big_n = n.sum()
    p = k.sum() / big_n
    if p <= 0 or p >= 1:
        return 0.0
    s = float((n * (k / n - p) ** 2).sum())
    denom = big_n - float((n ** 2).sum()) / big_n
    if denom <= 0:
        return 0.0
    return float(max(0.0, (s / (p * (1 - p)) - (len(n) - 1)) / denom))


def _leave_one_out_icc(k, n) -> np.ndarray:
    k, n = np.asarray(k, dtype="float64"), np.asarray(n, dtype="float64")
    idx = np.arange(len(n))
    return np.array([icc_moments(k[idx != i], n[idx != i]) for i in idx])


# ---------------------------------------------------------------------------------------------
# error runs of departments
# ---------------------------------------------------------------------------------------------


def department_months(findings: pd.DataFrame, records: pd.DataFrame, *, months, level: str =
                      "error", basis: str = "closed") -> tuple[pd.DataFrame, np.ndarray,
                                                             np.ndarray]:
    """Faulty cards and cards per department (unit + department) and month.

    Returns
    -------
    (entities, k, n)
        ``entities``: ``entity_id, entity_name`` (one row per department); ``k``, ``n``:
        arrays departments × ``months`` of faulty cards and cards. Cards whose department is
        missing form the department 未知部门 of their unit; nothing is dropped.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 3, "unit_name": ["甲院"] * 3,
    ...     "department": ["一部"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["a", "b", "c"], "person_id": ["p"] * 3,
    ...     "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-02-01"]),
    ...     "closed_on": pd.NaT})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["b"],
    ...                   "person_id": ["p"], "severity": ["error"]})
    >>> ent, k, n = department_months(f, rec, months=["2024-01", "2024-02"])
    >>> ent["entity_name"].tolist(), k.tolist(), n.tolist()
    (['甲院一部'], [[1.0, 0.0]], [[2.0, 1.0]])
    """
    months = [str(m) for m in months]
    cards = _quality.flag_cards(findings, records, level)
    cards = cards.assign(month=_quality.card_month(cards, basis=basis).to_numpy())
    cards = cards[cards["month"].isin(months).to_numpy()]
    lab = _signals.entity_labels(cards, "department")
    g = (pd.DataFrame({"entity_id": lab["entity_id"].to_numpy(),
                       "entity_name": lab["entity_name"].to_numpy(),
                       "month": cards["month"].to_numpy(),
                       "faulty": cards["faulty"].to_numpy().astype("int64")})
         .groupby(["entity_id", "entity_name", "month"], sort=True)["faulty"]
         .agg(["sum", "size"]).reset_index())
    ents = g[["entity_id", "entity_name"]].drop_duplicates("entity_id").reset_index(drop=True)
    k = (g.pivot_table(index="entity_id", columns="month", values="sum", aggfunc="sum")
         .reindex(index=ents["entity_id"], columns=months).fillna(0).to_numpy(dtype="float64"))
    n = (g.pivot_table(index="entity_id", columns="month", values="size", aggfunc="sum")
         .reindex(index=ents["entity_id"], columns=months).fillna(0).to_numpy(dtype="float64"))
    return ents, k, n


def _windows(width: int, min_len: int) -> list[tuple[int, int]]:
    return [(s, e) for s in range(width) for e in range(s + min_len - 1, width)]


def _run_start(k, n, pk, pn, start: int, rho: float, z: float = 2.0) -> int:
    """Walk back from ``start`` over the months before it while the department's rate in each
    month is itself well above its peers' (z ≥ ``z``): where a run that was already on at the
    start of the search began (a description of the run; its p-value is the window's)."""
    while start > 0:
        j = start - 1
        if n[j] <= 0 or pn[j] <= 0:
            break
        p0 = (pk[j] + 0.5) / (pn[j] + 1.0)
        sd = np.sqrt(n[j] * p0 * (1 - p0) * (1 + (n[j] - 1) * rho))
        if (k[j] - n[j] * p0) / sd < z:
            break
        start = j
    return start


def error_rate_signals(findings: pd.DataFrame, records: pd.DataFrame, *, end, months: int = 12,
                       history: int = 12, level: str = "error", min_len: int = 2,
                       basis: str = "closed", section: str = "error_runs") -> pd.DataFrame:
    """Error-run signals of every department (see the module docstring).

    Parameters
    ----------
    findings, records : DataFrame
        From :func:`casework.analysis.quality.run_rules` and the inspected ``records``; they
        should cover the ``history`` months before the searched ones too (for the baseline).
    end : str or Period
        Last month searched (the report period's last month).
    months : int
        Months searched for a run (ending ``end``).
    history : int
        Months before them for each department's own baseline (此前).
    level : {"info", "warning", "error"}
        Lowest severity that makes a card faulty.
    min_len : int
        Fewest months of a run.
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`casework.analysis.quality.card_month`).
    section : str
        Report section anchor stored in each row.

    Returns
    -------
    DataFrame
        A signal frame, one row per department (entity_type ``department``), plus
        ``peer_rate``, ``end_month``, ``after_value`` (the rate after a run that ended, else
        NaN), ``rho`` and ``windows`` (number searched).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> months = [f"2024-{m:02d}" for m in range(1, 13)]
    >>> rows = []
    >>> for u in ("930101", "930102", "930103"):
    ...     for d in ("第一检察部", "第二检察部"):
    ...         for m in months:
    ...             bad = 0.25 if (u, d) == ("930102", "第二检察部") and m in months[5:8] else 0.02
    ...             for i in range(60):
    ...                 rows.append({"unit_code": u, "unit_name": f"{u}院", "department": d,
    ...                     "stage": "prosecution_review", "dept_case_no": f"{u}{d}{m}{i}",
    ...                     "person_id": "p", "accepted_on": pd.Timestamp(m + "-01"),
    ...                     "closed_on": pd.Timestamp(m + "-10"), "bad": rng.random() < bad})
    >>> rec = pd.DataFrame(rows)
    >>> f = rec.loc[rec["bad"], ["unit_code", "stage", "dept_case_no", "person_id"]]
    >>> s = error_rate_signals(f.assign(severity="error"), rec, end="2024-12", months=12)
    >>> top = s.sort_values("p_value").iloc[0]
    >>> top["entity_name"], top["start_month"], bool(top["p_value"] < 1e-6)
    ('930102院第二检察部', '2024-06', True)
    """
    last = _periods.parse(str(end)).months()[-1]
    span = [p.code for p in _periods.trailing_months(last, months + history)]
    searched = span[-months:]
    ents, k_all, n_all = department_months(findings, records, months=span, level=level,
                                           basis=basis)
    if not len(ents):
        return _signals.empty()
    h = len(span) - len(searched)
    k, n = k_all[:, h:], n_all[:, h:]
    wins = _windows(len(searched), min_len)
    tk, tn = k.sum(axis=1), n.sum(axis=1)
    rho = _leave_one_out_icc(tk, tn)
    ck = np.concatenate([np.zeros((len(ents), 1)), np.cumsum(k, axis=1)], axis=1)
    cn = np.concatenate([np.zeros((len(ents), 1)), np.cumsum(n, axis=1)], axis=1)
    all_k, all_n = ck.sum(axis=0), cn.sum(axis=0)
    rows = []
    for i, ent in ents.iterrows():
        best, z_best = None, 0.0
        for s, e in wins:
            o, m = ck[i, e + 1] - ck[i, s], cn[i, e + 1] - cn[i, s]
            pk = (all_k[e + 1] - all_k[s]) - o
            pn = (all_n[e + 1] - all_n[s]) - m
            if m <= 0 or pn <= 0:
                continue
            p0 = (pk + 0.5) / (pn + 1.0)
            if o / m <= p0:
                continue
            # the window is chosen by its beta-binomial z (tail probabilities of strong runs
            # underflow to 0 and cannot rank windows); its exact tail is the p-value, and as
            # it is at least the smallest tail of all windows, the Šidák-adjusted value stays
            # valid
            z = (o - m * p0) / np.sqrt(m * p0 * (1 - p0) * (1 + (m - 1) * rho[i]))
            if z > z_best:
                best, z_best = (s, e, o, m, pk / pn, p0), z
        p_adj = 1.0
        if best is not None:
            s, e, o, m, _, p0 = best
            p_adj = _signals.search_adjusted(beta_binomial_sf(o, m, p0, rho[i]), len(wins))
        row = {"detector": ERROR_DETECTOR, "section": section, "entity_type": "department",
               "entity_id": ent["entity_id"], "entity_name": ent["entity_name"],
               "indicator": ERROR_INDICATOR, "indicator_name": ERROR_INDICATOR_NAME,
               "method": ERROR_METHOD, "kind": "rate", "count_unit": "person",
               "p_value": p_adj, "rho": rho[i], "windows": len(wins)}
        if best is None:
            rate = tk[i] / tn[i] if tn[i] else np.nan
            row.update(direction="neutral", latest_value=rate, n=tn[i],
                       peer_rate=np.nan, end_month=None, after_value=np.nan)
        else:
            s, e, o, m, peer, _ = best
            gs = h + s  # index of the window start in the whole span
            if s == 0:  # a run already on when the search starts: where did it begin?
                gs = _run_start(k_all[i], n_all[i], k_all.sum(axis=0) - k_all[i],
                                n_all.sum(axis=0) - n_all[i], gs, rho[i])
            o, m = k_all[i, gs:h + e + 1].sum(), n_all[i, gs:h + e + 1].sum()
            bk, bn = k_all[i, :gs].sum(), n_all[i, :gs].sum()
            if bn <= 0:  # no history: the peers of the window are the comparison
                bk, bn = peer * m, m
            diff = _signals.rate_difference(o, m, bk, bn)
            ak, an = k[i, e + 1:].sum(), n[i, e + 1:].sum()
            signalling = p_adj < 0.05
            row.update(direction="unfavourable", latest_value=o / m, baseline=bk / bn,
                       effect=diff["effect"], effect_lower=diff["effect_lower"],
                       effect_upper=diff["effect_upper"], n=m, peer_rate=peer,
                       start_month=span[gs] if signalling else None,
                       months_signalling=(h + e - gs + 1) if signalling else 0,
                       end_month=searched[e],
                       after_value=(ak / an) if (e < len(searched) - 1 and an > 0) else np.nan)
        rows.append(row)
    return _signals.frame(rows)


# ---------------------------------------------------------------------------------------------
# accounts that edit closed cases
# ---------------------------------------------------------------------------------------------


def _month_of(dates) -> pd.Series:
    return _quality.year_months(pd.to_datetime(dates))


def edit_start(edited_closed_months, unit_closed_months, *, last) -> str | None:
    """Where an account's edits of closed cards begin: the month ``s`` maximising the Poisson
    likelihood ratio of a rise in (cards it edited after closing, by closing month) ÷ (cards its
    unit closed that month), over the months up to ``last``; None without such edits.

    Examples
    --------
    >>> unit = pd.Series(["2024-%02d" % m for m in range(1, 13) for _ in range(50)])
    >>> edited = pd.Series(["2024-01"] + ["2024-%02d" % m for m in range(7, 13) for _ in range(2)])
    >>> edit_start(edited, unit, last="2024-12")
    '2024-07'
    """
    edited = pd.Series(edited_closed_months).dropna().astype(str)
    if not len(edited):
        return None
    unit = pd.Series(unit_closed_months).dropna().astype(str)
    first = min(edited.min(), unit.min() if len(unit) else edited.min())
    codes = [str(p) for p in pd.period_range(first, str(last), freq="M")]
    c = edited.value_counts().reindex(codes, fill_value=0).to_numpy(dtype="float64")
    e = unit.value_counts().reindex(codes, fill_value=0).to_numpy(dtype="float64")
    e = np.maximum(e, 1.0)
    best, where = -np.inf, None
    total_c, total_e = c.sum(), e.sum()
    for s in range(len(codes)):
        c1, e1 = c[s:].sum(), e[s:].sum()
        c0, e0 = total_c - c1, total_e - e1
        if c1 <= 0 or (e0 > 0 and c1 / e1 <= c0 / e0):
            continue

        def ll(cc, ee):
            return cc * np.log(cc / ee) - cc if cc > 0 and ee > 0 else 0.0
        stat = ll(c1, e1) + ll(c0, e0) - ll(total_c, total_e)
        if stat > best + 1e-12:
            best, where = stat, codes[s]
    return where


def account_signals(flags: pd.DataFrame, modifications: pd.DataFrame, records: pd.DataFrame,
                    *, end, months: int = 12, flag: str = "closed_case_edit",
                    section: str = "modification_accounts") -> pd.DataFrame:
    """Account signals of the modification audit (see the module docstring).

    Parameters
    ----------
    flags : DataFrame
        :func:`casework.analysis.modifications.audit` of the change log up to ``end`` (all
        history: the start month is read from it).
    modifications, records : DataFrame
        The change log (denominators) and the cards (unit names, cards closed per month).
    end : str or Period
        Last month of the window.
    months : int
        Window (months ending ``end``) in which accounts are compared.
    flag : str
        The flag whose share is compared (default ``closed_case_edit``).
    section : str
        Report section anchor stored in each row.

    Returns
    -------
    DataFrame
        A signal frame, one row per account with changes in the window (entity
        ``account/<unit>/<account>``, named 单位 + 账号), plus ``changes``, ``flagged``,
        ``reversals``, ``post_report_changes``, ``cases`` (in the window), ``window_months``
        and ``rho``.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 40, "unit_name": ["甲院"] * 40,
    ...     "dept_case_no": [f"c{i}" for i in range(40)], "person_id": "p",
    ...     "closed_on": pd.to_datetime(["2024-01-10"] * 20 + ["2024-06-10"] * 20)})
    >>> rows = [{"unit_code": "1", "dept_case_no": f"c{i}", "person_id": "p",
    ...          "field": "gender", "account": f"u{i % 4}",
    ...          "modified_at": pd.Timestamp("2024-07-01")} for i in range(40)]
    >>> rows += [{"unit_code": "1", "dept_case_no": f"c{i}", "person_id": "p",
    ...           "field": "decision", "account": "u9",
    ...           "modified_at": pd.Timestamp("2024-07-20")} for i in range(20, 32)]
    >>> log = pd.DataFrame(rows)
    >>> from casework.analysis.modifications import audit
    >>> s = account_signals(audit(log, rec), log, rec, end="2024-07", months=6)
    >>> top = s.sort_values("p_value").iloc[0]
    >>> top["entity_name"], top["start_month"], bool(top["p_value"] < 1e-6)
    ('甲院账号u9', '2024-06', True)
    """
    check_choice("flag", flag, list(_mods.FLAG_ZH))
    last = _periods.parse(str(end)).months()[-1]
    window = {p.code for p in _periods.trailing_months(last, months)}
    m = _mods.ensure_log(modifications)
    m = m.assign(month=_month_of(m["modified_at"]).to_numpy())
    in_win = m[m["month"].isin(window).to_numpy()]
    if not len(in_win):
        return _signals.empty()
    unit_names = {}
    if "unit_name" in records.columns:
        named = records.dropna(subset=["unit_name"]).drop_duplicates("unit_code")
        unit_names = dict(zip(named["unit_code"].astype(str), named["unit_name"].astype(str)))
    lab = _signals.entity_labels(in_win, "account", unit_names=unit_names)
    in_win = in_win.assign(entity_id=lab["entity_id"].to_numpy(),
                           entity_name=lab["entity_name"].to_numpy())
    f = flags.copy() if len(flags) else pd.DataFrame(columns=list(_mods.FLAG_COLUMNS))
    f = f.assign(month=_month_of(f["modified_at"]).to_numpy())
    flab = _signals.entity_labels(f, "account", unit_names=unit_names)
    f = f.assign(entity_id=flab["entity_id"].to_numpy())
    key = ["entity_id", "dept_case_no", "person_id", "field", "modified_at"]
    f_win = f[f["month"].isin(window).to_numpy()]

    def count(which):
        sub = f_win[f_win["flag"] == which].drop_duplicates(key)
        return sub.groupby("entity_id").size()

    acc = (in_win.groupby(["entity_id", "entity_name"], sort=True)
           .agg(changes=("field", "size"), cases=("dept_case_no", "nunique"), unit_code=(
               "unit_code", "first"), account=("account", "first")).reset_index())
    acc["flagged"] = acc["entity_id"].map(count(flag)).fillna(0).astype("int64")
    acc["reversals"] = acc["entity_id"].map(count("reversal")).fillna(0).astype("int64")
    acc["post_report_changes"] = acc["entity_id"].map(
        count("post_report_change")).fillna(0).astype("int64")
    k, n = acc["flagged"].to_numpy(float), acc["changes"].to_numpy(float)
    rho = _leave_one_out_icc(k, n)
    closed_month = _month_of(records["closed_on"]) if "closed_on" in records.columns else None
    upto = f[(f["flag"] == flag).to_numpy() & (f["month"] <= last.code).to_numpy()]
    hist = m[(m["month"] <= last.code).to_numpy()]
    hlab = _signals.entity_labels(hist, "account", unit_names=unit_names)
    hist = hist.assign(entity_id=hlab["entity_id"].to_numpy())
    rows = []
    for i, a in acc.iterrows():
        others_k, others_n = k.sum() - k[i], n.sum() - n[i]
        p0 = (others_k + 0.5) / (others_n + 1.0)
        share = k[i] / n[i]
        p = beta_binomial_sf(k[i], n[i], p0, rho[i]) if share > p0 else 1.0
        row = {"detector": ACCOUNT_DETECTOR, "section": section, "entity_type": "account",
               "entity_id": a["entity_id"], "entity_name": a["entity_name"],
               "indicator": ACCOUNT_INDICATOR, "indicator_name": ACCOUNT_INDICATOR_NAME,
               "method": ACCOUNT_METHOD, "kind": "rate", "p_value": p, "n": n[i],
               "latest_value": share, "direction": "unfavourable" if share > p0 else "neutral",
               "changes": int(n[i]), "flagged": int(k[i]), "reversals": int(a["reversals"]),
               "post_report_changes": int(a["post_report_changes"]), "cases": int(a["cases"]),
               "peer_rate": others_k / others_n if others_n else np.nan, "rho": rho[i],
               "window_months": months}
        if p < 0.05 and k[i] > 0:
            mine = upto[upto["entity_id"] == a["entity_id"]]
            edited = _month_of(mine.drop_duplicates(["dept_case_no", "person_id"])["closed_on"])
            unit_cards = (closed_month[(records["unit_code"].astype(str)
                                        == str(a["unit_code"])).to_numpy()]
                          if closed_month is not None else pd.Series(dtype="string"))
            start = edit_start(edited, unit_cards, last=last.code)
            if start is not None:
                h = hist[hist["entity_id"] == a["entity_id"]]
                before = h[h["month"] < start]
                bk = int(len(mine[_month_of(mine["modified_at"]) < start]
                             .drop_duplicates(["dept_case_no", "person_id", "field",
                                               "modified_at"])))
                after = h[h["month"] >= start]
                ak = int(len(mine[_month_of(mine["modified_at"]) >= start]
                             .drop_duplicates(["dept_case_no", "person_id", "field",
                                               "modified_at"])))
                last_edit = str(_month_of(mine["modified_at"]).max())
                span = len(pd.period_range(start, max(last_edit, start), freq="M"))
                row.update(start_month=start, months_signalling=span)
                if len(after):
                    row["latest_value"] = ak / len(after)
                    row["n"] = float(len(after))
                if len(before):
                    diff = _signals.rate_difference(ak, max(len(after), 1), bk, len(before))
                    row.update(baseline=bk / len(before), effect=diff["effect"],
                               effect_lower=diff["effect_lower"],
                               effect_upper=diff["effect_upper"])
        rows.append(row)
    return _signals.frame(rows)


#: Months before the searched ones used for each department's own baseline (此前).
HISTORY_MONTHS = 12


def search_end(period, records: pd.DataFrame, *, basis: str = "closed") -> str:
    """The last month a detector of ``period`` should look at: the period's last month, or the
    last month holding cards when the data end earlier (a year still running), so that empty
    trailing months are never read as a fall.

    Examples
    --------
    >>> rec = pd.DataFrame({"accepted_on": pd.to_datetime(["2026-10-03", "2026-11-20"]),
    ...                     "closed_on": pd.NaT})
    >>> search_end("2026", rec), search_end("2026-10", rec)
    ('2026-11', '2026-10')
    """
    p = _periods.parse(period) if isinstance(period, str) else period
    last = p.months()[-1].code
    if not len(records):
        return last
    months = _quality.card_month(records, basis=basis).dropna()
    data_last = str(months.max()) if len(months) else last
    return min(last, data_last)
