-- make demo's second table: the adapter registry as the store records it (files under var/demo/).
SELECT adapter, version, slice, coalesce(parent_adapter || ' v' || parent_version, 'fresh') AS started_from,
       new_windows, old_windows, round(valid_recall, 4) AS valid_recall10, path, left(sha256, 12) AS sha256
FROM adapters
ORDER BY adapter, version
