"""The canonical data model: tables, columns, display labels, code tables, sensitivity.

Canonical column names are English snake_case (``../shared/reference/glossary.md``). Enumerated
values are stored as English codes; Chinese appears only as display labels from the code tables.
Free-text categories that are Chinese by nature (unit, department, charge, agency names) are
stored as they are.

Tables
------
records
    One row per person (犯罪嫌疑人/被告人) per stage case (部门受案号), as exported. Judgment items
    live on the ``prosecution_review`` row, as on the unified system's 审查起诉 case card; a
    judgment-only corpus imports with ``stage = "judgment"``.
modifications
    The case-card change log (数据修改): who changed which field, old → new, when.
journeys
    Derived (:mod:`casework.model.journeys`): one row per person across arrest review → prosecution
    review → judgment, linked by ``unified_case_no`` and ``person_id``.
supervision
    One row per legal-supervision matter (监督事项) as the unified system exports it: unit,
    department, prosecutor, ``line`` (立案监督, 侦查活动监督, 审判监督, 刑事执行监督,
    羁押必要性审查, 检察建议), ``kind`` (通知立案, 二审抗诉 …), the agency supervised, start
    and result dates, ``result`` (采纳/纠正/未纠正, 改判/发回重审 …) and the linked case.

Sensitivity
-----------
``personal``: identifies a suspect (name, ID number, address, birth date) — never shown in any
report. ``internal``: names a prosecutor or a case — shown only at the ``internal`` access
level. ``open``: may appear in circulated aggregates.

Examples
--------
>>> from casework.model import schema
>>> schema.column("records", "accepted_on").label_zh
'受理日期'
>>> schema.label("stage", "arrest_review")
'审查逮捕'
>>> "person_name" in schema.sensitive_columns("records", level="circulated")
True
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from casework.base.errors import check_choice

# ---------------------------------------------------------------------------------------------
# Code tables: code -> (label_zh, label_en)
# ---------------------------------------------------------------------------------------------

CODE_TABLES: dict[str, dict[str, tuple[str, str]]] = {
    "stage": {
        "arrest_review": ("审查逮捕", "arrest review"),
        "prosecution_review": ("审查起诉", "prosecution review"),
        "judgment": ("判决", "judgment"),
    },
    "case_type": {
        "arrest_review_case": ("审查逮捕案件", "arrest review case"),
        "juvenile_arrest_review_case": ("审查逮捕案件（未检）", "juvenile arrest review case"),
        "first_instance_prosecution": ("一审公诉案件", "first-instance public prosecution"),
        "juvenile_first_instance_prosecution": (
            "一审公诉案件（未检）",
            "juvenile first-instance public prosecution",
        ),
    },
    "gender": {"male": ("男", "male"), "female": ("女", "female")},
    "education": {
        "illiterate": ("文盲", "illiterate"),
        "primary": ("小学", "primary school"),
        "junior_high": ("初中", "junior high school"),
        "senior_high": ("高中", "senior high school"),
        "vocational": ("中专/职高", "vocational school"),
        "college": ("大专", "college"),
        "university": ("大学本科及以上", "university or above"),
    },
    "occupation": {
        "farmer": ("农民", "farmer"),
        "worker": ("工人", "worker"),
        "unemployed": ("无业", "unemployed"),
        "self_employed": ("个体经营", "self-employed"),
        "company_staff": ("企业职工", "company staff"),
        "student": ("学生", "student"),
        "civil_servant": ("国家工作人员", "civil servant"),
        "other": ("其他", "other"),
    },
    "household": {"local": ("本地", "local"), "non_local": ("外地", "non-local")},
    "coercive_measure": {
        "none": ("未采取强制措施", "none"),
        "summons": ("拘传", "summons"),
        "bail": ("取保候审", "bail"),
        "residential_surveillance": ("监视居住", "residential surveillance"),
        "detention": ("刑事拘留", "criminal detention (custody)"),
        "arrest": ("逮捕", "arrest"),
    },
    "decision": {
        "arrest_approved": ("批准逮捕", "arrest approved"),
        "non_arrest": ("不批准逮捕", "arrest not approved"),
        "prosecute": ("起诉", "prosecuted"),
        "non_prosecution": ("不起诉", "not prosecuted"),
        "other": ("其他", "other"),
    },
    "decision_subtype": {
        # non_arrest reasons
        "no_necessity": ("无社会危险性不捕", "no necessity of arrest"),
        "insufficient_evidence_arrest": ("证据不足不捕", "insufficient evidence (arrest)"),
        "not_criminal": ("不构成犯罪不捕", "not a crime"),
        # non_prosecution types
        "statutory": ("法定不起诉", "statutory"),
        "discretionary": ("相对不起诉", "discretionary"),
        "insufficient_evidence": ("存疑不起诉", "insufficient evidence"),
        "conditional": ("附条件不起诉", "conditional"),
    },
    "procedure": {
        "fast_track": ("速裁程序", "fast-track"),
        "summary": ("简易程序", "summary"),
        "ordinary": ("普通程序", "ordinary"),
    },
    "recommendation_type": {
        "fixed": ("确定刑", "fixed"),
        "range": ("幅度刑", "range"),
        "none": ("未提出", "none"),
    },
    "principal_penalty": {
        "public_surveillance": ("管制", "public surveillance"),
        "criminal_detention": ("拘役", "criminal detention"),
        "fixed_term": ("有期徒刑", "fixed-term imprisonment"),
        "life": ("无期徒刑", "life imprisonment"),
        "death": ("死刑", "death penalty"),
        "fine_only": ("单处罚金", "fine only"),
        "exempted": ("免予刑事处罚", "exempted from punishment"),
        "acquitted": ("无罪", "acquitted"),
    },
    "measure_after_change": {
        "bail": ("取保候审", "bail"),
        "residential_surveillance": ("监视居住", "residential surveillance"),
        "released": ("释放", "released"),
    },
    # --- supervision (法律监督) lines, forms and results (issue 20) ----------------------------
    "supervision_line": {
        "case_filing_supervision": ("立案监督", "case-filing supervision"),
        "investigation_supervision": ("侦查活动监督", "investigation supervision"),
        "trial_supervision": ("审判监督", "trial supervision"),
        "execution_supervision": ("刑事执行监督", "criminal execution supervision"),
        "custody_review": ("羁押必要性审查", "custody necessity review"),
        "procuratorial_suggestion": ("检察建议", "procuratorial suggestion"),
    },
    "supervision_kind": {
        "request_reasons": ("要求说明不立案理由", "request for reasons of not filing"),
        "notice_to_file": ("通知立案", "notice to file a case"),
        "request_withdrawal": ("要求撤案", "request to withdraw a case"),
        "investigation_correction": ("纠正侦查活动违法", "correction of investigation"),
        "appeal_protest": ("二审抗诉", "protest on appeal"),
        "retrial_protest": ("审判监督程序抗诉", "protest in retrial procedure"),
        "trial_correction": ("纠正审判活动违法", "correction of trial activity"),
        "execution_correction": ("纠正刑事执行违法", "correction of criminal execution"),
        "custody_suggestion": ("羁押必要性审查建议", "custody review suggestion"),
        "suggestion": ("检察建议书", "procuratorial suggestion letter"),
    },
    "supervision_result": {
        "adopted": ("采纳", "adopted"),
        "not_adopted": ("未采纳", "not adopted"),
        "corrected": ("纠正", "corrected"),
        "not_corrected": ("未纠正", "not corrected"),
        "sentence_changed": ("改判", "sentence changed"),
        "remanded": ("发回重审", "remanded for retrial"),
        "upheld": ("维持原判", "judgment upheld"),
        "pending": ("尚未反馈", "pending"),
    },
}

# ---------------------------------------------------------------------------------------------
# Charges: name (the code itself, as in 刑事案由 tables) -> (label_en, charge_group)
# ---------------------------------------------------------------------------------------------

CHARGE_GROUPS: dict[str, tuple[str, str]] = {
    "public_safety": ("危害公共安全犯罪", "endangering public safety"),
    "economic_order": ("破坏社会主义市场经济秩序犯罪", "disrupting the market economy"),
    "person_rights": ("侵犯公民人身权利、民主权利犯罪", "against the person"),
    "property": ("侵犯财产犯罪", "property crimes"),
    "public_order": ("妨害社会管理秩序犯罪", "disrupting public order"),
    "drugs": ("毒品犯罪", "drug crimes"),
    "cyber": ("网络犯罪", "cyber crimes"),
    "duty": ("职务犯罪", "duty crimes"),
}

CHARGES: dict[str, tuple[str, str]] = {
    "危险驾驶": ("dangerous driving", "public_safety"),
    "交通肇事": ("traffic accident crime", "public_safety"),
    "放火": ("arson", "public_safety"),
    "非法持有枪支": ("illegal possession of firearms", "public_safety"),
    "生产、销售伪劣产品": ("producing or selling fake products", "economic_order"),
    "非法吸收公众存款": ("illegal public deposit taking", "economic_order"),
    "信用卡诈骗": ("credit card fraud", "economic_order"),
    "合同诈骗": ("contract fraud", "economic_order"),
    "走私普通货物、物品": ("smuggling ordinary goods", "economic_order"),
    "故意杀人": ("intentional homicide", "person_rights"),
    "故意伤害": ("intentional injury", "person_rights"),
    "强奸": ("rape", "person_rights"),
    "非法拘禁": ("illegal detention", "person_rights"),
    "侵犯公民个人信息": ("infringing personal information", "person_rights"),
    "抢劫": ("robbery", "property"),
    "盗窃": ("theft", "property"),
    "诈骗": ("fraud", "property"),
    "抢夺": ("snatching", "property"),
    "敲诈勒索": ("extortion", "property"),
    "职务侵占": ("embezzlement by employees", "property"),
    "寻衅滋事": ("picking quarrels and provoking trouble", "public_order"),
    "聚众斗殴": ("affray", "public_order"),
    "开设赌场": ("running a casino", "public_order"),
    "赌博": ("gambling", "public_order"),
    "掩饰、隐瞒犯罪所得": ("concealing proceeds of crime", "public_order"),
    "妨害公务": ("obstructing official duties", "public_order"),
    "非法采矿": ("illegal mining", "public_order"),
    "组织卖淫": ("organising prostitution", "public_order"),
    "走私、贩卖、运输、制造毒品": ("drug trafficking", "drugs"),
    "非法持有毒品": ("illegal possession of drugs", "drugs"),
    "容留他人吸毒": ("harbouring drug users", "drugs"),
    "帮助信息网络犯罪活动": ("assisting information network crimes", "cyber"),
    "非法利用信息网络": ("illegal use of information networks", "cyber"),
    "贪污": ("corruption", "duty"),
    "受贿": ("taking bribes", "duty"),
}

# ---------------------------------------------------------------------------------------------
# Columns
# ---------------------------------------------------------------------------------------------

DTYPES = ("string", "int", "float", "bool", "date", "datetime", "list")


@dataclass(frozen=True)
class Column:
    """One canonical column.

    ``dtype`` is one of ``string, int, float, bool, date, datetime, list`` (``list`` = list of
    strings); ``codes`` names a code table in :data:`CODE_TABLES` (or ``"charge"``);
    ``sensitivity`` is ``open``, ``internal`` or ``personal``; ``aliases`` are header variants
    seen in exports (the importer maps them without configuration).
    """

    name: str
    dtype: str
    label_zh: str
    label_en: str
    required: bool = False
    codes: str | None = None
    sensitivity: str = "open"
    aliases: tuple[str, ...] = field(default=())


def _c(name, dtype, zh, en, *, req=False, codes=None, sens="open", aliases=()):
    return Column(name, dtype, zh, en, req, codes, sens, tuple(aliases))


RECORDS: tuple[Column, ...] = (
    # --- identity of the case ---------------------------------------------------------------
    _c("unit_code", "string", "单位编码", "unit code", req=True,
       aliases=("院编码", "检察院编码", "DWBM")),
    _c("unit_name", "string", "承办单位", "unit",
       aliases=("单位名称", "检察院", "院名称", "承办院")),
    _c("dept_case_no", "string", "部门受案号", "department case number", req=True, sens="internal",
       aliases=("部门受案号码", "受案号", "BMSAH")),
    _c("unified_case_no", "string", "统一受案号", "unified case number", req=True, sens="internal",
       aliases=("统一受案号码", "TYSAH")),
    _c("case_name", "string", "案件名称", "case name", sens="internal", aliases=("案名", "AJMC")),
    _c("stage", "string", "办案环节", "stage", req=True, codes="stage",
       aliases=("环节", "诉讼环节")),
    _c("case_type", "string", "案件类别", "case type", codes="case_type",
       aliases=("案件类别名称", "案件类型", "AJLBMC")),
    _c("department", "string", "承办部门", "department", aliases=("办案部门", "承办部门名称")),
    _c("prosecutor_id", "string", "承办检察官工号", "prosecutor id", sens="internal",
       aliases=("工号", "承办人工号", "检察官工号", "GH")),
    _c("prosecutor_name", "string", "承办检察官", "prosecutor", sens="internal",
       aliases=("承办人", "承办检察官姓名", "承办人姓名", "CBRXM")),
    _c("referring_agency", "string", "移送机关", "referring agency",
       aliases=("侦查机关", "移送单位", "提请机关", "移送机关名称")),
    _c("police_station", "string", "所属派出所", "police station",
       aliases=("派出所", "办案派出所")),
    # --- person ---------------------------------------------------------------------------------
    _c("person_id", "string", "嫌疑人编号", "person id", req=True, sens="internal",
       aliases=("犯罪嫌疑人编号", "被告人编号", "人员编号")),
    _c("person_name", "string", "嫌疑人姓名", "person name", sens="personal",
       aliases=("嫌疑人名称", "犯罪嫌疑人姓名", "被告人姓名", "姓名")),
    _c("id_number", "string", "身份证号码", "ID number", sens="personal",
       aliases=("身份证号", "证件号码", "公民身份号码")),
    _c("address", "string", "住址", "address", sens="personal",
       aliases=("住所地", "现住址", "家庭住址")),
    _c("gender", "string", "性别", "gender", codes="gender"),
    _c("birth_date", "date", "出生日期", "birth date", sens="personal", aliases=("出生年月日",)),
    _c("age", "int", "年龄", "age at acceptance", aliases=("受理时年龄",)),
    _c("ethnicity", "string", "民族", "ethnicity"),
    _c("education", "string", "文化程度", "education", codes="education"),
    _c("occupation", "string", "职业", "occupation", codes="occupation",
       aliases=("职业/身份", "身份")),
    _c("household", "string", "户籍", "household", codes="household",
       aliases=("户籍所在地类型", "本地/外地")),
    _c("minor", "bool", "是否未成年人", "minor", aliases=("未成年人", "未成年")),
    _c("recidivist", "bool", "是否累犯", "recidivist", aliases=("累犯",)),
    _c("prior_record", "bool", "是否有前科", "prior record", aliases=("前科",)),
    _c("co_offending", "bool", "是否共同犯罪", "co-offending", aliases=("共同犯罪",)),
    _c("gang", "bool", "是否团伙犯罪", "gang", aliases=("团伙犯罪", "犯罪集团")),
    # --- charges --------------------------------------------------------------------------------
    _c("charge", "string", "罪名", "charge", req=True, codes="charge",
       aliases=("案由", "移送案由", "审查认定罪名", "主罪名", "YSAY")),
    _c("charges", "list", "全部罪名", "all charges", codes="charge",
       aliases=("罪名（全部）", "涉嫌罪名")),
    _c("charge_group", "string", "罪名类别", "charge group", aliases=("罪名分类",)),
    # --- measures and dates ---------------------------------------------------------------------
    _c("accepted_on", "date", "受理日期", "accepted on", req=True,
       aliases=("受理时间", "收案日期")),
    _c("closed_on", "date", "审结日期", "closed on", aliases=("审结时间", "办结日期", "结案日期")),
    _c("entered_at", "datetime", "案卡填录时间", "card entered at",
       aliases=("录入时间", "填录日期", "入卷日期")),
    _c("coercive_measure", "string", "强制措施", "coercive measure", codes="coercive_measure",
       aliases=("强制措施类型", "受理时强制措施")),
    _c("detained", "bool", "是否羁押", "in custody before decision",
       aliases=("羁押状态", "诉前羁押")),
    _c("arrested_on", "date", "逮捕日期", "arrested on",
       aliases=("批准逮捕日期", "执行逮捕日期", "执行日期")),
    _c("measure_changed_on", "date", "强制措施变更日期", "measure changed on",
       aliases=("变更强制措施日期", "捕后变更日期")),
    _c("measure_after_change", "string", "变更后强制措施", "measure after change",
       codes="measure_after_change", aliases=("变更后措施",)),
    # --- decision -------------------------------------------------------------------------------
    _c("decision", "string", "审结结论", "decision", codes="decision",
       aliases=("处理结果", "审查结论", "CLJG")),
    _c("decision_subtype", "string", "不捕/不诉类型", "decision subtype", codes="decision_subtype",
       aliases=("不捕情形", "不起诉类型", "不诉类型")),
    _c("procedure", "string", "适用程序", "procedure", codes="procedure", aliases=("程序",)),
    _c("supplementary_investigation", "int", "退回补充侦查次数", "supplementary investigations",
       aliases=("退查次数", "退回补充侦查")),
    _c("review_extension", "int", "延长审查起诉期限次数", "review extensions",
       aliases=("延长次数", "延长审查起诉期限")),
    _c("withdrawal", "bool", "是否撤回起诉", "prosecution withdrawn", aliases=("撤回起诉",)),
    # --- plea and recommendation ----------------------------------------------------------------
    _c("plea_leniency", "bool", "是否认罪认罚", "plea leniency",
       aliases=("认罪认罚", "适用认罪认罚")),
    _c("surrender", "bool", "是否自首", "surrendered", aliases=("自首",)),
    _c("circumstances_review", "string", "审查认定法定情节", "statutory circumstances (review)",
       aliases=("审查认定情节",)),
    _c("recommendation_type", "string", "量刑建议类型", "recommendation type",
       codes="recommendation_type", aliases=("量刑建议方式",)),
    _c("recommended_penalty", "string", "建议主刑", "recommended penalty",
       codes="principal_penalty", aliases=("建议刑种", "量刑建议刑种")),
    _c("recommended_term_months", "float", "建议刑期（月）", "recommended term (months)",
       aliases=("建议刑期", "量刑建议刑期")),
    _c("recommended_probation", "bool", "是否建议缓刑", "probation recommended",
       aliases=("建议缓刑",)),
    # --- judgment -------------------------------------------------------------------------------
    _c("court", "string", "审判法院", "court", aliases=("判决法院", "一审法院")),
    _c("judgment_on", "date", "判决日期", "judgment on", aliases=("判决时间", "裁判日期")),
    _c("principal_penalty", "string", "主刑", "principal penalty", codes="principal_penalty",
       aliases=("判决主刑", "宣告刑种", "刑种")),
    _c("term_months", "float", "刑期（月）", "term (months)",
       aliases=("宣告刑期", "判决刑期", "刑期")),
    _c("probation", "bool", "是否缓刑", "suspended sentence", aliases=("缓刑",)),
    _c("probation_months", "float", "缓刑考验期（月）", "probation (months)", aliases=("考验期",)),
    _c("fine", "float", "罚金（元）", "fine (yuan)", aliases=("罚金", "罚金数额")),
    _c("recommendation_adopted", "bool", "量刑建议是否采纳", "recommendation adopted",
       aliases=("法院是否采纳量刑建议", "采纳量刑建议")),
    _c("circumstances_judgment", "string", "裁判认定法定情节",
       "statutory circumstances (judgment)", aliases=("裁判认定情节",)),
    _c("judgment_changed_circumstances", "bool", "裁判改变起诉情形",
       "judgment changed circumstances", aliases=("裁判改变起诉情形已填",)),
    _c("appeal", "bool", "是否上诉", "appealed", aliases=("上诉",)),
    _c("protest", "bool", "是否抗诉", "protested", aliases=("抗诉",)),
    # --- facts ----------------------------------------------------------------------------------
    _c("offence_at", "datetime", "案发时间", "offence at", aliases=("作案时间", "发案时间")),
    _c("place_type", "string", "案发场所", "place type", aliases=("发案场所", "作案地点类型")),
    _c("amount_involved", "float", "涉案金额（元）", "amount involved (yuan)",
       aliases=("涉案金额", "涉案数额")),
    _c("case_summary", "string", "案情摘要", "case summary", sens="internal",
       aliases=("简要案情", "案情简介")),
    # --- judgment-only corpora (appended for casework.analysis.topics.sentencing) ---------
    # Public judgment corpora give months of imprisonment plus death / life flags instead of a
    # penalty type; principal_penalty is derived from them (topics.sentencing).
    _c("death_penalty", "bool", "是否判处死刑", "death penalty", aliases=("判处死刑",)),
    _c("life_imprisonment", "bool", "是否判处无期徒刑", "life imprisonment",
       aliases=("判处无期徒刑",)),
)

MODIFICATIONS: tuple[Column, ...] = (
    _c("unit_code", "string", "单位编码", "unit code", req=True),
    _c("dept_case_no", "string", "部门受案号", "department case number", req=True,
       sens="internal"),
    _c("person_id", "string", "嫌疑人编号", "person id", sens="internal"),
    _c("field", "string", "修改项", "field", req=True, aliases=("修改字段", "案卡项")),
    _c("old_value", "string", "修改前", "old value", aliases=("原值", "修改前内容")),
    _c("new_value", "string", "修改后", "new value", aliases=("新值", "修改后内容")),
    _c("account", "string", "修改账号", "account", req=True, sens="internal",
       aliases=("操作人", "修改人")),
    _c("modified_at", "datetime", "修改时间", "modified at", req=True, aliases=("操作时间",)),
)

JOURNEYS: tuple[Column, ...] = (
    _c("unit_code", "string", "单位编码", "unit code", req=True),
    _c("unified_case_no", "string", "统一受案号", "unified case number", req=True,
       sens="internal"),
    _c("person_id", "string", "嫌疑人编号", "person id", req=True, sens="internal"),
    _c("charge", "string", "罪名", "charge"),
    _c("charge_group", "string", "罪名类别", "charge group"),
    _c("referring_agency", "string", "移送机关", "referring agency"),
    _c("police_station", "string", "所属派出所", "police station"),
    _c("arrest_dept_case_no", "string", "审查逮捕部门受案号", "arrest-review case number",
       sens="internal"),
    _c("arrest_accepted_on", "date", "审查逮捕受理日期", "arrest review accepted on"),
    _c("arrest_closed_on", "date", "审查逮捕审结日期", "arrest review closed on"),
    _c("arrest_decision", "string", "审查逮捕结论", "arrest review decision", codes="decision"),
    _c("arrested_on", "date", "逮捕日期", "arrested on"),
    _c("post_arrest_bail", "bool", "捕后取保候审", "released on bail after arrest"),
    _c("measure_changed_on", "date", "强制措施变更日期", "measure changed on"),
    _c("prosecution_dept_case_no", "string", "审查起诉部门受案号",
       "prosecution-review case number", sens="internal"),
    _c("prosecution_accepted_on", "date", "审查起诉受理日期", "prosecution review accepted on"),
    _c("prosecution_closed_on", "date", "审查起诉审结日期", "prosecution review closed on"),
    _c("prosecution_decision", "string", "审查起诉结论", "prosecution review decision",
       codes="decision"),
    _c("non_prosecution_type", "string", "不起诉类型", "non-prosecution type",
       codes="decision_subtype"),
    _c("judgment_on", "date", "判决日期", "judgment on"),
    _c("principal_penalty", "string", "主刑", "principal penalty", codes="principal_penalty"),
)

SUPERVISION: tuple[Column, ...] = (
    _c("unit_code", "string", "单位编码", "unit code", req=True,
       aliases=("院编码", "检察院编码", "DWBM")),
    _c("unit_name", "string", "承办单位", "unit", aliases=("单位名称", "检察院", "承办院")),
    _c("matter_no", "string", "监督事项编号", "supervision matter number", req=True,
       sens="internal", aliases=("监督案号", "监督事项案号", "监督文书号")),
    _c("department", "string", "承办部门", "department", aliases=("办案部门",)),
    _c("prosecutor_id", "string", "承办检察官工号", "prosecutor id", sens="internal",
       aliases=("工号", "承办人工号", "检察官工号")),
    _c("prosecutor_name", "string", "承办检察官", "prosecutor", sens="internal",
       aliases=("承办人", "承办人姓名")),
    _c("line", "string", "监督类型", "supervision line", req=True, codes="supervision_line",
       aliases=("监督业务", "监督业务类型", "监督条线")),
    _c("kind", "string", "监督方式", "supervision form", codes="supervision_kind",
       aliases=("监督事项", "监督措施", "监督手段")),
    _c("supervised_agency", "string", "被监督单位", "agency supervised",
       aliases=("监督对象", "被监督机关", "被监督单位名称")),
    _c("started_on", "date", "监督日期", "supervision started on", req=True,
       aliases=("发出日期", "提出日期", "监督时间")),
    _c("result_on", "date", "反馈日期", "result on", aliases=("回复日期", "结果日期")),
    _c("result", "string", "监督结果", "result", codes="supervision_result",
       aliases=("采纳情况", "纠正情况", "监督结果类型")),
    _c("linked_case_no", "string", "关联统一受案号", "linked unified case number",
       sens="internal", aliases=("关联案号", "关联案件受案号", "统一受案号")),
)

TABLES: dict[str, tuple[Column, ...]] = {
    "records": RECORDS,
    "modifications": MODIFICATIONS,
    "journeys": JOURNEYS,
    "supervision": SUPERVISION,
}

#: Headers only a supervision export carries (the importer detects the table from them).
SUPERVISION_ONLY = ("matter_no", "line", "kind", "supervised_agency", "result_on")

#: A records row is identified by these columns (duplicates are an import error).
RECORD_KEY = ("stage", "dept_case_no", "person_id")

#: Judgment-only corpora carry no procuratorate dates: on rows whose stage is ``judgment``
#: these otherwise required columns may be empty.
NOT_REQUIRED_FOR_JUDGMENT = ("accepted_on",)

_PANDAS_DTYPES = {
    "string": "string",
    "int": "Int64",
    "float": "Float64",
    "bool": "boolean",
    "date": "datetime64[s]",
    "datetime": "datetime64[s]",
    "list": "object",
}

# ---------------------------------------------------------------------------------------------
# Accessors
# ---------------------------------------------------------------------------------------------


def columns(table: str) -> tuple[Column, ...]:
    """All columns of ``table`` (``records``, ``modifications``, ``journeys``, ``supervision``)."""
    check_choice("table", table, TABLES)
    return TABLES[table]


def column(table: str, name: str) -> Column:
    """One column of ``table`` by canonical name."""
    for col in columns(table):
        if col.name == name:
            return col
    raise KeyError(f"{table}.{name}")


def column_names(table: str) -> list[str]:
    """Canonical column names of ``table``, in schema order."""
    return [c.name for c in columns(table)]


def required_columns(table: str) -> list[str]:
    """Columns an import of ``table`` must supply."""
    return [c.name for c in columns(table) if c.required]


def pandas_dtype(col: Column) -> str:
    """The pandas dtype a canonical column is stored as."""
    return _PANDAS_DTYPES[col.dtype]


def sensitive_columns(table: str, *, level: str = "circulated") -> list[str]:
    """Columns that must not appear in output at ``level``.

    ``internal`` hides only ``personal`` columns; ``circulated`` also hides ``internal`` ones
    (prosecutor names, case numbers, case names and summaries).
    """
    check_choice("level", level, ["internal", "circulated"])
    hidden = {"personal"} if level == "internal" else {"personal", "internal"}
    return [c.name for c in columns(table) if c.sensitivity in hidden]


def code_table(name: str) -> pd.DataFrame:
    """A code table as a frame with columns ``code, label_zh, label_en``.

    ``name`` is a key of :data:`CODE_TABLES`, ``"charge"`` (adds ``charge_group``) or
    ``"charge_group"``.
    """
    if name == "charge":
        rows = [(k, k, en, grp) for k, (en, grp) in CHARGES.items()]
        return pd.DataFrame(rows, columns=["code", "label_zh", "label_en", "charge_group"])
    table = CHARGE_GROUPS if name == "charge_group" else CODE_TABLES[name]
    rows = [(k, zh, en) for k, (zh, en) in table.items()]
    return pd.DataFrame(rows, columns=["code", "label_zh", "label_en"])


def label(codes: str, code, *, lang: str = "zh") -> str:
    """Display label of one code; unknown codes are returned unchanged.

    Examples
    --------
    >>> label("decision_subtype", "discretionary")
    '相对不起诉'
    >>> label("charge_group", "property", lang="en")
    'property crimes'
    """
    if codes == "charge":
        return code if lang == "zh" else CHARGES.get(code, (code,))[0]
    table = CHARGE_GROUPS if codes == "charge_group" else CODE_TABLES.get(codes, {})
    if code not in table:
        return code
    return table[code][0 if lang == "zh" else 1]


def charge_group_of(charge: str) -> str | None:
    """The analytic charge group of a charge name, or ``None`` when unknown."""
    found = CHARGES.get(charge)
    return found[1] if found else None


def empty_frame(table: str) -> pd.DataFrame:
    """An empty frame with the canonical columns and dtypes of ``table``."""
    return pd.DataFrame({c.name: pd.Series(dtype=pandas_dtype(c)) for c in columns(table)})


def conform(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Return ``df`` with every canonical column present (missing ones all-null), canonical
    dtypes and schema order; extra columns are kept at the end.

    Examples
    --------
    >>> import pandas as pd
    >>> out = conform(pd.DataFrame({"unit_code": ["371329"], "age": [17]}), "records")
    >>> str(out["age"].dtype), out.shape[1] == len(columns("records"))
    ('Int64', True)
    """
    out = {}
    for col in columns(table):
        dtype = pandas_dtype(col)
        if col.name in df.columns:
            s = df[col.name]
            if col.dtype in ("date", "datetime"):
                s = pd.to_datetime(s).astype(dtype)
            elif col.dtype != "list":
                s = s.astype(dtype)
        else:
            s = pd.Series(pd.NA if col.dtype != "list" else None, index=df.index, dtype=dtype)
        out[col.name] = s
    extra = [c for c in df.columns if c not in out]
    return pd.concat([pd.DataFrame(out, index=df.index), df[extra]], axis=1)
