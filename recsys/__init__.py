"""RecLens recommender core: data, models, training, evaluation, re-ranking, interests."""

__version__ = "0.1.0"
