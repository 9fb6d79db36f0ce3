"""The app served to many analysts (AppTest): the data-source allowlist from the URL, the
read-only demo mode, the access token and hostile uploads through the sidebar."""

from __future__ import annotations

import io
import os
import re
import tempfile
import zipfile
from pathlib import Path

import pytest

from tests.app_support import PAGES, REPO, assert_clean, ensure_tiny_model, featured, open_page

pytest.importorskip("streamlit")

from ui.core import access, state  # noqa: E402

#: an absolute server path in rendered text (the repository's own assets aside)
SERVER_PATH = re.compile(r"(?<![\w.:/-])/(?:tmp|home|root|work|etc|var|srv|usr|opt|mnt|data)/[\w.-]+")


@pytest.fixture(autouse=True)
def _small_world(monkeypatch, tiny_model):
    monkeypatch.setenv("RECSYS_DATA", "demo-small")
    for var in ("RECSYS_MODEL", "RECSYS_DEMO_MODE", "RECSYS_ACCESS_TOKEN", "RECSYS_DATA_ROOTS"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(autouse=True)
def _restore_error_details():
    """Demo mode narrows Streamlit's error details process-wide; later tests get them back."""
    from streamlit import config

    before = config.get_option("client.showErrorDetails")
    yield
    config.set_option("client.showErrorDetails", before)


def rendered(at) -> str:
    """Everything the page sent to the browser: every element's and block's message."""
    return "\n".join(str(node.proto) for node in at._tree if getattr(node, "proto", None) is not None)


def node_types(at) -> set[str]:
    return {str(getattr(node, "type", "")) for node in at._tree}


def leaks(at, *extra: str) -> list[str]:
    """Server paths in the rendered page (repository paths of the app's own assets aside)."""
    text = rendered(at).replace(str(REPO), "<repo>")
    found = SERVER_PATH.findall(text)
    home = os.environ["RECSYS_HOME"]
    found += [s for s in (home, tempfile.gettempdir() + "/reclens-upload", "RECSYS_HOME", *extra) if s in text]
    return found


def _errors(at) -> list[str]:
    return [e.value for e in at.error]


# ---- the allowlist from the URL ----------------------------------------------------------
def test_server_paths_in_the_url_all_get_the_same_message(small_ds):
    for probe in ("/root", "/etc/passwd", "/nonexistent", "/etc/../root/.bashrc", "upload:/etc#abc"):
        at = open_page("pages/home.py", data=probe)
        assert not at.exception
        assert _errors(at) == [access.REFUSED], probe
        assert at.session_state[state.DATA] == "demo-small"  # the start-up data opens instead
        assert at.query_params["data"] in ("demo-small", ["demo-small"])
        text = rendered(at)
        assert ".bashrc" not in text and "passwd" not in text and "nonexistent" not in text


def test_path_box_refuses_the_same_way_and_roots_open_more(tmp_path, monkeypatch, small_ds):
    at = open_page("pages/home.py")
    at.text_input(key=state.SOURCE_PATH).set_value("/root").run()
    assert _errors(at) == [access.REFUSED]
    assert at.session_state[state.DATA] == "demo-small"
    # a scale world beyond the first-start limit is refused with its own (harmless) message
    at.text_input(key=state.SOURCE_PATH).set_value("demo:users=100000,items=5000").run()
    (msg,) = _errors(at)
    assert msg != access.REFUSED and "first-start limit" in msg
    # a folder under RECSYS_DATA_ROOTS opens
    root = tmp_path / "shared"
    d = root / "tiny"
    d.mkdir(parents=True)
    (d / "interactions.csv").write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u * 5 + j) % 14},{1000 + 10 * j}\n" for u in range(9) for j in range(6)))
    ensure_tiny_model(Path(os.environ["RECSYS_HOME"]), str(d))
    monkeypatch.setenv("RECSYS_DATA_ROOTS", str(root))
    at = open_page("pages/home.py", data=str(d))
    assert_clean(at)
    assert at.session_state[state.DATA] == str(d)
    assert {m.label: m.value for m in at.metric}["Users"] == "9"


def test_refused_messages_are_byte_identical_whatever_exists(small_ds):
    pages = [open_page("pages/home.py", data=p) for p in ("/root", "/etc/passwd", "/nonexistent")]
    errs = [_errors(at) for at in pages]
    assert errs[0] == errs[1] == errs[2] == [access.REFUSED]
    bodies = [rendered(at) for at in pages]
    assert bodies[0] == bodies[1] == bodies[2]  # the whole page, not only the message


# ---- read-only demo mode -------------------------------------------------------------------
@pytest.mark.parametrize("page", PAGES)
def test_demo_mode_pages_work_without_paths_uploads_or_training_buttons(page, monkeypatch, small_ds, tiny_model):
    monkeypatch.setenv("RECSYS_DEMO_MODE", "1")
    at = open_page(page, user=featured(small_ds))
    assert_clean(at)
    assert "file_uploader" not in node_types(at)
    assert not any(t.key == state.SOURCE_PATH for t in at.text_input)
    labels = [b.label for b in at.button]
    assert not any(re.search(r"[Tt]rain|Upgrade|Compute population", lbl) for lbl in labels), labels
    assert leaks(at, str(tiny_model)) == []
    from streamlit import config

    assert config.get_option("client.showErrorDetails") == "type"  # tracebacks would name server files


def test_demo_mode_on_a_startup_path_names_it_by_its_last_part(tmp_path, monkeypatch):
    d = tmp_path / "pilot-data"
    d.mkdir()
    (d / "interactions.csv").write_text("user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u * 3 + j) % 12},{1000 + 10 * j}\n" for u in range(8) for j in range(6)))
    model = ensure_tiny_model(Path(os.environ["RECSYS_HOME"]), str(d))
    monkeypatch.setenv("RECSYS_DATA", str(d))
    monkeypatch.setenv("RECSYS_DEMO_MODE", "1")
    for page in ("pages/home.py", "pages/recommendations.py", "pages/evaluation.py"):
        at = open_page(page)
        assert_clean(at)
        assert leaks(at, str(d), str(model)) == [], page
        assert "pilot-data" in rendered(at)
        assert "data" not in at.query_params  # a link without data opens the start-up source
    at = open_page("pages/home.py", data="/root")
    assert _errors(at) == [access.REFUSED]
    assert leaks(at, str(d)) == []


def test_demo_mode_does_not_train_for_a_source_named_in_a_link(monkeypatch, tmp_path, small_ds):
    monkeypatch.setenv("RECSYS_DEMO_MODE", "1")
    monkeypatch.setenv("RECSYS_HOME", str(tmp_path / "home"))
    at = open_page("pages/home.py", data="demo:users=300,items=400,seed=5")
    assert_clean(at)
    assert any("No model for this dataset on this server" in m.value for m in at.markdown)
    assert not (tmp_path / "home" / "models").exists()


# ---- access token --------------------------------------------------------------------------
def test_access_token_gate(monkeypatch, small_ds):
    monkeypatch.setenv("RECSYS_ACCESS_TOKEN", "s3cret-token")
    for params in ({}, {"token": "wrong"}, {"token": "s3cret-toke"}, {"user": featured(small_ds)}):
        at = open_page("pages/home.py", **params)
        assert not at.exception
        assert [i.value for i in at.info] == [access.TOKEN_NEEDED]
        assert not at.metric and not at.sidebar.selectbox  # nothing of the app
        assert "token" not in at.query_params
    at = open_page("pages/home.py", token="s3cret-token", user=featured(small_ds))
    assert_clean(at)
    assert "token" not in at.query_params  # removed from the URL, kept in the session
    assert at.session_state[state.ACCESS_OK] is True
    assert at.session_state[state.USER] == featured(small_ds)
    at.switch_page("pages/recommendations.py").run()
    assert_clean(at)
    assert len(at.dataframe[0].value) == 10


# ---- hostile uploads through the sidebar ---------------------------------------------------
def _zip(entries: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for name, data in entries:
            z.writestr(name, data)
    return buf.getvalue()


CSV = b"user_id,item_id,timestamp\nu1,i1,1\nu1,i2,2\n"


@pytest.mark.parametrize("data,match", [
    (_zip([("../../evil/interactions.csv", CSV)]), "climbs out"),
    (_zip([("/etc/interactions.csv", CSV)]), "absolute path"),
    (_zip([("inner.zip", _zip([("interactions.csv", CSV)]))]), "another archive"),
    (_zip([(f"f{i}.csv", b"x") for i in range(3000)]), "3,000 entries"),
])
def test_hostile_zips_are_refused_in_the_app(data, match, small_ds):
    at = open_page("pages/home.py")
    at.file_uploader(key=state.UPLOAD).set_value(("data.zip", data, "application/zip"))
    at.run()
    at.button(key=state.UPLOAD_GO).click().run()
    assert not at.exception
    (err,) = [e for e in _errors(at) if e.startswith("Upload refused")]
    assert re.search(match, err)
    assert at.session_state[state.DATA] == "demo-small"
    folder = Path(at.session_state[state.UPLOAD_DIR])
    assert folder.is_dir() and not any(folder.iterdir())  # nothing kept, nothing outside
    assert not (folder.parent / "evil").exists() and not Path("/etc/interactions.csv").exists()


def test_a_session_whose_uploads_were_swept_falls_back_with_a_note(tmp_path, small_ds):
    inter = "user_id,item_id,timestamp\n" + "".join(
        f"u{u},i{(u * 3 + j) % 12},{1000 + 10 * j}\n" for u in range(8) for j in range(6))
    d = tmp_path / "up"
    d.mkdir()
    (d / "interactions.csv").write_text(inter)
    ensure_tiny_model(Path(os.environ["RECSYS_HOME"]), str(d / "interactions.csv"))  # same data, same model
    at = open_page("pages/home.py")
    at.file_uploader(key=state.UPLOAD).set_value(("interactions.csv", inter.encode(), "text/csv"))
    at.run()
    at.button(key=state.UPLOAD_GO).click().run()
    assert_clean(at)
    assert at.session_state[state.DATA].startswith("upload:")
    folder = at.session_state[state.UPLOAD_FOLDER]
    assert folder.usable and folder.path.parent == Path(tempfile.gettempdir())
    folder.remove()  # what the sweeper does once the session was gone long enough
    at.run()
    assert not at.exception
    assert any("removed while it was idle" in w.value for w in at.warning)
    assert at.session_state[state.DATA] == "demo-small"
