"""Case-mix comparison of registry indicators across groups (横向对比).

:func:`horizontal` puts every group (承办部门, 检察官, 单位, 移送机关, 派出所 …) on one funnel per
indicator: rates as observed ÷ expected from a pooled logistic case-mix model
(:func:`case_mix_model`, :func:`expected_counts`), handling days as the case-mix ratio of
:func:`casework.analysis.days.handling_days`, means on a normal funnel. Explains, never ranks.
:func:`standardised_scores` (heatmap input) and :func:`indicator_relations` (报表关联性) read
its output; :func:`flagged_cases` opens a flagged point into its cases.

Group labels are the internal ones (short unit names, prosecutor names);
:func:`casework.present.comparison_text.at_level` applies the report's access level.
Sentences and display tables are in :mod:`casework.present.comparison_text`, charts in
:mod:`casework.present.comparison_charts`; the funnel machinery in
:mod:`casework.analysis.funnels`.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Mapping, Sequence

import duckdb
import numpy as np
import pandas as pd
from scipy import stats as _st

from casework.analysis import days as _days
from casework.analysis import indicators as _ind
from casework.analysis import panel as _panel
from casework.analysis import periods as _periods
from casework.analysis.funnels import (
    DEFAULT_MIN_N,
    MIN_GROUPS_RELATIONS,
    Z95,
    best_z,
    funnel,
    normal_funnel,
    ratio_funnel,
    shrink,
    to_float,
)
from casework.analysis.stats import safe_ratio
from casework.base.checks import as_keys, require_columns
from casework.base.errors import DataError, ParameterError, check_choice
from casework.model import journeys as _journeys
from casework.model import schema as _schema

#: Default case-mix covariates: 罪名类别, 认罪认罚, 未成年, 累犯, 羁押.
DEFAULT_COVARIATES = ("charge_group", "plea_leniency", "minor", "recidivist", "detained")

#: Levels of a covariate with fewer rows than this are merged into 其他 before fitting.
MIN_LEVEL_ROWS = 20

_MISSING = "（缺失）"
_OTHER = "（其他）"


def _as_levels(series: pd.Series) -> pd.Series:
    """A covariate as string levels; missing values become their own level."""
    s = series.astype("object")
    return s.where(s.notna(), _MISSING).astype(str)


def _merge_sparse(levels: pd.Series, min_rows: int) -> pd.Series:
    counts = levels.value_counts()
    sparse = counts.index[counts < min_rows]
    if len(sparse) == 0:
        return levels
    out = levels.where(~levels.isin(sparse), _OTHER)
    if (out == _OTHER).sum() < min_rows:  # the merged level is still sparse: join the largest
        out = out.where(out != _OTHER, counts.index[0])
    return out


def _outcome_vector(records: pd.DataFrame, outcome) -> pd.Series:
    if isinstance(outcome, str):
        require_columns(records, [outcome], "病例组合模型")
        y = records[outcome]
    else:
        y = pd.Series(outcome)
        if len(y) != len(records):
            raise ParameterError("outcome 的长度与数据行数不一致",
                                 "outcome must have one value per row of records")
        y.index = records.index
    if pd.api.types.is_bool_dtype(y.dtype) or y.dtype == object:
        y = y.astype("boolean").astype("Float64")
    return pd.to_numeric(y, errors="coerce").astype("float64")


def case_mix_model(
    records: pd.DataFrame,
    *,
    outcome,
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    min_level_rows: int = MIN_LEVEL_ROWS,
    family: str = "binomial",
) -> tuple[pd.Series, pd.DataFrame]:
    """Fit the pooled logistic case-mix model and predict each row's probability.

    Parameters
    ----------
    records : DataFrame
        Case rows (persons).
    outcome : str or Series
        A boolean / 0-1 column (or a Series aligned with ``records``). Rows where it is missing
        get no prediction (NaN).
    covariates : sequence of str
        Columns used as categorical predictors (booleans become 是/否 levels; missing values a
        level of their own). Levels with fewer than ``min_level_rows`` rows are merged into
        （其他）; covariates left with one level, or absent from ``records``, are dropped.
    family : {"binomial", "poisson"}
        ``binomial``: logistic model of a 0/1 outcome; ``poisson``: log-linear model of a
        count outcome (e.g. 退查次数 per case), predicting the expected count.

    Returns
    -------
    (Series, DataFrame)
        Predicted probability per row (index of ``records``) and the model table
        ``term, estimate, std_err, ci_lower, ci_upper, p_value`` (log-odds). The table's
        ``attrs`` record ``rows``, ``events`` and ``dropped`` covariates.

    Raises
    ------
    DataError
        When the outcome has no variation (all 0 or all 1): nothing to adjust.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"charge_group": ["a"] * 40 + ["b"] * 40,
    ...                   "y": [True] * 20 + [False] * 20 + [True] * 4 + [False] * 36})
    >>> p, table = case_mix_model(r, outcome="y", covariates=["charge_group"])
    >>> round(float(p.iloc[0]), 3), round(float(p.iloc[-1]), 3)
    (0.5, 0.1)
    """
    from statsmodels.genmod import api as glm  # heavy: only when a model is fitted; these two
    from statsmodels.tools import add_constant  # heavy: import in half statsmodels.api's time

    check_choice("family", family, ["binomial", "poisson"])
    y = _outcome_vector(records, outcome)
    have = y.notna()
    yv = y[have]
    if len(yv) == 0 or yv.nunique() < 2:
        raise DataError(
            "结果变量没有变异（全部为同一取值），无法做病例组合调整",
            "the outcome has no variation (all rows the same): case-mix adjustment is impossible",
            hint="换一个指标，或扩大期间/范围 / choose another indicator or a wider period",
        )
    design, dropped = [], []
    for cov in covariates:
        if cov not in records.columns:
            dropped.append(cov)
            continue
        lev = _merge_sparse(_as_levels(records.loc[have, cov]), min_level_rows)
        if lev.nunique() < 2:
            dropped.append(cov)
            continue
        ref = lev.value_counts().index[0]
        dummies = pd.get_dummies(lev, prefix=cov, prefix_sep="=", dtype="float64")
        design.append(dummies.drop(columns=f"{cov}={ref}"))
    x = pd.concat(design, axis=1) if design else pd.DataFrame(index=yv.index)
    x = add_constant(x, has_constant="add")
    # fit on the distinct covariate patterns (events and rows per pattern): the same
    # estimates and standard errors as the row-level fit, at a fraction of the cost
    cols = list(x.columns)
    pattern = x.groupby(cols, sort=False).ngroup().to_numpy()
    agg = pd.DataFrame({"_pattern": pattern, "_y": yv.to_numpy(dtype="float64")}).groupby(
        "_pattern").agg(events=("_y", "sum"), rows=("_y", "size"))
    xp = x.groupby(pattern, sort=False).first().loc[agg.index].to_numpy(dtype="float64")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if family == "binomial":
            model = glm.GLM(agg["events"].to_numpy() / agg["rows"].to_numpy(), xp,
                            family=glm.families.Binomial(), var_weights=agg["rows"].to_numpy())
        else:
            model = glm.GLM(agg["events"].to_numpy(), xp, family=glm.families.Poisson(),
                            offset=np.log(agg["rows"].to_numpy(dtype="float64")))
        res = model.fit()
    linear = xp @ np.asarray(res.params)
    per_pattern = pd.Series(np.asarray(glm.families.Binomial().link.inverse(linear))
                            if family == "binomial" else np.exp(linear), index=agg.index)
    pred = pd.Series(np.nan, index=records.index, dtype="float64")
    pred[have] = per_pattern.reindex(pattern).to_numpy()
    ci = np.asarray(res.conf_int())
    table = pd.DataFrame({
        "term": list(x.columns), "estimate": np.asarray(res.params),
        "std_err": np.asarray(res.bse), "ci_lower": ci[:, 0], "ci_upper": ci[:, 1],
        "p_value": np.asarray(res.pvalues),
    })
    table.attrs = {"rows": int(len(yv)), "events": float(yv.sum()), "dropped": dropped}
    return pred, table


def expected_counts(
    records: pd.DataFrame,
    *,
    outcome,
    by: str | Sequence[str],
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    within: str | Sequence[str] = (),
    method: str = "exact",
    overdispersion: str = "none",
    min_n: int = DEFAULT_MIN_N,
    min_level_rows: int = MIN_LEVEL_ROWS,
    family: str = "binomial",
) -> pd.DataFrame:
    """Case-mix adjusted comparison: observed vs expected events per group, on a ratio funnel.

    A logistic model on the pooled rows (:func:`case_mix_model`) gives each case its expected
    probability; E = Σ p̂ over the group's cases, O = Σ outcome; O/E is compared with 1 on a
    funnel (Y = log(O/E), s = 1/√E). A team whose mix is harder (e.g. heavy in 危险驾驶) has a
    higher E, so its crude rate can differ without any excess.

    Parameters
    ----------
    records : DataFrame
        Case rows.
    outcome : str or Series
        Boolean event per row (e.g. ``decision == "non_prosecution"``); rows with a missing
        outcome are left out (the denominator population).
    by : str or sequence of str
        Groups to compare.
    covariates, min_level_rows, family
        As in :func:`case_mix_model` (``poisson`` for a count outcome).
    within, method, overdispersion, min_n
        As in :func:`ratio_funnel`; ``min_n`` applies to the number of cases ``n``.

    Returns
    -------
    DataFrame
        Keys, ``n`` (cases), ``observed``, ``expected``, ``observed_rate`` (O/n),
        ``expected_rate`` (E/n), ``adjusted_rate`` (O/E × pooled rate), then the ratio-funnel
        columns of :func:`ratio_funnel` (``value`` = O/E, target 1). ``attrs["model"]`` holds
        the model table.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"team": ["甲"] * 50 + ["乙"] * 50,
    ...                   "charge_group": ["a"] * 45 + ["b"] * 5 + ["a"] * 5 + ["b"] * 45,
    ...                   "y": ([True] * 27 + [False] * 18 + [True] * 1 + [False] * 4
    ...                         + [True] * 3 + [False] * 2 + [True] * 9 + [False] * 36)})
    >>> e = expected_counts(r, outcome="y", by="team", covariates=["charge_group"],
    ...                     min_level_rows=5)
    >>> e["value"].round(6).tolist(), e["flag"].tolist()  # crude rates 0.24 vs 0.56
    ([1.0, 1.0], ['', ''])
    """
    keys = as_keys(by)
    wkeys = as_keys(within)
    require_columns(records, keys + wkeys, "病例组合对比")
    pred, table = case_mix_model(records, outcome=outcome, covariates=covariates,
                                 min_level_rows=min_level_rows, family=family)
    y = _outcome_vector(records, outcome)
    have = y.notna()
    rows = records.loc[have, wkeys + keys].copy()
    rows["n"] = 1.0
    rows["observed"] = y[have].to_numpy()
    rows["expected"] = pred[have].to_numpy()
    out = ratio_funnel(rows, observed="observed", expected="expected", by=keys, within=wkeys,
                       size="n", method=method, overdispersion=overdispersion, min_n=min_n)
    od = out.attrs
    pooled = float(rows["observed"].sum() / rows["n"].sum())
    out.insert(len(wkeys) + len(keys) + 3, "observed_rate", safe_ratio(out["observed"], out["n"]))
    out.insert(len(wkeys) + len(keys) + 4, "expected_rate", safe_ratio(out["expected"], out["n"]))
    out.insert(len(wkeys) + len(keys) + 5, "adjusted_rate", out["value"] * pooled)
    out.attrs = {**od, "model": table, "pooled_rate": pooled}
    return out


# ---------------------------------------------------------------------------------------------
# horizontal comparison of registry indicators (横向对比)
# ---------------------------------------------------------------------------------------------

#: Groupings offered by the horizontal-comparison report: key columns and Chinese name.
#: A department is always keyed with its unit and a station with its agency (the same name
#: in two procuratorates or bureaus is two groups, never pooled); a prosecutor's 工号 is
#: unique on its own.
GROUPINGS: dict[str, tuple[tuple[str, ...], str]] = {
    "department": (("unit_code", "department"), "承办部门"),
    "prosecutor": (("prosecutor_id",), "承办检察官"),
    "unit": (("unit_code",), "单位"),
    "referring_agency": (("referring_agency",), "移送机关"),
    "police_station": (("referring_agency", "police_station"), "派出所"),
}

#: Default indicators of the horizontal comparison (registry codes).
DEFAULT_INDICATORS = (
    "non_arrest_rate", "non_prosecution_rate", "plea_leniency_rate",
    "recommendation_adoption_rate", "post_arrest_bail_rate", "review_extension_rate",
    "prosecution_review_days_mean",
)

def grouping_keys(grouping: str) -> list[str]:
    """Key columns of a named grouping (:data:`GROUPINGS`).

    Examples
    --------
    >>> grouping_keys("department")
    ['unit_code', 'department']
    """
    check_choice("grouping", grouping, list(GROUPINGS))
    return list(GROUPINGS[grouping][0])


def short_unit_name(name: str) -> str:
    """江州市青山区人民检察院 → 青山区院; 江州市人民检察院 → 江州市院 (the city itself).

    Examples
    --------
    >>> short_unit_name("江州市青山区人民检察院"), short_unit_name("江州市人民检察院")
    ('青山区院', '江州市院')
    """
    text = str(name).replace("人民检察院", "院")
    m = re.match(r"^(.*?市)(.+)$", text)
    if m and m.group(2) != "院":
        return m.group(2)
    return text


def group_labels(frame: pd.DataFrame, keys: Sequence[str], records: pd.DataFrame | None = None,
                 *, masks: Mapping[str, Callable[[pd.Series], pd.Series]] | None = None
                 ) -> pd.Series:
    """A short display label per row from its key columns (unit names and prosecutor names
    are looked up in ``records`` when given).

    ``masks`` maps a key column to a function that replaces its values (the key column as a
    Series in, the label parts out) — how the presentation layer puts a pseudonym in place of
    a prosecutor (:func:`casework.present.comparison_text.at_level`); analysis itself never
    applies access levels.

    Examples
    --------
    >>> import pandas as pd
    >>> f = pd.DataFrame({"unit_code": ["930102"], "department": ["第一检察部"]})
    >>> r = pd.DataFrame({"unit_code": ["930102"], "unit_name": ["江州市青山区人民检察院"]})
    >>> group_labels(f, ["unit_code", "department"], r).tolist()
    ['青山区院·第一检察部']
    """
    keys = list(keys)
    masks = dict(masks or {})
    parts = []
    for k in keys:
        s = frame[k].astype("object").where(frame[k].notna(), "（未填）").astype(str)
        if k in masks:
            parts.append(pd.Series(masks[k](frame[k].reset_index(drop=True))).astype(str))
            continue
        s = s.reset_index(drop=True)
        if records is not None and k == "unit_code" and "unit_name" in records.columns:
            names = (records[["unit_code", "unit_name"]].dropna().drop_duplicates("unit_code")
                     .set_index("unit_code")["unit_name"].astype(str))
            short = names.map(short_unit_name)
            s = s.map(lambda v, short=short: short.get(v, v))
        if records is not None and k == "prosecutor_id" and "prosecutor_name" in records.columns:
            names = (records[["prosecutor_id", "prosecutor_name"]].dropna()
                     .drop_duplicates("prosecutor_id").set_index("prosecutor_id")["prosecutor_name"])
            s = s.map(lambda v, names=names: str(names.get(v, v)))
        if k == "referring_agency" and "police_station" in keys:
            s = s.str.replace(r"^.*?公安局(?=.)", "", regex=True)
        parts.append(s)
    out = parts[0]
    for p in parts[1:]:
        out = out + "·" + p
    return out.reset_index(drop=True)


def _cohort_column(ind, role: str) -> str | None:
    parts = ind.parts("person")
    coh = _ind.cohorts().get(parts[role].cohort)
    return coh.column if coh is not None and coh.type == "date" else None


def indicator_rows(
    records: pd.DataFrame,
    indicator,
    *,
    period,
    journeys: pd.DataFrame | None = None,
    extra_columns: Sequence[str] = (),
    columns: Sequence[str] | None = None,
) -> pd.DataFrame:
    """The rows behind one rate indicator in a period: its denominator, with ``in_numerator``.

    Evaluates the registry's expressions (:mod:`casework.analysis.indicators`) row by row with
    DuckDB, so a flagged point can be opened into its cases and a case-mix model can be fitted.
    Journey indicators (捕后…) take their rows from ``journeys`` (built when not given) and
    the stage's records row supplies the columns the journeys table lacks (承办部门, 检察官,
    case-mix covariates).

    Parameters
    ----------
    records : DataFrame
    indicator : str or Indicator
        A ``rate`` indicator whose numerator and denominator share one date cohort and whose
        numerator is a condition (not a sum).
    period : str or Period
    journeys : DataFrame, optional
    extra_columns : sequence of str
        Further records columns to carry onto journey rows.
    columns : sequence of str, optional
        Only these columns (and case keys) are returned, as in the full frame: much cheaper.

    Returns
    -------
    DataFrame
        The denominator rows (one per person; one per case for indicators counted only in 件)
        with ``in_numerator`` (bool), ``numerator_value`` (the numerator's count, 0/1).

    Raises
    ------
    ParameterError
        When the indicator is not of that form.

    Examples
    --------
    >>> import pandas as pd
    >>> recs = pd.DataFrame({
    ...     "unit_code": ["U1"] * 3, "stage": ["arrest_review"] * 3,
    ...     "dept_case_no": ["A1", "A2", "A3"], "person_id": ["P1", "P2", "P3"],
    ...     "accepted_on": pd.to_datetime(["2024-05-01"] * 3),
    ...     "closed_on": pd.to_datetime(["2024-05-05", "2024-05-06", "2024-06-02"]),
    ...     "decision": ["arrest_approved", "non_arrest", "non_arrest"]})
    >>> rows = indicator_rows(recs, "non_arrest_rate", period="2024-05")
    >>> rows[["dept_case_no", "in_numerator"]].values.tolist()
    [['A1', False], ['A2', True]]
    """
    ind = _ind.get(indicator)
    unit = ind.default_unit
    parts = ind.parts(unit)
    if ind.kind != "rate" or parts["numerator"].agg not in ("count", "sum") or \
            parts["denominator"].agg != "count":
        raise ParameterError(f"指标 {ind.code} 不是按条件计数的比率，不能列出明细",
                             f"indicator {ind.code} is not a counted rate; rows cannot be listed")
    col = _cohort_column(ind, "denominator")
    if col is None or col != _cohort_column(ind, "numerator"):
        raise ParameterError(f"指标 {ind.code} 的分子分母不属于同一日期队列",
                             f"indicator {ind.code}: numerator and denominator cohorts differ")
    p = _periods.parse(period)
    if ind.table == "journeys":
        if journeys is None:
            journeys = _journeys.build(records)
        stage = "arrest_review" if ind.stage == "arrest_review" else "prosecution_review"
        link = "arrest_dept_case_no" if stage == "arrest_review" else "prosecution_dept_case_no"
        wanted = [c for c in dict.fromkeys(
            ["department", "prosecutor_id", "prosecutor_name", "unit_name", "stage",
             *DEFAULT_COVARIATES, "charge", "procedure", *extra_columns])
            if c in records.columns and c not in journeys.columns]
        add = records.loc[records["stage"] == stage,
                          ["unit_code", "dept_case_no", "person_id"] + wanted]
        add = add.drop_duplicates(["unit_code", "dept_case_no", "person_id"])
        source = journeys.merge(add.rename(columns={"dept_case_no": link}),
                                on=["unit_code", link, "person_id"], how="left")
    else:
        source = records
    num = parts["numerator"]
    num_expr = f"({num.condition})" if num.agg == "count" else (
        f"CASE WHEN {num.condition} THEN coalesce(({num.value}), 0) ELSE 0 END")
    if num.agg == "count":
        num_expr = f"CASE WHEN {num_expr} THEN 1 ELSE 0 END"
    case_no = "dept_case_no" if ind.table == "records" else "unified_case_no"
    want = dict.fromkeys([*(["unit_code", case_no] if unit == "case" else []), *(columns or ())])
    head = "*, " if columns is None else "".join(  # reading all columns back cost the most
        '"' + str(c).replace('"', '""') + '", ' for c in want if c in source.columns)
    sql = (f'SELECT {head}({num_expr}) AS numerator_value '
           f'FROM source WHERE {p.sql(col)} AND ({parts["denominator"].condition})')
    con = duckdb.connect()
    try:
        con.register("source", source)
        out = con.execute(sql).df()
    finally:
        con.close()
    if unit == "case":
        key = [c for c in ("unit_code", case_no) if c in out.columns]
        out = (out.sort_values(key, kind="stable")
               .groupby(key, as_index=False, sort=False, dropna=False)
               .agg({**{c: "first" for c in out.columns if c not in key},
                     "numerator_value": "max" if num.agg == "count" else "sum"}))
    out["numerator_value"] = pd.to_numeric(out["numerator_value"]).fillna(0).astype("float64")
    out["in_numerator"] = out["numerator_value"] > 0
    out.attrs = {"indicator": ind.code, "count_unit": unit, "period": p.code}
    return out.reset_index(drop=True)


def _covariates_for(ind, covariates) -> list[str]:
    text = " ".join(str(x) for x in (ind.where, ind.numerator, ind.denominator, ind.value))
    return [c for c in covariates if not re.search(rf"\b{c}\b", text)]


def _finish_measure(res: pd.DataFrame, *, ind, keys, measure, size_col) -> pd.DataFrame:
    res = res.copy()
    res.insert(0, "indicator", ind.code)
    res["name_zh"] = ind.name_zh
    res["kind"] = ind.kind
    res["direction"] = ind.direction
    res["unit_zh"] = ind.unit_zh
    res["measure"] = measure
    res["size"] = to_float(res[size_col])
    return res


def horizontal(
    records: pd.DataFrame,
    *,
    period,
    by: str | Sequence[str],
    indicators: Sequence[str] = DEFAULT_INDICATORS,
    journeys: pd.DataFrame | None = None,
    adjust: str = "case_mix",
    covariates: Sequence[str] = DEFAULT_COVARIATES,
    method: str = "exact",
    overdispersion: str = "additive",
    min_n: int = 20,
) -> pd.DataFrame:
    """Compare groups on several indicators at once: one funnel per indicator.

    Parameters
    ----------
    records : DataFrame
        The ``records`` table.
    period : str or Period
    by : str or sequence of str
        Group keys (see :data:`GROUPINGS` / :func:`grouping_keys`).
    indicators : sequence of str
        Registry codes. Rates and mean/median handling days are compared; counts and derived
        ratios (案-件比) are skipped (listed in ``attrs["skipped"]`` with the reason).
    journeys : DataFrame, optional
        For journey indicators (捕后…); built from ``records`` when needed.
    adjust : {"case_mix", "none"}
        ``case_mix`` (default): rates become observed ÷ expected from a pooled logistic model
        (:func:`expected_counts`; covariates the indicator itself uses are left out), handling
        days the case-mix ratio of :func:`casework.analysis.days.handling_days`. ``none``:
        crude rates on a binomial funnel, means on a normal funnel.
    method, overdispersion, min_n
        As in :func:`casework.analysis.funnels.funnel` (``min_n`` on the denominator, or on
        the number of cases).

    Returns
    -------
    DataFrame
        One row per indicator × group: ``indicator, name_zh, kind, direction, unit_zh``, keys,
        ``label``, ``measure`` (``rate`` | ``ratio_oe`` | ``mean`` | ``days_ratio``: what
        ``value`` is), ``numerator, denominator, crude_value`` (the indicator as defined),
        ``value, value_ci_lower, value_ci_upper, target``, limits, ``z, z_adjusted, phi,
        tau2, od_p_value, below_min_n, flag, flag_direction``, ``size`` (x of the funnel),
        ``concern`` (flag in the unfavourable direction of the registry; both directions for
        "range" indicators), and for rates ``shrunk_value, shrunk_ci_lower,
        shrunk_ci_upper``. ``attrs``: ``skipped`` {code: reason}, ``keys``, ``period``,
        ``adjust``, ``overdispersion``, ``min_n``. The ``label`` is the internal one
        (:func:`group_labels`); the report's access level is applied by
        :func:`casework.present.comparison_text.at_level`.
    """
    check_choice("adjust", adjust, ["case_mix", "none"])
    check_choice("method", method, ["exact", "normal"])
    check_choice("overdispersion", overdispersion, ["none", "multiplicative", "additive"])
    keys = as_keys(by)
    p = _periods.parse(period)
    inds = _ind.resolve(list(indicators))
    if journeys is None and any(i.table == "journeys" for i in inds):
        journeys = _journeys.build(records)
    recs = records
    if "charge_group" not in recs.columns or recs["charge_group"].isna().any():
        filled = recs["charge"].map(
            lambda c: _schema.charge_group_of(c) if isinstance(c, str) else None)
        recs = recs.assign(charge_group=recs["charge_group"].fillna(filled)
                           if "charge_group" in recs.columns else filled)
    results, skipped = [], {}
    for ind in inds:
        try:
            res = _one_indicator(recs, ind, p=p, keys=keys, journeys=journeys, adjust=adjust,
                                 covariates=covariates, method=method,
                                 overdispersion=overdispersion, min_n=min_n)
        except DataError as err:
            skipped[ind.code] = err.zh
            continue
        if isinstance(res, str):
            skipped[ind.code] = res
            continue
        results.append(res)
    if not results:
        out = pd.DataFrame(columns=["indicator", *keys, "label", "value", "flag"])
    else:
        out = pd.concat(results, ignore_index=True)
        out.insert(1, "label", group_labels(out, keys, recs))
        unfav = np.where(out["direction"] == "lower_better", "high",
                         np.where(out["direction"] == "higher_better", "low", "any"))
        out["concern"] = (out["flag"] != "") & ((unfav == "any")
                                                | (out["flag_direction"] == unfav))
        front = ["indicator", "name_zh", "kind", "direction", "unit_zh", *keys, "label", "measure"]
        out = out[front + [c for c in out.columns if c not in front]]
    out.attrs = {"skipped": skipped, "keys": keys, "period": p.code, "adjust": adjust,
                 "overdispersion": overdispersion, "min_n": min_n}
    return out


def _one_indicator(recs, ind, *, p, keys, journeys, adjust, covariates, method, overdispersion,
                   min_n):
    if ind.kind in ("count",):
        return "件数/人数类指标随规模而变，不做漏斗比较"
    if ind.kind == "ratio" or ind.derived:
        return "由其他指标派生的比值（如案-件比）不做漏斗比较"
    if ind.kind in ("mean", "median"):
        if adjust == "case_mix" and "date_diff" in str(ind.value):
            stage = ind.stage if ind.stage in ("arrest_review", "prosecution_review") else None
            res = _days.handling_days(recs, by=keys, period=p, stage=stage,
                                      overdispersion=overdispersion, min_n=min_n)
            res = res.rename(columns={"n": "denominator"})
            res["numerator"] = res["mean_days"] * res["denominator"]
            res["crude_value"] = res["mean_days"] if ind.kind == "mean" else res["median_days"]
            return _finish_measure(res, ind=ind, keys=keys, measure="days_ratio",
                                   size_col="denominator")
        if ind.kind == "median":
            return "中位数没有可用的标准误，未做病例组合调整时不做漏斗比较"
        pn = _panel.compute(recs, indicators=[ind.code], by=keys, period=p, journeys=journeys,
                           compare=False)
        pn = pn.loc[pn["denominator"] > 0].reset_index(drop=True)
        if pn.empty:
            return "本期没有数据"
        se = (pn["value_ci_upper"] - pn["value_ci_lower"]) / (2 * Z95)
        target = float(pn["numerator"].sum() / pn["denominator"].sum())
        base = pn[keys + ["numerator", "denominator", "value"]].assign(std_error=se.to_numpy())
        res = normal_funnel(base, estimate="value", std_error="std_error", by=keys,
                            size="denominator", target=target, scale="identity",
                            overdispersion=overdispersion, min_n=min_n)
        res["crude_value"] = res["value"]
        return _finish_measure(res, ind=ind, keys=keys, measure="mean", size_col="denominator")
    # rates
    try:
        rows = indicator_rows(recs, ind, period=p, journeys=journeys, columns=[*keys, *covariates])
    except ParameterError as err:
        return err.zh
    if rows.empty:
        return "本期没有数据"
    for k in keys:
        if k not in rows.columns:
            return f"数据中没有分组字段 {k}"
    rows = rows.assign(_one=1.0)
    counted = ind.parts(ind.default_unit)["numerator"].agg == "count"
    crude = rows.groupby(keys, dropna=False, observed=True).agg(
        numerator=("numerator_value", "sum"), denominator=("_one", "sum")).reset_index()
    if counted and adjust == "case_mix":
        covs = _covariates_for(ind, covariates)
        res = expected_counts(rows, outcome="in_numerator", by=keys, covariates=covs,
                              method=method, overdispersion=overdispersion, min_n=min_n)
        res = res.merge(crude, on=keys, how="left")
        res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
        res = _add_shrink(res, crude, keys, min_n)
        return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")
    if counted:
        res = funnel(crude, by=keys, method=method, overdispersion=overdispersion, min_n=min_n)
        res["crude_value"] = res["value"]
        res = _add_shrink(res, crude, keys, min_n)
        return _finish_measure(res, ind=ind, keys=keys, measure="rate", size_col="denominator")
    # a rate whose numerator is a sum (退查件次 ÷ 件数): Poisson O against its expectation
    if adjust == "case_mix":
        covs = _covariates_for(ind, covariates)
        res = expected_counts(rows, outcome="numerator_value", by=keys, covariates=covs,
                              method=method, overdispersion=overdispersion, min_n=min_n,
                              family="poisson")
        res = res.merge(crude, on=keys, how="left")
        res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
        return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")
    rate0 = float(crude["numerator"].sum() / crude["denominator"].sum())
    crude = crude.assign(observed=crude["numerator"], expected=crude["denominator"] * rate0)
    res = ratio_funnel(crude, by=keys, size="denominator", method=method,
                       overdispersion=overdispersion, min_n=min_n)
    res = res.merge(crude[keys + ["numerator"]], on=keys, how="left")
    res["crude_value"] = safe_ratio(res["numerator"], res["denominator"])
    return _finish_measure(res, ind=ind, keys=keys, measure="ratio_oe", size_col="expected")


def _add_shrink(res, crude, keys, min_n):
    cols = keys + ["shrunk_value", "shrunk_ci_lower", "shrunk_ci_upper"]
    return res.merge(shrink(crude, by=keys, min_n=min_n, ranks=False)[cols], on=keys, how="left")


# ---------------------------------------------------------------------------------------------
# scores, relations, case lists
# ---------------------------------------------------------------------------------------------

#: Sign that turns z into a score where positive is the registry's favourable direction.
_ORIENT = {"higher_better": 1.0, "lower_better": -1.0, "range": 1.0}


def standardised_scores(result: pd.DataFrame, *, by: str | Sequence[str] | None = None
                        ) -> pd.DataFrame:
    """Indicators × groups standardised scores for a heatmap, oriented by the registry.

    Parameters
    ----------
    result : DataFrame
        The output of :func:`horizontal` (or any frame with ``indicator``, ``direction``,
        group keys and ``z`` / ``z_exact`` / ``z_adjusted``). A plain
        :func:`casework.analysis.panel.compute` frame is accepted too: its rates are put on a
        funnel first (:func:`casework.analysis.funnels.funnel` per indicator).
    by : str or sequence, optional
        Group keys (default: ``result.attrs["keys"]``).

    Returns
    -------
    DataFrame
        ``indicator, name_zh, direction``, keys, ``label``, ``z`` (the overdispersion-adjusted z
        where available, else the exact z), ``score`` (z turned so that a positive score is the
        registry's favourable direction; "range" indicators keep the sign of z: above the
        target is positive), ``oriented`` (False for "range"), ``below_min_n`` (score NaN:
        too small to judge).

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"indicator": ["a", "a", "b", "b"],
    ...                   "name_zh": ["甲率", "甲率", "乙率", "乙率"],
    ...                   "direction": ["lower_better"] * 2 + ["higher_better"] * 2,
    ...                   "g": ["x", "y", "x", "y"], "label": ["x", "y", "x", "y"],
    ...                   "z": [2.0, -1.0, 2.0, -1.0], "below_min_n": [False] * 4})
    >>> standardised_scores(r, by="g")["score"].tolist()
    [-2.0, 1.0, 2.0, -1.0]
    """
    keys = as_keys(by) if by is not None else list(result.attrs.get("keys", []))
    if not keys:
        raise ParameterError("请给出分组列 by", "by (the group keys) is required")
    frame = result
    if "z" not in frame.columns and "z_exact" not in frame.columns:
        rates = frame.loc[frame["kind"] == "rate"]
        frame = funnel(rates, by=keys, within=["indicator", "name_zh", "direction"])
    out = frame[[c for c in ["indicator", "name_zh", "direction", *keys, "label"]
                 if c in frame.columns]].copy()
    if "label" not in out.columns:
        out["label"] = group_labels(out, keys)
    z = best_z(frame)
    orient = frame["direction"].map(_ORIENT).fillna(1.0).to_numpy(dtype="float64")
    below = frame["below_min_n"].to_numpy(dtype=bool) if "below_min_n" in frame.columns else \
        np.zeros(len(frame), dtype=bool)
    out["z"] = np.where(below, np.nan, z)
    out["score"] = np.where(below, np.nan, z * orient)
    out["oriented"] = (frame["direction"] != "range").to_numpy()
    out["below_min_n"] = below
    return out.reset_index(drop=True)


def indicator_relations(
    result: pd.DataFrame,
    *,
    by: str | Sequence[str] | None = None,
    value: str = "crude_value",
    min_groups: int = MIN_GROUPS_RELATIONS,
) -> pd.DataFrame:
    """How indicators move together across groups (报表关联性): Spearman correlations.

    Parameters
    ----------
    result : DataFrame
        :func:`horizontal` output (or a panel frame with ``indicator`` and ``value``).
    value : str
        Column correlated (default the indicator as defined, ``crude_value``; use ``"z"`` for
        the case-mix adjusted position).
    min_groups : int
        Pairs computed over fewer groups carry ``caution`` = True: with few groups a
        correlation is unstable and says nothing about individual cases (ecological).

    Returns
    -------
    DataFrame
        ``indicator_a, name_a, indicator_b, name_b, n_groups, rho, p_value, caution`` — one row
        per pair of indicators, groups below the small-n floor left out.

    Examples
    --------
    >>> import pandas as pd
    >>> r = pd.DataFrame({"indicator": ["a"] * 5 + ["b"] * 5, "name_zh": ["甲"] * 5 + ["乙"] * 5,
    ...                   "g": list("pqrst") * 2, "crude_value": [1, 2, 3, 4, 5, 2, 4, 6, 8, 9]})
    >>> rel = indicator_relations(r, by="g")
    >>> rel[["indicator_a", "indicator_b", "n_groups", "caution"]].values.tolist()
    [['a', 'b', 5, True]]
    >>> round(float(rel["rho"][0]), 6)
    1.0
    """
    keys = as_keys(by) if by is not None else list(result.attrs.get("keys", []))
    frame = result
    if "below_min_n" in frame.columns:
        frame = frame.loc[~frame["below_min_n"].astype(bool)]
    col = value if value in frame.columns else "value"
    wide = frame.pivot_table(index=keys, columns="indicator", values=col, aggfunc="first")
    names = dict(zip(result["indicator"], result.get("name_zh", result["indicator"])))
    codes = [c for c in dict.fromkeys(result["indicator"]) if c in wide.columns]
    rows = []
    for i, a in enumerate(codes):
        for b in codes[i + 1:]:
            pair = wide[[a, b]].apply(pd.to_numeric, errors="coerce").dropna()
            n = int(len(pair))
            if n >= 3 and pair[a].nunique() > 1 and pair[b].nunique() > 1:
                rho, pv = _st.spearmanr(pair[a], pair[b])
                rho, pv = float(rho), float(pv)
            else:
                rho, pv = np.nan, np.nan
            rows.append({"indicator_a": a, "name_a": names.get(a, a), "indicator_b": b,
                         "name_b": names.get(b, b), "n_groups": n, "rho": rho, "p_value": pv,
                         "caution": n < min_groups})
    return pd.DataFrame(rows, columns=["indicator_a", "name_a", "indicator_b", "name_b",
                                       "n_groups", "rho", "p_value", "caution"])


def flagged_case_rows(
    records: pd.DataFrame,
    result: pd.DataFrame,
    *,
    journeys: pd.DataFrame | None = None,
    concern_only: bool = False,
) -> pd.DataFrame:
    """The cases behind every flagged point of a horizontal comparison, for follow-up.

    Parameters
    ----------
    records : DataFrame
    result : DataFrame
        :func:`horizontal` output (its ``attrs`` give the period and keys).
    journeys : DataFrame, optional
    concern_only : bool
        Only points flagged in the unfavourable direction.

    Returns
    -------
    DataFrame
        One row per case (person row) behind each flagged point: ``label`` (the group),
        ``indicator_name``, ``flag``, ``flag_direction``, keys, ``dept_case_no``, ``stage``,
        ``department``, ``prosecutor_name``, ``accepted_on``, ``closed_on``, ``decision`` (for
        journey indicators ``arrested_on``, ``measure_changed_on``, ``measure_after_change``),
        ``in_numerator`` (rates) or ``days`` / ``expected_days`` (handling days), sorted by
        indicator name and group. Internal use only;
        :func:`casework.present.comparison_text.flagged_cases_table` gives it Chinese headings.
    """
    head = ["label", "indicator_name", "flag", "flag_direction"]
    keys = list(result.attrs.get("keys", []))
    period = result.attrs.get("period")
    if result.empty or not keys:
        return pd.DataFrame(columns=head)
    pick = (result["flag"] != "") & ~result["below_min_n"].astype(bool)
    if concern_only:
        pick &= result["concern"].astype(bool)
    flagged = result.loc[pick]
    base_cols = ["dept_case_no", "stage", "department", "prosecutor_name", "accepted_on",
                 "closed_on", "decision", "decision_subtype"]
    parts = []
    for code, block in flagged.groupby("indicator", sort=False):
        ind = _ind.get(code)
        if block["measure"].iloc[0] in ("days_ratio", "mean"):
            rows = _days.case_days(records[_days.case_columns(records, *keys, *base_cols)],
                                   period=period)
            stage = ind.stage if ind.stage in ("arrest_review", "prosecution_review") else None
            if stage:
                rows = rows.loc[rows["stage"] == stage]
            extra = ["days", "expected_days"]
        else:
            journey = ["arrested_on", "measure_changed_on", "measure_after_change"]
            rows = indicator_rows(records, ind, period=period, journeys=journeys, columns=[
                *keys, *base_cols, "arrest_dept_case_no", *journey])
            extra = ["in_numerator"]
            if ind.table == "journeys":
                rows = rows.rename(columns={"arrest_dept_case_no": "dept_case_no"}) \
                    if "dept_case_no" not in rows.columns else rows
                extra = journey + extra
        hit = rows.merge(block[keys + ["label", "flag", "flag_direction"]], on=keys, how="inner")
        if hit.empty:
            continue
        hit["indicator_name"] = ind.name_zh
        cols = head + [k for k in keys if k in hit.columns] + \
            [c for c in base_cols if c in hit.columns and c not in keys] + \
            [c for c in extra if c in hit.columns]
        parts.append(hit[list(dict.fromkeys(cols))])
    if not parts:
        return pd.DataFrame(columns=head)
    out = pd.concat(parts, ignore_index=True)
    return out.sort_values(["indicator_name", "label"], kind="stable").reset_index(drop=True)


# ---------------------------------------------------------------------------------------------
# helpers for the report templates
# ---------------------------------------------------------------------------------------------


def window(period, months: int = 1):
    """The analysis window: the ``months`` calendar months ending with ``period`` (a custom
    period), or ``period`` itself when ``months`` ≤ 1 or the period is already that long.

    Comparisons of one month are thin (a prosecutor closes a handful of cases); reports
    compare over a trailing window ending with the reporting period.

    Examples
    --------
    >>> window("2024-05", 12).label_zh
    '2023年6月至2024年5月'
    >>> window("2024", 12).code
    '2024'
    """
    p = _periods.parse(period)
    if months is None or months <= 1:
        return p
    ms = _periods.trailing_months(p, months)
    if ms[0].start >= p.start:
        return p
    return _periods.custom(ms[0].start, p.end)
