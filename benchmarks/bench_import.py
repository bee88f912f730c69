"""Benchmark: import of a large GB18030 CSV export against a bare ``pandas.read_csv``.

Generates a GB18030 CSV with Chinese headers (every ``records`` column, headed by its
``label_zh``; codes as Chinese labels, 是/否 flags, ``；``-joined charges, mixed date forms,
case numbers with 〔〕 brackets), then times in the same run

* the baseline: ``pandas.read_csv(path, encoding="gb18030")`` (parse only: no header mapping,
  no type coercion, no validation), and
* ``casework.ingest.read_export(path)`` (decode, map headers, coerce every column, validate),

and prints both times and their ratio (target: ≤ 2×, issue #2).

Usage::

    .venv/bin/python benchmarks/bench_import.py [--rows 1000000] [--repeat 1] [--keep DIR]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from casework.model import schema  # noqa: E402


def _labels(codes: str) -> list[str]:
    return [zh for zh, _ in schema.CODE_TABLES[codes].values()]


def _pick(rng, values, n, *, null_share=0.0):
    arr = pa.array(np.asarray(values, dtype=object)[rng.integers(0, len(values), n)], pa.string())
    if null_share:
        arr = pc.if_else(pa.array(rng.random(n) < null_share), pa.scalar(None, pa.string()), arr)
    return arr


def _padded(ints, width):
    return pc.utf8_lpad(pc.cast(pa.array(ints), pa.string()), width=width, padding="0")


def _dates(rng, days, n, *, null_share=0.0):
    """Dates as text in the mixed forms of real exports."""
    ts = pa.array(days.astype("datetime64[s]"))
    forms = [
        pc.strftime(ts, format="%Y-%m-%d"),
        pc.replace_substring_regex(pc.strftime(ts, format="%Y/%m/%d"), pattern="/0",
                                   replacement="/"),
        pc.replace_substring_regex(pc.strftime(ts, format="%Y年%m月%d日"), pattern="([年月])0",
                                   replacement="\\1"),
        pc.strftime(ts, format="%Y%m%d"),
    ]
    which = rng.integers(0, len(forms), n)
    out = forms[0]
    for k in range(1, len(forms)):
        out = pc.if_else(pa.array(which == k), forms[k], out)
    if null_share:
        out = pc.if_else(pa.array(rng.random(n) < null_share), pa.scalar(None, pa.string()), out)
    return out


def make_export(path, rows: int, *, seed: int = 1, encoding: str = "gb18030") -> Path:
    """Write a ``rows``-row Chinese-header CSV export (vectorised: ~seconds for 1 M rows)."""
    rng = np.random.default_rng(seed)
    n = rows
    units = np.array(["371329", "371302", "341023", "522421", "131102", "420381"])
    unit_names = {"371329": "沭阳县人民检察院", "371302": "兰山区人民检察院",
                  "341023": "黟县人民检察院", "522421": "七星关区人民检察院",
                  "131102": "桃城区人民检察院", "420381": "蕲春县人民检察院"}
    ui = rng.integers(0, len(units), n)
    u = units[ui]
    stage_codes = np.array(["arrest_review", "prosecution_review"])
    st = stage_codes[rng.integers(0, 2, n)]
    serial = np.arange(n) + 1
    year = rng.integers(2021, 2025, n)
    biz = np.where(st == "arrest_review", "刑捕", "刑诉")
    br = rng.integers(0, 3, n)
    lb = np.array(["[", "〔", "【"])[br]
    rb = np.array(["]", "〕", "】"])[br]
    dept_case_no = pc.binary_join_element_wise(
        pa.array(np.char.add("沭检", biz)), "受", pa.array(lb),
        pc.cast(pa.array(year), pa.string()), pa.array(rb), pa.array(u), _padded(serial, 7),
        "号", "")
    unified = pc.binary_join_element_wise(pa.array(u), pc.cast(pa.array(year), pa.string()),
                                          _padded(serial // 2, 7), "")
    charges = list(schema.CHARGES)
    ch = np.asarray(charges, dtype=object)[rng.integers(0, len(charges), n)]
    second = np.asarray(charges, dtype=object)[rng.integers(0, len(charges), n)]
    multi = rng.random(n) < 0.1
    all_charges = np.where(multi, ch + "；" + second, ch)
    accepted = np.datetime64("2021-01-01") + rng.integers(0, 4 * 365, n).astype("timedelta64[D]")
    closed = accepted + rng.integers(5, 60, n).astype("timedelta64[D]")
    birth = accepted - rng.integers(18 * 365, 70 * 365, n).astype("timedelta64[D]")
    yes_no = ["是", "否"]
    cols = {
        "单位编码": pa.array(u),
        "承办单位": pa.array(np.array([unit_names[x] for x in units])[ui]),
        "部门受案号": dept_case_no,
        "统一受案号": unified,
        "案件名称": pc.binary_join_element_wise("张某涉嫌", pa.array(ch, pa.string()), "案", ""),
        "办案环节": pa.array(np.where(st == "arrest_review", "审查逮捕", "审查起诉")),
        "案件类别": pa.array(np.where(st == "arrest_review", "审查逮捕案件", "一审公诉案件")),
        "承办部门": _pick(rng, ["第一检察部", "第二检察部", "第三检察部"], n),
        "承办检察官工号": _padded(rng.integers(1, 300, n), 5),
        "承办检察官": _pick(rng, ["王明", "李华", "赵强", "陈静", "刘洋", "周敏"], n),
        "移送机关": _pick(rng, ["沭阳县公安局", "兰山分局", "黟县公安局"], n),
        "所属派出所": _pick(rng, ["城关派出所", "东关派出所", "南湖派出所", "西城派出所"], n),
        "嫌疑人编号": _padded(serial, 9),
        "嫌疑人姓名": _pick(rng, ["张三", "李四", "王五", "赵六"], n),
        "身份证号码": _padded(rng.integers(10**9, 10**10, n), 18),
        "住址": _pick(rng, ["某省某市某区某路1号", "某县某镇某村"], n),
        "性别": _pick(rng, _labels("gender"), n),
        "出生日期": _dates(rng, birth, n),
        "年龄": pa.array(np.full(n, None, dtype=object), pa.string()),
        "民族": _pick(rng, ["汉族", "回族", "满族"], n),
        "文化程度": _pick(rng, _labels("education"), n),
        "职业": _pick(rng, _labels("occupation"), n),
        "户籍": _pick(rng, _labels("household"), n),
        "是否未成年人": _pick(rng, yes_no, n),
        "是否累犯": _pick(rng, yes_no, n),
        "是否有前科": _pick(rng, yes_no, n),
        "是否共同犯罪": _pick(rng, yes_no, n),
        "是否团伙犯罪": _pick(rng, yes_no, n),
        "罪名": pa.array(ch, pa.string()),
        "全部罪名": pa.array(all_charges, pa.string()),
        "受理日期": _dates(rng, accepted, n),
        "审结日期": _dates(rng, closed, n, null_share=0.05),
        "案卡填录时间": pc.strftime(
            pa.array(accepted.astype("datetime64[s]")
                     + rng.integers(0, 86400 * 3, n).astype("timedelta64[s]")),
            format="%Y-%m-%d %H:%M:%S"),
        "强制措施": _pick(rng, _labels("coercive_measure"), n),
        "是否羁押": _pick(rng, yes_no, n),
        "审结结论": _pick(rng, _labels("decision"), n),
        "适用程序": _pick(rng, _labels("procedure"), n, null_share=0.3),
        "退回补充侦查次数": pc.cast(pa.array(rng.integers(0, 3, n)), pa.string()),
        "延长审查起诉期限次数": pc.cast(pa.array(rng.integers(0, 3, n)), pa.string()),
        "是否认罪认罚": _pick(rng, yes_no, n),
        "量刑建议类型": _pick(rng, _labels("recommendation_type"), n, null_share=0.3),
        "建议刑期（月）": pc.cast(pa.array(rng.integers(1, 60, n)), pa.string()),
        "罚金（元）": _pick(rng, ["1,000", "2,000", "5,000", "10,000", "500"], n, null_share=0.5),
        "涉案金额（元）": pc.cast(pa.array(rng.integers(0, 10**6, n) / 10), pa.string()),
        "案情摘要": pc.binary_join_element_wise(
            "经审查，犯罪嫌疑人于", _dates(rng, accepted - 30, n), "在",
            _pick(rng, ["某小区", "某路段", "某网吧"], n),
            "实施", pa.array(ch, pa.string()), "行为，涉案物品已扣押。", ""),
    }
    table = pa.table(cols)
    buf = pa.BufferOutputStream()
    pcsv.write_csv(table, buf)
    text = buf.getvalue().to_pybytes()
    path = Path(path)
    path.write_bytes(text.decode("utf-8").encode(encoding) if encoding != "utf-8" else text)
    return path


def _time(fn, repeat):
    best = None
    for _ in range(repeat):
        gc.collect()
        t0 = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t0
        best = dt if best is None else min(best, dt)
        del out
    return best


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", type=Path, default=None, help="write the CSV here and keep it")
    args = ap.parse_args(argv)

    import pandas as pd

    from casework import ingest

    with tempfile.TemporaryDirectory() as tmp:
        path = (args.keep or Path(tmp)) / f"export_{args.rows}.csv"
        if not path.exists():
            t0 = time.perf_counter()
            make_export(path, args.rows)
            print(f"generated {args.rows:,} rows, {path.stat().st_size / 1e6:.0f} MB GB18030 "
                  f"in {time.perf_counter() - t0:.1f} s")
        base, ours = [], []
        for _ in range(args.repeat):  # interleaved, so both see the same machine load
            base.append(_time(lambda: pd.read_csv(path, encoding="gb18030"), 1))
            ours.append(_time(lambda: ingest.read_export(path), 1))
        base, ours = min(base), min(ours)
        df, warns = ingest.read_export(path)
        load = os.getloadavg()[0]
        print(f"pandas.read_csv(encoding='gb18030'): {base:.2f} s")
        print(f"casework.ingest.read_export:                {ours:.2f} s  ({len(df):,} rows, "
              f"{df.shape[1]} columns, {len(warns)} warnings)")
        print(f"ratio: {ours / base:.2f}x (target <= 2x); "
              f"load average {load:.1f} on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
