"""Gaps in legal supervision (缺项漏项, issue 20): which unit leaves a supervision line unused,
and whose supervision is less often adopted or corrected.

For each unit × supervision line (:data:`casework.model.schema.CODE_TABLES` ``supervision_line``)
in the window of ``months`` months ending with the period:

*Volume.* The exposure of a unit is its caseload (审查起诉 persons accepted in the window;
all rows when there are none). The expected number of matters is the exposure times the
rate of the OTHER units (matters per case, pooled): a unit is never its own yardstick.
Units differ more than Poisson allows, so the count is modelled as negative binomial (NB2,
variance μ + αμ²) with α estimated by moments from the peers' own deviations, floored at
:data:`MIN_ALPHA` (so a handful of very similar peers never makes the test over-sharp). The
p-value is the lower tail P(X ≤ observed) — a one-sided test of "fewer than expected", the
gap the office is asked to find; a unit with more matters than expected gets a large p.

*Volume over time.* The unit's matters in the window against its own window before, given
the caseload of both (detector ``supervision_volume_change``: conditional binomial, lower
tail) — the only volume test a single-unit report (no peers) can make.

*Adoption / correction.* Per unit × line with results (尚未反馈 left out), the share adopted
or corrected (采纳、纠正、改判、发回重审) with a Wilson interval, compared with the other units
pooled (detector ``supervision_rate``) and with the unit's own previous window of the same
length (detector ``supervision_change``: change over time). Both give two-sided pooled z-test
p-values with Newcombe intervals (:func:`casework.analysis.signals.rate_difference`).

Every test becomes one signal row (flagged or not) so that the report's findings step
(:func:`casework.analysis.findings.select`) controls the false discovery rate across all unit
× line comparisons. The indicators of the national system these data support are declared in
``resources/indicators.yaml`` under ``supervision_indicators`` and computed by
:func:`indicator_table` (zero denominators give NaN, never an error).

Examples
--------
>>> import pandas as pd
>>> recs = pd.DataFrame({"unit_code": ["A"] * 100 + ["B"] * 100 + ["C"] * 100,
...                      "unit_name": ["甲院"] * 100 + ["乙院"] * 100 + ["丙院"] * 100,
...                      "stage": "prosecution_review",
...                      "accepted_on": pd.Timestamp("2024-03-01")})
>>> sup = pd.DataFrame({"unit_code": ["A"] * 20 + ["B"] * 20, "line": "custody_review",
...                     "kind": "custody_suggestion", "result": "adopted",
...                     "started_on": pd.Timestamp("2024-04-02")})
>>> v = volume_table(sup, recs, period="2024-06", months=12)
>>> r = v[(v["unit_code"] == "C") & (v["line"] == "custody_review")].iloc[0]
>>> int(r["observed"]), float(r["expected"]), bool(r["p_value"] < 1e-3)
(0, 20.0, True)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import yaml
from scipy import stats as _st

from casework.analysis import periods as _periods
from casework.analysis import signals as _signals
from casework.analysis.stats import wilson_interval
from casework.base import config
from casework.model import schema

#: Lower bound of the NB2 dispersion α (between-unit coefficient of variation of about 14 %).
MIN_ALPHA = 0.02
#: Results that count as adopted / corrected (the numerator of every adoption rate).
FAVOURABLE = ("adopted", "corrected", "sentence_changed", "remanded")
#: Results that are final (the denominator: every result except 尚未反馈 and missing).
FINAL = (*FAVOURABLE, "not_adopted", "not_corrected", "upheld")
#: Fewest results a unit × line needs for its rate to be tested.
MIN_RESULTS = 5
#: Fewest expected matters for a volume test (below it the line is too rare to call a gap).
MIN_EXPECTED = 3.0
#: Fewest expected matters for the test against the unit's own past (one unit's history is
#: noisier than the pooled peers: a rare line's quiet year is not called a gap).
MIN_EXPECTED_CHANGE = 8.0

LINES = schema.CODE_TABLES["supervision_line"]
_RATE_NAME = {"case_filing_supervision": "立案监督采纳率",
              "investigation_supervision": "纠正侦查活动违法纠正率",
              "trial_supervision": "审判监督改变或纠正率",
              "execution_supervision": "刑事执行监督纠正率",
              "custody_review": "羁押必要性审查建议采纳率",
              "procuratorial_suggestion": "检察建议采纳率"}


def line_name(line: str) -> str:
    """Chinese name of a supervision line.

    >>> line_name("case_filing_supervision")
    '立案监督'
    """
    return schema.label("supervision_line", line)


def window(period, months: int):
    """(start of the window before, start, end) of the ``months``-month window ending with
    ``period``'s last day.

    >>> [str(t.date()) for t in window("2024-06", 12)]
    ['2022-07-01', '2023-07-01', '2024-06-30']
    """
    p = _periods.parse(str(getattr(period, "code", period)))
    end = p.end
    start = (pd.Timestamp(end).to_period("M") - (months - 1)).to_timestamp()
    prev_start = (pd.Timestamp(start).to_period("M") - months).to_timestamp()
    return prev_start, start, end


def _exposure(records: pd.DataFrame, start, end) -> pd.Series:
    rec = records
    if "stage" in rec.columns and (rec["stage"] == "prosecution_review").any():
        rec = rec[rec["stage"] == "prosecution_review"]
    on = pd.to_datetime(rec["accepted_on"])
    inside = (on >= start) & (on <= end)
    return rec.loc[inside.fillna(False).to_numpy(), "unit_code"].astype(str).value_counts()


def _unit_names(records: pd.DataFrame, supervision: pd.DataFrame) -> dict:
    out = {}
    for df in (supervision, records):
        if "unit_name" in df.columns:
            sub = df[["unit_code", "unit_name"]].dropna().drop_duplicates("unit_code")
            for c, n in zip(sub["unit_code"].astype(str), sub["unit_name"].astype(str)):
                out.setdefault(c, n)
    return out


def _nb_lower_p(k: float, mu: float, alpha: float) -> float:
    """P(X ≤ k) for NB2 with mean ``mu`` and dispersion ``alpha`` (Poisson when α = 0)."""
    if not mu > 0:
        return np.nan
    size = 1.0 / alpha
    return float(_st.nbinom.cdf(k, size, size / (size + mu)))


def volume_table(supervision, records, *, period, months: int = 12) -> pd.DataFrame:
    """Observed and expected matters per unit × line in the window, with the NB p-value.

    Columns: ``unit_code, unit_name, line, line_zh, exposure, observed, expected, ratio``
    (observed / expected), ``alpha``, ``p_value`` (lower tail; NaN when untestable),
    ``previous`` (matters in the window before, same length) and ``previous_exposure``.
    Every unit with caseload or matters appears for every line.
    """
    prev_start, start, end = window(period, months)
    sup = supervision.copy()
    on = pd.to_datetime(sup["started_on"])
    sup["unit_code"] = sup["unit_code"].astype(str)
    now = sup[((on >= start) & (on <= end)).fillna(False).to_numpy()]
    before = sup[((on >= prev_start) & (on < start)).fillna(False).to_numpy()]
    expo = _exposure(records, start, end)
    expo_prev = _exposure(records, prev_start, start - pd.Timedelta(seconds=1))
    units = sorted(set(expo.index) | set(now["unit_code"]))
    names = _unit_names(records, supervision)
    rows = []
    for line in LINES:
        obs = now[now["line"] == line]["unit_code"].value_counts()
        prev = before[before["line"] == line]["unit_code"].value_counts()
        e = np.array([float(expo.get(u, 0)) for u in units])
        o = np.array([float(obs.get(u, 0)) for u in units])
        for i, u in enumerate(units):
            peers = np.arange(len(units)) != i
            rate = o[peers].sum() / e[peers].sum() if e[peers].sum() > 0 else np.nan
            mu = e[i] * rate
            mu_p = e[peers] * rate
            ok = mu_p > 0
            alpha = (float(np.sum((o[peers][ok] - mu_p[ok]) ** 2 - o[peers][ok])
                           / np.sum(mu_p[ok] ** 2)) if ok.sum() >= 2 else np.nan)
            alpha = max(alpha, MIN_ALPHA) if np.isfinite(alpha) else 0.25
            testable = np.isfinite(mu) and mu >= MIN_EXPECTED
            rows.append({
                "unit_code": u, "unit_name": names.get(u, u), "line": line,
                "line_zh": line_name(line), "exposure": e[i], "observed": o[i],
                "expected": mu, "ratio": o[i] / mu if mu and np.isfinite(mu) else np.nan,
                "alpha": alpha,
                "p_value": _nb_lower_p(o[i], mu, alpha) if testable else np.nan,
                "previous": float(prev.get(u, 0)), "previous_exposure": float(expo_prev.get(u, 0)),
            })
    return pd.DataFrame(rows, columns=["unit_code", "unit_name", "line", "line_zh", "exposure",
                                       "observed", "expected", "ratio", "alpha", "p_value",
                                       "previous", "previous_exposure"])


def rate_table(supervision, *, period, months: int = 12) -> pd.DataFrame:
    """Adoption / correction rate per unit × line: this window, the peers, the window before.

    Columns: ``unit_code, unit_name, line, line_zh, results, favourable, rate, rate_lower,
    rate_upper`` (Wilson 95 %), ``peer_results, peer_favourable, previous_results,
    previous_favourable, pending``.
    """
    prev_start, start, end = window(period, months)
    sup = supervision.copy()
    sup["unit_code"] = sup["unit_code"].astype(str)
    on = pd.to_datetime(sup["started_on"])
    sup["_w"] = np.where(((on >= start) & (on <= end)).fillna(False), "now",
                         np.where(((on >= prev_start) & (on < start)).fillna(False), "before",
                                  ""))
    sup["_final"] = sup["result"].isin(FINAL).fillna(False)
    sup["_fav"] = sup["result"].isin(FAVOURABLE).fillna(False)
    sup["_pending"] = ~sup["_final"]
    g = sup[sup["_w"] != ""].groupby(["unit_code", "line", "_w"])
    agg = g.agg(results=("_final", "sum"), favourable=("_fav", "sum"),
                pending=("_pending", "sum")).reset_index()
    names = _unit_names(pd.DataFrame(columns=["unit_code"]), supervision)
    rows = []
    now = agg[agg["_w"] == "now"].set_index(["unit_code", "line"])
    bef = agg[agg["_w"] == "before"].set_index(["unit_code", "line"])
    for (u, line), r in now.iterrows():
        peers = now[(now.index.get_level_values(1) == line)
                    & (now.index.get_level_values(0) != u)]
        pb = bef.loc[(u, line)] if (u, line) in bef.index else None
        rows.append({
            "unit_code": u, "unit_name": names.get(u, u), "line": line,
            "line_zh": line_name(line), "results": int(r["results"]),
            "favourable": int(r["favourable"]), "pending": int(r["pending"]),
            "peer_results": int(peers["results"].sum()),
            "peer_favourable": int(peers["favourable"].sum()),
            "previous_results": int(pb["results"]) if pb is not None else 0,
            "previous_favourable": int(pb["favourable"]) if pb is not None else 0,
        })
    out = pd.DataFrame(rows, columns=["unit_code", "unit_name", "line", "line_zh", "results",
                                      "favourable", "pending", "peer_results",
                                      "peer_favourable", "previous_results",
                                      "previous_favourable"])
    with np.errstate(divide="ignore", invalid="ignore"):
        out["rate"] = out["favourable"] / out["results"].where(out["results"] > 0)
    lo, hi = wilson_interval(out["favourable"], out["results"])
    out["rate_lower"], out["rate_upper"] = lo, hi
    return out


def signals(supervision, records, *, period, months: int = 12,
            section: str = "supervision") -> pd.DataFrame:
    """Every unit × line test as signal rows (volume, rate vs peers, rate vs own past).

    Extra columns used by the prose: ``line``, ``line_zh``, ``observed``, ``expected``,
    ``kind`` (count / rate), ``unit_zh``, ``baseline_zh``, ``note``.
    """
    vol = volume_table(supervision, records, period=period, months=months)
    rates = rate_table(supervision, period=period, months=months)
    rows = []
    for r in vol.itertuples(index=False):
        zero = r.observed == 0 and np.isfinite(r.expected)
        rows.append(dict(
            detector="supervision_volume", section=section, entity_type="unit",
            entity_id=r.unit_code, entity_name=r.unit_name,
            indicator=f"supervision_volume_{r.line}",
            indicator_name=f"近{months}个月{r.line_zh}件数",
            direction="unfavourable" if r.observed < r.expected else "favourable",
            latest_value=r.observed, baseline=r.expected,
            effect=r.observed - r.expected if np.isfinite(r.expected) else np.nan,
            n=r.exposure, p_value=r.p_value,
            method="负二项模型（按案件量暴露、其他单位比率预期，单侧下尾）",
            line=r.line, line_zh=r.line_zh, observed=r.observed, expected=r.expected,
            kind="count", unit_zh="件", count_unit="case",
            baseline_zh="按案件量和其他单位水平的预期",
            note=(f"近{months}个月未开展{r.line_zh}（按案件量预期约{r.expected:.0f}件）"
                  if zero else "")))
    for r in vol.itertuples(index=False):  # change over time: the unit against its own past
        n = r.observed + r.previous
        share = (r.exposure / (r.exposure + r.previous_exposure)
                 if r.exposure > 0 and r.previous_exposure > 0 else np.nan)
        expected = n * share if np.isfinite(share) else np.nan
        testable = np.isfinite(share) and expected >= MIN_EXPECTED_CHANGE
        rows.append(dict(
            detector="supervision_volume_change", section=section, entity_type="unit",
            entity_id=r.unit_code, entity_name=r.unit_name,
            indicator=f"supervision_volume_{r.line}",
            indicator_name=f"近{months}个月{r.line_zh}件数",
            direction="unfavourable" if r.observed < expected else "favourable",
            latest_value=r.observed, baseline=expected,
            effect=r.observed - expected if np.isfinite(expected) else np.nan,
            n=r.exposure,
            p_value=float(_st.binom.cdf(r.observed, n, share)) if testable else np.nan,
            method="条件二项检验（本期与此前同期按案件量分配，单侧下尾）",
            line=r.line, line_zh=r.line_zh, observed=r.observed, expected=expected,
            kind="count", unit_zh="件", count_unit="case",
            baseline_zh=f"按本单位此前{months}个月水平的预期",
            note=(f"近{months}个月未开展{r.line_zh}（按本单位此前水平预期约{expected:.0f}件）"
                  if r.observed == 0 and testable else "")))
    for r in rates.itertuples(index=False):
        name = _RATE_NAME.get(r.line, f"{r.line_zh}采纳率")
        for det, k0, n0, base_zh in (
                ("supervision_rate", r.peer_favourable, r.peer_results, "其他单位"),
                ("supervision_change", r.previous_favourable, r.previous_results,
                 f"本单位此前{months}个月")):
            d = _signals.rate_difference(r.favourable, r.results, k0, n0)
            testable = r.results >= MIN_RESULTS and n0 >= MIN_RESULTS
            eff = d["effect"]
            rows.append(dict(
                detector=det, section=section, entity_type="unit", entity_id=r.unit_code,
                entity_name=r.unit_name, indicator=f"supervision_rate_{r.line}",
                indicator_name=name,
                direction=("unfavourable" if eff < 0 else "favourable")
                if np.isfinite(eff) and eff != 0 else "neutral",
                latest_value=d["latest_value"], baseline=d["baseline"], effect=eff,
                effect_lower=d["effect_lower"], effect_upper=d["effect_upper"],
                n=r.results, p_value=d["p_value"] if testable else np.nan,
                method="两比例比较（合并z检验，Newcombe区间）",
                line=r.line, line_zh=r.line_zh, observed=np.nan, expected=np.nan,
                kind="rate", unit_zh="", baseline_zh=base_zh, note=""))
    if not rows:
        return _signals.empty()
    return _signals.frame(rows)


# ---------------------------------------------------------------------------------------------
# indicators (resources/indicators.yaml, section supervision_indicators)
# ---------------------------------------------------------------------------------------------


def supervision_indicators() -> list[dict]:
    """The ``supervision_indicators`` entries of the built-in registry file.

    >>> [i["code"] for i in supervision_indicators()][:2]
    ['correction_adoption_rate', 'protest_change_rate']
    """
    path = config.RESOURCES_DIR / "indicators.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("supervision_indicators") or [])


def indicator_definitions() -> pd.DataFrame:
    """The supervision indicators' definitions (指标口径) for a report table.

    >>> indicator_definitions().columns.tolist()
    ['指标', '分子', '分母', '说明']
    """
    rows = [{"指标": i["name_zh"], "分子": str(i["numerator"]),
             "分母": str(i["denominator"].get("exposure")) + "（records 表）"
             if isinstance(i["denominator"], dict) else str(i["denominator"]),
             "说明": i.get("caveats", "")} for i in supervision_indicators()]
    return pd.DataFrame(rows, columns=["指标", "分子", "分母", "说明"])


def indicator_table(supervision, *, by=("unit_code",), start=None, end=None,
                    records=None) -> pd.DataFrame:
    """Value of every supervision indicator per group, with its 95 % interval.

    Numerators and denominators are DuckDB boolean expressions over the ``supervision``
    columns (``numerator`` is counted inside ``denominator``); an indicator whose
    ``denominator`` is ``{exposure: <expr over records>}`` is a rate per 100 of those records
    rows (``records`` needed). Matters count by ``started_on`` in [start, end].
    Zero denominators give ``value`` NaN and ``note`` 分母为0.

    Returns
    -------
    DataFrame
        ``*by, indicator, indicator_name, numerator, denominator, value, lower, upper, note``.

    Examples
    --------
    >>> import pandas as pd
    >>> sup = pd.DataFrame({"unit_code": ["A", "A", "A", "B"],
    ...     "line": ["investigation_supervision"] * 3 + ["trial_supervision"],
    ...     "kind": ["investigation_correction"] * 3 + ["appeal_protest"],
    ...     "result": ["corrected", "not_corrected", "pending", "upheld"],
    ...     "started_on": pd.Timestamp("2024-05-01")})
    >>> t = indicator_table(sup)
    >>> t.loc[(t.unit_code == "A") & (t.indicator == "correction_adoption_rate"), "value"].item()
    0.5
    >>> t.loc[(t.unit_code == "A") & (t.indicator == "protest_change_rate"), "note"].item()
    '分母为0'
    """
    import duckdb  # heavy: loaded only when indicators are computed

    by = list(by)
    sup = schema.conform(supervision.reset_index(drop=True), "supervision")
    on = pd.to_datetime(sup["started_on"])
    keep = pd.Series(True, index=sup.index)
    if start is not None:
        keep &= on >= pd.Timestamp(start)
    if end is not None:
        keep &= on <= pd.Timestamp(end)
    sup = sup[keep.fillna(False)]
    groups = (sup[by].drop_duplicates() if by else pd.DataFrame(index=[0]))
    if records is not None and by:
        groups = pd.concat([groups, records[by].astype("string").drop_duplicates()])
        groups = groups.drop_duplicates().reset_index(drop=True)
    out = []
    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_external_access=false")
        con.register("supervision", sup)
        if records is not None:
            con.register("records", records)
        key = ", ".join(f'"{c}"' for c in by)
        sel = f"{key}, " if by else ""
        grp = f" GROUP BY {key}" if by else ""
        for ind in supervision_indicators():
            den = ind["denominator"]
            num = ind["numerator"]
            if isinstance(den, dict) and "exposure" in den:
                q_num = (f"SELECT {sel}COUNT(*) FILTER (WHERE ({num})) AS k "
                         f"FROM supervision{grp}")
                q_den = (f"SELECT {sel}COUNT(*) FILTER (WHERE ({den['exposure']})) AS n "
                         f"FROM records{grp}") if records is not None else None
                scale = 100.0
            else:
                q_num = (f"SELECT {sel}COUNT(*) FILTER (WHERE ({den}) AND ({num})) AS k, "
                         f"COUNT(*) FILTER (WHERE ({den})) AS n FROM supervision{grp}")
                q_den, scale = None, 1.0
            t = con.sql(q_num).df()
            if q_den is not None:
                t = t.merge(con.sql(q_den).df(), on=by, how="outer") if by else \
                    pd.concat([t, con.sql(q_den).df()], axis=1)
            elif "n" not in t.columns:
                t["n"] = np.nan
            t = groups.astype("string").merge(t.astype({c: "string" for c in by}), on=by,
                                              how="left") if by else t
            k = t["k"].fillna(0).to_numpy(dtype=float)
            n = t["n"].fillna(0).to_numpy(dtype=float)
            with np.errstate(divide="ignore", invalid="ignore"):
                value = np.where(n > 0, k / n * scale, np.nan)
            if scale == 1.0:
                lo, hi = wilson_interval(k, n)
            else:
                with np.errstate(divide="ignore", invalid="ignore"):
                    lo = np.where(n > 0, _st.chi2.ppf(0.025, 2 * k) / 2 / n * scale, np.nan)
                    hi = np.where(n > 0, _st.chi2.ppf(0.975, 2 * k + 2) / 2 / n * scale, np.nan)
                lo = np.where((k == 0) & (n > 0), 0.0, lo)
            res = t[by].copy() if by else pd.DataFrame(index=range(len(t)))
            res["indicator"] = ind["code"]
            res["indicator_name"] = ind["name_zh"]
            res["numerator"], res["denominator"] = k, n
            res["value"], res["lower"], res["upper"] = value, lo, hi
            res["note"] = np.where(n > 0, "", "分母为0")
            out.append(res)
    finally:
        con.close()
    return pd.concat(out, ignore_index=True)
