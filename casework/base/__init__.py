"""Foundations every layer may import: paths (:mod:`config`), the bilingual project
exception and the shared argument checks (:mod:`errors`)."""
