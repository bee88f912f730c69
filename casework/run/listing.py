"""``casework list …``: one line per snapshot, template, indicator, quality rule or mapping,
with its Chinese label.

Examples
--------
>>> lines = list_lines("templates")
>>> any(line.startswith("snapshot_overview") for line in lines)
True
>>> list_lines("colours")
Traceback (most recent call last):
...
casework.base.errors.ParameterError: ...
"""

from __future__ import annotations

from pathlib import Path

from casework import store
from casework.analysis import indicators, quality
from casework.base import config
from casework.base.errors import check_choice
from casework.notebook import params as _params

#: What ``casework list`` can list, with its Chinese name.
KINDS = {"snapshots": "数据快照", "templates": "报告模板", "indicators": "指标",
         "rules": "案卡质量规则", "mappings": "导入映射"}


def _snapshots() -> list[str]:
    df = store.snapshots()
    out = []
    for row in df.itertuples(index=False):
        mark = "  （最新）" if row.latest else ""
        when = row.created_at.tz_convert(None).strftime("%Y-%m-%d %H:%M") \
            if row.created_at is not None else ""
        out.append(f"{row.snapshot}  导入于 {when}  案卡 {row.records} 行  "
                   f"修改日志 {row.modifications} 行  导入账号 {row.account}{mark}")
    return out


def _templates() -> list[str]:
    return [f"{key}  {_params.load_sidecar(key).title_zh}" for key in _params.discover()]


def _indicators() -> list[str]:
    return [f"{code}  {ind.name_zh}  （{indicators.GROUPS[ind.group]}）"
            for code, ind in indicators.registry().items()]


def _rules() -> list[str]:
    return [f"{r.id}  {r.message_zh}  （{quality.SEVERITY_ZH[r.severity]}）"
            for r in quality.load_rules()]


#: Chinese titles of the built-in mappings whose file opens in English.
MAPPING_TITLES = {"judgment_corpus": "公开刑事裁判文书语料（JSON Lines）导入映射"}


def mapping_label(path: Path) -> str:
    """The Chinese title of a mapping YAML: :data:`MAPPING_TITLES`, else its first comment
    line without the ``#``."""
    if Path(path).stem in MAPPING_TITLES:
        return MAPPING_TITLES[Path(path).stem]
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("#") and line.strip("# "):
            return line.strip("# ").strip()
    return ""


def _mappings() -> list[str]:
    folder = config.RESOURCES_DIR / "mappings"
    return [f"{p.stem}  {mapping_label(p)}  {p}" for p in sorted(folder.glob("*.yaml"))]


def list_lines(kind: str) -> list[str]:
    """One line per item of ``kind`` (see :data:`KINDS`): its key, then its Chinese label.

    Raises
    ------
    ParameterError
        Unknown kind; ``StoreError`` for snapshots when the store cannot be read.
    """
    check_choice("kind", kind, tuple(KINDS))
    return {"snapshots": _snapshots, "templates": _templates, "indicators": _indicators,
            "rules": _rules, "mappings": _mappings}[kind]()


__all__ = ["KINDS", "MAPPING_TITLES", "list_lines", "mapping_label"]
