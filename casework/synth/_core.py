"""The simulation: cases → persons → arrest review → prosecution review → judgment.

All bulk work is vectorised with numpy over the persons of one unit; units are simulated
independently from their own random streams, so a large data set can be produced unit by unit
(bounded memory).

Dates are handled as ``datetime64[D]`` arrays (NaT propagates); every "latent" uniform that a
planted pattern may act on is drawn in the base simulation, so null and planted data share them
and differ only where a pattern changes a threshold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from casework.synth import _tables as T

NAT = np.datetime64("NaT", "D")
CHARGE_NAMES = list(T.CHARGE_PARAMS)
NCH = len(CHARGE_NAMES)
_P = {
    k: np.array([T.CHARGE_PARAMS[c][k] for c in CHARGE_NAMES])
    for k in T._COLS
    if k not in ("place", "hour")
}
CHARGE_IDX = {c: i for i, c in enumerate(CHARGE_NAMES)}

# categorical cumulative tables per charge
_PLACE_NAMES = sorted({p for pool in T.PLACE_POOLS.values() for p in pool})
_PLACE_CUM = np.zeros((NCH, len(_PLACE_NAMES)))
_HOUR_CUM = np.zeros((NCH, 24))
for _i, _c in enumerate(CHARGE_NAMES):
    _w = np.zeros(len(_PLACE_NAMES))
    for _p in T.PLACE_POOLS[T.CHARGE_PARAMS[_c]["place"]]:
        _w[_PLACE_NAMES.index(_p)] += 1
    _PLACE_CUM[_i] = np.cumsum(_w / _w.sum())
    _h = np.array(T.HOUR_PROFILES[T.CHARGE_PARAMS[_c]["hour"]], float)
    _HOUR_CUM[_i] = np.cumsum(_h / _h.sum())

# modus-operandi phrase table (flattened, with per-charge offsets)
_MO_FLAT = np.array([p for c in CHARGE_NAMES for p in T.MO[c]], dtype=object)
_MO_LEN = np.array([len(T.MO[c]) for c in CHARGE_NAMES])
_MO_OFF = np.concatenate([[0], np.cumsum(_MO_LEN)[:-1]])

# case weights: person share / mean persons per case
_MEAN_SIZE = 1 + _P["grp"] * (1 + _P["gmean"])
_CASE_W = _P["w"] / _MEAN_SIZE
_CASE_W = _CASE_W / _CASE_W.sum()

# dept by charge
_DEPT = _P["dept"].astype(int)

SURNAMES = np.array(list(T.SURNAMES), dtype=object)
MALE = np.array(list(T.MALE_CHARS), dtype=object)
FEMALE = np.array(list(T.FEMALE_CHARS), dtype=object)
ETH_NAMES = np.array([e for e, _ in T.ETHNICITIES], dtype=object)
ETH_CUM = np.cumsum([p for _, p in T.ETHNICITIES]) / sum(p for _, p in T.ETHNICITIES)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def pick(cum, u):
    """Index into a cumulative-probability vector (1-D) or per-row table (2-D)."""
    if cum.ndim == 1:
        return np.minimum(np.searchsorted(cum, u, side="right"), len(cum) - 1)
    return np.minimum((u[:, None] >= cum).sum(axis=1), cum.shape[1] - 1)


def cumw(weights):
    w = np.asarray(weights, float)
    return np.cumsum(w / w.sum())


def weekend_to_friday(d):
    """Move Saturday/Sunday dates back to the Friday (1970-01-01 was a Thursday)."""
    dow = (d.astype("int64") + 3) % 7  # 0 = Monday
    shift = np.where(dow == 5, 1, np.where(dow == 6, 2, 0))
    return d - shift.astype("timedelta64[D]")


def month_index(d, origin):
    """Whole months from ``origin`` (datetime64[M]) to each date."""
    return (d.astype("datetime64[M]") - origin).astype("int64")


# ---------------------------------------------------------------------------------------------
# Units
# ---------------------------------------------------------------------------------------------


@dataclass
class UnitSpec:
    index: int
    unit_code: str
    unit_name: str
    abbr: str
    district: str
    city: str
    main_agency: str
    traffic_agency: str
    city_agency: str
    stations: list
    court: str
    mid_court: str
    prosecutors: dict = field(default_factory=dict)  # dept -> list of (id, name)
    staff: list = field(default_factory=list)  # staff accounts (案管/书记员)
    size: float = 1.0
    station_share: float = 0.15  # share of the main agency's cases at its largest station
    station_w: object = None  # relative sizes of the other stations


def _district_name(i):
    if i < len(T.DISTRICTS):
        return T.DISTRICTS[i]
    chars = T.PLACE_CHARS
    j = i - len(T.DISTRICTS)
    a, b = chars[j % len(chars)], chars[(j // len(chars) + j % len(chars) + 1) % len(chars)]
    suffix = "区" if i % 3 else "县"
    return f"{a}{b}{suffix}", f"{a}{b}"


def _person_names(rng, n):
    s = SURNAMES[rng.integers(0, len(SURNAMES), n)]
    g1 = MALE[rng.integers(0, len(MALE), n)]
    g2 = MALE[rng.integers(0, len(MALE), n)]
    two = rng.random(n) < 0.7
    return s + g1 + np.where(two, g2, "")


def build_units(n_units, rng, sizes):
    """Fictional units with their agencies, stations, courts, prosecutors and staff."""
    specs = []
    for i in range(n_units):
        city_i = i // len(T.DISTRICTS) % len(T.CITIES)
        city = T.CITIES[city_i]
        district, abbr = _district_name(i)
        code = f"93{i // len(T.DISTRICTS) + 1:02d}{i % len(T.DISTRICTS) + 2:02d}"
        short = district[:-1]
        if district.endswith("区"):
            main = f"{city}公安局{short}分局"
            court = f"{city}{district}人民法院"
            name = f"{city}{district}人民检察院"
        else:
            main = f"{district}公安局"
            court = f"{district}人民法院"
            name = f"{district}人民检察院"
        stations = [s + "派出所" for s in rng.choice(T.STATIONS, size=8, replace=False)]
        spec = UnitSpec(
            index=i, unit_code=code, unit_name=name, abbr=abbr, district=district, city=city,
            main_agency=main, traffic_agency=f"{city}公安局交通警察支队{short}大队",
            city_agency=f"{city}公安局", stations=stations, court=court,
            mid_court=f"{city}中级人民法院", size=float(sizes[i]),
        )
        specs.append(spec)
    return specs


def staff_prosecutors(spec, rng, dept_rows_per_year):
    """Prosecutors per department, roughly one per 250 persons a year (2–40)."""
    for d, rows in enumerate(dept_rows_per_year):
        n = int(np.clip(round(rows / 250), 2, 40))
        names = _person_names(rng, n)
        spec.prosecutors[d] = [(f"{spec.unit_code}{d + 1}{j + 1:02d}", names[j]) for j in range(n)]
    spec.staff = [f"{spec.unit_code}9{j + 1:02d}" for j in range(5)]


# ---------------------------------------------------------------------------------------------
# Calendar
# ---------------------------------------------------------------------------------------------


def day_weights(days):
    """Relative intake per day: month factor, weekends, National Day, the Spring Festival dip."""
    days = np.asarray(days, dtype="datetime64[D]")
    months = days.astype("datetime64[M]").astype(int) % 12
    w = np.asarray(T.MONTH_FACTOR)[months].astype(float)
    dow = (days.astype("int64") + 3) % 7
    w = np.where(dow >= 5, w * 0.08, w)
    years = days.astype("datetime64[Y]").astype(int) + 1970
    md = (days - days.astype("datetime64[Y]")).astype(int)  # day of year, 0-based
    w = np.where((md >= 272) & (md <= 279) & (dow < 5), w * 0.3, w)  # ~Oct 1-7
    for y in np.unique(years):
        fest = np.datetime64(T.SPRING_FESTIVAL.get(int(y), f"{int(y)}-02-05"), "D")
        off = (days - fest).astype(int)
        w = np.where((off >= -8) & (off <= 8), w * 0.3, w)
        w = np.where(((off >= -15) & (off < -8)) | ((off > 8) & (off <= 15)), w * 0.8, w)
    return w


# ---------------------------------------------------------------------------------------------
# Simulation of one batch of cases in one unit
# ---------------------------------------------------------------------------------------------


def simulate(spec, n_cases, rng, ctx, *, charge_idx=None, anchors=None, mo_override=None):
    """Simulate ``n_cases`` cases of unit ``spec``; returns a dict of per-person arrays.

    ``charge_idx`` / ``anchors`` fix the charge and first-acceptance date of each case (used for
    the planted rising charge); ``mo_override`` gives the MO phrases to use instead of the base
    pool.
    """
    C = n_cases
    # ---------------- case level ----------------
    if charge_idx is None:
        charge_idx = pick(np.cumsum(_CASE_W), rng.random(C))
    if anchors is None:
        anchors = ctx["days"][pick(ctx["day_cum"], rng.random(C))]
    grp = rng.random(C) < _P["grp"][charge_idx]
    extra = np.where(grp, 1 + rng.poisson(_P["gmean"][charge_idx]), 0)
    size = 1 + np.minimum(extra, 14)
    juvenile = rng.random(C) < 1.7 * _P["juv"][charge_idx]
    dept = np.where(juvenile, T.JUVENILE_DEPT, _DEPT[charge_idx])
    has_ar = rng.random(C) < _P["ar"][charge_idx]
    # agency: 0 main 分局, 1 traffic, 2 city squads
    ch_names = np.array(CHARGE_NAMES, dtype=object)[charge_idx]
    traffic = np.isin(ch_names, ["危险驾驶", "交通肇事"])
    squad_p = np.where(dept == 1, 0.15, np.where(dept == 2, 0.2, 0.0))
    agency_kind = np.where(traffic, 1, np.where(rng.random(C) < squad_p, 2, 0))
    u_station = rng.random(C)
    u_pros = rng.random(C)
    ar_days = 1 + pick(cumw([3, 4, 6, 10, 14, 20, 43]), rng.random(C))  # 1..7, mostly 6-7
    # prosecution acceptance lag after the arrest review (investigation in custody)
    inv_lag = np.where(rng.random(C) < 0.06, rng.integers(75, 150, C), rng.integers(22, 70, C))
    pre_lag_ar = rng.integers(3, 30, C)  # offence -> arrest review acceptance (detention)
    pre_lag_pr = np.where(traffic, rng.integers(15, 75, C), rng.integers(20, 200, C))
    u_proc = rng.random(C)
    u_proc2 = rng.random(C)
    sup_case = np.where(rng.random(C) < 0.05 * _P["cplx"][charge_idx],
                        np.where(rng.random(C) < 0.8, 1, 2), 0)
    ext_u = rng.random(C)
    amt_case = np.where(_P["amt"][charge_idx] > 0,
                        np.round(np.exp(np.log(np.maximum(_P["amt"][charge_idx], 1))
                                        + _P["asig"][charge_idx] * rng.standard_normal(C)), -1),
                        np.nan)
    hour = pick(_HOUR_CUM[charge_idx], rng.random(C))
    minute = rng.integers(0, 60, C)
    place = pick(_PLACE_CUM[charge_idx], rng.random(C))
    mo_u = rng.random(C)
    detail_u = rng.random(C)
    court_lag_u = rng.random(C)
    ar_dates = np.where(has_ar, anchors, NAT)
    offence_day = anchors - np.where(has_ar, pre_lag_ar, pre_lag_pr).astype("timedelta64[D]")

    # ---------------- person level ----------------
    ci = np.repeat(np.arange(C), size)
    P = len(ci)
    starts = np.concatenate([[0], np.cumsum(size)[:-1]])
    k = np.arange(P) - starts[ci]
    ch = charge_idx[ci]
    u = lambda: rng.random(P)  # noqa: E731
    male = u() < _P["male"][ch]
    minor = juvenile[ci] & ((k == 0) | (u() < 0.6))
    age_adult = np.clip(np.round(_P["age"][ch] + 10 * rng.standard_normal(P)), 18, 78)
    age_minor = 14 + pick(cumw([1, 2, 3, 4]), u())
    age0 = np.where(minor, age_minor, age_adult).astype(int)
    birth = (offence_day[ci] - (age0 * 365.25 + rng.integers(5, 360, P)).astype("timedelta64[D]"))
    eth_i = pick(ETH_CUM, u())
    edu_w = np.array([0.03, 0.15, 0.45, 0.15, 0.07, 0.08, 0.07])
    cyber = np.isin(
        ch,
        [CHARGE_IDX[c] for c in ("帮助信息网络犯罪活动", "非法利用信息网络", "侵犯公民个人信息")],
    )
    duty = np.isin(ch, [CHARGE_IDX[c] for c in ("贪污", "受贿")])
    edu_i = pick(np.cumsum(edu_w), u())
    edu_i = np.where(cyber & (u() < 0.3), 4 + rng.integers(0, 3, P), edu_i)
    edu_i = np.where(duty, 5 + rng.integers(0, 2, P), edu_i)
    edu_i = np.where(minor, np.minimum(edu_i, 3), edu_i)
    occ_i = pick(cumw([15, 12, 45, 10, 10, 2, 0.3, 5.7]), u())
    occ_i = np.where(minor, np.where(u() < 0.55, 5, 2), occ_i)
    occ_i = np.where(duty, 6, occ_i)
    occ_i = np.where(~minor & ~duty & (occ_i == 6), 4, occ_i)
    local = u() < 0.62
    prior = (u() < np.where(minor, 0.05, 0.18))
    recid = prior & (u() < 0.33) & ~minor
    gang_prone = np.isin(ch, [CHARGE_IDX[c] for c in ("开设赌场", "诈骗", "帮助信息网络犯罪活动")])
    gang = grp[ci] & (u() < 0.5) & (u() < np.where(gang_prone, 0.6, 0.2))
    surrender = u() < np.where(
        ch == CHARGE_IDX["交通肇事"], 0.55, np.where(ch == CHARGE_IDX["危险驾驶"], 0.04, 0.14)
    )
    accomplice = (k > 0) & (u() < 0.5)
    plea = u() < np.clip(
        _P["plea"][ch] + np.where(minor, 0.05, 0) - np.where(recid, 0.08, 0), 0, 0.995
    )
    confess = plea & ~surrender & (u() < 0.7)
    attempt = np.isin(ch, [CHARGE_IDX["盗窃"], CHARGE_IDX["诈骗"], CHARGE_IDX["抢劫"]]) & (
        u() < 0.05
    )
    merit = u() < 0.01
    second = u() < 0.05

    # ---------------- arrest review ----------------
    in_ar = has_ar[ci] & ((k == 0) | (u() < 0.88))
    logit_na = (-0.95 + _P["nar"][ch] + np.where(plea, 0.35, -0.6) + np.where(minor, 1.3, 0)
                - np.where(recid, 1.2, 0) - np.where(prior, 0.3, 0) - np.where(gang, 0.6, 0)
                + np.where(surrender, 0.5, 0) + np.where(accomplice, 0.4, 0))
    non_arrest = in_ar & (u() < sigmoid(logit_na))
    na_sub = pick(cumw([72, 24, 4]), u())
    na_sub = np.where(~plea & (u() < 0.35), 1, na_sub)  # no plea: more evidence problems
    ar_closed = ar_dates[ci] + ar_days[ci].astype("timedelta64[D]")
    ar_closed = np.where(in_ar, weekend_to_friday(ar_closed), NAT)
    ar_closed = np.maximum(ar_closed, ar_dates[ci])
    approved = in_ar & ~non_arrest
    arrested_on = np.where(approved, ar_closed + (u() < 0.3).astype("timedelta64[D]"), NAT)
    u_bail = u()  # post-arrest change draw (pattern threshold acts on this)
    change_lag = rng.integers(8, 60, P).astype("timedelta64[D]")
    after_bg = pick(cumw([85, 10, 5]), u())  # bail / residential_surveillance / released
    ar_plea = plea & (u() < 0.8)

    # ---------------- continuation to prosecution review ----------------
    cont_p = np.where(~in_ar, 1.0, np.where(approved, 0.97, np.array([0.92, 0.5, 0.05])[na_sub]))
    to_pr = u() < cont_p
    pr_acc_case = np.where(has_ar, anchors + (ar_days + inv_lag).astype("timedelta64[D]"), anchors)
    pr_acc_case = np.maximum(pr_acc_case, anchors)
    pr_acc_case = pr_acc_case + np.where(
        ((pr_acc_case.astype("int64") + 3) % 7) == 5,
        2,
        np.where(((pr_acc_case.astype("int64") + 3) % 7) == 6, 1, 0),
    ).astype("timedelta64[D]")
    pr_acc = np.where(to_pr, pr_acc_case[ci], NAT)

    # ---------------- prosecution decision ----------------
    in_custody_pr = approved  # arrested persons usually still in custody (refined at realize)
    logit_np = (
        -1.75
        + _P["npr"][ch]
        + np.where(plea, 0.6, -0.4)
        + np.where(minor, 1.6, 0)
        - np.where(recid, 1.6, 0)
        - np.where(prior, 0.5, 0)
        - np.where(in_custody_pr, 2.0, 0)
        + np.where(surrender, 0.5, 0)
        - np.where(gang, 0.6, 0)
        + np.where(accomplice, 0.3, 0)
        + np.where(non_arrest & (na_sub == 0), 0.4, 0)
    )
    u_np = u()
    non_pros = u_np < sigmoid(logit_np)
    other_dec = ~non_pros & (u() < 0.004)
    np_cum_minor = cumw([2, 45, 8, 45])  # statutory, discretionary, insufficient, conditional
    np_cum_adult = cumw([7, 80, 13, 0])
    np_cum_noplea = cumw([10, 35, 55, 0])
    u_sub = u()
    np_sub = np.where(minor, pick(np_cum_minor, u_sub),
                      np.where(plea, pick(np_cum_adult, u_sub), pick(np_cum_noplea, u_sub)))
    prosecuted = ~non_pros & ~other_dec

    # procedure
    p_ft = np.where(ch == CHARGE_IDX["危险驾驶"], 0.75, np.where(_P["tmed"][ch] <= 12, 0.45, 0.25))
    serious = _P["tmed"][ch] >= 40
    proc = np.where(
        plea & ~serious & (u_proc[ci] < p_ft),
        0,
        np.where(~serious & (u_proc2[ci] < np.where(plea, 0.55, 0.4)), 1, 2),
    )  # 0 ft,1 sum,2 ord
    sup = np.where(proc == 0, 0, sup_case[ci])
    sup = np.where(non_pros & (np_sub == 2) & (u() < 0.8), 2, sup)
    sup = np.where(prosecuted | non_pros, sup, 0)
    ext_p = np.where(proc == 2, 0.06 * _P["cplx"][ch], np.where(proc == 1, 0.01, 0.0))
    ext_p = np.where(non_pros, 0.25, ext_p)
    ext = (ext_u[ci] < ext_p).astype(int)
    # base handling days (before the slow-prosecutor multiplier and case max)
    g = rng.gamma(3.0, 5.0, P)
    review = np.where(proc == 0, 3 + rng.binomial(7, 0.6, P),
                      np.where(non_pros, 18 + g, np.where(proc == 1, 8 + g, 13 + g)))
    review = np.minimum(review, 30)
    sup_days = sup * (rng.integers(15, 31, P) + rng.integers(8, 30, P))
    ext_days = ext * rng.integers(5, 16, P)

    # ---------------- sentences ----------------
    u_pen = u()
    cut_ex = _P["ex"][ch]
    cut_fo = cut_ex + _P["fo"][ch]
    cut_cd = cut_fo + _P["cd"][ch]
    cut_life = cut_cd + _P["life"][ch]
    pen = np.where(u_pen < cut_ex, 6, np.where(u_pen < cut_fo, 5, np.where(u_pen < cut_cd, 1,
                   np.where(u_pen < cut_life, np.where(u() < 0.8, 3, 4), 2))))
    # codes index: 0 管制 1 拘役 2 有期 3 无期 4 死刑 5 单处罚金 6 免予 7 无罪
    mitig = np.where(plea, 0.85, 1.0) * np.where(minor, 0.7, 1.0) * np.where(recid, 1.35, 1.0) \
        * np.where(surrender, 0.85, 1.0) * np.where(accomplice, 0.8, 1.0)
    cd_cum = cumw([25, 26, 20, 12, 10, 7])
    cd_term = 1 + pick(cd_cum, u())
    cd_term = np.where(ch == CHARGE_IDX["危险驾驶"], cd_term, np.clip(cd_term + 1, 1, 6))
    ft_term = np.exp(np.log(_P["tmed"][ch]) + _P["tsig"][ch] * rng.standard_normal(P)) * mitig
    ft_term = np.clip(np.round(ft_term), 6, _P["tmax"][ch])
    ft_term = np.where(ft_term > 36, np.round(ft_term / 6) * 6, ft_term)
    term = np.where(pen == 1, cd_term, np.where(pen == 2, ft_term, np.nan))
    prob_p = np.clip(
        _P["prob"][ch] * np.where(plea, 1.15, 0.6) * np.where(minor, 1.6, 1.0), 0, 0.97
    )
    probation = np.isin(pen, [1, 2]) & (np.nan_to_num(term) <= 36) & ~recid & (u() < prob_p)
    fine_med = np.where(
        ch == CHARGE_IDX["危险驾驶"], 2000 * np.nan_to_num(term, nan=2) + 1000, _P["fine"][ch]
    )
    fine = np.where(
        (fine_med > 0) & (pen <= 2) | (pen == 5),
        np.maximum(
            1000, np.round(np.maximum(fine_med, 2000) * np.exp(0.5 * rng.standard_normal(P)), -3)
        ),
        np.nan,
    )
    # alternative (court departs from the recommendation)
    u_alt = u()
    alt_term = np.where(
        pen == 1,
        np.where(term >= 6, term - 1, np.where(term <= 1, 2, term + np.where(u_alt < 0.5, 1, -1))),
        np.where(
            pen == 2, np.maximum(6, np.round(term * np.where(u_alt < 0.6, 0.8, 1.25))), np.nan
        ),
    )
    alt_term = np.where((pen == 2) & (alt_term == term), term + 2, alt_term)
    alt_prob = np.where(u() < 0.3, ~probation, probation) & np.isin(pen, [1, 2]) & ~recid \
        & (np.nan_to_num(alt_term) <= 36)
    alt_pen = np.where(pen == 6, 5, np.where(pen == 5, 6, pen))
    has_rec = prosecuted & (plea | (u() < 0.45))
    rec_fixed = u() < np.where(plea, 0.94, 0.5)
    u_adopt = u()
    range_off = np.where(pen == 2, np.round(term * rng.uniform(-0.15, 0.15, P)), 0)
    acquit = u() < 0.0006
    withdraw = prosecuted & (u() < 0.003)
    court_lag = np.where(proc == 0, 4 + np.round(court_lag_u[ci] * 10),
                         np.where(proc == 1, 10 + np.round(court_lag_u[ci] * 35),
                                  25 + np.round(rng.gamma(2.0, 20.0, P))))
    u_appeal = u()
    u_protest = u()
    circ_change = u() < 0.02
    pr_measure_u = u()
    u_entry = u()
    entry_hour = rng.integers(8 * 60 + 30, 18 * 60, P)
    u_edit = u()
    mo_idx = _MO_OFF[ch] + np.minimum((mo_u[ci] * _MO_LEN[ch]).astype(int), _MO_LEN[ch] - 1)
    outcome_i = rng.integers(0, len(T.OUTCOME), P)
    errs = {
        f"u_{n}": u() for n in ("err_ar", "kind_ar", "err_pr", "kind_pr", "edit_ar", "edit_pr")
    }
    # identity: names, ID numbers, addresses
    sur_i = rng.integers(0, len(SURNAMES), P)
    g1_u, g2_u = u(), u()
    two = u() < 0.7
    region_u = u()
    seq = rng.integers(0, 500, P) * 2 + np.where(male, 1, 0)
    addr = dict(
        road=rng.integers(0, len(T.ROADS), P),
        no=rng.integers(1, 300, P),
        bld=rng.integers(1, 30, P),
        room=rng.integers(1, 30, P) * 100 + rng.integers(1, 5, P),
        prov=rng.integers(0, len(T.OTHER_PROVINCES), P),
        vil=rng.integers(0, len(T.VILLAGES), P),
    )

    out = dict(
        case=ci,
        k=k,
        size=size[ci],
        anchor=anchors[ci],
        pr_acc_case=pr_acc_case[ci],
        charge_idx=ch,
        dept=dept[ci],
        juvenile=juvenile[ci],
        agency_kind=agency_kind[ci],
        u_station=u_station[ci],
        u_pros=u_pros[ci],
        offence_day=offence_day[ci],
        hour=hour[ci],
        minute=minute[ci],
        place=place[ci],
        amount=amt_case[ci],
        mo_idx=mo_idx,
        mo_override=(None if mo_override is None else mo_override[ci]),
        detail_u=detail_u[ci],
        outcome_i=outcome_i,
        male=male,
        minor=minor,
        birth=birth,
        eth_i=eth_i,
        edu_i=edu_i,
        occ_i=occ_i,
        local=local,
        prior=prior,
        recid=recid,
        gang=gang,
        surrender=surrender,
        accomplice=accomplice,
        plea=plea,
        confess=confess,
        attempt=attempt,
        merit=merit,
        second=second,
        co=grp[ci],
        in_ar=in_ar,
        ar_acc=np.where(in_ar, ar_dates[ci], NAT),
        ar_closed=ar_closed,
        non_arrest=non_arrest,
        na_sub=na_sub,
        approved=approved,
        arrested_on=arrested_on,
        u_bail=u_bail,
        change_lag=change_lag,
        after_bg=after_bg,
        ar_plea=ar_plea,
        to_pr=to_pr,
        pr_acc=pr_acc,
        non_pros=non_pros,
        other_dec=other_dec,
        np_sub=np_sub,
        prosecuted=prosecuted,
        proc=proc,
        sup=sup,
        ext=ext,
        review=review,
        sup_days=sup_days,
        ext_days=ext_days,
        pen=pen,
        term=term,
        probation=probation,
        fine=fine,
        alt_pen=alt_pen,
        alt_term=alt_term,
        alt_prob=alt_prob,
        has_rec=has_rec,
        rec_fixed=rec_fixed,
        u_adopt=u_adopt,
        range_off=range_off,
        acquit=acquit,
        withdraw=withdraw,
        court_lag=court_lag,
        u_appeal=u_appeal,
        u_protest=u_protest,
        circ_change=circ_change,
        pr_measure_u=pr_measure_u,
        u_entry=u_entry,
        entry_hour=entry_hour,
        u_edit=u_edit,
        sur_i=sur_i,
        g1_u=g1_u,
        g2_u=g2_u,
        two=two,
        region_u=region_u,
        seq=seq,
        **{f"addr_{k_}": v for k_, v in addr.items()},
        **errs,
    )
    return out


def concat(parts):
    """Concatenate person dicts from several batches (case ids made unique)."""
    parts = [p for p in parts if p is not None and len(p["case"])]
    if len(parts) == 1:
        return parts[0]
    out = {}
    offset = 0
    cases = []
    for p in parts:
        cases.append(p["case"] + offset)
        offset += int(p["case"].max()) + 1 if len(p["case"]) else 0
    for key in parts[0]:
        if key == "case":
            out[key] = np.concatenate(cases)
        elif key == "mo_override":
            vals = [
                p[key] if p[key] is not None else np.full(len(p["case"]), None, dtype=object)
                for p in parts
            ]
            out[key] = np.concatenate(vals)
        else:
            out[key] = np.concatenate([p[key] for p in parts])
    return out
