"""Streaming side of RAIE Stream: Kafka topics, producers and the stream app.

Everything that imports kafka, faust or ray lives here (or in ``workers/``),
never in ``raie/``, so that the offline library installs and tests without a
broker.
"""
