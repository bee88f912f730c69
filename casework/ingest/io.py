"""Read case-card exports into canonical tables, validate them, and import them as a snapshot.

Flow: read (CSV/TSV, Excel .xlsx, JSON Lines, Parquet) → map headers to canonical columns
(:mod:`casework.ingest.mapping`) → coerce values → validate (clear errors with row numbers, warnings
for suspicious values) → :func:`casework.store.write_snapshot`. Nothing is written unless every
file validated, and source files are only ever read.

Formats
-------
* **CSV / TSV / TXT** — delimiter sniffed from the header line (``,``, tab, ``;``, ``|``);
  encoding UTF-8, UTF-8 with BOM, GB18030 (hence GBK/GB2312) or UTF-16 with BOM, detected
  automatically. Title lines above the header (``不捕人员信息表``) are skipped: the header is
  the first of the first ten lines whose cells name known columns. Quoted values may hold
  line breaks. A line longer than :data:`MAX_LINE_BYTES` is refused, without loading it.
* **Excel .xlsx / .xlsm** — first worksheet with a recognisable header (openpyxl, read-only).
  Formulas are never evaluated: a formula cell is read as its text (``=SUM(A1:A3)``) and
  flagged. The zip container is checked first (declared uncompressed size and compression
  ratio), so a zip bomb is refused before anything is inflated. Old ``.xls`` files must be
  re-saved as ``.xlsx``.
* **JSON Lines / JSON** — one object per line (or one JSON array of objects). Nested objects
  are flattened to dotted paths (``meta.term_of_imprisonment.imprisonment``), list values are
  kept as lists (``charges``).
* **Parquet** — typed columns are used as they are; struct columns flatten to dotted paths.

Values
------
Code columns accept the code, its Chinese or English label (``审查逮捕`` → ``arrest_review``);
flags accept 是/否, 有/无, Y/N, 1/0, true/false; ``charges`` are split on ``；``/``;`` (never on
``、``, which charge names contain) and bracketed alternatives are normalised
(``[走私、贩卖、运输、制造]毒品`` → ``走私、贩卖、运输、制造毒品``, ``盗窃罪`` → ``盗窃``); case
numbers lose stray spaces and full-width forms, and ``〔〕【】［］`` become ``[]``; dates accept
``2024-05-03``, ``2024/5/3``, ``2024年5月3日``, ``20240503``, ``2024.5.3``, Excel serial
numbers, ``2024-05-03 14:22[:10]`` and Unix timestamps; numbers may carry thousands separators.
``charge_group`` is filled from the charge, ``age`` from ``birth_date`` and ``accepted_on``,
``charge`` from the first of ``charges`` (and back), ``stage`` from ``case_type`` — each only
where missing. A text cell starting with ``=``, ``+``, ``-`` or ``@`` is kept as text and
reported as a warning (it would run as a formula if pasted into a spreadsheet).

Errors and warnings
-------------------
Bad input raises one :class:`~casework.base.errors.DataError` (exit code 2 in the CLI) in Chinese and
English naming the file, the column(s), up to 20 row numbers — as the user sees them: the
spreadsheet row, counting the header, for CSV/Excel; the line for JSON Lines; the record for
Parquet — and what was expected. Suspicious but loadable values (审结 before 受理, age under 14,
negative terms or counts, dates in the future or before 1950) are kept and reported as
warnings with their row numbers.

Examples
--------
>>> import tempfile, pathlib
>>> import pandas as pd
>>> from casework import io
>>> path = pathlib.Path(tempfile.mkdtemp()) / "export.csv"
>>> _ = path.write_bytes(
...     "单位编码,部门受案号,统一受案号,办案环节,嫌疑人编号,罪名,受理日期,审结日期,是否认罪认罚\\n"
...     "371329,沭检刑诉受〔2024〕371329000004号,37132920240000420,审查起诉,P1,盗窃罪,2024/5/3,"
...     "2024年5月20日,是\\n".encode("gb18030"))
>>> df, warnings = io.read_export(path)
>>> df.loc[0, ["dept_case_no", "stage", "charge", "charge_group"]].tolist()
['沭检刑诉受[2024]371329000004号', 'prosecution_review', '盗窃', 'property']
>>> bool(df.loc[0, "plea_leniency"]), int(df.loc[0, "age"]) if pd.notna(df.loc[0, "age"]) else None
(True, None)
>>> str(df.loc[0, "accepted_on"].date()), warnings
('2024-05-03', [])
"""

from __future__ import annotations

import codecs
import csv
import datetime as _dt
import io as _io
import json
import os
import re
import unicodedata
import warnings as _warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from casework.ingest import mapping as _mapping
from casework.model import schema
from casework.base.errors import CaseworkError, DataError, check_choice

#: A line (CSV row, JSON line) longer than this is refused with a clear error.
MAX_LINE_BYTES = 4 << 20
#: Bytes read to sniff the encoding, delimiter and header.
HEAD_BYTES = 1 << 20
#: Refuse an .xlsx whose members declare more than this many uncompressed bytes in all …
MAX_XLSX_UNCOMPRESSED = 2 << 30
#: … or a member larger than 10 MB compressed more than this ratio (zip bomb).
MAX_XLSX_RATIO = 200
#: A JSON file that is one array (not JSON Lines) is loaded whole: refuse beyond this size.
MAX_JSON_ARRAY_BYTES = 256 << 20
#: Files with at least this many rows coerce their columns in parallel threads (when idle).
PARALLEL_MIN_ROWS = 200_000
#: Row numbers listed in one error or warning.
MAX_ROWS_LISTED = 20

#: Cells read as empty.
NULL_VALUES = ["", "NULL", "null", "Null", "NaN", "nan", "None", "none", "N/A", "n/a", "NA",
               "#N/A", "\\N", "-", "--", "—", "——", "/"]

_TEXT_EXT = {".csv", ".tsv", ".txt", ".tab"}
_XLSX_EXT = {".xlsx", ".xlsm"}
_JSON_EXT = {".jsonl", ".ndjson", ".json"}
_PARQUET_EXT = {".parquet", ".pq"}

#: Columns holding identifiers: full-width forms and spaces are removed.
_ID_COLUMNS = {"unit_code", "dept_case_no", "unified_case_no", "person_id", "prosecutor_id",
               "id_number"}
_CASE_NO_COLUMNS = {"dept_case_no", "unified_case_no"}
_NON_NEGATIVE = ("term_months", "recommended_term_months", "probation_months", "fine",
                 "amount_involved", "supplementary_investigation", "review_extension")

_FORMAT_ZH = {"csv": "CSV 文本", "xlsx": "Excel", "jsonl": "JSON Lines", "json": "JSON",
              "parquet": "Parquet"}

# Extra spellings seen in exports, beside each code's code, label_zh and label_en.
_SYNONYMS = {
    "gender": {"男性": "male", "女性": "female", "m": "male", "f": "female"},
    "coercive_measure": {"拘留": "detention", "刑拘": "detention", "指定居所监视居住": "residential_surveillance",
                         "无": "none", "未采取": "none", "取保": "bail"},
    "decision": {"批捕": "arrest_approved", "不捕": "non_arrest", "提起公诉": "prosecute",
                 "不诉": "non_prosecution"},
    "principal_penalty": {"有期": "fixed_term", "免刑": "exempted", "免于刑事处罚": "exempted",
                          "宣告无罪": "acquitted"},
    "measure_after_change": {"取保": "bail"},
    "education": {"大学": "university", "本科": "university", "研究生": "university",
                  "中专": "vocational", "职高": "vocational"},
    "household": {"本地户籍": "local", "外地户籍": "non_local", "本县": "local", "外省": "non_local"},
    "procedure": {"速裁": "fast_track", "简易": "summary", "普通": "ordinary"},
}

_BOOL = {"是": True, "否": False, "有": True, "无": False, "y": True, "n": False, "yes": True,
         "no": False, "1": True, "0": False, "1.0": True, "0.0": False, "true": True,
         "false": False, "t": True, "f": False, "√": True, "×": False, "x": False}

_NUM_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"
_DATE_RE = (r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
            r"(?:\s*[T\s]\s*(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{1,2})"
            r"(?:\s*[:分]\s*(?P<S>\d{1,2})(?:[.,]\d+)?\s*秒?)?)?"
            r"\s*(?:Z|[+-]\d{2}:?\d{2})?$")
_COMPACT_RE = r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:[T\s]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$"


# ---------------------------------------------------------------------------------------------
# Messages
# ---------------------------------------------------------------------------------------------


def _rows_zh(rows) -> str:
    rows = sorted(set(int(r) for r in rows))
    shown = "、".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" 等，共 {len(rows):,} 行" if len(rows) > MAX_ROWS_LISTED else ""
    return f"第 {shown} 行{more}"


def _rows_en(rows) -> str:
    rows = sorted(set(int(r) for r in rows))
    shown = ", ".join(str(r) for r in rows[:MAX_ROWS_LISTED])
    more = f" … ({len(rows):,} rows in all)" if len(rows) > MAX_ROWS_LISTED else ""
    return f"row{'s' if len(rows) > 1 else ''} {shown}{more}"


def _examples(values, k: int = 3) -> str:
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
class _Problem:
    column: str
    rows: np.ndarray
    zh: str
    en: str
    examples: str = ""


def _raise_problems(name: str, table: str, problems: list[_Problem]) -> None:
    zh_lines, en_lines = [], []
    for k, p in enumerate(problems, 1):
        ex = f"（如 {p.examples}）" if p.examples else ""
        ex_en = f" (e.g. {p.examples})" if p.examples else ""
        label = _col_label(table, p.column)
        zh_lines.append(f"{k}. 列{label}：{_rows_zh(p.rows)}{p.zh}{ex}")
        en_lines.append(f"{k}. column {p.column}: {_rows_en(p.rows)}: {p.en}{ex_en}")
    n = len(problems)
    raise DataError(
        f"文件 {name} 有 {n} 处数据不符合要求，未导入任何数据：\n" + "\n".join(zh_lines),
        f"{name}: {n} problem{'s' if n > 1 else ''} in the data; nothing was imported:\n"
        + "\n".join(en_lines),
        hint="改正源文件中这些行后重新导入（源文件不会被本程序修改）/ correct these rows in the export and "
             "import again (casework never modifies the source file)",
    )


def _file_error(path: Path, zh: str, en: str, hint: str | None = None) -> DataError:
    return DataError(f"文件 {path.name}：{zh}", f"{path.name}: {en}", hint=hint)


# ---------------------------------------------------------------------------------------------
# Raw reading
# ---------------------------------------------------------------------------------------------


@dataclass
class _Raw:
    """A file as read: header texts, one Arrow array per column, user-visible row numbers."""

    path: Path
    fmt: str
    headers: list[str]
    data: list
    rows: np.ndarray
    encoding: str | None = None
    notes: list[str] = field(default_factory=list)


def _detect_format(path: Path, head: bytes) -> str:
    ext = path.suffix.lower()
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "xlsx"
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"\xd0\xcf\x11\xe0"):
        raise _file_error(path, "这是旧版 Excel (.xls) 或加密的工作簿，无法读取",
                          "this is an old Excel .xls or an encrypted workbook",
                          hint="在 Excel 中另存为 .xlsx（不加密）或 CSV / save it as .xlsx (unencrypted) or CSV")
    if head.startswith(b"\x1f\x8b") or head.startswith(b"7z\xbc\xaf") or head.startswith(b"Rar!"):
        raise _file_error(path, "这是压缩包，请先解压", "this is a compressed archive; extract it first")
    if head.startswith(b"%PDF"):
        raise _file_error(path, "这是 PDF 文件，不是数据导出文件", "this is a PDF, not a data export")
    if ext in _XLSX_EXT:
        raise _file_error(path, "不是有效的 Excel (.xlsx) 文件（文件已损坏、不完整或扩展名不对）",
                          "not a valid .xlsx workbook (damaged, truncated or misnamed)",
                          hint="在 Excel 中重新导出或另存为 .xlsx / export or save it again as .xlsx")
    if ext == ".xls":
        raise _file_error(path, "旧版 Excel (.xls) 无法读取", "old Excel .xls files are not supported",
                          hint="在 Excel 中另存为 .xlsx 或 CSV / save it as .xlsx or CSV")
    if ext in _PARQUET_EXT:
        raise _file_error(path, "不是有效的 Parquet 文件", "not a valid Parquet file")
    if ext in _JSON_EXT:
        return "json"
    if ext in _TEXT_EXT:
        return "csv"
    stripped = _strip_bom(head).lstrip()
    return "json" if stripped[:1] in (b"{", b"[") else "csv"


def _strip_bom(b: bytes) -> bytes:
    for bom in (codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        if b.startswith(bom):
            return b[len(bom):]
    return b


def _sniff_encoding(path: Path, head: bytes, complete: bool) -> str:
    """The encoding of a text file from its first bytes (the whole file when ``complete``)."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(codecs.BOM_UTF32_LE) or head.startswith(codecs.BOM_UTF32_BE):
        return "utf-32"
    if head.startswith(codecs.BOM_UTF16_LE) or head.startswith(codecs.BOM_UTF16_BE):
        return "utf-16"
    sample = head if complete else head[: head.rfind(b"\n") + 1] or head
    if b"\x00" in sample:
        off = sample.index(b"\x00")
        raise _file_error(
            path, f"含有二进制内容（第 {off:,} 字节为 0x00），不是文本导出文件（也可能是无 BOM 的 UTF-16）",
            f"contains binary data (byte {off:,} is 0x00): not a text export (or UTF-16 without a BOM)",
            hint="导出为 CSV（UTF-8 或 GB18030）或 .xlsx / export as CSV (UTF-8 or GB18030) or .xlsx")
    try:
        text = sample.decode("utf-8")
        return "utf-8" if not text.isascii() else "ascii"
    except UnicodeDecodeError as err:
        prefix = sample[: err.start].decode("utf-8", errors="replace")
        cjk = sum(1 for ch in prefix if "\u4e00" <= ch <= "\u9fff")
        if cjk >= 2:
            raise _decode_error(path, "utf-8", err.start, sample, mixed=True) from None
    try:
        sample.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError as err:
        raise _decode_error(path, "gb18030", err.start, sample, mixed=False) from None


def _decode_error(path: Path, encoding: str, offset: int, data: bytes | None, *, mixed: bool,
                  line: int | None = None) -> DataError:
    if line is None and data is not None:
        line = data[:offset].count(b"\n") + 1
    bad = data[offset: offset + 2].hex(" ").upper() if data is not None else ""
    bad_zh = f"，字节 0x{bad}" if bad else ""
    bad_en = f", bytes 0x{bad}" if bad else ""
    if mixed:
        zh = (f"编码混杂：文件前面是 UTF-8，但第 {line:,} 行（第 {offset:,} 字节{bad_zh}）不是 UTF-8，"
              "可能拼接了不同编码的文件")
        en = (f"mixed encodings: the file starts as UTF-8 but line {line:,} (byte offset {offset:,}"
              f"{bad_en}) is not UTF-8 — files of different encodings were probably joined")
    else:
        name = {"utf-8": "UTF-8", "gb18030": "GB18030", "utf-16": "UTF-16"}.get(encoding, encoding)
        zh = (f"无法识别文件编码：第 {line:,} 行（第 {offset:,} 字节{bad_zh}）既不是 UTF-8 也不是 GB18030"
              f"（按 {name} 解码失败），可能是二进制文件或混用了多种编码")
        en = (f"cannot decode the file: line {line:,} (byte offset {offset:,}{bad_en}) is neither UTF-8 "
              f"nor GB18030 (decoding as {name} failed); binary data or mixed encodings?")
    return _file_error(path, zh, en, hint="用文本编辑器或 Excel 将文件另存为 UTF-8 或 GB18030 编码后重新导入 / "
                                          "re-save the file as UTF-8 or GB18030 and import again")


def _locate_decode_error(path: Path, encoding: str) -> tuple[int, int, bytes] | None:
    """Stream the file to find the first undecodable byte: (offset, line, bytes)."""
    enc = "utf-8" if encoding in ("ascii", "utf-8-sig") else encoding
    base, lines, pending = 0, 0, b""
    with open(path, "rb") as fh:
        if encoding == "utf-8-sig":
            pending = fh.read(3)[3:]
            base = 3
        while True:
            chunk = fh.read(8 << 20)
            data = pending + chunk
            if not data:
                return None
            try:
                data.decode(enc)
                pending = b""
                consumed = len(data)
            except UnicodeDecodeError as err:
                if chunk and err.start >= len(data) - 4:
                    consumed = err.start
                    pending = data[err.start:]
                else:
                    return base + err.start, lines + data[: err.start].count(b"\n") + 1, \
                        data[err.start: err.start + 2]
            lines += data[:consumed].count(b"\n")
            base += consumed
            if not chunk:
                return None


def _first_long_line(path: Path, limit: int) -> int | None:
    """1-based number of the first physical line longer than ``limit`` bytes."""
    line, run = 1, 0
    with open(path, "rb") as fh:
        while chunk := fh.read(8 << 20):
            start = 0
            while True:
                nl = chunk.find(b"\n", start)
                if nl < 0:
                    run += len(chunk) - start
                    if run > limit:
                        return line
                    break
                if run + nl - start > limit:
                    return line
                run, start, line = 0, nl + 1, line + 1
    return None


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
                _mapping.match_header(c, "records") or _mapping.match_header(c, "modifications")
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


def _too_long(path: Path, line: int | None) -> DataError:
    where = f"第 {line:,} 行" if line else "有一行"
    where_en = f"line {line:,}" if line else "a line"
    mb = MAX_LINE_BYTES >> 20
    return _file_error(
        path, f"{where}超过 {mb} MB（没有换行符或单元格过长），拒绝读取，以免耗尽内存",
        f"{where_en} is longer than {mb} MB (no line breaks, or a huge cell); refused to keep memory bounded",
        hint="检查文件是否完整、换行符是否正确，或拆分超长单元格 / check that the file is a proper export with "
             "line breaks")


class _BadBytes(Exception):
    """Undecodable input at absolute byte ``offset``."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


def _line_of(path: Path, offset: int) -> int:
    line, seen = 1, 0
    with open(path, "rb") as fh:
        while seen < offset and (chunk := fh.read(min(8 << 20, offset - seen))):
            line += chunk.count(b"\n")
            seen += len(chunk)
    return line


_ICONV = None


def _iconv_lib():
    """libc's iconv through ctypes (glibc, macOS), or ``False`` when there is none."""
    global _ICONV
    if _ICONV is None:
        try:
            import ctypes
            import ctypes.util

            name = ctypes.util.find_library("c") or ctypes.util.find_library("iconv")
            lib = ctypes.CDLL(name, use_errno=True)
            lib.iconv_open.restype = ctypes.c_void_p
            lib.iconv_open.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            lib.iconv.restype = ctypes.c_size_t
            ptr = ctypes.POINTER(ctypes.c_void_p)
            size = ctypes.POINTER(ctypes.c_size_t)
            lib.iconv.argtypes = [ctypes.c_void_p, ptr, size, ptr, size]
            lib.iconv_close.argtypes = [ctypes.c_void_p]
            _ICONV = lib
        except (OSError, AttributeError, TypeError):
            _ICONV = False
    return _ICONV


def _iconv_to_utf8(path: Path, encoding: str):
    """The whole file converted to UTF-8 by libc's iconv, as an Arrow buffer.

    Twice as fast as Python's codec (this is most of the cost of reading a GB18030 export).
    Returns ``None`` when iconv is unavailable or does not know ``encoding``; raises
    :class:`_BadBytes` at the first undecodable byte.
    """
    import ctypes
    import errno as _errno
    import mmap

    lib = _iconv_lib()
    if not lib or encoding != "gb18030":
        return None
    cd = lib.iconv_open(b"UTF-8", b"GB18030")
    if cd in (None, ctypes.c_void_p(-1).value):
        return None
    try:
        size = path.stat().st_size
        cap = size + size // 2 + 64  # a GB18030 character never takes more than 1.5× in UTF-8
        out = pa.allocate_buffer(cap, resizable=True)
        with open(path, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_COPY) as mm:
            holder = ctypes.c_char.from_buffer(mm)
            try:
                base = ctypes.addressof(holder)
                inp, inleft = ctypes.c_void_p(base), ctypes.c_size_t(size)
                outp, outleft = ctypes.c_void_p(out.address), ctypes.c_size_t(cap)
                res = lib.iconv(cd, ctypes.byref(inp), ctypes.byref(inleft), ctypes.byref(outp),
                                ctypes.byref(outleft))
                if res == ctypes.c_size_t(-1).value:
                    err = ctypes.get_errno()
                    if err in (_errno.EILSEQ, _errno.EINVAL):
                        raise _BadBytes(inp.value - base)
                    return None
                written = cap - outleft.value
            finally:
                del holder
        out.resize(written, shrink_to_fit=True)
        return out
    finally:
        lib.iconv_close(cd)


def _use_threads() -> bool:
    """Parse with several threads only when the machine has idle cores (threads cost CPU)."""
    try:
        return os.getloadavg()[0] < (os.cpu_count() or 1) - 0.5
    except OSError:
        return True


def _read_text(path: Path, head: bytes, size: int, known=frozenset()) -> _Raw:
    import pyarrow.csv as pcsv

    complete = size <= len(head)
    if not complete and b"\n" not in head:
        raise _too_long(path, 1)
    encoding = _sniff_encoding(path, head, complete)
    py_enc = "utf-8" if encoding == "ascii" else encoding
    sample = head if complete else head[: head.rfind(b"\n") + 1]
    try:
        text = sample.decode(py_enc)
    except UnicodeDecodeError:
        text = sample.decode(py_enc, errors="replace")
    text = text.lstrip("\ufeff")
    if not text.strip():
        raise _file_error(path, "文件为空（没有任何内容）", "the file is empty",
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
        raise _file_error(path, f"表头无法解析：{err}", f"cannot parse the header: {err}") from None
    # drop leading blank lines from consideration but keep physical line numbers
    hi = _pick_header([r if any(c.strip() for c in r) else [] for r in head_rows], known)
    while hi < len(head_rows) and not any(c.strip() for c in head_rows[hi]):
        hi += 1
    if hi >= len(head_rows):
        raise _file_error(path, "文件为空（没有表头和数据）", "the file is empty (no header, no data)")
    headers = [h.strip() for h in head_rows[hi]]
    header_line = line_ends[hi]  # physical line number of the header's last line
    n_cols = len(headers)
    names = [f"c{i}" for i in range(n_cols)]
    invalid, blank = [], []

    def on_invalid(row):
        # blank lines are kept as (invalid, one-cell) rows so that they still count in the row
        # numbers a user sees; they are dropped here and remembered
        (blank if not row.text.strip() else invalid).append((row.number, row.text[:60], row.actual_columns))
        return "skip"

    converted: dict[str, object] = {}

    def _read(enc, threads=None):
        utf8 = enc in ("utf-8", "ascii", "utf-8-sig")
        source = path
        if not utf8:
            if enc not in converted:
                converted[enc] = _iconv_to_utf8(path, enc)  # None: no iconv here, Arrow transcodes
            if converted[enc] is not None:
                source, enc = pa.BufferReader(converted[enc]), "utf8"
        ropts = pcsv.ReadOptions(use_threads=_use_threads() if threads is None else threads,
                                 block_size=MAX_LINE_BYTES, skip_rows=header_line, column_names=names,
                                 encoding="utf8" if utf8 else enc)
        popts = pcsv.ParseOptions(delimiter=delim, newlines_in_values=True, invalid_row_handler=on_invalid,
                                  ignore_empty_lines=n_cols == 1)
        # text transcoded from another encoding is valid UTF-8 by construction: skip the re-check
        copts = pcsv.ConvertOptions(column_types={n: pa.string() for n in names}, strings_can_be_null=True,
                                    quoted_strings_can_be_null=True, null_values=NULL_VALUES,
                                    check_utf8=utf8)
        return pcsv.read_csv(source, read_options=ropts, parse_options=popts, convert_options=copts)

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
    except _BadBytes as err:
        raise _decode_with_context(path, encoding, err.offset, _line_of(path, err.offset)) from None
    except UnicodeDecodeError:
        found = _locate_decode_error(path, encoding)
        if found is None:
            raise
        off, line, _bad = found
        raise _decode_with_context(path, encoding, off, line) from None
    except pa.ArrowInvalid as err:
        msg = str(err)
        if "straddl" in msg or "block size" in msg:
            long_line = _first_long_line(path, MAX_LINE_BYTES)
            if long_line is not None:
                raise _too_long(path, long_line) from None
            # no physical line is that long: a quote opened and never closed swallowed the rest
            raise _file_error(
                path, f"无法按 {encoding} 文本解析为表格：引号不成对或文件不是文本导出（可能是二进制文件）",
                f"cannot be parsed as a {encoding} table: an unclosed quote, or not a text export "
                "(binary data?)",
                hint="用统一业务应用系统重新导出该文件 / export the file again from the system") from None
        if "UTF8" in msg:
            found = _locate_decode_error(path, encoding)
            if found is not None:
                off, line, _bad = found
                raise _decode_with_context(path, encoding, off, line) from None
        raise _file_error(path, f"CSV 格式错误：{msg[:200]}", f"malformed CSV: {msg[:200]}") from None
    if invalid or blank:
        if any(num is None for num, _, _ in invalid + blank):  # line numbers are known single-threaded
            invalid.clear()
            blank.clear()
            table = _read(encoding, threads=False)
    if invalid:
        rows = [num for num, _, _ in invalid if num is not None]
        counts = "、".join(str(c) for c in sorted({c for _, _, c in invalid}))
        raise _file_error(
            path, f"{_rows_zh(rows)}的单元格个数与表头（{n_cols} 列）不一致（实有 {counts} 列），"
                  "可能有未加引号的分隔符或多余的列",
            f"{_rows_en(rows)}: the number of cells differs from the header ({n_cols} columns; found "
            f"{counts}) — an unquoted delimiter or a stray column?",
            hint="在 Excel 中打开检查这些行，或重新导出 / check these rows or export again")
    rows = np.arange(table.num_rows, dtype=np.int64) + header_line + 1
    if blank:
        lines = np.asarray(sorted(num for num, _, _ in blank if num is not None), dtype=np.int64)
        span = np.arange(header_line + 1, header_line + 1 + table.num_rows + len(lines), dtype=np.int64)
        rows = np.setdiff1d(span, lines, assume_unique=True)[: table.num_rows]
    enc_name = {"ascii": "UTF-8", "utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "gb18030": "GB18030",
                "utf-16": "UTF-16", "utf-32": "UTF-32"}[encoding]
    return _Raw(path, "csv", headers, [table.column(i) for i in range(n_cols)], rows, enc_name)


def _decode_with_context(path: Path, encoding: str, off: int, line: int) -> DataError:
    with open(path, "rb") as fh:
        fh.seek(off)
        data = fh.read(2)
    mixed = encoding in ("utf-8", "utf-8-sig")
    err = _decode_error(path, "utf-8" if mixed else encoding, 0, data, mixed=mixed, line=line)
    # the offset in the message must be the absolute one
    err.zh = err.zh.replace("第 0 字节", f"第 {off:,} 字节")
    err.en = err.en.replace("byte offset 0", f"byte offset {off:,}")
    err.args = (str(err),)
    return err


# --- Excel -------------------------------------------------------------------------------------


def _check_zip(path: Path) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except zipfile.BadZipFile:
        raise _file_error(path, "Excel 文件已损坏或不完整（zip 结构无法读取）",
                          "the workbook is damaged or truncated (its zip structure cannot be read)",
                          hint="重新导出或重新下载该文件 / export or download it again") from None
    names = {i.filename for i in infos}
    if "xl/workbook.xml" not in names:
        raise _file_error(path, "这是 zip 文件但不是 Excel 工作簿（缺少 xl/workbook.xml）",
                          "this is a zip file but not an Excel workbook (no xl/workbook.xml)")
    total = sum(i.file_size for i in infos)
    if total > MAX_XLSX_UNCOMPRESSED:
        raise _file_error(
            path, f"解压后大小声明为 {total / 2**30:,.1f} GB，超过上限 {MAX_XLSX_UNCOMPRESSED >> 30} GB，"
                  "疑似压缩炸弹，拒绝打开",
            f"declares {total / 2**30:,.1f} GB uncompressed (limit {MAX_XLSX_UNCOMPRESSED >> 30} GB): "
            "a zip bomb? refused", hint="导出为 CSV 后导入 / export as CSV instead")
    for i in infos:
        ratio = i.file_size / max(i.compress_size, 1)
        if i.file_size > (10 << 20) and ratio > MAX_XLSX_RATIO:
            raise _file_error(
                path, f"成员 {i.filename} 压缩比 {ratio:,.0f}:1 异常（上限 {MAX_XLSX_RATIO}:1），"
                      "疑似压缩炸弹，拒绝打开",
                f"member {i.filename} has a compression ratio of {ratio:,.0f}:1 (limit "
                f"{MAX_XLSX_RATIO}:1): a zip bomb? refused", hint="导出为 CSV 后导入 / export as CSV instead")


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


def _read_xlsx(path: Path, known=frozenset()) -> _Raw:
    _check_zip(path)
    import openpyxl

    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore")
        wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
        try:
            chosen = None
            for ws in wb.worksheets:
                if hasattr(ws, "reset_dimensions"):
                    ws.reset_dimensions()  # some writers declare a wrong sheet size: read every cell
                it = ws.iter_rows(values_only=True)
                top = []
                for r_i, row in enumerate(it, 1):
                    if any(v is not None and str(v).strip() for v in row):
                        top.append((r_i, list(row)))
                    if len(top) >= 10 or r_i > 200:
                        break
                if not top:
                    continue
                hi = _pick_header([cells for _, cells in top], known)
                if chosen is None or (_header_score(top[hi][1], known) >= 2 > _header_score(chosen[2], known)):
                    chosen = (ws, top[hi][0], top[hi][1])
                if _header_score(top[hi][1], known) >= 2:
                    break
            if chosen is None:
                raise _file_error(path, "工作簿中没有任何内容（所有工作表均为空）", "the workbook is empty (all sheets)")
            ws, header_row, header_cells = chosen
            while header_cells and (header_cells[-1] is None or not str(header_cells[-1]).strip()):
                header_cells.pop()
            headers = ["" if h is None else str(h).strip() for h in header_cells]
            n = len(headers)
            cols: list[list] = [[] for _ in range(n)]
            rows = []
            beyond: list[int] = []
            for r_i, row in enumerate(ws.iter_rows(min_row=header_row + 1, values_only=True), header_row + 1):
                if not any(v is not None and (not isinstance(v, str) or v.strip()) for v in row):
                    continue
                rows.append(r_i)
                for j in range(n):
                    v = row[j] if j < len(row) else None
                    cols[j].append(_cell_text(v))
                if len(row) > n and any(v is not None for v in row[n:]):
                    beyond.append(r_i)  # cells beyond the last header column: noted below
        finally:
            wb.close()
    notes = []
    if beyond:
        notes.append(
            f"{path.name}：{_rows_zh(beyond)}在表头之外的列还有内容，已忽略 / {path.name}: {_rows_en(beyond)} have "
            "cells beyond the last header column; ignored")
    data = [pa.chunked_array([pa.array(c, pa.string())]) for c in cols]
    return _Raw(path, "xlsx", headers, data, np.asarray(rows, dtype=np.int64), None, notes)


# --- JSON ----------------------------------------------------------------------------------------


def _flatten(obj: dict, prefix: str, out: dict) -> None:
    for k, v in obj.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            _flatten(v, key + ".", out)
        else:
            out[key] = v


def _scalar_text(v):
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _read_json(path: Path, head: bytes, size: int) -> _Raw:
    complete = size <= len(head)
    if not complete and b"\n" not in head and not _strip_bom(head).lstrip().startswith(b"["):
        raise _too_long(path, 1)
    encoding = _sniff_encoding(path, head, complete)
    py_enc = "utf-8" if encoding == "ascii" else encoding
    records: list[tuple[int, dict]] = []
    bad: list[int] = []
    doc = None
    if _strip_bom(head).lstrip().startswith(b"["):
        if size > MAX_JSON_ARRAY_BYTES:
            raise _file_error(path, f"JSON 数组文件超过 {MAX_JSON_ARRAY_BYTES >> 20} MB，请改用 JSON Lines（每行一个对象）",
                              f"a JSON array file larger than {MAX_JSON_ARRAY_BYTES >> 20} MB; use JSON Lines")
        try:
            doc = json.loads(path.read_bytes().decode(py_enc))
        except UnicodeDecodeError as err:
            raise _decode_error(path, py_enc, err.start, path.read_bytes(), mixed=False) from None
        except json.JSONDecodeError as err:
            if err.msg != "Extra data":  # "Extra data": several JSON values, i.e. JSON Lines
                raise _file_error(path, f"JSON 格式错误：第 {err.lineno} 行第 {err.colno} 列（{err.msg}）",
                                  f"malformed JSON at line {err.lineno}, column {err.colno} ({err.msg})") from None
    if doc is not None:
        if not isinstance(doc, list):
            raise _file_error(path, "JSON 顶层应为对象数组", "the JSON top level must be an array of objects")
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
                    raise _too_long(path, line_no)
                try:
                    text = dec.decode(raw)
                except UnicodeDecodeError:
                    found = _locate_decode_error(path, encoding)
                    off, line, _b = found if found else (fh.tell(), line_no, b"")
                    raise _decode_with_context(path, encoding, off, line) from None
                text = text.strip().lstrip("\ufeff")
                if not text:
                    continue
                try:
                    obj = json.loads(text)
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
        raise _file_error(path, f"{_rows_zh(bad)}不是合法的 JSON 对象", f"{_rows_en(bad)}: not a valid JSON object",
                          hint="JSON Lines 每行应为一个 {…} 对象 / JSON Lines needs one {…} object per line")
    if not records:
        raise _file_error(path, "文件为空（没有任何记录）", "the file is empty (no records)")
    keys: dict[str, None] = {}
    flat_rows = []
    for _, obj in records:
        flat: dict = {}
        _flatten(obj, "", flat)
        flat_rows.append(flat)
        for k in flat:
            keys.setdefault(k, None)
    data = []
    for k in keys:
        vals = [r.get(k) for r in flat_rows]
        if any(isinstance(v, list) for v in vals):
            arr = pa.array([None if v is None else [_scalar_text(x) for x in (v if isinstance(v, list) else [v])]
                            for v in vals], pa.list_(pa.string()))
        else:
            arr = pa.array([_scalar_text(v) for v in vals], pa.string())
        data.append(pa.chunked_array([arr]))
    rows = np.asarray([r for r, _ in records], dtype=np.int64)
    enc_name = {"ascii": "UTF-8", "utf-8": "UTF-8", "utf-8-sig": "UTF-8 (BOM)", "gb18030": "GB18030",
                "utf-16": "UTF-16", "utf-32": "UTF-32"}[encoding]
    return _Raw(path, fmt, list(keys), data, rows, enc_name)


# --- Parquet -----------------------------------------------------------------------------------


def _read_parquet(path: Path) -> _Raw:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as err:
        raise _file_error(path, f"Parquet 文件无法读取（已损坏或不完整）：{str(err)[:160]}",
                          f"cannot read the Parquet file (damaged or truncated): {str(err)[:160]}") from None
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
    return _Raw(path, "parquet", [table.schema[i].name for i in keep], data, rows, None)


def _read_raw(path: Path, known=frozenset()) -> _Raw:
    if not path.exists():
        raise DataError(f"文件不存在：{path}", f"file not found: {path}", hint="检查路径 / check the path")
    if path.is_dir():
        raise DataError(f"这是文件夹，不是文件：{path}", f"this is a folder, not a file: {path}",
                        hint="列出要导入的文件，如 exports/*.csv / name the files, e.g. exports/*.csv")
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    if size == 0 or not _strip_bom(head).strip(b" \t\r\n\x00"):
        if size <= HEAD_BYTES:
            raise _file_error(path, "文件为空（没有任何内容）", "the file is empty",
                              hint="重新从系统导出 / export it again")
    fmt = _detect_format(path, head)
    if fmt == "xlsx":
        return _read_xlsx(path, known)
    if fmt == "parquet":
        return _read_parquet(path)
    if fmt == "json":
        return _read_json(path, head, size)
    return _read_text(path, head, size, known)


# ---------------------------------------------------------------------------------------------
# Value coercion (vectorised: Arrow compute on whole columns, Python only on unique values)
# ---------------------------------------------------------------------------------------------


def _as_array(col):
    """Arrow data as given (Array or ChunkedArray: compute functions take both)."""
    return col


def _as_string(a: pa.Array) -> pa.Array:
    if pa.types.is_string(a.type):
        return a
    if pa.types.is_large_string(a.type) or pa.types.is_dictionary(a.type):
        return pc.cast(a, pa.string())
    if pa.types.is_floating(a.type):
        return pa.array([_scalar_text(x) for x in a.to_pylist()], pa.string())
    if pa.types.is_boolean(a.type):
        return pc.if_else(a, "true", "false")
    return pc.cast(a, pa.string())


def _null_if_blank(a: pa.Array) -> pa.Array:
    """Trim whitespace; blank cells become null."""
    a = pc.utf8_trim_whitespace(_as_string(a))
    empty = pc.equal(a, "")
    if pc.any(empty).as_py():
        a = pc.if_else(empty, pa.scalar(None, pa.string()), a)
    return a


def _norm_key(s: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s)).lower()


def _dict_encode(a) -> tuple[pa.Array, object]:
    """(unique values, indices into them with nulls) — one hash pass, chunked or not."""
    d = pc.dictionary_encode(a)
    if not isinstance(d, pa.ChunkedArray):
        return d.dictionary, d.indices
    if d.num_chunks == 0:
        return pa.array([], a.type), pa.chunked_array([], pa.int32())
    last = d.chunk(d.num_chunks - 1).dictionary
    # Arrow's hash kernel gives every chunk the same (final) memo table; check before relying on it
    shared = all(c.dictionary.buffers()[-1].address == last.buffers()[-1].address
                 and len(c.dictionary) == len(last) for c in d.chunks)
    if not shared:
        d = pc.dictionary_encode(a.combine_chunks())
        return d.dictionary, d.indices
    return last, pa.chunked_array([c.indices for c in d.chunks], pa.int32())


class _Uniq:
    """A string column seen through its unique values (when they are few) or whole.

    ``values`` is what to compute on — trimmed, blanks as null; :meth:`expand` maps per-value
    results back to rows and :meth:`row_mask` a per-value mask to a per-row mask.
    """

    def __init__(self, a, *, force: bool = False):
        a = _as_string(a)
        self.n = len(a)
        use = force or self.n <= 50_000
        if not use:
            sample = a.slice(0, 20_000)
            use = pc.count_distinct(sample).as_py() <= len(sample) // 4
        if use:
            values, self.aidx = _dict_encode(a)
            self.idx = self.aidx.fill_null(-1).to_numpy(zero_copy_only=False)
            self.values = _null_if_blank(values)
        else:
            self.values, self.aidx, self.idx = _null_if_blank(a), None, None

    def expand(self, res, fill=None):
        """Per-value results (numpy array or Arrow array) → per-row."""
        if self.idx is None:
            return res
        if isinstance(res, (pa.Array, pa.ChunkedArray)):
            return pc.take(res, self.aidx)
        return np.append(res, np.asarray([fill], dtype=res.dtype))[self.idx]

    def row_mask(self, mask_u: np.ndarray) -> np.ndarray:
        if self.idx is None:
            return mask_u
        return np.append(mask_u, False)[self.idx]

    def pylist(self) -> list:
        return self.values.to_pylist()


def _code_lookup(codes: str) -> dict[str, str]:
    table = schema.CODE_TABLES[codes]
    out = {}
    for code, (zh, en) in table.items():
        for k in (code, zh, en):
            out[_norm_key(k)] = code
    for k, v in _SYNONYMS.get(codes, {}).items():
        out.setdefault(_norm_key(k), v)
    return out


_BRACKETS_RE = re.compile(r"[\[\]【】〔〕［］]")


def normalise_charge(name: str) -> str:
    """The schema's plain form of a charge name.

    Examples
    --------
    >>> normalise_charge("[走私、贩卖、运输、制造]毒品")
    '走私、贩卖、运输、制造毒品'
    >>> normalise_charge(" 盗窃罪 "), normalise_charge("掩饰、隐瞒犯罪所得罪")
    ('盗窃', '掩饰、隐瞒犯罪所得')
    """
    s = re.sub(r"\s+", "", unicodedata.normalize("NFKC", str(name)))
    s = _BRACKETS_RE.sub("", s)
    if s not in schema.CHARGES and s.endswith("罪") and s[:-1] in schema.CHARGES:
        s = s[:-1]
    return s


def _any(mask) -> bool:
    return bool(pc.any(mask).as_py())


def normalise_case_no(a) -> pa.Array:
    """Case numbers: half-width, no spaces, 〔〕【】［］ → [].

    Examples
    --------
    >>> normalise_case_no(["沭检刑诉受〔2024〕 371329000004号", "桃检刑诉受【２０２４】1号"]).to_pylist()
    ['沭检刑诉受[2024]371329000004号', '桃检刑诉受[2024]1号']
    """
    a = pa.array(a, pa.string()) if isinstance(a, list) else a
    if not _any(pc.match_substring_regex(a, r"[〔〕【】\s\x{FF01}-\x{FF5E}\x{3000}]")):
        return a  # one pass when there is nothing to do
    if _any(pc.match_substring_regex(a, r"[\x{FF01}-\x{FF5E}\x{3000}]")):
        a = pc.utf8_normalize(a, form="NFKC")
    for old, new in (("〔", "["), ("〕", "]"), ("【", "["), ("】", "]")):
        a = pc.replace_substring(a, old, new)
    return pc.replace_substring_regex(a, r"\s+", "")


def _normalise_id(a: pa.Array) -> pa.Array:
    if not _any(pc.match_substring_regex(a, r"[\s\x{FF01}-\x{FF5E}\x{3000}]")):
        return a
    if _any(pc.match_substring_regex(a, r"[\x{FF01}-\x{FF5E}\x{3000}]")):
        a = pc.utf8_normalize(a, form="NFKC")
    return pc.replace_substring_regex(a, r"\s+", "")


def _parse_numbers(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN, bad mask) for one column."""
    if pa.types.is_integer(a.type) or pa.types.is_floating(a.type) or pa.types.is_decimal(a.type):
        v = pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False)
        return np.asarray(v, dtype=np.float64), np.zeros(len(a), bool)
    if pa.types.is_boolean(a.type):
        a = pc.cast(a, pa.int8())
        return pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(len(a), bool)
    u = _Uniq(a)
    s = u.values
    if pc.all(pc.string_is_ascii(s)).as_py() is False:
        s = pc.utf8_normalize(s, form="NFKC")
    if _any(pc.match_substring_regex(s, r"[,'\s]")):
        s = pc.replace_substring_regex(s, r"[,'\s]", "")
    ok = pc.fill_null(pc.match_substring_regex(s, _NUM_RE), False)
    vals = pc.cast(pc.if_else(ok, s, pa.scalar(None, pa.string())), pa.float64())
    v = np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = pc.is_valid(s).to_numpy(zero_copy_only=False) & ~ok.to_numpy(zero_copy_only=False)
    return u.expand(v, np.nan), u.row_mask(bad)


def _dates_general(u: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse any accepted date form (vectorised regex); (datetime64[s] with NaT, ok mask)."""
    m = len(u)
    if pc.all(pc.string_is_ascii(u)).as_py() is False:
        u = pc.utf8_normalize(u, form="NFKC")
    parts: dict[str, pa.Array] = {}
    for pat in (_DATE_RE, _COMPACT_RE):
        st = pc.extract_regex(u, pattern=pat)
        for f in ("y", "m", "d", "H", "M", "S"):
            fld = pc.struct_field(st, f)
            fld = pc.if_else(pc.equal(fld, ""), pa.scalar(None, pa.string()), fld)
            parts[f] = fld if f not in parts else pc.coalesce(parts[f], fld)
    matched = pc.is_valid(parts["y"]).to_numpy(zero_copy_only=False)

    def ints(f, default):
        return pc.fill_null(pc.cast(parts[f], pa.int64()), default).to_numpy(zero_copy_only=False)

    y, mo, d = ints("y", 1970), ints("m", 1), ints("d", 1)
    hh, mi, ss = ints("H", 0), ints("M", 0), ints("S", 0)
    months = ((y - 1970) * 12 + np.clip(mo, 1, 12) - 1).astype("datetime64[M]")
    dim = ((months + 1).astype("datetime64[D]") - months.astype("datetime64[D]")).astype(np.int64)
    ok = matched & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (hh < 24) & (mi < 60) & (ss < 61)
    out = months.astype("datetime64[D]").astype("datetime64[s]") + (
        (np.clip(d, 1, 31) - 1) * 86400 + hh * 3600 + mi * 60 + ss).astype("timedelta64[s]")
    out = np.where(ok, out, np.datetime64("NaT", "s"))
    # numbers: Excel serials (1 … 99999) and Unix timestamps (10 digits s, 13 digits ms)
    num_ok = pc.fill_null(pc.match_substring_regex(u, r"^\d{1,5}(\.\d+)?$|^\d{10}(\.\d+)?$|^\d{13}$"),
                          False).to_numpy(zero_copy_only=False) & ~matched
    if num_ok.any():
        vals = pc.cast(pc.if_else(pa.array(num_ok), u, pa.scalar(None, pa.string())), pa.float64())
        v = np.nan_to_num(np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64))
        serial = num_ok & (v >= 1) & (v < 100000)
        epoch = num_ok & (((v >= 1e9) & (v < 1e10)) | ((v >= 1e12) & (v < 1e13)))
        secs = np.where(serial, np.round((v - 25569) * 86400), 0)
        # Unix time is UTC; case cards are kept in Beijing time (UTC+8)
        secs = np.where(epoch, np.round(np.where(v >= 1e12, v / 1000, v)) + 8 * 3600, secs)
        good = serial | epoch
        out = np.where(good, secs.astype(np.int64).astype("datetime64[s]"), out)
        ok = ok | good
    return out, ok


def _parse_dates(a: pa.Array, *, date_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[s] values with NaT, bad mask) for one column."""
    n = len(a)
    if pa.types.is_timestamp(a.type):
        if a.type.tz is not None:
            a = pc.local_timestamp(a)
        v = pc.cast(a, pa.timestamp("s"), safe=False).to_numpy(zero_copy_only=False).astype("datetime64[s]")
        return (v.astype("datetime64[D]").astype("datetime64[s]") if date_only else v), np.zeros(n, bool)
    if pa.types.is_date(a.type):
        v = pc.cast(a, pa.timestamp("s")).to_numpy(zero_copy_only=False).astype("datetime64[s]")
        return v, np.zeros(n, bool)
    u = _Uniq(a, force=date_only)
    s = u.values
    m = len(s)
    out = np.full(m, np.datetime64("NaT", "s"))
    ok = np.zeros(m, bool)
    # fast path: ISO forms, parsed by strptime and checked against the day it read
    for fmt, pat in (("%Y-%m-%d %H:%M:%S", r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"), ("%Y-%m-%d", r"^\d{4}-\d\d-\d\d$")):
        hit = pc.fill_null(pc.match_substring_regex(s, pat), False)
        if not _any(hit):
            continue
        parsed = pc.strptime(s, format=fmt, unit="s", error_is_null=True)
        day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(hit, s, "0000-00-01"), 8, 10), pa.int64())
        good = pc.fill_null(pc.and_(hit, pc.equal(pc.day(parsed), day)), False).to_numpy(zero_copy_only=False)
        out = np.where(good, parsed.to_numpy(zero_copy_only=False).astype("datetime64[s]"), out)
        ok |= good
    rest = np.flatnonzero(~ok & pc.is_valid(s).to_numpy(zero_copy_only=False))
    if len(rest):
        sub_out, sub_ok = _dates_general(pc.take(s, pa.array(rest)))
        out[rest] = sub_out
        ok[rest] = sub_ok
    if date_only:
        out = out.astype("datetime64[D]").astype("datetime64[s]")
    bad = pc.is_valid(s).to_numpy(zero_copy_only=False) & ~ok
    return u.expand(out, np.datetime64("NaT", "s")).astype("datetime64[s]"), u.row_mask(bad)


def _map_uniques(a: pa.Array, fn) -> tuple[_Uniq, list, np.ndarray]:
    """Apply ``fn(value) -> (result, ok)`` to each unique value of a string column.

    Returns the :class:`_Uniq` view, the per-value results and the per-row bad mask.
    """
    u = _Uniq(a, force=True)
    res, ok = [], []
    for v in u.pylist():
        r, good = fn(v) if v is not None else (None, True)
        res.append(r)
        ok.append(good)
    return u, res, u.row_mask(~np.asarray(ok, dtype=bool))


# ---------------------------------------------------------------------------------------------
# One file → canonical frame
# ---------------------------------------------------------------------------------------------


@dataclass
class _Frame:
    path: Path
    fmt: str
    encoding: str | None
    table: str
    df: pd.DataFrame
    rows: np.ndarray
    warnings: list[str]


def _warn(name, table, col, rows, zh, en) -> str:
    label = _col_label(table, col) if col else ""
    return (f"{name}：列{label}：{_rows_zh(rows)}{zh}（已保留） / "
            f"{name}: column {col}: {_rows_en(rows)}: {en} (kept)")


def _recode(a: pa.Array, table_: dict) -> pa.Array:
    lut = {str(k).strip(): v for k, v in table_.items()}

    def fn(u):
        if u in lut:
            v = lut[u]
            return (None if v is None else "true" if v is True else "false" if v is False else str(v)), True
        return u, True

    u, res, _ = _map_uniques(a, fn)
    return u.expand(pa.array(res, pa.string()))


def _default_array(value, raw: _Raw, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    text = "true" if value is True else "false" if value is False else str(value)
    if "{row}" in text or "{file}" in text:
        text = text.replace("{file}", raw.path.stem)
        parts = text.split("{row}")
        rows = pc.cast(pa.array(raw.rows), pa.string())
        pieces = []
        for k, p in enumerate(parts):
            if k:
                pieces.append(rows)
            pieces.append(p)
        return pc.binary_join_element_wise(*pieces, "")
    return pa.array(np.full(n, text, dtype=object), pa.string())


def _to_frame(raw: _Raw, *, mapping: _mapping.Mapping | None, table: str | None) -> _Frame:
    name = raw.path.name
    n = len(raw.rows)
    res = _mapping.resolve(raw.headers, table=table, mapping=mapping)
    table = res.table
    tcols = {c.name: c for c in schema.columns(table)}
    warnings: list[str] = list(raw.notes)
    if res.duplicated:
        zh = "；".join(f"「{raw.headers[p[0]]}」出现 {len(p)} 次（第 {'、'.join(str(i + 1) for i in p)} 列）"
                      for p in res.duplicated.values())
        en = "; ".join(f"'{raw.headers[p[0]]}' appears {len(p)} times (columns {', '.join(str(i + 1) for i in p)})"
                       for p in res.duplicated.values())
        raise _file_error(raw.path, f"表头中有重复的列名：{zh}，无法确定使用哪一列",
                          f"duplicated headers: {en}; cannot tell which column to use",
                          hint="删除或改名重复的列，或在映射文件 columns 中指定 / remove or rename the duplicates, "
                               "or choose one in the mapping file")
    defaults = dict(mapping.defaults) if mapping else {}
    derivable = {"charge": "charges", "stage": "case_type"}
    present = set(res.sources) | set(defaults)
    judgment_only = defaults.get("stage") == "judgment"
    missing = [c for c in schema.required_columns(table)
               if c not in present and not (c in derivable and derivable[c] in present)
               and not (judgment_only and c in schema.NOT_REQUIRED_FOR_JUDGMENT)]
    if missing:
        known = len(res.sources)
        labels_zh = "、".join(f"{tcols[c].label_zh}（{c}）" for c in missing)
        labels_en = ", ".join(f"{c} ({tcols[c].label_zh})" for c in missing)
        seen = "、".join(h for h in raw.headers[:12] if h) + ("…" if len(raw.headers) > 12 else "")
        seen_en = ", ".join(h for h in raw.headers[:12] if h) + ("…" if len(raw.headers) > 12 else "")
        if known == 0:
            why = ("未识别出任何列名：可能缺少表头行、表头不是中文导出列名（语言不对），或文件编码有误。"
                   f"文件中的列：{seen or '（空）'}")
            why_en = ("No header was recognised: the header row may be missing, in another language, or "
                      f"garbled by a wrong encoding. Headers found: {seen_en or '(none)'}")
        else:
            why = f"文件中的列：{seen}"
            why_en = f"Headers found: {seen_en}"
        raise _file_error(
            raw.path, f"缺少必需列 {labels_zh}（目标表 {table}）。{why}",
            f"missing required column{'s' if len(missing) > 1 else ''} {labels_en} (table {table}). {why_en}",
            hint="表头应为系统导出的中文列名（如 " + "、".join(tcols[c].label_zh for c in schema.required_columns(table))
                 + "）或规范英文名；其他列名请用 --mapping 映射文件对应 / headers must be the system's Chinese "
                   "column names or canonical English names; map others with --mapping (see "
                   "casework/resources/mappings/example.yaml)")
    if res.ignored:
        shown = "、".join(res.ignored[:15]) + (" 等" if len(res.ignored) > 15 else "")
        warnings.append(f"{name}：{len(res.ignored)} 列未识别，已忽略：{shown} / {name}: "
                        f"{len(res.ignored)} unrecognised column(s) ignored: {', '.join(res.ignored[:15])}")
    for dropped, canon, kept in res.displaced:
        warnings.append(f"{name}：列「{dropped}」与「{kept}」都对应 {canon}，使用「{kept}」 / {name}: "
                        f"columns '{dropped}' and '{kept}' both mean {canon}; using '{kept}'")
    if mapping:
        for canon, src in mapping.columns.items():
            if canon in tcols and canon not in res.sources:
                warnings.append(f"{name}：映射文件指定的源列「{src}」（{canon}）在文件中不存在 / {name}: the "
                                f"mapping's source '{src}' for {canon} is not in the file")
    problems: list[_Problem] = []
    out: dict[str, object] = {}
    rows = raw.rows
    recode = mapping.recode if mapping else {}
    split = mapping.split if mapping else {}

    reported: dict[str, np.ndarray] = {}

    def problem(col, mask, zh, en, sample=None):
        if col in reported and len(reported[col]) == len(mask):
            mask = mask & ~reported[col]
        hit = np.flatnonzero(mask)
        if len(hit):
            reported[col] = reported[col] | mask if col in reported and len(reported[col]) == len(mask) else mask
            ex = _examples(sample(hit)) if sample is not None else ""
            problems.append(_Problem(col, rows[hit], zh, en, ex))

    formula_rows: dict[str, np.ndarray] = {}
    pa_out: dict[str, pa.Array] = {}

    def job(canon, col):
        """Coerce one column; everything it reports is collected locally (threads)."""
        found, notes, formulas, arrow = [], [], {}, {}
        if canon in res.sources:
            a = _as_array(raw.data[res.sources[canon]])
        else:
            a = _default_array(defaults[canon], raw, n)
        if canon in recode:
            a = _recode(a, recode[canon])
        if canon in defaults and canon in res.sources and defaults[canon] is not None:
            if not pa.types.is_list(a.type):
                a = pc.coalesce(_null_if_blank(a), _default_array(defaults[canon], raw, n))
        if pa.types.is_list(a.type) and col.dtype != "list":
            lens = pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False)
            if (lens > 1).any():
                notes.append(_warn(name, table, canon, rows[lens > 1], "是多个值的列表，只取第一个",
                                   "holds lists of several values; the first is used"))
            a = pc.list_element(pc.if_else(pc.greater(pc.fill_null(pc.list_value_length(a), 0), 0), a,
                                           pa.scalar(None, a.type)), 0)
        values = _coerce(a, col, table, name, rows, lambda *args: found.append(args), notes, formulas,
                         split.get(canon), arrow)
        return canon, values, found, notes, formulas, arrow

    todo = [(c, col) for c, col in tcols.items() if c in res.sources or c in defaults]
    if n >= PARALLEL_MIN_ROWS and len(todo) > 1 and _use_threads():
        # Arrow compute releases the GIL: columns coerce in parallel when cores are idle
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
            done = list(pool.map(lambda t: job(*t), todo))
    else:
        done = [job(c, col) for c, col in todo]
    for canon, values, found, notes, formulas, arrow in done:  # merged in schema order
        out[canon] = values
        for args in found:
            problem(*args)
        warnings.extend(notes)
        formula_rows.update(formulas)
        pa_out.update(arrow)
    if formula_rows:
        for canon, r in formula_rows.items():
            warnings.append(_warn(name, table, canon, r, "以 = + - @ 开头（粘贴到电子表格时可能被当作公式执行），按原文作为文本",
                                  "starts with = + - @ (would run as a formula if pasted into a spreadsheet); "
                                  "read as plain text, never evaluated"))
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    notes = _derive(df, table, pa_out)
    warnings.extend(f"{name}：{zh} / {name}: {en}" for zh, en in notes)
    _check_required(df, table, rows, problem)
    if table == "records":
        _check_duplicates(df, rows, problem, pa_out)
    if problems:
        _raise_problems(name, table, problems)
    warnings.extend(_suspicious(df, table, name, rows))
    if table == "modifications":
        warnings.extend(_canonical_modifications(df, name, rows))
    df = schema.conform(df, table)
    return _Frame(raw.path, raw.fmt, raw.encoding, table, df, rows, warnings)


def _sampler(a: pa.Array):
    """Examples for an error message: the values of ``a`` at some row positions."""
    def get(hit):
        return pc.take(a, pa.array(np.asarray(hit[:50], dtype=np.int64))).to_pylist()
    return get


def _coerce(a, col, table, name, rows, problem, warnings, formula_rows, seps, pa_out):
    """One column to its canonical pandas values; bad cells reported through ``problem``."""
    canon = col.name
    if col.dtype == "list":
        return _coerce_list(a, col, seps, formula_rows, rows)
    if col.dtype in ("date", "datetime"):
        vals, bad = _parse_dates(a, date_only=col.dtype == "date")
        if bad.any():
            problem(canon, bad, "不是可识别的日期（应为 2024-05-03、2024/5/3、2024年5月3日、20240503、"
                                "Excel 日期序号或 2024-05-03 14:22:10）",
                    "not a date; expected 2024-05-03, 2024/5/3, 2024年5月3日, 20240503, an Excel serial "
                    "date or 2024-05-03 14:22:10", _sampler(a))
        return vals
    if col.dtype in ("int", "float"):
        v, bad = _parse_numbers(a)
        if col.dtype == "int":
            finite = np.nan_to_num(v)
            bad = bad | (~np.isnan(v) & (np.floor(finite) != finite))
        if bad.any():
            what = "整数" if col.dtype == "int" else "数值"
            problem(canon, bad, f"不是{what}（应为如 12、1,500 或 3.5 的数字）",
                    f"not {'an integer' if col.dtype == 'int' else 'a number'} (expected e.g. 12, 1,500, 3.5)",
                    _sampler(a))
        mask = np.isnan(v)
        if col.dtype == "int":
            return pd.arrays.IntegerArray(np.where(mask, 0, v).astype(np.int64), mask)
        return pd.arrays.FloatingArray(np.where(mask, 0.0, v), mask)
    if col.dtype == "bool":
        if pa.types.is_boolean(a.type):
            mask = pc.is_null(a).to_numpy(zero_copy_only=False)
            v = pc.fill_null(a, False).to_numpy(zero_copy_only=False)
            return pd.arrays.BooleanArray(np.asarray(v, dtype=bool), mask)
        u, res, bad = _map_uniques(a, lambda v: (_BOOL.get(_norm_key(v)), _norm_key(v) in _BOOL))
        if bad.any():
            problem(canon, bad, "不是是/否值（应为 是/否、Y/N、1/0、true/false）",
                    "not a yes/no value (expected 是/否, Y/N, 1/0, true/false)", _sampler(a))
        vals = u.expand(np.asarray([bool(r) for r in res], dtype=bool), False)
        mask = u.expand(np.asarray([r is None for r in res], dtype=bool), True)
        return pd.arrays.BooleanArray(vals, mask)
    # strings
    if col.codes and col.codes != "charge":
        lut = _code_lookup(col.codes)
        u, res, unknown = _map_uniques(a, lambda v: (lut.get(_norm_key(v), v), _norm_key(v) in lut))
        if unknown.any():
            values = sorted({v for v, r in zip(u.pylist(), res) if v is not None and _norm_key(v) not in lut})
            labels = "、".join(zh for zh, _ in schema.CODE_TABLES[col.codes].values())
            if canon == "stage":
                problem(canon, unknown, f"不是可识别的办案环节（应为 {labels}）",
                        "not a known stage (expected 审查逮捕 arrest_review, 审查起诉 prosecution_review or 判决 "
                        "judgment)", _sampler(a))
            else:
                warnings.append(_warn(name, table, canon, rows[unknown],
                                      f"的值 {_examples(values, 5)} 不在代码表中（可用：{labels}），按原文保留；"
                                      "可在映射文件 recode 中对应",
                                      f"values {_examples(values, 5)} are not in the code table; kept as they "
                                      "are (map them with recode in a mapping file)"))
        out = u.expand(pa.array(res, pa.string()))
    elif col.codes == "charge":
        u, res, _ = _map_uniques(a, lambda v: (normalise_charge(v), True))
        unknown_u = np.asarray([r is not None and r not in schema.CHARGES for r in res], dtype=bool)
        if unknown_u.any():
            names_ = sorted({r for r, k in zip(res, unknown_u) if k})
            warnings.append(_warn(name, table, canon, rows[u.row_mask(unknown_u)],
                                  f"的罪名 {_examples(names_, 5)} 不在罪名表中，罪名类别留空",
                                  f"charges {_examples(names_, 5)} are not in the charge table; charge_group "
                                  "left empty"))
        out = u.expand(pa.array(res, pa.string()))
        _flag_formulas(out, canon, rows, formula_rows)
    else:
        a = _null_if_blank(a)
        if canon in _CASE_NO_COLUMNS:
            a = normalise_case_no(a)
        elif canon in _ID_COLUMNS:
            a = _normalise_id(a)
        _flag_formulas(a, canon, rows, formula_rows)
        out = a
    pa_out[canon] = out
    return _pd_strings(out)


def _pd_strings(a) -> pd.arrays.ArrowStringArray:
    if isinstance(a, pa.Array):
        a = pa.chunked_array([a], pa.string())
    return pd.arrays.ArrowStringArray(a)


_FORMULA_START = pa.array([b"=", b"+", b"-", b"@"])


def _flag_formulas(a: pa.Array, canon: str, rows: np.ndarray, formula_rows: dict) -> None:
    first = pc.binary_slice(a.cast(pa.binary()), 0, 1)  # the first byte: all four are ASCII
    hit = pc.fill_null(pc.is_in(first, value_set=_FORMULA_START), False)
    if _any(hit):
        formula_rows[canon] = rows[hit.to_numpy(zero_copy_only=False)]


def _coerce_list(a, col, seps, formula_rows, rows):
    """A list column (``charges``): Arrow lists are taken as they are, text is split."""
    canon = col.name
    n = len(a)
    norm = normalise_charge if col.codes == "charge" else (lambda s: s.strip())

    def clean(items):
        lst = [norm(str(x)) for x in items if x is not None and str(x).strip()]
        return lst or None

    flagged = []
    if pa.types.is_list(a.type) or pa.types.is_large_list(a.type):
        out = np.empty(n, dtype=object)
        for i, v in enumerate(a.to_pylist()):
            if v is not None:
                out[i] = clean(v)
                if out[i] and any(x[:1] in "=+-@" for x in out[i]):
                    flagged.append(i)
        if flagged:
            formula_rows[canon] = rows[np.asarray(flagged)]
        return out
    pattern = re.compile("|".join(re.escape(s) for s in (seps or ["；", ";"])))
    u = _Uniq(a, force=True)
    lists = np.empty(len(u.values) + 1, dtype=object)
    bad_u = np.zeros(len(u.values), bool)
    for k, v in enumerate(u.pylist()):
        if v is not None:
            lists[k] = clean(pattern.split(v))
            bad_u[k] = bool(lists[k]) and any(x[:1] in "=+-@" for x in lists[k])
    if bad_u.any():
        formula_rows[canon] = rows[u.row_mask(bad_u)]
    # rows with the same text share one list object (like pandas' own map); never mutate in place
    return lists[u.idx]


def _derive(df: pd.DataFrame, table: str, pa_out: dict) -> list[tuple[str, str]]:
    """Fill derivable columns where missing; return notes (zh, en) on what was derived."""
    notes: list[tuple[str, str]] = []
    if table != "records":
        return notes
    n = len(df)
    if "charges" in df:
        charges = df["charges"].to_numpy()
        firsts = pa.array([x[0] if isinstance(x, list) and x else None for x in charges], pa.string()) \
            if ("charge" not in pa_out or _any(pc.is_null(pa_out["charge"]))) else None
        if firsts is not None:
            ch = pc.coalesce(pa_out["charge"], firsts) if "charge" in pa_out else firsts
            pa_out["charge"] = ch
            df["charge"] = _pd_strings(ch)
    elif "charge" in pa_out:
        # one list per distinct charge, shared by its rows (as in _coerce_list)
        u = _Uniq(pa_out["charge"], force=True)
        lists = np.empty(len(u.values) + 1, dtype=object)
        for k, c in enumerate(u.pylist()):
            lists[k] = None if c is None else [c]
        df["charges"] = pd.Series(lists[u.idx], index=df.index)
    if "charge" in pa_out:
        names = pa.array(list(schema.CHARGES), pa.string())
        groups = pa.array([g for _, g in schema.CHARGES.values()], pa.string())
        derived = pc.take(groups, pc.index_in(pa_out["charge"], value_set=names))
        if "charge_group" in pa_out:
            derived = pc.coalesce(pa_out["charge_group"], derived)
        df["charge_group"] = _pd_strings(derived)
    if "birth_date" in df and "accepted_on" in df:
        b = df["birth_date"].to_numpy().astype("datetime64[s]")
        acc = df["accepted_on"].to_numpy().astype("datetime64[s]")
        ok = ~np.isnat(b) & ~np.isnat(acc)
        if "age" in df:
            ok &= df["age"].isna().to_numpy()
        if ok.any():
            bm, am = b.astype("datetime64[M]"), acc.astype("datetime64[M]")
            by = bm.astype(np.int64) // 12
            ay = am.astype(np.int64) // 12
            bmo, amo = bm.astype(np.int64) % 12, am.astype(np.int64) % 12
            bd = (b.astype("datetime64[D]") - bm.astype("datetime64[D]")).astype(np.int64)
            ad = (acc.astype("datetime64[D]") - am.astype("datetime64[D]")).astype(np.int64)
            before = (amo < bmo) | ((amo == bmo) & (ad < bd))
            age = np.where(ok, ay - by - before.astype(np.int64), 0)
            if "age" in df:
                cur = df["age"].to_numpy(dtype=float, na_value=np.nan)
                mask = np.isnan(cur) & ~ok
                vals = np.where(ok, age, np.nan_to_num(cur)).astype(np.int64)
            else:
                mask, vals = ~ok, age
            df["age"] = pd.arrays.IntegerArray(vals, mask)
    if "case_type" in pa_out:
        ct = pa_out["case_type"]
        lut = {"arrest_review_case": "arrest_review", "juvenile_arrest_review_case": "arrest_review",
               "first_instance_prosecution": "prosecution_review",
               "juvenile_first_instance_prosecution": "prosecution_review"}
        inferred = pc.take(pa.array(list(lut.values()), pa.string()),
                           pc.index_in(ct, value_set=pa.array(list(lut), pa.string())))
        if "stage" not in pa_out:
            if _any(pc.is_valid(inferred)):
                notes.append(("办案环节（stage）由案件类别推定", "stage inferred from case_type"))
            pa_out["stage"] = inferred
            df["stage"] = _pd_strings(inferred)
        else:
            need = pc.and_(pc.is_null(pa_out["stage"]), pc.is_valid(inferred))
            k = pc.sum(need).as_py() or 0
            if k:
                st = pc.coalesce(pa_out["stage"], inferred)
                pa_out["stage"] = st
                df["stage"] = _pd_strings(st)
                notes.append((f"{k:,} 行的办案环节为空，已由案件类别推定",
                              f"stage was empty in {k:,} rows; inferred from case_type"))
    return notes


def _canonical_modifications(df: pd.DataFrame, name: str, rows: np.ndarray) -> list[str]:
    """A change log as exported names fields by label and values by label: back to canonical.

    ``field`` 受理日期 → ``accepted_on``; for flag fields 是/否 → ``true``/``false``; for coded
    fields 审查逮捕 → ``arrest_review`` (as :mod:`casework.synth` and the store keep them).
    """
    notes = []
    if "field" not in df:
        return notes
    fields = df["field"].astype(object).to_numpy()
    known = set(schema.column_names("records"))
    out = fields.copy()
    unknown = []
    for f in pd.unique(fields[pd.notna(fields)]):
        canon = f if f in known else _mapping.match_header(f, "records")
        if canon is None:
            unknown.append(f)
            continue
        out[fields == f] = canon
    df["field"] = pd.array(out, dtype="string")
    if unknown:
        hit = np.isin(fields, unknown)
        notes.append(_warn(name, "modifications", "field", rows[hit],
                           f"的修改项 {_examples(unknown, 5)} 不是已知的案卡项，按原文保留",
                           f"fields {_examples(unknown, 5)} are not known case-card items; kept as they are"))
    for value_col in ("old_value", "new_value"):
        if value_col not in df:
            continue
        vals = df[value_col].astype(object).to_numpy().copy()
        for f in pd.unique(out[pd.notna(out)]):
            if f not in known:
                continue
            col = schema.column("records", f)
            m = (out == f) & pd.notna(vals)
            if not m.any():
                continue
            if col.dtype == "bool":
                lut = {k: ("true" if v else "false") for k, v in _BOOL.items()}
            elif col.codes and col.codes != "charge":
                lut = _code_lookup(col.codes)
            elif col.codes == "charge":
                vals[m] = [normalise_charge(v) for v in vals[m]]
                continue
            else:
                continue
            vals[m] = [lut.get(_norm_key(v), v) for v in vals[m]]
        df[value_col] = pd.array(vals, dtype="string")
    return notes


def _check_required(df, table, rows, problem) -> None:
    judgment = (df["stage"] == "judgment").fillna(False).to_numpy(bool, copy=True) if "stage" in df else None
    for c in schema.required_columns(table):
        exempt = judgment if judgment is not None and c in schema.NOT_REQUIRED_FOR_JUDGMENT else None
        if c not in df:
            if exempt is None or not exempt.all():
                problem(c, np.ones(len(df), bool), "缺少（列不存在）", "missing (no such column)")
            continue
        s = df[c]
        empty = s.isna().to_numpy() if s.dtype != object else np.asarray([v is None for v in s])
        if exempt is not None:
            empty = empty & ~exempt
        if empty.any():
            problem(c, empty, "为空，此列为必填", "is empty; this column is required")


def _check_duplicates(df, rows, problem, pa_out) -> None:
    key = list(schema.RECORD_KEY)
    if not all(c in pa_out for c in key):
        return
    # each key column as small integers, combined into one int64 per row, then sorted: no
    # joined strings, no hash table over whole keys
    combined = np.zeros(len(df), dtype=np.int64)
    null = np.zeros(len(df), dtype=bool)
    for c in key:
        values, idx = _dict_encode(pa_out[c])
        ids = idx.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int64)
        null |= ids < 0
        combined = combined * (len(values) + 1) + (ids + 1)
    combined = combined[~null] if null.any() else combined
    order = np.argsort(combined, kind="stable")
    same = combined[order[1:]] == combined[order[:-1]]
    if not same.any():
        return
    hit = np.zeros(len(combined), dtype=bool)
    hit[order[1:][same]] = True
    hit[order[:-1][same]] = True
    dup = np.zeros(len(df), dtype=bool)
    dup[np.flatnonzero(~null)] = hit
    if dup.any():
        def sample(hit):
            return [" / ".join(map(str, r)) for r in df.iloc[hit[:50]][key].itertuples(index=False)]

        problem("dept_case_no", dup,
                "重复：同一办案环节、部门受案号、嫌疑人编号出现多次（每人每案每环节应只有一行）",
                "duplicated record key (stage, dept_case_no, person_id): one row per person per stage case "
                "expected", sample)


def _suspicious(df: pd.DataFrame, table: str, name: str, rows: np.ndarray) -> list[str]:
    out = []
    today = np.datetime64(_dt.date.today(), "s") + np.timedelta64(86399, "s")
    floor = np.datetime64("1950-01-01", "s")
    for col in schema.columns(table):
        if col.dtype not in ("date", "datetime") or col.name not in df:
            continue
        v = df[col.name].to_numpy().astype("datetime64[s]")
        ok = ~np.isnat(v)
        fut = ok & (v > today)
        lo = np.datetime64("1900-01-01", "s") if col.name == "birth_date" else floor
        old = ok & (v < lo)
        if fut.any():
            out.append(_warn(name, table, col.name, rows[fut], "的日期晚于今天", "dates in the future"))
        if old.any():
            out.append(_warn(name, table, col.name, rows[old], f"的日期早于 {str(lo)[:4]} 年",
                             f"dates before {str(lo)[:4]}"))
    if table != "records":
        return out
    if "accepted_on" in df and "closed_on" in df:
        a, c = df["accepted_on"].to_numpy(), df["closed_on"].to_numpy()
        bad = ~np.isnat(a) & ~np.isnat(c) & (c < a)
        if bad.any():
            out.append(_warn(name, table, "closed_on", rows[bad], "的审结日期早于受理日期",
                             "closed before accepted"))
    if "age" in df:
        age = df["age"].to_numpy(dtype=float, na_value=np.nan)
        young = age < 14
        if young.any():
            out.append(_warn(name, table, "age", rows[young], "的年龄小于 14 岁（未达刑事责任年龄下限）",
                             "age under 14 (below the minimum age of criminal responsibility)"))
        old = age > 100
        if old.any():
            out.append(_warn(name, table, "age", rows[old], "的年龄超过 100 岁", "age over 100"))
    for c in _NON_NEGATIVE:
        if c in df:
            v = df[c].to_numpy(dtype=float, na_value=np.nan)
            neg = v < 0
            if neg.any():
                out.append(_warn(name, table, c, rows[neg], "为负数", "negative values"))
    return out


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _read_one(path, *, mapping, table) -> _Frame:
    path = Path(path)
    try:
        known = frozenset(_mapping.header_key(v) for v in mapping.columns.values()) if mapping else frozenset()
        raw = _read_raw(path, known)
        if len(raw.rows) == 0:
            raise _file_error(path, "只有表头，没有数据行", "the file has a header but no data rows",
                              hint="检查导出条件是否过窄，或重新导出 / check the export's filters, or export again")
        return _to_frame(raw, mapping=mapping, table=table)
    except CaseworkError:
        raise
    except MemoryError:
        raise _file_error(path, "内存不足：文件过大，无法读取", "out of memory: the file is too large to read",
                          hint="拆分文件后分批导入 / split the file and import the parts") from None
    except PermissionError:
        raise _file_error(path, "没有读取权限", "permission denied", hint="检查文件权限 / check the file's "
                                                                       "permissions") from None
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, TypeError, OSError, pa.ArrowException,
            UnicodeError, csv.Error, IndexError, AttributeError) as err:
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        kind = type(err).__name__
        text = str(err)[:200]
        damaged = isinstance(err, (zipfile.BadZipFile, EOFError, KeyError)) or "zlib" in kind.lower()
        zh = ("文件已损坏或不完整" if damaged else "文件内容无法按导出格式读取") + f"（{kind}: {text}）"
        en = ("the file is damaged or truncated" if damaged else "the file cannot be read as an export") + \
             f" ({kind}: {text})"
        raise _file_error(path, zh, en, hint="重新导出该文件；若问题重现，设置 CASEWORK_DEBUG=1 查看详情 / export it "
                                             "again; set CASEWORK_DEBUG=1 for details") from None
    except Exception as err:  # noqa: BLE001 — a bad file must never surface as a traceback
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        raise _file_error(path, f"读取失败（{type(err).__name__}: {str(err)[:200]}）",
                          f"reading failed ({type(err).__name__}: {str(err)[:200]})",
                          hint="设置 CASEWORK_DEBUG=1 查看详情 / set CASEWORK_DEBUG=1 for details") from None


def read_export(path, *, mapping=None, table=None) -> tuple[pd.DataFrame, list[str]]:
    """Read one export file into a schema-conformed frame.

    Parameters
    ----------
    path : str or Path
        CSV/TSV, .xlsx, JSON Lines/JSON or Parquet file.
    mapping : path, dict or Mapping, optional
        A user mapping (:mod:`casework.ingest.mapping`).
    table : {"records", "modifications"}, optional
        Target table; by default detected from the headers.

    Returns
    -------
    (DataFrame, list of str)
        The canonical frame (:func:`casework.model.schema.conform`) and the warnings (bilingual text,
        each naming the file, the column and the row numbers).

    Raises
    ------
    DataError
        The file cannot be read or its data do not fit the data model (message in Chinese and
        English naming the file, columns, rows and what was expected).

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cases.jsonl"
    >>> rec = {"unit_code": "371329", "dept_case_no": "A1", "unified_case_no": "T1", "stage": "判决",
    ...        "person_id": "P1", "accepted_on": "2024-01-05",
    ...        "meta": {"accusation": ["[走私、贩卖、运输、制造]毒品"], "term": {"imprisonment": 36}}}
    >>> _ = p.write_text(json.dumps(rec, ensure_ascii=False) + "\\n", encoding="utf-8")
    >>> df, w = read_export(p, mapping={"columns": {"charges": "meta.accusation",
    ...                                             "term_months": "meta.term.imprisonment"}})
    >>> df.loc[0, "charges"], df.loc[0, "charge"], float(df.loc[0, "term_months"])
    (['走私、贩卖、运输、制造毒品'], '走私、贩卖、运输、制造毒品', 36.0)
    """
    if table is not None:
        check_choice("table", table, _mapping.IMPORT_TABLES)
    m = _mapping.load(mapping)
    fr = _read_one(path, mapping=m, table=table)
    return fr.df, fr.warnings


def import_files(paths, *, mapping=None, table=None, account=None) -> dict:
    """Read, validate and import export files as one new snapshot.

    All files are read and validated first (per file, then across files: a record key may
    appear once in all files together); only then is :func:`casework.store.write_snapshot`
    called, which writes atomically. Source files are only read.

    Parameters
    ----------
    paths : path or sequence of paths
        Export files (any mix of the formats :func:`read_export` reads, of both tables).
    mapping : path, dict or Mapping, optional
        A user mapping (:mod:`casework.ingest.mapping`); its path, hash and text go into the manifest.
    table : {"records", "modifications"}, optional
        Force every file into one table; by default each file's table is detected.
    account : str, optional
        The importing account (default ``CASEWORK_USER`` or the login name).

    Returns
    -------
    dict
        The snapshot manifest plus ``warnings`` (list of str) and ``files`` (one dict per file:
        ``path, format, encoding, table, rows``).

    Raises
    ------
    DataError
        A file cannot be read or does not fit the data model; nothing is written.

    Examples
    --------
    >>> import os, tempfile, pathlib
    >>> os.environ["CASEWORK_HOME"] = tempfile.mkdtemp()
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "arrests.csv"
    >>> _ = p.write_bytes("单位编码,部门受案号,统一受案号,办案环节,嫌疑人编号,罪名,受理日期,审结日期\\n"
    ...                   "371329,沭检刑捕受[2024]1号,T1,审查逮捕,P1,盗窃,2024-05-03,2024-04-30\\n"
    ...                   .encode("gb18030"))
    >>> result = import_files([p], account="doc")
    >>> result["row_counts"]["records"], result["files"][0]["encoding"]
    (1, 'GB18030')
    >>> print(result["warnings"][0].split(" / ")[1])
    arrests.csv: column closed_on: row 2: closed before accepted (kept)
    >>> del os.environ["CASEWORK_HOME"]
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    paths = [Path(p) for p in paths]
    if not paths:
        raise DataError("没有要导入的文件", "no files to import", hint="casework import FILE...")
    if table is not None:
        check_choice("table", table, _mapping.IMPORT_TABLES)
    m = _mapping.load(mapping)
    frames = [_read_one(p, mapping=m, table=table) for p in paths]
    warnings = [w for f in frames for w in f.warnings]
    tables: dict[str, pd.DataFrame] = {}
    for tname in _mapping.IMPORT_TABLES:
        part = [f for f in frames if f.table == tname]
        if not part:
            continue
        if tname == "records" and len(part) > 1:
            _check_cross_duplicates(part)
        tables[tname] = pd.concat([f.df for f in part], ignore_index=True) if len(part) > 1 else part[0].df
    for tname in _mapping.IMPORT_TABLES:
        if tname not in tables:
            tables[tname] = schema.empty_frame(tname)
    if len(tables["records"]) == 0:
        warnings.append("本次导入没有案卡记录（records 为空），只有修改日志 / no case-card records imported "
                        "(records is empty), only the change log")
    mapping_ref = (str(m.path) if m is not None and m.path is not None else
                   (m.to_dict() if m is not None else None))
    from casework import store  # imported late: a bad file fails fast, without loading the store

    manifest = store.write_snapshot(tables, sources=paths, mapping=mapping_ref, account=account,
                                    warnings=warnings)
    result = dict(manifest)
    result["warnings"] = warnings
    result["files"] = [{"path": str(f.path), "format": f.fmt, "encoding": f.encoding, "table": f.table,
                        "rows": len(f.df)} for f in frames]
    return result


def _check_cross_duplicates(part: list[_Frame]) -> None:
    key = list(schema.RECORD_KEY)
    keys = pd.concat([f.df[key] for f in part], ignore_index=True)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    src = np.concatenate([np.full(len(f.df), i) for i, f in enumerate(part)])
    rows = np.concatenate([f.rows for f in part])
    hit = np.flatnonzero(dup)
    files_hit = sorted({int(i) for i in src[hit]})
    where_zh = "；".join(f"{part[i].path.name} {_rows_zh(rows[hit][src[hit] == i])}" for i in files_hit)
    where_en = "; ".join(f"{part[i].path.name} {_rows_en(rows[hit][src[hit] == i])}" for i in files_hit)
    raise DataError(
        f"多个文件中有重复的案卡行（同一办案环节、部门受案号、嫌疑人编号）：{where_zh}。未导入任何数据。",
        f"duplicated record keys (stage, dept_case_no, person_id) across files: {where_en}. Nothing was "
        "imported.",
        hint="同一文件是否导入了两次？去掉重复的文件或行后重新导入 / was a file given twice? remove the "
             "duplicates and import again")


def describe(result: dict) -> str:
    """A Chinese summary of an import: files, rows per table, warnings, snapshot id.

    Examples
    --------
    >>> print(describe({"id": "20240503T020000-ab12cd34", "row_counts": {"records": 1200,
    ...     "modifications": 0, "journeys": 800}, "files": [{"path": "/x/a.csv", "format": "csv",
    ...     "encoding": "GB18030", "table": "records", "rows": 1200}], "warnings": ["w1"]}))
    导入完成：快照 20240503T020000-ab12cd34
    文件 1 个：
      - a.csv（CSV 文本，GB18030）→ records 1,200 行
    各表行数：records 1,200 行；modifications 0 行；journeys 800 行
    警告 1 条（数据已保留，请核查）：
      1. w1
    """
    sid = result.get("id") or result.get("snapshot_id") or "?"
    lines = [f"导入完成：快照 {sid}"]
    files = result.get("files") or []
    if files:
        lines.append(f"文件 {len(files)} 个：")
        for f in files:
            kind = _FORMAT_ZH.get(f.get("format"), f.get("format") or "")
            enc = f"，{f['encoding']}" if f.get("encoding") else ""
            lines.append(f"  - {Path(f['path']).name}（{kind}{enc}）→ {f.get('table')} {f.get('rows', 0):,} 行")
    counts = result.get("row_counts") or {}
    if counts:
        lines.append("各表行数：" + "；".join(f"{k} {v:,} 行" for k, v in counts.items()))
    warns = result.get("warnings") or []
    if warns:
        lines.append(f"警告 {len(warns)} 条（数据已保留，请核查）：")
        for k, w in enumerate(warns[:30], 1):
            lines.append(f"  {k}. {w}")
        if len(warns) > 30:
            lines.append(f"  …另有 {len(warns) - 30} 条，见快照清单 manifest.json 的 warnings")
    else:
        lines.append("无警告。")
    return "\n".join(lines)
