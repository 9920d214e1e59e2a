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
j AS (
  SELECT slice, count(*) AS train_jobs, round(avg(valid_recall), 4) AS mean_valid_recall10,
         round(sum(seconds), 1) AS train_seconds
  FROM train_jobs GROUP BY slice
)
SELECT i.slice, interactions, regions,
       coalesce(updates, 0) AS updates, coalesce(expands, 0) AS expands, coalesce(adds, 0) AS adds,
       coalesce(train_jobs, 0) AS train_jobs, mean_valid_recall10, train_seconds
FROM i LEFT JOIN r USING (slice) LEFT JOIN e USING (slice) LEFT JOIN j USING (slice)
ORDER BY i.slice
