"""Serving swaps adapter versions in place, loading only what changed, and never a corrupt file."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from peft import get_peft_model_state_dict

from raie.adapters import AdapterManifest, AdapterRegistry, RegistryError
from raie.adapters.live import LiveAdapters
from raie.backbones import build_backbone
from raie.backbones.lora import with_lora
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog

pytestmark = pytest.mark.unit


def publish(registry: AdapterRegistry, model_weights: dict[str, torch.Tensor], adapter: str, version: int) -> None:
    manifest = AdapterManifest(adapter, None, version, version, None, None, 1, 1, 1, {}, "", 0)
    registry.publish(manifest, model_weights)


def trained_like(config: ExperimentConfig, setup: torch.nn.Module, value: float) -> dict[str, torch.Tensor]:
    """An adapter's tensors, every entry set to ``value``: easy to recognise after loading."""
    weights = get_peft_model_state_dict(with_lora(setup, config.lora), adapter_name="global")  # type: ignore[arg-type]
    return {name: torch.full_like(tensor, value) for name, tensor in weights.items()}


def loaded(live: LiveAdapters, adapter: str) -> set[float]:
    return {float(v.flatten()[0]) for v in get_peft_model_state_dict(live.model, adapter_name=adapter).values()}


def test_a_new_version_is_swapped_in_place_and_a_corrupt_one_is_refused(
    fast_config: ExperimentConfig, tmp_path: Path
) -> None:
    setup = build_backbone("sasrec", fast_config, Catalog.anonymous(20))
    registry = AdapterRegistry(tmp_path)
    publish(registry, trained_like(fast_config, setup, 0.5), "global", 1)
    publish(registry, trained_like(fast_config, setup, 0.25), "region_2", 1)
    live = LiveAdapters(registry, setup, fast_config.lora)

    assert live.swap({"global": 1, "region_2": 1}) == ["global", "region_2"]
    model = live.model
    assert loaded(live, "global") == {0.5} and loaded(live, "region_2") == {0.25}

    publish(registry, trained_like(fast_config, setup, 0.75), "global", 2)
    assert live.swap({"global": 2, "region_2": 1}) == ["global"], "an unchanged version is not reloaded"
    assert live.model is model, "swapped in place, not rebuilt"
    assert loaded(live, "global") == {0.75}

    publish(registry, trained_like(fast_config, setup, 9.0), "global", 3)
    weights = registry.get("global", 3).weights_path
    weights.write_bytes(weights.read_bytes()[:-1] + b"\x01")
    with pytest.raises(RegistryError, match="does not match its manifest"):
        live.swap({"global": 3})
    assert loaded(live, "global") == {0.75} and live.versions["global"] == 2, "the previous version still serves"
