"""The data funnel as text: counts per preprocessing step, then per block (the paper's Table 1)."""

from __future__ import annotations

from raie.protocol.funnel import Funnel
from raie.protocol.preprocess import StepCount
from raie.tabular import format_text_table

STEP_HEADERS = ["step", "config field", "interactions", "kept", "users", "items"]
STEP_NUMERIC = [False, False, True, True, True, True]
"""``kept`` is a percentage, which would not be detected as numeric, but aligns like one."""
STATS_HEADERS = ["block", "users", "items", "interactions", "train win", "valid win", "held-out win", "eval win"]


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


def block_stats(funnel: Funnel) -> list[list[str]]:
    rows = [
        [
            block.name,
            *(str(v) for v in (block.users, block.items, block.interactions)),
            *(str(v) for v in (block.train, block.valid, block.holdout, block.eval)),
        ]
        for block in funnel.blocks
    ]
    total = funnel.total
    rows.append(["all", str(total.users), str(total.items), str(total.interactions), "", "", "", ""])
    return rows


def funnel_report(funnel: Funnel) -> str:
    """Both tables, each under a one-line title, a blank line between them."""
    parts = []
    if funnel.steps:
        parts += ["preprocessing:", format_text_table(STEP_HEADERS, step_rows(funnel.steps), numeric=STEP_NUMERIC)]
        parts.append("")
    parts += ["blocks:", format_text_table(STATS_HEADERS, block_stats(funnel))]
    return "\n".join(parts)
