"""SASRec and its LoRA: shapes, frozen representations, safetensors adapters."""

from pathlib import Path

import pytest
import torch
from peft import PeftModel

from raie.backbones import SequentialRecommender, build_backbone
from raie.backbones.lora import adapted_backbone, with_lora
from raie.config import ExperimentConfig, LoraConfig
from raie.data.catalog import Catalog, reserved_rows

pytestmark = pytest.mark.unit

N_ITEMS = 50


def model(config: ExperimentConfig) -> SequentialRecommender:
    torch.manual_seed(0)
    return build_backbone("sasrec", config, Catalog.anonymous(N_ITEMS)).eval()


def test_scores_cover_every_item_the_free_rows_and_padding(fast_config: ExperimentConfig) -> None:
    context = torch.randint(1, N_ITEMS + 1, (4, fast_config.protocol.context_len))
    free = reserved_rows(N_ITEMS, fast_config.new_item_room)
    assert free > 0
    assert model(fast_config).full_sort_scores(context).shape == (4, N_ITEMS + free + 1)


def test_left_padding_gives_finite_output(fast_config: ExperimentConfig) -> None:
    context = torch.randint(1, N_ITEMS + 1, (2, fast_config.protocol.context_len))
    context[0, :3] = 0
    assert torch.isfinite(model(fast_config).full_sort_scores(context)).all()


def test_representation_is_unit_norm_and_ignores_the_target(fast_config: ExperimentConfig) -> None:
    """Only the context enters: two windows with one context and different targets match."""
    backbone = model(fast_config)
    window = torch.randint(1, N_ITEMS + 1, (1, fast_config.protocol.context_len + 1))
    other = window.clone()
    other[0, -1] = (window[0, -1] % N_ITEMS) + 1  # a different target item
    first, second = (backbone.representation(w[:, :-1]) for w in (window, other))
    assert torch.equal(first, second)
    assert first.norm().item() == pytest.approx(1.0, abs=1e-6)


def test_lora_covers_attention_and_ffn_and_leaves_the_original_alone(fast_config: ExperimentConfig) -> None:
    backbone = model(fast_config)
    before = {k: v.clone() for k, v in backbone.state_dict().items()}
    peft_model = with_lora(backbone, LoraConfig())
    lora_a = [name for name, _ in peft_model.named_parameters() if ".lora_A." in name]
    adapted = {name.split(".lora_A.")[0].split(".")[-1] for name in lora_a}
    assert adapted == set(backbone.lora_target_modules)
    trainable = [name for name, p in peft_model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in name for name in trainable)
    assert all(torch.equal(before[k], v) for k, v in backbone.state_dict().items())


def test_adapter_round_trips_through_safetensors(fast_config: ExperimentConfig, tmp_path: Path) -> None:
    backbone = model(fast_config)
    peft_model = with_lora(backbone, LoraConfig())
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_()  # B starts at zero; make the adapter matter
    context = torch.randint(1, N_ITEMS + 1, (3, fast_config.protocol.context_len))
    peft_model.eval()
    expected = adapted_backbone(peft_model).full_sort_scores(context)
    peft_model.save_pretrained(str(tmp_path))
    # peft keeps a non-default adapter name as a sub-folder.
    adapter_dir = tmp_path / "global"
    assert (adapter_dir / "adapter_model.safetensors").is_file()
    assert not list(tmp_path.rglob("*.bin")) and not list(tmp_path.rglob("*.pt"))
    reloaded = PeftModel.from_pretrained(model(fast_config), str(adapter_dir), adapter_name="global").eval()
    assert torch.allclose(adapted_backbone(reloaded).full_sort_scores(context), expected, atol=1e-5)
    assert not torch.allclose(backbone.full_sort_scores(context), expected)
