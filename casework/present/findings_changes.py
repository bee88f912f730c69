"""What changed since the report last ran: findings new, continuing or resolved.

A finding is the pair (``entity_id``, ``indicator``) of a ``findings.json`` item (the
findings contract, :mod:`casework.notebook.findings`). :func:`compare` sorts the findings of
this report and of its previous run (the same template and unit, the latest earlier period)
into three lists; :func:`changes_text` says it in one Chinese sentence, every number counted.

Examples
--------
>>> def item(eid, ind, name, ind_name):
...     return {"entity_id": eid, "indicator": ind, "entity_name": name,
...             "indicator_name": ind_name}
>>> prev = {"period_label": "2024年4月", "findings": [
...     item("a", "x", "甲院", "捕后取保率"), item("b", "x", "乙院", "捕后取保率")]}
>>> now = [item("a", "x", "甲院", "捕后取保率"), item("c", "y", "丙院", "退查率")]
>>> ch = compare(now, prev)
>>> [len(ch[k]) for k in ("new", "continuing", "resolved")]
[1, 1, 1]
>>> print(changes_text(ch).replace("，已", "，\\n已"))
与上次报告（2024年4月）相比：新出现 1 项（丙院 退查率），持续 1 项（甲院 捕后取保率），
已不再出现 1 项（乙院 捕后取保率）。
"""

from __future__ import annotations

#: How many names a list shows before "等 N 项".
SHOWN = 3


def _key(item: dict) -> tuple[str, str]:
    return str(item.get("entity_id")), str(item.get("indicator"))


def compare(current: list[dict], previous: dict | None) -> dict:
    """Sort findings into ``new``, ``continuing`` and ``resolved`` against a previous run.

    Parameters
    ----------
    current : list of dict
        This report's findings (``findings.json`` items).
    previous : dict or None
        The previous run's ``findings.json`` document (``None``: no previous run).

    Returns
    -------
    dict
        ``{"previous_period", "previous_period_label", "previous_generated_at", "new",
        "continuing", "resolved"}``; the three lists hold findings items (``resolved`` from
        the previous run). Empty lists when there was no previous run.
    """
    previous = previous or {}
    before = {_key(i): i for i in previous.get("findings") or []}
    now = {_key(i): i for i in current}
    return {
        "previous_period": previous.get("period"),
        "previous_period_label": previous.get("period_label"),
        "previous_generated_at": previous.get("generated_at"),
        "new": [i for k, i in now.items() if k not in before],
        "continuing": [i for k, i in now.items() if k in before],
        "resolved": [i for k, i in before.items() if k not in now],
    }


def _names(items: list[dict]) -> str:
    shown = "、".join(f"{i.get('entity_name') or i.get('entity_id')} "
                     f"{i.get('indicator_name') or i.get('indicator')}" for i in items[:SHOWN])
    return shown + (f" 等 {len(items)} 项" if len(items) > SHOWN else "")


def changes_text(changes: dict) -> str:
    """One Chinese sentence: how many findings are new, continuing and no longer present.

    ``""`` when there was no previous run to compare with.
    """
    label = changes.get("previous_period_label") or changes.get("previous_period")
    if not label:
        return ""
    parts = []
    for key, word in (("new", "新出现"), ("continuing", "持续"), ("resolved", "已不再出现")):
        items = changes.get(key) or []
        parts.append(f"{word} {len(items)} 项" + (f"（{_names(items)}）" if items else ""))
    return f"与上次报告（{label}）相比：{'，'.join(parts)}。"


__all__ = ["compare", "changes_text", "SHOWN"]
