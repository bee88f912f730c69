"""Sentencing outcomes (判决情况 / 量刑): penalty mix, 缓刑, 罚金, 轻罪, recommendations, models.

Works on case-card data (judgment items on the 审查起诉 row, as the unified system keeps them)
and on judgment-only corpora (``stage == "judgment"``, no dates, no recommendations). The
regression models are in :mod:`casework.analysis.topics.sentencing_models`, consistency between
courts and outlying sentences in :mod:`casework.analysis.topics.consistency`, the sentences and
labels in :mod:`casework.present.sentencing_text`.

Counting rules
--------------
- A person is counted once per matter: rows with judgment items are de-duplicated on
  ``(unified_case_no, person_id)`` where both are known, the ``judgment`` row preferred.
- Per-charge tables use the per-charge view (:func:`casework.analysis.topics.explode_charges`):
  a person with several charges counts once for each of them; the 合计 row counts each person once.
- Charge names are normalised (:func:`casework.analysis.topics.normalise_charge`): the corpus
  spelling   ``[走私、贩卖、运输、制造]毒品`` matches ``走私、贩卖、运输、制造毒品``.

Deriving the principal penalty (judgment-only data)
---------------------------------------------------
Judgment corpora give months of imprisonment plus death / life flags, not a penalty type. Where
``principal_penalty`` is missing, :func:`derive_principal_penalty` fills it, in this order:

- ``death_penalty`` true → 死刑; ``life_imprisonment`` true → 无期徒刑;
- every charge of the person has 拘役 as its custodial ceiling in the charge reference
  (:mod:`casework.model.charges`, e.g. 危险驾驶) and 0 < ``term_months`` ≤ 12 → 拘役 (12: the
  maximum of 拘役 under 数罪并罚);
- 0 < ``term_months`` < 6 → 拘役; ``term_months`` > 6 → 有期徒刑;
- ``term_months`` = 6 otherwise: 6 months is both the 拘役 maximum and the 有期徒刑 minimum.
  Such rows are read as 有期徒刑 (``principal_penalty``) but flagged in ``penalty_ambiguous``
  and shown as their own band ``six_months`` (六个月（拘役或有期徒刑，无法区分）);
- ``term_months`` = 0 (or missing) with a fine → 单处罚金;
- ``term_months`` = 0 with no fine → 免予刑事处罚 inferred: a judgment in a criminal corpus
  convicts, and a conviction with neither term nor fine is most likely 免予刑事处罚 (刑法第三十
  七条). Band ``exempted_inferred`` (免予刑事处罚（推断）);
- anything else (no term, no fine, no flag) stays unknown (band ``unknown``, 未知) and is
  counted in every table, never dropped.

Derived rows are flagged in ``penalty_derived``.

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

import numpy as np
import pandas as pd

from casework.analysis.stats import wilson_interval
from casework.analysis.topics import (
    UNKNOWN_ZH,
    charge_lists,
    charge_notes,
    explode_charges,
    filter_units,
    in_period,
    normalise_charge,
    topic_mask,
)
from casework.base.errors import check_choice
from casework.model import charges as charge_table

# ---------------------------------------------------------------------------------------------
# Penalty bands
# ---------------------------------------------------------------------------------------------

#: Penalty bands of the mix table, in display order: code -> label_zh.
PENALTY_BANDS: dict[str, str] = {
    "public_surveillance": "管制",
    "criminal_detention": "拘役",
    "six_months": "六个月（拘役或有期徒刑，无法区分）",
    "fixed_term_le1": "有期徒刑一年以下",
    "fixed_term_1_3": "有期徒刑一年以上三年以下",
    "fixed_term_3_10": "有期徒刑三年以上十年以下",
    "fixed_term_gt10": "有期徒刑十年以上",
    "fixed_term_unknown": "有期徒刑（刑期未填）",
    "life": "无期徒刑",
    "death": "死刑",
    "fine_only": "单处罚金",
    "exempted": "免予刑事处罚",
    "exempted_inferred": "免予刑事处罚（推断）",
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

#: Principal penalties with a term (拘役, 有期徒刑).
CUSTODIAL_TERMS = ("criminal_detention", "fixed_term")
_LIGHT = ("public_surveillance", "criminal_detention", "six_months", "fine_only", "exempted",
          "exempted_inferred")

#: Covariates of the models: column -> Chinese label.
COVARIATES: dict[str, str] = {
    "plea_leniency": "认罪认罚",
    "recidivist": "累犯",
    "surrender": "自首",
    "minor": "未成年人",
    "log_amount": "涉案金额（对数）",
}

#: Label of the pooled rare charges in per-charge models.
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


def column_as(data: pd.DataFrame, name: str, dtype: str | None = None) -> pd.Series:
    """Column ``name`` of ``data`` as ``dtype`` (``float``, ``bool``, ``string``); all missing
    when the column is absent.

    Examples
    --------
    >>> column_as(pd.DataFrame({"a": ["是", "否"]}), "a", "bool").tolist()
    [True, False]
    >>> bool(column_as(pd.DataFrame({"a": [1]}), "b", "float").isna().all())
    True
    """
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
    """Fill missing ``principal_penalty`` from death/life flags, ``term_months``, ``fine`` and
    the charges' custodial ceilings.

    Rules in the module notes; adds ``penalty_derived`` (True where filled here) and
    ``penalty_ambiguous`` (True for derived six-month terms that may be 拘役 or 有期徒刑).
    Given penalties are never changed.

    Examples
    --------
    >>> df = pd.DataFrame({"principal_penalty": [None, None, None, None, "exempted", None, None],
    ...                    "term_months": [0, 18, 3, 0, None, 0, 6],
    ...                    "fine": [2000, None, None, None, None, None, None],
    ...                    "life_imprisonment": [False, False, False, True, False, False, False],
    ...                    "charge": ["盗窃"] * 7})
    >>> out = derive_principal_penalty(df)
    >>> out["principal_penalty"].tolist()  # doctest: +NORMALIZE_WHITESPACE
    ['fine_only', 'fixed_term', 'criminal_detention', 'life', 'exempted', 'exempted',
     'fixed_term']
    >>> out["penalty_ambiguous"].tolist()[-1]
    True
    >>> six = pd.DataFrame({"charges": [["危险驾驶"], ["危险驾驶", "盗窃"]],
    ...                     "term_months": [6, 6]})
    >>> derive_principal_penalty(six)["principal_penalty"].tolist()
    ['criminal_detention', 'fixed_term']
    """
    out = data.copy()
    given = column_as(out, "principal_penalty", "string")
    term = column_as(out, "term_months", "float")
    fine = column_as(out, "fine", "float")
    death = column_as(out, "death_penalty", "bool").fillna(False).astype(bool)
    life = column_as(out, "life_imprisonment", "bool").fillna(False).astype(bool)
    lists = (charge_lists(out) if ("charges" in out.columns or "charge" in out.columns)
             else pd.Series([[]] * len(out), index=out.index, dtype="object"))
    # one look-up per distinct charge name, not per row (charge_lists gives normalised strings)
    detained = {c: charge_table.ceiling_of(c) == "criminal_detention"
                for c in {c for lst in lists for c in lst}}
    detention_only = lists.map(
        lambda lst: bool(lst) and all(detained[c] for c in lst)).astype(bool)
    fined = fine > 0
    derived = pd.Series(pd.NA, index=out.index, dtype="string")
    derived[(term == 0) & ~fined] = "exempted"
    derived[fined & (term.fillna(0) == 0)] = "fine_only"
    derived[(term > 0) & (term < 6)] = "criminal_detention"
    derived[term >= 6] = "fixed_term"
    derived[detention_only & (term > 0) & (term <= 12)] = "criminal_detention"
    derived[life] = "life"
    derived[death] = "death"
    fill = given.isna() & derived.notna()
    out["principal_penalty"] = given.where(~fill, derived)
    out["penalty_derived"] = fill.to_numpy()
    out["penalty_ambiguous"] = (fill & (derived == "fixed_term") & (term == 6)).to_numpy()
    if "term_months" in out.columns:
        # death / life rows carry no fixed term (corpora write 0 there)
        out["term_months"] = term.where(~out["principal_penalty"].isin(["death", "life"]))
    return out


def bands(df: pd.DataFrame) -> list[str]:
    """Penalty band of each row (:func:`band_of`), with the derived classes of
    :func:`derive_principal_penalty`: ``six_months`` for ambiguous six-month terms and
    ``exempted_inferred`` for an inferred 免予刑事处罚.

    Examples
    --------
    >>> bands(derive_principal_penalty(pd.DataFrame({"term_months": [6, 0, None],
    ...                                              "charge": "盗窃"})))
    ['six_months', 'exempted_inferred', 'unknown']
    """
    term = column_as(df, "term_months", "float")
    derived = column_as(df, "penalty_derived", "bool").fillna(False).astype(bool)
    ambiguous = column_as(df, "penalty_ambiguous", "bool").fillna(False).astype(bool)
    out = []
    for p, t, d, a in zip(df["principal_penalty"] if "principal_penalty" in df.columns
                          else [None] * len(df), term, derived, ambiguous):
        b = band_of(p, t)
        if a:
            b = "six_months"
        elif d and b == "exempted":
            b = "exempted_inferred"
        out.append(b)
    return out


def _judged(df: pd.DataFrame) -> pd.Series:
    """Rows that are judgments: stage 判决, or any judgment item filled (all rows when the data
    have no stage column)."""
    if "stage" not in df.columns:
        return pd.Series(True, index=df.index)
    items = ["principal_penalty", "term_months", "fine", "judgment_on", "probation"]
    filled = pd.Series(False, index=df.index)
    for c in items:
        if c in df.columns:
            filled |= df[c].notna().to_numpy()
    for c in ("death_penalty", "life_imprisonment"):
        filled |= column_as(df, c, "bool").fillna(False).astype(bool).to_numpy()
    return (df["stage"].astype("string") == "judgment").fillna(False) | filled


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
        ``charge`` (the first charge) and ``band`` (:data:`PENALTY_BANDS`). Every judgment is
        kept: one whose penalty cannot be told is in band ``unknown`` (未知).
        ``attrs["notes_zh"]`` lists what could not be applied and how many rows were classed
        by inference (免予刑事处罚（推断）, 六个月, 未知); rows that are no judgment (other
        stages without judgment items) are not selected.

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
    df = filter_units(data, units)
    df = derive_principal_penalty(df[_judged(df)])
    if "stage" in df.columns and "unified_case_no" in df.columns and "person_id" in df.columns:
        rank = df["stage"].map({"judgment": 0, "prosecution_review": 1,
                                "arrest_review": 2}).fillna(3)
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
    term = column_as(df, "term_months", "float")
    df["term_months"] = term
    df["band"] = bands(df)
    notes.extend(classification_notes(df))
    notes.extend(charge_notes(df))
    df.attrs["notes_zh"] = notes
    return df


def classification_notes(df: pd.DataFrame) -> list[str]:
    """Notes (Chinese) saying how many judgments were classed by inference or stay unknown,
    and why; every number computed from ``df`` (the output of :func:`judgments`).

    Examples
    --------
    >>> j = judgments(pd.DataFrame({"charge": ["盗窃", "盗窃", "危险驾驶"],
    ...                             "term_months": [0, 6, 6]}))
    >>> classification_notes(j)  # doctest: +NORMALIZE_WHITESPACE
    ['判决中既无刑期也无罚金的1人推断为免予刑事处罚（标为“免予刑事处罚（推断）”），计入合计和各比例的分母',
     '刑期恰为六个月的1人无法区分拘役与有期徒刑（六个月既是拘役上限也是有期徒刑下限），单列为“六个月”一类；所涉罪名只能判处拘役的已按拘役计（1人）']
    """
    notes = []
    b = pd.Series(df["band"]) if "band" in df.columns else pd.Series(bands(df))
    n_ex = int((b == "exempted_inferred").sum())
    if n_ex:
        notes.append(f"判决中既无刑期也无罚金的{n_ex}人推断为免予刑事处罚（标为“免予刑事处罚"
                     "（推断）”），计入合计和各比例的分母")
    n_six = int((b == "six_months").sum())
    term = column_as(df, "term_months", "float")
    derived = column_as(df, "penalty_derived", "bool").fillna(False).astype(bool)
    n_det6 = int((derived & (term == 6) & (df.get("principal_penalty") == "criminal_detention")
                  .fillna(False).astype(bool)).sum())
    if n_six or n_det6:
        s = (f"刑期恰为六个月的{n_six}人无法区分拘役与有期徒刑（六个月既是拘役上限也是有期徒刑"
             "下限），单列为“六个月”一类")
        notes.append(s + (f"；所涉罪名只能判处拘役的已按拘役计（{n_det6}人）" if n_det6 else ""))
    n_unk = int((b == "unknown").sum())
    if n_unk:
        notes.append(f"{n_unk}人的刑罚无法判断（既无刑种，也无刑期、罚金或死刑、无期徒刑标记），"
                     "列为“未知”，计入合计，不计入各比例的分母")
    return notes


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
        date = column_as(df, "judgment_on")
        df = df.assign(year=pd.to_datetime(date).dt.year.astype("Int64"))
    if "plea_leniency" in _keys(by):
        df = df.assign(plea_leniency=column_as(df, "plea_leniency", "bool"))
    if "charge" in _keys(by):
        df = explode_charges(df)
    elif "charge_group" in _keys(by):
        # a person counts once per group, however many of their charges fall in it
        per = explode_charges(df.assign(_person=np.arange(len(df))))
        df = per.drop_duplicates(["_person", "charge_group"]).drop(columns="_person")
    return df


def _with_total(df: pd.DataFrame, per: pd.DataFrame, by, fn, total: bool) -> pd.DataFrame:
    keys = _keys(by)
    if not keys:
        return fn(df).assign(**{})
    # a missing grouping value is its own group (未知): every row is counted
    per = per.assign(**{k: per[k].astype("object").where(per[k].notna(), UNKNOWN_ZH)
                        for k in keys if k in per.columns})
    parts = [fn(g).assign(**dict(zip(keys, k if isinstance(k, tuple) else (k,))))
             for k, g in per.groupby(keys, dropna=False, sort=True)]
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
    >>> df = pd.DataFrame({"charges": [["盗窃"], ["盗窃", "诈骗"]],
    ...                    "principal_penalty": ["fixed_term", "life"],
    ...                    "term_months": [30.0, None]})
    >>> rows = penalty_mix(df)[["charge", "band", "n", "share"]].values.tolist()
    >>> rows  # doctest: +NORMALIZE_WHITESPACE
    [['盗窃', 'fixed_term_1_3', 1, 0.5], ['盗窃', 'life', 1, 0.5], ['诈骗', 'life', 1, 1.0],
     ['合计', 'fixed_term_1_3', 1, 0.5], ['合计', 'life', 1, 0.5]]
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
    >>> df = pd.DataFrame({"charge": ["盗窃", "盗窃", "诈骗"],
    ...                    "principal_penalty": ["fixed_term"] * 3,
    ...                    "term_months": [8.0, 30.0, 8.0]})
    >>> penalty_table(df).round(3).values.tolist()
    [['盗窃', 2, 0.5, 0.5], ['诈骗', 1, 1.0, 0.0], ['合计', 3, 0.667, 0.333]]
    """
    mix = penalty_mix(data, by=by, total=total)
    keys = _keys(by)
    if mix.empty:
        return pd.DataFrame(columns=keys + ["n"])
    index = keys or ["_all"]
    if not keys:
        mix = mix.assign(_all="合计")
    wide = mix.pivot_table(index=index, columns="band", values="share", aggfunc="sum",
                           fill_value=0.0,
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
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 3,
    ...                    "principal_penalty": ["fixed_term"] * 2 + ["exempted"],
    ...                    "term_months": [10.0, 30.0, None], "probation": [True, False, None]})
    >>> probation_rate(df, by=None)[["numerator", "denominator", "value"]].values.tolist()
    [[1.0, 2.0, 0.5]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(probation=column_as(df, "probation", "bool"))
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
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 4,
    ...                    "principal_penalty": ["fixed_term"] * 3 + ["acquitted"],
    ...                    "term_months": [10.0, 8.0, 7.0, None], "fine": [1000.0, 3000.0, 0.0,
    ...                                                                    None]})
    >>> fines(df, by=None)[["numerator", "denominator", "fine_median"]].values.tolist()
    [[2.0, 3.0, 2000.0]]
    """
    _check_by(by)
    df = data if "band" in data.columns else judgments(data)
    df = df.assign(fine=column_as(df, "fine", "float"))
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
    df = df.assign(fine=column_as(df, "fine", "float"))
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
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 3, "principal_penalty": ["fixed_term",
    ...                                                                "fixed_term", "exempted"],
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
    """Median, quartiles and 10th/90th percentiles of the term (months) of 拘役 and 有期徒刑
    (six-month terms of either included), per group.

    Returns
    -------
    DataFrame
        ``<by>, n, median, q1, q3, p10, p90, mean`` (months; quantiles linearly interpolated,
        pandas' default).

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

        def q(x):
            return t.quantile(x) if len(t) else np.nan

        return pd.DataFrame([{"n": len(t), "median": t.median() if len(t) else np.nan,
                              "q1": q(0.25), "q3": q(0.75), "p10": q(0.1), "p90": q(0.9),
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


def recommendation_adoption(data: pd.DataFrame, *, by="charge",
                            total: bool = True) -> pd.DataFrame:
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
    df = df.assign(recommendation_adopted=column_as(df, "recommendation_adopted", "bool"),
                   recommended_term_months=column_as(df, "recommended_term_months", "float"))
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


__all__ = [
    "PENALTY_BANDS", "band_of", "derive_principal_penalty", "judgments", "penalty_mix",
    "penalty_table", "probation_rate", "fines", "fine_distribution", "minor_offence_share",
    "median_terms", "recommendation_adoption", "has_recommendations", "availability",
    "consistency_dimension", "normalise_charge", "column_as", "has_data",
]

