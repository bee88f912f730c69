"""Benchmark: the monthly batch on a 1 M-person snapshot against its own overhead (issue 18).

Prints, in one run on the same snapshot:

* **baseline**: the same reports (every template × every unit) from notebooks stripped to their
  parameters cell, their set-up cells (imports and ``page.setup``) and ``page.provenance``:
  same kernel, same papermill + nbconvert + Word path. What a report costs before it analyses
  anything;
* the **batch** with 1 and 2 workers, each with an empty cache (``<snapshot>/cache/`` removed
  first), and the ratio batch / baseline with 2 workers (goal <= 1.6), the per-report overhead
  beyond in-kernel work (goal <= 1.5 s) and the speed-up of 2 workers over 1 (goal >= 1.8x);
* the 2-worker batch once more **without the cache** (``cache=False``): its time, and whether
  every CSV table of every report is byte-identical to the cached batch's;
* a **profile** of the slowest template (median in-kernel time): its cells run in this process
  under cProfile for one unit, the top functions by cumulative time;
* the time of ``casework demo`` in a fresh home with the environment already installed.

Usage::

    .venv/bin/python benchmarks/bench_batch.py                    # 1 M persons, 10 units
    .venv/bin/python benchmarks/bench_batch.py --persons 200000 --units 4 --quick

Everything happens in temporary CASEWORK_HOMEs; the project's data/ and reports/ are untouched.
"""

from __future__ import annotations

import argparse
import cProfile
import filecmp
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def _strip(src: Path, dest: Path) -> None:
    """``src`` (a template) reduced to its parameters cell, the cells up to ``page.setup`` and
    ``page.provenance(P)``; its sidecar copied beside it."""
    import nbformat

    nb = nbformat.read(str(src), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    setup_at = next(i for i, c in enumerate(code) if "page.setup(" in c.source)
    nb.cells = code[:setup_at + 1] + [nbformat.v4.new_code_cell("page.provenance(P)")]
    nbformat.write(nb, str(dest / src.name))
    shutil.copy(src.with_suffix(".yaml"), dest / src.with_suffix(".yaml").name)


def _summary(label: str, res) -> None:
    kern = sum(r.kernel_s for r in res.results)
    over = [r.duration_s - r.kernel_s for r in res.results if r.ok]
    print(f"{label}: {len(res.results)} reports ({len(res.failed)} failed), wall "
          f"{res.duration_s:.1f}s; in-kernel total {kern:.1f}s; per-report overhead beyond "
          f"in-kernel work: median {statistics.median(over):.2f}s, max {max(over):.2f}s")
    for r in res.failed:
        print("   ", r.describe())


def _by_template(res) -> dict:
    by: dict = {}
    for r in res.results:
        by.setdefault(r.template, []).append(r)
    return by


def _csv_differences(a: Path, b: Path) -> tuple[int, list[str]]:
    """(CSV files compared, names that differ or are missing) between two reports folders."""
    names = sorted(p.relative_to(a) for p in a.rglob("*.csv"))
    bad = [str(n) for n in names if not (b / n).exists()
           or not filecmp.cmp(a / n, b / n, shallow=False)]
    bad += [str(p.relative_to(b)) for p in b.rglob("*.csv") if not (a / p.relative_to(b)).exists()]
    return len(names), bad


def _profile(template: str, unit: str, period: str, top: int = 25) -> None:
    """Run ``template``'s code cells in this process under cProfile; print the top functions."""
    import matplotlib
    import nbformat

    from casework.base import config

    matplotlib.use("Agg")
    nb = nbformat.read(str(config.TEMPLATES_DIR / f"{template}.ipynb"), as_version=4)
    ns: dict = {}
    out = tempfile.mkdtemp(prefix="bench-profile-")
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    devnull = open(os.devnull, "w")  # noqa: SIM115 (the cells' displays are not wanted here)
    stdout, sys.stdout = sys.stdout, devnull
    try:
        for cell in nb.cells:
            if cell.cell_type != "code":
                continue
            prof.enable()
            exec(compile(cell.source, f"<{template}>", "exec"), ns)  # noqa: S102
            prof.disable()
            if "parameters" in cell.metadata.get("tags", []):
                ns.update(period=period, unit=unit,
                          casework_run={"output_dir": out, "quiet": True, "cache": False})
    finally:
        sys.stdout = stdout
        devnull.close()
    wall = time.perf_counter() - t0
    text = io.StringIO()
    pstats.Stats(prof, stream=text).sort_stats("cumulative").print_stats(top)
    print(f"\nprofile of the slowest template, {template} for unit {unit} "
          f"({wall:.1f}s in this process, no cache), top {top} by cumulative time:")
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith("ncalls"))
    for line in lines[start:]:
        if line.strip():
            print("   ", line.replace(str(ROOT) + "/", "").replace(sys.prefix + "/", ""))


def _demo_time() -> float:
    """Seconds of ``casework demo`` in a fresh home (environment installed, kernel registered)."""
    home = tempfile.mkdtemp(prefix="casework-bench-demo-")
    env = {**os.environ, "CASEWORK_HOME": home}
    env.pop("CASEWORK_REPORTS", None)
    exe = Path(sys.executable).with_name("casework")
    t0 = time.perf_counter()
    proc = subprocess.run([str(exe), "demo"], env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    shutil.rmtree(home, ignore_errors=True)
    if proc.returncode != 0:
        print(proc.stdout[-2000:], proc.stderr[-2000:])
        raise SystemExit("casework demo failed")
    return took


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--units", type=int, default=10)
    ap.add_argument("--end", default="2024-12")
    ap.add_argument("--quick", action="store_true",
                    help="skip the 1-worker batch, the uncached batch and the demo")
    ap.add_argument("--keep", action="store_true", help="keep the temporary CASEWORK_HOME")
    args = ap.parse_args(argv)

    home = Path(tempfile.mkdtemp(prefix="casework-bench-batch-"))
    os.environ["CASEWORK_HOME"] = str(home)
    os.environ.pop("CASEWORK_REPORTS", None)
    from casework import store, synth
    from casework.base import config
    from casework.notebook import params
    from casework.run import batch, report

    report.ensure_kernel(install=True)
    keys = params.discover()
    stripped = home / "stripped"
    stripped.mkdir()
    for key in keys:
        _strip(config.TEMPLATES_DIR / f"{key}.ipynb", stripped)

    t = time.perf_counter()
    data = synth.make(units=args.units, years=3, end=args.end, persons=args.persons, seed=11)
    t_make = time.perf_counter() - t
    t = time.perf_counter()
    man = store.write_snapshot({"records": data.records, "modifications": data.modifications},
                               account="bench")
    t_snap = time.perf_counter() - t
    n_rows, n_units = len(data.records), data.records["unit_code"].nunique()
    del data
    cache_dir = Path(store.manifest(man["id"])["path"]) / "cache"
    print(f"snapshot: {n_rows:,} person rows, {n_units} units "
          f"(synth {t_make:.1f}s, write {t_snap:.1f}s); cores: {os.cpu_count()}")
    print(f"templates: {', '.join(keys)}")

    definition = params.RunDefinition(period=args.end, units="each", templates=keys,
                                      level="internal")

    def run(label: str, workers: int, *, templates_dir=None, cache=True):
        shutil.rmtree(cache_dir, ignore_errors=True)  # every batch starts with an empty cache
        res = batch.batch(definition, workers=workers, progress=False, cache=cache,
                          templates_dir=templates_dir, reports_dir=home / f"reports-{label}")
        _summary(label, res)
        return res

    base = run("baseline (stripped notebooks), 2 workers", 2, templates_dir=stripped)
    runs = {}
    for workers in ([2] if args.quick else [1, 2]):
        runs[workers] = run(f"batch, {workers} worker{'s' if workers > 1 else ''}", workers)
    for key, rs in _by_template(runs[2]).items():
        print(f"    {key:<22} median wall {statistics.median(r.duration_s for r in rs):6.2f}s  "
              f"in-kernel {statistics.median(r.kernel_s for r in rs):6.2f}s  "
              f"html {statistics.median(r.html_bytes for r in rs) / 1024:,.0f} KB")

    ratio = runs[2].duration_s / base.duration_s
    print(f"\nbatch / baseline, 2 workers: {runs[2].duration_s:.1f}s / {base.duration_s:.1f}s = "
          f"{ratio:.2f}  (goal <= 1.6)")
    over = [r.duration_s - r.kernel_s for r in runs[2].results if r.ok]
    print(f"per-report overhead beyond in-kernel work (2 workers): median "
          f"{statistics.median(over):.2f}s  (goal <= 1.5s)")
    if 1 in runs:
        print(f"speed-up of 2 workers over 1: {runs[1].duration_s / runs[2].duration_s:.2f}x  "
              "(goal >= 1.8x)")
    ok = all(r.ok for r in (base, *runs.values()))

    if not args.quick:
        plain = run("batch without cache, 2 workers", 2, cache=False)
        n, bad = _csv_differences(home / "reports-batch, 2 workers",
                                  home / "reports-batch without cache, 2 workers")
        print(f"cache: {plain.duration_s / runs[2].duration_s:.2f}x faster with it; CSV tables "
              f"compared {n:,}, differing {len(bad)}{': ' + ', '.join(bad[:5]) if bad else ''}")
        ok = ok and plain.ok and not bad

    slowest = max(_by_template(runs[2]).items(),
                  key=lambda kv: statistics.median(r.kernel_s for r in kv[1]))
    _profile(slowest[0], slowest[1][0].unit, args.end)

    if not args.quick:
        print(f"\ncasework demo in a fresh home (warm environment): {_demo_time():.1f}s")
    if args.keep:
        print(f"kept: {home}")
    else:
        shutil.rmtree(home, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
