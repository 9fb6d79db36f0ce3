"""Live: watch new events arrive in the data source's event log and the lists move."""

from __future__ import annotations

from ui.core.model_gate import model_page
from ui.live import panel as live_panel

mp = model_page(":material/sensors: Live")
live_panel.live_page(mp.ctx, mp.model)
