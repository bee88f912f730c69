"""casework: a research workbench for the case-management office of a procuratorate.

The data flow is one-way, and the packages follow it (each may import only those above it
in this list; ``tests/test_layers.py`` enforces it):

``base`` (paths, errors) → ``model`` (schema, journeys) → ``store`` (snapshots, the audited
door) → ``ingest`` (exports → snapshots) · ``analysis`` (pure: frames in, tidy frames out) →
``present`` (sentences, tables, charts, access levels) → ``notebook`` (the API of report
templates) → ``run`` (runner, batch, CLI). ``synth`` (demo data) imports only ``base`` and
``model``; ``training`` sits on top.

The analyst's API: ``import casework as cw`` gives every public module by its short name,
imported on first use (``import casework`` itself stays light)::

    import casework as cw
    records = cw.store.read("records", purpose="本月收案分析")
    table = cw.panel.compute(records, indicators="arrest", by="unit_code", period="2024-05")

See :data:`PUBLIC` for the names.
"""

from __future__ import annotations

import importlib

from casework import _legacy

__version__ = "0.1.0"

#: Short name -> module, loaded lazily by ``casework.<name>``.
PUBLIC: dict[str, str] = {
    # layers
    **{name: f"casework.{name}" for name in (
        "base", "model", "store", "ingest", "analysis", "present", "notebook", "run", "synth",
        "training")},
    "config": "casework.base.config",
    "errors": "casework.base.errors",
    "schema": "casework.model.schema",
    "journeys": "casework.model.journeys",
    "importer": "casework.ingest.importer",
    "mapping": "casework.ingest.mapping",
    **{name: f"casework.analysis.{name}" for name in (
        "periods", "indicators", "stats", "panel", "monitor", "funnels", "casemix", "bail",
        "workload", "days", "quality", "modifications", "text", "signals", "findings",
        "topics", "cusum", "seasonal")},
    **{name: f"casework.present.{name}" for name in (
        "narrative", "plotting", "privacy", "tables", "workbook")},
    "page": "casework.notebook.page",
    "params": "casework.notebook.params",
    "report": "casework.run.report",
    "batch": "casework.run.batch",
}


def __getattr__(name: str):
    """``casework.<name>``: import a public module on first use (see :data:`PUBLIC`).

    An old flat name whose code was split over several modules (``panel``, ``quality`` …)
    gives a module that also answers the old names (:mod:`casework._legacy`), without the
    deprecation warning of the old import path.
    """
    target = PUBLIC.get(name)
    if target is None:
        raise AttributeError(f"module 'casework' has no attribute {name!r}")
    moved = _legacy.MOVED.get(name, ())
    if len(moved) > 1 and moved[0] == target:
        module = _legacy.forwarding_module(f"casework.{name}", moved)
    else:
        module = importlib.import_module(target)
    globals()[name] = module
    return module


def __dir__():
    return sorted(set(globals()) | set(PUBLIC))


_legacy.install()
