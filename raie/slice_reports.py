"""Canned per-slice reports over the store (``raie metrics --report``).

Each report is one SQL query over the store's views, so what is printed is
what is stored and a user can copy the query to change it
(``raie metrics --report NAME --show-sql``). Every query takes one
parameter, a run id, and NULL means every run.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from raie.errors import ConfigError
from raie.store import Store


@dataclass(frozen=True)
class Report:
    description: str
    sql: str


RUN_FILTER = "(CAST(? AS VARCHAR) IS NULL OR run_id = ?)"
"""The run parameter is bound twice: NULL keeps every run."""


def _metric(metric: str, k: int, average: str = "window") -> str:
    label = f"{metric[0].upper()}@{k}" + ("" if average == "window" else " user")
    return (
        f"round(max(value) FILTER (WHERE metric = '{metric}' AND k = {k} AND average = '{average}'), 4) AS \"{label}\""
    )


SLICES = Report(
    "prequential scores: each slice ranked with what served before it was trained on",
    f"""
SELECT run_id, seed, slice, method, max(n) AS windows,
       {_metric("recall", 5)}, {_metric("recall", 10)}, {_metric("recall", 20)},
       {_metric("ndcg", 10)}, {_metric("recall", 10, "user")}
FROM metrics WHERE {RUN_FILTER}
GROUP BY ALL ORDER BY run_id, seed, slice, method
""",
)

REGIONS = Report(
    "RAIE's regions after each slice: size, radius, the slice's edits, and the windows each served before them",
    f"""
WITH after AS (
  SELECT run_id, seed, slice, region_id, version, count, round(radius_deg, 1) AS radius_deg
  FROM regions WHERE method = 'raie' AND stage = 'after'
), ops AS (
  SELECT run_id, seed, slice, region_id,
         CAST(sum(count) FILTER (WHERE op = 'update') AS BIGINT) AS updates,
         CAST(sum(count) FILTER (WHERE op = 'expand') AS BIGINT) AS expands,
         CAST(sum(count) FILTER (WHERE op = 'create') AS BIGINT) AS created_from
  FROM edits WHERE method = 'raie' GROUP BY ALL
), served AS (
  SELECT run_id, seed, slice, region_id, count(*) AS scored,
         round(avg(CAST(rank <= 10 AS DOUBLE)), 4) AS "R@10"
  FROM windows WHERE method = 'raie' AND role = 'eval' GROUP BY ALL
)
SELECT run_id, seed, slice, region_id, version, count, radius_deg,
       coalesce(updates, 0) AS updates, coalesce(expands, 0) AS expands, created_from,
       coalesce(scored, 0) AS scored, "R@10"
FROM after FULL JOIN ops USING (run_id, seed, slice, region_id)
     FULL JOIN served USING (run_id, seed, slice, region_id)
WHERE {RUN_FILTER}
ORDER BY run_id, seed, slice, region_id
""",
)

OPS = Report(
    "RAIE's edit operations per slice, with the mean confidences they were decided on",
    f"""
WITH counted AS (
  SELECT run_id, seed, slice,
         CAST(sum(count) FILTER (WHERE op = 'update') AS BIGINT) AS updates,
         CAST(sum(count) FILTER (WHERE op = 'expand') AS BIGINT) AS expands,
         CAST(sum(count) FILTER (WHERE op = 'add') AS BIGINT) AS adds,
         count(DISTINCT region_id) FILTER (WHERE op = 'create') AS new_regions
  FROM edits WHERE method = 'raie' AND {RUN_FILTER} GROUP BY ALL
), confidence AS (
  SELECT run_id, seed, slice, round(avg(p1), 3) AS mean_p1, round(avg(p1 - p2), 3) AS mean_delta
  FROM windows WHERE method = 'raie' AND role = 'train' AND op IS NOT NULL GROUP BY ALL
)
SELECT run_id, seed, slice, coalesce(updates, 0) AS updates, coalesce(expands, 0) AS expands,
       coalesce(adds, 0) AS adds, new_regions, mean_p1, mean_delta
FROM counted LEFT JOIN confidence USING (run_id, seed, slice)
ORDER BY run_id, seed, slice
""",
)

JOBS = Report(
    "adapter training jobs: data, early stopping, validation recall, attempts and the version published",
    f"""
WITH lifecycle AS (
  SELECT run_id, method, seed, slice, adapter, region_id, max(attempt) AS attempts,
         arg_max(status, at_ms) AS status, round((max(at_ms) - min(at_ms)) / 1000, 1) AS span_s
  FROM train_job_events GROUP BY ALL
), published AS (
  SELECT run_id, method, seed, slice, adapter, version, parent_adapter || ' v' || parent_version AS started_from
  FROM adapters
)
SELECT run_id, method, seed, slice, adapter, region_id, new_windows, old_windows, epochs_run, best_epoch,
       round(valid_recall, 4) AS valid_r10, round(seconds, 1) AS seconds,
       coalesce(status, 'finished') AS status, attempts, span_s, version, started_from
FROM train_jobs FULL JOIN lifecycle USING (run_id, method, seed, slice, adapter, region_id)
     LEFT JOIN published USING (run_id, method, seed, slice, adapter)
WHERE {RUN_FILTER}
ORDER BY run_id, method, seed, slice, region_id NULLS FIRST, adapter
""",
)

COSTS = Report(
    "each method's cost per slice beside its prequential R@10: parameters trained, training and scoring time",
    f"""
WITH quality AS (
  SELECT run_id, method, seed, slice,
         max(value) FILTER (WHERE metric = 'recall' AND k = 10 AND average = 'window') AS r10
  FROM metrics GROUP BY ALL
)
SELECT run_id, seed, slice, method, round(r10, 4) AS "R@10", trained_parameters, train_jobs,
       round(train_seconds, 1) AS train_s, scored_windows, round(scoring_ms_per_window, 3) AS scoring_ms_per_window
FROM method_costs LEFT JOIN quality USING (run_id, method, seed, slice)
WHERE {RUN_FILTER}
ORDER BY run_id, seed, slice, method
""",
)

REPORTS: dict[str, Report] = {"slices": SLICES, "regions": REGIONS, "ops": OPS, "jobs": JOBS, "costs": COSTS}


def report(name: str) -> Report:
    try:
        return REPORTS[name]
    except KeyError:
        raise ConfigError("--report", f"no report {name!r}", f"pick one of {', '.join(REPORTS)}") from None


def query_for_run(store: Store, sql: str, run_id: str | None) -> pa.Table:
    """Run ``sql`` (a report's query, or one built over it) for ``run_id`` or (None) every run."""
    return store.query(sql, [run_id, run_id] * sql.count(RUN_FILTER))


def run_report(store: Store, name: str, run_id: str | None = None) -> pa.Table:
    """The rows of report ``name``, for ``run_id`` or (None) every run."""
    return query_for_run(store, report(name).sql, run_id)
