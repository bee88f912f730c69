"""Parsing cell values, vectorised: Arrow compute on whole columns, Python only on unique values.

Code columns accept the code or its Chinese or English label (:func:`code_lookup`); flags accept
是/否, Y/N, 1/0, true/false (:data:`BOOL_VALUES`); charge names are normalised
(:func:`normalise_charge`), case numbers and identifiers lose full-width forms and spaces
(:func:`normalise_case_no`, :func:`normalise_id`); numbers may carry thousands separators
(:func:`parse_numbers`); dates accept the forms listed in :mod:`casework.ingest.importer`
(:func:`parse_dates`). Each parser returns the values and a mask of cells it could not read;
reporting them is :mod:`casework.ingest.validation`'s job.

Examples
--------
>>> import pyarrow as pa
>>> v, bad = parse_numbers(pa.array(["1,500", "3.5", "x", None]))
>>> v.tolist()[:2], bad.tolist()
([1500.0, 3.5], [False, False, True, False])
"""

from __future__ import annotations

import json
import re
import unicodedata

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from casework.model import schema

# Extra spellings seen in exports, beside each code's code, label_zh and label_en.
_SYNONYMS = {
    "gender": {"男性": "male", "女性": "female", "m": "male", "f": "female"},
    "coercive_measure": {"拘留": "detention", "刑拘": "detention",
                         "指定居所监视居住": "residential_surveillance", "无": "none",
                         "未采取": "none", "取保": "bail"},
    "decision": {"批捕": "arrest_approved", "不捕": "non_arrest", "提起公诉": "prosecute",
                 "不诉": "non_prosecution"},
    "principal_penalty": {"有期": "fixed_term", "免刑": "exempted", "免于刑事处罚": "exempted",
                          "宣告无罪": "acquitted"},
    "measure_after_change": {"取保": "bail"},
    "education": {"大学": "university", "本科": "university", "研究生": "university",
                  "中专": "vocational", "职高": "vocational"},
    "household": {"本地户籍": "local", "外地户籍": "non_local", "本县": "local",
                  "外省": "non_local"},
    "procedure": {"速裁": "fast_track", "简易": "summary", "普通": "ordinary"},
}


BOOL_VALUES = {"是": True, "否": False, "有": True, "无": False, "y": True, "n": False,
               "yes": True, "no": False, "1": True, "0": False, "1.0": True, "0.0": False,
               "true": True, "false": False, "t": True, "f": False, "√": True, "×": False,
               "x": False}


#: Integers must lie strictly inside ±2**53 (exactly representable; no case-card count, term or
#: amount comes near): larger values, like 1e20 or 9.3e18, are refused, never wrapped.
INT_LIMIT = 2 ** 53


#: A 10-digit (seconds) or 13-digit (milliseconds) number in a date column: read as Unix time.
EPOCH_RE = r"^\d{10}(\.\d+)?$|^\d{13}$"


_NUM_RE = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$"


_DATE_RE = (r"^(?P<y>\d{4})\s*[-/.年]\s*(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*日?"
            r"(?:\s*[T\s]\s*(?P<H>\d{1,2})\s*[:时]\s*(?P<M>\d{1,2})"
            r"(?:\s*[:分]\s*(?P<S>\d{1,2})(?:[.,]\d+)?\s*秒?)?)?"
            r"\s*(?:Z|[+-]\d{2}:?\d{2})?$")


_COMPACT_RE = (r"^(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"
               r"(?:[T\s]?(?P<H>\d{2})(?P<M>\d{2})(?P<S>\d{2})?)?$")


def scalar_text(v):
    """A JSON/Parquet scalar as the text a user would have typed (``1.0`` → ``'1'``)."""
    if v is None:
        return None
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e15 else repr(v)
    if isinstance(v, (dict, list)):
        return json.dumps(v, ensure_ascii=False)
    return str(v)


def _as_string(a: pa.Array) -> pa.Array:
    if pa.types.is_string(a.type):
        return a
    if pa.types.is_large_string(a.type) or pa.types.is_dictionary(a.type):
        return pc.cast(a, pa.string())
    if pa.types.is_floating(a.type):
        return pa.array([scalar_text(x) for x in a.to_pylist()], pa.string())
    if pa.types.is_boolean(a.type):
        return pc.if_else(a, "true", "false")
    return pc.cast(a, pa.string())


def null_if_blank(a: pa.Array) -> pa.Array:
    """Trim whitespace; blank cells become null."""
    a = pc.utf8_trim_whitespace(_as_string(a))
    empty = pc.equal(a, "")
    if pc.any(empty).as_py():
        a = pc.if_else(empty, pa.scalar(None, pa.string()), a)
    return a


def norm_key(s: str) -> str:
    """Lookup key of a label: NFKC, no whitespace, lower case."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", s)).lower()


def dict_encode(a) -> tuple[pa.Array, object]:
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


class Uniq:
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
            values, self.aidx = dict_encode(a)
            self.idx = self.aidx.fill_null(-1).to_numpy(zero_copy_only=False)
            self.values = null_if_blank(values)
        else:
            self.values, self.aidx, self.idx = null_if_blank(a), None, None

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


def code_lookup(codes: str) -> dict[str, str]:
    """Normalised code, Chinese label, English label and synonyms → code, for a code table."""
    table = schema.CODE_TABLES[codes]
    out = {}
    for code, (zh, en) in table.items():
        for k in (code, zh, en):
            out[norm_key(k)] = code
    for k, v in _SYNONYMS.get(codes, {}).items():
        out.setdefault(norm_key(k), v)
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


def any_true(mask) -> bool:
    """True when any element of an Arrow boolean array is true."""
    return bool(pc.any(mask).as_py())


def normalise_case_no(a) -> pa.Array:
    """Case numbers: half-width, no spaces, 〔〕【】［］ → [].

    Examples
    --------
    >>> normalise_case_no(["沭检刑诉受〔2024〕 371329000004号",
    ...                    "桃检刑诉受【２０２４】1号"]).to_pylist()
    ['沭检刑诉受[2024]371329000004号', '桃检刑诉受[2024]1号']
    """
    a = pa.array(a, pa.string()) if isinstance(a, list) else a
    if not any_true(pc.match_substring_regex(a, r"[〔〕【】\s\x{FF01}-\x{FF5E}\x{3000}]")):
        return a  # one pass when there is nothing to do
    if any_true(pc.match_substring_regex(a, r"[\x{FF01}-\x{FF5E}\x{3000}]")):
        a = pc.utf8_normalize(a, form="NFKC")
    for old, new in (("〔", "["), ("〕", "]"), ("【", "["), ("】", "]")):
        a = pc.replace_substring(a, old, new)
    return pc.replace_substring_regex(a, r"\s+", "")


def normalise_id(a: pa.Array) -> pa.Array:
    """Identifiers: half-width, no spaces (one pass when there is nothing to do)."""
    if not any_true(pc.match_substring_regex(a, r"[\s\x{FF01}-\x{FF5E}\x{3000}]")):
        return a
    if any_true(pc.match_substring_regex(a, r"[\x{FF01}-\x{FF5E}\x{3000}]")):
        a = pc.utf8_normalize(a, form="NFKC")
    return pc.replace_substring_regex(a, r"\s+", "")


def parse_numbers(a: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(float64 values with NaN, bad mask) for one column."""
    if pa.types.is_integer(a.type) or pa.types.is_floating(a.type) or pa.types.is_decimal(a.type):
        # unsafe: int64 beyond 2**53 becomes the nearest float (then refused as out of range)
        v = pc.cast(a, pa.float64(), safe=False).to_numpy(zero_copy_only=False)
        return np.asarray(v, dtype=np.float64), np.zeros(len(a), bool)
    if pa.types.is_boolean(a.type):
        a = pc.cast(a, pa.int8())
        return pc.cast(a, pa.float64()).to_numpy(zero_copy_only=False), np.zeros(len(a), bool)
    u = Uniq(a)
    s = u.values
    if pc.all(pc.string_is_ascii(s)).as_py() is False:
        s = pc.utf8_normalize(s, form="NFKC")
    if any_true(pc.match_substring_regex(s, r"[,'\s]")):
        s = pc.replace_substring_regex(s, r"[,'\s]", "")
    ok = pc.fill_null(pc.match_substring_regex(s, _NUM_RE), False)
    vals = pc.cast(pc.if_else(ok, s, pa.scalar(None, pa.string())), pa.float64())
    v = np.asarray(vals.to_numpy(zero_copy_only=False), dtype=np.float64)
    bad = pc.is_valid(s).to_numpy(zero_copy_only=False) & ~ok.to_numpy(zero_copy_only=False)
    return u.expand(v, np.nan), u.row_mask(bad)


def _dates_general(u: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """Parse any accepted date form (vectorised regex); (datetime64[s] with NaT, ok mask)."""
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
    ok = (matched & (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (hh < 24) & (mi < 60)
          & (ss < 61))
    out = months.astype("datetime64[D]").astype("datetime64[s]") + (
        (np.clip(d, 1, 31) - 1) * 86400 + hh * 3600 + mi * 60 + ss).astype("timedelta64[s]")
    out = np.where(ok, out, np.datetime64("NaT", "s"))
    # numbers: Excel serials (1 … 99999) and Unix timestamps (10 digits s, 13 digits ms)
    num_ok = pc.fill_null(pc.match_substring_regex(u,
                                                   r"^\d{1,5}(\.\d+)?$|^\d{10}(\.\d+)?$|^\d{13}$"),
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


def epoch_like(a) -> np.ndarray:
    """Mask of text cells that are 10- or 13-digit numbers (read as Unix time in a date column).

    Examples
    --------
    >>> epoch_like(pa.array(["1714700000", "2024-05-03", "1714700000000", None])).tolist()
    [True, False, True, False]
    """
    if not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)):
        return np.zeros(len(a), bool)
    hit = pc.fill_null(pc.match_substring_regex(pc.utf8_trim_whitespace(a), EPOCH_RE), False)
    return np.asarray(hit.to_numpy(zero_copy_only=False), dtype=bool)


def parse_dates(a: pa.Array, *, date_only: bool) -> tuple[np.ndarray, np.ndarray]:
    """(datetime64[s] values with NaT, bad mask) for one column.

    Durations and times of day are never dates: every such cell is bad (a Parquet duration
    once became an 1899 date through the Excel-serial rule).
    """
    n = len(a)
    if pa.types.is_duration(a.type) or pa.types.is_time(a.type) or pa.types.is_interval(a.type):
        return (np.full(n, np.datetime64("NaT", "s")),
                np.asarray(pc.is_valid(a).to_numpy(zero_copy_only=False), dtype=bool))
    if pa.types.is_timestamp(a.type):
        if a.type.tz is not None:
            a = pc.local_timestamp(a)
        v = pc.cast(a, pa.timestamp("s"), safe=False).to_numpy(zero_copy_only=False)
        v = v.astype("datetime64[s]")
        if date_only:
            v = v.astype("datetime64[D]").astype("datetime64[s]")
        return v, np.zeros(n, bool)
    if pa.types.is_date(a.type):
        v = pc.cast(a, pa.timestamp("s")).to_numpy(zero_copy_only=False).astype("datetime64[s]")
        return v, np.zeros(n, bool)
    u = Uniq(a, force=date_only)
    s = u.values
    m = len(s)
    out = np.full(m, np.datetime64("NaT", "s"))
    ok = np.zeros(m, bool)
    # fast path: ISO forms, parsed by strptime and checked against the day it read
    for fmt, pat in (("%Y-%m-%d %H:%M:%S", r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$"),
                     ("%Y-%m-%d", r"^\d{4}-\d\d-\d\d$")):
        hit = pc.fill_null(pc.match_substring_regex(s, pat), False)
        if not any_true(hit):
            continue
        parsed = pc.strptime(s, format=fmt, unit="s", error_is_null=True)
        day = pc.cast(pc.utf8_slice_codeunits(pc.if_else(hit, s, "0000-00-01"), 8, 10), pa.int64())
        good = pc.fill_null(pc.and_(hit, pc.equal(pc.day(parsed), day)), False)
        good = good.to_numpy(zero_copy_only=False)
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


def map_uniques(a: pa.Array, fn) -> tuple[Uniq, list, np.ndarray]:
    """Apply ``fn(value) -> (result, ok)`` to each unique value of a string column.

    Returns the :class:`Uniq` view, the per-value results and the per-row bad mask.
    """
    u = Uniq(a, force=True)
    res, ok = [], []
    for v in u.pylist():
        r, good = fn(v) if v is not None else (None, True)
        res.append(r)
        ok.append(good)
    return u, res, u.row_mask(~np.asarray(ok, dtype=bool))
