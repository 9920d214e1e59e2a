"""The one scoring function behind the endpoint and ``raie recommend``: what it may recommend, what it
reports as having served, the popularity fallback, and the stored history it reads."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from raie.adapters.routed import region_adapter
from raie.backbones import build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog
from raie.online.artifacts import Artifacts, SessionState
from raie.online.candidates import ItemVocabulary, encode_contexts
from raie.online.setup import initial_state
from raie.online.state import StepState
from raie.protocol.windows import Windows
from raie.regions.router import Router
from raie.serving import ServingModel, UserContext
from raie.serving.history import popular_items, user_context
from raie.serving.model import MAX_K, prepare_adapters
from raie.store import Store
from tests.unit.test_live_adapters import publish, trained_like

pytestmark = pytest.mark.unit

ITEMS = 30
ROOM = 5
"""Free item rows no item has taken: never recommended."""


def serving_model(config: ExperimentConfig, root: Path, live: dict[str, int] | None = None) -> ServingModel:
    ids = tuple(f"i{n:02d}" for n in range(1, ITEMS + 1))
    vocabulary = ItemVocabulary(ids, ITEMS + ROOM)
    catalog = Catalog(("", *(f"Title {n}" for n in range(1, ITEMS + 1)))).with_room(ROOM)
    torch.manual_seed(0)
    setup = build_backbone("sasrec", config, catalog).eval()
    rng = np.random.default_rng(0)
    length = config.protocol.context_len
    n = 64
    train = Windows(
        user=np.arange(n),
        context=rng.integers(1, ITEMS + 1, (n, length)),
        target=rng.integers(1, ITEMS + 1, n),
        ts=np.arange(n),
    )
    step, _ = initial_state(setup, train, config, 0, torch.device("cpu"))
    artifacts = Artifacts.in_store(root)
    registry = artifacts.registry
    if live:
        for name, version in live.items():
            publish(registry, trained_like(config, setup, 0.01 * version), name, version)
    state = SessionState(vocabulary, StepState(1, setup, step.bank, step.memory, dict(live or {})))
    artifacts.write_setup(state, catalog)
    adapters = prepare_adapters(None, state, artifacts, config, torch.device("cpu"))
    return ServingModel.build(state, adapters, config, {f"i{n:02d}": f"Title {n}" for n in range(1, ITEMS + 1)})


def test_answers_exclude_the_context_padding_and_free_rows_and_name_what_served(
    fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    model = serving_model(fast_config, tmp_path, {"global": 1})
    context = ("i03", "i07", "unknown-item", "i11")
    answer = model.recommend([UserContext("u", context)], k=ITEMS)[0]
    ids = [item.item_id for item in answer.items]
    assert answer.context == ("i03", "i07", "i11"), "items the model does not know are left out"
    assert not set(ids) & set(answer.context)
    assert len(ids) == ITEMS - 3 and len(set(ids)) == len(ids), "every other known item once; no free row"
    scores = [item.score for item in answer.items]
    assert scores == sorted(scores, reverse=True)
    assert answer.items[0].title == f"Title {int(ids[0][1:])}"
    assert answer.fallback is None and answer.bank_version == 1
    assert answer.adapter is not None and answer.adapter.version == answer.adapter.stack[-1][1]
    assert ("global", 1) in answer.adapter.stack or answer.adapter.name.startswith("region_")


@pytest.mark.parametrize("blend", [1.0, 0.5])
def test_serving_scores_are_the_routed_models_that_evaluation_uses(
    fast_config: ExperimentConfig, tmp_path: Path, blend: float
) -> None:
    """Merged stacks (raie/serving/stacks.py) against peft switching (raie/adapters/routed.py)."""
    regions = dataclasses.replace(fast_config.regions, init="residual", blend=blend, tau_infer=0.0)
    config = dataclasses.replace(fast_config, regions=regions)
    first = serving_model(config, tmp_path, {"global": 1})
    live = {"global": 1} | {region_adapter(int(r)): 2 for r in first.state.bank.ids.tolist()}
    model = serving_model(config, tmp_path / "regions", live)
    contexts = [("i01", "i02", "i03"), ("i10",), ("i04", "i20", "i21", "i22"), ("i30", "i29")]
    batch = torch.from_numpy(encode_contexts(contexts, model.state.vocabulary, config.protocol.context_len))
    adapters = prepare_adapters(
        None, model.state, Artifacts.in_store(tmp_path / "regions"), config, torch.device("cpu")
    )
    routed = adapters.recommender(Router(model.state.setup_model, model.state.bank, config.regions))
    with torch.inference_mode():
        expected = routed.full_sort_scores(batch)
    answers = model.recommend([UserContext(str(i), c) for i, c in enumerate(contexts)], k=ITEMS)
    assert {a.adapter.name for a in answers if a.adapter} != {"global"}, "regions serve some windows"
    for row, answer in enumerate(answers):
        for item in answer.items:
            index = model.state.vocabulary.index(item.item_id)
            assert item.score == pytest.approx(float(expected[row, index]), abs=1e-4)


def test_a_batch_scores_each_user_as_alone(fast_config: ExperimentConfig, tmp_path: Path) -> None:
    model = serving_model(fast_config, tmp_path)
    users = [UserContext("a", ("i01", "i02")), UserContext("b", ("i20",)), UserContext("c", ("i05", "i06", "i09"))]
    together = model.recommend(users, k=5)
    alone = [model.recommend([user], k=5)[0] for user in users]
    for batch_answer, single in zip(together, alone, strict=True):
        assert [i.item_id for i in batch_answer.items] == [i.item_id for i in single.items]
        assert [i.score for i in batch_answer.items] == pytest.approx([i.score for i in single.items], abs=1e-5)


def test_a_user_without_a_known_context_gets_the_popular_items_marked_as_such(
    fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    model = serving_model(fast_config, tmp_path)
    popular = [("i09", 40.0), ("i02", 31.0), ("new-item", 30.0), ("i04", 12.0)]
    answer = model.recommend([UserContext("stranger", ("never-seen",))], k=3, popular=popular)[0]
    assert answer.fallback == "popularity" and answer.adapter is None and answer.region is None
    assert [i.item_id for i in answer.items] == ["i09", "i02", "new-item"]
    assert answer.items[2].title is None, "an item after Set-up has no catalogue title yet"
    with pytest.raises(ValueError, match="outside 1"):
        model.recommend([UserContext("u", ())], k=MAX_K + 1)


def test_the_stored_history_is_the_users_latest_positives_in_stream_order(tmp_path: Path) -> None:
    rows = [  # (user, item, rating, slice, partition, offset): read back in offset order, not time
        ("u", "a", 5.0, 0, 1, 10),
        ("u", "b", 2.0, 0, 1, 11),  # not a positive
        ("u", "c", None, 1, 1, 12),  # no rating: a positive, as the stream windows it
        ("u", "d", 4.0, 1, 1, 13),
        ("v", "d", 5.0, 1, 0, 3),
        ("v", "c", 4.5, 1, 0, 4),
        ("w", "c", 5.0, 0, 2, 1),
    ]
    table = pa.table(
        {
            "event_id": [f"e{i}" for i in range(len(rows))],
            "user_id": [r[0] for r in rows],
            "item_id": [r[1] for r in rows],
            "rating": [r[2] for r in rows],
            "ts": pa.array([1_700_000_000_000 - i for i in range(len(rows))], pa.timestamp("ms", tz="UTC")),
            "slice": [r[3] for r in rows],
            "source": ["t"] * len(rows),
            "partition": [r[4] for r in rows],
            "offset": [r[5] for r in rows],
            "chunk": ["c0"] * len(rows),
        }
    )
    with Store.open(tmp_path / "store") as store:
        store.write("interactions", table)
    with Store.open(tmp_path / "store", read_only=True) as store:
        assert user_context(store, "u", 4.0, 10) == ("a", "c", "d")
        assert user_context(store, "u", 4.0, 2) == ("c", "d")
        assert user_context(store, "nobody", 4.0, 10) == ()
        # The newest slice's positives: c twice (u, v), d twice (u, v); ties by item id.
        assert popular_items(store, 4.0) == [("c", 2.0), ("d", 2.0)]
