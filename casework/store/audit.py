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
``outcome``
    ``returned``, ``refused`` (a statement or file access the door does not allow) or
    ``failed`` (bad column, bad SQL): a refused read never looks like one that returned rows
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
cut-off or malformed line (not JSON, ``seq`` not an integer), rows removed from the end (the
head file records more rows than the log holds), rows appended without the head file being
updated (the log is longer than its head), a damaged head file, and a log (or the whole audit
folder) deleted while snapshots exist: :func:`casework.store.write_snapshot` creates the head
file (``seq`` 0) with the first snapshot, so a home with snapshots always has one.

What each mode protects against
-------------------------------
* **Chain only** (default): any edit, removal, insertion or reordering by someone who does not
  also recompute every later hash *and* rewrite the head file. Someone who can write the
  folder and knows the format can rebuild a consistent chain: the chain alone cannot notice.
* **Anchors** (``verify(against="reports/")``, ``casework audit --verify --against reports/``):
  every report's ``provenance.json`` records the audit ``seq`` and head hash at run time
  (:func:`anchor`). A rebuilt or shortened log no longer matches the anchors of reports
  already circulated — copies outside the data folder (printed reports, mail) are the
  evidence. Rows written after the newest anchor are protected by the chain only.
* **Secret key** (``CASEWORK_AUDIT_KEY``): each row (and the head file) also carries ``mac``,
  an HMAC-SHA256 of its hash under the key; verifying with the key set requires a valid
  ``mac`` on every row. Without the key a re-chained log cannot carry valid MACs. Set the key
  before the first row is written; keep it outside the data folder.
* None of the modes prevents deleting or rewriting the log — they make it *evident*. Nor do
  they cover reads that bypass casework (opening the Parquet files directly): file permissions
  (snapshots readable by their owner and ``CASEWORK_GROUP`` only) are the guard there.

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
import hmac
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
    """Canonical JSON bytes of ``row`` without its ``hash`` and ``mac`` fields (what the hash
    covers)."""
    body = {k: v for k, v in row.items() if k not in ("hash", "mac")}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":"),
                      default=str).encode("utf-8")


def row_hash(row: dict) -> str:
    """sha256 (hex) of :func:`canonical` ``(row)``."""
    return hashlib.sha256(canonical(row)).hexdigest()


def _key() -> bytes | None:
    key = os.environ.get("CASEWORK_AUDIT_KEY")
    return key.encode("utf-8") if key else None


def mac(digest: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of a row hash (or a head record) under the secret key."""
    return hmac.new(key, digest.encode("ascii", "replace"), hashlib.sha256).hexdigest()


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
                _check_head_matches(seq - 1, prev)
            row = {"seq": seq, "time": _now(), **base, "prev_hash": prev}
            row["hash"] = row_hash(row)
            key = _key()
            if key is not None:
                row["mac"] = mac(row["hash"], key)
            # intent first: a process killed between the row and the head leaves a head that
            # names this row as its pending next one (verify accepts exactly that row)
            _write_head(seq - 1, prev, pending=(seq, row["hash"]))
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


def _head_accepts(head: dict | None, seq: int, digest: str) -> bool:
    """Whether the log ending at (``seq``, ``digest``) agrees with the head record (or with
    the row it announced as pending: a writer killed between the row and the head)."""
    if head is None or head.get("damaged"):
        return False
    if head["seq"] == seq and head["hash"] == digest:
        return True
    nxt = head.get("next")
    return isinstance(nxt, list) and nxt == [seq, digest] and head["seq"] == seq - 1


def _check_head_matches(seq: int, digest: str) -> None:
    """Refuse to append to a log whose end disagrees with its head (fail closed: appending
    would overwrite the evidence)."""
    head = _read_head()
    if head and head.get("damaged"):
        raise _head_error(head)
    if not _head_accepts(head, seq, digest):
        raise AuditError(
            f"查询审计日志与头文件不一致（日志末条 seq={seq}，头文件 "
            f"seq={head['seq'] if head else '缺失'}）：日志可能被改写，暂停记录与查询",
            f"the query audit log disagrees with its head file (last row seq={seq}, head "
            f"seq={head['seq'] if head else 'missing'}): the log may have been tampered with; "
            "queries are refused",
            hint="运行 casework audit --verify 查看，并报告管理员 / "
                 "run `casework audit --verify` and tell the administrator")


def _check_head_for_empty_log(path: Path) -> None:
    head = _read_head()
    if head and head.get("damaged"):
        raise _head_error(head)
    if head and head["seq"] > 0:
        raise AuditError(
            f"查询审计日志为空，但头文件记录了 {head['seq']} 条：日志可能被删除或清空",
            f"the query audit log is empty but its head file records {head['seq']} rows: "
            "the log may have been deleted or truncated",
            hint="找回原日志文件；运行 casework audit --verify / "
                 "restore the log; run `casework audit --verify`",
        )


def _read_head() -> dict | None:
    """The head record ``{"seq": int, "hash": str}``; ``None`` when there is no head file and
    ``{"damaged": True, "why": ...}`` when it is not a valid head record."""
    try:
        head = json.loads(_head_path().read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (ValueError, OSError) as err:
        return {"damaged": True, "why": f"not valid JSON ({str(err)[:80]})"}
    if not isinstance(head, dict):
        return {"damaged": True, "why": "not a JSON object"}
    seq, digest = head.get("seq"), head.get("hash")
    if isinstance(seq, bool) or not isinstance(seq, int) or seq < 0:
        return {"damaged": True, "why": f"seq {seq!r} is not a count"}
    if not isinstance(digest, str) or len(digest) != 64:
        return {"damaged": True, "why": "hash is not a sha256 hex digest"}
    nxt = head.get("next")
    if nxt is not None and not (isinstance(nxt, list) and len(nxt) == 2
                                and isinstance(nxt[0], int) and isinstance(nxt[1], str)):
        return {"damaged": True, "why": "next is not [seq, hash]"}
    return head


def _head_error(head: dict) -> AuditError:
    return AuditError(
        f"查询审计日志头文件已损坏（{head.get('why', '')}）：{_head_path()}",
        f"the query audit log head file is damaged ({head.get('why', '')}): {_head_path()}",
        hint="头文件被改写或损坏；保留现场并报告管理员 / "
             "the head file was overwritten or damaged; keep it and tell the administrator")


def ensure_head() -> None:
    """Create the head file (``seq`` 0) when there is none and the log is empty.

    Called by :func:`casework.store.write_snapshot`: from the first snapshot on, a missing
    head file (or audit folder) is evidence of deletion, never a fresh start.
    """
    with _locked():
        path = log_path()
        if _head_path().exists() or (path.exists() and path.stat().st_size > 0):
            return
        _write_head(0, GENESIS)


def anchor() -> dict:
    """The audit position now, for a report's provenance: ``{"seq", "hash"}`` of the head.

    Examples
    --------
    >>> import os, tempfile
    >>> saved = os.environ.get("CASEWORK_HOME")
    >>> os.environ["CASEWORK_HOME"] = tempfile.mkdtemp()
    >>> anchor()["seq"]
    0
    >>> _ = (os.environ.pop("CASEWORK_HOME") if saved is None
    ...      else os.environ.update(CASEWORK_HOME=saved))
    """
    head = _read_head()
    if not head or head.get("damaged"):
        return {"seq": 0, "hash": GENESIS} if not head else {"seq": None, "hash": None}
    return {"seq": head["seq"], "hash": head["hash"]}


def _head_text(record: dict) -> str:
    nxt = record.get("next")
    return f"{record['seq']}:{record['hash']}" + (f":{nxt[0]}:{nxt[1]}" if nxt else "")


def _write_head(seq: int, digest: str, pending: tuple[int, str] | None = None) -> None:
    head = _head_path()
    tmp = head.with_name(f".{head.name}.{os.getpid()}.tmp")
    record = {"seq": seq, "hash": digest}
    if pending is not None:
        record["next"] = list(pending)
    key = _key()
    if key is not None:
        record["mac"] = mac(_head_text(record), key)
    data = json.dumps(record).encode()
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
    df["seq"] = _ints(df["seq"])
    df["rows"] = _ints(df["rows"])
    return df


def _ints(s: pd.Series) -> pd.Series:
    """Integers as Int64; anything else (text, fractions, booleans) as missing, never a crash."""
    s = s.map(lambda v: None if isinstance(v, bool) else v)
    v = pd.to_numeric(s, errors="coerce")
    v = v.where(v.notna() & (v == v.round()) & (v.abs() < 2 ** 53))
    return v.astype("Int64")


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


def _snapshots_exist() -> bool:
    root = config.snapshots_dir()
    try:
        return any(p.is_dir() and not p.name.startswith(".") for p in root.iterdir())
    except OSError:
        return False


def _anchors(folder) -> list[tuple[Path, int, str]]:
    """``(provenance file, seq, hash)`` of every report provenance under ``folder``."""
    out = []
    for p in sorted(Path(folder).rglob("provenance.json")):
        try:
            prov = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        a = prov.get("audit") if isinstance(prov, dict) else None
        if isinstance(a, dict) and isinstance(a.get("seq"), int) and a["seq"] > 0:
            out.append((p, a["seq"], str(a.get("hash"))))
    return out


def verify(against=None) -> str:
    """Recompute the hash chain; return a bilingual OK summary or raise :class:`AuditError`.

    The error names the first bad row (line number in the file and its ``seq``) and what is
    wrong with it; its ``line`` and ``seq`` attributes carry the same. Exit code 1.

    Parameters
    ----------
    against : path, optional
        A reports folder: every ``provenance.json`` under it carries the audit ``seq`` and
        hash at the report's run time (:func:`anchor`); each must match the log.

    With ``CASEWORK_AUDIT_KEY`` set, every row and the head file must carry a valid ``mac``.
    """
    path = log_path()
    head = _read_head()
    if head and head.get("damaged"):
        raise _head_error(head)
    key = _key()
    n = 0
    prev = GENESIS
    last_seq = 0
    hashes: dict[int, str] = {}
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
                if isinstance(seq, bool) or not isinstance(seq, int):
                    raise _bad(n, None, f"的序号 seq={seq!r} 不是整数（记录被改写）",
                               f"seq {seq!r} is not an integer (the row was overwritten)")
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
                if key is not None and not hmac.compare_digest(str(row.get("mac", "")),
                                                               mac(row["hash"], key)):
                    raise _bad(n, seq, "的 MAC 与密钥不符"
                                       "（哈希链被重新计算，或写入时未设密钥）",
                               "its MAC does not match the key (the chain was recomputed "
                               "without the key, or the row was written without a key)")
                prev, last_seq = row["hash"], seq
                hashes[seq] = prev
    if head is None and (last_seq > 0 or _snapshots_exist()):
        what = "日志存在" if last_seq else "已有快照"
        what_en = "the log has rows" if last_seq else "snapshots exist"
        raise _bad(n + 1 if last_seq else 1, None,
                   f"：头文件 {_head_path().name} 缺失，但{what}（日志或审计文件夹被删除或替换）",
                   f"the head file {_head_path().name} is missing but {what_en} (the log or "
                   "the audit folder was deleted or replaced)")
    head_seq = head["seq"] if head else 0
    if head and last_seq == head_seq + 1 and _head_accepts(head, last_seq, prev):
        head_seq = last_seq  # the writer was killed after the row, before the head: complete
        head = {**head, "seq": last_seq, "hash": prev, "_pending": True}
    if head_seq > last_seq:
        raise _bad(n + 1, last_seq + 1,
                   f"缺失：头文件记录共 {head_seq} 条，日志只有 {last_seq} "
                   "条（末尾记录被删除、日志被删除或文件被截断）",
                   f"missing: the head file records {head_seq} rows but the log holds "
                   f"{last_seq} (rows were removed from the end, the log was deleted or the "
                   "file was truncated)")
    if head_seq < last_seq:
        raise _bad(head_seq + 1, head_seq + 1,
                   f"起多出 {last_seq - head_seq} 条：头文件只记录了 {head_seq} "
                   "条（记录被追加到日志而未经 casework 写入）",
                   f"and after: {last_seq - head_seq} row(s) beyond the head file's "
                   f"{head_seq} (rows were appended outside casework)")
    if last_seq and head.get("hash") != prev:
        raise _bad(n, last_seq, "的哈希与头文件记录不符（最后一条被改写）",
                   "its hash does not match the head file (the last row was rewritten)")
    raw_head = _read_head()
    if key is not None and raw_head is not None and not hmac.compare_digest(
            str(raw_head.get("mac", "")), mac(_head_text(raw_head), key)):
        raise AuditError(f"查询审计日志头文件的 MAC 与密钥不符：{_head_path()}",
                         f"the head file's MAC does not match the key: {_head_path()}")
    checked = 0
    if against is not None:
        for p, seq, digest in _anchors(against):
            if seq > last_seq:
                raise _bad(n + 1, seq,
                           f"缺失：报告 {p} 记录的审计位置为第 {seq} 条，日志只有 {last_seq} "
                           "条（日志被截断或重建）",
                           f"missing: report {p} anchors seq {seq} but the log holds "
                           f"{last_seq} rows (the log was truncated or rebuilt)")
            if hashes[seq] != digest:
                raise _bad(seq, seq, f"的哈希与报告 {p} 记录的不符（日志被重建或改写）",
                           f"its hash differs from the anchor in report {p} (the log was "
                           "rebuilt or rewritten)")
            checked += 1
    anchors_zh = f"；{checked} 个报告锚点一致" if against is not None else ""
    anchors_en = f"; {checked} report anchor(s) match" if against is not None else ""
    keyed_zh, keyed_en = ("；MAC 校验通过", "; MACs verified") if key else ("", "")
    if last_seq == 0:
        return ("查询审计日志为空：尚无查询记录" + anchors_zh
                + "\nAudit log OK: empty, no queries recorded yet" + anchors_en)
    return (f"查询审计日志完整：共 {last_seq} 条记录，"
            f"哈希链校验通过（最后一条哈希 {prev[:16]}…）{keyed_zh}{anchors_zh}\n"
            f"Audit log OK: {last_seq} rows, hash chain verified (last hash {prev[:16]}…)"
            f"{keyed_en}{anchors_en}")


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
        outcome = r.get("outcome")
        if isinstance(outcome, str) and outcome == "refused":
            rows = "拒绝/refused"
        else:
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
