"""Sentencing models (量刑影响因素): OLS of log term and logit of 缓刑 on charge, 认罪认罚, 累犯,
自首, 未成年人 and log amount, as coefficient tables (the plain-Chinese reading of each
coefficient is added by :func:`casework.present.sentencing_text.with_readings`).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from casework.analysis.topics.sentencing import (
    COVARIATES,
    CUSTODIAL_TERMS,
    OTHER_CHARGE,
    column_as,
    has_data,
    judgments,
)


def _design(df: pd.DataFrame, *, min_n: int, notes: list[str], reference: str | None = None):
    """Design matrix: charge dummies (rare charges pooled) + available covariates."""
    charge = df["charge"].astype("string").fillna(OTHER_CHARGE)
    counts = charge.value_counts()
    rare = counts[counts < min_n].index
    if len(rare):
        charge = charge.where(~charge.isin(rare), OTHER_CHARGE)
        notes.append(f"人数少于{min_n}的{len(rare)}个罪名合并为“{OTHER_CHARGE}”")
    counts = charge.value_counts()
    named = [c for c in counts.index if c != OTHER_CHARGE]
    ref = reference if reference in counts.index else (named[0] if named else counts.index[0])
    X = pd.DataFrame(index=df.index)
    for c in sorted(counts.index):
        if c != ref:
            X[f"charge:{c}"] = (charge == c).astype(float)
    for cov in ("plea_leniency", "recidivist", "surrender", "minor"):
        s = column_as(df, cov, "bool")
        if s.notna().mean() < 0.5 or s.dropna().nunique() < 2:
            if has_data(df, cov):
                notes.append(f"“{COVARIATES[cov]}”取值单一或缺失过多，未纳入模型")
            continue
        X[cov] = s.astype("Float64").astype(float)
    amount = column_as(df, "amount_involved", "float")
    if amount.notna().any() and amount.dropna().nunique() > 1:
        X["log_amount"] = np.log1p(amount.fillna(0).clip(lower=0))
    return X, ref


def _term_zh(term: str, ref: str) -> str:
    if term == "const":
        return f"常数项（对照：{ref}）"
    if term.startswith("charge:"):
        return f"罪名：{term[7:]}（对照：{ref}）"
    return COVARIATES.get(term, term)


def _coef_table(res, ref: str, *, alpha: float) -> pd.DataFrame:
    ci = np.asarray(res.conf_int(alpha=alpha))
    params = np.asarray(res.params)
    names = list(res.model.exog_names)
    out = pd.DataFrame({
        "term": names,
        "estimate": params,
        "std_err": np.asarray(res.bse),
        "ci_lower": ci[:, 0],
        "ci_upper": ci[:, 1],
        "p_value": np.asarray(res.pvalues),
    })
    out.insert(1, "term_zh", [_term_zh(t, ref) for t in names])
    out["exp_estimate"] = np.exp(out["estimate"])
    out["exp_ci_lower"] = np.exp(out["ci_lower"])
    out["exp_ci_upper"] = np.exp(out["ci_upper"])
    out["significant"] = out["p_value"] < alpha
    return out


def _model_frame(data: pd.DataFrame) -> pd.DataFrame:
    df = data if "band" in data.columns else judgments(data)
    return df.reset_index(drop=True)


def term_model(data: pd.DataFrame, *, min_n: int = 20, alpha: float = 0.05,
               reference: str | None = None) -> pd.DataFrame:
    """OLS of log(term in months) on charge, 认罪认罚, 累犯, 自首, 未成年人 and log amount.

    Sample: persons sentenced to 拘役 or 有期徒刑 with a term > 0 (one row per person; the
    first charge). Charges with fewer than ``min_n`` persons are pooled as 其他罪名; the most
    frequent charge is the reference unless ``reference`` is given. Covariates the data do not
    hold (or that never vary) are left out and noted. Missing amounts enter as 0 (absorbed by
    the charge term for charges that never record an amount). Standard errors are
    heteroscedasticity-robust (HC1).

    Returns
    -------
    DataFrame
        ``term, term_zh, estimate, std_err, ci_lower, ci_upper, p_value, exp_estimate,
        exp_ci_lower, exp_ci_upper, significant``; ``exp_estimate`` is the ratio of
        terms (e.g. 0.8 = 20% shorter). ``attrs``: ``n``, ``r_squared``, ``reference``,
        ``kind``, ``alpha``, ``notes_zh``. Empty (with ``attrs["skip_zh"]``) when fewer than
        ``min_n`` persons.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> plea = rng.random(200) < 0.5
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term",
    ...                    "plea_leniency": plea,
    ...                    "term_months": np.exp(np.log(12) + np.log(0.8) * plea
    ...                                          + rng.normal(0, 0.1, 200))})
    >>> t = term_model(df).set_index("term")
    >>> round(float(t.loc["plea_leniency", "exp_estimate"]), 2), t.attrs["n"]
    (0.8, 200)
    """
    from statsmodels.regression.linear_model import OLS  # heavy: only when a model is fitted

    df = _model_frame(data)
    df = df[df["principal_penalty"].isin(CUSTODIAL_TERMS) & (df["term_months"] > 0)]
    return _fit(df, outcome=np.log(df["term_months"].astype(float)), kind="ols",
                min_n=min_n, alpha=alpha, reference=reference,
                fitter=lambda y, X: OLS(y, X).fit(cov_type="HC1"))


def probation_model(data: pd.DataFrame, *, min_n: int = 20, alpha: float = 0.05,
                    reference: str | None = None) -> pd.DataFrame:
    """Logit of 缓刑 on charge, 认罪认罚, 累犯, 自首, 未成年人 and log amount.

    Sample: persons eligible for 缓刑 — 拘役, or 有期徒刑 of three years or less — with
    ``probation`` recorded. Charges or binary covariates under which every person (or none)
    got 缓刑 would make the estimates infinite (separation): such charges are left out of the
    sample and such covariates out of the model, both noted in ``attrs["notes_zh"]`` (累犯 is
    excluded from 缓刑 by law, so it is usually dropped this way).

    Returns
    -------
    DataFrame
        As :func:`term_model`; ``exp_estimate`` is an odds ratio. ``attrs`` also carries
        ``pseudo_r_squared``.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> plea = rng.random(400) < 0.5
    >>> df = pd.DataFrame({"charge": "盗窃", "principal_penalty": "fixed_term",
    ...                    "term_months": 12.0,
    ...                    "plea_leniency": plea, "probation": rng.random(400) < np.where(plea,
    ...                                                                                   0.6,
    ...                                                                                   0.2)})
    >>> t = probation_model(df).set_index("term")
    >>> bool(t.loc["plea_leniency", "exp_ci_lower"] < 6 < t.loc["plea_leniency", "exp_ci_upper"])
    True
    """
    from statsmodels.discrete.discrete_model import Logit  # heavy: only when a model is fitted

    df = _model_frame(data)
    df = df.assign(probation=column_as(df, "probation", "bool"))
    elig = df["principal_penalty"].eq("criminal_detention") | (
        df["principal_penalty"].eq("fixed_term") & (df["term_months"] <= 36))
    df = df[elig.fillna(False).astype(bool) & df["probation"].notna()]
    return _fit(df, outcome=df["probation"].astype(float), kind="logit", min_n=min_n,
                alpha=alpha, reference=reference,
                fitter=lambda y, X: Logit(y, X).fit(disp=0, maxiter=200))


def _fit(df, *, outcome, kind, min_n, alpha, reference, fitter) -> pd.DataFrame:
    from statsmodels.tools.tools import add_constant  # heavy: only when a model is fitted

    notes: list[str] = []
    empty = pd.DataFrame(columns=["term", "term_zh", "estimate", "std_err", "ci_lower",
                                  "ci_upper", "p_value", "exp_estimate", "exp_ci_lower",
                                  "exp_ci_upper", "significant"])
    y = pd.Series(np.asarray(outcome, dtype=float), index=df.index)
    if kind == "logit" and len(df):
        # separation by charge: drop charges whose persons all (or none) got 缓刑
        charge = df["charge"].astype("string").fillna(OTHER_CHARGE)
        share = y.groupby(charge).mean()
        sizes = charge.value_counts()
        pure = share[((share == 0) | (share == 1)) & (sizes.reindex(share.index) >= 1)].index
        if len(pure):
            notes.append("以下罪名的缓刑适用率为0或100%，未纳入模型：" + "、".join(map(str, pure)))
            keep = ~charge.isin(pure)
            df, y = df[keep], y[keep]
    if len(df) < min_n or (kind == "logit" and y.nunique() < 2):
        empty.attrs.update(n=len(df), notes_zh=notes,
                           skip_zh=f"可用于建模的人数不足（{len(df)}人，少于{min_n}人）"
                           if len(df) < min_n else "结果变量取值单一，无法建模")
        return empty
    X, ref = _design(df, min_n=min_n, notes=notes, reference=reference)
    if kind == "logit":
        for cov in [c for c in X.columns if not c.startswith("charge:") and c != "log_amount"]:
            tab = y.groupby(X[cov]).agg(["mean", "size"])
            if ((tab["mean"] == 0) | (tab["mean"] == 1)).any():
                notes.append(f"“{COVARIATES[cov]}”的某一组缓刑适用率为0或100%（完全分离），"
                             "未纳入模型")
                X = X.drop(columns=cov)
    complete = X.notna().all(axis=1)
    if (~complete).any():
        notes.append(f"{int((~complete).sum())}人的模型变量缺失，未纳入")
    X, y = X[complete], y[complete]
    X = X.loc[:, X.std(ddof=0) > 0]
    if X.shape[1] == 0:
        empty.attrs.update(n=len(y), notes_zh=notes,
                           skip_zh=f"没有可用于建模的自变量（数据中没有认罪认罚、累犯等情节，"
                                   f"各罪名人数也都少于{min_n}人）")
        return empty
    X = add_constant(X, has_constant="add")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = fitter(y, X)
    out = _coef_table(res, ref, alpha=alpha)
    out.attrs.update(n=int(res.nobs), reference=ref, notes_zh=notes, kind=kind, alpha=alpha)
    if kind == "ols":
        out.attrs["r_squared"] = float(res.rsquared)
    else:
        out.attrs["pseudo_r_squared"] = float(res.prsquared)
    return out
