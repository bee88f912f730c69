"""Sentencing outcomes (判决情况 / 量刑): penalty mix, 缓刑, 罚金, 轻罪, recommendations, models.

Works on case-card data (judgment items on the 审查起诉 row, as the unified system keeps them)
and on judgment-only corpora (``stage == "judgment"``, no dates, no recommendations).

Counting rules
--------------
- A person is counted once per matter: rows with judgment items are de-duplicated on
  ``(unified_case_no, person_id)`` where both are known, the ``judgment`` row preferred.
- Per-charge tables use the per-charge view (:func:`casework.analysis.topics.explode_charges`): a person
  with several charges counts once for each of them; the 合计 row counts each person once.
- Charge names are normalised (:func:`casework.analysis.topics.normalise_charge`): the corpus spelling
  ``[走私、贩卖、运输、制造]毒品`` matches ``走私、贩卖、运输、制造毒品``.

Deriving the principal penalty (judgment-only data)
---------------------------------------------------
Judgment corpora give months of imprisonment plus death / life flags, not a penalty type. Where
``principal_penalty`` is missing, :func:`derive_principal_penalty` fills it, in this order:
``death_penalty`` true → 死刑; ``life_imprisonment`` true → 无期徒刑; ``term_months`` ≥ 6 →
有期徒刑; 0 < ``term_months`` < 6 → 拘役 (6 months is both the 拘役 maximum and the 有期徒刑
minimum; such rows are read as 有期徒刑); ``term_months`` = 0 with a fine → 单处罚金. Anything
else stays unknown (未知). Derived rows are flagged in ``penalty_derived``.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis.topics import sentencing
>>> df = pd.DataFrame({
...     "person_id": ["1", "2", "3", "4"],
...     "charges": [["盗窃"], ["盗窃", "诈骗"], ["[走私、贩卖、运输、制造]毒品"], ["盗窃"]],
...     "principal_penalty": ["fixed_term", "criminal_detention", None, "fixed_term"],
...     "term_months": [8.0, 4.0, None, 40.0],
...     "death_penalty": [False, False, True, False],
... })
>>> mix = sentencing.penalty_mix(df)
>>> mix[mix["charge"] == "盗窃"][["band", "n"]].values.tolist()
[['criminal_detention', 1], ['fixed_term_le1', 1], ['fixed_term_3_10', 1]]
>>> mix[mix["charge"] == "走私、贩卖、运输、制造毒品"]["band"].tolist()
['death']
>>> sentencing.minor_offence_share(df, by=None)[["numerator", "denominator"]].values.tolist()
[[2, 4]]
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.model import schema
from casework.base.errors import check_choice
from casework.analysis.stats import wilson_interval
from casework.analysis.topics import (
    explode_charges,
    filter_units,
    in_period,
    normalise_charge,
    topic_mask,
)

# ---------------------------------------------------------------------------------------------
# Penalty bands
# ---------------------------------------------------------------------------------------------

#: Penalty bands of the mix table, in display order: code -> label_zh.
PENALTY_BANDS: dict[str, str] = {
    "public_surveillance": "管制",
    "criminal_detention": "拘役",
    "fixed_term_le1": "有期徒刑一年以下",
    "fixed_term_1_3": "有期徒刑一年以上三年以下",
    "fixed_term_3_10": "有期徒刑三年以上十年以下",
    "fixed_term_gt10": "有期徒刑十年以上",
    "fixed_term_unknown": "有期徒刑（刑期未填）",
    "life": "无期徒刑",
    "death": "死刑",
    "fine_only": "单处罚金",
    "exempted": "免予刑事处罚",
    "acquitted": "无罪",
    "unknown": "未知",
}

#: Fine bands (yuan): (upper bound inclusive, label_zh).
FINE_BANDS = (
    (1_000, "1000元以下"),
    (5_000, "1000元以上5000元以下"),
    (10_000, "5000元以上1万元以下"),
    (50_000, "1万元以上5万元以下"),
    (100_000, "5万元以上10万元以下"),
    (math.inf, "10万元以上"),
)

CUSTODIAL_TERMS = ("criminal_detention", "fixed_term")
_LIGHT = ("public_surveillance", "criminal_detention", "fine_only", "exempted")

#: Covariates of the models: column -> Chinese label.
COVARIATES: dict[str, str] = {
    "plea_leniency": "认罪认罚",
    "recidivist": "累犯",
    "surrender": "自首",
    "minor": "未成年人",
    "log_amount": "涉案金额（对数）",
}

OTHER_CHARGE = "其他罪名"


def band_of(penalty, term_months) -> str:
    """Penalty band of one judgment (see :data:`PENALTY_BANDS`).

    有期徒刑 bands: ≤12 months, 12–36, 36–120, >120 (upper bounds inclusive).

    Examples
    --------
    >>> band_of("fixed_term", 12), band_of("fixed_term", 36.5), band_of("fixed_term", 121)
    ('fixed_term_le1', 'fixed_term_3_10', 'fixed_term_gt10')
    >>> band_of(None, None)
    'unknown'
    """
    if penalty is None or penalty is pd.NA or (isinstance(penalty, float) and penalty != penalty):
        return "unknown"
    if penalty != "fixed_term":
        return penalty if penalty in PENALTY_BANDS else "unknown"
    if term_months is None or term_months is pd.NA or pd.isna(term_months):
        return "fixed_term_unknown"
    t = float(term_months)
    if t <= 12:
        return "fixed_term_le1"
    if t <= 36:
        return "fixed_term_1_3"
    if t <= 120:
        return "fixed_term_3_10"
    return "fixed_term_gt10"


def _bool(s: pd.Series) -> pd.Series:
    """A nullable boolean from bool-ish values (True/False, 1/0, 是/否, strings)."""
    if s.dtype == "boolean":
        return s
    mapping = {"true": True, "1": True, "是": True, "yes": True, "y": True,
               "false": False, "0": False, "否": False, "no": False, "n": False}
    def conv(v):
        if v is None or v is pd.NA or (isinstance(v, float) and v != v):
            return pd.NA
        if isinstance(v, (bool, np.bool_)):
            return bool(v)
        if isinstance(v, (int, float, np.integer, np.floating)):
            return bool(v)
        return mapping.get(str(v).strip().lower(), pd.NA)
    return pd.Series([conv(v) for v in s], index=s.index, dtype="boolean")


def _col(data: pd.DataFrame, name: str, dtype: str | None = None) -> pd.Series:
    if name in data.columns:
        s = data[name]
    else:
        s = pd.Series(pd.NA, index=data.index, dtype="object")
    if dtype == "float":
        return pd.to_numeric(s, errors="coerce").astype("float64")
    if dtype == "bool":
        return _bool(s)
    if dtype == "string":
        return s.astype("string")
    return s


def has_data(data: pd.DataFrame, column: str) -> bool:
    """True when ``column`` exists and holds at least one value.

    Examples
    --------
    >>> has_data(pd.DataFrame({"a": [None, 1]}), "a"), has_data(pd.DataFrame({"a": [None]}), "a")
    (True, False)
    """
    return column in data.columns and bool(data[column].notna().any())


# ---------------------------------------------------------------------------------------------
# Selection
# ---------------------------------------------------------------------------------------------


def derive_principal_penalty(data: pd.DataFrame) -> pd.DataFrame:
    """Fill missing ``principal_penalty`` from death/life flags, ``term_months`` and ``fine``.

    Rules in the module notes; adds ``penalty_derived`` (True where filled here). Given
    penalties are never changed.

    Examples
    --------
    >>> df = pd.DataFrame({"principal_penalty": [None, None, None, None, "exempted"],
    ...                    "term_months": [0, 18, 3, 0, None], "fine": [2000, None, None, None, None],
    ...                    "life_imprisonment": [False, False, False, True, False]})
    >>> derive_principal_penalty(df)["principal_penalty"].tolist()
    ['fine_only', 'fixed_term', 'criminal_detention', 'life', 'exempted']
    """
    out = data.copy()
    given = _col(out, "principal_penalty", "string")
    term = _col(out, "term_months", "float")
    fine = _col(out, "fine", "float")
    death = _col(out, "death_penalty", "bool").fillna(False).astype(bool)
    life = _col(out, "life_imprisonment", "bool").fillna(False).astype(bool)
    derived = pd.Series(pd.NA, index=out.index, dtype="string")
    derived[(fine > 0) & (term.fillna(0) == 0)] = "fine_only"
    derived[(term > 0) & (term < 6)] = "criminal_detention"
    derived[term >= 6] = "fixed_term"
    derived[life] = "life"
    derived[death] = "death"
    fill = given.isna() & derived.notna()
    out["principal_penalty"] = given.where(~fill, derived)
    out["penalty_derived"] = fill.to_numpy()
    if "term_months" in out.columns:
        # death / life rows carry no fixed term (corpora write 0 there)
        out["term_months"] = term.where(~out["principal_penalty"].isin(["death", "life"]))
    return out


def judgments(
    data: pd.DataFrame,
    *,
    period=None,
    units=None,
    charges=None,
    charge_group=None,
) -> pd.DataFrame:
    """Rows with a judgment, one per person and matter, in scope.

    Parameters
    ----------
    data : DataFrame
        ``records`` (any stages) or a judgment-only import.
    period : Period, code or (start, end), optional
        Filters on ``judgment_on`` (else ``closed_on``). Data without any such date are not
        filtered; ``attrs["notes_zh"]`` says so.
    units : str or list, optional
        Unit codes (``"all"`` or ``None``: all units).
    charges, charge_group : optional
        Topic restriction (:func:`casework.analysis.topics.topic_mask`).

    Returns
    -------
    DataFrame
        The selected rows with ``principal_penalty`` derived where missing, a normalised
        ``charge`` (the first charge) and ``band`` (:data:`PENALTY_BANDS`).
        ``attrs["notes_zh"]`` lists what could not be applied.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": ["arrest_review", "prosecution_review", "prosecution_review"],
    ...     "unified_case_no": ["u1", "u1", "u2"], "person_id": ["p", "p", "q"],
    ...     "charge": ["盗窃", "盗窃罪", "诈骗"], "principal_penalty": [None, "fixed_term", None],
    ...     "term_months": [None, 10.0, None]})
    >>> j = judgments(df)
    >>> j[["charge", "band"]].values.tolist()
    [['盗窃', 'fixed_term_le1']]
    """
    notes: list[str] = []
    df = derive_principal_penalty(filter_units(data, units))
    df = df[df["principal_penalty"].notna()]
    if "stage" in df.columns and "unified_case_no" in df.columns and "person_id" in df.columns:
        rank = df["stage"].map({"judgment": 0, "prosecution_review": 1, "arrest_review": 2}).fillna(3)
        keyed = df["unified_case_no"].notna() & df["person_id"].notna()
        order = df.assign(_rank=rank.to_numpy()).sort_values("_rank", kind="stable")
        dup = order[keyed.reindex(order.index)].duplicated(["unified_case_no", "person_id"])
        df = order.drop(index=dup[dup].index).drop(columns="_rank").sort_index()
    if period is not None:
        date_col = next((c for c in ("judgment_on", "closed_on") if has_data(df, c)), None)
        if date_col is None:
            notes.append("数据中没有判决日期或审结日期，未按统计期间筛选")
        else:
            df = df[in_period(df[date_col], period)]
    if charges is not None or charge_group is not None:
        df = df[topic_mask(df, charges=charges, charge_group=charge_group)]
    df = df.copy()
    lists = explode_charges(df.assign(_row=np.arange(len(df)))).groupby("_row")["charge"].first()
    df["charge"] = lists.reindex(np.arange(len(df))).to_numpy()
    df["charge"] = df["charge"].astype("string")
    term = _col(df, "term_months", "float")
    df["term_months"] = term
    df["band"] = [band_of(p, t) for p, t in zip(df["principal_penalty"], term)]
    df.attrs["notes_zh"] = notes
    return df


def _per_charge(df: pd.DataFrame, by) -> pd.DataFrame:
    if by == "charge":
        return explode_charges(df)
    return df


def _keys(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def _check_by(by):
    for key in _keys(by):
        check_choice("by", key, ["charge", "charge_group", "unit_code", "unit_name", "court",
                                 "plea_leniency", "year"])


def _prepare(data: pd.DataFrame, by) -> pd.DataFrame:
    df = data if "band" in data.columns else judgments(data)
    if "year" in _keys(by):
        date = _col(df, "judgment_on")
        df = df.assign(year=pd.to_datetime(date).dt.year.astype("Int64"))
    if "plea_leniency" in _keys(by):
        df = df.assign(plea_leniency=_col(df, "plea_leniency", "bool"))
    if "charge" in _keys(by):
        df = explode_charges(df)
    return df


def _with_total(df: pd.DataFrame, per: pd.DataFrame, by, fn, total: bool) -> pd.DataFrame:
    keys = _keys(by)
    if not keys:
        return fn(df).assign(**{})
    parts = [fn(g).assign(**dict(zip(keys, k if isinstance(k, tuple) else (k,))))
             for k, g in per.groupby(keys, dropna=True, sort=True)]
    if total:
        parts.append(fn(df).assign(**{k: "合计" for k in keys}))
    if not parts:
        return pd.DataFrame()
    out = pd.concat(parts, ignore_index=True)
    return out[keys + [c for c in out.columns if c not in keys]]


def _rate_row(num: int, den: int) -> dict:
    lo, hi = wilson_interval(num, den)
    return {"numerator": int(num), "denominator": int(den),
            "value": num / den if den else float("nan"),
            "value_ci_lower": float(lo), "value_ci_upper": float(hi)}


# ---------------------------------------------------------------------------------------------
# Penalty mix, probation, fines, 轻罪
# ---------------------------------------------------------------------------------------------


def penalty_mix(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """Penalty mix: persons by penalty band, per ``by`` group.

    Parameters
    ----------
    data : DataFrame
        Records or the output of :func:`judgments`.
    by : str, list or None
        ``"charge"`` (per-charge view), ``"unit_code"``, ``"court"``, ``"year"`` … or ``None``.
    total : bool
        Add a 合计 group counting each person once.

    Returns
    -------
    DataFrame
        ``<by>, band, band_zh, n, denominator, share`` — only bands that occur, in the order
        of :data:`PENALTY_BANDS`; ``denominator`` = persons in the group.

    Examples
    --------
    >>> df = pd.DataFrame({"charges": [["盗窃"], ["盗窃", "诈骗"]], "principal_penalty": ["fixed_term", "life"],
    ...                    "term_months": [30.0, None]})
    >>> penalty_mix(df)[["charge", "band", "n", "share"]].values.tolist()
    [['盗窃', 'fixed_term_1_3', 1, 0.5], ['盗窃', 'life', 1, 0.5], ['诈骗', 'life', 1, 1.0], ['合计', 'fixed_term_1_3', 1, 0.5], ['合计', 'life', 1, 0.5]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    per = _prepare(df, by)
    order = list(PENALTY_BANDS)

    def fn(g):
        counts = g["band"].value_counts()
        rows = [{"band": b, "band_zh": PENALTY_BANDS[b], "n": int(counts[b])}
                for b in order if b in counts.index]
        out = pd.DataFrame(rows, columns=["band", "band_zh", "n"])
        out["denominator"] = len(g)
        out["share"] = out["n"] / len(g) if len(g) else np.nan
        return out

    return _with_total(df, per, by, fn, total)


def penalty_table(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """The penalty mix as one row per group: persons and the share of each band.

    Returns
    -------
    DataFrame
        ``<by>, n`` and one column per band that occurs, named by its Chinese label
        (:data:`PENALTY_BANDS`), holding the share of the group's persons.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃", "盗窃", "诈骗"], "principal_penalty": ["fixed_term"] * 3,
    ...                    "term_months": [8.0, 30.0, 8.0]})
    >>> penalty_table(df).values.tolist()
    [['盗窃', 2, 0.5, 0.5], ['诈骗', 1, 1.0, 0.0], ['合计', 3, 0.6666666666666666, 0.3333333333333333]]
    """
    mix = penalty_mix(data, by=by, total=total)
    keys = _keys(by)
    if mix.empty:
        return pd.DataFrame(columns=keys + ["n"])
    index = keys or ["_all"]
    if not keys:
        mix = mix.assign(_all="合计")
    wide = mix.pivot_table(index=index, columns="band", values="share", aggfunc="sum", fill_value=0.0,
                           sort=False)
    order = [b for b in PENALTY_BANDS if b in wide.columns]
    wide = wide[order].rename(columns=PENALTY_BANDS)
    wide.columns.name = None
    n = mix.groupby(index, sort=False)["denominator"].first()
    wide.insert(0, "n", n.reindex(wide.index).astype(int))
    out = wide.reset_index()
    return out.drop(columns="_all") if not keys else out


def probation_rate(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """缓刑适用率: persons given a suspended sentence ÷ persons sentenced to 拘役 or 有期徒刑.

    Rows with ``probation`` missing are left out of the denominator.

    Returns
    -------
    DataFrame
        ``<by>, numerator, denominator, value, value_ci_lower, value_ci_upper`` (Wilson).

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 3, "principal_penalty": ["fixed_term"] * 2 + ["exempted"],
    ...                    "term_months": [10.0, 30.0, None], "probation": [True, False, None]})
    >>> probation_rate(df, by=None)[["numerator", "denominator", "value"]].values.tolist()
    [[1.0, 2.0, 0.5]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(probation=_col(df, "probation", "bool"))
    per = _prepare(df, by)

    def fn(g):
        elig = g[g["principal_penalty"].isin(CUSTODIAL_TERMS) & g["probation"].notna()]
        return pd.DataFrame([_rate_row(int(elig["probation"].sum()), len(elig))])

    return _with_total(df, per, by, fn, total)


def fines(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """罚金: share of convicted persons fined, and the fines' median and quartiles.

    Convicted = any penalty except 无罪 and 未知.

    Returns
    -------
    DataFrame
        ``<by>, numerator (fined), denominator (convicted), value, value_ci_lower,
        value_ci_upper, fine_median, fine_q1, fine_q3, fine_mean`` (yuan, over fined persons).

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 4, "principal_penalty": ["fixed_term"] * 3 + ["acquitted"],
    ...                    "term_months": [10.0, 8.0, 7.0, None], "fine": [1000.0, 3000.0, 0.0, None]})
    >>> fines(df, by=None)[["numerator", "denominator", "fine_median"]].values.tolist()
    [[2.0, 3.0, 2000.0]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(fine=_col(df, "fine", "float"))
    per = _prepare(df, by)

    def fn(g):
        conv = g[~g["band"].isin(["acquitted", "unknown"])]
        fined = conv["fine"][conv["fine"] > 0]
        row = _rate_row(len(fined), len(conv))
        row.update(fine_median=fined.median() if len(fined) else np.nan,
                   fine_q1=fined.quantile(0.25) if len(fined) else np.nan,
                   fine_q3=fined.quantile(0.75) if len(fined) else np.nan,
                   fine_mean=fined.mean() if len(fined) else np.nan)
        return pd.DataFrame([row])

    return _with_total(df, per, by, fn, total)


def fine_distribution(data: pd.DataFrame, *, by=None, total: bool = False) -> pd.DataFrame:
    """Fined persons by fine band (:data:`FINE_BANDS`).

    Returns
    -------
    DataFrame
        ``<by>, fine_band_zh, upper, n, denominator, share`` (denominator = fined persons).

    Examples
    --------
    >>> df = pd.DataFrame({"principal_penalty": ["fixed_term"] * 3, "term_months": [7.0] * 3,
    ...                    "fine": [800.0, 1000.0, 20000.0], "charge": ["盗窃"] * 3})
    >>> fine_distribution(df)[["fine_band_zh", "n"]].values.tolist()
    [['1000元以下', 2], ['1万元以上5万元以下', 1]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(fine=_col(df, "fine", "float"))
    per = _prepare(df, by)

    def fn(g):
        f = g["fine"][g["fine"] > 0]
        rows, lower = [], 0.0
        for upper, label in FINE_BANDS:
            n = int(((f > lower) & (f <= upper)).sum())
            if n:
                rows.append({"fine_band_zh": label, "upper": upper, "n": n})
            lower = upper
        out = pd.DataFrame(rows, columns=["fine_band_zh", "upper", "n"])
        out["denominator"] = len(f)
        out["share"] = out["n"] / len(f) if len(f) else np.nan
        return out

    return _with_total(df, per, by, fn, total)


def minor_offence_share(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """轻罪 share: persons sentenced to three years or less ÷ convicted persons.

    Three years or less = 管制, 拘役, 有期徒刑 ≤ 36 months, 单处罚金, 免予刑事处罚 (SPP's
    "判处三年有期徒刑以下"). 无罪, 未知 and 有期徒刑 without a term are left out.

    Returns
    -------
    DataFrame
        ``<by>, numerator, denominator, value, value_ci_lower, value_ci_upper``.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 3, "principal_penalty": ["fixed_term", "fixed_term", "exempted"],
    ...                    "term_months": [36.0, 37.0, None]})
    >>> minor_offence_share(df, by=None)[["numerator", "denominator"]].values.tolist()
    [[2, 3]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    per = _prepare(df, by)

    def fn(g):
        known = g[~g["band"].isin(["acquitted", "unknown", "fixed_term_unknown"])]
        light = known["band"].isin(_LIGHT + ("fixed_term_le1", "fixed_term_1_3"))
        return pd.DataFrame([_rate_row(int(light.sum()), len(known))])

    return _with_total(df, per, by, fn, total)


def median_terms(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """Median and quartiles of the term (months) of 拘役 and 有期徒刑, per group.

    Returns
    -------
    DataFrame
        ``<by>, n, median, q1, q3, mean`` (months).

    Examples
    --------
    >>> df = pd.DataFrame({"charges": [["盗窃"], ["盗窃", "诈骗"], ["诈骗"]],
    ...                    "principal_penalty": ["fixed_term", "criminal_detention", "fixed_term"],
    ...                    "term_months": [10.0, 4.0, 30.0]})
    >>> median_terms(df)[["charge", "n", "median"]].values.tolist()
    [['盗窃', 2, 7.0], ['诈骗', 2, 17.0], ['合计', 3, 10.0]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    per = _prepare(df, by)

    def fn(g):
        t = g["term_months"][g["principal_penalty"].isin(CUSTODIAL_TERMS)].dropna()
        return pd.DataFrame([{"n": len(t), "median": t.median() if len(t) else np.nan,
                              "q1": t.quantile(0.25) if len(t) else np.nan,
                              "q3": t.quantile(0.75) if len(t) else np.nan,
                              "mean": t.mean() if len(t) else np.nan}])

    return _with_total(df, per, by, fn, total)


# ---------------------------------------------------------------------------------------------
# Sentencing recommendation against judgment
# ---------------------------------------------------------------------------------------------


def has_recommendations(data: pd.DataFrame) -> bool:
    """True when the data hold any sentencing recommendation with a known adoption.

    Examples
    --------
    >>> has_recommendations(pd.DataFrame({"charge": ["盗窃"]}))
    False
    """
    return has_data(data, "recommendation_adopted")


def recommendation_adoption(data: pd.DataFrame, *, by="charge", total: bool = True) -> pd.DataFrame:
    """量刑建议采纳率 and the signed deviation of the judgment from the recommendation.

    Adoption = ``recommendation_adopted`` true ÷ judged persons whose recommendation's adoption
    is recorded (``recommendation_type`` "none" left out). Deviation = judged term −
    recommended term (months), over persons with both terms: negative = lighter than
    recommended.

    Returns
    -------
    DataFrame
        ``<by>, numerator, denominator, value, value_ci_lower, value_ci_upper, deviation_n,
        deviation_mean, deviation_median, lighter_share, equal_share, heavier_share``.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 3, "principal_penalty": ["fixed_term"] * 3,
    ...     "term_months": [10.0, 12.0, 6.0], "recommended_term_months": [10.0, 10.0, 8.0],
    ...     "recommendation_adopted": [True, False, False], "plea_leniency": [True, True, False]})
    >>> recommendation_adoption(df, by="plea_leniency", total=False)[
    ...     ["plea_leniency", "numerator", "denominator", "deviation_mean"]].values.tolist()
    [[False, 0, 1, -2.0], [True, 1, 2, 1.0]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(recommendation_adopted=_col(df, "recommendation_adopted", "bool"),
                   recommended_term_months=_col(df, "recommended_term_months", "float"))
    if "recommendation_type" in df.columns:
        df = df[df["recommendation_type"].astype("string").fillna("") != "none"]
    per = _prepare(df, by)

    def fn(g):
        known = g[g["recommendation_adopted"].notna()]
        row = _rate_row(int(known["recommendation_adopted"].sum()), len(known))
        both = g[g["term_months"].notna() & g["recommended_term_months"].notna()]
        dev = both["term_months"] - both["recommended_term_months"]
        n = len(dev)
        row.update(deviation_n=n,
                   deviation_mean=dev.mean() if n else np.nan,
                   deviation_median=dev.median() if n else np.nan,
                   lighter_share=float((dev < 0).mean()) if n else np.nan,
                   equal_share=float((dev == 0).mean()) if n else np.nan,
                   heavier_share=float((dev > 0).mean()) if n else np.nan)
        return pd.DataFrame([row])

    return _with_total(df, per, by, fn, total)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


def _design(df: pd.DataFrame, *, min_n: int, notes: list[str], reference: str | None = None):
    """Design matrix: charge dummies (rare charges pooled) + available covariates."""
    charge = df["charge"].astype("string").fillna(OTHER_CHARGE)
    counts = charge.value_counts()
    rare = counts[counts < min_n].index
    if len(rare):
        charge = charge.where(~charge.isin(rare), OTHER_CHARGE)
        notes.append(f"人数少于{min_n}的{len(rare)}个罪名合并为“{OTHER_CHARGE}”")
    counts = charge.value_counts()
    named = [c for c in counts.index if c != OTHER_CHARGE]
    ref = reference if reference in counts.index else (named[0] if named else counts.index[0])
    X = pd.DataFrame(index=df.index)
    for c in sorted(counts.index):
        if c != ref:
            X[f"charge:{c}"] = (charge == c).astype(float)
    for cov in ("plea_leniency", "recidivist", "surrender", "minor"):
        s = _col(df, cov, "bool")
        if s.notna().mean() < 0.5 or s.dropna().nunique() < 2:
            if has_data(df, cov):
                notes.append(f"“{COVARIATES[cov]}”取值单一或缺失过多，未纳入模型")
            continue
        X[cov] = s.astype("Float64").astype(float)
    amount = _col(df, "amount_involved", "float")
    if amount.notna().any() and amount.dropna().nunique() > 1:
        X["log_amount"] = np.log1p(amount.fillna(0).clip(lower=0))
    return X, ref


def _term_zh(term: str, ref: str) -> str:
    if term == "const":
        return f"常数项（对照：{ref}）"
    if term.startswith("charge:"):
        return f"罪名：{term[7:]}（对照：{ref}）"
    return COVARIATES.get(term, term)


def _coef_table(res, ref: str, *, alpha: float, kind: str) -> pd.DataFrame:
    ci = np.asarray(res.conf_int(alpha=alpha))
    params = np.asarray(res.params)
    names = list(res.model.exog_names)
    out = pd.DataFrame({
        "term": names,
        "estimate": params,
        "std_err": np.asarray(res.bse),
        "ci_lower": ci[:, 0],
        "ci_upper": ci[:, 1],
        "p_value": np.asarray(res.pvalues),
    })
    out.insert(1, "term_zh", [_term_zh(t, ref) for t in names])
    out["exp_estimate"] = np.exp(out["estimate"])
    out["exp_ci_lower"] = np.exp(out["ci_lower"])
    out["exp_ci_upper"] = np.exp(out["ci_upper"])
    out["significant"] = out["p_value"] < alpha
    out["reading_zh"] = [
        _reading(r, ref, kind=kind, alpha=alpha) if r.significant and r.term != "const" else ""
        for r in out.itertuples()
    ]
    return out


def _reading(r, ref: str, *, kind: str, alpha: float) -> str:
    level = f"{1 - alpha:.0%}"
    if kind == "ols":
        if r.term == "log_amount":
            factor = 2 ** r.estimate
            change = factor - 1
            verb = "延长" if change > 0 else "缩短"
            return (f"其他条件相同时，涉案金额每增加一倍，刑期约{verb}{abs(change):.1%}"
                    f"（{level}置信区间：{2 ** r.ci_lower - 1:+.1%}至{2 ** r.ci_upper - 1:+.1%}）")
        change = r.exp_estimate - 1
        verb = "长" if change > 0 else "短"
        who = (f"{r.term[7:]}案件的刑期比{ref}案件" if r.term.startswith("charge:")
               else f"{COVARIATES.get(r.term, r.term)}者的刑期比非{COVARIATES.get(r.term, r.term)}者")
        return (f"其他条件相同时，{who}约{verb}{abs(change):.1%}"
                f"（为其{r.exp_estimate:.2f}倍，{level}置信区间{r.exp_ci_lower:.2f}至{r.exp_ci_upper:.2f}）")
    # logit on probation: odds ratios
    if r.term == "log_amount":
        factor = 2 ** r.estimate
        return (f"其他条件相同时，涉案金额每增加一倍，适用缓刑的几率（odds）约为原来的{factor:.2f}倍"
                f"（{level}置信区间{2 ** r.ci_lower:.2f}至{2 ** r.ci_upper:.2f}）")
    more = "高" if r.exp_estimate > 1 else "低"
    who = (f"{r.term[7:]}案件适用缓刑的几率比{ref}案件" if r.term.startswith("charge:")
           else f"{COVARIATES.get(r.term, r.term)}者适用缓刑的几率比非{COVARIATES.get(r.term, r.term)}者")
    return (f"其他条件相同时，{who}{more}，几率比（odds ratio）为{r.exp_estimate:.2f}"
            f"（{level}置信区间{r.exp_ci_lower:.2f}至{r.exp_ci_upper:.2f}）")


def _model_frame(data: pd.DataFrame) -> pd.DataFrame:
    df = data if "band" in data.columns else judgments(data)
    return df.reset_index(drop=True)


def term_model(data: pd.DataFrame, *, min_n: int = 20, alpha: float = 0.05,
               reference: str | None = None) -> pd.DataFrame:
    """OLS of log(term in months) on charge, 认罪认罚, 累犯, 自首, 未成年人 and log amount.

    Sample: persons sentenced to 拘役 or 有期徒刑 with a term > 0 (one row per person; the
    first charge). Charges with fewer than ``min_n`` persons are pooled as 其他罪名; the most
    frequent charge is the reference unless ``reference`` is given. Covariates the data do not
    hold (or that never vary) are left out and noted. Missing amounts enter as 0 (absorbed by
    the charge term for charges that never record an amount). Standard errors are
    heteroscedasticity-robust (HC1).

    Returns
    -------
    DataFrame
        ``term, term_zh, estimate, std_err, ci_lower, ci_upper, p_value, exp_estimate,
        exp_ci_lower, exp_ci_upper, significant, reading_zh``; ``exp_estimate`` is the ratio of
        terms (e.g. 0.8 = 20% shorter). ``attrs``: ``n``, ``r_squared``, ``reference``,
        ``notes_zh``. Empty (with ``attrs["skip_zh"]``) when fewer than ``min_n`` persons.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plea = rng.random(200) < 0.5
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term", "plea_leniency": plea,
    ...                    "term_months": np.exp(np.log(12) + np.log(0.8) * plea + rng.normal(0, 0.1, 200))})
    >>> t = term_model(df).set_index("term")
    >>> round(float(t.loc["plea_leniency", "exp_estimate"]), 2), t.attrs["n"]
    (0.8, 200)
    """
    import statsmodels.api as sm

    df = _model_frame(data)
    df = df[df["principal_penalty"].isin(CUSTODIAL_TERMS) & (df["term_months"] > 0)]
    return _fit(df, outcome=np.log(df["term_months"].astype(float)), kind="ols",
                min_n=min_n, alpha=alpha, reference=reference,
                fitter=lambda y, X: sm.OLS(y, X).fit(cov_type="HC1"))


def probation_model(data: pd.DataFrame, *, min_n: int = 20, alpha: float = 0.05,
                    reference: str | None = None) -> pd.DataFrame:
    """Logit of 缓刑 on charge, 认罪认罚, 累犯, 自首, 未成年人 and log amount.

    Sample: persons eligible for 缓刑 — 拘役, or 有期徒刑 of three years or less — with
    ``probation`` recorded. Charges or binary covariates under which every person (or none)
    got 缓刑 would make the estimates infinite (separation): such charges are left out of the
    sample and such covariates out of the model, both noted in ``attrs["notes_zh"]`` (累犯 is
    excluded from 缓刑 by law, so it is usually dropped this way).

    Returns
    -------
    DataFrame
        As :func:`term_model`; ``exp_estimate`` is an odds ratio. ``attrs`` also carries
        ``pseudo_r_squared``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> plea = rng.random(400) < 0.5
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term", "term_months": 12.0,
    ...                    "plea_leniency": plea, "probation": rng.random(400) < np.where(plea, 0.6, 0.2)})
    >>> t = probation_model(df).set_index("term")
    >>> bool(t.loc["plea_leniency", "exp_ci_lower"] < 6 < t.loc["plea_leniency", "exp_ci_upper"])
    True
    """
    import statsmodels.api as sm

    df = _model_frame(data)
    df = df.assign(probation=_col(df, "probation", "bool"))
    elig = df["principal_penalty"].eq("criminal_detention") | (
        df["principal_penalty"].eq("fixed_term") & (df["term_months"] <= 36))
    df = df[elig.fillna(False).astype(bool) & df["probation"].notna()]
    return _fit(df, outcome=df["probation"].astype(float), kind="logit", min_n=min_n,
                alpha=alpha, reference=reference,
                fitter=lambda y, X: sm.Logit(y, X).fit(disp=0, maxiter=200))


def _fit(df, *, outcome, kind, min_n, alpha, reference, fitter) -> pd.DataFrame:
    import statsmodels.api as sm

    notes: list[str] = []
    empty = pd.DataFrame(columns=["term", "term_zh", "estimate", "std_err", "ci_lower",
                                  "ci_upper", "p_value", "exp_estimate", "exp_ci_lower",
                                  "exp_ci_upper", "significant", "reading_zh"])
    y = pd.Series(np.asarray(outcome, dtype=float), index=df.index)
    if kind == "logit" and len(df):
        # separation by charge: drop charges whose persons all (or none) got 缓刑
        charge = df["charge"].astype("string").fillna(OTHER_CHARGE)
        share = y.groupby(charge).mean()
        sizes = charge.value_counts()
        pure = share[((share == 0) | (share == 1)) & (sizes.reindex(share.index) >= 1)].index
        if len(pure):
            notes.append("以下罪名的缓刑适用率为0或100%，未纳入模型：" + "、".join(map(str, pure)))
            keep = ~charge.isin(pure)
            df, y = df[keep], y[keep]
    if len(df) < min_n or (kind == "logit" and y.nunique() < 2):
        empty.attrs.update(n=len(df), notes_zh=notes,
                           skip_zh=f"可用于建模的人数不足（{len(df)}人，少于{min_n}人）"
                           if len(df) < min_n else "结果变量取值单一，无法建模")
        return empty
    X, ref = _design(df, min_n=min_n, notes=notes, reference=reference)
    if kind == "logit":
        for cov in [c for c in X.columns if not c.startswith("charge:") and c != "log_amount"]:
            tab = y.groupby(X[cov]).agg(["mean", "size"])
            if ((tab["mean"] == 0) | (tab["mean"] == 1)).any():
                notes.append(f"“{COVARIATES[cov]}”的某一组缓刑适用率为0或100%（完全分离），未纳入模型")
                X = X.drop(columns=cov)
    complete = X.notna().all(axis=1)
    if (~complete).any():
        notes.append(f"{int((~complete).sum())}人的模型变量缺失，未纳入")
    X, y = X[complete], y[complete]
    X = X.loc[:, X.std(ddof=0) > 0]
    if X.shape[1] == 0:
        empty.attrs.update(n=len(y), notes_zh=notes,
                           skip_zh=f"没有可用于建模的自变量（数据中没有认罪认罚、累犯等情节，"
                                   f"各罪名人数也都少于{min_n}人）")
        return empty
    X = sm.add_constant(X, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fitter(y, X)
    out = _coef_table(res, ref, alpha=alpha, kind=kind)
    out.attrs.update(n=int(res.nobs), reference=ref, notes_zh=notes, kind=kind)
    if kind == "ols":
        out.attrs["r_squared"] = float(res.rsquared)
    else:
        out.attrs["pseudo_r_squared"] = float(res.prsquared)
    return out


def model_readings(table: pd.DataFrame) -> list[str]:
    """The plain-Chinese readings of a model table's significant coefficients.

    Examples
    --------
    >>> model_readings(pd.DataFrame({"reading_zh": ["", "其他条件相同时，……"]}))
    ['其他条件相同时，……']
    """
    if table.empty or "reading_zh" not in table.columns:
        return []
    return [r for r in table["reading_zh"] if r]


# ---------------------------------------------------------------------------------------------
# Consistency and outliers
# ---------------------------------------------------------------------------------------------


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
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term", "court": ["甲"] * 5 + ["乙"] * 5,
    ...                    "term_months": [6.0, 7, 8, 6, 7, 12, 14, 13, 12, 15]})
    >>> row = consistency(df, across="court").iloc[0]
    >>> int(row["groups"]), float(row["group_median_min"]), float(row["group_median_max"]), bool(row["kruskal_p"] < 0.05)
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


def outlying_sentences(data: pd.DataFrame, *, threshold: float = 3.5, min_n: int = 10) -> pd.DataFrame:
    """Sentences far from others for the same charge (robust z of the log term).

    ``robust_z = 0.6745 × (log term − median) / MAD`` within the person's first charge (the
    Iglewicz–Hoaglin modified z; when MAD is 0 the mean absolute deviation × 1.2533 is used).
    Charges with fewer than ``min_n`` persons are not screened.

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
    keep = ["unit_code", "unit_name", "court", "dept_case_no", "person_id", "charge",
            "principal_penalty", "term_months"]
    cols = keep + ["charge_n", "charge_median", "robust_z", "direction_zh"]
    rows = []
    for c, sub in df.groupby("charge", sort=True):
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
    if not rows:
        return pd.DataFrame(columns=cols)
    out = pd.concat(rows)
    for k in keep:
        if k not in out.columns:
            out[k] = pd.NA
    out["direction_zh"] = np.where(out["robust_z"] > 0, "偏重", "偏轻")
    out = out.assign(_abs=out["robust_z"].abs()).sort_values("_abs", ascending=False)
    return out[cols].reset_index(drop=True)


def outlier_summary(outliers: pd.DataFrame) -> pd.DataFrame:
    """Outlying sentences counted per charge and direction (an aggregate for the report; the
    list itself goes to an internal attachment).

    Returns
    -------
    DataFrame
        ``charge, charge_n, charge_median, heavier, lighter`` (persons).

    Examples
    --------
    >>> o = pd.DataFrame({"charge": ["盗窃", "盗窃"], "charge_n": [12, 12], "charge_median": [7.0, 7.0],
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
                                             heavier=("heavier", "sum"), lighter=("lighter", "sum"))
    return out.reset_index()[cols].astype({"heavier": int, "lighter": int})


# ---------------------------------------------------------------------------------------------
# Availability and narrative
# ---------------------------------------------------------------------------------------------


def availability(data: pd.DataFrame) -> dict[str, str | None]:
    """Which sections the data can support: section -> None (available) or the reason (Chinese).

    Sections: ``mix``, ``probation``, ``fines``, ``recommendation``, ``models``,
    ``consistency``, ``period``.

    Examples
    --------
    >>> av = availability(pd.DataFrame({"charge": ["盗窃"], "principal_penalty": ["fixed_term"],
    ...                                 "term_months": [8.0]}))
    >>> av["mix"] is None, av["recommendation"]
    (True, '数据中没有量刑建议及采纳情况（如仅有判决书数据），本节从略')
    """
    df = data if "band" in data.columns else judgments(data)
    out: dict[str, str | None] = {}
    out["mix"] = None if len(df) else "所选范围内没有判决数据，本节从略"
    out["probation"] = (None if has_data(df, "probation")
                        else "所选判决中没有缓刑信息（如仅有判决书数据），本节从略")
    out["fines"] = None if has_data(df, "fine") else "所选判决中没有罚金信息，本节从略"
    out["recommendation"] = (None if has_recommendations(df)
                             else "数据中没有量刑建议及采纳情况（如仅有判决书数据），本节从略")
    out["models"] = None if len(df) >= 20 else "判决人数过少，不建立回归模型"
    across = next((c for c in ("court", "unit_code") if has_data(df, c) and
                   df[c].nunique() > 1), None)
    out["consistency"] = (None if across else "数据中没有可比较的法院或单位，本节从略")
    out["period"] = (None if (has_data(df, "judgment_on") or has_data(df, "closed_on"))
                     else "数据中没有判决日期，统计期间未能适用，以下为全部判决数据")
    return out


def consistency_dimension(data: pd.DataFrame) -> str | None:
    """``court`` when the data name several courts, else ``unit_code`` when several units.

    Examples
    --------
    >>> consistency_dimension(pd.DataFrame({"court": ["甲", "乙"], "unit_code": ["1", "1"]}))
    'court'
    """
    for c in ("court", "unit_code"):
        if has_data(data, c) and data[c].nunique() > 1:
            return c
    return None


def narrative(data: pd.DataFrame, *, top: int = 3) -> list[str]:
    """Chinese sentences summarising the sentencing outcomes, every number computed here.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 4, "principal_penalty": ["fixed_term"] * 3 + ["exempted"],
    ...                    "term_months": [8.0, 10.0, 40.0, None], "probation": [True, False, False, None]})
    >>> narrative(df)[0]
    '共有判决4人，其中判处三年有期徒刑以下刑罚（轻罪）3人，占75.0%；判处有期徒刑、拘役的，刑期中位数为10.0个月。'
    """
    df = data if "band" in data.columns else judgments(data)
    out = [f"说明：{n}。" for n in df.attrs.get("notes_zh", [])]
    if df.empty:
        return out + ["所选范围内没有判决数据。"]
    light = minor_offence_share(df, by=None).iloc[0]
    med = median_terms(df, by=None).iloc[0]
    s = f"共有判决{len(df):,}人"
    if light["denominator"]:
        s += (f"，其中判处三年有期徒刑以下刑罚（轻罪）{int(light['numerator']):,}人，"
              f"占{light['value']:.1%}")
    if med["n"]:
        s += f"；判处有期徒刑、拘役的，刑期中位数为{med['median']:.1f}个月"
    out.append(s + "。")
    mix = penalty_mix(df, by=None)
    heavy = mix[mix["band"].isin(["life", "death"])]
    if len(heavy):
        parts = "、".join(f"{r.band_zh}{r.n}人" for r in heavy.itertuples())
        out.append(f"判处{parts}。")
    if has_data(df, "probation"):
        pr = probation_rate(df, by=None).iloc[0]
        if pr["denominator"]:
            out.append(f"判处有期徒刑、拘役的{int(pr['denominator']):,}人中，宣告缓刑"
                       f"{int(pr['numerator']):,}人，缓刑适用率{pr['value']:.1%}"
                       f"（95%置信区间{pr['value_ci_lower']:.1%}至{pr['value_ci_upper']:.1%}）。")
    if has_data(df, "fine"):
        fn = fines(df, by=None).iloc[0]
        if fn["numerator"]:
            out.append(f"并处或单处罚金{int(fn['numerator']):,}人，占有罪判决的{fn['value']:.1%}，"
                       f"罚金中位数{fn['fine_median']:,.0f}元。")
    if has_recommendations(df):
        ad = recommendation_adoption(df, by=None).iloc[0]
        if ad["denominator"]:
            s = (f"提出量刑建议并已判决的{int(ad['denominator']):,}人中，法院采纳"
                 f"{int(ad['numerator']):,}人，采纳率{ad['value']:.1%}")
            if ad["deviation_n"]:
                s += (f"；宣告刑期与建议刑期之差的平均值为{ad['deviation_mean']:+.1f}个月"
                      f"（负值表示轻于建议），轻于建议的占{ad['lighter_share']:.1%}")
            out.append(s + "。")
    per = median_terms(df, by="charge", total=False).sort_values("n", ascending=False).head(top)
    per = per[per["n"] > 0]
    if len(per):
        parts = "；".join(f"{r.charge}{r.n:,}人，中位数{r.median:.1f}个月" for r in per.itertuples())
        out.append(f"人数最多的罪名刑期：{parts}。")
    return out


__all__ = [
    "PENALTY_BANDS", "band_of", "derive_principal_penalty", "judgments", "penalty_mix", "penalty_table",
    "probation_rate", "fines", "fine_distribution", "minor_offence_share", "median_terms",
    "recommendation_adoption", "has_recommendations", "term_model", "probation_model",
    "model_readings", "term_spread", "consistency", "outlying_sentences", "outlier_summary", "availability",
    "consistency_dimension", "narrative", "normalise_charge",
]

_ = schema  # the charge table is read through casework.analysis.topics helpers

#: Display labels of this module's columns (``page.table(..., labels=sentencing.LABELS)``).
LABELS: dict[str, str] = {
    "charge": "罪名", "band": "刑罚类别代码", "band_zh": "刑罚类别", "n": "人数", "denominator": "人数合计",
    "share": "占比", "numerator": "人数", "value": "比例",
    "fine_median": "罚金中位数（元）", "fine_q1": "罚金下四分位数（元）", "fine_q3": "罚金上四分位数（元）",
    "fine_mean": "罚金平均数（元）", "upper": "上限（元）", "fine_band_zh": "罚金数额",
    "median": "刑期中位数（月）", "q1": "下四分位数（月）", "q3": "上四分位数（月）", "mean": "平均刑期（月）",
    "iqr": "四分位距（月）", "mad": "绝对中位差（月）",
    "deviation_n": "可比较人数", "deviation_mean": "平均偏差（月）", "deviation_median": "偏差中位数（月）",
    "lighter_share": "轻于建议", "equal_share": "等于建议", "heavier_share": "重于建议",
    "term": "变量代码", "term_zh": "变量", "exp_estimate": "倍数/几率比", "exp_ci_lower": "倍数区间下限",
    "exp_ci_upper": "倍数区间上限", "significant": "显著", "reading_zh": "解读",
    "groups": "比较组数", "group_median_min": "各组中位数最小值（月）",
    "group_median_max": "各组中位数最大值（月）", "group_median_ratio": "最大/最小",
    "kruskal_p": "Kruskal-Wallis检验P值", "fligner_p": "Fligner-Killeen检验P值",
    "charge_n": "同罪名人数", "charge_median": "同罪名刑期中位数（月）", "robust_z": "稳健Z值",
    "direction_zh": "方向", "plea_leniency": "认罪认罚", "heavier": "偏重人数", "lighter": "偏轻人数",
}

#: Display formats of this module's columns (``page.table(..., formats=sentencing.FORMATS)``).
FORMATS: dict[str, str] = {
    "share": "{:.1%}", "value": "{:.1%}", "value_ci_lower": "{:.1%}", "value_ci_upper": "{:.1%}",
    "lighter_share": "{:.1%}", "equal_share": "{:.1%}", "heavier_share": "{:.1%}",
    "deviation_mean": "{:+.1f}", "deviation_median": "{:+.1f}",
    "median": "{:.1f}", "q1": "{:.1f}", "q3": "{:.1f}", "mean": "{:.1f}", "iqr": "{:.1f}",
    "mad": "{:.1f}", "fine_median": "{:,.0f}", "fine_q1": "{:,.0f}", "fine_q3": "{:,.0f}",
    "fine_mean": "{:,.0f}", "upper": "{:,.0f}",
    "estimate": "{:.3f}", "std_err": "{:.3f}", "ci_lower": "{:.3f}", "ci_upper": "{:.3f}",
    "p_value": "{:.4f}", "exp_estimate": "{:.2f}", "exp_ci_lower": "{:.2f}", "exp_ci_upper": "{:.2f}",
    "group_median_min": "{:.1f}", "group_median_max": "{:.1f}", "group_median_ratio": "{:.2f}",
    "kruskal_p": "{:.4f}", "fligner_p": "{:.4f}", "charge_median": "{:.1f}", "robust_z": "{:+.2f}",
    "term_months": "{:.1f}",
    **{label: "{:.1%}" for label in PENALTY_BANDS.values()},
}
