"""Snapshot store at scale: write / read / filtered read / journeys / audit, against bare pandas.

Usage: ``python benchmarks/bench_store.py [ROWS]`` (default 1,000,000 person rows).

Baselines, measured in the same run on the same frame: ``DataFrame.to_parquet`` of one file
(what a store without manifest, hashes, partitions, journeys or fsync would cost) and
``pandas.read_parquet`` of that file. Prints each step's time and its ratio to the baseline.
Runs in a temporary CASEWORK_HOME; nothing of the project's data/ is touched.
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def make_records(n: int, seed: int = 1) -> pd.DataFrame:
    """``n`` person rows shaped like the export: ~60% arrest review, linked prosecution rows."""
    rng = np.random.default_rng(seed)
    units = np.array([f"37{i:04d}" for i in range(40)])
    charges = np.array(["危险驾驶", "盗窃", "帮助信息网络犯罪活动", "诈骗", "开设赌场", "故意伤害",
                        "掩饰、隐瞒犯罪所得", "寻衅滋事", "走私、贩卖、运输、制造毒品",
                        "交通肇事"])
    persons = n // 2
    unit = rng.choice(units, persons)
    pid = np.char.add("P", np.arange(persons).astype(str))
    tysah = np.char.add("T", (np.arange(persons) // 2).astype(str))
    acc = pd.Timestamp("2022-01-01") + pd.to_timedelta(rng.integers(0, 3 * 365, persons), "D")
    charge = rng.choice(charges, persons)
    arrest = pd.DataFrame({
        "unit_code": unit, "unified_case_no": tysah, "person_id": pid, "stage": "arrest_review",
        "dept_case_no": np.char.add("捕", np.arange(persons).astype(str)),
        "charge": charge, "accepted_on": acc, "closed_on": acc + pd.Timedelta(days=6),
        "decision": rng.choice(["arrest_approved", "non_arrest"], persons, p=[.8, .2]),
        "measure_after_change": rng.choice(np.array(["bail", None], dtype=object), persons,
                                           p=[.05, .95]),
        "age": rng.integers(16, 70, persons), "minor": rng.random(persons) < .05,
        "referring_agency": rng.choice(["甲公安分局", "乙公安局", "丙公安局"], persons),
    })
    pros = arrest.iloc[: n - persons].copy()
    pros["stage"] = "prosecution_review"
    pros["dept_case_no"] = np.char.add("诉", np.arange(len(pros)).astype(str))
    pros["accepted_on"] = pros["accepted_on"] + pd.Timedelta(days=40)
    pros["closed_on"] = pros["accepted_on"] + pd.Timedelta(days=25)
    pros["decision"] = rng.choice(["prosecute", "non_prosecution"], len(pros), p=[.85, .15])
    pros["measure_after_change"] = None
    pros["term_months"] = rng.gamma(2, 6, len(pros))
    return pd.concat([arrest, pros], ignore_index=True)


def timed(label: str, func, results: dict):
    t0 = time.perf_counter()
    out = func()
    results[label] = time.perf_counter() - t0
    return out


def main(n: int = 1_000_000) -> None:
    home = tempfile.mkdtemp(prefix="bench_store_")
    os.environ["CASEWORK_HOME"] = home
    os.environ.setdefault("CASEWORK_USER", "bench")
    from casework import store
    from casework.model import journeys, schema
    from casework.store import audit

    t: dict[str, float] = {}
    recs = schema.conform(make_records(n), "records")
    bare = Path(home) / "bare.parquet"
    timed("baseline: DataFrame.to_parquet", lambda: recs.to_parquet(bare), t)
    timed("baseline: pandas.read_parquet", lambda: pd.read_parquet(bare), t)
    j = timed("journeys.build", lambda: journeys.build(recs), t)
    m = timed("store.write_snapshot (incl. journeys)",
              lambda: store.write_snapshot({"records": recs}), t)
    back = timed("store.read records (all)", lambda: store.read("records", purpose="bench"), t)
    unit = recs["unit_code"].iloc[0]
    part = timed("store.read records (one unit, 3 columns)",
                 lambda: store.read("records", columns=["unit_code", "charge", "decision"],
                                    where=f"unit_code = '{unit}'", purpose="bench"), t)
    timed("store.sql group-by count",
          lambda: store.sql("SELECT unit_code, stage, count(*) n FROM records GROUP BY ALL",
                            purpose="bench"), t)
    assert len(back) == n and len(part) == int((recs["unit_code"] == unit).sum())
    assert m["row_counts"]["journeys"] == len(j)

    k = 2000
    t0 = time.perf_counter()
    for i in range(k):
        audit.append({"kind": "read", "purpose": "bench", "rows": i})
    t["audit.append ×2000"] = time.perf_counter() - t0
    timed("audit.verify", audit.verify, t)

    w, r = t["baseline: DataFrame.to_parquet"], t["baseline: pandas.read_parquet"]
    print(f"rows: {n:,}  journeys: {len(j):,}  files: "
          f"{sum(len(e['files']) for e in m['tables'].values())}")
    for label, secs in t.items():
        ratio = ""
        if label.startswith("store.write") or label == "journeys.build":
            ratio = f"  ({secs / w:.1f}× to_parquet)"
        elif label.startswith("store.read") or label.startswith("store.sql"):
            ratio = f"  ({secs / r:.2f}× read_parquet)"
        elif label.startswith("audit.append"):
            ratio = f"  ({k / secs:,.0f} rows/s)"
        print(f"{label:45s} {secs:7.2f} s{ratio}")
    import shutil

    shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
