"""Long-term lab page (streamlit): settings, a background run with a progress bar, the
per-metric curves with the reference policies, small multiples over weight settings,
"what changed for this user", and CSV / case-file export. The engine is
:mod:`recsys.simulate`; runs go through :mod:`ui.simulate.jobs` (the server's work queue)."""

from __future__ import annotations

import datetime as _dt

import pandas as pd
import streamlit as st

from recsys.data.types import DataError, Dataset
from recsys.models.base import Scorer, model_key
from recsys.simulate import POLICIES, SimulationResult
from ui.core import components, loaders, queued, recs, state
from ui.core.text import esc, md
from ui.lab import panel as lab_panel
from ui.report.logic import Section, render_case_file, safe_name
from ui.simulate import charts, jobs, logic

W_POLICIES = "w.sim_policies"
W_ROUNDS = "w.sim_rounds"
W_USERS = "w.sim_users"
W_SEED = "w.sim_seed"
W_COMPARE = "w.sim_compare"
W_METRIC = "w.sim_metric"
W_SIM_USER = "w.sim_user"
LAST_SPEC = "rl.sim_spec"  # this session's last started RunSpec
SUMMARY_METRICS = ("homogenization", "gini_consumption", "utility", "ctr", "coverage", "ild")


def _preference_note(ds: Dataset) -> str:
    planted = getattr(ds.truth, "phases", None) is not None
    return logic.describe_preference({"kind": "demo-truth" if planted else "ease", "drift": 0.05})


def settings_form(ds: Dataset, model: Scorer, k: int) -> logic.RunSpec | None:
    """The run settings; returns the spec when the analyst pressed Run."""
    st.caption(_preference_note(ds))
    st.markdown("**Re-ranking weights of the model policy** (shared with the Fairness lab)")
    w = lab_panel.weight_sliders()
    c1, c2, c3, c4 = st.columns([2, 1, 1, 1])
    policies = c1.multiselect("Policies", list(POLICIES), default=["model", "random", "popular", "oracle"],
                              key=W_POLICIES, format_func=lambda p: str(logic.POLICY_LABELS.get(p, p)))
    rounds = int(c2.number_input("Rounds", 1, 200, 20, key=W_ROUNDS))
    users = int(c3.number_input("Users", 2, max(2, ds.n_users), min(300, ds.n_users), key=W_USERS,
                                help="simulated users, drawn by a seeded per-user key"))
    seed = int(c4.number_input("Seed", 0, 10_000, 0, key=W_SEED))
    compare = st.toggle("Small multiples: also run the model at diversity, calibration and fairness 0.5",
                        value=True, key=W_COMPARE)
    if not policies:
        st.info("Pick at least one policy to simulate.")
        return None
    if not st.button("Run simulation", type="primary", icon=":material/play_arrow:", key="w.sim_run"):
        return None
    return logic.RunSpec(ds.content_key, model_key(model), tuple(p for p in POLICIES if p in policies), rounds,
                         users, k, w, seed, logic.COMPARE_SETTINGS if compare else ())


@st.fragment(run_every=1.0)
def _progress(spec: logic.RunSpec) -> None:
    job = jobs.get(spec)
    if job is None:
        return
    if not job.done:
        st.progress(job.fraction, text=queued.waiting_text(job.job))
        return
    st.rerun()  # the whole page shows the finished run


def results_section(ds: Dataset, user: str, job: jobs.SimJob) -> None:
    spec, results = job.spec, job.results
    main_label = next(iter(results))
    main = results[main_label]
    df = logic.long_table(results)
    st.success(f"Simulated in {main.elapsed_s + sum(r.elapsed_s for r in list(results.values())[1:]):.1f} s. "
               + logic.settings_text(spec, main))
    st.caption(logic.describe_preference(main.preference))
    cols = st.columns(len(SUMMARY_METRICS))
    if "model" in main.policies:
        for col, m in zip(cols, SUMMARY_METRICS):
            v = main.policies["model"].final(m)
            ref = main.policies["random"].final(m) if "random" in main.policies else None
            col.metric(logic.SHORT_LABELS[m], "–" if v is None else f"{v:.3f}",
                       delta=None if (v is None or ref is None) else f"{v - ref:+.3f}", delta_color="off",
                       help=f"model policy, final round: {logic.METRIC_LABELS[m]}; the delta is against the "
                            "random policy")
    metric = st.selectbox("Metric", list(logic.CURVE_METRICS), key=W_METRIC,
                          format_func=lambda m: str(logic.METRIC_LABELS.get(m, m)))
    st.plotly_chart(charts.curves_figure(df, metric, main_label), key="sim.curves", width="stretch")
    if len(results) > 1:
        st.subheader("Small multiples: the model under several weight settings")
        st.plotly_chart(charts.small_multiples_figure(df, ["homogenization", "jaccard_new", "gini_consumption",
                                                           "utility", "ctr", "ild"]),
                        key="sim.multiples", width="stretch")
    with st.expander("Final values and satisfaction per user group"):
        st.dataframe(logic.final_table(results), hide_index=True, width="stretch", key="sim.finals")
        if "model" in main.policies:
            st.dataframe(logic.group_table(main, "model"), hide_index=True, width="stretch", key="sim.groups")
    user_section(ds, user, main)
    c1, c2 = st.columns(2)
    with c1:
        components.csv_download(df, "Per-round metrics (CSV)", "reclens_long_term.csv", "dl.sim.csv")
    with c2:
        st.download_button("Case file (HTML)", data=lambda: case_file(ds, user, job),
                           file_name=f"reclens_long_term_{safe_name(user)}.html", mime="text/html",
                           key="dl.sim.case", icon=":material/description:", on_click="ignore")


def user_section(ds: Dataset, user: str, res: SimulationResult) -> None:
    st.subheader("What changed for this user")
    options = list(res.users)
    default = options.index(user) if user in options else 0
    if user not in options:
        st.caption(f"User {md(user)} is not among the simulated users; showing another one.")
    who = str(st.selectbox("Simulated user", options, index=default, key=W_SIM_USER) or options[default])
    tl = logic.user_timeline(ds, res, who)
    st.plotly_chart(charts.timeline_figure(tl), key="sim.timeline", width="stretch")
    st.plotly_chart(charts.category_shift_figure(logic.category_shift(ds, res, who)), key="sim.shift",
                    width="stretch")
    st.dataframe(tl[tl["source"] != "real history"], hide_index=True, width="stretch", key="sim.choices")


def case_file(ds: Dataset, user: str, job: jobs.SimJob) -> str:
    results = job.results
    main_label = next(iter(results))
    main = results[main_label]
    df = logic.long_table(results)
    who = user if user in main.users else main.users[0]
    sections = [
        Section("Settings", logic.settings_text(job.spec, main) + "\n" + logic.describe_preference(main.preference)),
        Section("Final values", table=logic.final_table(results)),
        Section("Curves", figures=[charts.curves_figure(df, m, main_label)
                                   for m in ("homogenization", "gini_consumption", "utility")]),
    ]
    if len(results) > 1:
        sections.append(Section("Weight settings", figures=[charts.small_multiples_figure(
            df, ["homogenization", "jaccard_new", "gini_consumption", "utility", "ctr", "ild"])]))
    tl = logic.user_timeline(ds, main, who)
    sections.append(Section(f"User {who}: real vs simulated", figures=[charts.timeline_figure(tl)],
                            table=pd.DataFrame(tl[tl["source"] != "real history"])))
    meta = {"data": ds.source, "generated": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    return render_case_file("RecLens long-term lab", meta, sections)


def page(ds: Dataset, model: Scorer, user: str, k: int) -> None:
    st.caption("Simulate the feedback loop: every round each simulated user gets a top-k list, picks one item or "
               "nothing by their true preference, the pick joins their history (the model reads it next round) "
               "and their taste drifts towards it. Random, most-popular and oracle rankings run beside the model "
               "as references.")
    if loaders.too_big_for_a_session(ds):
        st.info("This dataset is too large to simulate inside a browser session. Run it on the command line: "
                f"`python -m recsys simulate --data {esc(ds.source)} --rounds 20 --users 600 --json`.")
        return
    spec = settings_form(ds, model, k)
    if spec is not None:
        try:
            jobs.start(spec, ds, model, recs.context_for(ds, model), queued.source_label(state.data_source()))
            st.session_state[LAST_SPEC] = spec
        except DataError as e:  # the server's work queue is full
            st.warning(f"Not started: {esc(e)}", icon=":material/hourglass_top:")
    spec = st.session_state.get(LAST_SPEC)
    if spec is None or spec.data_key != ds.content_key or spec.model_key != model_key(model):
        components.empty_state("No simulation yet", "Pick the policies and weights above and press "
                               "Run simulation. 300 users × 20 rounds take a few seconds.")
        return
    job = jobs.get(spec)
    if job is None:
        components.empty_state("No simulation yet", "Press Run simulation to start.")
        return
    if not job.done:
        if job.position() > 0:
            st.caption("Heavy work (training, simulations, population sweeps) runs one job at a time on this "
                       "server; this run starts when the jobs ahead of it have finished.")
        _progress(spec)
        return
    if job.error:
        st.error(f"The simulation failed: {esc(job.error)}")
        return
    state.write_url()
    results_section(ds, user, job)
