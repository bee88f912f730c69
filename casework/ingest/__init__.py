"""Exports in, snapshots out: reading CSV/xlsx/JSON Lines/Parquet, decoding, mapping Chinese
headers onto the model, coercion and validation with bilingual errors. Writes through
:mod:`casework.store`; never imports analysis."""
