"""Long-term lab: run the feedback-loop simulation (:mod:`recsys.simulate`) from the
dashboard in the background and show its curves.

* :mod:`ui.simulate.logic` — run settings and their cache key, the long result table,
  CSV and case-file export, one user's real vs simulated timeline (no streamlit).
* :mod:`ui.simulate.jobs` — the per-server job registry: one simulation at a time, in a
  background thread, results cached per (data, model, settings).
* :mod:`ui.simulate.charts` — plotly builders (no streamlit).
* :mod:`ui.simulate.panel` — the page's widgets.
"""
