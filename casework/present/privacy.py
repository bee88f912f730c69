"""Masking, pseudonyms and small-cell suppression: what a report may show at each level.

Access levels (the ``level`` parameter of every report)
-------------------------------------------------------
``internal``
    For the office itself. Prosecutor names, case numbers and case lists may appear; personal
    identifiers of suspects (name, ID number, address, birth date — ``personal`` columns of
    :mod:`casework.model.schema`) never do.
``circulated``
    For leaders and joint meetings outside the office. No person names, ID numbers, addresses,
    case numbers, case names, summaries or case lists; prosecutors and accounts appear only as
    stable pseudonyms (``检察官A``, ``账号B``); table cells counting 1–4 persons are suppressed
    together with the cells that would let them be recovered from row or column totals.

``casework.notebook.page.table`` calls :func:`sanitize_frame` and :func:`suppress_small_cells`
on every table; keep their signatures.

Examples
--------
>>> from casework.present import privacy
>>> privacy.mask_name("张三丰"), privacy.mask_name("欧阳修")
('张某某', '欧阳某')
>>> privacy.mask_id_number("371329199001011234", level="internal")
'371329********1234'
>>> privacy.mask_id_number("371329199001011234", level="circulated")
'******************'
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

import numpy as np
import pandas as pd

from casework.base.errors import ParameterError, check_choice
from casework.model import schema

LEVELS = ("internal", "circulated")

#: Two-character (复姓) surnames kept whole by :func:`mask_name`.
COMPOUND_SURNAMES = frozenset("""
欧阳 司马 上官 诸葛 东方 皇甫 尉迟 公孙 慕容 长孙 宇文 司徒 夏侯 轩辕 令狐 钟离 闾丘 澹台 公冶
太史 申屠 端木 南宫 西门 百里 呼延 万俟 独孤 第五 拓跋 赫连 司空 鲜于 闻人 濮阳 淳于 单于 仲孙
东郭 梁丘 左丘 谷梁 公羊 微生 羊舌 乐正 漆雕 壤驷 公良 拓拔 段干 司寇 亓官 巫马 子车 颛孙 东门
""".split())

_MASK = "某"


def _is_missing(value) -> bool:
    return value is None or (not isinstance(value, (str, list, tuple)) and pd.isna(value))


def _apply(values, func):
    """Apply a scalar function to a scalar or, elementwise, to a Series (nulls kept)."""
    if isinstance(values, pd.Series):
        return values.map(lambda v: v if _is_missing(v) else func(str(v))).astype("string")
    return values if _is_missing(values) else func(str(values))


# ---------------------------------------------------------------------------------------------
# Names and ID numbers
# ---------------------------------------------------------------------------------------------


def _mask_one_name(name: str) -> str:
    name = name.strip()
    if not name:
        return name
    surname = name[:2] if len(name) >= 3 and name[:2] in COMPOUND_SURNAMES else name[:1]
    given = len(name) - len(surname)
    return surname + _MASK * (1 if given <= 1 else 2)


def mask_name(name):
    """Keep the surname, replace the given name: ``张三丰`` → ``张某某``.

    Compound surnames (:data:`COMPOUND_SURNAMES`, e.g. 欧阳, 司马) are kept whole. A one-
    character given name becomes ``某``, a longer one ``某某`` (so long transliterated names do
    not reveal their length). Works on a string or, elementwise, on a Series (nulls kept).

    Examples
    --------
    >>> mask_name("张三"), mask_name("张三丰"), mask_name("欧阳娜娜"), mask_name("阿依古丽·买买提")
    ('张某', '张某某', '欧阳某某', '阿某某')
    >>> import pandas as pd
    >>> mask_name(pd.Series(["李四", None])).tolist()
    ['李某', <NA>]
    """
    return _apply(name, _mask_one_name)


_ID_RE = re.compile(r"^\d{6}(\d{8}\d{3}[\dXx]|\d{6}\d{3})$")


def _mask_one_id(text: str, level: str) -> str:
    text = text.strip()
    if not text:
        return text
    if level == "circulated":
        return "*" * 18
    if _ID_RE.match(text):  # 18-digit (or old 15-digit) resident ID: region + … + last 4
        return text[:6] + "*" * (len(text) - 10) + text[-4:]
    if len(text) <= 4:
        return "*" * len(text)
    return "*" * (len(text) - 4) + text[-4:]


def mask_id_number(number, level: str = "circulated"):
    """Mask an ID number (身份证号) to what ``level`` allows.

    ``internal`` keeps the 6-digit region code and the last 4 characters, which is enough for
    a caseworker to tell two records apart (``371329********1234``); other document numbers keep
    only their last 4. ``circulated`` shows nothing: every number becomes 18 asterisks, so not
    even its length, region or birth year travels. Works on a string or a Series.

    Examples
    --------
    >>> mask_id_number("37132919900101123X", level="internal")
    '371329********123X'
    >>> mask_id_number("E12345678", level="internal")
    '*****5678'
    >>> import pandas as pd
    >>> mask_id_number(pd.Series(["37132919900101123X", None])).tolist()
    ['******************', <NA>]
    """
    check_choice("level", level, LEVELS)
    return _apply(number, lambda t: _mask_one_id(t, level))


_TEXT_ID = re.compile(r"(?<![0-9A-Za-z])(\d{17}[\dXx]|\d{15})(?![0-9A-Za-z])")
_TEXT_PHONE = re.compile(r"(?<!\d)(1[3-9]\d{9})(?!\d)")


def scrub_text(text, *, names=()):
    """Remove personal identifiers from free text (案情摘要, case names).

    ID numbers (15 or 18 digits) become ``[身份证号]``, mobile numbers ``[电话]``, and each of
    ``names`` (e.g. the suspects' names of the same rows) is replaced by its masked form
    (:func:`mask_name`). Works on a string or a Series.

    Examples
    --------
    >>> scrub_text("犯罪嫌疑人张三丰（身份证号371329199001011234，电话13812345678）盗窃电动车",
    ...            names=["张三丰"])
    '犯罪嫌疑人张某某（身份证号[身份证号]，电话[电话]）盗窃电动车'
    """
    pairs = sorted({str(n).strip() for n in names if not _is_missing(n) and str(n).strip()},
                   key=len, reverse=True)
    pattern = re.compile("|".join(map(re.escape, pairs))) if pairs else None

    def one(t: str) -> str:
        t = _TEXT_ID.sub("[身份证号]", t)
        t = _TEXT_PHONE.sub("[电话]", t)
        if pattern is not None:
            t = pattern.sub(lambda m: _mask_one_name(m.group(0)), t)
        return t

    return _apply(text, one)


# ---------------------------------------------------------------------------------------------
# Pseudonyms
# ---------------------------------------------------------------------------------------------

_REGISTRIES: dict[tuple[str, str], dict[str, str]] = {}
_PROCESS_SALT = secrets.token_hex(16)


def _letters(n: int) -> str:
    """0 → A, 25 → Z, 26 → AA (spreadsheet column style)."""
    out = ""
    n += 1
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def reset_pseudonyms() -> None:
    """Forget every pseudonym handed out in this process (a new report starts afresh)."""
    _REGISTRIES.clear()


def pseudonymise(series: pd.Series, *, salt: str | None = None,
                 prefix: str = "检察官") -> pd.Series:
    """Replace each distinct value by a stable pseudonym: ``检察官A``, ``检察官B`` ….

    Parameters
    ----------
    series : Series
        Values to hide (prosecutor names or ids, accounts). Nulls stay null.
    salt : str, optional
        Secret that orders the letters. Default: ``CASEWORK_PSEUDONYM_SALT`` when set, else a
        random secret drawn once per process — so letters follow neither the alphabetical
        order of names nor anything an outsider can recompute.
    prefix : str
        Text before the letter (``检察官``, ``账号`` …).

    Returns
    -------
    Series of str
        Same index; the same value always gets the same pseudonym within one process (one
        report run), whichever table it appears in; values met for the first time get the next
        letters, in the order of an HMAC of the value under ``salt``.

    Examples
    --------
    >>> import pandas as pd
    >>> reset_pseudonyms()
    >>> a = pseudonymise(pd.Series(["王五", "赵六", "王五"]), salt="demo")
    >>> a.iloc[0] == a.iloc[2], a.iloc[0] != a.iloc[1], sorted(a.unique())
    (True, True, ['检察官A', '检察官B'])
    >>> b = pseudonymise(pd.Series(["赵六"]), salt="demo")  # another table, same report
    >>> b.iloc[0] == a.iloc[1]
    True
    """
    if not isinstance(series, pd.Series):
        series = pd.Series(series)
    if salt is None:
        salt = os.environ.get("CASEWORK_PSEUDONYM_SALT") or _PROCESS_SALT
    registry = _REGISTRIES.setdefault((prefix, salt), {})
    text = series.astype("string")
    new = [v for v in text.dropna().unique() if v not in registry]
    new.sort(key=lambda v: hmac.new(salt.encode(), v.encode(), hashlib.sha256).hexdigest())
    for v in new:
        registry[v] = f"{prefix}{_letters(len(registry))}"
    return text.map(lambda v: registry.get(v) if not _is_missing(v) else v).astype("string")


def _alias(key_series: pd.Series, other: pd.Series, *, salt, prefix) -> pd.Series:
    """Pseudonyms keyed on ``key_series``; ``other`` values are registered as aliases."""
    labels = pseudonymise(key_series, salt=salt, prefix=prefix)
    if salt is None:
        salt = os.environ.get("CASEWORK_PSEUDONYM_SALT") or _PROCESS_SALT
    registry = _REGISTRIES[(prefix, salt)]
    for o, lab in zip(other.astype("string"), labels):
        if not _is_missing(o) and not _is_missing(lab):
            registry.setdefault(o, lab)
    return labels


# ---------------------------------------------------------------------------------------------
# Whole frames
# ---------------------------------------------------------------------------------------------

#: Columns replaced by pseudonyms (not dropped) at the circulated level, and their prefix.
PSEUDONYM_COLUMNS = {"prosecutor_name": "检察官", "prosecutor_id": "检察官", "account": "账号"}


def _by_label() -> dict[str, str]:
    out = {}
    for table in schema.TABLES:
        for col in schema.columns(table):
            out.setdefault(col.label_zh, col.name)
    return out


def sanitize_frame(df: pd.DataFrame, *, table: str = "records", level: str = "circulated",
                   salt: str | None = None) -> pd.DataFrame:
    """Return ``df`` without what ``level`` forbids.

    Columns are recognised by canonical name or by Chinese label (``承办检察官``). At both levels
    every ``personal`` column (suspect name, ID number, address, birth date) is dropped. At the
    ``circulated`` level every ``internal`` column is dropped too (case numbers, case names,
    summaries, person ids), except prosecutor names/ids and accounts, which are replaced by
    pseudonyms (:func:`pseudonymise`; a prosecutor keeps one pseudonym whether a table shows the
    name, the id or both).

    Parameters
    ----------
    df : DataFrame
        Case rows or an aggregate table.
    table : str
        Schema table the columns come from (``records``, ``modifications``, ``journeys``); the
        sensitive columns of every table are removed regardless, as names are shared.
    level : {"internal", "circulated"}
    salt : str, optional
        Passed to :func:`pseudonymise`.

    Examples
    --------
    >>> import pandas as pd
    >>> reset_pseudonyms()
    >>> df = pd.DataFrame({"person_name": ["张三"], "prosecutor_name": ["王检"],
    ...                    "case_name": ["张三盗窃案"], "charge": ["盗窃"], "n": [7]})
    >>> sanitize_frame(df, level="internal").columns.tolist()
    ['prosecutor_name', 'case_name', 'charge', 'n']
    >>> sanitize_frame(df, level="circulated", salt="s").values.tolist()
    [['检察官A', '盗窃', 7]]
    """
    check_choice("level", level, LEVELS)
    check_choice("table", table, schema.TABLES)
    hidden = set()
    for t in schema.TABLES:
        hidden.update(schema.sensitive_columns(t, level=level))
    labels = _by_label()
    canon = {c: (c if c in labels.values() else labels.get(str(c), c)) for c in df.columns}
    out = df.copy()
    if level == "circulated":
        pro = [c for c in df.columns if canon[c] in ("prosecutor_name", "prosecutor_id")]
        ids = [c for c in pro if canon[c] == "prosecutor_id"]
        names = [c for c in pro if canon[c] == "prosecutor_name"]
        if ids and names:
            lab = _alias(out[ids[0]], out[names[0]], salt=salt, prefix="检察官")
            for c in pro:
                out[c] = lab
        else:
            for c in pro:
                out[c] = pseudonymise(out[c], salt=salt, prefix="检察官")
        for c in df.columns:
            if canon[c] == "account":
                out[c] = pseudonymise(out[c], salt=salt, prefix="账号")
    drop = [c for c in df.columns if canon[c] in hidden and canon[c] not in
            (PSEUDONYM_COLUMNS if level == "circulated" else ())]
    return out.drop(columns=drop)


# ---------------------------------------------------------------------------------------------
# Small-cell suppression
# ---------------------------------------------------------------------------------------------


def _connected(edges: set, start, goal, skip) -> bool:
    """Is ``goal`` reachable from ``start`` in the bipartite graph ``edges`` without ``skip``?"""
    adj: dict = {}
    for r, c in edges:
        if (r, c) == skip:
            continue
        adj.setdefault(("r", r), []).append(("c", c))
        adj.setdefault(("c", c), []).append(("r", r))
    seen, stack = {start}, [start]
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        for nxt in adj.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return False


def _protect(values: np.ndarray, primary: np.ndarray) -> np.ndarray:
    """Complementary suppression on one 2-D block; returns the full suppression mask.

    The reader is assumed to know every row total (when there are ≥ 2 columns) and every
    column total (when there are ≥ 2 rows). A suppressed cell cannot be recovered, and no
    suppressed cell is pinned by non-negativity on one side, when it lies on a cycle of
    suppressed cells (rows and columns as nodes, cells as edges) — or, for a single row or
    column, when at least two cells of it are suppressed. Missing cycles are closed with the
    cheapest rectangle (smallest added counts, preferring a positive opposite corner).
    """
    nrow, ncol = values.shape
    mask = primary.copy()
    if not mask.any():
        return mask
    vals = np.where(np.isnan(values), 0, values)
    if nrow == 1 or ncol == 1:
        flat_mask, flat_vals = mask.ravel(), vals.ravel()
        if flat_mask.sum() == 1 and flat_mask.size > 1:
            cand = np.where(~flat_mask)[0]
            cost = flat_vals[cand] + np.where(flat_vals[cand] > 0, 0, 1e9)
            flat_mask[cand[np.argmin(cost)]] = True
        return flat_mask.reshape(nrow, ncol)
    for _ in range(nrow * ncol):
        edges = {(int(r), int(c)) for r, c in zip(*np.where(mask))}
        exposed = [(r, c) for r, c in sorted(edges)
                   if primary[r, c] and not _connected(edges, ("r", r), ("c", c), (r, c))]
        if not exposed:
            return mask
        r, c = exposed[0]
        best, best_cost = None, None
        for r2 in range(nrow):
            if r2 == r:
                continue
            for c2 in range(ncol):
                if c2 == c:
                    continue
                add = [(r, c2), (r2, c), (r2, c2)]
                cost = sum(vals[a] for a in add if not mask[a])
                cost += 1e9 * (vals[r2, c2] <= 0 and not primary[r2, c2])
                if best_cost is None or cost < best_cost:
                    best, best_cost = add, cost
        for a in best:
            mask[a] = True
    return mask


def suppress_small_cells(table: pd.DataFrame, *, count_columns, threshold: int = 5,
                         dependent_columns=(), within=None, as_text: bool = False) -> pd.DataFrame:
    """Suppress cells counting fewer than ``threshold`` persons, and their complements.

    Parameters
    ----------
    table : DataFrame
        An aggregate table: one row per group, ``count_columns`` holding person counts.
    count_columns : list of str
        The cells to protect. Cells with ``0 < count < threshold`` are suppressed (primary
        suppression; zeros are shown — an empty cell discloses no person). Then further cells
        are suppressed (complementary suppression) so that no primary cell can be recovered
        from the row totals (when there are ≥ 2 count columns) or the column totals (when
        there are ≥ 2 rows), which the reader is assumed to know. Pass only additive counts;
        drop total rows and columns first and compute them from the unsuppressed data.
    threshold : int
        Smallest count that may be shown (5).
    dependent_columns : list of str
        Columns computed from the counts (rates, confidence limits): blanked in every row
        where a count is suppressed, so they cannot give the count away.
    within : list of str, optional
        Columns splitting ``table`` into independent sub-tables (e.g. ``indicator`` in a tidy
        panel), each protected on its own.
    as_text : bool
        False (default): suppressed cells become ``<NA>`` (count columns turn nullable
        ``Int64``). True: count columns become text, primary cells ``"<5"`` and complementary
        cells ``"—"``.

    Returns
    -------
    DataFrame
        A copy; ``.attrs["suppressed"]`` lists ``{"primary": [(index, column)…],
        "complementary": [...], "threshold": threshold}``.

    Examples
    --------
    >>> import pandas as pd
    >>> t = pd.DataFrame({"unit": ["甲", "乙", "丙"], "male": [12, 3, 20], "female": [9, 8, 15]})
    >>> out = suppress_small_cells(t, count_columns=["male", "female"])
    >>> out["male"].tolist(), out["female"].tolist()
    ([<NA>, <NA>, 20], [<NA>, <NA>, 15])
    >>> suppress_small_cells(t, count_columns=["male", "female"], as_text=True)["male"].tolist()
    ['—', '<5', '20']
    """
    count_columns = list(count_columns)
    missing = [c for c in [*count_columns, *dependent_columns, *(within or [])]
               if c not in table.columns]
    if missing:
        raise ParameterError(f"表中没有这些列：{', '.join(map(str, missing))}",
                             f"the table has no column(s): {', '.join(map(str, missing))}")
    if not isinstance(threshold, (int, np.integer)) or threshold < 1:
        raise ParameterError("threshold 必须是正整数", "threshold must be a positive integer")
    out = table.copy()
    values = out[count_columns].apply(pd.to_numeric, errors="coerce").astype("float64")
    full = np.zeros(values.shape, dtype=bool)
    prim = np.zeros(values.shape, dtype=bool)
    positions = np.arange(len(out))
    if within:
        groups = [np.asarray(ix) for ix in out.groupby(list(within), sort=False,
                                                       dropna=False).indices.values()]
    else:
        groups = [positions]
    v = values.to_numpy()
    for idx in groups:
        block = v[idx]
        p = (block > 0) & (block < threshold)
        prim[idx] = p
        full[idx] = _protect(block, p)
    comp = full & ~prim
    index = list(out.index)
    out.attrs["suppressed"] = {
        "primary": [(index[r], count_columns[c]) for r, c in zip(*np.where(prim))],
        "complementary": [(index[r], count_columns[c]) for r, c in zip(*np.where(comp))],
        "threshold": int(threshold),
    }
    for j, col in enumerate(count_columns):
        if as_text:
            text = values[col].map(lambda x: "" if pd.isna(x) else f"{x:,.0f}").astype(object)
            text[prim[:, j]] = f"<{threshold}"
            text[comp[:, j]] = "—"
            out[col] = text
        else:
            num = values[col].round().astype("Int64") if (values[col].dropna() % 1 == 0).all() \
                else values[col].astype("Float64")
            out[col] = num.mask(full[:, j])
    rows_hit = full.any(axis=1)
    for col in dependent_columns:
        s = out[col]
        out[col] = s.mask(rows_hit) if not as_text else s.astype(object).mask(rows_hit, "—")
    return out
