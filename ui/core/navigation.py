"""The page registry: one entry per page, the sidebar's links, and the old page URLs.

The frame (:mod:`ui.core.frame`) builds ``st.navigation`` from :func:`pages`. A page's
``url_path`` is its file name without ``.py`` (Home is the default page at ``/``), so
Streamlit's legacy ``pages/`` handling, which serves the first request after a server
start, finds the same page (and the page then runs the frame around itself). The URL
paths of the earlier ``pages/N_Name.py`` layout
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
    title: str
    icon: str
    old_path: str | None = None  # URL path of the earlier pages/ layout

    @property
    def url_path(self) -> str:
        """The file's stem (see the module docstring)."""
        return self.file.rsplit("/", 1)[-1].removesuffix(".py")


PAGES: dict[str, PageSpec] = {
    p.name: p
    for p in (
        PageSpec("home", "pages/home.py", "Home", ":material/home:"),
        PageSpec("users", "pages/user_explorer.py", "User explorer", ":material/person_search:",
                 "User_explorer"),
        PageSpec("recs", "pages/recommendations.py", "Recommendations", ":material/star:",
                 "Recommendations"),
        PageSpec("lab", "pages/fairness_lab.py", "Fairness lab", ":material/balance:", "Fairness_lab"),
        PageSpec("longterm", "pages/long_term_lab.py", "Long-term lab", ":material/timeline:"),
        PageSpec("whatif", "pages/whatif_studio.py", "What-if studio", ":material/science:",
                 "What-if_studio"),
        PageSpec("item", "pages/item_view.py", "Item view", ":material/category:", "Item_view"),
        PageSpec("eval", "pages/evaluation.py", "Evaluation", ":material/analytics:",
                 "Evaluation"),
        PageSpec("live", "pages/live.py", "Live", ":material/sensors:"),
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
