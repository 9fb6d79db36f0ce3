"""Shared widgets: page setup, data-source picker, user/item pickers, model gate,
empty states and headers. Every data text shown through HTML is escaped here."""

from __future__ import annotations

import html
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from recsys.data.types import DataError, Dataset
from ui import loaders, state
from ui.theme import category_colors

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "assets"
ML100K = ROOT.parent / "shared" / "data" / "ml-100k"

PAGES = {
    "home": ("app.py", "Home", ":material/home:"),
    "users": ("pages/1_User_explorer.py", "User explorer", ":material/person_search:"),
    "recs": ("pages/2_Recommendations.py", "Recommendations", ":material/star:"),
    "lab": ("pages/3_Fairness_lab.py", "Fairness lab", ":material/balance:"),
    "whatif": ("pages/4_What-if_studio.py", "What-if studio", ":material/science:"),
    "item": ("pages/5_Item_view.py", "Item view", ":material/category:"),
    "eval": ("pages/6_Evaluation.py", "Evaluation", ":material/analytics:"),
}


@dataclass(frozen=True)
class PageContext:
    ds: Dataset
    source: str
    min_count: int | None = None  # the N-core filter applied to the source


def esc(x: Any) -> str:
    """HTML-escape any data text (titles, tags, ids, uploaded content)."""
    return html.escape(str(x), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~$])")


def md(x: Any) -> str:
    """Data text made safe for st.markdown/st.subheader: markdown characters are
    backslash-escaped and HTML angle brackets/ampersands become entities, so titles
    such as ``<b>x</b>`` or ``*y*`` show literally."""
    s = html.escape(str(x), quote=False)
    return _MD_SPECIAL.sub(r"\\\1", s)


def page_link(page: str, label: str | None = None) -> None:
    path, name, icon = PAGES[page]
    st.page_link(path, label=label or name, icon=icon)


def empty_state(title: str, body: str, link: str | None = None) -> None:
    """A friendly box for 'nothing to show yet' with an optional way out."""
    st.markdown(
        f'<div class="rl-empty"><h4>{esc(title)}</h4><div>{esc(body)}</div></div>',
        unsafe_allow_html=True,
    )
    if link:
        page_link(link)


def category_chips(cats: tuple[str, ...] | list[str], colors: dict[str, str]) -> str:
    """Coloured category pills as escaped HTML."""
    return "".join(
        f'<span class="rl-chip" style="background:{colors.get(c, "#999")}">{esc(c)}</span>' for c in cats
    )


def _css() -> None:
    try:
        css = (ASSETS / "style.css").read_text(encoding="utf-8")
    except OSError:
        return
    st.markdown(f"<style>{css}</style>", unsafe_allow_html=True)


def setup_page(title: str, icon: str = "🔎") -> None:
    """Page config, house style and logo, state sync (call first on every page)."""
    st.set_page_config(page_title=f"{title} · RecLens", page_icon=str(ASSETS / "icon.svg"), layout="wide")
    _css()
    if (ASSETS / "logo.svg").is_file():
        st.logo(str(ASSETS / "logo.svg"), icon_image=str(ASSETS / "icon.svg"))
    _navigation()
    state.init_page()
    _serving_threads()


def _navigation() -> None:
    """The sidebar's page list, with names and icons (Streamlit's own list would call
    the home page "app", after its file; it is switched off in .streamlit/config.toml)."""
    with st.sidebar:
        for page in PAGES:
            page_link(page)
        st.divider()


def _serving_threads() -> None:
    """One torch thread for this script run: scoring and explanations use small batches,
    where one thread is fastest (training sets its own count, see recsys.runtime)."""
    try:
        from recsys.runtime import serving_threads, set_threads

        set_threads(serving_threads())
    except ImportError:  # no torch in this build: nothing to tune
        pass


def header(title: str, ctx: PageContext | None = None, subtitle: str | None = None) -> None:
    st.title(title)
    parts = []
    if ctx is not None:
        parts.append(f"Data: <b>{esc(loaders.source_label(ctx.source, ctx.min_count))}</b>")
        parts.append(f"{ctx.ds.n_users:,} users · {ctx.ds.n_items:,} items · {ctx.ds.n_interactions:,} interactions")
    if subtitle:
        parts.append(esc(subtitle))
    if parts:
        st.markdown(f'<div class="rl-context">{" · ".join(parts)}</div>', unsafe_allow_html=True)


# ---- data source ---------------------------------------------------------------------------
def _named_sources() -> list[str]:
    names = ["demo", "demo-small"]
    start = state.default_source()
    if start not in names:
        names.insert(0, start)
    if (ML100K / "u.data").is_file() and str(ML100K) not in names:
        names.append(str(ML100K))
    cur = state.data_source()
    if cur not in names and not cur.startswith("upload:"):
        names.append(cur)
    return names


def _on_named_source() -> None:
    src = st.session_state.get("w.source")
    if src:
        state.set_data_source(src)


def _on_path() -> None:
    p = (st.session_state.get("w.path") or "").strip()
    if p:
        state.set_data_source(p)


def _on_min_count() -> None:
    state.set_min_count(st.session_state.get("w.min_count"))


def data_source_picker() -> None:
    """Sidebar: named sources, a path box and a browser upload (several files or a zip)."""
    with st.sidebar.expander("Data source", expanded=False):
        names = _named_sources()
        cur = state.data_source()
        labels = {"demo": "Demo world", "demo-small": "Demo world (small)", str(ML100K): "MovieLens-100K (shared)"}
        if cur.startswith("upload:"):
            st.caption("Using **uploaded files** (not part of the shareable URL).")
        st.session_state["w.source"] = cur if cur in names else None
        st.selectbox(
            "Dataset", names, key="w.source", format_func=lambda s: labels.get(s, s), on_change=_on_named_source,
            placeholder="uploaded files",
        )
        st.text_input(
            "…or a path on this machine", key="w.path", on_change=_on_path,
            help="A MovieLens-100K or MovieLens 'latest' directory, a directory with interactions.csv/"
            ".parquet (+ items.csv, users.csv), or the interactions file itself. Press Enter to open.",
        )
        files = st.file_uploader(
            "…or upload files (several at once, or one .zip)", accept_multiple_files=True, key="w.upload",
            type=["csv", "parquet", "zip", "data", "item", "user", "genre", "tsv", "dat", "txt"],
        )
        if files and st.button("Use uploaded files", key="w.upload_go", type="primary"):
            try:
                res, d = loaders.save_uploads(files, st.session_state.get(state.UPLOAD_DIR))
                st.session_state[state.UPLOAD_DIR] = d
                loaders.load_dataset(res.source)  # validate now, so errors show here
            except DataError as e:
                st.error(f"Upload refused: {e}")
            else:
                state.set_data_source(res.source)
                st.rerun()
        st.divider()
        st.session_state["w.min_count"] = state.min_count() or 0
        st.number_input(
            "Minimum interactions per user and item", min_value=0, max_value=state.MIN_COUNT_MAX, step=1,
            key="w.min_count", on_change=_on_min_count,
            help="Iterative N-core filter, as `python -m recsys train --min-count N`: users and items with fewer "
            "interactions are dropped, repeatedly, until every one left has at least N. 0 = all interactions. 5 is the usual benchmark "
            "setting; it makes training on a large catalogue of rarely rated items much faster, and a model "
            "trained with the same filter on the command line opens directly.",
        )


def load_context() -> PageContext | None:
    """Sidebar picker + the selected dataset. On bad input shows the DataError as a
    readable message (never a traceback), offers the demo world, returns None."""
    data_source_picker()
    src, n = state.data_source(), state.min_count()
    try:
        ds = loaders.load_dataset(src, n)
    except (DataError, OSError, ValueError) as e:  # OSError/ValueError: defensive, loaders raise DataError
        st.error(f"Could not load **{esc(loaders.source_label(src, n))}**: {esc(e)}")
        if n and st.button("Use all interactions (no minimum count)", key="w.drop_min_count"):
            state.set_min_count(None)
            st.rerun()
        if st.button("Back to the demo world", key="w.back_demo"):
            state.set_data_source("demo")
            st.rerun()
        state.write_url()
        return None
    for w in ds.warnings[:3]:
        st.sidebar.caption(f"Warning: {md(w)}")
    return PageContext(ds=ds, source=src, min_count=n)


# ---- model gate ----------------------------------------------------------------------------
def model_gate(ds: Dataset, *, train_if_missing: bool = True) -> Any | None:
    """The trained model for ``ds``. Without an artifact it trains one right here with a
    progress bar (≤ 200k interactions automatically, else after a click)."""
    loc = loaders.locate_model(ds)
    if loc.note:
        st.caption(loc.note)
    if loc.exists:
        try:
            model = loaders.load_model(str(loc.path), ds.fingerprint, ds)
        except DataError as e:
            st.error(f"The stored model at `{esc(loc.path)}` cannot be used: {esc(e)}")
            if loc.explicit or not st.button("Train a fresh model", key="w.retrain"):
                return None
        except ImportError as e:
            st.warning(f"The recommender is not available in this build ({esc(e)}).")
            return None
        else:
            loaders.start_ablation(ds, loc.path)  # resumes an app-trained artifact's pending ablation
            return model
    if not train_if_missing:
        empty_state("No model yet", "No trained model for this dataset yet — open Home to train one.", "home")
        return None
    _rare_items_hint(ds)
    big = ds.n_interactions > loaders.AUTO_TRAIN_MAX_INTERACTIONS
    if big:
        st.warning(
            f"No trained model for this dataset yet. It has {ds.n_interactions:,} interactions "
            f"(more than {loaders.AUTO_TRAIN_MAX_INTERACTIONS:,}), so training may take a while."
        )
        if not st.button("Train the model now", key="w.train_big", type="primary"):
            return None
    return _train_here(ds, loc.path, state.min_count())


def _rare_items_hint(ds: Dataset, n: int = 5) -> None:
    """Before training on a large catalogue that is mostly rarely rated items, point at
    the N-core filter (every such item widens the softmax and slows each epoch)."""
    rare = loaders.rare_items(ds, n)
    if ds.n_items >= 2000 and rare >= 0.3 * ds.n_items:
        st.info(
            f"{rare:,} of the {ds.n_items:,} items have fewer than {n} interactions. To train on the {n}-core "
            f"instead (fewer items, much faster; what the benchmarks use), set **Minimum interactions per user "
            f"and item** to {n} in the sidebar's *Data source* panel — changing it stops this run."
        )


def _train_here(ds: Dataset, out_dir: Path, min_count: int | None = None) -> Any | None:
    lock = loaders.train_lock(ds.fingerprint)
    if lock.locked():
        st.info("Another session is training the model for this dataset — this page continues when it is done.")
    box = st.empty()
    with box.container():
        st.caption(
            "First start on this dataset: training the recommender (once; the model is stored and found again "
            "next time). The app opens as soon as the model is stored; the no-text ablation shown on the "
            "Evaluation page trains in the background afterwards."
        )
        bar = st.progress(0.0, text="Preparing to train the recommender for this dataset…")

    def progress(fraction: float, message: str) -> None:
        f = float(min(1.0, max(0.0, fraction)))
        bar.progress(f, text=message[:200])

    try:
        loaders.train(ds, out_dir, progress, min_count=min_count)
    except DataError as e:
        box.empty()
        st.error(f"Training failed: {esc(e)}")
        return None
    except ImportError as e:
        box.empty()
        st.warning(f"Training is not available in this build ({esc(e)}).")
        return None
    box.empty()
    try:
        return loaders.load_model(str(out_dir), ds.fingerprint, ds)
    except DataError as e:
        st.error(f"The freshly trained model cannot be loaded: {esc(e)}")
        return None


def pending_note(model_dir: Path, ev: dict) -> None:
    """Say which comparison models are still training in the background (first start)."""
    waiting = ev.get("pending") if isinstance(ev, dict) else None
    if not waiting:
        return
    from ui.model_card import MODEL_LABELS

    names = ", ".join(MODEL_LABELS.get(str(w), str(w)) for w in waiting)
    job = loaders.ablation_job(model_dir)
    if job is not None and job.error:
        st.warning(f"Training the {md(names)} in the background failed: {md(job.error)}")
    elif job is not None and not job.done:
        st.info(f"Still training in the background: {md(names)} ({job.fraction:.0%} — {md(job.message)}). "
                "The table fills in when it is done; reload the page to see it.", icon=":material/hourglass_top:")
    else:
        st.info(f"Not evaluated yet: {md(names)}. It trains in the background while the app runs.",
                icon=":material/hourglass_top:")


# ---- user and item pickers ------------------------------------------------------------------
_SELECT_ALL_MAX = 5000


def _on_user_pick() -> None:
    v = st.session_state.get("w.user")
    if v:
        state.set_user(v)


def _on_user_typed() -> None:
    v = (st.session_state.get("w.user_typed") or "").strip()
    if v:
        state.set_user(v)


def _random_user(ids: tuple[str, ...]) -> None:
    state.set_user(random.SystemRandom().choice(ids))


def current_user(ds: Dataset) -> str:
    """The validated selected user (falls back to a featured user)."""
    return state.resolve_user(ds.has_user, loaders.featured_users(ds))


def user_picker(ds: Dataset, *, sidebar: bool = True) -> str:
    """Select a user: searchable list (type to search), featured users, random.
    Returns the validated user id and shows a note when it fell back."""
    uid = current_user(ds)
    where = st.sidebar if sidebar else st
    box = where.container(border=True)
    box.markdown("**User**")
    if ds.n_users <= _SELECT_ALL_MAX:
        st.session_state["w.user"] = uid
        box.selectbox(
            "User id (type to search)", ds.user_ids, key="w.user", on_change=_on_user_pick,
            label_visibility="collapsed",
        )
    else:
        st.session_state["w.user_typed"] = uid
        box.text_input("User id", key="w.user_typed", on_change=_on_user_typed)
    c1, c2 = box.columns(2)
    c1.button("Random", key="w.user_random", on_click=_random_user, args=(ds.user_ids,), width="stretch")
    feat = loaders.featured_users(ds)
    c2.button("Featured", key="w.user_feat", on_click=state.set_user, args=(feat[0],), width="stretch")
    note = state.user_note()
    if note:
        st.info(note, icon=":material/info:")
    return uid


def k_picker(*, sidebar: bool = True) -> int:
    where = st.sidebar if sidebar else st
    st.session_state["w.k"] = state.k()
    where.slider(
        "List length k", state.K_MIN, state.K_MAX, key="w.k", on_change=state.copy_to, args=("w.k", state.K),
    )
    return state.k()


def item_search(ds: Dataset, key: str, label: str = "Find an item by title", limit: int = 50) -> str | None:
    """Search items by title substring (case-insensitive); returns the chosen item id."""
    q = st.text_input(label, key=f"{key}.q", placeholder="type part of a title…")
    table = loaders.items_table(ds.fingerprint, ds)
    if q:
        mask = table["title"].str.contains(q.strip(), case=False, regex=False, na=False)
        hits = table[mask].sort_values("popularity", ascending=False).head(limit)
    else:
        hits = table.sort_values("popularity", ascending=False).head(limit)
    if hits.empty:
        st.caption("No item title matches.")
        return None
    options = hits["item_id"].tolist()
    titles = dict(zip(hits["item_id"], hits["title"]))
    return st.selectbox(
        "Matches", options, key=f"{key}.pick", format_func=lambda i: f"{titles.get(i, i)}  [{i}]",
    )


def history_frame(ds: Dataset, items: np.ndarray, timestamps: np.ndarray | None) -> pd.DataFrame:
    """A display table of a history (oldest first)."""
    items = np.asarray(items, dtype=np.int64)
    df = pd.DataFrame(
        {
            "#": np.arange(1, len(items) + 1),
            "when": pd.to_datetime(np.asarray(timestamps, dtype=np.int64), unit="s", utc=True)
            if timestamps is not None
            else [pd.NaT] * len(items),
            "item_id": [ds.item_ids[i] for i in items],
            "title": [ds.titles[i] for i in items],
            "categories": [", ".join(ds.item_categories[i]) for i in items],
        }
    )
    return df


def colors_for(ds: Dataset) -> dict[str, str]:
    return category_colors(ds.categories)


def csv_download(df: pd.DataFrame, label: str, file_name: str, key: str) -> None:
    st.download_button(
        label, df.to_csv(index=False).encode("utf-8"), file_name=file_name, mime="text/csv", key=key,
        icon=":material/download:",
    )


def _on_group_pick() -> None:
    sel = st.session_state.get("w.group_table")
    rows = getattr(getattr(sel, "selection", None), "rows", None) if sel is not None else None
    ids = st.session_state.get("rl._group_ids") or []
    if rows:
        r = rows[0]
        if 0 <= r < len(ids):
            state.set_user(ids[r])


def group_finder(ds: Dataset, limit: int = 200) -> None:
    """Find users by group (user attribute) or by activity band; click a row to select."""
    table = loaders.users_table(ds.fingerprint, ds)
    attrs = [c for c in table.columns if c not in ("user_id", "interactions", "first", "last")]
    c1, c2, c3 = st.columns([1, 1, 1])
    choices = ["activity"] + attrs
    attr = c1.selectbox("Group by", choices, key="w.group_attr")
    if attr == "activity":
        bands = pd.qcut(table["interactions"].rank(method="first"), 4, labels=["light", "regular", "heavy", "very heavy"])
        col = bands.astype(str)
    else:
        col = table[attr].astype(str)
    values = sorted(col.unique().tolist())
    val = c2.selectbox("Group", values, key="w.group_val")
    sort = c3.selectbox("Sort by", ["interactions (most first)", "user id"], key="w.group_sort")
    sub = table[col == val]
    sub = sub.sort_values("interactions", ascending=False) if sort.startswith("inter") else sub
    sub = sub.head(limit).reset_index(drop=True)
    st.session_state["rl._group_ids"] = sub["user_id"].tolist()
    st.caption(f"{int((col == val).sum()):,} users in this group (showing {len(sub)}). Click a row to select the user.")
    st.dataframe(
        sub, hide_index=True, key="w.group_table", on_select=_on_group_pick, selection_mode="single-row",
        height=260,
        column_config={"first": st.column_config.DatetimeColumn(format="YYYY-MM-DD"),
                       "last": st.column_config.DatetimeColumn(format="YYYY-MM-DD")},
    )


# ---- page start ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ModelPage:
    ctx: PageContext
    ds: Dataset
    model: Any
    user: str | None
    k: int | None


def model_page(name: str, title: str, *, user: bool = True, k: bool = True) -> ModelPage:
    """The common start of a page that needs data and the trained model: page setup, data,
    the sidebar pickers (user, k), the header and the model gate. Stops the script (after
    writing the URL) when there is no data or no model yet."""
    setup_page(name)
    ctx = load_context()
    if ctx is None:
        st.stop()
    uid = user_picker(ctx.ds) if user else None
    kk = k_picker() if k else None
    header(title, ctx)
    model = model_gate(ctx.ds)
    if model is None:
        state.write_url()
        st.stop()
    return ModelPage(ctx, ctx.ds, model, uid, kk)
