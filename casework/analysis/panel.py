"""Indicator panels: any indicators × any grouping × period, in one call.

:func:`compute` gives one row per group and indicator for a period, with the previous period
(环比) and the same period a year earlier (同比) beside it; :func:`monthly` gives the monthly
series that :mod:`casework.analysis.monitor` charts. Both compile the registry's SQL expressions
(:mod:`casework.analysis.indicators`) into one DuckDB aggregate query per cohort (``COUNT(*) FILTER
(WHERE …)``, ``SUM``, ``quantile_cont``); DuckDB reads the pandas frames in place, in a
connection with external access disabled. Frames only: a file path is refused (case data come
through :func:`casework.store.read`, which writes the audit row); :func:`sql` shows the text.
Where the data live on a platform, ``records``/``journeys`` may instead be engine tables
(:class:`casework.store.engines.SparkTable`: ``sql_name``, ``columns``, ``execute(sql)``): the
same SQL then runs there, translated and audited by the store (issue 17).

Output columns (tidy, one row per group × indicator [× month]):

``<by keys>``, ``indicator``, ``name_zh``, ``kind``, ``count_unit`` (``person``/``case``),
``unit_zh``, ``direction``, ``period`` (or ``month`` and ``month_start``), ``numerator``,
``denominator``, ``value``, ``value_ci_lower``, ``value_ci_upper``, ``value_se`` (standard
error: binomial for rates, Poisson for counts and event rates, s/√n for means; NaN for medians
and ratios); :func:`compute` adds, for
``previous`` (环比) and ``year_ago`` (同比): ``<p>_period``, ``<p>_numerator``,
``<p>_denominator``, ``<p>_value``, ``<p>_change`` (percentage points for rates, per cent for
counts, absolute difference for means, medians and ratios — see ``change_unit``),
``<p>_p_value`` and ``<p>_notable`` (the change is beyond noise at ``alpha``).

Values: rates are proportions (0–1); counts have ``denominator`` NaN and ``value`` =
``numerator``; means have ``numerator`` = total days and ``denominator`` = n; medians have
``numerator`` NaN. A zero denominator or an empty group gives NaN, never an error or inf.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis import panel
>>> recs = pd.DataFrame({
...     "unit_code": ["U1"] * 4, "stage": ["arrest_review"] * 4,
...     "dept_case_no": ["A1", "A1", "A2", "A3"], "person_id": ["P1", "P2", "P3", "P4"],
...     "accepted_on": pd.to_datetime(["2024-04-20", "2024-04-20", "2024-05-02", "2024-05-03"]),
...     "closed_on": pd.to_datetime(["2024-05-05", "2024-05-05", "2024-05-09", "2024-05-10"]),
...     "decision": ["arrest_approved", "non_arrest", "non_arrest", "arrest_approved"]})
>>> out = panel.compute(recs, indicators=["non_arrest_rate", "closed_arrest_review"],
...                     period="2024-05")
>>> print(out[["indicator", "numerator", "denominator", "value"]].to_string(index=False))
           indicator  numerator  denominator  value
     non_arrest_rate        2.0          4.0    0.5
closed_arrest_review        4.0          NaN    4.0
>>> panel.compute(recs, indicators="non_arrest_rate", period="2024-05",
...               count_unit="case")["value"].round(3).tolist()
[0.667]
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import indicators as _ind
from casework.analysis import periods as _periods
from casework.analysis.stats import safe_ratio, wilson_interval
from casework.base.errors import ParameterError, check_choice
from casework.model import journeys as _journeys
from casework.model import schema

#: Columns that identify a case (件) in each table.
CASE_KEY = {"records": "dept_case_no", "journeys": "unified_case_no"}

_FAR = "TIMESTAMP '9999-12-31'"


# ---------------------------------------------------------------------------------------------
# Sources
# ---------------------------------------------------------------------------------------------


@dataclass
class _Sources:
    records: object  # DataFrame | Path
    journeys: object  # DataFrame | Path | None


def _is_path(x) -> bool:
    return isinstance(x, (str, Path))


def is_table(x) -> bool:
    """True for an engine table (``sql_name``, ``columns``, ``execute``) instead of a frame."""
    return all(hasattr(x, a) for a in ("sql_name", "columns", "execute"))


def _columns_of(src) -> list[str]:
    if src is None:
        return []
    return list(src.columns)  # a frame or an engine table (paths are refused in _setup)


def _lit(path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _no_paths(name: str) -> ParameterError:
    # one door (issue 19): case data come from casework.store, which writes the audit row
    return ParameterError(
        f"{name} 不接受文件路径：请用 casework.store.read 读取（写入查询审计日志）后传入数据表",
        f"{name} takes a frame, not a file path: read it with casework.store.read (which "
        "writes the query audit log) and pass the frame",
        hint="如 store.read('records', purpose='…') / e.g. store.read('records', purpose='…')")


def _prepare_records(records, by) -> object:
    if records is None:
        raise ParameterError("缺少数据：records 为空", "records is required")
    if _is_path(records):
        raise _no_paths("records")
    if is_table(records):
        return records
    if not isinstance(records, pd.DataFrame):
        raise ParameterError("records 应为 DataFrame", "records must be a DataFrame")
    if "charge_group" in by and "charge" in records.columns:
        cg = records["charge_group"] if "charge_group" in records.columns else None
        if cg is None or cg.isna().any():
            filled = records["charge"].map(
                lambda c: schema.charge_group_of(c) if isinstance(c, str) else None)
            records = records.assign(charge_group=filled if cg is None else cg.fillna(filled))
    return records


def _prepare_journeys(journeys, records, needed: bool):
    if not needed:
        return None
    if journeys is not None:
        if _is_path(journeys):
            raise _no_paths("journeys")
        return journeys
    if is_table(records):
        raise ParameterError("该引擎未配置 journeys 表（案件流转指标需要）",
                             "journey indicators need a journeys table on this engine")
    return _journeys.build(records)  # records are a frame here (_prepare_records)


# ---------------------------------------------------------------------------------------------
# SQL generation
# ---------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ts(t: pd.Timestamp) -> str:
    return f"TIMESTAMP '{pd.Timestamp(t).strftime('%Y-%m-%d %H:%M:%S')}'"


def _windows_cte(windows: list[tuple[str, pd.Timestamp, pd.Timestamp]]) -> str:
    rows = ", ".join(f"('{w}', {_ts(a)}, {_ts(b)})" for w, a, b in windows)
    return f"_w(_window, _start, _next) AS (VALUES {rows})"


_STATE = "_state"  # query group of the state cohorts (在办, 上期积存, 本期受理+上期积存)


def _state_predicate(cohort: _ind.Cohort) -> str | None:
    """Extra condition of a state cohort inside the shared 'active' join (None for active)."""
    closed = f"coalesce(t.closed_on, {_FAR})"
    if cohort.type == "open_at_end":
        return f"t.accepted_on < w._next AND {closed} >= w._next"
    if cohort.type == "open_at_start":
        return f"t.accepted_on < w._start AND {closed} >= w._start"
    return None


def _cond(part: _ind.Part, cohorts: dict) -> str:
    cohort = cohorts[part.cohort]
    pred = _state_predicate(cohort) if cohort.type != "date" else None
    return part.condition if pred is None else f"({part.condition}) AND ({pred})"


def _agg_person(pid: str, part: _ind.Part, cond: str) -> str:
    if part.agg == "count":
        return f"count(*) FILTER (WHERE {cond}) AS {pid}"
    v = f"({part.value})"
    if part.agg == "sum":
        return f"sum({v}) FILTER (WHERE {cond}) AS {pid}"
    if part.agg == "n":
        return f"count({v}) FILTER (WHERE {cond}) AS {pid}"
    if part.agg == "sumsq":
        return f"sum(CAST({v} AS DOUBLE) * CAST({v} AS DOUBLE)) FILTER (WHERE {cond}) AS {pid}"
    if part.agg == "median":
        return f"quantile_cont({v}, 0.5) FILTER (WHERE {cond}) AS {pid}"
    raise ValueError(part.agg)


def _agg_case_inner(pid: str, part: _ind.Part, cond: str) -> str:
    if part.agg == "count":
        return f"max(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {pid}"
    return f"max(({part.value})) FILTER (WHERE {cond}) AS {pid}"


def _agg_case_outer(pid: str, part: _ind.Part) -> str:
    if part.agg in ("count", "sum"):
        return f"sum({pid}) AS {pid}"
    if part.agg == "n":
        return f"count({pid}) AS {pid}"
    if part.agg == "sumsq":
        return f"sum(CAST({pid} AS DOUBLE) * CAST({pid} AS DOUBLE)) AS {pid}"
    return f"quantile_cont({pid}, 0.5) AS {pid}"


def _query(source: str, table: str, group: str, unit: str, parts: dict[str, _ind.Part],
           by: tuple[str, ...], windows, monthly: bool, cohorts: dict | None = None) -> str:
    """One aggregate query: every part of one (source, cohort group, unit) by keys × window.

    Date cohorts over months group on ``date_trunc('month', column)`` directly (no join); date
    cohorts over arbitrary (possibly overlapping) periods join a small windows table; the
    state cohorts share one range join on 'active' (accepted by the window's end and not
    closed before its start) with their own condition inside each aggregate's FILTER.
    """
    cohorts = cohorts or _ind.cohorts()
    lo = _ts(min(w[1] for w in windows))
    hi = _ts(max(w[2] for w in windows))
    keys_sel = "".join(f"t.{_q(k)} AS {_q(k)}, " for k in by)
    keys_grp = "".join(f"{_q(k)}, " for k in by)
    conds = {pid: _cond(p, cohorts) for pid, p in parts.items()}
    if group == _STATE:
        head = f"WITH {_windows_cte(windows)}\n"
        closed = f"coalesce(t.closed_on, {_FAR})"
        frm = (f"FROM {source} AS t JOIN _w AS w "
               f"ON t.accepted_on < w._next AND {closed} >= w._start\n"
               f"WHERE t.accepted_on < {hi} AND {closed} >= {lo}\n")
        win = "w._window"
    else:
        col = f"t.{_q(cohorts[group].column)}"
        where = f"WHERE {col} >= {lo} AND {col} < {hi}\n"
        if monthly:
            head, frm, win = "", f"FROM {source} AS t\n{where}", f"date_trunc('month', {col})"
        else:
            head = f"WITH {_windows_cte(windows)}\n"
            frm = (f"FROM {source} AS t JOIN _w AS w ON {col} >= w._start AND {col} < w._next\n"
                   f"{where}")
            win = "w._window"
    if unit == "person":
        aggs = ",\n  ".join(_agg_person(pid, p, conds[pid]) for pid, p in parts.items())
        return (f"{head}SELECT {keys_sel}{win} AS _window,\n  {aggs}\n{frm}"
                f"GROUP BY {keys_grp}_window")
    ckey = CASE_KEY[table]
    extra = "t.stage, " if table == "records" else ""
    inner = ",\n    ".join(_agg_case_inner(pid, p, conds[pid]) for pid, p in parts.items())
    outer = ",\n  ".join(_agg_case_outer(pid, p) for pid, p in parts.items())
    with_ = f"{head.rstrip()}, _c AS (" if head else "WITH _c AS ("
    return (f"{with_}\n  SELECT {keys_sel}{win} AS _window, {extra}t.{_q(ckey)} AS _case,\n"
            f"    {inner}\n  {frm}  GROUP BY {keys_grp}_window, {extra}t.{_q(ckey)}\n)\n"
            f"SELECT {keys_grp}_window,\n  {outer}\nFROM _c GROUP BY {keys_grp}_window")


# ---------------------------------------------------------------------------------------------
# Planning: which aggregates, from which source, grouped into queries
# ---------------------------------------------------------------------------------------------


@dataclass
class _Plan:
    inds: list  # requested indicators (in order)
    all_inds: dict  # requested + dependencies, by code
    units: dict  # code -> unit used
    part_ids: dict  # (code, role) -> pid (or ("derived", codes))
    queries: dict  # (source_name, table, cohort or _STATE, unit) -> {pid: Part}
    cohorts: dict  # name -> Cohort (built-in and user)


def _plan(inds, count_unit: str, extra) -> _Plan:
    all_inds: dict[str, _ind.Indicator] = {}

    def add(ind):
        for dep in ind.dependencies():
            add(_ind.get(dep, extra=extra))
        all_inds.setdefault(ind.code, ind)

    for ind in inds:
        add(ind)
    units, part_ids, queries, seen = {}, {}, {}, {}
    cohorts = _ind.cohorts(extra)
    for ind in all_inds.values():
        unit = ind.resolve_unit(count_unit)
        units[ind.code] = unit
        src = _source_name(ind)
        for role, part in ind.parts(unit).items():
            if part.agg == "derived":
                part_ids[(ind.code, role)] = ("derived", part.sum_of)
                continue
            key = (src, part.table, part.cohort, unit, part.agg, part.condition, part.value)
            group = part.cohort if cohorts[part.cohort].type == "date" else _STATE
            if key not in seen:
                seen[key] = f"p{len(seen)}"
                queries.setdefault((src, part.table, group, unit), {})[seen[key]] = part
            part_ids[(ind.code, role)] = seen[key]
    return _Plan(list(inds), all_inds, units, part_ids, queries, cohorts)


def _source_name(ind: _ind.Indicator) -> str:
    if ind.table == "records":
        return "records"
    return "journeys_a" if ind.stage == "arrest_review" else "journeys_p"


def _journeys_view(name: str, jcols: list[str], rcols: list[str], by, journeys_src, records_src):
    """SQL for a journeys source with grouping keys it lacks looked up on the stage records."""
    missing = [k for k in by if k not in jcols]
    if not missing:
        return journeys_src
    absent = [k for k in missing if k not in rcols]
    if absent:
        raise ParameterError(
            f"分组字段 {', '.join(absent)} 不在数据中",
            f"grouping column(s) {', '.join(absent)} not found in records or journeys",
            hint="可用字段见 casework.model.schema / see casework.model.schema")
    first, second = (("a", "p") if name == "journeys_a" else ("p", "a"))
    sel = ", ".join(f"coalesce({first}.{_q(k)}, {second}.{_q(k)}) AS {_q(k)}" for k in missing)
    sub = "SELECT unit_code, dept_case_no, person_id, " + ", ".join(_q(k) for k in missing)
    return (f"(SELECT j.*, {sel} FROM {journeys_src} AS j\n"
            f" LEFT JOIN ({sub} FROM {records_src} WHERE stage = 'arrest_review') AS a\n"
            f"   ON a.dept_case_no = j.arrest_dept_case_no AND a.person_id = j.person_id"
            f" AND a.unit_code = j.unit_code\n"
            f" LEFT JOIN ({sub} FROM {records_src} WHERE stage = 'prosecution_review') AS p\n"
            f"   ON p.dept_case_no = j.prosecution_dept_case_no AND p.person_id = j.person_id"
            f" AND p.unit_code = j.unit_code)")


def _build_sql(plan: _Plan, by, windows, monthly: bool, srcs: _Sources,
               names: dict[str, str]) -> list[tuple[tuple, str]]:
    """(query key, SQL text) for every query in the plan; ``names`` maps table → SQL source."""
    rcols = _columns_of(srcs.records)
    jcols = _columns_of(srcs.journeys) if srcs.journeys is not None else []
    for k in by:
        if k not in rcols and k not in jcols:
            raise ParameterError(
                f"分组字段 {k!r} 不在数据中。可用字段：{', '.join(rcols)}",
                f"grouping column {k!r} not in the data; available: {', '.join(rcols)}")
    out = []
    for qkey, parts in plan.queries.items():
        src, table, group, unit = qkey
        if table == "records":
            missing = [k for k in by if k not in rcols]
            if missing:
                raise ParameterError(f"分组字段 {', '.join(missing)} 不在 records 中",
                                     f"grouping column(s) {', '.join(missing)} not in records")
            source = names["records"]
        else:
            source = _journeys_view(src, jcols, rcols, by, names["journeys"], names["records"])
        out.append((qkey, _query(source, table, group, unit, parts, tuple(by), windows, monthly,
                                 plan.cohorts)))
    return out


_DB: dict[int, duckdb.DuckDBPyConnection] = {}  # process id → its database


def _database() -> duckdb.DuckDBPyConnection:
    """This process's DuckDB, configured once (a new one per _run cost ~40 ms, 13 in a scan)."""
    if os.getpid() not in _DB:  # a forked worker makes its own
        con = duckdb.connect()
        try:  # library code never prints (outside Jupyter DuckDB would draw a progress bar)
            con.execute("SET enable_progress_bar = false")
        except duckdb.Error:  # in a kernel without ipywidgets the setting cannot be changed
            pass
        # frames only: no expression may read a file (read_parquet, read_csv …) or leave the
        # data; locked, so no query can change that (cursors inherit both)
        con.execute("SET enable_external_access = false; SET lock_configuration = true")
        _DB.clear()
        _DB[os.getpid()] = con
    return _DB[os.getpid()]


def _run(plan: _Plan, by, windows, monthly: bool, srcs: _Sources) -> pd.DataFrame:
    """Run every query and return one wide frame: keys, _window, one column per part id."""
    if is_table(srcs.records):  # the data live on an engine: it runs the same SQL, audited
        names = {t: (s.sql_name if s is not None else f"_missing_{t}")
                 for t, s in (("records", srcs.records), ("journeys", srcs.journeys))}
        queries = _build_sql(plan, by, windows, monthly, srcs, names)
        return _grid([_window_text(srcs.records.execute(q)) for _, q in queries], by, windows)
    con = _database().cursor()  # its own connection: frames registered here stay here
    names = {t: f"_missing_{t}" if s is None else f"_{t}"  # frames only
             for t, s in (("records", srcs.records), ("journeys", srcs.journeys))}
    queries = _build_sql(plan, by, windows, monthly, srcs, names)
    text = "\n".join(q for _, q in queries)
    words = set(re.findall(r"\w+", text))  # one scan of the SQL, not one per column

    def named(c) -> bool:  # = re.search(rf"\b{c}\b", text): a \w+ name matches iff a word
        c = str(c)
        return c in words if re.fullmatch(r"\w+", c) else bool(
            re.search(rf"\b{re.escape(c)}\b", text))

    for table, src in (("records", srcs.records), ("journeys", srcs.journeys)):
        if isinstance(src, pd.DataFrame):
            used = [c for c in src.columns if named(c)]
            frame = src[used] if used else src.iloc[:, :1]
            # canonical columns an expression names but the frame lacks: all-null, typed
            absent = {c.name: pd.Series(pd.NA, index=frame.index, dtype=schema.pandas_dtype(c))
                      for c in schema.columns(table)
                      if c.name not in frame.columns and c.dtype != "list" and named(c.name)}
            if absent:
                frame = frame.assign(**absent)
            con.register(f"_{table}", frame)
    try:
        frames = [_window_text(con.execute(q).df()) for _, q in queries]
    except duckdb.Error as err:
        raise ParameterError(
            f"指标表达式无法执行：{err}", f"indicator expression failed in DuckDB: {err}",
            hint="检查自定义指标的 SQL 表达式与列名 / check the SQL of user indicators",
        ) from None
    finally:
        con.close()
    return _grid(frames, by, windows)


def _window_text(f: pd.DataFrame) -> pd.DataFrame:
    if len(f) and pd.api.types.is_datetime64_any_dtype(f["_window"]):
        f["_window"] = f["_window"].dt.strftime("%Y-%m")
    elif not len(f):
        f["_window"] = f["_window"].astype("object")
    return f


def _grid(frames, by, windows) -> pd.DataFrame:
    keys = list(by) + ["_window"]
    # the grid: every group seen in any query × every window
    seen = [f[list(by)] for f in frames if len(f)] if by else []
    if by:
        groups = (pd.concat(seen, ignore_index=True).drop_duplicates().reset_index(drop=True)
                  if seen else pd.DataFrame({k: pd.Series(dtype="object") for k in by}))
    else:
        groups = pd.DataFrame(index=[0])
    wins = pd.DataFrame({"_window": [w[0] for w in windows]})
    grid = groups.merge(wins, how="cross")
    for f in frames:
        if not len(f):
            f = f.astype({c: "float64" for c in f.columns if c.startswith("p")})
        for k in by:
            if k in f.columns and k in grid.columns and f[k].dtype != grid[k].dtype:
                f[k] = f[k].astype(grid[k].dtype)
        grid = grid.merge(f, on=keys, how="left")
    return grid


# ---------------------------------------------------------------------------------------------
# Values, intervals, tests
# ---------------------------------------------------------------------------------------------


def _col(wide: pd.DataFrame, pid) -> np.ndarray:
    if pid not in wide.columns:
        return np.zeros(len(wide))
    return pd.to_numeric(wide[pid], errors="coerce").astype("float64").to_numpy()


def _resolve_part(wide, plan: _Plan, code: str, role: str, agg: str) -> np.ndarray:
    pid = plan.part_ids.get((code, role))
    if pid is None:
        return np.full(len(wide), np.nan)
    if isinstance(pid, tuple):  # derived: sum of other indicators' numerators
        total = np.zeros(len(wide))
        for dep in pid[1]:
            total = total + _resolve_part(wide, plan, dep, "numerator", "count")
        return total
    x = _col(wide, pid)
    part_agg = _part_agg(plan, code, role)
    if part_agg in ("count", "sum", "n", "sumsq"):
        x = np.where(np.isnan(x), 0.0, x)
    return x


def _part_agg(plan: _Plan, code: str, role: str) -> str:
    ind = plan.all_inds[code]
    return ind.parts(plan.units[code])[role].agg


def _poisson_interval(k, alpha):
    k = np.asarray(k, dtype="float64")
    with np.errstate(invalid="ignore"):
        lo = np.where(k > 0, _st.chi2.ppf(alpha / 2, 2 * k) / 2, 0.0)
        hi = _st.chi2.ppf(1 - alpha / 2, 2 * k + 2) / 2
    bad = np.isnan(k)
    return np.where(bad, np.nan, lo), np.where(bad, np.nan, hi)


def _values(wide: pd.DataFrame, plan: _Plan, ind: _ind.Indicator, alpha: float) -> dict:
    code = ind.code
    num = _resolve_part(wide, plan, code, "numerator", "")
    den = _resolve_part(wide, plan, code, "denominator", "")
    lo = hi = np.full(len(wide), np.nan)
    sd = np.full(len(wide), np.nan)
    se = np.full(len(wide), np.nan)
    if ind.kind == "count":
        value, den = num, np.full(len(wide), np.nan)
        if ind.ci == "poisson":
            lo, hi = _poisson_interval(num, alpha)
            se = np.sqrt(num)
    elif ind.kind == "median":
        value = np.where(den > 0, num, np.nan)
        num = np.full(len(wide), np.nan)
    elif ind.kind == "mean":
        value = safe_ratio(num, den)
        ss = _resolve_part(wide, plan, code, "sumsq", "")
        with np.errstate(invalid="ignore", divide="ignore"):
            var = np.where(den > 1, (ss - num * num / np.where(den > 0, den, 1)) / (den - 1),
                           np.nan)
            sd = np.sqrt(np.clip(var, 0, None))
            se = sd / np.sqrt(den)
            if ind.ci == "normal":
                z = _st.norm.ppf(1 - alpha / 2)
                lo, hi = value - z * se, value + z * se
    else:
        value = safe_ratio(num, den)
        with np.errstate(invalid="ignore", divide="ignore"):
            if ind.ci == "wilson":
                lo, hi = wilson_interval(np.minimum(num, den), den, alpha=alpha)
                se = np.sqrt(value * (1 - value) / den)
            else:  # events per unit of the denominator (Poisson numerator)
                se = np.where(den > 0, np.sqrt(num) / den, np.nan)
    return {"numerator": num, "denominator": den, "value": value, "value_ci_lower": lo,
            "value_ci_upper": hi, "value_se": se, "_sd": sd}


def _p_value(ind: _ind.Indicator, cur: pd.DataFrame, base: pd.DataFrame, t_cur: float,
             t_base: float) -> np.ndarray:
    """Two-sided p-value of the change from ``base`` to ``cur`` (NaN when not testable)."""
    n = len(cur)
    with np.errstate(invalid="ignore", divide="ignore"):
        if ind.kind == "rate" and ind.ci == "wilson":
            k1, n1 = cur["numerator"].to_numpy(), cur["denominator"].to_numpy()
            k0, n0 = base["numerator"].to_numpy(), base["denominator"].to_numpy()
            p = (k1 + k0) / (n1 + n0)
            se = np.sqrt(p * (1 - p) * (1 / n1 + 1 / n0))
            z = (k1 / n1 - k0 / n0) / se
            out = 2 * _st.norm.sf(np.abs(z))
            # identical proportions (incl. all-0 / all-1): no evidence of change
            out = np.where((se == 0) & (n1 > 0) & (n0 > 0), 1.0, out)
            return np.where((n1 > 0) & (n0 > 0), out, np.nan)
        if ind.kind == "count" and ind.ci == "poisson":
            k1 = cur["numerator"].to_numpy()
            k0 = base["numerator"].to_numpy()
            tot = k1 + k0
            share = t_cur / (t_cur + t_base)
            lower = _st.binom.cdf(k1, tot, share)
            upper = _st.binom.sf(k1 - 1, tot, share)
            out = np.minimum(1.0, 2 * np.minimum(lower, upper))
            return np.where(tot > 0, out, np.nan)
        if ind.kind == "mean" and ind.ci == "normal":
            m1, s1, n1 = (cur[c].to_numpy() for c in ("value", "_sd", "denominator"))
            m0, s0, n0 = (base[c].to_numpy() for c in ("value", "_sd", "denominator"))
            se = np.sqrt(s1 ** 2 / n1 + s0 ** 2 / n0)
            z = (m1 - m0) / se
            out = 2 * _st.norm.sf(np.abs(z))
            out = np.where(se == 0, np.where(m1 == m0, 1.0, 0.0), out)
            return np.where((n1 > 1) & (n0 > 1), out, np.nan)
    return np.full(n, np.nan)


# ---------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------


def _normalise_by(by) -> tuple[str, ...]:
    if by is None:
        return ()
    if isinstance(by, str):
        return (by,)
    by = tuple(by)
    for k in by:
        if not isinstance(k, str):
            raise ParameterError(f"分组字段应为列名：{k!r}",
                                 f"grouping keys must be column names: {k!r}")
    return by


def _setup(records, indicators, by, journeys, count_unit, extra):
    check_choice("count_unit", count_unit, list(_ind.COUNT_UNITS))
    by = _normalise_by(by)
    inds = _ind.resolve(indicators, extra=extra)
    if not inds:
        raise ParameterError("未指定指标", "no indicators given")
    plan = _plan(inds, count_unit, extra)
    records = _prepare_records(records, by)
    needs_j = any(i.table == "journeys" for i in plan.all_inds.values())
    srcs = _Sources(records, _prepare_journeys(journeys, records, needs_j))
    return by, plan, srcs


def _meta(ind: _ind.Indicator, unit: str) -> dict:
    return {"indicator": ind.code, "name_zh": ind.name_zh, "kind": ind.kind, "count_unit": unit,
            "unit_zh": _ind.COUNT_UNITS[unit] if ind.kind == "count" else ind.unit_zh,
            "direction": ind.direction}


def compute(records, *, indicators, by=(), period, journeys=None, count_unit: str = "person",
            compare: bool = True, alpha: float = 0.05, extra=None) -> pd.DataFrame:
    """Indicators for one period by group, with 环比 and 同比.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table (canonical columns), as :func:`casework.store.read` returns it
        (a file path is refused: reads go through the audited store).
    indicators : str, Indicator or list
        Registry codes, ``"all"``, or a group name (``"arrest"``, ``"efficiency"`` …).
        Derived indicators (案-件比) pull in their components automatically.
    by : str or sequence of str
        Grouping columns: ``unit_code``, ``department``, ``prosecutor_id``, ``stage``,
        ``charge``, ``charge_group``, ``referring_agency``, ``police_station`` … Journey
        indicators (捕后…) take keys the journeys table lacks from the stage's records row.
    period : str or Period
        Any code :func:`casework.analysis.periods.parse` accepts.
    journeys : DataFrame, optional
        The ``journeys`` table; built with :func:`casework.model.journeys.build` when a journey
        indicator needs it and none is given.
    count_unit : {"person", "case"}
        人 (rows) or 件 (distinct ``dept_case_no``). An indicator that does not allow it uses
        its own default unit; the ``count_unit`` column says which was used.
    compare : bool
        Add the previous-period (环比) and year-ago (同比) columns.
    alpha : float
        1 − confidence level for the intervals and the notable-change tests.
    extra : path, optional
        User indicator YAML (see :func:`casework.analysis.indicators.registry`).

    Returns
    -------
    DataFrame
        See the module docstring for the columns. One row per group × indicator; groups are
        those found in any of the periods compared, and a group with no rows for an
        indicator's cohort gets numerator 0 and value NaN (0 for counts).

    Notes
    -----
    Notable changes (``*_notable``): rates — two-proportion z-test; counts — exact conditional
    (binomial) test of two Poisson counts, scaled by the periods' lengths in days; means —
    Welch z-test; medians, ratios and rates whose numerator is not a subset of the denominator
    are not tested (NaN p-value, never notable).

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({
    ...     "unit_code": ["U1", "U1", "U2"], "stage": ["prosecution_review"] * 3,
    ...     "dept_case_no": ["Q1", "Q2", "Q3"], "person_id": ["P1", "P2", "P3"],
    ...     "accepted_on": pd.to_datetime(["2023-05-02", "2024-05-02", "2024-05-03"])})
    >>> out = compute(recs, indicators="accepted_prosecution_review", by="unit_code",
    ...               period="2024-05")
    >>> print(out[["unit_code", "value", "year_ago_value", "year_ago_change"]].to_string(
    ...     index=False))
    unit_code  value  year_ago_value  year_ago_change
           U1    1.0             1.0              0.0
           U2    1.0             0.0              NaN
    """
    by, plan, srcs = _setup(records, indicators, by, journeys, count_unit, extra)
    p = _periods.parse(period)
    roles = {"current": p}
    if compare:
        roles["previous"] = p.previous()
        roles["year_ago"] = p.year_ago()
    windows, seen = [], set()
    for per in roles.values():
        if per.code not in seen:
            seen.add(per.code)
            windows.append((per.code, per.start, per.end + pd.Timedelta(days=1)))
    wide = _run(plan, by, windows, False, srcs)
    rows = []
    for ind in plan.inds:
        vals = pd.DataFrame(_values(wide, plan, ind, alpha), index=wide.index)
        frame = pd.concat([wide[list(by) + ["_window"]], vals], axis=1)
        cur = frame[frame["_window"] == p.code].reset_index(drop=True)
        out = cur[list(by)].copy()
        for k, v in _meta(ind, plan.units[ind.code]).items():
            out[k] = v
        out["period"] = p.code
        for c in ("numerator", "denominator", "value", "value_ci_lower", "value_ci_upper",
                  "value_se"):
            out[c] = cur[c].to_numpy()
        if compare:
            for role in ("previous", "year_ago"):
                per = roles[role]
                base = frame[frame["_window"] == per.code].reset_index(drop=True)
                out[f"{role}_period"] = per.code
                out[f"{role}_numerator"] = base["numerator"].to_numpy()
                out[f"{role}_denominator"] = base["denominator"].to_numpy()
                out[f"{role}_value"] = base["value"].to_numpy()
                out[f"{role}_change"] = _periods.change(cur["value"].to_numpy(),
                                                        base["value"].to_numpy(), kind=ind.kind)
                pv = _p_value(ind, cur, base, p.n_days, per.n_days)
                out[f"{role}_p_value"] = pv
                out[f"{role}_notable"] = np.where(np.isnan(pv), False, pv < alpha)
            out["change_unit"] = _periods.CHANGE_UNITS[ind.kind]
        rows.append(out)
    result = pd.concat(rows, ignore_index=True)
    if by:
        result = _sort(result, by, plan)
    return result


def monthly(records, *, indicators, by=(), start, end, journeys=None, count_unit: str = "person",
            alpha: float = 0.05, extra=None) -> pd.DataFrame:
    """Monthly series of indicators by group, from ``start`` to ``end`` (inclusive months).

    Parameters
    ----------
    records, indicators, by, journeys, count_unit, alpha, extra
        As in :func:`compute`.
    start, end : str or Period
        First and last month (``"2022-01"``, or any period: its first/last month is used).

    Returns
    -------
    DataFrame
        ``<by keys>, indicator, name_zh, kind, count_unit, unit_zh, direction, month,
        month_start, numerator, denominator, value, value_ci_lower, value_ci_upper, value_se``
        — every
        group × indicator × month, months with no rows included (value NaN, 0 for counts).

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({
    ...     "unit_code": ["U1"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["A1", "A2", "A3"], "person_id": ["P1", "P2", "P3"],
    ...     "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-03", "2024-03-04"]),
    ...     "closed_on": pd.to_datetime(["2024-01-09", "2024-01-10", "2024-03-11"]),
    ...     "decision": ["non_arrest", "arrest_approved", "arrest_approved"]})
    >>> m = monthly(recs, indicators="non_arrest_rate", start="2024-01", end="2024-03")
    >>> print(m[["month", "numerator", "denominator", "value"]].to_string(index=False))
      month  numerator  denominator  value
    2024-01        1.0          2.0    0.5
    2024-02        0.0          0.0    NaN
    2024-03        0.0          1.0    0.0
    """
    by, plan, srcs = _setup(records, indicators, by, journeys, count_unit, extra)
    months = _periods.month_range(start, end)
    if not months:
        raise ParameterError("起止月份无效：开始晚于结束", "start is after end")
    windows = [(m.code, m.start, m.end + pd.Timedelta(days=1)) for m in months]
    wide = _run(plan, by, windows, True, srcs)
    # sorted once (groups, then months); every indicator block keeps that order
    wide = wide.sort_values([*by, "_window"], kind="stable", na_position="last",
                            ignore_index=True)
    starts = {m.code: m.start for m in months}
    n, m = len(wide), len(plan.inds)
    window = wide["_window"].to_numpy()
    cols: dict[str, object] = {k: np.tile(wide[k].to_numpy(), m) for k in by}
    meta = [_meta(ind, plan.units[ind.code]) for ind in plan.inds]
    for k in meta[0]:
        cols[k] = np.repeat(np.array([mt[k] for mt in meta], dtype=object), n)
    cols["month"] = np.tile(window, m)
    cols["month_start"] = np.tile(pd.to_datetime(pd.Series(window).map(starts)).to_numpy(), m)
    blocks = [_values(wide, plan, ind, alpha) for ind in plan.inds]
    for c in ("numerator", "denominator", "value", "value_ci_lower", "value_ci_upper", "value_se"):
        cols[c] = np.concatenate([b[c] for b in blocks]) if blocks else np.array([])
    result = pd.DataFrame(cols)
    for k in by:  # keep the keys' dtypes
        result[k] = result[k].astype(wide[k].dtype)
    for k in ("indicator", "name_zh", "kind", "count_unit", "unit_zh", "direction", "month"):
        result[k] = result[k].astype("string")
    return result


def _sort(df: pd.DataFrame, by, plan: _Plan, extra=()) -> pd.DataFrame:
    order = {ind.code: i for i, ind in enumerate(plan.inds)}
    df = df.assign(_ord=df["indicator"].map(order))
    df = df.sort_values(["_ord", *by, *extra], kind="stable", na_position="last")
    return df.drop(columns="_ord").reset_index(drop=True)


def sql(*, indicators, by=(), period=None, start=None, end=None, count_unit: str = "person",
        records="records.parquet", journeys="journeys.parquet", extra=None) -> str:
    """The DuckDB SQL a panel runs, over Parquet paths (for inspection or pushdown elsewhere).

    Give ``period`` (compute-style windows: the period, its 环比 and 同比) or ``start``/``end``
    (monthly windows).

    Examples
    --------
    >>> text = sql(indicators="non_arrest_rate", period="2024-05", records="r.parquet")
    >>> print(text.splitlines()[2].replace(" AND ", " AND\\n    "))
      count(*) FILTER (WHERE (stage = 'arrest_review') AND
        (decision IN ('arrest_approved', 'non_arrest')) AND
        (decision = 'non_arrest')) AS p0,
    """
    by = _normalise_by(by)
    inds = _ind.resolve(indicators, extra=extra)
    plan = _plan(inds, count_unit, extra)
    if period is not None:
        p = _periods.parse(period)
        pers = [p, p.previous(), p.year_ago()]
        windows = list({x.code: (x.code, x.start, x.end + pd.Timedelta(days=1))
                        for x in pers}.values())
        monthly_ = False
    else:
        months = _periods.month_range(start, end)
        windows = [(m.code, m.start, m.end + pd.Timedelta(days=1)) for m in months]
        monthly_ = True
    names = {"records": f"read_parquet({_lit(records)})",
             "journeys": f"read_parquet({_lit(journeys)})"}
    rcols = schema.column_names("records")
    jcols = schema.column_names("journeys")
    texts = []
    for (src, table, group, unit), parts in plan.queries.items():
        source = (names["records"] if table == "records"
                  else _journeys_view(src, jcols, rcols, by, names["journeys"], names["records"]))
        texts.append(_query(source, table, group, unit, parts, by, windows, monthly_, plan.cohorts)
                     + ";")
    return "\n\n".join(texts)


# ---------------------------------------------------------------------------------------------
# The periodic overview (按期分析): the rows its tables show
# ---------------------------------------------------------------------------------------------

#: Headline counts of the periodic overview, by business line.
HEADLINE = ("accepted_arrest_review", "closed_arrest_review", "pending_arrest_review",
            "accepted_prosecution_review", "closed_prosecution_review",
            "pending_prosecution_review", "judged")

#: Business lines of the overview: (stage, accepted, closed, pending-at-end indicator codes).
LINES = (("arrest_review", "accepted_arrest_review", "closed_arrest_review",
          "pending_arrest_review"),
         ("prosecution_review", "accepted_prosecution_review", "closed_prosecution_review",
          "pending_prosecution_review"))

#: Count indicators of the overview's composition tables, by grouping column.
COMPOSITION = {"department": ("accepted_arrest_review", "accepted_prosecution_review"),
               "charge": ("accepted_prosecution_review",)}


def overview(records, *, period, journeys=None, headline=HEADLINE, indicators="all",
             count_unit: str = "person", alpha: float = 0.05, extra=None,
             last_month=None) -> dict:
    """Every row the periodic overview (按期分析) shows, computed once.

    Parameters
    ----------
    records, journeys, count_unit, alpha, extra
        As in :func:`compute`.
    period : str or Period
        The reporting period (月/季/半年/年/累计).
    headline : sequence of codes
        Headline counts (default :data:`HEADLINE`).
    indicators : codes, group names or "all"
        Indicators of the main table.
    last_month : str or Period, optional
        Last month with data: rows get ``immature`` (bool), true for a cohort rate whose later
        events have not had time to happen
        (:meth:`casework.analysis.indicators.Indicator.immature`).

    Returns
    -------
    dict
        ``panel``: :func:`compute` rows of headline + indicators (no grouping), with
        ``immature``;
        ``headline_codes`` and ``indicator_codes``: the codes asked for (lists);
        ``lines``: :func:`compute` rows holding the :data:`LINES` indicators;
        ``by_department`` and ``by_charge``: :func:`compute` rows of the
        :data:`COMPOSITION` indicators by ``department`` and by ``charge``.
        :func:`casework.present.tables.overview_tables` turns them into display tables.

    Examples
    --------
    >>> from casework.model.schema import conform
    >>> recs = conform(pd.DataFrame({"unit_code": ["U1"] * 2, "stage": ["arrest_review"] * 2,
    ...     "dept_case_no": ["A1", "A2"], "unified_case_no": ["T1", "T2"],
    ...     "person_id": ["P1", "P2"], "department": ["一部", "二部"], "charge": ["盗窃", "诈骗"],
    ...     "accepted_on": ["2024-05-02", "2024-05-03"],
    ...     "closed_on": ["2024-05-08", "2024-05-09"],
    ...     "decision": ["non_arrest", "arrest_approved"]}), "records")
    >>> o = overview(recs, period="2024-05", indicators=["non_arrest_rate"])
    >>> o["panel"].set_index("indicator").loc["non_arrest_rate", "value"]
    np.float64(0.5)
    >>> o["by_department"][["department", "indicator", "value"]].values.tolist()[:2]
    [['一部', 'accepted_arrest_review', 1.0], ['二部', 'accepted_arrest_review', 1.0]]
    """
    p = _periods.parse(period)
    heads = list(headline)
    inds = [i.code for i in _ind.resolve(indicators, extra=extra)]
    wanted = list(dict.fromkeys(heads + inds))
    rows = compute(records, indicators=wanted, period=p, journeys=journeys,
                   count_unit=count_unit, alpha=alpha, extra=extra)
    rows["immature"] = [_ind.get(c, extra=extra).immature(p, last_month)
                        for c in rows["indicator"]]
    line_codes = [c for line in LINES for c in line[1:]]
    lines = rows
    if not set(line_codes) <= set(rows["indicator"]):
        lines = compute(records, indicators=line_codes, period=p, journeys=journeys,
                        count_unit=count_unit, extra=extra)
    comp = {key: compute(records, indicators=list(codes), by=key, period=p,
                         count_unit=count_unit, extra=extra)
            for key, codes in COMPOSITION.items()}
    return {"panel": rows, "headline_codes": heads, "indicator_codes": inds, "lines": lines,
            "by_department": comp["department"], "by_charge": comp["charge"]}
