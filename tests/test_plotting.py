"""Chinese charts render without missing glyphs; the helpers draw what the tidy frame says."""

from __future__ import annotations

import io
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager

from casework.base.errors import ParameterError
from casework.present import plotting


@pytest.fixture(autouse=True)
def _style():
    plotting.set_style()
    yield
    plt.close("all")


def _render(fig) -> list[str]:
    """Draw ``fig`` to PNG and return every warning message raised while drawing."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=plotting.DPI)
    assert buf.getvalue()[:8] == b"\x89PNG\r\n\x1a\n"
    return [str(w.message) for w in caught]


def test_chinese_chart_with_minus_sign_has_no_missing_glyph():
    fig, ax = plt.subplots()
    ax.plot([-3, -1, 0, 2], [-0.5, 0.2, -1.2, 0.4], label="不起诉率（同比变化）")
    ax.set_title("审查起诉环节：不捕率、不诉率与认罪认罚适用率")
    ax.set_xlabel("月份（负数为上年同期）")
    ax.set_ylabel("变化（个百分点）−")
    ax.legend()
    msgs = _render(fig)
    assert not [m for m in msgs if "Glyph" in m], msgs
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert any(lab.startswith("-") for lab in labels)  # ASCII hyphen-minus, present in every font


def test_without_a_cjk_font_the_glyph_warning_fires():
    """The check above can fail: DejaVu Sans alone has no Chinese glyphs."""
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": ["DejaVu Sans"]}):
        fig, ax = plt.subplots()
        ax.set_title("中文标题")
        with pytest.raises(UserWarning, match="Glyph"):
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                fig.savefig(io.BytesIO(), format="png")


def test_set_style_keeps_the_font_after_seaborn_theme():
    font = plotting.set_style(context="talk")
    assert matplotlib.rcParams["font.sans-serif"][0] == font
    assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert matplotlib.rcParams["savefig.dpi"] == plotting.DPI
    prop = font_manager.FontProperties(family=font)
    path = font_manager.findfont(prop, fallback_to_default=False)
    assert "DejaVu" not in path  # a real CJK font file


def test_bundled_font_fallback(monkeypatch):
    """With no system CJK font, the OFL Noto Sans SC from pylopdf-fonts-zh-cn is registered."""
    monkeypatch.setattr(plotting, "_FONT", None)
    monkeypatch.setattr(plotting, "CJK_FAMILIES", ("No Such Font CJK",))
    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: [])
    font = plotting.cjk_font()
    assert font == "Noto Sans SC"
    bundled = plotting._bundled_font()
    assert bundled.name == "NotoSansSC-Regular.otf" and bundled.exists()
    with matplotlib.rc_context({"font.family": "sans-serif", "font.sans-serif": [font],
                                "axes.unicode_minus": False}):
        fig, ax = plt.subplots()
        ax.set_title("案件管理部门 −1.5")
        ax.plot([-1, 1])
        assert not [m for m in _render(fig) if "Glyph" in m]
    monkeypatch.setattr(plotting, "_FONT", None)  # next caller re-detects


def test_set_style_rejects_unknown_context():
    with pytest.raises(ParameterError, match="context"):
        plotting.set_style(context="poster-xl")


def _months(n=6):
    return pd.period_range("2024-01", periods=n, freq="M")


def test_trend_chart_highlights_flagged_months():
    df = pd.DataFrame({"month": _months(), "value": [0.1, 0.11, 0.3, 0.09, 0.1, 0.02],
                       "centre": 0.1, "lower_limit": [0.05] * 6, "upper_limit": [0.15] * 6,
                       "flagged": [False, False, True, False, False, True]})
    ax = plotting.trend_chart(df, title="捕后取保候审率", percent=True)
    flagged = ax.collections[0].get_offsets()
    assert len(flagged) == 2
    assert sorted(np.asarray(flagged)[:, 1].round(2).tolist()) == [0.02, 0.3]
    labels = {line.get_label() for line in ax.get_lines()}
    assert labels >= {"实际值", "中心线", "控制上限", "控制下限"}
    assert not [m for m in _render(ax.figure) if "Glyph" in m]


def test_trend_chart_without_limits_and_missing_column():
    ax = plotting.trend_chart(pd.DataFrame({"month": ["2024-01", "2024-02"], "value": [1, 2]}))
    assert len(ax.get_lines()) == 1
    with pytest.raises(ParameterError, match="value"):
        plotting.trend_chart(pd.DataFrame({"month": ["2024-01"], "rate": [1]}))


def test_bar_with_intervals_whiskers_and_highlight():
    df = pd.DataFrame({"label": ["一部", "二部", "三部"], "value": [0.2, 0.5, 0.1],
                       "value_ci_lower": [0.1, 0.4, 0.05], "value_ci_upper": [0.3, 0.6, 0.2],
                       "flag": [False, True, False]})
    ax = plotting.bar_with_intervals(df, highlight="flag", percent=True, reference=0.25)
    widths = [round(p.get_width(), 2) for p in ax.patches]
    assert widths == [0.2, 0.5, 0.1]
    colours = [matplotlib.colors.to_hex(p.get_facecolor()) for p in ax.patches]
    assert colours[1] == plotting.COLOURS["flag"] and colours[0] == plotting.COLOURS["series"]
    segs = [c for c in ax.collections if hasattr(c, "get_segments")][0].get_segments()
    spans = sorted(round(float(abs(s[1][0] - s[0][0])), 2) for s in segs)
    assert spans == [0.15, 0.2, 0.2]  # interval widths: 0.3-0.1, 0.6-0.4, 0.2-0.05
    assert [t.get_text() for t in ax.get_yticklabels()] == ["一部", "二部", "三部"]


def test_funnel_chart_labels_only_flagged_points():
    df = pd.DataFrame({"label": ["甲院", "乙院", "丙院", "丁院"],
                       "denominator": [40, 120, 400, 900],
                       "value": [0.5, 0.05, 0.11, 0.1], "target": 0.1,
                       "lower_95": [0.007, 0.046, 0.071, 0.08],
                       "upper_95": [0.193, 0.154, 0.129, 0.12],
                       "lower_998": [0.0, 0.015, 0.054, 0.069],
                       "upper_998": [0.246, 0.185, 0.146, 0.131],
                       "flag": ["alarm", "alert", "none", "none"]})
    ax = plotting.funnel_chart(df, title="不捕率漏斗图")
    assert sorted(t.get_text() for t in ax.texts) == ["乙院", "甲院"]
    assert len([ln for ln in ax.get_lines() if ln.get_linestyle() in ("--", ":")]) == 4
    colours = [matplotlib.colors.to_hex(c) for c in ax.collections[0].get_facecolors()]
    assert colours[:2] == [plotting.COLOURS["flag"], plotting.COLOURS["alert"]]
    assert not [m for m in _render(ax.figure) if "Glyph" in m]


def test_heatmap_grid_follows_tidy_rows():
    df = pd.DataFrame({"unit": ["甲院", "甲院", "乙院"],
                       "indicator": ["不捕率", "不诉率", "不捕率"], "z": [1.5, -2.0, 0.5]})
    ax = plotting.heatmap(df, x="indicator", y="unit", title="标准化得分")
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["-2.0", "0.5", "1.5"]  # the missing (乙院, 不诉率) cell stays empty
    assert [t.get_text() for t in ax.get_xticklabels()] == ["不捕率", "不诉率"]
    assert not [m for m in _render(ax.figure) if "Glyph" in m]


def test_line_chart_one_line_per_series():
    df = pd.DataFrame({"month": list(_months(3)) * 2, "n": [1, 2, 3, 4, 5, 6],
                       "stage": ["审查逮捕"] * 3 + ["审查起诉"] * 3})
    ax = plotting.line_chart(df, hue="stage")
    assert [ln.get_label() for ln in ax.get_lines()] == ["审查逮捕", "审查起诉"]
    assert ax.get_lines()[1].get_ydata().tolist() == [4.0, 5.0, 6.0]
