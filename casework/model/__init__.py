"""The data model: canonical tables and columns, code tables, labels and sensitivity
(:mod:`schema`), and the derived one-row-per-person journeys (:mod:`journeys`).
Imports only :mod:`casework.base`."""
