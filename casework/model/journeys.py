"""The derived ``journeys`` table: one row per person across the stages of one case.

A person's path through the procuratorate is exported as separate stage rows in ``records``
(审查逮捕, 审查起诉, and — for a judgment-only corpus — 判决). :func:`build` links them on
``unit_code`` + ``unified_case_no`` (统一受案号) + ``person_id`` into one row per person, for
cohort indicators such as 捕后不诉率 and 捕后取保候审 (``post_arrest_bail``).

The store computes this table when a snapshot is written (:func:`casework.store.write_snapshot`)
and serves it as ``store.read("journeys", ...)``; analysis code never calls :func:`build` on a
snapshot it read itself, except on hand-made frames.

Examples
--------
>>> import pandas as pd
>>> from casework.model import journeys
>>> recs = pd.DataFrame({
...     "unit_code": ["U1", "U1"], "unified_case_no": ["T1", "T1"], "person_id": ["P1", "P1"],
...     "stage": ["arrest_review", "prosecution_review"], "dept_case_no": ["A1", "Q1"],
...     "charge": ["盗窃", "盗窃"], "accepted_on": ["2024-01-05", "2024-03-01"],
...     "decision": ["arrest_approved", "prosecute"]})
>>> j = journeys.build(recs)
>>> row = j.iloc[0]
>>> row["arrest_decision"], row["prosecution_decision"], bool(row["post_arrest_bail"])
('arrest_approved', 'prosecute', False)
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.base.errors import DataError
from casework.model import schema

#: The columns that link the stage rows of one person.
KEY = ("unit_code", "unified_case_no", "person_id")

_STAGES = ("arrest_review", "prosecution_review", "judgment")

#: records columns read per stage (journeys are assembled from these).
_USED = {
    "arrest_review": ("dept_case_no", "accepted_on", "closed_on", "decision", "arrested_on",
                      "measure_after_change", "measure_changed_on", "charge", "charge_group",
                      "referring_agency", "police_station"),
    "prosecution_review": ("dept_case_no", "accepted_on", "closed_on", "decision",
                           "decision_subtype", "arrested_on", "measure_after_change",
                           "measure_changed_on", "judgment_on", "principal_penalty", "charge",
                           "charge_group", "referring_agency", "police_station"),
    "judgment": ("judgment_on", "principal_penalty", "charge", "charge_group",
                 "referring_agency", "police_station"),
}


def _canonical(records: pd.DataFrame, name: str) -> pd.Series:
    """Column ``name`` of ``records`` in its canonical dtype (all-null when absent)."""
    col = schema.column("records", name)
    dtype = schema.pandas_dtype(col)
    if name not in records.columns:
        return pd.Series(pd.NA, index=records.index, dtype=dtype)
    s = records[name]
    if col.dtype in ("date", "datetime"):
        return pd.to_datetime(s).astype(dtype) if str(s.dtype) != dtype else s
    return s.astype(dtype) if str(s.dtype) != dtype else s


def _key_codes(records: pd.DataFrame) -> np.ndarray:
    """One int per person key, numbered in the sorted order of (unit, case, person); -1 = null."""
    code = None
    valid = np.ones(len(records), dtype=bool)
    for name in KEY:
        c, uniques = pd.factorize(records[name].astype("string"), sort=True)
        valid &= c >= 0
        c = c.astype(np.int64)
        code = c if code is None else pd.factorize(code * (len(uniques) + 1) + c, sort=True)[0]
    code = np.asarray(code, dtype=np.int64)
    code[~valid] = -1
    if valid.any():
        code[valid] = pd.factorize(code[valid], sort=True)[0]
    return code


def _latest_per_key(code: np.ndarray, mask: np.ndarray, accepted: np.ndarray) -> np.ndarray:
    """Row position of the latest accepted row per key among ``mask`` rows (-1 = none)."""
    nkeys = int(code.max()) + 1 if len(code) else 0
    pos = np.flatnonzero(mask & (code >= 0))
    out = np.full(nkeys, -1, dtype=np.int64)
    if len(pos):
        order = np.lexsort((pos, accepted[pos], code[pos]))  # by key, then date, then position
        pos = pos[order]
        k = code[pos]
        last = np.r_[k[1:] != k[:-1], True]
        out[k[last]] = pos[last]
    return out


def _take(series: pd.Series, idx: np.ndarray) -> pd.Series:
    """``series`` values at positions ``idx`` (-1 gives null), on a fresh RangeIndex."""
    return pd.Series(series.array.take(idx, allow_fill=True), dtype=series.dtype)


def _first(*series: pd.Series) -> pd.Series:
    """Row-wise first non-null value."""
    out = series[0]
    for s in series[1:]:
        out = out.fillna(s)
    return out


def build(records: pd.DataFrame) -> pd.DataFrame:
    """Link stage rows of ``records`` into one row per person (the ``journeys`` table).

    Parameters
    ----------
    records : DataFrame
        Rows of the ``records`` table (any subset of its columns, but at least ``unit_code``,
        ``unified_case_no``, ``person_id`` and ``stage``).

    Returns
    -------
    DataFrame
        The ``journeys`` table (:data:`casework.model.schema.JOURNEYS` columns, canonical dtypes),
        one row per ``unit_code`` + ``unified_case_no`` + ``person_id``, sorted by that key.

    Notes
    -----
    - A person with only one stage (arrest review only, prosecution review only, or a
      judgment-only corpus) still gets a row; the other stage's columns are null.
    - When a stage repeats for one person (e.g. a second arrest request 重新提请逮捕), the
      latest accepted row of that stage is used (on equal dates, the later row of the export).
    - ``post_arrest_bail`` (捕后取保候审) is defined on the arrest cohort only: ``True`` when the
      arrest was approved (``arrest_decision == "arrest_approved"``) and the measure was later
      changed to bail (``measure_after_change == "bail"``, read from the arrest-review row, else
      the prosecution-review row), ``False`` for other approved arrests, and null for persons
      whose arrest was not approved or never reviewed — so its mean is the cohort rate.
    - ``non_prosecution_type`` is the prosecution-review ``decision_subtype`` when the decision
      is ``non_prosecution``; ``judgment_on`` and ``principal_penalty`` come from the
      prosecution-review row (where the unified system records the judgment), else from a
      ``judgment`` stage row.
    - ``charge`` and ``charge_group`` prefer the later stage (prosecution review, judgment,
      then arrest review); ``referring_agency`` and ``police_station`` prefer the earliest.
    - Rows with a null key column cannot be linked and are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({
    ...     "unit_code": ["U1", "U1", "U1"], "unified_case_no": ["T1", "T2", "T2"],
    ...     "person_id": ["P1", "P2", "P2"],
    ...     "stage": ["arrest_review", "arrest_review", "prosecution_review"],
    ...     "decision": ["arrest_approved", "arrest_approved", "non_prosecution"],
    ...     "decision_subtype": [None, None, "discretionary"],
    ...     "measure_after_change": ["bail", None, None]})
    >>> j = build(recs)
    >>> print(j[["person_id", "post_arrest_bail", "non_prosecution_type"]].to_string(index=False))
    person_id  post_arrest_bail non_prosecution_type
           P1              True                 <NA>
           P2             False        discretionary
    """
    missing = [c for c in (*KEY, "stage") if c not in records.columns]
    if missing:
        raise DataError(
            f"无法生成人员流转表：records 缺少列 {', '.join(missing)}",
            f"cannot build journeys: records lacks column(s) {', '.join(missing)}",
        )
    code = _key_codes(records)
    stage = records["stage"].astype("string")
    accepted = _canonical(records, "accepted_on")
    acc_int = accepted.to_numpy(dtype="datetime64[s]").astype(np.int64)  # NaT sorts first
    at = {st: _latest_per_key(code, stage.eq(st).fillna(False).to_numpy(dtype=bool), acc_int)
          for st in _STAGES}
    cols: dict[str, pd.Series] = {}

    def get(st: str, name: str) -> pd.Series:
        if (st, name) not in cols:
            src = accepted if name == "accepted_on" else _canonical(records, name)
            cols[(st, name)] = _take(src, at[st])
        return cols[(st, name)]

    a, p, j = "arrest_review", "prosecution_review", "judgment"
    valid = np.flatnonzero(code >= 0)
    _, first_at = np.unique(code[valid], return_index=True)  # keys are 0..nkeys-1
    first_row = valid[first_at]
    out = pd.DataFrame({k: _take(records[k].astype("string"), first_row) for k in KEY})
    out["charge"] = _first(get(p, "charge"), get(j, "charge"), get(a, "charge"))
    out["charge_group"] = _first(get(p, "charge_group"), get(j, "charge_group"),
                                 get(a, "charge_group"))
    out["referring_agency"] = _first(get(a, "referring_agency"), get(p, "referring_agency"),
                                     get(j, "referring_agency"))
    out["police_station"] = _first(get(a, "police_station"), get(p, "police_station"),
                                   get(j, "police_station"))
    out["arrest_dept_case_no"] = get(a, "dept_case_no")
    out["arrest_accepted_on"] = get(a, "accepted_on")
    out["arrest_closed_on"] = get(a, "closed_on")
    out["arrest_decision"] = get(a, "decision")
    out["arrested_on"] = _first(get(a, "arrested_on"), get(p, "arrested_on"))

    # The measure change comes from one row: the arrest row when it records one.
    from_arrest = get(a, "measure_after_change").notna().to_numpy(dtype=bool)
    after = get(a, "measure_after_change").where(from_arrest, get(p, "measure_after_change"))
    use_a_date = from_arrest | get(a, "measure_changed_on").notna().to_numpy(dtype=bool)
    approved = out["arrest_decision"].eq("arrest_approved").fillna(False).to_numpy(dtype=bool)
    bail = after.eq("bail").fillna(False).to_numpy(dtype=bool)
    out["post_arrest_bail"] = pd.Series(bail, dtype="boolean").where(approved)
    out["measure_changed_on"] = get(a, "measure_changed_on").where(
        use_a_date, get(p, "measure_changed_on"))

    out["prosecution_dept_case_no"] = get(p, "dept_case_no")
    out["prosecution_accepted_on"] = get(p, "accepted_on")
    out["prosecution_closed_on"] = get(p, "closed_on")
    out["prosecution_decision"] = get(p, "decision")
    non_pros = out["prosecution_decision"].eq("non_prosecution").fillna(False).to_numpy(dtype=bool)
    out["non_prosecution_type"] = get(p, "decision_subtype").where(non_pros)
    out["judgment_on"] = _first(get(p, "judgment_on"), get(j, "judgment_on"))
    out["principal_penalty"] = _first(get(p, "principal_penalty"), get(j, "principal_penalty"))

    gaps = (out["charge_group"].isna() & out["charge"].notna()).to_numpy(dtype=bool)
    if gaps.any():
        groups = {c: schema.charge_group_of(c) for c in out.loc[gaps, "charge"].unique()}
        out.loc[gaps, "charge_group"] = out.loc[gaps, "charge"].map(groups)
    return schema.conform(out, "journeys")[schema.column_names("journeys")]
