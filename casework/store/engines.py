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

import importlib.util
import logging
import os
import shutil
import socket
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pandas as pd
import yaml

from casework.base.errors import CaseworkError, ParameterError, check_choice
from casework.model import journeys, schema
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
    if not path or not Path(path).is_file():
        raise ParameterError(f"Spark 配置文件不存在：{path or '（未给出）'}",
                             f"Spark config not found: {path or '(none given)'}",
                             hint="--spark-config spark.yaml 或 / or CASEWORK_SPARK_CONFIG")
    path = Path(path)
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


def _unavailable(zh: str, en: str, hint: str) -> CaseworkError:
    return CaseworkError(f"无法使用 Spark 引擎：{zh}", f"the Spark engine cannot be used: {en}",
                         hint=hint, exit_code=2)


def preflight(config) -> SparkConfig:
    """Check, before any kernel or JVM starts, what can be checked of a Spark run.

    The config file, PySpark and sqlglot installed, Java on the ``PATH`` (local mode and a
    cluster master; Spark Connect needs none), local Parquet locations present, and a
    ``spark://`` master or ``sc://`` Spark Connect address accepting connections.

    Parameters
    ----------
    config : SparkConfig or path

    Returns
    -------
    SparkConfig

    Raises
    ------
    ParameterError
        The config file is missing or malformed, or a local table location does not exist.
    CaseworkError
        PySpark, sqlglot or Java is missing, or the Spark address cannot be reached.
    """
    config = config if isinstance(config, SparkConfig) else load_config(config)
    missing = [m for m in ("pyspark", "sqlglot") if importlib.util.find_spec(m) is None]
    if missing:
        raise _unavailable(f"未安装 {', '.join(missing)}", f"{', '.join(missing)} not installed",
                           "pip install 'casework[spark]'")
    connect = [m for m in ("grpc", "grpc_status", "zstandard")
               if config.remote and importlib.util.find_spec(m) is None]
    if connect:
        raise _unavailable(f"Spark Connect 客户端缺少 {', '.join(connect)}",
                           f"the Spark Connect client needs {', '.join(connect)}",
                           "pip install 'pyspark[connect]'")
    if not config.remote and shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        raise _unavailable("找不到 Java（PySpark 需要 Java 17）",
                           "Java not found (PySpark needs Java 17)",
                           "安装 / install: apt-get install openjdk-17-jre-headless，"
                           "或在配置中改用 remote: sc://… (Spark Connect)")
    for name, loc in config.tables.items():
        if isinstance(loc, str) and "://" not in loc and not Path(loc).exists():
            raise ParameterError(f"Spark 配置 {config.source} 中 {name} 表的位置不存在：{loc}",
                                 f"the location of table {name} in {config.source} does not "
                                 f"exist: {loc}")
    address = config.remote or config.master
    url = urlparse(address)
    if url.scheme in ("sc", "spark") and url.hostname:
        port = url.port or (15002 if url.scheme == "sc" else 7077)
        try:
            socket.create_connection((url.hostname, port), timeout=5).close()
        except OSError as err:
            raise _unavailable(f"无法连接 {address}（{err.strerror or err}）",
                               f"cannot connect to {address} ({err})",
                               "检查 Spark 服务是否已启动、地址和端口是否正确 / "
                               "check that Spark is running and the address is right") from None
    return config


def session(config: SparkConfig):
    """A Spark session for ``config`` (local mode, a cluster master, or Spark Connect).

    Raises
    ------
    CaseworkError
        The session cannot be created (no Java, the address unreachable, a bad setting).
    """
    try:
        with warnings.catch_warnings():  # PySpark's notices about the pandas version
            warnings.filterwarnings("ignore", module=r"pyspark\.")
            return _session(config)
    except CaseworkError:
        raise
    except Exception as err:  # Py4J / pyspark / gRPC errors: say what failed, not a traceback
        text = str(err).strip().splitlines()[0][:300] if str(err).strip() else type(err).__name__
        raise _unavailable(f"Spark 会话无法启动（{config.label}）：{text}",
                           f"the Spark session could not start ({config.label}): {text}",
                           "检查 Java 17、Spark 地址和配置 / check Java 17, the Spark address "
                           "and the config") from None


def _session(config: SparkConfig):
    if importlib.util.find_spec("pyspark") is None:
        raise _unavailable("未安装 pyspark", "pyspark is not installed",
                           "pip install 'casework[spark]'")
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
    spark = builder.getOrCreate()
    # a failed query is reported once, as a ParameterError naming it: not also as a JSON
    # traceback on the analyst's terminal
    try:
        from pyspark.logger import PySparkLogger  # heavy: only with a session
    except ImportError:  # older PySpark: no structured query logger
        PySparkLogger = None
    if PySparkLogger is not None:
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            PySparkLogger.getLogger(name).setLevel(logging.CRITICAL)
    if not config.remote:
        spark.sparkContext.setLogLevel("ERROR")
    return spark


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
            dialect: str = "duckdb", _entry: dict | None = None, _post=None) -> pd.DataFrame:
        """Run one SELECT (DuckDB dialect, translated) on Spark; one audit row, engine named."""
        if not isinstance(purpose, str) or not purpose.strip():
            raise ParameterError("请说明查询目的（purpose）", "a purpose is required")
        entry = {"snapshot": self.config.label, "kind": "sql", "engine": "spark",
                 "table": None, "columns": None, "filter": None, "query": query,
                 "purpose": purpose, **(_entry or {})}
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
        entry["table"] = entry["table"] or ",".join(sorted(names))
        try:
            with warnings.catch_warnings():  # PySpark's notices about the pandas version
                warnings.filterwarnings("ignore", module=r"pyspark\.")
                df = self.spark.sql(text).toPandas()
            df = _post(df) if _post is not None else df
        except CaseworkError as err:  # a bad predicate on derived journeys: logged as failed
            audit.append({**entry, "rows": None, "outcome": "failed", "error": err.en[:500]},
                         account=account)
            raise
        except Exception as err:  # pyspark AnalysisException, Py4J errors …
            audit.append({**entry, "rows": None, "outcome": "failed", "error": str(err)[:500]},
                         account=account)
            raise ParameterError(f"Spark 查询失败：{str(err)[:300]}",
                                 f"the Spark query failed: {str(err)[:300]}") from None
        audit.append({**entry, "rows": int(len(df)), "outcome": "returned"}, account=account)
        return df

    def read(self, table: str, *, purpose: str, columns=None, unit: str | None = None,
             where: str | None = None, account: str | None = None) -> pd.DataFrame:
        """One table as :func:`casework.store.read` gives it, read by ONE audited Spark query.

        ``SELECT <columns> FROM <table> WHERE unit_code = '<unit>' AND (<where>)``, conformed
        (:func:`casework.model.schema.conform`). Not configured: ``journeys`` is built from the
        unit's records (:func:`casework.model.journeys.build`; ``where`` then applies to the
        journeys), ``supervision`` is empty (as in a snapshot without it); others are refused.

        Parameters
        ----------
        table : {"records", "modifications", "journeys", "supervision"}
        purpose : str
            Recorded in the audit log.
        columns : list of str, optional
            Columns to return (default all canonical columns).
        unit : str, optional
            Unit code to filter on (default: every unit).
        where : str, optional
            Extra DuckDB predicate (translated), combined with the unit filter by ``AND``.
        """
        check_choice("table", table, schema.TABLES)
        if where is not None and not isinstance(where, str):
            raise ParameterError("where 必须是 SQL 条件字符串",
                                 "where must be a SQL predicate string")
        cols = [columns] if isinstance(columns, str) else list(columns or [])
        unknown = [c for c in cols if c not in schema.column_names(table)]
        if unknown:
            raise ParameterError(f"{table} 表没有这些列：{', '.join(unknown)}",
                                 f"table {table} has no column(s): {', '.join(unknown)}")
        by_unit = f"unit_code = '{unit.replace(chr(39), chr(39) * 2)}'" if unit else None
        derived = table not in self.config.tables
        if derived and table == "supervision":
            out = schema.empty_frame(table)
            return out[cols] if cols else out
        if derived and table != "journeys":
            raise ParameterError(f"Spark 配置 {self.config.source} 中没有 {table} 表",
                                 f"the Spark config {self.config.source} has no {table} table",
                                 hint="在 tables: 下加上它的位置 / add its location under tables:")
        preds = [p for p in (by_unit, None if derived else where) if p and p.strip()]
        source = "records" if derived else table
        select = "*" if derived or not cols else ", ".join(f'"{c}"' for c in cols)
        query = f"SELECT {select} FROM {source}" + (
            " WHERE " + " AND ".join(f"({p})" for p in preds) if preds else "")

        def post(df):  # conformed; derived journeys: built, then the extra predicate on them
            if derived:
                df = journeys.build(schema.conform(df, "records"))
                df = _filter(df, where) if where and where.strip() else df
            df = schema.conform(df, table)
            return df[cols] if cols else df

        return self.sql(query, purpose=purpose, account=account, _post=post,
                        _entry={"kind": "read", "table": table, "columns": cols or None,
                                "filter": " AND ".join(preds) or None})


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


def _filter(df: pd.DataFrame, where: str) -> pd.DataFrame:
    """Rows of an in-memory frame matching a DuckDB predicate (no file access)."""
    import duckdb  # heavy: only for a predicate on derived journeys

    con = duckdb.connect(":memory:")
    try:
        con.execute("SET enable_external_access=false")
        con.register("frame", df)
        return con.sql(f"SELECT * FROM frame WHERE ({where})").df()
    except duckdb.Error as err:
        raise ParameterError(f"查询条件无效：{err}", f"bad predicate: {err}") from None
    finally:
        con.close()


#: Engines opened in this process, by config file: a report's kernel reads several tables
#: through one Spark session.
_OPEN: dict[str, SparkEngine] = {}


def engine_for(path) -> SparkEngine:
    """The :class:`SparkEngine` of a config file, opened once per process.

    Raises
    ------
    ParameterError, CaseworkError
        As :func:`preflight` and :func:`session`.
    """
    key = str(Path(path).resolve())
    if key not in _OPEN:
        _OPEN[key] = SparkEngine(preflight(key))
    return _OPEN[key]
