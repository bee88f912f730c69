"""The snapshot store: immutable Parquet snapshots, and the one door every read goes through.

Writing
-------
:func:`write_snapshot` conforms each table to :mod:`casework.model.schema`, derives ``journeys``
from ``records`` (:func:`casework.model.journeys.build`) unless given, and writes::

    data/snapshots/<id>/manifest.json
    data/snapshots/<id>/<table>/unit_code=<unit>/part-0.parquet
    data/snapshots/latest                      (a one-line file: the newest snapshot id)

Files are partitioned by unit (one folder per unit, Hive layout) and ordered by year within
each unit (of ``accepted_on`` for records, ``modified_at`` for modifications, the first
acceptance for journeys), in row groups of at most 131,072 rows whose min/max statistics let
DuckDB — or Spark SQL and Trino, should a province outgrow one machine — skip every file of
another unit and every row group of another period. Every file keeps all its columns. Rows are
stored, and read back, in *snapshot order*: by unit, then year, then their order in the import.
(One folder per unit *and* year was measured slower: many small files cost more to write than
the skipped row groups save.) The snapshot is written into a hidden temporary folder beside
the others, flushed to disk (``syncfs`` on Linux, else ``fsync`` of every file and folder),
then renamed into place in one step, and only then does the ``latest`` pointer move
(``os.replace`` of a small file): a failed or killed import leaves no snapshot, never half of
one. Parquet files are made read-only and never rewritten; source files are only read (to hash
them). Snapshot files are readable by their owner only (0400, folders 0700), or also by the
group named in ``CASEWORK_GROUP`` (0440, folders 0750): nobody else can open the Parquet
files around the audited door. The first snapshot also creates the audit head record
(:func:`casework.store.audit.ensure_head`), so a deleted audit log is evident.

The snapshot id is ``<UTC time>-<first 8 hex of the snapshot hash>``, e.g.
``20240503T020000-ab12cd34``. The manifest records the id, ``created_at``, the importing
``account``, the casework version, the sha256 and size of every source file, the mapping used,
the import warnings, and per table its row count, columns and files (path, rows, sha256);
``snapshot_sha256`` is the sha256 of the sorted ``"<path> <sha256>"`` lines of all its files.

Reading
-------
:func:`read` and :func:`sql` are the only ways to data. Both run DuckDB over the snapshot's
Parquet files (tables appear as views ``records``, ``modifications``, ``journeys``) in a
connection that may read those files and nothing else and that accepts one ``SELECT`` statement
only. Every call appends exactly one row to the query audit log (:mod:`casework.store.audit`) —
account, time, snapshot, table/columns/filter or SQL text, purpose, rows returned — *before*
the data are returned; a query that cannot be logged returns nothing. A query that fails in
DuckDB (bad column, bad SQL) is logged too, with ``rows`` null and the error.

Examples
--------
>>> import os, tempfile
>>> import pandas as pd
>>> from casework import store
>>> saved = os.environ.get("CASEWORK_HOME")
>>> os.environ["CASEWORK_HOME"] = tempfile.mkdtemp()
>>> recs = pd.DataFrame({"unit_code": ["U1", "U2"], "dept_case_no": ["A1", "A2"],
...     "unified_case_no": ["T1", "T2"], "stage": ["arrest_review"] * 2,
...     "person_id": ["P1", "P2"], "charge": ["盗窃", "诈骗"],
...     "accepted_on": ["2024-01-03", "2024-02-04"]})
>>> m = store.write_snapshot({"records": recs}, account="doc")
>>> m["row_counts"]["records"], m["row_counts"]["journeys"]
(2, 2)
>>> df = store.read("records", columns=["unit_code", "charge"], where="unit_code = 'U2'",
...                 purpose="文档示例 / doc example")
>>> df["charge"].tolist()
['诈骗']
>>> store.audit_entries()[["table", "filter", "rows"]].values.tolist()
[['records', "unit_code = 'U2'", 1]]
>>> _ = (os.environ.pop("CASEWORK_HOME") if saved is None
...      else os.environ.update(CASEWORK_HOME=saved))
"""

from __future__ import annotations

import contextlib
import ctypes
import datetime as _dt
import errno
import fcntl
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
from pathlib import Path
from urllib.parse import quote

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from casework import __version__
from casework.base import config
from casework.base.errors import CaseworkError, DataError, ParameterError, check_choice
from casework.model import journeys, schema
from casework.store import audit, permissions

TABLES = ("records", "modifications", "journeys", "supervision")

#: Date column that gives the partition year of each table.
_YEAR_OF = {"records": "accepted_on", "modifications": "modified_at", "supervision": "started_on"}

#: Rows per Parquet row group: small enough that a period filter skips whole groups (their
#: min/max date statistics), large enough to keep the per-group overhead low.
_ROW_GROUP = 131_072

_ID_RE = re.compile(r"^[0-9A-Za-z][0-9A-Za-z._-]{0,127}$")
_LATEST = "latest"
_NO_SNAPSHOT_HINT = ("先运行 casework import 导入导出文件，或运行 casework demo 生成演示数据 / "
                     "run `casework import FILE...` or `casework demo` first")


class StoreError(CaseworkError):
    """The snapshot store cannot be written or read (full disk, read-only folder, no snapshot)."""


# ---------------------------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------------------------


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _storage_error(err: BaseException, where: Path) -> StoreError:
    """Turn an OS/Arrow write failure into a bilingual error (full disk, read-only …)."""
    code = getattr(err, "errno", None)
    text = str(err)
    if code is None:
        lowered = text.lower()
        if "no space" in lowered:
            code = errno.ENOSPC
        elif "read-only" in lowered:
            code = errno.EROFS
        elif "permission denied" in lowered:
            code = errno.EACCES
        elif "file too large" in lowered:
            code = errno.EFBIG
    if code in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        zh, en = "磁盘空间不足", "the disk is full"
        hint = "清理磁盘空间后重新导入 / free some disk space and import again"
    elif code in (errno.EROFS, errno.EACCES, errno.EPERM):
        zh, en = "文件夹只读或没有写权限", "the folder is read-only or not writable"
        hint = ("检查 data/ 文件夹的写权限，或用 CASEWORK_HOME 指向可写的文件夹 / make data/ "
                "writable, or point CASEWORK_HOME to a writable folder")
    else:
        zh, en = "写入失败", "writing failed"
        hint = "检查磁盘和文件夹 / check the disk and the folder"
    return StoreError(
        f"无法写入数据快照（{zh}）：{where}。未生成任何快照，原有数据未改变。",
        f"cannot write the snapshot ({en}: {text}): {where}. No snapshot was written; "
        "existing data are unchanged.",
        hint=hint,
    )


def _partition_name(key: str, value) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        text = "__null__"
    else:
        text = quote(str(value), safe="")
    if len(text) > 80:
        text = text[:60] + "-" + hashlib.sha1(text.encode()).hexdigest()[:12]
    return f"{key}={text}"


def _now_iso() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _check_purpose(purpose) -> str:
    if not isinstance(purpose, str) or not purpose.strip():
        raise ParameterError(
            "读取数据必须说明查询目的（purpose），例如 purpose=\"2024年5月按期分析\"。"
            "一查询一记录、谁查询谁负责。",
            "reading data requires a purpose, e.g. purpose=\"periodic overview 2024-05\": "
            "every query is logged with who asked and why.",
        )
    return purpose.strip()


# ---------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------


def _arrow_table(df: pd.DataFrame, table: str):
    """The conformed frame as an Arrow table with canonical types."""
    types = {"string": pa.string(), "int": pa.int64(), "float": pa.float64(),
             "bool": pa.bool_(), "date": pa.timestamp("s"), "datetime": pa.timestamp("s"),
             "list": pa.list_(pa.string())}
    arrays, fields = [], []
    known = {c.name: c for c in schema.columns(table)}
    for name in df.columns:
        s = df[name]
        col = known.get(name)
        try:
            if col is not None:
                arr = pa.array(s, type=types[col.dtype], from_pandas=True)
            else:
                arr = pa.array(s, from_pandas=True)
        except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as err:
            if col is not None and col.dtype == "list":
                arr = pa.array(s.map(lambda v: v if v is None or isinstance(v, list) else
                                     ([v] if isinstance(v, str) else
                                      (None if pd.isna(v) else list(v)))),
                               type=types["list"], from_pandas=True)
            elif col is None:
                arr = pa.array(s.astype("string"), type=pa.string(), from_pandas=True)
            else:
                raise DataError(
                    f"列 {name} 无法按 {col.dtype} 类型保存：{err}",
                    f"column {name} cannot be stored as {col.dtype}: {err}",
                ) from err
        arrays.append(arr)
        fields.append(pa.field(str(name), arr.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _snapshot_order(df: pd.DataFrame, table: str):
    """Positions of ``df`` in snapshot order, and the unit partitions as (unit, start, stop).

    Snapshot order is by unit, then year (of the table's date), then import order; null units
    and years come last.
    """
    n = len(df)
    unit = df["unit_code"].astype("string") if "unit_code" in df.columns else pd.Series(
        pd.NA, index=df.index, dtype="string")
    if table == "journeys":
        year = df["arrest_accepted_on"].fillna(df["prosecution_accepted_on"]).dt.year
    elif _YEAR_OF.get(table) in df.columns:
        year = df[_YEAR_OF[table]].dt.year
    else:
        year = pd.Series(pd.NA, index=df.index)
    year = pd.array(year, dtype="Int64")
    ucode, uniques = pd.factorize(unit, sort=True)
    ucode = np.where(ucode < 0, len(uniques), ucode)  # nulls last
    ykey = np.where(year.isna(), np.iinfo(np.int64).max, year.fillna(0).to_numpy(dtype="int64"))
    order = np.lexsort((np.arange(n), ykey, ucode))
    sorted_codes = ucode[order]
    starts = np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]) if n else []
    parts = []
    for i, start in enumerate(starts):
        stop = starts[i + 1] if i + 1 < len(starts) else n
        code = sorted_codes[start]
        parts.append((None if code == len(uniques) else str(uniques[code]), int(start), int(stop)))
    return order, parts


def _write_parquet(tbl, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        pq.write_table(tbl, fh, compression="zstd", compression_level=1,
                       row_group_size=_ROW_GROUP)


def _write_table(df: pd.DataFrame, table: str, folder: Path) -> dict:
    """Write one conformed table into ``folder/<table>/…``; return its manifest entry."""
    tbl = _arrow_table(df, table)
    files = []
    order, parts = _snapshot_order(df, table)
    if not parts:  # an empty table still gets one (empty) file, so its columns are known
        _write_parquet(tbl, folder / table / "empty.parquet")
        files.append({"path": f"{table}/empty.parquet", "rows": 0})
    else:
        if not (np.diff(order) > 0).all():  # one gather into snapshot order
            tbl = tbl.take(order)
        for unit, start, stop in parts:
            rel = Path(table) / _partition_name("unit_code", unit) / "part-0.parquet"
            _write_parquet(tbl.slice(start, stop - start), folder / rel)
            files.append({"path": rel.as_posix(), "rows": stop - start})
    for f in files:
        p = folder / f["path"]
        f["bytes"] = p.stat().st_size
        f["sha256"] = _sha256_file(p)
    return {
        "rows": len(df),
        "columns": [str(c) for c in df.columns],
        "partitioned_by": ["unit_code"],
        "ordered_by": ["unit_code", f"year({_YEAR_OF.get(table) or 'arrest_accepted_on'})",
                       "import order"],
        "files": files,
    }


def _flush_to_disk(folder: Path) -> None:
    """Make every file and folder under ``folder`` durable before it is renamed into place."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        syncfs = libc.syncfs
    except (OSError, AttributeError):
        syncfs = None
    if syncfs is not None:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            if syncfs(fd) == 0:
                return
            code = ctypes.get_errno()
            if code in (errno.ENOSPC, errno.EIO, errno.EDQUOT):
                raise OSError(code, os.strerror(code))
        finally:
            os.close(fd)
    for dirpath, _dirs, files in os.walk(folder, topdown=False):
        for name in files:
            fd = os.open(os.path.join(dirpath, name), os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        _fsync_dir(Path(dirpath))


def _source_entry(path) -> dict:
    p = Path(path)
    if not p.is_file():
        raise DataError(f"源文件不存在：{p}", f"source file not found: {p}")
    st = p.stat()
    return {"path": str(p.resolve()), "name": p.name, "bytes": st.st_size,
            "sha256": _sha256_file(p)}


def _mapping_entry(mapping):
    if mapping is None:
        return None
    if isinstance(mapping, (str, os.PathLike)):
        p = Path(mapping)
        if p.is_file():
            return {"path": str(p.resolve()), "sha256": _sha256_file(p),
                    "text": p.read_text(encoding="utf-8", errors="replace")}
        return {"path": str(p)}
    return json.loads(json.dumps(mapping, ensure_ascii=False, default=str))


@contextlib.contextmanager
def _snapshots_lock(root: Path):
    fd = os.open(root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _write_latest(root: Path, snapshot_id: str) -> None:
    tmp = root / f".latest.{os.getpid()}.{secrets.token_hex(4)}.tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(snapshot_id + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, root / _LATEST)
    _fsync_dir(root)


def write_snapshot(tables: dict, *, sources=(), mapping=None, account=None, warnings=()) -> dict:
    """Write ``tables`` as a new immutable snapshot and move the ``latest`` pointer to it.

    Parameters
    ----------
    tables : dict of str to DataFrame
        Keys among ``records``, ``modifications``, ``journeys``. Each frame is conformed to
        the schema (:func:`casework.model.schema.conform`). When ``records`` is given and
        ``journeys`` is not, ``journeys`` is derived with :func:`casework.model.journeys.build`.
    sources : sequence of path
        The export files the tables were read from (hashed into the manifest, never changed).
    mapping : path, dict or None
        The user mapping used by the importer (its path, hash and text are recorded).
    account : str, optional
        The importing account; default ``config.current_account()``.
    warnings : sequence of str
        Import warnings to keep with the snapshot.

    Returns
    -------
    dict
        The manifest (as written to ``manifest.json``) plus ``path``, the snapshot folder.

    Raises
    ------
    StoreError
        The disk is full or the data folder is read-only (nothing is written).
    DataError, ParameterError
        A table name is unknown, a value is not a DataFrame, or a source file is missing.
    """
    if not isinstance(tables, dict) or not tables:
        raise ParameterError("没有要保存的数据表", "no tables to write",
                             hint="write_snapshot({'records': df, ...})")
    conformed = {}
    for name, df in tables.items():
        check_choice("table", name, TABLES)
        if not isinstance(df, pd.DataFrame):
            raise ParameterError(f"表 {name} 不是 DataFrame", f"table {name} is not a DataFrame")
        conformed[name] = schema.conform(df.reset_index(drop=True), name)
    if "records" in conformed and "journeys" not in conformed:
        conformed["journeys"] = journeys.build(conformed["records"])
    src = [_source_entry(p) for p in sources]
    root = config.snapshots_dir()
    try:
        root.mkdir(parents=True, exist_ok=True)
        _clean_stale(root)
    except OSError as err:
        raise _storage_error(err, root) from err
    audit.ensure_head()  # from the first snapshot on, a missing audit log is evident
    try:
        tmp = root / f".tmp-{os.getpid()}-{secrets.token_hex(4)}"
        tmp.mkdir()
    except OSError as err:
        raise _storage_error(err, root) from err
    try:
        table_entries = {name: _write_table(df, name, tmp) for name, df in conformed.items()}
        lines = sorted(f"{f['path']} {f['sha256']}"
                       for entry in table_entries.values() for f in entry["files"])
        digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
        now = _dt.datetime.now(_dt.UTC)
        snapshot_id = f"{now:%Y%m%dT%H%M%S}-{digest[:8]}"
        manifest_ = {
            "format": 1,
            "id": snapshot_id,
            "created_at": now.astimezone().isoformat(timespec="microseconds"),
            "account": config.current_account(account),
            "casework_version": __version__,
            "versions": _versions(),
            "snapshot_sha256": digest,
            "row_counts": {name: entry["rows"] for name, entry in table_entries.items()},
            "tables": table_entries,
            "sources": src,
            "mapping": _mapping_entry(mapping),
            "warnings": [str(w) for w in warnings],
        }
        permissions.restrict(tmp)
        with _snapshots_lock(root):
            final = root / snapshot_id
            n = 1
            while final.exists():
                n += 1
                manifest_["id"] = snapshot_id = f"{now:%Y%m%dT%H%M%S}-{digest[:8]}-{n}"
                final = root / snapshot_id
            with open(tmp / "manifest.json", "w", encoding="utf-8") as fh:
                json.dump(manifest_, fh, ensure_ascii=False, indent=1)
                fh.flush()
                os.fsync(fh.fileno())
            permissions.restrict_file(tmp / "manifest.json", permissions.group_id())
            _flush_to_disk(tmp)
            os.rename(tmp, final)
            _fsync_dir(root)
            _write_latest(root, snapshot_id)
    except BaseException as err:
        _remove_tree(tmp)
        if isinstance(err, CaseworkError) or not isinstance(err, OSError):
            raise
        raise _storage_error(err, root) from err
    return {**manifest_, "path": str(final)}


def _clean_stale(root: Path) -> None:
    """Remove temporary folders and files left by imports that were killed midway."""
    for p in root.glob(".tmp-*"):
        parts = p.name.split("-")
        if len(parts) >= 3 and parts[1].isdigit() and not _alive(int(parts[1])):
            _remove_tree(p)
    for p in root.glob(".latest.*.tmp"):
        pid = p.name.split(".")[2]
        if pid.isdigit() and not _alive(int(pid)):
            with contextlib.suppress(OSError):
                p.unlink()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _remove_tree(path: Path) -> None:
    def _onerror(func, p, _exc):
        with contextlib.suppress(OSError):
            os.chmod(p, 0o755 if os.path.isdir(p) else 0o644)
            func(p)

    if path.exists():
        if sys.version_info >= (3, 12):
            shutil.rmtree(path, onexc=_onerror)
        else:
            shutil.rmtree(path, onerror=_onerror)


def _versions() -> dict:
    import duckdb  # heavy: loaded only when the store is written or read

    return {"pandas": pd.__version__, "numpy": np.__version__,
            "pyarrow": pa.__version__, "duckdb": duckdb.__version__}


# ---------------------------------------------------------------------------------------------
# Listing and resolving snapshots
# ---------------------------------------------------------------------------------------------


def _no_snapshot() -> StoreError:
    return StoreError("尚无数据快照：还没有导入任何数据。",
                      "no snapshot yet: no data have been imported.", hint=_NO_SNAPSHOT_HINT)


def _resolve(snapshot: str | None) -> tuple[str, Path]:
    root = config.snapshots_dir()
    if snapshot in (None, "", _LATEST):
        try:
            snapshot = (root / _LATEST).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            raise _no_snapshot() from None
        except OSError as err:
            raise StoreError(f"无法读取 latest 指针：{err}",
                             f"cannot read the latest pointer: {err}",
                             hint=_NO_SNAPSHOT_HINT) from err
    if not isinstance(snapshot, str) or not _ID_RE.match(snapshot):
        raise ParameterError(f"快照编号无效：{snapshot!r}", f"invalid snapshot id: {snapshot!r}",
                             hint="用 casework.store.snapshots() 查看已有快照 / "
                                  "list them with store.snapshots()")
    folder = root / snapshot
    if not (folder / "manifest.json").is_file():
        known = [p.name for p in sorted(root.glob("*")) if (p / "manifest.json").is_file()]
        if not known:
            raise StoreError(f"快照不存在：{snapshot}（尚无任何数据快照）",
                             f"unknown snapshot: {snapshot} (no snapshot exists yet)",
                             hint=_NO_SNAPSHOT_HINT)
        listing = ", ".join(known[-5:])
        raise StoreError(f"快照不存在：{snapshot}。已有快照：{listing}",
                         f"unknown snapshot: {snapshot}. Existing snapshots: {listing}",
                         hint="用 snapshot=\"latest\" 读取最新快照，或重新导入 / use "
                              "snapshot=\"latest\", or import again (casework import / "
                              "casework demo)")
    return snapshot, folder


def _load_manifest(folder: Path) -> dict:
    try:
        with open(folder / "manifest.json", encoding="utf-8") as fh:
            return json.load(fh)
    except (OSError, ValueError) as err:
        raise StoreError(f"快照清单无法读取：{folder / 'manifest.json'}（{err}）",
                         "the snapshot manifest cannot be read:"
                         f" {folder / 'manifest.json'} ({err})",
                         hint=_NO_SNAPSHOT_HINT) from err


def manifest(snapshot: str = "latest") -> dict:
    """The manifest of ``snapshot`` (``"latest"`` or an id) plus ``path``, its folder.

    Raises :class:`StoreError` (bilingual) when there is no snapshot yet or the id is unknown.
    """
    sid, folder = _resolve(snapshot)
    return {**_load_manifest(folder), "path": str(folder)}


def latest_id() -> str:
    """Id of the snapshot ``latest`` points to (:class:`StoreError` when there is none)."""
    return _resolve(_LATEST)[0]


def snapshots() -> pd.DataFrame:
    """One row per snapshot, oldest first.

    Columns: ``snapshot, created_at, account, records, modifications, journeys`` (row counts),
    ``sources`` (number of source files), ``warnings`` (number), ``snapshot_sha256``,
    ``latest`` (bool).
    """
    cols = ["snapshot", "created_at", "account", *TABLES,
            "sources", "warnings", "snapshot_sha256", "latest"]
    root = config.snapshots_dir()
    try:
        current = (root / _LATEST).read_text(encoding="utf-8").strip()
    except OSError:
        current = None
    rows = []
    if root.is_dir():
        for folder in sorted(root.iterdir()):
            if folder.name.startswith(".") or not (folder / "manifest.json").is_file():
                continue
            with contextlib.suppress(StoreError):
                m = _load_manifest(folder)
                counts = m.get("row_counts", {})
                rows.append({
                    "snapshot": folder.name, "created_at": m.get("created_at"),
                    "account": m.get("account"),
                    **{t: counts.get(t) for t in TABLES},
                    "sources": len(m.get("sources", [])), "warnings": len(m.get("warnings", [])),
                    "snapshot_sha256": m.get("snapshot_sha256"), "latest": folder.name == current,
                })
    df = pd.DataFrame(rows, columns=cols)
    for t in TABLES:
        df[t] = df[t].astype("Int64")
    df["created_at"] = pd.to_datetime(df["created_at"], utc=True)
    df["latest"] = df["latest"].astype(bool)
    return df.sort_values(["created_at", "snapshot"], kind="stable").reset_index(drop=True)


def verify_snapshot(snapshot: str = "latest") -> str:
    """Re-hash every Parquet file of ``snapshot`` against its manifest.

    Returns a bilingual OK line; raises :class:`DataError` naming the first file that is
    missing or changed.
    """
    sid, folder = _resolve(snapshot)
    m = _load_manifest(folder)
    n = 0
    for entry in m["tables"].values():
        for f in entry["files"]:
            p = folder / f["path"]
            if not p.is_file() or _sha256_file(p) != f["sha256"]:
                raise DataError(f"快照 {sid} 的文件已缺失或被修改：{f['path']}",
                                f"snapshot {sid}: file missing or changed: {f['path']}")
            n += 1
    return (f"快照 {sid} 完整：{n} 个文件的哈希与清单一致\n"
            f"Snapshot {sid} OK: {n} files match their manifest hashes")


# ---------------------------------------------------------------------------------------------
# The one door: DuckDB over the snapshot, audited
# ---------------------------------------------------------------------------------------------


def _sql_str(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


def _ident(name: str) -> str:
    return '"' + str(name).replace('"', '""') + '"'


def _connect(folder: Path, man: dict):
    """A DuckDB connection that can read this snapshot's files and nothing else."""
    import duckdb  # heavy: loaded only when the store is read

    con = duckdb.connect(":memory:")
    paths = {name: [str(folder / f["path"]) for f in entry["files"]]
             for name, entry in man["tables"].items()}
    every = [p for ps in paths.values() for p in ps]
    con.execute(f"SET allowed_paths=[{', '.join(_sql_str(p) for p in every)}]")
    con.execute("SET enable_external_access=false")
    con.execute("SET lock_configuration=true")
    for name, ps in paths.items():
        files = "[" + ", ".join(_sql_str(p) for p in ps) + "]"
        con.execute(f"CREATE VIEW {_ident(name)} AS "
                    f"SELECT * FROM read_parquet({files}, hive_partitioning = false)")
    return con


def _check_select(con, query: str) -> None:
    try:
        statements = con.extract_statements(query)
    except Exception as err:  # duckdb.ParserException and friends
        raise ParameterError(f"SQL 语法错误：{err}", f"SQL syntax error: {err}") from err
    import duckdb  # heavy: loaded only when the store is read

    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise ParameterError(
            "只能执行一条 SELECT 查询（快照只读）",
            "only one SELECT statement is allowed (snapshots are read-only)",
        )


_TYPES_MAPPER = None


def _to_pandas(tbl) -> pd.DataFrame:
    global _TYPES_MAPPER
    if _TYPES_MAPPER is None:
        _TYPES_MAPPER = {
            pa.string(): pd.StringDtype(), pa.large_string(): pd.StringDtype(),
            pa.string_view(): pd.StringDtype(),
            pa.int64(): pd.Int64Dtype(), pa.int32(): pd.Int64Dtype(),
            pa.int16(): pd.Int64Dtype(), pa.int8(): pd.Int64Dtype(),
            pa.uint32(): pd.Int64Dtype(), pa.uint16(): pd.Int64Dtype(),
            pa.uint8(): pd.Int64Dtype(),
            pa.bool_(): pd.BooleanDtype(), pa.float64(): pd.Float64Dtype(),
            pa.float32(): pd.Float64Dtype(),
        }.get
    # DuckDB sums integers as HUGEINT (Arrow decimal128): hand back Int64 / Float64, not Decimal
    for i, f in enumerate(tbl.schema):
        if pa.types.is_decimal(f.type):
            col = tbl.column(i)
            try:
                col = col.cast(pa.int64()) if f.type.scale == 0 else col.cast(pa.float64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                col = col.cast(pa.float64(), safe=False)
            tbl = tbl.set_column(i, pa.field(f.name, col.type), col)
    lists = [f.name for f in tbl.schema
             if pa.types.is_list(f.type) or pa.types.is_large_list(f.type)]
    df = tbl.to_pandas(types_mapper=_TYPES_MAPPER, date_as_object=False)
    for name in lists:
        df[name] = pd.Series(tbl.column(name).to_pylist(), index=df.index, dtype="object")
    return df


def _cast(df: pd.DataFrame, table: str) -> pd.DataFrame:
    """Canonical dtypes for the schema columns present in ``df``."""
    known = {c.name: c for c in schema.columns(table)}
    for name in df.columns:
        col = known.get(name)
        if col is None or col.dtype == "list":
            continue
        want = schema.pandas_dtype(col)
        if str(df[name].dtype) != want:
            df[name] = df[name].astype(want)
    return df


def _execute(folder: Path, man: dict, query: str, entry: dict, account, *, table=None,
             post=None) -> pd.DataFrame:
    """Run ``query`` on the snapshot, log exactly one audit row, return the frame."""
    con = _connect(folder, man)
    try:
        try:
            _check_select(con, query)
        except ParameterError as err:  # refused statements are logged too: who tried what
            audit.append({**entry, "rows": None, "outcome": "refused", "error": err.en[:500]},
                         account=account)
            raise
        try:
            df = _to_pandas(con.sql(query).to_arrow_table())
            if post is not None:
                df = post(df)
        except Exception as err:  # duckdb.Error: bad column, bad SQL, type error …
            if isinstance(err, CaseworkError):
                raise
            refused = type(err).__name__ == "PermissionException"  # outside the snapshot
            audit.append({**entry, "rows": None, "outcome": "refused" if refused else "failed",
                          "error": str(err)[:500]}, account=account)
            raise ParameterError(f"查询失败：{err}", f"the query failed: {err}",
                                 hint="检查列名和 SQL 写法 / "
                                      "check column names and the SQL") from err
    finally:
        con.close()
    if post is None and table is not None:
        df = _cast(df, table)
    audit.append({**entry, "rows": int(len(df)), "outcome": "returned"}, account=account)
    return df


def read(table: str, *, snapshot: str = "latest", columns=None, where: str | None = None,
         purpose: str | None = None, account: str | None = None) -> pd.DataFrame:
    """Read one table of a snapshot; the read is written to the query audit log.

    Parameters
    ----------
    table : {"records", "modifications", "journeys"}
    snapshot : str
        ``"latest"`` (default) or a snapshot id (see :func:`snapshots`).
    columns : list of str, optional
        Columns to return (only these are read from disk); default all.
    where : str, optional
        A DuckDB SQL predicate over the table's columns, e.g.
        ``"unit_code = '371329' AND accepted_on >= DATE '2024-01-01'"``.
    purpose : str
        Why the data are read (required; recorded in the audit log).
    account : str, optional
        Who reads; default ``CASEWORK_USER``, else the OS login.

    Returns
    -------
    DataFrame
        Rows in snapshot order (by unit, then year, then import order), canonical dtypes
        (:func:`casework.model.schema.pandas_dtype`).

    Raises
    ------
    ParameterError
        No purpose, an unknown table or column, or a bad ``where`` (the failed query is
        still logged).
    StoreError
        No snapshot yet, or an unknown snapshot id.
    AuditError
        The audit log cannot be written — no data are returned.
    """
    purpose = _check_purpose(purpose)
    check_choice("table", table, TABLES)
    sid, folder = _resolve(snapshot)
    man = _load_manifest(folder)
    derive = False
    source = table
    if table not in man["tables"]:
        if table in ("journeys", "supervision") and "records" in man["tables"]:
            derive, source = True, "records"  # supervision: none in an older snapshot
        else:
            raise StoreError(f"快照 {sid} 中没有 {table} 表",
                             f"snapshot {sid} has no {table} table",
                             hint="导入该表的导出文件 / import an export of this table")
    if isinstance(columns, str):
        columns = [columns]
    if columns is not None:
        columns = [str(c) for c in columns]
        available = schema.column_names(table) if derive else man["tables"][table]["columns"]
        unknown = [c for c in columns if c not in available]
        if unknown:
            raise ParameterError(f"{table} 表没有这些列：{', '.join(unknown)}",
                                 f"table {table} has no column(s): {', '.join(unknown)}",
                                 hint="可用列 / available: " + ", ".join(available))
    if where is not None and not isinstance(where, str):
        raise ParameterError("where 必须是 SQL 条件字符串", "where must be a SQL predicate string")
    select = "*" if (columns is None or derive) else ", ".join(_ident(c) for c in columns)
    query = f"SELECT {select} FROM {_ident(source)}"
    if where and where.strip() and not derive:
        query += f" WHERE ({where})"
    if derive and table == "supervision":
        # an older snapshot's supervision reads as empty: no record needs to be read (all of
        # them took seconds); the audit row names the query actually run
        query += " LIMIT 0"
    entry = {"snapshot": sid, "kind": "read", "table": table, "columns": columns,
             "filter": where, "query": query, "purpose": purpose}
    post = None
    if derive:
        def post(recs):
            return _derived_journeys(recs, columns=columns, where=where, table=table)
    return _execute(folder, man, query, entry, account, table=table, post=post)


def _derived_journeys(recs: pd.DataFrame, *, columns, where, table="journeys") -> pd.DataFrame:
    """Journeys built from ``recs`` (a snapshot stored without them; supervision: empty)."""
    import duckdb  # heavy: loaded only when the store is read

    df = journeys.build(_cast(recs, "records")) if table == "journeys" else recs.iloc[:0]
    if where and where.strip() and table == "journeys":
        con = duckdb.connect(":memory:")
        try:
            con.execute("SET enable_external_access=false")
            con.register("journeys", df)
            df = _to_pandas(con.sql(f"SELECT * FROM journeys WHERE ({where})").to_arrow_table())
        finally:
            con.close()
        df = _cast(df, table)
    df = df if table == "journeys" else schema.empty_frame(table)
    return df[columns] if columns is not None else df


def sql(query: str, *, snapshot: str = "latest", purpose: str | None = None,
        account: str | None = None) -> pd.DataFrame:
    """Run one DuckDB ``SELECT`` over a snapshot; the query is written to the audit log.

    The snapshot's tables are views named ``records``, ``modifications`` and ``journeys``.

    Examples
    --------
    >>> import os, tempfile
    >>> import pandas as pd
    >>> saved = os.environ.get("CASEWORK_HOME")
    >>> os.environ["CASEWORK_HOME"] = tempfile.mkdtemp()
    >>> recs = pd.DataFrame({"unit_code": ["U1", "U1", "U2"], "dept_case_no": ["A1", "A2", "A3"],
    ...     "unified_case_no": ["T1", "T2", "T3"], "stage": ["arrest_review"] * 3,
    ...     "person_id": ["P1", "P2", "P3"], "charge": ["盗窃", "诈骗", "盗窃"],
    ...     "accepted_on": ["2024-01-03", "2024-02-04", "2024-02-05"]})
    >>> _ = write_snapshot({"records": recs}, account="doc")
    >>> sql("SELECT unit_code, count(*) AS n FROM records GROUP BY 1 ORDER BY 1",
    ...     purpose="文档示例 / doc example").values.tolist()
    [['U1', 2], ['U2', 1]]
    >>> _ = (os.environ.pop("CASEWORK_HOME") if saved is None
    ...      else os.environ.update(CASEWORK_HOME=saved))
    """
    purpose = _check_purpose(purpose)
    if not isinstance(query, str) or not query.strip():
        raise ParameterError("SQL 查询为空", "the SQL query is empty")
    sid, folder = _resolve(snapshot)
    man = _load_manifest(folder)
    entry = {"snapshot": sid, "kind": "sql", "table": None, "columns": None, "filter": None,
             "query": query, "purpose": purpose}
    return _execute(folder, man, query, entry, account)


# ---------------------------------------------------------------------------------------------
# The audit log, as the store exposes it
# ---------------------------------------------------------------------------------------------
