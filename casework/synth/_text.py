"""Vectorised string building on Arrow arrays (pyarrow.compute): no per-row Python work."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

STR = pa.large_string()


def pool(values):
    """A small Arrow string array to take from."""
    return pa.array([None if v is None else str(v) for v in values], type=STR)


def take(pool_arr, idx, valid=None):
    """``pool_arr[idx]``; rows where ``valid`` is False become null."""
    idx = np.asarray(idx, dtype=np.int64)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    return pool_arr.take(pa.array(idx, mask=mask))


def num(values, width=None, valid=None):
    """Integers as strings, optionally zero-padded to ``width``."""
    v = np.asarray(values)
    mask = None if valid is None else ~np.asarray(valid, dtype=bool)
    s = pc.cast(pa.array(v.astype(np.int64), mask=mask), STR)
    return pc.utf8_lpad(s, width=width, padding="0") if width else s


def _lit(x):
    if isinstance(x, str):
        return pa.scalar(x, STR)
    if isinstance(x, (pa.Array, pa.ChunkedArray)) and x.type != STR:
        return x.cast(STR)
    return x


def cat(*parts):
    """Element-wise concatenation (null if any part is null)."""
    return pc.binary_join_element_wise(*[_lit(p) for p in parts], pa.scalar("", STR))


def where(mask, a, b):
    return pc.if_else(pa.array(np.asarray(mask, dtype=bool)), _lit(a), _lit(b))


def from_objects(values):
    """An object array (str / None / NaN) as an Arrow string array."""
    return pa.array(np.asarray(values, dtype=object), type=STR, from_pandas=True)


def to_series(arr):
    """Arrow string array → pandas ``string`` Series (zero copy)."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if arr.type != STR:
        arr = arr.cast(STR)
    return pd.Series(pd.arrays.ArrowStringArray(arr))


def arrow_of(series):
    """The Arrow array behind a pandas column (strings, booleans, timestamps)."""
    a = pa.array(series.array) if hasattr(series, "array") else pa.array(series)
    if isinstance(a, pa.ChunkedArray):
        a = a.combine_chunks()
    return a
