"""Reading export files as they are: CSV/TSV, Excel .xlsx, JSON Lines/JSON, Parquet.

:func:`read_raw` detects the format from the first bytes (and the extension), finds the header
row (the first of the first ten rows naming known columns; title rows above it are skipped) and
returns a :class:`Raw`: header texts, one Arrow string array per column and the row numbers a
user sees (spreadsheet row counting the header for CSV/Excel, the line for JSON Lines, the
record for Parquet). Nothing is coerced here (:mod:`casework.ingest.validation` does that).

Safety limits: :data:`~casework.ingest.decoding.MAX_LINE_BYTES` per line,
:data:`MAX_HEADER_BYTES` for the header line, :data:`MAX_COLUMNS` columns,
:data:`MAX_CELL_BYTES` per cell, :data:`MAX_XLSX_UNCOMPRESSED` and :data:`MAX_XLSX_RATIO`
against zip bombs (checked before anything is inflated), :data:`MAX_JSON_ARRAY_BYTES` for a
JSON file that is one array; only regular files are opened (a FIFO or a device is refused
before it is opened, so an import never blocks on it).

Excel workbooks: hidden sheets are skipped (and named in a note); the sheet with the most
recognised headers is used, and the note names it and the sheets skipped.

Examples
--------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "a.csv"
>>> _ = p.write_bytes("不捕人员信息表\\n单位编码,罪名\\n371329,盗窃\\n".encode("gb18030"))
>>> raw = read_raw(p)
>>> raw.headers, raw.encoding, raw.rows.tolist(), raw.data[1].to_pylist()
(['单位编码', '罪名'], 'GB18030', [3], ['盗窃'])
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io as _io
import json
import os
import stat as _stat
import warnings as _warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv
import pyarrow.parquet as pq

from casework.base.errors import DataError
from casework.ingest import mapping as _mapping
from casework.ingest.decoding import (
    ENCODING_NAMES,
    MAX_LINE_BYTES,
    BadBytes,
    decode_error,
    decode_with_context,
    first_long_line,
    iconv_to_utf8,
    line_of,
    locate_decode_error,
    sniff_encoding,
    strip_bom,
    too_long,
)
from casework.ingest.messages import file_error, rows_en, rows_zh
from casework.ingest.values import scalar_text

#: Bytes read to sniff the encoding, delimiter and header.
HEAD_BYTES = 1 << 20


#: Refuse an .xlsx whose members declare more than this many uncompressed bytes in all …
MAX_XLSX_UNCOMPRESSED = 2 << 30


#: … or a member larger than 10 MB compressed more than this ratio (zip bomb).
MAX_XLSX_RATIO = 200


#: A JSON file that is one array (not JSON Lines) is loaded whole: refuse beyond this size.
MAX_JSON_ARRAY_BYTES = 256 << 20


#: At most this many columns in a file (a header of 450,000 empty cells is refused early).
MAX_COLUMNS = 2_000


#: The header line must fit in the first bytes read (:data:`HEAD_BYTES`).
MAX_HEADER_BYTES = HEAD_BYTES


#: A single cell longer than this is refused (no case-card field is that long).
MAX_CELL_BYTES = 1 << 20


#: Cells read as empty.
NULL_VALUES = ["", "NULL", "null", "Null", "NaN", "nan", "None", "none", "N/A", "n/a", "NA",
               "#N/A", "\\N", "-", "--", "—", "——", "/"]


_TEXT_EXT = {".csv", ".tsv", ".txt", ".tab"}


_XLSX_EXT = {".xlsx", ".xlsm"}


_JSON_EXT = {".jsonl", ".ndjson", ".json"}


_PARQUET_EXT = {".parquet", ".pq"}


@dataclass
class Raw:
    """A file as read: header texts, one Arrow array per column, user-visible row numbers."""

    path: Path
    fmt: str
    headers: list[str]
    data: list
    rows: np.ndarray
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)
    #: Where in the file the data came from (the Excel sheet used and the sheets skipped),
    #: bilingual (zh, en); empty for other formats.
    context: tuple[str, str] = ("", "")


def column_label(i: int, fmt: str) -> str:
    """How a user names column ``i`` (0-based): a letter in Excel, a number elsewhere.

    Examples
    --------
    >>> column_label(0, "xlsx"), column_label(27, "xlsx"), column_label(27, "csv")
    ('A', 'AB', '28')
    """
    if fmt != "xlsx":
        return str(i + 1)
    out = ""
    i += 1
    while i:
        i, r = divmod(i - 1, 26)
        out = chr(65 + r) + out
    return out


def too_many_columns(path: Path, n: int) -> DataError:
    """The error for a file with more than :data:`MAX_COLUMNS` columns."""
    return file_error(path, f"有 {n:,} 列，超过上限 {MAX_COLUMNS:,} 列，拒绝读取，以免耗尽内存",
                      f"has {n:,} columns, more than the limit of {MAX_COLUMNS:,}; refused to "
                      "keep memory bounded",
                      hint="检查表头行是否损坏（如大量空列），或只导出需要的列 / "
                           "check the header row (e.g. thousands of empty cells), or export "
                           "only the columns needed")


def _header_too_long(path: Path) -> DataError:
    kb = MAX_HEADER_BYTES >> 10
    return file_error(path, f"表头行（第 1 行）超过 {kb:,} KB，拒绝读取，以免耗尽内存",
                      f"the header line (line 1) is longer than {kb:,} KB; refused to keep "
                      "memory bounded",
                      hint="检查文件是否完整、换行符是否正确 / "
                           "check that the file is a proper export with line breaks")


def _detect_format(path: Path, head: bytes) -> str:
    ext = path.suffix.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise file_error(path, "这是旧版 Excel (.xls) 或加密的工作簿，无法读取",
                         "this is an old Excel .xls or an encrypted workbook",
                         hint="在 Excel 中另存为 .xlsx（不加密）或 CSV / "
                              "save it as .xlsx (unencrypted) or CSV")
    if head.startswith(b"\x1f\x8b") or head.startswith(b"7z\xbc\xaf") or head.startswith(b"Rar!"):
        raise file_error(path, "这是压缩包，请先解压",
                         "this is a compressed archive; extract it first")
    if head.startswith(b"%PDF"):
        raise file_error(path, "这是 PDF 文件，不是数据导出文件",
                         "this is a PDF, not a data export")
    if ext in _XLSX_EXT:
        raise file_error(path, "不是有效的 Excel (.xlsx) 文件（文件已损坏、不完整或扩展名不对）",
                         "not a valid .xlsx workbook (damaged, truncated or misnamed)",
                         hint="在 Excel 中重新导出或另存为 .xlsx / "
                              "export or save it again as .xlsx")
    if ext == ".xls":
        raise file_error(path, "旧版 Excel (.xls) 无法读取",
                         "old Excel .xls files are not supported",
                         hint="在 Excel 中另存为 .xlsx 或 CSV / save it as .xlsx or CSV")
    if ext in _PARQUET_EXT:
        raise file_error(path, "不是有效的 Parquet 文件", "not a valid Parquet file")
    if ext in _JSON_EXT:
        return "json"
    if ext in _TEXT_EXT:
        return "csv"
    stripped = strip_bom(head).lstrip()
    return "json" if stripped[:1] in (b"{", b"[") else "csv"


def _sniff_delimiter(lines: list[str], ext: str) -> str:
    """The delimiter splitting some of the first lines into the most cells (title lines have
    none)."""
    counts = {}
    for d in (",", "\t", ";", "|"):
        best = 0
        for line in lines[:10]:
            try:
                best = max(best, len(next(csv.reader([line], delimiter=d))))
            except (csv.Error, StopIteration):
                pass
        counts[d] = best
    if ext == ".tsv" and counts["\t"] > 1:
        return "\t"
    return max(counts, key=lambda d: (counts[d], d == ","))


def _header_score(cells, known=frozenset()) -> int:
    n = 0
    for c in cells:
        if c is not None and str(c).strip() and (
                any(_mapping.match_header(c, t) for t in _mapping.IMPORT_TABLES)
                or _mapping.header_key(c) in known):
            n += 1
    return n


def _pick_header(rows: list[list], known=frozenset()) -> int:
    """Index of the header among the first rows: the first naming ≥ 2 known columns (built-in
    names, or the sources a mapping names)."""
    for i, cells in enumerate(rows[:10]):
        if _header_score(cells, known) >= 2:
            return i
    return 0


def use_threads() -> bool:
    """Parse with several threads only when the machine has idle cores (threads cost CPU)."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except OSError:
        return True


def _read_text(path: Path, head: bytes, size: int, known=frozenset()) -> Raw:
    complete = size <= len(head)
    if b"\n" not in head and head.count(b"\r") > 1:
        raise file_error(path, "换行符只有 CR（旧版 Mac 格式），无法按行读取",
                         "the lines end in CR only (old Mac format) and cannot be split into "
                         "rows",
                         hint="用文本编辑器或 Excel 另存为 CSV（换行符 CRLF 或 LF）/ "
                              "save it again as CSV with CRLF or LF line endings")
    if not complete and b"\n" not in head:
        raise _header_too_long(path)
    encoding = sniff_encoding(path, head, complete)
    py_enc = "utf-8" if encoding == "ascii" else encoding
    sample = head if complete else head[: head.rfind(b"\n") + 1]
    try:
        text = sample.decode(py_enc)
    except UnicodeDecodeError:
        text = sample.decode(py_enc, errors="replace")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise file_error(path, "文件为空（没有任何内容）", "the file is empty",
                         hint="重新从系统导出 / export it again")
    lines = text.splitlines()
    delim = _sniff_delimiter([ln for ln in lines[:20] if ln.strip()], path.suffix.lower())
    try:
        head_rows = []
        reader = csv.reader(_io.StringIO(text), delimiter=delim)
        line_ends = []
        for cells in reader:
            head_rows.append(cells)
            line_ends.append(reader.line_num)
            if len(head_rows) >= 10:
                break
    except csv.Error as err:
        raise file_error(path, f"表头无法解析：{err}", f"cannot parse the header: {err}") from None
    # drop leading blank lines from consideration but keep physical line numbers
    hi = _pick_header([r if any(c.strip() for c in r) else [] for r in head_rows], known)
    while hi < len(head_rows) and not any(c.strip() for c in head_rows[hi]):
        hi += 1
    if hi >= len(head_rows):
        raise file_error(path, "文件为空（没有表头和数据）",
                         "the file is empty (no header, no data)")
    headers = [h.strip() for h in head_rows[hi]]
    if len(headers) > MAX_COLUMNS:
        raise too_many_columns(path, len(headers))
    header_line = line_ends[hi]  # physical line number of the header's last line
    n_cols = len(headers)
    names = [f"c{i}" for i in range(n_cols)]
    invalid, blank = [], []

    def on_invalid(row):
        # blank lines are kept as (invalid, one-cell) rows so that they still count in the row
        # numbers a user sees; they are dropped here and remembered
        (blank if not row.text.strip() else invalid).append((row.number, row.text[:60],
                                                             row.actual_columns))
        return "skip"

    converted: dict[str, object] = {}

    def _read(enc, threads=None):
        utf8 = enc in ("utf-8", "ascii", "utf-8-sig")
        source = path
        if not utf8:
            if enc not in converted:
                converted[enc] = iconv_to_utf8(path, enc)  # None: no iconv here, Arrow transcodes
            if converted[enc] is not None:
                source, enc = pa.BufferReader(converted[enc]), "utf8"
        ropts = pcsv.ReadOptions(use_threads=use_threads() if threads is None else threads,
                                 block_size=MAX_LINE_BYTES, skip_rows=header_line,
                                 column_names=names, encoding="utf8" if utf8 else enc)
        popts = pcsv.ParseOptions(delimiter=delim, newlines_in_values=True,
                                  invalid_row_handler=on_invalid, ignore_empty_lines=n_cols == 1)
        # text transcoded from another encoding is valid UTF-8 by construction: skip the re-check
        copts = pcsv.ConvertOptions(column_types={n: pa.string() for n in names},
                                    strings_can_be_null=True, quoted_strings_can_be_null=True,
                                    null_values=NULL_VALUES, check_utf8=utf8)
        return pcsv.read_csv(source, read_options=ropts, parse_options=popts,
                             convert_options=copts)

    try:
        try:
            table = _read(encoding)
        except (UnicodeDecodeError, pa.ArrowInvalid) as err:
            if encoding == "ascii" and ("UTF8" in str(err) or isinstance(err, UnicodeDecodeError)):
                encoding = "gb18030"
                invalid.clear()
                blank.clear()
                table = _read(encoding)
            else:
                raise
    except BadBytes as err:
        raise decode_with_context(path, encoding, err.offset, line_of(path, err.offset)) from None
    except UnicodeDecodeError:
        found = locate_decode_error(path, encoding)
        if found is None:
            raise
        off, line, _bad = found
        raise decode_with_context(path, encoding, off, line) from None
    except pa.ArrowInvalid as err:
        msg = str(err)
        if "straddl" in msg or "block size" in msg:
            long_line = first_long_line(path, MAX_LINE_BYTES)
            if long_line is not None:
                raise too_long(path, long_line) from None
            # no physical line is that long: a quote opened and never closed swallowed the rest
            raise file_error(
                path, f"无法按 {encoding} 文本解析为表格："
                      "引号不成对或文件不是文本导出（可能是二进制文件）",
                f"cannot be parsed as a {encoding} table: an unclosed quote, or not a text export "
                "(binary data?)",
                hint="用统一业务应用系统重新导出该文件 / "
                     "export the file again from the system") from None
        if "UTF8" in msg:
            found = locate_decode_error(path, encoding)
            if found is not None:
                off, line, _bad = found
                raise decode_with_context(path, encoding, off, line) from None
        raise file_error(path, f"CSV 格式错误：{msg[:200]}",
                         f"malformed CSV: {msg[:200]}") from None
    if invalid or blank:
        # line numbers are known single-threaded only
        if any(num is None for num, _, _ in invalid + blank):
            invalid.clear()
            blank.clear()
            table = _read(encoding, threads=False)
    if invalid:
        rows = [num for num, _, _ in invalid if num is not None]
        counts = "、".join(str(c) for c in sorted({c for _, _, c in invalid}))
        raise file_error(
            path, f"{rows_zh(rows)}的单元格个数与表头（{n_cols} 列）不一致（实有 {counts} 列），"
                  "可能有未加引号的分隔符或多余的列",
            f"{rows_en(rows)}: the number of cells differs from the header ({n_cols} "
            "columns; found "
            f"{counts}) — an unquoted delimiter or a stray column?",
            hint="在 Excel 中打开检查这些行，或重新导出 / check these rows or export again")
    rows = np.arange(table.num_rows, dtype=np.int64) + header_line + 1
    if blank:
        lines = np.asarray(sorted(num for num, _, _ in blank if num is not None), dtype=np.int64)
        span = np.arange(header_line + 1, header_line + 1 + table.num_rows + len(lines),
                         dtype=np.int64)
        rows = np.setdiff1d(span, lines, assume_unique=True)[: table.num_rows]
    enc_name = ENCODING_NAMES[encoding]
    return Raw(path, "csv", headers, [table.column(i) for i in range(n_cols)], rows, enc_name)


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise file_error(path, "Excel 文件已损坏或不完整（zip 结构无法读取）",
                         "the workbook is damaged or truncated (its zip structure cannot be read)",
                         hint="重新导出或重新下载该文件 / export or download it again") from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise file_error(path, "这是 zip 文件但不是 Excel 工作簿（缺少 xl/workbook.xml）",
                         "this is a zip file but not an Excel workbook (no xl/workbook.xml)")
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise file_error(
            path, f"解压后大小声明为 {total / 2**30:,.1f} GB，"
                  f"超过上限 {MAX_XLSX_UNCOMPRESSED >> 30} GB，"
                  "疑似压缩炸弹，拒绝打开",
            f"declares {total / 2**30:,.1f} GB uncompressed "
            f"(limit {MAX_XLSX_UNCOMPRESSED >> 30} GB): "
            "a zip bomb? refused", hint="导出为 CSV 后导入 / export as CSV instead")
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > (10 << 20) and ratio > MAX_XLSX_RATIO:
            raise file_error(
                path, f"成员 {i.filename} 压缩比 {ratio:,.0f}:1 异常（上限 {MAX_XLSX_RATIO}:1），"
                      "疑似压缩炸弹，拒绝打开",
                f"member {i.filename} has a compression ratio of {ratio:,.0f}:1 (limit "
                f"{MAX_XLSX_RATIO}:1): a zip "
                "bomb? refused", hint="导出为 CSV 后导入 / export as CSV instead")


def _cell_text(v):
    if v is None:
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, _dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, _dt.date):
        return v.isoformat()
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, _dt.timedelta):
        return str(v.total_seconds())
    return str(v)


def _read_xlsx(path: Path, known=frozenset()) -> Raw:
    _check_zip(path)
    import openpyxl  # heavy (about 0.3 s): loaded only when a workbook is read

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            chosen, hidden, scanned = None, [], []
            for ws in wb.worksheets:
                if getattr(ws, "sheet_state", "visible") != "visible":
                    hidden.append(ws.title)  # stale or helper data: never imported
                    continue
                if hasattr(ws, "reset_dimensions"):
                    # some writers declare a wrong sheet size: read every cell
                    ws.reset_dimensions()
                it = ws.iter_rows(values_only=True)
                top = []
                for r_i, row in enumerate(it, 1):
                    if len(row) > MAX_COLUMNS and any(v is not None for v in row[MAX_COLUMNS:]):
                        raise too_many_columns(path, len(row))
                    if any(v is not None and str(v).strip() for v in row):
                        top.append((r_i, list(row[:MAX_COLUMNS])))
                    if len(top) >= 10 or r_i > 200:
                        break
                if not top:
                    continue
                hi = _pick_header([cells for _, cells in top], known)
                score = _header_score(top[hi][1], known)
                scanned.append((ws.title, score))
                if chosen is None or score > chosen[3]:
                    chosen = (ws, top[hi][0], top[hi][1], score)
            if chosen is None:
                extra = (f"（隐藏的工作表已跳过：{'、'.join(hidden)}）" if hidden else "")
                extra_en = (f" (hidden sheets skipped: {', '.join(hidden)})" if hidden else "")
                raise file_error(path, f"工作簿中没有任何内容（所有可见工作表均为空）{extra}",
                                 f"the workbook is empty (all visible sheets){extra_en}")
            ws, header_row, header_cells, _score = chosen
            skipped = [t for t, _ in scanned if t != ws.title]
            context = _sheet_context(ws.title, skipped, hidden)
            headers = ["" if h is None else str(h).strip() for h in header_cells]
            n = len(headers)
            cols: list[list] = [[] for _ in range(n)]
            rows = []
            beyond: list[int] = []
            beyond_cols: set[int] = set()
            for r_i, row in enumerate(ws.iter_rows(min_row=header_row + 1, values_only=True),
                                      header_row + 1):
                if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                    continue
                rows.append(r_i)
                for j in range(n):
                    v = row[j] if j < len(row) else None
                    cols[j].append(_cell_text(v))
                if len(row) > n and any(v is not None for v in row[n:]):
                    beyond.append(r_i)  # cells beyond the last header column: noted below
                    beyond_cols.update(j for j in range(n, min(len(row), MAX_COLUMNS))
                                       if row[j] is not None)
        finally:
            wb.close()
    notes = []
    if skipped or hidden:
        notes.append(f"{path.name}：{context[0]} / {path.name}: {context[1]}")
    if beyond:
        letters = ", ".join(column_label(j, "xlsx") for j in sorted(beyond_cols)[:20])
        notes.append(
            f"{path.name}：{rows_zh(beyond)}在表头之外的列（列 {letters}，表头为空或是合并单元格）"
            f"还有内容，已忽略 / {path.name}: {rows_en(beyond)} have cells beyond the last "
            f"header column (column {letters}: blank or merged header); ignored")
    data = [pa.chunked_array([pa.array(c, pa.string())]) for c in cols]
    return Raw(path, "xlsx", headers, data, np.asarray(rows, dtype=np.int64), None, notes,
               context)


def _sheet_context(used: str, skipped: list[str], hidden: list[str]) -> tuple[str, str]:
    """Which sheet was read and which were not, for notes and errors (zh, en)."""
    zh = f"读取工作表「{used}」"
    en = f"read sheet '{used}'"
    if skipped:
        zh += f"，未读取：{'、'.join(f'「{t}」' for t in skipped)}（表头识别较少）"
        en += f"; not read: {', '.join(repr(t) for t in skipped)} (fewer recognised headers)"
    if hidden:
        zh += f"；隐藏的工作表已跳过：{'、'.join(f'「{t}」' for t in hidden)}"
        en += f"; hidden sheets skipped: {', '.join(repr(t) for t in hidden)}"
    return zh, en


def _flatten(obj: dict, prefix: str, out: dict) -> None:
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, key + ".", out)
        else:
            out[key] = v


class _DupKeys:
    """``object_pairs_hook`` for :func:`json.loads` that remembers duplicated keys."""

    def __init__(self):
        self.found: dict[str, None] = {}
        self.hit = False

    def __call__(self, pairs):
        out = dict(pairs)
        if len(out) != len(pairs):
            self.hit = True
            seen = set()
            for k, _ in pairs:
                if k in seen:
                    self.found.setdefault(k, None)
                seen.add(k)
        return out


def _read_json(path: Path, head: bytes, size: int) -> Raw:
    complete = size <= len(head)
    if not complete and b"\n" not in head and not strip_bom(head).lstrip().startswith(b"["):
        raise too_long(path, 1)
    encoding = sniff_encoding(path, head, complete)
    py_enc = "utf-8" if encoding == "ascii" else encoding
    records: list[tuple[int, dict]] = []
    bad: list[int] = []
    dup_rows: list[int] = []
    hook = _DupKeys()
    doc = None
    if strip_bom(head).lstrip().startswith(b"["):
        if size > MAX_JSON_ARRAY_BYTES:
            raise file_error(path, f"JSON 数组文件超过 {MAX_JSON_ARRAY_BYTES >> 20} MB，请改用 "
                                   "JSON Lines（每行一个对象）",
                             f"a JSON array file larger than {MAX_JSON_ARRAY_BYTES >> 20} MB; "
                             "use JSON Lines")
        try:
            doc = json.loads(path.read_bytes().decode(py_enc), object_pairs_hook=hook)
        except UnicodeDecodeError as err:
            raise decode_error(path, py_enc, err.start, path.read_bytes(), mixed=False) from None
        except json.JSONDecodeError as err:
            if err.msg != "Extra data":  # "Extra data": several JSON values, i.e. JSON Lines
                raise file_error(path, f"JSON 格式错误：第 {err.lineno} 行第 {err.colno} "
                                       f"列（{err.msg}）",
                                 f"malformed JSON at line {err.lineno}, "
                                 f"column {err.colno} ({err.msg})") from None
    if doc is not None:
        if not isinstance(doc, list):
            raise file_error(path, "JSON 顶层应为对象数组",
                             "the JSON top level must be an array of objects")
        for i, obj in enumerate(doc, 1):
            if isinstance(obj, dict):
                records.append((i, obj))
            else:
                bad.append(i)
        fmt = "json"
    else:
        dec = codecs.getincrementaldecoder(py_enc)("strict")
        with open(path, "rb") as fh:
            line_no = 0
            while True:
                raw = fh.readline(MAX_LINE_BYTES + 1)
                if not raw:
                    break
                line_no += 1
                if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                    raise too_long(path, line_no)
                try:
                    text = dec.decode(raw)
                except UnicodeDecodeError:
                    found = locate_decode_error(path, encoding)
                    off, line, _b = found if found else (fh.tell(), line_no, b"")
                    raise decode_with_context(path, encoding, off, line) from None
                text = text.strip().lstrip("\ufeff")
                if not text:
                    continue
                try:
                    obj = json.loads(text, object_pairs_hook=hook)
                    if hook.hit:
                        dup_rows.append(line_no)
                        hook.hit = False
                except json.JSONDecodeError:
                    bad.append(line_no)
                    if len(bad) > 1000:
                        break
                    continue
                if not isinstance(obj, dict):
                    bad.append(line_no)
                    continue
                records.append((line_no, obj))
        fmt = "jsonl"
    if bad:
        raise file_error(path, f"{rows_zh(bad)}不是合法的 JSON 对象",
                         f"{rows_en(bad)}: not a valid JSON object",
                         hint="JSON Lines 每行应为一个 {…} 对象 / "
                              "JSON Lines needs one {…} object per line")
    if not records:
        raise file_error(path, "文件为空（没有任何记录）", "the file is empty (no records)")
    keys: dict[str, None] = {}
    flat_rows = []
    for _, obj in records:
        flat: dict = {}
        _flatten(obj, "", flat)
        flat_rows.append(flat)
        for k in flat:
            keys.setdefault(k, None)
    if len(keys) > MAX_COLUMNS:
        raise too_many_columns(path, len(keys))
    data = []
    for k in keys:
        vals = [r.get(k) for r in flat_rows]
        if any(isinstance(v, list) for v in vals):
            arr = pa.array([None if v is None
                            else [scalar_text(x) for x in (v if isinstance(v, list) else [v])]
                            for v in vals], pa.list_(pa.string()))
        else:
            arr = pa.array([scalar_text(v) for v in vals], pa.string())
        data.append(pa.chunked_array([arr]))
    rows = np.asarray([r for r, _ in records], dtype=np.int64)
    enc_name = ENCODING_NAMES[encoding]
    notes = []
    if hook.found:
        where_zh = rows_zh(dup_rows) if fmt == "jsonl" else "部分记录"
        where_en = rows_en(dup_rows) if fmt == "jsonl" else "some records"
        keys_ = ", ".join(list(hook.found)[:10])
        notes.append(f"{path.name}：{where_zh}有重复的键（{keys_}），使用最后出现的值 / "
                     f"{path.name}: {where_en} repeat a key ({keys_}); the last value is used")
    return Raw(path, fmt, list(keys), data, rows, enc_name, notes)


def _read_parquet(path: Path) -> Raw:
    try:
        n_cols = len(pq.read_schema(path))
        if n_cols > MAX_COLUMNS:
            raise too_many_columns(path, n_cols)
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise file_error(path, f"Parquet 文件无法读取（已损坏或不完整）：{str(err)[:160]}",
                         "cannot read the Parquet file (damaged or truncated):"
                         f" {str(err)[:160]}") from None
    while any(pa.types.is_struct(f.type) for f in table.schema):
        table = table.flatten()
    keep = [i for i, f in enumerate(table.schema) if not f.name.startswith("__index_level_")]
    data = []
    for i in keep:
        col = table.column(i)
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if pa.types.is_large_string(col.type):
            col = col.cast(pa.string())
        data.append(col)
    rows = np.arange(table.num_rows, dtype=np.int64) + 1
    return Raw(path, "parquet", [table.schema[i].name for i in keep], data, rows, None)


def read_raw(path: Path, known=frozenset()) -> Raw:
    """Read any supported export as a :class:`Raw` (``known``: header keys a mapping names)."""
    if not path.exists():
        raise DataError(f"文件不存在：{path}", f"file not found: {path}",
                        hint="检查路径 / check the path")
    if path.is_dir():
        raise DataError(f"这是文件夹，不是文件：{path}", f"this is a folder, not a file: {path}",
                        hint="列出要导入的文件，如 exports/*.csv / "
                             "name the files, e.g. exports/*.csv")
    st = path.stat()
    if not _stat.S_ISREG(st.st_mode):
        kind = ("命名管道（FIFO）", "a named pipe (FIFO)") if _stat.S_ISFIFO(st.st_mode) else \
            ("设备或套接字", "a device or socket")
        raise file_error(path, f"这是{kind[0]}，不是普通文件，拒绝读取",
                         f"this is {kind[1]}, not a regular file; refused",
                         hint="先把数据保存为文件再导入 / save the data to a file first")
    size = st.st_size
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if size == 0 or not strip_bom(head).strip(b" \t\r\n\x00"):
        if size <= HEAD_BYTES:
            raise file_error(path, "文件为空（没有任何内容）", "the file is empty",
                             hint="重新从系统导出 / export it again")
    fmt = _detect_format(path, head)
    if fmt == "xlsx":
        raw = _read_xlsx(path, known)
    elif fmt == "parquet":
        raw = _read_parquet(path)
    elif fmt == "json":
        raw = _read_json(path, head, size)
    else:
        raw = _read_text(path, head, size, known)
    _check_cells(raw)
    return raw


def _check_cells(raw: Raw) -> None:
    """Refuse a cell longer than :data:`MAX_CELL_BYTES` (names the column and rows)."""
    for i, col in enumerate(raw.data):
        if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
                or pa.types.is_binary(col.type)):
            continue
        lens = pc.binary_length(col)
        if (pc.max(lens).as_py() or 0) <= MAX_CELL_BYTES:
            continue
        hit = pc.fill_null(pc.greater(lens, MAX_CELL_BYTES), False)
        rows = raw.rows[np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)]
        name = raw.headers[i] or column_label(i, raw.fmt)
        mb = MAX_CELL_BYTES >> 20
        raise file_error(raw.path, f"列「{name}」{rows_zh(rows)}的单元格超过 {mb} MB，拒绝读取",
                         f"column '{name}' {rows_en(rows)}: a cell is longer than {mb} MB; "
                         "refused", hint="检查是否导出了附件或正文全文 / "
                                         "was an attachment or a full text exported?")
