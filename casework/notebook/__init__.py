"""The API report templates call: typed parameters (:mod:`params`) and the page helpers
(:mod:`page`: load through the store, show tables and figures, provenance)."""
