"""The indicator registry (指标口径库): every indicator declared once, in YAML.

Each indicator states its numerator and denominator as DuckDB SQL expressions over canonical
columns, the cohort that places a row in a period (受理 / 审结 / 逮捕 / 判决 …), the count units
it allows (人 or 件), its direction and the source of its definition. The built-in registry is
``casework/resources/indicators.yaml``; users add their own indicators (or override a built-in
one by code) in a YAML file of the same shape, passed as ``registry(extra=path)`` or named in the
``CASEWORK_INDICATORS`` environment variable (several paths separated by ``os.pathsep``) —
without touching code.

:mod:`casework.analysis.panel` turns the declarations into one aggregate query per cohort; reports,
narrative and training read names, directions and caveats from here.

Examples
--------
>>> from casework.analysis import indicators
>>> ind = indicators.get("non_arrest_rate")
>>> ind.name_zh, ind.kind, ind.cohort, ind.direction
('不捕率', 'rate', 'closed', 'range')
>>> ind.numerator
"decision = 'non_arrest'"
>>> "post_arrest_bail_rate" in indicators.registry()
True
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pandas as pd
import yaml

from casework.analysis import periods as _periods
from casework.base import config
from casework.base.checks import check_expression
from casework.base.errors import ParameterError
from casework.model import schema

KINDS = ("count", "rate", "mean", "median", "ratio")
TABLES = ("records", "journeys")
DIRECTIONS = ("higher_better", "lower_better", "range")
CI_METHODS = ("wilson", "poisson", "normal", "none")
COUNT_UNITS = {"person": "人", "case": "件"}
STAGES = ("arrest_review", "prosecution_review", "judgment", "all")
GROUPS = {
    "volume": "办案规模",
    "arrest": "审查逮捕",
    "prosecution": "审查起诉",
    "judgment": "审判环节",
    "efficiency": "办案效率",
    "case_ratio": "案-件比",
    "other": "其他",
}

#: Where the built-in registry lives.
BUILTIN_PATH = config.RESOURCES_DIR / "indicators.yaml"

#: Environment variable naming user registry files (``os.pathsep``-separated).
ENV_VAR = "CASEWORK_INDICATORS"


@dataclass(frozen=True)
class Cohort:
    """How rows are placed in a period.

    ``type`` is ``date`` (``column`` inside the period), ``open_at_end`` (accepted by the end
    and not closed by then), ``open_at_start`` (上期积存: accepted before the start and not
    closed before it) or ``active`` (本期受理 + 上期积存: accepted by the end and not closed
    before the start). The state types use ``accepted_on`` and ``closed_on``.
    """

    name: str
    name_zh: str
    type: str = "date"
    column: str | None = None


#: Built-in cohorts; a user YAML may add date cohorts under ``cohorts:``.
BUILTIN_COHORTS: dict[str, Cohort] = {
    "accepted": Cohort("accepted", "受理", "date", "accepted_on"),
    "closed": Cohort("closed", "审结", "date", "closed_on"),
    "arrested": Cohort("arrested", "逮捕", "date", "arrested_on"),
    "judgment": Cohort("judgment", "判决", "date", "judgment_on"),
    "prosecution_closed": Cohort("prosecution_closed", "审查起诉审结", "date",
                                 "prosecution_closed_on"),
    "arrest_closed": Cohort("arrest_closed", "审查逮捕审结", "date", "arrest_closed_on"),
    "open_at_end": Cohort("open_at_end", "期末在办", "open_at_end"),
    "open_at_start": Cohort("open_at_start", "上期积存", "open_at_start"),
    "active": Cohort("active", "本期受理与上期积存", "active"),
}


@dataclass(frozen=True)
class Part:
    """One aggregate an indicator needs: what to aggregate over which rows.

    ``agg`` is ``count`` (rows or cases where ``condition``), ``sum`` / ``n`` / ``sumsq`` /
    ``median`` (of ``value`` where ``condition``), or ``derived`` (the sum of other indicators'
    numerators, ``sum_of``).
    """

    agg: str
    table: str
    cohort: str
    condition: str = "TRUE"
    value: str | None = None
    sum_of: tuple[str, ...] = ()


@dataclass(frozen=True)
class Indicator:
    """One registry entry (see ``casework/resources/indicators.yaml`` for the field meanings).

    Examples
    --------
    >>> ind = get("post_arrest_non_prosecution_rate")
    >>> ind.table, ind.cohort, ind.count_unit_zh()
    ('journeys', 'prosecution_closed', '人')
    >>> print(ind.parts("person")["numerator"].condition.replace(") AND (", ") AND\\n("))
    (arrested_on IS NOT NULL AND prosecution_closed_on IS NOT NULL) AND
    (prosecution_decision = 'non_prosecution')
    """

    code: str
    name_zh: str
    name_en: str
    kind: str
    table: str
    cohort: str
    stage: str = "all"
    group: str = "other"
    where: str | None = None
    numerator: object = None
    denominator: object = None
    value: str | None = None
    numerator_cohort: str | None = None
    denominator_cohort: str | None = None
    nested: bool = True
    count_units: tuple[str, ...] = ("person", "case")
    direction: str = "range"
    ci: str = "none"
    unit_zh: str = ""
    source: str = ""
    caveats: str = ""
    follow_up_months: int = 0
    origin: str = field(default="builtin", compare=False)

    # --- derived facts -----------------------------------------------------------------------
    @property
    def default_unit(self) -> str:
        """The count unit used unless another allowed one is asked for."""
        return self.count_units[0]

    def resolve_unit(self, wanted: str | None) -> str:
        """``wanted`` when this indicator allows it, else its default unit."""
        return wanted if wanted in self.count_units else self.default_unit

    def count_unit_zh(self, unit: str | None = None) -> str:
        """人 or 件 for ``unit`` (default: the indicator's default unit)."""
        return COUNT_UNITS[self.resolve_unit(unit)]

    @property
    def derived(self) -> bool:
        """True when the numerator or denominator is a sum of other indicators."""
        return _is_sum_of(self.numerator) or _is_sum_of(self.denominator)

    def dependencies(self) -> tuple[str, ...]:
        """Codes of the indicators this one is derived from (directly)."""
        out = []
        for spec in (self.numerator, self.denominator):
            if _is_sum_of(spec):
                out.extend(spec["sum_of"])
        return tuple(dict.fromkeys(out))

    def parts(self, unit: str | None = None) -> dict[str, Part]:
        """The aggregates this indicator needs, by role.

        Roles: ``numerator`` and ``denominator`` (all kinds but counts have both), ``sumsq``
        (means, for their interval). Rates count the numerator inside the denominator unless
        ``nested`` is false.
        """
        base = (self.where,)
        num_cohort = self.numerator_cohort or self.cohort
        den_cohort = self.denominator_cohort or self.cohort
        out: dict[str, Part] = {}
        if self.kind in ("mean", "median"):
            cond = _and(base)
            out["numerator"] = Part("sum" if self.kind == "mean" else "median", self.table,
                                    num_cohort, cond, self.value)
            out["denominator"] = Part("n", self.table, den_cohort, cond, self.value)
            if self.kind == "mean":
                out["sumsq"] = Part("sumsq", self.table, num_cohort, cond, self.value)
            return out
        num_spec, den_spec = self.numerator, self.denominator
        if self.kind == "rate" and self.nested and isinstance(den_spec, str):
            num_base = (self.where, den_spec)
        else:
            num_base = base
        out["numerator"] = _part(num_spec, self.table, num_cohort, num_base)
        if self.kind != "count":
            out["denominator"] = _part(den_spec, self.table, den_cohort, base)
        return out

    def columns(self) -> set[str]:
        """Canonical columns the expressions refer to (plus the cohort's columns)."""
        text = " ".join(str(x) for x in (self.where, self.numerator, self.denominator, self.value))
        cols = {c for c in schema.column_names(self.table) if re.search(rf"\b{c}\b", text)}
        for name in {self.cohort, self.numerator_cohort, self.denominator_cohort} - {None}:
            coh = cohorts()[name]
            cols |= {coh.column} if coh.type == "date" else {"accepted_on", "closed_on"}
        return cols

    def immature(self, period, last_month) -> bool:
        """True when the period's cohort has not been followed long enough (尚未成熟).

        An indicator whose numerator happens after the cohort date (``follow_up_months`` > 0:
        捕后取保候审 after the arrest month, 撤回起诉 after the indictment, 上诉 after the
        judgment) is right-censored for recent cohorts: their later events have not happened
        yet, so the rate is too low. A period is immature when its last month is less than
        ``follow_up_months`` months before ``last_month`` (the last month with data).

        Examples
        --------
        >>> ind = get("post_arrest_bail_rate")
        >>> ind.follow_up_months, ind.immature("2026-11", "2026-11")
        (3, True)
        >>> ind.immature("2026-08", "2026-11"), get("non_arrest_rate").immature("2026-11",
        ...                                                                     "2026-11")
        (False, False)
        """
        if not self.follow_up_months or last_month is None:
            return False
        end = _periods.parse(period).months()[-1]
        mature_through = _periods.parse(last_month).months()[-1].shift(-self.follow_up_months)
        return end.start > mature_through.start

    def label(self, unit: str | None = None) -> str:
        """Display name with the count unit for counts, e.g. ``受理审查起诉（人）``."""
        if self.kind == "count":
            return f"{self.name_zh}（{self.count_unit_zh(unit)}）"
        return self.name_zh


def _is_sum_of(spec) -> bool:
    return isinstance(spec, dict) and "sum_of" in spec


def _and(*conds) -> str:
    """AND of conditions; a tuple argument contributes its members, ``TRUE`` is dropped."""
    flat: list[str] = []
    for c in conds:
        flat.extend(c if isinstance(c, tuple) else [c])
    parts = [c for c in flat if c not in (None, "") and str(c).strip().upper() != "TRUE"]
    if not parts:
        return "TRUE"
    if len(parts) == 1:
        return parts[0]
    return " AND ".join(f"({c})" for c in parts)


def _part(spec, table: str, cohort: str, base: str) -> Part:
    if _is_sum_of(spec):
        return Part("derived", table, cohort, sum_of=tuple(spec["sum_of"]))
    if isinstance(spec, dict) and "sum" in spec:
        return Part("sum", table, cohort, _and(base, spec.get("where")), spec["sum"])
    if isinstance(spec, dict) and "count" in spec:
        return Part("count", table, cohort, _and(base, spec["count"]))
    return Part("count", table, cohort, _and(base, None if spec is None else str(spec)))


# ---------------------------------------------------------------------------------------------
# Loading and validation
# ---------------------------------------------------------------------------------------------

_FIELDS = {f for f in Indicator.__dataclass_fields__} - {"origin"}


def _bad_entry(origin: str, code: str, zh: str, en: str) -> ParameterError:
    return ParameterError(f"指标定义有误（{origin}，{code}）：{zh}",
                          f"invalid indicator definition ({origin}, {code}): {en}",
                          hint="参见 casework/resources/indicators.yaml 的字段说明 / "
                               "see the field notes at the top of "
                               "casework/resources/indicators.yaml")


def _read_yaml(path) -> dict:
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"指标定义文件不存在：{path}", f"indicator file not found: {path}")
    try:
        # libyaml's loader when present: the same data, ten times faster (every report reads it)
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader) or {}  # noqa: S506
    except yaml.YAMLError as err:
        raise ParameterError(f"指标定义文件不是有效的 YAML：{path}（{err}）",
                             f"indicator file is not valid YAML: {path} ({err})") from None
    if isinstance(data, list):
        data = {"indicators": data}
    if not isinstance(data, dict) or not isinstance(data.get("indicators", []), list):
        raise ParameterError(f"指标定义文件应包含 indicators: 列表：{path}",
                             f"indicator file must hold an 'indicators:' list: {path}")
    return data


def _build(entry: dict, origin: str, known_cohorts: dict[str, Cohort]) -> Indicator:
    if not isinstance(entry, dict) or "code" not in entry:
        raise _bad_entry(origin, "?", "每个指标须有 code", "every indicator needs a code")
    code = str(entry["code"])
    unknown = set(entry) - _FIELDS
    if unknown:
        raise _bad_entry(origin, code, f"未知字段 {', '.join(sorted(unknown))}",
                         f"unknown field(s) {', '.join(sorted(unknown))}; valid: "
                         f"{', '.join(sorted(_FIELDS))}")
    for req in ("name_zh", "kind", "table", "cohort"):
        if req not in entry:
            raise _bad_entry(origin, code, f"缺少字段 {req}", f"missing field {req}")
    kw = dict(entry)
    kw.setdefault("name_en", code)
    kw["count_units"] = tuple(kw.get("count_units") or ("person", "case"))
    for name, value, choices in (("kind", kw["kind"], KINDS), ("table", kw["table"], TABLES),
                                 ("direction", kw.get("direction", "range"), DIRECTIONS),
                                 ("ci", kw.get("ci", "none"), CI_METHODS),
                                 ("stage", kw.get("stage", "all"), STAGES),
                                 ("group", kw.get("group", "other"), GROUPS)):
        if value not in choices:
            raise _bad_entry(origin, code,
                             f"{name} 的取值 {value!r} 无效，可选：{', '.join(choices)}",
                             f"{name} must be one of {', '.join(choices)}; got {value!r}")
    for u in kw["count_units"]:
        if u not in COUNT_UNITS:
            raise _bad_entry(origin, code, f"计数单位 {u!r} 无效，可选：person, case",
                             f"count unit {u!r} invalid; use person or case")
    for key in ("cohort", "numerator_cohort", "denominator_cohort"):
        if kw.get(key) is not None and kw[key] not in known_cohorts:
            raise _bad_entry(origin, code,
                             f"{key} {kw[key]!r} 无效，可选：{', '.join(known_cohorts)}",
                             f"{key} {kw[key]!r} unknown; valid: {', '.join(known_cohorts)}")
    kind = kw["kind"]
    if kind in ("mean", "median") and not kw.get("value"):
        raise _bad_entry(origin, code, "平均数/中位数指标须有 value 表达式",
                         "mean/median indicators need a value expression")
    if kind in ("count", "rate", "ratio") and kw.get("numerator") is None:
        raise _bad_entry(origin, code, "须有 numerator", "needs a numerator")
    if kind in ("rate", "ratio") and kw.get("denominator") is None:
        raise _bad_entry(origin, code, "比率指标须有 denominator",
                         "rates and ratios need a denominator")
    for role in ("numerator", "denominator"):
        spec = kw.get(role)
        if isinstance(spec, dict) and not ({"sum", "sum_of", "count"} & set(spec)):
            raise _bad_entry(origin, code,
                             f"{role} 须为表达式字符串或 {{sum: …}} / {{sum_of: […]}}",
                             f"{role} must be an expression or {{sum: ...}} / {{sum_of: [...]}}")
        if isinstance(spec, bool):
            kw[role] = "TRUE" if spec else "FALSE"
    lag = kw.get("follow_up_months", 0)
    if isinstance(lag, bool) or not isinstance(lag, int) or lag < 0:
        raise _bad_entry(origin, code, f"follow_up_months 应为非负整数，收到 {lag!r}",
                         f"follow_up_months must be a non-negative integer, got {lag!r}")
    for key in ("where", "value"):
        if isinstance(kw.get(key), bool):
            kw[key] = "TRUE" if kw[key] else "FALSE"
    for key in ("numerator", "denominator", "value", "where"):  # user SQL: no file readers
        spec = kw.get(key)
        parts = spec.values() if isinstance(spec, dict) else [spec]
        for part in parts:
            for text in (part if isinstance(part, list) else [part]):
                if isinstance(text, str):
                    check_expression(text, f"indicator {code}.{key}")
    kw["origin"] = origin
    return Indicator(**kw)


def _load(paths: tuple[str, ...]) -> tuple[dict[str, Indicator], dict[str, Cohort]]:
    known = dict(BUILTIN_COHORTS)
    out: dict[str, Indicator] = {}
    for path in (str(BUILTIN_PATH), *paths):
        data = _read_yaml(path)
        origin = "builtin" if path == str(BUILTIN_PATH) else str(path)
        for name, spec in (data.get("cohorts") or {}).items():
            if not isinstance(spec, dict) or "column" not in spec:
                raise ParameterError(f"队列 {name} 须指定 column（日期列）",
                                     f"cohort {name} needs a date column")
            known[name] = Cohort(name, spec.get("name_zh", name), "date", spec["column"])
        for entry in data.get("indicators") or []:
            ind = _build(entry, origin, known)
            out[ind.code] = ind
    for ind in out.values():  # derived indicators must point at existing ones
        for dep in ind.dependencies():
            if dep not in out:
                raise _bad_entry(ind.origin, ind.code, f"sum_of 引用了不存在的指标 {dep}",
                                 f"sum_of refers to unknown indicator {dep}")
    return out, known


@lru_cache(maxsize=16)
def _cached(paths: tuple[str, ...], stamps: tuple[float, ...]):
    return _load(paths)


def _paths(extra) -> tuple[str, ...]:
    paths: list[str] = []
    env = os.environ.get(ENV_VAR)
    if env:
        paths.extend(p for p in env.split(os.pathsep) if p)
    if extra is not None:
        paths.extend([str(extra)] if isinstance(extra, (str, Path)) else [str(p) for p in extra])
    return tuple(paths)


def _stamps(paths) -> tuple[float, ...]:
    return tuple(Path(p).stat().st_mtime if Path(p).exists() else -1.0
                 for p in (str(BUILTIN_PATH), *paths))


def registry(extra=None) -> dict[str, Indicator]:
    """All indicators by code: the built-in registry plus user files.

    Parameters
    ----------
    extra : path or list of paths, optional
        User YAML files (same shape as the built-in one). Indicators with a new code are
        added; one with a built-in code replaces it. Files named in ``CASEWORK_INDICATORS``
        are read first, then ``extra``.

    Returns
    -------
    dict[str, Indicator]
        In declaration order.

    Raises
    ------
    ParameterError
        When a file is missing, not YAML, or an entry is invalid (unknown field, kind, cohort…).

    Examples
    --------
    >>> reg = registry()
    >>> reg["case_proceeding_ratio"].dependencies()
    ('proceeding_count', 'case_count')
    """
    paths = _paths(extra)
    return dict(_cached(paths, _stamps(paths))[0])


def cohorts(extra=None) -> dict[str, Cohort]:
    """All cohorts (built-in plus those declared in user files)."""
    paths = _paths(extra)
    return dict(_cached(paths, _stamps(paths))[1])


def get(code, *, extra=None) -> Indicator:
    """One indicator by code (an :class:`Indicator` is returned unchanged).

    Examples
    --------
    >>> get("non_prosecution_rate").name_zh
    '不诉率'
    >>> get("no_such_rate")
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: 未知指标 'no_such_rate' ...
    """
    if isinstance(code, Indicator):
        return code
    reg = registry(extra)
    if code not in reg:
        raise ParameterError(
            f"未知指标 {code!r} 。可用指标：{', '.join(reg)}",
            f"unknown indicator {code!r}; available: {', '.join(reg)}",
            hint="可在自己的 YAML 文件中增加指标 / "
                 "add your own in a YAML file (registry(extra=...))",
        )
    return reg[code]


def resolve(indicators, *, extra=None) -> list[Indicator]:
    """A list of indicators from codes, ``"all"``, a group name (``"arrest"``…) or objects.

    Examples
    --------
    >>> [i.code for i in resolve("non_arrest_rate")]
    ['non_arrest_rate']
    >>> len(resolve("all")) == len(registry())
    True
    >>> [i.code for i in resolve("efficiency")][:2]
    ['arrest_review_days_mean', 'arrest_review_days_median']
    """
    reg = registry(extra)
    if indicators is None or (isinstance(indicators, str) and indicators == "all"):
        return list(reg.values())
    if isinstance(indicators, (str, Indicator)):
        indicators = [indicators]
    out: list[Indicator] = []
    for item in indicators:
        if isinstance(item, str) and item not in reg and item in GROUPS:
            out.extend(i for i in reg.values() if i.group == item)
        else:
            out.append(item if isinstance(item, Indicator) else get(item, extra=extra))
    return list({i.code: i for i in out}.values())


def dictionary(indicators="all", *, extra=None, unit: str | None = None) -> pd.DataFrame:
    """The metric dictionary (指标口径说明) as a table for reports and training.

    Returns
    -------
    DataFrame
        Columns ``indicator, name_zh, name_en, group_zh, kind, cohort_zh, count_unit,
        numerator, denominator, direction_zh, source, caveats``.

    Examples
    --------
    >>> d = dictionary(["non_arrest_rate", "prosecution_review_days_mean"])
    >>> d[["indicator", "cohort_zh", "direction_zh"]].values.tolist()
    [['non_arrest_rate', '审结', '区间判断'], ['prosecution_review_days_mean', '审结', '越低越好']]
    """
    coh = cohorts(extra)
    rows = []
    for ind in resolve(indicators, extra=extra):
        num = ind.value if ind.kind in ("mean", "median") else ind.numerator
        rows.append({
            "indicator": ind.code,
            "name_zh": ind.name_zh,
            "name_en": ind.name_en,
            "group_zh": GROUPS[ind.group],
            "kind": ind.kind,
            "cohort_zh": coh[ind.cohort].name_zh,
            "count_unit": ind.count_unit_zh(unit),
            "numerator": _spec_text(num),
            "denominator": _spec_text(ind.denominator),
            "direction_zh": DIRECTION_ZH[ind.direction],
            "source": ind.source,
            "caveats": ind.caveats,
        })
    return pd.DataFrame(rows)


DIRECTION_ZH = {"higher_better": "越高越好", "lower_better": "越低越好", "range": "区间判断"}

_BRIEF = {"name_zh": "指标", "cohort_zh": "计入期间依据", "count_unit": "计数单位",
          "direction_zh": "方向", "caveats": "说明"}
_TECHNICAL = {"name_zh": "指标", "numerator": "分子", "denominator": "分母", "source": "口径来源"}


def definitions_table(indicators="all", *, extra=None, unit: str | None = None,
                      technical: bool = False) -> pd.DataFrame:
    """The metric dictionary as a report table with Chinese headers.

    The brief form (what a reader needs beside the numbers) has 指标, 计入期间依据, 计数单位,
    方向, 说明; ``technical=True`` gives 指标, 分子, 分母 (the expressions the query runs) and
    口径来源, for an appendix.

    Examples
    --------
    >>> list(definitions_table(["non_arrest_rate"]).columns)
    ['指标', '计入期间依据', '计数单位', '方向', '说明']
    >>> definitions_table(["non_arrest_rate"], technical=True)["分子"].tolist()
    ["decision = 'non_arrest'"]
    """
    labels = _TECHNICAL if technical else _BRIEF
    return dictionary(indicators, extra=extra, unit=unit)[list(labels)].rename(columns=labels)


def _spec_text(spec) -> str:
    if spec is None:
        return ""
    if _is_sum_of(spec):
        return " + ".join(get(c).name_zh for c in spec["sum_of"])
    if isinstance(spec, dict) and "sum" in spec:
        return f"SUM({spec['sum']})"
    return str(spec)
