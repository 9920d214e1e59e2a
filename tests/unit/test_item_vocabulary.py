"""The stream's item vocabulary: Set-up's sorted ids, then new items into the model's free rows."""

from __future__ import annotations

import pytest

from raie.backbones import build_backbone
from raie.config import ExperimentConfig
from raie.data.catalog import Catalog, reserved_rows
from raie.online.candidates import ItemVocabulary
from raie.protocol.preprocess import PADDING_ITEM

pytestmark = pytest.mark.unit


def test_set_up_reserves_the_rows_the_backbone_adds() -> None:
    config = ExperimentConfig(new_item_room=0.5)
    vocabulary = ItemVocabulary.sorted_from(["b", "a", "c", "d"], config.new_item_room)
    model = build_backbone("sasrec", config, Catalog.anonymous(len(vocabulary)))
    assert vocabulary.item_ids == ("a", "b", "c", "d")
    assert vocabulary.rows == 4 + reserved_rows(4, 0.5) == 6
    assert model.item_vectors().shape[0] == vocabulary.rows + 1  # row 0 pads


def test_new_items_take_free_rows_in_sorted_order_and_keep_old_rows() -> None:
    vocabulary = ItemVocabulary.sorted_from(["a", "b"], 1.0)
    grown, homeless = vocabulary.grown(["z", "b", "y", "z"])
    assert homeless == []
    assert [grown.index(i) for i in ("a", "b", "y", "z")] == [1, 2, 3, 4]
    assert grown.rows == vocabulary.rows == 4


def test_items_beyond_the_free_rows_read_as_padding_and_are_reported() -> None:
    vocabulary = ItemVocabulary.sorted_from(["a", "b"], 0.5)  # one free row
    grown, homeless = vocabulary.grown(["x", "y"])
    assert grown.index("x") == 3
    assert grown.index("y") == PADDING_ITEM
    assert homeless == ["y"]


def test_a_vocabulary_without_room_never_grows() -> None:
    vocabulary = ItemVocabulary(("a",))
    grown, homeless = vocabulary.grown(["a", "b"])
    assert grown is vocabulary
    assert homeless == ["b"]
