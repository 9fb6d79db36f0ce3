"""RecLens — the navigation frame.

Every run draws the shared sidebar (data source, minimum count, user, k) once, runs the
selected page from ``pages/`` and writes the view into the URL once. Pages find the
loaded data in :func:`ui.core.sidebar.context`.
"""

from __future__ import annotations

import streamlit as st

from ui.core import navigation, sidebar, state

st.set_page_config(page_title="RecLens", page_icon=str(sidebar.ASSETS / "icon.svg"), layout="wide")
page = st.navigation(navigation.pages())
st.set_page_config(page_title=f"{page.title} · RecLens")
state.init()
sidebar.setup()
try:
    if sidebar.draw() is not None:
        page.run()
finally:
    state.write_url()
