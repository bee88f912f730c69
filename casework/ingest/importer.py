"""Read case-card exports into canonical tables, validate them, and import them as a snapshot.

Flow: read (CSV/TSV, Excel .xlsx, JSON Lines, Parquet: :mod:`casework.ingest.readers`, with
encodings from :mod:`casework.ingest.decoding`) → map headers to canonical columns
(:mod:`casework.ingest.mapping`) → coerce values (:mod:`casework.ingest.values`) → validate
(:mod:`casework.ingest.validation`: clear errors with row numbers, warnings for suspicious
values; messages from :mod:`casework.ingest.messages`) → :func:`casework.store.write_snapshot`.
Nothing is written unless every file validated, and source files are only ever read. This
module holds the public entry points: :func:`read_export`, :func:`import_files`,
:func:`describe`.

Formats
-------
* **CSV / TSV / TXT** — delimiter sniffed from the header line (``,``, tab, ``;``, ``|``);
  encoding UTF-8, UTF-8 with BOM, GB18030 (hence GBK/GB2312) or UTF-16 with BOM, detected
  automatically. Title lines above the header (``不捕人员信息表``) are skipped: the header is
  the first of the first ten lines whose cells name known columns. Quoted values may hold
  line breaks. A line longer than :data:`~casework.ingest.decoding.MAX_LINE_BYTES` is
  refused, without loading it.
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
Bad input raises one :class:`~casework.base.errors.DataError` (exit code 2 in the CLI) in
Chinese and English naming the file, the column(s), up to 20 row numbers — as the user sees
them: the spreadsheet row, counting the header, for CSV/Excel; the line for JSON Lines; the
record for Parquet — and what was expected. Suspicious but loadable values (审结 before
受理, age under 14, negative terms or counts, dates in the future or before 1950) are kept
and reported as warnings with their row numbers.

Examples
--------
>>> import tempfile, pathlib
>>> import pandas as pd
>>> from casework.ingest import importer
>>> path = pathlib.Path(tempfile.mkdtemp()) / "export.csv"
>>> _ = path.write_bytes(
...     "单位编码,部门受案号,统一受案号,办案环节,嫌疑人编号,罪名,受理日期,审结日期,是否认罪认罚\\n"
...     "371329,沭检刑诉受〔2024〕371329000004号,37132920240000420,审查起诉,P1,盗窃罪,2024/5/3,"
...     "2024年5月20日,是\\n".encode("gb18030"))
>>> df, warnings = importer.read_export(path)
>>> df.loc[0, ["dept_case_no", "stage", "charge", "charge_group"]].tolist()
['沭检刑诉受[2024]371329000004号', 'prosecution_review', '盗窃', 'property']
>>> bool(df.loc[0, "plea_leniency"]), int(df.loc[0, "age"]) if pd.notna(df.loc[0, "age"]) else None
(True, None)
>>> str(df.loc[0, "accepted_on"].date()), warnings
('2024-05-03', [])
"""

from __future__ import annotations

import csv
import os
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from casework import store
from casework.base.errors import CaseworkError, DataError, check_choice
from casework.ingest import mapping as _mapping
from casework.ingest.messages import file_error, rows_en, rows_zh
from casework.ingest.readers import read_raw
from casework.ingest.validation import Frame, to_frame
from casework.model import schema

_FORMAT_ZH = {"csv": "CSV 文本", "xlsx": "Excel", "jsonl": "JSON Lines", "json": "JSON",
              "parquet": "Parquet"}


def _read_one(path, *, mapping, table) -> Frame:
    path = Path(path)
    try:
        known = (frozenset(_mapping.header_key(v) for v in mapping.columns.values()) if mapping
                 else frozenset())
        raw = read_raw(path, known)
        if len(raw.rows) == 0:
            raise file_error(path, "只有表头，没有数据行",
                             "the file has a header but no data rows",
                             hint="检查导出条件是否过窄，或重新导出 / "
                                  "check the export's filters, or export again")
        return to_frame(raw, mapping=mapping, table=table)
    except CaseworkError:
        raise
    except MemoryError:
        raise file_error(path, "内存不足：文件过大，无法读取",
                         "out of memory: the file is too large to read",
                         hint="拆分文件后分批导入 / split the file and import the parts") from None
    except PermissionError:
        raise file_error(path, "没有读取权限", "permission denied",
                         hint="检查文件权限 / check the file's permissions") from None
    except (zipfile.BadZipFile, EOFError, KeyError, ValueError, TypeError, OSError,
            pa.ArrowException, UnicodeError, csv.Error, IndexError, AttributeError) as err:
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        kind = type(err).__name__
        text = str(err)[:200]
        damaged = (isinstance(err, (zipfile.BadZipFile, EOFError, KeyError))
                   or "zlib" in kind.lower())
        zh = (("文件已损坏或不完整" if damaged else "文件内容无法按导出格式读取")
              + f"（{kind}: {text}）")
        en = (("the file is damaged or truncated" if damaged
               else "the file cannot be read as an export") + f" ({kind}: {text})")
        raise file_error(path, zh, en,
                         hint="重新导出该文件；若问题重现，设置 CASEWORK_DEBUG=1 查看详情 / "
                              "export it again; set CASEWORK_DEBUG=1 for details") from None
    except Exception as err:  # noqa: BLE001 — a bad file must never surface as a traceback
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        raise file_error(path, f"读取失败（{type(err).__name__}: {str(err)[:200]}）",
                         f"reading failed ({type(err).__name__}: {str(err)[:200]})",
                         hint="设置 CASEWORK_DEBUG=1 查看详情 / "
                              "set CASEWORK_DEBUG=1 for details") from None


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
        The canonical frame (:func:`casework.model.schema.conform`) and the warnings
        (bilingual text, each naming the file, the column and the row numbers).

    Raises
    ------
    DataError
        The file cannot be read or its data do not fit the data model (message in Chinese and
        English naming the file, columns, rows and what was expected).

    Examples
    --------
    >>> import tempfile, pathlib, json
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "cases.jsonl"
    >>> rec = {"unit_code": "371329", "dept_case_no": "A1", "unified_case_no": "T1",
    ...        "stage": "判决", "person_id": "P1", "accepted_on": "2024-01-05",
    ...        "meta": {"accusation": ["[走私、贩卖、运输、制造]毒品"],
    ...                 "term": {"imprisonment": 36}}}
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
        A user mapping (:mod:`casework.ingest.mapping`); its path, hash and text go into the
        manifest.
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
    >>> _ = p.write_bytes("单位编码,部门受案号,统一受案号,办案环节,嫌疑人编号,罪名,"
    ...                   "受理日期,审结日期\\n"
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
        tables[tname] = (pd.concat([f.df for f in part], ignore_index=True) if len(part) > 1
                         else part[0].df)
    for tname in _mapping.IMPORT_TABLES:
        if tname not in tables:
            tables[tname] = schema.empty_frame(tname)
    if len(tables["records"]) == 0:
        warnings.append("本次导入没有案卡记录（records 为空），只有修改日志 / "
                        "no case-card records imported "
                        "(records is empty), only the change log")
    mapping_ref = (str(m.path) if m is not None and m.path is not None else
                   (m.to_dict() if m is not None else None))
    manifest = store.write_snapshot(tables, sources=paths, mapping=mapping_ref, account=account,
                                    warnings=warnings)
    result = dict(manifest)
    result["warnings"] = warnings
    result["files"] = [{"path": str(f.path), "format": f.fmt, "encoding": f.encoding,
                        "table": f.table, "rows": len(f.df)} for f in frames]
    return result


def _check_cross_duplicates(part: list[Frame]) -> None:
    key = list(schema.RECORD_KEY)
    keys = pd.concat([f.df[key] for f in part], ignore_index=True)
    dup = keys.duplicated(keep=False).to_numpy()
    if not dup.any():
        return
    src = np.concatenate([np.full(len(f.df), i) for i, f in enumerate(part)])
    rows = np.concatenate([f.rows for f in part])
    hit = np.flatnonzero(dup)
    files_hit = sorted({int(i) for i in src[hit]})
    where_zh = "；".join(f"{part[i].path.name}"
                         f" {rows_zh(rows[hit][src[hit] == i])}" for i in files_hit)
    where_en = "; ".join(f"{part[i].path.name}"
                         f" {rows_en(rows[hit][src[hit] == i])}" for i in files_hit)
    raise DataError(
        "多个文件中有重复的案卡行（同一办案环节、部门受案号、嫌疑人编号）"
        f"：{where_zh}。未导入任何数据。",
        "duplicated record keys (stage, dept_case_no, person_id) across files:"
        f" {where_en}. Nothing was "
        "imported.",
        hint="同一文件是否导入了两次？去掉重复的文件或行后重新导入 / "
             "was a file given twice? remove the "
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
            lines.append(f"  - {Path(f['path']).name}（{kind}{enc}）"
                         f"→ {f.get('table')} {f.get('rows', 0):,} 行")
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
