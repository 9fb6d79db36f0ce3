"""Long-term effects: simulate the recommend → choose → drift feedback loop over rounds.

Typical use::

    res = simulate(ds, model, SimConfig(rounds=20, users=600, weights=Weights(diversity=0.5)))
    res.policies["model"].rounds[-1]["homogenization"]
    res.to_json()                                    # the ``simulate --json`` object

:mod:`recsys.simulate.engine` runs the loop and measures it,
:mod:`recsys.simulate.choice` is the users' choice model and
:mod:`recsys.simulate.preference` their true (drifting) preferences,
:mod:`recsys.simulate.world` one policy's copy of the users and the pairwise overlaps. No streamlit here.
"""

from recsys.simulate.choice import ChoiceModel, position_weights
from recsys.simulate.engine import (
    DEFAULT_POLICIES,
    POLICIES,
    ROUND_METRICS,
    PolicyRun,
    SimConfig,
    SimulationResult,
    final_values,
    pick_users,
    simulate,
)
from recsys.simulate.preference import (
    DEFAULT_DRIFT,
    PREFERENCE_KINDS,
    Preferences,
    build_preferences,
    demo_truth_preferences,
    ease_preferences,
)
from recsys.simulate.world import World, topk_masked, user_pairs

__all__ = [
    "DEFAULT_DRIFT",
    "DEFAULT_POLICIES",
    "POLICIES",
    "PREFERENCE_KINDS",
    "ROUND_METRICS",
    "ChoiceModel",
    "PolicyRun",
    "Preferences",
    "SimConfig",
    "SimulationResult",
    "build_preferences",
    "demo_truth_preferences",
    "ease_preferences",
    "final_values",
    "pick_users",
    "position_weights",
    "simulate",
    "topk_masked",
    "user_pairs",
    "World",
]
