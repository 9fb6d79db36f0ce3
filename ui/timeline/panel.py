"""Streamlit panels for the interest timeline and the population drift view.

``timeline_panel`` draws a user's stacked-area interest timeline (change points,
observed vs predicted), a date slider that replays the recommendations as of that date
(history truncated at the date — nothing later is used) beside the profile as of that
date, and the model's forecast. ``population_drift_panel`` shows who drifted lately and
the categories gaining and losing share. Heavy work is cached per dataset fingerprint.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from recsys.data.types import DataError, Dataset, History
from recsys.interests import (
    CategoryAssignment,
    PopulationDrift,
    Timeline,
    category_assignment,
    population_drift,
    replay,
    user_history,
    user_timeline,
)
from recsys.interests.changepoints import DEFAULT_ALPHA, DEFAULT_MIN_EFFECT
from recsys.models.base import Scorer, model_key
from ui.core.theme import category_colors
from ui.timeline.charts import (
    drift_distribution_figure,
    forecast_figure,
    population_drift_figure,
    timeline_colors,
    timeline_figure,
)

# change-point sensitivity: (significance level, minimum Jensen-Shannon divergence in bits)
SENSITIVITY: dict[str, tuple[float, float]] = {
    "conservative": (0.002, 0.25),
    "default": (DEFAULT_ALPHA, DEFAULT_MIN_EFFECT),
    "sensitive": (0.05, 0.08),
}


# ---- cached computations -----------------------------------------------------------------
@st.cache_resource(max_entries=8, show_spinner=False)
def _assignment(fingerprint: str, _ds: Dataset) -> CategoryAssignment:
    return category_assignment(_ds)


def assignment_for(ds: Dataset) -> CategoryAssignment:
    """The dataset's categories (or text topics), computed once per dataset."""
    return _assignment(ds.content_key, ds)


def _history_key(items: np.ndarray | None, ts: np.ndarray | None) -> str | None:
    if items is None:
        return None
    h = hashlib.sha1(np.asarray(items, dtype=np.int64).tobytes())
    if ts is not None:
        h.update(np.asarray(ts, dtype=np.int64).tobytes())
    return h.hexdigest()


def _model_key(scorer: Scorer | None) -> str | None:
    return None if scorer is None else model_key(scorer)


@st.cache_resource(max_entries=64, show_spinner=False)
def _timeline(
    fingerprint: str, user: int, hist_key: str | None, model_key: str | None, sensitivity: str,
    _ds: Dataset, _scorer: Scorer | None, _items: np.ndarray | None, _ts: np.ndarray | None,
) -> Timeline:
    who = user if user >= 0 else None  # -1: an anonymous (edited) profile
    alpha, min_effect = SENSITIVITY[sensitivity]
    return user_timeline(
        _ds, who, scorer=_scorer, history=_items, timestamps=_ts, assignment=assignment_for(_ds),
        alpha=alpha, min_effect=min_effect,
    )


@st.cache_resource(max_entries=64, show_spinner=False)
def _timeline_fig(
    fingerprint: str, user: int, hist_key: str | None, model_key: str | None, sensitivity: str, show_pred: bool,
    marker_ts: int | None, _tl: Timeline, _colors: dict[str, str],
) -> go.Figure:
    """The timeline figure for the cached :func:`_timeline` (same key) and display options:
    building it costs 0.1–0.2 s of plotly work. Shared and only read (``st.plotly_chart``
    serialises a copy)."""
    return timeline_figure(_tl, _colors, show_predicted=show_pred, marker_ts=marker_ts)


@st.cache_resource(max_entries=8, show_spinner=False)
def _population(fingerprint: str, recent: float, _ds: Dataset) -> PopulationDrift:
    return population_drift(_ds, assignment_for(_ds), recent=recent)


def _colors(ds: Dataset, tl: Timeline) -> dict[str, str]:
    return category_colors(ds.categories) if ds.categories else timeline_colors(tl)


def _to_dt(ts: int) -> datetime:
    return datetime.fromtimestamp(int(ts), tz=timezone.utc).replace(tzinfo=None)


def _slider_step(span_s: int) -> timedelta:
    for step in (60, 600, 3600, 6 * 3600, 86400, 7 * 86400):
        if span_s / step <= 400:
            return timedelta(seconds=step)
    return timedelta(days=30)


# ---- tables ---------------------------------------------------------------------------------
def profile_table(ds: Dataset, items: np.ndarray, ts: np.ndarray, last: int = 15) -> pd.DataFrame:
    """The most recent ``last`` interactions (newest first) for display."""
    sel = slice(max(0, len(items) - last), len(items))
    it, tt = np.asarray(items)[sel][::-1], np.asarray(ts)[sel][::-1]
    return pd.DataFrame(
        {
            "when": pd.to_datetime(tt, unit="s", utc=True),
            "title": [ds.titles[i] for i in it],
            "categories": [", ".join(ds.item_categories[i]) for i in it],
        }
    )


def recs_table(ds: Dataset, items: np.ndarray, scores: np.ndarray, now: set[int] | None = None) -> pd.DataFrame:
    """A recommendation list for display; ``now`` marks items also in today's list."""
    df = pd.DataFrame(
        {
            "rank": np.arange(1, len(items) + 1),
            "title": [ds.titles[i] for i in items],
            "categories": [", ".join(ds.item_categories[i]) for i in items],
            "score": np.round(np.asarray(scores, dtype=float), 3),
        }
    )
    if now is not None:
        df["still in today's list"] = ["✓" if int(i) in now else "" for i in items]
    return df


# ---- panels ----------------------------------------------------------------------------------
def timeline_panel(
    ds: Dataset, scorer: Scorer | None, user: str, history: History | None = None, *, k: int = 10, key: str = "tl",
) -> Timeline | None:
    """A user's interest timeline with a replay-as-of-date slider.

    ``user`` (an external id, or "" for an anonymous profile) picks the user; ``history``
    replaces the logged history, e.g. an edited profile; ``scorer`` (a model) adds
    predicted interest, a forecast and the replayed recommendations. Returns the
    (full-history) Timeline shown.
    """
    items_in = None if history is None else history.items
    ts_in = None if history is None else history.timestamps
    try:
        u = ds.user_index(user) if user else -1
        u, items, ts = user_history(ds, u if u >= 0 else None, items_in, ts_in)
    except DataError as e:
        st.error(f"Cannot draw the timeline: {e}")
        return None
    if items.size == 0:
        st.info("This history is empty: nothing to draw yet.")
        return None
    c1, c2 = st.columns([2, 3])
    with c1:
        sens = st.select_slider(
            "Change-point sensitivity", options=list(SENSITIVITY), value="default", key=f"{key}.sens",
            help="Conservative marks only large, very clear shifts; sensitive also marks smaller ones.",
        )
    with st.spinner("Computing the interest timeline…"):
        tl = _timeline(ds.content_key, u, _history_key(items_in, ts_in), _model_key(scorer), sens, ds, scorer,
                       items_in, ts_in)
    colors = _colors(ds, tl)

    first, last = int(ts[0]), int(ts[-1])
    as_of = last
    if last > first:
        ukey = f"{key}.asof.{ds.content_key[:8]}.{u}.{_history_key(items_in, ts_in) or 'log'}"
        picked = st.slider(
            "Replay as of", min_value=_to_dt(first), max_value=_to_dt(last), value=_to_dt(last),
            step=_slider_step(last - first), format="YYYY-MM-DD HH:mm", key=ukey,
            help="Recompute the recommendations from the history up to this date only.",
        )
        as_of = min(int(picked.replace(tzinfo=timezone.utc).timestamp()), last)
    replaying = as_of < last

    show_pred = True
    if scorer is not None and tl.predicted:
        with c2:
            show_pred = st.toggle("Show the model's predicted interest", value=True, key=f"{key}.pred")
    fig = _timeline_fig(ds.content_key, u, _history_key(items_in, ts_in), _model_key(scorer), sens, show_pred,
                        as_of if replaying else None, tl, colors)
    st.plotly_chart(fig, width="stretch", key=f"{key}.fig")
    cps = ", ".join(pd.to_datetime(c, unit="s", utc=True).strftime("%Y-%m-%d") for c in tl.change_points)
    st.caption(
        f"{tl.n_interactions} interactions in {len(tl.windows)} windows ({tl.params.get('window_unit')}); "
        + (f"interest shifted on {cps}." if cps else "no significant shift in interests.")
    )

    h_items, h_ts = items[ts <= as_of], ts[ts <= as_of]
    left, right = st.columns([3, 2])
    with left:
        when = pd.to_datetime(as_of, unit="s", utc=True).strftime("%Y-%m-%d %H:%M")
        st.markdown(f"**Recommendations as of {when}**" if replaying else "**Recommendations today**")
        if scorer is None:
            st.info("Train or load a model to replay its recommendations as of a date.")
        elif h_items.size == 0:
            st.info("No interactions yet at that date.")
        else:
            who = u if u >= 0 else None
            then = replay(scorer, ds, who, as_of, k, history=items, timestamps=ts)
            now_set = None
            if replaying:
                now = replay(scorer, ds, who, None, k, history=items, timestamps=ts)
                now_set = {int(i) for i in now.items}
            st.dataframe(recs_table(ds, then.items, then.scores, now_set), hide_index=True, width="stretch")
    with right:
        st.markdown(f"**Profile as of that date** ({h_items.size} interactions)")
        st.dataframe(
            profile_table(ds, h_items, h_ts), hide_index=True, width="stretch",
            column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")},
        )
    if scorer is not None and tl.forecast:
        st.plotly_chart(forecast_figure(tl, colors), width="stretch", key=f"{key}.fc")
    with st.expander("How is this computed?"):
        p = tl.params
        st.markdown(
            f"- **Windows**: {p.get('windowing')} windows of one {p.get('window_unit')}, category shares "
            f"smoothed with the neighbouring windows (weight {p.get('smooth')}), never across a change point.\n"
            f"- **Change points**: binary segmentation of the interaction sequence; a split is kept when a "
            f"permutation test ({p.get('n_perm')} shuffles) gives p ≤ {p.get('alpha')} and the category mixes "
            f"before and after differ by ≥ {p.get('min_effect')} bits of Jensen–Shannon divergence; at most "
            f"{p.get('max_change_points')}.\n"
            "- **Predicted interest**: the model's next-item distribution (softmax over unseen items) after "
            "each step of the history, summed by category; the forecast is the one after the last step.\n"
            f"- **Categories**: {'topics clustered from item texts' if p.get('categories_source') == 'topics' else 'the dataset categories'}."
        )
    return tl


def population_drift_panel(ds: Dataset, *, key: str = "drift", top: int = 20) -> PopulationDrift | None:
    """Share of users whose interests drifted in their last period, categories gaining
    and losing share, and the users who drifted most."""
    labels = {"last 10%": 0.1, "last 20%": 0.2, "last third": 1 / 3}
    choice = st.radio(
        "Last period of each user's history", list(labels), index=1, horizontal=True, key=f"{key}.recent",
        help="Each user's most recent interactions are compared with everything before.",
    )
    with st.spinner("Measuring drift over all users…"):
        try:
            pdr = _population(ds.content_key, labels[choice], ds)
        except DataError as e:
            st.error(f"Cannot measure drift: {e}")
            return None
    m = st.columns(3)
    m[0].metric("Users assessed", f"{pdr.n_assessed:,}", help=f"at least {pdr.params['min_interactions']} interactions")
    m[1].metric("Drifted lately", f"{pdr.n_drifted:,}")
    m[2].metric("Share drifted", f"{pdr.share_drifted:.0%}")
    colors = category_colors(ds.categories) if ds.categories else None
    c1, c2 = st.columns(2)
    with c1:
        st.plotly_chart(population_drift_figure(pdr, colors), width="stretch", key=f"{key}.cats")
    with c2:
        st.plotly_chart(drift_distribution_figure(pdr), width="stretch", key=f"{key}.hist")
    j = pdr.to_json(ds, top=top)
    df = pd.DataFrame(j["top_drifters"])
    if len(df):
        df = df.rename(columns={"js": "JS divergence (bits)", "p_value": "p-value"})
        st.markdown("**Users who drifted most**")
        st.dataframe(df, hide_index=True, width="stretch")
    return pdr
