"""The monthly batch: parallel runs, a failing template, index page and log, SIGKILL mid-run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

from casework.base import config
from casework.notebook import params
from casework.run import batch, report

PERIOD = "2024-12"


@pytest.fixture(scope="session")
def kernel():
    return report.ensure_kernel(install=True)


def copy_template(src_key: str, folder: Path, new_key: str, code: str | None = None, at: int = 4):
    """Copy a committed template under a new key, optionally inserting a code cell at ``at``."""
    folder.mkdir(parents=True, exist_ok=True)
    text = (config.TEMPLATES_DIR / f"{src_key}.yaml").read_text(encoding="utf-8")
    (folder / f"{new_key}.yaml").write_text(text, encoding="utf-8")
    nb = nbformat.read(config.TEMPLATES_DIR / f"{src_key}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace(f'template="{src_key}"', f'template="{new_key}"')
    if code is not None:
        nb.cells.insert(at if at >= 0 else len(nb.cells) + at, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, folder / f"{new_key}.ipynb")


def _env(home: Path, reports: Path, templates: Path) -> dict:
    env = dict(os.environ)
    env.update(CASEWORK_HOME=str(home), CASEWORK_REPORTS=str(reports),
               CASEWORK_TEMPLATES=str(templates), CASEWORK_USER="test-analyst")
    return env


def _cli(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "casework.run.cli", *args], env=env,
                          capture_output=True, text=True, **kw)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_failing_template_fails_the_batch_but_others_appear(demo_home, kernel, tmp_path,
                                                            synth_small):
    templates = tmp_path / "templates"
    copy_template("snapshot_overview", templates, "overview")
    copy_template("snapshot_overview", templates, "broken",
                  code='raise ValueError("故意失败 deliberate failure")')
    unit = sorted(synth_small.records["unit_code"].unique())[0]
    definition = tmp_path / f"{PERIOD}.yaml"
    definition.write_text(f'period: "{PERIOD}"\nunits: ["all", "{unit}"]\ntemplates: '
                          '[overview, broken]\n'
                          "level: internal\n", encoding="utf-8")
    reports = tmp_path / "reports"
    proc = _cli(["batch", str(definition), "--workers", "2"], _env(demo_home, reports, templates),
                timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    # the summary names the template, the unit, the failing cell and the error
    assert "成功 2，失败 2" in out
    assert f"broken 单位 {unit}" in out and "broken 单位 all" in out
    assert "第 5 个单元格" in out and "ValueError" in out and "故意失败" in out
    assert "Traceback" not in proc.stderr
    period = reports / PERIOD
    assert (period / "overview_all.html").exists() and (period / f"overview_{unit}.html").exists()
    assert not list(period.glob("broken_*.html")) and not list(period.glob("broken_*_files"))
    assert len(list((reports / "_failed" / PERIOD).glob("broken_*.ipynb"))) == 2
    # index page: every report with status, duration, link
    index = (period / "index.html").read_text(encoding="utf-8")
    assert index.count("<tr><td>") == 4
    assert index.count('class="ok">成功') == 2 and index.count('class="bad">失败') == 2
    assert 'href="overview_all.html"' in index and f'href="overview_{unit}.html"' in index
    assert "故意失败" in index and "秒" in index and "http" not in index
    # log: start, one line per report, end
    log_text = (period / "batch_log.jsonl").read_text(encoding="utf-8")
    events = [json.loads(line) for line in log_text.splitlines()]
    assert [e["event"] for e in events].count("report") == 4
    assert events[0]["event"] == "start" and events[-1]["event"] == "end"
    assert events[-1]["failed"] == 2 and events[-1]["ok"] == 2
    failed = [e for e in events if e["event"] == "report" and e["status"] == "failed"]
    assert {e["unit"] for e in failed} == {"all", unit}
    assert all(e["error"]["ename"] == "ValueError" and e["error"]["cell"] == 5 for e in failed)
    ok = [e for e in events if e["event"] == "report" and e["status"] == "ok"]
    assert all(e["duration_s"] > e["kernel_s"] > 0 for e in ok)
    assert all(e["snapshot"] == events[0]["snapshot"] for e in events)


def test_units_each_expands_to_the_snapshot_units(demo_home, synth_small):
    from casework import store

    d = params.RunDefinition(period=PERIOD, units="each", templates=["snapshot_overview"])
    sid = store.manifest()["id"]
    jobs = batch.jobs(d, snapshot_id=sid)
    assert [j["unit"] for j in jobs] == sorted(synth_small.records["unit_code"].unique())
    assert all(j["snapshot"] == sid and j["period"] == PERIOD for j in jobs)


def test_template_without_unit_runs_once(demo_home, tmp_path):
    from casework import store

    (tmp_path / "whole.yaml").write_text(
        'title_zh: 全院\nparameters:\n  period: {type: period, default: "2024-05", '
        'description: 统计期间}\n',
        encoding="utf-8")
    (tmp_path / "whole.ipynb").write_text("{}", encoding="utf-8")
    d = params.RunDefinition(period=PERIOD, units=["371302", "371311"], templates=["whole"])
    jobs = batch.jobs(d, snapshot_id=store.manifest()["id"], templates_dir=tmp_path)
    assert [(j["template"], j["unit"]) for j in jobs] == [("whole", "all")]


def test_bad_workers_is_a_clear_error(demo_home, tmp_path):
    definition = tmp_path / "b.yaml"
    definition.write_text(f'period: "{PERIOD}"\n', encoding="utf-8")
    with pytest.raises(report.ParameterError, match="workers"):
        batch.batch(definition, workers=0, progress=False)


def _our_processes(marker: str) -> list[int]:
    """Pids whose environment carries ``marker`` (processes this test started, kernels
    included)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if marker.encode() in environ.split(b"\0"):
            pids.append(int(entry.name))
    return pids


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.skipif(not Path("/proc/self/environ").exists(),
                    reason="needs /proc to find the kernels")
def test_sigkill_mid_batch_leaves_no_half_report_and_rerun_completes(demo_home, kernel, tmp_path,
                                                                     synth_small):
    from casework import store

    templates = tmp_path / "templates"
    copy_template("snapshot_overview", templates, "overview", at=-1,
                  code="import time; time.sleep(3)")
    definition = tmp_path / f"{PERIOD}.yaml"
    reports = tmp_path / "reports"
    env = _env(demo_home, reports, templates)
    period = reports / PERIOD
    # a good earlier report that the killed batch must not damage
    first = _cli(["run", "overview", "--period", PERIOD, "--unit", "all"], env, timeout=300)
    assert first.returncode == 0, first.stdout + first.stderr
    before = (period / "overview_all.html").read_bytes()

    units = sorted(synth_small.records["unit_code"].unique())
    definition.write_text(f'period: "{PERIOD}"\nunits: {json.dumps(["all", *units])}\ntemplates: '
                          '[overview]\n',
                          encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-m", "casework.run.cli", "batch", str(definition),
                             "--workers", "2"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        deadline = time.time() + 240
        while time.time() < deadline:  # wait until a kernel has written charts into a temp folder
            if any(p.suffix == ".png" for t in period.glob(".tmp-*") for p in t.rglob("*")):
                break
            if proc.poll() is not None:
                pytest.fail("the batch ended before it could be killed")
            time.sleep(0.2)
        else:
            pytest.fail("no report started within the deadline")
        os.killpg(proc.pid, signal.SIGKILL)  # the batch and its worker processes
        for pid in _our_processes(f"CASEWORK_REPORTS={reports}"):  # and the kernels
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    time.sleep(0.5)
    # no half report: every HTML present is complete and has its artefact folder
    for html in period.glob("*.html"):
        if html.name == "index.html":
            continue
        assert html.read_text(encoding="utf-8").rstrip().endswith("</html>")
        files = html.with_name(html.stem + "_files")
        assert (files / f"{html.stem}.ipynb").exists() and (files / "provenance.json").exists()
    html_all = period / "overview_all.html"
    assert html_all.exists()
    if html_all.read_bytes() != before:  # replaced by the killed batch: then completely
        assert (period / "overview_all_files" / "tables.xlsx").exists()
    # the audit log is intact (verify_audit raises AuditError on a damaged chain)
    store.verify_audit()

    rerun = _cli(["batch", str(definition), "--workers", "2"], env, timeout=600)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    for u in ["all", *units]:
        assert (period / f"overview_{u}.html").exists()
    assert not list(period.glob(".tmp-*")) and not list(period.glob(".old-*"))
    assert not _our_processes(f"CASEWORK_REPORTS={reports}")  # nothing left running


@pytest.mark.notebook
def test_demo_generates_imports_and_runs_the_batch(kernel, tmp_path):
    """`casework demo` end to end (one template, to keep it quick): the exports it generates
    go through the real importer into a snapshot holding every generated row, and the batch
    writes an index page for the data's last month."""
    import pandas as pd

    templates = tmp_path / "templates"
    copy_template("snapshot_overview", templates, "snapshot_overview")
    env = _env(tmp_path / "home", tmp_path / "reports", templates)
    proc = _cli(["demo", "--workers", "1"], env, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr

    demo = tmp_path / "home" / "data" / "demo"
    truth = json.loads((demo / "truth.json").read_text(encoding="utf-8"))
    generated = pd.read_parquet(demo / "records.parquet", columns=["person_id"])
    manifest = json.loads(next((tmp_path / "home" / "data" / "snapshots").glob("*/manifest.json"))
                          .read_text(encoding="utf-8"))
    assert manifest["row_counts"]["records"] == len(generated) > 10_000
    # the real importer ran
    assert any(Path(s["path"]).suffix == ".csv" for s in manifest["sources"])
    assert f"{len(generated):,}" in proc.stdout  # the demo says what it generated / imported
    index = tmp_path / "reports" / truth["end"] / "index.html"
    assert index.exists() and str(index) in proc.stdout
    assert (tmp_path / "reports" / truth["end"] / "snapshot_overview_all.html").exists()
    assert _cli(["audit", "--verify"], env).returncode == 0
