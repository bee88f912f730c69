"""Chinese findings of the modification audit (历史数据修改审核), computed from the frames of
:mod:`casework.analysis.modifications`.
"""

from __future__ import annotations

import pandas as pd

from casework.analysis.modifications import FLAG_ZH, ensure_log


def describe(flags: pd.DataFrame, modifications: pd.DataFrame) -> str:
    """Chinese Markdown overview of the modification audit for the report: the changes of the
    period and the flags they carry (changes, cases, accounts), all computed.

    Which account has a problem is not said here: only the findings of the account signals
    (:func:`casework.analysis.quality_signals.account_signals`) reach the 存在问题.

    Parameters
    ----------
    flags : DataFrame
        From :func:`casework.analysis.modifications.audit`.
    modifications : DataFrame
        The change log.

    Returns
    -------
    str
        A Markdown bullet list.

    Examples
    --------
    >>> from casework.analysis.modifications import audit
    >>> log = pd.DataFrame({"unit_code": ["1"], "dept_case_no": ["a"], "field": ["gender"],
    ...     "account": ["u1"], "modified_at": pd.to_datetime(["2024-01-03"])})
    >>> print(describe(audit(log, pd.DataFrame({"unit_code": ["1"], "dept_case_no": ["a"],
    ...     "closed_on": pd.NaT})), log))
    - 期间共有修改记录1条，涉及案件1件、账号1个。
    - 未发现审结后修改关键项、上报后修改、集中大量修改或结论反转的情形。
    """
    m = ensure_log(modifications)
    lines = [f"- 期间共有修改记录{len(m):,}条，涉及案件{m['dept_case_no'].nunique():,}件、"
             f"账号{m['account'].nunique():,}个。"]
    if not len(flags):
        lines.append("- 未发现审结后修改关键项、上报后修改、集中大量修改或结论反转的情形。")
        return "\n".join(lines)
    counts = flags.groupby("flag").agg(n=("dept_case_no", "size"),
                                       cases=("dept_case_no", "nunique"),
                                       accounts=("account", "nunique"))
    parts = [f"{FLAG_ZH[f]}{int(counts.loc[f, 'n']):,}条（{int(counts.loc[f, 'cases']):,}件，"
             f"{int(counts.loc[f, 'accounts']):,}个账号）"
             for f in FLAG_ZH if f in counts.index]
    lines.append("- 标记的修改：" + "；".join(parts) + "。各账号的修改及其标记见下表。")
    return "\n".join(lines)


def account_notes(signals: pd.DataFrame) -> pd.DataFrame:
    """Account signals with a ``note`` tying the account to what it changed in the window
    (``近12个月共修改59次，其中审结后修改关键项28次、使结论反转12次``).

    Examples
    --------
    >>> s = pd.DataFrame({"changes": [59], "flagged": [28], "reversals": [12],
    ...                   "window_months": [12]})
    >>> account_notes(s)["note"].tolist()
    ['近12个月共修改59次，其中审结后修改关键项28次、使结论反转12次']
    """
    out = signals.copy()
    notes = []
    for r in out.itertuples():
        text = (f"近{int(r.window_months)}个月共修改{int(r.changes):,}次，"
                f"其中{FLAG_ZH['closed_case_edit']}{int(r.flagged):,}次")
        if int(r.reversals):
            text += f"、使结论反转{int(r.reversals):,}次"
        notes.append(text)
    out["note"] = pd.array(notes, dtype="string")
    return out
