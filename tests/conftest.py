"""Shared fixtures: small seeded synthetic data, and an isolated CASEWORK_HOME.

Every test that touches disk runs under its own CASEWORK_HOME so the project's own data/ and
reports/ are never written by the test suite.
"""

from __future__ import annotations

import warnings

import matplotlib
import pytest

matplotlib.use("Agg")

#: The small dataset most tests share: quick to make, large enough for the planted patterns.
SMALL = dict(units=3, years=3, end="2024-12", seed=7)


@pytest.fixture(scope="session")
def synth_small():
    """Planted synthetic data (``casework.synth.make``): ``.records``, ``.modifications``,
    ``.truth``. Where each pattern sits is drawn from the seed: read it from ``.truth`` (to
    score a result — never to tell a detector where to look)."""
    from casework import synth

    return synth.make(**SMALL)


@pytest.fixture(scope="session")
def synth_null_small():
    """The same data with nothing planted (``null=True``)."""
    from casework import synth

    return synth.make(**SMALL, null=True)


@pytest.fixture
def casework_home(tmp_path, monkeypatch):
    """An empty CASEWORK_HOME (data/, reports/) for one test."""
    monkeypatch.setenv("CASEWORK_HOME", str(tmp_path))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    return tmp_path


def _snapshot_home(tmp_path_factory, name, data):
    """A new CASEWORK_HOME holding one snapshot of ``data`` (records and modifications)."""
    import os

    from casework import store

    home = tmp_path_factory.mktemp(name)
    old = os.environ.get("CASEWORK_HOME")
    os.environ["CASEWORK_HOME"] = str(home)
    try:
        store.write_snapshot(
            {"records": data.records, "modifications": data.modifications},
            sources=[], mapping=None, account="fixture",
        )
    finally:
        if old is None:
            os.environ.pop("CASEWORK_HOME", None)
        else:
            os.environ["CASEWORK_HOME"] = old
    return home


@pytest.fixture(scope="session")
def _demo_home(tmp_path_factory, synth_small):
    """A CASEWORK_HOME holding one snapshot of ``synth_small`` (built once per worker)."""
    return _snapshot_home(tmp_path_factory, "demo_home", synth_small)


@pytest.fixture(scope="session")
def null_home(tmp_path_factory, synth_null_small):
    """A CASEWORK_HOME holding one snapshot of the null data (nothing planted)."""
    return _snapshot_home(tmp_path_factory, "null_home", synth_null_small)


@pytest.fixture
def demo_home(_demo_home, monkeypatch):
    """CASEWORK_HOME pointing at a store with the small synthetic snapshot imported."""
    monkeypatch.setenv("CASEWORK_HOME", str(_demo_home))
    monkeypatch.setenv("CASEWORK_USER", "test-analyst")
    monkeypatch.delenv("CASEWORK_REPORTS", raising=False)
    return _demo_home


@pytest.fixture(autouse=True)
def _glyph_warnings_are_errors():
    """A chart with a missing glyph (Chinese shown as boxes) fails the test."""
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=r".*Glyph .* missing.*")
        yield
