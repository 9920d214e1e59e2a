"""The ``lm`` backbone on the packaged MiniLM: prompts, representation, LoRA, safetensors."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import PeftModel

from raie.backbones import build_backbone
from raie.backbones.lm import LMRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, adapted_backbone, with_lora
from raie.config import ExperimentConfig, LMConfig
from raie.data.catalog import Catalog
from raie.experiment import adapt, train_setup_model
from raie.protocol.blocks import BlockWindows, ProtocolData

pytestmark = pytest.mark.unit

SMALL_PROMPTS = LMConfig(model="minilm", max_tokens=48, encode_batch=32)


@pytest.fixture(scope="module")
def config(fast_config: ExperimentConfig) -> ExperimentConfig:
    return dataclasses.replace(fast_config, lm=SMALL_PROMPTS)


@pytest.fixture(scope="module")
def model(config: ExperimentConfig, synthetic_data: ProtocolData) -> LMRecommender:
    built = build_backbone("lm", config, synthetic_data.catalog)
    assert isinstance(built, LMRecommender)
    return built.eval()


def test_catalog_texts_come_from_item_metadata(synthetic_data: ProtocolData) -> None:
    texts = synthetic_data.catalog.texts
    assert texts[0] == "" and len(texts) == synthetic_data.n_items + 1
    assert all(text and not text.startswith("item ") for text in texts[1:])


def test_prompt_keeps_the_newest_items_within_the_budget(model: LMRecommender) -> None:
    catalog = Catalog(("", "Old Movie (Drama)", "Middle Movie (Comedy)", "New Movie (Action)"))
    builder = dataclasses.replace(model.prompts, catalog=catalog, max_tokens=40)
    text = builder.text(np.array([1, 2, 3]))
    assert text.startswith("here is the purchase history of the user")
    assert text.endswith("answer :")
    assert "new movie" in text and "old movie" not in text
    assert len(builder.token_ids(np.array([1, 2, 3]))) <= 40


def test_representation_never_depends_on_the_target(model: LMRecommender, synthetic_data: ProtocolData) -> None:
    windows = synthetic_data.block("F").train.take(np.arange(16))
    context = torch.from_numpy(windows.context)
    with torch.no_grad():
        first = model.representation(context)
        # The target is not an input at all; a different target cannot reach the prompt.
        shuffled = dataclasses.replace(windows, target=windows.target[::-1].copy())
        again = model.representation(torch.from_numpy(shuffled.context))
    assert torch.equal(first, again)
    assert torch.allclose(first.norm(dim=1), torch.ones(16), atol=1e-5)


def test_frozen_encodings_are_cached_and_match_a_fresh_forward(model: LMRecommender) -> None:
    context = torch.tensor([[1, 2, 3, 4, 5], [0, 0, 2, 3, 1]])
    with torch.no_grad():
        cached = model.user_vector(context)
        fresh = model.user_head(model.encode(context))
    assert torch.allclose(cached, fresh, atol=1e-5)


def test_lora_targets_bert_projections_and_saves_as_safetensors(model: LMRecommender, tmp_path: Path) -> None:
    assert model.lora_target_modules == ("query", "key", "value", "dense")
    wrapped = with_lora(model, ExperimentConfig().lora)
    names = [n for n, p in wrapped.named_parameters() if p.requires_grad]
    assert names and all("lora_" in n for n in names)
    context = torch.tensor([[1, 2, 3, 4, 5]])
    backbone = adapted_backbone(wrapped).eval()  # peft injects LoRA dropout in training mode
    with torch.no_grad():
        for name, parameter in wrapped.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
        adapted_scores = backbone.full_sort_scores(context)
    assert not torch.allclose(adapted_scores, model.full_sort_scores(context))
    wrapped.save_pretrained(str(tmp_path))
    saved = list(tmp_path.rglob("adapter_model.safetensors"))
    assert saved and not list(tmp_path.rglob("*.bin"))
    # Loading the safetensors onto a fresh copy of the frozen model gives the same scores.
    restored = PeftModel.from_pretrained(copy.deepcopy(model), str(saved[0].parent), adapter_name=GLOBAL_ADAPTER)
    with torch.no_grad():
        assert torch.allclose(adapted_backbone(restored).full_sort_scores(context), adapted_scores, atol=1e-5)


def shrink(data: ProtocolData, n: int) -> ProtocolData:
    """The same data with at most ``n`` windows per part: LM steps on CPU cost ~50 ms a window."""

    def cut(block: BlockWindows) -> BlockWindows:
        parts = {part: getattr(block, part) for part in ("train", "valid", "holdout", "eval")}
        return dataclasses.replace(block, **{k: w.take(np.arange(min(n, len(w)))) for k, w in parts.items()})

    return dataclasses.replace(data, blocks=tuple(cut(b) for b in data.blocks))


@pytest.mark.parametrize("method", ["lwf", "raie"])
def test_strategies_run_on_the_lm_backbone_unchanged(
    method: str, config: ExperimentConfig, synthetic_data: ProtocolData, tmp_path: Path
) -> None:
    one_epoch = dataclasses.replace(config.finetune_train, epochs=1)
    tiny = dataclasses.replace(
        config,
        finetune_train=one_epoch,
        setup_train=one_epoch,
        regions=dataclasses.replace(config.regions, regions=2, buffer_size=16, min_region_size=4),
    )
    data = shrink(synthetic_data, 96)
    setup = train_setup_model("lm", tiny, data, seed=0, device=torch.device("cpu"))
    context = torch.from_numpy(data.block("T").eval.context[:4])
    adapted, _ = adapt(method, setup, data, tiny, 0, tmp_path, torch.device("cpu"))
    with torch.no_grad():
        assert adapted.full_sort_scores(context).shape == (4, len(setup.item_vectors()))
