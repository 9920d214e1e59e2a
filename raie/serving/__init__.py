"""Recommendations out: one scoring function for the worker's HTTP endpoint and ``raie recommend``.

- :mod:`raie.serving.answer`: what an answer holds, and its JSON form;
- :mod:`raie.serving.model`: the live state (Set-up model, bank, adapters) that scores contexts;
- :mod:`raie.serving.history`: contexts and the popularity fallback read from a store.

Nothing here imports Kafka, Faust or Ray: the stream (streams/recommendations.py)
feeds it the users' current windows, the CLI feeds it stored histories.
"""

from raie.serving.answer import Recommendation, RecommendedItem, ServedBy
from raie.serving.model import ServingModel, UserContext

__all__ = ["Recommendation", "RecommendedItem", "ServedBy", "ServingModel", "UserContext"]
