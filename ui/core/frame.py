"""The navigation frame that ``app.py`` runs on every script run.

It registers the pages with ``st.navigation``, draws the shared sidebar (data source,
minimum count, user, k) once, runs the selected page from ``pages/`` and writes the
view into the URL once (also when the page stops early).

Until the first ``st.navigation`` call of a server process, Streamlit still treats
``pages/`` as its legacy pages folder: the very first request for, say,
``/recommendations`` after a restart runs ``pages/recommendations.py`` directly instead
of ``app.py``. :func:`ui.core.sidebar.context` notices that (no frame around the page)
and runs the frame from inside the page, which then resolves the same page normally.
"""

from __future__ import annotations

import streamlit as st

from ui.core import navigation, sidebar, state


def run() -> None:
    st.set_page_config(page_title="RecLens", page_icon=str(sidebar.ASSETS / "icon.svg"), layout="wide")
    page = st.navigation(navigation.pages())
    st.set_page_config(page_title=f"{page.title} · RecLens")
    state.init()
    sidebar.setup()
    st.session_state[state.IN_FRAME] = True
    try:
        if sidebar.draw() is not None:
            page.run()
    finally:
        st.session_state.pop(state.IN_FRAME, None)
        state.write_url()
