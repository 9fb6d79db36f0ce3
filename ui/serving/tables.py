"""Population numbers read from a serving table (streamlit caches around
:mod:`recsys.rerank.table` and the Item view's filtered read). Every cache is keyed by
the table's identity, :attr:`ui.serving.logic.TableStatus.key` (path, creation time,
model and data fingerprints): shared by all sessions of the process, so a second visit —
a new browser session on a warm cache — reads nothing again, and a rewritten table (new
``created``) is a new entry. Results are copies (``st.cache_data``) and never mutated.
Arguments starting with ``_`` are not hashed: the dataset and the re-ranking context
belong to the fingerprints in the key. The table's λ-sweep is read from the trade-offs
``precompute`` stored beside it (:func:`stored_sweep`); when absent it runs as a job
on the server's work queue (``ui.lab.panel.table_population_panel``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd
import streamlit as st

from recsys.data.types import Dataset
from recsys.rerank import RerankContext, Weights
from ui.serving.logic import TableKey

if TYPE_CHECKING:  # pragma: no cover
    from ui.item.logic import TableItem


@st.cache_data(max_entries=16, show_spinner="Reading exposure from the serving table…")
def exposure(key: TableKey, k: int) -> pd.DataFrame:
    """``item_id, exposure``: how many users have each item in their top ``k``."""
    from recsys.rerank.table import exposure_from_table

    return exposure_from_table(key[0], k)


@st.cache_data(max_entries=64, show_spinner="Finding who gets this item in the serving table…")
def audience(key: TableKey, item_id: str, k: int) -> pd.DataFrame:
    """``user_id, rank`` of every user with ``item_id`` in their top ``k`` (a filtered
    scan of the table: only the matching rows are held in memory)."""
    from ui.item.logic import table_audience

    return table_audience(key[0], item_id, k)


@st.cache_data(max_entries=64, show_spinner=False)
def item(key: TableKey, item_id: str, k: int, _ds: Dataset) -> TableItem:
    """One item's audience and exposure from the table (:class:`ui.item.logic.TableItem`)."""
    from ui.item.logic import item_from_table

    return item_from_table(_ds, _ds.item_index(item_id), exposure(key, k), audience(key, item_id, k), k)


@st.cache_data(max_entries=8, show_spinner=False)
def stored_population(key: TableKey) -> dict | None:
    """The population trade-offs ``precompute`` stored with the table
    (:mod:`recsys.precompute.population`), or None when absent or of another job."""
    from recsys.precompute import population

    return population.read(key[0])


def stored_sweep(key: TableKey) -> pd.DataFrame | None:
    """The λ-sweep ``precompute`` stored with the table, or None (then the page computes
    it as a work-queue job: ``ui.lab.panel.table_population_panel``)."""
    stored = stored_population(key)
    if stored is None:
        return None
    from recsys.precompute import population

    return population.sweep(stored)


def evaluate(key: TableKey, div: float, cal: float, fair: float, _ds: Dataset, _ctx: RerankContext) -> dict:
    """``evaluate_population``'s dict at one setting (NDCG@10, list metrics, coverage,
    Gini, NDCG@10 per user group) over every evaluated user of the table: stored by
    ``precompute`` for the sweep's settings (the model's own order among them), else
    computed in chunks."""
    stored = stored_population(key)
    if stored is not None:
        from recsys.precompute import population

        res = population.result(stored, Weights(div, cal, fair))
        if res is not None:
            return res
    return _evaluate(key, div, cal, fair, _ds, _ctx)


@st.cache_data(max_entries=32, show_spinner="Re-ranking every user of the serving table…")
def _evaluate(key: TableKey, div: float, cal: float, fair: float, _ds: Dataset, _ctx: RerankContext) -> dict:
    from recsys.rerank.table import evaluate_population_from_table

    return evaluate_population_from_table(key[0], _ds, _ctx, Weights(div, cal, fair))[0]


@st.cache_data(max_entries=8, show_spinner="Reading the evaluation ranks from the serving table…")
def evaluation(key: TableKey) -> dict:
    """``users`` and HR/NDCG/MRR@10 and @20 from the table's recorded test ranks."""
    from recsys.rerank.table import evaluation_from_table

    return evaluation_from_table(key[0])
