"""Shared argument checks: the one place that says "this frame lacks these columns" and the
one way a ``by=`` argument becomes a list of key columns.

Examples
--------
>>> import pandas as pd
>>> as_keys("unit_code"), as_keys(("unit_code", "department")), as_keys(None)
(['unit_code'], ['unit_code', 'department'], [])
>>> require_columns(pd.DataFrame({"a": [1]}), ["a"], "示例")
>>> require_columns(pd.DataFrame({"a": [1]}), ["a", "b"], "示例")
Traceback (most recent call last):
...
casework.base.checks.MissingColumnsError: 示例缺少列：b；现有列：a
示例: missing column(s) b; the frame has a
→ 检查输入表的列名 / check the column names of the input frame
"""

from __future__ import annotations

from casework.base.errors import DataError, ParameterError

#: At most this many existing columns are listed in the message.
_SHOWN_COLUMNS = 30


class MissingColumnsError(DataError, ParameterError):
    """A frame handed to a function lacks required columns.

    Both a :class:`DataError` (the data do not fit) and a :class:`ParameterError` (the caller
    passed the wrong frame or column name), so callers may catch either.
    """


def require_columns(data, cols, what: str) -> None:
    """Raise :class:`MissingColumnsError` unless every column of ``cols`` is in ``data``.

    Parameters
    ----------
    data : DataFrame
    cols : iterable of str
        Required columns; ``None`` entries (optional arguments left out) are ignored.
    what : str
        What the frame is for, in Chinese (the start of the message), e.g. ``"漏斗图数据"``.
    """
    missing = [str(c) for c in cols if c is not None and c not in data.columns]
    if not missing:
        return
    have = [str(c) for c in data.columns]
    shown = ", ".join(have[:_SHOWN_COLUMNS]) + (" …" if len(have) > _SHOWN_COLUMNS else "")
    raise MissingColumnsError(
        f"{what}缺少列：{', '.join(missing)}；现有列：{shown}",
        f"{what}: missing column(s) {', '.join(missing)}; the frame has {shown}",
        hint="检查输入表的列名 / check the column names of the input frame",
    )


def as_keys(by) -> list[str]:
    """A ``by=`` argument (None, one column name or a sequence of names) as a list of names."""
    if by is None:
        return []
    if isinstance(by, str):
        return [by]
    return list(by)
