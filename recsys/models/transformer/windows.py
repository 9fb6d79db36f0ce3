"""Training windows and length-bucketed batches of one epoch (drawn from one generator,
so every data-parallel process draws the same ones; :mod:`recsys.models.transformer.parallel`)."""

from __future__ import annotations

import numpy as np
import torch


def training_windows(lengths: np.ndarray, max_len: int, mode: str, gen: torch.Generator) -> list[tuple[int, int]]:
    """Training windows ``(user, end)``: the items ``seq[max(0, end - max_len):end]``.

    ``"last"``: one window per user ending at the last item. ``"windows"``: histories
    longer than ``max_len`` also contribute earlier windows ending at
    ``n - shift - k * max_len`` (``shift`` random in ``[1, max_len]``, fresh each epoch), so
    every item is a target once or twice per epoch and window borders move between epochs.
    """
    out: list[tuple[int, int]] = []
    for u, n in enumerate(lengths.tolist()):
        if n < 1:
            continue
        out.append((u, n))
        if mode == "windows" and n > max_len:
            shift = 1 + int(torch.randint(max_len, (1,), generator=gen))
            end = n - shift
            while end >= 1:
                out.append((u, end))
                end -= max_len
    return out


def length_batches(users: np.ndarray, lengths: np.ndarray, batch_size: int, gen: torch.Generator) -> list[np.ndarray]:
    """Random batches of users with similar sequence lengths (little padding): shuffle,
    sort windows of 8 batches by length, cut into batches, shuffle the batches."""
    perm = users[torch.randperm(len(users), generator=gen).numpy()]
    window = batch_size * 8
    batches: list[np.ndarray] = []
    for a in range(0, len(perm), window):
        w = perm[a : a + window]
        w = w[np.argsort(lengths[w], kind="stable")]
        batches.extend(w[b : b + batch_size] for b in range(0, len(w), batch_size))
    order = torch.randperm(len(batches), generator=gen).numpy()
    return [batches[k] for k in order]
