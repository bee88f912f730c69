"""Benchmark: every registry indicator for all units × 36 months against hand-written SQL.

The data (``casework.synth.generate``, 1 M person rows by default, plus the journeys built from
them) are cached as Parquet, then loaded once, untimed, into pandas frames with the canonical
dtypes :func:`casework.store.read` hands back (``schema.conform``) — since issue 19 the panel
takes frames only, case data coming through the audited store. Over the same in-memory frames
it times

* the baseline: a hand-written DuckDB query per cohort (``SUM``/``COUNT … FILTER``,
  ``quantile_cont``, the case-level sub-aggregation for 件 indicators, the month joins for the
  在办 / 上期积存 / 审结率 cohorts), with the frames registered in a DuckDB connection — what an
  analyst fluent in SQL would write for the same table, returning the raw aggregates only; and
* ``casework.analysis.panel.monthly(records, indicators="all", by="unit_code", …,
  journeys=journeys)`` — the same aggregates generated from the registry, plus values,
  intervals and the tidy frame,

checks that both give the same numbers, and prints both times (best of ``--repeat``
interleaved runs) and their ratio (goal ≤ 1.5×, issue #3). ``--ten-million`` then generates
10 M rows and, in a fresh process, loads the frames (only the columns the panel names) and
measures the memory they hold and the peak while the panel runs over them (goal < 8 GB).

Usage::

    .venv/bin/python benchmarks/bench_indicators.py [--persons 1000000] [--units 10]
        [--repeat 3] [--data DIR] [--ten-million] [--data10 DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

START, END = "2022-01", "2024-12"


# ---------------------------------------------------------------------------------------------
# data
# ---------------------------------------------------------------------------------------------


def prepare(data_dir: Path, *, persons: int, units: int) -> dict:
    """Synthetic records (cached in ``data_dir``) and the journeys table built unit by unit."""
    from casework import synth
    from casework.model import journeys

    data_dir.mkdir(parents=True, exist_ok=True)
    rec = data_dir / "records.parquet"
    if not rec.exists():
        t = time.perf_counter()
        synth.generate(data_dir, units=units, years=3, end=END, persons=persons, seed=3,
                       exports=False)
        print(f"  generated {persons:,} person rows in {time.perf_counter() - t:.0f} s")
    jpath = data_dir / "journeys.parquet"
    if not jpath.exists():
        import pyarrow as pa
        import pyarrow.parquet as pq

        t = time.perf_counter()
        codes = duckdb.sql(
            f"SELECT DISTINCT unit_code FROM read_parquet('{rec}') ORDER BY 1").fetchall()
        writer = None
        for (code,) in codes:
            part = pd.read_parquet(rec, filters=[("unit_code", "=", code)],
                                   columns=["unit_code", "unified_case_no", "person_id", "stage",
                                            "dept_case_no", "accepted_on", "closed_on", "decision",
                                            "decision_subtype", "arrested_on",
                                            "measure_after_change", "measure_changed_on",
                                            "judgment_on", "principal_penalty", "charge",
                                            "charge_group", "referring_agency", "police_station"])
            table = pa.Table.from_pandas(journeys.build(part), preserve_index=False)
            if writer is None:
                writer = pq.ParquetWriter(jpath, table.schema)
            writer.write_table(table.cast(writer.schema))
        writer.close()
        print(f"  built journeys in {time.perf_counter() - t:.0f} s")
    n = duckdb.sql(f"SELECT count(*), count(DISTINCT unit_code) "
                   f"FROM read_parquet('{rec}')").fetchall()[0]
    return {"records": rec, "journeys": jpath, "rows": n[0], "units": n[1]}


def panel_columns(table: str) -> list[str]:
    """The canonical columns of ``table`` the panel's SQL names (all indicators, by unit)."""
    import re

    from casework.analysis import panel
    from casework.model import schema

    text = panel.sql(indicators="all", by="unit_code", start=START, end=END)
    return [c.name for c in schema.columns(table) if re.search(rf"\b{c.name}\b", text)]


def load_frames(data_dir: Path, *, only_used: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Records and journeys as in-memory frames with the store's canonical dtypes (untimed).

    Every column by default (what ``store.read(table)`` returns); ``only_used`` reads just the
    columns the panel names (what ``store.read(table, columns=…)`` returns).
    """
    from casework.model import schema

    out = []
    for table in ("records", "journeys"):
        df = pd.read_parquet(data_dir / f"{table}.parquet",
                             columns=panel_columns(table) if only_used else None)
        for col in schema.columns(table):  # canonical dtypes, as casework.store casts them
            if col.name in df.columns and col.dtype != "list":
                want = schema.pandas_dtype(col)
                if str(df[col.name].dtype) != want:
                    df[col.name] = df[col.name].astype(want)
        out.append(df)
    return out[0], out[1]


# ---------------------------------------------------------------------------------------------
# the hand-written baseline
# ---------------------------------------------------------------------------------------------


def hand_sql() -> dict[str, str]:
    """The baseline queries over the frames registered as ``records`` and ``journeys``."""
    R, J = "records", "journeys"
    lo, hi = "TIMESTAMP '2022-01-01'", "TIMESTAMP '2025-01-01'"
    months = ("(SELECT range AS m, range + INTERVAL 1 MONTH AS nx FROM "
              f"range({lo}, {hi}, INTERVAL 1 MONTH))")
    days = "date_diff('day', accepted_on, closed_on)"
    ar, pr = "stage = 'arrest_review'", "stage = 'prosecution_review'"
    judged = "judgment_on IS NOT NULL AND principal_penalty IS NOT NULL"
    return {
        "accepted": f"""
SELECT unit_code, date_trunc('month', accepted_on) AS m,
  count(*) FILTER (WHERE {ar}) AS accepted_arrest_review,
  count(*) FILTER (WHERE {pr}) AS accepted_prosecution_review
FROM {R} WHERE accepted_on >= {lo} AND accepted_on < {hi} GROUP BY ALL""",
        "closed": f"""
SELECT unit_code, date_trunc('month', closed_on) AS m,
  count(*) FILTER (WHERE {ar}) AS closed_arrest_review,
  count(*) FILTER (WHERE {pr}) AS closed_prosecution_review,
  count(*) FILTER (WHERE {ar} AND decision = 'arrest_approved') AS arrests_approved,
  count(*) FILTER (WHERE {ar} AND decision = 'non_arrest') AS non_arrests,
  count(*) FILTER (WHERE {pr} AND decision = 'prosecute') AS prosecuted,
  count(*) FILTER (WHERE {pr} AND decision = 'non_prosecution') AS non_prosecuted,
  count(*) FILTER (WHERE {ar} AND decision IN ('arrest_approved', 'non_arrest')) AS nar_den,
  count(*) FILTER (WHERE {ar} AND decision = 'non_arrest' AND decision_subtype = 'no_necessity')
    AS nar_nn,
  count(*) FILTER (WHERE {ar} AND decision = 'non_arrest'
                   AND decision_subtype = 'insufficient_evidence_arrest') AS nar_ie,
  count(*) FILTER (WHERE {ar} AND decision = 'non_arrest' AND decision_subtype = 'not_criminal')
    AS nar_nc,
  count(*) FILTER (WHERE {pr} AND decision IN ('prosecute', 'non_prosecution')) AS npr_den,
  count(*) FILTER (WHERE {pr} AND decision = 'non_prosecution' AND decision_subtype = 'statutory')
    AS npr_st,
  count(*) FILTER (WHERE {pr} AND decision = 'non_prosecution'
                   AND decision_subtype = 'discretionary') AS npr_di,
  count(*) FILTER (WHERE {pr} AND decision = 'non_prosecution'
                   AND decision_subtype = 'insufficient_evidence') AS npr_ie,
  count(*) FILTER (WHERE {pr} AND decision = 'non_prosecution'
                   AND decision_subtype = 'conditional') AS npr_co,
  count(*) FILTER (WHERE {pr} AND decision = 'prosecute' AND detained) AS detained_prosecuted,
  count(*) FILTER (WHERE {pr} AND plea_leniency) AS plea,
  count(*) FILTER (WHERE {pr} AND recommendation_type = 'fixed') AS rec_fixed,
  count(*) FILTER (WHERE {pr} AND recommendation_type IN ('fixed', 'range')) AS rec_any,
  count(*) FILTER (WHERE {pr} AND review_extension > 0) AS extended,
  count(*) FILTER (WHERE {pr} AND decision = 'prosecute' AND withdrawal) AS withdrawn,
  sum({days}) FILTER (WHERE {ar} AND closed_on >= accepted_on) AS ar_days,
  count({days}) FILTER (WHERE {ar} AND closed_on >= accepted_on) AS ar_n,
  sum(CAST({days} AS DOUBLE) * {days}) FILTER (WHERE {ar} AND closed_on >= accepted_on) AS ar_ss,
  quantile_cont({days}, 0.5) FILTER (WHERE {ar} AND closed_on >= accepted_on) AS ar_median,
  sum({days}) FILTER (WHERE {pr} AND closed_on >= accepted_on) AS pr_days,
  count({days}) FILTER (WHERE {pr} AND closed_on >= accepted_on) AS pr_n,
  sum(CAST({days} AS DOUBLE) * {days}) FILTER (WHERE {pr} AND closed_on >= accepted_on) AS pr_ss,
  quantile_cont({days}, 0.5) FILTER (WHERE {pr} AND closed_on >= accepted_on) AS pr_median
FROM {R} WHERE closed_on >= {lo} AND closed_on < {hi} GROUP BY ALL""",
        "judgment": f"""
SELECT unit_code, date_trunc('month', judgment_on) AS m,
  count(*) FILTER (WHERE {judged}) AS judged,
  count(*) FILTER (WHERE recommendation_type IN ('fixed', 'range') AND judgment_on IS NOT NULL
                   AND recommendation_adopted IS NOT NULL) AS adopt_den,
  count(*) FILTER (WHERE recommendation_type IN ('fixed', 'range') AND judgment_on IS NOT NULL
                   AND recommendation_adopted) AS adopted,
  count(*) FILTER (WHERE {judged} AND principal_penalty = 'acquitted') AS acquitted,
  count(*) FILTER (WHERE {judged} AND appeal) AS appealed,
  count(*) FILTER (WHERE {judged} AND NOT coalesce(appeal, FALSE) AND NOT coalesce(protest, FALSE))
    AS accepted_judgment
FROM {R} WHERE judgment_on >= {lo} AND judgment_on < {hi} GROUP BY ALL""",
        "states": f"""
SELECT t.unit_code, w.m,
  count(*) FILTER (WHERE t.{ar} AND t.accepted_on < w.nx
                   AND coalesce(t.closed_on, TIMESTAMP '9999-12-31') >= w.nx)
    AS pending_arrest_review,
  count(*) FILTER (WHERE t.{pr} AND t.accepted_on < w.nx
                   AND coalesce(t.closed_on, TIMESTAMP '9999-12-31') >= w.nx)
    AS pending_prosecution_review,
  count(*) FILTER (WHERE t.{ar} AND t.accepted_on < w.m
                   AND coalesce(t.closed_on, TIMESTAMP '9999-12-31') >= w.m)
    AS carried_arrest_review,
  count(*) FILTER (WHERE t.{pr} AND t.accepted_on < w.m
                   AND coalesce(t.closed_on, TIMESTAMP '9999-12-31') >= w.m)
    AS carried_prosecution_review,
  count(*) FILTER (WHERE t.{ar}) AS active_arrest_review,
  count(*) FILTER (WHERE t.{pr}) AS active_prosecution_review
FROM {R} AS t JOIN {months} AS w
  ON t.accepted_on < w.nx AND coalesce(t.closed_on, TIMESTAMP '9999-12-31') >= w.m
GROUP BY ALL""",
        "journeys_arrested": f"""
SELECT unit_code, date_trunc('month', arrested_on) AS m,
  count(*) FILTER (WHERE arrest_decision = 'arrest_approved') AS arrested,
  count(*) FILTER (WHERE arrest_decision = 'arrest_approved' AND post_arrest_bail) AS bailed,
  count(*) FILTER (WHERE arrest_decision = 'arrest_approved' AND measure_changed_on IS NOT NULL)
    AS changed
FROM {J} WHERE arrested_on >= {lo} AND arrested_on < {hi} GROUP BY ALL""",
        "journeys_closed": f"""
SELECT unit_code, date_trunc('month', prosecution_closed_on) AS m,
  count(*) FILTER (WHERE arrested_on IS NOT NULL) AS post_arrest_closed,
  count(*) FILTER (WHERE arrested_on IS NOT NULL AND prosecution_decision = 'non_prosecution')
    AS post_arrest_np
FROM {J} WHERE prosecution_closed_on >= {lo} AND prosecution_closed_on < {hi} GROUP BY ALL""",
        "journeys_judged": f"""
SELECT unit_code, date_trunc('month', judgment_on) AS m,
  count(*) FILTER (WHERE arrested_on IS NOT NULL AND principal_penalty IS NOT NULL)
    AS post_arrest_judged,
  count(*) FILTER (WHERE arrested_on IS NOT NULL AND principal_penalty = 'exempted')
    AS post_arrest_exempted
FROM {J} WHERE judgment_on >= {lo} AND judgment_on < {hi} GROUP BY ALL""",
        "cases_accepted": f"""
SELECT unit_code, m, sum(is_case) AS case_count FROM (
  SELECT unit_code, date_trunc('month', accepted_on) AS m, stage, dept_case_no,
    max(CASE WHEN {ar} OR ({pr} AND arrested_on IS NULL
                           AND coalesce(coercive_measure, '') <> 'arrest')
        THEN 1 ELSE 0 END) AS is_case
  FROM {R} WHERE accepted_on >= {lo} AND accepted_on < {hi} GROUP BY ALL) GROUP BY ALL""",
        "cases_closed": f"""
SELECT unit_code, m, sum(si) AS si_events, sum(is_pr) AS pr_cases, sum(ext) AS ext_events
FROM (
  SELECT unit_code, date_trunc('month', closed_on) AS m, stage, dept_case_no,
    max(supplementary_investigation) FILTER (WHERE {pr}) AS si,
    max(review_extension) FILTER (WHERE {pr}) AS ext,
    max(CASE WHEN {pr} THEN 1 ELSE 0 END) AS is_pr
  FROM {R} WHERE closed_on >= {lo} AND closed_on < {hi} GROUP BY ALL) GROUP BY ALL""",
        "cases_judged": f"""
SELECT unit_code, m, sum(a) AS appeal_cases FROM (
  SELECT unit_code, date_trunc('month', judgment_on) AS m, stage, dept_case_no,
    max(CASE WHEN judgment_on IS NOT NULL AND appeal THEN 1 ELSE 0 END) AS a
  FROM {R} WHERE judgment_on >= {lo} AND judgment_on < {hi} GROUP BY ALL) GROUP BY ALL""",
    }


def run_hand(queries: dict[str, str], rec: pd.DataFrame,
             jr: pd.DataFrame) -> dict[str, pd.DataFrame]:
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.register("records", rec)  # DuckDB scans the frames in place, as the panel does
    con.register("journeys", jr)
    out = {k: con.execute(q).df() for k, q in queries.items()}
    con.close()
    return out


def run_ours(rec: pd.DataFrame, jr: pd.DataFrame) -> pd.DataFrame:
    from casework.analysis import panel

    return panel.monthly(rec, indicators="all", by="unit_code", start=START, end=END, journeys=jr)


def check(ours: pd.DataFrame, hand: dict[str, pd.DataFrame]) -> int:
    """Compare a spread of indicators; returns the number of mismatching cells."""
    o = ours.assign(m=pd.to_datetime(ours["month_start"]))
    pairs = [  # (indicator, column, hand query, hand column)
        ("non_arrest_rate", "numerator", "closed", "non_arrests"),
        ("non_arrest_rate", "denominator", "closed", "nar_den"),
        ("non_prosecution_rate_discretionary", "numerator", "closed", "npr_di"),
        ("prosecution_review_days_mean", "numerator", "closed", "pr_days"),
        ("prosecution_review_days_median", "value", "closed", "pr_median"),
        ("pending_prosecution_review", "value", "states", "pending_prosecution_review"),
        ("closure_rate_prosecution_review", "denominator", "states", "active_prosecution_review"),
        ("post_arrest_bail_rate", "numerator", "journeys_arrested", "bailed"),
        ("post_arrest_non_prosecution_rate", "denominator", "journeys_closed",
         "post_arrest_closed"),
        ("recommendation_adoption_rate", "numerator", "judgment", "adopted"),
        ("case_count", "value", "cases_accepted", "case_count"),
        ("supplementary_investigation_rate", "numerator", "cases_closed", "si_events"),
        ("appeal_count", "value", "cases_judged", "appeal_cases"),
    ]
    bad = 0
    for code, col, q, hcol in pairs:
        a = o[o["indicator"] == code][["unit_code", "m", col]]
        h = hand[q][["unit_code", "m", hcol]].copy()
        h["m"] = pd.to_datetime(h["m"])
        h["unit_code"] = h["unit_code"].astype(str)
        a = a.assign(unit_code=a["unit_code"].astype(str))
        j = a.merge(h, on=["unit_code", "m"], how="left")
        x = pd.to_numeric(j[col], errors="coerce").fillna(0).to_numpy(dtype=float)
        y = pd.to_numeric(j[hcol], errors="coerce").fillna(0).to_numpy(dtype=float)
        bad += int((~np.isclose(x, y)).sum())
    return bad


def best(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def _vm_mb(field: str = "VmHWM") -> float | None:
    """``VmHWM`` (peak RSS) or ``VmRSS`` (current) of this process from /proc (Linux), in MB."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _reset_hwm() -> bool:
    """Reset this process's ``VmHWM`` to its current RSS (Linux ≥ 4.0); False if refused."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_memory_child(data_dir: Path) -> dict:
    """Load the 10 M-row frames and run the panel over them in a fresh process; report memory.

    The child loads only the columns the panel names (as ``store.read(columns=…)`` would:
    every column of 10 M rows would hold some 20 GB before the panel starts). It reports the
    RSS the loaded frames hold, then resets ``VmHWM`` so that its value after the panel is the
    peak while the panel runs (frames included), plus ``ru_maxrss`` (the whole child, loading
    included). ``ru_maxrss`` survives fork+exec on Linux (the parent's high-water mark at fork
    time is a floor), so this is called while the benchmark process is still small.
    """
    # %-formatting: the child's code is full of dict braces an f-string would have to double
    code = (  # noqa: UP031
        "import gc, json, resource, sys, time; sys.path.insert(0, %r)\n"
        "sys.path.insert(0, %r)\n"
        "from pathlib import Path\n"
        "from bench_indicators import _reset_hwm, _vm_mb, load_frames\n"
        "from casework.analysis import panel\n"
        "rec, jr = load_frames(Path(%r), only_used=True)\n"
        "gc.collect()\n"
        "frames_mb, reset = _vm_mb('VmRSS'), _reset_hwm()\n"
        "t = time.perf_counter()\n"
        "m = panel.monthly(rec, indicators='all', by='unit_code', start=%r, end=%r, journeys=jr)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'rows_out': len(m),\n"
        "  'rows_in': len(rec), 'frames_mb': frames_mb,\n"
        "  'maxrss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,\n"
        "  'panel_hwm_mb': _vm_mb() if reset else None}))\n"
    ) % (str(ROOT), str(Path(__file__).resolve().parent), str(data_dir), START, END)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(res.stdout[res.stdout.rindex('{"seconds"'):].strip().splitlines()[0])


def prepare_child(data_dir: Path, *, persons: int, units: int) -> None:
    """Generate data in a separate process so this one stays small."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--prepare-only",
                    "--persons", str(persons), "--units", str(units), "--data", str(data_dir)],
                   check=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--data", type=Path, default=None, help="cache folder for the generated data")
    ap.add_argument("--ten-million", action="store_true",
                    help="also measure peak memory on 10 M rows")
    ap.add_argument("--data10", type=Path, default=None, help="cache folder for the 10 M rows")
    ap.add_argument("--prepare-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)

    if args.prepare_only:
        prepare(args.data, persons=args.persons, units=args.units)
        return 0
    tmp = tempfile.TemporaryDirectory(prefix="bench_indicators_")
    ok = True
    if args.ten_million:  # first, while this process is small (see peak_memory_child)
        d10 = args.data10 or Path(tmp.name) / "data10m"
        print("== 10 M rows: peak memory of the panel in a fresh process")
        prepare_child(d10, persons=10_000_000, units=max(args.units, 30))
        res = peak_memory_child(d10)
        hwm, held = res.get("panel_hwm_mb"), res.get("frames_mb")
        print(f"  panel.monthly(all indicators, all units x 36 months) on "
              f"{res['rows_in']:,} rows in memory: {res['seconds']:.1f} s"
              + (f"; frames hold {held / 1024:.2f} GB" if held else "")
              + (f", peak while the panel runs {hwm / 1024:.2f} GB" if hwm else "")
              + f"; child peak RSS incl. loading (getrusage) {res['maxrss_mb'] / 1024:.2f} GB"
              + " (goal < 8 GB)")
        ok = (hwm if hwm else res["maxrss_mb"]) < 8 * 1024
    data_dir = args.data or Path(tmp.name) / "data1m"
    print(f"== indicator panel benchmark: {args.persons:,} person rows, {args.units} units, "
          f"{START}..{END}")
    info = prepare(data_dir, persons=args.persons, units=args.units)
    from casework.analysis import indicators

    n_ind = len(indicators.registry())
    print(f"  data: {info['rows']:,} rows, {info['units']} units; {n_ind} registry indicators")

    t = time.perf_counter()
    rec, jr = load_frames(data_dir)  # untimed: both contenders get the same frames
    print(f"  loaded records ({len(rec):,} x {rec.shape[1]}) and journeys ({len(jr):,} rows) "
          f"into memory in {time.perf_counter() - t:.1f} s (untimed)")

    queries = hand_sql()
    run_hand(queries, rec, jr)  # warm-up (imports, allocator) for both contenders
    run_ours(rec, jr)
    # interleaved repeats, best of each: a busy machine slows both alike
    t_hand = t_ours = float("inf")
    for _ in range(args.repeat):
        t, hand = best(lambda: run_hand(queries, rec, jr), 1)
        t_hand = min(t_hand, t)
        t, ours = best(lambda: run_ours(rec, jr), 1)
        t_ours = min(t_ours, t)
    mismatches = check(ours, hand)
    try:
        load = f" (load average {os.getloadavg()[0]:.1f} on {os.cpu_count() or 0:d} cores)"
    except OSError:
        load = ""
    print(f"  best of {args.repeat} interleaved runs{load}")
    print(f"  hand-written DuckDB SQL ({len(queries)} queries, frames registered): "
          f"{t_hand:.2f} s")
    print(f"  casework.analysis.panel.monthly (all indicators, tidy frame of {len(ours):,} rows): "
          f"{t_ours:.2f} s")
    print(f"  ratio ours / SQL = {t_ours / t_hand:.2f}x  (goal <= 1.5x)")
    print(f"  agreement check: {'ok' if mismatches == 0 else f'{mismatches} cells differ'}")
    ok = ok and mismatches == 0
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024
    print(f"  (this process peak RSS {rss_gb:.2f} GB)")
    tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
