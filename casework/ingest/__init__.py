"""Exports in, snapshots out: reading CSV/xlsx/JSON Lines/Parquet, decoding, mapping Chinese
headers onto the model, coercion and validation with bilingual errors. Writes through
:mod:`casework.store`; never imports analysis.

Modules, in the order a file flows through them
-----------------------------------------------
readers
    Format detection and raw reading (header row, user-visible row numbers, safety limits).
decoding
    Encodings (UTF-8, BOMs, GB18030 through libc iconv) and decode errors with line and offset.
mapping
    Export headers → canonical columns; user mapping files (YAML).
values
    Vectorised parsing of codes, flags, charges, case numbers, numbers and dates.
validation
    One raw file → the canonical frame: coercion, derived columns, checks, warnings.
messages
    The bilingual error and warning texts (file, column, rows).
importer
    The entry points: :func:`read_export`, :func:`import_files`, :func:`describe`
    (re-exported here).
"""

from casework.ingest.importer import describe, import_files, read_export
from casework.ingest.values import normalise_case_no, normalise_charge

__all__ = ["describe", "import_files", "normalise_case_no", "normalise_charge", "read_export"]
