"""Recurring case characteristics (多发性案件作案特点): how often, who, when, where, how much, how.

A *topic* is a set of charges (or a charge group) in a period and a set of units. Its cases
are compared with all other cases of the same period and units:

- **frequency and growth** (:func:`trend`): monthly counts with a Poisson log-linear trend, or
  a negative-binomial one when the counts are overdispersed; the rate ratio per year with its
  interval;
- **concentration** (:func:`concentration`): the top-N share of units, police stations, places;
- **who** (:func:`profile`): age bands, gender, education, occupation, household, recidivism,
  minors, co-offending and gangs — shares in the topic and among other cases with adjusted
  (standardised) residuals;
- **when** (:func:`timing`): month, weekday, hour of ``offence_at``;
- **where** (:func:`contrast` on ``place_type``; :func:`concentration` on police stations);
- **how much** (:func:`amounts`): amounts involved, median and quartiles, bands;
- **how** (:func:`modus_operandi`): distinctive words of the case summaries
  (:mod:`casework.analysis.text`) with example phrases;
- :func:`characteristics` runs them all; :func:`narrative` turns the result into Chinese
  sentences whose every number is computed.

Counting unit: persons (人), one row per person at one stage — 审查起诉 when the data have it,
else 判决 (judgment-only data), else 审查逮捕 (:func:`casework.analysis.topics.pick_stage`). The period
applies to ``accepted_on`` (受理); judgment-only data without dates are not filtered by period
and the result says so.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis.topics import recurring
>>> df = pd.DataFrame({"charge": ["盗窃", "盗窃", "诈骗", "危险驾驶"],
...                    "gender": ["male", "female", "male", "male"]})
>>> cases = recurring.topic_cases(df, charges="盗窃")
>>> int(cases["in_topic"].sum())
2
>>> p = recurring.profile(cases, dimensions=["gender"])
>>> p[["category_zh", "topic_n", "other_n"]].values.tolist()
[['男', 1, 2], ['女', 1, 0]]
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.model import schema
from casework.analysis import text
from casework.base.errors import check_choice
from casework.analysis.topics import (
    charge_lists,
    describe_topic,
    filter_units,
    in_period,
    normalise_charge,
    period_bounds,
    pick_stage,
    topic_mask,
)

#: Person dimensions of :func:`profile`: column -> Chinese name.
PROFILE_DIMENSIONS: dict[str, str] = {
    "age_band": "年龄",
    "gender": "性别",
    "education": "文化程度",
    "occupation": "职业",
    "household": "户籍",
    "recidivist": "累犯",
    "prior_record": "有前科",
    "minor": "未成年人",
    "co_offending": "共同犯罪",
    "gang": "团伙犯罪",
}

#: Age bands (upper bound exclusive) and their labels.
AGE_BANDS = ((18, "未满18岁"), (25, "18-24岁"), (35, "25-34岁"), (45, "35-44岁"),
             (60, "45-59岁"), (math.inf, "60岁以上"))

#: Amount bands (yuan, upper bound inclusive) and labels.
AMOUNT_BANDS = ((1_000, "1000元以下"), (10_000, "1000元至1万元"), (30_000, "1万至3万元"),
                (100_000, "3万至10万元"), (500_000, "10万至50万元"), (math.inf, "50万元以上"))

WEEKDAYS_ZH = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")

CONCENTRATION_DIMENSIONS: dict[str, str] = {
    "unit_name": "承办单位",
    "unit_code": "承办单位",
    "police_station": "派出所",
    "referring_agency": "移送机关",
    "place_type": "案发场所",
}

_BOOL_DIMS = ("recidivist", "prior_record", "minor", "co_offending", "gang")


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def topic_cases(
    data: pd.DataFrame,
    *,
    charges=None,
    charge_group=None,
    period=None,
    units=None,
    stage: str = "auto",
) -> pd.DataFrame:
    """Persons in scope (period, units, one stage), with ``in_topic`` marking the topic's.

    Parameters
    ----------
    data : DataFrame
        ``records``.
    charges, charge_group
        The topic (:func:`casework.analysis.topics.topic_mask`; any charge of a person counts).
    period : Period, code or (start, end), optional
        Applied to ``accepted_on``. Data without dates are kept whole and
        ``attrs["notes_zh"]`` says so.
    units : str or list, optional
        Unit codes; ``None`` or ``"all"`` for all units.
    stage : str
        ``"auto"`` (审查起诉, else 判决, else 审查逮捕) or a stage code.

    Returns
    -------
    DataFrame
        The rows of that stage in scope, plus ``in_topic`` (bool). ``attrs``: ``stage``,
        ``topic_zh``, ``notes_zh``, ``period_applied`` (False when the data have no dates).

    Examples
    --------
    >>> df = pd.DataFrame({"stage": ["arrest_review", "prosecution_review", "prosecution_review"],
    ...                    "charge": ["盗窃", "盗窃", "诈骗"],
    ...                    "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-09", "2024-02-01"])})
    >>> c = topic_cases(df, charges="盗窃", period="2024-01")
    >>> c["in_topic"].tolist(), c.attrs["stage"]
    ([True], 'prosecution_review')
    """
    notes: list[str] = []
    period_applied = period is not None
    df = filter_units(data, units)
    chosen = pick_stage(df, stage)
    if chosen is not None:
        df = df[df["stage"].astype("string") == chosen]
    if period is not None:
        if "accepted_on" in df.columns and df["accepted_on"].notna().any():
            df = df[in_period(df["accepted_on"], period)]
        else:
            period_applied = False
            notes.append("数据中没有受理日期，未按统计期间筛选，以下为全部数据")
    if charges is not None:
        wanted = [charges] if isinstance(charges, str) else list(charges)
        known = set(schema.CHARGES)
        present = set(charge_lists(data).explode().dropna()) if len(data) else set()
        for c in wanted:
            norm = normalise_charge(c)
            if norm and norm not in known and norm not in present:
                notes.append(f"罪名“{norm}”既不在罪名表中，也未出现在数据中，请检查拼写")
    df = df.copy()
    df["in_topic"] = topic_mask(df, charges=charges, charge_group=charge_group).to_numpy()
    df.attrs.update(stage=chosen, topic_zh=describe_topic(charges=charges, charge_group=charge_group),
                    notes_zh=notes, period_applied=period_applied)
    return df


def _has(df: pd.DataFrame, col: str) -> bool:
    return col in df.columns and bool(df[col].notna().any())


# ---------------------------------------------------------------------------------------------
# Frequency and growth
# ---------------------------------------------------------------------------------------------


def monthly_counts(
    data: pd.DataFrame,
    *,
    charges=None,
    charge_group=None,
    units=None,
    stage: str = "auto",
    start=None,
    end=None,
) -> pd.DataFrame:
    """Monthly persons accepted: the topic's and all persons', every month of the span.

    The span runs from ``start`` (default: first month in the data) to ``end`` (default: last);
    months without cases are present with 0.

    Returns
    -------
    DataFrame
        ``month`` (Timestamp, first day), ``t_years`` (years since the first month), ``n``
        (topic persons), ``all_n`` (all persons), ``share`` (n / all_n).

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃", "诈骗", "盗窃"],
    ...                    "accepted_on": pd.to_datetime(["2024-01-05", "2024-01-09", "2024-03-02"])})
    >>> monthly_counts(df, charges="盗窃")[["n", "all_n"]].values.tolist()
    [[1, 2], [0, 0], [1, 1]]
    """
    cases = topic_cases(data, charges=charges, charge_group=charge_group, units=units, stage=stage)
    cols = ["month", "t_years", "n", "all_n", "share"]
    if not _has(cases, "accepted_on"):
        return pd.DataFrame(columns=cols)
    months = pd.to_datetime(cases["accepted_on"]).dt.to_period("M")
    first = pd.Period(pd.Timestamp(start), "M") if start is not None else months.min()
    last = pd.Period(pd.Timestamp(end), "M") if end is not None else months.max()
    keep = (months >= first) & (months <= last)
    cases, months = cases[keep.fillna(False)], months[keep.fillna(False)]
    index = pd.period_range(first, last, freq="M")
    n = months[cases["in_topic"]].value_counts().reindex(index, fill_value=0)
    all_n = months.value_counts().reindex(index, fill_value=0)
    out = pd.DataFrame({
        "month": index.to_timestamp(),
        "t_years": np.arange(len(index)) / 12.0,
        "n": n.to_numpy().astype(int),
        "all_n": all_n.to_numpy().astype(int),
    })
    out["share"] = np.where(out["all_n"] > 0, out["n"] / out["all_n"].where(out["all_n"] > 0, 1), np.nan)
    return out


def _overdispersion(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Cameron–Trivedi test: regress ((y−μ)² − y)/μ on μ (no constant). Returns (α̂, one-sided p)."""
    aux = ((y - mu) ** 2 - y) / mu
    import statsmodels.api as sm

    res = sm.OLS(aux, mu).fit()
    alpha_hat = float(res.params[0])
    p = float(_st.t.sf(res.tvalues[0], res.df_resid))
    return alpha_hat, p


def trend(
    monthly: pd.DataFrame,
    *,
    alpha: float = 0.05,
    family: str = "auto",
) -> pd.DataFrame:
    """Log-linear trend of monthly counts: rate ratio per year with its interval.

    Fits ``log E[n_t] = a + b·t`` (t in years) by GLM, for the count and for the share of all
    persons (same model with offset ``log all_n``). With ``family="auto"`` a Poisson model is
    fitted first and a negative-binomial one (NB2, α̂ from the Cameron–Trivedi auxiliary
    regression) replaces it when the counts are overdispersed (one-sided p < 0.05 and α̂ > 0).

    Parameters
    ----------
    monthly : DataFrame
        Output of :func:`monthly_counts`.
    alpha : float
        1 − confidence level.
    family : str
        ``"auto"``, ``"poisson"`` or ``"negative_binomial"``.

    Returns
    -------
    DataFrame
        One row per ``measure`` (``count``, ``share``): ``measure, measure_zh, family,
        family_zh, term, estimate, std_err, ci_lower, ci_upper, p_value, rate_ratio,
        rate_ratio_ci_lower, rate_ratio_ci_upper, pearson_dispersion, nb_alpha,
        overdispersion_p, months, total, first_month, last_month``. ``estimate`` is the log rate
        ratio per year, ``intercept`` the fitted log count (or log share) of the first month.

    Notes
    -----
    A rate ratio of 1.25 means 25% more persons per year; its interval excluding 1 means the
    change is unlikely to be chance. The ``share`` row tells whether the topic grows faster
    than the caseload as a whole.

    Examples
    --------
    >>> m = pd.DataFrame({"t_years": [i / 12 for i in range(24)],
    ...                   "n": [10 + i for i in range(24)], "all_n": [100] * 24})
    >>> t = trend(m)
    >>> t.loc[0, "family"], round(float(t.loc[0, "rate_ratio"]), 2)
    ('poisson', 1.77)
    """
    import statsmodels.api as sm

    check_choice("family", family, ["auto", "poisson", "negative_binomial"])
    cols = ["measure", "measure_zh", "family", "family_zh", "term", "term_zh", "estimate", "std_err",
            "ci_lower", "ci_upper", "p_value", "intercept", "rate_ratio", "rate_ratio_ci_lower",
            "rate_ratio_ci_upper", "pearson_dispersion", "nb_alpha", "overdispersion_p",
            "months", "total", "first_month", "last_month"]
    if monthly.empty or len(monthly) < 3 or monthly["n"].sum() == 0:
        return pd.DataFrame(columns=cols)
    rows = []
    for measure, measure_zh in (("count", "人数"), ("share", "占全部案件比例")):
        m = monthly
        offset = None
        if measure == "share":
            m = monthly[monthly["all_n"] > 0]
            if len(m) < 3:
                continue
            offset = np.log(m["all_n"].to_numpy(dtype=float))
        y = m["n"].to_numpy(dtype=float)
        X = sm.add_constant(m["t_years"].to_numpy(dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pois = sm.GLM(y, X, family=sm.families.Poisson(), offset=offset).fit()
            mu = pois.mu
            dispersion = float(pois.pearson_chi2 / pois.df_resid) if pois.df_resid > 0 else float("nan")
            nb_alpha, od_p = _overdispersion(y, mu) if np.all(mu > 0) else (float("nan"), float("nan"))
            use_nb = family == "negative_binomial" or (
                family == "auto" and od_p < 0.05 and nb_alpha > 0)
            if use_nb:
                a = nb_alpha if nb_alpha > 0 else 1e-8
                res = sm.GLM(y, X, family=sm.families.NegativeBinomial(alpha=a), offset=offset).fit()
            else:
                res = pois
        ci = np.asarray(res.conf_int(alpha=alpha))[1]
        b, se, p = float(res.params[1]), float(res.bse[1]), float(res.pvalues[1])
        rows.append({
            "measure": measure, "measure_zh": measure_zh,
            "family": "negative_binomial" if use_nb else "poisson",
            "family_zh": "负二项回归" if use_nb else "泊松回归",
            "term": "year", "term_zh": "时间（每年）", "estimate": b, "std_err": se,
            "intercept": float(res.params[0]),
            "ci_lower": float(ci[0]), "ci_upper": float(ci[1]), "p_value": p,
            "rate_ratio": math.exp(b), "rate_ratio_ci_lower": math.exp(ci[0]),
            "rate_ratio_ci_upper": math.exp(ci[1]),
            "pearson_dispersion": dispersion,
            "nb_alpha": nb_alpha if use_nb else float("nan"),
            "overdispersion_p": od_p,
            "months": len(m), "total": int(m["n"].sum()),
            "first_month": m["month"].min() if "month" in m.columns else pd.NaT,
            "last_month": m["month"].max() if "month" in m.columns else pd.NaT,
        })
    return pd.DataFrame(rows, columns=cols)


# ---------------------------------------------------------------------------------------------
# Concentration
# ---------------------------------------------------------------------------------------------


def concentration(cases: pd.DataFrame, *, by: str = "unit_name", top: int = 5) -> pd.DataFrame:
    """The topic's persons by ``by`` (units, police stations, places), largest first.

    Returns
    -------
    DataFrame
        ``dimension, dimension_zh, rank, category, n, share, cumulative_share, all_n,
        topic_rate`` for the ``top`` largest groups; ``share`` = of the topic's persons with
        ``by`` recorded; ``topic_rate`` = the group's topic persons ÷ all its persons.
        ``attrs``: ``top_share`` (share of the ``top`` groups), ``groups``, ``hhi``
        (Herfindahl index of the shares, 1 = all in one group).

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False], "police_station": ["甲", "甲", "乙", "乙"]})
    >>> out = concentration(c, by="police_station", top=1)
    >>> out[["category", "n", "share"]].values.tolist(), out.attrs["groups"]
    ([['甲', 2, 0.6666666666666666]], 2)
    """
    check_choice("by", by, list(CONCENTRATION_DIMENSIONS))
    cols = ["dimension", "dimension_zh", "rank", "category", "n", "share", "cumulative_share",
            "all_n", "topic_rate"]
    if not _has(cases, by):
        out = pd.DataFrame(columns=cols)
        out.attrs.update(top_share=float("nan"), groups=0, hhi=float("nan"))
        return out
    topic = cases.loc[cases["in_topic"], by].dropna().astype(str)
    counts = topic.value_counts()
    counts = counts.sort_values(ascending=False, kind="stable")
    all_counts = cases[by].dropna().astype(str).value_counts()
    total = counts.sum()
    shares = counts / total if total else counts.astype(float)
    out = pd.DataFrame({
        "category": counts.index, "n": counts.to_numpy().astype(int),
        "share": shares.to_numpy(), "cumulative_share": shares.cumsum().to_numpy(),
        "all_n": all_counts.reindex(counts.index).to_numpy().astype(int),
    })
    out["topic_rate"] = out["n"] / out["all_n"]
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(0, "dimension_zh", CONCENTRATION_DIMENSIONS[by])
    out.insert(0, "dimension", by)
    head = out.head(top).reset_index(drop=True)
    head.attrs.update(top_share=float(shares.head(top).sum()) if total else float("nan"),
                      groups=int(len(counts)), hhi=float((shares ** 2).sum()) if total else float("nan"))
    return head[cols]


def concentration_summary(cases: pd.DataFrame, *, by=("unit_name", "police_station", "place_type"),
                          top: int = 5) -> pd.DataFrame:
    """One row per dimension: groups, the top-N share and the Herfindahl index.

    Returns
    -------
    DataFrame
        ``dimension, dimension_zh, groups, top_n, top_categories, top_share, hhi``.

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False], "police_station": ["甲", "甲", "乙", "乙"]})
    >>> concentration_summary(c, by=("police_station",), top=1)[["groups", "top_categories", "top_share"]].values.tolist()
    [[2, '甲', 0.6666666666666666]]
    """
    rows = []
    for dim in by:
        if not _has(cases, dim):
            continue
        c = concentration(cases, by=dim, top=top)
        if c.empty:
            continue
        rows.append({"dimension": dim, "dimension_zh": CONCENTRATION_DIMENSIONS[dim],
                     "groups": c.attrs["groups"], "top_n": min(top, c.attrs["groups"]),
                     "top_categories": "、".join(c["category"]), "top_share": c.attrs["top_share"],
                     "hhi": c.attrs["hhi"]})
    return pd.DataFrame(rows, columns=["dimension", "dimension_zh", "groups", "top_n",
                                       "top_categories", "top_share", "hhi"])


# ---------------------------------------------------------------------------------------------
# Contrasts: who, when, where, how much
# ---------------------------------------------------------------------------------------------


def age_band(age: pd.Series) -> pd.Series:
    """Age bands of :data:`AGE_BANDS`.

    Examples
    --------
    >>> age_band(pd.Series([16, 18, 59, 60, None])).tolist()
    ['未满18岁', '18-24岁', '45-59岁', '60岁以上', <NA>]
    """
    a = pd.to_numeric(age, errors="coerce")
    out = pd.Series(pd.NA, index=age.index, dtype="string")
    lower = -math.inf
    for upper, label in AGE_BANDS:
        out[(a >= lower) & (a < upper)] = label
        lower = upper
    return out


def _offence_times(cases: pd.DataFrame) -> pd.Series:
    if "offence_at" not in cases.columns:
        return pd.Series(pd.NaT, index=cases.index, dtype="datetime64[s]")
    return pd.to_datetime(cases["offence_at"])


def _categories(cases: pd.DataFrame, dimension: str) -> tuple[pd.Series, list[str]]:
    """The category (Chinese label) of each row for ``dimension`` and the display order."""
    if dimension == "age_band":
        age = cases["age"] if "age" in cases.columns else pd.Series(pd.NA, index=cases.index)
        return age_band(age), [label for _, label in AGE_BANDS]
    if dimension in _BOOL_DIMS:
        s = cases[dimension] if dimension in cases.columns else pd.Series(pd.NA, index=cases.index)
        s = s.astype("boolean")
        return s.map({True: "是", False: "否"}).astype("string"), ["是", "否"]
    if dimension == "month":
        dt = _offence_times(cases)
        return dt.dt.month.map(lambda m: f"{int(m)}月" if pd.notna(m) else pd.NA).astype("string"), \
            [f"{m}月" for m in range(1, 13)]
    if dimension == "weekday":
        dt = _offence_times(cases)
        return dt.dt.day_of_week.map(lambda d: WEEKDAYS_ZH[int(d)] if pd.notna(d) else pd.NA).astype("string"), \
            list(WEEKDAYS_ZH)
    if dimension == "hour":
        dt = _offence_times(cases)
        return dt.dt.hour.map(lambda h: f"{int(h):02d}时" if pd.notna(h) else pd.NA).astype("string"), \
            [f"{h:02d}时" for h in range(24)]
    if dimension == "amount_band":
        return amount_band(cases.get("amount_involved", pd.Series(pd.NA, index=cases.index))), \
            [label for _, label in AMOUNT_BANDS]
    s = cases[dimension] if dimension in cases.columns else pd.Series(pd.NA, index=cases.index)
    col = next((c for c in schema.RECORDS if c.name == dimension), None)
    if col is not None and col.codes and col.codes in schema.CODE_TABLES:
        table = schema.CODE_TABLES[col.codes]
        labels = s.astype("string").map(lambda v: table[v][0] if v in table else v)
        return labels.astype("string"), [zh for zh, _ in table.values()]
    s = s.astype("string")
    return s, list(s.dropna().value_counts().index)


_DIMENSION_ZH = {**PROFILE_DIMENSIONS, "month": "案发月份", "weekday": "案发星期",
                 "hour": "案发时段", "place_type": "案发场所", "amount_band": "涉案金额",
                 "police_station": "派出所", "unit_name": "承办单位"}


def contrast(cases: pd.DataFrame, dimension: str) -> pd.DataFrame:
    """The topic's persons against all other persons over the categories of one dimension.

    The adjusted (standardised) residual of each topic cell of the 2 × K table is
    ``(O − E) / √(E · (1 − row share) · (1 − column share))``; beyond ±1.96 the category is
    over- or under-represented in the topic at the 5% level (no correction for the number of
    categories — read the largest ones). Rows with the dimension missing are left out.

    Returns
    -------
    DataFrame
        ``dimension, dimension_zh, category_zh, topic_n, topic_share, other_n, other_share,
        difference, adj_residual, p_value``; ``difference`` in share points (topic − other).
        ``attrs``: ``chi2_p`` (χ² test of the whole table), ``missing`` (rows left out).
        Boolean dimensions keep only the 是 row.

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True] * 10 + [False] * 10,
    ...                   "gender": ["male"] * 9 + ["female"] + ["male"] * 5 + ["female"] * 5})
    >>> out = contrast(c, "gender")
    >>> out[["category_zh", "topic_n", "other_n"]].values.tolist()
    [['男', 9, 5], ['女', 1, 5]]
    >>> round(float(out["adj_residual"].iloc[0]), 2)
    1.95
    """
    cols = ["dimension", "dimension_zh", "category_zh", "topic_n", "topic_share", "other_n",
            "other_share", "difference", "adj_residual", "p_value"]
    cat, order = _categories(cases, dimension)
    known = cat.notna()
    t = cat[cases["in_topic"].to_numpy() & known.to_numpy()].value_counts()
    o = cat[~cases["in_topic"].to_numpy() & known.to_numpy()].value_counts()
    present = [c for c in order if c in t.index or c in o.index]
    present += [c for c in t.index.union(o.index) if c not in present]
    out = pd.DataFrame(columns=cols)
    out.attrs.update(chi2_p=float("nan"), missing=int((~known).sum()))
    if not present:
        return out
    tn = t.reindex(present, fill_value=0).to_numpy().astype(float)
    on = o.reindex(present, fill_value=0).to_numpy().astype(float)
    T, O = tn.sum(), on.sum()
    N = T + O
    col_tot = tn + on
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = T * col_tot / N
        var = expected * (1 - T / N) * (1 - col_tot / N)
        resid = np.where(var > 0, (tn - expected) / np.sqrt(var), np.nan)
        t_share = tn / T if T else np.full_like(tn, np.nan)
        o_share = on / O if O else np.full_like(on, np.nan)
    out = pd.DataFrame({
        "dimension": dimension, "dimension_zh": _DIMENSION_ZH.get(dimension, dimension),
        "category_zh": present, "topic_n": tn.astype(int), "topic_share": t_share,
        "other_n": on.astype(int), "other_share": o_share, "difference": t_share - o_share,
        "adj_residual": resid, "p_value": 2 * _st.norm.sf(np.abs(resid)),
    })
    chi2_p = float("nan")
    keep = col_tot > 0
    if T > 0 and O > 0 and keep.sum() >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chi2_p = float(_st.chi2_contingency(np.vstack([tn[keep], on[keep]]))[1])
    if dimension in _BOOL_DIMS:
        out = out[out["category_zh"] == "是"].reset_index(drop=True)
    out.attrs.update(chi2_p=chi2_p, missing=int((~known).sum()))
    return out


def profile(cases: pd.DataFrame, *, dimensions=None) -> pd.DataFrame:
    """Person profile of the topic against all other cases (:func:`contrast` per dimension).

    Parameters
    ----------
    dimensions : list of str, optional
        Keys of :data:`PROFILE_DIMENSIONS`; default all that the data hold.

    Returns
    -------
    DataFrame
        The :func:`contrast` columns plus ``chi2_p`` (per dimension), stacked.

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, False, False], "age": [17, 30, 40, 45],
    ...                   "minor": [True, False, False, False]})
    >>> profile(c)[["dimension", "category_zh", "topic_n", "other_n"]].values.tolist()
    [['age_band', '未满18岁', 1, 0], ['age_band', '25-34岁', 1, 0], ['age_band', '35-44岁', 0, 1], ['age_band', '45-59岁', 0, 1], ['minor', '是', 1, 0]]
    """
    dims = list(PROFILE_DIMENSIONS) if dimensions is None else list(dimensions)
    parts = []
    for d in dims:
        check_choice("dimension", d, list(PROFILE_DIMENSIONS))
        source = "age" if d == "age_band" else d
        if not _has(cases, source):
            continue
        c = contrast(cases, d)
        if not c.empty:
            parts.append(c.assign(chi2_p=c.attrs["chi2_p"]))
    if not parts:
        return pd.DataFrame(columns=["dimension", "dimension_zh", "category_zh", "topic_n",
                                     "topic_share", "other_n", "other_share", "difference",
                                     "adj_residual", "p_value", "chi2_p"])
    return pd.concat(parts, ignore_index=True)


def has_offence_times(cases: pd.DataFrame) -> bool:
    """True when ``offence_at`` holds times of day (not all midnight).

    Examples
    --------
    >>> has_offence_times(pd.DataFrame({"offence_at": pd.to_datetime(["2024-01-01 21:30"])}))
    True
    >>> has_offence_times(pd.DataFrame({"offence_at": pd.to_datetime(["2024-01-01"])}))
    False
    """
    if not _has(cases, "offence_at"):
        return False
    dt = pd.to_datetime(cases["offence_at"]).dropna()
    return bool(((dt.dt.hour != 0) | (dt.dt.minute != 0)).any())


def timing(cases: pd.DataFrame, *, by: str = "hour") -> pd.DataFrame:
    """When: the topic against other cases by month, weekday or hour of ``offence_at``.

    Returns
    -------
    DataFrame
        :func:`contrast` columns; empty when the data have no offence times (``hour``) or
        dates.

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, False],
    ...                   "offence_at": pd.to_datetime(["2024-01-06 21:10", "2024-01-08 09:00"])})
    >>> timing(c, by="weekday")[["category_zh", "topic_n", "other_n"]].values.tolist()
    [['星期一', 0, 1], ['星期六', 1, 0]]
    """
    check_choice("by", by, ["month", "weekday", "hour"])
    if not _has(cases, "offence_at") or (by == "hour" and not has_offence_times(cases)):
        return contrast(cases.iloc[0:0], by)
    return contrast(cases, by)


def amount_band(amount: pd.Series) -> pd.Series:
    """Amount bands of :data:`AMOUNT_BANDS` (missing or 0 amounts → missing).

    Examples
    --------
    >>> amount_band(pd.Series([500, 1000, 1001, 2e6, 0])).tolist()
    ['1000元以下', '1000元以下', '1000元至1万元', '50万元以上', <NA>]
    """
    a = pd.to_numeric(amount, errors="coerce")
    out = pd.Series(pd.NA, index=amount.index, dtype="string")
    lower = 0.0
    for upper, label in AMOUNT_BANDS:
        out[(a > lower) & (a <= upper)] = label
        lower = upper
    return out


def amounts(cases: pd.DataFrame) -> pd.DataFrame:
    """How much: amounts involved of the topic's persons and of the others.

    Returns
    -------
    DataFrame
        One row per ``group`` (``topic`` / ``other``): ``group, group_zh, persons, recorded,
        median, q1, q3, mean, max`` (yuan, over persons with an amount > 0).

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False], "amount_involved": [1000, 3000, None, 50]})
    >>> amounts(c)[["group", "recorded", "median"]].values.tolist()
    [['topic', 2, 2000.0], ['other', 1, 50.0]]
    """
    rows = []
    amount = pd.to_numeric(cases.get("amount_involved", pd.Series(np.nan, index=cases.index)),
                           errors="coerce").astype("float64")
    for group, zh, mask in (("topic", "本专题", cases["in_topic"]), ("other", "其他案件", ~cases["in_topic"])):
        a = amount[mask.to_numpy()]
        a = a[a > 0]
        rows.append({"group": group, "group_zh": zh, "persons": int(mask.sum()), "recorded": len(a),
                     "median": a.median() if len(a) else np.nan,
                     "q1": a.quantile(0.25) if len(a) else np.nan,
                     "q3": a.quantile(0.75) if len(a) else np.nan,
                     "mean": a.mean() if len(a) else np.nan,
                     "max": a.max() if len(a) else np.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# How: modus operandi
# ---------------------------------------------------------------------------------------------


def modus_operandi(cases: pd.DataFrame, *, top: int = 20, examples: int = 2,
                   level: str = "internal") -> pd.DataFrame:
    """How: distinctive words of the topic's case summaries, with example phrases.

    Case summaries are taken once per case (``dept_case_no``, else per row), segmented with
    :func:`casework.analysis.text.tokenize` and scored against the other cases' summaries by
    :func:`casework.analysis.text.distinctive_terms` (class-based TF–IDF).

    Parameters
    ----------
    top : int
        Number of terms.
    examples : int
        Example phrases per term (short snippets of the topic's summaries around the term).
    level : str
        ``internal`` or ``circulated``; case summaries are internal, so a circulated report
        gets the terms without example phrases.

    Returns
    -------
    DataFrame
        The :func:`casework.analysis.text.distinctive_terms` columns plus ``examples_zh`` (snippets
        joined by "；"; empty at the circulated level).

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, False],
    ...                   "case_summary": ["以刷单返利为名诱骗转账", "刷单返利诈骗", "入户盗窃手机"]})
    >>> modus_operandi(c, top=1)[["term", "topic_docs", "examples_zh"]].values.tolist()
    [['刷单返利', 2, '以刷单返利为名诱骗转账；刷单返利诈骗']]
    """
    check_choice("level", level, ["internal", "circulated"])
    if not _has(cases, "case_summary"):
        return text.distinctive_terms(pd.Series([], dtype="string"), pd.Series([], dtype=bool)
                                      ).assign(examples_zh=pd.Series(dtype="string"))
    docs = cases[["case_summary", "in_topic"]].copy()
    if "dept_case_no" in cases.columns and cases["dept_case_no"].notna().any():
        key = cases["dept_case_no"].astype("string").fillna(pd.Series(
            [f"_row{i}" for i in range(len(cases))], index=cases.index, dtype="string"))
        docs = docs.assign(_key=key.to_numpy()).drop_duplicates(["_key", "in_topic"]).drop(columns="_key")
    terms = text.distinctive_terms(docs["case_summary"], docs["in_topic"], top=top)
    topic_texts = docs.loc[docs["in_topic"].to_numpy(), "case_summary"].dropna().astype(str).tolist()
    if level == "internal" and examples > 0:
        terms["examples_zh"] = ["；".join(text.example_phrases(topic_texts, t, n=examples))
                                for t in terms["term"]]
    else:
        terms["examples_zh"] = ""
    return terms


def emerging_terms(
    data: pd.DataFrame,
    *,
    charges=None,
    charge_group=None,
    period=None,
    units=None,
    stage: str = "auto",
    top: int = 10,
    examples: int = 2,
    level: str = "internal",
) -> pd.DataFrame:
    """New modus operandi: words of the topic's summaries in ``period`` that were rare in the
    topic's earlier cases (all cases accepted before the period starts).

    Same scoring as :func:`modus_operandi`, with the topic's own earlier cases as the
    comparison, so the words that set the topic apart from other charges drop out and what
    changed within the topic remains.

    Returns
    -------
    DataFrame
        The :func:`modus_operandi` columns (``other_*`` = the topic's earlier cases); empty
        when there is no period, no dates, or no earlier case. ``attrs["skip_zh"]`` says why.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "prosecution_review", "charge": "诈骗",
    ...     "accepted_on": pd.to_datetime(["2023-05-01", "2023-06-01", "2024-02-01", "2024-03-01"]),
    ...     "case_summary": ["谎称办理贷款", "谎称办理贷款", "冒充客服诱导转账", "冒充客服退款"]})
    >>> emerging_terms(df, charges="诈骗", period="2024", top=1)["term"].tolist()
    ['冒充客服']
    """
    check_choice("level", level, ["internal", "circulated"])
    empty = modus_operandi(pd.DataFrame({"in_topic": pd.Series([], dtype=bool)}), level=level)
    bounds = period_bounds(period)
    if bounds is None or not _has(data, "accepted_on"):
        empty.attrs["skip_zh"] = "数据中没有受理日期或未指定统计期间，无法比较前后作案手段"
        return empty
    cases = topic_cases(data, charges=charges, charge_group=charge_group, units=units, stage=stage)
    cases = cases[cases["in_topic"]]
    accepted = pd.to_datetime(cases["accepted_on"]).dt.normalize()
    recent = in_period(cases["accepted_on"], period)
    earlier = (accepted < bounds[0].normalize()).fillna(False)
    if not earlier.any() or not recent.any():
        empty.attrs["skip_zh"] = "统计期间之前没有本专题案件，无法比较前后作案手段"
        return empty
    sub = cases[(recent | earlier).to_numpy()].copy()
    sub["in_topic"] = recent[(recent | earlier)].to_numpy()
    return modus_operandi(sub, top=top, examples=examples, level=level)


# ---------------------------------------------------------------------------------------------
# Everything at once, and the narrative
# ---------------------------------------------------------------------------------------------


@dataclass
class Characteristics:
    """Result of :func:`characteristics`: every table of the recurring-case analysis.

    ``skipped`` maps a section (``trend``, ``units``, ``profile``, ``timing``, ``hours``,
    ``places``, ``stations``, ``amounts``, ``modus_operandi``, ``emerging``) to the one-line
    Chinese reason it has no data.

    Examples
    --------
    >>> "keywords" in Characteristics.__dataclass_fields__
    True
    """

    topic_zh: str
    period_zh: str
    stage: str | None
    persons: int
    all_persons: int
    monthly: pd.DataFrame
    trend: pd.DataFrame
    concentration: pd.DataFrame
    units: pd.DataFrame
    stations: pd.DataFrame
    profile: pd.DataFrame
    months: pd.DataFrame
    weekdays: pd.DataFrame
    hours: pd.DataFrame
    places: pd.DataFrame
    amounts: pd.DataFrame
    amount_bands: pd.DataFrame
    keywords: pd.DataFrame
    emerging: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes_zh: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)

    def skip_reason(self, section: str) -> str | None:
        """The reason ``section`` has no data, or ``None``."""
        return self.skipped.get(section)


def characteristics(
    data: pd.DataFrame,
    *,
    charges=None,
    charge_group=None,
    period=None,
    units=None,
    stage: str = "auto",
    top: int = 5,
    terms: int = 20,
    examples: int = 2,
    level: str = "internal",
    trend_start=None,
) -> Characteristics:
    """Run the whole recurring-case analysis for one topic.

    The trend uses every month from ``trend_start`` (default: the first month of the data) to
    the end of ``period`` (default: the last month of the data); all other sections use the
    period.

    Returns
    -------
    Characteristics

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃"]],
    ...                    "case_summary": ["入户盗窃手机", "冒充客服骗取钱款", "入户盗窃现金"]})
    >>> r = characteristics(df, charges="盗窃")
    >>> r.persons, r.all_persons, r.skip_reason("trend")
    (2, 3, '数据中没有受理日期，无法分析月度趋势')
    """
    cases = topic_cases(data, charges=charges, charge_group=charge_group, period=period,
                        units=units, stage=stage)
    bounds = period_bounds(period)
    skipped: dict[str, str] = {}
    notes = list(cases.attrs.get("notes_zh", []))
    persons = int(cases["in_topic"].sum())
    if persons == 0:
        skipped["all"] = "所选期间和单位内没有本专题案件"
    monthly = monthly_counts(data, charges=charges, charge_group=charge_group, units=units,
                             stage=stage, start=trend_start,
                             end=bounds[1] if bounds and _has(data, "accepted_on") else None)
    tr = trend(monthly)
    if monthly.empty:
        skipped["trend"] = "数据中没有受理日期，无法分析月度趋势"
    elif tr.empty:
        skipped["trend"] = "月份或案件过少，无法估计趋势"
    units_c = concentration(cases, by="unit_name" if _has(cases, "unit_name") else "unit_code", top=top)
    if units_c.empty or units_c.attrs["groups"] < 2:
        skipped["units"] = "只有一个承办单位或没有单位信息，不分析单位集中度"
    stations = concentration(cases, by="police_station", top=top)
    if stations.empty:
        skipped["stations"] = "数据中没有派出所信息，本节从略"
    prof = profile(cases)
    if prof.empty:
        skipped["profile"] = "数据中没有人员信息（年龄、性别等），本节从略"
    months_t = timing(cases, by="month")
    weekdays = timing(cases, by="weekday")
    hours = timing(cases, by="hour")
    if months_t.empty:
        skipped["timing"] = "数据中没有案发时间，本节从略"
    elif hours.empty:
        skipped["hours"] = "案发时间未记录到小时，不分析时段"
    places = contrast(cases, "place_type") if _has(cases, "place_type") else pd.DataFrame()
    if places.empty:
        skipped["places"] = "数据中没有案发场所信息，本节从略"
    am = amounts(cases)
    bands = contrast(cases, "amount_band")
    if am.loc[0, "recorded"] == 0:
        skipped["amounts"] = "本专题案件没有记录涉案金额，本节从略"
    kw = modus_operandi(cases, top=terms, examples=examples, level=level)
    if kw.empty:
        skipped["modus_operandi"] = "数据中没有案情摘要，或本专题案件过少，无法提取作案手段"
    new = emerging_terms(data, charges=charges, charge_group=charge_group, period=period,
                         units=units, stage=stage, top=terms, examples=examples, level=level)
    if new.empty:
        skipped["emerging"] = new.attrs.get("skip_zh") or "与此前相比没有明显新出现的作案手段词语"
    concentration_all = concentration_summary(cases, top=top,
                                              by=("unit_name" if _has(cases, "unit_name") else "unit_code",
                                                  "police_station", "place_type"))
    period_zh = getattr(period, "label_zh", None)
    if period_zh is None and period is not None:
        try:
            from casework.analysis import periods

            period_zh = periods.parse(str(period)).label_zh
        except Exception:  # a (start, end) pair
            period_zh = str(period)
    period_zh = period_zh or "全部期间"
    if not cases.attrs.get("period_applied"):
        period_zh = "全部期间"
    return Characteristics(
        topic_zh=cases.attrs.get("topic_zh", ""), period_zh=period_zh, stage=cases.attrs.get("stage"),
        persons=persons, all_persons=len(cases), monthly=monthly, trend=tr,
        concentration=concentration_all, units=units_c, stations=stations, profile=prof,
        months=months_t, weekdays=weekdays, hours=hours, places=places, amounts=am,
        amount_bands=bands, keywords=kw, emerging=new, notes_zh=notes, skipped=skipped,
    )


#: Fewest topic persons (or cases) behind a characteristic the narrative states.
MIN_CLAIM_N = 5


def _top_over(table: pd.DataFrame, k: int = 3, z: float = 1.96) -> pd.DataFrame:
    if table is None or table.empty:
        return table if table is not None else pd.DataFrame()
    over = table[(table["adj_residual"] >= z) & (table["topic_n"] >= MIN_CLAIM_N)]
    return over.sort_values("adj_residual", ascending=False).head(k)


def narrative(result: Characteristics, *, z: float = 1.96) -> list[str]:
    """Chinese sentences of the characteristics; every number comes from ``result``.

    Only contrasts whose adjusted residual exceeds ``z`` and that rest on at least
    :data:`MIN_CLAIM_N` topic persons are described as 较高 (higher than among other cases); a
    trend is called 上升 or 下降 only when its interval excludes 1; keywords are named when
    found in at least :data:`MIN_CLAIM_N` topic cases (emerging ones also at least twice as
    often as before).

    Returns
    -------
    list of str

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃"]]})
    >>> narrative(characteristics(df, charges="盗窃"))[0]
    '全部期间，盗窃案件共2人，占同期全部案件人数（3人）的66.7%。'
    """
    r = result
    out: list[str] = [f"说明：{n}。" for n in r.notes_zh]
    if r.persons == 0:
        return out + [f"{r.period_zh}，所选单位没有{r.topic_zh}案件。"]
    share = r.persons / r.all_persons if r.all_persons else float("nan")
    out.append(f"{r.period_zh}，{r.topic_zh}案件共{r.persons:,}人，占同期全部案件人数"
               f"（{r.all_persons:,}人）的{share:.1%}。")
    if not r.trend.empty:
        t = r.trend.iloc[0]
        lo, hi, rr = t["rate_ratio_ci_lower"], t["rate_ratio_ci_upper"], t["rate_ratio"]
        span = (f"{pd.Timestamp(t['first_month']):%Y年%-m月}至{pd.Timestamp(t['last_month']):%Y年%-m月}"
                if pd.notna(t["first_month"]) else f"{int(t['months'])}个月")
        if lo > 1 or hi < 1:
            word = "上升" if rr > 1 else "下降"
            out.append(f"{span}月度人数呈{word}趋势：{t['family_zh']}估计年率比为{rr:.2f}"
                       f"（95%置信区间{lo:.2f}至{hi:.2f}），即每年约{word}{abs(rr - 1):.0%}。")
        else:
            out.append(f"{span}月度人数无明显趋势：{t['family_zh']}估计年率比为{rr:.2f}"
                       f"（95%置信区间{lo:.2f}至{hi:.2f}，包含1）。")
        if len(r.trend) > 1:
            s = r.trend.iloc[1]
            if s["rate_ratio_ci_lower"] > 1 or s["rate_ratio_ci_upper"] < 1:
                word = "上升" if s["rate_ratio"] > 1 else "下降"
                out.append(f"其占全部案件的比例同样{word}，年率比{s['rate_ratio']:.2f}"
                           f"（95%置信区间{s['rate_ratio_ci_lower']:.2f}至{s['rate_ratio_ci_upper']:.2f}）。")
    for table, what in ((r.units, "承办单位"), (r.stations, "派出所")):
        if table is not None and not table.empty and table.attrs.get("groups", 0) > 1:
            k = len(table)
            out.append(f"从{what}看，案件分布在{table.attrs['groups']}个{what}，前{k}个"
                       f"（{'、'.join(table['category'])}）合计占{table.attrs['top_share']:.1%}。")
    over = _top_over(r.profile, k=4, z=z)
    if over is not None and not over.empty:
        parts = [f"{_phrase(row)}（{row.topic_share:.1%}，其他案件{row.other_share:.1%}）"
                 for row in over.itertuples()]
        out.append("与其他案件相比，本专题人员中" + "、".join(parts) + "的比例较高。")
    for table, what in ((r.hours, "时段"), (r.weekdays, "星期"), (r.places, "场所")):
        top = _top_over(table, k=3, z=z)
        if top is not None and not top.empty:
            parts = [f"{row.category_zh}（{row.topic_share:.1%}，其他案件{row.other_share:.1%}）"
                     for row in top.itertuples()]
            out.append(f"案发{what}相对集中于" + "、".join(parts) + "。")
    a = r.amounts
    if not a.empty and a.loc[0, "recorded"] > 0:
        row = a.iloc[0]
        out.append(f"记录涉案金额的{int(row['recorded']):,}人中，金额中位数{row['median']:,.0f}元，"
                   f"四分位数间距{row['q1']:,.0f}元至{row['q3']:,.0f}元。")
    if not r.keywords.empty:
        k = r.keywords[r.keywords["topic_docs"] >= MIN_CLAIM_N].head(5)
    if not r.keywords.empty and not k.empty:
        parts = [f"“{row.term}”（见于{row.topic_doc_share:.1%}的本专题案件，其他案件{row.other_doc_share:.1%}）"
                 for row in k.itertuples()]
        out.append("案情摘要中最具特征的作案手段词语为" + "、".join(parts) + "。")
    new = r.emerging if r.emerging is not None else pd.DataFrame()
    if not new.empty:
        new = new[(new["topic_docs"] >= MIN_CLAIM_N) & (new["lift"] >= 2)]
    if not new.empty:
        k = new.head(3)
        parts = [f"“{row.term}”（本期{row.topic_doc_share:.1%}，此前{row.other_doc_share:.1%}）"
                 for row in k.itertuples()]
        out.append("与此前的同类案件相比，本期新出现或明显增多的词语有" + "、".join(parts) + "。")
    return out


def _phrase(row) -> str:
    if row.dimension in _BOOL_DIMS:
        return PROFILE_DIMENSIONS[row.dimension]
    return f"{row.dimension_zh}为{row.category_zh}"


def shares_long(table: pd.DataFrame) -> pd.DataFrame:
    """A :func:`contrast` table in long form for a chart: ``category_zh, label, group_zh, share``.

    ``label`` is the category without a trailing unit (``21时`` → ``21``) for crowded axes.

    Examples
    --------
    >>> t = pd.DataFrame({"category_zh": ["21时"], "topic_share": [0.9], "other_share": [0.5]})
    >>> shares_long(t).values.tolist()
    [['21时', '21', '本专题', 0.9], ['21时', '21', '其他案件', 0.5]]
    """
    rows = []
    for r in table.itertuples():
        label = str(r.category_zh).removesuffix("时")
        rows.append((r.category_zh, label, "本专题", r.topic_share))
        rows.append((r.category_zh, label, "其他案件", r.other_share))
    return pd.DataFrame(rows, columns=["category_zh", "label", "group_zh", "share"])


def trend_lines(monthly: pd.DataFrame, trend_table: pd.DataFrame) -> pd.DataFrame:
    """Monthly counts and the fitted trend in long form for a chart.

    Returns
    -------
    DataFrame
        ``month, series_zh, n``: ``实际人数`` and ``趋势拟合（<model>）`` rows per month.

    Examples
    --------
    >>> m = pd.DataFrame({"month": pd.date_range("2024-01-01", periods=2, freq="MS"),
    ...                   "t_years": [0, 1 / 12], "n": [10, 12], "all_n": [100, 100]})
    >>> t = pd.DataFrame({"measure": ["count"], "family_zh": ["泊松回归"], "intercept": [np.log(10)],
    ...                   "estimate": [np.log(2)]})
    >>> out = trend_lines(m, t)
    >>> out["series_zh"].unique().tolist(), round(float(out["n"].iloc[-1]), 3)
    (['实际人数', '趋势拟合（泊松回归）'], 10.595)
    """
    actual = monthly[["month", "n"]].assign(series_zh="实际人数")
    if trend_table.empty:
        return actual[["month", "series_zh", "n"]]
    row = trend_table[trend_table["measure"] == "count"].iloc[0]
    fitted = monthly[["month"]].assign(
        series_zh=f"趋势拟合（{row['family_zh']}）",
        n=np.exp(row["intercept"] + row["estimate"] * monthly["t_years"].astype(float)))
    return pd.concat([actual, fitted], ignore_index=True)[["month", "series_zh", "n"]]



def prompts(result: Characteristics, *, z: float = 1.96) -> list[str]:
    """Prompts for 原因分析 and 对策建议, computed from the findings, for the analyst to complete.

    Returns
    -------
    list of str
        Each names a finding (with its number) and the question it raises.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["诈骗"], ["盗窃"]]})
    >>> prompts(characteristics(df, charges="盗窃"))
    ['未发现明显的集中或异常特征，请结合办案实践补充分析。']
    """
    r = result
    out: list[str] = []
    if not r.trend.empty:
        t = r.trend.iloc[0]
        if t["rate_ratio_ci_lower"] > 1:
            out.append(f"案件数量每年约增长{t['rate_ratio'] - 1:.0%}：请结合同期打击整治部署、"
                       "侦查机关移送力度和社会面发案情况分析增长原因。")
    if (r.stations is not None and not r.stations.empty and r.stations.attrs.get("groups", 0) > 1
            and r.stations.iloc[0]["n"] >= MIN_CLAIM_N):
        first = r.stations.iloc[0]
        out.append(f"{first['category']}辖区案件占{first['share']:.1%}：可考虑与该派出所通报情况、"
                   "召开联席会议，共同研究防范措施。")
    over = _top_over(r.profile, k=2, z=z)
    if over is not None and not over.empty:
        who = "、".join(_phrase(row) for row in over.itertuples())
        out.append(f"{who}的人员比例明显偏高：请分析其成因，并研究有针对性的预防和教育措施。")
    if not r.keywords.empty and (r.keywords["topic_docs"] >= MIN_CLAIM_N).any():
        words = "、".join(f"“{w}”" for w in
                         r.keywords.loc[r.keywords["topic_docs"] >= MIN_CLAIM_N, "term"].head(3))
        out.append(f"作案手段以{words}等为特征：可结合典型案例开展以案释法和风险提示。")
    if not out:
        out.append("未发现明显的集中或异常特征，请结合办案实践补充分析。")
    return out


#: Display labels of this module's columns (``page.table(..., labels=recurring.LABELS)``).
LABELS: dict[str, str] = {
    "measure_zh": "口径", "family_zh": "模型", "rate_ratio": "年率比",
    "rate_ratio_ci_lower": "95%区间下限", "rate_ratio_ci_upper": "95%区间上限",
    "pearson_dispersion": "离散度（Pearson）", "nb_alpha": "负二项α", "overdispersion_p": "过度离散检验P值",
    "months": "月数", "total": "人数合计", "first_month": "起始月", "last_month": "截止月",
    "dimension_zh": "维度", "category": "类别", "category_zh": "类别", "rank": "位次",
    "cumulative_share": "累计占比", "all_n": "全部案件人数", "topic_rate": "本专题占该类别比例",
    "groups": "类别数", "top_n": "前N位", "top_categories": "前N位名称", "top_share": "前N位合计占比",
    "hhi": "赫芬达尔指数",
    "topic_n": "本专题人数", "topic_share": "本专题占比", "other_n": "其他案件人数",
    "other_share": "其他案件占比", "difference": "占比差", "adj_residual": "调整残差",
    "chi2_p": "卡方检验P值",
    "group_zh": "组别", "persons": "人数", "recorded": "有金额记录人数", "median": "中位数（元）",
    "q1": "下四分位数（元）", "q3": "上四分位数（元）", "mean": "平均数（元）", "max": "最大值（元）",
    "term": "词语", "topic_docs": "本专题案件数", "topic_doc_share": "本专题案件占比",
    "other_docs": "其他案件数", "other_doc_share": "其他案件占比", "lift": "提升度",
    "tf": "词频", "idf": "逆文档频率", "score": "TF-IDF得分", "examples_zh": "示例短语",
    "month": "月份", "t_years": "时间（年）", "n": "本专题人数", "share": "占比",
    "intercept": "截距（对数）", "series_zh": "序列", "label": "标签", "term_zh": "自变量",
}

#: Display formats of this module's columns (``page.table(..., formats=recurring.FORMATS)``).
FORMATS: dict[str, str] = {
    "rate_ratio": "{:.2f}", "rate_ratio_ci_lower": "{:.2f}", "rate_ratio_ci_upper": "{:.2f}",
    "estimate": "{:.3f}", "std_err": "{:.3f}", "ci_lower": "{:.3f}", "ci_upper": "{:.3f}",
    "p_value": "{:.4f}", "overdispersion_p": "{:.4f}", "chi2_p": "{:.4f}",
    "pearson_dispersion": "{:.2f}", "nb_alpha": "{:.3f}",
    "share": "{:.1%}", "cumulative_share": "{:.1%}", "topic_rate": "{:.1%}", "top_share": "{:.1%}",
    "hhi": "{:.3f}", "topic_share": "{:.1%}", "other_share": "{:.1%}", "difference": "{:+.1%}",
    "adj_residual": "{:+.2f}", "topic_doc_share": "{:.1%}", "other_doc_share": "{:.1%}",
    "lift": "{:.1f}", "tf": "{:.4f}", "idf": "{:.2f}", "score": "{:.4f}",
    "median": "{:,.0f}", "q1": "{:,.0f}", "q3": "{:,.0f}", "mean": "{:,.0f}", "max": "{:,.0f}",
}

#: Labels for :func:`emerging_terms` (the comparison is the topic's earlier cases).
EMERGING_LABELS: dict[str, str] = {
    **LABELS, "topic_docs": "本期案件数", "topic_doc_share": "本期案件占比",
    "other_docs": "此前案件数", "other_doc_share": "此前案件占比",
}
