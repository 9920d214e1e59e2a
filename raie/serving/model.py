"""The state that answers "what should user u see now?": a closed slice's Set-up model, bank and live adapters.

A :class:`ServingModel` scores a batch of users' contexts the way the routed
RAIE model scores evaluation windows (raie/online/prequential.py): each
context is routed by the frozen encoder and the region's live adapter serves
it (the global adapter below ``tau_infer``). Items in the context, padding and
the free item rows no item has taken yet are never recommended. A user with no
context the model knows gets the popularity fallback, marked as such.

Scoring reads merged copies of the live adapter stacks (raie/serving/stacks.py),
never the peft model they were built from: a built model is immutable, so a
new slice's model can be built beside it while it keeps answering.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from raie.adapters.live import LiveAdapters
from raie.adapters.routed import region_adapter, serving_stack
from raie.backbones.lora import GLOBAL_ADAPTER
from raie.config import RESIDUAL_INIT, ExperimentConfig
from raie.online.artifacts import VOCABULARY_FILE, Artifacts, SessionState
from raie.online.candidates import encode_contexts
from raie.protocol.preprocess import PADDING_ITEM
from raie.regions.router import FALLBACK, Router
from raie.serving.answer import POPULARITY, Recommendation, RecommendedItem, ServedBy
from raie.serving.stacks import MergedStacks

MAX_K = 1000
"""Most items one answer may list: a bound on the work and the response size a request can ask for."""

ANONYMOUS_TITLE = "item {}"
"""The text an item gets when the Set-up catalogue had no metadata (raie/data/catalog.py): not a title."""


@dataclass(frozen=True)
class UserContext:
    user_id: str
    items: tuple[str, ...]
    """The user's latest positives, oldest first (at most L are used)."""


@dataclass(frozen=True)
class ServingModel:
    state: SessionState
    stacks: MergedStacks
    config: ExperimentConfig
    titles: dict[str, str]
    device: torch.device

    @classmethod
    def build(
        cls, state: SessionState, live: LiveAdapters, config: ExperimentConfig, titles: dict[str, str]
    ) -> ServingModel:
        """The model of ``state``; ``live`` holds its versions (:func:`prepare_adapters`) and is
        free to load other versions once this returns."""
        stacks = MergedStacks.build(live, state.bank.ids.tolist(), config.regions)
        return cls(state, stacks, config, titles, live.device)

    @classmethod
    def load(
        cls, artifacts: Artifacts, backbone: str, config: ExperimentConfig, device: torch.device
    ) -> ServingModel | None:
        """The model of the last closed slice in ``artifacts``; None before the Set-up slice closed."""
        state = artifacts.load(backbone, config, device)
        if state is None:
            return None
        live = prepare_adapters(None, state, artifacts, config, device)
        return cls.build(state, live, config, item_titles(artifacts))

    def recommend(
        self, users: Sequence[UserContext], k: int, popular: Sequence[tuple[str, float]] = ()
    ) -> list[Recommendation]:
        """Top-``k`` items for each user; ``popular`` (item id, positives in the current slice),
        most popular first, answers users whose context holds no item the model knows."""
        if not 1 <= k <= MAX_K:
            raise ValueError(f"k={k} is outside 1..{MAX_K}")
        length = self.config.protocol.context_len
        contexts = [self._known(user.items[-length:]) for user in users]
        scored = [i for i, context in enumerate(contexts) if context]
        answers: list[Recommendation | None] = [None] * len(users)
        if scored:
            answered = self._score([users[i].user_id for i in scored], [contexts[i] for i in scored], k)
            for i, answer in zip(scored, answered, strict=True):
                answers[i] = answer
        for i, user in enumerate(users):
            if answers[i] is None:
                answers[i] = self._popular(user, popular, k)
        return [a for a in answers if a is not None]

    def _known(self, items: Sequence[str]) -> tuple[str, ...]:
        vocabulary = self.state.vocabulary
        return tuple(item for item in items if vocabulary.index(item) != PADDING_ITEM)

    @torch.inference_mode()
    def _score(self, user_ids: list[str], contexts: list[tuple[str, ...]], k: int) -> list[Recommendation]:
        state, config = self.state, self.config
        device = self.device
        vocabulary = state.vocabulary
        encoded = encode_contexts(contexts, vocabulary, config.protocol.context_len)
        batch = torch.from_numpy(encoded).to(device)
        router = Router(state.setup_model, state.bank, config.regions)
        reps = router.represent(batch)
        routes = router.routes(reps)
        serving = router.serving_of(routes)
        names = [GLOBAL_ADAPTER if r == FALLBACK else region_adapter(int(r)) for r in serving]
        names = [name if name in self.stacks.by_adapter else GLOBAL_ADAPTER for name in names]
        scores = self.stacks.scores(batch, names).float().cpu()
        scores[:, PADDING_ITEM] = -torch.inf
        scores[:, len(vocabulary) + 1 :] = -torch.inf  # free rows: no item has taken them yet
        rows = torch.from_numpy(encoded)
        scores.scatter_(1, rows, -torch.inf)  # the context's own items (padding is already out)
        top = torch.topk(scores, min(k, len(vocabulary)), dim=1)
        residual = config.regions.init == RESIDUAL_INIT
        answers = []
        for row, user_id in enumerate(user_ids):
            items = tuple(
                self._item(vocabulary.item_ids[index - 1], score)
                for index, score in zip(top.indices[row].tolist(), top.values[row].tolist(), strict=True)
                if score > -np.inf
            )
            region = int(serving[row])
            answers.append(
                Recommendation(
                    user_id,
                    items,
                    contexts[row],
                    state.closed_slices,
                    None if region == FALLBACK else region,
                    float(routes.p1[row]),
                    self._served_by(names[row], residual),
                )
            )
        return answers

    def _served_by(self, name: str, residual: bool) -> ServedBy:
        live = self.state.live
        stack = tuple((adapter, live.get(adapter)) for adapter in serving_stack(name, residual))
        return ServedBy(name, live.get(name), stack)

    def _popular(self, user: UserContext, popular: Sequence[tuple[str, float]], k: int) -> Recommendation:
        seen = set(user.items)
        items = tuple(self._item(item, count) for item, count in popular if item not in seen)[:k]
        return Recommendation(user.user_id, items, (), self.state.closed_slices, adapter=None, fallback=POPULARITY)

    def _item(self, item_id: str, score: float) -> RecommendedItem:
        return RecommendedItem(item_id, float(score), self.titles.get(item_id))


def prepare_adapters(
    current: LiveAdapters | None,
    state: SessionState,
    artifacts: Artifacts,
    config: ExperimentConfig,
    device: torch.device,
) -> LiveAdapters:
    """``current`` swapped in place to ``state``'s live versions (each checked against its
    manifest's hash); a new one when there is none yet or the Set-up model changed."""
    if current is None or current.setup_model is not state.setup_model:
        current = LiveAdapters(artifacts.registry, state.setup_model, config.lora, device)
    current.swap(state.live)
    return current


def item_titles(artifacts: Artifacts) -> dict[str, str]:
    """Item id -> the Set-up catalogue's text ("title (genre, ...)"); items it had no metadata for have none."""
    meta = json.loads((artifacts.setup_dir() / VOCABULARY_FILE).read_text())
    texts = meta.get("texts", [])
    titles = {}
    for row, item_id in enumerate(meta["item_ids"], start=1):
        text = texts[row] if row < len(texts) else ""
        if text and text != ANONYMOUS_TITLE.format(row):
            titles[str(item_id)] = str(text)
    return titles
