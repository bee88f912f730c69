"""The notebook-side API of report templates: parameters, data, escaped text, tables, charts.

A template (``notebooks/reports/<key>.ipynb``) calls only these functions plus library
computations::

    P = page.setup(globals(), template="snapshot_overview")   # validated parameters
    data = page.load(P, tables=("records",))                  # audited read, filtered to P.unit
    page.say("共受理{n:,}人", n=len(data.records))             # escaped Markdown
    page.table(df, "by_stage", caption="按环节")                # HTML + CSV (+ xlsx at the end)
    page.figure(ax, "trend", caption="月度趋势")                 # PNG beside the report, embedded
    page.attachment(case_list, "cases")                       # Excel, internal level only
    page.skip("本期无判决数据")                                   # a one-line note
    page.provenance(P)                                        # last cell

Everything shown is escaped: text from data (case names, unit names, charges) can never run as
script or markup, and spreadsheet exports neutralise cells that start with ``= + - @``. At the
``circulated`` level tables pass through :func:`casework.present.privacy.sanitize_frame` and
:func:`casework.present.privacy.suppress_small_cells`, and case lists are refused.

Outside the runner (in JupyterLab) :func:`setup` works too: artefacts then go to
``reports/_interactive/<template>_<unit>_files/``.

Examples
--------
>>> from casework.notebook import page
>>> page.escape_text("<script>alert(1)</script>")
'&lt;script&gt;alert\\\\(1\\\\)&lt;/script&gt;'
>>> page.neutralise("=HYPERLINK(1)"), page.neutralise("-3.5"), page.neutralise("@SUM")
("'=HYPERLINK(1)", '-3.5', "'@SUM")
"""

from __future__ import annotations

import datetime as _dt
import gc
import html as _html
import io as _io
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from IPython.display import HTML, Image, Markdown, display

from casework import store
from casework.analysis import periods
from casework.base import config, memo
from casework.base.errors import CaseworkError, ParameterError, check_choice
from casework.model import schema
from casework.notebook import params as _params
from casework.present import plotting, privacy
from casework.present.markdown import escape_text
from casework.present.workbook import write_xlsx
from casework.store import engines

#: At most this many rows are shown in an HTML table (CSV/xlsx hold every row).
MAX_ROWS = 60

#: Display labels of the standard tidy columns (schema columns get theirs from the schema).
COLUMN_LABELS = {
    "indicator": "指标",
    "indicator_zh": "指标",
    "name_zh": "指标",
    "label": "名称",
    "period": "期间",
    "month": "月份",
    "numerator": "分子",
    "denominator": "分母",
    "value": "数值",
    "value_ci_lower": "95%区间下限",
    "value_ci_upper": "95%区间上限",
    "rate": "比率",
    "rate_ci_lower": "95%区间下限",
    "rate_ci_upper": "95%区间上限",
    "previous_value": "上期值",
    "previous_change": "环比变化",
    "year_ago_value": "去年同期值",
    "year_ago_change": "同比变化",
    "count": "数量",
    "n": "人数",
    "persons": "人数",
    "cases": "件数",
    "share": "占比",
    "missing_share": "缺失比例",
    "flag": "提示",
    "flagged": "异常",
    "z": "标准化得分",
    "term": "变量",
    "estimate": "估计值",
    "std_err": "标准误",
    "ci_lower": "区间下限",
    "ci_upper": "区间上限",
    "p_value": "P值",
}

LEVEL_LABELS = {"internal": "内部", "circulated": "通报/外发"}

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]{0,60}$")
_NUMLIKE_RE = re.compile(r"^(<\d+|—)$")
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?%?$")


# --------------------------------------------------------------------------------------------
# state
# --------------------------------------------------------------------------------------------


class Params:
    """Validated parameters of one report run (what :func:`setup` returns).

    Attributes
    ----------
    template, title_zh : str
        Template key and its Chinese title.
    period : casework.analysis.periods.Period
        The reporting period (``P.period.label_zh`` → ``'2024年5月'``).
    unit : str
        Unit code, or ``"all"``.
    unit_label : str
        ``"全部单位"`` or the unit's name (filled in by :func:`load`).
    level : str
        ``internal`` or ``circulated``.
    snapshot : str
        Snapshot id (resolved from ``"latest"`` at setup).
    snapshot_hash : str
        The snapshot's content hash from its manifest.
    manifest : dict
        The snapshot's manifest (row counts, sources, import warnings).
    output_dir : pathlib.Path
        Folder for the artefacts (CSV, PNG, xlsx) beside the HTML report.
    values : dict
        Every sidecar parameter, typed (also available as attributes: ``P.top_n``).
    engine : str
        ``duckdb`` (the snapshot store) or ``spark`` (``casework run --engine spark``: tables
        read through :class:`casework.store.engines.SparkEngine`; ``snapshot`` is then
        ``spark:<address>``).
    previous_findings : str or None
        ``findings.json`` of the last earlier run of this report (set by the runner), for
        "what changed since last time" (:mod:`casework.notebook.findings`).
    """

    def __init__(self, **kw):
        self.__dict__.update(kw)

    def __repr__(self) -> str:
        vals = ", ".join(f"{k}={v!r}" for k, v in self.values.items())
        return f"Params({self.template}: {vals}; snapshot={self.snapshot})"


@dataclass
class _State:
    params: Params | None = None
    tables: dict = field(default_factory=dict)
    names: set = field(default_factory=set)
    manifest: dict = field(default_factory=dict)


_STATE = _State()


def _current() -> Params:
    if _STATE.params is None:
        raise CaseworkError("请先调用 page.setup(globals(), template=...)",
                            "call page.setup(globals(), template=...) first")
    return _STATE.params


def _display(obj) -> None:
    display(obj)


# --------------------------------------------------------------------------------------------
# escaping
# --------------------------------------------------------------------------------------------


class _EscapingFormatter(string.Formatter):
    def format_field(self, value, format_spec):
        if isinstance(value, (bool, np.bool_)):
            value = "是" if value else "否"
        elif value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
            value = "—"
            format_spec = ""
        try:
            text = super().format_field(value, format_spec)
        except (ValueError, TypeError):
            text = str(value)
        return escape_text(text)


def _safe_markdown(text: str) -> str:
    """Markdown written by the library/template: keep formatting, disable HTML and JS links."""
    text = re.sub(r"&(?!#?\w+;)", "&amp;", str(text))
    text = text.replace("<", "&lt;").replace(">", "&gt;")
    return re.sub(r"\]\(\s*(javascript|data|vbscript):", "](#", text, flags=re.IGNORECASE)


def neutralise(value):
    """Neutralise one spreadsheet cell: text starting with ``= + - @`` (or tab/CR) gets a leading
    apostrophe so Excel shows it as text instead of running it as a formula; plain numbers
    (``-3.5``, ``+1``) and non-text values are unchanged.

    Examples
    --------
    >>> neutralise("+86 138"), neutralise("+12"), neutralise(-3)
    ("'+86 138", '+12', -3)
    """
    if isinstance(value, str) and value and value[0] in "=+-@\t\r":
        if value[0] in "+-" and _NUMBER_RE.match(value.strip()):
            return value
        return "'" + value
    return value


def safe_for_spreadsheet(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` with every text cell and column name passed through :func:`neutralise`.

    Examples
    --------
    >>> import pandas as pd
    >>> safe_for_spreadsheet(pd.DataFrame({"=x": ["=1+1", "ok"], "n": [-1, 2]})).to_dict("list")
    {"'=x": ["'=1+1", 'ok'], 'n': [-1, 2]}
    """
    out = df.copy()
    for col in out.columns:
        s = out[col]
        if s.dtype == object or isinstance(s.dtype, pd.StringDtype):
            out[col] = s.map(neutralise, na_action="ignore")
    out.columns = [neutralise(str(c)) for c in out.columns]
    return out


# --------------------------------------------------------------------------------------------
# setup and data
# --------------------------------------------------------------------------------------------


def _manifest_ids(manifest: dict) -> tuple[str, str]:
    sid = manifest.get("snapshot_id") or manifest.get("id") or manifest.get("snapshot") or "?"
    digest = (manifest.get("snapshot_sha256") or manifest.get("sha256") or manifest.get("hash")
              or manifest.get("content_hash") or manifest.get("snapshot_hash") or "")
    return str(sid), str(digest)


def setup(namespace: dict, *, template: str) -> Params:
    """Validate the notebook's parameters against the template's sidecar and prepare the page.

    Parameters
    ----------
    namespace : dict
        The notebook's ``globals()``: the parameters cell (and the runner's injected cell)
        defined the variables named in the sidecar.
    template : str
        Template key (the notebook's file stem).

    Returns
    -------
    Params
        ``P.period`` (a :class:`casework.analysis.periods.Period`), ``P.unit``, ``P.level``,
        ``P.snapshot``, ``P.template``, ``P.output_dir`` and every sidecar parameter as an
        attribute.

    Raises
    ------
    ParameterError
        A parameter is unknown to the sidecar, missing or mistyped.

    Notes
    -----
    Applies :func:`casework.present.plotting.set_style`, caps pandas' display rows, and shows a
    one-line scope (期间、单位、密级). The runner injects ``casework_run`` (artefact folder,
    snapshot id, templates folder, code version); without it (interactive use) artefacts go to
    ``reports/_interactive/``. ``casework_run = {"snapshot": "none"}`` skips the store (for
    documentation examples only; :func:`load` then cannot be used).

    Examples
    --------
    >>> import os, tempfile
    >>> os.environ["CASEWORK_REPORTS"] = tempfile.mkdtemp()
    >>> ns = {"period": "2024-05", "unit": "all", "level": "internal",
    ...       "casework_run": {"snapshot": "none", "quiet": True}}
    >>> P = setup(ns, template="snapshot_overview")
    >>> P.period.label_zh, P.unit_label, P.output_dir.name
    ('2024年5月', '全部单位', 'snapshot_overview_all_files')
    >>> del os.environ["CASEWORK_REPORTS"]
    """
    run = dict(namespace.get(_params.RUN_VARIABLE) or {})
    folder = run.get("templates_dir")
    sidecar = _params.load_sidecar(template, folder=folder)
    given = {k: namespace[k] for k in sidecar.parameters if k in namespace}
    values = _params.validate(sidecar, given)
    unit = str(values.get("unit", "all"))
    level = str(values.get("level", "internal"))
    if level not in _params.LEVELS:
        raise ParameterError(f"密级 level 应为 internal 或 circulated，收到 {level!r}",
                             f"level must be internal or circulated, got {level!r}")
    period_code = values.get("period")
    period = periods.parse(period_code) if period_code else None

    snapshot = str(run.get("snapshot") or values.get("snapshot") or "latest")
    manifest: dict = {}
    engine = str(run.get("engine") or "duckdb")
    check_choice("engine", engine, engines.ENGINES)
    if engine == "spark":  # no local snapshot: the platform's tables, named by the config
        snapshot = engines.load_config(run.get("spark_config") or "").label
    elif snapshot != "none":
        manifest = dict(store.manifest(snapshot))
        sid, _ = _manifest_ids(manifest)
        snapshot = sid if sid != "?" else snapshot
    _, digest = _manifest_ids(manifest)
    _use_cache(manifest if run.get("cache", True) else {})

    if run.get("output_dir"):
        out = Path(run["output_dir"])
    else:
        out = config.reports_dir() / "_interactive" / f"{template}_{unit}_files"
    out.mkdir(parents=True, exist_ok=True)

    plotting.set_style()
    pd.set_option("display.max_rows", MAX_ROWS)

    P = Params(template=template, title_zh=sidecar.title_zh, title_en=sidecar.title_en,
               period=period, unit=unit, level=level, snapshot=snapshot, snapshot_hash=digest,
               output_dir=out, values=values, sidecar=sidecar, manifest=manifest,
               unit_label="全部单位" if unit == "all" else unit, unit_name=None,
               code_version=run.get("code_version") or config.code_version(),
               account=config.current_account(), started_at=_dt.datetime.now().astimezone(),
               previous_findings=run.get("previous_findings") or None,
               engine=engine, spark_config=run.get("spark_config") or None)
    for k, v in values.items():
        if k not in ("period",):
            setattr(P, k, v)
    _STATE.params, _STATE.tables, _STATE.names, _STATE.manifest = P, {}, set(), manifest
    if not run.get("quiet"):
        scope = [f"统计期间：{period.label_zh}" if period else None,
                 f"单位：{P.unit_label}", f"密级：{LEVEL_LABELS[level]}",
                 f"数据快照：{snapshot}"]
        md(" ｜ ".join(escape_text(s) for s in scope if s))
    return P


def _use_cache(manifest: dict) -> None:
    """Answer memoized analysis calls from ``<snapshot>/cache/`` (:mod:`casework.base.memo`);
    off without a snapshot or where the folder cannot be written (then every call computes)."""
    folder = Path(manifest["path"]) / "cache" if manifest.get("path") else None
    try:
        memo.activate(folder)
    except OSError:
        memo.activate(None)


class Tables(dict):
    """Tables read by :func:`load`: a dict (``data["records"]``) with attribute access
    (``data.records``)."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _sql_literal(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def load(P: Params, *, tables=("records",), columns=None, where: str | None = None) -> Tables:
    """Read tables of the snapshot through the audited store, filtered to ``P.unit``.

    Parameters
    ----------
    P : Params
        From :func:`setup`.
    tables : sequence of str
        Any of ``records``, ``modifications``, ``journeys``.
    columns : sequence of str or dict, optional
        Columns to read (for every table, or ``{table: [...]}``); default all.
    where : str, optional
        Extra DuckDB predicate, combined with the unit filter by ``AND``.

    Returns
    -------
    Tables
        ``data.records`` (and the other tables), schema-conformed frames of every period in
        the snapshot (templates need history for 同比 and trends).

    Notes
    -----
    Each table read appends one row to the query audit log with the purpose
    ``报告 <template> <period> 单位 <unit>`` (一查询一记录).
    """
    if isinstance(tables, str):
        tables = (tables,)
    preds = []
    if P.unit != "all":
        preds.append(f"unit_code = {_sql_literal(P.unit)}")
    if where:
        preds.append(f"({where})")
    pred = " AND ".join(preds) or None
    period = P.period.code if P.period else "-"
    purpose = f"报告 {P.template} {period} 单位 {P.unit} 密级 {P.level}"
    out = Tables()
    for t in tables:
        cols = columns.get(t) if isinstance(columns, dict) else columns
        if getattr(P, "engine", "duckdb") == "spark":  # one audited Spark query per table
            out[t] = engines.engine_for(P.spark_config).read(
                t, columns=cols, unit=None if P.unit == "all" else P.unit, where=where,
                purpose=purpose)
            continue
        out[t] = store.read(t, snapshot=P.snapshot, columns=list(cols) if cols else None,
                            where=pred, purpose=purpose)
    rec = out.get("records")
    if P.unit != "all" and rec is not None and "unit_name" in rec and len(rec):
        names = rec["unit_name"].dropna()
        if len(names):
            P.unit_name = str(names.iloc[0])
            P.unit_label = P.unit_name
    # What exists now (the library, the tables) lives as long as the report's kernel. Moving
    # it out of the cycle collector's reach spares the full collections that scanned it again
    # and again (about 0.4 s of a report); objects are still freed when unreferenced.
    gc.freeze()
    return out


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------


def say(template: str, **values) -> None:
    """Show a sentence built from computed values as Markdown; every value is escaped.

    Parameters
    ----------
    template : str
        A ``str.format`` template written in the notebook, e.g. ``"共受理{n:,}人，同比{chg}"``.
        It may contain Markdown (``**bold**``); it must not contain typed-in numbers.
    **values
        Computed values. Text values (unit names, charges …) are HTML- and Markdown-escaped
        after formatting; missing values show as ``—``; booleans as 是/否.

    Returns
    -------
    None
        Display functions return nothing, so a cell shows each item once.

    Examples
    --------
    What ``say("共受理{n:,}人，{who}", n=12345, who="<b>甲</b>")`` shows:

    >>> _EscapingFormatter().format("共受理{n:,}人，{who}", n=12345, who="<b>甲</b>")
    '共受理12,345人，&lt;b&gt;甲&lt;/b&gt;'
    """
    text = _EscapingFormatter().format(_safe_markdown(template), **values)
    _display(Markdown(text))


def md(text: str) -> None:
    """Show Markdown produced by the library (e.g. :mod:`casework.present.narrative` sentences).

    Markdown formatting is kept; raw HTML is shown as text and ``javascript:`` links are
    disabled, so text from data cannot run as markup or script. Values that should appear
    literally are better passed through :func:`say`.

    Returns
    -------
    None
    """
    _display(Markdown(_safe_markdown(text)))


def skip(reason: str) -> None:
    """Show a one-line note for a section whose data are absent, e.g.
    ``page.skip("本期无判决数据")``.

    Returns
    -------
    None
    """
    _display(Markdown(f"> *本节略：{escape_text(reason)}*"))


def anchor_html(section: str) -> str:
    """The invisible HTML anchor :func:`anchor` shows (``id`` escaped).

    Examples
    --------
    >>> anchor_html("stations")
    '<a id="stations" class="cw-anchor"></a>'
    >>> anchor_html('x"><script>')
    '<a id="x&quot;&gt;&lt;script&gt;" class="cw-anchor"></a>'
    """
    return f'<a id="{_html.escape(str(section), quote=True)}" class="cw-anchor"></a>'


def anchor(section: str) -> None:
    """Mark where a report section starts, so that findings naming it can link to it.

    Call it at the top of a section with the same name the section's signals carry in their
    ``section`` column (:mod:`casework.analysis.signals`), e.g. ``page.anchor("stations")``.
    The batch index (:mod:`casework.run.index`) links each finding of its 要点 to
    ``<report>.html#<section>``. Without an anchor the index falls back to the heading whose
    text is the finding's ``section_title``, else to the top of the report.

    Returns
    -------
    None
    """
    if not isinstance(section, str) or not section.strip():
        raise ParameterError("page.anchor 需要非空的节名", "page.anchor needs a non-empty name")
    _display(HTML(anchor_html(section.strip())))


# --------------------------------------------------------------------------------------------
# tables
# --------------------------------------------------------------------------------------------


def _schema_column(name: str):
    for table in ("records", "journeys", "modifications"):
        try:
            return schema.column(table, name)
        except KeyError:
            continue
    return None


def display_frame(df: pd.DataFrame, *, labels: dict | None = None) -> pd.DataFrame:
    """``df`` with Chinese column labels and code values shown as their Chinese labels.

    Canonical schema columns get the schema's ``label_zh`` (and coded values such as
    ``stage = "arrest_review"`` become ``审查逮捕``); standard tidy columns get
    :data:`COLUMN_LABELS`; ``labels`` overrides both. The index is reset into columns when named.

    Examples
    --------
    >>> import pandas as pd
    >>> display_frame(pd.DataFrame({"stage": ["arrest_review"], "n": [3]})).to_dict("list")
    {'办案环节': ['审查逮捕'], '人数': [3]}
    """
    out = df.copy()
    if any(n is not None for n in out.index.names) and not isinstance(out.index, pd.RangeIndex):
        out = out.reset_index()
    names = {}
    for col in out.columns:
        key = col if isinstance(col, str) else str(col)
        sc = _schema_column(key) if isinstance(col, str) else None
        if key in ("field", "column") and out[col].dtype != float:
            out[col] = out[col].map(
                lambda v: getattr(_schema_column(v), "label_zh", v) if isinstance(v, str) else v)
        if sc is not None and sc.codes and sc.codes != "charge":
            table = sc.codes
            out[col] = out[col].map(
                lambda v, t=table: schema.label(t, v) if isinstance(v, str) else v)
        if labels and key in labels:
            names[col] = labels[key]
        elif sc is not None:
            names[col] = sc.label_zh
        elif key in COLUMN_LABELS:
            names[col] = COLUMN_LABELS[key]
        else:
            names[col] = key
    return out.rename(columns=names)


def _fmt_cell(v, fmt: str | None) -> str:
    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v)):
        return "—"
    if isinstance(v, pd.Timestamp):
        return v.strftime("%Y-%m-%d")
    if fmt:
        try:
            return fmt.format(v)
        except (ValueError, TypeError):
            return str(v)
    if isinstance(v, (bool, np.bool_)):
        return "是" if v else "否"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        a = abs(float(v))
        if float(v).is_integer() and a < 1e15:
            return f"{float(v):,.0f}"
        if a >= 100:
            return f"{float(v):,.0f}"
        if a >= 1:
            return f"{float(v):,.2f}"
        return f"{float(v):.3f}"
    return str(v)


def _html_table(df: pd.DataFrame, *, caption: str | None, formats: dict, note: str | None) -> str:
    shown = df.head(MAX_ROWS)
    head = "".join(f"<th>{_html.escape(str(c))}</th>" for c in shown.columns)
    body = []
    for row in shown.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(shown.columns, row):
            num = ((isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v,
                                                                                            bool))
                   or (isinstance(v, str) and bool(_NUMLIKE_RE.match(v))))
            cls = ' class="num"' if num else ""
            cells.append(f"<td{cls}>{_html.escape(_fmt_cell(v, formats.get(c)))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    cap = f"<caption>{_html.escape(caption)}</caption>" if caption else ""
    more = ""
    if len(df) > MAX_ROWS:
        more = (f'<p class="cw-note">（仅显示前{MAX_ROWS:,}行，共{len(df):,}行，'
                '完整数据见 CSV/Excel 文件）</p>')
    extra = f'<p class="cw-note">{_html.escape(note)}</p>' if note else ""
    return (f'<div class="cw-table-wrap"><table class="cw-table">{cap}<thead><tr>{head}<'
            '/tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table>{more}{extra}</div>")


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise ParameterError(
            f"输出文件名 {name!r} 无效：只能用英文字母、数字、下划线和连字符",
            f"artefact name {name!r} must be ASCII letters, digits, '_' or '-'")
    base, i = name, 2
    while name in _STATE.names:
        name = f"{base}_{i}"
        i += 1
    _STATE.names.add(name)
    return name


#: Columns treated as person counts at the circulated level when ``counts`` is not given.
COUNT_NAMES = ("n", "count", "persons", "cases", "numerator", "denominator")
#: Columns computed from counts: blanked wherever a count in their row is suppressed.
DEPENDENT_NAMES = ("value", "value_ci_lower", "value_ci_upper", "rate", "rate_ci_lower",
                   "rate_ci_upper", "share", "previous_value", "previous_change",
                   "year_ago_value", "year_ago_change", "z", "ratio")
_NOT_COUNTS = ("year", "month", "age", "rank", "order", "months", "days")


def _auto_counts(df: pd.DataFrame) -> list:
    out = []
    for c in df.columns:
        s = df[c]
        if str(c) in COUNT_NAMES:
            out.append(c)
        elif (pd.api.types.is_integer_dtype(s) and not pd.api.types.is_bool_dtype(s)
              and str(c) not in _NOT_COUNTS):
            out.append(c)
    return out


def protect(df: pd.DataFrame, *, counts=None, dependent=None, within=None) -> pd.DataFrame:
    """The frame as the current access level allows it to be shown or drawn.

    ``internal``: columns marked ``personal`` in the schema (suspect names, ID numbers,
    addresses, birth dates) are removed. ``circulated``:
    :func:`casework.present.privacy.sanitize_frame` (no person names or case identifiers;
    prosecutors as stable pseudonyms), then :func:`casework.present.privacy.suppress_small_cells`
    (person counts below 5 shown as ``<5``, with complementary suppression, and the rates
    computed from them blanked). Use it on data before
    drawing a chart of named prosecutors, agencies or small groups.

    Parameters
    ----------
    df : DataFrame
    counts : list of str, optional
        Person-count columns to protect; default: columns named as in :data:`COUNT_NAMES`
        plus every integer column. Pass ``[]`` for a table without person counts. Drop total
        rows/columns first (they are recomputed by readers, not suppressed here).
    dependent : list of str, optional
        Columns derived from the counts (default: those in :data:`DEPENDENT_NAMES`).
    within : list of str, optional
        Independent sub-tables (default ``["indicator"]`` when that column exists).
    """
    P = _current()
    personal = set(schema.sensitive_columns("records", level="internal"))
    out = df.drop(columns=[c for c in df.columns if c in personal])
    if P.level == "circulated":
        out = privacy.sanitize_frame(out, level="circulated")
        cnt = [c for c in (_auto_counts(out) if counts is None else counts) if c in out.columns]
        if cnt:
            dep = [c for c in (DEPENDENT_NAMES if dependent is None else dependent)
                   if c in out.columns and c not in cnt]
            wit = within if within is not None else (
                ["indicator"] if "indicator" in out.columns else None)
            out = privacy.suppress_small_cells(out, count_columns=cnt, dependent_columns=dep,
                                               within=wit, as_text=True)
    return out


def table(df: pd.DataFrame, name: str, *, caption: str | None = None,
          labels: dict | None = None, formats: dict | None = None,
          note: str | None = None, counts=None, dependent=None, within=None) -> None:
    """Show ``df`` as an escaped HTML table and write it as CSV beside the report.

    Parameters
    ----------
    df : DataFrame
        A small aggregate (not a case list — see :func:`attachment`).
    name : str
        ASCII file stem: ``<name>.csv`` (UTF-8 with BOM so Excel shows Chinese) and a sheet of
        ``tables.xlsx`` (written by :func:`provenance`).
    caption : str, optional
        Chinese caption (escaped).
    labels : dict, optional
        Column → display label, overriding the schema/standard labels.
    formats : dict, optional
        Display label or column → ``str.format`` pattern, e.g. ``{"value": "{:.1%}"}``.
    note : str, optional
        A line under the table (escaped).
    counts, dependent, within : optional
        Which columns are person counts, which are computed from them, and which split the
        table into independent parts — used for small-cell suppression at the ``circulated``
        level (see :func:`protect` for the defaults).

    Returns
    -------
    None
        (The exported frame is in ``<name>.csv``; use :func:`display_frame` to see the labels.)

    Notes
    -----
    At ``circulated`` level the frame passes through :func:`protect` first (names removed or
    pseudonymised, small cells suppressed). Text cells are escaped in HTML; CSV and xlsx
    cells starting with ``= + - @`` are neutralised (:func:`neutralise`).
    """
    P = _current()
    name = _check_name(name)
    shown = display_frame(protect(df, counts=counts, dependent=dependent, within=within),
                          labels=labels)
    fmts = {}
    for k, v in (formats or {}).items():
        lab = ((labels or {}).get(k) or getattr(_schema_column(k), "label_zh", None)
               or COLUMN_LABELS.get(k, k))
        fmts[k] = v
        fmts[lab] = v
    html_text = _html_table(shown, caption=caption, formats=fmts, note=note)
    safe = safe_for_spreadsheet(shown)
    safe.to_csv(P.output_dir / f"{name}.csv", index=False, encoding="utf-8-sig")
    _STATE.tables[name] = (caption or name, safe)
    _display(HTML(html_text))


# --------------------------------------------------------------------------------------------
# figures and attachments
# --------------------------------------------------------------------------------------------


def figure(fig, name: str, *, caption: str | None = None,
           data: pd.DataFrame | None = None) -> None:
    """Save a chart as PNG beside the report, show it embedded, and close it.

    Parameters
    ----------
    fig : matplotlib Figure or Axes
        What a :mod:`casework.present.plotting` helper returned.
    name : str
        ASCII file stem (``<name>.png``).
    caption : str, optional
        Chinese caption shown under the chart (escaped).
    data : DataFrame, optional
        The tidy data behind the chart, written as ``<name>.csv`` (passes :func:`protect`).

    Returns
    -------
    None
        The PNG is ``P.output_dir / f"{name}.png"``.
    """
    P = _current()
    name = _check_name(name)
    if not isinstance(fig, plt.Figure):
        fig = fig.figure if hasattr(fig, "figure") else fig
        while hasattr(fig, "figure") and not isinstance(fig, plt.Figure):  # SubFigure
            fig = fig.figure
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=plotting.DPI, bbox_inches="tight", facecolor="white")
    plt.close(fig)
    png = buf.getvalue()
    path = P.output_dir / f"{name}.png"
    path.write_bytes(png)
    if data is not None:
        safe_for_spreadsheet(display_frame(protect(data))).to_csv(
            P.output_dir / f"{name}.csv", index=False, encoding="utf-8-sig")
    _display(Image(data=png, format="png", metadata={"alt": caption or name}))
    if caption:
        _display(Markdown(f"*图：{escape_text(caption)}*"))


def attachment(df: pd.DataFrame, name: str, *, caption: str | None = None) -> None:
    """Write a case list as an Excel file beside the report (internal level only).

    Parameters
    ----------
    df : DataFrame
        Case-level rows. Columns marked ``personal`` in the schema are removed; text cells are
        neutralised against formula injection.
    name : str
        ASCII file stem (``<name>.xlsx``).
    caption : str, optional
        What the list holds (Chinese).

    Returns
    -------
    None
        The file is ``P.output_dir / f"{name}.xlsx"``; at the ``circulated`` level nothing is
        written and the report shows a note instead (case lists never travel with circulated
        reports).
    """
    P = _current()
    name = _check_name(name)
    what = escape_text(caption or name)
    if P.level != "internal":
        _display(Markdown(f"> *{what}："
                          "通报/外发密级的报告不附案件清单（如需查看，请以内部密级运行）。*"))
        return
    personal = set(schema.sensitive_columns("records", level="internal"))
    shown = display_frame(df.drop(columns=[c for c in df.columns if c in personal]))
    path = P.output_dir / f"{name}.xlsx"
    write_xlsx(path, {name: (caption or name, safe_for_spreadsheet(shown))})
    href = _html.escape(f"{P.output_dir.name}/{path.name}", quote=True)
    label = _html.escape(caption or name)
    _display(HTML(f'<p class="cw-attachment">附件：<a href="{href}">{label}</a>'
                  f"（{len(shown):,}行，Excel，仅限内部使用）</p>"))


# --------------------------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------------------------


def provenance(P: Params) -> None:
    """Show how the report was made, and write ``tables.xlsx`` and ``provenance.json``.

    Shows the parameters (with their Chinese descriptions), the snapshot id and hash, the code
    version (git SHA when available, else the package version), the account and the time.
    Call it in the last cell.

    Returns
    -------
    None
        The same information is written to ``provenance.json``.
    """
    rows = [("报告模板", f"{P.title_zh}（{P.template}）")]
    for name, value in P.values.items():
        spec = P.sidecar.parameters[name]
        shown = LEVEL_LABELS.get(value, value) if name == "level" else value
        if name == "period" and P.period is not None:
            shown = f"{P.period.label_zh}（{value}）"
        if isinstance(shown, list):
            shown = "、".join(map(str, shown))
        rows.append((f"参数 {name}：{spec.description or name}", str(shown)))
    rows += [
        ("数据快照", P.snapshot),
        ("查询引擎", "Apache Spark" if getattr(P, "engine", "") == "spark" else "DuckDB"),
        ("快照哈希（SHA-256）", P.snapshot_hash or "—"),
        ("代码版本", P.code_version),
        ("运行账号", P.account),
        ("生成时间", _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %z")),
    ]
    frame = pd.DataFrame(rows, columns=["item", "value"])
    _display(Markdown("## 数据来源与生成信息"))
    _display(HTML(_html_table(frame.rename(columns={"item": "项目", "value": "内容"}),
                              caption=None, formats={}, note=None)))
    if _STATE.tables:
        write_xlsx(P.output_dir / "tables.xlsx", _STATE.tables)
    info = {"template": P.template, "title_zh": P.title_zh, "unit_label": P.unit_label,
            "parameters": P.values,
            "snapshot": P.snapshot, "snapshot_hash": P.snapshot_hash,
            "engine": getattr(P, "engine", "duckdb"),
            "code_version": P.code_version, "account": P.account,
            "generated_at": rows[-1][1], "tables": list(_STATE.tables),
            # the audit position at run time: `casework audit --verify --against reports/`
            "audit": store.audit.anchor(),
            # results answered from the snapshot's cache (identical to computing them)
            "cache": {"folder": str(memo.active() or ""), "calls": memo.stats()}}
    (P.output_dir / "provenance.json").write_text(
        json.dumps(info, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


__all__ = ["Params", "Tables", "setup", "load", "say", "md", "skip", "anchor", "table",
           "figure", "attachment", "provenance", "protect", "display_frame", "escape_text",
           "neutralise", "safe_for_spreadsheet", "COLUMN_LABELS", "MAX_ROWS"]
