"""The one shape of a signal: every test a detector made, flagged or not (issue 13).

A *signal frame* has one row per test — a control chart of one station's 捕后取保候审率, a
funnel point of one department's 不诉率, one account's edits of closed cases — whether it
flagged or not, because error control across a report needs the whole family of tests
(:func:`casework.analysis.findings.select`). Detectors build rows as dicts and call
:func:`frame`; :func:`validate` checks any frame; :func:`entity_labels` gives every record its
hierarchical ``entity_id`` and FULL display name, so prose never names a bare "第二检察部" or
"和平派出所".

Columns (:data:`SIGNAL_COLUMNS`, in this order)
-----------------------------------------------
detector, section, entity_type, entity_id, entity_name, indicator, indicator_name, direction,
start_month, months_signalling, latest_value, baseline, effect, effect_lower, effect_upper, n,
p_value, method, within. Required in every row: ``detector``, ``entity_type``, ``entity_id``,
``entity_name``, ``indicator``, ``indicator_name``, ``direction``, ``p_value`` (NaN allowed
only when the entity could not be tested); the others are filled when absent
(:data:`DEFAULTS`).

``within`` (optional, ``"|"``-separated entity_ids) names entities of ANOTHER hierarchy that
contain this entity's records — a station's procuratorate(s) — so that a station's finding
makes its procuratorate's signal on the same indicator context (:func:`ancestors`).
:func:`entity_table` fills it.

Entity ids (``"/"``-separated paths; ancestors are prefixes)
-----------------------------------------------------------
========== =================================== =============================================
type        entity_id                           entity_name
========== =================================== =============================================
all         ``all``                             全部单位
unit        ``930104``                          江州市江滨区人民检察院
department  ``930104/第二检察部``                  江州市江滨区人民检察院第二检察部
prosecutor  ``930104/第二检察部/930104101``        …第二检察部检察官曾杰东
agency      ``江州市公安局青山分局``                  江州市公安局青山分局
station     ``江州市公安局青山分局/和平派出所``         江州市公安局青山分局和平派出所
charge_group ``charge_group/property``           侵犯财产罪（the group's Chinese label）
charge      ``charge/诈骗``                       诈骗
account     ``account/930106/930106902``        云溪县人民检察院账号930106902
========== =================================== =============================================

Examples
--------
>>> import pandas as pd
>>> rec = pd.DataFrame({"unit_code": ["930104", "930105"],
...                     "unit_name": ["江州市江滨区人民检察院", "江州市东湖区人民检察院"],
...                     "department": ["第二检察部", "第二检察部"]})
>>> lab = entity_labels(rec, "department")
>>> lab["entity_id"].tolist()
['930104/第二检察部', '930105/第二检察部']
>>> lab["entity_name"].tolist()
['江州市江滨区人民检察院第二检察部', '江州市东湖区人民检察院第二检察部']
>>> s = frame([{"detector": "funnel", "entity_type": "unit", "entity_id": "930104",
...             "entity_name": "江州市江滨区人民检察院", "indicator": "non_prosecution_rate",
...             "indicator_name": "不起诉率", "direction": "unfavourable", "p_value": 0.003}])
>>> int(s.loc[0, "months_signalling"]), s.loc[0, "start_month"]
(0, <NA>)
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis.stats import wilson_interval
from casework.base.errors import DataError, ParameterError, check_choice
from casework.model import schema

#: Columns of a signal frame, in order, with their pandas dtypes.
SIGNAL_COLUMNS: dict[str, str] = {
    "detector": "string",
    "section": "string",
    "entity_type": "string",
    "entity_id": "string",
    "entity_name": "string",
    "indicator": "string",
    "indicator_name": "string",
    "direction": "string",
    "start_month": "string",
    "months_signalling": "int64",
    "latest_value": "float64",
    "baseline": "float64",
    "effect": "float64",
    "effect_lower": "float64",
    "effect_upper": "float64",
    "n": "float64",
    "p_value": "float64",
    "method": "string",
    "within": "string",
}

#: Columns every row must carry (``p_value`` may be NaN: untestable).
REQUIRED = ("detector", "entity_type", "entity_id", "entity_name", "indicator",
            "indicator_name", "direction", "p_value")

#: Values given to optional columns a detector left out.
DEFAULTS = {"section": "", "start_month": pd.NA, "months_signalling": 0,
            "latest_value": np.nan, "baseline": np.nan, "effect": np.nan,
            "effect_lower": np.nan, "effect_upper": np.nan, "n": np.nan, "method": "",
            "within": ""}

#: Entity types with their Chinese names.
ENTITY_TYPES = {"all": "全部", "unit": "单位", "department": "部门", "prosecutor": "检察官",
                "agency": "侦查机关", "station": "派出所", "charge_group": "罪名类别",
                "charge": "罪名", "account": "账号"}

#: How specific an entity type is (higher = deeper in its hierarchy); findings prefer depth.
DEPTH = {"all": 0, "unit": 1, "agency": 1, "charge_group": 1, "department": 2, "station": 2,
         "charge": 2, "account": 2, "prosecutor": 3}

#: Directions of an observed deviation, with their Chinese names.
DIRECTIONS = {"unfavourable": "不利", "favourable": "有利", "neutral": "中性"}

#: Canonical columns that identify an entity of each type: group by these, never by a bare name.
GROUPINGS: dict[str, list[str]] = {
    "all": [],
    "unit": ["unit_code"],
    "department": ["unit_code", "department"],
    "prosecutor": ["unit_code", "department", "prosecutor_id"],
    "agency": ["referring_agency"],
    "station": ["referring_agency", "police_station"],
    "charge_group": ["charge_group"],
    "charge": ["charge"],
    "account": ["unit_code", "account"],
}

#: Fixed id prefixes of the hierarchies whose ids are not plain names.
_PREFIX = {"charge": "charge/", "charge_group": "charge_group/", "account": "account/"}
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
_UNKNOWN = {"unit_code": "未知单位", "unit_name": "未知单位", "department": "未知部门",
            "prosecutor_id": "未知检察官", "referring_agency": "未知移送机关",
            "police_station": "未知派出所", "charge": "未知罪名", "charge_group": "未知罪名类别",
            "account": "未知账号"}


# ---------------------------------------------------------------------------------------------
# frames
# ---------------------------------------------------------------------------------------------


def empty() -> pd.DataFrame:
    """An empty signal frame with every column of :data:`SIGNAL_COLUMNS`.

    Examples
    --------
    >>> list(empty().columns) == list(SIGNAL_COLUMNS)
    True
    """
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in SIGNAL_COLUMNS.items()})


def _bad(zh: str, en: str, hint: str | None = None) -> DataError:
    return DataError(f"信号表无效：{zh}", f"invalid signal frame: {en}", hint=hint)


def _within_text(v) -> str:
    if v is None or (not isinstance(v, (str, list, tuple, set, frozenset)) and pd.isna(v)):
        return ""
    if isinstance(v, (list, tuple, set, frozenset)):
        return "|".join(sorted({str(x) for x in v if x is not None and str(x)}))
    return str(v)


def validate(df: pd.DataFrame) -> pd.DataFrame:
    """Check a signal frame and return it normalised (optional columns filled, dtypes set).

    Raises
    ------
    DataError
        A required column is missing or empty; an unknown ``entity_type`` or ``direction``;
        an ``entity_id`` that does not fit its type; ``p_value`` outside [0, 1]; a bad
        ``start_month`` (not ``YYYY-MM``) or negative ``months_signalling``; or the same
        (detector, entity_id, indicator) twice. The message names the column and the value.

    Examples
    --------
    >>> import pandas as pd
    >>> row = {"detector": "funnel", "entity_type": "unit", "entity_id": "930104",
    ...        "entity_name": "甲院", "indicator": "x", "indicator_name": "某率",
    ...        "direction": "worse", "p_value": 0.5}
    >>> try:
    ...     validate(pd.DataFrame([row]))
    ... except DataError as err:
    ...     print(err.zh.split("，")[0])
    信号表无效：direction 列的取值 'worse' 无效（第1行）
    """
    if not isinstance(df, pd.DataFrame):
        raise ParameterError("signals 应为 DataFrame", "signals must be a DataFrame")
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        cols = ", ".join(missing)
        raise _bad(f"缺少必需列 {cols}", f"missing required column(s) {cols}",
                   hint="用 signals.frame(rows) 构造 / build it with signals.frame(rows)")
    out = df.reset_index(drop=True).copy()
    for c, v in DEFAULTS.items():
        if c not in out.columns:
            out[c] = v
    out["within"] = out["within"].map(_within_text)
    extra = [c for c in out.columns if c not in SIGNAL_COLUMNS]
    out = out[[*SIGNAL_COLUMNS, *extra]]
    for c in REQUIRED:
        if c == "p_value":
            continue
        bad = out[c].isna() | (out[c].astype("string").str.strip() == "")
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise _bad(f"{c} 列为空（第{i + 1}行）", f"column {c} is empty (row {i + 1})")
    for col, allowed in (("entity_type", ENTITY_TYPES), ("direction", DIRECTIONS)):
        bad = ~out[col].isin(list(allowed))
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            v, opts = out[col].iloc[i], ", ".join(allowed)
            raise _bad(f"{col} 列的取值 {v!r} 无效（第{i + 1}行），可选：{opts}",
                       f"column {col} has invalid value {v!r} (row {i + 1}); valid: {opts}")
    for i, (t, e) in enumerate(zip(out["entity_type"], out["entity_id"])):
        pre = _PREFIX.get(t)
        ok = (e == "all") if t == "all" else (e.startswith(pre) if pre else e != "all"
                                              and not e.startswith(tuple(_PREFIX.values())))
        if not ok:
            raise _bad(f"entity_id 列的取值 {e!r} 与 entity_type {t!r} 不符（第{i + 1}行）",
                       f"column entity_id value {e!r} does not fit entity_type {t!r} "
                       f"(row {i + 1})", hint="用 entity_labels() 生成 / use entity_labels()")
    p = pd.to_numeric(out["p_value"], errors="coerce")
    bad = (p.notna() & ((p < 0) | (p > 1))) | (p.isna() & out["p_value"].notna())
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        v = out["p_value"].iloc[i]
        raise _bad(f"p_value 列的取值 {v!r} 不在 [0, 1] 内（第{i + 1}行）",
                   f"column p_value has value {v!r} outside [0, 1] (row {i + 1})")
    sm = out["start_month"].map(  # Timestamps / Periods → "YYYY-MM"; text is checked as is
        lambda v: v if isinstance(v, str) or v is None or v is pd.NA else month_code(v)
    ).astype("string")
    bad = sm.notna() & ~sm.fillna("").str.match(_MONTH_RE)
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise _bad(f"start_month 列的取值 {sm.iloc[i]!r} 应为 YYYY-MM（第{i + 1}行）",
                   f"column start_month value {sm.iloc[i]!r} must be YYYY-MM (row {i + 1})")
    ms = pd.to_numeric(out["months_signalling"], errors="coerce").fillna(0)
    if (ms < 0).any() or (ms % 1 != 0).any():
        i = int(np.flatnonzero(((ms < 0) | (ms % 1 != 0)).to_numpy())[0])
        raise _bad(f"months_signalling 列的取值 {ms.iloc[i]!r} 应为非负整数（第{i + 1}行）",
                   f"column months_signalling value {ms.iloc[i]!r} must be a non-negative "
                   f"integer (row {i + 1})")
    key = ["detector", "entity_id", "indicator"]
    dup = out.duplicated(key, keep=False)
    if dup.any():
        i = int(np.flatnonzero(dup.to_numpy())[0])
        d, e, ind = (out[k].iloc[i] for k in key)
        raise _bad(f"(detector, entity_id, indicator) 重复：({d}, {e}, {ind})（第{i + 1}行）",
                   f"duplicate (detector, entity_id, indicator): ({d}, {e}, {ind}) "
                   f"(row {i + 1})", hint="每项检验只能一行 / one row per test")
    out["p_value"] = p
    out["months_signalling"] = ms.astype("int64")
    out["start_month"] = sm
    for c, t in SIGNAL_COLUMNS.items():
        if c not in ("p_value", "months_signalling", "start_month"):
            out[c] = out[c].astype(t) if t == "string" else pd.to_numeric(
                out[c], errors="coerce").astype(t)
    return out


def frame(rows: Iterable[Mapping]) -> pd.DataFrame:
    """Signal rows (dicts) → a validated signal frame (optional columns filled).

    ``within`` may be given as a list or set of entity ids. Extra keys are kept as extra
    columns after the standard ones (detector-specific evidence such as ``z``).

    Examples
    --------
    >>> len(frame([])), list(frame([]).columns)[:3]
    (0, ['detector', 'section', 'entity_type'])
    """
    rows = list(rows)
    if not rows:
        return empty()
    return validate(pd.DataFrame(rows))


def concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    """Several detectors' signal frames → one validated frame (a list of frames is fine).

    Examples
    --------
    >>> len(concat([empty(), empty()]))
    0
    """
    frames = [f for f in frames if f is not None and len(f)]
    if not frames:
        return empty()
    return validate(pd.concat([validate(f) for f in frames], ignore_index=True))


# ---------------------------------------------------------------------------------------------
# entities
# ---------------------------------------------------------------------------------------------


def _part(df: pd.DataFrame, col: str) -> pd.Series:
    """Column ``col`` as text with ``/`` made safe and nulls/blank as 未知… ."""
    if col in df.columns:
        s = df[col].astype("string").str.strip()
        s = s.mask(s == "").str.replace("/", "／", regex=False)
    else:
        s = pd.Series(pd.NA, index=df.index, dtype="string")
    return s.fillna(_UNKNOWN[col])


def _unit_names(df: pd.DataFrame, unit_names: Mapping | None) -> pd.Series:
    code = _part(df, "unit_code")
    if "unit_name" in df.columns:
        name = df["unit_name"].astype("string").str.strip()
        name = name.mask(name == "")
    else:
        name = pd.Series(pd.NA, index=df.index, dtype="string")
    # a code named in other rows (the last name a code carries, as a dict over all rows would
    # keep; one pair per code first, since iterating every row's strings took most of the time)
    named = pd.DataFrame({"code": code[name.notna()], "name": name[name.notna()]})
    named = named.drop_duplicates("code", keep="last")
    known = dict(zip(named["code"], named["name"]))
    known.update({str(k): str(v) for k, v in (unit_names or {}).items() if k not in known})
    if known:
        name = name.fillna(code.map(known).astype("string"))
    # a unit without a name is shown by its code; a record without a unit as 未知单位
    return name.fillna(code.mask(code != _UNKNOWN["unit_code"], "单位" + code))


def entity_labels(df: pd.DataFrame, entity_type: str, *,
                  unit_names: Mapping | None = None) -> pd.DataFrame:
    """Each record's entity of ``entity_type``: ``entity_id``, full ``entity_name``, ``within``.

    Parameters
    ----------
    df : DataFrame
        Records, journeys or modifications with the canonical columns of
        :data:`GROUPINGS` ``[entity_type]`` (and ``unit_name`` / ``prosecutor_name`` for names).
    entity_type : str
        A key of :data:`ENTITY_TYPES`.
    unit_names : mapping, optional
        unit_code → unit name, for tables without ``unit_name`` (modifications). A record
        without a unit name takes the name other records of its unit carry, then this
        mapping, then ``单位<unit_code>``.

    Returns
    -------
    DataFrame
        Same index as ``df`` (one row per record, so every record is counted):
        ``entity_id``, ``entity_name`` and ``within`` (the record's unit id for the agency and
        station hierarchies, else ``""``). Null parts become 未知… classes (未知部门,
        未知派出所 …), never dropped. Departments are keyed by unit and department,
        stations by agency and station, prosecutors by unit, department and id: nothing is
        pooled across units or merged by a bare name.

    Examples
    --------
    >>> import pandas as pd
    >>> rec = pd.DataFrame({"unit_code": ["930105", "930105"],
    ...     "unit_name": ["江州市东湖区人民检察院"] * 2, "department": ["第一检察部", None],
    ...     "prosecutor_id": ["930105101", "930105102"], "prosecutor_name": ["曾杰东", None],
    ...     "referring_agency": ["江州市公安局青山分局", None],
    ...     "police_station": ["和平派出所", "桂花派出所"]})
    >>> for name in entity_labels(rec, "prosecutor")["entity_name"]:
    ...     print(name)
    江州市东湖区人民检察院第一检察部检察官曾杰东
    江州市东湖区人民检察院未知部门检察官930105102
    >>> entity_labels(rec, "station")[["entity_id", "entity_name"]].values.tolist()[1]
    ['未知移送机关/桂花派出所', '未知移送机关桂花派出所']
    """
    check_choice("entity_type", entity_type, list(ENTITY_TYPES))
    idx = df.index
    within = pd.Series("", index=idx, dtype="string")
    if entity_type == "all":
        eid = pd.Series("all", index=idx, dtype="string")
        name = pd.Series("全部单位", index=idx, dtype="string")
    elif entity_type in ("unit", "department", "prosecutor", "account"):
        code, uname = _part(df, "unit_code"), _unit_names(df, unit_names)
        if entity_type == "unit":
            eid, name = code, uname
        elif entity_type == "account":
            acc = _part(df, "account")
            eid, name = "account/" + code + "/" + acc, uname + "账号" + acc
        else:
            dept = _part(df, "department")
            eid, name = code + "/" + dept, uname + dept
            if entity_type == "prosecutor":
                pid = _part(df, "prosecutor_id")
                pname = (df["prosecutor_name"].astype("string").str.strip()
                         if "prosecutor_name" in df.columns
                         else pd.Series(pd.NA, index=idx, dtype="string"))
                pname = pname.mask(pname == "")
                shown = pname.fillna(pid.mask(pid == _UNKNOWN["prosecutor_id"], "检察官" + pid))
                eid = eid + "/" + pid
                name = name + shown.where(shown.str.startswith("未知")
                                          | shown.str.startswith("检察官"), "检察官" + shown)
    elif entity_type in ("agency", "station"):
        ag = _part(df, "referring_agency")
        eid, name = ag, ag
        if entity_type == "station":
            st = _part(df, "police_station")
            eid, name = ag + "/" + st, ag + st
        within = _part(df, "unit_code")
    elif entity_type == "charge":
        ch = _part(df, "charge")
        eid, name = "charge/" + ch, ch
    else:  # charge_group
        if "charge_group" in df.columns:
            grp = _part(df, "charge_group")
        elif "charge" in df.columns:
            grp = df["charge"].map(lambda c: schema.charge_group_of(c) if isinstance(c, str)
                                   else None).astype("string").fillna(_UNKNOWN["charge_group"])
        else:
            grp = _part(df, "charge_group")
        eid = "charge_group/" + grp
        name = grp.map(lambda g: schema.label("charge_group", g)).astype("string")
    return pd.DataFrame({"entity_id": eid.astype("string"), "entity_name": name.astype("string"),
                         "within": within.astype("string")}, index=idx)


def entity_table(df: pd.DataFrame, entity_type: str, *,
                 unit_names: Mapping | None = None) -> pd.DataFrame:
    """One row per entity: ``entity_id``, ``entity_name``, ``within``, ``records``.

    ``within`` joins (``"|"``) the ids of every unit whose records include the entity (for
    agencies and stations), ready for a signal row.

    Examples
    --------
    >>> import pandas as pd
    >>> rec = pd.DataFrame({"unit_code": ["930104", "930105", "930104"],
    ...     "referring_agency": ["江州市公安局青山分局"] * 3,
    ...     "police_station": ["和平派出所"] * 3})
    >>> entity_table(rec, "station").values.tolist()
    [['江州市公安局青山分局/和平派出所', '江州市公安局青山分局和平派出所', '930104|930105', 3]]
    """
    lab = entity_labels(df, entity_type, unit_names=unit_names)
    if not len(lab):
        return pd.DataFrame({"entity_id": pd.Series(dtype="string"),
                             "entity_name": pd.Series(dtype="string"),
                             "within": pd.Series(dtype="string"),
                             "records": pd.Series(dtype="int64")})
    g = lab.groupby("entity_id", sort=True, dropna=False)
    out = pd.DataFrame({
        "entity_name": g["entity_name"].first(),
        "within": g["within"].agg(lambda s: "|".join(sorted({w for w in s if w}))),
        "records": g.size().astype("int64"),
    }).reset_index()
    return out.astype({"entity_id": "string", "entity_name": "string", "within": "string"})


def ancestors(entity_id: str, within: str = "") -> list[str]:
    """Entity ids that contain ``entity_id``: its path prefixes, ``all``, the units named in
    ``within`` (and their prefixes), an account's unit and a charge's charge group.

    Examples
    --------
    >>> ancestors("930104/第二检察部/930104101")
    ['930104', '930104/第二检察部', 'all']
    >>> ancestors("江州市公安局青山分局/和平派出所", "930104")
    ['江州市公安局青山分局', '930104', 'all']
    >>> ancestors("charge/诈骗"), ancestors("account/930106/930106902")
    (['charge_group/property', 'all'], ['930106', 'all'])
    """
    if entity_id == "all":
        return []
    out: list[str] = []

    def prefixes(path: str) -> list[str]:
        parts = path.split("/")
        return ["/".join(parts[:k]) for k in range(1, len(parts))]

    if entity_id.startswith("charge/"):
        grp = schema.charge_group_of(entity_id[len("charge/"):])
        if grp:
            out.append("charge_group/" + grp)
    elif entity_id.startswith("account/"):
        out.extend(prefixes(entity_id[len("account/"):]))
    elif not entity_id.startswith("charge_group/"):
        out.extend(prefixes(entity_id))
    for w in (within or "").split("|"):
        if w and w != entity_id:
            out.extend([*prefixes(w), w])
    out.append("all")
    return list(dict.fromkeys(out))


# ---------------------------------------------------------------------------------------------
# small helpers shared by detectors
# ---------------------------------------------------------------------------------------------


def search_adjusted(p_min, n_candidates, *, method: str = "sidak"):
    """A valid p-value for the best of ``n_candidates`` tests (e.g. candidate start months).

    A detector that tries every start month and keeps the smallest p-value must report this
    adjusted value, not ``p_min`` itself. ``sidak``: 1 − (1 − p)^k, exact for independent
    tests and valid (conservative) for the positively dependent, overlapping windows of a
    change-point search (Šidák 1967, JASA 62:626); ``bonferroni``: min(1, k·p), valid always.

    Examples
    --------
    >>> round(search_adjusted(0.001, 12), 5), search_adjusted(0.2, 12, method="bonferroni")
    (0.01193, 1.0)
    """
    check_choice("method", method, ["sidak", "bonferroni"])
    p = np.asarray(p_min, dtype="float64")
    k = np.maximum(np.asarray(n_candidates, dtype="float64"), 1)
    if method == "bonferroni":
        out = np.minimum(1.0, p * k)
    else:
        out = -np.expm1(k * np.log1p(-np.clip(p, 0, 1)))
    out = np.clip(out, 0, 1)
    return float(out) if out.ndim == 0 else out


def rate_difference(k1, n1, k0, n0, *, alpha: float = 0.05) -> dict:
    """Difference of two rates p1 − p0 with a Newcombe (hybrid Wilson) interval and a
    two-sided pooled z-test p-value — the ``effect``/``p_value`` of a "latest vs baseline"
    signal (the interval agrees with statsmodels'
    ``confint_proportions_2indep(method="newcomb")``). Vectorised; NaN where a denominator is 0.

    Examples
    --------
    >>> d = rate_difference(12, 34, 5, 130)
    >>> round(float(d["effect"]), 3), round(float(d["effect_lower"]), 3), d["p_value"] < 1e-4
    (0.314, 0.168, True)
    """
    k1, n1, k0, n0 = (np.asarray(x, dtype="float64") for x in (k1, n1, k0, n0))
    with np.errstate(divide="ignore", invalid="ignore"):
        p1, p0 = k1 / n1, k0 / n0
        l1, u1 = wilson_interval(k1, n1, alpha=alpha)
        l0, u0 = wilson_interval(k0, n0, alpha=alpha)
        d = p1 - p0
        lower = d - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
        upper = d + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
        pool = (k1 + k0) / (n1 + n0)
        se = np.sqrt(pool * (1 - pool) * (1 / n1 + 1 / n0))
        z = np.where(se > 0, d / se, 0.0)
        p = np.where((n1 > 0) & (n0 > 0), 2 * _st.norm.sf(np.abs(z)), np.nan)
    res = {"latest_value": p1, "baseline": p0, "effect": d, "effect_lower": lower,
           "effect_upper": upper, "p_value": p}
    return {k: (float(v) if np.ndim(v) == 0 else v) for k, v in res.items()}


def month_code(value) -> str | None:
    """``"YYYY-MM"`` of a month-like value (Timestamp, Period, ``"2026-03"``…); None if null.

    Examples
    --------
    >>> month_code(pd.Timestamp("2026-03-15")), month_code("2026-3"), month_code(None)
    ('2026-03', '2026-03', None)
    """
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        m = re.match(r"^\s*(\d{4})\D+(\d{1,2})", value)
        if m:
            return f"{int(m.group(1)):04d}-{int(m.group(2)):02d}"
    try:
        return pd.Period(value, freq="M").strftime("%Y-%m")
    except (ValueError, TypeError):
        raise ParameterError(f"无法识别的月份：{value!r}", f"not a month: {value!r}") from None
