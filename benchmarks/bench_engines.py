"""Benchmark: the full indicator panel on DuckDB and on Spark local[2], side by side (issue 17).

Every registry indicator, by unit, for one year with its 环比 and 同比 windows
(:func:`casework.analysis.panel.compute`), on the same synthetic Parquet files (cached by
``bench_indicators.prepare``). Each engine runs in a fresh process; the table gives wall time
and peak memory: of the Python process (DuckDB: the frames of the columns the panel names,
as ``store.read`` returns them, and DuckDB's work over them) and, for Spark, of the driver JVM
it starts (``VmHWM`` of the ``java`` child; its heap is capped by ``--driver-memory``).

Usage::

    .venv/bin/python benchmarks/bench_engines.py                  # 1 M person rows
    .venv/bin/python benchmarks/bench_engines.py --ten-million    # also 10 M rows (slow)
    .venv/bin/python benchmarks/bench_engines.py --only-ten-million

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
import json, os, resource, sys, time, tempfile
os.environ.setdefault("CASEWORK_HOME", tempfile.mkdtemp())
engine, folder, here = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, here)
from bench_engines import jvm_peak_kb
from casework.analysis import panel
t0 = time.perf_counter()
if engine == "duckdb":  # frames of the columns the panel names, canonical dtypes (store.read)
    from bench_indicators import load_frames
    from pathlib import Path
    records, journeys = load_frames(Path(folder), only_used=True)
else:
    from casework.store import engines
    cfg = engines.SparkConfig(master="local[2]",
                              tables={"records": os.path.join(folder, "records.parquet"),
                                      "journeys": os.path.join(folder, "journeys.parquet")},
                              conf={"spark.driver.memory": sys.argv[4]})
    eng = engines.SparkEngine(cfg)
    records = eng.table("records", purpose="benchmark")
    journeys = eng.table("journeys", purpose="benchmark")
t1 = time.perf_counter()
out = panel.compute(records, indicators="all", by="unit_code", period="2024",
                    journeys=journeys)
t2 = time.perf_counter()
jvm = jvm_peak_kb() if engine == "spark" else 0
out.to_pickle(sys.argv[5])  # the parent checks both engines gave the same numbers
print(json.dumps({"load": t1 - t0, "panel": t2 - t1, "rows": len(out),
                  "py_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "jvm_mb": jvm / 1024}))
"""


def jvm_peak_kb(root: int | None = None) -> int:
    """Peak resident memory (``VmHWM``, kB) of the ``java`` processes below ``root`` (default:
    this process) — the Spark driver JVM that PySpark starts in local mode."""
    import os
    import re

    root = os.getpid() if root is None else root
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    total = 0
    for pid in parent:
        p, seen = pid, 0
        while p in parent and p != root and seen < 64:
            p, seen = parent[p], seen + 1
        if p != root or pid == root:
            continue
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        if re.search(r"^Name:\s+java$", status, re.MULTILINE):
            total += int(re.search(r"^VmHWM:\s+(\d+)", status, re.MULTILINE).group(1))
    return total


def run(engine: str, data: dict, driver_memory: str, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-c", CHILD, engine, str(data["records"].parent),
                           str(HERE), driver_memory, str(out)], capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"{engine} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def same_numbers(a: Path, b: Path) -> str:
    """Whether two panels agree: the same rows, every figure equal to 1e-9 (NaN where NaN)."""
    import numpy as np
    import pandas as pd

    keys = ["indicator", "unit_code"]
    x = pd.read_pickle(a).sort_values(keys, ignore_index=True)
    y = pd.read_pickle(b).sort_values(keys, ignore_index=True)
    if len(x) != len(y) or not (x[keys].astype(str).values == y[keys].astype(str).values).all():
        return "DIFFERENT ROWS"
    cols = [c for c in x.columns if c.endswith(("numerator", "denominator", "value"))]
    u, v = x[cols].to_numpy(float), y[cols].to_numpy(float)
    ok = np.array_equal(np.isnan(u), np.isnan(v)) and np.allclose(
        u[~np.isnan(u)], v[~np.isnan(v)], rtol=1e-9, atol=1e-9)
    return f"same ({len(cols)} columns × {len(x)} rows)" if ok else "DIFFERENT NUMBERS"


def main() -> None:
    from bench_indicators import prepare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--ten-million", action="store_true", help="also 10 M person rows")
    ap.add_argument("--only-ten-million", action="store_true", help="10 M person rows only")
    ap.add_argument("--driver-memory", default="2g", help="spark.driver.memory (JVM heap)")
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "cw_bench_data")
    args = ap.parse_args()
    sizes = [] if args.only_ten_million else [(args.persons, args.data)]
    if args.ten_million or args.only_ten_million:
        sizes.append((10_000_000, args.data.with_name(args.data.name + "_10m")))
    print(f"{'rows':>12} {'engine':<14} {'load s':>8} {'panel s':>8} {'Python MB':>10} "
          f"{'JVM MB':>8} {'out rows':>9}")
    for persons, folder in sizes:
        data = prepare(folder / str(persons), persons=persons, units=args.units)
        outs = {}
        for engine, label in (("duckdb", "DuckDB"), ("spark", "Spark local[2]")):
            outs[engine] = Path(tempfile.mkdtemp()) / f"{engine}.pkl"
            r = run(engine, data, args.driver_memory, outs[engine])
            jvm = f"{r['jvm_mb']:>8.0f}" if engine == "spark" else f"{'—':>8}"
            print(f"{data['rows']:>12,} {label:<14} {r['load']:>8.1f} {r['panel']:>8.1f} "
                  f"{r['py_mb']:>10.0f} {jvm} {r['rows']:>9,}", flush=True)
        print(f"{'':>12} numbers: {same_numbers(outs['duckdb'], outs['spark'])}", flush=True)


if __name__ == "__main__":
    main()
