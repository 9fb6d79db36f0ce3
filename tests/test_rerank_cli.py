"""``recommend`` with re-ranking flags, end to end on the small demo world with a tiny
trained transformer (shared with the dashboard tests)."""

from __future__ import annotations

import json

import pytest

from recsys.cli import main
from tests.app_support import ensure_tiny_model


@pytest.fixture(scope="module")
def demo_model(tmp_path_factory):
    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    return ensure_tiny_model(home)


def _recommend(capsys, *extra: str) -> tuple[int, dict | None, str]:
    code = main(["recommend", "--data", "demo-small", "--user", _user(), "-k", "8", "--json", *extra])
    cap = capsys.readouterr()
    lines = cap.out.strip().splitlines()
    return code, (json.loads(lines[-1]) if code == 0 else None), cap.err


def _user() -> str:
    from recsys.data import load

    ds = load("demo-small")
    return ds.user_ids[3]


def test_recommend_json_always_has_metrics_and_contributions(demo_model, capsys):
    code, plain, _ = _recommend(capsys)
    assert code == 0
    assert set(plain["metrics"]) == {"ild", "long_tail_share", "miscalibration", "avg_popularity"}
    assert plain["weights"] == {"diversity": 0.0, "calibration": 0.0, "fairness": 0.0}
    assert [r["original_rank"] for r in plain["items"]] == list(range(1, 9))  # weights 0: the model's order
    assert [r["rank"] for r in plain["items"]] == list(range(1, 9))
    scores = [r["score"] for r in plain["items"]]
    assert scores == sorted(scores, reverse=True)
    for r in plain["items"]:
        assert set(r["contributions"]) == {"relevance", "diversity", "calibration", "fairness"}
        assert sum(r["contributions"].values()) == pytest.approx(r["rerank_score"])

    # the fairness term alone only ever lifts long-tail items: the share never drops
    code, fair_only, _ = _recommend(capsys, "--fairness", "0.6")
    assert code == 0
    assert fair_only["metrics"]["long_tail_share"] >= plain["metrics"]["long_tail_share"]
    code, fair, _ = _recommend(capsys, "--fairness", "0.6", "--diversity", "0.2")
    assert code == 0
    assert fair["baseline_metrics"] == pytest.approx(plain["metrics"])
    moved = [r for r in fair["items"] if r["original_rank"] != r["rank"]]
    assert moved and all(r["reason"].startswith("moved") for r in moved)


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--diversity", "0.6", "--calibration", "0.6"], "add up to at most 1"),
        (["--fairness", "1.5"], "between 0 and 1"),
        (["--fairness", "0.5", "--fair-group", "category=NoSuchShelf"], "unknown category 'NoSuchShelf'"),
        (["--fair-group", "popular"], "longtail"),
    ],
)
def test_recommend_rejects_bad_weights_with_a_clear_error(demo_model, capsys, flags, message):
    code, _, err = _recommend(capsys, *flags)
    assert code == 2
    assert err.startswith("error: ") and message in err and "Traceback" not in err
