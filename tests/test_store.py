"""The snapshot store: write, read back, manifest, latest pointer, audited reads, failures."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from casework import store
from casework.base import config
from casework.base.errors import AuditError, CaseworkError, ParameterError
from casework.model import schema
from casework.store import audit

PY = sys.executable


def tiny_records() -> pd.DataFrame:
    """Five person rows in two units and two years, with every kind of dtype."""
    return pd.DataFrame({
        "unit_code": ["U1", "U1", "U2", "U2", "U1"],
        "unit_name": ["甲区院", "甲区院", "乙县院", "乙县院", "甲区院"],
        "dept_case_no": ["甲捕〔2023〕1号", "甲诉〔2024〕7号", "乙捕〔2024〕2号",
                         "乙捕〔2024〕3号", "甲诉〔2024〕9号"],
        "unified_case_no": ["T1", "T1", "T2", "T3", "T4"],
        "stage": ["arrest_review", "prosecution_review", "arrest_review", "arrest_review",
                  "prosecution_review"],
        "person_id": ["P1", "P1", "P2", "P3", "P4"],
        "person_name": ["张三丰", "张三丰", "李四", "王五", "欧阳娜娜"],
        "charge": ["盗窃", "盗窃", "诈骗", "危险驾驶", "帮助信息网络犯罪活动"],
        "charges": [["盗窃"], ["盗窃", "诈骗"], None, [], ["帮助信息网络犯罪活动"]],
        "accepted_on": ["2023-12-28", "2024-02-04", "2024-02-05", "2024-03-01", None],
        "entered_at": ["2023-12-28 09:15:00", None, "2024-02-05 16:00:01", None, None],
        "age": [30, 30, 17, None, 22],
        "minor": [False, False, True, None, False],
        "term_months": [None, 7.5, None, None, None],
        "decision": ["arrest_approved", "prosecute", "arrest_approved", "non_arrest", "prosecute"],
        "measure_after_change": [None, None, "bail", None, None],
    })


def tiny_modifications() -> pd.DataFrame:
    return pd.DataFrame({
        "unit_code": ["U1", "U2"], "dept_case_no": ["甲诉〔2024〕7号", "乙捕〔2024〕2号"],
        "person_id": ["P1", "P2"], "field": ["decision", "closed_on"],
        "old_value": ["non_prosecution", "2024-03-01"], "new_value": ["prosecute", "2024-02-01"],
        "account": ["clerk01", "clerk02"],
        "modified_at": ["2024-03-02 10:00:00", "2024-04-01 11:30:00"],
    })


def sha256(path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def snapshot_files(folder) -> dict[str, tuple[str, int]]:
    out = {}
    for p in sorted(Path(folder).rglob("*")):
        if p.is_file():
            out[str(p.relative_to(folder))] = (sha256(p), p.stat().st_mtime_ns)
    return out


@pytest.fixture
def one_snapshot(casework_home):
    return store.write_snapshot({"records": tiny_records(), "modifications": tiny_modifications()},
                                account="importer01", warnings=["第3行：审结日期早于受理日期"])


# ---------------------------------------------------------------------------------------------
# Writing and reading back
# ---------------------------------------------------------------------------------------------


def test_round_trip_gives_back_the_conformed_tables(one_snapshot):
    recs = store.read("records", purpose="测试往返 / round trip")
    # snapshot order: by unit, then year (null last), then import order
    order = [0, 1, 4, 2, 3]
    expected = schema.conform(tiny_records(), "records").iloc[order].reset_index(drop=True)
    pd.testing.assert_frame_equal(recs, expected)
    assert recs.loc[1, "charges"] == ["盗窃", "诈骗"] and recs.loc[3, "charges"] is None
    assert recs.loc[0, "entered_at"] == pd.Timestamp("2023-12-28 09:15:00")
    mods = store.read("modifications", purpose="测试往返 / round trip")
    pd.testing.assert_frame_equal(mods, schema.conform(tiny_modifications(), "modifications"))


def test_projection_and_where_filter(one_snapshot):
    df = store.read("records", columns=["person_id", "age"],
                    where="unit_code = 'U1' AND accepted_on >= DATE '2024-01-01'", purpose="筛选")
    assert df.columns.tolist() == ["person_id", "age"]
    assert df["person_id"].tolist() == ["P1"]
    assert str(df["age"].dtype) == "Int64"


def test_journeys_are_derived_at_write_time(one_snapshot):
    assert one_snapshot["row_counts"]["journeys"] == 4  # P1 (two stages), P2, P3, P4
    j = store.read("journeys", purpose="流转")
    assert j.columns.tolist() == schema.column_names("journeys")
    p1 = j.set_index("person_id").loc["P1"]
    assert p1["arrest_dept_case_no"] == "甲捕〔2023〕1号"
    assert p1["prosecution_dept_case_no"] == "甲诉〔2024〕7号"
    assert bool(j.set_index("person_id").loc["P2", "post_arrest_bail"]) is True


def test_sql_sees_tables_as_views(one_snapshot):
    df = store.sql("SELECT unit_code, count(*) AS n FROM records GROUP BY unit_code ORDER BY 1",
                   purpose="按院统计")
    assert df.values.tolist() == [["U1", 3], ["U2", 2]]
    df = store.sql("SELECT count(*) AS n FROM journeys WHERE post_arrest_bail", purpose="捕后取保")
    assert int(df["n"].iloc[0]) == 1
    df = store.sql("SELECT sum(age) AS s, avg(age) AS m, CAST(1.25 AS DECIMAL(5,2)) AS d, "
                   "any_value(stage) AS st FROM records", purpose="类型")
    assert (df["s"].iloc[0], df["m"].iloc[0], df["d"].iloc[0]) == (99, 24.75, 1.25)  # 30+30+17+22
    assert [str(t) for t in df.dtypes] == ["Int64", "Float64", "Float64", "string"]


# ---------------------------------------------------------------------------------------------
# Manifest, immutability, latest
# ---------------------------------------------------------------------------------------------


def test_manifest_records_hashes_counts_and_provenance(casework_home, tmp_path):
    src = tmp_path / "导出_审查逮捕.csv"
    src.write_bytes("单位编码,部门受案号\nU1,甲捕1\n".encode("gb18030"))
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("records:\n  unit_code: 院编码\n", encoding="utf-8")
    before = sha256(src)
    m = store.write_snapshot({"records": tiny_records()}, sources=[src], mapping=mapping,
                             warnings=["w"])
    assert sha256(src) == before  # the source is only read
    on_disk = json.loads((Path(m["path"]) / "manifest.json").read_text(encoding="utf-8"))
    assert on_disk["id"] == m["id"] == Path(m["path"]).name
    assert on_disk["account"] == "test-analyst"  # CASEWORK_USER from the fixture
    assert pd.Timestamp(on_disk["created_at"]).tzinfo is not None
    assert on_disk["sources"][0]["sha256"] == before
    assert on_disk["sources"][0]["bytes"] == src.stat().st_size
    assert on_disk["mapping"]["sha256"] == sha256(mapping)
    assert "院编码" in on_disk["mapping"]["text"]
    assert on_disk["warnings"] == ["w"]
    assert on_disk["row_counts"] == {"records": 5, "journeys": 4}
    lines = []
    for table, entry in on_disk["tables"].items():
        assert sum(f["rows"] for f in entry["files"]) == on_disk["row_counts"][table]
        for f in entry["files"]:
            assert sha256(Path(m["path"]) / f["path"]) == f["sha256"]
            lines.append(f"{f['path']} {f['sha256']}")
    digest = hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()
    assert digest == on_disk["snapshot_sha256"]
    assert m["id"].endswith(on_disk["snapshot_sha256"][:8])
    # one file per unit, rows ordered by year within it (null years last)
    assert [f["path"] for f in on_disk["tables"]["records"]["files"]] == [
        "records/unit_code=U1/part-0.parquet", "records/unit_code=U2/part-0.parquet"]
    assert [f["rows"] for f in on_disk["tables"]["records"]["files"]] == [3, 2]


def test_latest_moves_and_old_snapshots_stay_readable(casework_home):
    first = store.write_snapshot({"records": tiny_records()})
    second = store.write_snapshot({"records": tiny_records().iloc[:2]})
    assert first["id"] != second["id"]
    latest_file = config.snapshots_dir() / "latest"
    assert latest_file.read_text().strip() == second["id"]
    assert store.manifest()["id"] == second["id"]
    assert len(store.read("records", purpose="最新")) == 2
    assert len(store.read("records", snapshot=first["id"], purpose="旧快照")) == 5
    listing = store.snapshots()
    assert listing["snapshot"].tolist() == [first["id"], second["id"]]
    assert listing["latest"].tolist() == [False, True]
    assert listing["records"].tolist() == [5, 2]


def test_reads_leave_snapshot_files_unchanged(one_snapshot):
    folder = Path(one_snapshot["path"])
    before = snapshot_files(folder)
    store.read("records", purpose="a")
    store.read("records", columns=["unit_code"], where="age > 18", purpose="b")
    store.sql("SELECT * FROM modifications", purpose="c")
    with pytest.raises(ParameterError):
        store.sql("COPY records TO '" + str(folder / "records" / "x.csv") + "'", purpose="d")
    assert snapshot_files(folder) == before
    assert store.verify_snapshot().startswith("快照")
    for p in folder.rglob("*.parquet"):
        assert not os.stat(p).st_mode & 0o222  # written read-only


def test_verify_snapshot_detects_a_changed_file(one_snapshot):
    folder = Path(one_snapshot["path"])
    victim = next(folder.rglob("*.parquet"))
    os.chmod(victim, 0o644)
    victim.write_bytes(victim.read_bytes() + b"\0")
    with pytest.raises(CaseworkError, match="changed"):
        store.verify_snapshot()


# ---------------------------------------------------------------------------------------------
# One audit row per call
# ---------------------------------------------------------------------------------------------


def test_every_read_and_sql_call_appends_exactly_one_audit_row(one_snapshot):
    assert len(store.audit_entries()) == 0  # writing a snapshot is not a query
    a = store.read("records", purpose="月报 2024-05")
    b = store.read("records", columns=["unit_code"], where="unit_code = 'U2'", purpose="乙县院",
                   account="leader01")
    c = store.sql("SELECT stage, count(*) AS n FROM records GROUP BY 1", purpose="环节分布")
    d = store.read("journeys", where="post_arrest_bail", purpose="捕后取保")
    log = store.audit_entries()
    assert len(log) == 4
    assert log["seq"].tolist() == [1, 2, 3, 4]
    assert log["rows"].tolist() == [len(a), len(b), len(c), len(d)] == [5, 2, 2, 1]
    assert log["purpose"].tolist() == ["月报 2024-05", "乙县院", "环节分布", "捕后取保"]
    assert log["account"].tolist() == ["test-analyst", "leader01", "test-analyst", "test-analyst"]
    assert set(log["snapshot"]) == {one_snapshot["id"]}  # 'latest' resolved to the id
    assert log["kind"].tolist() == ["read", "read", "sql", "read"]
    assert log.loc[1, "filter"] == "unit_code = 'U2'" and log.loc[1, "columns"] == ["unit_code"]
    assert log.loc[2, "query"].startswith("SELECT stage")
    assert all(pd.Timestamp(t).tzinfo is not None for t in log["time"])
    assert "共 4 条" in store.verify_audit()
    text = store.format_audit(log)
    assert "乙县院" in text and "leader01" in text


def test_failed_and_refused_queries_are_logged_without_data(one_snapshot):
    with pytest.raises(ParameterError, match="nocol"):
        store.read("records", where="nocol = 1", purpose="错误的列")
    with pytest.raises(ParameterError, match="SELECT"):
        store.sql("COPY records TO '/tmp/casework_leak.csv'", purpose="导出")
    with pytest.raises(ParameterError):
        store.sql("SELECT * FROM read_csv('/etc/passwd')", purpose="越权")
    assert not Path("/tmp/casework_leak.csv").exists()
    log = store.audit_entries()
    assert len(log) == 3
    assert log["rows"].isna().all()
    assert log["error"].notna().all()


def test_unknown_columns_are_refused_before_any_query(one_snapshot):
    with pytest.raises(ParameterError, match="no_such_column"):
        store.read("records", columns=["unit_code", "no_such_column"], purpose="x")
    assert len(store.audit_entries()) == 0


# ---------------------------------------------------------------------------------------------
# Errors users meet
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("purpose", [None, "", "   "])
def test_purpose_is_required(one_snapshot, purpose):
    with pytest.raises(ParameterError) as err:
        store.read("records", purpose=purpose)
    assert "目的" in err.value.zh and "purpose" in err.value.en
    with pytest.raises(ParameterError):
        store.sql("SELECT 1", purpose=purpose)
    assert len(store.audit_entries()) == 0


def test_no_snapshot_yet_says_to_import_or_run_the_demo(casework_home):
    with pytest.raises(CaseworkError) as err:
        store.read("records", purpose="x")
    text = str(err.value)
    assert "尚无数据快照" in text and "no snapshot" in text
    assert "casework import" in text and "casework demo" in text
    with pytest.raises(CaseworkError, match="casework demo"):
        store.manifest()
    assert store.snapshots().empty
    assert not config.audit_log_path().exists()


def test_unknown_snapshot_lists_the_existing_ones(one_snapshot):
    with pytest.raises(CaseworkError) as err:
        store.read("records", snapshot="20990101T000000-deadbeef", purpose="x")
    assert "快照不存在" in err.value.zh and "unknown snapshot" in err.value.en
    assert one_snapshot["id"] in str(err.value)
    with pytest.raises(ParameterError):
        store.read("records", snapshot="../../etc", purpose="x")


def test_unknown_table_is_a_parameter_error(one_snapshot):
    with pytest.raises(ParameterError, match="records"):
        store.read("cases", purpose="x")
    with pytest.raises(ParameterError):
        store.write_snapshot({"cases": tiny_records()})


# --- faults: nothing half-written -------------------------------------------------------------


def no_leftovers(home: Path) -> list[str]:
    root = home / "data" / "snapshots"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS])
def test_a_write_failure_midway_leaves_nothing_behind(one_snapshot, casework_home, monkeypatch,
                                                      code):
    before = no_leftovers(casework_home)
    calls = {"n": 0}
    real = store.parquet_store._write_parquet

    def failing(tbl, path):
        calls["n"] += 1
        if calls["n"] == 2:  # the records file is written, the journeys file fails
            raise OSError(code, os.strerror(code))
        real(tbl, path)

    monkeypatch.setattr(store.parquet_store, "_write_parquet", failing)
    with pytest.raises(store.StoreError) as err:
        store.write_snapshot({"records": tiny_records().assign(unit_code="U9")})
    text = str(err.value)
    assert ("磁盘空间不足" in text and "disk is full" in text) if code == errno.ENOSPC else \
        ("只读" in text and "read-only" in text)
    assert "未生成任何快照" in text
    assert no_leftovers(casework_home) == before  # no new folder, no temp folder
    assert store.manifest()["id"] == one_snapshot["id"]  # latest did not move


def _run(code: str, env: dict, prefix=()) -> subprocess.CompletedProcess:
    script = textwrap.dedent(code)
    return subprocess.run([*prefix, PY, "-c", script], env=env, capture_output=True, text=True,
                          timeout=120)


WRITE_SNAPSHOT = """
    import sys
    import numpy as np, pandas as pd
    from casework import store
    from casework.base.errors import CaseworkError
    n = 20000
    rng = np.random.default_rng(1)
    recs = pd.DataFrame({"unit_code": "U1", "dept_case_no": [f"D{i}" for i in range(n)],
        "unified_case_no": [f"T{i}" for i in range(n)], "stage": "arrest_review",
        "person_id": [f"P{i}" for i in range(n)], "charge": "盗窃",
        "case_summary": [f"摘要{x}" * 20 for x in rng.integers(0, 10**9, n)],
        "accepted_on": "2024-01-01"})
    try:
        store.write_snapshot({"records": recs})
    except CaseworkError as err:
        print(err)
        sys.exit(err.exit_code)
    print("written")
"""


def _env(home: Path) -> dict:
    env = dict(os.environ, CASEWORK_HOME=str(home), CASEWORK_USER="test-analyst")
    env["PYTHONPATH"] = str(config.PROJ_ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def test_full_disk_gives_a_clear_error_and_no_snapshot(tmp_path):
    """A real write failure: the file-size limit makes the kernel refuse the write (EFBIG)."""
    if not hasattr(os, "setrlimit") and sys.platform != "linux":
        pytest.skip("needs RLIMIT_FSIZE")
    code = "import resource, signal\n" \
           "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n" \
           "resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))\n" + \
           textwrap.dedent(WRITE_SNAPSHOT)
    res = _run(code, _env(tmp_path))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "磁盘空间不足" in res.stdout and "disk is full" in res.stdout
    assert "Traceback" not in res.stderr
    assert [n for n in no_leftovers(tmp_path) if n != ".lock"] == []


def _readonly_prefix(folder: Path):
    """How to run a child process that sees ``folder`` read-only, or None."""
    if os.geteuid() != 0:
        return "chmod"
    if shutil.which("unshare") and shutil.which("mount"):
        probe = subprocess.run(["unshare", "-m", "sh", "-c",
                                f"mount --bind -o ro '{folder}' '{folder}' && touch '{folder}/x'"],
                               capture_output=True, text=True)
        if probe.returncode != 0 and "Read-only" in probe.stderr:
            return ["unshare", "-m", "sh", "-c",
                    f"mount --bind -o ro '{folder}' '{folder}' && exec \"$0\" \"$@\""]
    return None


def _run_readonly(folder: Path, code: str, env: dict) -> subprocess.CompletedProcess:
    prefix = _readonly_prefix(folder)
    if prefix is None:
        pytest.skip("cannot make a folder read-only here (root without mount namespaces)")
    if prefix == "chmod":
        os.chmod(folder, 0o555)
        try:
            return _run(code, env)
        finally:
            os.chmod(folder, 0o755)
    return _run(code, env, prefix=prefix)


def test_read_only_data_folder_gives_a_clear_error(tmp_path):
    (tmp_path / "data").mkdir()
    res = _run_readonly(tmp_path / "data", WRITE_SNAPSHOT, _env(tmp_path))
    assert res.returncode == 2, res.stdout + res.stderr
    assert "只读" in res.stdout and "read-only" in res.stdout
    assert "Traceback" not in res.stderr
    assert no_leftovers(tmp_path) == []


def test_read_only_audit_folder_returns_no_data(tmp_path):
    env = _env(tmp_path)
    assert _run(WRITE_SNAPSHOT, env).returncode == 0
    audit_dir = tmp_path / "data" / "audit"
    audit_dir.mkdir(parents=True, exist_ok=True)  # the first snapshot creates its head
    code = """
        import sys
        from casework import store
        from casework.base.errors import CaseworkError
        try:
            df = store.read("records", purpose="只读审计日志")
        except CaseworkError as err:
            print(type(err).__name__); print(err); sys.exit(err.exit_code)
        print("DATA RETURNED", len(df))
    """
    res = _run_readonly(audit_dir, code, env)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "AuditError" in res.stdout and "DATA RETURNED" not in res.stdout
    assert "无法写入查询审计日志" in res.stdout
    assert "cannot write the query audit log" in res.stdout


def test_audit_failure_in_process_returns_no_data(one_snapshot, monkeypatch):
    def broken(*_a, **_k):
        raise AuditError("无法写入查询审计日志", "cannot write the query audit log")

    monkeypatch.setattr(audit, "append", broken)
    with pytest.raises(AuditError):
        store.read("records", purpose="x")
    with pytest.raises(AuditError):
        store.sql("SELECT 1 AS one", purpose="x")


# --- concurrency --------------------------------------------------------------------------------


def _reader(home: str, worker: int, start) -> list[int]:
    os.environ["CASEWORK_HOME"] = home
    os.environ["CASEWORK_USER"] = f"worker{worker}"
    from casework import store as st

    start.wait(60)
    counts = [len(st.read("records", purpose=f"并发读取 {worker}")),
              len(st.read("records", where="unit_code = 'U1'", purpose=f"并发读取 {worker}")),
              len(st.sql("SELECT * FROM journeys", purpose=f"并发读取 {worker}"))]
    return counts


def test_eight_processes_reading_at_once_leave_one_row_per_read(one_snapshot, casework_home):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    start = ctx.Manager().Event()
    with ctx.Pool(8) as pool:
        jobs = [pool.apply_async(_reader, (str(casework_home), w, start)) for w in range(8)]
        start.set()
        results = [j.get(timeout=300) for j in jobs]
    assert results == [[5, 3, 4]] * 8
    log = store.audit_entries()
    assert len(log) == 24
    assert log["seq"].tolist() == list(range(1, 25))
    assert sorted(log["account"].value_counts().tolist()) == [3] * 8
    assert sorted(log["rows"].tolist()) == sorted([5, 3, 4] * 8)
    assert "共 24 条" in store.verify_audit()


def test_full_tmpfs_gives_a_clear_error(tmp_path):
    """A really full disk (a 256 KiB tmpfs), where mount namespaces are available."""
    data = tmp_path / "data"
    data.mkdir()
    if not (shutil.which("unshare") and shutil.which("mount")):
        pytest.skip("no unshare/mount")
    mount = f"mount -t tmpfs -o size=256k tmpfs '{data}'"
    if subprocess.run(["unshare", "-m", "sh", "-c", mount], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here")
    res = _run(WRITE_SNAPSHOT, _env(tmp_path),
               prefix=["unshare", "-m", "sh", "-c", mount + ' && exec "$0" "$@"'])
    assert res.returncode == 2, res.stdout + res.stderr
    assert "磁盘空间不足" in res.stdout and "disk is full" in res.stdout
    assert "Traceback" not in res.stderr


def test_an_import_killed_midway_leaves_no_snapshot_and_is_cleaned_up(one_snapshot, casework_home):
    import signal
    import time

    proc = subprocess.Popen([PY, "-c", textwrap.dedent(WRITE_SNAPSHOT).replace("20000", "300000")],
                            env=_env(casework_home), stdout=subprocess.DEVNULL)
    root = casework_home / "data" / "snapshots"
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not list(root.glob(".tmp-*/records")):
            if proc.poll() is not None:
                pytest.skip("the import finished before it could be killed")
            time.sleep(0.005)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert store.manifest()["id"] == one_snapshot["id"]  # latest did not move
    assert sorted(p.name for p in root.iterdir() if not p.name.startswith(".")) == [
        one_snapshot["id"], "latest"]
    assert list(root.glob(".tmp-*"))  # the killed import's temporary folder …
    store.write_snapshot({"records": tiny_records()})
    assert not list(root.glob(".tmp-*"))  # … is removed by the next import
