"""From simulated persons to case-card rows: outcomes under the pattern thresholds, censoring at
the end of the data window, identifiers, free text, entry errors and the modification log."""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework import schema
from casework.synth import _core as K
from casework.synth import _tables as T

NAT = K.NAT
PEN_CODES = np.array(["public_surveillance", "criminal_detention", "fixed_term", "life", "death",
                      "fine_only", "exempted", "acquitted"], dtype=object)
NA_SUB_CODES = np.array(["no_necessity", "insufficient_evidence_arrest", "not_criminal"], dtype=object)
NP_SUB_CODES = np.array(["statutory", "discretionary", "insufficient_evidence", "conditional"], dtype=object)
PROC_CODES = np.array(["fast_track", "summary", "ordinary"], dtype=object)
AFTER_CODES = np.array(["bail", "residential_surveillance", "released"], dtype=object)
TD = "timedelta64[D]"


def _td(x):
    return np.asarray(x).astype("int64").astype(TD)


def _s(arr):
    """Object/str array → pandas string array (NaN/None → NA)."""
    return pd.array(np.asarray(arr, dtype=object), dtype="string")


def _zfill(values, width):
    return np.strings.zfill(np.asarray(values, dtype=np.int64).astype(str), width).astype(object)


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


# ---------------------------------------------------------------------------------------------
# Organisation: stations and prosecutors (case level, from latent uniforms)
# ---------------------------------------------------------------------------------------------


def assign_org(spec, d, station_share, station_w):
    """Referring agency, police station, prosecutor for each person (case-level draws)."""
    kind = d["agency_kind"]
    u = d["u_station"]
    w = np.asarray(station_w, float)
    w = w / w.sum() * (1 - station_share)
    cum = np.cumsum(np.r_[station_share, w])
    cum[-1] = 1.0
    stations = np.array(spec.stations, dtype=object)
    st_main = stations[K.pick(cum, u)]
    squads = np.array(["城区中队", "郊区中队", "高速公路中队"], dtype=object)
    st_traffic = squads[K.pick(np.array([0.6, 0.9, 1.0]), u)]
    city_sq = np.array(T.CITY_SQUADS, dtype=object)
    sq_i = np.where(d["dept"] == 2, np.where(u < 0.5, 0, 3), np.where(u < 0.5, 1, 2))
    st_city = city_sq[sq_i]
    agency = np.where(kind == 0, spec.main_agency, np.where(kind == 1, spec.traffic_agency, spec.city_agency))
    station = np.where(kind == 0, st_main, np.where(kind == 1, st_traffic, st_city))
    # prosecutors: department list, unequal loads
    pid = np.empty(len(kind), dtype=object)
    pname = np.empty(len(kind), dtype=object)
    for dept, plist in spec.prosecutors.items():
        m = d["dept"] == dept
        if not m.any():
            continue
        loads = np.array([0.7 + 0.6 * ((j * 37 + 11) % 10) / 9 for j in range(len(plist))])
        cumload = np.cumsum(loads / loads.sum())
        j = K.pick(cumload, d["u_pros"][m])
        ids = np.array([p[0] for p in plist], dtype=object)
        names = np.array([p[1] for p in plist], dtype=object)
        pid[m], pname[m] = ids[j], names[j]
    return agency.astype(object), station.astype(object), pid, pname


# ---------------------------------------------------------------------------------------------
# Outcomes under pattern thresholds
# ---------------------------------------------------------------------------------------------


def realize(d, *, p_change, bail_forced, mult, p_adopt_fn):
    """Dates and outcomes that depend on pattern thresholds; adds keys to ``d`` in place."""
    P = len(d["case"])
    # post-arrest change of measure
    changed = d["approved"] & (d["u_bail"] < p_change)
    after = AFTER_CODES[d["after_bg"]]
    after = np.where(bail_forced & (d["u_bail"] >= 0.045), "bail", after)
    ch_on = d["arrested_on"] + d["change_lag"]
    ch_on = np.where(d["to_pr"] & (ch_on >= d["pr_acc"]), d["pr_acc"] - np.timedelta64(1, "D"), ch_on)
    ch_on = np.maximum(ch_on, d["arrested_on"] + np.timedelta64(1, "D"))
    d["changed"] = changed
    d["measure_changed_on"] = np.where(changed, ch_on, NAT)
    d["measure_after_change"] = np.where(changed, after, None)
    # coercive measure at prosecution acceptance
    u = d["pr_measure_u"]
    after_map = {"bail": "bail", "residential_surveillance": "residential_surveillance", "released": "none"}
    after_pr = np.array([after_map[a] for a in AFTER_CODES], dtype=object)[d["after_bg"]]
    after_pr = np.where(bail_forced & (d["u_bail"] >= 0.045), "bail", after_pr)
    dd = d["charge_idx"] == K.CHARGE_IDX["危险驾驶"]
    no_ar = np.where(dd, np.array(["bail", "detention", "none", "none"], dtype=object)[K.pick(np.array([.85, .9, .95, 1]), u)],
                     np.array(["bail", "residential_surveillance", "detention", "none"], dtype=object)[
                         K.pick(np.array([.80, .88, .93, 1]), u)])
    na = np.array(["bail", "residential_surveillance", "none"], dtype=object)[K.pick(np.array([.9, .97, 1]), u)]
    measure = np.where(d["approved"], np.where(changed, after_pr, "arrest"),
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
    pm_cd = np.minimum(12, np.maximum(2, np.nan_to_num(term)) + np.array([0, 1, 2, 3, 6])[d["outcome_i"] % 5])
    pm_ft = np.minimum(60, np.maximum(12, np.nan_to_num(term)) + np.array([0, 6, 12, 12, 24])[d["outcome_i"] % 5])
    d["probation_months"] = np.where(prob, np.where(pen == 1, pm_cd, pm_ft), np.nan)
    d["appeal"] = judged & ~d["acquit"] & (d["u_appeal"] < np.where(d["plea"], 0.03, 0.2))
    d["protest"] = judged & (d["u_protest"] < 0.003)


# ---------------------------------------------------------------------------------------------
# Free text
# ---------------------------------------------------------------------------------------------


def _circumstances(d):
    parts = [(d["surrender"], "自首"), (d["confess"], "坦白"), (d["merit"], "立功"),
             (d["accomplice"], "从犯"), (d["attempt"], "未遂"), (d["recid"], "累犯"), (d["minor"], "未成年人")]
    out = np.full(len(d["case"]), "", dtype=object)
    for flag, word in parts:
        out = out + np.where(flag, word + "、", "")
    out = np.where(out == "", "无、", out)
    return np.strings.rstrip(out.astype(str), "、").astype(object)


def _summary(d, first):
    """Case-level 案情摘要 (same for every person of a case), from charge phrase pools."""
    idx = first
    off = d["offence_day"][idx]
    y, m, dd = _year(off), off.astype("datetime64[M]").astype(int) % 12 + 1, \
        (off - off.astype("datetime64[M]")).astype(int) + 1
    ch = d["charge_idx"][idx]
    date_txt = (y.astype(str).astype(object) + "年" + m.astype(str).astype(object) + "月"
                + dd.astype(str).astype(object) + "日" + d["hour"][idx].astype(str).astype(object) + "时许")
    who = "犯罪嫌疑人" + d["masked"][idx]
    who = who + np.where(d["size"][idx] > 1, "伙同他人", "")
    mo = K._MO_FLAT[d["mo_idx"][idx]]
    override = d["mo_override"][idx] if d["mo_override"] is not None else None
    if override is not None:
        mo = np.where(pd.isna(override), mo, override)
    amt = d["amount"][idx]
    u = d["detail_u"][idx]
    detail = np.where(np.isnan(amt), "", "，涉案金额" + np.nan_to_num(amt).astype(np.int64).astype(str).astype(object) + "元")
    bac = (80 + np.round(u * 160)).astype(int).astype(str).astype(object)
    detail = np.where(ch == K.CHARGE_IDX["危险驾驶"], "，经鉴定其血液中乙醇含量为" + bac + "mg/100ml", detail)
    inj = np.array(["轻伤二级", "轻伤二级", "轻伤一级", "重伤二级"], dtype=object)[np.minimum((u * 4).astype(int), 3)]
    detail = np.where(ch == K.CHARGE_IDX["故意伤害"], "，经鉴定被害人损伤程度为" + inj, detail)
    grams = np.round(0.5 + u * 60, 1).astype(str).astype(object)
    drug = np.isin(ch, [K.CHARGE_IDX["走私、贩卖、运输、制造毒品"], K.CHARGE_IDX["非法持有毒品"]])
    detail = np.where(drug, "，查获甲基苯丙胺" + grams + "克", detail)
    detail = np.where(ch == K.CHARGE_IDX["交通肇事"], "，造成一人死亡，负事故全部责任", detail)
    outcome = np.array(T.OUTCOME, dtype=object)[d["outcome_i"][idx]]
    return date_txt + "，" + who + mo + detail + "。" + outcome + "。"


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


def build_rows(spec, d, org, ctx):
    """The records rows (arrest review + prosecution review) of one unit, censored at ``end``."""
    start, end = ctx["start"], ctx["end_day"]
    agency, station, pid, pname = org
    P = len(d["case"])
    case = d["case"]
    first_mask = d["k"] == 0
    first = np.flatnonzero(first_mask)
    seg = np.cumsum(first_mask) - 1  # case ordinal of each person
    # --- identifiers
    anchor_c = d["anchor"][first]
    uy = _year(anchor_c)
    userial = _rank_within(uy, anchor_c)
    unified_c = spec.unit_code + uy.astype(str).astype(object) + _zfill(userial, 7)
    unified = unified_c[seg]
    person_id = unified + "-" + _zfill(d["k"] + 1, 2)
    # arrest-review case numbers (per case with an arrest review)
    juv = d["juvenile"][first]
    ar_c = d["ar_acc"][first]
    has_ar_c = ~np.isnat(ar_c)
    ar_year = np.where(has_ar_c, _year(np.where(has_ar_c, ar_c, anchor_c)), 0)
    ar_key = ar_year * 2 + juv
    ar_serial = _rank_within(np.where(has_ar_c, ar_key, -1), np.where(has_ar_c, ar_c, anchor_c))
    ar_no_c = (spec.abbr + "检" + np.where(juv, "未捕", "刑捕") + "受[" + ar_year.astype(str).astype(object) + "]"
               + spec.unit_code + _zfill(ar_serial, 6) + "号")
    pr_c = d["pr_acc_case"][first]
    pr_year = _year(pr_c)
    pr_serial = _rank_within(pr_year * 2 + juv, pr_c)
    pr_no_c = (spec.abbr + "检" + np.where(juv, "未起诉", "刑诉") + "受[" + pr_year.astype(str).astype(object) + "]"
               + spec.unit_code + _zfill(pr_serial, 6) + "号")
    charge_names = np.array(K.CHARGE_NAMES, dtype=object)
    ch = d["charge_idx"]
    ch_name_c = charge_names[ch[first]]
    size_c = d["size"][first]
    case_name_c = np.where(size_c > 1, d["masked"][first] + "等" + size_c.astype(str).astype(object) + "人" + ch_name_c + "案",
                           d["masked"][first] + "涉嫌" + ch_name_c + "案")
    summary_c = _summary(d, first)
    # --- person attributes
    gender = np.where(d["male"], "male", "female").astype(object)
    region_local = np.array([spec.unit_code], dtype=object)[np.zeros(P, int)]
    prov = np.array(T.OTHER_PROVINCES, dtype=object)
    region = np.where(d["local"], region_local, prov[d["addr_prov"], 2])
    birth = d["birth"]
    bstr = (_year(birth) * 10000 + (birth.astype("datetime64[M]").astype(int) % 12 + 1) * 100
            + (birth - birth.astype("datetime64[M]")).astype(int) + 1)
    base17 = region.astype(str).astype(np.int64) * 10**11 + bstr * 1000 + d["seq"]
    digits = (base17[:, None] // (10 ** np.arange(16, -1, -1))) % 10
    weights = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
    check = np.array(list("10X98765432"), dtype=object)[(digits * weights).sum(axis=1) % 11]
    id_number = base17.astype(str).astype(object) + check
    roads = np.array(T.ROADS, dtype=object)
    addr_local = (spec.city + spec.district + roads[d["addr_road"]] + d["addr_no"].astype(str).astype(object) + "号"
                  + d["addr_bld"].astype(str).astype(object) + "栋" + d["addr_room"].astype(str).astype(object) + "室")
    villages = np.array(T.VILLAGES, dtype=object)
    addr_other = (prov[d["addr_prov"], 0] + prov[d["addr_prov"], 1] + villages[d["addr_vil"]] + "村"
                  + d["addr_no"].astype(str).astype(object) + "号")
    address = np.where(d["local"], addr_local, addr_other)
    second = np.array([T.SECOND_CHARGE.get(c) for c in K.CHARGE_NAMES], dtype=object)[ch]
    has_second = d["second"] & pd.notna(second)
    main = charge_names[ch]
    # one shared list object per (charge, second charge) combination: no per-row Python work
    combo = ch * 2 + has_second.astype(int)
    lists = np.empty(2 * K.NCH, dtype=object)
    for i, c in enumerate(K.CHARGE_NAMES):
        sc = T.SECOND_CHARGE.get(c)
        lists[2 * i] = [c]
        lists[2 * i + 1] = [c, sc] if sc else [c]
    charges_list = lists[combo]
    circ = _circumstances(d)
    circ_j = np.where(d["circ_change"], np.where(circ == "无", "坦白", circ + "、立功"), circ)
    offence_at = (d["offence_day"].astype("datetime64[s]") + (d["hour"] * 3600 + d["minute"] * 60).astype("timedelta64[s]"))
    place_names = np.array(K._PLACE_NAMES, dtype=object)
    dept_names = np.array(T.DEPARTMENTS, dtype=object)
    common = dict(
        unit_code=np.full(P, spec.unit_code, dtype=object), unit_name=np.full(P, spec.unit_name, dtype=object),
        unified_case_no=unified, case_name=case_name_c[seg], department=dept_names[d["dept"]],
        prosecutor_id=pid, prosecutor_name=pname, referring_agency=agency, police_station=station,
        person_id=person_id, person_name=d["person_name"], id_number=id_number, address=address,
        gender=gender, birth_date=birth, ethnicity=d["eth"], education=d["education"],
        occupation=d["occupation"], household=np.where(d["local"], "local", "non_local").astype(object),
        minor=d["minor"], recidivist=d["recid"], prior_record=d["prior"], co_offending=d["co"],
        gang=d["gang"], charge=main, charges=charges_list,
        charge_group=np.array([schema.charge_group_of(c) for c in K.CHARGE_NAMES], dtype=object)[ch],
        surrender=d["surrender"], circumstances_review=circ, offence_at=offence_at,
        place_type=place_names[d["place"]], amount_involved=d["amount"], case_summary=summary_c[seg],
    )
    # --- arrest review rows
    ar = d["in_ar"] & (d["ar_acc"] >= start) & (d["ar_acc"] <= end)
    closed_ok = d["ar_closed"] <= end
    a_closed = np.where(closed_ok, d["ar_closed"], NAT)
    arrested = np.where(closed_ok, d["arrested_on"], NAT)
    chg_ok = closed_ok & (d["measure_changed_on"] <= end)
    dec = np.where(d["approved"], "arrest_approved", "non_arrest").astype(object)
    sub = np.where(d["non_arrest"], NA_SUB_CODES[d["na_sub"]], None)
    ar_rows = dict(
        stage=np.full(P, "arrest_review", dtype=object),
        case_type=np.where(d["juvenile"], "juvenile_arrest_review_case", "arrest_review_case").astype(object),
        dept_case_no=ar_no_c[seg], accepted_on=d["ar_acc"], closed_on=a_closed,
        coercive_measure=np.full(P, "detention", dtype=object), detained=np.ones(P, bool),
        arrested_on=arrested, measure_changed_on=np.where(chg_ok, d["measure_changed_on"], NAT),
        measure_after_change=np.where(chg_ok, d["measure_after_change"], None),
        decision=np.where(closed_ok, dec, None), decision_subtype=np.where(closed_ok, sub, None),
        plea_leniency=d["ar_plea"],
    )
    # --- prosecution review rows
    pr = d["to_pr"] & (d["pr_acc"] >= start) & (d["pr_acc"] <= end)
    p_ok = d["pr_closed"] <= end
    j_ok = p_ok & (d["judgment_on"] <= end)
    pdec = np.where(d["prosecuted"], "prosecute", np.where(d["non_pros"], "non_prosecution", "other")).astype(object)
    psub = np.where(d["non_pros"], NP_SUB_CODES[d["np_sub"]], None)
    pros_ok = p_ok & d["prosecuted"]
    rec_type = np.where(d["has_rec"], np.where(d["rec_fixed"], "fixed", "range"), "none").astype(object)
    measure = d["pr_measure"]
    court = np.where(np.isin(d["final_pen"], [3, 4]), spec.mid_court, spec.court).astype(object)
    pr_rows = dict(
        stage=np.full(P, "prosecution_review", dtype=object),
        case_type=np.where(d["juvenile"], "juvenile_first_instance_prosecution", "first_instance_prosecution").astype(object),
        dept_case_no=pr_no_c[seg], accepted_on=d["pr_acc"], closed_on=np.where(p_ok, d["pr_closed"], NAT),
        coercive_measure=measure, detained=np.isin(measure, ["arrest", "detention"]),
        decision=np.where(p_ok, pdec, None), decision_subtype=np.where(p_ok, psub, None),
        procedure=np.where(pros_ok, PROC_CODES[d["proc"]], None),
        supplementary_investigation=np.where(p_ok, d["sup"], 0),
        review_extension=np.where(p_ok, d["ext_final"], 0),
        withdrawal=np.where(pros_ok, d["withdraw"], None),
        plea_leniency=d["plea"],
        recommendation_type=np.where(pros_ok, rec_type, None),
        recommended_penalty=np.where(pros_ok & d["has_rec"], PEN_CODES[d["pen"]], None),
        recommended_term_months=np.where(pros_ok & d["has_rec"], d["term"], np.nan),
        recommended_probation=np.where(pros_ok & d["has_rec"], d["probation"], None),
        court=np.where(j_ok, court, None), judgment_on=np.where(j_ok, d["judgment_on"], NAT),
        principal_penalty=np.where(j_ok, PEN_CODES[d["final_pen"]], None),
        term_months=np.where(j_ok, d["final_term"], np.nan),
        probation=np.where(j_ok, d["final_prob"], None),
        probation_months=np.where(j_ok, d["probation_months"], np.nan),
        fine=np.where(j_ok, d["final_fine"], np.nan),
        recommendation_adopted=np.where(j_ok & d["has_rec"], d["adopted"], None),
        circumstances_judgment=np.where(j_ok, circ_j, None),
        judgment_changed_circumstances=np.where(j_ok, d["circ_change"], None),
        appeal=np.where(j_ok, d["appeal"], None), protest=np.where(j_ok, d["protest"], None),
    )
    ia, ip = np.flatnonzero(ar), np.flatnonzero(pr)
    frames = []
    for idx, rows, stage in ((ia, ar_rows, "ar"), (ip, pr_rows, "pr")):
        cols = {k: v[idx] for k, v in common.items()}
        cols.update({k: v[idx] for k, v in rows.items()})
        acc = cols["accepted_on"]
        cols["age"] = _age(cols["birth_date"], acc)
        cl = cols["closed_on"]
        u_e = d["u_entry"][idx]
        lag = np.where(u_e < 0.7, 0, np.where(u_e < 0.9, 1, 2))
        base = np.where(np.isnat(cl), acc + _td(lag.clip(0, 1)), cl + _td(lag))
        ent = base.astype("datetime64[s]") + (d["entry_hour"][idx] * 60).astype("timedelta64[s]")
        cols["entered_at"] = np.minimum(ent, ctx["export_at"])
        cols["_i"] = idx
        cols["_stage"] = np.full(len(idx), stage, dtype=object)
        frames.append(cols)
    return frames


def to_frame(cols):
    """A dict of numpy arrays → a records frame with canonical dtypes (plus helper columns)."""
    out = {}
    n = len(cols["_i"])
    for col in schema.columns("records"):
        name = col.name
        v = cols.get(name)
        if v is None:
            out[name] = pd.Series(pd.NA if col.dtype != "list" else None, index=range(n),
                                  dtype=schema.pandas_dtype(col))
            continue
        if col.dtype == "string":
            out[name] = pd.Series(_s(v))
        elif col.dtype in ("date", "datetime"):
            out[name] = pd.Series(np.asarray(v).astype("datetime64[s]"))
        elif col.dtype == "bool":
            vv = np.asarray(v, dtype=object)
            out[name] = pd.Series(pd.array(np.where(pd.isna(vv), None, vv.astype(bool) if vv.dtype != object else vv),
                                           dtype="boolean")) if vv.dtype == object else \
                pd.Series(pd.array(np.asarray(v, dtype=bool), dtype="boolean"))
        elif col.dtype == "int":
            out[name] = pd.Series(pd.array(np.asarray(v, dtype=np.int64), dtype="Int64"))
        elif col.dtype == "float":
            out[name] = pd.Series(pd.array(np.asarray(v, dtype=float), dtype="Float64"))
        else:
            out[name] = pd.Series(v, dtype=object)
    df = pd.DataFrame(out)
    df["_i"] = cols["_i"]
    df["_stage"] = cols["_stage"]
    return df
