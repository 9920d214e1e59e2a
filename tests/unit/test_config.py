"""Presets load, and a bad config names the file, the field and the fix."""

import ast
import dataclasses
from pathlib import Path

import pytest

import raie.config
from raie.config import CONFIDENCE_RULE_NAMES, ExperimentConfig
from raie.config_files import from_dict, load_config, preset_file, preset_names, preset_path, save_config
from raie.config_overrides import apply_overrides, parse_override
from raie.errors import ConfigError
from raie.regions.routing import CONFIDENCE_RULES

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


def test_defaults_survive_the_yaml_round_trip(tmp_path: Path) -> None:
    """The defaults are what an empty preset means, and a saved config reads back equal:
    every field's type converts and every validator accepts its own default."""
    defaults = ExperimentConfig()
    assert from_dict(ExperimentConfig, {}) == defaults
    assert load_config(save_config(defaults, tmp_path / "defaults.yaml")) == defaults
    changed = dataclasses.replace(defaults, protocol=dataclasses.replace(defaults.protocol, cutoffs=(0.3, 0.6, 0.9)))
    assert load_config(save_config(changed, tmp_path / "changed.yaml")) == changed != defaults


def test_a_backbone_specific_preset_wins_when_it_exists() -> None:
    assert preset_path("movielens", "lm").name == "movielens-lm.yaml"
    assert preset_path("movielens", "sasrec").name == "movielens.yaml"
    assert preset_path("yelp", "lm").name == "yelp.yaml"
    reduced, full = load_config(preset_path("movielens", "lm")), load_config(preset_file("movielens-lm-full"))
    assert reduced.protocol.train_stride > full.protocol.train_stride == 1


def test_presets_are_package_data() -> None:
    assert preset_names() == ["movielens", "movielens-lm", "movielens-lm-full", "yelp"]
    assert all(load_config(preset_file(name)) for name in preset_names())
    # Found through the package, not a source-tree path beside it.
    assert not hasattr(raie.config, "REPO_ROOT") and not hasattr(raie.config, "PRESETS_DIR")


def test_a_missing_preset_is_an_error_naming_what_exists() -> None:
    with pytest.raises(ConfigError) as caught:
        preset_path("netflix", "lm")
    message = str(caught.value)
    assert "dataset 'netflix' (backbone 'lm')" in message and "'movielens', 'movielens-lm'" in message
    assert "--config FILE" in message
    with pytest.raises(ConfigError, match=r"no preset named 'nope'.*'yelp'"):
        preset_file("nope")


def test_config_owns_the_confidence_rule_names() -> None:
    assert set(CONFIDENCE_RULE_NAMES) == set(CONFIDENCE_RULES), "each name has one routing rule, and back"
    with pytest.raises(ConfigError, match=r"'regions.confidence'.*\['radius', 'softmax'\]"):
        from_dict(ExperimentConfig, {"regions": {"confidence": "cosine"}})


def test_config_imports_no_other_raie_module_than_errors() -> None:
    """The foundation of every layer: importing a layer from here would make a cycle waiting to happen."""
    tree = ast.parse(Path(raie.config.__file__).read_text())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert {m for m in imported if m == "raie" or m.startswith("raie.")} == {"raie.errors"}


def overridden(*texts: str, config: ExperimentConfig | None = None) -> ExperimentConfig:
    return apply_overrides(config or ExperimentConfig(), [parse_override(text) for text in texts])


def test_set_overrides_write_dotted_fields_as_yaml_values() -> None:
    config = overridden("preprocess.k_core=5", "protocol.cutoffs=[0.4, 0.7, 0.9]", "preprocess.min_rating=null")
    assert config.preprocess == dataclasses.replace(ExperimentConfig().preprocess, k_core=5, min_rating=None)
    assert config.protocol.cutoffs == (0.4, 0.7, 0.9)
    assert overridden("lm.model=smollm2", "lora.dropout=0").lora.dropout == 0.0
    assert overridden("preprocess.k_core=5", "preprocess.k_core=7").preprocess.k_core == 7, "the last one wins"
    assert overridden() == ExperimentConfig()


def test_fields_that_constrain_each_other_change_together_in_any_order() -> None:
    # 64 is not a multiple of 3: checking after each --set would refuse the first one.
    assert overridden("sasrec.heads=3", "sasrec.hidden=96").sasrec.hidden == 96


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        (["preprocess.kcore=5"], "--set preprocess.kcore=5: config field 'preprocess.kcore': unknown field"),
        (["prepro.k_core=5"], "--set prepro.k_core=5: config field 'prepro': unknown field (fix: use one of"),
        (["setup_train.epochs=many"], "config field 'setup_train.epochs': expected int, got 'many'"),
        (["protocol.cutoffs=0.5"], "config field 'protocol.cutoffs': expected a list"),
        (["lora.r=4", "sasrec.hidden=30", "sasrec.heads=4"], "--set sasrec.hidden=30: config field 'sasrec.hidden'"),
        (["sasrec.hidden.x=1"], "--set sasrec.hidden.x=1: config field 'sasrec.hidden': is a value, not a section"),
    ],
)
def test_a_bad_set_names_itself_the_field_and_the_fix(texts: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        overridden(*texts)
    assert message in str(caught.value) and "(fix: " in str(caught.value)


@pytest.mark.parametrize("text", ["k_core", "=5", "preprocess..k_core=5", "protocol.cutoffs=[0.5,"])
def test_a_malformed_set_is_refused(text: str) -> None:
    with pytest.raises(ConfigError, match="--set"):
        parse_override(text)
