"""The three documents of the office's monthly work, as document models for
:func:`casework.present.docx_writer.write`.

* :func:`periodic_analysis` — 按期分析 (for the 业务数据分析研判会商) / 专题分析报告:
  一、基本情况 → 二、存在问题 → 三、原因分析 → 四、对策建议; 原因 and 对策 hold computed leads
  and clearly marked places (【待分析人员补充…】) for the analyst;
* :func:`error_notice` — 案卡差错通报: per department how many cards were wrong, what was wrong
  (the rule in Chinese), and, at the internal level only, the case list as an attachment;
* :func:`joint_meeting` — 联席会议 briefing for one investigating agency: its stations'
  findings with the start month and the comparison, the legal basis, the points for
  discussion. Always written at the circulated level: no internal-only sentence, no case
  list, no person names (findings of other entity types are never passed in).

Inputs are the ``findings.json`` documents of the month's reports (only findings reach them)
and the CSV tables the reports wrote; every number comes from them.

Examples
--------
>>> f = {"entity_type": "station", "entity_id": "东湖分局/城关派出所",
...      "entity_name": "东湖分局城关派出所", "indicator_name": "捕后取保候审率",
...      "detector": "bail", "start_month": "2024-04", "months_signalling": 9,
...      "sentence": "东湖分局城关派出所捕后取保候审率自2024年4月起明显上升。"}
>>> m = joint_meeting("东湖分局", [f], period_label="2024年12月", date="2026-12-03")
>>> [b["text"] for b in m["body"] if b["kind"] == "heading" and b["level"] == 1]
['基本情况', '需要沟通的问题', '法律依据', '建议讨论事项']
"""

from __future__ import annotations

import pandas as pd

from casework.present import wording

ANALYST = "待分析人员补充"

#: Computed leads per detector: (likely causes, measures).
LEADS = {
    "bail": ("捕后变更强制措施的原因可能涉及案件证据变化、羁押必要性变化、犯罪嫌疑人身体状况，"
             "也可能涉及侦查机关执法问题，需与侦查机关逐起核实。",
             "在联席会议上通报，核对每一起变更是否依照刑事诉讼法第九十六条及时通知原批准逮捕的"
             "人民检察院，对未通知或理由不充分的逐起反馈。"),
    "error_rate": ("案卡差错集中出现，可能与填录要求掌握不一、审核把关不严或集中补录有关。",
                   "向相关部门发出案卡差错通报，督促限期整改，并在整改后复查。"),
    "quality": ("案卡差错集中出现，可能与填录要求掌握不一、审核把关不严或集中补录有关。",
                "向相关部门发出案卡差错通报，督促限期整改，并在整改后复查。"),
    "modification": ("审结后集中修改关键项，可能与事后补录、结论调整或账号使用不规范有关。",
                     "核查相关账号审结后修改关键项的情况，逐条核对修改依据。"),
}
DEFAULT_LEAD = ("变化原因需结合案件具体情况和业务部门意见核实。",
                "持续监测，并在下次会商时通报变化情况。")
DETECTOR_KIND = {"funnel": "bail", "cusum": "bail"}


def _sentences(findings: list[dict]) -> list[str]:
    return [wording.plain_text(f.get("sentence") or "") for f in findings if f.get("sentence")]


def _numbered(texts: list[str]) -> list[dict]:
    if len(texts) == 1:
        return [{"kind": "paragraph", "text": texts[0]}]
    return [{"kind": "paragraph", "text": f"{i}. {t}"} for i, t in enumerate(texts, start=1)]


def periodic_analysis(reports: list[dict], *, period_label: str, date: str,
                      owner: str = "案件管理部门", level: str = "internal",
                      title: str | None = None) -> dict:
    """按期分析 of the month from the reports' ``findings.json`` documents.

    Parameters
    ----------
    reports : list of dict
        ``findings.json`` documents (``title``, ``n_tests``, ``findings`` …).
    period_label : str
        ``"2024年12月"``.
    date, owner, level : str
        落款 date (ISO), issuing office, access level.
    title : str, optional
        Default ``"<period>业务数据分析研判报告"``.

    Examples
    --------
    >>> m = periodic_analysis([{"title": "案卡质量", "n_tests": 10, "findings": []}],
    ...                       period_label="2024年12月", date="2026-12-03")
    >>> [b["text"] for b in m["body"] if b["kind"] == "heading"]
    ['基本情况', '存在问题', '原因分析', '对策建议']
    """
    n_tests = sum(int(r.get("n_tests") or 0) for r in reports)
    all_f = [f for r in reports for f in r.get("findings", [])]
    body: list[dict] = [{"kind": "heading", "level": 1, "text": "基本情况"}]
    body.append({"kind": "paragraph", "text": (
        f"{period_label}，共对{len(reports)}项分析作了{n_tests:,}项比较，排除偶然波动后，"
        f"发现需关注的问题{len(all_f)}项。")})
    for r in reports:
        k = len(r.get("findings", []))
        body.append({"kind": "paragraph", "text": (
            f"{r.get('title', r.get('template', ''))}：比较{int(r.get('n_tests') or 0):,}项，"
            + (f"需关注{k}项。" if k else "未发现需关注的问题。"))})
    body.append({"kind": "heading", "level": 1, "text": "存在问题"})
    if not all_f:
        body.append({"kind": "paragraph", "text": "本期未发现需关注的问题。"})
    for r in reports:
        if r.get("findings"):
            body.append({"kind": "heading", "level": 2, "text": str(r.get("title", ""))})
            body += _numbered(_sentences(r["findings"]))
    body.append({"kind": "heading", "level": 1, "text": "原因分析"})
    kinds = []
    for f in all_f:
        kind = DETECTOR_KIND.get(f.get("detector"), f.get("detector"))
        if kind not in kinds:
            kinds.append(kind)
    for f in all_f:
        body.append({"kind": "heading", "level": 2,
                     "text": f"{f.get('entity_name', '')}{f.get('indicator_name', '')}"})
        kind = DETECTOR_KIND.get(f.get("detector"), f.get("detector"))
        body.append({"kind": "paragraph", "text": LEADS.get(kind, DEFAULT_LEAD)[0]})
        body.append({"kind": "placeholder",
                     "text": f"{ANALYST}：结合案件复核和部门沟通情况，写明主要原因"})
    if not all_f:
        body.append({"kind": "placeholder", "text": f"{ANALYST}：本期总体情况的原因分析"})
    body.append({"kind": "heading", "level": 1, "text": "对策建议"})
    for kind in kinds:
        body.append({"kind": "paragraph", "text": LEADS.get(kind, DEFAULT_LEAD)[1]})
    body.append({"kind": "placeholder", "text": f"{ANALYST}：具体措施、责任部门和完成时限"})
    return {"title": title or f"{period_label}业务数据分析研判报告", "level": level,
            "owner": owner, "date": date, "body": body, "appendix": _method_appendix(reports)}


def _method_appendix(reports: list[dict]) -> list[dict]:
    out = [{"kind": "paragraph", "text": (
        "各项比较均与同期其他单位（部门、派出所）或本单位以往水平对照；对一份报告中的全部"
        "比较统一控制误报（错误发现率不超过5%），只有仍需关注的事项写入正文。各报告的全部"
        "比较结果、方法和口径见对应的分析报告。")}]
    for r in reports:
        out.append({"kind": "paragraph", "text": (
            f"{r.get('title', '')}：数据快照 {r.get('snapshot', '—')}，生成于 "
            f"{r.get('generated_at', '—')}。")})
    return out


def error_notice(department_rates: pd.DataFrame | None, rule_counts: pd.DataFrame | None,
                 findings: list[dict], *, period_label: str, date: str,
                 owner: str = "案件管理部门", level: str = "internal",
                 attachment: str | None = None) -> dict:
    """案卡差错通报 from the data-quality report's tables.

    Parameters
    ----------
    department_rates : DataFrame
        The report's ``error_rate_department.csv`` (承办单位, 承办部门, 差错案卡数, 案卡数,
        差错率).
    rule_counts : DataFrame
        ``rule_counts.csv`` (规则, 问题, 问题条数, 涉及案卡数 …).
    findings : list of dict
        The data-quality report's findings.
    attachment : str, optional
        File name of the case list (internal level only; never mentioned otherwise).
    """
    body: list[dict] = [{"kind": "heading", "level": 1, "text": "总体情况"}]
    deps = pd.DataFrame() if department_rates is None else department_rates.copy()
    if len(deps):
        wrong = pd.to_numeric(deps.get("差错案卡数"), errors="coerce").fillna(0)
        total = pd.to_numeric(deps.get("案卡数"), errors="coerce").fillna(0)
        body.append({"kind": "paragraph", "text": (
            f"{period_label}，对{int(total.sum()):,}件案卡作规范性检查，发现差错案卡"
            f"{int(wrong.sum()):,}件，差错率{wording.percent(wrong.sum() / max(total.sum(), 1))}"
            f"，涉及{int((wrong > 0).sum())}个部门。")})
    if findings:
        body.append({"kind": "heading", "level": 1, "text": "需关注的部门"})
        body += _numbered(_sentences(findings))
    body.append({"kind": "heading", "level": 1, "text": "各部门差错情况"})
    if len(deps):
        deps["_n"] = pd.to_numeric(deps["差错案卡数"], errors="coerce").fillna(0)
        deps = deps[deps["_n"] > 0].sort_values("_n", ascending=False)
        rows = []
        for _, r in deps.iterrows():
            rate = pd.to_numeric(pd.Series([r.get("差错率")]), errors="coerce").iloc[0]
            rows.append([str(r.get("承办单位", "")), str(r.get("承办部门", "")),
                         f"{int(r['_n']):,}", f"{int(float(r.get('案卡数') or 0)):,}",
                         wording.percent(rate) if pd.notna(rate) else "—"])
        body.append({"kind": "table", "caption": "各部门差错案卡",
                     "columns": ["承办单位", "承办部门", "差错案卡数", "案卡数", "差错率"],
                     "rows": rows})
    else:
        body.append({"kind": "paragraph", "text": "本期未发现差错案卡。"})
    body.append({"kind": "heading", "level": 1, "text": "主要差错类型"})
    if rule_counts is not None and len(rule_counts):
        rc = rule_counts.copy()
        rc["_n"] = pd.to_numeric(rc.get("问题条数"), errors="coerce").fillna(0)
        rc = rc.sort_values("_n", ascending=False)
        rows = [[wording.plain_text(str(r.get("问题", ""))), str(r.get("级别", "")),
                 f"{int(r['_n']):,}", str(r.get("涉及案卡数", ""))]
                for _, r in rc.iterrows() if r["_n"] > 0]
        if rows:
            body.append({"kind": "table", "caption": "差错类型（按检查规则）",
                         "columns": ["差错内容", "级别", "问题条数", "涉及案卡数"], "rows": rows})
    body.append({"kind": "heading", "level": 1, "text": "整改要求"})
    body.append({"kind": "paragraph", "text": (
        "请各相关部门对照通报逐件核实，依照案卡填录规范补正，整改情况报案件管理部门。")})
    body.append({"kind": "placeholder", "text": f"{ANALYST}：整改时限和复查安排"})
    appendix = []
    if attachment and level == "internal":
        appendix.append({"kind": "paragraph", "text": (
            f"差错案卡清单见随附电子表格“{attachment}”（仅限内部）。")})
    return {"title": f"关于{period_label}案卡填录差错情况的通报", "level": level,
            "owner": owner, "date": date, "body": body, "appendix": appendix,
            "appendix_title": "附件：差错案卡清单"}


LEGAL_BASIS = {
    "bail": "《中华人民共和国刑事诉讼法》第九十六条：人民法院、人民检察院和公安机关如果发现对"
            "犯罪嫌疑人、被告人采取强制措施不当的，应当及时撤销或者变更。公安机关释放被逮捕"
            "的人或者变更逮捕措施的，应当通知原批准的人民检察院。",
}
DEFAULT_BASIS = ("《人民检察院刑事诉讼规则》关于侦查监督与协作配合的有关规定。")


def joint_meeting(agency: str, findings: list[dict], *, period_label: str, date: str,
                  owner: str = "案件管理部门") -> dict:
    """联席会议 briefing for one investigating agency (circulated level).

    Parameters
    ----------
    agency : str
        The agency's full name (entity ids of its stations start with it).
    findings : list of dict
        Findings on the agency or its stations (entity types ``agency``/``station``).
    """
    body: list[dict] = [{"kind": "heading", "level": 1, "text": "基本情况"}]
    stations = sorted({f.get("entity_name", "") for f in findings})
    body.append({"kind": "paragraph", "text": (
        f"截至{period_label}，经与同期其他派出所（侦查部门）和本单位以往水平比较，{agency}"
        f"有{len(findings)}项情况需要在联席会议上沟通，涉及{len(stations)}个单位。")})
    body.append({"kind": "heading", "level": 1, "text": "需要沟通的问题"})
    for f in findings:
        body.append({"kind": "heading", "level": 2,
                     "text": f"{f.get('entity_name', '')}{f.get('indicator_name', '')}"})
        text = wording.strip_internal(wording.plain_text(f.get("sentence") or ""))
        if text:
            body.append({"kind": "paragraph", "text": text})
        start = f.get("start_month")
        if start:
            body.append({"kind": "paragraph", "text": (
                f"上述变化自{wording.month_zh(start)}开始，已持续"
                f"{int(f.get('months_signalling') or 0)}个月。")})
    body.append({"kind": "heading", "level": 1, "text": "法律依据"})
    kinds = {DETECTOR_KIND.get(f.get("detector"), f.get("detector")) for f in findings}
    for text in sorted({LEGAL_BASIS.get(k, DEFAULT_BASIS) for k in kinds} or {DEFAULT_BASIS}):
        body.append({"kind": "paragraph", "text": text})
    body.append({"kind": "heading", "level": 1, "text": "建议讨论事项"})
    points = ["请侦查机关说明上述变化的主要原因。",
              "双方逐起核对有关变更是否依法及时通知原批准逮捕的人民检察院，对未通知或理由不充分的"
              "逐起反馈。" if "bail" in kinds else "双方核对有关情况，对存在问题的逐项反馈。",
              "商定此后的信息通报和协作配合机制。"]
    body += _numbered(points)
    body.append({"kind": "placeholder", "text": f"{ANALYST}：会前沟通情况及其他议题"})
    return {"title": f"关于{agency}有关执法情况的联席会议通报", "level": "circulated",
            "subtitle": f"（{period_label}）", "owner": owner, "date": date, "body": body,
            "appendix": []}


def agency_of(finding: dict) -> str | None:
    """The investigating agency a station/agency finding belongs to (its entity id's head).

    Examples
    --------
    >>> agency_of({"entity_type": "station", "entity_id": "江州市公安局东湖分局/城关派出所"})
    '江州市公安局东湖分局'
    >>> agency_of({"entity_type": "unit", "entity_id": "930104"}) is None
    True
    """
    if finding.get("entity_type") not in ("agency", "station"):
        return None
    return str(finding.get("entity_id", "")).split("/")[0] or None


__all__ = ["periodic_analysis", "error_notice", "joint_meeting", "agency_of", "LEADS",
           "LEGAL_BASIS"]
