"""The signal contract (issue 13): frame, validate, entity ids and full names, helpers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from statsmodels.stats.proportion import confint_proportions_2indep

from casework.analysis import signals
from casework.base.errors import DataError


def _row(**kw):
    row = {"detector": "funnel", "entity_type": "unit", "entity_id": "930104",
           "entity_name": "江州市江滨区人民检察院", "indicator": "non_prosecution_rate",
           "indicator_name": "不诉率", "direction": "unfavourable", "p_value": 0.01}
    row.update(kw)
    return row


# --------------------------------------------------------------------------------------------
# frame / validate
# --------------------------------------------------------------------------------------------


def test_frame_fills_optional_columns_in_order_with_dtypes():
    s = signals.frame([_row(), _row(entity_id="930105", p_value=float("nan"), zscore=1.2)])
    assert list(s.columns)[: len(signals.SIGNAL_COLUMNS)] == list(signals.SIGNAL_COLUMNS)
    assert "zscore" in s.columns  # detector-specific extras are kept, after the standard ones
    for col, dtype in signals.SIGNAL_COLUMNS.items():
        assert str(s[col].dtype) == dtype, col
    assert s["months_signalling"].tolist() == [0, 0]
    assert s["start_month"].isna().all()
    assert s["section"].tolist() == ["", ""]
    assert np.isnan(s.loc[1, "p_value"])


def test_empty_and_concat():
    e = signals.empty()
    assert len(e) == 0 and list(e.columns) == list(signals.SIGNAL_COLUMNS)
    both = signals.concat([signals.frame([_row()]),
                           signals.frame([_row(detector="cusum", start_month="2026-03",
                                               months_signalling=4)])])
    assert len(both) == 2 and both["start_month"].tolist()[1] == "2026-03"
    assert len(signals.concat([])) == 0


def test_within_accepts_a_list():
    s = signals.frame([_row(entity_type="station", entity_id="甲分局/乙派出所",
                            entity_name="甲分局乙派出所", within=["930105", "930104"])])
    assert s.loc[0, "within"] == "930104|930105"


@pytest.mark.parametrize("change, column, value", [
    ({"entity_type": "police"}, "entity_type", "police"),
    ({"direction": "up"}, "direction", "up"),
    ({"p_value": 1.5}, "p_value", "1.5"),
    ({"p_value": -0.01}, "p_value", "-0.01"),
    ({"p_value": "small"}, "p_value", "small"),
    ({"start_month": "2026-13"}, "start_month", "2026-13"),
    ({"months_signalling": -1}, "months_signalling", "-1"),
    ({"entity_name": ""}, "entity_name", ""),
    ({"entity_type": "charge", "entity_id": "诈骗"}, "entity_id", "诈骗"),
])
def test_validate_names_the_bad_column_and_value(change, column, value):
    with pytest.raises(DataError) as err:
        signals.frame([_row(**change)])
    assert column in err.value.zh and column in err.value.en
    assert value in err.value.zh
    assert "信号表" in err.value.zh and "signal frame" in err.value.en


def test_validate_rejects_duplicate_tests():
    with pytest.raises(DataError, match="重复"):
        signals.frame([_row(), _row(p_value=0.5)])
    # the same entity and indicator from another detector is a different test
    assert len(signals.frame([_row(), _row(detector="profile")])) == 2


def test_validate_requires_the_contract_columns():
    df = pd.DataFrame([_row()]).drop(columns=["indicator_name"])
    with pytest.raises(DataError, match="indicator_name"):
        signals.validate(df)


# --------------------------------------------------------------------------------------------
# entity ids and full names
# --------------------------------------------------------------------------------------------


@pytest.fixture()
def records():
    return pd.DataFrame({
        "unit_code": ["930104", "930105", "930105", None, "930104"],
        "unit_name": ["江州市江滨区人民检察院", "江州市东湖区人民检察院", "江州市东湖区人民检察院",
                      None, None],
        "department": ["第二检察部", "第二检察部", "第一检察部", "第二检察部", None],
        "prosecutor_id": ["930104101", "930105101", "930105102", None, "930104109"],
        "prosecutor_name": ["李明", "曾杰东", None, None, "王芳"],
        "referring_agency": ["江州市公安局青山分局", "江州市公安局东湖分局", None,
                             "江州市公安局青山分局", "江州市公安局青山分局"],
        "police_station": ["和平派出所", "和平派出所", "桂花派出所", "和平派出所", None],
        "charge": ["诈骗", "盗窃", None, "诈骗", "危险驾驶"],
    }, index=[10, 11, 12, 13, 14])


def test_full_names_of_every_type(records):
    lab = {t: signals.entity_labels(records, t) for t in signals.ENTITY_TYPES}
    assert lab["unit"].loc[10].tolist()[:2] == ["930104", "江州市江滨区人民检察院"]
    assert lab["department"].loc[10, "entity_name"] == "江州市江滨区人民检察院第二检察部"
    assert lab["department"].loc[10, "entity_id"] == "930104/第二检察部"
    assert lab["prosecutor"].loc[11, "entity_name"] == ("江州市东湖区人民检察院第二检察部"
                                                        "检察官曾杰东")
    assert lab["prosecutor"].loc[11, "entity_id"] == "930105/第二检察部/930105101"
    assert lab["station"].loc[10, "entity_name"] == "江州市公安局青山分局和平派出所"
    assert lab["station"].loc[10, "entity_id"] == "江州市公安局青山分局/和平派出所"
    assert lab["agency"].loc[11, "entity_id"] == "江州市公安局东湖分局"
    assert lab["charge"].loc[10].tolist()[:2] == ["charge/诈骗", "诈骗"]
    assert lab["charge_group"].loc[10, "entity_id"].startswith("charge_group/")
    assert lab["all"]["entity_id"].eq("all").all()


def test_every_record_labelled_and_nulls_become_unknown(records):
    for t in signals.ENTITY_TYPES:
        if t == "account":
            continue
        lab = signals.entity_labels(records, t)
        assert lab.index.equals(records.index), t
        assert lab["entity_id"].notna().all() and lab["entity_name"].notna().all(), t
        assert (lab["entity_name"].str.len() > 0).all(), t
    dept = signals.entity_labels(records, "department")
    assert dept.loc[14, "entity_name"] == "江州市江滨区人民检察院未知部门"  # name of row 10
    assert dept.loc[13, "entity_id"] == "未知单位/第二检察部"
    st = signals.entity_labels(records, "station")
    assert st.loc[12, "entity_name"] == "未知移送机关桂花派出所"
    assert st.loc[14, "entity_name"] == "江州市公安局青山分局未知派出所"
    assert signals.entity_labels(records, "charge").loc[12, "entity_name"] == "未知罪名"
    pro = signals.entity_labels(records, "prosecutor")
    assert pro.loc[13, "entity_name"].endswith("未知检察官")
    assert pro.loc[12, "entity_name"] == "江州市东湖区人民检察院第一检察部检察官930105102"


def test_departments_never_pooled_across_units_nor_stations_by_bare_name(records):
    dept = signals.entity_labels(records, "department")
    second = dept.loc[[10, 11, 13], "entity_id"]
    assert second.nunique() == 3  # 第二检察部 of three different units (one unknown)
    st = signals.entity_labels(records, "station")
    peace = st.loc[[10, 11, 13], "entity_id"]
    assert peace.nunique() == 2  # 和平派出所 of two bureaus; the same station twice
    assert peace.loc[10] == peace.loc[13]
    table = signals.entity_table(records, "station")
    row = table.set_index("entity_id").loc["江州市公安局青山分局/和平派出所"]
    assert row["records"] == 2 and row["within"] == "930104|未知单位"
    assert table["records"].sum() == len(records)  # every record counted


def test_account_labels_with_unit_names_from_a_mapping():
    mods = pd.DataFrame({"unit_code": ["930106", "930106", None],
                         "account": ["930106902", None, "x1"]})
    lab = signals.entity_labels(mods, "account", unit_names={"930106": "云溪县人民检察院"})
    assert lab["entity_name"].tolist() == ["云溪县人民检察院账号930106902",
                                           "云溪县人民检察院账号未知账号", "未知单位账号x1"]
    assert lab.loc[0, "entity_id"] == "account/930106/930106902"
    no_map = signals.entity_labels(mods, "account")
    assert no_map.loc[0, "entity_name"] == "单位930106账号930106902"


def test_slash_in_a_name_does_not_break_the_path():
    df = pd.DataFrame({"referring_agency": ["甲/乙分局"], "police_station": ["丙所"]})
    eid = signals.entity_labels(df, "station").loc[0, "entity_id"]
    assert eid.count("/") == 1 and signals.ancestors(eid) == ["甲／乙分局", "all"]


def test_ancestors():
    assert signals.ancestors("all") == []
    assert signals.ancestors("930104/第二检察部/930104101") == [
        "930104", "930104/第二检察部", "all"]
    assert signals.ancestors("甲分局/乙所", "930104|930105") == ["甲分局", "930104", "930105",
                                                                  "all"]
    assert signals.ancestors("account/930106/a1") == ["930106", "all"]
    assert signals.ancestors("charge_group/property") == ["all"]


# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def test_search_adjusted_is_a_valid_p_value_for_the_best_of_k():
    rng = np.random.default_rng(3)
    k = 12
    p_min = rng.uniform(size=(20000, k)).min(axis=1)
    adj = signals.search_adjusted(p_min, k)
    assert abs((adj < 0.05).mean() - 0.05) < 0.006
    assert (signals.search_adjusted(p_min, k, method="bonferroni") >= adj).all()
    assert signals.search_adjusted(0.3, 1) == pytest.approx(0.3)


def test_rate_difference_matches_newcombe():
    d = signals.rate_difference(12, 34, 5, 130)
    lo, hi = confint_proportions_2indep(12, 34, 5, 130, method="newcomb")
    assert d["effect_lower"] == pytest.approx(lo) and d["effect_upper"] == pytest.approx(hi)
    assert d["effect"] == pytest.approx(12 / 34 - 5 / 130)
    v = signals.rate_difference([1, 3], [10, 0], [2, 2], [20, 20])
    assert np.isnan(v["p_value"][1]) and 0 < v["p_value"][0] <= 1


def test_month_code():
    assert signals.month_code("2026年3月") == "2026-03"
    assert signals.month_code(pd.Period("2026-11", freq="M")) == "2026-11"
