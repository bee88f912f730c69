"""Charts of the periodic overview: small multiples of monthly trends with control limits, and
the direction-aware chart of 同比/环比 changes. Drawing only — the numbers come from
:func:`casework.analysis.monitor.control_chart` and :func:`casework.analysis.panel.compute`;
the single-series chart is :func:`casework.present.plotting.trend_chart`.

Examples
--------
>>> import pandas as pd
>>> from casework.analysis import monitor
>>> from casework.present import plotting, trend_charts
>>> _ = plotting.set_style()
>>> months = pd.period_range("2023-01", periods=24, freq="M").strftime("%Y-%m")
>>> ch = monitor.control_chart(pd.DataFrame({"indicator": "non_arrest_rate", "kind": "rate",
...     "direction": "range", "month": months, "numerator": 30, "denominator": 100}))
>>> fig = trend_charts.trend_grid(ch)
>>> len(fig.axes), fig.axes[0].get_title()
(1, '不捕率')
>>> plotting.close(fig)
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import indicators as _ind
from casework.base.errors import check_choice
from casework.present import plotting


def trend_grid(charted: pd.DataFrame, *, indicators=None, ncols: int = 2):
    """Small multiples of 24-month trends with centre line, control limits and flagged months
    (one :func:`casework.present.plotting.trend_chart` per indicator).

    Parameters
    ----------
    charted : DataFrame
        :func:`casework.analysis.monitor.control_chart` rows of one group.
    indicators : codes, optional
        Which indicators, in this order (default: all, in order of appearance).
    ncols : int
        Charts per row.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> months = pd.period_range("2023-01", periods=3, freq="M").strftime("%Y-%m")
    >>> ch = pd.DataFrame({"indicator": "accepted_prosecution_review", "month": months,
    ...     "value": [3, 4, 5], "centre": 4.0, "lcl": 1.0, "ucl": 7.0, "flag": ""})
    >>> fig = trend_grid(ch)
    >>> fig.axes[0].get_title()
    '受理审查起诉（人）'
    >>> plotting.close(fig)
    """
    codes = list(dict.fromkeys(charted["indicator"])) if indicators is None else list(indicators)
    codes = [c for c in codes if (charted["indicator"] == c).any()]
    n = max(1, len(codes))
    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(plotting.FIGSIZE[0] * ncols / 1.35,
                                                    plotting.FIGSIZE[1] * nrows / 1.25),
                             squeeze=False)
    for ax, code in zip(axes.flat, codes, strict=False):
        d = charted[charted["indicator"] == code].assign(
            flagged=lambda x: x["flag"].astype(str) != "")
        ind = _ind.get(code)
        plotting.trend_chart(d, y="value", centre="centre", lower="lcl", upper="ucl",
                             flag="flagged", percent=ind.kind == "rate", title=ind.label(
                                 str(d["count_unit"].iloc[0]) if "count_unit" in d else None),
                             ax=ax)
        ax.tick_params(axis="x", labelrotation=45, labelsize="small")
        if ax.get_legend() is not None and ax is not axes.flat[0]:
            ax.get_legend().remove()
    for ax in list(axes.flat)[len(codes):]:
        ax.set_visible(False)
    fig.tight_layout()
    return fig


def change_chart(rows: pd.DataFrame, *, compare: str = "year_ago", alpha: float = 0.05):
    """Direction-aware chart of the changes: one bar per indicator, the change as a
    standardised score (±Φ⁻¹(1 − p/2), signed by the change), red when the change is beyond
    noise and adverse, green when beyond noise and favourable, blue when beyond noise on a
    "range" indicator, grey within noise; dashed lines at the significance limits.

    Parameters
    ----------
    rows : DataFrame
        :func:`casework.analysis.panel.compute` rows (one group).
    compare : {"year_ago", "previous"}
    alpha : float
        Significance level of the dashed limits.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> rows = pd.DataFrame({"indicator": ["non_arrest_rate", "appeal_rate"],
    ...     "count_unit": "person", "kind": "rate", "direction": ["range", "lower_better"],
    ...     "year_ago_change": [3.0, 2.0], "year_ago_p_value": [0.001, 0.5]})
    >>> ax = change_chart(rows)
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['不捕率', '上诉率']
    >>> plotting.close(ax)
    """
    check_choice("compare", compare, ["year_ago", "previous"])
    d = rows[rows[f"{compare}_p_value"].notna()].reset_index(drop=True)
    p = d[f"{compare}_p_value"].astype(float).clip(1e-12, 1.0)
    z = _st.norm.isf(p / 2) * np.sign(d[f"{compare}_change"].astype(float))
    crit = float(_st.norm.isf(alpha / 2))
    colours = []
    for zi, direction in zip(z, d["direction"], strict=True):
        if abs(zi) < crit:
            colours.append(plotting.COLOURS["neutral"])
        elif direction == "range":
            colours.append(plotting.COLOURS["series"])
        elif (zi > 0) == (direction == "lower_better"):
            colours.append(plotting.COLOURS["flag"])
        else:
            colours.append("#1e8449")
    labels = [_ind.get(c).label(u) for c, u in zip(d["indicator"], d["count_unit"], strict=True)]
    fig, ax = plt.subplots(figsize=(plotting.FIGSIZE[0], max(2.4, 0.34 * len(d) + 1.0)))
    pos = np.arange(len(d))
    ax.barh(pos, np.clip(z, -8, 8), color=colours)
    ax.set_yticks(pos, labels)
    ax.invert_yaxis()
    for x in (-crit, crit):
        ax.axvline(x, color=plotting.COLOURS["limit"], ls="--", lw=1)
    ax.axvline(0, color=plotting.COLOURS["centre"], lw=0.8)
    word = "同比" if compare == "year_ago" else "环比"
    ax.set_xlabel(f"{word}变化的标准化得分（虚线外为超出随机波动；红=不利，绿=有利，蓝=区间判断）")
    return ax
