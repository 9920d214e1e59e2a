-- make demo's table: what the stream did in each slice (DuckDB over the demo store).
WITH i AS (SELECT slice, count(*) AS interactions FROM interactions GROUP BY slice),
r AS (SELECT slice, count(*) AS regions FROM regions WHERE stage = 'after' GROUP BY slice),
e AS (
  SELECT slice,
         sum(count) FILTER (WHERE op = 'update') AS updates,
         sum(count) FILTER (WHERE op = 'expand') AS expands,
         sum(count) FILTER (WHERE op = 'add') AS adds
  FROM edits GROUP BY slice
),
-- Jobs and validation recall of RAIE's adapters; adapters published and the span include the baseline's job.
j AS (
  SELECT slice, count(*) AS train_jobs, round(avg(valid_recall), 4) AS mean_valid_recall10,
         round(sum(seconds), 1) AS train_seconds
  FROM train_jobs WHERE method = 'raie' GROUP BY slice
),
a AS (SELECT slice, count(*) AS adapters_published FROM adapters GROUP BY slice),
-- Prequential Recall@10: the slice's windows ranked before the slice is trained on.
m AS (
  SELECT slice,
         round(max(value) FILTER (WHERE method = 'raie'), 4) AS raie_r10,
         round(max(value) FILTER (WHERE method = 'raie-wo-kr'), 4) AS global_r10,
         round(max(value) FILTER (WHERE method = 'base'), 4) AS base_r10,
         round(max(value) FILTER (WHERE method = 'lora'), 4) AS lora_r10
  FROM metrics WHERE metric = 'recall' AND k = 10 AND average = 'window' GROUP BY slice
),
-- From the first job queued to the last one ending: the training part of the slice's freshness.
l AS (
  SELECT slice, count(DISTINCT job_id) FILTER (WHERE status = 'failed') AS failed_jobs,
         round((max(at_ms) - min(at_ms)) / 1000, 1) AS jobs_span_s
  FROM train_job_events GROUP BY slice
)
SELECT i.slice, interactions, raie_r10, global_r10, base_r10, lora_r10, regions,
       coalesce(updates, 0) AS updates, coalesce(expands, 0) AS expands, coalesce(adds, 0) AS adds,
       coalesce(train_jobs, 0) AS train_jobs, mean_valid_recall10, train_seconds,
       coalesce(adapters_published, 0) AS adapters_published, coalesce(failed_jobs, 0) AS failed_jobs, jobs_span_s
FROM i LEFT JOIN r USING (slice) LEFT JOIN e USING (slice) LEFT JOIN j USING (slice)
       LEFT JOIN a USING (slice) LEFT JOIN l USING (slice) LEFT JOIN m USING (slice)
ORDER BY i.slice
