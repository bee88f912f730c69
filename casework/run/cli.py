"""The ``casework`` command line.

Every command is a thin shell over a library function. Errors users can meet
(:class:`casework.base.errors.CaseworkError`) print their Chinese and English message and exit with
the error's code (2 for bad input) — never a traceback.
"""

from __future__ import annotations

import os
import sys
import warnings
from pathlib import Path

import click

from casework import store, synth
from casework.analysis import quality
from casework.base import config
from casework.base.errors import CaseworkError, check_choice
from casework.ingest import importer
from casework.present import quality_text
from casework.run import batch, deliverables, listing, progress, report, workspace


@click.group(help="casework：检察业务数据分析工作台 / "
                  "research workbench for case-management analysts")
@click.version_option(package_name="casework")
def cli():
    pass


@cli.command("synth", help="生成合成演示数据 / generate synthetic demo data")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), required=True)
@click.option("--units", type=int, default=6, show_default=True)
@click.option("--years", type=int, default=3, show_default=True)
@click.option("--end", default=None,
              help="last month of data, YYYY-MM; default: the last full month")
@click.option("--persons", type=int, default=None,
              help="approximate person rows (overrides the per-unit volume)")
@click.option("--seed", type=int, default=20240501, show_default=True)
@click.option("--null", "null", is_flag=True, help="plant nothing / 不植入任何模式")
@click.option("--no-exports", is_flag=True, help="skip the CSV/xlsx exports (Parquet only)")
def synth_cmd(out_dir, units, years, end, persons, seed, null, no_exports):
    with progress.activity("生成合成数据"):
        summary = synth.generate(
            out_dir, units=units, years=years, end=end, persons=persons, seed=seed,
            null=null, exports=not no_exports,
        )
    click.echo(synth.describe(summary))


@cli.command("import", help="导入导出文件为快照 / import export files into a snapshot")
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--mapping", type=click.Path(path_type=Path), default=None,
              help="用户映射 YAML / mapping file")
@click.option("--table", type=click.Choice(["records", "modifications"]), default=None,
              help="目标表（默认自动判断）/ target table (default: detect)")
@click.option("--account", default=None, help="导入账号 / importing account")
def import_cmd(files, mapping, table, account):
    try:
        with progress.activity(f"导入 {len(files)} 个文件"):
            result = importer.import_files(list(files), mapping=mapping, table=table,
                                           account=account)
    except (CaseworkError, MemoryError, KeyboardInterrupt):
        raise
    except Exception as err:  # never a traceback: name the failure, keep nothing half-written
        if os.environ.get("CASEWORK_DEBUG"):
            raise
        raise CaseworkError(
            f"导入失败（{type(err).__name__}: {str(err)[:300]}），未写入任何快照",
            f"import failed ({type(err).__name__}: {str(err)[:300]}); no snapshot was written",
            hint="设置 CASEWORK_DEBUG=1 重新运行可查看详情 / "
                 "run again with CASEWORK_DEBUG=1 for details",
            exit_code=1) from None
    click.echo(importer.describe(result))


@cli.command("audit", help="查询审计日志 / the query audit log")
@click.option("--verify", is_flag=True, help="校验哈希链 / verify the hash chain")
@click.option("--against", type=click.Path(path_type=Path, exists=True, file_okay=False),
              default=None,
              help="与报告文件夹中各 provenance.json 的审计锚点核对 / "
                   "check the log against the audit anchors of the reports in this folder")
@click.option("--tail", type=int, default=20, show_default=True,
              help="显示最后 N 条（0 = 全部）/ show the last N rows (0 = all)")
def audit_cmd(verify, against, tail):
    if verify or against is not None:
        click.echo(store.verify_audit(against=against))
        return
    log = store.audit_entries()
    shown = log if tail <= 0 else log.tail(tail)
    click.echo(store.format_audit(shown))
    if len(log):
        click.echo(f"共 {len(log)} 条，显示 {len(shown)} 条 / {len(log)} rows, {len(shown)} shown "
                   "— 校验哈希链 / verify: casework audit --verify")


@cli.command("run", help="运行一个报告模板 / run one report template")
@click.argument("template")
@click.option("--period", required=True, help="2024-05, 2024-Q2, 2024-H1, 2024, 2024-YTD05 …")
@click.option("--unit", default="all", show_default=True)
@click.option("-p", "--param", "params", multiple=True, help="key=value")
@click.option("--level", type=click.Choice(["internal", "circulated"]), default="internal",
              show_default=True)
@click.option("--docx/--no-docx", default=True, show_default=True,
              help="同时生成 Word 文档（公文格式）/ also write the .docx beside the HTML")
@click.option("--snapshot", default="latest", show_default=True,
              help="数据快照编号（复现旧报告）/ snapshot id (reproduce an earlier report)")
@click.option("--engine", type=click.Choice(["duckdb", "spark"]), default="duckdb",
              show_default=True,
              help="查询引擎：本机快照（DuckDB）或大数据平台（Apache Spark）/ query engine")
@click.option("--spark-config", type=click.Path(path_type=Path), default=None,
              envvar="CASEWORK_SPARK_CONFIG",
              help="Spark 配置文件（master/remote、tables）；也可用环境变量 CASEWORK_SPARK_CONFIG"
                   " / Spark config file")
@click.option("--cache/--no-cache", default=True, show_default=True,
              help="复用本快照已算过的分析结果（结果相同）/ reuse results of this snapshot")
@click.pass_context
def run_cmd(ctx, template, period, unit, params, level, docx, snapshot, engine, spark_config,
            cache):
    if engine == "duckdb" and ctx.get_parameter_source("spark_config") is not \
            click.core.ParameterSource.COMMANDLINE:
        spark_config = None  # CASEWORK_SPARK_CONFIG is only read with --engine spark
    result = report.run(template, period=period, unit=unit, params_text=params, level=level,
                        docx=docx, snapshot=snapshot, engine=engine, spark_config=spark_config,
                        cache=cache)
    click.echo(result.describe())
    for w in result.warnings:
        click.echo(f"  警告 / warning: {w}", err=True)
    sys.exit(0 if result.ok else 1)


@cli.command("documents", help="生成本期 Word 文档：按期分析、案卡差错通报、联席会议通报 / "
                                "the month's Word documents from the period's reports")
@click.option("--period", required=True)
@click.option("--level", type=click.Choice(["internal", "circulated"]), default=None,
              help="按期分析与通报的密级（默认按各报告的密级）/ access level")
def documents_cmd(period, level):
    period_dir = config.reports_dir() / period
    for path in deliverables.month_documents(period_dir, period=period, level=level):
        click.echo(str(path))


@cli.command("batch", help="按运行定义批量生成报告 / run a batch definition")
@click.argument("file", type=click.Path(path_type=Path))
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--snapshot", default=None,
              help="数据快照编号（默认：运行定义中的 snapshot，否则最新）/ snapshot id "
                   "(default: the definition's snapshot, else the latest)")
@click.option("--cache/--no-cache", default=True, show_default=True,
              help="各报告复用本快照已算过的分析结果（结果相同）/ share results across reports")
def batch_cmd(file, workers, snapshot, cache):
    result = batch.batch(file, workers=workers, snapshot=snapshot, cache=cache)
    click.echo(batch.format_summary(result))
    sys.exit(0 if result.ok else 1)


@cli.command("demo", help="生成演示数据、导入并运行月度批处理 / the demo, end to end")
@click.option("--workers", type=int, default=2, show_default=True)
@click.option("--units", "n_units", type=int, default=6, show_default=True,
              help="演示数据的院数 / procuratorates in the demo data")
@click.option("--years", type=int, default=3, show_default=True)
@click.option("--template", "templates", multiple=True,
              help="只运行这些模板（可重复）/ run only these templates (repeatable)")
def demo_cmd(workers, n_units, years, templates):
    result = batch.demo(workers=workers, echo=click.echo, n_units=n_units, years=years,
                        templates=list(templates) or None)
    click.echo(batch.format_summary(result))
    click.echo(f"打开目录页 / open the index page: {result.index}")
    sys.exit(0 if result.ok else 1)


@cli.command("init", help="创建工作区（数据、报告、运行定义、模板副本）/ create a workspace")
@click.argument("folder", type=click.Path(path_type=Path), default=".")
def init_cmd(folder):
    click.echo(workspace.init(folder).describe())


@cli.command("list", help="列出数据快照、报告模板、指标、质量规则或导入映射 / "
                         "list snapshots, templates, indicators, rules or mappings")
@click.argument("kind", type=click.Choice(list(listing.KINDS)))
def list_cmd(kind):
    lines = listing.list_lines(kind)
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo(f"（没有{listing.KINDS[kind]} / no {kind}）")


@cli.command("check", help="案卡质量检查 / case-card quality check")
@click.option("--snapshot", default="latest", show_default=True)
@click.option("--fail-on", type=click.Choice(["info", "warning", "error"]), default="error",
              show_default=True)
@click.option("--rules", type=click.Path(path_type=Path), default=None,
              help="用户规则 YAML / user rules")
def check_cmd(snapshot, fail_on, rules):
    # inspect a snapshot (one audit-log row, purpose 案卡质量检查), print the summary, exit 1
    # when findings at or above fail_on exist
    check_choice("fail_on", fail_on, quality.SEVERITIES)
    rule_set = quality.load_rules(rules)  # a bad rule file fails before any data are read
    with progress.activity("案卡质量检查"):
        records = store.read("records", snapshot=snapshot, purpose="案卡质量检查")
        findings = quality.run_rules(records, rules=rule_set)
    man = store.manifest(snapshot)
    shown = str(man.get("snapshot_id") or man.get("id") or snapshot)
    click.echo(quality_text.summary_text(findings, records, snapshot=shown, fail_on=fail_on))
    failed = bool(quality.at_or_above(findings, fail_on).any()) if len(findings) else False
    sys.exit(1 if failed else 0)


def main(argv=None):
    """Console entry point: run the CLI, turning :class:`CaseworkError` into a clean exit.

    Numeric ``RuntimeWarning`` messages (NaN arithmetic inside the library) are not for users: they
    are silenced here; data problems are reported as warnings of the import or the report.
    """
    warnings.simplefilter("ignore", RuntimeWarning)
    try:
        cli.main(args=argv, standalone_mode=False)
    except CaseworkError as err:
        click.echo(str(err), err=True)
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("已取消 / aborted", err=True)
        sys.exit(130)
    except click.ClickException as err:
        # click's own messages are English: say it in Chinese first
        click.echo(f"命令行参数有误：{err.format_message()}（运行 casework --help 查看用法）",
                   err=True)
        err.show()
        sys.exit(err.exit_code)
    except MemoryError:
        click.echo("内存不足：文件过大 / out of memory: the input is too large", err=True)
        sys.exit(2)
    except OSError as err:
        click.echo(f"文件系统错误：{err.strerror or err} / file system error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
