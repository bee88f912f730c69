"""Case-card quality inspection (案卡规范性检测): a rule engine over the ``records`` table.

Rules are data. The built-in set lives in ``casework/resources/quality_rules.yaml``; a user
file adds rules, overrides built-in ones by ``id`` (only the keys it gives) or switches them
off with ``enabled: false``. Each rule compiles to a DuckDB SQL predicate over the canonical
columns that is TRUE on a faulty card, so one engine runs every kind:

``completeness`` (必填项)
    ``required: [columns]`` — any of them null or blank.
``validity`` (规范性)
    ``codes: <code table>`` — value outside the schema code table; ``range: [min, max]``.
``consistency`` (逻辑关联项)
    ``condition: <SQL>`` — the contradiction itself.
``timeliness`` (迟填)
    ``event: <date column>, max_days: N`` — ``entered_at`` more than N days after the event.

Any rule may give ``condition`` instead of its kind's parameters; ``applies_to`` (stage,
case type) and ``when`` (a predicate) narrow the cards it inspects. A condition sees only the
columns named in ``fields`` (plus the identity columns), so every rule declares what it reads;
NULLs never fire (SQL three-valued logic). The outer row is aliased ``card`` for correlated
sub-queries over the full table ``records``.

Examples
--------
>>> import pandas as pd
>>> from casework import quality, schema
>>> cards = schema.conform(pd.DataFrame({
...     "unit_code": ["371329", "371329"], "dept_case_no": ["A1", "A2"],
...     "person_id": ["p1", "p2"], "stage": ["prosecution_review"] * 2,
...     "accepted_on": ["2024-03-01", "2024-03-01"], "closed_on": ["2024-02-20", "2024-03-20"],
... }), "records")
>>> found = quality.run_rules(cards, rules=[
...     {"id": "closed_before_accepted", "kind": "consistency", "severity": "error",
...      "message_zh": "审结日期早于受理日期", "fields": ["accepted_on", "closed_on"],
...      "condition": "closed_on < accepted_on"}], builtin=False)
>>> found[["rule_id", "dept_case_no", "values"]].to_dict("records")
[{'rule_id': 'closed_before_accepted', 'dept_case_no': 'A1', 'values': '受理日期：2024-03-01，审结日期：2024-02-20'}]
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from casework.base import config
from casework.model import schema
from casework.base.errors import DataError, ParameterError, check_choice
from casework.analysis.stats import wilson_interval

#: Severity levels, lowest first.
SEVERITIES = ("info", "warning", "error")
SEVERITY_ZH = {"info": "提示", "warning": "警告", "error": "错误"}
#: Rule kinds.
KINDS = ("completeness", "validity", "consistency", "timeliness")
KIND_ZH = {"completeness": "必填项", "validity": "规范性", "consistency": "逻辑关联",
           "timeliness": "及时性"}
#: The built-in rule file.
BUILTIN_RULES = config.RESOURCES_DIR / "quality_rules.yaml"

#: Stages whose rows are not case cards (a judgment-only corpus): never inspected or counted.
NOT_CARDS = ("judgment",)


def card_rows(records: pd.DataFrame) -> pd.DataFrame:
    """The rows of ``records`` that are case cards (all but :data:`NOT_CARDS` stages).

    Examples
    --------
    >>> card_rows(pd.DataFrame({"stage": ["arrest_review", "judgment", "审查"]}))["stage"].tolist()
    ['arrest_review', '审查']
    """
    if "stage" not in records.columns:
        return records
    return records[~records["stage"].isin(list(NOT_CARDS)).fillna(False).to_numpy()]


#: Columns every finding carries (identity of the card and who handled it).
IDENTITY = ("unit_code", "dept_case_no", "person_id", "stage", "case_type", "department",
            "prosecutor_id", "prosecutor_name", "case_name", "accepted_on", "closed_on")

#: Columns of the frame :func:`run_rules` returns.
FINDING_COLUMNS = ("rule_id", "kind", "severity", "message_zh", "unit_code", "dept_case_no",
                   "person_id", "stage", "case_type", "department", "prosecutor_id",
                   "prosecutor_name", "case_name", "accepted_on", "closed_on", "month", "fields",
                   "values")

#: Columns of the 案卡差错通报 (circular) layout, in order.
CIRCULAR_COLUMNS = ("通报批次", "部门受案号", "案件名称", "承办部门", "承办检察官", "案件类别",
                    "错误明细", "备注")

_ALLOWED_KEYS = {"id", "kind", "severity", "message_zh", "fields", "applies_to", "when",
                 "condition", "required", "codes", "range", "field", "event", "entered",
                 "max_days",
                 "enabled", "description", "source"}
_KIND_PARAMS = {"completeness": ("required",), "validity": ("codes", "range"),
                "consistency": (), "timeliness": ("event",)}


# ---------------------------------------------------------------------------------------------
# Rules
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One compiled quality rule.

    ``predicate`` is the DuckDB SQL that is TRUE on a faulty card (scope included);
    ``origin`` is ``"builtin"`` or the path of the user file that defined or changed it.
    """

    id: str
    kind: str
    severity: str
    message_zh: str
    fields: tuple[str, ...]
    predicate: str
    applies_to: dict = field(default_factory=dict)
    enabled: bool = True
    origin: str = "builtin"
    spec: dict = field(default_factory=dict, repr=False, compare=False)


def _err(rule_id, zh, en, hint=None):
    return ParameterError(f"质量规则 {rule_id}：{zh}", f"quality rule {rule_id}: {en}", hint=hint)


def _sql_str(value) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _code_values(table: str) -> list[str]:
    if table == "charge":
        return list(schema.CHARGES)
    if table == "charge_group":
        return list(schema.CHARGE_GROUPS)
    if table not in schema.CODE_TABLES:
        raise KeyError(table)
    return list(schema.CODE_TABLES[table])


def _is_text(col: str) -> bool:
    try:
        return schema.column("records", col).dtype == "string"
    except KeyError:
        return False


def _compile(spec: dict) -> str:
    """The fault predicate of one rule spec (without its scope)."""
    rid, kind = spec["id"], spec["kind"]
    if spec.get("condition") is not None:
        clashing = [k for k in _KIND_PARAMS[kind] if spec.get(k) is not None]
        if kind == "validity" and spec.get("range") is None and spec.get("codes") is None:
            clashing = []
        if clashing:
            raise _err(rid, f"condition 与 {clashing[0]} 不能同时给出",
                       f"give either condition or {clashing[0]}, not both")
        return f"({spec['condition']})"
    if kind == "completeness":
        req = spec.get("required")
        if not req:
            raise _err(rid, "必填项规则须给出 required（必填列）或 condition",
                       "a completeness rule needs `required: [columns]` or `condition`")
        parts = [f"({c} IS NULL OR trim(CAST({c} AS VARCHAR)) = '')" if _is_text(c)
                 else f"{c} IS NULL" for c in req]
        return "(" + " OR ".join(parts) + ")"
    if kind == "validity":
        target = spec.get("field")
        if target is None:
            if len(spec["fields"]) != 1:
                raise _err(rid, "fields 含多列时须用 field 指明被检查的列",
                           "with several fields, name the checked column with `field`")
            target = spec["fields"][0]
        if spec.get("codes") is not None:
            try:
                values = _code_values(spec["codes"])
            except KeyError:
                opts = ", ".join(["charge", "charge_group", *schema.CODE_TABLES])
                raise _err(rid, f"代码表 {spec['codes']!r} 不存在，可选：{opts}",
                           f"unknown code table {spec['codes']!r}; choose one of {opts}") from None
            return f"({target} NOT IN ({', '.join(_sql_str(v) for v in values)}))"
        if spec.get("range") is not None:
            rng = spec["range"]
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise _err(rid, "range 须为 [下限, 上限]", "range must be [min, max]")
            lo, hi = rng
            parts = []
            if lo is not None:
                parts.append(f"{target} < {float(lo)!r}")
            if hi is not None:
                parts.append(f"{target} > {float(hi)!r}")
            if not parts:
                raise _err(rid, "range 的上下限不能都为空", "range needs at least one bound")
            return "(" + " OR ".join(parts) + ")"
        raise _err(rid, "规范性规则须给出 codes、range 或 condition",
                   "a validity rule needs `codes`, `range` or `condition`")
    if kind == "timeliness":
        event, entered = spec.get("event"), spec.get("entered", "entered_at")
        days = spec.get("max_days")
        if not event or days is None:
            raise _err(rid, "及时性规则须给出 event（事件日期列）和 max_days（天数）",
                       "a timeliness rule needs `event` and `max_days`")
        return (f"(date_diff('day', CAST({event} AS DATE), CAST({entered} AS DATE))"
                f" > {int(days)})")
    raise _err(rid, "逻辑关联规则须给出 condition", "a consistency rule needs `condition`")


def _scope(spec: dict) -> str | None:
    parts = []
    applies = spec.get("applies_to") or {}
    if not isinstance(applies, dict):
        raise _err(spec["id"], "applies_to 须为 {stage: [...], case_type: [...]}",
                   "applies_to must be a mapping {stage: [...], case_type: [...]}")
    for key, values in applies.items():
        check_choice(f"{spec['id']}.applies_to", key, ["stage", "case_type"])
        values = [values] if isinstance(values, str) else list(values)
        for v in values:
            check_choice(f"{spec['id']}.applies_to.{key}", v, schema.CODE_TABLES[key])
        parts.append(f"{key} IN ({', '.join(_sql_str(v) for v in values)})")
    if spec.get("when"):
        parts.append(f"({spec['when']})")
    return " AND ".join(parts) if parts else None


def _build(spec: dict, origin: str) -> Rule:
    rid = spec.get("id")
    if not rid or not isinstance(rid, str):
        raise ParameterError("质量规则缺少 id", "a quality rule has no id",
                             hint=f"规则来源 / source: {origin}")
    unknown = sorted(set(spec) - _ALLOWED_KEYS)
    if unknown:
        raise _err(rid, f"未知的键 {unknown}", f"unknown keys {unknown}",
                   hint="可用的键 / allowed: " + ", ".join(sorted(_ALLOWED_KEYS)))
    for key in ("kind", "severity", "message_zh", "fields"):
        if spec.get(key) in (None, "", []):
            raise _err(rid, f"缺少 {key}", f"missing {key}")
    check_choice(f"{rid}.kind", spec["kind"], KINDS)
    check_choice(f"{rid}.severity", spec["severity"], SEVERITIES)
    fields_ = spec["fields"]
    fields_ = [fields_] if isinstance(fields_, str) else list(fields_)
    # the columns a kind's parameters name are read too
    extra = list(spec.get("required") or [])
    if spec.get("field"):
        extra.append(spec["field"])
    if spec["kind"] == "timeliness" and spec.get("condition") is None:
        extra += [spec.get("event"), spec.get("entered", "entered_at")]
    fields_ = tuple(dict.fromkeys([*fields_, *(c for c in extra if c)]))
    spec = {**spec, "fields": list(fields_)}
    fault = _compile(spec)
    scope = _scope(spec)
    predicate = f"({scope}) AND {fault}" if scope else fault
    applies = {k: ([v] if isinstance(v, str) else list(v))
               for k, v in (spec.get("applies_to") or {}).items()}
    return Rule(id=rid, kind=spec["kind"], severity=spec["severity"],
                message_zh=str(spec["message_zh"]), fields=fields_, predicate=predicate,
                applies_to=applies, enabled=bool(spec.get("enabled", True)), origin=origin,
                spec=spec)


@functools.lru_cache(maxsize=16)
def _parse_yaml(path: str, mtime_ns: int):
    """A parsed rule file, cached per path and modification time (callers deep-copy it)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(Path(path).read_text(encoding="utf-8"), Loader=loader)


def _read_specs(source) -> tuple[list[dict], str]:
    """Rule specs and their origin label from a path, a list of dicts or ``{"rules": [...]}``."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.exists():
            raise ParameterError(f"规则文件不存在：{path}", f"rule file not found: {path}")
        try:
            data = copy.deepcopy(_parse_yaml(str(path.resolve()), path.stat().st_mtime_ns))
        except yaml.YAMLError as exc:
            raise ParameterError(f"规则文件不是有效的 YAML：{path}",
                                 f"rule file is not valid YAML: {path}: {exc}") from None
        origin = str(path)
    else:
        data, origin = source, "user"
    if data is None:
        return [], origin
    if isinstance(data, dict):
        data = data.get("rules", [])
    if not isinstance(data, list) or not all(isinstance(s, dict) for s in data):
        raise ParameterError("规则文件须包含规则列表 rules: [...]",
                             "a rule file must hold a list `rules: [...]` of mappings",
                             hint=f"来源 / source: {origin}")
    return data, origin


def load_rules(rules=None, *, builtin: bool = True) -> list[Rule]:
    """The rule set: the built-in rules, changed by a user's rules.

    Parameters
    ----------
    rules : path, list of dict, dict or list of Rule, optional
        A user rule file (YAML with ``rules: [...]``) or the same structure in Python. An entry
        whose ``id`` matches a built-in rule overrides only the keys it gives (``severity``,
        ``max_days``, ``enabled: false`` …); any other entry is a new rule and must be complete.
    builtin : bool
        Start from the built-in rules (``False``: the user's rules only).

    Returns
    -------
    list of Rule
        In file order (built-in first, then added rules), including disabled ones.

    Examples
    --------
    >>> rs = load_rules([{"id": "late_entry_closed", "max_days": 10},
    ...                  {"id": "missing_procedure", "enabled": False}])
    >>> [r.enabled for r in rs if r.id == "missing_procedure"]
    [False]
    >>> [r.spec["max_days"] for r in rs if r.id == "late_entry_closed"]
    [10]
    """
    if rules is not None and isinstance(rules, (list, tuple)) and rules \
            and all(isinstance(r, Rule) for r in rules):
        return list(rules)
    specs: dict[str, dict] = {}
    origins: dict[str, str] = {}
    if builtin:
        base, _ = _read_specs(BUILTIN_RULES)
        for spec in base:
            if spec["id"] in specs:
                raise ParameterError(f"内置规则 id 重复：{spec['id']}", f"duplicate id {spec['id']}")
            specs[spec["id"]], origins[spec["id"]] = dict(spec), "builtin"
    if rules is not None:
        user, origin = _read_specs(rules)
        seen = set()
        for spec in user:
            rid = spec.get("id")
            if rid in seen:
                raise ParameterError(f"用户规则 id 重复：{rid}", f"duplicate user rule id {rid}",
                                     hint=f"来源 / source: {origin}")
            seen.add(rid)
            if rid in specs:
                merged = {**specs[rid], **spec}
                # a new condition replaces the kind's own parameters, and vice versa
                if "condition" in spec:
                    for k in ("required", "codes", "range", "event"):
                        if k not in spec:
                            merged.pop(k, None)
                elif any(k in spec for k in ("required", "codes", "range", "event")):
                    merged.pop("condition", None)
                specs[rid], origins[rid] = merged, origin
            else:
                specs[rid], origins[rid] = dict(spec), origin
    return [_build(spec, origins[rid]) for rid, spec in specs.items()]


def rules_frame(rules=None) -> pd.DataFrame:
    """The rule set as a table: ``id, kind, kind_zh, severity, severity_zh, message_zh, fields,
    applies_to, enabled, origin``.

    Examples
    --------
    >>> t = rules_frame()
    >>> set(t["kind"]) == set(KINDS), t["id"].is_unique
    (True, True)
    """
    rows = [{
        "id": r.id, "kind": r.kind, "kind_zh": KIND_ZH[r.kind], "severity": r.severity,
        "severity_zh": SEVERITY_ZH[r.severity], "message_zh": r.message_zh,
        "fields": "、".join(schema.column("records", f).label_zh if f in _RECORD_COLS else f
                           for f in r.fields),
        "applies_to": "；".join(f"{k}={','.join(v)}" for k, v in r.applies_to.items()),
        "enabled": r.enabled, "origin": r.origin,
    } for r in load_rules(rules)]
    return pd.DataFrame(rows, columns=["id", "kind", "kind_zh", "severity", "severity_zh",
                                       "message_zh", "fields", "applies_to", "enabled", "origin"])


_RECORD_COLS = set(schema.column_names("records"))

# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


def _label(col: str) -> str:
    return schema.column("records", col).label_zh if col in _RECORD_COLS else col


def _display(col: str, s: pd.Series) -> pd.Series:
    """Values of one column as Chinese display text (codes → labels, 未填 for null)."""
    spec = schema.column("records", col) if col in _RECORD_COLS else None
    missing = s.isna()
    if spec is not None and spec.dtype == "date":
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
    elif spec is not None and spec.dtype == "datetime":
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d %H:%M")
    elif spec is not None and spec.dtype == "bool":
        out = s.map(lambda v: "是" if v is True or v == 1 else "否", na_action="ignore")
    elif spec is not None and spec.dtype in ("float", "int"):
        out = s.map(lambda v: f"{float(v):g}", na_action="ignore")
    elif spec is not None and spec.codes and spec.codes != "charge" and spec.dtype == "string":
        out = s.map(lambda v: schema.label(spec.codes, v), na_action="ignore")
    else:
        out = s.map(lambda v: ",".join(v) if isinstance(v, (list, tuple, np.ndarray)) else str(v),
                    na_action="ignore")
    return out.astype("object").where(~missing, "未填")


#: How a card is placed in a month: ``closed`` — month of ``closed_on`` (open cards: of
#: ``accepted_on``), as 审结 statistics count it; ``accepted`` — month of ``accepted_on``.
MONTH_BASES = ("closed", "accepted")


def card_month(records: pd.DataFrame, *, basis: str = "closed") -> pd.Series:
    """The statistics month of each card (``'YYYY-MM'`` strings).

    Parameters
    ----------
    basis : {"closed", "accepted"}
        ``closed``: month of ``closed_on``, else of ``accepted_on`` (open cards);
        ``accepted``: month of ``accepted_on``.

    Examples
    --------
    >>> rec = pd.DataFrame({"accepted_on": pd.to_datetime(["2024-01-20", "2024-02-01"]),
    ...                     "closed_on": pd.to_datetime(["2024-03-02", None])})
    >>> card_month(rec).tolist(), card_month(rec, basis="accepted").tolist()
    (['2024-03', '2024-02'], ['2024-01', '2024-02'])
    """
    check_choice("basis", basis, MONTH_BASES)
    acc = pd.to_datetime(records["accepted_on"])
    ref = acc if basis == "accepted" else pd.to_datetime(records["closed_on"]).fillna(acc)
    return ref.dt.strftime("%Y-%m").astype("string")


def _duck_frame(records: pd.DataFrame, cols: list[str]):
    import pyarrow as pa

    frame = records[cols].copy()
    for c in cols:
        is_list = c in _RECORD_COLS and schema.column("records", c).dtype == "list"
        if frame[c].dtype == object and is_list:
            frame[c] = frame[c].map(lambda v: list(v) if isinstance(v, (list, tuple, np.ndarray))
                                    else None)
    frame["__row"] = np.arange(len(frame), dtype="int64")
    return pa.Table.from_pandas(frame, preserve_index=False)


def run_rules(records: pd.DataFrame, *, rules=None, builtin: bool = True) -> pd.DataFrame:
    """Inspect case cards: one row per (rule, card) fault.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table (canonical columns; missing schema columns are treated as
        absent from the export: rules reading them are skipped and listed in
        ``findings.attrs["skipped"]``). Rows of a judgment-only corpus (stage ``judgment``)
        are not case cards and are not inspected (:func:`card_rows`).
    rules : path, list or dict, optional
        User rules (see :func:`load_rules`); disabled rules do not run.
    builtin : bool
        Include the built-in rules.

    Returns
    -------
    DataFrame
        ``rule_id, kind, severity, message_zh`` (the rule), ``unit_code, dept_case_no,
        person_id, stage, case_type, department, prosecutor_id, prosecutor_name, case_name``
        ``accepted_on, closed_on`` (the card), ``month`` (statistics month of the card,
        :func:`card_month` with the ``closed`` basis), ``fields``
        (columns read, comma-joined) and ``values`` (their values on the card, as Chinese
        display text). Sorted by severity (errors first), then unit, case, person, rule order.

    Raises
    ------
    ParameterError
        A rule is malformed or its SQL cannot run (the message names the rule).
    """
    import duckdb

    rule_set = [r for r in load_rules(rules, builtin=builtin) if r.enabled]
    present = set(records.columns)
    skipped = {r.id: [f for f in r.fields if f not in present] for r in rule_set}
    skipped = {k: v for k, v in skipped.items() if v}
    active = [r for r in rule_set if r.id not in skipped]
    data = schema.conform(card_rows(records).reset_index(drop=True), "records")

    needed = list(dict.fromkeys([*IDENTITY, *(f for r in active for f in r.fields)]))
    missing_extra = [c for c in needed if c not in data.columns]
    if missing_extra:  # only possible for user columns that vanished after conform
        raise DataError(f"缺少列：{missing_extra}", f"missing columns: {missing_extra}")
    con = duckdb.connect()
    try:
        con.register("records", _duck_frame(data, needed))
        con.execute("SET enable_external_access = false")
        queries = []
        for order, r in enumerate(active):
            cols = ", ".join(dict.fromkeys(["__row", "unit_code", "dept_case_no", "person_id",
                                            "stage", "case_type", *r.fields]))
            queries.append(f"SELECT {order} AS __rule, __row FROM (SELECT {cols} FROM records)"
                           f" AS card WHERE coalesce(({r.predicate}), FALSE)")
        hits = []
        if queries:
            try:  # one scan plan for all rules; on failure, find the rule to blame
                found = con.execute(" UNION ALL ".join(queries)).fetchnumpy()
                hits = [pd.DataFrame({"__rule": np.asarray(found["__rule"], dtype="int64"),
                                      "__row": np.asarray(found["__row"], dtype="int64")})]
            except duckdb.Error:
                for order, (r, sql) in enumerate(zip(active, queries)):
                    try:
                        con.execute(sql).fetchall()
                    except duckdb.Error as exc:
                        raise _err(r.id, f"条件无法执行（条件只能引用 fields 中声明的列）：{exc}",
                                   f"its SQL cannot run (conditions may use only the columns "
                                   f"listed in fields): {exc}") from None
                raise
    finally:
        con.close()

    if not hits or not len(hits[0]):
        out = pd.DataFrame({c: pd.Series(dtype="string") for c in FINDING_COLUMNS})
        out.attrs["skipped"] = skipped
        return out
    hit = pd.concat(hits, ignore_index=True)
    parts = []
    for order, grp in hit.groupby("__rule", sort=True):
        r = active[order]
        cards = data.iloc[grp["__row"].to_numpy()]
        text = None
        for f in r.fields:
            piece = _label(f) + "：" + _display(f, cards[f]).astype(str)
            text = piece if text is None else text + "，" + piece
        part = cards[list(IDENTITY)].copy()
        part.insert(0, "message_zh", r.message_zh)
        part.insert(0, "severity", r.severity)
        part.insert(0, "kind", r.kind)
        part.insert(0, "rule_id", r.id)
        part["month"] = card_month(cards)
        part["fields"] = ",".join(r.fields)
        part["values"] = text.to_numpy()
        part["__order"] = order
        part["__row"] = grp["__row"].to_numpy()
        parts.append(part)
    out = pd.concat(parts, ignore_index=True)
    out["__sev"] = out["severity"].map({s: -i for i, s in enumerate(SEVERITIES)})
    out = out.sort_values(["__sev", "unit_code", "dept_case_no", "person_id", "__order"],
                          kind="stable").reset_index(drop=True)
    out = out[list(FINDING_COLUMNS)]
    for c in ("rule_id", "kind", "severity", "message_zh", "month", "fields", "values"):
        out[c] = out[c].astype("string")
    out.attrs["skipped"] = skipped
    return out


def at_or_above(findings: pd.DataFrame, level: str) -> pd.Series:
    """Boolean mask of findings whose severity is ``level`` or higher.

    Examples
    --------
    >>> f = pd.DataFrame({"severity": ["info", "warning", "error"]})
    >>> at_or_above(f, "warning").tolist()
    [False, True, True]
    """
    check_choice("level", level, SEVERITIES)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    return findings["severity"].map(rank).fillna(-1).astype(int) >= rank[level]


# ---------------------------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------------------------


def circular(findings: pd.DataFrame, records: pd.DataFrame | None = None, *, batch: str,
             level: str = "warning") -> pd.DataFrame:
    """The 案卡差错通报 list: one row per case card number with its faults.

    Parameters
    ----------
    findings : DataFrame
        From :func:`run_rules`.
    records : DataFrame, optional
        Not needed for the layout (findings carry the case identity); accepted so callers
        can pass the inspected records alongside.
    batch : str
        The 通报批次 label, e.g. ``"2024年第5期"``.
    level : {"info", "warning", "error"}
        Lowest severity listed.

    Returns
    -------
    DataFrame
        Columns 通报批次, 部门受案号, 案件名称, 承办部门, 承办检察官, 案件类别, 错误明细, 备注;
        错误明细 numbers each fault (嫌疑人编号 prefixed when the case has several persons),
        备注 counts faults by severity. Sorted by 承办部门 then 部门受案号.

    Examples
    --------
    >>> f = pd.DataFrame({"rule_id": ["r1"], "kind": ["consistency"], "severity": ["error"],
    ...     "message_zh": ["审结日期早于受理日期"], "unit_code": ["371329"], "dept_case_no": ["A1"],
    ...     "person_id": ["p1"], "stage": ["prosecution_review"],
    ...     "case_type": ["first_instance_prosecution"], "department": ["第一检察部"],
    ...     "prosecutor_id": ["g1"], "prosecutor_name": ["王某"], "case_name": ["张某盗窃案"],
    ...     "month": ["2024-03"], "fields": ["closed_on"], "values": ["审结日期：2024-02-20"]})
    >>> row = circular(f, batch="2024年第3期").iloc[0]
    >>> row["错误明细"], row["案件类别"], row["备注"]
    ('1. 审结日期早于受理日期（审结日期：2024-02-20）', '一审公诉案件', '错误1项')
    """
    check_choice("level", level, SEVERITIES)
    f = findings[at_or_above(findings, level)] if len(findings) else findings
    if not len(f):
        return pd.DataFrame({c: pd.Series(dtype="string") for c in CIRCULAR_COLUMNS})
    f = f.reset_index(drop=True)
    keys = [f["unit_code"].astype("string").fillna(""),
            f["dept_case_no"].astype("string").fillna("")]
    grp = f.groupby(keys, sort=False)
    several = grp["person_id"].transform("nunique") > 1
    who = ("[嫌疑人编号 " + f["person_id"].astype("string") + "] ").where(
        several & f["person_id"].notna(), "").fillna("")
    number = (grp.cumcount() + 1).astype(str)
    item = (number + ". " + who + f["message_zh"].astype(str) + "（" + f["values"].astype(str)
            + "）")
    detail = item.groupby(keys, sort=False).agg("；\n".join)
    counts = pd.crosstab(keys, f["severity"])
    order = [sev for sev in reversed(SEVERITIES) if sev in counts.columns]
    note = pd.Series(["、".join(f"{SEVERITY_ZH[sev]}{n}项" for sev, n in zip(order, row) if n)
                      for row in counts[order].to_numpy()], index=counts.index, dtype=object)
    first = grp[["dept_case_no", "case_name", "department", "prosecutor_name", "prosecutor_id",
                 "case_type"]].first()
    case_type = first["case_type"].map(lambda v: schema.label("case_type", v), na_action="ignore")
    prosecutor = first["prosecutor_name"].where(first["prosecutor_name"].notna(),
                                                first["prosecutor_id"])
    out = pd.DataFrame({
        "通报批次": batch, "部门受案号": first["dept_case_no"], "案件名称": first["case_name"],
        "承办部门": first["department"], "承办检察官": prosecutor, "案件类别": case_type,
        "错误明细": detail.reindex(first.index), "备注": note.reindex(first.index),
    })
    out = out.sort_values(["承办部门", "部门受案号"], na_position="last", kind="stable")
    return out.reset_index(drop=True).astype("string")


def _card_keys(df: pd.DataFrame) -> pd.Series:
    parts = [df[c].astype("string").fillna("") for c in ("unit_code", "stage", "dept_case_no",
                                                         "person_id")]
    key = parts[0]
    for p in parts[1:]:
        key = key + "\x1f" + p
    return key


def _flag_cards(findings: pd.DataFrame, records: pd.DataFrame, level: str) -> pd.DataFrame:
    """``records`` with a boolean column ``faulty`` (≥1 finding at or above ``level``)."""
    f = findings[at_or_above(findings, level)] if len(findings) else findings
    faulty = set(_card_keys(f)) if len(f) else set()
    out = card_rows(records).copy()
    out["faulty"] = _card_keys(out).isin(faulty).to_numpy()
    return out


POSITION_ZH = {"high_alarm": "显著偏高（超出99.8%控制限）", "high_alert": "偏高（超出95%控制限）",
               "within": "控制限内", "low_alert": "偏低（超出95%控制限）",
               "low_alarm": "显著偏低（超出99.8%控制限）", "below_min_n": "案卡过少，不作判断"}


def _as_list(by) -> list[str]:
    if by is None:
        return []
    return [by] if isinstance(by, str) else list(by)


def error_rates(findings: pd.DataFrame, records: pd.DataFrame, *, by="department",
                level: str = "error", months=None, basis: str = "closed",
                overdispersion: str = "none",
                min_n: int = 10) -> pd.DataFrame:
    """Case-card error rates (差错率 = cards with ≥1 fault ÷ cards) by group, with funnel position.

    Parameters
    ----------
    findings, records : DataFrame
        From :func:`run_rules` and the inspected ``records``.
    by : str or list of str
        Grouping columns of ``records`` (``department``, ``prosecutor_id``, ``unit_code`` …).
    level : {"info", "warning", "error"}
        Lowest severity that makes a card faulty.
    months : list of 'YYYY-MM', optional
        Restrict to cards whose statistics month (:func:`card_month`) is listed.
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).
    overdispersion : {"none", "multiplicative", "additive"}
        Passed to :func:`casework.analysis.compare.funnel`.
    min_n : int
        Groups with fewer cards are shown but not flagged (``below_min_n``).

    Returns
    -------
    DataFrame
        The columns of :func:`casework.analysis.compare.funnel` — ``by…, numerator`` (faulty cards),
        ``denominator`` (cards), ``value, value_ci_lower, value_ci_upper`` (Wilson),
        ``target`` (pooled rate), control limits, ``z``, ``flag``, ``flag_direction``,
        ``below_min_n`` … — plus ``position`` (``high_alarm``, ``high_alert``, ``within``,
        ``low_alert``, ``low_alarm``, ``below_min_n``), ``position_zh`` and ``label`` (the
        group's key values joined, for charts). Sorted by value, highest first (a reading
        order, not a ranking).

    Notes
    -----
    A card is one ``records`` row (one person at one stage). The funnel compares each group
    with the pooled rate given its size (Spiegelhalter 2005); outside 99.8% = alarm.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 4, "stage": ["arrest_review"] * 4,
    ...     "dept_case_no": ["a", "b", "c", "d"], "person_id": ["p"] * 4,
    ...     "department": ["一部", "一部", "二部", "二部"],
    ...     "accepted_on": pd.to_datetime(["2024-01-02"] * 4), "closed_on": pd.NaT})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["a"],
    ...     "person_id": ["p"], "severity": ["error"]})
    >>> r = error_rates(f, rec, min_n=1)
    >>> r[["department", "numerator", "denominator", "value"]].to_dict("records")
    [{'department': '一部', 'numerator': 1, 'denominator': 2, 'value': 0.5}, {'department': '二部', 'numerator': 0, 'denominator': 2, 'value': 0.0}]
    """
    from casework.analysis import compare

    keys = _as_list(by)
    for k in keys:
        if k not in records.columns:
            raise ParameterError(f"分组列 {k} 不在案卡数据中", f"grouping column {k} not in records")
    cards = _flag_cards(findings, records, level)
    if months is not None:
        cards = cards[card_month(cards, basis=basis).isin([str(m) for m in months]).to_numpy()]
    cards = cards.assign(numerator=cards["faulty"].astype("int64"), denominator=1)
    for k in keys:  # a missing department is a group of its own, not dropped
        cards[k] = cards[k].astype("string").fillna("（未填录）")
    out = compare.funnel(cards[[*keys, "numerator", "denominator"]], by=keys,
                         overdispersion=overdispersion, min_n=min_n)
    out["numerator"] = out["numerator"].astype("int64")
    out["denominator"] = out["denominator"].astype("int64")
    pos = np.where(out["flag"].astype(str) == "", "within",
                   out["flag_direction"].astype(str) + "_" + out["flag"].astype(str))
    pos = np.where(out["below_min_n"].astype(bool), "below_min_n", pos)
    out["position"] = pd.array(pos, dtype="string")
    out["position_zh"] = out["position"].map(POSITION_ZH).astype("string")
    out["label"] = _label_of(out, keys)
    return out.sort_values("value", ascending=False, kind="stable").reset_index(drop=True)


def _label_of(frame: pd.DataFrame, keys: list[str]) -> pd.Series:
    """One display label per group: the key values joined by a space (``全部`` without keys)."""
    if not keys:
        return pd.Series("全部", index=frame.index, dtype="string")
    label = frame[keys[0]].astype("string").fillna("（未填录）")
    for k in keys[1:]:
        label = label + " " + frame[k].astype("string").fillna("（未填录）")
    return label


def error_trend(findings: pd.DataFrame, records: pd.DataFrame, *, by=None,
                level: str = "error", months=None, basis: str = "closed",
                alpha: float = 0.05) -> pd.DataFrame:
    """Monthly case-card error rate (by statistics month of the card, :func:`card_month`),
    with p-chart limits.

    Parameters
    ----------
    by : str or list of str, optional
        Extra grouping columns (one series per group).
    level : {"info", "warning", "error"}
        Lowest severity that makes a card faulty.
    months : list of 'YYYY-MM', optional
        Keep only these months (e.g. the trailing window of a report).
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).

    Returns
    -------
    DataFrame
        ``month, by…, numerator, denominator, value, value_ci_lower, value_ci_upper`` and the
        p-chart of each series: ``centre`` (the series' pooled rate), ``lower_limit``,
        ``upper_limit`` (centre ± 3·√(centre·(1−centre)/n), clipped to [0, 1]) and ``flagged``
        (outside the limits), ``label`` (the group's key values joined).

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["a", "b", "c"], "person_id": ["p"] * 3,
    ...     "accepted_on": pd.to_datetime(["2024-01-02", "2024-01-05", "2024-02-01"]),
    ...     "closed_on": pd.NaT})
    >>> f = pd.DataFrame({"unit_code": ["1"], "stage": ["arrest_review"], "dept_case_no": ["b"],
    ...     "person_id": ["p"], "severity": ["error"]})
    >>> error_trend(f, rec)[["month", "numerator", "denominator"]].to_dict("records")
    [{'month': '2024-01', 'numerator': 1, 'denominator': 2}, {'month': '2024-02', 'numerator': 0, 'denominator': 1}]
    """
    keys = _as_list(by)
    cards = _flag_cards(findings, records, level)
    cards["month"] = card_month(cards, basis=basis)
    if months is not None:
        cards = cards[cards["month"].isin([str(m) for m in months]).to_numpy()]
    g = (cards.groupby(["month", *keys], dropna=False, sort=True)["faulty"]
         .agg(["sum", "size"]).reset_index()
         .rename(columns={"sum": "numerator", "size": "denominator"}))
    g["numerator"] = g["numerator"].astype("int64")
    g["denominator"] = g["denominator"].astype("int64")
    g["value"] = g["numerator"] / g["denominator"]
    g["value_ci_lower"], g["value_ci_upper"] = wilson_interval(g["numerator"], g["denominator"],
                                                               alpha=alpha)
    if keys:
        tot = g.groupby(keys, dropna=False)[["numerator", "denominator"]].transform("sum")
        num, den = tot["numerator"].to_numpy(float), tot["denominator"].to_numpy(float)
    else:
        num = np.full(len(g), float(g["numerator"].sum()))
        den = np.full(len(g), float(g["denominator"].sum()))
    centre = num / den
    half = 3 * np.sqrt(centre * (1 - centre) / g["denominator"].to_numpy(dtype=float))
    g["centre"] = centre
    g["lower_limit"] = np.clip(centre - half, 0, 1)
    g["upper_limit"] = np.clip(centre + half, 0, 1)
    g["flagged"] = ((g["value"] > g["upper_limit"]) | (g["value"] < g["lower_limit"])).to_numpy()
    g["label"] = _label_of(g, keys)
    return g


def in_period(data: pd.DataFrame, period, *, trailing: int | None = None,
              basis: str = "closed") -> pd.Series:
    """Boolean mask of the cards (or findings) whose statistics month lies in ``period``.

    Parameters
    ----------
    data : DataFrame
        ``records`` or findings (both carry ``accepted_on`` and ``closed_on``; a frame with
        only a ``month`` column is filtered on it).
    period : Period or str
        A :class:`casework.analysis.periods.Period` or a period code.
    trailing : int, optional
        Also keep the ``trailing`` months ending with the period's last month (the window of
        a trend chart).
    basis : {"closed", "accepted"}
        How cards are placed in months (:func:`card_month`).

    Examples
    --------
    >>> rec = pd.DataFrame({"accepted_on": pd.to_datetime(["2024-04-20", "2024-05-02"]),
    ...                     "closed_on": pd.to_datetime(["2024-05-03", None])})
    >>> in_period(rec, "2024-05").tolist(), in_period(rec, "2024-04").tolist()
    ([True, True], [False, False])
    >>> in_period(rec, "2024-04", basis="accepted").tolist()
    [True, False]
    >>> in_period(pd.DataFrame({"month": ["2024-03", "2024-04"]}), "2024-05", trailing=2).tolist()
    [False, True]
    """
    from casework.analysis import periods

    p = periods.parse(period) if isinstance(period, str) else period
    months = {m.code for m in p.months()}
    if trailing:
        months |= {m.code for m in periods.trailing_months(p, int(trailing))}
    if "accepted_on" in data.columns:
        month = card_month(data, basis=basis)
    else:
        month = data["month"]
    return month.astype("string").isin(months).fillna(False).astype(bool)


def rule_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings by rule: ``rule_id, kind, kind_zh, severity, severity_zh, message_zh, findings,
    cards`` (distinct cards), errors first, then most findings first.

    Examples
    --------
    >>> f = pd.DataFrame({"rule_id": ["a", "a", "b"], "kind": ["validity"] * 3,
    ...     "severity": ["error", "error", "info"], "message_zh": ["x", "x", "y"],
    ...     "unit_code": ["1"] * 3, "stage": ["s"] * 3, "dept_case_no": ["c1", "c2", "c1"],
    ...     "person_id": ["p"] * 3})
    >>> rule_counts(f)[["rule_id", "findings", "cards"]].to_dict("records")
    [{'rule_id': 'a', 'findings': 2, 'cards': 2}, {'rule_id': 'b', 'findings': 1, 'cards': 1}]
    """
    cols = ["rule_id", "kind", "kind_zh", "severity", "severity_zh", "message_zh", "findings",
            "cards"]
    if not len(findings):
        return pd.DataFrame(columns=cols)
    f = findings.assign(__card=_card_keys(findings).to_numpy())
    g = (f.groupby(["rule_id", "kind", "severity", "message_zh"], sort=False)
         .agg(findings=("__card", "size"), cards=("__card", "nunique")).reset_index())
    g["kind_zh"] = g["kind"].map(KIND_ZH)
    g["severity_zh"] = g["severity"].map(SEVERITY_ZH)
    g["__sev"] = g["severity"].map({s: -i for i, s in enumerate(SEVERITIES)})
    return g.sort_values(["__sev", "findings"], ascending=[True, False], kind="stable")[cols] \
        .reset_index(drop=True)


def severity_counts(findings: pd.DataFrame) -> pd.DataFrame:
    """Findings and faulty cards per severity: ``severity, severity_zh, findings, cards``
    (all three levels, highest first, zeros included)."""
    rows = []
    for s in reversed(SEVERITIES):
        f = findings[findings["severity"] == s] if len(findings) else findings
        rows.append({"severity": s, "severity_zh": SEVERITY_ZH[s], "findings": int(len(f)),
                     "cards": int(_card_keys(f).nunique()) if len(f) else 0})
    return pd.DataFrame(rows)


def summary_text(findings: pd.DataFrame, records: pd.DataFrame, *, snapshot: str = "latest",
                 fail_on: str = "error", top: int = 5) -> str:
    """The Chinese summary ``casework check`` prints (counts by severity, by rule, top
    departments by error rate)."""
    check_choice("fail_on", fail_on, SEVERITIES)
    records = card_rows(records)
    n_cards = len(records)
    sev = severity_counts(findings)
    faulty = int(_card_keys(findings).nunique()) if len(findings) else 0
    lines = [f"案卡质量检查（快照：{snapshot}）",
             f"检查案卡 {n_cards:,} 张（人·环节），发现问题 {len(findings):,} 条，"
             f"涉及案卡 {faulty:,} 张。"]
    lines.append("按严重程度：" + "；".join(
        f"{r.severity_zh} {r.findings:,} 条（{r.cards:,} 张）" for r in sev.itertuples()))
    skipped = findings.attrs.get("skipped") or {}
    if skipped:
        lines.append("因数据缺列未运行的规则：" + "；".join(
            f"{k}（缺 {','.join(v)}）" for k, v in skipped.items()))
    rc = rule_counts(findings)
    if len(rc):
        lines.append("")
        lines.append("按规则：")
        for r in rc.itertuples():
            lines.append(f"  [{SEVERITY_ZH[r.severity]}] {r.rule_id}  {r.message_zh}："
                         f"{r.findings:,} 条")
    if len(findings) and "department" in records.columns:
        several_units = records["unit_code"].nunique() > 1
        keys = ["unit_code", "department"] if several_units else ["department"]
        rates = error_rates(findings, records, by=keys, level=fail_on)
        rates = rates[rates["numerator"] > 0].head(top)
        names = {}
        if "unit_name" in records.columns:
            names = (records.dropna(subset=["unit_name"]).drop_duplicates("unit_code")
                     .set_index("unit_code")["unit_name"].to_dict())
        if len(rates):
            lines.append("")
            lines.append(f"{SEVERITY_ZH[fail_on]}及以上问题案卡占比最高的承办部门：")
            for r in rates.itertuples():
                name = r.department
                if "unit_code" in keys:
                    name = f"{names.get(r.unit_code, r.unit_code)}{r.department}"
                mark = "（超出控制限）" if r.position in ("high_alarm", "high_alert") else ""
                lines.append(f"  {name}：{r.numerator:,} / {r.denominator:,} 张"
                             f"（{r.value:.1%}）{mark}")
    failing = int(at_or_above(findings, fail_on).sum()) if len(findings) else 0
    lines.append("")
    if failing:
        lines.append(f"结论：存在{SEVERITY_ZH[fail_on]}及以上问题 {failing:,} 条，检查未通过。")
    else:
        lines.append(f"结论：无{SEVERITY_ZH[fail_on]}及以上问题，检查通过。")
    return "\n".join(lines)


def check_cli(*, snapshot: str = "latest", fail_on: str = "error", rules=None) -> bool:
    """``casework check``: inspect a snapshot, print the summary, say whether it fails.

    Loads ``records`` through :func:`casework.store.read` (purpose 案卡质量检查, one audit log
    row), runs the rules (``rules``: a user rule file), prints :func:`summary_text`, and
    returns True when findings at or above ``fail_on`` exist (the CLI then exits 1).
    """
    import click

    from casework import store

    check_choice("fail_on", fail_on, SEVERITIES)
    rule_set = load_rules(rules)  # a bad rule file fails before any data are read
    records = store.read("records", snapshot=snapshot, purpose="案卡质量检查")
    findings = run_rules(records, rules=rule_set)
    man = store.manifest(snapshot)
    shown = str(man.get("snapshot_id") or man.get("id") or snapshot)
    click.echo(summary_text(findings, records, snapshot=shown, fail_on=fail_on))
    return bool(at_or_above(findings, fail_on).any()) if len(findings) else False


# ---------------------------------------------------------------------------------------------
# Narrative
# ---------------------------------------------------------------------------------------------


def describe(findings: pd.DataFrame, records: pd.DataFrame, *, level: str = "error",
             rates: pd.DataFrame | None = None, top: int = 3) -> str:
    """Chinese Markdown findings of an inspection, for the report: 总体情况, 存在问题 and
    prompts for 原因分析/对策建议 (for the analyst to complete), all computed.

    Parameters
    ----------
    findings, records : DataFrame
        From :func:`run_rules` and the inspected cards.
    level : {"info", "warning", "error"}
        Severity that counts a card as faulty for the error rate.
    rates : DataFrame, optional
        :func:`error_rates` by ``department`` (computed when omitted).
    top : int
        How many rules to name.

    Returns
    -------
    str
        Markdown bullet list. Departments are named (they are ``open`` in the schema);
        prosecutors and accounts never are.

    Examples
    --------
    >>> rec = pd.DataFrame({"unit_code": ["1"] * 2, "stage": ["arrest_review"] * 2,
    ...     "dept_case_no": ["a", "b"], "person_id": ["p"] * 2, "department": ["一部"] * 2,
    ...     "accepted_on": pd.to_datetime(["2024-01-02"] * 2), "closed_on": pd.NaT})
    >>> print(describe(run_rules(rec.iloc[:0], builtin=False, rules=[]), rec))
    - 共检查案卡2张，未发现问题。
    """
    check_choice("level", level, SEVERITIES)
    records = card_rows(records)
    n = len(records)
    if not len(findings):
        return f"- 共检查案卡{n:,}张，未发现问题。"
    sev = severity_counts(findings).set_index("severity")
    faulty = int(_card_keys(findings[at_or_above(findings, level)]).nunique())
    lines = [
        f"- 共检查案卡{n:,}张，发现问题{len(findings):,}条（"
        + "、".join(f"{SEVERITY_ZH[s]}{int(sev.loc[s, 'findings']):,}条"
                   for s in reversed(SEVERITIES))
        + f"）；{faulty:,}张案卡存在{SEVERITY_ZH[level]}及以上问题，差错率{faulty / n:.1%}。"
        if n else f"- 发现问题{len(findings):,}条。"
    ]
    rc = rule_counts(findings).sort_values("findings", ascending=False, kind="stable").head(top)
    lines.append("- 最常见的问题：" + "；".join(
        f"“{r.message_zh}”{r.findings:,}条" for r in rc.itertuples()) + "。")
    if rates is None and "department" in records.columns:
        rates = error_rates(findings, records, by="department", level=level)
    if rates is not None and len(rates) and "department" in rates.columns:
        high = rates[rates["position"].isin(["high_alarm", "high_alert"])]
        if len(high):
            for r in high.itertuples():
                same = (findings["department"].astype("string").fillna("（未填录）")
                        == r.department).to_numpy()
                sub = findings[same & at_or_above(findings, level).to_numpy()]
                worst = rule_counts(sub).head(1)
                why = (f"，其中以“{worst.iloc[0]['message_zh']}”为主"
                       f"（{int(worst.iloc[0]['findings']):,}条）" if len(worst) else "")
                lines.append(
                    f"- 存在问题：{r.department}差错率{r.value:.1%}（{r.numerator:,}/{r.denominator:,}），"
                    f"高于总体{r.target:.1%}，{POSITION_ZH[r.position]}{why}。"
                    f"原因分析与对策建议（请分析员补充）：核实该部门案卡填录分工与审核环节，"
                    f"对照通报清单逐项整改。")
        else:
            lines.append("- 各承办部门的差错率均在控制限内，差异可由随机波动解释。")
    return "\n".join(lines)
