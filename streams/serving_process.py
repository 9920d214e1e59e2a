"""The recommendation endpoint in a process of its own, fed by the worker.

Why a process: in the worker, every request waited on the stream's event loop
and shared its interpreter lock with the ingress, the region editor and the
garbage collector. Any third of a second one of them held (a full collection,
a snapshot encode, the editor's work at a slice close) became the p99 of every
request due in it (BENCHMARKS.md, issue #17). The serving process has its own
loop, lock and heap; only the CPU is shared.

What it serves with:

- the model: loaded from the store's artifacts (``state.json``, polled every
  ``SERVING_REFRESH_S`` and at once when the worker says a slice closed), the
  same files and hash checks as ``raie recommend``;
- the contexts: a replica of the ingress's user table (streams/context_replica.py)
  that the worker keeps current, one message per partition after every ingress
  batch, through a pipe written by a thread (the event loop never blocks on it);
- ownership: the group's assignment, sent after each rebalance.

The process ends when the worker does: its end of the pipe reads EOF, even if
the worker was killed. If it dies on its own, the worker starts another and
sends it the whole table (:meth:`ServingProcess.restarted`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import queue
import threading
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path

import torch
from aiohttp import web

from raie.config import ExperimentConfig
from raie.device import default_device
from raie.errors import RuntimeFailure
from raie.online.artifacts import Artifacts
from streams.context_replica import ContextReplica, ReplicaMessage, SliceClosed
from streams.gc_pauses import GcPauseLog, freeze_survivors
from streams.recommendations import POPULAR_REFRESH_S, RecommendationService
from streams.serving import SERVING_REFRESH_S, ServingState
from streams.web import Endpoint

log = logging.getLogger(__name__)

LISTENING_WITHIN_S = 120.0
"""Start-up: interpreter, torch and the endpoint's socket (seconds on a loaded 2-core box)."""

STOP_WITHIN_S = 10.0

RESTART_PAUSE_S = 1.0
"""Between attempts to replace a dead serving process whose successor could not start."""

LOG_FORMAT = "[%(asctime)s] [serving %(process)d] [%(levelname)s] %(name)s: %(message)s"


@dataclass(frozen=True)
class ServingProcessConfig:
    store_root: Path
    backbone: str
    config: ExperimentConfig
    bind: str
    port: int
    own_url: str
    """This worker's endpoint as the group knows it: requests for its users are answered here."""
    torch_threads: int | None
    log_level: str = "INFO"


class ServingProcess:
    """The worker's handle on its serving process: start, feed, replace it if it dies, stop.

    A supervisor thread waits on the process and starts another when it dies. The thread is
    created at the first start, before the worker lowers its own priority (``stream_niceness``),
    so every process it starts keeps the priority the worker started with (Linux: a new thread
    or process inherits its creator thread's niceness)."""

    def __init__(self, config: ServingProcessConfig) -> None:
        self.config = config
        self._process: BaseProcess | None = None
        self._outbox: queue.SimpleQueue[ReplicaMessage | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._restarted = threading.Event()
        self.restarts = 0

    def start(self) -> None:
        """Start the process and wait until it listens; a port it cannot take is an error naming it."""
        self._start_process()
        threading.Thread(target=self._supervise, name="serving-supervisor", daemon=True).start()

    def _start_process(self) -> None:
        spawn = multiprocessing.get_context("spawn")  # no fork of a process holding threads and torch state
        messages_in, messages_out = spawn.Pipe(duplex=False)
        ready_in, ready_out = spawn.Pipe(duplex=False)
        process = spawn.Process(
            target=serve, args=(self.config, messages_in, ready_out), name="raie-serving", daemon=True
        )
        process.start()
        messages_in.close()  # the child's end: only the child may hold it, so that it sees EOF when we go
        ready_out.close()
        if not ready_in.poll(LISTENING_WITHIN_S):
            process.kill()
            raise RuntimeFailure(
                f"the serving process did not listen on port {self.config.port} within {LISTENING_WITHIN_S:.0f} s"
            )
        try:
            problem = ready_in.recv()
        except EOFError:
            problem = f"it exited with status {process.exitcode}"
        if problem is not None:
            raise RuntimeFailure(f"the recommendation endpoint could not start: {problem}")
        self._process = process
        self._outbox.put(None)  # ends the previous sender, if any
        self._outbox = queue.SimpleQueue()
        threading.Thread(target=_send_all, args=(self._outbox, messages_out), name="serving-feed", daemon=True).start()
        log.info("serving process %d listening on %s:%d", process.pid, self.config.bind, self.config.port)

    def _supervise(self) -> None:
        while not self._stopping.is_set():
            assert self._process is not None
            wait([self._process.sentinel])  # until it dies; stop() reaps it, not this thread
            if self._stopping.is_set():
                return
            log.error("the serving process exited with status %s; starting another", self._process.exitcode)
            try:
                self._start_process()
            except RuntimeFailure as error:  # e.g. its port not free yet
                log.error("%s; trying again in %.0f s", error, RESTART_PAUSE_S)
                self._stopping.wait(RESTART_PAUSE_S)
                continue
            self.restarts += 1
            self._restarted.set()

    def send(self, message: ReplicaMessage) -> None:
        """Queue ``message`` for the process; never blocks (a thread writes the pipe)."""
        self._outbox.put(message)

    def restarted(self) -> bool:
        """True once after each replacement: the caller sends the new process the whole state
        (messages sent while it started may have been lost)."""
        if not self._restarted.is_set():
            return False
        self._restarted.clear()
        return True

    def stop(self) -> None:
        self._stopping.set()
        if self._process is None:
            return
        self._outbox.put(None)  # the sender closes the pipe: the process reads EOF and stops
        self._process.join(STOP_WITHIN_S)
        if self._process.is_alive():
            self._process.kill()


def _send_all(outbox: queue.SimpleQueue[ReplicaMessage | None], pipe: Connection) -> None:
    try:
        while (message := outbox.get()) is not None:
            pipe.send(message)
    except (BrokenPipeError, ConnectionResetError, EOFError):
        pass  # the process died: the supervisor starts another, with its own pipe, and the state is resent
    finally:
        pipe.close()


def serve(config: ServingProcessConfig, messages: Connection, ready: Connection) -> None:
    """The serving process: listen, load, answer until the worker's pipe closes."""
    logging.basicConfig(level=config.log_level, format=LOG_FORMAT)
    GcPauseLog().install()
    if config.torch_threads is not None:
        torch.set_num_threads(config.torch_threads)
    asyncio.run(_serve(config, messages, ready))


async def _serve(config: ServingProcessConfig, messages: Connection, ready: Connection) -> None:
    replica = ContextReplica(config.own_url)
    endpoint = Endpoint(replica)
    runner = web.AppRunner(endpoint.application(), access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, config.bind, config.port).start()
    except OSError as error:
        ready.send(f"cannot listen on {config.bind}:{config.port} ({error}); pass a free --web-port")
        return
    ready.send(None)
    ready.close()
    loop = asyncio.get_running_loop()
    closed = asyncio.Event()
    slice_closed = asyncio.Event()
    threading.Thread(
        target=_receive, args=(messages, loop, replica, slice_closed, closed), name="replica", daemon=True
    ).start()
    artifacts = Artifacts.in_store(config.store_root)
    device = default_device()
    serving = ServingState(artifacts, config.backbone, config.config, device)
    service = RecommendationService(artifacts, config.config, device, replica.recent, config.store_root)
    endpoint.service = service
    tasks = [
        asyncio.create_task(_keep_serving(serving, service, slice_closed)),
        asyncio.create_task(_keep_popular(service)),
    ]
    await closed.wait()
    for task in tasks:
        task.cancel()
    service.close()
    await runner.cleanup()


def _receive(
    messages: Connection,
    loop: asyncio.AbstractEventLoop,
    replica: ContextReplica,
    slice_closed: asyncio.Event,
    closed: asyncio.Event,
) -> None:
    """Hand each message to the loop (the replica is only touched there); EOF: the worker is gone."""

    def apply(message: ReplicaMessage) -> None:
        if isinstance(message, SliceClosed):
            slice_closed.set()
        else:
            replica.apply(message)

    try:
        while True:
            loop.call_soon_threadsafe(apply, messages.recv())
    except (EOFError, OSError):
        loop.call_soon_threadsafe(closed.set)


async def _keep_serving(serving: ServingState, service: RecommendationService, slice_closed: asyncio.Event) -> None:
    """Serve the store's newest committed state: at start, each poll, and when told a slice closed.

    Once the first model serves, everything alive (the interpreter's imports, torch, that model:
    about half a million objects) is frozen out of the cyclic collector: a full collection of it
    took 250 ms, held the interpreter lock, and came back every few minutes of replica updates.
    Nothing frozen is ever thawed; what is frozen is never garbage, except the first model's
    cycles, if any, after its replacement: a bounded, one-time cost."""
    frozen = False
    while True:
        try:
            await asyncio.to_thread(serving.refresh)
            swaps = service.swaps
            await service.serve(serving.state)
            if service.swaps != swaps:
                await service.refresh_popular()  # a new slice: what is popular now changed
            if not frozen and service.model is not None:
                freeze_survivors()
                frozen = True
        except Exception:  # a supervision boundary: the state that serves keeps serving, the next poll retries
            log.exception("the store's newest state could not be loaded; the current one keeps serving")
        with contextlib.suppress(TimeoutError):  # the poll is due
            await asyncio.wait_for(slice_closed.wait(), SERVING_REFRESH_S)
        slice_closed.clear()


async def _keep_popular(service: RecommendationService) -> None:
    while True:
        await service.refresh_popular()
        await asyncio.sleep(POPULAR_REFRESH_S)
