"""Item text tower: text composition, embedding shape/norm, semantic sanity, cache."""

from __future__ import annotations

import numpy as np
import pytest

import recsys.text as text
from recsys.data.types import build_dataset
from tests.test_transformer_helpers import chain_frames, chain_world


def test_item_text_joins_title_categories_text():
    ds = chain_world(n_items=8, n_users=5, length=4)
    assert text.item_text(ds, 0) == "Film number 1. Action. A action story, part 1"


def test_embeddings_shape_norm_and_cache(tmp_path, monkeypatch):
    ds = chain_world(n_items=8, n_users=5, length=4)
    calls = []
    emb = text.item_embeddings(ds, cache_dir=tmp_path, progress=lambda f, m: calls.append(f))
    assert emb.shape == (ds.n_items, 384) and emb.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    assert calls and calls[-1] == pytest.approx(1.0)
    assert list((tmp_path / "text").glob("*.safetensors"))

    def boom():
        raise AssertionError("the encoder must not run on a cache hit")

    monkeypatch.setattr(text, "load_encoder", boom)
    again = text.item_embeddings(ds, cache_dir=tmp_path)
    np.testing.assert_array_equal(again, emb)


def test_embeddings_are_semantic(tmp_path):
    inter, _ = chain_frames(n_items=4, n_users=3, length=3)
    import pandas as pd

    items = pd.DataFrame({
        "item_id": ["1", "2", "3", "4"],
        "title": ["Space battle among the stars", "Galactic war of starships", "A quiet cooking show",
                  "Baking bread at home"],
    })
    ds = build_dataset("sem", inter, items)
    e = text.item_embeddings(ds, cache_dir=tmp_path)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[0, 3]
    assert sim[2, 3] > sim[2, 0] and sim[2, 3] > sim[2, 1]


def test_damaged_cache_is_recomputed(tmp_path):
    ds = chain_world(n_items=8, n_users=5, length=4)
    emb = text.item_embeddings(ds, cache_dir=tmp_path)
    (f,) = list((tmp_path / "text").glob("*.safetensors"))
    f.write_bytes(b"garbage")
    np.testing.assert_allclose(text.item_embeddings(ds, cache_dir=tmp_path), emb, atol=1e-6)


def test_cache_is_keyed_by_item_texts_not_by_the_log(tmp_path, monkeypatch):
    """Two logs over the same catalogue (e.g. a log and its grown version) share one
    cache file; a changed title is a new file."""
    inter, items = chain_frames(n_items=8, n_users=5, length=4)
    ds = build_dataset("a", inter, items)
    emb = text.item_embeddings(ds, cache_dir=tmp_path)
    grown = build_dataset("b", inter.iloc[:-3].copy(), items)
    assert grown.fingerprint != ds.fingerprint and grown.item_ids == ds.item_ids

    def boom():
        raise AssertionError("the same catalogue must be read from the cache")

    with monkeypatch.context() as m:
        m.setattr(text, "load_encoder", boom)
        np.testing.assert_array_equal(text.item_embeddings(grown, cache_dir=tmp_path), emb)
    renamed = items.copy()
    renamed.loc[0, "title"] = "Another film"
    text.item_embeddings(build_dataset("c", inter, renamed), cache_dir=tmp_path)
    assert len(list((tmp_path / "text").glob("*.safetensors"))) == 2
