"""The snapshot store: immutable Parquet snapshots, the one audited door to data, the query log.

``casework.store.read`` / ``casework.store.sql`` are the only ways to case data; every call
writes one row to the hash-chained query audit log (:mod:`casework.store.audit`).

Modules
-------
parquet_store
    Writing snapshots and reading them through DuckDB (:func:`read`, :func:`sql`).
audit
    The append-only, hash-chained query audit log (一查询一记录、谁查询谁负责).
"""

from casework.store import audit
from casework.store.audit import entries as audit_entries
from casework.store.audit import format_entries as format_audit
from casework.store.audit import verify as verify_audit
from casework.store.parquet_store import (
    TABLES,
    StoreError,
    latest_id,
    manifest,
    read,
    snapshots,
    sql,
    verify_snapshot,
    write_snapshot,
)

__all__ = [
    "TABLES", "StoreError", "audit", "audit_entries", "format_audit", "latest_id", "manifest",
    "read", "snapshots", "sql", "verify_audit", "verify_snapshot", "write_snapshot",
]
