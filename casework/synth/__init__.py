"""Seeded synthetic case-card data with planted patterns and a ground-truth manifest.

:func:`make` simulates, unit by unit, criminal matters through 审查逮捕 → 审查起诉 → 判决 with
a national-like charge mix, rates near the published ones (``shared/reference/domain.md``),
seasonality with the Spring Festival dip, fictional units, agencies, police stations,
prosecutors and persons, free-text 案情摘要, case-card entry errors and a modification log.
Unless ``null=True`` it plants known patterns and describes them in ``truth["patterns"]``.
Where each sits, when it starts and how strong it is are drawn from the seed (the same seed
gives the same placement; :mod:`casework.synth._plan` holds the draws):

``post_arrest_bail_jump``
    the largest police station of one unit's district bureau (station names are drawn per
    seed): 捕后取保候审 share from about 4 % to 25–40 %, starting 8–12 months before the end;
``slow_prosecutor``
    one prosecutor of 第一 or 第二检察部 of one unit: 审查起诉 handling days × 1.6–2.0 for
    cases accepted from a month 6–14 months before the end;
``rising_charge``
    one of 帮助信息网络犯罪活动, 诈骗, 盗窃, 掩饰、隐瞒犯罪所得, 开设赌场 grows 5–8 % a month
    from 9–14 months before the end, with new modus-operandi words;
``entry_error_run``
    one department (第一 or 第二检察部) of one unit: 20–30 % broken case cards (background
    about 2 %) for three months of acceptance, starting 6–11 months before the end;
``adoption_drop``
    one unit: 量刑建议采纳率 from about 95 % to 65–75 % for judgments from 6–12 months
    before the end;
``closed_case_editor``
    one staff account of one unit edits key fields of 1.5–3 % of the unit's cards closed
    since 6–14 months before the end (40–400 edits).

The five unit-bound patterns sit in five different units when there are at least five (with
fewer, the slow prosecutor and the error run take different departments). Each entry of
``truth["patterns"]`` gives ``id``/``type``, ``entity_type``, ``entity_id`` and the FULL
``entity_name`` a report should print (``江州市公安局青山分局和平派出所``,
``江州市江滨区人民检察院第二检察部``, ``…检察官曾杰东``, ``诈骗``,
``云溪县人民检察院账号930106902``), ``keys`` (canonical columns), ``from``/``to``
months, the drawn ``effect`` and the report ``templates`` that should name it.
``null=True`` plants nothing: ``truth["patterns"] == []``.

The generator imports only :mod:`casework.model.schema`, :mod:`casework.base.config` and
:mod:`casework.base.errors`: it shares no code with the analyses it is used to test.

Examples
--------
>>> from casework import synth
>>> data = synth.make(units=1, years=1, end="2024-06", persons=3000, seed=1)
>>> sorted(data.records["stage"].unique())
['arrest_review', 'prosecution_review']
>>> data.truth["start"], data.truth["end"]
('2023-07', '2024-06')
>>> [p["id"] for p in data.truth["patterns"]][:2]
['post_arrest_bail_jump', 'slow_prosecutor']
>>> synth.make(units=1, years=1, end="2024-06", persons=3000, seed=1, null=True).truth["patterns"]
[]
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casework.base.errors import ParameterError
from casework.model import schema
from casework.synth import _assemble as A
from casework.synth import _core as K
from casework.synth import _export as X
from casework.synth import _plan as L
from casework.synth import _quality as Q
from casework.synth import _supervision as S
from casework.synth import _tables as T

__all__ = ["SynthData", "make", "generate", "describe", "iter_units"]

#: Person rows per unit and year at the default volume (6 units × 3 years ≈ 60k rows).
ROWS_PER_UNIT_YEAR = 3333
#: Records rows produced per simulated case (measured; used to size the simulation).
_ROWS_PER_CASE = 1.92
_SIM_LEAD_MONTHS = 8  # simulate this long before the window so stages are in steady state
#: A unit larger than this is simulated in equal batches (bounded memory; serial numbers
#: interleaved so they stay unique and nearly chronological).
MAX_ROWS_PER_BATCH = 250_000


@dataclass
class SynthData:
    """Generated data: ``records`` and ``modifications`` (schema-conformed frames), ``truth``
    (the manifest of planted patterns) and ``errors`` (one row per injected case-card error:
    ``stage, dept_case_no, person_id, kind, planted``)."""

    records: pd.DataFrame
    modifications: pd.DataFrame
    truth: dict
    errors: pd.DataFrame = field(default_factory=pd.DataFrame)
    supervision: pd.DataFrame = field(default_factory=lambda: schema.empty_frame("supervision"))


# ---------------------------------------------------------------------------------------------
# Parameters
# ---------------------------------------------------------------------------------------------


def _month(code):
    try:
        return np.datetime64(str(code), "M") if len(str(code)) == 7 else None
    except ValueError:
        return None


def _check(units, years, end, persons, seed):
    if not isinstance(units, (int, np.integer)) or not 1 <= units <= 1000:
        raise ParameterError(f"单位数 units 必须是 1 至 1000 的整数，收到 {units!r}",
                             f"units must be an integer from 1 to 1000; got {units!r}")
    if not isinstance(years, (int, np.integer)) or years < 1:
        raise ParameterError(
            f"年数 years 必须是正整数，收到 {years!r}",
            f"years must be a positive integer; got {years!r}",
        )
    if persons is not None and (
        not isinstance(persons, (int, np.integer)) or persons < 100 * units
    ):
        raise ParameterError(
            f"人数 persons 至少为每个单位 100 人（{100 * units}），收到 {persons!r}",
            f"persons must be at least 100 per unit ({100 * units}); got {persons!r}")
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise ParameterError(f"随机种子 seed 必须是非负整数，收到 {seed!r}",
                             f"seed must be a non-negative integer; got {seed!r}")
    if end is None:
        today = np.datetime64(_dt.date.today(), "M")
        end_m = today - np.timedelta64(1, "M")
    else:
        end_m = _month(end)
        if end_m is None:
            raise ParameterError(
                f"结束月份 end 应为 YYYY-MM 格式，收到 {end!r}",
                f"end must be a month as YYYY-MM; got {end!r}",
                hint="例如 / e.g. 2024-12",
            )
    return end_m


def _context(end_m, years):
    start_m = end_m - np.timedelta64(12 * years - 1, "M")
    sim_m = start_m - np.timedelta64(_SIM_LEAD_MONTHS, "M")
    end_day = (end_m + np.timedelta64(1, "M")).astype("datetime64[D]") - np.timedelta64(1, "D")
    start_day = start_m.astype("datetime64[D]")
    days = np.arange(sim_m.astype("datetime64[D]"), end_day + np.timedelta64(1, "D"))
    w = K.day_weights(days)
    return dict(
        end_m=end_m, start_m=start_m, sim_m=sim_m, start=start_day, end_day=end_day, days=days,
        day_w=w, day_cum=np.cumsum(w / w.sum()),
        export_at=end_day.astype("datetime64[s]") + np.timedelta64(86400 + 8 * 3600, "s"),
        data_days=(end_day - start_day).astype(int) + 1,
    )


def _rng(seed, *key):
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=tuple(key)))


class _Plan:
    """Everything decided before the units are simulated: calendar, units, pattern placement
    (drawn by :func:`casework.synth._plan.place` whether or not anything is planted)."""

    def __init__(self, *, units, years, end, persons, seed, null):
        self.end_m = _check(units, years, end, persons, seed)
        self.units, self.years, self.seed, self.null = units, years, seed, null
        self.ctx = _context(self.end_m, years)
        sizes = np.array([_rng(seed, i, 99).lognormal(0, 0.3) for i in range(units)])
        total = persons if persons is not None else ROWS_PER_UNIT_YEAR * units * years
        self.rows = total * sizes / sizes.sum()
        self.specs = K.build_units(units, _rng(seed, 10**6, 1), sizes)
        self.p = L.place(_rng(seed, 10**6, 2), units=units, end_m=self.end_m, months=12 * years)
        self.patterns = {}


_fmt_m = L.fmt_month


# ---------------------------------------------------------------------------------------------
# One unit
# ---------------------------------------------------------------------------------------------


def _simulate_unit(plan, i, batch=0, n_batches=1):
    """Simulate unit ``i`` (or one of its ``n_batches`` equal batches, for very large units)."""
    ctx, spec, seed, planted = plan.ctx, plan.specs[i], plan.seed, not plan.null
    key = (i,) if batch == 0 else (i, 10**6 + batch)
    sim_days = len(ctx["days"])
    n_cases = max(
        20, int(round(plan.rows[i] / n_batches / _ROWS_PER_CASE * sim_days / ctx["data_days"]))
    )
    base = K.simulate(spec, n_cases, _rng(seed, *key, 0), ctx)
    if batch == 0:
        # staffing from the base volume (identical in null and planted data)
        per_year = sim_days / 365.25
        dept_rows = [
            np.sum(base["dept"] == dd) * 1.35 * n_batches / per_year
            for dd in range(len(T.DEPARTMENTS))
        ]
        K.staff_prosecutors(spec, _rng(seed, i, 1), dept_rows)
        if len(spec.prosecutors[0]) < 3:
            extra = K._person_names(_rng(seed, i, 7), 3)
            spec.prosecutors[0] += [(f"{spec.unit_code}1{j + 1:02d}", extra[j])
                                    for j in range(len(spec.prosecutors[0]), 3)]
        # the largest police station: big enough to see a jump in two months of arrests
        main_appr = (
            np.sum(base["approved"] & (base["agency_kind"] == 0)) * n_batches / (sim_days / 30.44)
        )
        spec.station_share = float(np.clip(14.0 / max(main_appr, 1e-9), 0.15, 0.6))
        spec.station_w = _rng(seed, i, 2).uniform(0.5, 1.5, len(spec.stations) - 1)
    share, station_w = spec.station_share, spec.station_w
    parts = [base]
    pr = plan.p
    # planted rising charge: extra cases growing from its start month
    if planted:
        c = K.CHARGE_IDX[pr["rising"]["charge"]]
        days = ctx["days"]
        dens = n_cases * K._CASE_W[c] * ctx["day_w"] / ctx["day_w"].sum()
        t = (days - pr["rising"]["start"].astype("datetime64[D]")).astype(float) / 30.44
        ex = np.where(t >= 0, dens * ((1 + pr["rising"]["growth"]) ** np.maximum(t, 0) - 1), 0.0)
        r3 = _rng(seed, *key, 3)
        phrases = np.array(T.RISING[pr["rising"]["charge"]]["phrases"], dtype=object)
        # the new modus operandi also spreads to the charge's ordinary cases from the start
        u_case = r3.random(n_cases)[base["case"]]
        adopt = ((base["charge_idx"] == c) & (base["anchor"] >= pr["rising"]["start"])
                 & (u_case < L.MO_SPREAD))
        base["mo_override"] = np.where(
            adopt, phrases[(u_case / L.MO_SPREAD * len(phrases)).astype(int) % len(phrases)],
            None)
        n_extra = int(r3.poisson(ex.sum()))
        if n_extra:
            anchors = days[K.pick(np.cumsum(ex / ex.sum()), r3.random(n_extra))]
            mo = phrases[r3.integers(0, len(phrases), n_extra)]
            parts.append(K.simulate(spec, n_extra, r3, ctx, charge_idx=np.full(n_extra, c),
                                    anchors=anchors, mo_override=mo))
    d = K.concat(parts)
    org = A.Org(spec, d, share, station_w)
    P = len(d["case"])
    # pattern thresholds
    p_change = np.full(P, L.BAIL_CHANGE)
    bail_forced = np.zeros(P, dtype=bool)
    mult = np.ones(P)
    bp = pr["bail"]
    if planted and i == bp["unit"]:
        # the bureau's largest station (its name is drawn per seed with the unit's stations)
        big_station = spec.stations[0]
        m = ((org.agency_i == 0) & (org.station_i == org.station_index(big_station))
             & (d["arrested_on"] >= bp["start"].astype("datetime64[D]")))
        p_change = np.where(m, L.bail_probability(bp["rate_after"]), p_change)
        bail_forced = m
        plan.patterns["post_arrest_bail_jump"] = L.record(
            "post_arrest_bail_jump", L.station(spec, big_station),
            what_zh=(f"{spec.main_agency}{big_station}自{_fmt_m(bp['start'])}起"
                     "捕后取保候审比例明显上升"),
            where={}, start=bp["start"], stop=None,
            effect=dict(rate_before=round(L.BAIL_CHANGE * L.BAIL_SHARE, 3),
                        rate_after=bp["rate_after"]),
        )
    sp = pr["slow"]
    if planted and i == sp["unit"]:
        dept_name = T.DEPARTMENTS[sp["dept"]]
        plist = spec.prosecutors[sp["dept"]]
        slow_id, slow_name = plist[min(int(sp["pick"] * len(plist)), len(plist) - 1)]
        mine = ((org.pros_i == org.prosecutor_index(slow_id))
                & (d["pr_acc"] >= sp["start"].astype("datetime64[D]")))
        mult = np.where(mine, sp["ratio"], 1.0)
        plan.patterns["slow_prosecutor"] = L.record(
            "slow_prosecutor", L.prosecutor(spec, dept_name, slow_id, slow_name),
            what_zh=(f"{spec.unit_name}{dept_name}检察官{slow_name}自{_fmt_m(sp['start'])}起"
                     "审查起诉办案天数明显长于同部门同类案件"),
            where=dict(prosecutor_name=slow_name, stage="prosecution_review"),
            start=sp["start"], stop=None, effect=dict(handling_days_ratio=sp["ratio"]),
        )
    ap = pr["adoption"]
    adopt_unit = planted and i == ap["unit"]
    adopt_from = ap["start"].astype("datetime64[D]")

    def p_adopt_fn(dd):
        base_p = np.where(dd["rec_fixed"], 0.955, 0.93)
        if adopt_unit:
            return np.where(dd["judgment_on"] >= adopt_from, ap["after"], base_p)
        return base_p

    A.realize(d, p_change=p_change, bail_forced=bail_forced, mult=mult, p_adopt_fn=p_adopt_fn)
    if adopt_unit:
        plan.patterns["adoption_drop"] = L.record(
            "adoption_drop", L.unit(spec),
            what_zh=f"{spec.unit_name}自{_fmt_m(ap['start'])}起量刑建议采纳率明显下降",
            where={}, start=ap["start"], stop=None,
            effect=dict(rate_before=ap["before"], rate_after=ap["after"]),
        )
    df = A.to_frame(A.build_rows(spec, d, org, ctx, batch=batch, n_batches=n_batches))
    # entry errors: background everywhere, a planted run in one department
    is_ar = np.asarray(df["_stage"] == "ar")
    ii = df["_i"].to_numpy()
    u_err = np.where(is_ar, d["u_err_ar"][ii], d["u_err_pr"][ii])
    u_kind = np.where(is_ar, d["u_kind_ar"][ii], d["u_kind_pr"][ii])
    run = np.zeros(len(df), dtype=bool)
    er = pr["errors"]
    if planted and i == er["unit"]:
        am = df["accepted_on"].to_numpy().astype("datetime64[M]")
        dept_name = T.DEPARTMENTS[er["dept"]]
        run = (df["department"] == dept_name).to_numpy() & (am >= er["start"]) & (am <= er["stop"])
        plan.patterns["entry_error_run"] = L.record(
            "entry_error_run", L.department(spec, dept_name),
            what_zh=(f"{spec.unit_name}{dept_name}{_fmt_m(er['start'])}至{_fmt_m(er['stop'])}"
                     "案卡差错集中出现"),
            where={}, start=er["start"], stop=er["stop"],
            effect=dict(error_rate=er["rate"], errors=list(Q.RUN_KINDS)),
        )
    kinds, planted_err = Q.choose_kinds(df, u_err, u_kind, run, er["rate"])
    df = Q.apply_errors(df, kinds, _rng(seed, *key, 4), ctx["export_at"])
    has = kinds != None  # noqa: E711
    errors = pd.DataFrame({
        "stage": df["stage"].to_numpy()[has], "dept_case_no": df["dept_case_no"].to_numpy()[has],
        "person_id": df["person_id"].to_numpy()[has], "kind": kinds[has].astype(str),
        "planted": planted_err[has],
    })
    # modification log
    u_edit = np.where(is_ar, d["u_edit_ar"][ii], d["u_edit_pr"][ii])
    mods = [Q.background_mods(df, u_edit, _rng(seed, *key, 5), spec, ctx["export_at"])]
    ep = pr["editor"]
    if planted and i == ep["unit"]:
        account = spec.staff[ep["staff"]]
        em, n_edits = Q.editor_mods(df, _rng(seed, *key, 6), account,
                                    ep["start"].astype("datetime64[D]"), ctx["export_at"],
                                    fraction=ep["share"])
        n_edits += plan.patterns.get("closed_case_editor", {}).get("effect", {}).get("edits", 0)
        mods.append(em)
        plan.patterns["closed_case_editor"] = L.record(
            "closed_case_editor", L.account(spec, account),
            what_zh=(f"{spec.unit_name}账号{account}自{_fmt_m(ep['start'])}起"
                     "大量修改已审结案件的关键案卡项"),
            where={}, start=ep["start"], stop=None,
            effect=dict(edits=int(n_edits), share=ep["share"], fields=list(T.KEY_FIELDS)),
        )
    mods = [m for m in mods if m is not None and len(m)]
    mods = pd.concat(mods, ignore_index=True) if mods else schema.empty_frame("modifications")
    mods = mods.sort_values("modified_at", kind="stable").reset_index(drop=True)
    df = df.drop(columns=["_i", "_stage"])
    return df, mods, errors


def _finish_truth(plan):
    if not plan.null:
        rc = plan.p["rising"]
        plan.patterns["rising_charge"] = L.record(
            "rising_charge", L.charge(rc["charge"]),
            what_zh=f"{rc['charge']}案件自{_fmt_m(rc['start'])}起持续上升，出现新的作案手段",
            where={}, start=rc["start"], stop=None,
            effect=dict(monthly_growth=rc["growth"],
                        keywords=list(T.RISING[rc["charge"]]["keywords"])),
        )
    return {
        "seed": int(plan.seed), "null": bool(plan.null),
        "start": _fmt_m(plan.ctx["start_m"]), "end": _fmt_m(plan.ctx["end_m"]),
        "units": [{"unit_code": s.unit_code, "unit_name": s.unit_name} for s in plan.specs],
        "patterns": [plan.patterns[k] for k in L.ORDER if k in plan.patterns],
    }


def iter_units(*, units=6, years=3, end=None, persons=None, seed=20240501, null=False):
    """Generate unit by unit (bounded memory); yields ``(records, modifications, errors)`` per
    unit — or per batch of at most :data:`MAX_ROWS_PER_BATCH` rows of a very large unit — then
    returns the truth manifest as the generator's return value.

    ``make`` and ``generate`` are built on this; use it directly to stream very large data.
    """
    plan = _Plan(units=units, years=years, end=end, persons=persons, seed=seed, null=null)
    for i in range(units):
        n_batches = int(np.ceil(plan.rows[i] / MAX_ROWS_PER_BATCH))
        for b in range(n_batches):
            yield _simulate_unit(plan, i, b, n_batches)
    return _finish_truth(plan)


def make(*, units=6, years=3, end=None, persons=None, seed=20240501, null=False) -> SynthData:
    """Generate synthetic case-card data in memory.

    Parameters
    ----------
    units : int
        Number of fictional procuratorates (单位).
    years : int
        Length of the data window in years; the window ends with ``end``.
    end : str, optional
        Last month of data, ``"YYYY-MM"``; default the last full month before today.
    persons : int, optional
        Approximate number of records rows (person × stage); default about 3,333 per unit and year.
    seed : int
        Random seed: the same arguments give the same data.
    null : bool
        Plant nothing (``truth["patterns"] == []``); all else is as in the planted data.

    Returns
    -------
    SynthData
        ``.records`` (schema ``records``), ``.modifications`` (schema ``modifications``),
        ``.truth`` (manifest, see the module docstring) and ``.errors`` (injected card errors).

    Notes
    -----
    Everything is held in memory; for tens of millions of rows use :func:`generate` (or
    :func:`iter_units`), which works one unit (or one batch of a very large unit) at a time.

    Examples
    --------
    >>> data = make(units=1, years=1, end="2024-06", persons=2000, seed=2)
    >>> data.records["stage"].value_counts().index.tolist()
    ['prosecution_review', 'arrest_review']
    >>> data.truth["units"][0]["unit_name"]
    '江州市青山区人民检察院'
    """
    gen = iter_units(units=units, years=years, end=end, persons=persons, seed=seed, null=null)
    recs, mods, errs = [], [], []
    while True:
        try:
            r, m, e = next(gen)
        except StopIteration as stop:
            truth = stop.value
            break
        recs.append(r)
        mods.append(m)
        errs.append(e)
    records = schema.conform(pd.concat(recs, ignore_index=True), "records")
    modifications = schema.conform(pd.concat(mods, ignore_index=True), "modifications")
    errors = pd.concat(errs, ignore_index=True)
    supervision, pats = S.make(records, truth["units"], start=truth["start"], end=truth["end"],
                               seed=seed, null=null)
    truth["patterns"] += pats
    return SynthData(records=records, modifications=modifications, truth=truth, errors=errors,
                     supervision=supervision)


def generate(out_dir, *, units=6, years=3, end=None, persons=None, seed=20240501, null=False,
             exports=True) -> dict:
    """Generate the data and write it to ``out_dir``; returns a summary dict.

    Writes ``records.parquet``, ``modifications.parquet``, ``errors.parquet`` and ``truth.json``
    (canonical data), and with ``exports`` the files an analyst would receive from the unified
    system in ``out_dir/exports/``: ``审查逮捕案件.csv``, ``审查起诉案件.csv``,
    ``案卡修改日志.csv`` (GB18030, Chinese headers) and the same as ``.xlsx``. Units are
    generated and written one at a time, so memory stays bounded for large ``persons``.

    Returns
    -------
    dict
        ``out_dir, records, modifications, errors, units, start, end, months, null, patterns,
        files`` (paths written), ``rows_by_stage`` and ``seed``.

    Notes
    -----
    The ``.xlsx`` copies are written only when the expected number of rows is at most
    200,000 (Excel is impractical beyond); larger runs get the CSV files only.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     s = generate(tmp, units=1, years=1, end="2024-06", persons=1500, seed=2, exports=False)
    >>> s["records"] > 1000, s["months"], s["patterns"][0]
    (True, 12, 'post_arrest_bail_jump')
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    exp_dir = out / "exports"
    gen = iter_units(units=units, years=years, end=end, persons=persons, seed=seed, null=null)
    writers = {}
    counts = {"records": 0, "modifications": 0, "errors": 0}
    by_stage = {}
    expected = persons if persons is not None else ROWS_PER_UNIT_YEAR * units * years
    exporter = (
        X.Exporter(exp_dir, seed=seed, xlsx=expected <= X.XLSX_MAX_ROWS) if exports else None
    )
    first = True
    caseload = []  # the columns supervision matters are linked to (synth._supervision)
    try:
        while True:
            try:
                r, m, e = next(gen)
            except StopIteration as stop:
                truth = stop.value
                break
            r = schema.conform(r, "records")
            m = schema.conform(m, "modifications")
            for name, frame in (("records", r), ("modifications", m), ("errors", e)):
                table = pa.Table.from_pandas(frame, preserve_index=False)
                if name not in writers:
                    writers[name] = pq.ParquetWriter(out / f"{name}.parquet", table.schema)
                writers[name].write_table(table.cast(writers[name].schema))
                counts[name] += len(frame)
            caseload.append(r.loc[r["stage"] == "prosecution_review", S.CASELOAD_COLUMNS])
            for st, n in r["stage"].value_counts().items():
                by_stage[st] = by_stage.get(st, 0) + int(n)
            if exporter is not None:
                exporter.add(r, m, first=first)
            first = False
    finally:
        for w in writers.values():
            w.close()
    files = [str(out / f"{n}.parquet") for n in ("records", "modifications", "errors")]
    if exporter is not None:
        files += exporter.finish()
    sup, pats = S.make(pd.concat(caseload, ignore_index=True), truth["units"],
                       start=truth["start"], end=truth["end"], seed=seed, null=null)
    truth["patterns"] += pats
    sup.to_parquet(out / "supervision.parquet", index=False)
    files.append(str(out / "supervision.parquet"))
    if exports:
        files += S.export(sup, exp_dir)
    (out / "truth.json").write_text(
        json.dumps(truth, ensure_ascii=False, indent=2), encoding="utf-8"
    )
    files.append(str(out / "truth.json"))
    months = (
        int((np.datetime64(truth["end"], "M") - np.datetime64(truth["start"], "M")).astype(int))
        + 1
    )
    return {
        "out_dir": str(out),
        "records": counts["records"],
        "modifications": counts["modifications"],
        "supervision": len(sup),
        "errors": counts["errors"],
        "units": truth["units"],
        "start": truth["start"],
        "end": truth["end"],
        "months": months,
        "null": truth["null"],
        "patterns": [p["id"] for p in truth["patterns"]],
        "rows_by_stage": by_stage,
        "files": files,
        "seed": truth["seed"],
    }


def describe(summary: dict) -> str:
    """Chinese lines describing a :func:`generate` summary.

    Examples
    --------
    >>> s = {"out_dir": "/tmp/demo", "records": 1200, "modifications": 80, "errors": 9,
    ...      "units": [{"unit_code": "930102", "unit_name": "江州市青山区人民检察院"}],
    ...      "start": "2024-01", "end": "2024-12", "months": 12, "null": False,
    ...      "patterns": ["rising_charge"], "rows_by_stage": {"arrest_review": 400,
    ...      "prosecution_review": 800}, "files": ["/tmp/demo/records.parquet"], "seed": 1}
    >>> print(describe(s).splitlines()[0])
    已生成合成演示数据：1,200 行案卡记录（审查逮捕 400 行，审查起诉 800 行），80 条修改记录
    """
    stages = "，".join(
        f"{schema.label('stage', k)} {v:,} 行" for k, v in summary["rows_by_stage"].items()
    )
    units = "、".join(u["unit_name"] for u in summary["units"][:6])
    more = (
        f"等 {len(summary['units'])} 个单位"
        if len(summary["units"]) > 6
        else f"共 {len(summary['units'])} 个单位"
    )
    lines = [
        f"已生成合成演示数据：{summary['records']:,} 行案卡记录（{stages}），"
        f"{summary['modifications']:,} 条修改记录"
        + (f"，{summary['supervision']:,} 件监督事项" if summary.get("supervision") else ""),
        f"单位：{units}（{more}）",
        f"期间：{summary['start']} 至 {summary['end']}，共 {summary['months']} 个月；"
        f"随机种子 {summary['seed']}",
        (
            "植入模式：无（对照数据）"
            if not summary["patterns"]
            else f"植入模式 {len(summary['patterns'])} 个："
            f"{'、'.join(summary['patterns'])}（见 truth.json）"
        ),
        f"文件位置：{summary['out_dir']}",
    ]
    exp = [f for f in summary["files"] if "/exports/" in f.replace("\\", "/")]
    if exp:
        kinds = "GB18030 CSV 与 xlsx" if any(f.endswith(".xlsx") for f in exp) else \
            "GB18030 CSV；行数较多，未生成 xlsx"
        lines.append(f"导出文件（{kinds}）：{Path(exp[0]).parent}")
    return "\n".join(lines)
