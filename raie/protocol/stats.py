"""Per-block statistics, like the paper's Table 1."""

from __future__ import annotations

from raie.protocol.blocks import ProtocolData

STATS_HEADERS = ["block", "users", "items", "interactions", "train win", "valid win", "held-out win", "eval win"]


def block_stats(data: ProtocolData) -> list[list[str]]:
    rows = []
    for block in data.blocks:
        rows.append(
            [
                block.name,
                *(str(v) for v in (block.n_users, block.n_items, block.n_interactions)),
                *(str(len(w)) for w in (block.train, block.valid, block.holdout, block.eval)),
            ]
        )
    p = data.positives
    rows.append(["all", str(p.n_users), str(p.n_items), str(len(p)), "", "", "", ""])
    return rows
