"""Reporting periods (月/季/半年/年/累计/自定义), 同比 and 环比, and how changes are shown.

A period is named by a short code; :func:`parse` turns it into a :class:`Period` with inclusive
start and end dates and a Chinese label. Every module that needs a period parses it here, so
"2024-Q2" means the same thing in the indicators, the monitor, the narrative and the reports.

========================  ==========  ===========================
code                      kind        label_zh
========================  ==========  ===========================
``2024-05``               month       2024年5月
``2024-Q2``               quarter     2024年第二季度
``2024-H1``               half        2024年上半年
``2024``                  year        2024年
``2024-YTD05``            ytd         2024年1-5月 (累计)
``2024-03-01_2024-06-15`` custom      2024年3月1日至2024年6月15日
========================  ==========  ===========================

Changes (:func:`change`) follow the releases' convention: rates change in percentage points
(个百分点), counts in per cent; a zero or missing base gives NaN, displayed as "—"
(:func:`format_change`), never an infinity or an error.

Examples
--------
>>> from casework.analysis import periods
>>> p = periods.parse("2024-Q1")
>>> p.label_zh, str(p.start.date()), str(p.end.date())
('2024年第一季度', '2024-01-01', '2024-03-31')
>>> p.previous().code, p.year_ago().code
('2023-Q4', '2023-Q1')
>>> periods.parse("2024-YTD05").label_zh
'2024年1-5月'
>>> periods.format_change(periods.change(0.381, 0.405, kind="rate"), kind="rate")
'-2.4个百分点'
>>> periods.format_change(periods.change(5, 0, kind="count"), kind="count")
'—'
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from casework.base.errors import ParameterError, check_choice

#: Kinds of period, in the order they are listed to users.
KINDS = ("month", "quarter", "half", "year", "ytd", "custom")

#: What :func:`parse` accepts, shown in every error message.
ACCEPTED_FORMS_ZH = (
    "月 2024-05；季度 2024-Q2；半年 2024-H1；年 2024；累计 2024-YTD05（1-5月）；"
    "自定义 2024-03-01_2024-06-15"
)
ACCEPTED_FORMS_EN = (
    "month 2024-05; quarter 2024-Q2; half-year 2024-H1; year 2024; year-to-date 2024-YTD05 "
    "(Jan-May); custom 2024-03-01_2024-06-15"
)

#: Placeholder shown for a value or change that cannot be computed (zero or missing base).
DASH = "—"

_QUARTER_ZH = {1: "一", 2: "二", 3: "三", 4: "四"}
_HALF_ZH = {1: "上", 2: "下"}

_RE_MONTH = re.compile(r"^(\d{4})-?(\d{1,2})$|^(\d{4})(\d{2})$|^(\d{4})年(\d{1,2})月$")
_RE_QUARTER = re.compile(r"^(\d{4})-?[Qq]([1-4])$")
_RE_HALF = re.compile(r"^(\d{4})-?[Hh]([12])$")
_RE_YEAR = re.compile(r"^(\d{4})年?$")
_RE_YTD = re.compile(r"^(\d{4})-?YTD(\d{1,2})$", re.IGNORECASE)
_RE_CUSTOM = re.compile(r"^(\d{4}-\d{1,2}-\d{1,2})\s*(?:_|~|至|--)\s*(\d{4}-\d{1,2}-\d{1,2})$")


def _bad(code, why_zh: str = "", why_en: str = "") -> ParameterError:
    zh = (f"无法识别的统计期间 {code!r}{('：' + why_zh) if why_zh else ''}。"
          f"可用格式：{ACCEPTED_FORMS_ZH}")
    en = (f"unrecognised period {code!r}{(': ' + why_en) if why_en else ''}. "
          f"Accepted: {ACCEPTED_FORMS_EN}")
    return ParameterError(zh, en, hint="例如 / e.g. --period 2024-05")


def _month_start(year: int, month: int) -> pd.Timestamp:
    return pd.Timestamp(year=year, month=month, day=1)


def _month_index(ts: pd.Timestamp) -> int:
    return ts.year * 12 + ts.month - 1


def _ym(index: int) -> tuple[int, int]:
    return index // 12, index % 12 + 1


def _span_end(year: int, month: int, n: int) -> pd.Timestamp:
    """Last day of the n-month span starting at (year, month)."""
    y, m = _ym(year * 12 + month - 1 + n)
    return _month_start(y, m) - pd.Timedelta(days=1)


def _check_year(code, year: int) -> None:
    if not 1900 <= year <= 2200:
        raise _bad(code, f"年份 {year} 超出范围", f"year {year} out of range")


@dataclass(frozen=True)
class Period:
    """A reporting period with inclusive bounds.

    Attributes
    ----------
    kind : str
        ``month``, ``quarter``, ``half``, ``year``, ``ytd`` (累计, January to a month) or
        ``custom``.
    code : str
        Canonical code, accepted back by :func:`parse` (``str(period)`` gives it too).
    start, end : pandas.Timestamp
        First and last day, both inclusive (midnight).
    label_zh : str
        Chinese display label.

    Examples
    --------
    >>> p = parse("2024-02")
    >>> str(p.end.date()), p.n_days
    ('2024-02-29', 29)
    >>> [m.code for m in parse("2024-Q1").months()]
    ['2024-01', '2024-02', '2024-03']
    """

    kind: str
    code: str
    start: pd.Timestamp
    end: pd.Timestamp
    label_zh: str

    def __str__(self) -> str:
        return self.code

    # --- shape -------------------------------------------------------------------------------
    @property
    def month_aligned(self) -> bool:
        """True when the period starts on a 1st and ends on a month's last day."""
        return self.start.day == 1 and (self.end + pd.Timedelta(days=1)).day == 1

    @property
    def n_months(self) -> int | None:
        """Number of calendar months covered (``None`` for a custom range not on month bounds)."""
        if not self.month_aligned:
            return None
        return _month_index(self.end) - _month_index(self.start) + 1

    @property
    def n_days(self) -> int:
        """Number of days covered."""
        return int((self.end - self.start).days) + 1

    @property
    def short_label_zh(self) -> str:
        """The label without the year (``5月``, ``第二季度``, ``上半年``, ``1-5月``, ``全年``),
        for sentences that already name the year."""
        y = f"{self.start.year}年"
        if self.kind == "year":
            return "全年"
        if self.kind in ("month", "quarter", "half", "ytd") and self.label_zh.startswith(y):
            return self.label_zh[len(y):]
        return self.label_zh

    # --- arithmetic --------------------------------------------------------------------------
    def previous(self) -> Period:
        """The previous period of the same kind and length (环比).

        Month → previous month, quarter → previous quarter, half → previous half, year →
        previous year. A year-to-date period (2024-YTD05, five months) has no calendar
        predecessor of its kind; its 环比 base is the span of the same number of months just
        before it (2023-08-01_2023-12-31). A custom range is compared with the span of equal
        length just before it (whole months when it is month-aligned, else days).

        Examples
        --------
        >>> parse("2024-01").previous().code
        '2023-12'
        >>> parse("2024-H1").previous().code
        '2023-H2'
        >>> parse("2024-YTD05").previous().code
        '2023-08-01_2023-12-31'
        >>> parse("2024-03-11_2024-03-20").previous().code
        '2024-03-01_2024-03-10'
        """
        if self.kind in ("month", "quarter", "half", "year"):
            n = self.n_months
            y, m = _ym(_month_index(self.start) - n)
            return _calendar(self.kind, y, m)
        if self.month_aligned:
            n = self.n_months
            y, m = _ym(_month_index(self.start) - n)
            return custom(_month_start(y, m), self.start - pd.Timedelta(days=1))
        end = self.start - pd.Timedelta(days=1)
        return custom(end - pd.Timedelta(days=self.n_days - 1), end)

    def year_ago(self) -> Period:
        """The same period one year earlier (同比).

        Examples
        --------
        >>> parse("2024-Q1").year_ago().label_zh
        '2023年第一季度'
        >>> parse("2024-YTD05").year_ago().code
        '2023-YTD05'
        >>> parse("2024-02-29_2024-03-05").year_ago().code
        '2023-02-28_2023-03-05'
        """
        if self.kind in ("month", "quarter", "half", "year"):
            return _calendar(self.kind, self.start.year - 1, self.start.month)
        if self.kind == "ytd":
            return ytd(self.start.year - 1, self.end.month)
        if self.month_aligned:
            y0, m0 = self.start.year - 1, self.start.month
            y1, m1 = self.end.year - 1, self.end.month
            return custom(_month_start(y0, m0), _span_end(y1, m1, 1))
        one = pd.DateOffset(years=1)
        return custom(self.start - one, self.end - one)

    def shift(self, n: int) -> Period:
        """``n`` periods later (negative: earlier); ``shift(-1) == previous()``."""
        p = self
        for _ in range(abs(n)):
            p = p.previous() if n < 0 else p._next()
        return p

    def _next(self) -> Period:
        if self.kind in ("month", "quarter", "half", "year"):
            y, m = _ym(_month_index(self.start) + self.n_months)
            return _calendar(self.kind, y, m)
        if self.month_aligned:
            y, m = _ym(_month_index(self.end) + 1)
            return custom(_month_start(y, m), _span_end(y, m, self.n_months))
        start = self.end + pd.Timedelta(days=1)
        return custom(start, start + pd.Timedelta(days=self.n_days - 1))

    def months(self) -> list[Period]:
        """The calendar months this period overlaps, as month periods (a custom range that
        starts or ends mid-month includes those whole months)."""
        first, last = _month_index(self.start), _month_index(self.end)
        return [month(*_ym(i)) for i in range(first, last + 1)]

    def contains(self, dates) -> pd.Series:
        """Boolean Series: which ``dates`` fall in the period (missing dates → False).

        Examples
        --------
        >>> s = pd.Series([pd.Timestamp("2024-05-31 18:00"), pd.Timestamp("2024-06-01"), pd.NaT])
        >>> parse("2024-05").contains(s).tolist()
        [True, False, False]
        """
        if isinstance(dates, pd.Series):
            s = dates
        else:
            s = pd.Series(dates)
        if not pd.api.types.is_datetime64_any_dtype(s):
            s = pd.to_datetime(s, format="mixed", errors="coerce")
        out = (s >= self.start) & (s < self.end + pd.Timedelta(days=1))
        return out.fillna(False).astype(bool)

    def sql(self, column: str) -> str:
        """A DuckDB predicate selecting ``column`` inside the period (for pushdown)."""
        nxt = (self.end + pd.Timedelta(days=1)).date().isoformat()
        return f"({column} >= DATE '{self.start.date().isoformat()}' AND {column} < DATE '{nxt}')"


# --- constructors ----------------------------------------------------------------------------


def month(year: int, month_: int) -> Period:
    """The calendar month ``year``-``month_``."""
    start = _month_start(year, month_)
    return Period("month", f"{year}-{month_:02d}", start, _span_end(year, month_, 1),
                  f"{year}年{month_}月")


def quarter(year: int, q: int) -> Period:
    """Quarter ``q`` (1-4) of ``year``."""
    m = 3 * (q - 1) + 1
    return Period("quarter", f"{year}-Q{q}", _month_start(year, m), _span_end(year, m, 3),
                  f"{year}年第{_QUARTER_ZH[q]}季度")


def half(year: int, h: int) -> Period:
    """Half-year ``h`` (1 = 上半年, 2 = 下半年) of ``year``."""
    m = 1 if h == 1 else 7
    return Period("half", f"{year}-H{h}", _month_start(year, m), _span_end(year, m, 6),
                  f"{year}年{_HALF_ZH[h]}半年")


def year(year_: int) -> Period:
    """The calendar year."""
    return Period("year", f"{year_}", _month_start(year_, 1), _span_end(year_, 1, 12),
                  f"{year_}年")


def ytd(year_: int, through_month: int) -> Period:
    """累计: January to ``through_month`` of ``year_``."""
    label = (f"{year_}年{through_month}月" if through_month == 1
             else f"{year_}年1-{through_month}月")
    return Period("ytd", f"{year_}-YTD{through_month:02d}", _month_start(year_, 1),
                  _span_end(year_, 1, through_month), label)


def custom(start, end) -> Period:
    """A custom inclusive date range."""
    start = pd.Timestamp(start).normalize()
    end = pd.Timestamp(end).normalize()
    code = f"{start.date().isoformat()}_{end.date().isoformat()}"
    if end < start:
        raise _bad(code, "结束日期早于开始日期", "end is before start")
    aligned = start.day == 1 and (end + pd.Timedelta(days=1)).day == 1
    if aligned:
        if start.year == end.year:
            label = (f"{start.year}年{start.month}月" if start.month == end.month
                     else f"{start.year}年{start.month}-{end.month}月")
        else:
            label = f"{start.year}年{start.month}月至{end.year}年{end.month}月"
    else:
        label = (f"{start.year}年{start.month}月{start.day}日至"
                 f"{end.year}年{end.month}月{end.day}日")
    return Period("custom", code, start, end, label)


def _calendar(kind: str, y: int, m: int) -> Period:
    if kind == "month":
        return month(y, m)
    if kind == "quarter":
        return quarter(y, (m - 1) // 3 + 1)
    if kind == "half":
        return half(y, 1 if m <= 6 else 2)
    return year(y)


def parse(code) -> Period:
    """Parse a period code.

    Parameters
    ----------
    code : str or Period
        ``2024-05`` month, ``2024-Q2`` quarter, ``2024-H1`` half-year, ``2024`` year,
        ``2024-YTD05`` year-to-date (累计 January-May), ``2024-03-01_2024-06-15`` custom
        inclusive range. Variants ``202405``, ``2024-5``, ``2024年5月``, ``2024Q2`` are accepted
        and normalised. A :class:`Period` is returned unchanged.

    Returns
    -------
    Period

    Raises
    ------
    ParameterError
        For anything else; the message lists the accepted forms.

    Examples
    --------
    >>> parse("2024-H1").label_zh
    '2024年上半年'
    >>> parse("2024年5月").code
    '2024-05'
    >>> parse("2024-13")
    Traceback (most recent call last):
    ...
    casework.base.errors.ParameterError: 无法识别的统计期间 '2024-13'：月份 13 无效。可用格式：...
    """
    if isinstance(code, Period):
        return code
    if isinstance(code, int) and not isinstance(code, bool):
        code = str(code)
    if not isinstance(code, str):
        raise _bad(code, "应为字符串", "expected a string")
    text = code.strip()
    if m := _RE_YTD.match(text):
        y, mm = int(m.group(1)), int(m.group(2))
        _check_year(code, y)
        if not 1 <= mm <= 12:
            raise _bad(code, f"月份 {mm} 无效", f"month {mm} is invalid")
        return ytd(y, mm)
    if m := _RE_QUARTER.match(text):
        _check_year(code, int(m.group(1)))
        return quarter(int(m.group(1)), int(m.group(2)))
    if m := _RE_HALF.match(text):
        _check_year(code, int(m.group(1)))
        return half(int(m.group(1)), int(m.group(2)))
    if m := _RE_YEAR.match(text):
        _check_year(code, int(m.group(1)))
        return year(int(m.group(1)))
    if m := _RE_MONTH.match(text):
        groups = [g for g in m.groups() if g is not None]
        y, mm = int(groups[0]), int(groups[1])
        _check_year(code, y)
        if not 1 <= mm <= 12:
            raise _bad(code, f"月份 {mm} 无效", f"month {mm} is invalid")
        return month(y, mm)
    if m := _RE_CUSTOM.match(text):
        try:
            start, end = pd.Timestamp(m.group(1)), pd.Timestamp(m.group(2))
        except (ValueError, TypeError):
            raise _bad(code, "日期无效", "invalid date") from None
        _check_year(code, start.year)
        _check_year(code, end.year)
        return custom(start, end)
    raise _bad(code)


def last_full_month(today=None) -> Period:
    """The last complete calendar month before ``today`` (default: the current date).

    Examples
    --------
    >>> last_full_month("2024-03-01").code
    '2024-02'
    >>> last_full_month(pd.Timestamp("2024-01-31")).code
    '2023-12'
    """
    t = pd.Timestamp.today() if today is None else pd.Timestamp(today)
    y, m = _ym(_month_index(t) - 1)
    return month(y, m)


def month_range(start, end) -> list[Period]:
    """All months from ``start`` to ``end`` inclusive (codes, dates or periods; a longer period
    contributes its first month as ``start`` and its last as ``end``).

    Examples
    --------
    >>> [p.code for p in month_range("2023-11", "2024-02")]
    ['2023-11', '2023-12', '2024-01', '2024-02']
    """
    a = _as_period(start).start
    b = _as_period(end).end
    return [month(*_ym(i)) for i in range(_month_index(a), _month_index(b) + 1)]


def trailing_months(period, n: int = 24) -> list[Period]:
    """The ``n`` months ending with the last month of ``period`` (for trend charts).

    Examples
    --------
    >>> ms = trailing_months("2024-Q2", 24)
    >>> ms[0].code, ms[-1].code, len(ms)
    ('2022-07', '2024-06', 24)
    """
    p = _as_period(period)
    last = _month_index(p.end)
    return [month(*_ym(i)) for i in range(last - n + 1, last + 1)]


#: A trailing month counts as data when it holds at least this share of the median month.
MIN_MONTH_SHARE = 0.3


def last_data_month(dates, *, min_share: float = MIN_MONTH_SHARE) -> Period | None:
    """The last month with data in a column of dates (None when there are no dates).

    Trailing months holding fewer than ``min_share`` of the median monthly count are not
    data — a few mistyped future dates, or a snapshot taken in the first days of a month — so
    trends and periods never end on an empty or nearly empty month.

    Examples
    --------
    >>> d = pd.Series(pd.date_range("2026-01-01", "2026-11-30", freq="D").tolist()
    ...               + [pd.Timestamp("2027-03-02")])
    >>> last_data_month(d).code
    '2026-11'
    >>> last_data_month(pd.Series([], dtype="datetime64[ns]")) is None
    True
    """
    d = pd.to_datetime(pd.Series(dates), errors="coerce").dropna()
    if d.empty:
        return None
    counts = d.dt.to_period("M").value_counts().sort_index()
    full = counts.reindex(pd.period_range(counts.index.min(), counts.index.max(), freq="M"),
                          fill_value=0)
    med = float(full[full > 0].median())
    last = full[full >= min_share * med].index.max()
    return month(last.year, last.month)


@dataclass(frozen=True)
class Coverage:
    """How much of a report period the data cover (:func:`coverage`).

    Attributes
    ----------
    period : Period
        The period asked for.
    effective : Period
        The part of it with data: the period itself when complete, else January (or the
        period's first month) to the last month with data — ``2026年1-11月`` for 2026 with
        data to November. Tables, 同比 and 环比 use it, so a year of eleven months is never
        compared with a full one.
    last_month : Period or None
        The last month with data.
    months_in_period, months_with_data : int
        Calendar months of the period, and how many of them have data.
    """

    period: Period
    effective: Period
    last_month: Period | None
    months_in_period: int
    months_with_data: int

    @property
    def complete(self) -> bool:
        """True when every month of the period has data."""
        return self.months_with_data >= self.months_in_period


def coverage(period, dates=None, *, last_month=None,
             min_share: float = MIN_MONTH_SHARE) -> Coverage:
    """Which part of ``period`` the data cover (an incomplete period is flagged, not hidden).

    Parameters
    ----------
    period : str or Period
        The report period.
    dates : column of dates, optional
        E.g. ``records.accepted_on``; the last month with data is
        :func:`last_data_month` of it.
    last_month : str or Period, optional
        Give the last month with data directly instead.

    Raises
    ------
    ParameterError
        When the period starts after the last month with data.

    Examples
    --------
    >>> c = coverage("2026", last_month="2026-11")
    >>> c.complete, c.months_with_data, c.effective.code, c.effective.label_zh
    (False, 11, '2026-YTD11', '2026年1-11月')
    >>> c.effective.year_ago().label_zh
    '2025年1-11月'
    >>> coverage("2026-Q4", last_month="2026-11").effective.label_zh
    '2026年10-11月'
    >>> coverage("2026-Q3", last_month="2026-11").complete
    True
    """
    p = parse(period)
    last = _as_period(last_month) if last_month is not None else (
        last_data_month(dates, min_share=min_share) if dates is not None else None)
    months = p.months()
    if last is None or p.end <= last.end:
        return Coverage(p, p, last, len(months), len(months))
    if last.end < p.start:
        raise ParameterError(
            f"统计期间{p.label_zh}没有数据：数据截至{last.label_zh}",
            f"no data in period {p.code}: the data end in {last.code}",
            hint=f"例如 / e.g. --period {last.code}")
    covered = [m for m in months if m.end <= last.end]
    if p.start.month == 1 and p.kind in ("year", "half", "quarter", "ytd"):
        eff = ytd(p.start.year, last.start.month)
    else:
        eff = custom(p.start, last.end)
    return Coverage(p, eff, last, len(months), len(covered))


def _as_period(x) -> Period:
    if isinstance(x, Period):
        return x
    is_date = isinstance(x, str) and re.match(r"^\d{4}-\d{1,2}-\d{1,2}$", x)
    if isinstance(x, (pd.Timestamp,)) or is_date:
        t = pd.Timestamp(x)
        return month(t.year, t.month)
    return parse(x)


# --- changes and their display ---------------------------------------------------------------

#: Kinds of value (indicator kinds) and how their changes are expressed.
CHANGE_UNITS = {"rate": "pp", "count": "pct", "mean": "abs", "median": "abs", "ratio": "abs"}


def change(current, previous, *, kind: str):
    """Change from ``previous`` to ``current`` in the unit the releases use.

    Parameters
    ----------
    current, previous : scalar or array-like
        Values (rates as proportions 0-1).
    kind : {"rate", "count", "mean", "median", "ratio"}
        ``rate``: difference in percentage points (0.381 vs 0.405 → −2.4);
        ``count``: per cent change ((1234 − 1100) / 1100 → 12.18), NaN when the base is 0 or
        missing; ``mean``/``median``/``ratio``: absolute difference in the value's own unit.

    Returns
    -------
    float or ndarray
        NaN wherever either value is missing or the base is zero (counts) — never inf.

    Examples
    --------
    >>> round(change(0.381, 0.405, kind="rate"), 2)
    -2.4
    >>> round(change(1234, 1100, kind="count"), 2)
    12.18
    >>> change([3, 1], [0, 2], kind="count").tolist()
    [nan, -50.0]
    """
    check_choice("kind", kind, CHANGE_UNITS)
    scalar = np.ndim(current) == 0 and np.ndim(previous) == 0
    cur = np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(current)), errors="coerce"),
                     dtype="float64")
    prev = np.asarray(pd.to_numeric(pd.Series(np.atleast_1d(previous)), errors="coerce"),
                      dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "rate":
            out = (cur - prev) * 100.0
        elif kind == "count":
            out = np.where(prev > 0, (cur - prev) / np.where(prev > 0, prev, 1.0) * 100.0, np.nan)
        else:
            out = cur - prev
    out = np.where(np.isfinite(out), out, np.nan)
    return float(out[0]) if scalar else out


def _missing(x) -> bool:
    try:
        return x is None or x is pd.NA or bool(pd.isna(x)) or not np.isfinite(float(x))
    except (TypeError, ValueError):
        return True


def format_value(value, *, kind: str, digits: int | None = None, unit: str = "") -> str:
    """Display a value: rates as per cent, counts with thousands separators, ratios as 1:x.

    Missing or non-finite values display as "—".

    Examples
    --------
    >>> format_value(0.38125, kind="rate")
    '38.1%'
    >>> format_value(1234, kind="count", unit="人")
    '1,234人'
    >>> format_value(12.345, kind="mean", unit="天")
    '12.3天'
    >>> format_value(1.5457, kind="ratio")
    '1:1.55'
    >>> format_value(float("nan"), kind="rate")
    '—'
    """
    if _missing(value):
        return DASH
    v = float(value)
    if kind == "rate":
        d = 1 if digits is None else digits
        return f"{v * 100:.{d}f}%"
    if kind == "count":
        if digits:
            return f"{v:,.{digits}f}{unit}"
        return f"{int(round(v)):,}{unit}"
    if kind == "ratio":
        d = 2 if digits is None else digits
        return f"1:{v:.{d}f}"
    d = 1 if digits is None else digits
    return f"{v:,.{d}f}{unit}"


def format_change(value, *, kind: str, digits: int = 1, unit: str = "",
                  signed: bool = True) -> str:
    """Display a change from :func:`change`: ``+2.4个百分点`` (rate), ``+12.3%`` (count),
    ``-1.5天`` (mean/median with ``unit``); missing → "—".

    Examples
    --------
    >>> format_change(-2.4, kind="rate")
    '-2.4个百分点'
    >>> format_change(12.34, kind="count")
    '+12.3%'
    >>> format_change(-1.46, kind="mean", unit="天")
    '-1.5天'
    >>> format_change(float("nan"), kind="count")
    '—'
    """
    if _missing(value):
        return DASH
    v = float(value)
    if round(v, digits) == 0:
        v = 0.0
    sign = "+" if signed else ""
    body = f"{v:{sign}.{digits}f}"
    if kind == "rate":
        return f"{body}个百分点"
    if kind == "count":
        return f"{body}%"
    return f"{body}{unit}"
