"""The query audit log: hash chain, tamper detection, parallel writers, the CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from casework.base import config
from casework.base.errors import AuditError
from casework.store import audit


def fill(n: int) -> list[dict]:
    return [audit.append({"kind": "read", "table": "records", "snapshot": "s1",
                          "filter": f"unit_code = 'U{i}'", "purpose": f"测试 {i}", "rows": i})
            for i in range(1, n + 1)]


def lines() -> list[bytes]:
    return config.audit_log_path().read_bytes().splitlines(keepends=True)


def write_lines(rows: list[bytes]) -> None:
    config.audit_log_path().write_bytes(b"".join(rows))


def bad_row(capture) -> tuple[int, int | None]:
    err = capture.value
    return err.line, err.seq


# ---------------------------------------------------------------------------------------------
# The chain
# ---------------------------------------------------------------------------------------------


def test_rows_are_chained_by_hash(casework_home):
    rows = fill(3)
    assert [r["seq"] for r in rows] == [1, 2, 3]
    assert rows[0]["prev_hash"] == "0" * 64
    assert rows[1]["prev_hash"] == rows[0]["hash"] and rows[2]["prev_hash"] == rows[1]["hash"]
    on_disk = [json.loads(x) for x in lines()]
    assert on_disk == rows
    # the hash is the sha256 of the canonical JSON of every other field, recomputed here
    import hashlib

    body = {k: v for k, v in on_disk[1].items() if k != "hash"}
    canon = json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(canon.encode()).hexdigest() == on_disk[1]["hash"]
    assert on_disk[0]["account"] == "test-analyst"
    assert "共 3 条记录" in audit.verify() and "Audit log OK: 3 rows" in audit.verify()


def test_account_parameter_overrides_the_environment(casework_home, monkeypatch):
    assert audit.append({"purpose": "x"}, account="chief")["account"] == "chief"
    monkeypatch.delenv("CASEWORK_USER")
    assert audit.append({"purpose": "x"})["account"] == config.current_account()


def test_empty_log_verifies(casework_home):
    assert "empty" in audit.verify()
    assert audit.entries().empty


# ---------------------------------------------------------------------------------------------
# Tampering
# ---------------------------------------------------------------------------------------------


def test_an_edited_field_is_detected_at_its_row(casework_home):
    fill(6)
    rows = lines()
    row = json.loads(rows[2])
    row["rows"] = 9999  # someone hides how much they read
    rows[2] = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    write_lines(rows)
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (3, 3)
    assert "第 3 行" in err.value.zh and "edited" in err.value.en


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link(casework_home):
    fill(6)
    rows = lines()
    row = json.loads(rows[2])
    row["purpose"] = "改过的用途"
    row["hash"] = audit.row_hash(row)
    rows[2] = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    write_lines(rows)
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (4, 4)


def test_a_deleted_row_is_detected(casework_home):
    fill(6)
    rows = lines()
    del rows[2]
    write_lines(rows)
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (3, 4)  # line 3 now holds seq 4, whose predecessor is gone
    assert "removed" in err.value.en


def test_swapped_rows_are_detected(casework_home):
    fill(6)
    rows = lines()
    rows[2], rows[3] = rows[3], rows[2]
    write_lines(rows)
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (3, 4)


def test_rows_cut_from_the_end_are_detected(casework_home):
    fill(6)
    write_lines(lines()[:4])
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (5, 5)  # the first missing row
    assert "6" in err.value.zh and "truncated" in err.value.en


def test_a_file_cut_mid_row_is_detected(casework_home):
    fill(6)
    path = config.audit_log_path()
    data = path.read_bytes()
    path.write_bytes(data[:-40])
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert err.value.line == 6


def test_an_emptied_log_is_detected(casework_home):
    fill(3)
    config.audit_log_path().write_bytes(b"")
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (1, 1)


def test_the_last_row_rewritten_with_its_hash_is_detected(casework_home):
    fill(4)
    rows = lines()
    row = json.loads(rows[-1])
    row["account"] = "someone-else"
    row["hash"] = audit.row_hash(row)
    rows[-1] = (json.dumps(row, ensure_ascii=False) + "\n").encode()
    write_lines(rows)
    with pytest.raises(AuditError) as err:
        audit.verify()
    assert bad_row(err) == (4, 4)


def test_appending_after_a_cut_off_row_fails_closed(casework_home):
    fill(2)
    path = config.audit_log_path()
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(AuditError, match="incomplete"):
        audit.append({"purpose": "x"})


def test_cli_verify_exits_nonzero_after_an_edit(casework_home):
    fill(3)
    env = dict(os.environ, PYTHONPATH=str(config.PROJ_ROOT))
    cmd = [sys.executable, "-m", "casework.run.cli", "audit", "--verify"]
    ok = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "Audit log OK: 3 rows" in ok.stdout
    listing = subprocess.run([sys.executable, "-m", "casework.run.cli", "audit", "--tail", "2"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert listing.returncode == 0
    assert "测试 3" in listing.stdout and "测试 1" not in listing.stdout
    rows = lines()
    rows[1] = rows[1].replace("测试 2".encode(), "测试 X".encode())
    write_lines(rows)
    bad = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1
    assert "第 2 行" in bad.stderr and "line 2" in bad.stderr and "Traceback" not in bad.stderr


# ---------------------------------------------------------------------------------------------
# Parallel writers
# ---------------------------------------------------------------------------------------------


def _appender(home: str, worker: int, n: int, start) -> int:
    os.environ["CASEWORK_HOME"] = home
    from casework.store import audit as au

    start.wait(60)
    for i in range(n):
        au.append({"kind": "read", "purpose": f"worker {worker} row {i}", "rows": i},
                  account=f"w{worker}")
    return n


def test_four_processes_appending_at_once_lose_nothing(casework_home):
    import multiprocessing as mp

    ctx = mp.get_context("spawn")
    start = ctx.Manager().Event()
    n = 60
    with ctx.Pool(4) as pool:
        jobs = [pool.apply_async(_appender, (str(casework_home), w, n, start)) for w in range(4)]
        start.set()
        assert [j.get(timeout=300) for j in jobs] == [n] * 4
    log = audit.entries()
    assert len(log) == 4 * n
    assert log["seq"].tolist() == list(range(1, 4 * n + 1))
    for w in range(4):
        mine = log.loc[log["account"] == f"w{w}", "purpose"].tolist()
        assert mine == [f"worker {w} row {i}" for i in range(n)]  # each writer's order kept
    assert f"共 {4 * n} 条" in audit.verify()


def test_a_writer_killed_mid_run_leaves_a_whole_log(casework_home):
    code = ("import os\nfrom casework import audit\n"
            "while True:\n    audit.append({'purpose': 'loop', 'rows': 1})\n")
    env = dict(os.environ, PYTHONPATH=str(config.PROJ_ROOT))
    proc = subprocess.Popen([sys.executable, "-c", code], env=env)
    try:
        deadline = time.time() + 60
        while time.time() < deadline:
            path = config.audit_log_path()
            if path.exists() and path.stat().st_size > 20_000:
                break
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert "Audit log OK" in audit.verify()
    n = len(audit.entries())
    assert n > 0
    audit.append({"purpose": "after the kill"})  # the lock died with the process
    assert f"共 {n + 1} 条" in audit.verify()


def test_format_entries_is_readable(casework_home):
    fill(2)
    text = audit.format_entries(audit.entries())
    header, first, second = text.splitlines()
    assert header.split()[:3] == ["序号", "时间", "账号"]
    assert "records WHERE unit_code = 'U1'" in first and "测试 1" in first
    assert audit.format_entries(audit.entries().iloc[0:0]).startswith("（无查询记录")
