"""Benchmark of the synthetic data generator (casework.synth).

Prints, for each size, wall time, CPU time, rows per second and peak memory of one run in a
fresh subprocess, and the ratio to a baseline measured in the same run: writing the same
records with plain pandas (``to_csv(encoding="gb18030")``), i.e. what the generated data costs
merely to serialise.

Budget (issue #2): ``casework synth`` of 1 M person rows in under 30 s; the default demo
(6 units × 3 years ≈ 60k rows) in a few seconds; memory sane for 10 M rows (``--big``).

Usage::

    .venv/bin/python benchmarks/bench_synth.py          # 60k and 1 M
    .venv/bin/python benchmarks/bench_synth.py --big    # also 10 M (Parquet only, ~minutes)

Wall time on a shared machine is inflated by other load; CPU time is the machine-independent
figure (the generator is single-threaded apart from Arrow's CSV/Parquet writers).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, resource, sys, time, tempfile
from pathlib import Path
mode, persons, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from casework import synth
kw = dict(end="2024-12", seed=20240501, persons=None if persons == 0 else persons)
t0, c0 = time.perf_counter(), time.process_time()
if mode == "make":
    rows = len(synth.make(**kw).records)
elif mode == "baseline":
    import pandas as pd
    rec = pd.read_parquet(Path(out) / "records.parquet")
    t0, c0 = time.perf_counter(), time.process_time()
    rec.to_csv(Path(out) / "baseline.csv", index=False, encoding="gb18030")
    rows = len(rec)
else:
    rows = synth.generate(out, exports=(mode == "generate"), **kw)["records"]
wall, cpu = time.perf_counter() - t0, time.process_time() - c0
print(json.dumps({"rows": rows, "wall": wall, "cpu": cpu,
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def run(mode, persons, out):
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(persons), str(out)],
                         capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def show(label, r, base=None):
    ratio = (f"  ratio to baseline {r['wall'] / base['wall']:.2f}× wall, "
             f"{r['cpu'] / base['cpu']:.2f}× CPU") if base else ""
    print(f"{label:<44} {r['rows']:>10,} rows  wall {r['wall']:7.2f} s  CPU {r['cpu']:7.2f} s  "
          f"{r['rows'] / r['wall']:>10,.0f} rows/s  peak {r['rss_mb']:7.0f} MB{ratio}")


def main(argv):
    sizes = [("default demo (6 units × 3 years)", 0), ("1 M person rows", 1_000_000)]
    with tempfile.TemporaryDirectory() as tmp:
        for label, persons in sizes:
            out = Path(tmp) / f"p{persons}"
            make = run("make", persons, out)
            gen_parquet = run("generate_parquet", persons, out)
            gen = run("generate", persons, out)
            base = run("baseline", persons, out)
            print(f"== {label}")
            show("baseline: pandas to_csv(gb18030) of records", base)
            show("make() in memory", make, base)
            show("generate(): Parquet only (--no-exports)", gen_parquet, base)
            show("generate(): Parquet + GB18030 CSV (+xlsx ≤200k)", gen, base)
            if persons == 1_000_000:
                verdict = "within" if gen["wall"] < 30 else "OVER"
                print(f"   budget: casework synth of 1 M rows < 30 s → {gen['wall']:.1f} s wall "
                      f"({gen['cpu']:.1f} s CPU): {verdict} budget")
        if "--big" in argv:
            out = Path(tmp) / "p10M"
            big = run("generate_parquet", 10_000_000, out)
            print("== 10 M person rows")
            show("generate(): Parquet only, streamed by unit", big)


if __name__ == "__main__":
    main(sys.argv[1:])
