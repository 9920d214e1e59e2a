"""Presets load, and a bad config names the file, the field and the fix."""

from pathlib import Path

import pytest

from raie.config import PRESETS_DIR, ExperimentConfig, load_config, preset_path
from raie.errors import ConfigError

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("dataset", ["movielens", "yelp"])
def test_shipped_presets_load(dataset: str) -> None:
    config = load_config(preset_path(dataset))
    assert config.dataset == dataset
    assert config.protocol.cutoffs == (0.5, 0.8)


def test_yelp_preset_keeps_the_paper_protocol() -> None:
    config = load_config(preset_path("yelp"))
    assert config.preprocess.k_core == 10 and config.preprocess.min_rating == 4.0


@pytest.mark.parametrize(
    ("text", "field", "hint"),
    [
        ("protocol:\n  context_len: 0\n", "protocol.context_len", "positive integer"),
        ("protocol:\n  cutoffs: [0.8, 0.5]\n", "protocol.cutoffs", "[0.5, 0.8]"),
        ("setup_train:\n  epochs: many\n", "setup_train.epochs", "int"),
        ("lora:\n  rank: 8\n", "lora.rank", "one of"),
        ("sasrec:\n  hidden: 30\n  heads: 4\n", "sasrec.hidden", "multiple of heads"),
        ("- a list\n", "<root>", "key: value"),
    ],
)
def test_bad_values_name_file_field_and_fix(tmp_path: Path, text: str, field: str, hint: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert str(path) in message and f"'{field}'" in message and hint in message


def test_missing_file_and_broken_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("protocol: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_config(broken)


def test_defaults_are_valid() -> None:
    assert ExperimentConfig().lora.r == 8


def test_a_backbone_specific_preset_wins_when_it_exists() -> None:
    assert preset_path("movielens", "lm").name == "movielens-lm.yaml"
    assert preset_path("movielens", "sasrec").name == "movielens.yaml"
    assert preset_path("yelp", "lm").name == "yelp.yaml"
    reduced, full = load_config(preset_path("movielens", "lm")), load_config(PRESETS_DIR / "movielens-lm-full.yaml")
    assert reduced.protocol.train_stride > full.protocol.train_stride == 1
