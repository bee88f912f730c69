"""Excel workbooks of tables: one sheet per table, sheet names made valid and unique.

Used by :func:`casework.notebook.page.provenance` (``tables.xlsx`` beside every report),
:func:`casework.notebook.page.attachment` (case lists) and the runner's fallback when a
template stopped before its provenance cell.

Examples
--------
>>> import tempfile, pathlib
>>> import pandas as pd
>>> path = pathlib.Path(tempfile.mkdtemp()) / "t.xlsx"
>>> write_xlsx(path, {"by/stage": ("按环节", pd.DataFrame({"n": [1]})),
...                   "BY/STAGE": ("again", pd.DataFrame({"n": [2]}))})
>>> pd.ExcelFile(path).sheet_names
['by_stage', 'BY_STAGE_2']
"""

from __future__ import annotations

import datetime
import re
from decimal import Decimal
from functools import partial
from pathlib import Path

import pandas as pd
from pandas.api.types import is_bool, is_float, is_integer, is_scalar

#: Number formats of date and time cells (those pandas' Excel writer uses).
_DATETIME_FORMAT = "YYYY-MM-DD HH:MM:SS"
_DATE_FORMAT = "YYYY-MM-DD"


def write_xlsx(path: Path, sheets: dict) -> None:
    """Write ``{name: (caption, frame)}`` as an .xlsx workbook at ``path``.

    Sheet names lose the characters Excel forbids (``[]:*?/\\``), are cut to 31 characters and
    made unique ignoring case (``_2``, ``_3`` …). Timezone-aware datetimes are written as
    local times (Excel has no timezones). Cells are written as given: neutralise formula-like
    text first (:func:`casework.notebook.page.safe_for_spreadsheet`).

    Notes
    -----
    The cells are those of ``DataFrame.to_excel(index=False)`` with openpyxl (header row of
    column names, missing values as empty text, ±inf as ``inf``, dates with pandas' number
    formats), streamed by openpyxl's write-only workbook: several times faster on case lists
    of thousands of rows.
    """
    from openpyxl import Workbook  # heavy: only when a workbook is written
    from openpyxl.cell import WriteOnlyCell  # heavy: only when a workbook is written

    used = set()
    book = Workbook(write_only=True)
    for name, (_caption, frame) in sheets.items():
        sheet = re.sub(r"[\[\]:*?/\\]", "_", name)[:31] or "sheet"
        base, i = sheet, 2
        while sheet.lower() in used:
            sheet = f"{base[:28]}_{i}"
            i += 1
        used.add(sheet.lower())
        out = frame.copy()
        for col in out.columns:  # Excel has no timezone-aware datetimes
            if isinstance(out[col].dtype, pd.DatetimeTZDtype):
                out[col] = out[col].dt.tz_localize(None)
        if isinstance(out.columns, pd.MultiIndex):
            raise NotImplementedError("write_xlsx: MultiIndex columns are not supported")
        ws = book.create_sheet(title=sheet)
        styled = partial(WriteOnlyCell, ws)  # a cell with a number format
        if len(out.columns):
            ws.append([_cell(styled, v) for v in out.columns])
            columns = [_column(styled, out.iloc[:, j]) for j in range(out.shape[1])]
            for row in zip(*columns):
                ws.append(row)
    book.save(path)


def _column(styled, values: pd.Series) -> list:
    """A column's cell values (:func:`_cell` of each; text columns at once)."""
    if isinstance(values.dtype, pd.StringDtype):  # str / string: text, missing as ""
        return values.astype(object).where(values.notna(), "").tolist()
    return [_cell(styled, v) for v in values]


def _cell(styled, val):
    """One value as pandas' Excel writer turns it into a cell value (and number format)."""
    if is_scalar(val) and pd.isna(val):
        return ""
    if is_float(val) and val in (float("inf"), float("-inf")):
        return "inf" if val > 0 else "-inf"
    fmt = None
    if is_integer(val):
        val = int(val)
    elif is_float(val):
        val = float(val)
    elif is_bool(val):
        val = bool(val)
    elif isinstance(val, Decimal):
        val = Decimal(val)
    elif isinstance(val, datetime.datetime):
        fmt = _DATETIME_FORMAT
    elif isinstance(val, datetime.date):
        fmt = _DATE_FORMAT
    elif isinstance(val, datetime.timedelta):
        val, fmt = val.total_seconds() / 86400, "0"
    else:
        val = str(val)
    if fmt is None:
        return val
    cell = styled(value=val)
    cell.number_format = fmt
    return cell
