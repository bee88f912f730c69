"""How (作案手段): distinctive words of a topic's case summaries, and words that are new in the
period compared with the topic's earlier cases (:mod:`casework.analysis.text` does the
segmentation and the class-based TF–IDF).

Examples
--------
>>> import pandas as pd
>>> c = pd.DataFrame({"in_topic": [True, True, False],
...                   "case_summary": ["以套路贷为名诱骗转账", "套路贷诈骗", "入户盗窃手机"]})
>>> modus_operandi(c, top=1)["term"].tolist()
['套路贷']
"""

from __future__ import annotations

import pandas as pd

from casework.analysis import text
from casework.analysis.topics import has_values, in_period, period_bounds, topic_cases
from casework.base.errors import check_choice


def modus_operandi(cases: pd.DataFrame, *, top: int = 20, examples: int = 2,
                   level: str = "internal") -> pd.DataFrame:
    """How: distinctive words of the topic's case summaries, with example phrases.

    Case summaries are taken once per case (``dept_case_no``, else per row), segmented with
    :func:`casework.analysis.text.tokenize` and scored against the other cases' summaries by
    :func:`casework.analysis.text.distinctive_terms` (class-based TF–IDF).

    Parameters
    ----------
    top : int
        Number of terms.
    examples : int
        Example phrases per term (short snippets of the topic's summaries around the term).
    level : str
        ``internal`` or ``circulated``; case summaries are internal, so a circulated report
        gets the terms without example phrases.

    Returns
    -------
    DataFrame
        The :func:`casework.analysis.text.distinctive_terms` columns plus ``examples_zh`` (snippets
        joined by "；"; empty at the circulated level).

    Examples
    --------
    >>> c = pd.DataFrame({"in_topic": [True, True, False],
    ...                   "case_summary": ["以套路贷为名诱骗转账", "套路贷诈骗",
    ...                                    "入户盗窃手机"]})
    >>> modus_operandi(c, top=1)[["term", "topic_docs", "examples_zh"]].values.tolist()
    [['套路贷', 2, '以套路贷为名诱骗转账；套路贷诈骗']]
    """
    check_choice("level", level, ["internal", "circulated"])
    if not has_values(cases, "case_summary"):
        return text.distinctive_terms(pd.Series([], dtype="string"), pd.Series([], dtype=bool)
                                      ).assign(examples_zh=pd.Series(dtype="string"))
    docs = cases[["case_summary", "in_topic"]].copy()
    if "dept_case_no" in cases.columns and cases["dept_case_no"].notna().any():
        key = cases["dept_case_no"].astype("string").fillna(pd.Series(
            [f"_row{i}" for i in range(len(cases))], index=cases.index, dtype="string"))
        docs = docs.assign(_key=key.to_numpy()).drop_duplicates(["_key",
                                                                 "in_topic"]).drop(columns="_key")
    terms = text.distinctive_terms(docs["case_summary"], docs["in_topic"], top=top)
    topic_texts = docs.loc[docs["in_topic"].to_numpy(),
                           "case_summary"].dropna().astype(str).tolist()
    if level == "internal" and examples > 0:
        terms["examples_zh"] = ["；".join(text.example_phrases(topic_texts, t, n=examples))
                                for t in terms["term"]]
    else:
        terms["examples_zh"] = ""
    return terms


def emerging_terms(
    data: pd.DataFrame,
    *,
    charges=None,
    charge_group=None,
    period=None,
    units=None,
    stage: str = "auto",
    top: int = 10,
    examples: int = 2,
    level: str = "internal",
) -> pd.DataFrame:
    """New modus operandi: words of the topic's summaries in ``period`` that were rare in the
    topic's earlier cases (all cases accepted before the period starts).

    Same scoring as :func:`modus_operandi`, with the topic's own earlier cases as the
    comparison, so the words that set the topic apart from other charges drop out and what
    changed within the topic remains.

    Returns
    -------
    DataFrame
        The :func:`modus_operandi` columns (``other_*`` = the topic's earlier cases); empty
        when there is no period, no dates, or no earlier case. ``attrs["skip_zh"]`` says why.

    Examples
    --------
    >>> df = pd.DataFrame({"stage": "prosecution_review", "charge": "诈骗",
    ...     "accepted_on": pd.to_datetime(["2023-05-01", "2023-06-01", "2024-02-01",
    ...                                    "2024-03-01"]),
    ...     "case_summary": ["谎称办理贷款", "谎称办理贷款", "冒充公检法诱导转账",
    ...                      "冒充公检法索要验证码"]})
    >>> emerging_terms(df, charges="诈骗", period="2024", top=1)["term"].tolist()
    ['冒充公检法']
    """
    check_choice("level", level, ["internal", "circulated"])
    empty = modus_operandi(pd.DataFrame({"in_topic": pd.Series([], dtype=bool)}), level=level)
    bounds = period_bounds(period)
    if bounds is None or not has_values(data, "accepted_on"):
        empty.attrs["skip_zh"] = "数据中没有受理日期或未指定统计期间，无法比较前后作案手段"
        return empty
    cases = topic_cases(data, charges=charges, charge_group=charge_group, units=units, stage=stage)
    cases = cases[cases["in_topic"]]
    accepted = pd.to_datetime(cases["accepted_on"]).dt.normalize()
    recent = in_period(cases["accepted_on"], period)
    earlier = (accepted < bounds[0].normalize()).fillna(False)
    if not earlier.any() or not recent.any():
        empty.attrs["skip_zh"] = "统计期间之前没有本专题案件，无法比较前后作案手段"
        return empty
    sub = cases[(recent | earlier).to_numpy()].copy()
    sub["in_topic"] = recent[(recent | earlier)].to_numpy()
    return modus_operandi(sub, top=top, examples=examples, level=level)
