"""The data funnel as text: counts per preprocessing step, then per block (the paper's Table 1)."""

from __future__ import annotations

from raie.config import ProtocolConfig
from raie.protocol.funnel import Funnel
from raie.protocol.preprocess import StepCount
from raie.tabular import format_text_table

STEP_HEADERS = ["step", "config field", "interactions", "kept", "users", "items"]
STEP_NUMERIC = [False, False, True, True, True, True]
"""``kept`` is a percentage, which would not be detected as numeric, but aligns like one."""
STATS_HEADERS = [
    "block",
    "users",
    "items",
    "interactions",
    "win users",
    "train users",
    "targets",
    "kept",
    "train win",
    "valid win",
    "held-out win",
    "eval win",
]
"""``win users``: users with any window; ``targets``: positives with enough context to be
a target, ``kept`` their share of the block's interactions (docs/METHOD.md section 6)."""


def step_rows(steps: tuple[StepCount, ...]) -> list[list[str]]:
    """One row per step; ``kept`` is the share of the previous step's interactions."""
    rows = []
    previous: StepCount | None = None
    for step in steps:
        kept = (
            "" if previous is None or previous.interactions == 0 else f"{step.interactions / previous.interactions:.1%}"
        )
        rows.append([step.step, step.knob or "", str(step.interactions), kept, str(step.users), str(step.items)])
        previous = step
    return rows


def _share(part: int, whole: int) -> str:
    return "" if whole == 0 else f"{part / whole:.1%}"


def block_stats(funnel: Funnel) -> list[list[str]]:
    rows = [
        [
            block.name,
            *(str(v) for v in (block.users, block.items, block.interactions, block.window_users, block.train_users)),
            str(block.targets),
            _share(block.targets, block.interactions),
            *(str(v) for v in (block.train, block.valid, block.holdout, block.eval)),
        ]
        for block in funnel.blocks
    ]
    total = funnel.total
    targets = sum(block.targets for block in funnel.blocks)
    # Users with a window are counted per block; their sum would count a user once per block.
    rows.append(
        [
            "all",
            *(str(v) for v in (total.users, total.items, total.interactions)),
            "",
            "",
            str(targets),
            _share(targets, total.interactions),
            *([""] * 4),
        ]
    )
    return rows


def context_rule(protocol: ProtocolConfig) -> str:
    """The window setting the block counts depend on, in words."""
    L, shortest = protocol.context_len, protocol.shortest_context
    size = f"{L} items" if protocol.min_context_len is None else f"{shortest} to {L} items, left-padded"
    reach = "reaching into earlier blocks" if protocol.context_across_blocks else "inside the block"
    return f"contexts of {size}, {reach}"


def funnel_report(funnel: Funnel) -> str:
    """Both tables, each under a one-line title, a blank line between them."""
    parts = []
    if funnel.steps:
        parts += ["preprocessing:", format_text_table(STEP_HEADERS, step_rows(funnel.steps), numeric=STEP_NUMERIC)]
        parts.append("")
    blocks = format_text_table(STATS_HEADERS, block_stats(funnel), numeric=[i > 0 for i in range(len(STATS_HEADERS))])
    parts += [f"blocks ({context_rule(funnel.protocol)}):", blocks]
    return "\n".join(parts)
