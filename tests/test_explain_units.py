"""Issue 23: explanations over groups of history items, adaptive budgets, agreement."""

from __future__ import annotations

import json

import numpy as np
import pytest

from explain import LRUCache, compare_methods, explain_item
from explain.agree import disagreements, rbo, top_overlap
from explain.api import units_scorer
from explain.masked import MaskedScorer
from explain.units import (
    AUTO_GROUPING,
    AUTO_MIN_ITEMS,
    MAX_GROUPS,
    GroupedScorer,
    build_groups,
    expand,
    recent_blocks,
)
from recsys.data.types import DataError, History
from recsys.models.base import recommend
from tests.test_explain import LinearScorer, MarkovScorer, planted_cases


@pytest.fixture(scope="module")
def demo():
    from recsys.data import load

    return load("demo-small")


@pytest.fixture(scope="module")
def markov(demo):
    return MarkovScorer(demo)


def _long_user(ds, rank: int = 0) -> History:
    u = int(np.argsort(-np.diff(ds.user_offsets), kind="stable")[rank])
    return ds.history(ds.user_ids[u])


# ---- groupings --------------------------------------------------------------------------
def test_recent_blocks_cover_every_item_once_most_recent_first():
    for n in (1, 3, 5, 31, 50, 200):
        blocks = recent_blocks(n)
        flat = np.concatenate(blocks)
        assert sorted(flat.tolist()) == list(range(n)) and len(blocks) <= MAX_GROUPS
        assert blocks[0].tolist() == [n - 1]  # the most recent item stands alone
        assert all(b.max() < a.min() for a, b in zip(blocks, blocks[1:]))  # further back each time
    assert [b.size for b in recent_blocks(50)] == [1, 1, 1, 2, 3, 5, 8, 29]


@pytest.mark.parametrize("grouping", ["recent", "session", "category"])
def test_groupings_partition_the_explained_items(demo, markov, grouping):
    h = _long_user(demo)
    base = MaskedScorer(markov, h, 0)
    groups = build_groups(demo, base, grouping)
    assert 1 < len(groups) <= MAX_GROUPS
    pos = np.sort(np.concatenate([g.positions for g in groups]))
    np.testing.assert_array_equal(pos, base.positions)  # every explained item in exactly one group
    for g in groups:
        np.testing.assert_array_equal(g.items, h.items[g.positions])
        assert g.label
    if grouping == "session":  # sessions are contiguous in time
        for g in groups:
            assert g.positions.tolist() == list(range(int(g.positions.min()), int(g.positions.max()) + 1))
    if grouping == "category":
        for g in groups:
            if not g.label.startswith("other"):
                cats = {demo.item_categories[int(i)][0] for i in g.items}
                assert len(cats) == 1 and g.label.startswith(cats.pop())


def test_session_without_timestamps_falls_back_to_recent(demo, markov):
    h = _long_user(demo)
    base = MaskedScorer(markov, History("", h.items, None), 0)
    assert [g.label for g in build_groups(demo, base, "session")] == \
        [g.label for g in build_groups(demo, base, "recent")]


def test_auto_groups_only_long_histories(demo, markov):
    long_h = _long_user(demo)
    short = History("", long_h.items[-AUTO_MIN_ITEMS:], long_h.timestamps[-AUTO_MIN_ITEMS:])
    assert isinstance(units_scorer(demo, MaskedScorer(markov, long_h, 0), "auto"), GroupedScorer)
    assert isinstance(units_scorer(demo, MaskedScorer(markov, short, 0), "auto"), MaskedScorer)
    with pytest.raises(DataError, match="units"):
        units_scorer(demo, MaskedScorer(markov, short, 0), "paragraphs")


def test_grouped_scorer_removes_whole_groups_and_memoises(demo):
    lin = LinearScorer(demo.n_items, seed=3)
    h = _long_user(demo)
    base = MaskedScorer(lin, h, 7)
    f = GroupedScorer(base, build_groups(demo, base, "recent"), "recent")
    m = np.ones((2, f.n_features))
    m[1, 2] = 0  # drop the third unit
    v = f(m)
    item_mask = np.ones((1, base.n_features))
    item_mask[0, [int(np.flatnonzero(base.positions == p)[0]) for p in f.groups[2].positions]] = 0
    assert v[1] == pytest.approx(base(item_mask)[0])
    calls = lin.calls
    again = f(m)
    assert lin.calls == calls and np.array_equal(again, v)  # answered from the memo
    assert f.evaluations == 4


def test_grouped_shap_is_exact_and_additive_on_a_linear_scorer(demo):
    """Linear scorer + logprob is not additive, but the value "margin" is: each group's
    exact Shapley value is then the sum of its members' contributions."""
    lin = LinearScorer(demo.n_items, seed=1)
    h = _long_user(demo)
    target, other = 5, 9
    base = MaskedScorer(lin, h, target, value="margin", contrast=other)
    f = GroupedScorer(base, build_groups(demo, base, "recent"), "recent")
    from explain.api import attribute

    a = attribute(f, "shap")
    assert a.params["explainer"] == "shap.explainers.Exact" and a.units == "recent"
    contrib = lin.W[:, target] - lin.W[:, other]
    for j, g in enumerate(a.groups):
        assert a.values[j] == pytest.approx(float(contrib[g.items].sum()), abs=1e-4)
    assert a.values.sum() == pytest.approx(a.value - a.base_value, abs=1e-6)
    items = expand(a, base)  # open the groups: members share their group's weight
    assert items.n_features == base.n_features and items.values.sum() == pytest.approx(a.values.sum())


# ---- agreement ------------------------------------------------------------------------------
def test_rbo_bounds_and_top_weighting():
    x = list(range(10))
    assert rbo(x, x) == pytest.approx(1.0)
    assert rbo(x, x[::-1]) < rbo(x, x[:8] + [9, 8])  # a swap at the bottom costs less than reversal
    assert rbo([0, 1, 2], [3, 4, 5]) == 0.0
    swapped_top = [1, 0] + x[2:]
    swapped_bottom = x[:8] + [9, 8]
    assert rbo(x, swapped_top) < rbo(x, swapped_bottom)


def test_compare_methods_reports_agreement_stability_and_groups(demo, markov):
    h = _long_user(demo)
    target = int(recommend(markov, h.items, 1, h.timestamps).items[0])
    c = compare_methods(demo, markov, h, target, cache=LRUCache())
    d = c.detail
    assert c.units == AUTO_GROUPING and c.shap.attribution.groups is not None
    assert np.array_equal(c.shap.attribution.positions, c.lime.attribution.positions)  # the same units
    assert c.agreement == pytest.approx(top_overlap(c.shap.attribution, c.lime.attribution))
    assert 0.0 <= c.agreement <= 1.0 and 0.0 <= c.stability <= 1.0 and 0.0 <= d.rbo <= 1.0
    assert d.stable == (c.stability >= 0.9)
    assert d.shap_stability == 1.0  # exact Shapley values over <= 8 groups
    assert c.shap.agreement is d and c.lime.agreement is d
    # a stable result needed at least the first round's samples; unstable ones hit the cap
    assert d.lime_samples >= 500
    for row in d.disagreements:  # each in exactly one method's top 5
        assert (row["shap_rank"] <= 5) != (row["lime_rank"] <= 5)
        assert row["items"] and row["unit"]
    assert d.shap_deletion_auc == c.shap.faithfulness.deletion_auc
    cf = c.shap.counterfactual  # opened to items: the counterfactual names history items
    assert cf is not None and all(0 <= p < len(h) for p in cf.positions)


def test_items_units_keep_the_item_level_comparison(demo, markov):
    h = _long_user(demo, 3)
    target = int(recommend(markov, h.items, 1, h.timestamps).items[0])
    c = compare_methods(demo, markov, h, target, units="items", adaptive=False, cache=LRUCache())
    s = explain_item(demo, markov, h, target, method="shap", cache=None)
    np.testing.assert_array_equal(c.shap.attribution.values, s.attribution.values)
    assert c.units == "items" and c.shap.attribution.groups is None
    assert c.detail is not None and c.detail.lime_samples == 500


def test_lime_budget_grows_until_stable_or_flags_unstable(demo, markov):
    h = _long_user(demo, 1)
    target = int(recommend(markov, h.items, 1, h.timestamps).items[0])
    fixed = compare_methods(demo, markov, h, target, units="items", adaptive=False, cache=None)
    grown = compare_methods(demo, markov, h, target, units="items", cache=None)
    capped = compare_methods(demo, markov, h, target, units="items", cache=None, time_cap_ms=0.0)
    n = capped.lime.attribution.n_features
    assert capped.detail.lime_samples == max(500, 20 * n)  # one round (20 samples per unit), then the cap
    assert capped.stable == (capped.stability >= 0.9 and capped.detail.shap_stability >= 0.8)
    if fixed.stability < 0.9:
        assert grown.detail.lime_samples > fixed.detail.lime_samples
    assert grown.stable or grown.detail.lime_samples > max(500, 20 * n)


def test_disagreements_name_units_in_one_top5_only(demo):
    lin = LinearScorer(demo.n_items, seed=2)
    h = _long_user(demo)
    base = MaskedScorer(lin, h, 3)
    a = explain_item(demo, lin, h, 3, method="shap", cache=None, extras=False).attribution
    import dataclasses

    b = dataclasses.replace(a, values=a.values[::-1].copy())
    rows = disagreements(a, b, base, lambda j: {"unit": str(j), "items": [j]})
    only_a = set(a.order()[:5].tolist()) - set(b.order()[:5].tolist())
    assert {int(r["unit"]) for r in rows if r["top5_of"] == "shap"} == only_a
    assert len(rows) == 2 * len(only_a)


def test_planted_causes_are_the_top_unit(demo, markov):
    """On the demo world's planted follow-ups (A in the last two items), the top unit of
    both methods under auto units holds A (the most recent items stay single units)."""
    cases = planted_cases(demo, markov, limit=12)
    assert len(cases) >= 8
    hits = {"shap": 0, "lime": 0}
    for uid, h, ts, a, b in cases:
        c = compare_methods(demo, markov, History(uid, h, ts), b, cache=None)
        for m, e in (("shap", c.shap), ("lime", c.lime)):
            at = e.attribution
            j = int(at.order()[0])
            members = at.groups[j].items if at.groups else [at.features[j]]
            hits[m] += int(a in set(int(x) for x in members))
    assert hits["shap"] >= 0.9 * len(cases) and hits["lime"] >= 0.8 * len(cases)


# ---- CLI -------------------------------------------------------------------------------------
def test_cli_method_both_json_contract(tiny_model, small_ds, capsys):
    from recsys.cli import main
    from recsys.models.transformer import TransformerRecommender

    ds = small_ds
    model = TransformerRecommender.load(tiny_model, ds)
    h = _long_user(ds)
    item = ds.item_ids[int(recommend(model, h.items, 1, h.timestamps).items[0])]
    args = ["explain", "--data", "demo-small", "--model", str(tiny_model), "--user", h.user, "--item", item,
            "--method", "both", "--json"]
    assert main(args) == 0
    r = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("user", "item", "method", "value", "base_value", "attributions", "faithfulness", "counterfactual",
                "why_not", "summary", "elapsed_ms", "total_ms", "provenance", "warmup_ms",
                "agreement", "stability", "units", "shap", "lime", "rbo", "disagreements", "stable", "groups"):
        assert key in r, key
    assert r["method"] == "both" and 0.0 <= r["agreement"] <= 1.0 and 0.0 <= r["stability"] <= 1.0
    n_explained = min(len(h), 50, model.context_length)
    assert r["units"] == (AUTO_GROUPING if n_explained > AUTO_MIN_ITEMS else "items")
    assert len(r["shap"]["attributions"]) == len(r["lime"]["attributions"]) == r["n_units"]
    if r["groups"]:
        members = sorted(p for g in r["groups"] for p in g["positions"])
        assert members == list(range(len(h) - n_explained, len(h)))
        assert all("unit" in row and row["items"] for row in r["lime"]["attributions"])
    assert r["elapsed_ms"] > 0
    assert main([*args, "--units", "items"]) == 0
    r2 = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert r2["units"] == "items" and r2["groups"] is None and len(r2["attributions"]) == n_explained
    assert main([*args[:-1], "--units", "session"]) == 0  # text output
    out = capsys.readouterr().out
    assert "agreement (top-5 overlap)" in out and "LIME:" in out


def test_cli_both_rejects_why_not(capsys):
    from recsys.cli import main

    assert main(["explain", "--data", "demo-small", "--user", "u001", "--item", "b0001", "--method", "both",
                 "--why-not", "b0002"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "--why-not" in err[0]
