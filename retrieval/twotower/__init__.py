"""Two-tower retrieval with FAISS and the STARS semantic-token extensions.

Public surface::

    from xpollinate.retrieval.twotower import TwoTowerConfig, Extensions, prepare, train, recommend
"""

from xpollinate.retrieval.twotower.config import EXTENSIONS, Extensions, TwoTowerConfig
from xpollinate.retrieval.twotower.recommend import Recommendations, Recommender
from xpollinate.retrieval.twotower.training import TrainingData, TrainResult, prepare, train

__all__ = [
    "EXTENSIONS",
    "Extensions",
    "Recommendations",
    "Recommender",
    "TrainResult",
    "TrainingData",
    "TwoTowerConfig",
    "prepare",
    "train",
]
