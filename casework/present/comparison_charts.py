"""Charts of the comparison reports: funnel plots of a horizontal comparison, the handling-days
funnel of the prosecutor report, and the cohort trend of the post-arrest bail monitor.

Computation is in :mod:`casework.analysis` (:mod:`~casework.analysis.funnels`,
:mod:`~casework.analysis.casemix`, :mod:`~casework.analysis.bail`); drawing goes through
:mod:`casework.present.plotting` (CJK fonts, house style).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from casework.analysis.bail import BAIL_KEYS
from casework.analysis.funnels import funnel_limits, to_float
from casework.analysis.workload import STAGE_ZH
from casework.base.checks import as_keys
from casework.present import plotting


def funnel_figure(result: pd.DataFrame, *, indicators: Sequence[str] | None = None,
                  ncols: int = 2, title: str | None = None):
    """Small multiples: one funnel plot per indicator of a
    :func:`casework.analysis.casemix.horizontal` result.

    Rates and observed/expected ratios get smooth limit curves
    (:func:`casework.analysis.funnels.funnel_limits`, widened by the estimated overdispersion
    when it was used); handling-day ratios and means show the
    limits at each group's own size. Flagged points are coloured and labelled; groups below
    the small-n floor are left out of the chart (they are in the tables).

    Returns
    -------
    matplotlib.figure.Figure
    """
    codes = list(indicators) if indicators else list(dict.fromkeys(result["indicator"]))
    codes = [c for c in codes if c in set(result["indicator"])]
    n = max(len(codes), 1)
    ncols = min(ncols, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(5.2 * ncols, 3.9 * nrows),
                             layout="constrained", squeeze=False)
    od_kind = result.attrs.get("overdispersion", "none")
    for ax, code in zip(axes.flat, codes):
        block = result.loc[(result["indicator"] == code)
                           & ~result["below_min_n"].astype(bool)].copy()
        block = block.loc[np.isfinite(to_float(block["size"]))
                          & np.isfinite(to_float(block["value"]))]
        if block.empty:
            ax.set_title(str(result.loc[result["indicator"] == code, "name_zh"].iloc[0]))
            ax.text(0.5, 0.5, "样本量不足，未作比较", ha="center", va="center",
                    transform=ax.transAxes)
            continue
        first = block.iloc[0]
        measure = first["measure"]
        adj = od_kind != "none" and np.isfinite(first.get("phi", np.nan))
        if measure in ("rate", "ratio_oe"):
            kind = "proportion" if measure == "rate" else "ratio"
            grid = np.geomspace(max(float(block["size"].min()) * 0.8, 0.5),
                                float(block["size"].max()) * 1.1, 120)
            kw = {}
            if adj and od_kind == "additive":
                kw["tau2"] = float(first["tau2"])
            elif adj:
                kw["phi"] = float(first["phi"])
            limits = funnel_limits(float(first["target"]), grid, kind=kind, **kw)
            limits = limits.rename(columns={"n": "size"})
        else:
            limits = None
            if adj:
                for c in ("lower_95", "upper_95", "lower_998", "upper_998"):
                    block[c] = block[f"od_{c}"]
        xlabel = {"rate": "分母（人数）", "ratio_oe": "预期数", "days_ratio": "审结件数",
                  "mean": "人数"}[measure]
        ylabel = {"rate": "比率", "ratio_oe": "实际/预期", "days_ratio": "办案天数（实际/预期）",
                  "mean": first.get("unit_zh") or ""}[measure]
        plotting.funnel_chart(block, x="size", y="value", label="label", target="target",
                              limits=limits, flag="flag", percent=measure == "rate",
                              title=str(first["name_zh"]), xlabel=xlabel, ylabel=ylabel, ax=ax)
    for ax in list(axes.flat)[len(codes):]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def bail_trend(cohorts: pd.DataFrame, overall: pd.DataFrame, signals: pd.DataFrame,
               comparison: pd.DataFrame | None = None, *,
               by: str | Sequence[str] = BAIL_KEYS) -> pd.DataFrame:
    """Monthly cohort rates of the stations worth watching (signalled or flagged) beside the
    overall rate, tidy for :func:`casework.present.plotting.line_chart` (``month, label,
    value``)."""
    keys = as_keys(by)
    watch = signals.loc[signals["signal"].astype(bool), keys + ["label"]] if len(signals) else \
        pd.DataFrame(columns=keys + ["label"])
    if comparison is not None and len(comparison):
        fl = comparison.loc[(comparison["flag"] != "") & ~comparison["below_min_n"].astype(bool),
                            keys + ["label"]]
        watch = pd.concat([watch, fl], ignore_index=True).drop_duplicates(keys)
    lines = [overall.assign(label="全部")[["month", "label", "value"]]]
    if len(watch):
        sub = cohorts.merge(watch, on=keys, how="inner")[["month", "label", "value"]]
        lines.append(sub)
    return pd.concat(lines, ignore_index=True)



def days_funnel_figure(days: pd.DataFrame, *, title: str | None = None):
    """Funnel of the case-mix adjusted days ratio, one panel per stage (flagged points named).

    Returns
    -------
    matplotlib.figure.Figure
    """
    stages = [s for s in ("prosecution_review", "arrest_review")
              if len(days) and (days["stage"] == s).any()]
    fig, axes = plt.subplots(1, max(len(stages), 1), figsize=(5.4 * max(len(stages), 1), 4.0),
                             layout="constrained", squeeze=False)
    for ax, stage in zip(axes.flat, stages):
        d = days.loc[(days["stage"] == stage) & ~days["below_min_n"].astype(bool)].copy()
        if np.isfinite(d["phi"]).any() and d["od_lower_95"].notna().any():
            for c in ("lower_95", "upper_95", "lower_998", "upper_998"):
                d[c] = d[f"od_{c}"]
        plotting.funnel_chart(d, x="n", y="value", label="label", target=1.0, flag="flag",
                              percent=False,
                              title=f"{STAGE_ZH[stage]}办案天数（实际/同类案件预期）",
                              xlabel="审结件数", ylabel="实际/预期", ax=ax)
    if title:
        fig.suptitle(title)
    return fig

