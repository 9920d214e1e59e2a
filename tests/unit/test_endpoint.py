"""The endpoint's HTTP contract without a model: bad input, not ready, forwarding to a user's owner;
and the serving process's start and stop. (Answers from a real model, with a real broker and two
workers: tests/integration/test_recommendations.py.)"""

from __future__ import annotations

import asyncio
import json
import socket
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from raie.config import ExperimentConfig
from raie.errors import RuntimeFailure
from streams.context_replica import ContextReplica, Owners, partition_of
from streams.serving_process import ServingProcess, ServingProcessConfig
from streams.web import FORWARDED, Endpoint

pytestmark = pytest.mark.unit

ME = "http://127.0.0.1:1"
PARTITIONS = 2


def other_users_partition(user: str) -> Owners:
    """An assignment that gives ``user``'s partition to another worker, at ``url`` (filled in later)."""
    return Owners(PARTITIONS, {partition_of(user, PARTITIONS): "", 1 - partition_of(user, PARTITIONS): ME})


async def get(client: TestClient[Any, Any], path: str, **headers: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path, headers=headers)
    return response.status, json.loads(await response.text())


def test_bad_parameters_get_a_400_naming_them_even_before_a_model_serves() -> None:
    async def check() -> None:
        async with TestClient(TestServer(Endpoint(ContextReplica(ME)).application())) as client:
            for query, parameter in (("?k=0", "k"), ("?k=1001", "k"), ("?k=ten", "k"), ("?k=5&x=1", "x")):
                status, body = await get(client, f"/recommendations/someone{query}")
                assert status == 400 and body["parameter"] == parameter and body["fix"], (query, body)
            status, body = await get(client, "/recommendations/" + "u" * 2000)
            assert status == 400 and body["parameter"] == "user_id"
            for path in ("/recommendations/someone", "/health"):
                status, body = await get(client, path)
                assert status == 503 and body["ready"] is False and "Set-up" in body["error"]
            status, body = await get(client, "/state")
            assert status == 200 and body["ready"] is False

    asyncio.run(check())


def test_a_user_another_worker_owns_is_forwarded_to_it_once() -> None:
    seen: list[tuple[str, str | None]] = []

    async def owner_answer(request: web.Request) -> web.Response:
        seen.append((request.match_info["user_id"], request.headers.get(FORWARDED)))
        return web.json_response({"answered_by": "owner"})

    user = "user/with space é"

    async def check() -> None:
        owner = web.Application()
        owner.router.add_get("/recommendations/{user_id:.+}", owner_answer)
        async with TestServer(owner) as owner_server:
            assignment = other_users_partition(user)
            owner_url = str(owner_server.make_url("")).rstrip("/")
            replica = ContextReplica(ME)
            replica.apply(Owners(PARTITIONS, {p: url or owner_url for p, url in assignment.urls.items()}))
            async with TestClient(TestServer(Endpoint(replica).application())) as client:
                quoted = urllib.parse.quote(user, safe="")
                assert await get(client, f"/recommendations/{quoted}?k=3") == (200, {"answered_by": "owner"})
                # Already forwarded once: answered here (no model yet: 503), never bounced again.
                status, _ = await get(client, f"/recommendations/{quoted}", **{FORWARDED: "1"})
                assert status == 503
        assert seen == [(user, "1")], "the owner is asked about the same user, marked as forwarded"

    asyncio.run(check())


def test_an_owner_that_does_not_answer_gives_a_503_naming_it() -> None:
    user = "u1"
    gone = f"http://127.0.0.1:{free_port()}"
    replica = ContextReplica(ME)
    replica.apply(Owners(PARTITIONS, {p: url or gone for p, url in other_users_partition(user).urls.items()}))

    async def check() -> None:
        async with TestClient(TestServer(Endpoint(replica).application())) as client:
            status, body = await get(client, f"/recommendations/{user}")
            assert status == 503 and gone in body["error"] and body["fix"] == "retry"

    asyncio.run(check())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def serving_config(store: Path, port: int) -> ServingProcessConfig:
    url = f"http://127.0.0.1:{port}"
    return ServingProcessConfig(store, "sasrec", ExperimentConfig(), "127.0.0.1", port, url, torch_threads=1)


def test_the_serving_process_listens_answers_and_stops_and_a_taken_port_is_named(tmp_path: Path) -> None:
    port = free_port()
    process = ServingProcess(serving_config(tmp_path, port))
    process.start()
    try:
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=30)
        assert refused.value.code == 503, "an empty store: no Set-up slice, no model"
        with pytest.raises(RuntimeFailure, match=f"cannot listen on 127.0.0.1:{port}.*pass a free --web-port"):
            ServingProcess(serving_config(tmp_path, port)).start()
    finally:
        process.stop()
    assert process._process is not None and not process._process.is_alive()
