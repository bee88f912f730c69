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
- **how** (:func:`casework.analysis.topics.modus.modus_operandi`, re-exported here):
  distinctive words of the case summaries (:mod:`casework.analysis.text`) with example phrases;
- :func:`characteristics` runs them all; :func:`casework.present.recurring_text.narrative`
  turns the result into Chinese sentences whose every number is computed.

Counting unit: persons (人), one row per person at one stage — 审查起诉 when the data have it,
else 判决 (judgment-only data), else 审查逮捕 (:func:`casework.analysis.topics.pick_stage`).
The period applies to ``accepted_on`` (受理); judgment-only data without dates are not filtered
by period and the result says so.

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

from casework.analysis import charge_trends, periods, topics
from casework.analysis import signals as _signals
from casework.analysis.topics import charge_lists, has_values, period_bounds, topic_cases
from casework.analysis.topics.modus import emerging_terms, modus_operandi
from casework.base.errors import ParameterError, check_choice
from casework.model import schema

__all__ = [
    "PROFILE_DIMENSIONS", "BOOL_DIMENSIONS", "AGE_BANDS", "AMOUNT_BANDS", "WEEKDAYS_ZH",
    "topic_cases", "monthly_counts", "trend", "concentration", "concentration_summary",
    "age_band", "contrast", "profile", "has_offence_times", "timing", "amount_band", "amounts",
    "modus_operandi", "emerging_terms", "Characteristics", "characteristics",
]

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

def charges_present(cases: pd.DataFrame, top: int = 10) -> pd.Series:
    """Persons per charge among ``cases`` (any charge of a person counts), most first.

    Examples
    --------
    >>> charges_present(pd.DataFrame({"charges": [["盗窃"], ["盗窃", "诈骗"]]})).to_dict()
    {'盗窃': 2, '诈骗': 1}
    """
    if not len(cases):
        return pd.Series(dtype="int64")
    counts = charge_lists(cases).explode().dropna().value_counts()
    return counts.sort_values(ascending=False, kind="stable").head(top).astype("int64")


def _no_persons(cases: pd.DataFrame) -> ParameterError:
    topic = cases.attrs.get("topic_zh") or "本专题"
    present = charges_present(cases)
    notes = "；".join(cases.attrs.get("notes_zh", []))
    listed = "、".join(f"{c}（{n:,}人）" for c, n in present.items())
    hint = (f"本期有案件的罪名：{listed}" if listed
            else "所选期间和单位内没有任何案件，请检查统计期间和单位")
    return ParameterError(
        f"所选期间和单位内没有{topic}案件（0人），无法生成专题报告"
        + (f"（{notes}）" if notes else ""),
        f"no person of the topic {topic} in the period and units: nothing to report",
        hint=hint + " / charges present in the period")


#: Yes/no person dimensions (a contrast shows only their 是 row).
BOOL_DIMENSIONS = ("recidivist", "prior_record", "minor", "co_offending", "gang")


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
    ...                    "accepted_on": pd.to_datetime(["2024-01-05", "2024-01-09",
    ...                                                   "2024-03-02"])})
    >>> monthly_counts(df, charges="盗窃")[["n", "all_n"]].values.tolist()
    [[1, 2], [0, 0], [1, 1]]
    """
    cases = topic_cases(data, charges=charges, charge_group=charge_group, units=units, stage=stage)
    cols = ["month", "t_years", "n", "all_n", "share"]
    if not has_values(cases, "accepted_on"):
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
    out["share"] = np.where(out["all_n"] > 0, out["n"] / out["all_n"].where(out["all_n"] > 0, 1),
                            np.nan)
    return out


def _overdispersion(y: np.ndarray, mu: np.ndarray) -> tuple[float, float]:
    """Cameron–Trivedi test: regress ((y−μ)² − y)/μ on μ (no constant).

    Returns (α̂, one-sided p)."""
    aux = ((y - mu) ** 2 - y) / mu
    from statsmodels.regression.linear_model import OLS  # heavy: only when a model is fitted

    res = OLS(aux, mu).fit()
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
    # heavy, only when a model is fitted; these parts import twice as fast as statsmodels.api
    from statsmodels.genmod.generalized_linear_model import GLM, families
    from statsmodels.tools.tools import add_constant  # heavy: as above

    check_choice("family", family, ["auto", "poisson", "negative_binomial"])
    cols = ["measure", "measure_zh", "family", "family_zh", "term", "term_zh", "estimate",
            "std_err",
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
        X = add_constant(m["t_years"].to_numpy(dtype=float))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pois = GLM(y, X, family=families.Poisson(), offset=offset).fit()
            mu = pois.mu
            dispersion = (float(pois.pearson_chi2 / pois.df_resid) if pois.df_resid > 0
                          else float("nan"))
            nb_alpha, od_p = (_overdispersion(y, mu) if np.all(mu > 0)
                              else (float("nan"), float("nan")))
            use_nb = family == "negative_binomial" or (
                family == "auto" and od_p < 0.05 and nb_alpha > 0)
            if use_nb:
                a = nb_alpha if nb_alpha > 0 else 1e-8
                res = GLM(y, X, family=families.NegativeBinomial(alpha=a),
                          offset=offset).fit()
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


def station_names(cases: pd.DataFrame) -> pd.Series:
    """Each row's police station by its full name (移送机关 + 派出所, as
    :func:`casework.analysis.signals.entity_labels` names a station); missing where the row
    has no station. A station is never identified by its bare name.

    Examples
    --------
    >>> c = pd.DataFrame({"referring_agency": ["江州市公安局青山分局", None],
    ...                   "police_station": ["和平派出所", None]})
    >>> station_names(c).tolist()
    ['江州市公安局青山分局和平派出所', <NA>]
    """
    if "police_station" not in cases.columns:
        return pd.Series(pd.NA, index=cases.index, dtype="string")
    st = cases["police_station"].astype("string").str.strip()
    full = _signals.entity_labels(cases, "station")["entity_name"].astype("string")
    return full.where(st.notna() & (st != ""), pd.NA)


def concentration(cases: pd.DataFrame, *, by: str = "unit_name", top: int = 5) -> pd.DataFrame:
    """The topic's persons by ``by`` (units, police stations, places), largest first.

    Police stations are always told apart by their investigating agency and shown by their
    full name (:func:`station_names`): the 和平派出所 of two bureaus are two stations.

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
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False],
    ...                   "referring_agency": ["甲分局", "甲分局", "乙分局", "乙分局"],
    ...                   "police_station": ["和平派出所"] * 4})
    >>> out = concentration(c, by="police_station", top=1)
    >>> out[["category", "n", "share"]].values.tolist(), out.attrs["groups"]
    ([['甲分局和平派出所', 2, 0.6666666666666666]], 2)
    """
    check_choice("by", by, list(CONCENTRATION_DIMENSIONS))
    cols = ["dimension", "dimension_zh", "rank", "category", "n", "share", "cumulative_share",
            "all_n", "topic_rate"]
    if not has_values(cases, by):
        out = pd.DataFrame(columns=cols)
        out.attrs.update(top_share=float("nan"), groups=0, hhi=float("nan"))
        return out
    values = station_names(cases) if by == "police_station" else cases[by]
    topic = values[cases["in_topic"].to_numpy()].dropna().astype(str)
    counts = topic.value_counts()
    counts = counts.sort_values(ascending=False, kind="stable")
    all_counts = values.dropna().astype(str).value_counts()
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
                      groups=int(len(counts)),
                      hhi=float((shares ** 2).sum()) if total else float("nan"))
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
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False], "place_type": ["甲", "甲",
    ...                                                                         "乙", "乙"]})
    >>> s = concentration_summary(c, by=("place_type",), top=1)
    >>> s[["groups", "top_categories", "top_share"]].values.tolist()
    [[2, '甲', 0.6666666666666666]]
    """
    rows = []
    for dim in by:
        if not has_values(cases, dim):
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
    if dimension in BOOL_DIMENSIONS:
        s = cases[dimension] if dimension in cases.columns else pd.Series(pd.NA, index=cases.index)
        s = s.astype("boolean")
        return s.map({True: "是", False: "否"}).astype("string"), ["是", "否"]
    if dimension == "month":
        dt = _offence_times(cases)
        labels = dt.dt.month.map(lambda m: f"{int(m)}月" if pd.notna(m) else pd.NA)
        return labels.astype("string"), [f"{m}月" for m in range(1, 13)]
    if dimension == "weekday":
        dt = _offence_times(cases)
        labels = dt.dt.day_of_week.map(lambda d: WEEKDAYS_ZH[int(d)] if pd.notna(d) else pd.NA)
        return labels.astype("string"), list(WEEKDAYS_ZH)
    if dimension == "hour":
        dt = _offence_times(cases)
        labels = dt.dt.hour.map(lambda h: f"{int(h):02d}时" if pd.notna(h) else pd.NA)
        return labels.astype("string"), [f"{h:02d}时" for h in range(24)]
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
    n_topic, n_other = tn.sum(), on.sum()
    N = n_topic + n_other
    col_tot = tn + on
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = n_topic * col_tot / N
        var = expected * (1 - n_topic / N) * (1 - col_tot / N)
        resid = np.where(var > 0, (tn - expected) / np.sqrt(var), np.nan)
        t_share = tn / n_topic if n_topic else np.full_like(tn, np.nan)
        o_share = on / n_other if n_other else np.full_like(on, np.nan)
    out = pd.DataFrame({
        "dimension": dimension, "dimension_zh": _DIMENSION_ZH.get(dimension, dimension),
        "category_zh": present, "topic_n": tn.astype(int), "topic_share": t_share,
        "other_n": on.astype(int), "other_share": o_share, "difference": t_share - o_share,
        "adj_residual": resid, "p_value": 2 * _st.norm.sf(np.abs(resid)),
    })
    chi2_p = float("nan")
    keep = col_tot > 0
    if n_topic > 0 and n_other > 0 and keep.sum() >= 2:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            chi2_p = float(_st.chi2_contingency(np.vstack([tn[keep], on[keep]]))[1])
    if dimension in BOOL_DIMENSIONS:
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
    >>> rows = profile(c)[["dimension", "category_zh", "topic_n", "other_n"]].values.tolist()
    >>> rows  # doctest: +NORMALIZE_WHITESPACE
    [['age_band', '未满18岁', 1, 0], ['age_band', '25-34岁', 1, 0], ['age_band', '35-44岁', 0, 1],
     ['age_band', '45-59岁', 0, 1], ['minor', '是', 1, 0]]
    """
    dims = list(PROFILE_DIMENSIONS) if dimensions is None else list(dimensions)
    parts = []
    for d in dims:
        check_choice("dimension", d, list(PROFILE_DIMENSIONS))
        source = "age" if d == "age_band" else d
        if not has_values(cases, source):
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
    if not has_values(cases, "offence_at"):
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
    if not has_values(cases, "offence_at") or (by == "hour" and not has_offence_times(cases)):
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
    >>> c = pd.DataFrame({"in_topic": [True, True, True, False], "amount_involved": [1000, 3000,
    ...                                                                              None, 50]})
    >>> amounts(c)[["group", "recorded", "median"]].values.tolist()
    [['topic', 2, 2000.0], ['other', 1, 50.0]]
    """
    rows = []
    amount = pd.to_numeric(cases.get("amount_involved", pd.Series(np.nan, index=cases.index)),
                           errors="coerce").astype("float64")
    for group, zh, mask in (("topic", "本专题", cases["in_topic"]),
                            ("other", "其他案件", ~cases["in_topic"])):
        a = amount[mask.to_numpy()]
        a = a[a > 0]
        rows.append({"group": group, "group_zh": zh, "persons": int(mask.sum()),
                     "recorded": len(a),
                     "median": a.median() if len(a) else np.nan,
                     "q1": a.quantile(0.25) if len(a) else np.nan,
                     "q3": a.quantile(0.75) if len(a) else np.nan,
                     "mean": a.mean() if len(a) else np.nan,
                     "max": a.max() if len(a) else np.nan})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# Everything at once
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
    allow_empty: bool = False,
) -> Characteristics:
    """Run the whole recurring-case analysis for one topic.

    The trend uses every month from ``trend_start`` (default: the first month of the data) to
    the end of ``period`` (default: the last month of the data); all other sections use the
    period.

    Parameters
    ----------
    allow_empty : bool
        Return a result for a topic without any person in scope (``skipped["all"]``) instead
        of raising.

    Returns
    -------
    Characteristics

    Raises
    ------
    ParameterError
        No person of the topic in the period, units and stage (unless ``allow_empty``): a
        report on nobody is no report. The hint lists the charges that are present, with
        their persons, so the user can choose.

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
        if not allow_empty:
            raise _no_persons(cases)
        skipped["all"] = "所选期间和单位内没有本专题案件"
    monthly = monthly_counts(data, charges=charges, charge_group=charge_group, units=units,
                             stage=stage, start=trend_start,
                             end=bounds[1] if bounds and has_values(data, "accepted_on") else None)
    tr = trend(monthly)
    if monthly.empty:
        skipped["trend"] = "数据中没有受理日期，无法分析月度趋势"
    elif tr.empty:
        skipped["trend"] = "月份或案件过少，无法估计趋势"
    unit_col = "unit_name" if has_values(cases, "unit_name") else "unit_code"
    units_c = concentration(cases, by=unit_col, top=top)
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
    places = contrast(cases, "place_type") if has_values(cases, "place_type") else pd.DataFrame()
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
    concentration_all = concentration_summary(
        cases, top=top, by=(unit_col, "police_station", "place_type"))
    period_zh = getattr(period, "label_zh", None)
    if period_zh is None and period is not None:
        try:
            period_zh = periods.parse(str(period)).label_zh
        except Exception:  # a (start, end) pair
            period_zh = str(period)
    period_zh = period_zh or "全部期间"
    if not cases.attrs.get("period_applied"):
        period_zh = "全部期间"
    return Characteristics(
        topic_zh=cases.attrs.get("topic_zh", ""), period_zh=period_zh,
        stage=cases.attrs.get("stage"),
        persons=persons, all_persons=len(cases), monthly=monthly, trend=tr,
        concentration=concentration_all, units=units_c, stations=stations, profile=prof,
        months=months_t, weekdays=weekdays, hours=hours, places=places, amounts=am,
        amount_bands=bands, keywords=kw, emerging=new, notes_zh=notes, skipped=skipped,
    )



#: At most this many rising charges make an automatic topic.
MAX_AUTO_CHARGES = 3


def choose_charges(records: pd.DataFrame, *, period, last_month=None,
                   max_charges: int = MAX_AUTO_CHARGES) -> pd.DataFrame:
    """The charges a recurring-case report studies when no charge is given: the charges rising
    in ``period`` (:func:`casework.analysis.charge_trends.rising_charges`, error-controlled,
    strongest first, at most ``max_charges``), else the 多发 charge with the most cases.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table.
    period : str or Period
        The report period.
    last_month : str or Period, optional
        Last month with data (trailing months without data are left out of the trends).
    max_charges : int
        Most rising charges taken.

    Returns
    -------
    DataFrame
        The chosen rows of :func:`casework.analysis.charge_trends.rising_charges` (``charge``,
        ``reason``, ``cases``, ``change``, ``share``, ``start_month`` …) plus ``chosen``
        (``"rising"`` or ``"frequent"``: why it was taken). ``attrs["rising"]``: how many
        charges were rising, ``attrs["candidates"]``: the whole list.

    Raises
    ------
    ParameterError
        No charge has any case in the period.

    Examples
    --------
    >>> rng = np.random.default_rng(5)
    >>> rows = []
    >>> for i, m in enumerate(pd.period_range("2022-01", periods=36, freq="M")):
    ...     for charge, lam in (("盗窃", 60 * 1.08 ** max(0, i - 23.5)), ("危险驾驶", 120)):
    ...         rows += [{"charge": charge, "unit_code": "U1",
    ...                   "unified_case_no": f"{charge}{i}-{j}",
    ...                   "dept_case_no": f"{charge}{i}-{j}", "accepted_on": m.start_time}
    ...                  for j in range(rng.poisson(lam))]
    >>> choose_charges(pd.DataFrame(rows), period="2024-Q4")[["charge", "chosen"]].values.tolist()
    [['盗窃', 'rising']]
    """
    if not has_values(records, "accepted_on") and len(topics.most_frequent_charge(records)):
        return topics.most_frequent_charge(records)  # undated data (a corpus): no trend
    rc = charge_trends.rising_charges(records, period=period, last_month=last_month)
    if rc.empty or not (rc["cases"].fillna(0) > 0).any():
        raise ParameterError("所选期间内没有任何罪名的新受理案件，无法自动选取专题罪名",
                             "no charge has any new case in the period: cannot choose a topic",
                             hint="请检查统计期间，或用 charges 参数指定罪名 / check the period "
                                  "or give charges")
    rising = rc[rc["rising"].astype(bool)]
    if len(rising):
        out = rising.head(max_charges).assign(chosen="rising")
    else:
        frequent = rc[rc["frequent"].astype(bool)].sort_values("rank", kind="stable")
        out = frequent.head(1).assign(chosen="frequent")
    out = out.reset_index(drop=True)
    out.attrs.update(rising=int(len(rising)), candidates=rc)
    return out
