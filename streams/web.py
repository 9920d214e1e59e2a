"""The worker's HTTP endpoint, on Faust's own web server (aiohttp).

- ``GET /recommendations/{user_id}?k=10``: the user's top k from their current window
  (streams/recommendations.py). A request that reaches a worker not owning the user's
  ``interactions`` partition is forwarded to the one that does (Faust's topic route).
- ``GET /health``: 200 once a Set-up slice exists and a model serves, else 503.
- ``GET /state``: what serves: bank version, live adapter versions, last closed slice.

Bad input gets a 400 with a JSON error naming the parameter; nothing a client
sends can make a 500.
"""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View

from raie.serving.model import MAX_K
from streams.recommendations import NotReady, RecommendationService

MAX_USER_ID_BYTES = 1024
"""Longer path segments are refused: no real user id is that long, and it bounds the work a request causes."""

DEFAULT_K = 10


def bad_request(view: View, parameter: str, problem: str, fix: str) -> Response:
    return view.json({"error": problem, "parameter": parameter, "fix": fix}, status=400)


def parse_k(text: str | None) -> int | None:
    """``k`` from the query string: an integer in 1..MAX_K, or None when it is not one."""
    if text is None:
        return DEFAULT_K
    try:
        k = int(text)
    except ValueError:
        return None
    return k if 1 <= k <= MAX_K else None


def add_views(app: faust.App, service: RecommendationService, interactions: faust.TopicT) -> None:
    """Register the endpoint's views on ``app`` (web must be enabled in its settings)."""

    @app.page("/recommendations/{user_id}")
    class Recommendations(View):
        @app.topic_route(topic=interactions, match_info="user_id")  # type: ignore[arg-type]  # faust types handlers without path args
        async def get(self, request: Request, user_id: str) -> Response:
            if len(user_id.encode()) > MAX_USER_ID_BYTES:
                return bad_request(self, "user_id", f"longer than {MAX_USER_ID_BYTES} bytes", "pass a real user id")
            extra = sorted(set(request.query) - {"k"})
            if extra:
                return bad_request(self, extra[0], "unknown query parameter", "the only parameter is k")
            k = parse_k(request.query.get("k"))
            if k is None:
                return bad_request(
                    self, "k", f"{request.query.get('k')!r} is not an integer in 1..{MAX_K}", "e.g. k=10"
                )
            try:
                answer = await service.recommend(user_id, k)
            except NotReady:
                return not_ready(self)
            return self.json(answer.to_json())

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            model = service.model
            if model is None:
                return not_ready(self)
            return self.json({"ready": True, "closed_slices": model.state.closed_slices})

    @app.page("/state")
    class State(View):
        async def get(self, request: Request) -> Response:
            return self.json(serving_state(service))


def not_ready(view: View) -> Response:
    return view.json({"ready": False, "error": "no Set-up slice has closed yet: no model to answer with"}, status=503)


def serving_state(service: RecommendationService) -> dict[str, Any]:
    model = service.model
    if model is None:
        return {"ready": False, "closed_slices": 0, "bank_version": None, "live": {}, "last_closed_slice": None}
    state = model.state
    return {
        "ready": True,
        "closed_slices": state.closed_slices,
        "last_closed_slice": state.closed_slices - 1,
        "bank_version": state.closed_slices,
        "regions": state.bank.ids.tolist(),
        "live": dict(sorted(state.live.items())),
        "swaps": service.swaps,
    }
