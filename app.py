"""RecLens — start with ``streamlit run app.py``.

The entry point is the navigation frame (:mod:`ui.core.frame`): ``st.navigation`` over
the pages in ``pages/``, the shared sidebar (data source, minimum count, user, k) drawn
once, the selected page, and the view written into the URL once per run. Pages find the
loaded data in :func:`ui.core.sidebar.context`.
"""

from __future__ import annotations

from ui.core import frame

frame.run()
