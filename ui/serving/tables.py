"""Population numbers read from a serving table (streamlit caches around the recsys
readers). Every cache is keyed by the table's identity, :attr:`TableStatus.key` (path,
creation time, model and data fingerprints): shared by all sessions of the process, so a
second visit — a new browser session on a warm cache — reads nothing again, and a
rewritten table (new ``created``) is a new entry. Results are copies (``st.cache_data``)
and are never mutated by the pages.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable

import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from ui.serving.logic import TableKey

#: Where the population readers of a serving table live (the first module that has one wins).
_MODULES = ("recsys.rerank.table", "recsys.rerank.population")


def _reader(name: str) -> Callable[..., Any] | None:
    for mod in _MODULES:
        try:
            fn = getattr(importlib.import_module(mod), name, None)
        except ImportError:
            continue
        if callable(fn):
            return fn
    return None


def available(name: str) -> bool:
    """Whether this build has the population reader ``name`` (e.g. ``"sweep_from_table"``)."""
    return _reader(name) is not None


def _call(name: str, *args: Any, **kwargs: Any) -> Any:
    fn = _reader(name)
    if fn is None:
        raise ImportError(f"{name} is not available in this build")
    return fn(*args, **kwargs)


@st.cache_data(max_entries=16, show_spinner="Reading exposure from the serving table…")
def exposure(key: TableKey, k: int) -> pd.DataFrame:
    """``item_id, exposure``: how many users have each item in their top ``k``."""
    return _call("exposure_from_table", key[0], k)


@st.cache_data(max_entries=4, show_spinner="Re-ranking every user of the serving table for the trade-off curves…")
def sweep(key: TableKey, _ds: Dataset) -> pd.DataFrame:
    """The λ-sweep (the trade-off curves' table) over every user of the serving table,
    chunk by chunk; ``_ds`` is the open dataset (its fingerprint is in ``key``)."""
    return _call("sweep_from_table", key[0], _ds)


@st.cache_data(max_entries=8, show_spinner="Reading the evaluation ranks from the serving table…")
def evaluation(key: TableKey) -> dict:
    """NDCG@k / HR@k over the users with a held-out test item (``evaluation_from_table``)."""
    return _call("evaluation_from_table", key[0])


@st.cache_data(max_entries=64, show_spinner="Finding who gets this item in the serving table…")
def audience(key: TableKey, item_id: str, k: int) -> pd.DataFrame:
    """``user_id, rank`` of every user with ``item_id`` in their top ``k`` (a filtered
    scan of the table: only the matching rows are held in memory)."""
    from ui.item.logic import table_audience

    return table_audience(key[0], item_id, k)
