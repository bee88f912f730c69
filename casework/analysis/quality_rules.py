"""Case-card quality rules (案卡规范性检测规则): loading, merging and compiling the rule set.

Rules are data. The built-in set lives in ``casework/resources/quality_rules.yaml``; a user
file adds rules, overrides built-in ones by ``id`` (only the keys it gives) or switches them
off with ``enabled: false``. Each rule compiles to a DuckDB SQL predicate over the canonical
columns that is TRUE on a faulty card, so one engine (:func:`casework.analysis.quality.run_rules`)
runs every kind:

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
>>> rs = load_rules([{"id": "x", "kind": "consistency", "severity": "error",
...                   "message_zh": "审结日期早于受理日期", "fields": ["accepted_on", "closed_on"],
...                   "condition": "closed_on < accepted_on"}], builtin=False)
>>> rs[0].predicate
'(closed_on < accepted_on)'
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from casework.base import config
from casework.base.checks import check_expression
from casework.base.errors import ParameterError, check_choice
from casework.model import schema

#: Severity levels, lowest first.
SEVERITIES = ("info", "warning", "error")


SEVERITY_ZH = {"info": "提示", "warning": "警告", "error": "错误"}


#: Rule kinds.
KINDS = ("completeness", "validity", "consistency", "timeliness")


KIND_ZH = {"completeness": "必填项", "validity": "规范性", "consistency": "逻辑关联",
           "timeliness": "及时性"}


#: The built-in rule file.
BUILTIN_RULES = config.RESOURCES_DIR / "quality_rules.yaml"


_ALLOWED_KEYS = {"id", "kind", "severity", "message_zh", "fields", "applies_to", "when",
                 "condition", "required", "codes", "range", "field", "event", "entered",
                 "max_days",
                 "enabled", "description", "source"}


_KIND_PARAMS = {"completeness": ("required",), "validity": ("codes", "range"),
                "consistency": (), "timeliness": ("event",)}


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


def rule_error(rule_id, zh, en, hint=None) -> ParameterError:
    """The :class:`~casework.base.errors.ParameterError` for a faulty rule (names the rule).

    Examples
    --------
    >>> str(rule_error("r1", "缺少 kind", "missing kind")).startswith("质量规则 r1：缺少 kind")
    True
    """
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
            raise rule_error(rid, f"condition 与 {clashing[0]} 不能同时给出",
                       f"give either condition or {clashing[0]}, not both")
        return f"({spec['condition']})"
    if kind == "completeness":
        req = spec.get("required")
        if not req:
            raise rule_error(rid, "必填项规则须给出 required（必填列）或 condition",
                       "a completeness rule needs `required: [columns]` or `condition`")
        parts = [f"({c} IS NULL OR trim(CAST({c} AS VARCHAR)) = '')" if _is_text(c)
                 else f"{c} IS NULL" for c in req]
        return "(" + " OR ".join(parts) + ")"
    if kind == "validity":
        target = spec.get("field")
        if target is None:
            if len(spec["fields"]) != 1:
                raise rule_error(rid, "fields 含多列时须用 field 指明被检查的列",
                           "with several fields, name the checked column with `field`")
            target = spec["fields"][0]
        if spec.get("codes") is not None:
            try:
                values = _code_values(spec["codes"])
            except KeyError:
                opts = ", ".join(["charge", "charge_group", *schema.CODE_TABLES])
                raise rule_error(rid, f"代码表 {spec['codes']!r} 不存在，可选：{opts}",
                           f"unknown code table {spec['codes']!r}; choose one of {opts}") from None
            return f"({target} NOT IN ({', '.join(_sql_str(v) for v in values)}))"
        if spec.get("range") is not None:
            rng = spec["range"]
            if not isinstance(rng, (list, tuple)) or len(rng) != 2:
                raise rule_error(rid, "range 须为 [下限, 上限]", "range must be [min, max]")
            lo, hi = rng
            parts = []
            if lo is not None:
                parts.append(f"{target} < {float(lo)!r}")
            if hi is not None:
                parts.append(f"{target} > {float(hi)!r}")
            if not parts:
                raise rule_error(rid, "range 的上下限不能都为空", "range needs at least one bound")
            return "(" + " OR ".join(parts) + ")"
        raise rule_error(rid, "规范性规则须给出 codes、range 或 condition",
                   "a validity rule needs `codes`, `range` or `condition`")
    if kind == "timeliness":
        event, entered = spec.get("event"), spec.get("entered", "entered_at")
        days = spec.get("max_days")
        if not event or days is None:
            raise rule_error(rid, "及时性规则须给出 event（事件日期列）和 max_days（天数）",
                       "a timeliness rule needs `event` and `max_days`")
        return (f"(date_diff('day', CAST({event} AS DATE), CAST({entered} AS DATE))"
                f" > {int(days)})")
    raise rule_error(rid, "逻辑关联规则须给出 condition", "a consistency rule needs `condition`")


def _scope(spec: dict) -> str | None:
    parts = []
    applies = spec.get("applies_to") or {}
    if not isinstance(applies, dict):
        raise rule_error(spec["id"], "applies_to 须为 {stage: [...], case_type: [...]}",
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
        raise rule_error(rid, f"未知的键 {unknown}", f"unknown keys {unknown}",
                   hint="可用的键 / allowed: " + ", ".join(sorted(_ALLOWED_KEYS)))
    for key in ("kind", "severity", "message_zh", "fields"):
        if spec.get(key) in (None, "", []):
            raise rule_error(rid, f"缺少 {key}", f"missing {key}")
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
    for key in ("condition", "when"):  # user SQL: never a file reader or a sub-query
        if isinstance(spec.get(key), str):
            check_expression(spec[key], f"rule {rid}.{key}")
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
                raise ParameterError(f"内置规则 id 重复：{spec['id']}",
                                     f"duplicate id {spec['id']}")
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
