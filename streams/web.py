"""The worker's HTTP endpoint (aiohttp), served by its serving process (streams/serving_process.py).

- ``GET /recommendations/{user_id}?k=10``: the user's top k from their current window
  (streams/recommendations.py). A request that reaches a worker not owning the user's
  ``interactions`` partition is forwarded once to the one that does.
- ``GET /health``: 200 once a Set-up slice exists and a model serves, else 503.
- ``GET /state``: what serves: bank version, live adapter versions, last closed slice.

Bad input gets a 400 with a JSON error naming the parameter; nothing a client
sends can make a 500.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from yarl import URL

from raie.serving.model import MAX_K
from streams.context_replica import ContextReplica
from streams.recommendations import NotReady, RecommendationService

MAX_USER_ID_BYTES = 1024
"""Longer path segments are refused: no real user id is that long, and it bounds the work a request causes."""

DEFAULT_K = 10

FORWARDED = "X-Raie-Forwarded"
"""Set on a request one worker forwards to another: the receiver answers it itself, so that
two workers that disagree about an owner during a rebalance never bounce a request."""

FORWARD_TIMEOUT_S = 10.0


def bad_request(parameter: str, problem: str, fix: str) -> web.Response:
    return web.json_response({"error": problem, "parameter": parameter, "fix": fix}, status=400)


def unavailable(error: str, fix: str) -> web.Response:
    return web.json_response({"ready": False, "error": error, "fix": fix}, status=503)


def not_ready() -> web.Response:
    return unavailable("no Set-up slice has closed yet: no model to answer with", "retry once /health is 200")


def parse_k(text: str | None) -> int | None:
    """``k`` from the query string: an integer in 1..MAX_K, or None when it is not one."""
    if text is None:
        return DEFAULT_K
    try:
        k = int(text)
    except ValueError:
        return None
    return k if 1 <= k <= MAX_K else None


@dataclass
class Endpoint:
    replica: ContextReplica
    service: RecommendationService | None = None
    """None while the serving process still loads (every request: 503)."""
    _client: aiohttp.ClientSession | None = field(default=None, repr=False)

    def application(self) -> web.Application:
        app = web.Application()
        # Any id, a slash included (sent as %2F): user ids are opaque strings.
        app.router.add_get("/recommendations/{user_id:.+}", self.recommendations)
        app.router.add_get("/health", self.health)
        app.router.add_get("/state", self.state)
        app.on_cleanup.append(self._close_client)
        return app

    async def recommendations(self, request: web.Request) -> web.Response:
        user_id = request.match_info["user_id"]
        if len(user_id.encode()) > MAX_USER_ID_BYTES:
            return bad_request("user_id", f"longer than {MAX_USER_ID_BYTES} bytes", "pass a real user id")
        extra = sorted(set(request.query) - {"k"})
        if extra:
            return bad_request(extra[0], "unknown query parameter", "the only parameter is k")
        k = parse_k(request.query.get("k"))
        if k is None:
            return bad_request("k", f"{request.query.get('k')!r} is not an integer in 1..{MAX_K}", "e.g. k=10")
        if not self.replica.synced:
            return self._not_synced()
        owner = self.replica.owner(user_id)
        if owner is not None and FORWARDED not in request.headers:
            return await self._forward(owner, user_id, k)
        if self.service is None:
            return not_ready()
        try:
            answer = await self.service.recommend(user_id, k)
        except NotReady:
            return not_ready()
        return web.json_response(answer.to_json())

    async def _forward(self, owner: str, user_id: str, k: int) -> web.Response:
        if self._client is None:
            self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=FORWARD_TIMEOUT_S))
        path = "/recommendations/" + quote(user_id, safe="")
        url = URL(owner).with_path(path, encoded=True).with_query(k=k)
        try:
            async with self._client.get(url, headers={FORWARDED: "1"}) as response:
                body = await response.read()
                return web.Response(body=body, status=response.status, content_type="application/json")
        except (aiohttp.ClientError, TimeoutError) as error:
            return unavailable(f"the worker that owns this user ({owner}) did not answer: {error}", "retry")

    async def _close_client(self, app: web.Application) -> None:
        if self._client is not None:
            await self._client.close()

    def _not_synced(self) -> web.Response:
        if self.service is None or self.service.model is None:
            return not_ready()
        return unavailable("this worker's user contexts are still being loaded", "retry in a second")

    async def health(self, request: web.Request) -> web.Response:
        model = None if self.service is None else self.service.model
        if model is None or not self.replica.synced:
            return self._not_synced()
        return web.json_response({"ready": True, "closed_slices": model.state.closed_slices})

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response(serving_state(self.service))


def serving_state(service: RecommendationService | None) -> dict[str, Any]:
    model = None if service is None else service.model
    if service is None or model is None:
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
