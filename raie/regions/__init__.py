"""RAIE's knowledge regions: clustering, routing, editing, snapshots and reports.

The region engine (geometry, kmeans, routing, bank, editor) is plain numpy,
so the stream's single region writer and the offline runner share exactly
this code; ``router`` joins it to a frozen torch backbone. Nothing here
imports Kafka, Faust or Ray.
"""
