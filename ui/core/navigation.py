"""The page registry: one entry per page, the sidebar's links, and the old page URLs.

``app.py`` builds ``st.navigation`` from :func:`pages`. A page's ``url_path`` is never
its file name: until the first ``st.navigation`` call of a server process, Streamlit
still treats ``pages/`` as the legacy folder and would run a page whose URL equals its
file name without the frame; any other path falls back to ``app.py``, which then
resolves it. The URL paths of the earlier ``pages/N_Name.py`` layout
(``/Recommendations``, ``/What-if_studio``, …) are hidden pages that switch to the new
page, so shared links keep working; the query parameters survive because the frame has
already adopted them into the session state.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st


@dataclass(frozen=True)
class PageSpec:
    name: str  # short key used by page_link
    file: str  # relative to app.py
    url_path: str  # never the file's stem (see the module docstring)
    title: str
    icon: str
    old_path: str | None = None  # URL path of the earlier pages/ layout


PAGES: dict[str, PageSpec] = {
    p.name: p
    for p in (
        PageSpec("home", "pages/home.py", "start", "Home", ":material/home:"),
        PageSpec("users", "pages/user_explorer.py", "users", "User explorer", ":material/person_search:",
                 "User_explorer"),
        PageSpec("recs", "pages/recommendations.py", "recommend", "Recommendations", ":material/star:",
                 "Recommendations"),
        PageSpec("lab", "pages/fairness_lab.py", "lab", "Fairness lab", ":material/balance:", "Fairness_lab"),
        PageSpec("whatif", "pages/whatif_studio.py", "whatif", "What-if studio", ":material/science:",
                 "What-if_studio"),
        PageSpec("item", "pages/item_view.py", "item", "Item view", ":material/category:", "Item_view"),
        PageSpec("eval", "pages/evaluation.py", "evaluate", "Evaluation", ":material/analytics:",
                 "Evaluation"),
    )
}


def _redirect(target: Any) -> Callable[[], None]:
    def redirect() -> None:
        st.switch_page(target)

    return redirect


def pages() -> list[Any]:
    """The visible pages (Home first, the default) and hidden redirects from old paths."""
    visible = {
        spec.name: st.Page(spec.file, title=spec.title, icon=spec.icon, url_path=spec.url_path,
                           default=spec.name == "home")
        for spec in PAGES.values()
    }
    aliases = [
        st.Page(_redirect(visible[spec.name]), title=spec.title, url_path=spec.old_path, visibility="hidden")
        for spec in PAGES.values()
        if spec.old_path
    ]
    return [*visible.values(), *aliases]


def page_link(page: str, label: str | None = None) -> None:
    spec = PAGES[page]
    st.page_link(spec.file, label=label or spec.title, icon=spec.icon)
