"""casework.analysis.funnels and casemix: funnel limits, overdispersion, case mix and shrinkage
against hand arithmetic.

Every expected number here is computed in the test from the published formulas
(Spiegelhalter 2005; reference/domain.md §4) with ``math`` — never read back from the code.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from casework.analysis import casemix, funnels
from casework.base.errors import DataError, ParameterError

Z95 = 1.959963984540054
Z998 = 3.090232306167813


def binom_cdf(r, n, p):
    return sum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(0, r + 1))


def poisson_cdf(r, lam):
    return sum(math.exp(-lam) * lam**k / math.factorial(k) for k in range(0, r + 1))


def interpolated_limit(cdf, prob, scale):
    """Spiegelhalter A.1.1: smallest r with F(r) ≥ prob, then (r − a)/scale."""
    r = 0
    while cdf(r) < prob:
        r += 1
    f_r, f_rm1 = cdf(r), (cdf(r - 1) if r > 0 else 0.0)
    a = (f_r - prob) / (f_r - f_rm1)
    return (r - a) / scale


# --------------------------------------------------------------------------------------------
# exact and normal limits
# --------------------------------------------------------------------------------------------


def test_exact_binomial_limits_match_hand_computation():
    # Six groups, pooled target 60/300 = 0.2; check the limits at n = 20 and n = 80.
    d = pd.DataFrame({"g": list("abcdef"), "numerator": [4, 16, 10, 10, 10, 10],
                      "denominator": [20, 80, 50, 50, 50, 50]})
    f = funnels.funnel(d, by="g").set_index("g")
    p0 = 60 / 300
    assert f["target"].iloc[0] == pytest.approx(p0)
    for g, n in (("a", 20), ("b", 80)):
        cdf = lambda r, n=n: binom_cdf(r, n, p0)  # noqa: E731
        assert f.loc[g, "upper_95"] == pytest.approx(interpolated_limit(cdf, 0.975, n), abs=1e-9)
        assert f.loc[g, "lower_95"] == pytest.approx(interpolated_limit(cdf, 0.025, n), abs=1e-9)
        assert f.loc[g, "upper_998"] == pytest.approx(interpolated_limit(cdf, 0.999, n), abs=1e-9)
        assert f.loc[g, "lower_998"] == pytest.approx(max(0.0, interpolated_limit(cdf, 0.001, n)),
                                                      abs=1e-9)
        assert f.loc[g, "limit_method"] == "exact"


def test_exact_limit_for_n20_p_half_by_hand():
    # F(13) = 0.94234, F(14) = 0.97931 under Binomial(20, 0.5): r = 14,
    # a = (0.97931 − 0.975) / (0.97931 − 0.94234) = 0.11655, limit = (14 − 0.11655)/20.
    f13 = sum(math.comb(20, k) for k in range(14)) / 2**20
    f14 = sum(math.comb(20, k) for k in range(15)) / 2**20
    expected = (14 - (f14 - 0.975) / (f14 - f13)) / 20
    assert expected == pytest.approx(0.69417, abs=1e-5)
    assert funnels.binomial_exact_limit(20, 0.5, 0.975) == pytest.approx(expected, abs=1e-12)


def test_normal_limits_only_where_n_is_large():
    # p0 = 0.3: n·p0·(1−p0) = 0.21·n ≥ 9 needs n ≥ 43; n = 20 stays exact, n = 400 is normal.
    d = pd.DataFrame({"g": list("abcde"), "numerator": [6, 120, 30, 30, 30],
                      "denominator": [20, 400, 100, 100, 100]})
    f = funnels.funnel(d, by="g", method="normal").set_index("g")
    p0 = 216 / 720
    assert p0 == pytest.approx(0.3)
    assert f.loc["a", "limit_method"] == "exact"
    assert f.loc["b", "limit_method"] == "normal"
    sd = math.sqrt(p0 * (1 - p0) / 400)
    assert f.loc["b", "upper_95"] == pytest.approx(p0 + Z95 * sd)
    assert f.loc["b", "lower_998"] == pytest.approx(p0 - Z998 * sd)
    exact = funnels.funnel(d, by="g", method="exact").set_index("g")
    # small n: identical to exact; large n: exact and normal agree to within a point
    assert f.loc["a", "upper_95"] == exact.loc["a", "upper_95"]
    assert abs(f.loc["b", "upper_95"] - exact.loc["b", "upper_95"]) < 0.01
    assert f.loc["b", "upper_95"] != exact.loc["b", "upper_95"]


def test_exact_poisson_limits_for_ratio():
    d = pd.DataFrame({"g": list("abcde"), "observed": [10, 12, 30, 8, 11],
                      "expected": [11.0, 10.0, 12.0, 9.0, 10.0]})
    f = funnels.ratio_funnel(d, by="g").set_index("g")
    cdf = lambda r: poisson_cdf(r, 10.0)  # noqa: E731
    assert f.loc["b", "upper_95"] == pytest.approx(interpolated_limit(cdf, 0.975, 10.0), abs=1e-9)
    assert f.loc["b", "lower_998"] == pytest.approx(interpolated_limit(cdf, 0.001, 10.0), abs=1e-9)
    # z on the log scale: log(O/E)·√E
    assert f.loc["c", "z"] == pytest.approx(math.log(30 / 12) * math.sqrt(12))
    assert f.loc["c", "flag"] == "alarm" and f.loc["c", "flag_direction"] == "high"
    assert f.loc["a", "flag"] == ""
    assert (f["target"] == 1.0).all()


def test_z_score_is_spiegelhalter_arcsine():
    d = pd.DataFrame({"g": list("abc"), "numerator": [5, 20, 35], "denominator": [50, 100, 150]})
    f = funnels.funnel(d, by="g").set_index("g")
    p0 = 60 / 300
    z_b = (math.asin(math.sqrt(0.2)) - math.asin(math.sqrt(p0))) * 2 * math.sqrt(100)
    z_c = (math.asin(math.sqrt(35 / 150)) - math.asin(math.sqrt(p0))) * 2 * math.sqrt(150)
    assert f.loc["b", "z"] == pytest.approx(z_b, abs=1e-12)
    assert f.loc["c", "z"] == pytest.approx(z_c)


# --------------------------------------------------------------------------------------------
# overdispersion
# --------------------------------------------------------------------------------------------

OD_Y = [8, 30, 12, 45, 20, 9, 60, 25, 14, 40]
OD_N = [100, 120, 80, 150, 100, 90, 200, 110, 70, 160]


def _hand_overdispersion():
    p0 = sum(OD_Y) / sum(OD_N)
    z = [(math.asin(math.sqrt(y / n)) - math.asin(math.sqrt(p0))) * 2 * math.sqrt(n)
         for y, n in zip(OD_Y, OD_N)]
    zs = sorted(z)
    # R type 7 quantile with I = 10: 10 % at position 0.9, 90 % at position 8.1 (0-based)
    q10 = zs[0] + 0.9 * (zs[1] - zs[0])
    q90 = zs[8] + 0.1 * (zs[9] - zs[8])
    zw = [min(max(v, q10), q90) for v in z]
    phi = sum(v * v for v in zw) / 10
    w = [4 * n for n in OD_N]  # w = 1/s², s = 1/(2√n)
    tau2 = max(0.0, (10 * phi - 9) / (sum(w) - sum(x * x for x in w) / sum(w)))
    return p0, z, phi, tau2


def test_phi_and_tau2_match_hand_computation():
    p0, z, phi, tau2 = _hand_overdispersion()
    d = pd.DataFrame({"g": [f"g{i}" for i in range(10)], "numerator": OD_Y, "denominator": OD_N})
    # method="normal": every group has n·p0·(1−p0) ≥ 9, so Spiegelhalter's z is used throughout
    f = funnels.funnel(d, by="g", overdispersion="additive", method="normal")
    assert (f["limit_method"] == "normal").all()
    assert phi > 2  # the fixture is clearly overdispersed
    assert f["phi"].iloc[0] == pytest.approx(phi, rel=1e-12)
    assert f["tau2"].iloc[0] == pytest.approx(tau2, rel=1e-12)
    assert f["od_statistic"].iloc[0] == pytest.approx(10 * phi)
    from scipy.stats import chi2

    assert f["od_p_value"].iloc[0] == pytest.approx(chi2.sf(10 * phi, 9))
    od = f.attrs["overdispersion"][()]
    assert od["overdispersed"] is True


def test_adjusted_limits_back_transformed():
    p0, z, phi, tau2 = _hand_overdispersion()
    d = pd.DataFrame({"g": [f"g{i}" for i in range(10)], "numerator": OD_Y, "denominator": OD_N})
    y0 = math.asin(math.sqrt(p0))
    s = 1 / (2 * math.sqrt(200))
    add = funnels.funnel(d, by="g", overdispersion="additive", method="normal").set_index("g")
    assert add.loc["g6", "od_upper_998"] == pytest.approx(
        math.sin(y0 + Z998 * math.sqrt(s * s + tau2)) ** 2)
    assert add.loc["g6", "od_lower_95"] == pytest.approx(
        math.sin(y0 - Z95 * math.sqrt(s * s + tau2)) ** 2)
    mult = funnels.funnel(d, by="g", overdispersion="multiplicative",
                          method="normal").set_index("g")
    assert mult.loc["g6", "od_upper_95"] == pytest.approx(
        math.sin(y0 + Z95 * math.sqrt(phi) * s) ** 2)
    assert mult.loc["g6", "z_adjusted"] == pytest.approx(z[6] / math.sqrt(phi))
    # widening the limits can only remove flags
    plain = funnels.funnel(d, by="g").set_index("g")
    assert (plain["flag"] != "").sum() >= (add["flag"] != "").sum()
    assert (plain["flag"] != "").sum() > 0


def test_no_overdispersion_leaves_limits_alone():
    # identical rates: φ̂ = 0 → τ̂² = 0 and the multiplicative factor is floored at 1
    d = pd.DataFrame({"g": list("abcdef"), "numerator": [10, 20, 30, 10, 20, 30],
                      "denominator": [100, 200, 300, 100, 200, 300]})
    add = funnels.funnel(d, by="g", overdispersion="additive", method="normal")
    assert add["phi"].iloc[0] == pytest.approx(0.0, abs=1e-20)
    assert add["tau2"].iloc[0] == 0.0
    mult = funnels.funnel(d, by="g", overdispersion="multiplicative", method="normal")
    s = 1 / (2 * math.sqrt(100))
    assert mult["od_upper_95"].iloc[0] == pytest.approx(
        math.sin(math.asin(math.sqrt(0.1)) + Z95 * s) ** 2)


def test_exact_method_uses_mid_p_z_for_overdispersion():
    # method="exact": z is the normal deviate of the mid-P tail probability under
    # Binomial(n, p0), and φ̂ is the mean of the winsorised squares of those z.
    from statistics import NormalDist

    p0 = sum(OD_Y) / sum(OD_N)
    zs = []
    for y, n in zip(OD_Y, OD_N):
        below = sum(math.comb(n, k) * p0**k * (1 - p0) ** (n - k) for k in range(y))
        at = math.comb(n, y) * p0**y * (1 - p0) ** (n - y)
        zs.append(NormalDist().inv_cdf(below + 0.5 * at))
    srt = sorted(zs)
    q10, q90 = srt[0] + 0.9 * (srt[1] - srt[0]), srt[8] + 0.1 * (srt[9] - srt[8])
    phi = sum(min(max(v, q10), q90) ** 2 for v in zs) / 10
    d = pd.DataFrame({"g": [f"g{i}" for i in range(10)], "numerator": OD_Y, "denominator": OD_N})
    f = funnels.funnel(d, by="g", overdispersion="multiplicative", method="exact")
    assert f["z_exact"].tolist() == pytest.approx(zs, abs=1e-6)
    assert f["phi"].iloc[0] == pytest.approx(phi, rel=1e-6)
    assert f["z_adjusted"].tolist() == pytest.approx([v / math.sqrt(phi) for v in zs], rel=1e-6)


def test_small_counts_do_not_inflate_overdispersion():
    # Twelve stations expecting 2–4 events, with counts a Poisson(E) gives routinely (0, 1 …).
    # On the log scale (O = 0 → 0.5) those z are skewed low and φ̂ comes out near 2; the mid-P
    # z of the exact method keeps φ̂ below 1 and nothing is flagged.
    e = [2, 3, 3, 4, 3, 3, 4, 4, 2, 3, 2, 4]
    o = [0, 0, 1, 1, 2, 3, 4, 5, 2, 3, 1, 6]
    z_log = [math.log(max(oi, 0.5) / ei) * math.sqrt(ei) for oi, ei in zip(o, e)]
    srt = sorted(z_log)
    # type-7 quantiles with I = 12: 10 % at position 1.1, 90 % at position 9.9 (0-based)
    q10 = srt[1] + 0.1 * (srt[2] - srt[1])
    q90 = srt[9] + 0.9 * (srt[10] - srt[9])
    phi_log = sum(min(max(v, q10), q90) ** 2 for v in z_log) / 12
    assert phi_log > 1.8
    d = pd.DataFrame({"g": [f"s{i:02d}" for i in range(12)], "observed": o, "expected": e})
    f = funnels.ratio_funnel(d, by="g", min_n=1, overdispersion="additive")
    assert f["phi"].iloc[0] < 1.0
    assert f["tau2"].iloc[0] == 0.0
    assert (f["flag"] == "").all()


def test_too_few_groups_gives_no_overdispersion_estimate():
    d = pd.DataFrame({"g": list("abc"), "numerator": [1, 50, 9], "denominator": [100] * 3})
    f = funnels.funnel(d, by="g", overdispersion="additive")
    assert f["phi"].isna().all()
    assert f["z_adjusted"].isna().all()
    assert (f["flag"] != "").any()  # falls back to the plain limits


# --------------------------------------------------------------------------------------------
# flags and the small-n floor
# --------------------------------------------------------------------------------------------


def test_min_n_floor_never_flags():
    d = pd.DataFrame({"g": list("abcdef"), "numerator": [50, 50, 50, 50, 50, 0],
                      "denominator": [100, 100, 100, 100, 100, 12]})
    f = funnels.funnel(d, by="g", min_n=13).set_index("g")
    assert bool(f.loc["f", "below_min_n"])
    assert f.loc["f", "flag"] == "" and f.loc["f", "flag_direction"] == ""
    # the same group with the floor lowered: P(0 of 12 | p0 = 250/512) = 0.512^12 ≈ 0.0003
    # is below 0.001, so 0/12 is outside the 99.8 % limits
    f1 = funnels.funnel(d, by="g", min_n=1).set_index("g")
    assert f1.loc["f", "flag"] == "alarm" and f1.loc["f", "flag_direction"] == "low"
    # and it is shown (a row with its value) even when floored
    assert f.loc["f", "value"] == 0.0


def test_flags_alert_vs_alarm():
    # pooled 195/1200 = 0.1625; n = 400: sd = 7.38 events; 45 is −2.7 sd, 90 is +3.4 sd
    d = pd.DataFrame({"g": ["甲", "乙", "丙"], "numerator": [45, 90, 60],
                      "denominator": [400, 400, 400]})
    f = funnels.funnel(d, by="g").set_index("g")
    assert (f.loc["甲", "flag"], f.loc["甲", "flag_direction"]) == ("alert", "low")
    assert (f.loc["乙", "flag"], f.loc["乙", "flag_direction"]) == ("alarm", "high")
    assert f.loc["丙", "flag"] == ""


def test_within_gives_separate_targets():
    d = pd.DataFrame({"indicator": ["x"] * 3 + ["y"] * 3, "g": list("abc") * 2,
                      "numerator": [10, 10, 10, 80, 80, 80], "denominator": [100] * 6})
    f = funnels.funnel(d, by="g", within="indicator")
    assert f.groupby("indicator")["target"].first().tolist() == pytest.approx([0.1, 0.8])
    assert (f["flag"] == "").all()


def test_bad_inputs():
    d = pd.DataFrame({"g": ["a"], "numerator": [5], "denominator": [3]})
    with pytest.raises(DataError):
        funnels.funnel(d, by="g")
    with pytest.raises(ParameterError):
        funnels.funnel(d, by="g", method="bogus")
    with pytest.raises(DataError):
        funnels.funnel(d, by="missing_column")


def test_funnel_limits_curves():
    lim = funnels.funnel_limits(0.2, [20, 80, 500], method="normal")
    assert lim.loc[0, "upper_95"] == pytest.approx(funnels.binomial_exact_limit(20, 0.2, 0.975))
    assert lim.loc[2, "upper_95"] == pytest.approx(0.2 + Z95 * math.sqrt(0.16 / 500))
    adj = funnels.funnel_limits(0.2, [100], tau2=0.001)
    s = 1 / 20
    assert adj.loc[0, "upper_998"] == pytest.approx(
        math.sin(math.asin(math.sqrt(0.2)) + Z998 * math.sqrt(s * s + 0.001)) ** 2)
    ratio = funnels.funnel_limits(1.0, [25], kind="ratio", method="normal")
    assert ratio.loc[0, "upper_95"] == pytest.approx(math.exp(Z95 / 5))


# --------------------------------------------------------------------------------------------
# case mix
# --------------------------------------------------------------------------------------------


def _mix_fixture():
    """Two cells with rates 0.6 (charge group a) and 0.1 (b). 甲 handles mostly a (harder mix),
    乙 mostly b; both follow the cell rates exactly (no excess). 丙 has b's mix but twice the
    rate of b."""
    rows = []

    def add(team, group, n, events):
        rows.extend({"team": team, "charge_group": group, "y": i < events} for i in range(n))

    add("甲", "a", 300, 180)
    add("甲", "b", 20, 2)
    add("乙", "a", 20, 12)
    add("乙", "b", 300, 30)
    add("丙", "a", 10, 6)
    add("丙", "b", 100, 45)  # 0.45 instead of 0.1
    add("丁", "b", 1000, 100)
    return pd.DataFrame(rows)


def test_case_mix_harder_mix_without_excess_is_not_flagged():
    r = _mix_fixture()
    crude = r.assign(numerator=r["y"].astype(int), denominator=1)
    f = funnels.funnel(crude, by="team").set_index("team")
    assert f.loc["甲", "flag"] == "alarm" and f.loc["甲", "flag_direction"] == "high"
    e = casemix.expected_counts(r, outcome="y", by="team", covariates=["charge_group"],
                                min_level_rows=5).set_index("team")
    # the fitted model is saturated, so E equals the cell rates (fitted on the pooled data)
    pa = (180 + 12 + 6) / 330
    pb = (2 + 30 + 45 + 100) / 1420
    assert e.loc["甲", "expected"] == pytest.approx(300 * pa + 20 * pb, rel=1e-6)
    assert e.loc["甲", "observed"] == 182
    assert e.loc["甲", "n"] == 320
    assert e.loc["甲", "value"] == pytest.approx(182 / (300 * pa + 20 * pb), rel=1e-6)
    assert e.loc["甲", "flag"] == ""
    # 丙's excess is real and survives adjustment
    assert e.loc["丙", "flag"] == "alarm" and e.loc["丙", "flag_direction"] == "high"
    model = e.attrs["model"]
    assert list(model.columns) == ["term", "estimate", "std_err", "ci_lower", "ci_upper",
                                   "p_value"]


def test_case_mix_sparse_levels_and_missing_covariates():
    r = _mix_fixture()
    r["minor"] = pd.array([True] * 3 + [False] * (len(r) - 3), dtype="boolean")  # 3 rows: sparse
    p, table = casemix.case_mix_model(r, outcome="y",
                                      covariates=["charge_group", "minor", "absent"])
    assert "absent" in table.attrs["dropped"] and "minor" in table.attrs["dropped"]
    assert p.notna().all()


def test_case_mix_no_variation_is_a_clear_error():
    r = pd.DataFrame({"team": ["a", "b"] * 20, "charge_group": ["x"] * 40, "y": [False] * 40})
    with pytest.raises(DataError, match="没有变异"):
        casemix.expected_counts(r, outcome="y", by="team", covariates=["charge_group"])


# --------------------------------------------------------------------------------------------
# shrinkage and rank intervals
# --------------------------------------------------------------------------------------------


def test_beta_binomial_method_of_moments_by_hand():
    y, n = [5, 30, 12, 40], [50, 100, 60, 200]
    mu = 87 / 410
    s = sum(ni * (yi / ni - mu) ** 2 for yi, ni in zip(y, n))
    rho = (s / (mu * (1 - mu)) - 3) / (410 - sum(ni * ni for ni in n) / 410 - 3)
    size = 1 / rho - 1
    a, b = funnels.beta_binomial_prior(y, n)
    assert a == pytest.approx(mu * size) and b == pytest.approx((1 - mu) * size)
    d = pd.DataFrame({"g": list("abcd"), "numerator": y, "denominator": n})
    out = funnels.shrink(d, by="g").set_index("g")
    assert out.loc["a", "shrunk_value"] == pytest.approx((mu * size + 5) / (size + 50))
    # shrinkage pulls toward the pooled rate, more for smaller groups
    assert abs(out.loc["a", "shrunk_value"] - mu) < abs(0.1 - mu)


def test_rank_intervals_wide_when_groups_overlap():
    d = pd.DataFrame({"g": list("abcdef"), "numerator": [80, 20, 21, 19, 22, 1],
                      "denominator": [100, 100, 100, 100, 100, 5]})
    out = funnels.shrink(d, by="g", min_n=10).set_index("g")
    assert (out.loc["a", "rank_lower"], out.loc["a", "rank_upper"]) == (1, 1)
    assert out.loc["b", "rank_upper"] - out.loc["b", "rank_lower"] >= 2
    assert pd.isna(out.loc["f", "rank_lower"])
    assert "rank" not in out.columns  # never a bare rank


def test_shrink_without_ranks_gives_the_same_shrunk_rates():
    d = pd.DataFrame({"g": list("abcdef"), "numerator": [80, 20, 21, 19, 22, 1],
                      "denominator": [100, 100, 100, 100, 100, 5]})
    full = funnels.shrink(d, by="g", min_n=10)
    quick = funnels.shrink(d, by="g", min_n=10, ranks=False)
    cols = ["shrunk_value", "shrunk_ci_lower", "shrunk_ci_upper", "prior_alpha", "prior_beta"]
    pd.testing.assert_frame_equal(quick[["g", *cols]], full[["g", *cols]], check_exact=True)
    assert full["rank_lower"].notna().sum() == 5 and quick["rank_lower"].isna().all()


def test_no_between_group_spread_pools_completely():
    d = pd.DataFrame({"g": list("abc"), "numerator": [10, 10, 10], "denominator": [100] * 3})
    out = funnels.shrink(d, by="g")
    assert np.allclose(out["shrunk_value"], 0.1)
