"""Pure dashboard logic: what-if edits and diffs, scenario validation, case-file
escaping, weight clamping, upload handling, home charts."""

from __future__ import annotations

import io
import zipfile

import pandas as pd
import pytest

from recsys.data.types import DataError
from tests.app_support import hostile_titles_dataset
from ui.data import charts as charts_data
from ui.report import logic as report


@pytest.fixture(scope="module")
def ds():
    return hostile_titles_dataset()


def test_case_file_escapes_data_and_inlines_plotly(ds):
    fig = charts_data.category_mix(ds)
    table = pd.DataFrame({"title": list(ds.titles)})
    html = report.render_case_file(
        "Case <script>", {"User": "<img src=x onerror=alert(1)>"},
        [report.Section("Items <b>", text="why: <script>alert(2)</script>", table=table, figures=[fig])],
    )
    assert "<script>alert('x')</script>" not in html
    assert "<script>alert(2)</script>" not in html
    assert "<img src=x" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html or "&lt;script&gt;alert(" in html
    assert "&lt;b&gt;Bold&lt;/b&gt; &amp; co" in html
    # plotly.js is inlined once: the file opens offline (no CDN reference)
    import re

    assert not re.search(r"<script[^>]*\bsrc=", html)  # no external script: opens offline
    assert "Plotly.newPlot" in html
    assert len(html) > 1_000_000


def test_weights_from_a_url_are_clamped_to_sum_at_most_one():
    from recsys.rerank import Weights

    w = Weights.clamped(0.8, 0.8, 0.4)
    assert w.diversity + w.calibration + w.fairness <= 1.0 + 1e-9
    assert w.diversity == w.calibration > w.fairness
    assert Weights.clamped(-1, "x", 2).fairness == 1.0


def test_home_charts_build(ds):
    s = charts_data.dataset_summary(ds)
    assert s["users"] == 2 and s["interactions"] == 8
    for fig in (charts_data.activity_over_time(ds), charts_data.category_mix(ds),
                charts_data.popularity_long_tail(ds), charts_data.history_length_hist(ds)):
        assert fig.data


class _Up:
    def __init__(self, name: str, data: bytes):
        self.name, self._d = name, data

    def getvalue(self) -> bytes:
        return self._d


def test_uploads_zip_is_extracted_flat_and_traversal_is_refused(tmp_path):
    from pathlib import Path

    from ui.core.uploads import save_uploads

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("data/interactions.csv", "user_id,item_id,timestamp\nu,i,1\n")
        z.writestr("data/items.csv", "item_id,title\ni,T\n")
    res = save_uploads([_Up("data.zip", buf.getvalue())], tmp_path)
    (d,) = list(tmp_path.iterdir())
    assert sorted(p.name for p in Path(d).iterdir()) == ["interactions.csv", "items.csv"]
    assert res.source.startswith("upload:")
    evil = io.BytesIO()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../evil/interactions.csv", "user_id,item_id,timestamp\nu,i,1\n")
    with pytest.raises(DataError, match="climbs out"):
        save_uploads([_Up("data.zip", evil.getvalue())], tmp_path)
    with pytest.raises(DataError, match="damaged"):
        save_uploads([_Up("x.zip", b"not a zip")], tmp_path)
    with pytest.raises(DataError, match="limit"):
        save_uploads([_Up("big.csv", b"x" * (50 * 1024 * 1024 + 1))], tmp_path)
    assert not any(tmp_path.iterdir())  # refused uploads leave nothing (the earlier one was replaced)


def test_per_group_frame_includes_target_popularity_buckets():
    from ui.model_card import logic as model_card

    ev = {"models": {
        "transformer": {"ndcg@10": 0.2, "ndcg@10_by": {"gender": {"F": 0.3, "M": 0.1}},
                        "users_by": {"gender": {"F": 2, "M": 1}},
                        "ndcg@10_by_target_pop": {"0-9": 0.05, "200+": 0.4},
                        "users_by_target_pop": {"0-9": 1, "200+": 2}},
        "popularity": {"ndcg@10": 0.1, "ndcg@10_by_target_pop": {"0-9": 0.0, "200+": 0.3}},
    }}
    df = model_card.per_group_frame(ev)
    attrs = list(dict.fromkeys(df["attribute"]))
    assert attrs == ["gender", "target item popularity"]
    tp = df[df["attribute"] == "target item popularity"]
    assert len(tp) == 4 and set(tp["group"]) == {"0-9", "200+"}
    row = tp[(tp["group"] == "0-9") & (tp["ndcg@10"] == 0.05)].iloc[0]
    assert row["users"] == 1
    fig = model_card.per_group_chart(df, "target item popularity")
    assert list(fig.data[0].x) == ["0-9", "200+"]  # rarest first, as stored


def test_each_model_keeps_its_colour_across_charts():
    # the metrics chart sorts models by NDCG, the group chart keeps file order: a model's
    # colour must not depend on either order
    from ui.model_card import logic as model_card

    ev = {"models": {
        "popularity": {"ndcg@10": 0.1, "hr@10": 0.2, "ndcg@10_by_target_pop": {"0-9": 0.0}},
        "ease": {"ndcg@10": 0.3, "hr@10": 0.4, "ndcg@10_by_target_pop": {"0-9": 0.1}},
        "transformer": {"ndcg@10": 0.2, "hr@10": 0.3, "ndcg@10_by_target_pop": {"0-9": 0.2}},
        "someone_new": {"ndcg@10": 0.05, "hr@10": 0.1, "ndcg@10_by_target_pop": {"0-9": 0.0}},
    }}
    bars = {t.name: t.marker.color for t in model_card.metrics_chart(model_card.metrics_frame(ev)).data}
    groups = {t.name: t.marker.color
              for t in model_card.per_group_chart(model_card.per_group_frame(ev), "target item popularity").data}
    assert bars == groups
    assert bars["RecLens transformer"] == model_card.ACCENT
    assert len(set(bars.values())) == 4


def test_model_card_facts_and_protocol_read_as_words():
    from ui.model_card import logic as model_card

    facts = dict(model_card.manifest_facts({
        "name": "transformer", "created": "2026-11-27T00:45:06Z", "seed": 0, "epochs": 46, "best_epoch": 38,
        "train_seconds": 1031.529, "text_encoder": "all-MiniLM-L6-v2"}))
    assert facts["Model"] == "RecLens transformer"
    assert facts["Epochs"] == "46 (best 38)"
    assert facts["Training time"] == "17 min 12 s"
    assert facts["Created"] == "2026-11-27 00:45:06 UTC"
    assert facts["Text encoder"] == "all-MiniLM-L6-v2"
    assert "New items" not in facts  # the default buries them: nothing to say
    new = dict(model_card.manifest_facts({"new_items": {"mode": "text", "offset": -2.0, "items": 25}}))
    assert new["New items"] == "25 without a training interaction, placed by their text (newcomer offset -2)"
    assert dict(model_card.manifest_facts({"train_seconds": 42.4, "epochs": 3, "best_epoch": 3})) == {
        "Training time": "42 s", "Epochs": "3"}
    cfg = {"d_model": 64, "n_layers": 2, "n_heads": 2, "max_len": 50, "use_text": True, "lr": 0.003,
           "lr_decay": "plateau"}
    hist = [{"epoch": 40, "valid_ndcg@10": 0.13}, {"epoch": 56, "valid_ndcg@10": 0.12, "lr_factor": 0.3}]
    polished = dict(model_card.manifest_facts({"config": cfg, "history": hist, "best_epoch": 62}))
    assert polished["Architecture"] == "2 layers × 2 heads, width 64, the last 50 items as context; item text on"
    assert polished["Learning rate"] == ("0.003; ×0.3 after epoch 56, restarting from the best state — "
                                         "it improved validation")
    kept = dict(model_card.manifest_facts({"config": cfg, "history": hist, "best_epoch": 40}))
    assert kept["Learning rate"].endswith("— no gain, the earlier best state was kept")
    assert dict(model_card.manifest_facts({"config": {**cfg, "lr_decay": "none"}}))["Learning rate"] == "0.003 (constant)"
    text = model_card.protocol_text({"split": "leave-one-out", "users": "all users with >= 3 interactions",
                                     "ties": "pessimistic", "summary": "leave-one-out by time, full ranking"})
    assert text == "leave-one-out by time, full ranking; users: all users with >= 3 interactions; ties: pessimistic"
    assert model_card.protocol_text("plain words") == "plain words"


def test_home_cards_use_compact_counts_and_a_readable_span():
    assert [charts_data.compact_count(n) for n in (0, 943, 9_125, 36_612, 100_004, 100_836, 1_234_567)] == [
        "0", "943", "9,125", "36.6k", "100k", "101k", "1.2M"
    ]
    assert [charts_data.span_text(d) for d in (0, 45, 61, 215, 731, 7_950)] == [
        "0 d", "45 d", "2 mo", "7 mo", "2.0 yr", "21.8 yr"
    ]


def test_the_app_opens_a_model_s_data_in_the_model_s_tie_order(tmp_path, monkeypatch):
    import json

    from ui.core import state

    d = tmp_path / "m"
    d.mkdir()
    man = {"schema_version": 2, "dataset_source": "path/to/ml-100k"}
    (d / "manifest.json").write_text(json.dumps(man))
    monkeypatch.setenv("RECSYS_MODEL", str(d))
    assert state.tie_order("path/to/ml-100k") == "id"  # written before tie keys: item-id order
    assert state.tie_order("demo") == "hash"  # other data: the protocol default
    (d / "manifest.json").write_text(json.dumps({**man, "tie_order": "hash"}))
    assert state.tie_order("path/to/ml-100k") == "hash"
    monkeypatch.delenv("RECSYS_MODEL")
    assert state.tie_order("path/to/ml-100k") == "hash"
