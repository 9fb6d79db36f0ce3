"""Real-browser test: Playwright drives Debian's Chromium against `streamlit run app.py`
on the small demo world (a tiny model is trained into a temp RECSYS_HOME first).

Skips with a reason when /usr/bin/chromium is missing, unless CI=true (then fails).
Set RECLENS_SCREENSHOTS=1 to (re)write docs/screenshots/*.png (on the default demo world,
with the model the app trains there on first start instead of the tiny one); page settle times are
printed and written to benchmarks/results/browser_settle.json when
RECLENS_SETTLE_OUT is set (timings are reported, never asserted).
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app_support import REPO, ensure_app_model, ensure_tiny_model

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]
PAGE_URLS = {
    "home": "",
    "user_explorer": "user_explorer",
    "recommendations": "recommendations",
    "fairness_lab": "fairness_lab",
    "long_term_lab": "long_term_lab",
    "what_if_studio": "whatif_studio",
    "item_view": "item_view",
    "evaluation": "evaluation",
    "live": "live",
}
EVIL_TITLE = "<script>window.__pwned=1</script><b>Bold</b> & Co"
EVIL_CAT = "<img src=x onerror=\"window.__pwned=2\">Cat"
DEMO_TOKEN = "browser-test-token-4711"

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true but {CHROMIUM} is missing (apt-get install chromium)", pytrace=False)
    pytest.skip(f"{CHROMIUM} not found: install Debian's chromium to run the browser test", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api")


# the small demo world keeps the test quick; screenshots show the app's default world
# (with the model the app trains there on first start: ~2 minutes once)
WORLD = "demo" if os.environ.get("RECLENS_SCREENSHOTS") == "1" else "demo-small"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _evil_dataset(root: Path) -> Path:
    d = root / "evil"
    d.mkdir(exist_ok=True)
    rows = ["user_id,item_id,timestamp"]
    for u in range(12):
        for j in range(8):
            rows.append(f"u{u},i{(u * 5 + j * 3) % 20},{1_600_000_000 + 86400 * (j + u)}")
    (d / "interactions.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    items = ["item_id,title,categories"]
    for j in range(20):
        title = EVIL_TITLE if j == 0 else f"Book {j}"
        cat = EVIL_CAT if j % 2 == 0 else "Plain"
        items.append(f'i{j},"{title.replace(chr(34), chr(34) * 2)}","{cat.replace(chr(34), chr(34) * 2)}"')
    (d / "items.csv").write_text("\n".join(items) + "\n", encoding="utf-8")
    return d


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("browser")
    home = root / "home"
    home.mkdir()
    evil = _evil_dataset(root)
    old = os.environ.get("RECSYS_HOME")
    if os.environ.get("RECLENS_SCREENSHOTS") == "1":  # the documentation shows the real model card
        ensure_app_model(home, WORLD)
    else:
        ensure_tiny_model(home, WORLD)
    ensure_tiny_model(home, str(evil))
    if old is not None:
        os.environ["RECSYS_HOME"] = old
    # the planted dataset lives under a data root: a browser session may open it by path
    env = dict(os.environ, RECSYS_HOME=str(home), RECSYS_DATA=WORLD, RECSYS_DATA_ROOTS=str(root))
    env.pop("RECSYS_MODEL", None)
    yield from _serve(root, env)


def _serve(root: Path, env: dict[str, str]):
    """Run `streamlit run app.py` with ``env`` until the generator is closed; yields
    {"url", "root", "evil"} ("evil": where the planted dataset is, when there is one)."""
    for var in ("RECSYS_DEMO_MODE", "RECSYS_ACCESS_TOKEN"):
        env.setdefault(var, "")
    port = _free_port()
    log_path = root / f"streamlit-{port}.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            time.sleep(0.5)
    else:
        proc.terminate()
        pytest.fail(f"streamlit did not start; log: {log_path.read_text()[-2000:]}")
    yield {"url": url, "evil": root / "evil", "root": root}
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@pytest.fixture(scope="module")
def demo_server(server):
    """The read-only demo mode with an access token, on the small demo world (the model
    comes from the first server's RECSYS_HOME; no data roots)."""
    root = server["root"]
    home = root / "home"
    old = os.environ.get("RECSYS_HOME")
    ensure_tiny_model(home, "demo-small")  # already there unless RECLENS_SCREENSHOTS=1
    if old is not None:
        os.environ["RECSYS_HOME"] = old
    env = dict(os.environ, RECSYS_HOME=str(home), RECSYS_DATA="demo-small", RECSYS_DEMO_MODE="1",
               RECSYS_ACCESS_TOKEN=DEMO_TOKEN)
    for var in ("RECSYS_MODEL", "RECSYS_DATA_ROOTS"):
        env.pop(var, None)
    yield from _serve(root, env)


@pytest.fixture(scope="module")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000}, accept_downloads=True)
    pg = ctx.new_page()
    yield pg
    ctx.close()


def settle(page, timeout: float = 120.0) -> float:
    """Wait until the script has finished running; returns seconds waited."""
    t0 = time.perf_counter()
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout * 1000)
    time.sleep(0.25)  # let a triggered rerun start
    page.wait_for_function(
        "() => { const a = document.querySelector('[data-testid=\"stApp\"]');"
        " return a && a.getAttribute('data-test-script-state') === 'notRunning'; }",
        timeout=timeout * 1000,
    )
    return time.perf_counter() - t0


def assert_no_exception(page) -> None:
    n = page.locator('[data-testid="stException"]').count()
    assert n == 0, page.locator('[data-testid="stException"]').first.inner_text()


def _shot(page, name: str) -> None:
    out = REPO / "docs" / "screenshots" if os.environ.get("RECLENS_SCREENSHOTS") == "1" else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        # every chart drawn and no loading placeholder left (a fixed wait captured grey
        # skeletons on a loaded machine), then a moment for plotly's transitions
        page.wait_for_function(
            "() => [...document.querySelectorAll('[data-testid=\"stPlotlyChart\"]')]"
            ".every(c => c.querySelector('.main-svg'))"
            " && !document.querySelector('[data-testid=\"stSkeleton\"]')",
            timeout=60_000,
        )
        page.wait_for_timeout(750)
        page.screenshot(path=str(out / f"{name}.png"), full_page=False)


def _featured_user() -> str:
    from recsys.data import load

    return load(WORLD).truth.featured_users()[0]


def test_every_page_opens_for_a_user_without_exception(server, page):
    user = _featured_user()
    settles: dict[str, dict[str, float]] = {}
    for name, path in PAGE_URLS.items():
        page.goto(f"{server['url']}/{path}?user={user}")
        first = settle(page)
        assert_no_exception(page)
        assert f"user={user}" in page.url
        page.reload()  # model and data cached now: the typical settle time
        again = settle(page)
        assert_no_exception(page)
        settles[name] = {"first_s": round(first, 3), "cached_s": round(again, 3)}
        _shot(page, name)
    print("page settle times:", json.dumps(settles))
    out = os.environ.get("RECLENS_SETTLE_OUT")
    if out:
        Path(out).write_text(json.dumps(settles, indent=1), encoding="utf-8")


def test_moving_a_weight_changes_the_list(server, page):
    user = _featured_user()
    page.goto(f"{server['url']}/fairness_lab?user={user}&k=10")
    settle(page)
    metric_before = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    slider = page.locator('[data-testid="stSlider"]', has_text="Diversity").get_by_role("slider")
    slider.focus()
    for _ in range(16):
        page.keyboard.press("ArrowRight")
    settle(page)
    assert_no_exception(page)
    assert re.search(r"[?&]div=0\.\d+", page.url), page.url
    metric_after = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    assert metric_after != metric_before  # ILD / long-tail / … of the re-ranked list moved


def test_sidebar_pages_keep_the_user(server, page):
    user = _featured_user()
    page.goto(f"{server['url']}/Recommendations?user={user}&k=8")  # a link to the earlier page path
    page.wait_for_url(re.compile(r"/recommendations\?"), timeout=60_000)  # redirected, view kept
    settle(page)
    assert_no_exception(page)
    assert f"user={user}" in page.url and "k=8" in page.url, page.url
    page.get_by_role("heading", name=re.compile("Top 8 for user")).wait_for(timeout=30_000)
    nav = page.locator('[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]')
    nav.last.wait_for(timeout=30_000)
    names = [t.strip().split("\n")[-1] for t in nav.all_inner_texts()]  # after the icon's ligature
    assert names == ["Home", "User explorer", "Recommendations", "Fairness lab", "Long-term lab",
                     "What-if studio", "Item view", "Evaluation", "Live"]  # one link per page, the old paths are hidden
    nav.filter(has_text="Fairness lab").first.click()
    page.wait_for_url(re.compile(r"/fairness_lab\?"), timeout=30_000)
    settle(page)
    assert_no_exception(page)
    assert f"user={user}" in page.url, page.url
    page.get_by_role("heading", name=re.compile("Live re-ranking for user")).wait_for(timeout=30_000)
    nav.filter(has_text="Home").first.click()
    page.get_by_role("heading", name="RecLens").wait_for(timeout=30_000)
    settle(page)
    assert_no_exception(page)


def test_whatif_edit_and_case_file_export(server, page, tmp_path):
    user = _featured_user()
    page.goto(f"{server['url']}/whatif_studio?user={user}")
    settle(page)
    page.get_by_role("button", name=re.compile("empty profile")).click()
    settle(page)
    assert_no_exception(page)
    assert page.get_by_text("empty profile", exact=False).first.is_visible()
    page.get_by_role("button", name=re.compile("Add to the end")).click()  # the top match: most popular
    settle(page)
    assert_no_exception(page)
    values = page.locator('[data-testid="stMetricValue"]').all_inner_texts()
    tau, entering = float(values[0]), int(values[1])
    assert entering > 0 or tau < 1.0  # one item on a cold-start profile changes the list
    page.goto(f"{server['url']}/recommendations?user={user}")
    settle(page)
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name=re.compile("Case file")).click()
    path = tmp_path / "case.html"
    dl.value.save_as(str(path))
    html = path.read_text(encoding="utf-8")
    assert "Plotly.newPlot" in html and not re.search(r"<script[^>]*\bsrc=", html)
    assert f"user {user}" in html
    # the case file opens offline in the browser and draws its charts
    page.goto(path.as_uri())
    page.wait_for_selector(".plotly-graph-div .main-svg", timeout=30_000)


def test_long_term_lab_runs_a_tiny_simulation(server, page, tmp_path):
    user = _featured_user()
    page.goto(f"{server['url']}/long_term_lab?user={user}&div=0.2")
    settle(page)
    assert_no_exception(page)
    page.get_by_text("No simulation yet").wait_for(timeout=30_000)
    shots = os.environ.get("RECLENS_SCREENSHOTS") == "1"  # the documentation shows a full-size run
    users, rounds = ("300", "20") if shots else ("20", "3")
    for label, value in (("Users", users), ("Rounds", rounds)):
        box = page.locator('[data-testid="stNumberInput"]', has_text=label).locator("input")
        box.fill(value)
        box.press("Enter")
        settle(page)
    page.get_by_role("button", name=re.compile("Run simulation")).click()
    page.get_by_text(re.compile("Simulated in")).wait_for(timeout=180_000)  # the background run finished
    settle(page)
    assert_no_exception(page)
    assert page.get_by_text(re.compile(f"{users} simulated users × {rounds} rounds")).count() >= 1
    assert page.get_by_text(re.compile("diversity 0.2")).count() >= 1  # the Lab's weights from the URL
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=\"stPlotlyChart\"] .main-svg').length >= 3", timeout=60_000)
    if shots:
        page.locator('[data-testid="stPlotlyChart"]').first.scroll_into_view_if_needed()
        _shot(page, "long_term_lab")
    with page.expect_download(timeout=60_000) as dl:
        page.get_by_role("button", name=re.compile("Per-round metrics")).click()
    path = tmp_path / "long_term.csv"
    dl.value.save_as(str(path))
    head = path.read_text(encoding="utf-8").splitlines()
    assert head[0] == "setting,policy,round,metric,value" and len(head) > 50


def test_html_in_titles_renders_as_text(server, page):
    evil = server["evil"]
    from urllib.parse import quote

    page.goto(f"{server['url']}/user_explorer?data={quote(str(evil))}&user=u0")
    settle(page)
    assert_no_exception(page)
    assert page.evaluate("() => window.__pwned") is None
    # the category name shows as literal text (chart legends, tables), no <img> was created from data
    page.wait_for_function("() => document.body.innerText.includes('onerror=\"window.__pwned=2\"')",
                           timeout=30_000)
    assert page.locator("img[src='x']").count() == 0
    page.goto(f"{server['url']}/item_view?data={quote(str(evil))}&item=i0")
    settle(page)
    assert_no_exception(page)
    assert page.evaluate("() => window.__pwned") is None
    assert page.get_by_text("<script>window.__pwned=1</script>", exact=False).count() >= 1
    assert page.locator("b", has_text="Bold").count() == 0


def test_model_comparison_turns_on_and_shows_the_lists(server, page):
    user = _featured_user()
    page.goto(f"{server['url']}/{PAGE_URLS['recommendations']}?user={user}&k=10")
    settle(page)
    assert_no_exception(page)
    page.get_by_role("heading", name="Compare models for this user").wait_for(timeout=60_000)
    assert page.locator('[data-testid="stPlotlyChart"] .heatmaplayer').count() == 0  # nothing computed yet
    page.locator('[data-testid="stCheckbox"]', has_text="Show the comparison").click()
    settle(page)
    assert_no_exception(page)
    headers = page.locator('[data-testid="stDataFrame"] [role="columnheader"]')
    page.wait_for_function(
        "() => [...document.querySelectorAll('[data-testid=\"stDataFrame\"] [role=\"columnheader\"]')]"
        ".some(h => h.innerText.trim() === 'ItemKNN')", timeout=60_000)
    names = {t.strip() for t in headers.all_inner_texts()}
    assert {"Transformer", "EASE", "ItemKNN", "MostPopular"} <= names, names
    page.wait_for_selector('[data-testid="stPlotlyChart"] .heatmaplayer', timeout=60_000)  # the overlap matrix
    page.get_by_text("Held-out test item", exact=False).first.wait_for(timeout=30_000)


def test_explanation_units_switch_and_agreement(server, page):
    """Issue 23: the Recommendations panel shows SHAP–LIME agreement and switches the
    explanation between items and groups of history items."""
    user = _featured_user()
    page.goto(f"{server['url']}/recommendations?user={user}&k=10")
    settle(page)
    assert_no_exception(page)
    page.get_by_text("SHAP–LIME agreement").first.wait_for(timeout=60_000)
    units = page.locator('[data-testid="stRadio"]', has_text="Units")
    units.get_by_text("Sessions", exact=True).click()
    settle(page)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"Units: \d+ groups \(session\)")).first.wait_for(timeout=60_000)
    page.get_by_text("Open a group").first.wait_for(timeout=30_000)
    units.get_by_text("Items", exact=True).click()
    settle(page)
    assert_no_exception(page)
    page.get_by_text(re.compile(r"Units: \d+ items\.")).first.wait_for(timeout=60_000)


_ARM_RUN = """() => {
  window.__rlRan = false;
  if (window.__rlObs) window.__rlObs.disconnect();
  window.__rlObs = new MutationObserver(() => {
    const b = document.querySelector('[data-testid="stApp"]');
    if (b && b.getAttribute('data-test-script-state') === 'running') window.__rlRan = true;
  });
  window.__rlObs.observe(document.body, {attributes: true, subtree: true, attributeFilter: ['data-test-script-state']});
}"""


def _all_act(pages, action) -> None:
    """Start ``action(page)`` on every page before waiting for any: the sessions' script
    runs overlap on the server. Then wait until each page's run is over."""
    for pg in pages:
        pg.evaluate(_ARM_RUN)
    for pg in pages:
        action(pg)
    for pg in pages:
        try:
            pg.wait_for_function("() => window.__rlRan", timeout=30_000)
        except sync_api.TimeoutError:
            pass  # the content checks below are the real sync points
        settle(pg)


def _names_others(text: str, others: list[str]) -> list[str]:
    return [o for o in others if re.search(rf"\buser {re.escape(o)}(?![\w-])", text)]


def test_three_concurrent_sessions_see_only_their_own_user_and_edits(server, browser):
    """Issue 22: three browser sessions at once, each on its own user, open the
    Recommendations page and the What-if studio and add an item there; no session ever
    shows another's user or edit."""
    from recsys.data import load

    ds = load(WORLD)
    users = [u for u in [*ds.truth.featured_users(), *ds.user_ids] if len(ds.history(u)) >= 3]
    users = list(dict.fromkeys(users))[:3]
    seen = {int(i) for u in users for i in ds.history(u).items}
    lowered = [t.lower() for t in ds.titles]
    titles = [ds.titles[i] for i in range(ds.n_items)  # a title no other title contains: one search hit
              if i not in seen and sum(lowered[i] in t for t in lowered) == 1][:3]
    base = {u: len(ds.history(u)) for u in users}
    contexts = [browser.new_context(viewport={"width": 1440, "height": 1000}) for _ in users]
    try:
        pages = [c.new_page() for c in contexts]
        who = dict(zip(pages, users))
        for pg in pages:  # all three sessions load at once
            pg.goto(f"{server['url']}/recommendations?user={who[pg]}&k=10")
        for pg in pages:
            settle(pg)
            pg.get_by_role("heading", name=f"Top 10 for user {who[pg]}").wait_for(timeout=60_000)
            assert_no_exception(pg)
            headings = re.findall(r"Top \d+ for user (\S+)", pg.inner_text("body"))
            assert headings == [who[pg]], headings
            assert _names_others(pg.inner_text("body"), [u for u in users if u != who[pg]]) == []

        nav = '[data-testid="stSidebarNav"] [data-testid="stSidebarNavLink"]'
        _all_act(pages, lambda pg: pg.locator(nav).filter(has_text="What-if studio").first.click())
        for pg in pages:
            pg.get_by_text(re.compile(rf"Editing user {who[pg]} — a copy of user {who[pg]}; "
                                      rf"{base[who[pg]]} items\.")).wait_for(timeout=60_000)
        item = dict(zip(pages, titles))
        for pg in pages:  # typing starts no run; Enter does
            pg.get_by_role("textbox", name="Find an item by title").fill(item[pg])
        _all_act(pages, lambda pg: pg.get_by_role("textbox", name="Find an item by title").press("Enter"))
        _all_act(pages, lambda pg: pg.get_by_role("button", name="Add to the end of the history").click())
        for pg in pages:
            u = who[pg]
            pg.get_by_text(re.compile(rf"{base[u] + 1} items\. \(edited\)")).wait_for(timeout=60_000)
            assert_no_exception(pg)
            main = pg.inner_text('[data-testid="stMain"]')
            m = re.search(r"Editing (.+?) — a copy of user (\S+?); (\d+) items\.", main)
            assert m is not None and (m.group(1), m.group(2), int(m.group(3))) == (f"user {u}", u, base[u] + 1), m
            assert _names_others(pg.inner_text("body"), [o for o in users if o != u]) == []
            assert pg.get_by_role("textbox", name="Find an item by title").input_value() == item[pg]
        # back on the Recommendations page each session still sees its own user only
        _all_act(pages, lambda pg: pg.locator(nav).filter(has_text="Recommendations").first.click())
        for pg in pages:
            pg.get_by_role("heading", name=f"Top 10 for user {who[pg]}").wait_for(timeout=60_000)
            assert re.findall(r"Top \d+ for user (\S+)", pg.inner_text("body")) == [who[pg]]
            assert _names_others(pg.inner_text("body"), [u for u in users if u != who[pg]]) == []
            assert_no_exception(pg)
    finally:
        for c in contexts:
            c.close()


def test_demo_mode_needs_the_token_and_refuses_server_paths(demo_server, page):
    from ui.core.access import REFUSED, TOKEN_NEEDED

    url = demo_server["url"]
    page.goto(f"{url}/?data=/root")
    settle(page)
    page.get_by_text(TOKEN_NEEDED[:40]).wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert "Data source" not in body and ".bashrc" not in body  # nothing of the app without the token
    page.goto(f"{url}/?token={DEMO_TOKEN}&data=/root")
    settle(page)
    assert_no_exception(page)
    page.get_by_text(REFUSED[:60]).wait_for(timeout=30_000)
    body = page.inner_text("body")
    assert ".bashrc" not in body and "/root" not in body and str(demo_server["root"]) not in body
    page.wait_for_function("() => !location.search.includes('token=')", timeout=30_000)
    assert "data=demo-small" in page.url  # the start-up world opened instead
    assert page.locator('[data-testid="stFileUploader"]').count() == 0
    # the session keeps the grant: moving to another page needs no token
    page.locator('[data-testid="stSidebarNav"] a', has_text="User explorer").click()
    settle(page)
    assert_no_exception(page)
    page.get_by_role("heading", name=re.compile("User explorer")).wait_for(timeout=60_000)
    assert TOKEN_NEEDED[:40] not in page.inner_text("body") and "token=" not in page.url
    # a new page load is a new session: the token again, and another server path, same message
    page.goto(f"{url}/user_explorer?token={DEMO_TOKEN}&data=/etc/passwd")
    settle(page)
    assert_no_exception(page)
    page.get_by_text(REFUSED[:60]).wait_for(timeout=30_000)
    assert "passwd" not in page.inner_text("body")


@pytest.fixture(scope="module")
def live_server(server):
    """A server of its own for the live view: its RECSYS_HOME shares the first server's
    models and caches but keeps its own event logs (the other tests see no events)."""
    root = server["root"]
    home = root / "live-home"
    home.mkdir(exist_ok=True)
    for sub in ("models", "cache"):
        if (root / "home" / sub).is_dir() and not (home / sub).exists():
            (home / sub).symlink_to(root / "home" / sub)
    env = dict(os.environ, RECSYS_HOME=str(home), RECSYS_DATA=WORLD)
    for var in ("RECSYS_MODEL", "RECSYS_DATA_ROOTS"):
        env.pop(var, None)
    for s in _serve(root, env):
        yield {**s, "home": home}


def _ingest(home: Path, *rows: dict) -> None:
    """``python -m recsys ingest`` in a subprocess, as an analyst's second terminal would."""
    lines = "".join(json.dumps(r) + "\n" for r in rows)
    out = subprocess.run([sys.executable, "-m", "recsys", "ingest", "--data", WORLD, "--events", "-"], input=lines,
                         text=True, capture_output=True, cwd=REPO, env=dict(os.environ, RECSYS_HOME=str(home)),
                         timeout=300)
    assert out.returncode == 0, out.stderr


def test_live_page_shows_the_new_list_without_a_reload(live_server, page):
    """Issue 21: live mode on, an ingest in another process, the list changes in place."""
    from recsys.data import load

    ds = load(WORLD, events=False)
    user = _featured_user()
    last = int(ds.timestamp.max())
    page.goto(f"{live_server['url']}/live?user={user}")
    settle(page)
    assert_no_exception(page)
    page.get_by_text("Live mode is off").wait_for(timeout=30_000)
    page.locator('[data-testid="stCheckbox"]', has_text="Live mode").click()
    page.get_by_text("No events yet").wait_for(timeout=30_000)
    _ingest(live_server["home"], {"user_id": "someone-else", "item_id": ds.item_ids[0], "timestamp": last + 5})
    page.get_by_text("Waiting for a new event of this user").wait_for(timeout=30_000)
    table = page.locator('[data-testid="stTable"]').first
    before = table.inner_text()
    top = table.locator("tbody tr").first.locator("td").last.inner_text().strip()
    url = page.url
    page.evaluate("() => { window.__sameDocument = 1; }")  # a reload would drop it
    _ingest(live_server["home"], {"user_id": user, "item_id": ds.item_ids[ds.titles.index(top)],
                                  "timestamp": last + 60})
    page.get_by_text("caused by 1 new event(s)", exact=False).wait_for(timeout=30_000)
    after = page.locator('[data-testid="stTable"]').first.inner_text()
    assert after != before and "out" in after  # the consumed top item left the list
    assert page.url == url and page.evaluate("() => window.__sameDocument") == 1  # no reload, no navigation
    assert_no_exception(page)
