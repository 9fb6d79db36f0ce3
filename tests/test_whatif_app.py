"""The What-if studio: Scenario (JSON round trip, old files, validation), pure edits and
diffs, and AppTest page tests on the small demo world with a tiny model (trained once)."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from recsys.data.types import DataError, History
from tests.app_support import assert_clean, featured, hostile_titles_dataset
from tests.app_support import open_page as _open_page
from ui.core import state
from ui.whatif import logic as wl
from ui.whatif.logic import Draft, Event, Scenario

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

TIMEOUT = 180
PAGE = "pages/whatif_studio.py"


# ---- pure logic on a tiny hand-made dataset ----------------------------------------------------
@pytest.fixture(scope="module")
def ds():
    return hostile_titles_dataset()


def test_kendall_tau_identical_reversed_and_disjoint():
    assert wl.kendall_tau([1, 2, 3], [1, 2, 3]) == 1.0
    assert wl.kendall_tau([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert wl.kendall_tau([1, 2, 3], [4, 5, 6]) < 0
    assert -1.0 <= wl.kendall_tau([1, 2, 3, 4], [2, 1, 3, 9]) < 1.0


def test_diff_lists_entering_leaving_and_moves():
    d = wl.diff_lists([1, 2, 3, 4], [3, 1, 5, 2])
    assert d.entering == [5]
    assert d.leaving == [4]
    assert d.moves == {3: 2, 1: -1, 2: -2}


def test_diff_frames_mark_new_moved_and_leaving(ds):
    lb, la, d = wl.diff_frames(ds, np.array([0, 1, 2]), np.array([2, 0, 5]))
    assert lb["status"].tolist() == ["", "leaves", ""]
    assert la["change"].tolist() == ["▲2", "▼1", "new"]
    assert d.entering == [5] and d.leaving == [1]


def test_edits_keep_time_order_and_return_new_scenarios(ds):
    sc = wl.from_user(ds, "a")
    assert sc.base_user == "a" and sc.item_ids == ["1", "2", "3", "4", "5"]
    added = wl.add_item(sc, "7")
    assert added.item_ids[-1] == "7"
    assert added.history[-1] == Event("7", 60)  # last + median gap
    removed = wl.remove_at(added, [0, 1])
    assert removed.item_ids == ["3", "4", "5", "7"]
    moved = wl.move(sc, 0, 2)
    assert moved.item_ids == ["2", "3", "1", "4", "5"]
    assert moved.timestamps == [10, 20, 30, 40, 50]
    shifted = wl.shift_dates(sc, 1, [0])  # the first item moves one day later: now last
    assert shifted.item_ids[-1] == "1"
    assert wl.shift_dates(sc, -1).timestamps == [0, 0, 0, 0, 0]  # never before the epoch
    assert sc == wl.from_user(ds, "a")  # the original is untouched (frozen)
    with pytest.raises(DataError, match="outside the history"):
        wl.move(sc, 9, 0)
    assert wl.renamed(sc, "  mine ").name == "mine" and wl.renamed(sc, "").name == sc.name


def test_rows_to_positions_maps_the_newest_first_table():
    assert wl.rows_to_positions(5, [0, 4, 9]) == [0, 4]
    assert wl.rows_to_positions(5, [1]) == [3]


def test_scenario_to_history_and_cold_start(ds):
    h = wl.add_item(wl.from_user(ds, "b"), "1").to_history(ds)
    assert isinstance(h, History) and h.user == "b"
    assert [ds.item_ids[i] for i in h.items] == ["2", "6", "7", "1"]
    sc = wl.empty_scenario(ds)
    h = sc.to_history(ds)
    assert len(h) == 0 and h.user == "" and sc.base_user is None
    assert len(wl.base_history(ds, sc)) == 0
    assert len(wl.base_history(ds, wl.from_user(ds, "a"))) == 5


def test_history_display_marks_added_items_newest_first(ds):
    df = wl.history_display(ds, wl.add_item(wl.from_user(ds, "b"), "1"))
    assert df["item_id"].tolist() == ["1", "7", "6", "2"]
    assert df["edit"].tolist() == ["added", "", "", ""]


def test_scenario_json_round_trip(ds):
    sc = wl.add_item(wl.from_user(ds, "b"), "1")
    text = sc.to_json()
    obj = json.loads(text)
    assert set(obj) == {"format", "version", "name", "base_user", "data_fingerprint", "history", "note"}
    assert obj["history"][0] == {"item_id": "2", "timestamp": 15}
    back, warns = Scenario.from_json(text.encode(), ds, "s.json")
    assert back == sc and warns == []
    back, _ = Scenario.from_json(text, ds)
    assert back == sc


def test_old_scenario_files_still_load(ds):
    saved_by_v1 = (
        '{\n "format": "reclens-scenario",\n "version": 1,\n "name": "user a",\n "base_user": "a",\n'
        ' "data_fingerprint": "an-older-fingerprint",\n "history": [\n'
        '  {\n   "item_id": "3",\n   "timestamp": 30\n  },\n  {\n   "item_id": "1",\n   "timestamp": 10\n  }\n'
        ' ],\n "note": "from last week"\n}'
    )
    sc, warns = Scenario.from_json(saved_by_v1.encode("utf-8-sig"), ds, "old.json")
    assert sc.item_ids == ["1", "3"]  # back in time order
    assert sc.base_user == "a" and sc.note == "from last week" and sc.data_fingerprint == ds.fingerprint
    assert warns and "different version of the data" in warns[0]
    # the smallest hand-written file: a history only (float seconds, unknown base user)
    minimal = {"history": [{"item_id": 2, "timestamp": 12.7}], "base_user": "nobody", "extra": True}
    sc, warns = Scenario.from_json(json.dumps(minimal), ds)
    assert sc.history == (Event("2", 12),) and sc.base_user is None and sc.name == "uploaded scenario"
    assert warns == []


@pytest.mark.parametrize("bad, message", [
    (b"{nope", r"^s\.json:1: not valid JSON"),
    (b"\xff\xfe\x00", r"^s\.json: file is not UTF-8 text$"),
    (b"[1, 2]", r"^s\.json: a scenario must be a JSON object$"),
    (b'{"format": "other", "history": []}', r"format is 'other'"),
    (b'{"history": {}}', r"'history' must be a list"),
    (b'{"history": [{"timestamp": 1}]}', r"history entry 1 needs an 'item_id'"),
    (b'{"history": [{"item_id": "1", "timestamp": "yesterday"}]}', r"history entry 1: timestamp must be"),
    (b'{"history": [{"item_id": "1", "timestamp": -5}]}', r"history entry 1: timestamp must be"),
    (b'{"history": [{"item_id": "1", "timestamp": true}]}', r"history entry 1: timestamp must be"),
    (b'{"history": [{"item_id": "999", "timestamp": 1}, {"item_id": "x", "timestamp": 2}]}',
     r"^s\.json: 2 item id\(s\) not in this dataset: '999', 'x'$"),
])
def test_a_bad_scenario_file_is_one_clear_data_error(ds, bad, message):
    with pytest.raises(DataError, match=message) as err:
        Scenario.from_json(bad, ds, "s.json")
    assert "\n" not in str(err.value)


def test_oversized_and_overlong_scenarios_are_refused(ds):
    with pytest.raises(DataError, match="larger than"):
        Scenario.from_json(b" " * (wl.MAX_SCENARIO_BYTES + 1), ds)
    long = {"history": [{"item_id": "1", "timestamp": t} for t in range(wl.MAX_HISTORY + 1)]}
    with pytest.raises(DataError, match="at most"):
        Scenario.from_json(json.dumps(long), ds)


def test_counterfactual_profile_is_a_scenario(ds):
    from ui.explain.panel import counterfactual_profile

    h = ds.history("a")
    e = SimpleNamespace(counterfactual=SimpleNamespace(positions=(1, 3), removed=(1, 3)), target=5, k=3)
    sc = counterfactual_profile(ds, h, e)  # type: ignore[arg-type]
    assert isinstance(sc, Scenario)
    assert sc.item_ids == ["1", "3", "5"] and sc.timestamps == [10, 30, 50] and sc.base_user == "a"
    assert "without 2 item(s)" in sc.name and "top-3" in sc.note
    no_time = counterfactual_profile(ds, History("", h.items, None), e)  # type: ignore[arg-type]
    assert no_time.base_user is None and no_time.timestamps == [wl.START, wl.START + wl.DAY, wl.START + 2 * wl.DAY]


# ---- the page (AppTest) ----------------------------------------------------------------------------
@pytest.fixture
def _small_world(monkeypatch, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


def open_page(page: str = PAGE, **params: str) -> AppTest:
    return _open_page(page, **params)


def working(at: AppTest) -> Draft:
    d = at.session_state[state.WHATIF]
    assert isinstance(d, Draft)
    return d


@pytest.mark.usefixtures("_small_world")
def test_whatif_page_renders_for_a_user_from_the_url(small_ds):
    user = small_ds.user_ids[7]
    at = open_page(user=user, k="7", div="0.2")
    assert_clean(at)
    assert working(at).scenario.base_user == user
    assert at.session_state[state.K] == 7
    assert at.query_params["user"] in (user, [user])
    assert [m.label for m in at.metric[:3]] == ["Kendall τ", "Entering", "Leaving"]
    assert at.metric[0].value == "1.00"  # unedited: the same list before and after


@pytest.mark.usefixtures("_small_world")
def test_whatif_add_remove_and_cold_start(small_ds):
    user = featured(small_ds)
    at = open_page(user=user)
    assert_clean(at)
    n0 = len(working(at).scenario)
    at.text_input(key=f"{state.WI_ADD}.q").set_value("a").run()
    at.button(key=state.WI_ADD_GO).click().run()
    assert_clean(at)
    assert len(working(at).scenario) == n0 + 1
    assert working(at).edited is True
    assert at.metric[0].label == "Kendall τ"
    # removing without a selection asks for one
    at.button(key=state.WI_REMOVE).click().run()
    assert any("Select rows in the history table first." in w.value for w in at.warning)
    assert len(working(at).scenario) == n0 + 1
    # cold start: empty profile still gets a list
    at.button(key=state.WI_EMPTY).click().run()
    assert_clean(at)
    assert working(at).scenario.history == ()
    assert any("empty profile" in m.value for m in at.markdown)
    after = at.dataframe[-1].value
    assert len(after) > 0
    # reset brings back the user's own history
    at.button(key=state.WI_RESET).click().run()
    assert len(working(at).scenario) == n0
    assert working(at).edited is False


@pytest.mark.usefixtures("_small_world")
def test_whatif_shift_without_selection_moves_every_date(small_ds):
    at = open_page(user=featured(small_ds))
    ts0 = working(at).scenario.timestamps
    at.number_input(key=state.WI_DAYS).set_value(7).run()
    at.button(key=state.WI_SHIFT).click().run()
    assert_clean(at)
    assert working(at).scenario.timestamps == [t + 7 * wl.DAY for t in ts0]


@pytest.mark.usefixtures("_small_world")
def test_whatif_removing_history_changes_the_list(small_ds):
    user = featured(small_ds)
    at = open_page(user=user, k="10")
    sc = working(at).scenario
    # shrink the profile to its oldest item by removing the rest (pure edit, through the registry)
    at.session_state[state.WHATIF] = Draft(wl.remove_at(sc, range(1, len(sc))), edited=True)
    at.run()
    assert_clean(at)
    tau = float(at.metric[0].value)
    entering = int(at.metric[1].value)
    assert entering > 0 and tau < 1.0


@pytest.mark.usefixtures("_small_world")
def test_whatif_explanation_delta(small_ds):
    at = open_page(user=featured(small_ds), k="5")
    sc = working(at).scenario
    at.session_state[state.WHATIF] = Draft(wl.remove_at(sc, [len(sc) - 1]), edited=True)
    at.run()
    at.button(key=state.WI_EXPLAIN).click().run()
    assert_clean(at)
    labels = [m.label for m in at.metric]
    assert {"rank before", "rank after", "value before", "value after"} <= set(labels)
    delta = [d.value for d in at.dataframe if "Δ" in d.value.columns]
    assert delta and len(delta[0]) > 0


@pytest.mark.usefixtures("_small_world")
def test_two_sessions_do_not_see_each_others_edits(small_ds):
    user = featured(small_ds)
    a = open_page(user=user)
    b = open_page(user=user)
    n = len(working(a).scenario)
    a.button(key=state.WI_EMPTY).click().run()
    a.session_state[state.K] = 20  # after switch_page AppTest does not list the sidebar's widgets
    a.run()
    assert a.session_state[state.K] == 20
    assert working(a).scenario.history == ()
    b.run()
    assert len(working(b).scenario) == n
    assert b.session_state[state.K] == 10
    # the cached dataset was not touched by A's edit
    from recsys.data import load

    assert len(load("demo-small").history(user)) == n


@pytest.mark.usefixtures("_small_world")
def test_counterfactual_from_recommendations_loads_in_whatif(small_ds):
    user = featured(small_ds)
    at = open_page(user=user)
    assert at.button(key=state.WI_CF).disabled
    h = small_ds.history(user)
    cf = wl.new_scenario(small_ds, "counterfactual", user, h.items[1:], h.timestamps[1:])
    at.session_state[state.COUNTERFACTUAL] = cf
    at.run()
    assert not at.button(key=state.WI_CF).disabled
    at.button(key=state.WI_CF).click().run()
    assert_clean(at)
    sc = working(at).scenario
    assert sc == cf and len(sc) == len(h) - 1 and sc.base_user == user
    # a counterfactual of other data is refused with a message
    at.session_state[state.COUNTERFACTUAL] = Scenario("cf", user, cf.history, data_fingerprint="other data")
    at.run()
    at.button(key=state.WI_CF).click().run()
    assert any("Counterfactual refused" in e.value for e in at.error)


@pytest.mark.usefixtures("_small_world")
def test_scenario_upload_is_validated(small_ds):
    at = open_page(user=featured(small_ds))
    bad = json.dumps({"history": [{"item_id": "nope", "timestamp": 5}]}).encode()
    at.file_uploader(key=state.WI_UPLOAD).upload("bad.json", bad, "application/json")
    at.run()
    at.button(key=state.WI_LOAD_UPLOAD).click().run()
    assert not at.exception
    assert any("Scenario refused" in e.value and "not in this dataset" in e.value for e in at.error)
    good = {"name": "mine", "history": [{"item_id": small_ds.item_ids[0], "timestamp": 100}],
            "data_fingerprint": "older data"}
    at.file_uploader(key=state.WI_UPLOAD).set_value(("good.json", json.dumps(good).encode(), "application/json"))
    at.run()
    at.button(key=state.WI_LOAD_UPLOAD).click().run()
    assert not at.exception and not at.error
    assert working(at).scenario.name == "mine"
    assert any("different version of the data" in w.value for w in at.warning)


@pytest.mark.usefixtures("_small_world")
def test_scenarios_save_and_load_within_the_session(small_ds):
    at = open_page(user=featured(small_ds))
    n = len(working(at).scenario)
    at.text_input(key=state.WI_NAME).set_value("baseline copy").run()
    at.button(key=state.WI_SAVE).click().run()
    assert_clean(at)
    assert isinstance(at.session_state[state.SCENARIOS]["baseline copy"], Scenario)
    at.button(key=state.WI_EMPTY).click().run()
    at.selectbox(key=state.WI_SAVED).set_value("baseline copy").run()
    at.button(key=state.WI_LOAD_SAVED).click().run()
    assert_clean(at)
    assert len(working(at).scenario) == n
    assert working(at).scenario.name == "baseline copy"
