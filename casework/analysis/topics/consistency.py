"""Sentencing consistency (量刑一致性) and outlying sentences (偏离较大的判决): how the terms of
one charge differ between courts (or units), and which sentences lie far from their charge's
median (robust z on the log term).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import signals as _signals
from casework.analysis.topics import charge_lists, explode_charges
from casework.analysis.topics.sentencing import CUSTODIAL_TERMS, has_data, judgments
from casework.base.errors import check_choice

__all__ = ["term_spread", "consistency", "outlying_sentences", "outlier_summary",
           "consistency_signals"]


def _custodial_terms(data: pd.DataFrame, *, explode: bool) -> pd.DataFrame:
    df = data if "band" in data.columns else judgments(data)
    if explode:
        df = explode_charges(df)
    df = df[df["principal_penalty"].isin(CUSTODIAL_TERMS) & (df["term_months"] > 0)]
    return df.assign(log_term=np.log(df["term_months"].astype(float)))


def _mad(x: pd.Series) -> float:
    return float((x - x.median()).abs().median()) if len(x) else float("nan")


def term_spread(data: pd.DataFrame, *, across: str = "unit_code", min_n: int = 5) -> pd.DataFrame:
    """Terms of 拘役/有期徒刑 for each charge × ``across`` group (groups with ≥ ``min_n``).

    Returns
    -------
    DataFrame
        ``charge, <across>, n, median, q1, q3, iqr, mad`` (months).

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 4, "unit_code": ["a", "a", "b", "b"],
    ...     "principal_penalty": ["fixed_term"] * 4, "term_months": [6.0, 8.0, 12.0, 20.0]})
    >>> term_spread(df, min_n=2)[["unit_code", "median", "iqr"]].values.tolist()
    [['a', 7.0, 1.0], ['b', 16.0, 4.0]]
    """
    check_choice("across", across, ["unit_code", "unit_name", "court"])
    df = _custodial_terms(data, explode=True)
    cols = ["charge", across, "n", "median", "q1", "q3", "iqr", "mad"]
    if not has_data(df, across):
        return pd.DataFrame(columns=cols)
    rows = []
    for (c, g), sub in df.groupby(["charge", across], dropna=True, sort=True):
        t = sub["term_months"]
        if len(t) < min_n:
            continue
        q1, q3 = t.quantile(0.25), t.quantile(0.75)
        rows.append((c, g, len(t), t.median(), q1, q3, q3 - q1, _mad(t)))
    return pd.DataFrame(rows, columns=cols)


def consistency(data: pd.DataFrame, *, across: str = "unit_code", min_n: int = 5) -> pd.DataFrame:
    """Consistency of terms for the same charge across units or courts (同罪不同罚).

    For each charge with at least two ``across`` groups of ≥ ``min_n`` persons: the overall
    median, IQR and MAD; the range of group medians; a Kruskal–Wallis test (do typical terms
    differ between groups?) and a Fligner–Killeen test (does the spread differ?), both on log
    terms.

    Returns
    -------
    DataFrame
        ``charge, groups, n, median, iqr, mad, group_median_min, group_median_max,
        group_median_ratio, kruskal_p, fligner_p``.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term",
    ...                    "court": ["甲"] * 5 + ["乙"] * 5,
    ...                    "term_months": [6.0, 7, 8, 6, 7, 12, 14, 13, 12, 15]})
    >>> row = consistency(df, across="court").iloc[0]
    >>> (int(row["groups"]), float(row["group_median_min"]), float(row["group_median_max"]),
    ...  bool(row["kruskal_p"] < 0.05))
    (2, 7.0, 13.0, True)
    """
    check_choice("across", across, ["unit_code", "unit_name", "court"])
    df = _custodial_terms(data, explode=True)
    cols = ["charge", "groups", "n", "median", "iqr", "mad", "group_median_min",
            "group_median_max", "group_median_ratio", "kruskal_p", "fligner_p"]
    if not has_data(df, across):
        return pd.DataFrame(columns=cols)
    rows = []
    for c, sub in df.groupby("charge", sort=True):
        kept = [g for _, g in sub.groupby(across) if len(g) >= min_n]
        if len(kept) < 2:
            continue
        groups = [g["log_term"].to_numpy() for g in kept]
        used = np.concatenate(groups)
        terms = np.concatenate([g["term_months"].to_numpy(dtype=float) for g in kept])
        medians = [float(np.median(g["term_months"].to_numpy(dtype=float))) for g in kept]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                kp = float(_st.kruskal(*groups).pvalue)
            except ValueError:
                kp = float("nan")
            try:
                fp = float(_st.fligner(*groups).pvalue)
            except ValueError:
                fp = float("nan")
        q1, q3 = np.quantile(terms, [0.25, 0.75])
        rows.append((c, len(groups), len(used), float(np.median(terms)), q3 - q1,
                     _mad(pd.Series(terms)), min(medians), max(medians),
                     max(medians) / min(medians), kp, fp))
    return pd.DataFrame(rows, columns=cols)


def outlying_sentences(data: pd.DataFrame, *, threshold: float = 3.5,
                       min_n: int = 10) -> pd.DataFrame:
    """Sentences far from others for the same charge (robust z of the log term).

    ``robust_z = 0.6745 × (log term − median) / MAD`` within the person's charge (the
    Iglewicz–Hoaglin modified z; when MAD is 0 the mean absolute deviation × 1.2533 is used).
    Charges with fewer than ``min_n`` persons are not screened.

    Only persons with a single charge are screened: a multi-charge person's term is a combined
    sentence (数罪并罚), comparable with no single charge's terms, and the order of charges in
    a judgment has no legal meaning. ``attrs["multi_charge"]`` is the number of such persons
    left out of the screen and ``attrs["notes_zh"]`` says so.

    Returns
    -------
    DataFrame
        ``unit_code, unit_name, court, dept_case_no, person_id, charge, principal_penalty,
        term_months, charge_n, charge_median, robust_z, direction_zh`` (偏重 / 偏轻), sorted by
        |robust_z| descending. Case numbers are internal: reports show this list only at the
        internal level.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 12, "principal_penalty": ["fixed_term"] * 12,
    ...                    "term_months": [6.0, 7, 8, 6, 7, 8, 6, 7, 8, 7, 7, 96]})
    >>> out = outlying_sentences(df)
    >>> out[["term_months", "direction_zh"]].values.tolist()
    [[96.0, '偏重']]
    """
    df = _custodial_terms(data, explode=False)
    n_charges = charge_lists(df).map(len)
    multi, none = int((n_charges > 1).sum()), int((n_charges == 0).sum())
    df = df[(n_charges == 1).to_numpy()]
    keep = ["unit_code", "unit_name", "court", "dept_case_no", "person_id", "charge",
            "principal_penalty", "term_months"]
    cols = keep + ["charge_n", "charge_median", "robust_z", "direction_zh"]
    rows = []
    for _, sub in df.groupby("charge", sort=True):
        if len(sub) < min_n:
            continue
        x = sub["log_term"]
        med = x.median()
        mad = _mad(x)
        if mad > 0:
            z = 0.6745 * (x - med) / mad
        else:
            meanad = float((x - med).abs().mean())
            if meanad == 0:
                continue
            z = (x - med) / (1.2533 * meanad)
        hit = sub[z.abs() >= threshold].copy()
        if hit.empty:
            continue
        hit["charge_n"] = len(sub)
        hit["charge_median"] = float(sub["term_months"].median())
        hit["robust_z"] = z[z.abs() >= threshold]
        rows.append(hit)
    notes = ([f"被判处多个罪名（数罪并罚）的{multi}人不参与按罪名的偏离筛查（其刑期为决定执行的"
              "总和刑期，不能与单一罪名的刑期比较）"] if multi else [])
    notes += [f"没有罪名的{none}人不参与按罪名的偏离筛查"] if none else []
    if not rows:
        out = pd.DataFrame(columns=cols)
        out.attrs.update(multi_charge=multi, notes_zh=notes)
        return out
    out = pd.concat(rows)
    for k in keep:
        if k not in out.columns:
            out[k] = pd.NA
    out["direction_zh"] = np.where(out["robust_z"] > 0, "偏重", "偏轻")
    out = out.assign(_abs=out["robust_z"].abs()).sort_values("_abs", ascending=False)
    out = out[cols].reset_index(drop=True)
    out.attrs.update(multi_charge=multi, notes_zh=notes)
    return out


def outlier_summary(outliers: pd.DataFrame) -> pd.DataFrame:
    """Outlying sentences counted per charge and direction (an aggregate for the report; the
    list itself goes to an internal attachment).

    Returns
    -------
    DataFrame
        ``charge, charge_n, charge_median, heavier, lighter`` (persons).

    Examples
    --------
    >>> o = pd.DataFrame({"charge": ["盗窃", "盗窃"], "charge_n": [12, 12], "charge_median": [7.0,
    ...                                                                                   7.0],
    ...                   "robust_z": [4.0, -3.6]})
    >>> outlier_summary(o).values.tolist()
    [['盗窃', 12, 7.0, 1, 1]]
    """
    cols = ["charge", "charge_n", "charge_median", "heavier", "lighter"]
    if outliers.empty:
        return pd.DataFrame(columns=cols)
    g = outliers.assign(heavier=outliers["robust_z"] > 0, lighter=outliers["robust_z"] < 0)
    out = g.groupby("charge", sort=True).agg(charge_n=("charge_n", "first"),
                                             charge_median=("charge_median", "first"),
                                             heavier=("heavier", "sum"),
                                             lighter=("lighter", "sum"))
    return out.reset_index()[cols].astype({"heavier": int, "lighter": int})


#: Detector name, indicator code and Chinese name of the consistency signals.
DETECTOR = "sentence_consistency"
INDICATOR, INDICATOR_NAME = "term_median_ratio", "各组刑期中位数最大与最小之比"

_ACROSS_ZH = {"court": "法院", "unit_code": "承办单位", "unit_name": "承办单位"}


def consistency_signals(table: pd.DataFrame, *, across: str = "court",
                        section: str = "consistency") -> pd.DataFrame:
    """The consistency tests of :func:`consistency` as signals (one per charge tested).

    The p-value of a charge is the smaller of its Kruskal–Wallis (typical level) and
    Fligner–Killeen (spread) p-values, Šidák-adjusted for the two
    (:func:`casework.analysis.signals.search_adjusted`); ``latest_value`` is the ratio of the
    largest to the smallest group median, ``baseline`` 1 (every group alike).

    Examples
    --------
    >>> t = pd.DataFrame({"charge": ["盗窃"], "groups": [2], "n": [10], "group_median_min": [7.0],
    ...                   "group_median_max": [13.0], "group_median_ratio": [13 / 7],
    ...                   "kruskal_p": [0.004], "fligner_p": [0.6]})
    >>> s = consistency_signals(t)
    >>> s[["entity_id", "entity_name"]].values.tolist(), round(float(s["p_value"].iloc[0]), 4)
    ([['charge/盗窃', '盗窃']], 0.008)
    """
    if table is None or not len(table):
        return _signals.empty()
    rows = []
    who = _ACROSS_ZH.get(across, across)
    for r in table.itertuples():
        ps = [p for p in (r.kruskal_p, r.fligner_p) if pd.notna(p)]
        p = _signals.search_adjusted(min(ps), len(ps)) if ps else np.nan
        ratio = float(r.group_median_ratio) if pd.notna(r.group_median_ratio) else np.nan
        rows.append({
            "detector": DETECTOR, "section": section, "entity_type": "charge",
            "indicator": INDICATOR, "indicator_name": f"各{who}{INDICATOR_NAME[2:]}",
            "direction": "unfavourable" if ratio > 1 else "neutral", "p_value": p,
            "latest_value": ratio, "baseline": 1.0, "effect": ratio - 1, "n": float(r.n),
            "kind": "ratio", "baseline_zh": "各组一致时", "charge": r.charge,
            "method": ("量刑一致性：同一罪名各组刑期的Kruskal-Wallis检验（典型水平）与"
                       "Fligner-Killeen检验（离散程度），取较小者按两项作Šidák校正"),
        })
    out = pd.DataFrame(rows)
    lab = _signals.entity_labels(out[["charge"]], "charge")
    out["entity_id"], out["entity_name"] = lab["entity_id"], lab["entity_name"]
    return _signals.frame(out.drop(columns=["charge"]).to_dict("records"))
