-- make demo's agreement check: the stream's prequential scores of slice 2 next to the offline
-- runner's T scores for the same method and seed (cutoffs 0.5/0.8 make slice 2 the T block).
SELECT m.method, m.metric, m.k, m.average,
       round(e.value, 4) AS offline_t, round(m.value, 4) AS stream_slice2,
       round(m.value - e.value, 4) AS difference, e.n_windows AS offline_windows, m.n AS stream_windows
FROM metrics m
JOIN experiment_results e
  ON e.split = 'T' AND e.method = m.method AND e.seed = m.seed
 AND e.metric = m.metric AND e.k = m.k AND e.average = m.average
WHERE m.slice = 2 AND m.k = 10
ORDER BY m.method, m.metric, m.average
