"""Textbook control charts against Montgomery's published figures (issue 14): the Phase I p
chart on the orange-juice data and the tabular CUSUM of example 9.1, to 4 decimals."""

from __future__ import annotations

import pytest

from casework.analysis import textbook_charts as tc
from casework.base.errors import ParameterError

# qcc `orangejuice`, first 30 samples of n = 50 (Montgomery, table 7.1)
ORANGE = [12, 15, 8, 10, 4, 7, 16, 9, 14, 10, 5, 6, 17, 12, 22, 8, 10, 5, 13, 11, 20, 18, 24,
          15, 9, 12, 7, 13, 9, 6]
# Montgomery, example 9.1 (table 9.1): μ0 = 10, σ = 1
CUSUM_X = [9.45, 7.99, 9.29, 11.66, 12.16, 10.18, 8.04, 11.46, 9.20, 10.34, 9.03, 11.47, 10.51,
           9.40, 10.08, 9.37, 10.62, 10.31, 8.52, 10.84, 10.90, 9.33, 12.29, 11.50, 10.60,
           11.08, 10.38, 11.62, 11.31, 10.52]


def test_phase_one_p_chart_reproduces_montgomery():
    ch = tc.p_chart(ORANGE, 50)
    assert ch.attrs["center"] == pytest.approx(0.2313, abs=5e-5)
    assert ch["ucl"].iloc[0] == pytest.approx(0.4102, abs=5e-5)
    assert ch["lcl"].iloc[0] == pytest.approx(0.0524, abs=5e-5)
    assert ch.loc[ch["above"], "sample"].tolist() == [15, 23]
    assert not ch["below"].any()
    # revised limits without the two samples with assignable causes
    rev = tc.p_chart(ORANGE, 50, exclude=[15, 23])
    assert (rev["center"].iloc[0], rev["ucl"].iloc[0], rev["lcl"].iloc[0]) == pytest.approx(
        (0.2150, 0.3893, 0.0407), abs=5e-5)


def test_p_chart_varying_sizes_and_bad_input():
    ch = tc.p_chart([1, 5], [10, 40])
    assert ch.attrs["center"] == pytest.approx(6 / 50)
    assert ch["ucl"].iloc[0] > ch["ucl"].iloc[1]
    with pytest.raises(ParameterError):
        tc.p_chart([60], 50)


def test_tabular_cusum_reproduces_montgomery():
    cs = tc.tabular_cusum(CUSUM_X, target=10, sd=1, k=0.5, h=5)
    assert cs.attrs["first_signal"] == 29 and cs.attrs["direction"] == "up"
    assert cs["c_plus"].iloc[28] == pytest.approx(5.28, abs=5e-5)
    assert cs["n_plus"].iloc[28] == 7
    assert not cs["signal_up"].iloc[:28].any() and not cs["signal_down"].any()
    assert cs.attrs["shift_start"] == 23                    # the shift after sample 22
    assert cs.attrs["shift_mean"] == pytest.approx(10.5 + 5.28 / 7, abs=5e-5)
    # the first points of table 9.2
    assert cs["c_plus"].iloc[:5].round(2).tolist() == [0.0, 0.0, 0.0, 1.16, 2.82]
    assert cs["c_minus"].iloc[:3].round(2).tolist() == [0.05, 1.56, 1.77]
