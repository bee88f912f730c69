"""Benchmark: the full indicator panel on DuckDB and on Spark local[2], side by side (issue 17).

Every registry indicator, by unit, for one year with its 环比 and 同比 windows
(:func:`casework.analysis.panel.compute`), on the same synthetic Parquet files (cached by
``bench_indicators.prepare``). Each engine runs in a fresh process; the table gives wall time
and peak memory (the Python process, plus for Spark its JVM: ``RUSAGE_CHILDREN``).

Usage::

    .venv/bin/python benchmarks/bench_engines.py                  # 1 M person rows
    .venv/bin/python benchmarks/bench_engines.py --ten-million    # also 10 M rows (slow)

Spark will be slower on one machine; the point is that the same definitions scale out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

CHILD = r"""
import json, resource, sys, time, tempfile, os
os.environ.setdefault("CASEWORK_HOME", tempfile.mkdtemp())
import pandas as pd
from casework.analysis import panel
engine, rec, jr = sys.argv[1], sys.argv[2], sys.argv[3]
t0 = time.perf_counter()
if engine == "duckdb":
    records, journeys = pd.read_parquet(rec), pd.read_parquet(jr)
else:
    from casework.store import engines
    cfg = engines.SparkConfig(master="local[2]", tables={"records": rec, "journeys": jr},
                              conf={"spark.driver.memory": "2g"})
    eng = engines.SparkEngine(cfg)
    records = eng.table("records", purpose="benchmark")
    journeys = eng.table("journeys", purpose="benchmark")
t1 = time.perf_counter()
out = panel.compute(records, indicators="all", by="unit_code", period="2024",
                    journeys=journeys)
t2 = time.perf_counter()
kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
kb_child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
if engine == "spark":
    eng.spark.stop()
    kb_child = max(kb_child, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
print(json.dumps({"load": t1 - t0, "panel": t2 - t1, "rows": len(out),
                  "peak_mb": (kb + kb_child) / 1024}))
"""


def run(engine: str, data: dict) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, engine, str(data["records"]),
                           str(data["journeys"])], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    from bench_indicators import prepare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--ten-million", action="store_true", help="also 10 M person rows")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cw_bench_data")
    args = ap.parse_args()
    sizes = [(args.persons, args.data)]
    if args.ten_million:
        sizes.append((10_000_000, args.data.with_name(args.data.name + "_10m")))
    print(f"{'rows':>12} {'engine':<14} {'load s':>8} {'panel s':>8} {'peak MB':>9} "
          f"{'out rows':>9}")
    for persons, folder in sizes:
        data = prepare(folder / str(persons), persons=persons, units=args.units)
        for engine, label in (("duckdb", "DuckDB"), ("spark", "Spark local[2]")):
            r = run(engine, data)
            print(f"{data['rows']:>12,} {label:<14} {r['load']:>8.1f} {r['panel']:>8.1f} "
                  f"{r['peak_mb']:>9.0f} {r['rows']:>9,}", flush=True)


if __name__ == "__main__":
    main()
