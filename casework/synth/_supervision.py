"""Synthetic legal-supervision matters (法律监督事项, issue 20) and their two planted patterns.

Each unit exercises six supervision lines (:data:`LINES`) at rates proportional to its own
caseload month by month (so the lines share the case data's seasonality, Spring Festival dip
included), times a unit × line propensity drawn around 1 (units differ as they do in the case
data). Each matter is linked to one of the unit's cases of that month (its unified case number,
department, prosecutor and the agency or court supervised); results arrive 10–60 days later
(尚未反馈 when that is after the end of the data).

Planted unless ``null`` (placement drawn from the seed, recorded in ``truth["patterns"]``):

``supervision_gap``
    one unit uses one of the larger lines (立案监督, 侦查活动监督, 刑事执行监督,
    羁押必要性审查) not at all in the last 12 months, while its peers use it regularly;
``correction_adoption_drop``
    another unit: the share of 纠正侦查活动违法 notices that are corrected falls from about
    90 % to 45–60 % for notices issued from 6–12 months before the end.

Imports only :mod:`casework.model.schema` (the generator shares no code with the analyses).

Examples
--------
>>> import pandas as pd
>>> recs = pd.DataFrame({"unit_code": ["930101"] * 400, "unit_name": ["甲院"] * 400,
...     "stage": ["prosecution_review"] * 400, "unified_case_no": [f"T{i}" for i in range(400)],
...     "department": ["第一检察部"] * 400, "prosecutor_id": ["9301011"] * 400,
...     "prosecutor_name": ["王某"] * 400, "referring_agency": ["甲公安局"] * 400,
...     "court": ["甲法院"] * 400,
...     "accepted_on": pd.date_range("2023-07-01", periods=400, freq="D")})
>>> units = [{"unit_code": "930101", "unit_name": "甲院"}]
>>> sup, pats = make(recs, units, start="2023-07", end="2024-06", seed=1, null=True)
>>> sorted(sup["line"].unique())[:2], pats
(['case_filing_supervision', 'custody_review'], [])
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from casework.model import schema

#: line -> (matters per 1,000 case rows, {kind: weight}, {kind: {result: probability}}).
LINES: dict[str, tuple[float, dict, dict]] = {
    "case_filing_supervision": (
        18.0, {"request_reasons": 0.5, "notice_to_file": 0.3, "request_withdrawal": 0.2},
        {k: {"adopted": 0.9, "not_adopted": 0.1}
         for k in ("request_reasons", "notice_to_file", "request_withdrawal")}),
    "investigation_supervision": (
        28.0, {"investigation_correction": 1.0},
        {"investigation_correction": {"corrected": 0.9, "not_corrected": 0.1}}),
    "trial_supervision": (
        5.0, {"appeal_protest": 0.55, "retrial_protest": 0.1, "trial_correction": 0.35},
        {"appeal_protest": {"sentence_changed": 0.45, "remanded": 0.15, "upheld": 0.4},
         "retrial_protest": {"sentence_changed": 0.5, "remanded": 0.2, "upheld": 0.3},
         "trial_correction": {"corrected": 0.9, "not_corrected": 0.1}}),
    "execution_supervision": (
        14.0, {"execution_correction": 1.0},
        {"execution_correction": {"corrected": 0.92, "not_corrected": 0.08}}),
    "custody_review": (
        12.0, {"custody_suggestion": 1.0},
        {"custody_suggestion": {"adopted": 0.88, "not_adopted": 0.12}}),
    "procuratorial_suggestion": (
        6.0, {"suggestion": 1.0}, {"suggestion": {"adopted": 0.95, "not_adopted": 0.05}}),
}

#: Lines large enough for a year without any matter to be visible.
GAP_LINES = ("case_filing_supervision", "investigation_supervision", "execution_supervision",
             "custody_review")
#: Months of the planted gap (ending with the last month of data).
GAP_MONTHS = 12
#: Corrected share of 纠正侦查活动违法 after the planted drop (uniform range).
DROP_AFTER = (0.45, 0.60)
DROP_BACK = (6, 12)
#: File name of the supervision export (GB18030 CSV, Chinese headers).
EXPORT_FILE = "法律监督事项"

#: Columns of the 审查起诉 rows the matters are linked to.
CASELOAD_COLUMNS = ["unit_code", "stage", "accepted_on", "unified_case_no", "department",
                    "prosecutor_id", "prosecutor_name", "referring_agency", "court"]

_EXECUTION_DEPT = "刑事执行检察部"
_EXECUTION_PLACES = ("看守所", "社区矫正机构", "监狱")


def _rng(seed, *key):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(10**6, 20, *key)))


def place(units: list[dict], *, seed: int, end: str) -> dict:
    """Where the two supervision patterns go (drawn whether or not anything is planted)."""
    r = _rng(seed, 0)
    n = len(units)
    gap_unit = int(r.integers(0, n))
    drop_unit = int((gap_unit + 1 + r.integers(0, max(n - 1, 1))) % n) if n > 1 else gap_unit
    end_m = np.datetime64(end, "M")
    back = int(r.integers(DROP_BACK[0], DROP_BACK[1] + 1))
    return {
        "gap": {"unit": gap_unit, "line": str(r.choice(GAP_LINES)),
                "start": end_m - np.timedelta64(GAP_MONTHS - 1, "M")},
        "drop": {"unit": drop_unit, "start": end_m - np.timedelta64(back - 1, "M"),
                 "after": round(float(r.uniform(*DROP_AFTER)), 3)},
    }


def _unit_matters(rec: pd.DataFrame, i: int, unit: dict, pl: dict, *, seed, start, end,
                  null) -> pd.DataFrame:
    r = _rng(seed, 1, i)
    code = unit["unit_code"]
    rec = rec[rec["accepted_on"].notna()]
    month = rec["accepted_on"].to_numpy().astype("datetime64[M]")
    start_m, end_m = np.datetime64(start, "M"), np.datetime64(end, "M")
    end_day = (end_m + 1).astype("datetime64[D]") - 1
    months = np.arange(start_m, end_m + 1)
    counts = pd.Series(month).value_counts()
    rows = []
    serial = 0
    for line, (rate, kinds, results) in LINES.items():
        propensity = float(r.lognormal(0.0, 0.2))
        kind_codes = list(kinds)
        kind_p = np.array([kinds[k] for k in kind_codes])
        for m in months:
            n_cases = int(counts.get(m, 0))
            lam = rate / 1000.0 * n_cases * propensity
            k = int(r.poisson(lam))
            if not null and i == pl["gap"]["unit"] and line == pl["gap"]["line"] \
                    and m >= pl["gap"]["start"]:
                k = 0
            if k == 0 or n_cases == 0:
                continue
            pool = np.flatnonzero(month == m)
            pick = pool[r.integers(0, len(pool), k)]
            day0 = m.astype("datetime64[D]")
            ndays = int(((m + 1).astype("datetime64[D]") - day0).astype(int))
            for j, kind in zip(pick, r.choice(kind_codes, size=k, p=kind_p / kind_p.sum())):
                row = rec.iloc[j]
                on = day0 + int(r.integers(0, ndays))
                res_p = dict(results[kind])
                if (not null and i == pl["drop"]["unit"] and kind == "investigation_correction"
                        and m >= pl["drop"]["start"]):
                    a = pl["drop"]["after"]
                    res_p = {"corrected": a, "not_corrected": 1 - a}
                res_codes = list(res_p)
                res = str(r.choice(res_codes, p=np.array([res_p[c] for c in res_codes])))
                res_on = on + int(r.integers(10, 61))
                if res_on > end_day:
                    res, res_on = "pending", None
                execution = line in ("execution_supervision", "custody_review")
                if line == "trial_supervision":
                    agency = row.get("court")
                elif line == "execution_supervision":
                    agency = f"{unit['unit_name'][:3]}{_EXECUTION_PLACES[int(r.integers(0, 3))]}"
                else:
                    agency = row.get("referring_agency")
                serial += 1
                rows.append({
                    "unit_code": code, "unit_name": unit["unit_name"],
                    "matter_no": f"{code}-JD-{str(on)[:4]}-{serial:05d}",
                    "department": _EXECUTION_DEPT if execution else row.get("department"),
                    "prosecutor_id": None if execution else row.get("prosecutor_id"),
                    "prosecutor_name": None if execution else row.get("prosecutor_name"),
                    "line": line, "kind": str(kind),
                    "supervised_agency": agency if isinstance(agency, str) and agency
                    else unit["unit_name"].replace("人民检察院", "公安局"),
                    "started_on": on, "result_on": res_on, "result": res,
                    "linked_case_no": None if line == "procuratorial_suggestion"
                    else row.get("unified_case_no"),
                })
    df = pd.DataFrame(rows)
    if len(df):
        df = df.sort_values("started_on", kind="stable").reset_index(drop=True)
    return df


def make(records: pd.DataFrame, units: list[dict], *, start: str, end: str, seed: int,
         null: bool) -> tuple[pd.DataFrame, list[dict]]:
    """Supervision matters of every unit (schema ``supervision``) and the planted patterns.

    ``records`` needs ``unit_code, stage, accepted_on, unified_case_no, department,
    prosecutor_id, prosecutor_name, referring_agency, court``; only 审查起诉 rows (or all
    rows when there are none) are used as the caseload.
    """
    pl = place(units, seed=seed, end=end)
    records = records[[c for c in CASELOAD_COLUMNS if c in records.columns]]
    pr = records[records["stage"] == "prosecution_review"] if (
        records["stage"] == "prosecution_review").any() else records
    parts = []
    for i, u in enumerate(units):
        mine = pr[pr["unit_code"] == u["unit_code"]]
        parts.append(_unit_matters(mine, i, u, pl, seed=seed, start=start, end=end, null=null))
    parts = [p for p in parts if len(p)]
    sup = (schema.conform(pd.concat(parts, ignore_index=True), "supervision") if parts
           else schema.empty_frame("supervision"))
    pats = [] if null else truth_patterns(units, pl, end=end)
    return sup, pats


def truth_patterns(units: list[dict], pl: dict, *, end: str) -> list[dict]:
    """The two ``truth["patterns"]`` entries (same keys as the generator's other patterns)."""
    g, d = pl["gap"], pl["drop"]
    gu, du = units[g["unit"]], units[d["unit"]]
    line_zh = schema.label("supervision_line", g["line"])
    gap = {
        "id": "supervision_gap", "type": "supervision_gap",
        "what_zh": f"{gu['unit_name']}近{GAP_MONTHS}个月未开展{line_zh}",
        "entity_type": "unit", "entity_id": gu["unit_code"], "entity_name": gu["unit_name"],
        "keys": {"unit_code": gu["unit_code"]},
        "where": {"unit_code": gu["unit_code"], "line": g["line"]},
        "indicator": f"supervision_volume_{g['line']}",
        "from": str(g["start"]), "to": None,
        "effect": {"line": g["line"], "line_zh": line_zh, "months": GAP_MONTHS},
        "templates": ["supervision_gaps"],
    }
    drop = {
        "id": "correction_adoption_drop", "type": "correction_adoption_drop",
        "what_zh": f"{du['unit_name']}自{d['start']}起纠正侦查活动违法的纠正率明显下降",
        "entity_type": "unit", "entity_id": du["unit_code"], "entity_name": du["unit_name"],
        "keys": {"unit_code": du["unit_code"]},
        "where": {"unit_code": du["unit_code"], "kind": "investigation_correction"},
        "indicator": "supervision_rate_investigation_supervision",
        "from": str(d["start"]), "to": None,
        "effect": {"rate_before": 0.9, "rate_after": d["after"]},
        "templates": ["supervision_gaps"],
    }
    return [gap, drop]


def export(sup: pd.DataFrame, folder) -> list[str]:
    """Write the supervision export as the unified system gives it: GB18030 CSV, Chinese
    headers (each column's ``label_zh``), coded values as their Chinese labels, dates
    ``YYYY-MM-DD``. Returns the paths written."""
    out = {}
    for col in schema.columns("supervision"):
        s = sup[col.name]
        if col.codes:
            lab = {k: v[0] for k, v in schema.CODE_TABLES[col.codes].items()}
            s = s.astype(object).map(lambda v, lab=lab: lab.get(v, v) if isinstance(v, str)
                                     else v)
        elif col.dtype == "date":
            s = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
        out[col.label_zh] = s
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{EXPORT_FILE}.csv"
    pd.DataFrame(out).to_csv(path, index=False, encoding="gb18030")
    return [str(path)]
