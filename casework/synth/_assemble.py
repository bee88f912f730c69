"""From simulated persons to case-card rows: outcomes under the pattern thresholds, censoring at
the end of the data window, identifiers and free text (built on Arrow arrays, no per-row Python).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from casework.model import schema
from casework.synth import _core as K
from casework.synth import _tables as T
from casework.synth import _text as X

NAT = K.NAT
PEN_CODES = ["public_surveillance", "criminal_detention", "fixed_term", "life", "death",
             "fine_only", "exempted", "acquitted"]
NA_SUB_CODES = ["no_necessity", "insufficient_evidence_arrest", "not_criminal"]
NP_SUB_CODES = ["statutory", "discretionary", "insufficient_evidence", "conditional"]
PROC_CODES = ["fast_track", "summary", "ordinary"]
AFTER_CODES = ["bail", "residential_surveillance", "released"]
MEASURE_CODES = ["none", "summons", "bail", "residential_surveillance", "detention", "arrest"]
TD = "timedelta64[D]"


def _td(x):
    return np.asarray(x).astype("int64").astype(TD)


def _rank_within(groups, dates):
    """1-based rank of each element by ``dates`` within its group (vectorised)."""
    order = np.lexsort((dates.astype("int64"), groups))
    g_sorted = groups[order]
    first = np.r_[True, g_sorted[1:] != g_sorted[:-1]]
    start_pos = np.maximum.accumulate(np.where(first, np.arange(len(order)), 0))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - start_pos + 1
    return rank


def _year(d):
    return d.astype("datetime64[Y]").astype(int) + 1970


def _opt_bool(valid, values):
    """An optional boolean as float (1/0, NaN where not applicable)."""
    return np.where(valid, np.asarray(values, dtype=float), np.nan)


# ---------------------------------------------------------------------------------------------
# Organisation: stations and prosecutors (case level, from latent uniforms)
# ---------------------------------------------------------------------------------------------


class Org:
    """Agency, station and prosecutor of each person, as indices into small pools."""

    def __init__(self, spec, d, station_share, station_w):
        kind = d["agency_kind"]
        u = d["u_station"]
        w = np.asarray(station_w, float)
        w = w / w.sum() * (1 - station_share)
        cum = np.cumsum(np.r_[station_share, w])
        cum[-1] = 1.0
        self.agencies = [spec.main_agency, spec.traffic_agency, spec.city_agency]
        squads = ["城区中队", "郊区中队", "高速公路中队"]
        self.stations = list(spec.stations) + squads + list(T.CITY_SQUADS)
        n_st = len(spec.stations)
        st_main = K.pick(cum, u)
        st_traffic = n_st + K.pick(np.array([0.6, 0.9, 1.0]), u)
        sq_i = np.where(d["dept"] == 2, np.where(u < 0.5, 0, 3), np.where(u < 0.5, 1, 2))
        st_city = n_st + len(squads) + sq_i
        self.agency_i = kind
        self.station_i = np.where(kind == 0, st_main, np.where(kind == 1, st_traffic, st_city))
        # prosecutors: department lists, unequal loads
        self.pros_ids, self.pros_names = [], []
        self.pros_i = np.zeros(len(kind), dtype=np.int64)
        for dept, plist in spec.prosecutors.items():
            offset = len(self.pros_ids)
            self.pros_ids += [p[0] for p in plist]
            self.pros_names += [p[1] for p in plist]
            m = d["dept"] == dept
            if not m.any():
                continue
            loads = np.array([0.7 + 0.6 * ((j * 37 + 11) % 10) / 9 for j in range(len(plist))])
            self.pros_i[m] = offset + K.pick(np.cumsum(loads / loads.sum()), d["u_pros"][m])

    def station_index(self, name):
        return self.stations.index(name)

    def prosecutor_index(self, pid):
        return self.pros_ids.index(pid)


# ---------------------------------------------------------------------------------------------
# Outcomes under pattern thresholds
# ---------------------------------------------------------------------------------------------


def realize(d, *, p_change, bail_forced, mult, p_adopt_fn):
    """Dates and outcomes that depend on pattern thresholds; adds keys to ``d`` in place."""
    P = len(d["case"])
    # post-arrest change of measure
    changed = d["approved"] & (d["u_bail"] < p_change)
    after = np.where(bail_forced & (d["u_bail"] >= 0.045), 0, d["after_bg"])
    ch_on = d["arrested_on"] + d["change_lag"]
    ch_on = np.where(
        d["to_pr"] & (ch_on >= d["pr_acc"]), d["pr_acc"] - np.timedelta64(1, "D"), ch_on
    )
    ch_on = np.maximum(ch_on, d["arrested_on"] + np.timedelta64(1, "D"))
    d["changed"] = changed
    d["measure_changed_on"] = np.where(changed, ch_on, NAT)
    d["measure_after_change"] = np.where(changed, after, -1)  # index into AFTER_CODES
    # coercive measure at prosecution acceptance
    u = d["pr_measure_u"]
    # indices into MEASURE_CODES: 0 none 1 summons 2 bail 3 residential_surveillance
    # 4 detention 5 arrest
    after_pr = np.array([2, 3, 0])[after]
    dd = d["charge_idx"] == K.CHARGE_IDX["危险驾驶"]
    no_ar = np.where(dd, np.array([2, 4, 0, 0])[K.pick(np.array([.85, .9, .95, 1]), u)],
                     np.array([2, 3, 4, 0])[K.pick(np.array([.80, .88, .93, 1]), u)])
    na = np.array([2, 3, 0])[K.pick(np.array([.9, .97, 1]), u)]
    measure = np.where(d["approved"], np.where(changed, after_pr, 5),
                       np.where(d["non_arrest"], na, no_ar))
    d["pr_measure"] = measure
    # prosecution handling days (case-level max over persons who reach the stage)
    days = (d["review"] + d["sup_days"] + d["ext_days"]) * mult
    ext = np.where((d["review"] * mult > 30) & (d["ext"] == 0) & (d["proc"] != 0), 1, d["ext"])
    days = np.where(d["to_pr"], np.round(days), 0).astype(np.int64)
    case = d["case"]
    starts = np.r_[0, np.flatnonzero(case[1:] != case[:-1]) + 1]
    case_max = np.maximum.reduceat(days, starts)
    seg = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, P]))
    days = case_max[seg]
    closed = K.weekend_to_friday(d["pr_acc"] + _td(days))
    closed = np.maximum(closed, d["pr_acc"])
    d["pr_closed"] = np.where(d["to_pr"], closed, NAT)
    d["ext_final"] = ext
    judged = d["prosecuted"] & ~d["withdraw"] & d["to_pr"]
    j_on = K.weekend_to_friday(closed + _td(d["court_lag"]))
    d["judgment_on"] = np.where(judged, j_on, NAT)
    d["judged"] = judged
    # sentence: recommendation adopted or not
    p_adopt = p_adopt_fn(d)
    adopted = d["has_rec"] & (d["u_adopt"] < p_adopt)
    depart = d["has_rec"] & ~adopted
    pen = np.where(depart, d["alt_pen"], d["pen"])
    term = np.where(depart, d["alt_term"], d["term"])
    rng_adj = d["has_rec"] & ~d["rec_fixed"] & adopted & (d["pen"] == 2)
    term = np.where(rng_adj, np.maximum(6, term + d["range_off"]), term)
    prob = np.where(depart, d["alt_prob"], d["probation"])
    pen = np.where(d["acquit"], 7, pen)
    term = np.where(d["acquit"], np.nan, term)
    prob = np.where(d["acquit"], False, prob)
    fine = np.where(d["acquit"] | (pen == 6), np.nan, d["fine"])
    d["adopted"] = adopted
    d["final_pen"], d["final_term"], d["final_prob"], d["final_fine"] = pen, term, prob, fine
    pm_cd = np.minimum(
        12, np.maximum(2, np.nan_to_num(term)) + np.array([0, 1, 2, 3, 6])[d["outcome_i"] % 5]
    )
    pm_ft = np.minimum(
        60, np.maximum(12, np.nan_to_num(term)) + np.array([0, 6, 12, 12, 24])[d["outcome_i"] % 5]
    )
    d["probation_months"] = np.where(prob, np.where(pen == 1, pm_cd, pm_ft), np.nan)
    d["appeal"] = judged & ~d["acquit"] & (d["u_appeal"] < np.where(d["plea"], 0.03, 0.2))
    d["protest"] = judged & (d["u_protest"] < 0.003)


# ---------------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------------

_CIRC_WORDS = ["自首", "坦白", "立功", "从犯", "未遂", "累犯", "未成年人"]
_CIRC_POOL = X.pool(["、".join(w for b, w in enumerate(_CIRC_WORDS) if code >> b & 1) or "无"
                     for code in range(1 << len(_CIRC_WORDS))])


def _circumstances_code(d):
    flags = [
        d["surrender"],
        d["confess"],
        d["merit"],
        d["accomplice"],
        d["attempt"],
        d["recid"],
        d["minor"],
    ]
    code = np.zeros(len(d["case"]), dtype=np.int64)
    for b, f in enumerate(flags):
        code |= np.asarray(f, dtype=np.int64) << b
    return code


_MO_POOL = X.pool(K._MO_FLAT)
_OUTCOME_POOL = X.pool(T.OUTCOME)
_INJURY_POOL = X.pool(["轻伤二级", "轻伤二级", "轻伤一级", "重伤二级"])


def _summary(d, first, masked):
    """Case-level 案情摘要 (same for every person of a case), from charge phrase pools."""
    idx = first
    off = d["offence_day"][idx]
    y = _year(off)
    m = off.astype("datetime64[M]").astype(int) % 12 + 1
    dd = (off - off.astype("datetime64[M]")).astype(int) + 1
    ch = d["charge_idx"][idx]
    date_txt = X.cat(
        X.num(y), "年", X.num(m), "月", X.num(dd), "日", X.num(d["hour"][idx]), "时许"
    )
    who = X.cat("犯罪嫌疑人", masked, X.where(d["size"][idx] > 1, "伙同他人", ""))
    mo = X.take(_MO_POOL, d["mo_idx"][idx])
    if d["mo_override"] is not None:
        override = d["mo_override"][idx]
        if not pd.isna(override).all():
            mo = pa.compute.coalesce(X.from_objects(override), mo)
    amt = d["amount"][idx]
    u = d["detail_u"][idx]
    has_amt = ~np.isnan(amt)
    detail = pa.compute.coalesce(
        X.cat("，涉案金额", X.num(np.nan_to_num(amt), valid=has_amt), "元"), "")
    bac = X.num(80 + np.round(u * 160))
    detail = X.where(
        ch == K.CHARGE_IDX["危险驾驶"],
        X.cat("，经鉴定其血液中乙醇含量为", bac, "mg/100ml"),
        detail,
    )
    inj = X.take(_INJURY_POOL, np.minimum((u * 4).astype(int), 3))
    detail = X.where(
        ch == K.CHARGE_IDX["故意伤害"], X.cat("，经鉴定被害人损伤程度为", inj), detail
    )
    grams = X.cat(X.num(np.floor(0.5 + u * 60)), ".", X.num(np.floor(u * 97) % 10))
    drug = np.isin(ch, [K.CHARGE_IDX["走私、贩卖、运输、制造毒品"], K.CHARGE_IDX["非法持有毒品"]])
    detail = X.where(drug, X.cat("，查获甲基苯丙胺", grams, "克"), detail)
    detail = X.where(ch == K.CHARGE_IDX["交通肇事"], "，造成一人死亡，负事故全部责任", detail)
    victim = ~np.isin(ch, [K.CHARGE_IDX[c] for c in T.VICTIMLESS])
    oi = d["outcome_i"][idx]
    o = np.where(d["plea"][idx], np.where(victim & (oi >= 3), 4 + oi % 2, oi % 3), 3)
    outcome = X.take(_OUTCOME_POOL, o)
    return X.cat(date_txt, "，", who, mo, detail, "。", outcome, "。")


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


def _age(birth, on):
    by, bm = _year(birth), birth.astype("datetime64[M]").astype(int) % 12
    bday = (birth - birth.astype("datetime64[M]")).astype(int)
    oy, om = _year(on), on.astype("datetime64[M]").astype(int) % 12
    oday = (on - on.astype("datetime64[M]")).astype(int)
    before = (om < bm) | ((om == bm) & (oday < bday))
    return oy - by - before.astype(int)


_SURNAMES = X.pool(K.SURNAMES)
_MALE = X.pool(K.MALE)
_FEMALE = X.pool(K.FEMALE)
_ETH = X.pool(K.ETH_NAMES)
_EDU = X.pool(schema.CODE_TABLES["education"])
_OCC = X.pool(schema.CODE_TABLES["occupation"])
_CHARGES = X.pool(K.CHARGE_NAMES)
_GROUPS = X.pool([schema.charge_group_of(c) for c in K.CHARGE_NAMES])
_PLACES = X.pool(K._PLACE_NAMES)
_DEPTS = X.pool(T.DEPARTMENTS)
_ROADS = X.pool(T.ROADS)
_VILLAGES = X.pool(T.VILLAGES)
_PROVS = X.pool([p[0] + p[1] for p in T.OTHER_PROVINCES])
_CHECK = X.pool(list("10X98765432"))


def _names(male, g1_u, g2_u, sur_i, two):
    g1 = np.where(male, (g1_u * len(K.MALE)).astype(int), (g1_u * len(K.FEMALE)).astype(int))
    g2 = np.where(male, (g2_u * len(K.MALE)).astype(int), (g2_u * len(K.FEMALE)).astype(int))
    sur = X.take(_SURNAMES, sur_i)
    c1 = X.where(
        male, X.take(_MALE, np.where(male, g1, 0)), X.take(_FEMALE, np.where(male, 0, g1))
    )
    c2 = X.where(
        male, X.take(_MALE, np.where(male, g2, 0)), X.take(_FEMALE, np.where(male, 0, g2))
    )
    name = X.cat(sur, c1, X.where(two, c2, ""))
    masked = X.cat(sur, X.where(two, "某某", "某"))
    return name, masked


def _const(value, n):
    return X.pool([value]).take(pa.array(np.zeros(n, dtype=np.int64)))


def build_rows(spec, d, org, ctx, *, batch=0, n_batches=1):
    """The records rows of one unit — arrest review rows first, then prosecution review rows —
    censored at ``end``, as a dict of columns (numpy or Arrow arrays) plus ``_i`` (the person
    index of each row) and ``_stage`` (``"ar"``/``"pr"``).

    Every string is built once, directly at row level (case-level texts once per case, then
    taken), so no per-row Python work and no repeated copies.
    """
    start, end = ctx["start"], ctx["end_day"]
    P = len(d["case"])
    first_mask = d["k"] == 0
    first = np.flatnonzero(first_mask)
    seg = np.cumsum(first_mask) - 1  # case ordinal of each person
    C = len(first)
    ar_mask = d["in_ar"] & (d["ar_acc"] >= start) & (d["ar_acc"] <= end)
    pr_mask = d["to_pr"] & (d["pr_acc"] >= start) & (d["pr_acc"] <= end)
    ia, ip = np.flatnonzero(ar_mask), np.flatnonzero(pr_mask)
    R = np.r_[ia, ip]
    n = len(R)
    is_ar = np.r_[np.ones(len(ia), bool), np.zeros(len(ip), bool)]
    is_pr = ~is_ar
    r = {k: v[R] for k, v in d.items() if isinstance(v, np.ndarray) and v.shape[:1] == (P,)}
    S = seg[R]
    S_pa = pa.array(S)

    def serial(groups, dates):  # interleave the batches of a large unit: unique, ~chronological
        return (_rank_within(groups, dates) - 1) * n_batches + batch + 1

    # --- case-level identifiers and texts
    anchor_c = d["anchor"][first]
    uy = _year(anchor_c)
    unified_c = X.cat(spec.unit_code, X.num(uy), X.num(serial(uy, anchor_c), 7))
    juv = d["juvenile"][first]
    ar_c = d["ar_acc"][first]
    has_ar_c = ~np.isnat(ar_c)
    ar_date = np.where(has_ar_c, ar_c, anchor_c)
    ar_year = _year(ar_date)
    ar_serial = serial(np.where(has_ar_c, ar_year * 2 + juv, -1), ar_date)
    ar_no_c = X.cat(spec.abbr, "检", X.where(juv, "未捕", "刑捕"), "受[", X.num(ar_year), "]",
                    spec.unit_code, X.num(ar_serial, 6), "号")
    pr_c = d["pr_acc_case"][first]
    pr_year = _year(pr_c)
    pr_no_c = X.cat(spec.abbr, "检", X.where(juv, "未起诉", "刑诉"), "受[", X.num(pr_year), "]",
                    spec.unit_code, X.num(serial(pr_year * 2 + juv, pr_c), 6), "号")
    _, masked_c = _names(
        d["male"][first], d["g1_u"][first], d["g2_u"][first], d["sur_i"][first], d["two"][first]
    )
    ch_name_c = X.take(_CHARGES, d["charge_idx"][first])
    size_c = d["size"][first]
    case_name_c = X.where(size_c > 1, X.cat(masked_c, "等", X.num(size_c), "人", ch_name_c, "案"),
                          X.cat(masked_c, "涉嫌", ch_name_c, "案"))
    summary_c = _summary(d, first, masked_c)
    dept_no = pa.concat_arrays([ar_no_c, pr_no_c]).take(pa.array(S + np.where(is_ar, 0, C)))
    # --- person attributes (row level)
    ch = r["charge_idx"]
    name, _ = _names(r["male"], r["g1_u"], r["g2_u"], r["sur_i"], r["two"])
    unified = unified_c.take(S_pa)
    birth = r["birth"]
    bnum = (_year(birth) * 10000 + (birth.astype("datetime64[M]").astype(int) % 12 + 1) * 100
            + (birth - birth.astype("datetime64[M]")).astype(int) + 1)
    prov_codes = np.array([int(p[2]) for p in T.OTHER_PROVINCES], dtype=np.int64)
    region = np.where(r["local"], int(spec.unit_code), prov_codes[r["addr_prov"]])
    base17 = region * 10**11 + bnum * 1000 + r["seq"]
    digits = (base17[:, None] // (10 ** np.arange(16, -1, -1, dtype=np.int64))) % 10
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    id_number = X.cat(X.num(base17), X.take(_CHECK, (digits * weights).sum(axis=1) % 11))
    addr_local = X.cat(
        spec.city + spec.district,
        X.take(_ROADS, r["addr_road"]),
        X.num(r["addr_no"]),
        "号",
        X.num(r["addr_bld"]),
        "栋",
        X.num(r["addr_room"]),
        "室",
    )
    addr_other = X.cat(X.take(_PROVS, r["addr_prov"]), X.take(_VILLAGES, r["addr_vil"]), "村",
                       X.num(r["addr_no"]), "号")
    second_idx = np.array([K.CHARGE_IDX[T.SECOND_CHARGE[c]] if c in T.SECOND_CHARGE else -1
                           for c in K.CHARGE_NAMES])[ch]
    has_second = r["second"] & (second_idx >= 0)
    # one shared list object per (charge, second charge) combination: no per-row Python work
    lists = np.empty(2 * K.NCH, dtype=object)
    for i, c in enumerate(K.CHARGE_NAMES):
        sc = T.SECOND_CHARGE.get(c)
        lists[2 * i] = [c]
        lists[2 * i + 1] = [c, sc] if sc else [c]
    circ_code = _circumstances_code(r)
    circ_j_code = np.where(r["circ_change"], np.where(circ_code == 0, 2, circ_code | 4), circ_code)
    offence_at = (r["offence_day"].astype("datetime64[s]")
                  + (r["hour"] * 3600 + r["minute"] * 60).astype("timedelta64[s]"))
    pros_i, agency_i, station_i = org.pros_i[R], org.agency_i[R], org.station_i[R]
    # --- stage outcomes (arrest review rows / prosecution review rows)
    a_closed_ok = is_ar & (r["ar_closed"] <= end)
    chg_ok = a_closed_ok & (r["measure_changed_on"] <= end)
    p_ok = is_pr & (r["pr_closed"] <= end)
    j_ok = p_ok & (r["judgment_on"] <= end)
    pros_ok = p_ok & r["prosecuted"]
    rec_ok = pros_ok & r["has_rec"]
    pdec = np.where(r["prosecuted"], 2, np.where(r["non_pros"], 3, 4))
    accepted = np.where(is_ar, r["ar_acc"], r["pr_acc"])
    closed = np.where(a_closed_ok, r["ar_closed"], np.where(p_ok, r["pr_closed"], NAT))
    measure = np.where(is_ar, 4, r["pr_measure"])
    u_e = r["u_entry"]
    lag = np.where(u_e < 0.7, 0, np.where(u_e < 0.9, 1, 2))
    base = np.where(np.isnat(closed), accepted + _td(np.minimum(lag, 1)), closed + _td(lag))
    entered = np.minimum(
        base.astype("datetime64[s]") + (r["entry_hour"] * 60).astype("timedelta64[s]"),
        ctx["export_at"],
    )
    cols = dict(
        unit_code=_const(spec.unit_code, n),
        unit_name=_const(spec.unit_name, n),
        dept_case_no=dept_no,
        unified_case_no=unified,
        case_name=case_name_c.take(S_pa),
        stage=X.take(X.pool(["arrest_review", "prosecution_review"]), is_pr.astype(int)),
        case_type=X.take(
            X.pool(
                [
                    "arrest_review_case",
                    "juvenile_arrest_review_case",
                    "first_instance_prosecution",
                    "juvenile_first_instance_prosecution",
                ]
            ),
            is_pr * 2 + r["juvenile"],
        ),
        department=X.take(_DEPTS, r["dept"]),
        prosecutor_id=X.take(X.pool(org.pros_ids), pros_i),
        prosecutor_name=X.take(X.pool(org.pros_names), pros_i),
        referring_agency=X.take(X.pool(org.agencies), agency_i),
        police_station=X.take(X.pool(org.stations), station_i),
        person_id=X.cat(unified, "-", X.num(r["k"] + 1, 2)),
        person_name=name,
        id_number=id_number,
        address=X.where(r["local"], addr_local, addr_other),
        gender=X.where(r["male"], "male", "female"),
        birth_date=birth,
        age=_age(birth, accepted),
        ethnicity=X.take(_ETH, r["eth_i"]),
        education=X.take(_EDU, r["edu_i"]),
        occupation=X.take(_OCC, r["occ_i"]),
        household=X.where(r["local"], "local", "non_local"),
        minor=r["minor"],
        recidivist=r["recid"],
        prior_record=r["prior"],
        co_offending=r["co"],
        gang=r["gang"],
        charge=X.take(_CHARGES, ch),
        charges=lists[ch * 2 + has_second.astype(int)],
        charge_group=X.take(_GROUPS, ch),
        accepted_on=accepted,
        closed_on=closed,
        entered_at=entered,
        coercive_measure=X.take(X.pool(MEASURE_CODES), measure),
        detained=np.isin(measure, [4, 5]),
        arrested_on=np.where(a_closed_ok, r["arrested_on"], NAT),
        measure_changed_on=np.where(chg_ok, r["measure_changed_on"], NAT),
        measure_after_change=X.take(
            X.pool(AFTER_CODES),
            np.maximum(r["measure_after_change"], 0),
            valid=chg_ok & (r["measure_after_change"] >= 0),
        ),
        decision=X.take(
            X.pool(["arrest_approved", "non_arrest", "prosecute", "non_prosecution", "other"]),
            np.where(is_ar, r["non_arrest"].astype(int), pdec),
            valid=a_closed_ok | p_ok,
        ),
        decision_subtype=X.take(
            X.pool(NA_SUB_CODES + NP_SUB_CODES),
            np.where(is_ar, r["na_sub"], 3 + r["np_sub"]),
            valid=(a_closed_ok & r["non_arrest"]) | (p_ok & r["non_pros"]),
        ),
        procedure=X.take(X.pool(PROC_CODES), r["proc"], valid=pros_ok),
        supplementary_investigation=np.where(p_ok, r["sup"], 0),
        review_extension=np.where(p_ok, r["ext_final"], 0),
        withdrawal=_opt_bool(pros_ok, r["withdraw"]),
        plea_leniency=np.where(is_ar, r["ar_plea"], r["plea"]),
        surrender=r["surrender"],
        circumstances_review=X.take(_CIRC_POOL, circ_code),
        recommendation_type=X.take(
            X.pool(["fixed", "range", "none"]),
            np.where(r["has_rec"], np.where(r["rec_fixed"], 0, 1), 2),
            valid=pros_ok,
        ),
        recommended_penalty=X.take(X.pool(PEN_CODES), r["pen"], valid=rec_ok),
        recommended_term_months=np.where(rec_ok, r["term"], np.nan),
        recommended_probation=_opt_bool(rec_ok, r["probation"]),
        court=X.take(
            X.pool([spec.court, spec.mid_court]),
            np.isin(r["final_pen"], [3, 4]).astype(int),
            valid=j_ok,
        ),
        judgment_on=np.where(j_ok, r["judgment_on"], NAT),
        principal_penalty=X.take(X.pool(PEN_CODES), r["final_pen"], valid=j_ok),
        term_months=np.where(j_ok, r["final_term"], np.nan),
        probation=_opt_bool(j_ok, r["final_prob"]),
        probation_months=np.where(j_ok, r["probation_months"], np.nan),
        fine=np.where(j_ok, r["final_fine"], np.nan),
        recommendation_adopted=_opt_bool(j_ok & r["has_rec"], r["adopted"]),
        circumstances_judgment=X.take(_CIRC_POOL, circ_j_code, valid=j_ok),
        judgment_changed_circumstances=_opt_bool(j_ok, r["circ_change"]),
        appeal=_opt_bool(j_ok, r["appeal"]),
        protest=_opt_bool(j_ok, r["protest"]),
        offence_at=offence_at,
        place_type=X.take(_PLACES, r["place"]),
        amount_involved=r["amount"],
        case_summary=summary_c.take(S_pa),
        _i=R,
        _stage=np.where(is_ar, "ar", "pr").astype(object),
    )
    return cols


def to_frame(cols):
    """A dict of numpy / Arrow arrays → a records frame with canonical dtypes (plus ``_i`` and
    ``_stage``)."""
    out = {}
    n = len(cols["_i"])
    for col in schema.columns("records"):
        name = col.name
        v = cols.get(name)
        dtype = schema.pandas_dtype(col)
        if v is None:
            out[name] = pd.Series(
                pd.NA if col.dtype != "list" else None, index=range(n), dtype=dtype
            )
        elif isinstance(v, (pa.Array, pa.ChunkedArray)):
            out[name] = X.to_series(v)
        elif col.dtype in ("date", "datetime"):
            out[name] = pd.Series(np.asarray(v).astype("datetime64[s]"))
        elif col.dtype == "bool":
            a = np.asarray(v)
            if a.dtype == bool:
                out[name] = pd.Series(pd.arrays.BooleanArray(a, np.zeros(n, dtype=bool)))
            else:
                a = a.astype(float)
                nan = np.isnan(a)
                out[name] = pd.Series(pd.arrays.BooleanArray(np.where(nan, 0, a) == 1, nan))
        elif col.dtype == "int":
            out[name] = pd.Series(pd.array(np.asarray(v, dtype=np.int64), dtype="Int64"))
        elif col.dtype == "float":
            out[name] = pd.Series(pd.array(np.asarray(v, dtype=float), dtype="Float64"))
        else:
            out[name] = pd.Series(v, dtype=object)
    out["_i"] = pd.Series(cols["_i"])
    out["_stage"] = pd.Series(cols["_stage"], dtype=object)
    return pd.DataFrame(out, copy=False)
