"""Query engines behind the audited door: DuckDB (default) and Apache Spark (issue 17).

The indicator panel (:mod:`casework.analysis.panel`) and the quality rules
(:mod:`casework.analysis.quality_rules`) write their SQL once, in DuckDB's dialect. Where the
data live on a big-data platform (Hive/Parquet tables served by Spark) the same text is
translated (:func:`translate`: sqlglot ``duckdb`` → ``spark``, plus the few functions whose
meaning differs, e.g. exact medians) and run there by a :class:`SparkEngine`. Every Spark
query goes through the same audited door as :func:`casework.store.read`: one audit row per
query, naming the engine (``engine: spark``), the tables and the SQL that ran; a query that
names anything but the configured tables is refused (and logged as refused).

A :class:`SparkTable` is what :func:`casework.analysis.panel.compute` accepts instead of a
frame (it has ``sql_name``, ``columns`` and ``execute``), so analysis never imports the store.

Configuration (:func:`load_config`, a small YAML file)::

    master: local[2]            # or spark://host:7077, yarn …; ignored when remote is given
    remote: sc://host:15002     # optional: a Spark Connect address
    tables:                     # SQL name -> Parquet location (path, hdfs://, s3a://)
      records: /data/casework/records          #   or a Hive table: {table: db.records}
      journeys: {table: casework.journeys}
    conf: {spark.sql.shuffle.partitions: 8}    # optional Spark settings

Examples
--------
>>> print(translate("SELECT quantile_cont(x, 0.5) FILTER (WHERE y > 1) AS m FROM t"))
SELECT PERCENTILE(x, 0.5) FILTER(WHERE y > 1) AS m FROM t
>>> print(translate("SELECT date_diff('day', a, b) AS d FROM t"))
SELECT DATEDIFF(b, a) AS d FROM t
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import yaml

from casework.base.errors import ParameterError
from casework.model import schema
from casework.store import audit

#: The engines a panel can run on.
ENGINES = ("duckdb", "spark")

#: Spark SQL type of each canonical dtype (typed NULLs for columns a table lacks).
SPARK_TYPES = {"string": "STRING", "int": "BIGINT", "float": "DOUBLE", "bool": "BOOLEAN",
               "date": "DATE", "datetime": "TIMESTAMP", "list": "ARRAY<STRING>"}


def _fix_spark(node):
    """Per-dialect layer: the functions sqlglot maps to a Spark spelling of another meaning."""
    import sqlglot.expressions as exp  # heavy: only when translating

    if isinstance(node, (exp.Quantile, exp.PercentileCont)):
        # exact, linearly interpolated quantile = DuckDB quantile_cont (not percentile_approx)
        q = node.args.get("quantile") or node.args.get("expression")
        return exp.Anonymous(this="PERCENTILE", expressions=[node.this, q])
    if isinstance(node, exp.DateDiff) and str(node.text("unit") or "DAY").upper() == "DAY":
        # days between two dates: Spark's two-argument datediff(end, start)
        return exp.Anonymous(this="DATEDIFF", expressions=[node.this, node.expression])
    return node


def translate(query: str, dialect: str = "spark") -> str:
    """DuckDB SQL text in another engine's dialect (``"duckdb"`` returns it unchanged).

    Parameters
    ----------
    query : str
        One statement in DuckDB's dialect (as the panel and the quality rules write it).
    dialect : {"duckdb", "spark"}

    Raises
    ------
    ParameterError
        The text cannot be parsed.
    """
    if dialect == "duckdb":
        return query
    if dialect != "spark":
        raise ParameterError(f"未知的查询引擎：{dialect}", f"unknown engine: {dialect}",
                             hint="可选 / choose: " + ", ".join(ENGINES))
    import sqlglot  # heavy: only when a query goes to Spark

    try:
        tree = sqlglot.parse_one(query, read="duckdb")
    except sqlglot.errors.ParseError as err:
        raise ParameterError(f"SQL 无法翻译：{err}", f"SQL cannot be translated: {err}") from None
    return tree.transform(_fix_spark).sql(dialect="spark")


def _tables_named(query: str) -> tuple[bool, set[str]]:
    """(is one read-only query, names of the tables it reads that are not its own CTEs)."""
    import sqlglot  # heavy: only when a query goes to Spark
    import sqlglot.expressions as exp  # heavy: only when a query goes to Spark

    try:
        trees = sqlglot.parse(query, read="spark")
    except sqlglot.errors.ParseError:
        return False, set()
    if len(trees) != 1 or not isinstance(trees[0], exp.Query):
        return False, set()
    tree = trees[0]
    ctes = {c.alias_or_name for c in tree.find_all(exp.CTE)}
    names = set()
    for t in tree.find_all(exp.Table):
        if t.args.get("db") or t.args.get("catalog") or not isinstance(t.this, exp.Identifier):
            names.add(t.sql(dialect="spark"))
        elif t.name not in ctes:
            names.add(t.name)
    return True, names


@dataclass
class SparkConfig:
    """Where the Spark engine runs and where the tables are (see the module docstring)."""

    master: str = "local[2]"
    remote: str | None = None
    tables: dict = field(default_factory=dict)
    conf: dict = field(default_factory=dict)
    source: str = "config"

    @property
    def label(self) -> str:
        """What the audit log records as the snapshot: ``spark:<address>``."""
        return f"spark:{self.remote or self.master}"


def load_config(path) -> SparkConfig:
    """Read a Spark engine config file (YAML; see the module docstring).

    Relative Parquet paths are taken relative to the config file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "spark.yaml"
    >>> _ = p.write_text("master: local[1]\\ntables: {records: r.parquet}\\n")
    >>> c = load_config(p)
    >>> c.master, c.tables["records"] == str(p.parent / "r.parquet")
    ('local[1]', True)
    """
    path = Path(path)
    if not path.exists():
        raise ParameterError(f"Spark 配置文件不存在：{path}", f"Spark config not found: {path}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as err:
        raise ParameterError(f"Spark 配置文件不是有效的 YAML：{path}",
                             f"Spark config is not valid YAML: {path}: {err}") from None
    unknown = sorted(set(data) - {"master", "remote", "tables", "conf"})
    bad = f"；未知的键 {unknown}" if unknown else ""
    if unknown or not isinstance(data.get("tables"), dict) or "records" not in data["tables"]:
        raise ParameterError(
            "Spark 配置须含 tables: {records: <Parquet 位置或 {table: 库.表}>}，"
            f"可选 master、remote、conf{bad}",
            "a Spark config needs tables: {records: <Parquet location or {table: db.t}>}, "
            f"optionally master, remote, conf{bad.replace('；未知的键', '; unknown keys')}")
    tables = {}
    for name, loc in data["tables"].items():
        if isinstance(loc, str) and "://" not in loc and not Path(loc).is_absolute():
            loc = str(path.parent / loc)
        tables[str(name)] = loc
    return SparkConfig(master=str(data.get("master") or "local[2]"), remote=data.get("remote"),
                       tables=tables, conf=dict(data.get("conf") or {}), source=str(path))


def session(config: SparkConfig):
    """A Spark session for ``config`` (local mode, a cluster master, or Spark Connect)."""
    from pyspark.sql import SparkSession  # heavy: a JVM starts here

    if config.remote:
        builder = SparkSession.builder.remote(config.remote)
    else:
        builder = (SparkSession.builder.master(config.master).appName("casework")
                   .config("spark.ui.enabled", "false")
                   .config("spark.ui.showConsoleProgress", "false")
                   .config("spark.sql.shuffle.partitions", "4"))
    builder = builder.config("spark.sql.session.timeZone", "UTC") \
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
    for key, value in config.conf.items():
        builder = builder.config(str(key), str(value))
    return builder.getOrCreate()


class SparkEngine:
    """The configured tables as Spark views, queried through the audited door.

    Parameters
    ----------
    config : SparkConfig or path
    spark : SparkSession, optional
        An existing session (default: :func:`session` of ``config``).
    """

    def __init__(self, config, spark=None):
        self.config = config if isinstance(config, SparkConfig) else load_config(config)
        self.spark = spark if spark is not None else session(self.config)
        self._columns: dict[str, list[str]] = {}

    def _register(self, name: str) -> list[str]:
        if name in self._columns:
            return self._columns[name]
        loc = self.config.tables[name]
        if isinstance(loc, dict):
            df = self.spark.table(str(loc["table"]))
        else:
            df = self.spark.read.parquet(str(loc))
        raw = f"_raw_{name}"
        df.createOrReplaceTempView(raw)
        have = set(df.columns)
        extra = []
        if name in ("records", "journeys", "modifications"):
            # canonical columns the platform's table lacks: typed NULLs, as DuckDB's panel does
            extra = [f"CAST(NULL AS {SPARK_TYPES[c.dtype]}) AS `{c.name}`"
                     for c in schema.columns(name) if c.name not in have]
        sel = ", ".join(["*", *extra])
        self.spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW `{name}` AS SELECT {sel} FROM {raw}")
        self._columns[name] = [*df.columns, *(c.name for c in schema.columns(name)
                                             if extra and c.name not in have)]
        return self._columns[name]

    def table(self, name: str, *, purpose: str, account: str | None = None):
        """A :class:`SparkTable` the panel accepts in place of a frame (None if not configured)."""
        if name not in self.config.tables:
            return None
        self._register(name)
        return SparkTable(self, name, purpose, account)

    def sql(self, query: str, *, purpose: str, account: str | None = None,
            dialect: str = "duckdb") -> pd.DataFrame:
        """Run one SELECT (DuckDB dialect, translated) on Spark; one audit row, engine named."""
        if not isinstance(purpose, str) or not purpose.strip():
            raise ParameterError("请说明查询目的（purpose）", "a purpose is required")
        entry = {"snapshot": self.config.label, "kind": "sql", "engine": "spark",
                 "table": None, "columns": None, "filter": None, "query": query,
                 "purpose": purpose}
        try:
            text = translate(query, "spark") if dialect == "duckdb" else query
        except ParameterError as err:  # refused statements are logged too: who tried what
            audit.append({**entry, "rows": None, "outcome": "refused", "error": err.en[:500]},
                         account=account)
            raise
        entry["query"] = text
        ok, names = _tables_named(text)
        outside = sorted(names - set(self.config.tables))
        if not ok or outside:
            why = ("只能执行一条 SELECT 查询", "only one SELECT statement is allowed") if not ok \
                else (f"只能查询已配置的表，不能查询 {', '.join(outside)}",
                      f"only the configured tables may be queried, not {', '.join(outside)}")
            audit.append({**entry, "rows": None, "outcome": "refused", "error": why[1]},
                         account=account)
            raise ParameterError(*why)
        for name in names:
            self._register(name)
        entry["table"] = ",".join(sorted(names))
        try:
            df = self.spark.sql(text).toPandas()
        except Exception as err:  # pyspark AnalysisException, Py4J errors …
            audit.append({**entry, "rows": None, "outcome": "failed", "error": str(err)[:500]},
                         account=account)
            raise ParameterError(f"Spark 查询失败：{str(err)[:300]}",
                                 f"the Spark query failed: {str(err)[:300]}") from None
        audit.append({**entry, "rows": int(len(df)), "outcome": "returned"}, account=account)
        return df


@dataclass
class SparkTable:
    """One configured table on Spark, as :func:`casework.analysis.panel.compute` takes it."""

    engine: SparkEngine
    sql_name: str
    purpose: str
    account: str | None = None

    @property
    def columns(self) -> list[str]:
        """Column names (canonical columns the source lacks included, as typed NULLs)."""
        return list(self.engine._register(self.sql_name))

    def execute(self, query: str) -> pd.DataFrame:
        """Run DuckDB-dialect SQL (translated) on Spark through the audited door."""
        return self.engine.sql(query, purpose=self.purpose, account=self.account)
