"""The Recommendations page's "Compare models for this user" section (streamlit glue).

Nothing is computed until the analyst turns the comparison on: then EASE, ItemKNN and
MostPopular are fitted once per dataset (``st.cache_resource`` keyed by the dataset
fingerprint, shared across sessions and only read) exactly as ``reclens evaluate`` and
``reclens recommend --compare`` fit them — on every interaction before each user's test
item — and the user's lists under every model come from
:func:`recsys.evaluation.compare.compare_user`. The section is a fragment: turning it on
or off reruns only this section, not the explanations above it.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from recsys.data.types import DataError, Dataset
from recsys.evaluation.compare import (
    FIT_NOTE,
    NO_ABLATION,
    Comparison,
    FittedBaselines,
    collect_models,
    compare_user,
    fit_baselines,
)
from recsys.models.base import Scorer, model_key
from ui.compare import charts, logic
from ui.core import components, loaders, policy, state
from ui.core.text import md

TITLE = "Compare models for this user"


@st.cache_resource(max_entries=2, show_spinner="Fitting EASE, ItemKNN and MostPopular once for this dataset…")
def baselines(fingerprint: str, _ds: Dataset) -> FittedBaselines:
    """The compared baselines of a dataset, fitted once per process (read-only)."""
    return fit_baselines(_ds)


@st.cache_resource(max_entries=2, show_spinner="Loading the no-text ablation…")
def _load_ablation(model_dir: str, fingerprint: str, _ds: Dataset) -> Scorer:
    from recsys.models.transformer import TransformerRecommender

    return TransformerRecommender.load(model_dir, _ds)


def ablation(ds: Dataset) -> Scorer | str:
    """The open artifact's ``no_text/`` ablation, or why there is none to compare."""
    loc = loaders.locate_model(ds)
    d = Path(loc.path) / "no_text"
    if not d.is_dir():
        pending = loaders.read_evaluation(str(loc.path)).get("pending") or []
        if "transformer_no_text" in pending:
            return "the no-text ablation is still training in the background (reload the page later)"
        return NO_ABLATION
    try:
        return _load_ablation(str(d), ds.content_key, ds)
    except DataError as e:
        return "the no_text/ model cannot be loaded" + ("" if policy.demo_mode() else f" ({e})")


@st.cache_resource(max_entries=64, show_spinner="Scoring this user with every model…")
def _comparison(fingerprint: str, mkey: str, akey: str, user: str, k: int,
                _ds: Dataset, _model: Scorer, _no_text: Scorer | str) -> Comparison:
    """One user's comparison (shared across sessions, only read)."""
    fitted = baselines(fingerprint, _ds)
    models, skipped = collect_models(_model, _no_text, fitted)
    return compare_user(models, _ds.history(user), k, skipped=skipped, split=fitted.split,
                        user_index=_ds.user_index(user))


def comparison(ds: Dataset, model: Scorer, user: str, k: int) -> Comparison:
    """The comparison for ``user``'s full history and list length ``k`` (cached)."""
    no_text = ablation(ds)
    akey = no_text if isinstance(no_text, str) else model_key(no_text)
    return _comparison(ds.content_key, model_key(model), akey, user, k, ds, model, no_text)


@st.fragment
def compare_section(ds: Dataset, model: Scorer, user: str, k: int) -> None:
    """The section: a toggle, then the lists side by side, every item's place in each
    model's ranking, the overlap heatmap and the held-out item."""
    st.subheader(TITLE)
    on = st.toggle("Show the comparison", key=state.COMPARE_ON, persist_state="session",
                   help="Fits EASE, ItemKNN and MostPopular once for this dataset (cached afterwards).")
    if not on:
        st.caption("Turn on to see this user's lists under the transformer, its no-text ablation, EASE, "
                   "ItemKNN and MostPopular side by side — computed on demand, cached afterwards.")
        return
    comp = comparison(ds, model, user, k)
    st.caption(f"Each model's own order for the same history, seen items excluded (re-ranking weights do not "
               f"apply here); {FIT_NOTE}.")
    for note in logic.skipped_notes(comp):
        st.info(note, icon=":material/info:")
    st.dataframe(logic.side_by_side(ds, comp), hide_index=True)
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.markdown("**Every listed item's place in each model's full ranking**")
        st.dataframe(logic.rank_frame(ds, comp), hide_index=True,
                     column_config={"title": st.column_config.TextColumn(width="medium")})
    with right:
        st.plotly_chart(charts.overlap_heatmap(logic.overlap_frame(comp), k))
    _held_out(ds, comp, user)


def _held_out(ds: Dataset, comp: Comparison, user: str) -> None:
    frame = logic.held_out_frame(comp)
    h = comp.held_out
    if frame is None or h is None:
        components.empty_state(
            "No held-out item for this user",
            f"User {user} has fewer than 3 interactions, so the leave-one-out evaluation does not hold out "
            "an item for them.")
        return
    st.markdown(f"**Held-out test item:** {md(ds.titles[h.item])} ({md(ds.item_ids[h.item])}) — where it lands "
                f"in each model's full ranking when the models score the history without it "
                f"({h.history_length} items); the rank the Evaluation page averages.")
    st.dataframe(frame, hide_index=True)
