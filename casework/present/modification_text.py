"""Chinese findings of the modification audit (历史数据修改审核), computed from the frames of
:mod:`casework.analysis.modifications`.
"""

from __future__ import annotations

import pandas as pd

from casework.analysis.modifications import FLAG_ZH, account_flags, ensure_log
from casework.base.errors import check_choice


def describe(flags: pd.DataFrame, modifications: pd.DataFrame, *,
             accounts: pd.DataFrame | None = None, level: str = "internal") -> str:
    """Chinese Markdown findings of the modification audit, computed from the flags.

    Parameters
    ----------
    flags : DataFrame
        From :func:`audit`.
    modifications : DataFrame
        The change log.
    accounts : DataFrame, optional
        :func:`account_flags` for ``closed_case_edit`` (computed when omitted).
    level : {"internal", "circulated"}
        Accounts are named only at the ``internal`` level.

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
    check_choice("level", level, ["internal", "circulated"])
    m = ensure_log(modifications)
    lines = [f"- 期间共有修改记录{len(m):,}条，涉及案件{m['dept_case_no'].nunique():,}件、"
             f"账号{m['account'].nunique():,}个。"]
    if not len(flags):
        lines.append("- 未发现审结后修改关键项、上报后修改、集中大量修改或结论反转的情形。")
        return "\n".join(lines)
    counts = flags.groupby("flag").agg(n=("dept_case_no", "size"),
                                       cases=("dept_case_no", "nunique"))
    parts = [f"{FLAG_ZH[f]}{int(counts.loc[f, 'n']):,}条（{int(counts.loc[f, 'cases']):,}件）"
             for f in FLAG_ZH if f in counts.index]
    lines.append("- 标记的修改：" + "；".join(parts) + "。")
    if accounts is None:
        accounts = account_flags(flags, m, flag="closed_case_edit")
    flagged = accounts[accounts["flagged"]] if len(accounts) else accounts
    for i, r in enumerate(flagged.itertuples(), start=1):
        who = f"账号{r.account}" if level == "internal" else f"账号{i}"
        lines.append(
            f"- 存在问题：{who}审结后修改关键项{r.numerator:,}次，占其全部修改的{r.value:.1%}，"
            f"明显高于各账号总体的{r.target:.1%}（超出99.8%控制限）。"
            f"原因分析与对策建议（请分析员补充）：逐条核实修改依据与审批手续。")
    if "burst" in counts.index:
        b = flags[flags["flag"] == "burst"]
        days = b["modified_at"].dt.normalize().nunique()
        lines.append(f"- 存在问题：{b['account'].nunique():,}个账号在{days:,}"
                     f"天内出现集中大量修改，共{len(b):,}条，请核实是否为批量更正并有审批记录。")
    if "reversal" in counts.index:
        lines.append(f"- 存在问题：{int(counts.loc['reversal', 'n']):,}条修改使案件结论反转"
                     f"（如不起诉与起诉互改），须逐条核实。")
    return "\n".join(lines)
