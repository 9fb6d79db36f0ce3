"""Interests: how a user's taste evolves. No streamlit here.

* :func:`user_timeline` -> :class:`Timeline`: observed category shares per window
  (smoothed), change points, the model's predicted interest and a forecast, optionally
  as of a date; :func:`replay` gives the recommendations as of a date.
* :func:`population_drift` -> :class:`PopulationDrift`: share of users whose interests
  drifted in their last period, categories gaining and losing share.
* :func:`category_assignment` -> :class:`CategoryAssignment`: the dataset's categories,
  or topics clustered from the item text embeddings when it has none.
"""

from recsys.interests.categories import (
    CategoryAssignment,
    category_assignment,
    dataset_assignment,
    topic_assignment,
)
from recsys.interests.changepoints import ChangePoint, detect_change_points, js_divergence
from recsys.interests.population import CategoryShift, PopulationDrift, population_drift
from recsys.interests.timeline import (
    Prediction,
    Timeline,
    Window,
    history_as_of,
    replay,
    user_history,
    user_timeline,
)

__all__ = [
    "CategoryAssignment", "CategoryShift", "ChangePoint", "PopulationDrift", "Prediction", "Timeline",
    "Window", "category_assignment", "dataset_assignment", "detect_change_points", "history_as_of",
    "js_divergence", "population_drift", "replay", "topic_assignment", "user_history", "user_timeline",
]
