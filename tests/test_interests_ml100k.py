"""Interest timeline and population drift on the real MovieLens-100K (skips without it,
unless RECSYS_REQUIRE_REAL_DATA=1)."""

from __future__ import annotations

import numpy as np
import pytest

from recsys.interests import category_assignment, population_drift, user_timeline


@pytest.fixture(scope="module")
def ml(ml100k_path):
    from recsys.data import load

    return load(str(ml100k_path))


def test_timelines_on_real_users(ml):
    asg = category_assignment(ml)
    assert asg.source == "categories" and "Drama" in asg.categories
    counts = np.diff(ml.user_offsets)
    users = [int(np.argmax(counts)), int(np.argmin(counts)), int(np.argsort(counts)[len(counts) // 2])]
    for u in users:
        tl = user_timeline(ml, u, assignment=asg)
        assert tl.n_interactions == counts[u]
        assert sum(w.n for w in tl.windows) == counts[u]
        assert 1 <= len(tl.windows) <= 12
        for w in tl.windows:
            assert sum(w.shares.values()) == pytest.approx(1.0, abs=1e-9)
        assert len(tl.change_points) <= 3
        assert all(tl.first_ts <= c <= tl.last_ts for c in tl.change_points)


def test_population_drift_on_real_data(ml):
    pdr = population_drift(ml)
    assert pdr.n_assessed == ml.n_users  # every ML-100K user has >= 20 ratings
    assert 0.0 < pdr.share_drifted < 0.5  # some users drift; most do not
    assert pdr.gaining and pdr.losing
    assert sum(s.after for s in pdr.shifts) == pytest.approx(1.0, abs=1e-4)
    # drifted users are exactly the significant and large enough ones
    tested = ~np.isnan(pdr.p_value)
    assert np.all(pdr.js[~tested] < pdr.params["min_effect"])
    assert np.array_equal(pdr.drifted, tested & (pdr.p_value <= 0.01) & (pdr.js >= pdr.params["min_effect"]))
