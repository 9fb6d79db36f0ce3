"""The long-term simulation (recsys.simulate) and the `simulate` command.

Validation against known effects on the small demo world, where the readers' true
preferences are planted: accuracy-only ranking homogenises consumption and concentrates
it on fewer items relative to random recommendations; a diversity weight lowers the
homogenisation; the oracle bounds every policy's utility. Plus determinism, per-(user,
policy) random streams, the JSON contract and bad input.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from recsys.cli import main
from recsys.data import load
from recsys.data.types import DataError
from recsys.rerank import Weights
from recsys.simulate import ChoiceModel, SimConfig, build_preferences, pick_users, simulate, topk_masked

ROUNDS = 20
CONTRACT = {"round", "homogenization", "gini_consumption", "gini_exposure", "coverage", "long_tail_share", "ild",
            "miscalibration", "satisfaction", "ctr", "utility"}


@pytest.fixture(scope="module")
def ds():
    return load("demo-small")


@pytest.fixture(scope="module")
def model(ds, small_model16):
    from recsys.models.transformer import TransformerRecommender

    return TransformerRecommender.load(small_model16, ds)


@pytest.fixture(scope="module")
def base(ds, model):
    """All four policies, 20 rounds, every reader of demo-small, weights 0."""
    return simulate(ds, model, SimConfig(rounds=ROUNDS, users=150, policies=("model", "random", "popular", "oracle")))


@pytest.fixture(scope="module")
def diverse(ds, model):
    return simulate(ds, model, SimConfig(rounds=ROUNDS, users=150, policies=("model",),
                                         weights=Weights(diversity=0.5)))


def final(res, policy, metric):
    return res.policies[policy].rounds[-1][metric]


# ------------------------------------------------------------------------------------
# validation against known effects


def test_accuracy_only_ranking_homogenises_and_concentrates_consumption(base):
    assert base.preference["kind"] == "demo-truth"
    assert final(base, "model", "homogenization") > final(base, "random", "homogenization") + 0.005
    assert final(base, "model", "jaccard_new") > final(base, "random", "jaccard_new")
    assert final(base, "model", "gini_consumption") > final(base, "random", "gini_consumption") + 0.02
    # and it rises over the rounds (round 0 is the real histories)
    assert final(base, "model", "homogenization") > base.policies["model"].rounds[1]["homogenization"] > 0


def test_diversity_weight_lowers_final_homogenisation(base, diverse):
    assert final(diverse, "model", "homogenization") < final(base, "model", "homogenization")
    assert final(diverse, "model", "jaccard_new") < final(base, "model", "jaccard_new")
    assert final(diverse, "model", "ild") > final(base, "model", "ild")  # the lists did get more diverse


def test_oracle_utility_is_the_upper_bound(base):
    for name, run in base.policies.items():
        for row in run.rounds[1:]:
            assert 0.0 <= row["utility"] <= 1.0 + 1e-9, (name, row["round"])
    assert all(r["utility"] == pytest.approx(1.0) for r in base.policies["oracle"].rounds[1:])
    assert final(base, "model", "utility") > final(base, "random", "utility")
    assert final(base, "oracle", "satisfaction") >= final(base, "model", "satisfaction")


def test_round_zero_is_the_state_before_any_recommendation(base):
    for run in base.policies.values():
        r0 = run.rounds[0]
        assert r0["round"] == 0 and r0["homogenization"] == 0.0 and r0["jaccard_new"] == 0.0
        assert r0["ctr"] is None and r0["utility"] is None and r0["gini_exposure"] is None
        assert r0["gini_consumption"] == base.policies["model"].rounds[0]["gini_consumption"]  # same start
        assert [r["round"] for r in run.rounds] == list(range(ROUNDS + 1))


# ------------------------------------------------------------------------------------
# the loop itself


def test_choices_come_from_the_lists_and_join_the_history(ds, base):
    users = [ds.user_index(u) for u in base.users]
    for run in base.policies.values():
        ch, lists = run.choices, run.lists
        assert ch.shape == (len(users), ROUNDS) and lists.shape == (len(users), ROUNDS, 10)
        for r, u in enumerate(users):
            seen = set(ds.sequence(u)[0].tolist())
            for t in range(ROUNDS):
                row = [i for i in lists[r, t].tolist() if i >= 0]
                assert not seen & set(row), "a seen item was recommended"
                if ch[r, t] >= 0:
                    assert ch[r, t] in row
                    seen.add(int(ch[r, t]))
        clicks = (ch >= 0).mean(axis=0)
        ctr = [row["ctr"] for row in run.rounds[1:]]
        np.testing.assert_allclose(clicks, ctr)


def test_homogenisation_matches_a_brute_force_jaccard(ds, base):
    run = base.policies["model"]
    users = [ds.user_index(u) for u in base.users]
    sets = [set(ds.sequence(u)[0].tolist()) | set(run.choices[r][run.choices[r] >= 0].tolist())
            for r, u in enumerate(users)]
    new = [set(run.choices[r][run.choices[r] >= 0].tolist()) for r in range(len(users))]

    def mean_j(ss):
        a, b = np.triu_indices(len(ss), 1)
        return np.mean([len(ss[i] & ss[j]) / len(ss[i] | ss[j]) if ss[i] | ss[j] else 0.0 for i, j in zip(a, b)])

    assert run.rounds[-1]["jaccard"] == pytest.approx(mean_j(sets))
    assert run.rounds[-1]["jaccard_new"] == pytest.approx(mean_j(new))
    assert run.rounds[-1]["homogenization"] == pytest.approx(mean_j(sets) - run.rounds[0]["jaccard"])


def test_streams_are_per_user_and_policy(ds, model, base):
    """A policy's trajectory does not depend on which other policies run beside it, and
    fewer rounds give the same first rounds."""
    alone = simulate(ds, model, SimConfig(rounds=5, users=150, policies=("oracle", "model")))
    for name in ("oracle", "model"):
        np.testing.assert_array_equal(alone.policies[name].choices, base.policies[name].choices[:, :5])
        assert alone.policies[name].rounds == base.policies[name].rounds[:6]


def test_deterministic_given_a_seed(ds, model):
    cfg = SimConfig(rounds=4, users=40, policies=("model", "random"), seed=7)
    a, b = simulate(ds, model, cfg), simulate(ds, model, cfg)
    assert json.dumps(a.to_json()["policies"]) == json.dumps(b.to_json()["policies"])
    other = simulate(ds, model, SimConfig(rounds=4, users=40, policies=("model", "random"), seed=8))
    assert not np.array_equal(a.policies["random"].lists, other.policies["random"].lists)


def test_retraining_every_r_rounds_continues_on_the_grown_log(ds, model, small_model16, base):
    cfg = SimConfig(rounds=3, users=150, policies=("model",), retrain_every=2, retrain_epochs=1)
    res = simulate(ds, model, cfg, model_dir=small_model16)
    run, plain = res.policies["model"], base.policies["model"]
    assert run.retrained_at == (2,) and res.to_json()["policies"]["model"]["retrained_at"] == [2]
    assert run.rounds[:3] == plain.rounds[:3]  # before the retraining: the same trajectory
    np.testing.assert_array_equal(run.choices[:, :2], plain.choices[:, :2])
    assert not np.array_equal(run.lists[:, 2], plain.lists[:, 2])  # the retrained model ranks differently
    with pytest.raises(DataError, match="artifact directory"):
        simulate(ds, model, cfg)


def test_grown_log_replaces_the_simulated_users_histories(ds):
    from recsys.simulate.retrain import grown_dataset

    users = np.array([2, 9])
    hist, ts = [], []
    for u in users:
        items, times = ds.sequence(int(u))
        new = int(np.setdiff1d(np.arange(ds.n_items), items)[0])
        hist.append(np.append(items, new))
        ts.append(np.append(times, times[-1] + 86_400))
    grown = grown_dataset(ds, users, hist, ts)
    assert grown.item_ids == ds.item_ids and grown.user_ids == ds.user_ids
    for u, h in zip(users, hist):
        np.testing.assert_array_equal(grown.sequence(int(u))[0], h)
    np.testing.assert_array_equal(grown.sequence(0)[0], ds.sequence(0)[0])
    assert grown.n_interactions == ds.n_interactions + 2


def test_pick_users_is_nested_and_seeded(ds):
    small, large = pick_users(ds, 20, 0), pick_users(ds, 60, 0)
    assert set(small) <= set(large) and len(small) == 20
    assert not np.array_equal(small, pick_users(ds, 20, 1))
    assert len(pick_users(ds, 10_000, 0)) == ds.n_users


def test_preferences_follow_the_planted_shelves_and_drift(ds):
    users = pick_users(ds, 30, 0)
    prefs = build_preferences(ds, users, [ds.sequence(int(u))[0] for u in users], seed=0)
    assert prefs.kind == "demo-truth" and prefs.base.min() >= 0 and prefs.base.max() <= 1
    cats = {c: j for j, c in enumerate(ds.categories)}
    cm = ds.category_matrix
    for r, u in enumerate(users[:10]):
        shelves = [cats[c] for c in ds.truth.phases[ds.user_ids[int(u)]][-1].categories]
        on = cm[:, shelves].sum(axis=1) >= 0.999
        off = cm[:, shelves].sum(axis=1) == 0
        assert prefs.base[r, on].mean() > prefs.base[r, off].mean() + 0.5
    pref = prefs.base.copy()
    item = int(np.argmin(pref[0]))  # the user's least liked item
    before = pref[0].copy()
    prefs.drift_towards(pref, np.array([0]), np.array([item]))
    aff = prefs.affinity(np.array([item]))[0]
    np.testing.assert_allclose(pref[0], 0.95 * before + 0.05 * aff, rtol=1e-5)
    assert pref[0, item] > before[item]
    np.testing.assert_array_equal(pref[1:], prefs.base[1:])


def test_choice_model_probabilities():
    cm = ChoiceModel(beta=8.0, no_click=0.75)
    prefs = np.array([[0.9, 0.9, 0.1], [0.1, 0.1, 0.1]])
    valid = np.array([[True, True, False], [True, True, True]])
    p = cm.probabilities(prefs, valid)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    assert p[0, 2] == 0.0  # padding is never chosen
    assert p[0, 0] > p[0, 1]  # same preference, higher position wins
    assert p[1, -1] > 0.9 and p[0, -1] < 0.3  # disliked lists are mostly ignored
    assert list(ChoiceModel.choose(p, np.array([0.0, 0.999999]))) == [0, 3]
    with pytest.raises(DataError):
        ChoiceModel(beta=0)


def test_topk_masked_orders_best_first_and_pads():
    s = np.array([[0.1, 0.5, 0.5, 0.9], [1.0, 2.0, 3.0, 4.0]])
    m = np.array([[False, False, False, True], [True, True, True, False]])
    np.testing.assert_array_equal(topk_masked(s, m, 3), [[1, 2, 0], [3, -1, -1]])


# ------------------------------------------------------------------------------------
# the command


def run_cli(capsys, *args):
    code = main(["simulate", *args])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_json_contract(capsys, small_model16):
    code, out, err = run_cli(capsys, "--data", "demo-small", "--model", str(small_model16), "--rounds", "3",
                             "--users", "25", "-k", "5", "--diversity", "0.3", "--policies",
                             "model,random,popular,oracle", "--seed", "2", "--json")
    assert code == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert set(r) >= {"policies", "elapsed_s"} and r["elapsed_s"] > 0
    assert list(r["policies"]) == ["model", "random", "popular", "oracle"]
    for pol in r["policies"].values():
        assert [row["round"] for row in pol["rounds"]] == [0, 1, 2, 3]
        for row in pol["rounds"]:
            assert CONTRACT <= set(row)
    assert r["preference"]["kind"] == "demo-truth" and r["users"] == 25
    assert r["settings"]["weights"]["diversity"] == 0.3 and r["settings"]["k"] == 5
    assert "%" not in err  # no progress bar with --json


def test_cli_without_the_model_policy_needs_no_model(capsys, tmp_path):
    code, out, err = run_cli(capsys, "--data", "demo-small", "--model", str(tmp_path / "no-model-here"),
                             "--rounds", "2", "--users", "10", "--policies", "random,oracle", "--no-progress")
    assert code == 0, err
    assert "oracle" in out and "utility" in out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--rounds", "0"], "--rounds must be at least 1"),
        (["--users", "1"], "--users must be at least 2"),
        (["-k", "0"], "-k must be at least 1"),
        (["--policies", "model,bogus"], "unknown policy 'bogus'"),
        (["--policies", "random,random"], "listed twice"),
        (["--policies", ","], "no policy given"),
        (["--diversity", "0.7", "--fairness", "0.6"], "weights must add up to at most 1"),
        (["--drift", "1.5"], "--drift must be between 0 and 1"),
        (["--retrain-every", "-1"], "--retrain-every must be 0 (never) or more"),
        (["--diversity", "abc"], "weight must be a number"),
        (["--fair-group", "category=Nope", "--policies", "random"], "unknown category 'Nope'"),
    ],
)
def test_cli_bad_input(capsys, args, message):
    code, out, err = run_cli(capsys, "--data", "demo-small", "--no-progress", *args)
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err
    assert "Traceback" not in err


def test_cli_missing_model_is_one_clear_error(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path))
    code, _, err = run_cli(capsys, "--data", "demo-small", "--rounds", "1", "--users", "5", "--no-progress")
    assert code == 2 and err.startswith("error: no trained model for this data")


def test_ml100k_uses_an_independent_ease_preference(capsys, ml100k_path):
    code, out, err = run_cli(capsys, "--data", str(ml100k_path), "--rounds", "2", "--users", "40",
                             "--policies", "random,popular,oracle", "--json")
    assert code == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["preference"]["kind"] == "ease"
    rows = r["policies"]["popular"]["rounds"]
    assert 0 <= rows[-1]["utility"] <= 1 and rows[-1]["coverage"] < r["policies"]["random"]["rounds"][-1]["coverage"]
