"""Per-user model comparison: one user's top-k from the transformer, its no-text
ablation, EASE, ItemKNN and MostPopular side by side, how much the lists overlap, and
where the user's held-out test item lands in each model's full ranking.

Used by ``recommend --compare`` and the Recommendations page (``ui/compare``).

**Where the baselines are fitted.** :func:`fit_baselines` fits them once per dataset
exactly as the ``evaluate`` command does (:func:`recsys.evaluation.baseline_scorers`):
on ``leave_one_out(ds).train_matrix("test")`` — every interaction before each user's
test item. The transformer artifact is trained on the same split's training part, so
no model has seen a held-out test item, and the held-out ranks here are the very
ranks ``evaluate`` averages (pessimistic ties, seen items excluded). The lists are
scored from the user's current history (all interactions, or the edited / ``--as-of``
history of ``recommend``) with the same ``k`` and the same seen-item exclusion as the
main list: the model's own order, ties to the smaller item index, no re-ranking.

**Held-out item.** For a user of the evaluation split (>= 3 interactions) each model
scores the split's test input (history without the last interaction) and the rank of
the last interaction is reported; ``None`` for a model that could not be computed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence, cast

import numpy as np

from recsys.data.types import DataError, Dataset, History
from recsys.evaluation.baselines import baseline_scorers
from recsys.evaluation.metrics import rank_of_targets
from recsys.evaluation.split import Split, leave_one_out
from recsys.models.base import Scorer, top_k

# the evaluate command's model names, in the order lists are shown
COMPARE_ORDER = ("transformer", "transformer_no_text", "ease", "itemknn", "popularity")
BASELINE_NAMES = ("ease", "itemknn", "popularity")
LABELS = {"transformer": "Transformer", "transformer_no_text": "Transformer, no text", "ease": "EASE",
          "itemknn": "ItemKNN", "popularity": "MostPopular"}
FIT_NOTE = ("baselines fitted on every interaction before each user's test item (leave-one-out), "
            "as the evaluate command fits them")
NO_ABLATION = "the artifact has no no_text/ model"


@dataclass(frozen=True, eq=False)
class FittedBaselines:
    """EASE, ItemKNN and MostPopular fitted once for a dataset (read-only afterwards)."""

    fingerprint: str
    split: Split
    scorers: dict[str, Scorer]
    skipped: dict[str, str]  # baseline name -> why it could not be fitted (e.g. EASE on a huge catalogue)
    seconds: float


def fit_baselines(ds: Dataset, split: Split | None = None) -> FittedBaselines:
    """Fit the compared baselines on ``split.train_matrix("test")`` (see the module docstring)."""
    t0 = time.perf_counter()
    split = leave_one_out(ds) if split is None else split
    makers = dict(baseline_scorers(None))
    scorers: dict[str, Scorer] = {}
    skipped: dict[str, str] = {}
    for name in BASELINE_NAMES:
        try:
            scorers[name] = cast(Scorer, makers[name](split))
        except (DataError, MemoryError) as e:
            skipped[name] = f"could not be fitted: {e}"
    return FittedBaselines(ds.fingerprint, split, scorers, skipped, round(time.perf_counter() - t0, 3))


def collect_models(transformer: Scorer, no_text: Scorer | str | None,
                   baselines: FittedBaselines) -> tuple[dict[str, Scorer], dict[str, str]]:
    """(models in :data:`COMPARE_ORDER`, skipped name -> reason). ``no_text`` is the
    ablation, or the reason it is missing (None: :data:`NO_ABLATION`)."""
    models: dict[str, Scorer] = {"transformer": transformer}
    skipped: dict[str, str] = {}
    if isinstance(no_text, str) or no_text is None:
        skipped["transformer_no_text"] = no_text or NO_ABLATION
    else:
        models["transformer_no_text"] = no_text
    models.update(baselines.scorers)
    skipped.update(baselines.skipped)
    return _in_order(models), _in_order(skipped)


def _in_order(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` with its model names in :data:`COMPARE_ORDER` (unknown names last)."""
    order = {n: p for p, n in enumerate(COMPARE_ORDER)}
    return dict(sorted(d.items(), key=lambda kv: order.get(kv[0], len(order))))


@dataclass(frozen=True, eq=False)
class HeldOut:
    """Where the user's held-out test item lands in every model's full ranking."""

    item: int  # item index of the test item
    ranks: dict[str, int | None]  # model -> 1-based rank (pessimistic ties), None when not computed
    history_length: int  # length of the test input the models scored


@dataclass(frozen=True, eq=False)
class Comparison:
    """One user's lists under every compared model (item indices, best first)."""

    user: str
    k: int
    lists: dict[str, np.ndarray]  # model -> (<= k,) item indices
    scores: dict[str, np.ndarray]  # model -> the listed items' scores
    positions: dict[str, dict[int, int | None]]  # model -> item of any list -> its place in the full ranking
    skipped: dict[str, str] = field(default_factory=dict)
    held_out: HeldOut | None = None

    @property
    def names(self) -> list[str]:
        return list(self.lists)

    def union(self) -> list[int]:
        return union_items(self.lists)

    def overlap(self) -> dict[str, dict[str, float]]:
        return overlap_matrix({n: [int(i) for i in items] for n, items in self.lists.items()})


def union_items(lists: Mapping[str, Sequence[int] | np.ndarray]) -> list[int]:
    """Every listed item once: by its best place in any list, then by how many lists
    hold it (more first), then by the first model (in order) that lists it there."""
    sets = [set(int(i) for i in items) for items in lists.values()]
    key: dict[int, tuple[int, int, int]] = {}
    for m, items in enumerate(lists.values()):
        for r, i in enumerate(int(x) for x in items):
            cand = (r, -sum(i in st for st in sets), m)
            key[i] = min(key.get(i, cand), cand)
    return sorted(key, key=lambda i: key[i])


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """|A ∩ B| / |A ∪ B| of two lists' item sets (1.0 for two empty lists)."""
    sa, sb = set(a), set(b)
    return 1.0 if not sa | sb else len(sa & sb) / len(sa | sb)


def overlap_matrix(lists: Mapping[str, Sequence[int]]) -> dict[str, dict[str, float]]:
    """Pairwise Jaccard of the top-k sets, every pair both ways, 1.0 on the diagonal."""
    return {a: {b: round(jaccard(la, lb), 4) for b, lb in lists.items()} for a, la in lists.items()}


def full_positions(scores: np.ndarray, items: Sequence[int], exclude: np.ndarray) -> list[int | None]:
    """Each item's 1-based place in the full ranking in list order (score descending,
    ties to the smaller item index, ``exclude`` and NaN/-inf items not ranked): an item
    of a model's top-k gets its place in that list. None for an unranked item."""
    s = np.asarray(scores, dtype=np.float64)
    ok = np.isfinite(s) | (s == np.inf)
    ok[np.asarray(exclude, dtype=np.int64)] = False
    out: list[int | None] = []
    idx = np.arange(s.shape[0])
    for i in items:
        if not ok[i]:
            out.append(None)
            continue
        ahead = ok & ((s > s[i]) | ((s == s[i]) & (idx < i)))
        out.append(1 + int(ahead.sum()))
    return out


def _score_one(model: Scorer, items: np.ndarray, ts: np.ndarray | None) -> np.ndarray:
    return np.asarray(model.score([items], None if ts is None else [ts])[0], dtype=np.float32)


def held_out(models: Mapping[str, Scorer], split: Split, user_index: int,
             skipped: Sequence[str] = ()) -> HeldOut | None:
    """The held-out test item of user index ``user_index`` and its rank in every model's
    full ranking after the split's test input (the rank ``evaluate`` counts); None when
    the user is not in the evaluation split."""
    j = int(np.searchsorted(split.eval_users, user_index))
    if j >= split.n_eval or int(split.eval_users[j]) != int(user_index):
        return None
    hist = np.append(split.train[user_index], split.valid_target[j]).astype(np.int64)
    ts = np.append(split.train_ts[user_index], split.valid_ts[j]).astype(np.int64)
    target = int(split.test_target[j])
    ranks: dict[str, int | None] = {}
    for name, model in models.items():
        s = _score_one(model, hist, ts)
        ranks[name] = int(rank_of_targets(s[None, :], np.array([target]), [hist])[0])
    ranks.update({name: None for name in skipped if name not in ranks})
    return HeldOut(target, _in_order(ranks), int(hist.shape[0]))


def compare_user(models: Mapping[str, Scorer], history: History, k: int, *,
                 skipped: Mapping[str, str] | None = None, split: Split | None = None,
                 user_index: int | None = None) -> Comparison:
    """Every model's top-``k`` for ``history`` (seen items excluded), each listed item's
    place in every model's full ranking, and — given the split and the user's index —
    the held-out item's ranks."""
    if k < 1:
        raise DataError(f"-k must be at least 1, not {k}")
    seen = np.asarray(history.items, dtype=np.int64)
    full: dict[str, np.ndarray] = {}
    lists: dict[str, np.ndarray] = {}
    for name, model in models.items():
        full[name] = _score_one(model, seen, history.timestamps)
        lists[name] = top_k(full[name], k, seen).astype(np.int64)
    union = union_items(lists)
    positions = {n: dict(zip(union, full_positions(full[n], union, seen))) for n in full}
    ho = None
    if split is not None and user_index is not None:
        ho = held_out(models, split, user_index, list(skipped or {}))
    return Comparison(history.user, k, lists, {n: full[n][lists[n]] for n in lists}, positions,
                      dict(skipped or {}), ho)


def to_json(ds: Dataset, comp: Comparison) -> dict[str, Any]:
    """The ``recommend --compare`` keys: ``compare``, ``compare_skipped``,
    ``compare_overlap``, ``held_out`` (None outside the evaluation split), ``compare_fit``."""
    lists = {
        name: [{"item_id": ds.item_ids[int(i)], "rank": r + 1, "score": float(s)}
               for r, (i, s) in enumerate(zip(items, comp.scores[name]))]
        for name, items in comp.lists.items()
    }
    ho = None
    if comp.held_out is not None:
        h = comp.held_out
        ho = {"item_id": ds.item_ids[h.item], "title": ds.titles[h.item], "rank_in": dict(h.ranks),
              "history_length": h.history_length}
    return {"compare": lists, "compare_skipped": dict(comp.skipped), "compare_overlap": comp.overlap(),
            "held_out": ho, "compare_fit": FIT_NOTE}


def _cut(text: str, width: int) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 1] + "…"


def render_text(ds: Dataset, comp: Comparison, width: int = 26) -> str:
    """A compact side-by-side table of the lists, then overlap and the held-out item."""
    names = comp.names
    lines = [("rank  " + "  ".join(f"{_cut(LABELS.get(n, n), width):<{width}}" for n in names)).rstrip()]
    for r in range(comp.k):
        cells = [_cut(ds.titles[int(comp.lists[n][r])], width) if r < len(comp.lists[n]) else "" for n in names]
        lines.append((f"{r + 1:4d}  " + "  ".join(f"{c:<{width}}" for c in cells)).rstrip())
    for name, why in comp.skipped.items():
        lines.append(f"({LABELS.get(name, name)} skipped: {why})")
    ov = comp.overlap()
    pairs = [f"{a}/{b} {ov[a][b]:.2f}" for x, a in enumerate(names) for b in names[x + 1:]]
    if pairs:
        lines.append("overlap (Jaccard of the top-k): " + ", ".join(pairs))
    if comp.held_out is None:
        lines.append("held-out item: the user is not in the evaluation split")
    else:
        h = comp.held_out
        ranks = ", ".join(f"{n} {'–' if r is None else r}" for n, r in h.ranks.items())
        lines.append(f"held-out item {_cut(ds.titles[h.item], 40)} [{ds.item_ids[h.item]}] ranks: {ranks}")
    return "\n".join(lines)
