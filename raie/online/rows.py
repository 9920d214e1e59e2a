"""Store rows, built in one place from the slice step's typed results.

The stream stores a slice's rows per (run, method, seed, slice) partition;
the offline runner stores the same tables per (run, method, seed). Either
way a row is made here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from raie.adapters import AdapterManifest
from raie.adapters.registry import TRAINED_PARAMETERS
from raie.evaluation import Ranking
from raie.online.candidates import Candidate
from raie.online.slice_training import PromotionDecision, SliceTraining
from raie.online.state import MethodScore, SliceResult
from raie.online.trainer import JobEvent
from raie.recording import Row
from raie.regions.bank import RegionBank
from raie.regions.editor import SampleEdits, SliceEdits
from raie.regions.router import FALLBACK
from raie.strategies import RAIE, build_strategy

MethodRows = dict[str, dict[str, list[Row]]]
"""method -> store table -> rows."""


def region_rows(before: RegionBank, after: RegionBank, slice_index: int) -> list[Row]:
    """``regions``: the bank before and after a slice's edits."""
    rows: list[Row] = []
    for stage, bank in (("before", before), ("after", after)):
        for i, region_id in enumerate(bank.ids.tolist()):
            rows.append(
                {
                    "slice": slice_index,
                    "stage": stage,
                    "region_id": region_id,
                    "version": int(bank.version[i]),
                    "count": int(bank.count[i]),
                    "radius_deg": float(np.rad2deg(bank.radius[i])),
                    "centre": bank.centres[i].tolist(),
                }
            )
    return rows


def edit_rows(edits: SliceEdits) -> list[Row]:
    """``edits``: how many samples each op applied to each region in the slice."""
    return [
        {"slice": edits.slice_index, "region_id": region_id, "op": op, "count": n}
        for (region_id, op), n in sorted(edits.counts.items())
    ]


def metric_rows(slice_index: int, ranking: Ranking) -> list[Row]:
    """``metrics``: every metric, K and average of the one metrics module; none for no windows."""
    if len(ranking.ranks) == 0:
        return []
    n = len(ranking.ranks)
    return [
        {"slice": slice_index, "metric": v.metric, "k": v.k, "average": v.average, "value": v.value, "n": n}
        for v in ranking.summary()
    ]


def window_row(slice_index: int, role: str, candidate: Candidate) -> Row:
    """The columns every ``windows`` row has: which window, in which role."""
    c = candidate
    return {"slice": slice_index, "role": role, "user_id": c.user_id, "position": c.position, "ts_ms": c.ts_ms}


def train_window_rows(slice_index: int, candidates: Sequence[Candidate], samples: SampleEdits) -> list[Row]:
    """``windows`` rows of training windows (``candidates`` in edit order): region, op and confidences."""
    rows: list[Row] = []
    for i, c in enumerate(candidates):
        p1, p2, op = float(samples.p1[i]), float(samples.p2[i]), samples.op[i]
        rows.append(
            window_row(slice_index, "train", c)
            | {
                "region_id": int(samples.region[i]),
                "op": None if op is None else str(op),
                "p1": None if np.isnan(p1) else p1,
                "p2": None if np.isnan(p2) else p2,
            }
        )
    return rows


def eval_window_rows(slice_index: int, candidates: Sequence[Candidate], score: MethodScore) -> list[Row]:
    """``windows`` rows of scored windows: the rank, and what served each one."""
    ranks = score.ranking.ranks.tolist()
    extra = {
        name: values
        for name, values in (
            ("region_id", score.region_id),
            ("p1", score.p1),
            ("p2", score.p2),
            ("adapter", score.adapter),
        )
        if values is not None
    }
    return [
        window_row(slice_index, "eval", c) | {"rank": ranks[i]} | {name: values[i] for name, values in extra.items()}
        for i, c in enumerate(candidates)
    ]


def adapter_row(manifest: AdapterManifest) -> Row:
    return {
        "slice": manifest.slice,
        "adapter": manifest.adapter,
        "region_id": FALLBACK if manifest.region_id is None else manifest.region_id,
        "version": manifest.version,
        "parent_adapter": manifest.parent_adapter,
        "parent_version": manifest.parent_version,
        "path": manifest.store_path,
        "sha256": manifest.sha256,
        "new_windows": manifest.new_windows,
        "old_windows": manifest.old_windows,
        "valid_recall": manifest.metrics.get("valid_recall10"),
        "created_at_ms": manifest.created_at_ms,
    }


def event_row(event: JobEvent) -> Row:
    return {
        "slice": event.job.slice,
        "job_id": event.job.job_id,
        "adapter": event.job.adapter,
        "region_id": event.job.region_id,
        "status": event.status,
        "attempt": event.attempt,
        "at_ms": event.at_ms,
        "error": event.error,
    }


def promotion_row(decision: PromotionDecision) -> Row:
    """``promotions``: whether a new adapter version serves (or was made live again), and why."""
    d = decision
    return {
        "slice": d.slice,
        "adapter": d.adapter,
        "region_id": d.region_id,
        "candidate_version": d.candidate_version,
        "previous_version": d.previous_version,
        "candidate_recall": d.candidate_recall,
        "previous_recall": d.previous_recall,
        "max_regression": d.max_regression,
        "decision": d.decision,
        "reason": d.reason,
        "at_ms": d.at_ms,
    }


def training_rows(training: SliceTraining) -> MethodRows:
    """Per method: ``train_jobs`` (finished jobs), ``adapters`` (what they published),
    ``train_job_events`` and ``promotions`` (the guard's decisions on them)."""
    rows: MethodRows = {}

    def tables(method: str) -> dict[str, list[Row]]:
        return rows.setdefault(method, {"train_jobs": [], "adapters": [], "train_job_events": [], "promotions": []})

    for outcome in training.outcomes:
        tables(outcome.job.method)  # a job that failed still has its (empty) tables replaced
        if outcome.result is not None:
            manifest = outcome.result.published.manifest
            trained = manifest.metrics.get(TRAINED_PARAMETERS)
            job_row = outcome.result.training.row(manifest.slice)
            job_row["trained_parameters"] = None if trained is None else int(trained)
            tables(outcome.job.method)["train_jobs"].append(job_row)
            tables(outcome.job.method)["adapters"].append(adapter_row(manifest))
    for event in training.events:
        tables(event.job.method)["train_job_events"].append(event_row(event))
    for decision in training.decisions:
        tables(decision.method)["promotions"].append(promotion_row(decision))
    return rows


def stream_rows(result: SliceResult, train: Sequence[Candidate], evaluated: Sequence[Candidate]) -> MethodRows:
    """A closed slice's rows per method; ``train`` and ``evaluated`` are its candidates in protocol order."""
    rows = training_rows(result.training)
    edited = [train[i] for i in result.time_order.tolist()]
    own = {
        "regions": region_rows(result.before.bank, result.state.bank, result.slice),
        "edits": edit_rows(result.edits),
        "windows": train_window_rows(result.slice, edited, result.samples),
    }
    rows[RAIE] = own | rows.get(RAIE, {})
    for score in result.scores:
        tables = rows.setdefault(score.method, {})
        tables.setdefault("windows", []).extend(eval_window_rows(result.slice, evaluated, score))
        tables["metrics"] = metric_rows(result.slice, score.ranking)
        jobs = method_jobs(score.method, rows)[0]
        tables["method_costs"] = [cost_row(result.slice, jobs, score)]
    return rows


def method_jobs(method: str, by_method: MethodRows) -> tuple[list[Row], list[Row]]:
    """``train_jobs`` and ``promotions`` rows (from ``by_method``, the slice's ``training_rows``)
    of the jobs whose adapters ``method`` reads: a baseline's own; every RAIE job for the
    routed variants; the global one for w/o KR and w/o All."""
    strategy = build_strategy(method)
    if not strategy.uses_raie_state:
        own = by_method.get(method, {})
        return own.get("train_jobs", []), own.get("promotions", [])
    jobs = by_method.get(RAIE, {}).get("train_jobs", [])
    promotions = by_method.get(RAIE, {}).get("promotions", [])
    if strategy.serves == "global":
        jobs = [j for j in jobs if j["region_id"] == FALLBACK]
        promotions = [p for p in promotions if p["region_id"] == FALLBACK]
    return jobs, promotions


def cost_row(slice_index: int, jobs: Sequence[Row], score: MethodScore) -> Row:
    """``method_costs``: what a method's training (``jobs``: its ``train_jobs`` rows) and scoring cost."""
    scored = len(score.ranking.ranks)
    return {
        "slice": slice_index,
        "trained_parameters": sum(int(j.get("trained_parameters") or 0) for j in jobs),
        "train_jobs": len(jobs),
        "train_seconds": float(sum(float(j["seconds"]) for j in jobs)),
        "scored_windows": scored,
        "scoring_seconds": score.seconds,
        "scoring_ms_per_window": 1000.0 * score.seconds / scored if scored else None,
    }


def experiment_rows(method: str, result: SliceResult) -> dict[str, list[Row]]:
    """The offline runner's rows of one method for one update slice: RAIE's variants record
    their regions, their edits (when regions are edited), and the jobs whose adapters they
    read with the promotion decisions on them."""
    strategy = build_strategy(method)
    jobs, promotions = method_jobs(method, training_rows(result.training))
    if not strategy.uses_raie_state:
        return {"train_jobs": jobs, "promotions": promotions}
    rows = {
        "regions": region_rows(result.before.bank, result.state.bank, result.slice),
        "train_jobs": jobs,
        "promotions": promotions,
    }
    if strategy.editing:
        rows["edits"] = edit_rows(result.edits)
    return rows
