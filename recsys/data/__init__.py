"""Data layer: load, validate and hold interaction data.

``load(source, min_count=None, tie_order="hash", *, display=None) -> Dataset`` selects a
source by one string (``tie_order``: how one user's same-second interactions are ordered,
a blake2b key of user and item id or ``"id"``, item-id order; :mod:`recsys.data.order`):

* ``demo`` / ``demo-small`` — the generated demo world (:mod:`recsys.data.demo`).
* ``demo:users=N,items=N[,seed=N][,events=N][,followups=N]`` — a scale demo world of
  any size with the same planted ground truth (:mod:`recsys.data.demo_scale`; syntax in
  :mod:`recsys.data.demo_spec`), e.g. ``demo:users=200000,items=40000``.
* a MovieLens-100K directory — ``u.data`` (tab-separated user, item, rating,
  timestamp), ``u.item`` (``|``-separated, 19 genre flags named by ``u.genre``),
  ``u.user`` (``id|age|gender|occupation|zip`` -> attributes gender, age_band,
  occupation); Latin-1.
* a MovieLens "latest" directory (ml-latest-small, ml-25m, ml-32m) — ``ratings.csv``
  (userId,movieId,rating,timestamp), ``movies.csv`` (movieId,title,genres with ``|``;
  "(no genres listed)" means none), optional ``tags.csv`` (userId,movieId,tag,timestamp;
  distinct tags, most used first, become the item text).
* a generic directory — ``interactions.csv`` or ``interactions.parquet``
  (user_id,item_id,timestamp[,rating]); optional ``items.csv`` (item_id,title
  [,categories separated by ``|``][,text]); optional ``users.csv`` (user_id + attribute
  columns) — or the interactions file itself (items.csv/users.csv beside it are used).

Validation (one :class:`DataError` ``<file>:<line>: <problem>`` for the whole load,
nothing partially loaded; parquet files say ``row N``): required columns present;
duplicate header names refused; extra columns ignored; every row has the header's
number of fields; blank lines only at the end; a file with no data rows refused;
generic and "latest" files are UTF-8 (BOM and CRLF fine), ML-100K files Latin-1;
ids non-empty (surrounding spaces stripped), at most 256 characters; timestamps integer
seconds or ISO-8601 (an offset is honoured, naive means UTC); ratings finite numbers;
an id described twice in items.csv/users.csv refused. Items interacted with but absent
from the item file are titled by their id (a warning); items never interacted with are
kept; users.csv rows for users without interactions are ignored.

``filter_min_count(ds, n)`` is iterative N-core on users and items.

Every source may have an event log (``ingest``/``replay``; :mod:`recsys.data.events`):
``load`` appends its events after the N-core filter (``events=False`` leaves them out);
``ds.fingerprint`` stays the base data's and ``ds.log``/``ds.content_key`` describe the log.
"""

from recsys.data.filtering import filter_min_count, sample_users
from recsys.data.loaders import load
from recsys.data.types import DataError, Dataset, History, build_dataset

__all__ = [
    "DataError",
    "Dataset",
    "History",
    "build_dataset",
    "filter_min_count",
    "load",
    "sample_users",
]
