"""Pure analysis: frames (or store relations handed in by the caller) in, tidy frames out.

No printing, no file paths, no formatting, no charts: analysis never imports
:mod:`casework.store`, :mod:`casework.present`, :mod:`casework.notebook` or :mod:`casework.run`
(``tests/test_layers.py`` enforces this)."""
