"""The navigation frame that ``app.py`` runs on every script run.

It registers the pages with ``st.navigation``, draws the shared sidebar (data source,
minimum count, user, k) once, runs the selected page from ``pages/`` and writes the
view into the URL once (also when the page stops early).

Until the first ``st.navigation`` call of a server process, Streamlit still treats
``pages/`` as its legacy pages folder: the very first request for, say,
``/recommendations`` after a restart runs ``pages/recommendations.py`` directly instead
of ``app.py``. :func:`ui.core.sidebar.context` notices that (no frame around the page)
and runs the frame from inside the page, which then resolves the same page normally.

With ``RECSYS_ACCESS_TOKEN`` set, a session sees nothing but a "this link needs an
access token" message until its link carried the token once (:func:`_access_granted`).
"""

from __future__ import annotations

import streamlit as st

from ui.core import access, navigation, policy, sidebar, state


def _access_granted() -> bool:
    """Without ``RECSYS_ACCESS_TOKEN``: always. With it: once this session's link carried
    ``?token=<the token>`` (constant-time comparison); the token is then kept in the
    session state and removed from the URL, so copied links do not spread it."""
    given = st.query_params.get("token")
    if given is not None:
        del st.query_params["token"]
    expected = policy.access_token()
    if expected is None or st.session_state.get(state.ACCESS_OK):
        return True
    if access.token_ok(given, expected):
        st.session_state[state.ACCESS_OK] = True
        return True
    return False


def run() -> None:
    st.set_page_config(page_title="RecLens", page_icon=str(sidebar.ASSETS / "icon.svg"), layout="wide")
    if not _access_granted():
        st.navigation(navigation.pages(), position="hidden")  # registered, none of them runs
        st.title("RecLens")
        st.info(access.TOKEN_NEEDED, icon=":material/lock:")
        return
    if policy.demo_mode() and st.get_option("client.showErrorDetails") != "type":
        st.set_option("client.showErrorDetails", "type")  # a traceback would name server files
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
