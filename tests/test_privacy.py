"""casework.present.privacy: masking, pseudonyms, access levels, small-cell suppression."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.optimize import linprog

from casework.base.errors import ParameterError
from casework.present import privacy


@pytest.fixture(autouse=True)
def _fresh_pseudonyms():
    privacy.reset_pseudonyms()
    yield
    privacy.reset_pseudonyms()


# ---------------------------------------------------------------------------------------------
# Names, ID numbers, free text
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name, masked", [
    ("张三丰", "张某某"), ("张三", "张某"), ("欧阳修", "欧阳某"), ("司马相如", "司马某某"),
    ("诸葛亮", "诸葛某"), ("欧阳", "欧某"),  # two characters: 欧 is the surname
    ("阿依古丽·买买提", "阿某某"), (" 李四 ", "李某"), ("", ""),
])
def test_mask_name(name, masked):
    assert privacy.mask_name(name) == masked


def test_mask_name_on_a_series_keeps_nulls_and_index():
    s = pd.Series(["王五", None, "上官婉儿"], index=[10, 11, 12])
    out = privacy.mask_name(s)
    assert out.index.tolist() == [10, 11, 12]
    assert out.tolist()[0] == "王某" and pd.isna(out.tolist()[1]) and out.tolist()[2] == "上官某某"


def test_mask_id_number_by_level():
    idn = "37132919900101123X"
    assert privacy.mask_id_number(idn, level="internal") == "371329********123X"
    assert privacy.mask_id_number("371329900101123", level="internal") == "371329*****1123"
    assert privacy.mask_id_number(idn, level="circulated") == "*" * 18
    # circulated: nothing of the number survives, not even its length or region
    assert privacy.mask_id_number("123", level="circulated") == "*" * 18
    for level in ("internal", "circulated"):
        assert "19900101" not in privacy.mask_id_number(idn, level=level)
    with pytest.raises(ParameterError, match="circulated"):
        privacy.mask_id_number(idn, level="public")


def test_scrub_text_removes_ids_phones_and_given_names():
    text = ("嫌疑人欧阳娜娜与张三（37132919900101123X，手机13912345678）于2024年5月盗窃，"
            "涉案金额12000元")
    out = privacy.scrub_text(text, names=["张三", "欧阳娜娜"])
    assert out == "嫌疑人欧阳某某与张某（[身份证号]，手机[电话]）于2024年5月盗窃，涉案金额12000元"
    series = privacy.scrub_text(pd.Series([text, None]), names=["张三"])
    assert "37132919900101123X" not in series.iloc[0] and pd.isna(series.iloc[1])


# ---------------------------------------------------------------------------------------------
# Pseudonyms
# ---------------------------------------------------------------------------------------------


def test_pseudonyms_are_stable_distinct_and_shared_across_tables():
    a = privacy.pseudonymise(pd.Series(["王检", "赵检", "王检", None, "钱检"]), salt="k")
    assert a.iloc[0] == a.iloc[2]
    assert len({a.iloc[0], a.iloc[1], a.iloc[4]}) == 3
    assert set(a.dropna()) == {"检察官A", "检察官B", "检察官C"}
    assert pd.isna(a.iloc[3])
    b = privacy.pseudonymise(pd.Series(["钱检", "孙检"]), salt="k")  # a later table
    assert b.iloc[0] == a.iloc[4]
    assert b.iloc[1] == "检察官D"


def test_pseudonym_letters_follow_the_salt_not_the_names():
    names = [f"检察官{i:03d}" for i in range(40)]
    orders = set()
    for salt in ("s1", "s2", "s3"):
        privacy.reset_pseudonyms()
        out = privacy.pseudonymise(pd.Series(names), salt=salt)
        assert out.nunique() == 40  # a bijection
        assert {"检察官Z", "检察官AA", "检察官AN"} <= set(out)
        orders.add(tuple(out))
    assert len(orders) == 3
    privacy.reset_pseudonyms()
    sorted_labels = privacy.pseudonymise(pd.Series(names), salt="s1")
    privacy.reset_pseudonyms()
    shuffled = privacy.pseudonymise(pd.Series(names[::-1]), salt="s1")
    assert sorted_labels.tolist() == shuffled.tolist()[::-1]  # order of rows does not matter


# ---------------------------------------------------------------------------------------------
# Whole frames by level
# ---------------------------------------------------------------------------------------------


def case_rows() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_code": ["U1", "U1", "U2"],
        "dept_case_no": ["甲诉〔2024〕1号", "甲诉〔2024〕2号", "乙诉〔2024〕3号"],
        "person_name": ["张三丰", "李四", "欧阳娜娜"],
        "id_number": ["37132919900101123X", "371329199202022345", "110101198803033456"],
        "address": ["某某路1号", "某某路2号", "某某路3号"],
        "prosecutor_id": ["J001", "J002", "J001"],
        "prosecutor_name": ["王明检", "赵丽检", "王明检"],
        "case_summary": ["张三丰盗窃电动车", "李四诈骗", "欧阳娜娜帮信"],
        "charge": ["盗窃", "诈骗", "帮助信息网络犯罪活动"],
    })


def test_internal_level_drops_personal_columns_only():
    out = privacy.sanitize_frame(case_rows(), level="internal")
    assert out.columns.tolist() == ["unit_code", "dept_case_no", "prosecutor_id",
                                    "prosecutor_name", "case_summary", "charge"]
    assert out["prosecutor_name"].tolist() == ["王明检", "赵丽检", "王明检"]


def test_circulated_level_leaves_nothing_recognisable():
    df = case_rows()
    out = privacy.sanitize_frame(df, level="circulated", salt="k")
    assert out.columns.tolist() == ["unit_code", "prosecutor_id", "prosecutor_name", "charge"]
    assert out["prosecutor_name"].tolist() == out["prosecutor_id"].tolist()
    assert out["prosecutor_name"].iloc[0] == out["prosecutor_name"].iloc[2]
    assert out["prosecutor_name"].iloc[0] != out["prosecutor_name"].iloc[1]
    text = out.to_csv()
    secrets_ = [*df["person_name"], *df["id_number"], *df["address"], *df["prosecutor_name"],
                *df["prosecutor_id"], *df["dept_case_no"], "张三", "盗窃电动车"]
    assert not [s for s in secrets_ if s in text]
    # a table that shows only the name gets the same pseudonym as the one keyed on the id
    later = privacy.sanitize_frame(pd.DataFrame({"prosecutor_name": ["赵丽检"]}),
                                   level="circulated", salt="k")
    assert later["prosecutor_name"].iloc[0] == out["prosecutor_name"].iloc[1]


def test_chinese_labelled_columns_and_accounts_are_recognised():
    df = pd.DataFrame({"承办检察官": ["王明检"], "嫌疑人姓名": ["张三"], "account": ["clerk07"],
                       "件数": [3]})
    out = privacy.sanitize_frame(df, table="modifications", level="circulated", salt="k")
    assert out.columns.tolist() == ["承办检察官", "account", "件数"]
    assert out.iloc[0].tolist() == ["检察官A", "账号A", 3]
    with pytest.raises(ParameterError):
        privacy.sanitize_frame(df, level="secret")


# ---------------------------------------------------------------------------------------------
# Small-cell suppression
# ---------------------------------------------------------------------------------------------


def cell_bounds(values: np.ndarray, shown: np.ndarray, r: int, c: int) -> tuple[float, float]:
    """Smallest and largest value cell (r, c) can take given what a reader sees.

    The reader knows every visible cell, every row total and every column total (computed
    from the unsuppressed table) and that counts are non-negative.
    """
    nrow, ncol = values.shape
    hidden = [(i, j) for i in range(nrow) for j in range(ncol) if not shown[i, j]]
    pos = {cell: k for k, cell in enumerate(hidden)}
    a_eq, b_eq = [], []
    if ncol > 1:
        for i in range(nrow):
            row = np.zeros(len(hidden))
            for j in range(ncol):
                if (i, j) in pos:
                    row[pos[(i, j)]] = 1
            if row.any():
                a_eq.append(row)
                b_eq.append(values[i].sum() - values[i][shown[i]].sum())
    if nrow > 1:
        for j in range(ncol):
            col = np.zeros(len(hidden))
            for i in range(nrow):
                if (i, j) in pos:
                    col[pos[(i, j)]] = 1
            if col.any():
                a_eq.append(col)
                b_eq.append(values[:, j].sum() - values[:, j][shown[:, j]].sum())
    target = np.zeros(len(hidden))
    target[pos[(r, c)]] = 1
    lo = linprog(target, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None))
    hi = linprog(-target, A_eq=np.array(a_eq), b_eq=b_eq, bounds=(0, None))
    assert lo.status == 0 and hi.status == 0
    return lo.fun, -hi.fun


def check_protected(values: np.ndarray, out: pd.DataFrame, cols, threshold=5):
    shown = out[cols].notna().to_numpy()
    small = (values > 0) & (values < threshold)
    assert not (small & shown).any()  # every small cell is hidden
    for r, c in zip(*np.where(small)):
        lo, hi = cell_bounds(values, shown, r, c)
        assert hi - lo >= 1 - 1e-9, f"cell {(r, c)} = {values[r, c]} pinned to [{lo}, {hi}]"
    # unsuppressed cells are shown unchanged
    assert (out[cols].to_numpy()[shown] == values[shown]).all()


def test_hand_worked_example():
    t = pd.DataFrame({"unit": ["甲", "乙", "丙"], "male": [12, 3, 20], "female": [9, 8, 15]})
    out = privacy.suppress_small_cells(t, count_columns=["male", "female"])
    # 乙/male = 3 is primary. Its row total (11) and column total (35) are known, so a second
    # cell in its row (乙/female) and a rectangle closing the loop are hidden: the cheapest is
    # through 甲 (12 + 9 = 21 added, against 20 + 15 = 35 through 丙).
    assert out["male"].isna().tolist() == [True, True, False]
    assert out["female"].isna().tolist() == [True, True, False]
    assert out.attrs["suppressed"]["primary"] == [(1, "male")]
    assert sorted(out.attrs["suppressed"]["complementary"]) == [(0, "female"), (0, "male"),
                                                               (1, "female")]
    check_protected(t[["male", "female"]].to_numpy(float), out, ["male", "female"])
    # with a single cell suppressed, subtraction from the totals gives it back:
    naive = t.copy()
    naive.loc[1, "male"] = np.nan
    assert 35 - naive["male"].sum() == 3


def test_zero_cells_are_shown_and_nothing_small_means_nothing_hidden():
    t = pd.DataFrame({"a": [0, 10, 7], "b": [6, 0, 9]})
    out = privacy.suppress_small_cells(t, count_columns=["a", "b"])
    assert out["a"].tolist() == [0, 10, 7] and out["b"].tolist() == [6, 0, 9]
    assert out.attrs["suppressed"]["primary"] == []


def test_single_column_tables_hide_a_second_cell():
    t = pd.DataFrame({"unit": list("ABCD"), "n": [40, 2, 17, 9]})
    out = privacy.suppress_small_cells(t, count_columns=["n"])
    assert out["n"].isna().tolist() == [False, True, False, True]  # 9 is the cheapest partner
    check_protected(t[["n"]].to_numpy(float), out, ["n"])


@pytest.mark.parametrize("seed", range(12))
def test_random_tables_cannot_be_recovered_from_totals(seed):
    rng = np.random.default_rng(seed)
    nrow, ncol = rng.integers(2, 7), rng.integers(2, 6)
    values = rng.choice([0, 1, 2, 3, 4, 5, 8, 12, 30, 60], size=(nrow, ncol),
                        p=[.1, .1, .1, .1, .1, .1, .1, .1, .1, .1]).astype(float)
    cols = [f"c{j}" for j in range(ncol)]
    t = pd.DataFrame(values, columns=cols).astype(int)
    out = privacy.suppress_small_cells(t, count_columns=cols)
    check_protected(values, out, cols)


def test_dependent_columns_and_text_markers():
    t = pd.DataFrame({"unit": ["甲", "乙", "丙"], "numerator": [3, 40, 50],
                      "denominator": [30, 80, 100], "value": [0.1, 0.5, 0.5]})
    out = privacy.suppress_small_cells(t, count_columns=["numerator", "denominator"],
                                       dependent_columns=["value"])
    hidden_rows = out[["numerator", "denominator"]].isna().any(axis=1)
    assert out["value"].isna().tolist() == hidden_rows.tolist()
    assert hidden_rows.iloc[0]
    text = privacy.suppress_small_cells(t, count_columns=["numerator", "denominator"],
                                        as_text=True)
    assert text.loc[0, "numerator"] == "<5"
    assert set(text[["numerator", "denominator"]].to_numpy().ravel()) - {"<5"} <= \
        {"—", "40", "50", "80", "100", "30"}


def test_within_protects_each_sub_table_on_its_own():
    t = pd.DataFrame({"indicator": ["x"] * 3 + ["y"] * 3, "unit": list("ABC") * 2,
                      "n": [2, 50, 60, 70, 80, 90]})
    out = privacy.suppress_small_cells(t, count_columns=["n"], within=["indicator"])
    assert out["n"].isna().tolist() == [True, True, False, False, False, False]
    with pytest.raises(ParameterError, match="nope"):
        privacy.suppress_small_cells(t, count_columns=["nope"])


def test_every_combination_of_two_small_cells_in_a_3x3_is_protected():
    base = np.array([[20, 30, 25], [40, 15, 35], [22, 18, 50]], dtype=float)
    cells = list(itertools.product(range(3), range(3)))
    for (a, b) in itertools.combinations(cells, 2):
        values = base.copy()
        values[a], values[b] = 1, 4
        t = pd.DataFrame(values.astype(int), columns=["x", "y", "z"])
        out = privacy.suppress_small_cells(t, count_columns=["x", "y", "z"])
        check_protected(values, out, ["x", "y", "z"])


def test_the_recovery_check_catches_primary_only_suppression():
    """The checker above is not vacuous: hiding only the small cell is caught."""
    t = pd.DataFrame({"male": [12, 3, 20], "female": [9, 8, 15]})
    naive = t.astype("Float64").mask(t == 3)
    with pytest.raises(AssertionError, match="pinned"):
        check_protected(t.to_numpy(float), naive, ["male", "female"])
