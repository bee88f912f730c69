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

import re
from pathlib import Path

import pandas as pd


def write_xlsx(path: Path, sheets: dict) -> None:
    """Write ``{name: (caption, frame)}`` as an .xlsx workbook at ``path``.

    Sheet names lose the characters Excel forbids (``[]:*?/\\``), are cut to 31 characters and
    made unique ignoring case (``_2``, ``_3`` …). Timezone-aware datetimes are written as
    local times (Excel has no timezones). Cells are written as given: neutralise formula-like
    text first (:func:`casework.notebook.page.safe_for_spreadsheet`).
    """
    used = set()
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
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
            out.to_excel(xw, sheet_name=sheet, index=False)
