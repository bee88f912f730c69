"""Checks of sessions 04 (横向对比), 05 (专题分析) and 06 (案卡质量与修改审核)."""

from __future__ import annotations

import re
import unicodedata

import pandas as pd

from casework.analysis import casemix, days, funnels, quality
from casework.analysis import modifications as mods
from casework.analysis.topics import recurring, sentencing
from casework.training.answers import (
    BadAnswer,
    as_number,
    as_text,
    charge_key,
    is_close,
    judge_number,
    month_codes,
    panel_of,
    pct,
    period_label,
    register,
    verdict,
)
from casework.training.data import SUSTAINED_MONTHS, TERMS, TrainingData
from casework.training.detections import (
    ambiguous_station,
    episodes,
    final_verdict,
    mentions_unit,
    rising_charges,
    scan,
    station_hits,
    unit_names,
    unit_short,
)

# ---------------------------------------------------------------------------------------------
# Session 04 — 横向对比
# ---------------------------------------------------------------------------------------------

_DEPT = ("unit_code", "department")


def _dept_panel(data: TrainingData) -> pd.DataFrame:
    return panel_of(data, "non_prosecution_rate", data.year, by=_DEPT)


def _dept_funnel(data: TrainingData) -> pd.DataFrame:
    return data.cached("dept_funnel", lambda: funnels.funnel(_dept_panel(data), by=list(_DEPT)))


def _dept_horizontal(data: TrainingData, adjust: str) -> pd.DataFrame:
    return data.cached(("dept_horizontal", adjust), lambda: casemix.horizontal(
        data.records, period=data.year, by=list(_DEPT), indicators=["non_prosecution_rate"],
        adjust=adjust))


@register("04.1", "本年不诉率最高的部门，其分母（人数）是多少", "一个整数")
def _check_04_1(answer, data: TrainingData):
    pn = _dept_panel(data)
    pn = pn[pn["denominator"] > 0]
    top = pn[pn["value"] == pn["value"].max()]
    x = as_number(answer)
    if any(is_close(x, float(d), "count") for d in top["denominator"]):
        big = float(pn["denominator"].median())
        first = top.iloc[0]
        return True, (f"不诉率最高的是{unit_short(unit_names(data).get(first['unit_code'], ''))}院"
                      f"{first['department']}（{pct(float(first['value']))}），"
                      f"分母只有 {first['denominator']:,.0f} 人，"
                      f"而各部门分母的中位数是 {big:,.0f} 人。排在最前（或最后）的常常是人数少、"
                      "波动大的部门。")
    if any(is_close(x, float(n), "count") for n in top["numerator"]):
        return False, "这是分子（不起诉人数）。本题问分母：起诉与不起诉人数之和。"
    return False, ("用 panel.compute 按 unit_code 和 department 计算不诉率，找出 value "
                   "最大的一行，看它的 denominator。")


@register("04.2", "漏斗图上超出 99.8% 控制限的部门有几个（未调整案件结构）", "一个整数")
def _check_04_2(answer, data: TrainingData):
    fu = _dept_funnel(data)
    eligible = ~fu["below_min_n"].astype(bool)
    right = int(((fu["flag"] == "alarm") & eligible).sum())
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (int(((fu["flag"] != "") & eligible).sum()),
         "这还包括了只超出 95% 控制限的部门（alert）。本题只数 99.8%（alarm）。"),
        (int(((fu["flag"] == "alarm") & eligible & (fu["flag_direction"] == "high")).sum()),
         "你只数了偏高的。偏低同样超出控制限，也要数上。"),
    ])
    return verdict(ok, hint, f"未调整时有 {right} 个部门超出 99.8% 控制限"
                             f"（共 {int(eligible.sum())} 个部门参与比较）。"
                              "下一题看看调整案件结构之后还剩几个。",
                    "对上一题的 panel 结果调用 funnels.funnel(..., by=[\"unit_code\","
                    " \"department\"])，"
                    "数 flag 为 \"alarm\" 的行。")


@register("04.3", "按案件结构调整后，不诉率超出 99.8% 控制限的部门有几个", "一个整数")
def _check_04_3(answer, data: TrainingData):
    h = _dept_horizontal(data, "case_mix")
    el = ~h["below_min_n"].astype(bool)
    right = int(((h["flag"] == "alarm") & el).sum())
    crude = _dept_funnel(data)
    h0 = _dept_horizontal(data, "none")
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (int(((crude["flag"] == "alarm") & ~crude["below_min_n"].astype(bool)).sum()),
         "这是未调整案件结构的结果（上一题）。用 casemix.horizontal，adjust "
         "保持默认的 \"case_mix\"。"),
        (int(((h0["flag"] == "alarm") & ~h0["below_min_n"].astype(bool)).sum()),
         "这是 adjust=\"none\" 的结果。本题要按案件结构调整（adjust=\"case_mix\"）。"),
        (int(((h["flag"] != "") & el).sum()),
         "这还包括了只超出 95% 控制限的部门。本题只数 99.8%。"),
    ])
    n0 = int(((crude["flag"] == "alarm") & ~crude["below_min_n"].astype(bool)).sum())
    return verdict(ok, hint, f"调整前 {n0} 个、调整后 {right} 个部门超出 99.8% 控制限："
                             "各部门办理的罪名、"
                              "认罪认罚、未成年人等构成不同，不诉率本来就不同。"
                              "比较前先调整案件结构。",
                    "casemix.horizontal(data.records, period=data.year, by=[\"unit_code\","
                    " \"department\"], "
                    "indicators=[\"non_prosecution_rate\"])，数 flag 为 \"alarm\" 的行。")


@register("04.4", "不诉率最高的部门，排名区间的上限（最差可能排第几）", "一个整数")
def _check_04_4(answer, data: TrainingData):
    sh = data.cached("dept_shrink", lambda: funnels.shrink(_dept_panel(data), by=list(_DEPT)))
    el = sh[~sh["below_min_n"].astype(bool)]
    top = el[el["value"] == el["value"].max()]
    x = as_number(answer)
    if any(is_close(x, float(v), "count") for v in top["rank_upper"]):
        row = top.iloc[0]
        return True, (f"不诉率最高的部门，合理的名次在第 {int(row['rank_lower'])} "
                      f"到第 {int(row['rank_upper'])} 名之间"
                      f"（共 {len(el)} 个部门）。名次本身就不确定，所以报告只讲与总体的差异是否超"
                      "出随机波动，不排名。")
    if any(is_close(x, float(v), "count") for v in top["rank_lower"]):
        return False, "这是排名区间的下限（最好可能排第几）。本题问上限 rank_upper。"
    return False, ("用 funnels.shrink 处理第一题的 panel 结果，找出 value 最大的部门，看 "
                   "rank_upper。")


def _station_alarms(data: TrainingData) -> pd.DataFrame:
    return data.cached("station_horizontal", lambda: casemix.horizontal(
        data.records, period=data.year, by=["referring_agency", "police_station"],
        indicators=["post_arrest_bail_rate"], journeys=data.journeys))


def _slow(data: TrainingData) -> pd.DataFrame:
    return data.cached("handling_days", lambda: days.handling_days(
        data.records, by="prosecutor_id", period=data.year, stage="prosecution_review"))


@register("04.5", "找出一个明显偏离同类的派出所或检察官",
          "派出所或检察官姓名；没有发现则填 \"无\"")
def _check_04_5(answer, data: TrainingData):
    findings, weak = [], []
    st = _station_alarms(data)
    st = st[~st["below_min_n"].astype(bool) & (st["flag"] != "")
            & (st["flag_direction"] == "high")]
    for _, row in st.iterrows():
        entry = {"match": (lambda a, r=row: bool(station_hits(data, pd.DataFrame([r]), a)))}
        if row["flag"] == "alarm":
            entry["say"] = (f"{row['label']}：{period_label(data.year)}捕后取保候审率"
                            f" {pct(float(row['crude_value']))}"
                            f"（{row['numerator']:,.0f}/{row['denominator']:,.0f} 人），"
                            "是按案件结构预期的 "
                            f"{float(row['value']):.1f} 倍，超出 99.8% 控制限。下一步："
                            "comparison_text.flagged_cases 调出案件逐件核查。")
            findings.append(entry)
        else:
            entry["say"] = (f"{row['label']}只超出 95% 控制限（预警），证据还不够强；"
                            "看看有没有超出 99.8% 的。")
            weak.append(entry)
    hd = _slow(data)
    hd = hd[~hd["below_min_n"].astype(bool) & (hd["flag"] != "")
            & (hd["flag_direction"] == "high")]
    for _, row in hd.iterrows():
        pid, name = str(row["prosecutor_id"]), str(row.get("prosecutor_name", ""))
        entry = {"match": (lambda a, pid=pid,
                           name=name: pid in a or (name != "" and name != "nan" and name in a))}
        if row["flag"] == "alarm":
            entry["say"] = (f"检察官{name}（{pid}）：{period_label(data.year)}审查起诉平均办案"
                            f" {row['mean_days']:.1f} 天，"
                            f"同类案件预期 {row['expected_mean_days']:.1f} 天，"
                            f"为预期的 {float(row['value']):.2f} 倍，"
                            "超出 99.8% 控制限。下一步：看其在办案件和退查、延长情况，"
                            "而不是简单排名。")
            findings.append(entry)
        else:
            entry["say"] = (f"检察官{name}只超出 95% 控制限（预警），证据还不够强；看看有没有超出 "
                            "99.8% 的。")
            weak.append(entry)
    amb = ambiguous_station(data, as_text(answer))
    ctx = f"不止一个移送机关下有{amb}：请写明是哪个分局的{amb}。" if amb else ""
    return final_verdict(answer, findings, weak, what="对象",
                  how=("用 casemix.horizontal 按派出所（referring_agency、police_station）"
                       "比较捕后取保候审率，"
                       "用 days.handling_days 按检察官比较审查起诉办案天数，找超出 99.8% "
                       "控制限且偏高的。"),
                  context=ctx)


# ---------------------------------------------------------------------------------------------
# Session 05 — 专题分析
# ---------------------------------------------------------------------------------------------


@register("05.1", "本年受理审查起诉人数最多的罪名", "罪名")
def _check_05_1(answer, data: TrainingData):
    pn = panel_of(data, "accepted_prosecution_review", data.year, by=("charge",))
    top = pn[pn["value"] == pn["value"].max()]
    a = charge_key(answer)
    if a in {charge_key(c) for c in top["charge"]}:
        share = float(top["value"].iloc[0]) / float(pn["value"].sum())
        return True, (f"{top['charge'].iloc[0]}：{period_label(data.year)}受理审查起诉"
                      f" {top['value'].iloc[0]:,.0f} 人，"
                      f"占全部的 {share:.1%}。")
    pc = panel_of(data, "accepted_prosecution_review", data.year, by=("charge",), unit="case")
    if a in {charge_key(c) for c in pc.loc[pc["value"] == pc["value"].max(), "charge"]}:
        return False, "按件数它最多；本题按人数。"
    pa = panel_of(data, "accepted_arrest_review", data.year, by=("charge",))
    if a in {charge_key(c) for c in pa.loc[pa["value"] == pa["value"].max(), "charge"]}:
        return False, "这是审查逮捕受理人数最多的罪名；本题问审查起诉。"
    return False, ("用 panel.compute 按 charge 计算 accepted_prosecution_review，找 value "
                   "最大的一行。")


@register("05.2", "本年盗窃案件中外地人员的占比", "一个比率（小数）")
def _check_05_2(answer, data: TrainingData):
    def run():
        cases = recurring.topic_cases(data.records, charges="盗窃", period=data.year)
        return recurring.profile(cases, dimensions=["household"])
    prof = data.cached("theft_household", run)
    row = prof[prof["category_zh"] == "外地"].iloc[0]
    local = prof[prof["category_zh"] == "本地"].iloc[0]
    right = float(row["topic_share"])
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (float(row["other_share"]), "这是其他案件中外地人员的占比。本题问盗窃案件。"),
        (float(local["topic_share"]), "这是本地人员的占比。"),
    ])
    sig = "差异超出随机波动" if float(row["p_value"]) < 0.05 else "差异在随机波动范围内"
    return verdict(ok, hint, f"盗窃案件中外地人员占 {right:.1%}，"
                             f"其他案件为 {float(row['other_share']):.1%}（{sig}）。"
                              "写特点时要和其他案件比，不能只报一个占比。",
                    "用 recurring.topic_cases 选出本年的盗窃案件，再用 recurring.profile(..., "
                    "dimensions=[\"household\"])。")


@register("05.3", "本年危险驾驶判决的缓刑适用率", "一个比率（小数）")
def _check_05_3(answer, data: TrainingData):
    j = data.cached("dui_judgments", lambda: sentencing.judgments(
        data.records, period=data.year, charges="危险驾驶"))
    row = sentencing.probation_rate(j, by=None).iloc[0]
    right = float(row["value"])
    all_judged = float(row["numerator"]) / max(len(j), 1)
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (all_judged, "分母不对：缓刑适用率的分母只含判处拘役或有期徒刑的人（免予刑事处罚、"
                     "单处罚金、无罪不计入）。"),
        (1 - right, "这是未适用缓刑的比例。"),
    ])
    return verdict(ok, hint, f"{period_label(data.year)}危险驾驶判处拘役或有期徒刑"
                             f" {row['denominator']:,.0f} 人，"
                              f"其中缓刑 {row['numerator']:,.0f} 人，缓刑适用率 {right:.1%}。",
                    "sentencing.judgments(data.records, period=data.year, charges=\"危险驾驶\")，"
                    "再用 sentencing.probation_rate(..., by=None)。")


_NUM_RE = re.compile(r"[-+−]?\d+(?:\.\d+)?")


@register("05.4", "用一句话写出本年量刑建议采纳率及其同比变化", "一句中文（文字）")
def _check_05_4(answer, data: TrainingData):
    if not isinstance(answer, str):
        raise BadAnswer("请写一句话（文字）")
    row = panel_of(data, "recommendation_adoption_rate", data.year).iloc[0]
    value = float(row["value"]) * 100
    change = float(row["year_ago_change"])
    notable = bool(row["year_ago_notable"])
    nums = [float(x.replace("−", "-"))
            for x in _NUM_RE.findall(unicodedata.normalize("NFKC", answer))]
    has_value = any(abs(abs(x) - value) <= 0.06 for x in nums)
    has_change = any(abs(abs(x) - abs(change)) <= 0.06 for x in nums)
    text = answer
    down = (any(w in text for w in ("下降", "降低", "减少", "回落"))
            or any(x < 0 and abs(abs(x) - abs(change)) <= 0.06 for x in nums))
    up = any(w in text for w in ("上升", "提高", "增加", "上涨"))
    problems = []
    if not has_value:
        problems.append("句中没有本年的采纳率（保留一位小数的百分数）")
    if not has_change:
        problems.append("句中没有同比变化的幅度")
    elif "百分点" not in text:
        problems.append("比率的变化要用“百分点”作单位")
    elif "持平" in text and not ((change < 0 and down) or (change > 0 and up)):
        if notable:
            problems.append("这次变化超出了随机波动（同比检验显著），不宜写成“持平”，"
                            "要写明上升或下降")
    elif change != 0 and not ((change < 0 and down) or (change > 0 and up)):
        reversed_ = (change < 0 and up) or (change > 0 and down)
        problems.append("变化的方向写反了" if reversed_ else "要写明是上升还是下降（变化在随机波动"
                                                     "范围内时写“基本持平”）")
    if problems:
        return False, ("；".join(problems)
                       + "。数字都要来自计算结果（panel.compute 的 value 与 year_ago_change）。")
    return True, ("数字与计算结果一致。报告中的句子由计算值生成（narrative.indicator_sentence 或 "
                  "page.say），"
                  "数据更新时句子跟着更新；变化在随机波动范围内时写“基本持平”。")


def _adoption_units(data: TrainingData):
    fl = episodes(scan(data, "recommendation_adoption_rate", ("unit_code",)), adverse_only=True)
    if not len(fl):
        return fl, fl
    lasting = fl["months_flagged"] >= SUSTAINED_MONTHS
    return fl[lasting], fl[fl["months_flagged"] < SUSTAINED_MONTHS]


def _emerging(data: TrainingData) -> dict:
    def run():
        out = {}
        for c in rising_charges(data)["charge"].astype(str).unique().tolist():
            t = recurring.emerging_terms(data.records, charges=c, period=data.year, top=TERMS)
            out[c] = [str(x) for x in t["term"]] if len(t) else []
        return out
    return data.cached("emerging", run)


@register("05.5", "找出一条专题线索：采纳率持续下降的单位，或上升罪名的新作案手段",
          "单位名称或作案手段词；没有发现则填 \"无\"")
def _check_05_5(answer, data: TrainingData):
    findings, weak = [], []
    names = unit_names(data)
    sustained, short = _adoption_units(data)
    for frame, bucket in ((sustained, findings), (short, weak)):
        for _, row in frame.iterrows():
            code = str(row["unit_code"])
            name = names.get(code, code)
            entry = {"match": (lambda a, code=code, name=name: mentions_unit(a, code, name))}
            if bucket is findings:
                entry["say"] = (f"{name}：量刑建议采纳率自{row['flag_since']}起持续低于控制下限或"
                                "累积下移"
                                f"（{row['months_flagged']} 个月有信号；{row['rules_zh']}）。"
                                "下一步：按罪名、承办部门和法院拆分，看采纳率下降集中在哪里。")
            else:
                entry["say"] = f"{name}只在 {row['months_flagged']} 个月出现信号，不是持续的变化。"
            bucket.append(entry)
    for charge, terms in _emerging(data).items():
        for term in terms:
            if len(term) < 2:
                continue
            findings.append({
                "group": ("terms", charge),
                "match": (lambda a, t=term: t in a or (len(a) >= 2 and a in t)),
                "say": (f"“{term}”是{charge}案件在{period_label(data.year)}新出现的作案手段词（与"
                        f"此前的{charge}案件相比）。"
                        f"写进报告时配上例句和人数，并说明与{charge}案件增长的关系。"),
            })
    return final_verdict(answer, findings, weak, what="线索",
                  how=("用 monitor.scan 按单位扫描量刑建议采纳率；或先找出上升的罪名（第三讲），"
                       "再用 recurring.emerging_terms 比较它本年与此前的案情摘要。"))


# ---------------------------------------------------------------------------------------------
# Session 06 — 案卡质量与修改审核
# ---------------------------------------------------------------------------------------------


def _findings(data: TrainingData) -> pd.DataFrame:
    return data.cached("findings", lambda: quality.run_rules(data.records))


def _year_rates(data: TrainingData, level: str = "error", by=("unit_code",)) -> pd.DataFrame:
    return data.cached(("error_rates", level, tuple(by)), lambda: quality.error_rates(
        _findings(data), data.records, by=list(by), level=level, months=month_codes(data.year)))


def _year_findings(data: TrainingData, level: str = "error") -> pd.DataFrame:
    f = _findings(data)
    sev = (f["severity"] == "error" if level == "error"
           else f["severity"].isin(["warning", "error"]))
    return f[sev & f["month"].isin(month_codes(data.year))]


@register("06.1", "本年有错误级问题的案卡有多少张", "一个整数")
def _check_06_1(answer, data: TrainingData):
    rates = _year_rates(data)
    right = int(rates["numerator"].sum())
    fy = _year_findings(data)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (len(fy), "这是问题条数。一张案卡可能同时违反几条规则；本题数的是有问题的案卡。"),
        (int(_year_rates(data, "warning")["numerator"].sum()), "这把“警告”级也算进去了；"
                                                               "本题只算“错误”级。"),
        (fy["dept_case_no"].nunique(), "这是件数（部门受案号）。案卡是一人一张。"),
    ])
    return verdict(ok, hint, f"{period_label(data.year)}共 {right:,} "
                             f"张案卡有错误级问题（问题 {len(fy):,} 条）。",
                    "quality.run_rules 得到问题清单后，用 quality.error_rates(..., "
                    "months=本年各月) 的 numerator 合计。")


@register("06.2", "本年出现最多的错误级规则", "规则编号 rule_id 或规则说明")
def _check_06_2(answer, data: TrainingData):
    counts = quality.rule_counts(_year_findings(data))
    top = counts[counts["findings"] == counts["findings"].max()]
    a = as_text(answer)
    if a in {str(x) for x in top["rule_id"]} | {as_text(x) for x in top["message_zh"]}:
        row = top.iloc[0]
        return True, (f"{row['message_zh']}（{row['rule_id']}）：{period_label(data.year)}共"
                      f" {int(row['findings']):,} 条。")
    allc = quality.rule_counts(_findings(data))
    allc = allc[allc["severity"] == "error"]
    if a in {str(x) for x in allc.loc[allc["findings"] == allc["findings"].max(), "rule_id"]}:
        return False, "这是全部数据中最多的规则；本题只看本年（data.year）的案卡。"
    return False, "把问题清单限定在本年、错误级，再用 quality.rule_counts 看 findings 最多的规则。"


@register("06.3", "本年错误级案卡差错率（全部单位）", "一个比率（小数）")
def _check_06_3(answer, data: TrainingData):
    rates = _year_rates(data)
    num, den = float(rates["numerator"].sum()), float(rates["denominator"].sum())
    right = num / den
    ok, hint = judge_number(answer, right, kind="rate", mistakes=[
        (len(_year_findings(data)) / den, "分子是有问题的案卡数，不是问题条数。"),
        (float(_year_rates(data, "warning")["numerator"].sum()) / den, "这把“警告”级也算进去了；"
                                                                       "本题只算“错误”级。"),
    ])
    return verdict(ok, hint, f"差错率 {right:.2%}（{num:,.0f}/{den:,.0f} 张案卡）。",
                    "差错率 = 有错误的案卡 ÷ 案卡数：对 quality.error_rates 的 numerator 与 "
                    "denominator 分别求和再相除。")


def _audit(data: TrainingData) -> pd.DataFrame:
    return data.cached("audit", lambda: mods.audit(data.modifications, data.records))


@register("06.4", "审结后修改关键项的修改记录有多少条", "一个整数")
def _check_06_4(answer, data: TrainingData):
    fl = _audit(data)
    cc = fl[fl["flag"] == "closed_case_edit"]
    right = len(cc)
    ok, hint = judge_number(answer, right, kind="count", mistakes=[
        (cc["dept_case_no"].nunique(), "这是涉及的案件数。本题数修改记录（条）。"),
        (len(fl), "这是全部四类提示的合计。本题只数“审结后修改关键项”（closed_case_edit）。"),
        (len(data.modifications), "这是全部修改记录。本题只数审结后修改关键项的。"),
    ])
    return verdict(ok, hint, f"共 {right:,} 条审结后修改关键项的记录，"
                             f"涉及 {cc['dept_case_no'].nunique():,} 件、"
                              f"{cc['account'].nunique():,} 个账号。",
                    "modifications.audit(data.modifications, data.records)，数 flag "
                    "为 \"closed_case_edit\" 的行。")


@register("06.5", "找出一个需要核查的对象：差错集中的承办部门，或大量修改已审结案件的账号",
           "单位+部门，或账号；没有发现则填 \"无\"")
def _check_06_5(answer, data: TrainingData):
    findings, weak = [], []
    names = unit_names(data)
    rates = _year_rates(data, by=_DEPT)
    for _, row in rates[rates["position"].isin(["high_alarm", "high_alert"])].iterrows():
        code, dept = str(row["unit_code"]), str(row["department"])
        name = names.get(code, code)
        entry = {"match": (lambda a, code=code, name=name,
                           dept=dept: dept in a and mentions_unit(a, code, name))}
        if row["position"] == "high_alarm":
            entry["say"] = (f"{name}{dept}：{period_label(data.year)}错误级差错率"
                            f" {float(row['value']):.1%}"
                            f"（{int(row['numerator'])}/{int(row['denominator'])} 张），超出 "
                            "99.8% 控制限。"
                            "下一步：用 quality.error_trend 看差错集中在哪几个月，用 "
                            "quality_text.circular 生成通报。")
            findings.append(entry)
        else:
            entry["say"] = (f"{name}{dept}只超出 95% 控制限（预警），证据还不够强；看看有没有超出 "
                            "99.8% 的。")
            weak.append(entry)
    acc = data.cached("accounts", lambda: mods.account_flags(
        _audit(data), data.modifications, flag="closed_case_edit"))
    for _, row in acc[acc["flagged"]].iterrows():
        account = str(row["account"])
        findings.append({
            "match": (lambda a, account=account: account in a),
            "say": (f"账号 {account}：{int(row['numerator'])} "
                    f"条修改（占其全部修改的 {float(row['value']):.1%}）"
                    "是在案件审结后修改关键项，远高于其他账号。下一步：逐条核对修改依据和审批记录"
                    "。"),
        })
    a = as_text(answer)
    ctx = ""
    if any(str(d) in a for d in rates["department"].unique()) and \
            not any(mentions_unit(a, c, n) for c, n in names.items()):
        ctx = "各院都有这个部门：请同时写明是哪个院的部门。"
    return final_verdict(answer, findings, weak, what="对象",
                  how=("用 quality.error_rates 按 unit_code 和 department 比较本年的差错率，"
                       "或用 modifications.account_flags 看哪个账号审结后修改关键项的比例异常。"),
                  context=ctx)
