"""Checks of sessions 01 (导入与清洗), 02 (指标口径) and 03 (同比环比与趋势)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from casework import ingest
from casework.analysis import periods
from casework.base.errors import CaseworkError
from casework.ingest import mapping
from casework.training.answers import (
    BadAnswer,
    as_text,
    charge_key,
    closed_in,
    judge_number,
    panel_of,
    pct,
    period_label,
    register,
    value_of,
    verdict,
)
from casework.training.data import SUSTAINED_MONTHS, Exports, TrainingData
from casework.training.detections import (
    ambiguous_station,
    bail_stations,
    episodes,
    final_verdict,
    scan,
    station_hits,
)

# ---------------------------------------------------------------------------------------------
# Session 01 — 导入与清洗
# ---------------------------------------------------------------------------------------------


def _export_frame(data: Exports, kind: str) -> pd.DataFrame:
    return data.cached(("read", kind), lambda: ingest.read_export(data.files[kind])[0])


@register("01.1", "审查起诉导出文件有多少行案卡（人）", "一个整数")
def _check_01_1(answer, data: Exports):
    df = _export_frame(data, "prosecution_review")
    right = len(df)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (right + 1, "多数了一行：表头那一行不是案卡。"),
        (df["dept_case_no"].nunique(), "你数的是部门受案号（件），本题问的是案卡行数（人）："
                                       "共同犯罪案件一件有多名嫌疑人。"),
        (len(_export_frame(data, "arrest_review")),
         "这是审查逮捕文件的行数，本题问审查起诉文件。"),
    ])
    return verdict(ok, hint, f"审查起诉导出文件共 {right:,} 行案卡，"
                             f"涉及 {df['dept_case_no'].nunique():,} 件。",
                    "用 ingest.read_export 读入文件后看返回的表有多少行（len）。")


@register("01.2", "案卡修改日志导出文件使用什么字符编码", "编码名称，如 \"UTF-8\" 这样的文字")
def _check_01_2(answer, data: Exports):
    raw = Path(data.files["modifications"]).read_bytes()
    try:
        raw.decode("utf-8")
        right = "UTF-8"
    except UnicodeDecodeError:
        raw.decode("gb18030")
        right = "GB18030"
    a = as_text(answer).upper().replace("_", "-")
    if a in ("UTF8",):
        a = "UTF-8"
    if a == right:
        return True, (f"该文件按 {right} 编码；导入程序会自动识别，但用 Excel "
                      "或其他工具打开时要选对编码。")
    if right == "GB18030" and a in ("GBK", "GB2312", "CP936", "ANSI"):
        return True, (f"可以这样说：{a} 是 GB18030 的子集，系统导出的中文文件按 GB18030 读取最稳妥"
                      "（生僻字也不会出错）。")
    if a in ("UTF-8", "UTF-8-SIG"):
        return False, ("用 UTF-8 解码这个文件会出现乱码或报错（试试 training.peek）。"
                       "统一业务应用系统导出的 CSV 通常是国标编码。")
    return False, ("用 training.peek 分别以 \"utf-8\" 和 \"gb18030\" 解码文件开头，"
                   "看哪一种显示正常的中文。")


@register("01.3", "审查逮捕导出文件中审结日期早于受理日期的行号", "行号的列表（按表格行号，"
                                            "含表头）")
def _check_01_3(answer, data: Exports):
    df = _export_frame(data, "arrest_review")
    bad = (df["closed_on"] < df["accepted_on"]).fillna(False).to_numpy()
    right = sorted((np.flatnonzero(bad) + 2).tolist())
    if isinstance(answer, (int, np.integer)):
        answer = [answer]
    if not isinstance(answer, (list, tuple, set, pd.Series, np.ndarray, pd.Index)):
        raise BadAnswer("请写成行号的列表，如 [行号1, 行号2]")
    try:
        got = sorted(int(x) for x in answer)
    except (TypeError, ValueError):
        raise BadAnswer("列表中应全是整数行号") from None
    if got == right:
        return True, (f"共 {len(right)} 行；导入程序保留了这些行并在警告中列出，"
                      "交承办部门核实更正。")
    if got == [r - 2 for r in right]:
        return False, ("这是 pandas 的行索引（从零开始、不含表头）。导入报告用的是表格中的行号："
                       "表头是第一行。")
    if got == [r - 1 for r in right]:
        return False, "差了一行：导入报告的行号把表头算作第一行。"
    if set(got) < set(right):
        return False, "只找到了一部分：看导入报告中关于审结日期的那条警告，列出的行都要写上。"
    return False, ("先用 training.try_read 读入审查逮捕文件，看导入报告中关于审结日期的警告列出了"
                   "哪些行。")


@register("01.4", "为表头不同的文件写映射，使其能够导入", "一个映射字典，如 {\"columns\": "
                                        "{规范列名: 文件中的表头}}")
def _check_01_4(answer, data: Exports):
    if not isinstance(answer, dict):
        raise BadAnswer("映射应是一个字典，形如 {\"columns\": {...}}")
    try:
        df, _ = ingest.read_export(data.renamed, mapping=answer)
    except CaseworkError as err:
        return False, f"还不能导入，导入程序说：{err.zh}"
    ref = _export_frame(data, "prosecution_review")
    cols = ["dept_case_no", "unified_case_no", "stage", "person_id", "accepted_on"]
    same = all(df[c].astype("string").fillna("").equals(ref[c].astype("string").fillna(""))
               for c in cols)
    if same:
        headers = set(pd.read_csv(data.renamed, encoding="gb18030", nrows=0).columns)
        mapped = "、".join(f"{v}→{k}" for k, v in (answer.get("columns") or {}).items()
                          if (v["source"] if isinstance(v, dict) else v) in headers)
        return True, (f"映射生效（{mapped}），导入结果与标准表头的文件一致。映射文件可以保存为 "
                      "YAML，导入时用 --mapping 指定。")
    return False, ("文件能读入，但有的列对应错了：检查每个表头对应的规范列名（看 schema "
                   "中各列的中文名）。")


@register("01.5", "有错误的文件：导入程序指出问题出在哪一列", "列名（文件中的中文表头或规范英文名"
                                          "）")
def _check_01_5(answer, data: Exports):
    ok_file = pd.read_csv(data.files["prosecution_review"], encoding="gb18030", dtype=str,
                          keep_default_na=False)
    bad_file = pd.read_csv(data.broken, encoding="gb18030", dtype=str, keep_default_na=False)
    differ = [c for c in ok_file.columns if not ok_file[c].equals(bad_file[c])]
    targets = {c for c in differ} | {mapping.match_header(c, "records") for c in differ}
    a = as_text(answer)
    canon = mapping.match_header(a, "records")
    if a in targets or (canon is not None and canon in targets):
        rows = int(sum((ok_file[c] != bad_file[c]).sum() for c in differ))
        return True, (f"问题在「{'、'.join(differ)}」一列，共 {rows} 个单元格无法识别。"
                      "导入程序没有导入任何数据：改正源文件中这些行后重新导入。")
    if canon is None:
        return False, ("这不是导出文件中的列名。用 training.try_read 读入有错误的文件，"
                       "看报错信息中「列」后面写的是哪一列。")
    return False, ("不是这一列。用 training.try_read 读入有错误的文件，报错信息逐条列出了出错的列"
                   "和行号。")


# ---------------------------------------------------------------------------------------------
# Session 02 — 指标口径
# ---------------------------------------------------------------------------------------------


@register("02.1", "本年不捕率（人）", "一个比率（小数）")
def _check_02_1(answer, data: TrainingData):
    r = data.records
    right = value_of(data, "non_arrest_rate", data.year)
    ar = r[(r["stage"] == "arrest_review").fillna(False)]
    dec = ar["decision"]
    decided = dec.isin(["arrest_approved", "non_arrest"]).fillna(False)
    acc = closed_in(ar, data.year, "accepted_on") & decided
    closed = closed_in(ar, data.year)
    mistakes = [
        (value_of(data, "non_arrest_rate", data.year, unit="case"),
         "你算的是件数口径（按部门受案号去重）。本题按人计算：一名嫌疑人算一人。"),
        (1 - right, "你算的是批捕率（批准逮捕 ÷ 审结）。不捕率的分子是不批准逮捕的人数。"),
        ((dec[acc] == "non_arrest").sum() / max(acc.sum(), 1),
         "队列不对：不捕率按审结日期计入期间（审结队列），你用的是受理日期。"),
        ((dec[closed] == "non_arrest").sum() / max(closed.sum(), 1),
         "分母不对：分母只含批准逮捕和不批准逮捕的人，其他审结结论不计入。"),
        ((dec[decided] == "non_arrest").sum() / max(decided.sum(), 1),
         "期间不对：只统计本年（data.year）内审结的人，不是全部数据。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    num = value_of(data, "non_arrest_rate", data.year, column="numerator")
    den = value_of(data, "non_arrest_rate", data.year, column="denominator")
    return verdict(ok, hint, f"{period_label(data.year)}不捕率 {pct(right)}（{num:,.0f}/{den:,.0f}"
                             " 人）。",
                    "回到指标口径表：不捕率 = 不批准逮捕人数 ÷（批准逮捕 + 不批准逮捕人数），"
                    "按审结日期计入期间。")


@register("02.2", "本年不诉率（件）", "一个比率（小数）")
def _check_02_2(answer, data: TrainingData):
    r = data.records
    right = value_of(data, "non_prosecution_rate", data.year, unit="case")
    pr = r[(r["stage"] == "prosecution_review").fillna(False)]
    closed = closed_in(pr, data.year)
    cases_all = pr.loc[closed, "dept_case_no"].nunique()
    is_np = (pr["decision"] == "non_prosecution").fillna(False)
    cases_np = pr.loc[closed & is_np, "dept_case_no"].nunique()
    acc = (closed_in(pr, data.year, "accepted_on")
           & pr["decision"].isin(["prosecute", "non_prosecution"]).fillna(False))
    mistakes = [
        (value_of(data, "non_prosecution_rate", data.year),
         "你算的是人数口径。本题要求件数：同一部门受案号只算一件。"),
        (value_of(data, "prosecution_rate", data.year, unit="case"),
         "你算的是起诉率。不诉率的分子是不起诉的件数。"),
        (cases_np / max(cases_all, 1),
         "分母不对：分母只含作出起诉或不起诉决定的件，其他审结结论不计入。"),
        (pr.loc[acc & is_np, "dept_case_no"].nunique()
         / max(pr.loc[acc, "dept_case_no"].nunique(), 1),
         "队列不对：不诉率按审结日期计入期间，你用的是受理日期。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    return verdict(ok, hint, f"{period_label(data.year)}不诉率（件）{pct(right)}；按人计为 "
                              f"{pct(value_of(data, 'non_prosecution_rate', data.year))}，"
                              "两个口径不能混比。",
                    "不诉率 = 不起诉 ÷（起诉 + 不起诉），按审结日期计入；件数用 count_unit=\""
                    "case\"。")


@register("02.3", "本年捕后不诉率（人）", "一个比率（小数）")
def _check_02_3(answer, data: TrainingData):
    j = data.journeys
    right = value_of(data, "post_arrest_non_prosecution_rate", data.year)
    arrested = j["arrested_on"].notna()
    pclosed = closed_in(j, data.year, "prosecution_closed_on")
    nonpros = (j["prosecution_decision"] == "non_prosecution").fillna(False)
    arrested_in = closed_in(j, data.year, "arrested_on")
    mistakes = [
        ((arrested & pclosed & nonpros).sum() / max(arrested_in.sum(), 1),
         "分母不对：捕后不诉率的分母是本期审查起诉审结的已捕人员（捕后审结人数），不是本期逮捕人数"
         "——本期逮捕的人多数还没有审结。"),
        ((arrested & pclosed & nonpros).sum() / max(pclosed.sum(), 1),
         "分母不对：分母只含已逮捕的人。你用的是全部审查起诉审结人数。"),
        (value_of(data, "post_arrest_non_prosecution_rate", data.year, unit="case"),
         "你算的是件数口径，本题按人计算。"),
        (value_of(data, "non_prosecution_rate", data.year), "这是全部人员的不诉率，"
                                                            "本题只看已逮捕的人。"),
    ]
    ok, hint = judge_number(answer, right, kind="rate", mistakes=mistakes)
    return verdict(ok, hint, f"{period_label(data.year)}捕后不诉率 {pct(right)}："
                             "分母是本期审查起诉审结的已捕人员。",
                    "捕后不诉率要把审查逮捕和审查起诉连起来看（journeys 表），"
                    "分母是捕后审结人数。")


@register("02.4", "本年诉前羁押率：口径A减口径B（百分点）", "一个数（百分点）")
def _check_02_4(answer, data: TrainingData):
    a = value_of(data, "pre_charge_detention_rate_a", data.year)
    b = value_of(data, "pre_charge_detention_rate_b", data.year)
    right = (a - b) * 100
    ok, hint = judge_number(answer, right, kind="pp", mistakes=[
        ((b - a) * 100, "减反了：本题是口径A减口径B。"),
        ((a - b), "这是两个小数之差；百分点 = 两个百分数之差，要乘以一百。"),
        (a * 100, "这是口径A本身（百分数），本题问两个口径之差。"),
    ])
    return verdict(ok, hint, f"口径A {pct(a)}、口径B {pct(b)}：同一个名称，两个口径相差 "
                              f"{right:+.1f} 个百分点。报告中必须写明采用哪个口径，"
                              "且不能与另一口径的数据比较。",
                    "分别计算 pre_charge_detention_rate_a 和 pre_charge_detention_rate_b，"
                    "再相减并换算为百分点。")


@register("02.5", "本年审结审查起诉的件数", "一个整数")
def _check_02_5(answer, data: TrainingData):
    right = value_of(data, "closed_prosecution_review", data.year, unit="case")
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (value_of(data, "closed_prosecution_review", data.year),
         "这是人数。本题问件数（部门受案号去重）。"),
        (value_of(data, "accepted_prosecution_review", data.year, unit="case"),
         "这是受理件数。本题问审结件数（按审结日期）。"),
        (value_of(data, "accepted_prosecution_review", data.year),
         "这是受理人数。本题问审结件数。"),
    ])
    persons = value_of(data, "closed_prosecution_review", data.year)
    return verdict(ok, hint, f"{period_label(data.year)}审结审查起诉 {right:,.0f} "
                             f"件、{persons:,.0f} 人。",
                    "用 closed_prosecution_review 指标，count_unit=\"case\"。")


# ---------------------------------------------------------------------------------------------
# Session 03 — 同比环比与趋势
# ---------------------------------------------------------------------------------------------


@register("03.1", "最后一个季度的环比期间代码", "期间代码文字")
def _check_03_1(answer, data):
    q = periods.parse(data.quarter)
    right = q.previous().code
    a = as_text(answer).upper()
    if a == right.upper():
        return True, (f"{q.label_zh}的环比期间是{q.previous().label_zh}，"
                      f"同比期间是{q.year_ago().label_zh}。")
    if a == q.year_ago().code.upper():
        return False, "这是同比期间（去年同期）。环比是紧挨着的上一个期间。"
    if a == q.code.upper():
        return False, "这是本期本身。环比要和上一个期间比。"
    try:
        p = periods.parse(a)
    except CaseworkError:
        return False, "不是有效的期间代码：季度写成“年份-Q季度”的形式（看 periods.parse 的说明）。"
    if p.kind != q.kind:
        return False, "期间类型不对：本期是季度，环比期间也应是季度。"
    return False, "用 periods.parse(data.quarter).previous() 求环比期间。"


@register("03.2", "最后一个季度受理审查起诉人数的同比变化（%）", "一个数（百分比）")
def _check_03_2(answer, data: TrainingData):
    row = panel_of(data, "accepted_prosecution_review", data.quarter).iloc[0]
    right = float(row["year_ago_change"])
    ok, hint = judge_number(answer, right, kind="percent", mistakes=[
        (float(row["previous_change"]), "这是环比变化（和上一季度比）。同比是和去年同一季度比。"),
        (float(row["value"] - row["year_ago_value"]), "这是人数之差。同比变化用百分比：(本期 − "
                                                      "去年同期) ÷ 去年同期。"),
    ])
    return verdict(ok, hint, f"{period_label(data.quarter)}受理审查起诉 {row['value']:,.0f} 人，"
                             "去年同期 "
                              f"{row['year_ago_value']:,.0f} 人，同比 {right:+.1f}%。",
                    "panel.compute 的 year_ago_change 列就是同比变化（人数类指标为百分比）。")


@register("03.3", "最后一个季度不捕率的环比变化（百分点）", "一个数（百分点）")
def _check_03_3(answer, data: TrainingData):
    row = panel_of(data, "non_arrest_rate", data.quarter).iloc[0]
    right = float(row["previous_change"])
    prev = float(row["previous_value"])
    rel = (float(row["value"]) - prev) / prev * 100 if prev else float("nan")
    ok, hint = judge_number(answer, right, kind="pp", mistakes=[
        (rel, "这是相对变化（百分比）。比率的变化用百分点：两个百分数直接相减。"),
        (float(row["year_ago_change"]), "这是同比变化。环比是和上一季度比。"),
    ])
    return verdict(ok, hint, f"不捕率由{pct(prev)}变为{pct(float(row['value']))}，"
                             f"环比 {right:+.1f} 个百分点。",
                    "panel.compute 的 previous_change 列：比率类指标的变化单位是百分点。")


def _yes_no(answer) -> bool:
    if isinstance(answer, (bool, np.bool_)):
        return bool(answer)
    a = as_text(answer).lower()
    if a in ("是", "对", "超出", "显著", "true", "yes", "y", "1"):
        return True
    if a in ("否", "不", "不是", "没有", "未超出", "不显著", "false", "no", "n", "0"):
        return False
    raise BadAnswer("请填 True（是）或 False（否）")


@register("03.4", "上题的环比变化是否超出随机波动", "True 或 False")
def _check_03_4(answer, data: TrainingData):
    row = panel_of(data, "non_arrest_rate", data.quarter).iloc[0]
    right = bool(row["previous_notable"])
    p = float(row["previous_p_value"])
    got = _yes_no(answer)
    if got == right:
        if right:
            return True, (f"两比例检验 P={p:.3f}，小于 0.05：这次变化超出了随机波动能够解释的范围"
                          "，值得分析原因。")
        return True, (f"两比例检验 P={p:.3f}，不小于 0.05：这样大小的变化随机波动就能产生，"
                      "不宜在报告中作为“明显变化”。")
    if got:
        return False, ("看 previous_p_value：只有 P 值小于 0.05（previous_notable 为 True）"
                       "才算超出随机波动。变化的数值看起来大，不等于真有变化。")
    return False, "看 previous_p_value 和 previous_notable：检验结果说明这次变化超出了随机波动。"



@register("03.5", "在月度监测中找出一个持续的异常信号（罪名或派出所）", "罪名或派出所名称；"
                                               "没有发现则填 \"无\"")
def _check_03_5(answer, data: TrainingData):
    findings, weak = [], []
    charges = episodes(scan(data, "accepted_prosecution_review", ("charge",)), adverse_only=False,
                       up=True)
    for _, row in charges.iterrows():
        c = str(row["charge"])
        entry = {"match": (lambda a, c=c: charge_key(a) == charge_key(c))}
        if row["months_flagged"] >= SUSTAINED_MONTHS:
            entry["say"] = (f"{c}：受理审查起诉人数自{row['flag_since']}起"
                            "持续高于控制上限或累积上移"
                            f"（{row['first_month']}至{row['last_month']}"
                            f"共 {row['months_flagged']} 个月有信号；"
                            f"{row['rules_zh']}）。下一步：看该罪名的案情摘要，"
                            "找新的作案手段（第五讲）。")
            findings.append(entry)
        else:
            entry["say"] = (f"{c}只在 {row['months_flagged']} 个月出现信号（{row['rules_zh']}），"
                            "不是持续的变化，单个月份的信号常是随机波动。")
            weak.append(entry)
    sustained, short = bail_stations(data)
    for frame, bucket in ((sustained, findings), (short, weak)):
        for _, row in frame.iterrows():
            st = str(row["police_station"])
            label = f"{re.sub(r'^.*?公安局', '', str(row['referring_agency']))}{st}"
            entry = {"match": (lambda a, r=row: bool(station_hits(data, pd.DataFrame([r]), a)))}
            if bucket is findings:
                entry["say"] = (f"{label}：捕后取保候审率自{row['flag_since']}起持续偏高"
                                f"（{row['months_flagged']} 个月有信号；{row['rules_zh']}）。"
                                "下一步：与侦查机关核实变更强制措施的理由（第四讲的横向对比可以印"
                                "证）。")
            else:
                entry["say"] = (f"{label}只在 {row['months_flagged']} 个月出现信号，"
                                "不是持续的变化。")
            bucket.append(entry)
    amb = ambiguous_station(data, as_text(answer))
    ctx = f"不止一个移送机关下有{amb}：请写明是哪个分局的{amb}。" if amb else ""
    return final_verdict(answer, findings, weak, what="信号",
                  how=("用 monitor.scan 按罪名扫描受理审查起诉人数、按派出所扫描捕后取保候审率，"
                       "再用 monitor.flags 看哪些信号持续了多个月且延续到最近。"), context=ctx)


