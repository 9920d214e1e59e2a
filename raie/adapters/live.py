"""The adapters that serve, swapped to new versions in place (no restart, no rebuild).

One peft model holds an adapter per name; :meth:`LiveAdapters.swap` loads
only the versions that changed, each checked against its manifest's hash
before its tensors replace the old ones. A version that cannot be loaded
leaves the previous one serving and is reported by the caller.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from peft import PeftModel, set_peft_model_state_dict

from raie.adapters.registry import AdapterRegistry
from raie.adapters.routed import RoutedRecommender, region_adapter
from raie.backbones.base import SequentialRecommender
from raie.backbones.lora import GLOBAL_ADAPTER, add_adapter, with_lora
from raie.config import RESIDUAL_INIT, LoraConfig
from raie.regions.router import Router


@dataclass
class LiveAdapters:
    registry: AdapterRegistry
    setup_model: SequentialRecommender
    lora: LoraConfig
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    versions: dict[str, int] = field(default_factory=dict)  # what is loaded now
    _model: PeftModel | None = None

    @property
    def model(self) -> PeftModel:
        if self._model is None:
            # Until the global adapter is published, a fresh LoRA (zero delta) = the Set-up model.
            self._model = with_lora(self.setup_model, self.lora).to(self.device).eval()
        return self._model

    def swap(self, live: dict[str, int]) -> list[str]:
        """Load every adapter whose live version differs from the loaded one; the names swapped."""
        swapped = []
        for name in set(self.versions) - set(live):
            del self.versions[name]  # no longer live (a slice's guard kept the version before): serve none
        for name, version in sorted(live.items()):
            if self.versions.get(name) == version:
                continue
            weights = self.registry.load_weights(name, version)  # verified before anything changes
            if name not in self.model.peft_config:
                add_adapter(self.model, name, self.lora)
            set_peft_model_state_dict(self.model, {k: v.to(self.device) for k, v in weights.items()}, adapter_name=name)
            self.versions[name] = version
            swapped.append(name)
        self.model.set_adapter(GLOBAL_ADAPTER)
        self.model.eval()
        return swapped

    def recommender(self, router: Router) -> RoutedRecommender:
        """Routed inference with the loaded versions; regions without an adapter use the global one."""
        regions = {int(r): region_adapter(int(r)) for r in router.bank.ids.tolist()}
        adapters = {r: name for r, name in regions.items() if name in self.versions}
        residual = router.config.init == RESIDUAL_INIT
        return RoutedRecommender(self.model, router, adapters, residual=residual, blend=router.config.blend).eval()
