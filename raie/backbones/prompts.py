"""Prompts from item text, in the RAIE paper's template, within a token budget.

"Here is the purchase history of the user: <item>; <item>; ... I wonder what
is the next recommended item for the user. Answer:"

The paper writes ``user_{id}``; the backbone contract maps a window's items
to scores and never sees user ids (SASRec does not either), and a frozen LM
knows nothing about an arbitrary id number, so the prompt says "the user".
This also keeps the representation a function of the context alone.

Item texts are tokenised once. When a window's items do not fit the budget,
the oldest items are dropped first, since the newest say most about the next.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from transformers import PreTrainedTokenizerBase

from raie.data.catalog import Catalog
from raie.protocol.preprocess import PADDING_ITEM

PREFIX = "Here is the purchase history of the user:"
SUFFIX = " I wonder what is the next recommended item for the user. Answer:"
SEPARATOR = ";"


@dataclass
class PromptBuilder:
    tokenizer: PreTrainedTokenizerBase
    catalog: Catalog
    max_tokens: int
    """Budget for the whole prompt, special tokens included."""
    _items: list[list[int]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        encode = self.tokenizer.encode
        self._prefix = encode(PREFIX, add_special_tokens=False)
        self._suffix = encode(SUFFIX, add_special_tokens=False)
        self._items = [encode(f" {text}{SEPARATOR}", add_special_tokens=False) for text in self.catalog.texts]
        self._head, self._tail = _special_tokens(self.tokenizer)
        self._budget = self.max_tokens - len(self._prefix) - len(self._suffix) - len(self._head) - len(self._tail)
        if self._budget < 1:
            raise ValueError(f"max_tokens {self.max_tokens} leaves no room for items after the template")

    def token_ids(self, context: np.ndarray) -> list[int]:
        """Token ids of one window's prompt, newest items kept first."""
        kept: list[list[int]] = []
        room = self._budget
        for item in context[::-1]:
            if item == PADDING_ITEM:
                continue
            tokens = self._items[int(item)]
            if len(tokens) > room:
                if not kept:  # the newest item alone is too long: keep its start
                    kept.append(tokens[:room])
                break
            kept.append(tokens)
            room -= len(tokens)
        body = [t for tokens in reversed(kept) for t in tokens]
        ids: list[int] = self._head + self._prefix + body + self._suffix + self._tail
        return ids

    def text(self, context: np.ndarray) -> str:
        return str(self.tokenizer.decode(self.token_ids(context), skip_special_tokens=True))

    def batch(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """[B, L] item indices -> right-padded (input_ids, attention_mask), both [B, T]."""
        rows = [self.token_ids(row) for row in context.cpu().numpy()]
        width = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id or 0
        ids = torch.full((len(rows), width), pad, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row)
            mask[i, : len(row)] = 1
        return ids.to(context.device), mask.to(context.device)


MARKER = "a"


def _special_tokens(tokenizer: PreTrainedTokenizerBase) -> tuple[list[int], list[int]]:
    """The special tokens the tokenizer puts before and after a text ([CLS] ... [SEP], <s> ...)."""
    plain = tokenizer.encode(MARKER, add_special_tokens=False)
    full = tokenizer.encode(MARKER, add_special_tokens=True)
    for start in range(len(full) - len(plain) + 1):
        if full[start : start + len(plain)] == plain:
            return list(full[:start]), list(full[start + len(plain) :])
    return [], []
