"""Page-level glue of the findings step: select, apply the access level, write ``findings.json``.

A template collects the signal frames of its detectors and calls, once::

    F = findings.report_findings(P, [bail_signals, chart_signals])  # select + findings.json
    page.md(findings.findings_bullets(F))                            # 要点 (findings only)
    page.md(findings.findings_bullets(F, problems_only=True))        # 存在问题
    findings.show_signals(F)                                         # every test, marked

Only rows with ``status == "finding"`` reach prose; weaker signals stay in the table, marked
提示（未达显著）. At the ``circulated`` level prosecutors and accounts are replaced by the same
stable pseudonyms the report's tables use (:func:`casework.present.privacy.sanitize_frame`), in
the names, the ids and ``findings.json``.

``findings.json`` (UTF-8, written atomically into ``P.output_dir``)::

    {"report": …, "template": …, "title": …, "period": "2026-03", "period_label": "2026年3月",
     "unit": …, "unit_label": …, "level": …, "snapshot": …, "generated_at": ISO time,
     "n_tests": 412, "q": 0.05, "min_months": 2, "weak_count": 3,
     "findings": [{"rank", "entity_type", "entity_id", "entity_name", "indicator",
                   "indicator_name", "direction", "start_month", "months_signalling",
                   "latest_value", "baseline", "effect", "effect_lower", "effect_upper",
                   "n", "p_value", "q_value", "detector", "section", "section_title",
                   "sentence"}, …],
     "changes": {"previous_period", "new", "continuing", "resolved"}}  # when it ran before
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
from pathlib import Path

import numpy as np
import pandas as pd

from casework.analysis import findings as _findings
from casework.analysis import signals as _signals
from casework.notebook import page
from casework.present import findings_changes, findings_text, privacy

#: File name of the machine-readable findings beside each report.
FILENAME = "findings.json"

#: Fields of each finding in ``findings.json``, in order.
FINDING_FIELDS = ("rank", "entity_type", "entity_id", "entity_name", "indicator",
                  "indicator_name", "direction", "start_month", "months_signalling",
                  "latest_value", "baseline", "effect", "effect_lower", "effect_upper", "n",
                  "p_value", "q_value", "detector", "section", "section_title", "sentence")


def _pseudonyms(df: pd.DataFrame) -> dict[str, tuple[str, str]]:
    """entity_id → (pseudonymous id, pseudonymous name) for prosecutors and accounts."""
    out: dict[str, tuple[str, str]] = {}
    for eid, etype, name in zip(df["entity_id"], df["entity_type"], df["entity_name"]):
        eid, name = str(eid), str(name)
        if eid in out or etype not in ("prosecutor", "account"):
            continue
        head, _, key = eid.rpartition("/")
        if key.startswith("未知"):
            continue
        if etype == "prosecutor":
            cut = name.rfind("检察官")
            shown = name[cut + len("检察官"):] if cut >= 0 else key
            frame = pd.DataFrame({"prosecutor_id": [key], "prosecutor_name": [shown]})
            label = str(privacy.sanitize_frame(frame, level="circulated")["prosecutor_id"].iloc[0])
            prefix = name[:cut] if cut >= 0 else name
        else:
            cut = name.rfind("账号")
            frame = pd.DataFrame({"account": [key]})
            label = str(privacy.sanitize_frame(frame, level="circulated")["account"].iloc[0])
            prefix = name[:cut] if cut >= 0 else ""
        out[eid] = (f"{head}/{label}", prefix + label)
    return out


def apply_level(selected: pd.DataFrame, level: str) -> pd.DataFrame:
    """``selected`` as the access ``level`` may show it.

    ``internal``: unchanged. ``circulated``: prosecutors and accounts become their stable
    pseudonyms in ``entity_id``, ``entity_name`` and ``context_for`` (检察官A, 账号B — the same
    letters the report's tables show), and extra columns that name persons or cases are
    removed (:func:`casework.present.privacy.sanitize_frame`).
    """
    if level != "circulated" or not len(selected):
        return selected
    out = selected.copy()
    mapping = _pseudonyms(out)
    if mapping:
        ids = {k: v[0] for k, v in mapping.items()}
        names = {k: v[1] for k, v in mapping.items()}
        old = out["entity_id"].astype(str)
        out["entity_name"] = [names.get(e, n) for e, n in zip(old, out["entity_name"])]
        out["entity_id"] = old.map(lambda e: ids.get(e, e)).astype("string")
        if "context_for" in out.columns:
            out["context_for"] = out["context_for"].map(
                lambda e: ids.get(e, e) if isinstance(e, str) else e).astype("string")
        out["entity_name"] = out["entity_name"].astype("string")
    return privacy.sanitize_frame(out, level="circulated")


def _plain(v):
    """A JSON-safe Python value (NaN/NA → None, numpy scalars → Python)."""
    if v is None or v is pd.NA:
        return None
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if math.isnan(float(v)) or math.isinf(float(v)) else float(v)
    if isinstance(v, (np.bool_,)):
        return bool(v)
    try:
        if pd.isna(v):
            return None
    except (TypeError, ValueError):
        pass
    return v


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def document(P, selected: pd.DataFrame, *, q: float, min_months: int) -> dict:
    """The ``findings.json`` content for a report (see the module docstring)."""
    period = getattr(P, "period", None)
    f = selected[selected["status"] == "finding"].sort_values("rank", kind="mergesort")
    items = []
    for _, r in f.iterrows():
        items.append({k: _plain(r[k]) if k in r.index else None for k in FINDING_FIELDS})
    return {
        "report": getattr(P, "template", None),
        "template": getattr(P, "template", None),
        "title": getattr(P, "title_zh", None),
        "period": getattr(period, "code", None) if period is not None else None,
        "period_label": getattr(period, "label_zh", None) if period is not None else None,
        "unit": getattr(P, "unit", None),
        "unit_label": getattr(P, "unit_label", None),
        "level": getattr(P, "level", None),
        "snapshot": getattr(P, "snapshot", None),
        "generated_at": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "n_tests": _findings.n_tests(selected),
        "q": q,
        "min_months": min_months,
        "weak_count": int((selected["status"] == "weak").sum()),
        "findings": items,
    }


def _previous(P) -> dict | None:
    """The previous run's ``findings.json`` (``P.previous_findings``), ``None`` when absent
    or unreadable (then there is nothing to compare with)."""
    path = getattr(P, "previous_findings", None)
    if not path:
        return None
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def report_findings(P, signals, *, section_titles: dict | None = None, q: float = 0.05,
                    min_months: int = 2) -> pd.DataFrame:
    """Select the report's findings, write ``findings.json`` and return every signal row.

    Parameters
    ----------
    P : Params
        From :func:`casework.notebook.page.setup` (``template``, ``title_zh``, ``period``,
        ``unit``, ``unit_label``, ``level``, ``snapshot``, ``output_dir`` are read).
    signals : DataFrame or list of DataFrame
        Every signal frame the report's detectors produced (flagged or not).
    section_titles : dict, optional
        Section anchor → Chinese title, stored with each finding.
    q, min_months
        Passed to :func:`casework.analysis.findings.select`.

    Returns
    -------
    DataFrame
        :func:`casework.analysis.findings.select`'s frame at the report's access level, plus
        ``section_title`` and ``sentence`` (the Chinese sentence of each finding, ``""`` for
        other rows).
    """
    frames = list(signals) if isinstance(signals, (list, tuple)) else [signals]
    selected = _findings.select(_signals.concat(frames), q=q, min_months=min_months)
    selected = apply_level(selected, getattr(P, "level", "internal"))
    titles = dict(section_titles or {})
    selected["section_title"] = selected["section"].map(
        lambda s: titles.get(s, "") if isinstance(s, str) else "").astype("string")
    is_f = (selected["status"] == "finding").to_numpy()
    selected["sentence"] = pd.array(
        [findings_text.sentence(r) if hit else "" for hit, (_, r)
         in zip(is_f, selected.iterrows())], dtype="string")
    doc = document(P, selected, q=q, min_months=min_months)
    changes = findings_changes.compare(doc["findings"], _previous(P))
    if changes["previous_period"]:
        doc["changes"] = {"previous_period": changes["previous_period"],
                          **{k: [[i.get("entity_id"), i.get("indicator")] for i in changes[k]]
                             for k in ("new", "continuing", "resolved")}}
    selected.attrs["changes_text"] = findings_changes.changes_text(changes)
    out_dir = Path(P.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_atomic(out_dir / FILENAME, json.dumps(doc, ensure_ascii=False, indent=1))
    return selected


def findings_bullets(selected: pd.DataFrame, *, problems_only: bool = False,
                     top: int | None = None) -> str:
    """Markdown of the findings for ``page.md``: a bullet list, or 本期未发现需关注的问题。

    ``problems_only`` keeps unfavourable and neutral findings (存在问题). Otherwise, when the
    report ran before (an earlier period), a last line says which findings are new,
    continuing or no longer present (:mod:`casework.present.findings_changes`).
    """
    text = findings_text.bullets(selected, problems_only=problems_only, top=top)
    changes = selected.attrs.get("changes_text") if not problems_only else ""
    return f"{text}\n\n{changes}" if changes else text


def signals_table(selected: pd.DataFrame, *, statuses=None) -> pd.DataFrame:
    """Display frame of every signal with its status in Chinese (发现/背景/提示/—)."""
    return findings_text.signal_table(selected, statuses=statuses)


def show_signals(selected: pd.DataFrame, name: str = "signals", *,
                 caption: str = "全部检测项及其结论", statuses=None) -> None:
    """Show :func:`signals_table` with a note on the weaker signals (escaped, CSV beside)."""
    shown = signals_table(selected, statuses=statuses)
    note = findings_text.weak_note(selected) or None
    page.table(shown, name, caption=caption, note=note, counts=["人数"],
               dependent=["最新值", "差值", "95%区间"])
