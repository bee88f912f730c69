"""The query audit log: append-only, hash-chained, safe under parallel writers.

一查询一记录、谁查询谁负责 — every read through :mod:`casework.store` appends one row to
``config.audit_log_path()`` (JSON Lines) *before* the data are handed back. Each row records

``seq``
    1, 2, 3 … (position in the chain)
``time``
    ISO 8601 with the local timezone offset
``account``, ``host``, ``pid``
    who queried (``account`` parameter, else ``CASEWORK_USER``, else the OS login) and from where
``snapshot``
    the snapshot id actually read (``latest`` resolved)
``kind``, ``table``, ``columns``, ``filter``, ``query``
    ``read`` (one table, optional column list and ``where`` filter) or ``sql``; ``query`` is
    the SQL text that ran
``purpose``
    why (required by the store)
``rows``
    rows returned (null when the query failed; ``error`` then says why)
``prev_hash``, ``hash``
    ``hash`` is the sha256 of the row's canonical JSON (sorted keys, no spaces, UTF-8) with
    every field except ``hash`` itself, ``prev_hash`` included; the first row's ``prev_hash``
    is 64 zeros.

Appending takes an exclusive ``fcntl.flock`` on ``query_log.lock``, reads the last row's hash,
writes the new line with one ``write`` call on an ``O_APPEND`` descriptor, syncs it to disk,
updates the small head file ``query_log.head.json`` (last ``seq`` and ``hash``, replaced
atomically) and releases the lock. A process killed at any point leaves either no row or a
whole row; the lock dies with the process.

:func:`verify` recomputes the chain. It detects an edited row (its hash no longer matches), a
removed or reordered row (``seq`` out of order, ``prev_hash`` not the previous row's hash), a
cut-off line (not JSON) and rows removed from the end (the head file records more rows than
the log holds). A hash chain without a secret key is tamper-*evident* against edits that do
not rewrite every later row and the head file; copy the summary line of ``casework audit
--verify`` (it names the last hash) into the monthly report's provenance to anchor it.

Examples
--------
>>> import os, tempfile
>>> from casework.store import audit
>>> saved = os.environ.get("CASEWORK_HOME")
>>> os.environ["CASEWORK_HOME"] = tempfile.mkdtemp()
>>> row = audit.append({"kind": "read", "table": "records", "snapshot": "s1",
...                     "purpose": "示例 / example", "rows": 3}, account="doc")
>>> row["seq"], row["prev_hash"] == "0" * 64
(1, True)
>>> print(audit.verify().splitlines()[1].split(":")[0])
Audit log OK
>>> _ = (os.environ.pop("CASEWORK_HOME") if saved is None
...      else os.environ.update(CASEWORK_HOME=saved))
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import socket
import unicodedata
from pathlib import Path

import pandas as pd

from casework.base import config
from casework.base.errors import AuditError

GENESIS = "0" * 64

#: Column order of :func:`entries` (extra fields found in the log follow these).
COLUMNS = ("seq", "time", "account", "host", "pid", "snapshot", "kind", "table", "columns",
           "filter", "query", "purpose", "rows", "error", "prev_hash", "hash")


# ---------------------------------------------------------------------------------------------
# Paths and hashing
# ---------------------------------------------------------------------------------------------


def log_path() -> Path:
    """The JSON Lines log (``config.audit_log_path()``)."""
    return config.audit_log_path()


def _lock_path() -> Path:
    return log_path().with_suffix(".lock")


def _head_path() -> Path:
    return log_path().with_suffix(".head.json")


def canonical(row: dict) -> bytes:
    """Canonical JSON bytes of ``row`` without its ``hash`` field (what the hash covers)."""
    body = {k: v for k, v in row.items() if k != "hash"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def row_hash(row: dict) -> str:
    """sha256 (hex) of :func:`canonical` ``(row)``."""
    return hashlib.sha256(canonical(row)).hexdigest()


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="microseconds")


def _write_error(err: OSError, where: Path) -> AuditError:
    reason_zh = {errno.ENOSPC: "磁盘已满", errno.EROFS: "文件夹只读", errno.EACCES: "没有写权限",
                 errno.EPERM: "没有写权限", errno.EDQUOT: "磁盘配额已满",
                 errno.EFBIG: "磁盘已满或文件超出大小限制"}.get(err.errno, "写入失败")
    return AuditError(
        f"无法写入查询审计日志（{reason_zh}）：{where}。未记录审计的查询不返回数据。",
        f"cannot write the query audit log ({err.strerror or err}): {where}. "
        "A query that cannot be logged returns no data.",
        hint="检查磁盘空间和 data/audit 文件夹的写权限 / "
             "free disk space and make data/audit writable",
    )


# ---------------------------------------------------------------------------------------------
# Appending
# ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _locked():
    """Hold the exclusive audit lock (blocking) for the duration of the block."""
    lock = _lock_path()
    try:
        lock.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        raise _write_error(err, lock.parent) from err
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def _last_line(fd: int) -> bytes | None:
    """The last line of the open file without its newline; ``None`` for an empty file and
    ``b""`` when the file does not end with a newline (a cut-off row)."""
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    if os.pread(fd, 1, size - 1) != b"\n":
        return b""
    pos, buf = size - 1, b""
    while pos > 0:
        start = max(0, pos - 8192)
        buf = os.pread(fd, pos - start, start) + buf
        pos = start
        nl = buf.rfind(b"\n")
        if nl >= 0:
            return buf[nl + 1:]
    return buf


def append(entry: dict, *, account: str | None = None) -> dict:
    """Append one row to the audit log and return it (with ``seq``, ``time``, hashes).

    Parameters
    ----------
    entry : dict
        The query description: ``snapshot``, ``kind``, ``table``, ``columns``, ``filter``,
        ``query``, ``purpose``, ``rows``, ``error`` (missing keys are stored as null). Values
        must be JSON-serialisable (others are stored as ``str``).
    account : str, optional
        Who queried; default ``config.current_account()`` (``CASEWORK_USER`` or the OS login).

    Raises
    ------
    AuditError
        The log cannot be written (full disk, read-only folder) or its last row is damaged;
        the caller must then not return any data.
    """
    path = log_path()
    base = {"account": config.current_account(account), "host": socket.gethostname(),
            "pid": os.getpid()}
    for key in ("snapshot", "kind", "table", "columns", "filter", "query", "purpose", "rows",
                "error"):
        base[key] = entry.get(key)
    for key, value in entry.items():
        base.setdefault(key, value)
    with _locked():
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise _write_error(err, path.parent) from err
        try:
            last = _last_line(fd)
            if last == b"":
                raise AuditError(
                    f"查询审计日志最后一行不完整：{path}",
                    f"the last row of the query audit log is incomplete: {path}",
                    hint="运行 casework audit --verify 查看；将损坏的日志移走保存后重新开始 / "
                         "run `casework audit --verify`; move the damaged log aside to "
                         "start a new one",
                )
            if last is None:
                seq, prev = 1, GENESIS
                _check_head_for_empty_log(path)
            else:
                try:
                    prev_row = json.loads(last)
                    seq, prev = int(prev_row["seq"]) + 1, str(prev_row["hash"])
                except (ValueError, KeyError, TypeError) as err:
                    raise AuditError(
                        f"查询审计日志最后一行已损坏：{path}",
                        f"the last row of the query audit log is damaged: {path}",
                        hint="运行 casework audit --verify 查看 / run `casework audit --verify`",
                    ) from err
            row = {"seq": seq, "time": _now(), **base, "prev_hash": prev}
            row["hash"] = row_hash(row)
            line = (json.dumps(row, ensure_ascii=False, sort_keys=False, separators=(",", ":"),
                               default=str) + "\n").encode("utf-8")
            size_before = os.fstat(fd).st_size
            try:
                written = os.write(fd, line)
                if written != len(line):  # a short write: the disk filled up mid-row
                    raise OSError(errno.ENOSPC, "short write to the audit log")
                os.fdatasync(fd)
            except OSError as err:
                with contextlib.suppress(OSError):  # never leave half a row behind
                    os.ftruncate(fd, size_before)
                raise _write_error(err, path) from err
        finally:
            os.close(fd)
        _write_head(seq, row["hash"])
    return row


def _check_head_for_empty_log(path: Path) -> None:
    head = _read_head()
    if head and int(head.get("seq", 0)) > 0:
        raise AuditError(
            f"查询审计日志为空，但头文件记录了 {head['seq']} 条：日志可能被删除或清空",
            f"the query audit log is empty but its head file records {head['seq']} rows: "
            "the log may have been deleted or truncated",
            hint="找回原日志文件；运行 casework audit --verify / "
                 "restore the log; run `casework audit --verify`",
        )


def _read_head() -> dict | None:
    try:
        return json.loads(_head_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError):
        return {"damaged": True}


def _write_head(seq: int, digest: str) -> None:
    head = _head_path()
    tmp = head.with_name(f".{head.name}.{os.getpid()}.tmp")
    data = json.dumps({"seq": seq, "hash": digest}).encode()
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, data)
            os.fdatasync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, head)
    except OSError as err:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise _write_error(err, head) from err


# ---------------------------------------------------------------------------------------------
# Reading and verifying
# ---------------------------------------------------------------------------------------------


def entries() -> pd.DataFrame:
    """All rows of the log as a frame (columns :data:`COLUMNS`; empty frame when no log).

    Lines that are not valid JSON are skipped here; :func:`verify` reports them.
    """
    rows = []
    path = log_path()
    if path.exists():
        with open(path, "rb") as fh:
            for line in fh:
                with contextlib.suppress(ValueError):
                    row = json.loads(line)
                    if isinstance(row, dict):
                        rows.append(row)
    df = pd.DataFrame(rows)
    for col in COLUMNS:
        if col not in df.columns:
            df[col] = pd.Series(dtype="object")
    extra = [c for c in df.columns if c not in COLUMNS]
    df = df[list(COLUMNS) + extra]
    df["seq"] = df["seq"].astype("Int64")
    df["rows"] = pd.to_numeric(df["rows"], errors="coerce").astype("Int64")
    return df


def _bad(line_no: int, seq, zh: str, en: str) -> AuditError:
    where_zh = f"第 {line_no} 行" + (f"（seq={seq}）" if seq is not None else "")
    where_en = f"line {line_no}" + (f" (seq={seq})" if seq is not None else "")
    err = AuditError(
        f"查询审计日志校验失败：{where_zh}{zh}",
        f"query audit log verification failed at {where_en}: {en}",
        hint=f"日志文件 / log file: {log_path()}",
    )
    err.line = line_no
    err.seq = seq
    return err


def verify() -> str:
    """Recompute the hash chain; return a bilingual OK summary or raise :class:`AuditError`.

    The error names the first bad row (line number in the file and its ``seq``) and what is
    wrong with it; its ``line`` and ``seq`` attributes carry the same. Exit code 1.
    """
    path = log_path()
    head = _read_head()
    if head and head.get("damaged"):
        raise AuditError(
            f"查询审计日志头文件已损坏：{_head_path()}",
            f"the query audit log head file is damaged: {_head_path()}",
        )
    n = 0
    prev = GENESIS
    last_seq = 0
    if path.exists():
        with open(path, "rb") as fh:
            for n, raw in enumerate(fh, start=1):
                if not raw.endswith(b"\n"):
                    raise _bad(n, None, "不完整（被截断）", "the row is incomplete (cut off)")
                try:
                    row = json.loads(raw)
                    if not isinstance(row, dict):
                        raise ValueError("not an object")
                except ValueError:
                    raise _bad(n, None, "不是有效的 JSON（被截断或改写）",
                               "not valid JSON (cut off or overwritten)") from None
                seq = row.get("seq")
                if row.get("hash") != row_hash(row):
                    raise _bad(n, seq, "的内容与其哈希不符（记录被修改）",
                               "its content does not match its hash (the row was edited)")
                if seq != last_seq + 1:
                    raise _bad(n, seq,
                               f"的序号应为 {last_seq + 1}（前面的记录被删除或顺序被调换）",
                               f"expected seq {last_seq + 1} (a row before it was removed or "
                               "rows were reordered)")
                if row.get("prev_hash") != prev:
                    raise _bad(n, seq, "的 prev_hash 与上一条记录的哈希不符（记录被删除或调换）",
                               "prev_hash does not match the previous row's hash (a row was "
                               "removed or reordered)")
                prev, last_seq = row["hash"], seq
    if head and int(head.get("seq", 0)) > last_seq:
        raise _bad(n + 1, last_seq + 1,
                   f"缺失：头文件记录共 {head['seq']} 条，日志只有 {last_seq} "
                   "条（末尾记录被删除或文件被截断）",
                   f"missing: the head file records {head['seq']} rows but the log holds "
                   f"{last_seq} (rows were removed from the end or the file was truncated)")
    if head and int(head.get("seq", 0)) == last_seq and last_seq and head.get("hash") != prev:
        raise _bad(n, last_seq, "的哈希与头文件记录不符（最后一条被改写）",
                   "its hash does not match the head file (the last row was rewritten)")
    if last_seq == 0:
        return "查询审计日志为空：尚无查询记录\nAudit log OK: empty, no queries recorded yet"
    return (f"查询审计日志完整：共 {last_seq} 条记录，"
            f"哈希链校验通过（最后一条哈希 {prev[:16]}…）\n"
            f"Audit log OK: {last_seq} rows, hash chain verified (last hash {prev[:16]}…)")


def format_entries(df: pd.DataFrame) -> str:
    """A readable text table of audit rows (as returned by :func:`entries`).

    Examples
    --------
    >>> import pandas as pd
    >>> df = pd.DataFrame([{"seq": 1, "time": "2024-05-03T10:00:00.000000+08:00",
    ...                     "account": "analyst", "snapshot": "20240503T020000-ab12cd34",
    ...                     "kind": "read", "table": "records", "filter": "unit_code = '1'",
    ...                     "purpose": "月报", "rows": 10, "hash": "f" * 64}])
    >>> print(format_entries(df))  # doctest: +NORMALIZE_WHITESPACE
    序号 时间                账号     快照                     查询
    用途 行数 哈希
       1 2024-05-03 10:00:00 analyst  20240503T020000-ab12cd34 records WHERE unit_code = '1'
    月报   10 ffffffff
    """
    if df is None or len(df) == 0:
        return "（无查询记录 / no queries recorded）"
    lines = []
    for _, r in df.iterrows():
        if r.get("kind") == "sql":
            what = _short(r.get("query"), 60)
        else:
            what = str(r.get("table") or "")
            cols = r.get("columns")
            if isinstance(cols, list) and cols:
                what += "[" + ",".join(map(str, cols)) + "]"
            if isinstance(r.get("filter"), str) and r.get("filter"):
                what += " WHERE " + r.get("filter")
            what = _short(what, 60)
        rows = r.get("rows")
        rows = "失败/failed" if rows is None or pd.isna(rows) else str(int(rows))
        time = str(r.get("time") or "")[:19].replace("T", " ")
        lines.append([str(r.get("seq")), time, str(r.get("account") or ""),
                      str(r.get("snapshot") or ""), what, _short(r.get("purpose"), 30), rows,
                      str(r.get("hash") or "")[:8]])
    header = ["序号", "时间", "账号", "快照", "查询", "用途", "行数", "哈希"]
    table = [header] + lines
    widths = [max(_width(row[i]) for row in table) for i in range(len(header))]
    right = {0, 6}
    out = []
    for row in table:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - _width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        out.append(" ".join(cells).rstrip())
    return "\n".join(out)


def _short(text, n: int) -> str:
    if text is None or (not isinstance(text, str) and pd.isna(text)):
        return ""
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _width(text: str) -> int:
    """Display width: CJK characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)
