"""Hostile and malformed inputs through the real CLI (issue #2 part 6, issue #8 part 3).

The corpus is generated into ``tests/data/bad/`` (git-ignored) by :func:`build_corpus`; the
large members (a 100 MB single line, a zip bomb, a 1,000,000-row export with one bad row near
the end) are made once and reused. Each input is imported with
``python -m casework.run.cli import FILE`` under an empty temporary ``CASEWORK_HOME``, and the test
asserts: exit code 2 with a message in Chinese and English naming the file (or exit 0 with an
explicit warning for suspicious-but-loadable input), no traceback, no snapshot written on
failure, and the child's peak memory (``wait4`` rusage) under 1.5 GB.
"""

from __future__ import annotations

import csv
import datetime as dt
import fcntl
import gzip
import io as _stdio
import json
import os
import re
import struct
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BAD = ROOT / "tests" / "data" / "bad"
#: Bump when the corpus definition changes (forces regeneration of the cached files).
CORPUS_VERSION = "3"
MAX_RSS_MB = 1536

HEADERS = ["单位编码", "部门受案号", "统一受案号", "办案环节", "嫌疑人编号", "罪名", "受理日期",
           "审结日期", "案件名称", "年龄", "刑期（月）", "退回补充侦查次数"]
BIG_ROWS = 1_000_000
BIG_BAD_INDEX = 999_990  # 0-based record index of the one bad row; spreadsheet row = index + 2


def _row(k, **over):
    r = {"单位编码": "371329", "部门受案号": f"沭检刑诉受[2024]371329{k:06d}号",
         "统一受案号": f"3713292024{k:07d}", "办案环节": "审查起诉", "嫌疑人编号": f"P{k}",
         "罪名": "盗窃", "受理日期": "2024-03-01", "审结日期": "2024-04-01",
         "案件名称": "张某涉嫌盗窃案", "年龄": "35", "刑期（月）": "6", "退回补充侦查次数": "0"}
    r.update(over)
    return r


def _csv_text(rows, headers=HEADERS, delimiter=","):
    buf = _stdio.StringIO()
    w = csv.writer(buf, delimiter=delimiter, lineterminator="\n")
    w.writerow(headers)
    for r in rows:
        w.writerow([r.get(h, "") for h in headers] if isinstance(r, dict) else r)
    return buf.getvalue()


def _gb(text):
    return text.encode("gb18030")


def _good_rows(n=5, start=1):
    return [_row(k) for k in range(start, start + n)]


def _xlsx_bytes(rows, headers=HEADERS):
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(headers)
    for r in rows:
        ws.append([r.get(h) for h in headers])
    buf = _stdio.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _zip_bomb(path, *, member_mb):
    """A zip holding a real workbook skeleton whose sheet is ``member_mb`` MB of zeros."""
    skeleton = zipfile.ZipFile(_stdio.BytesIO(_xlsx_bytes(_good_rows(2))))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for info in skeleton.infolist():
            if info.filename == "xl/worksheets/sheet1.xml":
                continue
            zf.writestr(info.filename, skeleton.read(info.filename))
        with zf.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as fh:
            chunk = b"\0" * (1 << 20)
            for _ in range(member_mb):
                fh.write(chunk)


def _lying_zip(path):
    """A zip bomb whose headers declare a tiny uncompressed size for its 64 MB sheet."""
    _zip_bomb(path, member_mb=64)
    data = bytearray(path.read_bytes())
    name = b"xl/worksheets/sheet1.xml"
    for sig, size_off in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        start = 0
        while (i := data.find(sig, start)) >= 0:
            start = i + 4
            name_len = struct.unpack_from("<H", data, i + (26 if sig == b"PK\x03\x04" else 28))[0]
            hdr = 30 if sig == b"PK\x03\x04" else 46
            if bytes(data[i + hdr: i + hdr + name_len]) == name:
                struct.pack_into("<I", data, i + size_off, 1000)
    path.write_bytes(bytes(data))


def _big_export(path):
    """1,000,000 rows, GB18030, one impossible date at record BIG_BAD_INDEX (vectorised)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    k = pa.array(np.arange(BIG_ROWS))
    ks = pc.cast(k, pa.string())
    dates = np.full(BIG_ROWS, "2024-03-01", dtype=object)
    dates[BIG_BAD_INDEX] = "2024-02-30"
    cols = {"单位编码": pa.array(np.full(BIG_ROWS, "371329", dtype=object)),
            "部门受案号": pc.binary_join_element_wise("沭检刑诉受[2024]", ks, "号", ""),
            "统一受案号": pc.binary_join_element_wise("T", ks, ""),
            "办案环节": pa.array(np.full(BIG_ROWS, "审查起诉", dtype=object)),
            "嫌疑人编号": pc.binary_join_element_wise("P", ks, ""),
            "罪名": pa.array(np.full(BIG_ROWS, "盗窃", dtype=object)),
            "受理日期": pa.array(dates)}
    buf = pa.BufferOutputStream()
    pacsv.write_csv(pa.table(cols), buf, write_options=pacsv.WriteOptions(quoting_style="needed"))
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(buf.getvalue().to_pybytes().decode("utf-8").encode("gb18030"))
    os.replace(tmp, path)


# ---------------------------------------------------------------------------------------------
# The corpus: file name -> (bytes or a builder, expectation)
# ---------------------------------------------------------------------------------------------

FUTURE = (dt.date.today() + dt.timedelta(days=400)).isoformat()

#: name -> (expected exit code, fragments that must appear in the output)
CASES: dict[str, tuple[int, list[str]]] = {
    "encoding_big5.csv": (2, []),
    "encoding_latin1.csv": (2, ["decode", "line 3"]),
    "encoding_mixed_utf8_then_gb18030.csv": (2, ["mixed encodings", "line 4"]),
    "encoding_mixed_gb18030_then_utf8.csv": (2, ["decode", "line 4"]),
    "encoding_utf16_without_bom.csv": (2, ["binary"]),
    "binary_junk.csv": (2, []),
    "binary_junk.xlsx": (2, ["not a valid .xlsx"]),
    "binary_junk_noext": (2, []),
    "zip_bomb.xlsx": (2, ["zip bomb"]),
    "zip_bomb_lying_sizes.xlsx": (2, ["damaged"]),
    "zip_not_a_workbook.xlsx": (2, ["not an Excel workbook"]),
    "truncated.xlsx": (2, ["damaged or truncated"]),
    "header_only.xlsx": (2, ["no data rows"]),
    "old_excel.xls": (2, [".xls"]),
    "gzip_posing_as.csv": (2, ["compressed"]),
    "pdf_posing_as.csv": (2, ["PDF"]),
    "single_line_100mb.csv": (2, ["longer than", "line 1"]),
    "field_100mb.csv": (2, ["longer than", "line 3"]),
    "json_line_20mb.jsonl": (2, ["longer than", "line 2"]),
    "empty.csv": (2, ["empty"]),
    "whitespace_only.csv": (2, ["empty"]),
    "header_only.csv": (2, ["no data rows"]),
    "missing_header_row.csv": (2, ["No header was recognised"]),
    "missing_required_column.csv": (2, ["accepted_on", "受理日期"]),
    "duplicated_headers.csv": (2, ["duplicated headers", "受理日期"]),
    "headers_english_words.csv": (2, ["No header was recognised"]),
    "headers_russian.csv": (2, ["No header was recognised"]),
    "duplicated_rows.csv": (2, ["duplicated record key", "rows 3, 5"]),
    "malformed_dates.csv": (2, ["not a date", "rows 3, 4, 6"]),
    "ragged_rows.csv": (2, ["number of cells", "row 5"]),
    "unclosed_quote.csv": (2, []),
    "bad_numbers.csv": (2, ["not an integer", "row 3"]),
    "bad_flags_and_stage.csv": (2, ["stage: row 2"]),
    "json_syntax_error.jsonl": (2, ["rows 2, 4", "JSON"]),
    "json_not_objects.jsonl": (2, ["rows 1, 2", "JSON object"]),
    "truncated.parquet": (2, ["Parquet"]),
    "million_rows_one_bad.csv": (2, [f"row {BIG_BAD_INDEX + 2}", "not a date"]),
    "formula_cells.csv": (0, ["formula", "case_name: rows 2, 3, 4, 5"]),
    "future_dates.csv": (0, ["accepted_on: row 3: dates in the future"]),
    "dates_before_1950.csv": (0, ["accepted_on: rows 2, 4: dates before 1950"]),
    "negative_counts.csv": (0, ["supplementary_investigation: rows 3, 4: negative"]),
    "suspicious_values.csv": (0, ["closed before accepted", "age under 14",
                                  "term_months: row 4: negative"]),
}


def _small_files() -> dict[str, bytes]:
    good = _good_rows(3)
    f: dict[str, bytes] = {}
    big5_text = _csv_text(good)
    f["encoding_big5.csv"] = big5_text.encode("big5", errors="replace")
    latin1 = _csv_text([_row(1), _row(2, 案件名称="Café crème — résumé")])
    f["encoding_latin1.csv"] = latin1.encode("cp1252", errors="replace")
    f["encoding_mixed_utf8_then_gb18030.csv"] = _csv_text(good[:2]).encode("utf-8") + \
        _csv_text([_row(9, 案件名称="李某涉嫌诈骗案")]).split("\n", 1)[1].encode("gb18030")
    f["encoding_mixed_gb18030_then_utf8.csv"] = _gb(_csv_text(good[:2])) + \
        _csv_text([_row(9, 案件名称="李某涉嫌诈骗案罪")]).split("\n", 1)[1].encode("utf-8")
    f["encoding_utf16_without_bom.csv"] = _csv_text(good).encode("utf-16-le")
    rnd = __import__("random").Random(8)
    junk = bytes(rnd.getrandbits(8) for _ in range(65536))
    f["binary_junk.csv"] = junk
    f["binary_junk.xlsx"] = junk
    f["binary_junk_noext"] = junk
    f["zip_not_a_workbook.xlsx"] = _zip_of({"readme.txt": b"hello"})
    full = _xlsx_bytes(_good_rows(300))
    f["truncated.xlsx"] = full[: len(full) // 2]
    f["header_only.xlsx"] = _xlsx_bytes([])
    f["old_excel.xls"] = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(4096)
    f["gzip_posing_as.csv"] = gzip.compress(_gb(_csv_text(good)))
    f["pdf_posing_as.csv"] = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n"
    f["empty.csv"] = b""
    f["whitespace_only.csv"] = b"\n \n\t\n\r\n"
    f["header_only.csv"] = _gb(_csv_text([]))
    f["missing_header_row.csv"] = _gb(_csv_text(good).split("\n", 1)[1])
    f["missing_required_column.csv"] = _gb(_csv_text(
        good, headers=[h for h in HEADERS if h != "受理日期"]))
    f["duplicated_headers.csv"] = _gb(_csv_text(
        [[*(_row(k)[h] for h in HEADERS), "2024-05-01"] for k in (1, 2)],
        headers=[*HEADERS, "受理日期"]))
    f["headers_english_words.csv"] = _gb(_csv_text([list(_row(1).values())],
                                                   headers=["Procuratorate", "Case number",
                                                            "Unified number", "Phase", "Suspect",
                                                            "Crime", "Date received",
                                                            "Date closed", "Title", "Years",
                                                            "Sentence", "Returns"]))
    f["headers_russian.csv"] = _csv_text([list(_row(1).values())],
                                         headers=["Прокуратура", "Номер дела", "Единый номер",
                                                  "Стадия", "Подозреваемый", "Преступление",
                                                  "Дата", "Закрыто", "Название", "Возраст", "Срок",
                                                  "Возвраты"]).encode("utf-8")
    f["duplicated_rows.csv"] = _gb(_csv_text([_row(1), _row(2), _row(3), _row(2)]))
    f["malformed_dates.csv"] = _gb(_csv_text([_row(1), _row(2, 受理日期="2024-13-01"),
                                              _row(3, 受理日期="二〇二四年"), _row(4),
                                              _row(5, 受理日期="2023-02-29")]))
    ragged = _csv_text(good) + "371329,X,Y,审查起诉,P9,盗窃,2024-03-01,,,,,,extra,cells\n"
    f["ragged_rows.csv"] = _gb(ragged)
    f["unclosed_quote.csv"] = _gb(_csv_text(good[:1])
                                  + '371329,"A2,T2,审查起诉,P2,盗窃,2024-03-01\n'
                                  + _csv_text(good[1:]).split("\n", 1)[1])
    f["bad_numbers.csv"] = _gb(_csv_text([_row(1), _row(2, 退回补充侦查次数="两次")]))
    f["bad_flags_and_stage.csv"] = _gb(_csv_text([_row(1, 办案环节="二审"), _row(2)]))
    lines = [json.dumps({"unit_code": "371329", "dept_case_no": f"A{k}",
                         "unified_case_no": f"T{k}", "stage": "judgment", "person_id": f"P{k}",
                         "charge": "盗窃", "accepted_on": "2024-01-02"},
                        ensure_ascii=False) for k in range(4)]
    f["json_syntax_error.jsonl"] = "\n".join([lines[0], lines[1][:-5], lines[2],
                                              "{'single': 'quotes'}"]).encode()
    f["json_not_objects.jsonl"] = b'["a", "b"]\n[1, 2]\n'
    f["formula_cells.csv"] = _gb(_csv_text([_row(1, 案件名称="=cmd|' /C calc'!A0"),
                                            _row(2, 案件名称="+1+2"), _row(3, 案件名称="-2+3"),
                                            _row(4, 案件名称="@SUM(A1:A9)"), _row(5)]))
    f["future_dates.csv"] = _gb(_csv_text([_row(1), _row(2, 受理日期=FUTURE, 审结日期="")]))
    f["dates_before_1950.csv"] = _gb(_csv_text([_row(1, 受理日期="1949-09-30",
                                                     审结日期="1949-10-30"), _row(2),
                                                _row(3, 受理日期="1900/1/1", 审结日期="")]))
    f["negative_counts.csv"] = _gb(_csv_text([_row(1), _row(2, 退回补充侦查次数="-1"),
                                              _row(3, 退回补充侦查次数="-2")]))
    f["suspicious_values.csv"] = _gb(_csv_text([_row(1, 审结日期="2024-02-01"), _row(2, 年龄="12"),
                                                _row(3, **{"刑期（月）": "-6"})]))
    return f


def _zip_of(members):
    buf = _stdio.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def _parquet_truncated(path):
    import pandas as pd

    tmp = path.with_suffix(".full")
    pd.DataFrame({"unit_code": ["371329"] * 1000,
                  "dept_case_no": [f"A{k}" for k in range(1000)]}).to_parquet(tmp)
    data = tmp.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    tmp.unlink()


def _write_cached(path: Path, build) -> None:
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        build(tmp)
        os.replace(tmp, path)


def build_corpus(folder: Path = BAD) -> Path:
    """Write every corpus file into ``folder`` (large ones only once); safe under xdist."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        stamp = folder / ".version"
        if not stamp.exists() or stamp.read_text() != CORPUS_VERSION:
            for p in folder.iterdir():
                if p.is_file() and not p.name.startswith("."):
                    p.unlink()
        for name, data in _small_files().items():
            (folder / name).write_bytes(data)
        _write_cached(folder / "single_line_100mb.csv",
                      lambda p: p.write_bytes(b"A" * (100 << 20)))
        _write_cached(folder / "field_100mb.csv", lambda p: p.write_bytes(
            _gb(_csv_text(_good_rows(1))) + b'371329,"' + b"B" * (100 << 20) + b'",T2\n'))
        _write_cached(folder / "json_line_20mb.jsonl", lambda p: p.write_bytes(
            b'{"unit_code": "371329"}\n{"case_summary": "' + b"C" * (20 << 20) + b'"}\n'))
        _write_cached(folder / "zip_bomb.xlsx", lambda p: _zip_bomb(p, member_mb=400))
        _write_cached(folder / "zip_bomb_lying_sizes.xlsx", _lying_zip)
        _write_cached(folder / "truncated.parquet", _parquet_truncated)
        _write_cached(folder / "million_rows_one_bad.csv", _big_export)
        stamp.write_text(CORPUS_VERSION)
    return folder


@pytest.fixture(scope="module")
def corpus():
    return build_corpus()


def run_import(args, home: Path, *, timeout=600):
    """Run the real CLI; return (exit code, stdout, stderr, peak RSS in MB of the child)."""
    home.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ, CASEWORK_HOME=str(home), CASEWORK_USER="bad-input-test")
    env.pop("CASEWORK_DEBUG", None)
    out, err = home / "stdout.txt", home / "stderr.txt"
    with open(out, "wb") as fo, open(err, "wb") as fe:
        proc = subprocess.Popen([sys.executable, "-m", "casework.run.cli", "import",
                                 *map(str, args)],
                                cwd=ROOT, env=env, stdout=fo, stderr=fe)
        deadline = time.monotonic() + timeout
        try:
            while True:  # os.wait4 has no timeout: poll, and kill a child that hangs
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.monotonic() > deadline:
                    proc.kill()
                    _, status, usage = os.wait4(proc.pid, 0)
                    raise TimeoutError(f"the import did not finish within {timeout} s")
                time.sleep(0.05)
        except BaseException:
            if proc.poll() is None:
                proc.kill()
            raise
        proc.returncode = os.waitstatus_to_exitcode(status)
    return (proc.returncode, out.read_text("utf-8", errors="replace"),
            err.read_text("utf-8", errors="replace"), usage.ru_maxrss / 1024)


def _snapshots(home: Path) -> list[str]:
    snaps = home / "data" / "snapshots"
    return [p.name for p in snaps.iterdir() if not p.name.startswith(".") and p.name != "latest"] \
        if snaps.exists() else []


def test_corpus_is_large_enough(corpus):
    files = [p for p in corpus.iterdir() if p.is_file() and not p.name.startswith(".")]
    assert len(files) >= 30 and set(CASES) <= {p.name for p in files}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(corpus, tmp_path, name):
    code, fragments = CASES[name]
    path = corpus / name
    digest = (__import__("hashlib").sha256(path.read_bytes()).hexdigest()
              if path.stat().st_size < 50 << 20 else None)
    rc, out, err, rss = run_import([path], tmp_path / "home")
    text = out + err
    assert "Traceback" not in text, text[-3000:]
    assert rc == code, text[-3000:]
    assert rss < MAX_RSS_MB, f"peak memory {rss:.0f} MB"
    for frag in fragments:
        assert frag in text, (frag, text[-3000:])
    if code == 2:
        assert name in err
        assert re.search(r"[\u4e00-\u9fff]{2}", err) and re.search(r"[A-Za-z]{4,} [a-z]{2,}", err)
        assert _snapshots(tmp_path / "home") == []  # nothing written, not even half a snapshot
    else:
        assert "警告" in out and len(_snapshots(tmp_path / "home")) == 1
    if digest is not None:
        # never modified
        assert __import__("hashlib").sha256(path.read_bytes()).hexdigest() == digest


def test_one_bad_file_among_good_ones_writes_nothing(corpus, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(_gb(_csv_text(_good_rows(4))))
    rc, out, err, _ = run_import([good, corpus / "malformed_dates.csv"], tmp_path / "home")
    assert rc == 2 and "malformed_dates.csv" in err and "Traceback" not in err
    assert _snapshots(tmp_path / "home") == []
    rc, out, err, _ = run_import([good], tmp_path / "home")
    assert rc == 0 and len(_snapshots(tmp_path / "home")) == 1


def test_missing_file_and_bad_mapping(tmp_path):
    rc, _, err, _ = run_import([tmp_path / "nope.csv"], tmp_path / "home")
    assert rc == 2 and "nope.csv" in err and "Traceback" not in err
    good = tmp_path / "good.csv"
    good.write_bytes(_gb(_csv_text(_good_rows(2))))
    m = tmp_path / "m.yaml"
    m.write_text("columns: {no_such_column: 受理日期}\n", encoding="utf-8")
    rc, _, err, _ = run_import([good, "--mapping", m], tmp_path / "home")
    assert rc == 2 and "no_such_column" in err and "Traceback" not in err
