"""Special-topic analyses (专题分析): recurring case characteristics and sentencing outcomes.

This package module holds what both topics share: charge-name normalisation (bracketed
alternatives as in public judgment corpora, 罪 suffix, full/half width), the per-charge view
(a person with several charges counts once for each), topic selection by charges or charge
group, period and units (:func:`topic_cases`), and the choice of stage so that a person is
counted once. The modules of the package:

- :mod:`~casework.analysis.topics.recurring` — how often, who, when, where, how much;
- :mod:`~casework.analysis.topics.modus` — how (作案手段 words, new words in the period);
- :mod:`~casework.analysis.topics.sentencing` — penalty mix, 缓刑, 罚金, recommendations,
  consistency; :mod:`~casework.analysis.topics.sentencing_models` — the regression models.

Their sentences, labels and display tables live in :mod:`casework.present.recurring_text`,
:mod:`casework.present.sentencing_text` and :mod:`casework.present.topic_tables`.

Examples
--------
>>> from casework.analysis.topics import normalise_charge
>>> normalise_charge("[走私、贩卖、运输、制造]毒品")
'走私、贩卖、运输、制造毒品'
>>> normalise_charge("盗窃罪")
'盗窃'
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from casework.analysis import periods
from casework.base.errors import ParameterError, check_choice
from casework.model import charges as charge_table
from casework.model.charges import normalise_charge

__all__ = [
    "normalise_charge",
    "charge_lists",
    "explode_charges",
    "topic_mask",
    "period_bounds",
    "in_period",
    "pick_stage",
    "filter_units",
    "describe_topic",
    "topic_cases",
    "has_values",
    "charge_notes",
    "group_of",
    "most_frequent_charge",
    "UNKNOWN_ZH",
]

#: Stage preference when counting persons once (a person appears once per stage case).
STAGE_PREFERENCE = ("prosecution_review", "judgment", "arrest_review")

#: Label of a missing grouping value in topic tables (the row is counted, not dropped).
UNKNOWN_ZH = "未知"


def _as_list(value) -> list:
    if value is None or value is pd.NA:
        return []
    if isinstance(value, str):
        return [p for p in re.split(r"[;；|]", value) if p.strip()]
    if isinstance(value, float) and value != value:
        return []
    try:
        return list(value)
    except TypeError:
        return [value]


def charge_lists(data: pd.DataFrame) -> pd.Series:
    """Per row, the list of its normalised charges (``charges`` if filled, else ``[charge]``).

    Duplicates within a row are dropped (order kept).

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃", "诈骗"], "charges": [["盗窃", "诈骗罪", "盗窃"],
    ...                                                        None]})
    >>> charge_lists(df).tolist()
    [['盗窃', '诈骗'], ['诈骗']]
    """
    n = len(data)
    lists = data["charges"].tolist() if "charges" in data.columns else [None] * n
    ones = data["charge"].tolist() if "charge" in data.columns else [None] * n
    out = []
    cache: dict = {}
    for many, one in zip(lists, ones):
        items = _as_list(many)
        if not items:
            items = _as_list(one)
        seen = []
        for item in items:
            if item not in cache:
                cache[item] = normalise_charge(item)
            norm = cache[item]
            if norm and norm not in seen:
                seen.append(norm)
        out.append(seen)
    return pd.Series(out, index=data.index, dtype="object")


def explode_charges(data: pd.DataFrame, *, column: str = "charge") -> pd.DataFrame:
    """One row per (row, charge): the per-charge view used by per-charge tables.

    A person with several charges counts once for each of them; the normalised charge is
    written to ``column`` and ``charge_group`` from the charge reference
    (:func:`casework.model.charges.group_of`: ``other`` for a name not in it, ``unknown`` for
    no charge; a row's own ``charge_group`` is kept where the reference has none). Rows with no
    charge at all are kept with ``column`` missing.

    Examples
    --------
    >>> df = pd.DataFrame({"person_id": ["a", "b"],
    ...                    "charges": [["盗窃", "[走私、贩卖、运输、制造]毒品"], ["诈骗"]]})
    >>> rows = explode_charges(df)[["person_id", "charge", "charge_group"]].values.tolist()
    >>> rows  # doctest: +NORMALIZE_WHITESPACE
    [['a', '盗窃', 'property'], ['a', '走私、贩卖、运输、制造毒品', 'drugs'],
     ['b', '诈骗', 'property']]
    """
    lists = charge_lists(data)
    out = data.copy()
    out["_charge_list"] = [lst if lst else [None] for lst in lists]
    out = out.explode("_charge_list", ignore_index=True)
    out[column] = out.pop("_charge_list").astype("string")
    groups = pd.Series([group_of(c) for c in out[column]], index=out.index, dtype="string")
    if "charge_group" in out.columns:
        own = out["charge_group"].astype("string")
        vague = groups.isin([charge_table.OTHER, charge_table.UNKNOWN]) & own.notna()
        groups = groups.where(~vague, own)
    out["charge_group"] = groups
    return out


def group_of(charge) -> str:
    """The charge group of one (normalised or raw) charge name
    (:func:`casework.model.charges.group_of`).

    Examples
    --------
    >>> group_of("滥用职权"), group_of("投机倒把"), group_of(None)
    ('duty', 'other', 'unknown')
    """
    return charge_table.group_of(charge if isinstance(charge, str) else None)


def _groups_of(row_charges: list[str]) -> set[str]:
    return {group_of(c) for c in row_charges}


def charge_notes(data: pd.DataFrame) -> list[str]:
    """Notes (Chinese) on charges the reference does not hold and rows without a charge.

    Examples
    --------
    >>> df = pd.DataFrame({"charges": [["盗窃"], ["投机倒把"], None]})
    >>> for note in charge_notes(df):  # doctest: +ELLIPSIS
    ...     print(note)
    罪名“投机倒把”不在罪名表（刑法分则罪名，见 casework/resources/charges.csv）中，涉及1人，...
    1人没有罪名，罪名类别计为“罪名未填”
    """
    lists = charge_lists(data)
    notes = []
    names = lists.explode().dropna()
    for name in charge_table.unlisted(names):
        n = int(lists.map(lambda lst, x=name: x in lst).sum())
        notes.append(f"罪名“{name}”不在罪名表（刑法分则罪名，见 casework/resources/charges.csv）"
                     f"中，涉及{n}人，计入“其他”类别")
    empty = int(lists.map(len).eq(0).sum())
    if empty:
        notes.append(f"{empty}人没有罪名，罪名类别计为“罪名未填”")
    return notes


def topic_mask(data: pd.DataFrame, *, charges=None, charge_group=None) -> pd.Series:
    """True for rows with any of ``charges`` (any charge of the row) or in ``charge_group``.

    Parameters
    ----------
    charges : str or list of str, optional
        Charge names in any spelling :func:`normalise_charge` understands.
    charge_group : str or list of str, optional
        Codes of :data:`casework.model.charges.GROUPS` (``property``, ``drugs`` …) or their
        Chinese labels. A row's own ``charge_group`` column is used when its charges are not in
        the charge reference.

    Examples
    --------
    >>> df = pd.DataFrame({"charges": [["盗窃"], ["[走私、贩卖、运输、制造]毒品"], ["诈骗",
    ...                                                              "盗窃"]]})
    >>> topic_mask(df, charges="盗窃").tolist()
    [True, False, True]
    >>> topic_mask(df, charge_group="毒品犯罪").tolist()
    [False, True, False]
    """
    if charges is None and charge_group is None:
        raise ParameterError(
            "请指定罪名（charges）或罪名类别（charge_group）",
            "give charges or charge_group to define the topic",
        )
    lists = charge_lists(data)
    mask = pd.Series(False, index=data.index)
    if charges is not None:
        items = [charges] if isinstance(charges, str) else charges
        wanted = {normalise_charge(c) for c in items}
        wanted.discard(None)
        mask |= lists.map(lambda lst: bool(wanted.intersection(lst)))
    if charge_group is not None:
        groups = [charge_group] if isinstance(charge_group, str) else list(charge_group)
        by_label = {zh: code for code, (zh, _en) in charge_table.GROUPS.items()}
        codes = set()
        for g in groups:
            code = by_label.get(g, g)
            check_choice("charge_group", code, list(charge_table.GROUPS) + list(by_label))
            codes.add(code)
        own = (data["charge_group"].astype("string") if "charge_group" in data.columns
               else pd.Series(pd.NA, index=data.index, dtype="string"))
        mask |= lists.map(lambda lst: bool(codes.intersection(_groups_of(lst))))
        mask |= own.isin(codes).fillna(False).astype(bool)
    return mask.astype(bool)


def period_bounds(period) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """(start, end) Timestamps of a period, inclusive; ``None`` for no period.

    Accepts a :class:`casework.analysis.periods.Period` (anything with ``.start`` and ``.end``), a
    period code (parsed by :func:`casework.analysis.periods.parse`), or a ``(start, end)`` pair.

    Examples
    --------
    >>> period_bounds(("2024-01-01", "2024-03-31"))
    (Timestamp('2024-01-01 00:00:00'), Timestamp('2024-03-31 00:00:00'))
    """
    if period is None:
        return None
    if hasattr(period, "start") and hasattr(period, "end"):
        return pd.Timestamp(period.start), pd.Timestamp(period.end)
    if isinstance(period, (tuple, list)) and len(period) == 2:
        return pd.Timestamp(period[0]), pd.Timestamp(period[1])
    p = periods.parse(str(period))
    return pd.Timestamp(p.start), pd.Timestamp(p.end)


def in_period(dates: pd.Series, period) -> pd.Series:
    """True where ``dates`` fall in ``period`` (whole days; missing dates are False).

    Examples
    --------
    >>> s = pd.Series(pd.to_datetime(["2024-03-31 23:00", "2024-04-01 00:00", None]))
    >>> in_period(s, ("2024-01-01", "2024-03-31")).tolist()
    [True, False, False]
    """
    bounds = period_bounds(period)
    if bounds is None:
        return pd.Series(True, index=dates.index)
    start, end = bounds
    d = pd.to_datetime(dates).dt.normalize()
    return ((d >= start.normalize()) & (d <= end.normalize())).fillna(False).astype(bool)


def pick_stage(data: pd.DataFrame, stage: str = "auto") -> str | None:
    """The stage whose rows count persons once: ``stage`` itself, or with ``"auto"`` the first
    of 审查起诉, 判决, 审查逮捕 present in the data (``None`` when there is no stage column).

    Examples
    --------
    >>> pick_stage(pd.DataFrame({"stage": ["arrest_review", "prosecution_review"]}))
    'prosecution_review'
    >>> pick_stage(pd.DataFrame({"stage": ["judgment"]}))
    'judgment'
    """
    check_choice("stage", stage, ("auto",) + STAGE_PREFERENCE)
    if "stage" not in data.columns or data["stage"].isna().all():
        return None
    present = {str(s) for s in data["stage"].dropna().unique()}
    if stage != "auto":
        return stage
    for s in STAGE_PREFERENCE:
        if s in present:
            return s
    return None


def filter_units(data: pd.DataFrame, units=None) -> pd.DataFrame:
    """Rows of the given unit codes (``None`` or ``"all"``: every unit).

    Examples
    --------
    >>> df = pd.DataFrame({"unit_code": ["1", "2", "3"]})
    >>> len(filter_units(df, ["1", "3"])), len(filter_units(df, "all"))
    (2, 3)
    """
    if units is None or (isinstance(units, str) and units == "all"):
        return data
    units = [units] if isinstance(units, str) else list(units)
    if units == ["all"] or not units:
        return data
    if "unit_code" not in data.columns:
        return data
    return data[data["unit_code"].astype("string").isin([str(u) for u in units]).fillna(False)]


def describe_topic(*, charges=None, charge_group=None) -> str:
    """Chinese name of a topic: the charges joined by 、 or the charge group's label.

    Examples
    --------
    >>> describe_topic(charges=["盗窃", "诈骗罪"])
    '盗窃、诈骗'
    >>> describe_topic(charge_group="drugs")
    '毒品犯罪'
    """
    parts = []
    if charges is not None:
        items = [charges] if isinstance(charges, str) else list(charges)
        parts.append("、".join(filter(None, (normalise_charge(c) for c in items))))
    if charge_group is not None:
        groups = [charge_group] if isinstance(charge_group, str) else list(charge_group)
        parts.append("、".join(charge_table.group_label(g) for g in groups))
    return "、".join(p for p in parts if p)


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
    ...                    "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-09",
    ...                                                   "2024-02-01"])})
    >>> c = topic_cases(df, charges="盗窃", period="2024-01")
    >>> c["in_topic"].tolist(), c.attrs["stage"]
    ([True], 'prosecution_review')
    """
    notes: list[str] = []
    period_applied = period is not None
    df = filter_units(data, units)
    chosen = pick_stage(df, stage)
    # rows kept by stage and period, filtered once (a filter copies every column)
    keep = np.ones(len(df), dtype=bool)
    if chosen is not None:
        keep &= (df["stage"].astype("string") == chosen).fillna(False).to_numpy(dtype=bool)
    if period is not None:
        if "accepted_on" in df.columns and df["accepted_on"][keep].notna().any():
            keep &= in_period(df["accepted_on"], period).to_numpy(dtype=bool)
        else:
            period_applied = False
            notes.append("数据中没有受理日期，未按统计期间筛选，以下为全部数据")
    if not keep.all():
        df = df[keep]
    if charges is not None:
        wanted = [charges] if isinstance(charges, str) else list(charges)
        unknown = [n for n in map(normalise_charge, wanted)
                   if n and charge_table.canonical(n) is None]
        # the charges present are read only when a wanted name is not in the charge table
        present = (set(charge_lists(data).explode().dropna()) if unknown and len(data)
                   else set())
        for norm in unknown:
            if norm not in present:
                notes.append(f"罪名“{norm}”既不在罪名表中，也未出现在数据中，请检查拼写")
    df = df.copy()
    df["in_topic"] = topic_mask(df, charges=charges, charge_group=charge_group).to_numpy()
    df.attrs.update(stage=chosen,
                    topic_zh=describe_topic(charges=charges, charge_group=charge_group),
                    notes_zh=notes, period_applied=period_applied)
    return df


def has_values(df: pd.DataFrame, col: str) -> bool:
    """True when ``df`` has column ``col`` with at least one value.

    Examples
    --------
    >>> has_values(pd.DataFrame({"a": [None, 1]}), "a"), has_values(pd.DataFrame(), "a")
    (True, False)
    """
    return col in df.columns and bool(df[col].notna().any())


def most_frequent_charge(records: pd.DataFrame) -> pd.DataFrame:
    """The charge with most persons (one stage, any charge of a person counts): the automatic
    topic for data without dates (a judgment corpus), where no trend can choose one.

    Returns
    -------
    DataFrame
        One row ``charge, persons, share, chosen`` (``chosen`` = ``"undated"``); empty when no
        row has a charge.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "judgment", "charges": [["盗窃"], ["盗窃", "诈骗"], ["诈骗"],
    ...                                                    ["盗窃"]]})
    >>> most_frequent_charge(df).values.tolist()
    [['盗窃', 3, 0.75, 'undated']]
    """
    chosen = pick_stage(records)
    df = records if chosen is None else records[records["stage"].astype("string") == chosen]
    counts = charge_lists(df).explode().dropna().value_counts(sort=False)
    cols = ["charge", "persons", "share", "chosen"]
    if counts.empty:
        return pd.DataFrame(columns=cols)
    counts = counts.sort_values(ascending=False, kind="stable")
    return pd.DataFrame([[counts.index[0], int(counts.iloc[0]), counts.iloc[0] / len(df),
                          "undated"]], columns=cols)
