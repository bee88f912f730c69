"""Issue 16: reproducible runs (--snapshot), earlier versions kept, the lazy Python API,
listing, workspaces and the wheel installed into a fresh environment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from casework import store
from casework.notebook import params
from casework.run import report

PERIOD = "2024-12"


@pytest.fixture(scope="session")
def kernel():
    return report.ensure_kernel(install=True)


def _csvs(files: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(files.glob("*.csv"))}


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_rerun_on_a_snapshot_reproduces_tables_after_a_newer_one(casework_home, kernel,
                                                                  synth_small):
    old = store.write_snapshot(
        {"records": synth_small.records, "modifications": synth_small.modifications},
        sources=[], mapping=None, account="fixture")
    old_id = old["id"]
    first = report.run("snapshot_overview", period=PERIOD, snapshot=old_id, docx=False)
    assert first.ok, first.describe()
    assert first.snapshot == old_id and first.previous is None
    files = Path(first.html).with_name("snapshot_overview_all_files")
    before = _csvs(files)
    assert before
    # a newer snapshot with other data becomes the latest
    half = synth_small.records.iloc[: len(synth_small.records) // 2]
    store.write_snapshot({"records": half, "modifications": synth_small.modifications},
                         sources=[], mapping=None, account="fixture")
    assert store.latest_id() != old_id
    again = report.run("snapshot_overview", period=PERIOD, snapshot=old_id, docx=False)
    assert again.ok, again.describe()
    assert again.snapshot == old_id
    assert _csvs(files) == before
    # the command line does the same (and the latest snapshot gives other tables)
    env = dict(os.environ, CASEWORK_HOME=str(casework_home), CASEWORK_USER="test-analyst")
    env.pop("CASEWORK_REPORTS", None)
    cli = subprocess.run([sys.executable, "-m", "casework.run.cli", "run", "snapshot_overview",
                          "--period", PERIOD, "--snapshot", old_id, "--no-docx"], env=env,
                         capture_output=True, text=True, timeout=300)
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert old_id in cli.stdout and _csvs(files) == before
    prov = json.loads((files / "provenance.json").read_text(encoding="utf-8"))
    assert old_id in json.dumps(prov, ensure_ascii=False)
    # the first version was kept, and the result says where
    assert again.previous and Path(again.previous).is_dir()
    assert len(list(Path(again.previous).parent.iterdir())) == 2  # both earlier versions
    kept = Path(again.previous)
    assert (kept / "snapshot_overview_all.html").is_file()
    assert _csvs(kept / "snapshot_overview_all_files") == before
    assert "previous version kept in" in again.describe()


def test_run_definition_snapshot_key(tmp_path):
    f = tmp_path / "2024-05.yaml"
    f.write_text('period: "2024-05"\ntemplates: [snapshot_overview]\nsnapshot: "abc"\n',
                 encoding="utf-8")
    assert params.load_run(f).snapshot == "abc"
    f.write_text('period: "2024-05"\ntemplates: [snapshot_overview]\n', encoding="utf-8")
    assert params.load_run(f).snapshot is None


def test_cli_run_and_batch_take_snapshot():
    from click.testing import CliRunner

    from casework.run.cli import cli

    for cmd in ("run", "batch"):
        out = CliRunner().invoke(cli, [cmd, "--help"])
        assert "--snapshot" in out.output


def test_lazy_public_submodules_in_a_fresh_interpreter(demo_home):
    code = ("import sys, casework as cw\n"
            "assert 'casework.analysis.panel' not in sys.modules\n"
            "df = cw.store.read('records', purpose='test')\n"
            "print(len(df), callable(cw.panel.compute), callable(cw.periods.parse))\n")
    env = dict(os.environ, CASEWORK_HOME=str(demo_home), CASEWORK_USER="test-analyst")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    n, panel_ok, periods_ok = out.stdout.split()
    assert int(n) > 0 and panel_ok == "True" and periods_ok == "True"


def test_list_prints_one_line_each_with_chinese_labels(demo_home):
    from click.testing import CliRunner

    from casework.run.cli import cli

    for kind, key, label in (("templates", "snapshot_overview", "数据概况"),
                             ("indicators", "accepted_arrest_review", "受理审查逮捕"),
                             ("rules", "missing_case_type", "案件类别未填录"),
                             ("mappings", "judgment_corpus", "裁判文书"),
                             ("snapshots", store.latest_id(), "最新")):
        out = CliRunner().invoke(cli, ["list", kind])
        assert out.exit_code == 0, out.output
        line = next(ln for ln in out.output.splitlines() if ln.startswith(key))
        assert label in line


def test_progress_only_on_a_terminal(monkeypatch, capsys):
    import io

    from casework.run import progress

    class Tty(io.StringIO):
        def isatty(self):
            return True

    assert not progress.enabled(io.StringIO())
    monkeypatch.delenv("CI", raising=False)
    assert progress.enabled(Tty())
    monkeypatch.setenv("CI", "1")
    assert not progress.enabled(Tty())
    with progress.activity("导入") as shown:
        pass
    assert shown is False and capsys.readouterr().err == ""


def test_findings_say_what_changed_since_the_previous_run(tmp_path):
    import numpy as np

    from casework.notebook import findings as nb_findings
    from tests.test_findings import _params, _report_signals

    P = _params(tmp_path)
    frame = nb_findings.report_findings(P, _report_signals(np.random.default_rng(1)))
    assert "与上次报告" not in nb_findings.findings_bullets(frame)  # no previous run
    doc = json.loads((P.output_dir / "findings.json").read_text(encoding="utf-8"))
    assert "changes" not in doc
    keep, gone = doc["findings"][0], {**doc["findings"][0], "entity_id": "old/gone",
                                      "entity_name": "已消失的单位"}
    prev = tmp_path / "prev.json"
    prev.write_text(json.dumps({"period": "2026-09", "period_label": "2026年9月",
                                "findings": [keep, gone]}, ensure_ascii=False),
                    encoding="utf-8")
    P.previous_findings = str(prev)
    frame = nb_findings.report_findings(P, _report_signals(np.random.default_rng(1)))
    doc = json.loads((P.output_dir / "findings.json").read_text(encoding="utf-8"))
    n = len(doc["findings"])
    assert doc["changes"]["previous_period"] == "2026-09"
    assert len(doc["changes"]["continuing"]) == 1 and len(doc["changes"]["new"]) == n - 1
    assert doc["changes"]["resolved"] == [["old/gone", keep["indicator"]]]
    md = nb_findings.findings_bullets(frame)
    assert "与上次报告（2026年9月）相比" in md and f"新出现 {n - 1} 项" in md
    assert "已不再出现 1 项（已消失的单位" in md
    assert "与上次报告" not in nb_findings.findings_bullets(frame, problems_only=True)


def test_previous_findings_is_found_in_the_latest_earlier_period(tmp_path):
    for p in ("2024-03", "2024-04", "2024-06"):
        d = tmp_path / p / "x_all_files"
        d.mkdir(parents=True)
        (d / "findings.json").write_text("{}", encoding="utf-8")
    assert report.previous_findings(tmp_path, "2024-05", "x_all").parts[-3] == "2024-04"
    assert report.previous_findings(tmp_path, "2024-05", "y_all") is None


def _fresh_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("CASEWORK_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(CASEWORK_USER="test-analyst",
               JUPYTER_PATH=str(Path(sys.prefix) / "share" / "jupyter"), **extra)
    return env


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_wheel_in_a_fresh_venv_inits_a_workspace_and_runs_the_demo(tmp_path):
    """Build the wheel, install it (no dependencies downloaded: they come from this
    environment through a .pth file) into a new venv away from the checkout, then
    ``casework init`` and a small ``casework demo`` inside the workspace. JUPYTER_PATH points
    at this environment's share/jupyter, where the dependencies' data files (nbconvert's HTML
    templates) are: a real install into the new venv would put them under its own prefix."""
    project = Path(__file__).resolve().parents[1]
    # build from a clean copy of what the wheel holds: no stale build/ folder, nothing written
    # into the checkout
    src = tmp_path / "src"
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for part in ("casework", "notebooks/reports", "params/monthly"):
        shutil.copytree(project / part, src / part, ignore=skip)
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(project / name, src / name)
    dist = tmp_path / "dist"
    run = dict(capture_output=True, text=True, timeout=240)
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w",
                          str(dist), str(src)], **run)
    assert out.returncode == 0, out.stderr
    wheel = next(dist.glob("casework-*.whl"))
    venv = tmp_path / "venv"
    out = subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], **run)
    assert out.returncode == 0, out.stderr
    py = venv / "bin" / "python"
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()"
                           "['purelib'])"], **run).stdout.strip()
    (Path(site) / "casework_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n",
                                                  encoding="utf-8")
    out = subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q",
                          "--no-deps", "--no-index", str(wheel)], **run)
    assert out.returncode == 0, out.stderr
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run([str(py), "-c", "import casework; print(casework.__file__)"],
                           cwd=elsewhere, env=_fresh_env(), **run)
    assert where.stdout.startswith(site), where.stdout + where.stderr
    cw = str(venv / "bin" / "casework")
    out = subprocess.run([cw, "init", "ws"], cwd=elsewhere, env=_fresh_env(), **run)
    assert out.returncode == 0, out.stdout + out.stderr
    ws = elsewhere / "ws"
    assert (ws / "notebooks" / "reports" / "snapshot_overview.ipynb").is_file()
    assert (ws / "params" / "monthly" / "2024-05.yaml").is_file()
    inside = ws / "reports"  # any folder inside the workspace finds it
    out = subprocess.run([cw, "demo", "--units", "2", "--years", "1", "--workers", "1",
                          "--template", "snapshot_overview"], cwd=inside,
                         env=_fresh_env(), **run)
    assert out.returncode == 0, out.stdout + out.stderr
    index = next(ws.glob("reports/*/index.html"))
    assert index.is_file() and str(index) in out.stdout
    assert next(ws.glob("reports/*/snapshot_overview_all.html")).is_file()
    assert (ws / "data" / "snapshots" / "latest").is_file()
    assert not (project / "casework" / "templates").exists()
    listing = subprocess.run([cw, "list", "templates"], cwd=ws, env=_fresh_env(), **run)
    assert "snapshot_overview" in listing.stdout


def test_batch_resolves_the_snapshot_before_anything_runs(demo_home, tmp_path):
    from casework.run import batch
    from casework.store import StoreError

    f = tmp_path / "2024-12.yaml"
    f.write_text('period: "2024-12"\ntemplates: [snapshot_overview]\nsnapshot: "nope"\n',
                 encoding="utf-8")
    reports = tmp_path / "reports"
    with pytest.raises(StoreError):  # the definition's snapshot is used …
        batch.batch(f, reports_dir=reports)
    with pytest.raises(StoreError):  # … and --snapshot wins over it
        batch.batch(params.load_run(f), snapshot="also-missing", reports_dir=reports)
    assert not reports.exists()


def test_init_makes_a_workspace_that_commands_inside_it_use(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from casework.base import config
    from casework.run.cli import cli

    monkeypatch.delenv("CASEWORK_HOME", raising=False)
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    out = CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    assert out.exit_code == 0, out.output
    ws = (tmp_path / "ws").resolve()
    assert (ws / config.MARKER).is_file() and (ws / "params" / "monthly").is_dir()
    deep = ws / "reports" / "2024-05"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert config.home() == ws and config.data_dir() == ws / "data"
    assert config.reports_dir() == ws / "reports"
    assert config.templates_dir() == ws / "notebooks" / "reports"
    assert params.templates_dir() == ws / "notebooks" / "reports"
    again = CliRunner().invoke(cli, ["init", str(ws)])  # nothing overwritten
    assert again.exit_code == 0 and "kept" in again.output
    monkeypatch.chdir(tmp_path)
    assert config.find_workspace() is None
    monkeypatch.setenv("CASEWORK_HOME", str(ws))
    assert config.home() == ws
