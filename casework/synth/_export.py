"""Exports as the unified system produces them: one GB18030 CSV per stage with Chinese headers,
the modification log, and the same as ``.xlsx``.

Format (the importer relies on exactly this): headers are each column's ``label_zh``; coded
values are shown as their Chinese labels (:func:`casework.model.schema.label`); booleans 是/否; the
``charges`` list joined with the full-width semicolon ``；``; dates mostly ``2024-05-03`` with
some rows as ``2024/5/3`` or ``2024年5月3日``; date-times ``2024-05-03 14:20:00`` (some
``2024/5/3 14:20:00``); case numbers occasionally with 〔〕 or full-width ［］ brackets.

The xlsx files are written by a small streaming writer (inline strings, numeric cells for
numbers) because a cell-by-cell library writer is far too slow for tens of thousands of rows.
"""

from __future__ import annotations

import io
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from casework.model import schema
from casework.synth import _text as X

STAGE_FILES = {"arrest_review": "审查逮捕案件", "prosecution_review": "审查起诉案件"}
MODS_FILE = "案卡修改日志"
#: xlsx copies are written up to this many rows per file (CSV only beyond: Excel is
#: impractical for larger sheets and its hard limit is 1,048,576 rows).
XLSX_MAX_ROWS = 200_000

_PR_ONLY = ["procedure", "supplementary_investigation", "review_extension", "withdrawal",
            "recommendation_type", "recommended_penalty", "recommended_term_months",
            "recommended_probation", "court", "judgment_on", "principal_penalty", "term_months",
            "probation", "probation_months", "fine", "recommendation_adopted",
            "circumstances_judgment", "judgment_changed_circumstances", "appeal", "protest"]
_AR_ONLY = ["arrested_on", "measure_changed_on", "measure_after_change"]


def stage_columns(stage):
    """Canonical columns written to the export of ``stage`` (in schema order)."""
    drop = _PR_ONLY if stage == "arrest_review" else _AR_ONLY
    return [c for c in schema.column_names("records") if c not in drop]


def _fmt_dates(ts, style, with_time):
    """Render a timestamp array; ``style`` 0 ISO, 1 slash, 2 Chinese (dates only)."""
    iso = pc.cast(ts, X.STR) if with_time else pc.cast(pc.cast(ts, pa.date32()), X.STR)
    alt = (style == 1 if with_time else style != 0) & ~np.asarray(pc.is_null(ts))
    if not alt.any():
        return iso
    sub = ts.filter(pa.array(alt))
    y = pc.cast(pc.year(sub), X.STR)
    m = pc.cast(pc.month(sub), X.STR)
    d = pc.cast(pc.day(sub), X.STR)
    slash = X.cat(y, "/", m, "/", d)
    if with_time:
        repl = X.cat(slash, " ", pc.utf8_slice_codeunits(pc.cast(sub, X.STR), 11, 19))
    else:
        repl = X.where(style[alt] == 1, slash, X.cat(y, "年", m, "月", d, "日"))
    return pc.replace_with_mask(iso, pa.array(alt), repl)


def _fmt_num(values):
    f = np.asarray(values, dtype=float)
    nan = np.isnan(f)
    integral = ~nan & (np.abs(f - np.round(f)) < 1e-9)
    as_int = X.num(np.where(integral, np.round(f), 0))
    as_dec = pc.cast(pa.array(np.round(np.where(nan, 0, f), 2)), X.STR)
    out = X.where(integral, as_int, as_dec)
    return pc.if_else(pa.array(nan), pa.scalar(None, X.STR), out)


def _labels(arr, table):
    codes = list(table)
    idx = pc.index_in(arr, value_set=pa.array(codes, X.STR))
    return pc.coalesce(X.pool([table[c][0] for c in codes]).take(idx), arr)


def display_columns(df, columns, rng, *, table="records"):
    """Render canonical rows as an export shows them: ``{Chinese header: Arrow string array}``."""
    n = len(df)
    style = np.where(rng.random(n) < 0.85, 0, np.where(rng.random(n) < 0.65, 1, 2))
    bracket = rng.random(n)
    out = {}
    for name in columns:
        col = schema.column(table, name)
        s = df[name]
        if col.dtype == "list":
            lists = pa.array(s.tolist(), type=pa.list_(X.STR))
            out[col.label_zh] = pc.binary_join(lists, pa.scalar("；", X.STR))
        elif col.dtype in ("date", "datetime"):
            ts = pa.array(s.to_numpy(dtype="datetime64[s]"))
            out[col.label_zh] = _fmt_dates(ts, style, col.dtype == "datetime")
        elif col.dtype == "bool":
            out[col.label_zh] = pc.if_else(X.arrow_of(s.astype("boolean")), pa.scalar("是", X.STR),
                                           pa.scalar("否", X.STR))
        elif col.dtype in ("int", "float"):
            out[col.label_zh] = _fmt_num(s.to_numpy(dtype=float, na_value=np.nan))
        elif col.codes and col.codes != "charge":
            out[col.label_zh] = _labels(X.arrow_of(s).cast(X.STR), schema.CODE_TABLES[col.codes])
        else:
            v = X.arrow_of(s).cast(X.STR)
            if name == "dept_case_no":
                alt1 = pc.replace_substring(pc.replace_substring(v, "[", "〔"), "]", "〕")
                alt2 = pc.replace_substring(pc.replace_substring(v, "[", "［"), "]", "］")
                v = X.where(bracket < 0.05, alt1, X.where(bracket < 0.08, alt2, v))
            out[col.label_zh] = v
    return out


def display_modifications(mods, rng):
    """The change log as exported: 修改项 as the item's Chinese label, values as labels."""
    n = len(mods)
    style = np.where(rng.random(n) < 0.9, 0, 1)
    fields = mods["field"].astype(object).to_numpy()
    old = mods["old_value"].astype(object).to_numpy().copy()
    new = mods["new_value"].astype(object).to_numpy().copy()
    item = np.empty(n, dtype=object)
    for f in pd.unique(fields):
        m = fields == f
        col = schema.column("records", f)
        item[m] = col.label_zh
        if col.dtype == "bool":
            lab = {"true": "是", "false": "否"}
        elif col.codes and col.codes != "charge":
            lab = {k: v[0] for k, v in schema.CODE_TABLES[col.codes].items()}
        else:
            continue
        old[m] = pd.Series(old[m]).replace(lab).to_numpy()
        new[m] = pd.Series(new[m]).replace(lab).to_numpy()
    lab = {c.name: c.label_zh for c in schema.columns("modifications")}
    blank = lambda a: X.from_objects(np.where(a == "", None, a))  # noqa: E731
    return {
        lab["unit_code"]: X.arrow_of(mods["unit_code"]).cast(X.STR),
        lab["dept_case_no"]: X.arrow_of(mods["dept_case_no"]).cast(X.STR),
        lab["person_id"]: X.arrow_of(mods["person_id"]).cast(X.STR),
        lab["field"]: X.from_objects(item),
        lab["old_value"]: blank(old),
        lab["new_value"]: blank(new),
        lab["account"]: X.arrow_of(mods["account"]).cast(X.STR),
        lab["modified_at"]: _fmt_dates(
            pa.array(mods["modified_at"].to_numpy(dtype="datetime64[s]")), style, True
        ),
    }


def _csv_bytes(columns, header):
    table = pa.table(columns)
    buf = io.BytesIO()
    pacsv.write_csv(
        table, buf, write_options=pacsv.WriteOptions(include_header=header, quoting_style="needed")
    )
    return buf.getvalue().decode("utf-8").encode("gb18030")


# ---------------------------------------------------------------------------------------------
# Streaming xlsx writer
# ---------------------------------------------------------------------------------------------


def _concat_utf8(arr):
    """All strings of a pyarrow string array, concatenated, as UTF-8 bytes (no Python loop)."""
    arr = arr.cast(pa.large_string()) if arr.type != pa.large_string() else arr
    buffers = arr.buffers()
    offsets = np.frombuffer(buffers[1], dtype=np.int64)[arr.offset:arr.offset + len(arr) + 1]
    data = buffers[2]
    return bytes(memoryview(data)[offsets[0]:offsets[-1]])


def _col_letters(n):
    out = []
    for i in range(n):
        s, k = "", i + 1
        while k:
            k, r = divmod(k - 1, 26)
            s = chr(65 + r) + s
        out.append(s)
    return out


class _XlsxSheet:
    """Rows appended to a temporary sheet body; :meth:`save` wraps it into an .xlsx."""

    def __init__(self, path, headers, numeric):
        self.path = Path(path)
        self.headers = list(headers)
        self.numeric = set(numeric)
        self.letters = _col_letters(len(self.headers))
        fd, self.tmp = tempfile.mkstemp(suffix=".xml", dir=self.path.parent)
        self.fh = os.fdopen(fd, "wb")
        self.row = 0
        self.add({h: pa.array([h], X.STR) for h in self.headers}, header=True)

    def add(self, frame, header=False):
        n = len(next(iter(frame.values())))
        if n == 0:
            return
        rows = X.num(np.arange(self.row + 1, self.row + n + 1))
        cells = []
        for j, name in enumerate(self.headers):
            txt = frame[name]
            if txt.null_count == len(txt):
                continue
            ref = X.cat(self.letters[j], rows)
            if name in self.numeric and not header:
                cell = X.cat('<c r="', ref, '"><v>', txt, "</v></c>")
            else:
                esc = txt
                for ch, ent in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;")):
                    if pc.any(pc.match_substring(esc, ch)).as_py():
                        esc = pc.replace_substring(esc, ch, ent)
                cell = X.cat('<c r="', ref, '" t="inlineStr"><is><t>', esc, "</t></is></c>")
            cells.append(cell)
        body = pc.binary_join_element_wise(
            *[X._lit(p) for p in ('<row r="', rows, '">', *cells, "</row>")],
            pa.scalar("", X.STR),
            null_handling="replace",
            null_replacement="",
        )
        arr = body.combine_chunks() if isinstance(body, pa.ChunkedArray) else body
        self.fh.write(_concat_utf8(arr))
        self.row += n

    def save(self):
        self.fh.close()
        head = ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                '<sheetData>')
        tail = "</sheetData></worksheet>"
        sheet_name = self.path.stem[:31]
        files = {
            "[Content_Types].xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" '
                'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                "</Types>"
            ),
            "_rels/.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                "</Relationships>"
            ),
            "xl/workbook.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>'
            ),
            "xl/_rels/workbook.xml.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                "</Relationships>"
            ),
        }
        tmp_zip = self.path.with_suffix(".xlsx.part")
        with zipfile.ZipFile(
            tmp_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1
        ) as zf:
            for name, text in files.items():
                zf.writestr(name, text)
            with (
                zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out,
                open(self.tmp, "rb") as src,
            ):
                out.write(head.encode("utf-8"))
                while chunk := src.read(1 << 22):
                    out.write(chunk)
                out.write(tail.encode("utf-8"))
        os.replace(tmp_zip, self.path)
        os.unlink(self.tmp)

    def discard(self):
        self.fh.close()
        os.unlink(self.tmp)


class Exporter:
    """Accumulates units into the export files (CSV appended per unit; xlsx streamed)."""

    def __init__(self, exp_dir, *, seed, xlsx=True):
        self.dir = Path(exp_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(10**6, 9)))
        self.xlsx = xlsx
        self.sheets = {}
        self.rows = {}
        self.files = []

    def _write(self, key, frame, numeric):
        csv = self.dir / f"{key}.csv"
        first = key not in self.rows
        with open(csv, "wb" if first else "ab") as fh:
            fh.write(_csv_bytes(frame, header=first))
        self.rows[key] = self.rows.get(key, 0) + len(next(iter(frame.values())))
        if self.xlsx:
            if first:
                self.sheets[key] = _XlsxSheet(self.dir / f"{key}.xlsx", list(frame), numeric)
            sheet = self.sheets.get(key)
            if sheet is not None:
                if self.rows[key] > XLSX_MAX_ROWS:  # beyond one Excel sheet: CSV only
                    sheet.discard()
                    self.sheets[key] = None
                else:
                    sheet.add(frame)

    def add(self, records, modifications, *, first=False):
        stages = records["stage"].to_numpy(dtype=object)
        for stage, key in STAGE_FILES.items():
            idx = np.flatnonzero(stages == stage)
            if len(idx) and idx[-1] - idx[0] + 1 == len(idx):
                part = records.iloc[idx[0]:idx[-1] + 1]  # contiguous: no copy
            else:
                part = records.iloc[idx]
            cols = stage_columns(stage)
            numeric = [schema.column("records", c).label_zh for c in cols
                       if schema.column("records", c).dtype in ("int", "float")]
            self._write(key, display_columns(part, cols, self.rng), numeric)
        self._write(MODS_FILE, display_modifications(modifications, self.rng), [])

    def finish(self):
        """Close the xlsx files; returns the paths written."""
        files = []
        for key in list(STAGE_FILES.values()) + [MODS_FILE]:
            if key in self.rows:
                files.append(str(self.dir / f"{key}.csv"))
            sheet = self.sheets.get(key)
            if sheet is not None:
                sheet.save()
                files.append(str(self.dir / f"{key}.xlsx"))
        return files
