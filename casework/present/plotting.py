"""Charts for reports and training: one style entry point, CJK-ready, drawing tidy frames only.

:func:`set_style` is the **only** place a style is set (pitfall P7 in the style guide): it finds
a CJK font on the system (Noto Sans CJK, Source Han Sans, Microsoft YaHei, SimHei, PingFang …)
and falls back to the OFL *Noto Sans SC* shipped by the ``pylopdf-fonts-zh-cn`` package; it sets
``axes.unicode_minus = False`` so minus signs render in every font, and passes the font to
``seaborn.set_theme`` so the theme cannot reset it. Notebooks never call ``sns.set_theme``.

The chart helpers take tidy frames (one row per point, documented column names, all overridable)
computed elsewhere (:mod:`casework.analysis.monitor`, :mod:`casework.analysis.compare`,
:mod:`casework.analysis.panel`), draw them and return the :class:`matplotlib.axes.Axes`. They
compute nothing but layout; saving and closing is :func:`casework.notebook.page.figure`'s job
(PNG at :data:`DPI`).

Examples
--------
>>> import pandas as pd
>>> from casework.present import plotting
>>> font = plotting.set_style()
>>> isinstance(font, str) and len(font) > 0
True
>>> ax = plotting.bar_with_intervals(pd.DataFrame({
...     "label": ["甲院", "乙院"], "value": [0.2, -0.1],
...     "value_ci_lower": [0.1, -0.2], "value_ci_upper": [0.3, 0.0]}), title="示例")
>>> ax.get_title()
'示例'
>>> plotting.close(ax)
"""

from __future__ import annotations

import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib import font_manager
from matplotlib.ticker import PercentFormatter

from casework.base.checks import require_columns as _require
from casework.base.errors import check_choice

#: Resolution of static PNG charts in reports (about 110 dpi keeps reports small, pitfall P5).
DPI = 110

#: Default figure size in inches (width, height).
FIGSIZE = (8.0, 4.2)

#: System CJK font families tried in order before the bundled fallback.
CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "Microsoft YaHei",
    "SimHei",
    "PingFang SC",
    "Hiragino Sans GB",
    "WenQuanYi Micro Hei",
    "WenQuanYi Zen Hei",
    "Noto Sans CJK JP",
    "Source Han Sans",
)

#: File-name fragments of system CJK fonts, used when matplotlib's font cache predates them.
_CJK_FILE_HINTS = ("notosanscjk", "notosanssc", "sourcehansans", "msyh", "simhei", "pingfang",
                   "wqy-microhei", "wqy-zenhei")

#: Colours used consistently: neutral series, flagged points, limits.
COLOURS = {"series": "#2f5d8a", "flag": "#c0392b", "alert": "#e67e22", "limit": "#7f8c8d",
           "centre": "#34495e", "neutral": "#95a5a6"}

_FONT: str | None = None


def _bundled_font() -> Path:
    """Path of the OFL Noto Sans SC font shipped by ``pylopdf-fonts-zh-cn``."""
    # imported only when no system CJK font is found (the package is just a font file)
    import pylopdf_fonts_zh_cn

    return Path(pylopdf_fonts_zh_cn.__file__).resolve().parent / "NotoSansSC-Regular.otf"


def _known_families() -> set[str]:
    return {f.name for f in font_manager.fontManager.ttflist}


def cjk_font() -> str:
    """Name of the CJK font family charts use, registering one when needed.

    Looks for :data:`CJK_FAMILIES` among the fonts matplotlib knows, then among system font files
    (the font cache may predate a freshly installed font), then registers the bundled OFL
    *Noto Sans SC* with :func:`matplotlib.font_manager.fontManager.addfont`.

    Returns
    -------
    str
        A font family name usable in ``rcParams["font.sans-serif"]``.

    Examples
    --------
    >>> from casework.present.plotting import cjk_font
    >>> any(ch in cjk_font() for ch in ("CJK", "SC", "Hei", "Han", "YaHei"))
    True
    """
    global _FONT
    if _FONT is not None:
        return _FONT
    known = _known_families()
    for fam in CJK_FAMILIES:
        if fam in known:
            _FONT = fam
            return fam
    # stale cache: look for system files and register them
    try:
        files = font_manager.findSystemFonts()
    except Exception:  # pragma: no cover - platform specific
        files = []
    for path in sorted(files):
        low = Path(path).name.lower().replace(" ", "")
        if any(h in low for h in _CJK_FILE_HINTS):
            try:
                font_manager.fontManager.addfont(path)
            except Exception:  # unreadable font file: skip it
                continue
    known = _known_families()
    for fam in CJK_FAMILIES:
        if fam in known:
            _FONT = fam
            return fam
    bundled = _bundled_font()
    font_manager.fontManager.addfont(str(bundled))
    _FONT = font_manager.FontProperties(fname=str(bundled)).get_name()
    return _FONT


def set_style(*, context: str = "notebook", font_scale: float = 1.0) -> str:
    """Apply the casework chart style; the only style entry point.

    Parameters
    ----------
    context : {"notebook", "paper", "talk"}
        seaborn plotting context (sizes of labels and lines).
    font_scale : float
        Multiplier on font sizes.

    Returns
    -------
    str
        The CJK font family now first in ``font.sans-serif``.

    Notes
    -----
    ``sns.set_theme`` replaces ``font.sans-serif``; passing the font inside ``rc`` keeps it
    (seaborn issues #913, #1009). ``axes.unicode_minus = False`` draws an ASCII hyphen for minus
    signs, which every font has (matplotlib #15062).

    Examples
    --------
    >>> import matplotlib as mpl
    >>> from casework.present.plotting import set_style
    >>> font = set_style()
    >>> mpl.rcParams["font.sans-serif"][0] == font, mpl.rcParams["axes.unicode_minus"]
    (True, False)
    """
    # seaborn is heavy (about a second to import) and only styling needs it
    import seaborn as sns

    check_choice("context", context, ["notebook", "paper", "talk"])
    font = cjk_font()
    rc = {
        "font.family": "sans-serif",
        "font.sans-serif": [font, "DejaVu Sans"],
        "axes.unicode_minus": False,
        "figure.dpi": DPI,
        "savefig.dpi": DPI,
        "figure.figsize": FIGSIZE,
        "axes.titleweight": "bold",
        "axes.spines.top": False,
        "axes.spines.right": False,
    }
    sns.set_theme(context=context, style="whitegrid", palette="deep", font=font,
                  font_scale=font_scale, rc=rc)
    matplotlib.rcParams.update(rc)  # belt and braces: some seaborn versions drop rc keys
    return font


def close(obj) -> None:
    """Close the figure of ``obj`` (a Figure or an Axes) so it is not shown twice."""
    fig = obj.figure if hasattr(obj, "figure") and not isinstance(obj, plt.Figure) else obj
    plt.close(fig)


def _new_ax(ax, figsize=None):
    if ax is not None:
        return ax
    _, ax = plt.subplots(figsize=figsize or FIGSIZE, layout="constrained")
    return ax


def _percent_axis(ax, axis: str = "y") -> None:
    fmt = PercentFormatter(xmax=1.0, decimals=0)
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(fmt)


def trend_chart(data: pd.DataFrame, *, x: str = "month", y: str = "value",
                centre: str | None = "centre", lower: str | None = "lower_limit",
                upper: str | None = "upper_limit", flag: str | None = "flagged",
                percent: bool = False, title: str | None = None, ylabel: str | None = None,
                ax=None):
    """Monthly series with centre line, control limits and flagged months highlighted.

    Parameters
    ----------
    data : DataFrame
        One row per month. Columns named by the options below; ``x`` may hold Timestamps,
        Periods or strings.
    x, y : str
        Month column and value column.
    centre, lower, upper : str or None
        Centre line and control limit columns (limits may vary by month, as in a p-chart);
        ``None`` (or a missing column) omits the line.
    flag : str or None
        Boolean column: months outside limits or breaking a run rule are drawn red.
    percent : bool
        Format the value axis as a percentage (values are proportions).
    title, ylabel : str, optional
        Chinese display text.
    ax : Axes, optional
        Draw into this Axes.

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"month": pd.period_range("2024-01", periods=4, freq="M"),
    ...                    "value": [0.1, 0.12, 0.3, 0.11], "centre": 0.12,
    ...                    "lower_limit": 0.05, "upper_limit": 0.2,
    ...                    "flagged": [False, False, True, False]})
    >>> ax = trend_chart(df, title="捕后取保候审率", percent=True)
    >>> len(ax.collections[0].get_offsets())  # the flagged month
    1
    >>> close(ax)
    """
    _require(data, [x, y], "trend_chart")
    ax = _new_ax(ax)
    d = data.reset_index(drop=True)
    xs = d[x]
    if isinstance(xs.dtype, pd.PeriodDtype):
        xs = xs.dt.to_timestamp()
    elif not pd.api.types.is_datetime64_any_dtype(xs):
        try:
            xs = pd.to_datetime(xs.astype(str))
        except (ValueError, TypeError):
            xs = pd.Series(np.arange(len(d)))
    yv = pd.to_numeric(d[y], errors="coerce").astype(float)
    ax.plot(xs, yv, marker="o", ms=3.5, lw=1.6, color=COLOURS["series"], label="实际值")
    if centre and centre in d:
        ax.plot(xs, pd.to_numeric(d[centre], errors="coerce").astype(float), lw=1.2,
                color=COLOURS["centre"], label="中心线")
    for col, lab in ((upper, "控制上限"), (lower, "控制下限")):
        if col and col in d:
            ax.step(xs, pd.to_numeric(d[col], errors="coerce").astype(float), where="mid",
                    ls="--", lw=1.0, color=COLOURS["limit"], label=lab)
    if flag and flag in d:
        mask = d[flag].fillna(False).astype(bool).to_numpy()
        ax.scatter(xs[mask], yv[mask], s=46, color=COLOURS["flag"], zorder=5, label="异常月份")
    if percent:
        _percent_axis(ax, "y")
    ax.set_xlabel("")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax


def line_chart(data: pd.DataFrame, *, x: str = "month", y: str = "n", hue: str | None = None,
               percent: bool = False, title: str | None = None, ylabel: str | None = None,
               ax=None):
    """Lines of a tidy frame, one per ``hue`` value (e.g. monthly counts by stage).

    Parameters
    ----------
    data : DataFrame
        One row per (``x``, ``hue``) point.
    x, y : str
        Horizontal (month: Timestamp, Period or text) and value columns.
    hue : str, optional
        Series column; its values are the legend labels (translate codes before drawing).
    percent : bool
        Format the value axis as percentages.
    title, ylabel : str, optional
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"month": ["2024-01", "2024-02"] * 2, "n": [5, 7, 2, -1],
    ...                    "stage": ["审查逮捕"] * 2 + ["审查起诉"] * 2})
    >>> ax = line_chart(df, hue="stage", title="月度受理人数")
    >>> len(ax.get_lines())
    2
    >>> close(ax)
    """
    _require(data, [x, y, hue], "line_chart")
    ax = _new_ax(ax)
    d = data.copy()
    xs = d[x]
    if isinstance(xs.dtype, pd.PeriodDtype):
        d[x] = xs.dt.to_timestamp()
    elif not pd.api.types.is_datetime64_any_dtype(xs):
        try:
            d[x] = pd.to_datetime(xs.astype(str))
        except (ValueError, TypeError):
            pass
    groups = [(None, d)] if hue is None else list(d.groupby(hue, sort=False, observed=True))
    for key, g in groups:
        g = g.sort_values(x)
        ax.plot(g[x], pd.to_numeric(g[y], errors="coerce").astype(float), marker="o", ms=2.5,
                lw=1.5, label=None if key is None else str(key))
    if percent:
        _percent_axis(ax, "y")
    ax.set_xlabel("")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    if hue is not None:
        ax.legend(loc="best", fontsize="small", frameon=False)
    return ax


def bar_with_intervals(data: pd.DataFrame, *, x: str = "label", y: str = "value",
                       lower: str | None = "value_ci_lower", upper: str | None = "value_ci_upper",
                       highlight: str | None = None, orient: str = "h", percent: bool = False,
                       reference: float | None = None, title: str | None = None,
                       xlabel: str | None = None, ax=None):
    """Bars (one per row of ``data``) with interval whiskers.

    Parameters
    ----------
    data : DataFrame
        One row per bar, drawn in the given order.
    x : str
        Label column (unit, department, charge …).
    y, lower, upper : str
        Value and interval bounds (``None`` or a missing column: no whiskers).
    highlight : str, optional
        Boolean column; highlighted bars are drawn red.
    orient : {"h", "v"}
        Horizontal bars (labels on the y axis, good for Chinese names) or vertical.
    percent : bool
        Values are proportions: format the value axis as percentages.
    reference : float, optional
        Draw a reference line (e.g. the pooled rate).
    title, xlabel : str, optional
        Chinese display text; ``xlabel`` labels the value axis.
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"label": ["一部", "二部"], "value": [3.0, 5.0],
    ...                    "value_ci_lower": [2.0, 4.0], "value_ci_upper": [4.0, 6.0]})
    >>> ax = bar_with_intervals(df, orient="v")
    >>> [float(p.get_height()) for p in ax.patches]
    [3.0, 5.0]
    >>> close(ax)
    """
    check_choice("orient", orient, ["h", "v"])
    _require(data, [x, y], "bar_with_intervals")
    d = data.reset_index(drop=True)
    n = len(d)
    ax = _new_ax(ax, figsize=(FIGSIZE[0], max(2.4, 0.38 * n + 1.2)) if orient == "h" else None)
    vals = pd.to_numeric(d[y], errors="coerce").astype(float).to_numpy()
    labels = d[x].astype(str).tolist()
    colours = [COLOURS["series"]] * n
    if highlight and highlight in d:
        colours = [COLOURS["flag"] if bool(h) else COLOURS["series"]
                   for h in d[highlight].fillna(False)]
    pos = np.arange(n)
    err = None
    if lower and upper and lower in d and upper in d:
        lo = pd.to_numeric(d[lower], errors="coerce").astype(float).to_numpy()
        hi = pd.to_numeric(d[upper], errors="coerce").astype(float).to_numpy()
        err = np.vstack([np.clip(vals - lo, 0, None), np.clip(hi - vals, 0, None)])
        err = np.nan_to_num(err)
    if orient == "h":
        ax.barh(pos, vals, color=colours, xerr=err, ecolor=COLOURS["centre"], capsize=3)
        ax.set_yticks(pos, labels)
        ax.invert_yaxis()
        if reference is not None:
            ax.axvline(reference, color=COLOURS["centre"], ls="--", lw=1)
        if percent:
            _percent_axis(ax, "x")
        ax.set_xlabel(xlabel or "")
        ax.set_ylabel("")
    else:
        ax.bar(pos, vals, color=colours, yerr=err, ecolor=COLOURS["centre"], capsize=3)
        ax.set_xticks(pos, labels, rotation=30 if n > 6 else 0, ha="right" if n > 6 else "center")
        if reference is not None:
            ax.axhline(reference, color=COLOURS["centre"], ls="--", lw=1)
        if percent:
            _percent_axis(ax, "y")
        ax.set_ylabel(xlabel or "")
        ax.set_xlabel("")
    if title:
        ax.set_title(title)
    return ax


def funnel_chart(data: pd.DataFrame, *, x: str = "denominator", y: str = "value",
                 label: str | None = "label", target: float | str | None = "target",
                 limits: pd.DataFrame | None = None, lower95: str = "lower_95",
                 upper95: str = "upper_95", lower998: str = "lower_998",
                 upper998: str = "upper_998", flag: str | None = "flag", percent: bool = True,
                 title: str | None = None, xlabel: str | None = None,
                 ylabel: str | None = None, ax=None):
    """Funnel plot: points (rate against denominator) inside 95 % and 99.8 % limits.

    Parameters
    ----------
    data : DataFrame
        One row per compared unit (院、部门、检察官、派出所).
    x, y : str
        Denominator (caseload) and rate columns.
    label : str, optional
        Label column; flagged points are labelled.
    target : float or str, optional
        Centre line: a number, a column name (its first value), or ``None``.
    limits : DataFrame, optional
        Limit curves on a grid of denominators (columns ``x`` and the four limit columns);
        when omitted the limits are taken from ``data`` itself, sorted by ``x``.
    lower95, upper95, lower998, upper998 : str
        Limit column names.
    flag : str, optional
        Column saying which points are outside limits: boolean, or text where ``"alarm"``
        (outside 99.8 %) draws red and ``"alert"`` (95–99.8 %) orange.
    percent : bool
        Rates are proportions: format the y axis as percentages.
    title, xlabel, ylabel : str, optional
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"label": ["甲", "乙", "丙"], "denominator": [50, 200, 800],
    ...                    "value": [0.1, 0.4, 0.12], "target": 0.12,
    ...                    "lower_95": [0.03, 0.075, 0.098], "upper_95": [0.21, 0.165, 0.142],
    ...                    "lower_998": [0.0, 0.05, 0.085], "upper_998": [0.26, 0.19, 0.155],
    ...                    "flag": ["none", "alarm", "none"]})
    >>> ax = funnel_chart(df, title="不捕率漏斗图")
    >>> [t.get_text() for t in ax.texts]
    ['乙']
    >>> close(ax)
    """
    _require(data, [x, y], "funnel_chart")
    ax = _new_ax(ax)
    d = data.reset_index(drop=True)
    xs = pd.to_numeric(d[x], errors="coerce").astype(float)
    ys = pd.to_numeric(d[y], errors="coerce").astype(float)
    lim = (limits if limits is not None else d).sort_values(x)
    lx = pd.to_numeric(lim[x], errors="coerce").astype(float)
    for lo, hi, ls, lab in ((lower95, upper95, "--", "95%控制限"),
                            (lower998, upper998, ":", "99.8%控制限")):
        if lo in lim and hi in lim:
            ax.plot(lx, pd.to_numeric(lim[lo], errors="coerce").astype(float), ls=ls, lw=1.1,
                    color=COLOURS["limit"], label=lab)
            ax.plot(lx, pd.to_numeric(lim[hi], errors="coerce").astype(float), ls=ls, lw=1.1,
                    color=COLOURS["limit"])
    centre = None
    if isinstance(target, str):
        if target in d and len(d):
            centre = float(pd.to_numeric(d[target], errors="coerce").iloc[0])
    elif target is not None:
        centre = float(target)
    if centre is not None and np.isfinite(centre):
        ax.axhline(centre, color=COLOURS["centre"], lw=1.2, label="总体水平")
    colours = np.array([COLOURS["series"]] * len(d), dtype=object)
    flagged = np.zeros(len(d), dtype=bool)
    if flag and flag in d:
        f = d[flag]
        if pd.api.types.is_bool_dtype(f):
            flagged = f.fillna(False).astype(bool).to_numpy()
            colours[flagged] = COLOURS["flag"]
        else:
            s = f.astype("string").fillna("")
            alarm = (s == "alarm").to_numpy()
            alert = (s == "alert").to_numpy()
            colours[alert] = COLOURS["alert"]
            colours[alarm] = COLOURS["flag"]
            flagged = alarm | alert
    ax.scatter(xs, ys, c=list(colours), s=34, zorder=5, edgecolor="white", linewidth=0.6)
    if label and label in d:
        for xi, yi, lab in zip(xs[flagged], ys[flagged], d.loc[flagged, label].astype(str),
                               strict=True):
            ax.annotate(lab, (xi, yi), xytext=(4, 4), textcoords="offset points", fontsize=9)
    if percent:
        _percent_axis(ax, "y")
    ax.set_xlabel(xlabel or "分母（人数）")
    ax.set_ylabel(ylabel or "")
    if title:
        ax.set_title(title)
    ax.legend(loc="best", fontsize="small", frameon=False)
    return ax


def heatmap(data: pd.DataFrame, *, x: str, y: str, value: str = "z", annot: bool = True,
            fmt: str = ".1f", centre: float = 0.0, limit: float | None = 3.0,
            title: str | None = None, ax=None):
    """Heatmap of standardised scores (e.g. z-scores of units × indicators), diverging palette.

    Parameters
    ----------
    data : DataFrame
        Tidy: one row per (``y``, ``x``) cell with the score in ``value``.
    x, y : str
        Column and row keys (drawn in order of first appearance).
    value : str
        The score column.
    annot : bool
        Write the score in each cell.
    fmt : str
        Number format of the annotations.
    centre : float
        Centre of the diverging palette.
    limit : float, optional
        Symmetric colour range ``centre ± limit``; ``None`` uses the data range.
    title : str, optional
    ax : Axes, optional

    Returns
    -------
    matplotlib.axes.Axes

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame({"unit": ["甲", "甲", "乙", "乙"], "indicator": ["不捕率", "不诉率"] * 2,
    ...                    "z": [1.2, -0.4, -2.5, 0.3]})
    >>> ax = heatmap(df, x="indicator", y="unit")
    >>> [t.get_text() for t in ax.get_yticklabels()]
    ['甲', '乙']
    >>> close(ax)
    """
    # seaborn is heavy (about a second to import) and only this chart needs it
    import seaborn as sns

    _require(data, [x, y, value], "heatmap")
    rows = list(dict.fromkeys(data[y].astype(str)))
    cols = list(dict.fromkeys(data[x].astype(str)))
    d = data.assign(**{x: data[x].astype(str), y: data[y].astype(str),
                       value: pd.to_numeric(data[value], errors="coerce").astype(float)})
    grid = d.pivot_table(index=y, columns=x, values=value, aggfunc="mean").reindex(
        index=rows, columns=cols)
    ax = _new_ax(ax, figsize=(max(4.5, 0.9 * len(cols) + 2.5), max(2.6, 0.42 * len(rows) + 1.4)))
    vmin = vmax = None
    if limit is not None:
        vmin, vmax = centre - limit, centre + limit
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=RuntimeWarning)
        warnings.simplefilter("ignore", category=PendingDeprecationWarning)
        sns.heatmap(grid, ax=ax, cmap="RdBu_r", center=centre, vmin=vmin, vmax=vmax,
                    annot=annot, fmt=fmt, linewidths=0.5, linecolor="white",
                    cbar_kws={"label": "标准化得分"})
    ax.set_xlabel("")
    ax.set_ylabel("")
    if title:
        ax.set_title(title)
    return ax


__all__ = ["DPI", "set_style", "cjk_font", "close", "line_chart", "trend_chart",
           "bar_with_intervals", "funnel_chart", "heatmap"]
