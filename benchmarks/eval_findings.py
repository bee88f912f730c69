"""Measured recall and false findings of the report templates against the generator's truth.

Issue 13, item 9. For each seed, in a temporary ``CASEWORK_HOME``:

1. ``casework synth`` at the demo size (6 units × 3 years, Parquet only), planted or ``--null``;
2. ``casework import`` of the Parquet files;
3. ``casework batch`` (2 workers) with a temporary run definition per period:

   * planted seeds: every template for the last month of data, and for each planted pattern the
     templates its truth entry names (``templates``) for the quarter and the year containing its
     start month (and the quarter containing its last month, for a pattern that ended);
   * null seeds: every template for the last month, its quarter and its year;

4. every report's ``findings.json`` (``reports/<period>/<template>_all_files/findings.json``,
   written by :func:`casework.notebook.findings.report_findings`) and its HTML are read.

A planted pattern counts as **found** when, in one of the reports that should name it, a
finding names its entity — ``entity_name`` equal to the truth's full name, or ``entity_id``
equal to the truth's — with a ``start_month`` within ±1 month of the truth's start, AND the
full entity name appears in the report's prose (the HTML without its tables, figures and
scripts). The detectors never see the truth: the script only reads it to score.

On null data every finding is false: the table gives the mean number of findings per report
and the share of reports with none. Reports that wrote no ``findings.json`` (templates not yet
wired to the findings step) are counted apart, never as "no findings".

Goals (issue 13): recall ≥ 95 % for every pattern type; on null data ≤ 0.1 findings per report
and ≥ 90 % of reports with none.

Usage::

    .venv/bin/python benchmarks/eval_findings.py --seeds 10          # 10 planted + 10 null
    .venv/bin/python benchmarks/eval_findings.py --seeds 2 --quick   # smoke run
    .venv/bin/python benchmarks/eval_findings.py --seeds 10 --json results.json
    .venv/bin/python benchmarks/eval_findings.py --seeds 2 --keep /tmp/eval   # keep the homes
    .venv/bin/python benchmarks/eval_findings.py --rescore /tmp/eval          # score them again

``--quick`` runs planted seeds for the last month and the quarters of the starts only, null
seeds for the last month only. A full run of 10 + 10 seeds runs about 450 reports (roughly an
hour or two on two cores).
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = ROOT / "notebooks" / "reports"
CLI = [sys.executable, "-m", "casework.run.cli"]
GOAL_RECALL = 0.95
GOAL_NULL_MEAN = 0.1
GOAL_NULL_NONE = 0.90
FIRST_SEED = 20240501  # the demo's seed; further seeds count up from it
PATTERNS = ["post_arrest_bail_jump", "slow_prosecutor", "rising_charge", "entry_error_run",
            "adoption_drop", "closed_case_editor"]


def log(msg: str) -> None:
    print(msg, flush=True)


def templates() -> list[str]:
    """Every report template: ``<key>.yaml`` with ``<key>.ipynb`` beside it."""
    return sorted(p.stem for p in TEMPLATES_DIR.glob("*.yaml") if p.with_suffix(".ipynb").exists())


# ---------------------------------------------------------------------------------------------
# periods
# ---------------------------------------------------------------------------------------------


def month_no(code: str) -> int:
    y, m = code[:7].split("-")
    return int(y) * 12 + int(m) - 1


def quarter_of(month: str) -> str:
    y, m = int(month[:4]), int(month[5:7])
    return f"{y}-Q{(m - 1) // 3 + 1}"


def year_of(month: str) -> str:
    return month[:4]


def planted_jobs(truth: dict, all_templates: list[str], quick: bool) -> dict[str, list[str]]:
    """period → templates to run for a planted seed."""
    jobs: dict[str, set] = {truth["end"]: set(all_templates)}
    for p in truth["patterns"]:
        wanted = [t for t in p.get("templates", []) if t in all_templates]
        periods = [quarter_of(p["from"])] + ([quarter_of(p["to"])] if p.get("to") else [])
        periods += [] if quick else [year_of(p["from"])]
        for period in periods:
            jobs.setdefault(period, set()).update(wanted)
    return {k: sorted(v) for k, v in jobs.items() if v}


def null_jobs(end: str, all_templates: list[str], quick: bool) -> dict[str, list[str]]:
    """period → templates to run for a null seed."""
    periods = [end] + ([] if quick else [quarter_of(end), year_of(end)])
    return {p: list(all_templates) for p in dict.fromkeys(periods)}


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------


def cli(args: list[str], env: dict, *, timeout: int = 7200) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + args, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def run_batch(period: str, tpls: list[str], env: dict, home: Path, workers: int) -> float:
    """One ``casework batch`` over all units; returns the seconds it took."""
    definition = home / f"run_{period}.yaml"
    definition.write_text(
        f'period: "{period}"\nunits: all\ntemplates: [{", ".join(tpls)}]\nlevel: internal\n',
        encoding="utf-8")
    t0 = time.perf_counter()
    res = cli(["batch", str(definition), "--workers", str(workers)], env)
    if res.returncode not in (0, 1):
        log(f"    batch {period} exited {res.returncode}: {(res.stderr or res.stdout)[-400:]}")
    return time.perf_counter() - t0


def prose_text(html_text: str) -> str:
    """The report's prose: HTML without tables, figures, scripts and styles, tags removed."""
    t = re.sub(r"(?is)<(script|style|table|figure|svg)\b.*?</\1\s*>", " ", html_text)
    t = re.sub(r"(?s)<[^>]+>", "", t)
    return html.unescape(t)


def read_report(home: Path, period: str, template: str) -> dict:
    """Status, findings and prose of one report of the batch."""
    page = home / "reports" / period / f"{template}_all.html"
    fj = home / "reports" / period / f"{template}_all_files" / "findings.json"
    out = {"period": period, "template": template, "findings": [], "prose": ""}
    if not page.exists():
        out["status"] = "failed"
        return out
    out["prose"] = prose_text(page.read_text(encoding="utf-8", errors="replace"))
    if not fj.exists():
        out["status"] = "no findings.json"
        return out
    try:
        doc = json.loads(fj.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        out["status"] = f"unreadable findings.json ({err})"
        return out
    out["status"] = "ok"
    out["findings"] = [f for f in doc.get("findings", []) if isinstance(f, dict)]
    return out


def evaluate_seed(seed: int, *, null: bool, quick: bool, workers: int, end: str | None,
                  keep: Path | None) -> dict:
    """Generate, import, run and read every report of one seed."""
    kind = "null" if null else "planted"
    tmp = None
    if keep:
        home = keep / f"{kind}_{seed}"
        home.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix=f"eval_{kind}_{seed}_")
        home = Path(tmp.name)
    env = {**os.environ, "CASEWORK_HOME": str(home), "CASEWORK_USER": "eval-findings"}
    env.pop("CASEWORK_REPORTS", None)
    try:
        t0 = time.perf_counter()
        data = home / "data" / "demo"
        args = ["synth", "--out", str(data), "--units", "6", "--years", "3", "--seed", str(seed),
                "--no-exports"] + (["--end", end] if end else []) + (["--null"] if null else [])
        res = cli(args, env)
        if res.returncode != 0:
            raise RuntimeError(f"synth failed: {res.stderr[-800:]}")
        truth = json.loads((data / "truth.json").read_text(encoding="utf-8"))
        # one import = one snapshot: every table the generator wrote (e.g. supervision) at
        # once; if the importer refuses a further table, records and modifications alone
        tables = [data / "records.parquet", data / "modifications.parquet"]
        extra = [p for p in sorted(data.glob("*.parquet"))
                 if p.stem not in ("records", "modifications", "errors")]
        res = cli(["import", *map(str, tables + extra), "--account", "eval-findings"], env)
        if res.returncode != 0 and extra:
            log(f"    {', '.join(p.name for p in extra)} not imported: "
                f"{(res.stderr or res.stdout)[-300:]}")
            res = cli(["import", *map(str, tables), "--account", "eval-findings"], env)
        if res.returncode != 0:
            raise RuntimeError(f"import failed: {(res.stderr or res.stdout)[-800:]}")
        log(f"  [{kind} {seed}] data {truth['start']}–{truth['end']}, "
            f"{len(truth['patterns'])} patterns, generated and imported in "
            f"{time.perf_counter() - t0:.0f} s")
        for p in truth["patterns"]:
            log(f"      {p['id']:<22} {p['entity_name']} from {p['from']}")
        all_t = templates()
        jobs = null_jobs(truth["end"], all_t, quick) if null else planted_jobs(truth, all_t, quick)
        reports = []
        for period, tpls in jobs.items():
            secs = run_batch(period, tpls, env, home, workers)
            got = [read_report(home, period, t) for t in tpls]
            reports += got
            states = ", ".join(
                f"{r['template']}:{len(r['findings']) if r['status'] == 'ok' else r['status']}"
                for r in got)
            log(f"    {period}: {len(tpls)} reports in {secs:.0f} s — {states}")
        return {"seed": seed, "null": null, "truth": truth, "reports": reports}
    finally:
        if tmp is not None:
            tmp.cleanup()


def reread(keep: Path) -> list[dict]:
    """Results of an earlier run kept with ``--keep`` (no generation, no batch)."""
    out = []
    for home in sorted(p for p in keep.iterdir() if p.is_dir()):
        kind, _, seed = home.name.partition("_")
        truth_path = home / "data" / "demo" / "truth.json"
        if kind not in ("planted", "null") or not truth_path.exists():
            continue
        truth = json.loads(truth_path.read_text(encoding="utf-8"))
        reports = []
        for page in sorted((home / "reports").glob("*/*_all.html")):
            template = page.name[:-len("_all.html")]
            reports.append(read_report(home, page.parent.name, template))
        out.append({"seed": int(seed), "null": kind == "null", "truth": truth,
                    "reports": reports})
    return out


# ---------------------------------------------------------------------------------------------
# scoring
# ---------------------------------------------------------------------------------------------


def names_entity(f: dict, p: dict) -> bool:
    return f.get("entity_name") == p["entity_name"] or f.get("entity_id") == p["entity_id"]


def start_ok(f: dict, p: dict) -> bool:
    s = f.get("start_month")
    return bool(s) and abs(month_no(str(s)) - month_no(p["from"])) <= 1


def score_pattern(p: dict, reports: list[dict]) -> dict:
    """found (entity + start ±1 + prose), named (entity in a finding, any start), in_prose
    (full name anywhere in the prose of one of its reports, findings.json or not) and where."""
    mine = [r for r in reports if r["template"] in p.get("templates", [])]
    found = named = False
    where = ""
    wired = any(r["status"] == "ok" for r in mine)
    in_prose = any(p["entity_name"] in r["prose"] for r in mine)
    for r in mine:
        for f in r["findings"]:
            if not names_entity(f, p):
                continue
            named = True
            if start_ok(f, p) and p["entity_name"] in r["prose"]:
                found, where = True, f"{r['template']} {r['period']}"
    return {"found": found, "named": named, "wired": wired, "in_prose": in_prose, "where": where}


def is_related(f: dict, truth: dict) -> bool:
    """A finding on a planted entity, on one containing it or contained in it, or inside the
    procuratorate of a planted pattern (a station's jump also moves its procuratorate's and
    departments' rates; a slow prosecutor's department's handling days)."""
    eid = str(f.get("entity_id") or "")
    for p in truth["patterns"]:
        pid = p["entity_id"]
        if f.get("entity_name") == p["entity_name"] or eid == pid or (
                eid and (pid.startswith(eid + "/") or eid.startswith(pid + "/"))):
            return True
        unit = p.get("keys", {}).get("unit_code")
        if unit and (eid == unit or eid.startswith(unit + "/")):
            return True
        if p["entity_type"] == "charge" and f.get("entity_type") in ("charge_group", "all"):
            return True
    return False


def summarise(results: list[dict]) -> dict:
    planted = [r for r in results if not r["null"]]
    nulls = [r for r in results if r["null"]]
    rows = []
    seen = [p["id"] for res in planted for p in res["truth"]["patterns"]]
    for pid in PATTERNS + [i for i in dict.fromkeys(seen) if i not in PATTERNS]:
        scored = []
        tpl = []
        for res in planted:
            for p in res["truth"]["patterns"]:
                if p["id"] == pid:
                    scored.append(score_pattern(p, res["reports"]))
                    tpl = p.get("templates", tpl)
        n = len(scored)
        rows.append({
            "pattern": pid, "templates": tpl, "seeds": n,
            "wired": sum(s["wired"] for s in scored),
            "found": sum(s["found"] for s in scored),
            "named": sum(s["named"] for s in scored),
            "in_prose": sum(s["in_prose"] for s in scored),
            "recall": (sum(s["found"] for s in scored) / n) if n else None,
            "found_in": [s["where"] for s in scored],
        })
    null_reports = [r for res in nulls for r in res["reports"]]
    ok = [r for r in null_reports if r["status"] == "ok"]
    by_template = {}
    for r in null_reports:
        t = by_template.setdefault(r["template"], {"reports": 0, "with_json": 0, "findings": 0,
                                                    "none": 0})
        t["reports"] += 1
        if r["status"] == "ok":
            t["with_json"] += 1
            t["findings"] += len(r["findings"])
            t["none"] += not r["findings"]
    planted_ok = [(r, res["truth"]) for res in planted for r in res["reports"]
                  if r["status"] == "ok"]
    other = [sum(not is_related(f, t) for f in r["findings"]) for r, t in planted_ok]
    return {
        "patterns": rows,
        "null": {
            "reports": len(null_reports), "with_json": len(ok),
            "mean_findings": (sum(len(r["findings"]) for r in ok) / len(ok)) if ok else None,
            "share_none": (sum(not r["findings"] for r in ok) / len(ok)) if ok else None,
            "failed": sum(r["status"] == "failed" for r in null_reports),
            "by_template": by_template,
        },
        "planted_other_findings_per_report": (sum(other) / len(other)) if other else None,
        "planted_reports": sum(len(res["reports"]) for res in planted),
        "planted_reports_with_json": len(planted_ok),
    }


def pct(x) -> str:
    return "—" if x is None else f"{x:.0%}"


def print_table(s: dict, n_planted: int, n_null: int) -> None:
    log("")
    log(f"Recall per pattern type ({n_planted} planted seeds; found = a finding in the report "
        "that should name it, with the full entity name, start month ±1, and the name in the "
        "prose)")
    head = (f"{'pattern':<22} {'report(s)':<40} {'seeds':>5} {'json':>5} {'found':>5} "
            f"{'recall':>7} {'named':>5} {'prose':>5}  goal")
    log(head)
    log("-" * len(head))
    for r in s["patterns"]:
        if not r["wired"]:
            verdict = "no findings.json"
        else:
            verdict = "ok" if r["recall"] is not None and r["recall"] >= GOAL_RECALL else "MISSED"
        recall = pct(r["recall"]) if r["wired"] else "—"
        log(f"{r['pattern']:<22} {', '.join(r['templates']):<40} {r['seeds']:>5} {r['wired']:>5} "
            f"{r['found']:>5} {recall:>7} {r['named']:>5} {r['in_prose']:>5}  "
            f"≥{GOAL_RECALL:.0%} {verdict}")
    log("  json = seeds in which one of its reports wrote findings.json; named = its entity is "
        "in a finding (any start month); prose = its full entity name is in the prose of one "
        "of its reports (with or without findings.json)")
    n = s["null"]
    log("")
    log(f"Null data ({n_null} seeds, nothing planted): {n['reports']} reports, "
        f"{n['with_json']} with findings.json, {n['reports'] - n['with_json'] - n['failed']} "
        f"without, {n['failed']} failed")
    def verdict(value, ok):
        return "no findings.json" if value is None else ("ok" if ok else "MISSED")

    mean, share = n["mean_findings"], n["share_none"]
    shown = "—" if mean is None else f"{mean:.2f}"
    log(f"  false findings per report   {shown:>6}   goal ≤ {GOAL_NULL_MEAN}  "
        f"{verdict(mean, mean is not None and mean <= GOAL_NULL_MEAN)}")
    log(f"  reports with no finding     {pct(share):>6}   goal ≥ {GOAL_NULL_NONE:.0%}  "
        f"{verdict(share, share is not None and share >= GOAL_NULL_NONE)}")
    log(f"  {'template':<24} {'reports':>7} {'json':>5} {'findings/report':>16} {'none':>6}")
    for t, v in sorted(n["by_template"].items()):
        per = f"{v['findings'] / v['with_json']:.2f}" if v["with_json"] else "—"
        share = pct(v["none"] / v["with_json"]) if v["with_json"] else "no findings.json"
        log(f"  {t:<24} {v['reports']:>7} {v['with_json']:>5} {per:>16} {share:>6}")
    if s["planted_other_findings_per_report"] is not None:
        log("")
        log(f"Planted data: {s['planted_other_findings_per_report']:.2f} findings per report on "
            "entities unrelated to any planted pattern (not the entity, its relatives or its "
            f"procuratorate; {s['planted_reports_with_json']} of {s['planted_reports']} reports "
            "wrote findings.json)")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seeds", type=int, default=10, help="planted seeds and null seeds (each)")
    ap.add_argument("--null-seeds", type=int, default=None, help="null seeds (default --seeds)")
    ap.add_argument("--first-seed", type=int, default=FIRST_SEED)
    ap.add_argument("--quick", action="store_true",
                    help="fewer periods: last month and start quarters (planted), "
                         "last month (null)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--end", default=None,
                    help="last month of data (default: the last full month)")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep every seed's home under this folder")
    ap.add_argument("--json", type=Path, default=None, help="write the summary as JSON")
    ap.add_argument("--rescore", type=Path, default=None,
                    help="score the homes kept under this folder by an earlier --keep run")
    a = ap.parse_args(argv)
    if a.rescore:
        results = reread(a.rescore)
        s = summarise(results)
        print_table(s, sum(not r["null"] for r in results), sum(r["null"] for r in results))
        if a.json:
            a.json.write_text(json.dumps(s, ensure_ascii=False, indent=1), encoding="utf-8")
        return 0
    n_null = a.seeds if a.null_seeds is None else a.null_seeds
    seeds = [a.first_seed + i for i in range(a.seeds)]
    null_seeds = [a.first_seed + i for i in range(n_null)]
    log(f"eval_findings: {len(seeds)} planted + {len(null_seeds)} null seeds at the demo size "
        f"(6 units × 3 years){', quick' if a.quick else ''}; templates: {', '.join(templates())}")
    t0 = time.perf_counter()
    results = []
    todo = [(s, False) for s in seeds] + [(s, True) for s in null_seeds]
    for i, (seed, null) in enumerate(todo, 1):
        log(f"[{i}/{len(todo)}] seed {seed} {'null' if null else 'planted'} "
            f"({time.perf_counter() - t0:.0f} s elapsed)")
        try:
            results.append(evaluate_seed(seed, null=null, quick=a.quick, workers=a.workers,
                                         end=a.end, keep=a.keep))
        except (RuntimeError, subprocess.TimeoutExpired) as err:
            log(f"  seed {seed} skipped: {err}")
    s = summarise(results)
    print_table(s, sum(not r["null"] for r in results), sum(r["null"] for r in results))
    log(f"\n{len(results)} seeds in {time.perf_counter() - t0:.0f} s")
    if a.json:
        a.json.write_text(json.dumps(s, ensure_ascii=False, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
