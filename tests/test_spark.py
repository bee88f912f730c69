"""The same definitions on Apache Spark (issue 17): every registry indicator and every quality
rule gives the same result on a PySpark session in local mode as on DuckDB.

Run alone with ``pytest -m spark``. Needs Java 17 (``.ci/run`` installs a headless JRE).
"""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from casework.analysis import indicators, panel, quality
from casework.model import journeys as journeys_mod
from casework.model import schema

pytestmark = [pytest.mark.spark, pytest.mark.xdist_group("spark")]

if shutil.which("java") is None:  # an analyst's machine without Java: say so, never pretend
    pytest.skip("Spark needs Java 17 (apt-get install openjdk-17-jre-headless)",
                allow_module_level=True)
pytest.importorskip("pyspark")
engines = pytest.importorskip("casework.store.engines")

NUMERIC = ("numerator", "denominator", "value", "value_ci_lower", "value_ci_upper", "value_se")


@pytest.fixture(scope="module")
def data(synth_small):
    """A small snapshot: two units' cards accepted or open in 2023–2024, and their journeys."""
    recs = synth_small.records
    units = sorted(recs["unit_code"].dropna().unique())[:2]
    recs = recs[recs["unit_code"].isin(units)
                & (recs["accepted_on"] >= "2023-01-01")].reset_index(drop=True)
    recs = schema.conform(recs, "records")
    return recs, journeys_mod.build(recs)


@pytest.fixture(scope="module")
def spark_engine(data, tmp_path_factory):
    recs, jour = data
    folder = tmp_path_factory.mktemp("spark_tables")
    # __row: the card's position among the case cards (what quality.rule_query returns)
    is_card = ~recs["stage"].isin(list(quality.NOT_CARDS)).to_numpy()
    row = pd.Series(pd.NA, index=recs.index, dtype="Int64")
    row[is_card] = np.arange(is_card.sum())
    recs.assign(__row=row).to_parquet(folder / "records.parquet", index=False)
    jour.to_parquet(folder / "journeys.parquet", index=False)
    cfg = folder / "spark.yaml"
    cfg.write_text("master: local[2]\ntables:\n  records: records.parquet\n"
                   "  journeys: journeys.parquet\nconf: {spark.sql.shuffle.partitions: 2}\n",
                   encoding="utf-8")
    eng = engines.SparkEngine(engines.load_config(cfg))
    yield eng
    eng.spark.stop()


@pytest.fixture
def tables(spark_engine, casework_home):
    def get(name):
        return spark_engine.table(name, purpose="Spark 等价性测试 / spark equality test")
    return get("records"), get("journeys")


def _same(duck: pd.DataFrame, spark: pd.DataFrame, keys: list[str]) -> None:
    duck = duck.sort_values(keys, ignore_index=True)
    spark = spark.sort_values(keys, ignore_index=True)
    assert len(duck) == len(spark)
    for k in keys:
        assert duck[k].astype("string").tolist() == spark[k].astype("string").tolist(), k
    for c in NUMERIC:
        a = duck[c].to_numpy(dtype="float64")
        b = spark[c].to_numpy(dtype="float64")
        assert np.array_equal(np.isnan(a), np.isnan(b)), c
        np.testing.assert_allclose(b[~np.isnan(b)], a[~np.isnan(a)], rtol=1e-9, atol=1e-9,
                                   err_msg=c)


def test_every_indicator_equal_on_spark_by_unit_with_previous_and_year_ago(data, tables):
    recs, jour = data
    codes = [i.code for i in indicators.resolve("all")]
    for unit in ("person", "case"):
        duck = panel.compute(recs, indicators=codes, by="unit_code", period="2024-Q2",
                             journeys=jour, count_unit=unit)
        spark = panel.compute(tables[0], indicators=codes, by="unit_code", period="2024-Q2",
                              journeys=tables[1], count_unit=unit)
        assert set(duck["indicator"]) == set(codes)
        _same(duck, spark, ["indicator", "unit_code"])
        for role in ("previous", "year_ago"):
            for c in ("value", "numerator"):
                a = duck.sort_values(["indicator", "unit_code"])[f"{role}_{c}"].to_numpy(float)
                b = spark.sort_values(["indicator", "unit_code"])[f"{role}_{c}"].to_numpy(float)
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_monthly_series_equal_on_spark_by_department(data, tables):
    recs, jour = data
    codes = ["non_arrest_rate", "accepted_prosecution_review", "pending_prosecution_review",
             "median_days_prosecution_review", "mean_days_arrest_review"]
    codes = [c for c in codes if c in {i.code for i in indicators.resolve("all")}]
    duck = panel.monthly(recs, indicators=codes, by=["unit_code", "department"],
                         start="2024-01", end="2024-06", journeys=jour)
    spark = panel.monthly(tables[0], indicators=codes, by=["unit_code", "department"],
                          start="2024-01", end="2024-06", journeys=tables[1])
    _same(duck, spark, ["indicator", "unit_code", "department", "month"])


def test_every_quality_rule_flags_the_same_cards_on_spark(data, spark_engine, casework_home):
    recs, _ = data
    duck = quality.run_rules(recs)
    cards = quality.card_rows(recs).reset_index(drop=True)
    keys = ["unit_code", "dept_case_no", "person_id", "stage"]
    active = [r for r in quality.load_rules()
              if r.enabled and all(f in cards.columns for f in r.fields)]
    # one Spark query for all rules (as run_rules makes one DuckDB scan)
    got = spark_engine.sql(" UNION ALL ".join(quality.rule_query(r, i)
                                              for i, r in enumerate(active)),
                           purpose="Spark 质量规则等价性测试 / quality rules on spark")
    got = got.dropna(subset=["__row"])
    for i, r in enumerate(active):
        rows = got.loc[got["__rule"] == i, "__row"].astype("int64").to_numpy()
        want = duck[duck["rule_id"] == r.id][keys]
        assert sorted(map(tuple, cards.iloc[rows][keys].astype(str).values)) == \
            sorted(map(tuple, want.astype(str).values)), r.id
    n = len(active)
    assert n >= 40 and len(duck)  # every built-in rule ran, and some fired


def test_spark_reads_are_audited_and_other_tables_refused(spark_engine, casework_home):
    from casework import store
    from casework.base.errors import ParameterError

    before = len(store.audit_entries())
    spark_engine.sql("SELECT count(*) AS n FROM records", purpose="审计测试 / audit test")
    with pytest.raises(ParameterError):
        spark_engine.sql("SELECT * FROM parquet.`/etc`", purpose="审计测试 / audit test")
    log = store.audit_entries().iloc[before:]
    assert log["engine"].tolist() == ["spark", "spark"]
    assert log["outcome"].tolist() == ["returned", "refused"]
