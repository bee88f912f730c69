"""Bilingual messages of the importer: row lists, examples, column labels, the one error.

Every problem the importer finds is reported in Chinese and English, naming the file, the
column (with its Chinese label) and up to :data:`MAX_ROWS_LISTED` row numbers as the user sees
them. :func:`raise_problems` turns the problems of one file into one
:class:`~casework.base.errors.DataError`; :func:`warn` formats a warning about kept values.

Examples
--------
>>> rows_zh([5, 3, 3]), rows_en([5, 3])
('第 3、5 行', 'rows 3, 5')
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from casework.base.errors import DataError
from casework.model import schema

#: Row numbers listed in one error or warning.
MAX_ROWS_LISTED = 20


def rows_zh(rows) -> str:
    """Row numbers in Chinese (sorted, unique, at most :data:`MAX_ROWS_LISTED` shown)."""
    rows = sorted(set(int(r) for r in rows))
    shown = "、".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" 等，共 {len(rows):,} 行" if len(rows) > MAX_ROWS_LISTED else ""
    return f"第 {shown} 行{more}"


def rows_en(rows) -> str:
    """Row numbers in English (sorted, unique, at most :data:`MAX_ROWS_LISTED` shown)."""
    rows = sorted(set(int(r) for r in rows))
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" … ({len(rows):,} rows in all)" if len(rows) > MAX_ROWS_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def examples(values, k: int = 3) -> str:
    """Up to ``k`` distinct example values, quoted and shortened, for a message."""
    out = []
    for v in values:
        if v is None:
            continue
        text = str(v)
        text = text if len(text) <= 40 else text[:37] + "…"
        if repr(text) not in out:
            out.append(repr(text))
        if len(out) >= k:
            break
    return ", ".join(out)


def _col_label(table: str, name: str) -> str:
    try:
        return f"「{schema.column(table, name).label_zh}」({name})"
    except KeyError:
        return name


@dataclass
class Problem:
    """One problem of a file: a column, the user-visible rows, what is wrong (zh, en)."""

    column: str
    rows: np.ndarray
    zh: str
    en: str
    examples: str = ""


def raise_problems(name: str, table: str, problems: list[Problem]) -> None:
    """Raise every problem of file ``name`` as one bilingual :class:`DataError`."""
    zh_lines, en_lines = [], []
    for k, p in enumerate(problems, 1):
        ex = f"（如 {p.examples}）" if p.examples else ""
        ex_en = f" (e.g. {p.examples})" if p.examples else ""
        label = _col_label(table, p.column)
        zh_lines.append(f"{k}. 列{label}：{rows_zh(p.rows)}{p.zh}{ex}")
        en_lines.append(f"{k}. column {p.column}: {rows_en(p.rows)}: {p.en}{ex_en}")
    n = len(problems)
    raise DataError(
        f"文件 {name} 有 {n} 处数据不符合要求，未导入任何数据：\n" + "\n".join(zh_lines),
        f"{name}: {n} problem{'s' if n > 1 else ''} in the data; nothing was imported:\n"
        + "\n".join(en_lines),
        hint="改正源文件中这些行后重新导入（源文件不会被本程序修改）/ correct these rows in "
             "the export and "
             "import again (casework never modifies the source file)",
    )


def file_error(path: Path, zh: str, en: str, hint: str | None = None) -> DataError:
    """A :class:`DataError` about the file at ``path`` (message prefixed with its name)."""
    return DataError(f"文件 {path.name}：{zh}", f"{path.name}: {en}", hint=hint)


def warn(name, table, col, rows, zh, en) -> str:
    """A bilingual warning about values that were kept, naming file, column and rows."""
    label = _col_label(table, col) if col else ""
    return (f"{name}：列{label}：{rows_zh(rows)}{zh}（已保留） / "
            f"{name}: column {col}: {rows_en(rows)}: {en} (kept)")
