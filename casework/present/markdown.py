"""Markdown safety for text built from data: the one escape every sentence builder uses.

Examples
--------
>>> escape_text("<script>alert(1)</script>")
'&lt;script&gt;alert\\\\(1\\\\)&lt;/script&gt;'
"""

from __future__ import annotations

import html as _html
import re

#: Markdown punctuation that would otherwise format text taken from the data.
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def escape_text(value) -> str:
    """Escape text for Markdown output: HTML special characters and Markdown punctuation.

    The result renders as the literal text: ``<script>`` shows as text, ``*`` is not emphasis,
    ``[x](javascript:…)`` is not a link.

    Examples
    --------
    >>> escape_text("A&B *x*")
    'A&amp;B \\\\*x\\\\*'
    >>> escape_text("O'Brien")  # quotes are plain text in Markdown: no entity to mangle
    "O'Brien"
    """
    # quote=False: an entity such as &#x27; would have its '#' escaped below and show literally
    text = _html.escape(str(value), quote=False)
    return MD_SPECIAL.sub(r"\\\1", text)
