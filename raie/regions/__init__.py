"""RAIE's knowledge regions: clustering, routing, editing and snapshots.

Pure numpy: no torch, no Kafka, Faust or Ray, so the stream's single region
writer and the offline runner share exactly this code.
"""
