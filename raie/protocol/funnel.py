"""How much data survives each preprocessing step and each protocol block.

``raie data stats`` and ``raie experiment`` both show this funnel, warn when a
step or a block leaves too little for a meaningful comparison, and stop when
nothing is left to train or to score, each time naming the config field to
change. (A preprocessing step that leaves nothing already stops inside
``preprocess``; this module checks what the time split and the windows leave.)
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from raie.config import ProtocolConfig
from raie.errors import ConfigError
from raie.protocol.blocks import BlockWindows, ProtocolData
from raie.protocol.preprocess import StepCount

MIN_KEPT_FRACTION = 0.2
"""A step that keeps less than this share of the interactions it receives gets a
warning. The usual steps keep far more (MovieLens' rating >= 4 keeps about half,
dedupe almost all); keeping under a fifth means the setting suits a much larger
data set than this one (on a 316k-review Yelp sample the preset's 10-core filter
left 5.8% of all reviews, and every method scored the same single T hit)."""

MIN_SCORED_WINDOWS = 200
"""Fewer scored windows than this (S held-out, or the last block's evaluation
windows) get a warning. With n windows one hit moves Recall@10 by 1/n; the gaps
between methods on ml-latest-small's T are 0.002-0.01 (BENCHMARKS.md), so below
200 windows a single hit (more than 0.005) is as large as a typical gap and the
methods' scores cannot be told apart (a 81-window T gave every method one hit)."""

SHORTER_CONTEXT = (
    "accept shorter, left-padded contexts (e.g. --set protocol.min_context_len=1), "
    "let contexts reach earlier blocks (--set protocol.context_across_blocks=true), "
    "shorten the context (e.g. --set protocol.context_len=5) or keep more data per user"
)
"""A window needs ``shortest_context`` earlier positives of the same user, in the same
block unless ``context_across_blocks``; these are the knobs that lower the bar."""


@dataclass(frozen=True)
class BlockCount:
    """Interactions, users, items and windows of one protocol block."""

    name: str
    interactions: int
    users: int
    items: int
    train: int
    valid: int
    holdout: int
    eval: int
    targets: int
    """Positives with enough context to be a target: what the context setting keeps of ``interactions``."""
    window_users: int
    """Users with at least one window (each has a held-out and an evaluation window)."""
    train_users: int
    """Users with at least one training window."""


@dataclass(frozen=True)
class Funnel:
    """Counts after each preprocessing step, then per block of the protocol."""

    steps: tuple[StepCount, ...]
    blocks: tuple[BlockCount, ...]
    total: StepCount
    """All positives that reach the protocol."""
    protocol: ProtocolConfig
    """The settings that cut the blocks and windows, quoted in the advice."""


@dataclass(frozen=True)
class DataWarning:
    """Too little data somewhere: which config field to change, and the message."""

    knob: str
    message: str


def data_funnel(data: ProtocolData) -> Funnel:
    p = data.positives
    total = StepCount("all", None, interactions=len(p), users=p.n_users, items=p.n_items)
    return Funnel(p.steps, tuple(_block_count(block) for block in data.blocks), total, data.config)


def _block_count(block: BlockWindows) -> BlockCount:
    return BlockCount(
        name=block.name,
        interactions=block.n_interactions,
        users=block.n_users,
        items=block.n_items,
        train=len(block.train),
        valid=len(block.valid),
        holdout=len(block.holdout),
        eval=len(block.eval),
        targets=block.n_targets,
        window_users=block.n_window_users,
        train_users=block.n_train_users,
    )


def require_usable(funnel: Funnel) -> None:
    """ConfigError when a block is empty, Set-up has nothing to train on, or nothing is scored.

    The first block is Set-up (trained on its training windows, scored on its
    held-out ones); the last block is scored on its evaluation windows.
    """
    for block in funnel.blocks:
        if block.interactions == 0:
            raise ConfigError(
                "protocol.cutoffs",
                f"block {block.name} has no interaction: the {funnel.total.interactions} positives' "
                f"timestamps do not spread over the cutoffs",
                "move the cutoffs (e.g. --set protocol.cutoffs=[0.4,0.7]) or use data that spans more time",
            )
    first, last = funnel.blocks[0], funnel.blocks[-1]
    needed = ((first, "training", first.train), (first, "held-out", first.holdout), (last, "evaluation", last.eval))
    for block, part, count in needed:
        if count == 0:
            raise ConfigError(
                "protocol.context_len",
                f"block {block.name} has {block.interactions} interactions of {block.users} users "
                f"but no {part} window: no user's sequence in it is long enough",
                SHORTER_CONTEXT,
            )


def funnel_warnings(funnel: Funnel) -> list[DataWarning]:
    """Steps that removed most of the data, and blocks with too few windows to compare methods."""
    return [*_step_warnings(funnel.steps), *_block_warnings(funnel)]


def _step_warnings(steps: tuple[StepCount, ...]) -> list[DataWarning]:
    warnings = []
    for before, after in pairwise(steps):
        if after.knob is None or before.interactions == 0:
            continue
        kept = after.interactions / before.interactions
        if kept < MIN_KEPT_FRACTION:
            warnings.append(
                DataWarning(
                    after.knob,
                    f"the '{after.step}' step ({after.knob}) keeps {after.interactions} of "
                    f"{before.interactions} interactions ({kept:.1%}), under {MIN_KEPT_FRACTION:.0%}; "
                    f"to keep more, {after.fix}",
                )
            )
    return warnings


def _block_warnings(funnel: Funnel) -> list[DataWarning]:
    warnings = []
    first, last = funnel.blocks[0], funnel.blocks[-1]
    # The knob is the protocol's own lever for each part; the message lists the others.
    scored = (
        (first, "held-out", first.holdout, "protocol.holdout_targets"),
        (last, "evaluation", last.eval, "protocol.eval_stride"),
    )
    for block, part, count, knob in scored:
        if 0 < count < MIN_SCORED_WINDOWS:
            warnings.append(
                DataWarning(
                    knob,
                    f"block {block.name} has only {count} {part} windows (under {MIN_SCORED_WINDOWS}): "
                    f"one hit moves Recall@10 by {1 / count:.4f}, more than typical gaps between methods; "
                    f"to get more: {'; '.join(_more_windows(funnel, knob))}",
                )
            )
    # Middle blocks are what updates train on (F offline); the last block is only scored.
    for block in funnel.blocks[1:-1]:
        if block.train == 0 and block.interactions > 0:
            warnings.append(
                DataWarning(
                    "protocol.context_len",
                    f"block {block.name} has no training window, so updates have nothing to learn from; "
                    f"{SHORTER_CONTEXT}",
                )
            )
    return warnings


def _more_windows(funnel: Funnel, knob: str) -> list[str]:
    """Ways to get more scored windows of one kind, with values worth trying."""
    protocol = funnel.protocol
    fixes = []
    if knob == "protocol.holdout_targets":
        fixes.append(f"hold out more per user, --set {knob}={protocol.holdout_targets + 1}")
    elif protocol.eval_stride > 1:
        fixes.append(f"evaluate every position, --set {knob}=1")
    if knob == "protocol.eval_stride" and len(protocol.cutoffs) > 1:
        earlier = max(protocol.cutoffs[-1] - 0.1, (protocol.cutoffs[-2] + protocol.cutoffs[-1]) / 2)
        cutoffs = ",".join(f"{c:g}" for c in (*protocol.cutoffs[:-1], round(earlier, 2)))
        fixes.append(f"a larger last block, --set protocol.cutoffs=[{cutoffs}]")
    # Lowering the k-core keeps more users and items, hence more windows of every kind.
    fixes += [f"keep more data ({step.knob}: {step.fix})" for step in funnel.steps if step.knob == "preprocess.k_core"]
    return fixes
