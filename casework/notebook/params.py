"""Typed report parameters: sidecar YAML files, validation, run definitions (批处理运行定义).

Every report template ``notebooks/reports/<key>.ipynb`` has a sidecar ``<key>.yaml``::

    title_zh: 数据概况
    title_en: Snapshot overview
    description: 快照中有哪些数据
    parameters:
      period: {type: period, default: "2024-05", description: 统计期间}
      unit:   {type: string, default: "all", description: 单位编码，all 表示全部}
      level:  {type: choice, choices: [internal, circulated], default: internal, description: 密级}

Types: ``string``, ``int``, ``float``, ``bool``, ``period``, ``choice`` (with ``choices``),
``list`` (of strings). Values are checked **before** a kernel starts; strings stay strings
(pitfall P3: a unit code ``"0101"`` never becomes the number 101).

The folder of templates is :func:`templates_dir` (``CASEWORK_TEMPLATES`` overrides it, which the
tests use to run a deliberately failing template).

Examples
--------
>>> from casework.notebook import params
>>> spec = params.ParamSpec("unit", "string", default="all", description="单位编码")
>>> params.coerce(spec, "0101")
'0101'
>>> params.coerce(params.ParamSpec("n", "int", default=5), "12", from_text=True)
12
>>> params.coerce(spec, 101)
Traceback (most recent call last):
...
casework.base.errors.ParameterError: 参数 unit 应为 字符串（string），收到 int 101；...
parameter unit must be a string, got int 101; quote codes and dates in YAML
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from casework.analysis import periods
from casework.base import config
from casework.base.errors import ParameterError

#: Parameter types a sidecar may declare, with their Chinese names.
TYPES = {
    "string": "字符串",
    "int": "整数",
    "float": "数值",
    "bool": "是/否",
    "period": "统计期间",
    "choice": "可选值",
    "list": "列表",
}

#: Access levels of reports (issue #8): what each shows is documented in the README.
LEVELS = ("internal", "circulated")

#: Names the runner injects into every notebook beside the sidecar parameters.
RUN_VARIABLE = "casework_run"

_TRUE = {"true", "yes", "y", "1", "是", "t", "on"}
_FALSE = {"false", "no", "n", "0", "否", "f", "off"}


def templates_dir() -> Path:
    """Folder of report templates: ``CASEWORK_TEMPLATES``, else
    :func:`casework.base.config.templates_dir` (the workspace's copies or the shipped ones)."""
    env = os.environ.get("CASEWORK_TEMPLATES")
    return Path(env).resolve() if env else config.templates_dir()


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter of a template.

    Attributes
    ----------
    name, type : str
        Parameter name and one of :data:`TYPES`.
    default : object
        Default value (``None`` = required).
    description : str
        Chinese description shown in errors and in the provenance table.
    choices : tuple
        Allowed values for ``choice`` (and for each item of ``list`` when given).
    low, high : float, optional
        Inclusive range of an ``int`` or ``float`` parameter (sidecar keys ``min`` and ``max``),
        checked before a kernel starts.
    """

    name: str
    type: str
    default: Any = None
    description: str = ""
    choices: tuple = ()
    low: float | None = None
    high: float | None = None

    @property
    def required(self) -> bool:
        """True when the parameter has no default."""
        return self.default is None

    def describe(self) -> str:
        """One line: ``name (type, 中文类型) 默认 … — description``."""
        extra = f"，可选 {'/'.join(map(str, self.choices))}" if self.choices else ""
        if self.low is not None or self.high is not None:
            extra += f"，范围 {_bound(self.low)}–{_bound(self.high)}"
        dflt = "必填 required" if self.required else f"默认 {self.default!r}"
        kind = f"{self.type}/{TYPES.get(self.type, '?')}{extra}"
        return f"{self.name} ({kind}; {dflt}) — {self.description}"


@dataclass(frozen=True)
class Sidecar:
    """A template's sidecar: key, titles, description and declared parameters."""

    key: str
    title_zh: str
    title_en: str
    description: str
    parameters: dict[str, ParamSpec]
    path: Path
    notebook: Path
    extra: dict = field(default_factory=dict)

    def listing(self) -> str:
        """Every valid parameter, one per line (used in error messages)."""
        return "\n".join("  " + p.describe() for p in self.parameters.values())


def discover(folder: str | Path | None = None) -> list[str]:
    """Template keys in ``folder``: every ``<key>.yaml`` with a ``<key>.ipynb`` beside it.

    Examples
    --------
    >>> "snapshot_overview" in discover()
    True
    """
    folder = Path(folder) if folder else templates_dir()
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("*.yaml") if p.with_suffix(".ipynb").exists())


def _bound(value) -> str:
    return "" if value is None else f"{value:g}"


def _in_range(spec: ParamSpec, value):
    """``value`` when it lies within the spec's ``min``/``max``, else a bilingual error."""
    too_low = spec.low is not None and value < spec.low
    if too_low or (spec.high is not None and value > spec.high):
        lo, hi = _bound(spec.low), _bound(spec.high)
        raise ParameterError(f"参数 {spec.name} 的取值 {value!r} 超出范围 {lo}–{hi}",
                             f"{spec.name} must lie within {lo}..{hi}; got {value!r}")
    return value


def load_sidecar(template: str, *, folder: str | Path | None = None) -> Sidecar:
    """Read and check the sidecar of ``template``.

    Raises
    ------
    ParameterError
        Unknown template (the message lists the available ones) or a malformed sidecar.

    Examples
    --------
    >>> sc = load_sidecar("snapshot_overview")
    >>> sc.parameters["period"].type, sc.title_zh
    ('period', '数据概况')
    """
    folder = Path(folder).resolve() if folder else templates_dir()
    path = folder / f"{template}.yaml"
    nb = folder / f"{template}.ipynb"
    if not (isinstance(template, str) and template.replace("_", "").isalnum()
            and path.exists() and nb.exists()):
        avail = ", ".join(discover(folder)) or "（无 / none）"
        raise ParameterError(
            f"没有名为 {template!r} 的报告模板。可用模板：{avail}",
            f"no report template named {template!r}. Available: {avail}",
            hint=f"模板目录 / templates folder: {folder}",
        )
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParameterError(f"模板参数文件 {path.name} 不是合法的 YAML：{err}",
                             f"sidecar {path.name} is not valid YAML: {err}") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("parameters"), dict):
        raise ParameterError(f"模板参数文件 {path.name} 缺少 parameters 段",
                             f"sidecar {path.name} has no 'parameters' mapping")
    specs = {}
    for name, d in raw["parameters"].items():
        if not isinstance(d, dict) or d.get("type") not in TYPES:
            raise ParameterError(
                f"模板参数文件 {path.name} 中参数 {name} 的类型无效，可用类型：{', '.join(TYPES)}",
                f"sidecar {path.name}: parameter {name} needs a type among {', '.join(TYPES)}")
        if d["type"] == "choice" and not d.get("choices"):
            raise ParameterError(f"模板参数文件 {path.name} 中参数 {name} 缺少 choices",
                                 f"sidecar {path.name}: choice parameter {name} needs 'choices'")
        specs[name] = ParamSpec(str(name), d["type"], d.get("default"),
                                str(d.get("description", "")), tuple(d.get("choices") or ()),
                                d.get("min"), d.get("max"))
    known = {"title_zh", "title_en", "description", "parameters"}
    return Sidecar(template, str(raw.get("title_zh", template)),
                   str(raw.get("title_en", template)), str(raw.get("description", "")), specs,
                   path, nb, {k: v for k, v in raw.items() if k not in known})


def _mistyped(spec: ParamSpec, value, expected_zh: str) -> ParameterError:
    return ParameterError(
        f"参数 {spec.name} 应为 {expected_zh}（{spec.type}），"
        f"收到 {type(value).__name__} {value!r}；"
        "请给 YAML 中的编码和日期加引号",
        f"parameter {spec.name} must be a {spec.type}, got {type(value).__name__} {value!r}; "
        "quote codes and dates in YAML",
    )


def coerce(spec: ParamSpec, value, *, from_text: bool = False):
    """Check ``value`` against ``spec`` and return it typed.

    Parameters
    ----------
    spec : ParamSpec
    value : object
        A typed value (from YAML or Python), or text from the command line.
    from_text : bool
        ``value`` came from ``-p key=value``: parse ints, floats, bools and comma lists from
        text. Typed values are never converted between types (a YAML number for a string
        parameter is an error, since ``0101`` would have lost its leading zero).

    Returns
    -------
    object
        ``str`` for string/period/choice, ``int``, ``float``, ``bool`` or ``list[str]``;
        periods are returned as their canonical code (``"2024-Q2"``).

    Examples
    --------
    >>> coerce(ParamSpec("period", "period"), "2024q2", from_text=True)
    '2024-Q2'
    >>> coerce(ParamSpec("flag", "bool"), "否", from_text=True)
    False
    >>> coerce(ParamSpec("units", "list"), "0101, 0102", from_text=True)
    ['0101', '0102']
    """
    t = spec.type
    if t == "string":
        if not isinstance(value, str):
            raise _mistyped(spec, value, "字符串")
        return value
    if t == "period":
        if isinstance(value, int) and not isinstance(value, bool) and 1900 < value < 3000:
            value = str(value)  # an unquoted year is unambiguous
        if not isinstance(value, str):
            raise _mistyped(spec, value, "统计期间")
        return periods.parse(value).code
    if t == "choice":
        if from_text or isinstance(value, str):
            value = str(value)
        if value not in spec.choices:
            opts = ", ".join(map(str, spec.choices))
            raise ParameterError(f"参数 {spec.name} 的取值 {value!r} 无效，可选：{opts}",
                                 f"{spec.name} must be one of {opts}; got {value!r}")
        return value
    if t == "bool":
        if isinstance(value, bool):
            return value
        if from_text and isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise _mistyped(spec, value, "是/否")
    if t == "int":
        if isinstance(value, bool):
            raise _mistyped(spec, value, "整数")
        if isinstance(value, int):
            return _in_range(spec, value)
        if from_text and isinstance(value, str):
            try:
                return _in_range(spec, int(value.strip()))
            except ValueError:
                pass
        raise _mistyped(spec, value, "整数")
    if t == "float":
        if isinstance(value, bool):
            raise _mistyped(spec, value, "数值")
        if isinstance(value, (int, float)):
            return _in_range(spec, float(value))
        if from_text and isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                number = None
            if number is not None:
                return _in_range(spec, number)
        raise _mistyped(spec, value, "数值")
    if t == "list":
        if from_text and isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
            raise _mistyped(spec, value, "字符串列表")
        if spec.choices:
            bad = [v for v in value if v not in spec.choices]
            if bad:
                opts = ", ".join(map(str, spec.choices))
                raise ParameterError(f"参数 {spec.name} 含无效取值 {bad}，可选：{opts}",
                                     f"{spec.name}: invalid items {bad}; valid: {opts}")
        return list(value)
    raise ParameterError(f"未知参数类型 {t}", f"unknown parameter type {t}")  # pragma: no cover


def validate(sidecar: Sidecar, values: dict, *, from_text: tuple | set = ()) -> dict:
    """Check a full set of parameter values against ``sidecar``; apply defaults.

    Parameters
    ----------
    sidecar : Sidecar
    values : dict
        Given values. Keys in ``from_text`` are parsed from command-line text.
    from_text : collection of str
        Names whose value is text from ``-p key=value``.

    Returns
    -------
    dict
        Every declared parameter, typed, in sidecar order.

    Raises
    ------
    ParameterError
        Unknown, missing or mistyped parameters; the message lists every valid parameter with
        its type and Chinese description.

    Examples
    --------
    >>> sc = load_sidecar("snapshot_overview")
    >>> validate(sc, {"period": "2024-05"})["unit"]
    'all'
    >>> validate(sc, {"period": "2024-05", "colour": "red"})
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: 模板 snapshot_overview 没有参数 colour。有效参数：
    ...
    """
    unknown = [k for k in values if k not in sidecar.parameters]
    if unknown:
        raise ParameterError(
            f"模板 {sidecar.key} 没有参数 {', '.join(unknown)}。有效参数：\n{sidecar.listing()}",
            f"template {sidecar.key} has no parameter {', '.join(unknown)}; valid parameters are "
            "listed above",
        )
    out = {}
    for name, spec in sidecar.parameters.items():
        if name in values and values[name] is not None:
            try:
                out[name] = coerce(spec, values[name], from_text=name in from_text)
            except ParameterError as err:
                raise ParameterError(f"{err.zh}\n有效参数：\n{sidecar.listing()}", err.en,
                                     hint=err.hint) from None
        elif spec.required:
            raise ParameterError(
                f"模板 {sidecar.key} 缺少必填参数 {name}。有效参数：\n{sidecar.listing()}",
                f"template {sidecar.key} needs parameter {name}",
            )
        else:
            out[name] = coerce(spec, spec.default)
    return out


def parse_assignments(items) -> dict[str, str]:
    """Parse ``["key=value", ...]`` from ``-p`` options into a dict of text values.

    Examples
    --------
    >>> parse_assignments(["top_n=10", "note=a=b"])
    {'top_n': '10', 'note': 'a=b'}
    """
    out = {}
    for item in items or ():
        key, sep, val = str(item).partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"参数 {item!r} 的格式应为 key=value",
                                 f"parameter {item!r} must look like key=value")
        out[key.strip()] = val
    return out


# --------------------------------------------------------------------------------------------
# Run definitions: params/monthly/<YYYY-MM>.yaml
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDefinition:
    """A batch: period × units × templates at one access level.

    Attributes
    ----------
    period : str
        Canonical period code.
    units : list[str] or str
        Unit codes, or ``"all"`` (one report over all units) or ``"each"`` (one per unit in the
        snapshot).
    templates : list[str]
        Template keys (``"all"`` in the file = every template discovered).
    level : str
        ``internal`` or ``circulated``.
    params : dict[str, dict]
        Extra parameters per template key.
    path : Path or None
        The file it came from.
    snapshot : str or None
        Snapshot id the batch reads (``None`` = the latest at run time); set it to re-run a
        past month on the data it used.
    """

    period: str
    units: list | str
    templates: list[str]
    level: str = "internal"
    params: dict = field(default_factory=dict)
    path: Path | None = None
    snapshot: str | None = None


def _run_error(path, zh: str, en: str) -> ParameterError:
    example = ('period: "2024-05"\nunits: all        # 或 each，或 ["371302", "371311"]\n'
               'templates: all    # 或 [snapshot_overview, ...]\nlevel: internal    # '
               '或 circulated')
    return ParameterError(f"运行定义 {path} 有误：{zh}", f"run definition {path}: {en}",
                          hint=f"示例 / example:\n{example}")


def load_run(path: str | Path, *, folder: str | Path | None = None) -> RunDefinition:
    """Read and check a run definition (``params/monthly/2024-05.yaml``).

    Keys: ``period`` (required, quoted), ``units`` (list, ``all`` or ``each``; default ``all``),
    ``templates`` (list or ``all``; default ``all``), ``level`` (default ``internal``),
    ``params`` (optional mapping template → {name: value}), ``snapshot`` (optional snapshot
    id; default the latest at run time). Template parameters are validated
    against their sidecars here, before any kernel starts.

    Raises
    ------
    ParameterError
        Bilingual message naming the file and the offending key, with an example.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "2024-05.yaml"
    >>> _ = f.write_text('period: "2024-05"\\nunits: [371302]\\n', encoding="utf-8")
    >>> load_run(f)
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: 运行定义 ... 有误：units 中的单位编码必须是...
    ...
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"运行定义文件不存在：{path}", f"run definition not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as err:
        raise _run_error(path, f"不是合法的 UTF-8 YAML（{err}）",
                         f"not valid UTF-8 YAML ({err})") from None
    if not isinstance(raw, dict):
        raise _run_error(path, "内容应为键值映射", "must be a mapping of keys")
    allowed = {"period", "units", "templates", "level", "params", "snapshot", "title",
               "description"}
    extra = sorted(set(raw) - allowed)
    if extra:
        raise _run_error(path, f"未知键 {', '.join(map(str, extra))}；"
                               f"可用键：{', '.join(sorted(allowed))}",
                         f"unknown keys {', '.join(map(str, extra))}; allowed:"
                         f" {', '.join(sorted(allowed))}")
    if "period" not in raw:
        raise _run_error(path, "缺少 period（统计期间）", "missing 'period'")
    per = raw["period"]
    if isinstance(per, int) and not isinstance(per, bool):
        per = str(per)
    if not isinstance(per, str):
        raise _run_error(path, f"period 必须是带引号的字符串，收到 {per!r}",
                         f"period must be a quoted string, got {per!r}")
    try:
        period = periods.parse(per).code
    except ParameterError as err:
        raise _run_error(path, err.zh, err.en) from None
    units = raw.get("units", "all")
    if isinstance(units, str):
        if units not in ("all", "each"):
            units = [units]
    elif isinstance(units, list) and units:
        bad = [u for u in units if not isinstance(u, str)]
        if bad:
            raise _run_error(path, "units 中的单位编码必须是带引号的字符串，"
                                   f"收到 {', '.join(map(str, bad))}",
                             f"unit codes in 'units' must be quoted strings; got {bad}")
    else:
        raise _run_error(path, "units 应为 all、each 或单位编码列表",
                         "units must be all, each or a list of codes")
    level = raw.get("level", "internal")
    if level not in LEVELS:
        raise _run_error(path, f"level 应为 {' 或 '.join(LEVELS)}，收到 {level!r}",
                         f"level must be one of {', '.join(LEVELS)}; got {level!r}")
    avail = discover(folder)
    templates = raw.get("templates", "all")
    if templates == "all":
        templates = avail
    elif isinstance(templates, str):
        templates = [templates]
    if (not isinstance(templates, list) or not templates
            or not all(isinstance(t, str) for t in templates)):
        raise _run_error(path, "templates 应为 all 或模板名列表",
                         "templates must be 'all' or a list of keys")
    unknown = [t for t in templates if t not in avail]
    if unknown:
        raise _run_error(path, f"未知模板 {', '.join(unknown)}；可用模板：{', '.join(avail)}",
                         f"unknown templates {', '.join(unknown)}; available: {', '.join(avail)}")
    extra_params = raw.get("params") or {}
    if (not isinstance(extra_params, dict)
            or not all(isinstance(v, dict) for v in extra_params.values())):
        raise _run_error(path, "params 应为 模板名 → {参数: 值} 的映射",
                         "params must map template keys to {name: value}")
    for key, vals in extra_params.items():
        if key not in templates:
            raise _run_error(path, f"params 中的模板 {key} 不在 templates 中",
                             f"params names template {key} not in templates")
        sc = load_sidecar(key, folder=folder)
        reserved = {"period", "unit", "level"} & set(vals)
        if reserved:
            raise _run_error(path,
                             f"params 中不能设置 {', '.join(reserved)}（由运行定义统一给出）",
                             f"params may not set {', '.join(reserved)} (the run "
                             "definition sets them)")
        try:
            validate(sc, {"period": period, **vals} if "period" in sc.parameters else vals)
        except ParameterError as err:
            raise _run_error(path, err.zh, err.en) from None
    snap = raw.get("snapshot")
    if snap is not None and (not isinstance(snap, str) or not snap.strip()):
        raise _run_error(path, f"snapshot 应为带引号的快照编号，收到 {snap!r}",
                         f"snapshot must be a quoted snapshot id, got {snap!r}")
    return RunDefinition(period, units, list(templates), level, dict(extra_params), path,
                         snap.strip() if snap else None)


__all__ = ["TYPES", "LEVELS", "ParamSpec", "Sidecar", "RunDefinition", "templates_dir", "discover",
           "load_sidecar", "coerce", "validate", "parse_assignments", "load_run"]
