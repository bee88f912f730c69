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

import re

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


#: Functions a user expression may never call: they read files, scan other databases, run
#: another query or reveal the environment (an indicator or a quality rule is an expression
#: over the data it is given, nothing else).
FORBIDDEN_FUNCTIONS = re.compile(
    r"^(read_\w+|\w+_scan|scan_\w+|glob|parquet_\w+|sniff_csv|query|query_table|getenv|"
    r"current_setting|duckdb_\w+|pragma_\w+|iceberg_\w+|delta_\w+|which_secret|"
    r"load|install|attach|detach|copy|export|import|http\w*|s3\w*|range|generate_series|"
    r"repeat|unnest|json_execute_serialized_sql|sql_auto_complete)$", re.IGNORECASE)

#: Keywords that would turn an expression into a query or a statement.
FORBIDDEN_KEYWORDS = frozenset({"select", "from", "with", "pragma", "attach", "copy", "install",
                                "load", "set", "create", "insert", "update", "delete", "drop",
                                "call", "export", "import", "alter", "values", "table"})


def check_expression(text, what: str) -> str:
    """Refuse a user SQL expression that reads files, runs a query or leaves the expression.

    Used for indicator expressions (:mod:`casework.analysis.indicators`) and quality rule
    conditions (:mod:`casework.analysis.quality_rules`): both are parsed with DuckDB's
    tokenizer and rejected when they call a table function or a file reader (``read_parquet``,
    ``read_csv``, ``glob``, ``query`` …), ``getenv``, or hold a sub-query or a second statement.

    Examples
    --------
    >>> check_expression("count(*) FILTER (WHERE decision = 'non_arrest')", "指标 x")
    "count(*) FILTER (WHERE decision = 'non_arrest')"
    >>> check_expression("(SELECT 1 FROM read_csv('/etc/hostname'))", "x")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: x 的表达式不允许使用 SELECT...
    x: the expression may not use SELECT (an expression over the data it is given; ...
    """
    import duckdb  # heavy: loaded only when a user expression is checked

    text = str(text)
    try:
        tokens = duckdb.tokenize(text)
    except Exception as err:  # noqa: BLE001 — the tokenizer's own errors
        raise ParameterError(f"{what} 的表达式无法解析：{err}",
                             f"{what}: the expression cannot be parsed: {err}") from None
    starts = [t[0] for t in tokens] + [len(text)]
    words = [(text[starts[i]:starts[i + 1]].strip(), str(tokens[i][1]).rsplit(".", 1)[-1])
             for i in range(len(tokens))]
    for i, (word, kind) in enumerate(words):
        low = word.lower()
        bad = None
        if kind == "keyword" and low in FORBIDDEN_KEYWORDS:
            bad = word.upper()
        elif kind == "operator" and ";" in word:
            bad = ";"
        elif (kind in ("identifier", "keyword") and FORBIDDEN_FUNCTIONS.match(low.strip('"'))
              and i + 1 < len(words) and words[i + 1][0].startswith("(")):
            bad = f"{word}()"
        if bad is not None:
            raise ParameterError(
                f"{what} 的表达式不允许使用 {bad}（只能是对给定数据的表达式，"
                "不能读取文件或执行其他查询）",
                f"{what}: the expression may not use {bad} (an expression over the data it is "
                "given; it may not read files or run other queries)")
    return text
