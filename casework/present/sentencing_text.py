"""Chinese sentences and display labels of the sentencing report (判决情况与量刑):
:func:`narrative` summarises the outcomes, :func:`with_readings` adds the plain-Chinese reading
of each significant model coefficient (``reading_zh``), :func:`model_readings` lists them;
:data:`LABELS` and :data:`FORMATS` are the display labels and formats of the tables of
:mod:`casework.analysis.topics.sentencing` and :mod:`casework.analysis.topics.sentencing_models`.
"""

from __future__ import annotations

import pandas as pd

from casework.analysis.topics.sentencing import (
    COVARIATES,
    PENALTY_BANDS,
    fines,
    has_data,
    has_recommendations,
    judgments,
    median_terms,
    minor_offence_share,
    penalty_mix,
    probation_rate,
    recommendation_adoption,
)


def reading(r, ref: str, *, kind: str, alpha: float) -> str:
    """The plain-Chinese reading of one model coefficient (a row of a model table).

    Parameters
    ----------
    r : namedtuple
        A row of :func:`casework.analysis.topics.sentencing_models.term_model` or
        :func:`~casework.analysis.topics.sentencing_models.probation_model`.
    ref : str
        The reference charge.
    kind : {"ols", "logit"}
        The model (ratio of terms, or odds ratio of 缓刑).
    alpha : float
        1 − confidence level of the intervals.
    """
    level = f"{1 - alpha:.0%}"
    if kind == "ols":
        if r.term == "log_amount":
            factor = 2 ** r.estimate
            ci = f"{level}置信区间{2 ** r.ci_lower:.2f}至{2 ** r.ci_upper:.2f}倍"
            if factor >= 2:
                return (f"其他条件相同时，涉案金额每增加一倍，刑期约为原来的{factor:.1f}倍"
                        f"（{ci}）")
            change = factor - 1
            verb = "延长" if change > 0 else "缩短"
            return (f"其他条件相同时，涉案金额每增加一倍，刑期约{verb}{abs(change):.1%}"
                    f"（{level}置信区间：{2 ** r.ci_lower - 1:+.1%}至{2 ** r.ci_upper - 1:+.1%}）")
        name = COVARIATES.get(r.term, r.term)
        who, other = ((f"{r.term[7:]}案件的刑期", f"{ref}案件") if r.term.startswith("charge:")
                      else (f"{name}者的刑期", f"非{name}者"))
        if r.exp_estimate >= 2:  # "约为…的 N 倍": no percentages over 100 %
            return (f"其他条件相同时，{who}约为{other}的{r.exp_estimate:.1f}倍"
                    f"（{level}置信区间{r.exp_ci_lower:.2f}至{r.exp_ci_upper:.2f}倍）")
        change = r.exp_estimate - 1
        verb = "长" if change > 0 else "短"
        return (f"其他条件相同时，{who}比{other}约{verb}{abs(change):.1%}"
                f"（为其{r.exp_estimate:.2f}倍，{level}置信区间{r.exp_ci_lower:.2f}"
                f"至{r.exp_ci_upper:.2f}）")
    # logit on probation: odds ratios
    if r.term == "log_amount":
        factor = 2 ** r.estimate
        return (f"其他条件相同时，涉案金额每增加一倍，适用缓刑的几率（odds）约为原来的{factor:.2f}"
                "倍"
                f"（{level}置信区间{2 ** r.ci_lower:.2f}至{2 ** r.ci_upper:.2f}）")
    more = "高" if r.exp_estimate > 1 else "低"
    who = (f"{r.term[7:]}案件适用缓刑的几率比{ref}案件" if r.term.startswith("charge:")
           else f"{COVARIATES.get(r.term, r.term)}者适用缓刑的几率比"
                f"非{COVARIATES.get(r.term, r.term)}者")
    return (f"其他条件相同时，{who}{more}，几率比（odds ratio）为{r.exp_estimate:.2f}"
            f"（{level}置信区间{r.exp_ci_lower:.2f}至{r.exp_ci_upper:.2f}）")


def with_readings(table: pd.DataFrame) -> pd.DataFrame:
    """A model table with ``reading_zh``: the plain-Chinese reading of each significant
    coefficient (empty for the constant and for coefficients that are not significant).

    Examples
    --------
    >>> t = pd.DataFrame({"term": ["const", "plea_leniency"], "estimate": [2.5, -0.22],
    ...     "ci_lower": [2.4, -0.3], "ci_upper": [2.6, -0.14], "exp_estimate": [12.2, 0.8],
    ...     "exp_ci_lower": [11.0, 0.74], "exp_ci_upper": [13.5, 0.87],
    ...     "significant": [True, True]})
    >>> t.attrs.update(kind="ols", reference="盗窃", alpha=0.05)
    >>> with_readings(t)["reading_zh"].tolist()[1]
    '其他条件相同时，认罪认罚者的刑期比非认罪认罚者约短20.0%（为其0.80倍，95%置信区间0.74至0.87）'
    >>> t2 = t.assign(term=["const", "charge:故意杀人"], exp_estimate=[1.0, 45.5],
    ...               exp_ci_lower=[1.0, 30.2], exp_ci_upper=[1.0, 68.0])
    >>> t2.attrs.update(t.attrs)
    >>> with_readings(t2)["reading_zh"].tolist()[1]
    '其他条件相同时，故意杀人案件的刑期约为盗窃案件的45.5倍（95%置信区间30.20至68.00倍）'
    """
    out = table.copy()
    if out.empty:
        out["reading_zh"] = pd.Series(dtype="object")
        return out
    ref, kind, alpha = out.attrs["reference"], out.attrs["kind"], out.attrs["alpha"]
    out["reading_zh"] = [
        reading(r, ref, kind=kind, alpha=alpha) if r.significant and r.term != "const" else ""
        for r in out.itertuples()
    ]
    return out


def model_readings(table: pd.DataFrame) -> list[str]:
    """The plain-Chinese readings of a model table's significant coefficients
    (``reading_zh`` of :func:`with_readings`; added when the table has none).

    Examples
    --------
    >>> model_readings(pd.DataFrame({"reading_zh": ["", "其他条件相同时，……"]}))
    ['其他条件相同时，……']
    """
    if table.empty:
        return []
    if "reading_zh" not in table.columns:
        table = with_readings(table)
    return [r for r in table["reading_zh"] if r]


def narrative(data: pd.DataFrame, *, top: int = 3) -> list[str]:
    """Chinese sentences summarising the sentencing outcomes, every number computed here.

    Examples
    --------
    >>> df = pd.DataFrame({"charge": ["盗窃"] * 4,
    ...                    "principal_penalty": ["fixed_term"] * 3 + ["exempted"],
    ...                    "term_months": [8.0, 10.0, 40.0, None], "probation": [True, False,
    ...                                                                          False, None]})
    >>> narrative(df)[0]
    '共有判决4人，其中判处三年有期徒刑以下刑罚（轻罪）3人，占75.0%；判处有期徒刑、拘役的，刑期中位数为10.0个月。'
    """
    df = data if "band" in data.columns else judgments(data)
    out = [f"说明：{n}。" for n in df.attrs.get("notes_zh", [])]
    if df.empty:
        return out + ["所选范围内没有判决数据。"]
    light = minor_offence_share(df, by=None).iloc[0]
    med = median_terms(df, by=None).iloc[0]
    s = f"共有判决{len(df):,}人"
    if light["denominator"]:
        s += (f"，其中判处三年有期徒刑以下刑罚（轻罪）{int(light['numerator']):,}人，"
              f"占{light['value']:.1%}")
    if med["n"]:
        s += f"；判处有期徒刑、拘役的，刑期中位数为{med['median']:.1f}个月"
    out.append(s + "。")
    mix = penalty_mix(df, by=None)
    heavy = mix[mix["band"].isin(["life", "death"])]
    if len(heavy):
        parts = "、".join(f"{r.band_zh}{r.n}人" for r in heavy.itertuples())
        out.append(f"判处{parts}。")
    if has_data(df, "probation"):
        pr = probation_rate(df, by=None).iloc[0]
        if pr["denominator"]:
            out.append(f"判处有期徒刑、拘役的{int(pr['denominator']):,}人中，宣告缓刑"
                       f"{int(pr['numerator']):,}人，缓刑适用率{pr['value']:.1%}"
                       f"（95%置信区间{pr['value_ci_lower']:.1%}至{pr['value_ci_upper']:.1%}）。")
    if has_data(df, "fine"):
        fn = fines(df, by=None).iloc[0]
        if fn["numerator"]:
            out.append(f"并处或单处罚金{int(fn['numerator']):,}人，占有罪判决的{fn['value']:.1%}，"
                       f"罚金中位数{fn['fine_median']:,.0f}元。")
    if has_recommendations(df):
        ad = recommendation_adoption(df, by=None).iloc[0]
        if ad["denominator"]:
            s = (f"提出量刑建议并已判决的{int(ad['denominator']):,}人中，法院采纳"
                 f"{int(ad['numerator']):,}人，采纳率{ad['value']:.1%}")
            if ad["deviation_n"]:
                s += (f"；宣告刑期与建议刑期之差的平均值为{ad['deviation_mean']:+.1f}个月"
                      f"（负值表示轻于建议），轻于建议的占{ad['lighter_share']:.1%}")
            out.append(s + "。")
    per = median_terms(df, by="charge", total=False).sort_values("n", ascending=False).head(top)
    per = per[per["n"] > 0]
    if len(per):
        parts = "；".join(f"{r.charge}{r.n:,}人，中位数{r.median:.1f}个月"
                         for r in per.itertuples())
        out.append(f"人数最多的罪名刑期：{parts}。")
    return out


#: Display labels of this module's columns (``page.table(..., labels=sentencing_text.LABELS)``).
LABELS: dict[str, str] = {
    "charge": "罪名", "band": "刑罚类别代码", "band_zh": "刑罚类别", "n": "人数",
    "denominator": "人数合计",
    "share": "占比", "numerator": "人数", "value": "比例",
    "fine_median": "罚金中位数（元）", "fine_q1": "罚金下四分位数（元）",
    "fine_q3": "罚金上四分位数（元）",
    "fine_mean": "罚金平均数（元）", "upper": "上限（元）", "fine_band_zh": "罚金数额",
    "median": "刑期中位数（月）", "q1": "下四分位数（月）", "q3": "上四分位数（月）",
    "p10": "第10百分位数（月）", "p90": "第90百分位数（月）", "charge_group": "罪名类别",
    "mean": "平均刑期（月）",
    "iqr": "四分位距（月）", "mad": "绝对中位差（月）",
    "deviation_n": "可比较人数", "deviation_mean": "平均偏差（月）",
    "deviation_median": "偏差中位数（月）",
    "lighter_share": "轻于建议", "equal_share": "等于建议", "heavier_share": "重于建议",
    "term": "变量代码", "term_zh": "变量", "exp_estimate": "倍数/几率比",
    "exp_ci_lower": "倍数区间下限",
    "exp_ci_upper": "倍数区间上限", "significant": "显著", "reading_zh": "解读",
    "groups": "比较组数", "group_median_min": "各组中位数最小值（月）",
    "group_median_max": "各组中位数最大值（月）", "group_median_ratio": "最大/最小",
    "kruskal_p": "Kruskal-Wallis检验P值", "fligner_p": "Fligner-Killeen检验P值",
    "charge_n": "同罪名人数", "charge_median": "同罪名刑期中位数（月）", "robust_z": "稳健Z值",
    "direction_zh": "方向", "plea_leniency": "认罪认罚", "heavier": "偏重人数",
    "lighter": "偏轻人数",
}


#: Display formats of this module's columns (``page.table(..., formats=sentencing_text.FORMATS)``).
FORMATS: dict[str, str] = {
    "share": "{:.1%}", "value": "{:.1%}", "value_ci_lower": "{:.1%}", "value_ci_upper": "{:.1%}",
    "lighter_share": "{:.1%}", "equal_share": "{:.1%}", "heavier_share": "{:.1%}",
    "deviation_mean": "{:+.1f}", "deviation_median": "{:+.1f}",
    "median": "{:.1f}", "q1": "{:.1f}", "q3": "{:.1f}", "mean": "{:.1f}", "iqr": "{:.1f}",
    "p10": "{:.1f}", "p90": "{:.1f}",
    "mad": "{:.1f}", "fine_median": "{:,.0f}", "fine_q1": "{:,.0f}", "fine_q3": "{:,.0f}",
    "fine_mean": "{:,.0f}", "upper": "{:,.0f}",
    "estimate": "{:.3f}", "std_err": "{:.3f}", "ci_lower": "{:.3f}", "ci_upper": "{:.3f}",
    "p_value": "{:.4f}", "exp_estimate": "{:.2f}", "exp_ci_lower": "{:.2f}",
    "exp_ci_upper": "{:.2f}",
    "group_median_min": "{:.1f}", "group_median_max": "{:.1f}", "group_median_ratio": "{:.2f}",
    "kruskal_p": "{:.4f}", "fligner_p": "{:.4f}", "charge_median": "{:.1f}", "robust_z": "{:+.2f}",
    "term_months": "{:.1f}",
    **{label: "{:.1%}" for label in PENALTY_BANDS.values()},
}
