"""Exports as the unified system produces them: one GB18030 CSV per stage with Chinese headers,
the modification log, and the same as ``.xlsx``.

Format (the importer relies on exactly this): headers are each column's ``label_zh``; coded
values are shown as their Chinese labels (:func:`casework.schema.label`); booleans 是/否; the
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

from casework import schema

STAGE_FILES = {"arrest_review": "审查逮捕案件", "prosecution_review": "审查起诉案件"}
MODS_FILE = "案卡修改日志"
XLSX_MAX_ROWS = 1_048_575

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


def _obj(s):
    return s.astype(object).where(s.notna(), None).to_numpy()


def _fmt_dates(values, style, with_time):
    """Render datetime64 values; ``style`` 0 ISO, 1 slash, 2 Chinese (dates only)."""
    v = np.asarray(values).astype("datetime64[s]")
    nat = np.isnat(v)
    iso = np.datetime_as_string(v, unit="s").astype(object)  # 2024-05-03T14:20:00
    ymd = np.datetime_as_string(v.astype("datetime64[D]"), unit="D").astype(object)
    y = np.strings.slice(ymd.astype(str), 0, 4).astype(object)
    m = np.strings.lstrip(np.strings.slice(ymd.astype(str), 5, 7), "0").astype(object)
    d = np.strings.lstrip(np.strings.slice(ymd.astype(str), 8, 10), "0").astype(object)
    hms = np.strings.slice(iso.astype(str), 11, 19).astype(object)
    if with_time:
        out = np.where(style == 1, y + "/" + m + "/" + d + " " + hms, ymd + " " + hms)
    else:
        out = np.where(style == 1, y + "/" + m + "/" + d, np.where(style == 2, y + "年" + m + "月" + d + "日", ymd))
    return np.where(nat, None, out)


def _fmt_num(values):
    f = pd.to_numeric(pd.Series(values), errors="coerce").astype(float).to_numpy()
    nan = np.isnan(f)
    integral = ~nan & (np.abs(f - np.round(f)) < 1e-9)
    as_int = np.where(integral, np.round(f), 0).astype(np.int64).astype(str).astype(object)
    as_dec = np.round(np.where(nan, 0, f), 2).astype(str).astype(object)
    return np.where(nan, None, np.where(integral, as_int, as_dec))


def display_frame(df, columns, rng, *, table="records"):
    """Render canonical rows as an export shows them (all values strings or None)."""
    n = len(df)
    style = np.where(rng.random(n) < 0.85, 0, np.where(rng.random(n) < 0.65, 1, 2))
    bracket = rng.random(n)
    out = {}
    for name in columns:
        col = schema.column(table, name)
        s = df[name]
        if col.dtype == "list":
            out[col.label_zh] = np.where(s.isna(), None, s.str.join("；").astype(object))
        elif col.dtype in ("date", "datetime"):
            out[col.label_zh] = _fmt_dates(s.to_numpy(dtype="datetime64[s]"), style, col.dtype == "datetime")
        elif col.dtype == "bool":
            v = _obj(s)
            out[col.label_zh] = np.where(pd.isna(v), None, np.where(v == True, "是", "否"))  # noqa: E712
        elif col.dtype in ("int", "float"):
            out[col.label_zh] = _fmt_num(s.to_numpy(dtype=float, na_value=np.nan))
        elif col.codes and col.codes != "charge":
            labels = {k: v[0] for k, v in schema.CODE_TABLES[col.codes].items()}
            out[col.label_zh] = _obj(s.map(labels).fillna(s))
        else:
            v = _obj(s)
            if name == "dept_case_no":
                v = np.where(pd.isna(v), None, v)
                alt1 = np.strings.replace(np.strings.replace(v.astype(str), "[", "〔"), "]", "〕").astype(object)
                alt2 = np.strings.replace(np.strings.replace(v.astype(str), "[", "［"), "]", "］").astype(object)
                v = np.where(pd.isna(v), None, np.where(bracket < 0.05, alt1, np.where(bracket < 0.08, alt2, v)))
            out[col.label_zh] = v
    return pd.DataFrame(out)


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
        old[m] = pd.Series(old[m]).map(lambda x: lab.get(x, x)).to_numpy()  # noqa: B023
        new[m] = pd.Series(new[m]).map(lambda x: lab.get(x, x)).to_numpy()  # noqa: B023
    lab = {c.name: c.label_zh for c in schema.columns("modifications")}
    return pd.DataFrame({
        lab["unit_code"]: _obj(mods["unit_code"]), lab["dept_case_no"]: _obj(mods["dept_case_no"]),
        lab["person_id"]: _obj(mods["person_id"]), lab["field"]: item,
        lab["old_value"]: np.where(old == "", None, old), lab["new_value"]: np.where(new == "", None, new),
        lab["account"]: _obj(mods["account"]),
        lab["modified_at"]: _fmt_dates(mods["modified_at"].to_numpy(dtype="datetime64[s]"), style, True),
    })


def _csv_bytes(frame, header):
    table = pa.Table.from_pandas(frame.astype(object).where(frame.notna(), None).astype("string"),
                                 preserve_index=False)
    buf = io.BytesIO()
    pacsv.write_csv(table, buf, write_options=pacsv.WriteOptions(include_header=header, quoting_style="needed"))
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
        self.add(pd.DataFrame([self.headers], columns=self.headers), header=True)

    def add(self, frame, header=False):
        n = len(frame)
        if n == 0:
            return
        rows = pa.array(np.arange(self.row + 1, self.row + n + 1).astype(str))
        cells = []
        for j, name in enumerate(self.headers):
            v = frame[name].to_numpy(dtype=object)
            empty = pd.isna(v)
            if empty.all():
                continue
            txt = pa.array(np.where(empty, None, v), type=pa.string())
            ref = pc.binary_join_element_wise(self.letters[j], rows, "")
            if name in self.numeric and not header:
                cell = pc.binary_join_element_wise('<c r="', ref, '"><v>', txt, "</v></c>", "")
            else:
                esc = pc.replace_substring(pc.replace_substring(pc.replace_substring(
                    txt, "&", "&amp;"), "<", "&lt;"), ">", "&gt;")
                cell = pc.binary_join_element_wise('<c r="', ref, '" t="inlineStr"><is><t>', esc,
                                                   "</t></is></c>", "")
            cells.append(cell)
        body = pc.binary_join_element_wise('<row r="', rows, '">', *cells, "</row>", "",
                                           null_handling="replace", null_replacement="")
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
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                '<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                '</Types>'),
            "_rels/.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
                '</Relationships>'),
            "xl/workbook.xml": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
                'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
                f'<sheets><sheet name="{sheet_name}" sheetId="1" r:id="rId1"/></sheets></workbook>'),
            "xl/_rels/workbook.xml.rels": (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>'
                '</Relationships>'),
        }
        tmp_zip = self.path.with_suffix(".xlsx.part")
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
            for name, text in files.items():
                zf.writestr(name, text)
            with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as out, open(self.tmp, "rb") as src:
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
        self.rows[key] = self.rows.get(key, 0) + len(frame)
        if self.xlsx:
            if first:
                self.sheets[key] = _XlsxSheet(self.dir / f"{key}.xlsx", frame.columns, numeric)
            sheet = self.sheets.get(key)
            if sheet is not None:
                if self.rows[key] > XLSX_MAX_ROWS:  # beyond one Excel sheet: CSV only
                    sheet.discard()
                    self.sheets[key] = None
                else:
                    sheet.add(frame)

    def add(self, records, modifications, *, first=False):
        for stage, key in STAGE_FILES.items():
            part = records[records["stage"] == stage]
            cols = stage_columns(stage)
            numeric = [schema.column("records", c).label_zh for c in cols
                       if schema.column("records", c).dtype in ("int", "float")]
            self._write(key, display_frame(part, cols, self.rng), numeric)
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
