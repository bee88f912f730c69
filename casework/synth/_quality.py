"""Entry errors (案卡差错) and the modification log (数据修改) of the synthetic data."""

from __future__ import annotations

import numpy as np
import pandas as pd

from casework.model import schema
from casework.synth import _tables as T

#: Kinds of case-card errors the generator injects, with background weights.
ERROR_KINDS = {
    "missing:decision": 3,
    "missing:procedure": 3,
    "missing:court": 2,
    "missing:arrested_on": 2,
    "missing:education": 4,
    "closed_before_accepted": 1.5,
    "adopted_but_term_differs": 3,
    "plea_without_recommendation": 3,
    "probation_term_over_36": 1.5,
    "detention_term_out_of_range": 2,
    "judgment_without_prosecution": 1,
    "circumstances_changed_unflagged": 2,
    "late_entry": 6,
}
BACKGROUND_RATE = 0.02

#: The kinds used in a planted run of errors.
RUN_KINDS = ["missing:decision", "closed_before_accepted", "adopted_but_term_differs",
             "plea_without_recommendation"]


def eligible(df):
    """Boolean mask per error kind: rows on which the kind can occur."""
    closed = df["closed_on"].notna().to_numpy()
    pr = (df["stage"] == "prosecution_review").to_numpy()
    dec = df["decision"].to_numpy(dtype=object, na_value=None)
    prosecuted = pr & closed & (dec == "prosecute")
    judged = df["judgment_on"].notna().to_numpy()
    pen = df["principal_penalty"].to_numpy(dtype=object, na_value=None)
    rec = df["recommendation_type"].to_numpy(dtype=object, na_value=None)
    adopted = df["recommendation_adopted"].fillna(False).to_numpy(dtype=bool)
    prob = df["probation"].fillna(False).to_numpy(dtype=bool)
    plea = df["plea_leniency"].fillna(False).to_numpy(dtype=bool)
    return {
        "missing:decision": closed,
        "missing:procedure": prosecuted,
        "missing:court": judged,
        "missing:arrested_on": df["arrested_on"].notna().to_numpy(),
        "missing:education": df["education"].notna().to_numpy(),
        "closed_before_accepted": closed,
        "adopted_but_term_differs": judged
        & (rec == "fixed")
        & adopted
        & np.isin(pen, ["criminal_detention", "fixed_term"]),
        "plea_without_recommendation": prosecuted & plea & (rec != "none"),
        "probation_term_over_36": judged & prob & (pen == "fixed_term"),
        "detention_term_out_of_range": judged & (pen == "criminal_detention"),
        "judgment_without_prosecution": pr & closed & (dec == "non_prosecution"),
        "circumstances_changed_unflagged": judged,
        "late_entry": closed,
    }


def choose_kinds(df, u_err, u_kind, run_mask, run_rate):
    """Pick an error kind (or None) for every row: background everywhere, a planted run where
    ``run_mask`` holds. Only candidate rows (a few percent) are examined."""
    kinds = list(ERROR_KINDS)
    n = len(df)
    out = np.full(n, None, dtype=object)
    planted = np.zeros(n, dtype=bool)
    cand = np.flatnonzero((u_err < BACKGROUND_RATE) | (run_mask & (u_err < run_rate)))
    if not len(cand):
        return out, planted
    elig = eligible(df.iloc[cand])
    E = np.column_stack([elig[k] for k in kinds]).astype(float)
    u_c, uk_c, run_c = u_err[cand], u_kind[cand], run_mask[cand]
    for weights, mask, is_run in (
        (np.array([ERROR_KINDS[k] for k in kinds], float), u_c < BACKGROUND_RATE, False),
        (
            np.array([1.0 if k in RUN_KINDS else 0.0 for k in kinds]),
            run_c & (u_c < run_rate),
            True,
        ),
    ):
        W = E * weights
        tot = W.sum(axis=1)
        ok = mask & (tot > 0)
        cum = np.cumsum(W, axis=1) / np.where(tot > 0, tot, 1)[:, None]
        idx = np.minimum((uk_c[:, None] >= cum).sum(axis=1), len(kinds) - 1)
        out[cand[ok]] = np.array(kinds, dtype=object)[idx[ok]]
        if is_run:
            planted[cand[ok]] = True
    return out, planted


def apply_errors(df, kinds, rng, export_at):
    """Corrupt the rows named in ``kinds`` (in place on a copy); returns the new frame."""
    df = df.copy()
    for kind in ERROR_KINDS:
        m = kinds == kind
        if not m.any():
            continue
        idx = np.flatnonzero(m)
        if kind.startswith("missing:"):
            col = kind.split(":", 1)[1]
            df.loc[df.index[idx], col] = pd.NA
        elif kind == "closed_before_accepted":
            back = rng.integers(1, 30, len(idx)).astype("timedelta64[D]")
            acc = df["accepted_on"].to_numpy()[idx]
            df.loc[df.index[idx], "closed_on"] = (acc - back).astype("datetime64[s]")
        elif kind == "adopted_but_term_differs":
            term = df["term_months"].to_numpy(dtype=float, na_value=np.nan)[idx]
            pen = df["principal_penalty"].to_numpy(dtype=object)[idx]
            new = np.where(pen == "criminal_detention", np.where(term >= 6, term - 1, term + 1),
                           term + np.where(rng.random(len(idx)) < 0.5, -2, 3))
            new = np.where((pen == "fixed_term") & (new < 6), 8, new)
            df.loc[df.index[idx], "term_months"] = new
        elif kind == "plea_without_recommendation":
            df.loc[df.index[idx], "recommendation_type"] = "none"
            for col in ("recommended_penalty", "recommended_term_months", "recommended_probation",
                        "recommendation_adopted"):
                df.loc[df.index[idx], col] = pd.NA
        elif kind == "probation_term_over_36":
            df.loc[df.index[idx], "term_months"] = rng.integers(37, 49, len(idx)).astype(float)
        elif kind == "detention_term_out_of_range":
            df.loc[df.index[idx], "term_months"] = rng.choice([7.0, 8.0, 9.0, 12.0], len(idx))
        elif kind == "judgment_without_prosecution":
            cl = df["closed_on"].to_numpy()[idx]
            df.loc[df.index[idx], "judgment_on"] = (cl + np.timedelta64(20, "D")).astype(
                "datetime64[s]"
            )
            df.loc[df.index[idx], "principal_penalty"] = "criminal_detention"
            df.loc[df.index[idx], "term_months"] = 2.0
        elif kind == "circumstances_changed_unflagged":
            cr = df["circumstances_review"].to_numpy(dtype=object, na_value="无")[idx]
            df.loc[df.index[idx], "circumstances_judgment"] = np.where(
                cr == "无", "坦白", cr + "、立功"
            )
            df.loc[df.index[idx], "judgment_changed_circumstances"] = False
        elif kind == "late_entry":
            cl = df["closed_on"].to_numpy()[idx]
            late = cl + (
                rng.integers(30, 121, len(idx)) * 86400 + rng.integers(30600, 64800, len(idx))
            ).astype("timedelta64[s]")
            df.loc[df.index[idx], "entered_at"] = np.minimum(late, export_at)
    return df


# ---------------------------------------------------------------------------------------------
# Modification log
# ---------------------------------------------------------------------------------------------


def render(values, col):
    """Canonical string form of values of one records column (used in the change log)."""
    s = pd.Series(values)
    c = schema.column("records", col)
    if c.dtype in ("date",):
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d")
    elif c.dtype == "datetime":
        out = pd.to_datetime(s).dt.strftime("%Y-%m-%d %H:%M:%S")
    elif c.dtype == "bool":
        out = s.astype("boolean").map({True: "true", False: "false"})
    elif c.dtype in ("float", "int"):
        f = pd.to_numeric(s, errors="coerce").astype(float)
        txt = f.map(
            lambda x: "" if np.isnan(x) else (str(int(x)) if float(x).is_integer() else f"{x:g}")
        )  # noqa: E731
        out = txt
    else:
        out = s.astype("string")
    return out.astype("string").fillna("")


def _other_value(values, col, rng):
    """A plausible previous value, different from ``values``."""
    c = schema.column("records", col)
    n = len(values)
    s = pd.Series(values).reset_index(drop=True)
    if c.codes and c.codes != "charge":
        codes = np.array(list(schema.CODE_TABLES[c.codes]), dtype=object)
        cur = s.astype(object).to_numpy()
        pos = rng.integers(0, len(codes), n)
        alt = codes[pos]
        alt = np.where(alt == cur, codes[(pos + 1) % len(codes)], alt)
        return pd.Series(alt)
    if c.codes == "charge" or col == "charge":
        names = np.array(list(schema.CHARGES), dtype=object)
        cur = s.astype(object).to_numpy()
        pos = rng.integers(0, len(names), n)
        alt = names[pos]
        return pd.Series(np.where(alt == cur, names[(pos + 1) % len(names)], alt))
    if c.dtype in ("date", "datetime"):
        shift = rng.integers(1, 15, n) * np.where(rng.random(n) < 0.5, -1, 1)
        return pd.Series(pd.to_datetime(s).to_numpy() + shift.astype("timedelta64[D]"))
    if c.dtype == "bool":
        return ~s.astype("boolean").fillna(False)
    if c.dtype in ("float", "int"):
        f = pd.to_numeric(s, errors="coerce").astype(float).to_numpy()
        return pd.Series(
            np.where(np.isnan(f), np.nan, np.round(f * rng.choice([0.5, 0.8, 1.2, 2.0], n)))
        )
    txt = s.astype("string").fillna("")
    uniq = pd.unique(txt.to_numpy(dtype=object))
    if len(uniq) <= 200 and len(uniq) < 0.5 * n:  # a category-like text: another existing value
        pool_ = np.array(list(uniq) + ["无"], dtype=object)
        pos = rng.integers(0, len(pool_), n)
        cur = txt.to_numpy(dtype=object)
        alt = pool_[pos]
        return pd.Series(np.where(alt == cur, pool_[(pos + 1) % len(pool_)], alt))
    return txt.str.slice(0, -3)  # a longer text: the draft before its last words were added


def background_mods(df, u_edit, rng, spec, export_at):
    """Ordinary corrections: ~20% of cards edited once or twice, mostly before closing."""
    n1 = u_edit < 0.20
    n2 = u_edit < 0.05
    idx = np.r_[np.flatnonzero(n1), np.flatnonzero(n2)]
    if not len(idx):
        return None
    fields = np.array(list(T.NORMAL_EDIT_FIELDS), dtype=object)
    w = np.array(list(T.NORMAL_EDIT_FIELDS.values()), float)
    f = fields[
        np.minimum(
            np.searchsorted(np.cumsum(w / w.sum()), rng.random(len(idx)), side="right"), len(w) - 1
        )
    ]
    acc = df["accepted_on"].to_numpy()[idx]
    cl = df["closed_on"].to_numpy()[idx]
    span_end = np.where(np.isnat(cl), export_at, cl)
    span_end = np.maximum(span_end, acc)
    span = (span_end.astype("datetime64[D]") - acc.astype("datetime64[D]")).astype(np.int64)
    day = acc.astype("datetime64[D]") + np.floor(rng.random(len(idx)) * (span + 1)).astype(
        "timedelta64[D]"
    )
    at = day.astype("datetime64[s]") + rng.integers(30600, 64800, len(idx)).astype(
        "timedelta64[s]"
    )
    after = (~np.isnat(cl)) & (rng.random(len(idx)) < 0.08)
    at = np.where(
        after,
        cl
        + (rng.integers(1, 40, len(idx)) * 86400 + rng.integers(30600, 64800, len(idx))).astype(
            "timedelta64[s]"
        ),
        at,
    )
    at = np.minimum(at, export_at)
    pid = df["prosecutor_id"].to_numpy(dtype=object, na_value=None)[idx]
    staff = np.array(spec.staff, dtype=object)[rng.integers(0, len(spec.staff), len(idx))]
    account = np.where((rng.random(len(idx)) < 0.75) & pd.notna(pid), pid, staff)
    return _mods_frame(df, idx, f, at, account, rng)


def _mods_frame(df, idx, fields, at, account, rng, old_override=None):
    parts = []
    for field in pd.unique(fields):
        m = fields == field
        rows = idx[m]
        cur = df[field].iloc[rows]
        valid = cur.notna().to_numpy()
        if not valid.any():
            continue
        rows, cur = rows[valid], cur[valid]
        new = render(cur.to_numpy(), field).to_numpy()
        if old_override is not None and field in old_override:
            old_vals = old_override[field](cur.reset_index(drop=True), rng)
        else:
            old_vals = _other_value(cur.to_numpy(), field, rng)
        old = render(np.asarray(old_vals), field).to_numpy()
        parts.append(pd.DataFrame({
            "unit_code": df["unit_code"].iloc[rows].to_numpy(),
            "dept_case_no": df["dept_case_no"].iloc[rows].to_numpy(),
            "person_id": df["person_id"].iloc[rows].to_numpy(),
            "field": field, "old_value": old, "new_value": new,
            "account": account[m][valid], "modified_at": at[m][valid],
        }))
    if not parts:
        return None
    out = pd.concat(parts, ignore_index=True)
    return out[out["old_value"] != out["new_value"]]


def _reverse_decision(cur, rng):
    flip = {"arrest_approved": "non_arrest", "non_arrest": "arrest_approved",
            "prosecute": "non_prosecution", "non_prosecution": "prosecute", "other": "prosecute"}
    return cur.astype(object).map(flip)


def _later_close(cur, rng):
    return pd.Series(
        pd.to_datetime(cur).to_numpy() + rng.integers(3, 16, len(cur)).astype("timedelta64[D]")
    )


def editor_mods(df, rng, account, start, export_at, fraction=0.02):
    """The planted account: edits of key fields of closed cases, most after the month's
    statistics were reported (the 5th of the following month)."""
    closed = df["closed_on"].to_numpy()
    ok = ~np.isnat(closed) & (closed >= start) & (df["decision"].notna().to_numpy())
    cand = np.flatnonzero(ok)
    n = int(np.clip(round(fraction * len(cand)), 40, 400))
    n = min(n, len(cand))
    if n == 0:
        return None, 0
    idx = np.sort(rng.choice(cand, n, replace=False))
    fields = np.array(T.KEY_FIELDS, dtype=object)
    f = fields[
        np.minimum(
            np.searchsorted(np.cumsum([0.3, 0.2, 0.15, 0.2, 0.15]), rng.random(n), side="right"), 4
        )
    ]
    has_term = df["term_months"].notna().to_numpy()[idx]
    f = np.where((f == "term_months") & ~has_term, "decision", f)
    cl = closed[idx]
    report = (cl.astype("datetime64[M]") + np.timedelta64(1, "M")).astype(
        "datetime64[D]"
    ) + np.timedelta64(5, "D")
    late = rng.random(n) < 0.75
    at_late = report.astype("datetime64[s]") + (
        rng.integers(1, 60, n) * 86400 + rng.integers(30600, 70000, n)
    ).astype("timedelta64[s]")
    at_soon = cl.astype("datetime64[s]") + (
        rng.integers(1, 4, n) * 86400 + rng.integers(30600, 64800, n)
    ).astype("timedelta64[s]")
    at = np.minimum(np.where(late, at_late, at_soon), export_at)
    account_arr = np.full(n, account, dtype=object)
    mods = _mods_frame(df, idx, f, at, account_arr, rng,
                       old_override={"decision": _reverse_decision, "closed_on": _later_close})
    return mods, 0 if mods is None else len(mods)
