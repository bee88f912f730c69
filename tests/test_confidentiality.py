"""Circulated reports carry no personal or case-identifying data (issue: confidentiality levels).

Every template is rendered at the ``circulated`` level on synthetic data whose names, ID
numbers, addresses and case numbers are recognisable markers — also written into the free-text
case summaries, as real summaries often name the suspect — and none of them may appear in the
HTML, the CSV tables, the xlsx workbooks or the executed notebook.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from openpyxl import load_workbook

from casework import store, synth
from casework.notebook import params
from casework.run import report

PERIOD = "2024-12"
TEMPLATES = params.discover()

NAME = re.compile(r"甄标\d{5}")            # suspects
PROSECUTOR = re.compile(r"检标\d{3}")        # prosecutors
ADDRESS = re.compile(r"标识路\d+号")
CASE_NO = re.compile(r"受\[\d{4}\]\d{6,}号")  # 部门受案号
DIGITS = re.compile(r"\d{17}[\dX]|\d{17}")   # ID numbers (18) and 统一受案号 (17)


@pytest.fixture(scope="module")
def marked_home(tmp_path_factory):
    """A store whose identifying values are all recognisable markers."""
    data = synth.make(units=2, years=2, end=PERIOD, seed=11)
    rec = data.records.copy()
    people = {p: f"甄标{i:05d}" for i, p in enumerate(rec["person_id"].dropna().unique())}
    rec["person_name"] = rec["person_id"].map(people).astype("string")
    prosecutors = {p: f"检标{i:03d}" for i, p in enumerate(rec["prosecutor_id"].dropna().unique())}
    rec["prosecutor_name"] = rec["prosecutor_id"].map(prosecutors).astype("string")
    rec["address"] = ("标识路" + rec.index.astype(str) + "号").astype("string")
    rec["case_summary"] = (
        rec["case_summary"].fillna("") + "。犯罪嫌疑人" + rec["person_name"] + "（身份证号"
        + rec["id_number"].fillna("") + "，住" + rec["address"] + "）"
    ).astype("string")
    home = tmp_path_factory.mktemp("marked_home")
    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(home)
    try:
        store.write_snapshot({"records": rec, "modifications": data.modifications},
                             sources=[], mapping=None, account="fixture")
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    secrets = set(rec["id_number"].dropna()) | set(rec["unified_case_no"].dropna())
    return home, secrets


def _output_text(html: Path) -> dict[str, str]:
    """Every text a reader of the report can open: HTML, CSVs, xlsx cells, executed notebook."""
    files = html.with_name(html.stem + "_files")
    texts = {html.name: html.read_text(encoding="utf-8")}
    for path in sorted(files.rglob("*")):
        if path.suffix in (".csv", ".ipynb", ".json", ".html"):
            texts[path.name] = path.read_text(encoding="utf-8-sig")
        elif path.suffix == ".xlsx":
            wb = load_workbook(path, read_only=True)
            texts[path.name] = " ".join(
                str(v) for ws in wb.worksheets for row in ws.iter_rows(values_only=True)
                for v in row if v is not None)
    return texts


@pytest.mark.notebook
@pytest.mark.parametrize("key", TEMPLATES)
def test_circulated_report_shows_no_identifying_data(key, marked_home, monkeypatch, tmp_path):
    home, secrets = marked_home
    monkeypatch.setenv("CASEWORK_HOME", str(home))
    report.ensure_kernel(install=True)
    res = report.run(key, period=PERIOD, unit="all", level="circulated", reports_dir=tmp_path)
    assert res.ok, res.describe()
    texts = _output_text(Path(res.html))
    assert len(texts) > 1  # the HTML and at least its executed notebook
    for name, text in texts.items():
        text = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", text)
        for pattern in (NAME, PROSECUTOR, ADDRESS, CASE_NO):
            found = pattern.findall(text)
            assert not found, f"{key}: {name} shows {found[:3]}"
        leaked = set(DIGITS.findall(text)) & secrets
        assert not leaked, f"{key}: {name} shows {sorted(leaked)[:3]}"
        assert not any(f"{k}.xlsx" == name for k in ("case_list", "cases")), name


def test_markers_are_really_in_the_data(marked_home, monkeypatch):
    """The test above could pass vacuously if the markers never reached the store."""
    home, secrets = marked_home
    monkeypatch.setenv("CASEWORK_HOME", str(home))
    rec = store.read("records", columns=["person_name", "prosecutor_name", "case_summary"],
                     purpose="test: markers present")
    assert rec["person_name"].str.fullmatch(NAME.pattern).all()
    assert rec["prosecutor_name"].str.fullmatch(PROSECUTOR.pattern).all()
    assert rec["case_summary"].str.contains(ADDRESS.pattern).all()
    assert len(secrets) > 1000
