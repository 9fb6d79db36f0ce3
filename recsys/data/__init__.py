"""Data layer: load, validate and hold interaction data.

``load(source, min_count=None)`` selects a source by one string: ``demo``,
``demo-small``, a MovieLens-100K directory, a MovieLens "latest" directory, a generic
directory, or an interactions .csv/.parquet file. See :mod:`recsys.data.loaders`.
"""

from recsys.data.filtering import filter_min_count
from recsys.data.loaders import load
from recsys.data.types import DataError, Dataset, build_dataset

__all__ = ["DataError", "Dataset", "build_dataset", "filter_min_count", "load"]
