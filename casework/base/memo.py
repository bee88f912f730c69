"""Compute once per snapshot: a content-addressed cache of analysis results (issue 18).

Several reports of a batch ask the same question of the same data: the periodic overview and
the recurring-cases report both rank the rising charges of a unit, and a report re-run after a
fix to its template asks again everything its first run asked. A function decorated with
:func:`memoized` keeps its result in the active cache folder (:func:`activate`; the report
runner points it at ``<snapshot>/cache/``, see :func:`casework.store.cache_dir`) and answers the
next identical call from there.

What makes a call identical (the key):

* the function (module and qualified name) and a fingerprint of casework's own source code
  (:func:`code_fingerprint`), so an edited library never answers from an older result;
* every argument by content: a DataFrame or Series by a digest of its values, dtypes, index,
  column names and ``attrs``, independent of how it sits in memory (about 0.15 s for a unit's
  87,000 case cards with their 70 columns), plain
  values (str, numbers, dates, periods, tuples, lists, dicts of them) by their ``repr``. An
  argument that cannot be fingerprinted makes the call run uncached, never wrongly cached.

Safety:

* Results are DataFrames kept as Parquet. A result is stored only after it was read back equal
  to the original (values, dtypes, index, columns and ``attrs``); otherwise the call is marked
  uncacheable and always computed. So a cached report's tables are the uncached ones.
* Parallel workers: one lock file per key (``fcntl``): the second worker waits for the first
  and then reads its result. Files appear by atomic rename, so a reader never sees half a file.
* The cache lives inside the snapshot's folder: a new snapshot starts empty, and removing a
  snapshot removes its cache. It holds results derived from tables the report read through the
  audited door (:func:`casework.store.read`), which records every read whether or not a result
  then comes from the cache; it is never a way to reach data without a read.

:func:`stats` counts hits and misses of this process (the runner writes them into the report's
provenance).

Examples
--------
>>> import tempfile, pandas as pd
>>> calls = []
>>> @memoized
... def total(df, *, by):
...     calls.append(by)
...     return df.groupby(by, as_index=False)["n"].sum()
>>> df = pd.DataFrame({"unit": ["a", "a", "b"], "n": [1, 2, 3]})
>>> with activated(tempfile.mkdtemp()):
...     first, second = total(df, by="unit"), total(df.copy(), by="unit")
>>> first.equals(second), calls
(True, ['unit'])
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import fcntl
import functools
import hashlib
import io
import os
import pickle
import uuid
from pathlib import Path

import numpy as np
import pandas as pd
from pandas.core.arrays.masked import BaseMaskedArray

#: The active cache folder (None: every call computes).
_ACTIVE: list = [None]
#: Hits and misses of this process, by function.
_STATS: dict = {}
#: Marker suffix of a key whose result does not survive a Parquet round trip.
_UNCACHEABLE = ".uncacheable"
#: Column name of a Series kept as a frame.
_SERIES = "__series__"
#: Results of this process by key (the oldest is dropped beyond _MEMORY_SIZE).
_MEMORY: dict = {}
_MEMORY_SIZE = 32


class _NoKey(Exception):
    """An argument has no stable fingerprint: the call runs uncached."""


@functools.cache
def code_fingerprint() -> str:
    """A digest of every ``.py`` file of the casework package (names and contents).

    Examples
    --------
    >>> len(code_fingerprint())
    16
    """
    root = Path(__file__).resolve().parents[1]
    h = hashlib.blake2b(digest_size=8)
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _column_digest(h, values) -> None:
    """Feed one column's content to ``h``, independent of memory layout: the same values give
    the same bytes however the column was built (chunks, slots under missing values)."""
    dtype = values.dtype
    h.update(str(dtype).encode())
    if isinstance(values, pd.Categorical) or isinstance(dtype, pd.CategoricalDtype):
        cat = pd.Categorical(values)
        h.update(np.asarray(cat.codes).tobytes())
        _column_digest(h, pd.Index(cat.categories).array)
        return
    if isinstance(values, BaseMaskedArray):  # Int64, Float64, boolean
        mask = np.asarray(values._mask)
        h.update(mask.tobytes())
        h.update(np.where(mask, 0, values._data).tobytes())  # the slot under NA is arbitrary
        return
    if isinstance(values, np.ndarray) and values.dtype != object:
        h.update(np.ascontiguousarray(values).tobytes())
        return
    if isinstance(values, (pd.arrays.DatetimeArray, pd.arrays.TimedeltaArray,
                           pd.arrays.PeriodArray)):
        h.update(np.asarray(values.asi8).tobytes())
        return
    if hasattr(values, "_pa_array"):  # Arrow-backed text: its buffers, one chunk
        arr = values._pa_array.combine_chunks()
        # a slice shares its parent's buffers: offset and length tell which part is ours
        h.update(repr((arr.offset, len(arr), arr.null_count)).encode())
        for buf in arr.buffers():
            h.update(b"|" if buf is None else buf)
        return
    # lists and other objects: their Python values, pickled
    # (deterministic for str, numbers, None, lists and tuples of them)
    items = [v.tolist() if isinstance(v, np.ndarray) else v for v in values.tolist()]
    if any(isinstance(v, float) and v != v for v in items):
        items = [None if isinstance(v, float) and v != v else v for v in items]
    try:
        h.update(pickle.dumps(items, protocol=5))
    except (pickle.PicklingError, TypeError, AttributeError) as err:
        raise _NoKey(str(err)) from None


def _values(obj):
    """The array behind a Series or Index (a NumPy array where pandas wraps one)."""
    arr = obj.array
    return arr.to_numpy() if isinstance(arr, pd.arrays.NumpyExtensionArray) else arr


def _frame_bytes(obj) -> bytes:
    """A digest of a DataFrame's or Series' content: values, dtypes, names, index, attrs."""
    df = obj.to_frame(name=obj.name if obj.name is not None else _SERIES) \
        if isinstance(obj, pd.Series) else obj
    h = hashlib.blake2b(digest_size=32)
    h.update(repr((type(obj).__name__, df.shape, list(df.columns), list(df.index.names))).encode())
    h.update(_token(dict(sorted(df.attrs.items()))))
    if isinstance(df.index, pd.RangeIndex):
        h.update(repr(("range", df.index.start, df.index.stop, df.index.step)).encode())
    else:
        for level in range(df.index.nlevels):
            _column_digest(h, _values(df.index.get_level_values(level)))
    for i in range(df.shape[1]):
        _column_digest(h, _values(df.iloc[:, i]))
    return b"frame" + h.digest()


def _token(value) -> bytes:
    """Bytes that identify ``value`` by content (raises :class:`_NoKey` when it cannot)."""
    if isinstance(value, (pd.DataFrame, pd.Series)):
        return _frame_bytes(value)
    if value is None or isinstance(value, (bool, int, float, str, np.generic, _dt.date,
                                           pd.Timestamp, pd.Period)):
        return repr((type(value).__name__, value)).encode()
    if isinstance(value, (list, tuple)):
        return b"[" + b",".join(_token(v) for v in value) + b"]" + type(value).__name__.encode()
    if isinstance(value, dict):
        return b"{" + b",".join(_token(k) + b":" + _token(v) for k, v in value.items()) + b"}"
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return type(value).__qualname__.encode() + _token(dataclasses.astuple(value))
    raise _NoKey(type(value).__name__)


def call_key(func, args: tuple, kwargs: dict) -> str:
    """The content address of ``func(*args, **kwargs)`` (hex digest).

    Raises
    ------
    _NoKey
        An argument has no stable fingerprint.

    Examples
    --------
    >>> import pandas as pd
    >>> a = pd.DataFrame({"x": [1, 2]})
    >>> call_key(len, (a,), {}) == call_key(len, (a.copy(),), {})
    True
    >>> call_key(len, (a,), {}) == call_key(len, (a.assign(x=[1, 3]),), {})
    False
    """
    h = hashlib.blake2b(digest_size=16)
    h.update(f"{func.__module__}.{func.__qualname__}|{code_fingerprint()}".encode())
    h.update(_token(list(args)))
    h.update(_token(dict(sorted(kwargs.items()))))
    return h.hexdigest()


def _as_frame(result) -> pd.DataFrame:
    """A Series is kept as a one-column frame; its name rides in ``attrs``."""
    if isinstance(result, pd.Series):
        frame = result.to_frame(name=_SERIES)
        frame.attrs = {**result.attrs, _SERIES: result.name}
        return frame
    return result


def _from_frame(frame: pd.DataFrame):
    if list(frame.columns) == [_SERIES] and _SERIES in frame.attrs:
        attrs = dict(frame.attrs)
        name = attrs.pop(_SERIES)
        out = frame[_SERIES].rename(name)
        out.attrs = attrs
        return out
    return frame


def _same(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return (a.equals(b) and list(a.columns) == list(b.columns) and a.index.equals(b.index)
            and list(a.dtypes) == list(b.dtypes) and a.index.dtype == b.index.dtype
            and a.index.names == b.index.names and repr(a.attrs) == repr(b.attrs))


def _store(path: Path, result: pd.DataFrame) -> bool:
    """Write ``result`` to ``path`` atomically if it survives the round trip; else mark it."""
    buf = io.BytesIO()
    try:
        result.to_parquet(buf)
        back = pd.read_parquet(io.BytesIO(buf.getvalue()))
        exact = _same(result, back)
    except Exception:  # a column pyarrow cannot write (mixed objects …): not cacheable
        exact = False
    target = path if exact else path.with_suffix(_UNCACHEABLE)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # case data: owner only
    with os.fdopen(fd, "wb") as fh:
        fh.write(buf.getvalue() if exact else b"")
    os.replace(tmp, target)
    return exact


@contextlib.contextmanager
def _locked(path: Path):
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "r+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _count(name: str, outcome: str) -> None:
    _STATS.setdefault(name, {"hit": 0, "miss": 0, "uncached": 0})[outcome] += 1


def memoized(func):
    """Decorate an analysis function returning a DataFrame or Series: identical calls are
    answered from the active cache folder (see the module docstring). Without an active folder
    it is the plain function.

    Within one process a repeated call is answered from memory (a copy, so a caller that
    changes its result cannot change another's).
    """

    name = f"{func.__module__}.{func.__qualname__}"

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        folder = _ACTIVE[0]
        if folder is None:
            return func(*args, **kwargs)
        try:
            key = call_key(func, args, kwargs)
        except _NoKey:
            _count(name, "uncached")
            return func(*args, **kwargs)
        if key in _MEMORY:
            _count(name, "hit")
            return _MEMORY[key].copy()
        path = folder / f"{func.__qualname__}-{key}.parquet"
        with _locked(path):
            if path.exists():
                _count(name, "hit")
                result = _from_frame(pd.read_parquet(path))
            else:
                result = func(*args, **kwargs)
                if (not isinstance(result, (pd.DataFrame, pd.Series))
                        or path.with_suffix(_UNCACHEABLE).exists()
                        or not _store(path, _as_frame(result))):
                    _count(name, "uncached")
                    return result
                _count(name, "miss")
        _remember(key, result)
        return result.copy()

    wrapper.uncached = func
    return wrapper


def _remember(key: str, result) -> None:
    if len(_MEMORY) >= _MEMORY_SIZE:
        _MEMORY.pop(next(iter(_MEMORY)))
    _MEMORY[key] = result


def activate(folder) -> Path | None:
    """Answer memoized calls from ``folder`` (created, owner-only); ``None`` turns caching off.

    Returns the previously active folder.
    """
    previous = _ACTIVE[0]
    _MEMORY.clear()  # results of another snapshot's data (or of a run without cache)
    if folder is None:
        _ACTIVE[0] = None
    else:
        path = Path(folder)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        _ACTIVE[0] = path
    return previous


@contextlib.contextmanager
def activated(folder):
    """:func:`activate` for the duration of a ``with`` block."""
    previous = activate(folder)
    try:
        yield
    finally:
        _ACTIVE[0] = previous


def active() -> Path | None:
    """The active cache folder, or None."""
    return _ACTIVE[0]


def stats() -> dict:
    """``{function: {"hit": n, "miss": n, "uncached": n}}`` for this process.

    Examples
    --------
    >>> isinstance(stats(), dict)
    True
    """
    return {k: dict(v) for k, v in _STATS.items()}


__all__ = ["memoized", "activate", "activated", "active", "stats", "call_key",
           "code_fingerprint"]
