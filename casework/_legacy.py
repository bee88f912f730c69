"""Old flat import paths (``casework.compare``, ``casework.io`` …), kept for one release.

Before the layered packages, every module sat directly under ``casework``. Analysts' own
notebooks may still say ``from casework import compare``; this finder answers such an import
with a thin module that forwards every attribute to the module(s) that now hold the code, and
warns (DeprecationWarning) with the new path. Templates, training notebooks and tests use the
new paths. Remove after the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import types
import warnings

#: old module -> the modules that now hold its public names (searched in order).
MOVED: dict[str, tuple[str, ...]] = {
    "config": ("casework.base.config",),
    "errors": ("casework.base.errors",),
    "schema": ("casework.model.schema",),
    "journeys": ("casework.model.journeys",),
    "io": ("casework.ingest.importer", "casework.ingest.values", "casework.ingest.readers",
           "casework.ingest.decoding", "casework.ingest.validation", "casework.ingest.messages"),
    "mapping": ("casework.ingest.mapping",),
    "audit": ("casework.store.audit",),
    "periods": ("casework.analysis.periods",),
    "indicators": ("casework.analysis.indicators",),
    "stats": ("casework.analysis.stats",),
    "panel": ("casework.analysis.panel", "casework.present.tables",
              "casework.present.trend_charts"),
    "monitor": ("casework.analysis.monitor", "casework.analysis.cusum",
                "casework.analysis.seasonal", "casework.present.tables",
                "casework.present.trend_charts"),
    "compare": ("casework.analysis.funnels", "casework.analysis.casemix",
                "casework.analysis.bail", "casework.present.comparison_text",
                "casework.present.comparison_charts"),
    "analysis.compare": ("casework.analysis.funnels", "casework.analysis.casemix",
                         "casework.analysis.bail", "casework.present.comparison_text",
                         "casework.present.comparison_charts"),
    "workload": ("casework.analysis.workload", "casework.analysis.days",
                 "casework.present.profile_text", "casework.present.comparison_text",
                 "casework.present.comparison_charts"),
    "quality": ("casework.analysis.quality", "casework.analysis.quality_rules",
                "casework.present.quality_text"),
    "modifications": ("casework.analysis.modifications", "casework.present.modification_text"),
    "text": ("casework.analysis.text",),
    "topics": ("casework.analysis.topics", "casework.present.topic_tables"),
    "topics.recurring": ("casework.analysis.topics.recurring",
                         "casework.analysis.topics.modus", "casework.present.recurring_text"),
    "topics.sentencing": ("casework.analysis.topics.sentencing",
                          "casework.analysis.topics.sentencing_models",
                          "casework.analysis.topics.consistency",
                          "casework.present.sentencing_text"),
    "narrative": ("casework.present.narrative",),
    "plotting": ("casework.present.plotting",),
    "privacy": ("casework.present.privacy",),
    "page": ("casework.notebook.page",),
    "params": ("casework.notebook.params",),
    "report": ("casework.run.report", "casework.run.batch", "casework.run.index"),
    "cli": ("casework.run.cli",),
}


def _forwarding_module(old: str, targets: tuple[str, ...]) -> types.ModuleType:
    modules = [importlib.import_module(t) for t in targets]
    mod = types.ModuleType(old, f"Deprecated alias of {', '.join(targets)}.")
    short = old.removeprefix("casework.")
    if any(k.startswith(short + ".") for k in MOVED):
        mod.__path__ = []  # old sub-modules (casework.topics.recurring) come from this finder

    def __getattr__(name):
        if name.startswith("__"):  # never forward __path__, __file__ … of the new module
            raise AttributeError(name)
        if f"{short}.{name}" in MOVED:
            return importlib.import_module(f"{old}.{name}")
        for m in modules:
            if hasattr(m, name):
                return getattr(m, name)
        raise AttributeError(f"module {old!r} has no attribute {name!r}")

    def __dir__():
        return sorted({n for m in modules for n in dir(m)})

    mod.__getattr__ = __getattr__
    mod.__dir__ = __dir__
    return mod


class _LegacyFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix("casework.")
        if fullname.startswith("casework.") and old in MOVED:
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        targets = MOVED[spec.name.removeprefix("casework.")]
        warnings.warn(f"{spec.name} 已迁移至 {', '.join(targets)} / {spec.name} moved to "
                      f"{', '.join(targets)}; the old path is kept for one release",
                      DeprecationWarning, stacklevel=2)
        return _forwarding_module(spec.name, targets)

    def exec_module(self, module):
        pass


def install() -> None:
    """Put the finder on ``sys.meta_path`` once (called by ``casework/__init__``)."""
    if not any(isinstance(f, _LegacyFinder) for f in sys.meta_path):
        sys.meta_path.append(_LegacyFinder())


#: Public name of the forwarding-module factory (``casework.__getattr__`` uses it for the
#: short names whose code was split over several modules).
forwarding_module = _forwarding_module
