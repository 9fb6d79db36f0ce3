"""Long-term lab: simulate the feedback loop and show what a ranking does over time."""

from __future__ import annotations

from ui.core.model_gate import model_page
from ui.simulate import panel as sim_panel

page = model_page(":material/timeline: Long-term lab")
sim_panel.page(page.ds, page.model, page.user, page.k)
