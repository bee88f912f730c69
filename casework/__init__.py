"""casework: a research workbench for the case-management office of a procuratorate.

The data flow is one-way, and the packages follow it (each may import only those above it
in this list; ``tests/test_layers.py`` enforces it):

``base`` (paths, errors) → ``model`` (schema, journeys) → ``store`` (snapshots, the audited
door) → ``ingest`` (exports → snapshots) · ``analysis`` (pure: frames in, tidy frames out) →
``present`` (sentences, tables, charts, access levels) → ``notebook`` (the API of report
templates) → ``run`` (runner, batch, CLI). ``synth`` (demo data) imports only ``base`` and
``model``; ``training`` sits on top.
"""

from casework import _legacy

__version__ = "0.1.0"

_legacy.install()
