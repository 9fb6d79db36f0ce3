"""The app on big data (streamlit): the command notices shown instead of training or
scoring every user in a browser session, and the choice of where a population page gets
its numbers — the serving table beside the model, the in-session computation (small
data, today's behaviour) or, above the first-start limit without a table, the exact
``precompute`` command. Command lines come from :mod:`ui.serving.logic`.
"""

from __future__ import annotations

from typing import Literal

import streamlit as st

from recsys.data.types import Dataset
from recsys.models.base import Scorer, model_key
from ui.core import loaders, policy, state
from ui.core.text import md
from ui.serving import logic

Mode = Literal["table", "live", "command"]


def _commands(model_dir: str) -> logic.Commands:
    src = state.data_source()
    return logic.commands(src, model_dir, min_count=state.min_count(), tie_order=state.tie_order(src))


def _command_block(text: str, model_dir: str, cmds: logic.Commands) -> None:
    if policy.demo_mode():  # the read-only demo shows no command lines (they name server paths)
        st.caption("This read-only demo does not run it; whoever runs the server can, on its command line.")
        return
    st.code(text, language="bash", wrap_lines=True)
    notes = []
    if cmds.uploaded:
        notes.append(
            f"Uploaded files live in a temporary folder: put them in a folder on this machine and replace "
            f"`{logic.UPLOAD_PLACEHOLDER}` with its path."
        )
    rel = logic.relative_home_note(model_dir)
    if rel:
        notes.append(rel)
    if notes:
        st.caption(" ".join(notes))


def train_command_notice(ds: Dataset, model_dir: str, limit: int) -> None:
    """No model yet and the data is above the first-start limit: say so, and show the
    two command lines (train, then precompute) in one copyable block. Never trains."""
    cmds = _commands(model_dir)
    st.warning(
        f"No trained model for this dataset yet. It has {ds.n_interactions:,} interactions — more than the "
        f"{limit:,} the app trains in a browser session (`{logic.LIMIT_ENV}`). Train it on the command line, "
        "then write its serving table (every user's recommendations, for the population pages):",
        icon=":material/terminal:",
    )
    _command_block(cmds.both, model_dir, cmds)
    st.caption("Reload this page when the model is stored; the app finds it there.")


def precompute_notice(model_dir: str, what: str, limit: int) -> None:
    """A model but no usable serving table on big data: the exact precompute line
    instead of scoring every user in this session. ``what``: what the table would show
    (a plural noun phrase, e.g. "The population trade-off curves")."""
    cmds = _commands(model_dir)
    st.info(
        f"{what} come from the model's serving table: every user's recommendations, precomputed. This dataset "
        f"is above the first-start limit ({limit:,} interactions), so the app does not compute them in a browser "
        "session. Write the table once with:",
        icon=":material/terminal:",
    )
    _command_block(cmds.precompute, model_dir, cmds)
    st.caption("Reload this page when it is done; the table is read from beside the model.")


def table_status(ds: Dataset, model: Scorer) -> tuple[str | None, logic.TableStatus]:
    """(model directory, the status of its serving table). No stored model (e.g. a
    scorer the app did not load from disk) → (None, no table)."""
    loc = loaders.locate_model(ds)
    if not loc.exists:
        return None, logic.TableStatus(None)
    position = ds.log.position if ds.log is not None else 0
    return str(loc.path), logic.table_status(loc.path, model_key(model), ds.fingerprint, position)


def population_mode(ds: Dataset, model: Scorer, what: str) -> tuple[Mode, logic.TableStatus]:
    """Where a population page gets its numbers, with the notices that go with it:
    ``"table"`` (a matching serving table), ``"live"`` (data within the first-start limit
    and no usable table: computed in the session, as before) or ``"command"`` (above the
    limit without a usable table: the precompute line is shown here and the page shows no
    population numbers). A table that does not match the open model or data is flagged
    and never used. ``what``: a plural noun phrase for the notice."""
    model_dir, status = table_status(ds, model)
    if status.info is not None and status.problem:
        st.warning(f"**Serving table not used.** {md(status.problem)}",
                   icon=":material/sync_problem:")
    if status.usable:
        return "table", status
    if not loaders.too_big_for_a_session(ds):
        return "live", status
    if model_dir is not None:
        precompute_notice(model_dir, what, loaders.first_start_limit())
    else:
        st.info(f"{what} need every user's recommendations, which this app computes only for datasets up to "
                f"{loaders.first_start_limit():,} interactions.")
    return "command", status


def table_caption(status: logic.TableStatus, what: str) -> None:
    """One line saying the numbers come from the serving table (size and age)."""
    info = status.info
    if info is None:
        return
    st.caption(f"{what} from the precomputed serving table: {int(info.users):,} users, "
               f"top {int(info.pool)} per user, written {md(str(info.created)[:19].replace('T', ' '))} UTC.")


def home_status(ds: Dataset, model: Scorer) -> None:
    """Home: one line about the model's serving table — used by the population pages,
    flagged when it does not match, or (above the first-start limit) how to write it.
    Small data without a table: nothing (the pages compute in the session)."""
    model_dir, status = table_status(ds, model)
    if status.usable:
        table_caption(status, "The population pages (Fairness lab curves, Item view exposure, Evaluation) read")
    elif status.info is not None:
        st.warning(f"**Serving table not used.** {md(status.problem)}",
                   icon=":material/sync_problem:")
    if not status.usable and model_dir is not None and loaders.too_big_for_a_session(ds):
        precompute_notice(model_dir, "The population pages' numbers (Fairness lab curves, Item view exposure, "
                          "Evaluation ranks)",
                          loaders.first_start_limit())
