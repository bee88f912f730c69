"""The compute-once cache (casework.base.memo): identical calls answered from the snapshot's
cache folder with results equal to computing them, different data never answered, unsafe
results never kept, parallel workers computing a result once."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import pandas as pd
import pytest

from casework.base import memo

CALLS: list = []


@memo.memoized
def monthly(df, *, by, months=3):
    """A small analysis: counts by a column and month, with the dtypes reports meet."""
    CALLS.append(by)
    out = df.groupby([by, "month"], observed=True).agg(n=("x", "size"), mean=("x", "mean"))
    out = out.reset_index()
    out["share"] = out["n"] / out["n"].sum()
    out["label"] = out[by].astype("string")
    out["flag"] = pd.array([True, None] * (len(out) // 2) + [False] * (len(out) % 2),
                           dtype="boolean")
    out.attrs["months"] = months
    return out


@memo.memoized
def lists(df):
    CALLS.append("lists")
    return df.assign(items=[[v] for v in df["x"]])


@memo.memoized
def counts(df):
    CALLS.append("counts")
    return df["unit"].value_counts().rename_axis("unit").rename("cases")


@pytest.fixture
def frame():
    rng = np.random.default_rng(3)
    return pd.DataFrame({
        "unit": pd.Categorical(rng.choice(["甲院", "乙院", "丙院"], 200)),
        "month": pd.PeriodIndex(rng.choice(["2024-01", "2024-02", "2024-03"], 200), freq="M"),
        "x": rng.normal(size=200),
        "when": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, 200), "D"),
    })


@pytest.fixture
def cache(tmp_path):
    CALLS.clear()
    with memo.activated(tmp_path / "cache"):
        yield tmp_path / "cache"


def test_identical_call_is_answered_from_the_cache_with_an_equal_result(frame, cache):
    first = monthly(frame, by="unit")
    memo._MEMORY.clear()  # as another process would: from the Parquet file
    second = monthly(frame.copy(), by="unit")
    assert CALLS == ["unit"]
    pd.testing.assert_frame_equal(first, second)
    assert second.attrs == {"months": 3} and list(second.dtypes) == list(first.dtypes)
    assert len(list(cache.glob("monthly-*.parquet"))) == 1


def test_different_data_or_arguments_are_computed_again(frame, cache):
    monthly(frame, by="unit")
    changed = frame.copy()
    changed.loc[7, "x"] += 1e-9  # one value in one row
    monthly(changed, by="unit")
    monthly(frame, by="unit", months=6)
    monthly(frame.iloc[::-1], by="unit")  # same rows, other order: another index
    assert CALLS == ["unit"] * 4


def test_results_that_do_not_survive_parquet_are_never_kept(frame, cache):
    a = lists(frame)
    b = lists(frame)
    assert CALLS == ["lists", "lists"]
    assert isinstance(b["items"].iloc[0], list) and a.equals(b)
    assert not list(cache.glob("lists-*.parquet"))


def test_series_keep_their_name_and_index(frame, cache):
    first = counts(frame)
    memo._MEMORY.clear()
    second = counts(frame)
    assert CALLS == ["counts"]
    pd.testing.assert_series_equal(first, second)
    assert second.name == "cases" and second.index.name == "unit"


def test_a_caller_changing_its_result_changes_nobody_else(frame, cache):
    first = monthly(frame, by="unit")
    first.loc[0, "n"] = -1
    again = monthly(frame, by="unit")
    assert again.loc[0, "n"] != -1


def test_without_an_active_folder_every_call_computes(frame):
    CALLS.clear()
    memo.activate(None)
    monthly(frame, by="unit")
    monthly(frame, by="unit")
    assert CALLS == ["unit", "unit"]


def test_the_key_changes_with_the_library_code(frame, monkeypatch):
    before = memo.call_key(monthly.uncached, (frame,), {"by": "unit"})
    monkeypatch.setattr(memo, "code_fingerprint", lambda: "edited")
    assert memo.call_key(monthly.uncached, (frame,), {"by": "unit"}) != before


def test_arguments_without_a_fingerprint_run_uncached(frame, cache):
    @memo.memoized
    def takes_object(df, thing):
        CALLS.append("object")
        return df.head(1)

    takes_object(frame, object())
    takes_object(frame, object())
    assert CALLS == ["object", "object"]


@memo.memoized
def _slow(df):
    with open(_slow.log, "a") as fh:
        fh.write("computed\n")
    time.sleep(0.5)
    return df.describe()


def _worker(folder, log, q):
    _slow.log = log
    with memo.activated(folder):
        q.put(_slow(pd.DataFrame({"x": range(100)})).to_json())


def test_parallel_workers_compute_a_result_once(tmp_path):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    log = tmp_path / "log.txt"
    procs = [ctx.Process(target=_worker, args=(tmp_path / "c", log, q)) for _ in range(2)]
    for p in procs:
        p.start()
    results = [q.get(timeout=30) for _ in procs]
    for p in procs:
        p.join(30)
    assert log.read_text().count("computed") == 1
    assert results[0] == results[1]
