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
>>> from casework import journeys
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

import pandas as pd

from casework import schema

#: The columns that link the stage rows of one person.
KEY = ("unit_code", "unified_case_no", "person_id")

_STAGE_COLUMNS = {
    # journeys column <- records column, per stage
    "arrest_review": {
        "dept_case_no": "arrest_dept_case_no",
        "accepted_on": "arrest_accepted_on",
        "closed_on": "arrest_closed_on",
        "decision": "arrest_decision",
        "arrested_on": "a_arrested_on",
        "measure_after_change": "a_measure_after_change",
        "measure_changed_on": "a_measure_changed_on",
        "charge": "a_charge",
        "charge_group": "a_charge_group",
        "referring_agency": "a_referring_agency",
        "police_station": "a_police_station",
    },
    "prosecution_review": {
        "dept_case_no": "prosecution_dept_case_no",
        "accepted_on": "prosecution_accepted_on",
        "closed_on": "prosecution_closed_on",
        "decision": "prosecution_decision",
        "decision_subtype": "p_decision_subtype",
        "arrested_on": "p_arrested_on",
        "measure_after_change": "p_measure_after_change",
        "measure_changed_on": "p_measure_changed_on",
        "judgment_on": "p_judgment_on",
        "principal_penalty": "p_principal_penalty",
        "charge": "p_charge",
        "charge_group": "p_charge_group",
        "referring_agency": "p_referring_agency",
        "police_station": "p_police_station",
    },
    "judgment": {
        "judgment_on": "j_judgment_on",
        "principal_penalty": "j_principal_penalty",
        "charge": "j_charge",
        "charge_group": "j_charge_group",
        "referring_agency": "j_referring_agency",
        "police_station": "j_police_station",
    },
}


def _stage_frame(records: pd.DataFrame, stage: str) -> pd.DataFrame:
    """One row per person key for ``stage`` (the latest accepted row when a stage repeats)."""
    wanted = _STAGE_COLUMNS[stage]
    rows = records.loc[records["stage"] == stage]
    rows = rows.dropna(subset=list(KEY))
    order = [c for c in ("accepted_on", "dept_case_no") if c in rows.columns]
    if order:
        rows = rows.sort_values(list(KEY) + order, kind="stable", na_position="first")
    rows = rows.drop_duplicates(subset=list(KEY), keep="last")
    out = rows[list(KEY)].copy()
    for src, dst in wanted.items():
        out[dst] = rows[src] if src in rows.columns else pd.NA
    return out


def _first(frame: pd.DataFrame, names: list[str]) -> pd.Series:
    """Row-wise first non-null value among ``names`` (columns of ``frame``)."""
    out = frame[names[0]]
    for name in names[1:]:
        out = out.fillna(frame[name]) if len(out) else out
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
        The ``journeys`` table (:data:`casework.schema.JOURNEYS` columns, canonical dtypes),
        one row per ``unit_code`` + ``unified_case_no`` + ``person_id``, sorted by that key.

    Notes
    -----
    - A person with only one stage (arrest review only, prosecution review only, or a
      judgment-only corpus) still gets a row; the other stage's columns are null.
    - When a stage repeats for one person (e.g. a second arrest request 重新提请逮捕), the
      latest accepted row of that stage is used.
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
    >>> j[["person_id", "post_arrest_bail", "non_prosecution_type"]].to_string(index=False)
    'person_id  post_arrest_bail non_prosecution_type\\n       P1              True                 <NA>\\n       P2             False        discretionary'
    """
    missing = [c for c in (*KEY, "stage") if c not in records.columns]
    if missing:
        from casework.errors import DataError

        raise DataError(
            f"无法生成人员流转表：records 缺少列 {', '.join(missing)}",
            f"cannot build journeys: records lacks column(s) {', '.join(missing)}",
        )
    frames = [_stage_frame(records, stage) for stage in _STAGE_COLUMNS]
    keys = pd.concat([f[list(KEY)] for f in frames], ignore_index=True).drop_duplicates()
    merged = keys
    for frame in frames:
        merged = merged.merge(frame, on=list(KEY), how="left", validate="one_to_one")

    out = merged[list(KEY)].copy()
    for col in ("arrest_dept_case_no", "arrest_accepted_on", "arrest_closed_on", "arrest_decision",
                "prosecution_dept_case_no", "prosecution_accepted_on", "prosecution_closed_on",
                "prosecution_decision"):
        out[col] = merged[col]
    out["charge"] = _first(merged, ["p_charge", "j_charge", "a_charge"])
    out["charge_group"] = _first(merged, ["p_charge_group", "j_charge_group", "a_charge_group"])
    out["referring_agency"] = _first(merged, ["a_referring_agency", "p_referring_agency",
                                              "j_referring_agency"])
    out["police_station"] = _first(merged, ["a_police_station", "p_police_station",
                                            "j_police_station"])
    out["arrested_on"] = _first(merged, ["a_arrested_on", "p_arrested_on"])

    # The measure change comes from one row: the arrest row when it records one.
    from_arrest = merged["a_measure_after_change"].notna()
    after = merged["a_measure_after_change"].where(from_arrest, merged["p_measure_after_change"])
    changed_on = merged["a_measure_changed_on"].where(
        from_arrest | merged["a_measure_changed_on"].notna(), merged["p_measure_changed_on"])
    approved = merged["arrest_decision"].astype("string").eq("arrest_approved").fillna(False)
    bail = after.astype("string").eq("bail").fillna(False)
    out["post_arrest_bail"] = pd.Series(bail.to_numpy(dtype=bool), index=merged.index,
                                        dtype="boolean").where(approved.to_numpy(dtype=bool))
    out["measure_changed_on"] = changed_on

    non_pros = merged["prosecution_decision"].astype("string").eq("non_prosecution").fillna(False)
    out["non_prosecution_type"] = merged["p_decision_subtype"].where(non_pros.to_numpy(dtype=bool))
    out["judgment_on"] = _first(merged, ["p_judgment_on", "j_judgment_on"])
    out["principal_penalty"] = _first(merged, ["p_principal_penalty", "j_principal_penalty"])

    gaps = out["charge_group"].isna() & out["charge"].notna()
    if gaps.any():
        out.loc[gaps, "charge_group"] = out.loc[gaps, "charge"].map(
            lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
    out = out.sort_values(list(KEY), kind="stable").reset_index(drop=True)
    return schema.conform(out, "journeys")[schema.column_names("journeys")]
