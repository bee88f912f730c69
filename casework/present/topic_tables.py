"""Display helpers of the special-topic reports (专题分析): bullet lists, display tables and
small-cell protection options for the tables of :mod:`casework.analysis.topics`.

Examples
--------
>>> from casework.present.topic_tables import as_markdown
>>> print(as_markdown(["共5人。"]))
- 共5人。
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def as_markdown(lines) -> str:
    """Sentences as a Markdown bullet list (for ``page.md``); empty input gives an empty string.

    Examples
    --------
    >>> print(as_markdown(["共5人。", "上升。"]))
    - 共5人。
    - 上升。
    """
    return "\n".join(f"- {line}" for line in lines)


def for_display(df: pd.DataFrame) -> pd.DataFrame:
    """A result table as a report shows it: code columns dropped where a Chinese twin exists
    (``band`` beside ``band_zh``, ``term`` beside ``term_zh`` …), plus ``t_years`` and
    ``upper``; infinite values (a lift when a word never occurs outside the topic) shown as
    missing. The computed frame itself is unchanged.

    Examples
    --------
    >>> df = pd.DataFrame({"band": ["life"], "band_zh": ["无期徒刑"], "n": [2],
    ...                    "lift": [float("inf")]})
    >>> for_display(df).columns.tolist(), bool(for_display(df)["lift"].isna().all())
    (['band_zh', 'n', 'lift'], True)
    """
    drop = [c for c in df.columns
            if (f"{c}_zh" in df.columns) or (c in ("t_years", "upper"))]
    out = df.drop(columns=drop)
    num = out.select_dtypes("number").columns
    if len(num):
        out[num] = out[num].replace([np.inf, -np.inf], np.nan)
    return out


#: Person (or case) counts in the topic tables: suppressed below 5 at the circulated level.
COUNT_COLUMNS = ("n", "numerator", "denominator", "topic_n", "other_n", "all_n", "topic_docs",
                 "other_docs", "persons", "recorded", "charge_n", "deviation_n", "total",
                 "heavier", "lighter")


#: Integer columns that are not person counts (ranks, numbers of groups, months).
NOT_COUNTS = ("rank", "groups", "top_n", "months", "upper")


def protection(df: pd.DataFrame) -> dict:
    """Small-cell protection options for ``page.table(df, ..., **protection(df))``.

    ``counts``: the person/case count columns of the topic tables; ``dependent``: every other
    numeric column (shares, residuals, medians, scores — blanked where a count in the row is
    suppressed, so they cannot give it away); ``within``: ``dimension_zh`` for stacked
    contrast tables (each dimension is its own sub-table). Only used at the circulated level.

    Examples
    --------
    >>> t = pd.DataFrame({"dimension_zh": ["性别"], "category_zh": ["男"], "topic_n": [3],
    ...                   "topic_share": [0.5], "rank": [1]})
    >>> protection(t)
    {'counts': ['topic_n'], 'dependent': ['topic_share'], 'within': ['dimension_zh']}
    """
    counts = [c for c in df.columns if c in COUNT_COLUMNS]
    dependent = [c for c in df.columns
                 if c not in counts and c not in NOT_COUNTS
                 and pd.api.types.is_numeric_dtype(df[c])
                 and not pd.api.types.is_bool_dtype(df[c])]
    within = ["dimension_zh"] if "dimension_zh" in df.columns else None
    return {"counts": counts, "dependent": dependent, "within": within}
