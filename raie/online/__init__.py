"""The stream's logic without a message bus: per-user windowing, slice clocks,
the single-writer slice session and the trainer interface.

``streams/`` (Faust) and ``workers/`` (Ray) call these; nothing here imports
Kafka, Faust or Ray, so the offline runner and the unit tests use the same code.
"""
