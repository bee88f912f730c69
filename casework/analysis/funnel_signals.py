"""Signals (issue 13) of the comparison reports: funnel points, level-and-change tests.

:func:`funnel_signals` turns a funnel comparison (:func:`casework.analysis.casemix.horizontal`,
:func:`casework.analysis.workload.days_by_stage`) into the signal contract of
:mod:`casework.analysis.signals` — one row per group × indicator TESTED (flagged or not),
named by its full entity. :func:`combine` joins a level test (a funnel: is this station's
rate out of line with the others?) and a change test (did it rise at some month?) of the same
entity and indicator into one test.

p-values
--------
A funnel point's p-value is two-sided, from its z on the funnel's scale (the exact mid-P z
where exact limits apply, else Spiegelhalter's transformed-scale z) divided by the
random-effects standard deviation √(s² + τ̂²) — so the legitimate spread between units,
departments, prosecutors or stations that a null data set still has is part of the null,
not a finding (additive random effects, Spiegelhalter 2005 §4.2). τ̂² is the
DerSimonian–Laird moment estimate (DerSimonian & Laird 1986, Control Clin Trials 7:177) from
the OTHER groups of the same funnel (leave one out, as for studentized deleted residuals in
meta-analysis, Viechtbauer & Cheung 2010, Res Synth Methods 1:112): a real outlier does not
widen its own null, and a heavy tail of ordinary groups does widen everybody's — the
winsorised estimate the funnel chart uses is too narrow for that (on null data it left |z|
near 4.4 among 95 prosecutors). Points below the small-sample floor are untestable
(p = NaN, not counted as tests).

:func:`combine` reports one p-value for two tests of one entity: Bonferroni over the two,
``min(1, 2·min(p_level, p_change))``. The row is written in the change form (with the start
month) when the change test alone is nominally significant, else in the level form.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import signals as _signals
from casework.analysis.casemix import grouping_keys, horizontal
from casework.analysis.funnels import to_float
from casework.base.checks import require_columns
from casework.base.errors import check_choice

#: Entity type of each grouping of the horizontal comparison (casemix.GROUPINGS).
GROUPING_ENTITY = {"department": "department", "prosecutor": "prosecutor", "unit": "unit",
                   "referring_agency": "agency", "police_station": "station"}

#: The levels above each grouping that a comparison report tests too: a problem of a whole
#: procuratorate shows in several of its departments at once, each too weakly to stand out
#: against its neighbours, but plainly at the unit level (and the findings step then keeps
#: the most specific level that passes, the others as context).
PARENTS = {"department": ("unit",), "prosecutor": ("department", "unit"), "unit": (),
           "referring_agency": (), "police_station": ("referring_agency",)}

#: What a funnel's baseline is, by measure (for the sentence: 明显高于<baseline_zh>).
BASELINE_ZH = {"rate": "总体水平", "ratio_oe": "同类案件预期水平", "mean": "总体水平",
               "days_ratio": "同类案件预期"}

#: Method notes (Chinese, for the signal table and the appendix), by measure.
METHOD_ZH = {
    "rate": "漏斗图：与总体比率比较，控制限按组间差异（随机效应）放宽，双侧检验",
    "ratio_oe": "漏斗图：实际数与按案件结构预期数之比，控制限按组间差异（随机效应）放宽，双侧检验",
    "mean": "漏斗图：与总体均值比较，控制限按组间差异（随机效应）放宽，双侧检验",
    "days_ratio": "漏斗图：办案天数与同环节、同程序、同罪名类别、同羁押状态的案件比较，"
                  "控制限按组间差异（随机效应）放宽，双侧检验",
}

_EXTRA = ("unit_code", "unit_name", "department", "prosecutor_id", "prosecutor_name",
          "referring_agency", "police_station")


def entity_keys(records: pd.DataFrame, keys: Sequence[str], entity_type: str) -> pd.DataFrame:
    """The entity of each group of ``keys``: one row per distinct key in ``records`` with
    ``entity_id``, ``entity_name`` (full name) and ``within`` (units, for agencies/stations).

    The entity is built from the canonical columns of
    :data:`casework.analysis.signals.GROUPINGS` (never from a bare name); where the keys are
    coarser than those columns (a prosecutor keyed by 工号 alone) the group takes the entity
    most of its records belong to (his own unit and department).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"unit_code": ["930104"] * 3, "unit_name": ["江州市江滨区人民检察院"] * 3,
    ...                   "department": ["第二检察部"] * 3, "prosecutor_id": ["930104101"] * 3,
    ...                   "prosecutor_name": ["曾杰东"] * 3})
    >>> e = entity_keys(r, ["prosecutor_id"], "prosecutor")
    >>> e[["entity_id", "entity_name"]].values.tolist()
    [['930104/第二检察部/930104101', '江州市江滨区人民检察院第二检察部检察官曾杰东']]
    """
    check_choice("entity_type", entity_type, list(_signals.ENTITY_TYPES))
    keys = list(keys)
    require_columns(records, keys, "实体对照")
    cols = [c for c in dict.fromkeys([*keys, *_signals.GROUPINGS[entity_type], *_EXTRA])
            if c in records.columns]
    sub = records[cols].reset_index(drop=True)
    if any(sub[c].dtype == object for c in cols):  # mixed values: label every record
        n = pd.Series(1, index=sub.index, dtype="int64")
    else:
        # Label each distinct combination once, weighted by its records. Its last record
        # stands for it, so the name a unit code takes from its last named record (in
        # entity_labels) is the same as over all records.
        gid = sub.groupby(cols, dropna=False, observed=True, sort=False).ngroup().to_numpy()
        last = len(gid) - 1 - np.unique(gid[::-1], return_index=True)[1]
        at = np.sort(last)
        n = pd.Series(np.bincount(gid)[gid[at]], dtype="int64")
        sub = sub.iloc[at].reset_index(drop=True)
    lab = _signals.entity_labels(sub, entity_type).reset_index(drop=True)
    frame = pd.concat([sub[keys], lab], axis=1).assign(_n=n)
    counts = (frame.groupby([*keys, "entity_id", "entity_name"], dropna=False, observed=True)
              ["_n"].sum().reset_index()
              .sort_values(["_n", "entity_id"], ascending=[False, True], kind="stable")
              .drop_duplicates(keys))
    # the set of units per group does not depend on repeats: join over distinct pairs only
    within = (frame[[*keys, "within"]].drop_duplicates()
              .groupby(keys, dropna=False, observed=True)["within"]
              .agg(lambda s: "|".join(sorted({w for w in s.dropna() if w}))).reset_index())
    out = counts[[*keys, "entity_id", "entity_name"]].merge(within, on=keys, how="left")
    return out.reset_index(drop=True)


def two_sided_p(z) -> np.ndarray:
    """Two-sided normal p-value of z (NaN stays NaN)."""
    z = np.asarray(z, dtype="float64")
    with np.errstate(invalid="ignore"):
        return 2 * _st.norm.sf(np.abs(z))


def loo_adjusted_z(z, s) -> np.ndarray:
    """z of each group divided by its random-effects scale with τ̂² estimated (DerSimonian–Laird,
    against the fixed target) from the other groups: z·s/√(s² + τ̂²₋ᵢ). NaN where z or s is.

    Examples
    --------
    >>> import numpy as np
    >>> z = np.array([0.5, -1.0, 1.5, -0.5, 6.0])
    >>> # the outlier widens the others' null, not its own
    >>> loo_adjusted_z(z, np.full(5, 0.1)).round(2).tolist()
    [0.14, -0.28, 0.42, -0.14, 5.37]
    """
    z = np.asarray(z, dtype="float64")
    s = np.asarray(s, dtype="float64")
    ok = np.isfinite(z) & np.isfinite(s) & (s > 0)
    out = np.full(len(z), np.nan)
    k = int(ok.sum())
    if k == 0:
        return out
    zz, ss = z[ok], s[ok]
    w = 1 / ss**2
    q_all, w_all, w2_all = float((zz**2).sum()), float(w.sum()), float((w**2).sum())
    if k < 3:
        out[ok] = zz
        return out
    q = q_all - zz**2
    wm = w_all - w
    denom = wm - (w2_all - w**2) / wm
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.where(denom > 0, np.maximum(0.0, (q - (k - 2)) / denom), 0.0)
        out[ok] = zz * ss / np.sqrt(ss**2 + tau2)
    return out


def _scale_s(res: pd.DataFrame, measure: np.ndarray) -> np.ndarray:
    """The null standard error of each point on its funnel's transformed scale."""
    n = len(res)
    out = np.full(n, np.nan)

    def col(c):
        return to_float(res[c]) if c in res.columns else np.full(n, np.nan)

    with np.errstate(invalid="ignore", divide="ignore"):
        rate = measure == "rate"
        out[rate] = 1 / (2 * np.sqrt(col("denominator")[rate]))
        oe = measure == "ratio_oe"
        out[oe] = 1 / np.sqrt(col("expected")[oe])
    other = ~(rate | oe)
    out[other] = col("std_error")[other]
    return out


def funnel_p_values(result: pd.DataFrame) -> np.ndarray:
    """The p-value of each funnel point (see the module docstring); NaN below the floor.
    Points of different indicators (``indicator``) are separate funnels."""
    n = len(result)
    res = result.reset_index(drop=True)
    measure = (res["measure"].astype(str).to_numpy() if "measure" in res.columns
               else np.full(n, "days_ratio", dtype=object))
    z = to_float(res["z"]) if "z" in res.columns else np.full(n, np.nan)
    if "z_exact" in res.columns:
        ze = to_float(res["z_exact"])
        z = np.where(np.isfinite(ze), ze, z)
    s = _scale_s(res, measure)
    if "below_min_n" in res.columns:
        z = np.where(res["below_min_n"].astype(bool).to_numpy(), np.nan, z)
    za = np.full(n, np.nan)
    block = res["indicator"].astype(str).to_numpy() if "indicator" in res.columns \
        else np.zeros(n, dtype=object)
    for b in pd.unique(block):
        at = block == b
        za[at] = loo_adjusted_z(z[at], s[at])
    return two_sided_p(za)


def _direction(side: np.ndarray, registry_direction) -> np.ndarray:
    """Observed side (+1 above, −1 below) and the registry direction → contract direction."""
    reg = pd.Series(registry_direction).astype("object").to_numpy()
    out = np.full(len(side), "neutral", dtype=object)
    worse = ((reg == "lower_better") & (side > 0)) | ((reg == "higher_better") & (side < 0))
    better = ((reg == "lower_better") & (side < 0)) | ((reg == "higher_better") & (side > 0))
    out[worse] = "unfavourable"
    out[better] = "favourable"
    return out


def funnel_signals(
    result: pd.DataFrame,
    records: pd.DataFrame,
    *,
    entity_type: str,
    detector: str = "funnel",
    section: str = "",
    indicator: str | None = None,
    indicator_name: str | None = None,
    grouping: str | None = None,
) -> pd.DataFrame:
    """One signal per group × indicator of a funnel comparison.

    Parameters
    ----------
    result : DataFrame
        :func:`casework.analysis.casemix.horizontal` output (or
        :func:`casework.analysis.workload.days_by_stage` for one stage: then give
        ``indicator`` and ``indicator_name``); ``attrs["keys"]`` names the group keys.
    records : DataFrame
        For the entities' full names (and the units a station's records come from).
    entity_type : str
        Entity type of the groups (:data:`GROUPING_ENTITY`).
    detector, section : str
        Recorded in each row.
    grouping : str, optional
        Name recorded in the extra column ``grouping`` (default ``entity_type``).

    Returns
    -------
    DataFrame
        A validated signal frame (:mod:`casework.analysis.signals`), plus ``kind``,
        ``unit_zh`` and ``baseline_zh`` for the sentences, ``measure``, ``z``, and
        ``grouping`` / ``result_row`` (the row of ``result`` each signal tests, so tables can
        show each row's status whatever the access level does to names).
    """
    keys = list(result.attrs.get("keys", []))
    if result is None or result.empty or not keys:
        return _signals.empty()
    ent = entity_keys(records, keys, entity_type)
    res = result.reset_index(drop=True).merge(ent, on=keys, how="left")
    missing = res["entity_id"].isna().to_numpy()
    if missing.any():  # groups absent from records (journey-only keys): label them directly
        lab = _signals.entity_labels(res.loc[missing], entity_type)
        for c in ("entity_id", "entity_name", "within"):
            res.loc[missing, c] = lab[c].to_numpy()
    n = len(res)
    measure = (res["measure"].astype(str).to_numpy() if "measure" in res.columns
               else np.full(n, "days_ratio", dtype=object))
    code = res["indicator"].astype(str).to_numpy() if indicator is None else np.full(n, indicator)
    name = (res["name_zh"].astype(str).to_numpy() if indicator_name is None
            else np.full(n, indicator_name))
    reg_dir = res["direction"] if "direction" in res.columns else pd.Series(
        ["lower_better"] * n)
    value = to_float(res["value"])
    lo, hi = to_float(res["value_ci_lower"]), to_float(res["value_ci_upper"])
    target = to_float(res["target"]) if "target" in res.columns else np.ones(n)
    crude = to_float(res["crude_value"]) if "crude_value" in res.columns else value

    def col(c):
        return to_float(res[c]) if c in res.columns else np.full(n, np.nan)

    exp_rate, mean_days = col("expected_rate"), col("mean_days")
    latest, base, elo, ehi = (np.full(n, np.nan) for _ in range(4))
    for m in ("rate", "mean"):
        at = measure == m
        latest[at], base[at] = value[at], target[at]
        elo[at], ehi[at] = lo[at] - target[at], hi[at] - target[at]
    at = measure == "ratio_oe"
    latest[at], base[at] = crude[at], exp_rate[at]
    elo[at], ehi[at] = exp_rate[at] * (lo[at] - 1), exp_rate[at] * (hi[at] - 1)
    # handling days: the ratio is geometric (log days against peers); the baseline is the
    # group's own mean at its peers' pace (mean ÷ ratio), so effect and interval agree
    at = measure == "days_ratio"
    with np.errstate(invalid="ignore", divide="ignore"):
        latest[at], base[at] = mean_days[at], mean_days[at] / value[at]
        elo[at] = mean_days[at] * (1 - 1 / lo[at])
        ehi[at] = mean_days[at] * (1 - 1 / hi[at])
    z = col("z_adjusted")
    z = np.where(np.isfinite(z), z, col("z"))
    side = np.sign(np.where(np.isfinite(value - target), value - target, z))
    kind = (res["kind"].astype(str).to_numpy() if "kind" in res.columns
            else np.full(n, "mean", dtype=object))
    kind = np.where(measure == "days_ratio", "mean", kind)
    unit_zh = (res["unit_zh"].fillna("").astype(str).to_numpy() if "unit_zh" in res.columns
               else np.full(n, "天", dtype=object))
    unit_zh = np.where(measure == "days_ratio", "天", unit_zh)
    size = col("denominator")
    size = np.where(np.isfinite(size), size, col("n"))
    out = pd.DataFrame({
        "detector": detector, "section": section, "entity_type": entity_type,
        "entity_id": res["entity_id"].astype(str), "entity_name": res["entity_name"].astype(str),
        "indicator": code, "indicator_name": name,
        "direction": _direction(side, reg_dir),
        "start_month": pd.NA, "months_signalling": 0,
        "latest_value": latest, "baseline": base, "effect": latest - base,
        "effect_lower": elo, "effect_upper": ehi, "n": size,
        "p_value": funnel_p_values(res),
        "method": [METHOD_ZH.get(m, METHOD_ZH["rate"]) for m in measure],
        "within": res["within"].fillna("").astype(str),
        "kind": kind, "unit_zh": unit_zh,
        "baseline_zh": [BASELINE_ZH.get(m, "总体水平") for m in measure],
        "measure": measure, "z": z,
        "grouping": grouping or entity_type, "result_row": np.arange(n, dtype="int64"),
    })
    return _signals.validate(out)


def combine(level: pd.DataFrame, change: pd.DataFrame, *, detector: str) -> pd.DataFrame:
    """One test per entity × indicator from a level test and a change test of it.

    Rows are matched on (``entity_id``, ``indicator``); the p-value is
    ``min(1, 2·min(p_level, p_change))`` (Bonferroni over the two tests; a row present in
    only one frame keeps its own p-value). The row takes the change test's columns (start
    month, before/after values) when the change test is nominally significant (p < 0.05)
    and the level test's otherwise. ``p_level`` and ``p_change`` are kept as columns.

    Examples
    --------
    >>> from casework.analysis import signals
    >>> base = dict(entity_type="unit", entity_id="930104", entity_name="甲院",
    ...             indicator="x", indicator_name="某率", direction="unfavourable")
    >>> lv = signals.frame([{**base, "detector": "funnel", "p_value": 0.2}])
    >>> ch = signals.frame([{**base, "detector": "shift", "p_value": 0.001,
    ...                      "start_month": "2026-03", "months_signalling": 9}])
    >>> c = combine(lv, ch, detector="bail")
    >>> c[["detector", "start_month", "p_value"]].values.tolist()
    [['bail', '2026-03', 0.002]]
    """
    key = ["entity_id", "indicator"]
    lv = _signals.validate(level) if len(level) else _signals.empty()
    ch = _signals.validate(change) if len(change) else _signals.empty()
    lv = lv.assign(_pl=lv["p_value"].astype("float64"))
    ch = ch.assign(_pc=ch["p_value"].astype("float64"))
    ids = pd.concat([lv[key], ch[key]], ignore_index=True).drop_duplicates()
    a = ids.merge(lv, on=key, how="left")
    b = ids.merge(ch, on=key, how="left")
    pl, pc = a["_pl"].to_numpy(), b["_pc"].to_numpy()
    use_change = (np.isfinite(pc) & (pc < 0.05)) | ~a["detector"].notna().to_numpy()
    rows = pd.concat([b[use_change], a[~use_change]]).sort_index(kind="stable")
    other = pd.concat([a[use_change], b[~use_change]]).sort_index(kind="stable")
    for c in other.columns:  # evidence of the other test (its row numbers …) where missing
        if c in rows.columns and c not in _signals.SIGNAL_COLUMNS and c not in ("_pl", "_pc"):
            rows[c] = rows[c].where(rows[c].notna(), other[c])
        elif c not in rows.columns:
            rows[c] = other[c]
    both = np.isfinite(pl) & np.isfinite(pc)
    p = np.where(both, np.minimum(1.0, 2 * np.fmin(pl, pc)), np.fmin(pl, pc))
    rows = rows.drop(columns=["_pl", "_pc"])
    rows["p_value"] = p
    rows["p_level"], rows["p_change"] = pl, pc
    rows["detector"] = detector
    return _signals.validate(rows.reset_index(drop=True))


def comparison_signals(
    records: pd.DataFrame,
    result: pd.DataFrame,
    *,
    grouping: str,
    journeys: pd.DataFrame | None = None,
    section: str = "",
    parents: Sequence[str] | None = None,
) -> pd.DataFrame:
    """Signals of a horizontal comparison and of the levels above it (:data:`PARENTS`).

    ``result`` is :func:`casework.analysis.casemix.horizontal` for ``grouping``; the parent
    levels are compared with the same period, indicators and options (``result.attrs``).
    Each frame's signals carry ``grouping`` and ``result_row``.
    """
    check_choice("grouping", grouping, list(GROUPING_ENTITY))
    frames = [funnel_signals(result, records, entity_type=GROUPING_ENTITY[grouping],
                             section=section, grouping=grouping)]
    attrs = result.attrs
    codes = list(dict.fromkeys(result["indicator"])) if len(result) else []
    for parent in (PARENTS[grouping] if parents is None else parents):
        if not codes:
            break
        res = horizontal(records, period=attrs["period"], by=grouping_keys(parent),
                         indicators=codes, journeys=journeys,
                         adjust=attrs.get("adjust", "case_mix"),
                         overdispersion=attrs.get("overdispersion", "additive"),
                         min_n=attrs.get("min_n", 20))
        frames.append(funnel_signals(res, records, entity_type=GROUPING_ENTITY[parent],
                                     section=section, grouping=parent))
    return _signals.concat(frames)
