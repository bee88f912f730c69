"""Header resolution and user mapping files for the importer (:mod:`casework.ingest.importer`).

Export headers are matched to canonical column names (:mod:`casework.model.schema`) without any
configuration: each column's canonical English name, its ``label_zh``, its ``label_en`` and its
``aliases`` are accepted. Matching ignores whitespace (also inside the header), full-width vs
half-width forms (``（`` = ``(``), letter case, ``_``/``-`` in English names, a trailing ``*``
or ``:`` and a trailing unit in brackets — ``刑期``, ``刑期（月）``, ``刑期(个月)`` and
``刑期 （月）`` all mean ``term_months`` (units stripped: 月, 个月, 月份, 元, 人民币元).
Other suffixes (``罚金（万元）``) are *not* stripped: a different unit needs a mapping.

User mapping file (YAML)
------------------------
Anything the built-in names do not cover is described in a small YAML file passed as
``casework import FILE --mapping M.yaml`` (``mapping=`` in
:func:`casework.ingest.importer.import_files`).
Every key is optional::

    table: records                  # records | modifications (default: detected from headers)
    columns:                        # canonical column: source header, or dotted path in JSON
      dept_case_no: 案件编号          #   (a header the built-in aliases do not know)
      term_months: meta.term_of_imprisonment.imprisonment
      charges: {source: meta.accusation, split: ["；", "|"]}   # long form, with list splitting
    recode:                         # canonical column: {source value: code}, applied before
      decision: {诉: prosecute, 不诉: non_prosecution}          #   the built-in label → code
      probation: {适用: true, 不适用: false}
    defaults:                       # constant for a missing column, and for its empty cells;
      stage: judgment               #   in text, {row} is the row number and {file} the
      dept_case_no: "CAIL-{row}"    #   file name (to key corpora that have no case numbers)
    split:                          # list columns: separators (default for charges: ；and ;)
      charges: ["；", ";"]

A source named in ``columns`` wins over every built-in alias; the headers it displaces are
ignored (with a warning). Header matching of ``columns`` sources is as forgiving as above.
``recode`` keys are matched after trimming whitespace; its values are codes (or Chinese
labels, or 是/否 for flags) and then go through the normal conversion. ``split`` applies to
``list`` columns (``charges``) only. Shipped examples: ``casework/resources/mappings/``.

Examples
--------
>>> from casework.ingest import mapping
>>> mapping.match_header("刑期 （月）", "records")
'term_months'
>>> mapping.match_header("ACCEPTED_ON", "records"), mapping.match_header("BMSAH", "records")
('accepted_on', 'dept_case_no')
>>> mapping.detect_table(["单位编码", "部门受案号", "修改项", "修改前", "修改后", "修改账号",
...                       "修改时间"])
'modifications'
>>> m = mapping.load({"columns": {"dept_case_no": "案件编号"}, "defaults": {"stage": "judgment"}})
>>> m.columns, m.defaults
({'dept_case_no': '案件编号'}, {'stage': 'judgment'})
"""

from __future__ import annotations

import functools
import os
import re
import stat
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from casework.base.config import RESOURCES_DIR
from casework.base.errors import ParameterError
from casework.model import schema

#: Folder of the bundled mappings (``--mapping judgment_corpus`` names one of them).
BUNDLED_MAPPINGS = RESOURCES_DIR / "mappings"


def bundled(spec) -> Path | None:
    """The bundled mapping a name or path stands for, when ``spec`` is no existing file.

    ``judgment_corpus``, ``judgment_corpus.yaml`` or a path ending in a bundled mapping's file
    name (``casework/resources/mappings/judgment_corpus.yaml`` typed outside the checkout)
    resolve to ``casework/resources/mappings/judgment_corpus.yaml``; anything else to ``None``.

    Examples
    --------
    >>> bundled("judgment_corpus").name, bundled("no_such_mapping") is None
    ('judgment_corpus.yaml', True)
    """
    path = Path(spec)
    if path.exists():
        return None
    name = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    found = BUNDLED_MAPPINGS / name
    return found if name != ".yaml" and found.is_file() else None

#: Tables an export can be imported into.
IMPORT_TABLES = ("records", "modifications", "supervision")

#: Trailing bracketed units that do not change a column's meaning.
UNIT_SUFFIXES = ("月", "个月", "月份", "元", "人民币元")

#: Headers that only a modifications (change-log) export carries.
_MODIFICATION_ONLY = ("field", "old_value", "new_value", "account", "modified_at")

_SPACE_RE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
_SUFFIX_RE = re.compile(r"^(.+?)\((" + "|".join(UNIT_SUFFIXES) + r")\)$")
_ASCII_SEP_RE = re.compile(r"[_\-.]")


def header_key(text) -> str:
    """The comparison key of a header: NFKC, no whitespace, lower case, no ``*``/``:`` ends.

    Examples
    --------
    >>> header_key(" 建议刑期（月）* ")
    '建议刑期(月)'
    >>> header_key("Accepted On") == header_key("accepted_on")
    True
    """
    s = unicodedata.normalize("NFKC", str(text))
    if not s.isascii():  # invisible format characters (zero-width, bidi marks, soft hyphen)
        s = "".join(ch for ch in s if unicodedata.category(ch) != "Cf")
    s = _SPACE_RE.sub("", s).lower().strip("*:")
    if s.isascii():
        s = _ASCII_SEP_RE.sub("", s)
    return s


def _strip_unit(key: str) -> str | None:
    m = _SUFFIX_RE.match(key)
    return m.group(1) if m else None


@functools.cache
def _index(table: str) -> dict[str, tuple[str, int]]:
    """key -> (canonical name, priority); lower priority wins when two headers compete."""
    idx: dict[str, tuple[str, int]] = {}
    for col in schema.columns(table):
        names = [col.name, col.label_zh, *col.aliases, col.label_en]
        for prio, name in enumerate(names):
            for key in (header_key(name), _strip_unit(header_key(name))):
                if key and (key not in idx or idx[key][1] > prio):
                    idx[key] = (col.name, prio)
    return idx


def match_header(text, table: str) -> str | None:
    """The canonical column a header means in ``table``, or ``None``."""
    found = _match(text, table)
    return found[0] if found else None


def _match(text, table: str) -> tuple[str, int] | None:
    idx = _index(table)
    key = header_key(text)
    if key in idx:
        return idx[key]
    bare = _strip_unit(key)
    if bare and bare in idx:
        return idx[bare]
    return None


def detect_table(headers) -> str | None:
    """``records``, ``modifications`` or ``supervision`` from a file's headers; ``None`` when
    nothing matches."""
    sup = {match_header(h, "supervision") for h in headers} - {None}
    if len(sup & set(schema.SUPERVISION_ONLY)) >= 2:
        return "supervision"
    rec = {match_header(h, "records") for h in headers} - {None}
    mod = {match_header(h, "modifications") for h in headers} - {None}
    if len(mod & set(_MODIFICATION_ONLY)) >= 2:
        return "modifications"
    if rec:
        return "records"
    return "modifications" if mod else None


# ---------------------------------------------------------------------------------------------
# User mapping
# ---------------------------------------------------------------------------------------------


@dataclass
class Mapping:
    """A parsed user mapping (see the module docstring for the YAML format)."""

    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    recode: dict[str, dict[str, object]] = field(default_factory=dict)
    defaults: dict[str, object] = field(default_factory=dict)
    split: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None

    def to_dict(self) -> dict:
        """A JSON-ready description (recorded in the snapshot manifest)."""
        return {"path": str(self.path) if self.path else None, "table": self.table,
                "columns": dict(self.columns),
                "recode": {k: dict(v) for k, v in self.recode.items()},
                "defaults": dict(self.defaults),
                "split": {k: list(v) for k, v in self.split.items()}}


_KEYS = ("table", "columns", "recode", "defaults", "split")

#: A mapping file larger than this is refused (real ones are a few KB).
MAX_MAPPING_BYTES = 1 << 20


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without anchors and aliases: a nested-alias "billion laughs" cannot expand."""

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent) or getattr(self.peek_event(), "anchor", None):
            event = self.peek_event()
            raise yaml.composer.ComposerError(
                None, None, "anchors and aliases (& and *) are not allowed", event.start_mark)
        return super().compose_node(parent, index)


def _bad(zh: str, en: str, where: str) -> ParameterError:
    return ParameterError(
        f"映射文件 {where} 有误：{zh}", f"mapping {where} is invalid: {en}",
        hint="格式见 casework/resources/mappings/example.yaml / "
             "see casework/resources/mappings/example.yaml",
    )


def load(spec) -> Mapping | None:
    """Parse a mapping: ``None``, a :class:`Mapping`, a dict, the path of a YAML file or the
    name of a bundled mapping (:func:`bundled`: ``judgment_corpus``, from any folder).

    Raises :class:`~casework.base.errors.ParameterError` (Chinese and English) for an unreadable
    file, unknown keys or unknown canonical column names.
    """
    if spec is None or isinstance(spec, Mapping):
        return spec
    path = None
    if isinstance(spec, (str, Path)):
        path = bundled(spec) or Path(spec)
        where = path.name
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                raise _bad("不是普通文件（文件夹、命名管道或设备），拒绝读取",
                           "not a regular file (a folder, a FIFO or a device); refused", where)
            if st.st_size > MAX_MAPPING_BYTES:
                raise _bad(f"超过 {MAX_MAPPING_BYTES >> 20} MB", "larger than "
                           f"{MAX_MAPPING_BYTES >> 20} MB", where)
            text = path.read_text(encoding="utf-8-sig")
        except FileNotFoundError:
            raise ParameterError(f"映射文件不存在：{path}",
                                 f"mapping file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as err:
            raise _bad(f"无法读取（须为 UTF-8 文本）：{err}",
                       f"cannot read it (UTF-8 text expected): {err}", where) from None
        try:
            spec = yaml.load(text, Loader=_NoAliasLoader) or {}  # noqa: S506 — safe loader
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            line = f"第 {mark.line + 1} 行" if mark else ""
            line_en = f"line {mark.line + 1}" if mark else ""
            if "aliases" in str(getattr(err, "problem", "")):
                raise _bad(f"{line}使用了 YAML 锚点或别名（& 和 *），不允许",
                           f"{line_en}: YAML anchors and aliases (& and *) are not allowed",
                           where) from None
            raise _bad(f"YAML 语法错误 {line}", f"YAML syntax error {line_en}", where) from None
    else:
        where = "(dict)"
    if not isinstance(spec, dict):
        raise _bad("顶层应为键值对", "the top level must be a mapping of keys", where)
    unknown = [k for k in spec if k not in _KEYS]
    if unknown:
        raise _bad(f"未知的键 {unknown}，可用：{', '.join(_KEYS)}",
                   f"unknown keys {unknown}; allowed: {', '.join(_KEYS)}", where)
    table = spec.get("table")
    if table is not None and table not in IMPORT_TABLES:
        raise _bad(f"table 应为 {' 或 '.join(IMPORT_TABLES)}",
                   f"table must be one of {IMPORT_TABLES}", where)
    known = set().union(*(schema.column_names(t) for t in IMPORT_TABLES))
    if table:
        known = set(schema.column_names(table))

    def _section(name) -> dict:
        value = spec.get(name) or {}
        if not isinstance(value, dict):
            raise _bad(f"{name} 应为“规范列名: 值”的键值对",
                       f"{name} must map canonical columns to values", where)
        bad = [k for k in value if k not in known]
        if bad:
            raise _bad(f"{name} 中有未知的规范列名 {bad}",
                       f"unknown canonical columns in {name}: {bad}", where)
        return value

    columns, split = {}, {}
    for canon, src in _section("columns").items():
        if isinstance(src, dict):
            extra = set(src) - {"source", "split"}
            if extra or "source" not in src:
                raise _bad(f"columns.{canon} 应写成 {{source: 源列, split: 分隔符}}",
                           f"columns.{canon} must be {{source: ..., split: ...}}", where)
            if src.get("split") is not None:
                split[canon] = src["split"]
            src = src["source"]
        if not isinstance(src, (str, int)) or str(src).strip() == "":
            raise _bad(f"columns.{canon} 的源列名为空", f"columns.{canon} names no source", where)
        columns[canon] = str(src)
    recode = {}
    for canon, table_ in _section("recode").items():
        if not isinstance(table_, dict):
            raise _bad(f"recode.{canon} 应为“源值: 代码”的键值对",
                       f"recode.{canon} must map values to codes", where)
        recode[canon] = {str(k).strip(): v for k, v in table_.items()}
    defaults = dict(_section("defaults"))
    for canon, seps in _section("split").items():
        split[canon] = seps
    list_cols = {c.name for t in IMPORT_TABLES for c in schema.columns(t) if c.dtype == "list"}
    for canon, seps in list(split.items()):
        if canon not in list_cols:
            raise _bad(f"split 只适用于列表列（{', '.join(sorted(list_cols))}），不适用于 {canon}",
                       f"split applies to list columns ({', '.join(sorted(list_cols))}) "
                       f"only, not {canon}",
                       where)
        seps = [seps] if isinstance(seps, str) else seps
        if (not isinstance(seps, list) or not seps
                or not all(isinstance(s, str) and s for s in seps)):
            raise _bad(f"split.{canon} 应为一个或多个分隔符",
                       f"split.{canon} must list separators", where)
        split[canon] = list(seps)
    return Mapping(table=table, columns=columns, recode=recode, defaults=defaults, split=split,
                   path=path)


# ---------------------------------------------------------------------------------------------
# Resolution of one file's headers
# ---------------------------------------------------------------------------------------------


@dataclass
class Resolution:
    """How one file's columns map: ``sources[canonical] = position`` of the chosen column."""

    table: str
    sources: dict[str, int]
    ignored: list[str]
    displaced: list[tuple[str, str, str]]  # (header dropped, canonical, header kept)
    duplicated: dict[str, list[int]]  # canonical -> positions of identical headers
    explicit: dict[str, int] = field(default_factory=dict)  # found through mapping.columns


def resolve(headers, *, table: str | None = None, mapping: Mapping | None = None) -> Resolution:
    """Map a file's headers (in order) onto canonical columns of ``table`` (detected if None).

    Examples
    --------
    >>> r = resolve(["单位编码", "受理时间", "备注", "受理日期"])
    >>> r.table, r.sources, r.ignored
    ('records', {'unit_code': 0, 'accepted_on': 3}, ['备注'])
    """
    headers = ["" if h is None else str(h) for h in headers]
    table = table or (mapping.table if mapping else None) or detect_table(headers) or "records"
    explicit: dict[str, int] = {}
    if mapping:
        keys = [header_key(h) for h in headers]
        for canon, src in mapping.columns.items():
            if canon not in schema.column_names(table):
                continue
            pos = [i for i, h in enumerate(headers) if h == src] or \
                  [i for i, k in enumerate(keys) if k == header_key(src)]
            if pos:
                explicit[canon] = pos[0]
    taken = set(explicit.values())
    best: dict[str, tuple[int, int]] = {}
    candidates: dict[str, list[int]] = {}
    ignored = []
    for i, h in enumerate(headers):
        if i in taken:
            continue
        found = _match(h, table)
        if found is None:
            if h.strip():
                ignored.append(h)
            continue
        canon, prio = found
        candidates.setdefault(canon, []).append(i)
        if canon not in best or prio < best[canon][0]:
            best[canon] = (prio, i)
    sources = dict(explicit)
    displaced, duplicated = [], {}
    for canon, pos in candidates.items():
        if canon in explicit:
            keep = explicit[canon]
        else:
            keep = best[canon][1]
            sources[canon] = keep
        same = [i for i in pos
                if header_key(headers[i]) == header_key(headers[keep]) and i != keep]
        if same and canon not in explicit:
            duplicated[canon] = [keep, *same]
        for i in pos:
            if i != keep and i not in same:
                displaced.append((headers[i], canon, headers[keep]))
    order = {c: k for k, c in enumerate(schema.column_names(table))}
    sources = dict(sorted(sources.items(), key=lambda kv: order[kv[0]]))
    return Resolution(table, sources, ignored, displaced, duplicated, explicit)
