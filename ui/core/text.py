"""Data text made safe for HTML and markdown (no streamlit: chart builders and the case
file use it too). Every title, tag, id or uploaded name goes through one of these."""

from __future__ import annotations

import html
import re
from typing import Any

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~$])")


def esc(x: Any) -> str:
    """HTML-escape any data text (titles, tags, ids, uploaded content)."""
    return html.escape(str(x), quote=True)


def md(x: Any) -> str:
    """Data text made safe for st.markdown/st.subheader: markdown characters are
    backslash-escaped and HTML angle brackets/ampersands become entities, so titles
    such as ``<b>x</b>`` or ``*y*`` show literally."""
    s = html.escape(str(x), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)
