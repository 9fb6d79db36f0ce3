"""The live view (issue 21): the Live page and the User explorer's live panel.

Live mode is off by default, so a page that is not following a stream goes idle. Once
switched on, ``st.fragment(run_every=RUN_EVERY_S)`` reruns only the live part every half
second: it polls the event log's tail (one ``stat`` when nothing was appended; only the
new segments otherwise, :func:`ui.live.logic.poll`), re-scores the followed user's list
when they have a new event, and shows the rank moves against the previous list with the
new event's leave-one-out effect on the items that moved. A second fragment redraws the
plotly part every two seconds — the effect bars and the user's growing interest timeline —
so the half-second tick sends only tables and text. Everything a view remembers (the
tail, the previous list) lives in this session's state (:mod:`ui.live.session`).

Why 0.5 s: an event becomes visible after at most one poll interval plus the scoring
and the redraw (tens of milliseconds on ML-100K), so the worst case stays under the
one-second target with room for a loaded machine; polling costs one ``stat`` per tick.
"""

from __future__ import annotations

import json
import shlex
from datetime import datetime, timezone

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.replays import ReplayBase, origin_of, replays_of
from recsys.data.types import DataError, Dataset
from recsys.interests import user_timeline
from recsys.models.base import Scorer
from ui.core import loaders, policy, state
from ui.core.components import empty_state
from ui.core.sidebar import PageContext
from ui.core.text import md
from ui.live import charts, logic
from ui.live.session import MODE, MODES, PAGE_ON, PANEL_ON, LiveState, live_state
from ui.timeline.charts import timeline_figure
from ui.timeline.panel import assignment_for


def _when(ts: int | None) -> str:
    if ts is None:
        return "–"
    try:
        return datetime.fromtimestamp(int(ts), tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    except (OverflowError, OSError, ValueError):
        return f"{ts} s"


def _data_arg(src: str) -> str:
    return shlex.quote(policy.source_display(src) if policy.demo_mode() else src)


# ---- the empty state and replays ------------------------------------------------------------
def feed_commands(ds: Dataset, src: str, user: str, item: str | None) -> str:
    """The exact command lines that feed this source's event log (and a replay of it)."""
    data = _data_arg(src)
    last = int(ds.timestamp.max()) if ds.n_interactions else 0
    item = item or (ds.item_ids[int(np.argmax(ds.item_popularity))] if ds.n_items else "ITEM")
    line = json.dumps({"user_id": user, "item_id": item, "timestamp": last + 3600})
    split = _when(int(np.quantile(ds.timestamp, 0.9)) if ds.n_interactions else None)[:10]
    return (
        "# one event for this user, as a JSON line on standard input\n"
        f"echo {shlex.quote(line)} | reclens ingest --data {data} --events -\n"
        "# a batch: a CSV or Parquet file with user_id,item_id,timestamp[,rating]\n"
        f"reclens ingest --data {data} --events new_events.csv\n"
        "# or replay the last tenth of this source as a stream (an hour of history per second)\n"
        f"reclens replay --data {data} --split {split} --speed 3600x"
    )


def _open_replay(path: str) -> None:
    state.set_data_source(path)


def replays_panel(src: str, ds: Dataset) -> None:
    """On a source that was replayed: a button to open each replay base. On a replay base:
    where it came from and how far the replay got."""
    origin = origin_of(src) if not src.startswith("upload:") else None
    if origin is not None:
        mark = next((r for r in replays_of(origin) if r.path.rstrip("/") == src.rstrip("/")), None)
        if mark is not None:
            done = ds.log.events if ds.log is not None else 0
            st.caption(f"Replay of **{md(policy.source_display(origin))}** from {_when(mark.split)[:10]}: "
                       f"{done:,} of {mark.replay_events:,} events replayed when this page loaded.")
        return
    bases: list[ReplayBase] = replays_of(src) if not src.startswith("upload:") else []
    for r in bases[:3]:
        st.button(f"Watch the replay of this source from {_when(r.split)[:10]} "
                  f"({r.replay_events:,} events after {r.base_events:,})", key=f"w.live_replay.{r.path}",
                  on_click=_open_replay, args=(r.path,), type="primary", icon=":material/play_circle:")


# ---- one tick --------------------------------------------------------------------------------
def _newest(s: LiveState, log_dir: str, tail: logic.Tail) -> pd.DataFrame:
    if s.newest is not None and s.newest[0] == tail.stamp:
        return s.newest[1]
    df = logic.newest_events(log_dir)
    s.newest = (tail.stamp, df)
    return df


def _follow(s: LiveState, ds: Dataset, model: Scorer, tail: logic.Tail, who: str, k: int) -> logic.Follow:
    """The followed user's state, started from the log position this view saw last (so
    their events since then count as new), re-scored when their history grew."""
    f = s.follow
    if f is None or f.user != who or f.k != k:
        f = s.follow = logic.start(model, ds, tail, who, k, since=s.seen)
        s.timeline = None
    logic.advance(f, model, ds, tail)
    return f


def _list_block(ds: Dataset, f: logic.Follow) -> None:
    ch = f.last
    st.markdown(f"**Top {f.k} for user {md(f.user)}** · list #{f.revision}")
    if ch is None:
        st.table(pd.DataFrame({"rank": np.arange(1, len(f.items) + 1),
                               "title": [ds.titles[ds.item_index(x)] if ds.has_item(x) else x for x in f.items]})
                 .set_index("rank"))
        st.caption("Waiting for a new event of this user: the list is re-scored on each one.")
        return
    st.table(logic.moves_table(f, ch).set_index("rank"))
    cause = "; ".join(f"{md(ds.titles[ds.item_index(i)] if ds.has_item(i) else i + ' (new item)')} at {_when(t)}"
                      for i, t in ch.events[-logic.MAX_ATTRIBUTED_EVENTS:])
    st.caption(f"{logic.moved_count(ch)} rank move(s) caused by {len(ch.events)} new event(s): {cause}. "
               f"Re-scored in {ch.score_ms:.0f} ms; the new event's effect (its leave-one-out change of each "
               f"moved item's log-probability) in {ch.attribution_ms:.0f} ms.")


def _tick(ds: Dataset, model: Scorer, user: str, k: int, src: str, log_dir: str, view: str, stream: bool,
          compact: bool) -> None:
    """One run of the live fragment (see the module docstring)."""
    s = live_state(view)
    try:
        tail = logic.poll(ds, log_dir, s.tail)
    except DataError as e:
        st.error(f"Cannot read the event log: {md(e)}")
        return
    if tail.stale or tail.too_long:  # the log was emptied, or the tail grew long: reload the data once
        s.tail, s.follow = None, None
        st.rerun()
    s.tail = tail
    s.ticks += 1
    m = st.columns(4)
    m[0].metric("Events in the log", f"{tail.end:,}")
    m[1].metric("Newest event", _when(tail.last_timestamp)[:16], help=f"{_when(tail.last_timestamp)} UTC")
    m[2].metric("New since the page loaded", f"{len(tail.events):,}")
    if tail.end == 0:
        s.seen = 0
        empty_state("No events yet", "Live mode is on and watching this source's event log. Feed it from a "
                    "terminal with one of the commands below; new events appear here within a second.")
        f = _follow(s, ds, model, tail, user, k)  # its top item makes the example move the list
        st.code(feed_commands(ds, src, user, f.items[0] if f.items else None), language="bash")
        return
    newest = _newest(s, log_dir, tail)
    who = user
    if stream and len(newest):
        who = str(newest["user_id"].iloc[0])
    f = _follow(s, ds, model, tail, who, k)
    s.seen = tail.end
    m[3].metric("Following", f.user, help="the user of the newest event" if stream else "the sidebar's user")
    if compact:
        _list_block(ds, f)
        mine = pd.DataFrame(newest[newest["user_id"].astype(str).to_numpy() == f.user])
        if len(mine):
            st.markdown("**This user's newest events**")
            st.table(logic.events_table(ds, mine).set_index("#"))
        return
    left, right = st.columns([3, 2])
    with left:
        _list_block(ds, f)
    with right:
        st.markdown("**Newest events**")
        st.table(logic.events_table(ds, newest).set_index("#"))


def _slow_tick(ds: Dataset, view: str, compact: bool) -> None:
    """The plotly part, every 2 s (off the 0.5 s path of the list): the latest change's
    effect bars (not in the compact panel) and the followed user's interest timeline,
    recomputed when their history grew."""
    s = live_state(view)
    f, tail = s.follow, s.tail
    if f is None or tail is None:
        return
    if not compact and f.last is not None:
        fig = charts.effect_figure(f.last)
        if fig is not None:
            st.plotly_chart(fig, width="stretch", key=f"{view}.effect")
    key = (f.user, f.revision, ds.content_key)
    if s.timeline is None or s.timeline[0] != key:
        h, _ = logic.live_history(ds, tail, f.user)
        if len(h) < 2:
            return
        tl = user_timeline(ds, ds.user_index(f.user) if ds.has_user(f.user) else None, history=h.items,
                           timestamps=h.timestamps, assignment=assignment_for(ds))
        s.timeline = (key, timeline_figure(tl, show_predicted=False, height=320,
                                           title=f"Interests of user {f.user} as the events arrive"))
    st.plotly_chart(s.timeline[1], width="stretch", key=f"{view}.timeline")


# ---- the views ----------------------------------------------------------------------------------
def _log_dir(ctx: PageContext) -> str:
    return str(loaders.source_log_dir(ctx.source, ctx.min_count or None, state.tie_order(ctx.source)))


def live_page(ctx: PageContext, model: Scorer) -> None:
    """The Live page: the toggle, whom to follow, the live fragment and the timeline."""
    c1, c2 = st.columns([1, 2])
    with c1:
        on = st.toggle("Live mode", key=PAGE_ON, value=False,
                       help=f"Polls this source's event log every {logic.RUN_EVERY_S:g} s and re-scores the "
                       "followed user's list on each new event of theirs. Off: the page stays idle.")
    with c2:
        mode = st.radio("Follow", MODES, key=MODE, horizontal=True, disabled=not on)
    if not on:
        n = ctx.ds.log.events if ctx.ds.log is not None else 0
        st.info(f"Live mode is off. This source's event log holds {n:,} event(s)"
                + (f", the newest at {_when(ctx.ds.log.last_timestamp)}" if ctx.ds.log is not None else "")
                + ". Switch live mode on to watch new events arrive and the lists move.", icon=":material/sensors_off:")
        if n == 0:
            st.code(feed_commands(ctx.ds, ctx.source, ctx.user, None), language="bash")
        return
    stream = mode == MODES[1]
    log_dir = _log_dir(ctx)
    st.fragment(run_every=logic.RUN_EVERY_S)(_tick)(ctx.ds, model, ctx.user, ctx.k, ctx.source, log_dir, "page",
                                                    stream, False)
    st.fragment(run_every=logic.TIMELINE_EVERY_S)(_slow_tick)(ctx.ds, "page", False)


def live_panel(ctx: PageContext, model: Scorer) -> None:
    """The User explorer's live panel: this user's list and newest events, live."""
    st.subheader("Live")
    on = st.toggle("Follow this user's new events live", key=PANEL_ON, value=False,
                   help="Polls the event log every half second and re-scores this user's list on each new "
                   "event of theirs (the Live page also follows the whole stream).")
    if not on:
        return
    st.fragment(run_every=logic.RUN_EVERY_S)(_tick)(ctx.ds, model, ctx.user, ctx.k, ctx.source, _log_dir(ctx),
                                                    "explorer", False, True)
    st.fragment(run_every=logic.TIMELINE_EVERY_S)(_slow_tick)(ctx.ds, "explorer", True)
