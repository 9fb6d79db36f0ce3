"""Re-rank one user's list and explain every rank move in words.

:func:`rerank` runs the batch core (:func:`recsys.rerank.core.rerank_batch`) with one
user and a trace of every candidate's contributions at every step. A move is explained
by comparing, at the step where the model order and the re-ranked order part, the
winner's per-term contributions with the loser's: the term that gained the most is the
reason ("moved up 4: adds a new category (Jazz)").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from recsys.data.types import DataError
from recsys.rerank.context import RerankContext
from recsys.rerank.core import (
    DEFAULT_CANDIDATES,
    TERMS,
    rerank_batch,
    select_candidates,
)
from recsys.rerank.metrics import list_metrics
from recsys.rerank.weights import FairGroup, Weights

_MIN_DELTA = 1e-9


@dataclass(frozen=True, eq=False)
class RerankResult:
    """One user's re-ranked list. ``contributions[i]`` (relevance, diversity, calibration,
    fairness; weighted) adds up to ``scores[i]``. Ranks are 1-based."""

    user: str
    items: np.ndarray  # (k,) int64 re-ranked item indices
    scores: np.ndarray  # (k,) float64 combined score at pick time
    contributions: np.ndarray  # (k, 4) weighted per-term contributions
    terms: np.ndarray  # (k, 4) unweighted normalised term values
    original_ranks: np.ndarray  # (k,) rank in the model's order (1 = model's best)
    model_scores: np.ndarray  # (k,) raw model scores of the re-ranked items
    baseline_items: np.ndarray  # (k,) the model's own top-k
    baseline_scores: np.ndarray  # (k,) their model scores
    weights: Weights
    group: FairGroup
    reasons: tuple[str, ...]  # one sentence per re-ranked item
    dropped_items: np.ndarray  # model top-k items that left the list
    dropped_reasons: tuple[str, ...]
    metrics: dict[str, float] = field(default_factory=dict)  # of the re-ranked list
    baseline_metrics: dict[str, float] = field(default_factory=dict)  # of the model's list
    n_candidates: int = DEFAULT_CANDIDATES

    @property
    def ranks(self) -> np.ndarray:
        return np.arange(1, len(self.items) + 1)

    @property
    def moves(self) -> np.ndarray:
        """Positions gained (positive = moved up) by each re-ranked item."""
        return self.original_ranks - self.ranks

    def metric_deltas(self) -> dict[str, float]:
        return {m: self.metrics[m] - self.baseline_metrics[m] for m in self.metrics}

    def to_dict(self, item_ids: Sequence[str] | None = None, titles: Sequence[str] | None = None) -> dict:
        """JSON-ready form: ``items`` rows ``{rank, item_id, title, score (model),
        rerank_score, original_rank, contributions {relevance, diversity, calibration,
        fairness}, reason}``, ``dropped`` rows, ``metrics``, ``baseline_metrics``,
        ``weights`` and ``fair_group``. Item ids are external when ``item_ids`` is given."""

        def ident(i: int) -> Any:
            return item_ids[i] if item_ids is not None else int(i)

        def title(i: int) -> dict[str, str]:
            return {"title": titles[i]} if titles is not None else {}

        rows = []
        for r, i in enumerate(self.items):
            rows.append(
                {
                    "rank": r + 1,
                    "item_id": ident(int(i)),
                    **title(int(i)),
                    "score": float(self.model_scores[r]),
                    "rerank_score": float(self.scores[r]),
                    "original_rank": int(self.original_ranks[r]),
                    "contributions": {t: float(v) for t, v in zip(TERMS, self.contributions[r])},
                    "reason": self.reasons[r],
                }
            )
        base = [int(i) for i in self.baseline_items]
        dropped = [
            {"item_id": ident(int(i)), **title(int(i)), "original_rank": base.index(int(i)) + 1, "reason": s}
            for i, s in zip(self.dropped_items, self.dropped_reasons)
        ]
        return {
            "weights": self.weights.to_dict(),
            "fair_group": self.group.spec,
            "items": rows,
            "dropped": dropped,
            "metrics": dict(self.metrics),
            "baseline_metrics": dict(self.baseline_metrics),
        }


def rerank(
    ctx: RerankContext,
    scores: np.ndarray,
    history: Sequence[int] | np.ndarray,
    weights: Weights | None = None,
    *,
    k: int = 10,
    n_candidates: int = DEFAULT_CANDIDATES,
    group: FairGroup | None = None,
    exclude: Sequence[int] | np.ndarray | None = None,
    user: str = "",
) -> RerankResult:
    """Re-rank one user's top-``n_candidates`` (by ``scores`` over all items, excluding the
    history and ``exclude``) into a list of ``k`` with explanations and metrics."""
    weights = weights or Weights()
    group = group or FairGroup()
    s = np.asarray(scores, dtype=np.float64).ravel()
    if s.shape[0] != ctx.n_items:
        raise DataError(f"scores cover {s.shape[0]} items, the catalogue has {ctx.n_items}")
    hist = np.asarray(history, dtype=np.int64).ravel()
    ex = hist if exclude is None else np.concatenate([hist, np.asarray(exclude, dtype=np.int64).ravel()])
    cand, vals = select_candidates(s[None, :], [ex], max(n_candidates, k))
    p = ctx.history_distribution([hist])
    b = rerank_batch(ctx, cand, vals, p, weights, k, group, trace=True)
    keep = b.items[0] >= 0
    items = b.items[0][keep]
    base = cand[0][: min(k, int((cand[0] >= 0).sum()))]
    pos = b.positions[0][keep]
    reasons, dropped, dropped_reasons = _explain_moves(ctx, cand[0], pos, b.trace, hist, group, k)
    return RerankResult(
        user=user,
        items=items,
        scores=b.scores[0][keep],
        contributions=b.contributions[0][keep],
        terms=b.terms[0][keep],
        original_ranks=pos + 1,
        model_scores=vals[0][pos],
        baseline_items=base,
        baseline_scores=vals[0][: base.shape[0]],
        weights=weights,
        group=group,
        reasons=reasons,
        dropped_items=dropped,
        dropped_reasons=dropped_reasons,
        metrics=list_metrics(ctx, items, hist),
        baseline_metrics=list_metrics(ctx, base, hist),
        n_candidates=int(cand.shape[1]),
    )


# ---------------------------------------------------------------------------------------
# explanations of rank moves
# ---------------------------------------------------------------------------------------
def _explain_moves(
    ctx: RerankContext,
    cand: np.ndarray,
    pos: np.ndarray,
    trace: np.ndarray | None,
    history: np.ndarray,
    group: FairGroup,
    k: int,
) -> tuple[tuple[str, ...], np.ndarray, tuple[str, ...]]:
    """Sentences for each picked item and for the model's top-k items that dropped out."""
    n_list = pos.shape[0]
    items = cand[pos]
    steps = trace[:, 0] if trace is not None else np.zeros((0, cand.shape[0], 4))  # (T, N, 4)
    p = ctx.history_distribution([history])[0]
    reasons = []
    for r in range(n_list):
        o = int(pos[r])  # 0-based model position
        if o == r:
            reasons.append("same rank as the model's")
        elif o > r:  # moved up: at step r it beat the model's best remaining candidate
            rival = _best_remaining_by_model(steps[r])
            term = _winning_term(steps[r][o], steps[r][rival])
            head = f"moved up {o - r}" + (f" (from #{o + 1})" if o >= k else "")
            reasons.append(f"{head}: {_up_detail(ctx, term, items[r], items[:r], p, group)}")
        else:  # moved down: at step o (its model position) another item beat it
            winner = int(pos[o])
            term = _winning_term(steps[o][winner], steps[o][o])
            reasons.append(f"moved down {r - o}: {_down_detail(ctx, term, items[r], items[:r], p, group)}")
    in_list = set(int(i) for i in items)
    dropped = [o for o in range(min(k, cand.shape[0])) if cand[o] >= 0 and int(cand[o]) not in in_list]
    dropped_reasons = []
    for o in dropped:
        winner = int(pos[o]) if o < n_list else o
        term = _winning_term(steps[o][winner], steps[o][o]) if o < steps.shape[0] else None
        dropped_reasons.append(f"dropped out: {_down_detail(ctx, term, cand[o], items, p, group)}")
    return tuple(reasons), cand[np.array(dropped, dtype=np.int64)], tuple(dropped_reasons)


def _best_remaining_by_model(step: np.ndarray) -> int:
    """Candidate position (model order) of the best still-available candidate."""
    avail = ~np.isnan(step[:, 0])
    return int(np.argmax(avail))


def _winning_term(winner: np.ndarray, loser: np.ndarray) -> str | None:
    """The non-relevance term in which the winner out-scored the loser the most."""
    delta = winner[1:] - loser[1:]
    delta = np.where(np.isnan(delta), 0.0, delta)
    j = int(np.argmax(delta))
    return TERMS[1 + j] if delta[j] > _MIN_DELTA else None


def _closest(ctx: RerankContext, item: int, others: np.ndarray) -> tuple[int, float] | None:
    if others.shape[0] == 0:
        return None
    sims = ctx.emb[others] @ ctx.emb[item]
    j = int(np.argmax(sims))
    return int(others[j]), float(sims[j])


def _list_mix(ctx: RerankContext, items: np.ndarray) -> np.ndarray:
    if items.shape[0] == 0:
        return np.zeros(ctx.category_matrix.shape[1])
    q = ctx.category_matrix[items].astype(np.float64).sum(axis=0)
    return q / q.sum() if q.sum() > 0 else q


def _group_phrase(ctx: RerankContext, item: int, group: FairGroup) -> str:
    if group.kind == "longtail":
        return f"a long-tail item ({int(ctx.popularity[item])} training interactions)"
    return f"a {group.category} item"


def _up_detail(ctx: RerankContext, term: str | None, item: int, above: np.ndarray, p: np.ndarray, group: FairGroup) -> str:
    if term == "diversity":
        c = _closest(ctx, item, above)
        if c is None:
            return "adds variety"
        return f"adds variety (closest item above: {ctx.titles[c[0]]!r}, cosine {c[1]:.2f})"
    if term == "calibration":
        q = _list_mix(ctx, above)
        cats = [ctx.categories.index(c) for c in ctx.item_categories[item] if c in ctx.categories]
        if not cats:
            return "brings the list's category mix closer to the history's"
        g = max(cats, key=lambda j: p[j] - q[j])
        name = ctx.categories[g]
        if q[g] == 0 and p[g] > 0:
            return f"adds a new category ({name})"
        return f"brings the category mix closer to the history's ({name}: {p[g]:.0%} of the history, {q[g]:.0%} of the list above)"
    if term == "fairness":
        mask, target = ctx.group_mask(group)
        share = float(mask[above].mean()) if above.shape[0] else 0.0
        return f"{_group_phrase(ctx, item, group)} while the list is {share:.0%} {group.label}, below its {target:.0%} target"
    return "higher combined score"


def _down_detail(ctx: RerankContext, term: str | None, item: int, above: np.ndarray, p: np.ndarray, group: FairGroup) -> str:
    if term == "diversity":
        c = _closest(ctx, item, above[above != item])
        tail = f"; it is similar to {ctx.titles[c[0]]!r} (cosine {c[1]:.2f})" if c else ""
        return f"passed by items that add variety{tail}"
    if term == "calibration":
        q = _list_mix(ctx, above[above != item])
        cats = [ctx.categories.index(c) for c in ctx.item_categories[item] if c in ctx.categories]
        if cats:
            g = max(cats, key=lambda j: q[j] - p[j])
            name = ctx.categories[g]
            return (
                f"passed by items that fit the history's category mix; {name} is already "
                f"{q[g]:.0%} of the list vs {p[g]:.0%} of the history"
            )
        return "passed by items that fit the history's category mix"
    if term == "fairness":
        mask, _ = ctx.group_mask(group)
        if group.kind == "longtail" and not mask[item]:
            what = f"it is a popular item ({int(ctx.popularity[item])} training interactions)"
        elif not mask[item]:
            what = f"it is not a {group.category} item"
        else:
            what = "its group already reached its share of the list"
        return f"passed by {group.label} items raising their exposure; {what}"
    return "passed by items with a higher combined score"
