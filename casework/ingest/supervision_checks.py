"""Checks of a supervision export (监督事项, issue 20) beyond the checks every table gets.

Errors (nothing is imported): the same 监督事项编号 twice in one unit. Warnings (values kept):
a 反馈日期 before the 监督日期; a result that does not belong to the form of supervision
(改判 on a 纠正违法 notice, 纠正 on a 抗诉 …).

Examples
--------
>>> import numpy as np, pandas as pd
>>> df = pd.DataFrame({"unit_code": ["1", "1"], "matter_no": ["A", "B"],
...     "kind": ["appeal_protest", "investigation_correction"],
...     "result": ["corrected", "corrected"],
...     "started_on": pd.to_datetime(["2024-05-02", "2024-05-02"]),
...     "result_on": pd.to_datetime(["2024-06-01", "2024-04-01"])})
>>> [w.split(" / ")[1] for w in check(df, "x.csv", np.array([2, 3]))]
['x.csv: column result_on: row 3: result before the supervision began (kept)', \
'x.csv: column result: row 2: result does not fit the form of supervision (kept)']
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.ingest.messages import Problem, raise_problems, warn

#: Results that fit each form of supervision (others are kept, with a warning).
RESULTS_OF_KIND = {
    "appeal_protest": {"sentence_changed", "remanded", "upheld", "pending"},
    "retrial_protest": {"sentence_changed", "remanded", "upheld", "pending"},
    **{k: {"corrected", "not_corrected", "pending"}
       for k in ("investigation_correction", "trial_correction", "execution_correction")},
    **{k: {"adopted", "not_adopted", "pending"}
       for k in ("request_reasons", "notice_to_file", "request_withdrawal",
                 "custody_suggestion", "suggestion")},
}


def check(df: pd.DataFrame, name: str, rows: np.ndarray) -> list[str]:
    """Raise on duplicated matter numbers; return warnings about kept values."""
    if {"unit_code", "matter_no"} <= set(df.columns):
        key = df[["unit_code", "matter_no"]].astype("string")
        dup = (key.duplicated(keep=False) & key["matter_no"].notna()).to_numpy()
        if dup.any():
            raise_problems(name, "supervision", [Problem(
                "matter_no", rows[dup], "的监督事项编号在同一单位内重复",
                "the same supervision matter number twice in one unit")])
    out = []
    if {"started_on", "result_on"} <= set(df.columns):
        s = pd.to_datetime(df["started_on"]).to_numpy()
        r = pd.to_datetime(df["result_on"]).to_numpy()
        bad = ~np.isnat(s) & ~np.isnat(r) & (r < s)
        if bad.any():
            out.append(warn(name, "supervision", "result_on", rows[bad], "的反馈日期早于监督日期",
                            "result before the supervision began"))
    if {"kind", "result"} <= set(df.columns):
        bad = np.array([isinstance(k, str) and isinstance(v, str)
                        and v not in RESULTS_OF_KIND.get(k, {v})
                        for k, v in zip(df["kind"].astype(object), df["result"].astype(object))],
                       dtype=bool)
        if bad.any():
            out.append(warn(name, "supervision", "result", rows[bad],
                            "的监督结果与监督方式不符",
                            "result does not fit the form of supervision"))
    return out
