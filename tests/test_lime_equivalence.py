"""Our LIME path is lime's own text explainer with one "word" per history position.

``explain.lime_explain`` treats the explained history items as present/absent features
and follows ``lime.lime_text``'s neighbourhood, distance and kernel. Here the history is
written as a document with one token per explained position and handed to
``lime.lime_text.LimeTextExplainer(bow=False)`` — with ``bow=False`` every position is
its own feature, so an item read twice is two features, as in our path; a removed
position becomes ``UNKWORDZ`` and the classifier turns the text back into a 0/1 mask for
the same masked scorer. With the same seed both draw the same samples from the same
``RandomState`` (lime's ``choice(range(n), size, replace=False)`` is
``permutation(n)[:size]``, which ``neighbourhood`` calls directly), score them with the
same masked scorer, compute the cosine distances the same way (on a sparse matrix: the
dense computation differs in the last bits, ~1e-14) and fit the same ridge surrogate, so
weights, intercept and R² are bit-for-bit equal — no tolerance.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from explain.lime_explain import KERNEL_WIDTH, lime_values, neighbourhood
from explain.masked import MaskedScorer
from recsys.data.types import History
from tests.test_explain import LinearScorer

MASK = "UNKWORDZ"  # lime's default mask string with bow=False


def _text_explainer_run(f: MaskedScorer, samples: int, seed: int):
    """lime.lime_text over a document of one token per explained position; returns the
    weights (n,), intercept, score and the masks lime asked the classifier about."""
    from lime.lime_text import LimeTextExplainer

    n = f.n_features
    doc = " ".join(f"item{int(i)}" for i in f.features)  # repeated items: repeated tokens
    asked: list[np.ndarray] = []

    def classifier(texts: list[str]) -> np.ndarray:
        masks = np.array([[tok != MASK for tok in t.split(" ")] for t in texts], dtype=float)
        assert masks.shape == (len(texts), n)
        asked.append(masks)
        return f(masks)[:, None]

    assert KERNEL_WIDTH == 25  # lime_text's default width (an int in lime's signature)
    explainer = LimeTextExplainer(kernel_width=25, bow=False, feature_selection="none", random_state=seed)
    exp: Any = explainer.explain_instance(doc, classifier, labels=(0,), num_features=n, num_samples=samples)
    weights = np.zeros(n)
    for j, w in exp.local_exp[0]:
        weights[int(j)] = w
    return weights, float(exp.intercept[0]), float(exp.score), np.vstack(asked)


@pytest.mark.parametrize(("seed", "samples", "value"), [(0, 500, "logprob"), (7, 300, "rr"), (3, 800, "logprob")])
def test_lime_equals_lime_text_explainer_without_bag_of_words(seed, samples, value):
    sc = LinearScorer(60, seed=seed)
    # 24 items, item 5 read three times and item 9 twice; the oldest 4 are fixed context
    items = np.array([1, 5, 2, 9, 5, 3, 7, 9, 11, 5, 4, 6, 8, 10, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21])
    f = MaskedScorer(sc, History("", items, None), target=50, value=value, max_features=20)
    assert f.n_features == 20 and len(set(f.features.tolist())) < f.n_features  # repeats are features

    ours, _, _, params = lime_values(f, samples=samples, seed=seed)
    theirs, intercept, score, asked = _text_explainer_run(f, samples, seed)

    # the same perturbation samples, in the same order
    np.testing.assert_array_equal(asked, neighbourhood(f.n_features, samples, np.random.RandomState(seed)))
    # the same surrogate fit, exactly
    np.testing.assert_array_equal(ours, theirs)
    assert params["intercept"] == intercept and params["r2"] == score
    assert np.count_nonzero(ours) == f.n_features  # feature_selection="none": every item weighted
