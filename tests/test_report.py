"""The report runner end to end: every template through the real runner, offline HTML, artefacts,
escaping of hostile text, formula neutralisation, atomic output, retries and timeouts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from casework.base import config
from casework.base.errors import ParameterError
from casework.notebook import params
from casework.run import report

TEMPLATES = params.discover()
PERIOD = "2024-12"  # the last month of the conftest synth_small data
REMOTE = re.compile(r"""(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//|@import|https?://""",
                    re.IGNORECASE)


@pytest.fixture(scope="session")
def kernel():
    """The ``casework`` kernel, registered in this environment when missing."""
    return report.ensure_kernel(install=True)


_RUNS: dict = {}


def _run_template(key: str, reports_dir: Path, **kw):
    cache = (key, str(reports_dir), tuple(sorted(kw.items())))
    if cache not in _RUNS:
        _RUNS[cache] = report.run(key, period=PERIOD, unit="all", reports_dir=reports_dir, **kw)
    return _RUNS[cache]


@pytest.fixture(scope="module")
def reports_root(tmp_path_factory):
    return tmp_path_factory.mktemp("reports")


def _strip_images(html: str) -> str:
    return re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "data:IMG", html)


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("key", TEMPLATES)
def test_template_runs_and_renders_offline(key, demo_home, kernel, reports_root):
    res = _run_template(key, reports_root)
    assert res.ok, res.describe()
    assert not res.warnings, res.warnings  # no glyph warnings, size within budget
    html_path = Path(res.html)
    assert html_path == reports_root / PERIOD / f"{key}_all.html"
    assert html_path.name.isascii()
    html = html_path.read_text(encoding="utf-8")
    assert len(html.encode()) == res.html_bytes < report.HTML_BUDGET_BYTES
    text = _strip_images(html)
    # no code, no parameters, no injected parameters
    nb = nbformat.read(params.load_sidecar(key).notebook, as_version=4)
    setup_line = next(line for c in nb.cells if c.cell_type == "code"
                      for line in c.source.splitlines() if "page.setup(" in line)
    assert setup_line.strip() not in text
    assert "injected-parameters" not in text and "casework_run" not in text
    assert "jp-InputArea-editor" not in text and "highlight" not in text
    assert not re.search(r'class="[^"]*jp-(Input|Output)Prompt', text)
    # offline: no script, stylesheet, font or link from any URL
    assert not REMOTE.search(text), REMOTE.search(text).group(0)
    assert "<script" not in text.lower()
    # title: the sidecar's Chinese title in <title> and the page
    title = params.load_sidecar(key).title_zh
    assert re.search(rf"<title>{re.escape(title)}[^<]*</title>", text)
    # every embedded image is a PNG data URI with alternative text
    for img in re.findall(r"<img [^>]*>", text):
        assert 'src="data:IMG"' in img and re.search(r'alt="[^"]+"', img), img


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("key", TEMPLATES)
def test_template_artefacts(key, demo_home, kernel, reports_root):
    res = _run_template(key, reports_root)
    assert res.ok, res.describe()
    files = reports_root / PERIOD / f"{key}_all_files"
    executed = nbformat.read(files / f"{key}_all.ipynb", as_version=4)
    assert executed.metadata["kernelspec"]["name"] == config.KERNEL_NAME
    assert report._notebook_errors(executed) is None
    html = Path(res.html).read_text(encoding="utf-8")
    for csv in files.glob("*.csv"):
        assert csv.read_bytes().startswith(b"\xef\xbb\xbf"), f"{csv.name}: UTF-8 with BOM"
        assert csv.name.isascii()
    n_png = len(list(files.glob("*.png")))
    assert html.count("data:image/png;base64,") >= n_png  # each chart embedded
    tables = sorted(p.stem for p in files.glob("*.csv"))
    prov = json.loads((files / "provenance.json").read_text(encoding="utf-8"))
    assert prov["snapshot_hash"] and prov["code_version"] and prov["account"] == "test-analyst"
    if prov["tables"]:
        sheets = pd.ExcelFile(files / "tables.xlsx").sheet_names
        assert set(prov["tables"]) <= set(sheets)
        assert set(prov["tables"]) <= set(tables)


#: Templates whose analysis calls memoized functions (casework.base.memo).
CACHED = ("periodic_overview", "topic_recurring")


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
@pytest.mark.parametrize("key", CACHED)
def test_the_cache_leaves_every_table_unchanged(key, demo_home, kernel, reports_root, tmp_path):
    first = _run_template(key, reports_root)  # with the cache (the default): fills it
    again = report.run(key, period=PERIOD, unit="all", reports_dir=tmp_path / "again",
                       docx=False)
    plain = report.run(key, period=PERIOD, unit="all", reports_dir=tmp_path / "plain",
                       docx=False, cache=False)
    assert first.ok and again.ok and plain.ok, [r.describe() for r in (first, again, plain)]

    def files(root):
        return Path(root) / PERIOD / f"{key}_all_files"

    calls = json.loads((files(tmp_path / "again") / "provenance.json").read_text("utf-8"))
    assert sum(c["hit"] for c in calls["cache"]["calls"].values()) > 0, calls["cache"]
    no_cache = json.loads((files(tmp_path / "plain") / "provenance.json").read_text("utf-8"))
    assert no_cache["cache"] == {"folder": "", "calls": {}}
    tables = sorted(p.name for p in files(tmp_path / "plain").glob("*.csv"))
    assert tables
    for root in (reports_root, tmp_path / "again"):
        assert sorted(p.name for p in files(root).glob("*.csv")) == tables
        for name in tables:
            assert (files(root) / name).read_bytes() == \
                (files(tmp_path / "plain") / name).read_bytes(), f"{key}: {name}"


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_snapshot_overview_numbers_match_the_data(demo_home, kernel, reports_root, synth_small):
    """The overview's tables equal counts computed here from the fixture data."""
    res = _run_template("snapshot_overview", reports_root)
    assert res.ok, res.describe()
    files = reports_root / PERIOD / "snapshot_overview_all_files"
    rec = synth_small.records
    by_stage = pd.read_csv(files / "by_stage.csv", encoding="utf-8-sig")
    expected = rec.groupby("stage").size()
    from casework.model import schema

    got = dict(zip(by_stage["办案环节"], by_stage["人数（记录数）"]))
    assert got == {schema.label("stage", k): int(v) for k, v in expected.items()}
    in_period = rec["accepted_on"].between("2024-12-01", "2024-12-31").sum()
    html = Path(res.html).read_text(encoding="utf-8")
    assert f"2024年12月受理 <strong>{in_period:,}</strong> 人" in html
    missing = pd.read_csv(files / "missing_share.csv", encoding="utf-8-sig")
    closed = missing.loc[missing["字段"] == "审结日期", "缺失比例"].iloc[0]
    assert closed == pytest.approx(rec["closed_on"].isna().mean())


# --------------------------------------------------------------------------------------------
# hostile text and formula injection
# --------------------------------------------------------------------------------------------

HOSTILE_UNIT = '罗庄区<script>alert("x")</script>院'
HOSTILE_CHARGE = '=HYPERLINK("http://evil.example/","点击")'
HOSTILE_NAME = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def hostile_home(tmp_path_factory, synth_small):
    import os

    from casework import store

    home = tmp_path_factory.mktemp("hostile")
    rec = synth_small.records.copy()
    first = rec["unit_code"].iloc[0]
    rec.loc[rec["unit_code"] == first, "unit_name"] = HOSTILE_UNIT
    rows = rec.index[rec["unit_code"] == first][:40]
    rec.loc[rows, "charge"] = HOSTILE_CHARGE
    rec.loc[rows, "case_name"] = HOSTILE_NAME
    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(home)
    try:
        store.write_snapshot({"records": rec}, account="fixture")
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    return home, first


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_hostile_text_is_escaped_and_spreadsheets_neutralised(hostile_home, kernel, monkeypatch,
                                                              tmp_path):
    home, unit = hostile_home
    monkeypatch.setenv("CASEWORK_HOME", str(home))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    templates = tmp_path / "templates"
    # a section showing data text through every page function
    copy_template("snapshot_overview", templates, "hostile", at=-1, code=(
        'page.say("单位：{u}；罪名：{c}", u=P.unit_label, c=records.charge.iloc[0])\n'
        'page.md(records.case_name.iloc[0])\n'
        'page.skip(records.case_name.iloc[0])\n'
        'page.table(records.groupby(["unit_name", "charge", "case_name"]).size().rename("n")'
        '.reset_index(), "hostile")\n'
        'page.attachment(records[["unit_name", "charge", "case_name", "person_name"]].head(50), '
        '"case_list", caption=records.unit_name.iloc[0])'))
    res = report.run("hostile", period=PERIOD, unit=unit, templates_dir=templates,
                     reports_dir=tmp_path / "reports")
    assert res.ok, res.describe()
    html = _strip_images(Path(res.html).read_text(encoding="utf-8"))
    assert "<script" not in html.lower()
    assert not re.search(r"<img[^>]*onerror", html)  # the hostile tag appears only as text
    assert "&lt;script&gt;" in html and "&lt;img src=x onerror=alert" in html.replace("\\", "")
    assert "evil.example" not in re.findall(r'href="([^"]*)"', html).__str__()
    files = Path(res.html).with_name(f"hostile_{unit}_files")
    csv = (files / "hostile.csv").read_text(encoding="utf-8-sig")
    assert "'=HYPERLINK" in csv and ",=HYPERLINK" not in csv and "\n=HYPERLINK" not in csv
    from openpyxl import load_workbook

    for book in ("tables.xlsx", "case_list.xlsx"):
        wb = load_workbook(files / book)
        cells = [c for ws in wb for row in ws.iter_rows() for c in row]
        assert not [c.value for c in cells if c.data_type == "f"], f"{book}: formula cells"
        assert any(str(c.value).startswith("'=HYPERLINK") for c in cells)
    case_list = pd.read_excel(files / "case_list.xlsx")
    assert "嫌疑人姓名" not in case_list.columns  # personal columns never leave, even internally


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_circulated_level_refuses_attachments_and_suppresses(hostile_home, kernel, monkeypatch,
                                                             tmp_path):
    home, unit = hostile_home
    monkeypatch.setenv("CASEWORK_HOME", str(home))
    templates = tmp_path / "templates"
    copy_template("snapshot_overview", templates, "circ", at=-1, code=(
        'page.attachment(records[["unit_name", "prosecutor_name"]], "case_list", '
        'caption="案件清单")\n'
        'page.table(records.groupby("prosecutor_name").size().rename("n").reset_index(), '
        '"by_prosecutor")'))
    res = report.run("circ", period=PERIOD, unit="all", level="circulated",
                     templates_dir=templates, reports_dir=tmp_path / "reports")
    assert res.ok, res.describe()
    files = Path(res.html).with_name("circ_all_files")
    assert not (files / "case_list.xlsx").exists()
    html = Path(res.html).read_text(encoding="utf-8")
    assert "不附案件清单" in html
    from casework import store

    read = store.read("records", columns=["prosecutor_name"], purpose="test: names")
    names = set(read["prosecutor_name"].dropna())
    table = pd.read_csv(files / "by_prosecutor.csv", encoding="utf-8-sig", dtype=str)
    shown = " ".join(table.astype(str).values.ravel())
    assert names and not [n for n in names if n in shown] and not [n for n in names if n in html]


# --------------------------------------------------------------------------------------------
# atomic output, failures, retries, timeouts
# --------------------------------------------------------------------------------------------


def copy_template(src_key: str, folder: Path, new_key: str, code: str | None = None,
                  at: int = 4) -> None:
    """Copy a committed template under a new key, optionally inserting a code cell at ``at``."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(config.TEMPLATES_DIR / f"{src_key}.yaml", folder / f"{new_key}.yaml")
    nb = nbformat.read(config.TEMPLATES_DIR / f"{src_key}.ipynb", as_version=4)
    for cell in nb.cells:
        cell.source = cell.source.replace(f'template="{src_key}"', f'template="{new_key}"')
    if code is not None:
        nb.cells.insert(at if at >= 0 else len(nb.cells) + at, nbformat.v4.new_code_cell(code))
    nbformat.write(nb, folder / f"{new_key}.ipynb")


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_failed_run_keeps_the_earlier_good_report(demo_home, kernel, tmp_path):
    good = tmp_path / "good"
    bad = tmp_path / "bad"
    copy_template("snapshot_overview", good, "overview")
    out = tmp_path / "reports"
    first = report.run("overview", period=PERIOD, templates_dir=good, reports_dir=out)
    assert first.ok
    html_before = Path(first.html).read_bytes()
    files = Path(first.html).with_name("overview_all_files")
    files_before = sorted(p.name for p in files.iterdir())
    copy_template("snapshot_overview", bad, "overview",
                  'missing_column = records["no_such_column"]')
    second = report.run("overview", period=PERIOD, templates_dir=bad, reports_dir=out)
    assert not second.ok
    assert second.error["ename"] == "KeyError" and "no_such_column" in second.error["evalue"]
    assert second.error["source"].startswith("missing_column") and second.error["cell"] == 5
    assert "no_such_column" in second.describe()
    assert Path(first.html).read_bytes() == html_before
    assert sorted(p.name for p in files.iterdir()) == files_before
    failed = Path(second.error["failed_notebook"])
    assert failed.parent == out / "_failed" / PERIOD and failed.exists()
    assert not list((out / PERIOD).glob(".tmp-*")) and not list((out / PERIOD).glob(".old-*"))
    # a failing first run leaves nothing at all
    third = report.run("overview", period="2024-11", templates_dir=bad, reports_dir=out)
    assert not third.ok and sorted(p.name for p in (out / "2024-11").iterdir()) == []


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_cell_timeout_fails_cleanly(demo_home, kernel, tmp_path):
    copy_template("snapshot_overview", tmp_path / "t", "slow", "import time; time.sleep(120)")
    res = report.run("slow", period=PERIOD, templates_dir=tmp_path / "t",
                     reports_dir=tmp_path / "r", execution_timeout=12)
    assert not res.ok and res.duration_s < 60
    assert "Timeout" in res.error["ename"] and "time.sleep" in res.error["source"]
    assert res.error["cell"] == 5
    assert not (tmp_path / "r" / PERIOD / "slow_all.html").exists()


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_kernel_start_failure_is_retried_once(demo_home, kernel, tmp_path, monkeypatch):
    import papermill

    real = papermill.execute_notebook
    calls = []

    def flaky(*a, **k):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("Kernel didn't respond in 60 seconds")
        return real(*a, **k)

    monkeypatch.setattr(papermill, "execute_notebook", flaky)
    res = report.run("snapshot_overview", period=PERIOD, reports_dir=tmp_path)
    assert res.ok and res.attempts == 2 and len(calls) == 2

    calls.clear()
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: (calls.append(1),
                                         (_ for _ in ()).throw(RuntimeError("no kernel")))[1])
    res = report.run("snapshot_overview", period=PERIOD, reports_dir=tmp_path / "x")
    assert not res.ok and res.attempts == 2 and len(calls) == 2
    assert res.error["ename"] == "RuntimeError"


def test_missing_kernel_is_a_clear_error(monkeypatch):
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def missing(self, name):
        raise NoSuchKernel(name)

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", missing)
    with pytest.raises(Exception) as info:
        report.ensure_kernel()
    assert "make env" in str(info.value) and "casework" in str(info.value)


def test_unwritable_reports_folder_is_a_clear_error(demo_home, tmp_path, kernel):
    import os

    if os.geteuid() == 0:
        target = Path("/proc/casework-cannot-write")  # even root cannot create folders here
    else:
        target = tmp_path / "ro"
        target.mkdir()
        target.chmod(0o500)
    with pytest.raises(Exception) as info:
        report.run("snapshot_overview", period=PERIOD, reports_dir=target)
    assert "报告目录" in str(info.value) and "write" in str(info.value)


def test_render_html_is_offline_even_with_math_and_markdown_links():
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "casework", "display_name": "casework"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 标题\n\n公式 $x^2$"),
                nbformat.v4.new_code_cell("secret_code = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("print('hidden source')")]
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="可见输出\n"),
                           nbformat.v4.new_output("stream", name="stderr",
                                                  text="UserWarning: noise\n")]
    html = report.render_html(nb, title="测试报告", footer="页脚 <b>")
    assert "<title>测试报告</title>" in html
    assert "可见输出" in html and "noise" not in html
    assert "secret_code" not in html and "hidden source" not in html
    assert not REMOTE.search(html) and "<script" not in html.lower()
    assert "页脚 &lt;b&gt;" in html


def test_recover_removes_dead_temp_folders_and_restores_old_files(tmp_path):
    period = tmp_path / PERIOD
    period.mkdir()
    (period / "t_all.html").write_text("<html></html>", encoding="utf-8")
    dead_pid = 2 ** 22 + 12345  # above the default pid_max: never a live process
    (period / f".tmp-t_all-{dead_pid}-0123abcd").mkdir()
    old = period / f".old-t_all-{dead_pid}-89abcdef"
    old.mkdir()
    (old / "x.csv").write_text("a", encoding="utf-8")
    import os

    live = period / f".tmp-u_all-{os.getpid()}-0123abcd"
    live.mkdir()
    done = report.recover(period)
    assert (period / "t_all_files" / "x.csv").exists()
    assert not (period / f".tmp-t_all-{dead_pid}-0123abcd").exists()
    assert live.exists() and len(done) == 2


def test_prepare_rejects_unit_for_template_without_unit(tmp_path):
    (tmp_path / "nounit.yaml").write_text(
        'title_zh: 无单位\nparameters:\n  period: {type: period, default: "2024-05", '
        'description: 统计期间}\n',
        encoding="utf-8")
    (tmp_path / "nounit.ipynb").write_text("{}", encoding="utf-8")
    with pytest.raises(ParameterError, match="不分单位"):
        report.prepare("nounit", period="2024-05", unit="371302", templates_dir=tmp_path)
    sc, values = report.prepare("nounit", period="2024-05", templates_dir=tmp_path)
    assert values == {"period": "2024-05"}


@pytest.mark.notebook
@pytest.mark.xdist_group("notebooks")
def test_getting_started_notebook_runs_on_the_demo_snapshot(demo_home, kernel, tmp_path):
    import papermill as pm

    nb = pm.execute_notebook(str(config.NOTEBOOKS_DIR / "getting_started.ipynb"),
                             str(tmp_path / "out.ipynb"), kernel_name=config.KERNEL_NAME,
                             cwd=str(tmp_path), progress_bar=False, execution_timeout=300,
                             kernel_manager_class=report._kernel_manager_class())
    assert report._notebook_errors(nb) is None
    texts = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                     for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "不捕率" in texts and "入门笔记本" in texts  # the indicator and the audited purpose
