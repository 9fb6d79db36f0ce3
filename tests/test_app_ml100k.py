"""Every page opens on MovieLens-100K (real data, a tiny model trained once) for a user
and an item from the URL, with no exception and no error element."""

from __future__ import annotations

import pytest

from tests.app_support import PAGES, REPO, ensure_tiny_model

pytest.importorskip("streamlit")
from streamlit.testing.v1 import AppTest  # noqa: E402

from ui.core import state  # noqa: E402

TIMEOUT = 300


@pytest.fixture(scope="module")
def ml100k_model(ml100k_path, tmp_path_factory):
    home = tmp_path_factory.getbasetemp() / "recsys_home"
    home.mkdir(exist_ok=True)
    return ensure_tiny_model(home, str(ml100k_path))


@pytest.fixture(autouse=True)
def _ml100k(monkeypatch, ml100k_path, ml100k_model):
    monkeypatch.setenv("RECSYS_DATA", str(ml100k_path))
    monkeypatch.delenv("RECSYS_MODEL", raising=False)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_on_ml100k(page, ml100k_path):
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=TIMEOUT)
    at.query_params["user"] = "196"
    at.query_params["item"] = "50"
    at.query_params["k"] = "10"
    at.run()  # the frame registers the pages on its first run
    if page != "pages/home.py":
        at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.session_state[state.USER] == "196"
    # the selected item is a real catalogue item (a page may move off an item the user has seen)
    from recsys.data import load

    assert at.session_state[state.ITEM] in set(load(str(ml100k_path)).item_ids)
