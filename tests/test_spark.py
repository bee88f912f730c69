"""The same definitions on Apache Spark (issue 17): every registry indicator and every quality
rule gives the same result on a PySpark session in local mode as on DuckDB, and a report runs
end to end with ``engine="spark"``.

Run alone with ``pytest -m spark``. Needs Java 17 (``.ci/run`` installs a headless JRE). One
Spark session serves the whole module (a JVM start costs seconds); the small snapshot is made
to exercise every definition: each indicator has non-zero numerators and denominators and each
built-in quality rule flags some cards (asserted, so a definition the data cannot reach fails).
"""

from __future__ import annotations

import json
import shutil

import duckdb
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

#: Spark settings for a few thousand rows on a shared 2-core machine: one shuffle partition,
#: no adaptive re-planning, and a JVM that starts fast (C1 only) — results do not depend on them.
FAST = ("master: local[2]\n"
        "conf:\n"
        "  spark.sql.shuffle.partitions: 1\n"
        "  spark.sql.adaptive.enabled: false\n"
        "  spark.driver.extraJavaOptions: '-XX:TieredStopAtLevel=1 -XX:+UseSerialGC'\n")


def _active_rules(records: pd.DataFrame) -> list:
    cards = quality.card_rows(records)
    return [r for r in quality.load_rules()
            if r.enabled and all(f in cards.columns for f in r.fields)]


def _draw(col: str, pool: pd.Series, rng, n: int) -> np.ndarray:
    """``n`` values for a mutated card: nulls, out-of-code and out-of-range values, and values
    seen elsewhere in the column or in its code table (so combinations across fields occur)."""
    spec = schema.column("records", col)
    special = {"string": [None, "", "??"], "int": [None, -3, 0, 3, 40, 200],
               "float": [None, -5.0, 0.0, 1e7], "bool": [None, True, False],
               "date": [None, pd.Timestamp("1990-01-01"), pd.Timestamp("2031-06-30")],
               "datetime": [None, pd.Timestamp("1990-01-01"), pd.Timestamp("2031-06-30")]}
    seen = [*pool.dropna().unique(), *schema.CODE_TABLES.get(spec.codes or "", {})]
    special = np.array(special[spec.dtype], dtype=object)
    seen = np.array(seen or [None], dtype=object)
    return np.where(rng.random(n) < 0.5, seen[rng.integers(len(seen), size=n)],
                    special[rng.integers(len(special), size=n)])


def _plant_rule_faults(recs: pd.DataFrame, seed: int = 17, per_rule: int = 300) -> pd.DataFrame:
    """For every built-in rule, up to 3 mutated copies of random cards on which DuckDB finds the
    fault (new case and person numbers, so each copy is a card of its own)."""
    rng = np.random.default_rng(seed)
    cards = quality.card_rows(recs).reset_index(drop=True)
    rules = _active_rules(recs)
    sample = cards.iloc[rng.integers(len(cards), size=per_rule * len(rules))]
    sample = sample.reset_index(drop=True).astype(object)
    for i, rule in enumerate(rules):  # block i: copies mutated in rule i's fields
        block = np.arange(i * per_rule, (i + 1) * per_rule)
        for f in rule.fields:
            if schema.column("records", f).dtype != "list":
                hit = block[rng.random(per_rule) < 0.6]
                sample.loc[hit, f] = _draw(f, cards[f], rng, len(hit))
    sample = schema.conform(sample, "records")
    con = duckdb.connect()
    con.register("records", sample.drop(columns=["charges"]).assign(
        __row=np.arange(len(sample))))
    found = con.execute(" UNION ALL ".join(quality.rule_query(r, i)
                                           for i, r in enumerate(rules))).df()
    con.close()
    found = found[found["__row"] // per_rule == found["__rule"]]  # a fault of its own block
    found = found[~sample.loc[found["__row"], "stage"].isin(quality.NOT_CARDS).to_numpy()]
    rows = found.groupby("__rule")["__row"].head(3).sort_values().to_numpy()
    faulty = sample.iloc[rows].copy()
    tag = [f"Q{r}" for r in rows]
    faulty["dept_case_no"] = tag
    faulty["unified_case_no"] = tag
    faulty["person_id"] = [f"P{t}" for t in tag]
    return pd.concat([recs, faulty], ignore_index=True)


def _plant_rare_outcomes(recs: pd.DataFrame) -> pd.DataFrame:
    """Withdrawals, acquittals and exemptions (the small data have none of them)."""
    recs = recs.copy()
    prosecuted = recs.index[(recs["stage"] == "prosecution_review")
                            & (recs["decision"] == "prosecute")]
    recs.loc[prosecuted[::9], "withdrawal"] = True
    judged = recs.index[recs["judgment_on"].notna() & recs["principal_penalty"].notna()]
    recs.loc[judged[::11], "principal_penalty"] = "acquitted"
    recs.loc[judged[5::7], "principal_penalty"] = "exempted"
    return recs


@pytest.fixture(scope="module")
def clean(synth_small):
    """Two units' cards accepted in 2023–2024, as generated."""
    recs = synth_small.records
    units = sorted(recs["unit_code"].dropna().unique())[:2]
    recs = recs[recs["unit_code"].isin(units)
                & (recs["accepted_on"] >= "2023-01-01")].reset_index(drop=True)
    return schema.conform(recs, "records")


@pytest.fixture(scope="module")
def data(clean):
    """The snapshot the equality tests use: rare outcomes and every rule's fault planted."""
    recs = schema.conform(_plant_rule_faults(_plant_rare_outcomes(clean)), "records")
    return recs, journeys_mod.build(recs)


@pytest.fixture(scope="module")
def spark_engine(data, tmp_path_factory):
    """One Spark session for the module (records and journeys as Parquet tables)."""
    recs, jour = data
    folder = tmp_path_factory.mktemp("spark_tables")
    # __row: the card's position among the case cards (what quality.rule_query returns)
    is_card = ~recs["stage"].isin(list(quality.NOT_CARDS)).to_numpy()
    row = pd.Series(pd.NA, index=recs.index, dtype="Int64")
    row[is_card] = np.arange(is_card.sum())
    recs.assign(__row=row).to_parquet(folder / "records.parquet", index=False)
    jour.to_parquet(folder / "journeys.parquet", index=False)
    cfg = folder / "spark.yaml"
    cfg.write_text(FAST + "tables:\n  records: records.parquet\n  journeys: journeys.parquet\n",
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


def _assert_non_trivial(out: pd.DataFrame) -> None:
    """Every indicator is exercised: numerators and denominators above zero, rates below 1."""
    g = out.groupby("indicator").agg(kind=("kind", "first"), num=("numerator", "sum"),
                                     den=("denominator", "sum"))
    has_num = g["kind"] != "median"
    has_den = g["kind"] != "count"
    assert (g.loc[has_num, "num"] > 0).all(), g[has_num & (g["num"] <= 0)]
    assert (g.loc[has_den, "den"] > 0).all(), g[has_den & (g["den"] <= 0)]
    rates = g["kind"] == "rate"
    assert (g.loc[rates, "num"] < g.loc[rates, "den"]).all(), g[rates]


def test_every_indicator_equal_on_spark_by_unit_with_previous_and_year_ago(data, tables):
    recs, jour = data
    codes = [i.code for i in indicators.resolve("all")]
    for unit in ("person", "case"):
        duck = panel.compute(recs, indicators=codes, by="unit_code", period="2024-Q2",
                             journeys=jour, count_unit=unit)
        spark = panel.compute(tables[0], indicators=codes, by="unit_code", period="2024-Q2",
                              journeys=tables[1], count_unit=unit)
        assert set(duck["indicator"]) == set(codes)
        assert duck["unit_code"].nunique() == 2
        _assert_non_trivial(duck)
        _same(duck, spark, ["indicator", "unit_code"])
        for role in ("previous", "year_ago"):
            assert duck[f"{role}_numerator"].sum() > 0
            for c in ("value", "numerator"):
                a = duck.sort_values(["indicator", "unit_code"])[f"{role}_{c}"].to_numpy(float)
                b = spark.sort_values(["indicator", "unit_code"])[f"{role}_{c}"].to_numpy(float)
                np.testing.assert_allclose(b, a, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_monthly_series_equal_on_spark_by_department(data, tables):
    recs, jour = data
    codes = ["non_arrest_rate", "accepted_prosecution_review", "pending_prosecution_review",
             "prosecution_review_days_median", "arrest_review_days_mean"]
    assert set(codes) <= {i.code for i in indicators.resolve("all")}
    duck = panel.monthly(recs, indicators=codes, by=["unit_code", "department"],
                         start="2024-01", end="2024-06", journeys=jour)
    spark = panel.monthly(tables[0], indicators=codes, by=["unit_code", "department"],
                          start="2024-01", end="2024-06", journeys=tables[1])
    assert duck["month"].nunique() == 6 and duck["department"].nunique() > 1
    _same(duck, spark, ["indicator", "unit_code", "department", "month"])


def test_every_quality_rule_flags_the_same_cards_on_spark(data, spark_engine, casework_home):
    recs, _ = data
    duck = quality.run_rules(recs)
    cards = quality.card_rows(recs).reset_index(drop=True)
    keys = ["unit_code", "dept_case_no", "person_id", "stage"]
    active = _active_rules(recs)
    # one Spark query for all rules (as run_rules makes one DuckDB scan)
    got = spark_engine.sql(" UNION ALL ".join(quality.rule_query(r, i)
                                              for i, r in enumerate(active)),
                           purpose="Spark 质量规则等价性测试 / quality rules on spark")
    got = got.dropna(subset=["__row"])
    assert len(active) == len([r for r in quality.load_rules() if r.enabled]) >= 60
    for i, r in enumerate(active):
        rows = got.loc[got["__rule"] == i, "__row"].astype("int64").to_numpy()
        want = duck[duck["rule_id"] == r.id][keys]
        assert len(want), f"rule {r.id} flags no card in the test data"
        assert sorted(map(tuple, cards.iloc[rows][keys].astype(str).values)) == \
            sorted(map(tuple, want.astype(str).values)), r.id


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


def test_read_gives_one_unit_conformed_and_builds_missing_journeys(data, spark_engine,
                                                                  casework_home):
    from casework import store

    recs, _ = data
    unit = sorted(recs["unit_code"].unique())[1]
    mine = recs[recs["unit_code"] == unit].reset_index(drop=True)
    got = spark_engine.read("records", unit=unit, where="stage = 'arrest_review'",
                            columns=["unit_code", "person_id", "accepted_on"], purpose="测试")
    want = mine.loc[mine["stage"] == "arrest_review", ["unit_code", "person_id", "accepted_on"]]
    assert got.dtypes.astype(str).tolist() == want.dtypes.astype(str).tolist()
    assert sorted(map(tuple, got.astype(str).values)) == \
        sorted(map(tuple, want.astype(str).values))
    # a platform without a journeys table: built from the unit's records, one query
    bare = engines.SparkEngine(engines.SparkConfig(
        tables={"records": spark_engine.config.tables["records"]}), spark=spark_engine.spark)
    before = len(store.audit_entries())
    jour = bare.read("journeys", unit=unit, purpose="测试")
    log = store.audit_entries().iloc[before:]
    built = journeys_mod.build(mine)
    assert len(log) == 1 and log["table"].iloc[0] == "journeys"
    assert int(log["rows"].iloc[0]) == len(jour) == len(built) > 0
    pd.testing.assert_frame_equal(jour.reset_index(drop=True), built.reset_index(drop=True))


def test_report_runs_end_to_end_on_spark(clean, tmp_path, monkeypatch):
    """snapshot_overview on the same cards: from a snapshot (DuckDB) and from Parquet on Spark
    (its own kernel, its own Spark session): both ok, Spark's reads audited, the same tables."""
    from casework import store
    from casework.run import report

    monkeypatch.setenv("CASEWORK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    store.write_snapshot({"records": clean}, account="test")
    store.read("records", purpose="导出给 Spark / export for spark").to_parquet(
        tmp_path / "records.parquet", index=False)
    cfg = tmp_path / "spark.yaml"
    cfg.write_text(FAST.replace("local[2]", "local[1]") + "tables: {records: records.parquet}\n",
                   encoding="utf-8")
    report.ensure_kernel(install=True)
    kw = dict(period="2024-12", docx=False)
    duck = report.run("snapshot_overview", reports_dir=tmp_path / "duck", **kw)
    before = len(store.audit_entries())
    spark = report.run("snapshot_overview", reports_dir=tmp_path / "spark", engine="spark",
                       spark_config=cfg, **kw)
    assert duck.ok, duck.error
    assert spark.ok, spark.error
    log = store.audit_entries().iloc[before:]
    assert log["engine"].tolist() == ["spark"]  # one audited query: the records
    assert log["table"].tolist() == ["records"] and log["outcome"].tolist() == ["returned"]
    assert int(log["rows"].iloc[0]) == len(clean)
    assert log["snapshot"].iloc[0] == "spark:local[1]"
    files = {e: tmp_path / e / "2024-12" / "snapshot_overview_all_files"
             for e in ("duck", "spark")}
    prov = json.loads((files["spark"] / "provenance.json").read_text(encoding="utf-8"))
    assert prov["engine"] == "spark" and prov["snapshot"] == "spark:local[1]"
    assert "查询引擎 Spark" in (tmp_path / "spark" / "2024-12"
                               / "snapshot_overview_all.html").read_text(encoding="utf-8")
    csvs = sorted(p.name for p in files["duck"].glob("*.csv"))
    assert "by_stage.csv" in csvs and csvs == sorted(p.name for p in files["spark"].glob("*.csv"))
    for name in csvs:
        a = pd.read_csv(files["duck"] / name)
        b = pd.read_csv(files["spark"] / name)
        pd.testing.assert_frame_equal(a, b, obj=name)
