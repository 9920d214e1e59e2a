"""Shared fixtures: small real-layout data and a fast configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from raie.config import ExperimentConfig, PreprocessConfig, ProtocolConfig, SASRecConfig, TrainConfig
from raie.data.dataset import load_dataset
from raie.data.synthetic import SyntheticConfig, write_synthetic_yelp
from raie.protocol.blocks import ProtocolData, build_protocol
from raie.protocol.preprocess import preprocess

FAST = TrainConfig(epochs=2, batch_size=128, lr=3e-3, patience=1)
"""Two epochs are enough to exercise every code path; numbers are not the point."""


@pytest.fixture(scope="session")
def synthetic_yelp_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A drifting 120-user dataset in the official Yelp layout."""
    out = tmp_path_factory.mktemp("yelp")
    write_synthetic_yelp(out, SyntheticConfig(n_users=120, seed=7))
    return out


@pytest.fixture(scope="session")
def fast_config() -> ExperimentConfig:
    return ExperimentConfig(
        dataset="yelp",
        preprocess=PreprocessConfig(min_rating=4.0, dedupe=True, k_core=5),
        protocol=ProtocolConfig(context_len=5, eval_stride=3, holdout_targets=1),
        sasrec=SASRecConfig(hidden=32, blocks=1, heads=1, dropout=0.1),
        setup_train=FAST,
        finetune_train=FAST,
        eval_batch_size=256,
    )


@pytest.fixture(scope="session")
def synthetic_data(synthetic_yelp_dir: Path, fast_config: ExperimentConfig) -> ProtocolData:
    dataset = load_dataset("yelp", synthetic_yelp_dir)
    positives = preprocess(dataset.interactions, fast_config.preprocess)
    return build_protocol(positives, fast_config.protocol, dataset.items)
