"""Batch precompute of the serving table (``python -m recsys precompute``).

* :mod:`recsys.precompute.plan` — the job, its shards (units of writing and resumption)
  and groups (units of scoring);
* :mod:`recsys.precompute.scoring` — one group of users to per-user rows (pool, test
  rank, evaluation pool, optional SHAP), the model loaded once per worker;
* :mod:`recsys.precompute.runner` — in-process or Ray Data scoring, shard writing,
  resumption, the manifest;
* :mod:`recsys.precompute.population` — the Fairness lab's population trade-offs
  (λ-sweep), computed from the finished table and stored beside it.

The table format and its readers are :mod:`recsys.serving`. Ray is imported only when a
run uses it.
"""
