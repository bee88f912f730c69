"""Period arithmetic, labels, errors and change display (casework.analysis.periods)."""

import math

import numpy as np
import pandas as pd
import pytest

from casework.analysis import periods
from casework.base.errors import ParameterError


@pytest.mark.parametrize(
    "code, kind, start, end, label",
    [
        ("2024-05", "month", "2024-05-01", "2024-05-31", "2024年5月"),
        ("2024-02", "month", "2024-02-01", "2024-02-29", "2024年2月"),  # leap year
        ("2023-02", "month", "2023-02-01", "2023-02-28", "2023年2月"),
        ("2024-Q2", "quarter", "2024-04-01", "2024-06-30", "2024年第二季度"),
        ("2024-Q4", "quarter", "2024-10-01", "2024-12-31", "2024年第四季度"),
        ("2024-H1", "half", "2024-01-01", "2024-06-30", "2024年上半年"),
        ("2024-H2", "half", "2024-07-01", "2024-12-31", "2024年下半年"),
        ("2024", "year", "2024-01-01", "2024-12-31", "2024年"),
        ("2024-YTD05", "ytd", "2024-01-01", "2024-05-31", "2024年1-5月"),
        ("2024-YTD02", "ytd", "2024-01-01", "2024-02-29", "2024年1-2月"),
        ("2024-03-01_2024-06-15", "custom", "2024-03-01", "2024-06-15",
         "2024年3月1日至2024年6月15日"),
        ("2024-03-01_2024-06-30", "custom", "2024-03-01", "2024-06-30", "2024年3-6月"),
    ],
)
def test_parse(code, kind, start, end, label):
    p = periods.parse(code)
    assert (p.kind, p.code, p.label_zh) == (kind, code, label)
    assert p.start == pd.Timestamp(start) and p.end == pd.Timestamp(end)
    assert periods.parse(p.code) == p  # the code round-trips
    assert periods.parse(p) is p


@pytest.mark.parametrize("variant, code", [("202405", "2024-05"), ("2024-5", "2024-05"),
                                           ("2024年5月", "2024-05"), ("2024q2", "2024-Q2"),
                                           ("2024ytd5", "2024-YTD05"), (2024, "2024"),
                                           (" 2024-H2 ", "2024-H2")])
def test_parse_variants(variant, code):
    assert periods.parse(variant).code == code


@pytest.mark.parametrize("bad", ["2024-13", "2024-Q5", "2024-H3", "24-05", "May 2024", "",
                                 "2024-YTD13", "2024-06-15_2024-03-01", "2024-02-30_2024-03-01",
                                 None, 3.5])
def test_parse_errors_list_accepted_forms(bad):
    with pytest.raises(ParameterError) as err:
        periods.parse(bad)
    text = str(err.value)
    assert "2024-Q2" in text and "2024-YTD05" in text and "2024-03-01_2024-06-15" in text


@pytest.mark.parametrize(
    "code, prev, ago",
    [
        ("2024-01", "2023-12", "2023-01"),
        ("2024-03", "2024-02", "2023-03"),
        ("2024-Q1", "2023-Q4", "2023-Q1"),  # Q1 year_ago and previous cross the year
        ("2024-Q3", "2024-Q2", "2023-Q3"),
        ("2024-H1", "2023-H2", "2023-H1"),
        ("2024-H2", "2024-H1", "2023-H2"),
        ("2024", "2023", "2023"),
        ("2024-YTD05", "2023-08-01_2023-12-31", "2023-YTD05"),
        ("2024-YTD01", "2023-12-01_2023-12-31", "2023-YTD01"),
        ("2024-YTD12", "2023-01-01_2023-12-31", "2023-YTD12"),
        ("2024-03-01_2024-06-30", "2023-11-01_2024-02-29", "2023-03-01_2023-06-30"),
        ("2024-03-11_2024-03-20", "2024-03-01_2024-03-10", "2023-03-11_2023-03-20"),
        ("2024-02-29_2024-03-01", "2024-02-27_2024-02-28", "2023-02-28_2023-03-01"),
    ],
)
def test_previous_and_year_ago(code, prev, ago):
    p = periods.parse(code)
    assert p.previous().code == prev
    assert p.year_ago().code == ago
    # equal length: 环比 bases of calendar periods cover the same number of months
    if p.n_months:
        assert p.previous().n_months == p.n_months


def test_leap_year_feb_year_ago():
    feb = periods.parse("2024-02")
    assert feb.n_days == 29 and feb.year_ago().n_days == 28
    assert periods.parse("2025-02").year_ago().n_days == 29
    assert periods.parse("2024-Q1").n_days == 91 and periods.parse("2023-Q1").n_days == 90


def test_shift_and_months():
    p = periods.parse("2024-Q1")
    assert p.shift(-4) == periods.parse("2023-Q1")
    assert p.shift(1).code == "2024-Q2"
    assert [m.code for m in periods.parse("2024-H2").months()] == [
        "2024-07", "2024-08", "2024-09", "2024-10", "2024-11", "2024-12"]
    assert [m.code for m in periods.parse("2024-01-15_2024-03-02").months()] == [
        "2024-01", "2024-02", "2024-03"]
    assert len(periods.parse("2024-YTD05").months()) == 5


def test_contains_inclusive_bounds_and_missing():
    p = periods.parse("2024-02")
    s = pd.Series(pd.to_datetime(["2024-01-31", "2024-02-01", "2024-02-29", "2024-03-01", None]))
    assert p.contains(s).tolist() == [False, True, True, False, False]
    # time of day on the last day still counts
    assert p.contains(pd.Series([pd.Timestamp("2024-02-29 23:59:59")])).tolist() == [True]
    # strings and other inputs
    assert p.contains(["2024-02-10", "2024-03-10"]).tolist() == [True, False]
    # keeps the index of the input
    s2 = pd.Series(pd.to_datetime(["2024-02-02"]), index=[42])
    assert p.contains(s2).index.tolist() == [42]


def test_sql_predicate_matches_contains():
    import duckdb

    p = periods.parse("2024-Q1")
    df = pd.DataFrame({"d": pd.to_datetime(["2023-12-31", "2024-01-01", "2024-03-31", "2024-04-01",
                                            None]).astype("datetime64[s]")})
    got = duckdb.sql(f"SELECT {p.sql('d')} AS x FROM df").df()["x"].fillna(False).tolist()
    assert got == p.contains(df["d"]).tolist()


def test_last_full_month():
    assert periods.last_full_month("2024-01-15").code == "2023-12"
    assert periods.last_full_month("2024-03-01").code == "2024-02"
    assert periods.last_full_month().end < pd.Timestamp.today().normalize().replace(day=1)


def test_trailing_and_range():
    ms = periods.trailing_months("2024-05", 24)
    assert len(ms) == 24 and ms[0].code == "2022-06" and ms[-1].code == "2024-05"
    assert [m.code for m in periods.month_range("2024-11", "2025-01")] == [
        "2024-11", "2024-12", "2025-01"]


def test_short_labels():
    assert periods.parse("2024-YTD05").short_label_zh == "1-5月"
    assert periods.parse("2024-05").short_label_zh == "5月"
    assert periods.parse("2024-Q2").short_label_zh == "第二季度"
    assert periods.parse("2024").short_label_zh == "全年"


def test_change_units():
    # rate: percentage points
    assert periods.change(0.381, 0.405, kind="rate") == pytest.approx(-2.4)
    # count: per cent; base 0 → NaN, never inf
    assert periods.change(1234, 1100, kind="count") == pytest.approx(134 / 1100 * 100)
    assert math.isnan(periods.change(5, 0, kind="count"))
    assert math.isnan(periods.change(0, 0, kind="count"))
    assert math.isnan(periods.change(float("nan"), 0.3, kind="rate"))
    # mean: absolute difference
    assert periods.change(12.0, 14.5, kind="mean") == pytest.approx(-2.5)
    arr = periods.change(np.array([1, 2, 3]), np.array([0, 4, np.nan]), kind="count")
    assert np.isnan(arr[0]) and arr[1] == pytest.approx(-50) and np.isnan(arr[2])
    assert not np.isinf(arr).any()
    with pytest.raises(ParameterError):
        periods.change(1, 2, kind="percent")


def test_format_value_and_change():
    assert periods.format_value(0.381, kind="rate") == "38.1%"
    assert periods.format_value(1234, kind="count") == "1,234"
    assert periods.format_value(1.5457, kind="ratio") == "1:1.55"
    assert periods.format_value(None, kind="count") == "—"
    assert periods.format_value(float("inf"), kind="rate") == "—"
    assert periods.format_change(-2.4, kind="rate") == "-2.4个百分点"
    assert periods.format_change(12.34, kind="count") == "+12.3%"
    assert periods.format_change(0.04, kind="count") == "+0.0%"
    assert periods.format_change(-0.04, kind="count") == "+0.0%"  # no "-0.0"
    assert periods.format_change(float("nan"), kind="rate") == "—"
    assert periods.format_change(periods.change(3, 0, kind="count"), kind="count") == "—"
