"""Words, tables and the heatmap of the supervision-gaps report (监督业务缺项漏项分析, issue 20).

Only rows with ``status == "finding"`` (after the report's error control) reach the sentences;
every unit × line test stays in the tables, marked.

Examples
--------
>>> import pandas as pd
>>> F = pd.DataFrame([{"status": "finding", "rank": 1, "detector": "supervision_volume",
...     "entity_name": "江州市东湖区人民检察院", "line_zh": "立案监督", "observed": 0.0,
...     "expected": 28.6, "direction": "unfavourable"}])
>>> print(finding_sentences(F, months=12)[0])
江州市东湖区人民检察院 近12个月未开展立案监督（按案件量预期约29件）。
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.analysis import supervision as _sup
from casework.present import findings_text

#: Display labels of :func:`volume_display` columns.
VOLUME_LABELS = {"unit_name": "单位", "line_zh": "监督类型", "exposure": "审查起诉受理人数",
                 "observed": "监督件数", "expected": "预期件数", "ratio": "实际/预期",
                 "previous": "此前同期件数", "conclusion": "结论"}
#: Display labels of :func:`rate_display` columns.
RATE_LABELS = {"unit_name": "单位", "line_zh": "监督类型", "results": "已反馈件数",
               "favourable": "采纳/纠正件数", "rate": "采纳/纠正率", "interval": "95%区间",
               "peer_rate": "其他单位", "previous_rate": "此前同期", "pending": "尚未反馈",
               "conclusion": "结论"}
_STATUS = {"finding": "需关注", "context": "相关（见需关注项）", "weak": "提示（未达显著）",
           "none": "—"}


def _pct(x) -> str:
    return "—" if x is None or not np.isfinite(x) else f"{x:.1%}"


def finding_sentences(F: pd.DataFrame, *, months: int = 12) -> list[str]:
    """One sentence per supervision finding, strongest first; full unit names."""
    if F is None or not len(F) or "status" not in F.columns:
        return []
    f = F[F["status"] == "finding"]
    if "rank" in f.columns:
        f = f.sort_values("rank", kind="mergesort")
    out = []
    for _, r in f.iterrows():
        who = str(r["entity_name"])
        if r.get("detector") in ("supervision_volume", "supervision_volume_change"):
            exp = float(r["expected"])
            if float(r["observed"]) == 0:
                out.append(f"{who} 近{months}个月未开展{r['line_zh']}"
                           f"（按案件量预期约{exp:.0f}件）。")
            else:
                word = "明显少于" if r["direction"] == "unfavourable" else "明显多于"
                out.append(f"{who} 近{months}个月{r['line_zh']}{int(r['observed'])}件，"
                           f"{word}按案件量预期的约{exp:.0f}件。")
        else:
            out.append(findings_text.sentence(r))
    return out


def findings_markdown(F: pd.DataFrame, *, months: int = 12, problems_only=False) -> str:
    """Markdown bullets of :func:`finding_sentences` (escaped), or 本期未发现需关注的问题。"""
    f = F
    if problems_only and F is not None and len(F):
        f = F[F["direction"] != "favourable"]
    lines = finding_sentences(f, months=months)
    if not lines:
        return findings_text.NO_FINDINGS
    return "\n".join(f"- {findings_text.escape_markdown(s)}" for s in lines)


def _status_of(F: pd.DataFrame, detectors) -> dict:
    sub = F[F["detector"].isin(detectors)]
    out = {}
    for _, r in sub.iterrows():
        key = (str(r["entity_id"]), str(r.get("line", "")))
        prev = out.get(key)
        order = ["finding", "context", "weak", "none"]
        if prev is None or order.index(r["status"]) < order.index(prev):
            out[key] = r["status"]
    return out


def volume_display(vol: pd.DataFrame, F: pd.DataFrame) -> pd.DataFrame:
    """Volume table for the report: observed vs expected per unit × line, with the status."""
    st = _status_of(F, ["supervision_volume", "supervision_volume_change"])
    out = vol.copy()
    out["conclusion"] = [_STATUS.get(st.get((u, ln), "none"), "—")
                         if np.isfinite(p) else "样本不足，未检验"
                         for u, ln, p in zip(out["unit_code"], out["line"], out["p_value"])]
    out["expected"] = out["expected"].round(1)
    out["ratio"] = out["ratio"].round(2)
    return out[list(VOLUME_LABELS)]


def rate_display(rates: pd.DataFrame, F: pd.DataFrame) -> pd.DataFrame:
    """Adoption / correction rates per unit × line with interval, peers and own past."""
    st = _status_of(F, ["supervision_rate", "supervision_change"])
    out = rates.copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        peer = out["peer_favourable"] / out["peer_results"].where(out["peer_results"] > 0)
        prev = out["previous_favourable"] / out["previous_results"].where(
            out["previous_results"] > 0)
    out["interval"] = [f"{_pct(lo)}至{_pct(hi)}" if np.isfinite(lo) else "—"
                       for lo, hi in zip(out["rate_lower"], out["rate_upper"])]
    out["peer_rate"] = [_pct(x) for x in peer]
    out["previous_rate"] = [_pct(x) for x in prev]
    out["rate"] = [_pct(x) for x in out["rate"]]
    out["conclusion"] = [_STATUS.get(st.get((u, ln), "none"), "—")
                         for u, ln in zip(out["unit_code"], out["line"])]
    return out[list(RATE_LABELS)]


def heatmap_data(vol: pd.DataFrame) -> pd.DataFrame:
    """Tidy data of the heatmap: unit × line, log2(observed / expected), clipped to ±2."""
    d = vol[["unit_name", "line_zh", "observed", "expected"]].copy()
    with np.errstate(divide="ignore", invalid="ignore"):
        d["log2_ratio"] = np.clip(np.log2((d["observed"] + 0.5) / (d["expected"] + 0.5)), -2, 2)
    d.loc[~np.isfinite(d["expected"]), "log2_ratio"] = np.nan
    return d


def heatmap(vol: pd.DataFrame, *, title: str = "各单位监督业务量相对预期"):
    """Unit × line heatmap of matters relative to expectation; below expectation (the
    unfavourable side: a possible gap) is red, above is blue; cells show 实际/预期 件数."""
    import matplotlib.pyplot as plt  # heavy: only the chart needs it

    d = heatmap_data(vol)
    rows = list(dict.fromkeys(d["unit_name"]))
    cols = list(dict.fromkeys(d["line_zh"]))
    grid = d.pivot_table(index="unit_name", columns="line_zh", values="log2_ratio",
                         aggfunc="mean", dropna=False).reindex(index=rows, columns=cols)
    fig, ax = plt.subplots(figsize=(max(5.0, 1.3 * len(cols) + 2.5),
                                    max(2.6, 0.5 * len(rows) + 1.4)))
    im = ax.imshow(grid.to_numpy(dtype=float), cmap="RdBu", vmin=-2, vmax=2, aspect="auto")
    for i, u in enumerate(rows):
        for j, c in enumerate(cols):
            cell = d[(d["unit_name"] == u) & (d["line_zh"] == c)]
            if len(cell) and np.isfinite(cell["expected"].iloc[0]):
                dark = abs(float(grid.iloc[i, j])) > 1.3
                ax.text(j, i, f"{int(cell['observed'].iloc[0])}/{cell['expected'].iloc[0]:.0f}",
                        ha="center", va="center", fontsize=8,
                        color="white" if dark else "black")
    ax.grid(False)
    ax.set_xticks(range(len(cols)), cols, rotation=30, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    cb = fig.colorbar(im, ax=ax)
    cb.set_label("实际/预期（对数刻度，红色为少于预期）")
    cb.set_ticks([-2, -1, 0, 1, 2], labels=["≤1/4", "1/2", "1", "2", "≥4"])
    ax.set_title(title)
    return fig


def follow_up(supervision: pd.DataFrame, F: pd.DataFrame, *, period, months: int = 12):
    """Matters of each finding's unit × line (this window and the one before) for follow-up;
    columns in Chinese-labelled schema names plus 需关注事项. Internal level only (the page's
    attachment leaves it out at the circulated level)."""
    cols = ["unit_name", "line", "kind", "matter_no", "department", "prosecutor_name",
            "supervised_agency", "started_on", "result_on", "result", "linked_case_no"]
    f = F[F["status"] == "finding"] if len(F) else F
    prev_start, _, end = _sup.window(period, months)
    on = pd.to_datetime(supervision["started_on"])
    parts = []
    for _, r in f.iterrows():
        m = ((supervision["unit_code"].astype(str) == str(r["entity_id"]))
             & (supervision["line"] == r.get("line")) & (on >= prev_start) & (on <= end))
        part = supervision.loc[m.fillna(False).to_numpy(), cols].copy()
        part.insert(0, "finding", str(r.get("indicator_name", "")))
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=["finding", *cols])
    return pd.concat(parts, ignore_index=True)
