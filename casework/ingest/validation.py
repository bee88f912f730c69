"""One raw file → the canonical frame: map headers, coerce every column, derive, check.

:func:`to_frame` resolves the headers (:mod:`casework.ingest.mapping`), applies a mapping's
``recode``/``defaults``/``split``, coerces each column to its schema type
(:mod:`casework.ingest.values`; in parallel threads for files of at least
:data:`PARALLEL_MIN_ROWS` rows when cores are idle), fills derivable columns (``charge_group``,
``age``, ``charge``/``charges``, ``stage``), and checks required values and duplicate record keys.
All problems of a file are raised together as one
:class:`~casework.base.errors.DataError`; suspicious but loadable values (审结 before 受理,
age under 14, negative terms, dates in the future or before 1950) become warnings.
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from casework.ingest import mapping as _mapping
from casework.ingest import readers, supervision_checks
from casework.ingest.messages import (
    Problem,
    examples,
    file_error,
    raise_problems,
    rows_en,
    rows_zh,
    warn,
)
from casework.ingest.readers import Raw
from casework.ingest.values import (
    BOOL_VALUES,
    INT_LIMIT,
    Uniq,
    any_true,
    code_lookup,
    dict_encode,
    epoch_like,
    map_uniques,
    norm_key,
    normalise_case_no,
    normalise_charge,
    normalise_id,
    null_if_blank,
    parse_dates,
    parse_numbers,
)
from casework.model import schema

#: Files with at least this many rows coerce their columns in parallel threads (when idle).
PARALLEL_MIN_ROWS = 200_000


#: Columns holding identifiers: full-width forms and spaces are removed.
_ID_COLUMNS = {"unit_code", "dept_case_no", "unified_case_no", "person_id", "prosecutor_id",
               "id_number"}


_CASE_NO_COLUMNS = {"dept_case_no", "unified_case_no"}


_NON_NEGATIVE = ("term_months", "recommended_term_months", "probation_months", "fine",
                 "amount_involved", "supplementary_investigation", "review_extension")


def _as_array(col):
    """Arrow data as given (Array or ChunkedArray: compute functions take both)."""
    return col


@dataclass
class Frame:
    """One file read, coerced and checked: the canonical frame, its rows and warnings."""

    path: Path
    fmt: str
    encoding: str | None
    table: str
    df: pd.DataFrame
    rows: np.ndarray
    warnings: list[str]


def _recode(a: pa.Array, table_: dict) -> pa.Array:
    lut = {str(k).strip(): v for k, v in table_.items()}

    def fn(u):
        if u in lut:
            v = lut[u]
            text = (None if v is None else "true" if v is True else "false" if v is False
                    else str(v))
            return text, True
        return u, True

    u, res, _ = map_uniques(a, fn)
    return u.expand(pa.array(res, pa.string()))


def _default_array(value, raw: Raw, n: int) -> pa.Array:
    if value is None:
        return pa.nulls(n, pa.string())
    text = "true" if value is True else "false" if value is False else str(value)
    if "{row}" in text or "{file}" in text:
        text = text.replace("{file}", raw.path.stem)
        if "{row}" not in text:
            return pa.array(np.full(n, text, dtype=object), pa.string())
        parts = text.split("{row}")
        rows = pc.cast(pa.array(raw.rows), pa.string())
        pieces = []
        for k, p in enumerate(parts):
            if k:
                pieces.append(rows)
            pieces.append(p)
        return pc.binary_join_element_wise(*pieces, "")
    return pa.array(np.full(n, text, dtype=object), pa.string())


def to_frame(raw: Raw, *, mapping: _mapping.Mapping | None, table: str | None) -> Frame:
    """Map, coerce, derive and check one raw file (``table`` None: detect from the headers).

    Raises one :class:`~casework.base.errors.DataError` listing every problem of the file.
    """
    name = raw.path.name
    n = len(raw.rows)
    res = _mapping.resolve(raw.headers, table=table, mapping=mapping)
    table = res.table
    tcols = {c.name: c for c in schema.columns(table)}
    warnings: list[str] = list(raw.notes)
    if res.duplicated:
        zh = "；".join(f"「{raw.headers[p[0]]}」出现 {len(p)} "
                       f"次（第 {'、'.join(str(i + 1) for i in p)} 列）"
                       for p in res.duplicated.values())
        en = "; ".join(f"'{raw.headers[p[0]]}' appears {len(p)} times "
                       f"(columns {', '.join(str(i + 1) for i in p)})"
                       for p in res.duplicated.values())
        raise file_error(raw.path, f"表头中有重复的列名：{zh}，无法确定使用哪一列",
                         f"duplicated headers: {en}; cannot tell which column to use",
                         hint="删除或改名重复的列，或在映射文件 columns 中指定 / "
                              "remove or rename the duplicates, "
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
        seen_en = (", ".join(h for h in raw.headers[:12] if h)
                   + ("…" if len(raw.headers) > 12 else ""))
        where_zh, where_en = raw.context
        if where_zh:
            where_zh, where_en = f"（{where_zh}）", f" ({where_en})"
        if known == 0:
            why = ("未识别出任何列名：可能缺少表头行、"
                   "表头不是中文导出列名（语言不对），或文件编码有误。"
                   f"文件中的列：{seen or '（空）'}")
            why_en = ("No header was recognised: the header row may be missing, in another "
                      "language, or "
                      f"garbled by a wrong encoding. Headers found: {seen_en or '(none)'}")
        else:
            why = f"文件中的列：{seen}"
            why_en = f"Headers found: {seen_en}"
        raise file_error(
            raw.path, f"缺少必需列 {labels_zh}（目标表 {table}）{where_zh}。{why}",
            f"missing required column{'s' if len(missing) > 1 else ''} {labels_en} "
            f"(table {table}){where_en}. {why_en}",
            hint="表头应为系统导出的中文列名（如 "
                 + "、".join(tcols[c].label_zh for c in schema.required_columns(table))
                 + "）或规范英文名；其他列名请用 --mapping 映射文件对应 / "
                   "headers must be the system's Chinese "
                   "column names or canonical English names; map others with --mapping (see "
                   "casework/resources/mappings/example.yaml)")
    if res.ignored:
        shown = "、".join(res.ignored[:15]) + (" 等" if len(res.ignored) > 15 else "")
        warnings.append(f"{name}：{len(res.ignored)} 列未识别，已忽略：{shown} / {name}: "
                        f"{len(res.ignored)} unrecognised column(s) ignored:"
                        f" {', '.join(res.ignored[:15])}")
    _blank_headers(raw, warnings)
    _check_conflicts(raw, res, tcols, table)
    for dropped, canon, kept in res.displaced:
        warnings.append(f"{name}：列「{dropped}」与「{kept}」都对应 {canon}，"
                        f"使用「{kept}」 / {name}: "
                        f"columns '{dropped}' and '{kept}' both mean {canon}; using '{kept}'")
    if mapping:
        for canon, src in mapping.columns.items():
            if canon in tcols and canon not in res.explicit:
                used = (f"，改用文件中的「{raw.headers[res.sources[canon]]}」"
                        if canon in res.sources else "")
                used_en = (f"; using the file's '{raw.headers[res.sources[canon]]}' instead"
                           if canon in res.sources else "")
                warnings.append(f"{name}：映射文件指定的源列「{src}」（{canon}）在文件中不存在"
                                f"{used} / {name}: the "
                                f"mapping's source '{src}' for {canon} is not in the file"
                                f"{used_en}")
    problems: list[Problem] = []
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
            same = col in reported and len(reported[col]) == len(mask)
            reported[col] = reported[col] | mask if same else mask
            ex = examples(sample(hit)) if sample is not None else ""
            problems.append(Problem(col, rows[hit], zh, en, ex))

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
                a = pc.coalesce(null_if_blank(a), _default_array(defaults[canon], raw, n))
        if pa.types.is_list(a.type) and col.dtype != "list":
            lens = pc.fill_null(pc.list_value_length(a), 0).to_numpy(zero_copy_only=False)
            if (lens > 1).any():
                notes.append(warn(name, table, canon, rows[lens > 1], "是多个值的列表，只取第一个",
                                  "holds lists of several values; the first is used"))
            a = pc.list_element(pc.if_else(pc.greater(pc.fill_null(pc.list_value_length(a), 0), 0),
                                           a, pa.scalar(None, a.type)), 0)
        values = _coerce(a, col, table, name, rows, lambda *args: found.append(args), notes,
                         formulas, split.get(canon), arrow)
        return canon, values, found, notes, formulas, arrow

    todo = [(c, col) for c, col in tcols.items() if c in res.sources or c in defaults]
    if n >= PARALLEL_MIN_ROWS and len(todo) > 1 and readers.use_threads():
        # Arrow compute releases the GIL: columns coerce in parallel when cores are idle
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
            warnings.append(warn(name, table, canon, r,
                                 "以 = + - @ 开头（粘贴到电子表格时可能被当作公式执行），"
                                 "按原文作为文本",
                                 "starts with = + - @ (would run as a formula if pasted into a "
                                 "spreadsheet); read as plain text, never evaluated"))
    df = pd.DataFrame(out, index=pd.RangeIndex(n))
    notes = _derive(df, table, pa_out)
    warnings.extend(f"{name}：{zh} / {name}: {en}" for zh, en in notes)
    _check_required(df, table, rows, problem)
    if table == "records":
        _check_duplicates(df, rows, problem, pa_out)
    if problems:
        raise_problems(name, table, problems)
    warnings.extend(_suspicious(df, table, name, rows))
    if table == "modifications":
        warnings.extend(_canonical_modifications(df, name, rows))
    if table == "supervision":
        warnings.extend(supervision_checks.check(df, name, rows))
    df = schema.conform(df, table)
    return Frame(raw.path, raw.fmt, raw.encoding, table, df, rows, warnings)


def _blank_headers(raw: Raw, warnings: list[str]) -> None:
    """Data under a blank (or merged) header cell: a warning naming the column, never silent."""
    hit = []
    for i, h in enumerate(raw.headers):
        if h is not None and str(h).strip():
            continue
        col = null_if_blank(raw.data[i]) if not pa.types.is_list(raw.data[i].type) \
            else raw.data[i]
        if pc.any(pc.is_valid(col)).as_py():
            hit.append(readers.column_label(i, raw.fmt))
    if hit:
        what_zh = "列" if raw.fmt == "xlsx" else "第 "
        cols_zh = (f"{what_zh}{'、'.join(hit)}" + ("" if raw.fmt == "xlsx" else " 列"))
        cols_en = ("column" + ("s " if len(hit) > 1 else " ") + ", ".join(hit))
        warnings.append(f"{raw.path.name}：{cols_zh}的表头为空（或是合并单元格），但下面有数据，"
                        f"已忽略；请补上列名或用映射文件指定 / {raw.path.name}: {cols_en} "
                        "ha" + ("ve" if len(hit) > 1 else "s") + " data under a blank (or "
                        "merged) header cell; ignored — name the column or map it")


def _check_conflicts(raw: Raw, res, tcols: dict, table: str) -> None:
    """The Chinese label and the English name of one column (受理日期 and accepted_on) must
    agree on every row: a disagreement is an error naming both."""
    by_canon: dict[str, list[str]] = {}
    for dropped, canon, kept in res.displaced:
        # the canonical English name beside the Chinese label (受理日期 and accepted_on) is the
        # same field twice; other aliases (移送案由 beside 罪名) may differ by design and only
        # warn. A mapping that chose the column decided for the user.
        english = _mapping.header_key(canon)
        if canon not in res.explicit and english in (_mapping.header_key(dropped),
                                                     _mapping.header_key(kept)):
            by_canon.setdefault(canon, []).append(dropped)
    if not by_canon:
        return
    pos = {h: i for i, h in enumerate(raw.headers)}
    for canon, dropped in by_canon.items():
        keep = res.sources[canon]
        col = tcols[canon]
        if col.dtype == "list":
            continue
        sink: list = []

        def values(i, col=col, sink=sink):
            return pd.Series(_coerce(raw.data[i], col, table, raw.path.name, raw.rows,
                                     lambda *args: sink.append(args), [], {}, None,
                                     {}))

        kept = values(keep)
        for h in dropped:
            other = values(pos[h])
            differ = (kept.isna() != other.isna()) | (kept.notna() & other.notna()
                                                      & (kept.astype(object)
                                                         != other.astype(object)))
            mask = differ.to_numpy(dtype=bool, na_value=True)
            if mask.any():
                first, second = raw.headers[keep], h
                raise file_error(
                    raw.path, f"列「{first}」与「{second}」都表示 {canon}，"
                              f"但{rows_zh(raw.rows[mask])}的值不一致，无法确定使用哪一列",
                    f"columns '{first}' and '{second}' both mean {canon} but disagree in "
                    f"{rows_en(raw.rows[mask])}; cannot tell which to use",
                    hint="删除其中一列，或在映射文件 columns 中指定使用哪一列 / "
                         "remove one of them, or choose one in the mapping file")


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
        vals, bad = parse_dates(a, date_only=col.dtype == "date")
        epoch = epoch_like(a) & ~bad
        if epoch.any():
            warnings.append(warn(name, table, canon, rows[epoch],
                                 "是 10 位或 13 位数字，按 Unix 时间戳（北京时间）"
                                 "读作日期，请核对",
                                 "holds 10- or 13-digit numbers read as Unix time (Beijing "
                                 "time); check them"))
        if bad.any():
            problem(canon, bad, "不是可识别的日期（应为 2024-05-03、2024/5/3、"
                                "2024年5月3日、20240503、"
                                "Excel 日期序号或 2024-05-03 14:22:10）",
                    "not a date; expected 2024-05-03, 2024/5/3, 2024年5月3日, 20240503, an "
                    "Excel serial "
                    "date or 2024-05-03 14:22:10", _sampler(a))
        return vals
    if col.dtype in ("int", "float"):
        v, bad = parse_numbers(a)
        with np.errstate(invalid="ignore", over="ignore"):
            infinite = np.isinf(v)
            big = (~np.isnan(v) & ~infinite & (np.abs(np.nan_to_num(v)) >= INT_LIMIT)
                   if col.dtype == "int" else np.zeros(len(v), bool))
        if col.dtype == "int":
            finite = np.nan_to_num(v, posinf=0.0, neginf=0.0)
            bad = bad | (~np.isnan(v) & ~infinite & ~big & (np.floor(finite) != finite))
        bad = bad & ~infinite & ~big
        if infinite.any():
            problem(canon, infinite, "超出可存储的数值范围（无穷大，如 1e309）",
                    "out of range (infinite, e.g. 1e309); never stored as inf", _sampler(a))
        if big.any():
            problem(canon, big, f"超出可存储的整数范围（绝对值应小于 {INT_LIMIT:,}）",
                    f"out of the integer range (magnitude must be below {INT_LIMIT:,}); never "
                    "stored wrapped", _sampler(a))
        v = np.where(infinite | big, np.nan, v)
        if bad.any():
            what = "整数" if col.dtype == "int" else "数值"
            problem(canon, bad, f"不是{what}（应为如 12、1,500 或 3.5 的数字）",
                    f"not {'an integer' if col.dtype == 'int' else 'a number'} (expected e.g. "
                    "12, 1,500, 3.5)",
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
        u, res, bad = map_uniques(a, lambda v: (BOOL_VALUES.get(norm_key(v)),
                                                norm_key(v) in BOOL_VALUES))
        if bad.any():
            problem(canon, bad, "不是是/否值（应为 是/否、Y/N、1/0、true/false）",
                    "not a yes/no value (expected 是/否, Y/N, 1/0, true/false)", _sampler(a))
        vals = u.expand(np.asarray([bool(r) for r in res], dtype=bool), False)
        mask = u.expand(np.asarray([r is None for r in res], dtype=bool), True)
        return pd.arrays.BooleanArray(vals, mask)
    # strings
    if col.codes and col.codes != "charge":
        lut = code_lookup(col.codes)
        u, res, unknown = map_uniques(a, lambda v: (lut.get(norm_key(v), v), norm_key(v) in lut))
        if unknown.any():
            values = sorted({v for v, r in zip(u.pylist(), res)
                             if v is not None and norm_key(v) not in lut})
            labels = "、".join(zh for zh, _ in schema.CODE_TABLES[col.codes].values())
            if canon == "stage":
                problem(canon, unknown, f"不是可识别的办案环节（应为 {labels}）",
                        "not a known stage (expected 审查逮捕 arrest_review, 审查起诉 "
                        "prosecution_review or 判决 "
                        "judgment)", _sampler(a))
            else:
                warnings.append(warn(name, table, canon, rows[unknown],
                                     f"的值 {examples(values, 5)} "
                                     f"不在代码表中（可用：{labels}），按原文保留；"
                                     "可在映射文件 recode 中对应",
                                     f"values {examples(values, 5)} are not in the code table; "
                                     "kept as they "
                                     "are (map them with recode in a mapping file)"))
        out = u.expand(pa.array(res, pa.string()))
    elif col.codes == "charge":
        u, res, _ = map_uniques(a, lambda v: (normalise_charge(v), True))
        unknown_u = np.asarray([r is not None and r not in schema.CHARGES for r in res],
                               dtype=bool)
        if unknown_u.any():
            names_ = sorted({r for r, k in zip(res, unknown_u) if k})
            warnings.append(warn(name, table, canon, rows[u.row_mask(unknown_u)],
                                 f"的罪名 {examples(names_, 5)} 不在罪名表中，罪名类别留空",
                                 f"charges {examples(names_, 5)} are not in the charge table; "
                                 "charge_group "
                                 "left empty"))
        out = u.expand(pa.array(res, pa.string()))
        _flag_formulas(out, canon, rows, formula_rows)
    else:
        a = null_if_blank(a)
        if canon in _CASE_NO_COLUMNS:
            a = normalise_case_no(a)
        elif canon in _ID_COLUMNS:
            a = normalise_id(a)
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
    if any_true(hit):
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
    u = Uniq(a, force=True)
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
    if "charges" in df:
        charges = df["charges"].to_numpy()
        firsts = pa.array([x[0] if isinstance(x, list) and x else None for x in charges],
                          pa.string()) \
            if ("charge" not in pa_out or any_true(pc.is_null(pa_out["charge"]))) else None
        if firsts is not None:
            ch = pc.coalesce(pa_out["charge"], firsts) if "charge" in pa_out else firsts
            pa_out["charge"] = ch
            df["charge"] = _pd_strings(ch)
    elif "charge" in pa_out:
        # one list per distinct charge, shared by its rows (as in _coerce_list)
        u = Uniq(pa_out["charge"], force=True)
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
        lut = {"arrest_review_case": "arrest_review",
               "juvenile_arrest_review_case": "arrest_review",
               "first_instance_prosecution": "prosecution_review",
               "juvenile_first_instance_prosecution": "prosecution_review"}
        inferred = pc.take(pa.array(list(lut.values()), pa.string()),
                           pc.index_in(ct, value_set=pa.array(list(lut), pa.string())))
        if "stage" not in pa_out:
            if any_true(pc.is_valid(inferred)):
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
        notes.append(warn(name, "modifications", "field", rows[hit],
                          f"的修改项 {examples(unknown, 5)} 不是已知的案卡项，按原文保留",
                          f"fields {examples(unknown, 5)} are not known case-card items; "
                          "kept as they are"))
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
                lut = {k: ("true" if v else "false") for k, v in BOOL_VALUES.items()}
            elif col.codes and col.codes != "charge":
                lut = code_lookup(col.codes)
            elif col.codes == "charge":
                vals[m] = [normalise_charge(v) for v in vals[m]]
                continue
            else:
                continue
            vals[m] = [lut.get(norm_key(v), v) for v in vals[m]]
        df[value_col] = pd.array(vals, dtype="string")
    return notes


def _check_required(df, table, rows, problem) -> None:
    judgment = ((df["stage"] == "judgment").fillna(False).to_numpy(bool, copy=True)
                if "stage" in df else None)
    for c in schema.required_columns(table):
        exempt = (judgment if judgment is not None and c in schema.NOT_REQUIRED_FOR_JUDGMENT
                  else None)
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
        values, idx = dict_encode(pa_out[c])
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
            rows_ = df.iloc[hit[:50]][key].itertuples(index=False)
            return [" / ".join(map(str, r)) for r in rows_]

        problem("dept_case_no", dup,
                "重复：同一办案环节、部门受案号、嫌疑人编号出现多次（每人每案每环节应只有一行）",
                "duplicated record key (stage, dept_case_no, person_id): one row per person "
                "per stage case "
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
            out.append(warn(name, table, col.name, rows[fut], "的日期晚于今天",
                            "dates in the future"))
        if old.any():
            out.append(warn(name, table, col.name, rows[old], f"的日期早于 {str(lo)[:4]} 年",
                            f"dates before {str(lo)[:4]}"))
    if table != "records":
        return out
    if "accepted_on" in df and "closed_on" in df:
        a, c = df["accepted_on"].to_numpy(), df["closed_on"].to_numpy()
        bad = ~np.isnat(a) & ~np.isnat(c) & (c < a)
        if bad.any():
            out.append(warn(name, table, "closed_on", rows[bad], "的审结日期早于受理日期",
                            "closed before accepted"))
    if "age" in df:
        age = df["age"].to_numpy(dtype=float, na_value=np.nan)
        young = age < 14
        if young.any():
            out.append(warn(name, table, "age", rows[young],
                            "的年龄小于 14 岁（未达刑事责任年龄下限）",
                            "age under 14 (below the minimum age of criminal responsibility)"))
        old = age > 100
        if old.any():
            out.append(warn(name, table, "age", rows[old], "的年龄超过 100 岁", "age over 100"))
    for c in _NON_NEGATIVE:
        if c in df:
            v = df[c].to_numpy(dtype=float, na_value=np.nan)
            neg = v < 0
            if neg.any():
                out.append(warn(name, table, c, rows[neg], "为负数", "negative values"))
    return out
