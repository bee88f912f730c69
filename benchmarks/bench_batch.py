"""Benchmark: the monthly batch on a 1 M-person snapshot (issue #4).

Measures, in one run and against baselines taken in the same run:

* total wall time of the batch for ``--units`` units × every template, with 1 and 2 workers,
  and the speed-up of 2 workers over 1 (goal ≥ 1.8×);
* per-report overhead beyond the work done inside the kernel (goal ≤ 1.5 s): for every report,
  wall time minus the sum of its cells' execution times (papermill metadata), i.e. validation,
  kernel start, nbconvert rendering and the atomic move. An *empty* template (parameters,
  ``page.setup`` and ``page.provenance`` only) is timed as well; its in-kernel time is the cost
  of importing the library in a fresh kernel.

Usage::

    .venv/bin/python benchmarks/bench_batch.py                 # 1 M persons, 10 units
    .venv/bin/python benchmarks/bench_batch.py --persons 200000 --units 4 --quick

Everything happens in a temporary CASEWORK_HOME; the project's data/ and reports/ are untouched.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _empty_template(folder: Path) -> None:
    import nbformat

    from casework.base import config

    folder.mkdir(parents=True, exist_ok=True)
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": config.KERNEL_NAME, "display_name": "casework (Python)",
                                 "language": "python"}
    params_cell = nbformat.v4.new_code_cell('period = "2024-05"\nunit = "all"\nlevel = "internal"')
    params_cell.metadata["tags"] = ["parameters"]
    nb.cells = [nbformat.v4.new_markdown_cell("# 空模板"), params_cell,
                nbformat.v4.new_code_cell('from casework.notebook import page\n\n'
                                          'P = page.setup(globals(), template="empty")'),
                nbformat.v4.new_code_cell("page.provenance(P)")]
    nbformat.write(nb, folder / "empty.ipynb")
    (folder / "empty.yaml").write_text(
        "title_zh: 空模板\nparameters:\n"
        '  period: {type: period, default: "2024-05", description: 统计期间}\n'
        '  unit: {type: string, default: "all", description: 单位编码}\n'
        "  level: {type: choice, choices: [internal, circulated], default: internal, "
        "description: 密级}\n",
        encoding="utf-8")


def _copy_templates(dest: Path, keys) -> None:
    from casework.base import config

    for key in keys:
        for suffix in (".ipynb", ".yaml"):
            shutil.copy(config.TEMPLATES_DIR / f"{key}{suffix}", dest / f"{key}{suffix}")


def _overheads(results) -> list[float]:
    return [r.duration_s - r.kernel_s for r in results if r.ok]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--end", default="2024-12")
    ap.add_argument("--quick", action="store_true", help="skip the 1-worker baseline batch")
    ap.add_argument("--keep", action="store_true", help="keep the temporary CASEWORK_HOME")
    args = ap.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="casework-bench-batch-"))
    os.environ["CASEWORK_HOME"] = str(home)
    os.environ.pop("CASEWORK_REPORTS", None)
    from casework import store, synth
    from casework.notebook import params
    from casework.run import batch, report

    report.ensure_kernel(install=True)
    templates = home / "templates"
    _empty_template(templates)
    real = params.discover()
    _copy_templates(templates, real)

    t = time.perf_counter()
    data = synth.make(units=args.units, years=3, end=args.end, persons=args.persons, seed=11)
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    store.write_snapshot({"records": data.records, "modifications": data.modifications},
                         account="bench")
    t_snap = time.perf_counter() - t
    n_rows, n_units = len(data.records), data.records["unit_code"].nunique()
    del data
    print(f"snapshot: {n_rows:,} person rows, {n_units} units "
          f"(synth {t_make:.1f}s, write {t_snap:.1f}s)")
    print(f"templates: {', '.join(real)}")

    # 1. the empty template: pure overhead (kernel start, library import, render, move)
    empty = [report.run("empty", period=args.end, templates_dir=templates,
                        reports_dir=home / "reports-empty") for _ in range(3)]
    assert all(r.ok for r in empty), [r.describe() for r in empty]
    e_wall = statistics.median(r.duration_s for r in empty)
    e_kernel = statistics.median(r.kernel_s for r in empty)
    print(f"empty template: wall {e_wall:.2f}s = in-kernel {e_kernel:.2f}s "
          f"(setup: library import) + runner overhead {e_wall - e_kernel:.2f}s  (median of 3)")

    definition = params.RunDefinition(period=args.end, units="each", templates=real,
                                      level="internal")
    runs = {}
    for workers in ([2] if args.quick else [1, 2]):
        res = batch.batch(definition, workers=workers, progress=False, templates_dir=templates,
                          reports_dir=home / f"reports-w{workers}")
        runs[workers] = res
        ov = _overheads(res.results)
        kern = sum(r.kernel_s for r in res.results)
        print(f"batch workers={workers}: {len(res.results)} reports ({len(res.failed)} failed), "
              f"wall {res.duration_s:.1f}s; in-kernel total {kern:.1f}s; "
              f"per-report overhead median {statistics.median(ov):.2f}s, max {max(ov):.2f}s")
        for r in res.failed:
            print("   ", r.describe())
        by_tpl = {}
        for r in res.results:
            by_tpl.setdefault(r.template, []).append(r)
        for key, rs in by_tpl.items():
            print(f"    {key:<22} "
                  f"median wall {statistics.median(r.duration_s for r in rs):6.2f}s  "
                  f"in-kernel {statistics.median(r.kernel_s for r in rs):6.2f}s  "
                  f"html {statistics.median(r.html_bytes for r in rs) / 1024:,.0f} KB")
    if 1 in runs and 2 in runs:
        speedup = runs[1].duration_s / runs[2].duration_s
        print(f"speed-up of 2 workers over 1: {speedup:.2f}x  "
              f"(goal >= 1.8x; cores: {os.cpu_count()})")
    ov_all = _overheads([r for res in runs.values() for r in res.results])
    print(f"per-report overhead beyond in-kernel work: median {statistics.median(ov_all):.2f}s "
          f"(goal <= 1.5s)")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    else:
        print(f"kept: {home}")
    return 0 if all(res.ok for res in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
