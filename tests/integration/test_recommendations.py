"""The recommendation endpoint on running workers and a real broker: answers during slice commits, the
freshest context, bad input, a forwarded request, and the same answer as ``raie recommend``."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, KafkaProducer

from raie.config import ExperimentConfig
from raie.config_files import save_config
from raie.store import Store
from streams.topic_names import ADAPTERS, INTERACTIONS
from streams.worker_process import WorkerProcess, raie_command, unbuffered_env
from tests.integration.broker import FRESH
from tests.integration.stream_run import CLOSE_WITHIN_S, SLICES, StreamRun

pytestmark = pytest.mark.integration

SEEN_WITHIN_S = 20.0
"""A deadline for a published event to reach an answer, not a latency figure (bench/serving_latency.py)."""
SAMPLED_USERS = 12
TAKEOVER_WITHIN_S = 60.0
"""A clean leave's rebalance and the restore of a few partitions take seconds; this is a deadline, not a figure."""
REQUEST_EVERY_S = 0.2


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def recommend_path(user_id: str, k: int | None = None) -> str:
    query = "" if k is None else f"?k={k}"
    return f"/recommendations/{urllib.parse.quote(user_id, safe='')}{query}"


def test_the_endpoint_serves_fresh_contexts_through_commits_and_matches_raie_recommend(
    synthetic_yelp_dir: Path, fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    config_path = save_config(fast_config, tmp_path / "fast.yaml")
    ports = (free_port(), free_port())
    with FRESH.running_empty() as bootstrap:
        run = StreamRun(bootstrap, "yelp", synthetic_yelp_dir, config_path, tmp_path, ("--trainer", "in-process"))
        (tmp_path / "second").mkdir()
        workers = [
            WorkerProcess(bootstrap, run.worker.store, root, (*run.worker.options, "--web-port", str(port)))
            for root, port in ((tmp_path, ports[0]), (tmp_path / "second", ports[1]))
        ]
        for worker in workers:
            worker.start()
        replay = run.replay(speed=None)
        try:
            for worker, port in zip(workers, ports, strict=True):  # a user's owner may be either of them
                worker.wait_for(healthy(port), CLOSE_WITHIN_S, "a ready endpoint")
            user = busiest_user(run.worker.store)
            # Slices 1 and 2 close (jobs train, adapters swap) while requests keep coming: none may fail.
            statuses = []
            while workers[0].closed_slices() < SLICES:
                statuses.append(get(ports[0], recommend_path(user))[0])
                assert all(w.process is not None and w.process.poll() is None for w in workers), "a worker died"
                time.sleep(REQUEST_EVERY_S)
            assert replay.wait(timeout=CLOSE_WITHIN_S) == 0, (tmp_path / "replay.log").read_text()
            assert statuses and set(statuses) == {200}, f"requests during slice commits: {statuses}"
            for worker, port in zip(workers, ports, strict=True):  # forwarded answers come from either
                worker.wait_for(serving_slices(port, SLICES), 30.0, "the last slice served")

            check_bad_input(ports[0])
            check_forwarding(ports, run.worker.store)
            fresh = check_freshness(bootstrap, ports[0], user)
            check_same_as_raie_recommend(ports[0], run.worker.store, config_path, user, fresh)
            check_rollback(bootstrap, ports, run.worker.store, user)
            check_serving_process_restart(workers[0], ports[0], user)
            check_takeover(workers, ports[0], run.worker.store)
        finally:
            if replay.poll() is None:
                replay.kill()
            codes = [worker.stop() for worker in workers]
        assert codes == [0, 0], f"a worker did not stop cleanly{workers[0].tail()}{workers[1].tail()}"


def healthy(port: int) -> Callable[[], bool]:
    return lambda: get(port, "/health")[0] == 200


def serving_slices(port: int, slices: int) -> Callable[[], bool]:
    return lambda: get(port, "/state")[1]["closed_slices"] == slices


def busiest_user(store: Path) -> str:
    with Store.open(store, read_only=True) as s:
        rows = s.query("SELECT user_id FROM interactions GROUP BY user_id ORDER BY count(*) DESC, user_id LIMIT 1")
    return str(rows.column("user_id")[0].as_py())


def check_bad_input(port: int) -> None:
    for query, parameter in (("?k=0", "k"), ("?k=1001", "k"), ("?k=ten", "k"), ("?k=5&x=1", "x")):
        status, body = get(port, f"/recommendations/someone{query}")
        assert status == 400 and body["parameter"] == parameter, (query, status, body)
    status, body = get(port, "/recommendations/" + "u" * 2000)
    assert status == 400 and body["parameter"] == "user_id"
    status, body = get(port, recommend_path(f"never-seen-{uuid.uuid4().hex}", k=5))
    assert status == 200 and body["fallback"] == "popularity" and body["context"] == []
    assert 1 <= len(body["items"]) <= 5
    counts = [item["score"] for item in body["items"]]
    assert counts == sorted(counts, reverse=True), "the most popular items of the current slice come first"


def sampled_users(store: Path) -> list[str]:
    with Store.open(store, read_only=True) as s:
        users = s.query(
            f"SELECT user_id FROM interactions GROUP BY user_id ORDER BY user_id LIMIT {SAMPLED_USERS}"
        ).column("user_id")
    return [str(u) for u in users.to_pylist()]


def check_forwarding(ports: tuple[int, int], store: Path) -> None:
    """Each worker owns some ``interactions`` partitions; asked about any user, both give the
    owner's answer (a non-owner that answered itself would not know the user: popularity)."""
    for user in sampled_users(store):
        answers = [get(port, recommend_path(user, k=5)) for port in ports]
        assert [status for status, _ in answers] == [200, 200]
        assert answers[0][1] == answers[1][1], f"user {user}: workers answered differently"
        assert answers[0][1]["fallback"] is None, f"user {user} was answered without their context"


def check_freshness(bootstrap: str, port: int, user: str) -> str:
    """Publish a positive for ``user`` (an item the model knows, not in the context): the next
    answers' context ends with it, and it is no longer recommended. Returns the item."""
    status, before = get(port, recommend_path(user))
    assert status == 200 and before["fallback"] is None
    assert not set(before["context"]) & {i["item_id"] for i in before["items"]}, "context items are excluded"
    item = before["items"][0]["item_id"]
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    body = {"event_id": f"fresh-{uuid.uuid4().hex}", "user_id": user, "item_id": item, "rating": 5.0}
    body |= {"ts": 1_900_000_000_000, "source": "test"}  # after the timeline: the open slice
    producer.send(INTERACTIONS, json.dumps(body).encode(), key=user.encode()).get(timeout=30)
    producer.close()
    deadline = time.monotonic() + SEEN_WITHIN_S
    while True:
        status, after = get(port, recommend_path(user))
        if after["context"][-1:] == [item]:
            break
        assert time.monotonic() < deadline, f"the published item never reached the context: {after['context']}"
        time.sleep(0.05)
    assert item not in {i["item_id"] for i in after["items"]}
    return str(item)


def check_rollback(bootstrap: str, ports: tuple[int, int], store: Path, user: str) -> None:
    """``raie adapters rollback`` on a live store: both workers answer with the older global
    version within seconds, and the editor's owner announces it on ``adapters``."""
    live = get(ports[0], "/state")[1]["live"]["global"]
    target = 1 if live == 2 else 2  # slice 2's guard may have kept version 1
    command = raie_command("adapters", "rollback", "--store", str(store), "--adapter", "global", "--to", str(target))
    done = subprocess.run(command, capture_output=True, env=unbuffered_env(), check=False)
    assert done.returncode == 0, done.stderr.decode()
    for port in ports:
        deadline = time.monotonic() + SEEN_WITHIN_S
        while get(port, "/state")[1]["live"]["global"] != target:
            assert time.monotonic() < deadline, "the rollback never reached the endpoint"
            time.sleep(0.1)
    answer = get(ports[0], recommend_path(user))[1]
    assert dict((s["name"], s["version"]) for s in answer["adapter"]["stack"]).get("global", target) == target
    consumer = KafkaConsumer(
        ADAPTERS, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=5000
    )
    messages = [json.loads(record.value) for record in consumer]
    consumer.close()
    decisions = [m for m in messages if "decision" in m]
    rolled = {"adapter": "global", "decision": "rolled_back", "version": target, "previous_version": live}
    assert any(rolled.items() <= m.items() for m in decisions), decisions
    assert any(m["decision"] in ("promoted", "rejected") and m["adapter"] == "global" for m in decisions), decisions


def check_serving_process_restart(worker: WorkerProcess, port: int, user: str) -> None:
    """A serving process killed -9 is replaced by its worker, which sends the new one every context:
    the user is answered from their context again, not from the popularity fallback."""
    before = get(port, recommend_path(user))[1]
    (dead,) = worker.serving_pids()
    os.kill(dead, signal.SIGKILL)
    deadline = time.monotonic() + CLOSE_WITHIN_S
    while True:
        try:
            status, answer = get(port, recommend_path(user))
        except OSError:  # refused or reset until the new process listens
            status = 0
        if status == 200:
            break
        assert time.monotonic() < deadline, f"no serving process answered again{worker.tail()}"
        time.sleep(0.2)
    assert worker.serving_pids() not in ([], [dead])
    assert answer["fallback"] is None and answer["context"] == before["context"]
    assert answer["items"] == before["items"]


def check_takeover(workers: list[WorkerProcess], port: int, store: Path) -> None:
    """The second worker stops: the first takes its partitions and, with no new event in them,
    answers their users from their contexts (restored at assignment, not at a first record)."""
    assert workers[1].stop() == 0
    deadline = time.monotonic() + TAKEOVER_WITHIN_S
    users = sampled_users(store)
    while True:
        answers = [get(port, recommend_path(user, k=5)) for user in users]
        if all(status == 200 and body["fallback"] is None for status, body in answers):
            break
        assert time.monotonic() < deadline, f"users answered without their context: {answers}"
        time.sleep(0.5)


def check_same_as_raie_recommend(port: int, store: Path, config_path: Path, user: str, fresh: str) -> None:
    """The CLI reads the stored history instead of the worker's table; once the fresh event's
    row is stored, both answer with the same context and items."""
    command = raie_command("recommend", "--store", str(store), "--user", user, "--dataset", "yelp")
    command += ["--config", str(config_path), "--format", "json", "--k", "10"]
    deadline = time.monotonic() + SEEN_WITHIN_S
    while True:
        done = subprocess.run(command, capture_output=True, env=unbuffered_env(), check=False)
        assert done.returncode == 0, done.stderr.decode()
        offline = json.loads(done.stdout)
        if offline["context"][-1:] == [fresh]:
            break
        assert time.monotonic() < deadline, "the fresh event never reached the store"
        time.sleep(0.5)
    online = get(port, recommend_path(user, k=10))[1]
    assert offline["context"] == online["context"]
    assert [i["item_id"] for i in offline["items"]] == [i["item_id"] for i in online["items"]]
    assert [i["score"] for i in offline["items"]] == pytest.approx([i["score"] for i in online["items"]], abs=1e-4)
    assert offline["adapter"] == online["adapter"] and offline["region"]["id"] == online["region"]["id"]
